/* auth.h - the cluster token and the mutual HMAC-SHA256 challenge-response.
 *
 * The token is a secret text of at least 32 characters (a generated one is
 * 64 hex digits: 256 bits from getrandom). It is the HMAC key; it never
 * crosses the wire. Handshake (docs/wire.md):
 *   client -> HELLO(role, nc)          nc, ns: 32 random bytes each
 *   server -> CHALLENGE(ns, HMAC(token, "flow-s" | version | nc | ns))
 *   client checks it, -> AUTH(HMAC(token, "flow-c" | version | ns | nc))
 *   server checks it  -> OK
 * Each side proves it knows the token over a nonce the other side chose;
 * the labels make a proof from one direction useless in the other.
 *
 * Ownership: auth_token is a plain value (no heap); clear it with
 * auth_token_wipe when done.
 */
#ifndef FLOW_AUTH_H
#define FLOW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "lang/value.h"

#define AUTH_MIN_TOKEN 32
#define AUTH_MAX_TOKEN 256

typedef struct auth_token {
	uint8_t key[AUTH_MAX_TOKEN];
	size_t len;
	char source[512]; /* where it came from, for messages: a path or "FLOW_TOKEN" */
	int created;      /* 1 when auth_token_load wrote a new token file */
} auth_token;

/* Finds the token: `file` if given, else $FLOW_TOKEN, else ~/.flow/token.
 * With create set (the head) and none found, writes a new 256-bit token
 * to ~/.flow/token (directory 0700, file 0600) and sets t->created.
 * A token file readable by group or others is refused, as ssh does. */
int auth_token_load(auth_token *t, const char *file, int create, verr *e);

void auth_token_wipe(auth_token *t);

/* 32 random bytes from getrandom. */
int auth_nonce(uint8_t out[32]);

/* HMAC-SHA256(token, label | version (2 bytes LE) | a | b). */
int auth_mac(const auth_token *t, const char *label, const uint8_t a[32],
             const uint8_t b[32], uint8_t out[32]);

/* Compares n bytes in time independent of where they differ; 1 if equal. */
int auth_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif
