/* cmd_cluster.h - the cluster's commands, each in its own file:
 * cmd_start.c, cmd_status.c, cmd_stop.c. main.c lists them beside its own.
 */
#ifndef FLOW_CMD_CLUSTER_H
#define FLOW_CMD_CLUSTER_H

#define CLUSTER_CMD_LIST(X) \
	X(start,  "start a head (--head) or join a worker to one (--address HOST:PORT)") \
	X(status, "show a cluster's nodes and jobs (--address HOST:PORT, --json)") \
	X(stop,   "stop the Flow daemons this machine started")

/* argv[0] is the command's name; getopt starts at optind = 1. */
int cmd_start(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_stop(int argc, char **argv);

#endif
