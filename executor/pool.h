/* pool.h - the thread pool of the in-process node (the hands; the
 * scheduler, sched.h, makes the decisions): --cpus worker threads, each
 * with its own task_host and VMs, taking work that fits the node.
 *
 * Blocking: a task blocked in time.sleep, or waiting for a nested job,
 * gives its CPUs back; a worker starting to wait wakes an idle one or,
 * when none is idle and work is waiting, starts a new thread (up to
 * cpus + POOL_MAX_EXTRA), so seed 000's sixteen sleeps overlap on two
 * cores and nested recursion never deadlocks.
 *
 * Threads: the fields marked (mu) are guarded by the scheduler's lock;
 * a worker's task_host is its own thread's. Ownership: the pool owns its
 * workers (hosts, VMs, threads), freed by pool_join. */
#ifndef FLOW_POOL_H
#define FLOW_POOL_H

#include <pthread.h>
#include <stdbool.h>

#include "executor/node.h"
#include "executor/sched.h"
#include "executor/task_run.h"

/* threads beyond --cpus, started for tasks that sleep or wait */
#define POOL_MAX_EXTRA 512

typedef struct pool pool;

typedef struct pool_worker {
	pool *p;
	int index;               /* 1.. (0 is the driver thread), for run_obs */
	pthread_t th;
	bool started;
	const bc_attrs *running; /* what the task it runs holds, or NULL (mu) */
	task_host h;
	flow_vm *vm;
} pool_worker;

struct pool {
	node_run run;
	exec_node *node;         /* its resources (mu) and view */
	sched *s;
	int idle, busy;          /* waiting for work; holding a task, maybe asleep (mu) */
	int nthreads, maxthreads;
	int starting;            /* threads being started outside mu (mu) */
	pool_worker *ws;         /* maxthreads entries, the first nthreads in use */
	task_spawner spawner;    /* nested calls (jobs.c) */
	task_host *driver;       /* run.driver: the driver thread's host, which
	                          * submits and awaits jobs but is no worker */
	bool driver_helping;     /* the driver thread runs a node or job itself
	                          * (help while waiting); it holds driver_running */
	const bc_attrs *driver_running; /* (mu) */
	struct remote_async *async; /* DAG calls sent to run->remote without
	                             * waiting (remote_async.h), or NULL */
};

/* Starts cpus workers for run on node n. Returns how many started. */
int pool_start(pool *p, exec_node *n, const node_run *run, int cpus);
/* After sched_stop: joins every thread, adds their counts to *t, frees. */
void pool_join(pool *p, node_totals *t);

/* Work fits and every thread holds a task: reserves one more thread.
 * Returns its index, or -1. (mu) */
int pool_reserve_thread(pool *p);
/* Starts a thread pool_reserve_thread reserved (k < 0: none). (not mu) */
void pool_start_reserved(pool *p, int k);
/* The worker whose host h is. */
pool_worker *pool_worker_of(task_host *h);

/* Nested calls (jobs.c): the spawner the workers' hosts use, and running
 * job j on worker w (taken already), then settling it. */
void jobs_spawner(pool *p, task_spawner *sp);
void jobs_run(pool_worker *w, nested_job *j);

#endif
