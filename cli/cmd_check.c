/* cmd_check.c - `flow check FILE`: the whole front end, no output but
 * diagnostics. */
#include "cli/cli.h"
#include "compiler/check_files.h"

/* X(ID, SHORT, LONG, ARG, REPEAT, HELP): see cli.h */
#define CHECK_OPTS(X) \
	X(PARAM, 'p', "param", "name=value", true, "set a param (a list or dict param: a Flow\nliteral, -p 'files=[\"a.txt\", \"b.txt\"]')") \
	X(PARAMS_FILE, 0, "params-file", "FILE", false, "params from a JSON object in FILE\n({\"name\": value, ...}); -p overrides them") \
	X(STATIC, 0, "static", NULL, false, \
	  "a driver that would continue at run time is an\nerror (the whole DAG must be known ahead)")

CLI_COMMAND(check, CHECK_OPTS,
	.operand = "FILE",
	.about = "Parses and checks FILE and the files it imports, compiles it and lowers\n"
	         "its driver to a DAG; prints every problem found as file:line:col with\n"
	         "the source line, and a note naming the statement from which the driver\n"
	         "runs at run time. FILE may be a plan; '-' reads the program from stdin.\n"
	         "Warns where the driver hands one literal path to a task that writes\n"
	         "files and to one that reads them with nothing ordering the two calls.\n"
	         "Exit status 0 when there is no error (warnings allowed), 1 otherwise.");

static int on_opt(void *ctx, int id, const char *arg)
{
	cli_prog *cp = ctx;
	switch (id) {
	case OPT_PARAM: return cli_add_param(cp, "check", arg);
	case OPT_PARAMS_FILE: return cli_add_params_file(cp, "check", arg);
	case OPT_STATIC: cp->static_only = true; break;
	}
	return 0;
}

int cmd_check(int argc, char **argv)
{
	cli_prog cp = {0};
	const char *file;
	int rc = cli_parse(&spec, argc, argv, on_opt, &cp, &file);
	/* the whole front end: compiled, and the driver lowered, so what
	 * `flow compile` would reject is reported here too */
	if (rc == 0)
		rc = cli_load(&cp, file, "check");
	if (rc == 0) {
		/* a file one task writes and another reads, unordered */
		check_file_races(cp.g, &cp.d, stderr, 10);
		cli_explain_dynamic(cp.g, stdout);
	}
	cli_prog_free(&cp);
	return rc == CLI_DONE ? 0 : rc;
}
