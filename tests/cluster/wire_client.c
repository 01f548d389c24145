/* wire_client.c - sends a head broken and hostile frames, for basic.sh.
 *
 * usage: wire_client HOST:PORT TOKEN_FILE CASE
 * Each CASE opens its own connection, sends one kind of bad input and
 * checks that the head refuses it with the expected code (exit 0) rather
 * than answering or hanging (exit 1). "ok" checks that the head still
 * serves a correct client (handshake and STATUS).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/cluster/auth.h"
#include "executor/cluster/transport.h"
#include "executor/cluster/wire.h"

#define T_MS 3000

static void le32(uint8_t *p, uint32_t x)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(x >> (8 * i));
}

/* A HELLO frame, whole. */
static size_t hello_frame(uint8_t *buf)
{
	struct wire_msg m = {.kind = WM_HELLO};
	m.u.hello.role = WIRE_ROLE_CLIENT;
	sbuf b;
	verr e;
	sbuf_init(&b);
	wire_encode(&m, &b, &e);
	memcpy(buf, b.data, b.len);
	size_t n = b.len;
	sbuf_fini(&b);
	return n;
}

static int expect(const char *what, int got, int want, const verr *e)
{
	if (got == want) {
		printf("%s: refused as expected: %s (%s)\n", what, wire_strerror(got), e->msg);
		return 0;
	}
	printf("%s: expected %s, got %s (%s)\n", what, wire_strerror(want), wire_strerror(got), e->msg);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: wire_client HOST:PORT TOKEN_FILE CASE\n");
		return 2;
	}
	char url[300];
	auth_token tok;
	verr e = {{0}};
	if (wire_url(argv[1], url, sizeof url) != 0 || auth_token_load(&tok, argv[2], 0, &e) != 0) {
		fprintf(stderr, "wire_client: bad address or token: %s\n", e.msg);
		return 2;
	}
	/* the head may close while a large frame is still being written */
	signal(SIGPIPE, SIG_IGN);
	const char *c = argv[3];
	wire_client *cl;
	if (wire_client_open(&cl, url, T_MS, &e) != WIRE_OK) {
		fprintf(stderr, "wire_client: %s\n", e.msg);
		return 1;
	}
	struct wire_msg rep;
	uint8_t f[256];
	size_t n = hello_frame(f);
	int rc, bad = 1;
	if (strcmp(c, "truncated") == 0) {
		/* the header says 33 bytes; 10 arrive */
		rc = wire_client_call_raw(cl, f, WIRE_HEADER + 10, &rep, T_MS, &e);
		bad = expect(c, rc, WIRE_ETRUNC, &e);
	} else if (strcmp(c, "oversized") == 0) {
		le32(f + 8, 1u << 30); /* claims 1 GiB */
		rc = wire_client_call_raw(cl, f, n, &rep, T_MS, &e);
		bad = expect(c, rc, WIRE_ETOOBIG, &e);
	} else if (strcmp(c, "huge") == 0) {
		/* more bytes than nng accepts: the connection drops, nothing answers */
		size_t big = WIRE_HEADER + WIRE_MAX_PAYLOAD + 1024;
		uint8_t *h = calloc(1, big);
		memcpy(h, f, WIRE_HEADER);
		le32(h + 8, (uint32_t)(big - WIRE_HEADER));
		rc = wire_client_call_raw(cl, h, big, &rep, T_MS, &e);
		free(h);
		if (rc == WIRE_OK)
			wire_msg_free(&rep);
		bad = rc == WIRE_OK;
		printf("huge: %s (%s)\n", bad ? "answered!" : "not answered, as expected", wire_strerror(rc));
	} else if (strcmp(c, "version") == 0) {
		f[4] = 99; /* version 99 */
		rc = wire_client_call_raw(cl, f, n, &rep, T_MS, &e);
		bad = expect(c, rc, WIRE_EVERSION, &e);
	} else if (strcmp(c, "kind") == 0) {
		f[6] = 0xe7;
		f[7] = 0x03; /* kind 999 */
		rc = wire_client_call_raw(cl, f, n, &rep, T_MS, &e);
		bad = expect(c, rc, WIRE_EKIND, &e);
	} else if (strcmp(c, "noauth") == 0) {
		struct wire_msg m = {.kind = WM_STATUS};
		rc = wire_client_call(cl, &m, &rep, T_MS, &e);
		bad = expect(c, rc, WIRE_ENOAUTH, &e);
	} else if (strcmp(c, "badauth") == 0) {
		/* a HELLO, then a proof made without the token */
		rc = wire_client_call_raw(cl, f, n, &rep, T_MS, &e);
		if (rc == WIRE_OK && rep.kind == WM_CHALLENGE) {
			wire_msg_free(&rep);
			struct wire_msg m = {.kind = WM_AUTH};
			auth_nonce(m.u.auth.mac);
			rc = wire_client_call(cl, &m, &rep, T_MS, &e);
			bad = expect(c, rc, WIRE_EAUTH, &e);
		} else {
			printf("badauth: HELLO was not answered with CHALLENGE (%s)\n", wire_strerror(rc));
		}
	} else if (strcmp(c, "truncated-authed") == 0) {
		rc = wire_client_handshake(cl, &tok, WIRE_ROLE_CLIENT, T_MS, &e);
		if (rc == WIRE_OK) {
			struct wire_msg m = {.kind = WM_STATUS};
			sbuf b;
			sbuf_init(&b);
			wire_encode(&m, &b, &e);
			rc = wire_client_call_raw(cl, b.data, b.len - 2, &rep, T_MS, &e);
			sbuf_fini(&b);
			bad = expect(c, rc, WIRE_ETRUNC, &e);
		} else {
			printf("truncated-authed: handshake failed: %s\n", e.msg);
		}
	} else if (strcmp(c, "ok") == 0) {
		rc = wire_client_handshake(cl, &tok, WIRE_ROLE_CLIENT, T_MS, &e);
		if (rc == WIRE_OK) {
			struct wire_msg m = {.kind = WM_STATUS};
			rc = wire_client_call(cl, &m, &rep, T_MS, &e);
		}
		if (rc == WIRE_OK && rep.kind == WM_STATUS_REPLY) {
			printf("ok: the head answers (%u nodes)\n", rep.u.status_reply.nodes.n);
			bad = 0;
			/* FLOW_REPEAT=N: the mean STATUS round trip, for measurements */
			long repeat = getenv("FLOW_REPEAT") ? strtol(getenv("FLOW_REPEAT"), NULL, 10) : 0;
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (long i = 0; i < repeat; i++) {
				struct wire_msg m2 = {.kind = WM_STATUS}, r2;
				if (wire_client_call(cl, &m2, &r2, T_MS, &e) != WIRE_OK)
					break;
				wire_msg_free(&r2);
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (repeat > 0)
				printf("%ld STATUS calls: %.1f us per round trip\n", repeat,
				       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
				               1e3 / (double)repeat);
		} else {
			printf("ok: %s (%s)\n", wire_strerror(rc), e.msg);
		}
		if (rc == WIRE_OK)
			wire_msg_free(&rep);
	} else {
		fprintf(stderr, "wire_client: unknown case '%s'\n", c);
		bad = 2;
	}
	wire_client_close(cl);
	auth_token_wipe(&tok);
	return bad;
}
