/* head.c - the head daemon: membership over the authenticated listener. */
#include "head.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "transport.h"

#define LOOP_MS 100

enum { N_ALIVE, N_DEAD };

struct member {
	uint64_t id, epoch;
	char host[256], address[128], resources[1024];
	int state;
	uint32_t cpus, cpus_used, pid;
	uint64_t store_cap, store_used, store_spilled;
	int64_t last_ms; /* monotonic time of the last heartbeat (or JOIN) */
	uint32_t pipe;   /* its connection; 0 for the head's own node */
};

struct head {
	pthread_mutex_t mu; /* guards members: nng's notify thread removes */
	struct member *m;
	size_t n, cap;
	uint64_t next_id;
	int64_t lag_ms; /* how late the loop has been running, recently */
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
	for (size_t i = 0; i < h->n; i++) {
		struct member *x = &h->m[i];
		if (x->pipe == pipe) {
			wire_log("node %llu (%s at %s) disconnected: its connection from %s closed; removed",
			         (unsigned long long)x->id, x->host, x->address, peer);
			remove_member(h, x);
			break;
		}
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

/* A heartbeat or LEAVE must name a live member on the connection it joined on. */
static struct member *member_of(struct head *h, uint64_t id, uint64_t epoch, uint32_t pipe)
{
	struct member *x = find_member(h, id);
	if (!x || x->epoch != epoch || x->pipe != pipe || x->state != N_ALIVE)
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
		x->last_ms = now_ms();
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
	if (x) {
		wire_log("node %llu (%s at %s) left", (unsigned long long)x->id, x->host, x->address);
		remove_member(h, x);
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
			o->state = x->state == N_ALIVE ? "alive" : "dead";
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

static void check_silence(struct head *h)
{
	int64_t now = now_ms();
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++) {
		struct member *x = &h->m[i];
		if (!x->pipe || x->state != N_ALIVE)
			continue;
		/* our own lateness is not the worker's silence */
		if (now - x->last_ms > HEAD_DEAD_MS + h->lag_ms) {
			x->state = N_DEAD;
			wire_log("node %llu (%s at %s) declared dead: no heartbeat for %lld ms "
			         "(head loop lag %lld ms)", (unsigned long long)x->id, x->host,
			         x->address, (long long)(now - x->last_ms), (long long)h->lag_ms);
		}
	}
	pthread_mutex_unlock(&h->mu);
}

int head_run(const struct node_opts *o, verr *e)
{
	struct head h = {.next_id = 1};
	pthread_mutex_init(&h.mu, NULL);
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
			default: {
				char why[128];
				snprintf(why, sizeof why, "the head does not serve %s", wire_kind_name(m.kind));
				wire_server_reply_error(s, WIRE_EREFUSED, why);
			}
			}
			wire_msg_free(&m);
		}
		check_silence(&h);
		/* the loop's lag: a wait that overran its timeout (the head was not
		 * scheduled) plus the time spent handling; the peak, decayed */
		int64_t t2 = now_ms();
		int64_t late = (rc == WIRE_ETIMEDOUT && t1 - t0 > LOOP_MS ? t1 - t0 - LOOP_MS : 0) + (t2 - t1);
		h.lag_ms = late > h.lag_ms ? late : h.lag_ms * 7 / 8;
	}
	wire_log("head stopping (%zu workers connected)", h.n ? h.n - 1 : 0);
	wire_server_close(s);
	pthread_mutex_lock(&h.mu);
	free(h.m);
	pthread_mutex_unlock(&h.mu);
	pthread_mutex_destroy(&h.mu);
	return 0;
}
