/* fit.h - fitting work to a node's resources (part of the scheduler
 * core): what a node offers (CPUs, memory bytes, --resources), what is
 * free now, whether a task's or actor's needs (@cpus, @memory,
 * @resources) fit, and why they never can.
 *
 * Ownership: a res_pool borrows the resource names and capacities it is
 * given (they outlive the run) and owns its `free` array. Threads: none
 * of its own; the scheduler's lock guards a pool that several threads
 * share. */
#ifndef FLOW_FIT_H
#define FLOW_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "compiler/dag.h"
#include "lang/bytecode.h"

typedef struct res_pool {
	double cap_cpu, free_cpu;
	double cap_mem, free_mem;     /* bytes */
	int nres;                     /* custom resources */
	const char *const *names;
	const double *cap;
	double *free;
} res_pool;

void res_init(res_pool *r, double cpus, double memory, int nres, const char *const *names,
              const double *amounts);
void res_fini(res_pool *r);

/* What a DAG node holds while it runs: a task's @cpus, @memory and
 * @resources; an actor's, which its creation takes for the rest of the
 * run (LANGUAGE.md section 4). NULL: nothing (puts, method calls). */
const bc_attrs *res_needs(const dag *g, uint32_t v);
/* Do needs a (NULL: none) fit what is free now? */
bool res_fits(const res_pool *r, const bc_attrs *a);
/* Takes (sign 1) or gives back (sign -1) what a holds. */
void res_take(res_pool *r, const bc_attrs *a, double sign);
/* May a caller holding `held` (NULL: nothing) run `child` in its own slot?
 * Only if the child needs no more than the caller holds. */
bool res_within(const bc_attrs *held, const bc_attrs *child);

/* Why needs a can never be met on r ("" if they can), the run's actors
 * holding nothing. */
void res_never_fits(const res_pool *r, const bc_attrs *a, char *why, size_t n);
/* Prints, gcc-style at w, why a task or an actor can never run; returns
 * the message (malloc'd): "task 'x' needs ..., so it can never run". */
char *res_say_never(FILE *err, const bc_program *p, span w, bool actor, const char *name,
                    const char *why);
/* A task or actor of g that needs more than r offers would wait forever:
 * says so on err before anything runs. Each actor the driver creates
 * holds its needs until the run ends, so a task must fit in what they
 * leave. Returns 0, or -1 with the message printed. */
int res_check_dag(const res_pool *r, const dag *g, FILE *err);

#endif
