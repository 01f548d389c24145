/* vm_call.c - the VM's life cycle, calls and argument matching, type
 * checks of annotations, errors with place and traceback, and the slow
 * paths of the loop (futures, indexing, iteration, generic arithmetic). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vm_internal.h"

/* ---- mutation of a frozen value --------------------------------------- */

/* *r holds a frozen list or dict (a task's argument, a get result, a
 * value the driver handed to a call or held when it stopped) that the
 * program is about to change: the change goes to a thawed copy, which
 * replaces the frozen value in every live register of this VM that holds
 * it. So names bound to one object stay one object, as in Python
 * (`fn bump(d) { d["n"] += 1 }` changes the caller's d; `let e = d;
 * e.append(1)` changes d), while whoever else holds the frozen value (a
 * call's snapshot, the object store) still sees it unchanged. */
void vm_thaw_shared(flow_vm *vm, value *r)
{
	value old = val_hold(*r);
	value t = old.t == V_LIST ? list_thaw(old) : dict_thaw(old);
	for (value *s = vm->stack, *top = vm_top(vm); s < top; s++)
		if (s != r && s->t == old.t && s->as.o == old.as.o)
			VM_SET(s, val_hold(t));
	VM_SET(r, t);
	val_rele(old);
}

/* ---- life cycle ----------------------------------------------------- */

flow_vm *vm_new(const bc_program *prog, const vm_context *ctx)
{
	flow_vm *vm = calloc(1, sizeof *vm);
	if (!vm)
		abort();
	vm->prog = prog;
	vm->ctx = *ctx;
	vm->ctx.self = val_hold(ctx->self);
	/* reserved, committed lazily: the stack never moves, so natives may
	 * keep pointers to their arguments while calling back into the VM */
	void *s = mmap(NULL, sizeof(value) * VM_STACK_SLOTS, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s == MAP_FAILED) {
		fprintf(stderr, "flow: out of memory (VM stack)\n");
		abort();
	}
	vm->stack = s;
	vm->frames = malloc(sizeof(vm_frame) * VM_MAX_FRAMES);
	if (!vm->frames)
		abort();
	return vm;
}

void vm_free(flow_vm *vm)
{
	if (!vm)
		return;
	while (vm->nframes > 0) {
		vm_frame *t = &vm->frames[--vm->nframes];
		for (int j = 0; j < t->p->nregs; j++)
			VM_SET(t->base + j, v_none());
	}
	val_rele(vm->ctx.self);
	munmap(vm->stack, sizeof(value) * VM_STACK_SLOTS);
	free(vm->frames);
	free(vm->msg);
	free(vm->full);
	free(vm->emsg);
	free(vm->etext);
	val_rele(vm->efut);
	free(vm->hs);
	free(vm);
}

void vm_set_ctx(flow_vm *vm, const vm_context *ctx)
{
	value old = vm->ctx.self;
	vm->ctx = *ctx;
	vm->ctx.self = val_hold(ctx->self);
	val_rele(old);
}

vm_context *vm_ctx(flow_vm *vm) { return &vm->ctx; }
const bc_program *vm_program(flow_vm *vm) { return vm->prog; }

void vm_note_read(flow_vm *vm, const char *path)
{
	if (vm->ctx.host && vm->ctx.host->read_file)
		vm->ctx.host->read_file(vm, path);
}

void vm_note_probe(flow_vm *vm, int kind, const char *arg)
{
	if (vm->ctx.host && vm->ctx.host->probe)
		vm->ctx.host->probe(vm, kind, arg);
}

/* ---- errors ----------------------------------------------------------- */

int vm_raise(flow_vm *vm, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	free(vm->msg);
	free(vm->full);
	vm->msg = m ? m : strdup("error");
	vm->full = NULL;
	vm->traced = false;
	vm->has_where = false;
	vm->ekind = ERR_RUNTIME;
	vm->etask = NULL;
	free(vm->emsg);
	free(vm->etext);
	vm->emsg = vm->etext = NULL;
	VM_SET(&vm->efut, v_none());
	return -1;
}

void vm_error_future(flow_vm *vm, value future)
{
	VM_SET(&vm->efut, val_hold(future));
}

void vm_error_detail(flow_vm *vm, int kind, const char *task, const char *msg, const char *text)
{
	vm->ekind = kind;
	vm->etask = task;
	free(vm->emsg);
	free(vm->etext);
	vm->emsg = msg ? strdup(msg) : NULL;
	vm->etext = text ? strdup(text) : NULL;
}

int vm_error_kind(flow_vm *vm) { return vm->ekind; }

static void add_place(flow_vm *vm, sbuf *b, span w);

value vm_error_value(flow_vm *vm)
{
	const char *msg = vm->emsg ? vm->emsg : vm->msg ? vm->msg : "error";
	if (vm->etext)
		return vm_error_new(vm->ekind, msg, vm->etask, vm->etext);
	sbuf b;
	sbuf_init(&b);
	if (vm->has_where) {
		add_place(vm, &b, vm->errwhere);
		sbuf_adds(&b, ": ");
	}
	sbuf_printf(&b, "error: %s", vm->msg ? vm->msg : "error");
	char *text = sbuf_take(&b, NULL);
	value e = vm_error_new(vm->ekind, msg, vm->etask, text);
	free(text);
	return e;
}

static void add_place(flow_vm *vm, sbuf *b, span w)
{
	sbuf_printf(b, "%s:%d:%d", bc_source_path(vm->prog, w.file), w.line, w.col);
}

static span frame_place(const vm_frame *f)
{
	int idx = (int)(f->pc - f->p->code) - 1;
	if (idx < 0)
		return f->p->where;
	return bc_place(f->p, idx);
}

void vm_trace(flow_vm *vm)
{
	if (vm->traced)
		return;
	vm->traced = true;
	sbuf b;
	sbuf_init(&b);
	if (vm->nframes > 0) {
		vm->errwhere = frame_place(&vm->frames[vm->nframes - 1]);
		vm->has_where = true;
		add_place(vm, &b, vm->errwhere);
		sbuf_adds(&b, ": ");
	}
	sbuf_adds(&b, vm->msg ? vm->msg : "error");
	if (vm->nframes > 1) {
		/* runs of the same frame (deep recursion) are shown once */
		sbuf_adds(&b, "\n  traceback (innermost last):");
		int shown = 0;
		for (int j = 0; j < vm->nframes; j++) {
			int same = 0;
			span w = frame_place(&vm->frames[j]);
			while (j + 1 < vm->nframes && vm->frames[j + 1].p == vm->frames[j].p) {
				span w2 = frame_place(&vm->frames[j + 1]);
				if (w2.line != w.line || w2.col != w.col || w2.file != w.file)
					break;
				same++;
				j++;
			}
			if (shown++ == 20 && vm->nframes - j > 10) {
				sbuf_printf(&b, "\n    ... (%d more frames)", vm->nframes - j - 10);
				j = vm->nframes - 11;
				continue;
			}
			sbuf_adds(&b, "\n    ");
			add_place(vm, &b, w);
			sbuf_printf(&b, ": in %s", vm->frames[j].p->name);
			if (same)
				sbuf_printf(&b, " (repeated %d more times)", same);
		}
	}
	free(vm->full);
	vm->full = sbuf_take(&b, NULL);
}

const char *vm_error_message(flow_vm *vm)
{
	return vm->msg ? vm->msg : "";
}

bool vm_error_place(flow_vm *vm, span *out)
{
	if (vm->has_where)
		*out = vm->errwhere;
	return vm->has_where;
}

const char *vm_error(flow_vm *vm)
{
	if (vm->full)
		return vm->full;
	return vm->msg ? vm->msg : "";
}

/* ---- running protos ------------------------------------------------- */

/* Runs p with matched args (borrowed) in a new entry frame. */
static int run_proto(flow_vm *vm, const bc_proto *p, value *args, int nargs, value *out)
{
	value *nb = vm_top(vm);
	if (vm->nframes >= VM_MAX_FRAMES || nb + p->nregs + nargs >= vm->stack + VM_STACK_SLOTS)
		return vm_raise(vm, "maximum recursion depth exceeded");
	if (nargs > p->nparams)
		return vm_raise(vm, "'%s' takes %d arguments but %d were given", p->name, p->nparams, nargs);
	for (int j = 0; j < p->nregs; j++) {
		value v = v_none();
		if (j < nargs)
			v = val_hold(args[j]);
		else if (j < p->nparams) {
			if (!p->params[j].has_default) {
				for (int q = 0; q < j; q++)
					VM_SET(nb + q, v_none());
				return vm_raise(vm, "'%s' missing required argument '%s'", p->name, p->params[j].name);
			}
			v = val_hold(p->params[j].deflt);
		}
		VM_SET(nb + j, v);
	}
	vm_frame *f = &vm->frames[vm->nframes++];
	f->p = p;
	f->pc = p->code;
	f->base = nb;
	f->entry = true;
	if (p->checks && vm_check_args(vm, p, nb)) {
		vm_trace(vm);
		for (int j = 0; j < p->nregs; j++)
			VM_SET(nb + j, v_none());
		vm->nframes--;
		return -1;
	}
	return vm_execute(vm, out);
}

int vm_run(flow_vm *vm, const bc_proto *proto, value *args, int nargs, value *out)
{
	free(vm->msg);
	free(vm->full);
	vm->msg = vm->full = NULL;
	vm->traced = false;
	vm->has_where = false;
	vm->suspended = false;
	return run_proto(vm, proto, args, nargs, out);
}

/* ---- generators ------------------------------------------------------------ */

bool bc_proto_yields(const bc_proto *p)
{
	if (!p || p->kind != PROTO_TASK)
		return false;
	for (int j = 0; j < p->ncode; j++)
		if (BC_OP(p->code[j]) == OP_YIELD)
			return true;
	return false;
}

int vm_gen_start(flow_vm *vm, const bc_proto *p, value *args, int nargs, value *out)
{
	vm->gen = true;
	*out = v_none();
	int rc = vm_run(vm, p, args, nargs, out);
	if (rc == 0) {
		val_rele(*out); /* the (empty) list a whole run would return */
		*out = v_none();
	}
	return rc;
}

int vm_gen_resume(flow_vm *vm, value *out)
{
	free(vm->msg);
	free(vm->full);
	vm->msg = vm->full = NULL;
	vm->traced = false;
	vm->has_where = false;
	*out = v_none();
	if (!vm->gen || vm->nframes != 1)
		return vm_raise(vm, "the stream's producer is not running");
	int rc = vm_execute(vm, out);
	if (rc == 0) {
		val_rele(*out);
		*out = v_none();
	}
	return rc;
}

/* ---- the staged driver -------------------------------------------------- */

int vm_state(flow_vm *vm, vm_state_frame *frames, int max, const value **regs, int *nregs)
{
	int n = vm->nframes < max ? vm->nframes : max;
	for (int j = 0; j < n; j++) {
		const vm_frame *f = &vm->frames[j];
		int pc = (int)(f->pc - f->p->code);
		if (j == n - 1 && !vm->resume_here) {
			/* the instruction that could not run, run again at run time */
			pc--;
			if (pc > 0 && BC_OP(f->p->code[pc]) == OP_EXTRAARG)
				pc--;
		}
		frames[j].p = f->p;
		frames[j].pc = pc;
		frames[j].base = (int)(f->base - vm->stack);
	}
	*regs = vm->stack;
	*nregs = n ? frames[n - 1].base + vm->frames[n - 1].p->nregs : 0;
	return n;
}

bool vm_suspended(flow_vm *vm) { return vm->suspended; }

int vm_resume(flow_vm *vm, const vm_state_frame *frames, int nframes, const value *regs, int nregs,
              const uint32_t *masks, value *out)
{
	free(vm->msg);
	free(vm->full);
	vm->msg = vm->full = NULL;
	vm->traced = false;
	vm->has_where = false;
	vm->suspended = false;
	value *nb = vm_top(vm);
	if (nframes <= 0 || vm->nframes + nframes >= VM_MAX_FRAMES ||
	    nb + nregs >= vm->stack + VM_STACK_SLOTS)
		return vm_raise(vm, "corrupt driver state");
	for (int j = 0; j < nregs; j++) {
		value x;
		/* registers that held one list or dict (a name and an fn's
		 * parameter bound to it) hold one resolved object again, so a
		 * change through one name is seen through the other */
		if (regs[j].t == V_LIST || regs[j].t == V_DICT) {
			int q = j - 1;
			while (q >= 0 && !(regs[q].t == regs[j].t && regs[q].as.o == regs[j].as.o))
				q--;
			if (q >= 0 && nb[q].t == regs[j].t && (!masks || (masks[j] & (1u << nb[q].t)))) {
				VM_SET(nb + j, val_hold(nb[q]));
				continue;
			}
		}
		if (vm_resolve_implied(vm, regs[j], &x)) {
			for (int q = 0; q < j; q++)
				VM_SET(nb + q, v_none());
			return -1;
		}
		if (masks && !(masks[j] & (1u << x.t)) && x.t == V_STR && (masks[j] & VM_MASK_KSTR)) {
			/* the code keeps pointers into its string constants: use the
			 * constant this string stands for */
			const bc_proto *fp = frames[0].p;
			for (int q = 0; q < nframes; q++)
				if (frames[q].base <= j)
					fp = frames[q].p;
			for (int q = 0; q < fp->nconsts; q++)
				if (fp->consts[q].t == V_STR && val_eq(fp->consts[q], x)) {
					val_rele(x);
					VM_SET(nb + j, val_hold(fp->consts[q]));
					goto next;
				}
		}
		if (masks && !(masks[j] & (1u << x.t))) {
			val_rele(x);
			for (int q = 0; q < j; q++)
				VM_SET(nb + q, v_none());
			return vm_raise(vm, "corrupt driver state: register %d holds %s", j, vtype_name(x.t));
		}
		VM_SET(nb + j, x);
	next:;
	}
	for (int j = 0; j < nframes; j++) {
		vm_frame *f = &vm->frames[vm->nframes++];
		f->p = frames[j].p;
		f->pc = frames[j].p->code + frames[j].pc;
		f->base = nb + frames[j].base;
		f->entry = j == 0;
	}
	return vm_execute(vm, out);
}

int vm_call(flow_vm *vm, value fn, value *args, int nargs, value *out)
{
	return vm_call_kw(vm, fn, args, nargs, NULL, NULL, 0, out);
}

static void release_n(value *v, int n)
{
	for (int j = 0; j < n; j++)
		val_rele(v[j]);
}

#define UNSET ((uint8_t)V__COUNT)

/* Where a callee's parameter names and defaults come from: a proto's
 * bc_param list or a native's parsed params string. */
typedef struct param_src {
	const char *fname;
	const bc_proto *p;
	const native_params *np;
} param_src;

static const char *param_name(const param_src *s, int j)
{
	return s->p ? s->p->params[j].name : s->np->names[j];
}

/* False when parameter j is required; else its default in *d (borrowed). */
static bool param_default(const param_src *s, int j, value *d)
{
	if (s->p) {
		*d = s->p->params[j].deflt;
		return s->p->params[j].has_default;
	}
	*d = s->np->defaults[j];
	return j >= s->np->nrequired;
}

static void release_set(value *out, int n)
{
	for (int r = 0; r < n; r++)
		if (out[r].t != UNSET)
			val_rele(out[r]);
}

/* Matches positional and keyword arguments to the n parameters of s,
 * filling defaults: out[0..n) receives new references. */
static int match_args(flow_vm *vm, const param_src *s, int n, value *args, int npos, value *kwv,
                      const char *const *kwnames, int nkw, value *out)
{
	if (npos > n)
		return vm_raise(vm, "'%s' takes %d argument%s but %d were given", s->fname, n,
		                n == 1 ? "" : "s", npos);
	for (int j = 0; j < n; j++)
		out[j].t = UNSET;
	for (int j = 0; j < npos; j++)
		out[j] = val_hold(args[j]);
	for (int q = 0; q < nkw; q++) {
		int j = 0;
		while (j < n && strcmp(param_name(s, j), kwnames[q]))
			j++;
		if (j == n || out[j].t != UNSET) {
			release_set(out, n);
			if (j == n)
				return vm_raise(vm, "'%s' got an unexpected keyword argument '%s'", s->fname, kwnames[q]);
			return vm_raise(vm, "'%s' got multiple values for argument '%s'", s->fname, kwnames[q]);
		}
		out[j] = val_hold(kwv[q]);
	}
	for (int j = 0; j < n; j++) {
		value d;
		if (out[j].t != UNSET)
			continue;
		if (!param_default(s, j, &d)) {
			release_set(out, n);
			return vm_raise(vm, "'%s' missing required argument '%s'", s->fname, param_name(s, j));
		}
		out[j] = val_hold(d);
	}
	return 0;
}

int vm_match_proto(flow_vm *vm, const bc_proto *p, value *args, int npos, value *kwv,
                   const char *const *kwnames, int nkw, value *out)
{
	param_src s = {p->name, p, NULL};
	return match_args(vm, &s, p->nparams, args, npos, kwv, kwnames, nkw, out);
}

int vm_match_native(flow_vm *vm, const native_def *d, value *args, int npos, value *kwv,
                    const char *const *kwnames, int nkw, value *out, int *argc)
{
	const native_params *np = native_params_of(d);
	if (!np || np->n < 0) {
		if (nkw)
			return vm_raise(vm, "'%s' takes no keyword arguments", d->name);
		for (int j = 0; j < npos; j++)
			out[j] = val_hold(args[j]);
		*argc = npos;
		return 0;
	}
	param_src s = {d->name, NULL, np};
	if (match_args(vm, &s, np->n, args, npos, kwv, kwnames, nkw, out))
		return -1;
	*argc = np->n;
	return 0;
}

static value *argbuf(value *small, int nsmall, int need)
{
	if (need <= nsmall)
		return small;
	value *b = malloc(sizeof(value) * (size_t)need);
	if (!b)
		abort();
	return b;
}

int vm_call_kw(flow_vm *vm, value fn, value *args, int npos, value *kwv,
               const char *const *kwnames, int nkw, value *out)
{
	value small[16], *m;
	int rc;
	if (fn.t == V_FUTURE) {
		value r;
		if (vm->ctx.host->get(vm, fn, &r))
			return -1;
		rc = vm_call_kw(vm, r, args, npos, kwv, kwnames, nkw, out);
		val_rele(r);
		return rc;
	}
	if (fn.t != V_FUNC)
		return vm_raise(vm, "'%s' is not callable", vtype_name(fn.t));
	const vfunc *f = (const vfunc *)fn.as.o;
	switch (fn.as.o->extra) {
	case FUNC_PROTO: {
		const bc_proto *p = f->proto;
		m = argbuf(small, 16, p->nparams);
		if (vm_match_proto(vm, p, args, npos, kwv, kwnames, nkw, m)) {
			if (m != small)
				free(m);
			return -1;
		}
		if (p->kind == PROTO_FN)
			rc = run_proto(vm, p, m, p->nparams, out);
		else if (p->kind == PROTO_TASK)
			rc = vm->ctx.host->call_task(vm, p, m, p->nparams, out);
		else
			rc = vm_raise(vm, "'%s' cannot be called as a value", p->name);
		release_n(m, p->nparams);
		if (m != small)
			free(m);
		return rc;
	}
	case FUNC_NATIVE: {
		int argc = 0;
		m = argbuf(small, 16, npos + NATIVE_MAX_PARAMS);
		if (vm_match_native(vm, f->native, args, npos, kwv, kwnames, nkw, m, &argc)) {
			if (m != small)
				free(m);
			return -1;
		}
		rc = 0;
		if (vm->ctx.lowering && !vm_native_pure(f->native)) {
			release_n(m, argc);
			if (m != small)
				free(m);
			return vm_need_runtime(vm);
		}
		/* as the NATIVE instruction: values, not futures, except for
		 * natives that talk to the executor and type() */
		if (!(f->native->flags & NATIVE_HOST) && strcmp(f->native->name, "type"))
			for (int j = 0; j < argc && !rc; j++)
				rc = f->native->flags & NATIVE_SHAPE ? vm_force(vm, &m[j])
				                                     : vm_force_values(vm, &m[j]);
		if (!rc)
			rc = f->native->fn(vm, m, argc, out);
		release_n(m, argc);
		if (m != small)
			free(m);
		return rc;
	}
	default: {
		value self = val_hold(f->self);
		rc = vm_call_method(vm, &self, NULL, f->method, args, npos, kwv, kwnames, nkw, out);
		val_rele(self);
		return rc;
	}
	}
}

bool vm_method_mutates(const char *name)
{
	return native_method_mutates(name);
}

int vm_call_method(flow_vm *vm, value *recv, const bc_msite *site, const char *name,
                   value *args, int npos, value *kwv, const char *const *kwnames, int nkw,
                   value *out)
{
	if (vm_force(vm, recv))
		return -1;
	if (recv->t == V_ACTOR) {
		const vactor *a = (const vactor *)recv->as.o;
		const bc_proto *mp = NULL;
		for (int j = 0; j < a->cls->nmethods; j++)
			if (!strcmp(a->cls->methods[j]->name + strlen(a->cls->name) + 1, name))
				mp = a->cls->methods[j];
		if (!mp)
			return vm_raise(vm, "actor '%s' has no method '%s'", a->cls->name, name);
		value small[16], *m = argbuf(small, 16, mp->nparams);
		int rc = vm_match_proto(vm, mp, args, npos, kwv, kwnames, nkw, m);
		if (!rc) {
			rc = vm->ctx.host->call_method(vm, *recv, mp, m, mp->nparams, out);
			release_n(m, mp->nparams);
		}
		if (m != small)
			free(m);
		return rc;
	}
	const native_def *d = site ? site->by_type[recv->t] : native_method((vtype)recv->t, name);
	if (!d)
		return vm_raise(vm, "'%s' has no method '%s'", vtype_name(recv->t), name);
	bool mutates = site ? site->mutates : vm_method_mutates(name);
	if (mutates && val_is_frozen(*recv) && (recv->t == V_LIST || recv->t == V_DICT))
		vm_thaw_shared(vm, recv);
	if (!(d->flags & NATIVE_SHAPE)) {
		/* a method that looks at items gets values (the receiver is a
		 * temporary, or written back after a mutating method) */
		if (vm_force_values(vm, recv))
			return -1;
		for (int j = 0; j < npos; j++)
			if (vm_force_values(vm, &args[j]))
				return -1;
		for (int j = 0; j < nkw; j++)
			if (vm_force_values(vm, &kwv[j]))
				return -1;
	}
	const native_params *np = site ? site->params[recv->t] : native_params_of(d);
	if (nkw == 0 && args == recv + 1 && (!np || np->n < 0 || npos == np->n))
		return d->fn(vm, recv, 1 + npos, out);
	value small[17], *m = argbuf(small, 17, 1 + npos + NATIVE_MAX_PARAMS);
	int argc = 0;
	if (vm_match_native(vm, d, args, npos, kwv, kwnames, nkw, m + 1, &argc)) {
		if (m != small)
			free(m);
		return -1;
	}
	m[0] = *recv;
	int rc = d->fn(vm, m, argc + 1, out);
	release_n(m + 1, argc);
	if (m != small)
		free(m);
	return rc;
}

/* ---- annotations -------------------------------------------------------- */

/* Does v (not a future unless tcode is future) match an annotation? */
static bool type_ok(int tcode, const char *tname, value v)
{
	switch (tcode) {
	case BC_T_ANY: return true;
	case BC_T_NONE: return v.t == V_NONE;
	case BC_T_BOOL: return v.t == V_BOOL;
	case BC_T_INT: return v.t == V_INT;
	case BC_T_FLOAT: return v.t == V_FLOAT || v.t == V_INT;
	case BC_T_STR: return v.t == V_STR;
	case BC_T_LIST: return v.t == V_LIST;
	case BC_T_DICT: return v.t == V_DICT;
	case BC_T_TENSOR: return v.t == V_TENSOR;
	case BC_T_FN: return v.t == V_FUNC;
	case BC_T_TASK:
		return v.t == V_FUNC && v.as.o->extra == FUNC_PROTO &&
		       ((const vfunc *)v.as.o)->proto->kind == PROTO_TASK;
	case BC_T_FUTURE: return v.t == V_FUTURE;
	default:
		return v.t == V_ACTOR && !strcmp(((const vactor *)v.as.o)->cls->name, tname);
	}
}

static int type_error(flow_vm *vm, const char *tname, value v, const char *what, const char *w2,
                      const char *w3)
{
	const char *got = vtype_name(v.t);
	if (v.t == V_ACTOR)
		got = ((const vactor *)v.as.o)->cls->name;
	return vm_raise(vm, "%s%s%s must be %s, got %s", what, w2, w3, tname, got);
}

int vm_check_type(flow_vm *vm, int tcode, const char *tname, value *v, const char *what)
{
	if (tcode == BC_T_ANY)
		return 0;
	if (vm_lowering_pending(vm, v))
		return 0;
	if (v->t == V_FUTURE && tcode != BC_T_FUTURE && vm_force(vm, v))
		return -1;
	if (type_ok(tcode, tname, *v))
		return 0;
	return type_error(vm, tname, *v, what, "", "");
}

int vm_check_return(flow_vm *vm, const bc_proto *p, value *v)
{
	if (vm_lowering_pending(vm, v))
		return 0;
	if (v->t == V_FUTURE && p->ret_tcode != BC_T_FUTURE && vm_force(vm, v))
		return -1;
	if (type_ok(p->ret_tcode, p->ret_type, *v))
		return 0;
	return type_error(vm, p->ret_type, *v, "return value of '", p->name, "'");
}

int vm_check_args(flow_vm *vm, const bc_proto *p, value *args)
{
	for (int j = 0; j < p->nparams; j++) {
		int tc = p->ptcode[j];
		value *a = &args[j];
		if (tc == BC_T_ANY || vm_lowering_pending(vm, a))
			continue;
		if (a->t == V_FUTURE && tc != BC_T_FUTURE && vm_force(vm, a))
			return -1;
		if (type_ok(tc, p->params[j].type, *a))
			continue;
		char what[200];
		snprintf(what, sizeof what, "argument '%s' of '%s'", p->params[j].name, p->name);
		return type_error(vm, p->params[j].type, *a, what, "", "");
	}
	return 0;
}

/* ---- futures ------------------------------------------------------------ */

int vm_force(flow_vm *vm, value *r)
{
	/* a stream where a value is needed: the list of all its items */
	while (r->t == V_FUTURE || r->t == V_STREAM) {
		value v;
		if (vm->ctx.host->get(vm, *r, &v))
			return -1;
		VM_SET(r, v);
	}
	return 0;
}

static bool is_future(value x, void *ctx)
{
	(void)ctx;
	return x.t == V_FUTURE;
}

static bool same_value(value a, value b)
{
	return a.t == b.t && (!V_IS_HEAP(a.t) || a.as.o == b.as.o);
}

/* memo: list or dict already resolved -> its result (held by whoever
 * holds the result), so shared parts are resolved once and stay shared.
 * A container without futures comes back as itself. */
static int get_deep(flow_vm *vm, value v, value *out, int depth, ptrmap *memo, bool implied)
{
	if (depth > VAL_MAX_DEPTH)
		return vm_raise(vm, "value nested too deeply");
	if (v.t == V_FUTURE && (!implied || ((const vfuture *)v.as.o)->implied)) {
		value r;
		if (vm->ctx.host->get(vm, v, &r))
			return -1;
		int rc = get_deep(vm, r, out, depth + 1, memo, implied);
		val_rele(r);
		return rc;
	}
	if (v.t != V_LIST && v.t != V_DICT) {
		*out = val_hold(v);
		return 0;
	}
	value m;
	if (ptrmap_get(memo, v.as.o, &m)) {
		*out = val_hold(m);
		return 0;
	}
	value res = v_none(); /* stays none while every item is unchanged */
	if (v.t == V_LIST) {
		size_t n = list_len(v);
		for (size_t j = 0; j < n; j++) {
			value x, item = list_get(v, j);
			if (get_deep(vm, item, &x, depth + 1, memo, implied)) {
				val_rele(res);
				return -1;
			}
			if (res.t == V_NONE && !same_value(x, item)) {
				res = list_new(n);
				for (size_t i = 0; i < j; i++)
					list_append(res, list_get(v, i));
			}
			if (res.t != V_NONE)
				list_append_take(res, x);
			else
				val_rele(x);
		}
	} else {
		size_t it = 0, done = 0;
		value k, x;
		while (dict_next(v, &it, &k, &x)) {
			value y;
			verr e;
			if (get_deep(vm, x, &y, depth + 1, memo, implied)) {
				val_rele(res);
				return -1;
			}
			if (res.t == V_NONE && !same_value(x, y)) {
				res = dict_new(dict_len(v));
				size_t it2 = 0, i = 0;
				value k2, x2;
				while (i < done && dict_next(v, &it2, &k2, &x2)) {
					dict_set(res, k2, x2, &e);
					i++;
				}
			}
			if (res.t != V_NONE)
				dict_set(res, k, y, &e);
			val_rele(y);
			done++;
		}
	}
	if (res.t == V_NONE)
		res = val_hold(v);
	ptrmap_put(memo, v.as.o, res);
	*out = res;
	return 0;
}

int vm_get_deep(flow_vm *vm, value v, value *out)
{
	if (!val_any(v, is_future, NULL)) {
		*out = val_hold(v);
		return 0;
	}
	ptrmap memo = {0};
	int rc = get_deep(vm, v, out, 0, &memo, false);
	ptrmap_fini(&memo);
	return rc;
}

static bool is_implied(value x, void *ctx)
{
	(void)ctx;
	return x.t == V_FUTURE && ((const vfuture *)x.as.o)->implied;
}

int vm_resolve_implied(flow_vm *vm, value v, value *out)
{
	if (!val_any(v, is_implied, NULL)) {
		*out = val_hold(v);
		return 0;
	}
	ptrmap memo = {0};
	int rc = get_deep(vm, v, out, 0, &memo, true);
	ptrmap_fini(&memo);
	return rc;
}

/* ---- slow paths of the loop ---------------------------------------------- */

/* *tmp = the value of *r (resolved if a future): a new ref the caller
 * releases. Registers are left alone, so a local stays a future. */
int vm_deref(flow_vm *vm, const value *r, value *tmp)
{
	if (r->t != V_FUTURE && r->t != V_STREAM) {
		*tmp = val_hold(*r);
		return 0;
	}
	value v = val_hold(*r);
	while (v.t == V_FUTURE || v.t == V_STREAM) {
		value x;
		if (vm->ctx.host->get(vm, v, &x)) {
			val_rele(v);
			return -1;
		}
		val_rele(v);
		v = x;
	}
	*tmp = v;
	return 0;
}

int vm_key(flow_vm *vm, const value *r, value *out)
{
	if (r->t == V_FUTURE && !((const vfuture *)r->as.o)->implied) {
		*out = val_hold(*r);
		return 0;
	}
	return vm_deref(vm, r, out);
}

bool vm_dict_get_ref(value d, value k, value *out)
{
	return d.t == V_DICT && k.t == V_FUTURE && !((const vfuture *)k.as.o)->implied && dict_get(d, k, out);
}

int vm_arith_slow(flow_vm *vm, int op, value *a, value *b, value *out)
{
	verr e;
	value x, y;
	int rc = 0;
	if (vm_deref(vm, a, &x))
		return -1;
	if (vm_deref(vm, b, &y)) {
		val_rele(x);
		return -1;
	}
	if (op == '@')
		rc = vm_matmul(vm, x, y, out);
	else if (val_arith(op, x, y, out, &e))
		rc = vm_raise(vm, "%s", e.msg);
	val_rele(x);
	val_rele(y);
	return rc;
}

int vm_cmp_slow(flow_vm *vm, value *a, value *b, int *res)
{
	verr e;
	value x, y;
	int rc = 0;
	if (vm_deref_values(vm, a, &x))
		return -1;
	if (vm_deref_values(vm, b, &y)) {
		val_rele(x);
		return -1;
	}
	if (val_cmp(x, y, res, &e))
		rc = vm_raise(vm, "%s", e.msg);
	val_rele(x);
	val_rele(y);
	return rc;
}

/* Can two values be equal only if their items are? (Then the items'
 * futures must be waited for; otherwise the answer is false already.) */
static bool same_shape(value x, value y)
{
	if (x.t == V_LIST && y.t == V_LIST)
		return list_len(x) == list_len(y);
	return x.t == V_DICT && y.t == V_DICT && dict_len(x) == dict_len(y);
}

int vm_eq_slow(flow_vm *vm, value *a, value *b, bool *res)
{
	value x, y;
	if (vm_deref(vm, a, &x))
		return -1;
	if (vm_deref(vm, b, &y)) {
		val_rele(x);
		return -1;
	}
	if (same_shape(x, y)) {
		value xv, yv;
		int rc = vm_deref_values(vm, &x, &xv);
		if (rc == 0 && (rc = vm_deref_values(vm, &y, &yv)) != 0)
			val_rele(xv);
		val_rele(x);
		val_rele(y);
		if (rc)
			return -1;
		x = xv;
		y = yv;
	}
	*res = val_eq(x, y);
	val_rele(x);
	val_rele(y);
	return 0;
}

int vm_truthy_slow(flow_vm *vm, value *v, bool *res)
{
	value x;
	if (vm_deref(vm, v, &x))
		return -1;
	*res = val_truthy(x);
	val_rele(x);
	return 0;
}

int vm_index(flow_vm *vm, value obj, value idx, value *out)
{
	verr e;
	switch (obj.t) {
	case V_LIST:
		if (idx.t != V_INT)
			return vm_raise(vm, "list index must be int, got %s", vtype_name(idx.t));
		if (list_index(obj, idx.as.i, out, &e))
			return vm_raise(vm, "%s", e.msg);
		return 0;
	case V_STR:
		if (idx.t != V_INT)
			return vm_raise(vm, "str index must be int, got %s", vtype_name(idx.t));
		if (str_index(obj, idx.as.i, out, &e))
			return vm_raise(vm, "%s", e.msg);
		return 0;
	case V_DICT: {
		value v;
		if (!dict_get(obj, idx, &v)) {
			sbuf b;
			sbuf_init(&b);
			val_repr(&b, idx);
			vm_raise(vm, "key %s not found in dict", b.data ? b.data : "");
			sbuf_fini(&b);
			return -1;
		}
		*out = val_hold(v);
		return 0;
	}
	case V_TENSOR:
		return vm_tensor_index(vm, obj, idx, out);
	default:
		return vm_raise(vm, "%s is not indexable", vtype_name(obj.t));
	}
}

int vm_setindex(flow_vm *vm, value *obj, value idx, value v)
{
	verr e;
	if (vm_force(vm, obj))
		return -1;
	switch (obj->t) {
	case V_LIST: {
		if (idx.t != V_INT)
			return vm_raise(vm, "list index must be int, got %s", vtype_name(idx.t));
		int64_t j = idx.as.i, n = (int64_t)list_len(*obj);
		if (j < 0)
			j += n;
		if (j < 0 || j >= n)
			return vm_raise(vm, "list index %lld out of range (length %lld)", (long long)idx.as.i, (long long)n);
		if (val_is_frozen(*obj))
			vm_thaw_shared(vm, obj);
		if (val_reaches(v, *obj))
			return vm_raise(vm, "a list cannot contain itself");
		list_set(*obj, (size_t)j, v);
		return 0;
	}
	case V_DICT:
		if (val_is_frozen(*obj))
			vm_thaw_shared(vm, obj);
		if (val_reaches(v, *obj))
			return vm_raise(vm, "a dict cannot contain itself");
		if (dict_set(*obj, idx, v, &e))
			return vm_raise(vm, "%s", e.msg);
		return 0;
	default:
		return vm_raise(vm, "%s does not support item assignment", vtype_name(obj->t));
	}
}

int vm_slice(flow_vm *vm, value obj, value *parts, int mask, value *out)
{
	verr e;
	bool has[3];
	int64_t x[3] = { 0, 0, 1 };
	static const char *const what[3] = { "start", "stop", "step" };
	for (int j = 0; j < 3; j++) {
		has[j] = false;
		if (!(mask & (1 << j)))
			continue;
		if (vm_force(vm, &parts[j]))
			return -1;
		if (parts[j].t == V_NONE)
			continue;
		if (parts[j].t != V_INT)
			return vm_raise(vm, "slice %s must be int, got %s", what[j], vtype_name(parts[j].t));
		has[j] = true;
		x[j] = parts[j].as.i;
	}
	if (x[2] == 0)
		return vm_raise(vm, "slice step must not be zero");
	int rc;
	switch (obj.t) {
	case V_STR:
		rc = str_slice(obj, has[0], x[0], has[1], x[1], x[2], out, &e);
		break;
	case V_LIST:
		rc = list_slice(obj, has[0], x[0], has[1], x[1], x[2], out, &e);
		break;
	case V_TENSOR:
		if (has[2] && x[2] != 1)
			return vm_raise(vm, "tensor slices take no step");
		return vm_tensor_slice(vm, obj, has[0], x[0], has[1], x[1], out);
	default:
		return vm_raise(vm, "%s cannot be sliced", vtype_name(obj.t));
	}
	if (rc)
		return vm_raise(vm, "%s", e.msg);
	return 0;
}

static int iter_of(flow_vm *vm, value *src, value *out);

int vm_iter_prep(flow_vm *vm, value *src, value *out)
{
	/* a stream is iterated as its producer goes (ITERNEXT asks the host
	 * for each item), also through a future of it */
	value x = val_hold(*src);
	while (x.t == V_FUTURE) {
		value y;
		if (vm->ctx.host->get(vm, x, &y)) {
			val_rele(x);
			return -1;
		}
		val_rele(x);
		x = y;
	}
	if (x.t == V_STREAM) {
		*out = x;
		return 0;
	}
	int rc = iter_of(vm, &x, out);
	val_rele(x);
	return rc;
}

static int iter_of(flow_vm *vm, value *src, value *out)
{
	switch (src->t) {
	case V_LIST:
		/* the items at loop start: `for x in xs { xs.append(x) }` ends.
		 * Always a copy of its own, even of a frozen list: a mutation
		 * that thaws xs rebinds every register holding it
		 * (vm_thaw_shared), and must not reach the loop's. */
		*out = list_thaw(*src);
		return 0;
	case V_STR: {
		const char *s = str_data(*src);
		size_t n = str_len(*src), j = 0;
		value l = list_new(str_of(*src)->cplen);
		while (j < n) {
			size_t w = 1;
			unsigned char c = (unsigned char)s[j];
			if (c >= 0xf0) w = 4;
			else if (c >= 0xe0) w = 3;
			else if (c >= 0xc0) w = 2;
			if (j + w > n)
				w = n - j;
			list_append_take(l, str_new(s + j, w));
			j += w;
		}
		*out = l;
		return 0;
	}
	case V_DICT: {
		value l = list_new(dict_len(*src));
		size_t it = 0;
		value k, v;
		while (dict_next(*src, &it, &k, &v))
			list_append(l, k);
		*out = l;
		return 0;
	}
	case V_TENSOR:
		return vm_tensor_rows(vm, *src, out);
	default:
		return vm_raise(vm, "cannot iterate over %s", vtype_name(src->t));
	}
}

bool vm_where(flow_vm *vm, span *out)
{
	if (!vm->nframes)
		return false;
	*out = frame_place(&vm->frames[vm->nframes - 1]);
	return true;
}
