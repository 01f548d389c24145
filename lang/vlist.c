/* vlist.c: the growable list type - Python indexing and slicing, concat/repeat, stable sort. */
#include "value.h"
#include "value_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "small_limits.h"
#include "hugemem.h"

/* Marks l VLIST_MIXED when v is an item the flag is about (value.h). */
static inline void note_item(vlist *l, value v)
{
	if (v.t > V_STR)
		l->h.extra |= VLIST_MIXED;
}

/* The result of copying items of src into dst may hold what src holds. */
static inline void note_items_of(vlist *dst, value src)
{
	dst->h.extra |= list_of(src)->h.extra & VLIST_MIXED;
}

/* Item arrays of MEM_HUGE_MIN (4 MiB) or more are mappings of their own
 * on huge pages (hugemem.h), their capacity rounded up to whole huge
 * pages: here the first write to each fresh 4 KiB page costs microseconds
 * (a 32 MB list filled by appends took 100-200 ms in page faults), to a
 * 2 MiB page about as much as to 4 KiB. Grown by moving page tables, not
 * bytes (mremap). Invariant: cap >= BIG_CAP exactly when items is such a
 * mapping, of cap * sizeof(value) bytes (list_free_items). */
#define BIG_CAP (MEM_HUGE_MIN / sizeof(value))
#define HUGE_ITEMS (MEM_HUGE_PAGE / sizeof(value)) /* items per huge page */

/* Smaller arrays of 1 MiB or more are prefaulted a chunk at a time, just
 * ahead of the appends that fill them: one call per chunk instead of a
 * page fault per page, and the pages the kernel has just zeroed are still
 * in cache when the items are written. */
#define PREFAULT_CHUNK ((uintptr_t)256 << 10)
#define PREFAULT_MIN_CAP (MEM_PREFAULT_MIN / sizeof(value))

static inline bool prefaulted(size_t cap)
{
	return cap >= PREFAULT_MIN_CAP && cap < BIG_CAP;
}

/* Prefaults from slot `from` to the next chunk boundary (at most to the
 * end of the capacity). */
static void prefault_ahead(vlist *l, size_t from)
{
	uintptr_t a = (uintptr_t)(l->items + from);
	uintptr_t e = (a | (PREFAULT_CHUNK - 1)) + 1;
	uintptr_t end = (uintptr_t)(l->items + l->cap);
	if (e > end)
		e = end;
	if (e > a)
		mem_prefault((void *)a, e - a);
}

/* An item array for *cap items (a big one's capacity is rounded up). */
static value *items_alloc(size_t *cap)
{
	if (*cap > (SIZE_MAX - MEM_HUGE_PAGE) / sizeof(value))
		val_oom(SIZE_MAX);
	value *p;
	if (*cap >= BIG_CAP) {
		*cap = (*cap + HUGE_ITEMS - 1) / HUGE_ITEMS * HUGE_ITEMS;
		p = mem_huge_map(*cap * sizeof(value));
	} else {
		p = malloc(*cap * sizeof(value));
	}
	if (!p)
		val_oom(*cap * sizeof(value));
	return p;
}

void list_free_items(vlist *l)
{
	if (l->cap >= BIG_CAP)
		mem_huge_unmap(l->items, l->cap * sizeof(value));
	else
		free(l->items);
}

value list_new(size_t cap)
{
	vlist *l = vobj_alloc(sizeof *l, V_LIST);
	if (cap) {
		l->items = items_alloc(&cap);
		l->cap = cap;
		if (prefaulted(cap))
			prefault_ahead(l, 0);
	}
	return v_obj(&l->h);
}

static void list_grow(vlist *l, size_t need)
{
	if (need <= l->cap)
		return;
	size_t cap = l->cap < 4 ? 4 : l->cap + l->cap / 2;
	if (cap < need)
		cap = need;
	size_t old = l->cap;
	value *p;
	if (cap < BIG_CAP) {
		p = realloc(l->items, cap * sizeof(value));
		if (!p)
			val_oom(cap * sizeof(value));
	} else if (old < BIG_CAP) {
		p = items_alloc(&cap);
		if (l->len)
			memcpy(p, l->items, l->len * sizeof(value));
		free(l->items);
	} else {
		if (cap > (SIZE_MAX - MEM_HUGE_PAGE) / sizeof(value))
			val_oom(SIZE_MAX);
		cap = (cap + HUGE_ITEMS - 1) / HUGE_ITEMS * HUGE_ITEMS;
		p = mem_huge_remap(l->items, old * sizeof(value), cap * sizeof(value));
		if (!p)
			val_oom(cap * sizeof(value));
	}
	l->items = p;
	l->cap = cap;
	if (prefaulted(cap))
		prefault_ahead(l, old);
}

void list_append_take(value lv, value v)
{
	vlist *l = list_of(lv);
	if (l->len == l->cap)
		list_grow(l, l->len + 1);
	note_item(l, v);
	value *slot = l->items + l->len++;
	if (((uintptr_t)slot & (PREFAULT_CHUNK - 1)) == 0 && prefaulted(l->cap))
		prefault_ahead(l, l->len - 1);
	*slot = v;
}

void list_append(value l, value v)
{
	list_append_take(l, val_hold(v));
}

void list_set(value lv, size_t i, value v)
{
	vlist *l = list_of(lv);
	value old = l->items[i];
	note_item(l, v);
	l->items[i] = val_hold(v);
	val_rele(old);
}

int list_index(value lv, int64_t i, value *out, verr *e)
{
	int64_t n = (int64_t)list_len(lv);
	if (i < 0)
		i += n;
	if (i < 0 || i >= n) {
		verr_set(e, "list index out of range");
		return -1;
	}
	*out = val_hold(list_get(lv, (size_t)i));
	return 0;
}

int list_slice(value lv, bool has_lo, int64_t lo, bool has_hi, int64_t hi,
               int64_t step, value *out, verr *e)
{
	if (step == 0) {
		verr_set(e, "slice step cannot be zero");
		return -1;
	}
	int64_t start;
	size_t count = val_slice_adjust(list_len(lv), has_lo, lo, has_hi, hi, step, &start);
	if (step == INT64_MIN)
		step = -INT64_MAX;
	value r = list_new(count);
	vlist *rl = list_of(r);
	note_items_of(rl, lv);
	const value *src = list_of(lv)->items;
	int64_t j = start;
	for (size_t k = 0; k < count; k++, j += step)
		rl->items[k] = val_hold(src[j]);
	rl->len = count;
	*out = r;
	return 0;
}

value list_concat(value a, value b)
{
	size_t na = list_len(a), nb = list_len(b);
	value r = list_new(na + nb);
	vlist *rl = list_of(r);
	note_items_of(rl, a);
	note_items_of(rl, b);
	for (size_t i = 0; i < na; i++)
		rl->items[i] = val_hold(list_get(a, i));
	for (size_t i = 0; i < nb; i++)
		rl->items[na + i] = val_hold(list_get(b, i));
	rl->len = na + nb;
	return r;
}

/* Results beyond this many items are refused with an error. */
#define LIST_MAX_ITEMS FLOW_LIMIT((size_t)100000000, (size_t)1000000) /* as range(): 1.6 GB of items */

int list_repeat(value lv, int64_t n, value *out, verr *e)
{
	size_t len = list_len(lv), total;
	if (n <= 0 || len == 0) {
		*out = list_new(0);
		return 0;
	}
	if (__builtin_mul_overflow(len, (uint64_t)n, &total) || total > LIST_MAX_ITEMS) {
		verr_setc(e, FLOW_ETOOBIG, "repeated list is too large");
		return -1;
	}
	value r = list_new(total);
	vlist *rl = list_of(r);
	note_items_of(rl, lv);
	const value *src = list_of(lv)->items;
	for (size_t k = 0; k < total; k++)
		rl->items[k] = val_hold(src[k % len]);
	rl->len = total;
	*out = r;
	return 0;
}

int list_pop(value lv, value *out, verr *e)
{
	vlist *l = list_of(lv);
	if (l->len == 0) {
		verr_set(e, "pop from empty list");
		return -1;
	}
	*out = l->items[--l->len]; /* the list's reference passes to the caller */
	return 0;
}

void list_extend(value lv, value other)
{
	size_t n = list_len(other); /* read first: other may be lv itself */
	vlist *l = list_of(lv);
	list_grow(l, l->len + n);
	note_items_of(l, other);
	const value *src = list_of(other)->items;
	for (size_t i = 0; i < n; i++)
		l->items[l->len + i] = val_hold(src[i]);
	l->len += n;
}

value list_thaw(value lv)
{
	size_t n = list_len(lv);
	value r = list_new(n);
	vlist *rl = list_of(r);
	note_items_of(rl, lv);
	for (size_t i = 0; i < n; i++)
		rl->items[i] = val_hold(list_get(lv, i));
	rl->len = n;
	return r;
}

/* ---- sorting ---------------------------------------------------------------- */

/* A stable bottom-up merge sort, instantiated per element type: insertion
 * sort on runs of 32, then merges through a scratch buffer. LT(ctx, a, b)
 * is "a < b"; a merge takes from the right run only when strictly less, which
 * keeps equal items in order. */
#define DEFINE_MSORT(NAME, T, LT)                                              \
	static void NAME(T *a, size_t n, T *tmp, void *ctx)                    \
	{                                                                      \
		const size_t run = 32;                                         \
		for (size_t lo = 0; lo < n; lo += run) {                       \
			size_t hi = lo + run < n ? lo + run : n;               \
			for (size_t i = lo + 1; i < hi; i++) {                 \
				T x = a[i];                                    \
				size_t j = i;                                  \
				while (j > lo && LT(ctx, x, a[j - 1])) {       \
					a[j] = a[j - 1];                       \
					j--;                                   \
				}                                              \
				a[j] = x;                                      \
			}                                                      \
		}                                                              \
		T *src = a, *dst = tmp;                                        \
		for (size_t w = run; w < n; w *= 2) {                          \
			for (size_t lo = 0; lo < n; lo += 2 * w) {             \
				size_t mid = lo + w < n ? lo + w : n;          \
				size_t hi = lo + 2 * w < n ? lo + 2 * w : n;   \
				size_t i = lo, j = mid, k = lo;                \
				if (mid < hi && !LT(ctx, src[mid], src[mid - 1])) { \
					memcpy(dst + lo, src + lo, (hi - lo) * sizeof(T)); \
					continue;                              \
				}                                              \
				while (i < mid && j < hi)                      \
					dst[k++] = LT(ctx, src[j], src[i]) ? src[j++] : src[i++]; \
				while (i < mid)                                \
					dst[k++] = src[i++];                   \
				while (j < hi)                                 \
					dst[k++] = src[j++];                   \
			}                                                      \
			T *t = src;                                            \
			src = dst;                                             \
			dst = t;                                               \
		}                                                              \
		if (src != a)                                                  \
			memcpy(a, src, n * sizeof(T));                         \
	}

/* NaN sorts after every number (val_cmp's order). */
#define FLOAT_LT(ctx, x, y) ((x) < (y) || (isnan(y) && !isnan(x)))
DEFINE_MSORT(msort_float, double, FLOAT_LT)

typedef struct {
	verr *e;
	bool failed;
} sort_ctx;

static bool value_lt(void *vctx, value x, value y)
{
	sort_ctx *c = vctx;
	if (c->failed)
		return false; /* finish quickly; the result is thrown away */
	int r;
	if (val_cmp(x, y, &r, c->e) < 0) {
		c->failed = true;
		return false;
	}
	return r < 0;
}
#define VALUE_LT(ctx, x, y) value_lt(ctx, x, y)
DEFINE_MSORT(msort_value, value, VALUE_LT)

/* Ints: equal ints are indistinguishable, so an LSD radix sort (11-bit
 * digits, skipping digits every key shares) is as good as a stable one. */
static void radix_sort_i64(int64_t *a, size_t n, int64_t *tmp)
{
	uint64_t *src = (uint64_t *)a, *dst = (uint64_t *)tmp;
	for (size_t i = 0; i < n; i++)
		src[i] ^= 1ull << 63; /* signed order -> unsigned order */
	enum { BITS = 11, BUCKETS = 1 << BITS };
	size_t count[BUCKETS];
	for (int shift = 0; shift < 64; shift += BITS) {
		memset(count, 0, sizeof count);
		for (size_t i = 0; i < n; i++)
			count[(src[i] >> shift) & (BUCKETS - 1)]++;
		if (count[(src[0] >> shift) & (BUCKETS - 1)] == n)
			continue; /* every key has this digit */
		size_t sum = 0;
		for (size_t d = 0; d < BUCKETS; d++) {
			size_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & (BUCKETS - 1)]++] = src[i];
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	for (size_t i = 0; i < n; i++)
		src[i] ^= 1ull << 63;
	if (src != (uint64_t *)a)
		memcpy(a, src, n * sizeof *a);
}

static void reverse_values(value *a, size_t n)
{
	for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
		value t = a[i];
		a[i] = a[j - 1];
		a[j - 1] = t;
	}
}

/* Kinds that val_cmp can order against each other. */
static int sort_kind(uint8_t t)
{
	switch (t) {
	case V_BOOL: case V_INT: case V_FLOAT: return 1;
	case V_STR: return 2;
	case V_LIST: return 3;
	default: return 0;
	}
}

int list_sort(value lv, bool reverse, verr *e)
{
	vlist *l = list_of(lv);
	size_t n = l->len;
	if (n < 2)
		return 0;
	bool all_int = true, all_float = true;
	int kind = sort_kind(l->items[0].t);
	for (size_t i = 0; i < n; i++) {
		uint8_t t = l->items[i].t;
		all_int &= t == V_INT;
		all_float &= t == V_FLOAT;
		if (sort_kind(t) != kind || kind == 0) {
			/* name the pair as Python would: a later item < an earlier one */
			uint8_t t0 = l->items[0].t;
			verr_set(e, "'<' not supported between '%s' and '%s'",
			         vtype_name(kind == 0 ? l->items[1].t : t), vtype_name(t0));
			return -1;
		}
	}
	if (all_int) {
		int64_t *keys = malloc(2 * n * sizeof *keys);
		if (!keys)
			val_oom(2 * n * sizeof *keys);
		for (size_t i = 0; i < n; i++)
			keys[i] = l->items[i].as.i;
		radix_sort_i64(keys, n, keys + n);
		for (size_t i = 0; i < n; i++)
			l->items[reverse ? n - 1 - i : i] = v_int(keys[i]);
		free(keys);
		return 0;
	}
	/* reverse=true keeps equal items in their original order, as Python:
	 * reverse, sort stably, reverse back */
	if (reverse)
		reverse_values(l->items, n);
	if (all_float) {
		double *keys = malloc(2 * n * sizeof *keys);
		if (!keys)
			val_oom(2 * n * sizeof *keys);
		for (size_t i = 0; i < n; i++)
			keys[i] = l->items[i].as.f;
		msort_float(keys, n, keys + n, NULL);
		for (size_t i = 0; i < n; i++)
			l->items[i] = v_float(keys[i]);
		free(keys);
	} else {
		/* sort a copy, so a failed comparison leaves the list as it was */
		value *tmp = malloc(2 * n * sizeof *tmp);
		if (!tmp)
			val_oom(2 * n * sizeof *tmp);
		memcpy(tmp, l->items, n * sizeof *tmp);
		sort_ctx c = { e, false };
		msort_value(tmp, n, tmp + n, &c);
		if (c.failed) {
			free(tmp);
			if (reverse)
				reverse_values(l->items, n);
			return -1;
		}
		memcpy(l->items, tmp, n * sizeof *tmp);
		free(tmp);
	}
	if (reverse)
		reverse_values(l->items, n);
	return 0;
}
