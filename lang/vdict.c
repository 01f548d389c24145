/* vdict.c: the insertion-ordered dict - a compact entries array plus an open-addressing index, as CPython's. */
#include "value.h"
#include "value_priv.h"

#include <stdlib.h>
#include <string.h>

typedef struct dentry {
	uint64_t hash;
	value k, v;  /* k.t == DEAD: deleted */
} dentry;

#define DEAD ((uint8_t)V__COUNT)
#define IX_EMPTY UINT32_MAX
#define IX_DUMMY (UINT32_MAX - 1)

struct vdict {
	vobj h;
	size_t len;      /* live entries */
	size_t n;        /* entries used, live or deleted */
	size_t ecap;     /* entries allocated */
	dentry *entries; /* in insertion order */
	uint32_t *index; /* icap slots: entry number, IX_EMPTY or IX_DUMMY */
	size_t icap;     /* power of two */
	size_t fill;     /* index slots that are not IX_EMPTY */
	size_t last;     /* entry of the key last found or set: a hint (hinted) */
};

static inline vdict *dict_of(value d) { return (vdict *)d.as.o; }

/* The entry of key when it is the one last found or set, else NULL: what
 * `d[w] = d.get(w, 0) + 1` and `if w in d { d[w] }` look up twice. Only a
 * heap key (a str, a future) that is its entry's key object itself: keys
 * are unique and the dict holds them, so that entry is key's whatever
 * moved since (a deleted entry's key is DEAD, never equal). */
static inline dentry *hinted(const vdict *d, value key)
{
	size_t j = d->last;
	if (j < d->n && V_IS_HEAP(key.t)) {
		dentry *en = &d->entries[j];
		if (en->k.as.o == key.as.o && en->k.t == key.t)
			return en;
	}
	return NULL;
}

/* Frozen dicts are read by many threads at once: only the owner of a
 * mutable one writes its hint. */
static inline void hint(vdict *d, size_t j)
{
	if (!(__atomic_load_n(&d->h.flags, __ATOMIC_ACQUIRE) & VOBJ_FROZEN))
		d->last = j;
}

/* A call's future is a key too, by identity (Ray's {ref: i}); the VM
 * waits for any other future before it becomes a key (docs/language.md). */
static bool is_key_type(uint8_t t)
{
	return t == V_STR || t == V_INT || t == V_BOOL || t == V_FUTURE;
}

uint64_t str_hash_bytes(const char *s, size_t n)
{
	/* 8 bytes at a time, each word mixed in */
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	uint64_t h = 0x243f6a8885a308d3ull ^ n;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = hash_mix(h ^ w) + 0x9e3779b97f4a7c15ull;
	}
	uint64_t w = 0;
	for (size_t k = 0; i < n; i++, k++)
		w |= (uint64_t)p[i] << (8 * k);
	h = hash_mix(h ^ w ^ 0x5851f42d4c957f2dull);
	return h ? h : 1;
}

uint64_t str_hash(value s)
{
	vstr *o = (vstr *)s.as.o;
	uint64_t h = __atomic_load_n(&o->hash, __ATOMIC_RELAXED);
	if (h)
		return h;
	h = str_hash_bytes(o->data, o->len);
	/* benign race: every thread computes the same number */
	__atomic_store_n(&o->hash, h, __ATOMIC_RELAXED);
	return h;
}

static uint64_t key_hash(value k)
{
	switch (k.t) {
	case V_STR: return str_hash(k);
	case V_INT: return hash_mix((uint64_t)k.as.i);
	case V_FUTURE: { /* by identity: the type's hook (vm_types.c) */
		const vtype_hooks *hk = vtype_hooks_of(V_FUTURE);
		return hk && hk->hash ? hk->hash(k) : 0xf07u;
	}
	default: return hash_mix(k.as.b ? 0x1234567ull : 0x7654321ull) ^ 0xb00b;
	}
}

static bool key_eq(value a, value b)
{
	if (a.t != b.t)
		return false;
	switch (a.t) {
	case V_INT: return a.as.i == b.as.i;
	case V_BOOL: return a.as.b == b.as.b;
	case V_FUTURE: {
		const vtype_hooks *h = vtype_hooks_of(V_FUTURE);
		return a.as.o == b.as.o || (h && h->eq && h->eq(a, b));
	}
	default:
		return a.as.o == b.as.o ||
		       (str_len(a) == str_len(b) && memcmp(str_data(a), str_data(b), str_len(a)) == 0);
	}
}

value dict_new(size_t cap)
{
	vdict *d = vobj_alloc(sizeof *d, V_DICT);
	size_t icap = 8;
	while (icap * 2 < cap * 3)
		icap *= 2;
	d->icap = icap;
	d->ecap = icap * 2 / 3;
	d->index = malloc(icap * sizeof *d->index);
	d->entries = malloc(d->ecap * sizeof *d->entries);
	if (!d->index || !d->entries)
		val_oom(icap * sizeof(dentry));
	memset(d->index, 0xFF, icap * sizeof *d->index);
	return v_obj(&d->h);
}

size_t dict_len(value d)
{
	return dict_of(d)->len;
}

/* Finds key: returns its index slot and sets *found; if absent, returns the
 * slot an insert should use (the first dummy on the way, else the empty). */
static size_t lookup(const vdict *d, value key, uint64_t h, bool *found)
{
	size_t mask = d->icap - 1, i = h & mask, dummy = SIZE_MAX;
	for (;;) {
		uint32_t ix = d->index[i];
		if (ix == IX_EMPTY) {
			*found = false;
			return dummy != SIZE_MAX ? dummy : i;
		}
		if (ix == IX_DUMMY) {
			if (dummy == SIZE_MAX)
				dummy = i;
		} else {
			const dentry *en = &d->entries[ix];
			if (en->hash == h && key_eq(en->k, key)) {
				*found = true;
				return i;
			}
		}
		i = (i + 1) & mask;
	}
}

/* Compacts the entries and rebuilds the index with room for `want` live
 * entries. Amortised O(1) per insert. */
static void rebuild(vdict *d, size_t want)
{
	size_t icap = 8;
	while (icap * 2 < want * 3)
		icap *= 2;
	if (icap > (size_t)IX_DUMMY)
		val_oom(SIZE_MAX); /* > 2^31 entries: not a real program */
	size_t ecap = icap * 2 / 3;
	dentry *ents = malloc(ecap * sizeof *ents);
	uint32_t *index = malloc(icap * sizeof *index);
	if (!ents || !index)
		val_oom(ecap * sizeof *ents);
	memset(index, 0xFF, icap * sizeof *index);
	size_t n = 0, mask = icap - 1;
	for (size_t j = 0; j < d->n; j++) {
		if (d->entries[j].k.t == DEAD)
			continue;
		ents[n] = d->entries[j];
		size_t i = ents[n].hash & mask;
		while (index[i] != IX_EMPTY)
			i = (i + 1) & mask;
		index[i] = (uint32_t)n;
		n++;
	}
	free(d->entries);
	free(d->index);
	d->entries = ents;
	d->index = index;
	d->ecap = ecap;
	d->icap = icap;
	d->n = d->len = d->fill = n;
}

bool dict_get(value dv, value key, value *out)
{
	if (!is_key_type(key.t))
		return false;
	vdict *d = dict_of(dv);
	const dentry *en = hinted(d, key);
	if (en) {
		*out = en->v;
		return true;
	}
	bool found;
	size_t slot = lookup(d, key, key_hash(key), &found);
	if (found) {
		size_t j = d->index[slot];
		*out = d->entries[j].v;
		hint(d, j);
	}
	return found;
}

int dict_set(value dv, value key, value v, verr *e)
{
	if (!is_key_type(key.t)) {
		verr_set(e, "unhashable key type '%s'", vtype_name(key.t));
		return -1;
	}
	vdict *d = dict_of(dv);
	dentry *en = hinted(d, key);
	if (en) {
		value old = en->v;
		en->v = val_hold(v);
		val_rele(old);
		return 0;
	}
	uint64_t h = key_hash(key);
	bool found;
	size_t slot = lookup(d, key, h, &found);
	if (found) {
		d->last = d->index[slot];
		en = &d->entries[d->last];
		value old = en->v;
		en->v = val_hold(v);
		val_rele(old);
		return 0;
	}
	bool takes_empty = d->index[slot] == IX_EMPTY;
	if (d->n == d->ecap || (takes_empty && (d->fill + 1) * 3 > d->icap * 2)) {
		rebuild(d, (d->len + 1) * 2);
		slot = lookup(d, key, h, &found);
		takes_empty = true;
	}
	d->last = d->n;
	en = &d->entries[d->n];
	en->hash = h;
	en->k = val_hold(key);
	en->v = val_hold(v);
	d->index[slot] = (uint32_t)d->n;
	d->n++;
	d->len++;
	if (takes_empty)
		d->fill++;
	return 0;
}

bool dict_del(value dv, value key)
{
	if (!is_key_type(key.t))
		return false;
	vdict *d = dict_of(dv);
	bool found;
	size_t slot = lookup(d, key, key_hash(key), &found);
	if (!found)
		return false;
	dentry *en = &d->entries[d->index[slot]];
	d->index[slot] = IX_DUMMY;
	value k = en->k, v = en->v;
	en->k.t = DEAD;
	en->v = v_none();
	d->len--;
	val_rele(k);
	val_rele(v);
	return true;
}

bool dict_next(value dv, size_t *i, value *k, value *v)
{
	const vdict *d = dict_of(dv);
	while (*i < d->n) {
		const dentry *en = &d->entries[(*i)++];
		if (en->k.t != DEAD) {
			*k = en->k;
			*v = en->v;
			return true;
		}
	}
	return false;
}

value dict_thaw(value dv)
{
	value r = dict_new(dict_len(dv));
	size_t i = 0;
	value k, v;
	while (dict_next(dv, &i, &k, &v))
		dict_set(r, k, v, NULL);
	return r;
}

void vdict_free_entries(vobj *o, void (*drop)(value))
{
	vdict *d = (vdict *)o;
	for (size_t j = 0; j < d->n; j++) {
		if (d->entries[j].k.t == DEAD)
			continue;
		drop(d->entries[j].k);
		drop(d->entries[j].v);
	}
	d->n = d->len = 0;
}

void vdict_free_shell(vobj *o)
{
	vdict *d = (vdict *)o;
	free(d->entries);
	free(d->index);
	free(d);
}
