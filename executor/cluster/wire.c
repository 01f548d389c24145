/* wire.c - encoding and defensive decoding of the cluster's frames. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "lang/encode.h"

const char *wire_strerror(int code)
{
	static const char *const text[] = {
#define X(c, t) t,
		WIRE_ERRORS(X)
#undef X
	};
	if (code < 0 || code >= WIRE_NERRORS)
		return "unknown error";
	return text[code];
}

const char *wire_kind_name(int kind)
{
	switch (kind) {
#define M(K, n, name, fields) case n: return #K;
#define F(T, f)
		WIRE_MESSAGES(M, F)
#undef M
#undef F
	}
	return NULL;
}

/* ---- writing ---------------------------------------------------------- */

static void put_le(sbuf *b, uint64_t x, int n)
{
	uint8_t t[8];
	for (int i = 0; i < n; i++)
		t[i] = (uint8_t)(x >> (8 * i));
	sbuf_add(b, t, (size_t)n);
}

static int put_U8(sbuf *b, const wire_U8 *x, verr *e) { put_le(b, *x, 1); return 0; }
static int put_U32(sbuf *b, const wire_U32 *x, verr *e) { put_le(b, *x, 4); return 0; }
static int put_U64(sbuf *b, const wire_U64 *x, verr *e) { put_le(b, *x, 8); return 0; }
static int put_B32(sbuf *b, const wire_B32 *x, verr *e) { sbuf_add(b, *x, 32); return 0; }

static int put_STR(sbuf *b, const wire_STR *x, verr *e)
{
	size_t n = *x ? strlen(*x) : 0;
	if (n > WIRE_MAX_STR) {
		verr_set(e, "string of %zu bytes (at most %u)", n, WIRE_MAX_STR);
		return -1;
	}
	put_le(b, n, 4);
	sbuf_add(b, *x ? *x : "", n);
	return 0;
}

static int put_BLOB(sbuf *b, const wire_BLOB *x, verr *e)
{
	if (x->len > WIRE_MAX_PAYLOAD) {
		verr_set(e, "blob of %u bytes (at most %u)", x->len, WIRE_MAX_PAYLOAD);
		return -1;
	}
	put_le(b, x->len, 4);
	sbuf_add(b, x->data, x->len);
	return 0;
}

static int put_VAL(sbuf *b, const wire_VAL *x, verr *e)
{
	size_t at = b->len;
	put_le(b, 0, 4); /* length, patched below */
	if (val_encode(b, *x, e) != 0) {
		b->len = at;
		return -1;
	}
	uint64_t n = b->len - at - 4;
	for (int i = 0; i < 4; i++)
		((uint8_t *)b->data)[at + i] = (uint8_t)(n >> (8 * i));
	return 0;
}

#define W(T, f) if (put_##T(b, &p->f, e) != 0) return -1;
static int put_node(sbuf *b, const struct wire_node *p, verr *e) { WIRE_NODE_FIELDS(W) return 0; }
static int put_job(sbuf *b, const struct wire_job *p, verr *e) { WIRE_JOB_FIELDS(W) return 0; }
static int put_call(sbuf *b, const struct wire_call *p, verr *e) { WIRE_CALL_FIELDS(W) return 0; }
static int put_done(sbuf *b, const struct wire_done *p, verr *e) { WIRE_DONE_FIELDS(W) return 0; }
#undef W

/* A record is all or nothing: a failed one leaves b as it was. */
int wire_encode_call(const struct wire_call *c, sbuf *b, verr *e)
{
	size_t at = b->len;
	if (put_call(b, c, e) != 0) {
		b->len = at;
		return WIRE_EMALFORMED;
	}
	return WIRE_OK;
}

int wire_encode_done(const struct wire_done *d, sbuf *b, verr *e)
{
	size_t at = b->len;
	if (put_done(b, d, e) != 0) {
		b->len = at;
		return WIRE_EMALFORMED;
	}
	return WIRE_OK;
}

void wire_put_u32(sbuf *b, uint32_t x) { put_le(b, x, 4); }

size_t wire_frame_begin(sbuf *b, int kind)
{
	size_t at = b->len;
	sbuf_add(b, WIRE_MAGIC, 4);
	put_le(b, WIRE_VERSION, 2);
	put_le(b, (uint64_t)kind, 2);
	put_le(b, 0, 4);
	return at;
}

void wire_frame_end(sbuf *b, size_t at)
{
	uint64_t n = b->len - at - WIRE_HEADER;
	for (int i = 0; i < 4; i++)
		((uint8_t *)b->data)[at + 8 + i] = (uint8_t)(n >> (8 * i));
}

static int put_NODES(sbuf *b, const wire_NODES *x, verr *e)
{
	put_le(b, x->n, 4);
	for (uint32_t i = 0; i < x->n; i++)
		if (put_node(b, &x->v[i], e) != 0)
			return -1;
	return 0;
}

#define PUT_LIST(T, rec) \
	static int put_##T(sbuf *b, const wire_##T *x, verr *e) \
	{ \
		if (x->n > WIRE_MAX_LIST) { \
			verr_set(e, "list of %u records (at most %u)", x->n, WIRE_MAX_LIST); \
			return -1; \
		} \
		put_le(b, x->n, 4); \
		for (uint32_t i = 0; i < x->n; i++) \
			if (put_##rec(b, &x->v[i], e) != 0) \
				return -1; \
		return 0; \
	}
PUT_LIST(JOBS, job)
PUT_LIST(CALLS, call)
PUT_LIST(DONES, done)

int wire_encode(const struct wire_msg *m, sbuf *b, verr *e)
{
	size_t at = b->len;
	sbuf_add(b, WIRE_MAGIC, 4);
	put_le(b, WIRE_VERSION, 2);
	put_le(b, (uint64_t)m->kind, 2);
	put_le(b, 0, 4);
	int rc = 0;
	switch (m->kind) {
#define M(K, n, name, fields) \
	case n: { const struct wire_##name *p = &m->u.name; fields break; }
#define F(T, f) if (rc == 0 && put_##T(b, &p->f, e) != 0) rc = -1;
		WIRE_MESSAGES(M, F)
#undef M
#undef F
	default:
		verr_set(e, "unknown message kind %d", m->kind);
		rc = -1;
	}
	uint64_t n = b->len - at - WIRE_HEADER;
	if (rc == 0 && n > WIRE_MAX_PAYLOAD) {
		verr_set(e, "message of %llu bytes (at most %u)", (unsigned long long)n, WIRE_MAX_PAYLOAD);
		rc = -1;
	}
	if (rc != 0) {
		b->len = at;
		return WIRE_EMALFORMED;
	}
	for (int i = 0; i < 4; i++)
		((uint8_t *)b->data)[at + 8 + i] = (uint8_t)(n >> (8 * i));
	return WIRE_OK;
}

/* ---- reading: every length against what is left, before allocating ---- */

typedef struct {
	const uint8_t *p;
	size_t len, pos;
	verr *e;
	int trunc; /* a field ran past the end: a truncated frame */
} rd;

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t x = 0;
	for (int i = 0; i < n; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

static int need(rd *r, size_t n, const char *what)
{
	if (r->len - r->pos < n) {
		r->trunc = 1;
		verr_set(r->e, "%s needs %zu bytes at offset %zu, %zu left", what, n,
		         r->pos, r->len - r->pos);
		return -1;
	}
	return 0;
}

#define GET_FIXED(T, n) \
	static int get_##T(rd *r, wire_##T *x) \
	{ \
		if (need(r, n, #T) != 0) return -1; \
		*x = (wire_##T)le(r->p + r->pos, n); \
		r->pos += n; \
		return 0; \
	}
GET_FIXED(U8, 1)
GET_FIXED(U32, 4)
GET_FIXED(U64, 8)

static int get_B32(rd *r, wire_B32 *x)
{
	if (need(r, 32, "B32") != 0) return -1;
	memcpy(*x, r->p + r->pos, 32);
	r->pos += 32;
	return 0;
}

static int get_len(rd *r, uint32_t max, const char *what, uint32_t *n)
{
	wire_U32 v;
	if (get_U32(r, &v) != 0)
		return -1;
	if (v > max) {
		verr_set(r->e, "%s of %u bytes (at most %u)", what, v, max);
		return -1;
	}
	if (need(r, v, what) != 0)
		return -1;
	*n = v;
	return 0;
}

static int get_STR(rd *r, wire_STR *x)
{
	uint32_t n;
	if (get_len(r, WIRE_MAX_STR, "string", &n) != 0)
		return -1;
	if (memchr(r->p + r->pos, 0, n)) {
		verr_set(r->e, "string with a NUL byte at offset %zu", r->pos);
		return -1;
	}
	char *s = malloc((size_t)n + 1);
	if (!s) {
		verr_set(r->e, "out of memory");
		return -1;
	}
	memcpy(s, r->p + r->pos, n);
	s[n] = 0;
	r->pos += n;
	*x = s;
	return 0;
}

static int get_BLOB(rd *r, wire_BLOB *x)
{
	uint32_t n;
	if (get_len(r, WIRE_MAX_PAYLOAD, "blob", &n) != 0)
		return -1;
	uint8_t *d = malloc(n ? n : 1);
	if (!d) {
		verr_set(r->e, "out of memory");
		return -1;
	}
	memcpy(d, r->p + r->pos, n);
	r->pos += n;
	x->data = d;
	x->len = n;
	return 0;
}

static int get_VAL(rd *r, wire_VAL *x)
{
	uint32_t n;
	if (get_len(r, WIRE_MAX_PAYLOAD, "value", &n) != 0)
		return -1;
	verr ve;
	if (val_decode(r->p + r->pos, n, x, &ve) != 0) {
		verr_set(r->e, "value at offset %zu: %s", r->pos, ve.msg);
		return -1;
	}
	r->pos += n;
	return 0;
}

/* free_T releases what get_T made (fixed types own nothing). */
static void free_U8(wire_U8 *x) { (void)x; }
static void free_U32(wire_U32 *x) { (void)x; }
static void free_U64(wire_U64 *x) { (void)x; }
static void free_B32(wire_B32 *x) { (void)x; }
static void free_STR(wire_STR *x) { free(*x); *x = NULL; }
static void free_BLOB(wire_BLOB *x) { free(x->data); x->data = NULL; x->len = 0; }
static void free_VAL(wire_VAL *x) { val_rele(*x); *x = v_none(); }

#define FR(T, f) free_##T(&p->f);
static void free_node(struct wire_node *p) { WIRE_NODE_FIELDS(FR) }
static void free_job(struct wire_job *p) { WIRE_JOB_FIELDS(FR) }
static void free_call(struct wire_call *p) { WIRE_CALL_FIELDS(FR) }
static void free_done(struct wire_done *p) { WIRE_DONE_FIELDS(FR) }
#undef FR

void wire_done_free(struct wire_done *d) { free_done(d); }

/* A record's smallest encoding bounds the count a list may claim. */
#define SZ(T, f) + min_##T
enum { min_U8 = 1, min_U32 = 4, min_U64 = 8, min_B32 = 32, min_STR = 4,
       min_BLOB = 4, min_VAL = 4 };
enum { min_node = 0 WIRE_NODE_FIELDS(SZ), min_job = 0 WIRE_JOB_FIELDS(SZ),
       min_call = 0 WIRE_CALL_FIELDS(SZ), min_done = 0 WIRE_DONE_FIELDS(SZ) };
#undef SZ

#define RDN(T, f) if (get_##T(r, &p->f) != 0) { free_node(p); return -1; }
#define RDJ(T, f) if (get_##T(r, &p->f) != 0) { free_job(p); return -1; }
static int get_node(rd *r, struct wire_node *p) { WIRE_NODE_FIELDS(RDN) return 0; }
static int get_job(rd *r, struct wire_job *p) { WIRE_JOB_FIELDS(RDJ) return 0; }
#define RDC(T, f) if (get_##T(r, &p->f) != 0) { free_call(p); return -1; }
#define RDD(T, f) if (get_##T(r, &p->f) != 0) { free_done(p); return -1; }
static int get_call(rd *r, struct wire_call *p) { WIRE_CALL_FIELDS(RDC) return 0; }
static int get_done(rd *r, struct wire_done *p) { WIRE_DONE_FIELDS(RDD) return 0; }
#undef RDN
#undef RDJ
#undef RDC
#undef RDD

#define GET_LIST(T, rec) \
	static void free_##T(wire_##T *x) \
	{ \
		for (uint32_t i = 0; i < x->n; i++) free_##rec(&x->v[i]); \
		free(x->v); x->v = NULL; x->n = 0; \
	} \
	static int get_##T(rd *r, wire_##T *x) \
	{ \
		wire_U32 n; \
		if (get_U32(r, &n) != 0) return -1; \
		if (n > WIRE_MAX_LIST || (size_t)n * min_##rec > r->len - r->pos) { \
			verr_set(r->e, "list of %u records cannot fit in %zu bytes", n, r->len - r->pos); \
			return -1; \
		} \
		x->v = calloc(n ? n : 1, sizeof *x->v); \
		x->n = 0; \
		if (!x->v) { verr_set(r->e, "out of memory"); return -1; } \
		for (; x->n < n; x->n++) \
			if (get_##rec(r, &x->v[x->n]) != 0) { free_##T(x); return -1; } \
		return 0; \
	}
GET_LIST(NODES, node)
GET_LIST(JOBS, job)
GET_LIST(CALLS, call)
GET_LIST(DONES, done)

/* Frees the fields of message `name` that were read before a failure:
 * zero-initialised fields free as nothing, so freeing all is safe. */
void wire_msg_free(struct wire_msg *m)
{
	switch (m->kind) {
#define M(K, n, name, fields) case n: { struct wire_##name *p = &m->u.name; fields break; }
#define F(T, f) free_##T(&p->f);
		WIRE_MESSAGES(M, F)
#undef M
#undef F
	}
	m->kind = WM_NONE;
}

int wire_check_header(const void *buf, size_t len, int *kind, int *version, verr *e)
{
	const uint8_t *p = buf;
	if (len < WIRE_HEADER) {
		verr_set(e, "frame of %zu bytes is shorter than the %d-byte header", len, WIRE_HEADER);
		return WIRE_ETRUNC;
	}
	if (memcmp(p, WIRE_MAGIC, 4) != 0) {
		verr_set(e, "frame does not start with \"FLOW\"");
		return WIRE_EMAGIC;
	}
	*version = (int)le(p + 4, 2);
	*kind = (int)le(p + 6, 2);
	uint64_t n = le(p + 8, 4);
	if (*version != WIRE_VERSION) {
		verr_set(e, "protocol version %d, this side speaks %d", *version, WIRE_VERSION);
		return WIRE_EVERSION;
	}
	if (n > WIRE_MAX_PAYLOAD) {
		verr_set(e, "frame claims %llu bytes, at most %u are allowed",
		         (unsigned long long)n, WIRE_MAX_PAYLOAD);
		return WIRE_ETOOBIG;
	}
	if (n > len - WIRE_HEADER) {
		verr_set(e, "frame claims %llu bytes, %zu arrived", (unsigned long long)n,
		         len - WIRE_HEADER);
		return WIRE_ETRUNC;
	}
	if (n < len - WIRE_HEADER) {
		verr_set(e, "frame claims %llu bytes, %zu arrived (trailing bytes)",
		         (unsigned long long)n, len - WIRE_HEADER);
		return WIRE_EMALFORMED;
	}
	if (!wire_kind_name(*kind)) {
		verr_set(e, "unknown message kind %d", *kind);
		return WIRE_EKIND;
	}
	return WIRE_OK;
}

int wire_decode(const void *buf, size_t len, struct wire_msg *m, verr *e)
{
	int kind, version;
	memset(m, 0, sizeof *m);
	int rc = wire_check_header(buf, len, &kind, &version, e);
	if (rc != WIRE_OK)
		return rc;
	rd r = {(const uint8_t *)buf + WIRE_HEADER, len - WIRE_HEADER, 0, e, 0};
	rd *rp = &r;
	m->kind = kind;
	int bad = 0;
	switch (kind) {
	/* fields start zeroed (a VAL as none), so freeing a half-read message is safe */
#define M(K, n, name, fields) case n: { struct wire_##name *p = &m->u.name; fields break; }
#define F(T, f) if (!bad && get_##T(rp, &p->f) != 0) bad = 1;
		WIRE_MESSAGES(M, F)
#undef M
#undef F
	}
	if (!bad && r.pos != r.len) {
		verr_set(e, "%s: %zu bytes left after the last field", wire_kind_name(kind), r.len - r.pos);
		bad = 1;
	}
	if (bad) {
		wire_msg_free(m);
		return r.trunc ? WIRE_ETRUNC : WIRE_EMALFORMED;
	}
	return WIRE_OK;
}
