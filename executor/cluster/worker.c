/* worker.c - the worker daemon: join, heartbeat, leave (worker.h). */
#include "worker.h"
#include "executor/mono_clock.h"
#include "lang/value.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors.h"
#include "auth.h"
#include "batch.h"
#include "daemon.h"
#include "objects.h"
#include "head.h"
#include "plans.h"
#include "spill.h"
#include "starts.h"
#include "task_exec.h"
#include "transport.h"

#define DRAIN_MS 30000 /* a stopping worker finishes what it holds, at most this long */
#define LEAVE_WAIT_MS 3000 /* and waits for the head to acknowledge LEAVE, at most this long */
#define CONNECT_MS 5000
#define CALL_MS 2000
#define LOOP_MS 100
#define REJOIN_TRY_MS 2000 /* each attempt to reach the head again */

/* why the head was lost: a closed connection may be a killed head (the
 * port then refuses) or a broken path; silence and fencing are a path that
 * may heal, so the worker tries to join again (node_opts.rejoin_ms) */
enum { LOST_CLOSED = 1, LOST_SILENT, LOST_FENCED };

struct worker {
	wire_client *head;
	char head_addr[256];
	uint64_t node_id, epoch;
	uint32_t period_ms;
	/* figures the heartbeat reports: written by task threads, read here */
	_Atomic uint32_t cpus_used;
	_Atomic uint64_t store_used, store_spilled;
	/* set by the heartbeat thread; read by the main loop */
	atomic_int lost;
	int lost_kind; /* LOST_*, written with lost_why */
	char lost_why[600];
	atomic_int quit; /* tells the heartbeat thread to end */
	volatile sig_atomic_t *stop; /* SIGTERM/SIGINT: drain, then leave */
	atomic_int left;             /* LEAVE was acknowledged */
	char id_text[24];    /* the node id, for sys.node_id() */
	char name[300];      /* "node 2 (host2)": who ran a task, in TASKS_DONE */
	flow_node_view view; /* what tasks here read about their node */
	bt_pool *pool;       /* the task threads, as many as --cpus */
	int pool_left;       /* an earlier node's task or actor method was left running (rejoin) */
	bt_outbox *out;      /* outcomes for the head */
	ac_host *actors;     /* the actors this node hosts (actors.h) */
	ac_service *svc;     /* actor calls its tasks make, through the head */
	cl_spill *spill;     /* nested calls its tasks spill to the head (spill.h) */
	st_reporter *starts; /* start reports to the head (starts.h) */
	wire_server *ls;     /* this node's listener (who sent a call: start reports) */
	/* client connections that sent direct calls (each logged once; a
	 * stopping worker waits for them to hang up), under dmu: run_tasks
	 * adds, on_gone removes */
	pthread_mutex_t dmu;
	uint32_t direct[64];
	size_t ndirect;
};

static void set_lost(struct worker *w, int kind, const char *why)
{
	int expect = 0;
	/* the first reason wins; the main loop reads it after seeing lost */
	if (atomic_compare_exchange_strong(&w->lost, &expect, 2)) {
		w->lost_kind = kind;
		snprintf(w->lost_why, sizeof w->lost_why, "%s", why);
		atomic_store(&w->lost, 1);
	}
}

static void leave(struct worker *w);

/* The heartbeat thread: no lock but the transport's own. */
static void *heartbeat_main(void *arg)
{
	struct worker *w = arg;
	int64_t last_ok = mono_now_ms();
	while (!atomic_load(&w->quit) && !atomic_load(&w->lost)) {
		/* stopping: the head learns it at once (draining: no new tasks)
		 * while the running task finishes */
		if (node_stop_requested(w->stop) && !atomic_load(&w->left))
			leave(w);
		if (wire_client_lost(w->head)) {
			char why[512];
			snprintf(why, sizeof why, "the connection to the head at %s closed", w->head_addr);
			set_lost(w, LOST_CLOSED, why);
			break;
		}
		struct wire_msg req = {.kind = WM_HEARTBEAT}, rep;
		req.u.heartbeat.node_id = w->node_id;
		req.u.heartbeat.epoch = w->epoch;
		req.u.heartbeat.cpus_used = atomic_load(&w->cpus_used);
		req.u.heartbeat.store_used = atomic_load(&w->store_used) + obj_used(); /* no lock */
		req.u.heartbeat.store_spilled = atomic_load(&w->store_spilled) + obj_spilled();
		verr e;
		int rc = wire_client_call(w->head, &req, &rep, (int)w->period_ms * 2, &e);
		if (rc == WIRE_OK) {
			wire_msg_free(&rep);
			last_ok = mono_now_ms();
		} else if (rc == WIRE_ENODE || rc == WIRE_ENOAUTH) {
			char why[512];
			snprintf(why, sizeof why, "the head at %.200s refused this node: %.250s", w->head_addr, e.msg);
			set_lost(w, LOST_FENCED, why);
			break;
		} else if (mono_now_ms() - last_ok > HEAD_DEAD_MS) {
			char why[512];
			snprintf(why, sizeof why, "the head at %s has not answered for %lld ms",
			         w->head_addr, (long long)(mono_now_ms() - last_ok));
			set_lost(w, LOST_SILENT, why);
			break;
		}
		/* a stop is told at once (LEAVE, above), not a period later */
		for (uint32_t slept = 0; slept < w->period_ms && !atomic_load(&w->quit) &&
		                         !(node_stop_requested(w->stop) && !atomic_load(&w->left));
		     slept += 50)
			usleep(50 * 1000);
	}
	return NULL;
}

static int join(struct worker *w, const struct node_opts *o, int listen_port, verr *e)
{
	char ip[64], address[128], host[256];
	if (o->node_ip && *o->node_ip)
		snprintf(ip, sizeof ip, "%s", o->node_ip);
	else if (wire_client_local_ip(w->head, ip, sizeof ip) != 0)
		node_default_ip(ip, sizeof ip);
	snprintf(address, sizeof address, "%s:%d", ip, listen_port);
	obj_init(o->token, o->address, address, NULL); /* its objects are pulled from here */
	obj_set_spill(o->store, o->store_cap); /* past --object-store-memory: spilled */
	node_hostname(host, sizeof host);
	struct wire_msg req = {.kind = WM_JOIN}, rep;
	req.u.join.host = host;
	req.u.join.address = address;
	req.u.join.cpus = (uint32_t)o->cpus;
	req.u.join.resources = (char *)(o->resources ? o->resources : "");
	req.u.join.store_cap = o->store_cap;
	req.u.join.spill_dir = (char *)(o->spill_dir ? o->spill_dir : "");
	req.u.join.pid = (uint32_t)getpid();
	verr ce;
	int rc = wire_client_call(w->head, &req, &rep, CALL_MS, &ce);
	if (rc != WIRE_OK) {
		verr_set(e, "the head at %s refused to let this node join: %s", w->head_addr, ce.msg);
		return rc;
	}
	if (rep.kind != WM_JOINED) {
		verr_set(e, "the head at %s answered JOIN with %s", w->head_addr, wire_kind_name(rep.kind));
		wire_msg_free(&rep);
		return WIRE_ESTATE;
	}
	w->node_id = rep.u.joined.node_id;
	w->epoch = rep.u.joined.epoch;
	w->period_ms = rep.u.joined.heartbeat_ms;
	if (w->period_ms < 50 || w->period_ms > 10000)
		w->period_ms = HEAD_HEARTBEAT_MS;
	wire_msg_free(&rep);
	wire_log("joined the head at %s as node %llu (%s at %s, %d cpus)", w->head_addr,
	         (unsigned long long)w->node_id, host, address, o->cpus);
	return WIRE_OK;
}

static void leave(struct worker *w)
{
	struct wire_msg req = {.kind = WM_LEAVE}, rep;
	req.u.leave.node_id = w->node_id;
	req.u.leave.epoch = w->epoch;
	verr e;
	if (atomic_load(&w->left))
		return;
	/* acknowledged: closing the socket would drop a queued LEAVE */
	if (wire_client_call(w->head, &req, &rep, CALL_MS, &e) == WIRE_OK) {
		wire_msg_free(&rep);
		atomic_store(&w->left, 1);
		wire_log("left the cluster (node %llu)", (unsigned long long)w->node_id);
	} else {
		wire_log("could not tell the head at %s that node %llu leaves: %s", w->head_addr,
		         (unsigned long long)w->node_id, e.msg);
	}
}

/* STARTED for ids (starts.h), on the connection to the head; waits for
 * its answer. The head may be being joined again (rejoin): then none
 * starts (the head gave them to other nodes). */
static int send_started(void *arg, const uint64_t *ids, size_t n, uint8_t *refused)
{
	struct worker *w = arg;
	wire_client *head = __atomic_load_n(&w->head, __ATOMIC_ACQUIRE);
	if (!head || atomic_load(&w->lost))
		return -1;
	uint8_t *blob = malloc(8 * n);
	if (!blob)
		return -1;
	st_ids_put(ids, n, blob);
	struct wire_msg req = {.kind = WM_STARTED}, rep;
	req.u.started.node_id = w->node_id;
	req.u.started.epoch = w->epoch;
	req.u.started.ids.data = blob;
	req.u.started.ids.len = (uint32_t)(8 * n);
	verr e;
	int rc = wire_client_call(head, &req, &rep, HEAD_DEAD_MS, &e);
	free(blob);
	if (rc != WIRE_OK) {
		wire_log("could not tell the head at %s that %zu call%s start: %s; not run here",
		         w->head_addr, n, n == 1 ? "" : "s", e.msg);
		return -1;
	}
	if (rep.kind != WM_STARTED_ACK || rep.u.started_ack.refused.len % 8) {
		wire_msg_free(&rep);
		return -1;
	}
	size_t nref = rep.u.started_ack.refused.len / 8;
	for (size_t k = 0; k < nref; k++) {
		uint64_t id = st_id_at(rep.u.started_ack.refused.data, k);
		for (size_t i = 0; i < n; i++)
			if (ids[i] == id)
				refused[i] = 1;
	}
	if (nref)
		wire_log("the head refused the start of %zu call%s (sent elsewhere): not run here", nref,
		         nref == 1 ? "" : "s");
	wire_msg_free(&rep);
	return 0;
}

/* Whether pipe is the head's connection (its calls report their starts;
 * a client's direct calls do not: the client cannot be told). */
static int from_head(struct worker *w, uint32_t pipe)
{
	char peer[64];
	wire_server *ls = __atomic_load_n(&w->ls, __ATOMIC_ACQUIRE);
	return ls && wire_server_role(ls, pipe, peer, sizeof peer) == WIRE_ROLE_HEAD;
}

static const char refused_why[] = "the head did not accept this call's start (it was sent to "
                                  "another node)";

/* A pool thread is about to run c: a task with effects reports first. */
static int task_starts(void *arg, uint32_t pipe, cl_plan *plan, const struct wire_call *c,
                       const char **why)
{
	struct worker *w = arg;
	if (!st_needs_report(plan, c->fn) || !from_head(w, pipe))
		return 0;
	*why = refused_why;
	return st_report(w->starts, c->id);
}

/* An actor's thread is about to run method call c: it reports first. */
static int method_starts(void *arg, uint32_t pipe, const struct wire_call *c, const char **why)
{
	struct worker *w = arg;
	if (!from_head(w, pipe))
		return 0;
	*why = refused_why;
	return st_report(w->starts, c->id);
}

/* A task finished on a pool thread: its outcome waits for the head. */
static void task_done(void *arg, bt_recs *r)
{
	struct worker *w = arg;
	bt_outbox_put(w->out, r);
}

/* An actor's call ended: its outcome waits for the head, as a task's. */
static void actor_done(void *arg, uint32_t pipe, struct wire_done *d)
{
	struct worker *w = arg;
	bt_recs r;
	bt_recs_init(&r);
	bt_encode_done(d, &r, pipe);
	bt_outbox_put(w->out, &r);
	bt_recs_fini(&r);
}

/* RUN_TASKS: the calls go to the pool (its threads, as many as --cpus,
 * run them while this loop serves on); the request is answered with
 * outcomes as soon as one is ready. */
static void run_tasks(struct worker *w, wire_server *ls, uint32_t pipe, struct plan_store *plans,
                      struct wire_run_tasks *m)
{
	bt_outbox_open(w->out, pipe);
	bt_recs r;
	bt_recs_init(&r);
	/* a client's direct calls (docs/wire.md, "Direct calls"): none is
	 * taken once this node drains and the head knows it (LEAVE
	 * acknowledged: the head then places the calls the client sends
	 * through it on another node, not here) */
	char peer[64];
	int direct = m->calls.n && wire_server_role(ls, pipe, peer, sizeof peer) == WIRE_ROLE_CLIENT;
	int refuse = direct && node_stop_requested(w->stop) && atomic_load(&w->left);
	int head_pipe = !direct && m->calls.n && from_head(w, pipe);
	if (direct && !refuse) { /* said once per client connection */
		size_t k = 0;
		pthread_mutex_lock(&w->dmu);
		while (k < w->ndirect && w->direct[k] != pipe)
			k++;
		int fresh = k == w->ndirect;
		if (fresh) {
			w->direct[w->ndirect++ % 64] = pipe;
			w->ndirect = w->ndirect > 64 ? 64 : w->ndirect;
		}
		pthread_mutex_unlock(&w->dmu);
		if (fresh)
			wire_log("direct calls from the client at %s (a lease from the head)", peer);
	}
	for (uint32_t i = 0; i < m->calls.n; i++) {
		struct wire_call *c = &m->calls.v[i];
		struct plan_entry *pe = refuse ? NULL : plan_store_find(plans, c->hash);
		if (refuse) {
			struct wire_done d = {.id = c->id, .ok = WIRE_DONE_NOTRUN, .node = w->name,
			                      .error = "this node is draining (it takes no new calls)"};
			bt_encode_done(&d, &r, pipe);
			continue;
		}
		if (!pe) {
			struct wire_done d = {.id = c->id, .ok = WIRE_DONE_NOTRUN, .node = w->name,
			                      .error = "this node does not hold that plan (PLAN_PUT first)"};
			bt_encode_done(&d, &r, pipe);
			continue;
		}
		if (c->fn & WIRE_FN_ACTOR_MASK) {
			ac_host_add(w->actors, pipe, pe->loaded, c); /* an actor's mailbox */
		} else {
			/* the pool starts them in this order: a start report may
			 * take the next ones along (starts.h) */
			if (head_pipe && st_needs_report(pe->loaded, c->fn))
				st_expect(w->starts, c->id);
			bt_pool_add(w->pool, pipe, pe->loaded, c);
		}
	}
	bt_outbox_put(w->out, &r);
	bt_recs_fini(&r);
	wire_pending *p = wire_server_detach(ls);
	if (!p)
		wire_server_reply_error(ls, WIRE_EIO, "this node is out of resources");
	else
		bt_outbox_wait(w->out, pipe, p, m->wait_ms);
}

static void serve(struct worker *w, wire_server *ls, uint32_t pipe, struct plan_store *plans,
                  struct wire_msg *m)
{
	if (m->kind == WM_PLAN_PUT) {
		verr why;
		int rc = plan_store_put(plans, &m->u.plan_put, &why);
		if (rc == WIRE_OK) {
			struct wire_msg ok = {.kind = WM_OK};
			wire_server_reply(ls, &ok);
		} else {
			wire_log("refused a plan: %s", why.msg);
			wire_server_reply_error(ls, rc, why.msg);
		}
	} else if (m->kind == WM_RUN_TASKS) {
		run_tasks(w, ls, pipe, plans, &m->u.run_tasks);
	} else if (m->kind == WM_CANCEL) {
		/* the head's client went away: what still waits here is not run */
		uint64_t *ids = NULL;
		size_t n = bt_pool_drop(w->pool, 1, m->u.cancel.job, &ids);
		bt_recs r;
		bt_recs_init(&r);
		for (size_t i = 0; i < n; i++) {
			struct wire_done d = {.id = ids[i], .ok = WIRE_DONE_NOTRUN, .node = w->name,
			                      .error = "the client went away"};
			bt_encode_done(&d, &r, pipe);
		}
		free(ids);
		bt_outbox_put(w->out, &r);
		bt_recs_fini(&r);
		if (n)
			wire_log("job %llu: its client went away; dropped its %zu task calls queued here",
			         (unsigned long long)m->u.cancel.job, n);
		/* and stops those running (answered not run when they end) */
		size_t stopped = cl_task_cancel_job(m->u.cancel.job);
		if (stopped)
			wire_log("job %llu: its client went away; stopping its %zu task calls running here",
			         (unsigned long long)m->u.cancel.job, stopped);
		struct wire_msg ok = {.kind = WM_OK};
		wire_server_reply(ls, &ok);
	} else if (m->kind == WM_WAIT_DONE) {
		wire_pending *p = wire_server_detach(ls);
		if (!p)
			wire_server_reply_error(ls, WIRE_EIO, "this node is out of resources");
		else
			bt_outbox_wait(w->out, pipe, p, m->u.wait_done.wait_ms);
	} else if (obj_serves(m->kind)) {
		obj_serve(ls, m);
	} else {
		char why[128];
		snprintf(why, sizeof why, "a worker does not serve %s", wire_kind_name(m->kind));
		wire_server_reply_error(ls, WIRE_EREFUSED, why);
	}
}

/* RUN_TASKS and WAIT_DONE on nng's thread that got them (as the head's:
 * wire_server_serve_fast); the loop keeps the rest. */
struct fast_arg {
	struct worker *w;
	struct plan_store *plans;
};

static void worker_fast(void *arg, wire_server *s, uint32_t pipe, struct wire_msg *m)
{
	struct fast_arg *f = arg;
	serve(f->w, s, pipe, f->plans, m);
}

/* The head's connection to this node's listener closed. */
static void on_gone(void *arg, uint32_t pipe, const char *peer)
{
	struct worker *w = arg;
	(void)peer;
	bt_outbox_drop(w->out, pipe);
	pthread_mutex_lock(&w->dmu);
	for (size_t k = 0; k < w->ndirect; k++)
		if (w->direct[k] == pipe) {
			w->direct[k] = w->direct[--w->ndirect];
			break;
		}
	pthread_mutex_unlock(&w->dmu);
}

/* Client connections that sent direct calls and are still open. */
static size_t direct_clients(struct worker *w)
{
	pthread_mutex_lock(&w->dmu);
	size_t n = w->ndirect;
	pthread_mutex_unlock(&w->dmu);
	return n;
}

/* What connect_join found. */
enum { CJ_OK, CJ_RETRY, CJ_GONE, CJ_FATAL };

/* Connects to the head, authenticates and JOINs (a new node id and epoch
 * each time). CJ_GONE: nothing listens at the head's address (it was
 * killed); CJ_FATAL: it refused us (token, JOIN); CJ_RETRY: no answer or a
 * broken connection (a path that may heal). w->head is NULL unless CJ_OK. */
static int connect_join(struct worker *w, const struct node_opts *o, const char *url, int port,
                        int connect_ms, verr *e)
{
	verr ce;
	int rc = wire_client_open(&w->head, url, connect_ms, &ce);
	if (rc != WIRE_OK) {
		w->head = NULL;
		verr_set(e, "cannot reach the head: %s", ce.msg);
		return rc == WIRE_EREFUSED ? CJ_GONE : CJ_RETRY;
	}
	rc = wire_client_handshake(w->head, o->token, WIRE_ROLE_WORKER, CALL_MS, &ce);
	if (rc != WIRE_OK) {
		verr_set(e, "cannot join the head at %s: %s", o->address,
		         rc == WIRE_EAUTH ? ce.msg : wire_strerror(rc));
		if (rc != WIRE_EAUTH && ce.msg[0])
			verr_set(e, "cannot join the head at %s: %s (%s)", o->address, wire_strerror(rc), ce.msg);
		wire_client_close(w->head);
		w->head = NULL;
		return rc == WIRE_EAUTH ? CJ_FATAL : CJ_RETRY;
	}
	rc = join(w, o, port, e);
	if (rc != WIRE_OK) {
		wire_client_close(w->head);
		w->head = NULL;
		return rc == WIRE_ETIMEDOUT || rc == WIRE_ECLOSED || rc == WIRE_EIO ? CJ_RETRY : CJ_FATAL;
	}
	return CJ_OK;
}

/* The names tasks here see (sys.node_id(), who ran a call). */
static void set_names(struct worker *w)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	snprintf(w->id_text, sizeof w->id_text, "%llu", (unsigned long long)w->node_id);
	snprintf(w->name, sizeof w->name, "node %llu (%s)", (unsigned long long)w->node_id, host);
	w->view = (flow_node_view){.id = w->id_text, .address = "", .alive = true};
}

/* The head is lost but not known to be gone: the calls held here were
 * sent elsewhere (or will be), so they are dropped; then the head is tried
 * for o->rejoin_ms, and joined as a new node (a new id and epoch, a new
 * spill directory). 0 when joined again; 1 when the head is gone, refused
 * us, could not be reached in time, or the worker was told to stop (e set,
 * except for a stop: *stopped). */
static int rejoin(struct worker *w, const struct node_opts *o, const char *url, int port,
                  int *stopped, verr *e)
{
	uint64_t old = w->node_id;
	int64_t start = mono_now_ms(), end = start + o->rejoin_ms;
	char why[600];
	snprintf(why, sizeof why, "%s", w->lost_why);
	/* shut, not freed: a task or an actor's method of the old node may
	 * be inside an actor call on it (w->svc); freed below once none runs */
	wire_client *old_head = w->head;
	wire_client_shutdown(old_head);
	__atomic_store_n(&w->head, NULL, __ATOMIC_RELEASE); /* send_started reads it */
	/* spilled calls out are run here again (their outcomes cannot come) */
	cl_spill_install(NULL);
	cl_spill_stop(w->spill);
	w->spill = NULL;
	verr ce = {{0}};
	if (w->lost_kind == LOST_CLOSED) {
		/* a killed head's port refuses at once: then it is gone */
		wire_client *probe;
		int rc = wire_client_open(&probe, url, REJOIN_TRY_MS, &ce);
		if (rc == WIRE_OK)
			wire_client_close(probe);
		else if (rc == WIRE_EREFUSED) {
			verr_set(e, "lost the head: %s; then %s; this worker stops", why, ce.msg);
			w->head = old_head; /* worker_run's end closes it */
			return 1;
		}
	}
	wire_log("lost the head: %s; trying to join it again for %d s", why, o->rejoin_ms / 1000);
	/* what this node held was given to others: it is not run twice here
	 * (before joining: a new node must heartbeat from the start) */
	int left_running = 0;
	if (bt_pool_stop(w->pool, 5000) != 0) {
		w->pool_left = 1; /* its thread may still use w->out */
		left_running = 1;
		wire_log("a task of node %llu still runs after 5 s; left to finish", (unsigned long long)old);
	}
	w->pool = NULL;
	/* the head restarts this node's actors elsewhere (or lets them die):
	 * their instances here go, so none answers again and a restart placed
	 * on the new node runs init afresh */
	size_t nactors = ac_host_count(w->actors);
	if (ac_host_stop(w->actors, 2000) != 0) {
		w->pool_left = 1; /* its thread may still use w->out */
		left_running = 1; /* a method still runs: left to the exit */
		wire_log("an actor's method of node %llu still runs after 2 s; left to finish",
		         (unsigned long long)old);
	}
	w->actors = NULL;
	if (nactors)
		wire_log("let go of %zu actor instance%s node %llu hosted (the head restarts them "
		         "elsewhere or they died)", nactors, nactors == 1 ? "" : "s",
		         (unsigned long long)old);
	/* nothing of the old node calls through the old connection now */
	if (!left_running) {
		task_set_actors(NULL);
		ac_service_free(w->svc);
		wire_client_close(old_head);
	}
	w->svc = NULL;
	int tries = 0;
	for (;;) {
		int left = (int)(end - mono_now_ms());
		if (node_stop_requested(o->stop)) {
			*stopped = 1;
			wire_log("stopped while trying to join the head again");
			return 1;
		}
		if (left <= 0) {
			verr_set(e, "lost the head: %s; it could not be joined again within %d s (%d tries; "
			         "the last: %s); this worker stops", why, o->rejoin_ms / 1000, tries, ce.msg);
			return 1;
		}
		int cj = connect_join(w, o, url, port, left < REJOIN_TRY_MS ? left : REJOIN_TRY_MS, &ce);
		tries++;
		if (cj == CJ_OK)
			break;
		if (cj == CJ_GONE || cj == CJ_FATAL) {
			verr_set(e, "lost the head: %s; then %s; this worker stops", why, ce.msg);
			return 1;
		}
		for (int slept = 0; slept < 500 && !node_stop_requested(o->stop); slept += 50)
			usleep(50 * 1000);
	}
	/* a new node: its own spill directory; the old one goes (and with it
	 * the objects spilled there: their readers make them again). The
	 * listener may be reading a spilled object: it has no store while
	 * the old one closes */
	obj_set_spill(NULL, 0);
	if (o->store && daemon_store_renew(o->store, o->spill_dir, o->store_cap, &ce) != 0)
		wire_log("could not open a new object store: %s", ce.msg);
	obj_set_spill(o->store, o->store_cap);
	set_names(w);
	st_forget(w->starts); /* the old node's calls went elsewhere */
	w->pool = bt_pool_start(o->cpus > 0 ? o->cpus : 1, w->name, &w->view, &w->cpus_used,
	                        task_done, w);
	bt_pool_on_start(w->pool, task_starts, w);
	w->actors = ac_host_new(w->name, &w->view, actor_done, w);
	ac_host_on_start(w->actors, method_starts, w);
	w->svc = ac_service_new(w->head, NULL, NULL, 0, w->head_addr);
	task_set_actors(ac_service_actors(w->svc));
	w->spill = cl_spill_start(w->head);
	cl_spill_install(w->spill);
	wire_log("joined the head again after %lld ms as node %llu (was node %llu)",
	         (long long)(mono_now_ms() - start), (unsigned long long)w->node_id, (unsigned long long)old);
	return 0;
}

int worker_run(const struct node_opts *o, verr *e)
{
	int busy = 0; /* a task still running when the worker stops */
	struct worker *w = calloc(1, sizeof *w);
	char url[300];
	wire_server *listener = NULL;
	int status = 1, hb_on = 0, stopped = 0, rejoin_failed = 0;
	pthread_t hb;
	if (!w) {
		verr_set(e, "out of memory");
		return 1;
	}
	pthread_mutex_init(&w->dmu, NULL);
	snprintf(w->head_addr, sizeof w->head_addr, "%s", o->address);
	w->stop = o->stop;
	w->starts = st_reporter_new(send_started, w);
	if (wire_url(o->address, url, sizeof url) != 0) {
		verr_set(e, "bad head address '%s' (expected HOST:PORT)", o->address);
		goto out;
	}
	/* this node's own listener: where task runs and object pulls will come
	 * (it stays when the node joins again) */
	if (wire_server_open(&listener, "tcp://0.0.0.0:0", o->token, e) != 0)
		goto out;
	int port = wire_server_port(listener);
	w->ls = listener;
	if (connect_join(w, o, url, port, CONNECT_MS, e) != CJ_OK)
		goto out;
	val_threads_begin(); /* the new thread touches values (value.h) */
	if (pthread_create(&hb, NULL, heartbeat_main, w) != 0) {
		verr_set(e, "cannot start the heartbeat thread");
		leave(w);
		goto out;
	}
	hb_on = 1;
	if (o->ready) {
		char text[512];
		snprintf(text, sizeof text, "Flow worker joined the head at %s as node %llu.\n"
		         "Stop this machine's daemons: flow stop\n", o->address,
		         (unsigned long long)w->node_id);
		o->ready(o->ready_arg, text);
	}
	set_names(w);
	w->out = bt_outbox_new();
	w->pool = bt_pool_start(o->cpus > 0 ? o->cpus : 1, w->name, &w->view, &w->cpus_used,
	                        task_done, w);
	bt_pool_on_start(w->pool, task_starts, w);
	w->actors = ac_host_new(w->name, &w->view, actor_done, w);
	ac_host_on_start(w->actors, method_starts, w);
	task_actors_codec_init();
	w->svc = ac_service_new(w->head, NULL, NULL, 0, w->head_addr);
	task_set_actors(ac_service_actors(w->svc));
	w->spill = cl_spill_start(w->head);
	cl_spill_install(w->spill);
	wire_server_on_gone(listener, on_gone, w);
	struct plan_store plans = {.load = 1};
	struct fast_arg fast = {w, &plans};
	static const uint16_t fast_kinds[] = {WM_RUN_TASKS, WM_WAIT_DONE};
	wire_server_serve_fast(listener, fast_kinds, 2, worker_fast, &fast);
	int64_t drain_end = 0, idle_at = 0;
	for (;;) {
		while (atomic_load(&w->lost) != 1) {
			if (node_stop_requested(o->stop)) {
				/* draining: the head sends nothing new (the heartbeat thread
				 * sent LEAVE); the calls it holds finish and their outcomes
				 * are fetched before it goes, for at most DRAIN_MS */
				if (!drain_end)
					drain_end = mono_now_ms() + DRAIN_MS;
				/* and not before the head knows (LEAVE acknowledged: it
				 * may still send calls here until then) and the clients
				 * that sent direct calls here have hung up (the head tells
				 * them at their next lease report: a call they send meanwhile
				 * is answered not run), or LEAVE_WAIT_MS */
				int idle = bt_pool_pending(w->pool) == 0 && bt_outbox_pending(w->out) == 0;
				if (!idle)
					idle_at = 0;
				else if (!idle_at)
					idle_at = mono_now_ms();
				int told = atomic_load(&w->left) && direct_clients(w) == 0;
				if ((idle && (told || mono_now_ms() - idle_at > LEAVE_WAIT_MS)) ||
				    mono_now_ms() > drain_end)
					break;
			}
			struct wire_msg m;
			uint32_t pipe;
			if (wire_server_recv(listener, &m, &pipe, NULL, 0, LOOP_MS) == WIRE_OK) {
				serve(w, listener, pipe, &plans, &m);
				wire_msg_free(&m);
			}
			bt_outbox_expire(w->out);
		}
		if (atomic_load(&w->lost) != 1 || node_stop_requested(o->stop) || o->rejoin_ms <= 0)
			break;
		/* the head is lost: gone (exit), or a path that may heal (join again) */
		atomic_store(&w->quit, 1);
		pthread_join(hb, NULL);
		hb_on = 0;
		if (rejoin(w, o, url, port, &stopped, e) != 0) {
			rejoin_failed = !stopped;
			break;
		}
		atomic_store(&w->quit, 0);
		atomic_store(&w->left, 0);
		atomic_store(&w->lost, 0);
		val_threads_begin(); /* the new thread touches values (value.h) */
		if (pthread_create(&hb, NULL, heartbeat_main, w) != 0) {
			verr_set(e, "cannot start the heartbeat thread");
			leave(w);
			break;
		}
		hb_on = 1;
	}
	/* running tasks end first (at most 5 s more: then left to the exit) */
	busy = (w->pool && bt_pool_stop(w->pool, 5000) != 0) || w->pool_left;
	busy |= ac_host_stop(w->actors, 2000) != 0;
	/* the listener first: closing it reports its pipes gone (on_gone),
	 * which drops their outcomes from the outbox */
	__atomic_store_n(&w->ls, NULL, __ATOMIC_RELEASE); /* a task left running asks no more */
	wire_server_close(listener);
	obj_set_spill(NULL, 0); /* the store closes after us */
	listener = NULL;
	if (!busy) { /* else a task thread still running may yet use them */
		bt_outbox_free(w->out);
		plan_store_free(&plans);
	}
	atomic_store(&w->quit, 1);
	if (hb_on)
		pthread_join(hb, NULL);
	if (stopped) {
		status = 0;
	} else if (rejoin_failed) {
		status = 1; /* e says why */
	} else if (atomic_load(&w->lost) == 1) {
		verr_set(e, "lost the head: %s; this worker stops", w->lost_why);
		status = 1;
	} else {
		leave(w);
		status = 0;
	}
out:
	wire_server_close(listener);
	obj_set_spill(NULL, 0); /* the store closes after us */
	if (w->svc && !busy) {
		task_set_actors(NULL);
		ac_service_free(w->svc);
	}
	if (w->spill) {
		/* its request in flight ends with the connection */
		cl_spill_install(NULL);
		wire_client_shutdown(w->head);
		cl_spill_stop(w->spill);
	}
	wire_client_close(w->head);
	if (!busy) {
		st_reporter_free(w->starts);
		free(w);
	}
	return status;
}
