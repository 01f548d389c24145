/* batch.h - task calls travel in batches on every hop (docs/wire.md,
 * "Remote tasks"): client -> head -> worker.
 *
 * On the sending side of a hop, a pump: calls added (encoded records) go
 * out together in the next RUN_TASKS, while the previous one is in
 * flight (group commit), and outcomes come back in TASKS_DONE, answered
 * as soon as one is ready. A pump keeps at most one long wait (a request
 * the other side answers when an outcome is ready) and sends new calls
 * meanwhile with wait 0, so a slow task never holds a submission.
 *
 * On the receiving side, an outbox: the encoded outcomes for each
 * connection (pipe) and the requests parked until there are some.
 *
 * A pool runs a node's tasks on its threads (as many as its CPUs) and
 * hands each outcome, encoded, to a callback as soon as it is ready.
 *
 * Ownership: each object is made and freed here; records passed in are
 * copied; outcomes handed out (bt_pump_ops.done) belong to the callee.
 *
 * Files: batch_map.c (the map), batch_recs.c (records), batch_outbox.c,
 * batch_pump.c and batch_pool.c; their shared helpers: batch_int.h.
 */
#ifndef FLOW_CLUSTER_BATCH_H
#define FLOW_CLUSTER_BATCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/node_view.h"
#include "task_exec.h"
#include "transport.h"
#include "wire.h"

/* How long a long wait lasts before it is renewed, and how long a hop
 * waits for an answer beyond that before it calls the peer lost. */
#define BT_WAIT_MS 1000
#define BT_CALL_MS 60000
/* A record that does not fit a message leaves room for the header. */
#define BT_MAX_RECORD (WIRE_MAX_PAYLOAD - 64)

/* ---- a map from call ids to what the owner keeps for them ------------- */
typedef struct {
	uint64_t *keys; /* 0: empty */
	void **vals;
	size_t cap, n;
} bt_map;
void bt_map_put(bt_map *m, uint64_t key, void *val); /* key != 0; aborts if out of memory */
void *bt_map_get(const bt_map *m, uint64_t key);
void *bt_map_del(bt_map *m, uint64_t key);
void bt_map_free(bt_map *m);

/* ---- encoded records --------------------------------------------------- */
typedef struct {
	sbuf data;
	uint32_t *len; /* each record's length */
	uint32_t *tag; /* each record's pipe (outboxes) */
	size_t n, cap;
} bt_recs;
void bt_recs_init(bt_recs *r);
void bt_recs_add(bt_recs *r, const void *rec, size_t len, uint32_t tag);
void bt_recs_fini(bt_recs *r);

/* Encodes d as a TASKS_DONE record; a result that cannot travel (an
 * actor, a function, larger than a message) is sent as outcome
 * WIRE_DONE_UNSENDABLE instead, its error "the task's result cannot be
 * sent to another node: ..." (for people), its output dropped. */
void bt_encode_done(struct wire_done *d, bt_recs *out, uint32_t tag);

/* ---- the receiving side: outcomes per connection ----------------------- */
typedef struct bt_outbox bt_outbox;
bt_outbox *bt_outbox_new(void);
/* Outcomes for pipe are kept from now on (until bt_outbox_drop). */
void bt_outbox_open(bt_outbox *o, uint32_t pipe);
/* Appends every record of r to the outbox of its tag (records for a pipe
 * not open are dropped) and answers the waiters that can be answered. */
void bt_outbox_put(bt_outbox *o, bt_recs *r);
/* Answers p (a detached RUN_TASKS or WAIT_DONE of pipe) with TASKS_DONE:
 * now if outcomes are ready or wait_ms is 0, else when one is, or after
 * wait_ms (bt_outbox_expire). */
void bt_outbox_wait(bt_outbox *o, uint32_t pipe, wire_pending *p, uint32_t wait_ms);
/* Answers the waits whose time is up (an empty TASKS_DONE). */
void bt_outbox_expire(bt_outbox *o);
/* pipe's connection closed: its outcomes and waits go. */
void bt_outbox_drop(bt_outbox *o, uint32_t pipe);
/* Outcomes kept and not yet sent (a draining worker waits for none). */
size_t bt_outbox_pending(bt_outbox *o);
/* Answers every wait (empty) and frees o. */
void bt_outbox_free(bt_outbox *o);

/* ---- the sending side: a pump ------------------------------------------ */
typedef struct bt_pump_ops {
	/* The connection to send on, made (and the plans the calls need
	 * sent) before each request; NULL with e set: the peer is lost. */
	wire_client *(*link)(void *arg, verr *e);
	/* n outcomes; their contents are the callee's (wire_done_free). */
	void (*done)(void *arg, struct wire_done *d, uint32_t n);
	/* The peer is lost: every call added and not done is lost with it,
	 * and the pump adds nothing more. in_call: a request failed (else
	 * the link could not be made). */
	void (*lost)(void *arg, const char *why, int in_call);
	/* Optional: the connection when it is ready now (made, every plan
	 * sent), without blocking; else NULL (a pump thread then calls link).
	 * With it, the thread that adds a call sends it itself. */
	wire_client *(*ready)(void *arg);
	/* done may run on nng's thread that got the reply (it must not
	 * block: no network waits): a reply then wakes no pump thread. */
	int inline_done;
} bt_pump_ops;
typedef struct bt_pump bt_pump;
/* Starts `threads` (at least 2) threads: they make the link, time the
 * requests out, and (without inline_done) hand outcomes on. */
bt_pump *bt_pump_start(const bt_pump_ops *ops, void *arg, int threads);
/* Queues one encoded call record, and sends it at once (on this thread,
 * when ops.ready gives the connection) if fewer than two requests are
 * out; else it goes with the next. -1 once the pump is lost (the caller
 * fails the call itself; ops.lost has or will have run). */
int bt_pump_add(bt_pump *p, const void *rec, size_t len);
/* Stops the threads (a request in flight ends with its connection: shut
 * it first) and frees p. */
void bt_pump_stop(bt_pump *p);

/* ---- a node's task threads -------------------------------------------- */
/* An outcome, encoded (its record's id is the call's), for the call's
 * pipe; called from a pool thread, with no lock of the pool held. */
typedef void (*bt_pool_done_fn)(void *arg, bt_recs *rec);
typedef struct bt_pool bt_pool;
/* name: "node 2 (host2)" (copied); view is borrowed; busy (or NULL)
 * counts the threads running a task. */
bt_pool *bt_pool_start(int threads, const char *name, const flow_node_view *view,
                       _Atomic uint32_t *busy, bt_pool_done_fn done, void *arg);
/* Queues call c (its args taken over; c->args is none after) of pipe on
 * plan (loaded and kept by the caller). */
void bt_pool_add(bt_pool *p, uint32_t pipe, cl_plan *plan, struct wire_call *c);
/* Called on a pool thread just before it runs call c (from pipe, of
 * plan): 0 runs it; otherwise it is not run and answered WIRE_DONE_NOTRUN
 * with why (a start the head did not accept: starts.h). Set before the
 * first bt_pool_add; NULL: every call runs. */
typedef int (*bt_pool_start_fn)(void *arg, uint32_t pipe, cl_plan *plan,
                                const struct wire_call *c, const char **why);
void bt_pool_on_start(bt_pool *p, bt_pool_start_fn fn, void *arg);
/* Drops the queued calls of pipe (by_job 0) or of job (by_job 1): their
 * client went away. Returns how many, their ids in *ids (malloc'd, or
 * NULL). */
size_t bt_pool_drop(bt_pool *p, int by_job, uint64_t key, uint64_t **ids);
/* Drops what is queued and ends the threads once their running tasks
 * end, waiting up to wait_ms for them: -1 (p left as it is, for the
 * process's exit) if a task still runs then, else 0 (p freed). */
int bt_pool_stop(bt_pool *p, int wait_ms);
/* Calls queued or running (a draining worker waits for none). */
size_t bt_pool_pending(bt_pool *p);
/* Around a wait in a task for an actor (begin 1, then 0), on a pool's thread (else
 * nothing): the thread's gathered outcomes go at once and its CPU is
 * given back to the pool's next call meanwhile. */
void bt_pool_block(int begin);
/* The pool whose thread this is, or NULL. */
bt_pool *bt_pool_current(void);
/* Its CPUs (calls run at once), and those free now: not running a call
 * or a nested call, blocked ones aside (<= 0: every CPU is taken). For
 * task_exec.c's rule of which nested calls spill (spill.h). */
int bt_pool_cpus(bt_pool *p);
int bt_pool_idle_cpus(bt_pool *p);
/* Queues a nested call made by a task running on p (task_exec.c): a
 * thread of p's runs fn(arg, 1) when a CPU is free, before any queued
 * call. fn(arg, 0) instead once p stops (it is not run then: its caller
 * runs it when it waits for it). */
void bt_pool_nest(bt_pool *p, void (*fn)(void *arg, int run), void *arg);

#endif
