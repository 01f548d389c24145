/* test_effects.c - the effect analysis (compiler/effects.h): which tasks
 * the parallel executor may start before the driver reaches them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/effects.h"
#include "lang/compile.h"
#include "lang/resolve.h"
#include "lang/vm.h"

static const char *src =
	"import time\n"
	"import random\n"
	"actor Box {\n"
	"    fn init() { self.n = 0 }\n"
	"    fn bump() -> int { self.n += 1\n return self.n }\n"
	"}\n"
	"fn shout(x: int) { print(x) }\n"
	"fn twice(x: int) -> int { return 2 * x }\n"
	"task pure(x: int) -> int { return twice(x) + len([1, 2]) }\n"
	"task prints(x: int) -> int { print(x)\n return x }\n"
	"task indirect(x: int) -> int { shout(x)\n return x }\n"
	"task sleeps(x: int) -> int { time.sleep(0.01)\n return x }\n"
	"task clock() -> float { return time.now() }\n"
	"task dice() -> int { return random.randint(1, 6) }\n"
	"task calls_pure(x: int) -> int { return get(pure(x)) }\n"
	"task calls_prints(x: int) -> int { return get(prints(x)) }\n"
	"task uses_actor(b: Box) -> int { return get(b.bump()) }\n"
	"task sorts(xs: list) -> list { xs.sort()\n return xs }\n"
	"task by_value(f: fn, x: int) -> int { return f(x) }\n"
	"@idempotent\n"
	"task logs(x: int) -> int { print(x)\n return x }\n"
	"task calls_logs(x: int) -> int { return get(logs(x)) + 1 }\n"
	"task calls_both(x: int) -> int { return get(logs(x)) + get(prints(x)) }\n"
	"@idempotent\n"
	"task safe_outer(x: int) -> int { return get(calls_prints(x)) }\n"
	"task recursive(n: int) -> int {\n"
	"    if n < 2 { return n }\n"
	"    return get(recursive(n - 1)) + 1\n"
	"}\n";

static bool is_free(const bc_program *p, const bool *ok, const char *name)
{
	for (int j = 0; j < p->nprotos; j++)
		if (!strcmp(p->protos[j]->name, name))
			return ok[j];
	fail_msg("no proto '%s'", name);
	return false;
}

static int proto_of(const bc_program *p, const char *name)
{
	for (int j = 0; j < p->nprotos; j++)
		if (!strcmp(p->protos[j]->name, name))
			return j;
	fail_msg("no proto '%s'", name);
	return -2;
}

static int blocker(const bc_program *p, const int *blk, const char *name)
{
	return blk[proto_of(p, name)];
}

static void test_effects(void **state)
{
	(void)state;
	diag_ctx d;
	flow_loader l;
	diag_init(&d);
	loader_init(&l, &d);
	assert_int_equal(loader_load_source(&l, "t.flow", src, strlen(src), NULL, 0), 0);
	bc_program *p = compile_program(&l);
	if (!p)
		diag_print(&d, stderr);
	assert_non_null(p);
	bool *ok = effects_free_protos(p);
	assert_true(is_free(p, ok, "pure"));
	assert_true(is_free(p, ok, "dice"));        /* its own random stream */
	assert_true(is_free(p, ok, "calls_pure"));
	assert_true(is_free(p, ok, "recursive"));   /* a cycle of free calls */
	assert_false(is_free(p, ok, "prints"));
	assert_false(is_free(p, ok, "indirect"));   /* through an fn */
	assert_false(is_free(p, ok, "sleeps"));
	assert_false(is_free(p, ok, "clock"));
	assert_false(is_free(p, ok, "calls_prints")); /* through a task */
	assert_false(is_free(p, ok, "uses_actor"));
	assert_false(is_free(p, ok, "sorts"));      /* a sort may call a key fn */
	assert_false(is_free(p, ok, "by_value"));   /* an fn it cannot see */
	assert_false(is_free(p, ok, "calls_logs"));  /* effects, though safe to re-run */
	free(ok);
	/* re-running a call that may have run (lineage, a lost node) */
	int *blk = effects_rerun_blockers(p);
	assert_int_equal(blocker(p, blk, "pure"), -1);
	assert_int_equal(blocker(p, blk, "recursive"), -1);
	assert_int_equal(blocker(p, blk, "logs"), -1);       /* @idempotent */
	assert_int_equal(blocker(p, blk, "calls_logs"), -1); /* its nested call is */
	assert_int_equal(blocker(p, blk, "safe_outer"), -1);
	assert_int_equal(blocker(p, blk, "prints"), proto_of(p, "prints"));
	assert_int_equal(blocker(p, blk, "calls_prints"), proto_of(p, "prints"));
	assert_int_equal(blocker(p, blk, "calls_both"), proto_of(p, "prints"));
	assert_int_equal(blocker(p, blk, "indirect"), proto_of(p, "shout"));
	assert_int_equal(blocker(p, blk, "uses_actor"), proto_of(p, "uses_actor"));
	free(blk);
	bc_program_free(p);
	loader_fini(&l);
	diag_fini(&d);
}

int main(void)
{
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_effects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
