/* obj_refs.c - a run's results in the object store (obj_refs.h): a count
 * of data consumers per node, moving large results into the store, and
 * freeing each once its last consumer has run. */
#include <stdlib.h>
#include <string.h>

#include "executor/obj_refs.h"
#include "executor/store.h"

/* host_data of a done future whose result is in the object store */
static const char in_store[] = "in the object store";

void run_store_init(run_store *rs, struct store *st, const dag *g)
{
	memset(rs, 0, sizeof *rs);
	rs->st = st;
	if (!st)
		return;
	rs->uses = calloc((size_t)g->n + 1, sizeof *rs->uses);
	if (!rs->uses)
		abort();
	for (uint32_t v = 0; v < g->n; v++)
		for (uint32_t e = g->pred_off[v]; e < g->pred_off[v + 1]; e++)
			if (g->pred_order[e] != 1) /* data, or held by the driver */
				rs->uses[g->preds[e]]++;
}

void run_store_fini(run_store *rs)
{
	free(rs->uses);
	rs->uses = NULL;
}

bool run_store_holds(const vfuture *f)
{
	return f->host_data == in_store;
}

int run_store_read(run_store *rs, const vfuture *f, value *out, char **err)
{
	return store_get(rs->st, (uint64_t)f->node, out, err);
}

static bool holds_node_future(value x, void *ctx)
{
	(void)ctx;
	return dag_ref(x) >= 0;
}

/* Prints the first store error of the run; later ones add nothing. */
static void store_trouble(run_store *rs, FILE *err, char *msg)
{
	if (!__atomic_exchange_n(&rs->reported, 1, __ATOMIC_RELAXED))
		fprintf(err, "flow: warning: object store: %s (results are kept in memory)\n",
		        msg ? msg : "failed");
	free(msg);
}

/* Node v's done result f: dropped when nothing uses it, moved into the
 * store when large. */
static void keep_result(run_store *rs, FILE *err, vfuture *f, uint32_t v)
{
	if (__atomic_load_n(&rs->uses[v], __ATOMIC_ACQUIRE) == 0) {
		value old = f->result;
		f->result = v_none();
		val_rele(old);
		return;
	}
	if (val_size_estimate(f->result) < RUN_STORE_INLINE_MAX)
		return;
	char *msg = NULL;
	int rc = store_put(rs->st, v, f->result, &msg);
	if (rc != STORE_ERR) {
		value old = f->result;
		f->result = v_none();
		f->host_data = (void *)in_store;
		val_rele(old);
	}
	if (rc != STORE_OK)
		store_trouble(rs, err, msg);
	else
		free(msg);
}

/* v has run: each input it was the last consumer of leaves the store. */
static void release_inputs(run_store *rs, FILE *err, const dag *g, uint32_t v)
{
	for (uint32_t e = g->pred_off[v]; e < g->pred_off[v + 1]; e++) {
		uint32_t p = g->preds[e];
		if (g->pred_order[e] == 1 || __atomic_sub_fetch(&rs->uses[p], 1, __ATOMIC_ACQ_REL) != 0)
			continue;
		const vfuture *pf = g->nodes[p].kind != DAG_ACTOR ? (const vfuture *)g->fut[p].as.o : NULL;
		/* a held edge's call may still run (the staged driver ended
		 * without a get on it: `wait(fs, n=1)`): its thread settles it,
		 * the state last; only a settled future's fields are read */
		if (pf && g->pred_order[e] == DAG_EDGE_HELD &&
		    __atomic_load_n(&pf->state, __ATOMIC_ACQUIRE) == FUT_PENDING)
			continue;
		if (pf && pf->host_data == in_store) {
			char *msg = NULL;
			if (store_free(rs->st, p, &msg) != STORE_OK)
				store_trouble(rs, err, msg);
			else
				free(msg);
		}
	}
}

/* The staged driver (a DAG_CONT successor) may read v's result as soon as
 * v is done, while this thread is still here (a held edge: it does not
 * wait for v's bookkeeping): v's result is not moved under it. */
static bool driver_reads(const dag *g, uint32_t v)
{
	for (uint32_t e = g->succ_off[v]; e < g->succ_off[v + 1]; e++)
		if (g->nodes[g->succs[e]].kind == DAG_CONT)
			return true;
	return false;
}

void run_store_after(run_store *rs, FILE *err, const dag *g, uint32_t v)
{
	if (!rs || !rs->st)
		return;
	vfuture *f = g->nodes[v].kind != DAG_ACTOR ? (vfuture *)g->fut[v].as.o : NULL;
	/* a driver expression may pass an input's future on in its result
	 * (`[a, b][get(i)]`): then its users read that input, which stays */
	bool passes_on = f && f->state == FUT_DONE &&
	                 (g->nodes[v].kind == DAG_IMPLICIT || g->nodes[v].kind == DAG_EFFECT) &&
	                 val_any(f->result, holds_node_future, NULL);
	if (f && f->state == FUT_DONE && f->host_data != in_store && !driver_reads(g, v))
		keep_result(rs, err, f, v);
	if (!passes_on)
		release_inputs(rs, err, g, v);
}
