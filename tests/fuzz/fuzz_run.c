/* fuzz_run.c - libFuzzer harness: arbitrary source loaded, compiled and
 * run on the serial host, with a time budget (vm_interrupted) so slow or
 * endless programs stop with an error instead of counting as findings. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "executor/executor.h"
#include "lang/compile.h"
#include "lang/diag.h"
#include "lang/resolve.h"
#include "lang/vm.h"

static void on_alarm(int sig)
{
	(void)sig;
	vm_interrupted = 1;
}

/* Programs that import modules could run commands, write files or sleep:
 * they are checked and compiled, never run. */
static int safe_to_run(const uint8_t *data, size_t size)
{
	return memmem(data, size, "import", 6) == NULL && memmem(data, size, "sleep", 5) == NULL;
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
	diag_ctx d;
	flow_loader l;
	diag_init(&d);
	loader_init(&l, &d);
	int rc = loader_load_source(&l, "/nonexistent-fuzz-dir/fuzz.flow", (const char *)data, size, NULL, 0);
	if (rc == 0 && d.nerrors == 0) {
		vm_interrupted = 0;
		struct itimerval t = {{0, 0}, {0, 300000}}; /* consts run in compile too */
		setitimer(ITIMER_VIRTUAL, &t, NULL);
		bc_program *p = compile_program(&l);
		if (p != NULL) {
			bc_dump(p, sink);
			if (safe_to_run(data, size)) {
				exec_opts o = {.seed = 0, .out = sink, .err = sink};
				executor_run_program(&executor_serial, p, &o);
			}
			bc_program_free(p);
		}
		struct itimerval off = {{0, 0}, {0, 0}};
		setitimer(ITIMER_VIRTUAL, &off, NULL);
		vm_interrupted = 0;
	}
	loader_fini(&l);
	diag_fini(&d);
	return 0;
}
