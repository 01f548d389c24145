/* plan_sha.c - SHA-256 for plans: the checksum every load verifies over
 * the whole file (17 MB for 1M tasks) and the sources' hash.
 *
 * Fastest first: the CPU's SHA instructions (x86 SHA-NI, here, no
 * library: 1 ms for a 1.7 MB plan); else, for a big buffer, libcrypto's
 * SHA256_* opened with dlopen (its asm; opening it costs ~4 ms, so a
 * small program's process never maps it); else mbedtls. All three give
 * the same digest (tests/unit/test_plan.c compares them). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "plan_int.h"

/* ---- SHA-NI ----------------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define SHA_NI __attribute__((target("sha,sse4.1,ssse3")))

/* nblocks 64-byte blocks into the state, held as the instructions want
 * it: abef = {F, E, B, A} and cdgh = {H, G, D, C} (lane 0 first). */
SHA_NI static void ni_blocks(__m128i *abef, __m128i *cdgh, const uint8_t *p, size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll);
	__m128i s0 = *abef, s1 = *cdgh;
	for (; nblocks--; p += 64) {
		__m128i save0 = s0, save1 = s1, m[4];
		/* 16 groups of 4 rounds; m[g % 4] holds the group's message
		 * words, each next schedule word made 3 groups ahead (msg1)
		 * and finished one group ahead (msg2) */
#pragma GCC unroll 16 /* m[] in registers, the branches gone */
		for (int g = 0; g < 16; g++) {
			if (g < 4)
				m[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
			__m128i w = _mm_add_epi32(m[g & 3], _mm_loadu_si128((const __m128i *)&sha_k[4 * g]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, w);
			if (g >= 3 && g < 15) {
				__m128i t = _mm_alignr_epi8(m[g & 3], m[(g - 1) & 3], 4);
				m[(g + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(m[(g + 1) & 3], t), m[g & 3]);
			}
			s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(w, 0x0E));
			if (g >= 1 && g < 13)
				m[(g - 1) & 3] = _mm_sha256msg1_epu32(m[(g - 1) & 3], m[g & 3]);
		}
		s0 = _mm_add_epi32(s0, save0);
		s1 = _mm_add_epi32(s1, save1);
	}
	*abef = s0;
	*cdgh = s1;
}

SHA_NI static void ni_sha256(const uint8_t *p, size_t len, uint8_t out[32])
{
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	__m128i abcd = _mm_loadu_si128((const __m128i *)&h0[0]); /* {A, B, C, D} */
	__m128i efgh = _mm_loadu_si128((const __m128i *)&h0[4]); /* {E, F, G, H} */
	__m128i badc = _mm_shuffle_epi32(abcd, 0xB1);
	__m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);
	__m128i abef = _mm_alignr_epi8(badc, hgfe, 8);
	__m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xF0);
	ni_blocks(&abef, &cdgh, p, len / 64);
	/* the tail, 0x80, zeros and the length in bits (big-endian) */
	uint8_t last[128] = {0};
	size_t r = len % 64, n = r < 56 ? 64 : 128;
	memcpy(last, p + len - r, r);
	last[r] = 0x80;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		last[n - 1 - i] = (uint8_t)(bits >> (8 * i));
	ni_blocks(&abef, &cdgh, last, n / 64);
	/* back to {A..D}, {E..H} */
	__m128i feba = _mm_shuffle_epi32(abef, 0x1B);
	__m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
	uint32_t h[8];
	_mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
	_mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

static bool ni_ok(void)
{
	static int ok = -1; /* benign race: every thread computes the same */
	if (ok < 0) {
		unsigned a, b, c, d;
		bool sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
		bool sse = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19)) && (c & (1u << 9));
		__atomic_store_n(&ok, sha && sse, __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&ok, __ATOMIC_RELAXED);
}

bool plan_sha256_ni(const void *buf, size_t len, uint8_t out[32])
{
	if (!ni_ok())
		return false;
	ni_sha256(buf, len, out);
	return true;
}
#else
bool plan_sha256_ni(const void *buf, size_t len, uint8_t out[32])
{
	(void)buf;
	(void)len;
	(void)out;
	return false;
}
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
	if (plan_sha256_ni(buf, len, out))
		return;
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
