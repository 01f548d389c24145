/* check_files.c - files handed between unordered tasks (check_files.h).
 * Per proto its file role (a fixpoint over calls, as effects.c does);
 * then, per literal string argument of a writing task call, a search of
 * the DAG from the writer for each reader of the same string. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check_files.h"
#include "lang/bytecode.h"
#include "lang/native.h"
#include "lang/value.h"

enum { ROLE_WRITES = 1, ROLE_READS = 2 };

static bool is_io(const native_def *nd)
{
	const module_def *io = native_module("io");
	return io && native_module_fn(io, nd->name) == nd;
}

static unsigned native_role(const native_def *nd)
{
	if (!is_io(nd))
		return 0;
	if (!strcmp(nd->name, "write_text") || !strcmp(nd->name, "write_csv"))
		return ROLE_WRITES;
	if (!strcmp(nd->name, "read_text") || !strcmp(nd->name, "read_lines") ||
	    !strcmp(nd->name, "read_csv") || !strcmp(nd->name, "exists"))
		return ROLE_READS;
	return 0;
}

/* Per proto: ROLE_* bits of its code and of the protos it calls. */
static unsigned *proto_roles(const bc_program *p)
{
	int n = p->nprotos;
	unsigned *r = calloc((size_t)n + 1, sizeof *r);
	if (!r)
		abort();
	for (int j = 0; j < n; j++) {
		const bc_proto *pr = p->protos[j];
		for (int pc = 0; pc < pr->ncode; pc++)
			if (BC_OP(pr->code[pc]) == OP_NATIVE)
				r[j] |= native_role(pr->natives[BC_B(pr->code[pc])]);
	}
	for (bool changed = true; changed;) {
		changed = false;
		for (int j = 0; j < n; j++) {
			const bc_proto *pr = p->protos[j];
			for (int pc = 0; pc < pr->ncode; pc++) {
				uint32_t i = pr->code[pc];
				if ((BC_OP(i) == OP_CALLP || BC_OP(i) == OP_CALLT) && (uint32_t)BC_Bx(i) < (uint32_t)n &&
				    (r[BC_Bx(i)] & ~r[j])) {
					r[j] |= r[BC_Bx(i)];
					changed = true;
				}
			}
		}
	}
	return r;
}

/* A task call's literal string argument. */
typedef struct use {
	uint32_t node;
	unsigned role;
	value path; /* borrowed from the DAG's inputs */
} use;

static bool same_str(value a, value b)
{
	return str_len(a) == str_len(b) && memcmp(str_data(a), str_data(b), str_len(a)) == 0;
}

/* Is there a path from a to b (a < b) in g? mark: scratch of g->n bytes,
 * zeroed on return. stack: g->n entries. */
static bool reaches(const dag *g, uint32_t a, uint32_t b, uint8_t *mark, uint32_t *stack)
{
	uint32_t top = 0, nmarked = 0;
	bool found = false;
	stack[top++] = a;
	mark[a] = 1;
	/* stack entries double as the list of marked nodes to clear */
	uint32_t *seen = stack + g->n;
	seen[nmarked++] = a;
	while (top > 0 && !found) {
		uint32_t v = stack[--top];
		for (uint32_t e = g->succ_off[v]; e < g->succ_off[v + 1]; e++) {
			uint32_t w = g->succs[e];
			if (w == b) {
				found = true;
				break;
			}
			if (w > b || mark[w])
				continue; /* ids are topological: past b cannot lead back to it */
			mark[w] = 1;
			seen[nmarked++] = w;
			stack[top++] = w;
		}
	}
	for (uint32_t k = 0; k < nmarked; k++)
		mark[seen[k]] = 0;
	return found;
}

static const char *task_name(const dag *g, uint32_t v)
{
	return g->prog->protos[g->nodes[v].proto]->name;
}

int check_file_races(const dag *g, const diag_ctx *d, FILE *out, int max)
{
	if (!g || !g->succ_off || g->n == 0)
		return 0;
	unsigned *roles = proto_roles(g->prog);
	use *uses = NULL;
	size_t nuses = 0, cap = 0;
	for (uint32_t v = 0; v < g->n; v++) {
		const dag_node *nd = &g->nodes[v];
		if (nd->kind != DAG_TASK || nd->proto >= (uint32_t)g->prog->nprotos || !roles[nd->proto])
			continue;
		for (uint32_t k = 0; k < nd->nin; k++) {
			value x = g->ins[nd->in + k];
			if (x.t != V_STR || str_len(x) == 0)
				continue;
			if (nuses == cap) {
				cap = cap ? cap * 2 : 32;
				uses = realloc(uses, cap * sizeof *uses);
				if (!uses)
					abort();
			}
			uses[nuses++] = (use){v, roles[nd->proto], x};
		}
	}
	uint8_t *mark = calloc(g->n, 1);
	uint32_t *stack = calloc((size_t)g->n * 2, sizeof *stack);
	bool *warned = calloc(g->n, sizeof *warned);
	if (!mark || !stack || !warned)
		abort();
	int nwarn = 0;
	for (size_t i = 0; i < nuses && nwarn < max; i++) {
		if (!(uses[i].role & ROLE_WRITES))
			continue;
		for (size_t j = 0; j < nuses && nwarn < max; j++) {
			uint32_t w = uses[i].node, r = uses[j].node;
			if (r == w || !(uses[j].role & ROLE_READS) || warned[r] ||
			    !same_str(uses[i].path, uses[j].path))
				continue;
			if (w < r ? reaches(g, w, r, mark, stack) : reaches(g, r, w, mark, stack))
				continue;
			warned[r] = true;
			char *text = NULL;
			span ws = g->nodes[w].where;
			if (asprintf(&text, "task '%s' reads \"%.*s\", which task '%s' (called at line %d) "
			             "writes, but nothing orders the two calls: they may run in either "
			             "order. Have '%s' return the path and pass its result to '%s'",
			             task_name(g, r), (int)(str_len(uses[j].path) > 200 ? 200 : str_len(uses[j].path)),
			             str_data(uses[j].path), task_name(g, w), ws.line, task_name(g, w),
			             task_name(g, r)) < 0)
				abort();
			char *msg = diag_format(d, DIAG_WARNING, g->nodes[r].where, text);
			fputs(msg, out);
			free(msg);
			free(text);
			nwarn++;
		}
	}
	free(mark);
	free(stack);
	free(warned);
	free(uses);
	free(roles);
	return nwarn;
}
