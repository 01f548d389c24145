/* parallel.c - the in-process parallel executor: a pool of worker threads
 * runs the DAG's task (and put) nodes as soon as their predecessors are
 * done; the calling thread (the driver thread) runs every other node.
 *
 * Scheduling: each node has a count of unfinished predecessors; a task
 * whose count reaches 0 enters the ready queue, ordered by priority (the
 * longest path from the node to a sink, computed here from the successor
 * lists), first come first served within a priority. One mutex guards the
 * counts and the queue, and is the happens-before edge between the thread
 * that fills a node's future (g->fut) and the threads that read it.
 *
 * Program order (LANGUAGE.md section 6): the driver submits each call
 * when it reaches it and blocks at its effects (print, sleep, now, get,
 * io...). So a task with effects is not started before every driver
 * effect with a lower id has run: `frontier` is the first effect not yet
 * done, and only such tasks below it enter the queue. A task with no
 * effects (compiler/effects.h) enters as soon as its inputs are ready:
 * the language allows that, as its result cannot differ.
 *
 * Actors: creation and method-call nodes run on workers like tasks; an
 * actor's calls (and the tasks passed its handle) are chained by the
 * lowering's ordering edges, so they run one at a time in the driver's
 * order, and the instance's lock keeps a call made from inside a task
 * body from overlapping them. An actor holds what its @cpus, @memory and
 * @resources say (default nothing) from its creation to the end of the
 * run; check_fit refuses, before anything runs, an actor or a task that
 * cannot fit beside what the driver's actors hold. (Actors created
 * inside task bodies run inline and are not counted.)
 *
 * Nested calls (task_run.h): a task called from a task body becomes a
 * nested_job in a FIFO queue (mu) that workers take before DAG nodes, as
 * running tasks wait for them; the caller gets a pending future. A get
 * (or wait) on it runs the job in the caller's thread if no worker has
 * taken it yet and the caller holds what it needs (so a recursive merge
 * sort goes depth first in each thread while idle workers take the
 * oldest, largest halves); otherwise the caller blocks until it ends.
 * The run ends when every DAG node and every job has ended.
 *
 * Blocking: a task blocked in time.sleep, or waiting for a nested job,
 * gives its CPUs back; a worker starting to wait wakes an idle one or,
 * when none is idle and work is waiting, starts a new thread (up to
 * cpus + MAX_EXTRA_THREADS), so seed 000's sixteen sleeps overlap on two
 * cores and nested recursion never deadlocks.
 *
 * Task bodies run through task_run.c, so retries, failure messages,
 * skipped dependents and random identities are serial.c's. Each thread
 * has its own task_host and VMs; the counts of failures are summed at the
 * end. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parallel.h"
#include "run_obs.h"
#include "task_run.h"
#include "../compiler/effects.h"

/* Deep inline nesting (a task calling tasks 400 deep) recurses in C. */
#define WORKER_STACK ((size_t)64 << 20)
/* threads beyond --cpus, started for tasks that sleep */
#define MAX_EXTRA_THREADS 512

typedef struct par_run par_run;

typedef struct par_worker {
	par_run *r;
	int index;          /* 1.. (0 is the driver thread), for run_obs */
	pthread_t th;
	bool started;
	const bc_attrs *running; /* what the task it runs holds, or NULL */
	task_host h;
	flow_vm *vm;
} par_worker;

struct par_run {
	const dag *g;
	FILE *err;
	uint32_t *pending;  /* unfinished predecessors, per node (mu) */
	bool *worker;       /* runs on a worker thread (else on the driver's) */
	bool *early;        /* a task with no effects: starts when its inputs are
	                     * ready, before the driver reaches it (effects.h) */
	uint32_t *prio;     /* longest path to a sink, in nodes */
	uint32_t *next;     /* ready queue (mu): next node in its bucket */
	uint32_t *head, *tail; /* per priority: first and last ready node */
	uint32_t top;       /* no ready node has a higher priority */
	uint32_t nheap;     /* ready nodes */
	uint32_t ndone;     /* finished nodes (mu) */
	uint32_t frontier;  /* the first DAG_EFFECT node not yet done, or n (mu) */
	bool stop;          /* workers leave (mu) */
	bool fatal;         /* a node could not run: everything stops (mu) */
	uint32_t cut;       /* the driver ended at this node (section 8): later
	                     * nodes not started are passed over, not run (mu);
	                     * UINT32_MAX while it goes on */
	pthread_mutex_t mu;
	pthread_cond_t work; /* the queue has a node, or stop */
	pthread_cond_t drv;  /* a driver node became ready, all done, or fatal */
	uint64_t actor_seq;
	run_obs *obs;        /* or NULL */
	/* the pool (mu): what the node offers and what is free now (CPUs,
	 * memory bytes, named resources: --resources); idle = workers waiting
	 * for work. A running task holds its @cpus, @memory and @resources;
	 * a sleeping one gives its CPUs back until it wakes. */
	double cap_cpu, free_cpu;
	double cap_mem, free_mem;
	int nres;
	const char *const *res_names;
	const double *cap_res;
	double *free_res;
	int idle, busy, nthreads, maxthreads; /* busy: holding a task (maybe asleep) */
	int starting;        /* threads being started outside mu */
	bool watch;          /* the @timeout watchdog runs */
	par_worker *ws;      /* maxthreads entries, the first nthreads in use */
	/* nested jobs (mu): the queue (it may still hold jobs a waiting
	 * caller took: they are passed over), every job, the count queued and
	 * not yet ended, and how many have ended (for wait's "any") */
	nested_job *jq_head, *jq_tail, *jobs;
	uint64_t njq, jobs_live, jobs_ended;
	int any_waiters;      /* threads in a wait() that any job's end wakes */
	pthread_cond_t jdone; /* a job ended, or stop */
	task_spawner spawner;
	const parallel_opts *o;
	FILE *out;
	run_store *rs;
};

/* Calls run on workers: tasks, puts, actor creations and method calls
 * (the lowering orders each actor's callers: calls on one actor, and the
 * tasks passed its handle, follow one another). Driver expressions and
 * effects run on the driver thread, in id order. */
static bool runs_on_worker(const dag *g, uint32_t v)
{
	int k = g->nodes[v].kind;
	return k == DAG_TASK || k == DAG_PUT || k == DAG_ACTOR || k == DAG_METHOD;
}

/* ---- the ready queue: buckets by priority, FIFO within one ------------- */

/* A bucket queue: O(1) push and pop, where a binary heap of a million
 * ready tasks costs twenty cache misses a pop. Priorities are path
 * lengths, at most n; within a priority, first pushed first run. */
#define NO_NODE UINT32_MAX

static void heap_push(par_run *r, uint32_t v)
{
	uint32_t p = r->prio[v];
	r->next[v] = NO_NODE;
	if (r->tail[p] == NO_NODE)
		r->head[p] = v;
	else
		r->next[r->tail[p]] = v;
	r->tail[p] = v;
	if (p > r->top)
		r->top = p;
	r->nheap++;
}

/* The next node to run (nheap > 0). */
static uint32_t ready_peek(par_run *r)
{
	while (r->head[r->top] == NO_NODE)
		r->top--;
	return r->head[r->top];
}

static uint32_t heap_pop(par_run *r)
{
	uint32_t v = ready_peek(r), p = r->top;
	r->head[p] = r->next[v];
	if (r->head[p] == NO_NODE)
		r->tail[p] = NO_NODE;
	r->nheap--;
	return v;
}

/* ---- completion ------------------------------------------------------------ */

static uint32_t next_effect(const dag *g, uint32_t from)
{
	while (from < g->n && g->nodes[from].kind != DAG_EFFECT)
		from++;
	return from;
}

/* The driver has reached effect node `to` (or the end): the worker nodes
 * before it whose inputs are done are submitted. Called with mu held. */
static void advance_frontier(par_run *r, uint32_t to)
{
	for (uint32_t t = r->frontier; t < to; t++) {
		if (r->worker[t] && r->pending[t] == 0 && !r->early[t]) {
			heap_push(r, t);
			pthread_cond_signal(&r->work);
		}
	}
	r->frontier = to;
}

/* Node v has finished (its future is filled in): releases its successors.
 * Called with mu held. */
static void complete(par_run *r, uint32_t v)
{
	const dag *g = r->g;
	bool wake_driver = false;
	for (uint32_t e = g->succ_off[v]; e < g->succ_off[v + 1]; e++) {
		uint32_t s = g->succs[e];
		if (--r->pending[s] != 0)
			continue;
		if (!r->worker[s]) {
			wake_driver = true;
		} else if (s < r->frontier || r->early[s]) {
			heap_push(r, s);
			pthread_cond_signal(&r->work);
		}
	}
	/* effects complete in id order (all on the driver thread) */
	if (v == r->frontier)
		advance_frontier(r, next_effect(g, v + 1));
	if (++r->ndone == g->n)
		wake_driver = true;
	if (wake_driver)
		pthread_cond_signal(&r->drv);
}

/* A node that could not run stops the whole run; its error is printed once. */
static void fail_fatal(par_run *r, flow_vm *vm)
{
	char *e = task_render_error(vm, "");
	pthread_mutex_lock(&r->mu);
	if (!r->fatal)
		fprintf(r->err, "%s\n", e);
	r->fatal = r->stop = true;
	pthread_cond_broadcast(&r->work);
	pthread_cond_broadcast(&r->drv);
	pthread_cond_broadcast(&r->jdone);
	pthread_mutex_unlock(&r->mu);
	free(e);
}

static void *worker_main(void *arg);

/* What a worker node needs while it runs: a task's @cpus, @memory and
 * @resources; an actor's, which its creation takes for the rest of the
 * run (LANGUAGE.md section 4: "what the actor holds on its node for its
 * lifetime"). NULL: nothing (puts, method calls). */
static const bc_attrs *node_needs(const dag *g, uint32_t v)
{
	const dag_node *n = &g->nodes[v];
	if (n->kind == DAG_TASK)
		return &g->prog->protos[n->proto]->attrs;
	if (n->kind == DAG_ACTOR)
		return &g->prog->actors[n->proto]->attrs;
	return NULL;
}

static double res_need(const bc_attrs *a, const char *name)
{
	for (int k = 0; k < a->nresources; k++)
		if (!strcmp(a->res_names[k], name))
			return a->res_amounts[k];
	return 0;
}

/* Do needs `a` fit what is free now? (mu) */
static bool fits_task(const par_run *r, const bc_attrs *a)
{
	if (!a)
		return true;
	/* a small tolerance: ten tasks of @cpus(0.1) fill one CPU */
	if (a->cpus > r->free_cpu + 1e-9 || (double)a->memory > r->free_mem)
		return false;
	for (int k = 0; k < r->nres; k++)
		if (res_need(a, r->res_names[k]) > r->free_res[k] + 1e-9)
			return false;
	return true;
}

static bool fits(const par_run *r, uint32_t v)
{
	return fits_task(r, node_needs(r->g, v));
}

/* The first queued job, dropping those a waiting caller took (mu). */
static nested_job *job_peek(par_run *r)
{
	while (r->jq_head && r->jq_head->state != NJ_QUEUED) {
		r->jq_head = r->jq_head->next;
		if (!r->jq_head)
			r->jq_tail = NULL;
	}
	return r->jq_head;
}

/* Is there a job or a DAG node that fits what is free now? (mu) */
static bool has_work(par_run *r)
{
	nested_job *j = job_peek(r);
	if (j && fits_task(r, &j->task->attrs))
		return true;
	return r->nheap > 0 && fits(r, ready_peek(r));
}

static void take(par_run *r, const bc_attrs *a, double sign)
{
	if (!a)
		return;
	r->free_cpu -= sign * a->cpus;
	r->free_mem -= sign * (double)a->memory;
	for (int k = 0; k < r->nres; k++)
		r->free_res[k] -= sign * res_need(a, r->res_names[k]);
}

/* Sets up worker j (its host and VM) and starts its thread. */
static bool start_worker(par_run *r, int j)
{
	par_worker *w = &r->ws[j];
	w->r = r;
	w->index = j + 1;
	task_host_init(&w->h, r->g->prog, r->o->seed, r->out, r->err, &r->actor_seq);
	w->h.rs = r->rs;
	w->h.block = NULL;
	w->h.spawn = &r->spawner;
	if (r->watch)
		task_watchdog_register(&w->h);
	w->vm = task_host_vm(&w->h);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, WORKER_STACK);
	w->started = pthread_create(&w->th, &at, worker_main, w) == 0;
	pthread_attr_destroy(&at);
	return w->started;
}

/* A ready node fits what is free and every thread holds a task: reserve
 * one more thread (mu held). Returns its index, or -1. */
static int reserve_thread(par_run *r)
{
	if (r->busy != r->nthreads || r->nthreads >= r->maxthreads || r->stop || !has_work(r))
		return -1;
	r->starting++;
	return r->nthreads++;
}

/* Starts a thread reserved by reserve_thread (mu not held). */
static void start_reserved(par_run *r, int j)
{
	if (j < 0)
		return;
	start_worker(r, j);
	pthread_mutex_lock(&r->mu);
	r->starting--;
	pthread_cond_broadcast(&r->drv);
	pthread_mutex_unlock(&r->mu);
}

/* A task starts or stops sleeping: its slot goes to another task. */
static void on_block(void *ctx, bool begin)
{
	par_worker *w = ctx;
	par_run *r = w->r;
	pthread_mutex_lock(&r->mu);
	double c = w->running ? w->running->cpus : 0;
	if (!begin) {
		r->free_cpu -= c;
		pthread_mutex_unlock(&r->mu);
		return;
	}
	r->free_cpu += c;
	int j = reserve_thread(r);
	pthread_cond_signal(&r->work);
	pthread_mutex_unlock(&r->mu);
	start_reserved(r, j);
}

/* ---- nested jobs ------------------------------------------------------------ */

static par_worker *worker_of(task_host *h)
{
	return (par_worker *)(void *)((char *)h - offsetof(par_worker, h));
}

/* Job j has run (its future is settled): wake whoever waits (mu not held). */
static void finish_job(par_run *r, nested_job *j)
{
	pthread_mutex_lock(&r->mu);
	__atomic_store_n(&j->state, NJ_DONE, __ATOMIC_RELEASE);
	r->jobs_live--;
	r->jobs_ended++;
	if (j->waiters > 0 || r->any_waiters > 0)
		pthread_cond_broadcast(&r->jdone);
	if (r->jobs_live == 0 && r->ndone == r->g->n)
		pthread_cond_signal(&r->drv);
	pthread_mutex_unlock(&r->mu);
	/* the job's hold on its result goes: its callers hold the future */
	val_rele(j->fut);
	j->fut = v_none();
}

/* What the driver's actors take for the whole run (check_fit). */
typedef struct par_held {
	double cpu, mem;
	double *res;  /* per --resources name */
} par_held;

/* Why needs `a` can never be met on this node ("" if they can), when
 * `held` (or NULL) is taken for the whole run by the driver's actors. */
static void never_fits(const par_run *r, const bc_attrs *a, const par_held *held, char *why,
                       size_t n)
{
	why[0] = 0;
	double hc = held ? held->cpu : 0, hm = held ? held->mem : 0;
	if (a->cpus > r->cap_cpu - hc + 1e-9) {
		int k = snprintf(why, n, "%g CPUs (@cpus) but this node has %g (--cpus)", a->cpus, r->cap_cpu);
		if (hc > 0 && k > 0 && (size_t)k < n)
			snprintf(why + k, n - (size_t)k, " and its actors hold %g of them for the whole run", hc);
		return;
	}
	if ((double)a->memory > r->cap_mem - hm) {
		int k = snprintf(why, n, "%.0f MiB of memory (@memory) but this node has %.0f MiB",
		                 (double)a->memory / 1048576.0, r->cap_mem / 1048576.0);
		if (hm > 0 && k > 0 && (size_t)k < n)
			snprintf(why + k, n - (size_t)k, " and its actors hold %.0f MiB of it for the whole run",
			         hm / 1048576.0);
		return;
	}
	for (int k = 0; k < a->nresources; k++) {
		double have = 0, hr = 0;
		for (int q = 0; q < r->nres; q++)
			if (!strcmp(r->res_names[q], a->res_names[k])) {
				have = r->cap_res[q];
				hr = held ? held->res[q] : 0;
			}
		if (a->res_amounts[k] > have - hr + 1e-9) {
			int m = snprintf(why, n, "%g of resource '%s' (@resources) but this node offers %g "
			                 "(--resources %s=N)", a->res_amounts[k], a->res_names[k], have,
			                 a->res_names[k]);
			if (hr > 0 && m > 0 && (size_t)m < n)
				snprintf(why + m, n - (size_t)m, " and its actors hold %g of it for the whole run", hr);
			return;
		}
	}
}

/* Prints, gcc-style at w, why a task or an actor can never run; returns
 * the message (malloc'd): "task 'x' needs ..., so it can never run". */
static char *say_never(FILE *err, const bc_program *p, span w, bool actor, const char *name,
                       const char *why)
{
	char *msg;
	if (asprintf(&msg, "%s '%s' needs %s, so it can never %s", actor ? "actor" : "task", name, why,
	             actor ? "be created" : "run") < 0)
		abort();
	fprintf(err, "%s:%d:%d: error: %s\n", bc_source_path(p, w.file), w.line, w.col, msg);
	return msg;
}

static void job_submit(task_host *h, nested_job *j)
{
	par_run *r = worker_of(h)->r;
	char why[256];
	never_fits(r, &j->task->attrs, NULL, why, sizeof why);
	pthread_mutex_lock(&r->mu);
	j->all = r->jobs;
	r->jobs = j;
	r->jobs_live++;
	if (why[0] || r->stop) {
		/* it would wait forever: fail it now, as check_fit does for nodes */
		pthread_mutex_unlock(&r->mu);
		char *msg;
		if (why[0]) {
			msg = say_never(h->err, r->g->prog, j->where, false, j->task->name, why);
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
		finish_job(r, j);
		return;
	}
	__atomic_store_n(&j->state, NJ_QUEUED, __ATOMIC_RELAXED);
	j->next = NULL;
	if (r->jq_tail)
		r->jq_tail->next = j;
	else
		r->jq_head = j;
	r->jq_tail = j;
	r->njq++;
	pthread_cond_signal(&r->work);
	int t = reserve_thread(r);
	pthread_mutex_unlock(&r->mu);
	start_reserved(r, t);
}

/* May a caller holding `held` run `child` in its own slot? Only if the
 * child needs no more than the caller holds. */
static bool within(const bc_attrs *held, const bc_attrs *child)
{
	double hc = held ? held->cpus : 0;
	int64_t hm = held ? held->memory : 0;
	if (child->cpus > hc + 1e-9 || child->memory > hm)
		return false;
	for (int k = 0; k < child->nresources; k++)
		if (child->res_amounts[k] > (held ? res_need(held, child->res_names[k]) : 0) + 1e-9)
			return false;
	return true;
}

static int job_await(task_host *h, nested_job *j, uint64_t deadline, bool any)
{
	par_worker *w = worker_of(h);
	par_run *r = w->r;
	pthread_mutex_lock(&r->mu);
	if (j->state == NJ_QUEUED && !any && within(w->running, &j->task->attrs)) {
		/* nobody has taken it: run it here, in the caller's slot (not
		 * for wait(), which wants whichever call ends first) */
		__atomic_store_n(&j->state, NJ_RUNNING, __ATOMIC_RELAXED);
		r->njq--;
		pthread_mutex_unlock(&r->mu);
		uint64_t t0 = obs_now_ns();
		int failed = task_run_job(h, j);
		obs_job_done(r->obs, j, w->index, t0, failed);
		finish_job(r, j);
		return 0;
	}
	int rc = 0;
	bool blocked = false;
	double c = w->running ? w->running->cpus : 0;
	uint64_t seen = r->jobs_ended;
	j->waiters++;
	r->any_waiters += any;
	while (j->state != NJ_DONE) {
		if (r->stop || __atomic_load_n(&h->cancel, __ATOMIC_RELAXED)) {
			rc = -1;
			break;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
		if ((deadline && t >= deadline) || (any && r->jobs_ended != seen)) {
			rc = 1;
			break;
		}
		if (!blocked) {
			/* give the CPUs back while waiting: another task may run */
			blocked = true;
			r->free_cpu += c;
			int k = reserve_thread(r);
			pthread_cond_signal(&r->work);
			if (k >= 0) {
				pthread_mutex_unlock(&r->mu);
				start_reserved(r, k);
				pthread_mutex_lock(&r->mu);
				continue;
			}
		}
		/* in slices, so a @timeout (h->cancel) is noticed */
		uint64_t until = t + 10000000u;
		if (deadline && deadline < until)
			until = deadline;
		struct timespec ts = { (time_t)(until / 1000000000u), (long)(until % 1000000000u) };
		pthread_cond_timedwait(&r->jdone, &r->mu, &ts);
	}
	j->waiters--;
	r->any_waiters -= any;
	if (blocked)
		r->free_cpu -= c;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static void *worker_main(void *arg)
{
	par_worker *w = arg;
	par_run *r = w->r;
	w->h.block = on_block;
	w->h.block_ctx = w;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->stop && !has_work(r)) {
			r->idle++;
			pthread_cond_wait(&r->work, &r->mu);
			r->idle--;
		}
		if (r->stop)
			break;
		/* jobs first: running tasks wait for them */
		nested_job *j = job_peek(r);
		uint32_t v = NO_NODE;
		if (j && fits_task(r, &j->task->attrs)) {
			r->jq_head = j->next;
			if (!r->jq_head)
				r->jq_tail = NULL;
			__atomic_store_n(&j->state, NJ_RUNNING, __ATOMIC_RELAXED);
			r->njq--;
			w->running = &j->task->attrs;
		} else {
			j = NULL;
			v = heap_pop(r);
			if (v > r->cut) {
				complete(r, v); /* no later call is made */
				continue;
			}
			w->running = node_needs(r->g, v);
		}
		take(r, w->running, 1);
		r->busy++;
		/* more fits (fractional @cpus, @cpus(0)): one more thread */
		int k = reserve_thread(r);
		pthread_mutex_unlock(&r->mu);
		start_reserved(r, k);
		if (j) {
			uint64_t t0 = obs_now_ns();
			int failed = task_run_job(&w->h, j);
			obs_job_done(r->obs, j, w->index, t0, failed);
			finish_job(r, j);
			pthread_mutex_lock(&r->mu);
		} else {
			obs_mark m;
			obs_node_begin(r->obs, &w->h, v, w->index, &m);
			int rc = task_run_node(&w->h, w->vm, r->g, v);
			obs_node_end(r->obs, &w->h, v, &m);
			if (rc) {
				fail_fatal(r, w->vm);
				return NULL;
			}
			pthread_mutex_lock(&r->mu);
			complete(r, v);
		}
		/* an actor keeps what it holds until the run ends */
		if (j || r->g->nodes[v].kind != DAG_ACTOR)
			take(r, w->running, -1);
		w->running = NULL;
		r->busy--;
		if (r->nheap > 0 || r->jq_head)
			pthread_cond_signal(&r->work); /* what it held is free */
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- the run ------------------------------------------------------------------ */

/* The driver thread waits for r->drv (mu held); with a progress line it
 * wakes every 100 ms to redraw it (outside mu). */
static void driver_wait(par_run *r)
{
	if (!r->obs || !r->obs->progress) {
		pthread_cond_wait(&r->drv, &r->mu);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&r->drv, &r->mu, &ts);
	pthread_mutex_unlock(&r->mu);
	obs_tick(r->obs);
	pthread_mutex_lock(&r->mu);
}

static uint64_t physical_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : (uint64_t)1 << 40;
}

/* A task or actor that needs more than the node has would wait forever:
 * say so before anything runs. Each actor the driver creates holds its
 * @cpus, @memory and @resources until the run ends, so a task must fit
 * in what they leave. Returns 0, or -1 with the message printed. */
static int check_fit(const par_run *r, FILE *err)
{
	const dag *g = r->g;
	const bc_program *p = g->prog;
	bool *seen = calloc((size_t)p->nprotos + 1, 1);
	par_held held = { 0, 0, calloc((size_t)r->nres + 1, sizeof(double)) };
	if (!seen || !held.res)
		abort();
	int rc = 0;
	char why[512];
	/* the actors, one by one as they are created */
	for (uint32_t v = 0; v < g->n && rc == 0; v++) {
		const dag_node *n = &g->nodes[v];
		if (n->kind != DAG_ACTOR)
			continue;
		const bc_actor *c = p->actors[n->proto];
		never_fits(r, &c->attrs, &held, why, sizeof why);
		if (why[0]) {
			free(say_never(err, p, n->where, true, c->name, why));
			rc = -1;
		}
		held.cpu += c->attrs.cpus;
		held.mem += (double)c->attrs.memory;
		for (int q = 0; q < r->nres; q++)
			held.res[q] += res_need(&c->attrs, r->res_names[q]);
	}
	for (uint32_t v = 0; v < g->n && rc == 0; v++) {
		const dag_node *n = &g->nodes[v];
		if (n->kind != DAG_TASK || seen[n->proto])
			continue;
		seen[n->proto] = true;
		const bc_proto *t = p->protos[n->proto];
		never_fits(r, &t->attrs, &held, why, sizeof why);
		if (why[0]) {
			free(say_never(err, p, n->where, false, t->name, why));
			rc = -1;
		}
	}
	free(held.res);
	free(seen);
	return rc;
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

int parallel_run_dag(const dag *g, const parallel_opts *o)
{
	FILE *out = o->out ? o->out : stdout, *err = o->err ? o->err : stderr;
	int cpus = o->cpus > 0 ? o->cpus : online_cpus();
	par_run r;
	memset(&r, 0, sizeof r);
	r.cut = UINT32_MAX;
	r.g = g;
	r.err = err;
	r.obs = o->obs;
	uint32_t n = g->n;
	r.pending = malloc(sizeof(uint32_t) * (n ? n : 1));
	r.prio = malloc(sizeof(uint32_t) * (n ? n : 1));
	r.next = malloc(sizeof(uint32_t) * (n ? n : 1));
	r.head = malloc(sizeof(uint32_t) * ((size_t)n + 2));
	r.tail = malloc(sizeof(uint32_t) * ((size_t)n + 2));
	r.worker = malloc(sizeof(bool) * (n ? n : 1));
	if (!r.pending || !r.prio || !r.next || !r.head || !r.tail || !r.worker)
		abort();
	/* ids are a topological order: successors have higher ids */
	for (uint32_t v = n; v-- > 0;) {
		uint32_t best = 0;
		for (uint32_t e = g->succ_off[v]; e < g->succ_off[v + 1]; e++)
			if (r.prio[g->succs[e]] > best)
				best = r.prio[g->succs[e]];
		r.prio[v] = best + 1;
		r.pending[v] = g->pred_off[v + 1] - g->pred_off[v];
		r.worker[v] = runs_on_worker(g, v);
	}
	for (uint32_t q = 0; q < n + 2; q++)
		r.head[q] = r.tail[q] = NO_NODE;
	r.early = calloc((size_t)n + 1, sizeof *r.early);
	bool *free_task = effects_free_protos(g->prog);
	if (!r.early)
		abort();
	for (uint32_t v = 0; v < n; v++) {
		const dag_node *nd = &g->nodes[v];
		r.early[v] = (nd->kind == DAG_TASK && free_task[nd->proto]) || nd->kind == DAG_PUT;
		if (r.early[v] && r.pending[v] == 0)
			heap_push(&r, v);
	}
	free(free_task);
	advance_frontier(&r, next_effect(g, 0));
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.work, NULL);
	pthread_cond_init(&r.drv, NULL);
	pthread_condattr_t ca; /* job_await's deadlines are CLOCK_MONOTONIC */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r.jdone, &ca);
	pthread_condattr_destroy(&ca);
	r.spawner.submit = job_submit;
	r.spawner.await = job_await;
	r.spawner.ctx = &r;

	obs_run_begin(r.obs, cpus);
	run_store rs;
	run_store_init(&rs, o->store, g);
	r.cap_cpu = r.free_cpu = cpus;
	r.cap_mem = r.free_mem = (double)physical_memory();
	r.nres = o->nresources;
	r.res_names = o->res_names;
	r.cap_res = o->res_amounts;
	r.free_res = calloc((size_t)r.nres + 1, sizeof *r.free_res);
	if (!r.free_res)
		abort();
	for (int k = 0; k < r.nres; k++)
		r.free_res[k] = o->res_amounts[k];
	if (check_fit(&r, err)) {
		free(r.free_res);
		free(r.pending);
		free(r.prio);
		free(r.next);
		free(r.head);
		free(r.tail);
		free(r.worker);
	free(r.early);
		run_store_fini(&rs);
		return 1;
	}
	r.maxthreads = cpus + MAX_EXTRA_THREADS;
	r.watch = task_any_timeout(g->prog) && task_watchdog_start() == 0;
	r.ws = calloc((size_t)r.maxthreads, sizeof *r.ws);
	if (!r.ws)
		abort();
	r.o = o;
	r.out = out;
	r.rs = &rs;
	int started = 0;
	pthread_mutex_lock(&r.mu);
	r.nthreads = cpus; /* before any worker can start more */
	pthread_mutex_unlock(&r.mu);
	for (int j = 0; j < cpus; j++)
		if (start_worker(&r, j))
			started++;

	/* the driver thread is worker 0 holding nothing: the staged driver's
	 * calls (DAG_CONT) are nested jobs it submits and waits for */
	par_worker dw;
	memset(&dw, 0, sizeof dw);
	dw.r = &r;
	task_host_init(&dw.h, g->prog, o->seed, out, err, &r.actor_seq);
	dw.h.rs = &rs;
	dw.h.spawn = &r.spawner;
	if (r.watch)
		task_watchdog_register(&dw.h);
	flow_vm *dv = task_host_vm(&dw.h);
	bool stop = false;
	if (started == 0) {
		fprintf(err, "flow: cannot start worker threads\n");
		r.fatal = stop = true;
	}
	/* the driver thread: every other node, in id order */
	for (uint32_t v = 0; v < n && !stop; v++) {
		if (r.worker[v])
			continue;
		pthread_mutex_lock(&r.mu);
		while (r.pending[v] != 0 && !r.fatal)
			driver_wait(&r);
		stop = r.fatal;
		bool passed = v > r.cut;
		if (passed)
			complete(&r, v); /* the driver ended before it */
		pthread_mutex_unlock(&r.mu);
		if (stop)
			break;
		if (passed)
			continue;
		obs_tick(r.obs);
		obs_mark m;
		obs_node_begin(r.obs, &dw.h, v, 0, &m);
		int nrc = task_run_node(&dw.h, dv, g, v);
		obs_node_end(r.obs, &dw.h, v, &m);
		if (nrc < 0) {
			fail_fatal(&r, dv);
			break;
		}
		pthread_mutex_lock(&r.mu);
		if (nrc > 0)
			r.cut = v;
		complete(&r, v);
		pthread_mutex_unlock(&r.mu);
	}
	pthread_mutex_lock(&r.mu);
	while ((r.ndone < n || r.jobs_live > 0) && !r.fatal)
		driver_wait(&r);
	r.stop = true;
	pthread_cond_broadcast(&r.work);
	pthread_cond_broadcast(&r.jdone);
	pthread_mutex_unlock(&r.mu);

	int nfailed = dw.h.nfailed, nskipped = dw.h.nskipped, ndriver = dw.h.ndriver, ncaught = dw.h.ncaught;
	/* no worker starts another now (stop is set); wait for those being
	 * started, then nthreads is final */
	pthread_mutex_lock(&r.mu);
	while (r.starting > 0)
		pthread_cond_wait(&r.drv, &r.mu);
	int nt = r.nthreads;
	pthread_mutex_unlock(&r.mu);
	if (r.obs)
		r.obs->nworkers = nt;
	if (r.watch)
		task_watchdog_stop(); /* before the hosts it watches go */
	par_worker *ws = r.ws;
	for (int j = 0; j < nt; j++) {
		if (ws[j].started)
			pthread_join(ws[j].th, NULL);
		nfailed += ws[j].h.nfailed;
		nskipped += ws[j].h.nskipped;
		ndriver += ws[j].h.ndriver;
		ncaught += ws[j].h.ncaught;
		vm_free(ws[j].vm);
		task_host_fini(&ws[j].h);
	}
	vm_free(dv);
	task_host_fini(&dw.h);
	free(ws);
	for (nested_job *j = r.jobs, *next; j; j = next) {
		next = j->all;
		task_job_release(j);
		free(j);
	}
	pthread_cond_destroy(&r.jdone);
	pthread_cond_destroy(&r.work);
	pthread_cond_destroy(&r.drv);
	pthread_mutex_destroy(&r.mu);
	free(r.pending);
	free(r.prio);
	free(r.next);
	free(r.head);
	free(r.tail);
	free(r.worker);
	free(r.early);
	free(r.free_res);
	run_store_fini(&rs);
	fflush(out);
	obs_run_end(r.obs);
	int status = r.fatal ? 1 : 0;
	if (task_summary(err, nfailed, nskipped, ndriver, ncaught))
		status = 1;
	fflush(err);
	return status;
}
