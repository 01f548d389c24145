/* vm.c - the bytecode interpreter loop: a register machine with computed
 * goto dispatch and inline fast paths for int/float arithmetic and
 * comparisons. Calls, errors and slow paths live in vm_call.c. */
#include <stdlib.h>
#include <string.h>

#include "vm_internal.h"

volatile sig_atomic_t vm_interrupted;

/* An error value's fields (section 8): message 0, kind 1, task 2; -1
 * for any other name. */
static int error_field_of(const char *name)
{
	return !strcmp(name, "message") ? 0 : !strcmp(name, "kind") ? 1 : !strcmp(name, "task") ? 2 : -1;
}

static value error_field_at(const verror *ev, int i)
{
	return i == 0 ? ev->message : i == 1 ? ev->kind : ev->task;
}

/* Whether an actor's class declares a method of that name. */
static bool actor_has_method(const vactor *a, const char *name)
{
	size_t skip = strlen(a->cls->name) + 1; /* methods are named "Class.name" */
	for (int j = 0; j < a->cls->nmethods; j++)
		if (!strcmp(a->cls->methods[j]->name + skip, name))
			return true;
	return false;
}

int vm_execute(flow_vm *vm, value *out)
{
	/* every byte dispatches somewhere: unknown opcodes to bad_op */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
	static const void *const labels[256] = {
		[0 ... 255] = &&bad_op,
#define OP(name, ...) [OP_##name] = &&L_##name,
#include "opcodes.h"
#undef OP
	};
#pragma GCC diagnostic pop
	const bc_program *prog = vm->prog;
	vm_frame *f;
	const bc_proto *p;
	const uint32_t *pc;
	value *base;
	const value *k;
	uint32_t i;
	value tmp;

	if (++vm->cdepth > VM_MAX_CDEPTH) {
		vm->cdepth--;
		vm_raise(vm, "maximum recursion depth exceeded");
		vm_trace(vm);
		goto unwind;
	}

#define LOADFRAME() do { f = &vm->frames[vm->nframes - 1]; p = f->p; pc = f->pc; \
		base = f->base; k = p->consts; } while (0)
#define SAVEPC() (f->pc = pc)
#define R(x) (base + (x))
#define A BC_A(i)
#define B BC_B(i)
#define C BC_C(i)
#define NEXT() do { i = *pc++; goto *labels[i & 0xffu]; } while (0)
#define ERR(...) do { SAVEPC(); vm_raise(vm, __VA_ARGS__); goto error; } while (0)
/* On every backward jump and call, so a stuck program can be stopped. */
#define POLL() do { if (__builtin_expect(vm_interrupted != 0 || \
		(vm->ctx.cancel && __atomic_load_n(vm->ctx.cancel, __ATOMIC_RELAXED)), 0)) \
		ERR("interrupted"); \
	if (__builtin_expect(vm->ctx.budget != 0, 0) && vm_budget_spent(vm, pc)) { \
		SAVEPC(); goto error; } } while (0)
/* After a jump: a suspension resumes at the jump's target. */
#define POLLJ() do { if (__builtin_expect(vm->ctx.budget != 0, 0)) vm->resume_here = true; \
	POLL(); vm->resume_here = false; } while (0)
#define TRY(expr) do { SAVEPC(); if ((expr) != 0) goto error; } while (0)
#define SETINT(r, x) do { value *sr_ = (r); int64_t sx_ = (x); val_rele(*sr_); sr_->t = V_INT; sr_->as.i = sx_; } while (0)
#define SETFLT(r, x) do { value *sr_ = (r); double sx_ = (x); val_rele(*sr_); sr_->t = V_FLOAT; sr_->as.f = sx_; } while (0)
#define SETBOOL(r, x) do { value *sr_ = (r); bool sx_ = (x); val_rele(*sr_); sr_->t = V_BOOL; sr_->as.i = 0; sr_->as.b = sx_; } while (0)
#define NUM(v) ((v)->t == V_INT ? (double)(v)->as.i : (v)->as.f)
#define ISNUM(v) ((v)->t == V_INT || (v)->t == V_FLOAT)

	LOADFRAME();
	NEXT();

L_MOVE:
	/* the same object already there (xs.append(x) moves xs to a scratch
	 * register and back each time): its count would go up and down */
	if (!V_IS_HEAP(R(A)->t) || R(A)->as.o != R(B)->as.o || R(A)->t != R(B)->t)
		VM_SET(R(A), val_hold(*R(B)));
	NEXT();
L_LOADK:
	VM_SET(R(A), val_hold(k[BC_Bx(i)]));
	NEXT();
L_LOADI:
	SETINT(R(A), BC_sBx(i));
	NEXT();
L_LOADNONE:
	VM_SET(R(A), v_none());
	NEXT();
L_LOADBOOL:
	SETBOOL(R(A), B != 0);
	NEXT();
L_GETGLOBAL: {
	const bc_module *m = &prog->modules[B];
	if (!m->globals || C >= m->nglobals)
		ERR("global used before it is computed");
	VM_SET(R(A), val_hold(m->globals[C]));
	NEXT();
}
L_SETGLOBAL: {
	bc_module *m = &((bc_module *)prog->modules)[B];
	value v = val_hold(*R(A));
	val_freeze(v);
	VM_SET(&m->globals[C], v);
	NEXT();
}
L_GETSELF: {
	value fv;
	if (vm->ctx.self.t != V_DICT)
		ERR("'self' is only available in actor methods");
	if (!dict_get(vm->ctx.self, k[BC_Bx(i)], &fv))
		ERR("actor has no field '%s'", str_data(k[BC_Bx(i)]));
	VM_SET(R(A), val_hold(fv));
	NEXT();
}
L_SETSELF: {
	verr e;
	if (vm->ctx.self.t != V_DICT)
		ERR("'self' is only available in actor methods");
	if (dict_set(vm->ctx.self, k[BC_Bx(i)], *R(A), &e))
		ERR("%s", e.msg);
	NEXT();
}
L_NEWLIST: {
	int n = B;
	tmp = list_new(n);
	for (int j = 1; j <= n; j++)
		list_append(tmp, *R(A + j));
	VM_SET(R(A), tmp);
	NEXT();
}
L_LISTAPPEND:
	list_append(*R(A), *R(B));
	NEXT();
L_NEWDICT: {
	verr e;
	int n = B;
	/* a call's future is a key by identity, another future is waited for
	 * (docs/language.md); the key registers are temporaries */
	for (int j = 0; j < n; j++) {
		value k_;
		TRY(vm_key(vm, R(A + 1 + 2 * j), &k_));
		VM_SET(R(A + 1 + 2 * j), k_);
	}
	tmp = dict_new(n);
	for (int j = 0; j < n; j++) {
		if (dict_set(tmp, *R(A + 1 + 2 * j), *R(A + 2 + 2 * j), &e)) {
			val_rele(tmp);
			ERR("%s", e.msg);
		}
	}
	VM_SET(R(A), tmp);
	NEXT();
}
L_DICTSET: {
	verr e;
	value k_; /* the key (vm_key): R(B) may be a local (a comprehension's target) */
	TRY(vm_key(vm, R(B), &k_));
	int rc_ = dict_set(*R(A), k_, *R(C), &e);
	val_rele(k_);
	if (rc_)
		ERR("%s", e.msg);
	NEXT();
}

/* R(A) := R(B) op R(C) through the value model (no fast path). */
#define ARITH_SLOW(OPCH) \
	TRY(vm_arith_slow(vm, OPCH, R(B), R(C), &tmp)); \
	VM_SET(R(A), tmp); \
	NEXT();

#define ARITH_INT(OPCH, BUILTIN, FOP) { \
	value *b_ = R(B), *c_ = R(C); \
	if (b_->t == V_INT && c_->t == V_INT) { \
		int64_t r_; \
		if (BUILTIN(b_->as.i, c_->as.i, &r_)) \
			ERR("integer overflow in %s", OPCH); \
		SETINT(R(A), r_); \
	} else if (ISNUM(b_) && ISNUM(c_)) { \
		SETFLT(R(A), NUM(b_) FOP NUM(c_)); \
	} else { \
		TRY(vm_arith_slow(vm, OPCH[0], b_, c_, &tmp)); \
		VM_SET(R(A), tmp); \
	} \
	NEXT(); }

L_ADD: {
	value *b_ = R(B), *c_ = R(C);
	if (b_->t == V_INT && c_->t == V_INT) {
		int64_t r_;
		if (__builtin_add_overflow(b_->as.i, c_->as.i, &r_))
			ERR("integer overflow in %s", "+");
		SETINT(R(A), r_);
	} else if (ISNUM(b_) && ISNUM(c_)) {
		SETFLT(R(A), NUM(b_) + NUM(c_));
	} else if (b_->t == V_STR && c_->t == V_STR &&
	           (uint64_t)str_len(*b_) + str_len(*c_) <= (1ull << 30)) {
		/* s += t, s = s + t: the old s is dropped, so when R(A) holds its
		 * only reference, append in place (linear, not quadratic, in a loop).
		 * Past the 1 GiB cap the slow path fails the call with a message. */
		if (A != B || !str_append_inplace(R(A), *c_))
			VM_SET(R(A), str_concat(*b_, *c_));
	} else {
		TRY(vm_arith_slow(vm, '+', b_, c_, &tmp));
		VM_SET(R(A), tmp);
	}
	NEXT();
}
L_SUB: ARITH_INT("-", __builtin_sub_overflow, -)
L_MUL: ARITH_INT("*", __builtin_mul_overflow, *)
L_DIV: {
	value *b_ = R(B), *c_ = R(C);
	if (ISNUM(b_) && ISNUM(c_) && NUM(c_) != 0.0) {
		SETFLT(R(A), NUM(b_) / NUM(c_));
		NEXT();
	}
	TRY(vm_arith_slow(vm, '/', b_, c_, &tmp));
	VM_SET(R(A), tmp);
	NEXT();
}
L_FLOORDIV: {
	value *b_ = R(B), *c_ = R(C);
	/* ints with a positive divisor (the common case: x // 2, i // width);
	 * zero, a negative divisor and floats take the slow path */
	if (b_->t == V_INT && c_->t == V_INT && c_->as.i > 0) {
		int64_t q_ = b_->as.i / c_->as.i;
		if (b_->as.i % c_->as.i < 0)
			q_--;
		SETINT(R(A), q_);
		NEXT();
	}
	TRY(vm_arith_slow(vm, 'f', b_, c_, &tmp));
	VM_SET(R(A), tmp);
	NEXT();
}
L_MOD: {
	value *b_ = R(B), *c_ = R(C);
	if (b_->t == V_INT && c_->t == V_INT && c_->as.i > 0) {
		int64_t r_ = b_->as.i % c_->as.i;
		if (r_ < 0)
			r_ += c_->as.i;
		SETINT(R(A), r_);
		NEXT();
	}
	TRY(vm_arith_slow(vm, '%', b_, c_, &tmp));
	VM_SET(R(A), tmp);
	NEXT();
}
L_POW: ARITH_SLOW('p')
L_MATMUL: ARITH_SLOW('@')
L_ADDI: {
	value *b_ = R(B);
	int sc = BC_sC(i);
	if (b_->t == V_INT) {
		int64_t r_;
		if (__builtin_add_overflow(b_->as.i, (int64_t)sc, &r_))
			ERR("integer overflow in %s", sc < 0 ? "-" : "+");
		SETINT(R(A), r_);
	} else if (b_->t == V_FLOAT) {
		SETFLT(R(A), b_->as.f + sc);
	} else {
		value c_ = v_int(sc < 0 ? -sc : sc);
		TRY(vm_arith_slow(vm, sc < 0 ? '-' : '+', b_, &c_, &tmp));
		VM_SET(R(A), tmp);
	}
	NEXT();
}
L_NEG: {
	value *b_ = R(B);
	if (b_->t == V_INT && b_->as.i != INT64_MIN) {
		SETINT(R(A), -b_->as.i);
	} else if (b_->t == V_FLOAT) {
		SETFLT(R(A), -b_->as.f);
	} else {
		verr e;
		value x;
		TRY(vm_deref(vm, b_, &x));
		int rc_ = val_neg(x, &tmp, &e);
		val_rele(x);
		if (rc_)
			ERR("%s", e.msg);
		VM_SET(R(A), tmp);
	}
	NEXT();
}
L_NOT: {
	value *b_ = R(B);
	bool t_;
	if (b_->t == V_BOOL)
		t_ = b_->as.b;
	else
		TRY(vm_truthy_slow(vm, b_, &t_));
	SETBOOL(R(A), !t_);
	NEXT();
}

#define CMP_VALUE(bp, cp, OPC, res) do { \
	value *b_ = (bp), *c_ = (cp); \
	if (b_->t == V_INT && c_->t == V_INT) \
		res = b_->as.i OPC c_->as.i; \
	else if (b_->t == V_FLOAT && c_->t == V_FLOAT) \
		res = b_->as.f OPC c_->as.f; \
	else { \
		int r_; \
		TRY(vm_cmp_slow(vm, b_, c_, &r_)); \
		res = r_ OPC 0; \
	} } while (0)
#define EQ_VALUE(bp, cp, res) do { \
	value *b_ = (bp), *c_ = (cp); \
	if (b_->t == V_INT && c_->t == V_INT) \
		res = b_->as.i == c_->as.i; \
	else \
		TRY(vm_eq_slow(vm, b_, c_, &res)); \
	} while (0)

L_EQ: { bool r; EQ_VALUE(R(B), R(C), r); SETBOOL(R(A), r); NEXT(); }
L_NE: { bool r; EQ_VALUE(R(B), R(C), r); SETBOOL(R(A), !r); NEXT(); }
L_LT: { bool r; CMP_VALUE(R(B), R(C), <, r); SETBOOL(R(A), r); NEXT(); }
L_LE: { bool r; CMP_VALUE(R(B), R(C), <=, r); SETBOOL(R(A), r); NEXT(); }
L_IN:
L_NOTIN: {
	bool r;
	verr e;
	value x, y;
	if (R(C)->t == V_DICT && vm_dict_get_ref(*R(C), *R(B), &y)) { /* ref in d */
		SETBOOL(R(A), BC_OP(i) == OP_IN);
		NEXT();
	}
	TRY(vm_deref_values(vm, R(B), &x));
	/* a dict's keys are values: its values are not looked at */
	if ((R(C)->t == V_DICT ? vm_deref(vm, R(C), &y) : vm_deref_values(vm, R(C), &y))) {
		val_rele(x);
		goto error;
	}
	int rc_ = val_contains(y, x, &r, &e);
	val_rele(x);
	val_rele(y);
	if (rc_)
		ERR("%s", e.msg);
	SETBOOL(R(A), BC_OP(i) == OP_IN ? r : !r);
	NEXT();
}

#define COND_JUMP(cond) do { \
	if ((cond) == (C != 0)) { i = *pc++; pc += BC_sJ(i); POLLJ(); } else pc++; \
	NEXT(); } while (0)
L_IFEQ: { bool r; EQ_VALUE(R(A), R(B), r); COND_JUMP(r); }
L_IFLT: { bool r; CMP_VALUE(R(A), R(B), <, r); COND_JUMP(r); }
L_IFLE: { bool r; CMP_VALUE(R(A), R(B), <=, r); COND_JUMP(r); }
L_TEST: {
	value *a_ = R(A);
	bool t_;
	if (a_->t == V_BOOL)
		t_ = a_->as.b;
	else if (a_->t == V_INT)
		t_ = a_->as.i != 0;
	else
		TRY(vm_truthy_slow(vm, a_, &t_));
	COND_JUMP(t_);
}
L_JMP:
	pc += BC_sJ(i);
	POLLJ();
	NEXT();

L_INDEX: {
	value *o_ = R(B), *x_ = R(C);
	if (o_->t == V_LIST && x_->t == V_INT) {
		int64_t j = x_->as.i, n = (int64_t)list_len(*o_);
		if (j < 0)
			j += n;
		if (j >= 0 && j < n) {
			VM_SET(R(A), val_hold(list_get(*o_, (size_t)j)));
			NEXT();
		}
	}
	value x, y;
	TRY(vm_deref(vm, o_, &x));
	if (vm_dict_get_ref(x, *x_, &y)) { /* d[ref] with ref a key of d */
		VM_SET(R(A), val_hold(y));
		val_rele(x);
		NEXT();
	}
	if (vm_deref(vm, x_, &y)) {
		val_rele(x);
		goto error;
	}
	int rc_ = vm_index(vm, x, y, &tmp);
	val_rele(x);
	val_rele(y);
	if (rc_)
		goto error;
	VM_SET(R(A), tmp);
	NEXT();
}
L_SETINDEX: {
	value k_; /* d[ref] = v, d[get(x)] = v, xs[f(0)] = v: R(B) unchanged */
	if (R(A)->t == V_DICT)
		TRY(vm_key(vm, R(B), &k_));
	else
		TRY(vm_deref(vm, R(B), &k_));
	int rc_ = vm_setindex(vm, R(A), k_, *R(C));
	val_rele(k_);
	if (rc_)
		goto error;
	NEXT();
}
	NEXT();
L_SLICE:
	TRY(vm_force(vm, R(B)));
	TRY(vm_slice(vm, *R(B), R(B + 1), C, &tmp));
	VM_SET(R(A), tmp);
	NEXT();
L_BINDMETHOD: {
	/* (only for a future or an error: a method bind is a hot path) */
	const char *fname = str_data(*R(C));
	int field_ = R(B)->t == V_FUTURE || R(B)->t == V_STREAM || R(B)->t == V_ERROR
	                 ? error_field_of(fname) : -1;
	if ((R(B)->t == V_FUTURE || R(B)->t == V_STREAM) && field_ >= 0) {
		/* e.kind of an error that is a task's result (get(r).kind in the
		 * driver, where get(r) is a future): the value is needed, so wait
		 * for it (while lowering: an implicit node). No method is named
		 * like an error's field. */
		value ev_;
		TRY(vm_deref(vm, R(B), &ev_));
		if (ev_.t != V_ERROR) {
			const char *tn_ = vtype_name(ev_.t);
			val_rele(ev_);
			ERR("%s %s has no field '%s' (only an error value has message, kind and task)",
			    strchr("aeiou", tn_[0]) ? "an" : "a", tn_, fname);
		}
		VM_SET(R(A), val_hold(error_field_at((const verror *)ev_.as.o, field_)));
		val_rele(ev_);
		NEXT();
	}
	if (R(B)->t == V_ERROR) {
		/* e.message, e.kind, e.task (section 8) */
		if (field_ < 0)
			ERR("an error has no field '%s' (it has message, kind and task)", fname);
		VM_SET(R(A), val_hold(error_field_at((const verror *)R(B)->as.o, field_)));
		NEXT();
	}
	if (R(B)->t == V_ACTOR && !actor_has_method((const vactor *)R(B)->as.o, fname))
		/* a Ray user reads an actor's field from outside (a.x) */
		ERR("actor '%s' has no method '%s'; an actor's fields are its own: read them "
		    "through a method (fn get_%s() { return self.%s })",
		    ((const vactor *)R(B)->as.o)->cls->name, fname, fname, fname);
	vfunc *fn = vobj_alloc(sizeof *fn, V_FUNC);
	fn->h.extra = FUNC_BOUND;
	fn->self = val_hold(*R(B));
	fn->method = str_data(*R(C)); /* a constant of this proto: lives as long as the program */
	VM_SET(R(A), v_obj(&fn->h));
	NEXT();
}

L_CALL: {
	int a = A, nargs = B, nkw = C;
	const char *kwn[NATIVE_MAX_PARAMS * 4];
	value callee = *R(a);
	if (nkw) {
		value names = k[BC_Bx(*pc)];
		pc++;
		if (nkw > (int)(sizeof kwn / sizeof kwn[0]))
			ERR("too many keyword arguments");
		for (int j = 0; j < nkw; j++)
			kwn[j] = str_data(list_get(names, (size_t)j));
	}
	if (callee.t == V_FUTURE) {
		TRY(vm_force(vm, R(a)));
		callee = *R(a);
	}
	if (callee.t == V_FUNC && callee.as.o->extra == FUNC_PROTO &&
	    ((vfunc *)callee.as.o)->proto->kind == PROTO_FN) {
		/* an fn value: match, then enter it like CALLP */
		POLL(); /* before the matched arguments are held */
		const bc_proto *cp = ((vfunc *)callee.as.o)->proto;
		value *nb = R(a);
		value mbuf[16], *m = cp->nparams <= 16 ? mbuf : malloc(sizeof(value) * (size_t)cp->nparams);
		SAVEPC();
		if (vm_match_proto(vm, cp, R(a + 1), nargs - nkw, R(a + 1 + nargs - nkw), kwn, nkw, m)) {
			if (m != mbuf)
				free(m);
			goto error;
		}
		if (vm->nframes >= VM_MAX_FRAMES || nb + cp->nregs + cp->nparams >= vm->stack + VM_STACK_SLOTS) {
			for (int j = 0; j < cp->nparams; j++)
				val_rele(m[j]);
			if (m != mbuf)
				free(m);
			ERR("maximum recursion depth exceeded");
		}
		value fnv = *R(a);
		*R(a) = v_none();
		for (int j = 1; j <= nargs; j++)
			VM_SET(R(a + j), v_none());
		for (int j = 0; j < cp->nparams; j++)
			VM_SET(nb + j, m[j]);
		val_rele(fnv);
		if (m != mbuf)
			free(m);
		if (cp->checks)
			TRY(vm_check_args(vm, cp, nb));
		for (int j = cp->nparams; j < cp->nregs; j++)
			VM_SET(nb + j, v_none());
		vm_frame *nf = &vm->frames[vm->nframes++];
		nf->p = cp;
		nf->pc = cp->code;
		nf->base = nb;
		nf->entry = false;
		LOADFRAME();
		NEXT();
	}
	SAVEPC();
	if (vm_call_kw(vm, callee, R(a + 1), nargs - nkw, R(a + 1 + nargs - nkw), kwn, nkw, &tmp))
		goto error;
	for (int j = 1; j <= nargs; j++)
		VM_SET(R(a + j), v_none());
	VM_SET(R(a), tmp);
	NEXT();
}
L_CALLP: {
	const bc_proto *cp = prog->protos[BC_Bx(i)];
	value *nb = R(A);
	SAVEPC();
	if (vm->nframes >= VM_MAX_FRAMES || nb + cp->nregs >= vm->stack + VM_STACK_SLOTS)
		ERR("maximum recursion depth exceeded");
	POLL();
	if (cp->checks && !vm_args_fast(cp, nb) && vm_check_args(vm, cp, nb))
		goto error;
	for (int j = cp->nparams; j < cp->nregs; j++)
		VM_SET(nb + j, v_none());
	vm_frame *nf = &vm->frames[vm->nframes++];
	nf->p = cp;
	nf->pc = cp->code;
	nf->base = nb;
	nf->entry = false;
	LOADFRAME();
	NEXT();
}
L_CALLT: {
	const bc_proto *cp = prog->protos[BC_Bx(i)];
	SAVEPC();
	if (vm->ctx.host->call_task(vm, cp, R(A), cp->nparams, &tmp))
		goto error;
	for (int j = 1; j < cp->nparams; j++)
		VM_SET(R(A + j), v_none());
	VM_SET(R(A), tmp);
	NEXT();
}
L_NEWACTOR: {
	const bc_actor *cls = prog->actors[BC_Bx(i)];
	int n = cls->init ? cls->init->nparams : 0;
	SAVEPC();
	if (vm->ctx.host->new_actor(vm, cls, R(A), n, &tmp))
		goto error;
	for (int j = 1; j < n; j++)
		VM_SET(R(A + j), v_none());
	VM_SET(R(A), tmp);
	NEXT();
}
L_NATIVE: {
	const native_def *d = p->natives[B];
	int n = C;
	SAVEPC();
	if (__builtin_expect(vm->ctx.lowering, 0) && !vm_native_pure(d)) {
		vm_need_runtime(vm); /* an effect: a DAG node, never run now */
		goto error;
	}
	/* a future argument is resolved here, except for natives that talk
	 * to the executor (get, wait, reduce...) or ask what it is (type):
	 * the argument registers are temporaries, so no local changes */
	for (int j = 0; j < n; j++)
		if (!(d->flags & NATIVE_SHAPE) && !(d->flags & NATIVE_HOST))
			TRY(vm_force_values(vm, R(A + j)));
		else if (R(A + j)->t == V_FUTURE && !(d->flags & NATIVE_HOST) &&
		         ((strcmp(d->name, "type") && (j > 0 || strcmp(d->name, "isinstance"))) ||
		          ((vfuture *)R(A + j)->as.o)->implied))
			TRY(vm_force(vm, R(A + j)));
		else if (R(A + j)->t == V_STREAM && !(d->flags & NATIVE_HOST) && strcmp(d->name, "type") &&
		         strcmp(d->name, "isinstance"))
			TRY(vm_force(vm, R(A + j))); /* len(s), list(s): all its items */
	if (d->fn(vm, R(A), n, &tmp)) {
		if (vm->ekind == ERR_RUNTIME && !strcmp(d->name, "error"))
			vm->ekind = ERR_ERROR; /* raised by error(): e.kind "error" */
		goto error;
	}
	for (int j = 1; j < n; j++)
		VM_SET(R(A + j), v_none());
	VM_SET(R(A), tmp);
	NEXT();
}
L_METHOD: {
	const bc_msite *s = &p->msites[B];
	int a = A, n = C;
	SAVEPC();
	if (vm_call_method(vm, R(a + 1), s, s->name, R(a + 2), n - s->nkw, R(a + 2 + n - s->nkw),
	                   s->kwnames, s->nkw, &tmp))
		goto error;
	for (int j = 2; j <= n + 1; j++)
		VM_SET(R(a + j), v_none());
	VM_SET(R(a), tmp);
	NEXT();
}
L_RETURN0:
	tmp = v_none();
	goto do_return;
L_RETURN:
	tmp = val_hold(*R(A));
do_return: {
	if (!vm_type_fast(p->ret_tcode, &tmp)) {
		SAVEPC();
		if (vm_check_return(vm, p, &tmp)) {
			val_rele(tmp);
			goto error;
		}
	}
	for (int j = 0; j < p->nregs; j++)
		VM_SET(base + j, v_none());
	/* a return from inside a try closes its handlers */
	while (vm->nh > 0 && vm->hs[vm->nh - 1].frame >= vm->nframes - 1)
		vm->nh--;
	bool entry = f->entry;
	vm->nframes--;
	if (entry) {
		vm->cdepth--;
		*out = tmp;
		return 0;
	}
	base[0] = tmp;
	LOADFRAME();
	NEXT();
}

L_FORPREP: {
	value *r = R(A);
	for (int j = 0; j < 3; j++) {
		TRY(vm_force(vm, r + j));
		if (r[j].t != V_INT)
			ERR("range() arguments must be int, got %s", vtype_name(r[j].t));
	}
	if (r[2].as.i == 0)
		ERR("range() step must not be zero");
	if (r[2].as.i > 0 ? r[0].as.i >= r[1].as.i : r[0].as.i <= r[1].as.i)
		pc += BC_sBx(i);
	NEXT();
}
L_FORLOOP: {
	value *r = R(A);
	int64_t nx;
	if (!__builtin_add_overflow(r[0].as.i, r[2].as.i, &nx) &&
	    (r[2].as.i > 0 ? nx < r[1].as.i : nx > r[1].as.i)) {
		r[0].as.i = nx;
		pc += BC_sBx(i);
		POLLJ();
	}
	NEXT();
}
L_ITERPREP:
	if (BC_C(i) && R(B)->t == V_LIST && __atomic_load_n(&R(B)->as.o->rc, __ATOMIC_ACQUIRE) == 1) {
		/* a temporary list nothing else holds, which no name reaches:
		 * the loop iterates it as it is (the copy in vm_iter_prep keeps
		 * a named list's changes out of its loop) */
		tmp = val_hold(*R(B));
	} else {
		TRY(vm_iter_prep(vm, R(B), &tmp));
	}
	VM_SET(R(A), tmp);
	SETINT(R(A + 1), 0);
	NEXT();
L_ITERNEXT: {
	value *r = R(A);
	int64_t j = r[1].as.i;
	if (__builtin_expect(r[0].t == V_STREAM, 0)) {
		/* a stream: the next item the producer yields, waited for */
		int got;
		SAVEPC();
		if (!vm->ctx.host->stream_next) {
			vm_raise(vm, "streams cannot be iterated here");
			goto error;
		}
		got = vm->ctx.host->stream_next(vm, r[0], j, &tmp);
		if (got < 0)
			goto error;
		r = R(A); /* the host may have run code, never in this frame */
		if (got > 0) {
			VM_SET(R(B), tmp);
			r[1].as.i = j + 1;
			pc++;
		}
		NEXT();
	}
	if ((size_t)j < list_len(r[0])) {
		VM_SET(R(B), val_hold(list_get(r[0], (size_t)j)));
		r[1].as.i = j + 1;
		pc++;
	}
	NEXT();
}
L_UNPACK: {
	value s;
	TRY(vm_deref(vm, R(A), &s));
	if (s.t != V_LIST || list_len(s) != 2) {
		vtype st = (vtype)s.t;
		size_t sn = st == V_LIST ? list_len(s) : 0;
		val_rele(s);
		if (st != V_LIST)
			ERR("cannot unpack %s into 2 names", vtype_name(st));
		ERR("cannot unpack a list of %zu elements into 2 names", sn);
	}
	value x = val_hold(list_get(s, 0)), y = val_hold(list_get(s, 1));
	val_rele(s);
	VM_SET(R(B), x);
	VM_SET(R(C), y);
	NEXT();
}
L_TOSTR: {
	value *b_ = R(B);
	if (b_->t == V_INT) {
		tmp = str_from_int(b_->as.i);
	} else if (b_->t != V_STR) {
		sbuf sb;
		value x;
		TRY(vm_deref_values(vm, b_, &x));
		sbuf_init(&sb);
		val_str(&sb, x);
		val_rele(x);
		tmp = str_take_sbuf(&sb);
	} else {
		tmp = val_hold(*b_);
	}
	VM_SET(R(A), tmp);
	NEXT();
}
L_FORMAT: {
	sbuf sb;
	verr e;
	value x, spec_;
	/* a spec with nested fields is made at run time: may be a future */
	TRY(vm_deref(vm, R(C), &spec_));
	if (spec_.t != V_STR) {
		val_rele(spec_);
		ERR("format spec must be a str");
	}
	if (vm_deref_values(vm, R(B), &x)) {
		val_rele(spec_);
		goto error;
	}
	sbuf_init(&sb);
	int rc_ = val_format(&sb, x, str_data(spec_), &e);
	val_rele(spec_);
	val_rele(x);
	if (rc_) {
		sbuf_fini(&sb);
		ERR("%s", e.msg);
	}
	VM_SET(R(A), str_take_sbuf(&sb));
	NEXT();
}
L_CONCAT: {
	if (__builtin_expect(vm->ctx.lowering, 0))
		for (int j = 0; j < C; j++)
			if (R(B + j)->t == V_FUTURE) {
				SAVEPC();
				vm_need_runtime(vm);
				goto error;
			}
	VM_SET(R(A), str_concat_n(R(B), C));
	NEXT();
}
L_CHECKTYPE: {
	const char *tn = str_data(k[BC_Bx(i)]);
	SAVEPC();
	if (vm_check_type(vm, bc_tcode(tn), tn, R(A), "value"))
		goto error;
	NEXT();
}
L_TRY:
	if (__builtin_expect(vm->ctx.lowering, 0) &&
	    !vm_try_static(vm, p, (int)(pc - p->code), (int)(pc + BC_sBx(i) - 2 - p->code), base)) {
		/* a try in the driver runs at run time (section 6) */
		SAVEPC();
		vm_need_suspend(vm, "a 'try' in the driver catches errors of run-time calls",
		                "'try' in the driver runs at run time, which --static forbids; "
		                "move it into a task");
		goto error;
	}
	if (vm->nh == vm->caph) {
		vm->caph = vm->caph ? vm->caph * 2 : 8;
		vm_handler *nh_ = realloc(vm->hs, sizeof *nh_ * (size_t)vm->caph);
		if (!nh_)
			abort();
		vm->hs = nh_;
	}
	vm->hs[vm->nh].frame = vm->nframes - 1;
	vm->hs[vm->nh].pc = pc + BC_sBx(i);
	vm->hs[vm->nh].lo = pc;
	vm->hs[vm->nh].hi = pc + BC_sBx(i) - 2; /* its ENDTRY */
	vm->hs[vm->nh].reg = A;
	vm->nh++;
	NEXT();
L_ENDTRY:
	if (vm->nh > 0 && vm->hs[vm->nh - 1].frame == vm->nframes - 1)
		vm->nh--;
	NEXT();
L_YIELD:
	if (vm->gen && vm->nframes == 1 && vm->cdepth == 1) {
		/* a generator run (vm_gen_start): stop here, resumed at the
		 * next instruction by vm_gen_resume */
		SAVEPC();
		*out = val_hold(*R(B));
		vm->cdepth--;
		return 1;
	}
	list_append(*R(A), *R(B));
	NEXT();
L_EXTRAARG:
bad_op:
	ERR("corrupt bytecode (opcode %u)", i & 0xffu);

error:
	if (vm->lift) {
		/* lowering: this instruction becomes a DAG node (or, for
		 * control flow, the compile error of LANGUAGE.md section 6) */
		vm->lift = false;
		if (vm_lift_insn(vm, f) == 0) {
			LOADFRAME();
			NEXT();
		}
	}
	if (vm->suspend_why) {
		/* the staged driver: the host records where the driver stopped */
		const char *why = vm->suspend_why;
		vm->suspend_why = NULL;
		SAVEPC();
		if (vm->cdepth == 1 && vm->ctx.host->suspend && vm->ctx.host->suspend(vm, why) == 0) {
			vm->suspended = true;
			vm->cdepth--;
			goto unwind;
		}
	}
	if (vm->nh > 0 && vm->msg && strcmp(vm->msg, "interrupted") != 0) {
		/* try/except: the innermost handler of this execute's frames */
		int entry = vm->nframes - 1;
		while (entry > 0 && !vm->frames[entry].entry)
			entry--;
		vm_handler h = vm->hs[vm->nh - 1];
		SAVEPC();
		/* only an error inside the try's own code (plan_read checked the
		 * register types of exactly that code) */
		const uint32_t *at = h.frame >= entry && h.frame < vm->nframes ? vm->frames[h.frame].pc - 1 : NULL;
		if (at && (at < h.lo || at >= h.hi)) {
			vm->nh--;
			at = NULL;
		}
		if (at) {
			vm_trace(vm);
			value ev = vm_error_value(vm);
			if (vm->efut.t == V_FUTURE && vm->ctx.host->caught)
				vm->ctx.host->caught(vm, vm->efut);
			while (vm->nframes - 1 > h.frame) {
				vm_frame *t = &vm->frames[vm->nframes - 1];
				for (int j = 0; j < t->p->nregs; j++)
					VM_SET(t->base + j, v_none());
				vm->nframes--;
			}
			vm->nh--;
			f = &vm->frames[vm->nframes - 1];
			f->pc = h.pc;
			VM_SET(f->base + h.reg, ev);
			LOADFRAME();
			NEXT();
		}
	}
	vm_trace(vm);
	vm->cdepth--;
unwind:
	/* pop frames down to and including this execute()'s entry frame */
	while (vm->nframes > 0) {
		vm_frame *t = &vm->frames[vm->nframes - 1];
		for (int j = 0; j < t->p->nregs; j++)
			VM_SET(t->base + j, v_none());
		vm->nframes--;
		if (t->entry)
			break;
	}
	while (vm->nh > 0 && vm->hs[vm->nh - 1].frame >= vm->nframes)
		vm->nh--;
	return -1;
#undef R
#undef A
#undef B
#undef C
}
