/* cache_key.c - the keys: what decides a task's result (cache.h). Per
 * proto, once (cache_bind): its code, the code it can reach and the
 * globals that code reads; per call: that digest, the arguments by
 * content, and the random stream when the code may draw from it. */
#include <stdlib.h>
#include <string.h>

#include "compiler/effects.h"
#include "executor/cache_int.h"
#include "lang/native.h"
#include "lang/vm.h"

/* A native by its full name ("io.read_text", "len"). */
static void sha_native(sha *s, const native_def *d)
{
	if (!d) {
		sha_str(s, NULL);
		return;
	}
	if (native_builtin(d->name) != d) {
		for (const char *const *m = native_module_names(); *m; m++) {
			const module_def *md = native_module(*m);
			if (md && native_module_fn(md, d->name) == d) {
				sha_str(s, *m);
				break;
			}
		}
	}
	sha_str(s, d->name);
	sha_u64(s, d->flags);
}

static const char *module_name(const bc_program *p, int m)
{
	return m >= 0 && m < p->nmodules ? p->modules[m].name : "?";
}

/* A value by content; false when the encoding cannot hold it. Function
 * values name their proto or native. */
static bool sha_value(sha *s, const bc_program *p, value v)
{
	if (v.t == V_FUNC) {
		const vfunc *f = (const vfunc *)v.as.o;
		if (f->h.extra == FUNC_PROTO) {
			sha_str(s, "proto");
			sha_str(s, module_name(p, f->proto->module));
			sha_str(s, f->proto->name);
			return true;
		}
		if (f->h.extra == FUNC_NATIVE) {
			sha_str(s, "native");
			sha_native(s, f->native);
			return true;
		}
		return false;
	}
	sbuf b;
	sbuf_init(&b);
	verr e;
	bool ok = val_encode(&b, v, &e) == 0;
	if (ok) {
		sha_u64(s, b.len);
		sha_add(s, b.data, b.len);
	}
	sbuf_fini(&b);
	return ok;
}

/* One proto's own part: its code with references to protos, actors and
 * globals by name, its constants by content, its natives and method
 * sites; not its source positions (an edit elsewhere in the file keeps
 * its entries). Sets *random if it may draw random numbers. */
static bool local_digest(const bc_program *p, const bc_proto *x, uint8_t out[32], bool *random)
{
	sha s;
	sha_begin(&s);
	bool ok = true;
	sha_u64(&s, (uint64_t)x->kind);
	sha_str(&s, module_name(p, x->module));
	sha_str(&s, x->name);
	sha_u64(&s, (uint64_t)x->nparams);
	for (int i = 0; i < x->nparams; i++) {
		sha_str(&s, x->params[i].name);
		sha_str(&s, x->params[i].type);
		sha_u64(&s, x->params[i].has_default);
		if (x->params[i].has_default)
			ok &= sha_value(&s, p, x->params[i].deflt);
	}
	sha_str(&s, x->ret_type);
	sha_u64(&s, (uint64_t)x->nregs);
	sha_u64(&s, (uint64_t)x->ncode);
	for (int pc = 0; pc < x->ncode; pc++) {
		uint32_t i = x->code[pc];
		bc_op op = BC_OP(i);
		int fmt = op < OP__COUNT ? bc_ops[op].fmt : OPFMT_ABC;
		if (fmt == OPFMT_AP && BC_Bx(i) < p->nprotos) {
			const bc_proto *q = p->protos[BC_Bx(i)];
			sha_u64(&s, op | (uint32_t)BC_A(i) << 8);
			sha_str(&s, module_name(p, q->module));
			sha_str(&s, q->name);
		} else if (fmt == OPFMT_AACT && BC_Bx(i) < p->nactors) {
			const bc_actor *a = p->actors[BC_Bx(i)];
			sha_u64(&s, op | (uint32_t)BC_A(i) << 8);
			sha_str(&s, module_name(p, a->module));
			sha_str(&s, a->name);
		} else if (fmt == OPFMT_AG && BC_B(i) < p->nmodules &&
		           BC_C(i) < p->modules[BC_B(i)].nglobals) {
			sha_u64(&s, op | (uint32_t)BC_A(i) << 8);
			sha_str(&s, p->modules[BC_B(i)].name);
			sha_str(&s, p->modules[BC_B(i)].global_names[BC_C(i)]);
		} else {
			sha_u64(&s, i);
		}
		if (op == OP_CALL) /* a function value: anything may run */
			*random = true;
		if (op == OP_NATIVE && BC_B(i) < x->nnatives && x->natives[BC_B(i)] &&
		    (x->natives[BC_B(i)]->flags & NATIVE_RANDOM))
			*random = true;
	}
	sha_u64(&s, (uint64_t)x->nconsts);
	for (int k = 0; k < x->nconsts; k++)
		ok &= sha_value(&s, p, x->consts[k]);
	sha_u64(&s, (uint64_t)x->nnatives);
	for (int k = 0; k < x->nnatives; k++)
		sha_native(&s, x->natives[k]);
	sha_u64(&s, (uint64_t)x->nmsites);
	for (int k = 0; k < x->nmsites; k++) {
		const bc_msite *m = &x->msites[k];
		sha_str(&s, m->name);
		sha_u64(&s, (uint64_t)m->nkw);
		for (int j = 0; j < m->nkw; j++)
			sha_str(&s, m->kwnames[j]);
		for (int t = 0; t < V__COUNT; t++)
			if (m->by_type[t] && (m->by_type[t]->flags & NATIVE_RANDOM))
				*random = true;
	}
	sha_end(&s, out);
	return ok;
}

/* The protos x can run: called (CALLP, CALLT), function constants,
 * actors it creates (init and methods). Marks them in seen[]. */
static void reach(const bc_program *p, const bc_proto *x, bool *seen)
{
	if (x->index < 0 || x->index >= p->nprotos || seen[x->index])
		return;
	seen[x->index] = true;
	for (int pc = 0; pc < x->ncode; pc++) {
		uint32_t i = x->code[pc];
		int fmt = BC_OP(i) < OP__COUNT ? bc_ops[BC_OP(i)].fmt : OPFMT_ABC;
		if (fmt == OPFMT_AP && BC_Bx(i) < p->nprotos) {
			reach(p, p->protos[BC_Bx(i)], seen);
		} else if (BC_OP(i) == OP_NEWACTOR && BC_Bx(i) < p->nactors) {
			const bc_actor *a = p->actors[BC_Bx(i)];
			if (a->init)
				reach(p, a->init, seen);
			for (int m = 0; m < a->nmethods; m++)
				reach(p, a->methods[m], seen);
		}
	}
	for (int k = 0; k < x->nconsts; k++) {
		value v = x->consts[k];
		if (v.t == V_FUNC && ((const vfunc *)v.as.o)->h.extra == FUNC_PROTO)
			reach(p, ((const vfunc *)v.as.o)->proto, seen);
	}
}

/* The values of the globals x reads, by name and content. */
static bool sha_globals(sha *s, const bc_program *p, const bc_proto *x)
{
	bool ok = true;
	for (int pc = 0; pc < x->ncode; pc++) {
		uint32_t i = x->code[pc];
		if (BC_OP(i) != OP_GETGLOBAL || BC_B(i) >= p->nmodules)
			continue;
		const bc_module *m = &p->modules[BC_B(i)];
		if (BC_C(i) >= m->nglobals || !m->globals)
			continue;
		sha_str(s, m->name);
		sha_str(s, m->global_names[BC_C(i)]);
		ok &= sha_value(s, p, m->globals[BC_C(i)]);
	}
	return ok;
}

static int cmp_digest(const void *a, const void *b) { return memcmp(a, b, 32); }

void cache_bind(flow_cache *c, const bc_program *p)
{
	int n = p->nprotos;
	c->prog = p;
	c->keys = calloc((size_t)(n ? n : 1), sizeof *c->keys);
	uint8_t (*local)[32] = malloc(sizeof *local * (size_t)(n ? n : 1));
	bool *lok = calloc((size_t)(n ? n : 1), sizeof *lok);
	bool *lrand = calloc((size_t)(n ? n : 1), sizeof *lrand);
	bool *seen = malloc(sizeof *seen * (size_t)(n ? n : 1));
	uint8_t (*set)[32] = malloc(sizeof *set * (size_t)(n ? n : 1));
	if (!c->keys || !local || !lok || !lrand || !seen || !set)
		abort();
	bool *free_of_effects = effects_free_protos(p);
	for (int j = 0; j < n; j++)
		lok[j] = local_digest(p, p->protos[j], local[j], &lrand[j]);
	for (int j = 0; j < n; j++) {
		const bc_proto *x = p->protos[j];
		proto_key *k = &c->keys[j];
		if (x->kind != PROTO_TASK || !(free_of_effects[j] || x->attrs.cache))
			continue;
		memset(seen, 0, sizeof *seen * (size_t)n);
		reach(p, x, seen);
		/* its own part first, then the others' sorted by digest: the
		 * order of declarations does not matter */
		sha s;
		sha_begin(&s);
		sha_add(&s, local[j], 32);
		size_t ns = 0;
		bool ok = true, random = false;
		for (int q = 0; q < n; q++) {
			if (!seen[q])
				continue;
			ok &= lok[q];
			random |= lrand[q];
			if (q != j)
				memcpy(set[ns++], local[q], 32);
		}
		qsort(set, ns, 32, cmp_digest);
		sha_u64(&s, ns);
		for (size_t q = 0; q < ns; q++)
			sha_add(&s, set[q], 32);
		/* the globals, in the same order */
		for (int q = 0; q < n; q++)
			if (seen[q])
				ok &= sha_globals(&s, p, p->protos[q]);
		sha_end(&s, k->digest);
		k->cacheable = ok;
		k->random = random;
		k->pure = free_of_effects[j];
	}
	free(free_of_effects);
	free(local);
	free(lok);
	free(lrand);
	free(seen);
	free(set);
}

bool ckey_unstorable(value x, void *ctx)
{
	(void)ctx;
	return x.t == V_FUTURE || x.t == V_ACTOR || x.t == V_FUNC || x.t == V_ERROR;
}

/* ---- large arguments --------------------------------------------------------
 * Hashing an 8 MiB tensor costs more than many tasks that take it, and a
 * value is often passed to several calls. A frozen value of at least
 * BIG_VALUE bytes is hashed once (its content digest, kept with the value
 * held so its address is not reused); the result of a pure call (free of
 * effects: its key decides it) stands in keys by that call's key instead
 * of its content, as Nextflow and Bazel hash by lineage. Either way a key
 * still says everything that decides the result. A value beyond the ring
 * (MEMO_MAX, MEMO_BYTES) is hashed again by content: a miss at worst. */
#define BIG_VALUE (1u << 20)
#define MEMO_MAX 256
#define MEMO_BYTES (1ull << 30)

static uint64_t big_size(value v)
{
	if (!val_is_frozen(v))
		return 0;
	uint64_t n = v.t == V_TENSOR ? tensor_of(v)->size * sizeof(double)
	           : v.t == V_STR    ? ((const vstr *)v.as.o)->len
	                             : 0;
	return n >= BIG_VALUE ? n : 0;
}

/* Under memo_mu. */
static memo_ent *memo_find(flow_cache *c, value v)
{
	for (size_t i = 0; i < c->nmemo; i++)
		if (c->memo[i].v.as.o == v.as.o)
			return &c->memo[i];
	return NULL;
}

/* Under memo_mu: adds (or, for lineage, replaces) v's entry. */
static void memo_put(flow_cache *c, value v, const uint8_t d[32], bool lineage)
{
	memo_ent *e = memo_find(c, v);
	if (e) {
		if (lineage && !e->lineage) {
			memcpy(e->d, d, 32);
			e->lineage = true;
		}
		return;
	}
	uint64_t n = big_size(v);
	if (!c->memo) {
		c->memo = calloc(MEMO_MAX, sizeof *c->memo);
		if (!c->memo)
			abort();
	}
	if (c->nmemo == MEMO_MAX || c->memo_bytes + n > MEMO_BYTES) {
		if (!c->nmemo)
			return;
		/* the oldest goes */
		size_t at = c->memo_next % c->nmemo;
		c->memo_bytes -= big_size(c->memo[at].v);
		val_rele(c->memo[at].v);
		c->memo[at] = c->memo[--c->nmemo];
	}
	e = &c->memo[c->nmemo++];
	c->memo_next++;
	e->v = val_hold(v);
	memcpy(e->d, d, 32);
	e->lineage = lineage;
	c->memo_bytes += n;
}

void ckey_note_result(flow_cache *c, const bc_proto *task, const uint8_t key[32], value res)
{
	if (!c->keys[task->index].pure || !big_size(res))
		return;
	pthread_mutex_lock(&c->memo_mu);
	memo_put(c, res, key, true);
	pthread_mutex_unlock(&c->memo_mu);
}

void ckey_memo_free(flow_cache *c)
{
	for (size_t i = 0; i < c->nmemo; i++)
		val_rele(c->memo[i].v);
	free(c->memo);
	c->memo = NULL;
	c->nmemo = 0;
}

/* An argument: a large one by its memo (lineage or content digest), any
 * other by content. */
static bool sha_arg(sha *s, flow_cache *c, value v)
{
	if (!big_size(v))
		return sha_value(s, c->prog, v);
	uint8_t d[32];
	bool lineage = false, found = false;
	pthread_mutex_lock(&c->memo_mu);
	memo_ent *e = memo_find(c, v);
	if (e) {
		memcpy(d, e->d, 32);
		lineage = e->lineage;
		found = true;
	}
	pthread_mutex_unlock(&c->memo_mu);
	if (!found) {
		sha t;
		sha_begin(&t);
		bool ok = sha_value(&t, c->prog, v);
		sha_end(&t, d);
		if (!ok)
			return false;
		pthread_mutex_lock(&c->memo_mu);
		memo_put(c, v, d, false);
		pthread_mutex_unlock(&c->memo_mu);
	}
	sha_str(s, lineage ? "lineage" : "content");
	sha_add(s, d, 32);
	return true;
}

int ckey_call(flow_cache *c, const bc_proto *task, uint64_t seed, uint64_t ident,
              const value *args, int nargs, uint8_t key[32])
{
	const proto_key *k = &c->keys[task->index];
	for (int j = 0; j < nargs; j++)
		if (val_any(args[j], ckey_unstorable, NULL))
			return -1;
	sha s;
	sha_begin(&s);
	sha_str(&s, KEY_TAG);
	sha_str(&s, c->version);
	sha_u64(&s, bc_ops_fingerprint());
	sha_add(&s, k->digest, 32);
	sha_u64(&s, k->random);
	if (k->random) {
		sha_u64(&s, seed);
		sha_u64(&s, ident);
	}
	sha_u64(&s, (uint64_t)nargs);
	bool ok = true;
	for (int j = 0; j < nargs && ok; j++)
		ok = sha_arg(&s, c, args[j]);
	sha_end(&s, key);
	return ok ? 0 : -1;
}
