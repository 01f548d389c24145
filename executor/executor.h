/* executor.h - the one executor interface: `flow run` fills an exec_opts
 * and runs a lowered DAG through an executor found by name, without
 * knowing which one runs it.
 *
 *   serial    the reference: one thread, node by node in id order, nested
 *             calls inline; its output is the semantics every other
 *             executor reproduces (serial.c)
 *   parallel  the scheduler (sched.h) feeding the in-process node
 *             (node_local.c: a pool of --cpus threads) (parallel.c)
 *
 * A cluster executor is one more entry here: the same scheduler feeding
 * remote nodes (node.h says what a remote node implements).
 *
 * Ownership: the options borrow everything they point to (streams,
 * observer, store, resource names); the caller keeps them alive for the
 * run and frees them after. A DAG is spent by a run (its futures are
 * filled in): run it once. */
#ifndef FLOW_EXECUTOR_H
#define FLOW_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler/dag.h"
#include "lang/bytecode.h"

/* What every executor takes. */
typedef struct exec_opts {
	uint64_t seed;           /* flow run --seed (default 0) */
	FILE *out;               /* the driver's prints (NULL: stdout) */
	FILE *err;               /* task prints "(name) text", failures, the summary (NULL: stderr) */
	struct run_obs *obs;     /* watches the run (executor/run_obs.h), or NULL */
	struct store *store;     /* large results live here (executor/store.h), or NULL */
	int cpus;                /* CPUs the node offers (threads); 0: the machine's cores.
	                          * The serial executor offers 1. */
	bool quiet;              /* no progress output (the caller leaves obs->progress NULL) */
	int nresources;          /* --resources name=amount: what the node offers */
	const char *const *res_names;
	const double *res_amounts;
	/* the parallel executor only: the DAG's task calls run there (the
	 * cluster, task_run.h's task_remote), or NULL */
	const struct task_remote *remote;
	/* the parallel executor only: what tasks and the driver read as their
	 * node (cluster.nodes(), sys.node_id()) instead of this machine's, or NULL */
	const struct flow_node_view *view;
} exec_opts;

typedef struct executor {
	const char *name;        /* "serial", "parallel" */
	/* Runs g. Returns 0, or 1 when anything failed: every failure is
	 * printed on o->err once, then a summary line ("flow: 2 tasks failed,
	 * 1 skipped"). */
	int (*run_dag)(const dag *g, const exec_opts *o);
} executor;

extern const executor executor_serial;
extern const executor executor_parallel;

/* The executor called name, or NULL. */
const executor *executor_find(const char *name);
/* Runs g on ex (see run_dag). */
int executor_run(const executor *ex, const dag *g, const exec_opts *o);
/* Lowers p's driver (a compile error is printed on o->err, and is 1) and
 * runs the DAG on ex. */
int executor_run_program(const executor *ex, const bc_program *p, const exec_opts *o);

#endif
