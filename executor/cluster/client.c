/* client.c - `flow run --address`'s side of the wire (client.h). */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plans.h"
#include "transport.h"

#define OPEN_MS 5000
#define PUT_MS 30000
#define LOST_NODE "(the node was lost)"
#define CANNOT_SEND "the task's result cannot be sent to another node"
#define TASK_MS (24 * 3600 * 1000) /* a task may run long; a lost node ends the call at once */

struct cl_client {
	wire_client *c;
	char address[256];
	uint8_t hash[32];
	uint64_t job;
	task_remote remote;
	/* the membership when the run began: one view per node */
	flow_node_view *views;
	const flow_node_view **peers;
	char (*ids)[24];
	char (*hosts)[256];
	char (*addrs)[128];
	int n, cpus;
	flow_node_view self; /* the client's own: the members as its peers */
};

static int run_remote(void *ctx, uint32_t fn, uint64_t seed, uint64_t ident, value args,
                      value *res, char **err, char **node, char **output)
{
	cl_client *cl = ctx;
	struct wire_msg m = {.kind = WM_RUN_TASK}, rep = {0};
	m.u.run_task.job = cl->job;
	m.u.run_task.task = ident;
	memcpy(m.u.run_task.hash, cl->hash, 32);
	m.u.run_task.fn = fn;
	m.u.run_task.seed = seed;
	m.u.run_task.args = args;
	/* an argument that cannot be encoded (an actor): the task runs here */
	sbuf b;
	verr e;
	sbuf_init(&b);
	int enc = wire_encode(&m, &b, &e);
	sbuf_fini(&b);
	if (enc != WIRE_OK)
		return 2;
	int rc = wire_client_call(cl->c, &m, &rep, TASK_MS, &e);
	if (rc != WIRE_OK) {
		bool head_lost = wire_client_lost(cl->c);
		if (asprintf(err, "%s%s", e.msg, head_lost ? " (the connection to the head closed)" : "") < 0)
			*err = NULL;
		/* the head's ERROR for a call whose node was lost ends so
		 * (head.c): the head can place it again on a live node */
		return !head_lost && strstr(e.msg, LOST_NODE) ? TASK_REMOTE_LOST : -1;
	}
	if (rep.kind != WM_TASK_DONE) {
		if (asprintf(err, "the head answered RUN_TASK with %s", wire_kind_name(rep.kind)) < 0)
			*err = NULL;
		wire_msg_free(&rep);
		return -1;
	}
	struct wire_task_done *d = &rep.u.task_done;
	*node = d->node && d->node[0] ? strdup(d->node) : NULL;
	*output = d->output && d->output[0] ? strdup(d->output) : NULL;
	int status = 0;
	/* a result larger than a message (objects do not travel in chunks
	 * yet): the task runs here instead, its remote prints dropped */
	if (!d->ok && d->error && strstr(d->error, CANNOT_SEND) == d->error) {
		wire_msg_free(&rep);
		free(*node);
		free(*output);
		*node = *output = NULL;
		return 2;
	}
	if (d->ok) {
		*res = val_hold(d->result);
	} else {
		*err = strdup(d->error ? d->error : "the task failed");
		status = 1;
	}
	wire_msg_free(&rep);
	return status;
}

static int put_plan(cl_client *cl, const uint8_t *plan, size_t len, verr *e)
{
	for (size_t off = 0; off < len; off += PLAN_CHUNK) {
		struct wire_msg m = {.kind = WM_PLAN_PUT}, rep;
		memcpy(m.u.plan_put.hash, cl->hash, 32);
		m.u.plan_put.total = len;
		m.u.plan_put.offset = off;
		m.u.plan_put.chunk.data = (uint8_t *)plan + off;
		m.u.plan_put.chunk.len = (uint32_t)(len - off < PLAN_CHUNK ? len - off : PLAN_CHUNK);
		verr ce;
		if (wire_client_call(cl->c, &m, &rep, PUT_MS, &ce) != WIRE_OK) {
			verr_set(e, "the head at %s did not take the plan: %s", cl->address, ce.msg);
			return -1;
		}
		wire_msg_free(&rep);
	}
	return 0;
}

static int read_members(cl_client *cl, verr *e)
{
	struct wire_msg req = {.kind = WM_STATUS}, rep = {0};
	verr ce;
	if (wire_client_call(cl->c, &req, &rep, OPEN_MS, &ce) != WIRE_OK) {
		verr_set(e, "the head at %s did not answer STATUS: %s", cl->address, ce.msg);
		return -1;
	}
	if (rep.kind != WM_STATUS_REPLY) {
		verr_set(e, "the head at %s answered STATUS with %s", cl->address, wire_kind_name(rep.kind));
		wire_msg_free(&rep);
		return -1;
	}
	const wire_NODES *ns = &rep.u.status_reply.nodes;
	int n = (int)ns->n;
	cl->views = calloc((size_t)n + 1, sizeof *cl->views);
	cl->peers = calloc((size_t)n + 1, sizeof *cl->peers);
	cl->ids = calloc((size_t)n + 1, sizeof *cl->ids);
	cl->hosts = calloc((size_t)n + 1, sizeof *cl->hosts);
	cl->addrs = calloc((size_t)n + 1, sizeof *cl->addrs);
	if (!cl->views || !cl->peers || !cl->ids || !cl->hosts || !cl->addrs)
		abort();
	cl->cpus = 0;
	for (int i = 0; i < n; i++) {
		const struct wire_node *x = &ns->v[i];
		bool alive = strcmp(x->state, "alive") == 0;
		snprintf(cl->ids[i], sizeof cl->ids[i], "%llu", (unsigned long long)x->id);
		snprintf(cl->hosts[i], sizeof cl->hosts[i], "%s", x->host);
		snprintf(cl->addrs[i], sizeof cl->addrs[i], "%s", x->address);
		cl->views[i] = (flow_node_view){cl->ids[i], cl->addrs[i], cl->hosts[i], x->cpus,
		                                (double)x->store_cap, 0, NULL, NULL, alive, NULL, 0};
		cl->peers[i] = &cl->views[i];
		if (alive)
			cl->cpus += (int)x->cpus;
	}
	cl->n = n;
	wire_msg_free(&rep);
	return 0;
}

cl_client *cl_client_open(const char *address, const auth_token *tok, const uint8_t *plan,
                          size_t len, verr *e)
{
	char url[300];
	if (wire_url(address, url, sizeof url) != 0) {
		verr_set(e, "--address expects HOST:PORT, not '%s'", address);
		return NULL;
	}
	cl_client *cl = calloc(1, sizeof *cl);
	if (!cl)
		abort();
	snprintf(cl->address, sizeof cl->address, "%s", address);
	verr ce;
	int rc = wire_client_open(&cl->c, url, OPEN_MS, &ce);
	if (rc != WIRE_OK) {
		verr_set(e, "cannot reach the head at %s: %s", address, ce.msg);
		free(cl);
		return NULL;
	}
	rc = wire_client_handshake(cl->c, tok, WIRE_ROLE_CLIENT, OPEN_MS, &ce);
	if (rc != WIRE_OK) {
		verr_set(e, "the head at %s refused us: %s", address,
		         rc == WIRE_EAUTH ? ce.msg : wire_strerror(rc));
		cl_client_close(cl);
		return NULL;
	}
	plan_hash(plan, len, cl->hash);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	cl->job = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec;
	if (read_members(cl, e) != 0 || put_plan(cl, plan, len, e) != 0) {
		cl_client_close(cl);
		return NULL;
	}
	cl->remote = (task_remote){run_remote, cl};
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	cl->self = (flow_node_view){"client", "", NULL, cl->cpus > 0 ? cl->cpus : 1, 0, 0, NULL,
	                            NULL, true, cl->peers, cl->n};
	return cl;
}

const task_remote *cl_client_remote(cl_client *c) { return &c->remote; }
int cl_client_cpus(const cl_client *c) { return c->cpus > 0 ? c->cpus : 1; }
const flow_node_view *cl_client_view(const cl_client *c) { return &c->self; }

void cl_client_close(cl_client *c)
{
	if (!c)
		return;
	wire_client_close(c->c);
	free(c->views);
	free(c->peers);
	free(c->ids);
	free(c->hosts);
	free(c->addrs);
	free(c);
}
