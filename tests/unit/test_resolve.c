/* test_resolve.c - diagnostics printing, the loader and the resolver:
 * error places and messages, and the annotations left on the tree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lang/diag.h"
#include "lang/resolve.h"

static diag_ctx D;
static flow_loader L;

static int load_p(const char *src, const param_set *ps, int n)
{
	diag_init(&D);
	loader_init(&L, &D);
	int rc = loader_load_source(&L, "t.flow", src, strlen(src), ps, n);
	diag_sort(&D);
	return rc;
}

static int load(const char *src) { return load_p(src, NULL, 0); }

static void done(void)
{
	loader_fini(&L);
	diag_fini(&D);
}

/* Prints every diagnostic, to make a failing assertion readable. */
static void dump(void)
{
	diag_print(&D, stderr);
}

/* The i-th error (notes skipped), in sorted order. */
static const diag_msg *nth_error(int i)
{
	for (int k = 0; k < D.nmsgs; k++)
		if (D.msgs[k].level == DIAG_ERROR && i-- == 0)
			return &D.msgs[k];
	return NULL;
}

static void expect_error(int i, int line, int col, const char *text)
{
	const diag_msg *m = nth_error(i);
	if (m == NULL || m->where.line != line || m->where.col != col || strcmp(m->text, text) != 0) {
		dump();
		fail_msg("error %d: expected %d:%d '%s', got %d:%d '%s'", i, line, col, text,
		         m ? m->where.line : -1, m ? m->where.col : -1, m ? m->text : "(none)");
	}
}

static void expect_clean(const char *src)
{
	int rc = load(src);
	if (rc != 0 || D.nerrors != 0) {
		dump();
		fail_msg("expected no errors");
	}
}

static ast_decl *decl(int i) { return L.main->decls[i]; }

static ast_stmt *body_stmt(ast_decl *fn, int i) { return fn->u.fn.body.stmts[i]; }

/* ---- diag ---------------------------------------------------------------- */

static void test_diag_format(void **state)
{
	(void)state;
	diag_ctx d;
	diag_init(&d);
	const char *src = "let x = 1\n\tlet y = sqaure(x)\n";
	int f = diag_add_source(&d, "p.flow", src, strlen(src));
	char *s = diag_format(&d, DIAG_ERROR, (span){ f, 2, 10, 2, 16 }, "unknown name 'sqaure'");
	assert_string_equal(s, "p.flow:2:10: error: unknown name 'sqaure'\n"
	                       "    2 | \tlet y = sqaure(x)\n"
	                       "      | \t        ^~~~~~\n");
	free(s);
	s = diag_format(&d, DIAG_ERROR, (span){ -1, 0, 0, 0, 0 }, "cannot read 'x.flow'");
	assert_string_equal(s, "flow: error: cannot read 'x.flow'\n");
	free(s);
	/* a span running past its line is underlined to the line's end */
	s = diag_format(&d, DIAG_NOTE, (span){ f, 1, 5, 2, 3 }, "here");
	assert_string_equal(s, "p.flow:1:5: note: here\n    1 | let x = 1\n      |     ^~~~~\n");
	free(s);
	/* the caret counts code points, so it stays under a name after "é" */
	const char *u = "print(\"\xc3\xa9\", zz)\n";
	f = diag_add_source(&d, "u.flow", u, strlen(u));
	s = diag_format(&d, DIAG_ERROR, (span){ f, 1, 13, 1, 15 }, "unknown name 'zz'");
	assert_string_equal(s, "u.flow:1:13: error: unknown name 'zz'\n"
	                       "    1 | print(\"\xc3\xa9\", zz)\n"
	                       "      |            ^~\n");
	free(s);
	diag_fini(&d);
}

static void test_diag_sort_keeps_notes(void **state)
{
	(void)state;
	diag_ctx d;
	diag_init(&d);
	int f = diag_add_source(&d, "a.flow", "a\nb\nc\n", 6);
	diag_error(&d, (span){ f, 3, 1, 3, 2 }, "third");
	diag_note(&d, (span){ f, 1, 1, 1, 2 }, "note of third");
	diag_error(&d, (span){ f, 2, 1, 2, 2 }, "second");
	diag_error(&d, (span){ f, 2, 1, 2, 2 }, "second again");
	diag_sort(&d);
	assert_int_equal(d.nmsgs, 4);
	assert_string_equal(d.msgs[0].text, "second");
	assert_string_equal(d.msgs[1].text, "second again");
	assert_string_equal(d.msgs[2].text, "third");
	assert_string_equal(d.msgs[3].text, "note of third");
	diag_fini(&d);
}

static void test_diag_cap(void **state)
{
	(void)state;
	diag_ctx d;
	diag_init(&d);
	d.max_errors = 2;
	for (int i = 0; i < 5; i++) {
		diag_error(&d, (span){ -1, 0, 0, 0, 0 }, "e%d", i);
		diag_note(&d, (span){ -1, 0, 0, 0, 0 }, "n%d", i);
	}
	assert_int_equal(d.nerrors, 5);
	assert_int_equal(d.nmsgs, 4);
	diag_fini(&d);
}

static void test_diag_suggest(void **state)
{
	(void)state;
	const char *c[] = { "square", "sqrt", "time", NULL };
	assert_string_equal(diag_suggest("sqaure", c, 0), "square"); /* transposition */
	assert_string_equal(diag_suggest("tme", c, 3), "time");
	assert_null(diag_suggest("xyz", c, 0));
	assert_null(diag_suggest("square", (const char *[]){ "square", NULL }, 0));
	/* ties go to the earlier candidate */
	assert_string_equal(diag_suggest("ab", (const char *[]){ "ac", "ad", NULL }, 0), "ac");
}

/* ---- annotations on a clean program -------------------------------------- */

static void test_slots_and_refs(void **state)
{
	(void)state;
	expect_clean("import math\n"
	             "param n: int = 4\n"
	             "const K = n * 2\n"
	             "task f(a: int, b: int = 1) -> int {\n"
	             "    let s = a + b\n"
	             "    t = [x * K for x in range(s)]\n"
	             "    for i, v in enumerate(t) { s += v }\n"
	             "    return s\n"
	             "}\n"
	             "let xs = [f(i) for i in range(n)]\n"
	             "let r = math.sqrt(2.0)\n"
	             "print(str.format(\"{}\", r), len(xs))\n");
	ast_decl *f = decl(3);
	assert_int_equal(f->kind, D_TASK);
	/* a, b params; s, t, i, v locals; x comprehension */
	assert_int_equal(f->u.fn.nlocals, 7);
	ast_stmt *let_s = body_stmt(f, 0);
	assert_int_equal(let_s->u.let.local[0], 2);
	ast_expr *plus = let_s->u.let.value;
	assert_int_equal(plus->u.binary.left->u.name.ref.kind, REF_LOCAL);
	assert_int_equal(plus->u.binary.left->u.name.ref.slot, 0);
	assert_int_equal(plus->u.binary.right->u.name.ref.slot, 1);
	ast_stmt *assign_t = body_stmt(f, 1);
	assert_int_equal(assign_t->u.assign.targets[0]->u.name.ref.kind, REF_LOCAL);
	assert_int_equal(assign_t->u.assign.targets[0]->u.name.ref.slot, 3);
	ast_expr *comp = assign_t->u.assign.value;
	assert_int_equal(comp->u.comp.clauses[0].local[0], 6);
	ast_expr *elt = comp->u.comp.elt;
	assert_int_equal(elt->u.binary.left->u.name.ref.slot, 6);
	assert_int_equal(elt->u.binary.right->u.name.ref.kind, REF_GLOBAL);
	assert_ptr_equal(elt->u.binary.right->u.name.ref.decl, decl(2));
	ast_expr *range_call = comp->u.comp.clauses[0].iter;
	assert_int_equal(range_call->u.call.callee->u.name.ref.kind, REF_BUILTIN);
	ast_stmt *loop = body_stmt(f, 2);
	assert_int_equal(loop->u.for_.local[0], 4);
	assert_int_equal(loop->u.for_.local[1], 5);

	/* driver: xs, r, then the comprehension's i */
	assert_int_equal(L.main->driver_nlocals, 3);
	ast_stmt *let_xs = decl(4)->u.stmt;
	assert_int_equal(let_xs->u.let.local[0], 0);
	ast_expr *call_f = let_xs->u.let.value->u.comp.elt;
	assert_int_equal(call_f->u.call.callee->u.name.ref.kind, REF_DECL);
	assert_ptr_equal(call_f->u.call.callee->u.name.ref.decl, f);
	assert_int_equal(let_xs->u.let.value->u.comp.clauses[0].local[0], 2);
	ast_expr *sqrt_call = decl(5)->u.stmt->u.let.value;
	ast_expr *field = sqrt_call->u.call.callee;
	assert_int_equal(field->kind, E_FIELD);
	assert_int_equal(field->u.field.ref.kind, REF_BUILTIN);
	assert_string_equal(field->u.field.ref.stdmod, "math");
	assert_int_equal(field->u.field.obj->u.name.ref.kind, REF_MODULE);
	assert_string_equal(field->u.field.obj->u.name.ref.stdmod, "math");
	ast_expr *print_call = decl(6)->u.stmt->u.expr;
	ast_expr *fmt = print_call->u.call.args[0].value->u.call.callee;
	assert_int_equal(fmt->u.field.ref.kind, REF_BUILTIN);
	assert_string_equal(fmt->u.field.ref.stdmod, "str");
	done();
}

static void test_actor_method_slots(void **state)
{
	(void)state;
	expect_clean("actor Counter {\n"
	             "    fn init(start: int = 0) { self.n = start }\n"
	             "    fn add(k: int) -> int { let old = self.n\n self.n += k\n return old }\n"
	             "}\n"
	             "let c = Counter(start=2)\n"
	             "c.add(3)\n");
	ast_decl *actor = decl(0);
	assert_int_equal(actor->kind, D_ACTOR);
	ast_decl *add = actor->u.actor.methods[1];
	assert_int_equal(add->u.fn.nlocals, 2);
	ast_expr *self_n = body_stmt(add, 0)->u.let.value;
	assert_int_equal(self_n->u.field.obj->u.name.ref.kind, REF_SELF);
	done();
}

/* ---- errors ------------------------------------------------------------- */

static void test_unknown_name(void **state)
{
	(void)state;
	assert_int_equal(load("task square(x: int) -> int { return x * x }\n"
	                      "let y = sqaure(3)\n"
	                      "print(qqq)\n"),
	                 -1);
	assert_int_equal(D.nerrors, 2);
	expect_error(0, 2, 9, "unknown name 'sqaure'; did you mean 'square'?");
	expect_error(1, 3, 7, "unknown name 'qqq'");
	done();
}

static void test_driver_variable(void **state)
{
	(void)state;
	load("let xs = [1]\ntask t() -> int { return len(xs) }\n");
	assert_int_equal(D.nerrors, 1);
	expect_error(0, 2, 30, "'xs' is a driver variable; pass it to 't' as an argument");
	done();
}

static void test_duplicates(void **state)
{
	(void)state;
	load("task a(x: int, x: int) { }\nfn a() { }\nfn g() { let y = 1\n let y = 2 }\n");
	assert_int_equal(D.nerrors, 3);
	expect_error(0, 1, 16, "duplicate parameter 'x'");
	expect_error(1, 2, 4, "duplicate declaration of 'a'");
	expect_error(2, 4, 6, "duplicate declaration of 'y'");
	/* the note follows its error */
	int k = 0;
	while (D.msgs[k].level != DIAG_ERROR || strcmp(D.msgs[k].text, "duplicate declaration of 'a'"))
		k++;
	assert_int_equal(D.msgs[k + 1].level, DIAG_NOTE);
	assert_string_equal(D.msgs[k + 1].text, "previous declaration of 'a' is here");
	assert_int_equal(D.msgs[k + 1].where.line, 1);
	assert_int_equal(D.msgs[k + 1].where.col, 6);
	done();
}

static void test_arity(void **state)
{
	(void)state;
	load("task f(x: int, alpha: float = 0.1) { }\n"
	     "f(1, 2, 3)\n"
	     "f()\n"
	     "f(1, alpah=2.0)\n"
	     "f(1, x=2)\n"
	     "f(1, alpha=1.0, alpha=2.0)\n"
	     "print(len([1], 2))\n");
	assert_int_equal(D.nerrors, 6);
	expect_error(0, 2, 9, "task 'f' takes 1 to 2 arguments but 3 were given");
	expect_error(1, 3, 1, "missing argument 'x' in call to task 'f'");
	expect_error(2, 4, 6, "task 'f' has no parameter 'alpah'; did you mean 'alpha'?");
	expect_error(3, 5, 6, "argument 'x' of task 'f' is given twice");
	expect_error(4, 6, 17, "duplicate keyword argument 'alpha'");
	expect_error(5, 7, 16, "'len' takes 1 argument but 2 were given");
	done();
}

static void test_methods(void **state)
{
	(void)state;
	load("actor C {\n"
	     "  fn init() { self.n = 0 }\n"
	     "  fn inc(k: int) { self.n += k\n self.incc(1) }\n"
	     "}\n"
	     "let c = C()\n"
	     "c.incremnt()\n"
	     "c.inc()\n");
	assert_int_equal(D.nerrors, 3);
	expect_error(0, 4, 7, "actor 'C' has no method 'incc'; did you mean 'inc'?");
	expect_error(1, 7, 3, "actor 'C' has no method 'incremnt'; did you mean 'inc'?");
	expect_error(2, 8, 1, "missing argument 'k' in call to method 'C.inc'");
	done();
}

static void test_placement(void **state)
{
	(void)state;
	load("task f() { break }\nreturn 1\nlet s = self\nwait([])\nprint(z)\nlet z = 1\n");
	/* wait() in the driver is fine: the rest of the driver runs at run time */
	assert_int_equal(D.nerrors, 4);
	expect_error(0, 1, 12, "'break' outside a loop");
	expect_error(1, 2, 1, "'return' cannot be used in the driver, only in a task, fn or method");
	expect_error(2, 3, 9, "'self' can only be used inside an actor method");
	expect_error(3, 5, 7, "'z' is used before it is assigned");
	done();
}

static void test_loop_use_before_binding_is_fine(void **state)
{
	(void)state;
	expect_clean("let i = 0\nwhile i < 3 {\n  if i > 0 { print(last) }\n  let last = i\n  i += 1\n}\n");
	done();
}

static void test_types(void **state)
{
	(void)state;
	load("task f(x: integer) -> int { return \"a\" }\n"
	     "fn g(x: float) { }\n"
	     "g(1)\n"
	     "g(\"s\")\n"
	     "let y: int = 2.5\n");
	assert_int_equal(D.nerrors, 4);
	expect_error(0, 1, 11, "unknown type 'integer'; did you mean 'int'?");
	expect_error(1, 1, 36, "task 'f' returns int but this is a str");
	expect_error(2, 4, 3, "argument 'x' of fn 'g' expects float, got str");
	expect_error(3, 5, 14, "'y' is declared int but given a float");
	done();
}

static void test_decorators(void **state)
{
	(void)state;
	load("@retry(3) task a() { }\n"
	     "@restarts(1) task b() { }\n"
	     "@cpus(-1) @memory(\"2XB\") task c() { }\n"
	     "@associative task d(x: int) { }\n"
	     "@memory(\"2GiB\") @timeout(0.5) @resources(gpu=1) task e() { }\n");
	assert_int_equal(D.nerrors, 5);
	expect_error(0, 1, 1, "unknown decorator '@retry'; did you mean '@retries'?");
	expect_error(1, 2, 1, "'@restarts' applies to actors, not to tasks");
	expect_error(2, 3, 7, "'@cpus' expects a number >= 0, got -1");
	expect_error(3, 3, 19,
	             "'@memory' expects a size such as \"512MiB\", \"2GiB\" or \"1GB\", got \"2XB\"");
	expect_error(4, 4, 1, "'@associative' needs a task of exactly two parameters; 'd' has 1");
	done();
}

static void test_consts(void **state)
{
	(void)state;
	load("import time\n"
	     "task sq(x: int) -> int { return x * x }\n"
	     "const A = sq(2)\n"
	     "const B = time.now()\n"
	     "const C = [1, 2] + [len(\"ab\"), max(1, 2)]\n"
	     "const D1 = D2\nconst D2 = D1\n");
	assert_int_equal(D.nerrors, 3);
	expect_error(0, 3, 11, "const 'A' is not computable at compile time: it calls task 'sq'");
	expect_error(1, 4, 11,
	             "const 'B' is not computable at compile time: it calls 'time.now', which runs at run time");
	expect_error(2, 6, 7, "const 'D1' depends on itself: D1 -> D2 -> D1");
	done();
}

static void test_params(void **state)
{
	(void)state;
	param_set ok[] = { { "n", "42" }, { "rate", "3" }, { "name", "x y" }, { "loose", "2.5" } };
	expect_clean("param n: int = 1\nparam rate: float = 0.5\nparam name = \"a\"\nparam loose = 1\n");
	done();
	assert_int_equal(load_p("param n: int = 1\nparam rate: float = 0.5\nparam name = \"a\"\n"
	                        "param loose = none\n",
	                        ok, 4),
	                 0);
	ast_expr *n = decl(0)->u.param.deflt;
	assert_int_equal(n->kind, E_INT);
	assert_int_equal(n->u.i, 42);
	ast_expr *rate = decl(1)->u.param.deflt;
	assert_int_equal(rate->kind, E_FLOAT);
	assert_true(rate->u.f == 3.0);
	ast_expr *name = decl(2)->u.param.deflt;
	assert_int_equal(name->kind, E_STR);
	assert_string_equal(name->u.str.s, "x y");
	ast_expr *loose = decl(3)->u.param.deflt;
	assert_int_equal(loose->kind, E_FLOAT);
	done();

	param_set bad[] = { { "m", "1" }, { "n", "abc" } };
	assert_int_equal(load_p("param n: int = 1\nprint(n)\n", bad, 2), -1);
	assert_int_equal(D.nerrors, 2);
	expect_error(0, 0, 0, "unknown param 'm'; did you mean 'n'?");
	expect_error(1, 0, 0, "param 'n' expects int, got 'abc'");
	assert_int_equal(nth_error(0)->where.file, -1);
	done();
}

static void test_big_and_deep(void **state)
{
	(void)state;
	/* many locals stay fast (hashed), a very deep expression is an error,
	 * not a stack overflow */
	size_t cap = 40 * 5000 + 64000;
	char *src = malloc(cap);
	size_t n = 0;
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(src + n, cap - n, "let x%d = %d\n", i, i);
	n += (size_t)snprintf(src + n, cap - n, "let deep = 1");
	for (int i = 0; i < 20000; i++)
		n += (size_t)snprintf(src + n, cap - n, "+1");
	n += (size_t)snprintf(src + n, cap - n, "\nprint(x4999)\n");
	assert_int_equal(load(src), -1);
	assert_int_equal(D.nerrors, 1);
	expect_error(0, 5001, 12, "expression is nested too deeply (more than 2000 levels)");
	assert_int_equal(L.main->driver_nlocals, 5001);
	done();
	free(src);
}

/* ---- files and imports --------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_imports(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/flow_resolve_XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	char p[256];
	snprintf(p, sizeof p, "%s/lib", tmpdir);
	assert_int_equal(mkdir(p, 0700), 0);
	write_file("lib/stats.flow", "fn mean(xs: list) -> float { return sum(xs) / len(xs) }\n"
	                             "const K = 2\nprint(\"not run\")\n");
	write_file("lib/other.flow", "import \"stats.flow\"\nfn m2() -> float { return stats.mean([1]) }\n");
	write_file("main.flow", "import \"lib/stats.flow\"\nimport \"lib/other.flow\" as o\n"
	                        "print(stats.mean([1, 2]), stats.K, o.m2())\n");
	write_file("a.flow", "import \"b.flow\"\n");
	write_file("b.flow", "import \"a.flow\"\n");
	write_file("bad.flow", "import \"lib/stats.flow\"\nimport tme\nprint(stats.meen([1]))\n");

	snprintf(p, sizeof p, "%s/main.flow", tmpdir);
	diag_init(&D);
	loader_init(&L, &D);
	int rc = loader_load(&L, p, NULL, 0);
	if (rc != 0)
		dump();
	assert_int_equal(rc, 0);
	assert_int_equal(L.nmodules, 3); /* stats loaded once */
	ast_decl *imp = L.main->decls[0];
	assert_non_null(imp->u.import.target);
	assert_string_equal(imp->u.import.target->name, "stats");
	ast_expr *print_call = L.main->decls[2]->u.stmt->u.expr;
	ast_expr *mean = print_call->u.call.args[0].value->u.call.callee;
	assert_int_equal(mean->u.field.ref.kind, REF_DECL);
	assert_ptr_equal(mean->u.field.ref.module, imp->u.import.target);
	assert_int_equal(print_call->u.call.args[1].value->u.field.ref.kind, REF_GLOBAL);
	done();

	snprintf(p, sizeof p, "%s/a.flow", tmpdir);
	diag_init(&D);
	loader_init(&L, &D);
	assert_int_equal(loader_load(&L, p, NULL, 0), -1);
	assert_int_equal(D.nerrors, 1);
	assert_non_null(strstr(D.msgs[0].text, "import cycle: "));
	assert_non_null(strstr(D.msgs[0].text, "a.flow -> "));
	assert_non_null(strstr(D.msgs[0].text, "b.flow -> "));
	done();

	snprintf(p, sizeof p, "%s/bad.flow", tmpdir);
	diag_init(&D);
	loader_init(&L, &D);
	assert_int_equal(loader_load(&L, p, NULL, 0), -1);
	diag_sort(&D);
	expect_error(0, 2, 8, "unknown module 'tme'; did you mean 'time'?");
	expect_error(1, 3, 13, "module 'stats' has no member 'meen'; did you mean 'mean'?");
	done();

	snprintf(p, sizeof p, "%s/missing.flow", tmpdir);
	diag_init(&D);
	loader_init(&L, &D);
	assert_int_equal(loader_load(&L, p, NULL, 0), -1);
	char *s = diag_format(&D, DIAG_ERROR, D.msgs[0].where, D.msgs[0].text);
	assert_non_null(strstr(s, "flow: error: cannot read '"));
	assert_non_null(strstr(s, "missing.flow': No such file or directory"));
	free(s);
	done();

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diag_format),
		cmocka_unit_test(test_diag_sort_keeps_notes),
		cmocka_unit_test(test_diag_cap),
		cmocka_unit_test(test_diag_suggest),
		cmocka_unit_test(test_slots_and_refs),
		cmocka_unit_test(test_actor_method_slots),
		cmocka_unit_test(test_unknown_name),
		cmocka_unit_test(test_driver_variable),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_arity),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_placement),
		cmocka_unit_test(test_loop_use_before_binding_is_fine),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_decorators),
		cmocka_unit_test(test_consts),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_big_and_deep),
		cmocka_unit_test(test_imports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
