/* serial.c - the serial executor: runs a lowered program's DAG node by
 * node in id order (a topological order that keeps the driver's effects
 * in program order), in one thread; nested task and actor calls run
 * inline (task_run.c, shared with the parallel executor, is the host of
 * task bodies). This is the semantics oracle for the parallel executor.
 *
 * @timeout is enforced by the watchdog thread of task_run.c, which stops
 * the running call when its deadline passes. */
#include <stdlib.h>

#include "run_obs.h"
#include "serial.h"
#include "task_run.h"
#include "../compiler/lower.h"

int serial_run_dag(const dag *g, const serial_opts *o)
{
	uint64_t actor_seq = 0;
	task_host sh;
	task_host_init(&sh, g->prog, o->seed, o->out, o->err, &actor_seq);
	run_store rs;
	run_store_init(&rs, o->store, g);
	sh.rs = &rs;
	bool watch = task_any_timeout(g->prog) && task_watchdog_start() == 0;
	if (watch)
		task_watchdog_register(&sh);
	int status = 0;
	flow_vm *dv = task_host_vm(&sh);
	obs_run_begin(o->obs, 0);
	for (uint32_t v = 0; v < g->n; v++) {
		obs_mark m;
		obs_tick(o->obs);
		obs_node_begin(o->obs, &sh, v, 0, &m);
		int rc = task_run_node(&sh, dv, g, v);
		obs_node_end(o->obs, &sh, v, &m);
		if (rc > 0)
			break; /* the driver ended: later nodes are not run */
		if (rc) {
			char *e = task_render_error(dv, "");
			fprintf(sh.err, "%s\n", e);
			free(e);
			status = 1;
			break;
		}
	}
	if (watch)
		task_watchdog_stop();
	vm_free(dv);
	task_host_fini(&sh);
	run_store_fini(&rs);
	fflush(sh.out);
	obs_run_end(o->obs);
	if (task_summary(sh.err, sh.nfailed, sh.nskipped, sh.ndriver, sh.ncaught))
		status = 1;
	fflush(sh.err);
	return status;
}

int serial_run(const bc_program *p, const serial_opts *o)
{
	char *err = NULL;
	dag *g = lower_program(p, NULL, &err);
	if (!g) {
		fprintf(o->err ? o->err : stderr, "%s\n", err);
		free(err);
		return 1;
	}
	int rc = serial_run_dag(g, o);
	dag_free(g);
	return rc;
}
