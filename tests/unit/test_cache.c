/* test_cache.c - the cache of task results (executor/cache.h): keys that
 * do not depend on addresses, declaration order or positions; the
 * random stream's part; what is not cacheable; the size cap keeping the
 * most recently used entries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "executor/cache.h"
#include "lang/compile.h"
#include "lang/resolve.h"
#include "lang/value.h"
#include "lang/vm.h"

/* The same tasks twice: the second file declares more, in another order,
 * at other lines. */
static const char *src_a =
	"task inc(x: int) -> int { return x + 1 }\n"
	"task dbl(x: int) -> int { return 2 * x }\n"
	"import random\n"
	"task roll(x: int) -> int { return random.randint(0, 100) + x }\n"
	"task pad(x: int) -> str { return str(x) * 3000 }\n"
	"task talk(x: int) -> int { print(x)\n return x }\n";
static const char *src_b =
	"param unused: int = 3\n"
	"fn helper(x: int) -> int { return x - unused }\n"
	"\n"
	"task dbl(x: int) -> int { return 2 * x }\n"
	"task inc(x: int) -> int {\n    return x + 1\n}\n";

typedef struct prog {
	diag_ctx d;
	flow_loader l;
	bc_program *p;
} prog;

static void load(prog *g, const char *src)
{
	diag_init(&g->d);
	loader_init(&g->l, &g->d);
	assert_int_equal(loader_load_source(&g->l, "t.flow", src, strlen(src), NULL, 0), 0);
	g->p = compile_program(&g->l);
	if (!g->p)
		diag_print(&g->d, stderr);
	assert_non_null(g->p);
}

static void unload(prog *g)
{
	bc_program_free(g->p);
	loader_fini(&g->l);
	diag_fini(&g->d);
}

static const bc_proto *proto(const prog *g, const char *name)
{
	for (int j = 0; j < g->p->nprotos; j++)
		if (!strcmp(g->p->protos[j]->name, name))
			return g->p->protos[j];
	fail_msg("no proto '%s'", name);
	return NULL;
}

static char dir[64];

static flow_cache *open_cache(const prog *g, uint64_t cap)
{
	cache_opts o = {.dir = dir, .cap = cap, .read = true, .write = true, .version = "test"};
	char *err = NULL;
	flow_cache *c = cache_open(&o, stderr, &err);
	if (!c)
		fail_msg("cache_open: %s", err);
	cache_bind(c, g->p);
	return c;
}

/* Runs "task(x)" through the hook: 1 and *res when it was a hit; else
 * stores `result` (when not none) and returns 0. */
static int call(flow_cache *c, const bc_proto *t, uint64_t ident, int64_t x, value result,
                value *res)
{
	value arg = v_int(x);
	cache_call *cc = NULL;
	if (cache_call_begin(c, t, 0, ident, &arg, 1, &cc, res))
		return 1;
	if (result.t != V_NONE) {
		value f = future_new_done(result);
		cache_call_end(cc, f);
		val_rele(f);
	} else {
		cache_call_end(cc, v_none());
	}
	return 0;
}

static void test_keys(void **state)
{
	(void)state;
	prog a, b;
	load(&a, src_a);
	load(&b, src_b);
	flow_cache *c = open_cache(&a, 0);
	value r;
	assert_int_equal(call(c, proto(&a, "inc"), 1, 41, v_int(42), &r), 0);
	assert_int_equal(call(c, proto(&a, "inc"), 2, 41, v_none(), &r), 1); /* identity unused */
	assert_int_equal(r.as.i, 42);
	assert_int_equal(call(c, proto(&a, "inc"), 1, 40, v_none(), &r), 0); /* another argument */
	/* random: the identity counts */
	assert_int_equal(call(c, proto(&a, "roll"), 7, 1, v_int(50), &r), 0);
	assert_int_equal(call(c, proto(&a, "roll"), 8, 1, v_none(), &r), 0);
	assert_int_equal(call(c, proto(&a, "roll"), 7, 1, v_none(), &r), 1);
	assert_int_equal(r.as.i, 50);
	/* effects: never looked up nor stored */
	assert_int_equal(call(c, proto(&a, "talk"), 1, 5, v_int(5), &r), 0);
	assert_int_equal(call(c, proto(&a, "talk"), 1, 5, v_none(), &r), 0);
	cache_stats cs;
	cache_get_stats(c, &cs);
	assert_int_equal(cs.hits, 2);
	assert_int_equal(cs.uncacheable, 2);
	assert_int_equal(cs.stored, 2);
	cache_close(c);

	/* another program (other addresses, indices and lines): same keys */
	c = open_cache(&b, 0);
	assert_int_equal(call(c, proto(&b, "inc"), 3, 41, v_none(), &r), 1);
	assert_int_equal(r.as.i, 42);
	assert_int_equal(call(c, proto(&b, "dbl"), 3, 41, v_none(), &r), 0); /* never stored */
	cache_close(c);
	unload(&a);
	unload(&b);
}

/* Flips byte k of every record's value, through LMDB (a damaged record,
 * not a damaged B-tree: LMDB does not checksum its pages). */
static void damage_records(size_t k)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val key, val;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	int n = 0;
	while (mdb_cursor_get(cur, &key, &val, n ? MDB_NEXT : MDB_FIRST) == 0) {
		char copy[4096];
		assert_true(val.mv_size > k && val.mv_size <= sizeof copy);
		memcpy(copy, val.mv_data, val.mv_size);
		copy[k] ^= 0x5a;
		MDB_val nv = { val.mv_size, copy };
		assert_int_equal(mdb_cursor_put(cur, &key, &nv, MDB_CURRENT), 0);
		n++;
	}
	mdb_cursor_close(cur);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_true(n > 0);
}

/* A record whose checksum fails is a miss, and the next store replaces it. */
static void test_damaged(void **state)
{
	(void)state;
	prog a;
	load(&a, src_a);
	char *err = NULL;
	uint64_t n;
	assert_int_equal(cache_clean(dir, &n, &err), 0);
	flow_cache *c = open_cache(&a, 0);
	value r;
	assert_int_equal(call(c, proto(&a, "inc"), 1, 1, v_int(2), &r), 0);
	cache_close(c);
	damage_records(20); /* inside the body: the time it was stored */
	c = open_cache(&a, 0);
	assert_int_equal(call(c, proto(&a, "inc"), 1, 1, v_int(2), &r), 0); /* a miss, stored again */
	assert_int_equal(call(c, proto(&a, "inc"), 1, 1, v_none(), &r), 1);
	assert_int_equal(r.as.i, 2);
	cache_close(c);
	damage_records(0); /* the magic */
	c = open_cache(&a, 0);
	assert_int_equal(call(c, proto(&a, "inc"), 1, 1, v_none(), &r), 0);
	cache_close(c);
	unload(&a);
}

/* 40 entries of ~3 KiB under a 64 KiB cap: the newest stay. */
static void test_cap(void **state)
{
	(void)state;
	prog a;
	load(&a, src_a);
	char *err = NULL;
	uint64_t n;
	assert_int_equal(cache_clean(dir, &n, &err), 0);
	flow_cache *c = open_cache(&a, 64 * 1024);
	value r;
	for (int k = 0; k < 40; k++) {
		char text[3001];
		memset(text, 'a' + k % 26, 3000);
		text[3000] = 0;
		value s = str_new(text, 3000);
		assert_int_equal(call(c, proto(&a, "pad"), 1, k, s, &r), 0);
		val_rele(s);
	}
	cache_close(c);
	c = open_cache(&a, 64 * 1024);
	int hits = 0, newest = 0, oldest = 0;
	for (int k = 0; k < 40; k++) {
		if (call(c, proto(&a, "pad"), 1, k, v_none(), &r)) {
			hits++;
			newest += k == 39;
			oldest += k == 0;
			assert_int_equal(str_len(r), 3000);
			val_rele(r);
		}
	}
	cache_close(c);
	assert_true(hits >= 10 && hits <= 22); /* 64 KiB / ~3.1 KiB an entry */
	assert_int_equal(newest, 1);
	assert_int_equal(oldest, 0);
	unload(&a);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/flow-test-cache-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	vm_types_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_damaged),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
