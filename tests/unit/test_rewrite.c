/* test_rewrite.c - the associative-chain rewrite: which trees are rebuilt,
 * the balanced shape (reduce's), operand order and observable values
 * kept, topological renumbering (futures, actor ids, ordering edges), and
 * --explain's text. DAGs are built by hand over a small compiled program. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/dag.h"
#include "compiler/rewrite.h"
#include "lang/compile.h"
#include "lang/resolve.h"
#include "lang/vm.h"

static const char src[] =
	"@associative\n"
	"task add(a: int, b: int) -> int { return a + b }\n"
	"task sub(a: int, b: int) -> int { return a - b }\n"
	"task f(x: int) -> int { return x }\n"
	"actor Box {\n"
	"    fn init() { self.n = 0 }\n"
	"    fn push(k: int) -> int {\n"
	"        self.n += k\n"
	"        return self.n\n"
	"    }\n"
	"}\n"
	"print(get(add(1, 2)))\n";

static diag_ctx g_diag;
static flow_loader g_loader;
static bc_program *g_prog;
static uint32_t P_ADD, P_SUB, P_F, P_PUSH, A_BOX;

static uint32_t proto_named(const char *name)
{
	for (int i = 0; i < g_prog->nprotos; i++)
		if (strcmp(g_prog->protos[i]->name, name) == 0)
			return (uint32_t)i;
	fail_msg("no proto %s", name);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	diag_init(&g_diag);
	loader_init(&g_loader, &g_diag);
	if (loader_load_source(&g_loader, "t.flow", src, strlen(src), NULL, 0) != 0)
		diag_print(&g_diag, stderr);
	g_prog = compile_program(&g_loader);
	if (!g_prog) {
		diag_print(&g_diag, stderr);
		return -1;
	}
	P_ADD = proto_named("add");
	P_SUB = proto_named("sub");
	P_F = proto_named("f");
	P_PUSH = proto_named("Box.push");
	A_BOX = UINT32_MAX;
	for (int i = 0; i < g_prog->nactors; i++)
		if (strcmp(g_prog->actors[i]->name, "Box") == 0)
			A_BOX = (uint32_t)i;
	return A_BOX == UINT32_MAX ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	bc_program_free(g_prog);
	loader_fini(&g_loader);
	diag_fini(&g_diag);
	return 0;
}

/* ---- building ------------------------------------------------------------- */

static span at(int line)
{
	span s = { 0, line, 3, line, 12 };
	return s;
}

static uint32_t call2(dag *d, uint32_t proto, value a, value b, int line)
{
	value ins[2] = { a, b };
	return dag_add(d, DAG_TASK, proto, 0, 0, ins, NULL, 2, at(line));
}

static uint32_t call_f(dag *d, int64_t x)
{
	value in = v_int(x);
	return dag_add(d, DAG_TASK, P_F, 0, 0, &in, NULL, 1, at(1));
}

/* acc = op(acc, leaf[i]) over n leaves: n-1 calls; returns the last. */
static uint32_t left_chain(dag *d, uint32_t proto, const value *leaf, int n)
{
	value acc = leaf[0];
	uint32_t id = UINT32_MAX;
	for (int i = 1; i < n; i++) {
		id = call2(d, proto, acc, leaf[i], 10 + i);
		/* d->fut is read after dag_add, which may move it */
		acc = d->fut[id];
	}
	return id;
}

static value *ints(int n, int from)
{
	value *v = malloc(sizeof *v * (size_t)n);
	for (int i = 0; i < n; i++)
		v[i] = v_int(from + i);
	return v;
}

/* d->fut[id], with id computed first (dag_add may move d->fut). */
static value F(const dag *d, uint32_t id)
{
	return d->fut[id];
}

static uint32_t node_of(value fut)
{
	return (uint32_t)dag_ref(fut);
}

/* ---- inspecting ----------------------------------------------------------- */

/* Leaves of the `proto` tree under node v, left to right, not descending
 * into node `stop`. A constant leaf is its int, f(i) is 1000 + i, any
 * other node w is -1 - w. */
static void leaves_of(const dag *d, uint32_t v, uint32_t proto, uint32_t stop, int64_t *out, int *m)
{
	const dag_node *nd = &d->nodes[v];
	for (int j = 0; j < 2; j++) {
		value x = d->ins[nd->in + j];
		int64_t r = dag_ref(x);
		if (x.t == V_INT) {
			out[(*m)++] = x.as.i;
		} else if (r >= 0 && (uint32_t)r != stop && d->nodes[r].kind == DAG_TASK &&
		           d->nodes[r].proto == proto) {
			leaves_of(d, (uint32_t)r, proto, stop, out, m);
		} else if (r >= 0 && d->nodes[r].kind == DAG_TASK && d->nodes[r].proto == P_F) {
			out[(*m)++] = 1000 + d->ins[d->nodes[r].in].as.i;
		} else {
			out[(*m)++] = -1 - r;
		}
	}
}

/* Levels of `proto` calls in the tree under v (not below `stop`). */
static uint32_t depth_of(const dag *d, uint32_t v, uint32_t proto, uint32_t stop)
{
	const dag_node *nd = &d->nodes[v];
	uint32_t best = 0;
	for (int j = 0; j < 2; j++) {
		int64_t r = dag_ref(d->ins[nd->in + j]);
		if (r >= 0 && (uint32_t)r != stop && d->nodes[r].kind == DAG_TASK &&
		    d->nodes[r].proto == proto) {
			uint32_t x = depth_of(d, (uint32_t)r, proto, stop);
			if (x > best)
				best = x;
		}
	}
	return best + 1;
}

/* The value a node computes, symbolically: add concatenates (associative,
 * not commutative), sub and f show their structure. */
static void eval(const dag *d, value x, FILE *out)
{
	int64_t r = dag_ref(x);
	if (x.t == V_INT) {
		fprintf(out, "%lld.", (long long)x.as.i);
		return;
	}
	assert_true(r >= 0);
	const dag_node *nd = &d->nodes[r];
	if (nd->kind == DAG_TASK && nd->proto == P_ADD) {
		eval(d, d->ins[nd->in], out);
		eval(d, d->ins[nd->in + 1], out);
	} else if (nd->kind == DAG_TASK && nd->proto == P_SUB) {
		fputc('(', out);
		eval(d, d->ins[nd->in], out);
		fputc('-', out);
		eval(d, d->ins[nd->in + 1], out);
		fputc(')', out);
	} else {
		fprintf(out, "n%d[", nd->kind);
		for (uint32_t j = 0; j < nd->nin; j++)
			eval(d, d->ins[nd->in + j], out);
		fputc(']', out);
	}
}

static char *eval_str(const dag *d, value fut)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	eval(d, fut, f);
	fclose(f);
	return s;
}

/* Ascending ids are topological, inputs are stored node by node, and
 * every result knows its node. */
static void check_dag(const dag *d)
{
	uint32_t k = 0;
	for (uint32_t v = 0; v < d->n; v++) {
		const dag_node *nd = &d->nodes[v];
		assert_int_equal(nd->in, k);
		k += nd->nin;
		assert_int_equal(dag_ref(d->fut[v]), v);
		for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++)
			assert_true(d->preds[e] < v);
		for (uint32_t j = 0; j < nd->nin; j++) {
			int64_t r = dag_ref(d->ins[nd->in + j]);
			assert_true(r < (int64_t)v);
		}
		if (nd->kind == DAG_METHOD)
			assert_true(nd->pc < v);
	}
	for (uint32_t e = 0; e < d->norder; e++)
		assert_true(d->order[e][0] < d->order[e][1]);
}

static uint32_t stats_depth(const dag *d)
{
	dag_stats s;
	dag_stats_of(d, &s);
	return s.depth;
}

/* ---- tests ---------------------------------------------------------------- */

/* Ray's slow aggregation: 8 values, 7 calls in a chain -> depth 3. */
static void test_chain_of_8_values(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	value *leaf = ints(8, 1);
	uint32_t root = left_chain(d, P_ADD, leaf, 8);
	value rootfut = d->fut[root];
	assert_int_equal(dag_finalize(d), 0);
	assert_int_equal(stats_depth(d), 7);
	char *before = eval_str(d, rootfut);

	assert_int_equal(dag_rewrite_all(d), 1);
	assert_int_equal(d->nrewrites, 1);
	assert_int_equal(d->rewrites[0].calls, 7);
	assert_int_equal(d->rewrites[0].depth_before, 7);
	assert_int_equal(d->rewrites[0].depth_after, 3);
	assert_int_equal(d->rewrites[0].proto, P_ADD);
	assert_int_equal(d->rewrites[0].where.line, 10 + 7);
	assert_int_equal(d->n, 7);
	check_dag(d);
	assert_int_equal(stats_depth(d), 3);
	root = node_of(rootfut);
	assert_int_equal(depth_of(d, root, P_ADD, UINT32_MAX), 3);
	int64_t got[16];
	int m = 0;
	leaves_of(d, root, P_ADD, UINT32_MAX, got, &m);
	assert_int_equal(m, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(got[i], i + 1);
	char *after = eval_str(d, rootfut);
	assert_string_equal(after, before);
	/* the shape is reduce's: ((1 2)(3 4))((5 6)(7 8)) */
	const dag_node *r = &d->nodes[root];
	for (int j = 0; j < 2; j++) {
		int64_t c = dag_ref(d->ins[r->in + j]);
		assert_true(c >= 0);
		assert_int_equal(depth_of(d, (uint32_t)c, P_ADD, UINT32_MAX), 2);
	}
	free(before);
	free(after);
	free(leaf);
	dag_free(d);
}

/* 8 calls over 9 values: depth 8 -> 4 (ceil(log2 9)). */
static void test_chain_of_8_calls(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	value *leaf = ints(9, 1);
	uint32_t root = left_chain(d, P_ADD, leaf, 9);
	value rootfut = d->fut[root];
	assert_int_equal(dag_finalize(d), 0);
	assert_int_equal(dag_rewrite_all(d), 1);
	assert_int_equal(d->rewrites[0].calls, 8);
	assert_int_equal(d->rewrites[0].depth_before, 8);
	assert_int_equal(d->rewrites[0].depth_after, 4);
	check_dag(d);
	int64_t got[16];
	int m = 0;
	leaves_of(d, node_of(rootfut), P_ADD, UINT32_MAX, got, &m);
	assert_int_equal(m, 9);
	for (int i = 0; i < 9; i++)
		assert_int_equal(got[i], i + 1);
	/* reduce carries the odd 9th value up to the root: ((..8) 9) */
	const dag_node *r = &d->nodes[node_of(rootfut)];
	assert_int_equal(d->ins[r->in + 1].t, V_INT);
	assert_int_equal(d->ins[r->in + 1].as.i, 9);
	free(leaf);
	dag_free(d);
}

/* Odd leaf counts carry the last one up, like reduce. */
static void test_odd_chains(void **state)
{
	(void)state;
	/* 5 values, 4 calls: [a b c d e] -> [ab cd e] -> [abcd e] -> root */
	dag *d = dag_new(g_prog);
	value *leaf = ints(5, 1);
	value rootfut = F(d, left_chain(d, P_ADD, leaf, 5));
	assert_int_equal(dag_finalize(d), 0);
	assert_int_equal(dag_rewrite_all(d), 1);
	assert_int_equal(d->rewrites[0].calls, 4);
	assert_int_equal(d->rewrites[0].depth_before, 4);
	assert_int_equal(d->rewrites[0].depth_after, 3);
	check_dag(d);
	const dag_node *r = &d->nodes[node_of(rootfut)];
	assert_int_equal(d->ins[r->in + 1].as.i, 5);
	assert_int_equal(depth_of(d, (uint32_t)dag_ref(d->ins[r->in]), P_ADD, UINT32_MAX), 2);
	free(leaf);
	dag_free(d);

	/* 6 values, 5 calls: depth 5 -> 3, [ab cd ef] -> [abcd ef] -> root */
	d = dag_new(g_prog);
	leaf = ints(6, 1);
	rootfut = F(d, left_chain(d, P_ADD, leaf, 6));
	assert_int_equal(dag_finalize(d), 0);
	char *before = eval_str(d, rootfut);
	assert_int_equal(dag_rewrite_all(d), 1);
	assert_int_equal(d->rewrites[0].calls, 5);
	assert_int_equal(d->rewrites[0].depth_before, 5);
	assert_int_equal(d->rewrites[0].depth_after, 3);
	check_dag(d);
	r = &d->nodes[node_of(rootfut)];
	const dag_node *ef = &d->nodes[dag_ref(d->ins[r->in + 1])];
	assert_int_equal(d->ins[ef->in].as.i, 5);
	assert_int_equal(d->ins[ef->in + 1].as.i, 6);
	char *after = eval_str(d, rootfut);
	assert_string_equal(after, before);
	free(before);
	free(after);
	free(leaf);
	dag_free(d);
}

/* A fold of 4096 task results: 12 levels of calls above the leaves. The
 * f calls are interleaved with the adds, so ids must be renumbered. */
static void test_chain_4096_task_results(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	value acc = F(d, call_f(d, 0));
	for (int i = 1; i < 4096; i++) {
		value x = F(d, call_f(d, i));
		acc = F(d, call2(d, P_ADD, acc, x, 5));
	}
	assert_int_equal(dag_finalize(d), 0);
	assert_int_equal(stats_depth(d), 4096);
	assert_int_equal(dag_rewrite_all(d), 1);
	assert_int_equal(d->rewrites[0].calls, 4095);
	assert_int_equal(d->rewrites[0].depth_before, 4095);
	assert_int_equal(d->rewrites[0].depth_after, 12);
	assert_int_equal(d->n, 4096 + 4095);
	check_dag(d);
	assert_int_equal(stats_depth(d), 13);
	uint32_t root = node_of(acc);
	assert_int_equal(depth_of(d, root, P_ADD, UINT32_MAX), 12);
	int64_t *got = malloc(sizeof *got * 4096);
	int m = 0;
	leaves_of(d, root, P_ADD, UINT32_MAX, got, &m);
	assert_int_equal(m, 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(got[i], 1000 + i);
	free(got);
	dag_free(d);
}

/* acc = add(x, acc): the leaves stay in their (reversed) order. */
static void test_right_leaning_chain(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	value acc = v_int(0);
	for (int i = 1; i <= 7; i++)
		acc = F(d, call2(d, P_ADD, v_int(i), acc, 20 + i));
	assert_int_equal(dag_finalize(d), 0);
	char *before = eval_str(d, acc);
	assert_string_equal(before, "7.6.5.4.3.2.1.0.");
	assert_int_equal(dag_rewrite_all(d), 1);
	assert_int_equal(d->rewrites[0].depth_before, 7);
	assert_int_equal(d->rewrites[0].depth_after, 3);
	check_dag(d);
	char *after = eval_str(d, acc);
	assert_string_equal(after, before);
	int64_t got[8];
	int m = 0;
	leaves_of(d, node_of(acc), P_ADD, UINT32_MAX, got, &m);
	assert_int_equal(m, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(got[i], 7 - i);
	free(before);
	free(after);
	dag_free(d);
}

/* Seed 002: the queue loop is already ceil(log2 n) deep and is left
 * alone; the slow loop is rebalanced to the same depth. */
static void test_seed_002_queue_and_slow_loops(void **state)
{
	(void)state;
	/* values = values[2:] + [add(values[0], values[1])] */
	dag *d = dag_new(g_prog);
	value q[32];
	int qh = 0, qt = 0;
	for (int i = 1; i <= 9; i++)
		q[qt++] = v_int(i);
	while (qt - qh > 1) {
		value a = q[qh++], b = q[qh++];
		q[qt++] = F(d, call2(d, P_ADD, a, b, 30));
	}
	assert_int_equal(dag_finalize(d), 0);
	uint32_t n0 = d->n;
	value ins0[16];
	memcpy(ins0, d->ins, sizeof *ins0 * d->nins);
	assert_int_equal(depth_of(d, node_of(q[qh]), P_ADD, UINT32_MAX), 4);
	assert_int_equal(dag_rewrite_all(d), 0);
	assert_int_equal(d->nrewrites, 0);
	assert_int_equal(d->n, n0);
	for (uint32_t i = 0; i < d->nins; i++) {
		assert_int_equal(d->ins[i].t, ins0[i].t);
		assert_true(d->ins[i].t == V_INT ? d->ins[i].as.i == ins0[i].as.i
		                                 : d->ins[i].as.o == ins0[i].as.o);
	}
	uint32_t fast_depth = stats_depth(d);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	dag_explain(d, out);
	fclose(out);
	assert_string_equal(buf, "no rewrites\n");
	free(buf);
	dag_free(d);

	/* values = [add(values[0], values[1])] + values[2:] */
	d = dag_new(g_prog);
	value *leaf = ints(9, 1);
	left_chain(d, P_ADD, leaf, 9);
	assert_int_equal(dag_finalize(d), 0);
	assert_int_equal(dag_rewrite_all(d), 1);
	assert_int_equal(stats_depth(d), fast_depth);
	free(leaf);
	dag_free(d);
}

/* An intermediate with another use splits the tree there; what every
 * observed node computes is unchanged. */
static void test_shared_intermediate_splits(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	/* a1..a7 = add chain over 1..8; a2 is also passed to sub, a5 nested
	 * in a list given to f, a3 ordered before that f */
	value acc = v_int(1), a[8];
	for (int i = 1; i <= 7; i++)
		acc = a[i] = F(d, call2(d, P_ADD, acc, v_int(i + 1), 40 + i));
	call2(d, P_SUB, a[2], v_int(100), 50);
	value lst = list_new(1);
	list_append(lst, a[5]);
	uint32_t g = dag_add(d, DAG_TASK, P_F, 0, 0, &lst, NULL, 1, at(51));
	val_rele(lst);
	dag_order(d, node_of(a[3]), g);
	assert_int_equal(dag_finalize(d), 0);
	/* trees: {a1,a2} (2 calls: alone), {a3} (1 call), {a4,a5} (2), {a6,a7} (2) */
	assert_int_equal(dag_rewrite_all(d), 0);
	assert_int_equal(d->nrewrites, 0);
	dag_free(d);

	/* a chain of 9 calls with only a3 shared: trees {a1,a2,a3} (already
	 * balanced? depth 3 > 2: rebuilt) and {a4..a9} (6 calls, depth 6 -> 3) */
	d = dag_new(g_prog);
	value b[10];
	acc = v_int(1);
	for (int i = 1; i <= 9; i++)
		acc = b[i] = F(d, call2(d, P_ADD, acc, v_int(i + 1), 60 + i));
	value sfut = F(d, call2(d, P_SUB, b[3], v_int(100), 70));
	assert_int_equal(dag_finalize(d), 0);
	char *evs = eval_str(d, sfut);
	char *ev9 = eval_str(d, b[9]), *ev3 = eval_str(d, b[3]);
	assert_string_equal(evs, "(1.2.3.4.-100.)");

	assert_int_equal(dag_rewrite_all(d), 2);
	assert_int_equal(d->rewrites[0].calls, 3);
	assert_int_equal(d->rewrites[0].depth_before, 3);
	assert_int_equal(d->rewrites[0].depth_after, 2);
	assert_int_equal(d->rewrites[0].where.line, 63);
	assert_int_equal(d->rewrites[1].calls, 6);
	assert_int_equal(d->rewrites[1].depth_before, 6);
	assert_int_equal(d->rewrites[1].depth_after, 3);
	check_dag(d);
	/* b3 still exists, computes the same, and is still sub's argument */
	uint32_t n3 = node_of(b[3]);
	char *x;
	assert_string_equal((x = eval_str(d, b[3])), ev3);
	free(x);
	assert_string_equal((x = eval_str(d, b[9])), ev9);
	free(x);
	assert_string_equal((x = eval_str(d, sfut)), evs);
	free(x);
	assert_int_equal(dag_ref(d->ins[d->nodes[node_of(sfut)].in]), n3);
	/* leaves of each tree, left to right */
	int64_t got[16];
	int m = 0;
	leaves_of(d, n3, P_ADD, UINT32_MAX, got, &m);
	assert_int_equal(m, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(got[i], i + 1);
	m = 0;
	leaves_of(d, node_of(b[9]), P_ADD, n3, got, &m);
	assert_int_equal(m, 7);
	assert_int_equal(got[0], -1 - (int64_t)n3);
	for (int i = 1; i < 7; i++)
		assert_int_equal(got[i], i + 4);
	assert_int_equal(depth_of(d, node_of(b[9]), P_ADD, n3), 3);
	free(evs);
	free(ev9);
	free(ev3);
	dag_free(d);
}

/* Uses that are not a direct argument (nested in a list, an ordering
 * edge, the same value twice) also end a tree. */
static void test_other_uses_are_boundaries(void **state)
{
	(void)state;
	for (int kind = 0; kind < 3; kind++) {
		dag *d = dag_new(g_prog);
		value b[10], acc = v_int(1);
		for (int i = 1; i <= 9; i++)
			acc = b[i] = F(d, call2(d, P_ADD, acc, v_int(i + 1), 60 + i));
		if (kind == 0) {
			value lst = list_new(1);
			list_append(lst, b[4]);
			dag_add(d, DAG_TASK, P_F, 0, 0, &lst, NULL, 1, at(80));
			val_rele(lst);
		} else if (kind == 1) {
			uint32_t g = call_f(d, 7);
			dag_order(d, node_of(b[4]), g);
		} else {
			/* b4 = add(b3, b3)-like: b4 refers to b3 twice */
			d->ins[d->nodes[node_of(b[4])].in + 1] = val_hold(b[3]);
		}
		assert_int_equal(dag_finalize(d), 0);
		char *ev9 = eval_str(d, b[9]);
		assert_int_equal(dag_rewrite_all(d), 2);
		check_dag(d);
		uint32_t cut = node_of(kind == 2 ? b[3] : b[4]);
		char *x = eval_str(d, b[9]);
		assert_string_equal(x, ev9);
		free(x);
		int64_t got[16];
		int m = 0;
		leaves_of(d, node_of(b[9]), P_ADD, cut, got, &m);
		assert_int_equal(got[0], -1 - (int64_t)cut);
		if (kind == 2)
			assert_int_equal(got[1], -1 - (int64_t)cut);
		free(ev9);
		dag_free(d);
	}
}

static void test_non_associative_left_alone(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	value *leaf = ints(16, 1);
	left_chain(d, P_SUB, leaf, 16);
	assert_int_equal(dag_finalize(d), 0);
	assert_int_equal(dag_rewrite_all(d), 0);
	assert_int_equal(d->nrewrites, 0);
	assert_int_equal(stats_depth(d), 15);
	free(leaf);
	dag_free(d);
}

/* Renumbering moves nodes; METHOD actor ids and ordering edges follow. */
static void test_renumber_remaps_methods_and_order(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	uint32_t box = dag_add(d, DAG_ACTOR, A_BOX, 0, 0, NULL, NULL, 0, at(90));
	value acc = F(d, call_f(d, 0));
	value m1 = v_none(), m2 = v_none(), fx3 = v_none();
	for (int i = 1; i < 16; i++) {
		value x = F(d, call_f(d, i));
		if (i == 3)
			fx3 = x;
		acc = F(d, call2(d, P_ADD, acc, x, 91));
		if (i == 4) {
			value k = v_int(1);
			m1 = F(d, dag_add(d, DAG_METHOD, P_PUSH, box, 0, &k, NULL, 1, at(92)));
		}
	}
	value k = acc;
	m2 = F(d, dag_add(d, DAG_METHOD, P_PUSH, box, 0, &k, NULL, 1, at(93)));
	dag_order(d, node_of(fx3), node_of(m1));
	dag_order(d, node_of(m1), node_of(m2));
	value boxh = d->fut[box];
	assert_int_equal(dag_finalize(d), 0);

	assert_int_equal(dag_rewrite_all(d), 1);
	check_dag(d);
	/* f(3) was node 6; the rebuilt add(f2, f3) reused id 5, so f(3) moved up */
	assert_int_equal(node_of(fx3), 5);
	/* METHOD pc is the actor's node, whatever its new id */
	assert_int_equal(d->nodes[node_of(m1)].pc, node_of(boxh));
	assert_int_equal(d->nodes[node_of(m2)].pc, node_of(boxh));
	assert_int_equal(d->nodes[node_of(boxh)].kind, DAG_ACTOR);
	assert_int_equal(((vactor *)boxh.as.o)->node, node_of(boxh));
	/* ordering edges still join the same nodes */
	assert_int_equal(d->norder, 2);
	bool e1 = false, e2 = false;
	for (uint32_t e = 0; e < d->norder; e++) {
		e1 |= d->order[e][0] == node_of(fx3) && d->order[e][1] == node_of(m1);
		e2 |= d->order[e][0] == node_of(m1) && d->order[e][1] == node_of(m2);
	}
	assert_true(e1 && e2);
	/* and the edge lists know them */
	bool p1 = false;
	uint32_t vm1 = node_of(m1);
	for (uint32_t e = d->pred_off[vm1]; e < d->pred_off[vm1 + 1]; e++)
		p1 |= d->preds[e] == node_of(fx3) && d->pred_order[e];
	assert_true(p1);
	int64_t got[16];
	int m = 0;
	leaves_of(d, node_of(acc), P_ADD, UINT32_MAX, got, &m);
	assert_int_equal(m, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(got[i], 1000 + i);
	dag_free(d);
}

static void test_explain(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	value *leaf = ints(8, 1);
	uint32_t r1 = left_chain(d, P_ADD, leaf, 8);
	value l2[6] = { d->fut[r1], v_int(9), v_int(10), v_int(11), v_int(12), v_int(13) };
	uint32_t s = call2(d, P_SUB, d->fut[r1], v_int(0), 2);
	(void)s;
	left_chain(d, P_ADD, l2, 4);
	assert_int_equal(dag_finalize(d), 0);
	assert_int_equal(dag_rewrite_all(d), 2);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	dag_explain(d, out);
	fclose(out);
	assert_string_equal(buf,
	                    "t.flow:17:3: rewrite: 7 calls of 'add' rebalanced into a tree: depth 7 -> 3\n"
	                    "t.flow:13:3: rewrite: 3 calls of 'add' rebalanced into a tree: depth 3 -> 2\n"
	                    "2 rewrites\n");
	free(buf);
	free(leaf);
	dag_free(d);
}

static void test_million_call_chain(void **state)
{
	(void)state;
	enum { N = 1000000 };
	dag *d = dag_new(g_prog);
	value acc = v_int(0);
	for (int i = 1; i <= N; i++)
		acc = F(d, call2(d, P_ADD, acc, v_int(i), 100));
	assert_int_equal(dag_finalize(d), 0);
	assert_int_equal(dag_rewrite_all(d), 1);
	assert_int_equal(d->rewrites[0].calls, N);
	assert_int_equal(d->rewrites[0].depth_before, N);
	assert_int_equal(d->rewrites[0].depth_after, 20);
	check_dag(d);
	assert_int_equal(stats_depth(d), 20);
	int64_t *got = malloc(sizeof *got * (N + 1));
	int m = 0;
	leaves_of(d, node_of(acc), P_ADD, UINT32_MAX, got, &m);
	assert_int_equal(m, N + 1);
	for (int i = 0; i <= N; i++)
		if (got[i] != i)
			fail_msg("leaf %d is %lld", i, (long long)got[i]);
	free(got);
	dag_free(d);
}

static void test_refuses_unfinalized(void **state)
{
	(void)state;
	dag *d = dag_new(g_prog);
	value *leaf = ints(8, 1);
	left_chain(d, P_ADD, leaf, 8);
	assert_int_equal(dag_rewrite_all(d), -1);
	assert_int_equal(d->nrewrites, 0);
	free(leaf);
	dag_free(d);
}

int main(void)
{
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_of_8_values),
		cmocka_unit_test(test_chain_of_8_calls),
		cmocka_unit_test(test_odd_chains),
		cmocka_unit_test(test_chain_4096_task_results),
		cmocka_unit_test(test_right_leaning_chain),
		cmocka_unit_test(test_seed_002_queue_and_slow_loops),
		cmocka_unit_test(test_shared_intermediate_splits),
		cmocka_unit_test(test_other_uses_are_boundaries),
		cmocka_unit_test(test_non_associative_left_alone),
		cmocka_unit_test(test_renumber_remaps_methods_and_order),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_million_call_chain),
		cmocka_unit_test(test_refuses_unfinalized),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
