/* batch_int.h - internals shared by the batch files (batch.h):
 * batch_recs.c, batch_outbox.c, batch_pump.c and batch_pool.c. No state:
 * each object (outbox, pump, pool) owns its own, made and freed in its
 * file; what a helper here is given stays the caller's. */
#ifndef FLOW_CLUSTER_BATCH_INT_H
#define FLOW_CLUSTER_BATCH_INT_H

#include <pthread.h>
#include <stdlib.h>

#include "batch.h"

static inline void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort(); /* as sbuf does: a daemon out of memory cannot go on */
	return q;
}

/* Starts n threads running fn(arg) into *threads (malloc'd, the caller's
 * to free after joining them); returns how many started. */
static inline int bt_threads_start(pthread_t **threads, int n, void *(*fn)(void *), void *arg)
{
	int started = 0;
	*threads = calloc((size_t)n, sizeof **threads);
	if (!*threads)
		abort();
	for (int i = 0; i < n; i++)
		if (pthread_create(&(*threads)[started], NULL, fn, arg) == 0)
			started++;
	return started;
}

/* Moves the longest prefix of r that fits one message (count and bytes)
 * into frame (after what is there); returns how many records
 * (batch_recs.c). */
uint32_t bt_recs_take(bt_recs *r, sbuf *frame);

#endif
