/* objslab.h - bulk allocation of many small heap objects that die
 * together (the DAG's result futures, one per node).
 *
 * Objects are carved from 2 MiB chunks aligned to their size; from the
 * second chunk on, a chunk is advised to use huge pages, so a million
 * futures cost a few dozen page faults instead of some 22,000 (a page
 * fault costs microseconds on a paravirtualised machine, and was most of
 * loading a plan of 1M nodes). A chunk is a mapping of its own: meant for
 * many objects (dag.c uses it past its first 8,192 nodes, and for all
 * of a plan's DAG that shares a chunk with its arrays: objslab_tail).
 *
 * Each chunk counts its live objects (atomically: the last release may
 * come from any thread). Ownership: the objslab holds its current chunk
 * until objslab_done; each object holds its chunk until
 * objslab_release(obj), and the last release unmaps the chunk. So an
 * object may outlive the slab that made it. An object from a slab is
 * never passed to free().
 */
#ifndef FLOW_OBJSLAB_H
#define FLOW_OBJSLAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct objslab_chunk objslab_chunk;

typedef struct objslab {
	objslab_chunk *cur; /* the chunk being filled, or NULL */
	size_t used;        /* bytes of cur handed out, header included */
	uint64_t owed;      /* objects carved from cur not yet added to its
	                     * count (the slab's own hold keeps it above 0) */
	size_t end;         /* where carving in cur stops (objslab_tail), 0: its end */
} objslab;

#define OBJSLAB_CHUNK ((size_t)2 << 20)
#define OBJSLAB_MAX 4096 /* largest object */

/* zero-filled, 8-byte aligned (what a vobj needs); size <= OBJSLAB_MAX; aborts on OOM */
void *objslab_alloc(objslab *s, size_t size);
/* Starts a new chunk whose last `tail` bytes (rounded up to 64) are
 * the caller's: one huge page for a few thousand objects and the
 * caller's arrays (dag.c's arena). The block is zero-filled, 64-byte
 * aligned, and holds the chunk as an object does: objslab_release(block)
 * when done with it. NULL (nothing done) when tail leaves no room. */
void *objslab_tail(objslab *s, size_t tail);
/* drops the slab's hold on its current chunk (objects keep theirs) */
void objslab_done(objslab *s);
/* one object is dead: its chunk is unmapped with its last object */
void objslab_release(void *obj);

#endif
