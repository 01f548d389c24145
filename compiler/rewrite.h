/* rewrite.h - the associative-chain rewrite (LANGUAGE.md section 7).
 *
 * A tree of calls of one @associative two-parameter task in which every
 * intermediate result has exactly one use (a direct argument of the next
 * call of the same task) is rebalanced into the tree the builtin reduce
 * builds: neighbours paired level by level, operands kept in left-to-right
 * order, depth ceil(log2 leaves). A chain `acc = add(acc, x)` is such a
 * tree. The rewrite reuses the tree's node ids (the root stays the root),
 * then renumbers the DAG so ascending ids are topological again.
 *
 * Ownership: rewrite.c owns d->rewrites (grows it); the dag owns the rest.
 */
#ifndef FLOW_REWRITE_H
#define FLOW_REWRITE_H

#include <stdio.h>

#include "dag.h"

/* (Named _all because dag.h's record type is already called dag_rewrite.)
 * Rebalances every unbalanced tree of >= 3 calls; records one entry per
 * rewrite in d->rewrites. Precondition: dag_finalize done and ids
 * topological. Leaves d finalized. Returns the number of rewrites made,
 * or -1 if d is not finalized or not topological (d is left unchanged). */
int dag_rewrite_all(dag *d);

/* One line per rewrite:
 *   FILE:LINE:COL: rewrite: N calls of 'add' rebalanced into a tree: depth A -> B
 * then "N rewrites" (or "1 rewrite", or "no rewrites"). */
void dag_explain(const dag *d, FILE *out);

#endif
