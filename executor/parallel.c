/* parallel.c - the parallel executor: the scheduler (sched.h) feeding the
 * in-process node (node_local.c, a pool of --cpus threads) the DAG's task,
 * put and actor nodes as soon as they are ready; the calling thread (the
 * driver thread) runs every other node in id order, each once its
 * predecessors are done, so driver effects keep the serial order.
 *
 * Actors: creation and method-call nodes run on workers like tasks; the
 * driver's calls on an actor are chained by the lowering's ordering edges
 * (tasks passed its handle come after the driver's calls before them and
 * before its next one, unordered among themselves), and the instance's
 * lock runs calls one at a time. An actor holds what its @cpus, @memory and
 * @resources say (default nothing) from its creation to the end of the
 * run; res_check_dag refuses, before anything runs, an actor or a task
 * that cannot fit beside what the driver's actors hold.
 *
 * Task bodies run through task_run.c, so retries, failure messages,
 * skipped dependents and random identities are serial.c's. Each thread
 * has its own task_host and VMs; the counts of failures are summed at the
 * end. The run ends when every DAG node and every job has ended. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "executor/executor.h"
#include "executor/interrupt.h"
#include "executor/node.h"
#include "executor/run_obs.h"
#include "executor/sched.h"
#include "executor/task_run.h"
#include "executor/watchdog.h"

/* The driver thread waits for s->drv (mu held); it wakes every 100 ms
 * to redraw the progress line (outside mu) and to notice an interrupt. */
static void driver_wait(sched *s, run_obs *obs)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&s->drv, &s->mu, &ts);
	pthread_mutex_unlock(&s->mu);
	obs_tick(obs);
	pthread_mutex_lock(&s->mu);
}

/* The driver thread: every node that is not a worker's, in id order,
 * each once its predecessors are done; then waits for the end. mu is
 * held from one node's completion to the next one's start (one lock
 * round per node, not two: a round trip is three nodes). */
static void drive(sched *s, task_host *dh, flow_vm *dv, run_obs *obs)
{
	const dag *g = s->g;
	pthread_mutex_lock(&s->mu);
	for (uint32_t v = 0; v < g->n; v++) {
		if (s->worker[v])
			continue;
		while (s->pending[v] != 0 && !s->fatal && !run_cancelled()) {
			/* help while waiting: run what v waits for here */
			if (s->help && s->help(s->help_ctx, v, dv))
				continue;
			sched_wake_deferred(s);
			driver_wait(s, obs);
		}
		sched_wake_deferred(s);
		bool stop = s->fatal;
		bool passed = s->cut != NO_NODE && v > s->cut;
		if (passed && !stop) {
			sched_complete(s, v); /* the driver ended before it */
			continue;
		}
		if (stop)
			break;
		pthread_mutex_unlock(&s->mu);
		if (run_cancelled()) {
			sched_cancel(s);
			pthread_mutex_lock(&s->mu);
			break;
		}
		obs_tick(obs);
		obs_mark m;
		obs_node_begin(obs, dh, v, 0, &m);
		int rc = task_run_node(dh, dv, g, v);
		obs_node_end(obs, dh, v, &m);
		if (rc < 0) {
			sched_fail(s, dv);
			pthread_mutex_lock(&s->mu);
			break;
		}
		pthread_mutex_lock(&s->mu);
		if (rc > 0) {
			/* the driver ended here (section 8): no later node starts */
			s->cut = v;
			pthread_cond_broadcast(&s->work);
		}
		/* the workers for what v made ready are woken at the top of the
		 * next turn, unless the driver runs it itself (help) */
		s->defer_wake = true;
		sched_complete(s, v);
		s->defer_wake = false;
	}
	sched_wake_deferred(s);
	while (!sched_all_done(s) && !s->fatal && !run_cancelled())
		driver_wait(s, obs);
	if (run_cancelled())
		s->fatal = true;
	sched_stop(s);
	pthread_mutex_unlock(&s->mu);
}

/* The staged driver's get or wait on a DAG call's future (task_run.h):
 * it blocks until the node ends, on a worker or on the cluster. */
static int await_node(void *ctx, const vfuture *f, uint64_t deadline, bool any)
{
	return f ? sched_await_node(ctx, f, deadline, any) : 0;
}

/* The pool's first threads on a cluster (above). */
#define REMOTE_THREADS 2

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

/* Runs g on node n (checked to fit) from the driver thread. */
static int run_on(const dag *g, const exec_opts *o, exec_node *n, run_store *rs, int cpus,
                  node_totals *t)
{
	FILE *out = o->out ? o->out : stdout, *err = o->err ? o->err : stderr;
	sched s;
	sched_init(&s, g, err);
	uint64_t actor_seq = 0;
	watchdog *wd = watchdog_needed(g->prog) ? watchdog_start() : NULL;
	task_host dh;
	task_host_init(&dh, g->prog, o->seed, out, err, &actor_seq);
	/* the node gives dh its spawner: a staged driver's calls (DAG_CONT)
	 * are nested jobs the driver thread submits and waits for */
	node_run run = { g, &s, o->seed, out, err, rs, &actor_seq, o->obs, wd, &dh, o->remote };
	dh.rs = rs;
	dh.call_ran = obs_call_ran; /* streams' producers, for --trace (task_run.c) */
	dh.call_ran_ctx = o->obs;
	dh.node = &n->view;
	dh.await_node = await_node;
	dh.await_node_ctx = &s;
	watchdog_watch(wd, &dh.deadline, &dh.cancel);
	flow_vm *dv = task_host_vm(&dh);
	if (n->ops->open(n, &run, cpus) == 0) {
		drive(&s, &dh, dv, o->obs);
	} else {
		pthread_mutex_lock(&s.mu);
		s.fatal = true;
		sched_stop(&s);
		pthread_mutex_unlock(&s.mu);
	}
	watchdog_stop(wd); /* before the hosts it watches go */
	n->ops->close(n, t);
	t->nfailed += dh.nfailed;
	t->nskipped += dh.nskipped;
	t->ndriver += dh.ndriver;
	t->ncaught += dh.ncaught;
	vm_free(dv);
	task_host_fini(&dh);
	bool fatal = s.fatal; /* every thread has ended */
	sched_fini(&s);
	return fatal ? 1 : 0;
}

static int parallel_run_dag(const dag *g, const exec_opts *o)
{
	FILE *out = o->out ? o->out : stdout, *err = o->err ? o->err : stderr;
	int cpus = o->cpus > 0 ? o->cpus : online_cpus();
	exec_node node;
	node_local_init(&node, cpus, o);
	if (o->view)
		node.view = *o->view;
	obs_run_begin(o->obs, cpus);
	run_store rs;
	run_store_init(&rs, o->store, g);
	if (res_check_dag(&node.res, g, err)) {
		node_local_fini(&node);
		run_store_fini(&rs);
		return 1;
	}
	node_totals t = { 0, 0, 0, 0, 0 };
	/* on a cluster whose calls go without a thread waiting for each
	 * (remote_async.h), a few threads send them all; the pool starts
	 * more when its threads are busy (a call that runs here) */
	int threads = o->remote && o->remote->submit && cpus > REMOTE_THREADS ? REMOTE_THREADS : cpus;
	int status = run_on(g, o, &node, &rs, threads, &t);
	if (o->obs)
		o->obs->nworkers = t.nthreads;
	node_local_fini(&node);
	run_store_fini(&rs);
	fflush(out);
	obs_run_end(o->obs);
	if (task_summary(err, t.nfailed, t.nskipped, t.ndriver, t.ncaught))
		status = 1;
	fflush(err);
	return status;
}

const executor executor_parallel = { "parallel", parallel_run_dag };
