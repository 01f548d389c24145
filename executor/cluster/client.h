/* client.h - `flow run --address`: this process (the client) runs the
 * program's driver and scheduler as `flow run` does, and sends each of
 * the DAG's task calls to the cluster's head (RUN_TASKS, in batches), which places it
 * on a node, or straight to a worker the head leased it (docs/wire.md,
 * "Direct calls": calls without needs or object references); the calls
 * a task makes run on that node with it. The
 * client's actors stay here (an actor cannot travel yet), and so does a
 * task whose arguments hold one.
 *
 * Ownership: cl_client owns its connection and copies what it is given;
 * the task_remote it hands out lives as long as the client. */
#ifndef FLOW_CLUSTER_CLIENT_H
#define FLOW_CLUSTER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "executor/task_run.h"
#include "lang/node_view.h"
#include "wire.h"

typedef struct cl_client cl_client;

/* Connects to the head at address (HOST:PORT), authenticates with tok,
 * reads the membership and sends the plan (plan_write's bytes). NULL
 * with e set ("the head at ... refused us: wrong cluster token"). */
cl_client *cl_client_open(const char *address, const auth_token *tok, const uint8_t *plan,
                          size_t len, verr *e);
/* Runs the DAG's task calls on the cluster (task_run.h). */
const task_remote *cl_client_remote(cl_client *c);
/* How many calls to keep in flight (the executor's task slots): the CPUs
 * the live nodes offer times 256, at most 4096 (batches fill; a call in
 * flight holds no thread); and what the driver and the
 * client's own nodes read: cluster.nodes() lists the members. */
int cl_client_cpus(const cl_client *c);
const flow_node_view *cl_client_view(const cl_client *c);
/* The program the run ships (borrowed during the call): its task names
 * and which tasks may be re-run to make a lost object again (no effects;
 * lineage, client.c). Without it no object is made again. */
void cl_client_set_program(cl_client *c, const bc_program *prog);
/* Actor method results left on the actor's node have no lineage (a
 * method is not run again to make one): actors.c notes each actor this
 * process made (class name copied) and each such result (ref held until
 * cl_client_close), so that its loss fails the reader as "actor_died",
 * naming the actor and the method, or uses a copy pulled here. Nothing
 * is noted in a process without a client (a worker). */
void cl_lin_actor_made(uint64_t actor, const char *cls);
void cl_lin_actor_result(uint64_t actor, uint32_t fn, value ref, const char *node);
void cl_client_close(cl_client *c);

#endif
