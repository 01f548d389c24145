/* pool.c - the in-process node's threads (pool.h). */
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "executor/pool.h"
#include "lang/value.h"
#include "executor/remote_async.h"
#include "executor/run_obs.h"
#include "executor/watchdog.h"

/* Deep inline nesting (a task calling tasks 400 deep) recurses in C. */
#define WORKER_STACK ((size_t)64 << 20)

static void *worker_main(void *arg);

pool_worker *pool_worker_of(task_host *h)
{
	return (pool_worker *)(void *)((char *)h - offsetof(pool_worker, h));
}

/* Sets up worker k (its host and VM) and starts its thread. */
static bool start_worker(pool *p, int k)
{
	pool_worker *w = &p->ws[k];
	w->p = p;
	w->index = k + 1;
	task_host_init(&w->h, p->run.g->prog, p->run.seed, p->run.out, p->run.err, p->run.actor_seq);
	w->h.rs = p->run.rs;
	w->h.call_ran = obs_call_ran; /* streams' producers, for --trace (task_run.c) */
	w->h.call_ran_ctx = p->run.obs;
	w->h.tid = w->index;
	w->h.node = &p->node->view;
	w->h.remote = p->run.remote;
	w->h.block = NULL;
	w->h.spawn = &p->spawner;
	watchdog_watch(p->run.wd, &w->h.deadline, &w->h.cancel);
	w->vm = task_host_vm(&w->h);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, WORKER_STACK);
	val_threads_begin(); /* the new thread touches values (value.h) */
	w->started = pthread_create(&w->th, &at, worker_main, w) == 0;
	pthread_attr_destroy(&at);
	return w->started;
}

int pool_reserve_thread(pool *p)
{
	if (p->busy != p->nthreads || p->nthreads >= p->maxthreads || p->s->stop ||
	    !sched_has_work(p->s, &p->node->res))
		return -1;
	p->starting++;
	return p->nthreads++;
}

void pool_start_reserved(pool *p, int k)
{
	if (k < 0)
		return;
	start_worker(p, k);
	pthread_mutex_lock(&p->s->mu);
	p->starting--;
	pthread_cond_broadcast(&p->s->drv);
	pthread_mutex_unlock(&p->s->mu);
}

/* A task starts or stops sleeping: its slot goes to another task. */
/* A task holding `needs` starts (begin) or stops sleeping: its CPUs are
 * lent to another task meanwhile (a reserved thread takes them). */
static void lend_cpus(pool *p, const bc_attrs *needs, bool begin)
{
	pthread_mutex_lock(&p->s->mu);
	double c = needs ? needs->cpus : 0;
	if (!begin) {
		p->node->res.free_cpu -= c;
		pthread_mutex_unlock(&p->s->mu);
		return;
	}
	p->node->res.free_cpu += c;
	int k = pool_reserve_thread(p);
	pthread_cond_signal(&p->s->work);
	pthread_mutex_unlock(&p->s->mu);
	pool_start_reserved(p, k);
}

static void on_block(void *ctx, bool begin)
{
	pool_worker *w = ctx;
	lend_cpus(w->p, w->running, begin);
}

/* The driver thread's task starts or stops sleeping (help while
 * waiting): what it holds goes to another task meanwhile, as on_block. */
static void on_driver_block(void *ctx, bool begin)
{
	pool *p = ctx;
	if (!p->driver_helping) /* the driver's own code holds nothing */
		return;
	lend_cpus(p, p->driver_running, begin);
}

/* sched.help: runs a ready predecessor of `want` on the driver thread. */
static bool driver_help(void *ctx, uint32_t want, flow_vm *vm)
{
	pool *p = ctx;
	sched *s = p->s;
	sched_item it;
	if (p->driver_helping || !sched_take_for(s, &p->node->res, want, &it))
		return false;
	p->driver_helping = true;
	p->driver_running = it.needs;
	pthread_mutex_unlock(&s->mu);
	obs_mark m;
	obs_node_begin(p->run.obs, p->driver, it.v, 0, &m);
	int rc = task_run_node(p->driver, vm, p->run.g, it.v);
	obs_node_end(p->run.obs, p->driver, it.v, &m);
	if (rc < 0)
		sched_fail(s, vm);
	pthread_mutex_lock(&s->mu);
	if (rc >= 0) {
		s->defer_wake = true; /* its successor is the driver's next node */
		sched_complete(s, it.v);
		s->defer_wake = false;
	}
	sched_release(s, &p->node->res, &it);
	p->driver_running = NULL;
	p->driver_helping = false;
	return true;
}

/* Runs DAG node v on w. False when the run cannot go on. (not mu) */
static bool run_dag_node(pool_worker *w, uint32_t v)
{
	pool *p = w->p;
	obs_mark m;
	obs_node_begin(p->run.obs, &w->h, v, w->index, &m);
	int rc = task_run_node(&w->h, w->vm, p->run.g, v);
	obs_node_end(p->run.obs, &w->h, v, &m);
	if (rc < 0) {
		sched_fail(p->s, w->vm);
		return false;
	}
	pthread_mutex_lock(&p->s->mu);
	sched_complete(p->s, v);
	pthread_mutex_unlock(&p->s->mu);
	return true;
}

static void *worker_main(void *arg)
{
	pool_worker *w = arg;
	pool *p = w->p;
	sched *s = p->s;
	w->h.block = on_block;
	w->h.block_ctx = w;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		sched_item it;
		while (!s->stop && !sched_take(s, &p->node->res, &it)) {
			p->idle++;
			pthread_cond_wait(&s->work, &s->mu);
			p->idle--;
		}
		if (s->stop)
			break;
		w->running = it.needs;
		p->busy++;
		/* more fits (fractional @cpus, @cpus(0)): one more thread */
		int k = pool_reserve_thread(p);
		pthread_mutex_unlock(&s->mu);
		pool_start_reserved(p, k);
		if (remote_async_begin(p->async, &w->h, w->vm, &it, w->index)) {
			/* sent: its outcome completes and releases it */
			pthread_mutex_lock(&s->mu);
			w->running = NULL;
			p->busy--;
			continue;
		}
		if (it.job)
			jobs_run(w, it.job);
		else if (!run_dag_node(w, it.v))
			return NULL;
		pthread_mutex_lock(&s->mu);
		sched_release(s, &p->node->res, &it);
		w->running = NULL;
		p->busy--;
		if (s->ready.n > 0 || s->jq_head)
			pthread_cond_signal(&s->work); /* what it held is free */
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int pool_start(pool *p, exec_node *n, const node_run *run, int cpus)
{
	memset(p, 0, sizeof *p);
	p->run = *run;
	p->node = n;
	p->s = run->s;
	p->maxthreads = cpus + POOL_MAX_EXTRA;
	p->ws = calloc((size_t)p->maxthreads, sizeof *p->ws);
	if (!p->ws)
		abort();
	jobs_spawner(p, &p->spawner);
	p->async = remote_async_new(n, run);
	p->driver = run->driver;
	if (p->driver) {
		p->driver->spawn = &p->spawner; /* before any thread starts */
		p->driver->block = on_driver_block;
		p->driver->block_ctx = p;
		/* on a cluster (run->remote) a task call goes out from a worker
		 * thread; the driver's own host runs calls here, so it does not
		 * help there */
		if (!run->remote) {
			p->s->help = driver_help;
			p->s->help_ctx = p;
		}
	}
	pthread_mutex_lock(&p->s->mu);
	p->nthreads = cpus; /* before any worker can start more */
	pthread_mutex_unlock(&p->s->mu);
	int started = 0;
	for (int k = 0; k < cpus; k++)
		if (start_worker(p, k))
			started++;
	return started;
}

void pool_join(pool *p, node_totals *t)
{
	/* no worker starts another now (stop is set); wait for those being
	 * started, then nthreads is final */
	pthread_mutex_lock(&p->s->mu);
	while (p->starting > 0)
		pthread_cond_wait(&p->s->drv, &p->s->mu);
	int nt = p->nthreads;
	pthread_mutex_unlock(&p->s->mu);
	for (int k = 0; k < nt; k++) {
		pool_worker *w = &p->ws[k];
		if (w->started)
			pthread_join(w->th, NULL);
		t->nfailed += w->h.nfailed;
		t->nskipped += w->h.nskipped;
		t->ndriver += w->h.ndriver;
		t->ncaught += w->h.ncaught;
		vm_free(w->vm);
		task_host_fini(&w->h);
	}
	t->nthreads += nt;
	remote_async_free(p->async, t); /* its calls' outcomes may still come */
	p->async = NULL;
	free(p->ws);
	p->ws = NULL;
}
