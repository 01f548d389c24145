/* test_corpus.c - the fuzzers' stored seed corpora (tests/fuzz/corpus/,
 * made by tests/fuzz/make_corpus.sh) stay usable: every plan loads, with
 * its DAG, in this flow, and every value seed decodes and round-trips; and
 * the inputs the fuzzers once crashed on (tests/fuzz/regress/) are now
 * refused cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "compiler/plan_int.h"
#include "lang/encode.h"
#include "lang/vm.h"

static char *data_dir(const char *kind, const char *harness)
{
	const char *root = getenv("FLOW_TEST_DATA");
	char *dir = NULL;
	assert_true(asprintf(&dir, "%s/fuzz/%s/%s", root ? root : "tests", kind, harness) > 0);
	return dir;
}

static char *corpus_dir(const char *harness)
{
	return data_dir("corpus", harness);
}

/* calls f on every file of dir; returns how many */
static int each_file(const char *dir, void (*f)(const char *path, const uint8_t *b, size_t n))
{
	DIR *dp = opendir(dir);
	if (!dp)
		fail_msg("cannot open %s", dir);
	int count = 0;
	struct dirent *e;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		char *path = NULL;
		assert_true(asprintf(&path, "%s/%s", dir, e->d_name) > 0);
		uint8_t *b = NULL;
		size_t n = 0;
		if (plan_slurp(path, &b, &n))
			fail_msg("cannot read %s", path);
		f(path, b, n);
		free(b);
		free(path);
		count++;
	}
	closedir(dp);
	return count;
}

static void load_plan(const char *path, const uint8_t *b, size_t n)
{
	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	dag *g = NULL;
	bc_program *p = plan_read(b, n, &d, &g, &err);
	if (!p)
		fail_msg("%s: %s (plan format changed? run tests/fuzz/make_corpus.sh)", path, err ? err : "?");
	assert_non_null(g); /* flow compile stores the lowered driver */
	dag_free(g);
	bc_program_free(p);
	diag_fini(&d);
}

static void test_every_plan_seed_loads(void **state)
{
	(void)state;
	char *dir = corpus_dir("plan");
	assert_true(each_file(dir, load_plan) >= 10);
	free(dir);
}

static void decode_seed(const char *path, const uint8_t *b, size_t n)
{
	value v;
	verr e;
	if (val_decode(b, n, &v, &e))
		fail_msg("%s: %s", path, e.msg);
	sbuf out;
	sbuf_init(&out);
	assert_int_equal(val_encode(&out, v, &e), 0);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, b, n);
	sbuf_fini(&out);
	val_rele(v);
}

static void test_every_value_seed_decodes(void **state)
{
	(void)state;
	char *dir = corpus_dir("decode");
	assert_true(each_file(dir, decode_seed) >= 5);
	free(dir);
}

/* as fuzz_plan does: the checksum fixed up, so the loader reads on */
static void refuse_plan(const char *path, const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n);
	assert_non_null(c);
	memcpy(c, b, n);
	plan_fix_checksum(c, n);
	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	dag *g = NULL;
	bc_program *p = plan_read(c, n, &d, &g, &err);
	if (p)
		fail_msg("%s: loaded", path);
	assert_non_null(err);
	free(err);
	diag_fini(&d);
	free(c);
}

static void test_plan_regressions_refused(void **state)
{
	(void)state;
	char *dir = data_dir("regress", "plan");
	assert_true(each_file(dir, refuse_plan) >= 1);
	free(dir);
}

int main(void)
{
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_plan_seed_loads),
		cmocka_unit_test(test_every_value_seed_decodes),
		cmocka_unit_test(test_plan_regressions_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
