/* jobs.c - nested calls on the in-process node (task_run.h): a task
 * called from a task body becomes a nested_job in the scheduler's FIFO
 * queue, and the caller gets a pending future. A get (or wait) on it runs
 * the job in the caller's thread if no worker has taken it yet and the
 * caller holds what it needs (so a recursive merge sort goes depth first
 * in each thread while idle workers take the oldest, largest halves);
 * otherwise the caller blocks until it ends, its CPUs given back. */
#include <stdlib.h>

#include "executor/fit.h"
#include "executor/mono_clock.h"
#include "executor/pool.h"
#include "executor/run_obs.h"

/* Job j has run (its future is settled): wake whoever waits. (not mu) */
static void finish_job(sched *s, nested_job *j)
{
	/* the job's hold on its result goes: its callers hold the future */
	value f = j->fut;
	j->fut = v_none();
	val_rele(f);
	/* j may be freed from here on (sched_job_ended) */
	pthread_mutex_lock(&s->mu);
	sched_job_ended(s, j);
	pthread_mutex_unlock(&s->mu);
}

void jobs_run(pool_worker *w, nested_job *j)
{
	uint64_t t0 = obs_now_ns();
	int failed = task_run_job(&w->h, j);
	obs_job_done(w->p->run.obs, j, w->index, t0, failed);
	finish_job(w->p->s, j);
}

/* A job that would wait forever (it can never fit the node), or arrives
 * after the run stopped: fails at once, as res_check_dag does for nodes. */
static void refuse_job(pool *p, task_host *h, nested_job *j, const char *why)
{
	char *msg;
	if (why[0]) {
		msg = res_say_never(h->err, p->run.g->prog, j->where, false, j->task->name, why);
	} else {
		if (asprintf(&msg, "task '%s' was not run: the run has stopped", j->task->name) < 0)
			abort();
		fprintf(h->err, "flow: error: %s\n", msg);
	}
	h->nfailed++;
	vfuture *dst = (vfuture *)j->fut.as.o; /* only this thread has it yet */
	dst->error = msg;
	dst->host_data = (void *)j->task->name;
	__atomic_store_n(&dst->state, FUT_FAILED, __ATOMIC_RELEASE);
	finish_job(p->s, j);
}

static void job_submit(task_host *h, nested_job *j)
{
	pool *p = h->spawn->ctx; /* a worker's host, or the driver's */
	sched *s = p->s;
	char why[256];
	res_never_fits(&p->node->res, &j->task->attrs, why, sizeof why);
	pthread_mutex_lock(&s->mu);
	/* the caller's earlier calls that have ended (a `get(f(x))` loop):
	 * their futures are settled, so nothing asks for their records */
	sched_prune_jobs(s, &j->sibling);
	sched_add_job(s, j);
	if (why[0] || s->stop) {
		pthread_mutex_unlock(&s->mu);
		refuse_job(p, h, j, why);
		return;
	}
	sched_queue_job(s, j);
	int k = pool_reserve_thread(p);
	pthread_mutex_unlock(&s->mu);
	pool_start_reserved(p, k);
}

/* Blocks (mu held) until j is done (0), the run stops or h's call is
 * cancelled (-1), or, for `any`, another job ends or the deadline passes
 * (1). The first time round it gives what h's call holds (running) back
 * and wakes or starts a thread for other work; *blocked says it did. */
static int block_on(pool *p, task_host *h, const bc_attrs *running, nested_job *j, uint64_t deadline,
                    bool any, bool *blocked)
{
	sched *s = p->s;
	uint64_t seen = s->jobs_ended;
	double c = running ? running->cpus : 0;
	while (j->state != NJ_DONE) {
		if (s->stop || __atomic_load_n(&h->cancel, __ATOMIC_RELAXED))
			return -1;
		uint64_t t = mono_now_ns();
		if ((deadline && t >= deadline) || (any && s->jobs_ended != seen))
			return 1;
		if (!*blocked) {
			/* give the CPUs back while waiting: another task may run */
			*blocked = true;
			p->node->res.free_cpu += c;
			int k = pool_reserve_thread(p);
			pthread_cond_signal(&s->work);
			if (k >= 0) {
				pthread_mutex_unlock(&s->mu);
				pool_start_reserved(p, k);
				pthread_mutex_lock(&s->mu);
				continue;
			}
		}
		sched_wait_jdone(s, t, deadline, 10000000u); /* in slices: a @timeout (h->cancel) is noticed */
	}
	return 0;
}

/* The driver thread (a staged driver's call), about to block on job j
 * that no worker has taken, runs it itself when it fits what the node
 * has free: no worker is woken, and nothing has to wake the driver.
 * (mu, dropped while it runs) */
static bool driver_run_job(pool *p, nested_job *j)
{
	sched *s = p->s;
	const bc_attrs *a = &j->task->attrs;
	/* inside a node it is helping with, it runs the job in that node's
	 * slot, as a worker does; otherwise in what the node has free */
	bool nested = p->driver_helping;
	/* on a cluster a call goes out from a worker thread (pool.c): the
	 * driver's own host would run it on this machine */
	if (p->run.remote)
		return false;
	if (s->stop || j->state != NJ_QUEUED ||
	    !(nested ? res_within(p->driver_running, a) : res_fits(&p->node->res, a)))
		return false;
	sched_unqueue_job(s, j);
	__atomic_store_n(&j->state, NJ_RUNNING, __ATOMIC_RELAXED);
	if (!nested) {
		res_take(&p->node->res, a, 1);
		p->driver_helping = true;
		p->driver_running = a;
	}
	pthread_mutex_unlock(&s->mu);
	uint64_t t0 = obs_now_ns();
	int failed = task_run_job(p->driver, j);
	obs_job_done(p->run.obs, j, 0, t0, failed);
	finish_job(s, j);
	pthread_mutex_lock(&s->mu);
	if (!nested) {
		res_take(&p->node->res, a, -1);
		p->driver_running = NULL;
		p->driver_helping = false;
	}
	return true;
}

static int job_await(task_host *h, nested_job *j, uint64_t deadline, bool any)
{
	pool *p = h->spawn->ctx;
	/* the driver thread (a staged driver's calls) holds no slot but
	 * may take one for the job (driver_run_job) */
	pool_worker *w = h == p->driver ? NULL : pool_worker_of(h);
	const bc_attrs *running = w ? w->running : p->driver_running;
	sched *s = p->s;
	pthread_mutex_lock(&s->mu);
	if (w && j->state == NJ_QUEUED && !any && res_within(running, &j->task->attrs)) {
		/* nobody has taken it: run it here, in the caller's slot (not
		 * for wait(), which wants whichever call ends first) */
		sched_unqueue_job(s, j);
		__atomic_store_n(&j->state, NJ_RUNNING, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&s->mu);
		jobs_run(w, j);
		return 0;
	}
	if (!w && !any && driver_run_job(p, j)) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	bool blocked = false;
	j->waiters++;
	s->any_waiters += any;
	int rc = block_on(p, h, running, j, deadline, any, &blocked);
	j->waiters--;
	s->any_waiters -= any;
	if (blocked)
		p->node->res.free_cpu -= running ? running->cpus : 0;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void job_retire(task_host *h, nested_job *kids)
{
	sched *s = ((pool *)h->spawn->ctx)->s;
	pthread_mutex_lock(&s->mu);
	sched_retire_jobs(s, kids);
	pthread_mutex_unlock(&s->mu);
}

void jobs_spawner(pool *p, task_spawner *sp)
{
	sp->retire = job_retire;
	sp->submit = job_submit;
	sp->await = job_await;
	sp->ctx = p;
}
