/* remote_async.c - DAG task calls sent to a remote node without a thread
 * waiting for each (remote_async.h). */
#include "executor/remote_async.h"
#include "lang/value.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/cache.h"
#include "executor/mono_clock.h"
#include "executor/run_obs.h"

/* One call in flight (or waiting to be sent again). */
typedef struct acall {
	remote_async *ra;
	sched_item it;
	uint32_t fn;
	uint64_t ident;
	value args;           /* held until its outcome: a lost call goes again */
	int lost;             /* times its node was lost */
	uint64_t due;         /* when it is sent again (CLOCK_MONOTONIC ns) */
	bool cache_store;     /* its result goes into the run's cache under cache_key */
	uint8_t cache_key[32];
	struct acall *next;   /* the resend list */
} acall;

struct remote_async {
	node_run run;
	exec_node *node;
	sched *s;
	const task_remote *remote;
	/* the host outcomes are reported through (failures, prints, counts) */
	pthread_mutex_t hmu;
	task_host h;
	/* calls sent and not yet completed (atomic); the last one's end is
	 * signalled on idle, under s->mu */
	uint64_t inflight;
	pthread_cond_t idle;
	/* outcomes since a worker was last woken, and how many make a wake (s->mu) */
	uint32_t freed, batch;
	/* the run stopped: outcomes still to come are dropped unreported (atomic) */
	int quiet;
	/* per node: its result could not travel, so it runs here (atomic) */
	uint8_t *local;
	/* lost calls to send again, and the thread that sends them (rmu) */
	pthread_mutex_t rmu;
	pthread_cond_t rcv;
	acall *resend;
	bool rstarted, rstop;
	pthread_t rth;
};

remote_async *remote_async_new(exec_node *n, const node_run *run)
{
	if (!run->remote || !run->remote->submit)
		return NULL;
	remote_async *ra = calloc(1, sizeof *ra);
	if (!ra)
		abort();
	ra->run = *run;
	ra->node = n;
	ra->s = run->s;
	ra->remote = run->remote;
	ra->batch = n->res.cap_cpu >= 16 ? (uint32_t)(n->res.cap_cpu / 8) : 1;
	pthread_mutex_init(&ra->hmu, NULL);
	task_host_init(&ra->h, run->g->prog, run->seed, run->out, run->err, run->actor_seq);
	ra->h.rs = run->rs;
	ra->h.node = &n->view;
	pthread_cond_init(&ra->idle, NULL);
	ra->local = calloc(run->g->n ? run->g->n : 1, 1);
	if (!ra->local)
		abort();
	pthread_mutex_init(&ra->rmu, NULL);
	mono_cond_init(&ra->rcv);
	return ra;
}

/* One call fewer in flight. (not mu) */
static void call_gone(remote_async *ra)
{
	if (__atomic_sub_fetch(&ra->inflight, 1, __ATOMIC_ACQ_REL) == 0) {
		pthread_mutex_lock(&ra->s->mu);
		pthread_cond_broadcast(&ra->idle);
		pthread_mutex_unlock(&ra->s->mu);
	}
}

/* Node it->v has ended (its future settled): its dependents are
 * released, and what it held. (not mu) */
static void complete(remote_async *ra, const sched_item *it)
{
	sched *s = ra->s;
	pthread_mutex_lock(&s->mu);
	/* a worker is woken once per `batch` outcomes, not once per outcome
	 * (a futex each): a woken worker sends every call that fits. While
	 * more than `batch` calls are in flight, more outcomes will come and
	 * wake it; fewer, and each outcome wakes it. */
	uint32_t driver_wakes = s->nwake;
	s->defer_wake = true;
	sched_complete(s, it->v);
	s->defer_wake = false;
	s->nwake = driver_wakes;
	sched_release(s, &ra->node->res, it);
	uint64_t left = __atomic_load_n(&ra->inflight, __ATOMIC_RELAXED) - 1;
	if ((s->ready.n > 0 || s->jq_head) && (++ra->freed >= ra->batch || left <= ra->batch)) {
		ra->freed = 0;
		pthread_cond_signal(&s->work); /* what it held is free */
	}
	pthread_mutex_unlock(&s->mu);
}

static void free_call(acall *c)
{
	val_rele(c->args);
	free(c);
}

/* Runs it on the worker (h, vm, thread tid), not remotely: begun says
 * obs_node_begin has been called for it already (an earlier attempt). */
static void run_here(remote_async *ra, task_host *h, flow_vm *vm, const sched_item *it, int tid,
                     bool begun)
{
	obs_mark m;
	if (begun)
		m = (obs_mark){h->nfailed, h->nskipped, h->ndriver, h->nretries, h->ncached};
	else
		obs_node_begin(ra->run.obs, h, it->v, tid, &m);
	const task_remote *saved = h->remote;
	h->remote = NULL; /* it cannot travel */
	int rc = task_run_node(h, vm, ra->run.g, it->v);
	h->remote = saved;
	obs_node_end(ra->run.obs, h, it->v, &m);
	if (rc < 0) {
		sched_fail(ra->s, vm);
		pthread_mutex_lock(&ra->s->mu);
		sched_release(ra->s, &ra->node->res, it);
		pthread_mutex_unlock(&ra->s->mu);
		return;
	}
	complete(ra, it);
}

static void on_done(void *arg, int rc, value res, char *err, char *node, char *output);

/* Queues lost call c to be sent again after a pause (the head needs a
 * moment to see its node gone and place it on a live one). */
static void *resend_main(void *arg);
static void resend_later(remote_async *ra, acall *c)
{
	c->due = mono_now_ns() + 50 * 1000000ull * (uint64_t)c->lost;
	pthread_mutex_lock(&ra->rmu);
	c->next = ra->resend;
	ra->resend = c;
	val_threads_begin(); /* the new thread touches values (value.h) */
	if (!ra->rstarted)
		ra->rstarted = pthread_create(&ra->rth, NULL, resend_main, ra) == 0;
	pthread_cond_signal(&ra->rcv);
	bool started = ra->rstarted;
	pthread_mutex_unlock(&ra->rmu);
	if (!started) /* no thread: it fails as not sent */
		on_done(c, -1, v_none(), strdup("cannot start a thread to send a lost call again"), NULL,
		        NULL);
}

/* Sends c (again); its outcome comes to on_done, now if it cannot go. */
static void send(acall *c)
{
	remote_async *ra = c->ra;
	char *err = NULL;
	int rc = ra->remote->submit(ra->remote->ctx, c->fn, ra->run.seed, c->ident, c->args, on_done,
	                            c, &err);
	if (rc != 0)
		on_done(c, rc == 2 ? -1 : rc, v_none(),
		        err ? err : strdup("the call could not be sent"), NULL, NULL);
}

static void *resend_main(void *arg)
{
	remote_async *ra = arg;
	pthread_mutex_lock(&ra->rmu);
	for (;;) {
		if (!ra->resend) {
			if (ra->rstop)
				break;
			pthread_cond_wait(&ra->rcv, &ra->rmu);
			continue;
		}
		acall **first = &ra->resend;
		for (acall **p = &ra->resend; *p; p = &(*p)->next)
			if ((*p)->due < (*first)->due)
				first = p;
		uint64_t now = mono_now_ns(), due = (*first)->due;
		if (now < due) {
			struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
			pthread_cond_timedwait(&ra->rcv, &ra->rmu, &ts);
			continue;
		}
		acall *c = *first;
		*first = c->next;
		pthread_mutex_unlock(&ra->rmu);
		send(c);
		pthread_mutex_lock(&ra->rmu);
	}
	pthread_mutex_unlock(&ra->rmu);
	return NULL;
}

/* task_remote.submit's callback: call c's outcome (on a pump thread, or
 * the thread that could not send it). */
static void on_done(void *arg, int rc, value res, char *err, char *node, char *output)
{
	acall *c = arg;
	remote_async *ra = c->ra;
	const dag *g = ra->run.g;
	uint32_t v = c->it.v;
	if (__atomic_load_n(&ra->quiet, __ATOMIC_ACQUIRE)) {
		/* the run stopped (remote_async_free): nobody reads it */
		val_rele(res);
		free(err);
		free(node);
		free(output);
		complete(ra, &c->it);
		free_call(c);
		call_gone(ra);
		return;
	}
	if (rc == TASK_REMOTE_LOST) {
		pthread_mutex_lock(&ra->hmu);
		bool again = task_remote_again(&ra->h, g, v, ++c->lost, &err);
		pthread_mutex_unlock(&ra->hmu);
		if (again) {
			/* the same call again (same ident, same random stream) */
			val_rele(res);
			free(err);
			free(node);
			free(output);
			resend_later(ra, c);
			return;
		}
		rc = TASK_REMOTE_NODE_LOST; /* err says why it is not sent again */
	}
	if (rc == 2) {
		/* its result cannot travel: it runs here, on a worker */
		val_rele(res);
		free(err);
		free(node);
		free(output);
		__atomic_store_n(&ra->local[v], 1, __ATOMIC_RELAXED);
		sched *s = ra->s;
		pthread_mutex_lock(&s->mu);
		sched_release(s, &ra->node->res, &c->it);
		sched_requeue(s, v);
		pthread_mutex_unlock(&s->mu);
		free_call(c);
		call_gone(ra);
		return;
	}
	/* flow run --resume (cache.h): a result to keep, unless it was left on
	 * its node (a reference to an object freed when the run ends; pulling
	 * it here would route it through the client) */
	if (c->cache_store && rc == 0 && !task_result_is_ref(res)) {
		val_freeze(res);
		cache_remote_end(cache_current(), c->cache_key, g->prog->protos[g->nodes[v].proto], res);
	}
	pthread_mutex_lock(&ra->hmu);
	task_host *h = &ra->h;
	obs_mark m = {h->nfailed, h->nskipped, h->ndriver, h->nretries, h->ncached};
	task_remote_settle(h, g, v, rc, res, err, node, output);
	if (h->rs)
		run_store_after(h->rs, h->err, g, v);
	obs_node_end(ra->run.obs, h, v, &m);
	pthread_mutex_unlock(&ra->hmu);
	complete(ra, &c->it);
	free_call(c);
	call_gone(ra);
}

bool remote_async_begin(remote_async *ra, task_host *h, flow_vm *vm, const sched_item *it,
                        int tid)
{
	if (!ra || it->job)
		return false;
	uint32_t v = it->v;
	if (__atomic_load_n(&ra->local[v], __ATOMIC_RELAXED)) {
		run_here(ra, h, vm, it, tid, true);
		return true;
	}
	if (ra->run.g->nodes[v].kind != DAG_TASK)
		return false;
	acall *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	if (!task_remote_args(h, vm, ra->run.g, v, &c->fn, &c->ident, &c->args)) {
		free(c);
		return false;
	}
	/* flow run --resume (cache.h): a call the cache holds is not sent; it
	 * runs here, where call_task_here takes it from the cache */
	if (cache_current()) {
		const dag *g = ra->run.g;
		int hit = cache_remote_begin(cache_current(), g->prog->protos[g->nodes[v].proto],
		                             ra->run.seed, c->ident, c->args, c->cache_key);
		if (hit == 1) {
			free_call(c);
			run_here(ra, h, vm, it, tid, false);
			return true;
		}
		c->cache_store = hit == 0;
	}
	c->ra = ra;
	c->it = *it;
	obs_mark m;
	obs_node_begin(ra->run.obs, h, v, tid, &m);
	__atomic_add_fetch(&ra->inflight, 1, __ATOMIC_ACQ_REL);
	char *err = NULL;
	int rc = ra->remote->submit(ra->remote->ctx, c->fn, ra->run.seed, c->ident, c->args, on_done,
	                            c, &err);
	if (rc == 2) {
		/* an argument cannot travel (an actor): it runs here */
		free(err);
		free_call(c);
		call_gone(ra);
		run_here(ra, h, vm, it, tid, true);
	} else if (rc != 0) {
		on_done(c, -1, v_none(), err ? err : strdup("the call could not be sent"), NULL, NULL);
	}
	return true;
}

void remote_async_free(remote_async *ra, node_totals *t)
{
	if (!ra)
		return;
	pthread_mutex_lock(&ra->s->mu);
	bool fatal = ra->s->fatal;
	pthread_mutex_unlock(&ra->s->mu);
	if (fatal && ra->remote->abandon && __atomic_load_n(&ra->inflight, __ATOMIC_ACQUIRE) > 0) {
		/* the run stopped: what is still out is not waited for (it
		 * could be thousands of calls) */
		__atomic_store_n(&ra->quiet, 1, __ATOMIC_RELEASE);
		ra->remote->abandon(ra->remote->ctx);
	}
	pthread_mutex_lock(&ra->s->mu);
	while (__atomic_load_n(&ra->inflight, __ATOMIC_ACQUIRE) > 0)
		pthread_cond_wait(&ra->idle, &ra->s->mu);
	pthread_mutex_unlock(&ra->s->mu);
	pthread_mutex_lock(&ra->rmu);
	ra->rstop = true;
	pthread_cond_signal(&ra->rcv);
	bool started = ra->rstarted;
	pthread_mutex_unlock(&ra->rmu);
	if (started)
		pthread_join(ra->rth, NULL);
	t->nfailed += ra->h.nfailed;
	t->nskipped += ra->h.nskipped;
	t->ndriver += ra->h.ndriver;
	t->ncaught += ra->h.ncaught;
	task_host_fini(&ra->h);
	pthread_mutex_destroy(&ra->hmu);
	pthread_mutex_destroy(&ra->rmu);
	pthread_cond_destroy(&ra->rcv);
	pthread_cond_destroy(&ra->idle);
	free(ra->local);
	free(ra);
}
