/* cache_int.h - what the cache's files share (private to executor/cache*.c):
 *
 *   cache_key.c    the keys: what decides a proto's result, and a call's key
 *   cache_rec.c    the records: layout, checksum, file stamps
 *   cache_env.c    the LMDB environment: opening, damage, eviction
 *   cache_admin.c  flow cache list | clean
 *   cache.c        the hook around a task call (cache.h)
 *
 * The streaming SHA-256 is mbedtls' (the library the project links for
 * plan files and the cluster's HMAC), wrapped here over its two API
 * generations.
 *
 * A record, keyed by the 32-byte SHA-256 of the call (cache.h):
 *   "FLC3" | u64 used (unix ns) | u32 crc32 of the rest | rest
 *   rest := u64 stored (unix ns) | str task | varint nfiles
 *           | nfiles x (u8 kind, str path, u64 a, u64 b) | the result (encode.h) to the end
 *   kind 0: a file read, a = size, b = mtime ns; VM_PROBE_GLOB: a
 *   pattern, a|b = the first 16 bytes of the SHA-256 of its matches;
 *   VM_PROBE_EXISTS: a path, a = whether it exists, b = 0
 *   str  := varint length, bytes
 * `used` stays outside the checksum so a hit can update it in place. A
 * record that fails its checksum or does not parse is a miss (and is
 * overwritten by the next store).
 *
 * Ownership: as in cache.h; a rec points into an LMDB page, valid only
 * inside the transaction that read it. */
#ifndef FLOW_CACHE_INT_H
#define FLOW_CACHE_INT_H

#include <lmdb.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "executor/cache.h"
#include "lang/encode.h"

#define REC_MAGIC "FLC3"
#define REC_HEAD (4 + 8 + 4)
#define KEY_TAG "flow-cache-key-1"

/* ---- SHA-256, streaming (mbedtls) ---------------------------------------- */

typedef struct sha { mbedtls_sha256_context c; } sha;

static inline void sha_begin(sha *s)
{
	mbedtls_sha256_init(&s->c);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256_starts(&s->c, 0);
#else
	mbedtls_sha256_starts_ret(&s->c, 0);
#endif
}

static inline void sha_add(sha *s, const void *p, size_t n)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256_update(&s->c, p, n);
#else
	mbedtls_sha256_update_ret(&s->c, p, n);
#endif
}

static inline void sha_end(sha *s, uint8_t out[32])
{
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256_finish(&s->c, out);
#else
	mbedtls_sha256_finish_ret(&s->c, out);
#endif
	mbedtls_sha256_free(&s->c);
}

static inline void sha_u64(sha *s, uint64_t x)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (8 * i));
	sha_add(s, b, 8);
}

/* A string with its length, so "ab"+"c" and "a"+"bc" differ. */
static inline void sha_str(sha *s, const char *str)
{
	size_t n = str ? strlen(str) : 0;
	sha_u64(s, str ? n : UINT64_MAX);
	sha_add(s, str ? str : "", n);
}

/* ---- the cache and a call ------------------------------------------------ */

typedef struct proto_key {
	uint8_t digest[32]; /* code (transitive) and the globals it reads */
	bool cacheable;
	bool random;        /* may draw random numbers: seed and identity count */
	bool pure;          /* free of effects: its key alone decides its result */
} proto_key;

/* What stands for a large argument in a key (cache_key.c): the key of
 * the pure call that produced it (lineage), or the digest of its content,
 * computed once. The value is held, so its address is not reused. */
typedef struct memo_ent {
	value v;            /* held */
	uint8_t d[32];
	bool lineage;
} memo_ent;

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
	pthread_mutex_t memo_mu;
	memo_ent *memo;     /* a ring of at most MEMO_MAX entries */
	size_t nmemo, memo_next;
	uint64_t memo_bytes;
};

/* What a call asked the file system (kind 0: read a file; VM_PROBE_*)
 * and the answer's stamp (cache_int.h's record layout). */
#define CF_READ 0
typedef struct cache_file {
	int kind;
	char *path;
	uint64_t a, b;
} cache_file;

struct cache_call {
	int refs;            /* atomic */
	flow_cache *c;
	cache_call *parent;  /* held */
	uint8_t key[32];
	const char *task;
	const bc_proto *proto;
	bool store;          /* write the result at the end */
	cache_file *files;   /* c->mu */
	size_t nfiles, capfiles;
};

/* ---- keys (cache_key.c) -------------------------------------------------- */

/* The key of task's call on args (cache.h says what goes in). -1 when an
 * argument cannot be hashed (actor, future, ...). */
int ckey_call(flow_cache *c, const bc_proto *task, uint64_t seed, uint64_t ident,
              const value *args, int nargs, uint8_t key[32]);
/* Values the encoding cannot hold, and errors: neither hashed nor stored. */
bool ckey_unstorable(value x, void *ctx);
/* The result res of task's call with key (run, or found in the cache):
 * when task is pure and res large, res's key digest becomes key. */
void ckey_note_result(flow_cache *c, const bc_proto *task, const uint8_t key[32], value res);
/* Releases the values held for large arguments. */
void ckey_memo_free(flow_cache *c);

/* ---- records (cache_rec.c) ----------------------------------------------- */

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

uint64_t crec_now_ns(void);
uint64_t crec_get_u64(const uint8_t *p);
/* Starts a record in b (empty): head, task and files; the caller then
 * encodes the result into b and calls crec_seal. */
void crec_begin(sbuf *b, const char *task, const cache_file *files, size_t nfiles);
void crec_seal(sbuf *b);
/* Sets the time of last use in a record's copy. */
void crec_set_used(uint8_t *b, uint64_t t);
/* Checks the magic and the checksum and splits the record. 0 or -1. */
int crec_parse(const uint8_t *b, size_t len, rec *r);
/* The next question of r's list (r->nfiles in all), in order: its kind,
 * its path into buf (NUL terminated) and the recorded answer. *pos
 * starts at 0. -1 when the list does not parse or a path does not fit. */
int crec_next_file(const rec *r, size_t *pos, int *kind, char *buf, size_t bufsz,
                   uint64_t *a, uint64_t *b);
/* Would each question of the record get the same answer now? */
bool crec_files_unchanged(const rec *r);
/* Asks the question now: a file's size and mtime (ns; false when it
 * cannot be stat'ed), a glob's digest (false on a glob error), whether a
 * path exists. */
bool crec_probe(int kind, const char *path, uint64_t *a, uint64_t *b);

/* ---- the environment (cache_env.c) --------------------------------------- */

/* A malloc'd "what 'dir': reason". */
char *cenv_err(const char *what, const char *dir, int rc);
/* Opens (creating) the environment in dir; a damaged one is removed
 * (warning on warn, if not NULL) and a new one started. 0, or -1 with *err. */
int cenv_open(const char *dir, uint64_t cap, FILE *warn, MDB_env **env, MDB_dbi *dbi, char **err);
/* Opens an existing environment; *missing (and 0) when dir has none. */
int cenv_open_existing(const char *dir, MDB_env **env, MDB_dbi *dbi, bool *missing, char **err);
/* Writes one record in its own transaction. An LMDB code. */
int cenv_put(MDB_env *env, MDB_dbi dbi, const uint8_t key[32], const sbuf *b);
/* Removes the least recently used entries until their total is at most
 * target bytes. In its own write transaction. */
void cenv_evict(MDB_env *env, MDB_dbi dbi, uint64_t target);
/* Records time t as the last use of the n entries keys. */
void cenv_touch(MDB_env *env, MDB_dbi dbi, const uint8_t (*keys)[32], size_t n, uint64_t t);

#endif
