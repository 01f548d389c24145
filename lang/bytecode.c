/* bytecode.c - opcode names, annotation codes, freeing and dumping a
 * compiled program (flow compile --dump-bytecode). */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bytecode.h"
#include "native.h"

const char *const bc_op_names[OP__COUNT] = {
#define OP(name, fmt, doc) #name,
#include "opcodes.h"
#undef OP
};

enum { F_ABC, F_AB, F_A, F_AK, F_AP, F_AACT, F_AsBx, F_sJ, F_ABI, F_ANAT, F_AMS, F_AG, F_AX };
static const unsigned char op_format[OP__COUNT] = {
#define OP(name, fmt, doc) F_##fmt,
#include "opcodes.h"
#undef OP
};

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
		int f = op < OP__COUNT ? op_format[op] : F_ABC;
		switch (f) {
		case F_A: snprintf(ops, sizeof ops, "%d", a); break;
		case F_AB: snprintf(ops, sizeof ops, "%d %d", a, b); break;
		case F_ABI: snprintf(ops, sizeof ops, "%d %d %d", a, b, BC_sC(i)); break;
		case F_AsBx: snprintf(ops, sizeof ops, "%d %d", a, BC_sBx(i)); break;
		case F_sJ: snprintf(ops, sizeof ops, "%d", BC_sJ(i)); break;
		case F_AK: case F_AP: case F_AACT: snprintf(ops, sizeof ops, "%d %d", a, bx); break;
		case F_AX: snprintf(ops, sizeof ops, "%d", bx); break;
		default: snprintf(ops, sizeof ops, "%d %d %d", a, b, c); break;
		}
		fprintf(out, "  %4d  %-10s %-12s", pc, op < OP__COUNT ? bc_op_names[op] : "?", ops);
		span w = bc_place(p, pc);
		fprintf(out, " %s:%d", bc_source_path(prog, w.file), w.line);
		switch (f) {
		case F_AK: case F_AX:
			if (bx < p->nconsts) {
				fprintf(out, "  ; ");
				dump_value(out, p->consts[bx]);
			}
			break;
		case F_AP:
			if (bx < prog->nprotos)
				fprintf(out, "  ; %s", prog->protos[bx]->name);
			break;
		case F_AACT:
			if (bx < prog->nactors)
				fprintf(out, "  ; %s", prog->actors[bx]->name);
			break;
		case F_ANAT:
			if (b < p->nnatives)
				fprintf(out, "  ; %s", p->natives[b]->name);
			break;
		case F_AMS:
			if (b < p->nmsites)
				fprintf(out, "  ; .%s", p->msites[b].name);
			break;
		case F_AG:
			if (b < prog->nmodules && c < prog->modules[b].nglobals)
				fprintf(out, "  ; %s", prog->modules[b].global_names[c]);
			break;
		case F_sJ:
			fprintf(out, "  ; to %d", pc + 1 + BC_sJ(i));
			break;
		case F_AsBx:
			if (op != OP_LOADI)
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
