/* head.c - the head daemon: membership over the authenticated listener. */
#include "head.h"
#include "executor/mono_clock.h"
#include "lang/value.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors.h"
#include "auth.h"
#include "batch.h"
#include "place.h"
#include "starts.h"
#include "objects.h"
#include "plans.h"
#include "spill.h"
#include "task_exec.h"
#include "transport.h"
#include "tls.h"

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

/* The head's connection to a worker's own listener, for RUN_TASKS. Made
 * on first use, kept until the head stops (a lost node's link is marked
 * dead; a later call to that node makes a new one). Its pump sends the
 * batches. */
struct link {
	struct head *h;
	uint64_t node;
	char address[128], host[256];
	wire_client *c;
	pthread_mutex_t mu;  /* one plan upload at a time on this link */
	uint8_t (*plans)[32]; /* the plans this node holds */
	size_t nplans;
	pthread_mutex_t wmu; /* the plans its calls need (dispatch adds) */
	uint8_t (*wants)[32];
	size_t nwants;
	bt_pump *pump;
	uint32_t inflight;   /* calls sent, no outcome yet (h->fmu) */
	int dead;            /* lost (h->fmu) */
};

/* A client's task call, from RUN_TASKS to its outcome. */
struct hcall {
	uint64_t hid, cid;  /* the head's id for it (on the links), the client's */
	uint32_t pipe;      /* the client's connection */
	uint64_t node;      /* 0 while queued here */
	struct link *l;     /* the worker's link it went on */
	struct wire_call c; /* while queued: the call (its args owned) */
	struct hcall *next; /* the queue */
	const bc_attrs *needs; /* @cpus/@memory/@resources other than one CPU, or NULL */
	place_offer *held;  /* the offer its needs are held on, once placed (fmu) */
	uint64_t near;      /* the node holding its largest argument (0: none) */
	bool report;        /* its node reports its start (starts.h): its args are
	                     * kept while it is out, to send it again if it had not */
	bool started;       /* its node reported its start (STARTED) */
	uint8_t resent;     /* times sent again because its node was lost first */
};

/* A client's lease on a worker: the client sends task calls to it
 * straight (docs/wire.md, "Direct calls"); running is what its last
 * report said was in flight there. Under fmu. */
struct hlease {
	uint32_t pipe;
	uint64_t node;
	uint32_t running;
};

/* A connected `flow run --address` (from its first PLAN_PUT until its
 * connection closes), for `flow status`. */
struct hjob {
	uint64_t id;
	uint32_t pipe;
	char client[64];
	uint8_t hash[32];   /* its plan */
	int64_t start_unix_ms;
	uint64_t done, failed; /* outcomes sent back */
	uint64_t wire_job;  /* the client's number for it (its calls' job), 0 until known */
	uint64_t spilled;   /* its nested calls that nodes spilled here */
};

struct head {
	pthread_mutex_t fmu; /* guards calls, the queue, links (forwarding);
	                      * taken before mu, never after */
	bt_map calls;        /* hcalls by head id */
	struct hcall *qh, *qt; /* calls waiting for a node, in order */
	struct hcall *rqh, *rqt; /* calls with needs (place.h) waiting, in order */
	place_offer **offers; /* what each node offers and its calls hold */
	size_t noffers;
	uint64_t seq;
	bt_outbox *out;      /* outcomes for each client */
	bt_pool *pool;       /* node 1's task threads (NULL: --cpus 0) */
	uint32_t local_inflight;
	_Atomic uint32_t local_busy; /* node 1's threads running a task (its pool counts) */
	pthread_mutex_t mu; /* guards members, plans */
	struct member *m;
	size_t n, cap;
	uint64_t next_id;
	int64_t lag_ms; /* how late the loop has been running, recently */
	int64_t lag_at; /* when lag_ms last decayed */
	const auth_token *token;
	struct plan_store plans; /* plans clients sent, to ship to workers */
	struct link **links;
	size_t nlinks;
	size_t rr;           /* where the next search for a node starts (fmu) */
	struct hlease *leases; /* clients' leases on workers (fmu) */
	size_t nleases;
	uint64_t lrr;        /* the last node leased, for round robin (fmu) */
	char name[300];      /* "node 1 (host1)": who ran a task, in TASKS_DONE */
	/* the connections of clients that went away (a ring): their task
	 * calls still waiting for a node are dropped, not run */
	uint32_t gone[256];
	unsigned ngone;
	uint64_t dropped;    /* task calls dropped so */
	uint64_t gone_jobs[64]; /* the jobs of clients that went away (a ring, fmu) */
	unsigned ngone_jobs;
	flow_node_view view; /* what tasks on the head's node read (id "1") */
	pthread_mutex_t jmu; /* guards jobs (a leaf: no lock taken under it) */
	struct hjob *jobs;
	size_t njobs;
	uint64_t next_job;
	ac_dir *ad;          /* the actor directory (actors.h) */
	ac_host *actors;     /* actors on node 1 (NULL: --cpus 0) */
	ac_service *svc;     /* actor calls made on node 1 */
	/* node 1's spilled nested calls (spill.h): its tasks' local link,
	 * whose calls are queued here with pipe HEAD_SELF_PIPE and whose
	 * outcomes head_put hands to it (smu: taken alone) */
	pthread_mutex_t smu;
	cl_spill *spill;
};

/* The pipe of node 1's spilled nested calls: no connection's (nng's
 * pipe ids are below 2^31), so the outbox keeps none of their outcomes. */
#define HEAD_SELF_PIPE 0xffffffffu

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
	x->last_ms = mono_now_ms();
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

static void forward_gone(struct head *h, uint32_t pipe, bool node, uint64_t known_job);

/* Outcomes, encoded (each tagged with its call's pipe), go to their
 * clients' outboxes; those of node 1's spilled nested calls to the local
 * spill link, which hands them to their callers. */
static void head_put(struct head *h, bt_recs *r)
{
	size_t off = 0;
	for (size_t i = 0; i < r->n; off += r->len[i], i++) {
		if (r->tag[i] != HEAD_SELF_PIPE)
			continue;
		pthread_mutex_lock(&h->smu);
		if (h->spill)
			cl_spill_deliver(h->spill, (const char *)r->data.data + off, r->len[i]);
		pthread_mutex_unlock(&h->smu);
	}
	bt_outbox_put(h->out, r); /* HEAD_SELF_PIPE has no box: dropped there */
}

/* ---- jobs: each connected `flow run --address`, for `flow status` ------ */

/* Wall-clock ms, not mono_now_ms: a job's start that `flow status` prints
 * as a date (and --json gives as Unix time). */
static int64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A client sent its plan: a job begins (once per connection). */
static void job_begin(struct head *h, uint32_t pipe, const char *peer, const uint8_t hash[32])
{
	pthread_mutex_lock(&h->jmu);
	size_t i = 0;
	while (i < h->njobs && h->jobs[i].pipe != pipe)
		i++;
	if (i == h->njobs) {
		struct hjob *nj = realloc(h->jobs, (h->njobs + 1) * sizeof *nj);
		if (nj) {
			h->jobs = nj;
			struct hjob *j = &h->jobs[h->njobs++];
			memset(j, 0, sizeof *j);
			j->id = ++h->next_job;
			j->pipe = pipe;
			snprintf(j->client, sizeof j->client, "%s", peer);
			memcpy(j->hash, hash, 32);
			j->start_unix_ms = unix_ms();
			wire_log("job %llu began: a run from %s", (unsigned long long)j->id, peer);
		}
	}
	pthread_mutex_unlock(&h->jmu);
}

/* Its connection closed: the job is over. Returns the job its calls
 * carried (0: none came, or not a client's connection). */
static uint64_t job_end(struct head *h, uint32_t pipe)
{
	uint64_t wjob = 0;
	pthread_mutex_lock(&h->jmu);
	for (size_t i = 0; i < h->njobs; i++)
		if (h->jobs[i].pipe == pipe) {
			wjob = h->jobs[i].wire_job;
			wire_log("job %llu ended: %llu task calls done, %llu failed",
			         (unsigned long long)h->jobs[i].id, (unsigned long long)h->jobs[i].done,
			         (unsigned long long)h->jobs[i].failed);
			h->jobs[i] = h->jobs[--h->njobs];
			break;
		}
	pthread_mutex_unlock(&h->jmu);
	return wjob;
}

/* Outcomes going back to clients: counted for their jobs. Each record
 * starts with the call's id (U64) and ok (U8). */
static void job_count(struct head *h, const bt_recs *r)
{
	if (!r->n)
		return;
	pthread_mutex_lock(&h->jmu);
	size_t off = 0;
	struct hjob *j = NULL;
	for (size_t i = 0; i < r->n; i++) {
		if (!j || j->pipe != r->tag[i]) {
			j = NULL;
			for (size_t k = 0; k < h->njobs && !j; k++)
				if (h->jobs[k].pipe == r->tag[i])
					j = &h->jobs[k];
		}
		if (j && r->len[i] > 8) {
			if (((const uint8_t *)r->data.data)[off + 8] == WIRE_DONE_OK)
				j->done++;
			else
				j->failed++;
		}
		off += r->len[i];
	}
	pthread_mutex_unlock(&h->jmu);
}

/* nng thread: a worker's connection closed (a stop, a crash, kill -9). */
static void on_gone(void *arg, uint32_t pipe, const char *peer)
{
	struct head *h = arg;
	bool node = false;
	pthread_mutex_lock(&h->mu);
	h->gone[h->ngone++ % 256] = pipe; /* a client's, or a worker's: both are done */
	for (size_t i = 0; i < h->n; i++) {
		struct member *x = &h->m[i];
		if (x->pipe != pipe || x->closed)
			continue;
		node = true;
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
	uint64_t wjob = job_end(h, pipe);
	forward_gone(h, pipe, node, wjob); /* its outcomes and queued calls go */
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
		int64_t now = mono_now_ms();
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
		x->last_ms = mono_now_ms();
		wire_log("node %llu (%s at %s) left: draining (no new tasks)", (unsigned long long)x->id,
		         x->host, x->address);
	}
	pthread_mutex_unlock(&h->mu);
	struct wire_msg r = {.kind = WM_OK};
	wire_server_reply(s, &r);
}

/* The jobs for STATUS: *out (malloc'd) with their strings in *names
 * (malloc'd, two per job); how many. Takes fmu, then mu, then jmu. */
static size_t list_jobs(struct head *h, struct wire_job **out, char (**names)[2][300])
{
	*out = NULL;
	*names = NULL;
	pthread_mutex_lock(&h->fmu);
	pthread_mutex_lock(&h->jmu);
	size_t n = h->njobs;
	struct wire_job *v = calloc(n ? n : 1, sizeof *v);
	char (*nm)[2][300] = calloc(n ? n : 1, sizeof *nm);
	uint32_t *pipes = calloc(n ? n : 1, sizeof *pipes);
	uint8_t (*hashes)[32] = calloc(n ? n : 1, sizeof *hashes);
	if (!v || !nm || !pipes || !hashes) {
		pthread_mutex_unlock(&h->jmu);
		pthread_mutex_unlock(&h->fmu);
		free(v);
		free(nm);
		free(pipes);
		free(hashes);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct hjob *j = &h->jobs[i];
		v[i].id = j->id;
		v[i].state = "running";
		snprintf(nm[i][0], sizeof nm[i][0], "%s", j->client);
		v[i].start_unix_ms = (uint64_t)j->start_unix_ms;
		v[i].done = j->done;
		v[i].failed = j->failed;
		v[i].spilled = j->spilled;
		pipes[i] = j->pipe;
		memcpy(hashes[i], j->hash, 32);
	}
	pthread_mutex_unlock(&h->jmu);
	/* its calls: waiting here, or placed on a node */
	for (size_t k = 0; k < h->calls.cap; k++) {
		const struct hcall *e = h->calls.vals[k];
		if (!h->calls.keys[k] || !e)
			continue;
		for (size_t i = 0; i < n; i++)
			if (pipes[i] == e->pipe) {
				if (e->node)
					v[i].running++;
				else
					v[i].queued++;
				break;
			}
	}
	for (size_t k = 0; k < h->nleases; k++) /* its direct calls */
		for (size_t i = 0; i < n; i++)
			if (pipes[i] == h->leases[k].pipe)
				v[i].running += h->leases[k].running;
	pthread_mutex_unlock(&h->fmu);
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < n; i++) {
		struct plan_entry *pe = plan_store_find(&h->plans, hashes[i]);
		snprintf(nm[i][1], sizeof nm[i][1], "%s", pe && pe->loaded ? cl_plan_source(pe->loaded) : "?");
	}
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < n; i++) {
		v[i].client = nm[i][0];
		v[i].program = nm[i][1];
	}
	free(pipes);
	free(hashes);
	*out = v;
	*names = nm;
	return n;
}

static void handle_status(struct head *h, wire_server *s)
{
	struct wire_msg r = {.kind = WM_STATUS_REPLY};
	int64_t now = mono_now_ms();
	char (*jnames)[2][300];
	r.u.status_reply.jobs.n = (uint32_t)list_jobs(h, &r.u.status_reply.jobs.v, &jnames);
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
			o->cpus_used = x->id == 1 ? atomic_load(&h->local_busy) : x->cpus_used;
			o->resources = x->resources;
			o->store_cap = x->store_cap;
			/* node 1's objects are this process's (objects.h) */
			o->store_used = x->store_used + (x->id == 1 ? obj_used() : 0);
			o->store_spilled = x->store_spilled + (x->id == 1 ? obj_spilled() : 0);
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
	free(r.u.status_reply.jobs.v);
	free(jnames);
	if (rc != WIRE_OK)
		wire_server_reply_error(s, WIRE_EIO, "the status does not fit in one message");
	else
		wire_server_reply_raw(s, b.data, b.len);
	sbuf_fini(&b);
}

/* ---- remote tasks: the head places batches of calls on nodes ---------- */

/* Calls a node holds at once: one per CPU running, the rest queued on it
 * so that its next ones are there when a CPU frees (the round trip is
 * far longer than a small task). The others wait here, where the calls
 * of a client that went away are dropped. */
#define WINDOW(cpus) ((uint32_t)(cpus) * 128 + 64)

/* The link to node `id` that is not lost, made if needed (under h->fmu). */
static struct link *link_for(struct head *h, uint64_t id, const char *address, const char *host);

/* An outcome for a call that did not run here (ok: WIRE_DONE_LOST, its
 * node was lost; WIRE_DONE_NOTRUN, it could not be placed). Under h->fmu. */
static void fail_call(struct hcall *e, int ok, const char *why, bt_recs *out)
{
	struct wire_done d = {.id = e->cid, .ok = (uint8_t)ok, .error = (char *)why};
	bt_encode_done(&d, out, e->pipe);
}

/* Under h->fmu (or once the head's threads are gone). */
static void free_hcall(struct hcall *e)
{
	if (e->held)
		res_take(&e->held->pool, e->needs, -1);
	val_rele(e->c.args);
	free(e);
}

struct cand {
	uint64_t id;
	uint32_t cpus, inflight;
	struct link *l;
	place_offer *po; /* what it offers and holds (place.h) */
	bool usable;     /* alive: may take calls (else only "could it ever") */
};

/* The offer of member x, made on first use (under fmu and mu). */
static place_offer *offer_of(struct head *h, const struct member *x)
{
	for (size_t i = 0; i < h->noffers; i++)
		if (h->offers[i]->node == x->id)
			return h->offers[i];
	place_offer **no = realloc(h->offers, (h->noffers + 1) * sizeof *no);
	if (!no)
		return NULL;
	h->offers = no;
	place_offer *o = place_offer_new(x->id, x->cpus, (double)x->store_cap, x->resources);
	if (o)
		h->offers[h->noffers++] = o;
	return o;
}

/* The calls clients' leases send to node id straight, as their last
 * reports said, which its load counts (an idle lease counts nothing: a
 * burst of long calls placed now must still spread over every node).
 * Under fmu. */
static uint32_t leased(struct head *h, uint64_t id)
{
	uint32_t n = 0;
	for (size_t i = 0; i < h->nleases; i++)
		if (h->leases[i].node == id)
			n += h->leases[i].running;
	return n;
}

/* Sends call e (taken off its queue) to node `best`. Under fmu. */
static void place_on(struct head *h, struct hcall *e, struct cand *best, sbuf *b,
                     const uint8_t **last_hash, cl_plan **last_plan, bt_recs *out)
{
	e->next = NULL;
	e->c.id = e->hid;
	if (best->id == 1) {
		if (!*last_hash || memcmp(*last_hash, e->c.hash, 32) != 0) {
			pthread_mutex_lock(&h->mu);
			struct plan_entry *pe = plan_store_find(&h->plans, e->c.hash);
			*last_plan = pe ? pe->loaded : NULL; /* stable: plans are kept */
			pthread_mutex_unlock(&h->mu);
			*last_hash = e->c.hash;
		}
		if (!*last_plan) {
			fail_call(e, WIRE_DONE_NOTRUN, "the head does not hold that plan (send PLAN_PUT first)", out);
			bt_map_del(&h->calls, e->hid);
			free_hcall(e);
			return;
		}
		if (e->needs && best->po) {
			res_take(&best->po->pool, e->needs, 1);
			e->held = best->po;
		}
		e->node = 1;
		best->inflight++;
		h->local_inflight++;
		bt_pool_add(h->pool, e->pipe, *last_plan, &e->c);
		return;
	}
	struct link *l = best->l;
	pthread_mutex_lock(&l->wmu);
	size_t k = 0;
	while (k < l->nwants && memcmp(l->wants[k], e->c.hash, 32) != 0)
		k++;
	if (k == l->nwants) {
		uint8_t (*nw)[32] = realloc(l->wants, (l->nwants + 1) * sizeof *nw);
		if (nw) {
			l->wants = nw;
			memcpy(l->wants[l->nwants++], e->c.hash, 32);
		}
	}
	pthread_mutex_unlock(&l->wmu);
	verr ve;
	b->len = 0;
	if (wire_encode_call(&e->c, b, &ve) != WIRE_OK || bt_pump_add(l->pump, b->data, b->len) != 0) {
		char why[700];
		snprintf(why, sizeof why, "node %llu (%s at %s) did not return the task's result: "
		         "its connection failed (the node was lost)", (unsigned long long)l->node,
		         l->host, l->address);
		fail_call(e, WIRE_DONE_LOST, why, out);
		bt_map_del(&h->calls, e->hid);
		free_hcall(e);
		best->inflight = WINDOW(best->cpus); /* no more to it */
		return;
	}
	if (e->needs && best->po) {
		res_take(&best->po->pool, e->needs, 1);
		e->held = best->po;
	}
	if (!e->report) { /* else kept: sent again if its node is lost before it starts */
		val_rele(e->c.args);
		e->c.args = v_none();
	}
	e->node = l->node;
	e->l = l;
	l->inflight++;
	best->inflight++;
}

/* The usable node with a free slot and the fewest calls per CPU where
 * needs (NULL: one CPU) fit now; among equals, round robin (calls made
 * one at a time still spread). NULL: none now. *ever: some node (usable
 * or suspect) could hold them once free. Fewest per CPU rather than most
 * free slots: a bigger node's larger window would take a short burst
 * of long tasks whole while the others idle. */
static struct cand *pick(struct head *h, struct cand *c, size_t nc, const bc_attrs *needs,
                         bool *ever)
{
	struct cand *best = NULL;
	*ever = needs == NULL;
	for (size_t k = 0; k < nc; k++) {
		size_t i = (h->rr + k) % nc;
		if (needs) {
			char why[512];
			if (!c[i].po)
				continue;
			res_never_fits(&c[i].po->pool, needs, why, sizeof why);
			if (why[0])
				continue;
			*ever = true;
			if (!res_fits(&c[i].po->pool, needs))
				continue;
		}
		if (!c[i].usable || c[i].inflight >= WINDOW(c[i].cpus))
			continue;
		if (!best || (uint64_t)c[i].inflight * best->cpus < (uint64_t)best->inflight * c[i].cpus)
			best = &c[i];
	}
	if (best)
		h->rr = (size_t)(best - c) + 1;
	return best;
}

/* Why a call with needs cannot run on this cluster. */
static void say_no_fit(struct hcall *e, bt_recs *out)
{
	char why[700], res[400] = "";
	/* the resources by name: a nested call (spill.h) meets this here,
	 * not at the start of the run */
	for (int i = 0, n = 0; i < e->needs->nresources && n < (int)sizeof res; i++)
		n += snprintf(res + n, sizeof res - (size_t)n, ", %s %g", e->needs->res_names[i],
		              e->needs->res_amounts[i]);
	snprintf(why, sizeof why, "no node of this cluster offers what the task needs "
	         "(@cpus %g, @memory %lld bytes%s): see `flow status`",
	         e->needs->cpus, (long long)e->needs->memory, res);
	fail_call(e, WIRE_DONE_NOTRUN, why, out);
}

/* Places the queued calls on live nodes by their free slots, one batch
 * per node (its pump sends what gathers while its last batch is in
 * flight); calls with needs only where they fit and are free
 * (place.h), the others wait (in order) without holding the rest up.
 * Outcomes of calls that cannot be placed go to out. Under fmu. */
static void dispatch(struct head *h, bt_recs *out)
{
	if (!h->qh && !h->rqh)
		return;
	struct cand c[64];
	size_t nc = 0, nusable = 0;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n && nc < 64; i++) {
		struct member *x = &h->m[i];
		if (!(x->pipe || x->id == 1) || x->cpus == 0)
			continue;
		if (x->state != N_ALIVE && x->state != N_SUSPECT)
			continue;
		if (x->id == 1 && !h->pool)
			continue;
		c[nc].id = x->id;
		c[nc].cpus = x->cpus;
		c[nc].l = NULL;
		c[nc].po = offer_of(h, x);
		c[nc].usable = x->state == N_ALIVE;
		c[nc].inflight = 0;
		if (x->id == 1) {
			c[nc].inflight = h->local_inflight;
		} else if (c[nc].usable) {
			c[nc].l = link_for(h, x->id, x->address, x->host);
			if (!c[nc].l)
				continue;
			c[nc].inflight = c[nc].l->inflight + leased(h, x->id);
		}
		nusable += c[nc].usable;
		nc++;
	}
	pthread_mutex_unlock(&h->mu);
	if (nusable == 0) {
		for (int q = 0; q < 2; q++) {
			struct hcall **qh = q ? &h->rqh : &h->qh;
			while (*qh) {
				struct hcall *e = *qh;
				*qh = e->next;
				fail_call(e, WIRE_DONE_NOTRUN, "no node of this cluster offers CPUs to run the task "
				          "(the head was started with --cpus 0 and no worker has joined)", out);
				bt_map_del(&h->calls, e->hid);
				free_hcall(e);
			}
		}
		h->qt = h->rqt = NULL;
		return;
	}
	const uint8_t *last_hash = NULL;
	cl_plan *last_plan = NULL;
	sbuf b;
	sbuf_init(&b);
	/* calls with needs first: each goes where it fits now, or waits.
	 * Calls of one task share their needs: once those found no room,
	 * its other calls wait without another search */
	const bc_attrs *full[16];
	int nfull = 0;
	for (struct hcall **at = &h->rqh, *prev = NULL; *at;) {
		struct hcall *e = *at;
		bool ever = true, known = false;
		for (int k = 0; k < nfull && !known; k++)
			known = full[k] == e->needs;
		struct cand *best = known ? NULL : pick(h, c, nc, e->needs, &ever);
		if (!best && ever) {
			if (!known && nfull < 16)
				full[nfull++] = e->needs;
			prev = e;
			at = &e->next;
			continue;
		}
		*at = e->next;
		if (h->rqt == e)
			h->rqt = prev;
		if (best) {
			place_on(h, e, best, &b, &last_hash, &last_plan, out);
		} else {
			say_no_fit(e, out);
			bt_map_del(&h->calls, e->hid);
			free_hcall(e);
		}
	}
	while (h->qh) {
		bool ever;
		struct hcall *e = h->qh;
		/* locality: the node holding its largest input, if it has room
		 * (the bytes then never move); else by load */
		struct cand *best = NULL;
		for (size_t i = 0; e->near && i < nc && !best; i++)
			if (c[i].id == e->near && c[i].usable && c[i].inflight < WINDOW(c[i].cpus))
				best = &c[i];
		if (!best)
			best = pick(h, c, nc, NULL, &ever);
		if (!best)
			break; /* every node is full: the rest wait for outcomes */
		h->qh = e->next;
		if (!h->qh)
			h->qt = NULL;
		place_on(h, e, best, &b, &last_hash, &last_plan, out);
	}
	sbuf_fini(&b);
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
	verr ce;
	int rc = plan_send(l->c, hash, buf, total, 30000, &ce);
	free(buf);
	if (rc != 0) {
		verr_set(e, "it did not take the plan: %s", ce.msg);
		return -1;
	}
	uint8_t (*np)[32] = realloc(l->plans, (l->nplans + 1) * sizeof *np);
	if (np) {
		l->plans = np;
		memcpy(l->plans[l->nplans++], hash, 32);
	}
	return 0;
}

/* The pump's link: connected, holding every plan its calls need. */
static wire_client *link_connect(void *arg, verr *e)
{
	struct link *l = arg;
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0;; i++) {
		uint8_t hash[32];
		pthread_mutex_lock(&l->wmu);
		int more = i < l->nwants;
		if (more)
			memcpy(hash, l->wants[i], 32);
		pthread_mutex_unlock(&l->wmu);
		if (!more)
			break;
		verr pe;
		if (prepare_link(l->h, l, hash, &pe) != 0) {
			pthread_mutex_unlock(&l->mu);
			verr_set(e, "node %llu (%s at %s): %s", (unsigned long long)l->node, l->host,
			         l->address, pe.msg);
			return NULL;
		}
	}
	wire_client *c = l->c;
	pthread_mutex_unlock(&l->mu);
	if (!c)
		verr_set(e, "node %llu (%s at %s): not connected", (unsigned long long)l->node, l->host,
		         l->address);
	return c;
}

/* The link when it is connected and holds every plan its calls need,
 * without waiting (its pump then sends from the adding thread); NULL
 * while a pump thread makes it (which holds l->mu). */
static wire_client *link_ready(void *arg)
{
	struct link *l = arg;
	if (pthread_mutex_trylock(&l->mu) != 0)
		return NULL;
	wire_client *c = l->c;
	pthread_mutex_lock(&l->wmu);
	for (size_t i = 0; c && i < l->nwants; i++) {
		size_t k = 0;
		while (k < l->nplans && memcmp(l->plans[k], l->wants[i], 32) != 0)
			k++;
		if (k == l->nplans)
			c = NULL; /* a plan to send first */
	}
	pthread_mutex_unlock(&l->wmu);
	pthread_mutex_unlock(&l->mu);
	return c;
}

/* Outcomes from a worker: back to their clients, with the client's ids.
 * On nng's thread that got them (inline_done): nothing here waits on the
 * network (answers are queued, calls placed on links are sent async). */
static void link_done(void *arg, struct wire_done *d, uint32_t n)
{
	struct link *l = arg;
	struct head *h = l->h;
	bt_recs r;
	bt_recs_init(&r);
	pthread_mutex_lock(&h->fmu);
	for (uint32_t i = 0; i < n; i++) {
		if (d[i].id & AC_ID_BIT)
			continue; /* an actor's: below, without fmu (actors.h) */
		struct hcall *e = bt_map_del(&h->calls, d[i].id);
		if (e) {
			if (e->l && e->l->inflight)
				e->l->inflight--;
			d[i].id = e->cid;
			bt_encode_done(&d[i], &r, e->pipe);
			free_hcall(e);
		}
		wire_done_free(&d[i]);
	}
	dispatch(h, &r);
	pthread_mutex_unlock(&h->fmu);
	for (uint32_t i = 0; i < n; i++)
		if (d[i].id & AC_ID_BIT) {
			ac_dir_done(h->ad, &d[i]);
			wire_done_free(&d[i]);
		}
	job_count(h, &r);
	head_put(h, &r);
	bt_recs_fini(&r);
}

/* Calls with effects that link l's node held and had not reported as
 * started (starts.h) did not run there: they go back to the head's queue
 * (first, in their order) to be placed on a live node, at most
 * STARTS_RESEND times each, without their client knowing. Under fmu;
 * how many. */
#define STARTS_RESEND 3
static int by_hid(const void *a, const void *b)
{
	uint64_t x = (*(struct hcall *const *)a)->hid, y = (*(struct hcall *const *)b)->hid;
	return x < y ? -1 : x > y;
}

static size_t requeue_unstarted(struct head *h, struct link *l)
{
	struct hcall **v = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < h->calls.cap; i++) {
		struct hcall *e = h->calls.vals[i];
		if (!h->calls.keys[i] || !e || e->l != l || !e->report || e->started ||
		    e->resent >= STARTS_RESEND || e->c.args.t != V_LIST)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct hcall **nv = realloc(v, cap * sizeof *nv);
			if (!nv)
				abort(); /* a head out of memory cannot go on */
			v = nv;
		}
		v[n++] = e;
	}
	/* ids grow with arrival: in id order, each queue keeps its order */
	if (n > 1)
		qsort(v, n, sizeof *v, by_hid); /* (v is NULL when n is 0) */
	struct hcall *back[2] = {NULL, NULL}, *last[2] = {NULL, NULL};
	for (size_t k = 0; k < n; k++) {
		struct hcall *e = v[k];
		e->resent++;
		e->l = NULL; /* off the lost link: not failed below */
		e->node = 0;
		if (e->held) {
			res_take(&e->held->pool, e->needs, -1);
			e->held = NULL;
		}
		e->next = NULL;
		int q = e->needs != NULL;
		if (last[q])
			last[q]->next = e;
		else
			back[q] = e;
		last[q] = e;
	}
	free(v);
	/* before the calls that wait at the head: they were sent first */
	for (int q = 0; q < 2; q++) {
		if (!back[q])
			continue;
		struct hcall **qh = q ? &h->rqh : &h->qh, **qt = q ? &h->rqt : &h->qt;
		last[q]->next = *qh;
		if (!*qh)
			*qt = last[q];
		*qh = back[q];
	}
	return n;
}

/* STARTED (starts.h): node `node_id` is about to start these calls and
 * waits for this answer. A call is accepted when it is still out on that
 * node's live link (a task call's start reported again by that node is
 * accepted again: it runs there once), or, an actor's, still sent to that
 * node and not reported before; the others (the node was lost meanwhile
 * and the call went elsewhere, or its client went away) are refused: not
 * run there. */
static void handle_started(struct head *h, wire_server *s, uint32_t pipe, struct wire_started *m)
{
	pthread_mutex_lock(&h->mu);
	struct member *x = member_of(h, m->node_id, m->epoch, pipe);
	pthread_mutex_unlock(&h->mu);
	if (!x) {
		wire_server_reply_error(s, WIRE_ENODE, "this node is not a member any more "
		                        "(declared dead or removed): its calls went elsewhere");
		return;
	}
	if (m->ids.len % 8 != 0) {
		wire_server_reply_error(s, WIRE_EMALFORMED, "STARTED: ids is not a list of 8-byte ids");
		return;
	}
	size_t n = m->ids.len / 8, nref = 0;
	uint8_t *refused = malloc(n ? 8 * n : 1);
	if (!refused) {
		wire_server_reply_error(s, WIRE_EIO, "out of memory");
		return;
	}
	pthread_mutex_lock(&h->fmu);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = st_id_at(m->ids.data, i);
		if (id & AC_ID_BIT)
			continue; /* below, without fmu */
		/* the node it is out on may start it; a second report of the same
		 * call from that node (a report ahead raced with the call's own)
		 * is answered as the first was */
		struct hcall *e = bt_map_get(&h->calls, id);
		if (e && e->l && !e->l->dead && e->l->node == m->node_id)
			e->started = true;
		else
			st_ids_put(&id, 1, refused + 8 * nref++);
	}
	pthread_mutex_unlock(&h->fmu);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = st_id_at(m->ids.data, i);
		if ((id & AC_ID_BIT) && !ac_dir_started(h->ad, m->node_id, id))
			st_ids_put(&id, 1, refused + 8 * nref++);
	}
	struct wire_msg r = {.kind = WM_STARTED_ACK};
	r.u.started_ack.refused.data = refused;
	r.u.started_ack.refused.len = (uint32_t)(8 * nref);
	wire_server_reply(s, &r);
	free(refused);
}

/* A worker's link failed: every call it held fails, naming the node. */
static void link_lost(void *arg, const char *why, int in_call)
{
	struct link *l = arg;
	struct head *h = l->h;
	char text[900];
	if (in_call)
		snprintf(text, sizeof text, "node %llu (%s at %s) did not return the task's result: %s%s",
		         (unsigned long long)l->node, l->host, l->address, why,
		         l->c && wire_client_lost(l->c) ? " (the node was lost)" : "");
	else
		snprintf(text, sizeof text, "%s", why);
	bt_recs r;
	bt_recs_init(&r);
	pthread_mutex_lock(&h->fmu);
	l->dead = 1;
	size_t lost = 0, again = requeue_unstarted(h, l);
	for (size_t i = 0; i < h->calls.cap; i++) {
		struct hcall *e = h->calls.vals[i];
		if (!h->calls.keys[i] || !e || e->l != l)
			continue;
		fail_call(e, WIRE_DONE_LOST, text, &r);
		lost++;
	}
	/* deleted apart: a deletion moves the entries after it */
	for (size_t k = 0; k < r.n; k++) {
		for (size_t i = 0; i < h->calls.cap; i++) {
			struct hcall *e = h->calls.vals[i];
			if (h->calls.keys[i] && e && e->l == l) {
				bt_map_del(&h->calls, e->hid);
				free_hcall(e);
				break;
			}
		}
	}
	l->inflight = 0;
	dispatch(h, &r);
	pthread_mutex_unlock(&h->fmu);
	if (lost)
		wire_log("%zu task call%s lost: %s", lost, lost == 1 ? "" : "s", text);
	if (again)
		wire_log("%zu task call%s with effects that node %llu (%s) had not started: placed again",
		         again, again == 1 ? "" : "s", (unsigned long long)l->node, l->host);
	char nodetext[700];
	snprintf(nodetext, sizeof nodetext, "node %llu (%s at %s) was lost",
	         (unsigned long long)l->node, l->host, l->address);
	ac_dir_node_lost(h->ad, l->node, nodetext); /* its actors restart or die */
	job_count(h, &r);
	head_put(h, &r);
	bt_recs_fini(&r);
}

static struct link *link_for(struct head *h, uint64_t id, const char *address, const char *host)
{
	for (size_t i = 0; i < h->nlinks; i++)
		if (h->links[i]->node == id && !h->links[i]->dead)
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
	l->h = h;
	l->node = id;
	snprintf(l->address, sizeof l->address, "%s", address);
	snprintf(l->host, sizeof l->host, "%s", host);
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->wmu, NULL);
	l->pump = bt_pump_start(&(bt_pump_ops){link_connect, link_done, link_lost, link_ready, 1}, l, 2);
	h->links[h->nlinks++] = l;
	return l;
}

/* The head's own node finished calls (a group of outcomes, bt_pool). */
static void local_done(void *arg, bt_recs *r)
{
	struct head *h = arg;
	pthread_mutex_lock(&h->fmu);
	uint8_t *rec = (uint8_t *)r->data.data;
	for (size_t k = 0, n = r->n; k < n; rec += r->len[k], k++) {
		uint64_t hid = 0;
		for (int i = 0; i < 8; i++)
			hid |= (uint64_t)rec[i] << (8 * i);
		struct hcall *e = bt_map_del(&h->calls, hid);
		r->tag[k] = 0; /* no client: dropped */
		if (e) {
			for (int i = 0; i < 8; i++)
				rec[i] = (uint8_t)(e->cid >> (8 * i));
			r->tag[k] = e->pipe;
			free_hcall(e);
		}
		if (h->local_inflight)
			h->local_inflight--;
	}
	dispatch(h, r);
	pthread_mutex_unlock(&h->fmu);
	job_count(h, r);
	head_put(h, r);
}

/* CANCELs to send, off the nng thread that saw the client go. */
struct cancel {
	struct link *l[64];
	uint64_t job[64];
	size_t n;
};

static void *cancel_main(void *arg)
{
	struct cancel *cx = arg;
	for (size_t i = 0; i < cx->n; i++) {
		wire_client *c = __atomic_load_n(&cx->l[i]->c, __ATOMIC_ACQUIRE);
		struct wire_msg m = {.kind = WM_CANCEL}, rep;
		m.u.cancel.job = cx->job[i];
		verr e;
		if (c && wire_client_call(c, &m, &rep, 5000, &e) == WIRE_OK)
			wire_msg_free(&rep);
	}
	free(cx);
	return NULL;
}

/* The jobs of calls spilled from task bodies (spill.h) travel with
 * their caller's job but on the connection of the caller's node (or
 * HEAD_SELF_PIPE): a client's jobs seen when it went, so that those
 * arriving after are not run either (fmu). */
#define GONE_JOBS 64

static bool job_in(const uint64_t *v, size_t n, uint64_t job)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == job)
			return true;
	return false;
}

/* Was job's client gone? (fmu) */
static bool job_gone(struct head *h, uint64_t job)
{
	size_t n = h->ngone_jobs < GONE_JOBS ? h->ngone_jobs : GONE_JOBS;
	return job && job_in(h->gone_jobs, n, job);
}

/* The client's connection closed (Ctrl-C): its calls that wait for a
 * node are dropped, not run (here, and by CANCEL on the workers);
 * outcomes still to come for it are dropped. So are the nested calls its
 * tasks spilled (spill.h; they carry its job but came on their caller's
 * node's connection): those waiting here or in node 1's queue end as not
 * run, CANCEL goes to every node running one (not only to the nodes
 * holding the client's own calls), node 1 stops its own, and those that
 * arrive later are not run. node: the connection was a worker's, whose
 * tasks' spilled nested calls came on it: those waiting here are dropped
 * (their callers were lost with it and re-run with them: fate-sharing),
 * but nothing is CANCELled, as CANCEL stops a whole job, whose other
 * calls still run for their live client; those running end unread. */
static void forward_gone(struct head *h, uint32_t pipe, bool node, uint64_t known_job)
{
	bt_outbox_drop(h->out, pipe);
	ac_dir_client_gone(h->ad, pipe); /* the actors its run made go */
	bt_recs r;
	bt_recs_init(&r);
	pthread_mutex_lock(&h->fmu);
	uint64_t leased_to[16]; /* the workers its direct calls went to */
	size_t nleased = 0;
	for (size_t i = 0; i < h->nleases;) /* its leases end with it */
		if (h->leases[i].pipe == pipe) {
			if (nleased < 16)
				leased_to[nleased++] = h->leases[i].node;
			h->leases[i] = h->leases[--h->nleases];
		} else {
			i++;
		}
	/* a client's jobs: the one its calls carried (known even when they
	 * all went direct: its first calls come through here), and those of
	 * its calls still here or out */
	uint64_t jobs[16];
	size_t njobs = 0;
	if (known_job && !node)
		jobs[njobs++] = known_job;
	for (size_t i = 0; !node && i < h->calls.cap; i++) {
		struct hcall *e = h->calls.vals[i];
		if (h->calls.keys[i] && e && e->pipe == pipe && e->c.job && !job_in(jobs, njobs, e->c.job) &&
		    njobs < 16)
			jobs[njobs++] = e->c.job;
	}
	for (size_t k = 0; k < njobs; k++)
		h->gone_jobs[h->ngone_jobs++ % GONE_JOBS] = jobs[k];
	size_t dropped = 0, nspilled = 0;
	uint64_t job = njobs ? jobs[0] : 0;
	for (int q = 0; q < 2; q++) /* both queues: calls with needs, the others */
	for (struct hcall **at = q ? &h->rqh : &h->qh, *prev = NULL; *at;) {
		struct hcall *e = *at;
		bool spilled = e->pipe != pipe && job_in(jobs, njobs, e->c.job);
		if (e->pipe != pipe && !spilled) {
			prev = e;
			at = &e->next;
			continue;
		}
		*at = e->next;
		if ((q ? h->rqt : h->qt) == e)
			*(q ? &h->rqt : &h->qt) = prev;
		job = e->c.job;
		if (spilled) /* its caller's node hears it did not run */
			fail_call(e, WIRE_DONE_NOTRUN, "the client went away", &r);
		bt_map_del(&h->calls, e->hid);
		free_hcall(e);
		dropped += !spilled;
		nspilled += spilled;
	}
	for (size_t k = 0; k <= njobs && h->pool; k++) {
		/* node 1's queue: the client's calls, then its jobs' spilled ones */
		uint64_t *ids = NULL;
		size_t n = k == 0 ? bt_pool_drop(h->pool, 0, pipe, &ids)
		                  : bt_pool_drop(h->pool, 1, jobs[k - 1], &ids);
		for (size_t i = 0; i < n; i++) {
			struct hcall *e = bt_map_del(&h->calls, ids[i]);
			if (e) {
				job = e->c.job;
				if (e->pipe != pipe) {
					fail_call(e, WIRE_DONE_NOTRUN, "the client went away", &r);
					nspilled++;
				} else {
					dropped++;
				}
				free_hcall(e);
			}
			if (h->local_inflight)
				h->local_inflight--;
		}
		free(ids);
	}
	h->dropped += dropped + nspilled;
	/* the workers drop what they hold queued of its jobs and stop what
	 * runs: each node holding a call of them, whoever sent it */
	struct cancel *cx = node ? NULL : calloc(1, sizeof *cx);
	uint64_t local_jobs[16]; /* its jobs' calls running on the head's own pool */
	size_t nlocal = 0;
	for (size_t i = 0; cx && i < h->calls.cap; i++) {
		struct hcall *e = h->calls.vals[i];
		if (!h->calls.keys[i] || !e || !(e->pipe == pipe || job_in(jobs, njobs, e->c.job)))
			continue;
		if (e->node == 1 && !job_in(local_jobs, nlocal, e->c.job) && nlocal < 16)
			local_jobs[nlocal++] = e->c.job;
		if (!e->l || e->l->dead)
			continue;
		size_t k = 0;
		while (k < cx->n && !(cx->l[k] == e->l && cx->job[k] == e->c.job))
			k++;
		if (k == cx->n && cx->n < 64) {
			cx->l[cx->n] = e->l;
			cx->job[cx->n++] = e->c.job;
		}
	}
	/* and the workers it leased: its direct calls run there (with the
	 * head's link to them, when it has one) */
	for (size_t k = 0; cx && k < nleased; k++)
		for (size_t i = 0; i < h->nlinks; i++) {
			struct link *l = h->links[i];
			if (l->node != leased_to[k] || l->dead)
				continue;
			for (size_t j = 0; j < njobs; j++) {
				size_t m = 0;
				while (m < cx->n && !(cx->l[m] == l && cx->job[m] == jobs[j]))
					m++;
				if (m == cx->n && cx->n < 64) {
					cx->l[cx->n] = l;
					cx->job[cx->n++] = jobs[j];
				}
			}
		}
	dispatch(h, &r);
	pthread_mutex_unlock(&h->fmu);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	val_threads_begin(); /* the new thread touches values (value.h) */
	if (cx && (cx->n == 0 || pthread_create(&t, &at, cancel_main, cx) != 0))
		free(cx);
	pthread_attr_destroy(&at);
	if (dropped)
		wire_log("job %llu: its client went away; dropped its %zu task calls that waited for a node",
		         (unsigned long long)job, dropped);
	if (nspilled)
		wire_log("job %llu: its client went away; dropped %zu nested calls its tasks spilled",
		         (unsigned long long)job, nspilled);
	size_t stopped = 0;
	for (size_t k = 0; k < nlocal; k++) /* as CANCEL on a worker */
		stopped += cl_task_cancel_job(local_jobs[k]);
	if (stopped)
		wire_log("job %llu: its client went away; stopping its %zu task calls running here",
		         (unsigned long long)local_jobs[0], stopped);
	head_put(h, &r);
	bt_recs_fini(&r);
}

static bool client_gone(struct head *h, uint32_t pipe)
{
	bool gone = false;
	pthread_mutex_lock(&h->mu);
	unsigned n = h->ngone < 256 ? h->ngone : 256;
	for (unsigned i = 0; i < n && !gone; i++)
		gone = h->gone[i] == pipe;
	pthread_mutex_unlock(&h->mu);
	return gone;
}

/* Parks the request until outcomes for pipe are ready (or wait_ms). */
static void wait_outcomes(struct head *h, wire_server *s, uint32_t pipe, uint32_t wait_ms)
{
	wire_pending *p = wire_server_detach(s);
	if (!p) {
		wire_server_reply_error(s, WIRE_EIO, "the head is out of resources");
		return;
	}
	bt_outbox_wait(h->out, pipe, p, wait_ms);
}

/* Nested calls a node spilled (n of them at v): counted for their job
 * (under h->jmu). */
static void count_spilled(struct head *h, const struct wire_call *v, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++)
		for (size_t j = 0; j < h->njobs; j++)
			if (h->jobs[j].wire_job && h->jobs[j].wire_job == v[k].job) {
				h->jobs[j].spilled++;
				break;
			}
}

/* Calls came on pipe. From a job's client (its job began there): they
 * tell the job's number (the first kept), and false is returned. From
 * any other connection they are nested calls a node spilled: counted for
 * their job, and true is returned. (Node 1's come by self_submit.) */
static bool job_calls(struct head *h, uint32_t pipe, const struct wire_run_tasks *m)
{
	if (!m->calls.n)
		return false;
	pthread_mutex_lock(&h->jmu);
	size_t i = 0;
	while (i < h->njobs && h->jobs[i].pipe != pipe)
		i++;
	bool spilled = i == h->njobs;
	if (!spilled) {
		if (!h->jobs[i].wire_job)
			h->jobs[i].wire_job = m->calls.v[0].job;
	} else {
		count_spilled(h, m->calls.v, m->calls.n);
	}
	pthread_mutex_unlock(&h->jmu);
	return spilled;
}

/* RUN_TASKS: the calls are queued and placed; the request is answered
 * with outcomes as they come, while the loop goes on serving. */
/* Locality: the node that holds the largest of args' objects (a result
 * left on the node that made it, objects.h), or 0. */
static uint64_t holder_of(struct head *h, value args)
{
	if (args.t != V_LIST)
		return 0;
	char holder[128], best[128] = "";
	uint64_t total, most = 0;
	for (size_t i = 0; i < list_len(args); i++)
		if (obj_is_ref(list_get(args, i), NULL, holder, sizeof holder, &total) && total > most) {
			most = total;
			snprintf(best, sizeof best, "%s", holder);
		}
	if (!best[0])
		return 0;
	uint64_t id = 0;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n && !id; i++)
		if (strcmp(h->m[i].address, best) == 0 && h->m[i].state == N_ALIVE)
			id = h->m[i].id;
	pthread_mutex_unlock(&h->mu);
	return id;
}

/* Queues call c of pipe (its args taken: none after) to be placed
 * (dispatch), or, when spilled (a node's nested call), answers it not run
 * into out if its job's client went away (a client's own calls are its
 * live job's, whatever job id an earlier client used); *last_hash,
 * *last_plan: the plan of the call before. Under fmu. */
static void queue_call(struct head *h, uint32_t pipe, bool spilled, struct wire_call *c,
                       const uint8_t **last_hash, cl_plan **last_plan, bt_recs *out)
{
	struct hcall *e = calloc(1, sizeof *e);
	if (!e)
		abort();
	e->hid = ++h->seq;
	e->cid = c->id;
	e->pipe = pipe;
	e->c = *c;
	c->args = v_none(); /* now e's */
	if (spilled && job_gone(h, e->c.job)) {
		/* a nested call of a job whose client went away (spilled
		 * after it went): not run */
		fail_call(e, WIRE_DONE_NOTRUN, "the client went away", out);
		free_hcall(e);
		return;
	}
	bt_map_put(&h->calls, e->hid, e);
	/* what it needs, from its plan (kept: the pointer stays valid) */
	if (!*last_hash || memcmp(*last_hash, e->c.hash, 32) != 0) {
		pthread_mutex_lock(&h->mu);
		struct plan_entry *pe = plan_store_find(&h->plans, e->c.hash);
		*last_plan = pe ? pe->loaded : NULL;
		pthread_mutex_unlock(&h->mu);
		*last_hash = e->c.hash;
	}
	e->near = holder_of(h, e->c.args);
	const bc_attrs *needs = *last_plan ? cl_plan_needs(*last_plan, e->c.fn) : NULL;
	e->report = st_needs_report(*last_plan, e->c.fn);
	e->needs = place_has_needs(needs) ? needs : NULL;
	struct hcall **qh = e->needs ? &h->rqh : &h->qh, **qt = e->needs ? &h->rqt : &h->qt;
	if (*qt)
		(*qt)->next = e;
	else
		*qh = e;
	*qt = e;
}

/* Node 1's tasks spill a nested call (spill.h's local link): queued and
 * placed as a worker's spilled call is, with no network hop; its
 * outcome comes back through head_put. On the caller's task thread. */
static int self_submit(void *arg, struct wire_call *c)
{
	struct head *h = arg;
	pthread_mutex_lock(&h->jmu);
	count_spilled(h, c, 1);
	pthread_mutex_unlock(&h->jmu);
	bt_recs r;
	bt_recs_init(&r);
	pthread_mutex_lock(&h->fmu);
	const uint8_t *last_hash = NULL;
	cl_plan *last_plan = NULL;
	queue_call(h, HEAD_SELF_PIPE, true, c, &last_hash, &last_plan, &r);
	dispatch(h, &r);
	pthread_mutex_unlock(&h->fmu);
	job_count(h, &r);
	head_put(h, &r);
	bt_recs_fini(&r);
	return 0;
}

static void handle_run_tasks(struct head *h, wire_server *s, uint32_t pipe, struct wire_run_tasks *m)
{
	if (client_gone(h, pipe)) {
		wire_server_reply_error(s, WIRE_EREFUSED, "the client went away");
		return;
	}
	bt_outbox_open(h->out, pipe);
	bool spilled = job_calls(h, pipe, m);
	bt_recs r;
	bt_recs_init(&r);
	pthread_mutex_lock(&h->fmu);
	const uint8_t *last_hash = NULL;
	cl_plan *last_plan = NULL;
	for (uint32_t i = 0; i < m->calls.n; i++)
		queue_call(h, pipe, spilled, &m->calls.v[i], &last_hash, &last_plan, &r);
	dispatch(h, &r);
	pthread_mutex_unlock(&h->fmu);
	job_count(h, &r);
	head_put(h, &r);
	bt_recs_fini(&r);
	wait_outcomes(h, s, pipe, m->wait_ms);
}

static void handle_wait_done(struct head *h, wire_server *s, uint32_t pipe, struct wire_wait_done *m)
{
	wait_outcomes(h, s, pipe, m->wait_ms);
}

/* RUN_TASKS and WAIT_DONE are served on nng's thread that got them
 * (wire_server_serve_fast): placing and sending the calls waits on
 * nothing, and a lone call then wakes no loop on its way in. */
static void head_fast(void *arg, wire_server *s, uint32_t pipe, struct wire_msg *m)
{
	struct head *h = arg;
	if (m->kind == WM_RUN_TASKS)
		handle_run_tasks(h, s, pipe, &m->u.run_tasks);
	else if (m->kind == WM_STARTED)
		handle_started(h, s, pipe, &m->u.started);
	else
		handle_wait_done(h, s, pipe, &m->u.wait_done);
}

/* LEASE (docs/wire.md, "Direct calls"): a client asks for a worker to
 * send its calls to straight, or reports on the one it holds. The head
 * grants the live worker with the fewest calls per CPU (its forwarded
 * calls and the leases on it), counts the lease in that node's load for
 * placement, the reported direct calls in the job's figures, and ends
 * the lease as soon as the node is not alive (the client then sends
 * through the head). */
static void handle_lease(struct head *h, wire_server *s, uint32_t pipe, struct wire_lease *m)
{
	pthread_mutex_lock(&h->jmu);
	for (size_t i = 0; i < h->njobs; i++)
		if (h->jobs[i].pipe == pipe) {
			h->jobs[i].done += m->done;
			h->jobs[i].failed += m->failed;
			if (m->job)
				h->jobs[i].wire_job = m->job; /* its spilled calls name it */
			break;
		}
	pthread_mutex_unlock(&h->jmu);
	char address[128] = "", name[500] = "";
	const char *state = "gone";
	uint64_t node = 0;
	pthread_mutex_lock(&h->fmu);
	size_t li = 0;
	while (li < h->nleases && !(h->leases[li].pipe == pipe && h->leases[li].node == m->node))
		li++;
	pthread_mutex_lock(&h->mu);
	if (m->op == WIRE_LEASE_TAKE) {
		struct member *best = NULL;
		uint64_t bload = 0;
		for (size_t k = 0; k < h->n; k++) {
			/* round robin among equals: from the one after the last leased */
			struct member *x = &h->m[(k + (size_t)h->lrr) % h->n];
			if (!x->pipe || x->closed || x->state != N_ALIVE || x->cpus == 0)
				continue;
			uint64_t load = leased(h, x->id);
			for (size_t i = 0; i < h->nlinks; i++)
				if (h->links[i]->node == x->id && !h->links[i]->dead)
					load += h->links[i]->inflight;
			if (!best || load * best->cpus < bload * x->cpus) {
				best = x;
				bload = load;
			}
		}
		struct hlease *nl = best ? realloc(h->leases, (h->nleases + 1) * sizeof *nl) : NULL;
		if (nl) {
			h->leases = nl;
			h->leases[h->nleases++] = (struct hlease){pipe, best->id, 0};
			h->lrr = (uint64_t)(best - h->m) + 1;
			node = best->id;
			state = "alive";
			snprintf(address, sizeof address, "%s", best->address);
			snprintf(name, sizeof name, "node %llu (%s at %s)", (unsigned long long)best->id,
			         best->host, best->address);
		}
	} else {
		struct member *x = find_member(h, m->node);
		if (x)
			state = x->closed && x->state != N_DEAD ? "gone" : state_name[x->state];
		if (li < h->nleases) {
			if (m->op == WIRE_LEASE_KEEP && x && x->state == N_ALIVE && !x->closed) {
				node = m->node;
				h->leases[li].running = m->running;
			} else {
				h->leases[li] = h->leases[--h->nleases];
			}
		}
	}
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_unlock(&h->fmu);
	struct wire_msg r = {.kind = WM_LEASED};
	r.u.leased.node = node;
	r.u.leased.address = address;
	r.u.leased.name = name;
	r.u.leased.state = (char *)state;
	wire_server_reply(s, &r);
}

static void handle_plan_put(struct head *h, wire_server *s, uint32_t pipe, const char *peer,
                            struct wire_plan_put *m)
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
	job_begin(h, pipe, peer, m->hash);
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

/* Shuts the head's links to node id so the task calls it holds fail now
 * (their clients send them again: task_run.c). Takes h->fmu: called
 * without h->mu (fmu comes first). Links are freed only when the head
 * stops, so a pointer read under fmu stays valid. */
static void shut_links_to(struct head *h, uint64_t id)
{
	wire_client *cs[16];
	size_t n = 0;
	pthread_mutex_lock(&h->fmu);
	for (size_t i = 0; i < h->nlinks && n < 16; i++)
		if (h->links[i]->node == id)
			cs[n++] = __atomic_load_n(&h->links[i]->c, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&h->fmu);
	for (size_t i = 0; i < n; i++)
		wire_client_shutdown(cs[i]);
}

/* Fences node x (under h->mu): dead, its later messages refused; the
 * caller then shuts its links (shut_links_to, once h->mu is let go). */
static void declare_dead(struct head *h, struct member *x, int64_t now)
{
	x->state = N_DEAD;
	x->dead_ms = now;
	wire_log("node %llu (%s at %s) declared dead: no heartbeat for %lld ms "
	         "(head loop lag %lld ms)", (unsigned long long)x->id, x->host,
	         x->address, (long long)(now - x->last_ms), (long long)h->lag_ms);
}

static void check_silence(struct head *h)
{
	int64_t now = mono_now_ms();
	uint64_t dead[16];
	size_t ndead = 0;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++) {
		struct member *x = &h->m[i];
		if (!x->pipe || x->state == N_DEAD)
			continue;
		/* our own lateness is not the worker's silence */
		int64_t silent = now - x->last_ms;
		if (silent > HEAD_DEAD_MS + h->lag_ms) {
			declare_dead(h, x, now);
			if (ndead < 16)
				dead[ndead++] = x->id;
		} else if (x->state == N_ALIVE && silent > SUSPECT_MS + h->lag_ms) {
			x->state = N_SUSPECT;
			wire_log("node %llu (%s at %s) suspect: no heartbeat for %lld ms (head loop lag %lld ms)",
			         (unsigned long long)x->id, x->host, x->address, (long long)silent,
			         (long long)h->lag_ms);
		}
	}
	prune_dead(h, now);
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < ndead; i++) {
		shut_links_to(h, dead[i]);
		char why[200];
		snprintf(why, sizeof why, "node %llu was declared dead (no heartbeat for %d ms)",
		         (unsigned long long)dead[i], HEAD_DEAD_MS);
		ac_dir_node_lost(h->ad, dead[i], why);
	}
}

/* ---- actors (actors.h): the directory's view of the nodes ---------------- */

static size_t ac_nodes(void *arg, ac_node *out, size_t max)
{
	struct head *h = arg;
	size_t n = 0;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n && n < max; i++) {
		struct member *x = &h->m[i];
		if (!(x->pipe || x->id == 1) || x->state != N_ALIVE || x->cpus == 0)
			continue;
		if (x->id == 1 && !h->actors)
			continue;
		out[n].id = x->id;
		out[n].cpus = x->cpus;
		snprintf(out[n].name, sizeof out[n].name, "node %llu (%s at %s)", (unsigned long long)x->id,
		         x->host, x->address);
		n++;
	}
	pthread_mutex_unlock(&h->mu);
	return n;
}

/* Sends an actor's call record to node: node 1's actors are here; a
 * worker's travel on its link's pump, as task calls do. */
static int ac_send(void *arg, uint64_t node, const struct wire_call *c)
{
	struct head *h = arg;
	char address[128], host[256];
	cl_plan *plan = NULL;
	pthread_mutex_lock(&h->mu);
	ac_host *actors = h->actors; /* NULL once the head stops */
	struct member *x = find_member(h, node);
	int ok = x && x->state != N_DEAD && !(x->closed && x->state != N_ALIVE);
	if (ok) {
		snprintf(address, sizeof address, "%s", x->address);
		snprintf(host, sizeof host, "%s", x->host);
	}
	if (ok && node == 1) {
		struct plan_entry *pe = plan_store_find(&h->plans, c->hash);
		plan = pe ? pe->loaded : NULL;
	}
	pthread_mutex_unlock(&h->mu);
	if (!ok)
		return -1;
	if (node == 1) {
		if (!plan || !actors)
			return -1;
		struct wire_call cc = *c;
		cc.args = val_hold(c->args);
		ac_host_add(actors, 0, plan, &cc);
		val_rele(cc.args);
		return 0;
	}
	sbuf b;
	verr ve;
	sbuf_init(&b);
	int rc = -1;
	pthread_mutex_lock(&h->fmu);
	struct link *l = link_for(h, node, address, host);
	if (l) {
		pthread_mutex_lock(&l->wmu);
		size_t k = 0;
		while (k < l->nwants && memcmp(l->wants[k], c->hash, 32) != 0)
			k++;
		if (k == l->nwants) {
			uint8_t (*nw)[32] = realloc(l->wants, (l->nwants + 1) * sizeof *nw);
			if (nw) {
				l->wants = nw;
				memcpy(l->wants[l->nwants++], c->hash, 32);
			}
		}
		pthread_mutex_unlock(&l->wmu);
		if (wire_encode_call(c, &b, &ve) == WIRE_OK && b.len <= BT_MAX_RECORD &&
		    bt_pump_add(l->pump, b.data, b.len) == 0)
			rc = 0;
	}
	pthread_mutex_unlock(&h->fmu);
	sbuf_fini(&b);
	return rc;
}

/* What the actor that init starts holds on its node (place.h). */
static const bc_attrs *ac_needs(void *arg, const struct wire_call *init)
{
	struct head *h = arg;
	pthread_mutex_lock(&h->mu);
	struct plan_entry *pe = plan_store_find(&h->plans, init->hash);
	const bc_attrs *a = pe && pe->loaded
	                    ? cl_plan_actor_needs(pe->loaded, init->fn & ~WIRE_FN_ACTOR_MASK) : NULL;
	pthread_mutex_unlock(&h->mu);
	return place_actor_has_needs(a) ? a : NULL;
}

/* Takes or gives back an actor's needs on node's offer, the pool task
 * calls with needs are placed by: an actor's gpu is not given to a task
 * while it lives. Giving back lets waiting calls go (dispatch). */
static int ac_hold(void *arg, uint64_t node, const bc_attrs *needs, int sign, char *why, size_t wn)
{
	struct head *h = arg;
	bt_recs r;
	bt_recs_init(&r);
	int rc = -1;
	why[0] = 0;
	pthread_mutex_lock(&h->fmu);
	place_offer *po = NULL;
	for (size_t i = 0; i < h->noffers && !po; i++)
		if (h->offers[i]->node == node)
			po = h->offers[i];
	if (!po && sign > 0) {
		pthread_mutex_lock(&h->mu);
		struct member *x = find_member(h, node);
		po = x ? offer_of(h, x) : NULL;
		pthread_mutex_unlock(&h->mu);
	}
	if (!po) {
		snprintf(why, wn, "this node is gone");
	} else if (sign < 0) {
		res_take(&po->pool, needs, -1);
		dispatch(h, &r);
		rc = 1;
	} else {
		res_never_fits(&po->pool, needs, why, wn);
		if (!why[0]) {
			rc = res_fits(&po->pool, needs);
			if (rc)
				res_take(&po->pool, needs, 1);
		}
	}
	pthread_mutex_unlock(&h->fmu);
	job_count(h, &r);
	head_put(h, &r);
	bt_recs_fini(&r);
	return rc;
}

/* An actor on node 1 ended a call. */
static void ac_local_done(void *arg, uint32_t pipe, struct wire_done *d)
{
	struct head *h = arg;
	(void)pipe;
	ac_dir_done(h->ad, d);
}

/* The directory's answer to a parked ACTOR_CALL. */
static void ac_reply_pending(void *rarg, const struct wire_done *d)
{
	wire_pending *p = rarg;
	struct wire_msg m = {.kind = WM_TASKS_DONE};
	m.u.tasks_done.dones.v = (struct wire_done *)d;
	m.u.tasks_done.dones.n = 1;
	if (wire_pending_reply(p, &m) != WIRE_OK) {
		struct wire_done f = *d;
		f.result = v_none();
		f.ok = d->ok == WIRE_DONE_OK ? WIRE_DONE_FAILED : d->ok;
		f.error = "the result cannot be sent (it cannot be encoded, or exceeds one message)";
		m.u.tasks_done.dones.v = &f;
		if (wire_pending_reply(p, &m) != WIRE_OK)
			wire_pending_error(p, WIRE_EIO, "the actor call's outcome cannot be sent");
	}
}

static void handle_actor_call(struct head *h, wire_server *s, uint32_t pipe, struct wire_actor_call *m)
{
	wire_pending *p = wire_server_detach(s);
	if (!p) {
		wire_server_reply_error(s, WIRE_EIO, "the head is out of resources");
		return;
	}
	ac_dir_request(h->ad, pipe, m, ac_reply_pending, p);
}

int head_run(const struct node_opts *o, verr *e)
{
	struct head h = {.next_id = 1, .token = o->token, .plans = {.load = 1}};
	pthread_mutex_init(&h.mu, NULL);
	pthread_mutex_init(&h.fmu, NULL);
	pthread_mutex_init(&h.jmu, NULL);
	h.out = bt_outbox_new();
	{
		char host[256] = "";
		gethostname(host, sizeof host - 1);
		snprintf(h.name, sizeof h.name, "node 1 (%s)", host);
		h.view = (flow_node_view){.id = "1", .address = "", .alive = true};
	}
	char url[128], ip[64], text[2048];
	snprintf(url, sizeof url, "tcp://0.0.0.0:%d", o->port);
	wire_server *s;
	if (wire_server_open(&s, url, o->token, e) != 0) {
		pthread_mutex_destroy(&h.mu);
		return 1;
	}
	wire_server_on_gone(s, on_gone, &h);
	/* STARTED too: a node's task thread waits for its answer */
	static const uint16_t fast_kinds[] = {WM_RUN_TASKS, WM_WAIT_DONE, WM_STARTED};
	wire_server_serve_fast(s, fast_kinds, 3, head_fast, &h);

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
	obj_init(o->token, self->address, self->address, NULL); /* node 1's objects */
	obj_set_spill(o->store, o->store_cap); /* past --object-store-memory: spilled */
	pthread_mutex_init(&h.smu, NULL);
	if (o->cpus > 0) {
		h.pool = bt_pool_start(o->cpus, h.name, &h.view, &h.local_busy, local_done, &h);
		/* its tasks' nested calls spill to this head's queue straight */
		h.spill = cl_spill_start_local(self_submit, &h);
		cl_spill_install(h.spill);
	}
	/* actors: the directory, node 1's own, and the calls node 1's tasks make */
	task_actors_codec_init();
	h.ad = ac_dir_new(&(ac_dir_ops){ac_nodes, ac_send, ac_needs, ac_hold}, &h);
	if (o->cpus > 0)
		h.actors = ac_host_new(h.name, &h.view, ac_local_done, &h);
	h.svc = ac_service_new(NULL, h.ad, NULL, 0, self->address);
	task_set_actors(ac_service_actors(h.svc));
	wire_log("head listening on %s (node 1, %s, %d cpus%s)", self->address, self->host, o->cpus,
	         tls_enabled() ? ", tls+tcp" : "");
	const char *tls = tls_enabled() ? " --tls-cert F --tls-key F --tls-ca F" : "";
	snprintf(text, sizeof text,
	         "Flow head started on %s (node 1, host %s, %d cpus%s).\n"
	         "Cluster token: %s%s.\n"
	         "To join another machine, copy the token file there (mode 0600) and run:\n"
	         "  flow start --address %s --token-file FILE%s\n"
	         "See the cluster: flow status --address %s%s\n"
	         "Stop this machine's daemons: flow stop\n",
	         self->address, self->host, o->cpus, *tls ? ", TLS" : "", o->token->source,
	         o->token->created ? " (created now, mode 0600)" : "", self->address, tls,
	         self->address, tls);
	if (o->ready)
		o->ready(o->ready_arg, text);

	int64_t tick_at = mono_now_ms();
	while (!node_stop_requested(o->stop)) {
		struct wire_msg m;
		uint32_t pipe;
		char peer[64];
		int64_t t0 = mono_now_ms();
		int rc = wire_server_recv(s, &m, &pipe, peer, sizeof peer, LOOP_MS);
		int64_t t1 = mono_now_ms();
		if (rc == WIRE_OK) {
			switch (m.kind) {
			case WM_JOIN: handle_join(&h, s, pipe, peer, &m.u.join); break;
			case WM_HEARTBEAT: handle_heartbeat(&h, s, pipe, &m.u.heartbeat); break;
			case WM_LEAVE: handle_leave(&h, s, pipe, &m.u.leave); break;
			case WM_STATUS: handle_status(&h, s); break;
			case WM_PLAN_PUT: handle_plan_put(&h, s, pipe, peer, &m.u.plan_put); break;
			case WM_RUN_TASKS: handle_run_tasks(&h, s, pipe, &m.u.run_tasks); break;
			case WM_WAIT_DONE: handle_wait_done(&h, s, pipe, &m.u.wait_done); break;
			case WM_OBJ_GET:
			case WM_OBJ_STREAM:
			case WM_OBJ_FREE: obj_serve(s, &m); break;
			case WM_ACTOR_CALL: handle_actor_call(&h, s, pipe, &m.u.actor_call); break;
			case WM_LEASE: handle_lease(&h, s, pipe, &m.u.lease); break;
			case WM_STARTED: handle_started(&h, s, pipe, &m.u.started); break;
			default: {
				char why[128];
				snprintf(why, sizeof why, "the head does not serve %s", wire_kind_name(m.kind));
				wire_server_reply_error(s, WIRE_EREFUSED, why);
			}
			}
			wire_msg_free(&m);
		}
		/* the loop's lag: a wait that overran its timeout (the head was not
		 * scheduled; with or without a message) plus the time spent
		 * handling; the peak, decayed by 1/8 per LOOP_MS of time, not per
		 * message: after a stall the heartbeats queued meanwhile are read
		 * in quick turns, and the lag must still cover the last of them */
		int64_t t2 = mono_now_ms();
		int64_t late = (t1 - t0 > LOOP_MS ? t1 - t0 - LOOP_MS : 0) + (t2 - t1);
		if (late >= h.lag_ms) {
			h.lag_ms = late;
			h.lag_at = t2;
		} else {
			for (; t2 - h.lag_at >= LOOP_MS && h.lag_ms > 0; h.lag_at += LOOP_MS)
				h.lag_ms = h.lag_ms * 7 / 8;
			if (h.lag_ms == 0)
				h.lag_at = t2;
		}
		check_silence(&h);
		if (t2 - tick_at >= LOOP_MS) { /* actors waiting for room (tasks gave some back) */
			tick_at = t2;
			ac_dir_tick(h.ad);
		}
		bt_outbox_expire(h.out);
	}
	wire_log("head stopping (%zu workers connected)", h.n ? h.n - 1 : 0);
	/* the links' requests fail now; their pumps end; node 1's tasks end
	 * (a task still running after 5 s is left to the exit) */
	pthread_mutex_lock(&h.fmu);
	size_t nlinks = h.nlinks;
	pthread_mutex_unlock(&h.fmu);
	for (size_t i = 0; i < nlinks; i++)
		wire_client_shutdown(__atomic_load_n(&h.links[i]->c, __ATOMIC_ACQUIRE));
	for (size_t i = 0; i < nlinks; i++)
		bt_pump_stop(h.links[i]->pump);
	/* node 1's spill link first: its calls still out are run by their
	 * callers (or end with the pool), no outcome goes to it after */
	cl_spill_install(NULL);
	pthread_mutex_lock(&h.smu);
	cl_spill *spill = h.spill;
	h.spill = NULL;
	pthread_mutex_unlock(&h.smu);
	cl_spill_stop(spill);
	/* node 1's pool goes first: closing the server (below) reports pipes
	 * gone, and forward_gone must then find no pool to drop calls from */
	pthread_mutex_lock(&h.fmu);
	bt_pool *pool = h.pool;
	h.pool = NULL;
	pthread_mutex_unlock(&h.fmu);
	pthread_mutex_lock(&h.mu);
	ac_host *actors = h.actors; /* and ac_send finds no actor host */
	h.actors = NULL;
	pthread_mutex_unlock(&h.mu);
	int busy = bt_pool_stop(pool, 5000) != 0;
	busy |= ac_host_stop(actors, 2000) != 0;
	/* the server first: closing it reports its pipes gone (on_gone),
	 * which drops their outcomes from the outbox */
	wire_server_close(s);
	obj_set_spill(NULL, 0); /* the store closes after us */
	bt_outbox_free(h.out);
	if (busy)
		return 0;
	for (size_t i = 0; i < h.nlinks; i++) {
		wire_client_close(h.links[i]->c);
		pthread_mutex_destroy(&h.links[i]->mu);
		pthread_mutex_destroy(&h.links[i]->wmu);
		free(h.links[i]->plans);
		free(h.links[i]->wants);
		free(h.links[i]);
	}
	free(h.links);
	for (size_t i = 0; i < h.calls.cap; i++)
		if (h.calls.keys[i])
			free_hcall(h.calls.vals[i]);
	bt_map_free(&h.calls);
	task_set_actors(NULL);
	ac_service_free(h.svc);
	ac_dir_free(h.ad);
	plan_store_free(&h.plans);
	for (size_t i = 0; i < h.noffers; i++)
		place_offer_free(h.offers[i]);
	free(h.offers);
	free(h.jobs);
	free(h.leases);
	pthread_mutex_destroy(&h.jmu);
	pthread_mutex_destroy(&h.smu);
	free(h.m);
	pthread_mutex_destroy(&h.mu);
	pthread_mutex_destroy(&h.fmu);
	return 0;
}
