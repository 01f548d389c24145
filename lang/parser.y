/* parser.y - the Flow grammar: builds the AST with locations and nothing else. */

%code requires {
#include "ast.h"
typedef struct parse_state parse_state;
/* A growable array of pointers in the parse arena. */
typedef struct ptrvec { void **v; int n, cap; } ptrvec;
typedef struct tokstr { const char *s; size_t len; } tokstr;
/* Names being unpacked into (a, b, c): arrays in the parse arena. */
typedef struct namelist { const char **n; span *at; int count, cap; } namelist;
}

%define api.prefix {flowyy}
%define api.pure full
%define api.location.type {span}
%locations
%define parse.error custom
%define parse.lac full
%expect 0
%param {parse_state *ps}

%union {
	ast_expr *expr;
	ast_stmt *stmt;
	ast_decl *decl;
	ast_block block;
	ast_type type;
	ast_param *param;
	ast_arg *arg;
	ast_decorator *deco;
	ast_compclause *clause;
	ptrvec vec;
	tokstr str;
	int64_t ival;
	double fval;
	int op;
	namelist names;
}

%code {
#include <string.h>

#include "lex_state.h"

#define yylex flowyylex
static void flowyyerror(span *loc, parse_state *ps, const char *msg);

#define YYLLOC_DEFAULT(Cur, Rhs, N) do { \
	if (N) { \
		(Cur).file = YYRHSLOC(Rhs, 1).file; \
		(Cur).line = YYRHSLOC(Rhs, 1).line; \
		(Cur).col = YYRHSLOC(Rhs, 1).col; \
		(Cur).end_line = YYRHSLOC(Rhs, N).end_line; \
		(Cur).end_col = YYRHSLOC(Rhs, N).end_col; \
	} else { \
		(Cur).file = YYRHSLOC(Rhs, 0).file; \
		(Cur).line = (Cur).end_line = YYRHSLOC(Rhs, 0).end_line; \
		(Cur).col = (Cur).end_col = YYRHSLOC(Rhs, 0).end_col; \
	} } while (0)

static ast_expr *mk_expr(parse_state *ps, ast_expr_kind k, span at)
{
	ast_expr *e = arena_alloc(ps->arena, sizeof *e);
	e->kind = k;
	e->where = at;
	return e;
}

static ast_stmt *mk_stmt(parse_state *ps, ast_stmt_kind k, span at)
{
	ast_stmt *s = arena_alloc(ps->arena, sizeof *s);
	s->kind = k;
	s->where = at;
	return s;
}

static ast_decl *mk_decl(parse_state *ps, ast_decl_kind k, span at)
{
	ast_decl *d = arena_alloc(ps->arena, sizeof *d);
	d->kind = k;
	d->where = at;
	d->module = ps->module;
	return d;
}

static ast_expr *mk_binary(parse_state *ps, int op, ast_expr *l, ast_expr *r, span at)
{
	ast_expr *e = mk_expr(ps, E_BINARY, at);
	e->u.binary.op = (ast_binop)op;
	e->u.binary.left = l;
	e->u.binary.right = r;
	return e;
}

static void names_push(parse_state *ps, namelist *l, tokstr name, span at)
{
	if (l->count == l->cap) {
		int cap = l->cap ? l->cap * 2 : 4;
		const char **n = arena_alloc(ps->arena, sizeof *n * (size_t)cap);
		span *w = arena_alloc(ps->arena, sizeof *w * (size_t)cap);
		if (l->count) {
			memcpy(n, l->n, sizeof *n * (size_t)l->count);
			memcpy(w, l->at, sizeof *w * (size_t)l->count);
		}
		l->n = n;
		l->at = w;
		l->cap = cap;
	}
	l->n[l->count] = name.s;
	l->at[l->count++] = at;
}

/* Local slots for the resolver to fill, one per name. */
static int *local_slots(parse_state *ps, int n)
{
	int *v = arena_alloc(ps->arena, sizeof *v * (size_t)n);
	for (int i = 0; i < n; i++)
		v[i] = -1;
	return v;
}

/* `a, b = x, y`: the right side is one list, built before any name is
 * assigned, so `a, b = b, a` swaps. */
static ast_expr *rhs_list(parse_state *ps, ast_expr *first, ptrvec rest, span at)
{
	ast_expr *e = mk_expr(ps, E_LIST, at);
	e->u.list.nitems = rest.n + 1;
	e->u.list.items = arena_alloc(ps->arena, sizeof(ast_expr *) * (size_t)(rest.n + 1));
	e->u.list.items[0] = first;
	for (int i = 0; i < rest.n; i++)
		e->u.list.items[i + 1] = rest.v[i];
	return e;
}

static ptrvec vec1(parse_state *ps, void *item)
{
	ptrvec v = { 0 };
	parse_vec_push(ps, &v, item);
	return v;
}

/* Copies a vector of pointers to structs T into a T array. */
#define VEC_FLATTEN(ps, vec, T, outp, outn) do { \
	(outn) = (vec).n; \
	(outp) = (vec).n ? arena_alloc((ps)->arena, sizeof(T) * (size_t)(vec).n) : NULL; \
	for (int i_ = 0; i_ < (vec).n; i_++) \
		(outp)[i_] = *(T *)(vec).v[i_]; \
} while (0)

static ast_block mk_block(ptrvec v, span at)
{
	ast_block b = { (ast_stmt **)v.v, v.n, at };
	return b;
}

static bool assignable(const ast_expr *e)
{
	return e->kind == E_NAME || e->kind == E_INDEX || e->kind == E_FIELD;
}

static void check_target(parse_state *ps, const ast_expr *e)
{
	if (!assignable(e))
		diag_error(ps->diag, e->where,
		           "cannot assign to this expression; the target must be a name, an index a[i] or a field a.b");
}

static ast_decl *mk_callable(parse_state *ps, ast_decl_kind k, tokstr name, span name_at,
                             ptrvec params, ast_type ret, ast_block body, span at)
{
	for (int i = 1; i < params.n; i++) {
		ast_param *p = params.v[i], *q = params.v[i - 1];
		if (!p->deflt && q->deflt) {
			diag_error(ps->diag, p->where, "parameter '%s' without a default follows one with a default",
			           p->name);
			break;
		}
	}
	ast_decl *d = mk_decl(ps, k, at);
	d->name = name.s;
	d->name_where = name_at;
	VEC_FLATTEN(ps, params, ast_param, d->u.fn.params, d->u.fn.nparams);
	d->u.fn.ret = ret;
	d->u.fn.body = body;
	return d;
}

static const char *decl_word(const ast_decl *d)
{
	switch (d->kind) {
	case D_IMPORT: return "import";
	case D_PARAM: return "param";
	case D_CONST: return "const";
	case D_FN: return "fn";
	case D_TASK: return "task";
	case D_ACTOR: return "actor";
	default: return "statement";
	}
}

/* A declaration where only statements may be: usually a missing '}'
 * above it when it starts in column 1. */
static void misplaced_decl(parse_state *ps, const ast_decl *d, const char *where)
{
	if (d->where.col == 1) {
		ps->brace_hinted = true;
		diag_error(ps->diag, d->where,
		           "'%s' declaration must be at the top level, not inside %s (is a '}' missing above it?)",
		           decl_word(d), where);
	} else {
		diag_error(ps->diag, d->where, "'%s' declaration must be at the top level, not inside %s",
		           decl_word(d), where);
	}
}

static ast_arg *mk_arg(parse_state *ps, const char *name, span name_at, ast_expr *value)
{
	ast_arg *a = arena_alloc(ps->arena, sizeof *a);
	a->name = name;
	a->name_where = name_at;
	a->value = value;
	return a;
}

/* Adds an argument; a positional one after a keyword one is an error. */
static void push_arg(parse_state *ps, ptrvec *v, ast_arg *a)
{
	if (!a->name && v->n > 0 && ((ast_arg *)v->v[v->n - 1])->name)
		diag_error(ps->diag, a->value->where, "positional argument after a keyword argument");
	parse_vec_push(ps, v, a);
}
}

%initial-action {
	@$ = (span){ ps->file, ps->line, ps->col_shift + 1, ps->line, ps->col_shift + 1 };
}

%destructor { (void)$$; /* every semantic value lives in the arena */ } <*>

%token <str> NAME "name"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token <str> STRING "string"
%token <expr> FSTRING "f-string"
%token NEWLINE "newline"
%token START_EXPR "start of an f-string expression"
%token LBRACE_BLOCK "'{'"
%token LBRACE_DICT "'{' (dict)"
%token ACTOR "'actor'" AND "'and'" AS "'as'" BREAK "'break'" CONST "'const'"
%token CONTINUE "'continue'" ELSE "'else'" FALSE "'false'" FN "'fn'" FOR "'for'"
%token IF "'if'" IMPORT "'import'" IN "'in'" LET "'let'" NONE "'none'" NOT "'not'"
%token OR "'or'" PARAM "'param'" RETURN "'return'" TASK "'task'" TRUE "'true'"
%token WHILE "'while'"
%token TRY "'try'" EXCEPT "'except'" YIELD "'yield'"
%token ARROW "'->'" PLUSEQ "'+='" MINUSEQ "'-='" STAREQ "'*='" SLASHEQ "'/='"
%token EQ "'=='" NE "'!='" LE "'<='" GE "'>='" DSLASH "'//'" DSTAR "'**'"

%type <expr> expr ternary or_expr and_expr not_expr comparison comp_chain sum term unary power
%type <expr> postfix primary list dict dict_comp opt_expr opt_default rhs
%type <stmt> body_item stmt simple_stmt if_stmt try_stmt
%type <decl> actor_item decl nonfn_decl callable_decl fn_decl task_decl actor_decl import_decl param_decl const_decl
%type <block> block
%type <vec> body stmt_list actor_body actor_list params param_list args arg_list expr_list
%type <vec> dict_items comp_clauses decorators
%type <type> opt_type type opt_ret
%type <param> param
%type <arg> arg
%type <deco> decorator
%type <clause> comp_for comp_if
%type <op> comp_op mulop augop
%type <names> targets
%type <str> opt_alias

%%

start
	: program
	| START_EXPR expr           { ps->result_expr = $2; }
	| START_EXPR error          { ps->result_expr = NULL; }
	;

program
	: opt_seps
	| opt_seps top_list opt_seps
	;

top_list
	: top_item
	| top_list seps top_item
	;

top_item
	: decl      { parse_vec_push(ps, &ps->decls, $1); }
	| stmt      { ast_decl *d = mk_decl(ps, D_STMT, @1); d->u.stmt = $1; parse_vec_push(ps, &ps->decls, d); }
	| error
	;

seps: sep | seps sep ;
sep: NEWLINE | ';' ;
opt_seps: %empty | seps ;
opt_nl: %empty | NEWLINE ;
opt_comma: %empty | ',' ;

/* ---- declarations ---- */

decl
	: fn_decl
	| nonfn_decl
	;

nonfn_decl
	: import_decl
	| param_decl
	| const_decl
	| task_decl
	| actor_decl
	| decorators opt_nl callable_decl {
		$$ = $3;
		$$->where = @$;
		VEC_FLATTEN(ps, $1, ast_decorator, $$->decorators, $$->ndecorators);
	}
	;

callable_decl: fn_decl | task_decl | actor_decl ;

decorators
	: decorator                       { $$ = vec1(ps, $1); }
	| decorators opt_nl decorator     { $$ = $1; parse_vec_push(ps, &$$, $3); }
	;

decorator
	: '@' NAME {
		$$ = arena_alloc(ps->arena, sizeof *$$);
		$$->name = $2.s;
		$$->where = @$;
	}
	| '@' NAME '(' args ')' {
		$$ = arena_alloc(ps->arena, sizeof *$$);
		$$->name = $2.s;
		$$->where = @$;
		VEC_FLATTEN(ps, $4, ast_arg, $$->args, $$->nargs);
	}
	;

import_decl
	: IMPORT NAME opt_alias {
		$$ = mk_decl(ps, D_IMPORT, @$);
		$$->u.import.what = $2.s;
		$$->u.import.alias = $3.s;
		$$->name = $3.s ? $3.s : $2.s;
		$$->name_where = $3.s ? @3 : @2;
	}
	| IMPORT STRING opt_alias {
		$$ = mk_decl(ps, D_IMPORT, @$);
		$$->u.import.is_file = true;
		$$->u.import.what = $2.s;
		$$->u.import.alias = $3.s;
		$$->name = $3.s;
		$$->name_where = $3.s ? @3 : @2;
	}
	;

opt_alias
	: %empty    { $$ = (tokstr){ NULL, 0 }; }
	| AS NAME   { $$ = $2; @$ = @2; }
	;

param_decl
	: PARAM NAME opt_type opt_default {
		$$ = mk_decl(ps, D_PARAM, @$);
		$$->name = $2.s;
		$$->name_where = @2;
		$$->u.param.type = $3;
		$$->u.param.deflt = $4;
	}
	;

const_decl
	: CONST NAME '=' expr {
		$$ = mk_decl(ps, D_CONST, @$);
		$$->name = $2.s;
		$$->name_where = @2;
		$$->u.const_.value = $4;
	}
	;

fn_decl
	: FN NAME '(' params ')' opt_ret block   { $$ = mk_callable(ps, D_FN, $2, @2, $4, $6, $7, @$); }
	;

task_decl
	: TASK NAME '(' params ')' opt_ret block { $$ = mk_callable(ps, D_TASK, $2, @2, $4, $6, $7, @$); }
	;

actor_decl
	: ACTOR NAME LBRACE_BLOCK actor_body '}' {
		$$ = mk_decl(ps, D_ACTOR, @$);
		$$->name = $2.s;
		$$->name_where = @2;
		$$->u.actor.methods = (ast_decl **)$4.v;
		$$->u.actor.nmethods = $4.n;
		for (int i = 0; i < $4.n; i++)
			$$->u.actor.methods[i]->u.fn.actor = $$;
	}
	;

actor_body
	: opt_seps                          { $$ = (ptrvec){ 0 }; }
	| opt_seps actor_list opt_seps      { $$ = $2; }
	;

actor_list
	: actor_item                        { $$ = (ptrvec){ 0 }; if ($1) parse_vec_push(ps, &$$, $1); }
	| actor_list seps actor_item        { $$ = $1; if ($3) parse_vec_push(ps, &$$, $3); }
	;

actor_item
	: fn_decl
	| nonfn_decl {
		if ($1->kind == D_FN) { /* a decorated method: keep it, reject the decorators */
			diag_error(ps->diag, $1->decorators[0].where,
			           "actor methods take no decorators; put them on the actor");
			$$ = $1;
		} else {
			misplaced_decl(ps, $1, "an actor");
			$$ = NULL;
		}
	}
	| stmt {
		(void)$1;
		diag_error(ps->diag, @1, "an actor body holds only 'fn' methods; put statements in a method such as 'fn init'");
		$$ = NULL;
	}
	| error         { $$ = NULL; }
	;

params
	: %empty                  { $$ = (ptrvec){ 0 }; }
	| param_list opt_comma
	;

param_list
	: param                   { $$ = vec1(ps, $1); }
	| param_list ',' param    { $$ = $1; parse_vec_push(ps, &$$, $3); }
	;

param
	: NAME opt_type opt_default {
		$$ = arena_alloc(ps->arena, sizeof *$$);
		$$->name = $1.s;
		$$->where = @1;
		$$->type = $2;
		$$->deflt = $3;
	}
	;

opt_type
	: %empty      { $$ = (ast_type){ NULL, @$ }; }
	| ':' type    { $$ = $2; }
	;

opt_ret
	: %empty      { $$ = (ast_type){ NULL, @$ }; }
	| ARROW type  { $$ = $2; }
	;

type
	: NAME        { $$ = (ast_type){ $1.s, @1 }; }
	| NONE        { $$ = (ast_type){ "none", @1 }; }
	| FN          { $$ = (ast_type){ "fn", @1 }; }
	| TASK        { $$ = (ast_type){ "task", @1 }; }
	;

opt_default
	: %empty      { $$ = NULL; }
	| '=' expr    { $$ = $2; }
	;

/* ---- statements ---- */

block
	: LBRACE_BLOCK body '}'   { $$ = mk_block($2, @$); }
	;

body
	: opt_seps                       { $$ = (ptrvec){ 0 }; }
	| opt_seps stmt_list opt_seps    { $$ = $2; }
	;

stmt_list
	: body_item                      { $$ = (ptrvec){ 0 }; if ($1) parse_vec_push(ps, &$$, $1); }
	| stmt_list seps body_item       { $$ = $1; if ($3) parse_vec_push(ps, &$$, $3); }
	;

body_item
	: stmt
	| decl      { misplaced_decl(ps, $1, "a block"); $$ = NULL; }
	| error     { $$ = NULL; }
	;

stmt
	: simple_stmt
	| if_stmt
	| WHILE expr block {
		$$ = mk_stmt(ps, S_WHILE, @$);
		$$->u.while_.cond = $2;
		$$->u.while_.body = $3;
	}
	| FOR targets IN expr block {
		$$ = mk_stmt(ps, S_FOR, @$);
		$$->u.for_.names = $2.n;
		$$->u.for_.name_where = $2.at;
		$$->u.for_.nnames = $2.count;
		$$->u.for_.local = local_slots(ps, $2.count);
		$$->u.for_.iter = $4;
		$$->u.for_.body = $5;
	}
	| block {
		$$ = mk_stmt(ps, S_BLOCK, @$);
		$$->u.block = $1;
	}
	| try_stmt
	;

/* try/except (LANGUAGE.md section 8) */
try_stmt
	: TRY block EXCEPT block {
		$$ = mk_stmt(ps, S_TRY, @$);
		$$->u.try_.body = $2;
		$$->u.try_.handler = $4;
	}
	| TRY block EXCEPT NAME block {
		$$ = mk_stmt(ps, S_TRY, @$);
		$$->u.try_.body = $2;
		$$->u.try_.name = $4.s;
		$$->u.try_.name_where = @4;
		$$->u.try_.handler = $5;
	}
	;

targets
	: NAME               { $$ = (namelist){ 0 }; names_push(ps, &$$, $1, @1); }
	| targets ',' NAME   { $$ = $1; names_push(ps, &$$, $3, @3); }
	;

/* the value unpacked by `let a, b = ...` and `a, b = ...` */
rhs
	: expr
	| expr ',' expr_list   { $$ = rhs_list(ps, $1, $3, @$); }
	;

if_stmt
	: IF expr block {
		$$ = mk_stmt(ps, S_IF, @$);
		$$->u.if_.cond = $2;
		$$->u.if_.then = $3;
	}
	| IF expr block ELSE block {
		$$ = mk_stmt(ps, S_IF, @$);
		$$->u.if_.cond = $2;
		$$->u.if_.then = $3;
		ast_stmt *b = mk_stmt(ps, S_BLOCK, @5);
		b->u.block = $5;
		$$->u.if_.otherwise = b;
	}
	| IF expr block ELSE if_stmt {
		$$ = mk_stmt(ps, S_IF, @$);
		$$->u.if_.cond = $2;
		$$->u.if_.then = $3;
		$$->u.if_.otherwise = $5;
	}
	;

simple_stmt
	: expr {
		$$ = mk_stmt(ps, S_EXPR, @$);
		$$->u.expr = $1;
	}
	| LET NAME opt_type '=' expr {
		$$ = mk_stmt(ps, S_LET, @$);
		namelist l = { 0 };
		names_push(ps, &l, $2, @2);
		$$->u.let.names = l.n;
		$$->u.let.name_where = l.at;
		$$->u.let.nnames = 1;
		$$->u.let.local = local_slots(ps, 1);
		$$->u.let.type = $3;
		$$->u.let.value = $5;
	}
	| LET NAME ',' targets '=' rhs {
		$$ = mk_stmt(ps, S_LET, @$);
		namelist l = { 0 };
		names_push(ps, &l, $2, @2);
		for (int i = 0; i < $4.count; i++)
			names_push(ps, &l, (tokstr){ $4.n[i], 0 }, $4.at[i]);
		$$->u.let.names = l.n;
		$$->u.let.name_where = l.at;
		$$->u.let.nnames = l.count;
		$$->u.let.local = local_slots(ps, l.count);
		$$->u.let.type = (ast_type){ NULL, @2 };
		$$->u.let.value = $6;
	}
	| expr '=' expr {
		check_target(ps, $1);
		$$ = mk_stmt(ps, S_ASSIGN, @$);
		$$->u.assign.op = ASSIGN_SET;
		$$->u.assign.targets = arena_alloc(ps->arena, sizeof(ast_expr *));
		$$->u.assign.targets[0] = $1;
		$$->u.assign.ntargets = 1;
		$$->u.assign.value = $3;
	}
	| expr augop expr {
		check_target(ps, $1);
		$$ = mk_stmt(ps, S_ASSIGN, @$);
		$$->u.assign.op = (ast_assignop)$2;
		$$->u.assign.targets = arena_alloc(ps->arena, sizeof(ast_expr *));
		$$->u.assign.targets[0] = $1;
		$$->u.assign.ntargets = 1;
		$$->u.assign.value = $3;
	}
	| expr ',' expr_list '=' rhs {
		$$ = mk_stmt(ps, S_ASSIGN, @$);
		$$->u.assign.op = ASSIGN_SET;
		$$->u.assign.ntargets = $3.n + 1;
		$$->u.assign.targets = arena_alloc(ps->arena, sizeof(ast_expr *) * (size_t)($3.n + 1));
		$$->u.assign.targets[0] = $1;
		for (int i = 0; i < $3.n; i++)
			$$->u.assign.targets[i + 1] = $3.v[i];
		for (int i = 0; i <= $3.n; i++)
			check_target(ps, $$->u.assign.targets[i]);
		$$->u.assign.value = $5;
	}
	| BREAK           { $$ = mk_stmt(ps, S_BREAK, @$); }
	| CONTINUE        { $$ = mk_stmt(ps, S_CONTINUE, @$); }
	| RETURN          { $$ = mk_stmt(ps, S_RETURN, @$); }
	| RETURN expr     { $$ = mk_stmt(ps, S_RETURN, @$); $$->u.ret = $2; }
	| YIELD expr      { $$ = mk_stmt(ps, S_YIELD, @$); $$->u.ret = $2; }
	;

augop
	: PLUSEQ    { $$ = ASSIGN_ADD; }
	| MINUSEQ   { $$ = ASSIGN_SUB; }
	| STAREQ    { $$ = ASSIGN_MUL; }
	| SLASHEQ   { $$ = ASSIGN_DIV; }
	;

/* ---- expressions, loosest first ---- */

expr: ternary ;

ternary
	: or_expr
	| or_expr IF or_expr ELSE ternary {
		$$ = mk_expr(ps, E_TERNARY, @$);
		$$->u.ternary.then = $1;
		$$->u.ternary.cond = $3;
		$$->u.ternary.otherwise = $5;
	}
	;

or_expr
	: and_expr
	| or_expr OR and_expr      { $$ = mk_binary(ps, BIN_OR, $1, $3, @$); }
	;

and_expr
	: not_expr
	| and_expr AND not_expr    { $$ = mk_binary(ps, BIN_AND, $1, $3, @$); }
	;

not_expr
	: comparison
	| NOT not_expr {
		$$ = mk_expr(ps, E_UNARY, @$);
		$$->u.unary.op = UN_NOT;
		$$->u.unary.operand = $2;
	}
	;

comparison
	: sum
	| comp_chain
	;

/* a < b is an E_BINARY; a < b < c (and longer) one E_COMPARE. */
comp_chain
	: sum comp_op sum          { $$ = mk_binary(ps, $2, $1, $3, @$); }
	| comp_chain comp_op sum {
		ast_expr *c = $1;
		if (c->kind == E_BINARY) {
			ast_expr *n = mk_expr(ps, E_COMPARE, @$);
			n->u.compare.operands = arena_alloc(ps->arena, 2 * sizeof(ast_expr *));
			n->u.compare.ops = arena_alloc(ps->arena, sizeof(ast_binop));
			n->u.compare.operands[0] = c->u.binary.left;
			n->u.compare.operands[1] = c->u.binary.right;
			n->u.compare.ops[0] = c->u.binary.op;
			n->u.compare.noperands = 2;
			c = n;
		}
		int k = c->u.compare.noperands;
		ast_expr **ops = arena_alloc(ps->arena, (size_t)(k + 1) * sizeof(ast_expr *));
		ast_binop *bo = arena_alloc(ps->arena, (size_t)k * sizeof(ast_binop));
		memcpy(ops, c->u.compare.operands, (size_t)k * sizeof(ast_expr *));
		memcpy(bo, c->u.compare.ops, (size_t)(k - 1) * sizeof(ast_binop));
		ops[k] = $3;
		bo[k - 1] = (ast_binop)$2;
		c->u.compare.operands = ops;
		c->u.compare.ops = bo;
		c->u.compare.noperands = k + 1;
		c->where = @$;
		$$ = c;
	}
	;

comp_op
	: EQ        { $$ = BIN_EQ; }
	| NE        { $$ = BIN_NE; }
	| '<'       { $$ = BIN_LT; }
	| LE        { $$ = BIN_LE; }
	| '>'       { $$ = BIN_GT; }
	| GE        { $$ = BIN_GE; }
	| IN        { $$ = BIN_IN; }
	| NOT IN    { $$ = BIN_NOTIN; }
	;

sum
	: term
	| sum '+' term   { $$ = mk_binary(ps, BIN_ADD, $1, $3, @$); }
	| sum '-' term   { $$ = mk_binary(ps, BIN_SUB, $1, $3, @$); }
	;

term
	: unary
	| term mulop unary   { $$ = mk_binary(ps, $2, $1, $3, @$); }
	;

mulop
	: '*'       { $$ = BIN_MUL; }
	| '/'       { $$ = BIN_DIV; }
	| DSLASH    { $$ = BIN_FLOORDIV; }
	| '%'       { $$ = BIN_MOD; }
	| '@'       { $$ = BIN_MATMUL; }
	;

unary
	: power
	| '-' unary {
		$$ = mk_expr(ps, E_UNARY, @$);
		$$->u.unary.op = UN_NEG;
		$$->u.unary.operand = $2;
	}
	;

/* '**' is right-associative and binds tighter than a unary minus on its
 * left (-2**2 == -4) but takes one on its right (2**-1). */
power
	: postfix
	| postfix DSTAR unary   { $$ = mk_binary(ps, BIN_POW, $1, $3, @$); }
	;

postfix
	: primary
	| postfix '(' args ')' {
		$$ = mk_expr(ps, E_CALL, @$);
		$$->u.call.callee = $1;
		VEC_FLATTEN(ps, $3, ast_arg, $$->u.call.args, $$->u.call.nargs);
	}
	| postfix '[' expr ']' {
		$$ = mk_expr(ps, E_INDEX, @$);
		$$->u.index.obj = $1;
		$$->u.index.index = $3;
	}
	| postfix '[' opt_expr ':' opt_expr ']' {
		$$ = mk_expr(ps, E_SLICE, @$);
		$$->u.slice.obj = $1;
		$$->u.slice.lo = $3;
		$$->u.slice.hi = $5;
	}
	| postfix '[' opt_expr ':' opt_expr ':' opt_expr ']' {
		$$ = mk_expr(ps, E_SLICE, @$);
		$$->u.slice.obj = $1;
		$$->u.slice.lo = $3;
		$$->u.slice.hi = $5;
		$$->u.slice.step = $7;
	}
	| postfix '.' NAME {
		$$ = mk_expr(ps, E_FIELD, @$);
		$$->u.field.obj = $1;
		$$->u.field.name = $3.s;
		$$->u.field.name_where = @3;
	}
	| postfix '.' TASK {
		/* an error value's e.task (section 8) */
		$$ = mk_expr(ps, E_FIELD, @$);
		$$->u.field.obj = $1;
		$$->u.field.name = "task";
		$$->u.field.name_where = @3;
	}
	;

opt_expr
	: %empty    { $$ = NULL; }
	| expr
	;

args
	: %empty                 { $$ = (ptrvec){ 0 }; }
	| arg_list opt_comma
	;

arg_list
	: arg                    { $$ = (ptrvec){ 0 }; push_arg(ps, &$$, $1); }
	| arg_list ',' arg       { $$ = $1; push_arg(ps, &$$, $3); }
	;

arg
	: expr                   { $$ = mk_arg(ps, NULL, @1, $1); }
	| NAME '=' expr          { $$ = mk_arg(ps, $1.s, @1, $3); }
	;

primary
	: NAME {
		$$ = mk_expr(ps, E_NAME, @$);
		$$->u.name.name = $1.s;
	}
	| INT       { $$ = mk_expr(ps, E_INT, @$); $$->u.i = $1; }
	| FLOAT     { $$ = mk_expr(ps, E_FLOAT, @$); $$->u.f = $1; }
	| STRING    { $$ = mk_expr(ps, E_STR, @$); $$->u.str.s = $1.s; $$->u.str.len = $1.len; }
	| FSTRING   { $$ = $1; }
	| TRUE      { $$ = mk_expr(ps, E_BOOL, @$); $$->u.b = true; }
	| FALSE     { $$ = mk_expr(ps, E_BOOL, @$); $$->u.b = false; }
	| NONE      { $$ = mk_expr(ps, E_NONE, @$); }
	| '(' expr ')'   { $$ = $2; }
	| list
	| dict
	| dict_comp
	;

list
	: '[' ']'      { $$ = mk_expr(ps, E_LIST, @$); }
	| '[' expr_list opt_comma ']' {
		$$ = mk_expr(ps, E_LIST, @$);
		$$->u.list.items = (ast_expr **)$2.v;
		$$->u.list.nitems = $2.n;
	}
	| '[' expr comp_clauses ']' {
		$$ = mk_expr(ps, E_COMP, @$);
		$$->u.comp.elt = $2;
		VEC_FLATTEN(ps, $3, ast_compclause, $$->u.comp.clauses, $$->u.comp.nclauses);
	}
	;

expr_list
	: expr                  { $$ = vec1(ps, $1); }
	| expr_list ',' expr    { $$ = $1; parse_vec_push(ps, &$$, $3); }
	;

comp_clauses
	: comp_for                  { $$ = vec1(ps, $1); }
	| comp_clauses comp_for     { $$ = $1; parse_vec_push(ps, &$$, $2); }
	| comp_clauses comp_if      { $$ = $1; parse_vec_push(ps, &$$, $2); }
	;

/* The iterable and the condition are or_exprs, so that an 'if' after
 * them starts a clause and not a conditional expression (as in Python). */
comp_for
	: FOR targets IN or_expr {
		$$ = arena_alloc(ps->arena, sizeof *$$);
		$$->names = $2.n;
		$$->name_where = $2.at;
		$$->nnames = $2.count;
		$$->local = local_slots(ps, $2.count);
		$$->iter = $4;
	}
	;

comp_if
	: IF or_expr {
		$$ = arena_alloc(ps->arena, sizeof *$$);
		$$->is_if = true;
		$$->cond = $2;
	}
	;

dict
	: LBRACE_DICT '}'      { $$ = mk_expr(ps, E_DICT, @$); }
	| LBRACE_DICT dict_items opt_comma '}' {
		$$ = mk_expr(ps, E_DICT, @$);
		int n = $2.n / 2;
		$$->u.dict.nitems = n;
		$$->u.dict.keys = arena_alloc(ps->arena, (size_t)n * sizeof(ast_expr *));
		$$->u.dict.values = arena_alloc(ps->arena, (size_t)n * sizeof(ast_expr *));
		for (int i = 0; i < n; i++) {
			$$->u.dict.keys[i] = $2.v[2 * i];
			$$->u.dict.values[i] = $2.v[2 * i + 1];
		}
	}
	;

dict_comp
	: LBRACE_DICT expr ':' expr comp_clauses '}' {
		$$ = mk_expr(ps, E_COMP, @$);
		$$->u.comp.key = $2;
		$$->u.comp.elt = $4;
		VEC_FLATTEN(ps, $5, ast_compclause, $$->u.comp.clauses, $$->u.comp.nclauses);
	}
	;

dict_items
	: expr ':' expr                   { $$ = vec1(ps, $1); parse_vec_push(ps, &$$, $3); }
	| dict_items ',' expr ':' expr    { $$ = $1; parse_vec_push(ps, &$$, $3); parse_vec_push(ps, &$$, $5); }
	;

%%

static void flowyyerror(span *loc, parse_state *ps, const char *msg)
{
	/* only "memory exhausted" reaches here: parse.error is custom */
	(void)msg;
	diag_error(ps->diag, *loc, "nested too deeply for the parser (simplify this expression or block)");
}

const char *parse_tok_name(int tok)
{
	if (tok == 0)
		return "end of file";
	return yysymbol_name(YYTRANSLATE(tok));
}

static bool sym_in(const yysymbol_kind_t *set, int n, yysymbol_kind_t k)
{
	for (int i = 0; i < n; i++)
		if (set[i] == k)
			return true;
	return false;
}

/* The offending token as a reader would name it. */
static void describe(parse_state *ps, yysymbol_kind_t la, char *buf, size_t cap)
{
	switch (la) {
	case YYSYMBOL_YYEOF:
		snprintf(buf, cap, "%s", ps->expr_mode ? "the end of the f-string expression" : "end of file");
		break;
	case YYSYMBOL_NAME:
		snprintf(buf, cap, "name '%s'", ps->last.val.str.s ? ps->last.val.str.s : "");
		break;
	case YYSYMBOL_INT:
	case YYSYMBOL_FLOAT:
		snprintf(buf, cap, "number");
		break;
	case YYSYMBOL_LBRACE_DICT:
		snprintf(buf, cap, "'{'");
		break;
	default:
		snprintf(buf, cap, "%s", yysymbol_name(la));
		break;
	}
}

static bool last_prev_is(parse_state *ps, const char *name)
{
	return ps->last_prev.kind == NAME && ps->last_prev.val.str.s &&
	       strcmp(ps->last_prev.val.str.s, name) == 0;
}

/* Friendly syntax errors: "expected ')' before newline", "unexpected 'else'",
 * "expected expression before '}'", with hints for common slips. */
static int yyreport_syntax_error(const yypcontext_t *ctx, parse_state *ps)
{
	yysymbol_kind_t la = yypcontext_token(ctx);
	span at = *yypcontext_location(ctx);
	yysymbol_kind_t exp[YYNTOKENS];
	int nall = yypcontext_expected_tokens(ctx, exp, YYNTOKENS), n = 0;
	for (int i = 0; i < nall; i++)
		if (exp[i] != YYSYMBOL_YYerror && exp[i] != YYSYMBOL_YYUNDEF && exp[i] != YYSYMBOL_START_EXPR)
			exp[n++] = exp[i];

	/* a missing '}' already blamed on a declaration in column 1, or the
	 * end of a line whose string was left open (already reported) */
	if ((la == YYSYMBOL_YYEOF && ps->brace_hinted) ||
	    ((la == YYSYMBOL_NEWLINE || la == YYSYMBOL_YYEOF) && at.line == ps->bad_string_line)) {
		ps->recovering = false;
		return 0;
	}

	char what[160], msg[512];
	describe(ps, la, what, sizeof what);

	/* the tokens worth naming when many are possible */
	const yysymbol_kind_t closers[] = {
		YYTRANSLATE(')'), YYTRANSLATE(']'), YYTRANSLATE('}'), YYSYMBOL_LBRACE_BLOCK, YYSYMBOL_ELSE,
	};
	const char *want[8];
	int nwant = 0;
	bool comma = sym_in(exp, n, YYTRANSLATE(','));
	for (size_t i = 0; i < sizeof closers / sizeof closers[0]; i++) {
		/* where a '}' fits, a nested block could too: do not offer it */
		if (closers[i] == YYSYMBOL_LBRACE_BLOCK && nwant > 0)
			continue;
		if (sym_in(exp, n, closers[i]))
			want[nwant++] = yysymbol_name(closers[i]);
	}
	if (nwant == 0 && sym_in(exp, n, YYTRANSLATE(':')) && (la == YYTRANSLATE(',') || la == YYTRANSLATE('}')))
		want[nwant++] = "':'"; /* {1, 2}: a dict entry needs its value */
	if (nwant == 0 && sym_in(exp, n, YYSYMBOL_NAME) && sym_in(exp, n, YYSYMBOL_NONE) &&
	    sym_in(exp, n, YYSYMBOL_TASK) && !sym_in(exp, n, YYSYMBOL_INT))
		want[nwant++] = "a type name";
	if (nwant > 0 && comma && la != YYSYMBOL_LBRACE_BLOCK)
		want[nwant++] = "','";
	if (nwant == 0 && n > 0 && n <= 4) {
		for (int i = 0; i < n; i++)
			want[nwant++] = yysymbol_name(exp[i]);
	}

	bool want_expr = sym_in(exp, n, YYSYMBOL_NAME) && sym_in(exp, n, YYSYMBOL_INT) &&
	                 !sym_in(exp, n, YYSYMBOL_LET);
	if (want_expr) {
		snprintf(msg, sizeof msg, "expected expression before %s", what);
	} else if (nwant > 0) {
		size_t k = (size_t)snprintf(msg, sizeof msg, "expected ");
		for (int i = 0; i < nwant && k < sizeof msg; i++)
			k += (size_t)snprintf(msg + k, sizeof msg - k, "%s%s", i == 0 ? "" : i == nwant - 1 ? " or " : ", ", want[i]);
		if (k < sizeof msg)
			snprintf(msg + k, sizeof msg - k, " before %s", what);
	} else {
		snprintf(msg, sizeof msg, "unexpected %s", what);
	}

	const char *hint = NULL;
	if (la == YYSYMBOL_NEWLINE && nwant == 1 && strcmp(want[0], "'{'") == 0 && ps->have_peek &&
	    ps->peek.kind == '{')
		hint = "a block's '{' goes on the same line as what comes before it";
	else if (la == YYTRANSLATE(':') && sym_in(exp, n, YYSYMBOL_LBRACE_BLOCK))
		hint = "blocks are written '{ ... }', not with ':'";
	else if (la == YYTRANSLATE('=') && sym_in(exp, n, YYSYMBOL_LBRACE_BLOCK))
		hint = "use '==' to compare";
	else if (la == YYTRANSLATE('.') && last_prev_is(ps, "ray"))
		hint = "Flow has no '@ray.remote': declare the function as a 'task' (a class as an "
		       "'actor'); its options are decorators such as @cpus(2) or @retries(3)";
	else if (la == YYTRANSLATE('=') &&
	         (ps->last_prev.kind == DSLASH || ps->last_prev.kind == DSTAR ||
	          ps->last_prev.kind == '%'))
		hint = "the assignment forms are = += -= *= /=; write x = x // y (likewise for % and **)";
	else if (last_prev_is(ps, "elif"))
		hint = "Flow writes 'else if', not 'elif'";
	else if (last_prev_is(ps, "def") || last_prev_is(ps, "function"))
		hint = "declare a function with 'fn' (or 'task' for a remote task)";
	else if (last_prev_is(ps, "class"))
		hint = "declare a class-like stateful worker with 'actor'";
	else if (last_prev_is(ps, "assert"))
		hint = "assert is a function in Flow: assert(cond, \"message\")";
	else if (last_prev_is(ps, "raise"))
		hint = "raise an error with error(\"message\")";
	else if (last_prev_is(ps, "lambda"))
		hint = "Flow has no lambda; declare an fn and pass its name (sorted(xs, key=f))";
	else if (last_prev_is(ps, "finally"))
		hint = "Flow has no 'finally'; put that code after the try/except";
	else if (last_prev_is(ps, "del"))
		hint = "Flow has no 'del'; a value (and a future's result) is freed when nothing refers to it";
	else if (last_prev_is(ps, "await") || last_prev_is(ps, "async"))
		hint = "Flow has no async/await; get(x) waits for a future, wait(xs, n=1) for the first "
		       "of several, and calls on one actor already run one at a time";
	else if (last_prev_is(ps, "global") || last_prev_is(ps, "nonlocal"))
		hint = "a task or actor cannot change the driver's variables; keep shared state in an "
		       "actor";
	else if (last_prev_is(ps, "with"))
		hint = "Flow has no 'with'; io.read_text(path) and io.write_text(path, s) open and close "
		       "the file themselves";
	else if (la == YYSYMBOL_AS && sym_in(exp, n, YYSYMBOL_LBRACE_BLOCK))
		hint = "'except e { ... }' names the error and catches every kind (there are no exception "
		       "types; look at e.kind)";
	else if (la == YYSYMBOL_EXCEPT && !sym_in(exp, n, YYSYMBOL_EXCEPT))
		snprintf(msg, sizeof msg, "'except' without 'try'"),
		hint = "'except' must follow the '}' of a 'try { ... }' block";
	else if (la == YYSYMBOL_ELSE && !sym_in(exp, n, YYSYMBOL_ELSE))
		hint = "'else' must follow the '}' of an 'if'";
	else if (la == YYTRANSLATE(',') && nwant == 1 && strcmp(want[0], "')'") == 0)
		hint = "Flow has no tuples; use a list [a, b]";
	else if (la == YYTRANSLATE(',') && nwant == 1 && strcmp(want[0], "':'") == 0)
		hint = "a dict literal holds 'key: value' pairs";
	else if (sym_in(exp, n, YYSYMBOL_NEWLINE) &&
	         (la == YYSYMBOL_LET || la == YYSYMBOL_IF || la == YYSYMBOL_FOR || la == YYSYMBOL_WHILE ||
	          la == YYSYMBOL_RETURN || la == YYSYMBOL_FN || la == YYSYMBOL_TASK))
		hint = "put a newline or ';' between statements";
	if (hint)
		diag_error(ps->diag, at, "%s; %s", msg, hint);
	else
		diag_error(ps->diag, at, "%s", msg);

	/* at the end of input, point at what is still open */
	if (la == YYSYMBOL_YYEOF && ps->nbr > 0) {
		bracket *b = &ps->br[ps->nbr - 1];
		diag_note(ps->diag, b->where, "this '%s' is not closed",
		          b->kind == BR_PAREN ? "(" : b->kind == BR_BRACKET ? "[" : "{");
	} else if (ps->nbr > 0 && ps->br[ps->nbr - 1].kind == BR_DICT &&
	           ps->br[ps->nbr - 1].where.line != at.line) {
		/* likely a block whose '{' came where an operand was expected */
		diag_note(ps->diag, ps->br[ps->nbr - 1].where,
		          "this '{' opens a dict literal; a block's '{' must follow a complete condition");
	}

	/* swallow what is nested deeper than the statement being skipped */
	int lim = ps->nbr < ps->depth_before ? ps->nbr : ps->depth_before, target = 0;
	for (int i = lim - 1; i >= 0; i--)
		if (ps->br[i].kind == BR_BLOCK) {
			target = i + 1;
			break;
		}
	/* an error on a statement's own end needs nothing skipped */
	bool at_end = la == YYSYMBOL_NEWLINE || la == YYTRANSLATE(';') || la == YYTRANSLATE('}');
	ps->recovering = !(at_end && ps->nbr <= target);
	ps->recover_depth = target;
	return 0;
}
