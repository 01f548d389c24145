/* plans.c - plans by SHA-256, assembled from chunks (plans.h). */
#include "plans.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

void plan_hash(const void *buf, size_t len, uint8_t out[32])
{
	mbedtls_sha256_ret(buf, len, out, 0);
}

static struct plan_entry *find_any(struct plan_store *s, const uint8_t hash[32])
{
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->v[i].hash, hash, 32) == 0)
			return &s->v[i];
	return NULL;
}

struct plan_entry *plan_store_find(struct plan_store *s, const uint8_t hash[32])
{
	struct plan_entry *e = find_any(s, hash);
	return e && e->complete ? e : NULL;
}

static void drop(struct plan_store *s, struct plan_entry *e)
{
	free(e->buf);
	cl_plan_free(e->loaded);
	*e = s->v[--s->n];
}

int plan_store_put(struct plan_store *s, const struct wire_plan_put *m, verr *why)
{
	struct plan_entry *e = find_any(s, m->hash);
	if (e && e->complete)
		return WIRE_OK; /* already here: plans travel once */
	if (m->total == 0 || m->total > PLAN_MAX_BYTES) {
		verr_set(why, "a plan of %llu bytes (at most %llu)", (unsigned long long)m->total,
		         (unsigned long long)PLAN_MAX_BYTES);
		return WIRE_EMALFORMED;
	}
	if (!e) {
		if (m->offset != 0) {
			verr_set(why, "a plan's first chunk must start at offset 0");
			return WIRE_ESTATE;
		}
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 4;
			struct plan_entry *nv = realloc(s->v, cap * sizeof *nv);
			if (!nv) {
				verr_set(why, "out of memory");
				return WIRE_EIO;
			}
			s->v = nv;
			s->cap = cap;
		}
		e = &s->v[s->n];
		memset(e, 0, sizeof *e);
		e->buf = malloc(m->total);
		if (!e->buf) {
			verr_set(why, "no memory for a plan of %llu bytes", (unsigned long long)m->total);
			return WIRE_EIO;
		}
		memcpy(e->hash, m->hash, 32);
		e->total = m->total;
		s->n++;
	}
	if (m->total != e->total || m->offset != e->got || m->chunk.len > e->total - e->got ||
	    (m->chunk.len == 0 && e->got < e->total)) {
		verr_set(why, "plan chunk at %llu (%u bytes) does not follow the %llu bytes received of %llu",
		         (unsigned long long)m->offset, m->chunk.len, (unsigned long long)e->got,
		         (unsigned long long)e->total);
		drop(s, e);
		return WIRE_ESTATE;
	}
	memcpy(e->buf + e->got, m->chunk.data, m->chunk.len);
	e->got += m->chunk.len;
	if (e->got < e->total)
		return WIRE_OK;
	uint8_t h[32];
	plan_hash(e->buf, e->total, h);
	if (memcmp(h, e->hash, 32) != 0) {
		verr_set(why, "the plan's bytes do not hash to its name (SHA-256)");
		drop(s, e);
		return WIRE_EMALFORMED;
	}
	if (s->load) {
		char *err = NULL;
		e->loaded = cl_plan_load(e->buf, e->total, &err);
		if (!e->loaded) {
			verr_set(why, "not a valid plan: %s", err ? err : "?");
			free(err);
			drop(s, e);
			return WIRE_EMALFORMED;
		}
	}
	e->complete = 1;
	return WIRE_OK;
}

void plan_store_free(struct plan_store *s)
{
	while (s->n)
		drop(s, &s->v[s->n - 1]);
	free(s->v);
	s->v = NULL;
	s->cap = 0;
}

int plan_send(wire_client *c, const uint8_t hash[32], const uint8_t *plan, uint64_t len, int ms,
              verr *e)
{
	for (uint64_t off = 0; off < len; off += PLAN_CHUNK) {
		struct wire_msg m = {.kind = WM_PLAN_PUT}, rep;
		memcpy(m.u.plan_put.hash, hash, 32);
		m.u.plan_put.total = len;
		m.u.plan_put.offset = off;
		m.u.plan_put.chunk.data = (uint8_t *)plan + off;
		m.u.plan_put.chunk.len = (uint32_t)(len - off < PLAN_CHUNK ? len - off : PLAN_CHUNK);
		if (wire_client_call(c, &m, &rep, ms, e) != WIRE_OK)
			return -1;
		wire_msg_free(&rep);
	}
	return 0;
}
