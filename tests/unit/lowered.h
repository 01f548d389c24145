/* lowered.h - for unit tests: a Flow source compiled (lowered_compile)
 * or compiled and lowered to a DAG (lowered_load); cmocka asserts that it
 * compiles. Include after <cmocka.h>. The prog owns its loader, program
 * and DAG (NULL when not lowered); free it with lowered_free. */
#ifndef FLOW_TEST_LOWERED_H
#define FLOW_TEST_LOWERED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/dag.h"
#include "compiler/lower.h"
#include "lang/compile.h"

typedef struct prog {
	diag_ctx d;
	flow_loader l;
	bc_program *p;
	dag *g;
} prog;

static inline prog *lowered_compile(const char *path, const char *src)
{
	prog *g = calloc(1, sizeof *g);
	assert_non_null(g);
	diag_init(&g->d);
	loader_init(&g->l, &g->d);
	if (loader_load_source(&g->l, path, src, strlen(src), NULL, 0) != 0)
		diag_print(&g->d, stderr);
	g->p = compile_program(&g->l);
	if (!g->p)
		diag_print(&g->d, stderr);
	assert_non_null(g->p);
	return g;
}

static inline prog *lowered_load(const char *path, const char *src)
{
	prog *g = lowered_compile(path, src);
	char *err = NULL;
	g->g = lower_program(g->p, NULL, &err);
	if (!g->g)
		fprintf(stderr, "%s\n", err);
	assert_non_null(g->g);
	return g;
}

static inline void lowered_free(prog *g)
{
	dag_free(g->g);
	bc_program_free(g->p);
	loader_fini(&g->l);
	diag_fini(&g->d);
	free(g);
}

#endif
