/* value_priv.h: helpers shared by the value model's own files (not a public interface). */
#ifndef FLOW_VALUE_PRIV_H
#define FLOW_VALUE_PRIV_H

#include "value.h"

/* Python's slice bounds (PySlice_AdjustIndices) for a sequence of len items:
 * returns how many items the slice has and sets *start to the first index.
 * step must not be 0. */
size_t val_slice_adjust(size_t len, bool has_lo, int64_t lo, bool has_hi, int64_t hi,
                    int64_t step, int64_t *start);

/* dict internals used by val_free_obj: release every key and value through
 * drop, then free the dict's memory. */
void vdict_free_entries(vobj *o, void (*drop)(value));
void vdict_free_shell(vobj *o);

/* Frees a list's item array (vlist.c: big ones are mappings of their own). */
void list_free_items(vlist *l);

/* Frees a str (vstr.c: big ones are mappings of their own). */
void str_free(vobj *o);

/* Hash of a str, cached in the object. */
uint64_t str_hash(value s);
/* The same hash of len bytes (never 0). */
uint64_t str_hash_bytes(const char *s, size_t len);
/* A 64-bit mixer (splitmix64's finaliser). */
static inline uint64_t hash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* Aborts with a message (out of memory). */
void val_oom(size_t n) __attribute__((noreturn));

/* Comparison and equality with an explicit depth (see VAL_MAX_DEPTH). */
int val_cmp_depth(value a, value b, int *result, verr *e, int depth);

#endif
