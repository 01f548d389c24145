/* spill.c - the link that carries a node's spilled nested calls to the
 * head (spill.h). */
#include "spill.h"

#include <pthread.h>
#include <stdlib.h>

#include "batch.h"

struct waiter {
	cl_spill_cb cb;
	void *arg;
};

struct cl_spill {
	wire_client *c;
	bt_pump *pump;
	pthread_mutex_t mu; /* guards calls, seq */
	bt_map calls;       /* struct waiter * by call id */
	uint64_t seq;
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
	bt_pump_stop(s->pump);
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
			if (bt_pump_add(s->pump, b.data, b.len) != 0) {
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
