/* test_dag_flags.c - dag_finalize's per-node flag that the serial
 * executor defers on (executor/serial.c): a task call whose inputs hold
 * an actor handle, directly or inside a list or dict; not a method call,
 * not a task without one; the same after a plan round trip (plan_read
 * finalizes the DAG it builds). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/dag.h"
#include "compiler/plan.h"
#include "lowered.h"

static const char src[] =
	"actor A {\n"
	"    fn init() { self.n = 0 }\n"
	"    fn read() -> int { return self.n }\n"
	"}\n"
	"task direct(a: A) -> int { return 1 }\n"
	"task in_list(xs: list) -> int { return 2 }\n"
	"task in_dict(d: dict) -> int { return 3 }\n"
	"task plain(x: int) -> int { return x }\n"
	"let a = A()\n"
	"let x = direct(a)\n"
	"let y = in_list([1, a])\n"
	"let z = in_dict({\"k\": a})\n"
	"let w = plain(4)\n"
	"let r = a.read()\n"
	"print(get(x), get(y), get(z), get(w), get(r))\n";

/* Which nodes are flagged, as a string of task names ("direct,in_list,"). */
static void flagged(const dag *g, char *out, size_t n)
{
	out[0] = '\0';
	for (uint32_t v = 0; v < g->n; v++) {
		if (!dag_holds_actor(g, v))
			continue;
		assert_int_equal(g->nodes[v].kind, DAG_TASK);
		strncat(out, g->prog->protos[g->nodes[v].proto]->name, n - strlen(out) - 2);
		strcat(out, ",");
	}
}

static void test_flag_marks_holders(void **state)
{
	(void)state;
	prog *pg = lowered_load("t.flow", src);
	char names[256];
	flagged(pg->g, names, sizeof names);
	assert_string_equal(names, "direct,in_list,in_dict,");

	/* through a plan: the reader's dag_finalize flags the same nodes */
	sbuf plan;
	sbuf_init(&plan);
	char *err = NULL;
	assert_int_equal(plan_write(&plan, pg->p, NULL, 0, pg->g, &err), 0);
	diag_ctx d;
	diag_init(&d);
	dag *g = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, &g, &err);
	assert_non_null(p);
	assert_non_null(g);
	char again[256];
	flagged(g, again, sizeof again);
	assert_string_equal(again, names);
	dag_free(g);
	bc_program_free(p);
	diag_fini(&d);
	sbuf_fini(&plan);
	lowered_free(pg);
}

static void test_no_holder_no_bitmap(void **state)
{
	(void)state;
	prog *pg = lowered_load("t.flow", "task f(i: int) -> int { return i }\n"
	                                   "let xs = [f(i) for i in range(100)]\n");
	assert_null(pg->g->holds_actor); /* nothing to defer: no bitmap at all */
	for (uint32_t v = 0; v < pg->g->n; v++)
		assert_false(dag_holds_actor(pg->g, v));
	lowered_free(pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_marks_holders),
		cmocka_unit_test(test_no_holder_no_bitmap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
