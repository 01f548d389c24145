/* verify.c - the bytecode verifier (verify.h): operand checks derived
 * from the opcode table, reachable jump targets, and a register type flow
 * over the basic blocks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"
#include "native.h"
#include "vm.h"

/* Register type masks: one bit per vtype; KSTR is a string constant of the
 * proto (BINDMETHOD keeps a pointer into it); SHARED means the value may
 * also be referenced from elsewhere. LISTAPPEND and DICTSET need an
 * unshared container fresh from NEWLIST/NEWDICT, so no bytecode can put a
 * container inside itself (a reference cycle would leak). */
#define T(t) (1u << (t))
#define T_SHARED (1u << 30)
#define T_ANY (((1u << V__COUNT) - 1) | T_SHARED)
#define T_KSTR VM_MASK_KSTR /* (1u << 31): vm_resume reads these masks */
#define T_STRS (T(V_STR) | T_KSTR)

typedef struct vstate {
	const bc_program *p;
	const bc_proto *x;
	bool is_init;
	int nregs;
	char **err;
	int regs[512];     /* scratch for bc_insn_regs */
} vstate;

static int fail(vstate *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(vstate *v, const char *fmt, ...)
{
	if (*v->err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(v->err, fmt, ap) < 0)
		*v->err = NULL;
	va_end(ap);
	return -1;
}

#define CHECK(cond, ...) do { if (!(cond)) return fail(v, __VA_ARGS__); } while (0)

/* the registers of one set (reads or writes) below the frame size */
static int check_regs(vstate *v, int pc, bool writes)
{
	const bc_proto *x = v->x;
	unsigned op = BC_OP(x->code[pc]);
	int n = bc_insn_regs(v->p, x, pc, writes, v->regs, 512);
	CHECK(n >= 0, "%s: %s at pc %d has operands out of range", x->name, bc_op_names[op], pc);
	for (int j = 0; j < n; j++)
		CHECK(v->regs[j] < v->nregs, "%s: register %d of %s at pc %d is not below %d", x->name, v->regs[j],
		      bc_op_names[op], pc, v->nregs);
	return 0;
}

/* operand checks that need no flow: indexes first (the register counts of
 * calls depend on them), then registers; successors */
static int check_insn(vstate *v, int pc, int *nsucc, int succ[2])
{
	const bc_proto *x = v->x;
	const bc_program *p = v->p;
	uint32_t i = x->code[pc];
	unsigned op = BC_OP(i);
	int a = BC_A(i), b = BC_B(i), c = BC_C(i), bx = BC_Bx(i);
	(void)a;
#define KIDX(k) CHECK((k) < x->nconsts, "%s: constant %d at pc %d out of range", x->name, (k), pc)
	CHECK(op < OP__COUNT, "%s: unknown opcode %u at pc %d", x->name, op, pc);
	const bc_opinfo *o = &bc_ops[op];
	switch ((bc_opfmt)o->fmt) {
	case OPFMT_AK: case OPFMT_AX:
		KIDX(bx);
		if (o->flags & OPF_KSTR)
			CHECK(x->consts[bx].t == V_STR, "%s: %s at pc %d needs a string constant", x->name, o->name, pc);
		break;
	case OPFMT_AG:
		CHECK(b < p->nmodules && c < p->modules[b].nglobals, "%s: global %d.%d at pc %d out of range", x->name, b, c, pc);
		CHECK(!(o->flags & OPF_INIT) || (v->is_init && b == x->module), "%s: %s outside a module init at pc %d",
		      x->name, o->name, pc);
		break;
	case OPFMT_AP: {
		CHECK(bx < p->nprotos, "%s: proto %d at pc %d out of range", x->name, bx, pc);
		const bc_proto *cp = p->protos[bx];
		/* CALLP also runs a method of the caller's own actor inline
		 * (self.process(x) in a method or init) */
		bool own_method = op == OP_CALLP && cp->kind == PROTO_METHOD && cp->actor &&
		                  cp->actor == x->actor && (x->kind == PROTO_METHOD || x->kind == PROTO_INIT);
		CHECK(own_method || cp->kind == (op == OP_CALLP ? PROTO_FN : PROTO_TASK), "%s: %s at pc %d calls a %s",
		      x->name, o->name, pc, cp->name);
		break;
	}
	case OPFMT_AACT:
		CHECK(bx < p->nactors, "%s: actor %d at pc %d out of range", x->name, bx, pc);
		break;
	case OPFMT_ANAT: {
		CHECK(b < x->nnatives, "%s: native slot %d at pc %d out of range", x->name, b, pc);
		const native_params *np = native_params_of(x->natives[b]);
		CHECK(!np || np->n < 0 || np->n == c, "%s: %s at pc %d gets %d arguments", x->name, x->natives[b]->name, pc, c);
		break;
	}
	case OPFMT_AMS:
		CHECK(b < x->nmsites, "%s: method site %d at pc %d out of range", x->name, b, pc);
		CHECK(x->msites[b].nkw <= c, "%s: method site at pc %d has more keywords than arguments", x->name, pc);
		break;
	default:
		break;
	}
	if (op == OP_SLICE)
		CHECK(c <= 7, "%s: slice mask %d at pc %d", x->name, c, pc);
	if (o->flags & OPF_EXTRA) {
		CHECK(c <= b, "%s: more keyword arguments than arguments at pc %d", x->name, pc);
		if (c) {
			CHECK(pc + 1 < x->ncode && BC_OP(x->code[pc + 1]) == OP_EXTRAARG, "%s: %s at pc %d lacks its EXTRAARG",
			      x->name, o->name, pc);
			int k = BC_Bx(x->code[pc + 1]);
			KIDX(k);
			value names = x->consts[k];
			CHECK(names.t == V_LIST && list_len(names) >= (size_t)c, "%s: keyword names at pc %d are not a list", x->name, pc);
			for (int j = 0; j < c; j++)
				CHECK(list_get(names, (size_t)j).t == V_STR, "%s: keyword name at pc %d is not a string", x->name, pc);
		}
	}
	if (check_regs(v, pc, false) || check_regs(v, pc, true))
		return -1;
	if (o->flags & OPF_SKIP)
		CHECK(pc + 1 < x->ncode && BC_OP(x->code[pc + 1]) == OP_JMP, "%s: %s at pc %d is not followed by a JMP",
		      x->name, o->name, pc);
	if (op == OP_TRY) {
		/* TRY; body; ENDTRY; JMP; handler (the shape compile.c emits) */
		int h = pc + 1 + BC_sBx(i);
		CHECK(h >= pc + 3 && h < x->ncode && BC_OP(x->code[h - 2]) == OP_ENDTRY &&
		      BC_OP(x->code[h - 1]) == OP_JMP, "%s: TRY at pc %d has no handler", x->name, pc);
	}
	*nsucc = bc_insn_succ(x, pc, succ);
	return 0; /* successors are checked where reachable (the compiler leaves
	           * dead jumps past the end after a final return) */
#undef KIDX
}

static uint32_t const_mask(value k)
{
	return k.t == V_STR ? T_KSTR : T(k.t);
}

/* One instruction on the register types r: checks what it needs, applies
 * what it writes. What the table says an instruction writes, and this
 * does not refine, may be anything afterwards. */
static int flow_insn(vstate *v, int pc, uint32_t *r)
{
	const bc_proto *x = v->x;
	uint32_t i = x->code[pc];
	bc_op op = BC_OP(i);
	int a = BC_A(i), b = BC_B(i), c = BC_C(i);
#define NEED(reg, mask) CHECK((r[reg] & ~(uint32_t)(mask) & ~T_SHARED) == 0, \
		"%s: %s at pc %d may see a value of the wrong type in register %d", x->name, bc_op_names[op], pc, (reg))
#define FRESH(reg, t) CHECK(r[reg] == T(t), \
		"%s: %s at pc %d needs a new container in register %d", x->name, bc_op_names[op], pc, (reg))
	if (bc_ops[op].flags & OPF_CALL) {
		/* the callee's frame starts at A and is cleared on return */
		for (int j = a; j < v->nregs; j++)
			r[j] = T_ANY;
		return 0;
	}
	switch (op) {
	case OP_MOVE: r[b] |= T_SHARED; r[a] = r[b]; break;
	case OP_LOADK: r[a] = const_mask(x->consts[BC_Bx(i)]); break;
	case OP_LOADI: r[a] = T(V_INT); break;
	case OP_LOADNONE: r[a] = T(V_NONE); break;
	case OP_LOADBOOL: case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_IN: case OP_NOTIN:
	case OP_NOT:
		r[a] = T(V_BOOL);
		break;
	case OP_NEWLIST:
		for (int j = 1; j <= b; j++)
			r[a + j] |= T_SHARED;
		r[a] = T(V_LIST);
		break;
	case OP_NEWDICT:
		for (int j = 1; j <= 2 * b; j++)
			r[a + j] |= T_SHARED;
		r[a] = T(V_DICT);
		break;
	case OP_LISTAPPEND:
	case OP_YIELD:
		FRESH(a, V_LIST);
		CHECK(b != a, "%s: LISTAPPEND at pc %d appends a list to itself", x->name, pc);
		r[b] |= T_SHARED;
		break;
	case OP_DICTSET:
		FRESH(a, V_DICT);
		CHECK(b != a && c != a, "%s: DICTSET at pc %d puts a dict in itself", x->name, pc);
		r[b] |= T_SHARED;
		r[c] |= T_SHARED;
		break;
	case OP_SETINDEX: r[c] |= T_SHARED; r[a] = T_ANY; break;
	case OP_SETSELF: case OP_SETGLOBAL: r[a] |= T_SHARED; break;
	case OP_BINDMETHOD: /* a bound method, or a field of an error value */
		NEED(c, T_KSTR); r[b] |= T_SHARED; r[a] = T(V_FUNC) | T(V_STR) | T(V_NONE) | T_SHARED; break;
	case OP_FORMAT: NEED(c, T_STRS); r[a] = T(V_STR); break;
	case OP_TOSTR: r[a] = T(V_STR); break;
	case OP_CONCAT:
		for (int j = 0; j < c; j++)
			NEED(b + j, T_STRS);
		r[a] = T(V_STR);
		break;
	case OP_FORPREP: r[a] = r[a + 1] = r[a + 2] = T(V_INT); break;
	case OP_TRY: r[a] |= T(V_ERROR); break; /* as the handler sees it */
	case OP_FORLOOP: NEED(a, T(V_INT)); NEED(a + 1, T(V_INT)); NEED(a + 2, T(V_INT)); break;
	case OP_ITERPREP: r[b] |= T_SHARED; r[a] = T(V_LIST) | T(V_STREAM) | T_SHARED; r[a + 1] = T(V_INT); break;
	case OP_ITERNEXT: NEED(a, T(V_LIST) | T(V_STREAM)); NEED(a + 1, T(V_INT)); r[b] = T_ANY; break;
	default: {
		/* GETGLOBAL, GETSELF, arithmetic, INDEX, SLICE, UNPACK... */
		int n = bc_insn_regs(v->p, x, pc, true, v->regs, 512);
		for (int j = 0; j < n; j++)
			r[v->regs[j]] = T_ANY;
		break;
	}
	}
	return 0;
#undef NEED
#undef FRESH
}

/* Joins register types r into leader t's entry state; queues t if it grew. */
static void join_state(uint32_t *st, uint8_t *seen, uint8_t *queued, int *work, int *nw, int t,
                       const uint32_t *r, int nr)
{
	if (t < 0) /* a handler never reached: its TRY is unreachable */
		return;
	uint32_t *ts = st + (size_t)t * (size_t)nr;
	bool changed = !seen[t];
	for (int j = 0; j < nr; j++) {
		uint32_t m = seen[t] ? ts[j] | r[j] : r[j];
		changed |= m != ts[j];
		ts[j] = m;
	}
	seen[t] = 1;
	if (changed && !queued[t]) {
		queued[t] = 1;
		work[(*nw)++] = t;
	}
}

int bc_verify_proto(const bc_program *p, const bc_proto *x, bool is_init, char **err)
{
	return bc_verify_proto_at(p, x, is_init, -1, NULL, err);
}

int bc_verify_proto_at(const bc_program *p, const bc_proto *x, bool is_init, int want_pc, uint32_t *want,
                       char **err)
{
	vstate *v = malloc(sizeof *v);
	if (!v)
		abort();
	*err = NULL;
	*v = (vstate){ .p = p, .x = x, .is_init = is_init, .nregs = x->nregs, .err = err };
	int n = x->ncode, rc = -1;
	int *leader = malloc(sizeof(int) * (size_t)n);
	int *succ = malloc(sizeof(int) * 2 * (size_t)n);
	uint8_t *nsucc = malloc((size_t)n);
	if (!leader || !succ || !nsucc)
		abort();
	for (int pc = 0; pc < n; pc++)
		leader[pc] = -1;
	leader[0] = 0;
	for (int pc = 0; pc < n; pc++) {
		int ns = 0, s[2] = { 0, 0 };
		if (check_insn(v, pc, &ns, s))
			goto out;
		nsucc[pc] = (uint8_t)ns;
		succ[2 * pc] = s[0];
		succ[2 * pc + 1] = s[1];
	}
	/* reachable code: every successor inside the code; leaders */
	{
		uint8_t *reach = calloc((size_t)n, 1);
		int *stack = malloc(sizeof(int) * (size_t)n), ns = 0;
		if (!reach || !stack)
			abort();
		reach[0] = 1;
		stack[ns++] = 0;
		int bad = 0;
		while (ns > 0 && !bad) {
			int pc = stack[--ns];
			for (int j = 0; j < nsucc[pc]; j++) {
				int t = succ[2 * pc + j];
				if (t < 0 || t >= n) {
					bad = fail(v, "%s: %s at pc %d goes to %d, outside the code", x->name,
					           bc_op_names[BC_OP(x->code[pc])], pc, t);
					break;
				}
				if (nsucc[pc] != 1 || t != pc + 1)
					leader[t] = 0;
				if (!reach[t]) {
					reach[t] = 1;
					stack[ns++] = t;
				}
			}
		}
		free(reach);
		free(stack);
		if (bad)
			goto out;
	}
	int nl = 0;
	for (int pc = 0; pc < n; pc++)
		if (leader[pc] == 0)
			leader[pc] = nl++;
		else
			leader[pc] = -1;
	int nr = x->nregs;
	/* per instruction: the innermost try handler whose body holds it, or
	 * -1; an error there reaches the handler with the registers as they
	 * are before or after it, so those states flow into the handler
	 * (check_insn has checked every TRY's shape) */
	int *hnd = malloc(sizeof(int) * (size_t)(n ? n : 1));
	if (!hnd)
		abort();
	for (int pc = 0; pc < n; pc++)
		hnd[pc] = -1;
	for (int pc = 0; pc < n; pc++)
		if (BC_OP(x->code[pc]) == OP_TRY)
			for (int q = pc + 1, h = pc + 1 + BC_sBx(x->code[pc]); q < h - 2; q++)
				hnd[q] = h;
	uint32_t *st = calloc((size_t)nl * (size_t)nr, sizeof(uint32_t));
	uint8_t *seen = calloc((size_t)nl, 1), *queued = calloc((size_t)nl, 1);
	int *work = malloc(sizeof(int) * (size_t)nl), *lpc = malloc(sizeof(int) * (size_t)nl);
	uint32_t *r = malloc(sizeof(uint32_t) * (size_t)nr);
	if (!st || !seen || !queued || !work || !lpc || !r)
		abort();
	for (int pc = 0; pc < n; pc++)
		if (leader[pc] >= 0)
			lpc[leader[pc]] = pc;
	for (int j = 0; j < nr; j++)
		st[j] = j < x->nparams ? T_ANY : T(V_NONE);
	seen[0] = queued[0] = 1;
	int nw = 0;
	work[nw++] = 0;
	while (nw > 0) {
		int l = work[--nw];
		queued[l] = 0;
		memcpy(r, st + (size_t)l * (size_t)nr, sizeof(uint32_t) * (size_t)nr);
		for (int pc = lpc[l];;) {
			if (pc == want_pc)
				for (int j = 0; j < nr; j++)
					want[j] |= r[j];
			if (hnd[pc] >= 0)
				join_state(st, seen, queued, work, &nw, leader[hnd[pc]], r, nr);
			if (flow_insn(v, pc, r))
				goto done;
			if (hnd[pc] >= 0)
				join_state(st, seen, queued, work, &nw, leader[hnd[pc]], r, nr);
			int ns = nsucc[pc];
			if (ns == 1 && succ[2 * pc] == pc + 1 && leader[pc + 1] < 0) {
				pc++;
				continue;
			}
			for (int s = 0; s < ns; s++)
				join_state(st, seen, queued, work, &nw, leader[succ[2 * pc + s]], r, nr);
			break;
		}
	}
	rc = 0;
done:
	free(hnd);
	free(st);
	free(seen);
	free(queued);
	free(work);
	free(lpc);
	free(r);
out:
	free(leader);
	free(succ);
	free(nsucc);
	free(v);
	if (rc && !*err && asprintf(err, "%s: bad code", x->name) < 0)
		*err = NULL;
	return rc;
}
