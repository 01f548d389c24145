/* task_exec.c - runs one task of a plan on this node (task_exec.h). */
#include "task_exec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "compiler/plan.h"
#include "executor/fit.h"
#include "executor/mono_clock.h"
#include "executor/task_run.h"
#include "executor/task_run_int.h" /* task_settle, task_remote_outcome */
#include "executor/watchdog.h"
#include "lang/diag.h"
#include "lang/vm.h"
#include "objects.h"
#include "place.h"
#include "plans.h"
#include "spill.h"
#include "starts.h"

/* A host of a plan's, and the call it runs: which job's (CANCEL stops
 * it), and whether it was stopped so. h first: a task_host * of a plan
 * is a cl_host *. */
typedef struct cl_host {
	task_host h;
	uint64_t job;       /* the running call's job (mu of its plan) */
	bool busy;          /* runs a call, top-level or nested (mu) */
	bool top;           /* ... a call that came over the wire (mu) */
	bool job_cancelled; /* CANCEL of its job stopped it (mu) */
	uint64_t t0_us;     /* when the call that came over the wire started
	                     * (mono µs; its nested calls' too): spilled
	                     * calls' trace lines count from it */
} cl_host;

struct cl_plan {
	uint8_t hash[32]; /* its SHA-256: what an actor made by its tasks names */
	struct cl_plan *next_live, *prev_live; /* every plan loaded (live_mu) */
	diag_ctx diag; /* the program borrows it */
	bc_program *prog;
	uint64_t actor_seq;
	/* hosts kept from call to call, one per thread running a task at
	 * once: their VMs are reused (making a VM costs ~0.4 ms, far more
	 * than a small task). A thread takes a free one, or makes one. */
	pthread_mutex_t mu;
	task_host **hosts, **free_hosts;
	size_t nhosts, nfree;
	watchdog *wd; /* @timeout in the plan: stops the hosts' calls; or NULL */
	int wd_tried;
	/* nested calls of its tasks (below): they end under nmu, and ncv
	 * wakes their waiting callers */
	task_spawner spawner;
	pthread_mutex_t nmu;
	pthread_cond_t ncv;
	uint64_t nended; /* nested calls ended so far (nmu) */
};

/* Every plan loaded: CANCEL looks for its job's calls in all. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static cl_plan *live_plans;
static void nest_spawner(cl_plan *p);

cl_plan *cl_plan_load(const uint8_t *buf, size_t len, char **err)
{
	cl_plan *p = calloc(1, sizeof *p);
	if (!p) {
		*err = strdup("out of memory");
		return NULL;
	}
	diag_init(&p->diag);
	p->prog = plan_read(buf, len, &p->diag, NULL, err);
	if (!p->prog) {
		diag_fini(&p->diag);
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->nmu, NULL);
	mono_cond_init(&p->ncv);
	nest_spawner(p);
	plan_hash(buf, len, p->hash);
	pthread_mutex_lock(&live_mu);
	p->next_live = live_plans;
	if (live_plans)
		live_plans->prev_live = p;
	live_plans = p;
	pthread_mutex_unlock(&live_mu);
	return p;
}

/* The plan of the task or method running on this thread. */
static __thread const cl_plan *tl_plan;
const uint8_t *cl_plan_current_hash(void) { return tl_plan ? tl_plan->hash : NULL; }

void cl_plan_free(cl_plan *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&live_mu);
	if (p->prev_live)
		p->prev_live->next_live = p->next_live;
	else
		live_plans = p->next_live;
	if (p->next_live)
		p->next_live->prev_live = p->prev_live;
	pthread_mutex_unlock(&live_mu);
	watchdog_stop(p->wd); /* before the hosts it watches go */
	for (size_t i = 0; i < p->nhosts; i++) {
		task_host_fini(p->hosts[i]);
		free(p->hosts[i]);
	}
	free(p->hosts);
	free(p->free_hosts);
	/* the last outcome of a spilled call a stopped caller gave up on is
	 * settled on the spill link's thread, under nmu, with nobody left
	 * waiting: its end comes before the locks go. (A worker frees its
	 * plans before it stops its spill link: an outcome that came after
	 * that would find p gone; it stops with no task running, so only a
	 * call spilled by a caller stopped meanwhile can still be out.) */
	pthread_mutex_lock(&p->nmu);
	pthread_mutex_unlock(&p->nmu);
	pthread_mutex_lock(&p->mu);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->nmu);
	pthread_cond_destroy(&p->ncv);
	bc_program_free(p->prog);
	diag_fini(&p->diag);
	free(p);
}

int cl_plan_task(const cl_plan *p, const char *name)
{
	for (int i = 0; i < p->prog->nprotos; i++)
		if (p->prog->protos[i]->kind == PROTO_TASK && strcmp(p->prog->protos[i]->name, name) == 0)
			return i;
	return -1;
}

const bc_attrs *cl_plan_needs(const cl_plan *p, uint32_t fn)
{
	if (fn >= (uint32_t)p->prog->nprotos || p->prog->protos[fn]->kind != PROTO_TASK)
		return NULL;
	return &p->prog->protos[fn]->attrs;
}

const bc_program *cl_plan_program(const cl_plan *p) { return p->prog; }

const bc_attrs *cl_plan_actor_needs(const cl_plan *p, uint32_t cls)
{
	if (cls >= (uint32_t)p->prog->nactors)
		return NULL;
	return &p->prog->actors[cls]->attrs;
}

const char *cl_plan_source(const cl_plan *p)
{
	const bc_module *m = p->prog->nmodules ? &p->prog->modules[0] : NULL;
	return m && m->path ? m->path : m && m->name ? m->name : "?";
}

static int refuse(char **error, const char *fmt, const char *a, long b)
{
	if (asprintf(error, fmt, a, b) < 0)
		*error = NULL;
	return 1;
}

#define OUTPUT_MAX (60u << 10)

/* What the task printed, without the failure message the host printed
 * last (the caller reports the failure itself, naming its call site). */
static char *take_output(char *buf, size_t len, const char *error)
{
	if (error) {
		size_t n = strlen(error);
		if (len >= n + 1 && memcmp(buf + len - n - 1, error, n) == 0 && buf[len - 1] == '\n')
			len -= n + 1;
	}
	if (len == 0) {
		free(buf);
		return NULL;
	}
	if (len > OUTPUT_MAX) {
		static const char cut[] = "\n(... the rest of the task's output was cut at 60 KiB)\n";
		memcpy(buf + OUTPUT_MAX - sizeof cut, cut, sizeof cut);
		len = OUTPUT_MAX - 1;
	}
	buf[len] = '\0';
	return buf;
}

/* A free host of p's, or a new one (NULL: out of memory), marked busy
 * with a call of job `job` (top: a call that came over the wire). */
static task_host *take_host(cl_plan *p, uint64_t seed, uint64_t job, bool top)
{
	task_host *h = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->nfree) {
		h = p->free_hosts[--p->nfree];
	} else {
		task_host **nh = realloc(p->hosts, (p->nhosts + 1) * sizeof *nh);
		task_host **nf = realloc(p->free_hosts, (p->nhosts + 1) * sizeof *nf);
		if (nh)
			p->hosts = nh;
		if (nf)
			p->free_hosts = nf;
		cl_host *ch;
		if (nh && nf && (ch = calloc(1, sizeof *ch))) {
			h = &ch->h;
			task_host_init(h, p->prog, seed, stdout, stderr, &p->actor_seq);
			p->hosts[p->nhosts++] = h;
			/* without it a task past its @timeout would hold this node forever */
			if (!p->wd_tried) {
				p->wd_tried = 1;
				if (watchdog_needed(p->prog))
					p->wd = watchdog_start();
			}
			watchdog_watch(p->wd, &h->deadline, &h->cancel);
		}
	}
	if (h) {
		cl_host *ch = (cl_host *)h;
		ch->job = job;
		ch->busy = true;
		ch->top = top;
		ch->job_cancelled = false;
		__atomic_store_n(&h->cancel, 0, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&p->mu);
	return h;
}

/* Gives h back; true when a CANCEL of its job stopped its call. */
static bool give_host(cl_plan *p, task_host *h)
{
	cl_host *ch = (cl_host *)h;
	pthread_mutex_lock(&p->mu);
	bool cancelled = ch->job_cancelled;
	ch->busy = ch->top = ch->job_cancelled = false;
	/* a @timeout's flag, or CANCEL's, is not the next call's */
	__atomic_store_n(&h->cancel, 0, __ATOMIC_RELAXED);
	h->spawn = NULL;
	p->free_hosts[p->nfree++] = h;
	pthread_mutex_unlock(&p->mu);
	return cancelled;
}

size_t cl_task_cancel_job(uint64_t job)
{
	size_t n = 0;
	pthread_mutex_lock(&live_mu);
	for (cl_plan *p = live_plans; p; p = p->next_live) {
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < p->nhosts; i++) {
			cl_host *ch = (cl_host *)p->hosts[i];
			if (!ch->busy || ch->job != job)
				continue;
			ch->job_cancelled = true;
			__atomic_store_n(&ch->h.cancel, 1, __ATOMIC_RELAXED);
			n += ch->top;
		}
		pthread_mutex_unlock(&p->mu);
	}
	pthread_mutex_unlock(&live_mu);
	return n;
}

/* Each thread's capture stream, kept from call to call (opening and
 * closing a memory stream per task cost two allocations and a lock
 * each); a call nested in another on the same thread opens its own. */
typedef struct cap_stream {
	FILE *f;
	char *buf;
	size_t len;
	bool busy;
} cap_stream;
/* a stream that held this much is closed after its call, not kept */
#define CAP_KEEP_MAX (256u << 10)
static pthread_key_t cap_key;
static pthread_once_t cap_once = PTHREAD_ONCE_INIT;

static void cap_free(void *arg)
{
	cap_stream *c = arg;
	fclose(c->f);
	free(c->buf);
	free(c);
}

static void cap_key_make(void)
{
	pthread_key_create(&cap_key, cap_free);
}

/* This thread's stream, free for a call, or NULL (nested, or no memory). */
static cap_stream *cap_take(void)
{
	pthread_once(&cap_once, cap_key_make);
	cap_stream *c = pthread_getspecific(cap_key);
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c)
			return NULL;
		c->f = open_memstream(&c->buf, &c->len);
		if (!c->f || pthread_setspecific(cap_key, c) != 0) {
			if (c->f)
				fclose(c->f);
			free(c->buf);
			free(c);
			return NULL;
		}
	}
	if (c->busy)
		return NULL;
	c->busy = true;
	return c;
}

/* What c captured since cap_take, as a malloc'd copy (*len bytes, room
 * for a NUL after them; NULL when nothing); c is free again. */
static char *cap_give(cap_stream *c, size_t *len)
{
	fflush(c->f); /* c->len: the position, what this call wrote */
	*len = c->len;
	char *out = NULL;
	if (c->len && (out = malloc(c->len + 1)))
		memcpy(out, c->buf, c->len);
	if (!out)
		*len = 0;
	if (c->len > CAP_KEEP_MAX) {
		/* a large print: its buffer is not kept for the thread's life */
		pthread_setspecific(cap_key, NULL);
		cap_free(c);
		return out;
	}
	fseeko(c->f, 0, SEEK_SET);
	c->busy = false;
	return out;
}

/* One call on a host of p's: its prints are captured, to travel back
 * with its outcome (call_end closes them into *obuf). */
typedef struct host_call {
	task_host *h;
	FILE *cap;          /* NULL: prints go to stderr (no memory stream) */
	cap_stream *kept;   /* the thread's stream cap is, or NULL: cap is this call's own */
	char *obuf;
	size_t olen;
	const cl_plan *outer;
	bool cancelled;     /* call_end: a CANCEL of its job stopped it */
} host_call;

/* Takes a host for call `ident` of stream `seed` on node view; NULL when
 * out of memory. */
static task_host *call_begin(cl_plan *p, uint64_t seed, uint64_t ident, uint64_t job,
                             const flow_node_view *view, host_call *hc)
{
	task_host *h = take_host(p, seed, job, true);
	if (!h)
		return NULL;
	h->seed = seed;
	h->top_ident = ident;
	h->node = view;
	hc->h = h;
	hc->obuf = NULL;
	hc->olen = 0;
	hc->kept = cap_take();
	hc->cap = hc->kept ? hc->kept->f : open_memstream(&hc->obuf, &hc->olen);
	h->out = h->err = hc->cap ? hc->cap : stderr;
	hc->outer = tl_plan;
	tl_plan = p;
	return h;
}

/* Gives the host back; true when the prints were captured (hc->obuf). */
static bool call_end(cl_plan *p, host_call *hc)
{
	tl_plan = hc->outer;
	hc->h->out = stdout;
	hc->h->err = stderr;
	hc->cancelled = give_host(p, hc->h);
	if (!hc->cap)
		return false;
	if (hc->kept) {
		hc->obuf = cap_give(hc->kept, &hc->olen);
		if (!hc->obuf)
			return false; /* nothing printed */
		return true;
	}
	fclose(hc->cap);
	return true;
}

/* A call that stopped because a call it needed failed (a nested get, a
 * stream it iterated): the failure that caused it, as the error value
 * `except e` sees at the caller (its kind, message, task and first line),
 * which travels in the outcome's result (docs/wire.md); none otherwise. */
static value failure_cause(const vfuture *f)
{
	const vfuture *root = f;
	while (root->cause)
		root = root->cause;
	if (root == f)
		return v_none();
	const char *full = root->error ? root->error : "failed";
	char *line = strndup(full, strcspn(full, "\n"));
	if (!line)
		abort();
	value e = vm_error_new(root->ekind, root->emsg ? root->emsg : line, root->host_data, line);
	free(line);
	return e;
}

/* ---- nested calls ------------------------------------------------------
 * A call made by a task body running on a pool's thread becomes a job of
 * that pool (bt_pool_nest), as on the in-process node (executor/jobs.c):
 * the caller gets a pending future at once; a free CPU of the node's runs
 * the job on a host of its own, or the caller runs it itself, in its own
 * host, when it waits for one nobody has taken (depth first, as inline).
 * A caller waiting for a job taken elsewhere gives its CPU back meanwhile
 * (bt_pool_block), so recursion never deadlocks. The job keeps its
 * caller's identity scheme (task_run.c numbers it as inline) and stream
 * seed; its prints go to its caller's capture (each message is written
 * under the stream's lock), which lives until the caller's call ends,
 * and that call ends only when its jobs have: so they travel back with
 * the call that came over the wire. A caller stopped (@timeout, CANCEL)
 * stops the jobs it waits for and still waits for them to end. */
typedef struct nest_rec {
	nested_job *j;
	cl_plan *p;
	FILE *out, *err;          /* the caller's (its capture) */
	uint64_t seed, job;
	const flow_node_view *view;
	task_host *runner;        /* the host running it elsewhere (nmu) */
	int refs;                 /* the pool's item (or the spilled call's
	                           * outcome to come), the caller (nmu) */
	bool counted;             /* counted in nest_queued (nmu) */
	bool remote;              /* spilled: its outcome is to come (nmu) */
	bool settling;            /* ... and is being settled now (nmu) */
	bool abandoned;           /* its stopped caller no longer waits (nmu) */
	uint64_t t0_us, sent_us;  /* its wire call's start (cl_host's); when it spilled */
} nest_rec;

/* Nested calls queued on this process's node, not yet taken (the spill
 * rule's "its queue holds work"), and spilled calls whose outcome is
 * still to come. */
static _Atomic long nest_queued, spilled_out;

/* It leaves the node's queue (taken to run, here or elsewhere). (nmu) */
static void nest_uncount(nest_rec *r)
{
	if (r && r->counted) {
		r->counted = false;
		nest_queued--;
	}
}

/* Drops one hold on r; the last frees r and its job. (nmu) */
static void nest_unref(nest_rec *r)
{
	if (--r->refs > 0)
		return;
	task_job_release(r->j);
	free(r->j);
	free(r);
}

/* j has run: its caller (or anyone waiting for any job) wakes; the
 * pool's hold on its record r (NULL: none) goes with it. (not nmu) */
static void nest_ended(cl_plan *p, nested_job *j, nest_rec *r)
{
	pthread_mutex_lock(&p->nmu);
	__atomic_store_n(&j->state, NJ_DONE, __ATOMIC_RELEASE);
	p->nended++;
	pthread_cond_broadcast(&p->ncv);
	if (r)
		nest_unref(r);
	pthread_mutex_unlock(&p->nmu);
}

/* The pool's item: run the job on a host of its own, unless its caller
 * took it first (or the pool stops: run 0). */
static void nest_run(void *arg, int run)
{
	nest_rec *r = arg;
	cl_plan *p = r->p;
	nested_job *j = r->j;
	pthread_mutex_lock(&p->nmu);
	if (!run || j->state != NJ_QUEUED) {
		nest_unref(r);
		pthread_mutex_unlock(&p->nmu);
		return;
	}
	__atomic_store_n(&j->state, NJ_RUNNING, __ATOMIC_RELAXED);
	nest_uncount(r);
	pthread_mutex_unlock(&p->nmu);
	task_host *h = take_host(p, r->seed, r->job, false);
	if (!h)
		abort(); /* as the pool does: a node out of memory cannot go on */
	h->seed = r->seed;
	h->node = r->view;
	h->out = r->out;
	h->err = r->err;
	h->spawn = &p->spawner;
	((cl_host *)h)->t0_us = r->t0_us;
	pthread_mutex_lock(&p->nmu);
	r->runner = h;
	pthread_mutex_unlock(&p->nmu);
	const cl_plan *outer = tl_plan;
	tl_plan = p;
	task_run_job(h, j);
	tl_plan = outer;
	pthread_mutex_lock(&p->nmu);
	r->runner = NULL;
	pthread_mutex_unlock(&p->nmu);
	h->out = stdout;
	h->err = stderr;
	give_host(p, h);
	nest_ended(p, j, r);
}

/* ---- nested calls that spill to other nodes (spill.h) -----------------
 * The rule, on a pool's thread making a nested call (docs/architecture.md,
 * "Nested calls on a cluster"):
 * - needs (@cpus, @memory, @resources) this node can never meet: the call
 *   goes to the head, which places it like any call (one that fits no
 *   node fails there, saying so);
 * - else, when every CPU of the node is taken (blocked callers aside) and
 *   the node's queue of nested calls not yet taken already holds at least
 *   one per CPU: the call goes to the head (a fan-out from a busy node
 *   uses the cluster: its first calls stay here, the rest are placed by
 *   load, maybe back here);
 * - else (a CPU is free, or the queue is short: a `get(f(x))` loop, whose
 *   call its caller runs itself at once) it stays here, as before.
 * Not spilled: calls nested SPILL_MAX_LEVEL deep or more (deep recursion
 * stays where its nesting limit is counted), calls whose record is over
 * SPILL_MAX_RECORD, when SPILL_MAX_OUT spilled calls are out, or without
 * a link to the head (a worker between losing the head and joining it
 * again). The head's own node 1 has a local link: its calls go to the
 * head's queue in the same process. A spilled call keeps its
 * identity, random stream and job; its outcome is settled like a remote
 * DAG call's (task_remote_outcome), its prints go to the caller's
 * capture. If its node is lost (or its result cannot travel, or the
 * link fails) an effect-free call runs here after all, as its caller
 * would have; one with effects fails naming the node. A caller stopped
 * (@timeout, CANCEL) stops waiting for its spilled calls (they finish
 * where they run, unread). */
#define SPILL_MAX_LEVEL 8
#define SPILL_MAX_RECORD (64u << 10)
#define SPILL_MAX_OUT 4096

/* Can node view v ever meet needs a? */
static bool node_fits(const flow_node_view *v, const bc_attrs *a)
{
	if (!v)
		return true;
	res_pool rp;
	place_view_pool(v, &rp);
	bool ok = res_fits(&rp, a);
	res_fini(&rp);
	return ok;
}

static int proto_of(const cl_plan *p, const bc_proto *task)
{
	return task_proto_index(p->prog, task);
}

/* May j run again (effect-free or @idempotent, deeply)? Asked only
 * when its node was lost: starts.h keeps the plan's answer (a call that
 * needs no start report may run again). */
static bool rerunnable(const cl_plan *p, const nested_job *j)
{
	int fn = proto_of(p, j->task);
	return fn >= 0 && !st_needs_report(p, (uint32_t)fn);
}

/* The spilled call r came back (d, or NULL: the link was lost): settled
 * here, on the spill link's thread, with a host of its own printing to
 * its caller's capture, as a pool thread's run would; or handed back to
 * its caller to run (queued again) when it did not run elsewhere. */
static void nest_spilled(void *arg, struct wire_done *d)
{
	nest_rec *r = arg;
	cl_plan *p = r->p;
	nested_job *j = r->j;
	spilled_out--;
	pthread_mutex_lock(&p->nmu);
	if (r->abandoned) {
		nest_unref(r);
		pthread_mutex_unlock(&p->nmu);
		if (d)
			wire_done_free(d);
		return;
	}
	r->settling = true;
	pthread_mutex_unlock(&p->nmu);
	bool here = !d;
	int rc = -1;
	value res = v_none();
	char *err = NULL;
	if (d && d->thread && r->t0_us) {
		/* where and when it ran, for the client's --trace: its time
		 * there centred in the round trip, from its wire call's start */
		uint64_t got = mono_now_us(), span = got - r->sent_us, busy = d->end_us;
		uint64_t recv = r->sent_us + (span > busy ? (span - busy) / 2 : 0) - r->t0_us;
		task_output_trace(r->err, proto_of(p, j->task), j->where, d->thread, recv + d->start_us,
		                  recv + d->end_us, d->ok != WIRE_DONE_OK, d->node);
		if (d->output && d->output[0]) /* "(task) text" lines, marked with where they ran */
			task_output_mark(r->err, d->node, d->output, recv + d->start_us);
	} else if (d && d->output && d->output[0]) {
		task_output_mark(r->err, d->node, d->output, 0);
	}
	if (d) {
		switch (d->ok) {
		case WIRE_DONE_OK: {
			/* a large result stays on its holder: pulled now, and freed
			 * there (used once) */
			verr e;
			int irc = obj_import(d->result, 1, &res, &e);
			if (irc == 0) {
				rc = 0;
			} else if (irc == -2 && rerunnable(p, j)) {
				here = true; /* its holder was lost: made again here */
				res = v_none();
			} else {
				res = v_none();
				if (asprintf(&err, "cannot fetch the result of task '%s' from %s: %s",
				             j->task->name, d->node ? d->node : "its node", e.msg) < 0)
					err = NULL;
			}
			break;
		}
		case WIRE_DONE_FAILED:
			rc = d->ekind == ERR_TIMEOUT ? TASK_REMOTE_TIMEOUT : 1;
			res = d->result;
			d->result = v_none();
			err = d->error;
			d->error = NULL;
			break;
		case WIRE_DONE_LOST: {
			/* as a re-run of its caller would: here, when that is safe */
			here = rerunnable(p, j);
			if (!here) {
				rc = TASK_REMOTE_NODE_LOST;
				if (asprintf(&err, "%s; task '%s' has effects and may have started there, so it "
				             "is not run again", d->error ? d->error : "its node was lost",
				             j->task->name) < 0)
					err = NULL;
			}
			break;
		}
		case WIRE_DONE_NOTRUN:
			err = d->error;
			d->error = NULL;
			break;
		default: /* ARG_LOST, UNSENDABLE: it did not run, or cannot travel */
			here = true;
		}
		wire_done_free(d);
	}
	if (here) {
		pthread_mutex_lock(&p->nmu);
		__atomic_store_n(&j->state, NJ_QUEUED, __ATOMIC_RELAXED);
		r->remote = r->settling = false;
		nest_unref(r); /* the outcome's hold: its caller runs it (refs 1) */
		pthread_cond_broadcast(&p->ncv);
		pthread_mutex_unlock(&p->nmu);
		val_rele(res);
		free(err);
		return;
	}
	task_host *h = take_host(p, r->seed, r->job, false);
	if (!h)
		abort(); /* as the pool does */
	h->out = r->out;
	h->err = r->err;
	value f = task_remote_outcome(h, j->task, p->prog, j->where, rc, res, err);
	h->out = stdout;
	h->err = stderr;
	give_host(p, h);
	task_settle(j->fut, f);
	val_rele(f);
	for (int k = 0; k < j->nargs; k++)
		val_rele(j->args[k]);
	j->nargs = 0;
	nest_ended(p, j, r);
}

/* Sends r's call to the head when the rule above says so: true when it
 * went (its outcome settles it: nest_spilled). */
static bool nest_spill(cl_plan *p, nest_rec *r, bt_pool *pool)
{
	nested_job *j = r->j;
	if (j->level >= SPILL_MAX_LEVEL || spilled_out >= SPILL_MAX_OUT)
		return false;
	const bc_attrs *needs = &j->task->attrs;
	bool must = place_has_needs(needs) && !node_fits(r->view, needs);
	if (!must && (nest_queued < bt_pool_cpus(pool) || bt_pool_idle_cpus(pool) > 0))
		return false;
	int fn = proto_of(p, j->task);
	if (fn < 0)
		return false;
	value args = list_new((size_t)j->nargs);
	for (int k = 0; k < j->nargs; k++)
		list_append_take(args, val_hold(j->args[k]));
	struct wire_call c = {.job = r->job, .fn = (uint32_t)fn, .ident = j->ident, .seed = r->seed,
	                      .args = args, .level = (uint32_t)j->level};
	memcpy(c.hash, p->hash, 32);
	/* before it leaves: its outcome may come back at once */
	pthread_mutex_lock(&p->nmu);
	__atomic_store_n(&j->state, NJ_RUNNING, __ATOMIC_RELAXED);
	r->remote = true;
	r->sent_us = mono_now_us();
	pthread_mutex_unlock(&p->nmu);
	spilled_out++;
	int rc = cl_spill_send(&c, SPILL_MAX_RECORD, nest_spilled, r);
	val_rele(args);
	if (rc != 0) {
		spilled_out--;
		pthread_mutex_lock(&p->nmu);
		__atomic_store_n(&j->state, NJ_QUEUED, __ATOMIC_RELAXED);
		r->remote = false;
		pthread_mutex_unlock(&p->nmu);
		return false;
	}
	return true;
}

static void nest_submit(task_host *h, nested_job *j)
{
	cl_plan *p = h->spawn->ctx;
	nest_rec *r = calloc(1, sizeof *r);
	if (!r)
		abort();
	r->j = j;
	r->p = p;
	r->out = h->out;
	r->err = h->err;
	r->seed = h->seed;
	r->view = h->node;
	pthread_mutex_lock(&p->mu);
	r->job = ((cl_host *)h)->job;
	pthread_mutex_unlock(&p->mu);
	r->t0_us = ((cl_host *)h)->t0_us;
	r->refs = 2;
	j->exec = r;
	pthread_mutex_lock(&p->nmu);
	/* the caller's earlier calls that have ended (a `get(f(x))` loop):
	 * their futures are settled, nothing asks for their records */
	for (nested_job **at = &j->sibling; *at;) {
		nested_job *k = *at;
		if (__atomic_load_n(&k->state, __ATOMIC_ACQUIRE) == NJ_DONE) {
			*at = k->sibling;
			nest_unref(k->exec);
		} else {
			at = &k->sibling;
		}
	}
	pthread_mutex_unlock(&p->nmu);
	bt_pool *pool = bt_pool_current();
	if (pool && nest_spill(p, r, pool))
		return;
	if (pool) {
		r->counted = true; /* no lock: r is this thread's until queued */
		nest_queued++;
		bt_pool_nest(pool, nest_run, r);
	} else {
		nest_run(r, 0); /* not a pool's thread: its caller runs it */
	}
}

/* The caller runs j itself, in its own host (as inline). (nmu, dropped) */
static void nest_run_here(cl_plan *p, task_host *h, nested_job *j)
{
	__atomic_store_n(&j->state, NJ_RUNNING, __ATOMIC_RELAXED);
	nest_uncount(j->exec);
	pthread_mutex_unlock(&p->nmu);
	task_run_job(h, j);
	nest_ended(p, j, NULL);
}

static int nest_await(task_host *h, nested_job *j, uint64_t deadline, bool any)
{
	cl_plan *p = h->spawn->ctx;
	nest_rec *r = j->exec;
	pthread_mutex_lock(&p->nmu);
	uint64_t seen = p->nended;
	bool blocked = false;
	int rc = 0;
	while (j->state != NJ_DONE) {
		bool stopped = __atomic_load_n(&h->cancel, __ATOMIC_RELAXED);
		/* nobody has taken it: run it here (not for wait(), which wants
		 * whichever call ends first, unless the caller is stopped: then
		 * it ends at once) */
		if (j->state == NJ_QUEUED && (!any || stopped || r->refs < 2)) {
			if (blocked) {
				pthread_mutex_unlock(&p->nmu);
				bt_pool_block(0); /* its CPU back first */
				blocked = false;
				pthread_mutex_lock(&p->nmu);
				continue;
			}
			nest_run_here(p, h, j);
			return 0;
		}
		if (stopped && r->runner)
			__atomic_store_n(&r->runner->cancel, 1, __ATOMIC_RELAXED);
		if (stopped && r->remote && !r->settling) {
			/* spilled: it is not waited for (it ends where it runs,
			 * unread; its outcome's hold on r goes then) */
			r->remote = false;
			r->abandoned = true;
			value f = future_new_failed("stopped: its caller was stopped");
			task_settle(j->fut, f);
			val_rele(f);
			__atomic_store_n(&j->state, NJ_DONE, __ATOMIC_RELEASE);
			p->nended++;
			pthread_cond_broadcast(&p->ncv);
			continue;
		}
		uint64_t t = mono_now_ns();
		if (!stopped && ((deadline && t >= deadline) || (any && p->nended != seen))) {
			rc = 1;
			break;
		}
		if (!blocked) {
			/* give the CPU back while waiting: another call may run */
			blocked = true;
			pthread_mutex_unlock(&p->nmu);
			bt_pool_block(1);
			pthread_mutex_lock(&p->nmu);
			continue;
		}
		/* in slices: a stop (h->cancel) is noticed */
		uint64_t until = t + 10000000u;
		if (deadline && deadline < until)
			until = deadline;
		struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
		pthread_cond_timedwait(&p->ncv, &p->nmu, &ts);
	}
	pthread_mutex_unlock(&p->nmu);
	if (blocked)
		bt_pool_block(0);
	return rc;
}

static void nest_retire(task_host *h, nested_job *kids)
{
	cl_plan *p = h->spawn->ctx;
	pthread_mutex_lock(&p->nmu);
	/* they have ended (nest_await never leaves one running) */
	for (nested_job *k = kids, *next; k; k = next) {
		next = k->sibling;
		nest_unref(k->exec);
	}
	pthread_mutex_unlock(&p->nmu);
}

static void nest_spawner(cl_plan *p)
{
	p->spawner.submit = nest_submit;
	p->spawner.await = nest_await;
	p->spawner.retire = nest_retire;
	p->spawner.ctx = p;
}

static int run_args(cl_plan *p, uint32_t fn, value args, uint64_t seed, uint64_t ident,
                    uint64_t job, uint32_t level, const flow_node_view *view, value *result,
                    char **error, char **output)
{
	*result = v_none();
	*error = NULL;
	*output = NULL;
	if (fn >= (uint32_t)p->prog->nprotos || p->prog->protos[fn]->kind != PROTO_TASK)
		return refuse(error, "%sfunction %ld of the plan is not a task", "", (long)fn);
	const bc_proto *task = p->prog->protos[fn];
	if (args.t != V_LIST || (long)list_len(args) != task->nparams)
		return refuse(error, "task '%s' takes %ld arguments", task->name, task->nparams);
	task_actors_bind(args, p->prog); /* handles of the cluster's actors */
	nested_job *j = calloc(1, sizeof *j);
	if (!j)
		return refuse(error, "%sout of memory%ld", "", 0);
	j->task = task;
	j->nargs = task->nparams;
	j->args = malloc(sizeof(value) * (size_t)(j->nargs ? j->nargs : 1));
	for (int k = 0; k < j->nargs; k++) {
		j->args[k] = val_hold(list_get(args, (size_t)k));
		val_freeze(j->args[k]); /* a job's arguments are frozen, as in the pool */
	}
	j->ident = ident;
	/* a spilled call counts on from its caller's level: the nesting
	 * limit holds across nodes (checked again here: a peer's number) */
	j->level = level < TASK_MAX_NESTING ? (int)level : TASK_MAX_NESTING;
	j->prog = p->prog;
	j->fut = future_new_pending(-1);

	/* the task's prints are kept and sent back with its result */
	host_call hc;
	task_host *h = call_begin(p, seed, ident, job, view, &hc);
	if (!h) {
		task_job_release(j);
		free(j);
		return refuse(error, "%sout of memory%ld", "", 0);
	}
	/* on a pool's thread its nested calls are jobs of the pool (below) */
	h->spawn = bt_pool_current() ? &p->spawner : NULL;
	((cl_host *)h)->t0_us = mono_now_us();
	task_run_job(h, j);
	bool captured = call_end(p, &hc);

	const vfuture *f = (const vfuture *)j->fut.as.o;
	char *f_error_copy = f->state != FUT_DONE && f->error ? strdup(f->error) : NULL;
	int rc = 0;
	if (f->state == FUT_DONE) {
		*result = val_hold(f->result);
	} else {
		*error = strdup(f->error ? f->error : "the task failed");
		rc = f->ekind == ERR_TIMEOUT ? CL_TASK_TIMEOUT : 1;
		*result = failure_cause(f);
	}
	task_job_release(j);
	free(j);
	if (captured)
		*output = take_output(hc.obuf, hc.olen, f_error_copy);
	free(f_error_copy);
	if (hc.cancelled) {
		/* its job's client went away: not an outcome anyone reads */
		free(*error);
		*error = strdup("the client went away: stopped");
		val_rele(*result);
		*result = v_none();
		rc = CL_TASK_CANCELLED;
	}
	return rc;
}

/* Arguments held by another node (objects.h) are pulled first. */
int cl_task_run(cl_plan *p, uint32_t fn, value args, uint64_t seed, uint64_t ident, uint64_t job,
                uint32_t level, const flow_node_view *view, value *result, char **error,
                char **output)
{
	value a;
	verr e;
	uint8_t lost[32];
	int irc = obj_import_args_lost(args, &a, &e, lost);
	if (irc != 0) {
		*result = v_none();
		*output = NULL;
		char hx[65] = "";
		for (int i = 0; irc == -2 && i < 32; i++)
			snprintf(hx + 2 * i, 3, "%02x", lost[i]);
		if (irc == -2 ? asprintf(error, OBJ_ARG_LOST "%s; cannot fetch the task's argument: %s", hx,
		                         e.msg) < 0
		              : asprintf(error, "cannot fetch the task's argument: %s", e.msg) < 0)
			*error = NULL;
		if (irc != -2)
			return 1;
		*result = str_new(hx, 64); /* the status says so, not the text */
		return CL_TASK_ARG_LOST;
	}
	int rc = run_args(p, fn, a, seed, ident, job, level, view, result, error, output);
	val_rele(a);
	return rc;
}

int cl_actor_run(cl_plan *p, int init, uint32_t fn, value self, value args, uint64_t seed,
                 uint64_t ident, const flow_node_view *view, value *result, char **error,
                 char **output)
{
	*result = v_none();
	*error = NULL;
	*output = NULL;
	const bc_proto *m;
	if (init) {
		if (fn >= (uint32_t)p->prog->nactors)
			return refuse(error, "%sclass %ld of the plan is not an actor", "", (long)fn);
		m = p->prog->actors[fn]->init;
		if (!m)
			return 0; /* a class without init */
	} else {
		if (fn >= (uint32_t)p->prog->nprotos || p->prog->protos[fn]->kind != PROTO_METHOD)
			return refuse(error, "%sfunction %ld of the plan is not a method", "", (long)fn);
		m = p->prog->protos[fn];
	}
	if (args.t != V_LIST || (long)list_len(args) != m->nparams)
		return refuse(error, "'%s' takes %ld arguments", m->name, m->nparams);
	task_actors_bind(args, p->prog);
	int n = m->nparams;
	value *a = malloc(sizeof(value) * (size_t)(n ? n : 1));
	if (!a)
		return refuse(error, "%sout of memory%ld", "", 0);
	for (int k = 0; k < n; k++) {
		a[k] = val_hold(list_get(args, (size_t)k));
		val_freeze(a[k]);
	}
	host_call hc;
	task_host *h = call_begin(p, seed, ident, 0, view, &hc);
	if (!h) {
		for (int k = 0; k < n; k++)
			val_rele(a[k]);
		free(a);
		return refuse(error, "%sout of memory%ld", "", 0);
	}
	int rc = task_run_method(h, m, self, a, n, ident, result, error);
	if (call_end(p, &hc))
		*output = take_output(hc.obuf, hc.olen, NULL);
	for (int k = 0; k < n; k++)
		val_rele(a[k]);
	free(a);
	return rc;
}
