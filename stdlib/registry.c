/* registry.c - the stdlib's one table of natives, registered with lang's
 * registry (lang/native.h) at program start. */
#include "stdlib_impl.h"

static const module_def *const modules[] = {
	&stdlib_mod_time, &stdlib_mod_math, &stdlib_mod_random, &stdlib_mod_tensor,
	&stdlib_mod_str, &stdlib_mod_io, &stdlib_mod_proc, &stdlib_mod_sys, &stdlib_mod_cluster, NULL,
};

static const char *const mutating[] = { "append", "extend", "pop", "insert", "remove",
                                        "sort", "reverse", "update", NULL };

static const native_table table = {
	.builtins = stdlib_builtin_defs,
	.methods = { [V_STR] = stdlib_str_methods, [V_LIST] = stdlib_list_methods,
	             [V_DICT] = stdlib_dict_methods },
	.modules = modules,
	.mutating = mutating,
};

void stdlib_init(void)
{
	native_register(&table);
}

/* Runs before main in every program that links the stdlib (stdlib_dep makes
 * the linker keep this file: -u stdlib_init), so no entry point can forget. */
__attribute__((constructor)) static void stdlib_init_at_start(void)
{
	stdlib_init();
}
