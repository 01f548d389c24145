/* sched.h - the scheduler core: the decisions of a run, apart from the
 * threads that carry them out (pool.h) and from where a node runs
 * (node.h). The same core will drive the cluster's remote nodes.
 *
 *  - dependency counters: each DAG node's unfinished predecessors;
 *  - the ready queue: a bucket queue by priority (the longest path to a
 *    sink, counted in worker nodes), first come first served within a
 *    priority;
 *  - the effect frontier (LANGUAGE.md section 6): a task with effects is
 *    not started before every driver effect with a lower id has run; a
 *    task with none (compiler/effects.h) as soon as its inputs are ready;
 *  - nested jobs (task_run.h): a FIFO queue that nodes take before DAG
 *    nodes, as running tasks wait for them;
 *  - fitting by resources (fit.h): work is taken only where it fits;
 *  - locality: marked in sched_take (sched.c), where a multi-node
 *    scheduler will prefer the node holding the largest inputs.
 *
 * Threads: one mutex (mu) guards everything here and the resource pools
 * of the nodes it feeds; it is also the happens-before edge between the
 * thread that fills a node's future (g->fut) and the threads that read
 * it. Functions marked (mu) are called with it held. The condition
 * variables: work (something may be taken, or stop), drv (a driver node
 * is ready, all is done, or fatal), jdone (a job ended, or stop; its
 * clock is CLOCK_MONOTONIC, for deadlines).
 *
 * Ownership: a sched borrows g; it owns its arrays, and every nested_job
 * submitted to it: freed once it has ended and its caller retired it
 * (sched_retire_jobs), the rest by sched_fini after every thread is done. */
#ifndef FLOW_SCHED_H
#define FLOW_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler/dag.h"
#include "executor/fit.h"
#include "executor/task_run.h"

#define NO_NODE UINT32_MAX

/* A bucket queue: O(1) push and pop, where a binary heap of a million
 * ready tasks costs twenty cache misses a pop. Priorities are below the
 * maxprio given to bq_init; within one, first pushed first popped. */
typedef struct bucket_queue {
	uint32_t *next;         /* per node: the next one in its bucket */
	uint32_t *head, *tail;  /* per priority: first and last node */
	uint32_t top;           /* no queued node has a higher priority */
	uint32_t n;             /* nodes queued */
} bucket_queue;

void bq_init(bucket_queue *q, uint32_t nnodes, uint32_t maxprio);
void bq_fini(bucket_queue *q);
void bq_push(bucket_queue *q, uint32_t v, uint32_t prio);
/* The node bq_pop would return (q->n > 0). */
uint32_t bq_peek(bucket_queue *q);
uint32_t bq_pop(bucket_queue *q);

typedef struct sched {
	const dag *g;
	FILE *err;
	uint32_t *pending;   /* unfinished predecessors, per node (mu) */
	bool *worker;        /* runs on a node's task slots (else on the driver thread) */
	bool *early;         /* a task with no effects: ready once its inputs are */
	uint32_t *prio;      /* longest path to a sink, in worker nodes */
	bucket_queue ready;  /* (mu) */
	uint32_t ndone;      /* finished nodes (mu) */
	uint32_t frontier;   /* the first DAG_EFFECT node not yet done, or n (mu) */
	bool stop;           /* everything leaves (mu) */
	bool fatal;          /* a node could not run: everything stops (mu) */
	uint32_t cut;        /* the driver ended at this node (LANGUAGE.md
	                      * section 8): later nodes not yet started are
	                      * completed without running (mu); NO_NODE while
	                      * it goes on */
	pthread_mutex_t mu;
	pthread_cond_t work, drv, jdone;
	/* nested jobs (mu): the queue (doubly linked: a waiting caller takes
	 * its job out of the middle), every job not freed, the count queued,
	 * the count not yet ended, and how many have ended (for wait's "any") */
	nested_job *jq_head, *jq_tail, *jobs;
	uint64_t njq, jobs_live, jobs_ended;
	int any_waiters;     /* threads in a wait() that any job's end wakes */
	int node_waiters;    /* threads in sched_await_node: a node's end wakes them */
	uint32_t cont;       /* the DAG_CONT node, or NO_NODE */
	/* Wakes the driver thread holds back (mu): while defer_wake is set,
	 * a node made ready is queued without waking a worker, and counted in
	 * nwake; the driver wakes them (sched_wake_deferred) before it waits
	 * or runs its next node, unless it ran the node itself meanwhile
	 * (help), so a round trip driver -> task -> driver costs no futex. */
	bool defer_wake;
	uint32_t nwake;
	/* Help while waiting (set by a node that can run work on the driver
	 * thread, or NULL): the driver is about to block until node `want`'s
	 * inputs are done; run one ready predecessor of it on the driver
	 * thread (vm: the driver's). Called and returns with mu held (it
	 * drops it meanwhile); true when it ran something. */
	bool (*help)(void *ctx, uint32_t want, flow_vm *vm);
	void *help_ctx;
} sched;

/* What a node takes to run: a nested job, or DAG node v. */
typedef struct sched_item {
	nested_job *job;     /* or NULL */
	uint32_t v;          /* NO_NODE for a job */
	const bc_attrs *needs; /* what it holds while it runs (fit.h), or NULL */
} sched_item;

/* Counts, priorities and the first ready nodes of g; failures and skips
 * are printed on err. */
void sched_init(sched *s, const dag *g, FILE *err);
/* After every thread is done: frees the arrays and every job. */
void sched_fini(sched *s);

/* Does a job or a DAG node fit what r has free now? (mu) */
bool sched_has_work(sched *s, const res_pool *r);
/* Takes the next job or DAG node that fits r (jobs first), and takes its
 * needs from r. False when nothing fits. A DAG node after s->cut is
 * completed without running instead (no later call is made). (mu) */
bool sched_take(sched *s, res_pool *r, sched_item *it);
/* For help while waiting: takes the first ready node if it is a direct
 * predecessor of `want`, fits r and starts no later than the driver's
 * end, as sched_take does. (mu) */
bool sched_take_for(sched *s, res_pool *r, uint32_t want, sched_item *it);
/* Wakes the workers for the nodes queued while s->defer_wake was set. (mu) */
void sched_wake_deferred(sched *s);
/* Node v, taken, goes back to the ready queue (it runs elsewhere after
 * all: remote_async.c). (mu) */
void sched_requeue(sched *s, uint32_t v);
/* Gives back what it held, once it has ended (an actor keeps its needs
 * until the run ends). (mu) */
void sched_release(sched *s, res_pool *r, const sched_item *it);
/* Node v has finished (its future is filled in): releases its
 * successors. (mu) */
void sched_complete(sched *s, uint32_t v);
/* Queues job j, not yet ended. (mu) */
void sched_queue_job(sched *s, nested_job *j);
/* Counts j as submitted (before it is queued or failed at once). (mu) */
void sched_add_job(sched *s, nested_job *j);
/* Takes queued job j out of the queue (it is about to run). (mu) */
void sched_unqueue_job(sched *s, nested_job *j);
/* Job j has run (its future is settled, its hold on it released):
 * wakes whoever waits; frees j if its caller is done with it. (mu) */
void sched_job_ended(sched *s, nested_job *j);
/* On the caller's thread, *kids its list of jobs (by sibling): frees and
 * unlinks the first ones that have ended (their futures are settled, so
 * the caller never asks for them again); stops at one still pending. (mu) */
void sched_prune_jobs(sched *s, nested_job **kids);
/* The caller of the jobs on list kids (by sibling) is done with them:
 * each is freed once it has ended (now, or in sched_job_ended). (mu) */
void sched_retire_jobs(sched *s, nested_job *kids);
/* The staged driver (DAG_CONT) reads the future f of a DAG node that
 * has not ended (it starts before the calls whose futures it holds end,
 * dag.h): blocks until f is settled (0); for `any` (wait), until some
 * node or job ends (1); until the deadline (CLOCK_MONOTONIC ns, 0: none)
 * passes (1); -1 when the run stops. (not mu) */
int sched_await_node(sched *s, const vfuture *f, uint64_t deadline, bool any);
/* Waits (mu held) on jdone until `slice` ns after now or the deadline
 * (CLOCK_MONOTONIC ns, 0: none), whichever is first: the blocking loops
 * of jobs.c and sched_await_node recheck their state in slices. */
void sched_wait_jdone(sched *s, uint64_t now, uint64_t deadline, uint64_t slice);
/* Is every DAG node and every job done? (mu) */
bool sched_all_done(const sched *s);
/* A node could not run (its error is in vm): stops the whole run, and
 * prints the error once. (not mu) */
void sched_fail(sched *s, flow_vm *vm);
/* The run was interrupted (interrupt.h): everything stops, as after
 * sched_fail, without a message (the running calls fail by themselves,
 * cancelled). (not mu) */
void sched_cancel(sched *s);
/* The run is over: everyone leaves. (mu) */
void sched_stop(sched *s);

#endif
