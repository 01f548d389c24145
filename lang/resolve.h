/* resolve.h - loading a program (the main file and its imports) and the
 * checks over its AST: names, arity and keywords, duplicates, self and
 * return placement, annotated types where known, decorators, params.
 *
 * Ownership: a flow_loader owns one arena holding every module's tree;
 * loader_fini frees it all. Diagnostics go to the caller's diag_ctx.
 */
#ifndef FLOW_RESOLVE_H
#define FLOW_RESOLVE_H

#include "ast.h"

/* One -p name=value from the command line. */
typedef struct param_set {
	const char *name;
	const char *text; /* parsed as a literal of the param's type */
} param_set;

typedef struct flow_loader {
	arena arena;
	diag_ctx *diag;
	ast_module **modules; /* every loaded file; main first */
	int nmodules;
	ast_module *main;
} flow_loader;

void loader_init(flow_loader *l, diag_ctx *d);
void loader_fini(flow_loader *l);

/* Parses `path` and, recursively, the files it imports; resolves and
 * checks everything. -p values replace the params' defaults (their
 * decl->u.param.deflt becomes a literal). Returns 0 when there are no
 * errors, -1 otherwise (all of them recorded on l->diag). */
int loader_load(flow_loader *l, const char *path, const param_set *params, int nparams);

/* The same from a source text in memory (tests): imports are resolved
 * relative to the directory of `path`. */
int loader_load_source(flow_loader *l, const char *path, const char *src, size_t len,
                       const param_set *params, int nparams);

#endif
