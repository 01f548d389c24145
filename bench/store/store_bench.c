/* store_bench.c: spill throughput of the object store (executor/store.h).
 * Puts TOTAL bytes of tensors (OBJ bytes each) through a store capped at
 * CAP, syncs LMDB, then gets every tensor back in order (each read from
 * LMDB, cold: the file's pages are dropped from the page cache first;
 * evicting it again writes nothing: its record is kept) and checks
 * its contents. Prints one line:
 *   store write_MBps=W read_MBps=R write_cpu=S read_cpu=S instore_MBps=I make_s=M sync_s=Y
 *         spilled=B direct=N restored=B ahead=N peak=B
 * (write_MBps: the whole put loop, making the tensors included; instore_MBps:
 * the same bytes over the time spent inside store_put and the final
 * store_sync; make_s: making and dropping the same tensors without the
 * store, before the timed loop; sync_s: the final store_sync;
 * write_cpu, read_cpu: CPU seconds, user + system, of each phase;
 * direct: tensors written with O_DIRECT; ahead: objects read back from
 * the store's read-ahead)
 * Usage: store_bench TOTAL CAP OBJ [SPILL_DIR]   (sizes as size_parse) */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "executor/size.h"
#include "executor/store.h"

/* user + system CPU seconds of this process so far */
static double cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec * 1e-6;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	uint64_t total, cap, obj;
	if (argc < 4 || size_parse(argv[1], &total) || size_parse(argv[2], &cap) ||
	    size_parse(argv[3], &obj) || obj < 8) {
		fprintf(stderr, "usage: store_bench TOTAL CAP OBJ [SPILL_DIR]\n");
		return 2;
	}
	store_opts o = {.memory_cap = cap, .spill_dir = argc > 4 ? argv[4] : NULL};
	char *err = NULL;
	store *s = store_open(&o, &err);
	if (!s) {
		fprintf(stderr, "store_bench: %s\n", err);
		return 1;
	}
	uint64_t n = total / obj;
	int64_t shape[1] = {(int64_t)(obj / 8)};
	/* the producer alone: making and dropping the same tensors, no store
	 * (dd's source, /dev/zero, costs next to nothing; this does not) */
	double m0 = now();
	for (uint64_t id = 0; id < n; id++) {
		value v;
		verr e;
		if (tensor_new(1, shape, &v, &e) != 0) {
			fprintf(stderr, "store_bench: %s\n", e.msg);
			return 1;
		}
		tensor_of(v)->data[0] = (double)id;
		val_rele(v);
	}
	double make_s = now() - m0, in_store = 0;
	double t0 = now(), c0 = cpu();
	for (uint64_t id = 0; id < n; id++) {
		value v;
		verr e;
		if (tensor_new(1, shape, &v, &e) != 0) {
			fprintf(stderr, "store_bench: %s\n", e.msg);
			return 1;
		}
		tensor_of(v)->data[0] = (double)id;
		tensor_of(v)->data[shape[0] - 1] = (double)id;
		val_freeze(v);
		double p0 = now();
		int rc = store_put(s, id, v, &err);
		in_store += now() - p0;
		val_rele(v);
		if (rc != STORE_OK) {
			fprintf(stderr, "store_bench: %s\n", err);
			return 1;
		}
	}
	double y0 = now();
	if (store_sync(s, &err) != STORE_OK) {
		fprintf(stderr, "store_bench: %s\n", err);
		return 1;
	}
	double t1 = now(), c1 = cpu();
	double sync_s = t1 - y0;
	in_store += sync_s;
	/* read back cold, as dd iflag=direct does: drop the file's (clean,
	 * synced) pages from the page cache */
	static const char *const files[] = {"data.mdb", "big.dat"}; /* big records: store.c */
	for (int f = 0; f < 2; f++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", store_dir(s), files[f]);
		int fd = open(path, O_RDONLY);
		if (fd >= 0) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	t1 = now();
	double c2 = cpu();
	for (uint64_t id = 0; id < n; id++) {
		value v;
		if (store_get(s, id, &v, &err) != STORE_OK) {
			fprintf(stderr, "store_bench: %s\n", err);
			return 1;
		}
		if (tensor_of(v)->data[0] != (double)id || tensor_of(v)->data[shape[0] - 1] != (double)id) {
			fprintf(stderr, "store_bench: object %llu read back wrong\n", (unsigned long long)id);
			return 1;
		}
		val_rele(v);
	}
	double t2 = now(), c3 = cpu();
	store_stats st;
	store_get_stats(s, &st);
	double mb = (double)(n * obj) / 1e6;
	printf("store write_MBps=%.0f read_MBps=%.0f write_cpu=%.2fs read_cpu=%.2fs instore_MBps=%.0f "
	       "make_s=%.3f sync_s=%.3f spilled=%llu direct=%llu restored=%llu ahead=%llu peak=%llu\n",
	       mb / (t1 - t0), mb / (t2 - t1), c1 - c0, c3 - c2, mb / in_store, make_s, sync_s, (unsigned long long)st.spilled_bytes, (unsigned long long)st.spilled_direct,
	       (unsigned long long)st.restored_bytes, (unsigned long long)st.restored_ahead, (unsigned long long)st.mem_peak);
	store_close(s);
	return 0;
}
