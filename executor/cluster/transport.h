/* transport.h - authenticated request/reply connections over nng.
 *
 * nng's req/rep: every message a client sends is answered by exactly one
 * reply, so whatever must arrive (a JOIN, a LEAVE before closing, a task's
 * result) is acknowledged by its reply, and nng_close dropping queued
 * messages loses nothing that was acknowledged. A server (the head; later
 * each worker's listener) is one rep socket: nng tells it which pipe each
 * request came on, so the handshake state is kept per pipe, and nng's pipe
 * notifications tell it when a peer's connection closes; a request can be
 * answered later, from another thread (an nng context per request taken
 * away), while the server goes on serving others. A client is one req
 * socket with one dialer; calls from several threads each use their own nng
 * context, so the heartbeat thread never waits behind another call.
 *
 * Test hook: FLOW_TEST_SEND_DELAY_MS=N in the environment (read once) makes
 * every frame this process sends (requests and replies) wait N ms first.
 *
 * Ownership: wire_server / wire_client are opened and closed here; messages
 * returned by recv/call belong to the caller (wire_msg_free).
 */
#ifndef FLOW_TRANSPORT_H
#define FLOW_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "wire.h"

/* Log lines on stderr: "flow head: <UTC time> message". */
/* *dl = CLOCK_REALTIME now + ms: a deadline for pthread_cond_timedwait
 * (the cluster's waits all count in milliseconds). */
struct timespec;
void wire_deadline(struct timespec *dl, int ms);
void wire_log_set_name(const char *name);
void wire_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "HOST:PORT" (or a full nng URL) to "tcp://HOST:PORT"; -1 if malformed. */
int wire_url(const char *address, char *url, size_t n);

/* ---- server ----------------------------------------------------------- */
typedef struct wire_server wire_server;
/* Called on an nng thread when an authenticated peer's connection closes. */
typedef void (*wire_gone_fn)(void *arg, uint32_t pipe, const char *peer);

int wire_server_open(wire_server **out, const char *url, const auth_token *tok, verr *e);
int wire_server_port(wire_server *s);
void wire_server_on_gone(wire_server *s, wire_gone_fn fn, void *arg);
/* Waits up to timeout_ms for one request from an authenticated peer. The
 * handshake, bad frames and unauthenticated requests are handled here
 * (answered, logged, their connection closed). WIRE_OK: *m came from
 * *pipe (peer "ip:port" copied to peer) and must be answered with
 * wire_server_reply before the next recv. WIRE_ETIMEDOUT: nothing for the
 * caller this time. */
int wire_server_recv(wire_server *s, struct wire_msg *m, uint32_t *pipe, char *peer,
                     size_t peersz, int timeout_ms);
int wire_server_reply(wire_server *s, const struct wire_msg *m);
/* A frame already encoded with wire_encode. */
int wire_server_reply_raw(wire_server *s, const void *frame, size_t n);
int wire_server_reply_error(wire_server *s, int code, const char *message);
/* Takes the request just received away from the loop, to be answered
 * later from any thread (wire_pending_reply/error, exactly once); the loop
 * goes on receiving meanwhile. NULL if out of resources (then answer it
 * with wire_server_reply as usual). */
typedef struct wire_pending wire_pending;
wire_pending *wire_server_detach(wire_server *s);
int wire_pending_reply(wire_pending *p, const struct wire_msg *m);
int wire_pending_error(wire_pending *p, int code, const char *message);
/* Like wire_pending_reply_raw (frame copied) but returns once the reply
 * is queued, not sent: a loop serving large replies (objects' chunks)
 * goes on receiving while nng writes them. */
int wire_pending_send_raw(wire_pending *p, const void *frame, size_t n);
/* A reply frame built in place, so its bytes are copied once on their
 * way to nng (objects' chunks): wire_outmsg_new makes an empty one with
 * room for cap bytes (NULL if out of memory), wire_outmsg_append copies
 * bytes in (0, or -1), wire_outmsg_frame says what it holds;
 * wire_pending_send_msg takes m and sends it as wire_pending_send_raw
 * does; wire_outmsg_free drops one not sent. */
typedef struct wire_outmsg wire_outmsg;
wire_outmsg *wire_outmsg_new(size_t cap);
int wire_outmsg_append(wire_outmsg *m, const void *p, size_t n);
const void *wire_outmsg_frame(wire_outmsg *m, size_t *n);
int wire_pending_send_msg(wire_pending *p, wire_outmsg *m);
void wire_outmsg_free(wire_outmsg *m);
/* Replies wire_pending_send_raw queued that nng has not sent (or failed)
 * yet, in this process: a node that stops waits for them (nng_close
 * drops what is queued). */
size_t wire_pending_unsent(void);
/* A frame already encoded (a batch assembled from records). */
int wire_pending_reply_raw(wire_pending *p, const void *frame, size_t n);
/* The same, queued and not waited for (as wire_pending_send_raw, with
 * the test hook's delay as a reply): the caller goes on at once. */
int wire_pending_reply_async(wire_pending *p, const void *frame, size_t n);
/* Closes a pipe a moment after the reply just sent (so the reply can leave). */
void wire_server_drop(wire_server *s, uint32_t pipe);
void wire_server_close(wire_server *s);

/* ---- client ----------------------------------------------------------- */
typedef struct wire_client wire_client;

/* Connects within timeout_ms (no handshake yet). WIRE_EREFUSED: the
 * connection was refused (nothing listens there); WIRE_ETIMEDOUT: no answer
 * in time (unreachable); WIRE_EIO: another error. */
int wire_client_open(wire_client **out, const char *url, int timeout_ms, verr *e);
/* The same, accepting replies of up to recv_max bytes (objects' chunks:
 * larger than WIRE_MAX_PAYLOAD, so fewer round trips); only for a peer
 * that authenticates itself in the handshake, since that is how much one
 * reply can make this side allocate. */
int wire_client_open_max(wire_client **out, const char *url, size_t recv_max, int timeout_ms,
                         verr *e);
/* The handshake. WIRE_EAUTH: the server could not prove it knows our
 * token, or refused our proof. */
int wire_client_handshake(wire_client *c, const auth_token *t, int role, int timeout_ms, verr *e);
/* One request and its reply (thread-safe). An ERROR reply returns its code
 * with its message in e, and *rep holds nothing. */
int wire_client_call(wire_client *c, const struct wire_msg *req, struct wire_msg *rep,
                     int timeout_ms, verr *e);
/* Sends raw bytes as one message (tests send broken frames with it). */
int wire_client_call_raw(wire_client *c, const void *frame, size_t n, struct wire_msg *rep,
                         int timeout_ms, verr *e);
/* Like wire_client_call_raw, but a reply other than ERROR is not decoded:
 * *rep holds its whole frame (*body, *len; at least a header, nothing
 * else checked), for the caller to check and decode in place and release
 * with wire_inmsg_free (objects' chunks: no copy of the bytes).
 * An ERROR reply returns its code with its message in e, *rep NULL. */
typedef struct wire_inmsg wire_inmsg;
int wire_client_call_frame(wire_client *c, const void *frame, size_t n, wire_inmsg **rep,
                           const uint8_t **body, size_t *len, int timeout_ms, verr *e);
void wire_inmsg_free(wire_inmsg *m);
/* A thread that makes many calls keeps one caller: its nng context and
 * aio are kept from call to call (made once, not per request). Not
 * thread-safe: one caller per thread. wire_caller_call_raw is
 * wire_client_call_raw on the caller's context (opened on c at first use,
 * again if c changes; k NULL: a context for this call only). Free the
 * caller before closing the client it was last used with, or after
 * shutting it. */
typedef struct wire_caller wire_caller;
wire_caller *wire_caller_new(void); /* NULL if out of resources */
int wire_caller_call_raw(wire_caller *k, wire_client *c, const void *frame, size_t n,
                         struct wire_msg *rep, int timeout_ms, verr *e);
void wire_caller_free(wire_caller *k);
/* An asynchronous call on its own context: the request is queued with
 * nng and the calling thread goes on; the reply (decoded; an ERROR reply
 * as its code, its message in why) or the failure is handed to fn on
 * nng's thread, once per wire_acall_start that returned WIRE_OK. fn must
 * not block (nng's few threads run it); it may start the next call on
 * the same wire_acall. rep is fn's to free (wire_msg_free) when rc is
 * WIRE_OK. No deadline is kept here (see struct timed in transport.c):
 * the owner aborts a call that took too long or whose connection was
 * lost. wire_acall_free waits for fn to return; free it before closing
 * the client it was last used with, or after shutting it. */
typedef struct wire_acall wire_acall;
typedef void (*wire_acall_fn)(void *arg, int rc, struct wire_msg *rep, const char *why);
wire_acall *wire_acall_new(wire_acall_fn fn, void *arg); /* NULL if out of resources */
int wire_acall_start(wire_acall *a, wire_client *c, const void *frame, size_t n, verr *e);
/* Ends the call in flight (fn then reports WIRE_ETIMEDOUT or
 * WIRE_ECLOSED); nothing if none. */
void wire_acall_abort(wire_acall *a, int timed_out);
/* After a failed call: waits (at most 200 ms) until a broken connection
 * is known lost, so wire_client_lost says so (as after a failed
 * wire_client_call). Not from fn. */
void wire_acall_settle(wire_acall *a);
void wire_acall_free(wire_acall *a);
/* Requests of these kinds (at most 4) on authenticated connections are
 * handed to fn on nng's thread that received them, while the loop sleeps
 * on in wire_server_recv (one thread hand-off less per request); fn
 * answers as the loop would (wire_server_reply, wire_server_detach, on
 * s), must not block, and never runs at once with the loop's handling
 * (a receive is only out while the loop is in wire_server_recv). m is
 * freed after fn returns. Set it before the loop's first receive. */
typedef void (*wire_fast_fn)(void *arg, wire_server *s, uint32_t pipe, struct wire_msg *m);
void wire_server_serve_fast(wire_server *s, const uint16_t *kinds, int n, wire_fast_fn fn, void *arg);
/* The role (WIRE_ROLE_*) pipe's HELLO claimed, once it authenticated;
 * 0 otherwise; its peer ("ip:port") copied to peer (if not NULL). A
 * claim, not a proof: every authenticated peer holds the token; a worker
 * tells the head's calls from a client's direct ones by it. */
int wire_server_role(wire_server *s, uint32_t pipe, char *peer, size_t peersz);
/* 1 once the authenticated connection has closed. */
int wire_client_lost(wire_client *c);
/* The local address of the connection (the one the server sees us from). */
int wire_client_local_ip(wire_client *c, char *buf, size_t n);
/* Closes the connection: calls in other threads fail at once; c stays
 * valid until wire_client_close. */
void wire_client_shutdown(wire_client *c);
void wire_client_close(wire_client *c);

#endif
