/* test_dot.c - the Graphviz writer (compiler/dot.c): shapes per kind,
 * actor clusters, ordering edges, escaping, collapsing of fan-outs and
 * reduce trees, determinism, rankdir, and rendering through Graphviz.
 * DAGs are built by hand the way lowering builds them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/dag.h"
#include "compiler/dot.h"
#include "lang/compile.h"
#include "lang/vm.h"
#include "lowered.h"

static const char src[] =
	"task f(x: int) -> int { return x * 2 }\n"
	"@associative\n"
	"task add(a: int, b: int) -> int { return a + b }\n"
	"actor Counter {\n"
	"    fn init(start: int = 0) { self.n = start }\n"
	"    fn bump(k: int) -> int {\n"
	"        self.n += k\n"
	"        return self.n\n"
	"    }\n"
	"}\n"
	"fn show(x: int) { print(x) }\n"
	"print(\"hello\")\n";

/* src compiled (lowered.h; not lowered: these tests build their DAGs)
 * and the indices the tests name */
typedef struct dprog {
	prog *c;
	bc_program *p; /* c->p */
	uint32_t f, add, bump, driver, print_pc;
} dprog;

static dprog *load(const char *path)
{
	dprog *g = calloc(1, sizeof *g);
	assert_non_null(g);
	g->c = lowered_compile(path, src);
	g->p = g->c->p;
	for (int i = 0; i < g->p->nprotos; i++) {
		const char *n = g->p->protos[i]->name;
		if (strcmp(n, "f") == 0)
			g->f = (uint32_t)i;
		else if (strcmp(n, "add") == 0)
			g->add = (uint32_t)i;
		else if (strcmp(n, "Counter.bump") == 0)
			g->bump = (uint32_t)i;
	}
	/* the driver is not in protos (index -1): an fn's print stands in
	 * for a driver instruction */
	const bc_proto *dr = NULL;
	for (int i = 0; i < g->p->nprotos; i++)
		if (strcmp(g->p->protos[i]->name, "show") == 0)
			dr = g->p->protos[i];
	assert_non_null(dr);
	g->driver = (uint32_t)dr->index;
	g->print_pc = UINT32_MAX;
	for (int pc = 0; pc < dr->ncode; pc++)
		if (BC_OP(dr->code[pc]) == OP_NATIVE)
			g->print_pc = (uint32_t)pc;
	assert_int_not_equal(g->print_pc, UINT32_MAX);
	return g;
}

static void unload(dprog *g)
{
	lowered_free(g->c);
	free(g);
}

static dprog *P; /* the program most tests use, path "t.flow" */

static int setup(void **state)
{
	P = load("t.flow");
	return 0;
}

static int teardown(void **state)
{
	unload(P);
	return 0;
}

static span at(int line)
{
	return (span){ .file = 0, .line = line, .col = 1, .end_line = line, .end_col = 9 };
}

static uint32_t task1(dag *d, uint32_t proto, value a, int line)
{
	return dag_add(d, DAG_TASK, proto, 0, 0, &a, NULL, 1, at(line));
}

static uint32_t task2(dag *d, uint32_t proto, uint32_t a, uint32_t b, int line)
{
	value in[2] = { d->fut[a], d->fut[b] };
	return dag_add(d, DAG_TASK, proto, 0, 0, in, NULL, 2, at(line));
}

/* The DOT text of d (finalized here). */
static char *dot_of(dag *d, const char *rankdir, bool full)
{
	assert_int_equal(dag_finalize(d), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	dot_opts o = { rankdir, full };
	assert_int_equal(dag_write_dot(d, &o, f), 0);
	fclose(f);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Node lines are the ones with a shape (edges have none) */
static int nodes_in(const char *dot)
{
	return count(dot, "\", shape=");
}

static void test_shapes(void **state)
{
	dag *d = dag_new(P->p);
	uint32_t t = task1(d, P->f, v_int(1), 11);
	uint32_t a = dag_add(d, DAG_ACTOR, 0, 0, 0, NULL, NULL, 0, at(12));
	value k = v_int(2);
	uint32_t m = dag_add(d, DAG_METHOD, P->bump, a, 0, &k, NULL, 1, at(13));
	value in = d->fut[t];
	uint32_t im = dag_add(d, DAG_IMPLICIT, P->driver, P->print_pc, 1, &in, NULL, 1, at(14));
	uint32_t ef = dag_add(d, DAG_EFFECT, P->driver, P->print_pc, 1, &in, NULL, 1, at(15));
	value mv = d->fut[m];
	uint32_t pu = dag_add(d, DAG_PUT, 0, 0, 0, &mv, NULL, 1, at(16));
	assert_int_equal(pu, 5);
	char *s = dot_of(d, NULL, false);
	assert_non_null(strstr(s, "digraph flow {\n  rankdir=TB;\n"));
	assert_non_null(strstr(s, "n0 [label=\"f\\nt.flow:11\", shape=box, style=rounded];"));
	assert_non_null(strstr(s, "n1 [label=\"Counter\\nt.flow:12\", shape=box3d];"));
	assert_non_null(strstr(s, "n2 [label=\"Counter.bump\\nt.flow:13\", shape=ellipse];"));
	assert_non_null(strstr(s, "n3 [label=\"print\\nt.flow:14\", shape=oval, style=dashed"));
	assert_non_null(strstr(s, "n4 [label=\"print\\nt.flow:15\", shape=note];"));
	assert_non_null(strstr(s, "n5 [label=\"put\\nt.flow:16\", shape=cylinder];"));
	/* data edges are plain */
	assert_non_null(strstr(s, "  n0 -> n3;\n"));
	assert_non_null(strstr(s, "  n0 -> n4;\n"));
	assert_non_null(strstr(s, "  n1 -> n2;\n"));
	assert_non_null(strstr(s, "  n2 -> n5;\n"));
	assert_int_equal(nodes_in(s), 6);
	assert_int_equal(count(s, "\u00d7"), 0);
	assert_string_equal(s + strlen(s) - 2, "}\n");
	(void)im; (void)ef;
	free(s);
	dag_free(d);
}

/* Returns the text of the cluster named name, up to its closing brace. */
static char *cluster(const char *s, const char *name)
{
	const char *b = strstr(s, name);
	assert_non_null(b);
	const char *e = strstr(b, "\n  }\n");
	assert_non_null(e);
	return strndup(b, (size_t)(e - b));
}

/* Four actors made at one place (a comprehension): four boxes, #1 to #4,
 * each with its own calls, never one group. */
static void test_actor_instances(void **state)
{
	dag *d = dag_new(P->p);
	value k = v_int(1);
	uint32_t a[4];
	for (int i = 0; i < 4; i++)
		a[i] = dag_add(d, DAG_ACTOR, 0, 0, 0, NULL, NULL, 0, at(1));
	for (int i = 0; i < 4; i++)
		dag_add(d, DAG_METHOD, P->bump, a[i], 0, &k, NULL, 1, at(2));
	char *s = dot_of(d, NULL, false);
	assert_int_equal(count(s, "subgraph cluster_"), 4);
	for (int i = 1; i <= 4; i++) {
		char want[32];
		snprintf(want, sizeof want, "label=\"Counter #%d\"", i);
		assert_int_equal(count(s, want), 1);
	}
	assert_int_equal(nodes_in(s), 8);
	assert_int_equal(count(s, "\u00d7"), 0);
	free(s);
	dag_free(d);
}

static void test_clusters(void **state)
{
	dag *d = dag_new(P->p);
	uint32_t a = dag_add(d, DAG_ACTOR, 0, 0, 0, NULL, NULL, 0, at(1));
	uint32_t b = dag_add(d, DAG_ACTOR, 0, 0, 0, NULL, NULL, 0, at(2));
	value k = v_int(1);
	uint32_t ma = dag_add(d, DAG_METHOD, P->bump, a, 0, &k, NULL, 1, at(3));
	uint32_t mb = dag_add(d, DAG_METHOD, P->bump, b, 0, &k, NULL, 1, at(4));
	uint32_t ma2 = dag_add(d, DAG_METHOD, P->bump, a, 0, &k, NULL, 1, at(5));
	dag_order(d, ma, ma2); /* per actor, calls in order */
	uint32_t t = task1(d, P->f, v_int(3), 6);
	char *s = dot_of(d, NULL, false);
	char *ca = cluster(s, "subgraph cluster_actor0 {");
	char *cb = cluster(s, "subgraph cluster_actor1 {");
	/* by creation order within the class */
	assert_non_null(strstr(ca, "label=\"Counter #1\""));
	assert_non_null(strstr(cb, "label=\"Counter #2\""));
	assert_non_null(strstr(ca, "n0 [label="));
	assert_non_null(strstr(ca, "n2 [label="));
	assert_non_null(strstr(ca, "n4 [label="));
	assert_null(strstr(ca, "n3 [label="));
	assert_non_null(strstr(cb, "n1 [label="));
	assert_non_null(strstr(cb, "n3 [label="));
	assert_null(strstr(cb, "n2 [label="));
	/* the task is outside every cluster */
	assert_null(strstr(ca, "n5 [label="));
	assert_null(strstr(cb, "n5 [label="));
	assert_non_null(strstr(s, "\n  n5 [label=\"f\\nt.flow:6\""));
	assert_int_equal(count(s, "subgraph cluster_"), 2);
	assert_non_null(strstr(s, "  n2 -> n4 [style=dashed, color=gray50];\n"));
	(void)mb; (void)t;
	free(ca);
	free(cb);
	free(s);
	dag_free(d);
}

static void test_ordering_edge(void **state)
{
	dag *d = dag_new(P->p);
	uint32_t t = task1(d, P->f, v_int(1), 1);
	value in = d->fut[t];
	uint32_t e1 = dag_add(d, DAG_EFFECT, P->driver, P->print_pc, 1, &in, NULL, 1, at(2));
	uint32_t e2 = dag_add(d, DAG_EFFECT, P->driver, P->print_pc, 1, NULL, NULL, 0, at(3));
	dag_order(d, e1, e2);
	/* an ordering edge that duplicates a data edge is a data edge */
	dag_order(d, t, e1);
	char *s = dot_of(d, NULL, false);
	assert_non_null(strstr(s, "  n1 -> n2 [style=dashed, color=gray50];\n"));
	assert_non_null(strstr(s, "  n0 -> n1;\n"));
	assert_int_equal(count(s, "->"), 2);
	free(s);
	dag_free(d);
}

static void test_escaping(void **state)
{
	dprog *w = load("we\"ird\\dir/\xc3\xbc\n\x01\xff.flow");
	dag *d = dag_new(w->p);
	task1(d, w->f, v_int(1), 4);
	char *s = dot_of(d, NULL, false);
	/* quote and backslash escaped, newline as \n, control and bad UTF-8 as ?,
	 * valid UTF-8 kept */
	assert_non_null(strstr(s, "n0 [label=\"f\\nwe\\\"ird\\\\dir/\xc3\xbc\\n??.flow:4\""));
	free(s);
	dag_free(d);
	unload(w);
}

static void test_fanout_collapsed(void **state)
{
	dag *d = dag_new(P->p);
	for (int i = 0; i < 10000; i++)
		task1(d, P->f, v_int(i), 7);
	uint32_t last = 0;
	{
		/* one call that uses them all (gather) */
		value *in = malloc(sizeof *in * 10000);
		assert_non_null(in);
		for (int i = 0; i < 10000; i++)
			in[i] = d->fut[i];
		last = dag_add(d, DAG_EFFECT, P->driver, P->print_pc, 1, in, NULL, 10000, at(8));
		free(in);
	}
	char *s = dot_of(d, NULL, false);
	assert_int_equal(nodes_in(s), 2);
	assert_non_null(strstr(s, "n0 [label=\"f\\nt.flow:7\\n\u00d710000\", shape=box, "
	                          "style=\"rounded,bold\", peripheries=2];"));
	assert_non_null(strstr(s, "  n0 -> n10000 [xlabel=\"\u00d710000\"];\n"));
	assert_int_equal(last, 10000);
	free(s);
	s = dot_of(d, NULL, true);
	assert_int_equal(nodes_in(s), 10001);
	assert_int_equal(count(s, "->"), 10000);
	assert_int_equal(count(s, "\u00d7"), 0);
	assert_non_null(strstr(s, "  n9999 -> n10000;\n"));
	free(s);
	dag_free(d);
}

/* A balanced reduce over n leaves f(i) (line 20), pairing neighbours and
 * carrying an odd last one up (line 21); returns the root. */
static uint32_t reduce_tree(dag *d, int n)
{
	uint32_t *lv = malloc(sizeof *lv * (size_t)n);
	assert_non_null(lv);
	for (int i = 0; i < n; i++)
		lv[i] = task1(d, P->f, v_int(i), 20);
	while (n > 1) {
		int m = 0;
		for (int i = 0; i + 1 < n; i += 2)
			lv[m++] = task2(d, P->add, lv[i], lv[i + 1], 21);
		if (n % 2)
			lv[m++] = lv[n - 1];
		n = m;
	}
	uint32_t root = lv[0];
	free(lv);
	return root;
}

static void test_reduce_levels(void **state)
{
	dag *d = dag_new(P->p);
	reduce_tree(d, 8192);
	char *s = dot_of(d, NULL, false);
	/* the leaves, then one group per level: 4096, 2048, ..., 1 */
	assert_int_equal(nodes_in(s), 1 + 13);
	assert_non_null(strstr(s, "n0 [label=\"f\\nt.flow:20\\n\u00d78192\""));
	assert_non_null(strstr(s, "n8192 [label=\"add\\nt.flow:21\\n\u00d74096\""));
	assert_non_null(strstr(s, "  n0 -> n8192 [xlabel=\"\u00d78192\"];\n"));
	assert_non_null(strstr(s, "n12288 [label=\"add\\nt.flow:21\\n\u00d72048\""));
	assert_non_null(strstr(s, "  n8192 -> n12288 [xlabel=\"\u00d74096\"];\n"));
	assert_non_null(strstr(s, "n16382 [label=\"add\\nt.flow:21\", shape=box, style=rounded];"));
	assert_int_equal(count(s, "->"), 13);
	free(s);
	dag_free(d);

	/* 10,000 leaves: odd levels carry one node up, which adds a few
	 * small groups, but it stays a tree of about log2(n) groups */
	d = dag_new(P->p);
	reduce_tree(d, 10000);
	s = dot_of(d, NULL, false);
	int groups = nodes_in(s);
	assert_true(groups >= 15 && groups <= 20);
	assert_non_null(strstr(s, "\u00d710000"));
	assert_non_null(strstr(s, "\u00d75000"));
	free(s);
	dag_free(d);
}

static void test_chain_stays_chain(void **state)
{
	dag *d = dag_new(P->p);
	uint32_t acc = task1(d, P->f, v_int(0), 30);
	for (int i = 1; i < 100; i++) {
		uint32_t x = task1(d, P->f, v_int(i), 30);
		acc = task2(d, P->add, acc, x, 31);
	}
	char *s = dot_of(d, NULL, false);
	/* the independent f calls: one group ×100; the 99 adds: a chain */
	assert_non_null(strstr(s, "n0 [label=\"f\\nt.flow:30\\n\u00d7100\""));
	assert_int_equal(nodes_in(s), 1 + 99);
	assert_int_equal(count(s, "\u00d7"), 1 + 1); /* the ×100 node and its edge ×2 to the first add */
	assert_non_null(strstr(s, "  n0 -> n2 [xlabel=\"\u00d72\"];\n"));
	assert_non_null(strstr(s, "  n2 -> n4;\n"));
	assert_non_null(strstr(s, "  n0 -> n4;\n"));
	free(s);
	dag_free(d);
}

static dag *mixed(void)
{
	dag *d = dag_new(P->p);
	uint32_t a = dag_add(d, DAG_ACTOR, 0, 0, 0, NULL, NULL, 0, at(1));
	reduce_tree(d, 37);
	value k = v_int(1);
	uint32_t prev = UINT32_MAX;
	for (int i = 0; i < 5; i++) {
		uint32_t m = dag_add(d, DAG_METHOD, P->bump, a, 0, &k, NULL, 1, at(3));
		if (prev != UINT32_MAX)
			dag_order(d, prev, m);
		prev = m;
	}
	value in = d->fut[prev];
	dag_add(d, DAG_EFFECT, P->driver, P->print_pc, 1, &in, NULL, 1, at(4));
	return d;
}

static void test_deterministic(void **state)
{
	dag *d1 = mixed(), *d2 = mixed();
	char *a = dot_of(d1, "LR", false);
	char *b = dot_of(d1, "LR", false);
	char *c = dot_of(d2, "LR", false);
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	free(a);
	free(b);
	free(c);
	a = dot_of(d1, NULL, true);
	c = dot_of(d2, NULL, true);
	assert_string_equal(a, c);
	free(a);
	free(c);
	dag_free(d1);
	dag_free(d2);
}

static void test_rankdir(void **state)
{
	dag *d = mixed();
	char *s = dot_of(d, "LR", false);
	assert_non_null(strstr(s, "  rankdir=LR;\n"));
	free(s);
	FILE *f = fopen("/dev/null", "w");
	assert_non_null(f);
	dot_opts bad = { "sideways", false };
	assert_int_equal(dag_write_dot(d, &bad, f), -1);
	assert_int_equal(dag_write_dot(d, NULL, f), 0);
	/* not finalized: refused */
	dag *raw = dag_new(P->p);
	task1(raw, P->f, v_int(1), 1);
	assert_int_equal(dag_write_dot(raw, NULL, f), -1);
	fclose(f);
	dag_free(raw);
	dag_free(d);
}

static void test_large_groups(void **state)
{
	/* 1,000,000 independent calls and a reduce over 2^17 of them
	 * group into a handful of output nodes (how fast: bench/, not a
	 * timed assertion on a shared machine) */
	dag *d = dag_new(P->p);
	for (int i = 0; i < 1000000; i++)
		task1(d, P->f, v_int(i), 40);
	reduce_tree(d, 1 << 17);
	assert_int_equal(dag_finalize(d), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(dag_write_dot(d, NULL, f), 0);
	fclose(f);
	assert_int_equal(nodes_in(buf), 1 + 1 + 17);
	assert_non_null(strstr(buf, "\u00d71000000"));
	free(buf);
	dag_free(d);
}

static const char small_dot[] =
	"digraph flow {\n  n0 [label=\"f\\nt.flow:1\\n\u00d73\", shape=box, style=rounded];\n"
	"  n1 [label=\"print\", shape=note];\n  n0 -> n1 [xlabel=\"\u00d73\"];\n}\n";

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/flow-dot-XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	return strdup(dir);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	return buf;
}

static void test_render_svg(void **state)
{
	char *dir = tmpdir();
	char path[256];
	snprintf(path, sizeof path, "%s/g.svg", dir);
	char *err = NULL;
	int rc = dot_render(small_dot, strlen(small_dot), "svg", path, &err);
	if (rc != 0 && err && strstr(err, "Graphviz is not installed")) {
		free(err);
		rmdir(dir);
		free(dir);
		skip();
	}
	if (rc != 0)
		fprintf(stderr, "render: %s\n", err ? err : "(no message)");
	assert_int_equal(rc, 0);
	assert_null(err);
	size_t len = 0;
	char *svg = slurp(path, &len);
	assert_non_null(svg);
	assert_true(strncmp(svg, "<?xml", 5) == 0 || strstr(svg, "<svg"));
	assert_non_null(strstr(svg, "print"));
	free(svg);
	unlink(path);
	/* the same through the program */
	rc = dot_render_program(small_dot, strlen(small_dot), "svg", path, "dot", &err);
	if (rc == 0) {
		svg = slurp(path, &len);
		assert_non_null(svg);
		assert_non_null(strstr(svg, "<svg"));
		free(svg);
		unlink(path);
	} else {
		assert_non_null(strstr(err, "Graphviz is not installed"));
		free(err);
		err = NULL;
	}
	/* bad DOT: an error, not a crash */
	rc = dot_render("digraph {", 9, "svg", path, &err);
	assert_int_equal(rc, -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	unlink(path);
	rmdir(dir);
	free(dir);
}

static void test_render_errors(void **state)
{
	char *dir = tmpdir();
	char path[256];
	snprintf(path, sizeof path, "%s/g.dot", dir);
	char *err = NULL;
	/* "dot" writes the text itself, no Graphviz needed */
	assert_int_equal(dot_render(small_dot, strlen(small_dot), "dot", path, &err), 0);
	size_t len = 0;
	char *text = slurp(path, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(small_dot));
	assert_memory_equal(text, small_dot, len);
	free(text);
	unlink(path);
	assert_int_equal(dot_render(small_dot, strlen(small_dot), "gif", path, &err), -1);
	assert_non_null(strstr(err, "unknown output format 'gif'"));
	free(err);
	assert_int_equal(dot_render(small_dot, strlen(small_dot), "svg", NULL, &err), -1);
	assert_non_null(strstr(err, "-o"));
	free(err);
	/* a missing program gives the install hint */
	assert_int_equal(dot_render_program(small_dot, strlen(small_dot), "svg", path,
	                                    "flow-test-no-such-graphviz", &err), -1);
	assert_string_equal(err, "Graphviz is not installed: apt-get install graphviz");
	free(err);
	/* a program that fails: its status is reported */
	assert_int_equal(dot_render_program(small_dot, strlen(small_dot), "svg", path, "false",
	                                    &err), -1);
	assert_non_null(strstr(err, "exit status 1"));
	free(err);
	unlink(path);
	rmdir(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_actor_instances),
		cmocka_unit_test(test_clusters),
		cmocka_unit_test(test_ordering_edge),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_fanout_collapsed),
		cmocka_unit_test(test_reduce_levels),
		cmocka_unit_test(test_chain_stays_chain),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_rankdir),
		cmocka_unit_test(test_large_groups),
		cmocka_unit_test(test_render_svg),
		cmocka_unit_test(test_render_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
