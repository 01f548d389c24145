/* cmd_start.c - `flow start`: a head, or a worker joining one. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
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
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED); /* read by other threads */
}

/* X(ID, SHORT, LONG, ARG, REPEAT, HELP): see cli.h */
#define START_OPTS(X) \
	X(HEAD, 0, "head", NULL, false, "start a head") \
	X(PORT, 0, "port", "N", false, "the head's port (default 6379)") \
	X(ADDRESS, 0, "address", "HOST:PORT", false, "join the head there as a worker") \
	X(NODE_IP, 0, "node-ip", "IP", false, \
	  "the address to advertise (default, for a worker: the\n" \
	  "address it reached the head from; for a head: its\n" \
	  "first non-loopback IPv4 address)") \
	X(CPUS, 0, "cpus", "N", false, \
	  "CPUs this node offers (default: all online; a head\nwith 0 runs no tasks itself)") \
	X(RESOURCES, 0, "resources", "name=amount[,...]", false, \
	  "custom resources this node offers") \
	X(OBJECT_STORE_MEMORY, 0, "object-store-memory", "SIZE", false, \
	  "this node's object store cap (64MiB, 2GiB; default\n30% of RAM)") \
	X(SPILL_DIR, 0, "spill-dir", "DIR", false, "where this node spills objects (default $TMPDIR)") \
	X(TOKEN_FILE, 0, "token-file", "FILE", false, \
	  "the cluster token (default: $FLOW_TOKEN, else\n~/.flow/token; a head creates it if missing)") \
	X(REJOIN_TIMEOUT, 0, "rejoin-timeout", "SECONDS", false, \
	  "a worker that loses a head it cannot tell is gone\n" \
	  "(silence, a partition, fenced) tries to join it again\n" \
	  "as a new node this long (default 60; 0: exit at once)") \
	X(BLOCK, 0, "block", NULL, false, "stay in the foreground; SIGTERM/SIGINT stop cleanly") \
	CLI_TLS_OPTS(X)

CLI_COMMAND(start, START_OPTS,
	.operand = NULL,
	.about = "Starts this machine's Flow daemon: a head (flow start --head [--port N]; the\n"
	         "cluster's scheduler and membership, and a node itself), or a worker that\n"
	         "joins a head (flow start --address HOST:PORT). Without --block it runs in\n"
	         "the background and returns once the head accepts connections or the\n"
	         "worker has joined; logs go to ~/.flow/logs/.",
	.footer = "Every connection is authenticated with the cluster token (docs/wire.md).\n"
	          "Exit status: 0 started, 1 it could not start or join, 2 bad usage.");

static int bad(const char *fmt, const char *arg)
{
	return cli_usage_error("start", fmt, arg);
}

typedef struct start_args {
	int head, block, port, port_set, rejoin_set;
	long cpus, rejoin_s;
	const char *address, *node_ip, *resources, *spill, *token_file;
	uint64_t store_cap;
	cli_tls tls;
} start_args;

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

static int on_opt(void *ctx, int id, const char *arg)
{
	start_args *a = ctx;
	switch (id) {
	case OPT_HEAD: a->head = 1; break;
	case OPT_ADDRESS: a->address = arg; break;
	case OPT_PORT: {
		long port;
		if (cli_parse_long("start", "--port", arg, 1, 65535, "a port number (1-65535)", &port))
			return EXIT_USAGE;
		a->port = (int)port;
		a->port_set = 1;
		break;
	}
	case OPT_NODE_IP: a->node_ip = arg; break;
	case OPT_CPUS:
		return cli_parse_long("start", "--cpus", arg, 0, 65536,
		                      "a number of CPUs (0 on a head: it runs no tasks)", &a->cpus);
	case OPT_RESOURCES:
		if (check_resources(arg) != 0)
			return bad("--resources expects name=amount[,name=amount...] with positive "
			           "amounts, not '%s'", arg);
		a->resources = arg;
		break;
	case OPT_OBJECT_STORE_MEMORY:
		if (size_parse(arg, &a->store_cap) != 0 || a->store_cap == 0)
			return bad("--object-store-memory expects a size such as 512MiB or 2GiB, not '%s'",
			           arg);
		break;
	case OPT_SPILL_DIR: a->spill = arg; break;
	case OPT_TOKEN_FILE: a->token_file = arg; break;
	case OPT_REJOIN_TIMEOUT:
		a->rejoin_set = 1;
		return cli_parse_long("start", "--rejoin-timeout", arg, 0, 86400,
		                      "a number of seconds (0-86400)", &a->rejoin_s);
	case OPT_BLOCK: a->block = 1; break;
	case OPT_TLS_CERT: a->tls.cert = arg; break;
	case OPT_TLS_KEY: a->tls.key = arg; break;
	case OPT_TLS_CA: a->tls.ca = arg; break;
	}
	return 0;
}

int cmd_start(int argc, char **argv)
{
	start_args sa0 = {
		.port = 6379, .cpus = sysconf(_SC_NPROCESSORS_ONLN), .resources = "", .spill = "",
		.store_cap = store_default_memory(), .rejoin_s = 60,
	};
	int prc;
	if (!cli_parse_only(&spec, argc, argv, on_opt, &sa0, &prc))
		return prc;
	int head = sa0.head, block = sa0.block, port = sa0.port, port_set = sa0.port_set;
	long cpus = sa0.cpus;
	const char *address = sa0.address, *node_ip = sa0.node_ip, *resources = sa0.resources,
	           *spill = sa0.spill, *token_file = sa0.token_file;
	uint64_t store_cap = sa0.store_cap;
	if (head == !!address)
		return bad("%s", head ? "give --head or --address, not both"
		                      : "give --head (start a head) or --address HOST:PORT (join one)");
	if (!address && sa0.rejoin_set)
		return bad("%s", "--rejoin-timeout is for a worker (--address)");
	if (address && port_set)
		return bad("%s", "--port is the head's port; a worker listens on a port of its own");
	if (address && cpus == 0)
		return bad("%s", "--cpus 0 is for a head that runs no tasks; a worker needs CPUs");
	if (address) {
		char url[300];
		if (wire_url(address, url, sizeof url) != 0)
			return bad("--address expects HOST:PORT, not '%s'", address);
	}

	/* TLS files are read now, before the daemon forks (tls.h) */
	int trc = cli_tls_setup("start", &sa0.tls);
	if (trc != 0)
		return trc;

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
		.rejoin_ms = (int)sa0.rejoin_s * 1000,
	};
	/* this node's spill directory: removed when the daemon leaves (or
	 * joins again as a new node); dead owners' directories are removed now */
	store *st = daemon_store_open(spill, store_cap, &e);
	o.store = &st;
	int status = !st ? 1 : head ? head_run(&o, &e) : worker_run(&o, &e);
	store_close(st);
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
