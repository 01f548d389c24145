/* cmd_run.c - `flow run FILE`: runs a program, watched when asked
 * (--trace, --dot-out, --stats, --stats-json, the progress line). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "compiler/plan.h"
#include "executor/cache.h"
#include "executor/cluster/client.h"
#include "executor/cluster/place.h"
#include "executor/executor.h"
#include "executor/interrupt.h"
#include "executor/mem_stats.h"
#include "executor/run_obs.h"
#include "executor/size.h"
#include "executor/store.h"
#include "stdlib/stdlib.h"

/* X(ID, SHORT, LONG, ARG, REPEAT, HELP): see cli.h */
#define RUN_OPTS(X) \
	X(SERIAL, 0, "serial", NULL, false, \
	  "run in one thread, top to bottom: tasks run\ninline when called (the reference semantics)") \
	X(CPUS, 0, "cpus", "N", false, "worker threads that run tasks (default: the\nmachine's cores); with --address, the task calls\n" \
	  "in flight (default: the cluster's CPUs)") \
	X(SEED, 0, "seed", "N", false, "seed of every random stream (default 0)") \
	X(PARAM, 'p', "param", "name=value", true, "set a param (a list or dict param: a Flow\nliteral, -p 'files=[\"a.txt\", \"b.txt\"]')") \
	X(PARAMS_FILE, 0, "params-file", "FILE", false, "params from a JSON object in FILE\n({\"name\": value, ...}); -p overrides them") \
	X(TRACE, 0, "trace", "FILE", false, \
	  "write a Chrome trace of the run (open it in\nPerfetto or chrome://tracing): one lane per thread") \
	X(DOT_OUT, 0, "dot-out", "FILE", false, \
	  "write the DAG as Graphviz DOT coloured by outcome\n(done green, failed red, skipped grey, not run\n" \
	  "white, cached blue) with each node's run time; FILE.svg, .png\nor .pdf is rendered, .dot, .gv or none is text") \
	X(FULL, 0, "full", NULL, false, "with --dot-out: one node per DAG node, no\ncollapsing") \
	X(STATS, 0, "stats", NULL, false, \
	  "at the end, on stderr: tasks run, retries, failed,\nskipped, time per phase, peak memory") \
	X(STATS_JSON, 0, "stats-json", "FILE", false, \
	  "write the same figures, the DAG's and the object\nstore's as one JSON object (docs/cli.md) to FILE\n" \
	  "('-': stdout, after the program's output)") \
	X(OBJECT_STORE_MEMORY, 0, "object-store-memory", "SIZE", false, \
	  "memory for task results (64MiB, 2GiB, bytes;\ndefault 30% of RAM); past it the least recently\n" \
	  "used results are spilled to disk (LMDB)") \
	X(SPILL_DIR, 0, "spill-dir", "DIR", false, \
	  "where spilled results go (default $TMPDIR or\n/tmp; a private directory, removed at exit)") \
	X(RESOURCES, 0, "resources", "name=amount[,...]", false, \
	  "custom resources this node offers, for tasks'\n@resources (a task that needs more than the node\n" \
	  "offers is an error before anything runs)") \
	X(MAX_READ, 0, "max-read", "SIZE", false, \
	  "the most io.read_text/read_lines and each of\nproc's outputs may read (default 1GiB); past it\n" \
	  "the call fails (docs/faults.md)") \
	X(QUIET, 'q', "quiet", NULL, false, "no progress line (there is one only when stderr\nis a terminal)") \
	X(STATIC, 0, "static", NULL, false, "refuse a driver that would run partly at run time") \
	X(ADDRESS, 0, "address", "HOST:PORT", false, \
	  "run the tasks on the cluster whose head is there\n(flow start); the driver and actors stay here") \
	X(TOKEN_FILE, 0, "token-file", "FILE", false, \
	  "the cluster token, with --address (default\n$FLOW_TOKEN, else ~/.flow/token)") \
	X(RESUME, 0, "resume", NULL, false, \
	  "take the results of task calls that completed in\nan earlier run from the cache (docs/cache.md)") \
	X(CACHE_DIR, 0, "cache-dir", "DIR", false, \
	  "record task results in the cache DIR (default with\n--resume: .flow/cache beside FILE)") \
	X(CACHE_SIZE, 0, "cache-size", "SIZE", false, \
	  "most the cache keeps (default 1GiB); past it the\nleast recently used entries go") \
	X(NO_CACHE, 0, "no-cache", NULL, false, \
	  "neither read nor write the cache (the default\nwithout --resume and --cache-dir)") \
	CLI_TLS_OPTS(X)

CLI_COMMAND(run, RUN_OPTS,
	.operand = "FILE",
	.about = "Runs the program in FILE (a .flow file or a plan; '-': either on stdin).\n"
	         "The driver's prints go to stdout in program order; prints inside tasks\n"
	         "go to stderr, each line prefixed with its call ('(work#17)': task work\n"
	         "called as DAG node 17; a nested call is named by its identity,\n"
	         "'(work#~1a2b3c)'). With --address the tasks run on a cluster's nodes;\n"
	         "their prints come back here, prefixed with the node too.",
	.footer = "Exit status 0 on success, 1 if the program failed (every\n"
	          "failure is listed on stderr), 2 for bad usage.");

enum { MAX_RES = 32 };

typedef struct run_args {
	cli_prog prog;
	bool serial, quiet, stats;
	uint64_t cpus, seed;
	uint64_t t_start; /* obs_now_ns() when the command began (--stats-json's wall time) */
	const char *trace, *dot_out, *stats_json;
	const char *dot_fmt; /* --dot-out's format, from its extension */
	bool dot_full;       /* --full */
	const char *address, *token_file; /* --address: the cluster's head */
	cli_tls tls;                      /* --tls-*, with --address */
	bool resume, no_cache;            /* --resume, --no-cache */
	const char *cache_dir;            /* --cache-dir, or NULL */
	uint64_t cache_size;              /* --cache-size, or 0 */
	store_opts sto;
	char *res_names[MAX_RES]; /* malloc'd */
	double res_amounts[MAX_RES];
	int nres;
} run_args;

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

/* --resources gpu=2,disk=1: appended to a's names/amounts. */
static int add_resources(run_args *a, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		if (!eq || eq == tok || a->nres >= MAX_RES) {
			rc = -1;
			break;
		}
		*eq = '\0';
		errno = 0;
		double amount = strtod(eq + 1, &end);
		if (errno || end == eq + 1 || *end || !(amount >= 0) || amount > 1e15) {
			rc = -1;
			break;
		}
		int k = 0;
		while (k < a->nres && strcmp(a->res_names[k], tok))
			k++;
		if (k == a->nres)
			a->res_names[a->nres++] = strdup(tok);
		a->res_amounts[k] = amount;
	}
	free(copy);
	return rc;
}

static int on_opt(void *ctx, int id, const char *arg)
{
	run_args *a = ctx;
	switch (id) {
	case OPT_SERIAL: a->serial = true; break;
	case OPT_CPUS:
		if (parse_u64(arg, &a->cpus) != 0 || a->cpus < 1 || a->cpus > 1024)
			return cli_usage_error("run", "--cpus expects an integer from 1 to 1024, got '%s'", arg);
		break;
	case OPT_SEED:
		if (parse_u64(arg, &a->seed) != 0)
			return cli_usage_error("run", "--seed expects a non-negative integer, got '%s'", arg);
		break;
	case OPT_PARAM: return cli_add_param(&a->prog, "run", arg);
	case OPT_PARAMS_FILE: return cli_add_params_file(&a->prog, "run", arg);
	case OPT_TRACE: a->trace = arg; break;
	case OPT_DOT_OUT: a->dot_out = arg; break;
	case OPT_FULL: a->dot_full = true; break;
	case OPT_STATS: a->stats = true; break;
	case OPT_STATS_JSON: a->stats_json = arg; break;
	case OPT_OBJECT_STORE_MEMORY:
		if (size_parse(arg, &a->sto.memory_cap) != 0 || a->sto.memory_cap == 0)
			return cli_usage_error("run", "--object-store-memory expects a size such as 64MiB, "
			                       "2GiB or 1000000, got '%s'", arg);
		break;
	case OPT_SPILL_DIR: a->sto.spill_dir = arg; break;
	case OPT_RESOURCES:
		if (add_resources(a, arg) != 0)
			return cli_usage_error("run", "--resources expects name=amount[,name=amount...] "
			                       "with amounts >= 0, got '%s'", arg);
		break;
	case OPT_MAX_READ: {
		uint64_t n;
		if (size_parse(arg, &n) != 0 || n == 0)
			return cli_usage_error("run", "--max-read expects a size such as 64MiB, 2GiB or "
			                       "1000000, got '%s'", arg);
		stdlib_max_read = n;
		break;
	}
	case OPT_QUIET: a->quiet = true; break;
	case OPT_STATIC: a->prog.static_only = true; break;
	case OPT_ADDRESS: a->address = arg; break;
	case OPT_TOKEN_FILE: a->token_file = arg; break;
	case OPT_RESUME: a->resume = true; break;
	case OPT_CACHE_DIR: a->cache_dir = arg; break;
	case OPT_CACHE_SIZE:
		if (size_parse(arg, &a->cache_size) != 0 || a->cache_size < 4096)
			return cli_usage_error("run", "--cache-size expects a size of at least 4KiB such as "
			                       "64MiB or 2GiB, got '%s'", arg);
		break;
	case OPT_NO_CACHE: a->no_cache = true; break;
	case OPT_TLS_CERT: a->tls.cert = arg; break;
	case OPT_TLS_KEY: a->tls.key = arg; break;
	case OPT_TLS_CA: a->tls.ca = arg; break;
	}
	return 0;
}

/* ---- running -------------------------------------------------------------------- */

/* --address: the program as a plan, sent to the head. Returns 0 with
 * *cl, or EXIT_USER (printed). */
static int connect_cluster(const run_args *a, cl_client **cl)
{
	auth_token tok;
	verr e;
	if (auth_token_load(&tok, a->token_file, 0, &e) != 0) {
		fprintf(stderr, "flow run: %s\n", e.msg);
		return EXIT_USER;
	}
	sbuf plan;
	sbuf_init(&plan);
	char *err = NULL;
	if (plan_write(&plan, a->prog.p, a->prog.params, a->prog.nparams, NULL, &err) != 0) {
		fprintf(stderr, "flow run: the program cannot be sent to a cluster: %s\n",
		        err ? err : "it has no plan");
		free(err);
		sbuf_fini(&plan);
		auth_token_wipe(&tok);
		return EXIT_USER;
	}
	signal(SIGPIPE, SIG_IGN); /* a head that closes is an error, not a signal */
	/* Ctrl-C: this process ends at once, its spill directory removed;
	 * closing its connection tells the head, which drops the calls still
	 * waiting and stops those running (CANCEL) */
	interrupt_exit_at_once("\nflow run: interrupted; the cluster drops this run's waiting tasks\n");
	*cl = cl_client_open(a->address, &tok, (const uint8_t *)plan.data, plan.len, &e);
	auth_token_wipe(&tok);
	sbuf_fini(&plan);
	if (!*cl) {
		fprintf(stderr, "flow run: %s\n", e.msg);
		return EXIT_USER;
	}
	return 0;
}

/* The one place that picks an executor and fills its options (the
 * executor interface replaces it). Returns 0 or EXIT_USER. */
static int run_lowered(const run_args *a, const dag *g, run_obs *obs, store *st)
{
	/* the executor describes its node to the tasks (cluster.nodes()) */
	/* prints clear the progress line first (run_obs.h): the tasks', and
	 * the driver's when stdout is the terminal too */
	FILE *err = obs_task_stream(obs, stderr);
	FILE *out = isatty(STDOUT_FILENO) ? obs_task_stream(obs, stdout) : stdout;
	exec_opts eo = {.seed = a->seed, .out = out, .err = err, .obs = obs, .store = st,
	                .cpus = (int)a->cpus, .quiet = a->quiet, .nresources = a->nres,
	                .res_names = (const char *const *)a->res_names,
	                .res_amounts = a->res_amounts};
	cl_client *cl = NULL;
	char **cl_res_names = NULL;
	double *cl_res_amounts = NULL;
	if (a->address) {
		int rc = connect_cluster(a, &cl);
		if (rc) {
			obs_task_stream_close(err, stderr);
			obs_task_stream_close(out, stdout);
			return rc;
		}
		/* as many task calls in flight as the cluster offers CPUs,
		 * or --cpus */
		eo.cpus = a->cpus ? (int)a->cpus : cl_client_cpus(cl);
		cl_client_set_program(cl, a->prog.p); /* lineage: names, effects */
		eo.remote = cl_client_remote(cl);
		eo.view = cl_client_view(cl);
		/* a task that fits no node is an error now, before anything
		 * runs (place.h); the calls go out as the cluster's resources
		 * could hold them, and the head places each where it fits */
		if (place_check_dag(eo.view->peers, eo.view->npeers, g, err) != 0) {
			obs_task_stream_close(err, stderr);
			obs_task_stream_close(out, stdout);
			cl_client_close(cl);
			return EXIT_USER;
		}
		eo.nresources = place_totals(eo.view->peers, eo.view->npeers, &cl_res_names,
		                             &cl_res_amounts);
		eo.res_names = (const char *const *)cl_res_names;
		eo.res_amounts = cl_res_amounts;
	}
	const executor *ex = executor_find(a->serial ? "serial" : "parallel");
	int rc = executor_run(ex, g, &eo) == 0 ? 0 : EXIT_USER;
	for (int k = 0; cl_res_names && k < eo.nresources; k++)
		free(cl_res_names[k]);
	free(cl_res_names);
	free(cl_res_amounts);
	obs_task_stream_close(err, stderr);
	obs_task_stream_close(out, stdout);
	cl_client_close(cl);
	return rc;
}

/* The output files of a run, opened before it. */
typedef struct run_outputs {
	FILE *trace, *dot, *json;
} run_outputs;

static int open_outputs(const run_args *a, run_outputs *o)
{
	if (a->trace && !(o->trace = cli_open_out("--trace", a->trace, false)))
		return EXIT_USER;
	if (a->dot_out && !(o->dot = cli_open_out("--dot-out", a->dot_out, false)))
		return EXIT_USER;
	if (a->stats_json && !(o->json = cli_open_out("--stats-json", a->stats_json, true)))
		return EXIT_USER;
	return 0;
}

static void print_store_stats(const run_args *a, store *st)
{
	store_stats ss;
	store_get_stats(st, &ss);
	fprintf(stderr, "  object store: peak %.1f MiB in memory (cap %.1f MiB); spilled %llu objects, "
	        "%.1f MiB; restored %llu objects, %.1f MiB (%llu read ahead)\n",
	        (double)ss.mem_peak / 1048576.0, (double)a->sto.memory_cap / 1048576.0,
	        (unsigned long long)ss.spilled_objects, (double)ss.spilled_bytes / 1048576.0,
	        (unsigned long long)ss.restored_objects, (double)ss.restored_bytes / 1048576.0,
	        (unsigned long long)ss.restored_ahead);
}

/* The --stats-json object (docs/cli.md). Returns what cli_close_out does. */
static int write_stats_json(const run_args *a, FILE *f, int status, const run_obs *obs,
                            const obs_phases *ph, store *st)
{
	fprintf(f, "{\"schema\": 1, \"command\": \"run\", \"status\": %d, \"dag\": ", status);
	cli_json_dag(a->prog.g, f);
	fputs(", \"run\": ", f);
	obs_write_stats_json(obs, ph, obs_now_ns() - a->t_start, f);
	fputs(", \"store\": ", f);
	if (st) {
		store_stats ss;
		store_get_stats(st, &ss);
		fprintf(f, "{\"memory_cap_bytes\": %llu, \"peak_bytes\": %llu, \"spilled_objects\": %llu, "
		        "\"spilled_bytes\": %llu, \"restored_objects\": %llu, \"restored_bytes\": %llu, "
		        "\"restored_ahead\": %llu, \"spilled_direct\": %llu}",
		        (unsigned long long)a->sto.memory_cap, (unsigned long long)ss.mem_peak,
		        (unsigned long long)ss.spilled_objects, (unsigned long long)ss.spilled_bytes,
		        (unsigned long long)ss.restored_objects, (unsigned long long)ss.restored_bytes,
		        (unsigned long long)ss.restored_ahead, (unsigned long long)ss.spilled_direct);
	} else {
		fputs("null", f);
	}
	fputs("}\n", f);
	return cli_close_out(f, "--stats-json", a->stats_json, 0);
}

/* --dot-out: the DOT text, or a picture rendered from it (the file was
 * opened before the run, so that a bad path fails at once). */
static int write_dot_out(const run_args *a, FILE *f, const run_obs *obs)
{
	dot_opts d = {.full = a->dot_full};
	if (strcmp(a->dot_fmt, "dot") == 0)
		return cli_close_out(f, "--dot-out", a->dot_out, obs_write_dot(obs, &d, f));
	fclose(f);
	char *buf = NULL, *err = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int rc = 0;
	if (!mem || obs_write_dot(obs, &d, mem) != 0) {
		fprintf(stderr, "flow: error: cannot write the DAG as DOT\n");
		rc = EXIT_USER;
	}
	if (mem)
		fclose(mem);
	uint32_t n = rc ? 0 : dot_count_nodes(buf, len);
	if (n > DOT_RENDER_MAX_NODES) {
		fprintf(stderr, "flow: error: --dot-out: the picture would have %u nodes, more than "
		        "Graphviz can draw readably (at most %d); %swrite the DOT text (--dot-out "
		        "FILE.dot)\n", n, DOT_RENDER_MAX_NODES, a->dot_full ? "drop --full, or " : "");
		rc = EXIT_USER;
	} else if (rc == 0 && dot_render(buf, len, a->dot_fmt, a->dot_out, &err) != 0) {
		fprintf(stderr, "flow: error: --dot-out: %s\n", err ? err : "rendering failed");
		rc = EXIT_USER;
	}
	if (rc)
		remove(a->dot_out);
	free(err);
	free(buf);
	return rc;
}

/* After the run: the files and figures asked for. obs NULL: nothing ran,
 * so no file is left behind. Returns rc, or EXIT_USER if a write failed. */
static int finish_outputs(const run_args *a, run_outputs *o, run_obs *obs, const obs_phases *ph,
                          store *st, int rc)
{
	fflush(stdout);
	if (!obs) {
		if (o->trace)
			cli_drop_out(o->trace, a->trace);
		if (o->dot)
			cli_drop_out(o->dot, a->dot_out);
		if (o->json)
			cli_drop_out(o->json, a->stats_json);
		return rc;
	}
	int bad = 0;
	if (o->trace)
		bad |= cli_close_out(o->trace, "--trace", a->trace, obs_write_trace(obs, o->trace));
	if (o->dot)
		bad |= write_dot_out(a, o->dot, obs);
	if (a->stats)
		obs_print_stats(obs, ph, stderr);
	if (a->stats && st)
		print_store_stats(a, st);
	if (o->json)
		bad |= write_stats_json(a, o->json, rc, obs, ph, st);
	return bad ? EXIT_USER : rc;
}

/* After SIGINT/SIGTERM: where the staged driver was stopped and the calls
 * it had made, what ran, failed and was cancelled. (A driver loop that
 * made no task node used to read "0 of 0 tasks ran".) */
static void report_interrupt(const run_obs *obs, int sig)
{
	obs_counts c;
	obs_count(obs, &c);
	const char *at = interrupt_driver_stop();
	fprintf(stderr, "flow: interrupted by %s: ", sig == SIGINT ? "SIGINT" : "SIGTERM");
	if (at)
		fprintf(stderr, "the driver was stopped at %s after making %llu call%s at run time%s", at,
		        (unsigned long long)c.driver_calls, c.driver_calls == 1 ? "" : "s",
		        c.tasks ? "; " : " ");
	if (c.tasks || !at)
		fprintf(stderr, "%u of %u tasks ran ", c.tasks_run, c.tasks);
	fprintf(stderr, "(%u nodes done, %u failed or cancelled, %u skipped, %u not started)\n",
	        c.by_outcome[OBS_DONE], c.by_outcome[OBS_FAILED], c.by_outcome[OBS_SKIPPED],
	        c.by_outcome[OBS_NOT_RUN]);
}

/* The run's cache (docs/cache.md): with --resume it is read and
 * written; with --cache-dir alone, written. A plain run does neither:
 * recording costs ~30 us a call (a hash and an LMDB put), ten times an
 * empty task, so the default run keeps its speed. Its directory is
 * --cache-dir, or .flow/cache beside FILE (none for a program on stdin).
 * A cache that cannot be opened is an error. Returns 0 (*c may stay
 * NULL) or EXIT_USER. */
static int open_cache(const run_args *a, const char *file, flow_cache **c)
{
	*c = NULL;
	if (a->no_cache || !(a->resume || a->cache_dir))
		return 0;
	char *dir = NULL;
	if (a->cache_dir) {
		dir = strdup(a->cache_dir);
	} else if (strcmp(file, "-") != 0) {
		const char *slash = strrchr(file, '/');
		int n = slash ? (int)(slash - file) : 0; /* the folder's length */
		if (asprintf(&dir, "%.*s/.flow/cache", slash ? n : 1, slash ? file : ".") < 0)
			abort();
	} else if (a->resume) {
		fprintf(stderr, "flow run: --resume of a program on stdin needs --cache-dir\n");
		return EXIT_USER;
	} else {
		return 0;
	}
	cache_opts co = {.dir = dir, .cap = a->cache_size, .read = a->resume, .write = true,
	                 .version = FLOW_VERSION};
	char *err = NULL;
	*c = cache_open(&co, stderr, &err);
	int rc = 0;
	if (!*c && (a->resume || a->cache_dir)) {
		fprintf(stderr, "flow run: %s\n", err ? err : "cannot open the cache");
		rc = EXIT_USER;
	}
	free(err);
	free(dir);
	if (*c)
		cache_bind(*c, a->prog.p);
	return rc;
}

/* --resume: how many task calls the cache answered. */
static void report_resume(const flow_cache *c)
{
	cache_stats cs;
	cache_get_stats(c, &cs);
	uint64_t calls = cs.hits + cs.misses + cs.uncacheable;
	fprintf(stderr, "flow: resumed: %llu of %llu task call%s from the cache, %llu run",
	        (unsigned long long)cs.hits, (unsigned long long)calls, calls == 1 ? "" : "s",
	        (unsigned long long)(cs.misses + cs.uncacheable));
	if (cs.uncacheable)
		fprintf(stderr, " (%llu not cacheable)", (unsigned long long)cs.uncacheable);
	fputc('\n', stderr);
}

/* Loads, runs and reports on FILE. */
static int run_file(run_args *a, const char *file)
{
	obs_phases ph = {0, 0, 0};
	uint64_t t = obs_now_ns();
	int rc = cli_read_program(&a->prog, file, "run"); /* timed apart from lowering for --stats */
	ph.load = obs_now_ns() - t;
	t = obs_now_ns();
	if (rc == 0)
		rc = cli_lower(&a->prog);
	ph.lower = obs_now_ns() - t;
	run_outputs out = {NULL, NULL, NULL};
	if (rc == 0)
		rc = open_outputs(a, &out);
	if (rc == 0 && (a->stats || a->stats_json))
		mem_watch_enable(); /* the memory line's sampled peaks (mem_stats.h) */
	/* always watched: an interrupted run says what ran, failed and was
	 * cancelled (a few stores per node) */
	FILE *progress = !a->quiet && isatty(STDERR_FILENO) ? stderr : NULL;
	run_obs *obs = rc == 0 ? obs_new(a->prog.g, progress) : NULL;
	if (a->trace || a->dot_out || a->address)
		obs_time_nodes(obs); /* what draws the nodes' times, or a cluster's busy time */
	store *st = NULL;
	if (rc == 0) {
		char *err = NULL;
		if (!a->sto.memory_cap)
			a->sto.memory_cap = store_default_memory();
		if (!(st = store_open(&a->sto, &err))) {
			fprintf(stderr, "flow: error: object store: %s\n", err ? err : "cannot open");
			free(err);
			rc = EXIT_USER;
		} /* its directory is registered for a second Ctrl-C (store_open) */
	}
	flow_cache *cache = NULL;
	if (rc == 0)
		rc = open_cache(a, file, &cache);
	cache_set_current(cache);
	t = obs_now_ns();
	if (rc == 0)
		rc = run_lowered(a, a->prog.g, obs, st);
	ph.run = obs_now_ns() - t;
	cache_set_current(NULL);
	if (cache && a->resume)
		report_resume(cache);
	cache_close(cache);
	int sig = interrupt_signal();
	if (sig && obs)
		report_interrupt(obs, sig);
	rc = finish_outputs(a, &out, obs, &ph, st, rc);
	store_close(st);
	obs_free(obs);
	fflush(stdout);
	/* 130 for SIGINT, 143 for SIGTERM, as a shell reports a killed job */
	return sig ? 128 + sig : rc;
}

int cmd_run(int argc, char **argv)
{
	run_args a = {.t_start = obs_now_ns()};
	const char *file;
	int rc = cli_parse(&spec, argc, argv, on_opt, &a, &file);
	if (rc == 0 && a.serial && a.address)
		rc = cli_usage_error("run", "%s", "--serial runs here; it cannot go with --address");
	if (rc == 0 && a.no_cache && (a.resume || a.cache_dir || a.cache_size))
		rc = cli_usage_error("run", "%s", "--no-cache cannot go with --resume, --cache-dir or "
		                     "--cache-size");
	if (rc == 0 && a.token_file && !a.address)
		rc = cli_usage_error("run", "%s", "--token-file is the cluster's token: it goes with --address");
	if (rc == 0 && cli_tls_given(&a.tls) && !a.address)
		rc = cli_usage_error("run", "%s", "--tls-cert, --tls-key and --tls-ca are the cluster's: "
		                     "they go with --address");
	if (rc == 0 && a.address)
		rc = cli_tls_setup("run", &a.tls);
	if (rc == 0 && a.dot_full && !a.dot_out)
		rc = cli_usage_error("run", "%s", "--full is how --dot-out draws: it goes with --dot-out");
	if (rc == 0 && a.dot_out)
		rc = cli_out_format("run", "--dot-out", a.dot_out, &a.dot_fmt);
	if (rc == 0) {
		/* before any thread starts: they all inherit the blocked signals */
		interrupt_arm();
		/* what the driver printed survives a SIGKILL: written through per
		 * line when stdout is a file or a pipe */
		if (!isatty(STDOUT_FILENO))
			setvbuf(stdout, NULL, _IOLBF, 0);
		rc = run_file(&a, file);
	}
	for (int k = 0; k < a.nres; k++)
		free(a.res_names[k]);
	cli_prog_free(&a.prog);
	return rc == CLI_DONE ? 0 : rc;
}
