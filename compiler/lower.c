/* lower.c - the lowering host: runs the driver's bytecode at compile
 * time and records what it does as a DAG (LANGUAGE.md section 6).
 *
 * Task calls, actor creations and method calls become nodes and return
 * pending futures (or handles); the VM lifts every instruction that needs
 * such a future's value, or that calls a native with an effect, into an
 * IMPLICIT or EFFECT node (vm_lift.c). Ordering edges: each driver effect
 * after the previous one; each actor creation or method call after the
 * previous call on that actor and after the last effect before it, so an
 * actor call made after a time.sleep is made after it. Tasks get no
 * ordering edges: they may start as soon as their inputs are ready. A
 * call passed a handle (a holder) comes after the driver's calls on that
 * actor made before it. Nothing else waits for a holder: holders do not
 * wait for each other, and the driver's later calls on the actor do not
 * wait for them (LANGUAGE.md sections 5 and 6: callers interleave as their
 * calls arrive, and the driver submits each call when it reaches it), so
 * four tasks sharing a handle run at once, and a driver can signal tasks
 * that poll the actor (Ray's "actor to synchronize tasks"). A driver that
 * reads what holders did gets their results first, as in Ray.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"
#include "rewrite.h"
#include "lang/vm.h"
#include "lang/native.h"

typedef struct lower_host {
	dag *d;
	bool static_only;
	uint32_t max_nodes;
	int64_t last_effect;   /* the newest EFFECT node, or -1 */
	uint32_t *last_on;     /* per node id: for ACTOR nodes, the newest call on it */
	uint32_t cap_last;
} lower_host;

static lower_host *host_of(flow_vm *vm) { return vm_ctx(vm)->host_data; }

static span here(flow_vm *vm)
{
	span w;
	if (!vm_where(vm, &w)) {
		memset(&w, 0, sizeof w);
		w.file = -1;
	}
	return w;
}

static int room(flow_vm *vm, lower_host *h)
{
	if (h->d->n >= h->max_nodes)
		return vm_raise(vm, "the driver makes more than %u calls; move a loop into a task",
		                h->max_nodes);
	return 0;
}

static void track(lower_host *h, uint32_t id)
{
	if (id >= h->cap_last) {
		uint32_t c = h->cap_last ? h->cap_last : 1024;
		while (c <= id)
			c *= 2;
		uint32_t *p = realloc(h->last_on, sizeof *p * c);
		if (!p)
			abort();
		h->last_on = p;
		h->cap_last = c;
	}
}

static void free_tracks(lower_host *h)
{
	free(h->last_on);
}

static void after_effect(lower_host *h, uint32_t id)
{
	if (h->last_effect >= 0)
		dag_order(h->d, (uint32_t)h->last_effect, id);
}

typedef struct handles {
	lower_host *h;
	uint32_t id;
} handles;

static bool order_on_actor(value x, void *ctx)
{
	handles *c = ctx;
	int64_t a = x.t == V_ACTOR ? dag_ref(x) : -1;
	if (a < 0 || (uint64_t)a >= c->h->d->n || c->h->d->nodes[a].kind != DAG_ACTOR)
		return false;
	if (c->h->last_on[a] != (uint32_t)a && c->h->last_on[a] != c->id)
		dag_order(c->h->d, c->h->last_on[a], c->id);
	return false;
}

/* A call that is passed an actor handle may call the actor: it is one of
 * the actor's callers, ordered after the driver's calls on it made before
 * it; nothing waits for it but what reads its result. */
static void order_handles(lower_host *h, uint32_t id, value *args, int nargs)
{
	handles c = { h, id };
	for (int j = 0; j < nargs; j++)
		val_any(args[j], order_on_actor, &c);
}

static int l_call_task(flow_vm *vm, const bc_proto *task, value *args, int nargs, value *out)
{
	lower_host *h = host_of(vm);
	/* a stream is delivered while its producer runs, to a driver that
	 * runs then (section 6): the call is made at run time */
	if (bc_proto_yields(task))
		return vm_need_suspend(vm, "this calls a task that yields: its stream is delivered at run time",
		                       "a call of a task that yields (a stream) runs at run time, which "
		                       "--static forbids; call it inside a task");
	if (room(vm, h))
		return -1;
	uint32_t id = dag_add(h->d, DAG_TASK, (uint32_t)task->index, 0, 0, args, NULL, nargs, here(vm));
	order_handles(h, id, args, nargs);
	*out = val_hold(h->d->fut[id]);
	return 0;
}

static int l_new_actor(flow_vm *vm, const bc_actor *cls, value *args, int nargs, value *out)
{
	lower_host *h = host_of(vm);
	if (room(vm, h))
		return -1;
	uint32_t id = dag_add(h->d, DAG_ACTOR, (uint32_t)cls->index, 0, 0, args, NULL, nargs, here(vm));
	after_effect(h, id);
	track(h, id);
	h->last_on[id] = id;
	order_handles(h, id, args, nargs);
	*out = val_hold(h->d->fut[id]);
	return 0;
}

static int l_call_method(flow_vm *vm, value handle, const bc_proto *m, value *args, int nargs,
                         value *out)
{
	lower_host *h = host_of(vm);
	int64_t actor = dag_ref(handle);
	if (actor < 0 || (uint64_t)actor >= h->d->n || h->d->nodes[actor].kind != DAG_ACTOR)
		return vm_raise(vm, "calling a method of an actor the driver did not create");
	if (room(vm, h))
		return -1;
	uint32_t id = dag_add(h->d, DAG_METHOD, (uint32_t)m->index, (uint32_t)actor, 0, args, NULL,
	                      nargs, here(vm));
	/* per-caller FIFO: after the driver's previous call on this actor */
	if (h->last_on[actor] != (uint32_t)actor)
		dag_order(h->d, h->last_on[actor], id);
	after_effect(h, id);
	h->last_on[actor] = id;
	order_handles(h, id, args, nargs);
	*out = val_hold(h->d->fut[id]);
	return 0;
}

/* Every future made while lowering is pending: its value is run-time. */
static int l_get(flow_vm *vm, value fut, value *out)
{
	(void)fut;
	(void)out;
	return vm_need_runtime(vm);
}

static int l_wait(flow_vm *vm, value futures, int64_t n, double timeout, value *out)
{
	(void)futures;
	(void)n;
	(void)timeout;
	(void)out;
	return vm_need_suspend(vm, "wait() in the driver waits for calls to end",
	                       "wait() cannot be used in the driver: the compiler must know every "
	                       "call in advance; call wait() inside a task");
}

/* The staged driver: the rest of the driver becomes one node that runs
 * at run time from the VM's state (registers as its inputs). It comes
 * after the last effect and after every call on each actor, so what it
 * does happens after everything the driver did before it. */
static int l_suspend(flow_vm *vm, const char *why)
{
	lower_host *h = host_of(vm);
	if (h->static_only || h->d->cont.nframes)
		return -1;
	vm_state_frame fr[64];
	const value *regs;
	int nregs;
	int nf = vm_state(vm, fr, 64, &regs, &nregs);
	if (nf <= 0 || nf >= 64 || nregs > 65535 || h->d->n >= h->max_nodes)
		return -1;
	/* the driver's own statement, also when an fn it called stopped */
	span w = nf == 1 ? here(vm) : bc_place(fr[0].p, fr[0].pc > 0 ? fr[0].pc - 1 : 0);
	uint32_t id = dag_add(h->d, DAG_CONT, DAG_PROTO_DRIVER, 0, 0, regs, NULL, nregs, w);
	after_effect(h, id);
	for (uint32_t a = 0; a < id; a++)
		if (h->d->nodes[a].kind == DAG_ACTOR)
			dag_order(h->d, h->last_on[a], id);
	dag_cont *c = &h->d->cont;
	c->frames = calloc((size_t)nf, sizeof *c->frames);
	c->why = strdup(why);
	if (!c->frames || !c->why)
		abort();
	for (int j = 0; j < nf; j++) {
		c->frames[j].proto = fr[j].p == vm_program(vm)->driver ? DAG_PROTO_DRIVER
		                                                        : (uint32_t)fr[j].p->index;
		c->frames[j].pc = (uint32_t)fr[j].pc;
		c->frames[j].base = (uint32_t)fr[j].base;
	}
	c->nframes = (uint32_t)nf;
	return 0;
}

static int l_put(flow_vm *vm, value v, value *out)
{
	lower_host *h = host_of(vm);
	if (room(vm, h))
		return -1;
	uint32_t id = dag_add(h->d, DAG_PUT, 0, 0, 0, &v, NULL, 1, here(vm));
	*out = val_hold(h->d->fut[id]);
	return 0;
}

/* print and sleep are natives with effects: the VM lifts them before they
 * reach the host, so these never run. */
static void l_print(flow_vm *vm, const char *text, size_t len)
{
	(void)vm;
	(void)text;
	(void)len;
}

static int l_sleep(flow_vm *vm, double seconds)
{
	(void)seconds;
	return vm_need_runtime(vm);
}

/* Does instruction pc of p have an effect (a native that is not pure)? */
static bool is_effect(const bc_proto *p, int pc, const value *base)
{
	uint32_t i = p->code[pc];
	const native_def *nd = NULL;
	if (BC_OP(i) == OP_NATIVE)
		nd = p->natives[BC_B(i)];
	else if (BC_OP(i) == OP_CALL) {
		value callee = base[BC_A(i)];
		if (callee.t == V_FUNC && callee.as.o->extra == FUNC_NATIVE)
			nd = ((const vfunc *)callee.as.o)->native;
	}
	if (!nd)
		return false;
	return (nd->flags & (NATIVE_EFFECT | NATIVE_CLOCK | NATIVE_RANDOM | NATIVE_ENV)) ||
	       !strcmp(nd->name, "get");
}

static int l_lift(flow_vm *vm, const bc_proto *p, int pc, const value *base, int out_reg,
                  value *out)
{
	lower_host *h = host_of(vm);
	uint8_t regs[256];
	int outs;
	int n = vm_insn_inputs(vm_program(vm), p, pc, regs, 256, &outs);
	if (n < 0)
		return vm_raise(vm, "internal error: lifting an instruction that cannot be a node");
	if (room(vm, h))
		return -1;
	value vals[256];
	for (int j = 0; j < n; j++)
		vals[j] = base[regs[j]];
	bool eff = is_effect(p, pc, base);
	uint32_t pi = p == vm_program(vm)->driver ? DAG_PROTO_DRIVER : (uint32_t)p->index;
	uint32_t id = dag_add(h->d, eff ? DAG_EFFECT : DAG_IMPLICIT, pi, (uint32_t)pc,
	                      out_reg, vals, regs, n, bc_place(p, pc));
	if (eff) {
		after_effect(h, id);
		h->last_effect = id;
	}
	*out = val_hold(h->d->fut[id]);
	return 0;
}

static const flow_host_ops lower_ops = {
	.call_task = l_call_task,
	.new_actor = l_new_actor,
	.call_method = l_call_method,
	.get = l_get,
	.wait = l_wait,
	.put = l_put,
	.print = l_print,
	.sleep = l_sleep,
	.lift = l_lift,
	.suspend = l_suspend,
};

/* The VM's error as a gcc-style diagnostic block (with its traceback). */
static char *render(flow_vm *vm, const bc_program *p)
{
	const char *full = vm_error(vm);
	const char *msg = vm_error_message(vm);
	span w;
	char *s;
	if (!vm_error_place(vm, &w) || !p->diag || !msg) {
		if (asprintf(&s, "flow: error: %s", full ? full : msg ? msg : "error") < 0)
			abort();
		return s;
	}
	char *block = diag_format(p->diag, DIAG_ERROR, w, msg);
	const char *trace = full ? strchr(full, '\n') : NULL;
	size_t n = strlen(block);
	while (n > 0 && block[n - 1] == '\n')
		n--;
	if (asprintf(&s, "%.*s%s", (int)n, block, trace ? trace : "") < 0)
		abort();
	free(block);
	return s;
}

dag *lower_program(const bc_program *p, const lower_opts *o, char **err)
{
	*err = NULL;
	lower_host h;
	memset(&h, 0, sizeof h);
	h.d = dag_new(p);
	h.max_nodes = o && o->max_nodes ? o->max_nodes : LOWER_MAX_NODES;
	h.last_effect = -1;
	h.static_only = o && o->static_only;
	if (!p->driver)
		goto done;
	vm_context c;
	memset(&c, 0, sizeof c);
	c.host = &lower_ops;
	c.host_data = &h;
	c.self = v_none();
	c.lowering = true;
	/* --static computes everything ahead, however long it takes */
	c.budget = h.static_only ? 0 : (o && o->budget ? o->budget : LOWER_BUDGET);
	flow_vm *vm = vm_new(p, &c);
	value res;
	int rc = vm_run(vm, p->driver, NULL, 0, &res);
	if (rc && vm_suspended(vm)) {
		rc = 0; /* the rest of the driver runs at run time */
		res = v_none();
	}
	if (rc) {
		*err = render(vm, p);
		vm_free(vm);
		free_tracks(&h);
		dag_free(h.d);
		return NULL;
	}
	val_rele(res);
	vm_free(vm);
done:
	free_tracks(&h);
	if (dag_finalize(h.d)) {
		*err = strdup("flow: internal error: the lowered DAG is not in topological order");
		dag_free(h.d);
		return NULL;
	}
	if (!(o && o->no_rewrite) && dag_rewrite_all(h.d) < 0) {
		*err = strdup("flow: internal error: the rewrite pass refused the DAG");
		dag_free(h.d);
		return NULL;
	}
	return h.d;
}
