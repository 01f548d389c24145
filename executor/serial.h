/* serial.h - the reference executor: runs a compiled program in one
 * thread, top to bottom, every task and actor call inline. Its output is
 * the semantics every other executor must reproduce. */
#ifndef FLOW_SERIAL_H
#define FLOW_SERIAL_H

#include <stdint.h>
#include <stdio.h>

#include "../compiler/dag.h"
#include "../lang/bytecode.h"

typedef struct serial_opts {
	uint64_t seed;  /* flow run --seed (default 0) */
	FILE *out;      /* the driver's prints */
	FILE *err;      /* task prints "(name) text", failures, the summary */
	struct run_obs *obs; /* watches the run (executor/run_obs.h), or NULL */
	struct store *store; /* large results live here (executor/store.h), or NULL */
} serial_opts;

/* Runs the lowered driver g node by node, in id order. Returns 0 on
 * success, 1 when anything failed: every failure is printed to o->err
 * once, then a summary line ("flow: 2 tasks failed, 1 skipped"). The
 * node futures in g are filled in (g is spent: run it once). */
int serial_run_dag(const dag *g, const serial_opts *o);
/* Lowers p's driver (a compile error is printed to o->err) and runs it. */
int serial_run(const bc_program *p, const serial_opts *o);

#endif
