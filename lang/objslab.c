/* objslab.c - 2 MiB chunks of small objects, freed by count (objslab.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hugemem.h"
#include "objslab.h"

struct objslab_chunk {
	uint64_t live; /* atomic: objects not yet released, +1 while current */
};

#define HDR 64 /* the counter on its own cache line */
/* While a chunk is current its count carries this bias (more than the
 * objects a chunk can hold), so releases of objects not yet counted
 * cannot bring it to 0; objslab_done swaps the bias for the count. */
#define BIAS ((uint64_t)1 << 32)

static objslab_chunk *chunk_new(void)
{
	/* aligned to its size: an object finds its chunk by masking */
	_Static_assert(OBJSLAB_CHUNK == MEM_HUGE_PAGE, "a chunk is one huge page");
	void *c = mem_huge_map(OBJSLAB_CHUNK);
	if (!c) {
		fprintf(stderr, "flow: out of memory (mapping %zu bytes)\n", OBJSLAB_CHUNK);
		abort();
	}
	objslab_chunk *k = c;
	k->live = 1 + BIAS; /* the slab's hold */
	return k;
}

static void chunk_drop(objslab_chunk *k)
{
	if (__atomic_sub_fetch(&k->live, 1, __ATOMIC_ACQ_REL) == 0)
		mem_huge_unmap(k, OBJSLAB_CHUNK);
}

void *objslab_alloc(objslab *s, size_t size)
{
	if (size == 0 || size > OBJSLAB_MAX)
		abort();
	size = (size + 7) & ~(size_t)7;
	if (!s->cur || s->used + size > (s->end ? s->end : OBJSLAB_CHUNK)) {
		objslab_done(s);
		s->cur = chunk_new();
		s->used = HDR;
	}
	void *p = (uint8_t *)s->cur + s->used;
	s->used += size;
	/* counted in one atomic add when the slab lets go of the chunk
	 * (BIAS keeps the count above 0 until then) */
	s->owed++;
	return p; /* fresh anonymous pages are zero */
}

void objslab_done(objslab *s)
{
	if (s->cur) {
		__atomic_add_fetch(&s->cur->live, s->owed - BIAS, __ATOMIC_RELAXED);
		chunk_drop(s->cur);
	}
	s->cur = NULL;
	s->used = 0;
	s->owed = 0;
	s->end = 0;
}

void *objslab_tail(objslab *s, size_t tail)
{
	tail = (tail + 63) & ~(size_t)63;
	if (tail == 0 || tail > OBJSLAB_CHUNK - HDR - OBJSLAB_MAX)
		return NULL;
	objslab_done(s);
	s->cur = chunk_new();
	s->used = HDR;
	s->end = OBJSLAB_CHUNK - tail;
	s->owed++; /* the block's hold */
	return (uint8_t *)s->cur + s->end;
}

void objslab_release(void *obj)
{
	chunk_drop((objslab_chunk *)((uintptr_t)obj & ~(uintptr_t)(OBJSLAB_CHUNK - 1)));
}
