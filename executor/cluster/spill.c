/* spill.c - the link that carries a node's spilled nested calls to the
 * head (spill.h). */
#include "spill.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

struct waiter {
	cl_spill_cb cb;
	void *arg;
};

/* An outcome of a local link's call, waiting for a thread to hand it on. */
struct rec {
	struct rec *next;
	size_t len;
	uint8_t data[];
};

struct cl_spill {
	wire_client *c;
	bt_pump *pump;      /* a worker's link; NULL for a local one */
	pthread_mutex_t mu; /* guards calls, seq, the local queue */
	bt_map calls;       /* struct waiter * by call id */
	uint64_t seq;
	/* a local link (the head's own node): calls go to submit; outcomes
	 * come to cl_spill_deliver and are handed on by threads of its own */
	int (*submit)(void *arg, struct wire_call *c);
	void *sarg;
	struct rec *qh, *qt;
	pthread_cond_t cv;
	bool stopping;
	pthread_t th[2];
	int nth;
};

static pthread_mutex_t inst_mu = PTHREAD_MUTEX_INITIALIZER;
static cl_spill *installed;
static unsigned long nsent;

static wire_client *spill_link(void *arg, verr *e)
{
	(void)e;
	return ((cl_spill *)arg)->c;
}

static wire_client *spill_ready(void *arg) { return ((cl_spill *)arg)->c; }

static void spill_done(void *arg, struct wire_done *d, uint32_t n)
{
	cl_spill *s = arg;
	for (uint32_t i = 0; i < n; i++) {
		pthread_mutex_lock(&s->mu);
		struct waiter *w = bt_map_del(&s->calls, d[i].id);
		pthread_mutex_unlock(&s->mu);
		if (!w) {
			wire_done_free(&d[i]);
			continue;
		}
		w->cb(w->arg, &d[i]); /* d[i]'s contents are the callee's */
		free(w);
	}
}

/* Every call out is called back with NULL (and nothing more is sent). */
static void fail_all(cl_spill *s)
{
	for (;;) {
		struct waiter *w = NULL;
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < s->calls.cap && !w; i++)
			if (s->calls.keys[i] && s->calls.vals[i])
				w = bt_map_del(&s->calls, s->calls.keys[i]);
		pthread_mutex_unlock(&s->mu);
		if (!w)
			return;
		w->cb(w->arg, NULL);
		free(w);
	}
}

static void spill_lost(void *arg, const char *why, int in_call)
{
	(void)why;
	(void)in_call;
	fail_all(arg);
}

/* A local link's thread: hands each outcome on (decoded, as a pump
 * would: taking a large result may pull it from its holder). */
static void *deliver_main(void *arg)
{
	cl_spill *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->qh && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->qh)
			break;
		struct rec *q = s->qh;
		s->qh = q->next;
		if (!s->qh)
			s->qt = NULL;
		pthread_mutex_unlock(&s->mu);
		/* one record framed as a TASKS_DONE of one outcome */
		sbuf b;
		sbuf_init(&b);
		size_t at = wire_frame_begin(&b, WM_TASKS_DONE);
		wire_put_u32(&b, 1);
		sbuf_add(&b, q->data, q->len);
		wire_frame_end(&b, at);
		free(q);
		struct wire_msg m;
		verr e;
		if (wire_decode(b.data, b.len, &m, &e) == WIRE_OK) {
			if (m.kind == WM_TASKS_DONE && m.u.tasks_done.dones.n)
				spill_done(s, m.u.tasks_done.dones.v, m.u.tasks_done.dones.n);
			free(m.u.tasks_done.dones.v); /* the contents went with the outcomes */
		}
		sbuf_fini(&b);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Hands call c to the head's queue (its args held for it). */
static int local_submit(cl_spill *s, struct wire_call *c)
{
	struct wire_call cc = *c;
	cc.args = val_hold(c->args);
	int rc = s->submit(s->sarg, &cc);
	val_rele(cc.args); /* none when submit took it */
	return rc;
}

cl_spill *cl_spill_start_local(int (*submit)(void *arg, struct wire_call *c), void *arg)
{
	cl_spill *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->submit = submit;
	s->sarg = arg;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	val_threads_begin(); /* the threads touch values (value.h) */
	for (int i = 0; i < 2; i++)
		if (pthread_create(&s->th[s->nth], NULL, deliver_main, s) == 0)
			s->nth++;
	if (s->nth == 0) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	return s;
}

void cl_spill_deliver(cl_spill *s, const void *rec, size_t len)
{
	struct rec *q = malloc(sizeof *q + len);
	if (!q)
		return; /* its caller waits until the link stops (then runs it) */
	q->next = NULL;
	q->len = len;
	memcpy(q->data, rec, len);
	pthread_mutex_lock(&s->mu);
	if (s->qt)
		s->qt->next = q;
	else
		s->qh = q;
	s->qt = q;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

cl_spill *cl_spill_start(wire_client *head)
{
	cl_spill *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->c = head;
	pthread_mutex_init(&s->mu, NULL);
	/* outcomes are handed on by the pump's threads: taking a large result
	 * pulls it from its holder, which must not run on nng's thread */
	s->pump = bt_pump_start(&(bt_pump_ops){spill_link, spill_done, spill_lost, spill_ready, 0}, s, 2);
	return s;
}

void cl_spill_install(cl_spill *s)
{
	pthread_mutex_lock(&inst_mu);
	installed = s;
	pthread_mutex_unlock(&inst_mu);
}

void cl_spill_stop(cl_spill *s)
{
	if (!s)
		return;
	if (s->pump) {
		bt_pump_stop(s->pump);
	} else {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		for (int i = 0; i < s->nth; i++)
			pthread_join(s->th[i], NULL);
		for (struct rec *q = s->qh, *next; q; q = next) {
			next = q->next;
			free(q);
		}
		pthread_cond_destroy(&s->cv);
	}
	fail_all(s);
	bt_map_free(&s->calls);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int cl_spill_send(struct wire_call *c, size_t max_record, cl_spill_cb cb, void *arg)
{
	struct waiter *w = malloc(sizeof *w);
	if (!w)
		return -1;
	w->cb = cb;
	w->arg = arg;
	pthread_mutex_lock(&inst_mu); /* the link stays while a call is added */
	cl_spill *s = installed;
	int rc = -1;
	if (s) {
		pthread_mutex_lock(&s->mu);
		c->id = ++s->seq;
		pthread_mutex_unlock(&s->mu);
		sbuf b;
		sbuf_init(&b);
		verr e;
		if (wire_encode_call(c, &b, &e) == WIRE_OK && b.len <= max_record && b.len <= BT_MAX_RECORD) {
			pthread_mutex_lock(&s->mu);
			bt_map_put(&s->calls, c->id, w);
			pthread_mutex_unlock(&s->mu);
			rc = 0;
			if (s->pump ? bt_pump_add(s->pump, b.data, b.len) != 0 : local_submit(s, c) != 0) {
				/* lost: unless lost's call back took it already, it is ours */
				pthread_mutex_lock(&s->mu);
				rc = bt_map_del(&s->calls, c->id) ? -1 : 0;
				pthread_mutex_unlock(&s->mu);
			} else {
				__atomic_add_fetch(&nsent, 1, __ATOMIC_RELAXED);
			}
		}
		sbuf_fini(&b);
	}
	pthread_mutex_unlock(&inst_mu);
	if (rc != 0)
		free(w);
	return rc;
}

unsigned long cl_spill_count(void) { return __atomic_load_n(&nsent, __ATOMIC_RELAXED); }
