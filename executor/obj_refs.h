/* obj_refs.h - a run's results in the object store (executor/store.h):
 * which node results live there, and when each can be freed.
 *
 * A node's result of at least RUN_STORE_INLINE_MAX bytes moves from its
 * future into the store (which may spill it to LMDB) and is freed there
 * once every node that uses it has run; smaller results stay inline in
 * their futures (as Ray inlines small objects). The object id is the DAG
 * node id, so a re-run of the same plan makes the same ids.
 *
 * Ownership: a run_store is shared by every task_host of one run and owned
 * by the executor that made it (run_store_init/fini); it borrows the
 * store, which the caller opens and closes. Threads: uses[] is updated
 * atomically; everything else is read-only after init. */
#ifndef FLOW_OBJ_REFS_H
#define FLOW_OBJ_REFS_H

#include <stdint.h>
#include <stdio.h>

#include "compiler/dag.h"
#include "lang/small_limits.h"
#include "lang/vm.h"

#define RUN_STORE_INLINE_MAX FLOW_LIMIT(4096, 64)

typedef struct run_store {
	struct store *st;
	uint32_t *uses;          /* per node: data consumers not run yet (atomic) */
	int reported;            /* a store error was printed (atomic) */
} run_store;

/* rs->uses from g's edges. st may be NULL: then nothing is stored. */
void run_store_init(run_store *rs, struct store *st, const dag *g);
void run_store_fini(run_store *rs);

/* After node v of g ran: its result goes to the store (or is dropped when
 * nothing uses it), and the inputs it was the last user of are freed. A
 * store error is printed once on err (results then stay in memory). */
void run_store_after(run_store *rs, FILE *err, const dag *g, uint32_t v);

/* Does done future f have its result in the store (not in f->result)? */
bool run_store_holds(const vfuture *f);
/* Reads such a result: a new reference in *out. STORE_ERR with a
 * malloc'd *err when it cannot be read; STORE_SPILL_FAILED: *out is set
 * but the spill that followed failed (reported at the next put). */
int run_store_read(run_store *rs, const vfuture *f, value *out, char **err);

#endif
