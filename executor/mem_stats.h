/* mem_stats.h - this process's memory split into anonymous memory and
 * mapped file pages (Linux /proc/self/status: RssAnon, RssFile), for
 * --stats (issue 14: the object store's cap must mean what users think,
 * so the report says which kind of memory a peak was).
 *
 * Linux keeps a high-water mark for the total only (VmHWM, getrusage's
 * ru_maxrss), so the peaks of each kind are sampled: mem_sample is called
 * where memory moves and it is cheap to look (the object store's spills
 * and read-backs, the executor's driver tick) and reads the file at most
 * once per MEM_SAMPLE_MS; a peak between two samples can be missed, so the
 * figures are lower bounds of the true peaks.
 *
 * Nothing is sampled until mem_watch_enable (cmd_run: --stats or
 * --stats-json), so runs without them pay one relaxed load per call.
 *
 * Threads: every function may be called from any thread (atomics, no
 * lock). Memory: nothing allocated; the file is opened and closed per
 * read. */
#ifndef FLOW_MEM_STATS_H
#define FLOW_MEM_STATS_H

#include <stdbool.h>
#include <stdint.h>

#define MEM_SAMPLE_MS 5

typedef struct mem_now {
	uint64_t rss_kib;  /* VmRSS: resident now */
	uint64_t anon_kib; /* RssAnon: heap, stacks, anonymous maps */
	uint64_t file_kib; /* RssFile: mapped files (LMDB's map, the program, its libraries) */
} mem_now;

/* Reads /proc/self/status. false if it cannot be read or lacks the fields
 * (not Linux, or a kernel before 4.5). */
bool mem_read(mem_now *m);

/* Starts sampling (idempotent). */
void mem_watch_enable(void);
/* Samples if enabled and MEM_SAMPLE_MS have passed since the last sample. */
void mem_sample(void);
/* Takes a sample now (if enabled) and gives the highest anon_kib and
 * file_kib seen (rss_kib: the highest VmRSS sampled). false if nothing
 * could be sampled. */
bool mem_peaks(mem_now *peak);

#endif
