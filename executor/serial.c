/* serial.c - the serial executor: runs a lowered program's DAG node by
 * node in id order (a topological order that keeps the driver's effects
 * in program order), in one thread; nested task and actor calls run
 * inline (task_run.c, shared with the parallel executor, is the host of
 * task bodies). This is the semantics oracle for the parallel executor.
 * Its node is this machine offering one CPU (what cluster.nodes() says).
 *
 * @timeout is enforced by a watchdog thread (watchdog.h), which stops
 * the running call when its deadline passes. */
#include <malloc.h>
#include <stdlib.h>

#include "executor/executor.h"
#include "executor/interrupt.h"
#include "executor/node.h"
#include "executor/run_obs.h"
#include "executor/task_run.h"
#include "executor/watchdog.h"

/* Runs every node in id order on sh; 1 when one could not run. */
static int run_all(task_host *sh, const dag *g, run_obs *obs)
{
	flow_vm *dv = task_host_vm(sh);
	int status = 0;
	for (uint32_t v = 0; v < g->n; v++) {
		if (run_cancelled()) { /* SIGINT/SIGTERM: nothing more starts */
			status = 1;
			break;
		}
		obs_mark m;
		obs_tick(obs);
		obs_node_begin(obs, sh, v, 0, &m);
		int rc = task_run_node(sh, dv, g, v);
		obs_node_end(obs, sh, v, &m);
		if (rc > 0)
			break; /* the driver ended (section 8): later nodes are not run */
		if (rc) {
			char *e = task_render_error(dv, "");
			fprintf(sh->err, "%s\n", e);
			free(e);
			status = 1;
			break;
		}
	}
	vm_free(dv);
	return status;
}

/* Large results (tensors) are freed once their last user has ran
 * (obj_refs.c), but glibc's dynamic mmap threshold, raised by the first
 * large free, then serves later ones from the main thread's heap, where
 * freed blocks below live ones are never given back: a run of 8 MiB
 * tensors peaked at twice the parallel executor's memory (issue 14).
 * A fixed threshold keeps every block this large mapped on its own, so
 * freeing it returns it to the system. */
#define SERIAL_MMAP_THRESHOLD (4 << 20)

static int serial_run_dag(const dag *g, const exec_opts *o)
{
	mallopt(M_MMAP_THRESHOLD, SERIAL_MMAP_THRESHOLD);
	uint64_t actor_seq = 0;
	exec_node node;
	node_local_init(&node, 1, o);
	task_host sh;
	task_host_init(&sh, g->prog, o->seed, o->out, o->err, &actor_seq);
	sh.node = &node.view;
	run_store rs;
	run_store_init(&rs, o->store, g);
	sh.rs = &rs;
	sh.call_ran = obs_call_ran; /* --trace, --dot-out: the staged driver's calls, streams */
	sh.call_ran_ctx = o->obs;
	watchdog *wd = watchdog_needed(g->prog) ? watchdog_start() : NULL;
	watchdog_watch(wd, &sh.deadline, &sh.cancel);
	obs_run_begin(o->obs, 0);
	int status = run_all(&sh, g, o->obs);
	watchdog_stop(wd);
	task_host_fini(&sh);
	run_store_fini(&rs);
	node_local_fini(&node);
	fflush(sh.out);
	obs_run_end(o->obs);
	if (task_summary(sh.err, sh.nfailed, sh.nskipped, sh.ndriver, sh.ncaught))
		status = 1;
	fflush(sh.err);
	return status;
}

const executor executor_serial = { "serial", serial_run_dag };
