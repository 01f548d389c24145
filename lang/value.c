/* value.c: heap objects' life cycle (alloc, free, freeze, deep copy), byte buffers, type hooks, tensors. */
#include "value.h"
#include "value_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hugemem.h"

#include "flow_err.h"

void verr_set(verr *e, const char *fmt, ...)
{
	if (!e)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->code = FLOW_EINVAL;
}

void verr_setc(verr *e, int code, const char *fmt, ...)
{
	if (!e)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->code = code;
}

void val_oom(size_t n)
{
	fprintf(stderr, "flow: out of memory (allocating %zu bytes)\n", n);
	abort();
}

bool val_threads_on;

void val_threads_begin(void)
{
	__atomic_store_n(&val_threads_on, true, __ATOMIC_SEQ_CST);
}

/* Zero-filled, so VM-defined objects start from a known state. malloc
 * and memset, not calloc: glibc's calloc (2.36) skips the per-thread
 * cache and takes the arena's lock, a tenth of a driver round trip. The
 * header is written apart so that the compiler does not fold the pair
 * back into calloc. */
void *vobj_alloc(size_t size, vtype type)
{
	vobj *o = malloc(size);
	if (!o)
		val_oom(size);
	*o = (vobj){ .rc = 1, .type = (uint8_t)type };
	memset((char *)o + sizeof *o, 0, size - sizeof *o);
	return o;
}

/* ---- sbuf --------------------------------------------------------------- */

void sbuf_init(sbuf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void sbuf_fini(sbuf *b)
{
	free(b->data);
	sbuf_init(b);
}

/* Keeps one spare byte so data stays NUL-terminated. */
void sbuf_reserve(sbuf *b, size_t extra)
{
	if (extra >= SIZE_MAX / 2 - b->len)
		val_oom(extra);
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		val_oom(cap);
	b->data = p;
	b->cap = cap;
}

void sbuf_add(sbuf *b, const void *p, size_t n)
{
	sbuf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void sbuf_addc(sbuf *b, char c)
{
	if (b->len + 1 >= b->cap)
		sbuf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void sbuf_adds(sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sbuf_add(b, tmp, (size_t)n);
		return;
	}
	sbuf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *sbuf_take(sbuf *b, size_t *len)
{
	if (!b->data)
		sbuf_reserve(b, 0);
	b->data[b->len] = '\0';
	char *p = b->data;
	if (len)
		*len = b->len;
	sbuf_init(b);
	return p;
}

/* ---- type hooks ------------------------------------------------------- */

static vtype_hooks hooks[V__COUNT];
static bool hooks_set[V__COUNT];

/* Copies *h; meant to be called once at start-up, before threads exist. */
void vtype_register(vtype t, const vtype_hooks *h)
{
	if (t < V_FUTURE || t >= V__COUNT)
		return;
	/* registering again with the same hooks (vm_types_init runs once per
	 * compile or plan load) writes nothing: other threads read them */
	if (hooks_set[t] && memcmp(&hooks[t], h, sizeof *h) == 0)
		return;
	hooks[t] = *h;
	hooks_set[t] = true;
}

const vtype_hooks *vtype_hooks_of(vtype t)
{
	return (t < V__COUNT && hooks_set[t]) ? &hooks[t] : NULL;
}

const char *vtype_name(vtype t)
{
	static const char *const names[V__COUNT] = {
		"none", "bool", "int", "float", "str", "list", "dict", "tensor",
		"future", "actor", "fn", "error", "stream",
	};
	return t < V__COUNT ? names[t] : "?";
}

bool val_truthy(value v)
{
	switch (v.t) {
	case V_NONE: return false;
	case V_BOOL: return v.as.b;
	case V_INT: return v.as.i != 0;
	case V_FLOAT: return v.as.f != 0.0;
	case V_STR: return str_len(v) != 0;
	case V_LIST: return list_len(v) != 0;
	case V_DICT: return dict_len(v) != 0;
	case V_TENSOR: return tensor_of(v)->size != 0;
	default: return true;
	}
}

/* ---- freeing ------------------------------------------------------------ */

/* Objects whose count reached zero wait on a per-thread queue, so freeing a
 * deeply nested value is a loop, not a recursion. Re-entrant calls (from a
 * VM free hook releasing its children) only enqueue. */
static __thread struct {
	vobj **items;
	size_t len, cap;
	bool active;
	vobj *inline_items[32];
} freeq;

static void freeq_push(vobj *o)
{
	if (freeq.len == freeq.cap) {
		size_t cap = freeq.cap ? freeq.cap * 2 : 32;
		vobj **p;
		if (freeq.items == freeq.inline_items || !freeq.items) {
			p = malloc(cap * sizeof *p);
			if (p && freeq.len)
				memcpy(p, freeq.items, freeq.len * sizeof *p);
		} else {
			p = realloc(freeq.items, cap * sizeof *p);
		}
		if (!p)
			val_oom(cap * sizeof *p);
		freeq.items = p;
		freeq.cap = cap;
	}
	freeq.items[freeq.len++] = o;
}

/* Releases one child: leaves (strings, tensors) die at once, containers
 * and VM objects are queued. */
/* A tensor's data buffer size for size elements: whole 64-byte lines
 * (aligned_alloc wants a multiple), whole huge pages from 2 MiB on. */
static size_t tensor_data_bytes(size_t size)
{
	size_t bytes = (size * sizeof(double) + 63) & ~(size_t)63;
	if (bytes == 0)
		bytes = 64;
	if (bytes >= MEM_HUGE_PAGE)
		bytes = (bytes + MEM_HUGE_PAGE - 1) & ~(MEM_HUGE_PAGE - 1);
	return bytes;
}

/* From 64 KiB on, a tensor's buffer is page-aligned: the spill store
 * reads a spilled tensor's elements straight into it with O_DIRECT
 * (executor/store.c). malloc'd 4 KiB larger and aligned by hand, the
 * malloc'd pointer kept just before it: glibc's aligned_alloc(4096, ...)
 * of 1 MiB mapped fresh pages on every call (~4.6 ms a MiB here, against
 * 0.1 for a malloc reusing its heap). */
#define TENSOR_PAGE_ALIGNED ((size_t)64 << 10)

static double *tensor_page_alloc(size_t bytes)
{
	char *p = malloc(bytes + 4096);
	if (!p)
		return NULL;
	char *d = (char *)(((uintptr_t)p + 4096) & ~(uintptr_t)4095); /* 16 to 4096 bytes in */
	memcpy(d - sizeof p, &p, sizeof p);
	return (double *)d;
}

static void tensor_data_free(vtensor *t)
{
	size_t bytes = tensor_data_bytes(t->size);
	if (bytes >= MEM_HUGE_PAGE) {
		mem_huge_unmap(t->data, bytes);
	} else if (bytes >= TENSOR_PAGE_ALIGNED) {
		char *p;
		memcpy(&p, (char *)t->data - sizeof p, sizeof p);
		free(p);
	} else {
		free(t->data);
	}
}

static void drop_child(value v)
{
	if (!V_IS_HEAP(v.t))
		return;
	vobj *o = v.as.o;
	if (vobj_rc_dec(o) != 0)
		return;
	if (o->type == V_STR) {
		str_free(o);
	} else if (o->type == V_TENSOR) {
		tensor_data_free((vtensor *)o);
		free(o);
	} else {
		freeq_push(o);
	}
}

static void free_one(vobj *o)
{
	switch (o->type) {
	case V_STR:
		str_free(o);
		break;
	case V_LIST: {
		vlist *l = (vlist *)o;
		for (size_t i = 0; i < l->len; i++)
			drop_child(l->items[i]);
		list_free_items(l);
		free(l);
		break;
	}
	case V_DICT:
		vdict_free_entries(o, drop_child);
		vdict_free_shell(o);
		break;
	case V_TENSOR:
		tensor_data_free((vtensor *)o);
		free(o);
		break;
	default: {
		const vtype_hooks *h = vtype_hooks_of(o->type);
		if (h && h->free)
			h->free(o);
		else
			free(o);
	}
	}
}

void val_free_obj(vobj *o)
{
	if (freeq.active) {
		freeq_push(o);
		return;
	}
	if (!freeq.items) {
		freeq.items = freeq.inline_items;
		freeq.cap = sizeof freeq.inline_items / sizeof freeq.inline_items[0];
	}
	freeq.active = true;
	free_one(o);
	while (freeq.len > 0)
		free_one(freeq.items[--freeq.len]);
	freeq.active = false;
	if (freeq.items != freeq.inline_items) {
		/* a big free grew the queue: give the memory back */
		free(freeq.items);
		freeq.items = freeq.inline_items;
		freeq.cap = sizeof freeq.inline_items / sizeof freeq.inline_items[0];
	}
}

/* ---- freezing ----------------------------------------------------------- */

static bool mark_frozen(vobj *o)
{
	if (__atomic_load_n(&o->flags, __ATOMIC_ACQUIRE) & VOBJ_FROZEN)
		return false; /* no write at all to a frozen (shared) object */
	uint8_t old = __atomic_fetch_or(&o->flags, (uint8_t)VOBJ_FROZEN, __ATOMIC_ACQ_REL);
	return !(old & VOBJ_FROZEN);
}

/* Iterative, and marks before descending, so cycles and depth are fine.
 * A frozen object's children are frozen already, so it is not entered. */
void val_freeze(value v)
{
	if (!V_IS_HEAP(v.t) || !mark_frozen(v.as.o))
		return;
	if (v.t != V_LIST && v.t != V_DICT)
		return;
	size_t len = 0, cap = 16;
	vobj **stack = malloc(cap * sizeof *stack);
	if (!stack)
		val_oom(cap * sizeof *stack);
	stack[len++] = v.as.o;
	while (len > 0) {
		vobj *o = stack[--len];
		value cv = v_obj(o);
		size_t i = 0;
		value k, item;
		for (;;) {
			if (o->type == V_LIST) {
				if (i >= list_len(cv))
					break;
				item = list_get(cv, i++);
			} else if (!dict_next(cv, &i, &k, &item)) {
				break;
			}
			if (!V_IS_HEAP(item.t) || !mark_frozen(item.as.o))
				continue;
			if (item.t != V_LIST && item.t != V_DICT)
				continue;
			if (len == cap) {
				cap *= 2;
				vobj **p = realloc(stack, cap * sizeof *stack);
				if (!p)
					val_oom(cap * sizeof *stack);
				stack = p;
			}
			stack[len++] = item.as.o;
		}
	}
	free(stack);
}

/* ---- reachability (cycle check) ------------------------------------------- */

/* Breadth first; the array of entered objects is the queue and the list
 * of marks to clear. Only unfrozen objects are marked: their owner thread
 * is the only one touching them. */
bool val_reaches_walk(value from, value target)
{
	if (!V_IS_HEAP(from.t) || !V_IS_HEAP(target.t))
		return false;
	if (from.as.o == target.as.o)
		return true;
	if ((from.t != V_LIST && from.t != V_DICT) || val_is_frozen(from))
		return false;
	size_t len = 0, pos = 0, cap = 16;
	vobj **seen = malloc(cap * sizeof *seen);
	if (!seen)
		val_oom(cap * sizeof *seen);
	seen[len++] = from.as.o;
	from.as.o->flags |= VOBJ_VISIT;
	bool found = false;
	while (pos < len && !found) {
		value cv = v_obj(seen[pos++]);
		size_t i = 0;
		value k, item;
		for (;;) {
			if (cv.t == V_LIST) {
				if (i >= list_len(cv))
					break;
				item = list_get(cv, i++);
			} else if (!dict_next(cv, &i, &k, &item)) {
				break;
			}
			if (item.t != V_LIST && item.t != V_DICT)
				continue;
			if (item.as.o == target.as.o) {
				found = true;
				break;
			}
			if (item.as.o->flags & (VOBJ_FROZEN | VOBJ_VISIT))
				continue;
			if (len == cap) {
				cap *= 2;
				vobj **p = realloc(seen, cap * sizeof *seen);
				if (!p)
					val_oom(cap * sizeof *seen);
				seen = p;
			}
			item.as.o->flags |= VOBJ_VISIT;
			seen[len++] = item.as.o;
		}
	}
	for (size_t j = 0; j < len; j++)
		seen[j]->flags &= (uint8_t)~VOBJ_VISIT;
	free(seen);
	return found;
}

/* ---- object maps and walks ------------------------------------------------- */

static size_t ptr_slot(const void *k, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & (cap - 1);
}

bool ptrmap_get(const ptrmap *m, const void *k, value *out)
{
	if (m->cap == 0)
		return false;
	for (size_t i = ptr_slot(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->e[i].k == k) {
			if (out)
				*out = m->e[i].v;
			return true;
		}
		if (m->e[i].k == NULL)
			return false;
	}
}

void ptrmap_put(ptrmap *m, const void *k, value v)
{
	if ((m->len + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct ptrmap_ent *e = calloc(cap, sizeof *e);
		if (!e)
			val_oom(cap * sizeof *e);
		for (size_t j = 0; j < m->cap; j++) {
			if (m->e[j].k == NULL)
				continue;
			size_t i = ptr_slot(m->e[j].k, cap);
			while (e[i].k != NULL)
				i = (i + 1) & (cap - 1);
			e[i] = m->e[j];
		}
		free(m->e);
		m->e = e;
		m->cap = cap;
	}
	size_t i = ptr_slot(k, m->cap);
	while (m->e[i].k != NULL && m->e[i].k != k)
		i = (i + 1) & (m->cap - 1);
	if (m->e[i].k == NULL)
		m->len++;
	m->e[i].k = k;
	m->e[i].v = v;
}

void ptrmap_fini(ptrmap *m)
{
	free(m->e);
	memset(m, 0, sizeof *m);
}

bool val_any(value v, bool (*pred)(value x, void *ctx), void *ctx)
{
	if (pred(v, ctx))
		return true;
	if (v.t != V_LIST && v.t != V_DICT)
		return false;
	ptrmap seen = {0};
	size_t len = 0, cap = 16;
	vobj **stack = malloc(cap * sizeof *stack);
	if (!stack)
		val_oom(cap * sizeof *stack);
	stack[len++] = v.as.o;
	ptrmap_put(&seen, v.as.o, v_none());
	bool found = false;
	while (len > 0 && !found) {
		value cv = v_obj(stack[--len]);
		size_t i = 0;
		value k, item;
		for (;;) {
			if (cv.t == V_LIST) {
				if (i >= list_len(cv))
					break;
				item = list_get(cv, i++);
			} else if (!dict_next(cv, &i, &k, &item)) {
				break;
			} else if (k.t == V_FUTURE && pred(k, ctx)) { /* a key by identity ({ref: i}) */
				found = true;
				break;
			}
			if (pred(item, ctx)) {
				found = true;
				break;
			}
			if (item.t != V_LIST && item.t != V_DICT)
				continue;
			if (ptrmap_get(&seen, item.as.o, NULL))
				continue;
			ptrmap_put(&seen, item.as.o, v_none());
			if (len == cap) {
				cap *= 2;
				vobj **p = realloc(stack, cap * sizeof *stack);
				if (!p)
					val_oom(cap * sizeof *stack);
				stack = p;
			}
			stack[len++] = item.as.o;
		}
	}
	free(stack);
	ptrmap_fini(&seen);
	return found;
}

/* ---- deep copy ------------------------------------------------------------ */

static value deep_copy(value v, int depth)
{
	if (depth >= VAL_MAX_DEPTH)
		return val_hold(v);
	if (v.t == V_LIST) {
		size_t n = list_len(v);
		value out = list_new(n);
		for (size_t i = 0; i < n; i++)
			list_append_take(out, deep_copy(list_get(v, i), depth + 1));
		return out;
	}
	if (v.t == V_DICT) {
		value out = dict_new(dict_len(v));
		size_t i = 0;
		value k, x;
		while (dict_next(v, &i, &k, &x)) {
			value c = deep_copy(x, depth + 1);
			dict_set(out, k, c, NULL); /* keys were valid already */
			val_rele(c);
		}
		return out;
	}
	return val_hold(v);
}

value val_deep_copy(value v)
{
	return deep_copy(v, 0);
}

/* ---- tensor --------------------------------------------------------------- */

/* Upper bound on elements (2^40, 8 TiB of data): anything larger is an error
 * rather than an abort inside the allocator. */
#define TENSOR_MAX_SIZE ((size_t)1 << 40)

int tensor_new_raw(int ndim, const int64_t *shape, value *out, verr *e)
{
	if (ndim < 0 || ndim > TENSOR_MAX_DIMS) {
		verr_setc(e, FLOW_ETOOBIG, "tensor: %d dimensions (at most %d)", ndim, TENSOR_MAX_DIMS);
		return -1;
	}
	size_t size = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0) {
			verr_set(e, "tensor: negative dimension %lld", (long long)shape[i]);
			return -1;
		}
		if (__builtin_mul_overflow(size, (size_t)shape[i], &size) || size > TENSOR_MAX_SIZE) {
			verr_setc(e, FLOW_ETOOBIG, "tensor: too large");
			return -1;
		}
	}
	/* Large buffers on whole 2 MiB pages, with the kernel asked for huge
	 * pages (as numpy does): one fault per 2 MiB instead of per 4 KiB,
	 * which was most of the cost of making seed 000's matrices. Mapped on
	 * their own (tensor_data_free): a freed or spilled tensor's memory goes
	 * back to the system, so --object-store-memory bounds what the
	 * process holds (in glibc's arenas it stayed: ~12x the cap) */
	size_t bytes = tensor_data_bytes(size);
	double *data = bytes >= MEM_HUGE_PAGE ? mem_huge_map(bytes)
	               : bytes >= TENSOR_PAGE_ALIGNED ? tensor_page_alloc(bytes)
	                                              : aligned_alloc(64, bytes);
	if (!data) {
		verr_setc(e, FLOW_ENOMEM, "tensor: out of memory for %zu elements", size);
		return -1;
	}
	vtensor *t = vobj_alloc(sizeof *t, V_TENSOR);
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->size = size;
	t->data = data;
	*out = v_obj(&t->h);
	return 0;
}

int tensor_new(int ndim, const int64_t *shape, value *out, verr *e)
{
	if (tensor_new_raw(ndim, shape, out, e) < 0)
		return -1;
	memset(tensor_of(*out)->data, 0, tensor_of(*out)->size * sizeof(double));
	return 0;
}
