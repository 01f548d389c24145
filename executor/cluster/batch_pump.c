/* batch_pump.c - the sending side of a hop (batch.h: bt_pump): calls go
 * out in the next RUN_TASKS while the previous one is in flight, and one
 * long wait brings their outcomes back.
 *
 * Requests are asynchronous (wire_acall), at most BT_PUMP_SLOTS in flight
 * (one long wait and one sender, as the two threads of before). When the
 * link is ready (bt_pump_ops.ready), the thread that adds a call sends it
 * itself, and with inline_done the reply is handed on on nng's thread
 * that received it, which also sends what queued meanwhile: a lone call
 * wakes no thread of the pump on its way out or back. Otherwise (a link
 * to make or plans to send, or outcomes whose handling may block) the
 * pump's threads do it. They also keep the deadlines and see lost
 * connections (nng's req would wait for a new one to re-send on): one of
 * them, the watcher, looks every BT_WATCH_MS while a request is out and
 * for a second after; a request handed to nng by another thread wakes a
 * pump thread only when none watches (a request on a connection that
 * closed would otherwise wait forever: a drained worker's). */
#include "batch_int.h"
#include "executor/mono_clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BT_PUMP_SLOTS 2
#define BT_WATCH_MS 100   /* the watcher looks at the requests out this often */
#define BT_WATCH_QUIET 10 /* and keeps watching this many turns after the last */

struct slot {
	bt_pump *p;
	wire_acall *a;
	sbuf frame;
	wire_client *c; /* the connection it was sent on */
	int64_t until;  /* its deadline (ms, monotonic) */
	int busy;       /* claimed: a request built, in flight or being handled */
	int deferred;   /* built, waiting for a pump thread to make the link */
	int linking;    /* a pump thread makes it */
	int kind;       /* RUN_TASKS or WAIT_DONE */
	int longw;      /* it is the long wait */
	int sent;       /* handed to nng (abortable) */
	int have_rep;   /* a reply for a pump thread to hand on */
	struct wire_msg rep;
};

struct bt_pump {
	bt_pump_ops ops;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* held from taking a request to handing it to nng: requests leave
	 * in the order they were built (an actor's calls keep their order) */
	pthread_mutex_t smu;
	bt_recs q;           /* calls not sent yet */
	size_t outstanding;  /* sent, no outcome yet */
	int waiting;         /* a long wait is in flight */
	int watching;        /* a pump thread watches the requests out */
	int lost, stop;
	int tell;            /* a failure for a pump thread to report (ops.lost) */
	int tell_in_call;
	struct slot *tell_slot;
	char why[512];
	struct slot s[BT_PUMP_SLOTS];
	pthread_t *threads;
	int nthreads;
};

/* Under mu: the first failure is kept for a pump thread to report; the
 * pump sends nothing more. */
static void fail_locked(bt_pump *p, struct slot *s, const char *why, int in_call)
{
	if (!p->lost) {
		p->lost = 1;
		p->tell = 1;
		p->tell_in_call = in_call;
		p->tell_slot = s;
		snprintf(p->why, sizeof p->why, "%s", why);
	}
	pthread_cond_broadcast(&p->cv);
}

/* Under mu: claims a free slot and builds its request, if one should go
 * now (calls queued, or outcomes owed and no long wait out). */
static struct slot *take_request(bt_pump *p)
{
	if (p->lost || p->stop)
		return NULL;
	int send = p->q.n > 0;
	if (!send && !(p->outstanding > 0 && !p->waiting))
		return NULL;
	struct slot *s = NULL;
	for (int i = 0; i < BT_PUMP_SLOTS && !s; i++)
		if (!p->s[i].busy)
			s = &p->s[i];
	if (!s)
		return NULL; /* both out: what is queued goes when one is back */
	for (int i = 0; i < BT_PUMP_SLOTS; i++)
		if (p->s[i].deferred)
			return NULL; /* it goes first, by a pump thread */
	/* the one long wait; other requests only submit */
	int longw = !p->waiting;
	uint32_t wait_ms = longw ? BT_WAIT_MS : 0;
	s->frame.len = 0;
	size_t at = wire_frame_begin(&s->frame, send ? WM_RUN_TASKS : WM_WAIT_DONE);
	wire_put_u32(&s->frame, wait_ms);
	uint32_t n = 0;
	if (send) {
		size_t count_at = s->frame.len;
		wire_put_u32(&s->frame, 0);
		n = bt_recs_take(&p->q, &s->frame);
		for (int i = 0; i < 4; i++)
			((uint8_t *)s->frame.data)[count_at + i] = (uint8_t)(n >> (8 * i));
	}
	wire_frame_end(&s->frame, at);
	p->outstanding += n;
	p->waiting |= longw;
	s->busy = 1;
	s->kind = send ? WM_RUN_TASKS : WM_WAIT_DONE;
	s->longw = longw;
	s->sent = 0;
	s->deferred = 0;
	s->until = mono_now_ms() + (int64_t)wait_ms + BT_CALL_MS;
	return s;
}

/* Hands s's request to nng on c (s claimed; smu held, mu not). */
static void start(bt_pump *p, struct slot *s, wire_client *c)
{
	verr e;
	pthread_mutex_lock(&p->mu);
	s->c = c;
	s->sent = 1;
	s->deferred = s->linking = 0;
	if (!p->watching) /* a pump thread watches it (its deadline, its connection) */
		pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (!s->a || wire_acall_start(s->a, c, s->frame.data, s->frame.len, &e) != WIRE_OK) {
		if (!s->a)
			verr_set(&e, "out of resources");
		pthread_mutex_lock(&p->mu);
		s->busy = s->sent = 0;
		fail_locked(p, NULL, e.msg, 1);
		pthread_mutex_unlock(&p->mu);
	}
}

/* Sends what should go now: on this thread when the link is ready, else
 * by a pump thread (mu not held). */
static void kick(bt_pump *p)
{
	pthread_mutex_lock(&p->smu);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		struct slot *s = take_request(p);
		pthread_mutex_unlock(&p->mu);
		if (!s)
			break;
		wire_client *c = p->ops.ready ? p->ops.ready(p->arg) : NULL;
		if (!c) {
			pthread_mutex_lock(&p->mu);
			s->deferred = 1;
			pthread_cond_signal(&p->cv);
			pthread_mutex_unlock(&p->mu);
			break;
		}
		start(p, s, c);
	}
	pthread_mutex_unlock(&p->smu);
}

/* s's reply: its outcomes handed on, s free again, and what queued
 * meanwhile sent (mu not held). */
static void deliver(bt_pump *p, struct slot *s, struct wire_msg *rep)
{
	uint32_t got = rep->u.tasks_done.dones.n;
	if (got)
		p->ops.done(p->arg, rep->u.tasks_done.dones.v, got);
	/* the callee took the contents; the array is still ours */
	free(rep->u.tasks_done.dones.v);
	pthread_mutex_lock(&p->mu);
	p->outstanding -= got < p->outstanding ? got : p->outstanding;
	if (s->longw)
		p->waiting = 0;
	s->busy = s->sent = 0;
	pthread_mutex_unlock(&p->mu);
	kick(p);
}

/* A request ended (nng's thread). */
static void on_reply(void *arg, int rc, struct wire_msg *rep, const char *why)
{
	struct slot *s = arg;
	bt_pump *p = s->p;
	char text[512];
	if (rc == WIRE_OK && rep->kind != WM_TASKS_DONE) {
		snprintf(text, sizeof text, "it answered %s with %s", wire_kind_name(s->kind),
		         wire_kind_name(rep->kind));
		wire_msg_free(rep);
		rc = WIRE_EMALFORMED;
		why = text;
	}
	if (rc != WIRE_OK) {
		pthread_mutex_lock(&p->mu);
		s->busy = s->sent = 0;
		fail_locked(p, s, why, 1);
		pthread_mutex_unlock(&p->mu);
		return;
	}
	/* an empty answer (a submission's) hands nothing on: never a wake */
	if (p->ops.inline_done || rep->u.tasks_done.dones.n == 0) {
		deliver(p, s, rep);
		return;
	}
	pthread_mutex_lock(&p->mu);
	s->rep = *rep;
	s->have_rep = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Under mu: this thread (*watcher) is about to do something that may
 * take a while: another pump thread watches the requests still out but
 * except (whose reply this one hands on). With none, it stays the
 * watcher (a request started meanwhile then wakes no thread: a
 * synchronous loop's outcome handed on costs no second wake). */
static void unwatch(bt_pump *p, int *watcher, const struct slot *except)
{
	if (!*watcher)
		return;
	for (int i = 0; i < BT_PUMP_SLOTS; i++)
		if (&p->s[i] != except && p->s[i].sent && !p->s[i].have_rep) {
			*watcher = p->watching = 0;
			pthread_cond_signal(&p->cv);
			return;
		}
}

static void *pump_main(void *arg)
{
	bt_pump *p = arg;
	int watcher = 0, quiet = 0; /* this thread watches; its turns with nothing out */
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		if (p->tell) {
			p->tell = 0;
			unwatch(p, &watcher, NULL);
			char why[512];
			snprintf(why, sizeof why, "%s", p->why);
			int in_call = p->tell_in_call;
			struct slot *s = p->tell_slot;
			pthread_mutex_unlock(&p->mu);
			if (s && s->a)
				wire_acall_settle(s->a);
			p->ops.lost(p->arg, why, in_call);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		struct slot *r = NULL, *d = NULL;
		int busy = 0;
		for (int i = 0; i < BT_PUMP_SLOTS; i++) {
			struct slot *s = &p->s[i];
			if (s->have_rep && !r)
				r = s;
			if (s->deferred && !d)
				d = s;
			busy |= s->sent;
		}
		if (r) {
			r->have_rep = 0;
			unwatch(p, &watcher, r);
			struct wire_msg rep = r->rep;
			pthread_mutex_unlock(&p->mu);
			deliver(p, r, &rep);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		if (d && !d->linking && !p->lost) {
			/* kept deferred meanwhile: nothing leaves before it */
			d->linking = 1;
			unwatch(p, &watcher, NULL);
			pthread_mutex_unlock(&p->mu);
			verr e;
			wire_client *c = p->ops.link(p->arg, &e);
			if (c) {
				pthread_mutex_lock(&p->smu);
				start(p, d, c);
				pthread_mutex_unlock(&p->smu);
				kick(p); /* what queued meanwhile */
			}
			pthread_mutex_lock(&p->mu);
			if (!c) {
				d->deferred = d->linking = d->busy = 0;
				fail_locked(p, NULL, e.msg, 0);
			}
			continue;
		}
		if (d && !d->linking) { /* lost meanwhile: it goes nowhere */
			d->deferred = d->busy = 0;
			continue;
		}
		/* one thread watches while requests are out, and a second after
		 * (a request started then needs no wake); the others sleep */
		if (busy && !watcher && !p->watching)
			watcher = p->watching = 1;
		if (busy)
			quiet = 0;
		else if (watcher && ++quiet > BT_WATCH_QUIET)
			watcher = p->watching = 0;
		if (!watcher) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		/* requests out: every BT_WATCH_MS, those past their deadline or
		 * on a lost connection are ended (their replies report it) */
		struct timespec dl;
		wire_deadline(&dl, BT_WATCH_MS);
		pthread_cond_timedwait(&p->cv, &p->mu, &dl);
		int64_t now = mono_now_ms();
		wire_acall *end[BT_PUMP_SLOTS];
		int late[BT_PUMP_SLOTS], nend = 0;
		for (int i = 0; i < BT_PUMP_SLOTS; i++) {
			struct slot *s = &p->s[i];
			if (!s->sent || s->have_rep)
				continue;
			int over = now > s->until;
			if (over || wire_client_lost(s->c)) {
				end[nend] = s->a;
				late[nend++] = over && !wire_client_lost(s->c);
			}
		}
		pthread_mutex_unlock(&p->mu);
		/* again at each turn: a receive chained after an abort is
		 * aborted too */
		for (int i = 0; i < nend; i++)
			wire_acall_abort(end[i], late[i]);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

bt_pump *bt_pump_start(const bt_pump_ops *ops, void *arg, int threads)
{
	bt_pump *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	p->ops = *ops;
	p->arg = arg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->smu, NULL);
	pthread_cond_init(&p->cv, NULL);
	bt_recs_init(&p->q);
	for (int i = 0; i < BT_PUMP_SLOTS; i++) {
		p->s[i].p = p;
		sbuf_init(&p->s[i].frame);
		p->s[i].a = wire_acall_new(on_reply, &p->s[i]); /* NULL: its requests fail */
	}
	p->nthreads = bt_threads_start(&p->threads, threads < 2 ? 2 : threads, pump_main, p);
	if (p->nthreads == 0)
		p->lost = 1; /* no thread to send: every add fails */
	return p;
}

int bt_pump_add(bt_pump *p, const void *rec, size_t len)
{
	pthread_mutex_lock(&p->mu);
	int lost = p->lost || p->stop;
	if (!lost)
		bt_recs_add(&p->q, rec, len, 0);
	pthread_mutex_unlock(&p->mu);
	if (!lost)
		kick(p); /* sent now if a slot is free, else with the next request */
	return lost ? -1 : 0;
}

void bt_pump_stop(bt_pump *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* requests still out end here (their replies find the pump stopped) */
	for (int i = 0; i < BT_PUMP_SLOTS; i++) {
		wire_acall_free(p->s[i].a);
		if (p->s[i].have_rep)
			wire_msg_free(&p->s[i].rep);
		sbuf_fini(&p->s[i].frame);
	}
	bt_recs_fini(&p->q);
	free(p->threads);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->smu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
