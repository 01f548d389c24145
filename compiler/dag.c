/* dag.c - the DAG container: adding nodes, building the edge lists,
 * stats and labels. Lowering (lower.c) fills it; rewrite.c reshapes it;
 * dot.c, plan_*.c and the executors read it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "lang/vm.h"
#include "lang/hugemem.h"
#include "lang/native.h"

/* A big array (a DAG of a million nodes has several of 4-40 MB) is
 * advised to use huge pages: it is written once, front to back, and
 * each 4 KiB page fault costs microseconds on a paravirtualised machine
 * (they were a third of loading a 1M-node plan, and half of loading a
 * 100k-node one, whose arrays of 1-4 MB were not advised). A new one of
 * HUGE_FROM or more is aligned to a huge page and rounded up to whole
 * ones, so all of it can be: a huge page's fault costs less than the
 * 128 small ones it replaces. Advice only: the memory stays malloc's, so
 * rewrite.c and others may free or replace the arrays as before. */
#define BIG_ARRAY ((size_t)4 << 20)
#define HUGE_FROM ((size_t)256 << 10)
#define DAG_SLAB_FROM 8192 /* nodes whose futures are malloc'd one by one */

static void advise_big(void *p, size_t n)
{
	if (n >= BIG_ARRAY)
		mem_advise_huge(p, n);
}

/* Contents are not zeroed (what malloc gives). */
static void *big_realloc(void *p, size_t n)
{
	if (!p && n >= HUGE_FROM) {
		void *q = mem_huge_alloc(&n);
		if (!q)
			abort();
		return q;
	}
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort();
	advise_big(q, n);
	return q;
}

/* Zeroed by calloc: pages never written stay unmapped (no faults). */
static void *big_calloc(size_t n, size_t size)
{
	void *q = calloc(n ? n : 1, size);
	if (!q)
		abort();
	advise_big(q, n * size);
	return q;
}

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t size)
{
	if (need <= *cap)
		return p;
	uint32_t c = *cap ? *cap : 64;
	while (c < need)
		c = c > UINT32_MAX / 2 ? UINT32_MAX : c * 2;
	*cap = c;
	return big_realloc(p, (size_t)c * size);
}

/* ---- the arena (dag.h) ------------------------------------------------------ */

/* Reserved arrays of this many bytes or more in all go in an arena. A
 * first write to a fresh 4 KiB page costs ~10 us on this VM (a fault
 * the guest sees, and one its host's shadow page table takes), a whole
 * 2 MiB huge page ~75 us (bench/README.md, "Plans", fifth pass): past
 * ~8 pages one huge page is cheaper. */
#define ARENA_FROM ((size_t)64 << 10)
#define ARENA_ALIGN 64

static bool in_arena(const dag *d, const void *p)
{
	return d->arena && (const char *)p >= d->arena && (const char *)p < d->arena + d->arena_len;
}

/* n bytes of the arena, zeroed (fresh pages, never handed out twice),
 * or NULL when there is none or too little left */
static void *arena_take(dag *d, size_t n)
{
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (!d->arena || d->arena_len - d->arena_used < n)
		return NULL;
	void *p = d->arena + d->arena_used;
	d->arena_used += n;
	return p;
}

/* A fresh array of n bytes: from the arena while it has room. */
static void *fresh(dag *d, size_t n)
{
	void *p = arena_take(d, n);
	return p ? p : big_realloc(NULL, n);
}

void dag_free_array(dag *d, void *p)
{
	if (!in_arena(d, p))
		free(p);
}

/* grow() for an array that may lie in the arena: there it is copied
 * out to a fresh one (its first `*cap` entries) when it must grow */
static void *grow_d(dag *d, void *p, uint32_t *cap, uint32_t need, size_t size)
{
	if (need <= *cap || !in_arena(d, p))
		return grow(p, cap, need, size);
	uint32_t old = *cap;
	void *q = grow(NULL, cap, need, size);
	memcpy(q, p, (size_t)old * size);
	return q;
}

static size_t arena_size(size_t n)
{
	return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

void dag_reserve(dag *d, uint32_t nodes, uint32_t ins)
{
	/* an empty DAG whose size is known (a plan's): one arena for the
	 * nodes' arrays, with room for what dag_finalize makes (offsets,
	 * an edge per input); a huge page is zeroed whole, so whatever is
	 * left of its last one is used too */
	size_t want = arena_size((size_t)nodes * sizeof *d->nodes) + arena_size((size_t)nodes * sizeof *d->fut) +
	              arena_size((size_t)ins * sizeof *d->ins) + arena_size(ins);
	if (!d->arena && !d->nodes && !d->ins && d->n == 0 && d->nins == 0 && want >= ARENA_FROM) {
		size_t len = want + arena_size(((size_t)nodes + 1) * 4) * 2 + arena_size((size_t)ins * 5) +
		             arena_size((size_t)ins * 4);
		/* with the nodes' futures (slab objects) on the same huge page
		 * when all of it fits in one (up to ~11,000 nodes of one input) */
		size_t futs = (size_t)nodes * ((sizeof(vfuture) + 7) & ~(size_t)7);
		if (len + futs + OBJSLAB_MAX + 64 <= OBJSLAB_CHUNK && (d->arena = objslab_tail(&d->futs, len))) {
			d->arena_in_slab = true;
		} else {
			len = (len + MEM_HUGE_PAGE - 1) & ~(MEM_HUGE_PAGE - 1);
			d->arena = mem_huge_map(len);
		}
		if (d->arena) {
			d->arena_len = len;
			d->arena_used = 0;
		}
	}
	if (d->n + nodes > d->cap) {
		uint32_t c = d->n + nodes;
		if (!d->nodes && d->arena) {
			d->nodes = arena_take(d, (size_t)c * sizeof *d->nodes);
			d->fut = arena_take(d, (size_t)c * sizeof *d->fut);
		} else {
			uint32_t cap = d->cap;
			d->nodes = grow_d(d, d->nodes, &cap, c, sizeof *d->nodes);
			d->fut = grow_d(d, d->fut, &d->cap, c, sizeof *d->fut);
		}
		d->cap = c;
	}
	if (d->nins + ins > d->capins) {
		uint32_t c = d->nins + ins;
		if (!d->ins && d->arena) {
			d->ins = arena_take(d, (size_t)c * sizeof *d->ins);
			d->inreg = arena_take(d, c);
		} else {
			uint32_t cap = d->capins;
			d->ins = grow_d(d, d->ins, &cap, c, sizeof *d->ins);
			d->inreg = grow_d(d, d->inreg, &d->capins, c, 1);
		}
		d->capins = c;
	}
}

dag *dag_new(const bc_program *prog)
{
	dag *d = calloc(1, sizeof *d);
	if (!d)
		abort();
	d->prog = prog;
	return d;
}

void dag_free(dag *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->nins; i++)
		val_rele(d->ins[i]);
	for (uint32_t i = 0; i < d->n; i++)
		val_rele(d->fut[i]);
	dag_free_array(d, d->nodes);
	dag_free_array(d, d->ins);
	dag_free_array(d, d->inreg);
	dag_free_array(d, d->fut);
	free(d->order);
	dag_free_array(d, d->pred_off);
	dag_free_array(d, d->preds);
	dag_free_array(d, d->pred_order);
	dag_free_array(d, d->succ_off);
	dag_free_array(d, d->succs);
	free(d->holds_actor);
	free(d->rewrites);
	free(d->cont.frames);
	free(d->cont.why);
	free(d->cont.masks);
	objslab_done(&d->futs);
	if (d->arena_in_slab)
		objslab_release(d->arena);
	else if (d->arena)
		mem_huge_unmap(d->arena, d->arena_len);
	free(d);
}

int64_t dag_cont_node(const dag *d)
{
	if (!d->cont.nframes)
		return -1;
	for (uint32_t v = d->n; v-- > 0;)
		if (d->nodes[v].kind == DAG_CONT)
			return v;
	return -1;
}

uint32_t dag_add(dag *d, dag_kind kind, uint32_t proto, uint32_t pc, int out, const value *ins,
                 const uint8_t *inreg, int nin, span where)
{
	uint32_t cap = d->cap;
	d->nodes = grow_d(d, d->nodes, &cap, d->n + 1, sizeof *d->nodes);
	d->fut = grow_d(d, d->fut, &d->cap, d->n + 1, sizeof *d->fut);
	uint32_t capi = d->capins;
	d->ins = grow_d(d, d->ins, &capi, d->nins + (uint32_t)nin, sizeof *d->ins);
	d->inreg = grow_d(d, d->inreg, &d->capins, d->nins + (uint32_t)nin, 1);
	uint32_t id = d->n++;
	dag_node *n = &d->nodes[id];
	n->kind = (uint8_t)kind;
	n->out = (uint8_t)out;
	n->nin = (uint16_t)nin;
	n->proto = proto;
	n->pc = pc;
	n->in = d->nins;
	n->where = where;
	for (int j = 0; j < nin; j++) {
		value v = val_hold(ins[j]);
		val_freeze(v);
		d->ins[d->nins] = v;
		d->inreg[d->nins++] = inreg ? inreg[j] : 0;
	}
	if (kind == DAG_ACTOR) {
		value h = vm_actor_new(d->prog->actors[proto]);
		((vactor *)h.as.o)->node = id;
		d->fut[id] = h;
	} else {
		/* a small DAG's futures come from malloc: a slab chunk is a
		 * mapping of its own, dear to make and unmap for a few nodes;
		 * a big one's (room reserved for many, as a plan does) all from
		 * the slab: 8,192 mallocs were 5% of loading 100k nodes */
		d->fut[id] = id < DAG_SLAB_FROM && d->cap < DAG_SLAB_FROM && !d->arena_in_slab
		                 ? future_new_pending(id)
		                 : future_new_pending_in(&d->futs, id);
		((vfuture *)d->fut[id].as.o)->implied = kind == DAG_IMPLICIT || kind == DAG_EFFECT;
	}
	return id;
}

void dag_order(dag *d, uint32_t from, uint32_t to)
{
	d->order = grow(d->order, &d->caporder, d->norder + 1, sizeof *d->order);
	d->order[d->norder][0] = from;
	d->order[d->norder][1] = to;
	d->norder++;
}

int64_t dag_ref(value v)
{
	if (v.t == V_FUTURE)
		return ((const vfuture *)v.as.o)->node;
	if (v.t == V_ACTOR)
		return ((const vactor *)v.as.o)->node;
	return -1;
}

/* ---- edges ---------------------------------------------------------------- */

typedef struct refs {
	uint32_t *v;
	uint32_t n, cap;
	bool actor; /* an input holds an actor handle */
} refs;

static void refs_add(refs *r, uint32_t id)
{
	r->v = grow(r->v, &r->cap, r->n + 1, sizeof *r->v);
	r->v[r->n++] = id;
}

static bool collect(value x, void *ctx)
{
	int64_t id = dag_ref(x);
	if (id >= 0)
		refs_add(ctx, (uint32_t)id);
	if (x.t == V_ACTOR)
		((refs *)ctx)->actor = true;
	return false;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Data refs of node v, sorted, deduplicated, into r (cleared first). */
static void node_refs(const dag *d, uint32_t v, refs *r)
{
	const dag_node *n = &d->nodes[v];
	r->n = 0;
	r->actor = false;
	for (uint32_t j = 0; j < n->nin; j++)
		val_any(d->ins[n->in + j], collect, r);
	if (n->kind == DAG_METHOD)
		refs_add(r, n->pc);
	if (r->n > 1)
		qsort(r->v, r->n, sizeof *r->v, cmp_u32);
	uint32_t k = 0;
	for (uint32_t j = 0; j < r->n; j++)
		if (k == 0 || r->v[k - 1] != r->v[j])
			r->v[k++] = r->v[j];
	r->n = k;
}

/* A future of node u that the staged driver's continuation holds need
 * not be done before it starts: a task's, a method's or a put's result
 * is read by its get or wait, which blocks until it is (LANGUAGE.md
 * section 6). The values it resumes with (an expression's or an
 * effect's result, which the driver computed before it stopped) and the
 * actors it calls are waited for. */
static bool held_only(const dag *d, uint32_t u)
{
	uint8_t k = d->nodes[u].kind;
	return k == DAG_TASK || k == DAG_METHOD || k == DAG_PUT;
}

static int cmp_pair(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;
	if (x[1] != y[1])
		return x[1] < y[1] ? -1 : 1;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

int dag_finalize(dag *d)
{
	dag_free_array(d, d->pred_off);
	dag_free_array(d, d->preds);
	dag_free_array(d, d->pred_order);
	dag_free_array(d, d->succ_off);
	dag_free_array(d, d->succs);
	free(d->holds_actor);
	d->holds_actor = NULL;
	/* every entry written below; succ_off needs its zeros (and no
	 * edges leave its pages untouched); the arena's are zero */
	d->pred_off = fresh(d, ((size_t)d->n + 1) * sizeof *d->pred_off);
	d->pred_off[0] = 0;
	d->succ_off = arena_take(d, ((size_t)d->n + 1) * sizeof *d->succ_off);
	if (!d->succ_off)
		d->succ_off = big_calloc((size_t)d->n + 1, sizeof *d->succ_off);
	/* ordering edges sorted by target, so each node's are together */
	if (d->norder > 1)
		qsort(d->order, d->norder, sizeof *d->order, cmp_pair);
	uint32_t cap = 0, ne = 0, oi = 0;
	uint32_t *preds = NULL;
	uint8_t *pord = NULL;
	uint32_t capo = 0;
	/* room for an edge per input and per ordering edge up front: most
	 * DAGs need no more, and a big array is not copied while it grows */
	uint64_t guess = (uint64_t)d->nins + d->norder;
	if (guess > 64 && guess < UINT32_MAX / 2) {
		preds = arena_take(d, (size_t)guess * sizeof *preds);
		pord = preds ? arena_take(d, (size_t)guess) : NULL;
		if (preds && pord) {
			cap = capo = (uint32_t)guess;
		} else {
			preds = grow(NULL, &cap, (uint32_t)guess, sizeof *preds);
			pord = grow(NULL, &capo, (uint32_t)guess, 1);
		}
	}
	refs r = {0};
	int rc = 0;
	for (uint32_t v = 0; v < d->n; v++) {
		node_refs(d, v, &r);
		if (r.actor && d->nodes[v].kind == DAG_TASK) {
			if (!d->holds_actor && !(d->holds_actor = calloc(((size_t)d->n + 63) / 64, 8)))
				abort();
			d->holds_actor[v >> 6] |= (uint64_t)1 << (v & 63);
		}
		uint32_t ndata = r.n;
		bool cont = d->nodes[v].kind == DAG_CONT;
		/* merge ordering edges into the sorted list, marking them */
		uint32_t start = ne;
		for (uint32_t j = 0; j < ndata; j++) {
			if (r.v[j] >= v)
				rc = -1;
			preds = grow_d(d, preds, &cap, ne + 1, sizeof *preds);
			pord = grow_d(d, pord, &capo, ne + 1, 1);
			preds[ne] = r.v[j];
			pord[ne++] = cont && r.v[j] < v && held_only(d, r.v[j]) ? DAG_EDGE_HELD : 0;
		}
		for (; oi < d->norder && d->order[oi][1] == v; oi++) {
			uint32_t from = d->order[oi][0];
			if (from >= v)
				rc = -1;
			bool dup = false;
			for (uint32_t j = start; j < ne && !dup; j++) {
				dup = preds[j] == from;
				/* a held future that is also an ordering edge (the
				 * last call on an actor): waited for */
				if (dup && pord[j] == DAG_EDGE_HELD)
					pord[j] = 0;
			}
			if (dup)
				continue;
			preds = grow_d(d, preds, &cap, ne + 1, sizeof *preds);
			pord = grow_d(d, pord, &capo, ne + 1, 1);
			preds[ne] = from;
			pord[ne++] = 1;
		}
		/* keep each node's list ascending */
		for (uint32_t j = start + 1; j < ne; j++) {
			uint32_t x = preds[j];
			uint8_t o = pord[j];
			uint32_t q = j;
			while (q > start && preds[q - 1] > x) {
				preds[q] = preds[q - 1];
				pord[q] = pord[q - 1];
				q--;
			}
			preds[q] = x;
			pord[q] = o;
		}
		d->pred_off[v + 1] = ne;
	}
	free(r.v);
	if (!preds) { /* no edges: still a (tiny) array, so "finalized" is visible */
		preds = malloc(sizeof *preds);
		pord = malloc(1);
		if (!preds || !pord)
			abort();
	}
	d->preds = preds;
	d->pred_order = pord;
	d->nedges = ne;
	/* successors: counting sort of the same edges by source. No edges:
	 * succ_off stays calloc's zeros, its pages untouched. */
	d->succs = fresh(d, sizeof *d->succs * (ne ? ne : 1));
	if (ne == 0)
		return rc;
	uint32_t *off = d->succ_off;
	/* off[u] = the start of u's successors; filling advances it to the
	 * start of u + 1, so one shift restores it (no cursor array: a
	 * million-node DAG's would be 4 MB of fresh pages) */
	for (uint32_t e = 0; e < ne; e++)
		off[preds[e] + 1]++;
	for (uint32_t v = 0; v < d->n; v++)
		off[v + 1] += off[v];
	for (uint32_t v = 0; v < d->n; v++)
		for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++)
			d->succs[off[preds[e]]++] = v;
	memmove(off + 1, off, sizeof *off * (size_t)d->n);
	off[0] = 0;
	return rc;
}

/* ---- stats ---------------------------------------------------------------- */

void dag_stats_of(const dag *d, dag_stats *s)
{
	memset(s, 0, sizeof *s);
	s->nodes = d->n;
	s->edges = d->nedges;
	s->rewrites = d->nrewrites;
	/* level[v] written before it is read (preds come first); count
	 * only touched at the levels there are */
	uint32_t *level = big_realloc(NULL, ((size_t)d->n + 1) * sizeof *level);
	uint32_t *count = big_calloc((size_t)d->n + 2, sizeof *count);
	for (uint32_t v = 0; v < d->n; v++) {
		uint32_t l = 1;
		if (d->pred_off)
			for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++)
				if (level[d->preds[e]] + 1 > l)
					l = level[d->preds[e]] + 1;
		level[v] = l;
		if (l > s->depth)
			s->depth = l;
		if (++count[l] > s->width)
			s->width = count[l];
		s->by_kind[d->nodes[v].kind]++;
	}
	free(level);
	free(count);
}

void dag_stats_json(const dag_stats *s, FILE *out)
{
	fprintf(out,
	        "{\"nodes\": %u, \"edges\": %u, \"depth\": %u, \"width\": %u, \"tasks\": %u, "
	        "\"actors\": %u, \"methods\": %u, \"implicit\": %u, \"effects\": %u, \"puts\": %u, "
	        "\"rewrites\": %u}\n",
	        s->nodes, s->edges, s->depth, s->width, s->by_kind[DAG_TASK], s->by_kind[DAG_ACTOR],
	        s->by_kind[DAG_METHOD], s->by_kind[DAG_IMPLICIT], s->by_kind[DAG_EFFECT],
	        s->by_kind[DAG_PUT], s->rewrites);
}

/* ---- labels --------------------------------------------------------------- */

static const char *module_of(const native_def *nd)
{
	for (const char *const *m = native_module_names(); *m; m++) {
		const module_def *md = native_module(*m);
		if (md && native_module_fn(md, nd->name) == nd)
			return *m;
	}
	return NULL;
}

const bc_proto *dag_insn_proto(const dag *d, const dag_node *n)
{
	if (n->proto == DAG_PROTO_DRIVER)
		return d->prog->driver;
	return n->proto < (uint32_t)d->prog->nprotos ? d->prog->protos[n->proto] : NULL;
}

const char *dag_label(const dag *d, uint32_t id, char *buf, size_t n)
{
	const dag_node *nd = &d->nodes[id];
	const bc_program *p = d->prog;
	switch (nd->kind) {
	case DAG_TASK:
	case DAG_METHOD:
		return p->protos[nd->proto]->name;
	case DAG_ACTOR:
		return p->actors[nd->proto]->name;
	case DAG_PUT:
		return "put";
	case DAG_CONT:
		snprintf(buf, n, "driver continues at line %d", nd->where.line);
		return buf;
	default:
		break;
	}
	const bc_proto *pr = dag_insn_proto(d, nd);
	if (!pr)
		return "?";
	uint32_t i = pr->code[nd->pc];
	switch (BC_OP(i)) {
	case OP_NATIVE: {
		const native_def *nat = pr->natives[BC_B(i)];
		const char *m = module_of(nat);
		if (m) {
			snprintf(buf, n, "%s.%s", m, nat->name);
			return buf;
		}
		return nat->name;
	}
	case OP_METHOD:
		snprintf(buf, n, ".%s()", pr->msites[BC_B(i)].name);
		return buf;
	case OP_CALLP: return p->protos[BC_Bx(i)]->name;
	default:
		if (BC_OP(i) < OP__COUNT && bc_ops[BC_OP(i)].symbol)
			return bc_ops[BC_OP(i)].symbol;
		return bc_op_names[BC_OP(i)];
	}
}

void dag_dump(const dag *d, FILE *out)
{
	static const char *const kinds[DAG__KINDS] = {"task", "actor", "method", "implicit", "effect", "put",
	                                                      "continue"};
	char buf[128];
	for (uint32_t v = 0; v < d->n; v++) {
		const dag_node *n = &d->nodes[v];
		fprintf(out, "%u %s %s %s:%d", v, kinds[n->kind], dag_label(d, v, buf, sizeof buf),
		        bc_source_path(d->prog, n->where.file), n->where.line);
		if (d->pred_off && d->pred_off[v] < d->pred_off[v + 1]) {
			fputs(" <-", out);
			for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++)
				fprintf(out, " %s%u", d->pred_order[e] ? "~" : "", d->preds[e]);
		}
		fputc('\n', out);
	}
}
