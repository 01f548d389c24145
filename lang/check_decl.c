/* check_decl.c - checks on declarations: type annotations, parameter
 * lists, decorators, compile-time constants, and -p values for params. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolve_int.h"
#include "lang/native.h"
#include "lang/param_literal.h"

static const char *const builtin_types[] = {
	"any", "none", "bool", "int", "float", "str", "list", "dict", "tensor", "fn", "task", NULL,
};

/* ---- types ------------------------------------------------------------ */

bool check_type_name_known(rctx *c, const char *name)
{
	for (int i = 0; builtin_types[i]; i++)
		if (strcmp(builtin_types[i], name) == 0)
			return true;
	msym *s = resolve_mod_find(c->mi, name);
	return s && s->decl->kind == D_ACTOR;
}

/* Kinds of value (LANGUAGE.md section 3's table) that are not annotation
 * names: a near miss such as 'stream' -> 'str' would mislead. */
static const char *const unannotatable[] = { "future", "stream", "error", "actor", NULL };

void check_type(rctx *c, const ast_type *t)
{
	if (t == NULL || t->name == NULL || check_type_name_known(c, t->name))
		return;
	for (int i = 0; unannotatable[i]; i++)
		if (strcmp(unannotatable[i], t->name) == 0) {
			diag_error(c->d, t->where,
			           "'%s' is not an annotation name; leave it out or write 'any' "
			           "(annotation names: any none bool int float str list dict tensor fn "
			           "task, or an actor's name)",
			           t->name);
			return;
		}
	const char **cands = arena_alloc(c->a, (size_t)(c->mi->nsyms + 16) * sizeof *cands);
	size_t n = 0;
	for (int i = 0; builtin_types[i]; i++)
		cands[n++] = builtin_types[i];
	for (int i = 0; i < c->mi->nsyms; i++)
		if (c->mi->syms[i].decl->kind == D_ACTOR)
			cands[n++] = c->mi->syms[i].name;
	const char *s = diag_suggest(t->name, cands, n);
	if (s)
		diag_error(c->d, t->where, "unknown type '%s'; did you mean '%s'?", t->name, s);
	else
		diag_error(c->d, t->where, "unknown type '%s'", t->name);
}

const char *check_literal_type(const ast_expr *e)
{
	if (e == NULL)
		return NULL;
	switch (e->kind) {
	case E_NONE: return "none";
	case E_BOOL: return "bool";
	case E_INT: return "int";
	case E_FLOAT: return "float";
	case E_STR: return "str";
	case E_FSTRING: return "str";
	case E_LIST: return "list";
	case E_COMP: return e->u.comp.key ? "dict" : "list";
	case E_DICT: return "dict";
	case E_UNARY:
		if (e->u.unary.op == UN_NOT)
			return "bool";
		if (e->u.unary.operand && (e->u.unary.operand->kind == E_INT ||
		                           e->u.unary.operand->kind == E_FLOAT))
			return check_literal_type(e->u.unary.operand);
		return NULL;
	default:
		return NULL;
	}
}

bool check_type_accepts(const char *declared, const char *actual)
{
	if (strcmp(declared, "any") == 0 || strcmp(declared, actual) == 0)
		return true;
	return strcmp(declared, "float") == 0 && strcmp(actual, "int") == 0;
}

static const char *article(const char *t)
{
	return strchr("aeiou", t[0]) ? "an" : "a";
}

/* ---- parameter lists -------------------------------------------------- */

void check_params_ast(rctx *c, ast_decl *fn)
{
	bool seen_default = false;
	for (int i = 0; i < fn->u.fn.nparams; i++) {
		ast_param *p = &fn->u.fn.params[i];
		if (p->name == NULL)
			continue;
		for (int j = 0; j < i; j++) {
			if (fn->u.fn.params[j].name && strcmp(fn->u.fn.params[j].name, p->name) == 0) {
				diag_error(c->d, p->where, "duplicate parameter '%s'", p->name);
				diag_note(c->d, fn->u.fn.params[j].where,
				          "previous declaration of '%s' is here", p->name);
				break;
			}
		}
		if (strcmp(p->name, "self") == 0)
			diag_error(c->d, p->where, "'self' cannot be a parameter; it is implicit in methods");
		check_type(c, &p->type);
		if (p->deflt) {
			seen_default = true;
			const char *lt = check_literal_type(p->deflt);
			if (lt && p->type.name && check_type_name_known(c, p->type.name) &&
			    !check_type_accepts(p->type.name, lt))
				diag_error(c->d, p->deflt->where,
				           "parameter '%s' is declared %s but its default is %s %s", p->name,
				           p->type.name, article(lt), lt);
		} else if (seen_default) {
			diag_error(c->d, p->where,
			           "parameter '%s' without a default follows a parameter with a default",
			           p->name);
		}
	}
}

/* ---- compile-time constants ------------------------------------------ */

static const char *const pure_builtins[] = {
	"len", "range", "min", "max", "abs", "str", "int", "float", "bool", "sum",
	"sorted", "reversed", "list", "dict", "any", "all", "zip", "enumerate", "type", NULL,
};

static bool is_pure_builtin(const char *name)
{
	for (int i = 0; pure_builtins[i]; i++)
		if (strcmp(pure_builtins[i], name) == 0)
			return true;
	return false;
}

static bool pure_module_fn(const char *mod, const char *name)
{
	if (strcmp(mod, "math") != 0 && strcmp(mod, "str") != 0)
		return false;
	const native_def *nd = native_module_fn(native_module(mod), name);
	return nd && (nd->flags & (NATIVE_EFFECT | NATIVE_CLOCK | NATIVE_HOST | NATIVE_RANDOM |
	                           NATIVE_ENV)) == 0;
}

static bool const_walk(rctx *c, ast_expr *e, const char *what);

static bool const_list(rctx *c, ast_expr **v, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (!const_walk(c, v[i], what))
			return false;
	return true;
}

static bool not_const(rctx *c, ast_expr *e, const char *what, const char *why)
{
	diag_error(c->d, e->where, "%s is not computable at compile time: %s", what, why);
	return false;
}

static bool const_ref(rctx *c, ast_expr *e, const ast_ref *r, const char *name,
                      const char *what)
{
	char why[256];
	switch (r->kind) {
	case REF_UNRESOLVED:
	case REF_GLOBAL:
		return true;
	case REF_DECL:
		snprintf(why, sizeof why, "it uses %s '%s' as a value", resolve_decl_kind_name(r->decl), name);
		return not_const(c, e, what, why);
	case REF_BUILTIN:
		if (r->stdmod && native_module_const(native_module(r->stdmod), name))
			return true;
		snprintf(why, sizeof why, "it uses '%s' as a value", name);
		return not_const(c, e, what, why);
	case REF_LOCAL:
		return true; /* a comprehension target; the comprehension is reported */
	default:
		return false; /* reported at the name already */
	}
}

static bool const_call(rctx *c, ast_expr *e, const char *what)
{
	ast_expr *callee = e->u.call.callee;
	char why[256];
	const ast_ref *r = NULL;
	const char *name = NULL;
	if (callee && callee->kind == E_NAME) {
		r = &callee->u.name.ref;
		name = callee->u.name.name;
	} else if (callee && callee->kind == E_FIELD) {
		r = &callee->u.field.ref;
		name = callee->u.field.name;
	}
	if (r == NULL)
		return not_const(c, e, what, "it calls something that is only known at run time");
	switch (r->kind) {
	case REF_UNRESOLVED:
		if (callee->kind == E_FIELD) {
			snprintf(why, sizeof why, "it calls method '%s'", name);
			return not_const(c, e, what, why);
		}
		return true;
	case REF_DECL:
		if (r->decl->kind == D_ACTOR)
			snprintf(why, sizeof why, "it creates actor '%s'", name);
		else
			snprintf(why, sizeof why, "it calls %s '%s'", resolve_decl_kind_name(r->decl), name);
		return not_const(c, e, what, why);
	case REF_BUILTIN:
		if (r->stdmod ? !pure_module_fn(r->stdmod, name) : !is_pure_builtin(name)) {
			if (r->stdmod)
				snprintf(why, sizeof why, "it calls '%s.%s', which runs at run time",
				         r->stdmod, name);
			else
				snprintf(why, sizeof why, "it calls '%s', which runs at run time", name);
			return not_const(c, e, what, why);
		}
		for (int i = 0; i < e->u.call.nargs; i++)
			if (!const_walk(c, e->u.call.args[i].value, what))
				return false;
		return true;
	default:
		return false; /* not callable: reported already */
	}
}

static bool const_walk(rctx *c, ast_expr *e, const char *what)
{
	if (e == NULL)
		return true;
	switch (e->kind) {
	case E_NONE: case E_BOOL: case E_INT: case E_FLOAT: case E_STR:
		return true;
	case E_FSTRING:
		for (int i = 0; i < e->u.fstr.nparts; i++)
			if (!const_walk(c, e->u.fstr.parts[i].expr, what) ||
			    !const_walk(c, e->u.fstr.parts[i].spec_expr, what))
				return false;
		return true;
	case E_NAME:
		return const_ref(c, e, &e->u.name.ref, e->u.name.name, what);
	case E_LIST:
		return const_list(c, e->u.list.items, e->u.list.nitems, what);
	case E_DICT:
		return const_list(c, e->u.dict.keys, e->u.dict.nitems, what) &&
		       const_list(c, e->u.dict.values, e->u.dict.nitems, what);
	case E_COMP:
		return not_const(c, e, what, "it uses a comprehension");
	case E_UNARY:
		return const_walk(c, e->u.unary.operand, what);
	case E_BINARY:
		return const_walk(c, e->u.binary.left, what) && const_walk(c, e->u.binary.right, what);
	case E_COMPARE:
		return const_list(c, e->u.compare.operands, e->u.compare.noperands, what);
	case E_TERNARY:
		return const_walk(c, e->u.ternary.cond, what) &&
		       const_walk(c, e->u.ternary.then, what) &&
		       const_walk(c, e->u.ternary.otherwise, what);
	case E_CALL:
		return const_call(c, e, what);
	case E_INDEX:
		return const_walk(c, e->u.index.obj, what) && const_walk(c, e->u.index.index, what);
	case E_SLICE:
		return const_walk(c, e->u.slice.obj, what) && const_walk(c, e->u.slice.lo, what) &&
		       const_walk(c, e->u.slice.hi, what) && const_walk(c, e->u.slice.step, what);
	case E_FIELD:
		if (e->u.field.ref.kind == REF_UNRESOLVED) {
			if (e->u.field.obj && e->u.field.obj->kind == E_NAME &&
			    e->u.field.obj->u.name.ref.kind == REF_MODULE)
				return true; /* unknown member: reported */
			return not_const(c, e, what, "it reads a field, which is only known at run time");
		}
		return const_ref(c, e, &e->u.field.ref, e->u.field.name, what);
	}
	return true;
}

void check_const_expr(rctx *c, ast_expr *e, const char *what)
{
	const_walk(c, e, what);
}

/* Consts that depend on themselves (directly or through other consts). */
typedef struct cstate {
	ast_decl **decl;
	int *state; /* 0 unseen, 1 on the path, 2 done */
	int n, cap;
	ast_decl **path;
	int npath;
} cstate;

static int *cs_state(rctx *c, cstate *cs, ast_decl *d)
{
	for (int i = 0; i < cs->n; i++)
		if (cs->decl[i] == d)
			return &cs->state[i];
	if (cs->n == cs->cap) {
		int cap = cs->cap ? cs->cap * 2 : 16;
		cs->decl = arena_grow_array(c->a, cs->decl, sizeof *cs->decl, (size_t)cs->cap,
		                            (size_t)cap);
		cs->state = arena_grow_array(c->a, cs->state, sizeof *cs->state, (size_t)cs->cap,
		                             (size_t)cap);
		cs->path = arena_grow_array(c->a, cs->path, sizeof *cs->path, (size_t)cs->cap,
		                            (size_t)cap);
		cs->cap = cap;
	}
	cs->decl[cs->n] = d;
	cs->state[cs->n] = 0;
	return &cs->state[cs->n++];
}

static void cycle_visit(rctx *c, cstate *cs, ast_decl *d);

static void cycle_expr(rctx *c, cstate *cs, ast_expr *e)
{
	if (e == NULL)
		return;
	switch (e->kind) {
	case E_NAME:
		if (e->u.name.ref.kind == REF_GLOBAL && e->u.name.ref.decl)
			cycle_visit(c, cs, e->u.name.ref.decl);
		return;
	case E_FIELD:
		if (e->u.field.ref.kind == REF_GLOBAL && e->u.field.ref.decl)
			cycle_visit(c, cs, e->u.field.ref.decl);
		return;
	case E_FSTRING:
		for (int i = 0; i < e->u.fstr.nparts; i++) {
			cycle_expr(c, cs, e->u.fstr.parts[i].expr);
			cycle_expr(c, cs, e->u.fstr.parts[i].spec_expr);
		}
		return;
	case E_LIST:
		for (int i = 0; i < e->u.list.nitems; i++)
			cycle_expr(c, cs, e->u.list.items[i]);
		return;
	case E_DICT:
		for (int i = 0; i < e->u.dict.nitems; i++) {
			cycle_expr(c, cs, e->u.dict.keys[i]);
			cycle_expr(c, cs, e->u.dict.values[i]);
		}
		return;
	case E_UNARY:
		cycle_expr(c, cs, e->u.unary.operand);
		return;
	case E_BINARY:
		cycle_expr(c, cs, e->u.binary.left);
		cycle_expr(c, cs, e->u.binary.right);
		return;
	case E_COMPARE:
		for (int i = 0; i < e->u.compare.noperands; i++)
			cycle_expr(c, cs, e->u.compare.operands[i]);
		return;
	case E_TERNARY:
		cycle_expr(c, cs, e->u.ternary.cond);
		cycle_expr(c, cs, e->u.ternary.then);
		cycle_expr(c, cs, e->u.ternary.otherwise);
		return;
	case E_CALL:
		for (int i = 0; i < e->u.call.nargs; i++)
			cycle_expr(c, cs, e->u.call.args[i].value);
		return;
	case E_INDEX:
		cycle_expr(c, cs, e->u.index.obj);
		cycle_expr(c, cs, e->u.index.index);
		return;
	case E_SLICE:
		cycle_expr(c, cs, e->u.slice.obj);
		cycle_expr(c, cs, e->u.slice.lo);
		cycle_expr(c, cs, e->u.slice.hi);
		cycle_expr(c, cs, e->u.slice.step);
		return;
	default:
		return;
	}
}

static void cycle_visit(rctx *c, cstate *cs, ast_decl *d)
{
	int *st = cs_state(c, cs, d);
	if (*st == 2)
		return;
	if (*st == 1) {
		char path[512];
		size_t len = 0;
		path[0] = '\0';
		int from = 0;
		for (int i = 0; i < cs->npath; i++)
			if (cs->path[i] == d)
				from = i;
		for (int i = from; i < cs->npath; i++) {
			int w = snprintf(path + len, sizeof path - len, "%s -> ", cs->path[i]->name);
			if (w > 0 && (size_t)w < sizeof path - len)
				len += (size_t)w;
		}
		snprintf(path + len, sizeof path - len, "%s", d->name);
		diag_error(c->d, pick(d->name_where, d->where), "%s '%s' depends on itself: %s",
		           resolve_decl_kind_name(d), d->name, path);
		return;
	}
	*st = 1;
	cs->path[cs->npath++] = d;
	cycle_expr(c, cs, d->kind == D_CONST ? d->u.const_.value : d->u.param.deflt);
	cs->npath--;
	*cs_state(c, cs, d) = 2; /* the table may have grown */
}

void check_const_cycles(rctx *c, modinfo *mi)
{
	cstate cs = {0};
	for (int i = 0; i < mi->m->ndecls; i++) {
		ast_decl *d = mi->m->decls[i];
		if (d && (d->kind == D_CONST || d->kind == D_PARAM))
			cycle_visit(c, &cs, d);
	}
}

/* ---- decorators -------------------------------------------------------- */

enum { ON_TASK = 1, ON_ACTOR = 2 };

static const struct deco {
	const char *name;
	int on;
} decos[] = {
	{ "cpus", ON_TASK | ON_ACTOR }, { "memory", ON_TASK }, { "resources", ON_TASK | ON_ACTOR },
	{ "retries", ON_TASK },         { "timeout", ON_TASK }, { "associative", ON_TASK },
	{ "cache", ON_TASK },           { "idempotent", ON_TASK },
	{ "restarts", ON_ACTOR },       { NULL, 0 },
};

/* A number literal, possibly negated. */
static bool lit_number(const ast_expr *e, double *v, bool *is_int)
{
	bool neg = false;
	if (e && e->kind == E_UNARY && e->u.unary.op == UN_NEG) {
		neg = true;
		e = e->u.unary.operand;
	}
	if (e == NULL)
		return false;
	if (e->kind == E_INT) {
		*v = (double)e->u.i;
		*is_int = true;
	} else if (e->kind == E_FLOAT) {
		*v = e->u.f;
		*is_int = false;
	} else {
		return false;
	}
	if (neg)
		*v = -*v;
	return true;
}

/* "512MiB", "2GiB", "1GB", "100KB", "1024": a positive size. */
static bool parse_memory(const char *s, size_t len)
{
	static const char *const units[] = { "", "b", "k", "kb", "kib", "m", "mb", "mib",
	                                     "g", "gb", "gib", "t", "tb", "tib", NULL };
	size_t i = 0;
	while (i < len && s[i] == ' ')
		i++;
	size_t start = i;
	bool digits = false, nonzero = false;
	while (i < len && (isdigit((unsigned char)s[i]) || s[i] == '.')) {
		if (isdigit((unsigned char)s[i])) {
			digits = true;
			nonzero |= s[i] != '0';
		}
		i++;
	}
	if (!digits || i == start || memchr(s + start, '.', i - start) !=
	                             memrchr(s + start, '.', i - start))
		return false;
	while (i < len && s[i] == ' ')
		i++;
	char unit[8];
	size_t ul = 0;
	while (i < len && s[i] != ' ' && ul < sizeof unit - 1)
		unit[ul++] = (char)tolower((unsigned char)s[i++]);
	unit[ul] = '\0';
	while (i < len && s[i] == ' ')
		i++;
	if (i != len)
		return false;
	for (int k = 0; units[k]; k++)
		if (strcmp(units[k], unit) == 0)
			return nonzero;
	return false;
}

/* The argument as it reads, for messages. */
static void arg_text(const ast_expr *e, char *buf, size_t n)
{
	double v;
	bool is_int;
	if (lit_number(e, &v, &is_int)) {
		if (is_int)
			snprintf(buf, n, "%lld", (long long)v);
		else
			snprintf(buf, n, "%g", v);
	} else if (e && e->kind == E_STR) {
		snprintf(buf, n, "\"%.*s\"", (int)(e->u.str.len > 60 ? 60 : e->u.str.len), e->u.str.s);
	} else {
		const char *lt = check_literal_type(e);
		snprintf(buf, n, "%s %s", lt ? article(lt) : "an", lt ? lt : "expression");
	}
}

/* One numeric argument: needs_int, and the least allowed value (strict:
 * greater than, else at least). Non-literal arguments are left to the
 * compiler (they must still be computable). */
static void check_number(rctx *c, const ast_decorator *dc, const ast_expr *e, bool needs_int,
                         double least, bool strict)
{
	double v;
	bool is_int;
	const char *lt = check_literal_type(e);
	char got[96];
	arg_text(e, got, sizeof got);
	const char *kind = needs_int ? "an integer" : "a number";
	char bound[32];
	snprintf(bound, sizeof bound, "%s %g", strict ? ">" : ">=", least);
	if (lit_number(e, &v, &is_int)) {
		if ((needs_int && !is_int) || (strict ? !(v > least) : !(v >= least)) || isnan(v))
			diag_error(c->d, e->where, "'@%s' expects %s %s, got %s", dc->name, kind, bound,
			           got);
	} else if (lt) {
		diag_error(c->d, e->where, "'@%s' expects %s %s, got %s", dc->name, kind, bound, got);
	}
}

/* What Flow writes for an option of Ray's @ray.remote(...) that a port
 * brings along as a decorator, or NULL. */
static const char *ray_option_hint(const char *name)
{
	static const char *const hints[][2] = {
		{"num_returns", "a task returns one value: return a list and unpack it "
		                "(let a, b = get(f(x)))"},
		{"num_cpus", "Flow writes it @cpus(n)"},
		{"num_gpus", "ask for a node's custom resource: @resources(gpu=1)"},
		{"max_retries", "Flow writes it @retries(n)"},
		{"max_restarts", "Flow writes it @restarts(n)"},
		{"max_calls", "Flow has no @max_calls: a task's memory is freed when it returns"},
		{"max_concurrency", "calls on one actor run one at a time; use several actors for more"},
		{"remote", "'task' and 'actor' already make a function remote"},
	};
	return diag_hint(hints, sizeof hints / sizeof hints[0], name);
}
static void check_decorator_args(rctx *c, ast_decl *d, const ast_decorator *dc)
{
	int npos = 0, nkw = 0;
	for (int i = 0; i < dc->nargs; i++)
		*(dc->args[i].name ? &nkw : &npos) += 1;
	const char *n = dc->name;
	if (strcmp(n, "associative") == 0) {
		if (dc->nargs)
			diag_error(c->d, dc->where, "'@associative' takes no arguments");
		if (d->kind == D_TASK && d->u.fn.nparams != 2)
			diag_error(c->d, dc->where,
			           "'@associative' needs a task of exactly two parameters; '%s' has %d",
			           d->name, d->u.fn.nparams);
		return;
	}
	if (strcmp(n, "cache") == 0 || strcmp(n, "idempotent") == 0) {
		if (dc->nargs)
			diag_error(c->d, dc->where, "'@%s' takes no arguments", n);
		return;
	}
	if (strcmp(n, "resources") == 0) {
		for (int i = 0; i < dc->nargs; i++) {
			const ast_arg *a = &dc->args[i];
			if (a->name == NULL) {
				diag_error(c->d, a->value ? a->value->where : dc->where,
				           "'@resources' takes named amounts, as in @resources(gpu=1)");
				continue;
			}
			for (int j = 0; j < i; j++)
				if (dc->args[j].name && strcmp(dc->args[j].name, a->name) == 0)
					diag_error(c->d, pick(a->name_where, dc->where),
					           "duplicate resource '%s'", a->name);
			if (a->value)
				check_number(c, dc, a->value, false, 0, false);
		}
		return;
	}
	if (npos != 1 || nkw != 0) {
		diag_error(c->d, dc->where, "'@%s' takes exactly one argument", n);
		return;
	}
	const ast_expr *v = dc->args[0].value;
	if (v == NULL)
		return;
	if (strcmp(n, "cpus") == 0) {
		check_number(c, dc, v, false, 0, false);
	} else if (strcmp(n, "retries") == 0 || strcmp(n, "restarts") == 0) {
		check_number(c, dc, v, true, 0, false);
	} else if (strcmp(n, "timeout") == 0) {
		check_number(c, dc, v, false, 0, true);
	} else if (strcmp(n, "memory") == 0) {
		double num;
		bool is_int;
		if (v->kind == E_STR) {
			if (!parse_memory(v->u.str.s, v->u.str.len))
				diag_error(c->d, v->where,
				           "'@memory' expects a size such as \"512MiB\", \"2GiB\" or \"1GB\", got \"%.*s\"",
				           (int)(v->u.str.len > 60 ? 60 : v->u.str.len), v->u.str.s);
		} else if (lit_number(v, &num, &is_int)) {
			if (!is_int || num <= 0)
				diag_error(c->d, v->where,
				           "'@memory' expects a size such as \"512MiB\" or a number of bytes > 0");
		} else if (check_literal_type(v)) {
			diag_error(c->d, v->where, "'@memory' expects a size such as \"512MiB\", got %s %s",
			           article(check_literal_type(v)), check_literal_type(v));
		}
	}
}

void check_decorators(rctx *c, ast_decl *d)
{
	int on = d->kind == D_TASK ? ON_TASK : ON_ACTOR;
	for (int i = 0; i < d->ndecorators; i++) {
		ast_decorator *dc = &d->decorators[i];
		if (dc->name == NULL)
			continue;
		/* arguments are module-scope expressions that must be constant */
		char what[96];
		snprintf(what, sizeof what, "the argument of '@%s'", dc->name);
		for (int k = 0; k < dc->nargs; k++) {
			c->b = NULL;
			c->const_what = what;
			resolve_expr(c, dc->args[k].value);
			check_const_expr(c, dc->args[k].value, what);
			c->const_what = NULL;
		}
		const struct deco *t = NULL;
		for (int k = 0; decos[k].name; k++)
			if (strcmp(decos[k].name, dc->name) == 0)
				t = &decos[k];
		if (t == NULL) {
			const char *cands[16];
			size_t n = 0;
			for (int k = 0; decos[k].name; k++)
				cands[n++] = decos[k].name;
			const char *s = diag_suggest(dc->name, cands, n);
			const char *ray = ray_option_hint(dc->name);
			if (ray)
				diag_error(c->d, dc->where, "unknown decorator '@%s'; %s", dc->name, ray);
			else if (s)
				diag_error(c->d, dc->where, "unknown decorator '@%s'; did you mean '@%s'?",
				           dc->name, s);
			else
				diag_error(c->d, dc->where, "unknown decorator '@%s'", dc->name);
			continue;
		}
		if (!(t->on & on)) {
			diag_error(c->d, dc->where, "'@%s' applies to %s, not to %s", dc->name,
			           t->on == ON_TASK ? "tasks" : "actors",
			           on == ON_TASK ? "tasks" : "actors");
			continue;
		}
		bool dup = false;
		for (int k = 0; k < i; k++)
			if (d->decorators[k].name && strcmp(d->decorators[k].name, dc->name) == 0)
				dup = true;
		if (dup) {
			diag_error(c->d, dc->where, "duplicate decorator '@%s'", dc->name);
			continue;
		}
		check_decorator_args(c, d, dc);
	}
}

/* ---- -p name=value --------------------------------------------------- */

static bool parse_int_text(const char *s, int64_t *out)
{
	char buf[96];
	size_t n = 0;
	const char *p = s;
	if (*p == '+' || *p == '-')
		buf[n++] = *p++;
	if (*p == '\0')
		return false;
	int base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	bool digit = false, prev_us = true;
	for (; *p; p++) {
		if (*p == '_' && !prev_us) {
			prev_us = true;
			continue;
		}
		if (!(base == 16 ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p)))
			return false;
		if (n >= sizeof buf - 1)
			return false;
		buf[n++] = *p;
		digit = true;
		prev_us = false;
	}
	if (!digit || prev_us)
		return false;
	buf[n] = '\0';
	errno = 0;
	char *end;
	long long v = strtoll(buf, &end, base);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_float_text(const char *s, double *out)
{
	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno == ERANGE)
		return false;
	*out = v;
	return true;
}

static const char *infer_type(const char *text)
{
	int64_t i;
	double f;
	if (parse_int_text(text, &i))
		return "int";
	if (parse_float_text(text, &f))
		return "float";
	if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
		return "bool";
	return "str";
}

/* Replaces the param's default by the literal `text` read as its type. */
static void set_param(rctx *c, ast_decl *d, const char *text)
{
	const char *ty = d->u.param.type.name;
	if (ty == NULL || strcmp(ty, "any") == 0) {
		const char *lt = ty ? NULL : check_literal_type(d->u.param.deflt);
		/* a list or dict default takes a literal of its kind; else the
		 * text's own look ("[...]" a list, "{...}" a dict) */
		ty = lt && strcmp(lt, "none") != 0 ? lt : text[strspn(text, " ")] == '[' ? "list" :
		     text[strspn(text, " ")] == '{' ? "dict" : infer_type(text);
	}
	ast_expr *e = arena_alloc(c->a, sizeof *e);
	e->where = d->u.param.deflt ? d->u.param.deflt->where : d->name_where;
	bool ok = true;
	if (strcmp(ty, "int") == 0) {
		e->kind = E_INT;
		ok = parse_int_text(text, &e->u.i);
	} else if (strcmp(ty, "float") == 0) {
		e->kind = E_FLOAT;
		ok = parse_float_text(text, &e->u.f);
	} else if (strcmp(ty, "bool") == 0) {
		e->kind = E_BOOL;
		ok = strcmp(text, "true") == 0 || strcmp(text, "false") == 0;
		e->u.b = strcmp(text, "true") == 0;
	} else if (strcmp(ty, "str") == 0) {
		e->kind = E_STR;
		e->u.str.s = arena_strdup(c->a, text);
		e->u.str.len = strlen(text);
		ok = str_utf8_valid(text, strlen(text));
	} else if (strcmp(ty, "none") == 0) {
		e->kind = E_NONE;
		ok = strcmp(text, "none") == 0;
	} else if (strcmp(ty, "list") == 0 || strcmp(ty, "dict") == 0) {
		/* a Flow literal: -p 'files=["a.txt", "b.txt"]' (param_literal.c) */
		if ((e = param_literal_parse(c->a, c->d, d->name, text, ty)))
			d->u.param.deflt = e;
		return;
	} else {
		diag_error(c->d, (span){ .file = -1 },
		           "param '%s' is declared %s, which cannot be set with -p", d->name, ty);
		return;
	}
	if (!ok) {
		diag_error(c->d, (span){ .file = -1 }, "param '%s' expects %s, got '%s'", d->name, ty,
		           text);
		return;
	}
	d->u.param.deflt = e;
}

int check_apply_param_sets(rctx *c, modinfo *mi, const param_set *ps, int n)
{
	int before = c->d->nerrors;
	for (int i = 0; i < n; i++) {
		const char *name = ps[i].name ? ps[i].name : "";
		const char *text = ps[i].text ? ps[i].text : "";
		ast_decl *d = NULL;
		const char **cands = arena_alloc(c->a, (size_t)(mi->m->ndecls + 1) * sizeof *cands);
		size_t nc = 0;
		for (int k = 0; k < mi->m->ndecls; k++) {
			ast_decl *x = mi->m->decls[k];
			if (x && x->kind == D_PARAM && x->name) {
				cands[nc++] = x->name;
				if (strcmp(x->name, name) == 0)
					d = x;
			}
		}
		if (d == NULL) {
			const char *s = diag_suggest(name, cands, nc);
			if (s)
				diag_error(c->d, (span){ .file = -1 },
				           "unknown param '%s'; did you mean '%s'?", name, s);
			else
				diag_error(c->d, (span){ .file = -1 }, "unknown param '%s'", name);
			continue;
		}
		set_param(c, d, text);
	}
	return c->d->nerrors == before ? 0 : -1;
}
