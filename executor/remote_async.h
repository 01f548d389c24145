/* remote_async.h - a DAG task call whose node is remote (the cluster,
 * task_run.h's task_remote), sent without a thread waiting for it.
 *
 * A pool worker (pool.c) that takes such a call resolves its arguments
 * and hands it to task_remote.submit, then goes on taking work: the
 * client's pump sends calls in batches, and each outcome comes back on a
 * pump thread, which settles the node's future, reports a failure as the
 * waiting call would (task_remote_settle), and completes the node in the
 * scheduler (releasing its dependents and what it held) right there.
 * What a waiting call does, this does too: a call lost with its node is
 * sent again after a pause (task_remote_again: not a task with effects),
 * prints come back after their node's name, --trace and the progress line
 * see the node run from its sending to its outcome. A call that cannot
 * travel (an actor among its arguments), or whose result cannot (larger
 * than a message), runs on the worker as before.
 *
 * Threads: begin on any worker (no lock held); outcomes on the client's
 * pump threads and one resend thread. The counts of failures are kept in
 * the async's own task_host (under its lock), added to the node's totals
 * by remote_async_free.
 *
 * Ownership: the pool owns its remote_async (one per run); each call in
 * flight is the async's until its outcome is taken. */
#ifndef FLOW_REMOTE_ASYNC_H
#define FLOW_REMOTE_ASYNC_H

#include <stdbool.h>

#include "executor/node.h"
#include "executor/sched.h"
#include "executor/task_run.h"

typedef struct remote_async remote_async;

/* For run on node n (run->remote has submit), or NULL when it has not. */
remote_async *remote_async_new(exec_node *n, const node_run *run);
/* Item it (taken by a worker whose host is h, VM vm, thread tid): true
 * when this has taken it over (sent; or run here and completed), and the
 * worker owes nothing more for it (not even sched_release); false: the
 * worker runs it as usual. (not mu) */
bool remote_async_begin(remote_async *ra, task_host *h, flow_vm *vm, const sched_item *it,
                        int tid);
/* After sched_stop: waits for the calls in flight, adds their counts to
 * *t and frees ra (NULL: nothing). (not mu) */
void remote_async_free(remote_async *ra, node_totals *t);

#endif
