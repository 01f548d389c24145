/* test_err.c - the one list of error codes (lang/flow_err.h): every code
 * has its own message, and the value encoding reports them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lang/encode.h"
#include "lang/flow_err.h"
#include "lang/value.h"
#include "executor/store.h"

static const int codes[] = {
#define CODE(name, value, msg) name,
	FLOW_ERR_LIST(CODE)
#undef CODE
};
#define NCODES (sizeof codes / sizeof codes[0])

static void test_messages_distinct(void **state)
{
	(void)state;
	assert_true(NCODES >= 15);
	for (size_t i = 0; i < NCODES; i++) {
		const char *m = flow_strerror(codes[i]);
		assert_non_null(m);
		assert_true(strlen(m) > 0);
		assert_string_not_equal(m, "unknown error");
		for (size_t j = 0; j < i; j++) {
			assert_int_not_equal(codes[i], codes[j]);
			if (strcmp(m, flow_strerror(codes[j])) == 0)
				fail_msg("codes %d and %d share the message '%s'", codes[i], codes[j], m);
		}
	}
}

static void test_unknown_code(void **state)
{
	(void)state;
	const int unknown[] = { -1, -2, 1, 42, -1000, -99999, 2147483647 };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *m = flow_strerror(unknown[i]);
		assert_non_null(m);
		assert_string_equal(m, "unknown error");
	}
}

/* The wire carries the numbers: they must not move. */
static void test_values_fixed(void **state)
{
	(void)state;
	assert_int_equal(FLOW_OK, 0);
	assert_int_equal(FLOW_ENOMEM, -1001);
	assert_int_equal(FLOW_ECORRUPT, -1003);
	assert_int_equal(FLOW_EPROTO, -1013);
	for (size_t i = 1; i < NCODES; i++)
		assert_int_equal(codes[i], codes[i - 1] - (i == 1 ? 1001 : 1));
}

static int decode_code(const void *buf, size_t len)
{
	verr e = { .code = 0 };
	value out;
	int rc = val_decode(buf, len, &out, &e);
	if (rc == 0) {
		val_rele(out);
		return FLOW_OK;
	}
	assert_true(strlen(e.msg) > 0);
	return e.code;
}

static void test_encode_codes(void **state)
{
	(void)state;
	sbuf b;
	sbuf_init(&b);
	verr e = { .code = 0 };
	value l = list_new(2);
	list_append_take(l, v_int(300));
	list_append_take(l, str_new("hello", 5));
	assert_int_equal(val_encode(&b, l, &e), 0);
	val_rele(l);
	assert_int_equal(decode_code(b.data, b.len), FLOW_OK);
	assert_int_equal(decode_code(b.data, b.len - 1), FLOW_ETRUNC);
	assert_int_equal(decode_code(b.data, 0), FLOW_ETRUNC);
	char *bad = malloc(b.len + 1);
	memcpy(bad, b.data, b.len);
	bad[0] = 0x17; /* not ENC_VERSION */
	assert_int_equal(decode_code(bad, b.len), FLOW_EVERSION);
	bad[0] = (char)ENC_VERSION;
	bad[1] = (char)0xEE; /* no such tag */
	assert_int_equal(decode_code(bad, b.len), FLOW_ECORRUPT);
	memcpy(bad, b.data, b.len);
	bad[b.len] = 0; /* a trailing byte */
	assert_int_equal(decode_code(bad, b.len + 1), FLOW_ECORRUPT);
	free(bad);
	sbuf_fini(&b);

	/* nesting past the limit */
	value deep = list_new(1);
	for (int i = 0; i < VAL_MAX_DEPTH + 2; i++) {
		value outer = list_new(1);
		list_append_take(outer, deep);
		deep = outer;
	}
	sbuf_init(&b);
	assert_int_equal(val_encode(&b, deep, &e), -1);
	assert_int_equal(e.code, FLOW_ETOOBIG);
	sbuf_fini(&b);
	val_rele(deep);
}

/* The store's failures carry their reason beside the STORE_* class. */
static void test_store_codes(void **state)
{
	(void)state;
	store_opts o = {.memory_cap = 1 << 20, .spill_dir = NULL, .map_size = 1 << 20};
	char *err = NULL;
	store *s = store_open(&o, &err);
	if (!s)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_put(s, 1, v_int(7), NULL), STORE_OK);
	assert_int_equal(store_put(s, 1, v_int(8), NULL), STORE_ERR);
	assert_int_equal(store_errcode(), FLOW_EEXIST);
	value g;
	assert_int_equal(store_get(s, 99, &g, &err), STORE_ERR);
	assert_int_equal(store_errcode(), FLOW_ENOTFOUND);
	free(err);
	value unfrozen = list_new(0);
	assert_int_equal(store_put(s, 2, unfrozen, NULL), STORE_ERR);
	assert_int_equal(store_errcode(), FLOW_EINVAL);
	val_rele(unfrozen);
	assert_int_equal(store_unpin(s, 1, NULL), STORE_ERR);
	assert_int_equal(store_errcode(), FLOW_EINVAL);
	assert_int_equal(store_unpin(s, 5, NULL), STORE_ERR);
	assert_int_equal(store_errcode(), FLOW_ENOTFOUND);
	assert_int_equal(store_free(s, 5, NULL), STORE_ERR);
	assert_int_equal(store_errcode(), FLOW_ENOTFOUND);
	store_close(s);

	store_opts bad = {.memory_cap = 1 << 20, .spill_dir = "/proc/no/such/dir", .map_size = 1 << 20};
	err = NULL;
	assert_null(store_open(&bad, &err));
	assert_int_equal(store_errcode(), FLOW_EIO);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages_distinct),
		cmocka_unit_test(test_unknown_code),
		cmocka_unit_test(test_values_fixed),
		cmocka_unit_test(test_encode_codes),
		cmocka_unit_test(test_store_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
