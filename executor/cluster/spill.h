/* spill.h - nested calls that leave their caller's node (docs/wire.md,
 * "Nested calls that spill"): a task body's call that its node cannot
 * take now (busy) or at all (its @cpus/@memory/@resources) is sent to the
 * head in RUN_TASKS, on the node's own connection to the head, and placed
 * there like any call; its outcome comes back in TASKS_DONE. One link
 * per process: a worker daemon's, installed once its connection to the
 * head is made; or the head's own node 1's, a local link that hands the
 * call to the head's queue in the same process (no network hop) and
 * gets its outcome as the encoded record the head would send.
 * task_exec.c decides which calls go (its rule is there).
 *
 * Ownership: a worker's link owns its pump; it borrows the connection,
 * which outlives it (cl_spill_stop before the connection closes). A
 * local link owns two threads that hand outcomes on. Call backs run on
 * the link's threads and own the outcome they are given. */
#ifndef FLOW_CLUSTER_SPILL_H
#define FLOW_CLUSTER_SPILL_H

#include "transport.h"
#include "wire.h"

typedef struct cl_spill cl_spill;
/* An outcome (its contents the callee's: wire_done_free), or NULL: the
 * link was lost before it came (the call did not run, or its outcome
 * cannot be had: the caller runs it itself). */
typedef void (*cl_spill_cb)(void *arg, struct wire_done *d);

/* A link sending calls to the head on connection head. */
cl_spill *cl_spill_start(wire_client *head);
/* A local link (the head's own node): submit(arg, c) queues call c at
 * the head (c->args taken over: none after; c->id is the link's number,
 * echoed in the outcome) and returns 0, or -1 (the call is not taken).
 * The head hands each outcome for it to cl_spill_deliver. */
cl_spill *cl_spill_start_local(int (*submit)(void *arg, struct wire_call *c), void *arg);
/* An outcome for a call of local link s: its DONES record (encoded,
 * copied here), handed to the call's call back on one of s's threads. */
void cl_spill_deliver(cl_spill *s, const void *rec, size_t len);
/* Makes s the process's link (NULL: none; calls then stay on their node). */
void cl_spill_install(cl_spill *s);
/* Calls still out are called back with NULL; then s is freed. Uninstall
 * it first. */
void cl_spill_stop(cl_spill *s);
/* Sends call c (its id set here; args borrowed) through the installed
 * link: 0 when it is on its way (cb(arg, ...) is called once, later,
 * from another thread); -1 when there is no link, the record is larger
 * than max_record bytes or cannot be encoded, or the link is lost
 * (cb is not called). */
int cl_spill_send(struct wire_call *c, size_t max_record, cl_spill_cb cb, void *arg);
/* Calls sent so far by this process (for the worker's log and tests). */
unsigned long cl_spill_count(void);

#endif
