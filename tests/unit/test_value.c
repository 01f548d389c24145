/* test_value.c: unit tests of the value model - refcounts, str/list/dict/tensor, arithmetic, ordering, printing, format specs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "lang/value.h"
#include "lang/objslab.h"

/* ---- helpers ---------------------------------------------------------------- */

static value S(const char *s) { return str_from_c(s); }

/* repr text of v (strings quoted), as a malloc'd C string */
static char *repr_of(value v)
{
	sbuf b;
	sbuf_init(&b);
	val_repr(&b, v);
	return sbuf_take(&b, NULL);
}

static char *str_of_v(value v)
{
	sbuf b;
	sbuf_init(&b);
	val_str(&b, v);
	return sbuf_take(&b, NULL);
}

#define assert_repr(v, want)                                  \
	do {                                                  \
		char *got_ = repr_of(v);                      \
		assert_string_equal(got_, want);              \
		free(got_);                                   \
	} while (0)

#define assert_str_val(v, want)                               \
	do {                                                  \
		assert_int_equal((v).t, V_STR);               \
		assert_int_equal(str_len(v), strlen(want));   \
		assert_memory_equal(str_data(v), want, strlen(want)); \
	} while (0)

static value L(int n, ...)
{
	va_list ap;
	va_start(ap, n);
	value l = list_new(0);
	for (int i = 0; i < n; i++)
		list_append_take(l, va_arg(ap, value));
	va_end(ap);
	return l;
}

static value arith_ok(int op, value a, value b)
{
	value r;
	verr e;
	if (val_arith(op, a, b, &r, &e) != 0)
		fail_msg("val_arith(%c) failed: %s", op, e.msg);
	return r;
}

static void arith_err(int op, value a, value b, const char *want)
{
	value r;
	verr e;
	e.msg[0] = 0;
	assert_int_equal(val_arith(op, a, b, &r, &e), -1);
	if (!strstr(e.msg, want))
		fail_msg("error '%s' lacks '%s'", e.msg, want);
}

/* ---- refcounts and freezing -------------------------------------------------- */

static void test_refcount_freeze(void **state)
{
	(void)state;
	value s = S("hello");
	assert_int_equal(s.as.o->rc, 1);
	val_hold(s);
	assert_int_equal(s.as.o->rc, 2);
	value l = list_new(0);
	list_append(l, s);
	assert_int_equal(s.as.o->rc, 3);
	val_rele(s);
	val_rele(s);
	assert_int_equal(s.as.o->rc, 1); /* the list's */
	value d = dict_new(0);
	assert_int_equal(dict_set(d, S("k") , l, NULL), 0); /* leaks the key ref on purpose? no: */
	/* dict_set holds its key; release our copy of the key */
	value k;
	value v;
	size_t it = 0;
	assert_true(dict_next(d, &it, &k, &v));
	val_rele(k); /* the S("k") above was a new reference we gave away */
	assert_int_equal(k.as.o->rc, 1);
	assert_false(val_is_frozen(d));
	val_freeze(d);
	assert_true(val_is_frozen(d));
	assert_true(val_is_frozen(l));
	assert_true(val_is_frozen(list_get(l, 0)));
	assert_false(val_is_frozen(v_int(1)));
	/* thaw gives an unfrozen shallow copy sharing the items */
	value l2 = list_thaw(l);
	assert_false(val_is_frozen(l2));
	assert_int_equal(list_len(l2), 1);
	assert_true(list_get(l2, 0).as.o == s.as.o);
	assert_int_equal(s.as.o->rc, 2);
	value d2 = dict_thaw(d);
	assert_false(val_is_frozen(d2));
	assert_int_equal(dict_len(d2), 1);
	val_rele(l2);
	val_rele(d2);
	val_rele(l); /* still held by d */
	val_rele(d);
	/* a cycle is frozen without looping (and then broken by hand) */
	value c = list_new(0);
	list_append(c, c);
	val_freeze(c);
	assert_true(val_is_frozen(c));
	list_of(c)->len = 0;
	val_rele(c); /* the appended self-reference */
	val_rele(c);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	/* a list nested 1,000,000 deep must free without recursion */
	value inner = list_new(0);
	for (int i = 0; i < 1000000; i++) {
		value outer = list_new(1);
		list_append_take(outer, inner);
		inner = outer;
	}
	/* printing is bounded, encoding and comparison fail cleanly */
	char *s = repr_of(inner);
	assert_non_null(strstr(s, "..."));
	assert_true(strlen(s) < 2 * VAL_MAX_DEPTH + 100);
	free(s);
	int r;
	verr e;
	assert_int_equal(val_cmp(inner, inner, &r, &e), 0); /* identical items compare equal */
	value copy = val_deep_copy(inner);
	assert_true(val_eq(inner, inner));
	(void)val_eq(inner, copy); /* must not overflow the stack */
	assert_int_equal(val_cmp(inner, copy, &r, &e) == 0 || strstr(e.msg, "deeply") != NULL, 1);
	val_freeze(inner);
	(void)val_hash(inner);
	val_rele(copy);
	val_rele(inner);
	/* a deep dict chain too */
	value dd = dict_new(0);
	for (int i = 0; i < 200000; i++) {
		value o = dict_new(1);
		value k = S("k");
		dict_set(o, k, dd, NULL);
		val_rele(k);
		val_rele(dd);
		dd = o;
	}
	val_rele(dd);
}

/* ---- strings ---------------------------------------------------------------- */

static void test_str_basic(void **state)
{
	(void)state;
	value s = S("héllo wörld €𝄞");
	assert_int_equal(str_of(s)->cplen, 14);
	assert_false(str_ascii(s));
	value a = S("abc");
	assert_true(str_ascii(a));
	assert_int_equal(str_of(a)->cplen, 3);
	verr e;
	value c;
	assert_int_equal(str_index(s, 1, &c, &e), 0);
	assert_str_val(c, "é");
	val_rele(c);
	assert_int_equal(str_index(s, -1, &c, &e), 0);
	assert_str_val(c, "𝄞");
	val_rele(c);
	assert_int_equal(str_index(s, -2, &c, &e), 0);
	assert_str_val(c, "€");
	val_rele(c);
	assert_int_equal(str_index(s, 14, &c, &e), -1);
	assert_string_equal(e.msg, "string index out of range");
	assert_int_equal(str_index(s, -15, &c, &e), -1);
	assert_int_equal(str_index(a, 2, &c, &e), 0);
	assert_str_val(c, "c");
	val_rele(c);
	/* concat, repeat */
	value ab = str_concat(a, s);
	assert_str_val(ab, "abchéllo wörld €𝄞");
	assert_int_equal(str_of(ab)->cplen, 17);
	assert_false(str_ascii(ab));
	val_rele(ab);
	value rep;
	assert_int_equal(str_repeat(a, 3, &rep, &e), 0);
	assert_str_val(rep, "abcabcabc");
	assert_int_equal(str_of(rep)->cplen, 9);
	val_rele(rep);
	assert_int_equal(str_repeat(a, -2, &rep, &e), 0);
	assert_str_val(rep, "");
	val_rele(rep);
	assert_int_equal(str_repeat(a, INT64_MAX, &rep, &e), -1);
	/* str_take_sbuf, str_utf8_valid */
	sbuf b;
	sbuf_init(&b);
	sbuf_printf(&b, "%d-%s", 42, "x");
	value t = str_take_sbuf(&b);
	assert_str_val(t, "42-x");
	assert_null(b.data);
	val_rele(t);
	assert_true(str_utf8_valid("héllo", strlen("héllo")));
	assert_false(str_utf8_valid("\xc3", 1));
	assert_false(str_utf8_valid("\xc0\x80", 2));        /* overlong */
	assert_false(str_utf8_valid("\xed\xa0\x80", 3));    /* surrogate */
	assert_false(str_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(str_utf8_valid("\xff", 1));
	assert_true(str_utf8_valid("\xf0\x9d\x84\x9e", 4));
	assert_true(str_utf8_valid("", 0));
	val_rele(s);
	val_rele(a);
}

/* In-place append only when the string is unshared and unfrozen; the
 * result, hash, length and ASCII flag match a fresh concatenation. */
static void test_str_append_inplace(void **state)
{
	(void)state;
	value s = S("ab"), x = S("é"), y = S("cd");
	uint64_t h0 = val_hash(s);
	assert_true(str_append_inplace(&s, y));
	assert_str_val(s, "abcd");
	assert_true(str_ascii(s));
	assert_int_equal(str_of(s)->cplen, 4);
	value fresh = S("abcd");
	assert_true(val_hash(s) == val_hash(fresh));
	assert_true(val_hash(s) != h0);
	val_rele(fresh);
	assert_true(str_append_inplace(&s, x));
	assert_str_val(s, "abcdé");
	assert_false(str_ascii(s));
	assert_int_equal(str_of(s)->cplen, 5);
	/* appending to itself: refused (the source would move) */
	assert_false(str_append_inplace(&s, s));
	/* shared: a second reference sees nothing change */
	value other = val_hold(s);
	const vobj *before = s.as.o;
	assert_false(str_append_inplace(&s, y));
	assert_ptr_equal(s.as.o, before);
	assert_str_val(other, "abcdé");
	val_rele(other);
	/* frozen: never written, even with one reference */
	val_freeze(s);
	assert_false(str_append_inplace(&s, y));
	assert_str_val(s, "abcdé");
	val_rele(s);
	/* many appends: the allocation grows geometrically */
	value g = S("");
	for (int i = 0; i < 10000; i++)
		assert_true(str_append_inplace(&g, i % 2 ? x : y));
	assert_int_equal(str_len(g), 5000 * 2 + 5000 * 2);
	assert_int_equal(str_of(g)->cplen, 5000 * 2 + 5000);
	assert_true(str_utf8_valid(str_data(g), str_len(g)));
	assert_int_equal(str_data(g)[str_len(g)], '\0');
	val_rele(g);
	val_rele(x);
	val_rele(y);
}

/* str_index on non-ASCII text agrees with a walk from the start in any
 * order (it resumes from the last position found). */
static void test_str_index_cursor(void **state)
{
	(void)state;
	const char *units[] = { "a", "é", "€", "𝄞" };
	sbuf b;
	sbuf_init(&b);
	size_t n = 997, offs[998];
	for (size_t i = 0; i < n; i++) {
		offs[i] = b.len;
		sbuf_adds(&b, units[(i * 7 + i / 3) % 4]);
	}
	offs[n] = b.len;
	value s = str_take_sbuf(&b);
	assert_int_equal(str_of(s)->cplen, n);
	verr e;
	uint64_t x = 12345;
	for (int k = 0; k < 5000; k++) {
		size_t i;
		if (k < 997)
			i = (size_t)k;              /* forwards */
		else if (k < 2 * 997)
			i = n - 1 - (size_t)(k - 997); /* backwards */
		else
			i = (size_t)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 33) % n;
		value c;
		int64_t idx = (k % 2) ? (int64_t)i : (int64_t)i - (int64_t)n; /* negative too */
		assert_int_equal(str_index(s, idx, &c, &e), 0);
		assert_int_equal(str_len(c), offs[i + 1] - offs[i]);
		assert_memory_equal(str_data(c), str_data(s) + offs[i], str_len(c));
		val_rele(c);
		value sl;
		assert_int_equal(str_slice(s, true, (int64_t)i, true, (int64_t)i + 2, 1, &sl, &e), 0);
		size_t end = i + 2 < n ? i + 2 : n;
		assert_int_equal(str_len(sl), offs[end] - offs[i]);
		assert_memory_equal(str_data(sl), str_data(s) + offs[i], str_len(sl));
		val_rele(sl);
	}
	val_rele(s);
}

static void check_slice(const char *src, bool hl, int64_t lo, bool hh, int64_t hi, int64_t step, const char *want)
{
	value s = S(src), r;
	verr e;
	assert_int_equal(str_slice(s, hl, lo, hh, hi, step, &r, &e), 0);
	assert_str_val(r, want);
	val_rele(r);
	val_rele(s);
}

static void test_str_slice(void **state)
{
	(void)state;
	check_slice("hello", true, 1, false, 0, 1, "ello");
	check_slice("hello", false, 0, true, 2, 1, "he");
	check_slice("hello", false, 0, false, 0, -1, "olleh");
	check_slice("hello", false, 0, false, 0, 2, "hlo");
	check_slice("hello", true, -2, false, 0, 1, "lo");
	check_slice("hello", true, 4, true, 1, -2, "ol");
	check_slice("hello", true, 10, true, 20, 1, "");
	check_slice("hello", true, -100, true, 100, 1, "hello");
	check_slice("hello", true, 3, true, 1, 1, "");
	check_slice("héllo€", false, 0, false, 0, -1, "€olléh");
	check_slice("héllo€", true, 1, true, 3, 1, "él");
	check_slice("héllo€", true, -1, false, 0, 1, "€");
	check_slice("héllo€", false, 0, false, 0, 2, "hlo");
	check_slice("héllo€", true, 5, true, 0, -2, "€lé");
	check_slice("abc", false, 0, false, 0, INT64_MIN, "c");
	value s = S("abc"), r;
	verr e;
	assert_int_equal(str_slice(s, false, 0, false, 0, 0, &r, &e), -1);
	assert_string_equal(e.msg, "slice step cannot be zero");
	val_rele(s);
}

/* ---- lists --------------------------------------------------------------------- */

static void test_list_ops(void **state)
{
	(void)state;
	value l = list_new(0);
	for (int i = 0; i < 10000; i++)
		list_append_take(l, v_int(i));
	assert_int_equal(list_len(l), 10000);
	verr e;
	value x;
	assert_int_equal(list_index(l, -1, &x, &e), 0);
	assert_int_equal(x.as.i, 9999);
	assert_int_equal(list_index(l, 10000, &x, &e), -1);
	assert_string_equal(e.msg, "list index out of range");
	assert_int_equal(list_index(l, -10001, &x, &e), -1);
	value sl;
	assert_int_equal(list_slice(l, true, -3, false, 0, 1, &sl, &e), 0);
	assert_repr(sl, "[9997, 9998, 9999]");
	val_rele(sl);
	assert_int_equal(list_slice(l, true, 5, true, 0, -2, &sl, &e), 0);
	assert_repr(sl, "[5, 3, 1]");
	val_rele(sl);
	assert_int_equal(list_slice(l, false, 0, true, 7, 3, &sl, &e), 0);
	assert_repr(sl, "[0, 3, 6]");
	val_rele(sl);
	assert_int_equal(list_slice(l, false, 0, false, 0, 0, &sl, &e), -1);
	val_rele(l);

	value a = L(3, v_int(1), v_float(2.5), S("a"));
	assert_repr(a, "[1, 2.5, \"a\"]");
	value b = L(1, v_none());
	value c = list_concat(a, b);
	assert_repr(c, "[1, 2.5, \"a\", none]");
	value r;
	assert_int_equal(list_repeat(b, 3, &r, &e), 0);
	assert_repr(r, "[none, none, none]");
	val_rele(r);
	assert_int_equal(list_repeat(b, 0, &r, &e), 0);
	assert_repr(r, "[]");
	val_rele(r);
	assert_int_equal(list_repeat(b, INT64_MAX, &r, &e), -1);
	list_extend(c, c); /* extending by itself doubles it */
	assert_int_equal(list_len(c), 8);
	assert_int_equal(list_pop(c, &x, &e), 0);
	assert_int_equal(x.t, V_NONE);
	assert_int_equal(list_len(c), 7);
	list_set(c, 0, v_bool(true));
	assert_repr(c, "[true, 2.5, \"a\", none, 1, 2.5, \"a\"]");
	value empty = list_new(0);
	assert_int_equal(list_pop(empty, &x, &e), -1);
	assert_string_equal(e.msg, "pop from empty list");
	assert_int_equal(list_pop(a, &x, &e), 0);
	assert_str_val(x, "a");
	val_rele(x);
	val_rele(empty);
	val_rele(a);
	val_rele(b);
	val_rele(c);
}

/* Lists and strings of 4 MiB or more live on huge-page mappings of their
 * own (vlist.c, vstr.c): grown by mremap to a huge-page-aligned place,
 * from malloc'd memory into one, copied, sliced, appended to and freed,
 * their items and bytes stay what they were. */
static void test_big_blocks(void **state)
{
	(void)state;
	const size_t huge = (size_t)2 << 20, n = 1200000; /* 19 MB of items */
	value w[3] = { S("alpha"), S("beta"), S("gamma") };
	value l = list_new(0);
	for (size_t i = 0; i < n; i++)
		list_append(l, i % 4 == 3 ? v_int((int64_t)i) : w[i % 4]);
	assert_int_equal(list_len(l), n);
	assert_true(list_of(l)->cap >= n);
	assert_int_equal((uintptr_t)list_of(l)->items % huge, 0); /* still aligned after remaps */
	for (size_t i = 0; i < n; i += 997) {
		value x = list_get(l, i);
		if (i % 4 == 3)
			assert_true(x.t == V_INT && x.as.i == (int64_t)i);
		else
			assert_ptr_equal(x.as.o, w[i % 4].as.o);
	}
	assert_int_equal(w[0].as.o->rc, 1 + (n + 3) / 4);
	/* a big list made at once, and one made by copying */
	value c = list_thaw(l);
	assert_int_equal((uintptr_t)list_of(c)->items % huge, 0);
	assert_true(val_eq(c, l));
	value sl;
	verr e;
	assert_int_equal(list_slice(l, true, 1, false, 0, 1, &sl, &e), 0);
	assert_int_equal(list_len(sl), n - 1);
	assert_ptr_equal(list_get(sl, 0).as.o, w[1].as.o);
	val_rele(sl);
	val_rele(c);
	/* a 5 MB join is a huge string; appending to it moves it to
	 * malloc'd memory and keeps its bytes */
	value parts = list_new(0);
	for (size_t i = 0; i < n; i++)
		if (i % 4 != 3)
			list_append(parts, w[i % 4]);
	value sep = S(" ");
	value j = str_join(sep, list_of(parts)->items, list_len(parts));
	size_t len = str_len(j);
	assert_true(len > ((size_t)4 << 20));
	assert_true(j.as.o->flags & VOBJ_HUGE);
	assert_memory_equal(str_data(j), "alpha beta gamma alpha", 22);
	assert_true(str_append_inplace(&j, w[2]));
	assert_false(j.as.o->flags & VOBJ_HUGE);
	assert_int_equal(str_len(j), len + 5);
	assert_memory_equal(str_data(j) + len - 10, "beta gammagamma", 15);
	assert_int_equal(str_data(j)[len + 5], '\0');
	val_rele(j);
	val_rele(sep);
	val_rele(parts);
	val_rele(l);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(w[i].as.o->rc, 1);
		val_rele(w[i]);
	}
}

/* str_new_dedup makes one string per distinct short text while its table
 * has room: 100 words in 2,048 slots, met three times in turn, are 100
 * objects (direct-mapped, words sharing a slot evicted each other and were
 * made again); a longer text is not looked up. */
static void test_str_dedup(void **state)
{
	(void)state;
	enum { W = 100, ROUNDS = 3 };
	str_dedup t;
	str_dedup_init(&t, 2048);
	value first[W], again[W * (ROUNDS - 1)];
	char buf[64];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < W; i++) {
			int n = snprintf(buf, sizeof buf, "word%d", i * 7919);
			value v = str_new_dedup(&t, buf, (size_t)n);
			assert_int_equal(str_len(v), n);
			assert_memory_equal(str_data(v), buf, n);
			if (r == 0)
				first[i] = v;
			else {
				assert_ptr_equal(v.as.o, first[i].as.o);
				again[(r - 1) * W + i] = v;
			}
		}
	}
	for (int i = 0; i < W; i++)
		assert_int_equal(first[i].as.o->rc, ROUNDS);
	memset(buf, 'x', 40);
	value a = str_new_dedup(&t, buf, 40), b = str_new_dedup(&t, buf, 40);
	assert_ptr_not_equal(a.as.o, b.as.o);
	assert_true(val_eq(a, b));
	str_dedup_fini(&t);
	val_rele(a);
	val_rele(b);
	for (int i = 0; i < W * (ROUNDS - 1); i++)
		val_rele(again[i]);
	for (int i = 0; i < W; i++)
		val_rele(first[i]);
}

/* dict_get and dict_set take a hint (the entry last found or set) before
 * hashing: random gets, sets and deletes, with each key as two distinct
 * but equal strings, agree with a plain array at every step, across the
 * rebuilds that deletes and growth make. */
static void test_dict_hint(void **state)
{
	(void)state;
	enum { K = 40, OPS = 40000 };
	value keys[K][2];
	int64_t model[K]; /* -1: absent */
	char buf[32];
	for (int i = 0; i < K; i++) {
		snprintf(buf, sizeof buf, "key%d", i);
		keys[i][0] = S(buf);
		keys[i][1] = S(buf);
		model[i] = -1;
	}
	value d = dict_new(0);
	uint64_t x = 42;
	verr e;
	for (int op = 0; op < OPS; op++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		int k = (int)((x >> 33) % K), c = (int)((x >> 20) & 1), what = (int)((x >> 40) % 8);
		value key = keys[k][c], got;
		if (what < 3) {
			assert_int_equal(dict_set(d, key, v_int(op), &e), 0);
			model[k] = op;
		} else if (what == 3) {
			assert_int_equal(dict_del(d, key), model[k] >= 0);
			model[k] = -1;
		} else {
			bool found = dict_get(d, key, &got);
			assert_int_equal(found, model[k] >= 0);
			if (found)
				assert_int_equal(got.as.i, model[k]);
		}
		size_t n = 0;
		for (int i = 0; i < K; i++)
			n += model[i] >= 0;
		assert_int_equal(dict_len(d), n);
	}
	for (int i = 0; i < K; i++) {
		value got;
		assert_int_equal(dict_get(d, keys[i][i & 1], &got), model[i] >= 0);
	}
	val_rele(d);
	for (int i = 0; i < K; i++) {
		assert_int_equal(keys[i][0].as.o->rc, 1);
		val_rele(keys[i][0]);
		val_rele(keys[i][1]);
	}
}

static void test_list_sort(void **state)
{
	(void)state;
	verr e;
	/* stability: 0.0 and -0.0 are equal but distinguishable */
	value l = L(6, v_float(1.0), v_float(0.0), v_float(-0.0), v_float(0.5), v_float(-0.0), v_float(0.0));
	assert_int_equal(list_sort(l, false, &e), 0);
	assert_repr(l, "[0.0, -0.0, -0.0, 0.0, 0.5, 1.0]");
	val_rele(l);
	l = L(6, v_float(1.0), v_float(0.0), v_float(-0.0), v_float(0.5), v_float(-0.0), v_float(0.0));
	assert_int_equal(list_sort(l, true, &e), 0);
	assert_repr(l, "[1.0, 0.5, 0.0, -0.0, -0.0, 0.0]");
	val_rele(l);
	/* mixed int/float: general path, still stable */
	l = L(5, v_int(1), v_float(1.0), v_int(0), v_float(1.0), v_int(1));
	assert_int_equal(list_sort(l, false, &e), 0);
	assert_repr(l, "[0, 1, 1.0, 1.0, 1]");
	assert_int_equal(list_sort(l, true, &e), 0);
	assert_repr(l, "[1, 1.0, 1.0, 1, 0]");
	val_rele(l);
	/* strings by code point, lists lexicographically */
	l = L(4, S("b"), S("é"), S("a"), S("ab"));
	assert_int_equal(list_sort(l, false, &e), 0);
	assert_repr(l, "[\"a\", \"ab\", \"b\", \"é\"]");
	val_rele(l);
	l = L(3, L(2, v_int(1), v_int(2)), L(1, v_int(1)), L(2, v_int(0), v_int(9)));
	assert_int_equal(list_sort(l, false, &e), 0);
	assert_repr(l, "[[0, 9], [1], [1, 2]]");
	val_rele(l);
	/* NaN goes last */
	l = L(3, v_float(NAN), v_float(2.0), v_float(-1.0));
	assert_int_equal(list_sort(l, false, &e), 0);
	assert_repr(l, "[-1.0, 2.0, nan]");
	val_rele(l);
	/* errors leave the list unchanged */
	l = L(2, v_int(1), S("a"));
	assert_int_equal(list_sort(l, false, &e), -1);
	assert_string_equal(e.msg, "'<' not supported between 'str' and 'int'");
	assert_repr(l, "[1, \"a\"]");
	val_rele(l);
	l = L(2, dict_new(0), dict_new(0));
	assert_int_equal(list_sort(l, false, &e), -1);
	assert_string_equal(e.msg, "'<' not supported between 'dict' and 'dict'");
	val_rele(l);
	l = L(3, L(1, v_int(2)), L(1, S("x")), L(1, v_int(1)));
	assert_int_equal(list_sort(l, false, &e), -1);
	assert_non_null(strstr(e.msg, "not supported between"));
	assert_repr(l, "[[2], [\"x\"], [1]]");
	val_rele(l);
	/* 1,000,000 ints and floats (how fast: bench/lang's sort) */
	const size_t n = 1000000;
	value big = list_new(n), bigf = list_new(n);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		list_append_take(big, v_int((int64_t)x));
		list_append_take(bigf, v_float((double)(int64_t)x / 3.0));
	}
	assert_int_equal(list_sort(big, false, &e), 0);
	assert_int_equal(list_sort(bigf, true, &e), 0);
	for (size_t i = 1; i < n; i++) {
		assert_true(list_get(big, i - 1).as.i <= list_get(big, i).as.i);
		assert_true(list_get(bigf, i - 1).as.f >= list_get(bigf, i).as.f);
	}
	val_rele(big);
	val_rele(bigf);
}

/* ---- dicts ------------------------------------------------------------------------ */

static void test_dict(void **state)
{
	(void)state;
	verr e;
	value d = dict_new(0);
	value k1 = S("a"), k2 = v_int(1), k3 = v_bool(true), bad = list_new(0);
	assert_int_equal(dict_set(d, k1, v_int(10), &e), 0);
	assert_int_equal(dict_set(d, k2, v_int(20), &e), 0);
	assert_int_equal(dict_set(d, k3, v_int(30), &e), 0); /* true is not 1 */
	assert_int_equal(dict_len(d), 3);
	assert_int_equal(dict_set(d, bad, v_int(1), &e), -1);
	assert_string_equal(e.msg, "unhashable key type 'list'");
	assert_int_equal(dict_set(d, v_float(1.0), v_int(1), &e), -1);
	assert_string_equal(e.msg, "unhashable key type 'float'");
	value v;
	assert_true(dict_get(d, k2, &v));
	assert_int_equal(v.as.i, 20);
	assert_true(dict_get(d, k3, &v));
	assert_int_equal(v.as.i, 30);
	assert_false(dict_get(d, v_bool(false), &v));
	assert_false(dict_get(d, bad, &v));
	value ka = S("a");
	assert_true(dict_get(d, ka, &v)); /* equal, not identical, key */
	assert_int_equal(v.as.i, 10);
	assert_repr(d, "{\"a\": 10, 1: 20, true: 30}");
	/* overwrite keeps position; delete then re-insert goes last */
	assert_int_equal(dict_set(d, ka, v_int(11), &e), 0);
	assert_repr(d, "{\"a\": 11, 1: 20, true: 30}");
	assert_true(dict_del(d, ka));
	assert_false(dict_del(d, ka));
	assert_false(dict_del(d, bad));
	assert_repr(d, "{1: 20, true: 30}");
	assert_int_equal(dict_set(d, ka, v_int(12), &e), 0);
	assert_repr(d, "{1: 20, true: 30, \"a\": 12}");
	val_rele(ka);
	val_rele(k1);
	val_rele(bad);
	val_rele(d);

	/* growth, deletion and order with 100k keys */
	d = dict_new(0);
	char buf[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(buf, sizeof buf, "key%d", i);
		value k = S(buf);
		assert_int_equal(dict_set(d, k, v_int(i), &e), 0);
		val_rele(k);
	}
	assert_int_equal(dict_len(d), 100000);
	for (int i = 0; i < 100000; i += 2) {
		snprintf(buf, sizeof buf, "key%d", i);
		value k = S(buf);
		assert_true(dict_del(d, k));
		val_rele(k);
	}
	assert_int_equal(dict_len(d), 50000);
	for (int i = 0; i < 100000; i++) {
		snprintf(buf, sizeof buf, "key%d", i);
		value k = S(buf);
		bool has = dict_get(d, k, &v);
		assert_int_equal(has, i % 2 == 1);
		if (has)
			assert_int_equal(v.as.i, i);
		val_rele(k);
	}
	/* re-insert the even keys: they come after the odd ones */
	for (int i = 0; i < 100000; i += 2) {
		snprintf(buf, sizeof buf, "key%d", i);
		value k = S(buf);
		assert_int_equal(dict_set(d, k, v_int(-i), &e), 0);
		val_rele(k);
	}
	size_t it = 0, n = 0;
	value k;
	while (dict_next(d, &it, &k, &v)) {
		int64_t want = n < 50000 ? (int64_t)(2 * n + 1) : -(int64_t)(2 * (n - 50000));
		assert_int_equal(v.as.i, want);
		n++;
	}
	assert_int_equal(n, 100000);
	val_rele(d);

	/* int keys, churn: insert/delete many times stays bounded and correct */
	d = dict_new(4);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 1000; i++)
			dict_set(d, v_int(i + round), v_int(i), NULL);
		for (int i = 0; i < 1000; i++)
			assert_true(dict_del(d, v_int(i + round)));
		assert_int_equal(dict_len(d), 0);
	}
	assert_repr(d, "{}");
	val_rele(d);
}

/* ---- tensors ------------------------------------------------------------------------ */

static void test_tensor(void **state)
{
	(void)state;
	verr e;
	value t;
	int64_t sh[2] = { 2, 2 };
	assert_int_equal(tensor_new(2, sh, &t, &e), 0);
	vtensor *tt = tensor_of(t);
	assert_int_equal(tt->size, 4);
	assert_int_equal((uintptr_t)tt->data % 64, 0);
	for (int i = 0; i < 4; i++) {
		assert_true(tt->data[i] == 0.0);
		tt->data[i] = i + 1;
	}
	assert_repr(t, "tensor(shape=[2, 2]) [[1.0, 2.0], [3.0, 4.0]]");
	char *s = str_of_v(t);
	assert_string_equal(s, "tensor(shape=[2, 2]) [[1.0, 2.0], [3.0, 4.0]]");
	free(s);
	/* arithmetic */
	value r = arith_ok('+', t, t);
	assert_repr(r, "tensor(shape=[2, 2]) [[2.0, 4.0], [6.0, 8.0]]");
	val_rele(r);
	r = arith_ok('*', t, v_int(2));
	assert_repr(r, "tensor(shape=[2, 2]) [[2.0, 4.0], [6.0, 8.0]]");
	val_rele(r);
	r = arith_ok('-', v_float(1.0), t);
	assert_repr(r, "tensor(shape=[2, 2]) [[0.0, -1.0], [-2.0, -3.0]]");
	val_rele(r);
	r = arith_ok('/', t, v_int(2));
	assert_repr(r, "tensor(shape=[2, 2]) [[0.5, 1.0], [1.5, 2.0]]");
	val_rele(r);
	assert_int_equal(val_neg(t, &r, &e), 0);
	assert_repr(r, "tensor(shape=[2, 2]) [[-1.0, -2.0], [-3.0, -4.0]]");
	assert_false(val_eq(r, t));
	val_rele(r);
	value t3;
	int64_t sh3[1] = { 3 };
	assert_int_equal(tensor_new(1, sh3, &t3, &e), 0);
	arith_err('+', t, t3, "shapes");
	arith_err('@', t, t, "@");
	arith_err('+', t, v_bool(true), "unsupported operand types for +: 'tensor' and 'bool'");
	arith_err('%', t, v_int(2), "unsupported operand types for %");
	value cp = arith_ok('*', t, v_int(1));
	assert_true(val_eq(cp, t));
	val_rele(cp);
	bool in;
	assert_int_equal(val_contains(t, v_int(3), &in, &e), 0);
	assert_true(in);
	assert_true(val_truthy(t));
	val_rele(t3);
	val_rele(t);
	/* 0-d and empty */
	assert_int_equal(tensor_new(0, NULL, &t, &e), 0);
	tensor_of(t)->data[0] = 5;
	assert_repr(t, "tensor(shape=[]) 5.0");
	val_rele(t);
	int64_t sh0[2] = { 2, 0 };
	assert_int_equal(tensor_new(2, sh0, &t, &e), 0);
	assert_repr(t, "tensor(shape=[2, 0]) [[], []]");
	val_rele(t);
	/* summary above 100 elements */
	int64_t shb[2] = { 10, 11 };
	assert_int_equal(tensor_new(2, shb, &t, &e), 0);
	for (int i = 0; i < 110; i++)
		tensor_of(t)->data[i] = i;
	assert_repr(t, "tensor(shape=[10, 11], min=0.0, max=109.0, mean=54.5)");
	val_rele(t);
	int64_t shm[2] = { 1000, 1000 };
	assert_int_equal(tensor_new(2, shm, &t, &e), 0);
	assert_repr(t, "tensor(shape=[1000, 1000], min=0.0, max=0.0, mean=0.0)");
	val_rele(t);
	/* bad shapes */
	int64_t neg[1] = { -1 };
	assert_int_equal(tensor_new(1, neg, &t, &e), -1);
	int64_t huge[3] = { INT64_MAX, 4, 4 };
	assert_int_equal(tensor_new(3, huge, &t, &e), -1);
	int64_t many[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	assert_int_equal(tensor_new(9, many, &t, &e), -1);
	assert_int_equal(tensor_new(-1, many, &t, &e), -1);
}

/* Large tensors sit on whole 2 MiB pages; tensor_new zeroes even a
 * buffer the allocator hands back after tensor_new_raw dirtied it. */
static void test_tensor_large(void **state)
{
	(void)state;
	verr e;
	value t;
	int64_t sh[2] = { 1000, 1000 };
	for (int round = 0; round < 3; round++) {
		assert_int_equal(tensor_new_raw(2, sh, &t, &e), 0);
		vtensor *tt = tensor_of(t);
		assert_int_equal(tt->size, 1000000);
		assert_int_equal((uintptr_t)tt->data % ((uintptr_t)2 << 20), 0);
		for (size_t i = 0; i < tt->size; i++)
			tt->data[i] = 7.0;
		val_rele(t);
		assert_int_equal(tensor_new(2, sh, &t, &e), 0);
		tt = tensor_of(t);
		assert_int_equal((uintptr_t)tt->data % ((uintptr_t)2 << 20), 0);
		for (size_t i = 0; i < tt->size; i++)
			if (tt->data[i] != 0.0)
				fail_msg("element %zu is %g, not 0", i, tt->data[i]);
		val_rele(t);
	}
	/* a small one stays on 64-byte lines */
	int64_t small[1] = { 3 };
	assert_int_equal(tensor_new_raw(1, small, &t, &e), 0);
	assert_int_equal((uintptr_t)tensor_of(t)->data % 64, 0);
	val_rele(t);
}

/* ---- arithmetic ---------------------------------------------------------------------- */

static void expect_int(int op, int64_t a, int64_t b, int64_t want)
{
	value r = arith_ok(op, v_int(a), v_int(b));
	assert_int_equal(r.t, V_INT);
	if (r.as.i != want)
		fail_msg("%lld %c %lld = %lld, want %lld", (long long)a, op, (long long)b,
		         (long long)r.as.i, (long long)want);
}

static void expect_float(int op, value a, value b, const char *want)
{
	value r = arith_ok(op, a, b);
	assert_int_equal(r.t, V_FLOAT);
	assert_repr(r, want);
}

static void test_arith(void **state)
{
	(void)state;
	expect_int('+', 2, 3, 5);
	expect_int('-', 2, 3, -1);
	expect_int('*', -4, 3, -12);
	expect_int('f', 7, 2, 3);
	expect_int('f', -7, 2, -4);
	expect_int('f', 7, -2, -4);
	expect_int('f', -7, -2, 3);
	expect_int('%', 7, 2, 1);
	expect_int('%', -7, 2, 1);
	expect_int('%', 7, -2, -1);
	expect_int('%', -7, -2, -1);
	expect_int('%', INT64_MIN, -1, 0);
	expect_int('%', INT64_MIN, INT64_MAX, INT64_MAX - 1);
	expect_int('p', 2, 62, 4611686018427387904LL);
	expect_int('p', -2, 63, INT64_MIN);
	expect_int('p', 3, 39, 4052555153018976267LL);
	expect_int('p', 0, 0, 1);
	expect_int('p', -1, INT64_MAX, -1);
	expect_int('p', 7, 0, 1);
	/* overflow is an error, never a wrap */
	arith_err('+', v_int(INT64_MAX), v_int(1), "integer overflow in +");
	arith_err('-', v_int(INT64_MIN), v_int(1), "integer overflow in -");
	arith_err('*', v_int(INT64_MAX / 2 + 1), v_int(2), "integer overflow in *");
	arith_err('*', v_int(INT64_MIN), v_int(-1), "integer overflow in *");
	arith_err('f', v_int(INT64_MIN), v_int(-1), "integer overflow in //");
	arith_err('p', v_int(2), v_int(63), "integer overflow in **");
	arith_err('p', v_int(10), v_int(19), "integer overflow in **");
	arith_err('p', v_int(3), v_int(INT64_MAX), "integer overflow");
	value r;
	verr e;
	assert_int_equal(val_neg(v_int(INT64_MIN), &r, &e), -1);
	assert_non_null(strstr(e.msg, "overflow"));
	assert_int_equal(val_neg(v_int(5), &r, &e), 0);
	assert_int_equal(r.as.i, -5);
	assert_int_equal(val_neg(v_float(0.0), &r, &e), 0);
	assert_repr(r, "-0.0");
	assert_int_equal(val_neg(v_bool(true), &r, &e), -1);
	assert_string_equal(e.msg, "bad operand type for unary -: 'bool'");
	/* division */
	arith_err('/', v_int(1), v_int(0), "division by zero");
	arith_err('f', v_int(1), v_int(0), "division by zero");
	arith_err('%', v_int(1), v_int(0), "division by zero");
	arith_err('/', v_float(1), v_float(0.0), "division by zero");
	arith_err('%', v_float(1), v_float(-0.0), "division by zero");
	arith_err('f', v_int(1), v_float(0.0), "division by zero");
	arith_err('p', v_int(0), v_int(-1), "division by zero");
	expect_float('/', v_int(10), v_int(4), "2.5");
	expect_float('/', v_int(1), v_int(3), "0.3333333333333333");
	expect_float('/', v_int(4), v_int(2), "2.0");
	expect_float('f', v_float(7.5), v_int(2), "3.0");
	expect_float('f', v_float(-7.5), v_int(2), "-4.0");
	expect_float('%', v_float(7.5), v_int(-2), "-0.5");
	expect_float('%', v_float(-7.5), v_int(2), "0.5");
	expect_float('%', v_float(-7.5), v_float(-2.0), "-1.5");
	expect_float('f', v_float(-0.0), v_float(1.0), "-0.0");
	expect_float('%', v_float(0.0), v_float(-1.0), "-0.0");
	expect_float('p', v_int(2), v_int(-2), "0.25");
	expect_float('p', v_float(2.0), v_int(10), "1024.0");
	expect_float('+', v_int(1), v_float(0.5), "1.5");
	expect_float('*', v_float(0.1), v_int(3), "0.30000000000000004");
	arith_err('p', v_float(-8.0), v_float(0.5), "fractional");
	arith_err('p', v_float(10.0), v_float(400.0), "overflow");
	/* bool is not a number; none neither */
	arith_err('+', v_bool(true), v_int(1), "unsupported operand types for +: 'bool' and 'int'");
	arith_err('*', v_int(1), v_bool(false), "unsupported operand types for *: 'int' and 'bool'");
	arith_err('f', v_none(), v_int(1), "unsupported operand types for //: 'none' and 'int'");
	arith_err('p', v_float(1), v_bool(true), "unsupported operand types for **: 'float' and 'bool'");
	arith_err('@', v_int(1), v_int(2), "@");
	/* strings and lists */
	value a = S("ab"), b = S("cé");
	r = arith_ok('+', a, b);
	assert_str_val(r, "abcé");
	val_rele(r);
	r = arith_ok('*', a, v_int(3));
	assert_str_val(r, "ababab");
	val_rele(r);
	r = arith_ok('*', v_int(2), b);
	assert_str_val(r, "cécé");
	val_rele(r);
	arith_err('+', a, v_int(1), "unsupported operand types for +: 'str' and 'int'");
	arith_err('-', a, b, "unsupported operand types for -: 'str' and 'str'");
	arith_err('*', a, v_float(2.0), "'str' and 'float'");
	value l = L(2, v_int(1), v_int(2));
	r = arith_ok('+', l, l);
	assert_repr(r, "[1, 2, 1, 2]");
	val_rele(r);
	r = arith_ok('*', l, v_int(2));
	assert_repr(r, "[1, 2, 1, 2]");
	val_rele(r);
	r = arith_ok('*', v_int(-1), l);
	assert_repr(r, "[]");
	val_rele(r);
	arith_err('+', l, a, "'list' and 'str'");
	val_rele(l);
	val_rele(a);
	val_rele(b);
}

/* ---- equality, ordering, hashing, truthiness, contains ----------------------------- */

static void test_eq_cmp_hash(void **state)
{
	(void)state;
	verr e;
	int r;
	assert_true(val_eq(v_int(1), v_float(1.0)));
	assert_true(val_eq(v_float(1.0), v_int(1)));
	assert_false(val_eq(v_bool(true), v_int(1)));
	assert_false(val_eq(v_int(0), v_bool(false)));
	assert_false(val_eq(v_float(NAN), v_float(NAN)));
	assert_true(val_eq(v_float(0.0), v_float(-0.0)));
	assert_true(val_eq(v_none(), v_none()));
	assert_false(val_eq(v_none(), v_int(0)));
	assert_false(val_eq(v_int(INT64_MAX), v_float(9223372036854775807.0))); /* 2^63 != 2^63-1 */
	assert_true(val_eq(v_int(INT64_MIN), v_float(-9223372036854775808.0)));
	assert_false(val_eq(v_int(9007199254740993LL), v_float(9007199254740992.0)));
	value a = L(3, v_int(1), S("x"), L(1, v_float(2.0)));
	value b = L(3, v_float(1.0), S("x"), L(1, v_int(2)));
	assert_true(val_eq(a, b));
	list_set(b, 0, v_int(5));
	assert_false(val_eq(a, b));
	value d1 = dict_new(0), d2 = dict_new(0);
	value ka = S("a"), kb = S("b");
	dict_set(d1, ka, v_int(1), NULL);
	dict_set(d1, kb, a, NULL);
	dict_set(d2, kb, a, NULL);
	dict_set(d2, ka, v_float(1.0), NULL);
	assert_true(val_eq(d1, d2)); /* order does not matter */
	assert_int_equal(val_hash(d1), val_hash(d2));
	dict_set(d2, ka, v_int(2), NULL);
	assert_false(val_eq(d1, d2));
	assert_int_equal(val_cmp(d1, d2, &r, &e), -1);
	assert_string_equal(e.msg, "'<' not supported between 'dict' and 'dict'");
	/* ordering */
	assert_int_equal(val_cmp(v_int(1), v_float(1.5), &r, &e), 0);
	assert_int_equal(r, -1);
	assert_int_equal(val_cmp(v_float(2.0), v_int(2), &r, &e), 0);
	assert_int_equal(r, 0);
	assert_int_equal(val_cmp(v_int(INT64_MAX), v_float(9223372036854775807.0), &r, &e), 0);
	assert_int_equal(r, -1);
	assert_int_equal(val_cmp(v_bool(false), v_bool(true), &r, &e), 0);
	assert_int_equal(r, -1);
	value s1 = S("abc"), s2 = S("abd"), s3 = S("ab"), s4 = S("é");
	assert_int_equal(val_cmp(s1, s2, &r, &e), 0);
	assert_int_equal(r, -1);
	assert_int_equal(val_cmp(s1, s3, &r, &e), 0);
	assert_int_equal(r, 1);
	assert_int_equal(val_cmp(s4, s1, &r, &e), 0);
	assert_int_equal(r, 1);
	assert_int_equal(val_cmp(s1, v_int(1), &r, &e), -1);
	assert_string_equal(e.msg, "'<' not supported between 'str' and 'int'");
	assert_int_equal(val_cmp(v_none(), v_none(), &r, &e), -1);
	value l1 = L(2, v_int(1), v_int(2)), l2 = L(3, v_int(1), v_int(2), v_int(0));
	assert_int_equal(val_cmp(l1, l2, &r, &e), 0);
	assert_int_equal(r, -1);
	assert_int_equal(val_cmp(l2, l1, &r, &e), 0);
	assert_int_equal(r, 1);
	/* hashing: equal keys hash equal */
	value s1b = S("abc");
	assert_int_equal(val_hash(s1), val_hash(s1b));
	assert_int_equal(str_of(s1)->hash, val_hash(s1)); /* cached */
	assert_int_equal(val_hash(v_int(1)), val_hash(v_float(1.0)));
	assert_true(val_hash(v_int(1)) != val_hash(v_bool(true)));
	assert_true(val_hash(s1) != val_hash(s2));
	/* truthiness */
	assert_false(val_truthy(v_none()));
	assert_false(val_truthy(v_int(0)));
	assert_true(val_truthy(v_int(-1)));
	assert_false(val_truthy(v_float(0.0)));
	assert_true(val_truthy(v_float(NAN)));
	value es = S("");
	assert_false(val_truthy(es));
	assert_true(val_truthy(s1));
	value el = list_new(0);
	assert_false(val_truthy(el));
	assert_true(val_truthy(l1));
	assert_true(val_truthy(d1));
	value ed = dict_new(0);
	assert_false(val_truthy(ed));
	/* contains */
	bool in;
	value sub = S("bc");
	assert_int_equal(val_contains(s1, sub, &in, &e), 0);
	assert_true(in);
	assert_int_equal(val_contains(s1, es, &in, &e), 0);
	assert_true(in);
	assert_int_equal(val_contains(s3, s1, &in, &e), 0);
	assert_false(in);
	assert_int_equal(val_contains(s1, v_int(1), &in, &e), -1);
	assert_int_equal(val_contains(l1, v_float(2.0), &in, &e), 0);
	assert_true(in);
	assert_int_equal(val_contains(l1, v_bool(true), &in, &e), 0);
	assert_false(in);
	assert_int_equal(val_contains(d1, ka, &in, &e), 0);
	assert_true(in);
	assert_int_equal(val_contains(d1, v_int(1), &in, &e), 0);
	assert_false(in);
	assert_int_equal(val_contains(d1, l1, &in, &e), 0);
	assert_false(in);
	assert_int_equal(val_contains(v_int(3), v_int(3), &in, &e), -1);
	assert_string_equal(e.msg, "argument of type 'int' is not iterable");
	/* deep copy is equal and independent */
	value dc = val_deep_copy(d1);
	assert_true(val_eq(dc, d1));
	value inner;
	assert_true(dict_get(dc, kb, &inner));
	assert_true(inner.as.o != a.as.o);
	list_append(inner, v_int(7));
	assert_false(val_eq(dc, d1));
	val_rele(dc);
	value vals[] = { a, b, d1, d2, ka, kb, s1, s2, s3, s4, l1, l2, s1b, es, el, ed, sub };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		val_rele(vals[i]);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(vtype_name(V_NONE), "none");
	assert_string_equal(vtype_name(V_BOOL), "bool");
	assert_string_equal(vtype_name(V_INT), "int");
	assert_string_equal(vtype_name(V_FLOAT), "float");
	assert_string_equal(vtype_name(V_STR), "str");
	assert_string_equal(vtype_name(V_LIST), "list");
	assert_string_equal(vtype_name(V_DICT), "dict");
	assert_string_equal(vtype_name(V_TENSOR), "tensor");
	assert_string_equal(vtype_name(V_FUTURE), "future");
	assert_string_equal(vtype_name(V_ACTOR), "actor");
}

/* ---- VM-owned types through hooks ------------------------------------------------------- */

typedef struct fake_fut {
	vobj h;
	value held;
} fake_fut;
static int fake_frees;
static void fake_free(vobj *o)
{
	fake_frees++;
	val_rele(((fake_fut *)o)->held);
	free(o);
}
static void fake_str(sbuf *out, value v)
{
	(void)v;
	sbuf_adds(out, "<future 7>");
}
static bool fake_eq(value a, value b)
{
	return val_eq(((fake_fut *)a.as.o)->held, ((fake_fut *)b.as.o)->held);
}

static void test_hooks(void **state)
{
	(void)state;
	vtype_hooks h = { .free = fake_free, .str = fake_str, .eq = fake_eq };
	vtype_register(V_FUTURE, &h);
	assert_non_null(vtype_hooks_of(V_FUTURE));
	fake_fut *f = vobj_alloc(sizeof *f, V_FUTURE);
	f->held = L(1, S("x"));
	fake_fut *g = vobj_alloc(sizeof *g, V_FUTURE);
	g->held = L(1, S("x"));
	value fv = v_obj(&f->h), gv = v_obj(&g->h);
	assert_true(val_eq(fv, gv));
	value l = L(2, fv, gv); /* takes both references */
	assert_repr(l, "[<future 7>, <future 7>]");
	value dc = val_deep_copy(l);
	assert_int_equal(f->h.rc, 2);
	val_rele(dc);
	fake_frees = 0;
	val_rele(l);
	assert_int_equal(fake_frees, 2);
	/* a type with no hooks prints its name */
	vobj *o = vobj_alloc(sizeof(vobj), V_ACTOR);
	value ov = v_obj(o);
	assert_repr(ov, "<actor>");
	assert_true(val_eq(ov, ov));
	val_rele(ov);
	vtype_hooks none = { 0 };
	vtype_register(V_FUTURE, &none);
}

/* ---- printing ------------------------------------------------------------------------------ */

static void test_print_floats(void **state)
{
	(void)state;
	static const struct { double d; const char *want; } cases[] = {
		{ 0.1, "0.1" },
		{ 0.3333333333333333, "0.3333333333333333" },
		{ 2.0, "2.0" },
		{ 1e+20, "1e+20" },
		{ 1e+16, "1e+16" },
		{ 1000000000000000.0, "1000000000000000.0" },
		{ 123.456, "123.456" },
		{ 1e-05, "1e-05" },
		{ 0.0001, "0.0001" },
		{ -0.0, "-0.0" },
		{ 0.0, "0.0" },
		{ 5e-324, "5e-324" },
		{ 1.7976931348623157e+308, "1.7976931348623157e+308" },
		{ 1.5e-05, "1.5e-05" },
		{ 123456789012345.0, "123456789012345.0" },
		{ 1.2345678901234568e+16, "1.2345678901234568e+16" },
		{ 0.3, "0.3" },
		{ 2.5e-10, "2.5e-10" },
		{ -1.25, "-1.25" },
		{ 100.0, "100.0" },
		{ 1e+22, "1e+22" },
		{ 9007199254740992.0, "9007199254740992.0" },
		{ 0.30000000000000004, "0.30000000000000004" },
		{ 1e-07, "1e-07" },
		{ 9.223372036854776e+18, "9.223372036854776e+18" },
		{ 4.35, "4.35" },
		{ -123.5, "-123.5" },
		{ INFINITY, "inf" },
		{ -INFINITY, "-inf" },
		{ NAN, "nan" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sbuf b;
		sbuf_init(&b);
		val_float_repr(&b, cases[i].d);
		if (strcmp(b.data, cases[i].want) != 0)
			fail_msg("val_float_repr(%.17g) = '%s', want '%s'", cases[i].d, b.data, cases[i].want);
		sbuf_fini(&b);
	}
	/* every printed float reads back to itself */
	uint64_t x = 12345;
	for (int i = 0; i < 20000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		double d;
		uint64_t bits = x;
		memcpy(&d, &bits, 8);
		if (!isfinite(d))
			continue;
		sbuf b;
		sbuf_init(&b);
		val_float_repr(&b, d);
		assert_true(strtod(b.data, NULL) == d);
		sbuf_fini(&b);
	}
}

static void test_print_values(void **state)
{
	(void)state;
	assert_repr(v_none(), "none");
	assert_repr(v_bool(true), "true");
	assert_repr(v_bool(false), "false");
	assert_repr(v_int(-42), "-42");
	assert_repr(v_int(INT64_MIN), "-9223372036854775808");
	value s = S("a\n\"b\"\\\t\r");
	char *t = str_of_v(s);
	assert_string_equal(t, "a\n\"b\"\\\t\r"); /* str of a string is itself */
	free(t);
	assert_repr(s, "\"a\\n\\\"b\\\"\\\\\\t\\r\"");
	value z = str_new("x\0\x01y\x7f", 5);
	assert_repr(z, "\"x\\0\\u{1}y\\u{7f}\"");
	value u = S("héllo");
	assert_repr(u, "\"héllo\"");
	value l = L(4, v_int(1), v_float(2.5), S("a"), L(0));
	assert_repr(l, "[1, 2.5, \"a\", []]");
	t = str_of_v(l);
	assert_string_equal(t, "[1, 2.5, \"a\", []]");
	free(t);
	value d = dict_new(0);
	value ka = S("a");
	dict_set(d, ka, v_int(1), NULL);
	dict_set(d, v_int(2), l, NULL);
	dict_set(d, v_bool(false), v_none(), NULL);
	assert_repr(d, "{\"a\": 1, 2: [1, 2.5, \"a\", []], false: none}");
	val_rele(d);
	val_rele(ka);
	val_rele(l);
	val_rele(s);
	val_rele(z);
	val_rele(u);
	/* sbuf basics */
	sbuf b;
	sbuf_init(&b);
	sbuf_addc(&b, 'x');
	sbuf_adds(&b, "yz");
	char big[600];
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = 0;
	sbuf_printf(&b, "%s", big);
	assert_int_equal(b.len, 3 + 599);
	size_t n;
	char *p = sbuf_take(&b, &n);
	assert_int_equal(n, 602);
	assert_int_equal(strlen(p), 602);
	assert_null(b.data);
	free(p);
	sbuf_init(&b);
	p = sbuf_take(&b, &n);
	assert_string_equal(p, "");
	free(p);
	verr e;
	verr_set(&e, "x=%d", 5);
	assert_string_equal(e.msg, "x=5");
}

/* ---- format specs (expected strings from Python 3.11) --------------------------------------- */

static void test_format(void **state)
{
	(void)state;
	static const struct {
		char kind;
		int64_t i;
		double f;
		const char *s, *spec, *want;
	} cases[] = {
	{ 'f', 0, 3.14159, NULL, ".2f", "3.14" },
	{ 'f', 0, 3.14159, NULL, ".3f", "3.142" },
	{ 'f', 0, 2.5, NULL, ".0f", "2" },
	{ 'f', 0, -0.0, NULL, ".1f", "-0.0" },
	{ 'f', 0, 1234567.891, NULL, ",.2f", "1,234,567.89" },
	{ 'f', 0, 12345.678, NULL, ",.2f", "12,345.68" },
	{ 'f', 0, 3.14159, NULL, "08.3f", "0003.142" },
	{ 'f', 0, -3.14159, NULL, "08.3f", "-003.142" },
	{ 'i', 5LL, 0, NULL, "08.3f", "0005.000" },
	{ 'i', 42LL, 0, NULL, ">8", "      42" },
	{ 's', 0, 0, "ab", ">8", "      ab" },
	{ 's', 0, 0, "ab", "<10", "ab        " },
	{ 's', 0, 0, "ab", "^9", "   ab    " },
	{ 'i', 42LL, 0, NULL, "^9", "   42    " },
	{ 'f', 0, 42.5, NULL, "^9", "  42.5   " },
	{ 's', 0, 0, "ab", "*^7", "**ab***" },
	{ 'i', 1234567LL, 0, NULL, ",", "1,234,567" },
	{ 'i', 1234567LL, 0, NULL, "_", "1_234_567" },
	{ 'f', 0, 1234567.5, NULL, ",", "1,234,567.5" },
	{ 'f', 0, 1e+20, NULL, ",", "1e+20" },
	{ 'f', 0, 123.456, NULL, "e", "1.234560e+02" },
	{ 'f', 0, 123.456, NULL, ".2e", "1.23e+02" },
	{ 'f', 0, 123.456, NULL, "E", "1.234560E+02" },
	{ 'i', 123456789LL, 0, NULL, "e", "1.234568e+08" },
	{ 'i', 255LL, 0, NULL, "x", "ff" },
	{ 'i', 255LL, 0, NULL, "X", "FF" },
	{ 'i', 255LL, 0, NULL, "#x", "0xff" },
	{ 'i', -255LL, 0, NULL, "#X", "-0XFF" },
	{ 'i', 255LL, 0, NULL, "#o", "0o377" },
	{ 'i', 5LL, 0, NULL, "b", "101" },
	{ 'i', 255LL, 0, NULL, "_b", "1111_1111" },
	{ 'i', 255LL, 0, NULL, "#012_x", "0x0_0000_00ff" },
	{ 'i', 255LL, 0, NULL, "#010x", "0x000000ff" },
	{ 'i', 7LL, 0, NULL, "#010b", "0b00000111" },
	{ 'i', 5LL, 0, NULL, "+d", "+5" },
	{ 'i', 5LL, 0, NULL, " d", " 5" },
	{ 'i', -5LL, 0, NULL, "+d", "-5" },
	{ 'f', 0, 3.0, NULL, "+.2f", "+3.00" },
	{ 'i', 3LL, 0, NULL, ".2f", "3.00" },
	{ 'i', -5LL, 0, NULL, "05", "-0005" },
	{ 'i', -5LL, 0, NULL, "<05", "-5000" },
	{ 'i', 1234LL, 0, NULL, "010,", "00,001,234" },
	{ 'i', 1234LL, 0, NULL, "08,", "0,001,234" },
	{ 'i', 1234LL, 0, NULL, "07,", "001,234" },
	{ 'i', 1234LL, 0, NULL, "06,", "01,234" },
	{ 'i', -1234LL, 0, NULL, "09,", "-0,001,234" },
	{ 'i', 1234LL, 0, NULL, "*=10,", "*****1,234" },
	{ 'i', 1234LL, 0, NULL, "010_", "00_001_234" },
	{ 'f', 0, 1234.5, NULL, "012,.2f", "0,001,234.50" },
	{ 'f', 0, 1.5, NULL, "10", "       1.5" },
	{ 'f', 0, 1.5, NULL, "010", "00000001.5" },
	{ 'f', 0, -1.5, NULL, "010.3f", "-00001.500" },
	{ 'f', 0, NAN, NULL, "010", "0000000nan" },
	{ 'f', 0, INFINITY, NULL, "+", "+inf" },
	{ 'f', 0, NAN, NULL, "F", "NAN" },
	{ 'f', 0, INFINITY, NULL, "e", "inf" },
	{ 'f', 0, 1.0, NULL, ".3", "1.0" },
	{ 'f', 0, 123.0, NULL, ".3", "1.23e+02" },
	{ 'f', 0, 12.0, NULL, ".3", "12.0" },
	{ 'f', 0, 0.1234, NULL, ".2", "0.12" },
	{ 'f', 0, 100.0, NULL, ".3", "1e+02" },
	{ 'f', 0, 99.9, NULL, ".3", "99.9" },
	{ 'f', 0, 1e-07, NULL, ".3", "1e-07" },
	{ 'f', 0, 0.0001, NULL, ".2", "0.0001" },
	{ 'f', 0, 2.5, NULL, ".0", "2e+00" },
	{ 'f', 0, 5.0, NULL, ".1", "5e+00" },
	{ 'f', 0, 123.0, NULL, ".5", "123.0" },
	{ 'f', 0, 1000000000000000.0, NULL, ".16", "1e+15" },
	{ 'f', 0, 3.14159, NULL, "g", "3.14159" },
	{ 'f', 0, 1e+16, NULL, "g", "1e+16" },
	{ 'f', 0, 1.2345e-05, NULL, "g", "1.2345e-05" },
	{ 'i', 1000000000000000000LL, 0, NULL, ".3g", "1e+18" },
	{ 'f', 0, 1234.5, NULL, ",g", "1,234.5" },
	{ 'f', 0, 1234567.0, NULL, ",g", "1.23457e+06" },
	{ 'f', 0, 1.0, NULL, "#g", "1.00000" },
	{ 'f', 0, 1.0, NULL, "#.3", "1.00" },
	{ 'f', 0, 1e+100, NULL, "g", "1e+100" },
	{ 'f', 0, 0.1, NULL, ".17g", "0.10000000000000001" },
	{ 'f', 0, 0.1, NULL, ".20f", "0.10000000000000000555" },
	{ 'i', 12LL, 0, NULL, "%", "1200.000000%" },
	{ 'f', 0, 0.5, NULL, ".1%", "50.0%" },
	{ 'f', 0, 0.256, NULL, ".0%", "26%" },
	{ 'f', 0, 1e+22, NULL, "f", "10000000000000000000000.000000" },
	{ 'f', 0, 1.23456789e-07, NULL, "e", "1.234568e-07" },
	{ 'i', 65LL, 0, NULL, "c", "A" },
	{ 'i', 1234567LL, 0, NULL, "n", "1234567" },
	{ 'i', 0LL, 0, NULL, "#b", "0b0" },
	{ 'i', -1LL, 0, NULL, "#o", "-0o1" },
	{ 'i', 42LL, 0, NULL, "", "42" },
	{ 'f', 0, 2.0, NULL, "", "2.0" },
	{ 's', 0, 0, "héllo", ".2", "hé" },
	{ 's', 0, 0, "héllo", ">7", "  héllo" },
	{ 's', 0, 0, "héllo", "é^9", "ééhélloéé" },
	{ 'f', 0, -0.0, NULL, "z.1f", "0.0" },
	{ 'f', 0, 1000000.0, NULL, ",.1f", "1,000,000.0" },
	{ 'i', -7LL, 0, NULL, "=+6", "-    7" },
	{ 'i', 42LL, 0, NULL, "=8", "      42" },
	{ 'i', 12345LL, 0, NULL, "_x", "3039" },
	{ 'i', 9223372036854775807LL, 0, NULL, ",", "9,223,372,036,854,775,807" },
	{ 'i', INT64_MIN, 0, NULL, "x", "-8000000000000000" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		value v = cases[i].kind == 'i' ? v_int(cases[i].i)
		        : cases[i].kind == 'f' ? v_float(cases[i].f) : S(cases[i].s);
		sbuf b;
		sbuf_init(&b);
		verr e;
		if (val_format(&b, v, cases[i].spec, &e) != 0)
			fail_msg("case %zu: format '%s' failed: %s", i, cases[i].spec, e.msg);
		if (strcmp(b.data ? b.data : "", cases[i].want) != 0)
			fail_msg("case %zu: format(%c, '%s') = '%s', want '%s'", i, cases[i].kind,
			         cases[i].spec, b.data, cases[i].want);
		sbuf_fini(&b);
		val_rele(v);
	}
	/* bad specs */
	static const char *bad_int[] = { ".2d", "s", "x,", "z", "^^^", "5.", ".", "abc", "10q" };
	for (size_t i = 0; i < sizeof bad_int / sizeof bad_int[0]; i++) {
		sbuf b;
		sbuf_init(&b);
		verr e;
		assert_int_equal(val_format(&b, v_int(5), bad_int[i], &e), -1);
		char want[64];
		snprintf(want, sizeof want, "invalid format spec '%s' for int", bad_int[i]);
		assert_string_equal(e.msg, want);
		sbuf_fini(&b);
	}
	value s = S("ab");
	static const char *bad_str[] = { "d", "x", "=5", "+", "z", ",", "#", "=05", "0=3" };
	for (size_t i = 0; i < sizeof bad_str / sizeof bad_str[0]; i++) {
		sbuf b;
		sbuf_init(&b);
		verr e;
		assert_int_equal(val_format(&b, s, bad_str[i], &e), -1);
		assert_non_null(strstr(e.msg, "for str"));
		sbuf_fini(&b);
	}
	val_rele(s);
	static const char *bad_float[] = { "d", "x", "s", "c", "b" };
	for (size_t i = 0; i < sizeof bad_float / sizeof bad_float[0]; i++) {
		sbuf b;
		sbuf_init(&b);
		verr e;
		assert_int_equal(val_format(&b, v_float(1.5), bad_float[i], &e), -1);
		assert_non_null(strstr(e.msg, "for float"));
		sbuf_fini(&b);
	}
	/* bool prints as text unless a number is asked for; others use str() */
	struct { value v; const char *spec, *want; } more[] = {
		{ v_bool(true), "", "true" },
		{ v_bool(true), ">6", "  true" },
		{ v_bool(false), "^7", " false " },
		{ v_bool(true), "d", "1" },
		{ v_none(), "", "none" },
		{ v_none(), ">6", "  none" },
		{ v_float(1e16), "#", "1.e+16" },   /* Python 3.11 */
		{ v_float(1e-7), "*>#8", "**1.e-07" },
		{ v_float(2.5), "", "2.5" },
	};
	for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
		sbuf b;
		sbuf_init(&b);
		verr e;
		assert_int_equal(val_format(&b, more[i].v, more[i].spec, &e), 0);
		assert_string_equal(b.data, more[i].want);
		sbuf_fini(&b);
	}
	value l = L(2, v_int(1), v_int(2));
	sbuf b;
	sbuf_init(&b);
	verr e;
	assert_int_equal(val_format(&b, l, ">8", &e), 0);
	assert_string_equal(b.data, "  [1, 2]");
	sbuf_fini(&b);
	val_rele(l);
}

/* "{:.Nf}" (formatted without printf when the rounding is certain) is
 * byte for byte printf's "%.*f" over many magnitudes, ties included. */
static void test_format_fixed(void **state)
{
	(void)state;
	uint64_t x = 88172645463325252ull;
	const double ties[] = { 0.125, 0.375, 2.5, 0.5, 1.5, 1e-7, 123456.785, 0.045, 1099511627775.5, 0.0 };
	for (int k = 0; k < 200000; k++) {
		double d;
		if (k < (int)(sizeof ties / sizeof ties[0])) {
			d = ties[k];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* mantissa from the bits, magnitude from 1e-6 to 1e13 */
			d = (double)(x >> 11) / 9007199254740992.0 * pow(10, (int)(x % 20) - 6);
			if (x & 1)
				d = -d;
			if (k % 7 == 0)
				d = floor(d * 1000) / 1000 + 0.0005; /* near ties */
		}
		int p = k % 10;
		char spec[8], want[400];
		snprintf(spec, sizeof spec, ".%df", p);
		snprintf(want, sizeof want, "%.*f", p, d);
		sbuf b;
		sbuf_init(&b);
		verr e;
		assert_int_equal(val_format(&b, v_float(d), spec, &e), 0);
		if (strcmp(b.data, want) != 0)
			fail_msg("%.17g with %s: got %s, printf %s", d, spec, b.data, want);
		sbuf_fini(&b);
	}
}

/* objslab: an object released while its chunk is still the current one
 * does not unmap it; the chunk goes with its last object, after done. */
static bool mapped(void *p)
{
	unsigned char vec;
	void *page = (void *)((uintptr_t)p & ~(uintptr_t)4095);
	return mincore(page, 4096, &vec) == 0 || errno != ENOMEM;
}

static void test_objslab(void **state)
{
	(void)state;
	objslab s = {0};
	uint8_t *a = objslab_alloc(&s, 88);
	objslab_release(a); /* early, while the slab holds the chunk */
	assert_true(mapped(a));
	enum { N = 1000 };
	uint8_t *o[N];
	for (int i = 0; i < N; i++) {
		o[i] = objslab_alloc(&s, 88);
		assert_int_equal(((uintptr_t)o[i]) % 8, 0);
		for (int j = 0; j < 88; j++)
			assert_int_equal(o[i][j], 0);
		memset(o[i], 0xab, 88);
	}
	objslab_done(&s);
	assert_true(mapped(o[0]));
	for (int i = 0; i < N - 1; i++)
		objslab_release(o[i]);
	assert_true(mapped(o[N - 1]));
	assert_int_equal(o[N - 1][87], 0xab);
	objslab_release(o[N - 1]);
	assert_false(mapped(o[N - 1]));
}

/* objslab_tail: the caller's block is the chunk's zeroed last bytes,
 * objects are carved before it (a new chunk once they reach it), and
 * the chunk stays mapped until both the block and its objects are
 * released, in any order. */
static void test_objslab_tail(void **state)
{
	(void)state;
	objslab s = {0};
	assert_null(objslab_tail(&s, OBJSLAB_CHUNK)); /* no room left */
	assert_null(s.cur);
	size_t tail = OBJSLAB_CHUNK - 64 * 1024;
	uint8_t *blk = objslab_tail(&s, tail - 5); /* rounded up to 64 */
	assert_non_null(blk);
	uintptr_t chunk = (uintptr_t)blk & ~(uintptr_t)(OBJSLAB_CHUNK - 1);
	assert_int_equal((uintptr_t)blk - chunk, OBJSLAB_CHUNK - tail);
	for (size_t i = 0; i < tail; i += 4096)
		assert_int_equal(blk[i], 0);
	blk[tail - 1] = 0x5a;
	/* 64 KiB less the header: 744 objects of 88 bytes, then a new chunk */
	enum { N = 800 };
	uint8_t *o[N];
	int first_other = -1;
	for (int i = 0; i < N; i++) {
		o[i] = objslab_alloc(&s, 88);
		bool same = ((uintptr_t)o[i] & ~(uintptr_t)(OBJSLAB_CHUNK - 1)) == chunk;
		if (same)
			assert_true(o[i] + 88 <= blk);
		else if (first_other < 0)
			first_other = i;
		memset(o[i], 0xab, 88);
	}
	assert_true(first_other > 700 && first_other < N);
	assert_int_equal(blk[tail - 1], 0x5a); /* no object wrote over it */
	objslab_done(&s);
	objslab_release(blk); /* the block goes first: its objects keep the chunk */
	assert_true(mapped(o[0]));
	for (int i = 1; i < first_other; i++)
		objslab_release(o[i]);
	assert_true(mapped(o[0]));
	assert_int_equal(o[0][87], 0xab);
	objslab_release(o[0]);
	assert_false(mapped(o[0]));
	for (int i = first_other; i < N; i++)
		objslab_release(o[i]);
	assert_false(mapped(o[N - 1]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcount_freeze),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_str_basic),
		cmocka_unit_test(test_str_slice),
		cmocka_unit_test(test_str_append_inplace),
		cmocka_unit_test(test_str_index_cursor),
		cmocka_unit_test(test_list_ops),
		cmocka_unit_test(test_list_sort),
		cmocka_unit_test(test_big_blocks),
		cmocka_unit_test(test_str_dedup),
		cmocka_unit_test(test_dict_hint),
		cmocka_unit_test(test_dict),
		cmocka_unit_test(test_tensor),
		cmocka_unit_test(test_tensor_large),
		cmocka_unit_test(test_arith),
		cmocka_unit_test(test_eq_cmp_hash),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_hooks),
		cmocka_unit_test(test_print_floats),
		cmocka_unit_test(test_print_values),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_fixed),
		cmocka_unit_test(test_objslab),
		cmocka_unit_test(test_objslab_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
