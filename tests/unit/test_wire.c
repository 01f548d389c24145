/* test_wire.c: the cluster's wire protocol - every message kind round trips;
 * truncated, oversized, unknown, wrong-version and malformed frames are
 * refused with their code; the token and the HMAC handshake over a real nng
 * connection (inproc) succeed with the right token and fail with a wrong one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "executor/cluster/auth.h"
#include "executor/cluster/batch.h"
#include "executor/cluster/plans.h"
#include "executor/cluster/transport.h"
#include "executor/cluster/wire.h"
#include "lang/encode.h"

/* ---- filling every field of a message with known content ------------- */

static void fill_U8(wire_U8 *x, const char *f) { *x = (uint8_t)(strlen(f) + 1); }
static void fill_U32(wire_U32 *x, const char *f) { *x = 0x01020304u + (uint32_t)strlen(f); }
static void fill_U64(wire_U64 *x, const char *f) { *x = 0xfedcba9876543210ull - strlen(f); }
static void fill_B32(wire_B32 *x, const char *f)
{
	for (int i = 0; i < 32; i++)
		(*x)[i] = (uint8_t)(i * 7 + f[0]);
}
static void fill_STR(wire_STR *x, const char *f)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s: é ✓", f);
	*x = strdup(buf);
}
static void fill_BLOB(wire_BLOB *x, const char *f)
{
	x->len = 1000;
	x->data = malloc(x->len);
	for (uint32_t i = 0; i < x->len; i++)
		x->data[i] = (uint8_t)(i ^ (uint32_t)f[0]);
}
static void fill_VAL(wire_VAL *x, const char *f)
{
	value l = list_new(3);
	list_append_take(l, v_int(-42));
	list_append_take(l, str_from_c(f));
	list_append_take(l, v_float(2.5));
	*x = l;
}
#define FILL(T, f) fill_##T(&p->f, #f);
static void fill_node(struct wire_node *p) { WIRE_NODE_FIELDS(FILL) }
static void fill_job(struct wire_job *p) { WIRE_JOB_FIELDS(FILL) }
static void fill_call(struct wire_call *p) { WIRE_CALL_FIELDS(FILL) }
static void fill_done(struct wire_done *p) { WIRE_DONE_FIELDS(FILL) }
/* batches of three records, each different */
static void fill_CALLS(wire_CALLS *x, const char *f)
{
	x->n = 3;
	x->v = calloc(3, sizeof *x->v);
	for (uint32_t i = 0; i < 3; i++) {
		fill_call(&x->v[i]);
		x->v[i].id = i + 1;
	}
}
static void fill_DONES(wire_DONES *x, const char *f)
{
	x->n = 3;
	x->v = calloc(3, sizeof *x->v);
	for (uint32_t i = 0; i < 3; i++) {
		fill_done(&x->v[i]);
		x->v[i].id = 10 + i;
		x->v[i].ok = (uint8_t)i;
	}
}
static void fill_NODES(wire_NODES *x, const char *f)
{
	x->n = 2;
	x->v = calloc(2, sizeof *x->v);
	fill_node(&x->v[0]);
	fill_node(&x->v[1]);
	x->v[1].id = 77;
}
static void fill_JOBS(wire_JOBS *x, const char *f)
{
	x->n = 1;
	x->v = calloc(1, sizeof *x->v);
	fill_job(&x->v[0]);
}

static void fill(struct wire_msg *m, int kind)
{
	memset(m, 0, sizeof *m);
	m->kind = kind;
	switch (kind) {
#define M(K, n, name, fields) case n: { struct wire_##name *p = &m->u.name; fields break; }
		WIRE_MESSAGES(M, FILL)
#undef M
	default: fail_msg("no kind %d", kind);
	}
}

/* ---- comparing ---------------------------------------------------------- */

static int eq_U8(const wire_U8 *a, const wire_U8 *b) { return *a == *b; }
static int eq_U32(const wire_U32 *a, const wire_U32 *b) { return *a == *b; }
static int eq_U64(const wire_U64 *a, const wire_U64 *b) { return *a == *b; }
static int eq_B32(const wire_B32 *a, const wire_B32 *b) { return memcmp(*a, *b, 32) == 0; }
static int eq_STR(const wire_STR *a, const wire_STR *b) { return strcmp(*a, *b) == 0; }
static int eq_BLOB(const wire_BLOB *a, const wire_BLOB *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}
static int eq_VAL(const wire_VAL *a, const wire_VAL *b)
{
	return a->t == V_LIST && val_eq(*a, *b) && list_get(*b, 2).t == V_FLOAT;
}
#define EQ(T, f) if (!eq_##T(&a->f, &b->f)) return 0;
static int eq_node(const struct wire_node *a, const struct wire_node *b) { WIRE_NODE_FIELDS(EQ) return 1; }
static int eq_job(const struct wire_job *a, const struct wire_job *b) { WIRE_JOB_FIELDS(EQ) return 1; }
static int eq_call(const struct wire_call *a, const struct wire_call *b) { WIRE_CALL_FIELDS(EQ) return 1; }
static int eq_done(const struct wire_done *a, const struct wire_done *b) { WIRE_DONE_FIELDS(EQ) return 1; }
#define EQ_LIST(T, rec) \
	static int eq_##T(const wire_##T *a, const wire_##T *b) \
	{ \
		if (a->n != b->n) \
			return 0; \
		for (uint32_t i = 0; i < a->n; i++) \
			if (!eq_##rec(&a->v[i], &b->v[i])) \
				return 0; \
		return 1; \
	}
EQ_LIST(CALLS, call)
EQ_LIST(DONES, done)
static int eq_NODES(const wire_NODES *a, const wire_NODES *b)
{
	if (a->n != b->n)
		return 0;
	for (uint32_t i = 0; i < a->n; i++)
		if (!eq_node(&a->v[i], &b->v[i]))
			return 0;
	return 1;
}
static int eq_JOBS(const wire_JOBS *a, const wire_JOBS *b)
{
	if (a->n != b->n)
		return 0;
	for (uint32_t i = 0; i < a->n; i++)
		if (!eq_job(&a->v[i], &b->v[i]))
			return 0;
	return 1;
}

static int same(const struct wire_msg *ma, const struct wire_msg *mb)
{
	if (ma->kind != mb->kind)
		return 0;
	switch (ma->kind) {
#define M(K, n, name, fields) \
	case n: { const struct wire_##name *a = &ma->u.name, *b = &mb->u.name; fields return 1; }
		WIRE_MESSAGES(M, EQ)
#undef M
	}
	return 0;
}

static const int kinds[] = {
#define M(K, n, name, fields) n,
#define F(T, f)
	WIRE_MESSAGES(M, F)
#undef M
#undef F
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static sbuf frame_of(int kind)
{
	struct wire_msg m;
	sbuf b;
	verr e;
	fill(&m, kind);
	sbuf_init(&b);
	assert_int_equal(wire_encode(&m, &b, &e), WIRE_OK);
	wire_msg_free(&m);
	return b;
}

static void le32(void *p, uint32_t x)
{
	for (int i = 0; i < 4; i++)
		((uint8_t *)p)[i] = (uint8_t)(x >> (8 * i));
}

/* ---- tests --------------------------------------------------------------- */

static void test_round_trip_every_kind(void **state)
{
	/* numbers 1..N, in order, each once (a number held for messages of
	 * another branch may be missing: then no frame of it decodes) */
	for (size_t i = 1; i < NKINDS; i++)
		assert_true(kinds[i] > kinds[i - 1]);
	assert_int_equal(kinds[0], 1);
	assert_int_equal(kinds[NKINDS - 1], WM_KIND_END - 1);
	for (size_t i = 0; i < NKINDS; i++) {
		struct wire_msg m, d;
		fill(&m, kinds[i]);
		sbuf b;
		verr e;
		sbuf_init(&b);
		assert_int_equal(wire_encode(&m, &b, &e), WIRE_OK);
		assert_memory_equal(b.data, WIRE_MAGIC, 4);
		int rc = wire_decode(b.data, b.len, &d, &e);
		if (rc != WIRE_OK)
			fail_msg("%s: %s", wire_kind_name(kinds[i]), e.msg);
		assert_true(same(&m, &d));
		assert_non_null(wire_kind_name(kinds[i]));
		wire_msg_free(&m);
		wire_msg_free(&d);
		sbuf_fini(&b);
	}
}

/* Every prefix of every frame is refused, as is every prefix whose header
 * was patched to claim exactly the bytes present (truncated fields). */
static void test_truncated(void **state)
{
	for (size_t i = 0; i < NKINDS; i++) {
		sbuf b = frame_of(kinds[i]);
		uint8_t *copy = malloc(b.len);
		for (size_t n = 0; n < b.len; n++) {
			struct wire_msg d;
			verr e;
			int rc = wire_decode(b.data, n, &d, &e);
			assert_int_equal(rc, WIRE_ETRUNC);
			if (n >= WIRE_HEADER) {
				memcpy(copy, b.data, n);
				le32(copy + 8, (uint32_t)(n - WIRE_HEADER));
				rc = wire_decode(copy, n, &d, &e);
				assert_true(rc == WIRE_ETRUNC || rc == WIRE_EMALFORMED);
			}
		}
		free(copy);
		sbuf_fini(&b);
	}
}

static void test_oversized_unknown_version(void **state)
{
	sbuf b = frame_of(WM_HELLO);
	struct wire_msg d;
	verr e;
	uint8_t *f = (uint8_t *)b.data;

	le32(f + 8, WIRE_MAX_PAYLOAD + 1);
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_ETOOBIG);
	assert_non_null(strstr(e.msg, "at most"));
	le32(f + 8, 0xffffffffu);
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_ETOOBIG);
	le32(f + 8, (uint32_t)(b.len - WIRE_HEADER));

	f[6] = 0xe7; f[7] = 0x03; /* kind 999 */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EKIND);
	f[6] = 0; f[7] = 0;       /* kind 0 */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EKIND);
	f[6] = WM_KIND_END;
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EKIND);
	f[6] = WM_HELLO;

	assert_int_equal(WIRE_VERSION, 9); /* docs/wire.md and the HMAC labels say so */
	f[4] = WIRE_VERSION + 1; /* a newer peer */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	assert_non_null(strstr(e.msg, "version 10"));
	f[4] = 1; /* an older one (one task per message) */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	assert_non_null(strstr(e.msg, "version 1, this side speaks 9"));
	f[4] = 2; /* outcomes without their node's thread and times */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	f[4] = 3; /* a lost argument told by its error's text, not its status */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	f[4] = 4; /* a result that cannot travel told by the error's text */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	f[4] = 5; /* outcomes without their failure's kind */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	f[4] = 6; /* no direct calls (LEASE, LEASED) */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	f[4] = 7; /* objects pulled in chunks only (no OBJ_STREAM), no start reports (STARTED) */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	f[4] = 8; /* calls without their nesting level */
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EVERSION);
	f[4] = WIRE_VERSION;

	f[0] = 'X';
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_EMAGIC);
	f[0] = 'F';
	assert_int_equal(wire_decode(f, b.len, &d, &e), WIRE_OK);
	wire_msg_free(&d);
	sbuf_fini(&b);

	/* an encoder refuses what a decoder would refuse */
	struct wire_msg m = {.kind = WM_ERROR};
	char *big = malloc(WIRE_MAX_STR + 2);
	memset(big, 'a', WIRE_MAX_STR + 1);
	big[WIRE_MAX_STR + 1] = 0;
	m.u.error.message = big;
	sbuf_init(&b);
	assert_int_equal(wire_encode(&m, &b, &e), WIRE_EMALFORMED);
	assert_int_equal(b.len, 0);
	free(big);
	m.kind = 999;
	assert_int_equal(wire_encode(&m, &b, &e), WIRE_EMALFORMED);
	sbuf_fini(&b);
}

/* Hand-made payloads: trailing bytes, a NUL in a string, a list count that
 * cannot fit, a string longer than what is left, a broken value. */
static void test_malformed(void **state)
{
	struct wire_msg d;
	verr e;
	uint8_t f[128];
	memcpy(f, WIRE_MAGIC, 4);
	f[4] = WIRE_VERSION; f[5] = 0;

	/* OK with 4 bytes of code plus one extra */
	f[6] = WM_OK; f[7] = 0;
	le32(f + 8, 5);
	memset(f + 12, 0, 5);
	assert_int_equal(wire_decode(f, 17, &d, &e), WIRE_EMALFORMED);

	/* ERROR: code, then a string with a NUL */
	f[6] = WM_ERROR;
	le32(f + 12, 1);
	le32(f + 16, 3);
	memcpy(f + 20, "a\0b", 3);
	le32(f + 8, 11);
	assert_int_equal(wire_decode(f, 23, &d, &e), WIRE_EMALFORMED);
	/* ... a string claiming more than is left */
	le32(f + 16, 1000);
	assert_int_equal(wire_decode(f, 23, &d, &e), WIRE_ETRUNC);
	/* ... a string claiming more than any string may be */
	le32(f + 16, WIRE_MAX_STR + 1);
	assert_int_equal(wire_decode(f, 23, &d, &e), WIRE_EMALFORMED);

	/* STATUS_REPLY claiming 60000 nodes in 8 bytes: refused before allocating */
	f[6] = WM_STATUS_REPLY;
	le32(f + 12, 60000);
	le32(f + 16, 0);
	le32(f + 8, 8);
	assert_int_equal(wire_decode(f, 20, &d, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "cannot fit"));

	/* TASKS_DONE whose one outcome's value is not a valid encoding */
	f[6] = WM_TASKS_DONE;
	le32(f + 12, 1);       /* one record */
	memset(f + 16, 0, 9);  /* id, ok */
	le32(f + 25, 2);
	f[29] = ENC_VERSION;
	f[30] = 0x7f; /* no such tag */
	le32(f + 31, 0); /* error "" */
	le32(f + 35, 0); /* node "" */
	le32(f + 39, 0); /* output "" */
	le32(f + 43, 3); /* thread (version 3) */
	memset(f + 47, 0, 16);
	f[47] = 5;       /* start_us */
	f[55] = 9;       /* end_us */
	f[63] = 3;       /* ekind (version 6): timeout */
	le32(f + 8, 52);
	assert_int_equal(wire_decode(f, 64, &d, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "value"));
	f[30] = ENC_NONE;
	assert_int_equal(wire_decode(f, 64, &d, &e), WIRE_OK);
	assert_int_equal(d.u.tasks_done.dones.n, 1);
	assert_int_equal(d.u.tasks_done.dones.v[0].thread, 3);
	assert_int_equal(d.u.tasks_done.dones.v[0].start_us, 5);
	assert_int_equal(d.u.tasks_done.dones.v[0].end_us, 9);
	assert_int_equal(d.u.tasks_done.dones.v[0].ekind, 3);
	wire_msg_free(&d);
	/* a version-2 outcome (without the three fields) is malformed now */
	le32(f + 8, 31);
	assert_int_equal(wire_decode(f, 43, &d, &e), WIRE_EMALFORMED);
	/* a version-5 outcome (without ekind) is malformed now */
	le32(f + 8, 51);
	assert_int_equal(wire_decode(f, 63, &d, &e), WIRE_ETRUNC);
	le32(f + 8, 52);
	/* ... claiming 60000 outcomes in 48 bytes: refused before allocating */
	le32(f + 12, 60000);
	assert_int_equal(wire_decode(f, 64, &d, &e), WIRE_EMALFORMED);
	assert_non_null(strstr(e.msg, "cannot fit"));
	/* RUN_TASKS claiming more calls than a list may hold */
	f[6] = WM_RUN_TASKS;
	le32(f + 12, 0);                /* wait_ms */
	le32(f + 16, WIRE_MAX_LIST + 1);
	le32(f + 8, 8);
	assert_int_equal(wire_decode(f, 20, &d, &e), WIRE_EMALFORMED);
}

/* A batch assembled from records encoded one at a time (how the pumps
 * and outboxes build RUN_TASKS and TASKS_DONE) is the same frame
 * wire_encode makes of the whole message. */
static void test_assembled_batches(void **state)
{
	struct wire_msg m;
	sbuf whole, parts;
	verr e;
	fill(&m, WM_RUN_TASKS);
	sbuf_init(&whole);
	sbuf_init(&parts);
	assert_int_equal(wire_encode(&m, &whole, &e), WIRE_OK);
	size_t at = wire_frame_begin(&parts, WM_RUN_TASKS);
	wire_put_u32(&parts, m.u.run_tasks.wait_ms);
	wire_put_u32(&parts, m.u.run_tasks.calls.n);
	for (uint32_t i = 0; i < m.u.run_tasks.calls.n; i++)
		assert_int_equal(wire_encode_call(&m.u.run_tasks.calls.v[i], &parts, &e), WIRE_OK);
	wire_frame_end(&parts, at);
	assert_int_equal(parts.len, whole.len);
	assert_memory_equal(parts.data, whole.data, whole.len);
	wire_msg_free(&m);

	fill(&m, WM_TASKS_DONE);
	whole.len = parts.len = 0;
	assert_int_equal(wire_encode(&m, &whole, &e), WIRE_OK);
	bt_recs r;
	bt_recs_init(&r);
	for (uint32_t i = 0; i < m.u.tasks_done.dones.n; i++)
		bt_encode_done(&m.u.tasks_done.dones.v[i], &r, 7);
	assert_int_equal(r.n, m.u.tasks_done.dones.n);
	assert_int_equal(r.tag[2], 7);
	at = wire_frame_begin(&parts, WM_TASKS_DONE);
	wire_put_u32(&parts, (uint32_t)r.n);
	sbuf_add(&parts, r.data.data, r.data.len);
	wire_frame_end(&parts, at);
	assert_int_equal(parts.len, whole.len);
	assert_memory_equal(parts.data, whole.data, whole.len);
	bt_recs_fini(&r);

	/* an outcome whose value cannot travel is its own status (version 5),
	 * its error saying why, its output dropped */
	struct wire_done d = m.u.tasks_done.dones.v[0];
	d.ok = WIRE_DONE_OK;
	d.result = v_none();
	char *big = malloc(WIRE_MAX_STR + 10);
	memset(big, 'x', WIRE_MAX_STR + 9);
	big[WIRE_MAX_STR + 9] = 0;
	d.output = big;
	bt_recs_init(&r);
	bt_encode_done(&d, &r, 1);
	struct wire_msg back;
	parts.len = 0;
	at = wire_frame_begin(&parts, WM_TASKS_DONE);
	wire_put_u32(&parts, 1);
	sbuf_add(&parts, r.data.data, r.data.len);
	wire_frame_end(&parts, at);
	assert_int_equal(wire_decode(parts.data, parts.len, &back, &e), WIRE_OK);
	assert_int_equal(back.u.tasks_done.dones.v[0].ok, WIRE_DONE_UNSENDABLE);
	assert_non_null(strstr(back.u.tasks_done.dones.v[0].error,
	                       "the task's result cannot be sent to another node"));
	assert_true(back.u.tasks_done.dones.v[0].output == NULL ||
	            back.u.tasks_done.dones.v[0].output[0] == '\0');
	/* relayed (the head re-encodes outcomes): still that status */
	struct wire_done relay = back.u.tasks_done.dones.v[0];
	bt_recs_fini(&r);
	bt_recs_init(&r);
	bt_encode_done(&relay, &r, 1);
	wire_msg_free(&back);
	parts.len = 0;
	at = wire_frame_begin(&parts, WM_TASKS_DONE);
	wire_put_u32(&parts, 1);
	sbuf_add(&parts, r.data.data, r.data.len);
	wire_frame_end(&parts, at);
	assert_int_equal(wire_decode(parts.data, parts.len, &back, &e), WIRE_OK);
	assert_int_equal(back.u.tasks_done.dones.v[0].ok, WIRE_DONE_UNSENDABLE);
	wire_msg_free(&back);
	bt_recs_fini(&r);
	free(big);

	/* a task's own failure with the same text stays a failure: only the
	 * status says a result could not travel */
	d = m.u.tasks_done.dones.v[0];
	d.ok = WIRE_DONE_FAILED;
	d.result = v_none();
	d.error = "the task's result cannot be sent to another node: my own words";
	bt_recs_init(&r);
	bt_encode_done(&d, &r, 1);
	parts.len = 0;
	at = wire_frame_begin(&parts, WM_TASKS_DONE);
	wire_put_u32(&parts, 1);
	sbuf_add(&parts, r.data.data, r.data.len);
	wire_frame_end(&parts, at);
	assert_int_equal(wire_decode(parts.data, parts.len, &back, &e), WIRE_OK);
	assert_int_equal(back.u.tasks_done.dones.v[0].ok, WIRE_DONE_FAILED);
	wire_msg_free(&back);
	bt_recs_fini(&r);

	/* a lost argument (version 4) keeps its status and the object's id
	 * through a re-encoding (the head relays outcomes with bt_encode_done) */
	static const char hex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	d = m.u.tasks_done.dones.v[0];
	d.ok = WIRE_DONE_ARG_LOST;
	d.result = str_new(hex, 64);
	d.error = "an argument's holder was lost: ...";
	bt_recs_init(&r);
	bt_encode_done(&d, &r, 1);
	val_rele(d.result);
	parts.len = 0;
	at = wire_frame_begin(&parts, WM_TASKS_DONE);
	wire_put_u32(&parts, 1);
	sbuf_add(&parts, r.data.data, r.data.len);
	wire_frame_end(&parts, at);
	assert_int_equal(wire_decode(parts.data, parts.len, &back, &e), WIRE_OK);
	assert_int_equal(back.u.tasks_done.dones.v[0].ok, WIRE_DONE_ARG_LOST);
	assert_int_equal(back.u.tasks_done.dones.v[0].result.t, V_STR);
	assert_memory_equal(str_data(back.u.tasks_done.dones.v[0].result), hex, 64);
	wire_msg_free(&back);
	bt_recs_fini(&r);
	wire_msg_free(&m);
	sbuf_fini(&whole);
	sbuf_fini(&parts);
}

/* The call-id map (linear probing, deletions shift entries back): what
 * is put is found until deleted, through growth and many deletions. */
static void test_batch_map(void **state)
{
	bt_map m = {0};
	enum { N = 20000 };
	static char seen[N + 1];
	for (uint64_t k = 1; k <= N; k++)
		bt_map_put(&m, k * 7919, &seen[k]);
	assert_int_equal(m.n, N);
	uint64_t x = 12345;
	for (int i = 0; i < 3 * N; i++) { /* delete about 95%, in a random order */
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t k = (x >> 33) % N + 1;
		void *v = bt_map_del(&m, k * 7919);
		assert_true(v == NULL || v == &seen[k]);
		if (v)
			seen[k] = 1;
	}
	size_t left = 0;
	for (uint64_t k = 1; k <= N; k++) {
		void *v = bt_map_get(&m, k * 7919);
		assert_true(seen[k] ? v == NULL : v == &seen[k]);
		left += !seen[k];
	}
	assert_int_equal(m.n, left);
	assert_null(bt_map_get(&m, 1)); /* never put */
	bt_map_free(&m);
}

/* FLOW_WIRE_CORPUS=DIR: writes one frame of each batch message there,
 * the fuzzer's seeds (tests/fuzz/corpus/wire); else checks nothing. */
static void test_write_seeds(void **state)
{
	const char *dir = getenv("FLOW_WIRE_CORPUS");
	if (!dir)
		return;
	static const int seeds[] = {WM_RUN_TASKS, WM_WAIT_DONE, WM_TASKS_DONE, WM_CANCEL,
	                            WM_OBJ_GET, WM_OBJ_DATA, WM_OBJ_FREE, WM_LEASE, WM_LEASED,
	                            WM_OBJ_STREAM, WM_OBJ_GRANT, WM_STARTED, WM_STARTED_ACK};
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		sbuf b = frame_of(seeds[i]);
		char path[512], name[32];
		snprintf(name, sizeof name, "%s", wire_kind_name(seeds[i]));
		for (char *c = name; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(b.data, 1, b.len, f);
		fclose(f);
		sbuf_fini(&b);
	}
}

static void test_codes_have_text(void **state)
{
	for (int c = 0; c < WIRE_NERRORS; c++)
		assert_non_null(wire_strerror(c));
	assert_string_equal(wire_strerror(-1), "unknown error");
	assert_null(wire_kind_name(0));
	assert_string_equal(wire_kind_name(WM_HELLO), "HELLO");
}

/* ---- the token and the handshake ---------------------------------------- */

static char home[256];

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_token_files(void **state)
{
	auth_token t, u;
	verr e;
	char path[512], dir[300];
	snprintf(home, sizeof home, "/tmp/flow-test-wire-XXXXXX");
	assert_non_null(mkdtemp(home));
	setenv("HOME", home, 1);
	unsetenv("FLOW_TOKEN");

	/* none yet: a worker is told what to do, a head creates one */
	assert_int_equal(auth_token_load(&t, NULL, 0, &e), -1);
	assert_non_null(strstr(e.msg, "--token-file"));
	assert_int_equal(auth_token_load(&t, NULL, 1, &e), 0);
	assert_int_equal(t.created, 1);
	assert_int_equal(t.len, 64);
	snprintf(path, sizeof path, "%s/.flow/token", home);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(auth_token_load(&u, NULL, 1, &e), 0); /* found, not re-made */
	assert_int_equal(u.created, 0);
	assert_true(u.len == t.len && memcmp(u.key, t.key, t.len) == 0);

	/* readable by others: refused; too short: refused */
	snprintf(dir, sizeof dir, "%s/open", home);
	write_file(dir, "0123456789abcdef0123456789abcdef0123\n", 0644);
	assert_int_equal(auth_token_load(&u, dir, 0, &e), -1);
	assert_non_null(strstr(e.msg, "chmod 600"));
	write_file(dir, "short\n", 0600);
	assert_int_equal(auth_token_load(&u, dir, 0, &e), -1);
	assert_non_null(strstr(e.msg, "characters"));
	/* FLOW_TOKEN wins over ~/.flow/token */
	setenv("FLOW_TOKEN", "an-env-token-of-at-least-32-characters", 1);
	assert_int_equal(auth_token_load(&u, NULL, 0, &e), 0);
	assert_string_equal(u.source, "FLOW_TOKEN");
	unsetenv("FLOW_TOKEN");
	unlink(dir);
	unlink(path);
	snprintf(dir, sizeof dir, "%s/.flow", home);
	rmdir(dir);
	rmdir(home);
}

static void test_macs(void **state)
{
	auth_token t = {.len = 40}, u = {.len = 40};
	memset(t.key, 'k', 40);
	memset(u.key, 'k', 40);
	u.key[39] = 'K';
	uint8_t a[32], b[32], m1[32], m2[32], m3[32], m4[32];
	assert_int_equal(auth_nonce(a), 0);
	assert_int_equal(auth_nonce(b), 0);
	assert_memory_not_equal(a, b, 32);
	auth_mac(&t, "flow-s", a, b, m1);
	auth_mac(&t, "flow-s", a, b, m2);
	assert_true(auth_equal(m1, m2, 32));
	auth_mac(&t, "flow-c", a, b, m3); /* the other direction's proof differs */
	assert_false(auth_equal(m1, m3, 32));
	auth_mac(&u, "flow-s", a, b, m4); /* one byte of token differs */
	assert_false(auth_equal(m1, m4, 32));
	auth_mac(&t, "flow-s", b, a, m4); /* nonces swapped */
	assert_false(auth_equal(m1, m4, 32));
}

struct srv {
	wire_server *s;
	int stop;   /* atomic */
	int served; /* atomic */
};

static void *serve(void *arg)
{
	struct srv *v = arg;
	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
		struct wire_msg m;
		uint32_t pipe;
		if (wire_server_recv(v->s, &m, &pipe, NULL, 0, 20) == WIRE_OK) {
			struct wire_msg r = {.kind = WM_OK};
			__atomic_add_fetch(&v->served, 1, __ATOMIC_RELEASE); /* before the reply */
			wire_server_reply(v->s, &r);
			wire_msg_free(&m);
		}
	}
	return NULL;
}

static void test_handshake(void **state)
{
	auth_token good = {.len = 40}, wrong = {.len = 40};
	memset(good.key, 'g', 40);
	memset(wrong.key, 'w', 40);
	snprintf(wrong.source, sizeof wrong.source, "the test");
	struct srv v = {0};
	verr e;
	const char *url = "inproc://test-wire-handshake";
	assert_int_equal(wire_server_open(&v.s, url, &good, &e), 0);
	pthread_t th;
	val_threads_begin(); /* values cross threads from here (value.h) */
	pthread_create(&th, NULL, serve, &v);

	/* the right token: the handshake passes and requests are served */
	wire_client *c;
	struct wire_msg req = {.kind = WM_STATUS}, rep;
	assert_int_equal(wire_client_open(&c, url, 2000, &e), WIRE_OK);
	assert_int_equal(wire_client_call(c, &req, &rep, 2000, &e), WIRE_ENOAUTH); /* not yet */
	wire_client_close(c);
	assert_int_equal(wire_client_open(&c, url, 2000, &e), WIRE_OK);
	assert_int_equal(wire_client_handshake(c, &good, WIRE_ROLE_CLIENT, 2000, &e), WIRE_OK);
	assert_int_equal(wire_client_call(c, &req, &rep, 2000, &e), WIRE_OK);
	assert_int_equal(rep.kind, WM_OK);
	wire_msg_free(&rep);
	wire_client_close(c);
	assert_int_equal(__atomic_load_n(&v.served, __ATOMIC_ACQUIRE), 1);

	/* a wrong token: the client sees the server's proof fail */
	assert_int_equal(wire_client_open(&c, url, 2000, &e), WIRE_OK);
	assert_int_equal(wire_client_handshake(c, &wrong, WIRE_ROLE_CLIENT, 2000, &e), WIRE_EAUTH);
	assert_non_null(strstr(e.msg, "wrong cluster token"));
	wire_client_close(c);

	/* a client that goes on with a proof made with another token: the
	 * server refuses it, and serves nothing on that connection */
	assert_int_equal(wire_client_open(&c, url, 2000, &e), WIRE_OK);
	struct wire_msg hello = {.kind = WM_HELLO}, auth = {.kind = WM_AUTH};
	auth_nonce(hello.u.hello.nonce);
	assert_int_equal(wire_client_call(c, &hello, &rep, 2000, &e), WIRE_OK);
	assert_int_equal(rep.kind, WM_CHALLENGE);
	auth_mac(&wrong, "flow-c", rep.u.challenge.nonce, hello.u.hello.nonce, auth.u.auth.mac);
	wire_msg_free(&rep);
	assert_int_equal(wire_client_call(c, &auth, &rep, 2000, &e), WIRE_EAUTH);
	assert_int_equal(wire_client_call(c, &req, &rep, 2000, &e) == WIRE_OK, 0);
	wire_client_close(c);
	/* ... while the right proof over the same exchange passes */
	assert_int_equal(wire_client_open(&c, url, 2000, &e), WIRE_OK);
	assert_int_equal(wire_client_call(c, &hello, &rep, 2000, &e), WIRE_OK);
	auth_mac(&good, "flow-c", rep.u.challenge.nonce, hello.u.hello.nonce, auth.u.auth.mac);
	wire_msg_free(&rep);
	assert_int_equal(wire_client_call(c, &auth, &rep, 2000, &e), WIRE_OK);
	wire_msg_free(&rep);
	wire_client_close(c);
	assert_int_equal(__atomic_load_n(&v.served, __ATOMIC_ACQUIRE), 1);

	__atomic_store_n(&v.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	wire_server_close(v.s);
}

/* wire_server_serve_fast: requests of the fast kinds on authenticated
 * connections are served on nng's thread while the loop sleeps on; the
 * others (and anything before the handshake) still reach the loop, whose
 * wait still ends on time. */
struct fast_srv {
	wire_server *s;
	pthread_t loop;
	int started, stop;                           /* atomic */
	int fast_n, fast_on_loop, slow_n, timeouts;  /* atomic */
};

static void fast_fn(void *arg, wire_server *s, uint32_t pipe, struct wire_msg *m)
{
	struct fast_srv *v = arg;
	__atomic_add_fetch(&v->fast_n, 1, __ATOMIC_RELEASE);
	if (pthread_equal(pthread_self(), v->loop))
		__atomic_add_fetch(&v->fast_on_loop, 1, __ATOMIC_RELEASE);
	struct wire_msg r = {.kind = WM_TASKS_DONE};
	wire_server_reply(s, &r);
}

static void *fast_loop(void *arg)
{
	struct fast_srv *v = arg;
	v->loop = pthread_self();
	__atomic_store_n(&v->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
		struct wire_msg m;
		uint32_t pipe;
		int rc = wire_server_recv(v->s, &m, &pipe, NULL, 0, 20);
		if (rc == WIRE_OK) {
			__atomic_add_fetch(&v->slow_n, 1, __ATOMIC_RELEASE);
			struct wire_msg r = {.kind = WM_OK};
			wire_server_reply(v->s, &r);
			wire_msg_free(&m);
		} else if (rc == WIRE_ETIMEDOUT) {
			__atomic_add_fetch(&v->timeouts, 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

static void test_serve_fast(void **state)
{
	auth_token tok = {.len = 40};
	memset(tok.key, 'f', 40);
	struct fast_srv v = {0};
	verr e;
	const char *url = "inproc://test-wire-fast";
	assert_int_equal(wire_server_open(&v.s, url, &tok, &e), 0);
	static const uint16_t kinds[] = {WM_RUN_TASKS};
	wire_server_serve_fast(v.s, kinds, 1, fast_fn, &v);
	pthread_t th;
	pthread_create(&th, NULL, fast_loop, &v);
	while (!__atomic_load_n(&v.started, __ATOMIC_ACQUIRE))
		usleep(1000);
	wire_client *c;
	struct wire_msg run = {.kind = WM_RUN_TASKS}, status = {.kind = WM_STATUS}, rep;
	assert_int_equal(wire_client_open(&c, url, 2000, &e), WIRE_OK);
	/* before the handshake: the loop refuses it */
	assert_int_equal(wire_client_call(c, &run, &rep, 2000, &e), WIRE_ENOAUTH);
	wire_client_close(c);
	assert_int_equal(__atomic_load_n(&v.fast_n, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(wire_client_open(&c, url, 2000, &e), WIRE_OK);
	assert_int_equal(wire_client_handshake(c, &tok, WIRE_ROLE_HEAD, 2000, &e), WIRE_OK);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(wire_client_call(c, &run, &rep, 2000, &e), WIRE_OK);
		assert_int_equal(rep.kind, WM_TASKS_DONE);
		wire_msg_free(&rep);
	}
	assert_int_equal(wire_client_call(c, &status, &rep, 2000, &e), WIRE_OK);
	assert_int_equal(rep.kind, WM_OK);
	wire_msg_free(&rep);
	assert_int_equal(__atomic_load_n(&v.fast_n, __ATOMIC_ACQUIRE), 50);
	assert_int_equal(__atomic_load_n(&v.fast_on_loop, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(__atomic_load_n(&v.slow_n, __ATOMIC_ACQUIRE), 1);
	/* idle: the loop's waits still end (its timers run) */
	int t0 = __atomic_load_n(&v.timeouts, __ATOMIC_ACQUIRE);
	usleep(200000);
	assert_true(__atomic_load_n(&v.timeouts, __ATOMIC_ACQUIRE) >= t0 + 2);
	assert_int_equal(wire_client_call(c, &run, &rep, 2000, &e), WIRE_OK);
	wire_msg_free(&rep);
	assert_int_equal(__atomic_load_n(&v.fast_n, __ATOMIC_ACQUIRE), 51);
	wire_client_close(c);
	__atomic_store_n(&v.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	wire_server_close(v.s);
}

/* A pump (batch.h) against a server that answers each RUN_TASKS with
 * every call's outcome at once. With ops.ready, a call leaves from the
 * adding thread and comes back on nng's thread (no pump thread makes the
 * link or hands the outcome on); without it, a pump thread does both.
 * Either way each call's outcome arrives once, and the calls reach the
 * server in the order they were added. */
struct pump_srv {
	wire_server *s;
	int stop;       /* atomic */
	int requests;   /* atomic: RUN_TASKS served */
	uint64_t last;  /* the last call id seen */
	int disorder;   /* a call id not above the one before */
};

static void *pump_serve(void *arg)
{
	struct pump_srv *v = arg;
	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
		struct wire_msg m;
		uint32_t pipe;
		if (wire_server_recv(v->s, &m, &pipe, NULL, 0, 20) != WIRE_OK)
			continue;
		struct wire_msg r = {.kind = WM_TASKS_DONE};
		struct wire_done d[512];
		uint32_t n = 0;
		if (m.kind == WM_RUN_TASKS) {
			__atomic_add_fetch(&v->requests, 1, __ATOMIC_RELEASE);
			for (uint32_t i = 0; i < m.u.run_tasks.calls.n && n < 512; i++) {
				uint64_t id = m.u.run_tasks.calls.v[i].id;
				if (id <= __atomic_load_n(&v->last, __ATOMIC_ACQUIRE))
					__atomic_store_n(&v->disorder, 1, __ATOMIC_RELEASE);
				__atomic_store_n(&v->last, id, __ATOMIC_RELEASE);
				d[n++] = (struct wire_done){.id = id, .ok = WIRE_DONE_OK,
				                            .result = v_int((int64_t)id * 2), .node = "t"};
			}
		}
		r.u.tasks_done.dones.v = d;
		r.u.tasks_done.dones.n = n;
		wire_server_reply(v->s, &r);
		wire_msg_free(&m);
	}
	return NULL;
}

struct pump_t {
	wire_client *c;
	int ready_on;
	pthread_t adder;
	int links, dones, lost, on_adder, wrong; /* atomic */
	int seen[400];                           /* atomic */
};

static wire_client *pt_link(void *arg, verr *e)
{
	struct pump_t *t = arg;
	__atomic_add_fetch(&t->links, 1, __ATOMIC_RELEASE);
	return t->c;
}

static wire_client *pt_ready(void *arg)
{
	struct pump_t *t = arg;
	return t->ready_on ? t->c : NULL;
}

static void pt_done(void *arg, struct wire_done *d, uint32_t n)
{
	struct pump_t *t = arg;
	if (pthread_equal(pthread_self(), t->adder))
		__atomic_add_fetch(&t->on_adder, 1, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < n; i++) {
		if (d[i].id < 400)
			__atomic_add_fetch(&t->seen[d[i].id], 1, __ATOMIC_RELEASE);
		if (d[i].result.t != V_INT || d[i].result.as.i != (int64_t)d[i].id * 2)
			__atomic_add_fetch(&t->wrong, 1, __ATOMIC_RELEASE);
		wire_done_free(&d[i]);
	}
	__atomic_add_fetch(&t->dones, (int)n, __ATOMIC_RELEASE);
}

static void pt_lost(void *arg, const char *why, int in_call)
{
	struct pump_t *t = arg;
	__atomic_add_fetch(&t->lost, 1, __ATOMIC_RELEASE);
}

static void pt_add(bt_pump *p, uint64_t id)
{
	struct wire_call c = {.id = id, .args = v_none()};
	sbuf b;
	verr e;
	sbuf_init(&b);
	assert_int_equal(wire_encode_call(&c, &b, &e), WIRE_OK);
	assert_int_equal(bt_pump_add(p, b.data, b.len), 0);
	sbuf_fini(&b);
}

static void pt_wait(struct pump_t *t, int n)
{
	for (int i = 0; i < 5000 && __atomic_load_n(&t->dones, __ATOMIC_ACQUIRE) < n; i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&t->dones, __ATOMIC_ACQUIRE), n);
}

static void test_pump_paths(void **state)
{
	auth_token tok = {.len = 40};
	memset(tok.key, 'p', 40);
	struct pump_srv v = {0};
	verr e;
	const char *url = "inproc://test-wire-pump";
	assert_int_equal(wire_server_open(&v.s, url, &tok, &e), 0);
	pthread_t th;
	pthread_create(&th, NULL, pump_serve, &v);
	for (int ready = 1; ready >= 0; ready--) {
		struct pump_t t = {.ready_on = ready, .adder = pthread_self()};
		assert_int_equal(wire_client_open(&t.c, url, 2000, &e), WIRE_OK);
		assert_int_equal(wire_client_handshake(t.c, &tok, WIRE_ROLE_HEAD, 2000, &e), WIRE_OK);
		bt_pump *p = bt_pump_start(&(bt_pump_ops){pt_link, pt_done, pt_lost, pt_ready, ready}, &t, 2);
		/* a lone call */
		__atomic_store_n(&v.last, 0, __ATOMIC_RELEASE);
		pt_add(p, 1);
		pt_wait(&t, 1);
		/* many at once: they queue while both requests are out */
		for (uint64_t id = 2; id < 400; id++)
			pt_add(p, id);
		pt_wait(&t, 399);
#define LD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
		for (int id = 1; id < 400; id++)
			assert_int_equal(LD(t.seen[id]), 1);
		assert_int_equal(LD(t.wrong), 0);
		assert_int_equal(LD(t.lost), 0);
		assert_int_equal(LD(t.on_adder), 0); /* outcomes never waited for by the adder */
		if (ready)
			assert_int_equal(LD(t.links), 0); /* no pump thread made the link */
		else
			assert_true(LD(t.links) >= 1);
		assert_int_equal(LD(v.disorder), 0);
#undef LD
		bt_pump_stop(p);
		wire_client_close(t.c);
	}
	assert_true(__atomic_load_n(&v.requests, __ATOMIC_ACQUIRE) >= 2);
	__atomic_store_n(&v.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	wire_server_close(v.s);
}

/* Plans by SHA-256 from chunks: order, totals, the hash and (on workers)
 * validation by the plan reader are all checked before a plan is held. */
static void put(struct plan_store *ps, const uint8_t *h, uint64_t total, uint64_t off,
                const uint8_t *data, uint32_t n, int want)
{
	struct wire_plan_put m;
	verr e;
	memcpy(m.hash, h, 32);
	m.total = total;
	m.offset = off;
	m.chunk.data = (uint8_t *)data;
	m.chunk.len = n;
	int rc = plan_store_put(ps, &m, &e);
	if (rc != want)
		fail_msg("plan_store_put: %s, wanted %s (%s)", wire_strerror(rc), wire_strerror(want), e.msg);
}

static void test_plan_store(void **state)
{
	uint8_t bytes[3000], h[32], other[32];
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = (uint8_t)(i * 31);
	plan_hash(bytes, sizeof bytes, h);
	memset(other, 1, 32);

	struct plan_store head = {.load = 0}, worker = {.load = 1};
	put(&head, h, 0, 0, bytes, 0, WIRE_EMALFORMED);                  /* empty */
	put(&head, h, PLAN_MAX_BYTES + 1, 0, bytes, 10, WIRE_EMALFORMED); /* too big */
	put(&head, h, sizeof bytes, 5, bytes, 10, WIRE_ESTATE);           /* not from 0 */
	put(&head, h, sizeof bytes, 0, bytes, 1000, WIRE_OK);
	assert_null(plan_store_find(&head, h));                           /* incomplete */
	put(&head, h, sizeof bytes, 2000, bytes + 2000, 1000, WIRE_ESTATE); /* a gap: dropped */
	put(&head, h, sizeof bytes, 1000, bytes + 1000, 1000, WIRE_ESTATE); /* ... so this too */
	put(&head, h, sizeof bytes, 0, bytes, 1500, WIRE_OK);
	put(&head, h, sizeof bytes, 1500, bytes + 1500, 1500, WIRE_OK);
	struct plan_entry *pe = plan_store_find(&head, h);
	assert_non_null(pe);
	assert_memory_equal(pe->buf, bytes, sizeof bytes);
	put(&head, h, sizeof bytes, 0, bytes, 10, WIRE_OK);               /* held: once */
	put(&head, other, sizeof bytes, 0, bytes, sizeof bytes, WIRE_EMALFORMED); /* wrong hash */
	assert_null(plan_store_find(&head, other));
	/* a worker validates: these bytes hash right but are no plan */
	put(&worker, h, sizeof bytes, 0, bytes, sizeof bytes, WIRE_EMALFORMED);
	assert_null(plan_store_find(&worker, h));
	plan_store_free(&head);
	plan_store_free(&worker);
}

int main(void)
{
	wire_log_set_name("test_wire");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_kind),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_oversized_unknown_version),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_codes_have_text),
		cmocka_unit_test(test_write_seeds),
		cmocka_unit_test(test_assembled_batches),
		cmocka_unit_test(test_batch_map),
		cmocka_unit_test(test_token_files),
		cmocka_unit_test(test_macs),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_pump_paths),
		cmocka_unit_test(test_serve_fast),
		cmocka_unit_test(test_plan_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
