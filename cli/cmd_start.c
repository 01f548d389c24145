/* cmd_start.c - `flow start`: a head, or a worker joining one. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd_cluster.h"
#include "executor/cluster/auth.h"
#include "executor/cluster/daemon.h"
#include "executor/cluster/head.h"
#include "executor/cluster/transport.h"
#include "executor/cluster/worker.h"
#include "executor/size.h"
#include "executor/store.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void start_help(FILE *out)
{
	fprintf(out,
	        "usage: flow start --head [--port 6379] [OPTIONS]\n"
	        "       flow start --address HOST:PORT [--node-ip IP] [OPTIONS]\n"
	        "\n"
	        "Starts this machine's Flow daemon: a head (the cluster's scheduler and\n"
	        "membership, and a node itself), or a worker that joins a head. Without\n"
	        "--block it runs in the background and returns once the head accepts\n"
	        "connections or the worker has joined; logs go to ~/.flow/logs/.\n"
	        "\n"
	        "options:\n"
	        "  --head              start a head\n"
	        "  --port N            the head's port (default 6379)\n"
	        "  --address HOST:PORT join the head there as a worker\n"
	        "  --node-ip IP        the address to advertise (default, for a worker: the\n"
	        "                      address it reached the head from; for a head: its\n"
	        "                      first non-loopback IPv4 address)\n"
	        "  --cpus N            CPUs this node offers (default: all online; a head\n"
	        "                      with 0 runs no tasks itself)\n"
	        "  --resources name=amount[,...]\n"
	        "                      custom resources this node offers\n"
	        "  --object-store-memory SIZE\n"
	        "                      this node's object store cap (64MiB, 2GiB; default\n"
	        "                      30%% of RAM)\n"
	        "  --spill-dir DIR     where this node spills objects (default $TMPDIR)\n"
	        "  --token-file FILE   the cluster token (default: $FLOW_TOKEN, else\n"
	        "                      ~/.flow/token; a head creates it if missing)\n"
	        "  --block             stay in the foreground; SIGTERM/SIGINT stop cleanly\n"
	        "  -h, --help          this help\n"
	        "\n"
	        "Every connection is authenticated with the cluster token (docs/wire.md).\n"
	        "Exit status: 0 started, 1 it could not start or join, 2 bad usage.\n");
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "flow start: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'flow start --help'.\n");
	return 2;
}

/* name=amount[,...]: names [A-Za-z_][A-Za-z0-9_]*, amounts > 0. */
static int check_resources(const char *s)
{
	while (*s) {
		const char *p = s;
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return -1;
		while (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9'))
			p++;
		if (*p != '=')
			return -1;
		char *end;
		double v = strtod(p + 1, &end);
		if (end == p + 1 || !(v > 0) || (*end && *end != ','))
			return -1;
		s = *end ? end + 1 : end;
		if (*end == ',' && !*s)
			return -1;
	}
	return 0;
}

struct ready_ctx {
	int fd;
	int block;
};

static void on_ready(void *arg, const char *text)
{
	struct ready_ctx *r = arg;
	if (r->block) {
		fputs(text, stdout);
		fflush(stdout);
	} else {
		daemon_ready(&r->fd, 1, text);
	}
}

int cmd_start(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"head", no_argument, NULL, 'H'},
		{"address", required_argument, NULL, 'a'},
		{"port", required_argument, NULL, 'P'},
		{"node-ip", required_argument, NULL, 'i'},
		{"cpus", required_argument, NULL, 'c'},
		{"resources", required_argument, NULL, 'r'},
		{"object-store-memory", required_argument, NULL, 'm'},
		{"spill-dir", required_argument, NULL, 's'},
		{"token-file", required_argument, NULL, 't'},
		{"block", no_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int head = 0, block = 0, port = 6379, port_set = 0, c;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const char *address = NULL, *node_ip = NULL, *resources = "", *spill = "", *token_file = NULL;
	uint64_t store_cap = store_default_memory();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'H': head = 1; break;
		case 'a': address = optarg; break;
		case 'P':
			port = (int)strtol(optarg, &end, 10);
			if (*end || port <= 0 || port > 65535)
				return bad("--port expects a port number (1-65535), not '%s'", optarg);
			port_set = 1;
			break;
		case 'i': node_ip = optarg; break;
		case 'c':
			cpus = strtol(optarg, &end, 10);
			if (*end || cpus < 0 || cpus > 65536)
				return bad("--cpus expects a number of CPUs (0 on a head: it runs no tasks), not '%s'",
				           optarg);
			break;
		case 'r':
			if (check_resources(optarg) != 0)
				return bad("--resources expects name=amount[,name=amount...] with positive "
				           "amounts, not '%s'", optarg);
			resources = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &store_cap) != 0 || store_cap == 0)
				return bad("--object-store-memory expects a size such as 512MiB or 2GiB, not '%s'",
				           optarg);
			break;
		case 's': spill = optarg; break;
		case 't': token_file = optarg; break;
		case 'b': block = 1; break;
		case 'h': start_help(stdout); return 0;
		default:
			return bad("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (head == !!address)
		return bad("%s", head ? "give --head or --address, not both"
		                      : "give --head (start a head) or --address HOST:PORT (join one)");
	if (address && port_set)
		return bad("%s", "--port is the head's port; a worker listens on a port of its own");
	if (address && cpus == 0)
		return bad("%s", "--cpus 0 is for a head that runs no tasks; a worker needs CPUs");
	if (address) {
		char url[300];
		if (wire_url(address, url, sizeof url) != 0)
			return bad("--address expects HOST:PORT, not '%s'", address);
	}

	const char *role = head ? "head" : "worker";
	auth_token tok;
	verr e;
	if (auth_token_load(&tok, token_file, head, &e) != 0) {
		fprintf(stderr, "flow start: %s\n", e.msg);
		return 1;
	}
	struct ready_ctx rc = {.fd = -1, .block = block};
	if (!block) {
		char log[600];
		int st = daemon_start(role, &rc.fd, log, sizeof log);
		if (st >= 0) {
			auth_token_wipe(&tok);
			return st;
		}
	}
	char name[32];
	snprintf(name, sizeof name, "flow %s", role);
	wire_log_set_name(name);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: waits return to see the flag */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	char pidfile[800] = "";
	if (daemon_pidfile_write(role, pidfile, sizeof pidfile, &e) != 0) {
		if (!block)
			daemon_ready(&rc.fd, 0, e.msg);
		fprintf(stderr, "flow start: %s\n", e.msg);
		auth_token_wipe(&tok);
		return 1;
	}
	struct node_opts o = {
		.address = address, .port = port, .node_ip = node_ip, .cpus = (int)cpus,
		.resources = resources, .store_cap = store_cap, .spill_dir = spill, .token = &tok,
		.stop = &stop_flag, .ready = on_ready, .ready_arg = &rc,
	};
	int status = head ? head_run(&o, &e) : worker_run(&o, &e);
	if (status != 0) {
		if (block) {
			fprintf(stderr, "flow start: %s\n", e.msg);
		} else {
			daemon_ready(&rc.fd, 0, e.msg); /* if it failed before it was ready */
			wire_log("%s", e.msg);
		}
	} else {
		wire_log("stopped");
	}
	daemon_pidfile_remove(pidfile);
	auth_token_wipe(&tok);
	return status ? 1 : 0;
}
