/* fuzz_wire.c - libFuzzer harness for the cluster's wire decoder and the
 * server's handshake state machine.
 *
 * Input: frames separated by the 4 bytes "\n--\n". Each frame goes through
 * wire_decode: one that decodes must encode again, decode again and encode
 * to the same bytes (a batch, RUN_TASKS or TASKS_DONE, also when assembled
 * record by record). Decoded frames are also fed, in order, to one
 * connection's handshake (handshake.h); an AUTH frame whose first byte of
 * proof is 0xA5 is given the correct proof for the nonces so far, so the
 * success path is reached too. Invariant: the connection is AUTHED exactly
 * when the last handshake message was a correct AUTH after one HELLO, and
 * a FAILED connection never recovers.
 *
 * Truncated and oversized: no strict prefix of a frame that decodes
 * decodes (the header's length is checked), nor the frame with a byte more.
 * Several connections: a frame "NEW" starts another connection (a fresh
 * handshake); a frame "RPL" followed by one byte k sends again, verbatim,
 * the k-th (mod the count) frame an earlier connection sent after its proof
 * was fixed up: a replayed AUTH, even a correct one, never authenticates a
 * connection of its own (its nonces are new). Out of order: the invariant
 * above (AUTHED only after one HELLO then a correct AUTH).
 * OBJ_DATA frames are also fed, in order, to one chunk decoder (objects.h,
 * obj_asm: the first begins it with its id and total, chunks of 64 bytes,
 * a cap of 1 MiB), each as the answer to the next offset it expects.
 * Invariants: a refused chunk changes nothing; an accepted one adds
 * exactly its bytes; the bytes received never exceed the total. Every
 * frame also goes through obj_data_view (OBJ_DATA decoded in place): it
 * accepts a frame of at most WIRE_MAX_PAYLOAD exactly when wire_decode
 * decodes it as OBJ_DATA, with the same fields, its chunk inside the frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "executor/cluster/handshake.h"
#include "executor/cluster/objects.h"
#include "executor/cluster/wire.h"
#include "lang/vm.h"

static void check_round_trip(const struct wire_msg *m)
{
	sbuf b1, b2;
	verr e;
	sbuf_init(&b1);
	sbuf_init(&b2);
	if (wire_encode(m, &b1, &e) != WIRE_OK)
		abort(); /* what decodes must encode */
	struct wire_msg d;
	if (wire_decode(b1.data, b1.len, &d, &e) != WIRE_OK)
		abort();
	if (wire_encode(&d, &b2, &e) != WIRE_OK || b1.len != b2.len ||
	    memcmp(b1.data, b2.data, b1.len) != 0)
		abort();
	wire_msg_free(&d);
	/* a batch assembled record by record (as the pumps and outboxes
	 * build them) is the same frame */
	if (m->kind == WM_RUN_TASKS || m->kind == WM_TASKS_DONE) {
		b2.len = 0;
		size_t at = wire_frame_begin(&b2, m->kind);
		if (m->kind == WM_RUN_TASKS) {
			wire_put_u32(&b2, m->u.run_tasks.wait_ms);
			wire_put_u32(&b2, m->u.run_tasks.calls.n);
			for (uint32_t i = 0; i < m->u.run_tasks.calls.n; i++)
				if (wire_encode_call(&m->u.run_tasks.calls.v[i], &b2, &e) != WIRE_OK)
					abort();
		} else {
			wire_put_u32(&b2, m->u.tasks_done.dones.n);
			for (uint32_t i = 0; i < m->u.tasks_done.dones.n; i++)
				if (wire_encode_done(&m->u.tasks_done.dones.v[i], &b2, &e) != WIRE_OK)
					abort();
		}
		wire_frame_end(&b2, at);
		if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
			abort();
	}
	sbuf_fini(&b1);
	sbuf_fini(&b2);
}

/* Prefixes and a byte more never decode (truncated, oversized). */
static void check_bounds(const uint8_t *f, size_t n)
{
	size_t cuts[4] = {n - 1, n / 2, WIRE_HEADER, WIRE_HEADER - 1};
	struct wire_msg d;
	verr e;
	for (int i = 0; i < 4; i++)
		if (cuts[i] < n && wire_decode(f, cuts[i], &d, &e) == WIRE_OK)
			abort();
	uint8_t *more = malloc(n + 1);
	if (!more)
		return;
	memcpy(more, f, n);
	more[n] = 0;
	if (wire_decode(more, n + 1, &d, &e) == WIRE_OK)
		abort();
	free(more);
}

/* what the inputs reached (replay_main prints them: the seeds must reach
 * the success path and a refused replay) */
long fuzz_wire_authed, fuzz_wire_replays_refused;

#define MAX_SENT 64
/* frames earlier connections sent (as sent: with the fixed-up proof) */
struct sent {
	sbuf f[MAX_SENT];
	size_t n, first_this; /* frames [first_this, n) are this connection's */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		vm_types_init();
		ready = 1;
	}
	static const auth_token tok = {.key = "fuzzing-token-fuzzing-token-fuzzing-token", .len = 41};
	struct wire_hs hs = {.state = HS_NEW};
	struct sent sent = {.n = 0};
	int hellos = 0;
	obj_asm a = {.buf = NULL};
	int begun = 0;
	uint64_t want = 0;
	size_t at = 0;
	while (at <= size) {
		const uint8_t *end = memmem(data + at, size - at, "\n--\n", 4);
		size_t n = end ? (size_t)(end - (data + at)) : size - at, step = n;
		const uint8_t *f = data + at;
		int replayed = 0;
		if (n == 3 && memcmp(f, "NEW", 3) == 0) {
			hs = (struct wire_hs){.state = HS_NEW};
			hellos = 0;
			sent.first_this = sent.n;
			goto next;
		}
		if (n == 4 && memcmp(f, "RPL", 3) == 0) {
			if (!sent.first_this)
				goto next; /* nothing from an earlier connection */
			sbuf *o = &sent.f[f[3] % sent.first_this];
			f = (const uint8_t *)o->data;
			n = o->len;
			replayed = 1;
		}
		struct wire_msg m, out;
		verr e;
		struct wire_obj_data dv;
		int vkind;
		int vrc = obj_data_view(f, n, &dv, &vkind, &e);
		if (vrc == WIRE_OK &&
		    (dv.chunk.data < f || dv.chunk.data + dv.chunk.len != f + n))
			abort(); /* the chunk is the frame's last bytes */
		int drc = wire_decode(f, n, &m, &e);
		if (n <= WIRE_HEADER + WIRE_MAX_PAYLOAD &&
		    (vrc == WIRE_OK) != (drc == WIRE_OK && m.kind == WM_OBJ_DATA))
			abort();
		if (vrc == WIRE_OK && drc == WIRE_OK &&
		    (memcmp(dv.id, m.u.obj_data.id, 32) != 0 || dv.total != m.u.obj_data.total ||
		     dv.offset != m.u.obj_data.offset || dv.chunk.len != m.u.obj_data.chunk.len ||
		     (dv.chunk.len && memcmp(dv.chunk.data, m.u.obj_data.chunk.data, dv.chunk.len) != 0)))
			abort();
		if (drc == WIRE_OK) {
			check_round_trip(&m);
			check_bounds(f, n);
			if (m.kind == WM_OBJ_DATA) {
				const struct wire_obj_data *d = &m.u.obj_data;
				if (!begun && obj_asm_begin(&a, d->id, d->total, 1u << 20, 64, &e) == WIRE_OK)
					begun = 1;
				if (begun && !obj_asm_complete(&a)) {
					uint64_t got = a.got;
					if (obj_asm_add(&a, d, want, &e) == WIRE_OK) {
						if (a.got != got + d->chunk.len || a.got > a.total)
							abort();
						want += 64;
					} else if (a.got != got) {
						abort(); /* a refused chunk changes nothing */
					}
				}
			}
			int was = hs.state, code;
			char why[128];
			if (!replayed && m.kind == WM_AUTH && m.u.auth.mac[0] == 0xA5 && hs.state == HS_CHALLENGED)
				auth_mac(&tok, HS_LABEL_CLIENT, hs.ns, hs.nc, m.u.auth.mac);
			int hsmsg = wire_hs_server(&hs, &tok, &m, &out, &code, why, sizeof why);
			if (hsmsg) {
				hellos += m.kind == WM_HELLO;
				if (was == HS_FAILED && hs.state != HS_FAILED)
					abort(); /* a refused connection stays refused */
				if (hs.state == HS_AUTHED && (m.kind != WM_AUTH || hellos != 1 || code != WIRE_OK))
					abort();
				if (replayed && m.kind == WM_AUTH && hs.state == HS_AUTHED)
					abort(); /* another connection's proof: never */
				fuzz_wire_authed += hs.state == HS_AUTHED && was != HS_AUTHED;
				fuzz_wire_replays_refused += replayed && m.kind == WM_AUTH;
				if (code == WIRE_OK && (out.kind != WM_CHALLENGE && out.kind != WM_OK))
					abort();
			} else if (hs.state != was) {
				abort(); /* other messages never move the handshake */
			}
			if (!replayed && sent.n < MAX_SENT) {
				/* kept as sent (the proof fixed up), for a later replay */
				sbuf_init(&sent.f[sent.n]);
				if (wire_encode(&m, &sent.f[sent.n], &e) == WIRE_OK)
					sent.n++;
				else
					sbuf_fini(&sent.f[sent.n]);
			}
			wire_msg_free(&m);
		}
	next:
		if (!end)
			break;
		at += step + 4;
	}
	for (size_t i = 0; i < sent.n; i++)
		sbuf_fini(&sent.f[i]);
	obj_asm_fini(&a);
	return 0;
}
