/* value_ops.c: generic operations on values - ==, ordering, hashing, arithmetic with overflow checks, `in`. */
#include "value.h"
#include "value_priv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- comparing numbers exactly ------------------------------------------ */

/* int vs float without rounding the int: -1, 0, 1; NaN sorts above all. */
static int cmp_int_float(int64_t i, double f)
{
	if (isnan(f))
		return -1;
	if (f >= 9223372036854775808.0)
		return -1;
	if (f < -9223372036854775808.0)
		return 1;
	int64_t t = (int64_t)f; /* truncates toward zero; in range */
	if (i != t)
		return i < t ? -1 : 1;
	double frac = f - (double)t; /* exact: f and t are close */
	return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int cmp_float(double a, double b)
{
	if (a < b)
		return -1;
	if (a > b)
		return 1;
	if (a == b)
		return 0;
	/* a NaN is involved: NaN is above every number, equal to NaN */
	return isnan(a) ? (isnan(b) ? 0 : 1) : -1;
}

static bool is_num(uint8_t t)
{
	return t == V_INT || t == V_FLOAT;
}

/* ---- equality ------------------------------------------------------------ */

static bool eq_depth(value a, value b, int depth);

static bool dict_eq(value a, value b, int depth)
{
	if (dict_len(a) != dict_len(b))
		return false;
	size_t i = 0;
	value k, va, vb;
	while (dict_next(a, &i, &k, &va))
		if (!dict_get(b, k, &vb) || !eq_depth(va, vb, depth + 1))
			return false;
	return true;
}

static bool eq_depth(value a, value b, int depth)
{
	if (a.t != b.t) {
		if (a.t == V_INT && b.t == V_FLOAT)
			return !isnan(b.as.f) && cmp_int_float(a.as.i, b.as.f) == 0;
		if (a.t == V_FLOAT && b.t == V_INT)
			return !isnan(a.as.f) && cmp_int_float(b.as.i, a.as.f) == 0;
		return false;
	}
	switch (a.t) {
	case V_NONE: return true;
	case V_BOOL: return a.as.b == b.as.b;
	case V_INT: return a.as.i == b.as.i;
	case V_FLOAT: return a.as.f == b.as.f;
	case V_STR:
		return a.as.o == b.as.o ||
		       (str_len(a) == str_len(b) && memcmp(str_data(a), str_data(b), str_len(a)) == 0);
	default: break;
	}
	if (depth >= VAL_MAX_DEPTH)
		return a.as.o == b.as.o; /* too deep to look inside */
	/* a list or dict equals itself, as in Python: shared parts (x = [x, x]
	 * repeated) are not compared path by path */
	if ((a.t == V_LIST || a.t == V_DICT) && a.as.o == b.as.o)
		return true;
	switch (a.t) {
	case V_LIST: {
		size_t n = list_len(a);
		if (n != list_len(b))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!eq_depth(list_get(a, i), list_get(b, i), depth + 1))
				return false;
		return true;
	}
	case V_DICT:
		return dict_eq(a, b, depth);
	case V_TENSOR: {
		const vtensor *x = tensor_of(a), *y = tensor_of(b);
		if (x->ndim != y->ndim)
			return false;
		for (int i = 0; i < x->ndim; i++)
			if (x->shape[i] != y->shape[i])
				return false;
		for (size_t i = 0; i < x->size; i++)
			if (x->data[i] != y->data[i])
				return false;
		return true;
	}
	default: {
		const vtype_hooks *h = vtype_hooks_of(a.t);
		if (h && h->eq)
			return h->eq(a, b);
		return a.as.o == b.as.o;
	}
	}
}

bool val_eq(value a, value b)
{
	return eq_depth(a, b, 0);
}

/* ---- ordering -------------------------------------------------------------- */

int val_cmp_depth(value a, value b, int *result, verr *e, int depth)
{
	uint8_t ta = a.t == V_BOOL ? V_INT : a.t, tb = b.t == V_BOOL ? V_INT : b.t;
	if (is_num(ta) && is_num(tb)) {
		int64_t ia = a.t == V_BOOL ? a.as.b : a.as.i;
		int64_t ib = b.t == V_BOOL ? b.as.b : b.as.i;
		if (ta == V_INT && tb == V_INT)
			*result = ia < ib ? -1 : ia > ib;
		else if (ta == V_INT)
			*result = cmp_int_float(ia, b.as.f);
		else if (tb == V_INT)
			*result = -cmp_int_float(ib, a.as.f);
		else
			*result = cmp_float(a.as.f, b.as.f);
		return 0;
	}
	if (a.t == V_STR && b.t == V_STR) {
		/* UTF-8 byte order is code point order */
		size_t la = str_len(a), lb = str_len(b);
		int c = memcmp(str_data(a), str_data(b), la < lb ? la : lb);
		*result = c < 0 ? -1 : c > 0 ? 1 : la < lb ? -1 : la > lb;
		return 0;
	}
	if (a.t == V_LIST && b.t == V_LIST) {
		if (depth >= VAL_MAX_DEPTH) {
			verr_setc(e, FLOW_ETOOBIG, "comparison: value too deeply nested");
			return -1;
		}
		size_t la = list_len(a), lb = list_len(b);
		for (size_t i = 0; i < la && i < lb; i++) {
			value x = list_get(a, i), y = list_get(b, i);
			if (eq_depth(x, y, depth + 1))
				continue;
			return val_cmp_depth(x, y, result, e, depth + 1);
		}
		*result = la < lb ? -1 : la > lb;
		return 0;
	}
	verr_set(e, "'<' not supported between '%s' and '%s'", vtype_name(a.t), vtype_name(b.t));
	return -1;
}

int val_cmp(value a, value b, int *result, verr *e)
{
	return val_cmp_depth(a, b, result, e, 0);
}

/* ---- hashing ------------------------------------------------------------------ */

static uint64_t hash_depth(value v, int depth)
{
	switch (v.t) {
	case V_NONE: return 0x6e6f6e65;
	case V_BOOL: return hash_mix(v.as.b ? 0x1234567ull : 0x7654321ull) ^ 0xb00b;
	case V_INT: return hash_mix((uint64_t)v.as.i);
	case V_FLOAT: {
		double f = v.as.f;
		/* whole floats hash as the equal int */
		if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 && f == floor(f))
			return hash_mix((uint64_t)(int64_t)f);
		uint64_t bits;
		memcpy(&bits, &f, 8);
		return hash_mix(bits ^ 0xf10a7);
	}
	case V_STR: return str_hash(v);
	default: break;
	}
	if (depth >= VAL_MAX_DEPTH)
		return hash_mix((uint64_t)(uintptr_t)v.as.o);
	if (v.t == V_LIST) {
		uint64_t h = 0x11571;
		for (size_t i = 0; i < list_len(v); i++)
			h = hash_mix(h ^ hash_depth(list_get(v, i), depth + 1));
		return h;
	}
	if (v.t == V_DICT) {
		/* order-independent: equal dicts may differ in order */
		uint64_t h = 0xd1c7;
		size_t i = 0;
		value k, x;
		while (dict_next(v, &i, &k, &x))
			h += hash_mix(hash_depth(k, depth + 1) ^ (hash_depth(x, depth + 1) * 31));
		return h;
	}
	if (v.t == V_TENSOR) {
		const vtensor *t = tensor_of(v);
		uint64_t h = (uint64_t)t->ndim;
		for (int i = 0; i < t->ndim; i++)
			h = hash_mix(h ^ (uint64_t)t->shape[i]);
		for (size_t i = 0; i < t->size; i++) {
			double f = t->data[i] == 0 ? 0.0 : t->data[i];
			uint64_t bits;
			memcpy(&bits, &f, 8);
			h = hash_mix(h ^ bits);
		}
		return h;
	}
	return hash_mix((uint64_t)(uintptr_t)v.as.o);
}

uint64_t val_hash(value v)
{
	return hash_depth(v, 0);
}

/* ---- arithmetic -------------------------------------------------------------- */

static const char *op_name(int op)
{
	switch (op) {
	case '+': return "+";
	case '-': return "-";
	case '*': return "*";
	case '/': return "/";
	case 'f': return "//";
	case '%': return "%";
	case 'p': return "**";
	case '@': return "@";
	default: return "?";
	}
}

static int bad_operands(int op, value a, value b, verr *e)
{
	verr_set(e, "unsupported operand types for %s: '%s' and '%s'",
	         op_name(op), vtype_name(a.t), vtype_name(b.t));
	return -1;
}

static int overflow(int op, verr *e)
{
	verr_set(e, "integer overflow in %s", op_name(op));
	return -1;
}

static int div_zero(verr *e)
{
	verr_set(e, "division by zero");
	return -1;
}

static int int_pow(int64_t base, int64_t ex, int64_t *out)
{
	if (base == 1 || ex == 0) {
		*out = 1;
		return 0;
	}
	if (base == 0 || base == -1) {
		*out = base == 0 ? 0 : (ex & 1) ? -1 : 1;
		return 0;
	}
	int64_t r = 1;
	for (;;) {
		if ((ex & 1) && __builtin_mul_overflow(r, base, &r))
			return -1;
		ex >>= 1;
		if (!ex)
			break;
		/* |base| >= 2 and more bits remain: base*base is needed */
		if (__builtin_mul_overflow(base, base, &base))
			return -1;
	}
	*out = r;
	return 0;
}

static int arith_int(int op, int64_t x, int64_t y, value *out, verr *e)
{
	int64_t r;
	switch (op) {
	case '+':
		if (__builtin_add_overflow(x, y, &r))
			return overflow(op, e);
		break;
	case '-':
		if (__builtin_sub_overflow(x, y, &r))
			return overflow(op, e);
		break;
	case '*':
		if (__builtin_mul_overflow(x, y, &r))
			return overflow(op, e);
		break;
	case '/':
		if (y == 0)
			return div_zero(e);
		*out = v_float((double)x / (double)y);
		return 0;
	case 'f':
		if (y == 0)
			return div_zero(e);
		if (x == INT64_MIN && y == -1)
			return overflow(op, e);
		r = x / y;
		if ((x % y != 0) && ((x < 0) != (y < 0)))
			r--;
		break;
	case '%':
		if (y == 0)
			return div_zero(e);
		if (y == -1) {
			r = 0; /* also INT64_MIN % -1, which C leaves undefined */
			break;
		}
		r = x % y;
		if (r != 0 && ((r < 0) != (y < 0)))
			r += y;
		break;
	case 'p':
		if (y < 0) {
			if (x == 0) {
				verr_set(e, "division by zero: 0 cannot be raised to a negative power");
				return -1;
			}
			*out = v_float(pow((double)x, (double)y));
			return 0;
		}
		if (int_pow(x, y, &r) < 0)
			return overflow(op, e);
		break;
	default:
		return bad_operands(op, v_int(x), v_int(y), e);
	}
	*out = v_int(r);
	return 0;
}

/* Python's float floor division and modulo (float_divmod). */
static void float_divmod(double x, double y, double *fdiv, double *fmod_out)
{
	double mod = fmod(x, y);
	double div = (x - mod) / y;
	if (mod != 0) {
		if ((y < 0) != (mod < 0)) {
			mod += y;
			div -= 1.0;
		}
	} else {
		mod = copysign(0.0, y);
	}
	double fl;
	if (div != 0) {
		fl = floor(div);
		if (div - fl > 0.5)
			fl += 1.0;
	} else {
		fl = copysign(0.0, x / y);
	}
	*fdiv = fl;
	*fmod_out = mod;
}

static int arith_float(int op, double x, double y, value *out, verr *e)
{
	double r, q, m;
	switch (op) {
	case '+': r = x + y; break;
	case '-': r = x - y; break;
	case '*': r = x * y; break;
	case '/':
		if (y == 0)
			return div_zero(e);
		r = x / y;
		break;
	case 'f':
	case '%':
		if (y == 0)
			return div_zero(e);
		float_divmod(x, y, &q, &m);
		r = op == 'f' ? q : m;
		break;
	case 'p':
		if (x == 0 && y < 0) {
			verr_set(e, "division by zero: 0.0 cannot be raised to a negative power");
			return -1;
		}
		if (x < 0 && isfinite(y) && y != floor(y)) {
			verr_set(e, "negative number cannot be raised to a fractional power");
			return -1;
		}
		r = pow(x, y);
		if (isinf(r) && isfinite(x) && isfinite(y)) {
			verr_set(e, "float overflow in **");
			return -1;
		}
		break;
	default:
		return bad_operands(op, v_float(x), v_float(y), e);
	}
	*out = v_float(r);
	return 0;
}

static double num_of(value v)
{
	return v.t == V_INT ? (double)v.as.i : v.as.f;
}

static bool same_shape(const vtensor *a, const vtensor *b)
{
	if (a->ndim != b->ndim)
		return false;
	for (int i = 0; i < a->ndim; i++)
		if (a->shape[i] != b->shape[i])
			return false;
	return true;
}

static void shape_text(char *buf, size_t n, const vtensor *t)
{
	size_t k = 0;
	k += (size_t)snprintf(buf + k, n - k, "[");
	for (int i = 0; i < t->ndim && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
}

/* Elementwise tensor arithmetic; a scalar (or a one-element tensor) on
 * either side is broadcast. IEEE rules: x/0 is inf, not an error. */
static int arith_tensor(int op, value a, value b, value *out, verr *e)
{
	if (op != '+' && op != '-' && op != '*' && op != '/')
		return bad_operands(op, a, b, e);
	const vtensor *ta = a.t == V_TENSOR ? tensor_of(a) : NULL;
	const vtensor *tb = b.t == V_TENSOR ? tensor_of(b) : NULL;
	if ((!ta && !is_num(a.t)) || (!tb && !is_num(b.t)))
		return bad_operands(op, a, b, e);
	double sa = 0, sb = 0;
	const double *pa = NULL, *pb = NULL;
	const vtensor *shape = NULL;
	if (ta && tb && !same_shape(ta, tb)) {
		if (ta->size == 1 && tb->size != 1) {
			sa = ta->data[0];
			ta = NULL;
		} else if (tb->size == 1) {
			sb = tb->data[0];
			tb = NULL;
		} else {
			char s1[128], s2[128];
			shape_text(s1, sizeof s1, ta);
			shape_text(s2, sizeof s2, tb);
			verr_set(e, "tensor shapes do not match for %s: %s and %s", op_name(op), s1, s2);
			return -1;
		}
	}
	if (ta) {
		pa = ta->data;
		shape = ta;
	} else if (a.t != V_TENSOR) {
		sa = num_of(a);
	}
	if (tb) {
		pb = tb->data;
		if (!shape)
			shape = tb;
	} else if (b.t != V_TENSOR) {
		sb = num_of(b);
	}
	value r;
	if (tensor_new_raw(shape->ndim, shape->shape, &r, e) < 0) /* every element set below */
		return -1;
	double *d = tensor_of(r)->data;
	size_t n = shape->size;
#define TENSOR_LOOP(EXPR)                                                 \
	do {                                                              \
		if (pa && pb)                                             \
			for (size_t i = 0; i < n; i++) {                  \
				double x = pa[i], y = pb[i];              \
				d[i] = EXPR;                              \
			}                                                 \
		else if (pa)                                              \
			for (size_t i = 0; i < n; i++) {                  \
				double x = pa[i], y = sb;                 \
				d[i] = EXPR;                              \
			}                                                 \
		else                                                      \
			for (size_t i = 0; i < n; i++) {                  \
				double x = sa, y = pb[i];                 \
				d[i] = EXPR;                              \
			}                                                 \
	} while (0)
	switch (op) {
	case '+': TENSOR_LOOP(x + y); break;
	case '-': TENSOR_LOOP(x - y); break;
	case '*': TENSOR_LOOP(x * y); break;
	default: TENSOR_LOOP(x / y); break;
	}
#undef TENSOR_LOOP
	*out = r;
	return 0;
}

int val_arith(int op, value a, value b, value *out, verr *e)
{
	/* the hot cases first, with no allocation */
	if (a.t == V_INT && b.t == V_INT)
		return arith_int(op, a.as.i, b.as.i, out, e);
	if (is_num(a.t) && is_num(b.t)) {
		if (op == 'p' && a.t == V_INT && b.t == V_INT)
			return arith_int(op, a.as.i, b.as.i, out, e);
		return arith_float(op, num_of(a), num_of(b), out, e);
	}
	if (op == '@') {
		verr_set(e, "unsupported operand types for @: '%s' and '%s' (matrix product is tensor.matmul)",
		         vtype_name(a.t), vtype_name(b.t));
		return -1;
	}
	if (a.t == V_TENSOR || b.t == V_TENSOR)
		return arith_tensor(op, a, b, out, e);
	/* the caps str_repeat/list_repeat keep (1 GiB, 1e8 items): `s = s + s`
	 * in a loop fails the call with a message, not the process by OOM */
	if (op == '+' && a.t == V_STR && b.t == V_STR) {
		if ((uint64_t)str_len(a) + str_len(b) > (1ull << 30)) {
			verr_set(e, "string too large: %llu bytes is over the 1 GiB cap",
			         (unsigned long long)str_len(a) + str_len(b));
			return -1;
		}
		*out = str_concat(a, b);
		return 0;
	}
	if (op == '+' && a.t == V_LIST && b.t == V_LIST) {
		if ((uint64_t)list_len(a) + list_len(b) > 100000000u) {
			verr_set(e, "list too large: %llu items is over the cap of 100000000",
			         (unsigned long long)list_len(a) + list_len(b));
			return -1;
		}
		*out = list_concat(a, b);
		return 0;
	}
	if (op == '*') {
		if (a.t == V_STR && b.t == V_INT)
			return str_repeat(a, b.as.i, out, e);
		if (a.t == V_INT && b.t == V_STR)
			return str_repeat(b, a.as.i, out, e);
		if (a.t == V_LIST && b.t == V_INT)
			return list_repeat(a, b.as.i, out, e);
		if (a.t == V_INT && b.t == V_LIST)
			return list_repeat(b, a.as.i, out, e);
	}
	return bad_operands(op, a, b, e);
}

int val_neg(value a, value *out, verr *e)
{
	switch (a.t) {
	case V_INT:
		if (a.as.i == INT64_MIN) {
			verr_set(e, "integer overflow in unary -");
			return -1;
		}
		*out = v_int(-a.as.i);
		return 0;
	case V_FLOAT:
		*out = v_float(-a.as.f);
		return 0;
	case V_TENSOR: {
		const vtensor *t = tensor_of(a);
		if (tensor_new(t->ndim, t->shape, out, e) < 0)
			return -1;
		double *d = tensor_of(*out)->data;
		for (size_t i = 0; i < t->size; i++)
			d[i] = -t->data[i];
		return 0;
	}
	default:
		verr_set(e, "bad operand type for unary -: '%s'", vtype_name(a.t));
		return -1;
	}
}

int val_contains(value c, value item, bool *out, verr *e)
{
	switch (c.t) {
	case V_STR:
		if (item.t != V_STR) {
			verr_set(e, "'in <str>' requires a str as left operand, not %s", vtype_name(item.t));
			return -1;
		}
		*out = str_len(item) == 0 ||
		       memmem(str_data(c), str_len(c), str_data(item), str_len(item)) != NULL;
		return 0;
	case V_LIST:
		*out = false;
		for (size_t i = 0; i < list_len(c); i++)
			if (val_eq(list_get(c, i), item)) {
				*out = true;
				break;
			}
		return 0;
	case V_DICT: {
		value v;
		*out = dict_get(c, item, &v); /* non-key types are simply absent */
		return 0;
	}
	case V_TENSOR: {
		if (!is_num(item.t)) {
			*out = false;
			return 0;
		}
		double x = num_of(item);
		const vtensor *t = tensor_of(c);
		*out = false;
		for (size_t i = 0; i < t->size; i++)
			if (t->data[i] == x) {
				*out = true;
				break;
			}
		return 0;
	}
	default:
		verr_set(e, "argument of type '%s' is not iterable", vtype_name(c.t));
		return -1;
	}
}
