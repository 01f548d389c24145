/* place.h - placement by resources on the cluster (docs/wire.md,
 * "Placement"): what each node offers (--cpus, --object-store-memory as
 * its memory, --resources), whether a task's needs (@cpus, @memory,
 * @resources) can ever fit a node of the cluster, and what the head
 * holds for the calls it placed. The fitting itself is executor/fit.h's,
 * as for threads.
 *
 * A call "with needs" asks for anything but one CPU: the head holds what
 * it needs on its node from placement until its outcome, so a node never
 * holds more such calls than it offers. Other calls go by free slots.
 *
 * Ownership: a place_offer owns its names and is not moved once made
 * (its res_pool points into it): keep it behind a pointer.
 */
#ifndef FLOW_CLUSTER_PLACE_H
#define FLOW_CLUSTER_PLACE_H

#include <stdbool.h>
#include <stdio.h>

#include "compiler/dag.h"
#include "executor/fit.h"
#include "lang/node_view.h"

#define PLACE_MAX_RES 32

typedef struct place_offer {
	uint64_t node;
	int nres;
	char *names[PLACE_MAX_RES];
	double amounts[PLACE_MAX_RES];
	res_pool pool; /* capacity, and what the calls held on it leave free */
} place_offer;

/* A node's offer: cpus, memory bytes (0: any), resources as
 * "name=amount,..." (items that do not parse are skipped). NULL: out of
 * memory. */
place_offer *place_offer_new(uint64_t node, double cpus, double memory, const char *resources);
void place_offer_free(place_offer *o);

/* Needs other than one CPU (a = NULL: none)? */
bool place_has_needs(const bc_attrs *a);
/* What node view v offers, as a pool (memory unknown: not limiting);
 * the caller res_fini's it. */
void place_view_pool(const flow_node_view *v, res_pool *r);

/* Parses "name=amount,..." into at most max names (malloc'd) and
 * amounts; returns how many. */
int place_parse_resources(const char *s, char **names, double *amounts, int max);

/* Does an actor of class a hold anything while it lives (@cpus > 0,
 * @memory, @resources; an actor's @cpus defaults to 0)? */
bool place_actor_has_needs(const bc_attrs *a);

/* Every task and every actor the driver creates in g must fit, alone, at
 * least one of the n nodes (views of the members that are alive and
 * offer CPUs; memory is the node's object store). Else says which task
 * or actor needs what and what each node offers, gcc-style on err, and
 * returns -1: the run stops before anything runs. */
int place_check_dag(const flow_node_view *const *nodes, int n, const dag *g, FILE *err);

/* The resources the n nodes offer in all (for the client's own
 * scheduler, which lets a call go out only if the cluster could hold it
 * now): *names and *amounts malloc'd (free each name), returns how many. */
int place_totals(const flow_node_view *const *nodes, int n, char ***names, double **amounts);

#endif
