/* param_literal.c - a Flow literal given as a param's value on the
 * command line (param_literal.h). The text is parsed by the real parser
 * as the default of a param declaration, so its syntax is the
 * language's own; then the tree is checked to be literals only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "param_literal.h"
#include "parse.h"

/* Numbers, strings, booleans, none, and lists and dicts of them. */
static bool only_literals(const ast_expr *e)
{
	if (!e)
		return false;
	switch (e->kind) {
	case E_NONE:
	case E_BOOL:
	case E_INT:
	case E_FLOAT:
	case E_STR:
		return true;
	case E_UNARY:
		return e->u.unary.op == UN_NEG && e->u.unary.operand &&
		       (e->u.unary.operand->kind == E_INT || e->u.unary.operand->kind == E_FLOAT);
	case E_LIST:
		for (int i = 0; i < e->u.list.nitems; i++)
			if (!only_literals(e->u.list.items[i]))
				return false;
		return true;
	case E_DICT:
		for (int i = 0; i < e->u.dict.nitems; i++)
			if (!only_literals(e->u.dict.keys[i]) || !only_literals(e->u.dict.values[i]))
				return false;
		return true;
	default:
		return false;
	}
}

ast_expr *param_literal_parse(arena *a, diag_ctx *d, const char *name, const char *text,
                              const char *want)
{
	char *src = NULL, *path = NULL;
	if (asprintf(&src, "param %s = %s\n", name, text) < 0 || asprintf(&path, "-p %s", name) < 0)
		abort();
	int before = d->nerrors;
	ast_module *m = parse_source(a, d, path, src, strlen(src));
	free(src);
	free(path);
	if (d->nerrors != before)
		return NULL; /* the syntax error, shown in its line */
	ast_expr *e = m && m->ndecls == 1 && m->decls[0] && m->decls[0]->kind == D_PARAM
	                  ? m->decls[0]->u.param.deflt
	                  : NULL;
	span none = {.file = -1};
	if (!e || !only_literals(e)) {
		diag_error(d, none, "param '%s' expects a literal (numbers, strings, true, false, "
		           "none, lists and dicts of them), got '%s'", name, text);
		return NULL;
	}
	const char *got = e->kind == E_LIST ? "list" : e->kind == E_DICT ? "dict" : NULL;
	if (want && (!got || strcmp(got, want) != 0)) {
		diag_error(d, none, "param '%s' expects %s, got '%s'", name, want, text);
		return NULL;
	}
	return e;
}
