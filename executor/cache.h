/* cache.h - results of completed task calls kept between runs, for
 * `flow run --resume` (docs/cache.md): an LMDB environment of its own
 * (default `.flow/cache/` beside the program), keyed by a SHA-256 of
 * what decides a call's result:
 *
 *   - the task's code and, transitively, the code of every task, fn and
 *     actor it can call (bytecode with proto, actor, native and global
 *     references by name, constants by content; not source positions);
 *   - the values of the module globals (params, consts) that code reads;
 *   - its arguments by content (lang/encode.h);
 *   - --seed and the call's identity (task_run.h), only when that code
 *     may draw random numbers;
 *   - the flow version and the opcode table's fingerprint.
 *
 * A task is cacheable when the effect analysis (compiler/effects.h) finds
 * it free of effects, or when it is marked @cache. Only successful results
 * that the encoding can hold are stored (no futures, actors, functions).
 * An entry also records (path, size, mtime) of each file its call tree
 * read through io.read_text and friends (vm_note_read), and the answers
 * of io.glob and io.exists (vm_note_probe); a lookup whose files changed
 * or whose questions get another answer is a miss.
 *
 * Threads: lookups and stores may come from any thread; LMDB serialises
 * writers. The innermost cacheable call running on a thread is
 * thread-local (so file reads are attributed to it and to its callers);
 * a nested call run on another thread carries its caller's (task_run.h's
 * nested_job.cache_parent).
 *
 * Ownership: cache_open returns a cache the caller closes with
 * cache_close (which evicts past the cap and syncs). cache_call objects
 * are reference counted (hold/release). The program given to cache_bind
 * must outlive the cache's use. */
#ifndef FLOW_CACHE_H
#define FLOW_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lang/bytecode.h"

typedef struct flow_cache flow_cache;
typedef struct cache_call cache_call;

#define CACHE_DEFAULT_CAP (1ull << 30) /* --cache-size default: 1 GiB */

typedef struct cache_opts {
	const char *dir;     /* the environment's directory (created if missing) */
	uint64_t cap;        /* most bytes of entries kept (0: CACHE_DEFAULT_CAP) */
	bool read;           /* --resume: calls look their results up */
	bool write;          /* completed calls are stored */
	const char *version; /* the flow version: part of every key */
} cache_opts;

/* Opens (creating) the cache in o->dir. A file there that is not an LMDB
 * environment, or a damaged one, is removed and a new cache started (a
 * warning on err_stream, if not NULL). NULL with a malloc'd *err. */
flow_cache *cache_open(const cache_opts *o, FILE *err_stream, char **err);
/* Computes what the keys of p's tasks need (digests of code and globals,
 * which tasks are cacheable). Call once before the run. */
void cache_bind(flow_cache *c, const bc_program *p);
/* Evicts past the cap, records when the entries hit were used, syncs and
 * closes. NULL is fine. */
void cache_close(flow_cache *c);

/* The cache of the run in progress (flow run sets it around the run;
 * NULL: none), read by task_run.c. */
void cache_set_current(flow_cache *c);
flow_cache *cache_current(void);

typedef struct cache_stats {
	uint64_t hits;       /* calls whose result came from the cache */
	uint64_t misses;     /* cacheable calls that ran */
	uint64_t stored;     /* results written */
	uint64_t uncacheable;/* calls that could not be cached (effects, arguments) */
} cache_stats;
void cache_get_stats(const flow_cache *c, cache_stats *s);

/* ---- the hook around a task call (task_run.c) --------------------------- */

/* Before task runs as call `ident` of stream `seed` on args (resolved,
 * frozen). Returns 1 with *hit (a new reference) when its result is in
 * the cache; else 0 with *cc, the call to end with cache_call_end (NULL
 * when there is nothing to do after). */
int cache_call_begin(flow_cache *c, const bc_proto *task, uint64_t seed, uint64_t ident,
                     const value *args, int nargs, cache_call **cc, value *hit);
/* After the call: stores its result if outcome (a done or failed future)
 * is done and storable; releases cc. */
void cache_call_end(cache_call *cc, value outcome);

/* This thread's innermost cacheable call, held (NULL: none): what a
 * nested call handed to another thread keeps as its caller's. */
cache_call *cache_call_current(void);
void cache_call_release(cache_call *cc);
/* Running a nested call on some thread: its caller's call becomes this
 * thread's current one until cache_job_leave(the returned value). */
cache_call *cache_job_enter(cache_call *parent);
void cache_job_leave(cache_call *prev);
/* A native read the file at path: recorded with the calls running. */
void cache_note_read(const char *path);
/* A native asked the file system (lang/vm.h VM_PROBE_GLOB: io.glob's
 * pattern; VM_PROBE_EXISTS: io.exists' path): the answer is recorded with
 * the calls running, and checked again on lookup. */
void cache_note_probe(int kind, const char *arg);

/* ---- remote calls (remote_async.c: flow run --address) --------------------- */

/* Before a DAG node's call of task (args: a list, resolved and frozen) is
 * sent to the cluster: 1 when the cache holds its result (the caller then
 * runs the node here, where cache_call_begin finds it); 0 with key[] set
 * when its result is to be stored (cache_remote_end); -1: neither. Only
 * tasks free of effects: what a task reads on another node is not seen
 * here, so a @cache task with effects is not cached on a cluster. */
int cache_remote_begin(flow_cache *c, const bc_proto *task, uint64_t seed, uint64_t ident,
                       value args, uint8_t key[32]);
/* The call of cache_remote_begin's key came back with res (frozen). */
void cache_remote_end(flow_cache *c, const uint8_t key[32], const bc_proto *task, value res);

/* ---- flow cache ---------------------------------------------------------- */

/* Lists the entries of the cache in dir (task, size, age) on out.
 * Returns 0, or -1 with *err (malloc'd). */
int cache_list(const char *dir, FILE *out, char **err);
/* Removes every entry. *removed: how many. Returns 0, or -1 with *err. */
int cache_clean(const char *dir, uint64_t *removed, char **err);

#endif
