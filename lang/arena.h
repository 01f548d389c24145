/* arena.h - bump allocator: one per compilation (tokens, AST, symbols).
 *
 * Ownership: everything allocated from an arena is freed at once by
 * arena_free(). Nothing allocated here may be freed individually.
 * Not thread-safe: one arena belongs to one thread at a time.
 */
#ifndef FLOW_ARENA_H
#define FLOW_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct arena {
	arena_block *head; /* newest block first */
	size_t total;      /* bytes handed out, for --stats */
} arena;

void arena_init(arena *a);
/* arena_alloc returns zeroed memory aligned for any type; aborts on OOM. */
void *arena_alloc(arena *a, size_t size);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_strdup(arena *a, const char *s);
/* arena_grow_array: amortised growth of an arena-owned array; old storage
 * is abandoned (reclaimed with the arena). */
void *arena_grow_array(arena *a, void *old, size_t elem, size_t oldcap, size_t newcap);
void arena_free(arena *a);

#endif
