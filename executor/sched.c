/* sched.c - the scheduler core (sched.h): counters, the ready queue, the
 * effect frontier and the job queue, and what is taken where. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lang/hugemem.h"

#include "compiler/effects.h"
#include "executor/interrupt.h"
#include "executor/mono_clock.h"
#include "executor/run_obs.h"
#include "executor/sched.h"

/* ---- arrays by node ------------------------------------------------------------ */


/* n bytes for an array by node (freed with free; aborts when out of
 * memory). Arrays of a large DAG (a driver loop of 100k round trips
 * makes 300k nodes, 1.2 MB an array) sit on huge pages: one fault per 2 MiB, where
 * faulting them in 4 KiB at a time was a tenth of such a run. */
static void *node_array(size_t n)
{
	void *p = n < MEM_HUGE_PAGE / 2 ? malloc(n ? n : 1) : mem_huge_alloc(&n);
	if (!p)
		abort();
	return p;
}

/* ---- the bucket queue ------------------------------------------------------ */

void bq_init(bucket_queue *q, uint32_t nnodes, uint32_t maxprio)
{
	memset(q, 0, sizeof *q);
	q->next = node_array(sizeof(uint32_t) * nnodes);
	q->head = node_array(sizeof(uint32_t) * ((size_t)maxprio + 1));
	q->tail = node_array(sizeof(uint32_t) * ((size_t)maxprio + 1));
	for (uint32_t p = 0; p <= maxprio; p++)
		q->head[p] = q->tail[p] = NO_NODE;
}

void bq_fini(bucket_queue *q)
{
	free(q->next);
	free(q->head);
	free(q->tail);
	memset(q, 0, sizeof *q);
}

void bq_push(bucket_queue *q, uint32_t v, uint32_t p)
{
	q->next[v] = NO_NODE;
	if (q->tail[p] == NO_NODE)
		q->head[p] = v;
	else
		q->next[q->tail[p]] = v;
	q->tail[p] = v;
	if (p > q->top)
		q->top = p;
	q->n++;
}

uint32_t bq_peek(bucket_queue *q)
{
	while (q->head[q->top] == NO_NODE)
		q->top--;
	return q->head[q->top];
}

uint32_t bq_pop(bucket_queue *q)
{
	uint32_t v = bq_peek(q), p = q->top;
	q->head[p] = q->next[v];
	if (q->head[p] == NO_NODE)
		q->tail[p] = NO_NODE;
	q->n--;
	return v;
}

/* ---- readiness ---------------------------------------------------------------- */

/* Calls run on a node's task slots: tasks, puts, actor creations and
 * method calls (the lowering orders the driver's calls on each actor, and
 * the tasks passed its handle between them). Driver
 * expressions and effects run on the driver thread, in id order. */
static bool runs_on_worker(const dag *g, uint32_t v)
{
	int k = g->nodes[v].kind;
	return k == DAG_TASK || k == DAG_PUT || k == DAG_ACTOR || k == DAG_METHOD;
}

static void push_ready(sched *s, uint32_t v)
{
	bq_push(&s->ready, v, s->prio[v]);
	if (s->defer_wake)
		s->nwake++;
	else
		pthread_cond_signal(&s->work);
}

void sched_wake_deferred(sched *s)
{
	uint32_t k = s->nwake < s->ready.n ? s->nwake : s->ready.n;
	s->nwake = 0;
	while (k-- > 0)
		pthread_cond_signal(&s->work);
}

static uint32_t next_effect(const dag *g, uint32_t from)
{
	while (from < g->n && g->nodes[from].kind != DAG_EFFECT)
		from++;
	return from;
}

/* The driver has reached effect node `to` (or the end): the worker nodes
 * before it whose inputs are done are ready. (mu) */
static void advance_frontier(sched *s, uint32_t to)
{
	for (uint32_t t = s->frontier; t < to; t++)
		if (s->worker[t] && s->pending[t] == 0 && !s->early[t])
			push_ready(s, t);
	s->frontier = to;
}

/* Priorities (ids are a topological order: successors have higher
 * ids), counters, and which nodes may start before the driver reaches
 * them. A priority counts the worker nodes on the longest path to a
 * sink: only they are queued, and the driver's own nodes (two of a
 * round trip's three) would make the bucket queue's arrays three times
 * as long, each byte of it a page to fault in. The ready queue is made
 * here, as long as the highest. */
static void count_nodes(sched *s, const dag *g)
{
	uint32_t n = g->n, top = 0;
	for (uint32_t v = n; v-- > 0;) {
		uint32_t best = 0;
		for (uint32_t e = g->succ_off[v]; e < g->succ_off[v + 1]; e++)
			if (s->prio[g->succs[e]] > best)
				best = s->prio[g->succs[e]];
		s->worker[v] = runs_on_worker(g, v);
		s->prio[v] = best + s->worker[v];
		if (s->prio[v] > top)
			top = s->prio[v];
		s->pending[v] = 0;
		for (uint32_t e = g->pred_off[v]; e < g->pred_off[v + 1]; e++)
			s->pending[v] += g->pred_order[e] != DAG_EDGE_HELD;
	}
	bool *free_task = effects_free_protos(g->prog);
	for (uint32_t v = 0; v < n; v++) {
		const dag_node *nd = &g->nodes[v];
		s->early[v] = (nd->kind == DAG_TASK && free_task[nd->proto]) || nd->kind == DAG_PUT;
	}
	free(free_task);
	bq_init(&s->ready, n, top);
}

void sched_init(sched *s, const dag *g, FILE *err)
{
	memset(s, 0, sizeof *s);
	s->g = g;
	s->err = err;
	s->cut = NO_NODE;
	int64_t cont = dag_cont_node(g);
	s->cont = cont < 0 ? NO_NODE : (uint32_t)cont;
	uint32_t n = g->n;
	s->pending = node_array(sizeof(uint32_t) * n);
	s->prio = node_array(sizeof(uint32_t) * n);
	s->worker = node_array(sizeof(bool) * n);
	s->early = node_array(sizeof(bool) * n);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->drv, NULL);
	mono_cond_init(&s->jdone); /* job waits' deadlines are CLOCK_MONOTONIC */
	count_nodes(s, g);
	for (uint32_t v = 0; v < n; v++)
		if (s->early[v] && s->pending[v] == 0)
			bq_push(&s->ready, v, s->prio[v]);
	advance_frontier(s, next_effect(g, 0));
}

/* Frees job j, ended and retired, or at the end of the run. (mu) */
static void free_job(sched *s, nested_job *j)
{
	if (j->queued)
		sched_unqueue_job(s, j);
	if (j->all_prev)
		j->all_prev->all = j->all;
	else
		s->jobs = j->all;
	if (j->all)
		j->all->all_prev = j->all_prev;
	task_job_release(j);
	free(j);
}

void sched_fini(sched *s)
{
	while (s->jobs)
		free_job(s, s->jobs);
	pthread_cond_destroy(&s->jdone);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->drv);
	pthread_mutex_destroy(&s->mu);
	bq_fini(&s->ready);
	free(s->pending);
	free(s->prio);
	free(s->worker);
	free(s->early);
}

/* ---- taking work ----------------------------------------------------------------- */

/* The first queued job (a job leaves the queue when it is taken). (mu) */
static nested_job *job_peek(sched *s)
{
	return s->jq_head;
}

void sched_unqueue_job(sched *s, nested_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		s->jq_head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		s->jq_tail = j->prev;
	j->next = j->prev = NULL;
	j->queued = false;
	s->njq--;
}

bool sched_has_work(sched *s, const res_pool *r)
{
	nested_job *j = job_peek(s);
	if (j && res_fits(r, &j->task->attrs))
		return true;
	return s->ready.n > 0 && res_fits(r, res_needs(s->g, bq_peek(&s->ready)));
}

bool sched_take(sched *s, res_pool *r, sched_item *it)
{
	/* after SIGINT/SIGTERM nothing more starts (interrupt.h) */
	if (run_cancelled())
		return false;
	/* the driver has ended before these: passed over */
	while (s->cut != NO_NODE && s->ready.n > 0 && bq_peek(&s->ready) > s->cut)
		sched_complete(s, bq_pop(&s->ready));
	if (!sched_has_work(s, r))
		return false;
	/* jobs first: running tasks wait for them */
	nested_job *j = job_peek(s);
	if (j && res_fits(r, &j->task->attrs)) {
		sched_unqueue_job(s, j);
		__atomic_store_n(&j->state, NJ_RUNNING, __ATOMIC_RELAXED);
		*it = (sched_item){ j, NO_NODE, &j->task->attrs };
	} else {
		/* LOCALITY GOES HERE. With one node, the highest priority ready
		 * node is the one to run. With several (the cluster), a node asking
		 * for work should get, among the nodes of the top priorities that
		 * fit it, the one whose inputs it already holds the most bytes of
		 * (val_size_estimate of the inputs, or the object directory's
		 * sizes), and another node the rest. */
		uint32_t v = bq_pop(&s->ready);
		*it = (sched_item){ NULL, v, res_needs(s->g, v) };
	}
	res_take(r, it->needs, 1);
	return true;
}

/* Does v feed want directly? Only a short successor list is scanned: a
 * node with many successors is left to the workers. */
static bool feeds(const dag *g, uint32_t v, uint32_t want)
{
	uint32_t e = g->succ_off[v], end = g->succ_off[v + 1];
	if (end - e > 64)
		return false;
	for (; e < end; e++)
		if (g->succs[e] == want)
			return true;
	return false;
}

static bool held_edge(const sched *s, uint32_t u, uint32_t t);

bool sched_take_for(sched *s, res_pool *r, uint32_t want, sched_item *it)
{
	if (run_cancelled() || s->stop || s->cut != NO_NODE || s->ready.n == 0)
		return false;
	uint32_t v = bq_peek(&s->ready);
	const bc_attrs *needs = res_needs(s->g, v);
	/* not a call the staged driver only holds: the continuation does not
	 * wait for it, and it may wait for what the driver does next (Ray's
	 * signal pattern: run on the driver's thread, it would never end) */
	if (!feeds(s->g, v, want) || held_edge(s, v, want) || !res_fits(r, needs))
		return false;
	bq_pop(&s->ready);
	*it = (sched_item){ NULL, v, needs };
	res_take(r, needs, 1);
	return true;
}

void sched_requeue(sched *s, uint32_t v)
{
	push_ready(s, v);
}

void sched_release(sched *s, res_pool *r, const sched_item *it)
{
	/* an actor keeps what it holds until the run ends */
	if (it->job || s->g->nodes[it->v].kind != DAG_ACTOR)
		res_take(r, it->needs, -1);
}

/* ---- completion --------------------------------------------------------------------- */

/* Is u -> t a future the staged driver holds without waiting (dag.h)? */
static bool held_edge(const sched *s, uint32_t u, uint32_t t)
{
	const dag *g = s->g;
	if (t != s->cont)
		return false;
	uint32_t lo = g->pred_off[t], hi = g->pred_off[t + 1];
	while (lo < hi) { /* preds ascending */
		uint32_t mid = lo + (hi - lo) / 2;
		if (g->preds[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < g->pred_off[t + 1] && g->preds[lo] == u && g->pred_order[lo] == DAG_EDGE_HELD;
}

void sched_complete(sched *s, uint32_t v)
{
	const dag *g = s->g;
	bool wake_driver = false;
	for (uint32_t e = g->succ_off[v]; e < g->succ_off[v + 1]; e++) {
		uint32_t t = g->succs[e];
		if (held_edge(s, v, t))
			continue;
		if (--s->pending[t] != 0)
			continue;
		if (!s->worker[t])
			wake_driver = true;
		else if (t < s->frontier || s->early[t])
			push_ready(s, t);
	}
	/* effects complete in id order (all on the driver thread) */
	if (v == s->frontier)
		advance_frontier(s, next_effect(g, v + 1));
	if (++s->ndone == g->n)
		wake_driver = true;
	if (s->node_waiters > 0) /* the staged driver's get or wait (sched_await_node) */
		pthread_cond_broadcast(&s->jdone);
	if (wake_driver)
		pthread_cond_signal(&s->drv);
}

void sched_add_job(sched *s, nested_job *j)
{
	j->all = s->jobs;
	j->all_prev = NULL;
	if (s->jobs)
		s->jobs->all_prev = j;
	s->jobs = j;
	s->jobs_live++;
}

void sched_queue_job(sched *s, nested_job *j)
{
	__atomic_store_n(&j->state, NJ_QUEUED, __ATOMIC_RELAXED);
	j->next = NULL;
	j->prev = s->jq_tail;
	j->queued = true;
	if (s->jq_tail)
		s->jq_tail->next = j;
	else
		s->jq_head = j;
	s->jq_tail = j;
	s->njq++;
	pthread_cond_signal(&s->work);
}

void sched_job_ended(sched *s, nested_job *j)
{
	__atomic_store_n(&j->state, NJ_DONE, __ATOMIC_RELEASE);
	s->jobs_live--;
	s->jobs_ended++;
	if (j->waiters > 0 || s->any_waiters > 0)
		pthread_cond_broadcast(&s->jdone);
	if (s->jobs_live == 0 && s->ndone == s->g->n)
		pthread_cond_signal(&s->drv);
	if (j->retired)
		free_job(s, j);
}

void sched_prune_jobs(sched *s, nested_job **kids)
{
	while (*kids && (*kids)->state == NJ_DONE) {
		nested_job *j = *kids;
		*kids = j->sibling;
		free_job(s, j);
	}
}

void sched_retire_jobs(sched *s, nested_job *kids)
{
	for (nested_job *j = kids, *next; j; j = next) {
		next = j->sibling;
		j->retired = true;
		if (j->state == NJ_DONE)
			free_job(s, j);
	}
}

bool sched_all_done(const sched *s)
{
	return s->ndone == s->g->n && s->jobs_live == 0;
}

void sched_fail(sched *s, flow_vm *vm)
{
	char *e = task_render_error(vm, "");
	pthread_mutex_lock(&s->mu);
	if (!s->fatal)
		fprintf(s->err, "%s\n", e);
	s->fatal = s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->drv);
	pthread_cond_broadcast(&s->jdone);
	pthread_mutex_unlock(&s->mu);
	free(e);
}

void sched_cancel(sched *s)
{
	pthread_mutex_lock(&s->mu);
	s->fatal = s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->drv);
	pthread_cond_broadcast(&s->jdone);
	pthread_mutex_unlock(&s->mu);
}

void sched_wait_jdone(sched *s, uint64_t now, uint64_t deadline, uint64_t slice)
{
	uint64_t until = now + slice;
	if (deadline && deadline < until)
		until = deadline;
	struct timespec ts = { (time_t)(until / 1000000000u), (long)(until % 1000000000u) };
	pthread_cond_timedwait(&s->jdone, &s->mu, &ts);
}

void sched_stop(sched *s)
{
	s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->jdone);
}

int sched_await_node(sched *s, const vfuture *f, uint64_t deadline, bool any)
{
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	uint64_t seen = s->ndone + s->jobs_ended;
	s->node_waiters++;
	s->any_waiters += any;
	while (__atomic_load_n(&f->state, __ATOMIC_ACQUIRE) == FUT_PENDING) {
		if (s->stop || run_cancelled()) {
			rc = -1;
			break;
		}
		uint64_t t = obs_now_ns();
		if ((deadline && t >= deadline) || (any && s->ndone + s->jobs_ended != seen)) {
			rc = 1;
			break;
		}
		sched_wait_jdone(s, t, deadline, 100000000u); /* in slices: an interrupt is noticed */
	}
	s->node_waiters--;
	s->any_waiters -= any;
	pthread_mutex_unlock(&s->mu);
	return rc;
}
