/* vm_lift.c - the VM's side of lowering: which instructions may become
 * DAG nodes and which registers they read, the "needs a run-time value"
 * signal, turning a failed instruction into a node or a compile error,
 * and running one lifted instruction alone (for executors). */
#include <stdlib.h>
#include <string.h>

#include "vm_internal.h"

int vm_need_runtime(flow_vm *vm)
{
	vm->lift = true;
	return -1;
}

bool vm_budget_spent(flow_vm *vm, const uint32_t *pc)
{
	/* natives calling back (sorted with a key...) cannot be suspended */
	if (vm->cdepth != 1 || vm->nframes < 1)
		return false;
	const vm_frame *f0 = &vm->frames[0];
	const uint32_t *at = vm->nframes == 1 ? pc : f0->pc;
	int idx = (int)(at - f0->p->code) - 1;
	int line = idx >= 0 && idx < f0->p->ncode ? f0->p->lines[idx].line : 0;
	if (line > vm->budget_line) {
		vm->budget_line = line; /* a later statement: a new budget */
		vm->budget_used = 0;
	}
	if (++vm->budget_used <= vm->ctx.budget)
		return false;
	vm_need_suspend(vm, "this statement takes more than the compile-time budget",
	                "this statement takes more than the compile-time budget");
	return true;
}

int vm_need_suspend(flow_vm *vm, const char *why, const char *msg)
{
	vm_raise(vm, "%s", msg);
	vm->suspend_why = why;
	return -1;
}

/* ---- operations that look at items ------------------------------------- */

static bool is_future(value x, void *ctx)
{
	(void)ctx;
	return x.t == V_FUTURE;
}

/* Does a list or dict hold a future anywhere? Flat lists (the common
 * case) are scanned without val_any's bookkeeping. */
static bool holds_future(value x)
{
	if (x.t == V_LIST) {
		if (!list_may_nest(x))
			return false; /* only scalars and strs were ever stored */
		size_t n = list_len(x);
		bool nested = false;
		for (size_t j = 0; j < n; j++) {
			value y = list_get(x, j);
			if (y.t == V_FUTURE)
				return true;
			nested |= y.t == V_LIST || y.t == V_DICT;
		}
		return nested && val_any(x, is_future, NULL);
	}
	return x.t == V_DICT && val_any(x, is_future, NULL);
}

int vm_deref_values(flow_vm *vm, const value *r, value *tmp)
{
	value x;
	if (vm_deref(vm, r, &x))
		return -1;
	if (!holds_future(x)) {
		*tmp = x;
		return 0;
	}
	/* while lowering every future is pending: the operation waits for
	 * them, so it becomes a node (LANGUAGE.md section 6) */
	if (vm->ctx.lowering) {
		val_rele(x);
		return vm_need_runtime(vm);
	}
	int rc = vm_get_deep(vm, x, tmp);
	val_rele(x);
	return rc;
}

int vm_force_values(flow_vm *vm, value *r)
{
	value x;
	if (vm_deref_values(vm, r, &x))
		return -1;
	VM_SET(r, x);
	return 0;
}

int vm_insn_inputs(const bc_program *prog, const bc_proto *p, int pc, uint8_t *regs, int max, int *outs)
{
	if (pc < 0 || pc >= p->ncode)
		return -1;
	uint32_t i = p->code[pc];
	bc_op op = BC_OP(i);
	if (op >= OP__COUNT || !(bc_ops[op].flags & OPF_NODE))
		return -1;
	if ((bc_ops[op].flags & OPF_EXTRA) && BC_C(i) && pc + 1 >= p->ncode)
		return -1;
	int r[512];
	int n = bc_insn_regs(prog, p, pc, false, r, max < 512 ? max : 512);
	for (int j = 0; j < n; j++) {
		if (r[j] > 255)
			return -1;
		regs[j] = (uint8_t)r[j];
	}
	unsigned w = bc_ops[op].writes;
	*outs = (w & OPR_A ? 1 : 0) | (w & OPR_B ? 2 : 0) | (w & OPR_C ? 4 : 0);
	return n;
}

int vm_exec_insn(flow_vm *vm, const bc_proto *p, int pc, const uint8_t *regs, const value *vals,
                 int n, int out_reg, value *out)
{
	if (pc < 0 || pc >= p->ncode || out_reg >= p->nregs)
		return vm_raise(vm, "corrupt node: instruction %d of '%s'", pc, p->name);
	uint32_t i = p->code[pc];
	uint32_t code[3];
	span lines[3];
	int nc = 0;
	code[nc] = i;
	lines[nc++] = p->lines[pc];
	if (BC_OP(i) == OP_CALL && BC_C(i)) {
		code[nc] = p->code[pc + 1];
		lines[nc++] = p->lines[pc + 1];
	}
	code[nc] = BC_ABC(OP_RETURN, out_reg, 0, 0);
	lines[nc++] = p->lines[pc];
	/* a copy of p that runs just this instruction: same constants,
	 * natives and method sites, so the instruction means the same */
	bc_proto q = *p;
	q.code = code;
	q.ncode = nc;
	q.lines = lines;
	q.nparams = 0;
	q.checks = false;
	q.ret_tcode = BC_T_ANY;
	q.ret_type = NULL;
	value *nb = vm_top(vm);
	if (vm->nframes >= VM_MAX_FRAMES || nb + p->nregs >= vm->stack + VM_STACK_SLOTS)
		return vm_raise(vm, "maximum recursion depth exceeded");
	free(vm->msg);
	free(vm->full);
	vm->msg = vm->full = NULL;
	vm->traced = false;
	vm->has_where = false;
	for (int j = 0; j < p->nregs; j++)
		VM_SET(nb + j, v_none());
	/* a driver value that was not known at compile time is known now:
	 * the instruction sees it as it would have in a top-to-bottom run;
	 * the futures of calls stay futures (an operation that looks at
	 * items waits for them itself: vm_deref_values) */
	for (int j = 0; j < n; j++) {
		value x;
		if (regs[j] >= p->nregs) {
			vm_raise(vm, "corrupt node: register %d of '%s'", regs[j], p->name);
			goto fail;
		}
		if (vm_resolve_implied(vm, vals[j], &x))
			goto fail;
		VM_SET(nb + regs[j], x);
	}
	vm_frame *f = &vm->frames[vm->nframes++];
	f->p = &q;
	f->pc = q.code;
	f->base = nb;
	f->entry = true;
	return vm_execute(vm, out);
fail:
	for (int j = 0; j < p->nregs; j++)
		VM_SET(nb + j, v_none());
	return -1;
}

bool vm_try_static(flow_vm *vm, const bc_proto *p, int lo, int hi, const value *base)
{
	if (lo < 0 || hi > p->ncode || lo > hi)
		return false;
	for (int pc = lo; pc < hi; pc++) {
		uint32_t i = p->code[pc];
		switch (BC_OP(i)) {
		case OP_CALL: case OP_CALLP: case OP_CALLT: case OP_NEWACTOR: case OP_METHOD:
		case OP_FORPREP: case OP_FORLOOP: case OP_ITERPREP: case OP_ITERNEXT:
		case OP_GETSELF: case OP_SETSELF: case OP_SETGLOBAL: case OP_YIELD:
			return false; /* a call, a loop (the budget), an effect */
		case OP_NATIVE:
			if ((int)BC_B(i) >= p->nnatives || !vm_native_pure(p->natives[BC_B(i)]))
				return false;
			break;
		case OP_JMP:
			if (BC_sJ(i) < 0)
				return false;
			break;
		default:
			break;
		}
		int r[512];
		int n = bc_insn_regs(vm->prog, p, pc, false, r, 512);
		if (n < 0)
			return false;
		for (int j = 0; j < n; j++)
			if (r[j] >= p->nregs || base[r[j]].t == V_FUTURE || base[r[j]].t == V_STREAM ||
			    holds_future(base[r[j]]))
				return false;
	}
	return true;
}

/* Why an instruction that cannot be a node needed a run-time value. */
static const char *why_not(bc_op op)
{
	switch (op) {
	case OP_TEST: case OP_IFEQ: case OP_IFLT: case OP_IFLE:
		return "this condition depends on a run-time value, so the compiler cannot "
		       "unroll the driver; move this logic into a task";
	case OP_FORPREP:
		return "this range depends on a run-time value, so the compiler cannot "
		       "unroll the loop; move the loop into a task";
	case OP_ITERPREP:
		return "this loop iterates over a run-time value, so the compiler cannot "
		       "unroll it; move the loop into a task";
	case OP_SETINDEX: case OP_DICTSET: case OP_NEWDICT:
		return "this changes a run-time value, or uses one as a key or index, which "
		       "the driver cannot do at compile time; move this into a task";
	default:
		return "this needs a run-time value, which the driver does not have at "
		       "compile time; move this into a task";
	}
}

/* Why such an instruction makes the rest of the driver run at run time. */
static const char *why_dynamic(bc_op op)
{
	switch (op) {
	case OP_TEST: case OP_IFEQ: case OP_IFLT: case OP_IFLE:
		return "this condition depends on a run-time value";
	case OP_FORPREP:
		return "this range depends on a run-time value";
	case OP_ITERPREP:
		return "this loop iterates over a run-time value";
	case OP_SETINDEX: case OP_DICTSET: case OP_NEWDICT:
		return "this changes a run-time value, or uses one as a key or index";
	default:
		return "this needs a run-time value";
	}
}

int vm_lift_insn(flow_vm *vm, vm_frame *f)
{
	const bc_proto *p = f->p;
	int pc = (int)(f->pc - p->code) - 1;
	if (pc > 0 && BC_OP(p->code[pc]) == OP_EXTRAARG)
		pc--;
	uint32_t i = p->code[pc];
	uint8_t regs[256];
	int outs;
	free(vm->msg);
	vm->msg = NULL;
	if (!vm->ctx.host->lift || vm_insn_inputs(vm->prog, p, pc, regs, 256, &outs) < 0)
		return vm_need_suspend(vm, why_dynamic(BC_OP(i)), why_not(BC_OP(i)));
	/* a node works on a snapshot: a change it made would be lost */
	if (BC_OP(i) == OP_METHOD && p->msites[BC_B(i)].mutates) {
		vm_raise(vm, "'.%s()' here changes a value using a run-time value (or changes "
		         "a run-time value), which the driver cannot do at compile time; "
		         "move this into a task", p->msites[BC_B(i)].name);
		vm->suspend_why = "a method here changes a run-time value";
		return -1;
	}
	int targets[2], nt = 0;
	if (outs & 1)
		targets[nt++] = BC_A(i);
	if (outs & 2)
		targets[nt++] = BC_B(i);
	if (outs & 4)
		targets[nt++] = BC_C(i);
	value res[2];
	for (int j = 0; j < nt; j++) {
		if (vm->ctx.host->lift(vm, p, pc, f->base, targets[j], &res[j])) {
			for (int q = 0; q < j; q++)
				val_rele(res[q]);
			return -1;
		}
	}
	for (int j = 0; j < nt; j++)
		VM_SET(f->base + targets[j], res[j]);
	return 0;
}
