/* auth.c - the cluster token (load or create) and its HMAC proofs. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "wire.h"

int auth_nonce(uint8_t out[32])
{
	size_t got = 0;
	while (got < 32) {
		ssize_t n = getrandom(out + got, 32 - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int auth_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int auth_mac(const auth_token *t, const char *label, const uint8_t a[32],
             const uint8_t b[32], uint8_t out[32])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	uint8_t ver[2] = {WIRE_VERSION & 0xff, WIRE_VERSION >> 8};
	mbedtls_md_init(&ctx);
	int rc = mbedtls_md_setup(&ctx, md, 1);
	if (rc == 0) rc = mbedtls_md_hmac_starts(&ctx, t->key, t->len);
	if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, (const uint8_t *)label, strlen(label) + 1);
	if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, ver, 2);
	if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, a, 32);
	if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, b, 32);
	if (rc == 0) rc = mbedtls_md_hmac_finish(&ctx, out);
	mbedtls_md_free(&ctx);
	return rc == 0 ? 0 : -1;
}

void auth_token_wipe(auth_token *t)
{
	volatile uint8_t *p = t->key;
	for (size_t i = 0; i < sizeof t->key; i++)
		p[i] = 0;
	t->len = 0;
}

/* Takes text as the key: surrounding whitespace trimmed, length checked. */
static int set_key(auth_token *t, const char *text, size_t n, verr *e)
{
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	while (n && (*text == ' ' || *text == '\t')) {
		text++;
		n--;
	}
	if (n < AUTH_MIN_TOKEN || n > AUTH_MAX_TOKEN) {
		verr_set(e, "the cluster token from %s has %zu characters; it needs %d to %d "
		         "(make one with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')",
		         t->source, n, AUTH_MIN_TOKEN, AUTH_MAX_TOKEN);
		return -1;
	}
	memcpy(t->key, text, n);
	t->len = n;
	return 0;
}

static int read_token_file(auth_token *t, const char *path, verr *e)
{
	snprintf(t->source, sizeof t->source, "%s", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		verr_set(e, "cannot read the cluster token file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		verr_set(e, "the cluster token file %s is not a regular file", path);
		return -1;
	}
	if (st.st_mode & 077) {
		close(fd);
		verr_set(e, "the cluster token file %s is readable by others (mode %04o): "
		         "run chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	char buf[AUTH_MAX_TOKEN + 64];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0) {
		verr_set(e, "cannot read the cluster token file %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = set_key(t, buf, (size_t)n, e);
	memset(buf, 0, sizeof buf);
	return rc;
}

static int create_token_file(auth_token *t, const char *dir, const char *path, verr *e)
{
	uint8_t raw[32];
	char hex[65];
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		verr_set(e, "cannot create %s for the cluster token: %s", dir, strerror(errno));
		return -1;
	}
	if (auth_nonce(raw) != 0) {
		verr_set(e, "getrandom failed: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		verr_set(e, "cannot create the cluster token file %s: %s", path, strerror(errno));
		return -1;
	}
	hex[64] = '\n';
	int ok = write(fd, hex, 65) == 65;
	if (close(fd) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		verr_set(e, "cannot write the cluster token file %s", path);
		return -1;
	}
	snprintf(t->source, sizeof t->source, "%s", path);
	memcpy(t->key, hex, 64);
	t->len = 64;
	t->created = 1;
	memset(raw, 0, sizeof raw);
	memset(hex, 0, sizeof hex);
	return 0;
}

int auth_token_load(auth_token *t, const char *file, int create, verr *e)
{
	memset(t, 0, sizeof *t);
	if (file && *file)
		return read_token_file(t, file, e);
	const char *env = getenv("FLOW_TOKEN");
	if (env && *env) {
		snprintf(t->source, sizeof t->source, "FLOW_TOKEN");
		return set_key(t, env, strlen(env), e);
	}
	const char *home = getenv("HOME");
	if (!home || !*home) {
		verr_set(e, "no cluster token: pass --token-file FILE or set FLOW_TOKEN (and HOME is not set)");
		return -1;
	}
	char dir[400], path[420];
	snprintf(dir, sizeof dir, "%s/.flow", home);
	snprintf(path, sizeof path, "%s/token", dir);
	if (access(path, F_OK) == 0)
		return read_token_file(t, path, e);
	if (!create) {
		verr_set(e, "no cluster token: pass --token-file FILE or set FLOW_TOKEN "
		         "(the head wrote its token to ~/.flow/token on its machine; copy it here, mode 0600)");
		return -1;
	}
	return create_token_file(t, dir, path, e);
}
