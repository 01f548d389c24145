/* wire.h - the cluster's messages and their framing (docs/wire.md).
 *
 * Every message is one frame:
 *   magic "FLOW" (4 bytes) | version u16 | kind u16 | length u32 | payload
 * (integers little-endian). The payload is the message's fields in the order
 * WIRE_MESSAGES lists them. A frame is checked whole (magic, version, known
 * kind, length equal to what arrived and at most WIRE_MAX_PAYLOAD) before a
 * field is read, and every field length is checked against the bytes left
 * before anything is allocated. Values (task arguments and results) travel in
 * lang/encode's encoding, decoded by val_decode.
 *
 * Ownership: wire_encode borrows the message. wire_decode fills *m with
 * malloc'd strings, blobs, lists and new value references that
 * wire_msg_free releases; on failure *m holds nothing to free.
 */
#ifndef FLOW_WIRE_H
#define FLOW_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "lang/value.h"

#define WIRE_MAGIC "FLOW"
#define WIRE_VERSION 9
#define WIRE_HEADER 12
/* Also nng's receive limit, so a peer that has not authenticated can make a
 * node allocate at most this much; plans and objects travel in chunks. */
#define WIRE_MAX_PAYLOAD (4u << 20)
#define WIRE_MAX_STR (64u << 10)
#define WIRE_MAX_LIST 65536u
#define WIRE_NONCE 32
#define WIRE_MAC 32

/* Error codes carried by ERROR messages and returned by this library. */
#define WIRE_ERRORS(X) \
	X(WIRE_OK,        "ok") \
	X(WIRE_ETRUNC,    "truncated frame") \
	X(WIRE_EMAGIC,    "not a Flow frame (bad magic)") \
	X(WIRE_EVERSION,  "protocol version mismatch") \
	X(WIRE_EKIND,     "unknown message kind") \
	X(WIRE_ETOOBIG,   "frame too large") \
	X(WIRE_EMALFORMED, "malformed message") \
	X(WIRE_EAUTH,     "authentication failed (wrong cluster token)") \
	X(WIRE_ENOAUTH,   "not authenticated") \
	X(WIRE_ESTATE,    "message not expected now") \
	X(WIRE_ENODE,     "unknown or fenced node") \
	X(WIRE_EIO,       "connection failed") \
	X(WIRE_ETIMEDOUT, "timed out") \
	X(WIRE_ECLOSED,   "connection closed") \
	X(WIRE_EREFUSED,  "refused")

enum wire_code {
#define X(code, text) code,
	WIRE_ERRORS(X)
#undef X
	WIRE_NERRORS
};
const char *wire_strerror(int code);

/* Roles a peer claims in HELLO. */
enum { WIRE_ROLE_WORKER = 1, WIRE_ROLE_CLIENT = 2, WIRE_ROLE_HEAD = 3 };

/* Field types: U8, U32, U64 fixed little-endian; STR u32 length + UTF-8 bytes
 * (no NUL, at most WIRE_MAX_STR); B32 32 raw bytes; BLOB u32 length + bytes;
 * VAL u32 length + one lang/encode encoding; NODES/JOBS/CALLS/DONES u32
 * count + records. */
typedef uint8_t wire_U8;
typedef uint32_t wire_U32;
typedef uint64_t wire_U64;
typedef char *wire_STR;
typedef uint8_t wire_B32[32];
typedef struct { uint8_t *data; uint32_t len; } wire_BLOB;
typedef value wire_VAL;

/* A node as STATUS_REPLY lists it. */
#define WIRE_NODE_FIELDS(F) \
	F(U64, id) F(U64, epoch) F(STR, host) F(STR, address) F(STR, state) \
	F(U32, cpus) F(U32, cpus_used) F(STR, resources) F(U64, store_cap) \
	F(U64, store_used) F(U64, store_spilled) F(U64, heartbeat_age_ms) F(U32, pid)
/* A job (one connected `flow run --address`) as STATUS_REPLY lists it:
 * the head's number for it, the client's address, the program (its
 * source file), when it began (Unix ms), its task calls waiting at the
 * head, placed on a node (running or queued there), done and failed;
 * version 9 appended spilled: its nested calls that nodes sent to the
 * head so far (docs/wire.md, "Nested calls that spill"). */
#define WIRE_JOB_FIELDS(F) \
	F(U64, id) F(STR, state) F(STR, client) F(STR, program) F(U64, start_unix_ms) \
	F(U64, queued) F(U64, running) F(U64, done) F(U64, failed) F(U64, spilled)

/* A task call in RUN_TASKS: id names it in its TASKS_DONE record (the
 * sender's own number); function fn of plan `hash` on args (a list), as
 * call `ident` of random stream `seed`. Version 9 appended level: how
 * deep the call is nested (0: a DAG call; a nested call that spilled:
 * its level at its caller), so the nesting limit counts on from there. */
#define WIRE_CALL_FIELDS(F) \
	F(U64, id) F(U64, job) F(B32, hash) F(U32, fn) F(U64, ident) F(U64, seed) F(VAL, args) \
	F(U32, level)
/* A call's outcome in TASKS_DONE: ok is WIRE_DONE_OK (result holds the
 * value), WIRE_DONE_FAILED (the task failed: error as its node reported
 * it), WIRE_DONE_LOST (its node was lost while it held the call: error
 * names the node; it may have run), WIRE_DONE_NOTRUN (it was not run:
 * no node for it, the plan missing, its client gone; error says why) or,
 * since version 4, WIRE_DONE_ARG_LOST (it was not run: the holder of a
 * large argument was lost before its node pulled it; result is that
 * object's id, a str of 64 lowercase hex digits, error says why, for
 * people only: the caller acts on the status, never on the text) or,
 * since version 5, WIRE_DONE_UNSENDABLE (it ran, but its result cannot
 * travel: an actor, a function, larger than a message; error says why,
 * for people; the caller may run the task itself);
 * node ran it, output is what it printed. Version 3 appended: thread,
 * the node's thread that ran it (1, 2, ...; 0: none or unknown), and
 * start_us/end_us, when it started and ended, in microseconds after the
 * node received the call (both 0 when it did not run there). Version 6
 * appended ekind: with ok WIRE_DONE_FAILED, the failure's kind as
 * LANGUAGE.md section 8 names it (lang/vm.h's ERR_*: ERR_TIMEOUT when
 * its @timeout passed), so that e.kind is the same on a cluster. */
#define WIRE_DONE_FIELDS(F) \
	F(U64, id) F(U8, ok) F(VAL, result) F(STR, error) F(STR, node) F(STR, output) \
	F(U32, thread) F(U64, start_us) F(U64, end_us) F(U8, ekind)
enum { WIRE_DONE_FAILED = 0, WIRE_DONE_OK = 1, WIRE_DONE_LOST = 2, WIRE_DONE_NOTRUN = 3,
       WIRE_DONE_ARG_LOST = 4, WIRE_DONE_UNSENDABLE = 5 };

#define WIRE_DECL(T, f) wire_##T f;
struct wire_node { WIRE_NODE_FIELDS(WIRE_DECL) };
struct wire_job { WIRE_JOB_FIELDS(WIRE_DECL) };
struct wire_call { WIRE_CALL_FIELDS(WIRE_DECL) };
struct wire_done { WIRE_DONE_FIELDS(WIRE_DECL) };
typedef struct { struct wire_node *v; uint32_t n; } wire_NODES;
typedef struct { struct wire_job *v; uint32_t n; } wire_JOBS;
typedef struct { struct wire_call *v; uint32_t n; } wire_CALLS;
typedef struct { struct wire_done *v; uint32_t n; } wire_DONES;

/* The messages: M(KIND, number, name, fields). Numbers are the protocol:
 * never reuse or renumber one without a WIRE_VERSION change. c = client
 * (worker, `flow status`, test client), s = server (head, worker listener). */
#define WIRE_MESSAGES(M, F) \
	/* c->s: start of the handshake; the client's nonce */ \
	M(HELLO, 1, hello, F(U8, role) F(B32, nonce)) \
	/* s->c: the server's nonce and its proof HMAC(token, "flow-s"|v|nc|ns) */ \
	M(CHALLENGE, 2, challenge, F(B32, nonce) F(B32, mac)) \
	/* c->s: the client's proof HMAC(token, "flow-c"|v|ns|nc) */ \
	M(AUTH, 3, auth, F(B32, mac)) \
	/* s->c: a request done; code is WIRE_OK */ \
	M(OK, 4, ok, F(U32, code)) \
	/* s->c: a request refused; the connection may be closed after it */ \
	M(ERROR, 5, error, F(U32, code) F(STR, message)) \
	/* c->s: a worker joins: what it offers, where it can be reached */ \
	M(JOIN, 6, join, F(STR, host) F(STR, address) F(U32, cpus) \
	  F(STR, resources) F(U64, store_cap) F(STR, spill_dir) F(U32, pid)) \
	/* s->c: the worker's node id and epoch (the fence) */ \
	M(JOINED, 7, joined, F(U64, node_id) F(U64, epoch) F(U32, heartbeat_ms)) \
	/* c->s: liveness and load, every heartbeat_ms */ \
	M(HEARTBEAT, 8, heartbeat, F(U64, node_id) F(U64, epoch) F(U32, cpus_used) \
	  F(U64, store_used) F(U64, store_spilled)) \
	/* c->s: a worker leaves cleanly (acknowledged before it closes) */ \
	M(LEAVE, 9, leave, F(U64, node_id) F(U64, epoch)) \
	/* c->s: what the cluster looks like */ \
	M(STATUS, 10, status, F(U32, flags)) \
	M(STATUS_REPLY, 11, status_reply, F(NODES, nodes) F(JOBS, jobs)) \
	/* plans travel once per node, named by their SHA-256, in chunks */ \
	M(PLAN_PUT, 12, plan_put, F(B32, hash) F(U64, total) F(U64, offset) \
	  F(BLOB, chunk)) \
	/* version 2: task calls travel in batches. Both requests are answered
	 * by TASKS_DONE with the outcomes ready for this connection (of any
	 * earlier batch), once at least one is, or after wait_ms (then maybe
	 * none; wait_ms 0: at once) */ \
	M(RUN_TASKS, 13, run_tasks, F(U32, wait_ms) F(CALLS, calls)) \
	M(WAIT_DONE, 14, wait_done, F(U32, wait_ms)) \
	M(TASKS_DONE, 15, tasks_done, F(DONES, dones)) \
	/* head->worker: job's client went away; its calls queued there are
	 * dropped (each answered as not run); answered by OK */ \
	M(CANCEL, 16, cancel, F(U64, job)) \
	/* large values are objects held by the node that made them and pulled
	 * by the consumer from that holder in chunks (objects.h). c->s: bytes
	 * [offset, offset + max) of object id, answered by OBJ_DATA (exactly
	 * min(max, total - offset) bytes) or ERROR */ \
	M(OBJ_GET, 17, obj_get, F(B32, id) F(U64, offset) F(U32, max)) \
	M(OBJ_DATA, 18, obj_data, F(B32, id) F(U64, total) F(U64, offset) F(BLOB, chunk)) \
	/* c->s: the consumer has the whole object; the holder may free it */ \
	M(OBJ_FREE, 19, obj_free, F(B32, id)) \
	/* c->head: an actor call (actors.h): op WIRE_ACTOR_NEW (calls[0].fn the
	 * class, args init's; actor 0) or WIRE_ACTOR_CALL (actor the id, fn the
	 * method's proto); exactly one call. Answered by TASKS_DONE with its one
	 * outcome when it ends (NEW: result the actor's id); ok WIRE_DONE_LOST:
	 * the actor died (e.kind "actor_died") */ \
	M(ACTOR_CALL, 20, actor_call, F(U8, op) F(U64, actor) F(U32, restarts) F(STR, name) \
	  F(CALLS, calls)) \
	/* version 7: direct calls (docs/wire.md, "Direct calls"). c->head: op
	 * WIRE_LEASE_TAKE asks for a worker to send task calls to straight
	 * (node 0); WIRE_LEASE_KEEP (every 200 ms while held) and
	 * WIRE_LEASE_RETURN report on the lease on node: the direct calls in
	 * flight now (running) and the outcomes since the last report (done,
	 * failed), for flow status. Answered by LEASED: the node, its listener's
	 * address, its name for messages and its state; node 0 when none is
	 * granted or the lease ends (state says why: "dead" or "gone" means
	 * the calls in flight there are lost). Version 9 appended job: the
	 * client's job number (its calls' wire_call job) */ \
	M(LEASE, 21, lease, F(U8, op) F(U64, node) F(U32, running) F(U64, done) F(U64, failed) \
	  F(U64, job)) \
	M(LEASED, 22, leased, F(U64, node) F(STR, address) F(STR, name) F(STR, state)) \
	/* version 8. c->s: object id as one byte stream (obj_stream.h);
	 * answered by OBJ_GRANT (the object's size, the port of the holder's
	 * stream listener, a one-time key) or ERROR */ \
	M(OBJ_STREAM, 23, obj_stream, F(B32, id)) \
	M(OBJ_GRANT, 24, obj_grant, F(B32, id) F(U64, total) F(U32, port) F(B32, key)) \
	/* version 8: start reports (docs/wire.md, "Start reports"). worker->head
	 * on its own connection: the calls (the head's record ids on its link,
	 * each a little-endian U64 in ids: 8 bytes each) that a task thread or
	 * an actor is about to start; none of them starts before the answer,
	 * STARTED_ACK, whose refused lists those the head did not accept (the
	 * node was lost meanwhile and the call went elsewhere: not run here) */ \
	M(STARTED, 25, started, F(U64, node_id) F(U64, epoch) F(BLOB, ids)) \
	M(STARTED_ACK, 26, started_ack, F(BLOB, refused))
enum { WIRE_ACTOR_NEW = 1, WIRE_ACTOR_CALL = 2 };
enum { WIRE_LEASE_TAKE = 1, WIRE_LEASE_KEEP = 2, WIRE_LEASE_RETURN = 3 };
/* head->node: actor work travels in RUN_TASKS records whose fn carries one
 * of these flags (the low bits: the class, or the method's proto); args is
 * [actor id, the call's arguments...]. FREE: the actor's job ended. */
#define WIRE_FN_ACTOR_NEW 0x80000000u
#define WIRE_FN_ACTOR_CALL 0x40000000u
#define WIRE_FN_ACTOR_FREE 0x20000000u
#define WIRE_FN_ACTOR_MASK 0xe0000000u

enum wire_kind {
	WM_NONE = 0,
#define M(K, n, name, fields) WM_##K = n,
#define F(T, f)
	WIRE_MESSAGES(M, F)
#undef M
#undef F
	WM_KIND_END
};

#define M(K, n, name, fields) struct wire_##name { fields };
#define F(T, f) wire_##T f;
WIRE_MESSAGES(M, F)
#undef M
#undef F

struct wire_msg {
	int kind; /* enum wire_kind: WM_HELLO ... */
	union {
#define M(K, n, name, fields) struct wire_##name name;
#define F(T, f)
		WIRE_MESSAGES(M, F)
#undef M
#undef F
	} u;
};

/* "HELLO", or NULL for a kind this version does not know. */
const char *wire_kind_name(int kind);

/* Appends m's frame to out. Fails (WIRE_EMALFORMED, why set) only for a
 * value that cannot be encoded or a field over its limit. */
int wire_encode(const struct wire_msg *m, sbuf *out, verr *why);

/* Checks the header of buf[0..len) and returns the kind and version;
 * WIRE_OK or the reason (why says more). */
int wire_check_header(const void *buf, size_t len, int *kind, int *version, verr *why);

/* Decodes one whole frame. WIRE_OK, or the code with why set. */
int wire_decode(const void *buf, size_t len, struct wire_msg *m, verr *why);

void wire_msg_free(struct wire_msg *m);

/* Batches are assembled from records encoded one at a time (so a record
 * that cannot travel is known before it joins a batch):
 * wire_encode_call/done append one record (WIRE_EMALFORMED, b unchanged,
 * if a value cannot be encoded or a field is over its limit);
 * wire_frame_begin appends a header for `kind` and returns where it
 * starts, wire_put_u32 a U32 field (a list's count), wire_frame_end
 * writes the payload's length once the fields are in. */
int wire_encode_call(const struct wire_call *c, sbuf *b, verr *why);
int wire_encode_done(const struct wire_done *d, sbuf *b, verr *why);
size_t wire_frame_begin(sbuf *b, int kind);
void wire_put_u32(sbuf *b, uint32_t x);
void wire_frame_end(sbuf *b, size_t at);
void wire_done_free(struct wire_done *d);

#endif
