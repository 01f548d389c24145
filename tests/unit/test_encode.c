/* test_encode.c: unit tests of the binary value encoding - round trips, truncation, corruption and hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/encode.h"
#include "lang/value.h"

static value S(const char *s) { return str_from_c(s); }

/* Encodes v; fails the test on error. Caller frees with sbuf_fini. */
static sbuf enc(value v)
{
	sbuf b;
	sbuf_init(&b);
	verr e;
	if (val_encode(&b, v, &e) != 0)
		fail_msg("encode failed: %s", e.msg);
	return b;
}

/* Bitwise equality, so NaN payloads and -0.0 count too. */
static bool same(value a, value b)
{
	if (a.t != b.t)
		return false;
	switch (a.t) {
	case V_FLOAT: return memcmp(&a.as.f, &b.as.f, 8) == 0;
	case V_LIST:
		if (list_len(a) != list_len(b))
			return false;
		for (size_t i = 0; i < list_len(a); i++)
			if (!same(list_get(a, i), list_get(b, i)))
				return false;
		return true;
	case V_DICT: {
		if (dict_len(a) != dict_len(b))
			return false;
		size_t i = 0, j = 0;
		value ka, va, kb, vb;
		while (dict_next(a, &i, &ka, &va)) { /* same order too */
			assert_true(dict_next(b, &j, &kb, &vb));
			if (!same(ka, kb) || !same(va, vb))
				return false;
		}
		return true;
	}
	case V_TENSOR: {
		const vtensor *x = tensor_of(a), *y = tensor_of(b);
		if (x->ndim != y->ndim || memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim))
			return false;
		return memcmp(x->data, y->data, x->size * 8) == 0;
	}
	default: return val_eq(a, b);
	}
}

static void roundtrip(value v)
{
	sbuf b = enc(v);
	value out;
	verr e;
	if (val_decode(b.data, b.len, &out, &e) != 0)
		fail_msg("decode failed: %s", e.msg);
	assert_true(same(v, out));
	sbuf b2 = enc(out); /* and encodes to the same bytes */
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	val_rele(out);
	sbuf_fini(&b);
	sbuf_fini(&b2);
}

static value make_tensor(int ndim, const int64_t *shape)
{
	value t;
	verr e;
	assert_int_equal(tensor_new(ndim, shape, &t, &e), 0);
	for (size_t i = 0; i < tensor_of(t)->size; i++)
		tensor_of(t)->data[i] = (double)i * 0.5 - 3;
	return t;
}

/* A value with one of everything. */
static value sample(void)
{
	value l = list_new(0);
	list_append_take(l, v_none());
	list_append_take(l, v_bool(true));
	list_append_take(l, v_bool(false));
	list_append_take(l, v_int(-123456789));
	list_append_take(l, v_float(2.5));
	list_append_take(l, S("héllo €𝄞"));
	value d = dict_new(0);
	value k = S("key");
	dict_set(d, k, v_int(1), NULL);
	dict_set(d, v_int(-7), v_float(NAN), NULL);
	dict_set(d, v_bool(true), k, NULL);
	val_rele(k);
	value inner = list_new(0);
	list_append_take(inner, list_new(0));
	list_append_take(inner, dict_new(0));
	dict_set(d, v_int(99), inner, NULL);
	val_rele(inner);
	list_append_take(l, d);
	int64_t sh[2] = { 2, 3 };
	list_append_take(l, make_tensor(2, sh));
	return l;
}

static void test_roundtrip_scalars(void **state)
{
	(void)state;
	int64_t ints[] = { 0, 1, -1, 63, 64, -64, -65, 127, 128, 300, -300, INT32_MAX, INT32_MIN,
	                   (int64_t)1 << 40, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		roundtrip(v_int(ints[i]));
	double fl[] = { 0.0, -0.0, 1.5, -2.25e300, 5e-324, INFINITY, -INFINITY, NAN, 0.1 };
	for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
		roundtrip(v_float(fl[i]));
	roundtrip(v_none());
	roundtrip(v_bool(true));
	roundtrip(v_bool(false));
	/* small ints are small */
	sbuf b = enc(v_int(5));
	assert_int_equal(b.len, 3); /* version, tag, one varint byte */
	assert_int_equal((uint8_t)b.data[0], ENC_VERSION);
	sbuf_fini(&b);
}

static void test_roundtrip_heap(void **state)
{
	(void)state;
	value s = S("");
	roundtrip(s);
	val_rele(s);
	s = str_new("a\0b", 3);
	roundtrip(s);
	val_rele(s);
	/* a 1 MB string */
	char *big = malloc(1 << 20);
	for (size_t i = 0; i < (1 << 20); i++)
		big[i] = (char)('a' + i % 26);
	s = str_new(big, 1 << 20);
	free(big);
	roundtrip(s);
	val_rele(s);
	value v = sample();
	roundtrip(v);
	val_rele(v);
	/* a wide list, a big dict */
	value l = list_new(0);
	for (int i = 0; i < 100000; i++)
		list_append_take(l, v_int(i * 7919));
	roundtrip(l);
	val_rele(l);
	value d = dict_new(0);
	char buf[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(buf, sizeof buf, "k%d", i);
		value k = S(buf);
		dict_set(d, k, v_float(i / 3.0), NULL);
		val_rele(k);
	}
	for (int i = 0; i < 20000; i += 3) {
		snprintf(buf, sizeof buf, "k%d", i);
		value k = S(buf);
		dict_del(d, k);
		val_rele(k);
	}
	roundtrip(d);
	val_rele(d);
	/* tensors: 0-d, empty, 3-d, large */
	value t = make_tensor(0, NULL);
	roundtrip(t);
	val_rele(t);
	int64_t e0[2] = { 3, 0 };
	t = make_tensor(2, e0);
	roundtrip(t);
	val_rele(t);
	int64_t s3[3] = { 2, 3, 4 };
	t = make_tensor(3, s3);
	roundtrip(t);
	val_rele(t);
	int64_t sl[2] = { 1000, 300 };
	t = make_tensor(2, sl);
	roundtrip(t);
	val_rele(t);
	/* nested 5000 deep (under the limit) */
	value n = list_new(0);
	for (int i = 0; i < 5000; i++) {
		value o = list_new(1);
		list_append_take(o, n);
		n = o;
	}
	roundtrip(n);
	val_rele(n);
}

static void test_too_deep(void **state)
{
	(void)state;
	value n = list_new(0);
	for (int i = 0; i < VAL_MAX_DEPTH + 10; i++) {
		value o = list_new(1);
		list_append_take(o, n);
		n = o;
	}
	sbuf b;
	sbuf_init(&b);
	verr e;
	assert_int_equal(val_encode(&b, n, &e), -1);
	assert_non_null(strstr(e.msg, "too deeply nested"));
	sbuf_fini(&b);
	val_rele(n);
	/* hand-made: 100000 nested list headers */
	size_t len = 1 + 2 * 100000 + 2;
	uint8_t *p = malloc(len);
	p[0] = ENC_VERSION;
	for (size_t i = 0; i < 100000; i++) {
		p[1 + 2 * i] = ENC_LIST;
		p[2 + 2 * i] = 1;
	}
	p[len - 2] = ENC_LIST;
	p[len - 1] = 0;
	value out;
	assert_int_equal(val_decode(p, len, &out, &e), -1);
	assert_non_null(strstr(e.msg, "too deeply nested"));
	free(p);
}

/* ---- VM types through hooks ------------------------------------------------------------ */

typedef struct fake_fn {
	vobj h;
	value payload;
} fake_fn;
static void fake_free(vobj *o)
{
	val_rele(((fake_fn *)o)->payload);
	free(o);
}
static int fake_encode(sbuf *out, value v, verr *e)
{
	return val_encode(out, ((fake_fn *)v.as.o)->payload, e);
}
static int fake_decode(const uint8_t *buf, size_t len, value *out, verr *e)
{
	value p;
	if (val_decode(buf, len, &p, e) < 0)
		return -1;
	fake_fn *f = vobj_alloc(sizeof *f, V_FUNC);
	f->payload = p;
	*out = v_obj(&f->h);
	return 0;
}
static bool fake_eq(value a, value b)
{
	return val_eq(((fake_fn *)a.as.o)->payload, ((fake_fn *)b.as.o)->payload);
}

static void test_hooks(void **state)
{
	(void)state;
	fake_fn *f = vobj_alloc(sizeof *f, V_FUNC);
	f->payload = S("add");
	value fv = v_obj(&f->h);
	sbuf b;
	sbuf_init(&b);
	verr e;
	/* no hook: an error, both ways */
	vtype_hooks h0 = { .free = fake_free };
	vtype_register(V_FUNC, &h0);
	assert_int_equal(val_encode(&b, fv, &e), -1);
	assert_string_equal(e.msg, "cannot encode a value of type 'fn'");
	sbuf_fini(&b);
	vtype_hooks h = { .free = fake_free, .eq = fake_eq, .encode = fake_encode, .decode = fake_decode };
	vtype_register(V_FUNC, &h);
	value l = list_new(0);
	list_append(l, fv);
	list_append_take(l, v_int(3));
	b = enc(l);
	value out;
	assert_int_equal(val_decode(b.data, b.len, &out, &e), 0);
	assert_int_equal(list_get(out, 0).t, V_FUNC);
	assert_true(val_eq(out, l));
	val_rele(out);
	vtype_register(V_FUNC, &h0);
	assert_int_equal(val_decode(b.data, b.len, &out, &e), -1);
	assert_string_equal(e.msg, "decode: cannot decode a value of type 'fn'");
	/* a future type never registered */
	uint8_t fut[] = { ENC_VERSION, ENC_EXT, V_FUTURE, 0 };
	assert_int_equal(val_decode(fut, sizeof fut, &out, &e), -1);
	uint8_t unk[] = { ENC_VERSION, ENC_EXT, 200, 0 };
	assert_int_equal(val_decode(unk, sizeof unk, &out, &e), -1);
	uint8_t nonext[] = { ENC_VERSION, ENC_EXT, V_LIST, 0 };
	assert_int_equal(val_decode(nonext, sizeof nonext, &out, &e), -1);
	sbuf_fini(&b);
	val_rele(l);
	val_rele(fv);
}

/* ---- streaming ------------------------------------------------------------------------------ */

static void test_decode_at(void **state)
{
	(void)state;
	sbuf b;
	sbuf_init(&b);
	verr e;
	value v = sample();
	assert_int_equal(val_encode(&b, v_int(42), &e), 0);
	assert_int_equal(val_encode(&b, v, &e), 0);
	size_t mid = b.len;
	val_encode_varint(&b, 300);
	assert_int_equal(val_encode(&b, v_none(), &e), 0);
	size_t pos = 0;
	value out;
	assert_int_equal(val_decode_at((const uint8_t *)b.data, b.len, &pos, &out, &e), 0);
	assert_int_equal(out.as.i, 42);
	assert_int_equal(val_decode_at((const uint8_t *)b.data, b.len, &pos, &out, &e), 0);
	assert_true(same(out, v));
	val_rele(out);
	assert_int_equal(pos, mid);
	/* not a value here: a varint. The error leaves pos alone. */
	assert_int_equal(val_decode_at((const uint8_t *)b.data, b.len, &pos, &out, &e), -1);
	assert_int_equal(pos, mid);
	uint64_t x;
	assert_int_equal(val_decode_varint((const uint8_t *)b.data, b.len, &pos, &x, &e), 0);
	assert_int_equal(x, 300);
	assert_int_equal(val_decode_at((const uint8_t *)b.data, b.len, &pos, &out, &e), 0);
	assert_int_equal(out.t, V_NONE);
	assert_int_equal(pos, b.len);
	assert_int_equal(val_decode_at((const uint8_t *)b.data, b.len, &pos, &out, &e), -1);
	/* val_decode wants the whole buffer */
	assert_int_equal(val_decode(b.data, b.len, &out, &e), -1);
	assert_non_null(strstr(e.msg, "left over"));
	sbuf_fini(&b);
	val_rele(v);
}

/* ---- hostile input ----------------------------------------------------------------------------- */

static void expect_reject(const uint8_t *p, size_t n, const char *want)
{
	value out;
	verr e;
	e.msg[0] = 0;
	if (val_decode(p, n, &out, &e) == 0) {
		val_rele(out);
		fail_msg("decoded bad input (want '%s')", want ? want : "an error");
	}
	if (want && !strstr(e.msg, want))
		fail_msg("error '%s' lacks '%s'", e.msg, want);
}

static void test_every_truncation(void **state)
{
	(void)state;
	value vals[4];
	vals[0] = sample();
	vals[1] = S("héllo wörld");
	int64_t sh[3] = { 2, 2, 2 };
	vals[2] = make_tensor(3, sh);
	vals[3] = list_new(0);
	list_append_take(vals[3], v_int(INT64_MIN));
	list_append_take(vals[3], v_float(1.0));
	for (size_t k = 0; k < 4; k++) {
		sbuf b = enc(vals[k]);
		for (size_t n = 0; n < b.len; n++)
			expect_reject((const uint8_t *)b.data, n, NULL);
		sbuf_fini(&b);
		val_rele(vals[k]);
	}
}

static void test_random_corruption(void **state)
{
	(void)state;
	value v = sample();
	sbuf b = enc(v);
	val_rele(v);
	uint8_t *p = malloc(b.len);
	uint64_t x = 0x9E3779B97F4A7C15ull;
	int ok = 0, bad = 0;
	for (int round = 0; round < 20000; round++) {
		memcpy(p, b.data, b.len);
		int flips = 1 + round % 4;
		for (int f = 0; f < flips; f++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t at = (size_t)(x % b.len);
			p[at] = (uint8_t)(round & 1 ? p[at] ^ (1u << ((x >> 32) % 8)) : (x >> 40));
		}
		value out;
		verr e;
		if (val_decode(p, b.len, &out, &e) == 0) {
			/* whatever came out is a valid value: it prints and encodes */
			sbuf t;
			sbuf_init(&t);
			val_repr(&t, out);
			verr e2;
			assert_int_equal(val_encode(&t, out, &e2), 0);
			sbuf_fini(&t);
			val_rele(out);
			ok++;
		} else {
			assert_true(strlen(e.msg) > 0);
			bad++;
		}
	}
	assert_true(bad > 0);
	print_message("corruption: %d decoded, %d rejected\n", ok, bad);
	free(p);
	sbuf_fini(&b);
}

static void test_hostile(void **state)
{
	(void)state;
	/* a list claiming 2^60 items */
	sbuf b;
	sbuf_init(&b);
	sbuf_addc(&b, (char)ENC_VERSION);
	sbuf_addc(&b, ENC_LIST);
	val_encode_varint(&b, (uint64_t)1 << 60);
	sbuf_addc(&b, ENC_NONE);
	expect_reject((const uint8_t *)b.data, b.len, "count larger than the input");
	sbuf_fini(&b);
	/* a dict claiming 2^62 pairs, and one claiming more than the bytes hold */
	sbuf_init(&b);
	sbuf_addc(&b, (char)ENC_VERSION);
	sbuf_addc(&b, ENC_DICT);
	val_encode_varint(&b, (uint64_t)1 << 62);
	expect_reject((const uint8_t *)b.data, b.len, "count larger than the input");
	sbuf_fini(&b);
	uint8_t d3[] = { ENC_VERSION, ENC_DICT, 3, ENC_INT, 2, ENC_NONE };
	expect_reject(d3, sizeof d3, "count larger than the input");
	/* a string claiming 2^63 bytes */
	sbuf_init(&b);
	sbuf_addc(&b, (char)ENC_VERSION);
	sbuf_addc(&b, ENC_STR);
	val_encode_varint(&b, (uint64_t)1 << 63);
	sbuf_adds(&b, "abc");
	expect_reject((const uint8_t *)b.data, b.len, "longer than the input");
	sbuf_fini(&b);
	/* a tensor whose shape overflows, and one with more data claimed than given */
	sbuf_init(&b);
	sbuf_addc(&b, (char)ENC_VERSION);
	sbuf_addc(&b, ENC_TENSOR);
	sbuf_addc(&b, 3);
	val_encode_varint(&b, (uint64_t)1 << 40);
	val_encode_varint(&b, (uint64_t)1 << 40);
	val_encode_varint(&b, (uint64_t)1 << 40);
	expect_reject((const uint8_t *)b.data, b.len, "overflows");
	sbuf_fini(&b);
	uint8_t tshort[] = { ENC_VERSION, ENC_TENSOR, 1, 2, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f };
	expect_reject(tshort, sizeof tshort, "shorter than its shape");
	uint8_t tdims[] = { ENC_VERSION, ENC_TENSOR, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	expect_reject(tdims, sizeof tdims, "too many dimensions");
	uint8_t tneg[] = { ENC_VERSION, ENC_TENSOR, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	expect_reject(tneg, sizeof tneg, "dimension too large");
	/* varints: 11 bytes, and a 10th byte with more than one bit */
	uint8_t v11[] = { ENC_VERSION, ENC_INT, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	expect_reject(v11, sizeof v11, "number too");
	uint8_t v10[] = { ENC_VERSION, ENC_INT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03 };
	expect_reject(v10, sizeof v10, "number too large");
	/* headers, tags, UTF-8, keys, trailing bytes */
	uint8_t nover[] = { 0x01, ENC_NONE };
	expect_reject(nover, sizeof nover, "bad version");
	expect_reject(nover, 0, "no value");
	uint8_t tag[] = { ENC_VERSION, 77 };
	expect_reject(tag, sizeof tag, "unknown tag");
	uint8_t utf[] = { ENC_VERSION, ENC_STR, 2, 0xc3, 0x28 };
	expect_reject(utf, sizeof utf, "UTF-8");
	uint8_t surr[] = { ENC_VERSION, ENC_STR, 3, 0xed, 0xa0, 0x80 };
	expect_reject(surr, sizeof surr, "UTF-8");
	uint8_t fkey[] = { ENC_VERSION, ENC_DICT, 1, ENC_FLOAT, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, ENC_NONE };
	expect_reject(fkey, sizeof fkey, "cannot be a key");
	uint8_t lkey[] = { ENC_VERSION, ENC_DICT, 1, ENC_LIST, 1, ENC_STR, 1, 'a', ENC_NONE };
	expect_reject(lkey, sizeof lkey, "cannot be a key");
	uint8_t dup[] = { ENC_VERSION, ENC_DICT, 2, ENC_STR, 1, 'a', ENC_NONE, ENC_STR, 1, 'a', ENC_TRUE };
	expect_reject(dup, sizeof dup, "duplicate");
	/* int 1 and true are different keys: not a duplicate */
	uint8_t nodup[] = { ENC_VERSION, ENC_DICT, 2, ENC_INT, 2, ENC_NONE, ENC_TRUE, ENC_NONE };
	value out;
	verr e;
	assert_int_equal(val_decode(nodup, sizeof nodup, &out, &e), 0);
	assert_int_equal(dict_len(out), 2);
	val_rele(out);
	uint8_t trail[] = { ENC_VERSION, ENC_NONE, 0 };
	expect_reject(trail, sizeof trail, "left over");
	/* a partial list is freed on error (ASan checks the leak) */
	uint8_t part[] = { ENC_VERSION, ENC_LIST, 3, ENC_STR, 1, 'x', ENC_LIST, 1, ENC_STR, 1, 'y', ENC_STR, 5, 'a' };
	expect_reject(part, sizeof part, "longer than the input");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_scalars),
		cmocka_unit_test(test_roundtrip_heap),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_hooks),
		cmocka_unit_test(test_decode_at),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_random_corruption),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
