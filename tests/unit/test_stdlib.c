/* test_stdlib.c - the standard library's natives, called directly (the VM's
 * argument matching is emulated from each native's params string). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lang/bytecode.h"
#include "lang/vm.h"
#include "stdlib/stdlib.h"
#include "lang/tensor_ops.h"

/* ---- a VM with a recording host ---------------------------------------- */

static flow_vm *vm;
static bc_program prog;
static sbuf printed;
static double slept;
static char tmpdir[64];

static void h_print(flow_vm *v, const char *text, size_t len)
{
	sbuf_add(&printed, text, len);
	sbuf_addc(&printed, '\n');
}

static int h_sleep(flow_vm *v, double s)
{
	slept += s;
	return 0;
}

static int h_get(flow_vm *v, value f, value *out)
{
	const vfuture *fu = (const vfuture *)f.as.o;
	if (fu->state != FUT_DONE)
		return vm_raise(v, "future failed");
	*out = val_hold(fu->result);
	return 0;
}

static int h_put(flow_vm *v, value x, value *out)
{
	*out = future_new_done(x);
	return 0;
}

/* Ready: the first n; pending: the rest. */
static int h_wait(flow_vm *v, value fs, int64_t n, double timeout, value *out)
{
	value r = list_new(2), ready = list_new(0), pending = list_new(0);
	for (size_t i = 0; i < list_len(fs); i++)
		list_append(i < (size_t)n ? ready : pending, list_get(fs, i));
	list_append_take(r, ready);
	list_append_take(r, pending);
	*out = r;
	return 0;
}

static const flow_host_ops host = {
	.get = h_get, .put = h_put, .wait = h_wait, .print = h_print, .sleep = h_sleep,
};

static int setup(void **state)
{
	vm_types_init();
	vm_context ctx = { .host = &host };
	rng_seed(&ctx.rng, 1);
	vm = vm_new(&prog, &ctx);
	sbuf_init(&printed);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/flow-stdlib-XXXXXX");
	return vm && mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return -1;
	sbuf_fini(&printed);
	vm_free(vm);
	return 0;
}

/* ---- calling natives ---------------------------------------------------- */

static const native_def *B(const char *name)
{
	const native_def *d = native_builtin(name);
	if (!d)
		fail_msg("no builtin %s", name);
	return d;
}

static const native_def *F(const char *mod, const char *name)
{
	const native_def *d = native_module_fn(native_module(mod), name);
	if (!d)
		fail_msg("no %s.%s", mod, name);
	return d;
}

static const native_def *M(vtype t, const char *name)
{
	const native_def *d = native_method(t, name);
	if (!d)
		fail_msg("no method %s", name);
	return d;
}

/* Calls d with n args (consumed) as the VM would: missing optional ones
 * filled from params. Methods take the receiver as a[0]. */
static int invoke(const native_def *d, bool method, int n, value *a, value *out)
{
	const native_params *p = native_params_of(d);
	assert_non_null(p);
	value argv[NATIVE_MAX_PARAMS + 1];
	int argc = n;
	for (int i = 0; i < n; i++)
		argv[i] = a[i];
	if (p->n >= 0) {
		int off = method ? 1 : 0;
		assert_true(n - off >= p->nrequired && n - off <= p->n);
		for (int i = n - off; i < p->n; i++)
			argv[argc++] = val_hold(p->defaults[i]);
	}
	*out = v_none();
	int r = d->fn(vm, argv, argc, out);
	for (int i = 0; i < argc; i++)
		val_rele(argv[i]);
	return r;
}

#define ARGS(...) (int)(sizeof((value[]){ __VA_ARGS__ }) / sizeof(value)), (value[]){ __VA_ARGS__ }

static value ok_call(const native_def *d, bool method, int n, value *a)
{
	value out;
	if (invoke(d, method, n, a, &out) != 0)
		fail_msg("%s failed: %s", d->name, vm_error(vm));
	return out;
}

static void err_call(const native_def *d, bool method, int n, value *a, const char *want)
{
	value out;
	if (invoke(d, method, n, a, &out) == 0) {
		val_rele(out);
		fail_msg("%s succeeded; expected an error with '%s'", d->name, want);
	}
	const char *msg = vm_error(vm);
	if (!msg || !strstr(msg, want))
		fail_msg("%s: error '%s' does not contain '%s'", d->name, msg ? msg : "(null)", want);
}

#define CALL(d, ...) ok_call(d, false, ARGS(__VA_ARGS__))
#define CALL0(d) ok_call(d, false, 0, NULL)
#define METH(t, name, ...) ok_call(M(t, name), true, ARGS(__VA_ARGS__))
#define ERR(want, d, ...) err_call(d, false, ARGS(__VA_ARGS__), want)
#define ERR0(want, d) err_call(d, false, 0, NULL, want)
#define MERR(want, t, name, ...) err_call(M(t, name), true, ARGS(__VA_ARGS__), want)

static value S(const char *s) { return str_from_c(s); }
static value I(int64_t i) { return v_int(i); }
static value D(double d) { return v_float(d); }

/* A list of n values (consumed). */
static value L(int n, ...)
{
	va_list ap;
	va_start(ap, n);
	value l = list_new((size_t)n);
	for (int i = 0; i < n; i++)
		list_append_take(l, va_arg(ap, value));
	va_end(ap);
	return l;
}

/* Checks repr(v) and releases v. */
static void expect(value v, const char *repr)
{
	sbuf b;
	sbuf_init(&b);
	val_repr(&b, v);
	if (strcmp(b.data ? b.data : "", repr) != 0)
		fail_msg("got %s, expected %s", b.data, repr);
	sbuf_fini(&b);
	val_rele(v);
}

static value fn_value(const native_def *d)
{
	vfunc *f = vobj_alloc(sizeof *f, V_FUNC);
	f->h.extra = FUNC_NATIVE;
	f->native = d;
	return v_obj(&f->h);
}

/* ---- registry --------------------------------------------------------- */

static void test_registry(void **state)
{
	/* Every native's params parse (abort otherwise) and look-ups work. */
	for (const char *const *n = native_builtin_names(); *n; n++)
		assert_non_null(native_params_of(native_builtin(*n)));
	int nmod = 0;
	for (const char *const *m = native_module_names(); *m; m++, nmod++) {
		const module_def *md = native_module(*m);
		assert_non_null(md);
		for (const native_def *d = md->fns; d->name; d++)
			assert_non_null(native_params_of(d));
	}
	assert_int_equal(nmod, 9); /* time math random tensor str io proc sys cluster */
	vtype ts[] = { V_STR, V_LIST, V_DICT };
	for (int i = 0; i < 3; i++)
		for (const char *const *n = native_method_names(ts[i]); *n; n++)
			assert_non_null(native_params_of(native_method(ts[i], *n)));
	assert_null(native_method_names(V_INT)[0]);
	assert_null(native_builtin("sqaure"));
	assert_non_null(native_module_fn(native_module("cluster"), "nodes"));
	assert_null(native_module("clusters"));
	assert_null(native_module_fn(native_module("math"), "nope"));
	assert_true(native_module_const(native_module("math"), "pi")->value == M_PI);
	assert_true(isinf(native_module_const(native_module("math"), "inf")->value));
	assert_null(native_module_const(native_module("time"), "pi"));

	const native_params *p = native_params_of(B("sorted"));
	assert_int_equal(p->n, 3);
	assert_int_equal(p->nrequired, 1);
	assert_string_equal(p->names[1], "key");
	assert_int_equal(p->defaults[1].t, V_NONE);
	assert_false(native_is_absent(p->defaults[1]));
	assert_true(p->defaults[2].t == V_BOOL && !p->defaults[2].as.b);
	assert_int_equal(native_params_of(B("print"))->n, -1);
	assert_true(native_is_absent(native_params_of(B("reduce"))->defaults[2]));
	p = native_params_of(B("str"));
	assert_true(p->defaults[0].t == V_STR && val_is_frozen(p->defaults[0]));
	p = native_params_of(F("tensor", "normal"));
	assert_true(p->defaults[2].t == V_FLOAT && p->defaults[2].as.f == 1.0);
	assert_int_equal(native_params_of(M(V_LIST, "pop"))->defaults[0].as.i, -1);

	assert_true(native_method_mutates("append") && native_method_mutates("pop"));
	assert_true(native_method_mutates("insert") && native_method_mutates("extend"));
	assert_false(native_method_mutates("split") || native_method_mutates("get"));
	assert_true(B("print")->flags & NATIVE_EFFECT);
	assert_true(F("time", "now")->flags & NATIVE_CLOCK);
	assert_true(F("random", "normal")->flags & NATIVE_RANDOM);
	assert_true(B("get")->flags & NATIVE_HOST);
	assert_true(F("io", "write_text")->flags & NATIVE_EFFECT);
}

/* ---- builtins ----------------------------------------------------------- */

static void test_print(void **state)
{
	printed.len = 0;
	expect(CALL(B("print"), I(1), S("a"), L(2, S("x"), D(2.0)), v_none(), v_bool(true)), "none");
	expect(CALL0(B("print")), "none");
	value f = future_new_done(I(7));
	expect(CALL(B("print"), S("sum:"), f), "none");
	sbuf_addc(&printed, 0);
	assert_string_equal(printed.data, "1 a [\"x\", 2.0] none true\n\nsum: 7\n");
}

static void test_len_range(void **state)
{
	expect(CALL(B("len"), S("héllo😀")), "6");
	expect(CALL(B("len"), L(2, I(1), I(2))), "2");
	expect(CALL(B("len"), CALL(B("dict"))), "0");
	ERR("len() of a int", B("len"), I(3));
	expect(CALL(B("len"), CALL(F("tensor", "zeros"), L(2, I(4), I(2)))), "4");

	expect(CALL(B("range"), I(4)), "[0, 1, 2, 3]");
	expect(CALL(B("range"), I(0)), "[]");
	expect(CALL(B("range"), I(-3)), "[]");
	expect(CALL(B("range"), I(2), I(5)), "[2, 3, 4]");
	expect(CALL(B("range"), I(5), I(2)), "[]");
	expect(CALL(B("range"), I(10), I(0), I(-3)), "[10, 7, 4, 1]");
	expect(CALL(B("range"), I(0), I(10), I(4)), "[0, 4, 8]");
	expect(CALL(B("range"), I(-1), I(-4), I(-1)), "[-1, -2, -3]");
	expect(CALL(B("range"), I(INT64_MAX - 2), I(INT64_MAX)),
	       "[9223372036854775805, 9223372036854775806]");
	expect(CALL(B("range"), I(INT64_MIN), I(INT64_MAX), I(INT64_MAX)),
	       "[-9223372036854775808, -1, 9223372036854775806]");
	ERR("step must not be zero", B("range"), I(0), I(10), I(0));
	ERR("1 to 3 arguments", B("range"), I(1), I(2), I(3), I(4));
	ERR("1 to 3 arguments", B("range"), v_none(), v_none(), v_none(), v_none(), v_none());
	ERR("must be an int", B("range"), D(2.0));
	ERR("too large", B("range"), I(INT64_MIN), I(INT64_MAX));
}

static void test_conversions(void **state)
{
	expect(CALL(B("str"), I(42)), "\"42\"");
	expect(CALL(B("str"), D(0.1)), "\"0.1\"");
	expect(CALL(B("str"), S("x")), "\"x\"");
	expect(CALL(B("str"), L(1, S("x"))), "\"[\\\"x\\\"]\"");
	expect(CALL0(B("str")), "\"\"");

	expect(CALL(B("int"), S("42")), "42");
	expect(CALL(B("int"), S(" -1_000 ")), "-1000");
	expect(CALL(B("int"), S("-9223372036854775808")), "-9223372036854775808");
	expect(CALL(B("int"), D(3.9)), "3");
	expect(CALL(B("int"), D(-3.9)), "-3");
	expect(CALL(B("int"), v_bool(true)), "1");
	expect(CALL0(B("int")), "0");
	ERR("invalid literal \"x\"", B("int"), S("x"));
	ERR("invalid literal", B("int"), S("9223372036854775808"));
	ERR("invalid literal", B("int"), S("1__0"));
	ERR("invalid literal", B("int"), S(""));
	ERR("nan", B("int"), D(NAN));
	ERR("out of the int range", B("int"), D(1e30));
	ERR("can't convert a list", B("int"), L(0));

	expect(CALL(B("float"), S("1.5")), "1.5");
	expect(CALL(B("float"), S(" 2e3\n")), "2000.0");
	expect(CALL(B("float"), I(3)), "3.0");
	expect(CALL(B("float"), S("inf")), "inf");
	ERR("invalid literal", B("float"), S("1.5x"));
	ERR("invalid literal", B("float"), S(""));
	ERR("can't convert a none", B("float"), v_none());

	expect(CALL(B("bool"), I(0)), "false");
	expect(CALL(B("bool"), S("a")), "true");
	expect(CALL(B("bool"), L(0)), "false");
	expect(CALL0(B("bool")), "false");

	expect(CALL(B("list"), S("aé😀")), "[\"a\", \"é\", \"😀\"]");
	expect(CALL0(B("list")), "[]");
	value src = L(2, I(1), I(2));
	val_freeze(src);
	value copy = CALL(B("list"), val_hold(src));
	assert_false(val_is_frozen(copy));
	assert_ptr_not_equal(copy.as.o, src.as.o);
	expect(copy, "[1, 2]");
	val_rele(src);

	value d = CALL(B("dict"), L(2, L(2, S("a"), I(1)), L(2, I(2), S("b"))));
	expect(CALL(B("list"), val_hold(d)), "[\"a\", 2]");
	expect(d, "{\"a\": 1, 2: \"b\"}");
	expect(CALL0(B("dict")), "{}");
	ERR("not a [key, value] pair", B("dict"), L(1, L(1, I(1))));
	ERR("can't convert a int", B("dict"), I(1));
}

static void test_numeric(void **state)
{
	expect(CALL(B("abs"), I(-3)), "3");
	expect(CALL(B("abs"), D(-2.5)), "2.5");
	ERR("overflow", B("abs"), I(INT64_MIN));
	ERR("abs() of a str", B("abs"), S("x"));

	expect(CALL(B("min"), L(3, I(3), I(1), I(2))), "1");
	expect(CALL(B("max"), I(3), D(7.5), I(2)), "7.5");
	expect(CALL(B("min"), S("b"), S("a")), "\"a\"");
	expect(CALL(B("max"), L(2, I(1), I(1))), "1");
	ERR("empty sequence", B("min"), L(0));
	ERR("max()", B("max"), I(1), S("a"));
	ERR0("at least one", B("max"));

	expect(CALL(B("sum"), L(3, I(1), I(2), I(3))), "6");
	expect(CALL(B("sum"), L(2, D(0.5), I(1))), "1.5");
	expect(CALL(B("sum"), L(0)), "0");
	expect(CALL(B("sum"), L(2, I(1), I(2)), I(10)), "13");
	ERR("sum():", B("sum"), L(2, I(1), S("a")));
	ERR("overflow", B("sum"), L(2, I(INT64_MAX), I(1)));
}

static void test_sequences(void **state)
{
	expect(CALL(B("sorted"), L(4, I(3), D(1.5), I(2), I(-1))), "[-1, 1.5, 2, 3]");
	expect(CALL(B("sorted"), L(3, S("b"), S("c"), S("a")), v_none(), v_bool(true)), "[\"c\", \"b\", \"a\"]");
	/* By key, stable in both directions. */
	value key = fn_value(B("len"));
	expect(CALL(B("sorted"), L(4, S("bb"), S("a"), S("cc"), S("d")), val_hold(key)),
	       "[\"a\", \"d\", \"bb\", \"cc\"]");
	expect(CALL(B("sorted"), L(4, S("bb"), S("a"), S("cc"), S("d")), val_hold(key), v_bool(true)),
	       "[\"bb\", \"cc\", \"a\", \"d\"]");
	val_rele(key);
	expect(CALL(B("sorted"), L(0)), "[]");
	ERR("sort", B("sorted"), L(2, I(1), S("a")));
	value frozen = L(2, I(2), I(1));
	val_freeze(frozen);
	expect(CALL(B("sorted"), val_hold(frozen)), "[1, 2]");
	expect(frozen, "[2, 1]");

	expect(CALL(B("reversed"), L(3, I(1), I(2), I(3))), "[3, 2, 1]");
	expect(CALL(B("reversed"), S("aé")), "[\"é\", \"a\"]");
	expect(CALL(B("enumerate"), L(2, S("a"), S("b"))), "[[0, \"a\"], [1, \"b\"]]");
	expect(CALL(B("enumerate"), L(1, S("a")), I(5)), "[[5, \"a\"]]");
	expect(CALL(B("zip"), L(3, I(1), I(2), I(3)), L(2, S("a"), S("b"))), "[[1, \"a\"], [2, \"b\"]]");
	expect(CALL0(B("zip")), "[]");
	ERR("zip: expected a list", B("zip"), I(1));
	expect(CALL(B("any"), L(2, I(0), S(""))), "false");
	expect(CALL(B("any"), L(2, I(0), I(2))), "true");
	expect(CALL(B("all"), L(2, I(1), S("x"))), "true");
	expect(CALL(B("all"), L(0)), "true");
	expect(CALL(B("all"), L(2, I(1), v_none())), "false");

	expect(CALL(B("type"), I(1)), "\"int\"");
	expect(CALL(B("type"), D(1)), "\"float\"");
	expect(CALL(B("type"), S("")), "\"str\"");
	expect(CALL(B("type"), v_bool(false)), "\"bool\"");
	expect(CALL(B("type"), v_none()), "\"none\"");
	expect(CALL(B("type"), L(0)), "\"list\"");
	expect(CALL(B("type"), CALL0(B("dict"))), "\"dict\"");
	expect(CALL(B("type"), CALL(F("tensor", "zeros"), I(2))), "\"tensor\"");
	expect(CALL(B("type"), future_new_done(I(1))), "\"future\"");
	expect(CALL(B("type"), fn_value(B("len"))), "\"fn\"");
}

static void test_assert_error(void **state)
{
	expect(CALL(B("assert"), v_bool(true)), "none");
	ERR("assertion failed", B("assert"), I(0));
	ERR("x must be positive", B("assert"), v_bool(false), S("x must be positive"));
	ERR("boom 42", B("error"), S("boom 42"));
	ERR("[1]", B("error"), L(1, I(1)));
}

static void test_host_calls(void **state)
{
	value f = CALL(B("put"), L(2, I(1), I(2)));
	assert_int_equal(f.t, V_FUTURE);
	expect(CALL(B("get"), L(2, val_hold(f), I(3))), "[[1, 2], 3]");
	expect(CALL(B("get"), f), "[1, 2]");
	value fs = L(3, future_new_done(I(1)), future_new_done(I(2)), future_new_done(I(3)));
	value w = CALL(B("wait"), val_hold(fs), I(2));
	assert_int_equal(list_len(list_get(w, 0)), 2);
	assert_int_equal(list_len(list_get(w, 1)), 1);
	val_rele(w);
	ERR("not between 0", B("wait"), val_hold(fs), I(4));
	ERR("timeout", B("wait"), val_hold(fs), I(1), D(-1));
	ERR("must be a list", B("wait"), I(1));
	val_rele(fs);
}

static int calls;
/* A test native: concatenates str(a) and str(b) as "(a+b)" so the shape of
 * the fold shows in the result. */
static int t_cat(flow_vm *v, value *argv, int argc, value *out)
{
	calls++;
	sbuf b;
	sbuf_init(&b);
	sbuf_addc(&b, '(');
	val_str(&b, argv[0]);
	sbuf_addc(&b, '+');
	val_str(&b, argv[1]);
	sbuf_addc(&b, ')');
	*out = str_take_sbuf(&b);
	return 0;
}
static const native_def cat_def = { "cat", t_cat, "a,b", 0 };

static void test_reduce(void **state)
{
	value f = fn_value(&cat_def);
	calls = 0;
	expect(CALL(B("reduce"), val_hold(f), L(4, I(1), I(2), I(3), I(4))), "\"(((1+2)+3)+4)\"");
	assert_int_equal(calls, 3);
	expect(CALL(B("reduce"), val_hold(f), L(2, I(1), I(2)), S("x")), "\"((x+1)+2)\"");
	expect(CALL(B("reduce"), val_hold(f), L(1, I(1))), "1");
	expect(CALL(B("reduce"), val_hold(f), L(0), I(9)), "9");
	expect(CALL(B("reduce"), val_hold(f), L(0), v_none()), "none");
	ERR("empty list with no initial value", B("reduce"), val_hold(f), L(0));
	value add = fn_value(B("max"));
	expect(CALL(B("reduce"), add, L(3, I(3), I(9), I(4))), "9");
	val_rele(f);
}

/* ---- methods ------------------------------------------------------------ */

static void test_str_methods(void **state)
{
	expect(METH(V_STR, "split", S("  a b\t\nc  ")), "[\"a\", \"b\", \"c\"]");
	expect(METH(V_STR, "split", S("   ")), "[]");
	expect(METH(V_STR, "split", S("a,b,,c"), S(",")), "[\"a\", \"b\", \"\", \"c\"]");
	expect(METH(V_STR, "split", S("é→ü→"), S("→")), "[\"é\", \"ü\", \"\"]");
	expect(METH(V_STR, "split", S("a b c"), v_none(), I(1)), "[\"a\", \"b c\"]");
	expect(METH(V_STR, "split", S(" a  b c "), v_none(), I(1)), "[\"a\", \"b c \"]");
	expect(METH(V_STR, "split", S(" a "), v_none(), I(0)), "[\"a \"]");
	expect(METH(V_STR, "split", S("a,b,c"), S(","), I(1)), "[\"a\", \"b,c\"]");
	MERR("empty separator", V_STR, "split", S("abc"), S(""));
	expect(METH(V_STR, "join", S(", "), L(3, S("a"), S("é"), S("c"))), "\"a, é, c\"");
	expect(METH(V_STR, "join", S("-"), L(0)), "\"\"");
	MERR("item 1 is a int", V_STR, "join", S(","), L(2, S("a"), I(1)));
	expect(METH(V_STR, "strip", S(" \t hé \n")), "\"hé\"");
	expect(METH(V_STR, "lstrip", S("  x ")), "\"x \"");
	expect(METH(V_STR, "rstrip", S("  x ")), "\"  x\"");
	expect(METH(V_STR, "strip", S("éxé"), S("é")), "\"x\"");
	expect(METH(V_STR, "replace", S("aXbXc"), S("X"), S("--")), "\"a--b--c\"");
	expect(METH(V_STR, "replace", S("ab"), S(""), S("-")), "\"-a-b-\"");
	expect(METH(V_STR, "replace", S("héhé"), S("é"), S("e")), "\"hehe\"");
	expect(METH(V_STR, "find", S("héllo"), S("l")), "2");
	expect(METH(V_STR, "find", S("abc"), S("z")), "-1");
	expect(METH(V_STR, "find", S("abc"), S("")), "0");
	expect(METH(V_STR, "count", S("aaaa"), S("aa")), "2");
	expect(METH(V_STR, "count", S("aé"), S("")), "3");
	expect(METH(V_STR, "startswith", S("héllo"), S("hé")), "true");
	expect(METH(V_STR, "startswith", S("h"), S("hé")), "false");
	expect(METH(V_STR, "endswith", S("héllo"), S("llo")), "true");
	expect(METH(V_STR, "endswith", S("héllo"), S("x")), "false");
	MERR("must be a str", V_STR, "startswith", S("a"), I(1));
	expect(METH(V_STR, "upper", S("héllo wörld ßπж")), "\"HÉLLO WÖRLD ßΠЖ\"");
	expect(METH(V_STR, "lower", S("HÉLLO ŁÓDŹ ΣЖ")), "\"héllo łódź σж\"");
	expect(METH(V_STR, "format", S("{} + {} = {}"), I(1), D(2.5), S("x")), "\"1 + 2.5 = x\"");
	expect(METH(V_STR, "format", S("{1}{0}{1}"), S("a"), S("b")), "\"bab\"");
	expect(METH(V_STR, "format", S("{{{:>5}}}"), I(42)), "\"{   42}\"");
	expect(METH(V_STR, "format", S("{0:.2f}|{0!r}"), D(3.14159)), "\"3.14|3.14159\"");
	expect(METH(V_STR, "format", S("{!r}"), S("é")), "\"\\\"é\\\"\"");
	MERR("only 1 argument", V_STR, "format", S("{} {}"), I(1));
	MERR("cannot switch", V_STR, "format", S("{} {0}"), I(1));
	MERR("single '}'", V_STR, "format", S("a}b"));
	MERR("matching '}'", V_STR, "format", S("a{b"));
	MERR("named fields", V_STR, "format", S("{x}"), I(1));
}

static void test_list_methods(void **state)
{
	value l = L(1, I(1));
	expect(METH(V_LIST, "append", val_hold(l), S("a")), "none");
	expect(METH(V_LIST, "extend", val_hold(l), L(2, I(2), I(3))), "none");
	expect(METH(V_LIST, "extend", val_hold(l), val_hold(l)), "none");
	expect(val_hold(l), "[1, \"a\", 2, 3, 1, \"a\", 2, 3]");
	expect(METH(V_LIST, "pop", val_hold(l)), "3");
	expect(METH(V_LIST, "pop", val_hold(l), I(0)), "1");
	expect(METH(V_LIST, "pop", val_hold(l), I(-2)), "\"a\"");
	expect(val_hold(l), "[\"a\", 2, 3, 1, 2]");
	MERR("out of range", V_LIST, "pop", val_hold(l), I(5));
	expect(METH(V_LIST, "insert", val_hold(l), I(0), S("first")), "none");
	expect(METH(V_LIST, "insert", val_hold(l), I(100), S("last")), "none");
	expect(METH(V_LIST, "insert", val_hold(l), I(-1), S("x")), "none");
	expect(val_hold(l), "[\"first\", \"a\", 2, 3, 1, 2, \"x\", \"last\"]");
	expect(METH(V_LIST, "index", val_hold(l), I(2)), "2");
	expect(METH(V_LIST, "index", val_hold(l), D(1.0)), "4");
	MERR("9 is not in the list", V_LIST, "index", val_hold(l), I(9));
	expect(METH(V_LIST, "count", val_hold(l), I(2)), "2");
	MERR("cannot contain itself", V_LIST, "append", val_hold(l), val_hold(l));
	val_rele(l);

	l = L(3, I(3), I(1), I(2));
	expect(METH(V_LIST, "sort", val_hold(l)), "none");
	expect(val_hold(l), "[1, 2, 3]");
	expect(METH(V_LIST, "reverse", val_hold(l)), "none");
	expect(val_hold(l), "[3, 2, 1]");
	expect(METH(V_LIST, "copy", val_hold(l)), "[3, 2, 1]");
	val_rele(l);
	MERR("pop from an empty list", V_LIST, "pop", L(0));

	value fr = L(1, I(1));
	val_freeze(fr);
	MERR("frozen", V_LIST, "append", val_hold(fr), I(2));
	MERR("frozen", V_LIST, "pop", val_hold(fr));
	MERR("frozen", V_LIST, "insert", val_hold(fr), I(0), I(2));
	MERR("frozen", V_LIST, "extend", val_hold(fr), L(0));
	expect(fr, "[1]");
}

static void test_dict_methods(void **state)
{
	value d = CALL(B("dict"), L(2, L(2, S("a"), I(1)), L(2, I(2), S("b"))));
	expect(METH(V_DICT, "keys", val_hold(d)), "[\"a\", 2]");
	expect(METH(V_DICT, "values", val_hold(d)), "[1, \"b\"]");
	expect(METH(V_DICT, "items", val_hold(d)), "[[\"a\", 1], [2, \"b\"]]");
	expect(METH(V_DICT, "get", val_hold(d), S("a")), "1");
	expect(METH(V_DICT, "get", val_hold(d), S("z")), "none");
	expect(METH(V_DICT, "get", val_hold(d), S("z"), I(0)), "0");
	expect(METH(V_DICT, "get", val_hold(d), L(0), I(0)), "0");
	expect(METH(V_DICT, "pop", val_hold(d), S("z"), I(5)), "5");
	MERR("key \"z\" not found", V_DICT, "pop", val_hold(d), S("z"));
	expect(METH(V_DICT, "pop", val_hold(d), S("a")), "1");
	expect(d, "{2: \"b\"}");
	value fr = CALL0(B("dict"));
	val_freeze(fr);
	MERR("frozen", V_DICT, "pop", fr, S("a"), I(1));
}

/* ---- modules ------------------------------------------------------------ */

static void test_time(void **state)
{
	slept = 0;
	expect(CALL(F("time", "sleep"), D(0.25)), "none");
	expect(CALL(F("time", "sleep"), I(1)), "none");
	assert_true(slept == 1.25);
	ERR("non-negative", F("time", "sleep"), D(-1));
	ERR("must be a number", F("time", "sleep"), S("1"));
	value now = CALL0(F("time", "now"));
	assert_int_equal(now.t, V_FLOAT);
	assert_true(fabs(now.as.f - (double)time(NULL)) < 5);
	value a = CALL0(F("time", "monotonic")), b = CALL0(F("time", "monotonic"));
	assert_true(b.as.f >= a.as.f);
}

static void test_math(void **state)
{
	expect(CALL(F("math", "sqrt"), I(16)), "4.0");
	expect(CALL(F("math", "exp"), I(0)), "1.0");
	expect(CALL(F("math", "log"), D(1)), "0.0");
	expect(CALL(F("math", "log"), I(8), I(2)), "3.0");
	expect(CALL(F("math", "log2"), I(1024)), "10.0");
	expect(CALL(F("math", "pow"), I(2), I(10)), "1024.0");
	expect(CALL(F("math", "pow"), D(-8), I(3)), "-512.0");
	expect(CALL(F("math", "floor"), D(-2.5)), "-3");
	expect(CALL(F("math", "ceil"), D(2.1)), "3");
	expect(CALL(F("math", "floor"), I(7)), "7");
	expect(CALL(F("math", "sin"), I(0)), "0.0");
	expect(CALL(F("math", "cos"), I(0)), "1.0");
	expect(CALL(F("math", "tan"), I(0)), "0.0");
	expect(CALL(F("math", "fabs"), I(-3)), "3.0");
	expect(CALL(F("math", "isnan"), D(NAN)), "true");
	expect(CALL(F("math", "isnan"), I(1)), "false");
	expect(CALL(F("math", "sqrt"), D(INFINITY)), "inf");
	ERR("math domain error", F("math", "sqrt"), I(-1));
	ERR("math domain error", F("math", "log"), I(0));
	ERR("math domain error", F("math", "log"), I(-2));
	ERR("math domain error", F("math", "log"), I(2), I(1));
	ERR("math domain error", F("math", "log2"), D(0));
	ERR("math domain error", F("math", "pow"), I(-8), D(0.5));
	ERR("math domain error", F("math", "pow"), I(0), I(-1));
	ERR("math domain error", F("math", "sin"), D(INFINITY));
	ERR("math range error", F("math", "exp"), I(1000));
	ERR("math range error", F("math", "pow"), I(10), I(400));
	ERR("cannot convert nan", F("math", "floor"), D(NAN));
	ERR("must be a number", F("math", "sqrt"), S("4"));
	ERR("must be a number", F("math", "sqrt"), v_bool(true));
}

static void test_random(void **state)
{
	double a[8], b[8];
	rng_seed(vm_rng(vm), 123);
	for (int i = 0; i < 8; i++) {
		value v = CALL(F("random", "uniform"), I(0), I(1));
		a[i] = v.as.f;
		assert_true(a[i] >= 0 && a[i] < 1);
	}
	rng_seed(vm_rng(vm), 123);
	for (int i = 0; i < 8; i++)
		b[i] = CALL(F("random", "uniform"), I(0), I(1)).as.f;
	assert_memory_equal(a, b, sizeof a);
	rng_seed(vm_rng(vm), 124);
	int same = 0;
	for (int i = 0; i < 8; i++)
		same += CALL(F("random", "uniform"), I(0), I(1)).as.f == a[i];
	assert_true(same < 8);

	/* randint is inclusive and covers its range. */
	bool seen[4] = { false };
	for (int i = 0; i < 400; i++) {
		value v = CALL(F("random", "randint"), I(1), I(3));
		assert_true(v.as.i >= 1 && v.as.i <= 3);
		seen[v.as.i] = true;
	}
	assert_true(seen[1] && seen[2] && seen[3]);
	expect(CALL(F("random", "randint"), I(5), I(5)), "5");
	value big = CALL(F("random", "randint"), I(INT64_MIN), I(INT64_MAX));
	assert_int_equal(big.t, V_INT);
	ERR("empty range", F("random", "randint"), I(2), I(1));

	double sum = 0, sq = 0;
	for (int i = 0; i < 20000; i++) {
		double x = CALL(F("random", "normal"), I(10), I(2)).as.f;
		sum += x;
		sq += (x - 10) * (x - 10);
	}
	assert_true(fabs(sum / 20000 - 10) < 0.1);
	assert_true(fabs(sqrt(sq / 20000) - 2) < 0.1);
	ERR("non-negative", F("random", "normal"), I(0), I(-1));

	/* shuffle: a permutation, deterministic per seed. */
	value xs = CALL(B("range"), I(20));
	rng_seed(vm_rng(vm), 7);
	expect(CALL(F("random", "shuffle"), val_hold(xs)), "none");
	value ys = CALL(B("range"), I(20));
	rng_seed(vm_rng(vm), 7);
	expect(CALL(F("random", "shuffle"), val_hold(ys)), "none");
	assert_true(val_eq(xs, ys));
	expect(CALL(B("sorted"), val_hold(xs)), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]");
	value r20 = CALL(B("range"), I(20));
	assert_false(val_eq(xs, r20));
	val_rele(r20);
	val_rele(ys);
	val_freeze(xs);
	ERR("list(xs)", F("random", "shuffle"), xs);
	ERR("expected a list", F("random", "shuffle"), S("abc"));
	expect(CALL(F("random", "choice"), L(1, S("only"))), "\"only\"");
}

static void test_tensor(void **state)
{
	expect(CALL(F("tensor", "shape"), CALL(F("tensor", "zeros"), L(2, I(2), I(3)))), "[2, 3]");
	expect(CALL(F("tensor", "to_list"), CALL(F("tensor", "ones"), I(2))), "[1.0, 1.0]");
	expect(CALL(F("tensor", "to_list"), CALL(F("tensor", "arange"), I(3))), "[0.0, 1.0, 2.0]");
	ERR("negative dimension", F("tensor", "zeros"), I(-1));
	ERR("shape must", F("tensor", "zeros"), S("x"));
	ERR("shape must hold ints", F("tensor", "ones"), L(1, D(2)));

	value a = CALL(F("tensor", "from_list"), L(2, L(3, I(1), I(2), I(3)), L(3, I(4), I(5), I(6))));
	value b = CALL(F("tensor", "from_list"), L(3, L(2, I(7), I(8)), L(2, I(9), I(10)), L(2, I(11), I(12))));
	/* [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]] = [[58,64],[139,154]] */
	expect(CALL(F("tensor", "to_list"), CALL(F("tensor", "matmul"), val_hold(a), val_hold(b))),
	       "[[58.0, 64.0], [139.0, 154.0]]");
	expect(CALL(F("tensor", "to_list"), CALL(F("tensor", "dot"), val_hold(a), val_hold(b))),
	       "[[58.0, 64.0], [139.0, 154.0]]");
	ERR("shapes [2, 3] and [2, 3]", F("tensor", "matmul"), val_hold(a), val_hold(a));
	ERR("expected two tensors", F("tensor", "matmul"), val_hold(a), I(1));
	value v = CALL(F("tensor", "from_list"), L(3, I(1), I(2), D(3)));
	expect(CALL(F("tensor", "dot"), val_hold(v), val_hold(v)), "14.0");
	expect(CALL(F("tensor", "to_list"), CALL(F("tensor", "matmul"), val_hold(a), val_hold(v))), "[14.0, 32.0]");
	ERR("shapes [3] and [2]", F("tensor", "dot"), val_hold(v), CALL(F("tensor", "zeros"), I(2)));

	value o;
	verr e;
	assert_int_equal(tensor_matmul(a, b, &o, &e), 0);
	expect(CALL(F("tensor", "shape"), o), "[2, 2]");
	assert_int_equal(tensor_matmul(b, b, &o, &e), -1);
	assert_non_null(strstr(e.msg, "[3, 2] and [3, 2]"));
	assert_int_equal(tensor_index(a, -1, &o, &e), 0);
	expect(CALL(F("tensor", "to_list"), o), "[4.0, 5.0, 6.0]");
	assert_int_equal(tensor_index(v, 1, &o, &e), 0);
	expect(o, "2.0");
	assert_int_equal(tensor_index(v, 3, &o, &e), -1);
	assert_non_null(strstr(e.msg, "out of range"));
	assert_int_equal(tensor_slice(b, true, 1, false, 0, &o, &e), 0);
	expect(CALL(F("tensor", "to_list"), o), "[[9.0, 10.0], [11.0, 12.0]]");
	assert_int_equal(tensor_slice(b, true, -1, true, 100, &o, &e), 0);
	expect(CALL(F("tensor", "shape"), o), "[1, 2]");
	assert_int_equal(tensor_slice(b, true, 2, true, 1, &o, &e), 0);
	expect(CALL(F("tensor", "shape"), o), "[0, 2]");

	expect(CALL(F("tensor", "to_list"), CALL(F("tensor", "transpose"), val_hold(a))),
	       "[[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]");
	value t3 = CALL(F("tensor", "reshape"), CALL(F("tensor", "arange"), I(24)), L(3, I(2), I(3), I(4)));
	value tt = CALL(F("tensor", "transpose"), val_hold(t3));
	expect(CALL(F("tensor", "shape"), val_hold(tt)), "[4, 3, 2]");
	/* tt[i][j][k] == t3[k][j][i]: element [1][2][1] is t3[1][2][1] = 12+8+1 */
	assert_int_equal(tensor_index(tt, 1, &o, &e), 0);
	value o2, o3;
	assert_int_equal(tensor_index(o, 2, &o2, &e), 0);
	assert_int_equal(tensor_index(o2, 1, &o3, &e), 0);
	expect(o3, "21.0");
	val_rele(o);
	val_rele(o2);
	val_rele(tt);
	val_rele(t3);
	expect(CALL(F("tensor", "shape"), CALL(F("tensor", "reshape"), val_hold(a), L(2, I(-1), I(2)))), "[3, 2]");
	expect(CALL(F("tensor", "shape"), CALL(F("tensor", "reshape"), val_hold(a), I(6))), "[6]");
	ERR("cannot reshape a tensor of shape [2, 3] (6 elements) to [4]", F("tensor", "reshape"), val_hold(a), I(4));
	ERR("only one dimension", F("tensor", "reshape"), val_hold(a), L(2, I(-1), I(-1)));

	expect(CALL(F("tensor", "sum"), val_hold(a)), "21.0");
	expect(CALL(F("tensor", "mean"), val_hold(a)), "3.5");
	expect(CALL(F("tensor", "min"), val_hold(a)), "1.0");
	expect(CALL(F("tensor", "max"), val_hold(a)), "6.0");
	expect(CALL(F("tensor", "sum"), CALL(F("tensor", "zeros"), I(0))), "0.0");
	ERR("empty tensor", F("tensor", "mean"), CALL(F("tensor", "zeros"), I(0)));
	ERR("expected a tensor", F("tensor", "sum"), L(0));

	ERR("ragged", F("tensor", "from_list"), L(2, L(2, I(1), I(2)), L(1, I(3))));
	ERR("ragged", F("tensor", "from_list"), L(2, L(1, I(1)), I(3)));
	ERR("ragged", F("tensor", "from_list"), L(2, I(3), L(1, I(1))));
	ERR("must be numbers", F("tensor", "from_list"), L(1, S("x")));
	expect(CALL(F("tensor", "shape"), CALL(F("tensor", "from_list"), L(0))), "[0]");

	rng_seed(vm_rng(vm), 5);
	value n1 = CALL(F("tensor", "normal"), L(2, I(50), I(40)), I(3), D(0.5));
	rng_seed(vm_rng(vm), 5);
	value n2 = CALL(F("tensor", "normal"), L(2, I(50), I(40)), I(3), D(0.5));
	assert_memory_equal(tensor_of(n1)->data, tensor_of(n2)->data, 2000 * sizeof(double));
	double m = CALL(F("tensor", "mean"), val_hold(n1)).as.f;
	assert_true(fabs(m - 3) < 0.1);
	{
		/* the ziggurat's shape: moments, the body and both tails (400k
		 * draws: each bound is more than 5 standard errors wide) */
		value z = CALL(F("tensor", "normal"), L(1, I(400000)));
		const double *x = tensor_of(z)->data;
		double s1 = 0, s2 = 0, s4 = 0;
		size_t in1 = 0, out3 = 0, lo = 0, hi = 0;
		for (size_t i = 0; i < 400000; i++) {
			s1 += x[i];
			s2 += x[i] * x[i];
			s4 += x[i] * x[i] * x[i] * x[i];
			in1 += fabs(x[i]) < 1;
			out3 += fabs(x[i]) > 3;
			lo += x[i] < -3.6541528853610088; /* where the tail method takes over */
			hi += x[i] > 3.6541528853610088;
		}
		assert_true(fabs(s1 / 400000) < 0.01);
		assert_true(fabs(s2 / 400000 - 1) < 0.015);
		assert_true(fabs(s4 / 400000 - 3) < 0.1);
		assert_true(fabs(in1 / 400000.0 - 0.682689) < 0.004);
		assert_true(out3 > 870 && out3 < 1290);     /* 1080 expected */
		assert_true(lo > 20 && lo < 85 && hi > 20 && hi < 85); /* 51.6 each */
		val_rele(z);
	}
	val_rele(n1);
	val_rele(n2);
	val_rele(a);
	val_rele(b);
	val_rele(v);
}

static void test_str_module(void **state)
{
	expect(CALL(F("str", "format"), S("{:>6.2f}|{}"), D(2.5), S("é")), "\"  2.50|é\"");
	expect(CALL(F("str", "format"), S("{:,}"), I(1234567)), "\"1,234,567\"");
	ERR0("needs a format string", F("str", "format"));
	expect(CALL(F("str", "repr"), S("a\"b")), "\"\\\"a\\\\\\\"b\\\"\"");
	expect(CALL(F("str", "repr"), I(1)), "\"1\"");
}

static char *path(const char *name)
{
	static char p[256];
	snprintf(p, sizeof p, "%s/%s", tmpdir, name);
	return p;
}

static void test_io(void **state)
{
	expect(CALL(F("io", "write_text"), S(path("a.txt")), S("héllo\nworld\r\nlast")), "none");
	expect(CALL(F("io", "read_text"), S(path("a.txt"))), "\"héllo\\nworld\\r\\nlast\"");
	expect(CALL(F("io", "read_lines"), S(path("a.txt"))), "[\"héllo\", \"world\", \"last\"]");
	expect(CALL(F("io", "exists"), S(path("a.txt"))), "true");
	expect(CALL(F("io", "exists"), S(path("nope"))), "false");
	char want[300];
	snprintf(want, sizeof want, "read '%s': No such file or directory", path("nope"));
	ERR(want, F("io", "read_text"), S(path("nope")));
	ERR("write '/dev/full': No space left on device", F("io", "write_text"), S("/dev/full"), S("x"));
	ERR("write '/dev/full': No space left on device", F("io", "write_csv"), S("/dev/full"),
	    L(1, CALL(B("dict"), L(1, L(2, S("a"), I(1))))));
	snprintf(want, sizeof want, "write '%s/no/dir/x': No such file or directory", tmpdir);
	ERR(want, F("io", "write_text"), S(path("no/dir/x")), S("x"));

	const char *csv = "name,note,n\r\nann,\"hi, there\",1\n\"bob \"\"b\"\"\",\"two\nlines\",2\n\ncé,,3";
	FILE *f = fopen(path("d.csv"), "w");
	fputs(csv, f);
	fclose(f);
	const char *rows = "[{\"name\": \"ann\", \"note\": \"hi, there\", \"n\": \"1\"}, "
	                   "{\"name\": \"bob \\\"b\\\"\", \"note\": \"two\\nlines\", \"n\": \"2\"}, "
	                   "{\"name\": \"cé\", \"note\": \"\", \"n\": \"3\"}]";
	expect(CALL(F("io", "read_csv"), S(path("d.csv"))), rows);
	gzFile g = gzopen(path("d.csv.gz"), "wb");
	gzwrite(g, csv, (unsigned)strlen(csv));
	gzclose(g);
	expect(CALL(F("io", "read_csv"), S(path("d.csv.gz"))), rows);
	f = fopen(path("bad.csv"), "w");
	fputs("a,b\n1,2,3\n", f);
	fclose(f);
	ERR("record 2 has 3 fields, the header has 2", F("io", "read_csv"), S(path("bad.csv")));
	f = fopen(path("bad.gz"), "w");
	fputs("\x1f\x8b\x08\x00garbage", f);
	fclose(f);
	ERR("read '", F("io", "read_csv"), S(path("bad.gz")));

	/* write_csv then read_csv gives the rows back (as strings). */
	value rin = CALL(F("io", "read_csv"), S(path("d.csv")));
	expect(CALL(F("io", "write_csv"), S(path("out.csv")), val_hold(rin)), "none");
	expect(CALL(F("io", "read_csv"), S(path("out.csv"))), rows);
	expect(CALL(F("io", "read_text"), S(path("out.csv"))),
	       "\"name,note,n\\nann,\\\"hi, there\\\",1\\n\\\"bob \\\"\\\"b\\\"\\\"\\\",\\\"two\\nlines\\\",2\\ncé,,3\\n\"");
	val_rele(rin);
	value mixed = L(2, CALL(B("dict"), L(2, L(2, S("x"), I(1)), L(2, S("y"), D(2.5)))),
	                CALL(B("dict"), L(1, L(2, S("x"), S("only x")))));
	expect(CALL(F("io", "write_csv"), S(path("m.csv")), mixed), "none");
	expect(CALL(F("io", "read_text"), S(path("m.csv"))), "\"x,y\\n1,2.5\\nonly x,\\n\"");
	ERR("row 0 is a int", F("io", "write_csv"), S(path("m.csv")), L(1, I(1)));

	char pat[300];
	snprintf(pat, sizeof pat, "%s/*.csv", tmpdir);
	value gl = CALL(F("io", "glob"), S(pat));
	assert_int_equal(list_len(gl), 4);
	const char *order[] = { "bad.csv", "d.csv", "m.csv", "out.csv" };
	for (int i = 0; i < 4; i++)
		assert_string_equal(str_data(list_get(gl, (size_t)i)), path(order[i]));
	val_rele(gl);
	expect(CALL(F("io", "glob"), S(path("*.none"))), "[]");

	f = fopen(path("bin"), "w");
	fputs("\xff\xfe", f);
	fclose(f);
	ERR("not valid UTF-8", F("io", "read_text"), S(path("bin")));
}

static void test_proc(void **state)
{
	value r = CALL(F("proc", "run"), L(3, S("sh"), S("-c"), S("echo out; echo err >&2; exit 3")));
	expect(r, "{\"code\": 3, \"stdout\": \"out\\n\", \"stderr\": \"err\\n\"}");
	/* Lots of output on both streams must not deadlock. */
	r = CALL(F("proc", "run"), L(3, S("sh"), S("-c"), S("head -c 300000 /dev/zero | tr '\\0' a; "
	                                                   "head -c 300000 /dev/zero | tr '\\0' b >&2")));
	value out, key = S("stdout");
	assert_true(dict_get(r, key, &out));
	val_rele(key);
	assert_int_equal(str_len(out), 300000);
	val_rele(r);
	ERR("cannot run 'no-such-program-x'", F("proc", "run"), L(1, S("no-such-program-x")));
	ERR("non-empty list", F("proc", "run"), L(0));
	ERR("argv[1]", F("proc", "run"), L(2, S("echo"), I(1)));

	expect(CALL(F("proc", "sh"), S("printf 'a b'; echo é")), "\"a bé\\n\"");
	ERR("exited with status 2: oops", F("proc", "sh"), S("echo partial; echo oops >&2; exit 2"));
	ERR("killed by signal 9", F("proc", "sh"), S("kill -9 $$"));
}

static void test_sys(void **state)
{
	expect(CALL0(F("sys", "node_id")), "\"local\"");
	value pid = CALL0(F("sys", "pid"));
	assert_int_equal(pid.as.i, getpid());
	assert_true(CALL0(F("sys", "cpu_count")).as.i >= 1);
	value h = CALL0(F("sys", "hostname"));
	assert_true(h.t == V_STR && str_len(h) > 0);
	val_rele(h);
	setenv("FLOW_TEST_ENV", "yes é", 1);
	expect(CALL(F("sys", "env"), S("FLOW_TEST_ENV")), "\"yes é\"");
	expect(CALL(F("sys", "env"), S("FLOW_TEST_UNSET_ENV")), "none");
	ERR("must be a str", F("sys", "env"), I(1));
}

/* ---- LANGUAGE.md version 2's additions -------------------------------------- */

/* d[k] = v; v is consumed (dict_set holds what it stores). */
static void dset(value d, const char *k, value v)
{
	verr e;
	value key = S(k);
	assert_int_equal(dict_set(d, key, v, &e), 0);
	val_rele(key);
	val_rele(v);
}

static void test_version2_natives(void **state)
{
	(void)state;
	expect(CALL(B("ord"), S("A")), "65");
	expect(CALL(B("ord"), S("\xc3\xa9")), "233");
	ERR("expected a character", B("ord"), S("ab"));
	ERR("must be a str", B("ord"), I(1));
	expect(CALL(B("chr"), I(0x1F600)), "\"\xf0\x9f\x98\x80\"");
	ERR("not in range", B("chr"), I(-1));
	ERR("surrogate", B("chr"), I(0xD800));
	expect(CALL(B("round"), D(2.5)), "2");
	expect(CALL(B("round"), D(-3.5)), "-4");
	expect(CALL(B("round"), D(2.675), I(2)), "2.67");
	expect(CALL(B("round"), I(1250), I(-2)), "1200");
	expect(CALL(B("round"), I(-1350), I(-2)), "-1400");
	expect(CALL(B("round"), I(7), I(3)), "7");
	expect(CALL(B("round"), D(1234.5), I(-2)), "1200.0");
	ERR("cannot convert float NaN", B("round"), D(NAN));
	ERR("round() of a str", B("round"), S("x"));
	expect(CALL(B("divmod"), I(-7), I(2)), "[-4, 1]");
	expect(CALL(B("divmod"), D(7.5), I(2)), "[3.0, 1.5]");
	ERR("divmod(): ", B("divmod"), I(1), I(0));
	expect(CALL(B("isinstance"), I(1), vm_func_native(B("int"))), "true");
	expect(CALL(B("isinstance"), v_bool(true), vm_func_native(B("int"))), "false");
	expect(CALL(B("isinstance"), v_none(), S("none")), "true");
	expect(CALL(B("isinstance"), S("x"), L(2, vm_func_native(B("int")), vm_func_native(B("str")))),
	       "true");
	ERR("the type must be", B("isinstance"), I(1), I(2));
	value h1 = CALL(B("hash"), S("key")), h2 = CALL(B("hash"), S("key"));
	assert_true(h1.t == V_INT && h1.as.i == h2.as.i && h1.as.i >= 0);
	ERR("unhashable type 'list'", B("hash"), L(0));
	expect(CALL(F("math", "hypot"), I(3), I(4)), "5.0");
	expect(CALL(F("math", "hypot"), D(INFINITY), D(NAN)), "inf");
	expect(CALL(F("math", "isclose"), D(1.0), D(1.0 + 1e-12)), "true");
	expect(CALL(F("math", "isclose"), D(1.0), D(1.1)), "false");
	expect(CALL(F("math", "isclose"), D(0.0), D(1e-10), D(1e-9), D(1e-9)), "true");
	ERR("non-negative", F("math", "isclose"), D(1.0), D(1.0), D(-1.0), D(0.0));

	value l = L(4, I(1), I(2), I(1), S("a"));
	expect(METH(V_LIST, "remove", val_hold(l), I(1)), "none");
	expect(val_hold(l), "[2, 1, \"a\"]");
	MERR("9 is not in the list", V_LIST, "remove", val_hold(l), I(9));
	val_rele(l);
	value d = dict_new(0), o = dict_new(0);
	dset(d, "a", I(1));
	dset(o, "a", I(10));
	dset(o, "b", I(2));
	value c = METH(V_DICT, "copy", val_hold(d));
	expect(METH(V_DICT, "update", val_hold(d), val_hold(o)), "none");
	expect(val_hold(d), "{\"a\": 10, \"b\": 2}");
	expect(c, "{\"a\": 1}");
	MERR("expected a dict", V_DICT, "update", val_hold(d), I(1));
	expect(METH(V_DICT, "update", val_hold(d), val_hold(d)), "none");
	expect(val_hold(d), "{\"a\": 10, \"b\": 2}");
	value wrap = dict_new(0);
	dset(wrap, "self", val_hold(d));
	MERR("cannot contain itself", V_DICT, "update", val_hold(d), wrap);
	val_rele(d);
	val_rele(o);
	expect(METH(V_STR, "isdigit", S("0123")), "true");
	expect(METH(V_STR, "isdigit", S("")), "false");
	expect(METH(V_STR, "isdigit", S("1.5")), "false");
}

/* ---- docs/reference.md against the registration table ------------------- */

/* One documented entry: "- `sig` - meaning" between the registry markers.
 * kind: 'b' builtin, 's'/'l'/'d' str/list/dict method, 'm' module member. */
typedef struct docent {
	char kind;
	char mod[512], name[512];
	char params[512]; /* as written between the parentheses; "" if none */
	bool call;        /* written with parentheses (not a constant) */
	bool seen;
} docent;

static int parse_reference(const char *path, docent *out, int cap)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[1024];
	int n = 0;
	bool in = false;
	while (fgets(line, sizeof line, f)) {
		if (strstr(line, "<!-- registry:begin -->"))
			in = true;
		if (strstr(line, "<!-- registry:end -->"))
			in = false;
		if (!in || strncmp(line, "- `", 3) != 0)
			continue;
		char sig[512];
		const char *e = strchr(line + 3, '`');
		assert_non_null(e);
		snprintf(sig, sizeof sig, "%.*s", (int)(e - line - 3), line + 3);
		assert_true(n < cap);
		docent *d = &out[n++];
		memset(d, 0, sizeof *d);
		char *paren = strchr(sig, '(');
		d->call = paren != NULL;
		if (paren) {
			char *close = strrchr(sig, ')');
			if (!close) {
				print_error("reference.md: no ')' in `%s`\n", sig);
				fail();
			}
			snprintf(d->params, sizeof d->params, "%.*s", (int)(close - paren - 1), paren + 1);
			*paren = 0;
		}
		char *dot = strchr(sig, '.');
		if (!dot) {
			d->kind = 'b';
			snprintf(d->name, sizeof d->name, "%s", sig);
		} else {
			*dot = 0;
			snprintf(d->name, sizeof d->name, "%s", dot + 1);
			d->kind = !strcmp(sig, "s") ? 's' : !strcmp(sig, "xs") ? 'l' : !strcmp(sig, "d") ? 'd' : 'm';
			snprintf(d->mod, sizeof d->mod, "%s", sig);
		}
	}
	fclose(f);
	return n;
}

static docent *doc_find(docent *ds, int n, char kind, const char *mod, const char *name)
{
	for (int i = 0; i < n; i++)
		if (ds[i].kind == kind && !strcmp(ds[i].name, name) &&
		    (kind != 'm' || !strcmp(ds[i].mod, mod)))
			return &ds[i];
	return NULL;
}

/* The documented parameter names, in order, must be the registered ones
 * (variadic natives are documented freely). */
static int check_params(const docent *d, const native_def *nd, const char *what)
{
	const native_params *np = native_params_of(nd);
	if (!np || np->n < 0)
		return 0;
	char buf[512], *save = NULL;
	snprintf(buf, sizeof buf, "%s", d->params);
	int k = 0, bad = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), k++) {
		while (*t == ' ')
			t++;
		t[strcspn(t, "= ")] = 0;
		if (k >= np->n || strcmp(t, np->names[k]) != 0)
			bad = 1;
	}
	if (bad || k != np->n) {
		print_error("reference.md: %s is documented (%s) but registered with params \"%s\"\n",
		            what, d->params, nd->params);
		return 1;
	}
	return 0;
}

static void test_reference_complete(void **state)
{
	(void)state;
	const char *data = getenv("FLOW_TEST_DATA");
	char path[1024];
	snprintf(path, sizeof path, "%s/../docs/reference.md", data ? data : "tests");
	static docent ds[512];
	int n = parse_reference(path, ds, 512);
	int missing = 0;
	char what[160];
	for (const char *const *b = native_builtin_names(); *b; b++) {
		docent *d = doc_find(ds, n, 'b', "", *b);
		snprintf(what, sizeof what, "builtin '%s'", *b);
		if (!d) {
			print_error("reference.md: %s is registered but not documented\n", what);
			missing++;
			continue;
		}
		d->seen = true;
		missing += check_params(d, native_builtin(*b), what);
	}
	const vtype recv[3] = { V_STR, V_LIST, V_DICT };
	const char kinds[3] = { 's', 'l', 'd' };
	for (int t = 0; t < 3; t++)
		for (const char *const *m = native_method_names(recv[t]); *m; m++) {
			docent *d = doc_find(ds, n, kinds[t], "", *m);
			snprintf(what, sizeof what, "method '%s' of %s", *m, vtype_name(recv[t]));
			if (!d) {
				print_error("reference.md: %s is registered but not documented\n", what);
				missing++;
				continue;
			}
			d->seen = true;
			missing += check_params(d, native_method(recv[t], *m), what);
		}
	for (const char *const *mn = native_module_names(); *mn; mn++) {
		const module_def *md = native_module(*mn);
		for (const native_def *f = md->fns; f->name; f++) {
			docent *d = doc_find(ds, n, 'm', *mn, f->name);
			snprintf(what, sizeof what, "'%s.%s'", *mn, f->name);
			if (!d || !d->call) {
				print_error("reference.md: %s is registered but not documented\n", what);
				missing++;
				continue;
			}
			d->seen = true;
			missing += check_params(d, f, what);
		}
		for (const const_def *c = md->consts; c && c->name; c++) {
			docent *d = doc_find(ds, n, 'm', *mn, c->name);
			if (!d || d->call) {
				print_error("reference.md: constant '%s.%s' is registered but not documented\n",
				            *mn, c->name);
				missing++;
				continue;
			}
			d->seen = true;
		}
	}
	for (int i = 0; i < n; i++)
		if (!ds[i].seen) {
			print_error("reference.md: '%s%s%s' is documented but not registered\n", ds[i].mod,
			            ds[i].mod[0] ? "." : "", ds[i].name);
			missing++;
		}
	assert_true(n > 100);
	assert_int_equal(missing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_len_range),
		cmocka_unit_test(test_conversions),
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_assert_error),
		cmocka_unit_test(test_host_calls),
		cmocka_unit_test(test_reduce),
		cmocka_unit_test(test_str_methods),
		cmocka_unit_test(test_list_methods),
		cmocka_unit_test(test_dict_methods),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_math),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_tensor),
		cmocka_unit_test(test_str_module),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_proc),
		cmocka_unit_test(test_sys),
		cmocka_unit_test(test_version2_natives),
		cmocka_unit_test(test_reference_complete),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
