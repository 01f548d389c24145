/* serial.c - the serial executor: runs a lowered program's DAG node by
 * node in id order (a topological order that keeps the driver's effects
 * in program order), in one thread; nested task and actor calls run
 * inline (task_run.c, shared with the parallel executor, is the host of
 * task bodies). This is the semantics oracle for the parallel executor.
 * A task call holding an actor handle (made by the driver or a task
 * body) is deferred until its result is needed (run_all), so it can wait
 * for its caller's later calls; a deferred call that sleeps in a poll
 * lets the deferred calls made after it go first (serial_poll_other).
 * Its node is this machine offering one CPU (what cluster.nodes() says).
 *
 * @timeout is enforced by a watchdog thread (watchdog.h), which stops
 * the running call when its deadline passes. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"
#include "executor/interrupt.h"
#include "executor/node.h"
#include "executor/run_obs.h"
#include "executor/task_run.h"
#include "executor/watchdog.h"

/* A task call holding an actor handle may wait for a later driver call on
 * that actor (Ray's "actor to synchronize tasks": tasks poll
 * signal.is_ready() until the driver calls signal.send()). Run at once, it
 * would wait forever for a driver that runs after it; so it is deferred:
 * it runs when a node needs its result, or when the driver has ended. The
 * driver's effects keep program order; the actor's callers interleave, as
 * LANGUAGE.md section 5 allows. */
static bool deferrable(const dag *g, uint32_t v)
{
	return dag_holds_actor(g, v); /* found by dag_finalize's walk of the inputs */
}

/* The same for the calls the staged driver makes at run time (DAG_CONT):
 * task_run.c hands such a call here (task_host.defer) as a pending job;
 * it runs when a get or wait asks for it, when another call takes its
 * future as an argument, or when the driver ends (run_cont, in the order
 * they were made). The driver's other calls run inline, in program order. */
static void defer_submit(task_host *h, nested_job *j)
{
	(void)h;
	(void)j; /* stays NJ_QUEUED until awaited */
}

/* Runs j here, now (a deferred call needed). The deadline and `any` of a
 * wait do not apply: the serial executor has nothing else to run. */
static int defer_await(task_host *h, nested_job *j, uint64_t deadline, bool any)
{
	(void)deadline;
	(void)any;
	if (j->state == NJ_DONE)
		return 0;
	if (run_cancelled())
		return -1;
	j->state = NJ_RUNNING;
	bool seen = h->call_ran && j->from_driver;
	uint64_t t0 = seen ? obs_now_ns() : 0;
	h->in_deferred++;
	int failed = task_run_job(h, j);
	h->in_deferred--;
	j->state = NJ_DONE;
	if (seen)
		h->call_ran(h->call_ran_ctx, j->task, j->where, h->tid, t0, true, false, failed);
	return 0;
}

/* The driver has ended and waited for its deferred calls: they go. */
static void defer_retire(task_host *h, nested_job *kids)
{
	(void)h;
	for (nested_job *k = kids, *next; k; k = next) {
		next = k->sibling;
		task_job_release(k);
		free(k);
	}
}

static const task_spawner serial_defer = { defer_submit, defer_await, defer_retire, NULL };

/* The hosts the deferred DAG calls run on when a deferred call blocked
 * in a poll lets them go first (serial_poll_other): one per level of
 * such polls, as the host below is in the middle of a call. */
#define SERIAL_POLL_LEVELS 32
typedef struct poll_hosts {
	task_host *model;  /* the main host: what each copies */
	watchdog *wd;
	task_host h[SERIAL_POLL_LEVELS];
	flow_vm *dv[SERIAL_POLL_LEVELS];
	int made, level;
	/* the deferred DAG calls running, innermost last: a poll lets go
	 * only the ones made after the innermost (higher ids) */
	uint32_t running[SERIAL_POLL_LEVELS * 4];
	int nrunning;
} poll_hosts;

typedef struct serial_run {
	task_host *sh;
	flow_vm *dv;
	const dag *g;
	run_obs *obs;
	uint8_t *deferred; /* per node: deferred and not yet run */
	uint32_t *stack;   /* ensure()'s work list (no recursion: deep chains) */
	uint32_t cont;     /* the DAG_CONT node, or g->n */
	/* the deferred DAG calls the staged driver needs while it runs
	 * (await_node) run on a host of their own, as sh is in the middle
	 * of the driver (its depth, identities and calls) */
	struct serial_run *aside;
	poll_hosts *polls;
} serial_run;

/* Runs node v on host h (its VM dv); task_run_node's code (0, >0: the
 * driver ended, <0). */
static int run_on(serial_run *r, task_host *h, flow_vm *dv, uint32_t v)
{
	obs_mark m;
	obs_tick(r->obs);
	obs_node_begin(r->obs, h, v, 0, &m);
	int rc = task_run_node(h, dv, r->g, v);
	obs_node_end(r->obs, h, v, &m);
	return rc;
}

static int run_one(serial_run *r, uint32_t v)
{
	return run_on(r, r->sh, r->dv, v);
}

/* Runs deferred node v (not run yet) now. */
static void push_running(poll_hosts *ph, uint32_t v)
{
	if (ph->nrunning < (int)(sizeof ph->running / sizeof *ph->running))
		ph->running[ph->nrunning] = v;
	ph->nrunning++;
}

static void pop_running(poll_hosts *ph)
{
	ph->nrunning--;
}

static int run_deferred_node(serial_run *r, uint32_t v)
{
	r->deferred[v] = 0;
	r->sh->in_deferred++;
	push_running(r->polls, v);
	int rc = run_one(r, v);
	pop_running(r->polls);
	r->sh->in_deferred--;
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Runs the deferred nodes v needs, transitively: gathered first, then
 * run in id order (a topological order, so each one's deferred inputs
 * run before it). */
static int ensure(serial_run *r, uint32_t v)
{
	const dag *g = r->g;
	uint32_t n = 0;
	for (uint32_t k = 0, u = v;; u = r->stack[k++]) {
		for (uint32_t e = g->pred_off[u]; e < g->pred_off[u + 1]; e++) {
			uint32_t p = g->preds[e];
			/* a future the driver holds runs when it asks (await_node) */
			if ((r->deferred[p] == 1 || r->deferred[p] == 2) &&
			    g->pred_order[e] != DAG_EDGE_HELD) {
				r->deferred[p] = 3; /* gathered by this pass */
				r->stack[n++] = p;
			}
		}
		if (k == n)
			break;
	}
	qsort(r->stack, n, sizeof *r->stack, cmp_u32);
	for (uint32_t k = 0; k < n; k++)
		r->deferred[r->stack[k]] = 2; /* gathered, not run yet */
	/* copied: a poll (serial_poll_other) may gather again meanwhile, and
	 * it may run some of these first (deferred[] says which are left) */
	uint32_t *todo = malloc(sizeof *todo * (n ? n : 1));
	if (!todo)
		abort();
	memcpy(todo, r->stack, sizeof *todo * n);
	int rc = 0;
	for (uint32_t k = 0; k < n && rc == 0; k++)
		if (r->deferred[todo[k]])
			rc = run_deferred_node(r, todo[k]);
	free(todo);
	return rc;
}

static int report(serial_run *r)
{
	char *e = task_render_error(r->dv, "");
	fprintf(r->sh->err, "%s\n", e);
	free(e);
	return 1;
}

/* Runs the deferred nodes below `upto`, lowest id first. */
static int run_deferred(serial_run *r, uint32_t upto)
{
	for (uint32_t v = 0; v < upto; v++) {
		if (!r->deferred[v])
			continue;
		if (run_cancelled())
			return 1;
		int rc = ensure(r, v);
		if (r->deferred[v] && rc == 0)
			rc = run_deferred_node(r, v);
		if (rc < 0)
			return report(r);
	}
	return 0;
}

/* The staged driver (DAG_CONT) reads a deferred DAG call's future f: the
 * call runs now (after the deferred calls it needs), on the aside host.
 * f NULL: the driver sleeps, which gives the time to every deferred call
 * made before it, as threads run them meanwhile (it may be polling what
 * they do: Ray's progress actor). The other nodes before the driver have
 * run already (id order). */
static int serial_await_node(void *ctx, const vfuture *f, uint64_t deadline, bool any)
{
	(void)deadline;
	(void)any;
	serial_run *r = ((serial_run *)ctx)->aside;
	if (!f)
		return run_deferred(r, r->cont) ? -1 : 0;
	if (run_cancelled())
		return -1;
	int64_t u = f->node;
	if (u < 0 || (uint64_t)u >= r->cont || !r->deferred[u])
		return 0; /* run already (or not a DAG call's): get says so */
	int rc = ensure(r, (uint32_t)u);
	if (rc == 0 && r->deferred[u])
		rc = run_deferred_node(r, (uint32_t)u);
	return rc < 0 ? (report(r), -1) : 0;
}

/* h: a new host with m's settings (program, seed, streams, node, store,
 * observer, deferral, polls), for calls run while m is in the middle of
 * one (the aside host, the poll hosts). */
static void host_like(task_host *h, const task_host *m)
{
	task_host_init(h, m->prog, m->seed, m->out, m->err, m->actor_seq);
	h->node = m->node;
	h->rs = m->rs;
	h->call_ran = m->call_ran;
	h->call_ran_ctx = m->call_ran_ctx;
	h->defer = m->defer;
	h->poll_other = m->poll_other;
	h->poll_other_ctx = m->poll_other_ctx;
}

/* h's counts of failed, skipped, driver and caught calls added to dst's. */
static void host_add_counts(task_host *dst, const task_host *h)
{
	dst->nfailed += h->nfailed;
	dst->nskipped += h->nskipped;
	dst->ndriver += h->ndriver;
	dst->ncaught += h->ncaught;
}

static bool inputs_done(const dag *g, uint32_t v)
{
	for (uint32_t e = g->pred_off[v]; e < g->pred_off[v + 1]; e++) {
		value f = g->fut[g->preds[e]];
		if (f.t == V_FUTURE &&
		    __atomic_load_n(&((const vfuture *)f.as.o)->state, __ATOMIC_ACQUIRE) == FUT_PENDING)
			return false;
	}
	return true;
}

/* The host of poll level `level`, made the first time (as the aside host
 * is: a copy of the main host's settings, watched by the watchdog). */
static task_host *poll_host(poll_hosts *ph, int level, flow_vm **dv)
{
	if (level >= ph->made) {
		task_host *h = &ph->h[level];
		host_like(h, ph->model);
		watchdog_watch(ph->wd, &h->deadline, &h->cancel);
		ph->dv[level] = task_host_vm(h);
		ph->made = level + 1;
	}
	*dv = ph->dv[level];
	return &ph->h[level];
}

/* A deferred call sleeps in its poll (task_host.poll_other): the
 * deferred DAG calls made after it (a higher id) whose inputs are done
 * run first, newest first (a sender is made after its waiters; one made
 * before it ran first already, in id order), each on the host of this
 * poll level (the hosts below are in the middle
 * of their calls). One of them may be what the poll waits for (Ray's
 * signal sent by another task): on threads it would run meanwhile. */
static int serial_poll_other(void *ctx)
{
	serial_run *r = ctx;
	poll_hosts *ph = r->polls;
	int cap = (int)(sizeof ph->running / sizeof *ph->running);
	/* a sleeper not inside a deferred DAG call, or too deep: none */
	if (ph->level >= SERIAL_POLL_LEVELS || ph->nrunning == 0 || ph->nrunning > cap)
		return 0;
	uint32_t after = ph->running[ph->nrunning - 1];
	for (uint32_t v = r->cont; v-- > after + 1;) {
		if (!r->deferred[v] || !inputs_done(r->g, v))
			continue;
		if (run_cancelled())
			return -1;
		flow_vm *dv;
		task_host *h = poll_host(ph, ph->level, &dv);
		r->deferred[v] = 0;
		ph->level++;
		h->in_deferred++;
		push_running(ph, v);
		int rc = run_on(r, h, dv, v);
		pop_running(ph);
		h->in_deferred--;
		ph->level--;
		if (rc < 0) {
			char *e = task_render_error(dv, "");
			fprintf(h->err, "%s\n", e);
			free(e);
			return -1;
		}
	}
	return 0;
}

/* Runs every node in id order on sh, deferring task calls that hold an
 * actor handle (above); 1 when one could not run. The staged driver
 * (DAG_CONT) runs after every other node but the deferred ones, which
 * run when it needs them (serial_await_node): it may signal them first
 * (Ray's signal actor), or poll what they do. */
static int run_all(task_host *sh, task_host *ah, poll_hosts *ph, const dag *g, run_obs *obs)
{
	serial_run r = { sh, task_host_vm(sh), g, obs, calloc(g->n ? g->n : 1, 1),
	                 malloc((g->n ? g->n : 1) * sizeof(uint32_t)), g->n, NULL, ph };
	if (!r.deferred || !r.stack)
		abort();
	int64_t cont = dag_cont_node(g);
	if (cont >= 0)
		r.cont = (uint32_t)cont;
	sh->poll_other = ah->poll_other = serial_poll_other;
	sh->poll_other_ctx = ah->poll_other_ctx = &r;
	serial_run aside = r;
	if (cont >= 0) {
		aside = r;
		aside.sh = ah;
		aside.dv = task_host_vm(ah);
		r.aside = &aside;
		sh->await_node = serial_await_node;
		sh->await_node_ctx = &r;
	}
	int status = 0;
	for (uint32_t v = 0; v < g->n; v++) {
		if (run_cancelled()) { /* SIGINT/SIGTERM: nothing more starts */
			status = 1;
			break;
		}
		if (deferrable(g, v)) {
			r.deferred[v] = 1;
			continue;
		}
		int rc = ensure(&r, v);
		if (rc == 0)
			rc = run_one(&r, v);
		if (rc > 0)
			break; /* the driver ended (section 8): later nodes are not run */
		if (rc) {
			status = report(&r);
			break;
		}
	}
	/* calls the driver made still run to their end */
	if (status == 0)
		status = run_deferred(&r, g->n) ? 1 : 0;
	if (cont >= 0) {
		sh->await_node = NULL;
		vm_free(aside.dv);
	}
	free(r.deferred);
	free(r.stack);
	vm_free(r.dv);
	return status;
}

/* Large results (tensors) are freed once their last user has ran
 * (obj_refs.c), but glibc's dynamic mmap threshold, raised by the first
 * large free, then serves later ones from the main thread's heap, where
 * freed blocks below live ones are never given back: a run of 8 MiB
 * tensors peaked at twice the parallel executor's memory (issue 14).
 * A fixed threshold keeps every block this large mapped on its own, so
 * freeing it returns it to the system. Fixing it also fixes the trim
 * threshold, at 128 KiB unless set: every 1 MiB tensor freed at the top
 * of the heap was given back and the next one faulted in fresh pages (a
 * program restoring 1 GiB of 1 MiB tensors ran 15% slower: bench/README.md,
 * the spill store's eighth pass). 16 MiB is what the heap may keep. */
#define SERIAL_MMAP_THRESHOLD (4 << 20)
#define SERIAL_TRIM_THRESHOLD (16 << 20)

static int serial_run_dag(const dag *g, const exec_opts *o)
{
	mallopt(M_MMAP_THRESHOLD, SERIAL_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, SERIAL_TRIM_THRESHOLD);
	uint64_t actor_seq = 0;
	exec_node node;
	node_local_init(&node, 1, o);
	task_host sh;
	task_host_init(&sh, g->prog, o->seed, o->out, o->err, &actor_seq);
	sh.node = &node.view;
	run_store rs;
	run_store_init(&rs, o->store, g);
	sh.rs = &rs;
	sh.call_ran = obs_call_ran; /* --trace, --dot-out: the staged driver's calls, streams */
	sh.call_ran_ctx = o->obs;
	sh.defer = &serial_defer;
	/* the host of the deferred calls the staged driver needs (run_all) */
	task_host ah;
	host_like(&ah, &sh);
	watchdog *wd = watchdog_needed(g->prog) ? watchdog_start() : NULL;
	watchdog_watch(wd, &sh.deadline, &sh.cancel);
	watchdog_watch(wd, &ah.deadline, &ah.cancel);
	/* the hosts of the deferred calls a poll lets go first (run_all) */
	poll_hosts *ph = calloc(1, sizeof *ph);
	if (!ph)
		abort();
	ph->model = &sh;
	ph->wd = wd;
	obs_run_begin(o->obs, 0);
	int status = run_all(&sh, &ah, ph, g, o->obs);
	watchdog_stop(wd);
	for (int k = 0; k < ph->made; k++) {
		task_host *h = &ph->h[k];
		host_add_counts(&ah, h);
		vm_free(ph->dv[k]);
		task_host_fini(h);
	}
	free(ph);
	host_add_counts(&sh, &ah);
	task_host_fini(&ah);
	task_host_fini(&sh);
	run_store_fini(&rs);
	node_local_fini(&node);
	fflush(sh.out);
	obs_run_end(o->obs);
	if (task_summary(sh.err, sh.nfailed, sh.nskipped, sh.ndriver, sh.ncaught))
		status = 1;
	fflush(sh.err);
	return status;
}

const executor executor_serial = { "serial", serial_run_dag };
