/* head.h - the head daemon: membership and the cluster's listener.
 *
 * The head serves one authenticated req/rep socket (transport.h). It keeps
 * the membership: itself as node 1, then each worker that JOINs (node id,
 * epoch, host, address, cpus, resources, store figures, last heartbeat).
 * A worker whose connection closes is removed at once (nng's pipe
 * notification) and logged; one silent for HEAD_DEAD_MS plus the head's own
 * loop lag is marked dead and fenced: its later heartbeats are refused.
 *
 * A client's RUN_TASKS batches are queued and placed by free slots on
 * live nodes that offer CPUs: a worker (the plan shipped to it once; one
 * pump per link sends its batches, batch.h) or the head's own node 1 (a
 * pool of --cpus threads; --cpus 0 keeps tasks off the head). Outcomes go
 * back as they come, answering the client's parked requests, so the loop
 * keeps serving.
 *
 * Ownership: head_run borrows opts for its whole run.
 */
#ifndef FLOW_HEAD_H
#define FLOW_HEAD_H

#include "lang/value.h"
#include "node.h"

#define HEAD_HEARTBEAT_MS 500
#define HEAD_DEAD_MS 3000

/* Serves until *opts->stop; 0 after a clean stop, 1 on an error (e set). */
int head_run(const struct node_opts *opts, verr *e);

#endif
