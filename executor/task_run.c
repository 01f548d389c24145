/* task_run.c - the shared part of the executors (see task_run.h): the
 * host of task bodies and the running of one DAG node. Moved out of
 * serial.c unchanged in behaviour; what the parallel executor needed is
 * per-thread state (task_host), line-locked output and a lock per actor.
 *
 * @timeout: a call sets its host's deadline; the watchdog (watchdog.h)
 * sets the host's cancel flag when it passes. Results in the object store:
 * obj_refs.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/effects.h"
#include "executor/cache.h"
#include "executor/interrupt.h"
#include "executor/task_run.h"
#include "executor/store.h"
#include "lang/encode.h"
#include "lang/flow_err.h"

/* An actor instance: its fields, or why it is broken. Its methods run one
 * at a time (lock): a task may call a method on a handle it was passed
 * while the driver thread calls another. Recursive, because a method may
 * call its own actor inline. */
typedef struct task_actor {
	value fields;
	char *error;
	pthread_mutex_t lock;
	uint64_t remote;         /* an actor of the cluster: its id (0: it lives here) */
	int64_t cls_index;       /* ... and its class, for the encoding */
} task_actor;

/* The cluster's actors, when this process is part of one (task_run.h). */
static const task_actors *g_actors;
void task_set_actors(const task_actors *a) { g_actors = a; }
static int (*g_resolve)(value v, value *out, char **err);
static _Thread_local int keep_refs; /* building a remote call's arguments */
void task_set_resolver(int (*resolve)(value v, value *out, char **err)) { g_resolve = resolve; }

static task_actor *actor_instance_new(size_t nfields)
{
	task_actor *inst = calloc(1, sizeof *inst);
	if (!inst)
		abort();
	inst->fields = dict_new(nfields);
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&inst->lock, &at);
	pthread_mutexattr_destroy(&at);
	return inst;
}

static const flow_host_ops task_ops;
static void settle(value node_fut, value outcome);
struct gen_state;
static value stream_new(flow_vm *vm, task_host *sh, const bc_proto *task, value *a, int nargs);
static int stream_get(flow_vm *vm, value s, value *out);
static void streams_end(task_host *sh, int d);

static task_host *host_of(flow_vm *vm) { return vm_ctx(vm)->host_data; }

/* Where vm is now: its instruction's span, else the DAG node's (line 0
 * when neither is known). */
static span place_span(flow_vm *vm)
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

static char *span_text(const bc_program *p, span w)
{
	char *s = NULL;
	if (w.file < 0 && w.line == 0)
		return strdup("?");
	if (asprintf(&s, "%s:%d:%d", bc_source_path(p, w.file), w.line, w.col) < 0)
		abort();
	return s;
}

static char *place_text(flow_vm *vm)
{
	return span_text(vm_program(vm), place_span(vm));
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
static const vfuture *find_failed(value v)
{
	const vfuture *f = NULL;
	return val_any(v, is_failed, &f) ? f : NULL;
}

static const char *failed_name(const vfuture *f)
{
	const char *n = f->host_data;
	return n ? n : "?";
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
		a->rc = a->sh->spawn->await(a->sh, f->job, 0, false);
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
	if (!sh->spawn || (!vm_ctx(vm)->task_name && !sh->in_cont))
		return 0;
	await_ctx a = { sh, 0 };
	val_any(v, await_pending, &a);
	if (a.rc)
		return vm_raise(vm, "interrupted");
	return 0;
}

/* Returns 1 and a skipped future when an argument is a failed future. */
static int skip_if_failed(flow_vm *vm, const char *what, const char *name, value *args, int nargs,
                          value *out)
{
	for (int j = 0; j < nargs; j++) {
		if (await_all(vm, args[j]))
			return -1;
		const vfuture *f = find_failed(args[j]);
		if (!f)
			continue;
		task_host *sh = host_of(vm);
		char *msg;
		if (asprintf(&msg, "skipped: depends on failed task '%s'", failed_name(f)) < 0)
			abort();
		*out = future_new_failed(msg);
		((vfuture *)out->as.o)->host_data = (void *)f->host_data;
		fprintf(sh->err, "flow: %s '%s' %s\n", what, name, msg);
		sh->nskipped++;
		free(msg);
		return 1;
	}
	return 0;
}

/* Resolves and freezes arguments: a value leaving the caller is a snapshot. */
static int snapshot_args(flow_vm *vm, value *args, int nargs, value *out)
{
	for (int j = 0; j < nargs; j++) {
		if (vm_get_deep(vm, args[j], &out[j])) {
			for (int q = 0; q < j; q++)
				val_rele(out[q]);
			return -1;
		}
		val_freeze(out[j]);
	}
	return 0;
}

/* Runs proto in a fresh VM. On failure returns -1 and a malloc'd error;
 * when it failed because it needed the result of a failed task, *dep is
 * that task's name and *err says where. */
/* The identity of a call made now: the DAG node's, or the caller's
 * identity and its call count. */
static uint64_t next_ident(task_host *sh)
{
	if (sh->depth == 0)
		return sh->top_ident;
	return rng_mix(sh->ident[sh->depth - 1], ++sh->nchild[sh->depth - 1]);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int run_inline(task_host *sh, const bc_proto *p, uint64_t call, value self, value *args,
                      int nargs, value *res, char **err, const char **dep)
{
	vm_context c;
	memset(&c, 0, sizeof c);
	c.host = &task_ops;
	c.host_data = sh;
	c.task_name = p->name;
	c.self = self;
	c.cancel = &sh->cancel;
	c.node = sh->node;
	rng_seed(&c.rng, rng_mix(sh->seed, call));
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
	for (nested_job *k = sh->kids[sh->depth - 1]; k; k = k->sibling) {
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
	streams_end(sh, sh->depth - 1);
	if (made && sh->spawn->retire)
		sh->spawn->retire(sh, made);
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

/* where: the call's place in its caller (consumed). */
static value fail_future(task_host *sh, const char *what, const char *name, int attempts,
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
	free(msg);
	return f;
}

/* The future an inline run leaves behind: done with its result, failed,
 * or stopped because it needed a failed task's result. Consumes res, err
 * and where (the call's place in its caller). */
static value outcome_future(task_host *sh, const char *what, const char *name, int rc,
                            int attempts, value res, char *err, const char *dep, char *where)
{
	value f;
	if (rc && dep) {
		f = stopped_future(sh, what, name, dep, err);
		free(where);
	} else if (rc) {
		f = fail_future(sh, what, name, attempts, err, where);
	} else {
		f = future_new_done(res);
		val_rele(res);
		free(where);
	}
	free(err);
	return f;
}

/* Prints what a remote task printed, each line after its node's name. */
static void print_remote_output(task_host *sh, const char *node, const char *text)
{
	flockfile(sh->err);
	while (*text) {
		size_t n = strcspn(text, "\n");
		fprintf(sh->err, "[%s] %.*s\n", node ? node : "remote", (int)n, text);
		text += n + (text[n] == '\n');
	}
	funlockfile(sh->err);
}

/* The bare message of a remote task's report ("place: error: MSG (in
 * task 'f')\n source..."): MSG, or the whole first line. */
static char *remote_message(const char *text)
{
	const char *m = strstr(text, "error: ");
	const char *eol = strchr(text, '\n');
	if (!eol)
		eol = text + strlen(text);
	if (m && m < eol)
		m += strlen("error: ");
	else
		m = text;
	const char *end = eol;
	for (const char *q = m; (q = strstr(q, " (in task '")) != NULL && q < eol; q++)
		end = q;
	return strndup(m, (size_t)(end - m));
}

/* A remote call whose node was lost (attempt `lost`, err the head's
 * reason naming the node): true to send it again (said so on sh->err).
 * A task with effects may have started on the lost node: it is not run
 * again (its effects could happen twice); *err then says so. */
static bool rerun_lost(task_host *sh, const bc_proto *task, const bc_program *prog, int fn,
                       int lost, char **err)
{
	const char *why = *err ? *err : "its node was lost";
	char *msg = NULL;
	/* rare: the analysis is run only when a node is lost */
	bool *free_task = effects_free_protos(prog);
	bool rerun = free_task[fn];
	free(free_task);
	if (!rerun) {
		if (asprintf(&msg, "%s; task '%s' has effects and may have started there, so it is not "
		             "run again", why, task->name) < 0)
			abort();
	} else if (lost > TASK_REMOTE_LOST_RERUNS) {
		if (asprintf(&msg, "%s; task '%s' was sent %d times and each time its node was lost, so "
		             "it is not run again", why, task->name, lost) < 0)
			abort();
		rerun = false;
	}
	if (!rerun) {
		free(*err);
		*err = msg;
		return false;
	}
	flockfile(sh->err);
	fprintf(sh->err, "flow: %s; running task '%s' again (%d of %d)\n", why, task->name, lost,
	        TASK_REMOTE_LOST_RERUNS);
	funlockfile(sh->err);
	return true;
}

/* The outcome future of a remote call that ended with rc (0, 1 or -1 as
 * task_remote.run gives them; res and err consumed). A failure is
 * reported as an inline one would be, at the call's own place. */
static value remote_outcome(task_host *sh, const bc_proto *task, const bc_program *prog,
                            span where, int rc, value res, char *err)
{
	if (rc == 0) {
		free(err);
		task_actors_bind(res, prog); /* handles of the cluster's actors */
		val_freeze(res);
		value f = future_new_done(res);
		val_rele(res);
		return f;
	}
	val_rele(res);
	/* the node's report ends "\n  task 'f' failed[ after N attempts];
	 * it was called from ..." (its own idea of the place): the message
	 * before it is the task's, the place is ours */
	int attempts = 1;
	char *text = err ? err : strdup("the task failed");
	if (rc == 1) {
		char tail[300];
		snprintf(tail, sizeof tail, "\n  task '%s' failed", task->name);
		char *cut = NULL;
		for (char *q = strstr(text, tail); q; q = strstr(q + 1, tail))
			cut = q;
		if (cut) {
			sscanf(cut + strlen(tail), " after %d attempts", &attempts);
			*cut = '\0';
		}
	} else {
		char *t;
		if (asprintf(&t, "error: %s", text) < 0)
			abort();
		free(text);
		text = t;
	}
	/* e.message is the bare message, as inline: the report's first line
	 * is "place: error: MESSAGE (in task 'f')" */
	free(sh->fail_msg);
	sh->fail_msg = remote_message(text);
	sh->fail_kind = ERR_TASK;
	value f = fail_future(sh, "task", task->name, attempts, text, span_text(prog, where));
	free(text);
	return f;
}

/* The index of task in prog's protos, or -1. */
static int proto_index(const bc_program *prog, const bc_proto *task)
{
	for (int i = 0; i < prog->nprotos; i++)
		if (prog->protos[i] == task)
			return i;
	return -1;
}

/* Runs a DAG node's task call through sh->remote. Returns 0 with *out
 * (its outcome future), or -1 when it must run here. */
static int call_remote(task_host *sh, const bc_proto *task, uint64_t call, value *a, int nargs,
                       const bc_program *prog, span where, value *out)
{
	int fn = proto_index(prog, task);
	if (fn < 0)
		return -1;
	value args = list_new((size_t)nargs);
	for (int k = 0; k < nargs; k++)
		list_append_take(args, val_hold(a[k]));
	value res = v_none();
	char *err = NULL, *node = NULL, *output = NULL;
	int rc, lost = 0;
	for (;;) {
		rc = sh->remote->run(sh->remote->ctx, (uint32_t)fn, sh->seed, call, args, &res, &err,
		                     &node, &output);
		if (output)
			print_remote_output(sh, node, output);
		if (rc != TASK_REMOTE_LOST || !rerun_lost(sh, task, prog, fn, ++lost, &err))
			break;
		/* the same call again (same ident, same random stream), after a
		 * short pause (the head needs a moment to see the node gone and
		 * place the call on a live one) */
		struct timespec pause = {0, 50 * 1000000L * lost};
		nanosleep(&pause, NULL);
		free(err);
		free(node);
		free(output);
		err = node = output = NULL;
	}
	if (rc == TASK_REMOTE_LOST)
		rc = -1; /* err says why it was not run again */
	val_rele(args);
	free(node);
	free(output);
	if (rc == 2) {
		free(err);
		val_rele(res);
		return -1;
	}
	*out = remote_outcome(sh, task, prog, where, rc, res, err);
	return 0;
}

int task_remote_args(task_host *sh, flow_vm *vm, const dag *g, uint32_t v, uint32_t *fn,
                     uint64_t *ident, value *args)
{
	const dag_node *n = &g->nodes[v];
	if (n->kind != DAG_TASK || !sh->remote)
		return 0;
	const bc_proto *task = g->prog->protos[n->proto];
	int k = proto_index(g->prog, task);
	if (k < 0 || bc_proto_yields(task))
		return 0;
	value *ins = g->ins ? &g->ins[n->in] : NULL;
	/* a failed input: task_run_node skips it, and says so */
	for (uint32_t j = 0; j < n->nin; j++)
		if (find_failed(ins[j]))
			return 0;
	value small[16], *a = n->nin <= 16 ? small : malloc(sizeof(value) * n->nin);
	if (!a)
		abort();
	keep_refs++; /* results left on their nodes travel as references */
	int bad = snapshot_args(vm, ins, (int)n->nin, a);
	keep_refs--;
	if (bad) {
		if (a != small)
			free(a);
		return 0; /* task_run_node meets the same error */
	}
	value l = list_new(n->nin);
	for (uint32_t j = 0; j < n->nin; j++)
		list_append_take(l, a[j]);
	if (a != small)
		free(a);
	*fn = (uint32_t)k;
	*ident = (uint64_t)v + 1; /* a DAG node's call: its identity (next_ident) */
	*args = l;
	return 1;
}

void task_remote_settle(task_host *sh, const dag *g, uint32_t v, int rc, value res, char *err,
                        char *node, char *output)
{
	const dag_node *n = &g->nodes[v];
	if (output)
		print_remote_output(sh, node, output);
	free(node);
	free(output);
	value f = remote_outcome(sh, g->prog->protos[n->proto], g->prog, n->where, rc, res, err);
	settle(g->fut[v], f);
	val_rele(f);
}

bool task_remote_again(task_host *sh, const dag *g, uint32_t v, int lost, char **err)
{
	const bc_proto *task = g->prog->protos[g->nodes[v].proto];
	return rerun_lost(sh, task, g->prog, proto_index(g->prog, task), lost, err);
}

/* Runs task (args resolved and frozen) in sh with its retries and
 * @timeout, as call number `call`; returns the outcome future. where:
 * the call's place in its caller, for a failure message. */
static value call_task_run(task_host *sh, const bc_proto *task, uint64_t call, value *a, int nargs,
                           const bc_program *prog, span where)
{
	if (sh->remote && sh->depth == 0) {
		value f;
		if (call_remote(sh, task, call, a, nargs, prog, where, &f) == 0)
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
			mine = now_ns() + (uint64_t)(task->attrs.timeout * 1e9);
			if (!outer || mine < outer)
				__atomic_store_n(&sh->deadline, mine, __ATOMIC_RELAXED);
		}
		rc = run_inline(sh, task, call, v_none(), a, nargs, &res, &err, &dep);
		if (mine) {
			__atomic_store_n(&sh->deadline, outer, __ATOMIC_RELAXED);
			if (__atomic_load_n(&sh->cancel, __ATOMIC_RELAXED) && now_ns() >= mine) {
				/* this call's own deadline passed: a timeout, which
				 * @retries may retry */
				__atomic_store_n(&sh->cancel, 0, __ATOMIC_RELAXED);
				if (rc) {
					free(err);
					if (asprintf(&err, "task '%s' timed out after %g s (@timeout)", task->name,
					             task->attrs.timeout) < 0)
						abort();
					dep = NULL;
					free(sh->fail_msg);
					sh->fail_msg = strdup(err);
					sh->fail_kind = ERR_TIMEOUT;
				}
			}
		}
	} while (rc && !dep && attempts <= task->attrs.retries);
	sh->nretries += attempts - 1;
	return outcome_future(sh, "task", task->name, rc, attempts, res, err, dep,
	                      rc && !dep ? span_text(prog, where) : NULL);
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

static void release_args(value *a, value *small, int nargs)
{
	for (int j = 0; j < nargs; j++)
		val_rele(a[j]);
	if (a != small)
		free(a);
}

/* Hands a call made in a task body to the spawner: *out is its pending
 * future. a: resolved, frozen arguments (consumed). */
static int spawn_task(flow_vm *vm, const bc_proto *task, value *a, int nargs, value *out)
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
	j->where = place_span(vm);
	j->from_driver = sh->in_cont && sh->depth == 1;
	j->prog = sh->prog;
	j->fut = future_new_pending(-1);
	((vfuture *)j->fut.as.o)->job = j;
	j->cache_parent = cache_call_current();
	j->sibling = sh->kids[sh->depth - 1];
	sh->kids[sh->depth - 1] = j;
	*out = val_hold(j->fut);
	sh->spawn->submit(sh, j);
	return 0;
}

static int s_call_task(flow_vm *vm, const bc_proto *task, value *args, int nargs, value *out)
{
	task_host *sh = host_of(vm);
	int sk = skip_if_failed(vm, "task", task->name, args, nargs, out);
	if (sk)
		return sk < 0 ? -1 : 0;
	if (sh->base_level + sh->depth >= TASK_MAX_NESTING)
		return vm_raise(vm, "tasks nested more than %d deep", TASK_MAX_NESTING);
	value small[16], *a = nargs <= 16 ? small : malloc(sizeof(value) * (size_t)nargs);
	if (snapshot_args(vm, args, nargs, a)) {
		if (a != small)
			free(a);
		return -1;
	}
	if (bc_proto_yields(task)) {
		/* a stream: its producer runs as its items are asked for */
		*out = stream_new(vm, sh, task, a, nargs);
		if (a != small)
			free(a);
		return 0;
	}
	/* a call from a task body (not from a method, not from the driver)
	 * goes to the executor's pool */
	if (sh->spawn && sh->in_method == 0 && (vm_ctx(vm)->task_name || sh->in_cont)) {
		int rc = spawn_task(vm, task, a, nargs, out);
		if (a != small)
			free(a);
		return rc;
	}
	uint64_t call = next_ident(sh); /* retries replay the same random stream */
	bool seen = sh->call_ran && sh->in_cont && sh->depth == 1;
	uint64_t t0 = seen ? now_ns() : 0;
	bool cached;
	*out = call_task_here(sh, task, call, a, nargs, vm_program(vm), place_span(vm), &cached);
	sh->ncached += cached && sh->depth == 0; /* a DAG node's own call */
	if (seen)
		sh->call_ran(sh->call_ran_ctx, task, place_span(vm), sh->tid, t0, true, false,
		             ((vfuture *)out->as.o)->state == FUT_FAILED);
	release_args(a, small, nargs);
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
	settle(j->fut, f);
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
static void actor_instance_free(void *p)
{
	task_actor *a = p;
	val_rele(a->fields);
	free(a->error);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void init_remote(flow_vm *vm, task_host *sh, const bc_actor *cls, task_actor *inst,
                        value *a, int nargs);

/* Creates the instance behind handle h (which has none yet) and runs
 * init. Returns -1 only for an error of the caller (nesting too deep). */
static int init_actor(flow_vm *vm, value h, const bc_actor *cls, value *args, int nargs)
{
	task_host *sh = host_of(vm);
	task_actor *inst = actor_instance_new(8);
	vactor *va = (vactor *)h.as.o;
	va->instance = inst;
	va->id = __atomic_add_fetch(sh->actor_seq, 1, __ATOMIC_RELAXED);
	va->free_instance = actor_instance_free;
	if (cls->init) {
		value dummy;
		int sk = skip_if_failed(vm, "actor", cls->name, args, nargs, &dummy);
		if (sk < 0) {
			return -1;
		} else if (sk) {
			inst->error = strdup(((vfuture *)dummy.as.o)->error);
			val_rele(dummy);
		} else if (sh->depth >= TASK_MAX_NESTING) {
			return vm_raise(vm, "actors nested more than %d deep", TASK_MAX_NESTING);
		} else if (g_actors) {
			value small[16], *a = nargs <= 16 ? small : malloc(sizeof(value) * (size_t)nargs);
			if (snapshot_args(vm, args, nargs, a)) {
				if (a != small)
					free(a);
				return -1;
			}
			init_remote(vm, sh, cls, inst, a, nargs);
			release_args(a, small, nargs);
		} else {
			value small[16], *a = nargs <= 16 ? small : malloc(sizeof(value) * (size_t)nargs);
			if (snapshot_args(vm, args, nargs, a)) {
				if (a != small)
					free(a);
				return -1;
			}
			value res;
			char *err = NULL;
			const char *dep;
			if (run_inline(sh, cls->init, next_ident(sh), inst->fields, a, nargs, &res, &err, &dep) == 0) {
				val_rele(res);
			} else {
				value f = fail_future(sh, "actor", cls->name, 1, err, place_text(vm));
				inst->error = strdup(((vfuture *)f.as.o)->error);
				val_rele(f);
				free(err);
			}
			for (int j = 0; j < nargs; j++)
				val_rele(a[j]);
			if (a != small)
				free(a);
		}
	}
	return 0;
}

/* ---- actors of the cluster (task_run.h: task_actors) ---------------------- */

static int encode_actor(sbuf *out, value v, verr *e)
{
	const vactor *va = (const vactor *)v.as.o;
	const task_actor *inst = va->instance;
	if (va->free_instance != actor_instance_free || !inst || !inst->remote) {
		verr_setc(e, FLOW_ENOTSUP, "an actor that lives in this process cannot be sent");
		return -1;
	}
	val_encode_varint(out, (uint64_t)inst->cls_index);
	val_encode_varint(out, inst->remote);
	return 0;
}

static int decode_actor(const uint8_t *buf, size_t len, value *out, verr *e)
{
	size_t pos = 0;
	uint64_t cls, id;
	if (val_decode_varint(buf, len, &pos, &cls, e) || val_decode_varint(buf, len, &pos, &id, e))
		return -1;
	if (pos != len || id == 0 || cls > INT32_MAX) {
		verr_setc(e, FLOW_ECORRUPT, "malformed actor handle");
		return -1;
	}
	value h = vm_actor_new(NULL); /* its class: task_actors_bind */
	vactor *va = (vactor *)h.as.o;
	task_actor *inst = actor_instance_new(0);
	inst->remote = id;
	inst->cls_index = (int64_t)cls;
	va->instance = inst;
	va->id = id;
	va->free_instance = actor_instance_free;
	*out = h;
	return 0;
}

void task_actors_codec_init(void)
{
	vm_types_set_actor_codec(encode_actor, decode_actor);
}

static bool bind_one(value x, void *ctx)
{
	const bc_program *p = ctx;
	if (x.t != V_ACTOR)
		return false;
	vactor *va = (vactor *)x.as.o;
	task_actor *inst = va->instance;
	if (va->cls || va->free_instance != actor_instance_free || !inst)
		return false;
	if (inst->cls_index >= 0 && inst->cls_index < p->nactors)
		va->cls = p->actors[inst->cls_index];
	else if (!inst->error)
		inst->error = strdup("its class is not in this program");
	return false;
}

void task_actors_bind(value v, const bc_program *p)
{
	val_any(v, bind_one, (void *)p);
}

static value args_list(value *a, int nargs)
{
	value l = list_new((size_t)nargs);
	for (int k = 0; k < nargs; k++)
		list_append(l, a[k]);
	return l;
}

/* init_actor on the cluster: the head places it (a: resolved, frozen). */
static void init_remote(flow_vm *vm, task_host *sh, const bc_actor *cls, task_actor *inst,
                        value *a, int nargs)
{
	value args = args_list(a, nargs);
	uint64_t id = 0;
	char *err = NULL, *node = NULL, *output = NULL;
	int rc = g_actors->create(g_actors->ctx, (uint32_t)cls->index, (uint32_t)cls->attrs.restarts,
	                          cls->name, sh->seed, next_ident(sh), args, &id, &err, &node, &output);
	val_rele(args);
	if (output)
		print_remote_output(sh, node, output);
	inst->remote = id;
	inst->cls_index = cls->index;
	if (rc) {
		char *text;
		if (asprintf(&text, "%s%s", rc == 1 ? "" : "error: ", err ? err : "it could not be made") < 0)
			abort();
		free(sh->fail_msg);
		sh->fail_msg = remote_message(text);
		sh->fail_kind = ERR_TASK;
		value f = fail_future(sh, "actor", cls->name, 1, text, place_text(vm));
		inst->error = strdup(((vfuture *)f.as.o)->error);
		val_rele(f);
		free(text);
	}
	free(err);
	free(node);
	free(output);
}

/* s_call_method on an actor of the cluster: *out its outcome. */
static value call_remote_method(flow_vm *vm, task_host *sh, task_actor *inst, const bc_proto *m,
                                value *a, int nargs)
{
	if (!g_actors) {
		value f = future_new_failed("an actor of the cluster cannot be called from here");
		((vfuture *)f.as.o)->host_data = (void *)m->name;
		return f;
	}
	value args = args_list(a, nargs), res = v_none();
	char *err = NULL, *node = NULL, *output = NULL;
	int rc = g_actors->call(g_actors->ctx, inst->remote, (uint32_t)m->index, sh->seed,
	                        next_ident(sh), args, &res, &err, &node, &output);
	val_rele(args);
	if (output)
		print_remote_output(sh, node, output);
	value f;
	if (rc == 0) {
		task_actors_bind(res, sh->prog);
		val_freeze(res);
		f = future_new_done(res);
		val_rele(res);
	} else {
		char *text;
		if (asprintf(&text, "%s%s", rc == 1 ? "" : "error: ", err ? err : "the call failed") < 0)
			abort();
		free(sh->fail_msg);
		sh->fail_msg = rc == 1 ? remote_message(text) : strdup(err ? err : "the call failed");
		sh->fail_kind = rc == TASK_REMOTE_LOST ? ERR_ACTOR_DIED : ERR_TASK;
		f = fail_future(sh, "method", m->name, 1, text, place_text(vm));
		free(text);
	}
	free(err);
	free(node);
	free(output);
	return f;
}

int task_run_method(task_host *sh, const bc_proto *m, value self, value *args, int nargs,
                    uint64_t ident, value *res, char **err)
{
	const char *dep = NULL;
	*res = v_none();
	*err = NULL;
	if (sh->depth >= TASK_MAX_NESTING) {
		*err = strdup("calls nested too deep");
		return 1;
	}
	int rc = run_inline(sh, m, ident, self, args, nargs, res, err, &dep);
	if (rc && dep) {
		char *t;
		if (asprintf(&t, "stopped at %s: it needs the result of failed task '%s'",
		             *err ? *err : "?", dep) < 0)
			abort();
		free(*err);
		*err = t;
	}
	return rc ? 1 : 0;
}

static int s_new_actor(flow_vm *vm, const bc_actor *cls, value *args, int nargs, value *out)
{
	value h = vm_actor_new(cls);
	if (init_actor(vm, h, cls, args, nargs)) {
		val_rele(h);
		return -1;
	}
	*out = h;
	return 0;
}

static int s_call_method(flow_vm *vm, value handle, const bc_proto *m, value *args, int nargs,
                         value *out)
{
	task_host *sh = host_of(vm);
	task_actor *inst = ((vactor *)handle.as.o)->instance;
	if (inst->error) {
		char *msg;
		if (asprintf(&msg, "actor '%s' is broken: %s", ((vactor *)handle.as.o)->cls->name, inst->error) < 0)
			abort();
		*out = future_new_failed(msg);
		((vfuture *)out->as.o)->host_data = (void *)m->name;
		((vfuture *)out->as.o)->ekind = ERR_ACTOR_DIED;
		free(msg);
		return 0;
	}
	int sk = skip_if_failed(vm, "method", m->name, args, nargs, out);
	if (sk)
		return sk < 0 ? -1 : 0;
	if (sh->depth >= TASK_MAX_NESTING)
		return vm_raise(vm, "calls nested more than %d deep", TASK_MAX_NESTING);
	value small[16], *a = nargs <= 16 ? small : malloc(sizeof(value) * (size_t)nargs);
	if (snapshot_args(vm, args, nargs, a)) {
		if (a != small)
			free(a);
		return -1;
	}
	if (inst->remote) {
		*out = call_remote_method(vm, sh, inst, m, a, nargs);
		release_args(a, small, nargs);
		return 0;
	}
	value res = v_none();
	char *err = NULL;
	const char *dep;
	pthread_mutex_lock(&inst->lock);
	int rc = run_inline(sh, m, next_ident(sh), inst->fields, a, nargs, &res, &err, &dep);
	pthread_mutex_unlock(&inst->lock);
	for (int j = 0; j < nargs; j++)
		val_rele(a[j]);
	if (a != small)
		free(a);
	*out = outcome_future(sh, "method", m->name, rc, 1, res, err, dep, rc && !dep ? place_text(vm) : NULL);
	return 0;
}

static int s_get(flow_vm *vm, value fut, value *out)
{
	if (fut.t == V_STREAM)
		return stream_get(vm, fut, out);
	if (fut.t != V_FUTURE) {
		*out = val_hold(fut);
		return 0;
	}
	const vfuture *f = (const vfuture *)fut.as.o;
	int st = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
	if (st == FUT_PENDING && f->job) {
		task_host *sh = host_of(vm);
		if (!sh->spawn || sh->spawn->await(sh, f->job, 0, false))
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
		int rc = g_resolve(f->result, out, &err);
		if (rc < 0) {
			rc = vm_raise(vm, "%s", err ? err : "cannot fetch a task's result");
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
		free(sh->dep_place);
		sh->dep_place = place_text(vm);
		vm_raise(vm, "needs the result of failed task '%s'", failed_name(f));
		/* what `except e` sees: the failed call's own message, and its
		 * first line as flow run printed it */
		const char *full = f->error ? f->error : "failed";
		size_t n1 = strcspn(full, "\n");
		char *line = strndup(full, n1);
		vm_error_detail(vm, f->ekind, f->host_data, f->emsg ? f->emsg : line, line);
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
 * spawner runs here if no thread has taken it. */
static int s_wait(flow_vm *vm, value futures, int64_t n, double timeout, value *out)
{
	if (futures.t != V_LIST)
		return vm_raise(vm, "wait() needs a list of futures, got %s", vtype_name(futures.t));
	task_host *sh = host_of(vm);
	size_t len = list_len(futures);
	size_t want = n < 0 ? 0 : (size_t)n > len ? len : (size_t)n;
	uint64_t deadline = timeout > 0 ? now_ns() + (uint64_t)(timeout * 1e9) : 0;
	for (;;) {
		size_t nready = 0;
		const vfuture *first = NULL;
		for (size_t j = 0; j < len; j++) {
			value x = list_get(futures, j);
			if (fut_ready(x))
				nready++;
			else if (!first)
				first = (const vfuture *)x.as.o;
		}
		if (nready >= want || !first || !sh->spawn || !first->job || timeout == 0 ||
		    (deadline && now_ns() >= deadline))
			break;
		/* back when `first` or any other call ends, or at the deadline */
		if (sh->spawn->await(sh, first->job, deadline, true) < 0)
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
	if (sh->block && in_task)
		sh->block(sh->block_ctx, true);
	/* in slices, so a @timeout can stop a sleeping task */
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	int rc = 0;
	for (uint64_t t = now_ns(); t < end; t = now_ns()) {
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

static void s_caught(flow_vm *vm, value fut)
{
	vfuture *f = (vfuture *)fut.as.o;
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

/* ---- streams (LANGUAGE.md section 5) -----------------------------------------
 * A call of a task that yields returns a stream at once. Its producer runs
 * as a generator (vm_gen_*) in a VM of its own, one step (to its next
 * yield) at a time, in whichever thread asks for an item it does not have
 * yet, under the stream's lock: each item is there as soon as the task has
 * yielded it, the consumer blocks only while the producer computes the
 * next one, and a producer that waits for its consumer's progress (an
 * actor both use) cannot deadlock. The items stay: get(s) gives them all.
 * A step runs as an inline call would (identities, nested jobs, @timeout,
 * its prints under the task's name); a failed attempt is retried with
 * @retries, replaying the items already delivered (a retry repeats the
 * same random stream). When the call that made the stream ends, a stream
 * nobody iterated runs to its end (every call runs) and one a consumer
 * left early (break) is cancelled. */

enum { GS_RUNNING, GS_DONE, GS_FAILED };

typedef struct gen_state {
	pthread_mutex_t mu;      /* error-checking: a producer that needs its own stream fails */
	const bc_proto *task;
	const bc_program *prog;
	value *args;             /* resolved and frozen; released when it ends */
	int nargs;
	uint64_t ident;          /* the call's identity */
	uint64_t nchild;         /* calls this attempt made so far (their identities) */
	span where;              /* the call in its caller */
	flow_vm *vm;             /* the producer stopped at a yield, or NULL */
	int state;               /* GS_* */
	value items;             /* every item yielded, in order (a list) */
	size_t nyield;           /* items this attempt yielded */
	int attempts;
	uint64_t spent;          /* ns this attempt has run (@timeout) */
	bool iterated;           /* a consumer asked for an item */
	bool from_driver;        /* made by the staged driver (--trace, --dot-out) */
	uint64_t first;          /* when its first step began (0: not yet) */
	value fail;              /* GS_FAILED: the failed call's future */
	struct gen_state *next;  /* the creating call's streams (task_host.streams) */
	value handle;            /* while listed there: the stream (held) */
} gen_state;

static void gen_release_args(gen_state *st)
{
	for (int j = 0; j < st->nargs; j++)
		val_rele(st->args[j]);
	free(st->args);
	st->args = NULL;
	st->nargs = 0;
}

static void gen_free(void *p)
{
	gen_state *st = p;
	vm_free(st->vm);
	gen_release_args(st);
	val_rele(st->items);
	val_rele(st->fail);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

/* st has ended (done, failed or cancelled): --trace and --dot-out see it. */
static void gen_ended(task_host *sh, gen_state *st, bool failed)
{
	if (sh->call_ran && st->first)
		sh->call_ran(sh->call_ran_ctx, st->task, st->where, sh->tid, st->first, st->from_driver,
		             true, failed);
}

/* Runs st's producer to its next yield in sh (st->mu held). Returns 1
 * when it yielded a new item, 0 when it has ended (done or failed). */
static int gen_step(task_host *sh, gen_state *st)
{
	const bc_proto *task = st->task;
	while (st->state == GS_RUNNING) {
		uint64_t outer = __atomic_load_n(&sh->deadline, __ATOMIC_RELAXED), mine = 0, t0 = now_ns();
		if (!st->first)
			st->first = t0;
		if (task->attrs.timeout > 0) {
			uint64_t lim = (uint64_t)(task->attrs.timeout * 1e9);
			mine = t0 + (lim > st->spent ? lim - st->spent : 0);
			if (!outer || mine < outer)
				__atomic_store_n(&sh->deadline, mine, __ATOMIC_RELAXED);
		}
		sh->ident[sh->depth] = st->ident;
		sh->nchild[sh->depth] = st->nchild;
		sh->kids[sh->depth] = NULL;
		sh->depth++;
		value item = v_none();
		int rc;
		if (!st->vm) {
			vm_context c;
			memset(&c, 0, sizeof c);
			c.host = &task_ops;
			c.host_data = sh;
			c.task_name = task->name;
			c.cancel = &sh->cancel;
			c.node = sh->node;
			rng_seed(&c.rng, rng_mix(sh->seed, st->ident));
			st->vm = vm_new(st->prog, &c);
			st->attempts++;
			rc = vm_gen_start(st->vm, task, st->args, st->nargs, &item);
		} else {
			/* this thread's host runs the step (another thread's may
			 * have run the last one) */
			vm_context *c = vm_ctx(st->vm);
			c->host_data = sh;
			c->cancel = &sh->cancel;
			c->node = sh->node;
			rc = vm_gen_resume(st->vm, &item);
		}
		/* the jobs this step made end before the item is handed out */
		for (nested_job *k = sh->kids[sh->depth - 1]; k; k = k->sibling) {
			if (__atomic_load_n(&k->state, __ATOMIC_ACQUIRE) == NJ_DONE)
				continue;
			if (sh->spawn->await(sh, k, 0, false) < 0) {
				if (rc >= 0) {
					val_rele(item);
					item = v_none();
					rc = vm_raise(st->vm, "interrupted");
				}
				break;
			}
		}
		sh->kids[sh->depth - 1] = NULL;
		if (rc == 1 && sh->nchild[sh->depth - 1] > 0) {
			value r;
			if (vm_get_deep(st->vm, item, &r) == 0) {
				val_rele(item);
				item = r;
			} else {
				val_rele(item);
				item = v_none();
				rc = -1;
			}
		}
		st->nchild = sh->nchild[sh->depth - 1];
		sh->depth--;
		if (rc >= 0 && sh->dep_vm == st->vm)
			sh->dep_vm = NULL; /* a failed get it caught itself */
		st->spent += now_ns() - t0;
		bool timed_out = false;
		if (mine) {
			__atomic_store_n(&sh->deadline, outer, __ATOMIC_RELAXED);
			if (__atomic_load_n(&sh->cancel, __ATOMIC_RELAXED) && now_ns() >= mine) {
				__atomic_store_n(&sh->cancel, 0, __ATOMIC_RELAXED);
				timed_out = rc < 0;
			}
		}
		if (rc == 1) {
			val_freeze(item);
			if (st->nyield++ < list_len(st->items)) {
				val_rele(item); /* a retry replays what was delivered */
				continue;
			}
			list_append_take(st->items, item);
			return 1;
		}
		if (rc == 0) {
			vm_free(st->vm);
			st->vm = NULL;
			st->state = GS_DONE;
			gen_release_args(st);
			gen_ended(sh, st, false);
			return 0;
		}
		/* the attempt failed */
		char *err = NULL;
		const char *dep = NULL;
		if (sh->dep_vm == st->vm) {
			dep = sh->dep_name;
			err = sh->dep_place;
			sh->dep_place = NULL;
			sh->dep_vm = NULL;
		} else {
			free(sh->fail_msg);
			sh->fail_msg = strdup(vm_error_message(st->vm));
			sh->fail_kind = ERR_TASK;
			char suffix[256];
			snprintf(suffix, sizeof suffix, " (in task '%s')", task->name);
			err = task_render_error(st->vm, suffix);
		}
		if (timed_out) {
			free(err);
			if (asprintf(&err, "task '%s' timed out after %g s (@timeout)", task->name,
			             task->attrs.timeout) < 0)
				abort();
			dep = NULL;
			free(sh->fail_msg);
			sh->fail_msg = strdup(err);
			sh->fail_kind = ERR_TIMEOUT;
		}
		vm_free(st->vm);
		st->vm = NULL;
		st->nyield = 0;
		st->spent = 0;
		st->nchild = 0;
		if (!dep && st->attempts <= task->attrs.retries) {
			free(err);
			sh->nretries++;
			continue;
		}
		st->fail = outcome_future(sh, "task", task->name, -1, st->attempts, v_none(), err, dep,
		                          dep ? NULL : span_text(st->prog, st->where));
		st->state = GS_FAILED;
		gen_release_args(st);
		gen_ended(sh, st, true);
	}
	return 0;
}

/* Locks st for this thread; false (with an error raised in vm) when this
 * thread is running its producer already: it waits for its own stream. */
static bool gen_lock(flow_vm *vm, gen_state *st)
{
	if (pthread_mutex_lock(&st->mu) == 0)
		return true;
	vm_raise(vm, "the producer of a stream of '%s' waits for that stream itself", st->task->name);
	return false;
}

/* A stream's failure, raised in vm as a get of the failed call would. */
static int gen_raise(flow_vm *vm, gen_state *st)
{
	value f = val_hold(st->fail);
	pthread_mutex_unlock(&st->mu);
	value dummy = v_none();
	int rc = s_get(vm, f, &dummy);
	val_rele(dummy);
	val_rele(f);
	return rc ? -1 : vm_raise(vm, "the stream's producer failed");
}

static int s_stream_next(flow_vm *vm, value s, int64_t index, value *out)
{
	gen_state *st = ((vstream *)s.as.o)->state;
	task_host *sh = host_of(vm);
	if (sh->base_level + sh->depth >= TASK_MAX_NESTING)
		return vm_raise(vm, "tasks nested more than %d deep", TASK_MAX_NESTING);
	if (!gen_lock(vm, st))
		return -1;
	st->iterated = true;
	while (index >= 0 && (size_t)index >= list_len(st->items) && gen_step(sh, st))
		;
	if (index >= 0 && (size_t)index < list_len(st->items)) {
		*out = val_hold(list_get(st->items, (size_t)index));
		pthread_mutex_unlock(&st->mu);
		return 1;
	}
	if (st->state == GS_FAILED)
		return gen_raise(vm, st);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

/* get(s): every item, once the producer has ended. */
static int stream_get(flow_vm *vm, value s, value *out)
{
	gen_state *st = ((vstream *)s.as.o)->state;
	task_host *sh = host_of(vm);
	if (sh->base_level + sh->depth >= TASK_MAX_NESTING)
		return vm_raise(vm, "tasks nested more than %d deep", TASK_MAX_NESTING);
	if (!gen_lock(vm, st))
		return -1;
	while (gen_step(sh, st))
		;
	if (st->state == GS_FAILED)
		return gen_raise(vm, st);
	val_freeze(st->items); /* complete: shared from now on */
	*out = val_hold(st->items);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

/* A new stream for a call of task (a: resolved, frozen arguments,
 * consumed), listed with the calls sh's running call made. */
static value stream_new(flow_vm *vm, task_host *sh, const bc_proto *task, value *a, int nargs)
{
	gen_state *st = calloc(1, sizeof *st);
	if (!st)
		abort();
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&st->mu, &at);
	pthread_mutexattr_destroy(&at);
	st->task = task;
	st->prog = vm_program(vm);
	st->nargs = nargs;
	st->args = malloc(sizeof(value) * (size_t)(nargs ? nargs : 1));
	if (!st->args)
		abort();
	memcpy(st->args, a, sizeof(value) * (size_t)nargs);
	st->ident = next_ident(sh);
	st->where = place_span(vm);
	st->from_driver = sh->in_cont && sh->depth == 1;
	st->items = list_new(0);
	st->fail = v_none();
	st->handle = v_none();
	value s = vm_stream_new(task->name, st, gen_free);
	if (sh->depth > 0) {
		st->handle = val_hold(s);
		st->next = sh->streams[sh->depth - 1];
		sh->streams[sh->depth - 1] = st;
	} else {
		/* no call to end it (a DAG node): it runs to its end now */
		pthread_mutex_lock(&st->mu);
		while (gen_step(sh, st))
			;
		pthread_mutex_unlock(&st->mu);
	}
	return s;
}

/* The call at depth index d ends: its streams run to their end, or are
 * cancelled when a consumer left them early. */
static void streams_end(task_host *sh, int d)
{
	gen_state *st = sh->streams[d];
	sh->streams[d] = NULL;
	while (st) {
		gen_state *next = st->next;
		value h = st->handle;
		st->handle = v_none();
		st->next = NULL;
		if (pthread_mutex_lock(&st->mu) == 0) {
			if (st->iterated && st->state == GS_RUNNING) {
				vm_free(st->vm);
				st->vm = NULL;
				st->state = GS_DONE;
				gen_release_args(st);
				gen_ended(sh, st, false);
			}
			while (gen_step(sh, st))
				;
			pthread_mutex_unlock(&st->mu);
		}
		val_rele(h);
		st = next;
	}
}

static const flow_host_ops task_ops = {
	s_call_task, s_new_actor, s_call_method, s_get, s_wait, s_put, s_print, s_sleep,
	.caught = s_caught, .read_file = s_read_file,
	.stream_next = s_stream_next,
};

/* ---- running the DAG ---------------------------------------------------- */

static const char *const kind_names[DAG__KINDS] = {"task", "actor", "method", "expression", "effect", "put",
                                                   "driver"};

/* Stores what a call left (a done or failed future) in the node's own
 * future, which the inputs of later nodes hold. */
static void settle(value node_fut, value outcome)
{
	vfuture *dst = (vfuture *)node_fut.as.o;
	const vfuture *src = (const vfuture *)outcome.as.o;
	value old = dst->result;
	dst->result = val_hold(src->result);
	val_rele(old);
	free(dst->error);
	dst->error = src->error ? strdup(src->error) : NULL;
	free(dst->emsg);
	dst->emsg = src->emsg ? strdup(src->emsg) : NULL;
	dst->ekind = src->ekind;
	dst->host_data = src->host_data;
	/* last: a thread that sees the new state sees the rest (nested jobs) */
	__atomic_store_n(&dst->state, src->state, __ATOMIC_RELEASE);
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
		f = find_failed(g->ins[n->in + j]);
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
		task_actor *inst = actor_instance_new(0);
		inst->error = strdup(msg);
		vactor *va = (vactor *)g->fut[v].as.o;
		va->instance = inst;
		va->free_instance = actor_instance_free;
	} else {
		fail_node(g->fut[v], msg, failed_name(f));
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
		sh->ndriver++;
	}
	/* the calls it made run to the end */
	for (nested_job *k = sh->kids[0]; k; k = k->sibling)
		if (__atomic_load_n(&k->state, __ATOMIC_ACQUIRE) != NJ_DONE && sh->spawn)
			sh->spawn->await(sh, k, 0, false);
	if (sh->kids[0] && sh->spawn && sh->spawn->retire)
		sh->spawn->retire(sh, sh->kids[0]);
	sh->kids[0] = NULL;
	streams_end(sh, 0);
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
		rc = init_actor(dv, g->fut[v], p->actors[n->proto], ins, n->nin);
		break;
	case DAG_METHOD:
		rc = s_call_method(dv, g->fut[n->pc], p->protos[n->proto], ins, n->nin, &out);
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
			out = future_new_done(res);
			val_rele(res);
		}
		break;
	}
	}
	sh->node_where = NULL;
	if (rc)
		return -1;
	if (out.t == V_FUTURE)
		settle(g->fut[v], out);
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
	c.host = &task_ops;
	c.host_data = h;
	c.task_name = NULL;
	c.self = v_none();
	c.node = h->node;
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
