/* batch.c - batches of task calls on a hop (batch.h). */
#include "batch.h"
#include "objects.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort(); /* as sbuf does: a daemon out of memory cannot go on */
	return q;
}

/* ---- map: open addressing, linear probing, backward-shift deletion ---- */

static size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

static void map_grow(bt_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	uint64_t *keys = calloc(cap, sizeof *keys);
	void **vals = calloc(cap, sizeof *vals);
	if (!keys || !vals)
		abort();
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = slot_of(m->keys[i], cap);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
}

void bt_map_put(bt_map *m, uint64_t key, void *val)
{
	if (2 * (m->n + 1) > m->cap)
		map_grow(m);
	size_t j = slot_of(key, m->cap);
	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & (m->cap - 1);
	if (!m->keys[j])
		m->n++;
	m->keys[j] = key;
	m->vals[j] = val;
}

void *bt_map_get(const bt_map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t j = slot_of(key, m->cap); m->keys[j]; j = (j + 1) & (m->cap - 1))
		if (m->keys[j] == key)
			return m->vals[j];
	return NULL;
}

void *bt_map_del(bt_map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1, j = slot_of(key, m->cap);
	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & mask;
	if (!m->keys[j])
		return NULL;
	void *val = m->vals[j];
	/* shift back the entries of the run that follows, so no probe breaks */
	size_t i = j;
	for (size_t k = (i + 1) & mask; m->keys[k]; k = (k + 1) & mask) {
		size_t home = slot_of(m->keys[k], m->cap);
		/* k may move to i if its home is not within (i, k] cyclically */
		if ((k > i && (home <= i || home > k)) || (k < i && home <= i && home > k)) {
			m->keys[i] = m->keys[k];
			m->vals[i] = m->vals[k];
			i = k;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->n--;
	return val;
}

void bt_map_free(bt_map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

/* ---- records ------------------------------------------------------------ */

void bt_recs_init(bt_recs *r)
{
	memset(r, 0, sizeof *r);
	sbuf_init(&r->data);
}

void bt_recs_add(bt_recs *r, const void *rec, size_t len, uint32_t tag)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		r->len = xrealloc(r->len, r->cap * sizeof *r->len);
		r->tag = xrealloc(r->tag, r->cap * sizeof *r->tag);
	}
	r->len[r->n] = (uint32_t)len;
	r->tag[r->n++] = tag;
	sbuf_add(&r->data, rec, len);
}

void bt_recs_fini(bt_recs *r)
{
	sbuf_fini(&r->data);
	free(r->len);
	free(r->tag);
	memset(r, 0, sizeof *r);
}

/* Moves the longest prefix of r that fits one message (count and bytes)
 * into frame (after what is there); returns how many records. */
static uint32_t recs_take(bt_recs *r, sbuf *frame)
{
	if (r->n == 0)
		return 0; /* its buffers may not exist yet (memmove of NULL) */
	size_t n = 0, bytes = 0;
	while (n < r->n && n < WIRE_MAX_LIST && (n == 0 || bytes + r->len[n] <= BT_MAX_RECORD)) {
		/* the first always goes (records are made to fit; never spin) */
		bytes += r->len[n];
		n++;
	}
	sbuf_add(frame, r->data.data, bytes);
	memmove(r->data.data, (char *)r->data.data + bytes, r->data.len - bytes);
	r->data.len -= bytes;
	memmove(r->len, r->len + n, (r->n - n) * sizeof *r->len);
	memmove(r->tag, r->tag + n, (r->n - n) * sizeof *r->tag);
	r->n -= n;
	return (uint32_t)n;
}

void bt_encode_done(struct wire_done *d, bt_recs *out, uint32_t tag)
{
	sbuf b;
	verr e;
	sbuf_init(&b);
	/* a large result stays here as an object; its consumer pulls it */
	value keep = d->result, ref = v_none();
	if (d->ok == WIRE_DONE_OK && obj_export(keep, &ref, &e) == 0)
		d->result = ref;
	if (wire_encode_done(d, &b, &e) != WIRE_OK || b.len > BT_MAX_RECORD) {
		char msg[400];
		if (b.len > BT_MAX_RECORD)
			snprintf(msg, sizeof msg, "the task's result cannot be sent to another node: "
			         "%zu bytes (at most %u in one message)", b.len, (unsigned)BT_MAX_RECORD);
		else
			snprintf(msg, sizeof msg, "the task's result cannot be sent to another node: %s", e.msg);
		struct wire_done f = *d;
		f.ok = WIRE_DONE_FAILED;
		f.result = v_none();
		f.error = msg;
		f.output = NULL; /* the prints may be what is too large */
		b.len = 0;
		if (wire_encode_done(&f, &b, &e) != WIRE_OK)
			abort(); /* strings within their limits always encode */
	}
	bt_recs_add(out, b.data, b.len, tag);
	sbuf_fini(&b);
	d->result = keep;
	val_rele(ref);
}

/* ---- outbox --------------------------------------------------------------- */

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
	return n;
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
	uint32_t n = x ? recs_take(&x->recs, &a->frame) : 0;
	for (int i = 0; i < 4; i++)
		((uint8_t *)a->frame.data)[count_at + i] = (uint8_t)(n >> (8 * i));
	wire_frame_end(&a->frame, at);
}

static void send_answers(struct answer *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		wire_pending_reply_raw(a[i].p, a[i].frame.data, a[i].frame.len);
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
		x->w[x->nw++] = (struct waiter){p, now_ms() + (wait_ms > BT_WAIT_MS * 10 ? BT_WAIT_MS * 10 : wait_ms)};
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
	int64_t now = now_ms();
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

/* ---- pump ----------------------------------------------------------------- */

struct bt_pump {
	bt_pump_ops ops;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bt_recs q;           /* calls not sent yet */
	size_t outstanding;  /* sent, no outcome yet */
	int waiting;         /* a long wait is in flight */
	int lost, stop;
	pthread_t *threads;
	int nthreads;
};

static void *pump_main(void *arg)
{
	bt_pump *p = arg;
	sbuf frame;
	sbuf_init(&frame);
	pthread_mutex_lock(&p->mu);
	while (!p->stop && !p->lost) {
		int send = p->q.n > 0;
		if (!send && !(p->outstanding > 0 && !p->waiting)) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		/* the one long wait; other requests only submit */
		int longw = !p->waiting;
		uint32_t wait_ms = longw ? BT_WAIT_MS : 0;
		frame.len = 0;
		size_t at = wire_frame_begin(&frame, send ? WM_RUN_TASKS : WM_WAIT_DONE);
		wire_put_u32(&frame, wait_ms);
		uint32_t n = 0;
		if (send) {
			size_t count_at = frame.len;
			wire_put_u32(&frame, 0);
			n = recs_take(&p->q, &frame);
			for (int i = 0; i < 4; i++)
				((uint8_t *)frame.data)[count_at + i] = (uint8_t)(n >> (8 * i));
		}
		wire_frame_end(&frame, at);
		p->outstanding += n;
		p->waiting |= longw;
		pthread_mutex_unlock(&p->mu);

		verr e;
		struct wire_msg rep = {0};
		int in_call = 0, rc = WIRE_EIO;
		wire_client *c = p->ops.link(p->arg, &e);
		if (c) {
			in_call = 1;
			rc = wire_client_call_raw(c, frame.data, frame.len, &rep,
			                          (int)wait_ms + BT_CALL_MS, &e);
			if (rc == WIRE_OK && rep.kind != WM_TASKS_DONE) {
				verr_set(&e, "it answered %s with %s", send ? "RUN_TASKS" : "WAIT_DONE",
				         wire_kind_name(rep.kind));
				wire_msg_free(&rep);
				rc = WIRE_EMALFORMED;
			}
		}
		if (rc != WIRE_OK) {
			pthread_mutex_lock(&p->mu);
			int first = !p->lost;
			p->lost = 1;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->mu);
			if (first)
				p->ops.lost(p->arg, e.msg, in_call);
			pthread_mutex_lock(&p->mu);
			break;
		}
		uint32_t got = rep.u.tasks_done.dones.n;
		if (got)
			p->ops.done(p->arg, rep.u.tasks_done.dones.v, got);
		/* the callee took the contents; the array is still ours */
		free(rep.u.tasks_done.dones.v);
		pthread_mutex_lock(&p->mu);
		p->outstanding -= got < p->outstanding ? got : p->outstanding;
		if (longw)
			p->waiting = 0;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	sbuf_fini(&frame);
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
	pthread_cond_init(&p->cv, NULL);
	bt_recs_init(&p->q);
	if (threads < 2)
		threads = 2;
	p->threads = calloc((size_t)threads, sizeof *p->threads);
	if (!p->threads)
		abort();
	for (int i = 0; i < threads; i++)
		if (pthread_create(&p->threads[p->nthreads], NULL, pump_main, p) == 0)
			p->nthreads++;
	if (p->nthreads == 0)
		p->lost = 1; /* no thread to send: every add fails */
	return p;
}

int bt_pump_add(bt_pump *p, const void *rec, size_t len)
{
	pthread_mutex_lock(&p->mu);
	int lost = p->lost || p->stop;
	if (!lost) {
		bt_recs_add(&p->q, rec, len, 0);
		if (p->q.n == 1)
			pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
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
	bt_recs_fini(&p->q);
	free(p->threads);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

/* ---- pool ------------------------------------------------------------------ */

struct job {
	uint32_t pipe;
	uint64_t t_add; /* when the call arrived (monotonic us): its outcome's times count from it */
	cl_plan *plan;
	struct wire_call c;
	struct job *next;
};

struct bt_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	int stop, running;
	pthread_cond_t idle;
	char *name;
	const flow_node_view *view;
	_Atomic uint32_t *busy;
	bt_pool_done_fn done;
	void *arg;
	pthread_t *threads;
	int nthreads;
	_Atomic uint32_t nix; /* thread numbers given (outcome's thread) */
};

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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
	if (p->busy)
		atomic_fetch_add(p->busy, 1);
	d.start_us = mono_us() - j->t_add;
	int failed = cl_task_run(j->plan, j->c.fn, j->c.args, j->c.seed, j->c.ident, p->view, &result,
	                         &error, &output);
	d.end_us = mono_us() - j->t_add;
	if (p->busy)
		atomic_fetch_sub(p->busy, 1);
	d.ok = failed ? WIRE_DONE_FAILED : WIRE_DONE_OK;
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

static void *pool_main(void *arg)
{
	bt_pool *p = arg;
	bt_recs r;
	bt_recs_init(&r);
	uint64_t first = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		/* nothing more queued, enough gathered, or held too long: the
		 * gathered outcomes go now (without the lock) */
		if (r.n > 0 && (!p->head || p->stop || r.n >= BT_POOL_GROUP ||
		                mono_us() - first >= BT_POOL_GROUP_US)) {
			pthread_mutex_unlock(&p->mu);
			p->done(p->arg, &r);
			bt_recs_fini(&r);
			bt_recs_init(&r);
			pthread_mutex_lock(&p->mu);
			if (--p->running == 0)
				pthread_cond_broadcast(&p->idle);
			continue;
		}
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		struct job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		if (r.n == 0)
			p->running++; /* until its group is handed on */
		pthread_mutex_unlock(&p->mu);
		if (r.n == 0)
			first = mono_us();
		run_job(p, j, &r);
		val_rele(j->c.args);
		free(j);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	bt_recs_fini(&r);
	return NULL;
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
	if (threads < 1)
		threads = 1;
	p->threads = calloc((size_t)threads, sizeof *p->threads);
	if (!p->threads)
		abort();
	for (int i = 0; i < threads; i++)
		if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) == 0)
			p->nthreads++;
	return p;
}

void bt_pool_add(bt_pool *p, uint32_t pipe, cl_plan *plan, struct wire_call *c)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->pipe = pipe;
	j->t_add = mono_us();
	j->plan = plan;
	j->c = *c;
	c->args = v_none();
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cv);
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
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	while (p->head) {
		struct job *j = p->head;
		p->head = j->next;
		val_rele(j->c.args);
		free(j);
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
