/* node.h - where a node runs: a place with task slots (CPUs, memory,
 * custom resources) that takes work from the scheduler (sched.h) and runs
 * it. The in-process node (node_local.c: a pool of threads, pool.h) is
 * the first implementation; a remote node of the cluster is the next.
 *
 * The contract, for any implementation:
 *  - open: from now until the scheduler stops, take work whenever some
 *    fits what is free on this node: lock s->mu, sched_take(s, &n->res,
 *    &it), unlock; run it; lock, then sched_complete(s, v) (a DAG node)
 *    or sched_job_ended (a nested job), sched_release(s, &n->res, &it),
 *    unlock. Wait on s->work when nothing fits. A DAG node's result goes
 *    in g->fut[v] before sched_complete. A node that cannot be run at
 *    all (the run cannot go on) is sched_fail.
 *  - Tasks run with the node's view (n->view, lang/node_view.h) in their
 *    VM context, so cluster.nodes() and sys.node_id() describe this node.
 *  - close (after sched_stop): wait for what runs, add the node's counts
 *    to *t and free what open made.
 *
 * A remote node (the cluster issue) implements the same two calls with a
 * connection instead of threads: its open starts an agent thread that
 * takes fitting work from the head's scheduler as above (batched: several
 * sched_take per turn, one assignment message), sends each item (the
 * plan by SHA-256 once, then node ids and inline or pulled inputs) to the
 * worker daemon, and on each completion message fills g->fut[v] and calls
 * sched_complete; its res mirrors what the daemon advertised. Nested jobs
 * submitted on the daemon run there first (the caller's node), and reach
 * this scheduler only when that node is busy. Nothing else changes: the
 * executor (parallel.c) runs the driver's nodes and waits for the end
 * whatever the nodes are.
 *
 * Built so far (`flow run --address`): the in-process node with a remote
 * (node_run.remote) sends the DAG's task calls without a thread waiting
 * for each (remote_async.h): a pool worker takes a call, hands it to
 * task_remote.submit and takes the next; the outcome, on the client's pump
 * thread, fills g->fut[v] and calls sched_complete and sched_release
 * itself. The calls in flight are the node's task slots. The per-node
 * agent above (locality, results staying where they were made) is next.
 *
 * Ownership: the executor owns its exec_nodes for one run; view and res
 * borrow the names and amounts they are given (the options), which
 * outlive the run; impl is the implementation's, freed by close. */
#ifndef FLOW_NODE_H
#define FLOW_NODE_H

#include <stdint.h>
#include <stdio.h>

#include "executor/executor.h"
#include "executor/fit.h"
#include "executor/obj_refs.h"
#include "lang/node_view.h"

struct sched;
struct run_obs;
struct watchdog;
struct task_host;

/* What every node of one run shares. */
typedef struct node_run {
	const dag *g;
	struct sched *s;
	uint64_t seed;           /* --seed */
	FILE *out, *err;         /* driver prints; task prints and failures */
	run_store *rs;           /* results in the object store, or NULL */
	uint64_t *actor_seq;     /* the last actor id given (atomic) */
	struct run_obs *obs;     /* or NULL */
	struct watchdog *wd;     /* @timeout, or NULL */
	/* the driver thread's host: the staged driver's DAG_CONT node makes
	 * its calls as a task body does, so the node opened first gives it
	 * its spawner (driver->spawn) for nested jobs; NULL: none */
	struct task_host *driver;
	const struct task_remote *remote; /* exec_opts.remote */
} node_run;

/* What a node did, summed at the end of the run. */
typedef struct node_totals {
	int nfailed, nskipped, ndriver;
	int ncaught;             /* failed calls an `except` caught */
	int nthreads;            /* threads (or remote slots) it used */
} node_totals;

typedef struct exec_node exec_node;

typedef struct node_ops {
	const char *kind;        /* "local"; "remote" next */
	/* Starts taking work for run (see above). -1: it cannot run anything
	 * (the message is printed on run->err). */
	int (*open)(exec_node *n, const node_run *run, int slots);
	/* After sched_stop: waits, adds its counts to *t, frees what open made. */
	void (*close)(exec_node *n, node_totals *t);
} node_ops;

struct exec_node {
	const node_ops *ops;
	flow_node_view view;     /* what tasks running here read */
	res_pool res;            /* what it offers and what is free (sched's mu) */
	void *impl;              /* the implementation's state */
};

/* The in-process node: a pool of threads (pool.h). cpus: what it offers
 * (the threads it starts), the machine's memory, o's --resources. */
extern const node_ops node_local_ops;
void node_local_init(exec_node *n, double cpus, const exec_opts *o);
void node_local_fini(exec_node *n);

#endif
