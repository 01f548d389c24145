/* head.c - the head daemon: membership over the authenticated listener. */
#include "head.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "plans.h"
#include "task_exec.h"
#include "transport.h"

#define LOOP_MS 100
#define SUSPECT_MS 1000          /* silent this long (+ loop lag): suspect */
#define DEAD_KEEP_MS (10 * 60000) /* a dead node stays listed this long */
#define DEAD_KEEP 64             /* ... and at most this many of them */

/* alive: given tasks. suspect: its connection closed, or silent for
 * SUSPECT_MS: given no new tasks; a heartbeat makes it alive again.
 * dead: silent for HEAD_DEAD_MS, fenced (ERROR 10), its link shut.
 * draining: it sent LEAVE (flow stop, SIGTERM); its running tasks
 * finish, it gets no new ones, and it is removed when its connection
 * closes. Lag: the head's own lateness is added to every deadline. */
enum { N_ALIVE, N_SUSPECT, N_DEAD, N_DRAINING };
static const char *const state_name[] = {"alive", "suspect", "dead", "draining"};

struct member {
	uint64_t id, epoch;
	char host[256], address[128], resources[1024];
	int state;       /* N_* */
	bool closed;     /* its connection closed: it cannot speak again */
	uint32_t cpus, cpus_used, pid;
	uint64_t store_cap, store_used, store_spilled;
	int64_t last_ms; /* monotonic time of the last heartbeat (or JOIN) */
	int64_t dead_ms; /* when it was declared dead */
	uint32_t pipe;   /* its connection; 0 for the head's own node */
};

/* The head's connection to a worker's own listener, for RUN_TASK. Made
 * on first use, kept until the head stops (a lost node's link just fails). */
struct link {
	uint64_t node;
	char address[128], host[256];
	wire_client *c;
	pthread_mutex_t mu;  /* one plan upload at a time on this link */
	uint8_t (*plans)[32]; /* the plans this node holds */
	size_t nplans;
};

struct head {
	pthread_mutex_t mu; /* guards members, links, plans, forwards */
	struct member *m;
	size_t n, cap;
	uint64_t next_id;
	int64_t lag_ms; /* how late the loop has been running, recently */
	const auth_token *token;
	struct plan_store plans; /* plans clients sent, to ship to workers */
	struct link **links;
	size_t nlinks;
	size_t rr;      /* round robin over the workers */
	int forwards;   /* forwarding threads running */
	pthread_cond_t idle;
	pthread_mutex_t local_mu; /* the head's own node runs one task at a time */
	char name[300];      /* "node 1 (host1)": who ran a task, in TASK_DONE */
	/* the connections of clients that went away (a ring): their task
	 * calls still waiting for a node are dropped, not run */
	uint32_t gone[256];
	unsigned ngone;
	uint64_t dropped;    /* task calls dropped so */
	flow_node_view view; /* what tasks on the head's node read (id "1") */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct member *add_member(struct head *h)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 8;
		struct member *nm = realloc(h->m, cap * sizeof *nm);
		if (!nm)
			return NULL;
		h->m = nm;
		h->cap = cap;
	}
	struct member *x = &h->m[h->n++];
	memset(x, 0, sizeof *x);
	x->id = h->next_id++;
	x->epoch = x->id; /* ids are never reused: a rejoin is a new node */
	x->state = N_ALIVE;
	x->last_ms = now_ms();
	return x;
}

static struct member *find_member(struct head *h, uint64_t id)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->m[i].id == id)
			return &h->m[i];
	return NULL;
}

static void remove_member(struct head *h, struct member *x)
{
	*x = h->m[--h->n];
}

/* nng thread: a worker's connection closed (a stop, a crash, kill -9). */
static void on_gone(void *arg, uint32_t pipe, const char *peer)
{
	struct head *h = arg;
	pthread_mutex_lock(&h->mu);
	h->gone[h->ngone++ % 256] = pipe; /* a client's, or a worker's: both are done */
	for (size_t i = 0; i < h->n; i++) {
		struct member *x = &h->m[i];
		if (x->pipe != pipe || x->closed)
			continue;
		x->closed = true;
		if (x->state == N_DRAINING) {
			wire_log("node %llu (%s at %s) finished draining; removed", (unsigned long long)x->id,
			         x->host, x->address);
			remove_member(h, x);
		} else if (x->state != N_DEAD) {
			/* no new tasks from now; dead once silent for HEAD_DEAD_MS */
			x->state = N_SUSPECT;
			wire_log("node %llu (%s at %s) disconnected: its connection from %s closed; suspect",
			         (unsigned long long)x->id, x->host, x->address, peer);
		}
		break;
	}
	pthread_mutex_unlock(&h->mu);
}

static void handle_join(struct head *h, wire_server *s, uint32_t pipe, const char *peer,
                        struct wire_join *j)
{
	pthread_mutex_lock(&h->mu);
	struct member *x = NULL;
	for (size_t i = 0; i < h->n; i++)
		if (h->m[i].pipe == pipe && pipe)
			x = &h->m[i];
	if (x) {
		pthread_mutex_unlock(&h->mu);
		wire_server_reply_error(s, WIRE_ESTATE, "this connection has already joined");
		return;
	}
	x = add_member(h);
	if (!x) {
		pthread_mutex_unlock(&h->mu);
		wire_server_reply_error(s, WIRE_EIO, "the head is out of memory");
		return;
	}
	snprintf(x->host, sizeof x->host, "%s", j->host);
	snprintf(x->address, sizeof x->address, "%s", j->address);
	snprintf(x->resources, sizeof x->resources, "%s", j->resources);
	x->cpus = j->cpus;
	x->store_cap = j->store_cap;
	x->pid = j->pid;
	x->pipe = pipe;
	struct wire_msg r = {.kind = WM_JOINED};
	r.u.joined.node_id = x->id;
	r.u.joined.epoch = x->epoch;
	r.u.joined.heartbeat_ms = HEAD_HEARTBEAT_MS;
	wire_log("node %llu joined: %s at %s (from %s), %u cpus%s%s",
	         (unsigned long long)x->id, x->host, x->address, peer, x->cpus,
	         x->resources[0] ? ", resources " : "", x->resources);
	pthread_mutex_unlock(&h->mu);
	wire_server_reply(s, &r);
}

/* A heartbeat or LEAVE must name a member not declared dead, on the
 * connection it joined on. */
static struct member *member_of(struct head *h, uint64_t id, uint64_t epoch, uint32_t pipe)
{
	struct member *x = find_member(h, id);
	if (!x || x->epoch != epoch || x->pipe != pipe || x->state == N_DEAD || x->closed)
		return NULL;
	return x;
}

static void handle_heartbeat(struct head *h, wire_server *s, uint32_t pipe, struct wire_heartbeat *b)
{
	pthread_mutex_lock(&h->mu);
	struct member *x = member_of(h, b->node_id, b->epoch, pipe);
	if (x) {
		x->cpus_used = b->cpus_used;
		x->store_used = b->store_used;
		x->store_spilled = b->store_spilled;
		int64_t now = now_ms();
		if (x->state == N_SUSPECT) {
			x->state = N_ALIVE;
			wire_log("node %llu (%s at %s) spoke again after %lld ms; alive",
			         (unsigned long long)x->id, x->host, x->address, (long long)(now - x->last_ms));
		}
		x->last_ms = now;
	}
	pthread_mutex_unlock(&h->mu);
	if (!x) {
		wire_server_reply_error(s, WIRE_ENODE, "this node is not a member any more "
		                        "(declared dead or removed); start it again to rejoin as a new node");
		return;
	}
	struct wire_msg r = {.kind = WM_OK};
	wire_server_reply(s, &r);
}

static void handle_leave(struct head *h, wire_server *s, uint32_t pipe, struct wire_leave *l)
{
	pthread_mutex_lock(&h->mu);
	struct member *x = member_of(h, l->node_id, l->epoch, pipe);
	if (x && x->state != N_DRAINING) {
		/* removed when its connection closes, once its tasks are done */
		x->state = N_DRAINING;
		x->last_ms = now_ms();
		wire_log("node %llu (%s at %s) left: draining (no new tasks)", (unsigned long long)x->id,
		         x->host, x->address);
	}
	pthread_mutex_unlock(&h->mu);
	struct wire_msg r = {.kind = WM_OK};
	wire_server_reply(s, &r);
}

static void handle_status(struct head *h, wire_server *s)
{
	struct wire_msg r = {.kind = WM_STATUS_REPLY};
	int64_t now = now_ms();
	pthread_mutex_lock(&h->mu);
	wire_NODES *ns = &r.u.status_reply.nodes;
	ns->v = calloc(h->n ? h->n : 1, sizeof *ns->v);
	if (ns->v) {
		for (size_t i = 0; i < h->n; i++) {
			struct member *x = &h->m[i];
			struct wire_node *o = &ns->v[ns->n++];
			o->id = x->id;
			o->epoch = x->epoch;
			o->host = x->host;
			o->address = x->address;
			o->state = (char *)state_name[x->state];
			o->cpus = x->cpus;
			o->cpus_used = x->cpus_used;
			o->resources = x->resources;
			o->store_cap = x->store_cap;
			o->store_used = x->store_used;
			o->store_spilled = x->store_spilled;
			o->heartbeat_age_ms = x->pipe ? (uint64_t)(now - x->last_ms) : 0;
			o->pid = x->pid;
		}
	}
	/* encoded under the lock: the strings point into the members */
	sbuf b;
	verr e;
	sbuf_init(&b);
	int rc = ns->v ? wire_encode(&r, &b, &e) : WIRE_EIO;
	pthread_mutex_unlock(&h->mu);
	free(ns->v);
	if (rc != WIRE_OK)
		wire_server_reply_error(s, WIRE_EIO, "the status does not fit in one message");
	else
		wire_server_reply_raw(s, b.data, b.len);
	sbuf_fini(&b);
}

/* ---- remote tasks: the head places each RUN_TASK on a worker ---------- */

#define FORWARD_MS (10 * 60 * 1000)

struct forward {
	struct head *h;
	uint32_t pipe;       /* the client's connection */
	wire_pending *reply;
	struct wire_msg req; /* the RUN_TASK, owned */
};

/* The link to node `id` (under h->mu). */
static struct link *link_for(struct head *h, uint64_t id, const char *address, const char *host)
{
	for (size_t i = 0; i < h->nlinks; i++)
		if (h->links[i]->node == id)
			return h->links[i];
	struct link **nl = realloc(h->links, (h->nlinks + 1) * sizeof *nl);
	struct link *l = calloc(1, sizeof *l);
	if (!nl || !l) {
		free(l);
		if (nl)
			h->links = nl;
		return NULL;
	}
	h->links = nl;
	l->node = id;
	snprintf(l->address, sizeof l->address, "%s", address);
	snprintf(l->host, sizeof l->host, "%s", host);
	pthread_mutex_init(&l->mu, NULL);
	h->links[h->nlinks++] = l;
	return l;
}

/* Connects the link and makes sure its node holds the plan (under l->mu). */
static int prepare_link(struct head *h, struct link *l, const uint8_t hash[32], verr *e)
{
	if (!l->c) {
		char url[300];
		verr ce;
		if (wire_url(l->address, url, sizeof url) != 0) {
			verr_set(e, "bad address %s", l->address);
			return -1;
		}
		wire_client *c;
		if (wire_client_open(&c, url, 3000, &ce) != WIRE_OK) {
			verr_set(e, "cannot reach it: %s", ce.msg);
			return -1;
		}
		if (wire_client_handshake(c, h->token, WIRE_ROLE_HEAD, 3000, &ce) != WIRE_OK) {
			verr_set(e, "it refused the head: %s", ce.msg);
			wire_client_close(c);
			return -1;
		}
		/* atomic: the head's shutdown reads it without l->mu */
		__atomic_store_n(&l->c, c, __ATOMIC_RELEASE);
	}
	for (size_t i = 0; i < l->nplans; i++)
		if (memcmp(l->plans[i], hash, 32) == 0)
			return 0;
	pthread_mutex_lock(&h->mu);
	struct plan_entry *pe = plan_store_find(&h->plans, hash);
	uint8_t *buf = NULL;
	uint64_t total = pe ? pe->total : 0;
	if (pe && (buf = malloc(total)))
		memcpy(buf, pe->buf, total); /* the store may grow meanwhile */
	pthread_mutex_unlock(&h->mu);
	if (!buf) {
		verr_set(e, "the head does not hold that plan (send PLAN_PUT first)");
		return -1;
	}
	/* the plan travels once per node, in chunks, each acknowledged */
	for (uint64_t off = 0; off < total; off += PLAN_CHUNK) {
		struct wire_msg m = {.kind = WM_PLAN_PUT}, rep;
		memcpy(m.u.plan_put.hash, hash, 32);
		m.u.plan_put.total = total;
		m.u.plan_put.offset = off;
		m.u.plan_put.chunk.data = buf + off;
		m.u.plan_put.chunk.len = (uint32_t)(total - off < PLAN_CHUNK ? total - off : PLAN_CHUNK);
		verr ce;
		if (wire_client_call(l->c, &m, &rep, 30000, &ce) != WIRE_OK) {
			verr_set(e, "it did not take the plan: %s", ce.msg);
			free(buf);
			return -1;
		}
		wire_msg_free(&rep);
	}
	free(buf);
	uint8_t (*np)[32] = realloc(l->plans, (l->nplans + 1) * sizeof *np);
	if (np) {
		l->plans = np;
		memcpy(l->plans[l->nplans++], hash, 32);
	}
	return 0;
}

/* The client that sent f went away (Ctrl-C): its call is dropped. */
static bool client_gone(struct head *h, const struct forward *f)
{
	bool gone = false;
	pthread_mutex_lock(&h->mu);
	unsigned n = h->ngone < 256 ? h->ngone : 256;
	for (unsigned i = 0; i < n && !gone; i++)
		gone = h->gone[i] == f->pipe;
	if (gone && h->dropped++ % 1000 == 0)
		wire_log("job %llu: its client went away; dropping its task calls that wait for a node",
		         (unsigned long long)f->req.u.run_task.job);
	pthread_mutex_unlock(&h->mu);
	return gone;
}

/* The head's own node (node 1) runs the task: the plan was validated when
 * it arrived. Answers f->reply. */
static void run_here(struct head *h, struct forward *f)
{
	struct wire_run_task *r = &f->req.u.run_task;
	pthread_mutex_lock(&h->mu);
	struct plan_entry *pe = plan_store_find(&h->plans, r->hash);
	cl_plan *cp = pe ? pe->loaded : NULL; /* stable: entries are kept */
	struct member *self = find_member(h, 1);
	if (self)
		self->cpus_used++;
	pthread_mutex_unlock(&h->mu);
	struct wire_msg d = {.kind = WM_TASK_DONE};
	value result = v_none();
	char *error = NULL, *output = NULL;
	if (!cp) {
		error = strdup("the head does not hold that plan (send PLAN_PUT first)");
	} else {
		pthread_mutex_lock(&h->local_mu);
		if (client_gone(h, f)) {
			pthread_mutex_unlock(&h->local_mu);
			pthread_mutex_lock(&h->mu);
			if ((self = find_member(h, 1)))
				self->cpus_used--;
			pthread_mutex_unlock(&h->mu);
			wire_pending_error(f->reply, WIRE_EREFUSED, "the client went away");
			return;
		}
		cl_task_run(cp, r->fn, r->args, r->seed, r->task, &h->view, &result, &error, &output);
		pthread_mutex_unlock(&h->local_mu);
	}
	pthread_mutex_lock(&h->mu);
	if ((self = find_member(h, 1)))
		self->cpus_used--;
	pthread_mutex_unlock(&h->mu);
	d.u.task_done.job = r->job;
	d.u.task_done.task = r->task;
	d.u.task_done.ok = error == NULL;
	d.u.task_done.result = result;
	d.u.task_done.error = error ? error : "";
	d.u.task_done.node = h->name;
	d.u.task_done.output = output;
	sbuf b;
	verr e;
	char msg[400];
	sbuf_init(&b);
	if (wire_encode(&d, &b, &e) != WIRE_OK) {
		snprintf(msg, sizeof msg, "the task's result cannot be sent to another node: %s", e.msg);
		d.u.task_done.ok = 0;
		d.u.task_done.result = v_none();
		d.u.task_done.error = msg;
	}
	sbuf_fini(&b);
	wire_pending_reply(f->reply, &d);
	val_rele(result);
	free(error);
	free(output);
}

static void *forward_main(void *arg)
{
	struct forward *f = arg;
	struct head *h = f->h;
	struct wire_run_task *r = &f->req.u.run_task;
	char err[700] = "";
	/* a live node that offers CPUs, round robin; node 1 is the head's own */
	uint64_t id = 0;
	char address[128] = "", host[256] = "";
	struct link *l = NULL;
	pthread_mutex_lock(&h->mu);
	for (size_t k = 0; k < h->n && !id; k++) {
		struct member *x = &h->m[(h->rr + k) % h->n];
		if ((x->pipe || x->id == 1) && x->state == N_ALIVE && x->cpus > 0) {
			id = x->id;
			snprintf(address, sizeof address, "%s", x->address);
			snprintf(host, sizeof host, "%s", x->host);
			h->rr = (h->rr + k + 1) % h->n;
		}
	}
	if (id > 1)
		l = link_for(h, id, address, host);
	pthread_mutex_unlock(&h->mu);
	if (id == 1) {
		run_here(h, f);
		goto done;
	}
	if (!id)
		snprintf(err, sizeof err, "no node of this cluster offers CPUs to run the task "
		         "(the head was started with --cpus 0 and no worker has joined)");
	else if (!l)
		snprintf(err, sizeof err, "the head is out of memory");
	struct wire_msg rep;
	int rc = WIRE_EIO;
	if (l) {
		verr e;
		/* one call at a time per node (a worker runs one task at a
		 * time): the others wait here, where a gone client's are dropped */
		pthread_mutex_lock(&l->mu);
		int ok = prepare_link(h, l, r->hash, &e) == 0;
		if (!ok)
			snprintf(err, sizeof err, "node %llu (%s at %s): %s", (unsigned long long)id, host,
			         address, e.msg);
		else if (client_gone(h, f))
			snprintf(err, sizeof err, "the client went away");
		else if ((rc = wire_client_call(l->c, &f->req, &rep, FORWARD_MS, &e)) != WIRE_OK)
			snprintf(err, sizeof err, "node %llu (%s at %s) did not return the task's result: %s%s",
			         (unsigned long long)id, host, address, e.msg,
			         wire_client_lost(l->c) ? " (the node was lost)" : "");
		pthread_mutex_unlock(&l->mu);
	}
	if (rc == WIRE_OK) {
		wire_pending_reply(f->reply, &rep);
		wire_msg_free(&rep);
	} else {
		if (strcmp(err, "the client went away") != 0)
			wire_log("task %llu of job %llu: %s", (unsigned long long)r->task,
			         (unsigned long long)r->job, err);
		wire_pending_error(f->reply, WIRE_EREFUSED, err);
	}
done:
	wire_msg_free(&f->req);
	free(f);
	pthread_mutex_lock(&h->mu);
	if (--h->forwards == 0)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* RUN_TASK: answered later by a thread of its own, so the head keeps
 * serving heartbeats and status while the task runs. Takes m over. */
static void handle_run_task(struct head *h, wire_server *s, uint32_t pipe, struct wire_msg *m)
{
	struct forward *f = calloc(1, sizeof *f);
	wire_pending *p = f ? wire_server_detach(s) : NULL;
	if (!p) {
		free(f);
		wire_server_reply_error(s, WIRE_EIO, "the head is out of resources");
		return;
	}
	f->h = h;
	f->pipe = pipe;
	f->reply = p;
	f->req = *m;
	m->kind = WM_NONE; /* now f's */
	pthread_mutex_lock(&h->mu);
	h->forwards++;
	pthread_mutex_unlock(&h->mu);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, forward_main, f) != 0) {
		wire_pending_error(p, WIRE_EIO, "the head cannot start a thread");
		wire_msg_free(&f->req);
		free(f);
		pthread_mutex_lock(&h->mu);
		h->forwards--;
		pthread_mutex_unlock(&h->mu);
	}
	pthread_attr_destroy(&at);
}

static void handle_plan_put(struct head *h, wire_server *s, struct wire_plan_put *m)
{
	verr why;
	pthread_mutex_lock(&h->mu);
	int rc = plan_store_put(&h->plans, m, &why);
	pthread_mutex_unlock(&h->mu);
	if (rc != WIRE_OK) {
		wire_log("refused a plan: %s", why.msg);
		wire_server_reply_error(s, rc, why.msg);
		return;
	}
	struct wire_msg ok = {.kind = WM_OK};
	wire_server_reply(s, &ok);
}

/* The oldest dead members go: at most DEAD_KEEP listed, none older than
 * DEAD_KEEP_MS (under h->mu). */
static void prune_dead(struct head *h, int64_t now)
{
	size_t ndead = 0, oldest = 0;
	for (size_t i = 0; i < h->n; i++) {
		struct member *x = &h->m[i];
		if (x->state != N_DEAD)
			continue;
		if (now - x->dead_ms > DEAD_KEEP_MS) {
			remove_member(h, x);
			i--;
			continue;
		}
		if (!ndead++ || x->dead_ms < h->m[oldest].dead_ms)
			oldest = i;
	}
	if (ndead > DEAD_KEEP)
		remove_member(h, &h->m[oldest]);
}

/* Fences node x (under h->mu): dead, its later messages refused, the
 * head's link to it shut so the task calls it holds fail now (their
 * clients send them again: task_run.c). */
static void declare_dead(struct head *h, struct member *x, int64_t now)
{
	x->state = N_DEAD;
	x->dead_ms = now;
	wire_log("node %llu (%s at %s) declared dead: no heartbeat for %lld ms "
	         "(head loop lag %lld ms)", (unsigned long long)x->id, x->host,
	         x->address, (long long)(now - x->last_ms), (long long)h->lag_ms);
	for (size_t i = 0; i < h->nlinks; i++)
		if (h->links[i]->node == x->id)
			wire_client_shutdown(__atomic_load_n(&h->links[i]->c, __ATOMIC_ACQUIRE));
}

static void check_silence(struct head *h)
{
	int64_t now = now_ms();
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++) {
		struct member *x = &h->m[i];
		if (!x->pipe || x->state == N_DEAD)
			continue;
		/* our own lateness is not the worker's silence */
		int64_t silent = now - x->last_ms;
		if (silent > HEAD_DEAD_MS + h->lag_ms) {
			declare_dead(h, x, now);
		} else if (x->state == N_ALIVE && silent > SUSPECT_MS + h->lag_ms) {
			x->state = N_SUSPECT;
			wire_log("node %llu (%s at %s) suspect: no heartbeat for %lld ms (head loop lag %lld ms)",
			         (unsigned long long)x->id, x->host, x->address, (long long)silent,
			         (long long)h->lag_ms);
		}
	}
	prune_dead(h, now);
	pthread_mutex_unlock(&h->mu);
}

int head_run(const struct node_opts *o, verr *e)
{
	struct head h = {.next_id = 1, .token = o->token, .plans = {.load = 1}};
	pthread_mutex_init(&h.mu, NULL);
	pthread_mutex_init(&h.local_mu, NULL);
	{
		char host[256] = "";
		gethostname(host, sizeof host - 1);
		snprintf(h.name, sizeof h.name, "node 1 (%s)", host);
		h.view = (flow_node_view){.id = "1", .address = "", .alive = true};
	}
	pthread_cond_init(&h.idle, NULL);
	char url[128], ip[64], text[2048];
	snprintf(url, sizeof url, "tcp://0.0.0.0:%d", o->port);
	wire_server *s;
	if (wire_server_open(&s, url, o->token, e) != 0) {
		pthread_mutex_destroy(&h.mu);
		return 1;
	}
	wire_server_on_gone(s, on_gone, &h);

	/* the head's own node */
	if (o->node_ip && *o->node_ip)
		snprintf(ip, sizeof ip, "%s", o->node_ip);
	else
		node_default_ip(ip, sizeof ip);
	pthread_mutex_lock(&h.mu);
	struct member *self = add_member(&h);
	if (self) {
		node_hostname(self->host, sizeof self->host);
		snprintf(self->address, sizeof self->address, "%s:%d", ip, wire_server_port(s));
		snprintf(self->resources, sizeof self->resources, "%s", o->resources ? o->resources : "");
		self->cpus = (uint32_t)o->cpus;
		self->store_cap = o->store_cap;
		self->pid = (uint32_t)getpid();
	}
	pthread_mutex_unlock(&h.mu);
	if (!self) {
		verr_set(e, "out of memory");
		wire_server_close(s);
		return 1;
	}
	wire_log("head listening on %s (node 1, %s, %d cpus)", self->address, self->host, o->cpus);
	snprintf(text, sizeof text,
	         "Flow head started on %s (node 1, host %s, %d cpus).\n"
	         "Cluster token: %s%s.\n"
	         "To join another machine, copy the token file there (mode 0600) and run:\n"
	         "  flow start --address %s --token-file FILE\n"
	         "See the cluster: flow status --address %s\n"
	         "Stop this machine's daemons: flow stop\n",
	         self->address, self->host, o->cpus, o->token->source,
	         o->token->created ? " (created now, mode 0600)" : "", self->address, self->address);
	if (o->ready)
		o->ready(o->ready_arg, text);

	while (!*o->stop) {
		struct wire_msg m;
		uint32_t pipe;
		char peer[64];
		int64_t t0 = now_ms();
		int rc = wire_server_recv(s, &m, &pipe, peer, sizeof peer, LOOP_MS);
		int64_t t1 = now_ms();
		if (rc == WIRE_OK) {
			switch (m.kind) {
			case WM_JOIN: handle_join(&h, s, pipe, peer, &m.u.join); break;
			case WM_HEARTBEAT: handle_heartbeat(&h, s, pipe, &m.u.heartbeat); break;
			case WM_LEAVE: handle_leave(&h, s, pipe, &m.u.leave); break;
			case WM_STATUS: handle_status(&h, s); break;
			case WM_PLAN_PUT: handle_plan_put(&h, s, &m.u.plan_put); break;
			case WM_RUN_TASK: handle_run_task(&h, s, pipe, &m); break;
			default: {
				char why[128];
				snprintf(why, sizeof why, "the head does not serve %s", wire_kind_name(m.kind));
				wire_server_reply_error(s, WIRE_EREFUSED, why);
			}
			}
			wire_msg_free(&m);
		}
		/* the loop's lag: a wait that overran its timeout (the head was not
		 * scheduled) plus the time spent handling; the peak, decayed */
		int64_t t2 = now_ms();
		int64_t late = (rc == WIRE_ETIMEDOUT && t1 - t0 > LOOP_MS ? t1 - t0 - LOOP_MS : 0) + (t2 - t1);
		h.lag_ms = late > h.lag_ms ? late : h.lag_ms * 7 / 8;
		check_silence(&h);
	}
	wire_log("head stopping (%zu workers connected)", h.n ? h.n - 1 : 0);
	/* forwards end once their worker answers or their link closes */
	pthread_mutex_lock(&h.mu);
	for (size_t i = 0; i < h.nlinks; i++)
		wire_client_shutdown(__atomic_load_n(&h.links[i]->c, __ATOMIC_ACQUIRE)); /* calls fail now */
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	while (h.forwards > 0 && pthread_cond_timedwait(&h.idle, &h.mu, &dl) == 0)
		;
	int busy = h.forwards;
	pthread_mutex_unlock(&h.mu);
	wire_server_close(s);
	if (busy)
		return 0; /* a forward is stuck: leave its memory to the exit */
	for (size_t i = 0; i < h.nlinks; i++) {
		wire_client_close(h.links[i]->c);
		pthread_mutex_destroy(&h.links[i]->mu);
		free(h.links[i]->plans);
		free(h.links[i]);
	}
	free(h.links);
	plan_store_free(&h.plans);
	free(h.m);
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.idle);
	pthread_mutex_destroy(&h.local_mu);
	return 0;
}
