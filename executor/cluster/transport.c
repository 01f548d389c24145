/* transport.c - authenticated req/rep connections over nng (transport.h). */
#include "transport.h"
#include "executor/mono_clock.h"
#include "lang/value.h"
#include "handshake.h"
#include "tls.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#define LABEL_SERVER HS_LABEL_SERVER
#define LABEL_CLIENT HS_LABEL_CLIENT
#define DROP_DELAY_MS 200

/* ---- logging ---------------------------------------------------------- */

static char log_name[32] = "flow";

void wire_log_set_name(const char *name)
{
	snprintf(log_name, sizeof log_name, "%s", name);
}

void wire_log(const char *fmt, ...)
{
	char ts[32], line[1024];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s %s\n", log_name, ts, line);
	fflush(stderr);
}

void wire_deadline(struct timespec *dl, int ms)
{
	clock_gettime(CLOCK_REALTIME, dl);
	dl->tv_sec += ms / 1000;
	dl->tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl->tv_nsec >= 1000000000) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000;
	}
}

int wire_url(const char *address, char *url, size_t n)
{
	if (strstr(address, "://"))
		return snprintf(url, n, "%s", address) < (int)n ? 0 : -1;
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address || !colon[1])
		return -1;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -1;
	return snprintf(url, n, "tcp://%s", address) < (int)n ? 0 : -1;
}

static void format_addr(const nng_sockaddr *sa, char *buf, size_t n, int with_port)
{
	if (sa->s_family == NNG_AF_INET) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &sa->s_in.sa_addr, ip, sizeof ip);
		if (with_port)
			snprintf(buf, n, "%s:%u", ip, ntohs(sa->s_in.sa_port));
		else
			snprintf(buf, n, "%s", ip);
	} else if (sa->s_family == NNG_AF_INET6) {
		char ip[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, sa->s_in6.sa_addr, ip, sizeof ip);
		if (with_port)
			snprintf(buf, n, "[%s]:%u", ip, ntohs(sa->s_in6.sa_port));
		else
			snprintf(buf, n, "%s", ip);
	} else {
		snprintf(buf, n, "?");
	}
}

/* Test hook: FLOW_TEST_SEND_DELAY_MS=N (read once) delays every frame this
 * process sends by N ms, a slow link (the kernel here has no netem). */
static void test_send_delay(void)
{
	static atomic_int ms = -1;
	int v = atomic_load(&ms);
	if (v < 0) {
		const char *s = getenv("FLOW_TEST_SEND_DELAY_MS");
		v = s ? atoi(s) : 0;
		v = v < 0 ? 0 : v > 60000 ? 60000 : v;
		atomic_store(&ms, v);
	}
	if (v > 0)
		usleep((useconds_t)v * 1000);
}

/* No nng deadline (nng_aio_set_timeout) on an operation of a context:
 * nng 1.5's expiry thread can fire a context's cancel routine just as the
 * operation completes, and the context is closed (freed) right after the
 * completion here, so that routine then locks freed memory (a SIGSEGV in
 * "nng:aio:expire", seen on workers hosting actors and under packet
 * loss). Each wait is bounded by the waiting thread itself instead: past
 * its deadline it aborts the operation, and the context is closed only
 * after that, by this same thread. */
struct timed {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void timed_done(void *arg)
{
	struct timed *t = arg;
	pthread_mutex_lock(&t->mu);
	t->done = 1;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void timed_init(struct timed *t)
{
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->done = 0;
}

static void timed_fini(struct timed *t)
{
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
}

/* Waits for the operation of aio (whose callback is timed_done(t)) for at
 * most ms (negative: no limit), then aborts it with `why` and waits for
 * its end. */
static void timed_wait(nng_aio *aio, struct timed *t, int ms, int why)
{
	struct timespec dl;
	if (ms >= 0)
		wire_deadline(&dl, ms);
	pthread_mutex_lock(&t->mu);
	while (!t->done) {
		if (ms < 0) {
			pthread_cond_wait(&t->cv, &t->mu);
		} else if (pthread_cond_timedwait(&t->cv, &t->mu, &dl) != 0 && !t->done) {
			pthread_mutex_unlock(&t->mu);
			nng_aio_abort(aio, why);
			pthread_mutex_lock(&t->mu);
			while (!t->done)
				pthread_cond_wait(&t->cv, &t->mu);
		}
	}
	t->done = 0; /* ready for the next operation */
	pthread_mutex_unlock(&t->mu);
}

/* Sends one frame on a rep context (the reply to the request it holds). */
static int ctx_send(nng_ctx ctx, const void *p, size_t n)
{
	nng_aio *aio;
	nng_msg *msg;
	struct timed t;
	timed_init(&t);
	if (nng_aio_alloc(&aio, timed_done, &t) != 0) {
		timed_fini(&t);
		return -1;
	}
	if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, p, n) != 0) {
		nng_aio_free(aio);
		timed_fini(&t);
		return -1;
	}
	nng_aio_set_msg(aio, msg);
	test_send_delay();
	nng_ctx_send(ctx, aio);
	timed_wait(aio, &t, 5000, NNG_ETIMEDOUT);
	int rv = nng_aio_result(aio);
	if (rv != 0)
		nng_msg_free(msg);
	nng_aio_free(aio);
	timed_fini(&t);
	return rv == 0 ? 0 : -1;
}

/* ---- server ----------------------------------------------------------- */

struct pipe_st {
	uint32_t id;
	struct wire_hs hs;
	int role;     /* what its HELLO claimed (WIRE_ROLE_*; 0 before) */
	int dropping; /* refused: closed at close_at, nothing more is served */
	char peer[64];
	int64_t close_at;
};

struct wire_server {
	nng_socket sock;
	nng_listener listener;
	auth_token tok;
	pthread_mutex_t mu; /* guards pipes (nng's notify threads touch it) */
	struct pipe_st *pipes;
	size_t npipes, cap;
	wire_gone_fn gone;
	void *gone_arg;
	uint32_t cur_pipe; /* the pipe of the request being answered */
	/* the loop's rep context and its aio: a request taken away with
	 * wire_server_detach keeps its context, and the loop gets a new one */
	nng_ctx ctx;
	nng_aio *aio;
	struct timed rt; /* the loop's receive (server_wait) */
	/* requests served on nng's thread (wire_server_serve_fast) */
	wire_fast_fn fast;
	void *fast_arg;
	uint16_t fast_kinds[4];
	int nfast;
	int want_back; /* under rt.mu: the loop's wait is over, it takes the next */
	int ate;       /* under rt.mu: what the loop was woken for was served */
};

struct wire_pending {
	nng_ctx ctx;
	uint32_t sock; /* its socket's id */
};

/* Contexts whose reply has left, kept for the next request taken away
 * (wire_server_detach) rather than closed and opened again (a close
 * wakes nng's reaper thread); by socket id, a closed server's dropped. */
#define IDLE_CTX_MAX 64
static pthread_mutex_t idle_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint32_t sock;
	nng_ctx ctx;
} idle_ctx[IDLE_CTX_MAX];
static size_t nidle_ctx;

static void ctx_put(uint32_t sock, nng_ctx ctx)
{
	pthread_mutex_lock(&idle_mu);
	int kept = nidle_ctx < IDLE_CTX_MAX;
	if (kept) {
		idle_ctx[nidle_ctx].sock = sock;
		idle_ctx[nidle_ctx++].ctx = ctx;
	}
	pthread_mutex_unlock(&idle_mu);
	if (!kept)
		nng_ctx_close(ctx);
}

static int ctx_take(uint32_t sock, nng_ctx *ctx)
{
	int found = 0;
	pthread_mutex_lock(&idle_mu);
	for (size_t i = nidle_ctx; i-- > 0 && !found;)
		if (idle_ctx[i].sock == sock) {
			*ctx = idle_ctx[i].ctx;
			idle_ctx[i] = idle_ctx[--nidle_ctx];
			found = 1;
		}
	pthread_mutex_unlock(&idle_mu);
	return found;
}

/* The socket closed: its contexts went with it. */
static void ctx_forget(uint32_t sock)
{
	pthread_mutex_lock(&idle_mu);
	for (size_t i = 0; i < nidle_ctx;)
		if (idle_ctx[i].sock == sock)
			idle_ctx[i] = idle_ctx[--nidle_ctx];
		else
			i++;
	pthread_mutex_unlock(&idle_mu);
}

static struct pipe_st *find_pipe(wire_server *s, uint32_t id)
{
	for (size_t i = 0; i < s->npipes; i++)
		if (s->pipes[i].id == id)
			return &s->pipes[i];
	return NULL;
}

static void server_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	wire_server *s = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		/* before the protocol may deliver its first message */
		nng_sockaddr sa;
		char peer[64] = "?";
		if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0)
			format_addr(&sa, peer, sizeof peer, 1);
		pthread_mutex_lock(&s->mu);
		if (s->npipes == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 16;
			struct pipe_st *np = realloc(s->pipes, cap * sizeof *np);
			if (!np) {
				pthread_mutex_unlock(&s->mu);
				nng_pipe_close(p);
				return;
			}
			s->pipes = np;
			s->cap = cap;
		}
		struct pipe_st *st = &s->pipes[s->npipes++];
		memset(st, 0, sizeof *st);
		st->id = id;
		st->hs.state = HS_NEW;
		snprintf(st->peer, sizeof st->peer, "%s", peer);
		pthread_mutex_unlock(&s->mu);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		char peer[64] = "?";
		int authed = 0, midway = 0;
		pthread_mutex_lock(&s->mu);
		struct pipe_st *st = find_pipe(s, id);
		if (st) {
			authed = st->hs.state == HS_AUTHED;
			midway = st->hs.state == HS_CHALLENGED && !st->dropping;
			snprintf(peer, sizeof peer, "%s", st->peer);
			*st = s->pipes[--s->npipes];
		}
		pthread_mutex_unlock(&s->mu);
		if (midway)
			wire_log("connection from %s closed during the handshake "
			         "(its cluster token is probably not this one)", peer);
		if (authed && s->gone)
			s->gone(s->gone_arg, id, peer);
	}
}

static void server_recv_done(void *arg);

int wire_server_open(wire_server **out, const char *url, const auth_token *tok, verr *e)
{
	wire_server *s = calloc(1, sizeof *s);
	if (!s) {
		verr_set(e, "out of memory");
		return -1;
	}
	s->tok = *tok;
	pthread_mutex_init(&s->mu, NULL);
	timed_init(&s->rt);
	val_threads_begin(); /* nng's threads run our callbacks, which touch values (value.h) */
	int rv = nng_rep0_open(&s->sock);
	if (rv == 0)
		rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, WIRE_HEADER + WIRE_MAX_PAYLOAD);
	if (rv == 0)
		rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, server_pipe_event, s);
	if (rv == 0)
		rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, server_pipe_event, s);
	if (rv == 0)
		rv = nng_ctx_open(&s->ctx, s->sock);
	if (rv == 0)
		rv = nng_aio_alloc(&s->aio, server_recv_done, s);
	/* with TLS (tls.h): the same address over tls+tcp://, this node's
	 * certificate presented, the peer's required */
	char turl[600];
	verr te = {0};
	if (tls_url(url, turl, sizeof turl) != 0)
		rv = NNG_EADDRINVAL;
	else if (!tls_enabled()) {
		if (rv == 0)
			rv = nng_listen(s->sock, url, &s->listener, 0);
	} else {
		if (rv == 0)
			rv = nng_listener_create(&s->listener, s->sock, turl);
		if (rv == 0)
			rv = tls_listener_setup(s->listener, &te);
		if (rv == 0)
			rv = nng_listener_start(s->listener, 0);
	}
	if (rv != 0) {
		if (te.msg[0])
			verr_set(e, "cannot listen on %s: %s", turl, te.msg);
		else
			verr_set(e, "cannot listen on %s: %s", tls_enabled() ? turl : url, nng_strerror(rv));
		if (s->aio)
			nng_aio_free(s->aio);
		nng_close(s->sock);
		pthread_mutex_destroy(&s->mu);
		timed_fini(&s->rt);
		auth_token_wipe(&s->tok);
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int wire_server_port(wire_server *s)
{
	int port = 0;
	nng_listener_get_int(s->listener, NNG_OPT_TCP_BOUND_PORT, &port);
	return port;
}

void wire_server_on_gone(wire_server *s, wire_gone_fn fn, void *arg)
{
	s->gone = fn;
	s->gone_arg = arg;
}

static void close_due(wire_server *s)
{
	int64_t now = mono_now_ms();
	uint32_t due[16];
	int n = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->npipes && n < 16; i++)
		if (s->pipes[i].dropping && s->pipes[i].close_at <= now)
			due[n++] = s->pipes[i].id;
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < n; i++) {
		nng_pipe p;
		p.id = due[i];
		nng_pipe_close(p);
	}
}

void wire_server_drop(wire_server *s, uint32_t pipe)
{
	pthread_mutex_lock(&s->mu);
	struct pipe_st *st = find_pipe(s, pipe);
	if (st) {
		st->dropping = 1;
		st->close_at = mono_now_ms() + DROP_DELAY_MS;
	}
	pthread_mutex_unlock(&s->mu);
}

static int reply_msg(wire_server *s, const struct wire_msg *m)
{
	sbuf b;
	verr e;
	sbuf_init(&b);
	int rc = wire_encode(m, &b, &e);
	if (rc == WIRE_OK && ctx_send(s->ctx, b.data, b.len) != 0)
		rc = WIRE_EIO;
	sbuf_fini(&b);
	return rc;
}

int wire_server_reply(wire_server *s, const struct wire_msg *m)
{
	return reply_msg(s, m);
}

int wire_server_reply_raw(wire_server *s, const void *frame, size_t n)
{
	return ctx_send(s->ctx, frame, n) == 0 ? WIRE_OK : WIRE_EIO;
}

int wire_server_reply_error(wire_server *s, int code, const char *message)
{
	struct wire_msg m = {.kind = WM_ERROR};
	m.u.error.code = (uint32_t)code;
	m.u.error.message = (char *)message;
	return reply_msg(s, &m);
}

/* Refuses a request: the reason is logged and sent, the pipe closed soon. */
static void refuse(wire_server *s, uint32_t pipe, const char *peer, int code, const char *why)
{
	wire_log("refused %s: %s (%s)", peer, wire_strerror(code), why);
	wire_server_reply_error(s, code, why);
	wire_server_drop(s, pipe);
}

/* Handles HELLO and AUTH; 1 if the message was part of the handshake. */
static int handshake_step(wire_server *s, uint32_t pipe, const char *peer, struct wire_msg *m)
{
	struct wire_hs hs = {.state = HS_FAILED};
	pthread_mutex_lock(&s->mu);
	struct pipe_st *st = find_pipe(s, pipe);
	if (st)
		hs = st->hs;
	pthread_mutex_unlock(&s->mu);
	struct wire_msg out;
	int code;
	char why[128];
	if (!wire_hs_server(&hs, &s->tok, m, &out, &code, why, sizeof why))
		return 0;
	pthread_mutex_lock(&s->mu);
	st = find_pipe(s, pipe);
	if (st) {
		st->hs = hs;
		if (m->kind == WM_HELLO)
			st->role = m->u.hello.role;
	}
	pthread_mutex_unlock(&s->mu);
	if (code != WIRE_OK)
		refuse(s, pipe, peer, code, why);
	else
		reply_msg(s, &out);
	return 1;
}

/* A request of a fast kind on an authenticated connection, served here on
 * nng's thread; 0: the loop's (its message left in the aio). The loop
 * waits meanwhile (a receive is only out during wire_server_recv), so
 * handlers never run at once with the loop's. */
static int serve_fast(wire_server *s)
{
	nng_msg *msg = nng_aio_get_msg(s->aio);
	if (!msg || nng_msg_len(msg) < WIRE_HEADER)
		return 0;
	const uint8_t *b = nng_msg_body(msg);
	uint16_t kind = (uint16_t)(b[6] | (b[7] << 8));
	int fast = 0;
	for (int i = 0; i < s->nfast; i++)
		fast |= s->fast_kinds[i] == kind;
	if (!fast)
		return 0;
	uint32_t id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	pthread_mutex_lock(&s->mu);
	struct pipe_st *st = find_pipe(s, id);
	int ok = st && !st->dropping && st->hs.state == HS_AUTHED;
	pthread_mutex_unlock(&s->mu);
	struct wire_msg m;
	verr e;
	if (!ok || wire_decode(b, nng_msg_len(msg), &m, &e) != WIRE_OK)
		return 0; /* the loop refuses it, saying why */
	nng_aio_set_msg(s->aio, NULL);
	nng_msg_free(msg);
	s->cur_pipe = id;
	s->fast(s->fast_arg, s, id, &m);
	wire_msg_free(&m);
	return 1;
}

/* The loop's receive ended: a fast request is served and the receive
 * goes on (the loop sleeps on), anything else wakes the loop. */
static void server_recv_done(void *arg)
{
	wire_server *s = arg;
	struct timed *t = &s->rt;
	if (s->fast && nng_aio_result(s->aio) == 0) {
		pthread_mutex_lock(&t->mu);
		int back = s->want_back;
		pthread_mutex_unlock(&t->mu);
		if (!back && serve_fast(s)) {
			pthread_mutex_lock(&t->mu);
			if (!s->want_back) {
				/* under t->mu: a later abort by the loop finds it */
				nng_ctx_recv(s->ctx, s->aio);
				pthread_mutex_unlock(&t->mu);
				return;
			}
			s->ate = 1;
			t->done = 1;
			pthread_cond_broadcast(&t->cv);
			pthread_mutex_unlock(&t->mu);
			return;
		}
	}
	timed_done(t);
}

/* timed_wait for the loop's receive: past ms, the receive out (the
 * first, or one a fast request renewed) is aborted. */
static void server_wait(wire_server *s, int ms)
{
	struct timed *t = &s->rt;
	struct timespec dl;
	if (ms >= 0)
		wire_deadline(&dl, ms);
	pthread_mutex_lock(&t->mu);
	while (!t->done) {
		if (ms < 0) {
			pthread_cond_wait(&t->cv, &t->mu);
		} else if (pthread_cond_timedwait(&t->cv, &t->mu, &dl) != 0 && !t->done) {
			s->want_back = 1;
			pthread_mutex_unlock(&t->mu);
			nng_aio_abort(s->aio, NNG_ETIMEDOUT);
			pthread_mutex_lock(&t->mu);
			while (!t->done)
				pthread_cond_wait(&t->cv, &t->mu);
		}
	}
	t->done = 0;
	s->want_back = 0;
	pthread_mutex_unlock(&t->mu);
}

int wire_server_role(wire_server *s, uint32_t pipe, char *peer, size_t peersz)
{
	pthread_mutex_lock(&s->mu);
	struct pipe_st *st = find_pipe(s, pipe);
	int role = st && st->hs.state == HS_AUTHED ? st->role : 0;
	if (peer)
		snprintf(peer, peersz, "%s", st ? st->peer : "?");
	pthread_mutex_unlock(&s->mu);
	return role;
}

void wire_server_serve_fast(wire_server *s, const uint16_t *kinds, int n, wire_fast_fn fn, void *arg)
{
	s->nfast = 0;
	for (int i = 0; i < n && i < 4; i++)
		s->fast_kinds[s->nfast++] = kinds[i];
	s->fast_arg = arg;
	s->fast = fn;
}

int wire_server_recv(wire_server *s, struct wire_msg *m, uint32_t *pipe, char *peer,
                     size_t peersz, int timeout_ms)
{
	close_due(s);
	nng_ctx_recv(s->ctx, s->aio);
	server_wait(s, timeout_ms);
	if (s->ate) { /* the loop's turn came just after a fast request */
		s->ate = 0;
		return WIRE_ETIMEDOUT;
	}
	int rv = nng_aio_result(s->aio);
	if (rv != 0)
		return rv == NNG_ETIMEDOUT ? WIRE_ETIMEDOUT : WIRE_EIO;
	nng_msg *msg = nng_aio_get_msg(s->aio);
	uint32_t id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	char who[64] = "?";
	int state = HS_NEW, dropping = 1;
	pthread_mutex_lock(&s->mu);
	struct pipe_st *st = find_pipe(s, id);
	if (st) {
		snprintf(who, sizeof who, "%s", st->peer);
		state = st->hs.state;
		dropping = st->dropping;
	}
	pthread_mutex_unlock(&s->mu);
	if (dropping) {
		/* a connection being closed: answer nothing more */
		nng_msg_free(msg);
		return WIRE_ETIMEDOUT;
	}
	verr e;
	int rc = wire_decode(nng_msg_body(msg), nng_msg_len(msg), m, &e);
	nng_msg_free(msg);
	if (rc != WIRE_OK) {
		refuse(s, id, who, rc, e.msg);
		return WIRE_ETIMEDOUT;
	}
	if (handshake_step(s, id, who, m)) {
		wire_msg_free(m);
		return WIRE_ETIMEDOUT;
	}
	if (state != HS_AUTHED) {
		char why[128];
		snprintf(why, sizeof why, "%s before the handshake", wire_kind_name(m->kind));
		wire_msg_free(m);
		refuse(s, id, who, WIRE_ENOAUTH, why);
		return WIRE_ETIMEDOUT;
	}
	*pipe = id;
	s->cur_pipe = id;
	if (peer)
		snprintf(peer, peersz, "%s", who);
	return WIRE_OK;
}

wire_pending *wire_server_detach(wire_server *s)
{
	wire_pending *p = malloc(sizeof *p);
	if (!p)
		return NULL;
	nng_ctx fresh;
	uint32_t sock = (uint32_t)nng_socket_id(s->sock);
	if (!ctx_take(sock, &fresh) && nng_ctx_open(&fresh, s->sock) != 0) {
		free(p);
		return NULL;
	}
	p->ctx = s->ctx;
	p->sock = sock;
	s->ctx = fresh;
	return p;
}

int wire_pending_reply(wire_pending *p, const struct wire_msg *m)
{
	sbuf b;
	verr e;
	sbuf_init(&b);
	int rc = wire_encode(m, &b, &e);
	if (rc == WIRE_OK && ctx_send(p->ctx, b.data, b.len) != 0)
		rc = WIRE_EIO;
	sbuf_fini(&b);
	nng_ctx_close(p->ctx);
	free(p);
	return rc;
}

/* The send of wire_pending_send: its aio ends here, with the context. */
struct async_send {
	nng_aio *aio;
	nng_ctx ctx;
	uint32_t sock;
	int keep; /* its context goes back to idle_ctx once sent */
	struct async_send *next; /* free_sends */
};

/* Finished sends, kept with their aio for the next (an aio cannot be
 * freed from its own callback: it would be reaped, waking the reaper). */
#define FREE_SENDS_MAX 64
static struct async_send *free_sends;
static size_t nfree_sends;

/* replies queued by wire_pending_send_raw and not yet sent or failed */
static _Atomic size_t async_inflight;

size_t wire_pending_unsent(void)
{
	return atomic_load(&async_inflight);
}

static void async_sent(void *arg)
{
	struct async_send *a = arg;
	int ok = nng_aio_result(a->aio) == 0;
	if (!ok)
		nng_msg_free(nng_aio_get_msg(a->aio));
	nng_aio_set_msg(a->aio, NULL);
	if (ok && a->keep)
		ctx_put(a->sock, a->ctx);
	else
		nng_ctx_close(a->ctx);
	pthread_mutex_lock(&idle_mu);
	int kept = nfree_sends < FREE_SENDS_MAX;
	if (kept) {
		a->next = free_sends;
		free_sends = a;
		nfree_sends++;
	}
	pthread_mutex_unlock(&idle_mu);
	atomic_fetch_sub(&async_inflight, 1);
	if (!kept) {
		nng_aio_reap(a->aio); /* cannot be freed from its own callback */
		free(a);
	}
}

static struct async_send *send_take(void)
{
	pthread_mutex_lock(&idle_mu);
	struct async_send *a = free_sends;
	if (a) {
		free_sends = a->next;
		nfree_sends--;
	}
	pthread_mutex_unlock(&idle_mu);
	if (a)
		return a;
	if (!(a = malloc(sizeof *a)))
		return NULL;
	if (nng_aio_alloc(&a->aio, async_sent, a) != 0) {
		free(a);
		return NULL;
	}
	return a;
}

static int send_async(wire_pending *p, const void *frame, size_t n, int reply)
{
	nng_msg *msg = NULL;
	struct async_send *a = send_take();
	if (!a || nng_msg_alloc(&msg, n) != 0) {
		if (a) { /* back to the free list through its callback's path */
			pthread_mutex_lock(&idle_mu);
			a->next = free_sends;
			free_sends = a;
			nfree_sends++;
			pthread_mutex_unlock(&idle_mu);
		}
		nng_ctx_close(p->ctx);
		free(p);
		return WIRE_EIO;
	}
	memcpy(nng_msg_body(msg), frame, n);
	a->ctx = p->ctx;
	a->sock = p->sock;
	/* a batch's answer (reply): its context, the loop's, is used again;
	 * an object's chunk (objects.c) is sent as before */
	a->keep = reply;
	free(p);
	/* no deadline (see struct timed): a reply queued behind another on
	 * its connection goes when that one has gone, or fails when the
	 * connection closes */
	nng_aio_set_msg(a->aio, msg);
	atomic_fetch_add(&async_inflight, 1);
	if (reply)
		test_send_delay();
	nng_ctx_send(a->ctx, a->aio);
	return WIRE_OK;
}

wire_outmsg *wire_outmsg_new(size_t cap)
{
	/* reserved, not allocated with its size: nng would zero it first */
	nng_msg *m;
	if (nng_msg_alloc(&m, 0) != 0)
		return NULL;
	if (nng_msg_reserve(m, cap) != 0) {
		nng_msg_free(m);
		return NULL;
	}
	return (wire_outmsg *)m;
}

int wire_outmsg_append(wire_outmsg *m, const void *p, size_t n)
{
	return nng_msg_append((nng_msg *)m, p, n) == 0 ? 0 : -1;
}

const void *wire_outmsg_frame(wire_outmsg *m, size_t *n)
{
	*n = nng_msg_len((nng_msg *)m);
	return nng_msg_body((nng_msg *)m);
}

void wire_outmsg_free(wire_outmsg *m)
{
	if (m)
		nng_msg_free((nng_msg *)m);
}

int wire_pending_send_msg(wire_pending *p, wire_outmsg *m)
{
	struct async_send *a = send_take();
	if (!a) {
		nng_msg_free((nng_msg *)m);
		nng_ctx_close(p->ctx);
		free(p);
		return WIRE_EIO;
	}
	a->ctx = p->ctx;
	a->sock = p->sock;
	a->keep = 0; /* an object's chunk: its context is closed once sent */
	free(p);
	nng_aio_set_msg(a->aio, (nng_msg *)m); /* no deadline: as wire_pending_send_raw */
	atomic_fetch_add(&async_inflight, 1);
	nng_ctx_send(a->ctx, a->aio);
	return WIRE_OK;
}

int wire_pending_send_raw(wire_pending *p, const void *frame, size_t n)
{
	return send_async(p, frame, n, 0);
}

int wire_pending_reply_async(wire_pending *p, const void *frame, size_t n)
{
	return send_async(p, frame, n, 1);
}

int wire_pending_reply_raw(wire_pending *p, const void *frame, size_t n)
{
	int rc = ctx_send(p->ctx, frame, n) != 0 ? WIRE_EIO : WIRE_OK;
	nng_ctx_close(p->ctx);
	free(p);
	return rc;
}

int wire_pending_error(wire_pending *p, int code, const char *message)
{
	struct wire_msg m = {.kind = WM_ERROR};
	m.u.error.code = (uint32_t)code;
	m.u.error.message = (char *)message;
	return wire_pending_reply(p, &m);
}

void wire_server_close(wire_server *s)
{
	if (!s)
		return;
	ctx_forget((uint32_t)nng_socket_id(s->sock));
	nng_close(s->sock);
	nng_aio_free(s->aio);
	timed_fini(&s->rt);
	pthread_mutex_lock(&s->mu);
	free(s->pipes);
	s->pipes = NULL;
	s->npipes = 0;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	auth_token_wipe(&s->tok);
	free(s);
}

/* ---- client ----------------------------------------------------------- */

struct wire_client {
	nng_socket sock;
	nng_dialer dialer;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t pipe;   /* the current connection, 0 if none */
	uint32_t authed; /* the pipe the handshake succeeded on */
	int lost;        /* the authenticated pipe has closed */
	int dial_rv, dialed; /* the first, synchronous dial's outcome */
};

/* The first dial, synchronous, so that "connection refused" is said at
 * once; wire_client_open bounds it by closing the socket. */
static void *dial_main(void *arg)
{
	wire_client *c = arg;
	int rv = nng_dialer_start(c->dialer, 0);
	pthread_mutex_lock(&c->mu);
	c->dial_rv = rv;
	c->dialed = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void client_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	wire_client *c = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	pthread_mutex_lock(&c->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		c->pipe = id;
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		if (c->pipe == id)
			c->pipe = 0;
		if (c->authed == id)
			c->lost = 1;
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* What a failed first dial probably means when TLS is on one side only,
 * or the certificates do not match (the peer says no more than closing). */
static const char *tls_hint(int rv)
{
	if (tls_enabled())
		return rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH || rv == NNG_ECONNSHUT ||
		               rv == NNG_ECLOSED || rv == NNG_EPROTO
		           ? " (the TLS handshake failed: does the peer use TLS, with a certificate "
		             "signed by the CA of --tls-ca, and does it accept ours?)"
		           : "";
	return rv == NNG_ECONNSHUT || rv == NNG_ECLOSED || rv == NNG_EPROTO
	           ? " (if the cluster uses TLS, give --tls-cert, --tls-key and --tls-ca)"
	           : "";
}

int wire_client_open(wire_client **out, const char *url, int timeout_ms, verr *e)
{
	return wire_client_open_max(out, url, WIRE_HEADER + WIRE_MAX_PAYLOAD, timeout_ms, e);
}

int wire_client_open_max(wire_client **out, const char *url, size_t recv_max, int timeout_ms,
                         verr *e)
{
	wire_client *c = calloc(1, sizeof *c);
	if (!c) {
		verr_set(e, "out of memory");
		return WIRE_EIO;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	val_threads_begin(); /* nng's threads run our callbacks, which touch values (value.h) */
	int rv = nng_req0_open(&c->sock);
	if (rv == 0)
		rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, recv_max);
	/* a request is never silently re-sent: the caller's timeout decides */
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, client_pipe_event, c);
	if (rv == 0)
		rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_event, c);
	/* with TLS (tls.h): tls+tcp://, each side's certificate checked */
	char turl[600];
	verr te = {0};
	if (tls_url(url, turl, sizeof turl) != 0)
		rv = NNG_EADDRINVAL;
	else
		url = turl;
	if (rv == 0)
		rv = nng_dialer_create(&c->dialer, c->sock, url);
	if (rv == 0 && tls_enabled())
		rv = tls_dialer_setup(c->dialer, &te);
	pthread_t dialer;
	if (rv == 0)
		rv = pthread_create(&dialer, NULL, dial_main, c) == 0 ? 0 : NNG_ENOMEM;
	if (rv != 0) {
		verr_set(e, "cannot connect to %s: %s", url, te.msg[0] ? te.msg : nng_strerror(rv));
		wire_client_close(c);
		return WIRE_EIO;
	}
	struct timespec dl;
	wire_deadline(&dl, timeout_ms);
	pthread_mutex_lock(&c->mu);
	while (!c->pipe && !(c->dialed && c->dial_rv != 0))
		if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) != 0)
			break;
	int up = c->pipe != 0, dialed = c->dialed, drv = c->dial_rv;
	pthread_mutex_unlock(&c->mu);
	if (!up) {
		nng_close(c->sock); /* ends a dial still trying */
		pthread_join(dialer, NULL);
		if (dialed)
			verr_set(e, "cannot connect to %s: %s%s", url, nng_strerror(drv), tls_hint(drv));
		else
			verr_set(e, "cannot connect to %s within %d s (is the address reachable?)", url,
			         timeout_ms / 1000);
		wire_client_close(c);
		/* refused: nothing listens there (a worker tells a killed head
		 * from an unreachable one by this) */
		return !dialed ? WIRE_ETIMEDOUT : drv == NNG_ECONNREFUSED ? WIRE_EREFUSED : WIRE_EIO;
	}
	pthread_join(dialer, NULL); /* a dial that connected returns at once */
	*out = c;
	return WIRE_OK;
}

struct call_sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	/* a call's send chains its receive here, on nng's thread, so the
	 * caller sleeps and wakes once per call, not twice */
	nng_ctx ctx;
	nng_aio *aio;
	int receiving;
	nng_aio *saio; /* send_now's */
};

/* Hands a request to nng on saio (no callback, no time to wait): req
 * takes it at once when a connection is ready for it, else fails it at
 * once (NNG_ETIMEDOUT: none ready; msg still ours). 1: taken. Taken so,
 * the send's end wakes none of nng's threads, and the caller posts the
 * receive itself; before, every request's send ended in a callback on
 * one of nng's threads that only posted the receive (a thread hand-off
 * per request). Not taken, the request goes as before (a send that waits
 * for a connection, its receive chained by the callback). */
static int send_now(nng_ctx ctx, nng_aio *saio, nng_msg *msg)
{
	nng_aio_set_timeout(saio, NNG_DURATION_ZERO);
	nng_aio_set_msg(saio, msg);
	nng_ctx_send(ctx, saio);
	nng_aio_wait(saio); /* it has ended: no time to wait */
	int rv = nng_aio_result(saio);
	nng_aio_set_msg(saio, NULL);
	return rv == 0;
}

/* A call's request msg (ours no more) on ctx: handed over on saio
 * (send_now; NULL: not tried), 1 when taken, the caller then posting the
 * receive on aio; else (0) sent on aio, whose callback chains the receive
 * (the caller has said it is not receiving yet: that may run at once). */
static int send_request(nng_ctx ctx, nng_aio *saio, nng_aio *aio, nng_msg *msg)
{
	test_send_delay();
	if (saio && send_now(ctx, saio, msg))
		return 1;
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	return 0;
}

static void call_done(void *arg)
{
	struct call_sync *cs = arg;
	pthread_mutex_lock(&cs->mu);
	if (cs->aio && !cs->receiving && nng_aio_result(cs->aio) == 0) {
		cs->receiving = 1;
		nng_ctx_recv(cs->ctx, cs->aio);
		pthread_mutex_unlock(&cs->mu);
		return;
	}
	cs->done = 1;
	pthread_cond_broadcast(&cs->cv);
	pthread_mutex_unlock(&cs->mu);
}

/* Waits for aio; aborts it as soon as the authenticated connection is
 * lost (nng's req would otherwise wait for a new connection to re-send on:
 * a call to a dead node ends now, not at its timeout). */
static void call_wait(wire_client *c, nng_aio *aio, struct call_sync *cs, int timeout_ms)
{
	/* the call's deadline is kept here, not by nng (see struct timed) */
	struct timespec end;
	if (timeout_ms >= 0)
		wire_deadline(&end, timeout_ms);
	pthread_mutex_lock(&cs->mu);
	while (!cs->done) {
		struct timespec dl, now;
		wire_deadline(&dl, 100);
		pthread_cond_timedwait(&cs->cv, &cs->mu, &dl);
		clock_gettime(CLOCK_REALTIME, &now);
		int late = timeout_ms >= 0 && (now.tv_sec > end.tv_sec ||
		                               (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec));
		/* again at each turn: a receive chained after an abort is
		 * aborted too */
		if (!cs->done && (late || wire_client_lost(c))) {
			pthread_mutex_unlock(&cs->mu);
			nng_aio_abort(aio, late && !wire_client_lost(c) ? NNG_ETIMEDOUT : NNG_ECLOSED);
			pthread_mutex_lock(&cs->mu);
		}
	}
	cs->done = 0; /* ready for the next operation */
	pthread_mutex_unlock(&cs->mu);
}

/* A call failed on a broken connection (reset, shut): nng may tell the
 * call before it notifies the pipe's removal. Waits up to 200 ms for
 * that, so wire_client_lost says so when the caller asks next. */
static void settle_lost(wire_client *c, int rv)
{
	if (rv != NNG_ECONNRESET && rv != NNG_ECONNSHUT && rv != NNG_ECLOSED)
		return;
	struct timespec dl;
	wire_deadline(&dl, 200);
	pthread_mutex_lock(&c->mu);
	while (c->authed && !c->lost && pthread_cond_timedwait(&c->cv, &c->mu, &dl) == 0)
		;
	pthread_mutex_unlock(&c->mu);
}

/* One request on ctx with aio (whose callback is call_done(cs)) and its
 * reply; ctx and aio stay the caller's. keep: when not NULL, a reply
 * other than ERROR is not decoded but handed out whole in *keep (only its
 * kind read: the caller checks the rest), rep left empty. */
static int call_on(wire_client *c, nng_ctx ctx, nng_aio *aio, struct call_sync *cs,
                   const void *frame, size_t n, struct wire_msg *rep, int timeout_ms, verr *e,
                   nng_msg **keep)
{
	nng_msg *msg = NULL;
	int rc = WIRE_EIO;
	memset(rep, 0, sizeof *rep);
	if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, frame, n) != 0) {
		verr_set(e, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&cs->mu);
	cs->ctx = ctx;
	cs->aio = aio;
	cs->receiving = 0;
	pthread_mutex_unlock(&cs->mu);
	if (send_request(ctx, cs->saio, aio, msg)) {
		pthread_mutex_lock(&cs->mu);
		cs->receiving = 1;
		pthread_mutex_unlock(&cs->mu);
		nng_ctx_recv(ctx, aio);
	}
	/* the send, then the receive (call_done); once done, aio may be
	 * used again even while call_done is still returning (nng counts a
	 * task busy per operation begun) */
	call_wait(c, aio, cs, timeout_ms);
	int rv = nng_aio_result(aio);
	if (rv != 0 && !cs->receiving) {
		settle_lost(c, rv);
		rc = rv == NNG_ETIMEDOUT ? WIRE_ETIMEDOUT : rv == NNG_ECLOSED ? WIRE_ECLOSED : WIRE_EIO;
		verr_set(e, "sending: %s", rv == NNG_ECLOSED ? "the connection closed" : nng_strerror(rv));
		goto out; /* msg still ours */
	}
	msg = NULL;
	if (rv != 0) {
		settle_lost(c, rv);
		rc = rv == NNG_ETIMEDOUT ? WIRE_ETIMEDOUT : rv == NNG_ECLOSED ? WIRE_ECLOSED : WIRE_EIO;
		verr_set(e, "%s", rv == NNG_ETIMEDOUT ? "no reply in time"
		                  : rv == NNG_ECLOSED ? "the connection closed" : nng_strerror(rv));
		goto out;
	}
	msg = nng_aio_get_msg(aio);
	nng_aio_set_msg(aio, NULL);
	const uint8_t *hb = nng_msg_body(msg);
	/* the kind, for the caller to check the rest (its frames may be
	 * larger than WIRE_MAX_PAYLOAD: wire_client_open_max) */
	if (keep && nng_msg_len(msg) >= WIRE_HEADER &&
	    (hb[6] | (hb[7] << 8)) != WM_ERROR) {
		*keep = msg;
		msg = NULL;
		rc = WIRE_OK;
		goto out;
	}
	rc = wire_decode(nng_msg_body(msg), nng_msg_len(msg), rep, e);
	if (rc == WIRE_OK && rep->kind == WM_ERROR) {
		rc = rep->u.error.code > 0 && rep->u.error.code < WIRE_NERRORS ? (int)rep->u.error.code
		                                                                 : WIRE_EREFUSED;
		verr_set(e, "%s", rep->u.error.message ? rep->u.error.message : "");
		wire_msg_free(rep);
	}
out:
	if (msg)
		nng_msg_free(msg);
	return rc;
}

static int call_frame(wire_client *c, const void *frame, size_t n, struct wire_msg *rep,
                      int timeout_ms, verr *e, nng_msg **keep)
{
	nng_ctx ctx;
	nng_aio *aio = NULL;
	int rc = WIRE_EIO;
	struct call_sync cs = {.done = 0};
	pthread_mutex_init(&cs.mu, NULL);
	pthread_cond_init(&cs.cv, NULL);
	memset(rep, 0, sizeof *rep);
	if (nng_ctx_open(&ctx, c->sock) != 0) {
		verr_set(e, "cannot open an nng context");
		pthread_mutex_destroy(&cs.mu);
		pthread_cond_destroy(&cs.cv);
		return WIRE_EIO;
	}
	if (nng_aio_alloc(&aio, call_done, &cs) != 0)
		verr_set(e, "out of memory");
	else {
		if (nng_aio_alloc(&cs.saio, NULL, NULL) != 0)
			cs.saio = NULL; /* then sent as before */
		rc = call_on(c, ctx, aio, &cs, frame, n, rep, timeout_ms, e, keep);
	}
	if (aio)
		nng_aio_free(aio); /* waits for its callback */
	if (cs.saio)
		nng_aio_free(cs.saio);
	nng_ctx_close(ctx);
	pthread_mutex_destroy(&cs.mu);
	pthread_cond_destroy(&cs.cv);
	return rc;
}

/* A caller's context and aio, kept from call to call (opening and
 * closing them for each request cost nng's locks and a wait). */
struct wire_caller {
	wire_client *c; /* the connection ctx is open on (NULL: none) */
	uint32_t sock;  /* its socket's id (c's address alone could be reused) */
	nng_ctx ctx;
	nng_aio *aio;
	struct call_sync cs;
};

wire_caller *wire_caller_new(void)
{
	wire_caller *k = calloc(1, sizeof *k);
	if (!k)
		return NULL;
	pthread_mutex_init(&k->cs.mu, NULL);
	pthread_cond_init(&k->cs.cv, NULL);
	if (nng_aio_alloc(&k->aio, call_done, &k->cs) != 0) {
		pthread_mutex_destroy(&k->cs.mu);
		pthread_cond_destroy(&k->cs.cv);
		free(k);
		return NULL;
	}
	if (nng_aio_alloc(&k->cs.saio, NULL, NULL) != 0)
		k->cs.saio = NULL; /* then sent as before */
	return k;
}

int wire_caller_call_raw(wire_caller *k, wire_client *c, const void *frame, size_t n,
                         struct wire_msg *rep, int timeout_ms, verr *e)
{
	if (!k)
		return call_frame(c, frame, n, rep, timeout_ms, e, NULL);
	if (k->c != c || k->sock != (uint32_t)nng_socket_id(c->sock)) {
		if (k->c)
			nng_ctx_close(k->ctx);
		k->c = NULL;
		if (nng_ctx_open(&k->ctx, c->sock) != 0) {
			memset(rep, 0, sizeof *rep);
			verr_set(e, "cannot open an nng context");
			return WIRE_EIO;
		}
		k->c = c;
		k->sock = (uint32_t)nng_socket_id(c->sock);
	}
	return call_on(c, k->ctx, k->aio, &k->cs, frame, n, rep, timeout_ms, e, NULL);
}

void wire_caller_free(wire_caller *k)
{
	if (!k)
		return;
	nng_aio_free(k->aio); /* waits for its callback */
	if (k->cs.saio)
		nng_aio_free(k->cs.saio);
	if (k->c)
		nng_ctx_close(k->ctx);
	pthread_mutex_destroy(&k->cs.mu);
	pthread_cond_destroy(&k->cs.cv);
	free(k);
}

struct wire_acall {
	wire_client *c; /* the connection ctx is open on (NULL: none) */
	uint32_t sock;
	nng_ctx ctx;
	nng_aio *aio;
	nng_aio *saio;     /* send_now's (NULL: every send as before) */
	int receiving;     /* the send went: the reply is awaited */
	_Atomic int rv;    /* the last failure's nng code (wire_acall_settle) */
	wire_acall_fn fn;
	void *arg;
};

static int rc_of(int rv)
{
	return rv == NNG_ETIMEDOUT ? WIRE_ETIMEDOUT : rv == NNG_ECLOSED ? WIRE_ECLOSED : WIRE_EIO;
}

/* The send, then its receive chained here (as call_done does), then fn. */
static void acall_done(void *arg)
{
	wire_acall *a = arg;
	int rv = nng_aio_result(a->aio);
	struct wire_msg rep;
	verr e = {.msg = ""};
	int rc;
	memset(&rep, 0, sizeof rep);
	if (!a->receiving && rv == 0) {
		a->receiving = 1;
		nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(a->aio);
	nng_aio_set_msg(a->aio, NULL);
	if (rv != 0) {
		if (msg)
			nng_msg_free(msg); /* a failed send's message is still ours */
		atomic_store(&a->rv, rv);
		rc = rc_of(rv);
		if (!a->receiving)
			verr_set(&e, "sending: %s", rv == NNG_ECLOSED ? "the connection closed" : nng_strerror(rv));
		else
			verr_set(&e, "%s", rv == NNG_ETIMEDOUT ? "no reply in time"
			                   : rv == NNG_ECLOSED ? "the connection closed" : nng_strerror(rv));
	} else {
		rc = wire_decode(nng_msg_body(msg), nng_msg_len(msg), &rep, &e);
		nng_msg_free(msg);
		if (rc == WIRE_OK && rep.kind == WM_ERROR) {
			rc = rep.u.error.code > 0 && rep.u.error.code < WIRE_NERRORS ? (int)rep.u.error.code
			                                                             : WIRE_EREFUSED;
			verr_set(&e, "%s", rep.u.error.message ? rep.u.error.message : "");
			wire_msg_free(&rep);
		}
	}
	a->fn(a->arg, rc, &rep, e.msg); /* may start the next call on a */
}

wire_acall *wire_acall_new(wire_acall_fn fn, void *arg)
{
	wire_acall *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->fn = fn;
	a->arg = arg;
	if (nng_aio_alloc(&a->aio, acall_done, a) != 0) {
		free(a);
		return NULL;
	}
	if (nng_aio_alloc(&a->saio, NULL, NULL) != 0)
		a->saio = NULL;
	return a;
}

int wire_acall_start(wire_acall *a, wire_client *c, const void *frame, size_t n, verr *e)
{
	if (a->c != c || a->sock != (uint32_t)nng_socket_id(c->sock)) {
		if (a->c)
			nng_ctx_close(a->ctx);
		a->c = NULL;
		if (nng_ctx_open(&a->ctx, c->sock) != 0) {
			verr_set(e, "cannot open an nng context");
			return WIRE_EIO;
		}
		a->c = c;
		a->sock = (uint32_t)nng_socket_id(c->sock);
	}
	nng_msg *msg;
	if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, frame, n) != 0) {
		verr_set(e, "out of memory");
		return WIRE_EIO;
	}
	a->receiving = 0; /* no operation of a->aio is under way */
	if (send_request(a->ctx, a->saio, a->aio, msg)) {
		/* taken: the receive's end is acall_done's */
		a->receiving = 1;
		nng_ctx_recv(a->ctx, a->aio);
	} /* else the send's end is acall_done's, never this thread's */
	return WIRE_OK;
}

void wire_acall_abort(wire_acall *a, int timed_out)
{
	nng_aio_abort(a->aio, timed_out ? NNG_ETIMEDOUT : NNG_ECLOSED);
}

void wire_acall_settle(wire_acall *a)
{
	if (a->c)
		settle_lost(a->c, atomic_load(&a->rv));
}

void wire_acall_free(wire_acall *a)
{
	if (!a)
		return;
	nng_aio_free(a->aio); /* stops it: waits for acall_done */
	if (a->saio)
		nng_aio_free(a->saio);
	if (a->c)
		nng_ctx_close(a->ctx);
	free(a);
}

int wire_client_call_raw(wire_client *c, const void *frame, size_t n, struct wire_msg *rep,
                         int timeout_ms, verr *e)
{
	return call_frame(c, frame, n, rep, timeout_ms, e, NULL);
}

int wire_client_call_frame(wire_client *c, const void *frame, size_t n, wire_inmsg **rep,
                           const uint8_t **body, size_t *len, int timeout_ms, verr *e)
{
	struct wire_msg m;
	nng_msg *keep = NULL;
	*rep = NULL;
	int rc = call_frame(c, frame, n, &m, timeout_ms, e, &keep);
	if (rc == WIRE_OK && !keep) { /* shorter than a header, yet decoded: cannot be */
		wire_msg_free(&m);
		verr_set(e, "a reply that does not decode");
		return WIRE_EMALFORMED;
	}
	if (rc != WIRE_OK)
		return rc;
	*rep = (wire_inmsg *)keep;
	*body = nng_msg_body(keep);
	*len = nng_msg_len(keep);
	return WIRE_OK;
}

void wire_inmsg_free(wire_inmsg *m)
{
	if (m)
		nng_msg_free((nng_msg *)m);
}

int wire_client_call(wire_client *c, const struct wire_msg *req, struct wire_msg *rep,
                     int timeout_ms, verr *e)
{
	sbuf b;
	sbuf_init(&b);
	int rc = wire_encode(req, &b, e);
	if (rc == WIRE_OK)
		rc = call_frame(c, b.data, b.len, rep, timeout_ms, e, NULL);
	else
		memset(rep, 0, sizeof *rep);
	sbuf_fini(&b);
	return rc;
}

int wire_client_handshake(wire_client *c, const auth_token *t, int role, int timeout_ms, verr *e)
{
	struct wire_msg req = {.kind = WM_HELLO}, rep;
	req.u.hello.role = (uint8_t)role;
	uint8_t nc[32], mac[32];
	if (auth_nonce(nc) != 0) {
		verr_set(e, "getrandom failed");
		return WIRE_EIO;
	}
	memcpy(req.u.hello.nonce, nc, 32);
	pthread_mutex_lock(&c->mu);
	uint32_t pipe = c->pipe;
	pthread_mutex_unlock(&c->mu);
	int rc = wire_client_call(c, &req, &rep, timeout_ms, e);
	if (rc != WIRE_OK)
		return rc;
	if (rep.kind != WM_CHALLENGE) {
		verr_set(e, "the server answered HELLO with %s", wire_kind_name(rep.kind));
		wire_msg_free(&rep);
		return WIRE_ESTATE;
	}
	if (auth_mac(t, LABEL_SERVER, nc, rep.u.challenge.nonce, mac) != 0 ||
	    !auth_equal(mac, rep.u.challenge.mac, 32)) {
		verr_set(e, "wrong cluster token: the other side's proof does not match the token "
		         "from %s", t->source);
		wire_msg_free(&rep);
		return WIRE_EAUTH;
	}
	req.kind = WM_AUTH;
	if (auth_mac(t, LABEL_CLIENT, rep.u.challenge.nonce, nc, req.u.auth.mac) != 0) {
		wire_msg_free(&rep);
		verr_set(e, "HMAC failed");
		return WIRE_EIO;
	}
	wire_msg_free(&rep);
	rc = wire_client_call(c, &req, &rep, timeout_ms, e);
	if (rc != WIRE_OK)
		return rc;
	wire_msg_free(&rep);
	pthread_mutex_lock(&c->mu);
	c->authed = pipe;
	if (c->pipe != pipe)
		c->lost = 1;
	pthread_mutex_unlock(&c->mu);
	return WIRE_OK;
}

int wire_client_lost(wire_client *c)
{
	pthread_mutex_lock(&c->mu);
	int lost = c->lost;
	pthread_mutex_unlock(&c->mu);
	return lost;
}

int wire_client_local_ip(wire_client *c, char *buf, size_t n)
{
	pthread_mutex_lock(&c->mu);
	nng_pipe p;
	p.id = c->pipe;
	pthread_mutex_unlock(&c->mu);
	nng_sockaddr sa;
	if (!p.id || nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &sa) != 0)
		return -1;
	format_addr(&sa, buf, n, 0);
	return 0;
}

void wire_client_shutdown(wire_client *c)
{
	if (!c)
		return;
	/* lost before the calls fail, so they say so (the pipe's own
	 * notification may come after them) */
	pthread_mutex_lock(&c->mu);
	c->lost = 1;
	pthread_mutex_unlock(&c->mu);
	nng_close(c->sock);
}

void wire_client_close(wire_client *c)
{
	if (!c)
		return;
	nng_close(c->sock);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
