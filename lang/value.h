/* value.h - the runtime value model of Flow (LANGUAGE.md section 3).
 *
 * A value is 16 bytes: a type tag and a payload. none/bool/int/float are
 * immediate; everything else points to a refcounted heap object.
 *
 * Ownership contract (like jq's jv.h, stated once):
 *   - Arguments are BORROWED: no function here consumes its arguments
 *     unless its comment says "consumes".
 *   - A returned value is a NEW reference: the caller must val_rele() it.
 *   - Accessors that return a value (list_get, dict_get) return a
 *     BORROWED reference valid while the container is alive and unchanged.
 *   - Containers hold their own references: list_append(l, v) holds v.
 * Refcounts are atomic once a second thread may touch values
 * (val_threads_begin), so values may be shared between threads; before
 * that they are plain increments. A value
 * shared between threads must be frozen first (val_freeze): frozen objects
 * are never mutated, so readers need no lock. Mutating a frozen list/dict
 * is the VM's job to avoid (copy-on-write: list_thaw/dict_thaw).
 *
 * Errors: functions that can fail return 0 on success or -1 and write a
 * message into *err (a caller-provided verr). Nothing here prints or exits,
 * except on out-of-memory, which aborts with a message.
 */
#ifndef FLOW_VALUE_H
#define FLOW_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "small_limits.h"

#include "flow_err.h" /* the codes verr carries */

typedef enum {
	V_NONE = 0,
	V_BOOL,
	V_INT,
	V_FLOAT,
	/* heap types from here on */
	V_STR,
	V_LIST,
	V_DICT,
	V_TENSOR,
	V_FUTURE,  /* defined by the VM/executor: vm.h */
	V_ACTOR,   /* actor handle: vm.h */
	V_FUNC,    /* task / fn / builtin / bound method: vm.h */
	V_ERROR,   /* what `except e` catches: vm.h */
	V_STREAM,  /* what a call of a task that yields returns: vm.h */
	V__COUNT
} vtype;

#define V_IS_HEAP(t) ((t) >= V_STR)

typedef struct vobj vobj;

typedef struct value {
	uint8_t t; /* vtype */
	union {
		bool b;
		int64_t i;
		double f;
		vobj *o;
	} as;
} value;

/* Common header of every heap object. */
#define VOBJ_FROZEN 0x1u  /* immutable from now on (deep) */
#define VOBJ_VISIT 0x2u   /* scratch mark of val_reaches; clear outside it */
#define VOBJ_SLAB 0x4u    /* carved from an objslab (objslab.h): never free() it */
#define VOBJ_HUGE 0x8u    /* a str on huge pages of its own (vstr.c): str_free */
struct vobj {
	uint32_t rc;      /* atomic; use val_hold/val_rele */
	uint8_t type;     /* vtype */
	uint8_t flags;    /* VOBJ_* */
	uint16_t extra;   /* per-type use (V_FUNC: kind) */
};

/* Error from a failing value operation: a code of flow_err.h (what went
 * wrong, for programs and the wire) and text (the detail, for people).
 * verr_set records FLOW_EINVAL; verr_setc records the code given. */
typedef struct verr {
	char msg[256];
	int code;
} verr;
void verr_set(verr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void verr_setc(verr *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- immediates ----------------------------------------------------- */
static inline value v_none(void) { value v; v.t = V_NONE; v.as.i = 0; return v; }
static inline value v_bool(bool b) { value v; v.t = V_BOOL; v.as.i = 0; v.as.b = b; return v; }
static inline value v_int(int64_t i) { value v; v.t = V_INT; v.as.i = i; return v; }
static inline value v_float(double f) { value v; v.t = V_FLOAT; v.as.f = f; return v; }
static inline value v_obj(vobj *o) { value v; v.t = o->type; v.as.o = o; return v; }

/* ---- reference counting -------------------------------------------- */
/* While one thread is all that touches values (flow run --serial, check,
 * compile: the VM's hot loops), counts change with plain adds: a locked
 * add costs ~20 cycles and stalls on a cache miss, and most opcodes do
 * one or two. val_threads_begin switches every count to atomic operations
 * for good: whoever starts a thread that may hold, release or pass a value
 * (the executors' pools, the cluster's threads and its transport's, a test)
 * calls it first, in the thread that starts it, so pthread_create orders
 * the plain adds before the new thread's first atomic one. Threads that
 * never touch a value (the signal thread, the watchdog) need not. */
extern bool val_threads_on; /* read with val_threads(); set only by val_threads_begin */
void val_threads_begin(void);
static inline bool val_threads(void)
{
	return __atomic_load_n(&val_threads_on, __ATOMIC_RELAXED);
}
static inline void vobj_rc_inc(vobj *o)
{
	if (__builtin_expect(val_threads(), 0))
		__atomic_add_fetch(&o->rc, 1, __ATOMIC_RELAXED);
	else
		o->rc++;
}
/* The count after the decrement (0: the caller frees). */
static inline uint32_t vobj_rc_dec(vobj *o)
{
	if (__builtin_expect(val_threads(), 0))
		return __atomic_sub_fetch(&o->rc, 1, __ATOMIC_ACQ_REL);
	return --o->rc;
}
void val_free_obj(vobj *o); /* called when rc reaches 0; frees children */
static inline value val_hold(value v)
{
	if (V_IS_HEAP(v.t))
		vobj_rc_inc(v.as.o);
	return v;
}
static inline void val_rele(value v)
{
	if (V_IS_HEAP(v.t) && vobj_rc_dec(v.as.o) == 0)
		val_free_obj(v.as.o);
}
/* Marks v and everything reachable from it frozen (immutable, shareable). */
void val_freeze(value v);
static inline bool val_is_frozen(value v)
{
	/* atomic: another thread may be freezing a value this one shares */
	return V_IS_HEAP(v.t) && (__atomic_load_n(&v.as.o->flags, __ATOMIC_ACQUIRE) & VOBJ_FROZEN);
}
/* Allocates a heap object of `size` bytes with rc 1 and the given type.
 * Aborts on out-of-memory. Used by the VM for futures/actors/funcs too. */
void *vobj_alloc(size_t size, vtype type);

/* ---- growable byte buffer (used for printing and encoding) ----------- */
typedef struct sbuf {
	char *data; /* NUL-terminated when len < cap; owned, free with sbuf_fini */
	size_t len, cap;
} sbuf;
void sbuf_init(sbuf *b);
void sbuf_fini(sbuf *b);
void sbuf_reserve(sbuf *b, size_t extra);
void sbuf_add(sbuf *b, const void *p, size_t n);
void sbuf_addc(sbuf *b, char c);
void sbuf_adds(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the buffer to the caller (malloc'd, NUL-terminated); b is reset. */
char *sbuf_take(sbuf *b, size_t *len);

/* Per-type hooks for heap types defined outside value.c (V_FUTURE,
 * V_ACTOR, V_FUNC): how to free, print and encode them. Registered once at
 * start-up by the VM. */
typedef struct vtype_hooks {
	void (*free)(vobj *o);              /* release children, then free(o) */
	void (*str)(struct sbuf *out, value v); /* str() text */
	bool (*eq)(value a, value b);       /* identity if NULL */
	/* Optional (encode.h): append v's payload to out / rebuild a value from
	 * exactly `len` payload bytes (a new reference). NULL: the type cannot
	 * cross a process boundary and encoding it is an error. */
	int (*encode)(struct sbuf *out, value v, verr *e);
	int (*decode)(const uint8_t *buf, size_t len, value *out, verr *e);
	/* Optional: a dict key's hash, equal for values eq calls equal and
	 * fixed for the value's life (a dict keeps it). NULL: one hash for
	 * every value of the type (correct, but lookups are linear). */
	uint64_t (*hash)(value v);
} vtype_hooks;
/* The hooks registered for t, or NULL. */
const vtype_hooks *vtype_hooks_of(vtype t);

/* Printing, ==, ordering, hashing, deep copy and encoding stop at this
 * nesting depth (printing writes "...", == compares identity, deep copy
 * shares, val_cmp and encoding fail with "too deeply nested"), so a hostile
 * or cyclic value cannot overflow the C stack. Freeing and freezing have
 * no limit: they are loops. */
#define VAL_MAX_DEPTH 10000
/* printing a value stops (with "...") past this many bytes of text */
#define VAL_MAX_TEXT FLOW_LIMIT((size_t)256 << 20, (size_t)1 << 20)
void vtype_register(vtype t, const vtype_hooks *hooks);

/* ---- str -------------------------------------------------------------- */
/* h.extra of a str: VSTR_ASCII, and in the high byte the log2 of the byte
 * capacity of a string grown in place (0: exactly len + 1 bytes). */
#define VSTR_ASCII 0x1u
typedef struct vstr {
	vobj h;
	size_t len;     /* bytes */
	size_t cplen;   /* code points */
	uint64_t hash;  /* 0 = not computed yet */
	char data[];    /* len bytes + NUL; non-ASCII and grown strings have
	                 * after their capacity, 8-aligned, the index cursor
	                 * (vstr.c) */
} vstr;
value str_new(const char *s, size_t len); /* copies; s must be valid UTF-8 */
value str_from_c(const char *s);
value str_take_sbuf(sbuf *b);              /* consumes b's contents */
static inline const vstr *str_of(value v) { return (const vstr *)v.as.o; }
static inline const char *str_data(value v) { return str_of(v)->data; }
static inline size_t str_len(value v) { return str_of(v)->len; }
/* every byte < 0x80: indexing is O(1) */
static inline bool str_ascii(value v) { return str_of(v)->h.extra & VSTR_ASCII; }
/* str(n) for an int, without going through printf */
value str_from_int(int64_t n);
/* Makes equal short strings one object while one operation builds many
 * (s.split() of a text with repeated words: one allocation per distinct
 * word, and dict lookups of them compare pointers). Strings are immutable
 * and in-place append needs a sole reference, so sharing is invisible.
 * The table does not hold references: the caller keeps every string it
 * returned alive (e.g. in the list being built) until str_dedup_fini. */
typedef struct str_dedup {
	size_t mask;
	vstr **slot; /* NULL: no table (too few strings to be worth it) */
} str_dedup;
void str_dedup_init(str_dedup *t, size_t expect);
value str_new_dedup(str_dedup *t, const char *s, size_t len); /* new reference */
void str_dedup_fini(str_dedup *t);
/* Code point index/slice (negative indexes count from the end, as Python). */
int str_index(value s, int64_t i, value *out, verr *e);
int str_slice(value s, bool has_lo, int64_t lo, bool has_hi, int64_t hi,
              int64_t step, value *out, verr *e);
value str_concat(value a, value b);
/* The n strs at parts joined, in one allocation. */
value str_concat_n(const value *parts, int n);
/* sep.join(items): n strs with sep between, in one allocation. */
value str_join(value sep, const value *items, size_t n);
/* *dst = *dst + b in place, when that cannot be seen: *dst holds the only
 * reference to an unfrozen str (so no other name, container or thread has
 * it) and b is another str. Grows the allocation geometrically, so n
 * appends cost O(total length). Returns false, changing nothing, when it
 * does not apply; the caller then makes a new string. May move the
 * object: *dst is updated. */
bool str_append_inplace(value *dst, value b);
int str_repeat(value s, int64_t n, value *out, verr *e);
bool str_utf8_valid(const char *s, size_t len);
/* The length of the valid UTF-8 sequence at s (1 for ASCII), or 0 when
 * the bytes there (at most avail) are not one: for writers that pass
 * text through and replace what is not UTF-8 (DOT labels, JSON). */
size_t str_utf8_seq_len(const char *s, size_t avail);

/* ---- list ------------------------------------------------------------- */
/* h.extra of a list: VLIST_MIXED once an item other than none, bool, int,
 * float or str (a future, a container, ...) may have been stored. Every
 * store of an item goes through vlist.c, which sets it; it is never
 * cleared (so it is conservative), and a list without it holds no future
 * at any depth: scans for futures (vm_lift.c) skip it. */
#define VLIST_MIXED 0x1u
typedef struct vlist {
	vobj h;
	size_t len, cap;
	value *items;
} vlist;
value list_new(size_t cap);
static inline vlist *list_of(value v) { return (vlist *)v.as.o; }
static inline size_t list_len(value v) { return list_of(v)->len; }
static inline value list_get(value v, size_t i) { return list_of(v)->items[i]; } /* borrowed, unchecked */
/* false: every item is none, bool, int, float or str (see VLIST_MIXED) */
static inline bool list_may_nest(value v) { return list_of(v)->h.extra & VLIST_MIXED; }
void list_append(value l, value v);             /* holds v */
void list_append_take(value l, value v);        /* consumes v */
void list_set(value l, size_t i, value v);      /* holds v, releases old */
int list_index(value l, int64_t i, value *out, verr *e); /* new ref; Python indexing */
int list_slice(value l, bool has_lo, int64_t lo, bool has_hi, int64_t hi,
               int64_t step, value *out, verr *e);
value list_concat(value a, value b);
int list_repeat(value l, int64_t n, value *out, verr *e);
int list_pop(value l, value *out, verr *e);     /* new ref: the last item */
void list_extend(value l, value other);         /* other: list */
/* A mutable shallow copy (unfrozen) for copy-on-write. */
value list_thaw(value l);
/* Sorts in place with val_cmp; on incomparable items returns -1. */
int list_sort(value l, bool reverse, verr *e);

/* ---- dict (insertion-ordered; keys str, int or bool) ------------------ */
typedef struct vdict vdict;
value dict_new(size_t cap);
size_t dict_len(value d);
/* Returns true and a borrowed value if present. Keys of wrong type: false. */
bool dict_get(value d, value key, value *out);
int dict_set(value d, value key, value v, verr *e); /* holds both; rejects bad key types */
bool dict_del(value d, value key);
/* Iteration in insertion order over live entries: i from 0 while
 * dict_next(d, &i, &k, &v) returns true; k and v borrowed. */
bool dict_next(value d, size_t *i, value *k, value *v);
value dict_thaw(value d);

/* ---- tensor (n-dimensional float64, row-major) ------------------------ */
#define TENSOR_MAX_DIMS 8
typedef struct vtensor {
	vobj h;
	int ndim;
	int64_t shape[TENSOR_MAX_DIMS];
	size_t size;   /* product of shape */
	double *data;  /* owned; 64-byte aligned */
} vtensor;
/* New zero-filled tensor; fails (returns -1) on bad shape or huge size. */
int tensor_new(int ndim, const int64_t *shape, value *out, verr *e);
/* The same, its data left unset: for callers that write every element. */
int tensor_new_raw(int ndim, const int64_t *shape, value *out, verr *e);
static inline vtensor *tensor_of(value v) { return (vtensor *)v.as.o; }

/* ---- generic operations ------------------------------------------------ */
const char *vtype_name(vtype t); /* "int", "list", "future", "actor", "fn" */
bool val_truthy(value v);        /* Python truthiness */
bool val_eq(value a, value b);   /* ==; 1 == 1.0 is true */
/* Ordering for < and sorted(): numbers with numbers, str with str (bytes),
 * lists lexicographically, bools as ints. -1 with *e set if incomparable.
 * NaN sorts above every number and equal to NaN (a total order, so sorting
 * is well defined); callers wanting Python's "nan < x is false" check for
 * NaN first. Lists nested deeper than VAL_MAX_DEPTH fail. */
int val_cmp(value a, value b, int *result, verr *e);
uint64_t val_hash(value v);      /* for dict keys: equal keys hash equal */

/* Arithmetic with int overflow checks (LANGUAGE.md: overflow is an error).
 * op is one of '+', '-', '*', '/', 'f' (floor div //), '%', 'p' (**).
 * Handles int/float/str/list/tensor operands as Python would. */
int val_arith(int op, value a, value b, value *out, verr *e);
int val_neg(value a, value *out, verr *e);
/* a in b (substring, list member, dict key). */
int val_contains(value container, value item, bool *out, verr *e);

/* str(v) and repr-inside-containers (strings double-quoted), appended. */
void val_str(sbuf *out, value v);
void val_repr(sbuf *out, value v);
/* Shortest text that reads back to the same double, Python style
 * ("0.1", "2.0", "1e+20", "inf", "nan"). */
void val_float_repr(sbuf *out, double d);
/* Python format-spec mini-language ("{:.3f}", "{:>8}", "{:,}", "{:x}"). */
int val_format(sbuf *out, value v, const char *spec, verr *e);

/* True when storing `from` into the list or dict `target` would make a
 * reference cycle: from is target, or target is reachable through from's
 * items (unfrozen lists and dicts only: frozen ones cannot hold a mutable
 * target). Cycles would leak and make printing, ==, encoding recurse. */
bool val_reaches_walk(value from, value target); /* the walk: use val_reaches */
static inline bool val_reaches(value from, value target)
{
	/* inline: most stores are of a str or a number (xs.append(w)) */
	if (!V_IS_HEAP(from.t) || !V_IS_HEAP(target.t))
		return false;
	if (from.as.o == target.as.o)
		return true;
	if (from.t != V_LIST && from.t != V_DICT)
		return false;
	return val_reaches_walk(from, target);
}

/* A map from heap objects to values, for walks that must enter each
 * shared list or dict once (x = [x, x] sixty times is 61 objects but 2^60
 * paths). Zero-initialise; values are not held: the user owns them. */
typedef struct ptrmap {
	size_t len, cap;
	struct ptrmap_ent { const void *k; value v; } *e;
} ptrmap;
bool ptrmap_get(const ptrmap *m, const void *k, value *out);
void ptrmap_put(ptrmap *m, const void *k, value v); /* adds or replaces */
void ptrmap_fini(ptrmap *m);

/* True when pred is true of v or of any value reachable from it through
 * lists and dicts (values, and dict keys that are futures; other keys are
 * plain). Each list or dict is
 * entered once, iteratively: shared and deep structures cost their size. */
bool val_any(value v, bool (*pred)(value x, void *ctx), void *ctx);

/* Estimated bytes of memory a value holds: tensors their data, strings
 * their bytes, lists and dicts their slots plus their items; each heap
 * object counted once however often it is shared. Immediates: 0.
 * (value_size.c; the object store counts its cap in these.) */
size_t val_size_estimate(value v);

/* Deep copy (unfrozen) of lists/dicts; other heap values are held. */
value val_deep_copy(value v);

#endif
