/* worker.h - the worker daemon: joins a head, heartbeats, leaves cleanly.
 *
 * It connects to the head, authenticates, and JOINs with the address it
 * reached the head from (or --node-ip) and the port of its own listener
 * (which will serve task runs and object pulls). A thread of its own sends
 * a HEARTBEAT every period; it takes no lock of the scheduler or the store
 * (it reads atomic figures only), so busy task threads never delay it. On
 * *stop it sends LEAVE and waits for the head's acknowledgement before
 * closing. When the connection to the head closes and the head's port then
 * refuses a connection (the head is gone), it logs why and returns 1. When
 * the head stops answering for HEAD_DEAD_MS or refuses its heartbeat
 * (fenced: a healed partition), it drops the calls it held and tries to
 * join again for opts->rejoin_ms, as a new node (new id and epoch, a new
 * store: *opts->store is replaced), then serves on; returns 1 if it could
 * not.
 *
 * Ownership: worker_run borrows opts for its whole run.
 */
#ifndef FLOW_WORKER_H
#define FLOW_WORKER_H

#include "lang/value.h"
#include "node.h"

/* 0 after a clean stop; 1 when the head was lost or refused us (e set). */
int worker_run(const struct node_opts *opts, verr *e);

#endif
