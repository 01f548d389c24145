/* test_objects.c: large values as objects (executor/cluster/objects.h) -
 * the chunk decoder (obj_asm) refuses a size over the cap before
 * allocating, and truncated, oversized, out-of-order, replayed and foreign
 * chunks, leaving what it holds untouched; a value over OBJ_INLINE_MAX is
 * exported as a reference and pulled back over a real connection
 * (loopback), freed by OBJ_FREE; a cap too small fails the export; a
 * hostile holder (wrong lengths, ids, sizes, offsets, kinds, a frame that
 * lies, bytes that do not decode) fails the import with a clear error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <unistd.h>

#include <nng/nng.h>

#include "executor/cluster/obj_stream.h"
#include "executor/cluster/objects.h"
#include "executor/cluster/transport.h"
#include "executor/store.h"
#include "lang/encode.h"
#include "lang/vm.h"

#define CH 16u

static struct wire_obj_data chunk(const uint8_t id[32], uint64_t total, uint64_t off,
                                  const uint8_t *src, uint32_t len)
{
	struct wire_obj_data d;
	memcpy(d.id, id, 32);
	d.total = total;
	d.offset = off;
	d.chunk.data = (uint8_t *)src + off;
	d.chunk.len = len;
	return d;
}

static void test_asm_checks(void **state)
{
	uint8_t id[32], other[32], src[100];
	memset(id, 7, 32);
	memset(other, 8, 32);
	for (int i = 0; i < 100; i++)
		src[i] = (uint8_t)(i * 13);
	obj_asm a;
	verr e;
	/* over the cap: refused before anything is allocated */
	assert_int_equal(obj_asm_begin(&a, id, 1000, 999, CH, &e), WIRE_ETOOBIG);
	assert_null(a.buf);
	assert_non_null(strstr(e.msg, "cap"));
	assert_int_equal(obj_asm_begin(&a, id, 100, 1000, 0, &e), WIRE_EMALFORMED);

	assert_int_equal(obj_asm_begin(&a, id, 100, 1000, CH, &e), WIRE_OK);
	struct wire_obj_data d = chunk(id, 100, 0, src, CH);
	assert_int_equal(obj_asm_add(&a, &d, 0, &e), WIRE_OK);
	assert_int_equal(a.got, CH);
	/* replayed */
	assert_int_equal(obj_asm_add(&a, &d, 0, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "twice"));
	/* out of order: offset 32 answers a request for 16 */
	d = chunk(id, 100, 32, src, CH);
	assert_int_equal(obj_asm_add(&a, &d, 16, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "out of order"));
	/* truncated and oversized */
	d = chunk(id, 100, 16, src, CH - 1);
	assert_int_equal(obj_asm_add(&a, &d, 16, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "truncated"));
	d = chunk(id, 100, 16, src, CH + 1);
	assert_int_equal(obj_asm_add(&a, &d, 16, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "oversized"));
	/* another object's chunk; a changed total; an offset off the grid or past the end */
	d = chunk(other, 100, 16, src, CH);
	assert_int_equal(obj_asm_add(&a, &d, 16, &e), WIRE_EMALFORMED);
	d = chunk(id, 101, 16, src, CH);
	assert_int_equal(obj_asm_add(&a, &d, 16, &e), WIRE_EMALFORMED);
	d = chunk(id, 100, 17, src, CH);
	assert_int_equal(obj_asm_add(&a, &d, 17, &e), WIRE_EMALFORMED);
	d = chunk(id, 100, 0, src, 0);
	d.offset = 112;
	assert_int_equal(obj_asm_add(&a, &d, 112, &e), WIRE_EMALFORMED);
	/* none of these changed anything */
	assert_int_equal(a.got, CH);
	assert_false(obj_asm_complete(&a));
	/* the rest, in any order of requests; the last chunk is short */
	for (uint64_t k = 6; k >= 1; k--) {
		uint64_t off = k * CH;
		uint32_t n = (uint32_t)(100 - off < CH ? 100 - off : CH);
		d = chunk(id, 100, off, src, n);
		assert_int_equal(obj_asm_add(&a, &d, off, &e), WIRE_OK);
	}
	assert_true(obj_asm_complete(&a));
	size_t len;
	uint8_t *b = obj_asm_take(&a, &len);
	assert_int_equal(len, 100);
	assert_memory_equal(b, src, 100);
	free(b);
	obj_asm_fini(&a); /* emptied by take: harmless */

	/* the first chunk sets the grid when the holder serves less than
	 * asked (at least OBJ_CHUNK_MIN); a shorter one stays truncated */
	uint64_t big = 3 * (uint64_t)OBJ_CHUNK_MIN + 5;
	uint8_t *bb = malloc(big);
	for (uint64_t i = 0; i < big; i++)
		bb[i] = (uint8_t)(i * 31);
	assert_int_equal(obj_asm_begin(&a, id, big, big, OBJ_CHUNK_MAX, &e), WIRE_OK);
	obj_asm_first(&a, OBJ_CHUNK_MIN - 1);
	assert_int_equal(a.chunk, OBJ_CHUNK_MAX);
	d = chunk(id, big, 0, bb, OBJ_CHUNK_MIN - 1);
	assert_int_equal(obj_asm_add(&a, &d, 0, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "truncated"));
	obj_asm_first(&a, OBJ_CHUNK_MIN);
	assert_int_equal(a.chunk, OBJ_CHUNK_MIN);
	for (uint64_t k = 0; k < 4; k++) {
		uint64_t off = k * OBJ_CHUNK_MIN;
		d = chunk(id, big, off, bb, (uint32_t)(big - off < OBJ_CHUNK_MIN ? big - off : OBJ_CHUNK_MIN));
		assert_int_equal(obj_asm_add(&a, &d, off, &e), WIRE_OK);
		obj_asm_first(&a, 100); /* once chunks are in: no change */
		assert_int_equal(a.chunk, OBJ_CHUNK_MIN);
	}
	assert_true(obj_asm_complete(&a));
	b = obj_asm_take(&a, &len);
	assert_memory_equal(b, bb, big);
	free(b);
	free(bb);

	/* an empty object is complete at once */
	assert_int_equal(obj_asm_begin(&a, id, 0, 1000, CH, &e), WIRE_OK);
	assert_true(obj_asm_complete(&a));
	obj_asm_fini(&a);
}

/* A tensor's encoding: its first chunk makes the tensor, every later
 * byte goes straight into it (in any order), and the checks still hold;
 * a header that does not match the object's size, or a first chunk that
 * is not the one at offset 0, falls back to assembling and decoding. */
static void test_asm_tensor(void **state)
{
	(void)state;
	verr e;
	int64_t shape[2] = {3, (int64_t)OBJ_INLINE_MAX / 16};
	value t;
	assert_int_equal(tensor_new(2, shape, &t, &e), 0);
	for (size_t i = 0; i < tensor_of(t)->size; i++)
		tensor_of(t)->data[i] = (double)i * 0.5 - 7;
	sbuf enc;
	sbuf_init(&enc);
	assert_int_equal(val_encode(&enc, t, &e), 0);
	const uint8_t *src = (const uint8_t *)enc.data;
	uint64_t total = enc.len;
	uint32_t ch = 65536;
	uint64_t nch = (total + ch - 1) / ch;
	uint8_t id[32];
	memset(id, 3, 32);
	for (int order = 0; order < 2; order++) { /* 0: offset 0 first; 1: last first */
		obj_asm a;
		assert_int_equal(obj_asm_begin(&a, id, total, total, ch, &e), WIRE_OK);
		assert_null(a.buf); /* nothing allocated before the first chunk */
		uint8_t *base0;
		uint64_t len0;
		obj_asm_dest(&a, &base0, &len0);
		assert_true(base0 == NULL && len0 == 0);
		for (uint64_t i = 0; i < nch; i++) {
			uint64_t k = order == 0 ? i : nch - 1 - i;
			uint64_t off = k * ch;
			uint32_t n = (uint32_t)(total - off < ch ? total - off : ch);
			struct wire_obj_data d = chunk(id, total, off, src, n);
			assert_int_equal(obj_asm_add(&a, &d, off, &e), WIRE_OK);
			if (i == 0)
				assert_int_equal(a.val.t, order == 0 ? V_TENSOR : V_NONE);
			if (i == 0) { /* where the bytes go (the pull's toucher maps it) */
				uint8_t *base;
				uint64_t dl;
				obj_asm_dest(&a, &base, &dl);
				assert_true(base == (order == 0 ? (uint8_t *)tensor_of(a.val)->data : a.buf));
				assert_int_equal(dl, order == 0 ? total - a.hl : total);
				assert_int_equal(dl, order == 0 ? tensor_of(t)->size * 8 : total);
			}
			if (i == 0 && order == 0) {
				/* still checked: replayed, truncated */
				assert_int_equal(obj_asm_add(&a, &d, off, &e), WIRE_EMALFORMED);
				assert_non_null(strstr(e.msg, "twice"));
				struct wire_obj_data s2 = chunk(id, total, ch, src, ch - 1);
				assert_int_equal(obj_asm_add(&a, &s2, ch, &e), WIRE_EMALFORMED);
				assert_non_null(strstr(e.msg, "truncated"));
			}
		}
		assert_true(obj_asm_complete(&a));
		value back;
		assert_int_equal(obj_asm_value(&a, &back, &e), 0);
		assert_true(back.t == V_TENSOR && back.as.o != t.as.o && val_eq(back, t));
		val_rele(back);
	}
	/* take gives the encoding back from a tensor made at the first chunk */
	obj_asm a;
	assert_int_equal(obj_asm_begin(&a, id, total, total, ch, &e), WIRE_OK);
	for (uint64_t k = 0; k < nch; k++) {
		uint64_t off = k * ch;
		struct wire_obj_data d =
		    chunk(id, total, off, src, (uint32_t)(total - off < ch ? total - off : ch));
		assert_int_equal(obj_asm_add(&a, &d, off, &e), WIRE_OK);
	}
	size_t len;
	uint8_t *b = obj_asm_take(&a, &len);
	assert_int_equal(len, total);
	assert_memory_equal(b, src, total);
	free(b);
	/* a header claiming another size (3 more elements than the object
	 * holds): not made as a tensor; the bytes do not decode */
	uint8_t *lie = malloc(total + 16);
	memcpy(lie, src, total);
	assert_int_equal(lie[4], 0x80); /* the second dimension's varint, 65536 */
	lie[4] = 0x81;
	assert_int_equal(obj_asm_begin(&a, id, total, total, ch, &e), WIRE_OK);
	for (uint64_t k = 0; k < nch; k++) {
		uint64_t off = k * ch;
		struct wire_obj_data d =
		    chunk(id, total, off, lie, (uint32_t)(total - off < ch ? total - off : ch));
		assert_int_equal(obj_asm_add(&a, &d, off, &e), WIRE_OK);
		if (k == 0)
			assert_int_equal(a.val.t, V_NONE);
	}
	value back = v_none();
	assert_int_equal(obj_asm_value(&a, &back, &e), -1);
	assert_true(back.t == V_NONE);
	free(lie);
	sbuf_fini(&enc);
	val_rele(t);
}

/* OBJ_DATA decoded in place: the chunk points into the frame; a frame
 * that lies about its blob, has bytes after it, or is another kind is
 * refused. */
static void test_data_view(void **state)
{
	(void)state;
	struct wire_msg m = {.kind = WM_OBJ_DATA};
	uint8_t bytes[100];
	for (int i = 0; i < 100; i++)
		bytes[i] = (uint8_t)(i * 7);
	memset(m.u.obj_data.id, 9, 32);
	m.u.obj_data.total = 1000;
	m.u.obj_data.offset = 300;
	m.u.obj_data.chunk.data = bytes;
	m.u.obj_data.chunk.len = 100;
	sbuf b;
	verr e;
	sbuf_init(&b);
	assert_int_equal(wire_encode(&m, &b, &e), WIRE_OK);
	size_t flen = b.len;
	uint8_t *f = malloc(flen);
	memcpy(f, b.data, flen);
	sbuf_fini(&b);
	struct wire_obj_data d;
	int kind;
	assert_int_equal(obj_data_view(f, flen, &d, &kind, &e), WIRE_OK);
	assert_int_equal(d.total, 1000);
	assert_int_equal(d.offset, 300);
	assert_int_equal(d.chunk.len, 100);
	assert_ptr_equal(d.chunk.data, f + flen - 100); /* not copied */
	assert_memory_equal(d.chunk.data, bytes, 100);
	/* the blob's length says one byte more, then one less, than it holds */
	size_t blen = WIRE_HEADER + 48;
	f[blen]++;
	assert_int_equal(obj_data_view(f, flen, &d, &kind, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "blob needs"));
	f[blen] -= 2;
	assert_int_equal(obj_data_view(f, flen, &d, &kind, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "trailing"));
	f[blen]++;
	/* cut short: the frame's own length no longer matches */
	assert_int_equal(obj_data_view(f, flen - 1, &d, &kind, &e), WIRE_EMALFORMED);
	assert_int_equal(obj_data_view(f, 20, &d, &kind, &e), WIRE_EMALFORMED);
	/* bad magic */
	f[0] = 'X';
	assert_int_equal(obj_data_view(f, flen, &d, &kind, &e), WIRE_EMALFORMED);
	free(f);
	/* a chunk larger than WIRE_MAX_PAYLOAD (up to OBJ_CHUNK_MAX) is
	 * taken; a frame past OBJ_FRAME_MAX is not */
	for (int over = 0; over < 2; over++) {
		uint32_t cl = over ? OBJ_CHUNK_MAX + 8192 : OBJ_CHUNK_MAX;
		size_t fl = WIRE_HEADER + 52 + (size_t)cl;
		uint8_t *g = calloc(fl, 1);
		memcpy(g, WIRE_MAGIC, 4);
		g[4] = WIRE_VERSION & 0xff;
		g[5] = WIRE_VERSION >> 8;
		g[6] = WM_OBJ_DATA;
		for (int i = 0; i < 4; i++) {
			g[8 + i] = (uint8_t)((fl - WIRE_HEADER) >> (8 * i));
			g[WIRE_HEADER + 48 + i] = (uint8_t)(cl >> (8 * i));
		}
		assert_int_equal(obj_data_view(g, fl, &d, &kind, &e), over ? WIRE_EMALFORMED : WIRE_OK);
		if (!over)
			assert_int_equal(d.chunk.len, OBJ_CHUNK_MAX);
		g[4]++; /* another version */
		assert_int_equal(obj_data_view(g, fl, &d, &kind, &e), WIRE_EMALFORMED);
		free(g);
	}
	/* another kind: said, for the caller to name */
	struct wire_msg ok = {.kind = WM_OK};
	sbuf_init(&b);
	assert_int_equal(wire_encode(&ok, &b, &e), WIRE_OK);
	assert_int_equal(obj_data_view((uint8_t *)b.data, b.len, &d, &kind, &e), WIRE_EKIND);
	assert_int_equal(kind, WM_OK);
	sbuf_fini(&b);
}

static value big_str(size_t n, char c)
{
	char *s = malloc(n);
	memset(s, c, n);
	value v = str_new(s, n);
	free(s);
	return v;
}

/* Export, then pull from this process's own listener over loopback. */
static void test_export_pull(void **state)
{
	auth_token tok = {.len = 40};
	memset(tok.key, 't', 40);
	obj_init(&tok, "", NULL, "127.0.0.1");
	verr e;

	value small = str_from_c("small"), out;
	assert_int_equal(obj_export(small, &out, &e), 0);
	assert_true(out.t == V_STR && out.as.o == small.as.o); /* inline */
	val_rele(out);

	/* a result (not frozen): held as an encoding only, pulled, then freed */
	size_t n = 3 * OBJ_INLINE_MAX + 5;
	value big = big_str(n, 'q'), ref;
	assert_int_equal(obj_export(big, &ref, &e), 0);
	uint8_t id[32];
	char holder[128];
	uint64_t total;
	assert_true(obj_is_ref(ref, id, holder, sizeof holder, &total));
	assert_true(total > n);
	assert_int_equal(strncmp(holder, "127.0.0.1:", 10), 0);
	assert_true(obj_used() >= total);
	value back;
	assert_int_equal(obj_import(ref, 1, &back, &e), 0);
	assert_true(back.t == V_STR && back.as.o != big.as.o);
	assert_true(val_eq(back, big));
	val_rele(back);
	assert_int_equal(obj_used(), 0); /* OBJ_FREE reached the holder */
	/* pulled again after the free: refused by the holder, and said so
	 * (-2: the holder lost it, so a result is made again from lineage) */
	assert_int_equal(obj_import(ref, 1, &back, &e), -2);
	assert_non_null(strstr(e.msg, "holds no object"));
	val_rele(ref);

	/* a tensor, served from its own bytes: what arrives decodes to it */
	int64_t shape[2] = {3, (int64_t)OBJ_INLINE_MAX / 8};
	value t;
	assert_int_equal(tensor_new(2, shape, &t, &e), 0);
	for (size_t i = 0; i < tensor_of(t)->size; i++)
		tensor_of(t)->data[i] = (double)i * 0.25;
	assert_int_equal(obj_export(t, &ref, &e), 0);
	assert_true(obj_is_ref(ref, NULL, NULL, 0, &total));
	sbuf enc;
	sbuf_init(&enc);
	assert_int_equal(val_encode(&enc, t, &e), 0);
	assert_int_equal(total, enc.len); /* the same size as val_encode's */
	sbuf_fini(&enc);
	assert_int_equal(obj_import(ref, 1, &back, &e), 0);
	assert_true(back.t == V_TENSOR && back.as.o != t.as.o && val_eq(back, t));
	val_rele(back);
	val_rele(ref);
	val_rele(t);
	assert_int_equal(obj_used(), 0);

	/* a tensor of several OBJ_CHUNK_MAX chunks, pulled with the window */
	shape[0] = 5;
	shape[1] = (int64_t)OBJ_CHUNK_MAX / 16;
	assert_int_equal(tensor_new(2, shape, &t, &e), 0);
	for (size_t i = 0; i < tensor_of(t)->size; i++)
		tensor_of(t)->data[i] = (double)i;
	assert_int_equal(obj_export(t, &ref, &e), 0);
	assert_int_equal(obj_import(ref, 1, &back, &e), 0);
	assert_true(back.t == V_TENSOR && back.as.o != t.as.o && val_eq(back, t));
	val_rele(back);
	val_rele(ref);
	val_rele(t);
	assert_int_equal(obj_used(), 0);

	/* arguments: a frozen value is held once, however often it is sent */
	val_freeze(big);
	value args = list_new(2), a1, a2;
	list_append(args, big);
	list_append(args, small);
	val_freeze(args);
	assert_int_equal(obj_export_args(args, &a1, &e), 0);
	assert_int_equal(obj_export_args(args, &a2, &e), 0);
	assert_true(obj_is_ref(list_get(a1, 0), id, NULL, 0, NULL));
	uint8_t id2[32];
	assert_true(obj_is_ref(list_get(a2, 0), id2, NULL, 0, NULL));
	assert_memory_equal(id, id2, 32);
	assert_false(obj_is_ref(list_get(a1, 1), NULL, NULL, 0, NULL));
	value got;
	assert_int_equal(obj_import_args(a1, &got, &e), 0);
	assert_true(val_eq(got, args));
	val_rele(got);
	val_rele(a1);
	val_rele(a2);

	/* items each under OBJ_INLINE_MAX that sum to over twice it: some go
	 * as objects (a call must fit one message), the rest stay inline,
	 * args itself is untouched, and importing gives the same list back */
	value mid = list_new(3), m1;
	for (int k = 0; k < 3; k++)
		list_append_take(mid, big_str(OBJ_INLINE_MAX - 64, (char)('a' + k)));
	assert_int_equal(obj_export_args(mid, &m1, &e), 0);
	assert_true(m1.as.o != mid.as.o);
	int nref = 0;
	for (int k = 0; k < 3; k++) {
		nref += obj_is_ref(list_get(m1, k), NULL, NULL, 0, NULL);
		assert_false(obj_is_ref(list_get(mid, k), NULL, NULL, 0, NULL));
	}
	assert_true(nref >= 1 && nref <= 2);
	assert_int_equal(obj_import_args(m1, &got, &e), 0);
	assert_true(val_eq(got, mid));
	val_rele(got);
	val_rele(m1);
	val_rele(mid);
	/* no item is an object: the same list comes back, not a copy */
	assert_int_equal(obj_import_args(args, &got, &e), 0);
	assert_true(got.as.o == args.as.o);
	val_rele(got);

	/* a cap too small: the export fails, saying why */
	uint64_t was = obj_cap(0);
	obj_cap(OBJ_INLINE_MAX);
	value other = big_str(n, 'r');
	assert_int_equal(obj_export(other, &ref, &e), -1);
	assert_non_null(strstr(e.msg, "does not fit"));
	obj_cap(was);
	val_rele(other);
	val_rele(args);
	val_rele(big);
	val_rele(small);
}

/* A reference pointing at nobody fails cleanly. */
static void test_pull_nowhere(void **state)
{
	verr e;
	value l = list_new(3), d = dict_new(1), k = str_from_c(OBJ_REF_KEY), out;
	char hex[65];
	memset(hex, 'a', 64);
	hex[64] = 0;
	list_append_take(l, str_from_c(hex));
	list_append_take(l, str_from_c("127.0.0.1:1"));
	list_append_take(l, v_int(5 << 20));
	assert_int_equal(dict_set(d, k, l, &e), 0);
	assert_true(obj_is_ref(d, NULL, NULL, 0, NULL));
	assert_int_equal(obj_import(d, 0, &out, &e), -2); /* the holder is gone */
	assert_non_null(strstr(e.msg, "cannot reach"));
	val_rele(k);
	val_rele(l);
	val_rele(d);
}

/* The holder's stream: a key is good once, and a connection with another
 * key (or none) is closed with nothing written. */
static void test_stream_keys(void **state)
{
	(void)state;
	auth_token tok = {.len = 40};
	memset(tok.key, 't', 40);
	obj_init(&tok, "", NULL, "127.0.0.1");
	verr e;
	value big = big_str(2 * OBJ_INLINE_MAX, 'k'), ref;
	val_freeze(big);
	assert_int_equal(obj_export(big, &ref, &e), 0);
	uint8_t id[32];
	char holder[128], url[160];
	uint64_t total;
	assert_true(obj_is_ref(ref, id, holder, sizeof holder, &total));
	snprintf(url, sizeof url, "tcp://%s", holder);
	wire_client *c;
	assert_int_equal(wire_client_open(&c, url, 5000, &e), WIRE_OK);
	assert_int_equal(wire_client_handshake(c, &tok, WIRE_ROLE_CLIENT, 5000, &e), WIRE_OK);
	struct wire_msg req = {.kind = WM_OBJ_STREAM}, rep;
	memcpy(req.u.obj_stream.id, id, 32);
	assert_int_equal(wire_client_call(c, &req, &rep, 5000, &e), WIRE_OK);
	assert_int_equal(rep.kind, WM_OBJ_GRANT);
	assert_memory_equal(rep.u.obj_grant.id, id, 32);
	assert_int_equal(rep.u.obj_grant.total, total);
	uint8_t key[32], bad[32];
	memcpy(key, rep.u.obj_grant.key, 32);
	memcpy(bad, key, 32);
	bad[31] ^= 1;
	uint32_t port = rep.u.obj_grant.port;
	wire_msg_free(&rep);
	uint8_t one;
	uint64_t refused = ostream_refused(), n;
	ostream *st = ostream_dial("127.0.0.1", port, bad, &e); /* a wrong key */
	assert_non_null(st);
	assert_int_equal(ostream_read(st, &one, 1, &n, &e), -1);
	assert_non_null(strstr(e.msg, "after 0 of 1 bytes (truncated)"));
	ostream_close(st);
	assert_int_equal(ostream_refused(), refused + 1);
	st = ostream_dial("127.0.0.1", port, key, &e); /* the right one: the encoding */
	assert_non_null(st);
	uint8_t *got = malloc(total);
	assert_int_equal(ostream_read(st, got, total, &n, &e), 0);
	assert_int_equal(got[0], ENC_VERSION);
	assert_int_equal(got[total - 1], 'k');
	assert_int_equal(ostream_end(st, &e), 0); /* exactly total bytes, then its end */
	ostream_close(st);
	free(got);
	st = ostream_dial("127.0.0.1", port, key, &e); /* the same key again */
	assert_non_null(st);
	assert_int_equal(ostream_read(st, &one, 1, &n, &e), -1);
	assert_int_equal(n, 0);
	ostream_close(st);
	assert_int_equal(ostream_refused(), refused + 2);

	/* too many streams at once: the one past OSTREAM_SERVING_MAX is ended
	 * before its first byte (the puller then pulls in chunks) */
	nng_stream *idle[OSTREAM_SERVING_MAX];
	char surl[64];
	snprintf(surl, sizeof surl, "tcp://127.0.0.1:%u", port);
	nng_stream_dialer *dl;
	nng_aio *aio;
	assert_int_equal(nng_stream_dialer_alloc(&dl, surl), 0);
	assert_int_equal(nng_aio_alloc(&aio, NULL, NULL), 0);
	for (int i = 0; i < OSTREAM_SERVING_MAX; i++) { /* each waits for its key */
		nng_aio_set_timeout(aio, 5000);
		nng_stream_dialer_dial(dl, aio);
		nng_aio_wait(aio);
		assert_int_equal(nng_aio_result(aio), 0);
		idle[i] = nng_aio_get_output(aio, 0);
	}
	assert_int_equal(wire_client_call(c, &req, &rep, 5000, &e), WIRE_OK);
	memcpy(key, rep.u.obj_grant.key, 32);
	wire_msg_free(&rep);
	st = ostream_dial("127.0.0.1", port, key, &e);
	assert_non_null(st);
	int busy = ostream_read(st, &one, 1, &n, &e);
	ostream_close(st);
	for (int i = 0; i < OSTREAM_SERVING_MAX; i++) {
		nng_stream_close(idle[i]);
		nng_stream_free(idle[i]);
	}
	nng_aio_free(aio);
	nng_stream_dialer_free(dl);
	assert_int_equal(busy, -1);
	assert_int_equal(n, 0);

	req.u.obj_stream.id[0] ^= 1; /* an object it does not hold */
	assert_int_equal(wire_client_call(c, &req, &rep, 5000, &e), WIRE_EREFUSED);
	assert_non_null(strstr(e.msg, "holds no object"));
	wire_client_close(c);
	val_rele(ref);
	val_rele(big);
}

/* OBJ_FREE while the object is being streamed: it stays pinned until the
 * stream has written it (its bytes arrive whole), and is dropped after. */
static void test_stream_free_while_sent(void **state)
{
	(void)state;
	auth_token tok = {.len = 40};
	memset(tok.key, 't', 40);
	obj_init(&tok, "", NULL, "127.0.0.1");
	verr e;
	uint64_t before = obj_used();
	value big = big_str(64 << 20, 'f'), ref; /* not frozen: a result, freed by OBJ_FREE */
	assert_int_equal(obj_export(big, &ref, &e), 0);
	val_rele(big);
	uint8_t id[32];
	char holder[128], url[160];
	uint64_t total, n;
	assert_true(obj_is_ref(ref, id, holder, sizeof holder, &total));
	snprintf(url, sizeof url, "tcp://%s", holder);
	wire_client *c;
	assert_int_equal(wire_client_open(&c, url, 5000, &e), WIRE_OK);
	assert_int_equal(wire_client_handshake(c, &tok, WIRE_ROLE_CLIENT, 5000, &e), WIRE_OK);
	struct wire_msg req = {.kind = WM_OBJ_STREAM}, rep;
	memcpy(req.u.obj_stream.id, id, 32);
	assert_int_equal(wire_client_call(c, &req, &rep, 5000, &e), WIRE_OK);
	assert_int_equal(rep.kind, WM_OBJ_GRANT);
	ostream *st = ostream_dial("127.0.0.1", rep.u.obj_grant.port, rep.u.obj_grant.key, &e);
	wire_msg_free(&rep);
	assert_non_null(st);
	uint8_t *got = malloc(total);
	assert_int_equal(ostream_read(st, got, 1, &n, &e), 0); /* it is being written */
	struct wire_msg fr = {.kind = WM_OBJ_FREE};
	memcpy(fr.u.obj_free.id, id, 32);
	assert_int_equal(wire_client_call(c, &fr, &rep, 5000, &e), WIRE_OK);
	wire_msg_free(&rep);
	if (ostream_read(st, got + 1, total - 1, &n, &e) != 0)
		fail_msg("the rest of a freed object: %s", e.msg);
	assert_int_equal(ostream_end(st, &e), 0);
	ostream_close(st);
	assert_int_equal(got[0], ENC_VERSION);
	for (uint64_t i = total - (64 << 20); i < total; i++)
		if (got[i] != 'f')
			fail_msg("byte %" PRIu64 " of the freed object is %d", i, got[i]);
	free(got);
	int gone = 0; /* dropped once the holder's thread unpins it */
	for (int i = 0; i < 250 && !gone; i++) {
		gone = obj_used() == before;
		if (!gone)
			usleep(20000);
	}
	assert_true(gone);
	assert_int_equal(wire_client_call(c, &req, &rep, 5000, &e), WIRE_EREFUSED);
	assert_non_null(strstr(e.msg, "holds no object"));
	wire_client_close(c);
	val_rele(ref);
}

/* ---- a hostile holder ----------------------------------------------------
 * A fake node serves one object (a str's encoding, three chunks) and
 * answers OBJ_GET in one of these ways; the puller must fail the import
 * with a clear error, never crash or hang, and pull again from it once it
 * behaves. */
enum { H_GOOD, H_SHORT, H_LONG, H_OTHER_ID, H_OTHER_TOTAL, H_OFFSET0, H_KIND, H_ERROR, H_GARBAGE,
       H_BADFRAME, H_N };
static _Atomic int hmode, hstop;
static uint8_t hid[32];
static uint8_t *hbytes, *hjunk; /* the object's encoding (and one more byte), junk as long */
static uint64_t htotal;

/* ... and OBJ_STREAM in one of these ways (S_OFF: ERROR, as an earlier
 * build: the puller falls back to OBJ_GET, where the modes above apply);
 * its stream listener is an nng stream listener of the test's own. */
enum { S_OFF, S_GOOD, S_CUT, S_GRANT_LONG, S_GRANT_SHORT, S_GRANT_ID, S_KIND, S_GARBAGE, S_EXTRA,
       S_NOPORT, S_EMPTY, S_N };
static _Atomic int smode;
static nng_stream_listener *slis;
static uint32_t sport;
static uint8_t skey[32];

/* Sends or receives all n bytes (bounded): 0, or an nng error. */
static int sio(nng_stream *st, nng_aio *aio, int send, uint8_t *p, size_t n)
{
	while (n) {
		nng_iov iov = {.iov_buf = p, .iov_len = n};
		nng_aio_set_iov(aio, 1, &iov);
		nng_aio_set_timeout(aio, 5000);
		if (send)
			nng_stream_send(st, aio);
		else
			nng_stream_recv(st, aio);
		nng_aio_wait(aio);
		int rv = nng_aio_result(aio);
		if (rv)
			return rv;
		p += nng_aio_count(aio);
		n -= nng_aio_count(aio);
	}
	return 0;
}

static void *stream_main(void *arg)
{
	(void)arg;
	nng_aio *acc, *aio;
	assert_int_equal(nng_aio_alloc(&acc, NULL, NULL), 0);
	assert_int_equal(nng_aio_alloc(&aio, NULL, NULL), 0);
	while (!hstop) {
		nng_aio_set_timeout(acc, 50);
		nng_stream_listener_accept(slis, acc);
		nng_aio_wait(acc);
		if (nng_aio_result(acc) != 0)
			continue;
		nng_stream *st = nng_aio_get_output(acc, 0);
		uint8_t key[32];
		if (sio(st, aio, 0, key, 32) == 0 && memcmp(key, skey, 32) == 0) {
			int mode = smode;
			if (mode == S_EMPTY) {
				/* ends it at once: refused (too busy, say) */
			} else if (mode == S_CUT) {
				(void)sio(st, aio, 1, hbytes, htotal / 2); /* then ends it */
			} else {
				/* hbytes has one more (S_EXTRA) */
				if (sio(st, aio, 1, mode == S_GARBAGE ? hjunk : hbytes,
				        htotal + (mode == S_EXTRA)) == 0) {
					uint8_t b;
					(void)sio(st, aio, 0, &b, 1); /* the consumer's end */
				}
			}
		}
		nng_stream_close(st);
		nng_stream_free(st);
	}
	nng_aio_free(acc);
	nng_aio_free(aio);
	return NULL;
}

static void stream_grant(wire_server *s, const struct wire_msg *m)
{
	int mode = smode;
	if (mode == S_OFF) {
		wire_server_reply_error(s, WIRE_EKIND, "no OBJ_STREAM here (test)");
		return;
	}
	if (mode == S_KIND) {
		struct wire_msg ok = {.kind = WM_OK};
		wire_server_reply(s, &ok);
		return;
	}
	struct wire_msg r = {.kind = WM_OBJ_GRANT};
	memcpy(r.u.obj_grant.id, m->u.obj_stream.id, 32);
	r.u.obj_grant.total = htotal;
	r.u.obj_grant.port = mode == S_NOPORT ? 1 : sport;
	for (int i = 0; i < 32; i++)
		skey[i] = (uint8_t)rand();
	memcpy(r.u.obj_grant.key, skey, 32);
	if (mode == S_GRANT_LONG)
		r.u.obj_grant.total++;
	if (mode == S_GRANT_SHORT)
		r.u.obj_grant.total--;
	if (mode == S_GRANT_ID)
		r.u.obj_grant.id[0] ^= 1;
	wire_server_reply(s, &r);
}

static void *holder_main(void *arg)
{
	wire_server *s = arg;
	while (!hstop) {
		struct wire_msg m, r = {.kind = WM_OBJ_DATA};
		uint32_t pipe;
		if (wire_server_recv(s, &m, &pipe, NULL, 0, 50) != WIRE_OK)
			continue;
		if (m.kind == WM_OBJ_STREAM) {
			stream_grant(s, &m);
			wire_msg_free(&m);
			continue;
		}
		if (m.kind != WM_OBJ_GET) { /* OBJ_FREE */
			struct wire_msg ok = {.kind = WM_OK};
			wire_server_reply(s, &ok);
			wire_msg_free(&m);
			continue;
		}
		const struct wire_obj_get *g = &m.u.obj_get;
		uint64_t off = g->offset < htotal ? g->offset : htotal;
		/* at most OBJ_CHUNK at once, as a holder of an earlier build
		 * (the puller takes the first chunk's size as the grid) */
		uint64_t max = g->max < OBJ_CHUNK ? g->max : OBJ_CHUNK;
		uint64_t n = htotal - off < max ? htotal - off : max;
		memcpy(r.u.obj_data.id, g->id, 32);
		r.u.obj_data.total = htotal;
		r.u.obj_data.offset = off;
		r.u.obj_data.chunk.data = hbytes + off;
		r.u.obj_data.chunk.len = (uint32_t)n;
		int mode = hmode;
		switch (mode) {
		case H_SHORT: r.u.obj_data.chunk.len--; break;
		case H_LONG: r.u.obj_data.chunk.len++; break; /* hbytes has one byte more */
		case H_OTHER_ID: r.u.obj_data.id[0] ^= 1; break;
		case H_OTHER_TOTAL: r.u.obj_data.total++; break;
		case H_OFFSET0: r.u.obj_data.offset = 0; r.u.obj_data.chunk.data = hbytes; break;
		case H_GARBAGE: r.u.obj_data.chunk.data = hjunk + off; break;
		default: break;
		}
		if (mode == H_KIND) {
			r = (struct wire_msg){.kind = WM_OK};
			wire_server_reply(s, &r);
		} else if (mode == H_ERROR) {
			wire_server_reply_error(s, WIRE_EREFUSED, "this node holds no object (test)");
		} else if (mode == H_BADFRAME) {
			/* the chunk's length says 100 bytes more than the frame holds */
			sbuf b;
			verr e;
			sbuf_init(&b);
			wire_encode(&r, &b, &e);
			uint32_t bad = (uint32_t)n + 100;
			for (int i = 0; i < 4; i++)
				((uint8_t *)b.data)[12 + 32 + 16 + i] = (uint8_t)(bad >> (8 * i));
			wire_server_reply_raw(s, b.data, b.len);
			sbuf_fini(&b);
		} else {
			wire_server_reply(s, &r);
		}
		wire_msg_free(&m);
	}
	return NULL;
}

/* The object served: want's encoding (a str: assembled and decoded; a
 * tensor: made at the first chunk and filled in place). */
static void hostile_holder(value want)
{
	auth_token tok = {.len = 40};
	memset(tok.key, 't', 40);
	obj_init(&tok, "", NULL, "127.0.0.1");
	verr e;
	wire_server *s;
	assert_int_equal(wire_server_open(&s, "tcp://127.0.0.1:0", &tok, &e), 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", wire_server_port(s));
	sbuf enc;
	sbuf_init(&enc);
	assert_int_equal(val_encode(&enc, want, &e), 0);
	htotal = enc.len;
	hbytes = calloc(htotal + 1, 1);
	hjunk = malloc(htotal + 1);
	memcpy(hbytes, enc.data, htotal);
	memset(hjunk, 0xff, htotal + 1);
	sbuf_fini(&enc);
	memset(hid, 0x5a, 32);
	char hx[65];
	for (int i = 0; i < 32; i++)
		snprintf(hx + 2 * i, 3, "%02x", hid[i]);
	value l = list_new(3), ref = dict_new(1), k = str_from_c(OBJ_REF_KEY);
	list_append_take(l, str_from_c(hx));
	list_append_take(l, str_from_c(addr));
	list_append_take(l, v_int((int64_t)htotal));
	assert_int_equal(dict_set(ref, k, l, &e), 0);
	int sp = 0;
	assert_int_equal(nng_stream_listener_alloc(&slis, "tcp://127.0.0.1:0"), 0);
	assert_int_equal(nng_stream_listener_listen(slis), 0);
	assert_int_equal(nng_stream_listener_get_int(slis, NNG_OPT_TCP_BOUND_PORT, &sp), 0);
	sport = (uint32_t)sp;
	smode = S_OFF;
	pthread_t th, sth;
	val_threads_begin(); /* values cross threads from here (value.h) */
	assert_int_equal(pthread_create(&th, NULL, holder_main, s), 0);
	assert_int_equal(pthread_create(&sth, NULL, stream_main, NULL), 0);

	static const char *const said[H_N] = {
		[H_SHORT] = "(truncated)", [H_LONG] = "(oversized)", [H_OTHER_ID] = "another object",
		[H_OTHER_TOTAL] = "size changed", [H_OFFSET0] = "(out of order)",
		[H_KIND] = "answered OBJ_GET with", [H_ERROR] = "holds no object (test)",
		[H_GARBAGE] = "does not decode", [H_BADFRAME] = "blob needs",
	};
	for (int mode = 0; mode < H_N; mode++) {
		value out = v_none();
		hmode = mode;
		int rc = obj_import(ref, 1, &out, &e);
		if (mode == H_GOOD) {
			assert_int_equal(rc, 0);
			assert_true(val_eq(out, want));
			val_rele(out);
			continue;
		}
		/* a holder that no longer holds it counts as lost (-2: lineage) */
		if (rc != (mode == H_ERROR ? -2 : -1) || !strstr(e.msg, said[mode]))
			fail_msg("mode %d: rc %d, '%s' (expected '%s')", mode, rc, rc ? e.msg : "", said[mode]);
		assert_true(out.t == V_NONE);
		print_message("hostile holder %d: %s\n", mode, e.msg);
		/* the holder behaves again: the same object is pulled whole
		 * (over a new connection when the last one was dropped) */
		hmode = H_GOOD;
		assert_int_equal(obj_import(ref, 1, &out, &e), 0);
		assert_true(val_eq(out, want));
		val_rele(out);
	}
	/* the same through the stream: a bad grant or stream fails the pull
	 * at once with the reason; a stream that ends early is a lost holder
	 * (-2), as a connection closed mid-pull; a byte past the granted size
	 * fails it (oversized); a stream that cannot be reached, or that ends
	 * before its first byte, falls back to OBJ_GET (here served well) */
	static const char *const ssaid[S_N] = {
		[S_CUT] = "(truncated)", [S_GRANT_LONG] = "(oversized)", [S_GRANT_SHORT] = "(truncated)",
		[S_GRANT_ID] = "another object", [S_KIND] = "answered OBJ_STREAM with",
		[S_GARBAGE] = "does not decode", [S_EXTRA] = "(oversized)",
	};
	for (int mode = S_GOOD; mode < S_N; mode++) {
		value out = v_none();
		smode = mode;
		int rc = obj_import(ref, 1, &out, &e);
		if (mode == S_GOOD || mode == S_NOPORT || mode == S_EMPTY) {
			if (rc != 0)
				fail_msg("stream mode %d: rc %d, '%s'", mode, rc, e.msg);
			assert_true(val_eq(out, want));
			val_rele(out);
			continue;
		}
		if (rc != (mode == S_CUT ? -2 : -1) || !strstr(e.msg, ssaid[mode]))
			fail_msg("stream mode %d: rc %d, '%s' (expected '%s')", mode, rc, rc ? e.msg : "",
			         ssaid[mode]);
		assert_true(out.t == V_NONE);
		print_message("hostile stream %d: %s\n", mode, e.msg);
		smode = S_GOOD;
		assert_int_equal(obj_import(ref, 1, &out, &e), 0);
		assert_true(val_eq(out, want));
		val_rele(out);
	}
	smode = S_OFF;
	/* a size over the cap is refused before anything is asked or allocated */
	uint64_t was = obj_cap(0);
	obj_cap(htotal - 1);
	value none = v_none();
	assert_int_equal(obj_import(ref, 1, &none, &e), -1);
	assert_non_null(strstr(e.msg, "over this node's cap"));
	obj_cap(was);
	/* a value pulled for later tasks (free_after 0) is kept, until its
	 * holder's connection closes (a client that exited): then the next
	 * pull lets it go before it maps memory of its own */
	uint64_t before = obj_used();
	value kept;
	assert_int_equal(obj_import(ref, 0, &kept, &e), 0);
	val_rele(kept);
	assert_int_equal(obj_used(), before + htotal);
	hstop = 1;
	pthread_join(th, NULL);
	pthread_join(sth, NULL);
	hstop = 0;
	nng_stream_listener_free(slis);
	wire_server_close(s);
	value dead = dict_new(1), dl = list_new(3);
	list_append_take(dl, str_from_c("77777777777777777777777777777777"
	                                "77777777777777777777777777777777"));
	list_append_take(dl, str_from_c("127.0.0.1:1"));
	list_append_take(dl, v_int(5 << 20));
	assert_int_equal(dict_set(dead, k, dl, &e), 0);
	int gone = 0;
	for (int i = 0; i < 100 && !gone; i++) { /* the close is seen by nng's thread */
		value none2 = v_none();
		assert_int_equal(obj_import(dead, 0, &none2, &e), -2);
		gone = obj_used() == before;
		if (!gone)
			usleep(20000);
	}
	assert_true(gone);
	val_rele(dl);
	val_rele(dead);
	val_rele(k);
	val_rele(l);
	val_rele(ref);
	free(hbytes);
	free(hjunk);
}

static void test_hostile_holder(void **state)
{
	(void)state;
	/* a str spanning three chunks */
	value want = big_str(2 * (size_t)OBJ_CHUNK + 1000, 'h');
	hostile_holder(want);
	val_rele(want);
	/* a tensor spanning three chunks */
	int64_t shape[1] = {(int64_t)(2 * (size_t)OBJ_CHUNK + 4000) / 8};
	verr e;
	assert_int_equal(tensor_new(1, shape, &want, &e), 0);
	for (size_t i = 0; i < tensor_of(want)->size; i++)
		tensor_of(want)->data[i] = (double)i;
	hostile_holder(want);
	val_rele(want);
}

/* Past the cap, held objects go to the spill store, are counted there,
 * and are served from it; freeing one removes it there too. */
static void test_spill(void **state)
{
	(void)state;
	auth_token tok = {.len = 40};
	memset(tok.key, 't', 40);
	obj_init(&tok, "", NULL, "127.0.0.1");
	char dir[] = "/tmp/test-objects-spill-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *err = NULL;
	store_opts so = {.memory_cap = 1 << 20, .spill_dir = dir};
	store *st = store_open(&so, &err);
	assert_non_null(st);
	uint64_t was = obj_cap(0);
	size_t n = 3 * OBJ_INLINE_MAX;
	obj_set_spill(&st, 0);
	obj_cap(2 * n + n / 2); /* two fit, not three */
	verr e;
	value v[3], ref[3];
	for (int i = 0; i < 3; i++) {
		v[i] = big_str(n, (char)('k' + i));
		assert_int_equal(obj_export(v[i], &ref[i], &e), 0);
	}
	assert_true(obj_spilled() >= n); /* the first went to the store */
	assert_true(obj_used() <= obj_cap(0));
	for (int i = 0; i < 3; i++) { /* each served whole, spilled or not */
		value back;
		if (obj_import(ref[i], 0, &back, &e) != 0)
			fail_msg("object %d: %s", i, e.msg);
		assert_true(val_eq(back, v[i]));
		val_rele(back);
	}
	for (int i = 0; i < 3; i++) { /* freed: gone from memory and store */
		value back;
		assert_int_equal(obj_import(ref[i], 1, &back, &e), 0);
		val_rele(back);
	}
	assert_int_equal(obj_spilled(), 0);
	assert_int_equal(obj_used(), 0);
	obj_set_spill(NULL, 0);
	obj_cap(was);
	for (int i = 0; i < 3; i++) {
		val_rele(v[i]);
		val_rele(ref[i]);
	}
	store_close(st);
	rmdir(dir);
}

int main(void)
{
	wire_log_set_name("test_objects");
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spill), /* first: its counts start from an empty store */
		cmocka_unit_test(test_asm_checks),
		cmocka_unit_test(test_asm_tensor),
		cmocka_unit_test(test_data_view),
		cmocka_unit_test(test_export_pull),
		cmocka_unit_test(test_pull_nowhere),
		cmocka_unit_test(test_hostile_holder),
		cmocka_unit_test(test_stream_keys),
		cmocka_unit_test(test_stream_free_while_sent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
