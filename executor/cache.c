/* cache.c - the cache of a run (cache.h, docs/cache.md): opened and
 * closed, and the hook around a task call: the key looked up, the
 * call's file reads recorded with it and its callers, its result stored.
 * Keys: cache_key.c; records: cache_rec.c; LMDB: cache_env.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "executor/cache_int.h"
#include "lang/vm.h"


static flow_cache *current_cache;
static __thread cache_call *tl_call;

void cache_set_current(flow_cache *c) { current_cache = c; }
flow_cache *cache_current(void) { return current_cache; }

flow_cache *cache_open(const cache_opts *o, FILE *err_stream, char **err)
{
	flow_cache *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->cap = o->cap ? o->cap : CACHE_DEFAULT_CAP;
	if (cenv_open(o->dir, c->cap, err_stream, &c->env, &c->dbi, err) != 0) {
		free(c);
		return NULL;
	}
	c->dir = strdup(o->dir);
	c->version = strdup(o->version ? o->version : "");
	c->read = o->read;
	c->write = o->write;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->memo_mu, NULL);
	return c;
}

void cache_get_stats(const flow_cache *c, cache_stats *s)
{
	memset(s, 0, sizeof *s);
	if (!c)
		return;
	s->hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
	s->misses = __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
	s->stored = __atomic_load_n(&c->stored, __ATOMIC_RELAXED);
	s->uncacheable = __atomic_load_n(&c->uncacheable, __ATOMIC_RELAXED);
}

static void call_add_file(cache_call *cc, int kind, const char *path, uint64_t a, uint64_t b)
{
	for (size_t k = 0; k < cc->nfiles; k++)
		if (cc->files[k].kind == kind && !strcmp(cc->files[k].path, path))
			return; /* the first answer counts */
	if (cc->nfiles == cc->capfiles) {
		cc->capfiles = cc->capfiles ? 2 * cc->capfiles : 4;
		cache_file *f = realloc(cc->files, sizeof *f * cc->capfiles);
		if (!f)
			abort();
		cc->files = f;
	}
	char *p = strdup(path);
	if (!p)
		abort();
	cc->files[cc->nfiles++] = (cache_file){ kind, p, a, b };
}

/* Records the question (and its answer now) with the calls running. */
static void note(int kind, const char *path)
{
	cache_call *cc = tl_call;
	uint64_t a, b;
	if (!cc || !crec_probe(kind, path, &a, &b))
		return;
	flow_cache *c = cc->c;
	pthread_mutex_lock(&c->mu);
	for (; cc; cc = cc->parent)
		call_add_file(cc, kind, path, a, b);
	pthread_mutex_unlock(&c->mu);
}

void cache_note_read(const char *path) { note(CF_READ, path); }

void cache_note_probe(int kind, const char *arg)
{
	if (kind == VM_PROBE_GLOB || kind == VM_PROBE_EXISTS)
		note(kind, arg);
}

/* A hit's questions are its callers' too. */
static void inherit_files(cache_call *cc, const rec *r)
{
	size_t pos = 0;
	char path[4096];
	int kind;
	uint64_t a, b;
	for (uint64_t f = 0; cc && f < r->nfiles; f++) {
		if (crec_next_file(r, &pos, &kind, path, sizeof path, &a, &b))
			return;
		pthread_mutex_lock(&cc->c->mu);
		for (cache_call *q = cc; q; q = q->parent)
			call_add_file(q, kind, path, a, b);
		pthread_mutex_unlock(&cc->c->mu);
	}
}

#define USED_GRAIN_NS (3600ull * 1000000000u)

static void remember_hit(flow_cache *c, const uint8_t key[32])
{
	pthread_mutex_lock(&c->mu);
	if (c->nhit_keys == c->caphit_keys) {
		c->caphit_keys = c->caphit_keys ? 2 * c->caphit_keys : 64;
		void *p = realloc(c->hit_keys, 32 * c->caphit_keys);
		if (!p)
			abort();
		c->hit_keys = p;
	}
	memcpy(c->hit_keys[c->nhit_keys++], key, 32);
	pthread_mutex_unlock(&c->mu);
}

/* Looks key up: 1 with *out when present, valid and its files unchanged;
 * *used: when the entry was last used. */
static int lookup(flow_cache *c, const uint8_t key[32], value *out, uint64_t *used)
{
	MDB_txn *txn;
	if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn))
		return 0;
	MDB_val k = { 32, (void *)key }, v;
	int found = 0;
	rec r;
	if (mdb_get(txn, c->dbi, &k, &v) == 0 && crec_parse(v.mv_data, v.mv_size, &r) == 0 &&
	    crec_files_unchanged(&r)) {
		verr e;
		if (val_decode(r.res, r.reslen, out, &e) == 0) {
			val_freeze(*out);
			inherit_files(tl_call, &r);
			*used = r.used;
			found = 1;
		}
	}
	mdb_txn_abort(txn);
	return found;
}

int cache_call_begin(flow_cache *c, const bc_proto *task, uint64_t seed, uint64_t ident,
                     const value *args, int nargs, cache_call **cc, value *hit)
{
	*cc = NULL;
	if (!c || !c->keys || task->index < 0 || task->index >= c->prog->nprotos ||
	    c->prog->protos[task->index] != task)
		return 0;
	uint8_t key[32];
	if (!c->keys[task->index].cacheable ||
	    ckey_call(c, task, seed, ident, args, nargs, key) != 0) {
		__atomic_add_fetch(&c->uncacheable, 1, __ATOMIC_RELAXED);
		return 0;
	}
	uint64_t used;
	if (c->read && lookup(c, key, hit, &used)) {
		__atomic_add_fetch(&c->hits, 1, __ATOMIC_RELAXED);
		/* the last use is kept to the hour: restamping rewrites the
		 * record, all of it (LMDB copies on write) */
		if (crec_now_ns() - used > USED_GRAIN_NS)
			remember_hit(c, key);
		ckey_note_result(c, task, key, *hit);
		return 1;
	}
	__atomic_add_fetch(&c->misses, 1, __ATOMIC_RELAXED);
	cache_call *n = calloc(1, sizeof *n);
	if (!n)
		abort();
	n->refs = 1;
	n->c = c;
	memcpy(n->key, key, 32);
	n->task = task->name;
	n->proto = task;
	n->store = c->write;
	n->parent = tl_call;
	if (n->parent)
		__atomic_add_fetch(&n->parent->refs, 1, __ATOMIC_RELAXED);
	tl_call = n;
	*cc = n;
	return 0;
}

void cache_call_release(cache_call *cc)
{
	while (cc && __atomic_sub_fetch(&cc->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		cache_call *up = cc->parent;
		for (size_t k = 0; k < cc->nfiles; k++)
			free(cc->files[k].path);
		free(cc->files);
		free(cc);
		cc = up;
	}
}

cache_call *cache_call_current(void)
{
	if (tl_call)
		__atomic_add_fetch(&tl_call->refs, 1, __ATOMIC_RELAXED);
	return tl_call;
}

cache_call *cache_job_enter(cache_call *parent)
{
	cache_call *prev = tl_call;
	tl_call = parent;
	return prev;
}

void cache_job_leave(cache_call *prev) { tl_call = prev; }

/* Writes an entry: the record is built in one buffer, the result encoded
 * straight into it (a result may be large: no extra copies). mu: the
 * lock that guards files (NULL: none needed). */
static void store_rec(flow_cache *c, const uint8_t key[32], const char *task,
                      const cache_file *files, size_t nfiles, pthread_mutex_t *mu, value res)
{
	if (val_any(res, ckey_unstorable, NULL))
		return;
	sbuf r;
	sbuf_init(&r);
	if (mu)
		pthread_mutex_lock(mu);
	crec_begin(&r, task, files, nfiles);
	if (mu)
		pthread_mutex_unlock(mu);
	size_t at = r.len;
	if (res.t == V_TENSOR) /* room for its data at once, not by doubling */
		sbuf_reserve(&r, tensor_of(res)->size * sizeof(double) + 64 +
		                 (size_t)tensor_of(res)->ndim * 10);
	verr e;
	if (val_encode(&r, res, &e) != 0 || r.len - at > c->cap / 4) {
		sbuf_fini(&r);
		return;
	}
	crec_seal(&r);
	int rc = cenv_put(c->env, c->dbi, key, &r);
	if (rc == MDB_MAP_FULL) { /* make room: keep the newer half */
		cenv_evict(c->env, c->dbi, c->cap / 2);
		rc = cenv_put(c->env, c->dbi, key, &r);
	}
	if (rc == 0)
		__atomic_add_fetch(&c->stored, 1, __ATOMIC_RELAXED);
	sbuf_fini(&r);
}

static void store(cache_call *cc, value res)
{
	store_rec(cc->c, cc->key, cc->task, cc->files, cc->nfiles, &cc->c->mu, res);
}

void cache_call_end(cache_call *cc, value outcome)
{
	if (!cc)
		return;
	tl_call = cc->parent;
	const vfuture *f = (const vfuture *)outcome.as.o;
	if (outcome.t == V_FUTURE && f->state == FUT_DONE) {
		ckey_note_result(cc->c, cc->proto, cc->key, f->result);
		if (cc->store)
			store(cc, f->result);
	}
	cache_call_release(cc);
}


void cache_close(flow_cache *c)
{
	if (!c)
		return;
	if (c->write) {
		cenv_touch(c->env, c->dbi, (const uint8_t(*)[32])c->hit_keys, c->nhit_keys,
		           crec_now_ns());
		cenv_evict(c->env, c->dbi, c->cap);
	}
	mdb_env_sync(c->env, 1);
	mdb_env_close(c->env);
	pthread_mutex_destroy(&c->mu);
	ckey_memo_free(c);
	pthread_mutex_destroy(&c->memo_mu);
	free(c->hit_keys);
	free(c->keys);
	free(c->dir);
	free(c->version);
	free(c);
}

/* ---- remote calls ---------------------------------------------------------- */

/* Is key's entry there, sound, its files unchanged? (Not decoded.) */
static bool peek(flow_cache *c, const uint8_t key[32])
{
	MDB_txn *txn;
	if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn))
		return false;
	MDB_val k = { 32, (void *)key }, v;
	rec r;
	bool found = mdb_get(txn, c->dbi, &k, &v) == 0 &&
	             crec_parse(v.mv_data, v.mv_size, &r) == 0 && crec_files_unchanged(&r);
	mdb_txn_abort(txn);
	return found;
}

int cache_remote_begin(flow_cache *c, const bc_proto *task, uint64_t seed, uint64_t ident,
                       value args, uint8_t key[32])
{
	if (!c || !c->keys || args.t != V_LIST || task->index < 0 ||
	    task->index >= c->prog->nprotos || c->prog->protos[task->index] != task)
		return -1;
	const proto_key *k = &c->keys[task->index];
	const vlist *l = (const vlist *)args.as.o;
	if (!k->cacheable || !k->pure ||
	    ckey_call(c, task, seed, ident, l->items, (int)l->len, key) != 0) {
		__atomic_add_fetch(&c->uncacheable, 1, __ATOMIC_RELAXED);
		return -1;
	}
	if (c->read && peek(c, key))
		return 1; /* counted by cache_call_begin, where it is taken */
	__atomic_add_fetch(&c->misses, 1, __ATOMIC_RELAXED);
	return c->write ? 0 : -1;
}

void cache_remote_end(flow_cache *c, const uint8_t key[32], const bc_proto *task, value res)
{
	if (!c)
		return;
	ckey_note_result(c, task, key, res);
	store_rec(c, key, task->name, NULL, 0, NULL, res);
}
