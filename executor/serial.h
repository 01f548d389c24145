/* serial.h - the reference executor: runs a compiled program in one
 * thread, top to bottom, every task and actor call inline. Its output is
 * the semantics every other executor must reproduce. */
#ifndef FLOW_SERIAL_H
#define FLOW_SERIAL_H

#include <stdint.h>
#include <stdio.h>

#include "../lang/bytecode.h"

typedef struct serial_opts {
	uint64_t seed;  /* flow run --seed (default 0) */
	FILE *out;      /* the driver's prints */
	FILE *err;      /* task prints "(name) text", failures, the summary */
} serial_opts;

/* Runs the driver of p (its globals were computed by compile_program).
 * Returns 0 on success, 1 when anything failed: every failure is printed
 * to o->err once, then a summary line ("flow: 2 tasks failed"). */
int serial_run(const bc_program *p, const serial_opts *o);

#endif
