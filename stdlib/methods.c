/* methods.c - methods on str, list and dict values (s.split(), xs.append(),
 * d.items(), ...). The receiver is argv[0]. */
#include <string.h>
#include <sys/types.h>

#include "stdlib_impl.h"

/* ---- str ---------------------------------------------------------------- */

static int repr_raise(flow_vm *vm, const char *fmt, value v)
{
	sbuf b;
	sbuf_init(&b);
	val_repr(&b, v);
	int r = vm_raise(vm, fmt, b.data);
	sbuf_fini(&b);
	return r;
}

static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Code points of s before byte offset off. */
static int64_t cp_count(const char *s, size_t off)
{
	int64_t n = 0;
	for (size_t i = 0; i < off; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

/* Byte offset of the next match of needle at or after `from`, or -1. */
static ssize_t find_bytes(const char *h, size_t hn, size_t from, const char *nd, size_t nn)
{
	if (nn == 0)
		return from <= hn ? (ssize_t)from : -1;
	if (from > hn || hn - from < nn)
		return -1;
	const char *p = memmem(h + from, hn - from, nd, nn);
	return p ? p - h : -1;
}

static int m_split(flow_vm *vm, value *argv, int argc, value *out)
{
	value s = argv[0], sep = argv[1];
	int64_t maxsplit;
	if (sl_int(vm, argv[2], "split", "maxsplit", &maxsplit) < 0)
		return -1;
	const char *d = str_data(s);
	size_t n = str_len(s);
	value l = list_new(0);
	/* repeated words become one string each (a word count's keys) */
	str_dedup dd;
	str_dedup_init(&dd, n / 8);
	if (sep.t == V_NONE) {
		size_t i = 0;
		if (maxsplit < 0) {
			/* one pass to count the words: the list is allocated once
			 * (growing a 2M-item list by realloc copied and faulted in
			 * its pages several times over) */
			size_t words = 0;
			bool gap = true; /* before the text counts as a space */
			for (size_t k = 0; k < n; k++) {
				bool sp = is_space(d[k]);
				words += gap && !sp;
				gap = sp;
			}
			val_rele(l);
			l = list_new(words);
		}
		while (i < n) {
			while (i < n && is_space(d[i]))
				i++;
			if (i == n)
				break;
			size_t j = i;
			if (maxsplit >= 0 && (int64_t)list_len(l) == maxsplit) {
				j = n; /* the rest, trailing whitespace kept (as Python) */
			} else {
				while (j < n && !is_space(d[j]))
					j++;
			}
			list_append_take(l, str_new_dedup(&dd, d + i, j - i));
			i = j;
		}
	} else {
		if (sl_str(vm, sep, "split", "sep") < 0) {
			str_dedup_fini(&dd);
			val_rele(l);
			return -1;
		}
		size_t sn = str_len(sep);
		if (sn == 0) {
			str_dedup_fini(&dd);
			val_rele(l);
			return vm_raise(vm, "split: empty separator");
		}
		size_t i = 0;
		if (maxsplit < 0) {
			/* one pass to count the parts: the list is allocated once */
			size_t parts = 1;
			for (ssize_t k; (k = find_bytes(d, n, i, str_data(sep), sn)) >= 0; i = (size_t)k + sn)
				parts++;
			i = 0;
			val_rele(l);
			l = list_new(parts);
		}
		for (;;) {
			ssize_t k = -1;
			if (maxsplit < 0 || (int64_t)list_len(l) < maxsplit)
				k = find_bytes(d, n, i, str_data(sep), sn);
			if (k < 0) {
				list_append_take(l, str_new_dedup(&dd, d + i, n - i));
				break;
			}
			list_append_take(l, str_new_dedup(&dd, d + i, (size_t)k - i));
			i = (size_t)k + sn;
		}
	}
	str_dedup_fini(&dd);
	*out = l;
	return 0;
}

static int m_join(flow_vm *vm, value *argv, int argc, value *out)
{
	value l;
	if (sl_items(vm, argv[1], "join", &l) < 0)
		return -1;
	for (size_t i = 0; i < list_len(l); i++) {
		value x = list_get(l, i);
		if (x.t != V_STR) {
			val_rele(l);
			return vm_raise(vm, "join: item %zu is a %s, expected a str", i, sl_type_name(x));
		}
	}
	*out = str_join(argv[0], list_of(l)->items, list_len(l));
	val_rele(l);
	return 0;
}

/* Whether code point cp occurs in the str chars. */
static bool in_chars(value chars, uint32_t cp)
{
	const char *c = str_data(chars);
	size_t n = str_len(chars), i = 0;
	while (i < n) {
		uint32_t x;
		i += sl_utf8_next(c + i, n - i, &x);
		if (x == cp)
			return true;
	}
	return false;
}

/* strip family: which = 1 left, 2 right, 3 both. */
static int strip(flow_vm *vm, value *argv, value *out, int which, const char *fn)
{
	value s = argv[0], chars = argv[1];
	if (chars.t != V_NONE && sl_str(vm, chars, fn, "chars") < 0)
		return -1;
	const char *d = str_data(s);
	size_t lo = 0, hi = str_len(s);
	if (which & 1) {
		while (lo < hi) {
			uint32_t cp;
			size_t k = sl_utf8_next(d + lo, hi - lo, &cp);
			if (chars.t == V_NONE ? !is_space(d[lo]) : !in_chars(chars, cp))
				break;
			lo += k;
		}
	}
	if (which & 2) {
		while (hi > lo) {
			size_t st = hi - 1;
			while (st > lo && ((unsigned char)d[st] & 0xC0) == 0x80)
				st--;
			uint32_t cp;
			sl_utf8_next(d + st, hi - st, &cp);
			if (chars.t == V_NONE ? !is_space(d[st]) : !in_chars(chars, cp))
				break;
			hi = st;
		}
	}
	*out = str_new(d + lo, hi - lo);
	return 0;
}

static int m_strip(flow_vm *vm, value *argv, int argc, value *out) { return strip(vm, argv, out, 3, "strip"); }
static int m_lstrip(flow_vm *vm, value *argv, int argc, value *out) { return strip(vm, argv, out, 1, "lstrip"); }
static int m_rstrip(flow_vm *vm, value *argv, int argc, value *out) { return strip(vm, argv, out, 2, "rstrip"); }

static int m_replace(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_str(vm, argv[1], "replace", "old") < 0 || sl_str(vm, argv[2], "replace", "new") < 0)
		return -1;
	const char *d = str_data(argv[0]), *a = str_data(argv[1]), *b = str_data(argv[2]);
	size_t n = str_len(argv[0]), an = str_len(argv[1]), bn = str_len(argv[2]);
	sbuf o;
	sbuf_init(&o);
	if (an == 0) {
		/* Python: the new text goes between every code point and at both ends. */
		size_t i = 0;
		sbuf_add(&o, b, bn);
		while (i < n) {
			uint32_t cp;
			size_t k = sl_utf8_next(d + i, n - i, &cp);
			sbuf_add(&o, d + i, k);
			sbuf_add(&o, b, bn);
			i += k;
		}
	} else {
		size_t i = 0;
		for (;;) {
			ssize_t k = find_bytes(d, n, i, a, an);
			if (k < 0)
				break;
			sbuf_add(&o, d + i, (size_t)k - i);
			sbuf_add(&o, b, bn);
			i = (size_t)k + an;
		}
		sbuf_add(&o, d + i, n - i);
	}
	*out = str_take_sbuf(&o);
	return 0;
}

static int m_find(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_str(vm, argv[1], "find", "x") < 0)
		return -1;
	const char *d = str_data(argv[0]);
	ssize_t k = find_bytes(d, str_len(argv[0]), 0, str_data(argv[1]), str_len(argv[1]));
	*out = v_int(k < 0 ? -1 : cp_count(d, (size_t)k));
	return 0;
}

static int m_count(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_str(vm, argv[1], "count", "x") < 0)
		return -1;
	size_t nn = str_len(argv[1]);
	if (nn == 0) {
		*out = v_int((int64_t)str_of(argv[0])->cplen + 1);
		return 0;
	}
	int64_t c = 0;
	size_t i = 0;
	ssize_t k;
	while ((k = find_bytes(str_data(argv[0]), str_len(argv[0]), i, str_data(argv[1]), nn)) >= 0) {
		c++;
		i = (size_t)k + nn;
	}
	*out = v_int(c);
	return 0;
}

static int m_startswith(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_str(vm, argv[1], "startswith", "x") < 0)
		return -1;
	size_t n = str_len(argv[0]), pn = str_len(argv[1]);
	*out = v_bool(pn <= n && memcmp(str_data(argv[0]), str_data(argv[1]), pn) == 0);
	return 0;
}

static int m_endswith(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_str(vm, argv[1], "endswith", "x") < 0)
		return -1;
	size_t n = str_len(argv[0]), pn = str_len(argv[1]);
	*out = v_bool(pn <= n && memcmp(str_data(argv[0]) + n - pn, str_data(argv[1]), pn) == 0);
	return 0;
}

/* Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and
 * Cyrillic: a fixed table, so every machine gives the same answer
 * whatever its locale. */
static uint32_t to_upper(uint32_t c)
{
	if (c >= 'a' && c <= 'z')
		return c - 32;
	if (c < 0x80)
		return c;
	if ((c >= 0xE0 && c <= 0xFE && c != 0xF7))
		return c - 32;
	if (c == 0xFF)
		return 0x178;
	if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
		bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
		if (odd_lower ? (c & 1) == 0 : (c & 1) == 1)
			return c - 1;
		return c;
	}
	if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2)
		return c - 32;
	if (c == 0x3C2)
		return 0x3A3;
	if (c >= 0x430 && c <= 0x44F)
		return c - 32;
	if (c >= 0x450 && c <= 0x45F)
		return c - 80;
	return c;
}

static uint32_t to_lower(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c < 0x80)
		return c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c == 0x178)
		return 0xFF;
	if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
		bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
		if (odd_lower ? (c & 1) == 1 : (c & 1) == 0)
			return c + 1;
		return c;
	}
	if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
		return c + 32;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	return c;
}

static int map_case(value s, uint32_t (*f)(uint32_t), value *out)
{
	const char *d = str_data(s);
	size_t n = str_len(s), i = 0;
	if (str_ascii(s)) {
		/* ASCII maps to ASCII, byte for byte: a copy changed in place
		 * (nothing else holds it yet) */
		value r = str_new(d, n);
		char *w = (char *)str_data(r);
		for (size_t j = 0; j < n; j++)
			w[j] = (char)f((unsigned char)w[j]);
		*out = r;
		return 0;
	}
	sbuf b;
	sbuf_init(&b);
	sbuf_reserve(&b, n);
	while (i < n) {
		uint32_t cp;
		i += sl_utf8_next(d + i, n - i, &cp);
		sl_utf8_put(&b, f(cp));
	}
	*out = str_take_sbuf(&b);
	return 0;
}

static int m_upper(flow_vm *vm, value *argv, int argc, value *out) { return map_case(argv[0], to_upper, out); }
static int m_lower(flow_vm *vm, value *argv, int argc, value *out) { return map_case(argv[0], to_lower, out); }

/* Python's isdigit for the digits a Flow program meets: ASCII 0-9, and
 * false for the empty string. */
static int m_isdigit(flow_vm *vm, value *argv, int argc, value *out)
{
	const char *d = str_data(argv[0]);
	size_t n = str_len(argv[0]);
	bool r = n > 0;
	for (size_t i = 0; i < n && r; i++)
		r = d[i] >= '0' && d[i] <= '9';
	*out = v_bool(r);
	return 0;
}

static int m_format(flow_vm *vm, value *argv, int argc, value *out)
{
	return sl_format(vm, argv[0], argv + 1, argc - 1, out);
}

/* ---- list --------------------------------------------------------------- */

static int m_append(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_check_mutable(vm, argv[0], "append") < 0)
		return -1;
	if (val_reaches(argv[1], argv[0]))
		return vm_raise(vm, "append: a list cannot contain itself");
	list_append(argv[0], argv[1]);
	*out = v_none();
	return 0;
}

static int m_extend(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_check_mutable(vm, argv[0], "extend") < 0)
		return -1;
	value ys;
	if (sl_items(vm, argv[1], "extend", &ys) < 0)
		return -1;
	value c = sl_list_copy(ys); /* xs.extend(xs) must not read what it writes */
	val_rele(ys);
	if (val_reaches(c, argv[0])) {
		val_rele(c);
		return vm_raise(vm, "extend: a list cannot contain itself");
	}
	list_extend(argv[0], c);
	val_rele(c);
	*out = v_none();
	return 0;
}

/* Python's index for insert/pop: negative counts from the end. */
static int m_pop_list(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_check_mutable(vm, argv[0], "pop") < 0)
		return -1;
	int64_t i;
	if (sl_int(vm, argv[1], "pop", "index", &i) < 0)
		return -1;
	vlist *l = list_of(argv[0]);
	if (l->len == 0)
		return vm_raise(vm, "pop from an empty list");
	int64_t n = (int64_t)l->len;
	if (i < 0)
		i += n;
	if (i < 0 || i >= n)
		return vm_raise(vm, "pop: index %lld out of range for a list of %lld", (long long)argv[1].as.i,
		                (long long)n);
	*out = l->items[i]; /* the list's reference moves to the caller */
	memmove(l->items + i, l->items + i + 1, (size_t)(n - i - 1) * sizeof *l->items);
	l->len--;
	return 0;
}

static int m_insert(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_check_mutable(vm, argv[0], "insert") < 0)
		return -1;
	int64_t i;
	if (sl_int(vm, argv[1], "insert", "index", &i) < 0)
		return -1;
	if (val_reaches(argv[2], argv[0]))
		return vm_raise(vm, "insert: a list cannot contain itself");
	int64_t n = (int64_t)list_len(argv[0]);
	if (i < 0)
		i = i + n < 0 ? 0 : i + n;
	if (i > n)
		i = n;
	list_append(argv[0], argv[2]); /* grows the array; then rotate into place */
	vlist *l = list_of(argv[0]);
	value v = l->items[n];
	memmove(l->items + i + 1, l->items + i, (size_t)(n - i) * sizeof *l->items);
	l->items[i] = v;
	*out = v_none();
	return 0;
}

static int m_index(flow_vm *vm, value *argv, int argc, value *out)
{
	for (size_t i = 0; i < list_len(argv[0]); i++)
		if (val_eq(list_get(argv[0], i), argv[1])) {
			*out = v_int((int64_t)i);
			return 0;
		}
	return repr_raise(vm, "index: %s is not in the list", argv[1]);
}

static int m_count_list(flow_vm *vm, value *argv, int argc, value *out)
{
	int64_t c = 0;
	for (size_t i = 0; i < list_len(argv[0]); i++)
		c += val_eq(list_get(argv[0], i), argv[1]);
	*out = v_int(c);
	return 0;
}

static int m_remove(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_check_mutable(vm, argv[0], "remove") < 0)
		return -1;
	vlist *l = list_of(argv[0]);
	for (size_t i = 0; i < l->len; i++)
		if (val_eq(l->items[i], argv[1])) {
			val_rele(l->items[i]);
			memmove(l->items + i, l->items + i + 1, sizeof *l->items * (l->len - i - 1));
			l->len--;
			*out = v_none();
			return 0;
		}
	return repr_raise(vm, "remove: %s is not in the list", argv[1]);
}

static int m_sort(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_sort(vm, argv[0], argv[1], val_truthy(argv[2])) < 0)
		return -1;
	*out = v_none();
	return 0;
}

static int m_reverse(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_check_mutable(vm, argv[0], "reverse") < 0)
		return -1;
	vlist *l = list_of(argv[0]);
	for (size_t i = 0, j = l->len; i + 1 < j; i++, j--) {
		value t = l->items[i];
		l->items[i] = l->items[j - 1];
		l->items[j - 1] = t;
	}
	*out = v_none();
	return 0;
}

static int m_copy(flow_vm *vm, value *argv, int argc, value *out)
{
	*out = sl_list_copy(argv[0]);
	return 0;
}

/* ---- dict --------------------------------------------------------------- */

static int m_keys(flow_vm *vm, value *argv, int argc, value *out)
{
	return sl_items(vm, argv[0], "keys", out);
}

static int m_values(flow_vm *vm, value *argv, int argc, value *out)
{
	value l = list_new(dict_len(argv[0]));
	size_t it = 0;
	value k, v;
	while (dict_next(argv[0], &it, &k, &v))
		list_append(l, v);
	*out = l;
	return 0;
}

static int m_items(flow_vm *vm, value *argv, int argc, value *out)
{
	value l = list_new(dict_len(argv[0]));
	size_t it = 0;
	value k, v;
	while (dict_next(argv[0], &it, &k, &v)) {
		value p = list_new(2);
		list_append(p, k);
		list_append(p, v);
		list_append_take(l, p);
	}
	*out = l;
	return 0;
}

/* A key is looked at: a future given as one is waited for (a node while
 * lowering), while d.get/d.pop's other arguments stay as they are. */
/* k as a key of dict d: a call's future that is a key of d stays itself
 * (keys by identity), any other future is waited for. */
static int key_value(flow_vm *vm, value d, value k, value *out)
{
	value unused;
	if (k.t != V_FUTURE || vm_dict_get_ref(d, k, &unused)) {
		*out = val_hold(k);
		return 0;
	}
	return sl_resolve(vm, k, out);
}

static int m_get(flow_vm *vm, value *argv, int argc, value *out)
{
	value v, k;
	if (vm_dict_get_ref(argv[0], argv[1], &v)) { /* d.get(ref) with ref a key */
		*out = val_hold(v);
		return 0;
	}
	if (key_value(vm, argv[0], argv[1], &k) < 0)
		return -1;
	*out = val_hold(dict_get(argv[0], k, &v) ? v : argv[2]);
	val_rele(k);
	return 0;
}

static int m_copy_dict(flow_vm *vm, value *argv, int argc, value *out)
{
	*out = dict_thaw(argv[0]);
	return 0;
}

/* d.update(other): other's entries, added or replacing, in other's order. */
static int m_update(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_check_mutable(vm, argv[0], "update") < 0)
		return -1;
	value o = argv[1];
	if (o.t != V_DICT)
		return vm_raise(vm, "update: expected a dict, not %s", sl_type_name(o));
	*out = v_none();
	if (o.as.o == argv[0].as.o)
		return 0; /* d.update(d) changes nothing */
	if (val_reaches(o, argv[0]))
		return vm_raise(vm, "update: a dict cannot contain itself");
	size_t it = 0;
	value k, v;
	verr e;
	while (dict_next(o, &it, &k, &v))
		if (dict_set(argv[0], k, v, &e))
			return vm_raise(vm, "update: %s", e.msg);
	*out = v_none();
	return 0;
}

static int m_pop_dict(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_check_mutable(vm, argv[0], "pop") < 0)
		return -1;
	value v, k;
	if (key_value(vm, argv[0], argv[1], &k) < 0)
		return -1;
	if (!dict_get(argv[0], k, &v)) {
		int rc = 0;
		if (native_is_absent(argv[2]))
			rc = repr_raise(vm, "pop: key %s not found", k);
		else
			*out = val_hold(argv[2]);
		val_rele(k);
		return rc;
	}
	*out = val_hold(v);
	dict_del(argv[0], k);
	val_rele(k);
	return 0;
}

const native_def stdlib_str_methods[] = {
	{ "split", m_split, "sep=none,maxsplit=-1", 0 },
	{ "join", m_join, "xs", 0 },
	{ "strip", m_strip, "chars=none", 0 },
	{ "lstrip", m_lstrip, "chars=none", 0 },
	{ "rstrip", m_rstrip, "chars=none", 0 },
	{ "replace", m_replace, "old,new", 0 },
	{ "find", m_find, "x", 0 },
	{ "count", m_count, "x", 0 },
	{ "startswith", m_startswith, "x", 0 },
	{ "endswith", m_endswith, "x", 0 },
	{ "upper", m_upper, "", 0 },
	{ "lower", m_lower, "", 0 },
	{ "format", m_format, "*", 0 },
	{ "isdigit", m_isdigit, "", 0 },
	{ NULL, NULL, NULL, 0 },
};

const native_def stdlib_list_methods[] = {
	{ "append", m_append, "v", NATIVE_SHAPE },
	{ "extend", m_extend, "ys", NATIVE_SHAPE },
	{ "pop", m_pop_list, "i=-1", NATIVE_SHAPE },
	{ "insert", m_insert, "i,v", NATIVE_SHAPE },
	{ "index", m_index, "v", 0 },
	{ "count", m_count_list, "v", 0 },
	{ "remove", m_remove, "v", 0 },
	{ "sort", m_sort, "key=none,reverse=false", 0 },
	{ "reverse", m_reverse, "", NATIVE_SHAPE },
	{ "copy", m_copy, "", NATIVE_SHAPE },
	{ NULL, NULL, NULL, 0 },
};

const native_def stdlib_dict_methods[] = {
	{ "keys", m_keys, "", NATIVE_SHAPE },
	{ "values", m_values, "", NATIVE_SHAPE },
	{ "items", m_items, "", NATIVE_SHAPE },
	{ "get", m_get, "k,default=none", NATIVE_SHAPE },
	{ "pop", m_pop_dict, "k,default=?", NATIVE_SHAPE },
	{ "copy", m_copy_dict, "", NATIVE_SHAPE },
	{ "update", m_update, "other", NATIVE_SHAPE },
	{ NULL, NULL, NULL, 0 },
};
