/* objects.c - large values held by the node that made them and pulled by
 * the consumer in chunks (objects.h). */
#include "objects.h"
#include "obj_stream.h"
#include "tls.h"
#include "lang/value.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "executor/store.h"
#include "lang/encode.h"
#include "lang/hugemem.h"

#define CALL_MS 60000
#define OPEN_MS 5000

/* One object: an encoding held for others (data), and/or a value: the one
 * it was made from (src, so the same frozen value is held once) or the
 * one pulled (val, so an argument is pulled once per node). */
struct ent {
	uint8_t id[32];
	uint8_t *data;  /* the encoding, or with raw its first bytes */
	const uint8_t *raw; /* the rest: a large str's or tensor's own bytes (in src) */
	uint64_t rawlen;
	uint64_t len;   /* the encoding's size: what it counts against the cap */
	int shared;     /* a frozen value that may be sent again: OBJ_FREE keeps it */
	value src, val;
	uint64_t used;  /* last use (a tick), for LRU */
	int pins;       /* being served or pulled: not evicted */
	int pulling;    /* a thread is pulling it; others wait (cv) */
	wire_client *from; /* a pulled value: the connection it came over (never freed) */
	int freeing;    /* OBJ_FREE came while pinned: dropped when unpinned */
	uint64_t spill_key; /* held for others and written to the spill store (0: not) */
};

struct conn {
	char addr[128];
	wire_client *c;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ent *v;
	size_t n, capn;
	_Atomic uint64_t bytes; /* changed under mu; read without it (obj_used) */
	_Atomic uint64_t spilled; /* bytes of held objects written to the spill store */
	struct store **spill;   /* the daemon's spill store (obj_set_spill), or NULL */
	uint64_t spill_seq;
	int cap_from_env;
	uint64_t cap, tick;
	auth_token tok;
	char head[128], self[128], listen_ip[64];
	int listening;
	struct conn *conns;
	size_t nconns;
	/* connections dropped (a bad chunk sequence) or replaced (lost): shut,
	 * kept allocated and listed here because a puller may still hold one;
	 * one per lost or misbehaving holder, for the life of the process */
	wire_client **dead;
	size_t ndead;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .cap = OBJ_DEFAULT_CAP};

static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	uint64_t m = 1;
	if (*end == 'K' || *end == 'k')
		m = 1ull << 10;
	else if (*end == 'M' || *end == 'm')
		m = 1ull << 20;
	else if (*end == 'G' || *end == 'g')
		m = 1ull << 30;
	else if (*end)
		return 0;
	return x * m;
}

/* Page faults are what moving bytes costs most here (a fresh 16 MiB
 * buffer per chunk, on each side, faults in 4096 pages): keep chunk-sized
 * buffers in malloc's heap, reused, rather than mapped and unmapped each
 * time. */
static void tune_malloc(void)
{
	/* chunk-sized: a frame of OBJ_FRAME_MAX (32 MiB is malloc's highest) */
	mallopt(M_MMAP_THRESHOLD, 32u << 20);
	mallopt(M_TRIM_THRESHOLD, 16 * OBJ_FRAME_MAX);
}

void obj_init(const auth_token *tok, const char *head_addr, const char *self_addr,
              const char *listen_ip)
{
	tune_malloc();
	pthread_mutex_lock(&S.mu);
	if (tok)
		S.tok = *tok;
	snprintf(S.head, sizeof S.head, "%s", head_addr ? head_addr : "");
	if (self_addr || !S.listening) /* a listener opened before stays ours */
		snprintf(S.self, sizeof S.self, "%s", self_addr ? self_addr : "");
	snprintf(S.listen_ip, sizeof S.listen_ip, "%s", listen_ip ? listen_ip : "");
	const char *c = getenv("FLOW_OBJECT_CAP");
	uint64_t cap = c ? parse_size(c) : 0;
	if (c && !cap)
		wire_log("FLOW_OBJECT_CAP=%s is not a size (bytes, or with K, M, G); using %" PRIu64, c,
		         S.cap);
	if (cap) {
		S.cap = cap;
		S.cap_from_env = 1;
	}
	pthread_mutex_unlock(&S.mu);
}

void obj_set_spill(struct store **st, uint64_t cap)
{
	pthread_mutex_lock(&S.mu);
	S.spill = st;
	if (cap && !S.cap_from_env)
		S.cap = cap;
	pthread_mutex_unlock(&S.mu);
}

uint64_t obj_spilled(void) { return atomic_load_explicit(&S.spilled, memory_order_relaxed); }

uint64_t obj_cap(uint64_t cap)
{
	pthread_mutex_lock(&S.mu);
	if (cap)
		S.cap = cap;
	uint64_t r = S.cap;
	pthread_mutex_unlock(&S.mu);
	return r;
}

uint64_t obj_used(void)
{
	/* no lock: a worker's heartbeat thread reads it, and takes no store lock */
	return atomic_load_explicit(&S.bytes, memory_order_relaxed);
}

static void hex(const uint8_t id[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static int unhex(const char *s, size_t n, uint8_t id[32])
{
	if (n != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned x;
		if (sscanf(s + 2 * i, "%2x", &x) != 1)
			return -1;
		id[i] = (uint8_t)x;
	}
	return 0;
}

/* ---- the store (S.mu held) ------------------------------------------------ */

static struct ent *find(const uint8_t id[32])
{
	for (size_t i = 0; i < S.n; i++)
		if (memcmp(S.v[i].id, id, 32) == 0)
			return &S.v[i];
	return NULL;
}

/* Is x's encoding in memory (to serve it, or to count it)? */
static bool in_memory(const struct ent *x) { return x->data || x->raw || x->val.t != V_NONE; }

static void drop_at(size_t i)
{
	struct ent *x = &S.v[i];
	if (in_memory(x) || !x->spill_key)
		S.bytes -= x->len;
	if (x->spill_key) {
		S.spilled -= x->len;
		if (S.spill && *S.spill)
			store_free(*S.spill, x->spill_key, NULL);
	}
	free(x->data);
	val_rele(x->src);
	val_rele(x->val);
	S.v[i] = S.v[--S.n];
}

/* Writes held object x (one others may still pull) to the spill store
 * and lets its bytes go from memory: 0, or -1 (then it is dropped). The
 * store keeps its encoding, served from there once read
 * back (as a tensor holding those bytes). Under S.mu. */
static int spill_out(struct ent *x)
{
	if (!S.spill || !*S.spill || !(x->data || x->raw) || x->val.t != V_NONE)
		return -1;
	if (!x->spill_key) { /* written once: it never changes */
		/* a tensor's bytes: any bytes (a str must be UTF-8) */
		uint64_t hl = x->len - x->rawlen;
		int64_t shape[1] = {(int64_t)((x->len + 7) / 8)};
		value v;
		verr te;
		if (tensor_new(1, shape, &v, &te) != 0)
			return -1;
		uint8_t *buf = (uint8_t *)tensor_of(v)->data;
		memset(buf + (x->len & ~(uint64_t)7), 0, (size_t)(shape[0] * 8 - (int64_t)(x->len & ~(uint64_t)7)));
		if (hl)
			memcpy(buf, x->data, hl);
		if (x->rawlen)
			memcpy(buf + hl, x->raw, x->rawlen);
		val_freeze(v);
		uint64_t key = (1ull << 62) | ++S.spill_seq; /* apart from the store's other ids */
		char *err = NULL;
		int rc = store_put(*S.spill, key, v, &err);
		val_rele(v);
		if (rc == STORE_ERR) {
			wire_log("cannot spill an object of %" PRIu64 " bytes: %s", x->len, err ? err : "?");
			free(err);
			return -1;
		}
		free(err);
		x->spill_key = key;
		S.spilled += x->len;
		char h[65];
		hex(x->id, h);
		wire_log("spilled object %.16s (%" PRIu64 " bytes) to the spill store: over the object "
		         "store's cap of %" PRIu64 " bytes", h, x->len, S.cap);
	}
	free(x->data);
	x->data = NULL;
	x->raw = NULL;
	x->rawlen = 0;
	val_rele(x->src);
	x->src = v_none();
	x->shared = 0;
	S.bytes -= x->len;
	return 0;
}

/* Makes room for need more bytes, least recently used first: an object
 * held for others goes to the spill store when the node has one, any
 * other is let go (a cached argument is pulled again if needed). */
static int make_room(uint64_t need)
{
	while (S.bytes + need > S.cap) {
		size_t best = S.n;
		for (size_t i = 0; i < S.n; i++)
			if (!S.v[i].pins && !S.v[i].pulling && in_memory(&S.v[i]) &&
			    (best == S.n || S.v[i].used < S.v[best].used))
				best = i;
		if (best == S.n)
			return -1;
		if (spill_out(&S.v[best]) != 0)
			drop_at(best);
	}
	return 0;
}

/* Reads spilled object id back into memory to serve it: 0, or -1 with why.
 * Under S.mu. */
static int spill_in(const uint8_t id[32], char *why, size_t wn)
{
	struct ent *x = find(id);
	if (!x || in_memory(x) || !x->spill_key)
		return 0;
	if (!S.spill || !*S.spill) {
		snprintf(why, wn, "the spill store holding it is gone");
		return -1;
	}
	value v;
	char *err = NULL;
	if (store_get(*S.spill, x->spill_key, &v, &err) == STORE_ERR) {
		snprintf(why, wn, "cannot read it back from the spill store: %s", err ? err : "?");
		free(err);
		return -1;
	}
	free(err);
	uint64_t len = x->len;
	x->pins++; /* not chosen while room is made for it */
	int room = make_room(len);
	x = find(id); /* entries move when others go */
	x->pins--;
	if (room != 0 || v.t != V_TENSOR || (uint64_t)tensor_of(v)->size * 8 < len) {
		val_rele(v);
		snprintf(why, wn, "no room to read it back from the spill store");
		return -1;
	}
	x->src = v; /* served from the tensor's bytes */
	x->raw = (const uint8_t *)tensor_of(v)->data;
	x->rawlen = len;
	S.bytes += len;
	return 0;
}

static struct ent *add(const uint8_t id[32])
{
	if (S.n == S.capn) {
		size_t c = S.capn ? S.capn * 2 : 16;
		struct ent *v = realloc(S.v, c * sizeof *v);
		if (!v)
			abort();
		S.v = v;
		S.capn = c;
	}
	struct ent *x = &S.v[S.n++];
	memset(x, 0, sizeof *x);
	memcpy(x->id, id, 32);
	x->src = x->val = v_none();
	x->used = ++S.tick;
	return x;
}

/* ---- references ----------------------------------------------------------- */

static value make_ref(const uint8_t id[32], const char *holder, uint64_t total)
{
	char h[65];
	hex(id, h);
	value l = list_new(3);
	list_append_take(l, str_new(h, 64));
	list_append_take(l, str_from_c(holder));
	list_append_take(l, v_int((int64_t)total));
	value d = dict_new(1), k = str_from_c(OBJ_REF_KEY);
	verr e;
	if (dict_set(d, k, l, &e) != 0)
		abort(); /* a str key always fits */
	val_rele(k);
	val_rele(l);
	val_freeze(d);
	return d;
}

int obj_is_ref(value v, uint8_t id[32], char *holder, size_t holdersz, uint64_t *total)
{
	if (v.t != V_DICT || dict_len(v) != 1)
		return 0;
	value k = str_from_c(OBJ_REF_KEY), l;
	bool has = dict_get(v, k, &l);
	val_rele(k);
	if (!has || l.t != V_LIST || list_len(l) != 3)
		return 0;
	value a = list_get(l, 0), h = list_get(l, 1), t = list_get(l, 2);
	uint8_t tmp[32];
	if (a.t != V_STR || h.t != V_STR || t.t != V_INT || t.as.i < 0 ||
	    unhex(str_data(a), str_len(a), id ? id : tmp) != 0)
		return 0;
	if (holder)
		snprintf(holder, holdersz, "%.*s", (int)str_len(h), str_data(h));
	if (total)
		*total = (uint64_t)t.as.i;
	return 1;
}

/* A cheap lower bound of v's encoded size, stopping past limit or after a
 * few thousand parts (then limit + 1: encode to know). */
static uint64_t size_hint(value v, uint64_t limit, int *budget, int depth)
{
	if (!V_IS_HEAP(v.t))
		return 9; /* scalars are cheap to count: only containers use the budget */
	if (--*budget < 0 || depth > 64)
		return limit + 1;
	switch (v.t) {
	case V_STR: return str_len(v) + 2;
	case V_TENSOR: return (uint64_t)tensor_of(v)->size * 8 + 16;
	case V_LIST: {
		uint64_t s = 2;
		for (size_t i = 0; i < list_len(v) && s <= limit; i++)
			s += size_hint(list_get(v, i), limit, budget, depth + 1);
		return s;
	}
	case V_DICT: {
		uint64_t s = 2;
		size_t it = 0;
		value k, x;
		while (s <= limit && dict_next(v, &it, &k, &x))
			s += size_hint(k, limit, budget, depth + 1) + size_hint(x, limit, budget, depth + 1);
		return s;
	}
	default: return 9;
	}
}

/* ---- serving (holder side) -------------------------------------------- */

static int copy_range(wire_outmsg *out, const struct ent *x, uint64_t off, uint64_t n);

static void *serve_main(void *arg)
{
	wire_server *s = arg;
	for (;;) {
		struct wire_msg m;
		uint32_t pipe;
		if (wire_server_recv(s, &m, &pipe, NULL, 0, 1000) != WIRE_OK)
			continue;
		if (obj_serves(m.kind))
			obj_serve(s, &m);
		else
			wire_server_reply_error(s, WIRE_EREFUSED, "this client serves only its objects");
		wire_msg_free(&m);
	}
	return NULL;
}

/* The client has no listener: one is opened the first time it holds an
 * object, and lives as long as the process. */
static int ensure_listener(verr *e)
{
	pthread_mutex_lock(&S.mu);
	int ok = S.self[0] != 0;
	pthread_mutex_unlock(&S.mu);
	if (ok)
		return 0;
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&once);
	int rc = 0;
	if (!S.listening) {
		char url[128];
		wire_server *s;
		snprintf(url, sizeof url, "tcp://%s:0", S.listen_ip[0] ? S.listen_ip : "0.0.0.0");
		pthread_t t;
		if (wire_server_open(&s, url, &S.tok, e) != 0) {
			rc = -1;
		} else if (pthread_create(&t, NULL, serve_main, s) != 0) {
			verr_set(e, "cannot start the thread serving this client's objects");
			wire_server_close(s);
			rc = -1;
		} else {
			pthread_detach(t);
			pthread_mutex_lock(&S.mu);
			snprintf(S.self, sizeof S.self, "%s:%d", S.listen_ip[0] ? S.listen_ip : "127.0.0.1",
			         wire_server_port(s));
			pthread_mutex_unlock(&S.mu);
			S.listening = 1;
		}
	}
	pthread_mutex_unlock(&once);
	return rc;
}

int obj_serves(int kind)
{
	return kind == WM_OBJ_GET || kind == WM_OBJ_FREE || kind == WM_OBJ_STREAM;
}

/* obj_stream.c's callbacks: a granted object pinned while it is written
 * (read back from the spill store if need be), unpinned after. */
static int stream_open(const uint8_t id[32], struct ostream_src *src)
{
	char why[300];
	pthread_mutex_lock(&S.mu);
	struct ent *x = spill_in(id, why, sizeof why) == 0 ? find(id) : NULL;
	if (!x || (!x->data && !x->raw)) {
		pthread_mutex_unlock(&S.mu);
		return -1;
	}
	x->pins++;
	x->used = ++S.tick;
	uint64_t hl = x->len - x->rawlen;
	src->p[0] = x->data;
	src->n[0] = hl;
	src->p[1] = x->raw;
	src->n[1] = x->rawlen;
	pthread_mutex_unlock(&S.mu);
	return 0;
}

static void stream_close(const uint8_t id[32])
{
	pthread_mutex_lock(&S.mu);
	struct ent *x = find(id);
	if (x && x->pins > 0 && --x->pins == 0 && x->freeing)
		drop_at((size_t)(x - S.v));
	pthread_mutex_unlock(&S.mu);
}

/* OBJ_STREAM: a grant, on this process's own address (the stream
 * listener binds the address its holder address names). */
static void serve_stream(wire_server *s, const struct wire_msg *m)
{
	char h[65], why[400], swhy[300];
	const uint8_t *id = m->u.obj_stream.id;
	pthread_mutex_lock(&S.mu);
	struct ent *x = spill_in(id, swhy, sizeof swhy) == 0 ? find(id) : NULL;
	uint64_t total = x && (x->data || x->raw) ? x->len : 0;
	char ip[128];
	snprintf(ip, sizeof ip, "%s", S.listen_ip[0] ? S.listen_ip : S.self);
	pthread_mutex_unlock(&S.mu);
	char *colon = strrchr(ip, ':');
	if (colon && !S.listen_ip[0])
		*colon = 0;
	if (!total) {
		hex(id, h);
		snprintf(why, sizeof why, "this node holds no object %.16s (freed, evicted, or never here)", h);
		wire_server_reply_error(s, WIRE_EREFUSED, why);
		return;
	}
	struct wire_msg g = {.kind = WM_OBJ_GRANT};
	verr e;
	if (ostream_grant(ip, id, stream_open, stream_close, g.u.obj_grant.key, &g.u.obj_grant.port,
	                  &e) != 0) {
		wire_server_reply_error(s, WIRE_EIO, e.msg);
		return;
	}
	memcpy(g.u.obj_grant.id, id, 32);
	g.u.obj_grant.total = total;
	wire_server_reply(s, &g);
}

void obj_serve(wire_server *s, const struct wire_msg *m)
{
	char h[65];
	if (m->kind == WM_OBJ_STREAM) {
		serve_stream(s, m);
		return;
	}
	if (m->kind == WM_OBJ_FREE) {
		pthread_mutex_lock(&S.mu);
		for (size_t i = 0; i < S.n; i++)
			if (memcmp(S.v[i].id, m->u.obj_free.id, 32) == 0 && !S.v[i].shared) {
				/* a result, used once; a value kept by src stays. Still
				 * pinned by the stream that sent it (the consumer can be
				 * done before the holder's thread is): dropped after. */
				if (S.v[i].pins)
					S.v[i].freeing = 1;
				else
					drop_at(i);
				break;
			}
		pthread_mutex_unlock(&S.mu);
		struct wire_msg ok = {.kind = WM_OK};
		wire_server_reply(s, &ok);
		return;
	}
	const struct wire_obj_get *g = &m->u.obj_get;
	pthread_mutex_lock(&S.mu);
	char swhy[300];
	if (spill_in(g->id, swhy, sizeof swhy) != 0) {
		pthread_mutex_unlock(&S.mu);
		hex(g->id, h);
		char why[400];
		snprintf(why, sizeof why, "object %.16s was spilled and %s", h, swhy);
		wire_server_reply_error(s, WIRE_EREFUSED, why);
		return;
	}
	struct ent *x = find(g->id);
	if (!x || (!x->data && !x->raw)) {
		pthread_mutex_unlock(&S.mu);
		hex(g->id, h);
		char why[160];
		snprintf(why, sizeof why, "this node holds no object %.16s (freed, evicted, or never here)", h);
		wire_server_reply_error(s, WIRE_EREFUSED, why);
		return;
	}
	if (g->offset > x->len) {
		uint64_t len = x->len;
		pthread_mutex_unlock(&S.mu);
		char why[160];
		snprintf(why, sizeof why, "offset %" PRIu64 " is past the object's %" PRIu64 " bytes",
		         g->offset, len);
		wire_server_reply_error(s, WIRE_EMALFORMED, why);
		return;
	}
	x->pins++;
	x->used = ++S.tick;
	uint64_t n = x->len - g->offset;
	uint32_t max = g->max < OBJ_CHUNK_MAX ? g->max : OBJ_CHUNK_MAX;
	if (n > max)
		n = max;
	/* the bytes cannot go while pinned: data and src are only freed
	 * unpinned. OBJ_DATA is written field by field (as wire_encode
	 * would) so the chunk is copied once, from where it lies. */
	uint64_t total = x->len;
	struct ent snap = *x; /* x itself may move once the lock is let go */
	pthread_mutex_unlock(&S.mu);
	/* OBJ_DATA is written field by field (as wire_encode would) straight
	 * into the message nng sends, so the chunk is copied once, from
	 * where it lies */
	sbuf pre;
	sbuf_init(&pre);
	size_t at = wire_frame_begin(&pre, WM_OBJ_DATA);
	uint8_t le[16];
	for (int i = 0; i < 8; i++) {
		le[i] = (uint8_t)(total >> (8 * i));
		le[8 + i] = (uint8_t)(g->offset >> (8 * i));
	}
	sbuf_add(&pre, g->id, 32);
	sbuf_add(&pre, le, 16);
	wire_put_u32(&pre, (uint32_t)n);
	wire_frame_end(&pre, at);
	uint32_t plen = (uint32_t)(pre.len - WIRE_HEADER + n); /* the payload, chunk included */
	for (int i = 0; i < 4; i++)
		((uint8_t *)pre.data)[8 + i] = (uint8_t)(plen >> (8 * i));
	wire_outmsg *om = wire_outmsg_new(pre.len + n);
	if (!om || wire_outmsg_append(om, pre.data, pre.len) != 0 ||
	    copy_range(om, &snap, g->offset, n) != 0) {
		wire_outmsg_free(om);
		wire_server_reply_error(s, WIRE_EIO, "this node is out of memory for a chunk");
	} else {
		/* the loop goes on receiving while nng writes the chunk (a wait
		 * per chunk here made the holder the bottleneck on a busy
		 * machine) */
		wire_pending *p = wire_server_detach(s);
		if (p) {
			wire_pending_send_msg(p, om);
		} else {
			size_t fl;
			const void *fr = wire_outmsg_frame(om, &fl);
			wire_server_reply_raw(s, fr, fl);
			wire_outmsg_free(om);
		}
	}
	sbuf_fini(&pre);
	pthread_mutex_lock(&S.mu);
	x = find(g->id);
	if (x && --x->pins == 0 && x->freeing)
		drop_at((size_t)(x - S.v));
	pthread_mutex_unlock(&S.mu);
}

/* ---- exporting ---------------------------------------------------------- */

/* A large str or tensor is served from its own bytes: head gets the
 * encoding's first bytes (as val_encode writes them), *raw the rest, so
 * the holder copies no more than a chunk at a time. 0 for other values. */
static int segment(value v, sbuf *head, const uint8_t **raw, uint64_t *rawlen)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (v.t == V_STR) {
		sbuf_addc(head, (char)ENC_VERSION);
		sbuf_addc(head, ENC_STR);
		val_encode_varint(head, str_len(v));
		*raw = (const uint8_t *)str_data(v);
		*rawlen = str_len(v);
		return 1;
	}
	if (v.t == V_TENSOR) {
		const vtensor *t = tensor_of(v);
		sbuf_addc(head, (char)ENC_VERSION);
		sbuf_addc(head, ENC_TENSOR);
		sbuf_addc(head, (char)t->ndim);
		for (int i = 0; i < t->ndim; i++)
			val_encode_varint(head, (uint64_t)t->shape[i]);
		*raw = (const uint8_t *)t->data;
		*rawlen = (uint64_t)t->size * 8;
		return 1;
	}
#endif
	(void)v; (void)head; (void)raw; (void)rawlen;
	return 0;
}

/* Appends bytes [off, off + n) of x's encoding to out: 0, or -1. */
static int copy_range(wire_outmsg *out, const struct ent *x, uint64_t off, uint64_t n)
{
	uint64_t hl = x->len - x->rawlen;
	if (off < hl) {
		uint64_t k = hl - off < n ? hl - off : n;
		if (wire_outmsg_append(out, x->data + off, k) != 0)
			return -1;
		off += k;
		n -= k;
	}
	return n ? wire_outmsg_append(out, x->raw + (off - hl), n) : 0;
}

/* v as an object if its encoding is over OBJ_INLINE_MAX, or whatever its
 * size with force (an argument list too large for one message as a whole);
 * v itself if it cannot be encoded or (without force) is small. */
static int export_one(value v, int force, value *out, verr *e)
{
	int budget = 4096;
	if (!force && size_hint(v, OBJ_INLINE_MAX, &budget, 0) <= OBJ_INLINE_MAX) {
		*out = val_hold(v);
		return 0;
	}
	int frozen = val_is_frozen(v);
	if (frozen) { /* the same value again (put): held once */
		pthread_mutex_lock(&S.mu);
		for (size_t i = 0; i < S.n; i++)
			if (S.v[i].shared && V_IS_HEAP(S.v[i].src.t) && S.v[i].src.as.o == v.as.o) {
				S.v[i].used = ++S.tick;
				*out = make_ref(S.v[i].id, S.self, S.v[i].len);
				pthread_mutex_unlock(&S.mu);
				return 0;
			}
		pthread_mutex_unlock(&S.mu);
	}
	sbuf b;
	sbuf_init(&b);
	verr ve;
	const uint8_t *raw = NULL;
	uint64_t rawlen = 0;
	if (segment(v, &b, &raw, &rawlen)) {
		val_freeze(v); /* raw points into it: nobody may change it now */
	} else if (val_encode(&b, v, &ve) != 0 || (!force && b.len <= OBJ_INLINE_MAX)) {
		/* small after all, or it cannot be encoded: the caller's own
		 * encoding decides (an actor makes the call run on the client) */
		sbuf_fini(&b);
		*out = val_hold(v);
		return 0;
	}
	if (ensure_listener(e) != 0) {
		sbuf_fini(&b);
		return -1;
	}
	uint8_t id[32];
	if (auth_nonce(id) != 0) {
		sbuf_fini(&b);
		verr_set(e, "getrandom failed");
		return -1;
	}
	uint64_t total = b.len + rawlen;
	pthread_mutex_lock(&S.mu);
	if (make_room(total) != 0) {
		uint64_t used = S.bytes, cap = S.cap;
		pthread_mutex_unlock(&S.mu);
		verr_set(e, "a value of %" PRIu64 " bytes does not fit this node's object store (%" PRIu64
		         " of %" PRIu64 " bytes in use; FLOW_OBJECT_CAP)", total, used, cap);
		sbuf_fini(&b);
		return -1;
	}
	struct ent *x = add(id);
	size_t len;
	x->data = (uint8_t *)sbuf_take(&b, &len);
	x->raw = raw;
	x->rawlen = rawlen;
	x->len = total;
	x->shared = frozen;
	if (frozen || raw)
		x->src = val_hold(v);
	S.bytes += total;
	*out = make_ref(id, S.self, total);
	pthread_mutex_unlock(&S.mu);
	return 0;
}

int obj_export(value v, value *out, verr *e) { return export_one(v, 0, out, e); }

/* ---- results left on their nodes (the client) -------------------------- */

struct remote_ref {
	uint8_t id[32];
	char holder[128];
};
static struct {
	pthread_mutex_t mu;
	struct remote_ref *v;
	size_t n, cap;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

void obj_note_remote(value ref)
{
	struct remote_ref x;
	if (!obj_is_ref(ref, x.id, x.holder, sizeof x.holder, NULL) || !x.holder[0])
		return;
	pthread_mutex_lock(&R.mu);
	if (R.n == R.cap) {
		R.cap = R.cap ? 2 * R.cap : 16;
		R.v = realloc(R.v, R.cap * sizeof *R.v);
		if (!R.v)
			abort();
	}
	R.v[R.n++] = x;
	pthread_mutex_unlock(&R.mu);
}

static void send_free(const uint8_t id[32], const char *addr);
static wire_client *conn_get(const char *addr, verr *e);

size_t obj_free_remotes(void)
{
	pthread_mutex_lock(&R.mu);
	struct remote_ref *v = R.v;
	size_t n = R.n;
	R.v = NULL;
	R.n = R.cap = 0;
	pthread_mutex_unlock(&R.mu);
	size_t sent = 0;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].holder[0])
			continue; /* a holder that could not be reached: skipped */
		verr e;
		if (!conn_get(v[i].holder, &e)) {
			for (size_t k = i + 1; k < n; k++) /* one try per holder */
				if (strcmp(v[k].holder, v[i].holder) == 0)
					v[k].holder[0] = 0;
			continue;
		}
		send_free(v[i].id, v[i].holder);
		sent++;
	}
	free(v);
	return sent;
}

/* ---- argument lists: each item mapped, copied only on a change ---------- */

typedef int (*item_fn)(value item, void *ctx, value *out, verr *e);

static bool same_value(value a, value b)
{
	return a.t == b.t && (!V_IS_HEAP(a.t) || a.as.o == b.as.o);
}

/* Maps each item of list args through fn (items read from *r once it is a
 * list): the first change makes *r a copy of args (v_none() until then),
 * later ones are set in it. -1 with e set when fn fails (*r released). */
static int map_items(value args, value *r, item_fn fn, void *ctx, verr *e)
{
	size_t n = list_len(args);
	for (size_t i = 0; i < n; i++) {
		value a = list_get(r->t == V_LIST ? *r : args, i), x;
		if (fn(a, ctx, &x, e) != 0) {
			val_rele(*r);
			*r = v_none();
			return -1;
		}
		if (same_value(a, x)) {
			val_rele(x);
			continue;
		}
		if (r->t != V_LIST) {
			*r = list_new(n);
			for (size_t k = 0; k < n; k++)
				list_append(*r, list_get(args, k));
		}
		list_set(*r, i, x);
		val_rele(x);
	}
	return 0;
}

/* What mapping made: the copy, or args itself when nothing changed. */
static value mapped(value args, value r, int freeze)
{
	if (r.t != V_LIST)
		return val_hold(args);
	if (freeze)
		val_freeze(r);
	return r;
}

/* Exporting a call's arguments: pass 0 sends each item over
 * OBJ_INLINE_MAX as an object and sums the others; pass 1, while what
 * stays inline is over twice that (a call record must fit one message),
 * sends the others too, in order (not the tiny ones). */
struct export_pass {
	int pass;
	uint64_t inline_total;
};

static int export_item(value a, void *ctx, value *out, verr *e)
{
	struct export_pass *x = ctx;
	if (obj_is_ref(a, NULL, NULL, 0, NULL)) {
		*out = val_hold(a);
		return 0;
	}
	int budget = 4096;
	uint64_t s = size_hint(a, OBJ_INLINE_MAX, &budget, 0);
	if (x->pass == 0) {
		if (s <= OBJ_INLINE_MAX) {
			x->inline_total += s;
			*out = val_hold(a);
			return 0;
		}
		return export_one(a, 0, out, e);
	}
	if (x->inline_total <= 2 * (uint64_t)OBJ_INLINE_MAX || s < 4096) {
		*out = val_hold(a);
		return 0;
	}
	/* encoded once, in export_one: one that cannot be stays inline */
	if (export_one(a, 1, out, e) != 0)
		return -1;
	if (!same_value(a, *out))
		x->inline_total -= s < x->inline_total ? s : x->inline_total;
	return 0;
}

int obj_export_args(value args, value *out, verr *e)
{
	if (args.t != V_LIST) {
		*out = val_hold(args);
		return 0;
	}
	value r = v_none();
	struct export_pass x = {0};
	for (; x.pass < 2; x.pass++) {
		if (x.pass == 1 && x.inline_total <= 2 * (uint64_t)OBJ_INLINE_MAX)
			break;
		if (map_items(args, &r, export_item, &x, e) != 0)
			return -1;
	}
	*out = mapped(args, r, 1);
	return 0;
}

/* ---- pulling (consumer side) ------------------------------------------ */

int obj_asm_begin(obj_asm *a, const uint8_t id[32], uint64_t total, uint64_t cap,
                  uint32_t chunk, verr *e)
{
	memset(a, 0, sizeof *a);
	a->val = v_none();
	memcpy(a->id, id, 32);
	if (chunk == 0 || chunk > OBJ_CHUNK_MAX) {
		verr_set(e, "chunk size %u is not in 1..%u", chunk, (unsigned)OBJ_CHUNK_MAX);
		return WIRE_EMALFORMED;
	}
	if (total > cap) {
		verr_set(e, "object of %" PRIu64 " bytes is over this node's cap of %" PRIu64
		         " (FLOW_OBJECT_CAP)", total, cap);
		return WIRE_ETOOBIG;
	}
	uint64_t nchunks = (total + chunk - 1) / chunk;
	a->seen = calloc(nchunks ? nchunks : 1, 1);
	if (!a->seen) {
		obj_asm_fini(a);
		verr_set(e, "out of memory for an object of %" PRIu64 " bytes", total);
		return WIRE_ETOOBIG;
	}
	a->total = total;
	a->chunk = chunk;
	return WIRE_OK;
}

void obj_asm_dest(const obj_asm *a, uint8_t **base, uint64_t *len)
{
	*base = NULL;
	*len = 0;
	if (a->buf) {
		*base = a->buf;
		*len = a->total;
	} else if (a->val.t == V_TENSOR) {
		*base = (uint8_t *)tensor_of(a->val)->data;
		*len = a->total - a->hl;
	}
}

/* The chunk at offset 0 (n bytes at p) starts a whole tensor's encoding:
 * the tensor is made and a->hl set. 0, or -1 (then the bytes are
 * assembled and decoded as any other value's). */
static int asm_tensor(obj_asm *a, const uint8_t *p, uint64_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (a->total < OBJ_INLINE_MAX || n < 3 || p[0] != ENC_VERSION || p[1] != ENC_TENSOR ||
	    p[2] > TENSOR_MAX_DIMS)
		return -1;
	int ndim = p[2];
	int64_t shape[TENSOR_MAX_DIMS];
	uint64_t size = 1;
	size_t pos = 3;
	size_t lim = n < OBJ_ASM_HEAD ? (size_t)n : OBJ_ASM_HEAD;
	for (int i = 0; i < ndim; i++) {
		uint64_t x;
		verr ve;
		if (val_decode_varint(p, lim, &pos, &x, &ve) != 0 || x > INT64_MAX ||
		    __builtin_mul_overflow(size, x, &size))
			return -1;
		shape[i] = (int64_t)x;
	}
	/* exactly the tensor's bytes after the header, nothing more */
	if (size > (a->total - pos) / 8 || pos + size * 8 != a->total)
		return -1;
	/* made with its data unzeroed: every byte of it is
	 * written by the chunks before the tensor is used (zeroing 1 GiB
	 * first, all its page faults on this one thread before the other
	 * requests go out, cost more than the copy) */
	size_t bytes = ((size_t)size * 8 + 63) & ~(size_t)63;
	value t = v_none();
	verr te;
	/* not zeroed: tensor_new_raw (its buffer is the tensor's own kind,
	 * which only the tensor's free may release) */
	if (tensor_new_raw(ndim, shape, &t, &te) != 0 || tensor_of(t)->size != (size_t)size) {
		val_rele(t);
		return -1;
	}
	double *data = tensor_of(t)->data;
	/* its pages are mapped by the pull's toucher (pull_touch), while
	 * the chunks are on the wire, not here: this runs before the other
	 * requests go out */
	memset((uint8_t *)data + size * 8, 0, (bytes ? bytes : 64) - size * 8); /* the padding */
	memcpy(a->head, p, pos);
	a->hl = (uint32_t)pos;
	a->val = t;
	return 0;
#else
	(void)a; (void)p; (void)n;
	return -1;
#endif
}

int obj_asm_check(obj_asm *a, const struct wire_obj_data *d, uint64_t want, verr *e)
{
	if (memcmp(d->id, a->id, 32) != 0) {
		verr_set(e, "a chunk of another object arrived");
		return WIRE_EMALFORMED;
	}
	if (d->total != a->total) {
		verr_set(e, "the object's size changed from %" PRIu64 " to %" PRIu64 " bytes", a->total,
		         d->total);
		return WIRE_EMALFORMED;
	}
	if (d->offset != want) {
		verr_set(e, "chunk at offset %" PRIu64 " arrived, %" PRIu64 " was asked for (out of order)",
		         d->offset, want);
		return WIRE_EMALFORMED;
	}
	if (want % a->chunk != 0 || want >= a->total) {
		verr_set(e, "offset %" PRIu64 " is not a chunk of a %" PRIu64 "-byte object", want, a->total);
		return WIRE_EMALFORMED;
	}
	uint64_t expect = a->total - want < a->chunk ? a->total - want : a->chunk;
	if (d->chunk.len != expect) {
		verr_set(e, "chunk at offset %" PRIu64 " holds %u bytes, %" PRIu64 " expected (%s)", want,
		         d->chunk.len, expect, d->chunk.len < expect ? "truncated" : "oversized");
		return WIRE_EMALFORMED;
	}
	uint64_t k = want / a->chunk;
	if (a->seen[k]) {
		verr_set(e, "chunk at offset %" PRIu64 " arrived twice (replayed)", want);
		return WIRE_EMALFORMED;
	}
	/* where the bytes go is decided by the first chunk to arrive */
	if (!a->buf && a->val.t == V_NONE &&
	    (want != 0 || asm_tensor(a, d->chunk.data, d->chunk.len) != 0)) {
		a->buf = malloc(a->total);
		if (!a->buf) {
			verr_set(e, "out of memory for an object of %" PRIu64 " bytes", a->total);
			return WIRE_ETOOBIG;
		}
		mem_advise_huge(a->buf, a->total); /* first writes cost less */
	}
	a->seen[k] = 1;
	a->got += expect;
	return WIRE_OK;
}

void obj_asm_put(obj_asm *a, uint64_t off, const uint8_t *data, uint64_t n)
{
	if (a->buf) {
		memcpy(a->buf + off, data, n);
		return;
	}
	if (off < a->hl) { /* the tensor's header: already in head */
		uint64_t k = a->hl - off < n ? a->hl - off : n;
		off += k;
		data += k;
		n -= k;
	}
	if (n)
		memcpy((uint8_t *)tensor_of(a->val)->data + (off - a->hl), data, n);
}

int obj_asm_add(obj_asm *a, const struct wire_obj_data *d, uint64_t want, verr *e)
{
	int rc = obj_asm_check(a, d, want, e);
	if (rc == WIRE_OK)
		obj_asm_put(a, want, d->chunk.data, d->chunk.len);
	return rc;
}

void obj_asm_first(obj_asm *a, uint32_t len)
{
	if (a->got || a->buf || a->val.t != V_NONE || len >= a->chunk || len >= a->total ||
	    len < OBJ_CHUNK_MIN)
		return;
	uint64_t nchunks = (a->total + len - 1) / len;
	uint8_t *seen = calloc(nchunks, 1);
	if (!seen)
		return; /* then judged truncated */
	free(a->seen);
	a->seen = seen;
	a->chunk = len;
}

int obj_asm_complete(const obj_asm *a) { return a->seen && a->got == a->total; }

uint8_t *obj_asm_take(obj_asm *a, size_t *len)
{
	uint8_t *b = a->buf;
	if (!b) { /* a tensor made at the first chunk (or nothing: empty) */
		b = malloc(a->total ? a->total : 1);
		if (b && a->val.t == V_TENSOR) {
			memcpy(b, a->head, a->hl);
			memcpy(b + a->hl, tensor_of(a->val)->data, a->total - a->hl);
		}
	}
	*len = a->total;
	a->buf = NULL;
	obj_asm_fini(a);
	return b;
}

int obj_asm_value(obj_asm *a, value *out, verr *e)
{
	if (!obj_asm_complete(a)) {
		obj_asm_fini(a);
		verr_set(e, "the object is incomplete");
		return -1;
	}
	if (a->val.t != V_NONE) {
		*out = a->val;
		a->val = v_none();
		obj_asm_fini(a);
		return 0;
	}
	int rc = val_decode(a->buf ? a->buf : (const uint8_t *)"", a->total, out, e);
	obj_asm_fini(a);
	return rc;
}

void obj_asm_fini(obj_asm *a)
{
	free(a->buf);
	free(a->seen);
	a->buf = a->seen = NULL;
	val_rele(a->val);
	a->val = v_none();
}

static uint64_t rd_le(const uint8_t *p, int n)
{
	uint64_t x = 0;
	for (int i = 0; i < n; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

int obj_data_view(const uint8_t *buf, size_t len, struct wire_obj_data *d, int *kind, verr *e)
{
	/* wire_check_header's checks, but for the size: OBJ_DATA may be up
	 * to OBJ_FRAME_MAX */
	if (len < WIRE_HEADER || memcmp(buf, WIRE_MAGIC, 4) != 0) {
		verr_set(e, "a reply that is not a Flow frame");
		return WIRE_EMALFORMED;
	}
	*kind = (int)rd_le(buf + 6, 2);
	if (*kind != WM_OBJ_DATA) {
		int version;
		return wire_check_header(buf, len, kind, &version, e) == WIRE_OK ? WIRE_EKIND
		                                                                   : WIRE_EMALFORMED;
	}
	uint64_t plen = rd_le(buf + 8, 4);
	if (rd_le(buf + 4, 2) != WIRE_VERSION) {
		verr_set(e, "protocol version %d, this side speaks %d", (int)rd_le(buf + 4, 2),
		         WIRE_VERSION);
		return WIRE_EMALFORMED;
	}
	if (len > OBJ_FRAME_MAX || plen != len - WIRE_HEADER) {
		verr_set(e, "OBJ_DATA frame claims %" PRIu64 " bytes, %zu arrived (at most %u)", plen,
		         len - WIRE_HEADER, (unsigned)(OBJ_FRAME_MAX - WIRE_HEADER));
		return WIRE_EMALFORMED;
	}
	const uint8_t *p = buf + WIRE_HEADER;
	size_t n = len - WIRE_HEADER, fixed = 32 + 8 + 8 + 4;
	if (n < fixed) {
		verr_set(e, "OBJ_DATA needs %zu bytes, %zu arrived", fixed, n);
		return WIRE_EMALFORMED;
	}
	memcpy(d->id, p, 32);
	d->total = rd_le(p + 32, 8);
	d->offset = rd_le(p + 40, 8);
	uint32_t blob = (uint32_t)rd_le(p + 48, 4);
	if (blob > n - fixed) {
		verr_set(e, "blob needs %u bytes at offset %zu, %zu left", blob, fixed, n - fixed);
		return WIRE_EMALFORMED;
	}
	if (blob < n - fixed) {
		verr_set(e, "OBJ_DATA has %zu bytes after its chunk (trailing bytes)", n - fixed - blob);
		return WIRE_EMALFORMED;
	}
	d->chunk.data = (uint8_t *)p + fixed;
	d->chunk.len = blob;
	return WIRE_OK;
}

/* c goes to S.dead (under conn_mu). */
static void keep_dead(wire_client *c)
{
	for (size_t i = 0; i < S.ndead; i++)
		if (S.dead[i] == c)
			return;
	wire_client **d = realloc(S.dead, (S.ndead + 1) * sizeof *d);
	if (!d)
		abort();
	S.dead = d;
	S.dead[S.ndead++] = c;
}

/* A connection to holder (cached; made again once lost). */
static wire_client *conn_get(const char *addr, verr *e)
{
	pthread_mutex_lock(&conn_mu);
	for (size_t i = 0; i < S.nconns; i++)
		if (strcmp(S.conns[i].addr, addr) == 0) {
			if (!wire_client_lost(S.conns[i].c)) {
				wire_client *c = S.conns[i].c;
				pthread_mutex_unlock(&conn_mu);
				return c;
			}
			/* left open (another thread may still use it), replaced */
			keep_dead(S.conns[i].c);
			S.conns[i] = S.conns[--S.nconns];
			break;
		}
	char url[300];
	wire_client *c = NULL;
	verr ce;
	if (wire_url(addr, url, sizeof url) != 0) {
		verr_set(e, "bad holder address '%s'", addr);
	} else if (wire_client_open_max(&c, url, OBJ_FRAME_MAX, OPEN_MS, &ce) != WIRE_OK) {
		verr_set(e, "cannot reach the node at %s holding it: %s", addr, ce.msg);
		c = NULL;
	} else if (wire_client_handshake(c, &S.tok, WIRE_ROLE_CLIENT, OPEN_MS, &ce) != WIRE_OK) {
		verr_set(e, "the node at %s holding it refused us: %s", addr, ce.msg);
		wire_client_close(c);
		c = NULL;
	} else {
		struct conn *v = realloc(S.conns, (S.nconns + 1) * sizeof *v);
		if (!v)
			abort();
		S.conns = v;
		snprintf(S.conns[S.nconns].addr, sizeof S.conns[S.nconns].addr, "%s", addr);
		S.conns[S.nconns++].c = c;
	}
	pthread_mutex_unlock(&conn_mu);
	return c;
}

/* A bad chunk sequence: the connection goes (its other calls fail). */
static void conn_drop(const char *addr, wire_client *c, const char *why)
{
	wire_log("dropped the connection to %s: %s", addr, why);
	pthread_mutex_lock(&conn_mu);
	for (size_t i = 0; i < S.nconns; i++)
		if (S.conns[i].c == c) {
			S.conns[i] = S.conns[--S.nconns];
			break;
		}
	keep_dead(c); /* left allocated: a puller may still hold it */
	pthread_mutex_unlock(&conn_mu);
	wire_client_shutdown(c);
}

struct pull {
	pthread_mutex_t mu;
	wire_client *c;
	const char *addr;
	obj_asm a;
	uint64_t next;
	int failed;
	atomic_int done; /* the pullers are done: the toucher stops */
	verr e;
};

/* The toucher: maps the destination's pages (obj_asm_dest) a chunk at a
 * time, from the front, while the pullers wait for the chunks they asked
 * for. Mapping fresh memory is what a pull spends most on here (page
 * faults and zeroing: 1 GiB took 1.7-2.5 s of a 4-5 s pull when it was
 * done at the first chunk, before the other requests went out); a chunk
 * that arrives before the toucher got there faults its own pages in as
 * it is copied, which is no worse. Lock-free: the destination does not
 * move until the pullers are joined, and the toucher is joined first. */
static void *pull_touch(void *arg)
{
	struct pull *p = arg;
	uint8_t *base;
	uint64_t len;
	obj_asm_dest(&p->a, &base, &len);
	for (uint64_t off = 0; off < len && !atomic_load(&p->done); off += p->a.chunk)
		mem_prefault(base + off, len - off < p->a.chunk ? len - off : p->a.chunk);
	return NULL;
}

/* Asks for the chunk at off and puts it in place: the reply is decoded
 * where it lies (obj_data_view), checked under p->mu, and copied once,
 * outside it, to where it goes. 0, or -1 (p->failed set). */
static int fetch(struct pull *p, uint64_t off)
{
	struct wire_msg req = {.kind = WM_OBJ_GET};
	memcpy(req.u.obj_get.id, p->a.id, 32);
	req.u.obj_get.offset = off;
	req.u.obj_get.max = p->a.chunk;
	sbuf f;
	sbuf_init(&f);
	verr ce;
	wire_inmsg *rep = NULL;
	const uint8_t *body;
	size_t len;
	struct wire_obj_data d;
	int kind = WM_NONE;
	int rc = wire_encode(&req, &f, &ce);
	if (rc == WIRE_OK)
		rc = wire_client_call_frame(p->c, f.data, f.len, &rep, &body, &len, CALL_MS, &ce);
	sbuf_fini(&f);
	if (rc == WIRE_OK) {
		rc = obj_data_view(body, len, &d, &kind, &ce);
		if (rc == WIRE_EKIND) {
			verr_set(&ce, "it answered OBJ_GET with %s", wire_kind_name(kind));
			rc = WIRE_EMALFORMED;
		}
	}
	pthread_mutex_lock(&p->mu);
	if (rc == WIRE_OK && off == 0)
		obj_asm_first(&p->a, d.chunk.len); /* the holder's chunk size */
	if (rc == WIRE_OK && !p->failed)
		rc = obj_asm_check(&p->a, &d, off, &ce);
	else if (rc == WIRE_OK)
		rc = -1; /* another chunk failed: this one is not put */
	if (rc != WIRE_OK && rc != -1 && !p->failed) {
		p->failed = rc;
		p->e = ce;
	}
	pthread_mutex_unlock(&p->mu);
	if (rc == WIRE_OK)
		obj_asm_put(&p->a, off, d.chunk.data, d.chunk.len);
	wire_inmsg_free(rep);
	return rc == WIRE_OK ? 0 : -1;
}

static void *pull_main(void *arg)
{
	struct pull *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		if (p->failed || p->next >= p->a.total) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		uint64_t off = p->next;
		p->next += p->a.chunk;
		pthread_mutex_unlock(&p->mu);
		if (fetch(p, off) != 0)
			return NULL;
	}
}

/* Where the bytes at off go once the first chunk placed the object. */
static uint8_t *asm_at(obj_asm *a, uint64_t off)
{
	if (a->buf)
		return a->buf + off;
	return (uint8_t *)tensor_of(a->val)->data + (off - a->hl);
}

/* The whole object as one byte stream (obj_stream.h): OBJ_STREAM, then
 * the granted bytes read straight to where they go, a chunk at a time
 * (each checked by obj_asm_check first, as a chunk of OBJ_DATA is). 0:
 * done or failed (p->failed, p->e); 1: the holder does not stream (an
 * earlier build, or its stream cannot be reached): pull it in chunks. */
/* Whether a pull goes by stream: not with FLOW_OBJECT_NO_STREAM; under TLS
 * only with FLOW_OBJECT_STREAM=1, since there the chunked pull, eight
 * requests in flight, moves 1.6x what one stream does (nng's TLS takes a
 * stream 16 KiB at a time; docs/wire.md, "TLS"). */
static int stream_wanted(void)
{
	if (getenv("FLOW_OBJECT_NO_STREAM"))
		return 0;
	const char *force = getenv("FLOW_OBJECT_STREAM");
	return !tls_enabled() || (force && strcmp(force, "1") == 0);
}

static int stream_pull(struct pull *p, uint64_t total, int *touching, pthread_t *toucher)
{
	struct wire_msg req = {.kind = WM_OBJ_STREAM}, rep;
	memcpy(req.u.obj_stream.id, p->a.id, 32);
	verr ce;
	int rc = wire_client_call(p->c, &req, &rep, CALL_MS, &ce);
	if (rc != WIRE_OK)
		return 1; /* ERROR (or the connection failed): OBJ_GET says why, or serves it */
	const struct wire_obj_grant *g = &rep.u.obj_grant;
	if (rep.kind != WM_OBJ_GRANT) {
		verr_set(&ce, "it answered OBJ_STREAM with %s", wire_kind_name(rep.kind));
		rc = WIRE_EMALFORMED;
	} else if (memcmp(g->id, p->a.id, 32) != 0) {
		verr_set(&ce, "it granted a stream of another object");
		rc = WIRE_EMALFORMED;
	} else if (g->total != total) {
		verr_set(&ce, "it granted a stream of %" PRIu64 " bytes for an object of %" PRIu64 " (%s)",
		         g->total, total, g->total < total ? "truncated" : "oversized");
		rc = WIRE_EMALFORMED;
	}
	if (rc != WIRE_OK) {
		wire_msg_free(&rep);
		p->failed = rc;
		p->e = ce;
		return 0;
	}
	char ip[128];
	snprintf(ip, sizeof ip, "%s", p->addr);
	char *colon = strrchr(ip, ':');
	if (colon)
		*colon = 0;
	ostream *st = ostream_dial(ip, g->port, g->key, &ce);
	wire_msg_free(&rep);
	if (!st) {
		/* no stream (a firewall that lets only the daemon's port through) */
		wire_log("pulling from %s in chunks: %s", p->addr, ce.msg);
		return 1;
	}
	uint64_t n0 = total < p->a.chunk ? total : p->a.chunk, got = 0;
	uint8_t *first = malloc(n0 ? n0 : 1);
	struct wire_obj_data d = {.total = total};
	memcpy(d.id, p->a.id, 32);
	rc = first ? WIRE_OK : WIRE_ETOOBIG;
	if (!first)
		verr_set(&ce, "out of memory for a chunk");
	for (uint64_t off = 0; rc == WIRE_OK && off < total; off += p->a.chunk) {
		d.offset = off;
		d.chunk.len = (uint32_t)(total - off < p->a.chunk ? total - off : p->a.chunk);
		d.chunk.data = first;
		verr re;
		if (off == 0 && ostream_read(st, first, n0, &got, &re) != 0) {
			if (got == 0) {
				/* ended before its first byte: the holder refused it
				 * (serving too many streams, a grant it forgot, the
				 * object let go): OBJ_GET serves it or says why */
				wire_log("pulling from %s in chunks: %s", p->addr, re.msg);
				free(first);
				ostream_close(st);
				return 1;
			}
			verr_set(&ce, "the chunk at offset 0: %s", re.msg);
			rc = WIRE_ECLOSED;
			break;
		}
		rc = obj_asm_check(&p->a, &d, off, &ce);
		if (rc != WIRE_OK)
			break;
		if (off == 0) {
			obj_asm_put(&p->a, 0, first, n0);
			/* the destination is known: its pages are mapped ahead */
			*touching = total > n0 && pthread_create(toucher, NULL, pull_touch, p) == 0;
		} else if (ostream_read(st, asm_at(&p->a, off), d.chunk.len, &got, &re) != 0) {
			verr_set(&ce, "the chunk at offset %" PRIu64 ": %s", off, re.msg);
			rc = WIRE_ECLOSED;
		}
	}
	free(first);
	if (rc == WIRE_OK && ostream_end(st, &ce) != 0)
		rc = WIRE_EMALFORMED;
	ostream_close(st);
	if (rc != WIRE_OK) {
		p->failed = rc;
		p->e = ce;
	}
	return 0;
}

static int pull(const uint8_t id[32], const char *addr, uint64_t total, value *out, verr *e,
                wire_client **via)
{
	verr ce;
	wire_client *c = conn_get(addr, e);
	*via = c;
	if (!c)
		return -2; /* the holder is gone (lineage: obj_import) */
	struct pull p = {.c = c, .addr = addr};
	pthread_mutex_init(&p.mu, NULL);
	/* checked before anything is allocated; room is made once it is
	 * here (evicting now could drop what others are pulling from us) */
	uint64_t cap = obj_cap(0);
	if (obj_asm_begin(&p.a, id, total, cap, OBJ_PULL_CHUNK, &ce) != WIRE_OK) {
		verr_set(e, "%s", ce.msg);
		pthread_mutex_destroy(&p.mu);
		return -1;
	}
	struct timespec t0, t1, c0, c1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	/* one byte stream (stream_pull); else in chunks: the first alone
	 * (it says where the others go: a tensor's data), then OBJ_WINDOW
	 * requests in flight, one thread each */
	pthread_t toucher;
	int touching = 0, by_stream = total > 0 && stream_wanted() &&
	                              stream_pull(&p, total, &touching, &toucher) == 0;
	if (by_stream) {
		atomic_store(&p.done, 1);
		if (touching)
			pthread_join(toucher, NULL);
	} else if (total > 0 && fetch(&p, 0) == 0) {
		p.next = p.a.chunk;
		uint64_t left = (total - 1) / p.a.chunk;
		int nt = left < OBJ_WINDOW ? (int)left : OBJ_WINDOW;
		pthread_t t[OBJ_WINDOW];
		touching = left > 0 && pthread_create(&toucher, NULL, pull_touch, &p) == 0;
		int started = 0;
		val_threads_begin(); /* the new threads touch values (value.h) */
		for (int i = 1; i < nt; i++)
			if (pthread_create(&t[started], NULL, pull_main, &p) == 0)
				started++;
		pull_main(&p);
		for (int i = 0; i < started; i++)
			pthread_join(t[i], NULL);
		atomic_store(&p.done, 1);
		if (touching)
			pthread_join(toucher, NULL);
	}
	pthread_mutex_destroy(&p.mu);
	if (p.failed || !obj_asm_complete(&p.a)) {
		if (p.failed == WIRE_EMALFORMED)
			conn_drop(addr, c, p.e.msg);
		verr_set(e, "pulling an object of %" PRIu64 " bytes from %s failed: %s", total, addr,
		         p.failed ? p.e.msg : "incomplete");
		obj_asm_fini(&p.a);
		/* its connection went, or it no longer holds the object: the
		 * holder was lost (a bad chunk sequence is not that) */
		return p.failed == WIRE_ECLOSED || p.failed == WIRE_EIO || p.failed == WIRE_ETIMEDOUT ||
		               p.failed == WIRE_EREFUSED
		           ? -2
		           : -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	if (getenv("FLOW_OBJECT_LOG")) { /* bench/cluster/transfer.sh reads it */
		double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		/* this process's CPU time meanwhile (all its threads): what the
		 * pull cost here, less sensitive than s to a busy machine */
		double cs = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
		char h[65];
		hex(id, h);
		wire_log("pulled object %.16s: %" PRIu64 " bytes from %s in %.3f s (%.1f MB/s), cpu %.3f s%s%s",
		         h, total, addr, s, s > 0 ? (double)total / s / 1e6 : 0.0, cs,
		         p.a.val.t == V_TENSOR ? ", straight into its tensor" : "",
		         !by_stream ? "" : tls_enabled() ? ", by stream over TLS" : ", by stream");
	}
	verr ve;
	if (obj_asm_value(&p.a, out, &ve) != 0) {
		conn_drop(addr, c, ve.msg);
		verr_set(e, "the object pulled from %s does not decode: %s", addr, ve.msg);
		return -1;
	}
	val_freeze(*out);
	return 0;
}

static void send_free(const uint8_t id[32], const char *addr)
{
	verr e;
	wire_client *c = conn_get(addr, &e);
	if (!c)
		return;
	struct wire_msg req = {.kind = WM_OBJ_FREE}, rep;
	memcpy(req.u.obj_free.id, id, 32);
	if (wire_client_call(c, &req, &rep, OPEN_MS, &e) == WIRE_OK)
		wire_msg_free(&rep);
}

/* Under S.mu, before a pull maps memory for what it pulls: pulled values
 * kept for the next task whose holder's connection has closed are let go
 * (a client-made argument once its client has exited: its job is over).
 * A task still to come that names one pulls it again and, its holder
 * gone, has it made again (lineage), as after an eviction. What they
 * free is what the new pull then maps: memory the system got back a
 * moment ago costs little to map again here, while memory it gave back
 * to the host long ago costs most of a pull (docs/wire.md, figures). */
static void let_go_orphans(void)
{
	for (size_t i = 0; i < S.n;) {
		struct ent *x = &S.v[i];
		if (x->from && x->val.t != V_NONE && !x->data && !x->raw && !x->pins && !x->pulling &&
		    wire_client_lost(x->from))
			drop_at(i); /* the last entry moves to i */
		else
			i++;
	}
}

int obj_import(value v, int free_after, value *out, verr *e)
{
	uint8_t id[32];
	char holder[128];
	uint64_t total;
	if (!obj_is_ref(v, id, holder, sizeof holder, &total)) {
		*out = val_hold(v);
		return 0;
	}
	pthread_mutex_lock(&S.mu);
	const char *addr = holder[0] ? holder : S.head;
	char where[128];
	snprintf(where, sizeof where, "%s", addr);
	struct ent *x;
	/* pulled once per node: a second user waits for the first pull */
	while ((x = find(id)) && x->pulling)
		pthread_cond_wait(&S.cv, &S.mu);
	if (x && (x->val.t != V_NONE || (x->shared && x->src.t != V_NONE))) {
		x->used = ++S.tick;
		*out = val_hold(x->val.t != V_NONE ? x->val : x->src);
		pthread_mutex_unlock(&S.mu);
		return 0;
	}
	if (!x && !free_after) {
		x = add(id);
		x->pulling = 1;
	}
	let_go_orphans();
	pthread_mutex_unlock(&S.mu);
	value r;
	wire_client *via;
	int rc = pull(id, where, total, &r, e, &via);
	pthread_mutex_lock(&S.mu);
	if (!free_after) {
		for (size_t i = 0; i < S.n; i++)
			if (memcmp(S.v[i].id, id, 32) == 0 && S.v[i].pulling) {
				if (rc != 0 || make_room(total) != 0) {
					S.v[i] = S.v[--S.n]; /* nothing kept */
				} else {
					S.v[i].pulling = 0;
					S.v[i].val = val_hold(r);
					S.v[i].from = via;
					S.v[i].len = total;
					S.bytes += total;
				}
				break;
			}
		pthread_cond_broadcast(&S.cv);
	}
	pthread_mutex_unlock(&S.mu);
	if (rc != 0)
		return rc;
	if (free_after)
		send_free(id, where);
	*out = r;
	return 0;
}

static bool is_ref(value x, void *ctx)
{
	(void)ctx;
	return obj_is_ref(x, NULL, NULL, 0, NULL);
}

/* import_item's ctx: the first argument whose holder was lost. */
struct lost_arg {
	int set;
	uint8_t id[32];
};

/* a with every reference inside it (deeply: a list of results left on
 * their nodes) replaced by its value; a itself when it holds none. */
static int import_item(value a, void *ctx, value *out, verr *e)
{
	if (is_ref(a, NULL)) {
		int rc = obj_import(a, 0, out, e); /* an argument: kept for the next task */
		struct lost_arg *l = ctx;
		if (rc == -2 && l && !l->set) { /* its holder was lost: which object */
			obj_is_ref(a, l->id, NULL, 0, NULL);
			l->set = 1;
		}
		return rc ? -1 : 0;
	}
	if ((a.t != V_LIST && a.t != V_DICT) || !val_any(a, is_ref, NULL)) {
		*out = val_hold(a);
		return 0;
	}
	value r = v_none();
	if (a.t == V_LIST) {
		if (map_items(a, &r, import_item, ctx, e) != 0)
			return -1;
		*out = mapped(a, r, 1);
		return 0;
	}
	r = dict_new(dict_len(a));
	size_t it = 0;
	value k, x;
	while (dict_next(a, &it, &k, &x)) {
		value y;
		if (import_item(x, ctx, &y, e) != 0) {
			val_rele(r);
			return -1;
		}
		int rc = dict_set(r, k, y, e);
		val_rele(y);
		if (rc != 0) {
			val_rele(r);
			return -1;
		}
	}
	val_freeze(r);
	*out = r;
	return 0;
}

int obj_import_args(value args, value *out, verr *e) { return obj_import_args_lost(args, out, e, NULL); }

int obj_import_args_lost(value args, value *out, verr *e, uint8_t lost[32])
{
	if (args.t != V_LIST) {
		*out = val_hold(args);
		return 0;
	}
	value r = v_none();
	struct lost_arg l = {0};
	if (map_items(args, &r, import_item, &l, e) != 0) {
		if (l.set && lost)
			memcpy(lost, l.id, 32);
		return l.set ? -2 : -1;
	}
	*out = mapped(args, r, 0);
	return 0;
}
