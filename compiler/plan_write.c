/* plan_write.c - serialises a compiled program, and the DAG its driver
 * was lowered to, into a plan file (layout in docs/plan-format.md;
 * plan_read.c is the other half). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "plan_int.h"
#include "lang/encode.h"
#include "lang/vm.h"
#include "lang/native.h"

typedef struct wstate {
	const bc_program *p;
	char *err;
	uint32_t items;    /* node input items written for the current input */
	ptrmap same;       /* list/dict written item by item -> its PLAN_K_SAME index */
	int64_t nsame;
} wstate;

static int fail(wstate *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(wstate *w, const char *fmt, ...)
{
	if (w->err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&w->err, fmt, ap) < 0)
		w->err = NULL;
	va_end(ap);
	return -1;
}

static void put_u32(sbuf *b, uint32_t x)
{
	uint8_t t[4] = { (uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24) };
	sbuf_add(b, t, 4);
}

static void put_u64(sbuf *b, uint64_t x)
{
	put_u32(b, (uint32_t)x);
	put_u32(b, (uint32_t)(x >> 32));
}

static void put_f64(sbuf *b, double d)
{
	uint64_t x;
	memcpy(&x, &d, 8);
	put_u64(b, x);
}

static void put_zz(sbuf *b, int64_t x)
{
	val_encode_varint(b, ((uint64_t)x << 1) ^ (uint64_t)(x >> 63));
}

static void put_str(sbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	val_encode_varint(b, n);
	sbuf_add(b, s ? s : "", n);
}

/* an optional string: 0, or 1 and the string */
static void put_ostr(sbuf *b, const char *s)
{
	val_encode_varint(b, s ? 1 : 0);
	if (s)
		put_str(b, s);
}

static void put_span(sbuf *b, span s)
{
	val_encode_varint(b, (uint64_t)((int64_t)s.file + 1));
	val_encode_varint(b, (uint64_t)(s.line < 0 ? 0 : s.line));
	val_encode_varint(b, (uint64_t)(s.col < 0 ? 0 : s.col));
	val_encode_varint(b, (uint64_t)(s.end_line < 0 ? 0 : s.end_line));
	val_encode_varint(b, (uint64_t)(s.end_col < 0 ? 0 : s.end_col));
}

static void put_attrs(sbuf *b, const bc_attrs *a)
{
	put_f64(b, a->cpus);
	put_zz(b, a->memory);
	put_zz(b, a->retries);
	put_f64(b, a->timeout);
	/* bit 0 @associative, bit 1 @cache, bit 2 @idempotent (docs/plan-format.md) */
	val_encode_varint(b, (a->associative ? 1u : 0u) | (a->cache ? 2u : 0u) |
	                     (a->idempotent ? 4u : 0u));
	put_zz(b, a->restarts);
	val_encode_varint(b, (uint64_t)a->nresources);
	for (int i = 0; i < a->nresources; i++) {
		put_str(b, a->res_names[i]);
		put_f64(b, a->res_amounts[i]);
	}
}

/* A native by name: builtin, or module function. */
static int put_native(wstate *w, sbuf *b, const native_def *d)
{
	if (native_builtin(d->name) == d) {
		val_encode_varint(b, PLAN_NAT_BUILTIN);
		put_str(b, d->name);
		return 0;
	}
	for (const char *const *m = native_module_names(); *m; m++) {
		const module_def *md = native_module(*m);
		if (md && native_module_fn(md, d->name) == d) {
			val_encode_varint(b, PLAN_NAT_MODULE);
			put_str(b, *m);
			put_str(b, d->name);
			return 0;
		}
	}
	return fail(w, "native '%s' is not in the stdlib tables", d->name);
}

static int put_const(wstate *w, sbuf *b, value v)
{
	if (v.t == V_NONE && v.as.i == 1) {
		val_encode_varint(b, PLAN_K_ABSENT);
		return 0;
	}
	if (v.t == V_FUNC) {
		const vfunc *f = (const vfunc *)v.as.o;
		if (f->h.extra == FUNC_PROTO && f->proto->index >= 0 && f->proto->index < w->p->nprotos &&
		    w->p->protos[f->proto->index] == f->proto) {
			val_encode_varint(b, PLAN_K_PROTO);
			val_encode_varint(b, (uint64_t)f->proto->index);
			return 0;
		}
		if (f->h.extra == FUNC_NATIVE) {
			val_encode_varint(b, PLAN_K_NATIVE);
			return put_native(w, b, f->native);
		}
		return fail(w, "a function constant cannot be stored in a plan");
	}
	val_encode_varint(b, PLAN_K_VALUE);
	sbuf e;
	sbuf_init(&e);
	verr err;
	if (val_encode(&e, v, &err)) {
		sbuf_fini(&e);
		return fail(w, "a constant cannot be stored in a plan: %s", err.msg);
	}
	val_encode_varint(b, e.len);
	sbuf_add(b, e.data, e.len);
	sbuf_fini(&e);
	return 0;
}

/* ---- the DAG ---------------------------------------------------------------- */

/* What the value encoding cannot hold: futures, actor handles, functions. */
static bool needs_tree(value x, void *ctx)
{
	(void)ctx;
	return x.t == V_FUTURE || x.t == V_ACTOR || x.t == V_FUNC;
}

/* A node input: a constant, with a future or actor handle made by the DAG
 * written as its node id, and the lists and dicts that hold such values
 * written item by item (docs/plan-format.md, NODES). */
static int put_input(wstate *w, sbuf *b, value v, int depth)
{
	if (depth > PLAN_IN_MAX_DEPTH)
		return fail(w, "a node input is nested more than %d levels deep", PLAN_IN_MAX_DEPTH);
	if (++w->items > PLAN_IN_MAX_ITEMS)
		return fail(w, "a node input has more than %u items", PLAN_IN_MAX_ITEMS);
	if (v.t == V_FUTURE || v.t == V_ACTOR) {
		int64_t id = dag_ref(v);
		if (id < 0)
			return fail(w, "a node input holds a %s that no node makes", vtype_name(v.t));
		val_encode_varint(b, v.t == V_FUTURE ? PLAN_K_FUTURE : PLAN_K_ACTOR);
		val_encode_varint(b, (uint64_t)id);
		return 0;
	}
	value seen;
	if ((v.t == V_LIST || v.t == V_DICT) && ptrmap_get(&w->same, v.as.o, &seen)) {
		val_encode_varint(b, PLAN_K_SAME);
		val_encode_varint(b, (uint64_t)seen.as.i);
		return 0;
	}
	if (v.t == V_LIST && val_any(v, needs_tree, NULL)) {
		val_encode_varint(b, PLAN_K_LIST);
		val_encode_varint(b, list_len(v));
		for (size_t i = 0; i < list_len(v); i++)
			if (put_input(w, b, list_get(v, i), depth + 1))
				return -1;
		ptrmap_put(&w->same, v.as.o, v_int(w->nsame++));
		return 0;
	}
	if (v.t == V_DICT && val_any(v, needs_tree, NULL)) {
		val_encode_varint(b, PLAN_K_DICT);
		val_encode_varint(b, dict_len(v));
		size_t i = 0;
		value k, x;
		while (dict_next(v, &i, &k, &x))
			if (put_input(w, b, k, depth + 1) || put_input(w, b, x, depth + 1)) /* k: a future too */
				return -1;
		ptrmap_put(&w->same, v.as.o, v_int(w->nsame++));
		return 0;
	}
	return put_const(w, b, v);
}

static int cmp_edge(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

static int put_nodes(wstate *w, sbuf *b, const dag *d)
{
	val_encode_varint(b, d->n);
	for (uint32_t id = 0; id < d->n && !w->err; id++) {
		const dag_node *n = &d->nodes[id];
		val_encode_varint(b, n->kind);
		val_encode_varint(b, n->out);
		val_encode_varint(b, n->nin);
		val_encode_varint(b, n->proto);
		val_encode_varint(b, n->pc);
		put_span(b, n->where);
		bool regs = n->kind == DAG_IMPLICIT || n->kind == DAG_EFFECT;
		for (uint32_t j = 0; j < n->nin; j++) {
			if (regs)
				val_encode_varint(b, d->inreg[n->in + j]);
			w->items = 0;
			if (put_input(w, b, d->ins[n->in + j], 0))
				return -1;
		}
	}
	return w->err ? -1 : 0;
}

/* ordering edges sorted (from, to) so the bytes do not depend on whether
 * dag_finalize ran; then the rewrites */
static void put_edges(sbuf *b, const dag *d)
{
	uint32_t (*e)[2] = malloc(sizeof *e * ((size_t)d->norder + 1));
	if (!e)
		abort();
	if (d->norder)
		memcpy(e, d->order, sizeof *e * d->norder);
	qsort(e, d->norder, sizeof *e, cmp_edge);
	val_encode_varint(b, d->norder);
	for (uint32_t i = 0; i < d->norder; i++) {
		val_encode_varint(b, e[i][0]);
		val_encode_varint(b, e[i][1]);
	}
	free(e);
	val_encode_varint(b, d->nrewrites);
	for (uint32_t i = 0; i < d->nrewrites; i++) {
		const dag_rewrite *r = &d->rewrites[i];
		put_span(b, r->where);
		val_encode_varint(b, r->proto);
		val_encode_varint(b, r->calls);
		val_encode_varint(b, r->depth_before);
		val_encode_varint(b, r->depth_after);
	}
	/* the staged driver's frames (section 6); 0 when it is static */
	val_encode_varint(b, d->cont.nframes);
	for (uint32_t i = 0; i < d->cont.nframes; i++) {
		val_encode_varint(b, d->cont.frames[i].proto);
		val_encode_varint(b, d->cont.frames[i].pc);
		val_encode_varint(b, d->cont.frames[i].base);
	}
	if (d->cont.nframes)
		put_str(b, d->cont.why ? d->cont.why : "");
}

static int proto_ref(const bc_program *p, const bc_proto *x, int nall, const bc_proto **all)
{
	for (int i = 0; i < nall; i++)
		if (all[i] == x)
			return i;
	(void)p;
	return -1;
}

static int put_proto(wstate *w, sbuf *b, const bc_proto *x)
{
	const bc_program *p = w->p;
	val_encode_varint(b, (uint64_t)x->kind);
	put_str(b, x->name);
	val_encode_varint(b, (uint64_t)x->module);
	put_span(b, x->where);
	val_encode_varint(b, (uint64_t)x->nparams);
	for (int i = 0; i < x->nparams; i++) {
		const bc_param *pa = &x->params[i];
		put_str(b, pa->name);
		put_ostr(b, pa->type);
		val_encode_varint(b, pa->has_default ? 1 : 0);
		if (pa->has_default && put_const(w, b, pa->deflt))
			return -1;
	}
	put_ostr(b, x->ret_type);
	put_attrs(b, &x->attrs);
	val_encode_varint(b, x->actor ? (uint64_t)x->actor->index + 1 : 0);
	val_encode_varint(b, (uint64_t)x->nregs);
	val_encode_varint(b, (uint64_t)x->ncode);
	for (int i = 0; i < x->ncode; i++)
		put_u32(b, x->code[i]);
	val_encode_varint(b, (uint64_t)x->nconsts);
	for (int i = 0; i < x->nconsts; i++)
		if (put_const(w, b, x->consts[i]))
			return -1;
	for (int i = 0; i < x->ncode; i++)
		put_span(b, x->lines ? x->lines[i] : x->where);
	val_encode_varint(b, (uint64_t)x->nnatives);
	for (int i = 0; i < x->nnatives; i++)
		if (put_native(w, b, x->natives[i]))
			return -1;
	val_encode_varint(b, (uint64_t)x->nmsites);
	for (int i = 0; i < x->nmsites; i++) {
		const bc_msite *s = &x->msites[i];
		put_str(b, s->name);
		val_encode_varint(b, (uint64_t)s->nkw);
		for (int j = 0; j < s->nkw; j++)
			put_str(b, s->kwnames[j]);
	}
	(void)p;
	return 0;
}

static void add_section(sbuf *table, uint32_t id, uint32_t flags, uint64_t off, uint64_t len)
{
	put_u32(table, id);
	put_u32(table, flags);
	put_u64(table, off);
	put_u64(table, len);
}

void plan_source_hash(const diag_ctx *d, uint8_t out[32])
{
	sbuf b;
	sbuf_init(&b);
	for (int f = 0; d && f < d->nsrcs; f++) {
		size_t n = 0;
		const char *path = diag_source_path(d, f);
		const char *text = diag_source_text(d, f, &n);
		sbuf_add(&b, path ? path : "", strlen(path ? path : "") + 1);
		sbuf_add(&b, text ? text : "", text ? n : 0);
		sbuf_add(&b, "", 1);
	}
	plan_sha256(b.data ? b.data : "", b.len, out);
	sbuf_fini(&b);
}

int plan_write(sbuf *out, const bc_program *p, const param_set *params, int nparams, const dag *d,
               char **err)
{
	wstate w = { p, NULL, 0, {0}, 0 };
	enum { NSEC = 8 };
	int nsec = d ? 8 : 6;
	sbuf sec[NSEC];
	for (int i = 0; i < NSEC; i++)
		sbuf_init(&sec[i]);
	/* every proto once: the program's, then module inits, then the driver */
	int nall = p->nprotos;
	const bc_proto **all = malloc(sizeof *all * (size_t)(p->nprotos + p->nmodules + 1));
	if (!all)
		abort();
	for (int i = 0; i < p->nprotos; i++)
		all[i] = p->protos[i];
	for (int m = 0; m < p->nmodules; m++)
		if (p->modules[m].init)
			all[nall++] = p->modules[m].init;
	if (p->driver)
		all[nall++] = p->driver;

	/* options: the -p values */
	val_encode_varint(&sec[0], (uint64_t)nparams);
	for (int i = 0; i < nparams; i++) {
		put_str(&sec[0], params[i].name);
		put_str(&sec[0], params[i].text);
	}
	/* sources */
	int nsrcs = p->diag ? p->diag->nsrcs : 0;
	val_encode_varint(&sec[1], (uint64_t)nsrcs);
	for (int f = 0; f < nsrcs; f++) {
		size_t n = 0;
		const char *path = diag_source_path(p->diag, f);
		const char *text = diag_source_text(p->diag, f, &n);
		put_str(&sec[1], path);
		val_encode_varint(&sec[1], text ? n : 0);
		sbuf_add(&sec[1], text ? text : "", text ? n : 0);
	}
	/* modules */
	val_encode_varint(&sec[2], (uint64_t)p->nmodules);
	for (int m = 0; m < p->nmodules && !w.err; m++) {
		const bc_module *mod = &p->modules[m];
		put_str(&sec[2], mod->path);
		put_str(&sec[2], mod->name);
		val_encode_varint(&sec[2], (uint64_t)mod->nglobals);
		for (int g = 0; g < mod->nglobals && !w.err; g++) {
			put_str(&sec[2], mod->global_names[g]);
			put_const(&w, &sec[2], mod->globals ? mod->globals[g] : v_none());
		}
		val_encode_varint(&sec[2], mod->init ? (uint64_t)proto_ref(p, mod->init, nall, all) + 1 : 0);
	}
	/* protos */
	val_encode_varint(&sec[3], (uint64_t)nall);
	for (int i = 0; i < nall && !w.err; i++)
		put_proto(&w, &sec[3], all[i]);
	/* actors */
	val_encode_varint(&sec[4], (uint64_t)p->nactors);
	for (int i = 0; i < p->nactors; i++) {
		const bc_actor *a = p->actors[i];
		put_str(&sec[4], a->name);
		val_encode_varint(&sec[4], (uint64_t)a->module);
		put_span(&sec[4], a->where);
		put_attrs(&sec[4], &a->attrs);
		val_encode_varint(&sec[4], a->init ? (uint64_t)a->init->index + 1 : 0);
		val_encode_varint(&sec[4], (uint64_t)a->nmethods);
		for (int j = 0; j < a->nmethods; j++)
			val_encode_varint(&sec[4], (uint64_t)a->methods[j]->index);
	}
	/* program: how many protos are the program's, and the driver */
	val_encode_varint(&sec[5], (uint64_t)p->nprotos);
	val_encode_varint(&sec[5], p->driver ? (uint64_t)proto_ref(p, p->driver, nall, all) + 1 : 0);
	free(all);
	/* the DAG */
	if (d && !w.err && put_nodes(&w, &sec[6], d) == 0)
		put_edges(&sec[7], d);
	ptrmap_fini(&w.same);

	if (w.err) {
		for (int i = 0; i < NSEC; i++)
			sbuf_fini(&sec[i]);
		*err = w.err;
		return -1;
	}
	static const uint32_t ids[NSEC] = { PLAN_SEC_OPTIONS, PLAN_SEC_SOURCES, PLAN_SEC_MODULES,
		PLAN_SEC_PROTOS, PLAN_SEC_ACTORS, PLAN_SEC_PROGRAM, PLAN_SEC_NODES, PLAN_SEC_EDGES };
	size_t start = out->len;
	sbuf_add(out, PLAN_MAGIC, PLAN_MAGIC_LEN);
	put_u32(out, PLAN_VERSION);
	put_u32(out, 0); /* flags */
	uint8_t h[32];
	plan_source_hash(p->diag, h);
	sbuf_add(out, h, 32);
	put_u32(out, (uint32_t)nsec);
	uint64_t off = PLAN_HEADER_LEN + (uint64_t)nsec * PLAN_SECENT_LEN;
	for (int i = 0; i < nsec; i++) {
		/* options and the DAG are optional: a reader without them can
		 * still run the program (it lowers or runs the driver itself) */
		bool req = ids[i] != PLAN_SEC_OPTIONS && ids[i] != PLAN_SEC_NODES && ids[i] != PLAN_SEC_EDGES;
		add_section(out, ids[i], req ? PLAN_SEC_REQUIRED : 0, off, sec[i].len);
		off += sec[i].len;
	}
	for (int i = 0; i < nsec; i++) {
		sbuf_add(out, sec[i].data, sec[i].len);
		sbuf_fini(&sec[i]);
	}
	for (int i = nsec; i < NSEC; i++)
		sbuf_fini(&sec[i]);
	plan_sha256(out->data + start, out->len - start, h);
	sbuf_add(out, h, 32);
	return 0;
}
