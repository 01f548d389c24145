/* resolve_int.h - internals shared by the loader (load.c), the name
 * resolver (resolve.c) and the declaration checks (check_decl.c).
 *
 * Ownership: every table here lives in the loader's arena.
 */
#ifndef FLOW_RESOLVE_INT_H
#define FLOW_RESOLVE_INT_H

#include "resolve.h"

/* A string -> index hash map (open addressing), for look-ups that would
 * otherwise be linear in big generated programs. */
typedef struct strmap {
	const char **keys;
	int *vals;
	size_t cap, n;
} strmap;

/* One module-level name: an import, param, const, fn, task or actor. */
typedef struct msym {
	const char *name;
	ast_decl *decl;
} msym;

/* One local of a body (task, fn, method or driver). */
typedef struct local {
	const char *name;
	int slot;
	int nbind;          /* how many statements bind it (let, =, for, op=) */
	ast_expr *init;     /* the value of its first let / = binding */
	int bline, bcol;    /* where it is first bound (end of that statement) */
	bool is_param;
} local;

typedef struct body {
	local *v;
	int n, cap;
	int nslots;
	strmap index;        /* name -> position in v */
	ast_decl *fn;        /* the task/fn/method; NULL for the driver */
	bool is_driver;
} body;

typedef struct modinfo {
	ast_module *m;
	msym *syms;
	int nsyms, capsyms;
	strmap index;        /* name -> position in syms */
	body drv;            /* the driver's locals (known before bodies resolve) */
	int state;           /* loader: 0 new, 1 loading, 2 loaded */
	const char *key;     /* loader: canonical path, to load each file once */
	bool parse_failed;
} modinfo;

/* The resolver's walking state. */
typedef struct rctx {
	flow_loader *l;
	diag_ctx *d;
	arena *a;
	modinfo *mods;       /* parallel to l->modules */
	int nmods;
	modinfo *mi;         /* the module being resolved */
	body *b;             /* the body being resolved; NULL in const context */
	ast_decl *actor;     /* enclosing actor of a method */
	int loop_depth;
	int depth;           /* expression nesting, bounded (deep trees crash) */
	bool deep_reported;  /* once per outermost expression */
	span outer_loop;     /* the outermost enclosing loop statement */
	/* comprehension targets in scope, innermost last */
	struct { const char *name; int slot; } *comp;
	int ncomp, capcomp;
	/* const context: what is being computed ("const 'K'"), or NULL */
	const char *const_what;
} rctx;

static inline bool has_place(span s) { return s.line > 0; }
static inline span pick(span a, span b) { return has_place(a) ? a : b; }

/* A growable list of names for "did you mean" (NULL-terminated). */
typedef struct names {
	const char **v;
	size_t n, cap;
} names;

/* resolve.c */
void resolve_names_add(rctx *c, names *ns, const char *s);
/* Reports msg, adding "; did you mean 'PREFIXx'?" when a name is close. */
void resolve_error_suggest(rctx *c, span where, const char *msg, const char *name, names *ns,
                   const char *prefix);
modinfo *resolve_mod_info(rctx *c, const ast_module *m);
msym *resolve_mod_find(modinfo *mi, const char *name);
void resolve_mod_add(rctx *c, modinfo *mi, const char *name, ast_decl *d, span where);
const char *resolve_decl_kind_name(const ast_decl *d);
const char *resolve_import_binding(arena *a, const ast_decl *d);
void resolve_expr(rctx *c, ast_expr *e);
void resolve_module(rctx *c, modinfo *mi);
void resolve_build_module_table(rctx *c, modinfo *mi);

/* check_call.c */
void check_call(rctx *c, ast_expr *call);

/* check_decl.c */
bool check_type_name_known(rctx *c, const char *name);
void check_type(rctx *c, const ast_type *t);
const char *check_literal_type(const ast_expr *e);
bool check_type_accepts(const char *declared, const char *actual);
void check_decorators(rctx *c, ast_decl *d);
void check_const_expr(rctx *c, ast_expr *e, const char *what);
void check_const_cycles(rctx *c, modinfo *mi);
void check_params_ast(rctx *c, ast_decl *fn);
int check_apply_param_sets(rctx *c, modinfo *mi, const param_set *ps, int n);

#endif
