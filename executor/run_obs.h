/* run_obs.h - watching a run ("observability"), shared by both executors:
 * per node its outcome, start and end time and the thread that ran it;
 * from those a Chrome trace (--trace), the DAG coloured by outcome
 * (--dot-out), the end-of-run figures (--stats) and the progress line on
 * a terminal.
 *
 * The executors call small hooks: obs_run_begin, obs_node_begin/end
 * around each task_run_node, obs_tick on the driver thread, obs_run_end
 * before their summary. Every hook accepts o == NULL (nothing watched).
 *
 * Threads: a node's slots are written only by the thread that runs it
 * and read after the run (the executor's join is the happens-before);
 * the counters the progress line reads while the run goes on are atomic.
 * Memory: four arrays sized by the DAG, allocated once in obs_new.
 *
 * Ownership: the caller (cli/main.c) owns the run_obs; it borrows the
 * dag, which must outlive it. */
#ifndef FLOW_RUN_OBS_H
#define FLOW_RUN_OBS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler/dag.h"
#include "compiler/dot.h"
#include "executor/task_run.h"

typedef enum obs_outcome {
	OBS_NOT_RUN = 0, /* never started (the run stopped first) */
	OBS_DONE,
	OBS_FAILED,      /* the node itself failed (a task error, a driver error) */
	OBS_SKIPPED,     /* an input had failed */
	OBS_CACHED,      /* a task call answered by the cache (cache.h: --resume) */
	OBS__OUTCOMES
} obs_outcome;

/* A nested task call (task_run.h) that ran: recorded when it ends. */
typedef struct obs_job {
	const char *name;      /* the task's (the program owns it) */
	span where;            /* the call in its caller */
	uint16_t tid;
	bool failed;
	bool cached;           /* its result came from the cache */
	bool from_driver;      /* made by the staged driver (drawn by --dot-out) */
	bool stream;           /* a stream's producer, first step to end */
	uint64_t start, end;   /* CLOCK_MONOTONIC ns */
	uint32_t rnode;        /* the cluster node that ran it (0: here) */
	uint16_t rtid;         /* its thread there */
} obs_job;

/* A cluster node some call ran on (flow run --address), for --trace
 * lanes and --stats. */
#define OBS_MAX_NODES 64
typedef struct obs_node_name {
	uint32_t id;           /* its node id: the trace's pid */
	uint16_t threads;      /* the highest thread number seen on it */
	uint64_t calls, busy_ns; /* calls it ran for this run, their time */
	char name[96];         /* "node 2 (host2)" */
} obs_node_name;

typedef struct run_obs {
	const dag *g;
	uint8_t *outcome;      /* per node: obs_outcome */
	uint16_t *tid;         /* per node: 0 = the driver thread, j = worker j */
	uint64_t *start, *end; /* per node: CLOCK_MONOTONIC ns (0: not run, or not timed) */
	bool timed;            /* obs_time_nodes: start/end are read (two clock reads a node) */
	uint64_t t0, t1;       /* the run's start and end */
	int nworkers;          /* worker threads (0: serial) */
	uint32_t nfailed;      /* atomic: failed nodes */
	uint64_t nretries;     /* atomic */
	/* the progress line counts task calls: the DAG's task and method
	 * nodes (ntask_nodes, known ahead) and nested calls as they end */
	uint32_t ntask_nodes;
	/* atomic: task/method nodes (running: started - ended; two atomic
	 * adds a call, none for the driver's own nodes) */
	uint32_t tasks_started, tasks_ended, tasks_failed;
	uint64_t nested_ended, nested_failed;              /* atomic */
	FILE *progress;        /* where the progress line is drawn, or NULL */
	uint64_t last_draw;    /* driver thread only */
	/* under progress's stream lock (flockfile): the driver thread draws,
	 * any thread's task print (obs_task_stream) clears and redraws */
	bool drawn;            /* a progress line is on the screen */
	bool ever_drawn;       /* one was drawn: the run ends with a summary */
	bool ended;            /* obs_run_end: no more redraws */
	char line[160];        /* the text last drawn */
	pthread_mutex_t jmu;   /* guards the nested calls' records, and rnodes */
	obs_job *jobs;
	size_t njobs, capjobs;
	/* flow run --address: per DAG node, the cluster node and its thread
	 * that ran it (0: here; then start/end are that node's times as this
	 * clock estimates them); the nodes seen */
	uint32_t *rnode;
	uint16_t *rtid;
	obs_node_name rnodes[OBS_MAX_NODES];
	int nrnodes;
} run_obs;

/* What obs_node_begin saw of the host, to attribute what the node did. */
typedef struct obs_mark {
	int nfailed, nskipped, ndriver, nretries, ncached;
} obs_mark;

/* A new observer of g's run. progress: the stream for the progress line
 * (the caller checks isatty and --quiet), or NULL for none. */
run_obs *obs_new(const dag *g, FILE *progress);
/* Time each node's start and end: for what draws them (--trace, --dot-out)
 * and for a cluster client (its nodes' busy time in --stats). Off, a node
 * costs no clock read (two are a sixth of a driver round trip here). */
void obs_time_nodes(run_obs *o);
void obs_free(run_obs *o);
uint64_t obs_now_ns(void);

/* ---- hooks for the executors --------------------------------------------- */
void obs_run_begin(run_obs *o, int nworkers);
void obs_node_begin(run_obs *o, const task_host *h, uint32_t v, int tid, obs_mark *m);
void obs_node_end(run_obs *o, const task_host *h, uint32_t v, const obs_mark *m);
/* Nested call j ran on thread tid from `start` (obs_now_ns) until now. */
void obs_job_done(run_obs *o, const nested_job *j, int tid, uint64_t start, bool failed);
/* task_host.call_ran (o is the run_obs, may be NULL): a call the staged
 * driver made that ran inline, or a stream's producer. */
void obs_call_ran(void *o, const bc_proto *task, span where, int tid, uint64_t start,
                  bool from_driver, bool stream, bool failed);
/* A call this thread sent to the cluster came back (client.c): node
 * ran it ("node 2 (host2)") on its thread `thread` (1, 2, ...) from
 * start_us to end_us after receiving it; sent and got are this clock's
 * times (obs_now_ns) around the call. Its time on this clock is
 * estimated by centring the node's interval in [sent, got] (clocks of
 * other machines are not compared). The next hook on this thread that
 * records a call (obs_node_end, obs_job_done, obs_call_ran) that began
 * before `sent` draws it on that node's lane. */
void obs_remote_ran(const char *node, uint32_t thread, uint64_t sent, uint64_t got,
                    uint64_t start_us, uint64_t end_us);
/* ... and a nested call it made spilled to node `node` and ran there on
 * its thread `thread`, from start_us to end_us after the call above
 * started (its caller's node's estimate: docs/wire.md, "Nested calls
 * that spill"); fn is the plan's task index, where its call site. Drawn
 * on that node's lane with the call above (at most OBS_MAX_SPILLED per
 * call; the rest are not drawn). */
#define OBS_MAX_SPILLED 64
void obs_remote_nested(const char *node, uint32_t thread, int fn, span where, uint64_t start_us,
                       uint64_t end_us, bool failed);
/* Redraws the progress line if ~100 ms passed since the last time. */
void obs_tick(run_obs *o);
/* The run is over: notes the end time; a progress line that was shown
 * is replaced by a one-line summary ("flow: 500 tasks in 3.2 s, 2
 * failed, 156 tasks/s"). */
void obs_run_end(run_obs *o);

/* The stream prints should go to, instead of base, while o draws a
 * progress line: task prints and failures (base: stderr, the progress
 * stream), and the driver's prints when stdout is the same terminal.
 * Each write first clears the line, then draws it again after a whole
 * line, so a print never lands glued to the progress text. Without a
 * progress line: base itself. Close it with obs_task_stream_close
 * (flushes; base stays open). */
FILE *obs_task_stream(run_obs *o, FILE *base);
void obs_task_stream_close(FILE *f, FILE *base);

/* ---- after the run ------------------------------------------------------- */
typedef struct obs_counts {
	uint32_t nodes, tasks;   /* DAG nodes; of them task nodes */
	uint32_t by_outcome[OBS__OUTCOMES]; /* indexed by obs_outcome, all kinds */
	uint32_t tasks_run;      /* task nodes that ran (done or failed; not cached) */
	uint64_t nested_run;     /* nested calls that ran (done or failed; not cached) */
	uint64_t nested_cached;  /* nested calls answered by the cache */
	uint64_t driver_calls;   /* of them, the staged driver's own calls */
	uint64_t retries;
} obs_counts;
void obs_count(const run_obs *o, obs_counts *c);

/* Chrome trace event JSON: one "X" event per node and per nested call
 * that ran, one lane per thread. With calls run on a cluster: one
 * process per cluster node (pid = its id, named "node 2 (host2)"), one
 * lane per thread of it, and this process (the client) as pid 0.
 * Returns 0, or -1 if writing failed. */
int obs_write_trace(const run_obs *o, FILE *out);
/* The DAG as DOT (compiler/dot.c) coloured by outcome, with run times,
 * and the calls the staged driver made at run time (dashed, one node per
 * task and call site, from the "driver continues" node).
 * base gives rankdir/full (may be NULL). Returns dag_write_dot's result. */
int obs_write_dot(const run_obs *o, const dot_opts *base, FILE *out);

/* Phase times for --stats, in ns. */
typedef struct obs_phases {
	uint64_t load, lower, run;
} obs_phases;
/* The --stats block. */
void obs_print_stats(const run_obs *o, const obs_phases *ph, FILE *out);

/* The --stats figures as one JSON object, without a newline: the "run"
 * member of `flow run --stats-json` (docs/cli.md). wall_ns: the whole
 * command's time so far. "nested_tasks" is null under --serial (nested
 * calls run inline, uncounted). */
void obs_write_stats_json(const run_obs *o, const obs_phases *ph, uint64_t wall_ns, FILE *out);

/* The progress line's text (no \r, no newline), counting task calls:
 * "[done/total] P% running N, failed F, R tasks/s, elapsed T s, ETA E s"
 * (ETA from the rate so far; "ETA ?" before the first call ends).
 * Returns the length snprintf would. */
int obs_progress_format(char *buf, size_t n, uint32_t done, uint32_t total, uint32_t running,
                        uint32_t failed, double elapsed_s);

/* The colour --dot-out gives an outcome. */
const char *obs_outcome_colour(obs_outcome oc);

#endif
