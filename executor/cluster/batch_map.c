/* batch_map.c - a map from call ids to what the owner keeps for them
 * (batch.h: bt_map): open addressing, linear probing, backward-shift
 * deletion. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

static void map_grow(bt_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	uint64_t *keys = calloc(cap, sizeof *keys);
	void **vals = calloc(cap, sizeof *vals);
	if (!keys || !vals)
		abort();
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = slot_of(m->keys[i], cap);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
}

void bt_map_put(bt_map *m, uint64_t key, void *val)
{
	if (2 * (m->n + 1) > m->cap)
		map_grow(m);
	size_t j = slot_of(key, m->cap);
	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & (m->cap - 1);
	if (!m->keys[j])
		m->n++;
	m->keys[j] = key;
	m->vals[j] = val;
}

void *bt_map_get(const bt_map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t j = slot_of(key, m->cap); m->keys[j]; j = (j + 1) & (m->cap - 1))
		if (m->keys[j] == key)
			return m->vals[j];
	return NULL;
}

void *bt_map_del(bt_map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1, j = slot_of(key, m->cap);
	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & mask;
	if (!m->keys[j])
		return NULL;
	void *val = m->vals[j];
	/* shift back the entries of the run that follows, so no probe breaks */
	size_t i = j;
	for (size_t k = (i + 1) & mask; m->keys[k]; k = (k + 1) & mask) {
		size_t home = slot_of(m->keys[k], m->cap);
		/* k may move to i if its home is not within (i, k] cyclically */
		if ((k > i && (home <= i || home > k)) || (k < i && home <= i && home > k)) {
			m->keys[i] = m->keys[k];
			m->vals[i] = m->vals[k];
			i = k;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->n--;
	return val;
}

void bt_map_free(bt_map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}
