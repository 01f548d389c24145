/* starts.c - start reports (starts.h). */
#include "starts.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/effects.h"
#include "executor/mono_clock.h"
#include "lang/bytecode.h"
#include "actors.h" /* AC_ID_BIT */
#include "batch.h"
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

/* ---- the reporter: group commit and a window ahead ---------------------- */

/* Calls that end faster than a round trip to the head would each wait
 * for one: each STARTED also reports up to `ahead` calls that are next in
 * line (st_expect's order), which then start without a message. ahead
 * doubles (up to ST_AHEAD_MAX) while reports come back to back (calls
 * shorter than a round trip) and falls back to its least when they do
 * not: with calls longer than a round trip none counts as started
 * before it does; with shorter ones at most `ahead` queued calls do (on a
 * loss they fail with their node, as started ones). */
#define ST_AHEAD_MIN 0
#define ST_AHEAD_MAX 64
#define ST_KNOWN_MAX 4096 /* answers kept for calls not asked for yet (the
                           * oldest half goes when full: a call dropped
                           * unstarted leaves its own) */
#define AGE_CAP (2 * ST_KNOWN_MAX) /* the answers' ages, dead ones among them */

struct waiter {
	uint64_t id;
	int state; /* 0 waiting, 1 may start, -1 must not */
	struct waiter *next;
};

/* The answers in the order they came (a ring): the oldest go first. An
 * entry whose answer was taken stays until the ring is full (dead: its
 * id is not in the table, or with another seq). */
struct age {
	uint64_t id;
	uint32_t seq;
};

struct st_reporter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct waiter *pending;
	int sending;
	int twice;           /* FLOW_TEST_STARTS_TWICE: see send_report */
	st_send_fn send;
	void *arg;
	uint64_t *line;      /* calls expected to start, in order (a ring) */
	size_t lh, ln, lcap;
	bt_map known;        /* answers for calls reported ahead, by id (kept_val) */
	struct age *age;     /* their order, AGE_CAP */
	size_t ah, an;
	uint32_t seq;
	size_t ahead;
	uint64_t last_ns;    /* when the last answer came */
	uint64_t rtt_ns;     /* how long it took */
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
	r->ahead = ST_AHEAD_MIN;
	const char *t = getenv("FLOW_TEST_STARTS_TWICE");
	r->twice = t && *t && strcmp(t, "0") != 0;
	return r;
}

void st_reporter_free(st_reporter *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->line);
	bt_map_free(&r->known);
	free(r->age);
	free(r);
}

void st_expect(st_reporter *r, uint64_t id)
{
	pthread_mutex_lock(&r->mu);
	if (r->ln == r->lcap) {
		size_t nc = r->lcap ? 2 * r->lcap : 256;
		uint64_t *nl = malloc(nc * sizeof *nl);
		if (!nl)
			abort();
		for (size_t k = 0; k < r->ln; k++)
			nl[k] = r->line[(r->lh + k) % r->lcap];
		free(r->line);
		r->line = nl;
		r->lh = 0;
		r->lcap = nc;
	}
	r->line[(r->lh + r->ln++) % r->lcap] = id;
	pthread_mutex_unlock(&r->mu);
}

void st_forget(st_reporter *r)
{
	pthread_mutex_lock(&r->mu);
	r->ln = r->lh = 0;
	bt_map_free(&r->known);
	r->an = r->ah = 0;
	r->ahead = ST_AHEAD_MIN;
	pthread_mutex_unlock(&r->mu);
}

/* Takes id off the line (and what was before it: those were dropped, or
 * started by another thread first). Under mu. */
static void off_line(st_reporter *r, uint64_t id)
{
	for (size_t k = 0; k < r->ln; k++)
		if (r->line[(r->lh + k) % r->lcap] == id) {
			r->lh = (r->lh + k + 1) % r->lcap;
			r->ln -= k + 1;
			return;
		}
}

/* ---- the answers kept: by id (batch.h's bt_map), with their ages ---- */

/* An answer as the map keeps it: its seq (tells the entry of `age` that
 * is its own from one left by an answer taken) and ok; never NULL. */
static void *kept_val(uint32_t seq, int ok)
{
	return (void *)(uintptr_t)(((uint64_t)seq << 1) | (ok != 0));
}

static uint32_t kept_seq(void *v) { return (uint32_t)((uintptr_t)v >> 1); }

/* Whether the age entry a is its answer's own (the answer not taken).
 * Under mu (as all below). */
static bool age_live(st_reporter *r, const struct age *a)
{
	void *v = bt_map_get(&r->known, a->id);
	return v && kept_seq(v) == a->seq;
}

/* Keeps the answer for id, a call reported ahead; when ST_KNOWN_MAX are
 * kept, the oldest half goes first. */
static void keep(st_reporter *r, uint64_t id, int ok)
{
	if (!r->age && !(r->age = malloc(AGE_CAP * sizeof *r->age)))
		abort();
	bool had = bt_map_get(&r->known, id) != NULL;
	if (!had && r->known.n == ST_KNOWN_MAX) /* the oldest: calls dropped unstarted */
		for (size_t gone = 0; gone < ST_KNOWN_MAX / 2; r->ah = (r->ah + 1) % AGE_CAP, r->an--) {
			if (age_live(r, &r->age[r->ah]))
				bt_map_del(&r->known, r->age[r->ah].id), gone++;
		}
	if (r->an == AGE_CAP) { /* the dead ages go (at least ST_KNOWN_MAX of them) */
		size_t w = 0;
		for (size_t j = 0; j < r->an; j++) {
			struct age a = r->age[(r->ah + j) % AGE_CAP];
			if (age_live(r, &a))
				r->age[(r->ah + w++) % AGE_CAP] = a;
		}
		r->an = w;
	}
	bt_map_put(&r->known, id, kept_val(++r->seq, ok)); /* an earlier age of id is dead now */
	r->age[(r->ah + r->an++) % AGE_CAP] = (struct age){id, r->seq};
}

/* The answer kept for id, taken (1 may start, -1 must not), or 0. */
static int take_known(st_reporter *r, uint64_t id)
{
	void *v = bt_map_del(&r->known, id);
	if (!v)
		return 0;
	return (uintptr_t)v & 1 ? 1 : -1;
}

size_t st_kept(st_reporter *r)
{
	pthread_mutex_lock(&r->mu);
	size_t n = r->known.n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* ---- reporting ----------------------------------------------------------- */

/* Sends one STARTED. A test hook, FLOW_TEST_STARTS_TWICE=1, reports the
 * task calls of each again at once, as a report ahead racing with the
 * call's own would (a call refused by either answer is refused): the
 * head must accept a task call's start reported again by the node it is
 * out on (tests/cluster/survive.sh, case twice). Actor method calls are
 * never reported ahead, so not again. Not under mu. */
static int send_report(st_reporter *r, const uint64_t *ids, size_t n, uint8_t *refused)
{
	int rc = r->send(r->arg, ids, n, refused);
	if (rc != 0 || !r->twice)
		return rc;
	uint64_t *tasks = malloc((n ? n : 1) * sizeof *tasks);
	size_t *at = malloc((n ? n : 1) * sizeof *at);
	uint8_t *again = calloc(n ? n : 1, 1);
	if (!tasks || !at || !again)
		abort();
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!(ids[i] & AC_ID_BIT))
			at[m] = i, tasks[m++] = ids[i];
	if (m && (rc = r->send(r->arg, tasks, m, again)) == 0)
		for (size_t i = 0; i < m; i++)
			refused[at[i]] |= again[i];
	free(tasks);
	free(at);
	free(again);
	return rc;
}

int st_report(st_reporter *r, uint64_t id)
{
	struct waiter me = {.id = id};
	pthread_mutex_lock(&r->mu);
	off_line(r, id);
	int k = take_known(r, id);
	if (k) {
		pthread_mutex_unlock(&r->mu);
		return k > 0 ? 0 : -1;
	}
	me.next = r->pending;
	r->pending = &me;
	while (me.state == 0) {
		if (r->sending) {
			/* (taken ahead by the report in flight when this thread
			 * came, off the line already: that report answers it) */
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		/* this thread sends what gathered, its own call among it, and
		 * the calls next in line */
		r->sending = 1;
		struct waiter *batch = r->pending;
		r->pending = NULL;
		size_t n = 0;
		for (struct waiter *w = batch; w; w = w->next)
			n++;
		/* back to back (the last answer came less than a round trip
		 * ago): calls are short, look further ahead; else the least */
		uint64_t now = mono_now_ns();
		if (r->last_ns && now - r->last_ns < 2 * r->rtt_ns + 100000)
			r->ahead = r->ahead * 2 > ST_AHEAD_MAX ? ST_AHEAD_MAX : r->ahead ? r->ahead * 2 : 1;
		else
			r->ahead = ST_AHEAD_MIN;
		size_t na = r->ln < r->ahead ? r->ln : r->ahead;
		uint64_t *ids = malloc((n + na) * sizeof *ids);
		uint8_t *refused = calloc(n + na ? n + na : 1, 1);
		if (!ids || !refused)
			abort();
		size_t m = 0;
		for (struct waiter *w = batch; w; w = w->next)
			ids[m++] = w->id;
		for (size_t j = 0; j < na; j++)
			ids[m++] = r->line[(r->lh + j) % r->lcap];
		r->lh = r->lcap ? (r->lh + na) % r->lcap : 0;
		r->ln -= na;
		pthread_mutex_unlock(&r->mu);
		int rc = send_report(r, ids, n + na, refused);
		uint64_t end = mono_now_ns();
		pthread_mutex_lock(&r->mu);
		r->rtt_ns = end - now;
		r->last_ns = end;
		size_t j = 0;
		for (struct waiter *w = batch, *next; w; w = next, j++) {
			next = w->next; /* w may go once its state is set */
			w->state = rc == 0 && !refused[j] ? 1 : -1;
		}
		/* the answers for the calls ahead go to their threads that
		 * asked meanwhile (before another report takes them along,
		 * which would send them again and leave this answer kept),
		 * and wait for the others */
		for (; j < n + na; j++) {
			int ok = rc == 0 && !refused[j];
			struct waiter **pp = &r->pending;
			while (*pp && (*pp)->id != ids[j])
				pp = &(*pp)->next;
			if (*pp) {
				struct waiter *w = *pp;
				*pp = w->next;
				w->state = ok ? 1 : -1;
			} else {
				keep(r, ids[j], ok);
			}
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
