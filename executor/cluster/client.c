/* client.c - `flow run --address`'s side of the wire (client.h). */
#include "client.h"
#include "lang/value.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors.h"
#include "compiler/effects.h"
#include "batch.h"
#include "executor/interrupt.h"
#include "executor/mono_clock.h"
#include "executor/run_obs.h"
#include "executor/task_run_int.h" /* task_print_remote_to, task_output_note_trace */
#include "place.h"
#include "objects.h"
#include "plans.h"
#include "transport.h"

#define OPEN_MS 5000
#define PUT_MS 30000
/* Calls the client keeps in flight: far more than the cluster's CPUs (a
 * call in flight costs no thread, executor/remote_async.h), so batches
 * fill and every hop's round trip is covered. */
#define CL_INFLIGHT_PER_CPU 256
#define CL_INFLIGHT_MAX 4096
/* A call whose record is larger goes through the head (docs/wire.md,
 * "Direct calls"). */
#define DIRECT_MAX_RECORD (64u << 10)

/* A call waiting for its outcome: a thread blocked on it (done NULL; on
 * its caller's stack), or a callback (submit; malloc'd, freed when it is
 * called). A semaphore rather than a condition: the pump posts it after
 * letting the lock go (a woken caller does not block again on the pump's
 * lock), and a semaphore may go as soon as its wait returns. */
struct slot {
	sem_t done;
	struct wire_done d; /* its outcome, once posted */
	char *lost;         /* or why it is lost (malloc'd) */
	void (*cb)(void *arg, int rc, value res, char *err, char *node, char *output);
	void *cb_arg;
	uint64_t t_send;    /* when it was sent (obs_now_ns), for --trace */
	int direct;         /* sent straight to the leased worker (cl->d) */
	/* the call, for lineage (a large result's maker; a consumer whose
	 * argument was lost is sent again): args held */
	uint32_t fn;
	uint64_t seed, ident;
	value args;
};

struct cl_client {
	wire_client *c;
	char address[256];
	uint8_t hash[32];
	uint64_t job;
	task_remote remote;
	/* the calls in flight, by id; every call goes through one pump */
	pthread_mutex_t mu;
	bt_map calls;
	uint64_t seq;
	bt_pump *pump;
	char *lost; /* the connection to the head failed: why (malloc'd) */
	/* re-send threads (resend_main) not yet ended, under mu: close waits
	 * for them (they use the client and the lineage); stopped: the run
	 * stopped (abandon) or the client closes, so none re-makes anything */
	int resends;
	bool stopped;
	pthread_cond_t resends_cv;
	/* the membership when the run began: one view per node */
	flow_node_view *views;
	const flow_node_view **peers;
	char (*ids)[24];
	char (*hosts)[256];
	char (*addrs)[128];
	char *(*rnames)[PLACE_MAX_RES]; /* each node's --resources (place.h) */
	double (*ramounts)[PLACE_MAX_RES];
	int n, cpus;
	flow_node_view self; /* the client's own: the members as its peers */
	ac_service *svc;     /* the run's actors live on the cluster (actors.h) */
	/* the program's task names and which may be re-run (no effects, or
	 * @idempotent): cl_client_set_program; NULL: none is re-made */
	char **names;
	int *rerun_blk; /* effects_rerun_blockers: -1 may be re-run */
	int nprotos;
	bool *no_needs; /* per task: no @cpus/@memory/@resources (may go direct) */
	/* direct calls (docs/wire.md, "Direct calls"): the head leases the
	 * client a worker, and calls without needs or object references go
	 * to it straight on a connection of the client's own (two messages a
	 * call instead of four); the lease thread (direct_main) takes the
	 * lease, reports on it every DIRECT_KEEP_MS and ends it. Under mu,
	 * but for what only the lease thread touches (th, c, tok, plan) */
	auth_token tok;
	uint8_t *plan;
	size_t plan_len;
	struct {
		pthread_t th;
		bool started, stop;
		pthread_cond_t cv;
		bool want;      /* a call could have gone direct: hold a lease */
		bool ready;     /* calls may go to it now */
		bool broken;    /* its connection failed: the lease thread ends it */
		uint64_t node;  /* the leased node (0: none) */
		char name[500]; /* "node 2 (host2 at 10.77.0.2:41273)" */
		wire_client *c;
		bt_pump *pump;
		uint32_t running, cap; /* direct calls in flight, and at most */
		uint64_t done, failed; /* outcomes since the last report */
	} d;
};

/* Lineage (docs/faults.md, "Objects (lineage)"): for each large result
 * left on its node, the call that made it, so that an object whose holder
 * is lost is made again by the same call (same identity, same random
 * stream: the same value, under a new id on another node). By call
 * identity (lin.calls, key ident) and by object id (lin.ids: every id the
 * call's result has had). Entries live until the run ends
 * (cl_client_close), with the results. One client per process: the
 * resolver (task_set_resolver) has no context. */
#define LIN_REMAKES 3
struct lin {
	pthread_mutex_t mu; /* one re-make at a time */
	uint32_t fn;
	uint64_t seed, ident;
	value args;  /* held */
	value cur;   /* the latest reference (held) */
	char *node;  /* the node that holds cur (malloc'd) */
	int remakes;
	struct lin *next; /* every entry (L.all), to free them */
};
static struct {
	pthread_mutex_t mu;
	bt_map calls;                           /* ident -> struct lin * */
	struct lin_id { uint8_t id[32]; struct lin *l; } *ids;
	size_t nids, capids;
	struct lin *all;
	cl_client *cl;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int run_call(cl_client *cl, uint32_t fn, uint64_t seed, uint64_t ident, value args,
                    value *res, char **err, char **node, char **output);

static void lin_add_id(struct lin *l, value ref) /* under L.mu */
{
	if (L.nids == L.capids) {
		L.capids = L.capids ? 2 * L.capids : 64;
		if (!(L.ids = realloc(L.ids, L.capids * sizeof *L.ids)))
			abort();
	}
	obj_is_ref(ref, L.ids[L.nids].id, NULL, 0, NULL);
	L.ids[L.nids++].l = l;
}

/* Remembers that call (fn, seed, ident, args) made ref on node. */
static void lin_note(uint32_t fn, uint64_t seed, uint64_t ident, value args, value ref,
                     const char *node)
{
	if (!ident)
		return;
	pthread_mutex_lock(&L.mu);
	struct lin *l = bt_map_get(&L.calls, ident);
	if (l && (l->fn != fn || l->seed != seed))
		l = NULL; /* another call under the same identity: the newest wins */
	if (!l) {
		l = calloc(1, sizeof *l);
		if (!l)
			abort();
		pthread_mutex_init(&l->mu, NULL);
		l->fn = fn;
		l->seed = seed;
		l->ident = ident;
		l->args = val_hold(args);
		l->cur = v_none();
		l->next = L.all;
		L.all = l;
		bt_map_put(&L.calls, ident, l); /* an older one stays reachable by id */
	}
	val_rele(l->cur);
	l->cur = val_hold(ref);
	free(l->node);
	l->node = node && node[0] ? strdup(node) : NULL;
	lin_add_id(l, ref);
	pthread_mutex_unlock(&L.mu);
}

static struct lin *lin_find(const uint8_t id[32])
{
	struct lin *l = NULL;
	pthread_mutex_lock(&L.mu);
	for (size_t i = L.nids; i-- > 0;)
		if (memcmp(L.ids[i].id, id, 32) == 0) {
			l = L.ids[i].l;
			break;
		}
	pthread_mutex_unlock(&L.mu);
	return l;
}

/* Actor method results left on the actor's node (docs/faults.md, "Objects
 * (lineage)"): no lineage. Running the method again, on the same actor or
 * a restarted one, would not make the same value (the actor's state moved
 * on), so a lost one is not made again (as in Ray, without retries of
 * actor tasks): a copy this process already pulled is used, else the
 * reader gets an "actor_died" error naming the actor and the method.
 * Under L.mu; freed with the lineage (cl_client_close). */
struct lin_actor {
	uint8_t id[32];
	value ref;  /* held */
	uint64_t actor;
	uint32_t fn;
	char *node; /* the actor's node (malloc'd; NULL: unknown) */
};
static struct {
	struct lin_actor *v;
	size_t n, cap;
	struct { uint64_t id; char *cls; } *names; /* actor id -> class (malloc'd) */
	size_t nnames, capnames;
} LA;

void cl_lin_actor_made(uint64_t actor, const char *cls)
{
	if (!actor || !cls)
		return;
	pthread_mutex_lock(&L.mu);
	if (L.cl) {
		if (LA.nnames == LA.capnames) {
			LA.capnames = LA.capnames ? 2 * LA.capnames : 16;
			if (!(LA.names = realloc(LA.names, LA.capnames * sizeof *LA.names)))
				abort();
		}
		LA.names[LA.nnames].id = actor;
		if (!(LA.names[LA.nnames++].cls = strdup(cls)))
			abort();
	}
	pthread_mutex_unlock(&L.mu);
}

void cl_lin_actor_result(uint64_t actor, uint32_t fn, value ref, const char *node)
{
	uint8_t id[32];
	if (!obj_is_ref(ref, id, NULL, 0, NULL))
		return;
	pthread_mutex_lock(&L.mu);
	if (L.cl) { /* the client's own calls only: a worker keeps no lineage */
		if (LA.n == LA.cap) {
			LA.cap = LA.cap ? 2 * LA.cap : 64;
			if (!(LA.v = realloc(LA.v, LA.cap * sizeof *LA.v)))
				abort();
		}
		struct lin_actor *x = &LA.v[LA.n++];
		memcpy(x->id, id, 32);
		x->ref = val_hold(ref);
		x->actor = actor;
		x->fn = fn;
		x->node = node && node[0] ? strdup(node) : NULL;
	}
	pthread_mutex_unlock(&L.mu);
}

/* Set while resolve_ref makes a result again: the read that just failed
 * found no copy here, so lin_actor_lost does not try the holder again. */
static __thread int lin_reading;

/* lin_remake's answer for an actor method's result (LIN_ACTOR_DIED) */
#define LIN_ACTOR_DIED (-2)

/* Object `id`, lost (why), when it is an actor method's result: 0 with
 * the copy this process pulled before in *out (a value: a call that
 * takes it sends it from here), LIN_ACTOR_DIED with *err naming the
 * actor and the method, or 1 when id is no actor method's result. */
static int lin_actor_lost(const uint8_t id[32], const char *why, value *out, char **err)
{
	value ref = v_none();
	uint64_t actor = 0;
	uint32_t fn = 0;
	char *node = NULL, *cls = NULL;
	pthread_mutex_lock(&L.mu);
	for (size_t i = LA.n; i-- > 0;)
		if (memcmp(LA.v[i].id, id, 32) == 0) {
			ref = val_hold(LA.v[i].ref);
			actor = LA.v[i].actor;
			fn = LA.v[i].fn;
			node = LA.v[i].node ? strdup(LA.v[i].node) : NULL;
			break;
		}
	for (size_t i = 0; actor && i < LA.nnames; i++)
		if (LA.names[i].id == actor)
			cls = strdup(LA.names[i].cls);
	cl_client *cl = L.cl;
	const char *method = cl && cl->names && fn < (uint32_t)cl->nprotos ? cl->names[fn] : "?";
	const char *dot = strrchr(method, '.'); /* "Cls.method": the class is named apart */
	char *mname = strdup(dot ? dot + 1 : method);
	pthread_mutex_unlock(&L.mu);
	int rc = 1;
	if (actor) {
		/* a copy pulled here before (by the driver): sent from here */
		verr e;
		value v;
		if (!lin_reading && obj_import(ref, 0, &v, &e) == 0) {
			*out = v;
			rc = 0;
		} else {
			if (asprintf(err, "%s; the result of method '%s' of actor '%s' was held only by %s, "
			             "which was lost with the actor; an actor method is not run "
			             "again to make a lost result", why, mname, cls ? cls : "?",
			             node ? node : "the actor's node") < 0)
				*err = NULL;
			rc = LIN_ACTOR_DIED;
			task_resolve_lost_method(method); /* e.task (cl->names: the run's) */
		}
	}
	val_rele(ref);
	free(node);
	free(cls);
	free(mname);
	return rc;
}

/* Frees the actor results' records (under L.mu, at the run's end). */
static void lin_actor_free(void)
{
	for (size_t i = 0; i < LA.n; i++) {
		val_rele(LA.v[i].ref);
		free(LA.v[i].node);
	}
	free(LA.v);
	for (size_t i = 0; i < LA.nnames; i++)
		free(LA.names[i].cls);
	free(LA.names);
	memset(&LA, 0, sizeof LA);
}

/* Object `id` (a result) is lost with its holder (why): a reference to
 * the same value made again in *out (0), or -1 with *err (malloc'd): no
 * lineage, a task with effects not marked @idempotent, or LIN_REMAKES
 * re-makes spent; LIN_ACTOR_DIED likewise for an actor method's result
 * (lin_actor_lost: *out may then be the copy pulled here, a value). A
 * result already made again since id was lost is given at once. */
static int lin_remake(const uint8_t id[32], const char *why, value *out, char **err)
{
	struct lin *l = lin_find(id);
	cl_client *cl = L.cl;
	if (!l && cl) {
		int a = lin_actor_lost(id, why, out, err);
		if (a <= 0)
			return a;
	}
	if (!l || !cl) {
		if (asprintf(err, "%s (no lineage to make the object again)", why) < 0)
			*err = NULL;
		return -1;
	}
	pthread_mutex_lock(&l->mu);
	uint8_t cur[32];
	pthread_mutex_lock(&L.mu);
	obj_is_ref(l->cur, cur, NULL, 0, NULL);
	if (memcmp(cur, id, 32) != 0) { /* made again meanwhile */
		*out = val_hold(l->cur);
		pthread_mutex_unlock(&L.mu);
		pthread_mutex_unlock(&l->mu);
		return 0;
	}
	char *holder = l->node ? strdup(l->node) : strdup("its node");
	pthread_mutex_unlock(&L.mu);
	const char *name = cl->names && l->fn < (uint32_t)cl->nprotos ? cl->names[l->fn] : "?";
	int rc = -1;
	*err = NULL;
	while (rc != 0) {
		int blk = !cl->rerun_blk || l->fn >= (uint32_t)cl->nprotos ? (int)l->fn
		        : cl->rerun_blk[l->fn];
		if (blk >= 0 && blk != (int)l->fn && blk < cl->nprotos) {
			/* its own code is safe, a call nested in it is not */
			if (asprintf(err, "%s; the result of task '%s' was held only by %s, which was lost, and "
			             "the task calls '%s', which has effects, so it is not run again (mark "
			             "'%s' @idempotent if running it twice is safe)", why, name, holder,
			             cl->names[blk], cl->names[blk]) < 0)
				*err = NULL;
			break;
		}
		if (blk >= 0) {
			if (asprintf(err, "%s; the result of task '%s' was held only by %s, which was lost, and "
			             "the task has effects, so it is not run again (mark it @idempotent if "
			             "running it twice is safe)", why, name, holder) < 0)
				*err = NULL;
			break;
		}
		if (l->remakes >= LIN_REMAKES) {
			if (asprintf(err, "%s; the result of task '%s' (last on %s) was made again %d times "
			             "and lost each time, so it is not made again", why, name, holder,
			             l->remakes) < 0)
				*err = NULL;
			break;
		}
		l->remakes++;
		fprintf(stderr, "flow: %s, which held the result of task '%s', was lost (%s); making it "
		        "again (%d of %d)\n", holder, name, why, l->remakes, LIN_REMAKES);
		value res = v_none();
		char *e2 = NULL, *node = NULL, *output = NULL;
		int r = run_call(cl, l->fn, l->seed, l->ident, l->args, &res, &e2, &node, &output);
		if (output)
			task_print_remote_to(stderr, node, output);
		free(output);
		if (r == 0) {
			*out = res; /* a reference: outcome noted it (lin_note) */
			rc = 0;
		} else {
			val_rele(res);
			if (r != TASK_REMOTE_LOST) {
				if (asprintf(err, "%s; making the result of task '%s' again failed: %s", why, name,
				             e2 ? e2 : "?") < 0)
					*err = NULL;
				free(e2);
				free(node);
				break;
			}
		}
		free(e2);
		free(node);
	}
	free(holder);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* v with every reference to object `id` in it (items of lists, deeply)
 * replaced by nr (new reference; v itself, held, when none is). */
static value swap_ref(value v, const uint8_t id[32], value nr)
{
	uint8_t x[32];
	if (obj_is_ref(v, x, NULL, 0, NULL))
		return val_hold(memcmp(x, id, 32) == 0 ? nr : v);
	if (v.t != V_LIST)
		return val_hold(v);
	size_t n = list_len(v);
	value r = list_new(n);
	for (size_t i = 0; i < n; i++)
		list_append_take(r, swap_ref(list_get(v, i), id, nr));
	val_freeze(r);
	return r;
}

/* A WIRE_DONE_ARG_LOST outcome's object id (its result: 64 hex digits):
 * 1, or 0 when the result is not one. Only the status says an argument
 * was lost; the error's text is for people (a task may fail with any). */
static int arg_lost_id(value result, uint8_t id[32])
{
	if (result.t != V_STR || str_len(result) != 64)
		return 0;
	const char *p = str_data(result);
	for (int i = 0; i < 64; i++) {
		char c = p[i];
		int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (x < 0)
			return 0;
		if (i % 2 == 0)
			id[i / 2] = (uint8_t)(x << 4);
		else
			id[i / 2] |= (uint8_t)x;
	}
	return 1;
}

/* A call whose argument `id` was lost: its arguments with a re-made
 * reference in *nargs (0), or -1 with *err (consumed old err). */
static int remake_arg(value args, const uint8_t id[32], char **err, value *nargs)
{
	value nr;
	char *why = *err, *e2 = NULL;
	if (lin_remake(id, why, &nr, &e2) != 0) {
		free(why);
		*err = e2;
		return -1;
	}
	free(why);
	*err = NULL;
	*nargs = swap_ref(args, id, nr);
	val_rele(nr);
	return 0;
}

void cl_client_set_program(cl_client *cl, const bc_program *prog)
{
	cl->nprotos = prog->nprotos;
	/* a caller whose nested calls are all safe to re-run (effect-free or
	 * @idempotent) is re-run with them: nested calls fate-share with it */
	cl->rerun_blk = effects_rerun_blockers(prog);
	cl->names = calloc((size_t)prog->nprotos + 1, sizeof *cl->names);
	if (!cl->names)
		abort();
	for (int i = 0; i < prog->nprotos; i++)
		cl->names[i] = strdup(prog->protos[i]->name ? prog->protos[i]->name : "?");
	/* only a call without needs may go to the leased worker (the head
	 * places the others where their needs fit) */
	bool *nn = calloc((size_t)prog->nprotos + 1, sizeof *nn);
	if (!nn)
		abort();
	for (int i = 0; i < prog->nprotos; i++)
		nn[i] = prog->protos[i]->kind == PROTO_TASK && !place_has_needs(&prog->protos[i]->attrs);
	pthread_mutex_lock(&cl->mu);
	cl->no_needs = nn;
	pthread_mutex_unlock(&cl->mu);
}

static void call_back(cl_client *cl, struct slot *s, struct wire_done *d);

static wire_client *pump_link(void *arg, verr *e)
{
	cl_client *cl = arg;
	(void)e;
	return cl->c;
}

static wire_client *pump_ready(void *arg)
{
	return ((cl_client *)arg)->c;
}

/* Outcome d (its contents taken) of call s (taken off the map: this
 * thread's until posted) to its caller. */
static void hand_on(cl_client *cl, struct slot *s, struct wire_done *d)
{
	if (!s) {
		wire_done_free(d);
		return;
	}
	if (s->cb) {
		call_back(cl, s, d);
		return;
	}
	s->d = *d;
	sem_post(&s->done);
}

/* A pump thread: outcomes wake their callers. */
static void pump_done(void *arg, struct wire_done *d, uint32_t n)
{
	cl_client *cl = arg;
	struct slot *one[256], **s = n <= 256 ? one : malloc(n * sizeof *s);
	if (!s)
		abort();
	pthread_mutex_lock(&cl->mu);
	for (uint32_t i = 0; i < n; i++)
		s[i] = bt_map_del(&cl->calls, d[i].id);
	pthread_mutex_unlock(&cl->mu);
	for (uint32_t i = 0; i < n; i++)
		hand_on(cl, s[i], &d[i]);
	if (s != one)
		free(s);
}

/* The connection to the head failed: every call in flight fails with it. */
static void pump_lost(void *arg, const char *why, int in_call)
{
	cl_client *cl = arg;
	(void)in_call;
	char *text;
	if (asprintf(&text, "%s%s", why,
	             wire_client_lost(cl->c) ? " (the connection to the head closed)" : "") < 0)
		text = NULL;
	pthread_mutex_lock(&cl->mu);
	/* said once, and the run stops: every call would fail the same way */
	if (!cl->lost) {
		fprintf(stderr, "flow run: lost the head at %s: %s; the run stops\n", cl->address,
		        text ? text : why);
		interrupt_stop_run();
	}
	free(cl->lost);
	cl->lost = text;
	struct slot **cbs = NULL;
	size_t ncb = 0;
	for (size_t i = 0; i < cl->calls.cap; i++) {
		struct slot *s = cl->calls.vals[i];
		if (!cl->calls.keys[i] || !s)
			continue;
		if (s->cb) { /* called back below, without the lock */
			if (!(ncb & (ncb + 1)) && !(cbs = realloc(cbs, (2 * ncb + 2) * sizeof *cbs)))
				abort();
			cbs[ncb++] = s;
			continue;
		}
		s->lost = strdup(text ? text : "the connection to the head failed");
		sem_post(&s->done);
	}
	bt_map_free(&cl->calls);
	pthread_mutex_unlock(&cl->mu);
	for (size_t i = 0; i < ncb; i++) {
		struct slot *s = cbs[i];
		s->cb(s->cb_arg, -1, v_none(), strdup(text ? text : "the connection to the head failed"),
		      NULL, NULL);
		val_rele(s->args);
		free(s);
	}
	free(cbs);
}

/* Test hook: FLOW_TEST_PULL_DELAY_MS=N (docs/faults.md) makes the client
 * wait N ms before it pulls a large result, saying so on stderr with the
 * holder's address, so a test can kill the holder in between. */
static void test_pull_delay(value result)
{
	static int cached = -1;
	int ms = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	if (ms < 0) {
		const char *s = getenv("FLOW_TEST_PULL_DELAY_MS");
		int v = s ? atoi(s) : 0;
		ms = v < 0 ? 0 : v > 60000 ? 60000 : v;
		__atomic_store_n(&cached, ms, __ATOMIC_RELAXED);
	}
	char holder[128];
	uint64_t total;
	if (!ms || !obj_is_ref(result, NULL, holder, sizeof holder, &total))
		return;
	fprintf(stderr, "flow: test hook: pulling a result of %llu bytes from %s in %d ms\n",
	        (unsigned long long)total, holder, ms);
	usleep((useconds_t)ms * 1000);
}

/* outcome's status for a call that did not start because an argument's
 * holder was lost (WIRE_DONE_ARG_LOST; the object's id in *lost): never
 * returned from task_remote.run or given to a submit callback. */
#define CL_ARG_LOST 4 /* (not one of task_run.h's TASK_REMOTE_* codes) */

/* What task_remote.run returns for outcome d (consumed) of call s (sent
 * at s->t_send), or CL_ARG_LOST with the lost argument's id in lost. */
static int outcome(struct wire_done *d, const struct slot *s, value *res, char **err,
                   char **node, char **output, uint8_t lost[32])
{
	uint64_t t_send = s->t_send;
	if (d->thread) { /* where and when it ran, for --trace (run_obs.h) */
		obs_remote_ran(d->node, d->thread, t_send, obs_now_ns(), d->start_us, d->end_us);
		task_output_note_trace(d->output); /* ... and its nested calls that spilled */
	}
	*node = d->node && d->node[0] ? strdup(d->node) : NULL;
	*output = d->output && d->output[0] ? strdup(d->output) : NULL;
	int status = 0;
	/* a result that cannot travel (larger than a message: objects do not
	 * travel in chunks yet; an actor, a function): the task runs here
	 * instead, its remote prints dropped. Only the status says so: a
	 * task's own error with the same text is an ordinary failure. */
	if (d->ok == WIRE_DONE_UNSENDABLE) {
		wire_done_free(d);
		free(*node);
		free(*output);
		*node = *output = NULL;
		return 2;
	}
	if (d->ok == WIRE_DONE_OK) {
		/* a large result stays on its node: its reference goes on to the
		 * tasks that use it, and is pulled here only if the driver or a
		 * task here reads it (resolve_ref); freed at the run's end */
		*res = val_hold(d->result);
		if (obj_is_ref(*res, NULL, NULL, 0, NULL)) {
			obj_note_remote(*res);
			lin_note(s->fn, s->seed, s->ident, s->args, *res, d->node);
		}
	} else {
		*err = strdup(d->error && d->error[0] ? d->error : "the task failed");
		if (d->ok == WIRE_DONE_ARG_LOST && arg_lost_id(d->result, lost))
			status = CL_ARG_LOST;
		else if (d->ok == WIRE_DONE_FAILED && d->ekind == ERR_TIMEOUT)
			status = TASK_REMOTE_TIMEOUT; /* its @timeout passed there */
		else if (d->ok == WIRE_DONE_FAILED || d->ok == WIRE_DONE_ARG_LOST)
			status = 1; /* (an ARG_LOST without an id: a failure as said) */
		else if (d->ok == WIRE_DONE_LOST)
			status = TASK_REMOTE_LOST; /* its node was lost (the error names
			                            * it): the caller may send it again */
		else
			status = -1; /* not run: no node for it, ... */
	}
	/* a failure caused by another call's (version 8): that cause, as
	 * `except e` sees it, for task_remote.h's caller */
	if ((status == 1 || status == TASK_REMOTE_TIMEOUT) && d->ok == WIRE_DONE_FAILED &&
	    d->result.t == V_ERROR)
		*res = val_hold(d->result);
	wire_done_free(d);
	return status;
}

static bool is_ref(value v) { return obj_is_ref(v, NULL, NULL, 0, NULL) != 0; }

/* What code here reads of a result left on its node (task_run.h's
 * task_set_resolver): pulled once, then kept in this process's store. */
static int resolve_ref(value v, value *out, char **err)
{
	if (!obj_is_ref(v, NULL, NULL, 0, NULL))
		return 0;
	verr e;
	test_pull_delay(v);
	value r = val_hold(v);
	int rc;
	/* its holder lost: made again from its lineage (lin_remake bounds it) */
	while ((rc = obj_import(r, 0, out, &e)) == -2) {
		uint8_t id[32];
		value nr;
		obj_is_ref(r, id, NULL, 0, NULL);
		lin_reading = 1;
		int lr = lin_remake(id, e.msg, &nr, err);
		lin_reading = 0;
		if (lr != 0) {
			val_rele(r);
			return lr == LIN_ACTOR_DIED ? -2 : -1;
		}
		val_rele(r);
		r = nr;
	}
	val_rele(r);
	if (rc != 0) {
		*err = strdup(e.msg);
		return -1;
	}
	return 1;
}

static int submit_remote(void *ctx, uint32_t fn, uint64_t seed, uint64_t ident, value args,
                         void (*done)(void *arg, int rc, value res, char *err, char *node,
                                      char *output),
                         void *arg, char **err);

/* A submitted call whose argument was lost, sent again from a thread of
 * its own (the re-make waits for a call: not on the pump's thread). */
struct resend {
	cl_client *cl;
	struct slot *s;
	char *err;
	uint8_t id[32]; /* the lost argument */
};

static void *resend_main(void *arg)
{
	struct resend *r = arg;
	struct slot *s = r->s;
	cl_client *cl = r->cl;
	value na;
	char *err = r->err;
	pthread_mutex_lock(&cl->mu);
	bool stopped = cl->stopped;
	pthread_mutex_unlock(&cl->mu);
	if (stopped) { /* the run stopped: nothing is made again for it */
		free(err);
		err = strdup("the run stopped");
	} else if (remake_arg(s->args, r->id, &err, &na) == 0) {
		pthread_mutex_lock(&cl->mu);
		stopped = cl->stopped; /* it stopped while the argument was made */
		pthread_mutex_unlock(&cl->mu);
		int rc = stopped ? -1
		                 : submit_remote(cl, s->fn, s->seed, s->ident, na, s->cb, s->cb_arg, &err);
		if (stopped)
			err = strdup("the run stopped");
		val_rele(na);
		if (rc == 0)
			goto out;
		if (rc == 2 && asprintf(&err, "the task's arguments cannot be sent again") < 0)
			err = NULL;
	}
	s->cb(s->cb_arg, -1, v_none(), err, NULL, NULL);
out:
	val_rele(s->args);
	free(s);
	free(r);
	/* the last use of cl: close may free it once this is unlocked */
	pthread_mutex_lock(&cl->mu);
	if (--cl->resends == 0)
		pthread_cond_broadcast(&cl->resends_cv);
	pthread_mutex_unlock(&cl->mu);
	return NULL;
}

/* A submitted call's outcome d (consumed) goes to its callback; s goes. */
static void call_back(cl_client *cl, struct slot *s, struct wire_done *d)
{
	value res = v_none();
	char *err = NULL, *node = NULL, *output = NULL;
	uint8_t lost[32];
	int rc = outcome(d, s, &res, &err, &node, &output, lost);
	if (rc == CL_ARG_LOST) {
		free(node);
		free(output);
		struct resend *r = calloc(1, sizeof *r);
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (!r)
			abort();
		r->cl = cl;
		r->s = s;
		r->err = err;
		memcpy(r->id, lost, 32);
		pthread_mutex_lock(&cl->mu);
		cl->resends++;
		pthread_mutex_unlock(&cl->mu);
		val_threads_begin(); /* the new thread touches values (value.h) */
		if (pthread_create(&th, &at, resend_main, r) == 0) {
			pthread_attr_destroy(&at);
			return;
		}
		pthread_attr_destroy(&at);
		pthread_mutex_lock(&cl->mu);
		cl->resends--;
		pthread_mutex_unlock(&cl->mu);
		free(r);
		rc = -1;
		node = output = NULL;
	}
	s->cb(s->cb_arg, rc, res, err, node, output);
	val_rele(s->args);
	free(s);
}

/* Encodes call c into b and puts slot s (keyed by c->id) on the map, and
 * the record on the pump: the leased worker's (direct: may_direct, a
 * lease ready, no other call out, no needs, no object reference, a small
 * record) or the head's. 2: it cannot travel; 1: its large arguments could not be held
 * here (*err); -1: lost (*err). */
static int send_call_on(cl_client *cl, struct wire_call *c, struct slot *s, char **err,
                        int may_direct)
{
	/* an argument that cannot be encoded (an actor), or a call larger
	 * than a message: the task runs here */
	sbuf b;
	verr e;
	/* large arguments are held here and pulled by the task's node */
	value args = c->args;
	if (obj_export_args(args, &c->args, &e) != 0) {
		c->args = args;
		*err = strdup(e.msg);
		return 1;
	}
	sbuf_init(&b);
	int enc = wire_encode_call(c, &b, &e);
	val_rele(c->args);
	c->args = args;
	if (enc != WIRE_OK || b.len > BT_MAX_RECORD) {
		sbuf_fini(&b);
		return 2;
	}
	s->t_send = obs_now_ns();
	/* a reference to an object (its key in the record's bytes; a string
	 * that happens to hold it only sends the call through the head):
	 * placed by the head, near its holder */
	may_direct = may_direct && b.len <= DIRECT_MAX_RECORD && cl->no_needs &&
	             c->fn < (uint32_t)cl->nprotos && cl->no_needs[c->fn] &&
	             !memmem(b.data, b.len, OBJ_REF_KEY, sizeof OBJ_REF_KEY - 1);
	pthread_mutex_lock(&cl->mu);
	int lost = cl->lost != NULL;
	if (!lost) {
		s->direct = 0;
		/* direct only while no other call is out: a synchronous round
		 * trip's latency; calls that go together (throughput) are placed
		 * by the head, which knows every node's load */
		if (may_direct && cl->d.ready && cl->d.running < cl->d.cap && cl->calls.n == 0) {
			s->direct = 1;
			cl->d.running++;
		} else if (may_direct && !cl->d.want && cl->d.started) {
			cl->d.want = true; /* the lease thread takes one */
			pthread_cond_signal(&cl->d.cv);
		}
		bt_map_put(&cl->calls, c->id, s);
		if (s->direct && bt_pump_add(cl->d.pump, b.data, b.len) != 0) {
			/* its connection just failed: through the head */
			s->direct = 0;
			cl->d.running--;
			cl->d.ready = false;
		}
		if (!s->direct && bt_pump_add(cl->pump, b.data, b.len) != 0) {
			bt_map_del(&cl->calls, c->id);
			lost = 1;
		}
	}
	if (lost)
		*err = strdup(cl->lost ? cl->lost : "the connection to the head failed");
	pthread_mutex_unlock(&cl->mu);
	sbuf_fini(&b);
	return lost ? -1 : 0;
}

static int send_call(cl_client *cl, struct wire_call *c, struct slot *s, char **err)
{
	return send_call_on(cl, c, s, err, 1);
}

/* ---- direct calls: a lease on a worker (docs/wire.md, "Direct calls") ---- */

static wire_client *direct_link(void *arg, verr *e)
{
	cl_client *cl = arg;
	pthread_mutex_lock(&cl->mu);
	wire_client *c = cl->d.c;
	pthread_mutex_unlock(&cl->mu);
	if (!c)
		verr_set(e, "not connected");
	return c;
}

static wire_client *direct_ready(void *arg)
{
	cl_client *cl = arg;
	return cl->d.c; /* set before the first call is added, kept until the pump stops */
}

/* Calls s[0..n) were direct and are lost with their node (why): each gets
 * outcome WIRE_DONE_LOST naming the node, as the head gives a call whose
 * node was lost (the caller may send it again: through the head, since
 * the lease is broken). */
static void direct_fail(cl_client *cl, struct slot **s, size_t n, const char *why)
{
	char text[1200];
	snprintf(text, sizeof text, "%s did not return the task's result: %s (the node was lost)",
	         cl->d.name, why);
	for (size_t i = 0; i < n; i++) {
		struct wire_done d = {.id = 0, .ok = WIRE_DONE_LOST, .result = v_none()};
		d.error = strdup(text);
		d.node = strdup(cl->d.name);
		if (!d.error || !d.node)
			abort();
		hand_on(cl, s[i], &d);
	}
}

/* Takes every direct call off the map (under mu): *out (malloc'd). */
static size_t direct_take_all(cl_client *cl, struct slot ***out)
{
	struct slot **v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < cl->calls.cap; i++) {
		struct slot *s = cl->calls.vals[i];
		if (!cl->calls.keys[i] || !s || !s->direct)
			continue;
		if (!(n & (n + 1)) && !(v = realloc(v, (2 * n + 2) * sizeof *v)))
			abort();
		v[n++] = s;
		bt_map_del(&cl->calls, cl->calls.keys[i]);
		i--; /* the map may have moved an entry into this place */
	}
	cl->d.running = 0;
	*out = v;
	return n;
}

/* The direct connection failed (a pump thread): its calls are lost, no
 * new one goes to it, and the lease thread ends the lease. */
static void direct_lost(void *arg, const char *why, int in_call)
{
	cl_client *cl = arg;
	(void)in_call;
	struct slot **v;
	pthread_mutex_lock(&cl->mu);
	cl->d.ready = false;
	cl->d.broken = true;
	size_t n = direct_take_all(cl, &v);
	pthread_cond_signal(&cl->d.cv);
	pthread_mutex_unlock(&cl->mu);
	direct_fail(cl, v, n, why);
	free(v);
}

/* Outcomes from the leased worker, on nng's thread that got them: handing
 * them on waits on nothing (a result left on its node is pulled when
 * read, not here), so no thread of the client is woken but the caller. A
 * call the worker did not take (it drains) goes through the head. */
static void direct_done(void *arg, struct wire_done *d, uint32_t n)
{
	cl_client *cl = arg;
	struct slot *one[64], **s = n <= 64 ? one : malloc(n * sizeof *s);
	if (!s)
		abort();
	pthread_mutex_lock(&cl->mu);
	for (uint32_t i = 0; i < n; i++) {
		s[i] = bt_map_del(&cl->calls, d[i].id);
		if (!s[i] || !s[i]->direct)
			continue;
		if (cl->d.running)
			cl->d.running--;
		if (d[i].ok == WIRE_DONE_NOTRUN)
			cl->d.ready = false; /* draining: the next calls go through the head */
		else if (d[i].ok == WIRE_DONE_OK)
			cl->d.done++;
		else
			cl->d.failed++;
	}
	pthread_mutex_unlock(&cl->mu);
	for (uint32_t i = 0; i < n; i++) {
		if (s[i] && s[i]->direct && d[i].ok == WIRE_DONE_NOTRUN) {
			wire_done_free(&d[i]);
			struct wire_call c = {.job = cl->job, .fn = s[i]->fn, .ident = s[i]->ident,
			                      .seed = s[i]->seed, .args = s[i]->args};
			memcpy(c.hash, cl->hash, 32);
			c.id = __atomic_add_fetch(&cl->seq, 1, __ATOMIC_RELAXED);
			char *err = NULL;
			int rc = send_call_on(cl, &c, s[i], &err, 0);
			if (rc == 0)
				continue;
			struct wire_done f = {.ok = WIRE_DONE_NOTRUN, .result = v_none()};
			f.error = err ? err : strdup("the call could not be sent again");
			hand_on(cl, s[i], &f);
			continue;
		}
		hand_on(cl, s[i], &d[i]);
	}
	if (s != one)
		free(s);
}

/* One LEASE to the head: the answer's node (0: none) with its name and
 * state; -1 if the head did not answer. */
static int64_t lease_call(cl_client *cl, int op, uint64_t node, uint32_t running, uint64_t done,
                          uint64_t failed, char *name, size_t namesz, char *address,
                          size_t addrsz, char *state, size_t statesz)
{
	struct wire_msg req = {.kind = WM_LEASE}, rep = {0};
	req.u.lease.op = (uint8_t)op;
	req.u.lease.node = node;
	req.u.lease.running = running;
	req.u.lease.done = done;
	req.u.lease.failed = failed;
	req.u.lease.job = cl->job;
	verr e;
	if (wire_client_call(cl->c, &req, &rep, OPEN_MS, &e) != WIRE_OK)
		return -1;
	if (rep.kind != WM_LEASED) {
		wire_msg_free(&rep);
		return -1;
	}
	int64_t got = (int64_t)rep.u.leased.node;
	if (name)
		snprintf(name, namesz, "%s", rep.u.leased.name);
	if (address)
		snprintf(address, addrsz, "%s", rep.u.leased.address);
	if (state)
		snprintf(state, statesz, "%s", rep.u.leased.state);
	wire_msg_free(&rep);
	return got;
}

/* Takes a lease, connects to its worker (the handshake, the plan) and
 * starts its pump; 1 when calls may go to it. (The lease thread.) */
static int direct_open(cl_client *cl)
{
	char name[500], address[128], url[300];
	int64_t node = lease_call(cl, WIRE_LEASE_TAKE, 0, 0, 0, 0, name, sizeof name, address,
	                          sizeof address, NULL, 0);
	if (node <= 0)
		return 0;
	wire_client *c = NULL;
	verr e;
	int ok = wire_url(address, url, sizeof url) == 0 &&
	         wire_client_open(&c, url, OPEN_MS, &e) == WIRE_OK &&
	         wire_client_handshake(c, &cl->tok, WIRE_ROLE_CLIENT, OPEN_MS, &e) == WIRE_OK;
	ok = ok && plan_send(c, cl->hash, cl->plan, cl->plan_len, PUT_MS, &e) == 0;
	if (!ok) { /* through the head, as before; tried again later */
		wire_client_close(c);
		lease_call(cl, WIRE_LEASE_RETURN, (uint64_t)node, 0, 0, 0, NULL, 0, NULL, 0, NULL, 0);
		return 0;
	}
	uint32_t cap = 1;
	for (int i = 0; i < cl->n; i++)
		if (strtoull(cl->ids[i], NULL, 10) == (uint64_t)node && cl->views[i].cpus > 0)
			cap = (uint32_t)cl->views[i].cpus;
	pthread_mutex_lock(&cl->mu);
	cl->d.c = c;
	cl->d.node = (uint64_t)node;
	snprintf(cl->d.name, sizeof cl->d.name, "%s", name);
	cl->d.cap = cap;
	cl->d.broken = false;
	cl->d.running = 0;
	pthread_mutex_unlock(&cl->mu);
	cl->d.pump = bt_pump_start(&(bt_pump_ops){direct_link, direct_done, direct_lost, direct_ready, 1},
	                           cl, 2);
	pthread_mutex_lock(&cl->mu);
	cl->d.ready = true;
	pthread_mutex_unlock(&cl->mu);
	return 1;
}

/* Ends the lease: its connection and pump go (a call still out there is
 * lost: sent again through the head), the head is told. (The lease
 * thread, mu not held.) */
static void direct_close(cl_client *cl)
{
	pthread_mutex_lock(&cl->mu);
	cl->d.ready = false;
	wire_client *c = cl->d.c;
	bt_pump *p = cl->d.pump;
	pthread_mutex_unlock(&cl->mu);
	wire_client_shutdown(c);
	bt_pump_stop(p);
	struct slot **v;
	pthread_mutex_lock(&cl->mu);
	size_t n = direct_take_all(cl, &v);
	uint64_t node = cl->d.node, done = cl->d.done, failed = cl->d.failed;
	cl->d.done = cl->d.failed = 0;
	cl->d.pump = NULL;
	cl->d.c = NULL;
	cl->d.node = 0;
	pthread_mutex_unlock(&cl->mu);
	direct_fail(cl, v, n, "the client ended its lease");
	free(v);
	wire_client_close(c);
	lease_call(cl, WIRE_LEASE_RETURN, node, 0, done, failed, NULL, 0, NULL, 0, NULL, 0);
}

#define DIRECT_KEEP_MS 200   /* a lease is reported on this often */
#define DIRECT_RETRY_MS 1000 /* no lease (none granted, its node lost): asked again after */

/* The lease thread: takes a lease once a call could go direct, reports
 * on it every DIRECT_KEEP_MS (its calls for `flow status`; the head says
 * whether its node is still alive), and ends it when the head says the
 * node is not (dead or gone: its calls in flight are lost now; draining
 * or suspect: once they are back), when its connection fails, or when
 * the client closes. */
static void *direct_main(void *arg)
{
	cl_client *cl = arg;
	int64_t next = 0;
	pthread_mutex_lock(&cl->mu);
	while (!cl->d.stop) {
		int64_t now = mono_now_ms();
		if (!cl->d.want || now < next) {
			if (!cl->d.want) {
				pthread_cond_wait(&cl->d.cv, &cl->mu);
			} else {
				struct timespec dl;
				wire_deadline(&dl, (int)(next - now));
				pthread_cond_timedwait(&cl->d.cv, &cl->mu, &dl);
			}
			if (!cl->d.broken)
				continue;
		}
		if (cl->lost)
			break; /* the head is lost: the run stops */
		if (!cl->d.pump) {
			pthread_mutex_unlock(&cl->mu);
			int ok = direct_open(cl);
			pthread_mutex_lock(&cl->mu);
			next = mono_now_ms() + (ok ? DIRECT_KEEP_MS : DIRECT_RETRY_MS);
			continue;
		}
		if (cl->d.broken || (!cl->d.ready && cl->d.running == 0)) {
			pthread_mutex_unlock(&cl->mu);
			direct_close(cl);
			pthread_mutex_lock(&cl->mu);
			next = mono_now_ms() + DIRECT_RETRY_MS;
			continue;
		}
		uint64_t node = cl->d.node, done = cl->d.done, failed = cl->d.failed;
		uint32_t running = cl->d.running;
		cl->d.done = cl->d.failed = 0;
		pthread_mutex_unlock(&cl->mu);
		char state[32] = "";
		int64_t got = lease_call(cl, WIRE_LEASE_KEEP, node, running, done, failed, NULL, 0, NULL,
		                         0, state, sizeof state);
		pthread_mutex_lock(&cl->mu);
		next = mono_now_ms() + DIRECT_KEEP_MS;
		if (got == (int64_t)node)
			continue;
		cl->d.ready = false; /* no new call goes there */
		if (got < 0 || strcmp(state, "dead") == 0 || strcmp(state, "gone") == 0) {
			/* lost: its calls fail now (direct_lost), and are sent again */
			wire_client *c = cl->d.c;
			pthread_mutex_unlock(&cl->mu);
			wire_client_shutdown(c);
			pthread_mutex_lock(&cl->mu);
		}
	}
	bool held = cl->d.pump != NULL;
	pthread_mutex_unlock(&cl->mu);
	if (held)
		direct_close(cl);
	return NULL;
}

/* One call sent and awaited (task_remote.run), or CL_ARG_LOST (the lost
 * argument's id in lost). */
static int run_once(cl_client *cl, uint32_t fn, uint64_t seed, uint64_t ident, value args,
                    value *res, char **err, char **node, char **output, uint8_t lost[32])
{
	struct wire_call c = {.job = cl->job, .fn = fn, .ident = ident, .seed = seed, .args = args};
	memcpy(c.hash, cl->hash, 32);
	struct slot s = {.lost = NULL, .fn = fn, .seed = seed, .ident = ident, .args = args};
	c.id = __atomic_add_fetch(&cl->seq, 1, __ATOMIC_RELAXED);
	sem_init(&s.done, 0, 0);
	int rc = send_call(cl, &c, &s, err);
	if (rc != 0) {
		sem_destroy(&s.done);
		return rc;
	}
	while (sem_wait(&s.done) != 0)
		; /* EINTR */
	sem_destroy(&s.done);
	if (s.lost) {
		*err = s.lost;
		return -1;
	}
	return outcome(&s.d, &s, res, err, node, output, lost);
}

/* run_once; a call whose argument's holder was lost is sent again with
 * the argument made again (lin_remake bounds it: LIN_REMAKES per
 * object). */
static int run_call(cl_client *cl, uint32_t fn, uint64_t seed, uint64_t ident, value args,
                    value *res, char **err, char **node, char **output)
{
	value a = val_hold(args);
	int rc;
	for (int tries = 0;; tries++) {
		uint8_t id[32];
		rc = run_once(cl, fn, seed, ident, a, res, err, node, output, id);
		if (rc != CL_ARG_LOST)
			break;
		free(*node);
		free(*output);
		*node = *output = NULL;
		value na;
		rc = -1;
		if (tries > 4 * LIN_REMAKES || remake_arg(a, id, err, &na) != 0)
			break;
		val_rele(a);
		a = na;
	}
	val_rele(a);
	return rc;
}

static int run_remote(void *ctx, uint32_t fn, uint64_t seed, uint64_t ident, value args,
                      value *res, char **err, char **node, char **output)
{
	return run_call(ctx, fn, seed, ident, args, res, err, node, output);
}

static int submit_remote(void *ctx, uint32_t fn, uint64_t seed, uint64_t ident, value args,
                         void (*done)(void *arg, int rc, value res, char *err, char *node,
                                      char *output),
                         void *arg, char **err)
{
	cl_client *cl = ctx;
	struct wire_call c = {.job = cl->job, .fn = fn, .ident = ident, .seed = seed, .args = args};
	memcpy(c.hash, cl->hash, 32);
	c.id = __atomic_add_fetch(&cl->seq, 1, __ATOMIC_RELAXED);
	struct slot *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->cb = done;
	s->cb_arg = arg;
	s->fn = fn;
	s->seed = seed;
	s->ident = ident;
	s->args = val_hold(args);
	int rc = send_call(cl, &c, s, err);
	if (rc != 0) {
		val_rele(s->args);
		free(s);
	}
	return rc;
}

static void abandon_remote(void *ctx)
{
	cl_client *cl = ctx;
	struct slot **cbs = NULL;
	size_t ncb = 0;
	pthread_mutex_lock(&cl->mu);
	cl->stopped = true; /* a re-send under way answers "the run stopped" */
	for (size_t i = 0; i < cl->calls.cap; i++) {
		struct slot *s = cl->calls.vals[i];
		if (!cl->calls.keys[i] || !s || !s->cb)
			continue;
		if (!(ncb & (ncb + 1)) && !(cbs = realloc(cbs, (2 * ncb + 2) * sizeof *cbs)))
			abort();
		cbs[ncb++] = s;
		if (s->direct && cl->d.running)
			cl->d.running--;
		bt_map_del(&cl->calls, cl->calls.keys[i]);
		i--; /* the map may have moved an entry into this place */
	}
	pthread_mutex_unlock(&cl->mu);
	for (size_t i = 0; i < ncb; i++) {
		cbs[i]->cb(cbs[i]->cb_arg, -1, v_none(), strdup("the run stopped"), NULL, NULL);
		val_rele(cbs[i]->args);
		free(cbs[i]);
	}
	free(cbs);
}

static int put_plan(cl_client *cl, const uint8_t *plan, size_t len, verr *e)
{
	verr ce;
	if (plan_send(cl->c, cl->hash, plan, len, PUT_MS, &ce) != 0) {
		verr_set(e, "the head at %s did not take the plan: %s", cl->address, ce.msg);
		return -1;
	}
	return 0;
}

static int read_members(cl_client *cl, verr *e)
{
	struct wire_msg req = {.kind = WM_STATUS}, rep = {0};
	verr ce;
	if (wire_client_call(cl->c, &req, &rep, OPEN_MS, &ce) != WIRE_OK) {
		verr_set(e, "the head at %s did not answer STATUS: %s", cl->address, ce.msg);
		return -1;
	}
	if (rep.kind != WM_STATUS_REPLY) {
		verr_set(e, "the head at %s answered STATUS with %s", cl->address, wire_kind_name(rep.kind));
		wire_msg_free(&rep);
		return -1;
	}
	const wire_NODES *ns = &rep.u.status_reply.nodes;
	int n = (int)ns->n;
	cl->views = calloc((size_t)n + 1, sizeof *cl->views);
	cl->peers = calloc((size_t)n + 1, sizeof *cl->peers);
	cl->ids = calloc((size_t)n + 1, sizeof *cl->ids);
	cl->hosts = calloc((size_t)n + 1, sizeof *cl->hosts);
	cl->addrs = calloc((size_t)n + 1, sizeof *cl->addrs);
	cl->rnames = calloc((size_t)n + 1, sizeof *cl->rnames);
	cl->ramounts = calloc((size_t)n + 1, sizeof *cl->ramounts);
	if (!cl->views || !cl->peers || !cl->ids || !cl->hosts || !cl->addrs || !cl->rnames ||
	    !cl->ramounts)
		abort();
	cl->cpus = 0;
	for (int i = 0; i < n; i++) {
		const struct wire_node *x = &ns->v[i];
		bool alive = strcmp(x->state, "alive") == 0;
		snprintf(cl->ids[i], sizeof cl->ids[i], "%llu", (unsigned long long)x->id);
		snprintf(cl->hosts[i], sizeof cl->hosts[i], "%s", x->host);
		snprintf(cl->addrs[i], sizeof cl->addrs[i], "%s", x->address);
		int nres = place_parse_resources(x->resources, cl->rnames[i], cl->ramounts[i], PLACE_MAX_RES);
		cl->views[i] = (flow_node_view){cl->ids[i], cl->addrs[i], cl->hosts[i], x->cpus,
		                                (double)x->store_cap, nres,
		                                (const char *const *)cl->rnames[i], cl->ramounts[i], alive,
		                                NULL, 0};
		cl->peers[i] = &cl->views[i];
		if (alive)
			cl->cpus += (int)x->cpus;
	}
	cl->n = n;
	wire_msg_free(&rep);
	return 0;
}

cl_client *cl_client_open(const char *address, const auth_token *tok, const uint8_t *plan,
                          size_t len, verr *e)
{
	char url[300];
	if (wire_url(address, url, sizeof url) != 0) {
		verr_set(e, "--address expects HOST:PORT, not '%s'", address);
		return NULL;
	}
	cl_client *cl = calloc(1, sizeof *cl);
	if (!cl)
		abort();
	snprintf(cl->address, sizeof cl->address, "%s", address);
	verr ce;
	int rc = wire_client_open(&cl->c, url, OPEN_MS, &ce);
	if (rc != WIRE_OK) {
		verr_set(e, "cannot reach the head at %s: %s", address, ce.msg);
		free(cl);
		return NULL;
	}
	rc = wire_client_handshake(cl->c, tok, WIRE_ROLE_CLIENT, OPEN_MS, &ce);
	if (rc != WIRE_OK) {
		verr_set(e, "the head at %s refused us: %s", address,
		         rc == WIRE_EAUTH ? ce.msg : wire_strerror(rc));
		cl_client_close(cl);
		return NULL;
	}
	{
		char ip[64] = "";
		wire_client_local_ip(cl->c, ip, sizeof ip);
		obj_init(tok, address, NULL, ip);
		task_set_resolver(resolve_ref);
		task_set_ref_test(is_ref);
		L.cl = cl;
	}
	plan_hash(plan, len, cl->hash);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	cl->job = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec;
	if (read_members(cl, e) != 0 || put_plan(cl, plan, len, e) != 0) {
		cl_client_close(cl);
		return NULL;
	}
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->resends_cv, NULL);
	cl->tok = *tok;
	if (!(cl->plan = malloc(len ? len : 1)))
		abort();
	memcpy(cl->plan, plan, len);
	cl->plan_len = len;
	pthread_cond_init(&cl->d.cv, NULL);
	/* FLOW_DIRECT=0: every call through the head (docs/wire.md) */
	const char *dv = getenv("FLOW_DIRECT");
	if (!dv || strcmp(dv, "0") != 0) {
		val_threads_begin(); /* its pump's callbacks touch values (value.h) */
		cl->d.started = pthread_create(&cl->d.th, NULL, direct_main, cl) == 0;
	}
	/* pump_link never waits: calls leave from the submitting thread;
	 * outcomes are handed on by the pump's threads (a result may be
	 * pulled from its holder there, which waits on the network) */
	cl->pump = bt_pump_start(&(bt_pump_ops){pump_link, pump_done, pump_lost, pump_ready, 0}, cl, 2);
	cl->remote = (task_remote){.run = run_remote, .ctx = cl, .submit = submit_remote,
	                           .abandon = abandon_remote};
	/* actors live on the cluster: creations and calls go to the head */
	task_actors_codec_init();
	cl->svc = ac_service_new(cl->c, NULL, cl->hash, cl->job, cl->address);
	task_set_actors(ac_service_actors(cl->svc));
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	cl->self = (flow_node_view){"client", "", NULL, cl->cpus > 0 ? cl->cpus : 1, 0, 0, NULL,
	                            NULL, true, cl->peers, cl->n};
	return cl;
}

const task_remote *cl_client_remote(cl_client *c) { return &c->remote; }
int cl_client_cpus(const cl_client *c)
{
	int n = (c->cpus > 0 ? c->cpus : 1) * CL_INFLIGHT_PER_CPU;
	return n < CL_INFLIGHT_MAX ? n : CL_INFLIGHT_MAX;
}
const flow_node_view *cl_client_view(const cl_client *c) { return &c->self; }

void cl_client_close(cl_client *c)
{
	if (!c)
		return;
	/* a re-send thread still under way (a run that stopped): it ends
	 * before what it uses goes. Normally none is: each answers its call
	 * before it ends, and the executor waited for every answer. One
	 * waiting for a call ends when the connection does. */
	if (c->pump) { /* the lease first: its outcomes reported on the head's connection */
		pthread_mutex_lock(&c->mu);
		c->d.stop = true;
		pthread_cond_signal(&c->d.cv);
		bool started = c->d.started;
		pthread_mutex_unlock(&c->mu);
		if (started)
			pthread_join(c->d.th, NULL);
	}
	if (c->pump) {
		pthread_mutex_lock(&c->mu);
		c->stopped = true;
		if (c->resends > 0) {
			if (!c->lost) /* (and pump_lost does not report a lost head) */
				c->lost = strdup("the run ended");
			pthread_mutex_unlock(&c->mu);
			wire_client_shutdown(c->c);
			pthread_mutex_lock(&c->mu);
		}
		while (c->resends > 0)
			pthread_cond_wait(&c->resends_cv, &c->mu);
		pthread_mutex_unlock(&c->mu);
	}
	if (c->svc) {
		task_set_actors(NULL);
		ac_service_free(c->svc);
	}
	task_set_resolver(NULL);
	task_set_ref_test(NULL);
	obj_free_remotes(); /* the results left on their nodes go there too */
	/* their lineage with them (every call has ended: no re-make runs) */
	pthread_mutex_lock(&L.mu);
	L.cl = NULL;
	for (struct lin *l = L.all, *next; l; l = next) {
		next = l->next;
		val_rele(l->args);
		val_rele(l->cur);
		free(l->node);
		pthread_mutex_destroy(&l->mu);
		free(l);
	}
	L.all = NULL;
	bt_map_free(&L.calls);
	free(L.ids);
	L.ids = NULL;
	L.nids = L.capids = 0;
	lin_actor_free();
	pthread_mutex_unlock(&L.mu);
	for (int i = 0; c->names && i < c->nprotos; i++)
		free(c->names[i]);
	free(c->names);
	free(c->rerun_blk);
	if (c->pump) {
		wire_client_shutdown(c->c); /* the pump's requests end now */
		bt_pump_stop(c->pump);
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->resends_cv);
		pthread_cond_destroy(&c->d.cv);
	}
	free(c->no_needs);
	free(c->plan);
	auth_token_wipe(&c->tok);
	wire_client_close(c->c);
	bt_map_free(&c->calls);
	free(c->lost);
	/* the resource names first: their counts are in the views */
	for (int i = 0; c->rnames && i < c->n; i++)
		for (int k = 0; k < c->views[i].nres; k++)
			free(c->rnames[i][k]);
	free(c->rnames);
	free(c->ramounts);
	free(c->views);
	free(c->peers);
	free(c->ids);
	free(c->hosts);
	free(c->addrs);
	free(c);
}
