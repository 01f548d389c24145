/* test_vm.c - the bytecode compiler, the VM and the serial host: real
 * programs go through loader -> compile -> the serial executor and their printed
 * output (stdout and stderr) is compared exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/compile.h"
#include "lang/resolve.h"
#include "lang/vm.h"
#include "lang/encode.h"
#include "executor/executor.h"

typedef struct result {
	int status;     /* the serial executor's, or -1 when it did not compile */
	char *out, *err;
	size_t outlen, errlen;
} result;

static result run_seed(const char *src, uint64_t seed)
{
	result r = { 0 };
	diag_ctx d;
	flow_loader l;
	diag_init(&d);
	loader_init(&l, &d);
	FILE *out = open_memstream(&r.out, &r.outlen);
	FILE *err = open_memstream(&r.err, &r.errlen);
	bc_program *p = NULL;
	if (loader_load_source(&l, "t.flow", src, strlen(src), NULL, 0) == 0)
		p = compile_program(&l);
	if (p) {
		exec_opts o = { .seed = seed, .out = out, .err = err };
		r.status = executor_run_program(&executor_serial, p, &o);
		bc_program_free(p);
	} else {
		r.status = -1;
		diag_print(&d, err);
	}
	fclose(out);
	fclose(err);
	loader_fini(&l);
	diag_fini(&d);
	return r;
}

static result run(const char *src) { return run_seed(src, 0); }

static void done(result *r)
{
	free(r->out);
	free(r->err);
}

/* Asserts status and exact stdout; stderr must contain each of errs. */
static void expect(const char *src, int status, const char *out, const char *const *errs)
{
	result r = run(src);
	if (r.status != status || strcmp(r.out, out) != 0) {
		fprintf(stderr, "--- program:\n%s\n--- status %d, stdout:\n%s--- stderr:\n%s", src,
		        r.status, r.out, r.err);
		fail_msg("expected status %d and stdout:\n%s", status, out);
	}
	for (int i = 0; errs && errs[i]; i++)
		if (!strstr(r.err, errs[i])) {
			fprintf(stderr, "--- stderr:\n%s", r.err);
			fail_msg("stderr lacks: %s", errs[i]);
		}
	done(&r);
}

#define ERRS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_arithmetic(void **state)
{
	(void)state;
	expect("print(1 + 2 * 3, 7 // 2, -7 // 2, 7 % -3, 2 ** 10, 1 / 4, 2.5 * 2, -(3))\n"
	       "let i = 5\n"
	       "i += 1\n"
	       "i -= 10\n"
	       "i *= 3\n"
	       "print(i, i / 2, 1_000_000 + 0x10, 1e3)\n",
	       0, "7 3 -4 -2 1024 0.25 5.0 -3\n-12 -6.0 1000016 1000.0\n", NULL);
}

static void test_overflow_and_zero(void **state)
{
	(void)state;
	/* the driver's compile-time values are computed by the compiler: an
	 * error there is a compile error, before anything runs */
	expect("let x = 9223372036854775807\nprint(\"a\")\nprint(x + 1)\nprint(\"b\")\n", 1, "",
	       ERRS("t.flow:3:7: error: integer overflow in +\n"));
	expect("let x = -9223372036854775807\nlet y = x * 2\n", 1, "",
	       ERRS("t.flow:2:9: error: integer overflow in *"));
	expect("fn f(a: int) -> int {\n    return a // 0\n}\nprint(f(3))\n", 1, "",
	       ERRS("t.flow:2:12: ", "division by zero", "traceback (innermost last):",
	            "t.flow:4:7: in <driver>", "t.flow:2:12: in f"));
}

static void test_statements(void **state)
{
	(void)state;
	expect("let n = 0\n"
	       "while true {\n"
	       "    n += 1\n"
	       "    if n < 3 { continue } else if n == 5 { break } else { print(\"n\", n) }\n"
	       "}\n"
	       "let t = 0\n"
	       "for i in range(10, 0, -3) { t += i }\n"
	       "for i in range(3) { if i == 1 { continue }\n print(\"i\", i) }\n"
	       "for c in \"hé\" { print(c) }\n"
	       "let d = {\"a\": 1, \"b\": 2}\n"
	       "for k in d { print(k) }\n"
	       "for k, v in d.items() { print(k, v) }\n"
	       "for i, x in enumerate([\"p\", \"q\"]) { print(i, x) }\n"
	       "let a, b = [1, [2]]\n"
	       "print(n, t, a, b, 5 if n > 4 else 6)\n"
	       "a, b = [b, a]\n"
	       "print(a, b)\n",
	       0,
	       "n 3\nn 4\ni 0\ni 2\nh\né\na\nb\na 1\nb 2\n0 p\n1 q\n5 22 1 [2] 5\n[2] 1\n", NULL);
	expect("let a, b = [1, 2, 3]\n", 1, "", ERRS("t.flow:1:", "cannot unpack a list of 3 elements"));
}

static void test_logic_and_compare(void **state)
{
	(void)state;
	expect("print(0 or \"x\", 1 and 2, none or [], not 0, 0 and 1)\n"
	       "print(1 < 2 < 3, 1 < 3 < 2, 3 > 2 >= 2, 1 == 1.0, \"a\" < \"b\")\n"
	       "print(2 in [1, 2], \"b\" not in \"abc\", \"k\" in {\"k\": 1}, 3 not in [3])\n",
	       0,
	       "x 2 [] true 0\ntrue false true true true\ntrue false true false\n", NULL);
}

static void test_comprehensions(void **state)
{
	(void)state;
	expect("let xs = [x * y for x in range(1, 4) if x != 2 for y in [10, 100]]\n"
	       "print(xs, [c for c in \"abc\" if c != \"b\"], [[i, j] for i, j in enumerate([7])])\n"
	       "let x = 42\n"
	       "print([x for x in [1, 2]], x)\n",
	       0, "[10, 100, 30, 300] [\"a\", \"c\"] [[0, 7]]\n[1, 2] 42\n", NULL);
}

static void test_fns_defaults_keywords(void **state)
{
	(void)state;
	expect("fn f(a, b = 2, c = 3) { return a * 100 + b * 10 + c }\n"
	       "fn fib(n: int) -> int { if n < 2 { return n }\n return fib(n - 1) + fib(n - 2) }\n"
	       "fn neg(v: int) -> int { return -v }\n"
	       "const K = 5\n"
	       "fn g(x: int = K * 2) -> int { return x }\n"
	       "print(f(1), f(1, c=5), f(c=1, a=2), fib(20), g(), g(1))\n"
	       "let h = f\n"
	       "print(h(1, c=7), h(4), sorted([3, 1, 2], key=neg), sorted([2, 3, 1], reverse=true))\n",
	       0, "123 125 221 6765 10 1\n127 423 [3, 2, 1] [3, 2, 1]\n", NULL);
}

static void test_fstrings_and_slices(void **state)
{
	(void)state;
	expect("let s = \"héllo\"\n"
	       "print(f\"{3.14159:.2f}|{42:>5}|{1234567:,}|{255:x}|{s}|{[1, \"a\"]}|{{}}\")\n"
	       "print(s[1:], s[::-1], s[-1], [1, 2, 3, 4][1:3], [1, 2, 3][:-1], len(s))\n",
	       0, "3.14|   42|1,234,567|ff|héllo|[1, \"a\"]|{}\néllo olléh o [2, 3] [1, 2] 5\n", NULL);
	expect("let xs = [1, 2, 3]\nprint(xs[5])\n", 1, "", ERRS("t.flow:2:7:"));
}

static void test_containers_mutation(void **state)
{
	(void)state;
	expect("let d = {\"a\": 1}\n"
	       "d[\"b\"] = 2\n"
	       "d[\"a\"] += 10\n"
	       "let m = [[1, 2], [3]]\n"
	       "m[0][1] = 9\n"
	       "m[1].append(4)\n"
	       "let xs = []\n"
	       "xs.append(1)\n"
	       "xs.extend([2, 3])\n"
	       "print(d, m, xs, xs.pop(), xs, d.get(\"z\", 0))\n",
	       0, "{\"a\": 11, \"b\": 2} [[1, 9], [3, 4]] [1, 2] 3 [1, 2] 0\n", NULL);
}

static void test_copy_on_write(void **state)
{
	(void)state;
	expect("task keep(xs: list) -> list { return xs }\n"
	       "task mut(xs: list) -> list {\n"
	       "    xs.append(4)\n"
	       "    return xs\n"
	       "}\n"
	       "let xs = [1, 2]\n"
	       "let f = keep(xs)\n"
	       "xs.append(3)\n"
	       "xs[0] = 9\n"
	       "let m = mut(xs)\n"
	       "print(get(f), xs, get(m))\n"
	       "task edit(ys: list) -> list {\n"
	       "    ys[0].append(5)\n"
	       "    ys[1][\"k\"].append(6)\n"
	       "    ys[1][\"n\"] = 1\n"
	       "    return ys\n"
	       "}\n"
	       "let ys = keep([[1], {\"k\": [2]}])\n"
	       "let zs = edit(ys)\n"
	       "print(ys, zs, get(keep(zs)) == get(zs))\n",
	       0, "[1, 2] [9, 2, 3] [9, 2, 3, 4]\n"
	       "[[1], {\"k\": [2]}] [[1, 5], {\"k\": [2, 6], \"n\": 1}] true\n", NULL);
	/* changing a value the driver does not have yet: from there the
	 * driver runs at run time (the staged driver), on its own copy */
	expect("task keep(xs: list) -> list { return xs }\n"
	       "let r = keep([[1]])\n"
	       "let ys = get(r)\n"
	       "ys[0].append(5)\n"
	       "print(ys, get(r))\n", 0, "[[1, 5]] [[1]]\n", NULL);
}

static void test_actors(void **state)
{
	(void)state;
	expect("actor Counter {\n"
	       "    fn init(start: int = 0) { self.n = start; self.items = [] }\n"
	       "    fn increment() { self.n += 1; self.items.append(self.n) }\n"
	       "    fn read() -> int { return self.n }\n"
	       "    fn all() -> list { return self.items }\n"
	       "    fn twice() { self.increment(); self.increment() }\n"
	       "}\n"
	       "task use(c: Counter) -> int { c.increment()\n return get(c.read()) }\n"
	       "let c = Counter(10)\n"
	       "c.increment()\n"
	       "let snap = c.all()\n"
	       "c.twice()\n"
	       "print(get(c.read()), get(snap), get(c.all()), get(use(c)), Counter().read())\n",
	       0, "13 [11] [11, 12, 13] 14 0\n", NULL);
}

static void test_futures_resolve(void **state)
{
	(void)state;
	expect("task square(x: int) -> int {\n    print(\"sq\", x)\n    return x * x\n}\n"
	       "@associative\ntask add(a: int, b: int) -> int { return a + b }\n"
	       "let f = square(3)\n"
	       "print(f + 1, f\"{square(4)}\", square(5), str(f), f == 9, [square(2)][0] > 3)\n"
	       "print(reduce(add, [square(i) for i in range(1, 4)]), type(f), get([f, {\"a\": f}]))\n",
	       0, "10 16 25 9 true true\n14 future [9, {\"a\": 9}]\n",
	       ERRS("(square#0) sq 3\n(square#2) sq 4\n"));
}

static void test_task_failure(void **state)
{
	(void)state;
	expect("task boom(x: int) -> int {\n    return helper(x)\n}\n"
	       "fn helper(x: int) -> int { return x // 0 }\n"
	       "task inc(x: any) -> int { return x + 1 }\n"
	       "let a = boom(1)\n"
	       "let b = inc(a)\n"
	       "let c = inc([b])\n"
	       "print(\"after\")\n"
	       "print(get(c))\n"
	       "print(\"reached\")\n",
	       1, "after\n",
	       ERRS("t.flow:4:35: error: division by zero (in task 'boom')\n"
	            "    4 | fn helper(x: int) -> int { return x // 0 }\n"
	            "      |                                   ^~~~~~\n"
	            "  traceback (innermost last):\n"
	            "    t.flow:2:12: in boom\n"
	            "    t.flow:4:35: in helper\n"
	            "  task 'boom' failed; it was called from t.flow:6:9\n",
	            "flow: task 'inc' skipped: depends on failed task 'boom'\n",
	            /* the driver ends at the get of a failed value (section 8) */
	            "t.flow:10:7: error: needs the result of failed task 'boom'\n",
	            "  the driver stopped here\n",
	            "flow: 1 task failed, 1 driver error, 2 skipped\n"));
}

static void test_nested_failure(void **state)
{
	(void)state;
	expect("task leaf(x: int) -> int { return 1 // x }\n"
	       "task mid(x: int) -> int { return get(leaf(x)) + 1 }\n"
	       "print(get(mid(1)))\n"
	       "let m = mid(0)\n"
	       "print(\"end\")\n",
	       1, "2\nend\n",
	       ERRS("t.flow:1:35: error: division by zero (in task 'leaf')\n",
	            "  task 'leaf' failed; it was called from t.flow:2:38\n"
	            "flow: task 'mid' stopped at t.flow:2:34: it needs the result of failed task 'leaf'\n"
	            "flow: 1 task failed, 1 skipped\n"));
}

static void test_retries(void **state)
{
	(void)state;
	expect("actor Tries {\n"
	       "    fn init() { self.n = 0 }\n"
	       "    fn bump() -> int { self.n += 1\n return self.n }\n"
	       "}\n"
	       "@retries(3)\n"
	       "task flaky(t: Tries) -> int {\n"
	       "    let k = get(t.bump())\n"
	       "    if k < 3 { error(f\"attempt {k}\") }\n"
	       "    return k\n"
	       "}\n"
	       "@retries(1)\n"
	       "task always() -> int { error(\"nope\") }\n"
	       "print(get(flaky(Tries())))\n"
	       "let x = always()\n"
	       "print(\"end\")\n",
	       1, "3\nend\n",
	       ERRS("t.flow:13:24: error: nope (in task 'always')\n",
	            "  task 'always' failed after 2 attempts; it was called from t.flow:15:9\n",
	            "flow: 1 task failed\n"));
}

static void test_put_wait_bound(void **state)
{
	(void)state;
	expect("task sq(x: int) -> int { return x * x }\n"
	       "task main() -> list {\n"
	       "    let fs = [sq(i) for i in range(4)]\n"
	       "    let rp = wait(fs, n=2)\n"
	       "    print(\"ready\", len(rp[0]), len(rp[1]))\n"
	       "    let big = put([1, 2, 3])\n"
	       "    return [get(big), sum(get(fs))]\n"
	       "}\n"
	       "actor Log { fn say(s: str) { print(s) } }\n"
	       "let l = Log()\n"
	       "l.say(\"hi\")\n"
	       "let xs = [3, 1]\n"
	       "let add = xs.append\n"
	       "add(2)\n"
	       "print(get(main()), xs, \"a-b\".split(\"-\"))\n",
	       0, "[[1, 2, 3], 14] [3, 1, 2] [\"a\", \"b\"]\n",
	       ERRS("(Log.say#1) hi\n", "(main#2) ready 2 2\n"));
}

static void test_tensors(void **state)
{
	(void)state;
	expect("import tensor as t\n"
	       "let m = t.reshape(t.arange(6), [2, 3])\n"
	       "print(t.to_list(m[1]), m[0][2], t.to_list(m[1:]), t.shape(m @ t.transpose(m)))\n"
	       "for row in m { print(t.to_list(row)) }\n"
	       "task scale(x: tensor, k: float) -> tensor { return x * k }\n"
	       "print(t.to_list(scale(m, 2)), type(scale(m, 1)))\n",
	       0,
	       "[3.0, 4.0, 5.0] 2.0 [[3.0, 4.0, 5.0]] [2, 2]\n[0.0, 1.0, 2.0]\n[3.0, 4.0, 5.0]\n"
	       "[[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]] future\n", NULL);
	expect("import tensor as t\nlet m = t.arange(2)\nprint(m[5])\n", 1, "", ERRS("t.flow:3:7: "));
}

static void test_type_checks(void **state)
{
	(void)state;
	expect("fn sq(x: int) -> int { return x * x }\n"
	       "fn half(x: float) -> float { return x / 2 }\n"
	       "let xs = [3, \"a\"]\n"
	       "print(sq(xs[0]), half(3))\n"
	       "print(sq(xs[1]))\n",
	       1, "", ERRS("t.flow:5:7: error: argument 'x' of 'sq' must be int, got str"));
	expect("fn bad(x) -> int { return x }\n"
	       "print(bad(1))\n"
	       "print(bad(\"s\"))\n",
	       1, "", ERRS("t.flow:1:20: error: return value of 'bad' must be int, got str"));
}

static void test_recursion_limit(void **state)
{
	(void)state;
	expect("fn r(n: int) -> int { return r(n + 1) }\nprint(r(0))\n", 1, "",
	       ERRS("maximum recursion depth exceeded", "(repeated 9998 more times)"));
}

static void test_random_seeded(void **state)
{
	(void)state;
	const char *src = "import random\n"
	                  "task roll() -> int { return random.randint(1, 1000000) }\n"
	                  "print(roll(), roll(), random.randint(1, 1000000))\n";
	result a = run_seed(src, 7), b = run_seed(src, 7), c = run_seed(src, 8);
	assert_int_equal(a.status, 0);
	assert_string_equal(a.out, b.out);
	assert_string_not_equal(a.out, c.out);
	done(&a);
	done(&b);
	done(&c);
}

static void test_dump_bytecode(void **state)
{
	(void)state;
	const char *src = "fn fib(n: int) -> int { if n < 2 { return n }\n return fib(n - 1) + fib(n - 2) }\n"
	                  "@cpus(2) @memory(\"2GiB\")\ntask t(x: int = 1) -> int { return x }\n"
	                  "print(fib(10), t())\n";
	diag_ctx d;
	flow_loader l;
	diag_init(&d);
	loader_init(&l, &d);
	assert_int_equal(loader_load_source(&l, "t.flow", src, strlen(src), NULL, 0), 0);
	bc_program *p = compile_program(&l);
	assert_non_null(p);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bc_dump(p, f);
	fclose(f);
	assert_non_null(strstr(buf, "fn fib(n: int) -> int"));
	assert_non_null(strstr(buf, "CALLP"));
	assert_non_null(strstr(buf, "; fib"));
	assert_non_null(strstr(buf, "task t(x: int = 1) -> int"));
	assert_non_null(strstr(buf, "cpus=2 memory=2147483648"));
	assert_non_null(strstr(buf, "CALLT"));
	assert_non_null(strstr(buf, "t.flow:2"));
	free(buf);
	bc_program_free(p);
	loader_fini(&l);
	diag_fini(&d);
}

static void test_const_errors(void **state)
{
	(void)state;
	result r = run("const K = 1 // 0\nprint(K)\n");
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.err, "t.flow:1:11: error: division by zero"));
	done(&r);
	r = run("fn f(x: int = [1, 2][5]) { return x }\nprint(f(2))\n");
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.err, "t.flow:1:15: error: default value of 'x': "));
	done(&r);
}

/* An error value crosses plans and the wire as its four fields; a payload
 * that is not [str, known kind, str|none, str] is refused. */
static void test_error_value_codec(void **state)
{
	(void)state;
	value e = vm_error_new(ERR_TASK, "went wrong", "fetch", "f.flow:1:2: error: went wrong");
	sbuf b;
	sbuf_init(&b);
	verr er;
	assert_int_equal(val_encode(&b, e, &er), 0);
	value d;
	assert_int_equal(val_decode(b.data, b.len, &d, &er), 0);
	assert_int_equal(d.t, V_ERROR);
	const verror *x = (const verror *)d.as.o;
	assert_string_equal(str_data(x->message), "went wrong");
	assert_string_equal(str_data(x->kind), "task");
	assert_string_equal(str_data(x->task), "fetch");
	sbuf t;
	sbuf_init(&t);
	val_str(&t, d);
	assert_int_equal(t.len, strlen("f.flow:1:2: error: went wrong"));
	sbuf_fini(&t);
	val_rele(d);
	/* every truncation fails cleanly */
	for (size_t n = 0; n < b.len; n++)
		assert_int_not_equal(val_decode(b.data, n, &d, &er), 0);
	sbuf_fini(&b);
	val_rele(e);
	/* a payload with an unknown kind */
	e = vm_error_new(ERR_RUNTIME, "m", NULL, "m");
	((verror *)e.as.o)->kind = (val_rele(((verror *)e.as.o)->kind), str_from_c("bogus"));
	sbuf_init(&b);
	assert_int_equal(val_encode(&b, e, &er), 0);
	assert_int_not_equal(val_decode(b.data, b.len, &d, &er), 0);
	sbuf_fini(&b);
	val_rele(e);
}

int main(void)
{
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arithmetic),
		cmocka_unit_test(test_overflow_and_zero),
		cmocka_unit_test(test_statements),
		cmocka_unit_test(test_logic_and_compare),
		cmocka_unit_test(test_comprehensions),
		cmocka_unit_test(test_fns_defaults_keywords),
		cmocka_unit_test(test_fstrings_and_slices),
		cmocka_unit_test(test_containers_mutation),
		cmocka_unit_test(test_copy_on_write),
		cmocka_unit_test(test_actors),
		cmocka_unit_test(test_futures_resolve),
		cmocka_unit_test(test_task_failure),
		cmocka_unit_test(test_nested_failure),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_put_wait_bound),
		cmocka_unit_test(test_tensors),
		cmocka_unit_test(test_type_checks),
		cmocka_unit_test(test_recursion_limit),
		cmocka_unit_test(test_random_seeded),
		cmocka_unit_test(test_dump_bytecode),
		cmocka_unit_test(test_const_errors),
		cmocka_unit_test(test_error_value_codec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
