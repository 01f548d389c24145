/* compile.c - from the checked AST of every loaded module to bytecode: one
 * proto per fn, task, actor method, module init and the driver; register
 * allocation as in Lua (locals in the resolver's slots, temporaries above);
 * module params/consts are computed here, at compile time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "vm.h"
#include "native.h"

#define MAXREG 250

/* What a declaration compiled to. */
typedef struct declinfo {
	const ast_decl *d;
	int module;     /* bc module index */
	int index;      /* global index, proto index or actor index */
} declinfo;

typedef struct cstate {
	const flow_loader *l;
	diag_ctx *diag;
	bc_program *prog;
	arena *ar;
	declinfo *dm;
	int ndm, capdm;
	int nerrors;
} cstate;

typedef struct intlist {
	int *v;
	int n, cap;
} intlist;

typedef struct loopctx {
	intlist brk, cont;
	struct loopctx *outer;
	int trydepth;           /* open try blocks when the loop started */
} loopctx;

typedef struct fstate {
	cstate *cs;
	bc_proto *p;
	int modidx;
	const ast_decl *actor;
	bool is_init;
	uint32_t *code;
	span *lines;
	int ncode, capcode;
	value *consts;
	int nconsts, capconsts;
	int *kindex, capkindex; /* hash of consts: slot -> index + 1, 0 empty */
	unsigned limits;        /* LIMIT_* already reported for this body */
	const native_def **natives;
	int nnatives, capnatives;
	bc_msite *msites;
	int nmsites, capmsites;
	int nlocals, freereg, maxreg;
	span cur;
	loopctx *loop;
	int trydepth;           /* try blocks open here (break/continue close them) */
	int ylist;              /* a task that yields: the register of its stream's
	                         * values (a local, so calls never clobber it); else -1 */
} fstate;

static void expr_to(fstate *fs, const ast_expr *e, int dst);
static int expr_any(fstate *fs, const ast_expr *e);
static void stmt(fstate *fs, const ast_stmt *s);

/* ---- small helpers ------------------------------------------------------ */

static void cerror(fstate *fs, span where, const char *fmt, const char *arg)
{
	fs->cs->nerrors++;
	diag_error(fs->cs->diag, where, fmt, arg);
}

static void il_add(intlist *l, int x)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = realloc(l->v, sizeof(int) * (size_t)l->cap);
		if (!l->v)
			abort();
	}
	l->v[l->n++] = x;
}

static void *grow(void *p, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return p;
	int nc = *cap ? *cap * 2 : 16;
	while (nc < need)
		nc *= 2;
	p = realloc(p, elem * (size_t)nc);
	if (!p)
		abort();
	*cap = nc;
	return p;
}

static int emit(fstate *fs, uint32_t ins)
{
	int old = fs->capcode;
	fs->code = grow(fs->code, &fs->capcode, fs->ncode + 1, sizeof(uint32_t));
	/* only when the code array grew: a realloc per instruction copies
	 * (under ASan always) and made big bodies quadratic to compile */
	if (fs->capcode != old || fs->lines == NULL) {
		fs->lines = realloc(fs->lines, sizeof(span) * (size_t)fs->capcode);
		if (!fs->lines)
			abort();
	}
	fs->code[fs->ncode] = ins;
	fs->lines[fs->ncode] = fs->cur;
	return fs->ncode++;
}

/* A body over one of the bytecode's limits is reported once, not at every
 * instruction past it (100000 literals gave thousands of errors). */
enum { LIMIT_CONSTS = 1, LIMIT_JUMP = 2, LIMIT_REGS = 4 };
static void limit_error(fstate *fs, unsigned which, const char *fmt)
{
	if (fs->limits & which)
		return;
	fs->limits |= which;
	cerror(fs, fs->cur, fmt, fs->p->name);
}

static int emitABC(fstate *fs, bc_op op, int a, int b, int c)
{
	return emit(fs, BC_ABC(op, a & 0xff, b & 0xff, c & 0xff));
}

static int emitABx(fstate *fs, bc_op op, int a, int bx)
{
	if (bx > 0xffff) {
		limit_error(fs, LIMIT_CONSTS, "%s: too many constants or declarations");
		bx = 0;
	}
	return emit(fs, BC_ABx(op, a & 0xff, bx));
}

static int emit_jump(fstate *fs)
{
	return emit(fs, (uint32_t)OP_JMP);
}

static void patch_jump(fstate *fs, int at, int target)
{
	int off = target - (at + 1);
	bc_op op = BC_OP(fs->code[at]);
	if (bc_ops[op].flags & OPF_JUMP) {
		if (off > BC_MAXsJ || off < -BC_MAXsJ)
			limit_error(fs, LIMIT_JUMP, "%s: body too large");
		fs->code[at] = (uint32_t)OP_JMP | ((uint32_t)off << 8);
	} else {
		if (off > BC_MAXsBx || off < -BC_MAXsBx)
			limit_error(fs, LIMIT_JUMP, "%s: body too large");
		fs->code[at] = BC_ABx(op, BC_A(fs->code[at]), (uint32_t)(off + 32767));
	}
}

static void patch_here(fstate *fs, intlist *l)
{
	for (int j = 0; j < l->n; j++)
		patch_jump(fs, l->v[j], fs->ncode);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int reg_alloc(fstate *fs)
{
	int r = fs->freereg++;
	if (fs->freereg > fs->maxreg)
		fs->maxreg = fs->freereg;
	if (r >= MAXREG) {
		limit_error(fs, LIMIT_REGS, "'%s' is too complex: it needs more than 250 registers");
		return MAXREG;
	}
	return r;
}

static bool kequal(value c, value v)
{
	if (c.t != v.t)
		return false;
	return (v.t == V_INT && c.as.i == v.as.i) ||
	       (v.t == V_FLOAT && memcmp(&c.as.f, &v.as.f, sizeof(double)) == 0) ||
	       (v.t == V_BOOL && c.as.b == v.as.b) || (v.t == V_NONE && c.as.i == v.as.i) ||
	       (v.t == V_STR && str_len(c) == str_len(v) && !memcmp(str_data(c), str_data(v), str_len(v)));
}

static uint64_t khash(value v)
{
	uint64_t h;
	if (v.t == V_STR)
		h = val_hash(v);
	else if (v.t == V_FLOAT)
		memcpy(&h, &v.as.f, sizeof h);
	else
		h = (uint64_t)v.as.i;
	return (h ^ v.t) * 0x9E3779B97F4A7C15ull;
}

/* The slot of v in fs->kindex: its constant's, or the empty one. */
static int kslot(const fstate *fs, value v)
{
	int mask = fs->capkindex - 1;
	int i = (int)(khash(v) >> 33) & mask;
	while (fs->kindex[i] != 0 && !kequal(fs->consts[fs->kindex[i] - 1], v))
		i = (i + 1) & mask;
	return i;
}

/* Adds a constant (consumed); equal strings/ints/floats are shared, found
 * by hash (a linear search made 100000 literals take minutes). */
static int kadd(fstate *fs, value v)
{
	bool hashable = v.t == V_INT || v.t == V_FLOAT || v.t == V_BOOL || v.t == V_NONE || v.t == V_STR;
	if (hashable && fs->capkindex) {
		int i = kslot(fs, v);
		if (fs->kindex[i] != 0) {
			val_rele(v);
			return fs->kindex[i] - 1;
		}
	}
	if (!val_is_frozen(v))
		val_freeze(v);
	fs->consts = grow(fs->consts, &fs->capconsts, fs->nconsts + 1, sizeof(value));
	fs->consts[fs->nconsts] = v;
	if ((fs->nconsts + 1) * 2 > fs->capkindex) {
		/* rebuild at twice the size from the constants themselves */
		free(fs->kindex);
		fs->capkindex = fs->capkindex ? fs->capkindex * 2 : 64;
		fs->kindex = calloc((size_t)fs->capkindex, sizeof *fs->kindex);
		if (!fs->kindex)
			abort();
		for (int j = 0; j < fs->nconsts; j++) {
			value c = fs->consts[j];
			if (c.t == V_INT || c.t == V_FLOAT || c.t == V_BOOL || c.t == V_NONE || c.t == V_STR) {
				int i = kslot(fs, c);
				if (fs->kindex[i] == 0)
					fs->kindex[i] = j + 1;
			}
		}
	}
	if (hashable) {
		int i = kslot(fs, v);
		if (fs->kindex[i] == 0)
			fs->kindex[i] = fs->nconsts + 1;
	}
	return fs->nconsts++;
}

static int kstr(fstate *fs, const char *s)
{
	return kadd(fs, str_from_c(s));
}

static void emit_loadk(fstate *fs, int dst, value v)
{
	emitABx(fs, OP_LOADK, dst, kadd(fs, v));
}

static void emit_move(fstate *fs, int dst, int src)
{
	if (dst != src)
		emitABC(fs, OP_MOVE, dst, src, 0);
}

static declinfo *find_decl(cstate *cs, const ast_decl *d)
{
	for (int j = 0; j < cs->ndm; j++)
		if (cs->dm[j].d == d)
			return &cs->dm[j];
	return NULL;
}

static void add_decl(cstate *cs, const ast_decl *d, int module, int index)
{
	cs->dm = grow(cs->dm, &cs->capdm, cs->ndm + 1, sizeof(declinfo));
	cs->dm[cs->ndm++] = (declinfo){ d, module, index };
}

static int module_index(cstate *cs, const ast_module *m)
{
	for (int j = 0; j < cs->l->nmodules; j++)
		if (cs->l->modules[j] == m)
			return j;
	return 0;
}

static int native_slot(fstate *fs, const native_def *d)
{
	for (int j = 0; j < fs->nnatives; j++)
		if (fs->natives[j] == d)
			return j;
	fs->natives = grow(fs->natives, &fs->capnatives, fs->nnatives + 1, sizeof(*fs->natives));
	fs->natives[fs->nnatives] = d;
	if (fs->nnatives >= 255)
		cerror(fs, fs->cur, "'%s' calls too many different builtins", fs->p->name);
	return fs->nnatives++;
}

/* ---- names ------------------------------------------------------------------ */

static const native_def *builtin_of(const ast_ref *ref, const char *name)
{
	if (ref->kind != REF_BUILTIN)
		return NULL;
	if (ref->stdmod) {
		const module_def *m = native_module(ref->stdmod);
		return m ? native_module_fn(m, name) : NULL;
	}
	return native_builtin(name);
}

/* Loads what a resolved name refers to (not a local). */
static void load_ref(fstate *fs, const ast_ref *ref, const char *name, span where, int dst)
{
	cstate *cs = fs->cs;
	switch (ref->kind) {
	case REF_LOCAL:
		emit_move(fs, dst, ref->slot);
		return;
	case REF_GLOBAL: {
		declinfo *di = find_decl(cs, ref->decl);
		if (!di) {
			cerror(fs, where, "internal error: unknown global '%s'", name);
			return;
		}
		emitABC(fs, OP_GETGLOBAL, dst, di->module, di->index);
		return;
	}
	case REF_DECL: {
		declinfo *di = find_decl(cs, ref->decl);
		if (!di || ref->decl->kind == D_ACTOR) {
			cerror(fs, where, "actor class '%s' can only be called", name);
			return;
		}
		emit_loadk(fs, dst, vm_func_proto(cs->prog->protos[di->index]));
		return;
	}
	case REF_BUILTIN: {
		if (ref->stdmod) {
			const module_def *m = native_module(ref->stdmod);
			const const_def *c = m ? native_module_const(m, name) : NULL;
			if (c) {
				emit_loadk(fs, dst, v_float(c->value));
				return;
			}
		}
		const native_def *d = builtin_of(ref, name);
		if (!d) {
			cerror(fs, where, "unknown builtin '%s'", name);
			return;
		}
		emit_loadk(fs, dst, vm_func_native(d));
		return;
	}
	case REF_MODULE:
		cerror(fs, where, "module '%s' cannot be used as a value", name);
		return;
	case REF_SELF:
		cerror(fs, where, "'%s' can only be used as self.field or self.method()", name);
		return;
	default:
		cerror(fs, where, "internal error: unresolved name '%s'", name);
		return;
	}
}

/* ---- calls ------------------------------------------------------------------- */

/* Matches call arguments to parameters at compile time: slot[j] is the
 * argument expression for parameter j, or NULL (use the default). */
static bool match_static(fstate *fs, const ast_expr *call, const char *fname, int nparams,
                         const char *const *names, const bool *has_default, const ast_expr **slot)
{
	const ast_arg *args = call->u.call.args;
	int nargs = call->u.call.nargs;
	for (int j = 0; j < nparams; j++)
		slot[j] = NULL;
	int pos = 0;
	for (int q = 0; q < nargs; q++) {
		if (!args[q].name) {
			if (pos >= nparams) {
				cerror(fs, args[q].value->where, "too many arguments for '%s'", fname);
				return false;
			}
			slot[pos++] = args[q].value;
			continue;
		}
		int j = 0;
		while (j < nparams && strcmp(names[j], args[q].name))
			j++;
		if (j == nparams) {
			cerror(fs, args[q].name_where, "unknown keyword argument '%s'", args[q].name);
			return false;
		}
		if (slot[j]) {
			cerror(fs, args[q].name_where, "argument '%s' given twice", args[q].name);
			return false;
		}
		slot[j] = args[q].value;
	}
	for (int j = 0; j < nparams; j++)
		if (!slot[j] && !has_default[j]) {
			cerror(fs, call->where, "missing argument '%s'", names[j]);
			return false;
		}
	return true;
}

/* Base register for an instruction that needs contiguous registers. */
static int top_base(fstate *fs, int dst)
{
	if (dst == fs->freereg - 1 && dst >= fs->nlocals)
		return dst;
	return reg_alloc(fs);
}

/* Emits the matched arguments of a call to a proto into base+off... */
static void proto_args(fstate *fs, const ast_expr *call, const ast_decl *d, int base)
{
	int n = d->u.fn.nparams;
	const char **names = calloc((size_t)n + 1, sizeof(char *));
	bool *hd = calloc((size_t)n + 1, sizeof(bool));
	const ast_expr **slot = calloc((size_t)n + 1, sizeof(ast_expr *));
	for (int j = 0; j < n; j++) {
		names[j] = d->u.fn.params[j].name;
		hd[j] = d->u.fn.params[j].deflt != NULL;
	}
	if (match_static(fs, call, d->name, n, names, hd, slot)) {
		for (int j = 0; j < n; j++) {
			if (j > 0)
				reg_alloc(fs);
			expr_to(fs, slot[j] ? slot[j] : d->u.fn.params[j].deflt, base + j);
		}
	}
	free(names);
	free(hd);
	free(slot);
}

static bool is_mutating(const char *name)
{
	return vm_method_mutates(name);
}

/* A place a value was read from, so a thawed copy can be written back. */
typedef struct place {
	enum { P_NONE, P_LOCAL, P_SELF, P_INDEX } kind;
	int reg;              /* register holding the value */
	int k;                /* P_SELF: field name constant */
	struct place *parent; /* P_INDEX: container */
	int idxreg;
} place;

static place *compile_place(fstate *fs, const ast_expr *e)
{
	place *pl = arena_alloc(fs->cs->ar, sizeof *pl);
	if (e->kind == E_NAME && e->u.name.ref.kind == REF_LOCAL) {
		pl->kind = P_LOCAL;
		pl->reg = e->u.name.ref.slot;
	} else if (e->kind == E_FIELD && e->u.field.ref.kind == REF_UNRESOLVED &&
	           e->u.field.obj->kind == E_NAME && e->u.field.obj->u.name.ref.kind == REF_SELF) {
		pl->kind = P_SELF;
		pl->k = kstr(fs, e->u.field.name);
		pl->reg = reg_alloc(fs);
		emitABx(fs, OP_GETSELF, pl->reg, pl->k);
	} else if (e->kind == E_INDEX) {
		pl->kind = P_INDEX;
		pl->parent = compile_place(fs, e->u.index.obj);
		pl->idxreg = expr_any(fs, e->u.index.index);
		pl->reg = reg_alloc(fs);
		span old = fs->cur;
		fs->cur = e->where;
		emitABC(fs, OP_INDEX, pl->reg, pl->parent->reg, pl->idxreg);
		fs->cur = old;
	} else {
		pl->kind = P_NONE;
		pl->reg = expr_any(fs, e);
	}
	return pl;
}

/* After a mutation of the value in `reg` read from pl: store it back. */
static void writeback(fstate *fs, const place *pl, int reg)
{
	switch (pl->kind) {
	case P_LOCAL:
		emit_move(fs, pl->reg, reg);
		break;
	case P_SELF:
		emitABx(fs, OP_SETSELF, reg, pl->k);
		break;
	case P_INDEX:
		emitABC(fs, OP_SETINDEX, pl->parent->reg, pl->idxreg, reg);
		writeback(fs, pl->parent, pl->parent->reg);
		break;
	default:
		break;
	}
}

static void call_method(fstate *fs, const ast_expr *e, int dst)
{
	const ast_expr *callee = e->u.call.callee;
	const char *name = callee->u.field.name;
	int nargs = e->u.call.nargs;
	bool mut = is_mutating(name);
	place *pl = NULL;
	int recv = -1;
	if (mut)
		pl = compile_place(fs, callee->u.field.obj);
	else
		recv = expr_any(fs, callee->u.field.obj);
	int base = top_base(fs, dst);
	int rr = reg_alloc(fs);
	emit_move(fs, rr, pl ? pl->reg : recv);
	int nkw = 0;
	for (int q = 0; q < nargs; q++)
		if (!e->u.call.args[q].name)
			expr_to(fs, e->u.call.args[q].value, reg_alloc(fs));
	for (int q = 0; q < nargs; q++)
		if (e->u.call.args[q].name) {
			expr_to(fs, e->u.call.args[q].value, reg_alloc(fs));
			nkw++;
		}
	fs->msites = grow(fs->msites, &fs->capmsites, fs->nmsites + 1, sizeof(bc_msite));
	bc_msite *s = &fs->msites[fs->nmsites];
	memset(s, 0, sizeof *s);
	s->name = arena_strdup(fs->cs->ar, name);
	for (int t = V_STR; t < V__COUNT; t++)
	{
		s->by_type[t] = native_method((vtype)t, name);
		s->params[t] = s->by_type[t] ? native_params_of(s->by_type[t]) : NULL;
	}
	s->mutates = mut;
	s->nkw = nkw;
	if (nkw) {
		s->kwnames = arena_alloc(fs->cs->ar, sizeof(char *) * (size_t)nkw);
		int j = 0;
		for (int q = 0; q < nargs; q++)
			if (e->u.call.args[q].name)
				s->kwnames[j++] = arena_strdup(fs->cs->ar, e->u.call.args[q].name);
	}
	if (fs->nmsites >= 255)
		cerror(fs, e->where, "'%s' has too many method calls", fs->p->name);
	fs->cur = e->where;
	emitABC(fs, OP_METHOD, base, fs->nmsites++, nargs);
	if (pl)
		writeback(fs, pl, rr);
	emit_move(fs, dst, base);
}

static void call_native(fstate *fs, const ast_expr *e, const native_def *d, int dst)
{
	const native_params *np = native_params_of(d);
	int nargs = e->u.call.nargs;
	int base = top_base(fs, dst);
	int slot = native_slot(fs, d);
	int argc;
	if (!np || np->n < 0) {
		for (int q = 0; q < nargs; q++) {
			if (e->u.call.args[q].name) {
				const char *kw = e->u.call.args[q].name, *hint = "";
				if ((!strcmp(d->name, "max") || !strcmp(d->name, "min")) && !strcmp(kw, "key"))
					hint = !strcmp(d->name, "max") ? "; write sorted(xs, key=f)[-1]"
					                               : "; write sorted(xs, key=f)[0]";
				else if (!strcmp(d->name, "print") && (!strcmp(kw, "end") || !strcmp(kw, "sep")))
					hint = "; build the line first (f-strings, s.join(xs)): print writes its "
					       "arguments joined by ' ' and a newline";
				fs->cs->nerrors++;
				diag_error(fs->cs->diag, e->u.call.args[q].name_where, "'%s' takes no keyword arguments%s",
				           d->name, hint);
				return;
			}
			int r = q == 0 ? base : reg_alloc(fs);
			expr_to(fs, e->u.call.args[q].value, r);
		}
		argc = nargs;
		if (argc == 0)
			emitABC(fs, OP_LOADNONE, base, 0, 0);
	} else {
		const ast_expr *slots[NATIVE_MAX_PARAMS];
		bool hd[NATIVE_MAX_PARAMS];
		for (int j = 0; j < np->n; j++)
			hd[j] = j >= np->nrequired;
		if (!match_static(fs, e, d->name, np->n, np->names, hd, slots))
			return;
		for (int j = 0; j < np->n; j++) {
			int r = j == 0 ? base : reg_alloc(fs);
			if (slots[j])
				expr_to(fs, slots[j], r);
			else
				emit_loadk(fs, r, val_hold(np->defaults[j]));
		}
		argc = np->n;
		if (argc == 0)
			emitABC(fs, OP_LOADNONE, base, 0, 0);
	}
	if (argc > 255) {
		cerror(fs, e->where, "too many arguments for '%s'", d->name);
		return;
	}
	fs->cur = e->where;
	emitABC(fs, OP_NATIVE, base, slot, argc);
	emit_move(fs, dst, base);
}

static void call_generic(fstate *fs, const ast_expr *e, int dst)
{
	int base = top_base(fs, dst);
	int nargs = e->u.call.nargs, nkw = 0;
	expr_to(fs, e->u.call.callee, base);
	for (int q = 0; q < nargs; q++)
		if (!e->u.call.args[q].name)
			expr_to(fs, e->u.call.args[q].value, reg_alloc(fs));
	value names = list_new(4);
	for (int q = 0; q < nargs; q++)
		if (e->u.call.args[q].name) {
			expr_to(fs, e->u.call.args[q].value, reg_alloc(fs));
			list_append_take(names, str_from_c(e->u.call.args[q].name));
			nkw++;
		}
	fs->cur = e->where;
	emitABC(fs, OP_CALL, base, nargs, nkw);
	if (nkw)
		emitABx(fs, OP_EXTRAARG, 0, kadd(fs, names));
	else
		val_rele(names);
	emit_move(fs, dst, base);
}

static const ast_decl *method_of(const ast_decl *actor, const char *name)
{
	if (!actor)
		return NULL;
	for (int j = 0; j < actor->u.actor.nmethods; j++)
		if (!strcmp(actor->u.actor.methods[j]->name, name))
			return actor->u.actor.methods[j];
	return NULL;
}

static void expr_call(fstate *fs, const ast_expr *e, int dst)
{
	cstate *cs = fs->cs;
	const ast_expr *callee = e->u.call.callee;
	const ast_ref *ref = NULL;
	const char *name = NULL;
	if (callee->kind == E_NAME) {
		ref = &callee->u.name.ref;
		name = callee->u.name.name;
	} else if (callee->kind == E_FIELD && callee->u.field.ref.kind != REF_UNRESOLVED) {
		ref = &callee->u.field.ref;
		name = callee->u.field.name;
	}
	if (ref && ref->kind == REF_DECL && ref->decl) {
		const ast_decl *d = ref->decl;
		declinfo *di = find_decl(cs, d);
		if (!di) {
			cerror(fs, e->where, "internal error: unknown declaration '%s'", name);
			return;
		}
		int base = top_base(fs, dst);
		if (d->kind == D_ACTOR) {
			const bc_actor *a = cs->prog->actors[di->index];
			const ast_decl *init = method_of(d, "init");
			if (init)
				proto_args(fs, e, init, base);
			else if (e->u.call.nargs)
				cerror(fs, e->where, "actor '%s' has no init: it takes no arguments", a->name);
			fs->cur = e->where;
			emitABx(fs, OP_NEWACTOR, base, di->index);
		} else {
			proto_args(fs, e, d, base);
			fs->cur = e->where;
			emitABx(fs, d->kind == D_TASK ? OP_CALLT : OP_CALLP, base, di->index);
		}
		emit_move(fs, dst, base);
		return;
	}
	if (ref && ref->kind == REF_BUILTIN) {
		const native_def *d = builtin_of(ref, name);
		if (!d) {
			cerror(fs, callee->where, "unknown builtin '%s'", name);
			return;
		}
		call_native(fs, e, d, dst);
		return;
	}
	if (callee->kind == E_FIELD && callee->u.field.ref.kind == REF_UNRESOLVED) {
		const ast_expr *obj = callee->u.field.obj;
		if (obj->kind == E_NAME && obj->u.name.ref.kind == REF_SELF) {
			const ast_decl *m = method_of(fs->actor, callee->u.field.name);
			if (m) {
				declinfo *di = find_decl(cs, m);
				int base = top_base(fs, dst);
				proto_args(fs, e, m, base);
				fs->cur = e->where;
				emitABx(fs, OP_CALLP, base, di ? di->index : 0);
				emit_move(fs, dst, base);
				return;
			}
			call_generic(fs, e, dst);
			return;
		}
		call_method(fs, e, dst);
		return;
	}
	call_generic(fs, e, dst);
}

/* ---- expressions ---------------------------------------------------------- */

static bool is_cmp(ast_binop op)
{
	return op == BIN_EQ || op == BIN_NE || op == BIN_LT || op == BIN_LE || op == BIN_GT || op == BIN_GE;
}

/* dst = a op b for registers a, b. */
static void emit_binop(fstate *fs, ast_binop op, int dst, int a, int b)
{
	switch (op) {
	case BIN_ADD: emitABC(fs, OP_ADD, dst, a, b); break;
	case BIN_SUB: emitABC(fs, OP_SUB, dst, a, b); break;
	case BIN_MUL: emitABC(fs, OP_MUL, dst, a, b); break;
	case BIN_DIV: emitABC(fs, OP_DIV, dst, a, b); break;
	case BIN_FLOORDIV: emitABC(fs, OP_FLOORDIV, dst, a, b); break;
	case BIN_MOD: emitABC(fs, OP_MOD, dst, a, b); break;
	case BIN_POW: emitABC(fs, OP_POW, dst, a, b); break;
	case BIN_MATMUL: emitABC(fs, OP_MATMUL, dst, a, b); break;
	case BIN_EQ: emitABC(fs, OP_EQ, dst, a, b); break;
	case BIN_NE: emitABC(fs, OP_NE, dst, a, b); break;
	case BIN_LT: emitABC(fs, OP_LT, dst, a, b); break;
	case BIN_LE: emitABC(fs, OP_LE, dst, a, b); break;
	case BIN_GT: emitABC(fs, OP_LT, dst, b, a); break;
	case BIN_GE: emitABC(fs, OP_LE, dst, b, a); break;
	case BIN_IN: emitABC(fs, OP_IN, dst, a, b); break;
	case BIN_NOTIN: emitABC(fs, OP_NOTIN, dst, a, b); break;
	default: break;
	}
}

/* Emits "if (a op b) == want: jump" (the JMP is returned for patching). */
static int emit_cmp_jump(fstate *fs, ast_binop op, int a, int b, bool want)
{
	switch (op) {
	case BIN_EQ: emitABC(fs, OP_IFEQ, a, b, want); break;
	case BIN_NE: emitABC(fs, OP_IFEQ, a, b, !want); break;
	case BIN_LT: emitABC(fs, OP_IFLT, a, b, want); break;
	case BIN_LE: emitABC(fs, OP_IFLE, a, b, want); break;
	case BIN_GT: emitABC(fs, OP_IFLT, b, a, want); break;
	default: emitABC(fs, OP_IFLE, b, a, want); break; /* GE */
	}
	return emit_jump(fs);
}

/* Jumps (added to jl) when truthy(e) == jump_if; falls through otherwise. */
static void cond_jump(fstate *fs, const ast_expr *e, bool jump_if, intlist *jl)
{
	int save = fs->freereg;
	span old = fs->cur;
	fs->cur = e->where;
	if (e->kind == E_BOOL) {
		if (e->u.b == jump_if)
			il_add(jl, emit_jump(fs));
	} else if (e->kind == E_UNARY && e->u.unary.op == UN_NOT) {
		cond_jump(fs, e->u.unary.operand, !jump_if, jl);
	} else if (e->kind == E_BINARY && (e->u.binary.op == BIN_AND || e->u.binary.op == BIN_OR)) {
		bool is_and = e->u.binary.op == BIN_AND;
		if (is_and != jump_if) {
			/* and/jump-if-false, or/jump-if-true: either side decides */
			cond_jump(fs, e->u.binary.left, jump_if, jl);
			cond_jump(fs, e->u.binary.right, jump_if, jl);
		} else {
			intlist skip = { 0 };
			cond_jump(fs, e->u.binary.left, !jump_if, &skip);
			cond_jump(fs, e->u.binary.right, jump_if, jl);
			patch_here(fs, &skip);
		}
	} else if ((e->kind == E_BINARY && is_cmp(e->u.binary.op)) ||
	           (e->kind == E_COMPARE && e->u.compare.noperands == 2 && is_cmp(e->u.compare.ops[0]))) {
		const ast_expr *l = e->kind == E_BINARY ? e->u.binary.left : e->u.compare.operands[0];
		const ast_expr *r = e->kind == E_BINARY ? e->u.binary.right : e->u.compare.operands[1];
		ast_binop op = e->kind == E_BINARY ? e->u.binary.op : e->u.compare.ops[0];
		int a = expr_any(fs, l);
		int b = expr_any(fs, r);
		fs->cur = e->where;
		il_add(jl, emit_cmp_jump(fs, op, a, b, jump_if));
	} else {
		int r = expr_any(fs, e);
		fs->cur = e->where;
		emitABC(fs, OP_TEST, r, 0, jump_if);
		il_add(jl, emit_jump(fs));
	}
	fs->cur = old;
	fs->freereg = save;
}

static void expr_list(fstate *fs, const ast_expr *e, int dst)
{
	int n = e->u.list.nitems;
	int base = top_base(fs, dst);
	if (n <= 200) {
		for (int j = 0; j < n; j++)
			expr_to(fs, e->u.list.items[j], reg_alloc(fs));
		fs->cur = e->where;
		emitABC(fs, OP_NEWLIST, base, n, 0);
	} else {
		emitABC(fs, OP_NEWLIST, base, 0, 0);
		for (int j = 0; j < n; j++) {
			int save = fs->freereg;
			int r = expr_any(fs, e->u.list.items[j]);
			emitABC(fs, OP_LISTAPPEND, base, r, 0);
			fs->freereg = save;
		}
	}
	emit_move(fs, dst, base);
}

static void expr_dict(fstate *fs, const ast_expr *e, int dst)
{
	int n = e->u.dict.nitems;
	int base = top_base(fs, dst);
	if (n <= 100) {
		for (int j = 0; j < n; j++) {
			expr_to(fs, e->u.dict.keys[j], reg_alloc(fs));
			expr_to(fs, e->u.dict.values[j], reg_alloc(fs));
		}
		fs->cur = e->where;
		emitABC(fs, OP_NEWDICT, base, n, 0);
	} else {
		emitABC(fs, OP_NEWDICT, base, 0, 0);
		for (int j = 0; j < n; j++) {
			int save = fs->freereg;
			int k = expr_any(fs, e->u.dict.keys[j]);
			int v = expr_any(fs, e->u.dict.values[j]);
			fs->cur = e->u.dict.keys[j]->where;
			emitABC(fs, OP_DICTSET, base, k, v);
			fs->freereg = save;
		}
	}
	emit_move(fs, dst, base);
}

/* Is iter a plain range(...) call, which loops count without a list? */
static bool is_range_call(const ast_expr *it)
{
	if (it->kind != E_CALL || it->u.call.callee->kind != E_NAME)
		return false;
	const ast_ref *r = &it->u.call.callee->u.name.ref;
	if (r->kind != REF_BUILTIN || r->stdmod || strcmp(it->u.call.callee->u.name.name, "range"))
		return false;
	if (it->u.call.nargs < 1 || it->u.call.nargs > 3)
		return false;
	for (int j = 0; j < it->u.call.nargs; j++)
		if (it->u.call.args[j].name)
			return false;
	return true;
}

/* Unpacks the list in register src into registers dst[0..n): UNPACK for
 * two names, else the __unpack check (a list of exactly n items) and one
 * INDEX per name, so each piece of a run-time value is its own node. */
static void emit_unpack(fstate *fs, int src, const int *dst, int n, span where)
{
	fs->cur = where;
	if (n == 2) {
		emitABC(fs, OP_UNPACK, src, dst[0], dst[1]);
		return;
	}
	int save = fs->freereg;
	const native_def *d = native_builtin("__unpack");
	int base = reg_alloc(fs);
	reg_alloc(fs);
	emit_move(fs, base, src);
	emitABx(fs, OP_LOADI, base + 1, 32767 + n);
	fs->cur = where;
	emitABC(fs, OP_NATIVE, base, native_slot(fs, d), 2);
	int k = reg_alloc(fs);
	for (int j = 0; j < n; j++) {
		emitABx(fs, OP_LOADI, k, 32767 + j);
		fs->cur = where;
		emitABC(fs, OP_INDEX, dst[j], base, k);
	}
	fs->freereg = save;
}

/* A for loop (statement or comprehension clause). body(fs, arg) compiles
 * the body; break/continue are handled by the statement form. */
typedef void (*body_fn)(fstate *fs, const void *arg, int idx);

static void for_loop(fstate *fs, const char *const *names, const int *locals, int nnames,
                     const ast_expr *iter, span where, body_fn body, const void *arg, int idx,
                     loopctx *lc)
{
	int save = fs->freereg;
	if (nnames == 1 && is_range_call(iter)) {
		int b = reg_alloc(fs);
		reg_alloc(fs);
		reg_alloc(fs);
		int na = iter->u.call.nargs;
		const ast_arg *a = iter->u.call.args;
		if (na == 1) {
			emitABx(fs, OP_LOADI, b, 32767);
			expr_to(fs, a[0].value, b + 1);
		} else {
			expr_to(fs, a[0].value, b);
			expr_to(fs, a[1].value, b + 1);
		}
		if (na == 3)
			expr_to(fs, a[2].value, b + 2);
		else
			emitABx(fs, OP_LOADI, b + 2, 32767 + 1);
		fs->cur = iter->where;
		int prep = emitABx(fs, OP_FORPREP, b, 0);
		int start = fs->ncode;
		emit_move(fs, locals[0], b);
		body(fs, arg, idx);
		if (lc)
			patch_here(fs, &lc->cont);
		fs->cur = where;
		int loop = emitABx(fs, OP_FORLOOP, b, 0);
		patch_jump(fs, loop, start);
		patch_jump(fs, prep, fs->ncode);
	} else {
		int b = reg_alloc(fs);
		reg_alloc(fs);
		int src = expr_any(fs, iter);
		fs->cur = iter->where;
		/* C 1: src is a temporary no name can reach (`for w in s.split()`):
		 * a list only it holds is iterated as it is, not copied */
		bool temp = !(iter->kind == E_NAME && iter->u.name.ref.kind == REF_LOCAL);
		emitABC(fs, OP_ITERPREP, b, src, temp);
		int target = nnames == 1 ? locals[0] : reg_alloc(fs);
		int top = fs->ncode;
		emitABC(fs, OP_ITERNEXT, b, target, 0);
		int exit = emit_jump(fs);
		if (nnames > 1)
			emit_unpack(fs, target, locals, nnames, where);
		(void)names;
		body(fs, arg, idx);
		if (lc)
			patch_here(fs, &lc->cont);
		fs->cur = where;
		patch_jump(fs, emit_jump(fs), top);
		patch_jump(fs, exit, fs->ncode);
	}
	fs->freereg = save;
}

typedef struct compctx {
	const ast_expr *e;
	int list;
} compctx;

static void comp_body(fstate *fs, const void *arg, int idx)
{
	const compctx *cc = arg;
	const ast_expr *e = cc->e;
	if (idx == e->u.comp.nclauses) {
		int save = fs->freereg;
		if (e->u.comp.key) {
			int k = expr_any(fs, e->u.comp.key);
			int v = expr_any(fs, e->u.comp.elt);
			fs->cur = e->where;
			emitABC(fs, OP_DICTSET, cc->list, k, v);
		} else {
			int r = expr_any(fs, e->u.comp.elt);
			fs->cur = e->where;
			emitABC(fs, OP_LISTAPPEND, cc->list, r, 0);
		}
		fs->freereg = save;
		return;
	}
	const ast_compclause *c = &e->u.comp.clauses[idx];
	if (c->is_if) {
		intlist skip = { 0 };
		cond_jump(fs, c->cond, false, &skip);
		comp_body(fs, arg, idx + 1);
		patch_here(fs, &skip);
		return;
	}
	for_loop(fs, c->names, c->local, c->nnames, c->iter, e->where, comp_body, arg, idx + 1, NULL);
}

static void expr_comp(fstate *fs, const ast_expr *e, int dst)
{
	int base = top_base(fs, dst);
	emitABC(fs, e->u.comp.key ? OP_NEWDICT : OP_NEWLIST, base, 0, 0);
	compctx cc = { e, base };
	comp_body(fs, &cc, 0);
	emit_move(fs, dst, base);
}

static void expr_fstring(fstate *fs, const ast_expr *e, int dst)
{
	int n = e->u.fstr.nparts;
	if (n == 0) {
		emit_loadk(fs, dst, str_new("", 0));
		return;
	}
	if (n == 1 && e->u.fstr.parts[0].text) {
		emit_loadk(fs, dst, str_new(e->u.fstr.parts[0].text, e->u.fstr.parts[0].text_len));
		return;
	}
	int base = top_base(fs, dst);
	for (int j = 0; j < n; j++) {
		const ast_fpart *fp = &e->u.fstr.parts[j];
		int r = j == 0 ? base : reg_alloc(fs);
		if (fp->text) {
			emit_loadk(fs, r, str_new(fp->text, fp->text_len));
			continue;
		}
		int save = fs->freereg;
		int v = expr_any(fs, fp->expr);
		fs->cur = fp->expr->where;
		if (fp->spec) {
			int sr = reg_alloc(fs);
			if (fp->spec_expr)
				expr_to(fs, fp->spec_expr, sr); /* {x:>{width}} */
			else
				emit_loadk(fs, sr, str_from_c(fp->spec));
			fs->cur = fp->expr->where;
			emitABC(fs, OP_FORMAT, r, v, sr);
		} else {
			emitABC(fs, OP_TOSTR, r, v, 0);
		}
		fs->cur = e->where;
		fs->freereg = save;
	}
	if (n > 1)
		emitABC(fs, OP_CONCAT, base, base, n);
	emit_move(fs, dst, base);
}

/* Expressions that may read dst after writing part of their result. */
static bool writes_early(const ast_expr *e)
{
	switch (e->kind) {
	case E_BINARY: return e->u.binary.op == BIN_AND || e->u.binary.op == BIN_OR;
	case E_COMPARE: return e->u.compare.noperands > 2;
	case E_TERNARY: case E_COMP: return true;
	default: return false;
	}
}

static void expr_to(fstate *fs, const ast_expr *e, int dst)
{
	int save = fs->freereg;
	span old = fs->cur;
	fs->cur = e->where;
	if (dst < fs->nlocals && writes_early(e)) {
		int t = reg_alloc(fs);
		expr_to(fs, e, t);
		emit_move(fs, dst, t);
		goto done;
	}
	switch (e->kind) {
	case E_NONE:
		emitABC(fs, OP_LOADNONE, dst, 0, 0);
		break;
	case E_BOOL:
		emitABC(fs, OP_LOADBOOL, dst, e->u.b, 0);
		break;
	case E_INT:
		if (e->u.i >= -32767 && e->u.i <= 32768)
			emitABx(fs, OP_LOADI, dst, (int)(e->u.i + 32767));
		else
			emit_loadk(fs, dst, v_int(e->u.i));
		break;
	case E_FLOAT:
		emit_loadk(fs, dst, v_float(e->u.f));
		break;
	case E_STR:
		emit_loadk(fs, dst, str_new(e->u.str.s, e->u.str.len));
		break;
	case E_FSTRING:
		expr_fstring(fs, e, dst);
		break;
	case E_NAME:
		load_ref(fs, &e->u.name.ref, e->u.name.name, e->where, dst);
		break;
	case E_LIST:
		expr_list(fs, e, dst);
		break;
	case E_DICT:
		expr_dict(fs, e, dst);
		break;
	case E_COMP:
		expr_comp(fs, e, dst);
		break;
	case E_UNARY: {
		if (e->u.unary.op == UN_NEG && e->u.unary.operand->kind == E_INT &&
		    e->u.unary.operand->u.i <= 32767) {
			emitABx(fs, OP_LOADI, dst, (int)(32767 - e->u.unary.operand->u.i));
			break;
		}
		if (e->u.unary.op == UN_NEG && e->u.unary.operand->kind == E_FLOAT) {
			emit_loadk(fs, dst, v_float(-e->u.unary.operand->u.f));
			break;
		}
		int r = expr_any(fs, e->u.unary.operand);
		fs->cur = e->where;
		emitABC(fs, e->u.unary.op == UN_NEG ? OP_NEG : OP_NOT, dst, r, 0);
		break;
	}
	case E_BINARY: {
		ast_binop op = e->u.binary.op;
		if (op == BIN_AND || op == BIN_OR) {
			/* the deciding operand is the result, as in Python */
			expr_to(fs, e->u.binary.left, dst);
			fs->cur = e->where;
			emitABC(fs, OP_TEST, dst, 0, op == BIN_OR);
			int j = emit_jump(fs);
			expr_to(fs, e->u.binary.right, dst);
			patch_jump(fs, j, fs->ncode);
			break;
		}
		const ast_expr *r = e->u.binary.right;
		if ((op == BIN_ADD || op == BIN_SUB) && r->kind == E_INT && r->u.i >= 0 && r->u.i <= 127) {
			int a = expr_any(fs, e->u.binary.left);
			fs->cur = e->where;
			int imm = (int)(op == BIN_ADD ? r->u.i : -r->u.i);
			emitABC(fs, OP_ADDI, dst, a, imm + 128);
			break;
		}
		int a = expr_any(fs, e->u.binary.left);
		int b = expr_any(fs, r);
		fs->cur = e->where;
		emit_binop(fs, op, dst, a, b);
		break;
	}
	case E_COMPARE: {
		int n = e->u.compare.noperands;
		if (n == 2) {
			int a = expr_any(fs, e->u.compare.operands[0]);
			int b = expr_any(fs, e->u.compare.operands[1]);
			fs->cur = e->where;
			emit_binop(fs, e->u.compare.ops[0], dst, a, b);
			break;
		}
		intlist done = { 0 };
		int prev = reg_alloc(fs);
		expr_to(fs, e->u.compare.operands[0], prev);
		for (int j = 1; j < n; j++) {
			int cur = reg_alloc(fs);
			expr_to(fs, e->u.compare.operands[j], cur);
			fs->cur = e->where;
			emit_binop(fs, e->u.compare.ops[j - 1], dst, prev, cur);
			if (j < n - 1) {
				emitABC(fs, OP_TEST, dst, 0, 0);
				il_add(&done, emit_jump(fs));
			}
			prev = cur;
		}
		patch_here(fs, &done);
		break;
	}
	case E_TERNARY: {
		intlist no = { 0 };
		cond_jump(fs, e->u.ternary.cond, false, &no);
		expr_to(fs, e->u.ternary.then, dst);
		int j = emit_jump(fs);
		patch_here(fs, &no);
		expr_to(fs, e->u.ternary.otherwise, dst);
		patch_jump(fs, j, fs->ncode);
		break;
	}
	case E_CALL:
		expr_call(fs, e, dst);
		break;
	case E_INDEX: {
		int o = expr_any(fs, e->u.index.obj);
		int i = expr_any(fs, e->u.index.index);
		fs->cur = e->where;
		emitABC(fs, OP_INDEX, dst, o, i);
		break;
	}
	case E_SLICE: {
		int b = reg_alloc(fs);
		reg_alloc(fs);
		reg_alloc(fs);
		reg_alloc(fs);
		int mask = 0;
		expr_to(fs, e->u.slice.obj, b);
		const ast_expr *parts[3] = { e->u.slice.lo, e->u.slice.hi, e->u.slice.step };
		for (int j = 0; j < 3; j++)
			if (parts[j]) {
				expr_to(fs, parts[j], b + 1 + j);
				mask |= 1 << j;
			}
		fs->cur = e->where;
		emitABC(fs, OP_SLICE, dst, b, mask);
		break;
	}
	case E_FIELD: {
		const ast_ref *ref = &e->u.field.ref;
		if (ref->kind != REF_UNRESOLVED) {
			load_ref(fs, ref, e->u.field.name, e->where, dst);
			break;
		}
		const ast_expr *obj = e->u.field.obj;
		if (obj->kind == E_NAME && obj->u.name.ref.kind == REF_SELF) {
			emitABx(fs, OP_GETSELF, dst, kstr(fs, e->u.field.name));
			break;
		}
		int o = expr_any(fs, obj);
		int k = reg_alloc(fs);
		emit_loadk(fs, k, str_from_c(e->u.field.name));
		fs->cur = e->where;
		emitABC(fs, OP_BINDMETHOD, dst, o, k);
		break;
	}
	}
done:
	fs->cur = old;
	fs->freereg = save;
}

static int expr_any(fstate *fs, const ast_expr *e)
{
	if (e->kind == E_NAME && e->u.name.ref.kind == REF_LOCAL)
		return e->u.name.ref.slot;
	int r = reg_alloc(fs);
	expr_to(fs, e, r);
	return r;
}

/* ---- statements ------------------------------------------------------------- */

static void block(fstate *fs, const ast_block *b)
{
	for (int j = 0; j < b->nstmts; j++)
		stmt(fs, b->stmts[j]);
}

static const ast_expr *fake_value_of(const ast_stmt *s)
{
	return s->u.assign.value;
}

static ast_binop assign_binop(ast_assignop op)
{
	switch (op) {
	case ASSIGN_ADD: return BIN_ADD;
	case ASSIGN_SUB: return BIN_SUB;
	case ASSIGN_MUL: return BIN_MUL;
	default: return BIN_DIV;
	}
}

/* target = value in register r (plain assignment from a register). */
static void assign_reg(fstate *fs, const ast_expr *t, int r)
{
	if (t->kind == E_NAME && t->u.name.ref.kind == REF_LOCAL) {
		emit_move(fs, t->u.name.ref.slot, r);
	} else if (t->kind == E_FIELD && t->u.field.obj->kind == E_NAME &&
	           t->u.field.obj->u.name.ref.kind == REF_SELF) {
		emitABx(fs, OP_SETSELF, r, kstr(fs, t->u.field.name));
	} else if (t->kind == E_INDEX) {
		place *pl = compile_place(fs, t->u.index.obj);
		int i = expr_any(fs, t->u.index.index);
		fs->cur = t->where;
		emitABC(fs, OP_SETINDEX, pl->reg, i, r);
		writeback(fs, pl, pl->reg);
	} else {
		cerror(fs, t->where, "cannot assign to this expression%s", "");
	}
}

static void stmt_assign(fstate *fs, const ast_stmt *s)
{
	const ast_expr *t = s->u.assign.targets[0];
	const ast_expr *v = fake_value_of(s);
	if (s->u.assign.ntargets > 1) {
		int n = s->u.assign.ntargets;
		int src = expr_any(fs, v);
		int *regs = arena_alloc(fs->cs->ar, sizeof *regs * (size_t)n);
		for (int j = 0; j < n; j++)
			regs[j] = reg_alloc(fs);
		emit_unpack(fs, src, regs, n, s->where);
		for (int j = 0; j < n; j++)
			assign_reg(fs, s->u.assign.targets[j], regs[j]);
		return;
	}
	if (t->kind == E_NAME && t->u.name.ref.kind != REF_LOCAL) {
		cerror(fs, t->where, "cannot assign to '%s': only locals can be assigned", t->u.name.name);
		return;
	}
	if (s->u.assign.op == ASSIGN_SET) {
		if (t->kind == E_NAME) {
			expr_to(fs, v, t->u.name.ref.slot);
			return;
		}
		int r = expr_any(fs, v);
		assign_reg(fs, t, r);
		return;
	}
	ast_binop op = assign_binop(s->u.assign.op);
	if (t->kind == E_NAME) {
		int slot = t->u.name.ref.slot;
		if ((op == BIN_ADD || op == BIN_SUB) && v->kind == E_INT && v->u.i >= 0 && v->u.i <= 127) {
			int imm = (int)(op == BIN_ADD ? v->u.i : -v->u.i);
			emitABC(fs, OP_ADDI, slot, slot, imm + 128);
			return;
		}
		int r = expr_any(fs, v);
		fs->cur = s->where;
		emit_binop(fs, op, slot, slot, r);
		return;
	}
	/* a[i] += v, self.x += v: read, operate, write back */
	place *pl = compile_place(fs, t);
	int r = expr_any(fs, v);
	fs->cur = s->where;
	emit_binop(fs, op, pl->reg, pl->reg, r);
	if (pl->kind == P_LOCAL || pl->kind == P_NONE)
		cerror(fs, t->where, "cannot assign to this expression%s", "");
	else
		writeback(fs, pl, pl->reg);
}

static void loop_body(fstate *fs, const void *arg, int idx)
{
	(void)idx;
	block(fs, arg);
}

static void stmt(fstate *fs, const ast_stmt *s)
{
	int save = fs->freereg;
	fs->cur = s->where;
	switch (s->kind) {
	case S_EXPR: {
		int r = reg_alloc(fs);
		expr_to(fs, s->u.expr, r);
		break;
	}
	case S_LET:
		if (s->u.let.nnames > 1) {
			int src = expr_any(fs, s->u.let.value);
			emit_unpack(fs, src, s->u.let.local, s->u.let.nnames, s->where);
		} else {
			int slot = s->u.let.local[0];
			if (s->u.let.value)
				expr_to(fs, s->u.let.value, slot);
			else
				emitABC(fs, OP_LOADNONE, slot, 0, 0);
			if (s->u.let.type.name && bc_tcode(s->u.let.type.name) != BC_T_ANY) {
				fs->cur = s->u.let.value ? s->u.let.value->where : s->where;
				emitABx(fs, OP_CHECKTYPE, slot, kstr(fs, s->u.let.type.name));
			}
		}
		break;
	case S_ASSIGN:
		stmt_assign(fs, s);
		break;
	case S_IF: {
		intlist no = { 0 };
		cond_jump(fs, s->u.if_.cond, false, &no);
		block(fs, &s->u.if_.then);
		if (s->u.if_.otherwise) {
			int j = emit_jump(fs);
			patch_here(fs, &no);
			stmt(fs, s->u.if_.otherwise);
			patch_jump(fs, j, fs->ncode);
		} else {
			patch_here(fs, &no);
		}
		break;
	}
	case S_WHILE: {
		/* the test sits after the body: one jump per iteration */
		loopctx lc = { { 0 }, { 0 }, fs->loop, fs->trydepth };
		fs->loop = &lc;
		int first = emit_jump(fs);
		int body = fs->ncode;
		block(fs, &s->u.while_.body);
		patch_here(fs, &lc.cont);
		patch_jump(fs, first, fs->ncode);
		intlist again = { 0 };
		cond_jump(fs, s->u.while_.cond, true, &again);
		for (int j = 0; j < again.n; j++)
			patch_jump(fs, again.v[j], body);
		free(again.v);
		patch_here(fs, &lc.brk);
		fs->loop = lc.outer;
		break;
	}
	case S_FOR: {
		loopctx lc = { { 0 }, { 0 }, fs->loop, fs->trydepth };
		fs->loop = &lc;
		for_loop(fs, s->u.for_.names, s->u.for_.local, s->u.for_.nnames, s->u.for_.iter,
		         s->where, loop_body, &s->u.for_.body, 0, &lc);
		patch_here(fs, &lc.brk);
		fs->loop = lc.outer;
		break;
	}
	case S_BREAK:
	case S_CONTINUE:
		if (!fs->loop) {
			cerror(fs, s->where, "'%s' outside a loop", s->kind == S_BREAK ? "break" : "continue");
			break;
		}
		/* leaving try blocks closes their handlers */
		for (int j = fs->loop->trydepth; j < fs->trydepth; j++)
			emitABC(fs, OP_ENDTRY, 0, 0, 0);
		il_add(s->kind == S_BREAK ? &fs->loop->brk : &fs->loop->cont, emit_jump(fs));
		break;
	case S_RETURN:
		if (fs->ylist >= 0) {
			/* a task that yields returns its stream's values */
			if (s->u.ret)
				expr_any(fs, s->u.ret);
			fs->cur = s->where;
			emitABC(fs, OP_RETURN, fs->ylist, 0, 0);
		} else if (s->u.ret) {
			int r = expr_any(fs, s->u.ret);
			fs->cur = s->where;
			emitABC(fs, OP_RETURN, r, 0, 0);
		} else {
			emitABC(fs, OP_RETURN0, 0, 0, 0);
		}
		break;
	case S_BLOCK:
		block(fs, &s->u.block);
		break;
	case S_TRY: {
		/* TRY r, handler; body; ENDTRY; JMP end; handler: ...; end:
		 * (plan_read relies on this shape) */
		int r = s->u.try_.name && s->u.try_.local >= 0 ? s->u.try_.local : reg_alloc(fs);
		fs->cur = s->where;
		int t = emitABx(fs, OP_TRY, r, 0);
		fs->trydepth++;
		block(fs, &s->u.try_.body);
		fs->trydepth--;
		emitABC(fs, OP_ENDTRY, 0, 0, 0);
		int j = emit_jump(fs);
		patch_jump(fs, t, fs->ncode);
		block(fs, &s->u.try_.handler);
		patch_jump(fs, j, fs->ncode);
		break;
	}
	case S_YIELD: {
		int r = expr_any(fs, s->u.ret);
		fs->cur = s->where;
		if (fs->ylist >= 0)
			emitABC(fs, OP_YIELD, fs->ylist, r, 0);
		break;
	}
	}
	fs->freereg = save;
}

/* ---- protos ------------------------------------------------------------------- */

static void fs_init(fstate *fs, cstate *cs, bc_proto *p, int nlocals)
{
	memset(fs, 0, sizeof *fs);
	fs->cs = cs;
	fs->p = p;
	fs->modidx = p->module;
	fs->nlocals = nlocals;
	fs->freereg = nlocals;
	fs->maxreg = nlocals;
	fs->ylist = -1;
	fs->cur = p->where;
	if (nlocals > MAXREG)
		cerror(fs, p->where, "'%s' has too many local variables", p->name);
}

static void fs_finish(fstate *fs)
{
	bc_proto *p = fs->p;
	fs->cur = p->where;
	if (p->kind == PROTO_DRIVER || p->ret_tcode == BC_T_ANY || p->ret_tcode == BC_T_NONE ||
	    fs->ncode == 0 || BC_OP(fs->code[fs->ncode - 1]) != OP_RETURN)
		emitABC(fs, OP_RETURN0, 0, 0, 0);
	p->code = fs->code;
	p->lines = fs->lines;
	p->ncode = fs->ncode;
	p->consts = fs->consts;
	p->nconsts = fs->nconsts;
	p->nregs = fs->maxreg > 0 ? fs->maxreg : 1;
	p->natives = arena_alloc(fs->cs->ar, sizeof(*p->natives) * (size_t)(fs->nnatives + 1));
	if (fs->nnatives)
		memcpy(p->natives, fs->natives, sizeof(*p->natives) * (size_t)fs->nnatives);
	p->nnatives = fs->nnatives;
	p->msites = arena_alloc(fs->cs->ar, sizeof(bc_msite) * (size_t)(fs->nmsites + 1));
	if (fs->nmsites)
		memcpy(p->msites, fs->msites, sizeof(bc_msite) * (size_t)fs->nmsites);
	p->nmsites = fs->nmsites;
	free(fs->natives);
	free(fs->msites);
	free(fs->kindex);
}

static bc_proto *proto_new(cstate *cs, bc_proto_kind kind, const char *name, int module, span where)
{
	bc_proto *p = arena_alloc(cs->ar, sizeof *p);
	p->kind = kind;
	p->name = arena_strdup(cs->ar, name);
	p->module = module;
	p->where = where;
	p->index = -1;
	return p;
}

static double num_arg(const ast_decorator *dc, int j, double dflt)
{
	if (j >= dc->nargs)
		return dflt;
	const ast_expr *e = dc->args[j].value;
	if (e->kind == E_INT)
		return (double)e->u.i;
	if (e->kind == E_FLOAT)
		return e->u.f;
	return dflt;
}

/* "2GiB", "512MiB", "1GB", "100k", plain numbers. */
static int64_t parse_memory(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	while (*end == ' ')
		end++;
	double mul = 1;
	char u = (char)(*end | 0x20);
	bool bin = end[0] && (end[1] == 'i' || end[1] == 'I');
	double base = bin ? 1024.0 : 1000.0;
	switch (u) {
	case 'k': mul = base; break;
	case 'm': mul = base * base; break;
	case 'g': mul = base * base * base; break;
	case 't': mul = base * base * base * base; break;
	default: mul = 1; break;
	}
	return (int64_t)(v * mul);
}

static void attrs_from(cstate *cs, const ast_decl *d, bc_attrs *a, bool is_task)
{
	memset(a, 0, sizeof *a);
	a->cpus = is_task ? 1 : 0;
	for (int j = 0; j < d->ndecorators; j++) {
		const ast_decorator *dc = &d->decorators[j];
		if (!strcmp(dc->name, "cpus"))
			a->cpus = num_arg(dc, 0, a->cpus);
		else if (!strcmp(dc->name, "memory")) {
			if (dc->nargs > 0 && dc->args[0].value->kind == E_STR)
				a->memory = parse_memory(dc->args[0].value->u.str.s);
			else
				a->memory = (int64_t)num_arg(dc, 0, 0);
		} else if (!strcmp(dc->name, "retries"))
			a->retries = (int)num_arg(dc, 0, 0);
		else if (!strcmp(dc->name, "timeout"))
			a->timeout = num_arg(dc, 0, 0);
		else if (!strcmp(dc->name, "associative"))
			a->associative = true;
		else if (!strcmp(dc->name, "cache"))
			a->cache = true;
		else if (!strcmp(dc->name, "idempotent"))
			a->idempotent = true;
		else if (!strcmp(dc->name, "restarts"))
			a->restarts = (int)num_arg(dc, 0, 0);
		else if (!strcmp(dc->name, "resources")) {
			a->nresources = dc->nargs;
			a->res_names = arena_alloc(cs->ar, sizeof(char *) * (size_t)(dc->nargs + 1));
			a->res_amounts = arena_alloc(cs->ar, sizeof(double) * (size_t)(dc->nargs + 1));
			for (int q = 0; q < dc->nargs; q++) {
				a->res_names[q] = arena_strdup(cs->ar, dc->args[q].name ? dc->args[q].name : "?");
				a->res_amounts[q] = num_arg(dc, q, 0);
			}
		}
	}
}

static void set_params(cstate *cs, bc_proto *p, const ast_decl *d)
{
	p->nparams = d->u.fn.nparams;
	p->params = arena_alloc(cs->ar, sizeof(bc_param) * (size_t)(p->nparams + 1));
	p->ptcode = arena_alloc(cs->ar, (size_t)p->nparams + 1);
	for (int j = 0; j < p->nparams; j++) {
		const ast_param *ap = &d->u.fn.params[j];
		p->params[j].name = arena_strdup(cs->ar, ap->name);
		p->params[j].type = ap->type.name ? arena_strdup(cs->ar, ap->type.name) : NULL;
		p->params[j].has_default = ap->deflt != NULL;
		p->params[j].deflt = v_none();
		p->ptcode[j] = (uint8_t)bc_tcode(ap->type.name);
		if (p->ptcode[j] != BC_T_ANY)
			p->checks = true;
	}
	p->ret_type = d->u.fn.ret.name ? arena_strdup(cs->ar, d->u.fn.ret.name) : NULL;
	p->ret_tcode = (uint8_t)bc_tcode(p->ret_type);
}

static bool block_yields(const ast_block *b);

static bool stmt_yields(const ast_stmt *s)
{
	if (!s)
		return false;
	switch (s->kind) {
	case S_YIELD: return true;
	case S_IF: return block_yields(&s->u.if_.then) || stmt_yields(s->u.if_.otherwise);
	case S_WHILE: return block_yields(&s->u.while_.body);
	case S_FOR: return block_yields(&s->u.for_.body);
	case S_BLOCK: return block_yields(&s->u.block);
	case S_TRY: return block_yields(&s->u.try_.body) || block_yields(&s->u.try_.handler);
	default: return false;
	}
}

static bool block_yields(const ast_block *b)
{
	for (int j = 0; j < b->nstmts; j++)
		if (stmt_yields(b->stmts[j]))
			return true;
	return false;
}

static void compile_body(cstate *cs, bc_proto *p, const ast_decl *d)
{
	fstate fs;
	/* a task whose body yields returns a stream (LANGUAGE.md section 5):
	 * the values it yields, in order, gathered in one more local */
	bool stream = d->kind == D_TASK && block_yields(&d->u.fn.body);
	fs_init(&fs, cs, p, d->u.fn.nlocals + (stream ? 1 : 0));
	fs.actor = d->u.fn.actor;
	if (stream) {
		fs.ylist = d->u.fn.nlocals;
		p->ret_type = NULL;
		p->ret_tcode = BC_T_ANY;
		emitABC(&fs, OP_NEWLIST, fs.ylist, 0, 0);
	}
	block(&fs, &d->u.fn.body);
	if (stream) {
		fs.cur = p->where;
		emitABC(&fs, OP_RETURN, fs.ylist, 0, 0);
	}
	fs_finish(&fs);
}

/* ---- evaluating at compile time ---------------------------------------------- */

static int ch_call_task(flow_vm *vm, const bc_proto *t, value *a, int n, value *o)
{
	(void)a; (void)n; (void)o;
	return vm_raise(vm, "task '%s' cannot be called while computing params and consts", t->name);
}
static int ch_new_actor(flow_vm *vm, const bc_actor *c, value *a, int n, value *o)
{
	(void)a; (void)n; (void)o;
	return vm_raise(vm, "actor '%s' cannot be created while computing params and consts", c->name);
}
static int ch_call_method(flow_vm *vm, value h, const bc_proto *m, value *a, int n, value *o)
{
	(void)h; (void)a; (void)n; (void)o;
	return vm_raise(vm, "'%s' cannot be called while computing params and consts", m->name);
}
static int ch_get(flow_vm *vm, value f, value *o)
{
	const vfuture *fu = (const vfuture *)f.as.o;
	if (fu->state == FUT_DONE) {
		*o = val_hold(fu->result);
		return 0;
	}
	return vm_raise(vm, "%s", fu->error ? fu->error : "future not ready");
}
static int ch_wait(flow_vm *vm, value f, int64_t n, double t, value *o)
{
	(void)f; (void)n; (void)t; (void)o;
	return vm_raise(vm, "wait() cannot be used in params and consts");
}
static int ch_put(flow_vm *vm, value v, value *o)
{
	(void)vm;
	value c = val_hold(v);
	val_freeze(c);
	*o = future_new_done(c);
	val_rele(c);
	return 0;
}
static void ch_print(flow_vm *vm, const char *text, size_t len)
{
	(void)vm;
	fwrite(text, 1, len, stdout);
	fputc('\n', stdout);
}
static int ch_sleep(flow_vm *vm, double s)
{
	(void)vm; (void)s;
	return 0;
}

static const flow_host_ops const_host = {
	ch_call_task, ch_new_actor, ch_call_method, ch_get, ch_wait, ch_put, ch_print, ch_sleep,
};

/* Reports a runtime error at compile time (a const or default that fails). */
static void report_vm_error(cstate *cs, span where, flow_vm *vm, const char *what)
{
	cs->nerrors++;
	vm_error_place(vm, &where);
	diag_error(cs->diag, where, "%s%s", what, vm_error_message(vm));
}

/* Evaluates one expression (a default value) in a throwaway proto. */
static int const_eval(cstate *cs, flow_vm *vm, const ast_expr *e, int module, value *out,
                      const char *what)
{
	bc_proto *p = proto_new(cs, PROTO_FN, "<default>", module, e->where);
	fstate fs;
	fs_init(&fs, cs, p, 0);
	int r = reg_alloc(&fs);
	expr_to(&fs, e, r);
	emitABC(&fs, OP_RETURN, r, 0, 0);
	fs_finish(&fs);
	int rc = -1;
	if (cs->nerrors == 0) {
		rc = vm_run(vm, p, NULL, 0, out);
		if (rc)
			report_vm_error(cs, e->where, vm, what);
		else
			val_freeze(*out);
	}
	for (int j = 0; j < p->nconsts; j++)
		val_rele(p->consts[j]);
	free(p->code);
	free(p->consts);
	free(p->lines);
	return rc;
}

static void topo_visit(cstate *cs, const ast_module *m, bool *seen, int *order, int *n)
{
	int mi = module_index(cs, m);
	if (seen[mi])
		return;
	seen[mi] = true;
	for (int j = 0; j < m->ndecls; j++) {
		const ast_decl *d = m->decls[j];
		if (d->kind == D_IMPORT && d->u.import.is_file && d->u.import.target)
			topo_visit(cs, d->u.import.target, seen, order, n);
	}
	order[(*n)++] = mi;
}

/* ---- the program ------------------------------------------------------------------ */

static bc_proto *add_proto(cstate *cs, bc_proto *p, bc_proto ***protos, int *cap)
{
	bc_program *prog = cs->prog;
	*protos = grow(*protos, cap, prog->nprotos + 1, sizeof(bc_proto *));
	p->index = prog->nprotos;
	(*protos)[prog->nprotos++] = p;
	prog->protos = *protos;
	return p;
}

static void declare_all(cstate *cs)
{
	bc_program *prog = cs->prog;
	const flow_loader *l = cs->l;
	bc_proto **protos = NULL;
	int capp = 0;
	bc_actor **actors = NULL;
	int capa = 0;
	prog->nmodules = l->nmodules;
	prog->modules = arena_alloc(cs->ar, sizeof(bc_module) * (size_t)(l->nmodules + 1));
	for (int mi = 0; mi < l->nmodules; mi++) {
		const ast_module *m = l->modules[mi];
		bc_module *bm = &prog->modules[mi];
		bm->path = arena_strdup(cs->ar, m->path ? m->path : "?");
		bm->name = arena_strdup(cs->ar, m->name ? m->name : "?");
		int ng = 0;
		for (int j = 0; j < m->ndecls; j++)
			if (m->decls[j]->kind == D_PARAM || m->decls[j]->kind == D_CONST)
				ng++;
		bm->nglobals = ng;
		bm->global_names = arena_alloc(cs->ar, sizeof(char *) * (size_t)(ng + 1));
		bm->globals = arena_alloc(cs->ar, sizeof(value) * (size_t)(ng + 1));
		ng = 0;
		for (int j = 0; j < m->ndecls; j++) {
			const ast_decl *d = m->decls[j];
			switch (d->kind) {
			case D_PARAM:
			case D_CONST:
				bm->global_names[ng] = arena_strdup(cs->ar, d->name);
				add_decl(cs, d, mi, ng++);
				break;
			case D_FN:
			case D_TASK: {
				bc_proto *p = proto_new(cs, d->kind == D_TASK ? PROTO_TASK : PROTO_FN, d->name, mi, d->where);
				set_params(cs, p, d);
				attrs_from(cs, d, &p->attrs, d->kind == D_TASK);
				add_proto(cs, p, &protos, &capp);
				add_decl(cs, d, mi, p->index);
				break;
			}
			case D_ACTOR: {
				bc_actor *a = arena_alloc(cs->ar, sizeof *a);
				a->name = arena_strdup(cs->ar, d->name);
				a->module = mi;
				a->where = d->where;
				attrs_from(cs, d, &a->attrs, false);
				a->methods = arena_alloc(cs->ar, sizeof(bc_proto *) * (size_t)(d->u.actor.nmethods + 1));
				for (int q = 0; q < d->u.actor.nmethods; q++) {
					const ast_decl *md = d->u.actor.methods[q];
					char nm[256];
					snprintf(nm, sizeof nm, "%s.%s", d->name, md->name);
					bool init = !strcmp(md->name, "init");
					bc_proto *p = proto_new(cs, init ? PROTO_INIT : PROTO_METHOD, nm, mi, md->where);
					set_params(cs, p, md);
					p->actor = a;
					add_proto(cs, p, &protos, &capp);
					add_decl(cs, md, mi, p->index);
					if (init)
						a->init = p;
					else
						a->methods[a->nmethods++] = p;
				}
				actors = grow(actors, &capa, prog->nactors + 1, sizeof(bc_actor *));
				a->index = prog->nactors;
				actors[prog->nactors++] = a;
				add_decl(cs, d, mi, a->index);
				break;
			}
			default:
				break;
			}
		}
	}
	/* the arrays move to the arena so bc_program_free releases them */
	prog->protos = arena_alloc(cs->ar, sizeof(bc_proto *) * (size_t)(prog->nprotos + 1));
	if (prog->nprotos)
		memcpy(prog->protos, protos, sizeof(bc_proto *) * (size_t)prog->nprotos);
	prog->actors = arena_alloc(cs->ar, sizeof(bc_actor *) * (size_t)(prog->nactors + 1));
	if (prog->nactors)
		memcpy(prog->actors, actors, sizeof(bc_actor *) * (size_t)prog->nactors);
	free(protos);
	free(actors);
}

static void compile_init(cstate *cs, int mi)
{
	const ast_module *m = cs->l->modules[mi];
	bc_module *bm = &cs->prog->modules[mi];
	if (!bm->nglobals)
		return;
	char nm[256];
	snprintf(nm, sizeof nm, "<init %s>", bm->name);
	span w = { m->file, 1, 1, 1, 1 };
	bc_proto *p = proto_new(cs, PROTO_FN, nm, mi, w);
	fstate fs;
	fs_init(&fs, cs, p, 0);
	fs.is_init = true;
	for (int j = 0; j < m->ndecls; j++) {
		const ast_decl *d = m->decls[j];
		if (d->kind != D_PARAM && d->kind != D_CONST)
			continue;
		declinfo *di = find_decl(cs, d);
		const ast_expr *e = d->kind == D_PARAM ? d->u.param.deflt : d->u.const_.value;
		int r = reg_alloc(&fs);
		fs.cur = d->where;
		if (e)
			expr_to(&fs, e, r);
		else
			emitABC(&fs, OP_LOADNONE, r, 0, 0);
		if (d->kind == D_PARAM && d->u.param.type.name) {
			fs.cur = e ? e->where : d->where;
			emitABx(&fs, OP_CHECKTYPE, r, kstr(&fs, d->u.param.type.name));
		}
		emitABC(&fs, OP_SETGLOBAL, r, mi, di->index);
		fs.freereg--;
	}
	fs_finish(&fs);
	bm->init = p;
}

bc_program *compile_program(const flow_loader *l)
{
	vm_types_init(); /* writes nothing once done (vtype_register) */
	cstate cs;
	memset(&cs, 0, sizeof cs);
	cs.l = l;
	cs.diag = l->diag;
	bc_program *prog = calloc(1, sizeof *prog);
	if (!prog)
		abort();
	arena *ar = malloc(sizeof *ar);
	if (!ar)
		abort();
	arena_init(ar);
	prog->impl = ar;
	prog->diag = l->diag;
	cs.prog = prog;
	cs.ar = ar;

	declare_all(&cs);
	/* bodies */
	for (int mi = 0; mi < l->nmodules; mi++) {
		const ast_module *m = l->modules[mi];
		for (int j = 0; j < m->ndecls; j++) {
			const ast_decl *d = m->decls[j];
			if (d->kind == D_FN || d->kind == D_TASK) {
				compile_body(&cs, prog->protos[find_decl(&cs, d)->index], d);
			} else if (d->kind == D_ACTOR) {
				for (int q = 0; q < d->u.actor.nmethods; q++) {
					const ast_decl *md = d->u.actor.methods[q];
					compile_body(&cs, prog->protos[find_decl(&cs, md)->index], md);
				}
			}
		}
		compile_init(&cs, mi);
	}
	/* the driver */
	if (l->main) {
		const ast_module *m = l->main;
		span w = { m->file, 1, 1, 1, 1 };
		bc_proto *p = proto_new(&cs, PROTO_DRIVER, "<driver>", module_index(&cs, m), w);
		fstate fs;
		fs_init(&fs, &cs, p, m->driver_nlocals);
		for (int j = 0; j < m->ndecls; j++)
			if (m->decls[j]->kind == D_STMT)
				stmt(&fs, m->decls[j]->u.stmt);
		fs_finish(&fs);
		prog->driver = p;
	}
	if (cs.nerrors) {
		free(cs.dm);
		bc_program_free(prog);
		return NULL;
	}
	/* params and consts, imports first; then default values */
	vm_context ctx;
	memset(&ctx, 0, sizeof ctx);
	ctx.host = &const_host;
	ctx.self = v_none();
	rng_seed(&ctx.rng, 0);
	flow_vm *vm = vm_new(prog, &ctx);
	bool *seen = calloc((size_t)l->nmodules + 1, sizeof(bool));
	int *order = calloc((size_t)l->nmodules + 1, sizeof(int));
	int n = 0;
	for (int mi = 0; mi < l->nmodules; mi++)
		topo_visit(&cs, l->modules[mi], seen, order, &n);
	for (int q = 0; q < n && !cs.nerrors; q++) {
		bc_module *bm = &prog->modules[order[q]];
		if (!bm->init)
			continue;
		value out;
		if (vm_run(vm, bm->init, NULL, 0, &out)) {
			report_vm_error(&cs, bc_place(bm->init, 0), vm, "");
		} else {
			val_rele(out);
		}
	}
	for (int pi = 0; pi < prog->nprotos && !cs.nerrors; pi++) {
		bc_proto *p = prog->protos[pi];
		const ast_decl *d = NULL;
		for (int j = 0; j < cs.ndm; j++)
			if ((cs.dm[j].d->kind == D_FN || cs.dm[j].d->kind == D_TASK) && cs.dm[j].index == pi &&
			    prog->protos[pi]->module == cs.dm[j].module)
				d = cs.dm[j].d;
		if (!d)
			continue;
		for (int j = 0; j < p->nparams && !cs.nerrors; j++) {
			const ast_expr *e = d->u.fn.params[j].deflt;
			if (!e)
				continue;
			value v;
			char what[300];
			snprintf(what, sizeof what, "default value of '%s': ", p->params[j].name);
			if (const_eval(&cs, vm, e, p->module, &v, what) == 0)
				p->params[j].deflt = v;
		}
	}
	vm_free(vm);
	free(seen);
	free(order);
	free(cs.dm);
	if (cs.nerrors) {
		bc_program_free(prog);
		return NULL;
	}
	return prog;
}
