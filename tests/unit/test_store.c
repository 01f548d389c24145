/* test_store.c: unit tests of the object store (executor/store.h) - round
 * trips, LRU spilling to LMDB and reading back, pins, free, the errors
 * (unusable spill directory, map full, corrupt record), the map grown under
 * a `ulimit -v`, unencodable values,
 * the size estimate, size_parse, many threads at once, and the read-ahead
 * of big tensor records (sequential, random, freed or corrupt records,
 * close with reads in flight, its memory bound). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor/size.h"
#include "executor/store.h"
#include "lang/encode.h"
#include "lang/value.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

/* A frozen 1-d tensor of n doubles whose contents depend on seed. */
static value tens(size_t n, uint64_t seed)
{
	value v;
	verr e;
	int64_t shape[1] = {(int64_t)n};
	if (tensor_new(1, shape, &v, &e) != 0)
		fail_msg("tensor_new: %s", e.msg);
	for (size_t i = 0; i < n; i++)
		tensor_of(v)->data[i] = (double)seed * 1e6 + (double)i;
	val_freeze(v);
	return v;
}

static bool tens_ok(value v, size_t n, uint64_t seed)
{
	if (v.t != V_TENSOR || tensor_of(v)->size != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (tensor_of(v)->data[i] != (double)seed * 1e6 + (double)i)
			return false;
	return true;
}

static store *open_store(uint64_t cap, uint64_t map_size)
{
	store_opts o = {.memory_cap = cap, .spill_dir = NULL, .map_size = map_size};
	char *err = NULL;
	store *s = store_open(&o, &err);
	if (!s)
		fail_msg("store_open: %s", err);
	return s;
}

static void put_ok(store *s, uint64_t id, value v)
{
	char *err = NULL;
	int rc = store_put(s, id, v, &err);
	if (rc != STORE_OK)
		fail_msg("store_put %llu: %s", (unsigned long long)id, err);
}

static value get_ok(store *s, uint64_t id)
{
	char *err = NULL;
	value v;
	int rc = store_get(s, id, &v, &err);
	if (rc != STORE_OK)
		fail_msg("store_get %llu: %s", (unsigned long long)id, err);
	return v;
}

static void test_round_trip(void **state)
{
	store *s = open_store(64 * MiB, 0);
	value str = str_from_c("héllo");
	val_freeze(str);
	value l = list_new(2);
	list_append_take(l, v_int(7));
	list_append(l, str);
	val_freeze(l);
	value t = tens(100, 3);
	put_ok(s, 1, v_int(42));
	put_ok(s, 2, str);
	put_ok(s, 3, l);
	put_ok(s, 4, t);

	value g = get_ok(s, 1);
	assert_true(g.t == V_INT && g.as.i == 42);
	g = get_ok(s, 2);
	assert_ptr_equal(g.as.o, str.as.o); /* shared, not copied */
	val_rele(g);
	g = get_ok(s, 3);
	assert_true(val_eq(g, l));
	val_rele(g);
	g = get_ok(s, 4);
	assert_true(tens_ok(g, 100, 3));
	val_rele(g);

	char *err = NULL;
	assert_int_equal(store_put(s, 4, t, &err), STORE_ERR);
	assert_non_null(strstr(err, "already stored"));
	free(err);
	err = NULL;
	assert_int_equal(store_get(s, 99, &g, &err), STORE_ERR);
	assert_non_null(strstr(err, "no object 99"));
	free(err);
	err = NULL;
	value unfrozen = list_new(0);
	assert_int_equal(store_put(s, 5, unfrozen, &err), STORE_ERR);
	assert_non_null(strstr(err, "not frozen"));
	free(err);
	val_rele(unfrozen);

	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.objects, 4);
	assert_int_equal(st.spilled_objects, 0);
	assert_true(st.mem_bytes >= 100 * 8);
	/* the store holds its own references */
	val_rele(str);
	val_rele(l);
	val_rele(t);
	g = get_ok(s, 4);
	assert_true(tens_ok(g, 100, 3));
	val_rele(g);
	store_close(s);
}

/* 64 tensors of 128 KiB through a 1 MiB store. */
static void test_lru_spill(void **state)
{
	const size_t n = 128 * KiB / 8;
	store *s = open_store(1 * MiB, 0);
	for (uint64_t id = 0; id < 64; id++) {
		value t = tens(n, id);
		put_ok(s, id, t);
		val_rele(t);
	}
	store_stats st;
	store_get_stats(s, &st);
	assert_true(st.mem_bytes <= 1 * MiB);
	assert_true(st.mem_peak > 1 * MiB);
	assert_true(st.spilled_objects >= 56);
	assert_true(st.spilled_bytes >= 56 * 128 * KiB);
	assert_int_equal(st.disk_objects, st.spilled_objects);
	assert_int_equal(st.objects, 64);
	assert_int_equal(st.restored_objects, 0);

	/* the most recent one is in memory; the oldest is read back */
	value g = get_ok(s, 63);
	val_rele(g);
	store_get_stats(s, &st);
	assert_int_equal(st.restored_objects, 0);
	for (uint64_t id = 0; id < 64; id++) {
		g = get_ok(s, id);
		assert_true(tens_ok(g, n, id));
		val_rele(g);
	}
	store_get_stats(s, &st);
	assert_true(st.restored_objects >= 56);
	assert_true(st.restored_bytes >= 56 * 128 * KiB);
	assert_true(st.mem_bytes <= 1 * MiB);
	/* read back objects keep their record: evicting them again writes nothing */
	uint64_t spilled = st.spilled_objects;
	for (uint64_t id = 0; id < 64; id++) {
		g = get_ok(s, id);
		assert_true(tens_ok(g, n, id));
		val_rele(g);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.spilled_objects, spilled);
	assert_true(st.evicted_objects > spilled);
	store_close(s);
}

static void test_pinned_never_spilled(void **state)
{
	const size_t n = 128 * KiB / 8;
	store *s = open_store(1 * MiB, 0);
	char *err = NULL;
	for (uint64_t id = 0; id < 4; id++) {
		value t = tens(n, id);
		put_ok(s, id, t);
		val_rele(t);
		assert_int_equal(store_pin(s, id, &err), STORE_OK);
	}
	assert_int_equal(store_pin(s, 0, &err), STORE_OK); /* pins count */
	for (uint64_t id = 4; id < 64; id++) {
		value t = tens(n, id);
		put_ok(s, id, t);
		val_rele(t);
	}
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.pinned_objects, 4);
	assert_true(st.spilled_objects >= 50);
	for (uint64_t id = 0; id < 4; id++) {
		value g = get_ok(s, id);
		assert_true(tens_ok(g, n, id));
		val_rele(g);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.restored_objects, 0); /* all four were in memory */
	assert_true(st.mem_bytes >= 4 * 128 * KiB);

	/* unpinned, they can go */
	assert_int_equal(store_unpin(s, 0, &err), STORE_OK);
	assert_int_equal(store_unpin(s, 0, &err), STORE_OK);
	assert_int_equal(store_unpin(s, 0, &err), STORE_ERR);
	assert_non_null(strstr(err, "not pinned"));
	free(err);
	err = NULL;
	assert_int_equal(store_pin(s, 1000, &err), STORE_ERR);
	free(err);
	err = NULL;
	for (uint64_t id = 64; id < 80; id++) {
		value t = tens(n, id);
		put_ok(s, id, t);
		val_rele(t);
	}
	value g = get_ok(s, 0);
	assert_true(tens_ok(g, n, 0));
	val_rele(g);
	store_get_stats(s, &st);
	assert_int_equal(st.restored_objects, 1);
	assert_int_equal(st.pinned_objects, 3);
	store_close(s);
}

static void test_store_free(void **state)
{
	const size_t n = 64 * KiB / 8;
	store *s = open_store(256 * KiB, 0);
	for (uint64_t id = 0; id < 32; id++) {
		value t = tens(n, id);
		put_ok(s, id, t);
		val_rele(t);
	}
	store_stats st;
	store_get_stats(s, &st);
	assert_true(st.disk_objects >= 28);
	assert_true(st.disk_bytes >= 28 * 64 * KiB);
	uint64_t disk = st.disk_objects;
	char *err = NULL;
	assert_int_equal(store_free(s, 0, &err), STORE_OK); /* a spilled one */
	store_get_stats(s, &st);
	assert_int_equal(st.disk_objects, disk - 1);
	assert_false(store_has(s, 0));
	value g;
	assert_int_equal(store_get(s, 0, &g, &err), STORE_ERR);
	free(err);
	err = NULL;
	for (uint64_t id = 1; id < 32; id++)
		assert_int_equal(store_free(s, id, &err), STORE_OK);
	store_get_stats(s, &st);
	assert_int_equal(st.disk_objects, 0);
	assert_int_equal(st.disk_bytes, 0);
	assert_int_equal(st.objects, 0);
	assert_int_equal(st.mem_bytes, 0);
	assert_int_equal(st.mem_objects, 0);
	assert_int_equal(store_free(s, 5, &err), STORE_ERR);
	free(err);
	store_close(s);
}

static void test_bad_spill_dir(void **state)
{
	char base[] = "/tmp/flow-store-test-XXXXXX";
	assert_non_null(mkdtemp(base));
	char file[256], sub[300];
	snprintf(file, sizeof file, "%s/file", base);
	snprintf(sub, sizeof sub, "%s/sub/dir", file);
	int fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	/* root may write anywhere: a path under a regular file fails for all */
	store_opts o = {.memory_cap = MiB, .spill_dir = sub};
	char *err = NULL;
	store *s = store_open(&o, &err);
	assert_null(s);
	assert_non_null(err);
	assert_non_null(strstr(err, sub));
	assert_non_null(strstr(err, "Not a directory"));
	free(err);
	err = NULL;
	o.spill_dir = file; /* the file itself */
	assert_null(store_open(&o, &err));
	assert_non_null(strstr(err, file));
	free(err);
	err = NULL;
	/* a missing directory is created, and the private one removed at close */
	snprintf(sub, sizeof sub, "%s/a/b", base);
	o.spill_dir = sub;
	s = store_open(&o, &err);
	assert_non_null(s);
	char dir[400];
	snprintf(dir, sizeof dir, "%s", store_dir(s));
	assert_true(strncmp(dir, sub, strlen(sub)) == 0);
	struct stat sb;
	assert_int_equal(stat(dir, &sb), 0);
	store_close(s);
	assert_int_equal(stat(dir, &sb), -1);
	rmdir(sub);
	snprintf(sub, sizeof sub, "%s/a", base);
	rmdir(sub);
	unlink(file);
	assert_int_equal(rmdir(base), 0);
}

/* 4 MiB through a 1 MiB LMDB map: the spill fails, every object stays. */
static void test_map_full(void **state)
{
	const size_t n = 128 * KiB / 8;
	store *s = open_store(512 * KiB, 1 * MiB);
	int failures = 0;
	for (uint64_t id = 0; id < 32; id++) {
		value t = tens(n, id);
		char *err = NULL;
		int rc = store_put(s, id, t, &err);
		val_rele(t);
		if (rc == STORE_SPILL_FAILED) {
			failures++;
			assert_non_null(strstr(err, store_dir(s)));
			assert_non_null(strstr(err, "map is full"));
			free(err);
		} else {
			assert_int_equal(rc, STORE_OK);
		}
	}
	assert_true(failures > 0);
	store_stats st;
	store_get_stats(s, &st);
	assert_true(st.mem_bytes > 512 * KiB); /* over the cap rather than lossy */
	for (uint64_t id = 0; id < 32; id++) {
		char *err = NULL;
		value g;
		int rc = store_get(s, id, &g, &err);
		assert_true(rc == STORE_OK || rc == STORE_SPILL_FAILED);
		free(err);
		assert_true(tens_ok(g, n, id));
		val_rele(g);
	}
	/* freeing makes room again */
	for (uint64_t id = 0; id < 32; id++)
		assert_int_equal(store_free(s, id, NULL), STORE_OK);
	for (uint64_t id = 100; id < 104; id++) {
		value t = tens(n, id);
		put_ok(s, id, t);
		val_rele(t);
	}
	store_close(s);
}

/* Under an address-space limit (`ulimit -v`) the map starts at a quarter
 * of it, so that it fits, and doubles on MDB_MAP_FULL while it stays within
 * half of it: spilling more than the first map holds loses nothing and
 * fails no put. Run in a child (the limit is for good there); not under
 * ASan or TSan, whose shadow memory needs the address space. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
static int grow_child(void)
{
	long vm_pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%ld", &vm_pages) != 1)
		return 10;
	fclose(f);
	uint64_t vm = (uint64_t)vm_pages * (uint64_t)sysconf(_SC_PAGESIZE);
	/* the first map (limit/4) is vm + 64 MiB; grown once, limit/2, it
	 * still fits beside what the process has */
	struct rlimit lim;
	if (getrlimit(RLIMIT_AS, &lim) != 0)
		return 11;
	lim.rlim_cur = 4 * vm + 256 * MiB;
	if (setrlimit(RLIMIT_AS, &lim) != 0)
		return 12;
	uint64_t first_map = lim.rlim_cur / 4;
	store_opts o = {.memory_cap = 1 * MiB, .spill_dir = NULL, .map_size = 0};
	char *err = NULL;
	store *s = store_open(&o, &err);
	if (!s) {
		fprintf(stderr, "store_open: %s\n", err);
		return 13;
	}
	/* 128 KiB records go to LMDB itself (big.dat takes 256 KiB and up) */
	const size_t n = 128 * KiB / 8;
	uint64_t count = first_map / (128 * KiB) * 3 / 2;
	for (uint64_t id = 0; id < count; id++) {
		value t = tens(n, id);
		int rc = store_put(s, id, t, &err);
		val_rele(t);
		if (rc != STORE_OK) {
			fprintf(stderr, "put %llu of %llu (first map %llu MiB): %s\n", (unsigned long long)id,
			        (unsigned long long)count, (unsigned long long)(first_map / MiB), err ? err : "?");
			return 14;
		}
	}
	store_stats st;
	store_get_stats(s, &st);
	if (st.objects != count || st.mem_bytes > 2 * MiB)
		return 15; /* spilled, not kept in memory over the cap */
	for (uint64_t id = 0; id < count; id += 97) {
		value g;
		if (store_get(s, id, &g, &err) != STORE_OK || !tens_ok(g, n, id))
			return 16;
		val_rele(g);
	}
	store_close(s);
	return 0;
}
#endif

static void test_map_grows(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	skip();
#else
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(grow_child());
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
#endif
}

/* A write that fails as on a full disk (the file size limit: EFBIG, the
 * same pwrite path as ENOSPC): the spill fails clearly, nothing is lost. */
/* n doubles per object: 128 KiB ones go to LMDB, 512 KiB ones to big.dat */
static void write_failure(size_t n)
{
	store *s = open_store(256 * KiB, 0);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1 * MiB;
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int failures = 0, others = 0;
	char *first = NULL;
	for (uint64_t id = 0; id < 32; id++) {
		value t = tens(n, id);
		char *err = NULL;
		int rc = store_put(s, id, t, &err);
		val_rele(t);
		if (rc == STORE_SPILL_FAILED && failures++ == 0)
			first = err;
		else
			free(err);
		others += rc != STORE_OK && rc != STORE_SPILL_FAILED;
	}
	/* limits back before any assertion can leave this test */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(others, 0);
	assert_non_null(first);
	print_message("    (expected) %s\n", first);
	assert_non_null(strstr(first, store_dir(s)));
	/* LMDB reports a short write as EIO */
	assert_true(strstr(first, "File too large") || strstr(first, "Input/output error"));
	assert_non_null(strstr(first, "bytes free"));
	free(first);
	assert_true(failures > 0);
	for (uint64_t id = 0; id < 32; id++) {
		char *err = NULL;
		value g;
		int rc = store_get(s, id, &g, &err);
		if (rc == STORE_ERR)
			fail_msg("object %llu lost: %s", (unsigned long long)id, err);
		free(err);
		assert_true(tens_ok(g, n, id));
		val_rele(g);
	}
	store_close(s);
}

static void test_write_failure(void **state)
{
	(void)state;
	write_failure(128 * KiB / 8);
}

static void test_write_failure_big(void **state)
{
	(void)state;
	write_failure(512 * KiB / 8);
}

/* 2 MiB tensors and more are written with O_DIRECT (a short write, then
 * EFBIG at the limit): the same clear failure, nothing lost. */
static void test_write_failure_direct(void **state)
{
	(void)state;
	write_failure(2 * MiB / 8 + 1);
}

/* A value holding a future cannot be encoded: it stays in memory. */
static void test_unencodable(void **state)
{
	store *s = open_store(64 * KiB, 0);
	value l = list_new(2);
	list_append_take(l, v_obj(vobj_alloc(sizeof(vobj) + 16, V_FUTURE)));
	list_append_take(l, tens(64 * KiB / 8, 1));
	val_freeze(l);
	put_ok(s, 1, l);
	value t = tens(64 * KiB / 8, 2);
	put_ok(s, 2, t); /* pushes 1 out, if it could go */
	val_rele(t);
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.unspillable, 1);
	assert_int_equal(st.spilled_objects, 1); /* 2 went instead */
	value g = get_ok(s, 1);
	assert_ptr_equal(g.as.o, l.as.o);
	val_rele(g);
	val_rele(l);
	store_close(s);
}

/* A record damaged on disk is reported, not trusted. */
static void test_corrupt_record(void **state)
{
	store *s = open_store(0, 0); /* everything spills */
	size_t len = 64 * KiB;
	char *text = malloc(len);
	memset(text, 'q', len);
	memcpy(text, "MARKER-", 7);
	value str = str_new(text, len);
	val_freeze(str);
	put_ok(s, 7, str);
	val_rele(str);
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.mem_objects, 0);

	char path[512];
	snprintf(path, sizeof path, "%s/data.mdb", store_dir(s));
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	char *buf = malloc((size_t)sb.st_size);
	assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	char *m = memmem(buf, (size_t)sb.st_size, "MARKER-qqq", 10);
	assert_non_null(m);
	/* not UTF-8: the decoder must refuse it */
	assert_int_equal(pwrite(fd, "\xff", 1, (m - buf) + 100), 1);
	close(fd);
	free(buf);
	free(text);

	char *err = NULL;
	value g;
	assert_int_equal(store_get(s, 7, &g, &err), STORE_ERR);
	assert_non_null(strstr(err, "corrupt record"));
	assert_non_null(strstr(err, store_dir(s)));
	free(err);
	assert_true(store_has(s, 7)); /* still there, still failing clearly */
	assert_int_equal(store_free(s, 7, NULL), STORE_OK);
	store_close(s);
}

static void test_size_estimate(void **state)
{
	value t = tens(1000, 1);
	size_t et = val_size_estimate(t);
	assert_true(et >= 8000 && et < 8000 + 256);
	value shared = list_new(4), distinct = list_new(4);
	for (int i = 0; i < 4; i++) {
		list_append(shared, t);
		list_append_take(distinct, tens(1000, 1));
	}
	val_freeze(shared);
	val_freeze(distinct);
	size_t es = val_size_estimate(shared), ed = val_size_estimate(distinct);
	assert_true(es > et && es < et + 256);
	assert_true(ed >= 4 * et && ed < 4 * et + 256);
	/* x = [x, x] sixty times: 61 objects, 2^60 paths */
	value x = str_from_c("leaf");
	for (int i = 0; i < 60; i++) {
		value y = list_new(2);
		list_append(y, x);
		list_append(y, x);
		val_rele(x);
		x = y;
	}
	val_freeze(x);
	assert_true(val_size_estimate(x) < 61 * 256);
	value d = dict_new(2);
	verr e;
	value k = str_from_c("k");
	assert_int_equal(dict_set(d, k, t, &e), 0);
	val_rele(k);
	val_freeze(d);
	assert_true(val_size_estimate(d) > et);
	assert_int_equal(val_size_estimate(v_int(3)), 0);
	val_rele(d);
	val_rele(x);
	val_rele(shared);
	val_rele(distinct);
	val_rele(t);
}

static void test_parse_size(void **state)
{
	uint64_t v;
	assert_int_equal(size_parse("64MiB", &v), 0);
	assert_int_equal(v, 64ull << 20);
	assert_int_equal(size_parse("2GiB", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(size_parse("1GB", &v), 0);
	assert_int_equal(v, 1000000000ull);
	assert_int_equal(size_parse("512KiB", &v), 0);
	assert_int_equal(v, 512ull << 10);
	assert_int_equal(size_parse("1048576", &v), 0);
	assert_int_equal(v, 1048576ull);
	assert_int_equal(size_parse("8m", &v), 0);
	assert_int_equal(v, 8ull << 20);
	assert_int_equal(size_parse("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(size_parse("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	const char *bad[] = {"", "MiB", "12XB", "-5", " 5", "5 MiB", "1.5GiB", "18446744073709551616",
	                     "17179869184GiB", "99999999999999999999999", "64MiBx", NULL};
	for (int i = 0; bad[i]; i++)
		if (size_parse(bad[i], &v) == 0)
			fail_msg("size_parse accepted \"%s\"", bad[i]);
	assert_int_equal(size_parse(NULL, &v), -1);
	uint64_t def = store_default_memory();
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t ram = (uint64_t)pages * (uint64_t)psize;
	assert_true(def > ram / 4 && def <= ram / 10 * 3);
}

/* ---- threads ---------------------------------------------------------------- */

#define NTHREADS 4
#define NOPS 2000
#define TN 512 /* doubles per tensor: 4 KiB */

typedef struct {
	store *s;
	int tid;
	int errors;
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	uint64_t base = (uint64_t)w->tid << 32;
	uint64_t next = 0, lo = 0; /* live ids: base+lo .. base+next-1 */
	unsigned seed = (unsigned)w->tid * 7919u + 1;
	for (int op = 0; op < NOPS; op++) {
		int r = (int)(rand_r(&seed) % 10);
		char *err = NULL;
		if (r < 4 || next == lo) {
			value t = tens(TN, base + next);
			if (store_put(w->s, base + next, t, &err) != STORE_OK)
				w->errors++;
			val_rele(t);
			next++;
		} else if (r < 7) {
			uint64_t id = base + lo + (uint64_t)rand_r(&seed) % (next - lo);
			value g;
			if (store_get(w->s, id, &g, &err) != STORE_OK || !tens_ok(g, TN, id))
				w->errors++;
			else
				val_rele(g);
		} else if (r < 9) {
			uint64_t id = base + lo + (uint64_t)rand_r(&seed) % (next - lo);
			value g;
			if (store_pin(w->s, id, &err) != STORE_OK)
				w->errors++;
			if (store_get(w->s, id, &g, &err) != STORE_OK || !tens_ok(g, TN, id))
				w->errors++;
			else
				val_rele(g);
			if (store_unpin(w->s, id, &err) != STORE_OK)
				w->errors++;
		} else {
			if (store_free(w->s, base + lo, &err) != STORE_OK)
				w->errors++;
			lo++;
		}
		free(err);
	}
	/* leave exactly next-lo objects */
	return (void *)(uintptr_t)(next - lo);
}

static void test_threads(void **state)
{
	store *s = open_store(64 * KiB, 0);
	pthread_t th[NTHREADS];
	worker w[NTHREADS];
	val_threads_begin(); /* values cross threads from here (value.h) */
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (worker){s, i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	uint64_t live = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *r;
		pthread_join(th[i], &r);
		live += (uintptr_t)r;
		assert_int_equal(w[i].errors, 0);
	}
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.objects, live);
	assert_true(st.spilled_objects > 0 && st.restored_objects > 0);
	/* a thread's last get may have left its pinned object above the cap */
	assert_true(st.mem_bytes <= 64 * KiB + NTHREADS * (TN * 8 + 256));
	assert_int_equal(st.pinned_objects, 0);
	assert_int_equal(st.disk_objects + st.mem_objects >= live, 1);
	store_close(s);
}

/* Big records (encoded >= 256 KiB) live in big.dat beside LMDB: sizes on
 * both sides of the threshold and unaligned lengths read back byte for
 * byte, also after others are freed (their bytes punched out), twice,
 * and after a sync. */
static void test_big_records(void **state)
{
	(void)state;
	store *s = open_store(0, 0); /* everything spills */
	static const size_t sizes[] = {32760, 32768, 40001, 1 << 20, 7, 300001};
	enum { N = sizeof sizes / sizeof sizes[0] };
	for (size_t i = 0; i < N; i++) {
		value t = tens(sizes[i], i + 1);
		put_ok(s, i, t);
		val_rele(t);
	}
	size_t slen = 300 * 1024 + 13; /* a string: not a multiple of 8 or 4096 */
	char *text = malloc(slen);
	for (size_t i = 0; i < slen; i++)
		text[i] = (char)('a' + (i * 7) % 26);
	value str = str_new(text, slen);
	val_freeze(str);
	put_ok(s, 100, str);
	val_rele(str);
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.mem_objects, 0);
	assert_int_equal(st.disk_objects, N + 1);
	char path[512];
	snprintf(path, sizeof path, "%s/big.dat", store_dir(s));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true((uint64_t)sb.st_size > 8 * MiB); /* the big ones are there */
	assert_int_equal(store_sync(s, NULL), STORE_OK);
	/* free one big record between others: the rest are untouched */
	assert_int_equal(store_free(s, 3, NULL), STORE_OK);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < N; i++) {
			if (i == 3)
				continue;
			value g = get_ok(s, i);
			assert_true(tens_ok(g, sizes[i], i + 1));
			val_rele(g);
		}
		value g = get_ok(s, 100);
		assert_int_equal(g.t, V_STR);
		assert_int_equal(str_len(g), slen);
		assert_memory_equal(str_data(g), text, slen);
		val_rele(g);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.restored_objects, 2 * N); /* each read from disk both rounds */
	assert_int_equal(st.disk_objects, N);
	free(text);
	store_close(s);
	assert_int_equal(stat(path, &sb), -1); /* removed with the directory */
}

static bool direct_ok(const char *dir);

/* A big tensor's record in big.dat is byte for byte val_encode's
 * encoding (a 2-d shape with a dimension past one varint byte), placed so
 * that its elements start at a 4 KiB boundary (read straight into the
 * tensor with O_DIRECT), with nothing before it (a hole) or after it but
 * zeros to its last block's end when written with O_DIRECT (tensors of
 * 2 MiB and more, on huge pages, where the filesystem takes it), and
 * reads back: what a change to how big records are written must keep.
 * Returns the store, holding it as object 1, and the tensor in *out. */
static store *big_tensor_record(int64_t rows, int64_t cols, value *out)
{
	store *s = open_store(0, 0);
	value v;
	verr e;
	int64_t shape[2] = {rows, cols};
	size_t count = (size_t)(rows * cols);
	assert_int_equal(tensor_new(2, shape, &v, &e), 0);
	for (size_t i = 0; i < count; i++)
		tensor_of(v)->data[i] = (double)i * 0.5 - 7;
	val_freeze(v);
	sbuf want;
	sbuf_init(&want);
	assert_int_equal(val_encode(&want, v, &e), 0);
	put_ok(s, 1, v);
	assert_int_equal(store_sync(s, NULL), STORE_OK);
	store_stats st;
	store_get_stats(s, &st);
	bool direct = count * 8 >= 2 * MiB && direct_ok(store_dir(s));
	assert_int_equal(st.spilled_direct, direct ? 1 : 0);
	char path[512];
	snprintf(path, sizeof path, "%s/big.dat", store_dir(s));
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	int nd;
	int64_t sh[TENSOR_MAX_DIMS];
	uint64_t n;
	size_t head;
	assert_int_equal(val_decode_tensor_head(want.data, want.len, &nd, sh, &n, &head, &e), 0);
	assert_int_equal(head + n * 8, want.len);
	size_t at = 4096 - head, end = at + want.len; /* the elements at 4096 */
	size_t padded = direct ? (end + 4095) & ~(size_t)4095 : end;
	char *got = malloc(padded + 1);
	/* the only record: nothing after it (but a direct write's padding) */
	assert_int_equal(pread(fd, got, padded + 1, 0), (ssize_t)padded);
	close(fd);
	for (size_t i = 0; i < at; i++)
		assert_int_equal(got[i], 0);
	assert_memory_equal(got + at, want.data, want.len);
	for (size_t i = end; i < padded; i++)
		assert_int_equal(got[i], 0);
	value g = get_ok(s, 1);
	assert_int_equal(g.t, V_TENSOR);
	assert_int_equal(tensor_of(g)->ndim, 2);
	assert_int_equal(tensor_of(g)->shape[1], cols);
	assert_memory_equal(tensor_of(g)->data, tensor_of(v)->data, count * 8);
	val_rele(g);
	free(got);
	sbuf_fini(&want);
	*out = v;
	return s;
}

static void test_big_tensor_record(void **state)
{
	(void)state;
	value v;
	store *s = big_tensor_record(300, 257, &v); /* 616,800 bytes: buffered */
	val_rele(v);
	store_close(s);
}

/* 2,872,800 bytes (a last partial block): written with O_DIRECT; a
 * buffered record after it starts in a block of its own, and both read
 * back. */
static void test_big_tensor_record_direct(void **state)
{
	(void)state;
	value v;
	store *s = big_tensor_record(700, 513, &v);
	size_t slen = 300 * 1024;
	char *text = malloc(slen);
	memset(text, 'q', slen);
	value str = str_new(text, slen);
	free(text);
	val_freeze(str);
	put_ok(s, 2, str);
	val_rele(str);
	value g = get_ok(s, 1);
	assert_memory_equal(tensor_of(g)->data, tensor_of(v)->data, 700 * 513 * 8);
	val_rele(g);
	g = get_ok(s, 2);
	assert_int_equal(str_len(g), slen);
	assert_int_equal(str_data(g)[slen - 1], 'q');
	val_rele(g);
	val_rele(v);
	store_close(s);
}

/* A big record damaged in big.dat, or big.dat cut short, is an error that
 * names the object, not a crash or a wrong value. */
static void test_corrupt_big_record(void **state)
{
	(void)state;
	store *s = open_store(0, 0);
	size_t len = 512 * KiB;
	char *text = malloc(len);
	memset(text, 'q', len);
	memcpy(text, "MARKER-", 7);
	value str = str_new(text, len);
	val_freeze(str);
	put_ok(s, 7, str);
	put_ok(s, 8, str);
	val_rele(str);
	free(text);
	assert_int_equal(store_sync(s, NULL), STORE_OK);
	char path[512];
	snprintf(path, sizeof path, "%s/big.dat", store_dir(s));
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	char head[64];
	assert_int_equal(pread(fd, head, sizeof head, 0), (ssize_t)sizeof head);
	char *m = memmem(head, sizeof head, "MARKER-qqq", 10);
	assert_non_null(m);
	/* not UTF-8: the decoder must refuse it */
	assert_int_equal(pwrite(fd, "\xff", 1, (m - head) + 100), 1);
	char *err = NULL;
	value g;
	assert_int_equal(store_get(s, 7, &g, &err), STORE_ERR);
	assert_non_null(strstr(err, "corrupt record"));
	assert_non_null(strstr(err, store_dir(s)));
	free(err);
	err = NULL;
	/* cut short: object 8's bytes are gone */
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	assert_int_equal(store_get(s, 8, &g, &err), STORE_ERR);
	assert_non_null(strstr(err, "object 8"));
	free(err);
	assert_true(store_has(s, 7));
	assert_int_equal(store_free(s, 7, NULL), STORE_OK);
	assert_int_equal(store_free(s, 8, NULL), STORE_OK);
	store_close(s);
}

/* Is O_DIRECT open on files in dir (not on tmpfs before Linux 6.6)? */
static bool direct_ok(const char *dir)
{
	char path[512];
	snprintf(path, sizeof path, "%s/direct-probe", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (fd >= 0)
		close(fd);
	unlink(path);
	return fd >= 0;
}

/* Big tensors of several shapes: elements a whole number of 4 KiB blocks
 * or not (a last partial block), 2-d, 2 MiB and more (huge-page mapped),
 * beside a big string (the other layout), read back byte for byte; also
 * after a neighbour is freed (its bytes punched out: the head of the
 * next one shares its last block) and in a second round. With O_DIRECT
 * (where the filesystem takes it) every tensor goes straight into its
 * buffer; under FLOW_TEST_STORE_NO_DIRECT (a filesystem refusing
 * O_DIRECT) through buffered reads, none. */
static void big_tensors_round_trip(bool direct)
{
	if (!direct)
		setenv("FLOW_TEST_STORE_NO_DIRECT", "1", 1);
	store *s = open_store(0, 0); /* everything spills */
	static const size_t sizes[] = {1 << 17, 300001, 40001, 1 << 18, 32768, 600000};
	enum { N = sizeof sizes / sizeof sizes[0] };
	for (size_t i = 0; i < N; i++) {
		value t = tens(sizes[i], i + 1);
		put_ok(s, i, t);
		val_rele(t);
		if (i == 2) {
			value m;
			verr e;
			int64_t shape[3] = {3, 70, 700}; /* 1.1 MiB, 3 dims */
			assert_int_equal(tensor_new(3, shape, &m, &e), 0);
			for (size_t k = 0; k < 3 * 70 * 700; k++)
				tensor_of(m)->data[k] = (double)k - 0.25;
			val_freeze(m);
			put_ok(s, 50, m);
			val_rele(m);
			size_t slen = 300 * 1024 + 13;
			char *text = malloc(slen);
			memset(text, 'z', slen);
			value str = str_new(text, slen);
			free(text);
			val_freeze(str);
			put_ok(s, 100, str);
			val_rele(str);
		}
	}
	if (!direct)
		unsetenv("FLOW_TEST_STORE_NO_DIRECT");
	assert_int_equal(store_sync(s, NULL), STORE_OK);
	assert_int_equal(store_free(s, 3, NULL), STORE_OK); /* 4's head is in 3's last block */
	store_stats st;
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < N; i++) {
			if (i == 3)
				continue;
			value g = get_ok(s, i);
			assert_true(tens_ok(g, sizes[i], i + 1));
			assert_int_equal(tensor_of(g)->ndim, 1);
			val_rele(g);
		}
		value g = get_ok(s, 50);
		assert_int_equal(tensor_of(g)->ndim, 3);
		assert_int_equal(tensor_of(g)->shape[2], 700);
		for (size_t k = 0; k < 3 * 70 * 700; k++)
			assert_true(tensor_of(g)->data[k] == (double)k - 0.25);
		val_rele(g);
		g = get_ok(s, 100);
		assert_int_equal(g.t, V_STR);
		assert_int_equal(str_len(g), 300 * 1024 + 13);
		assert_int_equal(str_data(g)[300 * 1024 + 12], 'z');
		val_rele(g);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.restored_objects, 2 * (N - 1 + 2));
	uint64_t want = direct && direct_ok(store_dir(s)) ? 2 * N : 0; /* the tensors, not the string */
	assert_int_equal(st.restored_direct, want);
	/* written with O_DIRECT: the three of 2 MiB and more (300001, 1 << 18
	 * and 600000 elements), not the 1 MiB ones nor the string */
	assert_int_equal(st.spilled_direct, direct && direct_ok(store_dir(s)) ? 3 : 0);
	store_close(s);
}

static void test_big_tensors_direct(void **state)
{
	(void)state;
	big_tensors_round_trip(true);
}

static void test_big_tensors_no_direct(void **state)
{
	(void)state;
	big_tensors_round_trip(false);
}

/* A big tensor's record damaged in big.dat (its head: a dimension
 * changed), or big.dat cut short inside the elements, or inside the last
 * partial block, is an error naming the object, never a crash or a
 * wrong value; with O_DIRECT reads and without. */
static void corrupt_big_tensor(bool direct)
{
	if (!direct)
		setenv("FLOW_TEST_STORE_NO_DIRECT", "1", 1);
	store *s = open_store(0, 0);
	if (!direct)
		unsetenv("FLOW_TEST_STORE_NO_DIRECT");
	size_t n = 40001; /* 320,008 bytes: the last block partial */
	for (uint64_t id = 1; id <= 3; id++) {
		value t = tens(n, id);
		put_ok(s, id, t);
		val_rele(t);
	}
	assert_int_equal(store_sync(s, NULL), STORE_OK);
	char path[512];
	snprintf(path, sizeof path, "%s/big.dat", store_dir(s));
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	/* object 1: its head ends at 4096 (the first block boundary):
	 * version, tag, ndim 1, 40001 as a varint (3 bytes) */
	unsigned char head[6];
	assert_int_equal(pread(fd, head, 6, 4096 - 6), 6);
	assert_int_equal(head[0], ENC_VERSION);
	assert_int_equal(head[1], ENC_TENSOR);
	assert_int_equal(head[2], 1);
	assert_int_equal(pwrite(fd, "\x42", 1, 4096 - 2), 1); /* another shape */
	char *err = NULL;
	value g;
	assert_int_equal(store_get(s, 1, &g, &err), STORE_ERR);
	print_message("    (expected) %s\n", err);
	assert_non_null(strstr(err, "object 1: corrupt record"));
	assert_non_null(strstr(err, store_dir(s)));
	free(err);
	err = NULL;
	/* object 2 intact; object 3's last block cut short, then its elements */
	g = get_ok(s, 2);
	assert_true(tens_ok(g, n, 2));
	val_rele(g);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(ftruncate(fd, sb.st_size - 5), 0);
	assert_int_equal(store_get(s, 3, &g, &err), STORE_ERR);
	print_message("    (expected) %s\n", err);
	assert_non_null(strstr(err, "object 3"));
	assert_non_null(strstr(err, "big.dat is short"));
	free(err);
	err = NULL;
	assert_int_equal(ftruncate(fd, sb.st_size - 200000), 0);
	assert_int_equal(store_get(s, 3, &g, &err), STORE_ERR);
	assert_non_null(strstr(err, "big.dat is short"));
	free(err);
	close(fd);
	assert_true(store_has(s, 3));
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.objects, 3); /* nothing dropped: each one still freeable */
	for (uint64_t id = 1; id <= 3; id++)
		assert_int_equal(store_free(s, id, NULL), STORE_OK);
	store_close(s);
}

static void test_corrupt_big_tensor(void **state)
{
	(void)state;
	corrupt_big_tensor(true);
}

static void test_corrupt_big_tensor_no_direct(void **state)
{
	(void)state;
	corrupt_big_tensor(false);
}

/* ---- read-ahead of big tensor records (executor/store_readahead.h) ---- */

/* The tensors of the read-ahead tests: 256 KiB of elements (whole blocks:
 * records follow each other in big.dat and are read in one request), and
 * every fourth one 40001 doubles (a last partial block, whose head block
 * the next record shares: read apart). */
static size_t ra_n(uint64_t id)
{
	return id % 4 == 3 ? 40001 : 32768;
}

#define RA_CAP (16 * MiB) /* read-ahead holds at most cap/8: 2 MiB */

/* A store of cap RA_CAP with n big tensors 0..n-1 put in order (spilled
 * in that order: big.dat holds them by id), synced. */
static store *ra_store(uint64_t n, bool uniform)
{
	store *s = open_store(RA_CAP, 0);
	for (uint64_t id = 0; id < n; id++) {
		value t = tens(uniform ? 32768 : ra_n(id), id);
		put_ok(s, id, t);
		val_rele(t);
	}
	assert_int_equal(store_sync(s, NULL), STORE_OK);
	return s;
}

/* Restores in the order written are served from read-ahead (all but the
 * first two, which make the pattern), and are right; the bytes read
 * ahead stay within cap/8 after every call. Without O_DIRECT
 * (FLOW_TEST_STORE_NO_DIRECT) read-ahead is off, and restores still right. */
static void readahead_sequential(bool direct)
{
	enum { N = 100 }; /* 25 MiB through 16 */
	if (!direct)
		setenv("FLOW_TEST_STORE_NO_DIRECT", "1", 1);
	store *s = ra_store(N, false);
	if (!direct)
		unsetenv("FLOW_TEST_STORE_NO_DIRECT");
	store_stats st;
	uint64_t most = 0;
	for (uint64_t id = 0; id < N; id++) {
		value g = get_ok(s, id);
		assert_true(tens_ok(g, ra_n(id), id));
		val_rele(g);
		store_get_stats(s, &st);
		assert_true(st.ahead_bytes <= RA_CAP / 8);
		if (st.ahead_bytes > most)
			most = st.ahead_bytes;
		assert_true(st.mem_bytes <= RA_CAP);
	}
	store_get_stats(s, &st);
	print_message("    restored %llu, of which read ahead %llu; at most %llu bytes ahead\n",
	              (unsigned long long)st.restored_objects, (unsigned long long)st.restored_ahead,
	              (unsigned long long)most);
	assert_true(st.restored_objects >= N - RA_CAP / (256 * KiB));
	if (direct && direct_ok(store_dir(s))) {
		assert_true(st.restored_ahead >= st.restored_objects - 2);
		assert_true(most > 0);
	} else {
		assert_int_equal(st.restored_ahead, 0);
		assert_int_equal(most, 0);
	}
	assert_true(st.restored_direct >= st.restored_ahead);
	store_close(s);
}

/* Read-ahead is off unless FLOW_STORE_READAHEAD=1 (main turns it on for
 * every other test): the same sequential restores read nothing ahead. */
static void test_readahead_off_by_default(void **state)
{
	(void)state;
	enum { N = 100 };
	unsetenv("FLOW_STORE_READAHEAD");
	store *s = ra_store(N, false);
	setenv("FLOW_STORE_READAHEAD", "1", 1);
	for (uint64_t id = 0; id < N; id++) {
		value g = get_ok(s, id);
		assert_true(tens_ok(g, ra_n(id), id));
		val_rele(g);
	}
	store_stats st;
	store_get_stats(s, &st);
	assert_true(st.restored_objects >= N - RA_CAP / (256 * KiB));
	assert_int_equal(st.restored_ahead, 0);
	store_close(s);
}

static void test_readahead_sequential(void **state)
{
	(void)state;
	readahead_sequential(true);
}

static void test_readahead_no_direct(void **state)
{
	(void)state;
	readahead_sequential(false);
}

/* Tensors bigger than the read-ahead bound (cap/8 = 2 MiB here), up to
 * twice it, are read ahead one at a time; bigger ones are not. */
static void test_readahead_big_records(void **state)
{
	(void)state;
	enum { N = 24 };
	static const size_t sizes[] = {3 * MiB / 8, 5 * MiB / 8}; /* within 2x the bound, past it */
	for (int k = 0; k < 2; k++) {
		store *s = open_store(RA_CAP, 0);
		for (uint64_t id = 0; id < N; id++) {
			value t = tens(sizes[k], id);
			put_ok(s, id, t);
			val_rele(t);
		}
		assert_int_equal(store_sync(s, NULL), STORE_OK);
		store_stats st;
		for (uint64_t id = 0; id < N; id++) {
			value g = get_ok(s, id);
			assert_true(tens_ok(g, sizes[k], id));
			val_rele(g);
			store_get_stats(s, &st);
			assert_true(st.ahead_bytes <= 2 * (RA_CAP / 8));
		}
		store_get_stats(s, &st);
		print_message("    %llu MiB tensors: restored %llu, of which read ahead %llu\n", (unsigned long long)(sizes[k] * 8 / MiB),
		              (unsigned long long)st.restored_objects, (unsigned long long)st.restored_ahead);
		if (k == 0 && direct_ok(store_dir(s)))
			assert_true(st.restored_ahead >= st.restored_objects / 2);
		if (k == 1)
			assert_int_equal(st.restored_ahead, 0);
		store_close(s);
	}
}

/* Restores in a random order are right and read ahead little: a pair in
 * file order now and then starts a window, which the next jump closes. */
static void test_readahead_random(void **state)
{
	(void)state;
	enum { N = 100 };
	store *s = ra_store(N, false);
	uint64_t order[N];
	for (uint64_t i = 0; i < N; i++)
		order[i] = i;
	uint64_t x = 12345;
	for (uint64_t i = N - 1; i > 0; i--) { /* Fisher-Yates, a fixed LCG */
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t j = (x >> 33) % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint64_t i = 0; i < N; i++) {
		value g = get_ok(s, order[i]);
		assert_true(tens_ok(g, ra_n(order[i]), order[i]));
		val_rele(g);
	}
	store_stats st;
	store_get_stats(s, &st);
	print_message("    restored %llu in a random order, of which read ahead %llu\n",
	              (unsigned long long)st.restored_objects, (unsigned long long)st.restored_ahead);
	assert_true(st.restored_ahead <= st.restored_objects / 10);
	store_close(s);
}

/* An object freed while its read-ahead is queued or in flight is gone
 * (not found), one freed and put again under the same id (spilled again,
 * to a new record) reads back its new value, and the others are right. */
static void test_readahead_free_respill(void **state)
{
	(void)state;
	enum { N = 100 };
	store *s = ra_store(N, false);
	for (uint64_t id = 0; id < 3; id++) { /* read ahead from here: 3, 4, ... */
		value g = get_ok(s, id);
		val_rele(g);
	}
	assert_int_equal(store_free(s, 4, NULL), STORE_OK);
	assert_int_equal(store_free(s, 5, NULL), STORE_OK);
	value t = tens(ra_n(5), 1005);
	put_ok(s, 5, t);
	val_rele(t);
	for (uint64_t id = 1000; id < 1000 + 70; id++) { /* 17.5 MiB: 5 is spilled again */
		t = tens(32768, id);
		put_ok(s, id, t);
		val_rele(t);
	}
	store_stats st;
	store_get_stats(s, &st);
	uint64_t before = st.restored_ahead;
	char *err = NULL;
	value g;
	for (uint64_t id = 3; id < N; id++) {
		if (id == 4) {
			assert_int_equal(store_get(s, 4, &g, &err), STORE_ERR);
			assert_non_null(strstr(err, "no object 4"));
			free(err);
			err = NULL;
			continue;
		}
		g = get_ok(s, id);
		assert_true(tens_ok(g, ra_n(id), id == 5 ? 1005 : id));
		val_rele(g);
	}
	store_get_stats(s, &st);
	if (direct_ok(store_dir(s)))
		assert_true(st.restored_ahead > before);
	store_close(s);
}

/* A damaged record (its head in big.dat: the size changed) reached
 * through read-ahead is still an error naming the object; the ones
 * before and after it read back right, read ahead, and it stays in the
 * store. */
static void test_readahead_corrupt(void **state)
{
	(void)state;
	enum { N = 100, BAD = 10 };
	store *s = ra_store(N, true);
	/* uniform 256 KiB records: record i's elements start at 4096 + i *
	 * (256 KiB + 4096); its head (6 bytes) ends there */
	char path[512];
	snprintf(path, sizeof path, "%s/big.dat", store_dir(s));
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	off_t at = (off_t)(4096 + BAD * (256 * KiB + 4096));
	unsigned char head[6];
	assert_int_equal(pread(fd, head, 6, at - 6), 6);
	assert_int_equal(head[0], ENC_VERSION);
	assert_int_equal(head[1], ENC_TENSOR);
	assert_int_equal(pwrite(fd, "\x03", 1, at - 1), 1); /* 32768 -> 49152 elements */
	close(fd);
	char *err = NULL;
	value g;
	for (uint64_t id = 0; id < N; id++) {
		if (id == BAD) {
			store_stats st;
			store_get_stats(s, &st);
			if (direct_ok(store_dir(s)))
				assert_true(st.ahead_bytes > 0); /* BAD is in the window */
			assert_int_equal(store_get(s, id, &g, &err), STORE_ERR);
			print_message("    (expected) %s\n", err);
			assert_non_null(strstr(err, "object 10: corrupt record"));
			assert_non_null(strstr(err, store_dir(s)));
			free(err);
			err = NULL;
			continue;
		}
		g = get_ok(s, id);
		assert_true(tens_ok(g, 32768, id));
		val_rele(g);
	}
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.objects, N);
	assert_true(store_has(s, BAD));
	if (direct_ok(store_dir(s)))
		assert_true(st.restored_ahead >= N - RA_CAP / (256 * KiB) - 4);
	assert_int_equal(store_free(s, BAD, NULL), STORE_OK);
	store_close(s);
}

/* store_close right after read-ahead started (reads queued or in
 * flight): nothing leaks or races (ASan, TSan builds), and an object
 * freed first is dropped from read-ahead. */
static void test_readahead_close(void **state)
{
	(void)state;
	for (int round = 0; round < 3; round++) {
		store *s = ra_store(90, round == 2);
		for (uint64_t id = 0; id < 3 + (uint64_t)round; id++) {
			value g = get_ok(s, id);
			val_rele(g);
		}
		if (round == 1)
			assert_int_equal(store_free(s, 5, NULL), STORE_OK);
		store_close(s);
	}
}

/* Two threads restoring the same objects in order at once (each get is
 * served from read-ahead, from memory, or read again): every value right
 * (and no race under the TSan build). */
typedef struct ra_arg {
	store *s;
	uint64_t n;
	int bad;
} ra_arg;

static void *ra_reader(void *p)
{
	ra_arg *a = p;
	for (uint64_t id = 0; id < a->n; id++) {
		value g;
		if (store_get(a->s, id, &g, NULL) != STORE_OK) {
			a->bad++;
			continue;
		}
		if (!tens_ok(g, ra_n(id), id))
			a->bad++;
		val_rele(g);
	}
	return NULL;
}

static void test_readahead_threads(void **state)
{
	(void)state;
	store *s = ra_store(100, false);
	ra_arg a[2] = {{s, 100, 0}, {s, 100, 0}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, ra_reader, &a[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(a[0].bad + a[1].bad, 0);
	store_stats st;
	store_get_stats(s, &st);
	assert_true(st.ahead_bytes <= RA_CAP / 8);
	store_close(s);
}

/* big.dat cut short inside a record read ahead: the read-ahead request
 * covering it fails, and no value is made of it. The objects before it
 * (in the same failed request, read again) are right, it and the ones
 * after it in the file are "big.dat is short" errors naming each, and
 * none is dropped. (Every object is written once first, so that reading
 * back writes nothing: a write past the cut would fill it with a hole.) */
static void test_readahead_short_file(void **state)
{
	(void)state;
	enum { N = 100, CUT = 20 };
	store *s = ra_store(N, true);
	for (uint64_t id = 0; id < N; id++) {
		value g = get_ok(s, id);
		val_rele(g);
	}
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.spilled_objects, N);
	uint64_t in_mem = st.mem_objects; /* the last ones, N - in_mem.. (some spilled again below) */
	char path[512];
	snprintf(path, sizeof path, "%s/big.dat", store_dir(s));
	assert_int_equal(truncate(path, (off_t)(4096 + CUT * (256 * KiB + 4096) + 1000)), 0);
	char *err = NULL;
	value g;
	for (uint64_t id = 0; id < N; id++) {
		int rc = store_get(s, id, &g, &err);
		if (rc == STORE_OK) {
			/* never a value made of a short read: the objects from CUT
			 * on in big.dat that are not in memory are cut */
			if (id >= CUT && id < N - in_mem)
				fail_msg("object %llu read back from a cut big.dat", (unsigned long long)id);
			assert_true(tens_ok(g, 32768, id));
			val_rele(g);
			continue;
		}
		if (id < CUT) /* in one failed request with the cut one: read again */
			fail_msg("object %llu: %s", (unsigned long long)id, err);
		char want[64];
		snprintf(want, sizeof want, "object %llu: big.dat is short", (unsigned long long)id);
		assert_non_null(strstr(err, want));
		free(err);
		err = NULL;
	}
	store_get_stats(s, &st);
	assert_int_equal(st.objects, N);
	assert_true(store_has(s, CUT));
	store_close(s);
}

int main(void)
{
	setenv("FLOW_STORE_READAHEAD", "1", 1); /* off by default; its tests want it */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_lru_spill),
		cmocka_unit_test(test_pinned_never_spilled),
		cmocka_unit_test(test_store_free),
		cmocka_unit_test(test_bad_spill_dir),
		cmocka_unit_test(test_map_full),
		cmocka_unit_test(test_map_grows),
		cmocka_unit_test(test_write_failure),
		cmocka_unit_test(test_write_failure_big),
		cmocka_unit_test(test_write_failure_direct),
		cmocka_unit_test(test_unencodable),
		cmocka_unit_test(test_corrupt_record),
		cmocka_unit_test(test_big_records),
		cmocka_unit_test(test_big_tensor_record),
		cmocka_unit_test(test_big_tensor_record_direct),
		cmocka_unit_test(test_corrupt_big_record),
		cmocka_unit_test(test_big_tensors_direct),
		cmocka_unit_test(test_big_tensors_no_direct),
		cmocka_unit_test(test_corrupt_big_tensor),
		cmocka_unit_test(test_corrupt_big_tensor_no_direct),
		cmocka_unit_test(test_size_estimate),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_readahead_off_by_default),
		cmocka_unit_test(test_readahead_sequential),
		cmocka_unit_test(test_readahead_no_direct),
		cmocka_unit_test(test_readahead_big_records),
		cmocka_unit_test(test_readahead_random),
		cmocka_unit_test(test_readahead_free_respill),
		cmocka_unit_test(test_readahead_corrupt),
		cmocka_unit_test(test_readahead_close),
		cmocka_unit_test(test_readahead_threads),
		cmocka_unit_test(test_readahead_short_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
