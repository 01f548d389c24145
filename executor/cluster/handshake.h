/* handshake.h - the server's side of the handshake as a state machine,
 * apart from the transport so that it can be tested and fuzzed alone.
 *
 *   NEW --HELLO--> CHALLENGED --AUTH with the right proof--> AUTHED
 * Anything else refuses the connection (FAILED): a second HELLO, an AUTH
 * before a HELLO or with a wrong proof. A connection is AUTHED only after
 * an AUTH whose proof is HMAC(token, "flow-c" | version | ns | nc) for the
 * nonces of this connection's own HELLO and CHALLENGE.
 *
 * Ownership: plain values; *out fills only fixed-size fields (no heap).
 */
#ifndef FLOW_HANDSHAKE_H
#define FLOW_HANDSHAKE_H

#include <stdint.h>

#include "auth.h"
#include "wire.h"

#define HS_LABEL_SERVER "flow-s"
#define HS_LABEL_CLIENT "flow-c"

enum { HS_NEW, HS_CHALLENGED, HS_AUTHED, HS_FAILED };

struct wire_hs {
	int state;
	uint8_t nc[32], ns[32];
};

/* Feeds one message from the peer. Returns 0 when `in` is not part of the
 * handshake (the caller serves it if state is HS_AUTHED, else refuses it
 * with WIRE_ENOAUTH). Returns 1 when it was: *out is the reply to send
 * (CHALLENGE or OK), or *code is set (not WIRE_OK) with why, and the
 * connection must be refused. */
int wire_hs_server(struct wire_hs *hs, const auth_token *t, const struct wire_msg *in,
                   struct wire_msg *out, int *code, char *why, size_t whysz);

#endif
