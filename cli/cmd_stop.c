/* cmd_stop.c - `flow stop`: stops the daemons this machine started. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cmd_cluster.h"
#include "executor/cluster/daemon.h"

#define STOP_MS 10000

int cmd_stop(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			printf("usage: flow stop\n"
			       "\n"
			       "Stops the Flow daemons (heads and workers) started on this machine by\n"
			       "this user: each one listed in ~/.flow/run/ gets SIGTERM (a worker leaves\n"
			       "its cluster cleanly); after %d s one still running is killed.\n"
			       "Exit status: 0 done (also when none ran), 1 an error, 2 bad usage.\n",
			       STOP_MS / 1000);
			return 0;
		}
		fprintf(stderr, "flow stop: unknown option '%s'\nTry 'flow stop --help'.\n",
		        argv[optind - 1]);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "flow stop: unexpected argument '%s'\nTry 'flow stop --help'.\n", argv[optind]);
		return 2;
	}
	verr e;
	int n = daemon_stop_all(STOP_MS, &e);
	if (n < 0) {
		fprintf(stderr, "flow stop: %s\n", e.msg);
		return 1;
	}
	if (n == 0)
		printf("flow stop: no Flow daemon is running on this machine\n");
	return 0;
}
