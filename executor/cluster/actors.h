/* actors.h - actors on the cluster (docs/wire.md, "Actors").
 *
 * An actor lives on one node. The head keeps the directory (ac_dir): each
 * actor's id, class, node and state, the calls sent to it and not yet
 * answered, and what @restarts(n) still allows. Callers (the client's
 * driver and tasks, tasks and methods on any node) send ACTOR_CALL to the
 * head and wait for its one answer; the head forwards each call to the
 * actor's node in the RUN_TASKS batches tasks use (a record whose fn has
 * a WIRE_FN_ACTOR_* flag). A node hosts its actors in ac_host: each actor
 * has a mailbox and a thread of its own, which runs its calls one at a
 * time in the order they arrived; a caller waits for each call, so one
 * caller's calls run in its order and callers interleave as they arrive
 * (LANGUAGE.md section 5).
 *
 * An actor with needs (@cpus, @memory, @resources: ac_dir_ops.needs)
 * goes only to a node where they fit and are free; they are held there
 * (ac_dir_ops.hold) while it lives and given back when it ends (its run's
 * client went away), breaks (init failed) or dies; while no node has them
 * free it waits, its calls queued; when no live node could ever hold it,
 * its creation fails saying what each node offers.
 *
 * When the actor's node is lost, the calls sent to it fail as "actor_died"
 * (they may have started); if restarts remain, the head starts the actor
 * again on another live node (init runs again, with the same arguments)
 * and the calls that arrive meanwhile wait for it; with none left, every
 * later call fails naming the actor and the node.
 *
 * Ownership: each object is made and freed here; records and messages
 * passed in are borrowed (what is kept is copied); answers handed out
 * (ac_reply_fn, ac_done_fn) are borrowed for the callback's duration.
 */
#ifndef FLOW_CLUSTER_ACTORS_H
#define FLOW_CLUSTER_ACTORS_H

#include <stddef.h>
#include <stdint.h>

#include "executor/task_run.h"
#include "lang/node_view.h"
#include "task_exec.h"
#include "transport.h"
#include "wire.h"

/* Ids of actor calls on the head's links (beside task calls' ids). */
#define AC_ID_BIT (1ull << 63)

/* ---- a node hosts actors ----------------------------------------------- */
typedef struct ac_host ac_host;
/* An outcome for the call's pipe, from an actor's thread (d borrowed). */
typedef void (*ac_done_fn)(void *arg, uint32_t pipe, struct wire_done *d);
/* name: "node 2 (host2)" (copied); view borrowed. */
ac_host *ac_host_new(const char *name, const flow_node_view *view, ac_done_fn done, void *arg);
/* c: a record whose fn has a WIRE_FN_ACTOR_* flag, of pipe, on plan (kept
 * by the caller); its args are taken over (c->args is none after). */
void ac_host_add(ac_host *a, uint32_t pipe, cl_plan *plan, struct wire_call *c);
/* Called on an actor's thread just before a method call c (from pipe)
 * runs: 0 runs it; otherwise it is not run and answered WIRE_DONE_NOTRUN
 * with why (a start the head did not accept: starts.h). Set before the
 * first ac_host_add; NULL: every call runs. Not for init or FREE. */
typedef int (*ac_start_fn)(void *arg, uint32_t pipe, const struct wire_call *c, const char **why);
void ac_host_on_start(ac_host *a, ac_start_fn fn, void *arg);
/* The actors a hosts now (not yet freed). */
size_t ac_host_count(ac_host *a);
/* Ends every actor's thread once its running call ends, waiting up to
 * wait_ms: -1 (left to the exit) if one still runs then, else 0 (freed). */
int ac_host_stop(ac_host *a, int wait_ms);

/* ---- the head's directory ---------------------------------------------- */
typedef struct ac_node {
	uint64_t id;
	uint32_t cpus;
	char name[400]; /* "node 2 (host2 at 10.77.0.2:40000)" */
} ac_node;
typedef struct ac_dir_ops {
	/* The live nodes that offer CPUs (at most max of them). */
	size_t (*nodes)(void *arg, ac_node *out, size_t max);
	/* Sends call record c (borrowed) to node; -1 when the node is lost. */
	int (*send)(void *arg, uint64_t node, const struct wire_call *c);
	/* What the actor started by init (its plan and class) holds on its
	 * node while it lives (@cpus, @memory, @resources), or NULL: nothing
	 * (place_actor_has_needs). Borrowed: the plan is kept. May be NULL. */
	const bc_attrs *(*needs)(void *arg, const struct wire_call *init);
	/* Takes (sign 1) or gives back (sign -1) needs on node: 1 taken (or
	 * given back), 0 they fit the node but are not free now, -1 they can
	 * never fit it (why says so: "2 of resource 'gpu' ... but this node
	 * offers 1 ..."). */
	int (*hold)(void *arg, uint64_t node, const bc_attrs *needs, int sign, char *why, size_t n);
} ac_dir_ops;
typedef struct ac_dir ac_dir;
ac_dir *ac_dir_new(const ac_dir_ops *ops, void *arg);
/* The answer to an ACTOR_CALL, once (d borrowed). */
typedef void (*ac_reply_fn)(void *rarg, const struct wire_done *d);
/* ACTOR_CALL m from pipe (m borrowed; its args are held). */
void ac_dir_request(ac_dir *d, uint32_t pipe, const struct wire_actor_call *m, ac_reply_fn reply,
                    void *rarg);
/* An outcome from a node for an id with AC_ID_BIT (o borrowed). */
void ac_dir_done(ac_dir *d, const struct wire_done *o);
/* Node `node` reports that it is about to start the method call whose
 * link id is key (STARTED, starts.h): 1 accepted (the call counts as
 * started from now on), 0 refused (it is not there any more: the node was
 * lost and the call waits for the restart, or failed; or it was reported
 * already): the node must not run it. */
int ac_dir_started(ac_dir *d, uint64_t node, uint64_t key);
/* node is lost (its link failed, or it was declared dead): its actors
 * restart elsewhere or die. why names the node. Method calls sent there
 * that it had not reported as started (ac_dir_started) wait for the
 * restart when restarts remain (they did not run); the others fail. */
void ac_dir_node_lost(ac_dir *d, uint64_t node, const char *why);
/* Actors waiting for a node with their needs free try again (the head's
 * loop calls it now and then: task calls give resources back too). */
void ac_dir_tick(ac_dir *d);
/* pipe's client went away: the actors its run made are freed. */
void ac_dir_client_gone(ac_dir *d, uint32_t pipe);
void ac_dir_free(ac_dir *d);

/* ---- callers: task_actors (task_run.h) through the head ---------------- */
typedef struct ac_service ac_service;
/* Through connection c to the head (a client's or a worker's), or, on the
 * head itself, straight to dir. hash: the plan of the client's run, or
 * NULL: the plan of the task or method running on the calling thread. */
ac_service *ac_service_new(wire_client *c, ac_dir *dir, const uint8_t *hash, uint64_t job,
                           const char *head);
const task_actors *ac_service_actors(ac_service *s);
void ac_service_free(ac_service *s);

#endif
