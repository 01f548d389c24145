/* vm_types.c - the heap types the VM defines: futures, actor handles and
 * callable values (free, str, equality hooks). */
#include <stdlib.h>
#include <string.h>

#include "vm_internal.h"
#include "objslab.h"
#include "encode.h"
#include "flow_err.h"

/* one per DAG node: keep its padding out (vm.h) */
_Static_assert(sizeof(void *) != 8 || sizeof(vfuture) == 88, "vfuture grew: mind the DAG's memory");

value future_new_done(value result)
{
	vfuture *f = vobj_alloc(sizeof *f, V_FUTURE);
	f->state = FUT_DONE;
	f->result = val_hold(result);
	f->error = NULL;
	f->host_data = NULL;
	f->node = -1;
	f->hkey = UINT32_MAX;
	f->implied = false;
	f->job = NULL;
	f->ekind = ERR_TASK;
	f->emsg = NULL;
	f->caught = 0;
	f->cause = NULL;
	return v_obj(&f->h);
}

static value future_init_pending(vfuture *f, int64_t node);

value future_new_pending(int64_t node)
{
	return future_init_pending(vobj_alloc(sizeof(vfuture), V_FUTURE), node);
}

value future_new_pending_in(struct objslab *s, int64_t node)
{
	vfuture *f = objslab_alloc(s, sizeof *f);
	f->h.rc = 1;
	f->h.type = V_FUTURE;
	f->h.flags = VOBJ_SLAB;
	return future_init_pending(f, node);
}

static value future_init_pending(vfuture *f, int64_t node)
{
	f->state = FUT_PENDING;
	f->result = v_none();
	f->error = NULL;
	f->host_data = NULL;
	f->node = node;
	f->hkey = (uint32_t)node; /* node < 2^32 (DAG ids), or -1: UINT32_MAX */
	f->implied = false;
	f->job = NULL;
	f->ekind = ERR_TASK;
	f->emsg = NULL;
	f->caught = 0;
	f->cause = NULL;
	return v_obj(&f->h);
}

value future_new_failed(const char *msg)
{
	vfuture *f = vobj_alloc(sizeof *f, V_FUTURE);
	f->state = FUT_FAILED;
	f->result = v_none();
	f->error = strdup(msg ? msg : "failed");
	if (!f->error)
		abort();
	f->host_data = NULL;
	f->node = -1;
	f->hkey = UINT32_MAX;
	f->implied = false;
	f->job = NULL;
	f->ekind = ERR_TASK;
	f->emsg = NULL;
	f->caught = 0;
	f->cause = NULL;
	return v_obj(&f->h);
}

static void future_free(vobj *o)
{
	vfuture *f = (vfuture *)o;
	val_rele(f->result);
	if (f->cause)
		val_rele(v_obj(&f->cause->h));
	free(f->error);
	free(f->emsg);
	if (o->flags & VOBJ_SLAB)
		objslab_release(f);
	else
		free(f);
}

/* Two futures of one DAG node are one future (a plan or a frozen frame
 * holds copies); other futures are equal only to themselves. */
static bool future_eq(value a, value b)
{
	const vfuture *x = (const vfuture *)a.as.o, *y = (const vfuture *)b.as.o;
	return x == y || (x->node >= 0 && x->node == y->node && !x->implied && !y->implied);
}

/* Consistent with future_eq: futures equal by node hash by the node they
 * were made for (renumbering moves node, not hkey; the DAG has one future
 * per node, so two futures of one node share hkey); the others by address. */
static uint64_t future_hash(value v)
{
	const vfuture *f = (const vfuture *)v.as.o;
	uint64_t x = f->node >= 0 && !f->implied ? (uint64_t)f->hkey : (uint64_t)(uintptr_t)f ^ 0xa5a5ull << 48;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static void future_str(sbuf *out, value v)
{
	(void)v;
	sbuf_adds(out, "<future>");
}

static void actor_free(vobj *o)
{
	vactor *a = (vactor *)o;
	if (a->free_instance)
		a->free_instance(a->instance);
	free(a);
}

static void actor_str(sbuf *out, value v)
{
	const vactor *a = (const vactor *)v.as.o;
	sbuf_printf(out, "<actor %s>", a->cls ? a->cls->name : "?");
}

static bool actor_eq(value a, value b)
{
	const vactor *x = (const vactor *)a.as.o, *y = (const vactor *)b.as.o;
	return x == y || (x->cls == y->cls && x->instance == y->instance && x->id == y->id);
}

static void func_free(vobj *o)
{
	vfunc *f = (vfunc *)o;
	if (o->extra == FUNC_BOUND)
		val_rele(f->self);
	free(f);
}

static void func_str(sbuf *out, value v)
{
	const vfunc *f = (const vfunc *)v.as.o;
	switch (v.as.o->extra) {
	case FUNC_PROTO:
		sbuf_printf(out, "<%s %s>", f->proto->kind == PROTO_TASK ? "task" :
		            f->proto->kind == PROTO_FN ? "fn" : "method", f->proto->name);
		break;
	case FUNC_NATIVE:
		sbuf_printf(out, "<builtin %s>", f->native->name);
		break;
	default:
		sbuf_printf(out, "<method %s of %s>", f->method, vtype_name(f->self.t));
		break;
	}
}

static bool func_eq(value a, value b)
{
	const vfunc *x = (const vfunc *)a.as.o, *y = (const vfunc *)b.as.o;
	if (x == y)
		return true;
	if (a.as.o->extra != b.as.o->extra)
		return false;
	switch (a.as.o->extra) {
	case FUNC_PROTO: return x->proto == y->proto;
	case FUNC_NATIVE: return x->native == y->native;
	default: return !strcmp(x->method, y->method) && val_eq(x->self, y->self);
	}
}

const char *vm_error_kind_name(int kind)
{
	static const char *const names[] = { "error", "runtime", "task", "timeout", "actor_died",
	                                     "node_lost" };
	return kind >= 0 && kind <= ERR_NODE_LOST ? names[kind] : "runtime";
}

value vm_error_new(int kind, const char *message, const char *task, const char *text)
{
	verror *e = vobj_alloc(sizeof *e, V_ERROR);
	e->message = str_from_c(message ? message : "");
	e->kind = str_from_c(vm_error_kind_name(kind));
	e->task = task ? str_from_c(task) : v_none();
	e->text = str_from_c(text ? text : message ? message : "");
	return v_obj(&e->h);
}

static void error_free(vobj *o)
{
	verror *e = (verror *)o;
	val_rele(e->message);
	val_rele(e->kind);
	val_rele(e->task);
	val_rele(e->text);
	free(e);
}

static void error_str(sbuf *out, value v)
{
	const verror *e = (const verror *)v.as.o;
	sbuf_add(out, str_data(e->text), str_len(e->text));
}

/* An error value crosses a plan or the wire as the list [message, kind,
 * task, text] (encode.h's own format inside the payload). */
static int error_enc(sbuf *out, value v, verr *e)
{
	const verror *ev = (const verror *)v.as.o;
	value l = list_new(4);
	list_append(l, ev->message);
	list_append(l, ev->kind);
	list_append(l, ev->task);
	list_append(l, ev->text);
	int rc = val_encode(out, l, e);
	val_rele(l);
	return rc;
}

static int error_dec(const uint8_t *buf, size_t len, value *out, verr *e)
{
	value l;
	if (val_decode(buf, len, &l, e) < 0)
		return -1;
	bool ok = l.t == V_LIST && list_len(l) == 4;
	int kind = -1;
	if (ok) {
		value m = list_get(l, 0), k = list_get(l, 1), t = list_get(l, 2), x = list_get(l, 3);
		ok = m.t == V_STR && k.t == V_STR && (t.t == V_STR || t.t == V_NONE) && x.t == V_STR;
		for (int j = 0; ok && j <= ERR_NODE_LOST && kind < 0; j++)
			if (!strcmp(str_data(k), vm_error_kind_name(j)))
				kind = j;
	}
	if (!ok || kind < 0) {
		val_rele(l);
		verr_setc(e, FLOW_ECORRUPT, "decode: malformed error value");
		return -1;
	}
	value t = list_get(l, 2);
	*out = vm_error_new(kind, str_data(list_get(l, 0)), t.t == V_STR ? str_data(t) : NULL,
	                    str_data(list_get(l, 3)));
	val_rele(l);
	return 0;
}

value vm_stream_new(const char *task, void *state, void (*free_state)(void *state))
{
	vstream *st = vobj_alloc(sizeof *st, V_STREAM);
	st->state = state;
	st->free_state = free_state;
	st->task = task;
	return v_obj(&st->h);
}

static void stream_free(vobj *o)
{
	vstream *st = (vstream *)o;
	if (st->free_state)
		st->free_state(st->state);
	free(st);
}

static void stream_str(sbuf *out, value v)
{
	const vstream *st = (const vstream *)v.as.o;
	sbuf_printf(out, "<stream of '%s'>", st->task ? st->task : "?");
}

/* How actor handles travel, when a host can send them (vm.h). */
static int (*actor_enc)(sbuf *out, value v, verr *e);
static int (*actor_dec)(const uint8_t *buf, size_t len, value *out, verr *e);

void vm_types_set_actor_codec(int (*enc)(sbuf *out, value v, verr *e),
                              int (*dec)(const uint8_t *buf, size_t len, value *out, verr *e))
{
	if (actor_enc == enc && actor_dec == dec)
		return; /* set already (each daemon's start sets it) */
	actor_enc = enc;
	actor_dec = dec;
	vm_types_init();
}

void vm_types_init(void)
{
	static const vtype_hooks stm = { stream_free, stream_str, NULL };
	vtype_register(V_STREAM, &stm);
	static const vtype_hooks err = { error_free, error_str, NULL, error_enc, error_dec };
	vtype_register(V_ERROR, &err);
	static const vtype_hooks fut = { future_free, future_str, future_eq, NULL, NULL, future_hash };
	/* not const: vm_types_init runs again (plans, compiles) and keeps the codec */
	vtype_hooks act = { actor_free, actor_str, actor_eq, actor_enc, actor_dec };
	static const vtype_hooks fun = { func_free, func_str, func_eq };
	vtype_register(V_FUTURE, &fut);
	vtype_register(V_ACTOR, &act);
	vtype_register(V_FUNC, &fun);
}

value vm_func_proto(const bc_proto *p)
{
	vfunc *f = vobj_alloc(sizeof *f, V_FUNC);
	f->h.extra = FUNC_PROTO;
	f->proto = p;
	return v_obj(&f->h);
}

value vm_func_native(const native_def *d)
{
	vfunc *f = vobj_alloc(sizeof *f, V_FUNC);
	f->h.extra = FUNC_NATIVE;
	f->native = d;
	return v_obj(&f->h);
}

value vm_actor_new(const bc_actor *cls)
{
	vactor *a = vobj_alloc(sizeof *a, V_ACTOR);
	a->cls = cls;
	a->instance = NULL;
	a->id = 0;
	a->node = -1;
	a->free_instance = NULL;
	return v_obj(&a->h);
}
