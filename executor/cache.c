/* cache.c - task results kept between runs (see cache.h, docs/cache.md).
 *
 * An entry, keyed by the 32-byte SHA-256 of the call (cache.h):
 *   "FLC2" | u64 used (unix ns) | u32 crc32 of the rest | rest
 *   rest := u64 stored (unix ns) | str task | varint nfiles
 *           | nfiles x (str path, u64 size, u64 mtime ns) | the result (encode.h) to the end
 *   str  := varint length, bytes
 * `used` stays outside the checksum so a hit can update it in place. A
 * record that fails its checksum or does not parse is a miss (and is
 * overwritten by the next store). */
#include <errno.h>
#include <lmdb.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "compiler/effects.h"
#include "executor/cache.h"
#include "lang/encode.h"
#include "lang/native.h"
#include "lang/vm.h"

#define REC_MAGIC "FLC2"
#define REC_HEAD (4 + 8 + 4)
#define KEY_TAG "flow-cache-key-1"

/* ---- SHA-256, streaming ----------------------------------------------------- */

typedef struct sha { mbedtls_sha256_context c; } sha;

static void sha_begin(sha *s)
{
	mbedtls_sha256_init(&s->c);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256_starts(&s->c, 0);
#else
	mbedtls_sha256_starts_ret(&s->c, 0);
#endif
}

static void sha_add(sha *s, const void *p, size_t n)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256_update(&s->c, p, n);
#else
	mbedtls_sha256_update_ret(&s->c, p, n);
#endif
}

static void sha_end(sha *s, uint8_t out[32])
{
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256_finish(&s->c, out);
#else
	mbedtls_sha256_finish_ret(&s->c, out);
#endif
	mbedtls_sha256_free(&s->c);
}

static void sha_u64(sha *s, uint64_t x)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (8 * i));
	sha_add(s, b, 8);
}

/* A string with its length, so "ab"+"c" and "a"+"bc" differ. */
static void sha_str(sha *s, const char *str)
{
	size_t n = str ? strlen(str) : 0;
	sha_u64(s, str ? n : UINT64_MAX);
	sha_add(s, str ? str : "", n);
}

/* ---- the cache -------------------------------------------------------------- */

typedef struct proto_key {
	uint8_t digest[32]; /* code (transitive) and the globals it reads */
	bool cacheable;
	bool random;        /* may draw random numbers: seed and identity count */
} proto_key;

struct flow_cache {
	MDB_env *env;
	MDB_dbi dbi;
	char *dir;
	uint64_t cap;
	bool read, write;
	char *version;
	const bc_program *prog;
	proto_key *keys;    /* per proto index */
	pthread_mutex_t mu; /* hits list, file lists of running calls */
	uint8_t (*hit_keys)[32];
	size_t nhit_keys, caphit_keys;
	uint64_t hits, misses, stored, uncacheable; /* atomic */
};

typedef struct cache_file {
	char *path;
	uint64_t size, mtime;
} cache_file;

struct cache_call {
	int refs;            /* atomic */
	flow_cache *c;
	cache_call *parent;  /* held */
	uint8_t key[32];
	const char *task;
	bool store;          /* write the result at the end */
	cache_file *files;   /* c->mu */
	size_t nfiles, capfiles;
};

static flow_cache *current_cache;
static __thread cache_call *tl_call;

void cache_set_current(flow_cache *c) { current_cache = c; }
flow_cache *cache_current(void) { return current_cache; }

static char *fmt_err(const char *what, const char *dir, int rc)
{
	char *s;
	if (asprintf(&s, "%s '%s': %s", what, dir, rc > 0 && rc < MDB_KEYEXIST ? strerror(rc)
	                                                                       : mdb_strerror(rc)) < 0)
		abort();
	return s;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		abort();
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*q = '/';
	}
	int rc = mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

static int env_open(const char *dir, uint64_t mapsize, MDB_env **out, MDB_dbi *dbi)
{
	MDB_env *env;
	int rc = mdb_env_create(&env);
	if (rc)
		return rc;
	rc = mdb_env_set_mapsize(env, mapsize);
	/* NOSYNC: the cache is rebuilt by running again; a process crash
	 * loses nothing (the pages are written), an OS crash may. */
	if (rc == 0)
		rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_NOSYNC | MDB_NORDAHEAD, 0644);
	MDB_txn *txn = NULL;
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, dbi);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	if (rc) {
		mdb_env_close(env);
		return rc;
	}
	*out = env;
	return 0;
}

static uint64_t map_size(uint64_t cap)
{
	uint64_t m = cap + cap / 2;
	return m < (64u << 20) ? (64u << 20) : m;
}

/* Removes the environment's files from dir. */
static void remove_env(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	unlink(path);
}

static bool damaged(int rc)
{
	return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH ||
	       rc == MDB_PANIC || rc == MDB_PAGE_NOTFOUND;
}

/* A data file shorter than its last page (truncated, or emptied beside a
 * lock file that still describes it): LMDB would fault reading past its
 * end (SIGBUS), so this is checked before anything is read. */
static bool truncated(MDB_env *env, const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat st;
	MDB_envinfo info;
	MDB_stat ms;
	if (stat(path, &st) != 0 || mdb_env_info(env, &info) || mdb_env_stat(env, &ms))
		return true;
	return ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize > (uint64_t)st.st_size;
}

static int open_dir(const char *dir, uint64_t cap, FILE *warn, MDB_env **env, MDB_dbi *dbi,
                    char **err)
{
	if (make_dirs(dir) != 0) {
		*err = fmt_err("cannot create the cache directory", dir, errno);
		return -1;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size < 2 * 4096) /* not even its two meta pages */
		remove_env(dir);
	int rc = env_open(dir, map_size(cap), env, dbi);
	if (rc == 0 && truncated(*env, dir)) {
		mdb_env_close(*env);
		rc = MDB_CORRUPTED;
	}
	if (rc && damaged(rc)) {
		if (warn)
			fprintf(warn, "flow: warning: the cache in '%s' is damaged (%s); starting a new one\n",
			        dir, mdb_strerror(rc));
		remove_env(dir);
		rc = env_open(dir, map_size(cap), env, dbi);
	}
	if (rc) {
		*err = fmt_err("cannot open the cache", dir, rc);
		return -1;
	}
	return 0;
}

flow_cache *cache_open(const cache_opts *o, FILE *err_stream, char **err)
{
	flow_cache *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->cap = o->cap ? o->cap : CACHE_DEFAULT_CAP;
	if (open_dir(o->dir, c->cap, err_stream, &c->env, &c->dbi, err) != 0) {
		free(c);
		return NULL;
	}
	c->dir = strdup(o->dir);
	c->version = strdup(o->version ? o->version : "");
	c->read = o->read;
	c->write = o->write;
	pthread_mutex_init(&c->mu, NULL);
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

/* ---- keys: what decides a proto's result ---------------------------------------- */

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
	}
	free(free_of_effects);
	free(local);
	free(lok);
	free(lrand);
	free(seen);
	free(set);
}

/* ---- records ---------------------------------------------------------------------- */

static void put_u64(sbuf *b, uint64_t x)
{
	uint8_t t[8];
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)(x >> (8 * i));
	sbuf_add(b, t, 8);
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t x = 0;
	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

static void put_str(sbuf *b, const char *s)
{
	size_t n = strlen(s);
	val_encode_varint(b, n);
	sbuf_add(b, s, n);
}

/* Wall-clock ns: entries are compared across runs (and processes). */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A parsed record: pointers into the LMDB page (valid in its txn). */
typedef struct rec {
	uint64_t used, stored;
	const char *task;
	size_t tasklen;
	uint64_t nfiles;
	const uint8_t *files; /* the file list's bytes */
	size_t fileslen;
	const uint8_t *res;
	size_t reslen;
} rec;

/* The record's check: CRC-32 (zlib), not a second SHA-256 pass over a
 * result that may be large; it is there to catch damage, not forgery. */
static uint32_t body_crc(const uint8_t *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	while (n > 0) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, p, k);
		p += k;
		n -= k;
	}
	return (uint32_t)c;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int get_bytes(const uint8_t *b, size_t len, size_t *pos, const uint8_t **out, size_t *n)
{
	uint64_t k;
	verr e;
	if (val_decode_varint(b, len, pos, &k, &e) || k > len - *pos)
		return -1;
	*out = b + *pos;
	*n = (size_t)k;
	*pos += (size_t)k;
	return 0;
}

/* Checks the magic and the checksum and splits the record. */
static int rec_parse(const uint8_t *b, size_t len, rec *r)
{
	if (len < REC_HEAD + 8 || memcmp(b, REC_MAGIC, 4) != 0)
		return -1;
	if (body_crc(b + REC_HEAD, len - REC_HEAD) != get_u32(b + 12))
		return -1;
	r->used = get_u64(b + 4);
	r->stored = get_u64(b + REC_HEAD);
	size_t pos = REC_HEAD + 8;
	const uint8_t *t;
	verr e;
	if (get_bytes(b, len, &pos, &t, &r->tasklen))
		return -1;
	r->task = (const char *)t;
	if (val_decode_varint(b, len, &pos, &r->nfiles, &e))
		return -1;
	r->files = b + pos;
	for (uint64_t f = 0; f < r->nfiles; f++) {
		const uint8_t *pth;
		size_t pl;
		if (get_bytes(b, len, &pos, &pth, &pl) || len - pos < 16)
			return -1;
		pos += 16;
	}
	r->fileslen = (size_t)(b + pos - r->files);
	r->res = b + pos; /* the rest */
	r->reslen = len - pos;
	return 0;
}

static bool stat_file(const char *path, uint64_t *size, uint64_t *mtime)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return false;
	*size = (uint64_t)st.st_size;
	*mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
	return true;
}

/* Are the record's files as they were (same size and mtime)? */
static bool files_unchanged(const rec *r)
{
	size_t pos = 0, len = r->fileslen;
	for (uint64_t f = 0; f < r->nfiles; f++) {
		const uint8_t *pth;
		size_t pl;
		if (get_bytes(r->files, len, &pos, &pth, &pl))
			return false;
		char path[4096];
		if (pl >= sizeof path)
			return false;
		memcpy(path, pth, pl);
		path[pl] = '\0';
		uint64_t size, mtime;
		if (!stat_file(path, &size, &mtime) || size != get_u64(r->files + pos) ||
		    mtime != get_u64(r->files + pos + 8))
			return false;
		pos += 16;
	}
	return true;
}

/* ---- the hook ------------------------------------------------------------------------ */

static bool unstorable(value x, void *ctx)
{
	(void)ctx;
	return x.t == V_FUTURE || x.t == V_ACTOR || x.t == V_FUNC || x.t == V_ERROR;
}

static void call_add_file(cache_call *cc, const char *path, uint64_t size, uint64_t mtime)
{
	for (size_t k = 0; k < cc->nfiles; k++)
		if (!strcmp(cc->files[k].path, path))
			return; /* the first read's state counts */
	if (cc->nfiles == cc->capfiles) {
		cc->capfiles = cc->capfiles ? 2 * cc->capfiles : 4;
		cache_file *f = realloc(cc->files, sizeof *f * cc->capfiles);
		if (!f)
			abort();
		cc->files = f;
	}
	cc->files[cc->nfiles++] = (cache_file){ strdup(path), size, mtime };
}

void cache_note_read(const char *path)
{
	cache_call *cc = tl_call;
	uint64_t size, mtime;
	if (!cc || !stat_file(path, &size, &mtime))
		return;
	flow_cache *c = cc->c;
	pthread_mutex_lock(&c->mu);
	for (; cc; cc = cc->parent)
		call_add_file(cc, path, size, mtime);
	pthread_mutex_unlock(&c->mu);
}

/* A hit's files are files its callers depend on too. */
static void inherit_files(cache_call *cc, const rec *r)
{
	size_t pos = 0;
	for (uint64_t f = 0; cc && f < r->nfiles; f++) {
		const uint8_t *pth;
		size_t pl;
		if (get_bytes(r->files, r->fileslen, &pos, &pth, &pl) || pl >= 4096)
			return;
		char path[4096];
		memcpy(path, pth, pl);
		path[pl] = '\0';
		pthread_mutex_lock(&cc->c->mu);
		for (cache_call *q = cc; q; q = q->parent)
			call_add_file(q, path, get_u64(r->files + pos), get_u64(r->files + pos + 8));
		pthread_mutex_unlock(&cc->c->mu);
		pos += 16;
	}
}

static int call_key(flow_cache *c, const bc_proto *task, uint64_t seed, uint64_t ident,
                    const value *args, int nargs, uint8_t key[32])
{
	const proto_key *k = &c->keys[task->index];
	for (int j = 0; j < nargs; j++)
		if (val_any(args[j], unstorable, NULL))
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
		ok = sha_value(&s, c->prog, args[j]);
	sha_end(&s, key);
	return ok ? 0 : -1;
}

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

/* Looks key up: 1 with *out when present, valid and its files unchanged. */
static int lookup(flow_cache *c, const uint8_t key[32], value *out)
{
	MDB_txn *txn;
	if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn))
		return 0;
	MDB_val k = { 32, (void *)key }, v;
	int found = 0;
	rec r;
	if (mdb_get(txn, c->dbi, &k, &v) == 0 && rec_parse(v.mv_data, v.mv_size, &r) == 0 &&
	    files_unchanged(&r)) {
		verr e;
		if (val_decode(r.res, r.reslen, out, &e) == 0) {
			val_freeze(*out);
			inherit_files(tl_call, &r);
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
	    call_key(c, task, seed, ident, args, nargs, key) != 0) {
		__atomic_add_fetch(&c->uncacheable, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (c->read && lookup(c, key, hit)) {
		__atomic_add_fetch(&c->hits, 1, __ATOMIC_RELAXED);
		remember_hit(c, key);
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

/* Removes the oldest entries (by last use) until their total is at most
 * target bytes. In its own write transaction. */
static void evict(flow_cache *c, uint64_t target);

static int put_record(flow_cache *c, const uint8_t key[32], const sbuf *b)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
	if (rc)
		return rc;
	MDB_val k = { 32, (void *)key }, v = { b->len, b->data };
	rc = mdb_put(txn, c->dbi, &k, &v, 0);
	if (rc == 0)
		return mdb_txn_commit(txn);
	mdb_txn_abort(txn);
	return rc;
}

/* Writes cc's entry: the record is built in one buffer, the result
 * encoded straight into it (a result may be large: no extra copies). */
static void store(cache_call *cc, value res)
{
	flow_cache *c = cc->c;
	if (val_any(res, unstorable, NULL))
		return;
	sbuf r;
	sbuf_init(&r);
	sbuf_add(&r, REC_MAGIC, 4);
	put_u64(&r, now_ns());
	sbuf_add(&r, "\0\0\0\0", 4); /* the CRC, below */
	put_u64(&r, now_ns());
	put_str(&r, cc->task);
	pthread_mutex_lock(&c->mu);
	val_encode_varint(&r, cc->nfiles);
	for (size_t k = 0; k < cc->nfiles; k++) {
		put_str(&r, cc->files[k].path);
		put_u64(&r, cc->files[k].size);
		put_u64(&r, cc->files[k].mtime);
	}
	pthread_mutex_unlock(&c->mu);
	size_t at = r.len;
	verr e;
	if (val_encode(&r, res, &e) != 0 || r.len - at > c->cap / 4) {
		sbuf_fini(&r);
		return;
	}
	uint32_t crc = body_crc((const uint8_t *)r.data + REC_HEAD, r.len - REC_HEAD);
	for (int i = 0; i < 4; i++)
		r.data[12 + i] = (char)(crc >> (8 * i));
	int rc = put_record(c, cc->key, &r);
	if (rc == MDB_MAP_FULL) { /* make room: keep the newer half */
		evict(c, c->cap / 2);
		rc = put_record(c, cc->key, &r);
	}
	if (rc == 0)
		__atomic_add_fetch(&c->stored, 1, __ATOMIC_RELAXED);
	sbuf_fini(&r);
}

void cache_call_end(cache_call *cc, value outcome)
{
	if (!cc)
		return;
	tl_call = cc->parent;
	const vfuture *f = (const vfuture *)outcome.as.o;
	if (cc->store && outcome.t == V_FUTURE && f->state == FUT_DONE)
		store(cc, f->result);
	cache_call_release(cc);
}

/* ---- size cap, last use, closing -------------------------------------------------- */

typedef struct ent {
	uint64_t used, size;
	uint8_t key[32];
} ent;

static int cmp_used(const void *a, const void *b)
{
	const ent *x = a, *y = b;
	return x->used < y->used ? -1 : x->used > y->used;
}

static void evict_env(MDB_env *env, MDB_dbi dbi, uint64_t target)
{
	MDB_txn *txn;
	if (mdb_txn_begin(env, NULL, 0, &txn))
		return;
	MDB_cursor *cur;
	if (mdb_cursor_open(txn, dbi, &cur)) {
		mdb_txn_abort(txn);
		return;
	}
	ent *es = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	MDB_val k, v;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			ent *p = realloc(es, sizeof *p * cap);
			if (!p)
				abort();
			es = p;
		}
		if (k.mv_size != 32)
			continue;
		ent *e = &es[n++];
		/* a damaged record is the first to go */
		e->used = v.mv_size >= 12 ? get_u64((const uint8_t *)v.mv_data + 4) : 0;
		e->size = v.mv_size + k.mv_size;
		memcpy(e->key, k.mv_data, 32);
		total += e->size;
	}
	mdb_cursor_close(cur);
	if (total > target) {
		qsort(es, n, sizeof *es, cmp_used);
		for (size_t j = 0; j < n && total > target; j++) {
			MDB_val dk = { 32, es[j].key };
			mdb_del(txn, dbi, &dk, NULL);
			total -= es[j].size;
		}
	}
	free(es);
	if (mdb_txn_commit(txn))
		return;
}

static void evict(flow_cache *c, uint64_t target) { evict_env(c->env, c->dbi, target); }

/* Records the last use of every entry hit in this run. */
static void touch_hits(flow_cache *c)
{
	if (!c->nhit_keys)
		return;
	MDB_txn *txn;
	if (mdb_txn_begin(c->env, NULL, 0, &txn))
		return;
	uint64_t t = now_ns();
	for (size_t j = 0; j < c->nhit_keys; j++) {
		MDB_val k = { 32, c->hit_keys[j] }, v;
		if (mdb_get(txn, c->dbi, &k, &v) || v.mv_size < REC_HEAD)
			continue;
		uint8_t *copy = malloc(v.mv_size);
		if (!copy)
			abort();
		memcpy(copy, v.mv_data, v.mv_size);
		for (int i = 0; i < 8; i++)
			copy[4 + i] = (uint8_t)(t >> (8 * i));
		MDB_val nv = { v.mv_size, copy };
		mdb_put(txn, c->dbi, &k, &nv, 0);
		free(copy);
	}
	mdb_txn_commit(txn);
}

void cache_close(flow_cache *c)
{
	if (!c)
		return;
	if (c->write) {
		touch_hits(c);
		evict(c, c->cap);
	}
	mdb_env_sync(c->env, 1);
	mdb_env_close(c->env);
	pthread_mutex_destroy(&c->mu);
	free(c->hit_keys);
	free(c->keys);
	free(c->dir);
	free(c->version);
	free(c);
}

/* ---- flow cache list | clean ----------------------------------------------------- */

static void fmt_size(char *buf, size_t n, uint64_t b)
{
	if (b >= (1u << 20))
		snprintf(buf, n, "%.1f MiB", b / 1048576.0);
	else if (b >= 1024)
		snprintf(buf, n, "%.1f KiB", b / 1024.0);
	else
		snprintf(buf, n, "%llu B", (unsigned long long)b);
}

static void fmt_age(char *buf, size_t n, uint64_t s)
{
	if (s < 120)
		snprintf(buf, n, "%llu s", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, n, "%llu min", (unsigned long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, n, "%llu h", (unsigned long long)(s / 3600));
	else
		snprintf(buf, n, "%llu d", (unsigned long long)(s / 86400));
}

/* Opens an existing cache; *missing when dir has none. */
static int open_existing(const char *dir, MDB_env **env, MDB_dbi *dbi, bool *missing, char **err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat st;
	*missing = stat(path, &st) != 0;
	if (*missing)
		return 0;
	return open_dir(dir, CACHE_DEFAULT_CAP, stderr, env, dbi, err);
}

int cache_list(const char *dir, FILE *out, char **err)
{
	MDB_env *env;
	MDB_dbi dbi;
	bool missing;
	if (open_existing(dir, &env, &dbi, &missing, err))
		return -1;
	if (missing) {
		fprintf(out, "no cache in %s\n", dir);
		return 0;
	}
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc == 0 && (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		mdb_txn_abort(txn);
	if (rc) {
		*err = fmt_err("cannot read the cache", dir, rc);
		mdb_env_close(env);
		return -1;
	}
	fprintf(out, "%-10s %-10s %-10s %-16s %s\n", "SIZE", "AGE", "USED", "KEY", "TASK");
	uint64_t now = now_ns(), n = 0, total = 0, bad = 0;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		rec r;
		total += v.mv_size + k.mv_size;
		if (k.mv_size != 32 || rec_parse(v.mv_data, v.mv_size, &r) != 0) {
			bad++;
			continue;
		}
		char sz[32], age[32], used[32], key[17];
		fmt_size(sz, sizeof sz, v.mv_size + k.mv_size);
		fmt_age(age, sizeof age, now > r.stored ? (now - r.stored) / 1000000000u : 0);
		fmt_age(used, sizeof used, now > r.used ? (now - r.used) / 1000000000u : 0);
		for (int i = 0; i < 8; i++)
			snprintf(key + 2 * i, 3, "%02x", ((const uint8_t *)k.mv_data)[i]);
		fprintf(out, "%-10s %-10s %-10s %-16s %.*s", sz, age, used, key, (int)r.tasklen, r.task);
		if (r.nfiles)
			fprintf(out, " (%llu file%s)", (unsigned long long)r.nfiles, r.nfiles == 1 ? "" : "s");
		fputc('\n', out);
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	char tot[32];
	fmt_size(tot, sizeof tot, total);
	fprintf(out, "%llu entr%s, %s in %s", (unsigned long long)n, n == 1 ? "y" : "ies", tot, dir);
	if (bad)
		fprintf(out, "; %llu damaged (ignored; replaced when stored again)", (unsigned long long)bad);
	fputc('\n', out);
	return 0;
}

int cache_clean(const char *dir, uint64_t *removed, char **err)
{
	MDB_env *env;
	MDB_dbi dbi;
	bool missing;
	*removed = 0;
	if (open_existing(dir, &env, &dbi, &missing, err))
		return -1;
	if (missing)
		return 0;
	MDB_txn *txn;
	MDB_stat ms;
	int rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0 && mdb_stat(txn, dbi, &ms) == 0)
		*removed = ms.ms_entries;
	if (rc == 0 && (rc = mdb_drop(txn, dbi, 0)) == 0)
		rc = mdb_txn_commit(txn);
	else if (rc == 0)
		mdb_txn_abort(txn);
	if (rc == 0)
		mdb_env_sync(env, 1);
	mdb_env_close(env);
	if (rc) {
		*err = fmt_err("cannot empty the cache", dir, rc);
		return -1;
	}
	return 0;
}
