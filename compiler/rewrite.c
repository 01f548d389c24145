/* rewrite.c - the associative-chain rewrite: finds trees of calls of one
 * @associative two-parameter task whose intermediates have exactly one
 * use, rebuilds the unbalanced ones as reduce's balanced tree over the
 * same leaves (reusing their node ids), renumbers the DAG topologically,
 * and explains what it did. Owns d->rewrites; see rewrite.h. */
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"
#include "lang/vm.h"

#define NONE UINT32_MAX

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

/* A call of an @associative task with exactly its two parameters. */
static bool assoc2(const dag *d, uint32_t v)
{
	const dag_node *nd = &d->nodes[v];
	if (nd->kind != DAG_TASK || nd->nin != 2 || nd->proto >= (uint32_t)d->prog->nprotos)
		return false;
	const bc_proto *p = d->prog->protos[nd->proto];
	return p->attrs.associative && p->nparams == 2;
}

/* The node a value refers to directly, or NONE. */
static uint32_t ref_of(const dag *d, value x)
{
	int64_t r = dag_ref(x);
	return r >= 0 && (uint64_t)r < d->n ? (uint32_t)r : NONE;
}

static uint32_t ceil_log2(uint64_t m)
{
	uint32_t l = 0;
	while (((uint64_t)1 << l) < m)
		l++;
	return l;
}

/* ---- uses ----------------------------------------------------------------- */

typedef struct usectx {
	const dag *d;
	uint8_t *uses;
} usectx;

static void use(uint8_t *uses, uint32_t r)
{
	if (uses[r] < 2)
		uses[r]++;
}

static bool count_nested(value x, void *ctx)
{
	usectx *c = ctx;
	uint32_t r = ref_of(c->d, x);
	if (r != NONE)
		use(c->uses, r);
	return false;
}

/* consumer[v] := the node of the same associative task that is the only
 * use of v's result (a direct argument, appearing once), else NONE. Such
 * a v is an internal node of its consumer's tree. */
static uint32_t *find_internal(const dag *d)
{
	uint32_t n = d->n;
	uint8_t *uses = xcalloc(n, 1); /* saturates at 2: only "exactly one" matters */
	uint32_t *consumer = xmalloc((size_t)n * sizeof *consumer);
	memset(consumer, 0xff, (size_t)n * sizeof *consumer);
	usectx uc = { d, uses };
	for (uint32_t u = 0; u < n; u++) {
		const dag_node *nd = &d->nodes[u];
		bool a = assoc2(d, u);
		for (uint32_t j = 0; j < nd->nin; j++) {
			value x = d->ins[nd->in + j];
			uint32_t r = ref_of(d, x);
			if (r != NONE) {
				use(uses, r);
				if (a)
					consumer[r] = u;
			} else if (x.t == V_LIST || x.t == V_DICT) {
				val_any(x, count_nested, &uc);
			}
		}
		if (nd->kind == DAG_METHOD && nd->pc < n)
			use(uses, nd->pc);
	}
	for (uint32_t e = 0; e < d->norder; e++)
		if (d->order[e][0] < n)
			use(uses, d->order[e][0]);
	for (uint32_t v = 0; v < n; v++) {
		uint32_t c = consumer[v];
		if (c != NONE && !(uses[v] == 1 && assoc2(d, v) && d->nodes[c].proto == d->nodes[v].proto))
			consumer[v] = NONE;
	}
	free(uses);
	return consumer;
}

/* ---- renumbering ---------------------------------------------------------- */

static void heap_push(uint32_t *h, uint32_t *len, uint32_t x)
{
	uint32_t i = (*len)++;
	while (i > 0 && h[(i - 1) / 2] > x) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

static uint32_t heap_pop(uint32_t *h, uint32_t *len)
{
	uint32_t top = h[0], x = h[--*len], i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= *len)
			break;
		if (c + 1 < *len && h[c + 1] < h[c])
			c++;
		if (h[c] >= x)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*len)
		h[i] = x;
	return top;
}

/* Makes ascending ids topological again: Kahn's algorithm taking the
 * smallest ready old id first, so untouched parts keep their relative
 * order. A cursor sweeps the ids in order; only nodes that become ready
 * after the cursor passed them wait in a heap, which stays small when
 * most of the DAG is still in order. Then gathers nodes, results and
 * inputs (node by node) into arrays in the new order, and updates the
 * results' node fields, METHOD actor ids and ordering edges; refinalizes. */
static int renumber(dag *d)
{
	if (dag_finalize(d) == 0) /* edges of the rewritten DAG */
		return 0;         /* ids are still topological */
	uint32_t n = d->n;
	uint32_t *indeg = xmalloc((size_t)n * sizeof *indeg);
	uint32_t *pos = xmalloc((size_t)n * sizeof *pos);
	uint32_t *heap = xmalloc((size_t)n * sizeof *heap);
	uint32_t hlen = 0, next = 0, c = 0;
	for (uint32_t v = 0; v < n; v++)
		indeg[v] = d->pred_off[v + 1] - d->pred_off[v];
	for (;;) {
		while (c < n && indeg[c] != 0)
			c++; /* passed while not ready: goes to the heap when it is */
		uint32_t v;
		if (hlen && (c >= n || heap[0] < c))
			v = heap_pop(heap, &hlen);
		else if (c < n)
			v = c++;
		else
			break;
		pos[v] = next++;
		for (uint32_t e = d->succ_off[v]; e < d->succ_off[v + 1]; e++) {
			uint32_t w = d->succs[e];
			if (--indeg[w] == 0 && w < c)
				heap_push(heap, &hlen, w);
		}
	}
	free(heap);
	if (next != n) { /* a cycle: cannot come from a rewrite of a DAG */
		free(indeg);
		free(pos);
		return -1;
	}
	/* gather into new arrays in the new order (a scatter or cycle walk
	 * would miss the cache at every step); indeg becomes old id by new */
	uint32_t *old = indeg;
	for (uint32_t v = 0; v < n; v++)
		old[pos[v]] = v;
	dag_node *nodes = xmalloc((size_t)n * sizeof *nodes);
	value *fut = xmalloc((size_t)n * sizeof *fut);
	value *ins = xmalloc((size_t)d->nins * sizeof *ins);
	uint8_t *inreg = xmalloc((size_t)d->nins);
	uint32_t k = 0;
	for (uint32_t v = 0; v < n; v++) {
		dag_node *nd = &nodes[v];
		*nd = d->nodes[old[v]];
		fut[v] = d->fut[old[v]];
		memcpy(ins + k, d->ins + nd->in, nd->nin * sizeof *ins);
		memcpy(inreg + k, d->inreg + nd->in, nd->nin);
		nd->in = k;
		k += nd->nin;
		if (nd->kind == DAG_METHOD && nd->pc < n)
			nd->pc = pos[nd->pc];
		if (fut[v].t == V_FUTURE)
			((vfuture *)fut[v].as.o)->node = v;
		else if (fut[v].t == V_ACTOR)
			((vactor *)fut[v].as.o)->node = v;
	}
	free(old);
	dag_free_array(d, d->nodes); /* it may lie in d->arena */
	dag_free_array(d, d->fut);
	d->nodes = nodes;
	d->fut = fut;
	d->cap = n; /* dag_add grows them again if needed */
	dag_free_array(d, d->ins);
	dag_free_array(d, d->inreg);
	d->ins = ins;
	d->inreg = inreg;
	d->capins = d->nins; /* dag_add grows them again if needed */
	for (uint32_t e = 0; e < d->norder; e++)
		for (int i = 0; i < 2; i++)
			if (d->order[e][i] < n)
				d->order[e][i] = pos[d->order[e][i]];
	free(pos);
	return dag_finalize(d);
}

/* ---- the rewrite ---------------------------------------------------------- */

/* Rebuilds one tree. rootof: each node's tree root (itself if not
 * internal). ids: the tree's k internal node ids, ascending (the root,
 * the largest, last). row: scratch of k+1 values. Returns the depth. */
static uint32_t rebalance(dag *d, const uint32_t *rootof, uint32_t root, const uint32_t *ids,
                          uint32_t k, value *row)
{
	/* leaves in order (arg0's subtree, then arg1's), each held. The DFS
	 * stack grows down from the end of row while leaves fill it from the
	 * start: every stacked item still owns a leaf, so they never meet. */
	uint32_t top = k + 1, m = 0;
	row[--top] = d->fut[root];
	while (top <= k) {
		value x = row[top++];
		uint32_t r = ref_of(d, x);
		if (r != NONE && rootof[r] == root) {
			const dag_node *nd = &d->nodes[r];
			row[--top] = d->ins[nd->in + 1];
			row[--top] = d->ins[nd->in];
		} else {
			row[m++] = val_hold(x);
		}
	}
	/* reduce's tree: pair neighbours level by level, an odd last one is
	 * carried up; the t-th call made gets the t-th smallest id. Every
	 * item in row owns a reference, which moves into the new input; the
	 * old inputs are released (the leaves among them are held above). */
	uint32_t t = 0, levels = 0;
	while (m > 1) {
		uint32_t w = 0, i = 0;
		for (; i + 1 < m; i += 2, t++) {
			const dag_node *nd = &d->nodes[ids[t]];
			val_rele(d->ins[nd->in]);
			val_rele(d->ins[nd->in + 1]);
			d->ins[nd->in] = row[i];
			d->ins[nd->in + 1] = row[i + 1];
			row[w++] = val_hold(d->fut[ids[t]]);
		}
		if (i < m)
			row[w++] = row[i];
		m = w;
		levels++;
	}
	val_rele(row[0]); /* the root's own result */
	return levels;
}

int dag_rewrite_all(dag *d)
{
	uint32_t n = d->n;
	if (!d->pred_off || !d->preds)
		return -1;
	for (uint32_t v = 0; v < n; v++)
		for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++)
			if (d->preds[e] >= v)
				return -1;
	uint32_t *consumer = find_internal(d);
	/* per call: depth and size (internal nodes) of the tree below it;
	 * children have smaller ids, so one ascending pass */
	uint32_t *depth = xcalloc(n, sizeof *depth), *size = xcalloc(n, sizeof *size);
	for (uint32_t v = 0; v < n; v++) {
		if (!assoc2(d, v))
			continue;
		depth[v] = size[v] = 1;
		const dag_node *nd = &d->nodes[v];
		for (uint32_t j = 0; j < 2; j++) {
			uint32_t r = ref_of(d, d->ins[nd->in + j]);
			if (r != NONE && consumer[r] == v) {
				if (depth[r] + 1 > depth[v])
					depth[v] = depth[r] + 1;
				size[v] += size[r];
			}
		}
	}
	/* roots to rebuild: >= 3 calls and deeper than balanced */
	uint8_t *chosen = xcalloc(n, 1);
	uint32_t nchosen = 0, total = 0, maxk = 0;
	for (uint32_t v = 0; v < n; v++)
		if (size[v] >= 3 && consumer[v] == NONE && depth[v] > ceil_log2((uint64_t)size[v] + 1)) {
			chosen[v] = 1;
			nchosen++;
			total += size[v];
			if (size[v] > maxk)
				maxk = size[v];
		}
	if (!nchosen) {
		free(consumer);
		free(depth);
		free(size);
		free(chosen);
		return 0;
	}
	/* each tree's ids, ascending: the root of every node (top-down, in
	 * place of consumer, which is larger), then a counting sort by root */
	uint32_t *rootof = consumer;
	for (uint32_t v = n; v-- > 0;)
		rootof[v] = consumer[v] != NONE ? rootof[consumer[v]] : v;
	uint32_t *fill = xmalloc((size_t)n * sizeof *fill);
	uint32_t off = 0;
	for (uint32_t v = 0; v < n; v++)
		if (chosen[v]) {
			fill[v] = off;
			off += size[v];
		}
	uint32_t *ids = xmalloc((size_t)total * sizeof *ids);
	for (uint32_t v = 0; v < n; v++)
		if (chosen[rootof[v]])
			ids[fill[rootof[v]]++] = v;
	value *row = xmalloc(((size_t)maxk + 1) * sizeof *row);
	d->rewrites = realloc(d->rewrites, ((size_t)d->nrewrites + nchosen) * sizeof *d->rewrites);
	if (!d->rewrites)
		abort();
	for (uint32_t v = 0; v < n; v++) {
		if (!chosen[v])
			continue;
		uint32_t k = size[v];
		const uint32_t *tid = ids + (fill[v] - k);
		dag_rewrite *rw = &d->rewrites[d->nrewrites++];
		rw->where = d->nodes[v].where;
		rw->proto = d->nodes[v].proto;
		rw->calls = k;
		rw->depth_before = depth[v];
		rw->depth_after = rebalance(d, rootof, v, tid, k, row);
	}
	free(row);
	free(ids);
	free(fill);
	free(chosen);
	free(size);
	free(depth);
	free(consumer);
	return renumber(d) < 0 ? -1 : (int)nchosen;
}

void dag_explain(const dag *d, FILE *out)
{
	for (uint32_t i = 0; i < d->nrewrites; i++) {
		const dag_rewrite *rw = &d->rewrites[i];
		const char *path = d->prog->diag ? diag_source_path(d->prog->diag, rw->where.file) : NULL;
		const char *name = rw->proto < (uint32_t)d->prog->nprotos ? d->prog->protos[rw->proto]->name
		                                                          : "?";
		fprintf(out, "%s:%d:%d: rewrite: %u calls of '%s' rebalanced into a tree: depth %u -> %u\n",
		        path ? path : "<unknown>", rw->where.line, rw->where.col, rw->calls, name,
		        rw->depth_before, rw->depth_after);
	}
	if (d->nrewrites == 0)
		fputs("no rewrites\n", out);
	else
		fprintf(out, "%u rewrite%s\n", d->nrewrites, d->nrewrites == 1 ? "" : "s");
}
