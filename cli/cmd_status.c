/* cmd_status.c - `flow status`: a cluster's nodes and jobs, as text or JSON. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "executor/cluster/auth.h"
#include "executor/cluster/transport.h"
#include "executor/cluster/wire.h"

#define STATUS_MS 5000

/* X(ID, SHORT, LONG, ARG, REPEAT, HELP): see cli.h */
#define STATUS_OPTS(X) \
	X(ADDRESS, 0, "address", "HOST:PORT", false, "the head (default 127.0.0.1:6379)") \
	X(JSON, 0, "json", NULL, false, \
	  "one JSON object: {\"nodes\": [{\"id\": 1, \"host\": ...,\n" \
	  "\"address\": ..., \"state\": \"alive\", \"alive\": true,\n" \
	  "\"cpus\": ..., \"cpus_used\": ..., \"resources\": {...},\n" \
	  "\"store_cap\": ..., \"store_used\": ..., \"store_spilled\": ...,\n" \
	  "\"last_heartbeat_ms\": ..., \"pid\": ...}], \"jobs\": [{\"id\": 1,\n" \
	  "\"state\": \"running\", \"client\": ..., \"program\": ...,\n" \
	  "\"start_unix_ms\": ..., \"tasks_queued\": ..., \"tasks_running\": ...,\n" \
	  "\"tasks_done\": ..., \"tasks_failed\": ..., \"tasks_spilled\": ...}]}") \
	X(TOKEN_FILE, 0, "token-file", "FILE", false, \
	  "the cluster token (default $FLOW_TOKEN, else ~/.flow/token)") \
	CLI_TLS_OPTS(X)

CLI_COMMAND(status, STATUS_OPTS,
	.operand = NULL,
	.about = "Shows the nodes of the cluster whose head is at HOST:PORT (default\n"
	         "127.0.0.1:6379): id, host, address, state, cpus used/total, resources,\n"
	         "object store used/spilled, time since the last heartbeat; and its jobs\n"
	         "(each `flow run --address` connected now: client, program, start,\n"
	         "task calls queued at the head, running on nodes, done, failed; nested\n"
	         "calls that nodes spilled to the head).",
	.footer = "Exit status: 0 shown, 1 the head could not be reached or refused us, 2 bad usage.");

typedef struct status_args {
	const char *address, *token_file;
	int json;
	cli_tls tls;
} status_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	status_args *a = ctx;
	switch (id) {
	case OPT_ADDRESS: a->address = arg; break;
	case OPT_JSON: a->json = 1; break;
	case OPT_TOKEN_FILE: a->token_file = arg; break;
	case OPT_TLS_CERT: a->tls.cert = arg; break;
	case OPT_TLS_KEY: a->tls.key = arg; break;
	case OPT_TLS_CA: a->tls.ca = arg; break;
	}
	return 0;
}

static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* "gpu=2,disk=1" as {"gpu": 2, "disk": 1}; the worker checked the syntax,
 * but anything odd is still printed as a string. */
static void json_resources(const char *s)
{
	putchar('{');
	int first = 1;
	char *copy = strdup(s), *save = NULL;
	for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq)
			continue;
		*eq = 0;
		printf(first ? "" : ", ");
		first = 0;
		json_str(item);
		printf(": ");
		char *end;
		double v = strtod(eq + 1, &end);
		if (end != eq + 1 && !*end)
			printf("%.17g", v);
		else
			json_str(eq + 1);
	}
	free(copy);
	putchar('}');
}

static void human_size(uint64_t b, char *buf, size_t n)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void print_json(const struct wire_status_reply *r)
{
	printf("{\"nodes\": [");
	for (uint32_t i = 0; i < r->nodes.n; i++) {
		const struct wire_node *x = &r->nodes.v[i];
		printf(i ? ", {" : "{");
		printf("\"id\": %llu, \"host\": ", (unsigned long long)x->id);
		json_str(x->host);
		printf(", \"address\": ");
		json_str(x->address);
		printf(", \"state\": ");
		json_str(x->state);
		printf(", \"alive\": %s, \"cpus\": %u, \"cpus_used\": %u, \"resources\": ",
		       strcmp(x->state, "alive") == 0 ? "true" : "false", x->cpus, x->cpus_used);
		json_resources(x->resources);
		printf(", \"store_cap\": %llu, \"store_used\": %llu, \"store_spilled\": %llu, "
		       "\"last_heartbeat_ms\": %llu, \"epoch\": %llu, \"pid\": %u}",
		       (unsigned long long)x->store_cap, (unsigned long long)x->store_used,
		       (unsigned long long)x->store_spilled, (unsigned long long)x->heartbeat_age_ms,
		       (unsigned long long)x->epoch, x->pid);
	}
	printf("], \"jobs\": [");
	for (uint32_t i = 0; i < r->jobs.n; i++) {
		const struct wire_job *j = &r->jobs.v[i];
		printf(i ? ", {" : "{");
		printf("\"id\": %llu, \"state\": ", (unsigned long long)j->id);
		json_str(j->state);
		printf(", \"client\": ");
		json_str(j->client);
		printf(", \"program\": ");
		json_str(j->program);
		printf(", \"start_unix_ms\": %llu, \"tasks_queued\": %llu, \"tasks_running\": %llu, "
		       "\"tasks_done\": %llu, \"tasks_failed\": %llu, \"tasks_spilled\": %llu}",
		       (unsigned long long)j->start_unix_ms, (unsigned long long)j->queued,
		       (unsigned long long)j->running, (unsigned long long)j->done,
		       (unsigned long long)j->failed, (unsigned long long)j->spilled);
	}
	printf("]}\n");
}

static void print_text(const struct wire_status_reply *r)
{
	printf("%-4s %-20s %-22s %-6s %-9s %-20s %-21s %s\n", "NODE", "HOST", "ADDRESS", "STATE",
	       "CPUS", "RESOURCES", "STORE USED/SPILLED", "HEARTBEAT");
	for (uint32_t i = 0; i < r->nodes.n; i++) {
		const struct wire_node *x = &r->nodes.v[i];
		char cpus[32], used[32], spilled[32], store[80], hb[32];
		snprintf(cpus, sizeof cpus, "%u/%u", x->cpus_used, x->cpus);
		human_size(x->store_used, used, sizeof used);
		human_size(x->store_spilled, spilled, sizeof spilled);
		snprintf(store, sizeof store, "%s/%s", used, spilled);
		snprintf(hb, sizeof hb, "%.1f s ago", (double)x->heartbeat_age_ms / 1000.0);
		printf("%-4llu %-20s %-22s %-6s %-9s %-20s %-21s %s\n", (unsigned long long)x->id,
		       x->host, x->address, x->state, cpus, x->resources[0] ? x->resources : "-",
		       store, i == 0 ? "(head)" : hb);
	}
	if (r->jobs.n == 0) {
		printf("jobs: none running\n");
		return;
	}
	printf("\n%-4s %-22s %-24s %-19s %8s %8s %8s %8s %8s\n", "JOB", "CLIENT", "PROGRAM", "STARTED",
	       "QUEUED", "RUNNING", "DONE", "FAILED", "SPILLED");
	for (uint32_t i = 0; i < r->jobs.n; i++) {
		const struct wire_job *j = &r->jobs.v[i];
		char when[32] = "?";
		time_t t = (time_t)(j->start_unix_ms / 1000);
		struct tm tm;
		if (localtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-4llu %-22s %-24s %-19s %8llu %8llu %8llu %8llu %8llu\n",
		       (unsigned long long)j->id, j->client, j->program, when,
		       (unsigned long long)j->queued, (unsigned long long)j->running,
		       (unsigned long long)j->done, (unsigned long long)j->failed,
		       (unsigned long long)j->spilled);
	}
}

int cmd_status(int argc, char **argv)
{
	status_args sa = {.address = "127.0.0.1:6379"};
	int prc;
	if (!cli_parse_only(&spec, argc, argv, on_opt, &sa, &prc))
		return prc;
	const char *address = sa.address, *token_file = sa.token_file;
	int json = sa.json;
	char url[300];
	if (wire_url(address, url, sizeof url) != 0) {
		return cli_usage_error("status", "--address expects HOST:PORT, not '%s'", address);
	}
	int trc = cli_tls_setup("status", &sa.tls);
	if (trc != 0)
		return trc;
	auth_token tok;
	verr e;
	signal(SIGPIPE, SIG_IGN); /* a head that closes is an error, not a signal */
	if (auth_token_load(&tok, token_file, 0, &e) != 0) {
		fprintf(stderr, "flow status: %s\n", e.msg);
		return 1;
	}
	wire_client *cl = NULL;
	int rc = wire_client_open(&cl, url, STATUS_MS, &e);
	if (rc == WIRE_OK) {
		rc = wire_client_handshake(cl, &tok, WIRE_ROLE_CLIENT, STATUS_MS, &e);
		if (rc != WIRE_OK) {
			char why[300];
			snprintf(why, sizeof why, "%s", e.msg);
			verr_set(&e, "the head at %s refused us: %s", address,
			         rc == WIRE_EAUTH ? why : wire_strerror(rc));
		}
	}
	auth_token_wipe(&tok);
	struct wire_msg req = {.kind = WM_STATUS}, rep = {0};
	if (rc == WIRE_OK)
		rc = wire_client_call(cl, &req, &rep, STATUS_MS, &e);
	wire_client_close(cl);
	if (rc != WIRE_OK) {
		fprintf(stderr, "flow status: %s\n", e.msg);
		return 1;
	}
	if (rep.kind != WM_STATUS_REPLY) {
		fprintf(stderr, "flow status: the head answered with %s\n", wire_kind_name(rep.kind));
		wire_msg_free(&rep);
		return 1;
	}
	if (json)
		print_json(&rep.u.status_reply);
	else
		print_text(&rep.u.status_reply);
	wire_msg_free(&rep);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "flow status: cannot write the output\n");
		return 1;
	}
	return 0;
}
