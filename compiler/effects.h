/* effects.h - which tasks have no effect the driver could observe, so an
 * executor may start them as soon as their inputs are ready instead of
 * when the driver reaches them (LANGUAGE.md section 6: "a task with no
 * effects may start as soon as its inputs are ready").
 *
 * A proto is "free" unless its code, or a task or fn it calls, can print,
 * sleep, read a clock, do io, run a process, read the machine's state,
 * touch an actor, or call a function value it cannot see (conservative).
 * Randomness does not count: each task's stream is its own.
 *
 * Ownership: the returned array (one bool per bc_program.protos entry)
 * is malloc'd; the caller frees it.
 */
#ifndef FLOW_EFFECTS_H
#define FLOW_EFFECTS_H

#include <stdbool.h>

#include "lang/bytecode.h"

bool *effects_free_protos(const bc_program *p);

/* Whether a call that may already have run can be run again (lineage, a
 * lost node: issue 12): one int per proto, -1 when it can (the proto is
 * marked @idempotent, or its own code has no effect and every task or fn
 * it calls can be run again: a nested call marked @idempotent does not
 * make its caller unsafe), else the index of a proto with effects, not
 * marked @idempotent, that it is or calls (for the error). malloc'd. */
int *effects_rerun_blockers(const bc_program *p);

#endif
