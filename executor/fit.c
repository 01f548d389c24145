/* fit.c - fitting needs to a node's resources (fit.h). A small tolerance
 * on fractional amounts: ten tasks of @cpus(0.1) fill one CPU. */
#include <stdlib.h>
#include <string.h>

#include "executor/fit.h"

#define EPS 1e-9

void res_init(res_pool *r, double cpus, double memory, int nres, const char *const *names,
              const double *amounts)
{
	memset(r, 0, sizeof *r);
	r->cap_cpu = r->free_cpu = cpus;
	r->cap_mem = r->free_mem = memory;
	r->nres = nres;
	r->names = names;
	r->cap = amounts;
	r->free = calloc((size_t)nres + 1, sizeof *r->free);
	if (!r->free)
		abort();
	for (int k = 0; k < nres; k++)
		r->free[k] = amounts[k];
}

void res_fini(res_pool *r)
{
	free(r->free);
	r->free = NULL;
}

const bc_attrs *res_needs(const dag *g, uint32_t v)
{
	const dag_node *n = &g->nodes[v];
	if (n->kind == DAG_TASK)
		return &g->prog->protos[n->proto]->attrs;
	if (n->kind == DAG_ACTOR)
		return &g->prog->actors[n->proto]->attrs;
	return NULL;
}

static double need_of(const bc_attrs *a, const char *name)
{
	for (int k = 0; k < a->nresources; k++)
		if (!strcmp(a->res_names[k], name))
			return a->res_amounts[k];
	return 0;
}

bool res_fits(const res_pool *r, const bc_attrs *a)
{
	if (!a)
		return true;
	if (a->cpus > r->free_cpu + EPS || (double)a->memory > r->free_mem)
		return false;
	for (int k = 0; k < r->nres; k++)
		if (need_of(a, r->names[k]) > r->free[k] + EPS)
			return false;
	return true;
}

void res_take(res_pool *r, const bc_attrs *a, double sign)
{
	if (!a)
		return;
	r->free_cpu -= sign * a->cpus;
	r->free_mem -= sign * (double)a->memory;
	for (int k = 0; k < r->nres; k++)
		r->free[k] -= sign * need_of(a, r->names[k]);
}

bool res_within(const bc_attrs *held, const bc_attrs *child)
{
	double hc = held ? held->cpus : 0;
	int64_t hm = held ? held->memory : 0;
	if (child->cpus > hc + EPS || child->memory > hm)
		return false;
	for (int k = 0; k < child->nresources; k++)
		if (child->res_amounts[k] > (held ? need_of(held, child->res_names[k]) : 0) + EPS)
			return false;
	return true;
}

/* What the driver's actors take for the whole run (res_check_dag). */
typedef struct res_held {
	double cpu, mem;
	double *res;  /* per resource of the pool */
} res_held;

static void never_cpu_mem(const res_pool *r, const bc_attrs *a, const res_held *held, char *why,
                          size_t n)
{
	double hc = held ? held->cpu : 0, hm = held ? held->mem : 0;
	if (a->cpus > r->cap_cpu - hc + EPS) {
		int k = snprintf(why, n, "%g CPUs (@cpus) but this node has %g (--cpus)", a->cpus, r->cap_cpu);
		if (hc > 0 && k > 0 && (size_t)k < n)
			snprintf(why + k, n - (size_t)k, " and its actors hold %g of them for the whole run", hc);
	} else if ((double)a->memory > r->cap_mem - hm) {
		int k = snprintf(why, n, "%.0f MiB of memory (@memory) but this node has %.0f MiB",
		                 (double)a->memory / 1048576.0, r->cap_mem / 1048576.0);
		if (hm > 0 && k > 0 && (size_t)k < n)
			snprintf(why + k, n - (size_t)k, " and its actors hold %.0f MiB of it for the whole run",
			         hm / 1048576.0);
	}
}

/* Why needs a can never be met on r ("" if they can), when `held` (or
 * NULL) is taken for the whole run by the driver's actors. */
static void never_fits(const res_pool *r, const bc_attrs *a, const res_held *held, char *why,
                       size_t n)
{
	why[0] = 0;
	never_cpu_mem(r, a, held, why, n);
	for (int k = 0; k < a->nresources && !why[0]; k++) {
		double have = 0, hr = 0;
		for (int q = 0; q < r->nres; q++)
			if (!strcmp(r->names[q], a->res_names[k])) {
				have = r->cap[q];
				hr = held ? held->res[q] : 0;
			}
		if (a->res_amounts[k] > have - hr + EPS) {
			int m = snprintf(why, n, "%g of resource '%s' (@resources) but this node offers %g "
			                 "(--resources %s=N)", a->res_amounts[k], a->res_names[k], have,
			                 a->res_names[k]);
			if (hr > 0 && m > 0 && (size_t)m < n)
				snprintf(why + m, n - (size_t)m, " and its actors hold %g of it for the whole run", hr);
		}
	}
}

void res_never_fits(const res_pool *r, const bc_attrs *a, char *why, size_t n)
{
	never_fits(r, a, NULL, why, n);
}

char *res_say_never(FILE *err, const bc_program *p, span w, bool actor, const char *name,
                    const char *why)
{
	char *msg;
	if (asprintf(&msg, "%s '%s' needs %s, so it can never %s", actor ? "actor" : "task", name, why,
	             actor ? "be created" : "run") < 0)
		abort();
	fprintf(err, "%s:%d:%d: error: %s\n", bc_source_path(p, w.file), w.line, w.col, msg);
	return msg;
}

/* The driver's actors, one by one as they are created: each must fit
 * beside those before it; *held ends as what they all hold. */
static int check_actors(const res_pool *r, const dag *g, res_held *held, FILE *err)
{
	const bc_program *p = g->prog;
	char why[512];
	for (uint32_t v = 0; v < g->n; v++) {
		const dag_node *n = &g->nodes[v];
		if (n->kind != DAG_ACTOR)
			continue;
		const bc_actor *c = p->actors[n->proto];
		never_fits(r, &c->attrs, held, why, sizeof why);
		if (why[0]) {
			free(res_say_never(err, p, n->where, true, c->name, why));
			return -1;
		}
		held->cpu += c->attrs.cpus;
		held->mem += (double)c->attrs.memory;
		for (int q = 0; q < r->nres; q++)
			held->res[q] += need_of(&c->attrs, r->names[q]);
	}
	return 0;
}

int res_check_dag(const res_pool *r, const dag *g, FILE *err)
{
	const bc_program *p = g->prog;
	bool *seen = calloc((size_t)p->nprotos + 1, 1);
	res_held held = { 0, 0, calloc((size_t)r->nres + 1, sizeof(double)) };
	if (!seen || !held.res)
		abort();
	int rc = check_actors(r, g, &held, err);
	char why[512];
	for (uint32_t v = 0; v < g->n && rc == 0; v++) {
		const dag_node *n = &g->nodes[v];
		if (n->kind != DAG_TASK || seen[n->proto])
			continue;
		seen[n->proto] = true;
		const bc_proto *t = p->protos[n->proto];
		never_fits(r, &t->attrs, &held, why, sizeof why);
		if (why[0]) {
			free(res_say_never(err, p, n->where, false, t->name, why));
			rc = -1;
		}
	}
	free(held.res);
	free(seen);
	return rc;
}
