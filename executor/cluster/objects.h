/* objects.h - values larger than one message travel as objects
 * (docs/wire.md, "Objects").
 *
 * A value whose encoding is over OBJ_INLINE_MAX is not put in a call or
 * an outcome: the process that made it keeps its encoding here (the
 * holder) under a random 32-byte id and sends a small reference instead
 * (a dict {OBJ_REF_KEY: [id in hex, holder "ip:port", total bytes]}).
 * The consumer's process pulls the bytes straight from the holder with
 * OBJ_GET, in chunks of OBJ_PULL_CHUNK bytes (at most OBJ_CHUNK_MAX; the
 * first alone, then OBJ_WINDOW requests in flight), never through the head; it then frees a result (OBJ_FREE), while an
 * argument stays cached on both sides (the same frozen value sent again,
 * as by put(), is encoded once by its holder and pulled once per node).
 *
 * Memory is bounded: everything held or cached here counts against one
 * cap per process (OBJ_DEFAULT_CAP, FLOW_OBJECT_CAP=bytes[KMG] to change
 * it); the least recently used objects go first, a value that cannot fit
 * fails its call with the reason. A pulled object's size is checked
 * against the cap before anything is allocated, and every chunk against
 * what was asked (obj_asm): a chunk of another object, size, offset, or
 * one already received drops the connection to the holder with the
 * reason logged, and the call fails; never a crash.
 *
 * Ownership: the store owns what it holds. obj_export* and obj_import*
 * return new references; the token given to obj_init is copied.
 */
#ifndef FLOW_CLUSTER_OBJECTS_H
#define FLOW_CLUSTER_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "lang/value.h"
#include "transport.h"
#include "wire.h"

#define OBJ_INLINE_MAX (1u << 20)
/* A chunk and OBJ_DATA's other fields fit one message of the usual
 * size; a holder serves chunks of up to OBJ_CHUNK_MAX (a reply larger
 * than WIRE_MAX_PAYLOAD, which the puller's connections to holders
 * accept: fewer round trips), and a puller takes the size of the first
 * chunk it gets, at least OBJ_CHUNK_MIN, as the holder's chunk size
 * (obj_asm_first: a holder of an earlier build serves OBJ_CHUNK). */
#define OBJ_CHUNK (WIRE_MAX_PAYLOAD - 4096)
#define OBJ_CHUNK_MAX (16u << 20)
#define OBJ_CHUNK_MIN (64u << 10)
#define OBJ_FRAME_MAX (WIRE_HEADER + OBJ_CHUNK_MAX + 4096)
/* What a puller asks for at once, and how many requests it keeps in
 * flight (one thread each): 8 x 4 MiB cost less CPU here than 4 x 16 MiB
 * (the receiving buffers are reused rather than mapped afresh) and keep
 * the link as busy (bench/cluster/transfer.sh). */
#define OBJ_PULL_CHUNK (4u << 20)
#define OBJ_WINDOW 8 /* OBJ_GET requests in flight per pull */
#define OBJ_DEFAULT_CAP ((uint64_t)8 << 30)
#define OBJ_REF_KEY "\x01" "flow.object"

/* Once per process, before any other call: the token to authenticate to
 * holders with (copied); the head's address (a holder "" is the head);
 * this process's own address for the objects it holds, or NULL: then a
 * listener is opened on listen_ip (port chosen by the system) the first
 * time this process holds an object, served by a thread of its own (the
 * client, which has no listener). Reads FLOW_OBJECT_CAP. */
void obj_init(const auth_token *tok, const char *head_addr, const char *self_addr,
              const char *listen_ip);
/* The cap in bytes (tests set a small one); 0 keeps the current one. */
uint64_t obj_cap(uint64_t cap);

/* v, or a reference to an object holding v if its encoding is over
 * OBJ_INLINE_MAX (args: each item of the list). -1 with e set if v
 * cannot be held (over the cap, no listener). New reference in *out. */
int obj_export(value v, value *out, verr *e);
int obj_export_args(value args, value *out, verr *e);
/* v, or the value a reference names, pulled from its holder (args: each
 * item of the list, references inside items too). free_after: tell the
 * holder it may free it (a result, used once). -1 with e set (a bad chunk
 * sequence, over the cap); -2 with e set when the holder is lost:
 * unreachable, its connection closed, or it no longer holds the object
 * (the object is then made again from its lineage: client.c). New
 * reference in *out. */
int obj_import(value v, int free_after, value *out, verr *e);
int obj_import_args(value args, value *out, verr *e);
/* The same; -2 when an argument's holder is lost, its object id in *lost
 * (a worker then answers WIRE_DONE_ARG_LOST: the client re-makes it). */
int obj_import_args_lost(value args, value *out, verr *e, uint8_t lost[32]);
/* How the error of a WIRE_DONE_ARG_LOST outcome starts (then 64 hex
 * digits, "; " and why): for people only; the client acts on the status
 * and the id in its result, never on this text (a task's own error may
 * say the same). */
#define OBJ_ARG_LOST "an argument's holder was lost: object "
/* The client leaves a task's large result on its node: the reference
 * goes on to the tasks that use it (their nodes pull it from the holder,
 * never through the client), and is pulled here only when code here
 * reads it (task_set_resolver). obj_note_remote records such a result;
 * obj_free_remotes, at the run's end, tells each holder it may free
 * them (OBJ_FREE; an unreachable holder is tried once) and returns how
 * many it sent. */
void obj_note_remote(value ref);
size_t obj_free_remotes(void);
/* 1 if v is a reference (id, holder, total filled when not NULL). */
int obj_is_ref(value v, uint8_t id[32], char *holder, size_t holdersz, uint64_t *total);

/* A server's loop hands OBJ_GET and OBJ_FREE here (obj_serves(kind)):
 * answered from this process's store. */
int obj_serves(int kind);
void obj_serve(wire_server *s, const struct wire_msg *m);

/* A daemon's node: its objects count against cap (its
 * --object-store-memory, unless FLOW_OBJECT_CAP says otherwise), and
 * past it the least recently used objects held for others are written
 * to its spill store *st (borrowed; NULL: none) instead of being let go,
 * and read back from there when pulled. */
struct store;
void obj_set_spill(struct store **st, uint64_t cap);
/* Bytes of held objects now in the spill store (flow status's
 * store_spilled). Takes no lock. */
uint64_t obj_spilled(void);
/* Bytes held and cached here now: what flow status counts in a node's
 * store_used (its heartbeat adds it). Takes no lock. */
uint64_t obj_used(void);

/* ---- reassembling a pulled object (exposed for the unit tests) -------- */
#define OBJ_ASM_HEAD 96 /* a tensor encoding's header: version, tag, ndim, 8 varints */
typedef struct obj_asm {
	uint8_t id[32];
	uint64_t total, got;
	uint32_t chunk;
	uint8_t *buf;  /* total bytes, malloc'd at the first chunk (unless val) */
	uint8_t *seen; /* one byte per chunk */
	/* A tensor (seen in the chunk at offset 0 when it comes first): the
	 * tensor is made then, and every later byte goes straight into its
	 * data, so the object is copied once here and never decoded; its
	 * encoding's first hl bytes are kept in head. */
	value val;
	uint32_t hl;
	uint8_t head[OBJ_ASM_HEAD];
} obj_asm;
/* total is checked against cap before anything is allocated. */
int obj_asm_begin(obj_asm *a, const uint8_t id[32], uint64_t total, uint64_t cap,
                  uint32_t chunk, verr *e);
/* d must be the answer to OBJ_GET(a->id, want, a->chunk): the same id
 * and total, offset want (a chunk boundary, not received before), exactly
 * min(chunk, total - want) bytes. WIRE_OK, or WIRE_EMALFORMED with e
 * saying which check failed; a's bytes are untouched then. obj_asm_add
 * is obj_asm_check (the checks; the chunk is then counted as received)
 * then obj_asm_put (its bytes copied in): pullers call check under
 * their lock and put outside it (puts of distinct chunks may run at
 * once, each after its check). */
int obj_asm_add(obj_asm *a, const struct wire_obj_data *d, uint64_t want, verr *e);
int obj_asm_check(obj_asm *a, const struct wire_obj_data *d, uint64_t want, verr *e);
void obj_asm_put(obj_asm *a, uint64_t off, const uint8_t *data, uint64_t n);
/* Before the first chunk (offset 0) is checked: a first chunk of len
 * bytes, shorter than asked but at least OBJ_CHUNK_MIN, makes len the
 * chunk size (the holder serves no more at once); any other len is left
 * to obj_asm_check to judge. */
void obj_asm_first(obj_asm *a, uint32_t len);
int obj_asm_complete(const obj_asm *a);
/* Where the chunks' bytes go once the first is in: *len bytes at *base
 * (the tensor's data, or the buffer), borrowed; NULL and 0 before. */
void obj_asm_dest(const obj_asm *a, uint8_t **base, uint64_t *len);
/* The bytes (malloc'd, the caller's), once complete; a is emptied. */
uint8_t *obj_asm_take(obj_asm *a, size_t *len);
/* The value, once complete: the tensor made at the first chunk, or the
 * bytes decoded (val_decode). 0 (new reference in *out), or -1 with e
 * set; a is emptied either way. */
int obj_asm_value(obj_asm *a, value *out, verr *e);
void obj_asm_fini(obj_asm *a);
/* An OBJ_DATA frame (header included) decoded in place: d->chunk.data
 * points into buf. WIRE_OK; WIRE_EKIND when it is another kind of
 * message (*kind says which); or WIRE_EMALFORMED (e says why: a bad
 * header, a field past the end, trailing bytes). */
int obj_data_view(const uint8_t *buf, size_t len, struct wire_obj_data *d, int *kind, verr *e);

#endif
