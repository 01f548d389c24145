/* plan_read.c - loads a plan file, validating every byte before use: the
 * checksum, the header, every length, count, string, index and span, the
 * bytecode of every proto (lang/verify.c: operands, jump targets, and a
 * register type flow so no instruction sees a value the VM would misuse),
 * and the stored DAG (each node against the program, references to earlier nodes only). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan.h"
#include "plan_int.h"
#include "lang/hugemem.h"
#include "lang/arena.h"
#include "lang/encode.h"
#include "lang/verify.h"
#include "lang/vm.h"
#include "lang/native.h"

typedef struct ld {
	const uint8_t *b;
	size_t end, pos;   /* the current section: [pos, end) */
	char *err;
	arena *ar;
	diag_ctx *d;
	int *fmap, nsrcs;
	size_t *srclen;
	bc_program *p;
	bc_proto **all;
	int nall, nprog;
	int *ndecoded;     /* per module: globals decoded so far */
	dag *dag;          /* the DAG being read, or NULL */
	value *same;       /* PLAN_K_SAME table: lists/dicts read item by item (held) */
	uint32_t nsame, capsame;
} ld;

static int fail(ld *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ld *L, const char *fmt, ...)
{
	if (L->err)
		return -1;
	char *m = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (asprintf(&L->err, "%s at offset %zu", m ? m : "?", L->pos) < 0)
		L->err = NULL;
	free(m);
	return -1;
}

#define CHECK(cond, ...) do { if (!(cond)) return fail(L, __VA_ARGS__); } while (0)

static uint32_t rd32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t rd64(const uint8_t *b)
{
	return (uint64_t)rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

static inline int get_var(ld *L, uint64_t *x, const char *what)
{
	/* one to three bytes, inline: most of a plan's numbers (a node's
	 * kind, span, inputs, its int arguments); the rest, and every error,
	 * through val_decode_varint, which accepts the same encodings */
	const uint8_t *q = L->b + L->pos;
	size_t left = L->end - L->pos;
	if (left >= 1 && q[0] < 0x80) {
		*x = q[0];
		L->pos++;
		return 0;
	}
	if (left >= 3) {
		if (q[1] < 0x80) {
			*x = (uint64_t)(q[0] & 0x7F) | (uint64_t)q[1] << 7;
			L->pos += 2;
			return 0;
		}
		if (q[2] < 0x80) {
			*x = (uint64_t)(q[0] & 0x7F) | (uint64_t)(q[1] & 0x7F) << 7 | (uint64_t)q[2] << 14;
			L->pos += 3;
			return 0;
		}
	}
	verr e;
	*x = 0;
	size_t p = L->pos;
	if (val_decode_varint(L->b, L->end, &p, x, &e))
		return fail(L, "bad %s (%s)", what, e.msg);
	L->pos = p;
	return 0;
}

/* an integer in [lo, hi] */
static inline int get_int(ld *L, int64_t lo, int64_t hi, int *out, const char *what)
{
	uint64_t x;
	*out = 0;
	if (get_var(L, &x, what))
		return -1;
	/* hi < lo: an empty range (an index into a table of none) */
	CHECK(hi >= lo && x >= (uint64_t)lo && x <= (uint64_t)hi, "%s %llu out of range [%lld, %lld]", what,
	      (unsigned long long)x, (long long)lo, (long long)hi);
	*out = (int)x;
	return 0;
}

static int get_zz(ld *L, int64_t lo, int64_t hi, int64_t *out, const char *what)
{
	uint64_t x;
	*out = 0;
	if (get_var(L, &x, what))
		return -1;
	int64_t v = (int64_t)(x >> 1) ^ -(int64_t)(x & 1);
	CHECK(v >= lo && v <= hi, "%s %lld out of range", what, (long long)v);
	*out = v;
	return 0;
}

/* a count of items each at least `min` bytes long: checked against what
 * is left before anything is allocated */
static int get_count(ld *L, size_t min, int hi, int *out, const char *what)
{
	uint64_t x;
	*out = 0;
	if (get_var(L, &x, what))
		return -1;
	CHECK(x <= (uint64_t)hi && x * min <= L->end - L->pos, "%s %llu is more than the bytes left", what,
	      (unsigned long long)x);
	*out = (int)x;
	return 0;
}

static int get_bytes(ld *L, size_t n, const uint8_t **out, const char *what)
{
	*out = NULL;
	CHECK(n <= L->end - L->pos, "%s runs past the end of its section", what);
	*out = L->b + L->pos;
	L->pos += n;
	return 0;
}

static int get_f64(ld *L, double lo, double hi, double *out, const char *what)
{
	const uint8_t *q;
	if (get_bytes(L, 8, &q, what))
		return -1;
	uint64_t x = rd64(q);
	double d;
	memcpy(&d, &x, 8);
	L->pos -= 8;
	CHECK(isfinite(d) && d >= lo && d <= hi, "%s is not a number in range", what);
	L->pos += 8;
	*out = d;
	return 0;
}

/* a name: valid UTF-8, no NUL, at most 64 KiB */
static int get_str(ld *L, const char **out, const char *what)
{
	uint64_t n;
	const uint8_t *q;
	if (get_var(L, &n, what))
		return -1;
	CHECK(n <= 65536, "%s is too long", what);
	size_t at = L->pos;
	if (get_bytes(L, (size_t)n, &q, what))
		return -1;
	if (memchr(q, 0, (size_t)n) || !str_utf8_valid((const char *)q, (size_t)n)) {
		L->pos = at;
		return fail(L, "%s is not a valid string", what);
	}
	*out = arena_strndup(L->ar, (const char *)q, (size_t)n);
	return 0;
}

static int get_ostr(ld *L, const char **out, const char *what)
{
	int has;
	*out = NULL;
	if (get_int(L, 0, 1, &has, what))
		return -1;
	return has ? get_str(L, out, what) : 0;
}

static int get_span(ld *L, span *s)
{
	int f;
	if (get_int(L, 0, L->nsrcs, &f, "span file"))
		return -1;
	/* places are bounded by the source size so error carets stay short */
	int64_t lim = f ? (int64_t)L->srclen[f - 1] + 2 : 1 << 16;
	if (lim > INT_MAX)
		lim = INT_MAX;
	if (get_int(L, 0, lim, &s->line, "span line") || get_int(L, 0, lim, &s->col, "span column") ||
	    get_int(L, 0, lim, &s->end_line, "span end line") || get_int(L, 0, lim, &s->end_col, "span end column"))
		return -1;
	s->file = f ? L->fmap[f - 1] : -1;
	return 0;
}

static int get_attrs(ld *L, bc_attrs *a)
{
	int64_t z;
	int n;
	memset(a, 0, sizeof *a);
	if (get_f64(L, 0, 1e9, &a->cpus, "cpus") || get_zz(L, 0, INT64_MAX, &a->memory, "memory"))
		return -1;
	if (get_zz(L, 0, INT_MAX, &z, "retries"))
		return -1;
	a->retries = (int)z;
	if (get_f64(L, 0, 1e18, &a->timeout, "timeout") || get_int(L, 0, 7, &n, "associative"))
		return -1;
	a->associative = n & 1; /* bit 1: @cache, bit 2: @idempotent */
	a->cache = (n & 2) != 0;
	a->idempotent = (n & 4) != 0;
	if (get_zz(L, 0, INT_MAX, &z, "restarts"))
		return -1;
	a->restarts = (int)z;
	if (get_count(L, 9, 1 << 16, &a->nresources, "resource count"))
		return -1;
	a->res_names = arena_alloc(L->ar, sizeof(char *) * (size_t)(a->nresources + 1));
	a->res_amounts = arena_alloc(L->ar, sizeof(double) * (size_t)(a->nresources + 1));
	for (int i = 0; i < a->nresources; i++)
		if (get_str(L, &a->res_names[i], "resource name") ||
		    get_f64(L, 0, 1e18, &a->res_amounts[i], "resource amount"))
			return -1;
	return 0;
}

static int get_native(ld *L, const native_def **out)
{
	int kind;
	const char *m = NULL, *name;
	if (get_int(L, 0, PLAN_NAT_MODULE, &kind, "native kind"))
		return -1;
	if (kind == PLAN_NAT_MODULE && get_str(L, &m, "module name"))
		return -1;
	if (get_str(L, &name, "native name"))
		return -1;
	if (kind == PLAN_NAT_BUILTIN) {
		*out = native_builtin(name);
		CHECK(*out, "unknown builtin '%s'", name);
	} else {
		const module_def *md = native_module(m);
		*out = md ? native_module_fn(md, name) : NULL;
		CHECK(*out, "unknown function '%s.%s'", m, name);
	}
	return 0;
}

static int get_const(ld *L, value *out)
{
	int tag;
	if (get_int(L, 0, PLAN_K_ABSENT, &tag, "constant tag"))
		return -1;
	switch (tag) {
	case PLAN_K_ABSENT:
		*out = native_absent();
		return 0;
	case PLAN_K_PROTO: {
		int i;
		if (get_int(L, 0, L->nprog - 1, &i, "function constant"))
			return -1;
		*out = vm_func_proto(L->all[i]); /* its kind is checked once all are read */
		return 0;
	}
	case PLAN_K_NATIVE: {
		const native_def *d;
		if (get_native(L, &d))
			return -1;
		*out = vm_func_native(d);
		return 0;
	}
	default: {
		uint64_t n;
		verr e;
		if (get_var(L, &n, "constant length"))
			return -1;
		CHECK(n <= L->end - L->pos, "constant runs past the end of its section");
		const uint8_t *q = L->b + L->pos;
		if (n >= 3 && q[0] == ENC_VERSION && q[1] == ENC_INT) {
			/* an int (a node's argument, most often): what val_decode
			 * does for one, without its general machinery */
			size_t at = 2;
			uint64_t z = 0;
			if (n == 3 && q[2] < 0x80) { /* the varint's one byte, inline */
				z = q[2];
				at = 3;
			} else if (n == 4 && (q[2] & 0x80) && q[3] < 0x80) {
				z = (uint64_t)(q[2] & 0x7F) | (uint64_t)q[3] << 7;
				at = 4;
			} else if (n == 5 && (q[2] & 0x80) && (q[3] & 0x80) && q[4] < 0x80) {
				z = (uint64_t)(q[2] & 0x7F) | (uint64_t)(q[3] & 0x7F) << 7 | (uint64_t)q[4] << 14;
				at = 5;
			}
			if (at == n || (val_decode_varint(q, (size_t)n, &at, &z, &e) == 0 && at == n)) {
				*out = v_int((int64_t)((z >> 1) ^ (0 - (z & 1))));
				L->pos += (size_t)n;
				return 0;
			}
		}
		if (val_decode(q, (size_t)n, out, &e))
			return fail(L, "bad constant: %s", e.msg);
		val_freeze(*out);
		L->pos += (size_t)n;
		return 0;
	}
	}
}

/* ---- sections -------------------------------------------------------------- */

static int read_sources(ld *L)
{
	if (get_count(L, 2, 1 << 20, &L->nsrcs, "source count"))
		return -1;
	L->fmap = calloc((size_t)L->nsrcs + 1, sizeof(int));
	L->srclen = calloc((size_t)L->nsrcs + 1, sizeof(size_t));
	if (!L->fmap || !L->srclen)
		abort();
	for (int f = 0; f < L->nsrcs; f++) {
		const char *path;
		uint64_t n;
		const uint8_t *q;
		if (get_str(L, &path, "source path") || get_var(L, &n, "source length"))
			return -1;
		CHECK(n <= L->end - L->pos, "source text runs past the end of its section");
		if (get_bytes(L, (size_t)n, &q, "source text"))
			return -1;
		L->fmap[f] = diag_add_source(L->d, path, (const char *)q, (size_t)n);
		L->srclen[f] = (size_t)n;
	}
	return 0;
}

static int read_modules(ld *L)
{
	bc_program *p = L->p;
	for (int m = 0; m < p->nmodules; m++) {
		bc_module *mod = &p->modules[m];
		int init;
		if (get_str(L, &mod->path, "module path") || get_str(L, &mod->name, "module name") ||
		    get_count(L, 2, 1 << 20, &mod->nglobals, "global count"))
			return -1;
		mod->global_names = arena_alloc(L->ar, sizeof(char *) * (size_t)(mod->nglobals + 1));
		mod->globals = arena_alloc(L->ar, sizeof(value) * (size_t)(mod->nglobals + 1));
		for (int g = 0; g < mod->nglobals; g++) {
			if (get_str(L, &mod->global_names[g], "global name") || get_const(L, &mod->globals[g]))
				return -1;
			L->ndecoded[m] = g + 1;
		}
		if (get_int(L, 0, L->nall, &init, "module init"))
			return -1;
		CHECK(init == 0 || init > L->nprog, "module init %d is one of the program's protos", init - 1);
		mod->init = init ? L->all[init - 1] : NULL;
	}
	return 0;
}

static int read_proto(ld *L, bc_proto *x, int index)
{
	bc_program *p = L->p;
	int kind, actor;
	x->index = index < L->nprog ? index : -1;
	if (get_int(L, 0, PROTO_INIT, &kind, "proto kind"))
		return -1;
	x->kind = (bc_proto_kind)kind;
	if (get_str(L, &x->name, "proto name") || get_int(L, 0, p->nmodules - 1, &x->module, "proto module") ||
	    get_span(L, &x->where) || get_count(L, 2, 255, &x->nparams, "parameter count"))
		return -1;
	x->params = arena_alloc(L->ar, sizeof(bc_param) * (size_t)(x->nparams + 1));
	x->ptcode = arena_alloc(L->ar, (size_t)x->nparams + 1);
	for (int i = 0; i < x->nparams; i++) {
		bc_param *pa = &x->params[i];
		int hd;
		if (get_str(L, &pa->name, "parameter name") || get_ostr(L, &pa->type, "parameter type") ||
		    get_int(L, 0, 1, &hd, "has-default flag"))
			return -1;
		if (hd && get_const(L, &pa->deflt))
			return -1;
		pa->has_default = hd;
		x->ptcode[i] = (uint8_t)bc_tcode(pa->type);
		if (x->ptcode[i] != BC_T_ANY)
			x->checks = true;
	}
	if (get_ostr(L, &x->ret_type, "return type") || get_attrs(L, &x->attrs) ||
	    get_int(L, 0, p->nactors, &actor, "proto actor"))
		return -1;
	x->ret_tcode = (uint8_t)bc_tcode(x->ret_type);
	x->actor = actor ? p->actors[actor - 1] : NULL;
	if (get_int(L, 1, 256, &x->nregs, "register count"))
		return -1;
	CHECK(x->nparams <= x->nregs, "more parameters than registers");
	if (get_count(L, 4, INT_MAX / 4, &x->ncode, "code length"))
		return -1;
	CHECK(x->ncode > 0, "empty code");
	x->code = malloc(sizeof(uint32_t) * (size_t)x->ncode);
	x->lines = malloc(sizeof(span) * (size_t)x->ncode);
	if (!x->code || !x->lines)
		abort();
	for (int i = 0; i < x->ncode; i++)
		x->code[i] = rd32(L->b + L->pos + 4 * (size_t)i);
	L->pos += 4 * (size_t)x->ncode;
	int nk;
	if (get_count(L, 1, 65536, &nk, "constant count"))
		return -1;
	x->consts = malloc(sizeof(value) * (size_t)(nk + 1));
	if (!x->consts)
		abort();
	for (int i = 0; i < nk; i++) {
		if (get_const(L, &x->consts[i]))
			return -1;
		x->nconsts = i + 1;
	}
	for (int i = 0; i < x->ncode; i++)
		if (get_span(L, &x->lines[i]))
			return -1;
	if (get_count(L, 2, 256, &x->nnatives, "native count"))
		return -1;
	x->natives = arena_alloc(L->ar, sizeof(*x->natives) * (size_t)(x->nnatives + 1));
	for (int i = 0; i < x->nnatives; i++)
		if (get_native(L, &x->natives[i]))
			return -1;
	if (get_count(L, 2, 256, &x->nmsites, "method site count"))
		return -1;
	x->msites = arena_alloc(L->ar, sizeof(bc_msite) * (size_t)(x->nmsites + 1));
	for (int i = 0; i < x->nmsites; i++) {
		bc_msite *s = &x->msites[i];
		if (get_str(L, &s->name, "method name") || get_count(L, 1, NATIVE_MAX_PARAMS * 4, &s->nkw, "keyword count"))
			return -1;
		s->kwnames = arena_alloc(L->ar, sizeof(char *) * (size_t)(s->nkw + 1));
		for (int j = 0; j < s->nkw; j++)
			if (get_str(L, &s->kwnames[j], "keyword name"))
				return -1;
		for (int t = V_STR; t < V__COUNT; t++) {
			s->by_type[t] = native_method((vtype)t, s->name);
			s->params[t] = s->by_type[t] ? native_params_of(s->by_type[t]) : NULL;
		}
		s->mutates = vm_method_mutates(s->name);
	}
	return 0;
}

static int read_actors(ld *L, char *owned)
{
	bc_program *p = L->p;
	for (int i = 0; i < p->nactors; i++) {
		bc_actor *a = p->actors[i];
		int init;
		a->index = i;
		if (get_str(L, &a->name, "actor name") || get_int(L, 0, p->nmodules - 1, &a->module, "actor module") ||
		    get_span(L, &a->where) || get_attrs(L, &a->attrs) || get_int(L, 0, L->nprog, &init, "actor init"))
			return -1;
		if (init) {
			bc_proto *x = L->all[init - 1];
			CHECK(x->kind == PROTO_INIT && x->actor == a && !owned[init - 1], "bad init of actor '%s'", a->name);
			owned[init - 1] = 1;
			a->init = x;
		}
		if (get_count(L, 1, 1 << 20, &a->nmethods, "method count"))
			return -1;
		a->methods = arena_alloc(L->ar, sizeof(bc_proto *) * (size_t)(a->nmethods + 1));
		for (int j = 0; j < a->nmethods; j++) {
			int m;
			if (get_int(L, 0, L->nprog - 1, &m, "method proto"))
				return -1;
			bc_proto *x = L->all[m];
			CHECK(x->kind == PROTO_METHOD && x->actor == a && !owned[m], "bad method of actor '%s'", a->name);
			owned[m] = 1;
			a->methods[j] = x;
		}
	}
	return 0;
}

/* ---- the DAG ------------------------------------------------------------------ */

static bool func_ok(value v);

/* The next PLAN_K_SAME entry: a list or dict just read item by item. */
static int remember(ld *L, value v)
{
	if (L->nsame == L->capsame) {
		uint32_t c = L->capsame ? L->capsame * 2 : 64;
		value *p = realloc(L->same, sizeof *p * c);
		if (!p)
			abort();
		L->same = p;
		L->capsame = c;
	}
	val_freeze(v);
	L->same[L->nsame++] = val_hold(v);
	return 0;
}

/* One node input (plan_write.c put_input) of node `cur`: references must
 * name earlier nodes, futures non-actor nodes and handles actor nodes. */
static int get_input(ld *L, uint32_t cur, value *out, int depth)
{
	dag *d = L->dag;
	int tag;
	*out = v_none();
	CHECK(depth <= PLAN_IN_MAX_DEPTH, "node input nested more than %d levels deep", PLAN_IN_MAX_DEPTH);
	size_t at = L->pos;
	if (get_int(L, 0, PLAN_K_SAME, &tag, "node input tag"))
		return -1;
	switch (tag) {
	case PLAN_K_SAME: {
		uint64_t k;
		if (get_var(L, &k, "shared part index"))
			return -1;
		CHECK(k < L->nsame, "shared part %llu of a node input is not an earlier one",
		      (unsigned long long)k);
		*out = val_hold(L->same[k]);
		return 0;
	}
	case PLAN_K_FUTURE:
	case PLAN_K_ACTOR: {
		uint64_t id;
		if (get_var(L, &id, "node reference"))
			return -1;
		CHECK(id < cur, "node %u refers to node %llu, which is not an earlier node", cur, (unsigned long long)id);
		bool actor = d->nodes[id].kind == DAG_ACTOR;
		CHECK(actor == (tag == PLAN_K_ACTOR), "node %u refers to node %llu as %s", cur,
		      (unsigned long long)id, actor ? "a future, but it makes an actor" : "an actor, but it is no actor node");
		*out = val_hold(d->fut[id]);
		return 0;
	}
	case PLAN_K_LIST: {
		int n;
		if (get_count(L, 2, 1 << 24, &n, "node input list length"))
			return -1;
		value l = list_new((size_t)n);
		for (int i = 0; i < n; i++) {
			value x;
			if (get_input(L, cur, &x, depth + 1)) {
				val_rele(l);
				return -1;
			}
			list_append_take(l, x);
		}
		*out = l;
		return remember(L, l);
	}
	case PLAN_K_DICT: {
		int n;
		if (get_count(L, 4, 1 << 24, &n, "node input dict length"))
			return -1;
		value m = dict_new((size_t)n);
		for (int i = 0; i < n; i++) {
			value k, x, old;
			size_t kat = L->pos;
			if (get_input(L, cur, &k, depth + 1)) { /* a future is a key too ({ref: i}) */
				val_rele(m);
				return -1;
			}
			int bad = 0;
			if (dict_get(m, k, &old)) {
				L->pos = kat;
				bad = fail(L, "duplicate key in a node input dict");
			} else if (get_input(L, cur, &x, depth + 1)) {
				bad = -1;
			} else {
				verr e;
				if (dict_set(m, k, x, &e)) {
					L->pos = kat;
					bad = fail(L, "bad node input dict key: %s", e.msg);
				}
				val_rele(x);
			}
			val_rele(k);
			if (bad) {
				val_rele(m);
				return -1;
			}
		}
		*out = m;
		return remember(L, m);
	}
	default:
		L->pos = at; /* a constant: it reads its own tag */
		if (get_const(L, out))
			return -1;
		if (!func_ok(*out)) {
			val_rele(*out);
			*out = v_none();
			L->pos = at;
			return fail(L, "node %u: an input names a method", cur);
		}
		return 0;
	}
}

/* The checks of one node's header against the program (before its inputs
 * are read). regs/nregs: for IMPLICIT/EFFECT, the registers it reads. */
static int check_node(ld *L, uint32_t id, const dag_node *n, uint8_t *regs, int *nregs)
{
	const bc_program *p = L->p;
	const dag *d = L->dag;
	*nregs = 0;
	switch ((dag_kind)n->kind) {
	case DAG_TASK: {
		CHECK(n->proto < (uint32_t)p->nprotos && p->protos[n->proto]->kind == PROTO_TASK,
		      "node %u: proto %u is not a task", id, n->proto);
		CHECK(n->nin == p->protos[n->proto]->nparams, "node %u: %u inputs for task '%s' of %d parameters", id,
		      n->nin, p->protos[n->proto]->name, p->protos[n->proto]->nparams);
		break;
	}
	case DAG_ACTOR: {
		CHECK(n->proto < (uint32_t)p->nactors, "node %u: actor class %u out of range", id, n->proto);
		const bc_actor *a = p->actors[n->proto];
		int np = a->init ? a->init->nparams : 0;
		CHECK(n->nin == np, "node %u: %u inputs for actor '%s' whose init takes %d", id, n->nin, a->name, np);
		break;
	}
	case DAG_METHOD: {
		CHECK(n->pc < id && d->nodes[n->pc].kind == DAG_ACTOR, "node %u: actor node %u is not an earlier actor node",
		      id, n->pc);
		const bc_actor *a = p->actors[d->nodes[n->pc].proto];
		CHECK(n->proto < (uint32_t)p->nprotos && p->protos[n->proto]->kind == PROTO_METHOD &&
		      p->protos[n->proto]->actor == a, "node %u: proto %u is not a method of actor '%s'", id, n->proto, a->name);
		CHECK(n->nin == p->protos[n->proto]->nparams, "node %u: %u inputs for method '%s' of %d parameters", id,
		      n->nin, p->protos[n->proto]->name, p->protos[n->proto]->nparams);
		break;
	}
	case DAG_IMPLICIT:
	case DAG_EFFECT: {
		const bc_proto *x = plan_node_proto(p, n->proto);
		CHECK(x, "node %u: proto %u out of range", id, n->proto);
		int outs = 0;
		int k = n->pc < (uint32_t)x->ncode ? vm_insn_inputs(p, x, (int)n->pc, regs, 256, &outs) : -1;
		CHECK(k >= 0, "node %u: instruction %u of '%s' cannot be a node", id, n->pc, x->name);
		CHECK(n->nin == k, "node %u: %u inputs for an instruction that reads %d registers", id, n->nin, k);
		for (int j = 0; j < k; j++)
			CHECK(regs[j] < x->nregs, "node %u: input register %d is not below %d", id, regs[j], x->nregs);
		uint32_t i = x->code[n->pc];
		bool ok = (outs & 1) ? n->out == BC_A(i) : false;
		if (outs & 6)
			ok = ok || n->out == BC_B(i) || n->out == BC_C(i);
		CHECK(ok && n->out < x->nregs, "node %u: %s at pc %u of '%s' does not write register %d", id,
		      bc_op_names[BC_OP(i)], n->pc, x->name, n->out);
		*nregs = k;
		break;
	}
	case DAG_PUT:
		CHECK(n->nin == 1, "node %u: put has %u inputs", id, n->nin);
		break;
	case DAG_CONT:
		CHECK(n->proto == DAG_PROTO_DRIVER, "node %u: a continuation of another proto", id);
		break;
	case DAG__KINDS:
		break;
	}
	return 0;
}

/* The common node header, every field one byte (kind, out, nin, proto,
 * pc, and a span in a known file): read with one check of the bytes and
 * the same range checks as the general path (get_int, get_count,
 * get_span), which reads anything else and says what is wrong. True
 * when it read the header. */
static inline bool header_fast(ld *L, int *kind, int *out, int *nin, uint64_t *proto, uint64_t *pc, span *w)
{
	const uint8_t *q = L->b + L->pos;
	if (L->end - L->pos < 10)
		return false;
	uint64_t w0, w1;
	memcpy(&w0, q, 8);
	memcpy(&w1, q + 2, 8);
	if (((w0 | w1) & 0x8080808080808080ull) != 0)
		return false;
	int f = q[5];
	if (q[0] > DAG__KINDS - 1 || f > L->nsrcs || (size_t)q[2] * 2 > L->end - L->pos - 10)
		return false;
	int64_t lim = f ? (int64_t)L->srclen[f - 1] + 2 : 1 << 16;
	if (q[6] > lim || q[7] > lim || q[8] > lim || q[9] > lim)
		return false;
	*kind = q[0];
	*out = q[1];
	*nin = q[2];
	*proto = q[3];
	*pc = q[4];
	w->file = f ? L->fmap[f - 1] : -1;
	w->line = q[6];
	w->col = q[7];
	w->end_line = q[8];
	w->end_col = q[9];
	L->pos += 10;
	return true;
}

/* A node input that is an int constant of one to three varint bytes
 * (PLAN_K_VALUE, length, ENC_VERSION, ENC_INT, varint): a task's
 * argument, most often. What get_input and get_const make of it, read
 * inline; false (nothing read) for anything else. */
static inline bool int_input_fast(ld *L, value *out)
{
	const uint8_t *q = L->b + L->pos;
	size_t left = L->end - L->pos;
	if (left < 5 || q[0] != PLAN_K_VALUE || q[1] < 3 || q[1] > 5 || (size_t)q[1] + 2 > left ||
	    q[2] != ENC_VERSION || q[3] != ENC_INT)
		return false;
	uint64_t z;
	switch (q[1]) {
	case 3:
		if (q[4] & 0x80)
			return false;
		z = q[4];
		break;
	case 4:
		if (!(q[4] & 0x80) || (q[5] & 0x80))
			return false;
		z = (uint64_t)(q[4] & 0x7F) | (uint64_t)q[5] << 7;
		break;
	default:
		if (!(q[4] & 0x80) || !(q[5] & 0x80) || (q[6] & 0x80))
			return false;
		z = (uint64_t)(q[4] & 0x7F) | (uint64_t)(q[5] & 0x7F) << 7 | (uint64_t)q[6] << 14;
		break;
	}
	*out = v_int((int64_t)((z >> 1) ^ (0 - (z & 1))));
	L->pos += (size_t)q[1] + 2;
	return true;
}

static int read_nodes(ld *L)
{
	dag *d = L->dag;
	int n;
	/* kind, out, nin, proto, pc and a span: at least 10 bytes a node */
	if (get_count(L, 10, 1 << 24, &n, "node count"))
		return -1;
	/* the count is bounded by the bytes left; inputs: one a node to start
	 * with (untouched room costs address space, not memory) */
	dag_reserve(d, (uint32_t)n, (uint32_t)n);
	uint8_t regs[256], inreg[65536];
	/* grown to the widest node: a fixed 1 MiB was an mmap and munmap
	 * at every load */
	value *ins = NULL;
	int capins = 0;
	int rc = 0;
	for (uint32_t id = 0; id < (uint32_t)n && !rc; id++) {
		dag_node nd = {0};
		int kind, out, nin, nr = 0;
		uint64_t proto, pc;
		size_t at = L->pos;
		if (!header_fast(L, &kind, &out, &nin, &proto, &pc, &nd.where)) {
			rc = get_int(L, 0, DAG__KINDS - 1, &kind, "node kind") ||
			     get_int(L, 0, 255, &out, "node output register") ||
			     get_count(L, 2, 65535, &nin, "node input count") || get_var(L, &proto, "node proto") ||
			     get_var(L, &pc, "node pc") || get_span(L, &nd.where);
			if (rc)
				break;
		}
		if (proto > UINT32_MAX || pc > UINT32_MAX) {
			L->pos = at;
			rc = fail(L, "node %u: proto or pc out of range", id);
			break;
		}
		nd.kind = (uint8_t)kind;
		nd.out = (uint8_t)out;
		nd.nin = (uint16_t)nin;
		nd.proto = (uint32_t)proto;
		nd.pc = (uint32_t)pc;
		size_t body = L->pos;
		L->pos = at;
		if ((rc = check_node(L, id, &nd, regs, &nr)))
			break;
		L->pos = body;
		bool implicit = kind == DAG_IMPLICIT || kind == DAG_EFFECT;
		if (nin > capins) {
			capins = nin > 2 * capins ? nin : 2 * capins;
			ins = realloc(ins, sizeof *ins * (size_t)capins);
			if (!ins)
				abort();
		}
		int got = 0;
		while (got < nin) {
			int r = 0;
			size_t rat = L->pos;
			if (implicit && get_int(L, 0, 255, &r, "input register")) {
				rc = -1;
				break;
			}
			if (implicit && r != regs[got]) {
				L->pos = rat;
				rc = fail(L, "node %u: input %d is register %d, not %d", id, got, r, regs[got]);
				break;
			}
			inreg[got] = (uint8_t)r;
			if (!int_input_fast(L, &ins[got]) && get_input(L, id, &ins[got], 0)) {
				rc = -1;
				break;
			}
			got++;
		}
		if (!rc)
			dag_add(d, (dag_kind)kind, nd.proto, nd.pc, out, ins, implicit ? inreg : NULL, nin, nd.where);
		for (int j = 0; j < got; j++)
			val_rele(ins[j]); /* dag_add holds its own */
	}
	free(ins);
	return rc;
}

/* The staged driver's frames: frame 0 the driver, each next one an fn
 * called at its caller's pc, registers inside the DAG_CONT node's
 * inputs; the types each register may hold at its frame's pc (the type
 * flow's, so a resumed driver never meets a value its code cannot take)
 * are kept for vm_resume to check the values against. */
static int read_cont(ld *L)
{
	dag *d = L->dag;
	int nf;
	if (get_count(L, 3, 63, &nf, "driver frame count"))
		return -1;
	int64_t cn = -1;
	for (uint32_t v = 0; v < d->n; v++)
		if (d->nodes[v].kind == DAG_CONT) {
			CHECK(cn < 0, "node %u: a second driver continuation", v);
			cn = v;
		}
	CHECK((nf > 0) == (cn >= 0), "%s", nf ? "driver frames without a continuation node"
	                                      : "a continuation node without driver frames");
	if (!nf)
		return 0;
	const dag_node *n = &d->nodes[cn];
	d->cont.frames = calloc((size_t)nf, sizeof *d->cont.frames);
	d->cont.masks = calloc((size_t)n->nin + 1, sizeof *d->cont.masks);
	if (!d->cont.frames || !d->cont.masks)
		abort();
	d->cont.nframes = (uint32_t)nf;
	uint32_t end = 0;
	for (int j = 0; j < nf; j++) {
		uint64_t pr, pc, base;
		if (get_var(L, &pr, "frame proto") || get_var(L, &pc, "frame pc") || get_var(L, &base, "frame base"))
			return -1;
		const bc_proto *x = j == 0 ? (pr == DAG_PROTO_DRIVER ? L->p->driver : NULL)
		                           : (pr < (uint64_t)L->p->nprotos && L->p->protos[pr]->kind == PROTO_FN
		                                  ? L->p->protos[pr] : NULL);
		CHECK(x, "driver frame %d: proto %llu is not %s", j, (unsigned long long)pr, j ? "an fn" : "the driver");
		CHECK(pc < (uint64_t)x->ncode && BC_OP(x->code[pc]) != OP_EXTRAARG, "driver frame %d: pc %llu", j,
		      (unsigned long long)pc);
		CHECK(base == end || (j > 0 && base >= d->cont.frames[j - 1].base && base < end),
		      "driver frame %d: registers at %llu", j, (unsigned long long)base);
		if (j > 0) {
			/* an fn's frame starts at its caller's call: R(A) of a CALL or CALLP */
			const dag_cont_frame *cf = &d->cont.frames[j - 1];
			const bc_proto *cx = cf->proto == DAG_PROTO_DRIVER ? L->p->driver : L->p->protos[cf->proto];
			int cpc = (int)cf->pc - 1;
			if (cpc > 0 && BC_OP(cx->code[cpc]) == OP_EXTRAARG)
				cpc--;
			CHECK(cpc >= 0 && (BC_OP(cx->code[cpc]) == OP_CALLP || BC_OP(cx->code[cpc]) == OP_CALL) &&
			      cf->base + BC_A(cx->code[cpc]) == base, "driver frame %d: not called by frame %d", j, j - 1);
		}
		/* the last frame ends at the node's inputs; a caller's frame may
		 * reach past them: its registers from its call's R(A) on are its
		 * callee's (a caller's temporaries above a call are dead) */
		CHECK(base <= n->nin && (j < nf - 1 || base + (uint64_t)x->nregs <= n->nin),
		      "driver frame %d: registers beyond the node's inputs", j);
		d->cont.frames[j] = (dag_cont_frame){ (uint32_t)pr, (uint32_t)pc, (uint32_t)base };
		end = (uint32_t)base + (uint32_t)x->nregs;
		uint32_t *want = calloc((size_t)x->nregs + 1, sizeof *want);
		if (!want)
			abort();
		char *e = NULL;
		int rc = bc_verify_proto_at(L->p, x, false, (int)pc, want, &e);
		/* a callee's frame (next) overlaps its caller's registers from
		 * R(A) on: its masks replace these */
		for (int r = 0; r < x->nregs && base + (uint64_t)r < n->nin && !rc; r++)
			d->cont.masks[base + (uint32_t)r] = want[r];
		free(want);
		if (rc) {
			fail(L, "%s", e ? e : "bad code");
			free(e);
			return -1;
		}
	}
	CHECK(end == n->nin, "driver frames hold %u registers, the node %u", end, n->nin);
	const char *why;
	if (get_str(L, &why, "driver continuation reason"))
		return -1;
	d->cont.why = strdup(why);
	if (!d->cont.why)
		abort();
	return 0;
}

static int read_edges(ld *L)
{
	dag *d = L->dag;
	int n;
	if (get_count(L, 2, 1 << 28, &n, "ordering edge count"))
		return -1;
	for (int i = 0; i < n; i++) {
		uint64_t from, to;
		size_t at = L->pos;
		if (get_var(L, &from, "edge source") || get_var(L, &to, "edge target"))
			return -1;
		size_t next = L->pos;
		L->pos = at;
		CHECK(from < to && to < d->n, "ordering edge %llu -> %llu does not go from an earlier node to a later one",
		      (unsigned long long)from, (unsigned long long)to);
		L->pos = next;
		dag_order(d, (uint32_t)from, (uint32_t)to);
	}
	if (get_count(L, 9, 1 << 24, &n, "rewrite count"))
		return -1;
	d->rewrites = calloc((size_t)n + 1, sizeof *d->rewrites);
	if (!d->rewrites)
		abort();
	for (int i = 0; i < n; i++) {
		dag_rewrite *r = &d->rewrites[i];
		uint64_t x[4];
		if (get_span(L, &r->where))
			return -1;
		for (int j = 0; j < 4; j++)
			if (get_var(L, &x[j], "rewrite field"))
				return -1;
		CHECK(x[0] < (uint64_t)L->p->nprotos && L->p->protos[x[0]]->kind == PROTO_TASK,
		      "rewrite %d: proto %llu is not a task", i, (unsigned long long)x[0]);
		CHECK(x[1] <= UINT32_MAX && x[2] <= UINT32_MAX && x[3] <= UINT32_MAX, "rewrite %d: a count is out of range", i);
		r->proto = (uint32_t)x[0];
		r->calls = (uint32_t)x[1];
		r->depth_before = (uint32_t)x[2];
		r->depth_after = (uint32_t)x[3];
		d->nrewrites = (uint32_t)i + 1;
	}
	return read_cont(L);
}

/* ---- the whole plan ------------------------------------------------------------ */

typedef struct secinfo {
	uint64_t off, len;
	bool found;
} secinfo;

static int enter(ld *L, const secinfo *s)
{
	L->pos = (size_t)s->off;
	L->end = (size_t)(s->off + s->len);
	return 0;
}

static int leave(ld *L, const char *what)
{
	CHECK(L->pos == L->end, "%zu stray bytes at the end of the %s section", L->end - L->pos, what);
	return 0;
}

static void release_proto(bc_proto *x)
{
	for (int i = 0; i < x->nconsts; i++)
		val_rele(x->consts[i]);
	for (int i = 0; i < x->nparams; i++)
		val_rele(x->params[i].deflt);
	free(x->code);
	free(x->consts);
	free(x->lines);
}

static bool func_ok(value v)
{
	if (v.t != V_FUNC || v.as.o->extra != FUNC_PROTO)
		return true;
	bc_proto_kind k = ((const vfunc *)v.as.o)->proto->kind;
	return k == PROTO_FN || k == PROTO_TASK;
}

static int load(ld *L, size_t len)
{
	const uint8_t *b = L->b;
	L->pos = 0;
	CHECK(len >= PLAN_MAGIC_LEN && memcmp(b, PLAN_MAGIC, PLAN_MAGIC_LEN) == 0, "no FLOWPLAN magic");
	L->pos = PLAN_MAGIC_LEN;
	CHECK(len >= PLAN_MAGIC_LEN + 4, "truncated header");
	uint32_t version = rd32(b + PLAN_MAGIC_LEN);
	CHECK(version <= PLAN_VERSION, "made by a newer flow (plan format %u; this flow reads %u)", version, PLAN_VERSION);
	CHECK(version == PLAN_VERSION, "plan format %u is not supported", version);
	L->pos = 0;
	CHECK(len >= PLAN_HEADER_LEN + PLAN_SUM_LEN, "truncated (%zu bytes)", len);
	size_t body = len - PLAN_SUM_LEN;
	uint8_t h[32];
	plan_sha256(b, body, h);
	L->pos = body;
	CHECK(memcmp(h, b + body, 32) == 0, "checksum mismatch (the file is damaged or truncated)");
	L->pos = PLAN_MAGIC_LEN + 4;
	CHECK(rd32(b + PLAN_MAGIC_LEN + 4) == 0, "unknown header flags");
	uint32_t nsec = rd32(b + PLAN_HEADER_LEN - 4);
	L->pos = PLAN_HEADER_LEN - 4;
	CHECK(nsec <= (body - PLAN_HEADER_LEN) / PLAN_SECENT_LEN, "section count %u is more than the bytes left", nsec);
	size_t data = PLAN_HEADER_LEN + (size_t)nsec * PLAN_SECENT_LEN;
	secinfo sec[PLAN_SEC_EDGES + 1] = {0};
	uint64_t prev_end = data;
	for (uint32_t s = 0; s < nsec; s++) {
		const uint8_t *e = b + PLAN_HEADER_LEN + (size_t)s * PLAN_SECENT_LEN;
		L->pos = (size_t)(e - b);
		uint32_t id = rd32(e), flags = rd32(e + 4);
		uint64_t off = rd64(e + 8), sl = rd64(e + 16);
		/* sections are laid out in table order, back to back */
		CHECK(off == prev_end && sl <= body - off, "section %u lies outside the plan", id);
		prev_end = off + sl;
		CHECK((flags & ~PLAN_SEC_REQUIRED) == 0, "section %u has unknown flags", id);
		bool known = (id >= PLAN_SEC_OPTIONS && id <= PLAN_SEC_PROGRAM) || id == PLAN_SEC_NODES ||
		             id == PLAN_SEC_EDGES;
		if (!known) {
			CHECK(!(flags & PLAN_SEC_REQUIRED), "made by a newer flow (required section %u is unknown)", id);
			continue;
		}
		CHECK(!sec[id].found, "section %u appears twice", id);
		sec[id] = (secinfo){ off, sl, true };
	}
	L->pos = data;
	CHECK(prev_end == body, "bytes between the sections and the checksum");
	for (int id = PLAN_SEC_SOURCES; id <= PLAN_SEC_PROGRAM; id++)
		CHECK(sec[id].found, "section %d is missing", id);

	bc_program *p = L->p;
	/* options: the -p values it was compiled with (informational) */
	if (sec[PLAN_SEC_OPTIONS].found) {
		enter(L, &sec[PLAN_SEC_OPTIONS]);
		int n;
		if (get_count(L, 2, 1 << 20, &n, "option count"))
			return -1;
		for (int i = 0; i < n; i++) {
			const char *k, *t;
			if (get_str(L, &k, "param name") || get_str(L, &t, "param value"))
				return -1;
		}
		if (leave(L, "options"))
			return -1;
	}
	enter(L, &sec[PLAN_SEC_SOURCES]);
	if (read_sources(L) || leave(L, "sources"))
		return -1;
	/* the counts first, so references can be checked as they are read */
	uint64_t drv;
	enter(L, &sec[PLAN_SEC_PROGRAM]);
	if (get_int(L, 0, 1 << 24, &L->nprog, "program proto count") || get_var(L, &drv, "driver") ||
	    leave(L, "program"))
		return -1;
	enter(L, &sec[PLAN_SEC_PROTOS]);
	if (get_count(L, 8, 1 << 24, &L->nall, "proto count"))
		return -1;
	size_t protos_at = L->pos;
	L->pos = sec[PLAN_SEC_PROGRAM].off;
	CHECK(L->nprog <= L->nall, "more program protos than protos");
	CHECK(drv > (uint64_t)L->nprog && drv <= (uint64_t)L->nall, "the driver is missing or one of the program's protos");
	int driver = (int)drv;
	enter(L, &sec[PLAN_SEC_ACTORS]);
	if (get_count(L, 8, 1 << 20, &p->nactors, "actor count"))
		return -1;
	size_t actors_at = L->pos;
	enter(L, &sec[PLAN_SEC_MODULES]);
	if (get_count(L, 4, 1 << 20, &p->nmodules, "module count"))
		return -1;
	CHECK(p->nmodules > 0, "no modules");
	L->all = arena_alloc(L->ar, sizeof(bc_proto *) * (size_t)(L->nall + 1));
	for (int i = 0; i < L->nall; i++)
		L->all[i] = arena_alloc(L->ar, sizeof(bc_proto));
	p->actors = arena_alloc(L->ar, sizeof(bc_actor *) * (size_t)(p->nactors + 1));
	for (int i = 0; i < p->nactors; i++)
		p->actors[i] = arena_alloc(L->ar, sizeof(bc_actor));
	p->modules = arena_alloc(L->ar, sizeof(bc_module) * (size_t)(p->nmodules + 1));
	L->ndecoded = calloc((size_t)p->nmodules + 1, sizeof(int));
	if (!L->ndecoded)
		abort();
	if (read_modules(L) || leave(L, "modules"))
		return -1;
	enter(L, &sec[PLAN_SEC_PROTOS]);
	L->pos = protos_at;
	for (int i = 0; i < L->nall; i++)
		if (read_proto(L, L->all[i], i))
			return -1;
	if (leave(L, "protos"))
		return -1;
	char *owned = calloc((size_t)L->nall + 1, 1);
	if (!owned)
		abort();
	enter(L, &sec[PLAN_SEC_ACTORS]);
	L->pos = actors_at;
	int rc = read_actors(L, owned) || leave(L, "actors");
	/* every proto in its place: the program's, then module inits and the
	 * driver, each used once */
	L->pos = sec[PLAN_SEC_PROTOS].off;
	for (int i = 0; i < L->nall && !rc; i++) {
		bc_proto *x = L->all[i];
		bool method = x->kind == PROTO_METHOD || x->kind == PROTO_INIT;
		if (i < L->nprog) {
			if (x->kind == PROTO_DRIVER || (x->actor != NULL) != method || (method && !owned[i]))
				rc = fail(L, "proto %d ('%s') is not in its place", i, x->name);
		} else if (i == driver - 1) {
			if (x->kind != PROTO_DRIVER || x->actor || x->module != 0 || x->nparams)
				rc = fail(L, "the driver is not a driver");
		} else {
			int m = 0;
			while (m < p->nmodules && p->modules[m].init != x)
				m++;
			if (m == p->nmodules || x->kind != PROTO_FN || x->actor || x->nparams || x->module != m)
				rc = fail(L, "proto %d ('%s') is not a module init", i, x->name);
			for (int m2 = m + 1; m2 < p->nmodules && !rc; m2++)
				if (p->modules[m2].init == x)
					rc = fail(L, "proto %d is the init of two modules", i);
		}
		for (int j = 0; j < x->nconsts && !rc; j++)
			if (!func_ok(x->consts[j]))
				rc = fail(L, "proto %d: a function constant names a method", i);
		for (int j = 0; j < x->nparams && !rc; j++)
			if (!func_ok(x->params[j].deflt))
				rc = fail(L, "proto %d: a default names a method", i);
	}
	for (int m = 0; m < p->nmodules && !rc; m++)
		for (int g = 0; g < p->modules[m].nglobals && !rc; g++)
			if (!func_ok(p->modules[m].globals[g]))
				rc = fail(L, "module %d: a global names a method", m);
	free(owned);
	if (rc)
		return -1;
	p->protos = L->all;
	p->nprotos = L->nprog;
	p->driver = L->all[driver - 1];
	for (int i = 0; i < L->nall; i++) {
		char *e = NULL;
		if (bc_verify_proto(p, L->all[i], i >= L->nprog && i != driver - 1, &e)) {
			fail(L, "%s", e ? e : "bad code");
			free(e);
			return -1;
		}
	}
	/* the DAG: both sections or neither; checked only now, against the
	 * verified program */
	if (!sec[PLAN_SEC_NODES].found && !sec[PLAN_SEC_EDGES].found)
		return 0;
	L->pos = data;
	CHECK(sec[PLAN_SEC_NODES].found && sec[PLAN_SEC_EDGES].found, "the DAG needs both its nodes and edges sections");
	L->dag = dag_new(p);
	enter(L, &sec[PLAN_SEC_NODES]);
	if (read_nodes(L) || leave(L, "nodes"))
		return -1;
	enter(L, &sec[PLAN_SEC_EDGES]);
	if (read_edges(L) || leave(L, "edges"))
		return -1;
	L->pos = sec[PLAN_SEC_EDGES].off;
	CHECK(dag_finalize(L->dag) == 0, "a DAG edge does not go from an earlier node to a later one");
	return 0;
}

bc_program *plan_read(const void *buf, size_t len, diag_ctx *d, dag **out_dag, char **err)
{
	if (out_dag)
		*out_dag = NULL;
	vm_types_init();
	ld L;
	memset(&L, 0, sizeof L);
	L.b = buf;
	L.end = len;
	L.d = d;
	L.p = calloc(1, sizeof *L.p);
	L.ar = malloc(sizeof *L.ar);
	if (!L.p || !L.ar)
		abort();
	arena_init(L.ar);
	L.p->impl = L.ar;
	L.p->diag = d;
	int rc = load(&L, len);
	free(L.fmap);
	free(L.srclen);
	for (uint32_t i = 0; i < L.nsame; i++)
		val_rele(L.same[i]);
	free(L.same);
	if (rc == 0) {
		free(L.ndecoded);
		if (out_dag)
			*out_dag = L.dag;
		else
			dag_free(L.dag);
		return L.p;
	}
	dag_free(L.dag); /* before the program it borrows */
	/* release what was decoded so far */
	for (int i = 0; i < L.nall && L.all; i++)
		release_proto(L.all[i]);
	for (int m = 0; m < L.p->nmodules && L.p->modules && L.ndecoded; m++)
		for (int g = 0; g < L.ndecoded[m]; g++)
			val_rele(L.p->modules[m].globals[g]);
	free(L.ndecoded);
	arena_free(L.ar);
	free(L.ar);
	free(L.p);
	*err = L.err ? L.err : strdup("invalid plan");
	return NULL;
}

int plan_is_plan(const void *buf, size_t len)
{
	return len >= PLAN_MAGIC_LEN && memcmp(buf, PLAN_MAGIC, PLAN_MAGIC_LEN) == 0;
}

/* Reads what is left of f from its current size up: a regular file's
 * size is known, so the buffer is allocated once and read into with
 * read(2), not grown by doubling (each doubling copied the whole plan);
 * a pipe or a file that grows meanwhile falls back to doubling. A big
 * buffer is advised to use huge pages (see dag.c). */
int plan_slurp(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	size_t cap = 1 << 16, n = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < SIZE_MAX / 2)
		cap = (size_t)st.st_size + 1; /* +1: seeing EOF needs no second buffer */
	uint8_t *b = malloc(cap);
	if (!b)
		abort();
	if (cap >= ((size_t)4 << 20))
		mem_advise_huge(b, cap);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap);
			if (!b)
				abort();
		}
		ssize_t got = read(fd, b + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			free(b);
			close(fd);
			errno = e ? e : EIO;
			return -1;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
}

/* Maps from this size up (16 pages: a read(2) into a fresh buffer
 * faults once per page, a populated mapping not at all); below it, a
 * read costs less than setting up and tearing down a mapping. Mapped lengths are at least this, so
 * plan_unmap tells a mapping from a malloc'd buffer by the length. */
#define PLAN_MAP_MIN ((size_t)1 << 16)

int plan_map(const char *path, const uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size >= PLAN_MAP_MIN &&
	    (uint64_t)st.st_size < SIZE_MAX / 2) {
		/* populated up front: one call maps every page, no fault per page */
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (m != MAP_FAILED) {
			(void)madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
			close(fd);
			*buf = m;
			*len = (size_t)st.st_size;
			return 0;
		}
	}
	close(fd);
	uint8_t *b;
	size_t n;
	if (plan_slurp(path, &b, &n) != 0)
		return -1;
	if (n >= PLAN_MAP_MIN) { /* grew past the threshold since fstat: keep the rule of plan_unmap */
		void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			free(b);
			return -1;
		}
		memcpy(m, b, n);
		free(b);
		b = m;
	}
	*buf = b;
	*len = n;
	return 0;
}

void plan_unmap(const uint8_t *buf, size_t len)
{
	if (len >= PLAN_MAP_MIN)
		munmap((void *)buf, len);
	else
		free((void *)buf);
}
