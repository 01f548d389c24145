/* vm_internal.h - the VM's private state, shared by vm.c (the loop),
 * vm_call.c (calls, argument matching, errors) and vm_types.c. */
#ifndef FLOW_VM_INTERNAL_H
#define FLOW_VM_INTERNAL_H

#include <string.h>

#include "vm.h"
#include "native.h"
#include "small_limits.h"

#define VM_MAX_FRAMES 10000
#define VM_MAX_CDEPTH FLOW_LIMIT(180, 40)       /* nested execute() calls (natives calling back) */
#define VM_STACK_SLOTS FLOW_LIMIT(1u << 21, 1u << 17)

typedef struct vm_frame {
	const bc_proto *p;
	const uint32_t *pc;  /* next instruction (saved when the frame is not running) */
	value *base;
	bool entry;          /* returning from it leaves execute() */
} vm_frame;

/* A try block being run: an error in frame `frame` or above (down to
 * this execute's entry) goes to pc with the error value in register reg. */
typedef struct vm_handler {
	int frame;
	const uint32_t *pc;
	const uint32_t *lo, *hi; /* the try body: instructions [lo, hi) of the frame */
	int reg;
} vm_handler;

struct flow_vm {
	const bc_program *prog;
	vm_context ctx;
	value *stack;        /* VM_STACK_SLOTS values, never moves */
	vm_frame *frames;
	int nframes;
	int cdepth;
	char *msg;           /* the raw error message */
	char *full;          /* with place and traceback */
	bool traced;
	bool has_where;      /* errwhere is the failing instruction's place */
	bool lift;           /* lowering: the error is "needs a run-time value" */
	span errwhere;
	/* try/except: open handlers, innermost last */
	vm_handler *hs;
	int nh, caph;
	/* what `except e` sees of the last error besides msg (vm_error_detail) */
	int ekind;
	const char *etask;
	char *emsg, *etext;
	value efut;          /* the failed future of the error, or none */
	/* the staged driver: the host asked to suspend (suspend_why), and
	 * the run stopped for it (suspended) */
	const char *suspend_why;
	bool suspended;
	bool resume_here;    /* suspended after a jump: resume at pc, not pc - 1 */
	int budget_line;     /* the compile-time budget: the driver's furthest line */
	uint64_t budget_used;
	bool gen;            /* a generator run: a yield in the entry frame stops it */
};
/* Lowering: counts one backward jump or call against the budget; true
 * when it is spent (the suspension is asked for). */
bool vm_budget_spent(flow_vm *vm, const uint32_t *pc);

/* Lowering: may the try body [lo, hi) of p run at compile time? Yes when
 * it makes no call, has no loop and no effect, and reads no run-time
 * value (a future in base's registers): then the driver stays static
 * there, and its except runs at compile time too. vm_lift.c. */
bool vm_try_static(flow_vm *vm, const bc_proto *p, int lo, int hi, const value *base);

/* The last error as the value `except e` binds (new ref); after vm_trace. */
value vm_error_value(flow_vm *vm);

/* Frees the old value in *r and stores v (consumed). */
#define VM_SET(r, v) do { value *vr_ = (r); value vo_ = *vr_; *vr_ = (v); val_rele(vo_); } while (0)

/* The first free stack slot above the innermost frame. */
static inline value *vm_top(flow_vm *vm)
{
	if (!vm->nframes)
		return vm->stack;
	vm_frame *f = &vm->frames[vm->nframes - 1];
	return f->base + f->p->nregs;
}

/* The common annotation checks, inline; false means "ask the full check"
 * (which also resolves futures and knows actors). */
static inline bool vm_type_fast(int tc, const value *v)
{
	switch (tc) {
	case BC_T_ANY: return true;
	case BC_T_INT: return v->t == V_INT;
	case BC_T_FLOAT: return v->t == V_FLOAT || v->t == V_INT;
	case BC_T_STR: return v->t == V_STR;
	case BC_T_LIST: return v->t == V_LIST;
	case BC_T_DICT: return v->t == V_DICT;
	case BC_T_BOOL: return v->t == V_BOOL;
	case BC_T_NONE: return v->t == V_NONE;
	default: return false;
	}
}

static inline bool vm_args_fast(const bc_proto *p, const value *a)
{
	for (int j = 0; j < p->nparams; j++)
		if (!vm_type_fast(p->ptcode[j], &a[j]))
			return false;
	return true;
}

int vm_execute(flow_vm *vm, value *out);
/* Thaws the frozen list or dict in *r for a change, rebinding every live
 * register of vm that holds the same object to the thawed copy. */
void vm_thaw_shared(flow_vm *vm, value *r);
/* Lowering: instruction just run in frame f needed a run-time value.
 * Makes it a DAG node (its result registers get futures) and returns 0,
 * or raises the compile error for control flow and returns -1. */
int vm_lift_insn(flow_vm *vm, vm_frame *f);
/* May a native run at compile time? (No effect, clock, randomness,
 * machine state; not get.) */
static inline bool vm_native_pure(const native_def *d)
{
	return !(d->flags & (NATIVE_EFFECT | NATIVE_CLOCK | NATIVE_RANDOM | NATIVE_ENV)) &&
	       strcmp(d->name, "get") != 0;
}
/* While lowering, a pending future is not checked against annotations:
 * its value does not exist yet. */
static inline bool vm_lowering_pending(const flow_vm *vm, const value *v)
{
	return vm->ctx.lowering && v->t == V_FUTURE && ((const vfuture *)v->as.o)->state == FUT_PENDING;
}
/* Adds place + traceback to the recorded message (once per error). */
void vm_trace(flow_vm *vm);
/* If *r is a future, replaces it by its value. */
int vm_force(flow_vm *vm, value *r);
/* *tmp = value of *r, resolving a future without touching *r (new ref). */
int vm_deref(flow_vm *vm, const value *r, value *tmp);
/* *out = what *r is as a dict key (a new ref): a call's future itself (a
 * key by identity, as Ray's {ref: i}), else its value (vm_deref). */
int vm_key(flow_vm *vm, const value *r, value *out);
/* Operations that look at the items of a list or dict (comparisons, `in`,
 * formatting, natives and methods not marked NATIVE_SHAPE) need values,
 * never futures: the same as vm_deref / vm_force, and a future anywhere
 * inside is resolved too. While lowering, such a future makes the
 * instruction a node (vm_need_runtime). vm_lift.c. */
int vm_deref_values(flow_vm *vm, const value *r, value *tmp);
int vm_force_values(flow_vm *vm, value *r);
/* Calls a callable with positional args and nkw keyword args (values
 * kwv, names kwnames). Result: new ref in *out. */
int vm_call_kw(flow_vm *vm, value fn, value *args, int npos, value *kwv,
               const char *const *kwnames, int nkw, value *out);
/* Matches args to a proto's parameters into out[0..p->nparams) (new refs). */
int vm_match_proto(flow_vm *vm, const bc_proto *p, value *args, int npos, value *kwv,
                   const char *const *kwnames, int nkw, value *out);
/* The same for a native; returns argc in *argc (variadic: npos). */
int vm_match_native(flow_vm *vm, const native_def *d, value *args, int npos, value *kwv,
                    const char *const *kwnames, int nkw, value *out, int *argc);
/* Checks (and resolves futures of) annotated params of p at args. */
int vm_check_return(flow_vm *vm, const bc_proto *p, value *v);
int vm_check_args(flow_vm *vm, const bc_proto *p, value *args);
int vm_check_type(flow_vm *vm, int tcode, const char *tname, value *v, const char *what);
/* Calls method `name` on a receiver (value or actor handle); args borrowed.
 * site may be NULL (then looked up by name). */
int vm_call_method(flow_vm *vm, value *recv, const bc_msite *site, const char *name,
                   value *args, int npos, value *kwv, const char *const *kwnames, int nkw,
                   value *out);
int vm_index(flow_vm *vm, value obj, value idx, value *out);
int vm_setindex(flow_vm *vm, value *obj, value idx, value v);
int vm_slice(flow_vm *vm, value obj, value *parts, int mask, value *out);
int vm_arith_slow(flow_vm *vm, int op, value *a, value *b, value *out);
int vm_cmp_slow(flow_vm *vm, value *a, value *b, int *res);
int vm_eq_slow(flow_vm *vm, value *a, value *b, bool *res);
int vm_truthy_slow(flow_vm *vm, value *v, bool *res);
int vm_iter_prep(flow_vm *vm, value *src, value *out);
/* vm_tensor.c */
int vm_matmul(flow_vm *vm, value a, value b, value *out);
int vm_tensor_index(flow_vm *vm, value t, value idx, value *out);
int vm_tensor_slice(flow_vm *vm, value t, bool has_lo, int64_t lo, bool has_hi, int64_t hi, value *out);
int vm_tensor_rows(flow_vm *vm, value t, value *out);

#endif
