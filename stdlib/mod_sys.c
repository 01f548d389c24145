/* mod_sys.c - the `sys` module: facts about the machine a task runs on
 * (node_id: the node, from the VM's node view, lang/node_view.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lang/node_view.h"
#include "stdlib_impl.h"

static int s_hostname(flow_vm *vm, value *argv, int argc, value *out)
{
	char h[256];
	if (gethostname(h, sizeof h) < 0)
		return vm_raise(vm, "sys.hostname: cannot read the host name");
	h[sizeof h - 1] = 0;
	*out = sl_str_lossy(h, strlen(h));
	return 0;
}

static int s_pid(flow_vm *vm, value *argv, int argc, value *out)
{
	*out = v_int((int64_t)getpid());
	return 0;
}

static int s_cpu_count(flow_vm *vm, value *argv, int argc, value *out)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	*out = v_int(n > 0 ? n : 1);
	return 0;
}

static int s_node_id(flow_vm *vm, value *argv, int argc, value *out)
{
	/* the node this task runs on, as its executor describes it */
	const flow_node_view *n = vm_ctx(vm)->node;
	*out = str_from_c(n && n->id ? n->id : "local");
	return 0;
}

static int s_env(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_str(vm, argv[0], "sys.env", "name") < 0)
		return -1;
	const char *v = getenv(str_data(argv[0]));
	*out = v ? sl_str_lossy(v, strlen(v)) : v_none();
	return 0;
}

static const native_def fns[] = {
	{ "hostname", s_hostname, "", NATIVE_ENV },
	{ "pid", s_pid, "", NATIVE_ENV },
	{ "cpu_count", s_cpu_count, "", NATIVE_ENV },
	{ "node_id", s_node_id, "", NATIVE_ENV },
	{ "env", s_env, "name", NATIVE_ENV },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_sys = { "sys", fns, NULL };
