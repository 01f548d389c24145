/* tls.h - the cluster's optional TLS (flow start/run/status --tls-cert,
 * --tls-key, --tls-ca): one configuration per process, set once before
 * the first connection, used by every listener and dialer of transport.c.
 *
 * With it, "tcp://" URLs become "tls+tcp://" (nng's TLS transport,
 * mbedtls). Mutual TLS: a listener presents this node's certificate and
 * requires the peer's; a dialer presents it too and requires the
 * listener's; both sides verify the peer's chain against the CA file.
 * Host names are not checked (nodes are reached by IP addresses that
 * change): the cluster's CA is what is trusted, so it must sign only this
 * cluster's certificates. The token handshake runs on top, unchanged.
 *
 * tls_configure reads the files (before a daemon forks: nng starts no
 * thread here); nng's configurations are made at first use, in the
 * process that connects. Ownership: the file contents and configurations
 * live until the process exits.
 */
#ifndef FLOW_TLS_H
#define FLOW_TLS_H

#include <stddef.h>

#include <nng/nng.h>

#include "lang/value.h" /* verr */

/* Reads the PEM files: cert (this node's certificate, possibly with its
 * chain), key (its private key, unencrypted), ca (the CA certificate(s)
 * peers must be signed by). All three are required. 0, or -1 with e. */
int tls_configure(const char *cert, const char *key, const char *ca, verr *e);
/* 1 once tls_configure succeeded. */
int tls_enabled(void);
/* url with "tcp://" made "tls+tcp://" when TLS is on; copied otherwise.
 * 0, or -1 if it does not fit in n. */
int tls_url(const char *url, char *out, size_t n);
/* Gives a listener (server side) or a dialer (client side) its TLS
 * configuration. 0, or an nng error with e saying which file was bad. */
int tls_listener_setup(nng_listener l, verr *e);
int tls_dialer_setup(nng_dialer d, verr *e);
/* The same for nng's byte streams (obj_stream.c: an object's bytes). */
int tls_stream_listener_setup(nng_stream_listener *l, verr *e);
int tls_stream_dialer_setup(nng_stream_dialer *d, verr *e);

#endif
