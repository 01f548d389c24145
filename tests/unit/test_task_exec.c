/* test_task_exec.c - a node's task runs (executor/cluster/task_exec.c):
 * each call's prints travel back with its own outcome only, although a
 * thread reuses one capture stream from call to call; cl_task_cancel_job
 * stops a running call of its job (and only of its job), answered
 * CL_TASK_CANCELLED, and the host it ran on runs the next call. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/plan.h"
#include "executor/cluster/task_exec.h"
#include "lang/compile.h"
#include "lang/vm.h"

static const char src[] =
	"task say(k: int) -> int {\n"
	"    if k > 0 { print(f\"hi {k}\") }\n"
	"    return k\n"
	"}\n"
	"task big(n: int) -> int {\n"
	"    print(\"x\" * n)\n"
	"    return n\n"
	"}\n"
	"task spin(n: int) -> int {\n"
	"    let i = 0\n"
	"    while i < n { i = i + 1 }\n"
	"    return i\n"
	"}\n"
	"print(get(say(1)))\n";

static cl_plan *load(void)
{
	diag_ctx d;
	flow_loader l;
	diag_init(&d);
	loader_init(&l, &d);
	assert_int_equal(loader_load_source(&l, "t.flow", src, strlen(src), NULL, 0), 0);
	bc_program *p = compile_program(&l);
	assert_non_null(p);
	sbuf plan;
	sbuf_init(&plan);
	char *err = NULL;
	assert_int_equal(plan_write(&plan, p, NULL, 0, NULL, &err), 0);
	bc_program_free(p);
	loader_fini(&l);
	diag_fini(&d);
	cl_plan *cp = cl_plan_load((const uint8_t *)plan.data, plan.len, &err);
	if (!cp)
		fprintf(stderr, "%s\n", err);
	assert_non_null(cp);
	sbuf_fini(&plan);
	return cp;
}

/* Runs task fn(k) and returns what it printed (malloc'd, or NULL). */
static char *run(cl_plan *p, int fn, int64_t k)
{
	static const flow_node_view view = {.id = "2", .address = "", .alive = true};
	value args = list_new(1);
	list_append(args, v_int(k));
	value result;
	char *error = NULL, *output = NULL;
	assert_int_equal(cl_task_run(p, (uint32_t)fn, args, 1, 7, 0, 0, &view, &result, &error, &output), 0);
	assert_null(error);
	assert_int_equal(result.t, V_INT);
	assert_int_equal(result.as.i, k);
	val_rele(result);
	val_rele(args);
	return output;
}

static void test_prints_per_call(void **state)
{
	(void)state;
	cl_plan *p = load();
	int say = cl_plan_task(p, "say"), big = cl_plan_task(p, "big");
	assert_true(say >= 0 && big >= 0);
	char *o = run(p, say, 1);
	assert_non_null(o);
	assert_non_null(strstr(o, "hi 1"));
	free(o);
	/* nothing printed: nothing comes back (not the last call's text) */
	assert_null(run(p, say, 0));
	o = run(p, say, 2);
	assert_non_null(o);
	assert_non_null(strstr(o, "hi 2"));
	assert_null(strstr(o, "hi 1"));
	free(o);
	/* a large print (its stream is not kept) and the calls after it */
	o = run(p, big, 300000);
	assert_non_null(o);
	assert_non_null(strstr(o, "cut at 60 KiB"));
	free(o);
	o = run(p, say, 3);
	assert_non_null(o);
	assert_non_null(strstr(o, "hi 3"));
	assert_null(strstr(o, "xxx"));
	free(o);
	o = run(p, big, 5);
	assert_non_null(o);
	assert_non_null(strstr(o, "xxxxx"));
	assert_null(strstr(o, "hi 3"));
	free(o);
	cl_plan_free(p);
}

struct spin_call {
	cl_plan *p;
	int fn;
	int rc;
	char *error;
};

static void *spin_main(void *arg)
{
	struct spin_call *c = arg;
	static const flow_node_view view = {.id = "2", .address = "", .alive = true};
	value args = list_new(1);
	list_append(args, v_int(INT64_MAX)); /* never ends by itself */
	value result;
	char *output = NULL;
	c->rc = cl_task_run(c->p, (uint32_t)c->fn, args, 1, 9, 42, 0, &view, &result, &c->error, &output);
	val_rele(result);
	val_rele(args);
	free(output);
	return NULL;
}

static void test_cancel_job(void **state)
{
	(void)state;
	cl_plan *p = load();
	struct spin_call c = {.p = p, .fn = cl_plan_task(p, "spin")};
	assert_true(c.fn >= 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, spin_main, &c), 0);
	/* another job's cancel does not touch it; its own stops it (once it
	 * runs: at most 10 s of 1 ms tries) */
	size_t n = 0;
	for (int i = 0; i < 10000 && n == 0; i++) {
		assert_int_equal(cl_task_cancel_job(41), 0);
		n = cl_task_cancel_job(42);
		if (n == 0)
			nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	assert_int_equal(n, 1);
	pthread_join(t, NULL);
	assert_int_equal(c.rc, CL_TASK_CANCELLED);
	assert_non_null(c.error);
	assert_non_null(strstr(c.error, "client went away"));
	free(c.error);
	/* the host is free and its flag cleared: the next call runs */
	char *o = run(p, cl_plan_task(p, "say"), 4);
	assert_non_null(o);
	assert_non_null(strstr(o, "hi 4"));
	free(o);
	cl_plan_free(p);
}

int main(void)
{
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prints_per_call),
		cmocka_unit_test(test_cancel_job),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
