/* batch_outbox.c - the receiving side of a hop (batch.h: bt_outbox):
 * the outcomes for each connection and the requests parked until there
 * are some. */
#include "batch_int.h"
#include "executor/mono_clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct waiter {
	wire_pending *p;
	int64_t until;
};

struct box {
	uint32_t pipe;
	bt_recs recs;
	struct waiter *w;
	size_t nw, capw;
};

struct bt_outbox {
	pthread_mutex_t mu;
	struct box **b;
	size_t n;
};

/* An answer to send once the lock is let go. */
struct answer {
	wire_pending *p;
	sbuf frame;
};

size_t bt_outbox_pending(bt_outbox *o)
{
	size_t n = 0;
	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < o->n; i++)
		n += o->b[i]->recs.n;
	pthread_mutex_unlock(&o->mu);
	return n + wire_pending_unsent(); /* answers still leaving count too */
}

bt_outbox *bt_outbox_new(void)
{
	bt_outbox *o = calloc(1, sizeof *o);
	if (!o)
		abort();
	pthread_mutex_init(&o->mu, NULL);
	return o;
}

static struct box *box_of(bt_outbox *o, uint32_t pipe)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->b[i]->pipe == pipe)
			return o->b[i];
	return NULL;
}

void bt_outbox_open(bt_outbox *o, uint32_t pipe)
{
	pthread_mutex_lock(&o->mu);
	if (!box_of(o, pipe)) {
		struct box *x = calloc(1, sizeof *x);
		if (!x)
			abort();
		x->pipe = pipe;
		bt_recs_init(&x->recs);
		o->b = xrealloc(o->b, (o->n + 1) * sizeof *o->b);
		o->b[o->n++] = x;
	}
	pthread_mutex_unlock(&o->mu);
}

/* A TASKS_DONE of what x holds (as much as fits), for waiter p. */
static void answer_from(struct box *x, wire_pending *p, struct answer *a)
{
	a->p = p;
	sbuf_init(&a->frame);
	size_t at = wire_frame_begin(&a->frame, WM_TASKS_DONE);
	size_t count_at = a->frame.len;
	wire_put_u32(&a->frame, 0);
	uint32_t n = x ? bt_recs_take(&x->recs, &a->frame) : 0;
	for (int i = 0; i < 4; i++)
		((uint8_t *)a->frame.data)[count_at + i] = (uint8_t)(n >> (8 * i));
	wire_frame_end(&a->frame, at);
}

static void send_answers(struct answer *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* queued, not waited for: the thread that found the outcomes
		 * (a task thread, a pump) goes on at once rather than sleeping
		 * until nng has written them */
		wire_pending_reply_async(a[i].p, a[i].frame.data, a[i].frame.len);
		sbuf_fini(&a[i].frame);
	}
}

/* Answers x's oldest waiters while it holds outcomes (under o->mu). */
static size_t serve_box(struct box *x, struct answer **a, size_t *na, size_t *cap)
{
	size_t k = 0;
	while (x->nw > k && x->recs.n > 0) {
		if (*na == *cap) {
			*cap = *cap ? 2 * *cap : 4;
			*a = xrealloc(*a, *cap * sizeof **a);
		}
		answer_from(x, x->w[k].p, &(*a)[(*na)++]);
		k++;
	}
	if (k) /* x->w may be NULL when nothing waits */
		memmove(x->w, x->w + k, (x->nw - k) * sizeof *x->w);
	x->nw -= k;
	return k;
}

void bt_outbox_put(bt_outbox *o, bt_recs *r)
{
	struct answer *a = NULL;
	size_t na = 0, cap = 0;
	pthread_mutex_lock(&o->mu);
	struct box *last = NULL;
	size_t off = 0;
	for (size_t i = 0; i < r->n; off += r->len[i], i++) {
		struct box *x = last && last->pipe == r->tag[i] ? last : box_of(o, r->tag[i]);
		if (!x)
			continue; /* its connection went: nobody to tell */
		bt_recs_add(&x->recs, (char *)r->data.data + off, r->len[i], r->tag[i]);
		last = x;
	}
	for (size_t i = 0; i < o->n; i++)
		if (o->b[i]->nw && o->b[i]->recs.n)
			serve_box(o->b[i], &a, &na, &cap);
	pthread_mutex_unlock(&o->mu);
	send_answers(a, na);
	free(a);
}

void bt_outbox_wait(bt_outbox *o, uint32_t pipe, wire_pending *p, uint32_t wait_ms)
{
	struct answer a;
	pthread_mutex_lock(&o->mu);
	struct box *x = box_of(o, pipe);
	if (x && x->recs.n == 0 && wait_ms > 0) {
		if (x->nw == x->capw) {
			x->capw = x->capw ? 2 * x->capw : 4;
			x->w = xrealloc(x->w, x->capw * sizeof *x->w);
		}
		x->w[x->nw++] = (struct waiter){p, mono_now_ms() + (wait_ms > BT_WAIT_MS * 10 ? BT_WAIT_MS * 10 : wait_ms)};
		pthread_mutex_unlock(&o->mu);
		return;
	}
	answer_from(x, p, &a);
	pthread_mutex_unlock(&o->mu);
	send_answers(&a, 1);
}

void bt_outbox_expire(bt_outbox *o)
{
	struct answer *a = NULL;
	size_t na = 0, cap = 0;
	int64_t now = mono_now_ms();
	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < o->n; i++) {
		struct box *x = o->b[i];
		size_t k = 0;
		for (size_t j = 0; j < x->nw; j++) {
			if (x->w[j].until > now) {
				x->w[k++] = x->w[j];
				continue;
			}
			if (na == cap) {
				cap = cap ? 2 * cap : 4;
				a = xrealloc(a, cap * sizeof *a);
			}
			answer_from(x, x->w[j].p, &a[na++]);
		}
		x->nw = k;
	}
	pthread_mutex_unlock(&o->mu);
	send_answers(a, na);
	free(a);
}

static void box_free(struct box *x, struct answer **a, size_t *na, size_t *cap)
{
	for (size_t j = 0; j < x->nw; j++) {
		if (*na == *cap) {
			*cap = *cap ? 2 * *cap : 4;
			*a = xrealloc(*a, *cap * sizeof **a);
		}
		answer_from(NULL, x->w[j].p, &(*a)[(*na)++]);
	}
	bt_recs_fini(&x->recs);
	free(x->w);
	free(x);
}

void bt_outbox_drop(bt_outbox *o, uint32_t pipe)
{
	struct answer *a = NULL;
	size_t na = 0, cap = 0;
	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < o->n; i++) {
		if (o->b[i]->pipe != pipe)
			continue;
		/* its waits are answered: that frees their contexts (the
		 * sends fail at once, the connection being gone) */
		box_free(o->b[i], &a, &na, &cap);
		o->b[i] = o->b[--o->n];
		break;
	}
	pthread_mutex_unlock(&o->mu);
	send_answers(a, na);
	free(a);
}

void bt_outbox_free(bt_outbox *o)
{
	if (!o)
		return;
	struct answer *a = NULL;
	size_t na = 0, cap = 0;
	for (size_t i = 0; i < o->n; i++)
		box_free(o->b[i], &a, &na, &cap);
	send_answers(a, na);
	free(a);
	free(o->b);
	pthread_mutex_destroy(&o->mu);
	free(o);
}
