/* cache_rec.c - the records of the cache (layout in cache_int.h): built,
 * sealed with a CRC-32, parsed and checked; the (path, size, mtime)
 * stamps of the files a call read. */
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "executor/cache_int.h"
#include "lang/vm.h"

static void put_u64(sbuf *b, uint64_t x)
{
	uint8_t t[8];
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)(x >> (8 * i));
	sbuf_add(b, t, 8);
}

uint64_t crec_get_u64(const uint8_t *p)
{
	uint64_t x = 0;
	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

static void put_str(sbuf *b, const char *s)
{
	size_t n = strlen(s);
	val_encode_varint(b, n);
	sbuf_add(b, s, n);
}

/* Wall-clock ns: entries are compared across runs (and processes). */
uint64_t crec_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}


/* The record's check: CRC-32 (zlib), not a second SHA-256 pass over a
 * result that may be large; it is there to catch damage, not forgery. */
static uint32_t body_crc(const uint8_t *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	while (n > 0) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, p, k);
		p += k;
		n -= k;
	}
	return (uint32_t)c;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int get_bytes(const uint8_t *b, size_t len, size_t *pos, const uint8_t **out, size_t *n)
{
	uint64_t k;
	verr e;
	if (val_decode_varint(b, len, pos, &k, &e) || k > len - *pos)
		return -1;
	*out = b + *pos;
	*n = (size_t)k;
	*pos += (size_t)k;
	return 0;
}

/* Checks the magic and the checksum and splits the record. */
int crec_parse(const uint8_t *b, size_t len, rec *r)
{
	if (len < REC_HEAD + 8 || memcmp(b, REC_MAGIC, 4) != 0)
		return -1;
	if (body_crc(b + REC_HEAD, len - REC_HEAD) != get_u32(b + 12))
		return -1;
	r->used = crec_get_u64(b + 4);
	r->stored = crec_get_u64(b + REC_HEAD);
	size_t pos = REC_HEAD + 8;
	const uint8_t *t;
	verr e;
	if (get_bytes(b, len, &pos, &t, &r->tasklen))
		return -1;
	r->task = (const char *)t;
	if (val_decode_varint(b, len, &pos, &r->nfiles, &e))
		return -1;
	r->files = b + pos;
	for (uint64_t f = 0; f < r->nfiles; f++) {
		const uint8_t *pth;
		size_t pl;
		if (pos >= len)
			return -1;
		pos++; /* its kind */
		if (get_bytes(b, len, &pos, &pth, &pl) || len - pos < 16)
			return -1;
		pos += 16;
	}
	r->fileslen = (size_t)(b + pos - r->files);
	r->res = b + pos; /* the rest */
	r->reslen = len - pos;
	return 0;
}

static bool stat_file(const char *path, uint64_t *size, uint64_t *mtime)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return false;
	*size = (uint64_t)st.st_size;
	*mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
	return true;
}

/* What io.glob(pattern) gives (the same glob(3) call), as a digest of
 * its sorted matches, each with its length. */
static bool glob_digest(const char *pattern, uint64_t *a, uint64_t *b)
{
	glob_t g;
	int rc = glob(pattern, 0, NULL, &g);
	if (rc != 0 && rc != GLOB_NOMATCH)
		return false;
	sha s;
	sha_begin(&s);
	sha_u64(&s, rc == 0 ? (uint64_t)g.gl_pathc : 0);
	for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++)
		sha_str(&s, g.gl_pathv[i]);
	globfree(&g);
	uint8_t d[32];
	sha_end(&s, d);
	*a = crec_get_u64(d);
	*b = crec_get_u64(d + 8);
	return true;
}

bool crec_probe(int kind, const char *path, uint64_t *a, uint64_t *b)
{
	struct stat st;
	switch (kind) {
	case CF_READ:
		return stat_file(path, a, b);
	case VM_PROBE_GLOB:
		return glob_digest(path, a, b);
	case VM_PROBE_EXISTS: /* as io.exists asks */
		*a = stat(path, &st) == 0;
		*b = 0;
		return true;
	}
	return false;
}

int crec_next_file(const rec *r, size_t *pos, int *kind, char *buf, size_t bufsz,
                   uint64_t *a, uint64_t *b)
{
	const uint8_t *pth;
	size_t pl;
	if (*pos >= r->fileslen)
		return -1;
	*kind = r->files[(*pos)++];
	if (get_bytes(r->files, r->fileslen, pos, &pth, &pl) || pl >= bufsz ||
	    r->fileslen - *pos < 16)
		return -1;
	memcpy(buf, pth, pl);
	buf[pl] = '\0';
	*a = crec_get_u64(r->files + *pos);
	*b = crec_get_u64(r->files + *pos + 8);
	*pos += 16;
	return 0;
}

bool crec_files_unchanged(const rec *r)
{
	size_t pos = 0;
	for (uint64_t f = 0; f < r->nfiles; f++) {
		char path[4096];
		int kind;
		uint64_t a, b, na, nb;
		if (crec_next_file(r, &pos, &kind, path, sizeof path, &a, &b) ||
		    !crec_probe(kind, path, &na, &nb) || na != a || nb != b)
			return false;
	}
	return true;
}

void crec_begin(sbuf *b, const char *task, const cache_file *files, size_t nfiles)
{
	uint64_t now = crec_now_ns();
	sbuf_add(b, REC_MAGIC, 4);
	put_u64(b, now);
	sbuf_add(b, "\0\0\0\0", 4); /* the CRC: crec_seal */
	put_u64(b, now);
	put_str(b, task);
	val_encode_varint(b, nfiles);
	for (size_t k = 0; k < nfiles; k++) {
		uint8_t kind = (uint8_t)files[k].kind;
		sbuf_add(b, &kind, 1);
		put_str(b, files[k].path);
		put_u64(b, files[k].a);
		put_u64(b, files[k].b);
	}
}

void crec_seal(sbuf *b)
{
	uint32_t crc = body_crc((const uint8_t *)b->data + REC_HEAD, b->len - REC_HEAD);
	for (int i = 0; i < 4; i++)
		b->data[12 + i] = (char)(crc >> (8 * i));
}

void crec_set_used(uint8_t *b, uint64_t t)
{
	for (int i = 0; i < 8; i++)
		b[4 + i] = (uint8_t)(t >> (8 * i));
}
