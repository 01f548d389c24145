/* obj_stream.h - an object's bytes as one nng byte stream (docs/wire.md,
 * "Objects", the stream).
 *
 * The consumer asks the holder for object id with OBJ_STREAM over its
 * authenticated connection; the holder answers OBJ_GRANT: the object's
 * size, the port of its stream listener and a one-time random key. The
 * consumer opens an nng stream to that port (tcp://, or tls+tcp:// with
 * the cluster's TLS configuration when TLS is on: tls.h) and sends the key
 * (32 bytes); the holder then writes the object's encoding, exactly its
 * size, straight from the bytes it holds. The consumer reads straight
 * into where the bytes go (a tensor's data): no message, no copy in user
 * space, one thread. The stream carries no token handshake: the key,
 * granted over the authenticated connection, is what proves the consumer.
 * A key is good once, for OSTREAM_GRANT_MS; a stream that does not send a
 * known key within a few seconds is closed with nothing written.
 *
 * The end: once it has read the size granted, the consumer sends one byte
 * and then reads the end of the stream; the holder, on that byte, closes.
 * A byte more than the size granted fails the pull (oversized). (nng's
 * streams have no half-close, and a TLS stream's last bytes may still sit
 * in nng's buffer when its send completes: the holder closes only once
 * the consumer has them all.)
 *
 * Ownership: the holder side calls back into objects.c (ostream_open_fn)
 * to pin the object while it is written and unpin it after; no object
 * memory is owned here. An ostream (consumer side) is the caller's until
 * ostream_close. */
#ifndef FLOW_CLUSTER_OBJ_STREAM_H
#define FLOW_CLUSTER_OBJ_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "lang/value.h"

#define OSTREAM_GRANT_MS 10000 /* a key unused for this long is forgotten */
#define OSTREAM_IO_MS 60000    /* one send or receive that makes no progress */
#define OSTREAM_SERVING_MAX 32 /* streams written at once; more are ended at once */

/* What the holder writes for a granted object: seg[0] then seg[1] (an
 * encoding's head and a tensor's own bytes, or one whole encoding). */
struct ostream_src {
	const uint8_t *p[2];
	uint64_t n[2];
};

/* The holder's callbacks (objects.c): open pins object id and says where
 * its bytes lie (0), or -1 when it is no longer held; close unpins it. */
typedef int (*ostream_open_fn)(const uint8_t id[32], struct ostream_src *src);
typedef void (*ostream_close_fn)(const uint8_t id[32]);

/* Holder: a grant for object id (one-time key in key, the listener's port
 * in *port), the listener opened on ip ("" or NULL: every address) the
 * first time. 0, or -1 with e set. */
int ostream_grant(const char *ip, const uint8_t id[32], ostream_open_fn open,
                  ostream_close_fn close, uint8_t key[32], uint32_t *port, verr *e);

typedef struct ostream ostream;

/* Consumer: a stream to ip:port that has sent key (TLS when tls.h's is
 * on); NULL with e set when it cannot be opened. */
ostream *ostream_dial(const char *ip, uint32_t port, const uint8_t key[32], verr *e);

/* Reads exactly n bytes into p: 0, or -1 with e set (the holder ended the
 * stream early: truncated; or sent nothing for OSTREAM_IO_MS). *got: the
 * bytes read into p either way. */
int ostream_read(ostream *s, void *p, uint64_t n, uint64_t *got, verr *e);

/* After the bytes granted: says so to the holder and reads the end of the
 * stream. 0, or -1 with e set (more bytes: oversized). */
int ostream_end(ostream *s, verr *e);

void ostream_close(ostream *s);

/* Streams the holder accepted and ended unwritten (no known key), for tests. */
uint64_t ostream_refused(void);

#endif
