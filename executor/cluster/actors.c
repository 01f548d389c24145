/* actors.c - actors on the cluster (actors.h): a node's hosted actors,
 * the head's directory, and the callers' side. */
#include "actors.h"
#include "lang/value.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "client.h"

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		abort(); /* as sbuf does: a daemon out of memory cannot go on */
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		abort();
	return p;
}

/* ==== a node hosts actors ================================================ */

struct mail {
	uint32_t pipe;
	struct wire_call c; /* its args owned */
	struct mail *next;
};

struct hosted {
	uint64_t id;
	ac_host *host;
	cl_plan *plan;
	value fields;       /* self: the instance's fields */
	struct mail *qh, *qt; /* its mailbox (host->mu) */
	int freed;          /* FREE arrived: ends once its mailbox is empty */
	pthread_cond_t cv;
	pthread_t th;
	struct hosted *next;
};

struct ac_host {
	pthread_mutex_t mu;
	pthread_cond_t idle;
	char *name;
	const flow_node_view *view;
	ac_done_fn done;
	void *arg;
	struct hosted *all;
	ac_start_fn on_start; /* a start to report first (starts.h), or NULL */
	void *start_arg;
	int threads;        /* actor threads alive */
	int stop;
};

static void answer(ac_host *a, uint32_t pipe, uint64_t id, int ok, value result, const char *error,
                   const char *output)
{
	struct wire_done d = {.id = id, .ok = (uint8_t)ok, .result = result, .error = (char *)error,
	                      .node = a->name, .output = (char *)output};
	a->done(a->arg, pipe, &d);
}

/* Runs one call of actor x (on its thread, no lock held). */
static void run_mail(struct hosted *x, struct mail *m)
{
	ac_host *a = x->host;
	uint32_t fn = m->c.fn & ~WIRE_FN_ACTOR_MASK;
	int init = (m->c.fn & WIRE_FN_ACTOR_NEW) != 0;
	/* args: [actor id, the call's own...] */
	size_t n = list_len(m->c.args);
	value args = list_new(n ? n - 1 : 0);
	for (size_t k = 1; k < n; k++)
		list_append(args, list_get(m->c.args, k));
	value res;
	char *err = NULL, *out = NULL;
	const char *why = NULL;
	if ((m->c.fn & WIRE_FN_ACTOR_CALL) && a->on_start &&
	    a->on_start(a->start_arg, m->pipe, &m->c, &why) != 0) {
		/* the head did not accept its start: not run here */
		val_rele(args);
		answer(a, m->pipe, m->c.id, WIRE_DONE_NOTRUN, v_none(),
		       why ? why : "its start was not accepted", NULL);
		return;
	}
	int failed = cl_actor_run(x->plan, init, fn, x->fields, args, m->c.seed, m->c.ident, a->view,
	                          &res, &err, &out);
	val_rele(args);
	if (init && !failed) {
		val_rele(res);
		res = v_none();
	}
	answer(a, m->pipe, m->c.id, failed ? WIRE_DONE_FAILED : WIRE_DONE_OK, res, err, out);
	val_rele(res);
	free(err);
	free(out);
}

static void *actor_main(void *arg)
{
	struct hosted *x = arg;
	ac_host *a = x->host;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!x->qh && !x->freed && !a->stop)
			pthread_cond_wait(&x->cv, &a->mu);
		if (!x->qh || a->stop)
			break; /* freed, or the node stops: no new call starts */
		struct mail *m = x->qh;
		x->qh = m->next;
		if (!x->qh)
			x->qt = NULL;
		pthread_mutex_unlock(&a->mu);
		run_mail(x, m);
		val_rele(m->c.args);
		free(m);
		pthread_mutex_lock(&a->mu);
		if (a->stop)
			break;
	}
	/* off the list; its memory goes with it */
	for (struct hosted **at = &a->all; *at; at = &(*at)->next)
		if (*at == x) {
			*at = x->next;
			break;
		}
	while (x->qh) {
		struct mail *m = x->qh;
		x->qh = m->next;
		val_rele(m->c.args);
		free(m);
	}
	if (--a->threads == 0)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
	val_rele(x->fields);
	pthread_cond_destroy(&x->cv);
	free(x);
	return NULL;
}

ac_host *ac_host_new(const char *name, const flow_node_view *view, ac_done_fn done, void *arg)
{
	ac_host *a = xcalloc(1, sizeof *a);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->idle, NULL);
	a->name = xstrdup(name);
	a->view = view;
	a->done = done;
	a->arg = arg;
	return a;
}

static struct hosted *find_hosted(ac_host *a, uint64_t id)
{
	for (struct hosted *x = a->all; x; x = x->next)
		if (x->id == id && !x->freed)
			return x;
	return NULL;
}

void ac_host_add(ac_host *a, uint32_t pipe, cl_plan *plan, struct wire_call *c)
{
	uint64_t id = 0;
	if (c->args.t == V_LIST && list_len(c->args) >= 1 && list_get(c->args, 0).t == V_INT)
		id = (uint64_t)list_get(c->args, 0).as.i;
	char why[200] = "";
	pthread_mutex_lock(&a->mu);
	struct hosted *x = id ? find_hosted(a, id) : NULL;
	if (!id) {
		snprintf(why, sizeof why, "malformed actor call");
	} else if (c->fn & WIRE_FN_ACTOR_NEW) {
		if (!x) {
			x = xcalloc(1, sizeof *x);
			x->id = id;
			x->host = a;
			x->plan = plan;
			x->fields = dict_new(8);
			pthread_cond_init(&x->cv, NULL);
			pthread_attr_t at;
			pthread_attr_init(&at);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			val_threads_begin(); /* the new thread touches values (value.h) */
			if (a->stop || pthread_create(&x->th, &at, actor_main, x) != 0) {
				val_rele(x->fields);
				pthread_cond_destroy(&x->cv);
				free(x);
				x = NULL;
				snprintf(why, sizeof why, "%s cannot start a thread for the actor", a->name);
			} else {
				a->threads++;
				x->next = a->all;
				a->all = x;
			}
			pthread_attr_destroy(&at);
		}
	} else if (!x) {
		snprintf(why, sizeof why, "actor %llu is not on %s", (unsigned long long)id, a->name);
	}
	if (x && (c->fn & WIRE_FN_ACTOR_FREE)) {
		x->freed = 1; /* the calls before it still run */
		pthread_cond_signal(&x->cv);
		pthread_mutex_unlock(&a->mu);
		answer(a, pipe, c->id, WIRE_DONE_OK, v_none(), NULL, NULL);
		return;
	}
	if (x) {
		struct mail *m = xcalloc(1, sizeof *m);
		m->pipe = pipe;
		m->c = *c;
		m->c.args = c->args; /* taken over */
		c->args = v_none();
		if (x->qt)
			x->qt->next = m;
		else
			x->qh = m;
		x->qt = m;
		pthread_cond_signal(&x->cv);
	}
	pthread_mutex_unlock(&a->mu);
	if (!x && why[0])
		answer(a, pipe, c->id, WIRE_DONE_NOTRUN, v_none(), why, NULL);
}

void ac_host_on_start(ac_host *a, ac_start_fn fn, void *arg)
{
	pthread_mutex_lock(&a->mu);
	a->on_start = fn;
	a->start_arg = arg;
	pthread_mutex_unlock(&a->mu);
}

size_t ac_host_count(ac_host *a)
{
	size_t n = 0;
	if (!a)
		return 0;
	pthread_mutex_lock(&a->mu);
	for (struct hosted *x = a->all; x; x = x->next)
		n += !x->freed;
	pthread_mutex_unlock(&a->mu);
	return n;
}

int ac_host_stop(ac_host *a, int wait_ms)
{
	if (!a)
		return 0;
	struct timespec dl;
	wire_deadline(&dl, wait_ms);
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	for (struct hosted *x = a->all; x; x = x->next)
		pthread_cond_signal(&x->cv);
	while (a->threads > 0 && pthread_cond_timedwait(&a->idle, &a->mu, &dl) == 0)
		;
	int busy = a->threads;
	pthread_mutex_unlock(&a->mu);
	if (busy)
		return -1; /* a method still runs: left to the exit */
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->idle);
	free(a->name);
	free(a);
	return 0;
}

/* ==== the head's directory =============================================== */

enum { A_STARTING, A_READY, A_BROKEN, A_DEAD };

struct actor;
struct acall {
	uint64_t key;          /* AC_ID_BIT | seq: its id on the links */
	struct actor *a;
	int start;             /* a start of the actor (init), else a method call */
	uint64_t cid;          /* the caller's id for it */
	struct wire_call c;    /* fn flagged, args [id, ...] (owned) */
	ac_reply_fn reply;     /* NULL: a restart nobody waits for */
	void *rarg;
	uint64_t node;         /* where it was sent (0: not yet) */
	int started;           /* its node reported its start (STARTED) */
	struct acall *next;    /* the actor's queue while it starts */
};

struct actor {
	uint64_t id;
	char name[128];
	uint32_t restarts, left; /* @restarts(n), and how many remain */
	uint32_t owner;          /* the pipe of the run that made it (0: a task) */
	uint64_t node;
	char node_name[400];
	int state;               /* A_* */
	char *error;             /* broken or dead: why */
	struct wire_call init;   /* its start, kept for restarts (args owned) */
	struct acall *qh, *qt;   /* calls waiting for it to start */
	const bc_attrs *needs;   /* what it holds on its node (NULL: nothing) */
	uint64_t held;           /* the node its needs are held on (0: none) */
	uint64_t avoid;          /* the node it must not start on (lost) */
	struct acall *pend;      /* its start, waiting for a node with room */
	int orphan;              /* its client went away while it started */
	struct actor *next;
};

struct ac_dir {
	pthread_mutex_t mu;      /* recursive (ac_dir_new) */
	ac_dir_ops ops;
	void *arg;
	bt_map calls;            /* acalls sent to nodes, by key */
	struct actor *all;
	uint64_t seq, next_id;
};

/* A reply to make once the lock is let go. */
struct reply {
	ac_reply_fn fn;
	void *rarg;
	struct wire_done d;      /* its strings and result owned */
};
struct replies {
	struct reply *v;
	size_t n, cap;
};

static void add_reply(struct replies *r, struct acall *c, int ok, value result, const char *error,
                      const char *node, const char *output)
{
	if (!c->reply)
		return;
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 8;
		r->v = realloc(r->v, r->cap * sizeof *r->v);
		if (!r->v)
			abort();
	}
	struct reply *x = &r->v[r->n++];
	x->fn = c->reply;
	x->rarg = c->rarg;
	x->d = (struct wire_done){.id = c->cid, .ok = (uint8_t)ok, .result = val_hold(result),
	                          .error = xstrdup(error), .node = xstrdup(node),
	                          .output = xstrdup(output)};
	c->reply = NULL; /* answered once */
}

static void send_replies(struct replies *r)
{
	for (size_t i = 0; i < r->n; i++) {
		r->v[i].fn(r->v[i].rarg, &r->v[i].d);
		wire_done_free(&r->v[i].d);
	}
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

static void free_acall(struct acall *c)
{
	val_rele(c->c.args);
	free(c);
}

ac_dir *ac_dir_new(const ac_dir_ops *ops, void *arg)
{
	ac_dir *d = xcalloc(1, sizeof *d);
	/* recursive: a node here (the head's own) may answer a call while
	 * it is being sent, under the lock */
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&d->mu, &at);
	pthread_mutexattr_destroy(&at);
	d->ops = *ops;
	d->arg = arg;
	return d;
}

static struct actor *find_actor(ac_dir *d, uint64_t id)
{
	for (struct actor *a = d->all; a; a = a->next)
		if (a->id == id)
			return a;
	return NULL;
}

/* A node for actor x: the live one (not x->avoid) with the most CPUs not
 * taken by actors where x's needs fit and are free (they are then held
 * there). 1 placed; 0 its needs fit some node but are free on none now;
 * -1 none can hold it (why says what each offers, "" if no live node
 * offers CPUs). */
static int place(ac_dir *d, struct actor *x, ac_node *out, char *why, size_t wn)
{
	ac_node ns[64];
	size_t n = d->ops.nodes(d->arg, ns, 64);
	bool tried[64] = {0};
	int later = 0;
	size_t len = 0;
	why[0] = 0;
	for (;;) {
		int64_t best = INT64_MIN;
		size_t bi = n;
		for (size_t i = 0; i < n; i++) {
			if (ns[i].id == x->avoid || tried[i])
				continue;
			int64_t taken = 0;
			for (struct actor *a = d->all; a; a = a->next)
				if (a->node == ns[i].id && (a->state == A_READY || a->state == A_STARTING))
					taken++;
			int64_t score = (int64_t)ns[i].cpus - taken;
			if (score > best) {
				best = score;
				bi = i;
			}
		}
		if (bi == n)
			return later ? 0 : -1;
		tried[bi] = true;
		if (!x->needs || !d->ops.hold) {
			*out = ns[bi];
			return 1;
		}
		char w[512] = "";
		int rc = d->ops.hold(d->arg, ns[bi].id, x->needs, 1, w, sizeof w);
		if (rc == 1) {
			x->held = ns[bi].id;
			*out = ns[bi];
			return 1;
		}
		if (rc == 0) {
			later = 1;
			continue;
		}
		/* "node 2 (host2 at ...): 2 of resource 'gpu' ... but this node offers 1" */
		int k = snprintf(why + len, wn - len, "%s%s: %s", len ? "; " : "", ns[bi].name, w);
		if (k > 0 && (size_t)k < wn - len)
			len += (size_t)k;
	}
}

/* Gives back what x holds on its node. */
static void release(ac_dir *d, struct actor *x)
{
	if (!x->held)
		return;
	char w[8];
	d->ops.hold(d->arg, x->held, x->needs, -1, w, sizeof w);
	x->held = 0;
}

static void node_lost_locked(ac_dir *d, uint64_t node, const char *why, struct replies *r);
static void drop_actor(ac_dir *d, struct actor *a, struct replies *r);
static void fail_queue(struct actor *a, int ok, const char *why, struct replies *r);

/* Sends c to its actor's node (under d->mu); a node that cannot be
 * reached is lost: c waits in the queue for the actor's next start. */
static void send_call(ac_dir *d, struct acall *c, struct replies *r)
{
	struct actor *a = c->a;
	c->node = a->node;
	bt_map_put(&d->calls, c->key, c);
	if (d->ops.send(d->arg, a->node, &c->c) == 0)
		return;
	bt_map_del(&d->calls, c->key);
	c->node = 0;
	if (c->start) {
		free_acall(c); /* the next start is made from a->init */
	} else {
		c->next = a->qh; /* first: it had not started */
		a->qh = c;
		if (!a->qt)
			a->qt = c;
	}
	char why[600];
	snprintf(why, sizeof why, "%s was lost (it could not be reached)", a->node_name);
	node_lost_locked(d, a->node, why, r);
}

static struct acall *new_acall(ac_dir *d, struct actor *a, int start)
{
	struct acall *c = xcalloc(1, sizeof *c);
	c->key = AC_ID_BIT | ++d->seq;
	c->a = a;
	c->start = start;
	return c;
}

/* Sends a's pending start to a node that has room for it; with none
 * now it keeps waiting (ac_dir_tick tries again); with none that could
 * ever hold it, a dies saying why. Under d->mu. */
static void try_place(ac_dir *d, struct actor *a, struct replies *r)
{
	ac_node n;
	char why[1500];
	struct acall *c = a->pend;
	int got = place(d, a, &n, why, sizeof why);
	if (got == 0)
		return;
	a->pend = NULL;
	if (got < 0) {
		a->state = A_DEAD;
		free(a->error);
		int k = why[0]
		        ? asprintf(&a->error, "actor '%s' (actor %llu) cannot be placed: no live node of "
		                   "this cluster can hold what it needs (@cpus %g, @memory %lld bytes, "
		                   "@resources): %s", a->name, (unsigned long long)a->id, a->needs->cpus,
		                   (long long)a->needs->memory, why)
		        : asprintf(&a->error, "actor '%s' (actor %llu) died: no live node offers CPUs "
		                   "to run it", a->name, (unsigned long long)a->id);
		if (k < 0)
			a->error = NULL;
		wire_log("%s", a->error ? a->error : "an actor cannot be placed");
		add_reply(r, c, WIRE_DONE_LOST, v_none(), a->error, "", "");
		free_acall(c);
		fail_queue(a, WIRE_DONE_LOST, a->error, r);
		return;
	}
	a->node = n.id;
	snprintf(a->node_name, sizeof a->node_name, "%s", n.name);
	send_call(d, c, r);
}

/* Starts actor a on a live node (not `avoid`) where its needs are free:
 * its init runs there. The creator's reply (or NULL) rides on the start.
 * Under d->mu. */
static void start_actor(ac_dir *d, struct actor *a, uint64_t avoid, ac_reply_fn reply, void *rarg,
                        uint64_t cid, struct replies *r)
{
	struct acall *c = new_acall(d, a, 1);
	c->reply = reply;
	c->rarg = rarg;
	c->cid = cid;
	c->c = a->init;
	c->c.id = c->key;
	c->c.args = val_hold(a->init.args);
	release(d, a); /* a restart: what it held on its lost node */
	a->state = A_STARTING;
	a->node = 0;
	a->avoid = avoid;
	a->pend = c;
	try_place(d, a, r);
	if (a->pend)
		wire_log("actor '%s' (actor %llu) waits for a node with its needs free", a->name,
		         (unsigned long long)a->id);
}

/* Actors waiting for room try again, oldest first. Under d->mu. */
static void retry_pending(ac_dir *d, struct replies *r)
{
	for (struct actor *a = d->all; a; a = a->next)
		if (a->pend)
			try_place(d, a, r);
}

/* The calls waiting for a's start fail (ok, why). */
static void fail_queue(struct actor *a, int ok, const char *why, struct replies *r)
{
	while (a->qh) {
		struct acall *c = a->qh;
		a->qh = c->next;
		add_reply(r, c, ok, v_none(), why, a->node_name, "");
		free_acall(c);
	}
	a->qt = NULL;
}

static void flush_queue(ac_dir *d, struct actor *a, struct replies *r)
{
	while (a->qh && a->state == A_READY) {
		struct acall *c = a->qh;
		a->qh = c->next;
		if (!a->qh)
			a->qt = NULL;
		c->next = NULL;
		send_call(d, c, r);
	}
}

/* [id, items of l...] */
static value with_id(uint64_t id, value l)
{
	size_t n = l.t == V_LIST ? list_len(l) : 0;
	value x = list_new(n + 1);
	list_append_take(x, v_int((int64_t)id));
	for (size_t k = 0; k < n; k++)
		list_append(x, list_get(l, k));
	return x;
}

void ac_dir_request(ac_dir *d, uint32_t pipe, const struct wire_actor_call *m, ac_reply_fn reply,
                    void *rarg)
{
	struct replies r = {0};
	struct acall tmp = {.reply = reply, .rarg = rarg};
	if (m->calls.n != 1) {
		tmp.cid = m->calls.n ? m->calls.v[0].id : 0;
		add_reply(&r, &tmp, WIRE_DONE_NOTRUN, v_none(), "ACTOR_CALL carries exactly one call", "", "");
		send_replies(&r);
		return;
	}
	const struct wire_call *in = &m->calls.v[0];
	tmp.cid = in->id;
	pthread_mutex_lock(&d->mu);
	if (m->op == WIRE_ACTOR_NEW) {
		struct actor *a = xcalloc(1, sizeof *a);
		a->id = ++d->next_id;
		snprintf(a->name, sizeof a->name, "%s", m->name ? m->name : "?");
		a->restarts = a->left = m->restarts;
		a->owner = in->job ? pipe : 0;
		a->init = *in;
		a->init.fn = WIRE_FN_ACTOR_NEW | (in->fn & ~WIRE_FN_ACTOR_MASK);
		a->init.args = with_id(a->id, in->args);
		a->needs = d->ops.needs ? d->ops.needs(d->arg, &a->init) : NULL;
		a->next = d->all;
		d->all = a;
		start_actor(d, a, 0, reply, rarg, in->id, &r);
	} else {
		struct actor *a = m->op == WIRE_ACTOR_CALL ? find_actor(d, m->actor) : NULL;
		if (!a) {
			char why[200];
			snprintf(why, sizeof why, "no actor %llu on this cluster (its job ended?)",
			         (unsigned long long)m->actor);
			add_reply(&r, &tmp, WIRE_DONE_NOTRUN, v_none(), why, "", "");
		} else if (a->state == A_BROKEN || a->state == A_DEAD) {
			add_reply(&r, &tmp, a->state == A_DEAD ? WIRE_DONE_LOST : WIRE_DONE_FAILED, v_none(),
			          a->error, a->node_name, "");
		} else {
			struct acall *c = new_acall(d, a, 0);
			c->reply = reply;
			c->rarg = rarg;
			c->cid = in->id;
			c->c = *in;
			c->c.id = c->key;
			c->c.fn = WIRE_FN_ACTOR_CALL | (in->fn & ~WIRE_FN_ACTOR_MASK);
			c->c.args = with_id(a->id, in->args);
			if (a->state == A_READY) {
				send_call(d, c, &r);
			} else { /* starting: it waits, in order */
				if (a->qt)
					a->qt->next = c;
				else
					a->qh = c;
				a->qt = c;
			}
		}
	}
	pthread_mutex_unlock(&d->mu);
	send_replies(&r);
}

void ac_dir_done(ac_dir *d, const struct wire_done *o)
{
	struct replies r = {0};
	pthread_mutex_lock(&d->mu);
	struct acall *c = bt_map_del(&d->calls, o->id);
	if (!c) {
		pthread_mutex_unlock(&d->mu);
		return; /* a FREE's answer, or a call already failed with its node */
	}
	struct actor *a = c->a;
	if (!c->start) {
		add_reply(&r, c, o->ok, o->result, o->error, o->node, o->output);
	} else if (a->state == A_STARTING && c->node == a->node) {
		if (o->ok == WIRE_DONE_OK) {
			a->state = A_READY;
			if (a->restarts != a->left)
				wire_log("actor '%s' (actor %llu) started again on %s (restart %u of %u)", a->name,
				         (unsigned long long)a->id, a->node_name, a->restarts - a->left, a->restarts);
		} else {
			a->state = A_BROKEN;
			release(d, a); /* it runs nothing more */
			free(a->error);
			if (asprintf(&a->error, "actor '%s' is broken: %s", a->name,
			             o->error && o->error[0] ? o->error : "its init failed") < 0)
				a->error = NULL;
		}
		/* the creator learns the id either way: a broken actor's
		 * calls fail naming why */
		add_reply(&r, c, o->ok == WIRE_DONE_OK ? WIRE_DONE_OK : WIRE_DONE_FAILED,
		          v_int((int64_t)a->id), o->error, o->node, o->output);
		if (a->state == A_READY)
			flush_queue(d, a, &r);
		else
			fail_queue(a, WIRE_DONE_FAILED, a->error, &r);
		if (a->orphan) /* its client went away meanwhile: it goes now */
			drop_actor(d, a, &r);
		retry_pending(d, &r);
	}
	free_acall(c);
	pthread_mutex_unlock(&d->mu);
	send_replies(&r);
}

static void node_lost_locked(ac_dir *d, uint64_t node, const char *why, struct replies *r)
{
	for (struct actor *a = d->all; a; a = a->next) {
		if (a->node != node || (a->state != A_READY && a->state != A_STARTING))
			continue;
		/* what was sent there: method calls fail (they may have
		 * started); a start in flight is made again below */
		ac_reply_fn creator = NULL;
		void *crarg = NULL;
		uint64_t ccid = 0;
		char text[1200];
		snprintf(text, sizeof text, "actor '%s' (actor %llu) died: %s", a->name,
		         (unsigned long long)a->id, why);
		/* method calls that had not started wait for the restart (they
		 * did not run: their node would have told the head first) */
		struct acall **keep = NULL;
		size_t nkeep = 0;
		for (size_t i = 0; i < d->calls.cap; i++) {
			struct acall *c = d->calls.vals[i];
			if (!d->calls.keys[i] || !c || c->a != a || c->node != node)
				continue;
			if (!c->start && !c->started && a->left > 0) {
				keep = realloc(keep, (nkeep + 1) * sizeof *keep);
				if (!keep)
					abort();
				keep[nkeep++] = c;
				continue;
			}
			if (c->start) {
				creator = c->reply;
				crarg = c->rarg;
				ccid = c->cid;
				c->reply = NULL;
			} else {
				add_reply(r, c, WIRE_DONE_LOST, v_none(), text, a->node_name, "");
			}
			c->node = 0; /* marked: deleted below */
		}
		for (int again = 1; again;) {
			again = 0;
			for (size_t i = 0; i < d->calls.cap; i++) {
				struct acall *c = d->calls.vals[i];
				if (d->calls.keys[i] && c && c->a == a && c->node == 0) {
					bt_map_del(&d->calls, c->key);
					free_acall(c);
					again = 1;
					break; /* a deletion moves entries */
				}
			}
		}
		for (size_t k = 0; k < nkeep; k++)
			bt_map_del(&d->calls, keep[k]->key);
		/* in the order they were sent (keys grow), before those that
		 * waited at the head */
		for (size_t k = 1; k < nkeep; k++)
			for (size_t j = k; j > 0 && keep[j - 1]->key > keep[j]->key; j--) {
				struct acall *t = keep[j];
				keep[j] = keep[j - 1];
				keep[j - 1] = t;
			}
		for (size_t k = nkeep; k-- > 0;) {
			keep[k]->node = 0;
			keep[k]->next = a->qh;
			a->qh = keep[k];
			if (!a->qt)
				a->qt = keep[k];
		}
		if (nkeep)
			wire_log("actor '%s' (actor %llu): %zu call%s sent to its lost node had not started; "
			         "%s wait%s for its restart", a->name, (unsigned long long)a->id, nkeep,
			         nkeep == 1 ? "" : "s", nkeep == 1 ? "it" : "they", nkeep == 1 ? "s" : "");
		free(keep);
		if (a->left > 0) {
			a->left--;
			wire_log("%s; restarting it (restart %u of %u)", text, a->restarts - a->left,
			         a->restarts);
			start_actor(d, a, node, creator, crarg, ccid, r);
			continue;
		}
		a->state = A_DEAD;
		release(d, a);
		free(a->error);
		if (asprintf(&a->error, "%s; no restarts left (@restarts(%u))", text, a->restarts) < 0)
			a->error = NULL;
		wire_log("%s", a->error ? a->error : text);
		struct acall tmp = {.reply = creator, .rarg = crarg, .cid = ccid};
		add_reply(r, &tmp, WIRE_DONE_LOST, v_none(), a->error, a->node_name, "");
		fail_queue(a, WIRE_DONE_LOST, a->error, r);
	}
}

int ac_dir_started(ac_dir *d, uint64_t node, uint64_t key)
{
	pthread_mutex_lock(&d->mu);
	struct acall *c = bt_map_get(&d->calls, key);
	int ok = c && !c->start && !c->started && c->node == node && c->a->node == node &&
	         (c->a->state == A_READY || c->a->state == A_STARTING);
	if (ok)
		c->started = 1;
	pthread_mutex_unlock(&d->mu);
	return ok;
}

void ac_dir_node_lost(ac_dir *d, uint64_t node, const char *why)
{
	struct replies r = {0};
	pthread_mutex_lock(&d->mu);
	node_lost_locked(d, node, why, &r);
	pthread_mutex_unlock(&d->mu);
	send_replies(&r);
}

/* Actor a goes (its run's client went away): its node lets it go after
 * the calls before (FREE), what it held is given back, the calls that
 * wait for it are not run. Under d->mu; a is freed. */
static void drop_actor(ac_dir *d, struct actor *a, struct replies *r)
{
	if (a->state == A_READY) {
		struct wire_call f = a->init;
		f.id = AC_ID_BIT | ++d->seq; /* its answer is not waited for */
		f.fn = WIRE_FN_ACTOR_FREE;
		f.args = with_id(a->id, v_none());
		d->ops.send(d->arg, a->node, &f);
		val_rele(f.args);
	}
	if (a->pend) {
		add_reply(r, a->pend, WIRE_DONE_NOTRUN, v_none(), "the client went away", "", "");
		free_acall(a->pend);
		a->pend = NULL;
	}
	fail_queue(a, WIRE_DONE_NOTRUN, "the client went away", r);
	for (int again = 1; again;) {
		again = 0;
		for (size_t i = 0; i < d->calls.cap; i++) {
			struct acall *c = d->calls.vals[i];
			if (d->calls.keys[i] && c && c->a == a) {
				bt_map_del(&d->calls, c->key);
				add_reply(r, c, WIRE_DONE_NOTRUN, v_none(), "the client went away", "", "");
				free_acall(c);
				again = 1;
				break;
			}
		}
	}
	release(d, a);
	for (struct actor **at = &d->all; *at; at = &(*at)->next)
		if (*at == a) {
			*at = a->next;
			break;
		}
	val_rele(a->init.args);
	free(a->error);
	free(a);
}

void ac_dir_client_gone(ac_dir *d, uint32_t pipe)
{
	struct replies r = {0};
	pthread_mutex_lock(&d->mu);
	for (struct actor *a = d->all, *next; a; a = next) {
		next = a->next;
		if (!pipe || a->owner != pipe)
			continue;
		if (a->state == A_STARTING && !a->pend) {
			a->owner = 0; /* its start is in flight: it goes once it ends */
			a->orphan = 1;
			continue;
		}
		drop_actor(d, a, &r);
	}
	retry_pending(d, &r); /* what they held may let others start */
	pthread_mutex_unlock(&d->mu);
	send_replies(&r);
}

void ac_dir_tick(ac_dir *d)
{
	struct replies r = {0};
	pthread_mutex_lock(&d->mu);
	retry_pending(d, &r);
	pthread_mutex_unlock(&d->mu);
	send_replies(&r);
}

void ac_dir_free(ac_dir *d)
{
	if (!d)
		return;
	struct replies r = {0};
	for (size_t i = 0; i < d->calls.cap; i++) {
		struct acall *c = d->calls.vals[i];
		if (d->calls.keys[i] && c) {
			add_reply(&r, c, WIRE_DONE_NOTRUN, v_none(), "the head stops", "", "");
			free_acall(c);
		}
	}
	while (d->all) {
		struct actor *a = d->all;
		d->all = a->next;
		if (a->pend) {
			add_reply(&r, a->pend, WIRE_DONE_NOTRUN, v_none(), "the head stops", "", "");
			free_acall(a->pend);
		}
		fail_queue(a, WIRE_DONE_NOTRUN, "the head stops", &r);
		val_rele(a->init.args);
		free(a->error);
		free(a);
	}
	send_replies(&r);
	bt_map_free(&d->calls);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

/* ==== callers ============================================================ */

struct ac_service {
	task_actors ops;
	wire_client *c;
	ac_dir *dir;
	uint8_t hash[32];
	int has_hash;
	uint64_t job;
	uint64_t seq;
	char head[256];
};

/* On the head itself: the directory answers into a slot. */
struct slot {
	sem_t done;
	struct wire_done d;
};

static void slot_reply(void *rarg, const struct wire_done *d)
{
	struct slot *s = rarg;
	s->d = (struct wire_done){.id = d->id, .ok = d->ok, .result = val_hold(d->result),
	                          .error = xstrdup(d->error), .node = xstrdup(d->node),
	                          .output = xstrdup(d->output)};
	sem_post(&s->done);
}

/* One ACTOR_CALL and its answer in *out (0), or -1 with *err. */
static int roundtrip(ac_service *s, struct wire_actor_call *m, struct wire_done *out, char **err)
{
	if (!s->c) {
		struct slot sl;
		sem_init(&sl.done, 0, 0);
		ac_dir_request(s->dir, 0, m, slot_reply, &sl);
		while (sem_wait(&sl.done) != 0)
			; /* EINTR */
		sem_destroy(&sl.done);
		*out = sl.d;
		return 0;
	}
	struct wire_msg req = {.kind = WM_ACTOR_CALL}, rep = {0};
	req.u.actor_call = *m;
	verr e;
	/* no timeout: a method may run long; a lost head ends the call */
	int rc = wire_client_call(s->c, &req, &rep, -1, &e);
	if (rc == WIRE_EMALFORMED) {
		/* no fallback: the actor lives on another node */
		if (asprintf(err, "the call cannot be sent to the actor's node: %s", e.msg) < 0)
			*err = NULL;
		return -1;
	}
	if (rc != WIRE_OK) {
		if (asprintf(err, "the head at %s did not answer an actor call: %s", s->head, e.msg) < 0)
			*err = NULL;
		return -1;
	}
	if (rep.kind != WM_TASKS_DONE || rep.u.tasks_done.dones.n != 1) {
		if (asprintf(err, "the head at %s answered an actor call with %s", s->head,
		             wire_kind_name(rep.kind)) < 0)
			*err = NULL;
		wire_msg_free(&rep);
		return -1;
	}
	*out = rep.u.tasks_done.dones.v[0]; /* its contents are ours now */
	free(rep.u.tasks_done.dones.v);
	return 0;
}

static void fill_call(ac_service *s, struct wire_call *c, uint32_t fn, uint64_t seed,
                      uint64_t ident, value args)
{
	memset(c, 0, sizeof *c);
	c->id = __atomic_add_fetch(&s->seq, 1, __ATOMIC_RELAXED);
	c->job = s->job;
	c->fn = fn;
	c->seed = seed;
	c->ident = ident;
	c->args = args;
	const uint8_t *h = s->has_hash ? s->hash : cl_plan_current_hash();
	if (h)
		memcpy(c->hash, h, 32);
}

static char *dup_or_null(const char *x) { return x && x[0] ? xstrdup(x) : NULL; }

static int svc_create(void *ctx, uint32_t cls, uint32_t restarts, const char *name, uint64_t seed,
                      uint64_t ident, value args, uint64_t *id, char **err, char **node,
                      char **output)
{
	ac_service *s = ctx;
	struct wire_call c;
	fill_call(s, &c, cls, seed, ident, args);
	struct wire_actor_call m = {.op = WIRE_ACTOR_NEW, .restarts = restarts, .name = (char *)name,
	                            .calls = {&c, 1}};
	struct wire_done d;
	*id = 0;
	if (roundtrip(s, &m, &d, err))
		return -1;
	*node = dup_or_null(d.node);
	*output = dup_or_null(d.output);
	if (d.result.t == V_INT)
		*id = (uint64_t)d.result.as.i;
	if (d.ok == WIRE_DONE_OK)
		cl_lin_actor_made(*id, name); /* for a lost result's error (client.h) */
	int rc = 0;
	if (d.ok != WIRE_DONE_OK) {
		*err = xstrdup(d.error && d.error[0] ? d.error : "the actor could not be made");
		rc = d.ok == WIRE_DONE_FAILED && *id ? 1 : -1;
	}
	wire_done_free(&d);
	return rc;
}

static int svc_call(void *ctx, uint64_t id, uint32_t fn, uint64_t seed, uint64_t ident, value args,
                    value *res, char **err, char **node, char **output)
{
	ac_service *s = ctx;
	struct wire_call c;
	fill_call(s, &c, fn, seed, ident, args);
	struct wire_actor_call m = {.op = WIRE_ACTOR_CALL, .actor = id, .name = "", .calls = {&c, 1}};
	struct wire_done d;
	bt_pool_block(1); /* from a task: its thread's CPU serves the next call */
	int lost = roundtrip(s, &m, &d, err);
	bt_pool_block(0);
	if (lost)
		return -1;
	*node = dup_or_null(d.node);
	*output = dup_or_null(d.output);
	int rc = 0;
	if (d.ok == WIRE_DONE_OK) {
		*res = val_hold(d.result);
		/* a large result left on the actor's node: no lineage (client.h) */
		cl_lin_actor_result(id, fn, d.result, d.node);
	} else {
		*err = xstrdup(d.error && d.error[0] ? d.error : "the call failed");
		/* an actor call's result that cannot travel fails the call, its
		 * error saying why (it cannot run here) */
		rc = d.ok == WIRE_DONE_FAILED || d.ok == WIRE_DONE_UNSENDABLE ? 1
		   : d.ok == WIRE_DONE_LOST ? TASK_REMOTE_LOST : -1;
	}
	wire_done_free(&d);
	return rc;
}

ac_service *ac_service_new(wire_client *c, ac_dir *dir, const uint8_t *hash, uint64_t job,
                           const char *head)
{
	ac_service *s = xcalloc(1, sizeof *s);
	s->c = c;
	s->dir = dir;
	if (hash) {
		memcpy(s->hash, hash, 32);
		s->has_hash = 1;
	}
	s->job = job;
	snprintf(s->head, sizeof s->head, "%s", head ? head : "");
	s->ops = (task_actors){svc_create, svc_call, s};
	return s;
}

const task_actors *ac_service_actors(ac_service *s) { return &s->ops; }
void ac_service_free(ac_service *s) { free(s); }
