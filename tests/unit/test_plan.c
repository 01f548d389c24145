/* test_plan.c - plan files: write/read round trips that run the same, and a
 * loader that survives every flipped byte and every truncation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "compiler/lower.h"
#include "compiler/plan.h"
#include "compiler/plan_int.h"
#include "executor/executor.h"
#include "lang/compile.h"
#include "lang/vm.h"

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

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
	exec_opts o = { .seed = 1, .out = out, .err = err };
	r.status = executor_run_program(&executor_serial, p, &o);
	fclose(out);
	fclose(err);
	return r;
}

static void runres_free(runres *r)
{
	free(r->out);
	free(r->err);
}

static dag *build_dag(const bc_program *p);

/* Compiles src and writes its plan into *plan, with a hand-built DAG of
 * every kind when with_dag (src must be rich_src then). */
static void make_plan_dag(const char *src, sbuf *plan, runres *direct, bool with_dag)
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
	dag *g = with_dag ? build_dag(p) : NULL;
	assert_int_equal(plan_write(plan, p, &ps, 1, g, &err), 0);
	dag_free(g);
	if (direct)
		*direct = run_prog(p);
	bc_program_free(p);
	loader_fini(&l);
	diag_fini(&d);
}

static void make_plan(const char *src, sbuf *plan, runres *direct)
{
	make_plan_dag(src, plan, direct, false);
}

/* Loads buf; if it loads, frees it. Returns 1 if it loaded. */
static int try_load(const void *buf, size_t len, char **errout)
{
	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	dag *g = NULL;
	bc_program *p = plan_read(buf, len, &d, &g, &err);
	int ok = p != NULL;
	if (p) {
		assert_null(err);
		dag_free(g);
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
	bc_program *p = plan_read(plan.data, plan.len, &d, NULL, &err);
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
	assert_int_equal(plan_write(&again, p, &ps, 1, NULL, &err), 0);
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

/* The task flags (@associative, @cache, @idempotent) survive a plan, each
 * on its own task. */
static void test_task_flags_roundtrip(void **state)
{
	(void)state;
	static const char src[] =
		"@idempotent\n"
		"task put(x: int) -> int { print(x)\n return x }\n"
		"@cache\n"
		"task keep(x: int) -> int { print(x)\n return x }\n"
		"@associative @idempotent\n"
		"task add(a: int, b: int) -> int { return a + b }\n"
		"task plain(x: int) -> int { print(x)\n return x }\n"
		"print(get(put(1)), get(keep(2)), get(add(3, 4)), get(plain(5)))\n";
	sbuf plan;
	make_plan(src, &plan, NULL);
	diag_ctx d;
	diag_init(&d);
	char *err = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, NULL, &err);
	assert_non_null(p);
	int seen = 0;
	for (int i = 0; i < p->nprotos; i++) {
		const bc_proto *t = p->protos[i];
		if (t->kind != PROTO_TASK)
			continue;
		const bc_attrs *a = &t->attrs;
		if (!strcmp(t->name, "put")) {
			assert_true(a->idempotent && !a->cache && !a->associative);
		} else if (!strcmp(t->name, "keep")) {
			assert_true(!a->idempotent && a->cache && !a->associative);
		} else if (!strcmp(t->name, "add")) {
			assert_true(a->idempotent && !a->cache && a->associative);
		} else {
			assert_string_equal(t->name, "plain");
			assert_true(!a->idempotent && !a->cache && !a->associative);
		}
		seen++;
	}
	assert_int_equal(seen, 4);
	char *dump = NULL;
	size_t dlen = 0;
	FILE *f = open_memstream(&dump, &dlen);
	bc_dump(p, f);
	fclose(f);
	assert_non_null(strstr(dump, " idempotent"));
	free(dump);
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
	bc_program *p = plan_read(plan.data, plan.len, &d, NULL, &err);
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
	make_plan_dag(rich_src, &plan, NULL, true);
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
	make_plan_dag(rich_src, &plan, NULL, true);
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
	make_plan_dag(rich_src, &plan, NULL, true);
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
			dag *g = NULL;
			bc_program *p = plan_read(b, plan.len, &d, &g, &err);
			if (p) {
				loaded++;
				if (getenv("FLOW_PLAN_VERBOSE"))
					fprintf(stderr, "mutant %zu^%02x\n", i, xors[x]);
				if (g) {
					dag_stats st;
					dag_stats_of(g, &st); /* walks every edge */
					dag_free(g);
				}
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

/* The staged driver in a plan (LANGUAGE.md section 6): its frames and
 * registers round-trip and run the same, and every flipped byte (behind
 * the checksum) is refused or, when loaded, runs without a crash: the
 * frames are checked when read and each register's value when resumed. */
static const char *staged_src =
	"task f(x: int) -> int { return x * 2 }\n"
	"fn walk(xs: list) -> int {\n"
	"    let t = 0\n"
	"    for v in xs { if get(f(v)) > 2 { t += v } }\n"
	"    return t\n"
	"}\n"
	"let a = f(1)\n"
	"let names = {\"k\": \"v\"}\n"
	"print(walk([a, 2, 3]), names[\"k\"])\n"
	"try { print(get(f(get(a)))) } except e { print(e.kind) }\n";

static runres run_staged(const bc_program *p, const dag *g)
{
	runres r = { 0 };
	FILE *out = open_memstream(&r.out, &r.outlen);
	FILE *err = open_memstream(&r.err, &r.errlen);
	exec_opts o = { .seed = 1, .out = out, .err = err };
	r.status = executor_run(&executor_serial, g, &o);
	fclose(out);
	fclose(err);
	return r;
}

/* The continuation holds a's future without waiting for it (dag.h,
 * DAG_EDGE_HELD); only calls' futures are held, the values it resumes
 * with are waited for. Returns how many edges are held. */
static int held_edges(const dag *g)
{
	int64_t c = dag_cont_node(g);
	assert_true(c >= 0);
	int held = 0;
	for (uint32_t e = g->pred_off[c]; e < g->pred_off[c + 1]; e++) {
		uint8_t k = g->nodes[g->preds[e]].kind;
		if (g->pred_order[e] == DAG_EDGE_HELD) {
			assert_true(k == DAG_TASK || k == DAG_METHOD || k == DAG_PUT);
			held++;
		}
	}
	return held;
}

static void test_staged_driver_plan(void **state)
{
	(void)state;
	diag_ctx d;
	flow_loader l;
	diag_init(&d);
	loader_init(&l, &d);
	assert_int_equal(loader_load_source(&l, "t.flow", staged_src, strlen(staged_src), NULL, 0), 0);
	bc_program *p = compile_program(&l);
	assert_non_null(p);
	char *err = NULL;
	dag *g = lower_program(p, NULL, &err);
	assert_non_null(g);
	assert_true(g->cont.nframes >= 2); /* stopped inside walk() */
	assert_int_equal(held_edges(g), 1);
	runres direct = run_staged(p, g);
	assert_int_equal(direct.status, 0);
	assert_string_equal(direct.out, "7 v\n4\n");
	sbuf plan;
	sbuf_init(&plan);
	assert_int_equal(plan_write(&plan, p, NULL, 0, g, &err), 0);
	dag_free(g);
	bc_program_free(p);
	loader_fini(&l);
	diag_fini(&d);

	diag_init(&d);
	g = NULL;
	p = plan_read(plan.data, plan.len, &d, &g, &err);
	assert_non_null(p);
	assert_int_equal(held_edges(g), 1);
	runres again = run_staged(p, g);
	assert_string_equal(again.out, direct.out);
	runres_free(&again);
	dag_free(g);
	bc_program_free(p);
	diag_fini(&d);

	size_t body = plan.len - PLAN_SUM_LEN;
	uint8_t *b = malloc(plan.len);
	int loaded = 0;
	static const uint8_t xors[] = { 0x01, 0x10, 0xff };
	for (size_t x = 0; x < sizeof xors; x++)
		for (size_t i = 0; i < body; i++) {
			memcpy(b, plan.data, plan.len);
			b[i] ^= xors[x];
			plan_sha256(b, body, b + body);
			diag_init(&d);
			g = NULL;
			err = NULL;
			p = plan_read(b, plan.len, &d, &g, &err);
			if (p && g) {
				loaded++;
				struct itimerval t = { { 0, 0 }, { 0, 50000 } }, off = { { 0, 0 }, { 0, 0 } };
				vm_interrupted = 0;
				signal(SIGALRM, on_alarm);
				setitimer(ITIMER_REAL, &t, NULL);
				runres r = run_staged(p, g);
				setitimer(ITIMER_REAL, &off, NULL);
				vm_interrupted = 0;
				runres_free(&r);
			}
			dag_free(g);
			if (p)
				bc_program_free(p);
			free(err);
			diag_fini(&d);
		}
	print_message("staged flips: %d loaded\n", loaded);
	free(b);
	runres_free(&direct);
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
	bc_program *p = plan_read(plan.data, plan.len, &d, NULL, &err);
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

/* ---- the DAG in a plan ------------------------------------------------------- */

static uint32_t proto_named(const bc_program *p, const char *name, bc_proto_kind kind)
{
	for (int i = 0; i < p->nprotos; i++)
		if (p->protos[i]->kind == kind && strcmp(p->protos[i]->name, name) == 0)
			return (uint32_t)i;
	fail_msg("no proto '%s'", name);
	return 0;
}

static uint32_t method_of(const bc_program *p, const bc_actor *a)
{
	for (int i = 0; i < p->nprotos; i++)
		if (p->protos[i]->kind == PROTO_METHOD && p->protos[i]->actor == a)
			return (uint32_t)i;
	fail_msg("actor '%s' has no method", a->name);
	return 0;
}

/* The first instruction of the driver, from pc `from`, that can be a node
 * (op: that opcode, or any if < 0). */
static int driver_insn(const bc_program *p, int from, int op, uint8_t *regs, int *k, int *out)
{
	const bc_proto *drv = p->driver;
	for (int pc = from; pc < drv->ncode; pc++) {
		int outs;
		int n = vm_insn_inputs(p, drv, pc, regs, 256, &outs);
		if (n < 0 || (op >= 0 && (int)BC_OP(drv->code[pc]) != op))
			continue;
		*k = n;
		*out = (outs & 1) ? BC_A(drv->code[pc]) : BC_B(drv->code[pc]);
		return pc;
	}
	return -1;
}

/* A DAG of rich_src's program with every node kind, references nested in
 * lists and dicts, ordering edges and a rewrite. */
static dag *build_dag(const bc_program *p)
{
	dag *d = dag_new(p);
	span w = p->driver->where;
	uint32_t square = proto_named(p, "square", PROTO_TASK), add = proto_named(p, "add", PROTO_TASK);
	value one = v_int(3);
	uint32_t n0 = dag_add(d, DAG_TASK, square, 0, 0, &one, NULL, 1, w);
	one = v_int(4);
	uint32_t n1 = dag_add(d, DAG_TASK, square, 0, 0, &one, NULL, 1, w);
	value two[2] = { d->fut[n0], d->fut[n1] };
	uint32_t n2 = dag_add(d, DAG_TASK, add, 0, 0, two, NULL, 2, w);
	assert_int_equal(p->nactors, 1);
	const bc_actor *a = p->actors[0];
	value args[8];
	int ninit = a->init ? a->init->nparams : 0;
	for (int j = 0; j < ninit; j++)
		args[j] = v_int(10 + j);
	uint32_t n3 = dag_add(d, DAG_ACTOR, 0, 0, 0, args, NULL, ninit, w);
	uint32_t m = method_of(p, a);
	int nm = p->protos[m]->nparams;
	for (int j = 0; j < nm; j++)
		args[j] = j == nm - 1 ? d->fut[n2] : v_int(j);
	uint32_t n4 = dag_add(d, DAG_METHOD, m, n3, 0, args, NULL, nm, w);
	/* put([fut0, {"a": fut4, "h": handle3, "k": [1.5]}, "x", square]) */
	value l = list_new(4), dct = dict_new(4), inner = list_new(1);
	verr e;
	list_append(l, d->fut[n0]);
	list_append(inner, v_float(1.5));
	value k = str_from_c("a");
	assert_int_equal(dict_set(dct, k, d->fut[n4], &e), 0);
	val_rele(k);
	k = str_from_c("h");
	assert_int_equal(dict_set(dct, k, d->fut[n3], &e), 0);
	val_rele(k);
	k = str_from_c("k");
	assert_int_equal(dict_set(dct, k, inner, &e), 0);
	val_rele(k);
	list_append_take(l, dct);
	list_append_take(l, str_from_c("x"));
	list_append_take(l, vm_func_proto(p->protos[square]));
	val_rele(inner);
	uint32_t n5 = dag_add(d, DAG_PUT, 0, 0, 0, &l, NULL, 1, w);
	val_rele(l);
	/* an implicit node and an effect from real driver instructions */
	uint8_t regs[256];
	int nk, out;
	int pc = driver_insn(p, 0, OP_ADD, regs, &nk, &out);
	if (pc < 0)
		pc = driver_insn(p, 0, -1, regs, &nk, &out);
	for (int j = 0; j < nk; j++)
		args[j] = j == 0 ? d->fut[n2] : v_int(j);
	uint32_t n6 = dag_add(d, DAG_IMPLICIT, DAG_PROTO_DRIVER, (uint32_t)pc, out, args, regs, nk,
	                      p->driver->lines[pc]);
	assert_true(pc >= 0 && nk <= 8);
	pc = driver_insn(p, 0, OP_NATIVE, regs, &nk, &out);
	assert_true(pc >= 0 && nk <= 8);
	for (int j = 0; j < nk; j++)
		args[j] = j == 0 ? d->fut[n6] : v_int(j);
	uint32_t n7 = dag_add(d, DAG_EFFECT, DAG_PROTO_DRIVER, (uint32_t)pc, out, args, regs, nk,
	                      p->driver->lines[pc]);
	dag_order(d, n6, n7);
	dag_order(d, n4, n7);
	dag_order(d, n1, n5);
	dag_order(d, n0, n2); /* also a data edge */
	d->rewrites = calloc(1, sizeof *d->rewrites);
	d->rewrites[0] = (dag_rewrite){ w, add, 4, 3, 2 };
	d->nrewrites = 1;
	assert_int_equal(dag_finalize(d), 0);
	return d;
}

/* Inputs equal: the same shape, references to the same nodes. */
static void same_input(value a, value b)
{
	assert_int_equal(a.t, b.t);
	assert_int_equal(dag_ref(a), dag_ref(b));
	if (dag_ref(a) >= 0)
		return;
	if (a.t == V_LIST) {
		assert_int_equal(list_len(a), list_len(b));
		for (size_t i = 0; i < list_len(a); i++)
			same_input(list_get(a, i), list_get(b, i));
	} else if (a.t == V_DICT) {
		assert_int_equal(dict_len(a), dict_len(b));
		size_t i = 0, j = 0;
		value ka, va, kb, vb;
		while (dict_next(a, &i, &ka, &va)) {
			assert_true(dict_next(b, &j, &kb, &vb));
			assert_true(val_eq(ka, kb));
			same_input(va, vb);
		}
	} else if (a.t == V_FUNC) {
		assert_ptr_equal(((const vfunc *)a.as.o)->proto->name, ((const vfunc *)a.as.o)->proto->name);
		assert_string_equal(((const vfunc *)a.as.o)->proto->name, ((const vfunc *)b.as.o)->proto->name);
	} else {
		assert_true(val_eq(a, b));
	}
}

static void test_dag_roundtrip(void **state)
{
	(void)state;
	diag_ctx d0;
	flow_loader l;
	diag_init(&d0);
	loader_init(&l, &d0);
	assert_int_equal(loader_load_source(&l, "t.flow", rich_src, strlen(rich_src), NULL, 0), 0);
	bc_program *p0 = compile_program(&l);
	assert_non_null(p0);
	dag *g0 = build_dag(p0);
	sbuf plan;
	sbuf_init(&plan);
	char *err = NULL;
	assert_int_equal(plan_write(&plan, p0, NULL, 0, g0, &err), 0);

	diag_ctx d;
	diag_init(&d);
	dag *g = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, &g, &err);
	if (!p)
		fprintf(stderr, "%s\n", err);
	assert_non_null(p);
	assert_non_null(g);
	assert_ptr_equal(g->prog, p);
	assert_int_equal(g->n, g0->n);
	assert_int_equal(g->n, 8);
	for (uint32_t v = 0; v < g->n; v++) {
		const dag_node *a = &g0->nodes[v], *b = &g->nodes[v];
		assert_int_equal(a->kind, b->kind);
		assert_int_equal(a->out, b->out);
		assert_int_equal(a->nin, b->nin);
		assert_int_equal(a->proto, b->proto);
		assert_int_equal(a->pc, b->pc);
		assert_int_equal(a->where.line, b->where.line);
		assert_int_equal(a->where.col, b->where.col);
		for (uint32_t j = 0; j < a->nin; j++) {
			same_input(g0->ins[a->in + j], g->ins[b->in + j]);
			assert_int_equal(g0->inreg[a->in + j], g->inreg[b->in + j]);
			assert_true(val_is_frozen(g->ins[b->in + j]) || !V_IS_HEAP(g->ins[b->in + j].t));
		}
		assert_int_equal(dag_ref(g->fut[v]), v);
		assert_int_equal(g->fut[v].t, b->kind == DAG_ACTOR ? V_ACTOR : V_FUTURE);
		char b1[64], b2[64];
		if (b->kind != DAG_IMPLICIT && b->kind != DAG_EFFECT) /* dag_label: protos[] only */
			assert_string_equal(dag_label(g0, v, b1, sizeof b1), dag_label(g, v, b2, sizeof b2));
	}
	/* the same edges after finalize, ordering marks included */
	assert_int_equal(g->nedges, g0->nedges);
	assert_memory_equal(g->pred_off, g0->pred_off, sizeof(uint32_t) * (g->n + 1));
	assert_memory_equal(g->preds, g0->preds, sizeof(uint32_t) * g->nedges);
	assert_memory_equal(g->pred_order, g0->pred_order, g->nedges);
	assert_memory_equal(g->succs, g0->succs, sizeof(uint32_t) * g->nedges);
	assert_int_equal(g->nrewrites, 1);
	assert_int_equal(g->rewrites[0].proto, g0->rewrites[0].proto);
	assert_int_equal(g->rewrites[0].calls, 4);
	assert_int_equal(g->rewrites[0].depth_after, 2);
	/* n7 waits for n6 by data and order, and for n4 by order only */
	bool saw4 = false;
	for (uint32_t e = g->pred_off[7]; e < g->pred_off[8]; e++)
		if (g->preds[e] == 4)
			saw4 = g->pred_order[e] == 1;
	assert_true(saw4);

	/* written again: the same bytes */
	sbuf again;
	sbuf_init(&again);
	assert_int_equal(plan_write(&again, p, NULL, 0, g, &err), 0);
	assert_int_equal(again.len, plan.len);
	assert_memory_equal(again.data, plan.data, plan.len);
	sbuf_fini(&again);

	/* loading without asking for the DAG still works; no DAG gives NULL */
	dag_free(g);
	bc_program_free(p);
	diag_fini(&d);
	diag_init(&d);
	p = plan_read(plan.data, plan.len, &d, NULL, &err);
	assert_non_null(p);
	bc_program_free(p);
	sbuf_fini(&plan);
	sbuf_init(&plan);
	assert_int_equal(plan_write(&plan, p0, NULL, 0, NULL, &err), 0);
	g = (dag *)1;
	p = plan_read(plan.data, plan.len, &d, &g, &err);
	assert_non_null(p);
	assert_null(g);
	bc_program_free(p);
	diag_fini(&d);
	sbuf_fini(&plan);
	dag_free(g0);
	bc_program_free(p0);
	loader_fini(&l);
	diag_fini(&d0);
}

/* DAGs that dag_add accepts but that do not fit the program: each is
 * written, then refused on reading with its own message. */
static void test_dag_mismatch_refused(void **state)
{
	(void)state;
	diag_ctx d0;
	flow_loader l;
	diag_init(&d0);
	loader_init(&l, &d0);
	assert_int_equal(loader_load_source(&l, "t.flow", rich_src, strlen(rich_src), NULL, 0), 0);
	bc_program *p0 = compile_program(&l);
	assert_non_null(p0);
	uint32_t square = proto_named(p0, "square", PROTO_TASK);
	uint32_t twice = proto_named(p0, "twice", PROTO_FN);
	span w = p0->driver->where;
	value args[4] = { v_int(1), v_int(2), v_int(3), v_int(4) };
	uint8_t regs[256];
	int nk, out;
	int pc = driver_insn(p0, 0, -1, regs, &nk, &out);
	assert_true(pc >= 0 && nk >= 1 && nk <= 4);
	static const char *const want[] = {
		"inputs for task", "is not a task", "not an earlier actor node", "does not write register",
		"put has 2 inputs", "input 0 is register", "which is not an earlier node",
	};
	for (int c = 0; c < 7; c++) {
		dag *g = dag_new(p0);
		uint32_t t = dag_add(g, DAG_TASK, square, 0, 0, args, NULL, 1, w);
		switch (c) {
		case 0: dag_add(g, DAG_TASK, square, 0, 0, args, NULL, 2, w); break;
		case 1: dag_add(g, DAG_TASK, twice, 0, 0, args, NULL, 2, w); break;
		case 2: dag_add(g, DAG_METHOD, square, t, 0, args, NULL, 1, w); break;
		case 3: dag_add(g, DAG_IMPLICIT, DAG_PROTO_DRIVER, (uint32_t)pc, out + 1, args, regs, nk, w); break;
		case 4: dag_add(g, DAG_PUT, 0, 0, 0, args, NULL, 2, w); break;
		case 5:
			regs[0]++;
			dag_add(g, DAG_IMPLICIT, DAG_PROTO_DRIVER, (uint32_t)pc, out, args, regs, nk, w);
			regs[0]--;
			break;
		case 6: {
			/* a future of a node that comes later: made in another DAG */
			dag *o = dag_new(p0);
			dag_add(o, DAG_TASK, square, 0, 0, args, NULL, 1, w);
			dag_add(o, DAG_TASK, square, 0, 0, args, NULL, 1, w);
			dag_add(g, DAG_PUT, 0, 0, 0, &o->fut[1], NULL, 1, w);
			dag_free(o);
			break;
		}
		}
		sbuf plan;
		sbuf_init(&plan);
		char *err = NULL;
		assert_int_equal(plan_write(&plan, p0, NULL, 0, g, &err), 0);
		assert_false(try_load(plan.data, plan.len, &err));
		if (!strstr(err, want[c]))
			fail_msg("case %d: '%s' does not say '%s'", c, err, want[c]);
		free(err);
		sbuf_fini(&plan);
		dag_free(g);
	}
	/* a future no node made cannot be written */
	dag *g = dag_new(p0);
	value f = future_new_done(v_int(1));
	dag_add(g, DAG_PUT, 0, 0, 0, &f, NULL, 1, w);
	val_rele(f);
	sbuf plan;
	sbuf_init(&plan);
	char *err = NULL;
	assert_int_equal(plan_write(&plan, p0, NULL, 0, g, &err), -1);
	assert_non_null(strstr(err, "no node makes"));
	free(err);
	sbuf_fini(&plan);
	dag_free(g);
	bc_program_free(p0);
	loader_fini(&l);
	diag_fini(&d0);
}

/* Ints of every varint length as node inputs (the loader reads one to
 * three bytes inline, the rest through val_decode_varint): each comes
 * back as the same int. */
static void test_int_inputs_every_length(void **state)
{
	(void)state;
	static const int64_t want[] = {0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, 1048575, -1048576,
	                               1048576, -1048577, 1LL << 40, -(1LL << 40), INT64_MAX, INT64_MIN + 1};
	enum { N = sizeof want / sizeof want[0] };
	char src[1024];
	int at = snprintf(src, sizeof src, "task inc(x: int) -> int { return x }\nlet xs = [inc(x) for x in [");
	for (int i = 0; i < N; i++)
		at += snprintf(src + at, sizeof src - (size_t)at, "%s%lld", i ? ", " : "", (long long)want[i]);
	snprintf(src + at, sizeof src - (size_t)at, "]]\n");
	diag_ctx d0;
	flow_loader l;
	diag_init(&d0);
	loader_init(&l, &d0);
	assert_int_equal(loader_load_source(&l, "ints.flow", src, strlen(src), NULL, 0), 0);
	bc_program *p0 = compile_program(&l);
	if (!p0)
		diag_print(&d0, stderr);
	assert_non_null(p0);
	char *err = NULL;
	lower_opts lo = {0};
	dag *g0 = lower_program(p0, &lo, &err);
	assert_non_null(g0);
	assert_int_equal(g0->n, N);
	sbuf plan;
	sbuf_init(&plan);
	assert_int_equal(plan_write(&plan, p0, NULL, 0, g0, &err), 0);
	diag_ctx d;
	diag_init(&d);
	dag *g = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, &g, &err);
	if (!p)
		fprintf(stderr, "%s\n", err);
	assert_non_null(p);
	assert_int_equal(g->n, N);
	for (uint32_t v = 0; v < g->n; v++) {
		const dag_node *b = &g->nodes[v];
		assert_int_equal(b->nin, 1);
		assert_int_equal(g->ins[b->in].t, V_INT);
		assert_true(g->ins[b->in].as.i == want[v]);
	}
	dag_free(g);
	bc_program_free(p);
	diag_fini(&d);
	sbuf_fini(&plan);
	dag_free(g0);
	bc_program_free(p0);
	loader_fini(&l);
	diag_fini(&d0);
}

/* plan_map gives a file's bytes, mapped from 64 KiB up and read below
 * that; a missing file is an error with errno. */
static void test_plan_map(void **state)
{
	(void)state;
	static const size_t sizes[] = {0, 100, (1u << 16) - 1, 1u << 16, (1u << 20) + 1, (3u << 20) + 7};
	char path[] = "/tmp/flow-test-plan-map-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t n = sizes[k];
		uint8_t *w = malloc(n + 1);
		for (size_t i = 0; i < n; i++)
			w[i] = (uint8_t)(i * 131 + k);
		assert_int_equal(ftruncate(fd, 0), 0);
		assert_int_equal(pwrite(fd, w, n, 0), (ssize_t)n);
		const uint8_t *b = NULL;
		size_t len = 7;
		assert_int_equal(plan_map(path, &b, &len), 0);
		assert_int_equal(len, n);
		if (n)
			assert_memory_equal(b, w, n);
		plan_unmap(b, len);
		free(w);
	}
	close(fd);
	unlink(path);
	const uint8_t *b;
	size_t len;
	errno = 0;
	assert_int_equal(plan_map(path, &b, &len), -1);
	assert_int_equal(errno, ENOENT);
}

/* A source compiled, lowered and written as a plan (the round trips'
 * first half): the caller frees p, g and plan, then l and d0. */
struct lowered {
	diag_ctx d0;
	flow_loader l;
	bc_program *p;
	dag *g;
	sbuf plan;
};

static void lower_and_write(struct lowered *w, const char *name, const char *src)
{
	diag_init(&w->d0);
	loader_init(&w->l, &w->d0);
	assert_int_equal(loader_load_source(&w->l, name, src, strlen(src), NULL, 0), 0);
	w->p = compile_program(&w->l);
	assert_non_null(w->p);
	char *err = NULL;
	lower_opts lo = {0};
	w->g = lower_program(w->p, &lo, &err);
	assert_non_null(w->g);
	sbuf_init(&w->plan);
	assert_int_equal(plan_write(&w->plan, w->p, NULL, 0, w->g, &err), 0);
}

/* A DAG of 40,000 nodes (past the 8,192 whose futures dag.c mallocs; the
 * rest come from huge-page slabs), lowered, written, read back: the same
 * nodes, inputs, edges and futures, and the plan written again from what
 * was read is byte for byte the first. Damage anywhere is refused with a
 * place, never a crash, also when the DAG was half built (the failure
 * path frees slab futures). */
static void test_big_dag_roundtrip(void **state)
{
	(void)state;
	static const char src[] = "task inc(x: int) -> int { return x + 1 }\n"
	                          "let xs = [inc(i) for i in range(20000)]\n"
	                          "let ys = [inc(x) for x in xs]\n";
	struct lowered w;
	lower_and_write(&w, "big.flow", src);
	bc_program *p0 = w.p;
	dag *g0 = w.g;
	sbuf plan = w.plan;
	char *err = NULL;
	assert_int_equal(g0->n, 40000);

	diag_ctx d;
	diag_init(&d);
	dag *g = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, &g, &err);
	assert_non_null(p);
	assert_non_null(g);
	assert_int_equal(g->n, g0->n);
	assert_int_equal(g->nins, g0->nins);
	for (uint32_t v = 0; v < g->n; v++) {
		const dag_node *a = &g0->nodes[v], *b = &g->nodes[v];
		assert_int_equal(a->kind, b->kind);
		assert_int_equal(a->nin, b->nin);
		assert_int_equal(a->proto, b->proto);
		assert_int_equal(a->where.line, b->where.line);
		for (uint32_t j = 0; j < a->nin; j++)
			same_input(g0->ins[a->in + j], g->ins[b->in + j]);
		assert_int_equal(g->fut[v].t, V_FUTURE);
		assert_int_equal(dag_ref(g->fut[v]), v);
		const vfuture *f = (const vfuture *)g->fut[v].as.o;
		assert_int_equal(f->state, FUT_PENDING);
		assert_int_equal(f->h.rc, v < 20000 ? 2u : 1u); /* the DAG, and its consumer's input */
		/* room reserved for 40,000 nodes: every future from the slab */
		assert_true(f->h.flags & VOBJ_SLAB);
	}
	/* the lowering grows its DAG: its first futures are malloc'd, and
	 * once room for 8,192 nodes is there, they come from the slab */
	assert_false(((const vfuture *)g0->fut[0].as.o)->h.flags & VOBJ_SLAB);
	assert_true(((const vfuture *)g0->fut[g0->n - 1].as.o)->h.flags & VOBJ_SLAB);
	assert_int_equal(g->nedges, g0->nedges);
	assert_int_equal(g->nedges, 20000);
	assert_memory_equal(g->pred_off, g0->pred_off, sizeof(uint32_t) * (g->n + 1));
	assert_memory_equal(g->preds, g0->preds, sizeof(uint32_t) * g->nedges);
	assert_memory_equal(g->succ_off, g0->succ_off, sizeof(uint32_t) * (g->n + 1));
	assert_memory_equal(g->succs, g0->succs, sizeof(uint32_t) * g->nedges);
	sbuf again;
	sbuf_init(&again);
	assert_int_equal(plan_write(&again, p, NULL, 0, g, &err), 0);
	assert_int_equal(again.len, plan.len);
	assert_memory_equal(again.data, plan.data, plan.len);
	/* a future may outlive its DAG: its slab chunk stays until it dies */
	value keep = val_hold(g->fut[30000]);
	dag_free(g);
	assert_int_equal(dag_ref(keep), 30000);
	val_rele(keep);
	bc_program_free(p);
	diag_fini(&d);

	/* damage: a flipped byte fails the checksum; with the checksum
	 * fixed, the loader's own checks refuse it or it loads, never worse */
	uint8_t *b = malloc(plan.len);
	memcpy(b, plan.data, plan.len);
	b[plan.len / 2] ^= 0x40;
	char *e2 = NULL;
	assert_int_equal(try_load(b, plan.len, &e2), 0);
	assert_non_null(strstr(e2, "checksum"));
	free(e2);
	int refused = 0;
	for (size_t k = 0; k < 120; k++) {
		size_t at = (plan.len - PLAN_SUM_LEN) * (k + 1) / 121;
		memcpy(b, plan.data, plan.len);
		b[at] ^= (uint8_t)(1u << (k % 8));
		plan_fix_checksum(b, plan.len);
		refused += !try_load(b, plan.len, NULL);
	}
	assert_true(refused > 0);
	assert_int_equal(try_load(plan.data, plan.len - 1, NULL), 0); /* truncated */
	free(b);
	sbuf_fini(&again);
	sbuf_fini(&plan);
	dag_free(g0);
	bc_program_free(p0);
	loader_fini(&w.l);
	diag_fini(&w.d0);
}

/* A plan of a few thousand nodes: its DAG's arrays and its futures share
 * one huge page (dag.h's arena in the futures' slab chunk); inputs past
 * the one a node reserved grow out of the arena; the DAG reads back as
 * written; a future outlives the DAG (the chunk stays mapped for it). */
static void test_mid_dag_roundtrip(void **state)
{
	(void)state;
	static const char src[] = "task add(x: int, y: int) -> int { return x + y }\n"
	                          "let xs = [add(i, i) for i in range(3000)]\n"
	                          "let ys = [add(x, 1) for x in xs]\n";
	struct lowered w;
	lower_and_write(&w, "mid.flow", src);
	bc_program *p0 = w.p;
	dag *g0 = w.g;
	sbuf plan = w.plan;
	char *err = NULL;
	assert_int_equal(g0->n, 6000);
	assert_int_equal(g0->nins, 12000);
	assert_null(g0->arena); /* lowering grows its arrays */

	diag_ctx d;
	diag_init(&d);
	dag *g = NULL;
	bc_program *p = plan_read(plan.data, plan.len, &d, &g, &err);
	assert_non_null(p);
	assert_non_null(g);
	assert_non_null(g->arena);
	assert_true(g->arena_in_slab);
	uintptr_t chunk = (uintptr_t)g->arena & ~(uintptr_t)(OBJSLAB_CHUNK - 1);
	assert_true((uintptr_t)g->nodes >= (uintptr_t)g->arena);
	assert_true((uintptr_t)g->pred_off >= (uintptr_t)g->arena);
	/* 12,000 inputs against 6,000 reserved: copied out of the arena */
	assert_true((uintptr_t)g->ins < chunk || (uintptr_t)g->ins >= chunk + OBJSLAB_CHUNK);
	assert_int_equal(g->n, g0->n);
	assert_int_equal(g->nins, g0->nins);
	for (uint32_t v = 0; v < g->n; v++) {
		const dag_node *a = &g0->nodes[v], *b = &g->nodes[v];
		assert_int_equal(a->kind, b->kind);
		assert_int_equal(a->nin, b->nin);
		assert_int_equal(a->in, b->in);
		for (uint32_t j = 0; j < a->nin; j++)
			same_input(g0->ins[a->in + j], g->ins[b->in + j]);
		assert_int_equal(dag_ref(g->fut[v]), v);
		const vfuture *f = (const vfuture *)g->fut[v].as.o;
		assert_true(f->h.flags & VOBJ_SLAB);
		assert_int_equal(f->state, FUT_PENDING);
		assert_true((uintptr_t)f < (uintptr_t)g->arena); /* carved before the arena */
	}
	assert_int_equal((uintptr_t)g->fut[0].as.o & ~(uintptr_t)(OBJSLAB_CHUNK - 1), chunk);
	assert_int_equal(g->nedges, g0->nedges);
	assert_memory_equal(g->pred_off, g0->pred_off, sizeof(uint32_t) * (g->n + 1));
	assert_memory_equal(g->preds, g0->preds, sizeof(uint32_t) * g->nedges);
	assert_memory_equal(g->pred_order, g0->pred_order, g->nedges);
	assert_memory_equal(g->succ_off, g0->succ_off, sizeof(uint32_t) * (g->n + 1));
	assert_memory_equal(g->succs, g0->succs, sizeof(uint32_t) * g->nedges);
	/* finalizing again rebuilds the same edges (fresh arrays) */
	assert_int_equal(dag_finalize(g), 0);
	assert_memory_equal(g->succ_off, g0->succ_off, sizeof(uint32_t) * (g->n + 1));
	assert_memory_equal(g->preds, g0->preds, sizeof(uint32_t) * g->nedges);
	sbuf again;
	sbuf_init(&again);
	assert_int_equal(plan_write(&again, p, NULL, 0, g, &err), 0);
	assert_int_equal(again.len, plan.len);
	assert_memory_equal(again.data, plan.data, plan.len);
	/* a future outlives its DAG and the arena beside it */
	value keep = val_hold(g->fut[4000]);
	dag_free(g);
	assert_int_equal(dag_ref(keep), 4000);
	assert_int_equal(((const vfuture *)keep.as.o)->state, FUT_PENDING);
	val_rele(keep);
	bc_program_free(p);
	diag_fini(&d);
	sbuf_fini(&again);
	sbuf_fini(&plan);
	dag_free(g0);
	bc_program_free(p0);
	loader_fini(&w.l);
	diag_fini(&w.d0);
}

/* The checksum: the known digest of "abc", and a big plan's (hashed with
 * OpenSSL, plan_sha.c) the same as mbedtls'. */
static void test_sha256_both_ways(void **state)
{
	(void)state;
	static const uint8_t abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	uint8_t h[32], ref[32];
	plan_sha256("abc", 3, h);
	assert_memory_equal(h, abc, 32);
	size_t n = (3u << 20) + 5;
	uint8_t *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 131 + (i >> 9));
	plan_sha256(b, n, h);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256(b, n, ref, 0);
#else
	mbedtls_sha256_ret(b, n, ref, 0);
#endif
	assert_memory_equal(h, ref, 32);
	uint8_t ref_big[32];
	memcpy(ref_big, ref, 32);
	/* plan_sha256 against mbedtls at every tail length (the padding's
	 * one or two blocks), and on a big buffer (libcrypto's way) */
	for (size_t len = 0; len < 300; len++) {
		plan_sha256_mbed(b + 7, len, ref);
		plan_sha256(b + 7, len, h);
		assert_memory_equal(h, ref, 32);
	}
	plan_sha256_mbed(b, n, ref);
	assert_memory_equal(ref, ref_big, 32);
	free(b);
}

int main(void)
{
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_runs_the_same),
		cmocka_unit_test(test_runtime_error_keeps_its_place),
		cmocka_unit_test(test_task_flags_roundtrip),
		cmocka_unit_test(test_every_flipped_byte_is_refused),
		cmocka_unit_test(test_every_truncation_is_refused),
		cmocka_unit_test(test_structural_validator),
		cmocka_unit_test(test_future_version_and_not_a_plan),
		cmocka_unit_test(test_type_flow_refuses_misuse),
		cmocka_unit_test(test_dag_roundtrip),
		cmocka_unit_test(test_dag_mismatch_refused),
		cmocka_unit_test(test_staged_driver_plan),
		cmocka_unit_test(test_big_dag_roundtrip),
		cmocka_unit_test(test_mid_dag_roundtrip),
		cmocka_unit_test(test_int_inputs_every_length),
		cmocka_unit_test(test_plan_map),
		cmocka_unit_test(test_sha256_both_ways),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
