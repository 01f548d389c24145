/* vstr.c: the immutable UTF-8 string type - construction, code-point indexing and slicing. */
#include "value.h"
#include "value_priv.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "small_limits.h"
#include "hugemem.h"

/* Results beyond this are refused with an error, not an allocator abort. */
#define STR_MAX_BYTES FLOW_LIMIT((size_t)1 << 30, (size_t)1 << 20) /* 1 GiB: beyond, an error, not an OOM kill */

/* The byte capacity of s's data (NUL included). */
static size_t str_cap(const vstr *s)
{
	unsigned k = s->h.extra >> 8;
	return k ? (size_t)1 << k : s->len + 1;
}

/* Offset of the cursor word after a data capacity of cap bytes. */
static size_t cursor_off(size_t cap)
{
	return (offsetof(vstr, data) + cap + 7) & ~(size_t)7;
}

static bool has_cursor(const vstr *s)
{
	return !(s->h.extra & VSTR_ASCII) || (s->h.extra >> 8);
}

/* Non-ASCII strings remember the last code point index found and its byte
 * offset (index << 32 | offset; 0 = none), so s[i] in a loop walks from the
 * previous position, not from the start. Atomic: frozen strings are read
 * by many threads, and any pair one of them stores is a valid one. The
 * word sits after the data so that ASCII strings, the common case, do not
 * carry it. */
static uint64_t *str_cursor(const vstr *s)
{
	return (uint64_t *)((char *)s + cursor_off(str_cap(s)));
}

/* Bytes allocated for a string of len bytes made by str_alloc. */
static size_t alloc_size(size_t len, bool ascii)
{
	return ascii ? offsetof(vstr, data) + len + 1 : cursor_off(len + 1) + 8;
}

static size_t huge_round(size_t n)
{
	return (n + MEM_HUGE_PAGE - 1) & ~(MEM_HUGE_PAGE - 1);
}

void str_free(vobj *o)
{
	vstr *s = (vstr *)o;
	if (s->h.flags & VOBJ_HUGE)
		mem_huge_unmap(s, huge_round(alloc_size(s->len, s->h.extra & VSTR_ASCII)));
	else
		free(s);
}

/* Strings are one allocation: header and bytes together (and the cursor
 * when not ASCII). The caller sets cplen. Strings of 4 MiB or more (a big
 * join, a file's text) are mappings of their own on huge pages
 * (VOBJ_HUGE), as big lists are (vlist.c): a first write to a fresh
 * 4 KiB page costs microseconds here. They are never grown in place: an
 * append to one moves it to malloc'd memory first. */
static vstr *str_alloc(size_t len, bool ascii)
{
	if (len > SIZE_MAX / 2) {
		fprintf(stderr, "flow: string too large\n");
		abort();
	}
	size_t size = alloc_size(len, ascii);
	bool huge = size >= MEM_HUGE_MIN;
	vstr *s = huge ? mem_huge_map(huge_round(size)) : malloc(size);
	if (!s) {
		fprintf(stderr, "flow: out of memory (string of %zu bytes)\n", len);
		abort();
	}
	s->h.rc = 1;
	s->h.type = V_STR;
	s->h.flags = huge ? VOBJ_HUGE : 0;
	s->h.extra = ascii ? VSTR_ASCII : 0;
	s->len = len;
	s->hash = 0;
	s->data[len] = '\0';
	if (!ascii)
		*str_cursor(s) = 0;
	return s;
}

/* Counts code points (non-continuation bytes); true when all ASCII. */
static bool str_measure(const char *s, size_t n, size_t *cplen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, cont = 0;
	uint64_t hi = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		hi |= w;
		if (w & 0x8080808080808080ull)
			for (int k = 0; k < 8; k++)
				cont += (p[i + k] & 0xC0) == 0x80;
	}
	for (; i < n; i++) {
		hi |= p[i];
		cont += (p[i] & 0xC0) == 0x80;
	}
	*cplen = n - cont;
	return (hi & 0x8080808080808080ull) == 0;
}

value str_new(const char *s, size_t len)
{
	size_t cplen;
	bool ascii = str_measure(s, len, &cplen);
	vstr *o = str_alloc(len, ascii);
	if (len)
		memcpy(o->data, s, len);
	o->cplen = cplen;
	return v_obj(&o->h);
}

/* Only short strings are looked up: long ones rarely repeat, and hashing
 * them would cost more than the allocation it saves. */
#define DEDUP_MAX_LEN 32

void str_dedup_init(str_dedup *t, size_t expect)
{
	t->slot = NULL;
	t->mask = 0;
	if (expect < 64)
		return;
	size_t cap = 256;
	while (cap < expect && cap < ((size_t)1 << 14))
		cap *= 2;
	t->slot = calloc(cap, sizeof *t->slot);
	if (t->slot)
		t->mask = cap - 1;
}

/* The table is 4-way set associative: a word looks in the 4 slots of its
 * set (32 bytes, one cache line) and takes an empty one; a miss in a full
 * set replaces one of its 4. Direct-mapped, two words that share a slot
 * evicted each other: with 5,000 distinct words in 16,384 slots a quarter
 * of them did, and a word count allocated (and compared by bytes in its
 * dict) a new string for ~10% of its words. */
#define DEDUP_WAYS 4

value str_new_dedup(str_dedup *t, const char *s, size_t len)
{
	if (!t->slot || len > DEDUP_MAX_LEN)
		return str_new(s, len);
	uint64_t h = str_hash_bytes(s, len);
	vstr **set = &t->slot[h & t->mask & ~(size_t)(DEDUP_WAYS - 1)];
	int w = 0;
	for (; w < DEDUP_WAYS; w++) {
		vstr *o = set[w];
		if (!o)
			break;
		if (o->hash == h && o->len == len && memcmp(o->data, s, len) == 0) {
			vobj_rc_inc(&o->h);
			return v_obj(&o->h);
		}
	}
	if (w == DEDUP_WAYS)
		w = (int)(h >> 40) & (DEDUP_WAYS - 1); /* a full set: replace one */
	value v = str_new(s, len);
	((vstr *)v.as.o)->hash = h;
	set[w] = (vstr *)v.as.o;
	return v;
}

void str_dedup_fini(str_dedup *t)
{
	free(t->slot);
	t->slot = NULL;
}

value str_from_c(const char *s)
{
	return str_new(s, strlen(s));
}

value str_take_sbuf(sbuf *b)
{
	value v = str_new(b->data ? b->data : "", b->len);
	sbuf_fini(b);
	return v;
}

value str_from_int(int64_t n)
{
	char buf[24], *p = buf + sizeof buf;
	uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (n < 0)
		*--p = '-';
	size_t len = (size_t)(buf + sizeof buf - p);
	vstr *o = str_alloc(len, true);
	memcpy(o->data, p, len);
	o->cplen = len;
	return v_obj(&o->h);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
size_t str_utf8_seq_len(const char *s, size_t avail)
{
	unsigned c = (unsigned char)s[0];
	size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	return n <= avail && str_utf8_valid(s, n) ? n : 0;
}

bool str_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		/* skip ASCII 8 bytes at a time */
		if (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (!(w & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		unsigned c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

static size_t cp_width(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Byte offset of code point i (i <= cplen). O(1) for ASCII; otherwise a
 * walk from the nearest of the start, the end and the cursor (the last
 * position found), so walking a string by index is linear in all. */
static size_t cp_offset(const vstr *s, size_t i)
{
	if (s->h.extra & VSTR_ASCII)
		return i;
	const unsigned char *p = (const unsigned char *)s->data;
	size_t ci = 0, off = 0;
	uint64_t *cursor = str_cursor(s);
	uint64_t cur = __atomic_load_n(cursor, __ATOMIC_RELAXED);
	if (cur) {
		ci = (size_t)(cur >> 32);
		off = (size_t)(cur & 0xFFFFFFFFu);
	}
	size_t dcur = ci > i ? ci - i : i - ci;
	if (i < dcur) {
		ci = off = 0;
		dcur = i;
	}
	if (s->cplen - i < dcur) {
		ci = s->cplen;
		off = s->len;
	}
	while (ci < i) {
		off += cp_width(p[off]);
		ci++;
	}
	while (ci > i) {
		do
			off--;
		while ((p[off] & 0xC0) == 0x80);
		ci--;
	}
	/* any thread may store: every pair it could store is a valid one */
	if (i <= 0xFFFFFFFFu && off <= 0xFFFFFFFFu && (i | off))
		__atomic_store_n(cursor, (uint64_t)i << 32 | off, __ATOMIC_RELAXED);
	return off;
}

int str_index(value s, int64_t i, value *out, verr *e)
{
	const vstr *o = str_of(s);
	int64_t n = (int64_t)o->cplen;
	if (i < 0)
		i += n;
	if (i < 0 || i >= n) {
		verr_set(e, "string index out of range");
		return -1;
	}
	size_t off = cp_offset(o, (size_t)i);
	*out = str_new(o->data + off, cp_width((unsigned char)o->data[off]));
	return 0;
}

size_t val_slice_adjust(size_t len, bool has_lo, int64_t lo, bool has_hi, int64_t hi,
                    int64_t step, int64_t *start)
{
	int64_t n = (int64_t)len;
	if (step == INT64_MIN)
		step = -INT64_MAX; /* same result, and -step stays defined */
	if (step > 0) {
		if (!has_lo)
			lo = 0;
		else if (lo < 0 && (lo += n) < 0)
			lo = 0;
		else if (lo > n)
			lo = n;
		if (!has_hi)
			hi = n;
		else if (hi < 0 && (hi += n) < 0)
			hi = 0;
		else if (hi > n)
			hi = n;
		*start = lo;
		return hi > lo ? (size_t)((hi - lo - 1) / step + 1) : 0;
	}
	if (!has_lo)
		lo = n - 1;
	else if (lo < 0 && (lo += n) < 0)
		lo = -1;
	else if (lo >= n)
		lo = n - 1;
	if (!has_hi)
		hi = -1;
	else if (hi < 0 && (hi += n) < 0)
		hi = -1;
	else if (hi >= n)
		hi = n - 1;
	*start = lo;
	return lo > hi ? (size_t)((lo - hi - 1) / (-step) + 1) : 0;
}

int str_slice(value s, bool has_lo, int64_t lo, bool has_hi, int64_t hi,
              int64_t step, value *out, verr *e)
{
	if (step == 0) {
		verr_set(e, "slice step cannot be zero");
		return -1;
	}
	const vstr *o = str_of(s);
	int64_t start;
	size_t count = val_slice_adjust(o->cplen, has_lo, lo, has_hi, hi, step, &start);
	if (step == INT64_MIN)
		step = -INT64_MAX;
	if (count == 0) {
		*out = str_new("", 0);
		return 0;
	}
	if (step == 1) {
		size_t a = cp_offset(o, (size_t)start);
		size_t b = a + count;
		if (!(o->h.extra & VSTR_ASCII)) {
			const unsigned char *p = (const unsigned char *)o->data;
			b = a;
			for (size_t k = 0; k < count; k++)
				b += cp_width(p[b]);
		}
		*out = str_new(o->data + a, b - a);
		return 0;
	}
	if (o->h.extra & VSTR_ASCII) {
		vstr *r = str_alloc(count, true);
		int64_t j = start;
		for (size_t k = 0; k < count; k++, j += step)
			r->data[k] = o->data[j];
		r->cplen = count;
		*out = v_obj(&r->h);
		return 0;
	}
	/* general case: an offset table for the code points */
	size_t *offs = malloc((o->cplen + 1) * sizeof *offs);
	if (!offs) {
		verr_setc(e, FLOW_ENOMEM, "out of memory");
		return -1;
	}
	const unsigned char *p = (const unsigned char *)o->data;
	size_t off = 0;
	for (size_t k = 0; k <= o->cplen; k++) {
		offs[k] = off;
		if (k < o->cplen)
			off += cp_width(p[off]);
	}
	sbuf b;
	sbuf_init(&b);
	int64_t j = start;
	for (size_t k = 0; k < count; k++, j += step)
		sbuf_add(&b, o->data + offs[j], offs[j + 1] - offs[j]);
	free(offs);
	*out = str_take_sbuf(&b);
	return 0;
}

value str_concat(value a, value b)
{
	const vstr *x = str_of(a), *y = str_of(b);
	vstr *r = str_alloc(x->len + y->len, x->h.extra & y->h.extra & VSTR_ASCII);
	memcpy(r->data, x->data, x->len);
	memcpy(r->data + x->len, y->data, y->len);
	r->cplen = x->cplen + y->cplen;
	return v_obj(&r->h);
}

value str_concat_n(const value *parts, int n)
{
	size_t len = 0, cplen = 0;
	uint16_t ascii = VSTR_ASCII;
	for (int j = 0; j < n; j++) {
		const vstr *x = str_of(parts[j]);
		len += x->len;
		cplen += x->cplen;
		ascii &= x->h.extra;
	}
	vstr *r = str_alloc(len, ascii);
	size_t off = 0;
	for (int j = 0; j < n; j++) {
		const vstr *x = str_of(parts[j]);
		memcpy(r->data + off, x->data, x->len);
		off += x->len;
	}
	r->cplen = cplen;
	return v_obj(&r->h);
}

/* memcpy for the short pieces join copies millions of (words): fixed-size
 * copies the compiler inlines instead of a library call per piece. */
static inline void copy_piece(char *w, const char *s, size_t n)
{
	if (n > 32) {
		memcpy(w, s, n);
		return;
	}
	for (; n >= 8; n -= 8, w += 8, s += 8)
		memcpy(w, s, 8);
	if (n >= 4) {
		memcpy(w, s, 4);
		memcpy(w + n - 4, s + n - 4, 4);
	} else if (n) {
		w[0] = s[0];
		w[n / 2] = s[n / 2];
		w[n - 1] = s[n - 1];
	}
}

value str_join(value sep, const value *items, size_t n)
{
	const vstr *sp = str_of(sep);
	size_t len = n ? sp->len * (n - 1) : 0, cplen = n ? sp->cplen * (n - 1) : 0;
	uint16_t ascii = sp->h.extra & VSTR_ASCII;
	for (size_t j = 0; j < n; j++) {
		const vstr *x = str_of(items[j]);
		len += x->len;
		cplen += x->cplen;
		ascii &= x->h.extra;
	}
	vstr *r = str_alloc(len, ascii);
	char *w = r->data;
	for (size_t j = 0; j < n; j++) {
		const vstr *x = str_of(items[j]);
		if (j && sp->len) {
			copy_piece(w, sp->data, sp->len);
			w += sp->len;
		}
		copy_piece(w, x->data, x->len);
		w += x->len;
	}
	r->cplen = cplen;
	return v_obj(&r->h);
}

bool str_append_inplace(value *dst, value b)
{
	vstr *x = (vstr *)dst->as.o;
	const vstr *y = str_of(b);
	/* rc 1: the caller's register is the only holder, so no other thread
	 * can be reading x; frozen strings are never written whatever rc says */
	if ((const vstr *)x == y || __atomic_load_n(&x->h.rc, __ATOMIC_ACQUIRE) != 1 ||
	    (__atomic_load_n(&x->h.flags, __ATOMIC_ACQUIRE) & VOBJ_FROZEN))
		return false;
	size_t len = x->len + y->len;
	uint16_t ascii = x->h.extra & y->h.extra & VSTR_ASCII;
	if (len + 1 > str_cap(x)) {
		if (len > STR_MAX_BYTES)
			return false; /* the ordinary path reports or aborts */
		/* capacity doubles: n appends copy O(n) bytes in all */
		unsigned k = 4;
		while (((size_t)1 << k) < len + 1)
			k++;
		uint64_t cur = has_cursor(x) ? *str_cursor(x) : 0;
		vstr *r;
		if (x->h.flags & VOBJ_HUGE) {
			/* from its own mapping to malloc'd memory, then grown as any */
			r = malloc(cursor_off((size_t)1 << k) + 8);
			if (r) {
				memcpy(r, x, offsetof(vstr, data) + x->len);
				r->h.flags &= (uint8_t)~VOBJ_HUGE;
				str_free(&x->h);
			}
		} else {
			r = realloc(x, cursor_off((size_t)1 << k) + 8);
		}
		if (!r)
			val_oom(cursor_off((size_t)1 << k) + 8);
		x = r;
		x->h.extra = (uint16_t)(k << 8 | (x->h.extra & VSTR_ASCII));
		*str_cursor(x) = cur; /* still valid: the prefix is unchanged */
		dst->as.o = &x->h;
	}
	memcpy(x->data + x->len, y->data, y->len);
	x->data[len] = '\0';
	x->len = len;
	x->cplen += y->cplen;
	x->h.extra = (uint16_t)((x->h.extra & ~VSTR_ASCII) | ascii);
	x->hash = 0;
	return true;
}

int str_repeat(value s, int64_t n, value *out, verr *e)
{
	const vstr *x = str_of(s);
	if (n <= 0 || x->len == 0) {
		*out = str_new("", 0);
		return 0;
	}
	size_t total;
	if (__builtin_mul_overflow(x->len, (uint64_t)n, &total) || total > STR_MAX_BYTES) {
		verr_setc(e, FLOW_ETOOBIG, "repeated string is too large");
		return -1;
	}
	vstr *r = str_alloc(total, x->h.extra & VSTR_ASCII);
	/* doubling copies: log(n) memcpy calls */
	memcpy(r->data, x->data, x->len);
	size_t done = x->len;
	while (done < total) {
		size_t k = done <= total - done ? done : total - done;
		memcpy(r->data + done, r->data, k);
		done += k;
	}
	r->cplen = x->cplen * (size_t)n;
	*out = v_obj(&r->h);
	return 0;
}
