/* task_exec.h - a node runs one task of a plan for RUN_TASKS: the plan
 * (validated by plan_read, like any plan file) and the call.
 *
 * The only file of executor/cluster/ that uses the executor (task_run.h):
 * a task body runs exactly as a nested call does in `flow run`, with its
 * @retries and @timeout, its random stream from (seed, identity); the
 * calls it makes are nested jobs of its node (task_exec.c, "nested
 * calls"), as on threads.
 *
 * Ownership: cl_plan owns its program and the diagnostics context the
 * program borrows; cl_task_run borrows args and returns a new reference
 * or a malloc'd error.
 */
#ifndef FLOW_TASK_EXEC_H
#define FLOW_TASK_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "lang/node_view.h"
#include "lang/value.h"

typedef struct cl_plan cl_plan;

/* Validates and loads a plan held in memory (buf is copied from). */
cl_plan *cl_plan_load(const uint8_t *buf, size_t len, char **err);
void cl_plan_free(cl_plan *p);
/* The index of task `name` (what a RUN_TASKS call's fn names), or -1. */
int cl_plan_task(const cl_plan *p, const char *name);
/* What task fn needs (@cpus, @memory, @resources; borrowed, lives as
 * long as p), or NULL if fn is not a task. */
const struct bc_attrs *cl_plan_needs(const cl_plan *p, uint32_t fn);
/* The attributes of actor class cls (@cpus, @memory, @resources), or
 * NULL if p has no such class. Borrowed from p. */
const struct bc_attrs *cl_plan_actor_needs(const cl_plan *p, uint32_t cls);
/* The loaded program (borrowed, lives as long as p). */
const struct bc_program *cl_plan_program(const cl_plan *p);
/* The program's main source file, as the plan names it. */
const char *cl_plan_source(const cl_plan *p);

/* Runs task fn on args (a list, one item per parameter). Returns 0 with
 * *result, 1 with *error (the task failed, or the call is invalid), or
 * CL_TASK_ARG_LOST with *error and *result the id of the argument whose
 * holder was lost (a str of 64 hex digits; the task did not start: its
 * outcome is WIRE_DONE_ARG_LOST).
 * Any number of threads at once: the plan keeps a task host (and its
 * VMs) per thread that runs a task at the same time, from call to call. view: what the task reads about its node
 * (sys.node_id()), or NULL. *output (malloc'd, or NULL when empty): what
 * the task printed, "(task) text" lines, at most 60 KiB (the rest cut,
 * and said so): it travels back to the caller, who prints it. */
#define CL_TASK_ARG_LOST 2
/* ... or CL_TASK_TIMEOUT: it failed (*error) because its @timeout passed
 * (e.kind "timeout"; the outcome's ekind). */
#define CL_TASK_TIMEOUT 3
/* ... or CL_TASK_CANCELLED: cl_task_cancel_job stopped it (*error says
 * so; its outcome is WIRE_DONE_NOTRUN). job: the call's job (wire_call's);
 * level: how deep it is nested (wire_call's: 0 but for a spilled call).
 * On a pool's thread (batch.h) the calls its body makes are nested jobs
 * of that pool, run by its free CPUs or by the body when it waits for
 * them; elsewhere they run inline. */
#define CL_TASK_CANCELLED 4
int cl_task_run(cl_plan *p, uint32_t fn, value args, uint64_t seed, uint64_t ident, uint64_t job,
                uint32_t level, const struct flow_node_view *view, value *result, char **error,
                char **output);
/* The job's client went away: stops the calls of job running here (the
 * hosts' cancel flag, as @timeout's watchdog sets it), nested ones too.
 * Returns how many calls that came over the wire it stopped. */
size_t cl_task_cancel_job(uint64_t job);

/* The SHA-256 of the plan whose task or method runs on this thread, or
 * NULL (an actor it makes names that plan). */
const uint8_t *cl_plan_current_hash(void);

/* An actor hosted here (actors.h): runs class fn's init (init 1; a class
 * without one does nothing) or method fn (a proto index) with self (the
 * instance's fields, a dict, borrowed) on args (a list). As cl_task_run:
 * 0 with *result, or 1 with *error; *output what it printed. The caller
 * runs one call of an actor at a time. */
int cl_actor_run(cl_plan *p, int init, uint32_t fn, value self, value args, uint64_t seed,
                 uint64_t ident, const struct flow_node_view *view, value *result, char **error,
                 char **output);

#endif
