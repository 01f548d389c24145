/* test_plan.c - plan files: write/read round trips that run the same, and a
 * loader that survives every flipped byte and every truncation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "compiler/plan.h"
#include "compiler/plan_int.h"
#include "executor/serial.h"
#include "lang/compile.h"
#include "lang/vm.h"

static const char rich_src[] =
	"# a small program that uses most of the language\n"
	"import math\n"
	"param n: int = 5\n"
	"param who: str = \"plans\"\n"
	"const K = [1, 2, 3]\n"
	"const SCALE = n * 2\n"
	"fn twice(x: int, y: int = 2) -> int { return x * y }\n"
	"@retries(1)\n"
	"task square(x: int) -> int { return x * x }\n"
	"task add(a: int, b: int) -> int { return a + b }\n"
	"actor Counter {\n"
	"    fn init(start: int = 0) { self.n = start }\n"
	"    fn add(k: int) -> int {\n"
	"        self.n += k\n"
	"        return self.n\n"
	"    }\n"
	"}\n"
	"let xs = [square(i) for i in range(n)]\n"
	"let total = reduce(add, xs)\n"
	"print(f\"hello {who}: {get(total)} {SCALE:>4} {math.sqrt(16.0):.1f}\")\n"
	"let c = Counter(start=10)\n"
	"c.add(twice(3))\n"
	"print(get(c.add(1)), K, twice(4, y=3))\n"
	"let words = \"a,b,c\".split(\",\")\n"
	"words.append(\"d\")\n"
	"let d = {\"k\": 1}\n"
	"for w in words { if w != \"b\" { print(w, d.get(\"k\")) } }\n"
	"print(sorted([3, 1, 2]), str(1.5), [x for x in range(3) if x % 2 == 0])\n";

typedef struct runres {
	char *out, *err;
	size_t outlen, errlen;
	int status;
} runres;

static runres run_prog(const bc_program *p)
{
	runres r = {0};
	FILE *out = open_memstream(&r.out, &r.outlen);
	FILE *err = open_memstream(&r.err, &r.errlen);
	serial_opts o = { .seed = 1, .out = out, .err = err };
	r.status = serial_run(p, &o);
	fclose(out);
	fclose(err);
	return r;
}

static void runres_free(runres *r)
{
	free(r->out);
	free(r->err);
}

/* Compiles src and writes its plan into *plan. */
static void make_plan(const char *src, sbuf *plan, runres *direct)
{
	diag_ctx d;
	flow_loader l;
	diag_init(&d);
	loader_init(&l, &d);
	if (loader_load_source(&l, "t.flow", src, strlen(src), NULL, 0) != 0)
		diag_print(&d, stderr);
	bc_program *p = compile_program(&l);
	if (!p)
		diag_print(&d, stderr);
	assert_non_null(p);
	char *err = NULL;
	sbuf_init(plan);
	param_set ps = { "n", "5" };
	assert_int_equal(plan_write(plan, p, &ps, 1, &err), 0);
	if (direct)
		*direct = run_prog(p);
	bc_program_free(p);
	loader_fini(&l);
	diag_fini(&d);
}

/* Loads buf; if it loads, frees it. Returns 1 if it loaded. */
static int try_load(const void *buf, size_t len, char **errout)
{
	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	bc_program *p = plan_read(buf, len, &d, &err);
	int ok = p != NULL;
	if (p) {
		assert_null(err);
		bc_program_free(p);
	} else {
		assert_non_null(err);
		assert_non_null(strstr(err, "offset"));
		if (errout)
			*errout = err;
		else
			free(err);
	}
	diag_fini(&d);
	return ok;
}

static void test_roundtrip_runs_the_same(void **state)
{
	(void)state;
	sbuf plan;
	runres direct;
	make_plan(rich_src, &plan, &direct);
	assert_int_equal(direct.status, 0);
	assert_true(plan_is_plan(plan.data, plan.len));

	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, &err);
	if (!p)
		fprintf(stderr, "%s\n", err);
	assert_non_null(p);
	runres fromplan = run_prog(p);
	assert_int_equal(fromplan.status, direct.status);
	assert_string_equal(fromplan.out, direct.out);
	assert_string_equal(fromplan.err, direct.err);
	assert_non_null(strstr(fromplan.out, "hello plans: 30"));

	/* writing the loaded program again gives the same bytes */
	sbuf again;
	sbuf_init(&again);
	param_set ps = { "n", "5" };
	assert_int_equal(plan_write(&again, p, &ps, 1, &err), 0);
	assert_int_equal(again.len, plan.len);
	assert_memory_equal(again.data, plan.data, plan.len);
	sbuf_fini(&again);

	/* the dump names the places of the source */
	char *dump = NULL;
	size_t dlen = 0;
	FILE *f = open_memstream(&dump, &dlen);
	bc_dump(p, f);
	fclose(f);
	assert_non_null(strstr(dump, "t.flow:9"));
	assert_non_null(strstr(dump, "task square"));
	free(dump);

	runres_free(&fromplan);
	runres_free(&direct);
	bc_program_free(p);
	diag_fini(&d);
	sbuf_fini(&plan);
}

static void test_runtime_error_keeps_its_place(void **state)
{
	(void)state;
	static const char src[] =
		"task boom(x: int) -> int { return 10 // x }\n"
		"print(get(boom(0)))\n";
	sbuf plan;
	runres direct;
	make_plan(src, &plan, &direct);
	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, &err);
	assert_non_null(p);
	runres r = run_prog(p);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, direct.err);
	assert_non_null(strstr(r.err, "t.flow:1:"));
	assert_non_null(strstr(r.err, "return 10 // x"));
	runres_free(&r);
	runres_free(&direct);
	bc_program_free(p);
	diag_fini(&d);
	sbuf_fini(&plan);
}

/* Every single flipped byte is caught (by the checksum if nothing else). */
static void test_every_flipped_byte_is_refused(void **state)
{
	(void)state;
	sbuf plan;
	make_plan(rich_src, &plan, NULL);
	uint8_t *b = malloc(plan.len);
	for (size_t i = 0; i < plan.len; i++) {
		memcpy(b, plan.data, plan.len);
		b[i] ^= (uint8_t)(1u << (i % 8));
		assert_false(try_load(b, plan.len, NULL));
	}
	free(b);
	sbuf_fini(&plan);
}

static void test_every_truncation_is_refused(void **state)
{
	(void)state;
	sbuf plan;
	make_plan(rich_src, &plan, NULL);
	for (size_t n = 0; n < plan.len; n++)
		assert_false(try_load(plan.data, n, NULL));
	/* and trailing garbage too */
	sbuf_add(&plan, "x", 1);
	assert_false(try_load(plan.data, plan.len, NULL));
	sbuf_fini(&plan);
}

static void on_alarm(int sig)
{
	(void)sig;
	vm_interrupted = 1;
}

/* Runs a mutant with a 50 ms budget: a flipped jump may well make a
 * valid program that loops forever. */
static void run_mutant(const bc_program *p)
{
	struct itimerval t = { { 0, 0 }, { 0, 50000 } }, off = { { 0, 0 }, { 0, 0 } };
	vm_interrupted = 0;
	signal(SIGALRM, on_alarm);
	setitimer(ITIMER_REAL, &t, NULL);
	runres r = run_prog(p);
	setitimer(ITIMER_REAL, &off, NULL);
	vm_interrupted = 0;
	runres_free(&r);
}

/* Behind the checksum: flip each byte, fix the checksum, and load. The
 * structural validator must refuse it cleanly or accept a program that
 * passed every check; a loaded one is run too (output discarded), which
 * must not crash or leak either (run under ASan). */
static void test_structural_validator(void **state)
{
	(void)state;
	sbuf plan;
	make_plan(rich_src, &plan, NULL);
	size_t body = plan.len - PLAN_SUM_LEN;
	uint8_t *b = malloc(plan.len);
	int loaded = 0, refused = 0;
	const char *save = getenv("FLOW_PLAN_SAVE"); /* for debugging a mutant */
	FILE *sf = save ? fopen(save, "wb") : NULL;
	if (sf) {
		fwrite(plan.data, 1, plan.len, sf);
		fclose(sf);
	}
	static const uint8_t xors[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff };
	for (size_t x = 0; x < sizeof xors; x++) {
		for (size_t i = 0; i < body; i++) {
			memcpy(b, plan.data, plan.len);
			b[i] ^= xors[x];
			plan_sha256(b, body, b + body);
			diag_ctx d;
			diag_init(&d);
			char *err = NULL;
			bc_program *p = plan_read(b, plan.len, &d, &err);
			if (p) {
				loaded++;
				if (getenv("FLOW_PLAN_VERBOSE"))
					fprintf(stderr, "mutant %zu^%02x\n", i, xors[x]);
				run_mutant(p);
				bc_program_free(p);
			} else {
				refused++;
				assert_non_null(err);
				free(err);
			}
			diag_fini(&d);
		}
	}
	print_message("structural flips: %d refused, %d loaded\n", refused, loaded);
	assert_true(refused > 0);
	free(b);
	sbuf_fini(&plan);
}

static void put32(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)x; p[1] = (uint8_t)(x >> 8); p[2] = (uint8_t)(x >> 16); p[3] = (uint8_t)(x >> 24);
}

static void test_future_version_and_not_a_plan(void **state)
{
	(void)state;
	sbuf plan;
	make_plan(rich_src, &plan, NULL);
	size_t body = plan.len - PLAN_SUM_LEN;
	uint8_t *b = malloc(plan.len);
	memcpy(b, plan.data, plan.len);
	put32(b + 8, PLAN_VERSION + 1);
	plan_sha256(b, body, b + body);
	char *err = NULL;
	assert_false(try_load(b, plan.len, &err));
	assert_non_null(strstr(err, "made by a newer flow"));
	free(err);
	/* a newer version is reported even when the rest is unreadable */
	assert_false(try_load(b, 20, &err));
	assert_non_null(strstr(err, "made by a newer flow"));
	free(err);

	/* an unknown optional section is skipped; an unknown required one is not */
	memcpy(b, plan.data, plan.len);
	size_t ent = PLAN_HEADER_LEN; /* the first entry: options, optional */
	put32(b + ent, 99);
	plan_sha256(b, body, b + body);
	assert_true(try_load(b, plan.len, NULL));
	put32(b + ent + 4, PLAN_SEC_REQUIRED);
	plan_sha256(b, body, b + body);
	assert_false(try_load(b, plan.len, &err));
	assert_non_null(strstr(err, "newer flow"));
	free(err);

	const char *text = "print(1)\n";
	assert_false(plan_is_plan(text, strlen(text)));
	assert_false(try_load(text, strlen(text), &err));
	assert_non_null(strstr(err, "magic"));
	free(err);
	free(b);
	sbuf_fini(&plan);
}

/* Hand-made bytecode the compiler would never emit: the type flow refuses
 * it even with a good checksum. */
static void test_type_flow_refuses_misuse(void **state)
{
	(void)state;
	static const char src[] =
		"let parts = [\"a\", \"b\"]\n"
		"for i in range(2) { print(f\"{i}-{parts[i]}\") }\n";
	sbuf plan;
	make_plan(src, &plan, NULL);
	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, &err);
	assert_non_null(p);
	/* point the driver's FORLOOP at register 0 (the 'parts' list) in the
	 * plan bytes, fix the checksum: the loop counter would be a list */
	const bc_proto *drv = p->driver;
	int changed = 0;
	for (int pc = 0; pc < drv->ncode; pc++) {
		uint32_t i = drv->code[pc];
		if (BC_OP(i) != OP_FORLOOP)
			continue;
		uint8_t needle[4];
		put32(needle, i);
		uint8_t *hit = memmem(plan.data, plan.len - PLAN_SUM_LEN, needle, 4);
		assert_non_null(hit);
		uint8_t *b = malloc(plan.len);
		memcpy(b, plan.data, plan.len);
		put32(b + (hit - (uint8_t *)plan.data), i & 0xffff00ffu);
		plan_sha256(b, plan.len - PLAN_SUM_LEN, b + plan.len - PLAN_SUM_LEN);
		char *e2 = NULL;
		assert_false(try_load(b, plan.len, &e2));
		assert_non_null(strstr(e2, "wrong type"));
		free(e2);
		free(b);
		changed++;
	}
	assert_true(changed > 0);
	bc_program_free(p);
	diag_fini(&d);
	sbuf_fini(&plan);
}

int main(void)
{
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_runs_the_same),
		cmocka_unit_test(test_runtime_error_keeps_its_place),
		cmocka_unit_test(test_every_flipped_byte_is_refused),
		cmocka_unit_test(test_every_truncation_is_refused),
		cmocka_unit_test(test_structural_validator),
		cmocka_unit_test(test_future_version_and_not_a_plan),
		cmocka_unit_test(test_type_flow_refuses_misuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
