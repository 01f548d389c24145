/* test_pump.c - a pump (executor/cluster/batch.h) whose request is handed
 * to nng by the adding thread on a connection that has already closed
 * (the head's link to a worker that drained and left, docs/wire.md
 * "Direct calls"): nng's req would wait forever for a new pipe to send
 * on; a pump thread must see the lost connection and report the peer
 * lost (ops.lost), so the calls on it are failed and sent again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "executor/cluster/auth.h"
#include "executor/cluster/batch.h"
#include "executor/cluster/transport.h"
#include "executor/cluster/wire.h"

struct lone {
	wire_client *c;
	int lost, dones; /* atomic */
};

static wire_client *lone_link(void *arg, verr *e)
{
	(void)e;
	return ((struct lone *)arg)->c;
}

static wire_client *lone_ready(void *arg) { return ((struct lone *)arg)->c; }

static void lone_done(void *arg, struct wire_done *d, uint32_t n)
{
	struct lone *t = arg;
	for (uint32_t i = 0; i < n; i++)
		wire_done_free(&d[i]);
	__atomic_add_fetch(&t->dones, (int)n, __ATOMIC_RELEASE);
}

static void lone_lost(void *arg, const char *why, int in_call)
{
	(void)why;
	(void)in_call;
	__atomic_add_fetch(&((struct lone *)arg)->lost, 1, __ATOMIC_RELEASE);
}

/* The server's loop (the handshake is answered there); it answers
 * nothing else: the test's request never reaches it. */
struct srv {
	wire_server *s;
	int stop; /* atomic */
};

static void *serve(void *arg)
{
	struct srv *v = arg;
	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
		struct wire_msg m;
		uint32_t pipe;
		if (wire_server_recv(v->s, &m, &pipe, NULL, 0, 20) == WIRE_OK) {
			wire_server_reply_error(v->s, WIRE_EREFUSED, "not served here");
			wire_msg_free(&m);
		}
	}
	return NULL;
}

static int wait_for(int *v, int ms)
{
	for (int i = 0; i < ms && !__atomic_load_n(v, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

/* Both ways a request leaves: from the adding thread (ops.ready, nng's
 * thread hands the outcome on) and from a pump thread (no ready). */
static void test_request_on_closed_connection(void **state)
{
	(void)state;
	auth_token tok = {.len = 40};
	memset(tok.key, 'q', 40);
	for (int ready = 1; ready >= 0; ready--) {
		struct srv v = {0};
		verr e;
		assert_int_equal(wire_server_open(&v.s, "tcp://127.0.0.1:0", &tok, &e), 0);
		char url[64];
		snprintf(url, sizeof url, "tcp://127.0.0.1:%d", wire_server_port(v.s));
		pthread_t th;
		pthread_create(&th, NULL, serve, &v);
		struct lone t = {0};
		assert_int_equal(wire_client_open(&t.c, url, 2000, &e), WIRE_OK);
		assert_int_equal(wire_client_handshake(t.c, &tok, WIRE_ROLE_HEAD, 2000, &e), WIRE_OK);
		bt_pump_ops ops = {lone_link, lone_done, lone_lost, ready ? lone_ready : NULL, ready};
		bt_pump *p = bt_pump_start(&ops, &t, 2);
		usleep(50 * 1000); /* its threads idle: nothing out */
		/* the peer goes (a worker that drained and left) */
		__atomic_store_n(&v.stop, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		wire_server_close(v.s);
		int gone = 0;
		for (int i = 0; i < 2000 && !(gone = wire_client_lost(t.c)); i++)
			usleep(1000);
		assert_true(gone);
		struct wire_call c = {.id = 1, .args = v_none()};
		sbuf b;
		sbuf_init(&b);
		assert_int_equal(wire_encode_call(&c, &b, &e), WIRE_OK);
		int added = bt_pump_add(p, b.data, b.len);
		sbuf_fini(&b);
		/* added and then lost, or refused at once (the pump saw it first) */
		if (added == 0)
			assert_true(wait_for(&t.lost, 10000) >= 1);
		assert_int_equal(__atomic_load_n(&t.dones, __ATOMIC_ACQUIRE), 0);
		bt_pump_stop(p);
		wire_client_close(t.c);
	}
}

/* A server that answers every request with OK, one at a time. */
static void *answer(void *arg)
{
	struct srv *v = arg;
	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
		struct wire_msg m;
		uint32_t pipe;
		if (wire_server_recv(v->s, &m, &pipe, NULL, 0, 20) == WIRE_OK) {
			struct wire_msg ok = {.kind = WM_OK};
			wire_server_reply(v->s, &ok);
			wire_msg_free(&m);
		}
	}
	return NULL;
}

struct pair {
	int got, bad; /* atomic */
};

static void pair_done(void *arg, int rc, struct wire_msg *rep, const char *why)
{
	(void)why;
	struct pair *q = arg;
	if (rc == WIRE_OK) {
		if (rep->kind != WM_OK)
			__atomic_add_fetch(&q->bad, 1, __ATOMIC_RELEASE);
		wire_msg_free(rep);
	} else {
		__atomic_add_fetch(&q->bad, 1, __ATOMIC_RELEASE);
	}
	__atomic_add_fetch(&q->got, 1, __ATOMIC_RELEASE);
}

/* Both ways a request is handed to nng (transport.c, send_now): taken at
 * once (a lone request, as a synchronous round trip's), or refused at
 * once because the connection is still writing the one before (two
 * requests back to back) and then sent as before: every request gets
 * its own answer, once. Then a call on a closed connection fails rather
 * than waiting for a new one. */
static void test_requests_taken_at_once_or_not(void **state)
{
	(void)state;
	auth_token tok = {.len = 40};
	memset(tok.key, 'r', 40);
	struct srv v = {0};
	verr e;
	assert_int_equal(wire_server_open(&v.s, "tcp://127.0.0.1:0", &tok, &e), 0);
	char url[64];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", wire_server_port(v.s));
	pthread_t th;
	pthread_create(&th, NULL, answer, &v);
	wire_client *c;
	assert_int_equal(wire_client_open(&c, url, 2000, &e), WIRE_OK);
	assert_int_equal(wire_client_handshake(c, &tok, WIRE_ROLE_HEAD, 2000, &e), WIRE_OK);
	struct wire_msg req = {.kind = WM_STATUS}, rep;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(wire_client_call(c, &req, &rep, 5000, &e), WIRE_OK);
		assert_int_equal(rep.kind, WM_OK);
		wire_msg_free(&rep);
	}
	sbuf b;
	sbuf_init(&b);
	assert_int_equal(wire_encode(&req, &b, &e), WIRE_OK);
	struct pair q = {0};
	wire_acall *a1 = wire_acall_new(pair_done, &q), *a2 = wire_acall_new(pair_done, &q);
	assert_non_null(a1);
	assert_non_null(a2);
	for (int i = 0; i < 100; i++) {
		int want = 2 * (i + 1);
		assert_int_equal(wire_acall_start(a1, c, b.data, b.len, &e), WIRE_OK);
		assert_int_equal(wire_acall_start(a2, c, b.data, b.len, &e), WIRE_OK);
		for (int k = 0; k < 5000 && __atomic_load_n(&q.got, __ATOMIC_ACQUIRE) < want; k++)
			usleep(1000);
		assert_int_equal(__atomic_load_n(&q.got, __ATOMIC_ACQUIRE), want);
	}
	assert_int_equal(__atomic_load_n(&q.bad, __ATOMIC_ACQUIRE), 0);
	wire_acall_free(a1);
	wire_acall_free(a2);
	sbuf_fini(&b);
	/* the server goes: a call made then fails, it does not wait */
	__atomic_store_n(&v.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	wire_server_close(v.s);
	int gone = 0;
	for (int i = 0; i < 2000 && !(gone = wire_client_lost(c)); i++)
		usleep(1000);
	assert_true(gone);
	assert_int_not_equal(wire_client_call(c, &req, &rep, 60000, &e), WIRE_OK);
	wire_client_close(c);
}

int main(void)
{
	wire_log_set_name("test_pump");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_on_closed_connection),
		cmocka_unit_test(test_requests_taken_at_once_or_not),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
