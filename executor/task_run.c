/* task_run.c - the shared part of the executors (see task_run.h): the
 * host of task bodies and the running of one DAG node. Moved out of
 * serial.c unchanged in behaviour; what the parallel executor needed is
 * per-thread state (task_host), line-locked output and a lock per actor.
 *
 * Here: running a call inline (retries, @timeout), nested calls handed to
 * the spawner, get/wait/put/print/sleep, the DAG's nodes and the host's
 * life. Apart, sharing task_run_int.h: task_remote.c (a DAG node's task
 * call run by the cluster), task_actor.c (actor instances), streams.c
 * (tasks that yield).
 *
 * @timeout: a call sets its host's deadline; the watchdog (watchdog.h)
 * sets the host's cancel flag when it passes. Results in the object store:
 * obj_refs.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/cache.h"
#include "executor/interrupt.h"
#include "executor/mono_clock.h"
#include "executor/task_run_int.h"
#include "executor/store.h"
#include "executor/watchdog.h"

/* Reads of a result left on its node go through g_resolve (task_run.h),
 * except while a remote call's arguments are built (keep_refs): those
 * travel on as references. */
static int (*g_resolve)(value v, value *out, char **err);
static _Thread_local int keep_refs;
void task_set_resolver(int (*resolve)(value v, value *out, char **err)) { g_resolve = resolve; }
static _Thread_local const char *lost_method; /* set by the resolver before its -2 */
void task_resolve_lost_method(const char *name) { lost_method = name; }
static bool (*g_is_ref)(value v);
void task_set_ref_test(bool (*is_ref)(value v)) { g_is_ref = is_ref; }
bool task_result_is_ref(value v) { return g_is_ref && g_is_ref(v); }
void task_keep_refs(int d) { keep_refs += d; }

/* Where vm is now: its instruction's span, else the DAG node's (line 0
 * when neither is known). */
span task_place_span(flow_vm *vm)
{
	span w;
	task_host *sh = host_of(vm);
	if (vm_where(vm, &w))
		return w;
	if (sh->node_where)
		return *sh->node_where;
	memset(&w, 0, sizeof w);
	w.file = -1;
	return w;
}

char *task_span_text(const bc_program *p, span w)
{
	char *s = NULL;
	if (w.file < 0 && w.line == 0)
		return strdup("?");
	if (asprintf(&s, "%s:%d:%d", bc_source_path(p, w.file), w.line, w.col) < 0)
		abort();
	return s;
}

char *task_place_text(flow_vm *vm)
{
	return task_span_text(vm_program(vm), task_place_span(vm));
}

/* A failed VM's error, gcc-style: "file:line:col: error: message", the
 * source line with a caret, then the traceback of fn calls. `suffix` is
 * appended to the message (e.g. " (in task 'square')"). Malloc'd. */
char *task_render_error(flow_vm *vm, const char *suffix)
{
	const bc_program *p = vm_program(vm);
	const char *full = vm_error(vm);
	const char *msg = vm_error_message(vm);
	span w;
	if (!vm_error_place(vm, &w) || p->diag == NULL || msg == NULL) {
		char *s;
		if (asprintf(&s, "flow: error: %s%s", full ? full : "error", suffix) < 0)
			abort();
		return s;
	}
	char *text, *block, *out;
	if (asprintf(&text, "%s%s", msg, suffix) < 0)
		abort();
	block = diag_format(p->diag, DIAG_ERROR, w, text);
	const char *trace = full ? strchr(full, '\n') : NULL;
	size_t n = strlen(block);
	while (n > 0 && block[n - 1] == '\n')
		n--;
	if (asprintf(&out, "%.*s%s", (int)n, block, trace ? trace : "") < 0)
		abort();
	free(text);
	free(block);
	return out;
}

static bool is_failed(value x, void *ctx)
{
	if (x.t != V_FUTURE)
		return false;
	const vfuture *f = (const vfuture *)x.as.o;
	int st = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
	if (st == FUT_FAILED) {
		*(const vfuture **)ctx = f;
		return true;
	}
	return st == FUT_DONE && val_any(f->result, is_failed, ctx);
}

/* The first failed future inside v (deeply), or NULL. val_any enters each
 * shared list once: x = [x, x] repeated is not walked 2^n times. */
const vfuture *task_find_failed(value v)
{
	const vfuture *f = NULL;
	return val_any(v, is_failed, &f) ? f : NULL;
}

static const char *failed_name(const vfuture *f)
{
	const char *n = f->host_data;
	return n ? n : "?";
}

/* The spawner a pending job's future goes back to: the executor's, or the
 * serial executor's deferral (task_host.defer). */
static const task_spawner *spawner_of(const task_host *sh)
{
	return sh->spawn ? sh->spawn : sh->defer;
}

/* The serial executor (no spawner) defers a call whose arguments hold an
 * actor handle when the staged driver (depth 1) or a task body makes it
 * (serial.c): it may wait for a later call of its caller on that actor
 * (Ray's signal pattern), which threads would run meanwhile. A method's
 * calls run inline, as on threads. */
static bool serial_host(const task_host *sh)
{
	return sh->defer && !sh->spawn;
}

static bool serial_defers(const task_host *sh)
{
	return serial_host(sh) && sh->depth >= 1 && sh->in_method == 0;
}

static bool holds_deferred(const task_host *sh)
{
	return serial_host(sh) && sh->depth >= 1 && sh->kids[sh->depth - 1];
}

/* Runs the serial executor's deferred calls the running call (the
 * driver or a task body) has made and not yet run, in the order made
 * (kids[] is newest first), and lets them go. 0, or -1 when the run
 * stops. */
static int run_deferred_calls(task_host *sh)
{
	int d = sh->depth - 1;
	size_t n = 0;
	for (nested_job *k = sh->kids[d]; k; k = k->sibling)
		n++;
	nested_job **v = malloc(sizeof *v * (n ? n : 1));
	if (!v)
		abort();
	size_t i = n;
	for (nested_job *k = sh->kids[d]; k; k = k->sibling)
		v[--i] = k;
	int rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		if (__atomic_load_n(&v[i]->state, __ATOMIC_ACQUIRE) != NJ_DONE)
			rc = sh->defer->await(sh, v[i], 0, false) < 0 ? -1 : 0;
	free(v);
	if (rc == 0 && sh->kids[d]) {
		sh->defer->retire(sh, sh->kids[d]);
		sh->kids[d] = NULL;
	}
	return rc;
}

/* Serial: a deferred call run for a caller up the stack blocks in a
 * sleep (it polls an actor, say, for a later call of that caller's: Ray's
 * signal sent by another task). Threads would run the caller's later
 * deferred calls meanwhile; here the ones made after the running one run
 * now, newest first (a sender is made after its waiters; one made
 * before ran first already, in the order made). Each stays on its
 * caller's list, which lets it go. 0, or -1 when the run stops. */
static int run_callers_deferred(task_host *sh)
{
	for (int d = 0; d + 1 < sh->depth; d++) {
		size_t n = 0;
		bool running = false;
		for (nested_job *k = sh->kids[d]; k; k = k->sibling) {
			int st = __atomic_load_n(&k->state, __ATOMIC_ACQUIRE);
			if (st == NJ_RUNNING) {
				running = true;
				break;
			}
			n += st == NJ_QUEUED;
		}
		if (!running || n == 0)
			continue;
		nested_job **v = malloc(sizeof *v * n);
		if (!v)
			abort();
		size_t i = 0;
		for (nested_job *k = sh->kids[d]; k && i < n; k = k->sibling)
			if (__atomic_load_n(&k->state, __ATOMIC_ACQUIRE) == NJ_QUEUED)
				v[i++] = k;
		int rc = 0;
		for (i = 0; i < n && rc == 0; i++)
			if (__atomic_load_n(&v[i]->state, __ATOMIC_ACQUIRE) == NJ_QUEUED)
				rc = sh->defer->await(sh, v[i], 0, false) < 0 ? -1 : 0;
		free(v);
		if (rc)
			return rc;
	}
	return 0;
}

typedef struct await_ctx {
	task_host *sh;
	int rc;
} await_ctx;

static bool await_pending(value x, void *ctx)
{
	if (x.t != V_FUTURE)
		return false;
	vfuture *f = (vfuture *)x.as.o;
	await_ctx *a = ctx;
	if (__atomic_load_n(&f->state, __ATOMIC_ACQUIRE) == FUT_PENDING && f->job) {
		a->rc = spawner_of(a->sh)->await(a->sh, f->job, 0, false);
		if (a->rc)
			return true;
	}
	return __atomic_load_n(&f->state, __ATOMIC_ACQUIRE) == FUT_DONE &&
	       val_any(f->result, await_pending, ctx);
}

/* Waits for every nested call whose future is inside v (deeply), so
 * that v's futures are all done or failed. Returns 0, or -1 with an
 * error raised in vm. */
static int await_all(flow_vm *vm, value v)
{
	task_host *sh = host_of(vm);
	/* only a task body holds nested calls' futures (a DAG node's inputs
	 * are done before it runs) */
	if (sh->spawn ? !vm_ctx(vm)->task_name && !sh->in_cont : !holds_deferred(sh))
		return 0;
	await_ctx a = { sh, 0 };
	val_any(v, await_pending, &a);
	if (a.rc)
		return vm_raise(vm, "interrupted");
	return 0;
}

/* A skipped call's future remembers the failed one it was skipped for
 * (held), once. */
void task_set_cause(value skipped, const vfuture *cause)
{
	vfuture *f = (vfuture *)skipped.as.o;
	if (f->cause || (const vfuture *)f == cause)
		return;
	f->cause = (vfuture *)val_hold(v_obj((vobj *)&cause->h)).as.o;
}

/* Returns 1 and a skipped future when an argument is a failed future. */
int task_skip_if_failed(flow_vm *vm, const char *what, const char *name, value *args, int nargs,
                        value *out)
{
	for (int j = 0; j < nargs; j++) {
		if (await_all(vm, args[j]))
			return -1;
		const vfuture *f = task_find_failed(args[j]);
		if (!f)
			continue;
		task_host *sh = host_of(vm);
		char *msg;
		if (asprintf(&msg, "skipped: depends on failed task '%s'", failed_name(f)) < 0)
			abort();
		*out = future_new_failed(msg);
		((vfuture *)out->as.o)->host_data = (void *)f->host_data;
		task_set_cause(*out, f);
		fprintf(sh->err, "flow: %s '%s' %s\n", what, name, msg);
		sh->nskipped++;
		free(msg);
		return 1;
	}
	return 0;
}

/* Resolves and freezes arguments: a value leaving the caller is a snapshot. */
value *task_snapshot_args(flow_vm *vm, value *args, int nargs, value *small)
{
	value *out = nargs <= TASK_SMALL_ARGS ? small : malloc(sizeof(value) * (size_t)nargs);
	if (!out)
		abort();
	for (int j = 0; j < nargs; j++) {
		if (vm_get_deep(vm, args[j], &out[j])) {
			for (int q = 0; q < j; q++)
				val_rele(out[q]);
			if (out != small)
				free(out);
			return NULL;
		}
		val_freeze(out[j]);
	}
	return out;
}

/* Runs proto in a fresh VM. On failure returns -1 and a malloc'd error;
 * when it failed because it needed the result of a failed task, *dep is
 * that task's name and *err says where. */
int task_run_inline(task_host *sh, const bc_proto *p, uint64_t call, value self, value *args,
                    int nargs, value *res, char **err, const char **dep)
{
	vm_context c;
	memset(&c, 0, sizeof c);
	c.host = &task_host_ops;
	c.host_data = sh;
	c.task_name = p->name;
	c.self = self;
	c.cancel = &sh->cancel;
	c.node = sh->node;
	/* a retry draws a stream of its own (as a re-run in Ray would draw
	 * fresh numbers), still a function of (seed, call, attempt); nested
	 * calls keep their identities */
	uint64_t stream = rng_mix(sh->seed, call);
	if (sh->retry)
		stream = rng_mix(stream, (uint64_t)sh->retry);
	sh->retry = 0;
	rng_seed(&c.rng, stream);
	sh->ident[sh->depth] = call;
	sh->nchild[sh->depth] = 0;
	flow_vm *tv = sh->pool[sh->depth];
	if (tv)
		vm_set_ctx(tv, &c);
	else
		tv = sh->pool[sh->depth] = vm_new(sh->prog, &c);
	bool method = p->kind == PROTO_METHOD || p->kind == PROTO_INIT;
	sh->in_method += method;
	sh->kids[sh->depth] = NULL;
	sh->depth++;
	int rc = vm_run(tv, p, args, nargs, res);
	/* the jobs this call made end before it does (run here if nobody
	 * has taken them); not when it was cancelled (@timeout) */
	if (holds_deferred(sh) && run_deferred_calls(sh) < 0 && rc == 0) {
		val_rele(*res); /* serial: its deferred calls, in the order made */
		*res = v_none();
		rc = vm_raise(tv, "interrupted");
	}
	for (nested_job *k = sh->spawn ? sh->kids[sh->depth - 1] : NULL; k; k = k->sibling) {
		if (__atomic_load_n(&k->state, __ATOMIC_ACQUIRE) == NJ_DONE)
			continue;
		if (sh->spawn->await(sh, k, 0, false) < 0) {
			if (rc == 0) {
				val_rele(*res);
				*res = v_none();
				rc = vm_raise(tv, "interrupted");
			}
			break;
		}
	}
	nested_job *made = sh->kids[sh->depth - 1];
	sh->kids[sh->depth - 1] = NULL;
	task_streams_end(sh, sh->depth - 1);
	if (made && spawner_of(sh)->retire)
		spawner_of(sh)->retire(sh, made);
	/* a result leaves as a snapshot: nested calls' futures inside it
	 * are resolved while the caller can still wait for them */
	if (rc == 0 && sh->nchild[sh->depth - 1] > 0) {
		value r;
		rc = vm_get_deep(tv, *res, &r);
		val_rele(*res);
		*res = rc ? v_none() : r;
	}
	sh->depth--;
	sh->in_method -= method;
	*dep = NULL;
	if (rc && sh->dep_vm == tv) {
		*dep = sh->dep_name;
		*err = sh->dep_place;
		sh->dep_place = NULL;
	} else if (rc) {
		free(sh->fail_msg);
		sh->fail_msg = strdup(vm_error_message(tv));
		sh->fail_kind = ERR_TASK;
		char suffix[256];
		snprintf(suffix, sizeof suffix, " (in %s '%s')",
		         p->kind == PROTO_TASK ? "task" : p->kind == PROTO_INIT ? "actor" : "method",
		         p->name);
		*err = task_render_error(tv, suffix);
	} else {
		val_freeze(*res);
	}
	if (sh->dep_vm == tv)
		sh->dep_vm = NULL;
	/* drop the context's references now (self), not when reused */
	c.self = v_none();
	vm_set_ctx(tv, &c);
	return rc;
}

void task_timed_out(task_host *sh, const bc_proto *task, char **err)
{
	free(*err);
	if (asprintf(err, "task '%s' timed out after %g s (@timeout)", task->name,
	             task->attrs.timeout) < 0)
		abort();
	free(sh->fail_msg);
	sh->fail_msg = strdup(*err);
	sh->fail_kind = ERR_TIMEOUT;
}

/* where: the call's place in its caller (consumed). */
value task_fail_future(task_host *sh, const char *what, const char *name, int attempts,
                       const char *err, char *where)
{
	char *msg;
	char after[64] = "";
	if (attempts > 1)
		snprintf(after, sizeof after, " after %d attempts", attempts);
	if (asprintf(&msg, "%s\n  %s '%s' failed%s; it was called from %s", err, what, name, after,
	             where) < 0)
		abort();
	if (!run_stopped()) /* else its one reason was said (the head was lost) */
		fprintf(sh->err, "%s\n", msg);
	sh->nfailed++;
	value f = future_new_failed(msg);
	vfuture *vf = (vfuture *)f.as.o;
	vf->host_data = (void *)name;
	vf->ekind = sh->fail_msg ? sh->fail_kind : ERR_TASK;
	vf->emsg = sh->fail_msg;
	sh->fail_msg = NULL;
	free(msg);
	free(where);
	return f;
}

/* A call that stopped because it needed a failed result: reported once,
 * shortly, and counted with the skipped ones. */
static value stopped_future(task_host *sh, const char *what, const char *name, const char *dep,
                            const char *where)
{
	char *msg;
	if (asprintf(&msg, "stopped at %s: it needs the result of failed task '%s'", where, dep) < 0)
		abort();
	fprintf(sh->err, "flow: %s '%s' %s\n", what, name, msg);
	sh->nskipped++;
	value f = future_new_failed(msg);
	((vfuture *)f.as.o)->host_data = (void *)dep;
	/* it failed for that future: `except` around its get sees that
	 * failure (its message) and handles it too, as for a skipped call */
	if (sh->dep_fut.t == V_FUTURE && failed_name((const vfuture *)sh->dep_fut.as.o) == dep)
		task_set_cause(f, (const vfuture *)sh->dep_fut.as.o);
	val_rele(sh->dep_fut);
	sh->dep_fut = v_none();
	free(msg);
	return f;
}

/* The future an inline run leaves behind: done with its result, failed,
 * or stopped because it needed a failed task's result. Consumes res, err
 * and where (the call's place in its caller). */
value task_outcome_future(task_host *sh, const char *what, const char *name, int rc,
                          int attempts, value res, char *err, const char *dep, char *where)
{
	value f;
	if (rc && dep) {
		f = stopped_future(sh, what, name, dep, err);
		free(where);
	} else if (rc) {
		f = task_fail_future(sh, what, name, attempts, err, where);
	} else {
		f = future_new_done(res);
		val_rele(res);
		free(where);
	}
	free(err);
	return f;
}

/* Runs task (args resolved and frozen) in sh with its retries and
 * @timeout, as call number `call`; returns the outcome future. where:
 * the call's place in its caller, for a failure message. */
static value call_task_run(task_host *sh, const bc_proto *task, uint64_t call, value *a, int nargs,
                           const bc_program *prog, span where)
{
	if (sh->remote && sh->depth == 0) {
		value f;
		if (task_call_remote(sh, task, call, a, nargs, prog, where, &f) == 0)
			return f;
	}
	char *err = NULL;
	const char *dep = NULL;
	value res = v_none();
	int attempts = 0, rc;
	do {
		free(err);
		err = NULL;
		attempts++;
		uint64_t outer = __atomic_load_n(&sh->deadline, __ATOMIC_RELAXED), mine = 0;
		if (task->attrs.timeout > 0) {
			mine = mono_now_ns() + (uint64_t)(task->attrs.timeout * 1e9);
			if (!outer || mine < outer) {
				__atomic_store_n(&sh->deadline, mine, __ATOMIC_RELAXED);
				watchdog_ring(); /* it may sleep until a later one */
			}
		}
		sh->retry = attempts - 1;
		rc = task_run_inline(sh, task, call, v_none(), a, nargs, &res, &err, &dep);
		if (mine) {
			__atomic_store_n(&sh->deadline, outer, __ATOMIC_RELAXED);
			if (__atomic_load_n(&sh->cancel, __ATOMIC_RELAXED) && mono_now_ns() >= mine) {
				/* this call's own deadline passed: a timeout, which
				 * @retries may retry */
				__atomic_store_n(&sh->cancel, 0, __ATOMIC_RELAXED);
				if (rc) {
					task_timed_out(sh, task, &err);
					dep = NULL;
				}
			}
		}
	} while (rc && !dep && attempts <= task->attrs.retries);
	sh->nretries += attempts - 1;
	return task_outcome_future(sh, "task", task->name, rc, attempts, res, err, dep,
	                           rc && !dep ? task_span_text(prog, where) : NULL);
}

/* call_task_run, unless the run's cache (cache.h: flow run --resume)
 * holds the call's result; a result it may keep is stored. *cached: it
 * came from there. */
static value call_task_here(task_host *sh, const bc_proto *task, uint64_t call, value *a, int nargs,
                            const bc_program *prog, span where, bool *cached)
{
	cache_call *cc = NULL;
	value hit;
	*cached = false;
	if (cache_current() && !sh->remote &&
	    cache_call_begin(cache_current(), task, sh->seed, call, a, nargs, &cc, &hit)) {
		*cached = true;
		value f = future_new_done(hit);
		val_rele(hit);
		return f;
	}
	value f = call_task_run(sh, task, call, a, nargs, prog, where);
	cache_call_end(cc, f);
	return f;
}

void task_release_args(value *a, value *small, int nargs)
{
	for (int j = 0; j < nargs; j++)
		val_rele(a[j]);
	if (a != small)
		free(a);
}

/* Hands a call made in a task body to spawner sp: *out is its pending
 * future. a: resolved, frozen arguments (consumed). */
static int spawn_task(flow_vm *vm, const task_spawner *sp, const bc_proto *task, value *a, int nargs,
                      value *out)
{
	task_host *sh = host_of(vm);
	nested_job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->task = task;
	j->nargs = nargs;
	j->args = malloc(sizeof(value) * (size_t)(nargs ? nargs : 1));
	if (!j->args)
		abort();
	memcpy(j->args, a, sizeof(value) * (size_t)nargs);
	j->ident = next_ident(sh);
	j->level = sh->base_level + sh->depth;
	j->where = task_place_span(vm);
	j->from_driver = sh->in_cont && sh->depth == 1;
	j->prog = sh->prog;
	j->fut = future_new_pending(-1);
	((vfuture *)j->fut.as.o)->job = j;
	j->cache_parent = cache_call_current();
	j->sibling = sh->kids[sh->depth - 1];
	sh->kids[sh->depth - 1] = j;
	*out = val_hold(j->fut);
	sp->submit(sh, j);
	return 0;
}

static bool is_handle(value x, void *ctx)
{
	(void)ctx;
	return x.t == V_ACTOR;
}

static bool holds_handle(const value *a, int nargs)
{
	for (int j = 0; j < nargs; j++)
		if (val_any(a[j], is_handle, NULL))
			return true;
	return false;
}

static int s_call_task(flow_vm *vm, const bc_proto *task, value *args, int nargs, value *out)
{
	task_host *sh = host_of(vm);
	int sk = task_skip_if_failed(vm, "task", task->name, args, nargs, out);
	if (sk)
		return sk < 0 ? -1 : 0;
	if (sh->base_level + sh->depth >= TASK_MAX_NESTING)
		return vm_raise(vm, "tasks nested more than %d deep", TASK_MAX_NESTING);
	value small[TASK_SMALL_ARGS], *a = task_snapshot_args(vm, args, nargs, small);
	if (!a)
		return -1;
	if (bc_proto_yields(task)) {
		/* a stream: its producer runs as its items are asked for */
		*out = task_stream_new(vm, sh, task, a, nargs);
		if (a != small)
			free(a);
		return 0;
	}
	/* a call from a task body (not from a method, not from the driver)
	 * goes to the executor's pool */
	if (sh->spawn && sh->in_method == 0 && (vm_ctx(vm)->task_name || sh->in_cont)) {
		int rc = spawn_task(vm, sh->spawn, task, a, nargs, out);
		if (a != small)
			free(a);
		return rc;
	}
	/* the serial executor: a call of the driver or a task body holding
	 * an actor handle waits until something needs it (serial.c) */
	if (serial_defers(sh) && holds_handle(a, nargs)) {
		int rc = spawn_task(vm, sh->defer, task, a, nargs, out);
		if (a != small)
			free(a);
		return rc;
	}
	uint64_t call = next_ident(sh); /* retries: the same call, streams of their own */
	bool seen = sh->call_ran && sh->in_cont && sh->depth == 1;
	uint64_t t0 = seen ? mono_now_ns() : 0;
	bool cached;
	*out = call_task_here(sh, task, call, a, nargs, vm_program(vm), task_place_span(vm), &cached);
	sh->ncached += cached && sh->depth == 0; /* a DAG node's own call */
	if (seen)
		sh->call_ran(sh->call_ran_ctx, task, task_place_span(vm), sh->tid, t0, true, false,
		             ((vfuture *)out->as.o)->state == FUT_FAILED);
	task_release_args(a, small, nargs);
	return 0;
}

int task_run_job(task_host *sh, nested_job *j)
{
	int saved = sh->base_level;
	if (sh->depth == 0)
		sh->base_level = j->level;
	cache_call *prev = cache_job_enter(j->cache_parent);
	value f = call_task_here(sh, j->task, j->ident, j->args, j->nargs, j->prog, j->where, &j->cached);
	cache_job_leave(prev);
	sh->base_level = saved;
	for (int k = 0; k < j->nargs; k++)
		val_rele(j->args[k]);
	j->nargs = 0;
	task_settle(j->fut, f);
	int failed = ((vfuture *)f.as.o)->state == FUT_FAILED;
	val_rele(f);
	return failed;
}

void task_job_release(nested_job *j)
{
	for (int k = 0; k < j->nargs; k++)
		val_rele(j->args[k]);
	j->nargs = 0;
	free(j->args);
	j->args = NULL;
	cache_call_release(j->cache_parent);
	j->cache_parent = NULL;
	if (j->fut.t == V_FUTURE) {
		((vfuture *)j->fut.as.o)->job = NULL; /* j is going */
		val_rele(j->fut);
		j->fut = v_none();
	}
}

int task_get(flow_vm *vm, value fut, value *out)
{
	if (fut.t == V_STREAM)
		return task_stream_get(vm, fut, out);
	if (fut.t != V_FUTURE) {
		*out = val_hold(fut);
		return 0;
	}
	const vfuture *f = (const vfuture *)fut.as.o;
	int st = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
	if (st == FUT_PENDING && f->job) {
		task_host *sh = host_of(vm);
		if (!spawner_of(sh) || spawner_of(sh)->await(sh, f->job, 0, false))
			return vm_raise(vm, "interrupted");
		st = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
	} else if (st == FUT_PENDING && host_of(vm)->await_node) {
		/* the staged driver holds a DAG call's future: it blocks here */
		task_host *sh = host_of(vm);
		if (sh->await_node(sh->await_node_ctx, f, 0, false))
			return vm_raise(vm, "interrupted");
		st = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
	}
	if (st == FUT_DONE && run_store_holds(f)) {
		task_host *sh = host_of(vm);
		char *err = NULL;
		if (run_store_read(sh->rs, f, out, &err) == STORE_ERR) {
			int rc = vm_raise(vm, "object store: %s", err ? err : "cannot read a result");
			free(err);
			return rc;
		}
		free(err); /* a failed spill after the read: reported at the next put */
		return 0;
	}
	if (st == FUT_DONE && g_resolve && !keep_refs) { /* a result left on its node */
		char *err = NULL;
		lost_method = NULL;
		int rc = g_resolve(f->result, out, &err);
		if (rc < 0) {
			int died = rc == -2; /* an actor method's result lost with its node */
			rc = vm_raise(vm, "%s", err ? err : "cannot fetch a task's result");
			if (died) /* e.task: the method, as for its call's own failure */
				vm_error_detail(vm, ERR_ACTOR_DIED, lost_method, NULL, NULL);
			free(err);
			return rc;
		}
		if (rc > 0)
			return 0;
	}
	if (st == FUT_DONE) {
		*out = val_hold(f->result);
		return 0;
	}
	if (st == FUT_FAILED) {
		task_host *sh = host_of(vm);
		sh->dep_vm = vm;
		sh->dep_name = failed_name(f);
		val_rele(sh->dep_fut);
		sh->dep_fut = val_hold(fut);
		free(sh->dep_place);
		sh->dep_place = task_place_text(vm);
		vm_raise(vm, "needs the result of failed task '%s'", failed_name(f));
		/* what `except e` sees: the failed call's own message, and its
		 * first line as flow run printed it; for a call skipped because
		 * an input failed, that input's (as Ray's error carries its
		 * cause's) */
		const vfuture *root = f;
		while (root->cause)
			root = root->cause;
		const char *full = root->error ? root->error : "failed";
		size_t n1 = strcspn(full, "\n");
		char *line = strndup(full, n1);
		vm_error_detail(vm, root->ekind, root->host_data, root->emsg ? root->emsg : line, line);
		vm_error_future(vm, fut);
		free(line);
		return -1;
	}
	return vm_raise(vm, "future is not ready");
}

static bool fut_ready(value x)
{
	return x.t != V_FUTURE ||
	       __atomic_load_n(&((const vfuture *)x.as.o)->state, __ATOMIC_ACQUIRE) != FUT_PENDING;
}

/* wait(futures, n, timeout): [ready, pending] once n are ready (failed
 * counts as ready, as get then raises) or the timeout passes. ready holds
 * at most n, in the list's order (Ray's wait). Futures of a task's inputs
 * and of inline calls are ready already; only nested calls handed to the
 * spawner are waited for: the first one not ready each time, which the
 * spawner runs here if no thread has taken it. The staged driver also
 * holds futures of DAG calls that have not ended (dag.h): those it waits
 * for through await_node, which also wakes when a nested call ends. */
static int s_wait(flow_vm *vm, value futures, int64_t n, double timeout, value *out)
{
	if (futures.t != V_LIST)
		return vm_raise(vm, "wait() needs a list of futures, got %s", vtype_name(futures.t));
	task_host *sh = host_of(vm);
	size_t len = list_len(futures);
	size_t want = n < 0 ? 0 : (size_t)n > len ? len : (size_t)n;
	uint64_t deadline = timeout > 0 ? mono_now_ns() + (uint64_t)(timeout * 1e9) : 0;
	for (;;) {
		size_t nready = 0;
		const vfuture *first = NULL, *node = NULL;
		for (size_t j = 0; j < len; j++) {
			value x = list_get(futures, j);
			if (fut_ready(x))
				nready++;
			else {
				const vfuture *f = (const vfuture *)x.as.o;
				if (!first)
					first = f;
				if (!node && !f->job)
					node = f;
			}
		}
		if (nready >= want || !first || timeout == 0 || (deadline && mono_now_ns() >= deadline))
			break;
		/* back when `first` or any other call ends, or at the deadline:
		 * a DAG call's end wakes only await_node, which wakes on a
		 * nested call's end too (serial: the first in the list's order) */
		int rc;
		if (node && sh->await_node && (sh->spawn || node == first))
			rc = sh->await_node(sh->await_node_ctx, node, deadline, true);
		else if (first->job && spawner_of(sh))
			rc = spawner_of(sh)->await(sh, first->job, deadline, true);
		else
			break;
		if (rc < 0)
			return vm_raise(vm, "interrupted");
	}
	value res = list_new(2);
	value ready = list_new(want), pending = list_new(len);
	size_t taken = 0;
	for (size_t j = 0; j < len; j++) {
		value x = list_get(futures, j);
		bool r = fut_ready(x) && taken < want;
		taken += r;
		list_append(r ? ready : pending, x);
	}
	list_append_take(res, ready);
	list_append_take(res, pending);
	*out = res;
	return 0;
}

static int s_put(flow_vm *vm, value v, value *out)
{
	value c;
	if (vm_get_deep(vm, v, &c))
		return -1;
	val_freeze(c);
	*out = future_new_done(c);
	val_rele(c);
	return 0;
}

static void s_print(flow_vm *vm, const char *text, size_t len)
{
	task_host *sh = host_of(vm);
	const char *name = vm_ctx(vm)->task_name;
	if (!name) {
		flockfile(sh->out);
		fwrite(text, 1, len, sh->out);
		fputc('\n', sh->out);
		funlockfile(sh->out);
		return;
	}
	/* one prefix per line, naming the call: "(work#17)" for the call
	 * that is DAG node 17 (its identity is the node's id + 1), else
	 * "(work#~1a2b3c)" from the nested call's identity; the stream's
	 * lock keeps other threads' lines out of this print */
	uint64_t id = sh->depth > 0 ? sh->ident[sh->depth - 1] : sh->top_ident;
	char call[24];
	if (id > 0 && id <= UINT32_MAX)
		snprintf(call, sizeof call, "%llu", (unsigned long long)id - 1);
	else
		snprintf(call, sizeof call, "~%06llx", (unsigned long long)(id & 0xffffff));
	flockfile(sh->err);
	size_t start = 0;
	for (size_t j = 0; j <= len; j++) {
		if (j == len || text[j] == '\n') {
			fprintf(sh->err, "(%s#%s) ", name, call);
			fwrite(text + start, 1, j - start, sh->err);
			fputc('\n', sh->err);
			start = j + 1;
		}
	}
	funlockfile(sh->err);
}

static int s_sleep(flow_vm *vm, double seconds)
{
	if (!(seconds > 0))
		return 0;
	task_host *sh = host_of(vm);
	bool in_task = vm_ctx(vm)->task_name != NULL;
	/* serial: a driver that sleeps gives the time to the calls it
	 * deferred, as threads run them meanwhile (it may be polling what
	 * they do: Ray's progress actor) */
	if (!in_task && sh->in_cont && sh->await_node &&
	    sh->await_node(sh->await_node_ctx, NULL, 0, false) < 0)
		return vm_raise(vm, "interrupted");
	if (holds_deferred(sh) && run_deferred_calls(sh))
		return vm_raise(vm, "interrupted");
	/* serial: a deferred call blocked in its poll lets the other deferred
	 * calls go first (only then: a plain task's sleep must not start a
	 * waiter before its caller's send) */
	if (in_task && sh->in_deferred > 0 && serial_host(sh) &&
	    (run_callers_deferred(sh) || (sh->poll_other && sh->poll_other(sh->poll_other_ctx) < 0)))
		return vm_raise(vm, "interrupted");
	if (sh->block && in_task)
		sh->block(sh->block_ctx, true);
	/* in slices, so a @timeout can stop a sleeping task */
	uint64_t end = mono_now_ns() + (uint64_t)(seconds * 1e9);
	int rc = 0;
	for (uint64_t t = mono_now_ns(); t < end; t = mono_now_ns()) {
		if ((in_task && __atomic_load_n(&sh->cancel, __ATOMIC_RELAXED)) || run_cancelled()) {
			rc = vm_raise(vm, "interrupted");
			break;
		}
		uint64_t left = end - t, slice = left < 10000000u ? left : 10000000u;
		struct timespec ts = { (time_t)(slice / 1000000000u), (long)(slice % 1000000000u) };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	if (sh->block && in_task)
		sh->block(sh->block_ctx, false);
	return rc;
}

/* An `except` caught a get of fut: that failure is handled, and so is
 * every failure it was skipped for (catching get(g(f())) handles f's). */
static void s_caught(flow_vm *vm, value fut)
{
	task_host *sh = host_of(vm);
	if (sh->dep_vm == vm) /* handled: a later error of vm is its own */
		sh->dep_vm = NULL;
	for (vfuture *f = (vfuture *)fut.as.o; f; f = f->cause)
		if (!__atomic_exchange_n(&f->caught, 1, __ATOMIC_ACQ_REL))
			host_of(vm)->ncaught++;
}

/* A native read a file: the cacheable calls running depend on it. */
static void s_read_file(flow_vm *vm, const char *path)
{
	(void)vm;
	if (cache_current())
		cache_note_read(path);
}

/* A native asked what a folder holds (io.glob, io.exists): likewise. */
static void s_probe(flow_vm *vm, int kind, const char *arg)
{
	(void)vm;
	if (cache_current())
		cache_note_probe(kind, arg);
}

const flow_host_ops task_host_ops = {
	s_call_task, task_new_actor, task_call_method, task_get, s_wait, s_put, s_print, s_sleep,
	.caught = s_caught, .read_file = s_read_file,
	.stream_next = task_stream_next, .probe = s_probe,
};

/* ---- running the DAG ---------------------------------------------------- */

static const char *const kind_names[DAG__KINDS] = {"task", "actor", "method", "expression", "effect", "put",
                                                   "driver"};

/* The node's future takes res, error and emsg (all consumed) and the
 * rest; its state is stored after, by the caller. */
static void settle_fields(vfuture *dst, value res, char *error, char *emsg, uint8_t ekind, void *host_data)
{
	value old = dst->result;
	dst->result = res;
	val_rele(old);
	free(dst->error);
	dst->error = error;
	free(dst->emsg);
	dst->emsg = emsg;
	dst->ekind = ekind;
	dst->host_data = host_data;
}

/* Stores what a call left (a done or failed future) in the node's own
 * future, which the inputs of later nodes hold. */
void task_settle(value node_fut, value outcome)
{
	vfuture *dst = (vfuture *)node_fut.as.o;
	const vfuture *src = (const vfuture *)outcome.as.o;
	settle_fields(dst, val_hold(src->result), src->error ? strdup(src->error) : NULL,
	              src->emsg ? strdup(src->emsg) : NULL, src->ekind, src->host_data);
	if (src->cause) /* a call stopped by a failed one it needed (stopped_future) */
		task_set_cause(node_fut, src->cause);
	/* last: a thread that sees the new state sees the rest (nested jobs) */
	__atomic_store_n(&dst->state, src->state, __ATOMIC_RELEASE);
}

/* task_settle of a done outcome, without one: the node's future takes
 * res (consumed). What the driver's own nodes leave: two of a round
 * trip's three nodes. */
static void settle_done(value node_fut, value res)
{
	vfuture *dst = (vfuture *)node_fut.as.o;
	settle_fields(dst, res, NULL, NULL, ERR_TASK, NULL);
	__atomic_store_n(&dst->state, FUT_DONE, __ATOMIC_RELEASE);
}

static void fail_node(value node_fut, const char *msg, const char *name)
{
	vfuture *dst = (vfuture *)node_fut.as.o;
	dst->state = FUT_FAILED;
	free(dst->error);
	dst->error = strdup(msg);
	if (!dst->error)
		abort();
	dst->host_data = (void *)name;
}

/* A node whose input failed: skipped, and said so for the nodes a user
 * wrote as calls or effects (an expression or a get is implied by them). */
static bool skip_node(task_host *sh, const dag *g, uint32_t v)
{
	const dag_node *n = &g->nodes[v];
	const vfuture *f = NULL;
	if (n->kind == DAG_CONT)
		return false; /* the driver goes on: a get of the failed value raises */
	for (uint32_t j = 0; j < n->nin && !f; j++)
		f = task_find_failed(g->ins[n->in + j]);
	if (!f)
		return false;
	char lab[128], *msg;
	const char *name = dag_label(g, v, lab, sizeof lab);
	if (asprintf(&msg, "skipped: depends on failed task '%s'", failed_name(f)) < 0)
		abort();
	bool quiet = n->kind == DAG_PUT;
	if (n->kind == DAG_IMPLICIT || n->kind == DAG_EFFECT) {
		/* the driver needs a failed value: it ends here (section 8) */
		char *text;
		if (asprintf(&text, "needs the result of failed task '%s'", failed_name(f)) < 0)
			abort();
		char *block = g->prog->diag ? diag_format(g->prog->diag, DIAG_ERROR, n->where, text) : NULL;
		if (block) {
			size_t bl = strlen(block);
			while (bl > 0 && block[bl - 1] == '\n')
				bl--;
			fprintf(sh->err, "%.*s\n  the driver stopped here\n", (int)bl, block);
		} else {
			fprintf(sh->err, "%s:%d:%d: error: %s\n  the driver stopped here\n",
			        bc_source_path(g->prog, n->where.file), n->where.line, n->where.col, text);
		}
		free(block);
		free(text);
		sh->ndriver++;
		quiet = true;
	}
	if (!quiet) {
		const char *path = bc_source_path(g->prog, n->where.file);
		if (n->kind == DAG_EFFECT)
			fprintf(sh->err, "flow: %s at %s:%d:%d %s\n", name, path, n->where.line,
			        n->where.col, msg);
		else
			fprintf(sh->err, "flow: %s '%s' %s\n", kind_names[n->kind], name, msg);
		sh->nskipped++;
	}
	if (n->kind == DAG_ACTOR) {
		/* the handle stays; its calls fail as "broken" */
		task_actor_broken(g->fut[v], msg);
	} else {
		fail_node(g->fut[v], msg, failed_name(f));
		task_set_cause(g->fut[v], f);
	}
	free(msg);
	return true;
}

static int run_node(task_host *sh, flow_vm *dv, const dag *g, uint32_t v);

/* The staged driver (LANGUAGE.md section 6): runs the rest of the driver
 * in the driver's VM from the state the lowering saved. Its calls are
 * made as a task body's are (identities from this node; handed to the
 * spawner when there is one) and end before it does. An error nobody
 * catches ends the driver there: reported as a driver error. */
static int run_cont(task_host *sh, flow_vm *dv, const dag *g, uint32_t v)
{
	const dag_node *n = &g->nodes[v];
	const dag_cont *c = &g->cont;
	vm_state_frame fr[64];
	if (c->nframes == 0 || c->nframes > 64)
		return vm_raise(dv, "corrupt driver continuation");
	for (uint32_t j = 0; j < c->nframes; j++) {
		fr[j].p = c->frames[j].proto == DAG_PROTO_DRIVER ? g->prog->driver
		                                                 : g->prog->protos[c->frames[j].proto];
		fr[j].pc = (int)c->frames[j].pc;
		fr[j].base = (int)c->frames[j].base;
	}
	sh->ident[0] = sh->top_ident;
	sh->nchild[0] = 0;
	sh->kids[0] = NULL;
	sh->depth = 1;
	sh->in_cont = true;
	value res = v_none();
	int rc = vm_resume(dv, fr, (int)c->nframes, n->nin ? &g->ins[n->in] : NULL, n->nin, c->masks, &res);
	val_rele(res);
	if (rc) {
		char *e = task_render_error(dv, "");
		fprintf(sh->err, "%s\n  the driver stopped here\n", e);
		free(e);
		span w;
		if (run_cancelled() && vm_error_place(dv, &w)) { /* for the interrupt's summary */
			char *at = task_span_text(vm_program(dv), w);
			interrupt_note_driver_stop(at);
			free(at);
		}
		sh->ndriver++;
	}
	/* the calls it made run to the end; deferred ones (serial) in the
	 * order it made them */
	const task_spawner *sp = spawner_of(sh);
	if (sh->await_node) /* the DAG's deferred calls first: made before */
		sh->await_node(sh->await_node_ctx, NULL, 0, false);
	if (holds_deferred(sh))
		run_deferred_calls(sh);
	for (nested_job *k = sh->kids[0]; k; k = k->sibling)
		if (__atomic_load_n(&k->state, __ATOMIC_ACQUIRE) != NJ_DONE && sp)
			sp->await(sh, k, 0, false);
	if (sh->kids[0] && sp && sp->retire)
		sp->retire(sh, sh->kids[0]);
	sh->kids[0] = NULL;
	task_streams_end(sh, 0);
	sh->depth = 0;
	sh->in_cont = false;
	return 0;
}

/* Runs one node. Returns -1 only when the run cannot go on. */
int task_run_node(task_host *sh, flow_vm *dv, const dag *g, uint32_t v)
{
	int rc = run_node(sh, dv, g, v);
	if (rc >= 0 && sh->rs)
		run_store_after(sh->rs, sh->err, g, v);
	return rc;
}

static int run_node(task_host *sh, flow_vm *dv, const dag *g, uint32_t v)
{
	const dag_node *n = &g->nodes[v];
	const bc_program *p = g->prog;
	value *ins = g->ins ? &g->ins[n->in] : NULL; /* a DAG with no inputs at all */
	value out = v_none();
	int rc = 0;
	if (skip_node(sh, g, v))
		return n->kind == DAG_IMPLICIT || n->kind == DAG_EFFECT ? 1 : 0;
	sh->node_where = &n->where;
	int ended = 0;
	sh->top_ident = (uint64_t)v + 1;
	switch (n->kind) {
	case DAG_TASK:
		rc = s_call_task(dv, p->protos[n->proto], ins, n->nin, &out);
		break;
	case DAG_ACTOR:
		rc = task_init_actor(dv, g->fut[v], p->actors[n->proto], ins, n->nin);
		break;
	case DAG_METHOD:
		rc = task_call_method(dv, g->fut[n->pc], p->protos[n->proto], ins, n->nin, &out);
		break;
	case DAG_PUT:
		rc = s_put(dv, ins[0], &out);
		break;
	case DAG_CONT:
		rc = run_cont(sh, dv, g, v);
		out = future_new_done(v_none());
		break;
	default: {
		const bc_proto *ip = dag_insn_proto(g, n);
		value res;
		if (vm_exec_insn(dv, ip, (int)n->pc, g->inreg ? &g->inreg[n->in] : NULL, ins, n->nin,
		                 n->out, &res)) {
			char *e = task_render_error(dv, "");
			fprintf(sh->err, "%s\n", e);
			free(e);
			fail_node(g->fut[v], vm_error_message(dv) ? vm_error_message(dv) : "failed",
			          "<driver>");
			sh->ndriver++;
			ended = 1; /* an error nobody catches ends the driver */
		} else {
			val_freeze(res); /* later nodes on other threads share it */
			settle_done(g->fut[v], res); /* no done future to copy from */
		}
		break;
	}
	}
	sh->node_where = NULL;
	if (rc)
		return -1;
	if (out.t == V_FUTURE)
		task_settle(g->fut[v], out);
	val_rele(out);
	return ended;
}

/* ---- the host's life ------------------------------------------------------ */

void task_host_init(task_host *h, const bc_program *p, uint64_t seed, FILE *out, FILE *err,
                    uint64_t *actor_seq)
{
	memset(h, 0, sizeof *h);
	h->prog = p;
	h->seed = seed;
	h->out = out ? out : stdout;
	h->err = err ? err : stderr;
	h->actor_seq = actor_seq;
}

void task_host_fini(task_host *h)
{
	free(h->dep_place);
	h->dep_place = NULL;
	val_rele(h->dep_fut);
	h->dep_fut = v_none();
	free(h->fail_msg);
	h->fail_msg = NULL;
	for (int j = 0; j <= TASK_MAX_NESTING; j++) {
		vm_free(h->pool[j]);
		h->pool[j] = NULL;
	}
}

flow_vm *task_host_vm(task_host *h)
{
	vm_context c;
	memset(&c, 0, sizeof c);
	c.host = &task_host_ops;
	c.host_data = h;
	c.task_name = NULL;
	c.self = v_none();
	c.node = h->node;
	/* not h->cancel (the @timeout of the calls it makes, cleared after
	 * each): a signal stops the driver's own loops (interrupt.h) */
	c.cancel = interrupt_cancel_word();
	rng_seed(&c.rng, rng_mix(h->seed, 0));
	return vm_new(h->prog, &c);
}

int task_summary(FILE *err, int nfailed, int nskipped, int ndriver, int ncaught)
{
	if (!nfailed && !nskipped && !ndriver)
		return 0;
	if (run_stopped())
		return 1; /* the run was stopped for a reason already said (the
		           * head was lost): its calls did not fail */
	if (!ndriver && ncaught >= nfailed + nskipped) {
		/* every failure was handled by the program */
		fprintf(err, "flow: %d call%s failed, caught by 'except'\n", ncaught, ncaught == 1 ? "" : "s");
		return 0;
	}
	if (nfailed || !ndriver) {
		fprintf(err, "flow: %d task%s failed", nfailed, nfailed == 1 ? "" : "s");
		if (ndriver)
			fprintf(err, ", %d driver error%s", ndriver, ndriver == 1 ? "" : "s");
	} else {
		fprintf(err, "flow: %d driver error%s", ndriver, ndriver == 1 ? "" : "s");
	}
	if (nskipped)
		fprintf(err, ", %d skipped", nskipped);
	fprintf(err, "\n");
	return 1;
}

