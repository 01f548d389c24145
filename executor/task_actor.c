/* task_actor.c - actor instances (task_run.h): creation (init run
 * inline under the caller's host, or placed by the cluster's head),
 * method calls one at a time under the instance's lock, broken actors,
 * and the encoding of handles that are references to the cluster's
 * actors (task_actors_codec_init).
 *
 * Ownership: an instance (task_actor) belongs to its handle (vactor),
 * which frees it with actor_instance_free; g_actors (the cluster's
 * actors, or NULL) is set once per process before any task runs. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "executor/task_run_int.h"
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

/* task_init_actor here: runs init inline (a: resolved, frozen). */
static void init_here(flow_vm *vm, task_host *sh, const bc_actor *cls, task_actor *inst,
                      value *a, int nargs)
{
	value res;
	char *err = NULL;
	const char *dep;
	if (task_run_inline(sh, cls->init, next_ident(sh), inst->fields, a, nargs, &res, &err, &dep) == 0) {
		val_rele(res);
	} else {
		value f = task_fail_future(sh, "actor", cls->name, 1, err, task_place_text(vm));
		inst->error = strdup(((vfuture *)f.as.o)->error);
		val_rele(f);
		free(err);
	}
}

/* Creates the instance behind handle h (which has none yet) and runs
 * init. Returns -1 only for an error of the caller (nesting too deep). */
int task_init_actor(flow_vm *vm, value h, const bc_actor *cls, value *args, int nargs)
{
	task_host *sh = host_of(vm);
	task_actor *inst = actor_instance_new(8);
	vactor *va = (vactor *)h.as.o;
	va->instance = inst;
	va->id = __atomic_add_fetch(sh->actor_seq, 1, __ATOMIC_RELAXED);
	va->free_instance = actor_instance_free;
	if (cls->init) {
		value dummy;
		int sk = task_skip_if_failed(vm, "actor", cls->name, args, nargs, &dummy);
		if (sk < 0) {
			return -1;
		} else if (sk) {
			inst->error = strdup(((vfuture *)dummy.as.o)->error);
			val_rele(dummy);
		} else if (sh->depth >= TASK_MAX_NESTING) {
			return vm_raise(vm, "actors nested more than %d deep", TASK_MAX_NESTING);
		} else {
			value small[TASK_SMALL_ARGS], *a = task_snapshot_args(vm, args, nargs, small);
			if (!a)
				return -1;
			if (g_actors)
				init_remote(vm, sh, cls, inst, a, nargs);
			else
				init_here(vm, sh, cls, inst, a, nargs);
			task_release_args(a, small, nargs);
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

/* task_init_actor on the cluster: the head places it (a: resolved, frozen). */
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
		task_print_remote(sh, node, output);
	inst->remote = id;
	inst->cls_index = cls->index;
	if (rc) {
		char *text;
		if (asprintf(&text, "%s%s", rc == 1 ? "" : "error: ", err ? err : "it could not be made") < 0)
			abort();
		free(sh->fail_msg);
		sh->fail_msg = task_remote_message(text);
		sh->fail_kind = ERR_TASK;
		value f = task_fail_future(sh, "actor", cls->name, 1, text, task_place_text(vm));
		inst->error = strdup(((vfuture *)f.as.o)->error);
		val_rele(f);
		free(text);
	}
	free(err);
	free(node);
	free(output);
}

/* task_call_method on an actor of the cluster: *out its outcome. */
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
		task_print_remote(sh, node, output);
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
		sh->fail_msg = rc == 1 ? task_remote_message(text) : strdup(err ? err : "the call failed");
		sh->fail_kind = rc == TASK_REMOTE_LOST ? ERR_ACTOR_DIED : ERR_TASK;
		f = task_fail_future(sh, "method", m->name, 1, text, task_place_text(vm));
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
	int rc = task_run_inline(sh, m, ident, self, args, nargs, res, err, &dep);
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

int task_new_actor(flow_vm *vm, const bc_actor *cls, value *args, int nargs, value *out)
{
	value h = vm_actor_new(cls);
	if (task_init_actor(vm, h, cls, args, nargs)) {
		val_rele(h);
		return -1;
	}
	*out = h;
	return 0;
}

int task_call_method(flow_vm *vm, value handle, const bc_proto *m, value *args, int nargs,
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
	int sk = task_skip_if_failed(vm, "method", m->name, args, nargs, out);
	if (sk)
		return sk < 0 ? -1 : 0;
	if (sh->depth >= TASK_MAX_NESTING)
		return vm_raise(vm, "calls nested more than %d deep", TASK_MAX_NESTING);
	value small[TASK_SMALL_ARGS], *a = task_snapshot_args(vm, args, nargs, small);
	if (!a)
		return -1;
	if (inst->remote) {
		*out = call_remote_method(vm, sh, inst, m, a, nargs);
		task_release_args(a, small, nargs);
		return 0;
	}
	value res = v_none();
	char *err = NULL;
	const char *dep;
	pthread_mutex_lock(&inst->lock);
	int rc = task_run_inline(sh, m, next_ident(sh), inst->fields, a, nargs, &res, &err, &dep);
	pthread_mutex_unlock(&inst->lock);
	task_release_args(a, small, nargs);
	*out = task_outcome_future(sh, "method", m->name, rc, 1, res, err, dep, rc && !dep ? task_place_text(vm) : NULL);
	return 0;
}

/* A handle whose creation was skipped (an input failed): it stays, and
 * its calls fail as "broken" with msg. */
void task_actor_broken(value h, const char *msg)
{
	task_actor *inst = actor_instance_new(0);
	inst->error = strdup(msg);
	vactor *va = (vactor *)h.as.o;
	va->instance = inst;
	va->free_instance = actor_instance_free;
}
