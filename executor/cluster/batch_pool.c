/* batch_pool.c - a node's task threads (batch.h: bt_pool): they run the
 * calls that arrived and hand each outcome on, encoded, gathered in
 * small groups while more calls are queued. A task that waits for an
 * actor's answer (bt_pool_block) first hands on what its thread gathered
 * and gives its CPU back meanwhile: another thread takes the next call
 * (started if none is idle), so a task that waits for another never
 * waits for a call queued behind itself. (A sleep keeps its CPU, as in
 * Ray: a node's `cpus_used` counts its sleeping tasks.) A call holds its
 * task's `@cpus` while it runs, so calls of fractional `@cpus` run side
 * by side (four of `@cpus(0.25)` on one CPU, each on its own thread), as
 * under the local executor (pool.c); a call of `@cpus(0)` never waits for
 * a CPU. */
#include "batch_int.h"
#include "executor/mono_clock.h"
#include "lang/bytecode.h" /* bc_attrs: a call's @cpus */
#include "lang/value.h"
#include "lang/vm.h" /* ERR_* kinds of a failed call */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
	uint32_t pipe;
	uint64_t t_add; /* when the call arrived (monotonic us): its outcome's times count from it */
	cl_plan *plan;
	struct wire_call c;
	uint32_t cost; /* its task's @cpus, in thousandths of a CPU */
	struct job *next;
};

/* Work a task queued on its own node (bt_pool_nest): a nested call. */
struct nest {
	void (*fn)(void *arg, int run);
	void *arg;
	struct nest *next;
};

struct bt_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	struct nest *nhead, *ntail; /* taken before calls: running tasks wait for them */
	int stop, running;
	pthread_cond_t idle;
	char *name;
	const flow_node_view *view;
	_Atomic uint32_t *busy;
	bt_pool_done_fn done;
	void *arg;
	bt_pool_start_fn on_start; /* a start to report first (starts.h), or NULL */
	void *start_arg;
	pthread_t *threads;      /* room for maxthreads */
	int nthreads, maxthreads;
	int cpus;                /* --cpus */
	uint32_t cap, used;      /* thousandths of a CPU: cpus, and what running calls hold (blocked ones aside) */
	int executing, blocked;  /* threads in a call; of them, blocked */
	int waiting;             /* threads idle in cv */
	_Atomic uint32_t nix; /* thread numbers given (outcome's thread) */
};

/* Runs j; its outcome, encoded, is appended to r. */
static void run_job(bt_pool *p, struct job *j, bt_recs *r)
{
	/* which thread ran it and when, for the caller's --trace */
	static _Thread_local uint32_t thread;
	if (!thread)
		thread = atomic_fetch_add(&p->nix, 1) + 1;
	struct wire_done d = {.id = j->c.id, .thread = thread};
	char *error = NULL, *output = NULL;
	value result;
	const char *why = NULL;
	if (p->on_start && p->on_start(p->start_arg, j->pipe, j->plan, &j->c, &why) != 0) {
		/* the head did not accept its start: it was not run here */
		d.ok = WIRE_DONE_NOTRUN;
		d.error = (char *)(why ? why : "its start was not accepted");
		d.node = p->name;
		d.result = v_none();
		bt_encode_done(&d, r, j->pipe);
		return;
	}
	if (p->busy)
		atomic_fetch_add(p->busy, 1);
	d.start_us = mono_now_us() - j->t_add;
	int failed = cl_task_run(j->plan, j->c.fn, j->c.args, j->c.seed, j->c.ident, j->c.job, j->c.level, p->view,
	                         &result, &error, &output);
	d.end_us = mono_now_us() - j->t_add;
	if (p->busy)
		atomic_fetch_sub(p->busy, 1);
	d.ok = failed == CL_TASK_ARG_LOST    ? WIRE_DONE_ARG_LOST
	       : failed == CL_TASK_CANCELLED ? WIRE_DONE_NOTRUN
	       : failed                      ? WIRE_DONE_FAILED
	                                     : WIRE_DONE_OK;
	d.ekind = failed == CL_TASK_TIMEOUT ? ERR_TIMEOUT : ERR_TASK; /* e.kind at the caller */
	d.result = result;
	d.error = error;
	d.node = p->name;
	d.output = output;
	bt_encode_done(&d, r, j->pipe);
	val_rele(result);
	free(error);
	free(output);
}

/* Outcomes a pool thread gathers before handing them on, while more
 * calls are queued: one hand-off (and one answer to a waiting peer) for
 * many short tasks. A slow task's outcome is not held: the group is
 * handed on once BT_POOL_GROUP_US have passed since its first outcome. */
#define BT_POOL_GROUP 64
#define BT_POOL_GROUP_US 200
/* threads beyond --cpus, for calls blocked in a wait (as pool.h's) */
#define BT_POOL_MAX_EXTRA 256

/* The pool of this thread and the outcomes it gathers (bt_pool_block),
 * and what the call it runs holds of the pool's CPUs (given back while
 * it is blocked). */
static _Thread_local bt_pool *tl_pool;
static _Thread_local bt_recs *tl_recs;
static _Thread_local uint32_t tl_cost;

#define CPU_MILLI 1000u

static void *pool_main(void *arg);

/* What a call of task fn holds while it runs: its @cpus, at most the
 * whole node (the head places no call on a node too small for it; one
 * that came anyway runs alone). */
static uint32_t call_cost(const bt_pool *p, const cl_plan *plan, uint32_t fn)
{
	const struct bc_attrs *a = cl_plan_needs(plan, fn);
	double c = a ? a->cpus : 1.0;
	if (!(c >= 0.0)) /* (NaN) */
		c = 1.0;
	double m = c * CPU_MILLI + 0.5;
	return m >= (double)p->cap ? p->cap : (uint32_t)m;
}

/* A thread may take a queued call now (mu): a nested call when part of
 * a CPU is free (it holds one, as before: its caller runs it at its
 * `get` otherwise), a call that came over the wire when its @cpus fit
 * beside the running ones (or nothing runs). */
static int can_take(const bt_pool *p)
{
	if (p->nhead)
		return p->used < p->cap;
	return p->head && (p->used == 0 || p->used + p->head->cost <= p->cap);
}

/* Another queued call can be taken beside the running ones: a waiting
 * thread takes it, or a new one when every thread is in a call (up to
 * maxthreads; a thread handing on its outcomes comes back for it). (mu) */
static void wake_taker(bt_pool *p)
{
	if (!can_take(p) || p->stop)
		return;
	if (p->waiting)
		pthread_cond_signal(&p->cv);
	else if (p->executing >= p->nthreads && p->nthreads < p->maxthreads &&
	         pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) == 0)
		p->nthreads++;
}

/* Runs nested call n on this thread, its CPU counted as a call's. (mu,
 * dropped meanwhile) */
static void run_nest(bt_pool *p, struct nest *n)
{
	p->executing++;
	p->used += CPU_MILLI;
	tl_cost = CPU_MILLI;
	pthread_mutex_unlock(&p->mu);
	if (p->busy)
		atomic_fetch_add(p->busy, 1);
	n->fn(n->arg, 1);
	if (p->busy)
		atomic_fetch_sub(p->busy, 1);
	free(n);
	pthread_mutex_lock(&p->mu);
	p->executing--;
	p->used -= tl_cost;
	tl_cost = 0;
	wake_taker(p);
}

/* Hands the outcomes a thread gathered on (without the lock; called and
 * returns with p->mu held) and ends their group's count. */
static void send_gathered(struct bt_pool *p, bt_recs *r)
{
	pthread_mutex_unlock(&p->mu);
	p->done(p->arg, r);
	bt_recs_fini(r);
	bt_recs_init(r);
	pthread_mutex_lock(&p->mu);
	if (--p->running == 0)
		pthread_cond_broadcast(&p->idle);
}

static void *pool_main(void *arg)
{
	bt_pool *p = arg;
	bt_recs r;
	bt_recs_init(&r);
	tl_pool = p;
	tl_recs = &r;
	uint64_t first = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		/* nothing more to take, enough gathered, or held too long: the
		 * gathered outcomes go now (without the lock) */
		if (r.n > 0 && (!can_take(p) || p->stop || r.n >= BT_POOL_GROUP ||
		                mono_now_us() - first >= BT_POOL_GROUP_US)) {
			send_gathered(p, &r);
			continue;
		}
		while (!can_take(p) && !p->stop) {
			p->waiting++;
			pthread_cond_wait(&p->cv, &p->mu);
			p->waiting--;
		}
		if (p->stop)
			break;
		if (p->nhead) {
			struct nest *n = p->nhead;
			p->nhead = n->next;
			if (!p->nhead)
				p->ntail = NULL;
			if (r.n > 0) {
				/* the gathered outcomes do not wait for a nested call */
				send_gathered(p, &r);
			}
			run_nest(p, n);
			continue;
		}
		struct job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		if (r.n == 0)
			p->running++; /* until its group is handed on */
		p->executing++;
		p->used += j->cost;
		tl_cost = j->cost;
		wake_taker(p); /* fractional @cpus: the next may fit beside it */
		pthread_mutex_unlock(&p->mu);
		if (r.n == 0)
			first = mono_now_us();
		run_job(p, j, &r);
		val_rele(j->c.args);
		free(j);
		pthread_mutex_lock(&p->mu);
		p->executing--;
		p->used -= tl_cost;
		tl_cost = 0;
		wake_taker(p); /* a CPU came back (after a block) */
	}
	pthread_mutex_unlock(&p->mu);
	tl_pool = NULL;
	tl_recs = NULL;
	bt_recs_fini(&r);
	return NULL;
}

void bt_pool_block(int begin)
{
	bt_pool *p = tl_pool;
	if (!p)
		return; /* not a task thread of a pool (an actor's, a client's) */
	if (!begin) {
		pthread_mutex_lock(&p->mu);
		p->blocked--;
		p->used += tl_cost;
		pthread_mutex_unlock(&p->mu);
		return;
	}
	/* what this thread gathered must not wait for the wait: the call
	 * it waits for may need one of those outcomes */
	if (tl_recs && tl_recs->n > 0) {
		p->done(p->arg, tl_recs);
		bt_recs_fini(tl_recs);
		bt_recs_init(tl_recs);
	}
	pthread_mutex_lock(&p->mu);
	p->blocked++;
	p->used -= tl_cost;
	wake_taker(p);
	pthread_mutex_unlock(&p->mu);
}

bt_pool *bt_pool_current(void) { return tl_pool; }

int bt_pool_cpus(bt_pool *p) { return p->cpus; }

int bt_pool_idle_cpus(bt_pool *p)
{
	pthread_mutex_lock(&p->mu);
	int idle = p->used >= p->cap ? 0 : (int)((p->cap - p->used) / CPU_MILLI);
	pthread_mutex_unlock(&p->mu);
	return idle;
}

void bt_pool_nest(bt_pool *p, void (*fn)(void *arg, int run), void *arg)
{
	struct nest *n = calloc(1, sizeof *n);
	if (!n)
		abort();
	n->fn = fn;
	n->arg = arg;
	pthread_mutex_lock(&p->mu);
	if (p->stop) {
		pthread_mutex_unlock(&p->mu);
		fn(arg, 0); /* its caller runs it when it waits for it */
		free(n);
		return;
	}
	if (p->ntail)
		p->ntail->next = n;
	else
		p->nhead = n;
	p->ntail = n;
	wake_taker(p);
	pthread_mutex_unlock(&p->mu);
}

bt_pool *bt_pool_start(int threads, const char *name, const flow_node_view *view,
                       _Atomic uint32_t *busy, bt_pool_done_fn done, void *arg)
{
	bt_pool *p = calloc(1, sizeof *p);
	if (!p || !(p->name = strdup(name)))
		abort();
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->view = view;
	p->busy = busy;
	p->done = done;
	p->arg = arg;
	p->cpus = threads < 1 ? 1 : threads;
	p->cap = (uint32_t)p->cpus * CPU_MILLI;
	p->maxthreads = p->cpus + BT_POOL_MAX_EXTRA;
	p->threads = calloc((size_t)p->maxthreads, sizeof *p->threads);
	if (!p->threads)
		abort();
	pthread_mutex_lock(&p->mu); /* a thread may block and start another */
	val_threads_begin(); /* the new thread touches values (value.h) */
	for (int i = 0; i < p->cpus; i++)
		if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) == 0)
			p->nthreads++;
	pthread_mutex_unlock(&p->mu);
	return p;
}

void bt_pool_add(bt_pool *p, uint32_t pipe, cl_plan *plan, struct wire_call *c)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->pipe = pipe;
	j->t_add = mono_now_us();
	j->plan = plan;
	j->c = *c;
	c->args = v_none();
	j->cost = call_cost(p, plan, c->fn);
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	wake_taker(p);
	pthread_mutex_unlock(&p->mu);
}

void bt_pool_on_start(bt_pool *p, bt_pool_start_fn fn, void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->on_start = fn;
	p->start_arg = arg;
	pthread_mutex_unlock(&p->mu);
}

size_t bt_pool_drop(bt_pool *p, int by_job, uint64_t key, uint64_t **ids)
{
	size_t n = 0, cap = 0;
	*ids = NULL;
	pthread_mutex_lock(&p->mu);
	struct job **at = &p->head, *prev = NULL;
	while (*at) {
		struct job *j = *at;
		if (by_job ? j->c.job != key : j->pipe != key) {
			prev = j;
			at = &j->next;
			continue;
		}
		*at = j->next;
		if (p->tail == j)
			p->tail = prev;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			*ids = xrealloc(*ids, cap * sizeof **ids);
		}
		(*ids)[n++] = j->c.id;
		val_rele(j->c.args);
		free(j);
	}
	pthread_mutex_unlock(&p->mu);
	return n;
}

int bt_pool_stop(bt_pool *p, int wait_ms)
{
	if (!p)
		return 0;
	struct timespec dl;
	wire_deadline(&dl, wait_ms);
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	while (p->running > 0 && pthread_cond_timedwait(&p->idle, &p->mu, &dl) == 0)
		;
	int busy = p->running;
	pthread_mutex_unlock(&p->mu);
	if (busy)
		return -1; /* a task still runs: its memory is left to the exit */
	/* stop is set and no task runs: nthreads is final */
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	while (p->head) {
		struct job *j = p->head;
		p->head = j->next;
		val_rele(j->c.args);
		free(j);
	}
	while (p->nhead) {
		struct nest *n = p->nhead;
		p->nhead = n->next;
		n->fn(n->arg, 0);
		free(n);
	}
	free(p->threads);
	free(p->name);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->idle);
	free(p);
	return 0;
}

size_t bt_pool_pending(bt_pool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = (size_t)p->running;
	for (struct job *j = p->head; j; j = j->next)
		n++;
	pthread_mutex_unlock(&p->mu);
	return n;
}
