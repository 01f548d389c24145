/* main.c - the `flow` command: one binary, one subcommand per verb.
 *
 * Exit status: 0 success, 1 an error in the user's program or data,
 * 2 bad usage (LANGUAGE.md, ARCHITECTURE.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/dag.h"
#include "compiler/dot.h"
#include "compiler/rewrite.h"
#include "compiler/lower.h"
#include "compiler/plan.h"
#include "executor/parallel.h"
#include "executor/run_obs.h"
#include "executor/serial.h"
#include "executor/store.h"
#include "lang/compile.h"
#include "lang/diag.h"
#include "lang/resolve.h"
#include "lang/vm.h"
#include "stdlib/stdlib.h"
#include "cli/cmd_cluster.h"

#define EXIT_USER 1
#define EXIT_USAGE 2

/* The subcommands, listed once: name, handler, one-line summary. */
#define CMD_LIST(X) \
	X(check,   "parse and check a program; print diagnostics") \
	X(compile, "compile a program to a DAG and a plan (--stats, --explain, -o PLAN)") \
	X(dot,     "write the program's DAG as Graphviz DOT, or render it (-T svg)") \
	X(run,     "run a program")

#define X(name, summary) static int cmd_##name(int argc, char **argv);
CMD_LIST(X)
#undef X

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
#define X(name, summary) {#name, cmd_##name, summary},
	CMD_LIST(X)
	CLUSTER_CMD_LIST(X)
#undef X
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: flow COMMAND [OPTIONS] FILE\n"
	        "\n"
	        "Flow compiles dataflow pipelines written in .flow files and runs them.\n"
	        "\n"
	        "commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
	        "\n"
	        "`flow COMMAND --help` describes a command's options.\n"
	        "Exit status: 0 success, 1 an error in the program or its data, 2 bad usage.\n");
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "flow %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'flow %s --help'.\n", cmd);
	return EXIT_USAGE;
}

/* ---- shared option handling ----------------------------------------- */

typedef struct prog_opts {
	param_set *params;
	int nparams, capparams;
	bool no_rewrite;
} prog_opts;

/* -p name=value */
static int add_param(prog_opts *o, const char *cmd, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg)
		return usage_error(cmd, "-p expects name=value, got '%s'", arg);
	if (o->nparams == o->capparams) {
		o->capparams = o->capparams ? o->capparams * 2 : 8;
		o->params = realloc(o->params, sizeof *o->params * (size_t)o->capparams);
		if (o->params == NULL) {
			perror("flow");
			exit(EXIT_USER);
		}
	}
	o->params[o->nparams].name = strndup(arg, (size_t)(eq - arg));
	o->params[o->nparams].text = eq + 1;
	o->nparams++;
	return 0;
}

static void free_params(prog_opts *o)
{
	for (int i = 0; i < o->nparams; i++)
		free((char *)o->params[i].name);
	free(o->params);
}

/* Loads and checks FILE; prints diagnostics. Returns 0 or EXIT_USER. */
static int load(flow_loader *l, diag_ctx *d, const char *path, const prog_opts *o)
{
	diag_init(d);
	loader_init(l, d);
	int rc = loader_load(l, path, o->params, o->nparams);
	diag_sort(d);
	diag_print(d, stderr);
	return rc == 0 && d->nerrors == 0 ? 0 : EXIT_USER;
}

/* A compiled program from FILE: a plan (recognised by its magic bytes,
 * whatever its name) or a source file compiled now. Returns 0 or
 * EXIT_USER (diagnostics printed); *prog is freed by the caller, before
 * loader_fini/diag_fini. */
/* A plan keeps the sources it was compiled from: say so when one of them
 * has changed on disk since (the plan still runs what it holds). */
static void warn_stale_sources(const diag_ctx *d, const char *plan)
{
	for (int i = 0; i < d->nsrcs; i++) {
		const char *path = diag_source_path(d, i);
		size_t len;
		const char *text = diag_source_text(d, i, &len);
		uint8_t *disk;
		size_t dlen;
		if (!path || !text || plan_slurp(path, &disk, &dlen) != 0)
			continue; /* moved or deleted: nothing to compare */
		if (dlen != len || memcmp(disk, text, len) != 0)
			fprintf(stderr, "flow: warning: '%s' has changed since '%s' was compiled; "
			        "running the plan as compiled\n", path, plan);
		free(disk);
	}
}

static int read_program(flow_loader *l, diag_ctx *d, const char *path, const prog_opts *o,
                        bc_program **prog, dag **g, const char *cmd)
{
	char magic[PLAN_MAGIC_LEN];
	size_t got = 0;
	FILE *f = fopen(path, "rb");
	if (f) {
		got = fread(magic, 1, sizeof magic, f);
		fclose(f);
	}
	*prog = NULL;
	if (!plan_is_plan(magic, got)) {
		int rc = load(l, d, path, o);
		if (rc == 0) {
			*prog = compile_program(l);
			diag_sort(d);
			diag_print(d, stderr);
			if (*prog == NULL)
				rc = EXIT_USER;
		}
		return rc;
	}
	diag_init(d);
	loader_init(l, d);
	if (o->nparams) {
		fprintf(stderr, "flow %s: -p cannot change a plan: its params were fixed when '%s' was compiled\n", cmd, path);
		return EXIT_USAGE;
	}
	uint8_t *buf;
	size_t len;
	if (plan_slurp(path, &buf, &len) != 0) {
		fprintf(stderr, "flow: error: cannot read '%s': %s\n", path, strerror(errno));
		return EXIT_USER;
	}
	char *err = NULL;
	*prog = plan_read(buf, len, d, g, &err);
	free(buf);
	if (*prog)
		warn_stale_sources(d, path);
	if (*prog == NULL) {
		fprintf(stderr, "flow: error: '%s' is not a valid plan: %s\n", path, err);
		free(err);
		return EXIT_USER;
	}
	return 0;
}

/* read_program, then the driver lowered to a DAG (LANGUAGE.md section 6):
 * a compile error in the lowering is printed like any other. *g is freed
 * by the caller (dag_free) before the program. */
/* The DAG of a program read from source (a plan carries its own). */
static int lower_loaded(const bc_program *p, const prog_opts *o, dag **g)
{
	char *err = NULL;
	lower_opts lo = { .no_rewrite = o->no_rewrite };
	*g = lower_program(p, &lo, &err);
	if (!*g) {
		fprintf(stderr, "%s\n", err);
		free(err);
		return EXIT_USER;
	}
	return 0;
}

static int load_program(flow_loader *l, diag_ctx *d, const char *path, const prog_opts *o,
                        bc_program **prog, dag **g, const char *cmd)
{
	*g = NULL;
	int rc = read_program(l, d, path, o, prog, g, cmd);
	if (rc || *g)
		return rc; /* a plan carries its DAG */
	return lower_loaded(*prog, o, g);
}

/* Frees what load_program made (any of it may be NULL) and the options. */
static void unload_program(flow_loader *l, diag_ctx *d, bc_program *p, dag *g, prog_opts *o)
{
	dag_free(g);
	bc_program_free(p);
	loader_fini(l);
	diag_fini(d);
	free_params(o);
}

static int write_plan(const char *out, const bc_program *p, const dag *g, const prog_opts *o)
{
	sbuf b;
	char *err = NULL;
	sbuf_init(&b);
	if (plan_write(&b, p, o->params, o->nparams, g, &err) != 0) {
		fprintf(stderr, "flow: error: cannot write a plan: %s\n", err);
		free(err);
		sbuf_fini(&b);
		return EXIT_USER;
	}
	FILE *f = fopen(out, "wb");
	int ok = f && fwrite(b.data, 1, b.len, f) == b.len;
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, "flow: error: cannot write '%s': %s\n", out, strerror(errno));
		remove(out);
	}
	sbuf_fini(&b);
	return ok ? 0 : EXIT_USER;
}

/* ---- flow check --------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"param", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	prog_opts o = {0};
	int c, rc;
	while ((c = getopt_long(argc, argv, "hp:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("usage: flow check [-p name=value]... FILE\n\n"
			       "Parses and checks FILE and the files it imports; prints every\n"
			       "problem found as file:line:col with the source line.\n"
			       "Exit status 0 when there is none, 1 otherwise.\n");
			free_params(&o);
			return 0;
		case 'p':
			if ((rc = add_param(&o, "check", optarg)) != 0)
				return rc;
			break;
		default:
			free_params(&o);
			return usage_error("check", "%s", "bad option");
		}
	}
	if (optind != argc - 1) {
		free_params(&o);
		return usage_error("check", "%s", "expects exactly one FILE");
	}
	diag_ctx d;
	flow_loader l;
	bc_program *p = NULL;
	dag *g = NULL;
	/* the whole front end: compiled, and the driver lowered, so what
	 * `flow compile` would reject is reported here too */
	rc = load_program(&l, &d, argv[optind], &o, &p, &g, "check");
	unload_program(&l, &d, p, g, &o);
	return rc;
}

/* ---- flow compile ------------------------------------------------------- */

static int cmd_compile(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"param", required_argument, NULL, 'p'},
		{"dump-bytecode", no_argument, NULL, 'B'},
		{"output", required_argument, NULL, 'o'},
		{"stats", no_argument, NULL, 'T'},
		{"explain", no_argument, NULL, 'E'},
		{"no-rewrite", no_argument, NULL, 'N'},
		{"dump-dag", no_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	prog_opts o = {0};
	int c, rc, dump = 0, stats = 0, explain = 0, dump_dag = 0;
	const char *out = NULL;
	while ((c = getopt_long(argc, argv, "hp:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("usage: flow compile [--stats] [--explain] [--no-rewrite] [--dump-bytecode]\n"
			       "                    [-o PLAN] [-p name=value]... FILE\n\n"
			       "Checks FILE, compiles it to bytecode and lowers its driver to a DAG\n"
			       "(one node per task call, actor creation, method call, driver effect\n"
			       "and expression that needs a run-time value). FILE may also be a plan.\n\n"
			       "  --stats           print the DAG's size as one JSON object: nodes,\n"
			       "                    edges, depth, width, tasks, actors, rewrites...\n"
			       "  --explain         list each rewrite of a chain of @associative\n"
			       "                    calls into a balanced tree\n"
			       "  --no-rewrite      keep such chains as written\n"
			       "  --dump-dag        print the DAG's nodes, one per line: id, kind,\n"
			       "                    label, file:line, predecessors (~ ordering only)\n"
			       "  --dump-bytecode   print the bytecode of every task, fn, method\n"
			       "                    and of the driver\n"
			       "  -o, --output PLAN write the compiled program to the plan file PLAN\n"
			       "                    (`flow run PLAN` runs it as `flow run FILE` would)\n"
			       "  -p name=value     set a param\n");
			free_params(&o);
			return 0;
		case 'p':
			if ((rc = add_param(&o, "compile", optarg)) != 0)
				return rc;
			break;
		case 'B':
			dump = 1;
			break;
		case 'T':
			stats = 1;
			break;
		case 'E':
			explain = 1;
			break;
		case 'N':
			o.no_rewrite = true;
			break;
		case 'D':
			dump_dag = 1;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			free_params(&o);
			return usage_error("compile", "%s", "bad option");
		}
	}
	if (optind != argc - 1) {
		free_params(&o);
		return usage_error("compile", "%s", "expects exactly one FILE");
	}
	diag_ctx d;
	flow_loader l;
	bc_program *p;
	dag *g;
	rc = load_program(&l, &d, argv[optind], &o, &p, &g, "compile");
	if (rc == 0) {
		if (dump)
			bc_dump(p, stdout);
		if (explain)
			dag_explain(g, stdout);
		if (dump_dag)
			dag_dump(g, stdout);
		if (stats) {
			dag_stats st;
			dag_stats_of(g, &st);
			dag_stats_json(&st, stdout);
		}
		if (out)
			rc = write_plan(out, p, g, &o);
	}
	unload_program(&l, &d, p, g, &o);
	return rc;
}

/* ---- flow dot ------------------------------------------------------------ */

static int cmd_dot(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"param", required_argument, NULL, 'p'},
		{"output", required_argument, NULL, 'o'},
		{"format", required_argument, NULL, 'T'},
		{"rankdir", required_argument, NULL, 'R'},
		{"full", no_argument, NULL, 'F'},
		{"no-rewrite", no_argument, NULL, 'N'},
		{NULL, 0, NULL, 0},
	};
	prog_opts o = {0};
	dot_opts dopt = {NULL, false};
	const char *out = NULL, *fmt = NULL;
	int c, rc;
	while ((c = getopt_long(argc, argv, "hp:o:T:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("usage: flow dot [-T svg|png|pdf|dot] [-o OUT] [--rankdir TB|LR|BT|RL] [--full]\n"
			       "                [--no-rewrite] [-p name=value]... FILE\n\n"
			       "Writes the DAG that FILE (a .flow file or a plan) compiles to, in\n"
			       "Graphviz's DOT language: one node per task call (box), actor\n"
			       "creation (3-D box), method call (ellipse), driver effect (note)\n"
			       "and run-time expression (dashed oval), labelled with its name and\n"
			       "file:line; an actor's calls share a cluster; dashed grey edges only\n"
			       "order effects. Identical calls are drawn once, marked xN (docs/dot.md).\n\n"
			       "  -T, --format FMT  render through Graphviz to svg, png or pdf\n"
			       "                    (needs -o; 'dot' writes the DOT text)\n"
			       "  -o, --output OUT  write to OUT instead of stdout\n"
			       "  --rankdir DIR     layout direction (default TB, top to bottom)\n"
			       "  --full            one DOT node per DAG node: no collapsing\n"
			       "  --no-rewrite      the DAG before the rewrite of @associative chains\n"
			       "  -p name=value     set a param\n");
			free_params(&o);
			return 0;
		case 'p':
			if ((rc = add_param(&o, "dot", optarg)) != 0)
				return rc;
			break;
		case 'o':
			out = optarg;
			break;
		case 'T':
			fmt = optarg;
			break;
		case 'R':
			dopt.rankdir = optarg;
			break;
		case 'F':
			dopt.full = true;
			break;
		case 'N':
			o.no_rewrite = true;
			break;
		default:
			free_params(&o);
			return usage_error("dot", "%s", "bad option");
		}
	}
	if (optind != argc - 1) {
		free_params(&o);
		return usage_error("dot", "%s", "expects exactly one FILE");
	}
	if (dopt.rankdir && strcmp(dopt.rankdir, "TB") && strcmp(dopt.rankdir, "LR") &&
	    strcmp(dopt.rankdir, "BT") && strcmp(dopt.rankdir, "RL")) {
		free_params(&o);
		return usage_error("dot", "--rankdir expects TB, LR, BT or RL, got '%s'", dopt.rankdir);
	}
	if (fmt && strcmp(fmt, "svg") && strcmp(fmt, "png") && strcmp(fmt, "pdf") && strcmp(fmt, "dot")) {
		free_params(&o);
		return usage_error("dot", "-T expects svg, png, pdf or dot, got '%s'", fmt);
	}
	if (fmt && strcmp(fmt, "dot") && !out) {
		free_params(&o);
		return usage_error("dot", "-T %s needs -o OUT (a rendered image is not for a terminal)", fmt);
	}
	diag_ctx d;
	flow_loader l;
	bc_program *p;
	dag *g;
	rc = load_program(&l, &d, argv[optind], &o, &p, &g, "dot");
	if (rc == 0) {
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);
		if (!mem || dag_write_dot(g, &dopt, mem) != 0) {
			fprintf(stderr, "flow: error: cannot write the DAG as DOT\n");
			rc = EXIT_USER;
		}
		if (mem)
			fclose(mem);
		if (rc == 0 && fmt && strcmp(fmt, "dot")) {
			char *err = NULL;
			if (dot_render(buf, len, fmt, out, &err) != 0) {
				fprintf(stderr, "flow: error: %s\n", err ? err : "rendering failed");
				free(err);
				rc = EXIT_USER;
			}
		} else if (rc == 0) {
			FILE *f = out ? fopen(out, "wb") : stdout;
			int ok = f && fwrite(buf, 1, len, f) == len;
			if (f && f != stdout && fclose(f) != 0)
				ok = 0;
			if (!ok) {
				fprintf(stderr, "flow: error: cannot write '%s': %s\n", out ? out : "stdout",
				        strerror(errno));
				if (out)
					remove(out);
				rc = EXIT_USER;
			}
		}
		free(buf);
	}
	unload_program(&l, &d, p, g, &o);
	return rc;
}

/* ---- flow run ------------------------------------------------------------ */

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

/* An output file of flow run (--trace, --dot-out), opened before the run
 * so a path that cannot be written fails at once. NULL: message printed. */
static FILE *open_out(const char *opt, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "flow: error: cannot write %s file '%s': %s\n", opt, path, strerror(errno));
	return f;
}

/* Closes an output file; reports (naming it) a write that failed. */
static int close_out(FILE *f, const char *opt, const char *path, int wrote)
{
	int bad = wrote != 0 || ferror(f);
	if (fclose(f) != 0)
		bad = 1;
	if (bad) {
		fprintf(stderr, "flow: error: cannot write %s file '%s': %s\n", opt, path,
		        errno ? strerror(errno) : "write failed");
		return EXIT_USER;
	}
	return 0;
}

/* --resources gpu=2,disk=1: appended to names/amounts (names malloc'd). */
static int add_resources(const char *arg, char **names, double *amounts, int *n, int max)
{
	char *copy = strdup(arg), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		if (!eq || eq == tok || *n >= max) {
			rc = -1;
			break;
		}
		*eq = '\0';
		errno = 0;
		double a = strtod(eq + 1, &end);
		if (errno || end == eq + 1 || *end || !(a >= 0) || a > 1e15) {
			rc = -1;
			break;
		}
		int k = 0;
		while (k < *n && strcmp(names[k], tok))
			k++;
		if (k == *n)
			names[(*n)++] = strdup(tok);
		amounts[k] = a;
	}
	free(copy);
	return rc;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"param", required_argument, NULL, 'p'},
		{"serial", no_argument, NULL, 'S'},
		{"cpus", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 's'},
		{"quiet", no_argument, NULL, 'q'},
		{"trace", required_argument, NULL, 'T'},
		{"dot-out", required_argument, NULL, 'D'},
		{"stats", no_argument, NULL, 't'},
		{"object-store-memory", required_argument, NULL, 'M'},
		{"spill-dir", required_argument, NULL, 'd'},
		{"resources", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	enum { MAX_RES = 32 };
	char *res_names[MAX_RES];
	double res_amounts[MAX_RES];
	int nres = 0;
	prog_opts o = {0};
	store_opts sto = {0, NULL, 0};
	serial_opts so = {.seed = 0, .out = stdout, .err = stderr};
	bool serial = false, quiet = false, stats = false;
	const char *trace_path = NULL, *dot_path = NULL;
	uint64_t cpus = 0;
	int c, rc;
	while ((c = getopt_long(argc, argv, "hp:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("usage: flow run [--serial] [--cpus N] [--seed N] [--trace FILE] [--dot-out FILE]\n"
			       "                [--stats] [--object-store-memory SIZE] [--spill-dir DIR]\n"
			       "                [-q] [-p name=value]... FILE\n\n"
			       "Runs the program in FILE (a .flow file or a plan). The driver's prints go to stdout in\n"
			       "program order; prints inside tasks go to stderr, prefixed with\n"
			       "the task's name.\n\n"
			       "  --serial          run in one thread, top to bottom: tasks run\n"
			       "                    inline when called (the reference semantics)\n"
			       "  --cpus N          worker threads that run tasks (default: the\n"
			       "                    machine's cores)\n"
			       "  --seed N          seed of every random stream (default 0)\n"
			       "  -p name=value     set a param\n"
			       "  --trace FILE      write a Chrome trace of the run (open it in\n"
			       "                    Perfetto or chrome://tracing): one lane per thread\n"
			       "  --dot-out FILE    write the DAG as Graphviz DOT coloured by outcome\n"
			       "                    (done green, failed red, skipped grey, not run\n"
			       "                    white) with each node's run time\n"
			       "  --stats           at the end, on stderr: tasks run, retries, failed,\n"
			       "                    skipped, time per phase, peak memory\n"
			       "  --object-store-memory SIZE\n"
			       "                    memory for task results (64MiB, 2GiB, bytes;\n"
			       "                    default 30%% of RAM); past it the least recently\n"
			       "                    used results are spilled to disk (LMDB)\n"
			       "  --spill-dir DIR   where spilled results go (default $TMPDIR or\n"
			       "                    /tmp; a private directory, removed at exit)\n"
			       "  --resources name=amount[,...]\n"
			       "                    custom resources this node offers, for tasks'\n"
			       "                    @resources (a task that needs more than the node\n"
			       "                    offers is an error before anything runs)\n"
			       "  -q, --quiet       no progress line (there is one only when stderr\n"
			       "                    is a terminal)\n"
			       "\n"
			       "Exit status 0 on success, 1 if the program failed (every\n"
			       "failure is listed on stderr), 2 for bad usage.\n");
			free_params(&o);
			return 0;
		case 'p':
			if ((rc = add_param(&o, "run", optarg)) != 0)
				return rc;
			break;
		case 'S':
			serial = true;
			break;
		case 'c':
			if (parse_u64(optarg, &cpus) != 0 || cpus < 1 || cpus > 1024) {
				free_params(&o);
				return usage_error("run", "--cpus expects an integer from 1 to 1024, got '%s'", optarg);
			}
			break;
		case 's':
			if (parse_u64(optarg, &so.seed) != 0) {
				free_params(&o);
				return usage_error("run", "--seed expects a non-negative integer, got '%s'", optarg);
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'T':
			trace_path = optarg;
			break;
		case 'D':
			dot_path = optarg;
			break;
		case 't':
			stats = true;
			break;
		case 'M':
			if (parse_size(optarg, &sto.memory_cap) != 0 || sto.memory_cap == 0) {
				free_params(&o);
				return usage_error("run", "--object-store-memory expects a size such as 64MiB, "
				                   "2GiB or 1000000, got '%s'", optarg);
			}
			break;
		case 'd':
			sto.spill_dir = optarg;
			break;
		case 'r':
			if (add_resources(optarg, res_names, res_amounts, &nres, MAX_RES) != 0) {
				free_params(&o);
				for (int k = 0; k < nres; k++)
					free(res_names[k]);
				return usage_error("run", "--resources expects name=amount[,name=amount...] "
				                   "with amounts >= 0, got '%s'", optarg);
			}
			break;
		default:
			free_params(&o);
			return usage_error("run", "%s", "bad option");
		}
	}
	if (optind != argc - 1) {
		free_params(&o);
		return usage_error("run", "%s", "expects exactly one FILE");
	}
	diag_ctx d;
	flow_loader l;
	bc_program *p;
	dag *g = NULL;
	obs_phases ph = {0, 0, 0};
	uint64_t t = obs_now_ns();
	/* load_program's two steps, timed apart for --stats */
	rc = read_program(&l, &d, argv[optind], &o, &p, &g, "run");
	ph.load = obs_now_ns() - t;
	t = obs_now_ns();
	if (rc == 0 && !g)
		rc = lower_loaded(p, &o, &g);
	ph.lower = obs_now_ns() - t;
	FILE *trace_f = NULL, *dot_f = NULL;
	if (rc == 0 && trace_path && !(trace_f = open_out("--trace", trace_path)))
		rc = EXIT_USER;
	if (rc == 0 && dot_path && !(dot_f = open_out("--dot-out", dot_path)))
		rc = EXIT_USER;
	/* watched only when asked: the run's hot path stays as it was */
	FILE *progress = !quiet && isatty(STDERR_FILENO) ? stderr : NULL;
	run_obs *obs = rc == 0 && (trace_f || dot_f || stats || progress) ? obs_new(g, progress) : NULL;
	so.obs = obs;
	store *st = NULL;
	if (rc == 0) {
		char *err = NULL;
		if (!sto.memory_cap)
			sto.memory_cap = store_default_memory();
		if (!(st = store_open(&sto, &err))) {
			fprintf(stderr, "flow: error: object store: %s\n", err ? err : "cannot open");
			free(err);
			rc = EXIT_USER;
		}
	}
	so.store = st;
	{
		/* what cluster.nodes()/resources() report: this one node */
		long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		double ncpus = serial ? 1 : cpus ? (double)cpus : (double)(ncpu > 0 ? ncpu : 1);
		stdlib_set_local_node(ncpus, pages > 0 && psize > 0 ? (double)pages * (double)psize : 0,
		                      nres, (const char *const *)res_names, res_amounts);
	}
	t = obs_now_ns();
	if (rc == 0 && serial) {
		rc = serial_run_dag(g, &so) == 0 ? 0 : EXIT_USER;
	} else if (rc == 0) {
		parallel_opts po = {.seed = so.seed, .out = stdout, .err = stderr, .cpus = (int)cpus,
		                    .quiet = quiet, .obs = obs, .store = st, .nresources = nres,
		                    .res_names = (const char *const *)res_names, .res_amounts = res_amounts};
		rc = parallel_run_dag(g, &po) == 0 ? 0 : EXIT_USER;
	}
	ph.run = obs_now_ns() - t;
	fflush(stdout);
	if (trace_f && !obs) { /* nothing ran: no file */
		fclose(trace_f);
		remove(trace_path);
	} else if (trace_f && close_out(trace_f, "--trace", trace_path, obs_write_trace(obs, trace_f))) {
		rc = EXIT_USER;
	}
	if (dot_f && !obs) {
		fclose(dot_f);
		remove(dot_path);
	} else if (dot_f && close_out(dot_f, "--dot-out", dot_path, obs_write_dot(obs, NULL, dot_f))) {
		rc = EXIT_USER;
	}
	if (stats && obs)
		obs_print_stats(obs, &ph, stderr);
	if (stats && st) {
		store_stats ss;
		store_get_stats(st, &ss);
		fprintf(stderr, "  object store: peak %.1f MiB in memory (cap %.1f MiB); spilled %llu objects, "
		        "%.1f MiB; restored %llu objects, %.1f MiB\n",
		        (double)ss.mem_peak / 1048576.0, (double)sto.memory_cap / 1048576.0,
		        (unsigned long long)ss.spilled_objects, (double)ss.spilled_bytes / 1048576.0,
		        (unsigned long long)ss.restored_objects, (double)ss.restored_bytes / 1048576.0);
	}
	store_close(st);
	for (int k = 0; k < nres; k++)
		free(res_names[k]);
	obs_free(obs);
	fflush(stdout);
	unload_program(&l, &d, p, g, &o);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("flow 0.1.0\n");
		return 0;
	}
	vm_types_init();
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(cmd, commands[i].name) == 0) {
			optind = 1; /* getopt over argv[1..]: the command is argv[0] */
			return commands[i].fn(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "flow: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
