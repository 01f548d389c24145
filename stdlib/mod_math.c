/* mod_math.c - the `math` module: functions of floats with Python's domain
 * and range errors, and the constants pi, e, inf, nan. */
#include <math.h>

#include "stdlib_impl.h"

static int domain(flow_vm *vm, const char *fn)
{
	return vm_raise(vm, "math.%s: math domain error", fn);
}

/* Result check shared by the one-argument functions. */
static int finish(flow_vm *vm, const char *fn, double x, double r, value *out)
{
	if (isnan(r) && !isnan(x))
		return domain(vm, fn);
	if (isinf(r) && !isinf(x))
		return vm_raise(vm, "math.%s: math range error", fn);
	*out = v_float(r);
	return 0;
}

#define UNARY(name, expr, bad) \
	static int m_##name(flow_vm *vm, value *argv, int argc, value *out) \
	{ \
		double x; \
		if (sl_num(vm, argv[0], "math." #name, "x", &x) < 0) \
			return -1; \
		if (bad) \
			return domain(vm, #name); \
		return finish(vm, #name, x, (expr), out); \
	}

UNARY(sqrt, sqrt(x), x < 0)
UNARY(exp, exp(x), false)
UNARY(log2, log2(x), x <= 0)
UNARY(sin, sin(x), isinf(x))
UNARY(cos, cos(x), isinf(x))
UNARY(tan, tan(x), isinf(x))
UNARY(fabs, fabs(x), false)

static int m_log(flow_vm *vm, value *argv, int argc, value *out)
{
	double x, base;
	if (sl_num(vm, argv[0], "math.log", "x", &x) < 0)
		return -1;
	if (x <= 0)
		return domain(vm, "log");
	double r = log(x);
	if (!native_is_absent(argv[1])) {
		if (sl_num(vm, argv[1], "math.log", "base", &base) < 0)
			return -1;
		if (base <= 0 || base == 1)
			return domain(vm, "log");
		r /= log(base);
	}
	*out = v_float(r);
	return 0;
}

static int m_pow(flow_vm *vm, value *argv, int argc, value *out)
{
	double x, y;
	if (sl_num(vm, argv[0], "math.pow", "x", &x) < 0 || sl_num(vm, argv[1], "math.pow", "y", &y) < 0)
		return -1;
	if ((x < 0 && isfinite(x) && isfinite(y) && y != floor(y)) || (x == 0 && y < 0))
		return domain(vm, "pow");
	double r = pow(x, y);
	if (isinf(r) && isfinite(x) && isfinite(y))
		return vm_raise(vm, "math.pow: math range error");
	*out = v_float(r);
	return 0;
}

/* floor/ceil give ints, as Python's do. */
static int to_int(flow_vm *vm, const char *fn, double r, value *out)
{
	if (isnan(r) || isinf(r))
		return vm_raise(vm, "math.%s: cannot convert %s to int", fn, isnan(r) ? "nan" : "inf");
	if (r >= 9223372036854775808.0 || r < -9223372036854775808.0)
		return vm_raise(vm, "math.%s: %g is out of the int range", fn, r);
	*out = v_int((int64_t)r);
	return 0;
}

static int m_floor(flow_vm *vm, value *argv, int argc, value *out)
{
	if (argv[0].t == V_INT) {
		*out = argv[0];
		return 0;
	}
	double x;
	if (sl_num(vm, argv[0], "math.floor", "x", &x) < 0)
		return -1;
	return to_int(vm, "floor", floor(x), out);
}

static int m_ceil(flow_vm *vm, value *argv, int argc, value *out)
{
	if (argv[0].t == V_INT) {
		*out = argv[0];
		return 0;
	}
	double x;
	if (sl_num(vm, argv[0], "math.ceil", "x", &x) < 0)
		return -1;
	return to_int(vm, "ceil", ceil(x), out);
}

static int m_isnan(flow_vm *vm, value *argv, int argc, value *out)
{
	double x;
	if (sl_num(vm, argv[0], "math.isnan", "x", &x) < 0)
		return -1;
	*out = v_bool(isnan(x));
	return 0;
}

/* hypot(*coords): the Euclidean norm, without overflow on the way. */
static int m_hypot(flow_vm *vm, value *argv, int argc, value *out)
{
	double r = 0;
	bool inf = false;
	for (int i = 0; i < argc; i++) {
		double x;
		if (sl_num(vm, argv[i], "math.hypot", "a coordinate", &x) < 0)
			return -1;
		inf |= isinf(x);
		r = hypot(r, x);
	}
	*out = v_float(inf ? INFINITY : r);
	return 0;
}

/* isclose as Python's: |a-b| <= max(rel_tol * max(|a|, |b|), abs_tol). */
static int m_isclose(flow_vm *vm, value *argv, int argc, value *out)
{
	double a, b, rel, abs_tol;
	if (sl_num(vm, argv[0], "math.isclose", "a", &a) < 0 ||
	    sl_num(vm, argv[1], "math.isclose", "b", &b) < 0 ||
	    sl_num(vm, argv[2], "math.isclose", "rel_tol", &rel) < 0 ||
	    sl_num(vm, argv[3], "math.isclose", "abs_tol", &abs_tol) < 0)
		return -1;
	if (rel < 0 || abs_tol < 0)
		return vm_raise(vm, "math.isclose: tolerances must be non-negative");
	bool r;
	if (a == b)
		r = true;
	else if (isinf(a) || isinf(b))
		r = false;
	else {
		double d = fabs(b - a);
		r = (d <= fabs(rel * b)) || (d <= fabs(rel * a)) || d <= abs_tol;
	}
	*out = v_bool(r);
	return 0;
}

static const native_def fns[] = {
	{ "sqrt", m_sqrt, "x", 0 },
	{ "exp", m_exp, "x", 0 },
	{ "log", m_log, "x,base=?", 0 },
	{ "log2", m_log2, "x", 0 },
	{ "pow", m_pow, "x,y", 0 },
	{ "floor", m_floor, "x", 0 },
	{ "ceil", m_ceil, "x", 0 },
	{ "sin", m_sin, "x", 0 },
	{ "cos", m_cos, "x", 0 },
	{ "tan", m_tan, "x", 0 },
	{ "fabs", m_fabs, "x", 0 },
	{ "isnan", m_isnan, "x", 0 },
	{ "hypot", m_hypot, "*", 0 },
	{ "isclose", m_isclose, "a,b,rel_tol=1e-09,abs_tol=0.0", 0 },
	{ NULL, NULL, NULL, 0 },
};

static const const_def consts[] = {
	{ "pi", 3.14159265358979323846 },
	{ "e", 2.71828182845904523536 },
	{ "inf", INFINITY },
	{ "nan", NAN },
	{ NULL, 0 },
};

const module_def stdlib_mod_math = { "math", fns, consts };
