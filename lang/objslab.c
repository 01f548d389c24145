/* objslab.c - 2 MiB chunks of small objects, freed by count (objslab.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

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
	/* twice the size, then trim, to get an aligned chunk */
	size_t len = OBJSLAB_CHUNK * 2;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		fprintf(stderr, "flow: out of memory (mapping %zu bytes)\n", len);
		abort();
	}
	uintptr_t a = ((uintptr_t)m + OBJSLAB_CHUNK - 1) & ~(uintptr_t)(OBJSLAB_CHUNK - 1);
	uint8_t *c = (uint8_t *)a;
	if (c > m)
		munmap(m, (size_t)(c - m));
	if (c + OBJSLAB_CHUNK < m + len)
		munmap(c + OBJSLAB_CHUNK, (size_t)(m + len - (c + OBJSLAB_CHUNK)));
#ifdef MADV_HUGEPAGE
	(void)madvise(c, OBJSLAB_CHUNK, MADV_HUGEPAGE); /* advice: failure is harmless */
#endif
	objslab_chunk *k = (objslab_chunk *)c;
	k->live = 1 + BIAS; /* the slab's hold */
	return k;
}

static void chunk_drop(objslab_chunk *k)
{
	if (__atomic_sub_fetch(&k->live, 1, __ATOMIC_ACQ_REL) == 0)
		munmap(k, OBJSLAB_CHUNK);
}

void *objslab_alloc(objslab *s, size_t size)
{
	if (size == 0 || size > OBJSLAB_MAX)
		abort();
	size = (size + 7) & ~(size_t)7;
	if (!s->cur || s->used + size > OBJSLAB_CHUNK) {
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
}

void objslab_release(void *obj)
{
	chunk_drop((objslab_chunk *)((uintptr_t)obj & ~(uintptr_t)(OBJSLAB_CHUNK - 1)));
}
