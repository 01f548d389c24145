/* encode.c: the versioned binary encoding of values (format in encode.h); the decoder treats its input as hostile. */
#include "encode.h"
#include "flow_err.h"
#include "value_priv.h"

#include <stdlib.h>
#include <string.h>

/* ---- encoding --------------------------------------------------------------- */

void val_encode_varint(sbuf *out, uint64_t x)
{
	uint8_t b[10];
	size_t n = 0;
	while (x >= 0x80) {
		b[n++] = (uint8_t)(x | 0x80);
		x >>= 7;
	}
	b[n++] = (uint8_t)x;
	sbuf_add(out, b, n);
}

/* A tensor's tag, ndim and dims: what its elements follow. */
static void enc_tensor_head(sbuf *out, const vtensor *t)
{
	sbuf_addc(out, ENC_TENSOR);
	sbuf_addc(out, (char)t->ndim);
	for (int i = 0; i < t->ndim; i++)
		val_encode_varint(out, (uint64_t)t->shape[i]);
}

static void enc_u64le(sbuf *out, uint64_t x)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (8 * i));
	sbuf_add(out, b, 8);
}

/* Lists and dicts already written -> their ENC_SAME index. */
typedef struct encst {
	ptrmap seen;
	int64_t n;
} encst;

static int enc_item(sbuf *out, value v, verr *e, int depth, encst *st)
{
	switch (v.t) {
	case V_NONE:
		sbuf_addc(out, ENC_NONE);
		return 0;
	case V_BOOL:
		sbuf_addc(out, v.as.b ? ENC_TRUE : ENC_FALSE);
		return 0;
	case V_INT:
		sbuf_addc(out, ENC_INT);
		val_encode_varint(out, ((uint64_t)v.as.i << 1) ^ (uint64_t)(v.as.i >> 63)); /* zigzag */
		return 0;
	case V_FLOAT: {
		uint64_t bits;
		memcpy(&bits, &v.as.f, 8);
		sbuf_addc(out, ENC_FLOAT);
		enc_u64le(out, bits);
		return 0;
	}
	case V_STR:
		sbuf_addc(out, ENC_STR);
		val_encode_varint(out, str_len(v));
		sbuf_add(out, str_data(v), str_len(v));
		return 0;
	case V_TENSOR: {
		const vtensor *t = tensor_of(v);
		enc_tensor_head(out, t);
		sbuf_reserve(out, t->size * 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		sbuf_add(out, t->data, t->size * 8);
#else
		for (size_t i = 0; i < t->size; i++) {
			uint64_t bits;
			memcpy(&bits, &t->data[i], 8);
			enc_u64le(out, bits);
		}
#endif
		return 0;
	}
	default:
		break;
	}
	if (depth >= VAL_MAX_DEPTH) {
		verr_setc(e, FLOW_ETOOBIG, "encode: value too deeply nested (more than %d levels)", VAL_MAX_DEPTH);
		return -1;
	}
	value seen;
	if ((v.t == V_LIST || v.t == V_DICT) && ptrmap_get(&st->seen, v.as.o, &seen)) {
		sbuf_addc(out, ENC_SAME);
		val_encode_varint(out, (uint64_t)seen.as.i);
		return 0;
	}
	if (v.t == V_LIST) {
		size_t n = list_len(v);
		sbuf_addc(out, ENC_LIST);
		val_encode_varint(out, n);
		for (size_t i = 0; i < n; i++)
			if (enc_item(out, list_get(v, i), e, depth + 1, st) < 0)
				return -1;
		ptrmap_put(&st->seen, v.as.o, v_int(st->n++));
		return 0;
	}
	if (v.t == V_DICT) {
		sbuf_addc(out, ENC_DICT);
		val_encode_varint(out, dict_len(v));
		size_t i = 0;
		value k, x;
		while (dict_next(v, &i, &k, &x))
			if (enc_item(out, k, e, depth + 1, st) < 0 || enc_item(out, x, e, depth + 1, st) < 0)
				return -1;
		ptrmap_put(&st->seen, v.as.o, v_int(st->n++));
		return 0;
	}
	const vtype_hooks *h = vtype_hooks_of(v.t);
	if (!h || !h->encode) {
		verr_setc(e, FLOW_ENOTSUP, "cannot encode a value of type '%s'", vtype_name(v.t));
		return -1;
	}
	/* the payload's length goes first: encode into a scratch buffer */
	sbuf pl;
	sbuf_init(&pl);
	if (h->encode(&pl, v, e) < 0) {
		sbuf_fini(&pl);
		return -1;
	}
	sbuf_addc(out, ENC_EXT);
	sbuf_addc(out, (char)v.t);
	val_encode_varint(out, pl.len);
	sbuf_add(out, pl.data, pl.len);
	sbuf_fini(&pl);
	return 0;
}

void val_encode_tensor_head(sbuf *out, value v)
{
	sbuf_addc(out, (char)ENC_VERSION);
	enc_tensor_head(out, tensor_of(v));
}

int val_encode(sbuf *out, value v, verr *e)
{
	encst st = { {0}, 0 };
	sbuf_addc(out, (char)ENC_VERSION);
	int rc = enc_item(out, v, e, 0, &st);
	ptrmap_fini(&st.seen);
	return rc;
}

/* ---- decoding ----------------------------------------------------------------- */

typedef struct dec {
	const uint8_t *p;
	size_t len, pos;
	verr *e;
	/* lists and dicts decoded so far, for ENC_SAME (held), and how many
	 * levels each one nests */
	value *same;
	int *height;
	size_t nsame, capsame;
} dec;

static void remember(dec *d, value v, int height)
{
	if (d->nsame == d->capsame) {
		size_t c = d->capsame ? d->capsame * 2 : 32;
		value *a = realloc(d->same, sizeof *a * c);
		int *h = a ? realloc(d->height, sizeof *h * c) : NULL;
		if (!a || !h)
			val_oom(sizeof *a * c);
		d->same = a;
		d->height = h;
		d->capsame = c;
	}
	d->same[d->nsame] = val_hold(v);
	d->height[d->nsame++] = height;
}

static int dec_fail(dec *d, int code, const char *what)
{
	verr_setc(d->e, code, "decode: %s at byte %zu", what, d->pos);
	return -1;
}

int val_decode_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out, verr *e)
{
	uint64_t x = 0;
	size_t i = *pos;
	for (int shift = 0; shift < 70; shift += 7) {
		if (i >= len) {
			verr_setc(e, FLOW_ETRUNC, "decode: truncated number at byte %zu", i);
			return -1;
		}
		uint8_t b = buf[i++];
		if (shift == 63 && b > 1) {
			verr_setc(e, FLOW_ECORRUPT, "decode: number too large at byte %zu", i - 1);
			return -1;
		}
		x |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80)) {
			*pos = i;
			*out = x;
			return 0;
		}
	}
	verr_setc(e, FLOW_ECORRUPT, "decode: number too long at byte %zu", i);
	return -1;
}

static int get_varint(dec *d, uint64_t *out)
{
	return val_decode_varint(d->p, d->len, &d->pos, out, d->e);
}

static size_t left(const dec *d)
{
	return d->len - d->pos;
}

static int dec_item(dec *d, value *out, int depth, int *height);

static int dec_str(dec *d, value *out)
{
	uint64_t n;
	if (get_varint(d, &n) < 0)
		return -1;
	if (n > left(d))
		return dec_fail(d, FLOW_ETRUNC, "string longer than the input");
	const char *s = (const char *)d->p + d->pos;
	if (!str_utf8_valid(s, (size_t)n))
		return dec_fail(d, FLOW_ECORRUPT, "string is not valid UTF-8");
	*out = str_new(s, (size_t)n);
	d->pos += (size_t)n;
	return 0;
}

static int dec_list(dec *d, value *out, int depth, int *height)
{
	int hmax = 0, h;
	uint64_t n;
	if (get_varint(d, &n) < 0)
		return -1;
	if (n > left(d)) /* every item takes at least one byte */
		return dec_fail(d, FLOW_ETRUNC, "list count larger than the input");
	value l = list_new(n < 4096 ? (size_t)n : 4096); /* grows as items arrive */
	for (uint64_t i = 0; i < n; i++) {
		value x;
		if (dec_item(d, &x, depth + 1, &h) < 0) {
			val_rele(l);
			return -1;
		}
		if (h > hmax)
			hmax = h;
		list_append_take(l, x);
	}
	*height = hmax + 1;
	remember(d, l, *height);
	*out = l;
	return 0;
}

static int dec_dict(dec *d, value *out, int depth, int *height)
{
	int hmax = 0, h;
	uint64_t n;
	if (get_varint(d, &n) < 0)
		return -1;
	if (n > left(d) / 2) /* every pair takes at least two bytes */
		return dec_fail(d, FLOW_ETRUNC, "dict count larger than the input");
	value m = dict_new(n < 4096 ? (size_t)n : 4096); /* grows as items arrive */
	for (uint64_t i = 0; i < n; i++) {
		value k, x;
		size_t at = d->pos;
		if (dec_item(d, &k, depth + 1, &h) < 0)
			goto fail;
		if (k.t != V_STR && k.t != V_INT && k.t != V_BOOL) {
			val_rele(k);
			d->pos = at;
			dec_fail(d, FLOW_ECORRUPT, "dict key of a type that cannot be a key");
			goto fail;
		}
		value old;
		if (dict_get(m, k, &old)) {
			val_rele(k);
			d->pos = at;
			dec_fail(d, FLOW_ECORRUPT, "duplicate dict key");
			goto fail;
		}
		if (dec_item(d, &x, depth + 1, &h) < 0) {
			val_rele(k);
			goto fail;
		}
		if (h > hmax)
			hmax = h;
		dict_set(m, k, x, NULL);
		val_rele(k);
		val_rele(x);
	}
	*height = hmax + 1;
	remember(d, m, *height);
	*out = m;
	return 0;
fail:
	val_rele(m);
	return -1;
}

/* A tensor's ndim and dims (after its tag): shared by dec_tensor and
 * val_decode_tensor_head. */
static int dec_tensor_shape(dec *d, int *ndim_out, int64_t shape[TENSOR_MAX_DIMS], uint64_t *size_out)
{
	if (left(d) < 1)
		return dec_fail(d, FLOW_ETRUNC, "truncated tensor");
	int ndim = d->p[d->pos++];
	if (ndim > TENSOR_MAX_DIMS)
		return dec_fail(d, FLOW_ETOOBIG, "tensor has too many dimensions");
	uint64_t size = 1;
	for (int i = 0; i < ndim; i++) {
		uint64_t x;
		if (get_varint(d, &x) < 0)
			return -1;
		if (x > INT64_MAX)
			return dec_fail(d, FLOW_ETOOBIG, "tensor dimension too large");
		shape[i] = (int64_t)x;
		if (__builtin_mul_overflow(size, x, &size))
			return dec_fail(d, FLOW_ETOOBIG, "tensor size overflows");
	}
	*ndim_out = ndim;
	*size_out = size;
	return 0;
}

/* not inlined: its frame (a shape) stays off the recursion of nested lists */
__attribute__((noinline)) static int dec_tensor(dec *d, value *out)
{
	int ndim;
	int64_t shape[TENSOR_MAX_DIMS];
	uint64_t size;
	if (dec_tensor_shape(d, &ndim, shape, &size) < 0)
		return -1;
	if (size > left(d) / 8)
		return dec_fail(d, FLOW_ETRUNC, "tensor data shorter than its shape");
	value t;
	if (tensor_new_raw(ndim, shape, &t, d->e) < 0) /* every element is set below: no zeroing first */
		return -1;
	double *data = tensor_of(t)->data;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(data, d->p + d->pos, (size_t)size * 8);
#else
	for (size_t i = 0; i < size; i++) {
		uint64_t bits = 0;
		for (int k = 0; k < 8; k++)
			bits |= (uint64_t)d->p[d->pos + i * 8 + k] << (8 * k);
		memcpy(&data[i], &bits, 8);
	}
#endif
	d->pos += (size_t)size * 8;
	*out = t;
	return 0;
}

static int dec_ext(dec *d, value *out)
{
	if (left(d) < 1)
		return dec_fail(d, FLOW_ETRUNC, "truncated value");
	uint8_t t = d->p[d->pos++];
	uint64_t n;
	if (get_varint(d, &n) < 0)
		return -1;
	if (n > left(d))
		return dec_fail(d, FLOW_ETRUNC, "payload longer than the input");
	const vtype_hooks *h = (t >= V_FUTURE && t < V__COUNT) ? vtype_hooks_of(t) : NULL;
	if (!h || !h->decode) {
		d->pos -= 1;
		if (t >= V_FUTURE && t < V__COUNT)
			verr_setc(d->e, FLOW_ENOTSUP, "decode: cannot decode a value of type '%s'", vtype_name(t));
		else
			return dec_fail(d, FLOW_ECORRUPT, "unknown extension type");
		return -1;
	}
	value v;
	if (h->decode(d->p + d->pos, (size_t)n, &v, d->e) < 0)
		return -1;
	d->pos += (size_t)n;
	*out = v;
	return 0;
}

static int dec_item(dec *d, value *out, int depth, int *height)
{
	*height = 0;
	if (depth > VAL_MAX_DEPTH)
		return dec_fail(d, FLOW_ETOOBIG, "value too deeply nested");
	if (left(d) < 1)
		return dec_fail(d, FLOW_ETRUNC, "truncated value");
	uint8_t tag = d->p[d->pos++];
	switch (tag) {
	case ENC_SAME: {
		uint64_t k;
		size_t at = d->pos - 1;
		if (get_varint(d, &k) < 0)
			return -1;
		if (k >= d->nsame) {
			d->pos = at;
			return dec_fail(d, FLOW_ECORRUPT, "reference to a part not decoded yet");
		}
		if (depth + d->height[k] > VAL_MAX_DEPTH) {
			d->pos = at;
			return dec_fail(d, FLOW_ETOOBIG, "value too deeply nested");
		}
		*height = d->height[k];
		*out = val_hold(d->same[k]);
		return 0;
	}
	case ENC_NONE: *out = v_none(); return 0;
	case ENC_FALSE: *out = v_bool(false); return 0;
	case ENC_TRUE: *out = v_bool(true); return 0;
	case ENC_INT: {
		uint64_t z;
		if (get_varint(d, &z) < 0)
			return -1;
		*out = v_int((int64_t)((z >> 1) ^ (0 - (z & 1))));
		return 0;
	}
	case ENC_FLOAT: {
		if (left(d) < 8)
			return dec_fail(d, FLOW_ETRUNC, "truncated float");
		uint64_t bits = 0;
		for (int k = 0; k < 8; k++)
			bits |= (uint64_t)d->p[d->pos + k] << (8 * k);
		d->pos += 8;
		double f;
		memcpy(&f, &bits, 8);
		*out = v_float(f);
		return 0;
	}
	case ENC_STR: return dec_str(d, out);
	case ENC_LIST: return dec_list(d, out, depth, height);
	case ENC_DICT: return dec_dict(d, out, depth, height);
	case ENC_TENSOR: return dec_tensor(d, out);
	case ENC_EXT: return dec_ext(d, out);
	default:
		d->pos--;
		return dec_fail(d, FLOW_ECORRUPT, "unknown tag");
	}
}

int val_decode_at(const uint8_t *buf, size_t len, size_t *pos, value *out, verr *e)
{
	dec d = { buf, len, *pos, e, NULL, NULL, 0, 0 };
	if (d.pos >= len) {
		verr_setc(e, FLOW_ETRUNC, "decode: no value at byte %zu (input is %zu bytes)", d.pos, len);
		return -1;
	}
	if (buf[d.pos] != ENC_VERSION) {
		verr_setc(e, FLOW_EVERSION, "decode: bad version byte 0x%02x at byte %zu (expected 0x%02x)",
		         buf[d.pos], d.pos, ENC_VERSION);
		return -1;
	}
	d.pos++;
	value v;
	int h;
	int rc = dec_item(&d, &v, 0, &h);
	for (size_t i = 0; i < d.nsame; i++)
		val_rele(d.same[i]);
	free(d.same);
	free(d.height);
	if (rc < 0)
		return -1;
	*pos = d.pos;
	*out = v;
	return 0;
}

int val_decode(const void *buf, size_t len, value *out, verr *e)
{
	size_t pos = 0;
	value v;
	if (val_decode_at(buf, len, &pos, &v, e) < 0)
		return -1;
	if (pos != len) {
		val_rele(v);
		verr_setc(e, FLOW_ECORRUPT, "decode: %zu bytes left over after the value", len - pos);
		return -1;
	}
	*out = v;
	return 0;
}

int val_decode_tensor_head(const void *buf, size_t len, int *ndim, int64_t shape[TENSOR_MAX_DIMS], uint64_t *size,
                           size_t *head_len, verr *e)
{
	dec d = { buf, len, 0, e, NULL, NULL, 0, 0 };
	if (len < 2 || d.p[0] != ENC_VERSION || d.p[1] != ENC_TENSOR) {
		verr_setc(e, FLOW_ECORRUPT, "decode: not the head of a tensor's encoding");
		return -1;
	}
	d.pos = 2;
	if (dec_tensor_shape(&d, ndim, shape, size) < 0)
		return -1;
	*head_len = d.pos;
	return 0;
}
