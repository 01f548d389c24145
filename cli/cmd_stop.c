/* cmd_stop.c - `flow stop`: stops the daemons this machine started. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "executor/cluster/daemon.h"

/* X(ID, SHORT, LONG, ARG, REPEAT, HELP): see cli.h */
#define STOP_OPTS(X) \
	X(TIMEOUT, 0, "timeout", "SECONDS", false, \
	  "how long a daemon has to stop before it is killed\n(default 10)")

CLI_COMMAND(stop, STOP_OPTS,
	.operand = NULL,
	.about = "Stops the Flow daemons (heads and workers) started on this machine by\n"
	         "this user: each one listed in ~/.flow/run/ gets SIGTERM (a worker leaves\n"
	         "its cluster cleanly); after --timeout seconds one still running is killed.",
	.footer = "Exit status: 0 done (also when none ran), 1 an error, 2 bad usage.");

static int on_opt(void *ctx, int id, const char *arg)
{
	int *ms = ctx;
	char *end;
	(void)id; /* OPT_TIMEOUT, the only one */
	long s = strtol(arg, &end, 10);
	if (*end || end == arg || s < 0 || s > 3600)
		return cli_usage_error("stop", "--timeout expects seconds (0-3600), not '%s'", arg);
	*ms = (int)s * 1000;
	return 0;
}

int cmd_stop(int argc, char **argv)
{
	int ms = 10000;
	const char *none;
	int rc = cli_parse(&spec, argc, argv, on_opt, &ms, &none);
	if (rc != 0)
		return rc == CLI_DONE ? 0 : rc;
	verr e;
	int n = daemon_stop_all(ms, &e);
	if (n < 0) {
		fprintf(stderr, "flow stop: %s\n", e.msg);
		return 1;
	}
	if (n == 0)
		printf("flow stop: no Flow daemon is running on this machine\n");
	return 0;
}
