/* starts.c - start reports (starts.h). */
#include "starts.h"

#include <pthread.h>
#include <stdlib.h>

#include "compiler/effects.h"
#include "lang/bytecode.h"
#include "wire.h"

/* ---- which calls report: effects_rerun_blockers per plan, cached ------ */

struct cached {
	const cl_plan *plan;
	int *blk;
	int n;
};
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached *cache;
static size_t ncache;

/* this thread's last plan (every call of a run asks: no lock then; an
 * entry's blk never moves or goes) */
static _Thread_local const cl_plan *last_plan;
static _Thread_local const int *last_blk;
static _Thread_local int last_n;

bool st_needs_report(const cl_plan *p, uint32_t fn)
{
	if (!p || (fn & WIRE_FN_ACTOR_MASK))
		return false;
	if (p == last_plan)
		return (int)fn >= last_n || !last_blk || last_blk[fn] >= 0;
	pthread_mutex_lock(&cache_mu);
	struct cached *c = NULL;
	for (size_t i = 0; i < ncache && !c; i++)
		if (cache[i].plan == p)
			c = &cache[i];
	if (!c) {
		const bc_program *prog = cl_plan_program(p);
		struct cached *nc = realloc(cache, (ncache + 1) * sizeof *nc);
		if (!nc) {
			pthread_mutex_unlock(&cache_mu);
			return true; /* when in doubt, report */
		}
		cache = nc;
		c = &cache[ncache++];
		c->plan = p;
		c->blk = effects_rerun_blockers(prog);
		c->n = prog->nprotos;
	}
	bool r = (int)fn >= c->n || !c->blk || c->blk[fn] >= 0;
	last_plan = p;
	last_blk = c->blk;
	last_n = c->n;
	pthread_mutex_unlock(&cache_mu);
	return r;
}

/* ---- the reporter: group commit ---------------------------------------- */

struct waiter {
	uint64_t id;
	int state; /* 0 waiting, 1 may start, -1 must not */
	struct waiter *next;
};

struct st_reporter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct waiter *pending;
	int sending;
	st_send_fn send;
	void *arg;
};

st_reporter *st_reporter_new(st_send_fn send, void *arg)
{
	st_reporter *r = calloc(1, sizeof *r);
	if (!r)
		abort();
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->send = send;
	r->arg = arg;
	return r;
}

void st_reporter_free(st_reporter *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}

int st_report(st_reporter *r, uint64_t id)
{
	struct waiter me = {.id = id};
	pthread_mutex_lock(&r->mu);
	me.next = r->pending;
	r->pending = &me;
	while (me.state == 0) {
		if (r->sending) {
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		/* this thread sends what gathered, its own call among it */
		r->sending = 1;
		struct waiter *batch = r->pending;
		r->pending = NULL;
		pthread_mutex_unlock(&r->mu);
		size_t n = 0;
		for (struct waiter *w = batch; w; w = w->next)
			n++;
		uint64_t *ids = malloc(n * sizeof *ids);
		uint8_t *refused = calloc(n, 1);
		int rc = -1;
		if (ids && refused) {
			size_t k = 0;
			for (struct waiter *w = batch; w; w = w->next)
				ids[k++] = w->id;
			rc = r->send(r->arg, ids, n, refused);
		}
		pthread_mutex_lock(&r->mu);
		size_t k = 0;
		for (struct waiter *w = batch, *next; w; w = next, k++) {
			next = w->next; /* w may go once its state is set */
			w->state = rc == 0 && !refused[k] ? 1 : -1;
		}
		free(ids);
		free(refused);
		r->sending = 0;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return me.state > 0 ? 0 : -1;
}

void st_ids_put(const uint64_t *ids, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			out[8 * i + b] = (uint8_t)(ids[i] >> (8 * b));
}

uint64_t st_id_at(const uint8_t *blob, size_t i)
{
	uint64_t x = 0;
	for (int b = 0; b < 8; b++)
		x |= (uint64_t)blob[8 * i + b] << (8 * b);
	return x;
}
