/* parallel.h - the parallel executor (in-process): runs a lowered DAG on
 * a pool of worker threads, each task as soon as its inputs are done,
 * and prints what serial_run_dag prints (stdout identical; on stderr the
 * same lines, task lines possibly in another order). */
#ifndef FLOW_PARALLEL_H
#define FLOW_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../compiler/dag.h"

typedef struct parallel_opts {
	uint64_t seed;  /* flow run --seed (default 0) */
	FILE *out;      /* the driver's prints */
	FILE *err;      /* task prints "(name) text", failures, the summary */
	int cpus;       /* worker threads; 0 = the machine's online cores */
	bool quiet;     /* no progress output (the caller leaves obs->progress NULL) */
	struct run_obs *obs; /* watches the run (executor/run_obs.h), or NULL */
	struct store *store; /* large results live here (executor/store.h), or NULL */
	int nresources;      /* --resources name=amount: what the node offers */
	const char *const *res_names;
	const double *res_amounts;
} parallel_opts;

/* Runs g: DAG_TASK and DAG_PUT nodes on the workers, highest priority
 * (longest path to a sink) first; every other node (actor creation,
 * method calls, tasks passed an actor handle, implicit expressions,
 * driver effects) on the calling thread in id order, each once its
 * predecessors are done, so driver effects and each actor's calls keep
 * the serial order (actors live on the driver thread in this version). Returns 0, or 1
 * when anything failed (every failure on o->err, then the summary line).
 * The node futures in g are filled in (g is spent: run it once). */
int parallel_run_dag(const dag *g, const parallel_opts *o);

#endif
