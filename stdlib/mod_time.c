/* mod_time.c - the `time` module: sleep (through the host, which frees the
 * task's CPU slot), wall-clock now() and monotonic(). */
#include <math.h>
#include <time.h>

#include "stdlib_impl.h"

static int t_sleep(flow_vm *vm, value *argv, int argc, value *out)
{
	double s;
	if (sl_num(vm, argv[0], "time.sleep", "seconds", &s) < 0)
		return -1;
	if (s < 0 || isnan(s))
		return vm_raise(vm, "time.sleep: seconds must be non-negative");
	if (vm_ctx(vm)->host->sleep(vm, s) < 0)
		return -1;
	*out = v_none();
	return 0;
}

static double clock_seconds(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int t_now(flow_vm *vm, value *argv, int argc, value *out)
{
	*out = v_float(clock_seconds(CLOCK_REALTIME));
	return 0;
}

static int t_monotonic(flow_vm *vm, value *argv, int argc, value *out)
{
	*out = v_float(clock_seconds(CLOCK_MONOTONIC));
	return 0;
}

static const native_def fns[] = {
	{ "sleep", t_sleep, "s", NATIVE_EFFECT },
	{ "now", t_now, "", NATIVE_CLOCK },
	{ "monotonic", t_monotonic, "", NATIVE_CLOCK },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_time = { "time", fns, NULL };
