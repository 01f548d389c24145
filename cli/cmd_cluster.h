/* cmd_cluster.h - the cluster's commands, each in its own file:
 * cmd_start.c, cmd_status.c, cmd_stop.c. main.c's CMD_LIST names them.
 */
#ifndef FLOW_CMD_CLUSTER_H
#define FLOW_CMD_CLUSTER_H

/* argv[0] is the command's name; getopt starts at optind = 1. */
int cmd_start(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_stop(int argc, char **argv);

#endif
