/* handshake.c - the server's handshake state machine (handshake.h). */
#include "handshake.h"

#include <stdio.h>
#include <string.h>

static int fail(struct wire_hs *hs, int *code, int c, char *why, size_t n, const char *text)
{
	hs->state = HS_FAILED;
	*code = c;
	snprintf(why, n, "%s", text);
	return 1;
}

int wire_hs_server(struct wire_hs *hs, const auth_token *t, const struct wire_msg *in,
                   struct wire_msg *out, int *code, char *why, size_t whysz)
{
	*code = WIRE_OK;
	memset(out, 0, sizeof *out);
	if (in->kind == WM_HELLO) {
		if (hs->state != HS_NEW)
			return fail(hs, code, WIRE_ESTATE, why, whysz, "a second HELLO on one connection");
		out->kind = WM_CHALLENGE;
		if (auth_nonce(hs->ns) != 0 ||
		    auth_mac(t, HS_LABEL_SERVER, in->u.hello.nonce, hs->ns, out->u.challenge.mac) != 0)
			return fail(hs, code, WIRE_EIO, why, whysz, "no randomness or HMAC failed on the server");
		memcpy(hs->nc, in->u.hello.nonce, 32);
		memcpy(out->u.challenge.nonce, hs->ns, 32);
		hs->state = HS_CHALLENGED;
		return 1;
	}
	if (in->kind == WM_AUTH) {
		uint8_t want[32];
		if (hs->state != HS_CHALLENGED)
			return fail(hs, code, WIRE_ESTATE, why, whysz,
			            hs->state == HS_AUTHED ? "a second AUTH on one connection"
			                                   : "AUTH without HELLO");
		if (auth_mac(t, HS_LABEL_CLIENT, hs->ns, hs->nc, want) != 0 ||
		    !auth_equal(want, in->u.auth.mac, 32))
			return fail(hs, code, WIRE_EAUTH, why, whysz,
			            "its proof does not match this cluster's token");
		hs->state = HS_AUTHED;
		out->kind = WM_OK;
		return 1;
	}
	return 0;
}
