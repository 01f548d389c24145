/* store.h - the object store: results by id, in memory under a cap, with
 * the least recently used ones spilled to LMDB (ARCHITECTURE.md, executor).
 *
 * What it owns: the values put into it (one reference each), a private
 * LMDB environment in a fresh directory (flow-spill-PID-XXXXXX under the
 * spill directory, removed by store_close, with any missing parents it
 * created), the file of big records beside it (big.dat: encodings of
 * 256 KiB or more, LMDB holding where each one is; store.c), and the
 * accounting. LMDB is opened at the first spill, so a
 * run that never spills reserves no map; the map's size is bounded by
 * the address space (`ulimit -v`) and doubled when it fills.
 *
 * Values are frozen and shared between threads without copying; only a
 * spilled object is encoded (encode.h) and decoded again when read back.
 * Sizes are estimates (val_size_estimate, lang/value.h): what the value's heap objects
 * take, each shared object counted once within one value.
 *
 * The cap: after a put or a get that leaves the bytes in memory above
 * memory_cap, the least recently used objects that are not pinned are
 * written to LMDB (in one transaction) and released until the store is
 * under the cap again. An object read back keeps its LMDB copy until
 * store_free (it is immutable), so spilling it again costs no write.
 * Big records go to a file beside LMDB (big.dat), through the page
 * cache, except tensors of 2 MiB and more (on huge pages: lang/value.c),
 * which are written with O_DIRECT straight from their memory, in the
 * spilling call (store_stats.spilled_direct; where the filesystem
 * refuses O_DIRECT, buffered).
 * A value that cannot be encoded (a future, actor or function inside) is
 * never spilled: it stays in memory, counted, and is not an error.
 *
 * Read-ahead (store_readahead.h; off unless FLOW_STORE_READAHEAD=1: it
 * made real programs slower here): big tensor records are read back with
 * O_DIRECT. When read-ahead is on and restores follow the order the
 * records were written in (spill order is LRU order: a pipeline consuming
 * many results in the order they were made), the next records are read
 * ahead by a thread of the store's (started at the first read-ahead,
 * joined by store_close), straight into tensors made for them; store_get
 * of such an object takes its tensor (waiting for its read if in flight)
 * after the same check of its head as a read of its own. Those tensors
 * are not in the store, nor in mem_bytes, until taken: at most
 * min(8 MiB, memory_cap / 8) bytes, or one tensor of up to twice that
 * when nothing else is ahead (store_stats.ahead_bytes), dropped when
 * the window moves on, on a random restore, and when the object is
 * freed. A failed read ahead is never a value: the object is read again
 * by store_get, which reports the error. Where the filesystem refuses
 * O_DIRECT (or under FLOW_TEST_STORE_NO_DIRECT=1) read-ahead is off:
 * buffered reads have the kernel's own readahead. Paired in one process
 * (bench/store/readahead_ab.c), reading back 512 MiB / 2 GiB of 1 MiB
 * tensors went from 0.73x / 0.58x to 1.03x / 1.11x of dd iflag=direct
 * bs=1M on the same file (0.50x / 0.59x of bs=8M); bench/README.md, the
 * spill store, sixth pass.
 *
 * Errors: functions returning int give 0 on success, or STORE_ERR /
 * STORE_SPILL_FAILED with a malloc'd message in *err (free it; err may be
 * NULL to ignore it). Messages name the spill directory. After any failing
 * call (NULL from store_open included), store_errcode() gives its reason
 * as a code of lang/flow_err.h, for programs and the wire: FLOW_ENOTFOUND,
 * FLOW_EEXIST, FLOW_EINVAL, FLOW_ECORRUPT (a record missing or not
 * decodable), FLOW_ENOSPC (map or disk full), FLOW_EIO. A failed spill
 * (map full, disk full, I/O error) aborts its LMDB transaction, so every
 * object stays in memory, intact: nothing is lost or half-written. After
 * one the store stops spilling (reported once, not retried on every put).
 *
 * Threads: every function may be called from any thread. One mutex guards
 * the whole store, spilling and reading back included (simple, and LMDB
 * then needs no locking of its own: MDB_NOLOCK); a finer scheme can come
 * when a profile shows the lock.
 */
#ifndef FLOW_STORE_H
#define FLOW_STORE_H

#include <stdint.h>

#include "lang/value.h"

typedef struct store store;

typedef struct store_opts {
	uint64_t memory_cap;   /* bytes kept in memory before spilling */
	const char *spill_dir; /* NULL: $TMPDIR, else /tmp; created if missing (and removed) */
	uint64_t map_size;     /* LMDB map size; 0: STORE_DEFAULT_MAP_SIZE or what RLIMIT_AS allows */
} store_opts;

/* The map is sparse: the file grows only as objects are written. */
#define STORE_DEFAULT_MAP_SIZE (64ull << 30)

enum {
	STORE_OK = 0,
	STORE_ERR = -1,          /* nothing done (unknown id, bad input, corrupt record) */
	STORE_SPILL_FAILED = -2, /* the put/get itself was done, but spilling failed:
	                          * the store is over its cap, every object intact */
};

typedef struct store_stats {
	uint64_t mem_bytes;        /* estimated bytes in memory now */
	uint64_t mem_peak;         /* highest mem_bytes seen */
	uint64_t mem_objects;      /* objects in memory now */
	uint64_t objects;          /* objects in the store (memory or LMDB) */
	uint64_t pinned_objects;   /* objects pinned now */
	uint64_t unspillable;      /* objects found not encodable (kept in memory) */
	uint64_t spilled_bytes;    /* total encoded bytes written to LMDB */
	uint64_t spilled_objects;  /* total objects written to LMDB */
	uint64_t spilled_direct;   /* of those, tensors of 2 MiB or more written with O_DIRECT */
	uint64_t evicted_objects;  /* total releases from memory (written or already on disk) */
	uint64_t restored_bytes;   /* total encoded bytes read back from LMDB */
	uint64_t restored_objects; /* total objects read back */
	uint64_t restored_direct;  /* of those, tensors read straight into their buffer with O_DIRECT */
	uint64_t restored_ahead;   /* of those, tensors read ahead (sequential restores: store_readahead.h) */
	uint64_t disk_objects;     /* LMDB records now (as LMDB counts them: mdb_stat) */
	uint64_t disk_bytes;       /* encoded bytes in those records */
	uint64_t ahead_bytes;      /* bytes read ahead and not yet taken now: not in the store, nor in
	                            * mem_bytes; at most min(8 MiB, memory_cap / 8), or one
	                            * tensor of up to twice that */
} store_stats;

/* Opens a store. NULL with *err on failure (the spill directory cannot be
 * created or written, LMDB cannot be opened there). */
store *store_open(const store_opts *o, char **err);
/* The flow_err.h code of the calling thread's last failing store call
 * (errno-like: per thread, meaningful only right after a failure). The
 * return values stay the three STORE_* classes, which callers and tests
 * compare against. */
int store_errcode(void);

/* Removes the spill directories under base whose owner process is gone
 * (flow-spill-PID-*, owned by this user). store_open calls it. */
void store_sweep_stale(const char *base);
/* Releases every value, closes LMDB and removes its directory. */
void store_close(store *s);
/* The private directory holding the LMDB files (for messages and tests). */
const char *store_dir(const store *s);

/* Stores v (borrowed; the store takes its own reference) under a new id.
 * v must be frozen if heap. STORE_ERR if id is already there. */
int store_put(store *s, uint64_t id, value v, char **err);
/* *out = a new reference to the object (read back from LMDB if spilled, and
 * then kept in memory again). STORE_ERR for an unknown id or a corrupt
 * record; STORE_SPILL_FAILED: *out is set, but the spill that followed
 * failed. */
int store_get(store *s, uint64_t id, value *out, char **err);
/* True if id is in the store (in memory or spilled). */
bool store_has(store *s, uint64_t id);
/* A pinned object is never spilled (pins count: pin twice, unpin twice).
 * STORE_ERR for an unknown id or unpinning an unpinned object. */
int store_pin(store *s, uint64_t id, char **err);
int store_unpin(store *s, uint64_t id, char **err);
/* Drops the object from memory and from LMDB (pins or not). STORE_ERR for
 * an unknown id or when deleting the LMDB record fails (the object is then
 * gone from the store anyway: its record is only dead space). */
int store_free(store *s, uint64_t id, char **err);
void store_get_stats(store *s, store_stats *st);
/* Forces LMDB's writes to disk (spilling does not sync: the data is
 * temporary). For benchmarks comparing against direct I/O. */
int store_sync(store *s, char **err);

/* The default memory cap: 30% of physical memory (1 GiB if unknown). */
uint64_t store_default_memory(void);

#endif
