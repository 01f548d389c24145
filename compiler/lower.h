/* lower.h - lowering a compiled program's driver to a DAG (LANGUAGE.md
 * section 6): the driver runs at compile time in the VM with a host that
 * records task calls, actor creations, method calls, driver effects and
 * every instruction that needs a run-time value as DAG nodes.
 *
 * Ownership: the returned dag borrows p (keep p alive longer); the error
 * text is malloc'd and already formatted gcc-style (file:line:col, the
 * source line, a caret), for the caller to print and free.
 */
#ifndef FLOW_LOWER_H
#define FLOW_LOWER_H

#include <stdbool.h>
#include <stdint.h>

#include "dag.h"
#include "lang/small_limits.h"

typedef struct lower_opts {
	uint32_t max_nodes; /* 0: the default limit (LOWER_MAX_NODES) */
	bool no_rewrite;    /* keep chains of @associative calls as written */
	bool static_only;   /* --static: a driver that would continue at run
	                     * time (section 6) is a compile error instead */
	uint64_t budget;    /* 0: LOWER_BUDGET (vm_context.budget) */
} lower_opts;

#define LOWER_MAX_NODES FLOW_LIMIT(100000000u, 100000u)
/* The compile-time budget per driver statement, in backward jumps and
 * calls: a statement past it runs at run time (section 6). */
#define LOWER_BUDGET 1000000u

/* Returns the DAG (finalized, and with chains of @associative calls
 * rebalanced unless o->no_rewrite: rewrite.h), or NULL with *err set. */
dag *lower_program(const bc_program *p, const lower_opts *o, char **err);

#endif
