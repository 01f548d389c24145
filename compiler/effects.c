/* effects.c - the effect analysis of effects.h: direct effects from each
 * proto's instructions, then a fixpoint over calls (tasks and fns). */
#include <stdlib.h>
#include <string.h>

#include "effects.h"
#include "lang/native.h"

/* Is a value method named `name` possibly an actor's method? Then a call
 * site with that name may reach an actor. */
static bool actor_method_name(const bc_program *p, const char *name)
{
	for (int a = 0; a < p->nactors; a++) {
		const bc_actor *c = p->actors[a];
		size_t cl = strlen(c->name);
		for (int m = 0; m < c->nmethods; m++)
			if (!strcmp(c->methods[m]->name + cl + 1, name))
				return true;
	}
	return false;
}

/* Effects of pr's own instructions (calls are followed by the fixpoint). */
static bool direct_effect(const bc_program *p, const bc_proto *pr)
{
	for (int pc = 0; pc < pr->ncode; pc++) {
		uint32_t i = pr->code[pc];
		switch (BC_OP(i)) {
		case OP_NATIVE: {
			const native_def *d = pr->natives[BC_B(i)];
			if (d->flags & (NATIVE_EFFECT | NATIVE_CLOCK | NATIVE_ENV))
				return true;
			/* wait/get on futures are fine; put/reduce call nothing unseen
			 * except reduce's function argument: treated as unseen */
			if (!strcmp(d->name, "reduce") || !strcmp(d->name, "sorted") ||
			    !strcmp(d->name, "map") || !strcmp(d->name, "filter"))
				return true;
			break;
		}
		case OP_METHOD:
			/* an actor's method, or xs.sort(key=f) calling a function */
			if (actor_method_name(p, pr->msites[BC_B(i)].name) ||
			    !strcmp(pr->msites[BC_B(i)].name, "sort"))
				return true;
			break;
		case OP_CALL:       /* a function value: not followed */
			return true;
		default:
			/* self, module globals, a new actor (opcodes.h) */
			if (BC_OP(i) < OP__COUNT && (bc_ops[BC_OP(i)].flags & OPF_EFFECT))
				return true;
			break;
		}
	}
	return false;
}

bool *effects_free_protos(const bc_program *p)
{
	int n = p->nprotos;
	bool *ok = malloc(sizeof *ok * (size_t)(n + 1));
	if (!ok)
		abort();
	for (int j = 0; j < n; j++)
		ok[j] = !direct_effect(p, p->protos[j]);
	for (bool changed = true; changed;) {
		changed = false;
		for (int j = 0; j < n; j++) {
			if (!ok[j])
				continue;
			const bc_proto *pr = p->protos[j];
			for (int pc = 0; pc < pr->ncode && ok[j]; pc++) {
				uint32_t i = pr->code[pc];
				if ((BC_OP(i) == OP_CALLP || BC_OP(i) == OP_CALLT) && BC_Bx(i) < n &&
				    !ok[BC_Bx(i)]) {
					ok[j] = false;
					changed = true;
				}
			}
		}
	}
	return ok;
}

int *effects_rerun_blockers(const bc_program *p)
{
	int n = p->nprotos;
	int *blk = malloc(sizeof *blk * (size_t)(n + 1));
	if (!blk)
		abort();
	for (int j = 0; j < n; j++)
		blk[j] = p->protos[j]->attrs.idempotent ? -1 : direct_effect(p, p->protos[j]) ? j : -1;
	for (bool changed = true; changed;) {
		changed = false;
		for (int j = 0; j < n; j++) {
			if (blk[j] >= 0 || p->protos[j]->attrs.idempotent)
				continue;
			const bc_proto *pr = p->protos[j];
			for (int pc = 0; pc < pr->ncode && blk[j] < 0; pc++) {
				uint32_t i = pr->code[pc];
				if ((BC_OP(i) == OP_CALLP || BC_OP(i) == OP_CALLT) && BC_Bx(i) < n &&
				    blk[BC_Bx(i)] >= 0) {
					blk[j] = blk[BC_Bx(i)];
					changed = true;
				}
			}
		}
	}
	return blk;
}
