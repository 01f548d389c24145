/* task_run_int.h - internals shared by the four files of the host of task
 * bodies (task_run.h): task_run.c (running a call inline, nested jobs,
 * get/wait/put/print, running DAG nodes, the host's life), task_remote.c
 * (a DAG node's task call run by the cluster), task_actor.c (actor
 * instances, here or on the cluster) and streams.c (tasks that yield).
 *
 * State and ownership: all of it lives in the task_host (per thread, see
 * task_run.h) or in the object it belongs to: an actor's instance
 * (task_actor.c) in its handle, freed with it; a stream's state
 * (streams.c: gen_state) in its vstream, freed with it, and listed in
 * task_host.streams (holding the handle) until the call that made it
 * ends. The one process-wide pointer is the cluster's actors
 * (task_set_actors, task_actor.c), set before any task runs. Unless said
 * otherwise, a function here borrows its arguments; "consumed" means it
 * takes the reference or the malloc'd string. */
#ifndef FLOW_TASK_RUN_INT_H
#define FLOW_TASK_RUN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "executor/task_run.h"

/* The host operations every VM of a task_host runs with (task_run.c). */
extern const flow_host_ops task_host_ops;

static inline task_host *host_of(flow_vm *vm) { return vm_ctx(vm)->host_data; }

/* The identity of a call made now: the DAG node's, or the caller's
 * identity and its call count. */
static inline uint64_t next_ident(task_host *sh)
{
	if (sh->depth == 0)
		return sh->top_ident;
	return rng_mix(sh->ident[sh->depth - 1], ++sh->nchild[sh->depth - 1]);
}

/* ---- task_run.c ---------------------------------------------------------- */

/* Where vm is now: its instruction's span, else the DAG node's. */
span task_place_span(flow_vm *vm);
/* "file:line:col" of w ("?" when unknown); malloc'd. */
char *task_span_text(const bc_program *p, span w);
/* task_span_text of task_place_span; malloc'd. */
char *task_place_text(flow_vm *vm);
/* The first failed future inside v (deeply), or NULL. */
const vfuture *task_find_failed(value v);
/* skipped (a failed future) was skipped for cause: held by it; catching
 * skipped handles cause's failure too. */
void task_set_cause(value skipped, const vfuture *cause);
/* 1 and a skipped future in *out when an argument is a failed future
 * (said so, counted); -1 with an error raised in vm; else 0. */
int task_skip_if_failed(flow_vm *vm, const char *what, const char *name, value *args, int nargs,
                        value *out);
/* Resolves and freezes args (new references) into small (an array of
 * TASK_SMALL_ARGS, the caller's) or, for more, a malloc'd array: returns
 * it (release with task_release_args), or NULL with an error raised in vm
 * (nothing held then). */
#define TASK_SMALL_ARGS 16
value *task_snapshot_args(flow_vm *vm, value *args, int nargs, value *small);
/* d = +1/-1 around building a remote call's arguments on this thread:
 * results left on their nodes stay references (not pulled here). */
void task_keep_refs(int d);
/* Releases a[0..nargs) and frees a unless it is small (a stack array). */
void task_release_args(value *a, value *small, int nargs);
/* Runs p in sh's VM at its depth as call `call` (self: an actor's fields
 * or none). On failure returns nonzero and *err (malloc'd); when it failed
 * because it needed the result of a failed task, *dep is that task's name
 * and *err says where. */
int task_run_inline(task_host *sh, const bc_proto *p, uint64_t call, value self, value *args,
                    int nargs, value *res, char **err, const char **dep);
/* A call of task failed because its own @timeout passed: *err (replaced)
 * and sh's last failure say so. */
void task_timed_out(task_host *sh, const bc_proto *task, char **err);
/* A failed call's future, reported on sh->err and counted; where: the
 * call's place in its caller (consumed). */
value task_fail_future(task_host *sh, const char *what, const char *name, int attempts,
                       const char *err, char *where);
/* The future an inline run leaves behind: done with its result, failed,
 * or stopped because it needed a failed task's result. Consumes res, err
 * and where. */
value task_outcome_future(task_host *sh, const char *what, const char *name, int rc,
                          int attempts, value res, char *err, const char *dep, char *where);
/* Stores what a call left (outcome: a done or failed future) in node_fut. */
void task_settle(value node_fut, value outcome);
/* The host's get: the value behind fut (a stream: all its items). */
int task_get(flow_vm *vm, value fut, value *out);

/* ---- task_remote.c ------------------------------------------------------- */

/* Prints what a remote call printed, each line after its node's name:
 * `node`, or, for a line a nested call printed on another node (it
 * spilled there), the node written in the line (TASK_OUTPUT_NODE). */
void task_print_remote(task_host *sh, const char *node, const char *text);
/* The same on stream err. */
void task_print_remote_to(FILE *err, const char *node, const char *text);
/* A line of a remote call's output that begins with this byte was
 * printed on another node: `\x1f NODE \x1f text` (docs/wire.md, "Nested
 * calls that spill"). A task's own lines never begin with it (each
 * begins with "(task#call) "). */
#define TASK_OUTPUT_NODE '\x1f'
/* A line that begins with this byte is not printed: it says where and
 * when a nested call that spilled ran, for --trace:
 * `\x1e fn file line col thread start_us end_us failed \x1e NODE`
 * (decimal numbers; fn the plan's task index, file/line/col its call
 * site, start_us/end_us after the call whose output it is in started). */
#define TASK_OUTPUT_TRACE '\x1e'
/* Appends text (what a call run on node printed) to err, each line
 * marked with node unless it is marked already (a deeper spill's); its
 * trace lines are moved on by shift_us (they count from that call's
 * start, which was shift_us after the start of the call err is for). */
void task_output_mark(FILE *err, const char *node, const char *text, uint64_t shift_us);
/* Appends the trace line of a nested call that ran on node. */
void task_output_trace(FILE *err, int fn, span where, uint32_t thread, uint64_t start_us,
                       uint64_t end_us, bool failed, const char *node);
/* The trace lines of a remote call's output, for --trace
 * (obs_remote_nested); after its obs_remote_ran. */
void task_output_note_trace(const char *text);
/* The bare message of a remote call's report; malloc'd. */
char *task_remote_message(const char *text);
/* The outcome future of a call run on another node that ended with rc
 * (task_remote.run's 0, 1, TASK_REMOTE_TIMEOUT or -1, or
 * TASK_REMOTE_NODE_LOST; res and err consumed), its failure reported on
 * sh as an inline one's, at `where`: also a nested call that spilled to
 * another node (executor/cluster/task_exec.c). */
value task_remote_outcome(task_host *sh, const bc_proto *task, const bc_program *prog, span where,
                          int rc, value res, char *err);
/* The index of task in prog's protos (the function number a call names
 * on the wire), or -1: also for a nested call spilled to another node
 * (executor/cluster/task_exec.c). */
int task_proto_index(const bc_program *prog, const bc_proto *task);
/* Runs a DAG node's task call (a: resolved, frozen; borrowed) through
 * sh->remote. Returns 0 with *out (its outcome future), or -1 when it
 * must run here. */
int task_call_remote(task_host *sh, const bc_proto *task, uint64_t call, value *a, int nargs,
                     const bc_program *prog, span where, value *out);

/* ---- task_actor.c -------------------------------------------------------- */

/* Creates the instance behind handle h (which has none yet) and runs
 * cls's init. Returns -1 only for an error of the caller. */
int task_init_actor(flow_vm *vm, value h, const bc_actor *cls, value *args, int nargs);
/* The host's actor creation and method call. */
int task_new_actor(flow_vm *vm, const bc_actor *cls, value *args, int nargs, value *out);
int task_call_method(flow_vm *vm, value handle, const bc_proto *m, value *args, int nargs,
                     value *out);
/* Gives handle h (which has no instance yet) a broken one: its calls fail
 * with msg. */
void task_actor_broken(value h, const char *msg);

/* ---- streams.c ----------------------------------------------------------- */

struct gen_state;
/* A new stream for a call of task (a: resolved, frozen arguments,
 * consumed), listed with the calls sh's running call made. */
value task_stream_new(flow_vm *vm, task_host *sh, const bc_proto *task, value *a, int nargs);
/* get(s): every item, once the producer has ended. */
int task_stream_get(flow_vm *vm, value s, value *out);
/* The host's stream_next: item index of s (1), its end (0) or -1. */
int task_stream_next(flow_vm *vm, value s, int64_t index, value *out);
/* The call at depth index d ends: its streams run to their end, or are
 * cancelled when a consumer left them early. */
void task_streams_end(task_host *sh, int d);

#endif
