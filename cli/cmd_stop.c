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
	(void)id; /* OPT_TIMEOUT, the only one */
	return cli_parse_long("stop", "--timeout", arg, 0, 3600, "seconds (0-3600)", ctx);
}

int cmd_stop(int argc, char **argv)
{
	long seconds = 10;
	int rc;
	if (!cli_parse_only(&spec, argc, argv, on_opt, &seconds, &rc))
		return rc;
	int ms = (int)seconds * 1000;
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
