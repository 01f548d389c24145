/* node_view.h - what a running program can read about where it runs:
 * `cluster.nodes()`, `cluster.resources()` and `sys.node_id()`
 * (LANGUAGE.md section 9).
 *
 * The executor gives every VM it runs a task (or the driver) in the view
 * of the node that runs it (vm_context.node). A view is plain data owned
 * by the executor's node (executor/node.h), which outlives every VM that
 * points to it; nothing here is written while tasks run, so any thread
 * may read it. A process that hosts several nodes (a worker daemon) has
 * one view per node; there is no process-wide "this node". A VM with no
 * view (flow check, unit tests) reads this machine's defaults. */
#ifndef FLOW_NODE_VIEW_H
#define FLOW_NODE_VIEW_H

#include <stdbool.h>

typedef struct flow_node_view {
	const char *id;               /* "local"; a cluster node's id */
	const char *address;          /* "127.0.0.1" for the in-process node */
	const char *hostname;         /* NULL: this machine's (gethostname) */
	double cpus;                  /* what the node offers (--cpus); 0: the machine's cores */
	double memory;                /* bytes; 0: the machine's physical memory */
	int nres;                     /* custom resources (--resources name=amount) */
	const char *const *res_names;
	const double *res_amounts;
	bool alive;
	/* Every node of the cluster as this node knows it, itself included,
	 * for cluster.nodes() and cluster.resources(); npeers 0: itself alone. */
	const struct flow_node_view *const *peers;
	int npeers;
} flow_node_view;

#endif
