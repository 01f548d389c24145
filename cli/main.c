/* main.c - the `flow` command: one binary, one subcommand per verb, each
 * in its own cli/cmd_NAME.c. This file dispatches, prints the general
 * help and the version.
 *
 * Exit status: 0 success, 1 an error in the user's program or data,
 * 2 bad usage (LANGUAGE.md, ARCHITECTURE.md).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lang/vm.h"

/* The subcommands, listed once: name and one-line summary. Each has
 * `int cmd_NAME(int argc, char **argv)` in cli/cmd_NAME.c (argv[0] is
 * the command's name; it returns the exit status), which cli/meson.build
 * compiles by reading this list: one X per line. */
#define CMD_LIST(X) \
	X(cache,   "show or empty the cache of task results that run --resume reads") \
	X(check,   "parse and check a program; print diagnostics") \
	X(compile, "compile a program to a DAG and a plan (--stats, --explain, -o PLAN)") \
	X(dot,     "write the program's DAG as Graphviz DOT, or render it (-T svg)") \
	X(run,     "run a program") \
	X(start,   "start a head (--head) or join a worker to one (--address HOST:PORT)") \
	X(status,  "show a cluster's nodes and jobs (--address HOST:PORT, --json)") \
	X(stop,    "stop the Flow daemons this machine started")

#define X(name, summary) int cmd_##name(int argc, char **argv);
CMD_LIST(X)
#undef X

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
#define X(name, summary) {#name, cmd_##name, summary},
	CMD_LIST(X)
#undef X
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: flow COMMAND [OPTIONS] [FILE]\n"
	        "       flow help [COMMAND]\n"
	        "       flow --version\n"
	        "\n"
	        "Flow compiles dataflow pipelines written in .flow files and runs them.\n"
	        "FILE may be a plan (flow compile -o), and '-' reads the program from stdin.\n"
	        "\n"
	        "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
	        "  %-9s %s\n"
	        "\n"
	        "options:\n"
	        "  -h, --help     print this help\n"
	        "  --version      print flow's version\n"
	        "\n"
	        "`flow COMMAND --help` (or `flow help COMMAND`) describes a command's options.\n"
	        "The language, every built-in and module function: docs/reference.md.\n"
	        "Exit status: 0 success, 1 an error in the program or its data, 2 bad usage.\n",
	        "help", "this help, or a command's (flow help run)");
}

static int find_command(const char *name)
{
	for (int i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return i;
	return -1;
}

static int unknown_command(const char *name)
{
	fprintf(stderr, "flow: unknown command '%s'\n", name);
	usage(stderr);
	return EXIT_USAGE;
}

/* `flow help [COMMAND]`: the command's own --help. */
static int help(int argc, char **argv)
{
	if (argc < 3) {
		usage(stdout);
		return 0;
	}
	if (argc > 3) {
		fprintf(stderr, "flow help: expects at most one COMMAND\nTry 'flow --help'.\n");
		return EXIT_USAGE;
	}
	int i = find_command(argv[2]);
	if (i < 0)
		return unknown_command(argv[2]);
	char *hargv[] = {argv[2], "--help", NULL};
	return commands[i].fn(2, hargv);
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
	int rc = dispatch(argc, argv);
	if (cli_close_stdout() != 0 && rc == 0)
		rc = EXIT_USER;
	return rc;
}

static int dispatch(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "help") == 0)
		return help(argc, argv);
	if (strcmp(cmd, "--version") == 0) {
		printf("flow %s\n", FLOW_VERSION); /* meson's project version */
		return 0;
	}
	int i = find_command(cmd);
	if (i < 0)
		return unknown_command(cmd);
	vm_types_init();
	return commands[i].fn(argc - 1, argv + 1);
}
