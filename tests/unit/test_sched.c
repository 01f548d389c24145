/* test_sched.c - the scheduler core (executor/sched.h, fit.h) without
 * threads: the bucket queue's order, dependency counters, the effect
 * frontier and fitting by resources on a lowered program; and the node
 * view each executor gives its tasks (cluster.resources(), sys.node_id()
 * read from the VM's node, not from a process-wide setting); the @timeout
 * watchdog. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/dag.h"
#include "compiler/lower.h"
#include "executor/executor.h"
#include "executor/sched.h"
#include "executor/watchdog.h"
#include "lang/compile.h"
#include "lowered.h"

static prog *load(const char *src)
{
	return lowered_load("t.flow", src);
}

/* The id of the first node labelled name. */
static uint32_t node_named(const dag *g, const char *name)
{
	char buf[128];
	for (uint32_t v = 0; v < g->n; v++)
		if (strcmp(dag_label(g, v, buf, sizeof buf), name) == 0)
			return v;
	fail_msg("no node '%s'", name);
	return NO_NODE;
}

static void test_bq_order(void **state)
{
	bucket_queue q;
	bq_init(&q, 8, 5);
	/* priority first, then first pushed first popped */
	bq_push(&q, 0, 1);
	bq_push(&q, 1, 3);
	bq_push(&q, 2, 1);
	bq_push(&q, 3, 3);
	bq_push(&q, 4, 5);
	assert_int_equal(q.n, 5);
	assert_int_equal(bq_peek(&q), 4);
	static const uint32_t want[] = { 4, 1, 3, 0, 2 };
	for (int k = 0; k < 5; k++)
		assert_int_equal(bq_pop(&q), want[k]);
	assert_int_equal(q.n, 0);
	/* a higher priority pushed after the top has moved down */
	bq_push(&q, 5, 2);
	bq_push(&q, 6, 4);
	assert_int_equal(bq_pop(&q), 6);
	assert_int_equal(bq_pop(&q), 5);
	bq_fini(&q);
}

static const char frontier_src[] =
	"task a() -> int { return 1 }\n"
	"task b(x: int) -> int { return x + 1 }\n"
	"task noisy() -> int { print(\"hi\"); return 2 }\n"
	"let y = b(a())\n"
	"print(\"start\")\n"
	"let z = noisy()\n"
	"print(get(y) + get(z))\n";

static void test_counters_frontier_fit(void **state)
{
	prog *pg = load(frontier_src);
	const dag *g = pg->g;
	uint32_t a = node_named(g, "a"), b = node_named(g, "b"), noisy = node_named(g, "noisy");
	uint32_t start = NO_NODE;
	for (uint32_t v = 0; v < g->n && start == NO_NODE; v++)
		if (g->nodes[v].kind == DAG_EFFECT)
			start = v;
	assert_true(start > a && noisy > start);
	sched s;
	sched_init(&s, g, stderr);
	res_pool r;
	res_init(&r, 1, 1e12, 0, NULL, NULL);
	/* a is ready (no inputs, no effects); b waits for a; noisy prints, so
	 * it waits for the driver's print before it */
	assert_int_equal(s.pending[b], 1);
	assert_true(s.prio[a] > s.prio[b]);
	/* priorities count worker nodes only: b's path to a sink goes on
	 * through driver nodes (the get, the print), which add nothing */
	assert_int_equal(s.prio[b], 1);
	assert_int_equal(s.prio[a], 2);
	sched_item it;
	assert_true(sched_take(&s, &r, &it));
	assert_null(it.job);
	assert_int_equal(it.v, a);
	assert_false(sched_take(&s, &r, &it)); /* nothing else is ready */
	sched_complete(&s, a);
	assert_int_equal(s.pending[b], 0);
	/* b is ready but a still holds the one CPU */
	assert_false(sched_has_work(&s, &r));
	sched_item ia = { NULL, a, res_needs(g, a) };
	sched_release(&s, &r, &ia);
	assert_true(sched_take(&s, &r, &it));
	assert_int_equal(it.v, b);
	sched_release(&s, &r, &it);
	assert_false(sched_has_work(&s, &r)); /* noisy: not before the print */
	for (uint32_t v = 0; v < start; v++)
		if (v != a && v != b && s.pending[v] == 0)
			sched_complete(&s, v);
	sched_complete(&s, b);
	sched_complete(&s, start);
	assert_true(sched_take(&s, &r, &it));
	assert_int_equal(it.v, noisy);
	res_fini(&r);
	sched_fini(&s);
	lowered_free(pg);
}

/* A nested job as task_run.c makes one, without arguments or future. */
static nested_job *new_job(sched *s, const bc_proto *task, nested_job *sibling)
{
	nested_job *j = calloc(1, sizeof *j);
	assert_non_null(j);
	j->task = task;
	j->fut = v_none();
	j->sibling = sibling;
	sched_add_job(s, j);
	return j;
}

/* Nested jobs' records: a job its caller takes out of the middle of the
 * queue leaves it; ended jobs are freed when their caller moves past
 * them (prune) or is done with them (retire), a retired job still
 * running when it ends. sched_fini frees the rest (ASan builds check
 * that nothing is freed twice or left behind). */
static void test_job_records(void **state)
{
	prog *pg = load(frontier_src);
	const dag *g = pg->g;
	const bc_proto *task = g->prog->protos[g->nodes[node_named(g, "a")].proto];
	sched s;
	sched_init(&s, g, stderr);
	res_pool r;
	res_init(&r, 8, 1e12, 0, NULL, NULL);
	nested_job *j1 = new_job(&s, task, NULL), *j2 = new_job(&s, task, j1), *j3 = new_job(&s, task, j2);
	sched_queue_job(&s, j1);
	sched_queue_job(&s, j2);
	sched_queue_job(&s, j3);
	assert_int_equal(s.njq, 3);
	sched_unqueue_job(&s, j2); /* its caller runs it inline */
	assert_false(j2->queued);
	sched_item it;
	assert_true(sched_take(&s, &r, &it));
	assert_ptr_equal(it.job, j1);
	assert_true(sched_take(&s, &r, &it));
	assert_ptr_equal(it.job, j3);
	assert_int_equal(s.njq, 0);
	assert_null(s.jq_head);
	assert_null(s.jq_tail);
	sched_job_ended(&s, j1);
	sched_job_ended(&s, j3);
	/* the caller's list j3 -> j2 -> j1: j2 is still running */
	nested_job *list = j3;
	sched_prune_jobs(&s, &list);
	assert_ptr_equal(list, j2);
	sched_job_ended(&s, j2);
	sched_prune_jobs(&s, &list);
	assert_null(list);
	assert_null(s.jobs);
	/* a job retired while queued is freed when it ends */
	nested_job *j4 = new_job(&s, task, NULL), *j5 = new_job(&s, task, j4);
	sched_queue_job(&s, j4);
	sched_job_ended(&s, j5); /* failed at once, as a refused job */
	sched_retire_jobs(&s, j5);
	assert_ptr_equal(s.jobs, j4);
	assert_true(sched_take(&s, &r, &it));
	assert_ptr_equal(it.job, j4);
	sched_job_ended(&s, j4);
	assert_null(s.jobs);
	/* one never retired nor ended: sched_fini frees it */
	nested_job *j6 = new_job(&s, task, NULL);
	sched_queue_job(&s, j6);
	assert_int_equal(s.jobs_live, 1);
	res_fini(&r);
	sched_fini(&s);
	lowered_free(pg);
}

static void test_fit(void **state)
{
	prog *pg = load("@cpus(2)\n"
	                "@resources(gpu=1)\n"
	                "task big() -> int { return 1 }\n"
	                "print(get(big()))\n");
	const dag *g = pg->g;
	const char *names[] = { "gpu" };
	double amounts[] = { 1 };
	res_pool r;
	res_init(&r, 2, 1e12, 1, names, amounts);
	const bc_attrs *need = res_needs(g, node_named(g, "big"));
	assert_true(res_fits(&r, need));
	res_take(&r, need, 1);
	assert_false(res_fits(&r, need));
	assert_true(r.free_cpu < 1e-9 && r.free[0] < 1e-9);
	res_take(&r, need, -1);
	assert_true(res_fits(&r, need));
	assert_true(res_within(need, need));
	assert_false(res_within(NULL, need));
	FILE *null = fopen("/dev/null", "w");
	assert_int_equal(res_check_dag(&r, g, null), 0);
	res_fini(&r);
	res_init(&r, 1, 1e12, 1, names, amounts);
	char why[256];
	res_never_fits(&r, need, why, sizeof why);
	assert_string_equal(why, "2 CPUs (@cpus) but this node has 1 (--cpus)");
	assert_int_equal(res_check_dag(&r, g, null), -1);
	res_fini(&r);
	res_init(&r, 4, 1e12, 0, NULL, NULL);
	res_never_fits(&r, need, why, sizeof why);
	assert_string_equal(why, "1 of resource 'gpu' (@resources) but this node offers 0 "
	                         "(--resources gpu=N)");
	res_fini(&r);
	fclose(null);
	lowered_free(pg);
}

static const char view_src[] =
	"import cluster\n"
	"import sys\n"
	"task res() -> int { return cluster.resources()[\"gpu\"] }\n"
	"task where() -> str { return sys.node_id() }\n"
	"let r = cluster.resources()\n"
	"print(r[\"cpus\"], r[\"gpu\"], get(res()), get(where()), cluster.nodes()[0][\"cpus\"])\n";

/* Runs view_src on ex offering 3 CPUs and gpu=2; returns its stdout. */
static char *run_view(const executor *ex)
{
	prog *pg = load(view_src);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	const char *names[] = { "gpu" };
	double amounts[] = { 2 };
	exec_opts o = { .out = out, .err = stderr, .cpus = 3, .nresources = 1, .res_names = names,
	                .res_amounts = amounts };
	assert_int_equal(executor_run(ex, pg->g, &o), 0);
	fclose(out);
	lowered_free(pg);
	return text;
}

static void test_node_view(void **state)
{
	assert_ptr_equal(executor_find("serial"), &executor_serial);
	assert_ptr_equal(executor_find("parallel"), &executor_parallel);
	assert_null(executor_find("cluster"));
	/* the serial node offers one CPU; the parallel one what it was given */
	char *s = run_view(&executor_serial), *p = run_view(&executor_parallel);
	assert_string_equal(s, "1 2 2 local 1\n");
	assert_string_equal(p, "3 2 2 local 3\n");
	free(s);
	free(p);
}

/* The watchdog cancels a watched host once its deadline passes, and not
 * before; a host with no deadline is left alone. */
static void test_watchdog(void **state)
{
	watchdog *wd = watchdog_start();
	assert_non_null(wd);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	uint64_t soon = t + 20000000u, never = 0, later = t + 3600000000000u;
	int c_soon = 0, c_never = 0, c_later = 0;
	watchdog_watch(wd, &soon, &c_soon);
	watchdog_watch(wd, &never, &c_never);
	watchdog_watch(wd, &later, &c_later);
	for (int k = 0; k < 500 && !__atomic_load_n(&c_soon, __ATOMIC_RELAXED); k++) {
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
	watchdog_stop(wd);
	assert_int_equal(c_soon, 1);
	assert_int_equal(c_never, 0);
	assert_int_equal(c_later, 0);
	watchdog_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bq_order),
		cmocka_unit_test(test_counters_frontier_fit),
		cmocka_unit_test(test_job_records),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_node_view),
		cmocka_unit_test(test_watchdog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
