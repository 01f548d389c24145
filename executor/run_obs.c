/* run_obs.c - watching a run (see run_obs.h): per-node outcome and times,
 * the Chrome trace, the DOT coloured by outcome, --stats and the
 * progress line. Only the hooks run during the run; everything else
 * reads the arrays afterwards. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "executor/mem_stats.h"
#include "executor/mono_clock.h"
#include "executor/run_obs.h"
#include "lang/diag.h"

#define PROGRESS_EVERY_NS 100000000ull /* at most ~10 redraws a second */

static const char *const kind_names[DAG__KINDS] = {"task", "actor", "method", "expression",
                                                   "effect", "put", "driver"};

uint64_t obs_now_ns(void) { return mono_now_ns(); }

/* A node the progress line counts: a task or method call. */
static bool is_call(const dag *g, uint32_t v)
{
	return g->nodes[v].kind == DAG_TASK || g->nodes[v].kind == DAG_METHOD;
}

run_obs *obs_new(const dag *g, FILE *progress)
{
	run_obs *o = calloc(1, sizeof *o);
	size_t n = g->n ? g->n : 1;
	if (!o)
		abort();
	o->g = g;
	o->outcome = calloc(n, sizeof *o->outcome);
	o->tid = calloc(n, sizeof *o->tid);
	o->start = calloc(n, sizeof *o->start);
	o->end = calloc(n, sizeof *o->end);
	o->rnode = calloc(n, sizeof *o->rnode);
	o->rtid = calloc(n, sizeof *o->rtid);
	if (!o->outcome || !o->tid || !o->start || !o->end || !o->rnode || !o->rtid)
		abort();
	o->progress = progress;
	for (uint32_t v = 0; v < g->n; v++)
		o->ntask_nodes += is_call(g, v);
	pthread_mutex_init(&o->jmu, NULL);
	return o;
}

void obs_time_nodes(run_obs *o)
{
	if (o)
		o->timed = true;
}

void obs_free(run_obs *o)
{
	if (!o)
		return;
	free(o->outcome);
	free(o->tid);
	free(o->start);
	free(o->end);
	free(o->rnode);
	free(o->rtid);
	free(o->jobs);
	pthread_mutex_destroy(&o->jmu);
	free(o);
}

static void add_job(run_obs *o, const obs_job *rec);

/* The last remote call this thread made (obs_remote_ran), until a hook
 * takes it. */
struct spilled_ran {
	int fn;
	span where;
	uint32_t node;
	uint16_t thread;
	bool failed;
	uint64_t start, end; /* ns after the call's start there */
	char name[96];
};
static _Thread_local struct remote_ran {
	bool set;
	uint32_t node;
	uint16_t thread;
	uint64_t sent, start, end;
	char name[96];
} last_remote;
/* ... and its nested calls that spilled to other nodes (obs_remote_nested) */
static _Thread_local int nspilled;
static _Thread_local struct spilled_ran spilled[OBS_MAX_SPILLED];

void obs_remote_ran(const char *node, uint32_t thread, uint64_t sent, uint64_t got,
                    uint64_t start_us, uint64_t end_us)
{
	struct remote_ran *r = &last_remote;
	unsigned id = 0;
	if (!node || sscanf(node, "node %u", &id) != 1 || id == 0 || end_us < start_us)
		return;
	uint64_t span = got > sent ? got - sent : 0, busy = end_us * 1000u;
	/* when the node received it, on this clock: its time there centred
	 * in the round trip (the rest being the two ways) */
	uint64_t recv = sent + (span > busy ? (span - busy) / 2 : 0);
	r->set = true;
	nspilled = 0;
	r->node = id;
	r->thread = (uint16_t)(thread < 65535 ? thread : 65535);
	r->sent = sent;
	r->start = recv + start_us * 1000u;
	r->end = recv + end_us * 1000u;
	snprintf(r->name, sizeof r->name, "%s", node);
}

void obs_remote_nested(const char *node, uint32_t thread, int fn, span where, uint64_t start_us,
                       uint64_t end_us, bool failed)
{
	struct remote_ran *r = &last_remote;
	unsigned id = 0;
	if (!r->set || !node || sscanf(node, "node %u", &id) != 1 || id == 0 || end_us < start_us ||
	    nspilled >= OBS_MAX_SPILLED || thread == 0)
		return;
	struct spilled_ran *x = &spilled[nspilled++];
	x->fn = fn;
	x->where = where;
	x->node = id;
	x->thread = (uint16_t)(thread < 65535 ? thread : 65535);
	x->failed = failed;
	x->start = start_us * 1000u;
	x->end = end_us * 1000u;
	snprintf(x->name, sizeof x->name, "%s", node);
}

/* Node id (named name) ran a call on its thread `thread` for busy_ns:
 * noted for its lane and --stats. (o->jmu) */
static void note_rnode(run_obs *o, uint32_t id, const char *name, uint16_t thread, uint64_t busy_ns)
{
	int i = 0;
	while (i < o->nrnodes && o->rnodes[i].id != id)
		i++;
	if (i == o->nrnodes && i < OBS_MAX_NODES) {
		o->nrnodes++;
		memset(&o->rnodes[i], 0, sizeof o->rnodes[i]);
		o->rnodes[i].id = id;
		snprintf(o->rnodes[i].name, sizeof o->rnodes[i].name, "%s", name);
	}
	if (i < OBS_MAX_NODES) {
		if (thread > o->rnodes[i].threads)
			o->rnodes[i].threads = thread;
		o->rnodes[i].calls++;
		o->rnodes[i].busy_ns += busy_ns;
	}
}

/* Takes this thread's last remote call if it was sent after `since`
 * (it belongs to the call being recorded): its node noted in o->rnodes
 * (under o->jmu). */
static bool take_remote(run_obs *o, uint64_t since, struct remote_ran *out)
{
	if (!last_remote.set || last_remote.sent < since)
		return false;
	*out = last_remote;
	last_remote.set = false;
	pthread_mutex_lock(&o->jmu);
	note_rnode(o, out->node, out->name, out->thread, out->end - out->start);
	/* its spilled nested calls: events on the lanes of the nodes that ran
	 * them, placed from the call's start there */
	const bc_program *prog = o->g->prog;
	for (int k = 0; k < nspilled; k++) {
		const struct spilled_ran *x = &spilled[k];
		if (!prog || x->fn < 0 || x->fn >= prog->nprotos)
			continue;
		note_rnode(o, x->node, x->name, x->thread, x->end - x->start);
		obs_job rec = { prog->protos[x->fn]->name, x->where, 0, x->failed, false, false, false,
		                out->start + x->start, out->start + x->end, x->node, x->thread };
		pthread_mutex_unlock(&o->jmu);
		add_job(o, &rec);
		pthread_mutex_lock(&o->jmu);
	}
	nspilled = 0;
	pthread_mutex_unlock(&o->jmu);
	return true;
}

/* A call's record, on its cluster node's lane if it ran on one. */
static void place_job(run_obs *o, obs_job *rec)
{
	struct remote_ran r;
	if (take_remote(o, rec->start, &r)) {
		rec->rnode = r.node;
		rec->rtid = r.thread;
		rec->start = r.start;
		rec->end = r.end;
	}
}

void obs_job_done(run_obs *o, const nested_job *j, int tid, uint64_t start, bool failed)
{
	if (!o)
		return;
	obs_job rec = { j->task->name, j->where, (uint16_t)tid, failed, j->cached, j->from_driver, false,
	                start, obs_now_ns(), 0, 0 };
	place_job(o, &rec);
	__atomic_add_fetch(&o->nested_ended, 1, __ATOMIC_RELAXED);
	if (failed)
		__atomic_add_fetch(&o->nested_failed, 1, __ATOMIC_RELAXED);
	add_job(o, &rec);
}

void obs_call_ran(void *ctx, const bc_proto *task, span where, int tid, uint64_t start,
                  bool from_driver, bool stream, bool failed)
{
	run_obs *o = ctx;
	if (!o)
		return;
	obs_job rec = { task->name, where, (uint16_t)tid, failed, false, from_driver, stream, start,
	                obs_now_ns(), 0, 0 };
	place_job(o, &rec);
	add_job(o, &rec);
}

static void add_job(run_obs *o, const obs_job *rec)
{
	pthread_mutex_lock(&o->jmu);
	if (o->njobs == o->capjobs) {
		o->capjobs = o->capjobs ? o->capjobs * 2 : 64;
		obs_job *p = realloc(o->jobs, sizeof *p * o->capjobs);
		if (!p)
			abort();
		o->jobs = p;
	}
	o->jobs[o->njobs++] = *rec;
	pthread_mutex_unlock(&o->jmu);
}

/* ---- hooks ------------------------------------------------------------------ */

/* Takes the progress line off the screen (the stream's lock held). */
static void erase_locked(run_obs *o)
{
	if (!o->drawn)
		return;
	fputs("\r\x1b[K", o->progress);
	fflush(o->progress);
	o->drawn = false;
}

static void erase(run_obs *o)
{
	flockfile(o->progress);
	erase_locked(o);
	funlockfile(o->progress);
}

void obs_run_begin(run_obs *o, int nworkers)
{
	if (!o)
		return;
	o->nworkers = nworkers;
	o->t0 = o->last_draw = obs_now_ns();
}

void obs_node_begin(run_obs *o, const task_host *h, uint32_t v, int tid, obs_mark *m)
{
	if (!o)
		return;
	m->nfailed = h->nfailed;
	m->nskipped = h->nskipped;
	m->ndriver = h->ndriver;
	m->nretries = h->nretries;
	m->ncached = h->ncached;
	/* a driver effect may print: take the progress line off the screen
	 * first (it is redrawn at the next tick) */
	if (tid == 0 && o->progress &&
	    (o->g->nodes[v].kind == DAG_EFFECT || o->g->nodes[v].kind == DAG_CONT))
		erase(o);
	o->tid[v] = (uint16_t)tid;
	if (is_call(o->g, v))
		__atomic_add_fetch(&o->tasks_started, 1, __ATOMIC_RELAXED);
	if (o->timed)
		o->start[v] = obs_now_ns();
}

/* What node v came to, from its result and what the host counted while
 * it ran: a failed result is the node's own failure if it reported one
 * (a task or driver error), else a skip (a failed input, a broken actor). */
static obs_outcome outcome_of(const dag *g, const task_host *h, uint32_t v, const obs_mark *m)
{
	bool own = h->nfailed > m->nfailed || h->ndriver > m->ndriver;
	value f = g->fut[v];
	if (f.t == V_FUTURE) {
		const vfuture *vf = (const vfuture *)f.as.o;
		if (vf->state == FUT_DONE)
			return h->ncached > m->ncached ? OBS_CACHED : OBS_DONE;
		if (vf->state != FUT_FAILED)
			return OBS_FAILED; /* the run could not go on (task_run_node: -1) */
		return own ? OBS_FAILED : OBS_SKIPPED;
	}
	/* an actor handle: its init failed, or it was skipped */
	if (own)
		return OBS_FAILED;
	return h->nskipped > m->nskipped ? OBS_SKIPPED : OBS_DONE;
}

void obs_node_end(run_obs *o, const task_host *h, uint32_t v, const obs_mark *m)
{
	if (!o)
		return;
	struct remote_ran r;
	if (o->timed)
		o->end[v] = obs_now_ns();
	if (o->timed && take_remote(o, o->start[v], &r)) { /* it ran on a cluster node */
		o->rnode[v] = r.node;
		o->rtid[v] = r.thread;
		o->start[v] = r.start;
		o->end[v] = r.end;
	}
	obs_outcome oc = outcome_of(o->g, h, v, m);
	o->outcome[v] = (uint8_t)oc;
	if (h->nretries > m->nretries)
		__atomic_add_fetch(&o->nretries, (uint64_t)(h->nretries - m->nretries), __ATOMIC_RELAXED);
	if (oc == OBS_FAILED)
		__atomic_add_fetch(&o->nfailed, 1, __ATOMIC_RELAXED);
	if (is_call(o->g, v)) {
		if (oc == OBS_FAILED)
			__atomic_add_fetch(&o->tasks_failed, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&o->tasks_ended, 1, __ATOMIC_RELAXED);
	}
}

int obs_progress_format(char *buf, size_t n, uint32_t done, uint32_t total, uint32_t running,
                        uint32_t failed, double elapsed_s)
{
	double rate = elapsed_s > 0 ? done / elapsed_s : 0;
	unsigned pct = total ? (unsigned)((uint64_t)done * 100 / total) : 100;
	char eta[32];
	if (done >= total)
		snprintf(eta, sizeof eta, "0 s");
	else if (done == 0 || !(elapsed_s > 0))
		snprintf(eta, sizeof eta, "?");
	else
		snprintf(eta, sizeof eta, "%.0f s", elapsed_s * (double)(total - done) / done);
	return snprintf(buf, n, "[%u/%u] %u%% running %u, failed %u, %.0f tasks/s, elapsed %.1f s, "
	                "ETA %s", done, total, pct, running, failed, rate, elapsed_s, eta);
}

/* The counts the line shows: task calls, the DAG's and the nested ones
 * that have ended (the total grows as nested calls are made). */
static void progress_counts(const run_obs *o, uint32_t *done, uint32_t *total, uint32_t *running,
                            uint32_t *failed)
{
	uint64_t nested = __atomic_load_n(&o->nested_ended, __ATOMIC_RELAXED);
	uint32_t ended = __atomic_load_n(&o->tasks_ended, __ATOMIC_RELAXED);
	uint32_t started = __atomic_load_n(&o->tasks_started, __ATOMIC_RELAXED); /* after: >= ended */
	*done = ended + (uint32_t)nested;
	*total = o->ntask_nodes + (uint32_t)nested;
	*running = started > ended ? started - ended : 0;
	*failed = __atomic_load_n(&o->tasks_failed, __ATOMIC_RELAXED) +
	          (uint32_t)__atomic_load_n(&o->nested_failed, __ATOMIC_RELAXED);
}

static void draw(run_obs *o, uint64_t now)
{
	uint32_t done, total, running, failed;
	progress_counts(o, &done, &total, &running, &failed);
	/* \r and "clear to end of line": the line is redrawn in place */
	flockfile(o->progress);
	obs_progress_format(o->line, sizeof o->line, done, total, running, failed, (now - o->t0) / 1e9);
	fprintf(o->progress, "\r%s\x1b[K", o->line);
	fflush(o->progress);
	o->drawn = o->ever_drawn = true;
	funlockfile(o->progress);
	o->last_draw = now;
}

void obs_tick(run_obs *o)
{
	mem_sample(); /* --stats: at most every MEM_SAMPLE_MS, and only when asked for */
	if (!o || !o->progress)
		return;
	uint64_t now = obs_now_ns();
	if (now - o->last_draw >= PROGRESS_EVERY_NS)
		draw(o, now);
}

void obs_run_end(run_obs *o)
{
	if (!o)
		return;
	o->t1 = obs_now_ns();
	if (!o->progress)
		return;
	flockfile(o->progress);
	erase_locked(o);
	o->ended = true;
	if (o->ever_drawn) {
		/* what the line showed last, as a line that stays */
		uint32_t done, total, running, failed;
		progress_counts(o, &done, &total, &running, &failed);
		double s = (o->t1 - o->t0) / 1e9;
		fprintf(o->progress, "flow: %u task%s in %.1f s, %u failed, %.0f tasks/s\n", done,
		        done == 1 ? "" : "s", s, failed, s > 0 ? done / s : 0);
		fflush(o->progress);
	}
	funlockfile(o->progress);
}

/* ---- task prints beside the progress line ------------------------------------- */

typedef struct task_stream {
	run_obs *o;
	FILE *base;
} task_stream;

static ssize_t task_stream_write(void *c, const char *buf, size_t n)
{
	task_stream *ts = c;
	run_obs *o = ts->o;
	/* the progress stream's lock orders this against draws and other
	 * prints, whichever stream (stderr, or stdout on the same terminal) */
	flockfile(o->progress);
	erase_locked(o);
	size_t w = fwrite(buf, 1, n, ts->base);
	fflush(ts->base);
	/* after a whole line, the progress line again (as it was) */
	if (n > 0 && buf[n - 1] == '\n' && o->ever_drawn && !o->ended) {
		fprintf(o->progress, "\r%s\x1b[K", o->line);
		fflush(o->progress);
		o->drawn = true;
	}
	funlockfile(o->progress);
	return w == n ? (ssize_t)n : -1;
}

static int task_stream_close(void *c)
{
	free(c);
	return 0;
}

FILE *obs_task_stream(run_obs *o, FILE *base)
{
	if (!o || !o->progress)
		return base;
	task_stream *ts = malloc(sizeof *ts);
	if (!ts)
		abort();
	*ts = (task_stream){o, base};
	cookie_io_functions_t io = {.write = task_stream_write, .close = task_stream_close};
	FILE *f = fopencookie(ts, "w", io);
	if (!f) {
		free(ts);
		return base;
	}
	/* a print arrives as one write per line (the prefix, the text, its
	 * newline together) */
	setvbuf(f, NULL, _IOLBF, 4096);
	return f;
}

void obs_task_stream_close(FILE *f, FILE *base)
{
	if (f && f != base)
		fclose(f);
}

/* ---- counts and --stats -------------------------------------------------------- */

void obs_count(const run_obs *o, obs_counts *c)
{
	memset(c, 0, sizeof *c);
	const dag *g = o->g;
	c->nodes = g->n;
	for (uint32_t v = 0; v < g->n; v++) {
		obs_outcome oc = (obs_outcome)o->outcome[v];
		c->by_outcome[oc]++;
		if (g->nodes[v].kind == DAG_TASK) {
			c->tasks++;
			if (oc == OBS_DONE || oc == OBS_FAILED)
				c->tasks_run++;
		}
	}
	c->retries = o->nretries;
	for (size_t k = 0; k < o->njobs; k++) {
		c->nested_cached += o->jobs[k].cached;
		c->driver_calls += o->jobs[k].from_driver;
	}
	c->nested_run = o->njobs - c->nested_cached;
}

static void print_ms(FILE *out, const char *what, uint64_t ns)
{
	fprintf(out, "  %-15s %.3f ms\n", what, ns / 1e6);
}

void obs_print_stats(const run_obs *o, const obs_phases *ph, FILE *out)
{
	obs_counts c;
	obs_count(o, &c);
	struct rusage ru;
	long rss_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
	flockfile(out);
	fprintf(out, "flow: run stats\n");
	fprintf(out, "  %-15s %u (%u tasks)\n", "nodes", c.nodes, c.tasks);
	fprintf(out, "  %-15s %u\n", "tasks run", c.tasks_run);
	if (o->nworkers) /* --serial runs them inline, as part of their callers */
		fprintf(out, "  %-15s %llu\n", "nested tasks", (unsigned long long)c.nested_run);
	if (c.by_outcome[OBS_CACHED] || c.nested_cached) /* flow run --resume */
		fprintf(out, "  %-15s %u (%llu nested)\n", "cached", c.by_outcome[OBS_CACHED],
		        (unsigned long long)c.nested_cached);
	fprintf(out, "  %-15s %llu\n", "retries", (unsigned long long)c.retries);
	fprintf(out, "  %-15s %u\n", "failed", c.by_outcome[OBS_FAILED]);
	fprintf(out, "  %-15s %u\n", "skipped", c.by_outcome[OBS_SKIPPED]);
	fprintf(out, "  %-15s %u\n", "not run", c.by_outcome[OBS_NOT_RUN]);
	if (o->nworkers)
		fprintf(out, "  %-15s %d\n", "worker threads", o->nworkers);
	else
		fprintf(out, "  %-15s 0 (--serial)\n", "worker threads");
	print_ms(out, "load/compile", ph->load);
	print_ms(out, "lower", ph->lower);
	print_ms(out, "run", ph->run);
	if (rss_kib >= 0)
		fprintf(out, "  %-15s %.1f MiB\n", "peak RSS", rss_kib / 1024.0);
	mem_now pk, end;
	if (mem_peaks(&pk) && mem_read(&end)) /* the split (mem_stats.h): sampled peaks, then now */
		fprintf(out, "  %-15s anonymous %.1f MiB, mapped files %.1f MiB at their sampled peaks; "
		        "%.1f MiB, %.1f MiB at the end\n", "memory", pk.anon_kib / 1024.0, pk.file_kib / 1024.0,
		        end.anon_kib / 1024.0, end.file_kib / 1024.0);
	for (int i = 0; i < o->nrnodes; i++) /* flow run --address: where the calls ran */
		fprintf(out, "  %-15s %llu task calls, %.3f ms running, %u threads used\n",
		        o->rnodes[i].name, (unsigned long long)o->rnodes[i].calls,
		        o->rnodes[i].busy_ns / 1e6, o->rnodes[i].threads);
	funlockfile(out);
}

/* ---- the Chrome trace ------------------------------------------------------------ */

/* A JSON string: quotes, backslashes and control bytes escaped, invalid
 * UTF-8 as U+FFFD, so the file always parses. */
static void json_str(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	const unsigned char *end = s + strlen((const char *)s);
	fputc('"', out);
	while (*s) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
		} else if (c >= 0x80) {
			size_t len = str_utf8_seq_len((const char *)s, (size_t)(end - s));
			if (len == 0) {
				fputs("\\ufffd", out);
			} else {
				fwrite(s, 1, len, out);
				s += len;
				continue;
			}
		} else {
			fputc(c, out);
		}
		s++;
	}
	fputc('"', out);
}

static void thread_name(FILE *out, unsigned pid, int tid, bool *first)
{
	char name[32];
	if (tid == 0)
		snprintf(name, sizeof name, "driver");
	else
		snprintf(name, sizeof name, "worker %d", tid);
	fprintf(out, "%s\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":%d,\"args\":{\"name\":",
	        *first ? "" : ",", pid, tid);
	json_str(out, name);
	fputs("}}", out);
	*first = false;
}

/* A call site, "path:line:col", as one JSON string. */
static void json_site(FILE *out, const bc_program *p, span w)
{
	char *cs = NULL;
	if (asprintf(&cs, "%s:%d:%d", bc_source_path(p, w.file), w.line, w.col) < 0)
		abort();
	json_str(out, cs);
	free(cs);
}

static const char *outcome_name(obs_outcome oc)
{
	switch (oc) {
	case OBS_DONE: return "done";
	case OBS_FAILED: return "failed";
	case OBS_CACHED: return "cached";
	default: return "skipped";
	}
}

int obs_write_trace(const run_obs *o, FILE *out)
{
	const dag *g = o->g;
	bool first = true;
	/* on a cluster, pid = the node's id; this process (the client) is 0 */
	unsigned me = o->nrnodes ? 0 : 1;
	fputs("{\"traceEvents\":[", out);
	fprintf(out, "\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":0,\"args\":"
	        "{\"name\":\"%s\"}}", me, o->nrnodes ? "flow run (client)" : "flow run");
	first = false;
	for (int t = 0; t <= o->nworkers; t++)
		thread_name(out, me, t, &first);
	for (int i = 0; i < o->nrnodes; i++) {
		const obs_node_name *nn = &o->rnodes[i];
		fprintf(out, ",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":0,\"args\":"
		        "{\"name\":", nn->id);
		json_str(out, nn->name);
		fprintf(out, "}},\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%u,\"tid\":0,"
		        "\"args\":{\"sort_index\":%u}}", nn->id, nn->id);
		for (unsigned t = 1; t <= nn->threads; t++)
			fprintf(out, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":%u,"
			        "\"args\":{\"name\":\"thread %u\"}}", nn->id, t, t);
	}
	char lab[128];
	for (uint32_t v = 0; v < g->n; v++) {
		if (o->outcome[v] == OBS_NOT_RUN)
			continue;
		const dag_node *nd = &g->nodes[v];
		uint64_t s = o->start[v] - o->t0, e = o->end[v] - o->t0;
		fputs(",\n{\"name\":", out);
		json_str(out, dag_label(g, v, lab, sizeof lab));
		fputs(",\"cat\":", out);
		json_str(out, kind_names[nd->kind < DAG__KINDS ? nd->kind : 0]);
		fprintf(out, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%u,\"tid\":%u,"
		        "\"args\":{\"node\":%u,\"outcome\":\"%s\",",
		        s / 1e3, (e - s) / 1e3, o->rnode[v] ? o->rnode[v] : me,
		        o->rnode[v] ? o->rtid[v] : o->tid[v], v,
		        outcome_name((obs_outcome)o->outcome[v]));
		if (o->rnode[v])
			fprintf(out, "\"cluster node\":%u,\"client thread\":%u,", o->rnode[v], o->tid[v]);
		fputs("\"call site\":", out);
		json_site(out, g->prog, nd->where);
		fputs("}}", out);
	}
	for (size_t k = 0; k < o->njobs; k++) {
		const obs_job *j = &o->jobs[k];
		fputs(",\n{\"name\":", out);
		json_str(out, j->name);
		fprintf(out, ",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%u,"
		        "\"tid\":%u,\"args\":{\"outcome\":\"%s\",\"call site\":",
		        j->stream ? "stream" : j->from_driver ? "driver call" : "nested task",
		        (j->start - o->t0) / 1e3, (j->end - j->start) / 1e3, j->rnode ? j->rnode : me,
		        j->rnode ? j->rtid : j->tid, j->failed ? "failed" : j->cached ? "cached" : "done");
		json_site(out, g->prog, j->where);
		fputs("}}", out);
	}
	fputs("\n],\"displayTimeUnit\":\"ms\"}\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- the DOT coloured by outcome ------------------------------------------------ */

const char *obs_outcome_colour(obs_outcome oc)
{
	switch (oc) {
	case OBS_DONE: return "#c7e9c0";    /* green-ish */
	case OBS_FAILED: return "#fb6a4a";  /* red */
	case OBS_SKIPPED: return "#d9d9d9"; /* grey */
	case OBS_CACHED: return "#9ecae1";  /* light blue: from the cache */
	default: return "white";            /* not run */
	}
}

/* Seconds or milliseconds, short. */
static void fmt_time(char *buf, size_t n, double ns)
{
	if (ns >= 1e9)
		snprintf(buf, n, "%.2f s", ns / 1e9);
	else if (ns >= 1e6)
		snprintf(buf, n, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, n, "%.1f us", ns / 1e3);
}

/* A group is as bad as its worst member: failed, skipped, not run, done. */
static int badness(obs_outcome oc)
{
	switch (oc) {
	case OBS_FAILED: return 3;
	case OBS_SKIPPED: return 2;
	case OBS_NOT_RUN: return 1;
	default: return 0;
	}
}

static void decorate(void *ctx, const dag *d, const uint32_t *members, uint32_t n, dot_decor *out)
{
	(void)d;
	const run_obs *o = ctx;
	obs_outcome worst = OBS_DONE;
	uint64_t total = 0;
	uint32_t ran = 0, cached = 0, by[OBS__OUTCOMES] = {0};
	for (uint32_t j = 0; j < n; j++) {
		uint32_t v = members[j];
		obs_outcome oc = (obs_outcome)o->outcome[v];
		by[oc < OBS__OUTCOMES ? oc : 0]++;
		cached += oc == OBS_CACHED;
		if (badness(oc) > badness(worst))
			worst = oc;
		if (oc == OBS_DONE || oc == OBS_FAILED) {
			total += o->end[v] - o->start[v];
			ran++;
		}
	}
	/* a group of mixed outcomes is filled by its mix: the worst outcome's
	 * share, the most common other one the rest (Graphviz fills a
	 * weighted two-colour list in those proportions) */
	out->fill = obs_outcome_colour(worst);
	obs_outcome other = worst;
	for (int k = 0; k < OBS__OUTCOMES; k++)
		if (k != (int)worst && by[k] && (other == worst || by[k] > by[other]))
			other = (obs_outcome)k;
	if (other != worst) {
		double w = (double)by[worst] / n;
		w = w < 0.01 ? 0.01 : w > 0.99 ? 0.99 : w;
		snprintf(out->fillbuf, sizeof out->fillbuf, "%s;%.2f:%s", obs_outcome_colour(worst), w,
		         obs_outcome_colour(other));
		out->fill = out->fillbuf;
	}
	char t[32], m[32], mixed[64] = "";
	if (other != worst) {
		static const char *const word[OBS__OUTCOMES] = {"not run", "done", "failed", "skipped", "cached"};
		snprintf(mixed, sizeof mixed, "\n%u of %u %s", by[worst], n, word[worst]);
	}
	if (cached == n) {
		out->fill = obs_outcome_colour(OBS_CACHED);
		snprintf(out->label, sizeof out->label, "cached");
	} else if (ran == 0) {
		snprintf(out->label, sizeof out->label, "%s%s", worst == OBS_SKIPPED ? "skipped" : "not run",
		         mixed);
	} else if (n == 1) {
		fmt_time(t, sizeof t, (double)total);
		snprintf(out->label, sizeof out->label, "%s%s", t, worst == OBS_FAILED ? " (failed)" : "");
	} else {
		fmt_time(t, sizeof t, (double)total);
		fmt_time(m, sizeof m, (double)total / ran);
		snprintf(out->label, sizeof out->label, "total %s, mean %s%s", t, m, mixed);
	}
}

/* A DOT label's text: quotes and backslashes escaped, control bytes
 * dropped (names and paths come from the program). */
static void dot_put_label(FILE *out, const char *str)
{
	for (const unsigned char *c = (const unsigned char *)str; *c; c++) {
		if (*c == '"' || *c == '\\')
			fputc('\\', out);
		if (*c >= 0x20 && *c != 0x7f)
			fputc(*c, out);
	}
}

/* The staged driver's run-time calls, one dashed node per task and call
 * site (×N when it ran more than once), in the order first made, each
 * with an edge from the "driver continues" node. */
static void write_driver_calls(const run_obs *o, uint32_t cont, FILE *out)
{
	bool *done = calloc(o->njobs ? o->njobs : 1, sizeof *done);
	if (!done)
		abort();
	/* in start order (threads record them as they end) */
	size_t *ord = malloc(sizeof *ord * (o->njobs ? o->njobs : 1));
	if (!ord)
		abort();
	size_t n = 0;
	for (size_t k = 0; k < o->njobs; k++)
		if (o->jobs[k].from_driver)
			ord[n++] = k;
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && o->jobs[ord[b]].start < o->jobs[ord[b - 1]].start; b--) {
			size_t t = ord[b];
			ord[b] = ord[b - 1];
			ord[b - 1] = t;
		}
	for (size_t a = 0; a < n; a++) {
		const obs_job *j = &o->jobs[ord[a]];
		if (done[ord[a]])
			continue;
		uint32_t count = 0, failed = 0;
		uint64_t total = 0;
		for (size_t b = a; b < n; b++) {
			const obs_job *x = &o->jobs[ord[b]];
			if (done[ord[b]] || strcmp(x->name, j->name) != 0 || x->where.file != j->where.file ||
			    x->where.line != j->where.line || x->where.col != j->where.col)
				continue;
			done[ord[b]] = true;
			count++;
			failed += x->failed;
			total += x->end - x->start;
		}
		char t[32];
		fmt_time(t, sizeof t, (double)total);
		const char *path = o->g->prog->diag ? diag_source_path(o->g->prog->diag, j->where.file) : NULL;
		fprintf(out, "  r%zu [label=\"", a);
		dot_put_label(out, j->name);
		if (count > 1)
			fprintf(out, " \xc3\x97%u", count); /* U+00D7, as flow dot */
		if (path) {
			fputs("\\n", out);
			dot_put_label(out, path);
			fprintf(out, ":%d", j->where.line);
		}
		fprintf(out, "\\nat run time, %s%s\", shape=box, style=\"rounded,filled,dashed\", "
		        "fillcolor=\"%s\"];\n", t, failed ? " (failed)" : "",
		        obs_outcome_colour(failed ? OBS_FAILED : OBS_DONE));
		fprintf(out, "  n%u -> r%zu [style=dashed];\n", cont, a);
	}
	free(ord);
	free(done);
}

int obs_write_dot(const run_obs *o, const dot_opts *base, FILE *out)
{
	dot_opts d;
	memset(&d, 0, sizeof d);
	if (base)
		d = *base;
	d.decorate = decorate;
	d.ctx = (void *)o;
	const dag *g = o->g;
	uint32_t cont = UINT32_MAX;
	for (uint32_t v = 0; v < g->n && cont == UINT32_MAX; v++)
		if (g->nodes[v].kind == DAG_CONT)
			cont = v;
	bool any = false;
	for (size_t k = 0; k < o->njobs && !any; k++)
		any = o->jobs[k].from_driver;
	if (cont == UINT32_MAX || !any)
		return dag_write_dot(g, &d, out);
	/* the DAG's drawing, then the driver's run-time calls before its "}" */
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	if (!mem)
		return -1;
	int rc = dag_write_dot(g, &d, mem);
	if (fclose(mem) || rc) {
		free(text);
		return -1;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '}'))
		len--;
	fwrite(text, 1, len, out);
	free(text);
	fputc('\n', out);
	write_driver_calls(o, cont, out);
	fputs("}\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- --stats-json ------------------------------------------------------------------ */

void obs_write_stats_json(const run_obs *o, const obs_phases *ph, uint64_t wall_ns, FILE *out)
{
	obs_counts c;
	obs_count(o, &c);
	struct rusage ru;
	double rss_mib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024.0 : -1;
	fprintf(out, "{\"nodes\": %u, \"tasks\": %u, \"tasks_run\": %u, ", c.nodes, c.tasks, c.tasks_run);
	if (o->nworkers)
		fprintf(out, "\"nested_tasks\": %llu, ", (unsigned long long)c.nested_run);
	else
		fputs("\"nested_tasks\": null, ", out);
	fprintf(out, "\"retries\": %llu, \"done\": %u, \"failed\": %u, \"skipped\": %u, \"not_run\": %u, ",
	        (unsigned long long)c.retries, c.by_outcome[OBS_DONE], c.by_outcome[OBS_FAILED],
	        c.by_outcome[OBS_SKIPPED], c.by_outcome[OBS_NOT_RUN]);
	fprintf(out, "\"cached\": %u, \"nested_cached\": %llu, ", c.by_outcome[OBS_CACHED],
	        (unsigned long long)c.nested_cached);
	fprintf(out, "\"worker_threads\": %d, \"serial\": %s, ", o->nworkers, o->nworkers ? "false" : "true");
	fprintf(out, "\"time_ms\": {\"load\": %.3f, \"lower\": %.3f, \"run\": %.3f, \"wall\": %.3f}, ",
	        ph->load / 1e6, ph->lower / 1e6, ph->run / 1e6, wall_ns / 1e6);
	if (o->nrnodes) { /* flow run --address: where the calls ran */
		fputs("\"cluster_nodes\": [", out);
		for (int i = 0; i < o->nrnodes; i++) {
			fprintf(out, "%s{\"id\": %u, \"name\": ", i ? ", " : "", o->rnodes[i].id);
			json_str(out, o->rnodes[i].name);
			fprintf(out, ", \"calls\": %llu, \"busy_ms\": %.3f, \"threads\": %u}",
			        (unsigned long long)o->rnodes[i].calls, o->rnodes[i].busy_ns / 1e6,
			        o->rnodes[i].threads);
		}
		fputs("], ", out);
	}
	mem_now pk, end;
	if (mem_peaks(&pk) && mem_read(&end))
		fprintf(out, "\"memory_mib\": {\"anon_peak\": %.1f, \"file_peak\": %.1f, \"anon_end\": %.1f, "
		        "\"file_end\": %.1f}, ", pk.anon_kib / 1024.0, pk.file_kib / 1024.0, end.anon_kib / 1024.0,
		        end.file_kib / 1024.0);
	else
		fputs("\"memory_mib\": null, ", out);
	if (rss_mib >= 0)
		fprintf(out, "\"peak_rss_mib\": %.1f}", rss_mib);
	else
		fputs("\"peak_rss_mib\": null}", out);
}
