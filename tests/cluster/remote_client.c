/* remote_client.c - runs one task of a plan on a cluster, for remote.sh:
 * sends the plan to the head (PLAN_PUT, chunked), then RUN_TASK; the head
 * places it on a worker, which runs it and returns its result.
 *
 * usage: remote_client HOST:PORT TOKEN_FILE PLAN TASK [INT...]
 * Prints the result (str) and exits 0; a failed task prints its error and
 * exits 1; a usage or connection problem exits 2. With FLOW_REPEAT=N in
 * the environment it runs the call N more times and prints the mean
 * round trip on stderr (client -> head -> worker -> head -> client).
 */
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "executor/cluster/auth.h"
#include "executor/cluster/plans.h"
#include "executor/cluster/task_exec.h"
#include "executor/cluster/transport.h"
#include "executor/cluster/wire.h"
#include "lang/vm.h"

#define T_MS 60000

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: remote_client HOST:PORT TOKEN_FILE PLAN TASK [INT...]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	vm_types_init();
	char url[300];
	auth_token tok;
	verr e;
	if (wire_url(argv[1], url, sizeof url) != 0 || auth_token_load(&tok, argv[2], 0, &e) != 0) {
		fprintf(stderr, "remote_client: bad address or token\n");
		return 2;
	}
	uint8_t *buf;
	size_t len;
	char *err = NULL;
	if (plan_slurp(argv[3], &buf, &len) != 0) {
		fprintf(stderr, "remote_client: cannot read %s\n", argv[3]);
		return 2;
	}
	cl_plan *plan = cl_plan_load(buf, len, &err);
	if (!plan) {
		fprintf(stderr, "remote_client: %s\n", err);
		return 2;
	}
	int fn = cl_plan_task(plan, argv[4]);
	cl_plan_free(plan);
	if (fn < 0) {
		fprintf(stderr, "remote_client: no task '%s' in the plan\n", argv[4]);
		return 2;
	}
	uint8_t hash[32];
	plan_hash(buf, len, hash);

	wire_client *c;
	if (wire_client_open(&c, url, 5000, &e) != WIRE_OK ||
	    wire_client_handshake(c, &tok, WIRE_ROLE_CLIENT, 5000, &e) != WIRE_OK) {
		fprintf(stderr, "remote_client: %s\n", e.msg);
		return 2;
	}
	struct wire_msg m, rep;
	for (size_t off = 0; off < len; off += PLAN_CHUNK) {
		memset(&m, 0, sizeof m);
		m.kind = WM_PLAN_PUT;
		memcpy(m.u.plan_put.hash, hash, 32);
		m.u.plan_put.total = len;
		m.u.plan_put.offset = off;
		m.u.plan_put.chunk.data = buf + off;
		m.u.plan_put.chunk.len = (uint32_t)(len - off < PLAN_CHUNK ? len - off : PLAN_CHUNK);
		if (wire_client_call(c, &m, &rep, T_MS, &e) != WIRE_OK) {
			fprintf(stderr, "remote_client: the head refused the plan: %s\n", e.msg);
			return 2;
		}
		wire_msg_free(&rep);
	}
	free(buf);
	value args = list_new((size_t)(argc - 5));
	for (int i = 5; i < argc; i++)
		list_append_take(args, v_int(strtoll(argv[i], NULL, 10)));
	memset(&m, 0, sizeof m);
	m.kind = WM_RUN_TASK;
	m.u.run_task.job = 1;
	m.u.run_task.task = 1;
	memcpy(m.u.run_task.hash, hash, 32);
	m.u.run_task.fn = (uint32_t)fn;
	m.u.run_task.args = args;
	int rc = wire_client_call(c, &m, &rep, T_MS, &e);
	const char *rep_env = getenv("FLOW_REPEAT");
	long repeat = rep_env ? strtol(rep_env, NULL, 10) : 0;
	if (rc == WIRE_OK && repeat > 0) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 0; i < repeat && rc == WIRE_OK; i++) {
			struct wire_msg r2;
			rc = wire_client_call(c, &m, &r2, T_MS, &e);
			if (rc == WIRE_OK)
				wire_msg_free(&r2);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
		fprintf(stderr, "%ld remote calls: %.1f us per round trip\n", repeat, us / (double)repeat);
	}
	val_rele(args);
	wire_client_close(c);
	auth_token_wipe(&tok);
	if (rc != WIRE_OK || rep.kind != WM_TASK_DONE) {
		fprintf(stderr, "remote_client: %s\n", rc != WIRE_OK ? e.msg : "unexpected reply");
		return 2;
	}
	int status = 0;
	if (rep.u.task_done.ok) {
		sbuf out;
		sbuf_init(&out);
		val_str(&out, rep.u.task_done.result);
		printf("%.*s\n", (int)out.len, out.data);
		sbuf_fini(&out);
	} else {
		printf("failed: %s\n", rep.u.task_done.error);
		status = 1;
	}
	wire_msg_free(&rep);
	return status;
}
