/* node_local.c - the in-process node (node.h): this machine, its task
 * slots being the threads of a pool (pool.h), objects shared in memory. */
#include <stdlib.h>
#include <unistd.h>

#include "executor/node.h"
#include "executor/pool.h"

static double machine_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
	return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

void node_local_init(exec_node *n, double cpus, const exec_opts *o)
{
	double mem = machine_memory();
	n->ops = &node_local_ops;
	n->view = (flow_node_view){ "local", "127.0.0.1", NULL, cpus, mem, o->nresources,
	                            o->res_names, o->res_amounts, true, NULL, 0 };
	/* memory unknown: do not refuse @memory for it */
	res_init(&n->res, cpus, mem > 0 ? mem : (double)((uint64_t)1 << 40), o->nresources,
	         o->res_names, o->res_amounts);
	n->impl = NULL;
}

void node_local_fini(exec_node *n)
{
	res_fini(&n->res);
}

static int local_open(exec_node *n, const node_run *run, int slots)
{
	pool *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	n->impl = p;
	if (pool_start(p, n, run, slots) == 0) {
		fprintf(run->err, "flow: cannot start worker threads\n");
		return -1;
	}
	return 0;
}

static void local_close(exec_node *n, node_totals *t)
{
	pool *p = n->impl;
	if (!p)
		return;
	pool_join(p, t);
	free(p);
	n->impl = NULL;
}

const node_ops node_local_ops = { "local", local_open, local_close };
