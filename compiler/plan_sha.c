/* plan_sha.c - SHA-256 for plans: the checksum every load verifies over
 * the whole file (17 MB for 1M tasks) and the sources' hash.
 *
 * Both from well-kept libraries, none written here: libcrypto's SHA256_*
 * (its assembly uses the CPU's SHA instructions, 4-10x mbedtls' C), linked
 * from its static archive where the build found one (FLOW_SHA_LINKED,
 * meson.build: only the SHA-256 code and its CPU probe come in, ~30 KB);
 * else opened with dlopen for a big buffer (opening the shared library
 * costs ~4 ms, so a small program's process never maps it); else, or
 * without libcrypto, mbedtls. All give the same digest
 * (tests/unit/test_plan.c compares them). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "plan_int.h"

#ifdef FLOW_SHA_LINKED
/* the plain calls, deprecated in OpenSSL 3 in favour of EVP (see below) */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#endif

/* ---- libcrypto, for a big buffer ------------------------------------------- */

/* Its plain SHA256_* calls, not EVP: EVP's first digest initialises the
 * library (reads openssl.cnf, fetches a provider), 3-6 ms. */
#define SHA_BIG ((size_t)1 << 20)
typedef int (*sha_init_fn)(void *ctx);
typedef int (*sha_update_fn)(void *ctx, const void *p, size_t n);
typedef int (*sha_final_fn)(unsigned char *md, void *ctx);
static sha_init_fn sha_init;
static sha_update_fn sha_update;
static sha_final_fn sha_final;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void crypto_open(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	sha_init_fn i = (sha_init_fn)dlsym(h, "SHA256_Init");
	sha_update_fn u = (sha_update_fn)dlsym(h, "SHA256_Update");
	sha_final_fn f = (sha_final_fn)dlsym(h, "SHA256_Final");
	if (i && u && f) {
		sha_update = u;
		sha_final = f;
		sha_init = i; /* last: plan_sha256 tests it */
	}
}

void plan_sha256_mbed(const void *buf, size_t len, uint8_t out[32])
{
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_sha256(buf, len, out, 0);
#else
	mbedtls_sha256_ret(buf, len, out, 0);
#endif
}

void plan_sha256(const void *buf, size_t len, uint8_t out[32])
{
#ifdef FLOW_SHA_LINKED
	SHA256_CTX c;
	if (SHA256_Init(&c) == 1 && SHA256_Update(&c, buf, len) == 1 && SHA256_Final(out, &c) == 1)
		return;
#endif
	if (len >= SHA_BIG) {
		pthread_once(&crypto_once, crypto_open);
		/* SHA256_CTX: 112 bytes in libcrypto.so.3's ABI; room to spare */
		union {
			unsigned char b[512];
			uint64_t align;
		} ctx;
		if (sha_init && sha_init(&ctx) == 1 && sha_update(&ctx, buf, len) == 1 && sha_final(out, &ctx) == 1)
			return;
	}
	plan_sha256_mbed(buf, len, out);
}
