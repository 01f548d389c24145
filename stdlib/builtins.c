/* builtins.c - the functions every Flow program sees without an import
 * (LANGUAGE.md section 9): print, len, range, conversions, folds, get/put/
 * wait and reduce. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/bytecode.h"
#include "stdlib_impl.h"
#include "lang/small_limits.h"

/* range() refuses to build lists longer than this (16 bytes per item). */
#define RANGE_MAX_LEN FLOW_LIMIT(100000000, 1000000)

static int b_print(flow_vm *vm, value *argv, int argc, value *out)
{
	sbuf b;
	sbuf_init(&b);
	for (int i = 0; i < argc; i++) {
		value v;
		if (sl_resolve(vm, argv[i], &v) < 0) {
			sbuf_fini(&b);
			return -1;
		}
		if (i)
			sbuf_addc(&b, ' ');
		val_str(&b, v);
		val_rele(v);
	}
	vm_ctx(vm)->host->print(vm, b.data ? b.data : "", b.len);
	sbuf_fini(&b);
	*out = v_none();
	return 0;
}

/* __unpack(xs, n): xs itself when it is a list of exactly n items. The
 * compiler emits it for `let a, b, c = xs` (programs cannot name it). */
static int b_unpack(flow_vm *vm, value *argv, int argc, value *out)
{
	(void)argc;
	int64_t n = argv[1].t == V_INT ? argv[1].as.i : 0;
	if (argv[0].t != V_LIST)
		return vm_raise(vm, "cannot unpack %s into %lld names", vtype_name(argv[0].t),
		                (long long)n);
	if ((int64_t)list_len(argv[0]) != n)
		return vm_raise(vm, "cannot unpack a list of %zu elements into %lld names",
		                list_len(argv[0]), (long long)n);
	*out = val_hold(argv[0]);
	return 0;
}

static int b_len(flow_vm *vm, value *argv, int argc, value *out)
{
	value v;
	/* only the container itself: a list of futures has a length now,
	 * which is what lets the compiler unroll loops over it */
	if (argv[0].t != V_FUTURE)
		v = val_hold(argv[0]);
	else if (sl_resolve(vm, argv[0], &v) < 0)
		return -1;
	int64_t n;
	switch (v.t) {
	case V_STR: n = (int64_t)str_of(v)->cplen; break;
	case V_LIST: n = (int64_t)list_len(v); break;
	case V_DICT: n = (int64_t)dict_len(v); break;
	case V_TENSOR:
		if (tensor_of(v)->ndim == 0) {
			val_rele(v);
			return vm_raise(vm, "len() of a 0-d tensor");
		}
		n = tensor_of(v)->shape[0];
		break;
	default: {
		const char *t = sl_type_name(v);
		val_rele(v);
		return vm_raise(vm, "len() of a %s", t);
	}
	}
	val_rele(v);
	*out = v_int(n);
	return 0;
}

static int b_range(flow_vm *vm, value *argv, int argc, value *out)
{
	if (argc < 1 || argc > 3)
		return vm_raise(vm, "range() takes 1 to 3 arguments, got %d", argc);
	int64_t a[3];
	for (int i = 0; i < argc; i++)
		if (sl_int(vm, argv[i], "range", "each argument", &a[i]) < 0)
			return -1;
	int64_t lo = 0, hi, step = 1;
	if (argc == 1) {
		hi = a[0];
	} else {
		lo = a[0];
		hi = a[1];
		if (argc == 3)
			step = a[2];
	}
	if (step == 0)
		return vm_raise(vm, "range() step must not be zero");
	/* Count in unsigned arithmetic so extreme bounds cannot overflow. */
	uint64_t n = 0;
	if (step > 0 && lo < hi)
		n = ((uint64_t)hi - (uint64_t)lo - 1) / (uint64_t)step + 1;
	else if (step < 0 && lo > hi)
		n = ((uint64_t)lo - (uint64_t)hi - 1) / (0 - (uint64_t)step) + 1;
	if (n > RANGE_MAX_LEN)
		return vm_raise(vm, "range() of %llu items is too large (limit %d)",
		                (unsigned long long)n, RANGE_MAX_LEN);
	value l = list_new(n);
	int64_t x = lo;
	for (uint64_t i = 0; i < n; i++) {
		list_append_take(l, v_int(x));
		if (i + 1 < n)
			x += step;
	}
	*out = l;
	return 0;
}

static int b_str(flow_vm *vm, value *argv, int argc, value *out)
{
	value v;
	if (sl_resolve(vm, argv[0], &v) < 0)
		return -1;
	if (v.t == V_STR) {
		*out = v;
		return 0;
	}
	if (v.t == V_INT) {
		*out = str_from_int(v.as.i);
		return 0;
	}
	sbuf b;
	sbuf_init(&b);
	val_str(&b, v);
	val_rele(v);
	*out = str_take_sbuf(&b);
	return 0;
}

/* Python's int(str): optional sign, digits with single underscores between,
 * surrounding whitespace. */
static bool parse_int(const char *s, int64_t *out)
{
	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	bool neg = false;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (*s < '0' || *s > '9')
		return false;
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; (*s >= '0' && *s <= '9') || *s == '_'; s++) {
		if (*s == '_') {
			if (s[1] < '0' || s[1] > '9')
				return false;
			continue;
		}
		uint64_t d = (uint64_t)(*s - '0');
		if (v > (lim - d) / 10)
			return false;
		v = v * 10 + d;
	}
	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	if (*s)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

static int b_int(flow_vm *vm, value *argv, int argc, value *out)
{
	value v = argv[0];
	switch (v.t) {
	case V_INT:
		*out = v;
		return 0;
	case V_BOOL:
		*out = v_int(v.as.b);
		return 0;
	case V_FLOAT:
		if (isnan(v.as.f) || isinf(v.as.f))
			return vm_raise(vm, "int(): cannot convert float %s to int",
			                isnan(v.as.f) ? "nan" : "inf");
		if (v.as.f >= 9223372036854775808.0 || v.as.f < -9223372036854775808.0)
			return vm_raise(vm, "int(): float %g is out of the int range", v.as.f);
		*out = v_int((int64_t)v.as.f); /* truncates toward zero */
		return 0;
	case V_STR: {
		int64_t i;
		if (strlen(str_data(v)) != str_len(v) || !parse_int(str_data(v), &i)) {
			sbuf b;
			sbuf_init(&b);
			val_repr(&b, v);
			int r = vm_raise(vm, "int(): invalid literal %s", b.data);
			sbuf_fini(&b);
			return r;
		}
		*out = v_int(i);
		return 0;
	}
	default:
		return vm_raise(vm, "int() can't convert a %s", sl_type_name(v));
	}
}

static int b_float(flow_vm *vm, value *argv, int argc, value *out)
{
	value v = argv[0];
	switch (v.t) {
	case V_FLOAT:
		*out = v;
		return 0;
	case V_INT:
		*out = v_float((double)v.as.i);
		return 0;
	case V_BOOL:
		*out = v_float(v.as.b ? 1.0 : 0.0);
		return 0;
	case V_STR: {
		const char *s = str_data(v);
		char *end;
		errno = 0;
		double d = strtod(s, &end);
		bool ok = end != s && strlen(s) == str_len(v) && !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'));
		while (ok && (*end == ' ' || (*end >= '\t' && *end <= '\r')))
			end++;
		if (!ok || *end) {
			sbuf b;
			sbuf_init(&b);
			val_repr(&b, v);
			int r = vm_raise(vm, "float(): invalid literal %s", b.data);
			sbuf_fini(&b);
			return r;
		}
		*out = v_float(d);
		return 0;
	}
	default:
		return vm_raise(vm, "float() can't convert a %s", sl_type_name(v));
	}
}

static int b_bool(flow_vm *vm, value *argv, int argc, value *out)
{
	value v;
	if (sl_resolve(vm, argv[0], &v) < 0)
		return -1;
	*out = v_bool(val_truthy(v));
	val_rele(v);
	return 0;
}

static int b_list(flow_vm *vm, value *argv, int argc, value *out)
{
	if (native_is_absent(argv[0])) {
		*out = list_new(0);
		return 0;
	}
	value l;
	if (sl_items(vm, argv[0], "list", &l) < 0)
		return -1;
	/* Always a fresh list: list(xs) is how a frozen list is copied. */
	*out = sl_list_copy(l);
	val_rele(l);
	return 0;
}

/* v, or its value when v is a future (a new reference either way). */
static int waited(flow_vm *vm, value v, value *out)
{
	if (v.t == V_FUTURE)
		return sl_resolve(vm, v, out);
	*out = val_hold(v);
	return 0;
}

static int b_dict(flow_vm *vm, value *argv, int argc, value *out)
{
	value d = dict_new(0);
	if (native_is_absent(argv[0])) {
		*out = d;
		return 0;
	}
	/* shape-only: the values may stay futures (dict(zip(names, calls)));
	 * a pair or a key that is a future is waited for */
	value src;
	if (waited(vm, argv[0], &src) < 0) {
		val_rele(d);
		return -1;
	}
	verr e;
	if (src.t == V_DICT) {
		size_t it = 0;
		value k, v;
		while (dict_next(src, &it, &k, &v))
			dict_set(d, k, v, &e);
	} else if (src.t == V_LIST) {
		for (size_t i = 0; i < list_len(src); i++) {
			value p, k;
			if (waited(vm, list_get(src, i), &p) < 0)
				goto fail;
			if (p.t != V_LIST || list_len(p) != 2) {
				val_rele(p);
				val_rele(src);
				val_rele(d);
				return vm_raise(vm, "dict(): item %zu is not a [key, value] pair", i);
			}
			if (waited(vm, list_get(p, 0), &k) < 0) {
				val_rele(p);
				goto fail;
			}
			int rc = dict_set(d, k, list_get(p, 1), &e);
			val_rele(k);
			val_rele(p);
			if (rc < 0) {
				val_rele(src);
				val_rele(d);
				return vm_raise(vm, "dict(): %s", e.msg);
			}
		}
	} else {
		const char *t = sl_type_name(src);
		val_rele(src);
		val_rele(d);
		return vm_raise(vm, "dict() can't convert a %s", t);
	}
	val_rele(src);
	*out = d;
	return 0;
fail:
	val_rele(src);
	val_rele(d);
	return -1;
}

static int b_abs(flow_vm *vm, value *argv, int argc, value *out)
{
	value v = argv[0];
	if (v.t == V_INT) {
		if (v.as.i == INT64_MIN)
			return vm_raise(vm, "abs(): integer overflow");
		*out = v_int(v.as.i < 0 ? -v.as.i : v.as.i);
	} else if (v.t == V_FLOAT) {
		*out = v_float(fabs(v.as.f));
	} else {
		return vm_raise(vm, "abs() of a %s", sl_type_name(v));
	}
	return 0;
}

/* min/max: of one iterable argument, or of several arguments. */
static int minmax(flow_vm *vm, value *argv, int argc, value *out, const char *fn, int want)
{
	if (argc == 0)
		return vm_raise(vm, "%s() expects at least one argument", fn);
	value l;
	if (argc == 1) {
		if (sl_items(vm, argv[0], fn, &l) < 0)
			return -1;
	} else {
		l = list_new((size_t)argc);
		for (int i = 0; i < argc; i++)
			list_append(l, argv[i]);
	}
	size_t n = list_len(l);
	if (n == 0) {
		val_rele(l);
		return vm_raise(vm, "%s() of an empty sequence", fn);
	}
	value best = list_get(l, 0);
	for (size_t i = 1; i < n; i++) {
		int c;
		verr e;
		if (val_cmp(list_get(l, i), best, &c, &e) < 0) {
			val_rele(l);
			return vm_raise(vm, "%s(): %s", fn, e.msg);
		}
		if (c == want)
			best = list_get(l, i);
	}
	*out = val_hold(best);
	val_rele(l);
	return 0;
}

static int b_min(flow_vm *vm, value *argv, int argc, value *out)
{
	return minmax(vm, argv, argc, out, "min", -1);
}

static int b_max(flow_vm *vm, value *argv, int argc, value *out)
{
	return minmax(vm, argv, argc, out, "max", 1);
}

static int b_sum(flow_vm *vm, value *argv, int argc, value *out)
{
	value l;
	if (sl_items(vm, argv[0], "sum", &l) < 0)
		return -1;
	value acc = val_hold(argv[1]);
	size_t i = 0;
	if (acc.t == V_INT) {
		/* ints: added here until one is not an int or would overflow;
		 * the loop below then goes on (and reports the overflow) */
		int64_t s = acc.as.i, t;
		for (; i < list_len(l); i++) {
			value x = list_get(l, i);
			if (x.t != V_INT || __builtin_add_overflow(s, x.as.i, &t))
				break;
			s = t;
		}
		acc = v_int(s);
	}
	for (; i < list_len(l); i++) {
		value r;
		verr e;
		if (val_arith('+', acc, list_get(l, i), &r, &e) < 0) {
			val_rele(acc);
			val_rele(l);
			return vm_raise(vm, "sum(): %s", e.msg);
		}
		val_rele(acc);
		acc = r;
	}
	val_rele(l);
	*out = acc;
	return 0;
}

/* ---- sorting: a stable merge sort whose comparisons may fail --------- */

typedef struct sort_item {
	value key;  /* borrowed from keys list or the item itself */
	value item;
} sort_item;

static int merge_sort(sort_item *a, sort_item *tmp, size_t n, bool reverse, verr *e)
{
	if (n < 2)
		return 0;
	size_t m = n / 2;
	if (merge_sort(a, tmp, m, reverse, e) < 0 || merge_sort(a + m, tmp, n - m, reverse, e) < 0)
		return -1;
	size_t i = 0, j = m, k = 0;
	while (i < m && j < n) {
		int c;
		if (val_cmp(a[j].key, a[i].key, &c, e) < 0)
			return -1;
		/* Take from the right only when strictly before: keeps stability
		 * in both directions (as Python's reverse=True does). */
		bool right = reverse ? c > 0 : c < 0;
		tmp[k++] = right ? a[j++] : a[i++];
	}
	while (i < m)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof *a);
	return 0;
}

int sl_sort(flow_vm *vm, value list, value key, bool reverse)
{
	if (sl_check_mutable(vm, list, "sort") < 0)
		return -1;
	size_t n = list_len(list);
	if (n < 2)
		return 0;
	bool has_key = key.t != V_NONE;
	value keys = has_key ? list_new(n) : v_none();
	for (size_t i = 0; has_key && i < n; i++) {
		value k, item = list_get(list, i);
		if (vm_call(vm, key, &item, 1, &k) < 0) {
			val_rele(keys);
			return -1;
		}
		value kr;
		int r = sl_resolve(vm, k, &kr);
		val_rele(k);
		if (r < 0) {
			val_rele(keys);
			return -1;
		}
		list_append_take(keys, kr);
	}
	sort_item *a = malloc(2 * n * sizeof *a);
	if (!a)
		abort();
	for (size_t i = 0; i < n; i++) {
		a[i].item = list_get(list, i);
		a[i].key = has_key ? list_get(keys, i) : a[i].item;
	}
	verr e;
	int r = merge_sort(a, a + n, n, reverse, &e);
	if (r == 0) {
		/* Rewrite items in place; the list keeps one reference to each. */
		vlist *l = list_of(list);
		for (size_t i = 0; i < n; i++)
			l->items[i] = a[i].item;
	}
	free(a);
	val_rele(keys);
	if (r < 0)
		return vm_raise(vm, "sort: %s", e.msg);
	return 0;
}

static int b_sorted(flow_vm *vm, value *argv, int argc, value *out)
{
	value l;
	if (sl_items(vm, argv[0], "sorted", &l) < 0)
		return -1;
	value c = sl_list_copy(l);
	val_rele(l);
	if (sl_sort(vm, c, argv[1], val_truthy(argv[2])) < 0) {
		val_rele(c);
		return -1;
	}
	*out = c;
	return 0;
}

static int b_reversed(flow_vm *vm, value *argv, int argc, value *out)
{
	value l;
	if (sl_items(vm, argv[0], "reversed", &l) < 0)
		return -1;
	size_t n = list_len(l);
	value r = list_new(n);
	for (size_t i = n; i > 0; i--)
		list_append(r, list_get(l, i - 1));
	val_rele(l);
	*out = r;
	return 0;
}

static int b_enumerate(flow_vm *vm, value *argv, int argc, value *out)
{
	int64_t start;
	if (sl_int(vm, argv[1], "enumerate", "start", &start) < 0)
		return -1;
	value l;
	if (sl_items(vm, argv[0], "enumerate", &l) < 0)
		return -1;
	size_t n = list_len(l);
	value r = list_new(n);
	for (size_t i = 0; i < n; i++) {
		value p = list_new(2);
		list_append_take(p, v_int(start + (int64_t)i));
		list_append(p, list_get(l, i));
		list_append_take(r, p);
	}
	val_rele(l);
	*out = r;
	return 0;
}

static int b_zip(flow_vm *vm, value *argv, int argc, value *out)
{
	value ls[64];
	if (argc > 64)
		return vm_raise(vm, "zip() of more than 64 lists");
	size_t n = SIZE_MAX;
	for (int i = 0; i < argc; i++) {
		if (sl_items(vm, argv[i], "zip", &ls[i]) < 0) {
			while (i-- > 0)
				val_rele(ls[i]);
			return -1;
		}
		if (list_len(ls[i]) < n)
			n = list_len(ls[i]);
	}
	if (argc == 0)
		n = 0;
	value r = list_new(n);
	for (size_t j = 0; j < n; j++) {
		value t = list_new((size_t)argc);
		for (int i = 0; i < argc; i++)
			list_append(t, list_get(ls[i], j));
		list_append_take(r, t);
	}
	for (int i = 0; i < argc; i++)
		val_rele(ls[i]);
	*out = r;
	return 0;
}

static int anyall(flow_vm *vm, value xs, value *out, const char *fn, bool want)
{
	value l;
	if (sl_items(vm, xs, fn, &l) < 0)
		return -1;
	bool r = !want;
	for (size_t i = 0; i < list_len(l); i++)
		if (val_truthy(list_get(l, i)) == want) {
			r = want;
			break;
		}
	val_rele(l);
	*out = v_bool(r);
	return 0;
}

static int b_any(flow_vm *vm, value *argv, int argc, value *out)
{
	return anyall(vm, argv[0], out, "any", true);
}

static int b_all(flow_vm *vm, value *argv, int argc, value *out)
{
	return anyall(vm, argv[0], out, "all", false);
}

static int b_type(flow_vm *vm, value *argv, int argc, value *out)
{
	*out = str_from_c(sl_type_name(argv[0]));
	return 0;
}

/* ---- ord chr round divmod isinstance hash ------------------------------ */

static int b_ord(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_str(vm, argv[0], "ord", "c") < 0)
		return -1;
	if (str_of(argv[0])->cplen != 1)
		return vm_raise(vm, "ord() expected a character, but got a str of length %zu",
		                (size_t)str_of(argv[0])->cplen);
	uint32_t cp;
	sl_utf8_next(str_data(argv[0]), str_len(argv[0]), &cp);
	*out = v_int(cp);
	return 0;
}

static int b_chr(flow_vm *vm, value *argv, int argc, value *out)
{
	int64_t i;
	if (sl_int(vm, argv[0], "chr", "i", &i) < 0)
		return -1;
	if (i < 0 || i > 0x10FFFF || (i >= 0xD800 && i <= 0xDFFF))
		return vm_raise(vm, "chr() arg not in range(0x110000) or a surrogate: %lld", (long long)i);
	sbuf b;
	sbuf_init(&b);
	sl_utf8_put(&b, (uint32_t)i);
	*out = str_take_sbuf(&b);
	return 0;
}

/* Python's rounding: halves to even; round(x) is an int, round(x, n) of a
 * float a float (decimal rounding of the exact binary value, as printf
 * does), of an int an int. */
static int b_round(flow_vm *vm, value *argv, int argc, value *out)
{
	value x = argv[0];
	if (x.t != V_INT && x.t != V_FLOAT)
		return vm_raise(vm, "round() of a %s", sl_type_name(x));
	bool has_n = !native_is_absent(argv[1]) && argv[1].t != V_NONE;
	int64_t n = 0;
	if (has_n && sl_int(vm, argv[1], "round", "ndigits", &n) < 0)
		return -1;
	if (x.t == V_INT) {
		if (!has_n || n >= 0) {
			*out = x;
			return 0;
		}
		if (n < -18) {
			*out = v_int(0);
			return 0;
		}
		int64_t p = 1;
		for (int64_t k = 0; k < -n; k++)
			p *= 10;
		int64_t q = x.as.i / p, r = x.as.i % p;
		if (r < 0) {
			q--;
			r += p;
		}
		if (r > p / 2 || (r == p / 2 && (q & 1))) /* past half, or a tie to even */
			q++;
		if (__builtin_mul_overflow(q, p, &q))
			return vm_raise(vm, "round(): integer overflow");
		*out = v_int(q);
		return 0;
	}
	double f = x.as.f;
	if (!has_n) {
		if (isnan(f) || isinf(f))
			return vm_raise(vm, "round(): cannot convert float %s to integer", isnan(f) ? "NaN" : "infinity");
		double r = nearbyint(f);
		if (r >= 9223372036854775808.0 || r < -9223372036854775808.0)
			return vm_raise(vm, "round(): integer overflow");
		*out = v_int((int64_t)r);
		return 0;
	}
	if (isnan(f) || isinf(f) || n > 300) {
		*out = x;
		return 0;
	}
	if (n >= 0) {
		char buf[400];
		snprintf(buf, sizeof buf, "%.*f", (int)n, f);
		*out = v_float(strtod(buf, NULL));
		return 0;
	}
	double p = pow(10.0, (double)-n);
	*out = v_float(isinf(p) ? 0.0 * f : nearbyint(f / p) * p);
	return 0;
}

static int b_divmod(flow_vm *vm, value *argv, int argc, value *out)
{
	verr e;
	value q, r;
	if (val_arith('f', argv[0], argv[1], &q, &e))
		return vm_raise(vm, "divmod(): %s", e.msg);
	if (val_arith('%', argv[0], argv[1], &r, &e)) {
		val_rele(q);
		return vm_raise(vm, "divmod(): %s", e.msg);
	}
	value l = list_new(2);
	list_append_take(l, q);
	list_append_take(l, r);
	*out = l;
	return 0;
}

/* One type for isinstance: a conversion builtin (int, str, list...) or a
 * type's name as type() gives it ("none", "future", "actor", "tensor"). */
static int type_matches(flow_vm *vm, value v, value t, bool *res)
{
	const char *want;
	if (t.t == V_STR) {
		want = str_data(t);
	} else if (t.t == V_FUNC && t.as.o->extra == FUNC_NATIVE &&
	           (!strcmp(((const vfunc *)t.as.o)->native->name, "int") ||
	            !strcmp(((const vfunc *)t.as.o)->native->name, "float") ||
	            !strcmp(((const vfunc *)t.as.o)->native->name, "str") ||
	            !strcmp(((const vfunc *)t.as.o)->native->name, "bool") ||
	            !strcmp(((const vfunc *)t.as.o)->native->name, "list") ||
	            !strcmp(((const vfunc *)t.as.o)->native->name, "dict"))) {
		want = ((const vfunc *)t.as.o)->native->name;
	} else {
		return vm_raise(vm, "isinstance(): the type must be int, float, str, bool, list, dict, "
		                    "a type name such as \"none\", or a list of these; got %s",
		                sl_type_name(t));
	}
	*res = strcmp(sl_type_name(v), want) == 0;
	return 0;
}

static int isinstance_of(flow_vm *vm, value v, value t, bool *r)
{
	*r = false;
	if (t.t == V_LIST) {
		for (size_t j = 0; j < list_len(t) && !*r; j++)
			if (type_matches(vm, v, list_get(t, j), r) < 0)
				return -1;
		return 0;
	}
	return type_matches(vm, v, t, r);
}

/* A call's future is a "future" (isinstance(ref, "future"), as Ray's
 * isinstance(ref, ObjectRef)); for any other type it is its value. */
static int b_isinstance(flow_vm *vm, value *argv, int argc, value *out)
{
	bool r;
	if (isinstance_of(vm, argv[0], argv[1], &r) < 0)
		return -1;
	if (!r && argv[0].t == V_FUTURE) {
		value v;
		if (sl_resolve(vm, argv[0], &v) < 0)
			return -1;
		int rc = isinstance_of(vm, v, argv[1], &r);
		val_rele(v);
		if (rc < 0)
			return -1;
	}
	*out = v_bool(r);
	return 0;
}

/* The same on every machine and in every run (dict keys hash so). */
static int b_hash(flow_vm *vm, value *argv, int argc, value *out)
{
	value v = argv[0];
	if (v.t != V_NONE && v.t != V_BOOL && v.t != V_INT && v.t != V_FLOAT && v.t != V_STR)
		return vm_raise(vm, "hash(): unhashable type '%s'", sl_type_name(v));
	*out = v_int((int64_t)(val_hash(v) >> 1));
	return 0;
}

/* Raises with str(msg) as the whole message. */
static int raise_msg(flow_vm *vm, value msg, const char *dflt)
{
	if (msg.t == V_NONE)
		return vm_raise(vm, "%s", dflt);
	value m;
	if (sl_resolve(vm, msg, &m) < 0)
		return -1;
	sbuf b;
	sbuf_init(&b);
	val_str(&b, m);
	val_rele(m);
	int r = vm_raise(vm, "%s", b.data ? b.data : "");
	sbuf_fini(&b);
	return r;
}

static int b_assert(flow_vm *vm, value *argv, int argc, value *out)
{
	value c;
	if (sl_resolve(vm, argv[0], &c) < 0)
		return -1;
	bool ok = val_truthy(c);
	val_rele(c);
	if (!ok)
		return raise_msg(vm, argv[1], "assertion failed");
	*out = v_none();
	return 0;
}

static int b_error(flow_vm *vm, value *argv, int argc, value *out)
{
	return raise_msg(vm, argv[0], "error");
}

static int b_get(flow_vm *vm, value *argv, int argc, value *out)
{
	if (argv[0].t == V_FUNC && argv[0].as.o->extra == FUNC_BOUND)
		return vm_raise(vm, "get() of method '%s' that was not called; call it: get(x.%s())",
		                ((const vfunc *)argv[0].as.o)->method,
		                ((const vfunc *)argv[0].as.o)->method);
	if (argv[0].t == V_FUNC)
		return vm_raise(vm, "get() of %s '%s' itself, which was not called; call it: get(%s(...))",
		                sl_type_name(argv[0]), sl_func_name(argv[0]), sl_func_name(argv[0]));
	if (argv[0].t == V_STREAM) /* every item, once the producer has ended */
		return vm_ctx(vm)->host->get(vm, argv[0], out);
	return vm_get_deep(vm, argv[0], out);
}

static int b_put(flow_vm *vm, value *argv, int argc, value *out)
{
	return vm_ctx(vm)->host->put(vm, argv[0], out);
}

static int b_wait(flow_vm *vm, value *argv, int argc, value *out)
{
	value fs = argv[0];
	if (fs.t != V_LIST)
		return vm_raise(vm, "wait: futures must be a list, not %s", sl_type_name(fs));
	int64_t n;
	if (sl_int(vm, argv[1], "wait", "n", &n) < 0)
		return -1;
	if (n < 0 || (uint64_t)n > list_len(fs))
		return vm_raise(vm, "wait: n=%lld is not between 0 and the number of futures (%zu)",
		                (long long)n, list_len(fs));
	double timeout = -1.0; /* none: wait as long as it takes */
	if (argv[2].t != V_NONE) {
		if (sl_num(vm, argv[2], "wait", "timeout", &timeout) < 0)
			return -1;
		if (timeout < 0 || isnan(timeout))
			return vm_raise(vm, "wait: timeout must be a non-negative number of seconds");
	}
	return vm_ctx(vm)->host->wait(vm, fs, n, timeout, out);
}

static bool is_associative(value f)
{
	if (f.t != V_FUNC)
		return false;
	const vfunc *fn = (const vfunc *)f.as.o;
	return fn->h.extra == FUNC_PROTO && fn->proto && fn->proto->attrs.associative;
}

static int call2(flow_vm *vm, value f, value a, value b, value *out)
{
	value args[2] = { a, b };
	return vm_call(vm, f, args, 2, out);
}

/* A nested call's future that has not ended yet (its job runs). */
static bool running_call(value x)
{
	if (x.t != V_FUTURE)
		return false;
	const vfuture *f = (const vfuture *)x.as.o;
	return f->job && __atomic_load_n(&f->state, __ATOMIC_ACQUIRE) == FUT_PENDING;
}

/* reduce in a task body (LANGUAGE.md section 7): pairs neighbours as soon
 * as both are ready, so a slow operand holds up only its own pair; when
 * no pair is ready, waits for any call to end. With every operand ready
 * (--serial) a pass pairs (0,1), (2,3)...: the same calls, in the same
 * order, as the balanced tree. Consumes row; *out is the result. */
static int reduce_as_ready(flow_vm *vm, value f, value row, value *out)
{
	int r = 0;
	while (r == 0 && list_len(row) > 1) {
		size_t m = list_len(row);
		value next = list_new(m);
		bool paired = false;
		for (size_t i = 0; i < m;) {
			value a = list_get(row, i);
			if (r == 0 && i + 1 < m && !running_call(a) && !running_call(list_get(row, i + 1))) {
				value v;
				if ((r = call2(vm, f, a, list_get(row, i + 1), &v)) < 0)
					break;
				list_append_take(next, v);
				paired = true;
				i += 2;
			} else {
				list_append(next, a);
				i++;
			}
		}
		val_rele(row);
		row = next;
		if (r == 0 && !paired && list_len(row) > 1) {
			value pend = list_new(list_len(row)), res;
			for (size_t i = 0; i < list_len(row); i++)
				if (running_call(list_get(row, i)))
					list_append(pend, list_get(row, i));
			r = vm_ctx(vm)->host->wait(vm, pend, 1, -1.0, &res);
			if (r == 0)
				val_rele(res);
			val_rele(pend);
		}
	}
	if (r == 0)
		*out = val_hold(list_get(row, 0));
	val_rele(row);
	return r;
}

static int b_reduce(flow_vm *vm, value *argv, int argc, value *out)
{
	value f = argv[0];
	value l;
	if (sl_items(vm, argv[1], "reduce", &l) < 0)
		return -1;
	bool has_init = !native_is_absent(argv[2]);
	size_t n = list_len(l);
	if (n == 0) {
		val_rele(l);
		if (!has_init)
			return vm_raise(vm, "reduce() of an empty list with no initial value");
		*out = val_hold(argv[2]);
		return 0;
	}
	/* Working row of operands in left-to-right order (init first). */
	value row = list_new(n + 1);
	if (has_init)
		list_append(row, argv[2]);
	for (size_t i = 0; i < n; i++)
		list_append(row, list_get(l, i));
	val_rele(l);
	int r = 0;
	if (is_associative(f) && vm_ctx(vm)->task_name && !vm_ctx(vm)->lowering) {
		return reduce_as_ready(vm, f, row, out);
	} else if (is_associative(f)) {
		/* Balanced tree: pair neighbours level by level, keeping order, so
		 * independent calls can run in parallel (depth ceil(log2 n)). */
		while (r == 0 && list_len(row) > 1) {
			size_t m = list_len(row);
			value next = list_new((m + 1) / 2);
			for (size_t i = 0; i + 1 < m; i += 2) {
				value v;
				if ((r = call2(vm, f, list_get(row, i), list_get(row, i + 1), &v)) < 0)
					break;
				list_append_take(next, v);
			}
			if (r == 0 && m % 2)
				list_append(next, list_get(row, m - 1));
			val_rele(row);
			row = next;
		}
		if (r == 0)
			*out = val_hold(list_get(row, 0));
	} else {
		value acc = val_hold(list_get(row, 0));
		for (size_t i = 1; i < list_len(row); i++) {
			value v;
			if ((r = call2(vm, f, acc, list_get(row, i), &v)) < 0)
				break;
			val_rele(acc);
			acc = v;
		}
		if (r == 0)
			*out = acc;
		else
			val_rele(acc);
	}
	val_rele(row);
	return r;
}

const native_def stdlib_builtin_defs[] = {
	{ "print", b_print, "*", NATIVE_EFFECT },
	{ "len", b_len, "x", NATIVE_SHAPE },
	{ "range", b_range, "*", 0 },
	{ "str", b_str, "v=\"\"", 0 },
	{ "int", b_int, "x=0", 0 },
	{ "float", b_float, "x=0.0", 0 },
	{ "bool", b_bool, "x=false", 0 },
	{ "list", b_list, "xs=?", NATIVE_SHAPE },
	{ "dict", b_dict, "pairs=?", NATIVE_SHAPE },
	{ "abs", b_abs, "x", 0 },
	{ "min", b_min, "*", 0 },
	{ "max", b_max, "*", 0 },
	{ "sum", b_sum, "xs,start=0", 0 },
	{ "sorted", b_sorted, "xs,key=none,reverse=false", 0 },
	{ "reversed", b_reversed, "xs", NATIVE_SHAPE },
	{ "enumerate", b_enumerate, "xs,start=0", NATIVE_SHAPE },
	{ "zip", b_zip, "*", NATIVE_SHAPE },
	{ "any", b_any, "xs", 0 },
	{ "all", b_all, "xs", 0 },
	{ "type", b_type, "v", NATIVE_SHAPE },
	{ "assert", b_assert, "cond,msg=none", 0 },
	{ "error", b_error, "msg", 0 },
	{ "get", b_get, "x", NATIVE_HOST },
	{ "put", b_put, "v", NATIVE_HOST },
	{ "wait", b_wait, "futures,n=1,timeout=none", NATIVE_HOST },
	{ "reduce", b_reduce, "f,xs,init=?", NATIVE_HOST },
	{ "ord", b_ord, "c", 0 },
	{ "chr", b_chr, "i", 0 },
	{ "round", b_round, "x,ndigits=?", 0 },
	{ "divmod", b_divmod, "a,b", 0 },
	{ "isinstance", b_isinstance, "v,t", NATIVE_SHAPE },
	{ "hash", b_hash, "v", 0 },
	{ "__unpack", b_unpack, "xs,n", NATIVE_SHAPE },
	{ NULL, NULL, NULL, 0 },
};
