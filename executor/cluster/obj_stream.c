/* obj_stream.c - an object's bytes as one nng byte stream (obj_stream.h).
 *
 * nng's stream API (nng_stream_listener/dialer, nng_stream_send/recv with
 * an nng_iov): the connection, its TLS and its polling are nng's; the
 * consumer's receive names the tensor's own bytes as its iov, so the
 * bytes land there with no message allocated, zeroed or copied out of.
 * Each operation has a timeout: every wait is bounded. */
#include "obj_stream.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "executor/mono_clock.h"
#include "auth.h"
#include "tls.h"

#define GRANTS 64
#define KEY_MS 5000  /* the key must arrive this soon after connecting */
#define DIAL_MS 5000 /* a stream not open by then: pulled in chunks */
#define END_MS 5000  /* the holder's end after the consumer's last byte */
#define IO_MAX (1u << 30) /* one send or receive at most */

struct grant {
	int used;
	uint8_t key[32], id[32];
	int64_t deadline;
	ostream_open_fn open;
	ostream_close_fn close;
};

static struct {
	pthread_mutex_t mu;
	nng_stream_listener *l; /* NULL until the first grant */
	uint32_t port;
	struct grant g[GRANTS];
	int serving;
	atomic_uint_fast64_t refused;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

uint64_t ostream_refused(void) { return atomic_load(&L.refused); }

/* One stream's operations: its aio's callback moves on to the rest of
 * the bytes on nng's own thread (a TLS stream completes each send or
 * receive after at most 16 KiB: a hand-off to the waiting thread for
 * each would bound it), and wakes the caller once, at the end. */
struct io {
	nng_stream *s;
	nng_aio *aio;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int send, ms, rv, done;
	uint8_t *p;
	uint64_t n, got;
};

static void io_next(struct io *o)
{
	nng_iov iov = {.iov_buf = o->p + o->got,
	               .iov_len = o->n - o->got < IO_MAX ? o->n - o->got : IO_MAX};
	nng_aio_set_iov(o->aio, 1, &iov);
	nng_aio_set_timeout(o->aio, o->ms);
	if (o->send)
		nng_stream_send(o->s, o->aio);
	else
		nng_stream_recv(o->s, o->aio);
}

static void io_cb(void *arg)
{
	struct io *o = arg;
	int rv = nng_aio_result(o->aio);
	if (rv == 0) {
		size_t c = nng_aio_count(o->aio);
		if (c == 0)
			rv = NNG_ECONNSHUT;
		o->got += c;
	}
	if (rv == 0 && o->got < o->n) {
		io_next(o);
		return;
	}
	pthread_mutex_lock(&o->mu);
	o->rv = rv;
	o->done = 1;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static int io_init(struct io *o, nng_stream *s)
{
	memset(o, 0, sizeof *o);
	o->s = s;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	return nng_aio_alloc(&o->aio, io_cb, o);
}

static void io_fini(struct io *o)
{
	if (o->aio)
		nng_aio_free(o->aio); /* waits for a callback under way */
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
}

struct ostream {
	nng_stream *s;
	nng_aio *aio; /* the dial's */
	struct io io; /* set up once s is open */
	int io_set;
};

/* Sends (send 1) or receives n bytes at p, each operation bounded by ms
 * without progress. 0 or an nng error; *done: the bytes moved. */
static int io_all(struct io *o, int send, uint8_t *p, uint64_t n, int ms, uint64_t *done)
{
	if (done)
		*done = 0;
	if (!o->aio)
		return NNG_ENOMEM;
	if (n == 0)
		return 0;
	o->send = send, o->ms = ms, o->p = p, o->n = n, o->got = 0, o->rv = 0, o->done = 0;
	io_next(o);
	pthread_mutex_lock(&o->mu);
	while (!o->done)
		pthread_cond_wait(&o->cv, &o->mu);
	pthread_mutex_unlock(&o->mu);
	if (done)
		*done = o->got;
	return o->rv;
}

/* One accepted stream: its key, then the object's bytes. */
static void *serve_conn(void *arg)
{
	nng_stream *s = arg;
	struct io io;
	uint8_t key[32];
	uint64_t got = 0;
	if (io_init(&io, s) == 0)
		(void)io_all(&io, 0, key, sizeof key, KEY_MS, &got);
	struct grant g = {0};
	if (got == sizeof key) {
		int64_t t = mono_now_ms();
		pthread_mutex_lock(&L.mu);
		for (int i = 0; i < GRANTS; i++)
			if (L.g[i].used && L.g[i].deadline >= t && auth_equal(L.g[i].key, key, 32)) {
				g = L.g[i];
				memset(&L.g[i], 0, sizeof L.g[i]); /* good once */
				break;
			}
		pthread_mutex_unlock(&L.mu);
	}
	struct ostream_src src;
	if (!g.used) {
		atomic_fetch_add(&L.refused, 1);
	} else if (g.open(g.id, &src) == 0) {
		if (io_all(&io, 1, (uint8_t *)src.p[0], src.n[0], OSTREAM_IO_MS, NULL) == 0)
			(void)io_all(&io, 1, (uint8_t *)src.p[1], src.n[1], OSTREAM_IO_MS, NULL);
		/* unpinned before the consumer's end: a consumer that has it
		 * all and then frees the object finds it unpinned */
		g.close(g.id);
		uint8_t b;
		(void)io_all(&io, 0, &b, 1, END_MS, NULL); /* its end (or it closed) */
	}
	nng_stream_close(s);
	io_fini(&io);
	nng_stream_free(s);
	pthread_mutex_lock(&L.mu);
	L.serving--;
	pthread_mutex_unlock(&L.mu);
	return NULL;
}

static void *accept_main(void *arg)
{
	nng_aio *aio = arg;
	for (;;) {
		nng_stream_listener_accept(L.l, aio);
		nng_aio_wait(aio);
		int rv = nng_aio_result(aio);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0) {
			nng_msleep(10); /* out of descriptors, say: not a busy loop */
			continue;
		}
		nng_stream *s = nng_aio_get_output(aio, 0);
		pthread_mutex_lock(&L.mu);
		int ok = L.serving < OSTREAM_SERVING_MAX;
		if (ok)
			L.serving++;
		pthread_mutex_unlock(&L.mu);
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (!ok || pthread_create(&t, &at, serve_conn, s) != 0) {
			/* ended unwritten: the consumer pulls in chunks */
			nng_stream_close(s);
			nng_stream_free(s);
			if (ok) {
				pthread_mutex_lock(&L.mu);
				L.serving--;
				pthread_mutex_unlock(&L.mu);
			}
		}
		pthread_attr_destroy(&at);
	}
	nng_aio_free(aio);
	return NULL;
}

/* under L.mu */
static int listen_on(const char *ip, verr *e)
{
	char url[160], turl[170];
	snprintf(url, sizeof url, "tcp://%s:0", ip && *ip ? ip : "0.0.0.0");
	verr te = {0};
	nng_stream_listener *l = NULL;
	nng_aio *aio = NULL;
	int port = 0, rv = tls_url(url, turl, sizeof turl) != 0 ? NNG_EADDRINVAL : 0;
	if (rv == 0)
		rv = nng_stream_listener_alloc(&l, turl);
	if (rv == 0 && tls_enabled())
		rv = tls_stream_listener_setup(l, &te);
	if (rv == 0)
		rv = nng_stream_listener_listen(l);
	if (rv == 0)
		rv = nng_stream_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
	if (rv == 0)
		rv = nng_aio_alloc(&aio, NULL, NULL);
	pthread_t t;
	if (rv == 0) {
		L.l = l; /* before the thread that accepts on it starts */
		L.port = (uint32_t)port;
		if (pthread_create(&t, NULL, accept_main, aio) != 0) {
			L.l = NULL;
			rv = NNG_ENOMEM;
		}
	}
	if (rv != 0) {
		verr_set(e, "cannot open the object stream listener on %s: %s", turl,
		         te.msg[0] ? te.msg : nng_strerror(rv));
		if (aio)
			nng_aio_free(aio);
		if (l)
			nng_stream_listener_free(l);
		return -1;
	}
	pthread_detach(t);
	return 0;
}

int ostream_grant(const char *ip, const uint8_t id[32], ostream_open_fn open,
                  ostream_close_fn close, uint8_t key[32], uint32_t *port, verr *e)
{
	if (auth_nonce(key) != 0) {
		verr_set(e, "no random bytes for a stream key");
		return -1;
	}
	pthread_mutex_lock(&L.mu);
	if (!L.l && listen_on(ip, e) != 0) {
		pthread_mutex_unlock(&L.mu);
		return -1;
	}
	/* a free or stale slot, else the one nearest its deadline */
	int64_t t = mono_now_ms();
	int k = 0;
	for (int i = 0; i < GRANTS; i++) {
		if (!L.g[i].used || L.g[i].deadline < t) {
			k = i;
			break;
		}
		if (L.g[i].deadline < L.g[k].deadline)
			k = i;
	}
	struct grant *g = &L.g[k];
	g->used = 1;
	memcpy(g->key, key, 32);
	memcpy(g->id, id, 32);
	g->deadline = t + OSTREAM_GRANT_MS;
	g->open = open;
	g->close = close;
	*port = L.port;
	pthread_mutex_unlock(&L.mu);
	return 0;
}

ostream *ostream_dial(const char *ip, uint32_t port, const uint8_t key[32], verr *e)
{
	char url[160], turl[170];
	if (port == 0 || port > 65535 || !ip || !*ip) {
		verr_set(e, "no stream at %s port %u", ip ? ip : "", port);
		return NULL;
	}
	snprintf(url, sizeof url, "tcp://%s:%u", ip, port);
	verr te = {0};
	nng_stream_dialer *d = NULL;
	ostream *s = calloc(1, sizeof *s);
	int rv = !s ? NNG_ENOMEM : tls_url(url, turl, sizeof turl) != 0 ? NNG_EADDRINVAL : 0;
	if (rv == 0)
		rv = nng_aio_alloc(&s->aio, NULL, NULL);
	if (rv == 0)
		rv = nng_stream_dialer_alloc(&d, turl);
	if (rv == 0 && tls_enabled())
		rv = tls_stream_dialer_setup(d, &te);
	if (rv == 0) {
		nng_aio_set_timeout(s->aio, DIAL_MS);
		nng_stream_dialer_dial(d, s->aio);
		nng_aio_wait(s->aio);
		if ((rv = nng_aio_result(s->aio)) == 0) {
			s->s = nng_aio_get_output(s->aio, 0);
			s->io_set = 1;
			rv = io_init(&s->io, s->s);
		}
	}
	if (d)
		nng_stream_dialer_free(d); /* the stream it made lives on */
	if (rv == 0)
		rv = io_all(&s->io, 1, (uint8_t *)key, 32, KEY_MS, NULL);
	if (rv != 0) {
		verr_set(e, "cannot open the stream at %s: %s", turl, te.msg[0] ? te.msg : nng_strerror(rv));
		ostream_close(s);
		return NULL;
	}
	return s;
}

int ostream_read(ostream *s, void *p, uint64_t n, uint64_t *got, verr *e)
{
	int rv = io_all(&s->io, 0, p, n, OSTREAM_IO_MS, got);
	if (rv == 0)
		return 0;
	if (rv == NNG_ECONNSHUT || rv == NNG_ECLOSED || rv == NNG_ECONNRESET)
		verr_set(e, "the stream ended after %" PRIu64 " of %" PRIu64 " bytes (truncated)", *got, n);
	else
		verr_set(e, "the stream failed after %" PRIu64 " of %" PRIu64 " bytes: %s", *got, n,
		         rv == NNG_ETIMEDOUT ? "no data for 60 s" : nng_strerror(rv));
	return -1;
}

int ostream_end(ostream *s, verr *e)
{
	uint8_t b = 0;
	uint64_t got = 0;
	(void)io_all(&s->io, 1, &b, 1, END_MS, NULL);
	(void)io_all(&s->io, 0, &b, 1, END_MS, &got);
	if (got) {
		verr_set(e, "the stream holds more than the bytes granted (oversized)");
		return -1;
	}
	return 0; /* its end, or no word for END_MS: the bytes granted are all here */
}

void ostream_close(ostream *s)
{
	if (!s)
		return;
	if (s->s)
		nng_stream_close(s->s);
	if (s->io_set)
		io_fini(&s->io);
	if (s->s)
		nng_stream_free(s->s);
	if (s->aio)
		nng_aio_free(s->aio);
	free(s);
}
