/* tls.c - the cluster's optional TLS: see tls.h. */
#include "executor/cluster/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/supplemental/tls/tls.h>

static struct {
	int on;
	char *cert, *key, *ca;            /* the files' PEM text */
	const char *cert_path, *key_path, *ca_path;
	pthread_mutex_t mu;
	nng_tls_config *server, *client;  /* made at first use */
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

enum { PEM_MAX = 1 << 20 };

/* The whole file as a string; NULL with e if unreadable or not PEM. */
static char *read_pem(const char *what, const char *path, verr *e)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		verr_set(e, "cannot read the TLS %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(PEM_MAX + 1);
	size_t n = buf ? fread(buf, 1, PEM_MAX + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad || n > PEM_MAX) {
		verr_set(e, "cannot read the TLS %s %s: %s", what, path,
		         !buf ? "out of memory" : bad ? "read error" : "larger than 1 MiB");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (!strstr(buf, "-----BEGIN ")) {
		verr_set(e, "the TLS %s %s is not a PEM file", what, path);
		free(buf);
		return NULL;
	}
	return buf;
}

int tls_configure(const char *cert, const char *key, const char *ca, verr *e)
{
	if (!cert || !key || !ca) {
		verr_set(e, "TLS needs a certificate, its key and the CA together");
		return -1;
	}
	char *c = read_pem("certificate", cert, e);
	char *k = c ? read_pem("key", key, e) : NULL;
	char *a = k ? read_pem("CA", ca, e) : NULL;
	if (!a) {
		free(c);
		free(k);
		return -1;
	}
	T.cert = c, T.key = k, T.ca = a;
	T.cert_path = cert, T.key_path = key, T.ca_path = ca;
	T.on = 1;
	return 0;
}

int tls_enabled(void)
{
	return T.on;
}

int tls_url(const char *url, char *out, size_t n)
{
	if (T.on && strncmp(url, "tcp://", 6) == 0)
		return snprintf(out, n, "tls+%s", url) < (int)n ? 0 : -1;
	return snprintf(out, n, "%s", url) < (int)n ? 0 : -1;
}

/* This process's configuration for one side, made once. */
static int config(int server, nng_tls_config **out, verr *e)
{
	pthread_mutex_lock(&T.mu);
	nng_tls_config **slot = server ? &T.server : &T.client;
	int rv = 0;
	if (!*slot) {
		nng_tls_config *cfg = NULL;
		const char *bad = "";
		rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
		if (rv == 0 && (rv = nng_tls_config_ca_chain(cfg, T.ca, NULL)) != 0)
			bad = T.ca_path;
		if (rv == 0 && (rv = nng_tls_config_own_cert(cfg, T.cert, T.key, NULL)) != 0)
			bad = T.cert_path;
		if (rv == 0)
			rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
		if (rv != 0) {
			if (*bad)
				verr_set(e, "TLS: %s is not usable (%s; with --tls-key %s, --tls-ca %s)", bad,
				         nng_strerror(rv), T.key_path, T.ca_path);
			else
				verr_set(e, "TLS: %s", nng_strerror(rv));
			if (cfg)
				nng_tls_config_free(cfg);
		} else {
			*slot = cfg;
		}
	}
	*out = *slot;
	pthread_mutex_unlock(&T.mu);
	return rv;
}

/* Gives one nng object its side's configuration: the four setups differ
 * only by the side and by nng's setter for the object's type (sockets'
 * listeners and dialers by value, byte streams' by pointer). */
#define TLS_SETUP(name, type, server, set)                                  \
	int name(type obj, verr *e)                                          \
	{                                                                    \
		nng_tls_config *cfg;                                         \
		int rv = config(server, &cfg, e);                            \
		if (rv == 0 && (rv = set(obj, NNG_OPT_TLS_CONFIG, cfg)) != 0) \
			verr_set(e, "TLS: %s", nng_strerror(rv));            \
		return rv;                                                   \
	}

TLS_SETUP(tls_listener_setup, nng_listener, 1, nng_listener_set_ptr)
TLS_SETUP(tls_dialer_setup, nng_dialer, 0, nng_dialer_set_ptr)
TLS_SETUP(tls_stream_listener_setup, nng_stream_listener *, 1, nng_stream_listener_set_ptr)
TLS_SETUP(tls_stream_dialer_setup, nng_stream_dialer *, 0, nng_stream_dialer_set_ptr)
