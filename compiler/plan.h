/* plan.h - plan files: a compiled program on disk (docs/plan-format.md).
 *
 * plan_write serialises a bc_program (with the sources it was compiled
 * from and the -p values it was compiled with); plan_read loads one back,
 * validating every byte before use, so `flow run` of a plan behaves as
 * `flow run` of its source.
 *
 * Ownership: plan_read's program owns its protos, code, constants and
 * names (bc_program_free releases them); its sources are registered with
 * the caller's diag_ctx, which it borrows: keep d alive until the program
 * is freed. Error strings are malloc'd; the caller frees them.
 */
#ifndef FLOW_PLAN_H
#define FLOW_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "lang/bytecode.h"
#include "lang/resolve.h"
#include "lang/value.h"

#define PLAN_MAGIC "FLOWPLAN"
#define PLAN_MAGIC_LEN 8
#define PLAN_VERSION 3u
/* bc_ops_fingerprint() of the opcode list (lang/opcodes.h) that plans of
 * PLAN_VERSION store raw opcode numbers of. When tests/unit/test_opcodes
 * fails because the list changed (an opcode added, removed or moved, or a
 * format or fact changed): raise PLAN_VERSION, then set this to the value
 * the test prints, note the change in docs/plan-format.md and remake the
 * fuzzers' plan seeds (tests/fuzz/make_corpus.sh). */
#define PLAN_OPCODES_FINGERPRINT 0x0a507f623828d64dull

/* Section ids (the section table lists them in this order). */
enum {
	PLAN_SEC_OPTIONS = 1, PLAN_SEC_SOURCES, PLAN_SEC_MODULES, PLAN_SEC_PROTOS,
	PLAN_SEC_ACTORS, PLAN_SEC_PROGRAM,
	PLAN_SEC_NODES = 16, PLAN_SEC_EDGES = 17, /* the lowered driver (optional) */
};
#define PLAN_SEC_REQUIRED 1u /* flag: a reader that does not know it must refuse */

/* Appends the plan of p to out. params are the -p values it was compiled
 * with (recorded for information). d, the driver lowered to a DAG of p, is
 * stored too unless NULL. Returns 0, or -1 with *err set (e.g. a constant
 * or a node input that has no encoding). */
int plan_write(sbuf *out, const bc_program *p, const param_set *params, int nparams, const dag *d,
               char **err);

/* True when buf starts with the plan magic. */
int plan_is_plan(const void *buf, size_t len);

/* Loads a plan from memory. Returns NULL with *err set ("<what> at offset
 * N") when anything is wrong. *out_dag (if out_dag is not NULL) gets the
 * stored DAG, validated and finalized, or NULL when the plan has none; it
 * borrows the program: free it (dag_free) before the program. */
bc_program *plan_read(const void *buf, size_t len, diag_ctx *dc, dag **out_dag, char **err);

/* Reads a whole file into memory (malloc'd). Returns 0, or -1 with errno. */
int plan_slurp(const char *path, uint8_t **buf, size_t *len);

/* The whole file at path, read-only: a regular file of 64 KiB or more is
 * mapped (no copy and no fault per page: a 17 MB plan costs 30-60 ms
 * less to load, a 160 KB one 40 page faults), anything
 * else read as plan_slurp does. Release with plan_unmap(*buf, *len).
 * Returns 0, or -1 with errno. The file must not be cut short while it
 * is mapped (that is a SIGBUS): `flow compile -o` replaces a plan by
 * renaming a new file over it, never rewriting it in place. */
int plan_map(const char *path, const uint8_t **buf, size_t *len);
void plan_unmap(const uint8_t *buf, size_t len);

#endif
