/* value_str.c: str() and repr-in-containers text of values (LANGUAGE.md section 3), and shortest float repr.
 *
 * Formats:
 *   none true false  42  -7
 *   floats: Python's repr - shortest digits that read back to the same
 *     double; fixed notation when the decimal exponent is in [-4, 16) with
 *     ".0" on whole numbers, else d[.ddd]e+XX: 0.1 2.0 1e+16 1.5e-05 inf nan
 *   str: itself at top level; inside containers double-quoted with escapes
 *     \" \\ \n \t \r \0 and \u{XX} for other control characters
 *   [1, 2.5, "a"]   {"a": 1, 2: [true]}
 *   tensor with at most 100 elements:
 *     tensor(shape=[2, 2]) [[1.0, 2.0], [3.0, 4.0]]
 *     tensor(shape=[]) 5.0          (0-d)     tensor(shape=[0]) []
 *   larger tensor (a summary, numbers as floats above):
 *     tensor(shape=[1000, 1000], min=-4.2, max=4.5, mean=0.0012)
 *   future/actor/fn: the VM's str hook, else <future>, <actor>, <fn>
 * Nesting deeper than VAL_MAX_DEPTH prints as "...".
 */
#include "value.h"
#include "value_priv.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- floats --------------------------------------------------------------- */

/* Shortest round-trip digits: sets digits (no dot, no sign, trailing zeros
 * stripped) and the decimal exponent of the first digit. d finite, > 0. */
static void shortest_digits(double d, char *digits, int *exp10)
{
	/* If the shortest form has k <= 15 digits, the 15-digit rounding is
	 * exactly it padded with zeros (d is within half an ulp of it, far
	 * less than half a unit in the 15th digit), so strip zeros (normal
	 * numbers only). Otherwise
	 * 16 or 17 digits: round-tripping is monotonic in the digit count. */
	char buf[40];
	/* subnormals have fewer bits: there, search every count */
	for (int prec = d < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
		if (prec == 17 || strtod(buf, NULL) == d)
			break;
	}
	/* buf is d.ddddde[+-]XX */
	char *ep = strchr(buf, 'e');
	*exp10 = atoi(ep + 1);
	size_t n = 0;
	for (char *p = buf; p < ep; p++)
		if (*p != '.')
			digits[n++] = *p;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';
}

void val_float_repr(sbuf *out, double d)
{
	if (isnan(d)) {
		sbuf_adds(out, "nan");
		return;
	}
	if (isinf(d)) {
		sbuf_adds(out, d < 0 ? "-inf" : "inf");
		return;
	}
	if (signbit(d)) {
		sbuf_addc(out, '-');
		d = -d;
	}
	if (d == 0) {
		sbuf_adds(out, "0.0");
		return;
	}
	/* fast path: whole numbers below 1e15 are exact in %.0f */
	if (d < 1e15 && d == floor(d)) {
		sbuf_printf(out, "%.0f.0", d);
		return;
	}
	char digits[24];
	int x;
	shortest_digits(d, digits, &x);
	int n = (int)strlen(digits);
	if (x < -4 || x >= 16) {
		sbuf_addc(out, digits[0]);
		if (n > 1) {
			sbuf_addc(out, '.');
			sbuf_add(out, digits + 1, (size_t)n - 1);
		}
		sbuf_printf(out, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
	} else if (x < 0) {
		sbuf_adds(out, "0.");
		for (int i = 0; i < -x - 1; i++)
			sbuf_addc(out, '0');
		sbuf_add(out, digits, (size_t)n);
	} else {
		/* x+1 integer digits */
		for (int i = 0; i <= x; i++)
			sbuf_addc(out, i < n ? digits[i] : '0');
		sbuf_addc(out, '.');
		if (n > x + 1)
			sbuf_add(out, digits + x + 1, (size_t)(n - x - 1));
		else
			sbuf_addc(out, '0');
	}
}

/* ---- strings -------------------------------------------------------------- */

static void repr_str(sbuf *out, value s)
{
	const unsigned char *p = (const unsigned char *)str_data(s);
	size_t n = str_len(s), run = 0;
	sbuf_reserve(out, n + 2);
	sbuf_addc(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		sbuf_add(out, p + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': sbuf_adds(out, "\\\""); break;
		case '\\': sbuf_adds(out, "\\\\"); break;
		case '\n': sbuf_adds(out, "\\n"); break;
		case '\t': sbuf_adds(out, "\\t"); break;
		case '\r': sbuf_adds(out, "\\r"); break;
		case '\0': sbuf_adds(out, "\\0"); break;
		default: sbuf_printf(out, "\\u{%x}", c); break;
		}
	}
	sbuf_add(out, p + run, n - run);
	sbuf_addc(out, '"');
}

/* ---- tensors --------------------------------------------------------------- */

#define TENSOR_PRINT_MAX 100

static void tensor_values(sbuf *out, const vtensor *t, int dim, size_t *pos)
{
	if (dim == t->ndim) {
		val_float_repr(out, t->data[(*pos)++]);
		return;
	}
	sbuf_addc(out, '[');
	for (int64_t i = 0; i < t->shape[dim]; i++) {
		if (i)
			sbuf_adds(out, ", ");
		tensor_values(out, t, dim + 1, pos);
	}
	sbuf_addc(out, ']');
}

static void repr_tensor(sbuf *out, const vtensor *t)
{
	sbuf_adds(out, "tensor(shape=[");
	for (int i = 0; i < t->ndim; i++)
		sbuf_printf(out, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
	sbuf_addc(out, ']');
	if (t->size <= TENSOR_PRINT_MAX) {
		sbuf_adds(out, ") ");
		size_t pos = 0;
		tensor_values(out, t, 0, &pos);
		return;
	}
	double lo = t->data[0], hi = t->data[0];
	/* four partial sums: faster and a little more accurate */
	double s[4] = { 0, 0, 0, 0 };
	size_t i = 0;
	for (; i + 4 <= t->size; i += 4)
		for (int k = 0; k < 4; k++)
			s[k] += t->data[i + k];
	for (; i < t->size; i++)
		s[0] += t->data[i];
	for (i = 0; i < t->size; i++) {
		double x = t->data[i];
		if (x < lo || isnan(x))
			lo = isnan(lo) ? lo : x;
		if (x > hi || isnan(x))
			hi = isnan(hi) ? hi : x;
	}
	sbuf_adds(out, ", min=");
	val_float_repr(out, lo);
	sbuf_adds(out, ", max=");
	val_float_repr(out, hi);
	sbuf_adds(out, ", mean=");
	val_float_repr(out, ((s[0] + s[1]) + (s[2] + s[3])) / (double)t->size);
	sbuf_addc(out, ')');
}

/* ---- values ----------------------------------------------------------------- */

/* Decimal digits of n, without printf's format parsing (a hot path). */
static void int_text(sbuf *out, int64_t n)
{
	char buf[24], *p = buf + sizeof buf;
	uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (n < 0)
		*--p = '-';
	sbuf_add(out, p, (size_t)(buf + sizeof buf - p));
}

static void repr_depth(sbuf *out, value v, int depth)
{
	switch (v.t) {
	case V_NONE: sbuf_adds(out, "none"); return;
	case V_BOOL: sbuf_adds(out, v.as.b ? "true" : "false"); return;
	case V_INT: int_text(out, v.as.i); return;
	case V_FLOAT: val_float_repr(out, v.as.f); return;
	case V_STR: repr_str(out, v); return;
	case V_TENSOR: repr_tensor(out, tensor_of(v)); return;
	default: break;
	}
	/* a value that shares parts can have far more paths than objects
	 * (x = [x, x] sixty times): its text stops at VAL_MAX_TEXT */
	if (depth >= VAL_MAX_DEPTH || out->len > VAL_MAX_TEXT) {
		sbuf_adds(out, "...");
		return;
	}
	if (v.t == V_LIST) {
		sbuf_addc(out, '[');
		for (size_t i = 0; i < list_len(v); i++) {
			if (i)
				sbuf_adds(out, ", ");
			repr_depth(out, list_get(v, i), depth + 1);
		}
		sbuf_addc(out, ']');
		return;
	}
	if (v.t == V_DICT) {
		sbuf_addc(out, '{');
		size_t i = 0;
		value k, x;
		bool first = true;
		while (dict_next(v, &i, &k, &x)) {
			if (!first)
				sbuf_adds(out, ", ");
			first = false;
			repr_depth(out, k, depth + 1);
			sbuf_adds(out, ": ");
			repr_depth(out, x, depth + 1);
		}
		sbuf_addc(out, '}');
		return;
	}
	const vtype_hooks *h = vtype_hooks_of(v.t);
	if (h && h->str)
		h->str(out, v);
	else
		sbuf_printf(out, "<%s>", vtype_name(v.t));
}

void val_repr(sbuf *out, value v)
{
	repr_depth(out, v, 0);
}

void val_str(sbuf *out, value v)
{
	if (v.t == V_STR)
		sbuf_add(out, str_data(v), str_len(v));
	else
		repr_depth(out, v, 0);
}
