/* place.c - placement by resources on the cluster (place.h). */
#include "place.h"

#include <stdlib.h>
#include <string.h>

#include "lang/diag.h"

int place_parse_resources(const char *s, char **names, double *amounts, int max)
{
	int n = 0;
	char *copy = strdup(s ? s : ""), *save = NULL;
	if (!copy)
		return 0;
	for (char *it = strtok_r(copy, ",", &save); it && n < max; it = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(it, '='), *end;
		if (!eq || eq == it)
			continue;
		*eq = 0;
		double v = strtod(eq + 1, &end);
		if (end == eq + 1 || *end || !(v >= 0))
			continue;
		if (!(names[n] = strdup(it)))
			break;
		amounts[n++] = v;
	}
	free(copy);
	return n;
}

place_offer *place_offer_new(uint64_t node, double cpus, double memory, const char *resources)
{
	place_offer *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->node = node;
	o->nres = place_parse_resources(resources, o->names, o->amounts, PLACE_MAX_RES);
	/* memory unknown: do not refuse @memory for it (as node_local.c) */
	res_init(&o->pool, cpus, memory > 0 ? memory : (double)((uint64_t)1 << 50), o->nres,
	         (const char *const *)o->names, o->amounts);
	return o;
}

void place_offer_free(place_offer *o)
{
	if (!o)
		return;
	res_fini(&o->pool);
	for (int k = 0; k < o->nres; k++)
		free(o->names[k]);
	free(o);
}

bool place_has_needs(const bc_attrs *a)
{
	return a && (a->cpus != 1 || a->memory > 0 || a->nresources > 0);
}

bool place_actor_has_needs(const bc_attrs *a)
{
	return a && (a->cpus > 0 || a->memory > 0 || a->nresources > 0);
}

/* A node's name for messages: "node 2 (host2)". */
static void node_name(const flow_node_view *v, char *buf, size_t n)
{
	snprintf(buf, n, "node %s (%s)", v->id, v->hostname ? v->hostname : "?");
}

void place_view_pool(const flow_node_view *v, res_pool *r)
{
	/* memory unknown (0): no @memory is refused for it */
	res_init(r, v->cpus, v->memory > 0 ? v->memory : (double)((uint64_t)1 << 50), v->nres, v->res_names,
	         v->res_amounts);
}

/* Why task t fits none of the nodes (why[0] == 0: it fits one). */
static void fits_none(const flow_node_view *const *nodes, int n, const bc_attrs *a, char *why,
                      size_t wn)
{
	char first_need[512] = "";
	size_t len = 0;
	int counted = 0;
	why[0] = 0;
	for (int i = 0; i < n; i++) {
		const flow_node_view *v = nodes[i];
		if (!v->alive || v->cpus <= 0)
			continue;
		res_pool r;
		place_view_pool(v, &r);
		char one[512];
		res_never_fits(&r, a, one, sizeof one);
		res_fini(&r);
		if (!one[0]) {
			why[0] = 0;
			return;
		}
		/* "<need> but this node <has what>" */
		char *but = strstr(one, " but this node ");
		const char *rest = but ? but + strlen(" but this node ") : one;
		if (but)
			*but = 0;
		char name[320];
		node_name(v, name, sizeof name);
		int k;
		if (!counted++) {
			snprintf(first_need, sizeof first_need, "%s", one);
			k = snprintf(why + len, wn - len, "%s, so it can never run on this cluster: %s %s", one,
			             name, rest);
		} else if (strcmp(one, first_need) == 0) {
			k = snprintf(why + len, wn - len, "; %s %s", name, rest);
		} else {
			k = snprintf(why + len, wn - len, "; %s: %s but it %s", name, one, rest);
		}
		if (k < 0 || (size_t)k >= wn - len) {
			len = wn - 1;
			break;
		}
		len += (size_t)k;
	}
	if (!counted)
		snprintf(why, wn, "a node that offers CPUs, so it can never run on this cluster: "
		         "no live node offers CPUs (start a worker, or a head without --cpus 0)");
}

int place_check_dag(const flow_node_view *const *nodes, int n, const dag *g, FILE *err)
{
	const bc_program *p = g->prog;
	bool *seen = calloc((size_t)p->nprotos + 1, 1), *cseen = calloc((size_t)p->nactors + 1, 1);
	if (!seen || !cseen)
		abort();
	int rc = 0;
	char why[2048];
	for (uint32_t v = 0; v < g->n; v++) {
		const dag_node *nd = &g->nodes[v];
		if (nd->kind == DAG_ACTOR) {
			/* an actor holds its needs on one node while it lives */
			if (!cseen[nd->proto]) {
				cseen[nd->proto] = true;
				const bc_actor *c = p->actors[nd->proto];
				fits_none(nodes, n, &c->attrs, why, sizeof why);
				if (why[0]) {
					fprintf(err, "%s:%d:%d: error: actor '%s' needs %s\n",
					        bc_source_path(p, nd->where.file), nd->where.line, nd->where.col,
					        c->name, why);
					rc = -1;
				}
			}
			continue;
		}
		if (nd->kind != DAG_TASK || seen[nd->proto])
			continue;
		seen[nd->proto] = true;
		const bc_proto *t = p->protos[nd->proto];
		fits_none(nodes, n, &t->attrs, why, sizeof why);
		if (why[0]) {
			fprintf(err, "%s:%d:%d: error: task '%s' needs %s\n", bc_source_path(p, nd->where.file),
			        nd->where.line, nd->where.col, t->name, why);
			rc = -1;
		}
	}
	free(seen);
	free(cseen);
	return rc;
}

int place_totals(const flow_node_view *const *nodes, int n, char ***names, double **amounts)
{
	int cap = 0, cnt = 0;
	*names = NULL;
	*amounts = NULL;
	for (int i = 0; i < n; i++) {
		const flow_node_view *v = nodes[i];
		if (!v->alive || v->cpus <= 0)
			continue;
		for (int k = 0; k < v->nres; k++) {
			int q = 0;
			while (q < cnt && strcmp((*names)[q], v->res_names[k]) != 0)
				q++;
			if (q == cnt) {
				if (cnt == cap) {
					cap = cap ? 2 * cap : 8;
					*names = realloc(*names, (size_t)cap * sizeof **names);
					*amounts = realloc(*amounts, (size_t)cap * sizeof **amounts);
					if (!*names || !*amounts)
						abort();
				}
				if (!((*names)[cnt] = strdup(v->res_names[k])))
					abort();
				(*amounts)[cnt++] = 0;
			}
			(*amounts)[q] += v->res_amounts[k];
		}
	}
	return cnt;
}
