/* args.c - argument checks and UTF-8 helpers shared by the stdlib natives. */
#include <string.h>

#include "lang/bytecode.h"
#include "stdlib_impl.h"

int sl_int(flow_vm *vm, value v, const char *fn, const char *what, int64_t *out)
{
	if (v.t == V_FUTURE) {
		/* an index given to a shape-only method (xs.pop(i)) */
		value x;
		if (sl_resolve(vm, v, &x) < 0)
			return -1;
		int rc = sl_int(vm, x, fn, what, out);
		val_rele(x);
		return rc;
	}
	if (v.t != V_INT)
		return vm_raise(vm, "%s: %s must be an int, not %s", fn, what, sl_type_name(v));
	*out = v.as.i;
	return 0;
}

bool sl_is_num(value v)
{
	return v.t == V_INT || v.t == V_FLOAT;
}

int sl_num(flow_vm *vm, value v, const char *fn, const char *what, double *out)
{
	if (v.t == V_INT)
		*out = (double)v.as.i;
	else if (v.t == V_FLOAT)
		*out = v.as.f;
	else
		return vm_raise(vm, "%s: %s must be a number, not %s", fn, what, sl_type_name(v));
	return 0;
}

int sl_str(flow_vm *vm, value v, const char *fn, const char *what)
{
	if (v.t != V_STR)
		return vm_raise(vm, "%s: %s must be a str, not %s", fn, what, sl_type_name(v));
	return 0;
}

/* vm_get_deep returns v itself (held) when it holds no future. */
int sl_resolve(flow_vm *vm, value v, value *out)
{
	return vm_get_deep(vm, v, out);
}

int sl_items(flow_vm *vm, value v, const char *fn, value *out)
{
	value r;
	if (v.t == V_FUTURE) {
		if (vm_get_deep(vm, v, &r) < 0)
			return -1;
	} else {
		r = val_hold(v);
	}
	if (r.t == V_LIST) {
		*out = r;
		return 0;
	}
	value l;
	if (r.t == V_STR) {
		l = list_new(str_of(r)->cplen);
		const char *s = str_data(r);
		size_t n = str_len(r), i = 0;
		while (i < n) {
			uint32_t cp;
			size_t k = sl_utf8_next(s + i, n - i, &cp);
			list_append_take(l, str_new(s + i, k));
			i += k;
		}
	} else if (r.t == V_DICT) {
		l = list_new(dict_len(r));
		size_t it = 0;
		value k, x;
		while (dict_next(r, &it, &k, &x))
			list_append(l, k);
	} else {
		const char *t = sl_type_name(r);
		val_rele(r);
		return vm_raise(vm, "%s: expected a list, str or dict, not %s", fn, t);
	}
	val_rele(r);
	*out = l;
	return 0;
}

value sl_list_copy(value l)
{
	size_t n = list_len(l);
	value c = list_new(n);
	for (size_t i = 0; i < n; i++)
		list_append(c, list_get(l, i));
	return c;
}

const char *sl_type_name(value v)
{
	if (v.t == V_FUNC) {
		const vfunc *f = (const vfunc *)v.as.o;
		if (f->h.extra == FUNC_PROTO && f->proto && f->proto->kind == PROTO_TASK)
			return "task";
		return "fn";
	}
	return vtype_name((vtype)v.t);
}

const char *sl_func_name(value v)
{
	const vfunc *f = (const vfunc *)v.as.o;
	switch (f->h.extra) {
	case FUNC_PROTO: return f->proto ? f->proto->name : "?";
	case FUNC_NATIVE: return f->native ? f->native->name : "?";
	default: return f->method ? f->method : "?";
	}
}

int sl_check_mutable(flow_vm *vm, value v, const char *what)
{
	if (val_is_frozen(v))
		return vm_raise(vm, "%s: this %s is frozen (shared with another task); "
		                "copy it first with %s(x)", what, vtype_name((vtype)v.t),
		                vtype_name((vtype)v.t));
	return 0;
}

size_t sl_utf8_next(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 1;
	uint32_t c = u[0];
	if (c >= 0xF0)
		n = 4, c &= 0x07;
	else if (c >= 0xE0)
		n = 3, c &= 0x0F;
	else if (c >= 0xC0)
		n = 2, c &= 0x1F;
	if (n > len)
		n = len;
	for (size_t i = 1; i < n; i++)
		c = (c << 6) | (u[i] & 0x3F);
	*cp = c;
	return n;
}

void sl_utf8_put(sbuf *b, uint32_t cp)
{
	char t[4];
	size_t n;
	if (cp < 0x80) {
		t[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xC0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xE0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		t[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		t[0] = (char)(0xF0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		t[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	sbuf_add(b, t, n);
}

value sl_str_lossy(const char *s, size_t len)
{
	if (str_utf8_valid(s, len))
		return str_new(s, len);
	sbuf b;
	sbuf_init(&b);
	size_t i = 0;
	while (i < len) {
		/* Take the longest valid sequence start (1-4 bytes) here. */
		size_t k;
		for (k = 4; k >= 1; k--)
			if (i + k <= len && str_utf8_valid(s + i, k))
				break;
		if (k == 0) {
			sl_utf8_put(&b, 0xFFFD);
			i++;
		} else {
			sbuf_add(&b, s + i, k);
			i += k;
		}
	}
	return str_take_sbuf(&b);
}
