/* test_parser.c - the grammar: every construct's tree (via ast_dump),
 * precedence, spans, syntax errors with their places, error recovery,
 * robustness against mutated input, and speed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/parse.h"

typedef struct parsed {
	arena a;
	diag_ctx d;
	ast_module *m;
} parsed;

static parsed *parse(const char *src)
{
	parsed *p = calloc(1, sizeof *p);
	arena_init(&p->a);
	diag_init(&p->d);
	p->m = parse_source(&p->a, &p->d, "t.flow", src, strlen(src));
	return p;
}

static void parsed_free(parsed *p)
{
	diag_fini(&p->d);
	arena_free(&p->a);
	free(p);
}

__attribute__((noinline)) static char *dump(const ast_module *m)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	ast_dump(m, f);
	fclose(f);
	return out;
}

__attribute__((noinline)) static char *messages(const diag_ctx *d)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	for (int i = 0; i < d->nmsgs; i++)
		fprintf(f, "%d:%d %s\n", d->msgs[i].where.line, d->msgs[i].where.col, d->msgs[i].text);
	fclose(f);
	return out;
}

/* The tree, without the "module t" line and one level of indent. */
static void expect_tree(const char *src, const char *want)
{
	parsed *p = parse(src);
	char *got = dump(p->m);
	if (p->d.nerrors) {
		char *msgs = messages(&p->d);
		fail_msg("unexpected errors:\n%s", msgs);
	}
	const char *body = strchr(got, '\n') + 1;
	char *flat = malloc(strlen(body) + 1), *o = flat;
	for (const char *l = body; *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l + 1) : strlen(l);
		size_t skip = n >= 2 && l[0] == ' ' && l[1] == ' ' ? 2 : 0;
		memcpy(o, l + skip, n - skip);
		o += n - skip;
		l += n;
	}
	*o = '\0';
	if (strcmp(flat, want) != 0)
		fail_msg("source:\n%s\n--- got:\n%s--- want:\n%s", src, flat, want);
	free(flat);
	free(got);
	parsed_free(p);
}

/* The errors (and notes), one per line as "LINE:COL text", must be exactly want. */
static void expect_errors(const char *src, const char *want)
{
	parsed *p = parse(src);
	char *got = messages(&p->d);
	if (strcmp(got, want) != 0)
		fail_msg("source:\n%s\n--- got:\n%s--- want:\n%s", src, got, want);
	assert_non_null(p->m);
	free(got);
	parsed_free(p);
}

static void test_declarations(void **state)
{
	(void)state;
	expect_tree(
		"import time\n"
		"import tensor as t\n"
		"import \"lib/stats.flow\"\n"
		"import \"lib/stats.flow\" as s\n"
		"param n: int = 1000\n"
		"param m\n"
		"param k = 3\n"
		"const K = n / 10\n"
		"fn clamp(x: float, lo: float = 0.0, hi: float = 1.0,) -> float {\n"
		"    return min(max(x, lo), hi)\n"
		"}\n"
		"@cpus(2) @retries(3)\n"
		"@timeout(s=60)\n"
		"task fit(data: tensor, f: fn, alpha = 0.1) -> none { }\n"
		"@restarts(2)\n"
		"actor Counter {\n"
		"    fn init(start: int = 0) { self.n = start }\n"
		"\n"
		"    fn read() -> int { return self.n }\n"
		"}\n",
		"import time\n"
		"import tensor as t\n"
		"import \"lib/stats.flow\"\n"
		"import \"lib/stats.flow\" as s\n"
		"param n: int\n"
		"  int 1000\n"
		"param m\n"
		"param k\n"
		"  int 3\n"
		"const K\n"
		"  binary /\n"
		"    name n\n"
		"    int 10\n"
		"fn clamp -> float\n"
		"  param x: float\n"
		"  param lo: float\n"
		"    float 0.0\n"
		"  param hi: float\n"
		"    float 1.0\n"
		"  body\n"
		"    return\n"
		"      call\n"
		"        name min\n"
		"        call\n"
		"          name max\n"
		"          name x\n"
		"          name lo\n"
		"        name hi\n"
		"@cpus\n"
		"  int 2\n"
		"@retries\n"
		"  int 3\n"
		"@timeout\n"
		"  kwarg s\n"
		"    int 60\n"
		"task fit -> none\n"
		"  param data: tensor\n"
		"  param f: fn\n"
		"  param alpha\n"
		"    float 0.1\n"
		"  body\n"
		"@restarts\n"
		"  int 2\n"
		"actor Counter\n"
		"  fn init\n"
		"    param start: int\n"
		"      int 0\n"
		"    body\n"
		"      assign =\n"
		"        field n\n"
		"          name self\n"
		"        name start\n"
		"  fn read -> int\n"
		"    body\n"
		"      return\n"
		"        field n\n"
		"          name self\n");
}

static void test_statements(void **state)
{
	(void)state;
	expect_tree(
		"let a = 1\n"
		"let b: int = 2\n"
		"let c, d = pair\n"
		"a = 1; a += 2; a -= 3; a *= 4; a /= 5\n"
		"xs[i] = v\n"
		"o.f = v\n"
		"p, q = pair\n"
		"if a { b } else if c { d } else { e }\n"
		"while a { break; continue }\n"
		"for x in xs { }\n"
		"for i, x in enumerate(xs) { return }\n"
		"{ return a }\n",
		"stmt\n"
		"  let a\n"
		"    int 1\n"
		"stmt\n"
		"  let b: int\n"
		"    int 2\n"
		"stmt\n"
		"  let c, d\n"
		"    name pair\n"
		"stmt\n"
		"  assign =\n"
		"    name a\n"
		"    int 1\n"
		"stmt\n"
		"  assign +=\n"
		"    name a\n"
		"    int 2\n"
		"stmt\n"
		"  assign -=\n"
		"    name a\n"
		"    int 3\n"
		"stmt\n"
		"  assign *=\n"
		"    name a\n"
		"    int 4\n"
		"stmt\n"
		"  assign /=\n"
		"    name a\n"
		"    int 5\n"
		"stmt\n"
		"  assign =\n"
		"    index\n"
		"      name xs\n"
		"      name i\n"
		"    name v\n"
		"stmt\n"
		"  assign =\n"
		"    field f\n"
		"      name o\n"
		"    name v\n"
		"stmt\n"
		"  assign =\n"
		"    name p\n"
		"    name q\n"
		"    name pair\n"
		"stmt\n"
		"  if\n"
		"    name a\n"
		"  then\n"
		"    expr\n"
		"      name b\n"
		"  else\n"
		"    if\n"
		"      name c\n"
		"    then\n"
		"      expr\n"
		"        name d\n"
		"    else\n"
		"      block\n"
		"        expr\n"
		"          name e\n"
		"stmt\n"
		"  while\n"
		"    name a\n"
		"  do\n"
		"    break\n"
		"    continue\n"
		"stmt\n"
		"  for x\n"
		"    name xs\n"
		"  do\n"
		"stmt\n"
		"  for i, x\n"
		"    call\n"
		"      name enumerate\n"
		"      name xs\n"
		"  do\n"
		"    return\n"
		"stmt\n"
		"  block\n"
		"    return\n"
		"      name a\n");
}

/* LANGUAGE.md version 2: unpacking into any number of names, swaps, dict
 * and nested comprehensions, actor/param as names, -> fn. */
static void test_version2(void **state)
{
	(void)state;
	expect_tree(
		"let a, b, c = xs\n"
		"a, b = b, a\n"
		"let x, y = 1, 2\n"
		"for p, q, r in xs { }\n",
		"stmt\n"
		"  let a, b, c\n"
		"    name xs\n"
		"stmt\n"
		"  assign =\n"
		"    name a\n"
		"    name b\n"
		"    list\n"
		"      name b\n"
		"      name a\n"
		"stmt\n"
		"  let x, y\n"
		"    list\n"
		"      int 1\n"
		"      int 2\n"
		"stmt\n"
		"  for p, q, r\n"
		"    name xs\n"
		"  do\n");
	expect_tree(
		"d = {k: v for k, v in xs if v}\n"
		"e = [x for ys in xss for x in ys]\n",
		"stmt\n"
		"  assign =\n"
		"    name d\n"
		"    dictcomp\n"
		"      name k\n"
		"      name v\n"
		"      for k, v\n"
		"        name xs\n"
		"      if\n"
		"        name v\n"
		"stmt\n"
		"  assign =\n"
		"    name e\n"
		"    comp\n"
		"      name x\n"
		"      for ys\n"
		"        name xss\n"
		"      for x\n"
		"        name ys\n");
	expect_tree(
		"let actor = Counter()\n"
		"param = actor\n",
		"stmt\n"
		"  let actor\n"
		"    call\n"
		"      name Counter\n"
		"stmt\n"
		"  assign =\n"
		"    name param\n"
		"    name actor\n");
	expect_errors("fn f() -> fn { }\nfn g() -> task { }\n", "");
	expect_errors("a, 1 = xs\n",
	              "1:4 cannot assign to this expression; the target must be a name, an index a[i] or a field a.b\n");
}

static void test_expressions(void **state)
{
	(void)state;
	expect_tree(
		"x = a or b and not c == d + e * -f ** g\n"
		"y = -2**2\n"
		"z = 2**3**2\n"
		"w = a if b or c else d if e else f\n"
		"v = 1 < 2 == 3 != x not in y\n"
		"u = a.b(c)[d].e[f:g]\n"
		"t = [x * y for x in xs if x > 0 for y in ys if y]\n"
		"s = [[], {}, {1: [2]}, (a + b) * c, \"s\", none, true, false, 1.5]\n"
		"r = a @ b // c % d / e - f\n"
		"q = not not a\n"
		"p = 2 ** -1\n"
		"o = xs[:] + xs[::-1] + xs[1:] + xs[:n] + xs[a:b:c] + xs[::2]\n"
		"n = f(x, alpha=0.5,)(1)\n"
		"m = a < b\n",
		"stmt\n"
		"  assign =\n"
		"    name x\n"
		"    binary or\n"
		"      name a\n"
		"      binary and\n"
		"        name b\n"
		"        unary not\n"
		"          binary ==\n"
		"            name c\n"
		"            binary +\n"
		"              name d\n"
		"              binary *\n"
		"                name e\n"
		"                unary -\n"
		"                  binary **\n"
		"                    name f\n"
		"                    name g\n"
		"stmt\n"
		"  assign =\n"
		"    name y\n"
		"    unary -\n"
		"      binary **\n"
		"        int 2\n"
		"        int 2\n"
		"stmt\n"
		"  assign =\n"
		"    name z\n"
		"    binary **\n"
		"      int 2\n"
		"      binary **\n"
		"        int 3\n"
		"        int 2\n"
		"stmt\n"
		"  assign =\n"
		"    name w\n"
		"    ternary\n"
		"      name a\n"
		"      binary or\n"
		"        name b\n"
		"        name c\n"
		"      ternary\n"
		"        name d\n"
		"        name e\n"
		"        name f\n"
		"stmt\n"
		"  assign =\n"
		"    name v\n"
		"    compare < == != not in\n"
		"      int 1\n"
		"      int 2\n"
		"      int 3\n"
		"      name x\n"
		"      name y\n"
		"stmt\n"
		"  assign =\n"
		"    name u\n"
		"    slice\n"
		"      field e\n"
		"        index\n"
		"          call\n"
		"            field b\n"
		"              name a\n"
		"            name c\n"
		"          name d\n"
		"      name f\n"
		"      name g\n"
		"      -\n"
		"stmt\n"
		"  assign =\n"
		"    name t\n"
		"    comp\n"
		"      binary *\n"
		"        name x\n"
		"        name y\n"
		"      for x\n"
		"        name xs\n"
		"      if\n"
		"        binary >\n"
		"          name x\n"
		"          int 0\n"
		"      for y\n"
		"        name ys\n"
		"      if\n"
		"        name y\n"
		"stmt\n"
		"  assign =\n"
		"    name s\n"
		"    list\n"
		"      list\n"
		"      dict\n"
		"      dict\n"
		"        int 1\n"
		"          list\n"
		"            int 2\n"
		"      binary *\n"
		"        binary +\n"
		"          name a\n"
		"          name b\n"
		"        name c\n"
		"      str \"s\"\n"
		"      none\n"
		"      true\n"
		"      false\n"
		"      float 1.5\n"
		"stmt\n"
		"  assign =\n"
		"    name r\n"
		"    binary -\n"
		"      binary /\n"
		"        binary %\n"
		"          binary //\n"
		"            binary @\n"
		"              name a\n"
		"              name b\n"
		"            name c\n"
		"          name d\n"
		"        name e\n"
		"      name f\n"
		"stmt\n"
		"  assign =\n"
		"    name q\n"
		"    unary not\n"
		"      unary not\n"
		"        name a\n"
		"stmt\n"
		"  assign =\n"
		"    name p\n"
		"    binary **\n"
		"      int 2\n"
		"      unary -\n"
		"        int 1\n"
		"stmt\n"
		"  assign =\n"
		"    name o\n"
		"    binary +\n"
		"      binary +\n"
		"        binary +\n"
		"          binary +\n"
		"            binary +\n"
		"              slice\n"
		"                name xs\n"
		"                -\n"
		"                -\n"
		"                -\n"
		"              slice\n"
		"                name xs\n"
		"                -\n"
		"                -\n"
		"                unary -\n"
		"                  int 1\n"
		"            slice\n"
		"              name xs\n"
		"              int 1\n"
		"              -\n"
		"              -\n"
		"          slice\n"
		"            name xs\n"
		"            -\n"
		"            name n\n"
		"            -\n"
		"        slice\n"
		"          name xs\n"
		"          name a\n"
		"          name b\n"
		"          name c\n"
		"      slice\n"
		"        name xs\n"
		"        -\n"
		"        -\n"
		"        int 2\n"
		"stmt\n"
		"  assign =\n"
		"    name n\n"
		"    call\n"
		"      call\n"
		"        name f\n"
		"        name x\n"
		"        kwarg alpha\n"
		"          float 0.5\n"
		"      int 1\n"
		"stmt\n"
		"  assign =\n"
		"    name m\n"
		"    binary <\n"
		"      name a\n"
		"      name b\n");
}

static void test_fstrings(void **state)
{
	(void)state;
	expect_tree(
		"print(f\"x = {x}, y = {y:.3f}\")\n"
		"print(f\"{{lit}} {d[\"k\"]:>8} {a if b else c} {xs[1:2]} {f\"{z}\"}\")\n",
		"stmt\n"
		"  expr\n"
		"    call\n"
		"      name print\n"
		"      fstring\n"
		"        text \"x = \"\n"
		"        value\n"
		"          name x\n"
		"        text \", y = \"\n"
		"        value spec \".3f\"\n"
		"          name y\n"
		"stmt\n"
		"  expr\n"
		"    call\n"
		"      name print\n"
		"      fstring\n"
		"        text \"{lit} \"\n"
		"        value spec \">8\"\n"
		"          index\n"
		"            name d\n"
		"            str \"k\"\n"
		"        text \" \"\n"
		"        value\n"
		"          ternary\n"
		"            name a\n"
		"            name b\n"
		"            name c\n"
		"        text \" \"\n"
		"        value\n"
		"          slice\n"
		"            name xs\n"
		"            int 1\n"
		"            int 2\n"
		"            -\n"
		"        text \" \"\n"
		"        value\n"
		"          fstring\n"
		"            value\n"
		"              name z\n");
}

static void test_multiline(void **state)
{
	(void)state;
	expect_tree(
		"let total = add(\n"
		"    1,\n"
		"    2,\n"
		")\n"
		"let d = {\n"
		"    \"a\": 1,\n"
		"    2: \"b\",\n"
		"}\n"
		"if a and\n"
		"   b {\n"
		"    x = [\n"
		"      1, 2\n"
		"    ]\n"
		"}\n"
		"else {\n"
		"    y = 1 +\n"
		"        2\n"
		"}\n",
		"stmt\n"
		"  let total\n"
		"    call\n"
		"      name add\n"
		"      int 1\n"
		"      int 2\n"
		"stmt\n"
		"  let d\n"
		"    dict\n"
		"      str \"a\"\n"
		"        int 1\n"
		"      int 2\n"
		"        str \"b\"\n"
		"stmt\n"
		"  if\n"
		"    binary and\n"
		"      name a\n"
		"      name b\n"
		"  then\n"
		"    assign =\n"
		"      name x\n"
		"      list\n"
		"        int 1\n"
		"        int 2\n"
		"  else\n"
		"    block\n"
		"      assign =\n"
		"        name y\n"
		"        binary +\n"
		"          int 1\n"
		"          int 2\n");
}

static void test_decl_fields(void **state)
{
	(void)state;
	parsed *p = parse("@restarts(2)\nactor A {\n  fn init() { }\n  fn m(x: int = 1) -> int { return x }\n}\n"
	                  "import \"lib/stats.flow\"\nimport tensor as t\nlet x = 1\n");
	assert_int_equal(p->d.nerrors, 0);
	assert_int_equal(p->m->ndecls, 4);
	assert_string_equal(p->m->name, "t");
	ast_decl *a = p->m->decls[0];
	assert_int_equal(a->kind, D_ACTOR);
	assert_int_equal(a->ndecorators, 1);
	assert_string_equal(a->decorators[0].name, "restarts");
	assert_int_equal(a->decorators[0].nargs, 1);
	assert_int_equal(a->u.actor.nmethods, 2);
	for (int i = 0; i < 2; i++) {
		assert_ptr_equal(a->u.actor.methods[i]->u.fn.actor, a);
		assert_ptr_equal(a->u.actor.methods[i]->module, p->m);
		assert_int_equal(a->u.actor.methods[i]->kind, D_FN);
	}
	/* the whole declaration includes its decorators */
	assert_int_equal(a->where.line, 1);
	assert_int_equal(a->where.col, 1);
	assert_int_equal(a->where.end_line, 5);
	assert_int_equal(a->where.end_col, 2);
	assert_int_equal(a->name_where.line, 2);
	assert_int_equal(a->name_where.col, 7);
	ast_decl *m = a->u.actor.methods[1];
	assert_int_equal(m->u.fn.nparams, 1);
	assert_string_equal(m->u.fn.params[0].type.name, "int");
	assert_int_equal(m->u.fn.params[0].where.col, 8);
	assert_int_equal(m->u.fn.params[0].deflt->u.i, 1);
	assert_string_equal(m->u.fn.ret.name, "int");
	ast_decl *imp = p->m->decls[1];
	assert_true(imp->u.import.is_file);
	assert_string_equal(imp->u.import.what, "lib/stats.flow");
	assert_null(imp->u.import.alias);
	assert_null(imp->name);
	ast_decl *imp2 = p->m->decls[2];
	assert_false(imp2->u.import.is_file);
	assert_string_equal(imp2->name, "t");
	assert_string_equal(imp2->u.import.alias, "t");
	assert_int_equal(p->m->decls[3]->kind, D_STMT);
	assert_int_equal(p->m->decls[3]->u.stmt->kind, S_LET);
	assert_ptr_equal(p->m->decls[3]->module, p->m);
	parsed_free(p);
}

static void test_spans(void **state)
{
	(void)state;
	parsed *p = parse("let y = a + foo(b)\nprint(f\"v = {x * 2:.1f}\")\nz = \"\xc3\xa9\" + w\n");
	assert_int_equal(p->d.nerrors, 0);
	ast_stmt *s = p->m->decls[0]->u.stmt;
	assert_int_equal(s->where.line, 1);
	assert_int_equal(s->where.col, 1);
	assert_int_equal(s->where.end_col, 19);
	assert_int_equal(s->u.let.name_where[0].col, 5);
	ast_expr *e = s->u.let.value;
	assert_int_equal(e->kind, E_BINARY);
	assert_int_equal(e->where.col, 9);
	assert_int_equal(e->where.end_col, 19);
	assert_int_equal(e->u.binary.right->kind, E_CALL);
	assert_int_equal(e->u.binary.right->where.col, 13);
	assert_int_equal(e->u.binary.right->u.call.args[0].value->where.col, 17);
	/* f-string expressions carry their place in the original line */
	ast_expr *call = p->m->decls[1]->u.stmt->u.expr;
	ast_expr *f = call->u.call.args[0].value;
	assert_int_equal(f->kind, E_FSTRING);
	assert_int_equal(f->where.line, 2);
	assert_int_equal(f->where.col, 7);
	assert_int_equal(f->u.fstr.nparts, 2);
	assert_int_equal((int)f->u.fstr.parts[0].text_len, 4);
	ast_expr *inner = f->u.fstr.parts[1].expr;
	assert_int_equal(inner->kind, E_BINARY);
	assert_int_equal(inner->where.line, 2);
	assert_int_equal(inner->where.col, 14);
	assert_int_equal(inner->where.end_col, 19);
	assert_int_equal(inner->u.binary.right->where.col, 18);
	assert_string_equal(f->u.fstr.parts[1].spec, ".1f");
	/* columns count bytes: "é" is two */
	ast_stmt *z = p->m->decls[2]->u.stmt;
	assert_int_equal(z->u.assign.value->u.binary.right->where.col, 12);
	parsed_free(p);
}

static void test_string_values(void **state)
{
	(void)state;
	parsed *p = parse("x = \"a\\0b\\u{1F600}\"\n");
	ast_expr *v = p->m->decls[0]->u.stmt->u.assign.value;
	assert_int_equal(v->kind, E_STR);
	assert_int_equal((int)v->u.str.len, 7);
	assert_memory_equal(v->u.str.s, "a\0b\xf0\x9f\x98\x80", 7);
	parsed_free(p);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_errors("let x = f(1, 2\nlet y = 3\n", "1:15 expected ')' or ',' before newline\n");
	expect_errors("x = [1, 2\ny = 3\n", "2:1 expected ']' or ',' before name 'y'\n");
	expect_errors("x = ((((1)))\n", "2:1 expected ')' before end of file\n1:5 this '(' is not closed\n");
	expect_errors("if x > 0\n    print(x)\n}\nprint(1)\n", "1:9 expected '{' before newline\n");
	expect_errors("if x\n{\n}\n",
		"1:5 expected '{' before newline; a block's '{' goes on the same line as what comes before it\n");
	expect_errors("x = 1\nelse { y }\n", "2:1 unexpected 'else'; 'else' must follow the '}' of an 'if'\n");
	expect_errors("if x:\n  y\n", "1:5 expected '{' before ':'; blocks are written '{ ... }', not with ':'\n");
	expect_errors("if x = 1 { }\n", "1:6 expected '{' before '='; use '==' to compare\n");
	expect_errors("elif x { }\n", "1:6 unexpected name 'x'; Flow writes 'else if', not 'elif'\n");
	expect_errors("def f(x) { }\n", "1:5 unexpected name 'f'; declare a function with 'fn' (or 'task' for a remote task)\n");
	expect_errors("let = 3\n", "1:5 expected name before '='\n");
	expect_errors("x = (1 + )\n", "1:10 expected expression before ')'\n");
	expect_errors("x = 1 2\n", "1:7 unexpected number\n");
	expect_errors("x = a if b\n", "1:11 expected 'else' before newline\n");
	expect_errors("fn f() -> { }\n", "1:11 expected a type name before '{'\n");
	expect_errors("import 3\n", "1:8 expected name or string before number\n");
	expect_errors("@dec\nlet x = 1\n", "2:1 expected 'actor', 'fn', 'task' or '@' before 'let'\n");
	expect_errors("for x y in z { }\n", "1:7 expected 'in' or ',' before name 'y'\n");
	expect_errors("print(1))\n", "1:9 unexpected ')'\n");
	expect_errors("}\n", "1:1 unmatched '}'\n");
	expect_errors("fn f() {\n  return 1\n", "3:1 expected '}' before end of file\n1:8 this '{' is not closed\n");
	expect_errors("let x = 1 let y = 2\n", "1:11 unexpected 'let'; put a newline or ';' between statements\n");
	expect_errors("let x = {1, 2}\n", "1:11 expected ':' before ','; a dict literal holds 'key: value' pairs\n");
	expect_errors("x = (a, b)\n", "1:7 expected ')' before ','; Flow has no tuples; use a list [a, b]\n");
	expect_errors("fn f(x: int) int { }\n", "1:14 expected '{' before name 'int'\n");
	expect_errors("x = a[1:2:3:4]\n", "1:12 expected ']' before ':'\n");
	expect_errors("while x > 0 {\n  x -= 1\n", "3:1 expected '}' before end of file\n1:13 this '{' is not closed\n");
	/* checks made while building the tree */
	expect_errors("fn f(x=1, y) { }\n", "1:11 parameter 'y' without a default follows one with a default\n");
	expect_errors("f(a=1, 2)\n", "1:8 positional argument after a keyword argument\n");
	expect_errors("1 = x\nf() += 1\n",
		"1:1 cannot assign to this expression; the target must be a name, an index a[i] or a field a.b\n"
		"2:1 cannot assign to this expression; the target must be a name, an index a[i] or a field a.b\n");
	expect_errors("fn f() {\n  import time\n}\n",
		"2:3 'import' declaration must be at the top level, not inside a block\n");
	expect_errors("actor A {\n  let n = 0\n  task t() { }\n  fn ok() { }\n}\n",
		"2:3 an actor body holds only 'fn' methods; put statements in a method such as 'fn init'\n"
		"3:3 'task' declaration must be at the top level, not inside an actor\n");
	expect_errors("actor A {\n  @cpus(1) fn m() { }\n}\n",
		"2:3 actor methods take no decorators; put them on the actor\n");
	/* a missing '}' is blamed once, on the declaration it swallowed */
	expect_errors("fn f() {\n  print(1)\n\nfn g() {\n}\n",
		"4:1 'fn' declaration must be at the top level, not inside a block (is a '}' missing above it?)\n");
	/* an unterminated string that swallowed a ')' or ']' is one error */
	expect_errors("print(\"abc)\nx = 1\nprint(2 +)\n",
		"1:7 unterminated string (a string cannot span lines; write \\n for a newline)\n"
		"3:10 expected expression before ')'\n");
	expect_errors("x = [\"a\", \"b]\ny = 1\n",
		"1:11 unterminated string (a string cannot span lines; write \\n for a newline)\n");
	expect_errors("print(f\"abc {x})", "1:7 unterminated f-string\n");
	/* errors inside f-strings are placed in the original line */
	expect_errors("print(f\"{1 +}\" + )\n",
		"1:13 expected expression before the end of the f-string expression\n"
		"1:18 expected expression before ')'\n");
}

static void test_recovery_reports_each_error(void **state)
{
	(void)state;
	/* five independent mistakes, each reported once, nothing else */
	expect_errors(
		"let a = (1 +\n"
		"fn f(a b) {\n"
		"  let q = 1\n"
		"  let r = ]\n"
		"}\n"
		"let ok = 1\n"
		"task t() {\n"
		"  if x > {\n"
		"    y = 1\n"
		"  }\n"
		"  let d = {\"a\": 1,, \"b\": 2}\n"
		"  print(d)\n"
		"}\n"
		"let e = 2 +* 3\n"
		"let fine = [x for x in xs]\n",
		"1:13 expected expression before newline\n"
		"2:8 expected ')' or ',' before name 'b'\n"
		"9:7 unexpected '='\n"
		"8:10 this '{' opens a dict literal; a block's '{' must follow a complete condition\n"
		"11:19 expected expression before ','\n"
		"14:12 expected expression before '*'\n");
	/* the tree still holds what parsed */
	parsed *p = parse("let a = 1 +* 2\nlet b = 2\nfn f() { return 1 }\n");
	assert_int_equal(p->d.nerrors, 1);
	assert_int_equal(p->m->ndecls, 2);
	assert_int_equal(p->m->decls[0]->kind, D_STMT);
	assert_string_equal(p->m->decls[0]->u.stmt->u.let.names[0], "b");
	assert_int_equal(p->m->decls[1]->kind, D_FN);
	parsed_free(p);
}

static void test_errors_inside_blocks_resync(void **state)
{
	(void)state;
	expect_errors(
		"fn f() {\n"
		"  let x = (1,\n"
		"  let y = 2\n"
		"  if y { z = } \n"
		"  return y\n"
		"}\n"
		"fn g() { return ) }\n"
		"print(1)\n",
		"2:13 expected ')' before ','; Flow has no tuples; use a list [a, b]\n"
		"4:14 expected expression before '}'\n"
		"7:17 expected expression before ')'\n");
}

/* A small xorshift so the fuzz run is the same every time. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static const char fuzz_src[] =
	"import time\nimport \"lib/x.flow\" as x\nparam n: int = 10\nconst K = n / 2\n"
	"@associative @cpus(0.5)\ntask add(a: int, b: int = 1) -> int {\n  return a + b\n}\n"
	"fn f(xs) { for i, v in enumerate(xs) { if v > 2 { break } else if v { continue } } }\n"
	"actor C {\n  fn init(s: int = 0) { self.n = s }\n  fn inc() { self.n += 1 }\n}\n"
	"let squares = [add(i, i) for i in range(1, 9) if i % 2 == 0]\n"
	"let d = {\"a\": [1, 2.5e3, 0x1f], 2: {\"b\": none}}\n"
	"print(f\"sum {reduce(add, squares):>8} {{ok}} {d[\"a\"][1:]}\")\n"
	"while n > 0 and not false { n -= 1; let a, b = [1, 2] }\n"
	"x = -2 ** 2 if n < 3 <= 4 else xs[::-1]\n";

static void parse_bytes(const char *s, size_t n)
{
	arena a;
	diag_ctx d;
	arena_init(&a);
	diag_init(&d);
	ast_module *m = parse_source(&a, &d, "fuzz.flow", s, n);
	assert_non_null(m);
	FILE *sink = fopen("/dev/null", "w");
	ast_dump(m, sink);
	fclose(sink);
	diag_fini(&d);
	arena_free(&a);
}

static void test_fuzz_never_crashes(void **state)
{
	(void)state;
	size_t n = strlen(fuzz_src);
	{
		parsed *p = parse(fuzz_src);
		if (p->d.nerrors)
			fail_msg("fuzz seed has errors:\n%s", messages(&p->d));
		parsed_free(p);
	}
	/* every truncation */
	for (size_t k = 0; k <= n; k++)
		parse_bytes(fuzz_src, k);
	/* random byte mutations: replace, insert a tricky byte, delete, splice */
	static const char tricky[] = "{}()[]\"\n\\:;,=@#f0x_.\xff\xc3-*/<";
	char *buf = malloc(n * 2 + 16);
	for (int iter = 0; iter < 3000; iter++) {
		memcpy(buf, fuzz_src, n);
		size_t len = n;
		int edits = 1 + (int)(next_rand() % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = (size_t)(next_rand() % (len + 1));
			switch (next_rand() % 4) {
			case 0:
				if (at < len)
					buf[at] = (char)(next_rand() & 0xff);
				break;
			case 1:
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = tricky[next_rand() % (sizeof tricky - 1)];
				len++;
				break;
			case 2:
				if (at < len) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			default: {
				size_t from = (size_t)(next_rand() % n), k = 1 + next_rand() % 8;
				if (from + k > n)
					k = n - from;
				if (len + k < n * 2 + 16 && at <= len) {
					memmove(buf + at + k, buf + at, len - at);
					memcpy(buf + at, fuzz_src + from, k);
					len += k;
				}
				break;
			}
			}
		}
		parse_bytes(buf, len);
	}
	free(buf);
}

static void test_deep_nesting_is_an_error_not_a_crash(void **state)
{
	(void)state;
	size_t depth = 50000;
	char *s = malloc(depth * 2 + 16);
	memset(s, '(', depth);
	s[depth] = '1';
	memset(s + depth + 1, ')', depth);
	s[depth * 2 + 1] = '\0';
	parsed *p = parse(s);
	assert_true(p->d.nerrors >= 1);
	parsed_free(p);
	free(s);
}

static void test_large_file(void **state)
{
	(void)state;
	/* 200,000 lines parse whole, every declaration kept. How fast is
	 * bench/'s concern, not a test's (no timed assertion: a shared,
	 * noisy machine under a sanitizer took over 10 s once). */
	const char *chunk =
		"let x = f(a, b + 1 * 2, key=\"s\")  # comment\n"
		"if x > 3 { y = [v for v in xs if v < 2] } else { z[1] = {\"k\": 1.5} }\n"
		"print(f\"value {x:.2f}\")\n"
		"\n";
	size_t cl = strlen(chunk), reps = 50000;
	char *s = malloc(cl * reps + 1);
	for (size_t i = 0; i < reps; i++)
		memcpy(s + i * cl, chunk, cl);
	s[cl * reps] = '\0';
	parsed *p = parse(s);
	assert_int_equal(p->d.nerrors, 0);
	assert_int_equal(p->m->ndecls, 150000);
	parsed_free(p);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_declarations),
		cmocka_unit_test(test_statements),
		cmocka_unit_test(test_version2),
		cmocka_unit_test(test_expressions),
		cmocka_unit_test(test_fstrings),
		cmocka_unit_test(test_multiline),
		cmocka_unit_test(test_decl_fields),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_string_values),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_recovery_reports_each_error),
		cmocka_unit_test(test_errors_inside_blocks_resync),
		cmocka_unit_test(test_fuzz_never_crashes),
		cmocka_unit_test(test_deep_nesting_is_an_error_not_a_crash),
		cmocka_unit_test(test_large_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
