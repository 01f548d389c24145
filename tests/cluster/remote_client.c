/* remote_client.c - runs one task of a plan on a cluster, for remote.sh:
 * sends the plan to the head (PLAN_PUT, chunked), then RUN_TASKS; the head
 * places it on a worker, which runs it and returns its result.
 * FLOW_BATCH="task:1,2 task:3" sends those calls in one RUN_TASKS and
 * prints each outcome in order ("failed: ..." / "lost: ...").
 *
 * usage: remote_client HOST:PORT TOKEN_FILE PLAN TASK [INT...]
 * Prints the result (str) and exits 0; a failed task prints its error and
 * exits 1 (a call not run or whose node was lost: 3); a usage or
 * connection problem exits 2. With FLOW_REPEAT=N in
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

/* Sends the calls in one RUN_TASKS and collects every outcome (more
 * WAIT_DONEs while some are missing), by id (1..n). */
static int run_batch(wire_client *c, struct wire_call *calls, int n, struct wire_done *got,
                     int *have, verr *e)
{
	struct wire_msg m = {.kind = WM_RUN_TASKS}, rep;
	m.u.run_tasks.wait_ms = 10000;
	m.u.run_tasks.calls.v = calls;
	m.u.run_tasks.calls.n = (uint32_t)n;
	int left = n;
	int rc = wire_client_call(c, &m, &rep, T_MS, e);
	while (rc == WIRE_OK) {
		if (rep.kind != WM_TASKS_DONE) {
			verr_set(e, "the head answered with %s", wire_kind_name(rep.kind));
			wire_msg_free(&rep);
			return WIRE_EMALFORMED;
		}
		wire_DONES *ds = &rep.u.tasks_done.dones;
		for (uint32_t i = 0; i < ds->n; i++) {
			uint64_t id = ds->v[i].id;
			if (id >= 1 && id <= (uint64_t)n && !have[id - 1]) {
				got[id - 1] = ds->v[i];
				have[id - 1] = 1;
				left--;
			} else {
				wire_done_free(&ds->v[i]);
			}
		}
		free(ds->v);
		if (left == 0)
			return WIRE_OK;
		struct wire_msg w = {.kind = WM_WAIT_DONE};
		w.u.wait_done.wait_ms = 10000;
		rc = wire_client_call(c, &w, &rep, T_MS, e);
	}
	return rc;
}

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
		free(buf);
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
			free(buf);
			return 2;
		}
		wire_msg_free(&rep);
	}
	/* the calls: TASK INT... from the command line, or with
	 * FLOW_BATCH="task:1,2 task:3" several in one RUN_TASKS */
	struct wire_call calls[64];
	int ncalls = 0;
	const char *batch = getenv("FLOW_BATCH");
	if (batch) {
		char *copy = strdup(batch), *save = NULL;
		for (char *t = strtok_r(copy, " ", &save); t && ncalls < 64; t = strtok_r(NULL, " ", &save)) {
			char *colon = strchr(t, ':');
			if (colon)
				*colon = 0;
			cl_plan *pl = cl_plan_load(buf, len, &err);
			int f = pl ? cl_plan_task(pl, t) : -1;
			cl_plan_free(pl);
			if (f < 0) {
				fprintf(stderr, "remote_client: no task '%s' in the plan\n", t);
				return 2;
			}
			value a = list_new(2);
			for (char *x = colon ? colon + 1 : NULL; x && *x;) {
				list_append_take(a, v_int(strtoll(x, &x, 10)));
				if (*x == ',')
					x++;
			}
			calls[ncalls] = (struct wire_call){.id = (uint64_t)ncalls + 1, .job = 1, .fn = (uint32_t)f,
			                                   .ident = (uint64_t)ncalls + 1, .args = a};
			memcpy(calls[ncalls++].hash, hash, 32);
		}
		free(copy);
	} else {
		value a = list_new((size_t)(argc - 5));
		for (int i = 5; i < argc; i++)
			list_append_take(a, v_int(strtoll(argv[i], NULL, 10)));
		calls[0] = (struct wire_call){.id = 1, .job = 1, .fn = (uint32_t)fn, .ident = 1, .args = a};
		memcpy(calls[0].hash, hash, 32);
		ncalls = 1;
	}
	free(buf);
	struct wire_done got[64];
	int have[64] = {0};
	int rc = run_batch(c, calls, ncalls, got, have, &e);
	const char *rep_env = getenv("FLOW_REPEAT");
	long repeat = rep_env ? strtol(rep_env, NULL, 10) : 0;
	if (rc == WIRE_OK && repeat > 0) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 0; i < repeat && rc == WIRE_OK; i++) {
			struct wire_done g2[64];
			int h2[64] = {0};
			rc = run_batch(c, calls, ncalls, g2, h2, &e);
			for (int k = 0; k < ncalls; k++)
				if (h2[k])
					wire_done_free(&g2[k]);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
		fprintf(stderr, "%ld remote calls: %.1f us per round trip\n", repeat, us / (double)repeat);
	}
	for (int k = 0; k < ncalls; k++)
		val_rele(calls[k].args);
	wire_client_close(c);
	auth_token_wipe(&tok);
	if (rc != WIRE_OK) {
		fprintf(stderr, "remote_client: %s\n", e.msg);
		return 2;
	}
	int status = 0;
	for (int k = 0; k < ncalls; k++) {
		struct wire_done *d = &got[k];
		if (d->ok == WIRE_DONE_OK) {
			sbuf out;
			sbuf_init(&out);
			val_str(&out, d->result);
			printf("%.*s\n", (int)out.len, out.data);
			sbuf_fini(&out);
		} else {
			printf("%s: %s\n", d->ok == WIRE_DONE_FAILED ? "failed" : d->ok == WIRE_DONE_LOST ? "lost" : "not run",
			       d->error);
			status = status ? status : d->ok == WIRE_DONE_FAILED ? 1 : 3;
		}
		if (d->output && d->output[0])
			fprintf(stderr, "[%s] %s", d->node, d->output);
		wire_done_free(d);
	}
	return status;
}
