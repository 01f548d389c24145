/* test_obs.c - watching a run (executor/run_obs.c): per-node outcomes,
 * threads and retries under both executors, the Chrome trace (valid
 * JSON, one "X" event per node that ran, escaped call sites), the DOT
 * coloured by outcome (compiler/dot.c's decoration hook) and the
 * progress line's text. A small program is compiled, lowered and run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/dag.h"
#include "compiler/dot.h"
#include "compiler/lower.h"
#include "executor/run_obs.h"
#include "executor/executor.h"
#include "lang/compile.h"
#include "lang/vm.h"
#include "lowered.h"

static const char src[] =
	"task sq(x: int) -> int { return x * x }\n"
	"@retries(2)\n"
	"task boom(x: int) -> int { return x / 0 }\n"
	"task add(a: int, b: int) -> int { return a + b }\n"
	"let xs = [sq(i) for i in range(6)]\n"
	"let b = boom(2)\n"
	"let c = add(xs[0], b)\n"
	"let d = add(xs[1], xs[2])\n"
	"print(get(d))\n";

/* a path a JSON or DOT writer must escape */
#define PATH "we\"ird\\dir/t.flow"

static prog *load(void)
{
	return lowered_load(PATH, src);
}

/* Runs a fresh lowering of the program, watched (its nodes timed, as for
 * --trace and --dot-out, or not); returns the observer. */
static run_obs *run_timed(prog *g, bool parallel, bool timed)
{
	FILE *null = fopen("/dev/null", "w");
	assert_non_null(null);
	run_obs *o = obs_new(g->g, NULL);
	if (timed)
		obs_time_nodes(o);
	int rc;
	if (parallel) {
		exec_opts po = {.seed = 0, .out = null, .err = null, .cpus = 2, .obs = o};
		rc = executor_run(&executor_parallel, g->g, &po);
	} else {
		exec_opts so = {.seed = 0, .out = null, .err = null, .obs = o};
		rc = executor_run(&executor_serial, g->g, &so);
	}
	assert_int_equal(rc, 1); /* boom fails */
	fclose(null);
	return o;
}

static run_obs *run(prog *g, bool parallel) { return run_timed(g, parallel, true); }

/* The ids of the nodes labelled `name`, in id order; returns how many. */
static int nodes_named(const dag *g, const char *name, uint32_t *ids, int max)
{
	int k = 0;
	char buf[128];
	for (uint32_t v = 0; v < g->n; v++)
		if (strcmp(dag_label(g, v, buf, sizeof buf), name) == 0 && k < max)
			ids[k++] = v;
	return k;
}

/* What write writes, malloc'd (through a temporary file: gcc's
 * dangling-pointer analysis misreads open_memstream's buffer). */
static char *text_of(int (*write)(const run_obs *, FILE *), const run_obs *o)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(write(o, f), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	rewind(f);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int write_dot(const run_obs *o, FILE *f) { return obs_write_dot(o, NULL, f); }

static int count(const char *hay, const char *needle)
{
	int k = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		k++;
	return k;
}

/* ---- a small JSON syntax checker (RFC 8259, no semantics) ---------------- */

static const char *ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

static const char *jvalue(const char *s, int depth);

static const char *jstring(const char *s)
{
	if (*s++ != '"')
		return NULL;
	while (*s != '"') {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20)
			return NULL; /* also the end of the text */
		if (c == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
						return NULL;
				s += 5;
				continue;
			}
			if (!*s || !strchr("\"\\/bfnrt", *s))
				return NULL;
		}
		s++;
	}
	return s + 1;
}

static const char *jnumber(const char *s)
{
	const char *st = s;
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return NULL;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return NULL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return NULL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return s > st ? s : NULL;
}

static const char *jvalue(const char *s, int depth)
{
	if (depth > 64)
		return NULL;
	s = ws(s);
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';
		bool obj = *s == '{';
		s = ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (obj) {
				s = jstring(ws(s));
				if (!s)
					return NULL;
				s = ws(s);
				if (*s++ != ':')
					return NULL;
			}
			s = jvalue(s, depth + 1);
			if (!s)
				return NULL;
			s = ws(s);
			if (*s == close)
				return s + 1;
			if (*s++ != ',')
				return NULL;
		}
	}
	if (*s == '"')
		return jstring(s);
	if (!strncmp(s, "true", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (!strncmp(s, "null", 4))
		return s + 4;
	return jnumber(s);
}

static bool json_ok(const char *text)
{
	const char *e = jvalue(text, 0);
	return e && *ws(e) == 0;
}

static void test_json_checker(void **state)
{
	(void)state;
	assert_true(json_ok("{\"a\":[1,2.5,-3e2,\"x\\\"y\\u00e9\"],\"b\":{}}\n"));
	assert_false(json_ok("{\"a\":[1,2,]}"));
	assert_false(json_ok("{\"a\":\"x\"y\"}"));
	assert_false(json_ok("{\"a\":1"));
	assert_false(json_ok("[01]"));
	assert_false(json_ok("[\"\\q\"]"));
}

/* ---- outcomes -------------------------------------------------------------- */

static void check_outcomes(prog *g, run_obs *o, bool parallel)
{
	bool timed = o->timed;
	uint32_t sq[8], boom[2], add[4];
	assert_int_equal(nodes_named(g->g, "sq", sq, 8), 6);
	assert_int_equal(nodes_named(g->g, "boom", boom, 2), 1);
	assert_int_equal(nodes_named(g->g, "add", add, 4), 2);
	for (int j = 0; j < 6; j++)
		assert_int_equal(o->outcome[sq[j]], OBS_DONE);
	assert_int_equal(o->outcome[boom[0]], OBS_FAILED);
	assert_int_equal(o->outcome[add[0]], OBS_SKIPPED); /* add(xs[0], b) */
	assert_int_equal(o->outcome[add[1]], OBS_DONE);
	for (uint32_t v = 0; v < g->g->n; v++) {
		assert_int_not_equal(o->outcome[v], OBS_NOT_RUN);
		if (timed)
			assert_true(o->start[v] >= o->t0 && o->end[v] >= o->start[v] &&
			            o->t1 >= o->end[v]);
		else /* outcomes without a clock read per node */
			assert_true(o->start[v] == 0 && o->end[v] == 0);
		bool task = g->g->nodes[v].kind == DAG_TASK;
		if (!parallel || !task)
			assert_int_equal(o->tid[v], 0); /* the driver thread */
		else
			assert_true(o->tid[v] >= 1 && o->tid[v] <= 2);
	}
	obs_counts c;
	obs_count(o, &c);
	assert_int_equal(c.tasks, 9);
	assert_int_equal(c.tasks_run, 8); /* the skipped add did not run */
	assert_int_equal(c.retries, 2);   /* @retries(2): two more attempts */
	assert_int_equal(c.by_outcome[OBS_FAILED], 1);
	assert_int_equal(o->nfailed, 1);
	assert_int_equal(o->tasks_started, 9); /* every call that began ended */
	assert_int_equal(o->tasks_ended, 9);
	assert_int_equal(o->nworkers, parallel ? 2 : 0);
}

/* Not timed (no --trace, --dot-out or --address): the same outcomes. */
static void test_outcomes_untimed(void **state)
{
	(void)state;
	for (int par = 0; par < 2; par++) {
		prog *g = load();
		run_obs *o = run_timed(g, par, false);
		check_outcomes(g, o, par);
		obs_free(o);
		lowered_free(g);
	}
}

static void test_outcomes_serial(void **state)
{
	(void)state;
	prog *g = load();
	run_obs *o = run(g, false);
	check_outcomes(g, o, false);
	obs_free(o);
	lowered_free(g);
}

static void test_outcomes_parallel(void **state)
{
	(void)state;
	for (int rep = 0; rep < 5; rep++) {
		prog *g = load();
		run_obs *o = run(g, true);
		check_outcomes(g, o, true);
		obs_free(o);
		lowered_free(g);
	}
}

/* ---- the trace ----------------------------------------------------------------- */

static void check_trace(bool parallel)
{
	prog *g = load();
	run_obs *o = run(g, parallel);
	char *t = text_of(obs_write_trace, o);
	assert_true(json_ok(t));
	assert_int_equal(count(t, "\"ph\":\"X\""), (int)g->g->n);
	assert_int_equal(count(t, "\"cat\":\"task\""), 9);
	assert_int_equal(count(t, "\"outcome\":\"failed\""), 1);
	assert_int_equal(count(t, "\"outcome\":\"skipped\""), 1);
	assert_non_null(strstr(t, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{\"name\":\"driver\"}}"));
	assert_int_equal(count(t, "\"name\":\"worker 2\""), parallel ? 1 : 0);
	/* the call site: the path escaped, line and column of boom(2) */
	assert_non_null(strstr(t, "\"call site\":\"we\\\"ird\\\\dir/t.flow:6:9\""));
	free(t);
	obs_free(o);
	lowered_free(g);
}

static void test_trace_serial(void **state)
{
	(void)state;
	check_trace(false);
}

static void test_trace_parallel(void **state)
{
	(void)state;
	check_trace(true);
}

/* ---- --dot-out ------------------------------------------------------------------ */

/* The DOT line of the node whose label starts with `label`. Malloc'd. */
static char *dot_line(const char *dot, const char *label)
{
	char key[64];
	snprintf(key, sizeof key, "[label=\"%s\\n", label);
	const char *p = strstr(dot, key);
	assert_non_null(p);
	while (p > dot && p[-1] != '\n')
		p--;
	const char *e = strchr(p, '\n');
	return strndup(p, (size_t)(e - p));
}

static void test_dot_out(void **state)
{
	(void)state;
	prog *g = load();
	run_obs *o = run(g, true);
	char *dot = text_of(write_dot, o);
	char *sq = dot_line(dot, "sq"), *boom = dot_line(dot, "boom");
	/* six sq calls: one group, done, total and mean time */
	assert_non_null(strstr(sq, "\xc3\x97" "6\\ntotal "));
	assert_non_null(strstr(sq, ", mean "));
	assert_non_null(strstr(sq, "style=\"rounded,bold,filled\", fillcolor=\"#c7e9c0\""));
	assert_non_null(strstr(boom, "(failed)"));
	assert_non_null(strstr(boom, "fillcolor=\"#fb6a4a\""));
	assert_int_equal(count(dot, "fillcolor=\"#d9d9d9\""), 1); /* the skipped add */
	assert_int_equal(count(dot, "\\nskipped\""), 1);
	assert_int_equal(count(dot, "shape=note, style=\"filled\""), 2); /* get, print */
	free(sq);
	free(boom);
	free(dot);
	/* one sq call of six failed: the group is filled by its mix (a
	 * sixth red, the rest green) and says so, not wholly red */
	for (uint32_t v = 0; v < g->g->n; v++)
		if (g->g->nodes[v].kind == DAG_TASK &&
		    strcmp(g->g->prog->protos[g->g->nodes[v].proto]->name, "sq") == 0) {
			o->outcome[v] = OBS_FAILED;
			break;
		}
	dot = text_of(write_dot, o);
	sq = dot_line(dot, "sq");
	assert_non_null(strstr(sq, "fillcolor=\"#fb6a4a;0.17:#c7e9c0\""));
	assert_non_null(strstr(sq, "\\n1 of 6 failed\""));
	free(sq);
	free(dot);
	obs_free(o);
	lowered_free(g);

	/* nothing run: every node white, "not run"; --full draws each node */
	g = load();
	assert_int_equal(dag_finalize(g->g), 0);
	o = obs_new(g->g, NULL);
	dot_opts full = {NULL, true, NULL, NULL};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(obs_write_dot(o, &full, f), 0);
	fclose(f);
	assert_int_equal(count(buf, "fillcolor=\"white\""), (int)g->g->n);
	assert_int_equal(count(buf, "\\nnot run\""), (int)g->g->n);
	free(buf);
	obs_free(o);
	lowered_free(g);
}

/* Without the hook the writer's output does not change (the DOT goldens
 * check the bytes; here: no fill, no extra line). */
static void test_dot_plain(void **state)
{
	(void)state;
	prog *g = load();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	dot_opts plain = {NULL, false, NULL, NULL};
	assert_int_equal(dag_write_dot(g->g, &plain, f), 0);
	fclose(f);
	assert_null(strstr(buf, "fillcolor"));
	assert_non_null(strstr(buf, "[label=\"sq\\nwe\\\"ird\\\\dir/t.flow:5\\n\xc3\x97" "6\", shape=box, style=\"rounded,bold\", peripheries=2];"));
	free(buf);
	lowered_free(g);
}

/* ---- the progress line ------------------------------------------------------------ */

static void test_progress_format(void **state)
{
	(void)state;
	char b[160];
	obs_progress_format(b, sizeof b, 40, 100, 2, 1, 2.0);
	assert_string_equal(b, "[40/100] 40% running 2, failed 1, 20 tasks/s, elapsed 2.0 s, ETA 3 s");
	obs_progress_format(b, sizeof b, 0, 7, 0, 0, 0.0);
	assert_string_equal(b, "[0/7] 0% running 0, failed 0, 0 tasks/s, elapsed 0.0 s, ETA ?");
	obs_progress_format(b, sizeof b, 1000000, 1000000, 0, 0, 0.5);
	assert_string_equal(b, "[1000000/1000000] 100% running 0, failed 0, 2000000 tasks/s, elapsed 0.5 s, "
	                    "ETA 0 s");
	obs_progress_format(b, sizeof b, 1, 3, 1, 0, 10.0);
	assert_string_equal(b, "[1/3] 33% running 1, failed 0, 0 tasks/s, elapsed 10.0 s, ETA 20 s");
	/* truncated, never overrun */
	assert_true(obs_progress_format(b, 10, 1, 2, 3, 4, 5.0) > 9);
	assert_int_equal(strlen(b), 9);
}

/* A progress stream that is not a terminal still gets well-formed redraws
 * (the CLI only passes one when stderr is a TTY): each is \r, the line,
 * clear to end of line; at the end it is erased and a summary stays. */
static void test_progress_drawn(void **state)
{
	(void)state;
	prog *g = load();
	char *buf = NULL;
	size_t len = 0;
	FILE *pf = open_memstream(&buf, &len);
	run_obs *o = obs_new(g->g, pf);
	obs_run_begin(o, 0);
	o->t0 -= 200000000ull; /* as if 200 ms had passed */
	o->last_draw = o->t0;
	obs_tick(o);
	obs_tick(o); /* too soon: nothing */
	obs_run_end(o);
	fclose(pf);
	char want[160];
	snprintf(want, sizeof want, "\r[0/%u] 0%% running 0, failed 0, 0 tasks/s, elapsed 0.2 s, ETA ?"
	         "\x1b[K\r\x1b[Kflow: 0 tasks in ", o->ntask_nodes);
	assert_non_null(strstr(buf, want));
	assert_int_equal(strncmp(buf, want, strlen(want)), 0);
	assert_non_null(strstr(buf, " s, 0 failed, 0 tasks/s\n"));
	free(buf);
	obs_free(o);
	lowered_free(g);
}

/* A task's print while the line is shown: the line is cleared first,
 * the print is written whole, the line is drawn again after it; after
 * the run's end no redraw. */
static void test_task_stream(void **state)
{
	(void)state;
	prog *g = load();
	char *buf = NULL;
	size_t len = 0;
	FILE *pf = open_memstream(&buf, &len);
	run_obs *o = obs_new(g->g, pf);
	run_obs *quiet = obs_new(g->g, NULL);
	assert_ptr_equal(obs_task_stream(quiet, stdout), stdout); /* no progress line */
	obs_free(quiet);
	FILE *ts = obs_task_stream(o, pf);
	assert_ptr_not_equal(ts, pf);
	obs_run_begin(o, 0);
	o->t0 -= 200000000ull;
	o->last_draw = o->t0;
	obs_tick(o);
	fprintf(ts, "(sq#3) ");
	fputs("hello\n", ts);
	fflush(pf);
	char want[512];
	snprintf(want, sizeof want, "\r%s\x1b[K\r\x1b[K(sq#3) hello\n\r%s\x1b[K", o->line, o->line);
	assert_string_equal(buf, want);
	obs_run_end(o);
	size_t before = strlen(want);
	fputs("after\n", ts);
	obs_task_stream_close(ts, pf);
	fclose(pf);
	/* erased, the summary, then the print with no redraw */
	assert_non_null(strstr(buf + before, "\r\x1b[Kflow: 0 tasks in "));
	size_t n = strlen(buf);
	assert_true(n > 6);
	assert_string_equal(buf + n - 6, "after\n");
	free(buf);
	obs_free(o);
	lowered_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_checker),
		cmocka_unit_test(test_outcomes_serial),
		cmocka_unit_test(test_outcomes_untimed),
		cmocka_unit_test(test_outcomes_parallel),
		cmocka_unit_test(test_trace_serial),
		cmocka_unit_test(test_trace_parallel),
		cmocka_unit_test(test_dot_out),
		cmocka_unit_test(test_dot_plain),
		cmocka_unit_test(test_progress_format),
		cmocka_unit_test(test_progress_drawn),
		cmocka_unit_test(test_task_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
