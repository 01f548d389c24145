/* readahead_ab.c: the spill store's read back with read-ahead on and off,
 * paired tightly in one process (bench/README.md, the spill store's sixth
 * pass). Spills TOTAL of OBJ-byte tensors through two stores capped at
 * CAP, one opened with FLOW_STORE_READAHEAD=1 (read-ahead, off by
 * default: executor/store_readahead.h), one without; then, ROUNDS times, for each store in turn (which
 * goes first alternates): reads it back in order (its files dropped from
 * the page cache first, every value checked), then reads its own big.dat
 * with O_DIRECT in 1 MiB and in 8 MiB requests (dd iflag=direct bs=1M,
 * bs=8M: the same bytes, in the same state of the disk's and the host's
 * caches). Prints one line a round:
 *   round N off_MBps=A off_dd1M=B off_dd8M=C on_MBps=D on_dd1M=E on_dd8M=F off_cpu=S on_cpu=S ahead=K
 * (ahead: objects of that round the store with read-ahead took from it)
 * Usage: store_readahead_ab TOTAL CAP OBJ ROUNDS [DIR]   (sizes as size_parse) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "executor/size.h"
#include "executor/store.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec * 1e-6;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "store_readahead_ab: %s: %s\n", what, msg);
	exit(1);
}

static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* Reads every object of s back in order, checking each; seconds, CPU in *c. */
static double read_back(store *s, uint64_t n, int64_t len, double *c)
{
	char path[4096];
	static const char *const files[] = {"data.mdb", "big.dat"};
	for (int f = 0; f < 2; f++) {
		snprintf(path, sizeof path, "%s/%s", store_dir(s), files[f]);
		drop_cache(path);
	}
	double t0 = now(), c0 = cpu();
	for (uint64_t id = 0; id < n; id++) {
		value v;
		char *err = NULL;
		if (store_get(s, id, &v, &err) != STORE_OK)
			die("store_get", err);
		if (tensor_of(v)->data[0] != (double)id || tensor_of(v)->data[len - 1] != (double)id)
			die("read back", "a wrong value");
		val_rele(v);
	}
	*c = cpu() - c0;
	return now() - t0;
}

/* dd iflag=direct bs=BS of the whole file; MB/s. */
static double dd_direct(const char *path, size_t bs, char *buf)
{
	drop_cache(path);
	int fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		die(path, "cannot open with O_DIRECT");
	double t0 = now();
	off_t pos = 0;
	ssize_t r;
	while ((r = pread(fd, buf, bs, pos)) > 0)
		pos += r;
	double t = now() - t0;
	close(fd);
	return (double)pos / 1e6 / t;
}

int main(int argc, char **argv)
{
	uint64_t total, cap, obj;
	if (argc < 5 || size_parse(argv[1], &total) || size_parse(argv[2], &cap) || size_parse(argv[3], &obj) ||
	    obj < 8 || atoi(argv[4]) < 1) {
		fprintf(stderr, "usage: store_readahead_ab TOTAL CAP OBJ ROUNDS [DIR]\n");
		return 2;
	}
	int rounds = atoi(argv[4]);
	const char *dir = argc > 5 ? argv[5] : "/tmp";
	uint64_t n = total / obj;
	int64_t shape[1] = {(int64_t)(obj / 8)};
	store *st[2]; /* 0: read-ahead off, 1: on */
	for (int k = 0; k < 2; k++) {
		if (k == 1)
			setenv("FLOW_STORE_READAHEAD", "1", 1);
		store_opts o = {.memory_cap = cap, .spill_dir = dir};
		char *err = NULL;
		if (!(st[k] = store_open(&o, &err)))
			die("store_open", err);
		unsetenv("FLOW_STORE_READAHEAD");
		for (uint64_t id = 0; id < n; id++) {
			value v;
			verr e;
			if (tensor_new(1, shape, &v, &e) != 0)
				die("tensor_new", e.msg);
			tensor_of(v)->data[0] = tensor_of(v)->data[shape[0] - 1] = (double)id;
			val_freeze(v);
			if (store_put(st[k], id, v, &err) != STORE_OK)
				die("store_put", err);
			val_rele(v);
		}
		if (store_sync(st[k], &err) != STORE_OK)
			die("store_sync", err);
	}
	char *buf;
	if (posix_memalign((void **)&buf, 4096, 8 << 20) != 0)
		return 1;
	double mb = (double)(n * obj) / 1e6;
	for (int r = 1; r <= rounds; r++) {
		double t[2][3], c[2] = {0, 0}; /* MB/s: the store's, dd bs=1M's, bs=8M's */
		store_stats s0, s1;
		store_get_stats(st[1], &s0);
		for (int j = 0; j < 2; j++) {
			int k = (j + r) % 2; /* which goes first alternates */
			char path[4096];
			snprintf(path, sizeof path, "%s/big.dat", store_dir(st[k]));
			t[k][0] = mb / read_back(st[k], n, shape[0], &c[k]);
			t[k][1] = dd_direct(path, 1 << 20, buf);
			t[k][2] = dd_direct(path, 8 << 20, buf);
		}
		store_get_stats(st[1], &s1);
		printf("round %d off_MBps=%.0f off_dd1M=%.0f off_dd8M=%.0f on_MBps=%.0f on_dd1M=%.0f on_dd8M=%.0f "
		       "off_cpu=%.2f on_cpu=%.2f ahead=%llu\n",
		       r, t[0][0], t[0][1], t[0][2], t[1][0], t[1][1], t[1][2], c[0], c[1],
		       (unsigned long long)(s1.restored_ahead - s0.restored_ahead));
		fflush(stdout);
	}
	free(buf);
	store_close(st[0]);
	store_close(st[1]);
	return 0;
}
