/* vstr.c: the immutable UTF-8 string type - construction, code-point indexing and slicing. */
#include "value.h"
#include "value_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strings are one allocation: header and bytes together. */
static vstr *str_alloc(size_t len)
{
	if (len > SIZE_MAX - sizeof(vstr) - 1) {
		fprintf(stderr, "flow: string too large\n");
		abort();
	}
	vstr *s = malloc(sizeof(vstr) + len + 1);
	if (!s) {
		fprintf(stderr, "flow: out of memory (string of %zu bytes)\n", len);
		abort();
	}
	s->h.rc = 1;
	s->h.type = V_STR;
	s->h.flags = 0;
	s->h.extra = 0;
	s->len = len;
	s->hash = 0;
	s->data[len] = '\0';
	return s;
}

/* Counts code points (non-continuation bytes) and notes whether all ASCII. */
static void str_measure(vstr *s)
{
	const unsigned char *p = (const unsigned char *)s->data;
	size_t n = s->len, i = 0, cont = 0;
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
	s->ascii = (hi & 0x8080808080808080ull) == 0;
	s->cplen = n - cont;
}

value str_new(const char *s, size_t len)
{
	vstr *o = str_alloc(len);
	if (len)
		memcpy(o->data, s, len);
	str_measure(o);
	return v_obj(&o->h);
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

/* Byte offset of code point i (i <= cplen). O(1) for ASCII. */
static size_t cp_offset(const vstr *s, size_t i)
{
	if (s->ascii)
		return i;
	const unsigned char *p = (const unsigned char *)s->data;
	size_t off = 0;
	while (i-- > 0)
		off += cp_width(p[off]);
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
		if (!o->ascii) {
			const unsigned char *p = (const unsigned char *)o->data;
			b = a;
			for (size_t k = 0; k < count; k++)
				b += cp_width(p[b]);
		}
		*out = str_new(o->data + a, b - a);
		return 0;
	}
	if (o->ascii) {
		vstr *r = str_alloc(count);
		int64_t j = start;
		for (size_t k = 0; k < count; k++, j += step)
			r->data[k] = o->data[j];
		r->ascii = true;
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
	vstr *r = str_alloc(x->len + y->len);
	memcpy(r->data, x->data, x->len);
	memcpy(r->data + x->len, y->data, y->len);
	r->cplen = x->cplen + y->cplen;
	r->ascii = x->ascii && y->ascii;
	return v_obj(&r->h);
}

/* Results beyond this are refused with an error, not an allocator abort. */
#define STR_MAX_BYTES ((size_t)1 << 30) /* 1 GiB: beyond, an error, not an OOM kill */

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
	vstr *r = str_alloc(total);
	/* doubling copies: log(n) memcpy calls */
	memcpy(r->data, x->data, x->len);
	size_t done = x->len;
	while (done < total) {
		size_t k = done <= total - done ? done : total - done;
		memcpy(r->data + done, r->data, k);
		done += k;
	}
	r->cplen = x->cplen * (size_t)n;
	r->ascii = x->ascii;
	*out = v_obj(&r->h);
	return 0;
}
