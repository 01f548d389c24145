/* cmd_compile.c - `flow compile FILE`: the DAG's figures, the rewrites,
 * dumps, and the plan file (-o). */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "compiler/plan.h"
#include "compiler/rewrite.h"

/* X(ID, SHORT, LONG, ARG, REPEAT, HELP): see cli.h */
#define COMPILE_OPTS(X) \
	X(STATS, 0, "stats", NULL, false, \
	  "print the DAG's size as one JSON object: nodes,\nedges, depth, width, tasks, actors, rewrites...") \
	X(STATS_JSON, 0, "stats-json", "FILE", false, \
	  "write the same figures as a --stats-json object\n(docs/cli.md) to FILE ('-': stdout)") \
	X(EXPLAIN, 0, "explain", NULL, false, \
	  "list each rewrite of a chain of @associative\ncalls into a balanced tree, and the statement\nfrom which the driver runs at run time (section 6\nof the language)") \
	X(NO_REWRITE, 0, "no-rewrite", NULL, false, "keep such chains as written") \
	X(STATIC, 0, "static", NULL, false, \
	  "a driver that would run partly at run time is\nan error instead") \
	X(DUMP_DAG, 0, "dump-dag", NULL, false, \
	  "print the DAG's nodes, one per line: id, kind,\nlabel, file:line, predecessors (~ ordering only)") \
	X(DUMP_BYTECODE, 0, "dump-bytecode", NULL, false, \
	  "print the bytecode of every task, fn, method\nand of the driver") \
	X(OUTPUT, 'o', "output", "PLAN", false, \
	  "write the compiled program to the plan file PLAN\n(`flow run PLAN` runs it as `flow run FILE` would)") \
	X(PARAM, 'p', "param", "name=value", true, "set a param (a list or dict param: a Flow\nliteral, -p 'files=[\"a.txt\", \"b.txt\"]')") \
	X(PARAMS_FILE, 0, "params-file", "FILE", false, "params from a JSON object in FILE\n({\"name\": value, ...}); -p overrides them")

CLI_COMMAND(compile, COMPILE_OPTS,
	.operand = "FILE",
	.about = "Checks FILE, compiles it to bytecode and lowers its driver to a DAG\n"
	         "(one node per task call, actor creation, method call, driver effect\n"
	         "and expression that needs a run-time value). FILE may also be a plan;\n"
	         "'-' reads the program from stdin.");

typedef struct compile_args {
	cli_prog prog;
	bool stats, explain, dump_dag, dump_bytecode;
	const char *out, *stats_json;
} compile_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	compile_args *a = ctx;
	switch (id) {
	case OPT_STATS: a->stats = true; break;
	case OPT_STATS_JSON: a->stats_json = arg; break;
	case OPT_EXPLAIN: a->explain = true; break;
	case OPT_NO_REWRITE: a->prog.no_rewrite = true; break;
	case OPT_STATIC: a->prog.static_only = true; break;
	case OPT_DUMP_DAG: a->dump_dag = true; break;
	case OPT_DUMP_BYTECODE: a->dump_bytecode = true; break;
	case OPT_OUTPUT: a->out = arg; break;
	case OPT_PARAM: return cli_add_param(&a->prog, "compile", arg);
	case OPT_PARAMS_FILE: return cli_add_params_file(&a->prog, "compile", arg);
	}
	return 0;
}

static int write_plan(const char *out, const cli_prog *cp)
{
	sbuf b;
	char *err = NULL;
	sbuf_init(&b);
	if (plan_write(&b, cp->p, cp->params, cp->nparams, cp->g, &err) != 0) {
		fprintf(stderr, "flow: error: cannot write a plan: %s\n", err);
		free(err);
		sbuf_fini(&b);
		return EXIT_USER;
	}
	/* A regular file (or a new one) is replaced by renaming a complete
	 * new file over it: a plan being loaded meanwhile is mapped
	 * (plan_map) and must not be cut short under its reader. Anything
	 * else (/dev/stdout, a pipe, a symlink: through it) is written in place. */
	struct stat st;
	char *tmp = NULL;
	if ((lstat(out, &st) != 0 || S_ISREG(st.st_mode)) && asprintf(&tmp, "%s.XXXXXX", out) < 0)
		tmp = NULL;
	int tfd = tmp ? mkstemp(tmp) : -1;
	if (tmp && tfd < 0) {
		free(tmp); /* e.g. a directory we may not create in: write in place */
		tmp = NULL;
	}
	if (tfd >= 0) {
		mode_t um = umask(0);
		umask(um);
		(void)fchmod(tfd, 0666 & ~um); /* as fopen would make it */
	}
	FILE *f = tfd >= 0 ? fdopen(tfd, "wb") : fopen(out, "wb");
	int ok = f && fwrite(b.data, 1, b.len, f) == b.len;
	if (f && fclose(f) != 0)
		ok = 0;
	else if (!f && tfd >= 0)
		close(tfd);
	if (ok && tmp && rename(tmp, out) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, "flow: error: cannot write '%s': %s\n", out, strerror(errno));
		remove(tmp ? tmp : out);
	}
	free(tmp);
	sbuf_fini(&b);
	return ok ? 0 : EXIT_USER;
}

/* What was asked of the loaded program, in a fixed order. */
static int report(const compile_args *a, FILE *json)
{
	const cli_prog *cp = &a->prog;
	if (a->dump_bytecode)
		bc_dump(cp->p, stdout);
	if (a->explain) {
		dag_explain(cp->g, stdout);
		cli_explain_dynamic(cp->g, stdout);
	}
	if (a->dump_dag)
		dag_dump(cp->g, stdout);
	if (a->stats) {
		dag_stats st;
		dag_stats_of(cp->g, &st);
		dag_stats_json(&st, stdout);
	}
	int rc = 0;
	if (json) {
		fflush(stdout);
		fputs("{\"schema\": 1, \"command\": \"compile\", \"dag\": ", json);
		cli_json_dag(cp->g, json);
		fputs("}\n", json);
		rc = cli_close_out(json, "--stats-json", a->stats_json, 0);
	}
	if (a->out && rc == 0)
		rc = write_plan(a->out, cp);
	return rc;
}

int cmd_compile(int argc, char **argv)
{
	compile_args a = {0};
	const char *file;
	FILE *json = NULL;
	int rc = cli_parse(&spec, argc, argv, on_opt, &a, &file);
	if (rc == 0 && a.stats_json && !(json = cli_open_out("--stats-json", a.stats_json, true)))
		rc = EXIT_USER;
	if (rc == 0)
		rc = cli_load(&a.prog, file, "compile");
	if (rc == 0)
		rc = report(&a, json);
	else if (json)
		cli_drop_out(json, a.stats_json);
	cli_prog_free(&a.prog);
	return rc == CLI_DONE ? 0 : rc;
}
