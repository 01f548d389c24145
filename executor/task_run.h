/* task_run.h - what every executor shares: running one DAG node, the
 * host of task bodies, retries, failure and skip messages, task prints
 * and actor instances. serial.c runs nodes in id order on one task_host;
 * the in-process node's pool (pool.c) gives each thread its own.
 *
 * Nested calls: a task called from a task body runs inline in the
 * caller's thread, unless the host has a spawner (jobs.c): then the
 * call becomes a nested_job, handed to the executor, and the caller gets
 * a pending future at once; its get/wait on that future goes back to the
 * spawner, which runs the job right there if no thread has taken it yet,
 * or blocks the caller (which gives up its CPU meanwhile). A call ends
 * only when the jobs it made have ended, as it would have inline:
 * whatever runs after a task sees everything its calls did. Calls made
 * inside an actor's method (or init) always run inline: the method holds
 * its actor's lock, and a job run elsewhere that called the same actor
 * would wait for it forever. Actor creation and method calls from task
 * bodies run inline too (under the actor's lock), so one caller's calls
 * on an actor run in the order it made them.
 *
 * A task_host is per thread: nothing in it is shared except actor_seq
 * (atomic), the node's view (read-only) and the output streams (each message is written under the
 * stream's lock, so lines from threads do not interleave).
 *
 * Random streams: a task's identity is its DAG node id + 1, or for a task
 * called from inside another, (the caller's identity, how many calls the
 * caller made before it); its stream is seeded from --seed and that
 * identity, so it does not depend on the order tasks happen to run in. */
#ifndef FLOW_TASK_RUN_H
#define FLOW_TASK_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler/dag.h"
#include "executor/obj_refs.h"
#include "lang/vm.h"
#include "lang/small_limits.h"

#define TASK_MAX_NESTING FLOW_LIMIT(400, 40)

/* A nested task call handed to an executor (see above). Owned by the
 * executor, which frees it after the run (pending futures point to it). */
typedef struct nested_job {
	const bc_proto *task;
	value *args;             /* resolved and frozen; released once run */
	int nargs;
	uint64_t ident;          /* the call's identity (random stream) */
	int level;               /* how deep it is nested below its DAG node */
	span where;              /* the call in its caller, for "called from" */
	const bc_program *prog;
	value fut;               /* its future (held until it ends; then none) */
	bool from_driver;        /* made by the staged driver (--trace, --dot-out) */
	int state;               /* NJ_*: written under the executor's lock,
	                          * atomically (a caller reads NJ_DONE without) */
	int waiters;             /* threads blocked on it (the executor's lock) */
	struct nested_job *next, *prev; /* the executor's queue */
	struct nested_job *sibling; /* the caller's other jobs (task_host.kids) */
	struct nested_job *all, *all_prev; /* every job of the run not freed */
	bool queued;             /* in the executor's queue (its lock) */
	bool retired;            /* its caller is done with it (its lock) */
	struct cache_call *cache_parent; /* its caller's cacheable call (cache.h), held */
	bool cached;             /* its result came from the cache (cache.h) */
	void *exec;              /* the executor's own record of it, or NULL */
} nested_job;
enum { NJ_QUEUED, NJ_RUNNING, NJ_DONE };

/* Somewhere else to run the DAG's task calls (the cluster: `flow run
 * --address`, executor/cluster/client.h). Calls made inside task bodies
 * go with their task; actors and the driver stay here. */
typedef struct task_remote {
	/* Runs task fn (its index in the program's protos) on args (a list,
	 * borrowed) as call `ident` of stream `seed`, with its @retries and
	 * @timeout there. Returns 0 with *res (a new reference); 1 when it
	 * failed there, *err the failure as that node's host reported it,
	 * and *res none or, when it stopped because a call it needed failed,
	 * that failure as an error value (its cause, for `except e`);
	 * -1 when it could not be run (*err says why); TASK_REMOTE_LOST when
	 * the node it was placed on was lost before it answered (*err names
	 * the node; the call may have started there): the caller may send
	 * the same call again, which the head places on a live node (a task
	 * without effects, compiler/effects.h, up to TASK_REMOTE_LOST_RERUNS
	 * times apart from its @retries; one with effects is not re-run, as
	 * it may have started); 2 when it cannot travel (an actor among its
	 * arguments): it runs here. *node names the node ("node 2 (host2)")
	 * and *output is what it printed; all three malloc'd or NULL. Called
	 * from any number of threads at once. */
	int (*run)(void *ctx, uint32_t fn, uint64_t seed, uint64_t ident, value args, value *res,
	           char **err, char **node, char **output);
	void *ctx;
	/* The same call sent without waiting (or NULL: none): 0 when it is on
	 * its way, and done(arg, ...) is called once, later, from another
	 * thread, with what run would have returned (res, err, node and
	 * output the callee's); 2 when it cannot travel (it runs here); -1
	 * when it cannot be sent (*err says why, malloc'd). */
	int (*submit)(void *ctx, uint32_t fn, uint64_t seed, uint64_t ident, value args,
	              void (*done)(void *arg, int rc, value res, char *err, char *node, char *output),
	              void *arg, char **err);
	/* The run stopped (or NULL): every submitted call not yet answered is
	 * answered now, -1 ("the run stopped"), its outcome not awaited. */
	void (*abandon)(void *ctx);
} task_remote;
#define TASK_REMOTE_LOST 3
#define TASK_REMOTE_LOST_RERUNS 3
/* run's 1 when the failure was its @timeout there (e.kind "timeout") */
#define TASK_REMOTE_TIMEOUT 5
/* not run again after TASK_REMOTE_LOST_RERUNS lost nodes, or as it has
 * effects (*err says why): a -1 whose e.kind is "node_lost". Never
 * returned by run; what task_remote_settle takes for it. */
#define TASK_REMOTE_NODE_LOST 6

struct task_host;
/* Actors of the cluster (executor/cluster/actors.h): under `flow run
 * --address`, and on every node of a cluster, an actor lives on one node
 * and its handle here is a reference (its id); creation and method calls
 * go through the head to that node. Set once per process
 * (task_set_actors) before any task runs: the client's run, a daemon's
 * node. NULL (the default): actors live in this process. Both functions
 * are called from any number of threads and block until the call ends.
 * create: runs class cls's init there; 0 with *id, 1 when init failed
 * (*err, *id still names the broken actor), -1 when it could not be made
 * (*err). call: method fn (a proto index) on actor id; 0 with *res (a new
 * reference), 1 when it failed there (*err as its node reported it),
 * TASK_REMOTE_LOST when the actor died (*err names the actor and the
 * node), -1 when it could not be called (*err). *node (or NULL) names
 * the node, *output what the method printed; strings malloc'd. */
typedef struct task_actors {
	int (*create)(void *ctx, uint32_t cls, uint32_t restarts, const char *name, uint64_t seed,
	              uint64_t ident, value args, uint64_t *id, char **err, char **node, char **output);
	int (*call)(void *ctx, uint64_t id, uint32_t fn, uint64_t seed, uint64_t ident, value args,
	            value *res, char **err, char **node, char **output);
	void *ctx;
} task_actors;
void task_set_actors(const task_actors *a);
/* Results that stay on the node that made them (the cluster's objects,
 * executor/cluster/objects.h): a remote task's result may be a small
 * reference; resolve(ref, out, err) gives its value (pulled once) when
 * code here reads it (1, *out a new ref; 0: v is no reference; -1 with a
 * malloc'd *err; -2 likewise, the object being an actor method's result
 * lost with its actor's node: e.kind "actor_died"), while a remote call's arguments keep the reference, so
 * the node that runs it pulls from the holder, not through this process.
 * Set once per process (the client), before the run; NULL: none. */
void task_set_resolver(int (*resolve)(value v, value *out, char **err));
/* The resolver, about to return -2 on this thread: the method whose
 * result was lost ("Cls.method", alive until the run ends), e.task of
 * the error the read raises. */
void task_resolve_lost_method(const char *name);
/* is_ref(v): v is such a reference (nothing is pulled). Set with the
 * resolver; task_result_is_ref is false while none is set. */
void task_set_ref_test(bool (*is_ref)(value v));
bool task_result_is_ref(value v);
/* Registers the encoding of actor handles that are references (an id and
 * a class index; a handle of an actor living here cannot be encoded).
 * Call once, before threads start, where handles travel. */
void task_actors_codec_init(void);
/* Decoded handles name their class by index: gives each handle inside v
 * its class from p (an index out of range leaves it broken). */
void task_actors_bind(value v, const bc_program *p);
/* Runs method (or init) m of an actor on this node with self (the
 * instance's fields, a dict) in h, as call `ident`: 0 with *res, or 1
 * with *err (malloc'd, rendered as a failed call's report). */
int task_run_method(struct task_host *h, const bc_proto *m, value self, value *args, int nargs,
                    uint64_t ident, value *res, char **err);

struct task_host;
typedef struct task_spawner {
	/* Takes job j (its fut pending, not yet shared): it will run. */
	void (*submit)(struct task_host *h, nested_job *j);
	/* Waits for j, having run it in h if no thread had taken it. Returns
	 * 0 when j is done; 1 when `any` and some other job ended first, or
	 * the deadline (CLOCK_MONOTONIC ns, 0: none) passed; -1 when the run
	 * stops or h's running call is cancelled (@timeout). */
	int (*await)(struct task_host *h, nested_job *j, uint64_t deadline, bool any);
	/* The call that made the jobs on list kids (linked by sibling) has
	 * ended, and waited for them: nothing asks for them again (their
	 * futures stay inside that call), so each may be freed once it ends.
	 * NULL: they are kept until the run ends. */
	void (*retire)(struct task_host *h, nested_job *kids);
	void *ctx;
} task_spawner;

typedef struct task_host {
	const bc_program *prog;
	uint64_t seed;
	FILE *out, *err;         /* driver prints; task prints and failures */
	uint64_t *actor_seq;     /* shared: the last actor id given (atomic) */
	uint64_t top_ident;      /* identity of the DAG node being run */
	uint64_t ident[TASK_MAX_NESTING + 1];  /* identity of the call at each depth */
	uint64_t nchild[TASK_MAX_NESTING + 1]; /* calls it has made so far */
	int depth;               /* nested inline calls */
	int base_level;          /* nesting level of the job run at depth 0 */
	int in_method;           /* methods (and inits) running inline */
	bool in_cont;            /* running the staged driver's DAG_CONT node: its
	                          * calls are made like a task body's */
	const task_spawner *spawn; /* nested calls go here; NULL: inline */
	/* the serial executor (spawn NULL): the staged driver's and task
	 * bodies' calls whose arguments hold an actor handle go here,
	 * deferred until their result is needed (serial.c); every other call
	 * (and every call a method makes) runs inline */
	const task_spawner *defer;
	const task_remote *remote; /* the DAG's task calls go there; NULL: here */
	/* The staged driver (DAG_CONT) starts before the DAG's calls whose
	 * futures it holds have ended (dag.h, DAG_EDGE_HELD): its get or wait
	 * on such a future f (pending, of DAG node f->node) comes here. 0 once
	 * f is settled; for `any` (wait), 1 when some other call ended first
	 * or the deadline (CLOCK_MONOTONIC ns, 0: none) passed; -1 when the
	 * run stops. f NULL: the driver sleeps (the serial executor runs its
	 * deferred DAG calls then). NULL: every node before it has ended. */
	int (*await_node)(void *ctx, const vfuture *f, uint64_t deadline, bool any);
	void *await_node_ctx;
	/* The serial executor: a deferred call (or a call inside one) sleeps,
	 * as a call polling an actor does: run the deferred DAG calls whose
	 * inputs are done first (one may be what it polls for, as threads
	 * would run it meanwhile). 0, or -1 when the run stops. NULL: none. */
	int (*poll_other)(void *ctx);
	void *poll_other_ctx;
	int in_deferred;         /* serial: deferred calls running on this host */
	nested_job *kids[TASK_MAX_NESTING + 1]; /* jobs the call at each depth made */
	struct gen_state *streams[TASK_MAX_NESTING + 1]; /* streams it made (streams.c) */
	int nfailed, nskipped, ndriver;
	int ncaught;             /* failed calls whose failure an `except` caught */
	int nretries;            /* attempts after a task's first (@retries) */
	int retry;               /* the next inline run is @retries' attempt N+1 (0: first) */
	int ncached;             /* DAG task calls answered by the cache (cache.h) */
	const span *node_where;  /* the DAG node being run, for "called from" */
	char *fail_msg;          /* the last failed call's own message (malloc'd) */
	int fail_kind;           /* ... and its ERR_* kind, for `except e` */
	flow_vm *dep_vm;         /* the last VM that needed a failed result */
	const char *dep_name;    /* ... and the failed task it needed */
	value dep_fut;           /* ... and that task's failed future (held), the
	                          * cause of the call it stops (task_run.c) */
	char *dep_place;
	flow_vm *pool[TASK_MAX_NESTING + 1]; /* one reusable VM per nesting depth */
	run_store *rs;           /* shared; NULL: results stay in their futures */
	const struct flow_node_view *node; /* the node it runs on (node.h), or NULL */
	/* may be NULL: for --trace and --dot-out, a call that ran from `start`
	 * (CLOCK_MONOTONIC ns) until now on thread tid, which no executor
	 * records itself: one the staged driver made that ran inline (the
	 * serial executor), or a stream's producer (stream: from its first
	 * step to its end). from_driver: made by the staged driver */
	void (*call_ran)(void *ctx, const bc_proto *task, span where, int tid, uint64_t start,
	                 bool from_driver, bool stream, bool failed);
	void *call_ran_ctx;
	int tid;                 /* this host's thread, for call_ran (0: the driver's) */
	/* called around a blocking wait in a task body (time.sleep), so an
	 * executor can give the task's CPU slot to another task meanwhile */
	void (*block)(void *ctx, bool begin);
	void *block_ctx;
	/* @timeout: the earliest deadline of the calls running (CLOCK_MONOTONIC
	 * ns, 0 = none; atomic) and the flag the watchdog sets when it passes */
	uint64_t deadline;
	int cancel;              /* atomic */
} task_host;

void task_host_init(task_host *h, const bc_program *p, uint64_t seed, FILE *out, FILE *err,
                    uint64_t *actor_seq);
/* Frees the host's VMs (not the VMs made by task_host_vm). */
void task_host_fini(task_host *h);
/* A new VM in the driver's context (no task name) whose host is h: the
 * VM an executor passes to task_run_node. Its random stream is the
 * driver's (seed, identity 0). Free with vm_free. */
flow_vm *task_host_vm(task_host *h);

/* Runs node v of g in vm (from task_host_vm) after every predecessor of
 * v has finished: a node with a failed input is skipped (and said so);
 * otherwise its result is stored in g->fut[v]. Returns -1 only when the
 * run cannot go on (the error is in vm: task_render_error(vm, "")); 1
 * when v is a driver node that failed or needed a failed value: the
 * driver ends there (LANGUAGE.md section 8), so no later driver node
 * runs and no later call starts; 0 otherwise. */
int task_run_node(task_host *h, flow_vm *vm, const dag *g, uint32_t v);

/* A DAG task call sent without a thread waiting for it (remote_async.h).
 * When node v of g (its inputs done) is a task call that can go to
 * h->remote as it is (no failed input, not a stream): its task's index in
 * the program (*fn), its identity (*ident) and its arguments (*args, a
 * new list of frozen values); returns 1. 0: task_run_node runs it. */
int task_remote_args(task_host *h, flow_vm *vm, const dag *g, uint32_t v, uint32_t *fn,
                     uint64_t *ident, value *args);
/* What the remote said of node v's call (rc 0, 1 or -1 and the rest as
 * task_remote.run gives them; all consumed): prints its output after its
 * node's name and settles g->fut[v], done or failed (reported and
 * counted in h) as the waiting call would. */
void task_remote_settle(task_host *h, const dag *g, uint32_t v, int rc, value res, char *err,
                        char *node, char *output);
/* Node v's call was lost with its node for the `lost`th time: true when it
 * may be sent again (said so on h->err); else *err (replaced) says why not. */
bool task_remote_again(task_host *h, const dag *g, uint32_t v, int lost, char **err);

/* Runs job j in h (at h's current depth) with its retries and @timeout,
 * and settles its future: the spawner calls this on whichever thread runs
 * the job. Returns 1 if the call failed (or was skipped), else 0. */
int task_run_job(task_host *h, nested_job *j);
/* Releases what a job holds (args, fut); the executor frees j itself. */
void task_job_release(nested_job *j);

/* A failed VM's error, gcc-style, with `suffix` after the message. Malloc'd. */
char *task_render_error(flow_vm *vm, const char *suffix);

/* Prints the end-of-run summary ("flow: 2 tasks failed, 1 skipped") when
 * anything failed; returns 1 then, else 0 (also when every failure was
 * caught by an `except`: ncaught of them). */
int task_summary(FILE *err, int nfailed, int nskipped, int ndriver, int ncaught);

#endif
