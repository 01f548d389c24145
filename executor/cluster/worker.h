/* worker.h - the worker daemon: joins a head, heartbeats, leaves cleanly.
 *
 * It connects to the head, authenticates, and JOINs with the address it
 * reached the head from (or --node-ip) and the port of its own listener
 * (which will serve task runs and object pulls). A thread of its own sends
 * a HEARTBEAT every period; it takes no lock of the scheduler or the store
 * (it reads atomic figures only), so busy task threads never delay it. On
 * *stop it sends LEAVE and waits for the head's acknowledgement before
 * closing. When the connection to the head closes, the head stops
 * answering for HEAD_DEAD_MS, or the head refuses its heartbeat (fenced),
 * it logs why and returns 1.
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
