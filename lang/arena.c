/* arena.c - bump allocator for per-compilation data. */
#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "small_limits.h"

#define ARENA_BLOCK_MIN FLOW_LIMIT(64 * 1024, 256)

struct arena_block {
	arena_block *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

void arena_init(arena *a)
{
	a->head = NULL;
	a->total = 0;
}

void *arena_alloc(arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	arena_block *b = a->head;
	if (b == NULL || b->cap - b->used < size) {
		size_t cap = size > ARENA_BLOCK_MIN ? size : ARENA_BLOCK_MIN;
		b = malloc(sizeof *b + cap);
		if (b == NULL) {
			fprintf(stderr, "flow: out of memory\n");
			abort();
		}
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += size;
	a->total += size;
	memset(p, 0, size);
	return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

void *arena_grow_array(arena *a, void *old, size_t elem, size_t oldcap, size_t newcap)
{
	void *p = arena_alloc(a, elem * newcap);
	if (old != NULL && oldcap > 0)
		memcpy(p, old, elem * oldcap);
	return p;
}

void arena_free(arena *a)
{
	arena_block *b = a->head;
	while (b != NULL) {
		arena_block *n = b->next;
		free(b);
		b = n;
	}
	a->head = NULL;
	a->total = 0;
}
