/* ast.h - the abstract syntax tree of a .flow file.
 *
 * The parser (parser.y) builds it and nothing else; the resolver
 * (resolve.c) checks it and fills the annotation fields marked
 * "resolver:"; the bytecode compiler (compile.c) reads it.
 *
 * Ownership: every node, array and string hangs off the arena of the
 * ast_module (or of the loader that owns several modules) and is freed
 * with it. Arrays are (pointer, count) pairs allocated from that arena.
 */
#ifndef FLOW_AST_H
#define FLOW_AST_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"

typedef struct ast_expr ast_expr;
typedef struct ast_stmt ast_stmt;
typedef struct ast_decl ast_decl;
typedef struct ast_module ast_module;

/* ---- operators ---------------------------------------------------- */

#define AST_BINOP_LIST(X) \
	X(ADD, "+") X(SUB, "-") X(MUL, "*") X(DIV, "/") X(FLOORDIV, "//") \
	X(MOD, "%") X(POW, "**") X(MATMUL, "@") \
	X(EQ, "==") X(NE, "!=") X(LT, "<") X(LE, "<=") X(GT, ">") X(GE, ">=") \
	X(IN, "in") X(NOTIN, "not in") \
	X(AND, "and") X(OR, "or")

typedef enum {
#define X(name, text) BIN_##name,
	AST_BINOP_LIST(X)
#undef X
	BIN__COUNT
} ast_binop;

extern const char *const ast_binop_text[BIN__COUNT];

typedef enum { UN_NEG, UN_NOT } ast_unop;

/* Assignment operators: '=' is ASSIGN_SET. */
typedef enum { ASSIGN_SET, ASSIGN_ADD, ASSIGN_SUB, ASSIGN_MUL, ASSIGN_DIV } ast_assignop;

/* ---- type annotations -------------------------------------------- */

/* An annotation is a single name: any none bool int float str list dict
 * tensor fn task, or an actor's name. name == NULL means "no annotation". */
typedef struct ast_type {
	const char *name;
	span where;
} ast_type;

/* ---- expressions --------------------------------------------------- */

typedef enum {
	E_NONE, E_BOOL, E_INT, E_FLOAT, E_STR, /* literals */
	E_FSTRING,  /* f"..." : parts */
	E_NAME,     /* identifier; 'self' is an E_NAME too */
	E_LIST,     /* [a, b] : items */
	E_DICT,     /* {k: v} : keys/values */
	E_COMP,     /* [elt for x in xs if c ...] : list comprehension;
	               {key: elt for ...} : dict comprehension (key set) */
	E_UNARY,    /* -x, not x */
	E_BINARY,   /* a op b (and/or are short-circuit BIN_AND/BIN_OR) */
	E_COMPARE,  /* a < b <= c : chained comparison, n operands, n-1 ops
	               (the parser makes a single a < b an E_BINARY) */
	E_TERNARY,  /* a if cond else b (an extension: see docs/language.md) */
	E_CALL,     /* f(args) */
	E_INDEX,    /* a[i] */
	E_SLICE,    /* a[lo:hi:step]; each part may be NULL */
	E_FIELD,    /* a.name */
} ast_expr_kind;

/* One argument of a call: name != NULL for keyword arguments. */
typedef struct ast_arg {
	const char *name;
	span name_where;
	ast_expr *value;
} ast_arg;

/* One piece of an f-string: literal text, or an expression with an
 * optional format spec (the text after ':', without braces; NULL if none). */
typedef struct ast_fpart {
	const char *text; /* literal (escapes already decoded); NULL if expr */
	size_t text_len;
	ast_expr *expr;
	const char *spec; /* e.g. ".3f"; NULL if none */
	/* a spec with nested fields, f"{x:>{width}}": the spec as an f-string
	 * (then spec is its raw text); NULL otherwise */
	struct ast_expr *spec_expr;
} ast_fpart;

/* One 'for' or 'if' clause of a comprehension, in source order.
 * for: names[0..nnames) (1 or more targets), iter.  if: cond. */
typedef struct ast_compclause {
	bool is_if;
	const char **names; /* nnames of each, in the parse arena */
	span *name_where;
	int nnames;
	int *local; /* resolver: local slot of each target */
	ast_expr *iter;
	ast_expr *cond;
} ast_compclause;

/* What a name refers to; filled by the resolver. */
typedef enum {
	REF_UNRESOLVED = 0,
	REF_LOCAL,    /* a local of the enclosing body (or driver): slot */
	REF_GLOBAL,   /* a module-level param or const: decl */
	REF_DECL,     /* a task, fn or actor declared in this or an imported
	                 module: decl */
	REF_MODULE,   /* an import: module (file) or stdmod (standard) */
	REF_BUILTIN,  /* a builtin function (print, len, ...): builtin name */
	REF_SELF,     /* 'self' inside an actor method */
} ast_ref_kind;

typedef struct ast_ref {
	ast_ref_kind kind;
	int slot;              /* REF_LOCAL */
	ast_decl *decl;        /* REF_GLOBAL, REF_DECL */
	ast_module *module;    /* REF_MODULE of a .flow file; also REF_DECL/GLOBAL owner */
	const char *stdmod;    /* REF_MODULE of a standard module ("math") */
} ast_ref;

struct ast_expr {
	ast_expr_kind kind;
	span where;
	union {
		bool b;
		int64_t i;
		double f;
		struct { const char *s; size_t len; } str; /* decoded bytes, may hold NUL */
		struct { ast_fpart *parts; int nparts; } fstr;
		struct { const char *name; ast_ref ref; } name;
		struct { ast_expr **items; int nitems; } list;
		struct { ast_expr **keys, **values; int nitems; } dict;
		/* key != NULL: a dict comprehension {key: elt for ...} */
		struct { ast_expr *elt; ast_expr *key; ast_compclause *clauses; int nclauses; } comp;
		struct { ast_unop op; ast_expr *operand; } unary;
		struct { ast_binop op; ast_expr *left, *right; } binary;
		struct { ast_expr **operands; ast_binop *ops; int noperands; } compare;
		struct { ast_expr *cond, *then, *otherwise; } ternary;
		struct { ast_expr *callee; ast_arg *args; int nargs; } call;
		struct { ast_expr *obj, *index; } index;
		struct { ast_expr *obj, *lo, *hi, *step; } slice;
		/* a.name; ref is filled by the resolver when 'a' names a module
		 * (then this whole expression names a member: REF_DECL, REF_GLOBAL
		 * or, for standard modules, REF_BUILTIN with stdmod set). */
		struct { ast_expr *obj; const char *name; span name_where; ast_ref ref; } field;
	} u;
};

/* ---- statements ---------------------------------------------------- */

typedef enum {
	S_EXPR,     /* expression statement */
	S_LET,      /* let a = e  /  let a, b, ... = e */
	S_ASSIGN,   /* target op= value; target is E_NAME, E_INDEX or E_FIELD;
	               or unpacking a, b, ... = e (ntargets > 1, op == ASSIGN_SET) */
	S_IF,       /* if cond { then } else { otherwise }; else-if nests an S_IF */
	S_WHILE,
	S_FOR,      /* for x in e { } / for i, x in e { } */
	S_BREAK, S_CONTINUE,
	S_RETURN,   /* value may be NULL */
	S_BLOCK,    /* { ... } */
	S_TRY,      /* try { body } except [name] { handler } */
	S_YIELD,    /* yield value (task bodies: the task returns a stream) */
} ast_stmt_kind;

typedef struct ast_block {
	ast_stmt **stmts;
	int nstmts;
	span where;
} ast_block;

struct ast_stmt {
	ast_stmt_kind kind;
	span where;
	union {
		ast_expr *expr; /* S_EXPR */
		struct {
			const char **names; span *name_where; int nnames; /* arena arrays */
			int *local;         /* resolver: local slots */
			ast_type type;      /* optional annotation: let x: int = 1 */
			ast_expr *value;
		} let;
		struct {
			ast_assignop op;
			ast_expr **targets; int ntargets; /* > 1 only for a, b, c = e */
			ast_expr *value;
		} assign;
		struct { ast_expr *cond; ast_block then; ast_stmt *otherwise; /* S_BLOCK or S_IF or NULL */ } if_;
		struct { ast_expr *cond; ast_block body; } while_;
		struct {
			const char **names; span *name_where; int nnames; /* arena arrays */
			int *local;         /* resolver: local slots */
			ast_expr *iter; ast_block body;
		} for_;
		ast_expr *ret;  /* S_RETURN; S_YIELD: the value */
		ast_block block;
		struct {
			ast_block body, handler;
			const char *name; span name_where; /* NULL: `except { }` */
			int local;          /* resolver: the name's slot */
		} try_;
	} u;
};

/* ---- declarations -------------------------------------------------- */

typedef enum {
	D_IMPORT, /* import time / import tensor as t / import "x.flow" [as y] */
	D_PARAM,  /* param n: int = 1000 */
	D_CONST,  /* const K = n / 10 */
	D_FN,     /* fn name(...) { } : also actor methods */
	D_TASK,   /* task name(...) { } */
	D_ACTOR,  /* actor Name { fn ... } */
	D_STMT,   /* a top-level statement of the driver (kept in order) */
} ast_decl_kind;

typedef struct ast_param {
	const char *name;
	span where;
	ast_type type;
	ast_expr *deflt; /* NULL if required */
} ast_param;

/* @name(args): decorators keep their raw arguments; the resolver checks
 * them against the table in LANGUAGE.md section 4. */
typedef struct ast_decorator {
	const char *name;
	span where;
	ast_arg *args;
	int nargs;
} ast_decorator;

struct ast_decl {
	ast_decl_kind kind;
	span where;      /* the whole declaration */
	const char *name;  /* NULL for D_STMT and unaliased file imports */
	span name_where;
	ast_decorator *decorators;
	int ndecorators;
	ast_module *module; /* the module this declaration belongs to */
	union {
		struct {
			bool is_file;      /* import "path.flow" */
			const char *what;  /* module name ("time") or path as written */
			const char *alias; /* 'as' name, or NULL */
			ast_module *target;/* resolver: the loaded file module */
		} import;
		struct { ast_type type; ast_expr *deflt; } param;
		struct { ast_expr *value; } const_;
		struct {
			ast_param *params; int nparams;
			ast_type ret;
			ast_block body;
			ast_decl *actor;   /* enclosing actor for methods, else NULL */
			int nlocals;       /* resolver: locals incl. params (params first) */
		} fn; /* D_FN and D_TASK */
		struct { ast_decl **methods; int nmethods; } actor;
		ast_stmt *stmt; /* D_STMT */
	} u;
};

/* The driver is the sequence of D_STMT in decls, in order; its locals are
 * numbered by the resolver into driver_nlocals. */
struct ast_module {
	const char *path;     /* as given on the command line or resolved import */
	const char *name;     /* name it is imported under by default (basename) */
	int file;             /* diag file id */
	ast_decl **decls;
	int ndecls;
	int driver_nlocals;   /* resolver */
	arena *arena;         /* owner of this tree (shared by a loader's modules) */
};

/* Writes n bytes as a double-quoted, escaped string (for dumps). */
void ast_write_quoted(FILE *out, const char *s, size_t n);
/* Writes a double as the value model prints it (val_float_repr). */
void ast_write_float(FILE *out, double d);

/* Dumps the tree as an S-expression-like text, one node per line (tests). */
void ast_dump(const ast_module *m, FILE *out);

#endif
