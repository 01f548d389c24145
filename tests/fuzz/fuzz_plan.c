/* fuzz_plan.c - libFuzzer harness: arbitrary bytes through the plan loader
 * (plan_read: every section, the bytecode verifier, the stored DAG). The
 * checksum is fixed up first so that mutations reach past it (the unit
 * test checks the checksum itself). A plan that loads is dumped and, when
 * it calls builtins only (no module: they could run commands, write files
 * or sleep), run on the serial host with a time budget: code the verifier
 * passed must not crash the VM. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "compiler/dag.h"
#include "compiler/plan.h"
#include "compiler/plan_int.h"
#include "executor/executor.h"
#include "lang/vm.h"
#include "stdlib/stdlib.h"

static void on_alarm(int sig)
{
	(void)sig;
	vm_interrupted = 1;
}

static int builtins_only(const bc_proto *x)
{
	for (int j = 0; j < x->nnatives; j++)
		if (native_builtin(x->natives[j]->name) != x->natives[j])
			return 0;
	return 1;
}

static int safe_to_run(const bc_program *p)
{
	for (int i = 0; i < p->nprotos; i++)
		if (!builtins_only(p->protos[i]))
			return 0;
	for (int m = 0; m < p->nmodules; m++)
		if (p->modules[m].init && !builtins_only(p->modules[m].init))
			return 0;
	for (int a = 0; a < p->nactors; a++)
		if (p->actors[a]->init && !builtins_only(p->actors[a]->init))
			return 0;
	return p->driver && builtins_only(p->driver);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	if (sink == NULL) {
		vm_types_init();
		/* the budget is CPU time (SIGVTALRM): libFuzzer's -timeout owns
		 * SIGALRM and the real-time timer */
		signal(SIGVTALRM, on_alarm);
		sink = fopen("/dev/null", "w");
	}
	uint8_t *b = malloc(size ? size : 1);
	if (!b)
		return 0;
	memcpy(b, data, size);
	plan_fix_checksum(b, size);
	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	dag *g = NULL;
	bc_program *p = plan_read(b, size, &d, &g, &err);
	if (p) {
		bc_dump(p, sink);
		if (g)
			dag_dump(g, sink);
		if (safe_to_run(p)) {
			vm_interrupted = 0;
			struct itimerval t = {{0, 0}, {0, 300000}}, off = {{0, 0}, {0, 0}};
			setitimer(ITIMER_VIRTUAL, &t, NULL);
			exec_opts o = {.seed = 0, .out = sink, .err = sink};
			executor_run_program(&executor_serial, p, &o);
			setitimer(ITIMER_VIRTUAL, &off, NULL);
			vm_interrupted = 0;
		}
		if (g)
			dag_free(g);
		bc_program_free(p);
	}
	free(err);
	diag_fini(&d);
	free(b);
	return 0;
}
