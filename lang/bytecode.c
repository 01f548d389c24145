/* bytecode.c - opcode names, annotation codes, freeing and dumping a
 * compiled program (flow compile --dump-bytecode). */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bytecode.h"
#include "native.h"

const char *const bc_op_names[OP__COUNT] = {
#define OP(name, ...) #name,
#include "opcodes.h"
#undef OP
};

const bc_opinfo bc_ops[OP__COUNT] = {
#define OP(name, fmt, reads, writes, flags, sym, doc) \
	[OP_##name] = { #name, OPFMT_##fmt, (reads), (writes), (flags), (sym) },
#include "opcodes.h"
#undef OP
};

/* first register and length of a run of registers */
static int run_of(const bc_program *prog, const bc_proto *x, uint32_t i, int run, int *first, int *n)
{
	int a = BC_A(i), b = BC_B(i), c = BC_C(i), bx = BC_Bx(i);
	switch (run) {
	case OPRUN_A1_B: *first = a + 1; *n = b; return 0;
	case OPRUN_A1_2B: *first = a + 1; *n = 2 * b; return 0;
	case OPRUN_A_B1: *first = a; *n = b + 1; return 0;
	case OPRUN_B_4: *first = b; *n = 4; return 0;
	case OPRUN_B_C: *first = b; *n = c; return 0;
	/* the arguments of a native or a method site: the slot must exist */
	case OPRUN_A_C:
		if (b >= x->nnatives)
			return -1;
		*first = a;
		*n = c;
		return 0;
	case OPRUN_A1_C1:
		if (b >= x->nmsites)
			return -1;
		*first = a + 1;
		*n = c + 1;
		return 0;
	case OPRUN_A_PROTO:
		if (bx >= prog->nprotos)
			return -1;
		*first = a;
		*n = prog->protos[bx]->nparams;
		return 0;
	case OPRUN_A_INIT:
		if (bx >= prog->nactors)
			return -1;
		*first = a;
		*n = prog->actors[bx]->init ? prog->actors[bx]->init->nparams : 0;
		return 0;
	default:
		*first = *n = 0;
		return 0;
	}
}

static int add_reg(int *regs, int n, int max, int r)
{
	for (int j = 0; j < n; j++)
		if (regs[j] == r)
			return n;
	if (n >= max)
		return -1;
	regs[n] = r;
	return n + 1;
}

int bc_insn_regs(const bc_program *prog, const bc_proto *x, int pc, bool writes, int *regs, int max)
{
	if (pc < 0 || pc >= x->ncode)
		return -1;
	uint32_t i = x->code[pc];
	bc_op op = BC_OP(i);
	if (op >= OP__COUNT)
		return -1;
	unsigned set = writes ? bc_ops[op].writes : bc_ops[op].reads;
	int a = BC_A(i), n = 0;
	const int single[5] = { a, a + 1, a + 2, BC_B(i), BC_C(i) };
	for (int k = 0; k < 5 && n >= 0; k++)
		if (set & (1u << k))
			n = add_reg(regs, n, max, single[k]);
	int first, len;
	if (n < 0 || run_of(prog, x, i, OPR_RUNOF(set), &first, &len))
		return -1;
	for (int j = 0; j < len && n >= 0; j++)
		n = add_reg(regs, n, max, first + j);
	return n;
}

int bc_insn_succ(const bc_proto *x, int pc, int succ[2])
{
	uint32_t i = x->code[pc];
	bc_op op = BC_OP(i);
	unsigned f = op < OP__COUNT ? bc_ops[op].flags : OPF_END;
	succ[0] = pc + 1;
	if (f & OPF_END)
		return 0;
	if (f & OPF_JUMP) {
		succ[0] = pc + 1 + BC_sJ(i);
		return 1;
	}
	if (f & OPF_BRANCH) {
		succ[1] = pc + 1 + BC_sBx(i);
		return 2;
	}
	if (f & OPF_SKIP) {
		succ[1] = pc + 2;
		return 2;
	}
	if ((f & OPF_EXTRA) && BC_C(i))
		succ[0] = pc + 2;
	return 1;
}

/* FNV-1a, 64 bits */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t j = 0; j < n; j++)
		h = (h ^ b[j]) * 0x100000001b3ull;
	return h;
}

uint64_t bc_ops_hash(const bc_opinfo *ops, int n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (int op = 0; op < n; op++) {
		const bc_opinfo *o = &ops[op];
		unsigned char facts[7] = { o->fmt, (unsigned char)o->reads, (unsigned char)(o->reads >> 8),
			(unsigned char)o->writes, (unsigned char)(o->writes >> 8), (unsigned char)o->flags,
			(unsigned char)(o->flags >> 8) };
		h = fnv(h, o->name, strlen(o->name) + 1);
		h = fnv(h, facts, sizeof facts);
	}
	return h;
}

uint64_t bc_ops_fingerprint(void)
{
	return bc_ops_hash(bc_ops, OP__COUNT);
}

int bc_tcode(const char *name)
{
	static const char *const names[] = { "any", "none", "bool", "int", "float", "str",
		"list", "dict", "tensor", "fn", "task", "future" };
	if (!name)
		return BC_T_ANY;
	for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
		if (!strcmp(name, names[i]))
			return i;
	return BC_T_ACTOR;
}

span bc_place(const bc_proto *p, int pc)
{
	if (p && p->lines && pc >= 0 && pc < p->ncode)
		return p->lines[pc];
	if (p)
		return p->where;
	span none = { -1, 0, 0, 0, 0 };
	return none;
}

const char *bc_source_path(const bc_program *p, int file)
{
	const char *path = p && p->diag ? diag_source_path(p->diag, file) : NULL;
	return path ? path : "?";
}

static void release_proto_values(bc_proto *p)
{
	for (int i = 0; i < p->nconsts; i++)
		val_rele(p->consts[i]);
	for (int i = 0; i < p->nparams; i++)
		val_rele(p->params[i].deflt);
	free(p->code);
	free(p->consts);
	free(p->lines);
}

void bc_program_free(bc_program *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nprotos; i++)
		release_proto_values(p->protos[i]);
	for (int m = 0; m < p->nmodules; m++) {
		bc_module *mod = &p->modules[m];
		if (mod->init)
			release_proto_values((bc_proto *)mod->init);
		if (mod->globals)
			for (int g = 0; g < mod->nglobals; g++)
				val_rele(mod->globals[g]);
	}
	if (p->driver)
		release_proto_values((bc_proto *)p->driver);
	if (p->impl) {
		arena_free(p->impl);
		free(p->impl);
	}
	free(p);
}

static const char *kind_name(bc_proto_kind k)
{
	switch (k) {
	case PROTO_DRIVER: return "driver";
	case PROTO_FN: return "fn";
	case PROTO_TASK: return "task";
	case PROTO_METHOD: return "method";
	case PROTO_INIT: return "init";
	}
	return "?";
}

static void dump_value(FILE *out, value v)
{
	sbuf b;
	sbuf_init(&b);
	val_repr(&b, v);
	if (b.len > 60)
		fprintf(out, "%.57s...", b.data);
	else
		fprintf(out, "%s", b.data ? b.data : "");
	sbuf_fini(&b);
}

static void dump_attrs(FILE *out, const bc_attrs *a)
{
	fprintf(out, "  attrs: cpus=%g", a->cpus);
	if (a->memory)
		fprintf(out, " memory=%lld", (long long)a->memory);
	if (a->retries)
		fprintf(out, " retries=%d", a->retries);
	if (a->timeout > 0)
		fprintf(out, " timeout=%g", a->timeout);
	if (a->associative)
		fprintf(out, " associative");
	if (a->cache)
		fprintf(out, " cache");
	if (a->idempotent)
		fprintf(out, " idempotent");
	if (a->restarts)
		fprintf(out, " restarts=%d", a->restarts);
	for (int i = 0; i < a->nresources; i++)
		fprintf(out, " %s=%g", a->res_names[i], a->res_amounts[i]);
	fprintf(out, "\n");
}

static void dump_proto(const bc_program *prog, const bc_proto *p, FILE *out)
{
	fprintf(out, "%s %s(", kind_name(p->kind), p->name);
	for (int i = 0; i < p->nparams; i++) {
		const bc_param *pa = &p->params[i];
		fprintf(out, "%s%s", i ? ", " : "", pa->name);
		if (pa->type)
			fprintf(out, ": %s", pa->type);
		if (pa->has_default) {
			fprintf(out, " = ");
			dump_value(out, pa->deflt);
		}
	}
	fprintf(out, ")");
	if (p->ret_type)
		fprintf(out, " -> %s", p->ret_type);
	fprintf(out, "  ; nregs=%d nconsts=%d ncode=%d\n", p->nregs, p->nconsts, p->ncode);
	if (p->kind == PROTO_TASK)
		dump_attrs(out, &p->attrs);
	for (int pc = 0; pc < p->ncode; pc++) {
		uint32_t i = p->code[pc];
		bc_op op = BC_OP(i);
		int a = BC_A(i), b = BC_B(i), c = BC_C(i), bx = BC_Bx(i);
		char ops[64];
		int f = op < OP__COUNT ? bc_ops[op].fmt : OPFMT_ABC;
		switch (f) {
		case OPFMT_A: snprintf(ops, sizeof ops, "%d", a); break;
		case OPFMT_AB: snprintf(ops, sizeof ops, "%d %d", a, b); break;
		case OPFMT_ABI: snprintf(ops, sizeof ops, "%d %d %d", a, b, BC_sC(i)); break;
		case OPFMT_AsBx: snprintf(ops, sizeof ops, "%d %d", a, BC_sBx(i)); break;
		case OPFMT_sJ: snprintf(ops, sizeof ops, "%d", BC_sJ(i)); break;
		case OPFMT_AK: case OPFMT_AP: case OPFMT_AACT: snprintf(ops, sizeof ops, "%d %d", a, bx); break;
		case OPFMT_AX: snprintf(ops, sizeof ops, "%d", bx); break;
		default: snprintf(ops, sizeof ops, "%d %d %d", a, b, c); break;
		}
		fprintf(out, "  %4d  %-10s %-12s", pc, op < OP__COUNT ? bc_op_names[op] : "?", ops);
		span w = bc_place(p, pc);
		fprintf(out, " %s:%d", bc_source_path(prog, w.file), w.line);
		switch (f) {
		case OPFMT_AK: case OPFMT_AX:
			if (bx < p->nconsts) {
				fprintf(out, "  ; ");
				dump_value(out, p->consts[bx]);
			}
			break;
		case OPFMT_AP:
			if (bx < prog->nprotos)
				fprintf(out, "  ; %s", prog->protos[bx]->name);
			break;
		case OPFMT_AACT:
			if (bx < prog->nactors)
				fprintf(out, "  ; %s", prog->actors[bx]->name);
			break;
		case OPFMT_ANAT:
			if (b < p->nnatives)
				fprintf(out, "  ; %s", p->natives[b]->name);
			break;
		case OPFMT_AMS:
			if (b < p->nmsites)
				fprintf(out, "  ; .%s", p->msites[b].name);
			break;
		case OPFMT_AG:
			if (b < prog->nmodules && c < prog->modules[b].nglobals)
				fprintf(out, "  ; %s", prog->modules[b].global_names[c]);
			break;
		case OPFMT_sJ:
			fprintf(out, "  ; to %d", pc + 1 + BC_sJ(i));
			break;
		case OPFMT_AsBx:
			if (bc_ops[op].flags & OPF_BRANCH)
				fprintf(out, "  ; to %d", pc + 1 + BC_sBx(i));
			break;
		default:
			break;
		}
		fprintf(out, "\n");
	}
	fprintf(out, "\n");
}

void bc_dump(const bc_program *p, FILE *out)
{
	for (int m = 0; m < p->nmodules; m++) {
		const bc_module *mod = &p->modules[m];
		fprintf(out, "module %d %s (%s): %d globals\n", m, mod->name ? mod->name : "?",
			mod->path ? mod->path : "?", mod->nglobals);
		for (int g = 0; g < mod->nglobals; g++) {
			fprintf(out, "  global %d %s = ", g, mod->global_names[g]);
			if (mod->globals)
				dump_value(out, mod->globals[g]);
			fprintf(out, "\n");
		}
		if (mod->init)
			dump_proto(p, mod->init, out);
	}
	for (int i = 0; i < p->nactors; i++) {
		const bc_actor *a = p->actors[i];
		fprintf(out, "actor %s: %d methods%s\n", a->name, a->nmethods, a->init ? ", init" : "");
		dump_attrs(out, &a->attrs);
	}
	fprintf(out, "\n");
	for (int i = 0; i < p->nprotos; i++)
		dump_proto(p, p->protos[i], out);
	if (p->driver)
		dump_proto(p, p->driver, out);
}
