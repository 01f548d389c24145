/* executor.c - the table of executors (executor.h). */
#include <stdlib.h>
#include <string.h>

#include "compiler/lower.h"
#include "executor/executor.h"

static const executor *const all[] = { &executor_serial, &executor_parallel };

const executor *executor_find(const char *name)
{
	for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
		if (!strcmp(all[k]->name, name))
			return all[k];
	return NULL;
}

int executor_run(const executor *ex, const dag *g, const exec_opts *o)
{
	return ex->run_dag(g, o);
}

int executor_run_program(const executor *ex, const bc_program *p, const exec_opts *o)
{
	char *err = NULL;
	dag *g = lower_program(p, NULL, &err);
	if (!g) {
		fprintf(o->err ? o->err : stderr, "%s\n", err);
		free(err);
		return 1;
	}
	int rc = executor_run(ex, g, o);
	dag_free(g);
	return rc;
}
