/* mem_stats.c - sampled peaks of anonymous and mapped-file memory
 * (mem_stats.h). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor/mem_stats.h"
#include "executor/run_obs.h" /* obs_now_ns: the clock --stats times with */

static bool enabled;
static uint64_t last_ns; /* when the last sample was claimed */
static uint64_t peak_rss, peak_anon, peak_file; /* KiB; 0: never sampled */

/* The number after "Name:" on its line of buf, in kB; false if absent. */
static bool field(const char *buf, const char *name, uint64_t *out)
{
	size_t n = strlen(name);
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			char *end;
			unsigned long long v = strtoull(p + n + 1, &end, 10);
			if (end == p + n + 1)
				return false;
			*out = v;
			return true;
		}
	}
	return false;
}

bool mem_read(mem_now *m)
{
	/* read(2), not stdio: no allocation, callable under the store's lock */
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[4096];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	return field(buf, "VmRSS", &m->rss_kib) && field(buf, "RssAnon", &m->anon_kib) &&
	       field(buf, "RssFile", &m->file_kib);
}

static void raise_to(uint64_t *peak, uint64_t v)
{
	uint64_t old = __atomic_load_n(peak, __ATOMIC_RELAXED);
	while (v > old && !__atomic_compare_exchange_n(peak, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void sample_now(void)
{
	mem_now m;
	if (!mem_read(&m))
		return;
	raise_to(&peak_rss, m.rss_kib);
	raise_to(&peak_anon, m.anon_kib);
	raise_to(&peak_file, m.file_kib);
}

void mem_watch_enable(void)
{
	__atomic_store_n(&enabled, true, __ATOMIC_RELAXED);
	sample_now();
}

void mem_sample(void)
{
	if (!__atomic_load_n(&enabled, __ATOMIC_RELAXED))
		return;
	uint64_t t = obs_now_ns(), last = __atomic_load_n(&last_ns, __ATOMIC_RELAXED);
	if (t - last < MEM_SAMPLE_MS * 1000000ull)
		return;
	/* one thread claims this period's sample; the others go on */
	if (!__atomic_compare_exchange_n(&last_ns, &last, t, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	sample_now();
}

bool mem_peaks(mem_now *peak)
{
	if (__atomic_load_n(&enabled, __ATOMIC_RELAXED))
		sample_now();
	peak->rss_kib = __atomic_load_n(&peak_rss, __ATOMIC_RELAXED);
	peak->anon_kib = __atomic_load_n(&peak_anon, __ATOMIC_RELAXED);
	peak->file_kib = __atomic_load_n(&peak_file, __ATOMIC_RELAXED);
	return peak->rss_kib > 0;
}
