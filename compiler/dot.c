/* dot.c - the DAG as Graphviz DOT (`flow dot`), with large fan-outs
 * collapsed, and rendering DOT through libgvc or the `dot` program.
 * The legend of shapes and edge styles is in dot.h and docs/dot.md.
 *
 * Collapsing: nodes are grouped in id order (a topological order) by
 * (kind, callee, instruction or actor group, source span, set of
 * predecessor groups with their edge kind). Identical independent calls
 * become one group, each level of a balanced reduce tree over them one
 * group, and a chain stays a chain because each link has a different
 * predecessor group, except a run of one call ordered only after the
 * previous one of the same (a loop of calls on one actor): one group
 * with a loop edge. A group's id is its first member's id. One hash
 * lookup per node and a sort of each node's predecessor list: near
 * linear in nodes + edges. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dot.h"
#include "lang/bytecode.h"
#include "lang/diag.h"
#include "lang/vm.h"

#ifdef FLOW_HAVE_GVC
#include "compiler/graphviz_load.h"
#include <gvc.h>
#endif

extern char **environ;

#define NONE UINT32_MAX

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		abort();
	return p;
}

/* ---- grouping ------------------------------------------------------------- */

typedef struct grouping {
	uint32_t *group;  /* per node: its group (first member's id) */
	uint32_t *size;   /* per group id: members (0: not a group's id) */
	uint32_t *extra;  /* per group: pc (IMPLICIT/EFFECT), actor group (METHOD) or NONE */
	uint32_t *koff, *klen; /* per group: its predecessor key in keys/kcnt */
	uint64_t *keys;   /* pred group << 1 | 1 if ordering-only; ascending */
	uint32_t *kcnt;   /* how many DAG edges each key entry stands for */
	size_t nkeys, capkeys;
	uint32_t *alias;  /* per node: the node drawn for it (an f-string's part), or NONE */
	/* edges into a folded driver loop's groups that are not in the
	 * group's key (from a later iteration back to an earlier node) */
	struct loop_edge { uint32_t to; uint32_t cnt; uint64_t key; } *lx;
	size_t nlx, caplx;
} grouping;

static void grouping_free(grouping *g)
{
	free(g->group);
	free(g->size);
	free(g->extra);
	free(g->koff);
	free(g->klen);
	free(g->keys);
	free(g->kcnt);
	free(g->alias);
	free(g->lx);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void sort_u64(uint64_t *v, uint32_t n)
{
	if (n > 16) {
		qsort(v, n, sizeof *v, cmp_u64);
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		uint64_t x = v[i];
		uint32_t j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static uint64_t mix(uint64_t h, uint64_t x)
{
	h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

static bool same_span(span a, span b)
{
	return a.file == b.file && a.line == b.line && a.col == b.col && a.end_line == b.end_line &&
	       a.end_col == b.end_col;
}

static uint32_t insn_op(const dag *d, uint32_t v)
{
	const dag_node *nd = &d->nodes[v];
	if (nd->kind != DAG_IMPLICIT)
		return OP__COUNT;
	const bc_proto *pr = dag_insn_proto(d, nd);
	return pr ? BC_OP(pr->code[nd->pc]) : OP__COUNT;
}

/* An f-string is lowered to str()/format() of each part and a concat of
 * them: the parts are drawn as the concat (one node per f-string). The
 * node drawn for v, or NONE. */
static uint32_t fstring_alias(const dag *d, uint32_t v)
{
	uint32_t op = insn_op(d, v);
	if (op != OP_TOSTR && op != OP_FORMAT)
		return NONE;
	if (d->succ_off[v + 1] - d->succ_off[v] != 1)
		return NONE;
	uint32_t w = d->succs[d->succ_off[v]];
	if (insn_op(d, w) != OP_CONCAT || d->nodes[w].where.file != d->nodes[v].where.file ||
	    d->nodes[w].where.line != d->nodes[v].where.line)
		return NONE;
	return w;
}

/* Same kind, callee, instruction or actor group, and source span. */
static bool same_site(const dag *d, const grouping *g, uint32_t c, const dag_node *nd,
                      uint32_t extra)
{
	const dag_node *cn = &d->nodes[c];
	return cn->kind == nd->kind && cn->proto == nd->proto && g->extra[c] == extra &&
	       same_span(cn->where, nd->where);
}

static uint64_t site_hash(const dag_node *nd, uint32_t extra)
{
	uint64_t h = mix(mix(mix(nd->kind, nd->proto), extra), (uint32_t)nd->where.file);
	h = mix(mix(h, (uint32_t)nd->where.line), (uint32_t)nd->where.col);
	return mix(mix(h, (uint32_t)nd->where.end_line), (uint32_t)nd->where.end_col);
}

/* A later iteration of a driver loop: v (its DAG predecessors preds[np],
 * order[j] set for an ordering-only edge) joins G, the group of the
 * first node of its site, when the loop's body has more than this one
 * site, no predecessor of the same site feeds it data (a chain of calls,
 * each on the last one's result, stays a chain; a reduce tree a tree),
 * and each predecessor is either made since G (inside the loop) or one
 * of G's own inputs. */
static bool loop_fold(const dag *d, const grouping *g, uint32_t G, const uint32_t *preds,
                      const uint8_t *order, uint32_t np)
{
	for (uint32_t j = 0; j < np; j++) {
		uint32_t p = preds[j];
		if (!order[j] && d->nodes[p].kind == d->nodes[G].kind && d->nodes[p].proto ==
		    d->nodes[G].proto && g->extra[g->group[p]] == g->extra[G] &&
		    same_span(d->nodes[p].where, d->nodes[G].where))
			return false;
		if (p >= G)
			continue;
		uint32_t pg = g->group[p];
		bool in = false;
		for (uint32_t e = 0; e < g->klen[G] && !in; e++)
			in = (uint32_t)(g->keys[g->koff[G] + e] >> 1) == pg;
		if (!in)
			return false;
	}
	return true;
}

static void add_loop_edge(grouping *g, uint32_t to, uint64_t key, uint32_t cnt)
{
	for (uint32_t e = 0; e < g->klen[to]; e++)
		if (g->keys[g->koff[to] + e] == key) {
			g->kcnt[g->koff[to] + e] += cnt;
			return;
		}
	if (g->nlx == g->caplx) {
		g->caplx = g->caplx ? g->caplx * 2 : 64;
		g->lx = xrealloc(g->lx, g->caplx * sizeof *g->lx);
	}
	g->lx[g->nlx++] = (struct loop_edge){to, cnt, key};
}

static int cmp_loop_edge(const void *a, const void *b)
{
	const struct loop_edge *x = a, *y = b;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Loop edges sorted by (to, key) with duplicates merged. */
static void merge_loop_edges(grouping *g)
{
	if (g->nlx == 0)
		return;
	qsort(g->lx, g->nlx, sizeof *g->lx, cmp_loop_edge);
	size_t k = 0;
	for (size_t j = 0; j < g->nlx; j++) {
		if (k > 0 && g->lx[k - 1].to == g->lx[j].to && g->lx[k - 1].key == g->lx[j].key)
			g->lx[k - 1].cnt += g->lx[j].cnt;
		else
			g->lx[k++] = g->lx[j];
	}
	g->nlx = k;
}

/* Groups d's nodes into g. Returns -1 if an edge does not point back. */
static int group_nodes(const dag *d, bool full, grouping *g)
{
	uint32_t n = d->n;
	memset(g, 0, sizeof *g);
	g->group = xcalloc(n, sizeof *g->group);
	g->size = xcalloc(n, sizeof *g->size);
	g->extra = xcalloc(n, sizeof *g->extra);
	g->koff = xcalloc(n, sizeof *g->koff);
	g->klen = xcalloc(n, sizeof *g->klen);
	g->alias = xcalloc(n, sizeof *g->alias);
	for (uint32_t v = 0; v < n; v++) {
		for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++)
			if (d->preds[e] >= v)
				return -1;
		g->alias[v] = full ? NONE : fstring_alias(d, v);
	}
	/* room for any node's predecessors, an f-string's parts' included */
	size_t maxp = n ? d->pred_off[n] : 0;
	uint64_t *scratch = xcalloc(maxp, sizeof *scratch);
	uint32_t *mult = xcalloc(maxp, sizeof *mult);
	uint32_t *praw = xcalloc(maxp, sizeof *praw);
	uint8_t *praw_order = xcalloc(maxp, sizeof *praw_order);
	size_t nslot = 16;
	while (nslot < (size_t)n * 2)
		nslot *= 2;
	uint32_t *slot = NULL, *sslot = NULL, *sg = NULL, *run_start = NULL;
	if (!full) {
		slot = xcalloc(nslot, sizeof *slot);
		memset(slot, 0xff, nslot * sizeof *slot);
		sslot = xcalloc(nslot, sizeof *sslot); /* site -> its first node */
		memset(sslot, 0xff, nslot * sizeof *sslot);
		sg = xcalloc(n, sizeof *sg);               /* per node: its site's first node */
		run_start = xcalloc(n, sizeof *run_start); /* start of its run of one site */
	}
	for (uint32_t v = 0; v < n; v++) {
		const dag_node *nd = &d->nodes[v];
		if (g->alias[v] != NONE) {
			/* drawn as its f-string's concat; no group of its own */
			g->group[v] = g->alias[v];
			if (sg) {
				sg[v] = v;
				run_start[v] = v;
			}
			continue;
		}
		uint32_t extra = NONE;
		if (nd->kind == DAG_IMPLICIT || nd->kind == DAG_EFFECT)
			extra = nd->pc;
		else if (nd->kind == DAG_METHOD && nd->pc < v && d->nodes[nd->pc].kind == DAG_ACTOR)
			extra = g->group[nd->pc];
		/* the predecessor key: (group, ordering-only) pairs with counts.
		 * An ordering edge from a group of the same call (a loop of calls
		 * on one actor, each after the last) is "the previous one of the
		 * same": so such a run is one group, drawn with a loop, not a
		 * chain of a thousand nodes. An f-string's parts stand for
		 * their own inputs. */
		uint32_t np = 0, nraw = 0;
		for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++) {
			uint32_t p = d->preds[e];
			uint32_t from = e, to = e + 1;
			if (g->alias[p] == v) {
				from = d->pred_off[p];
				to = d->pred_off[p + 1];
			}
			for (uint32_t f = from; f < to; f++) {
				uint32_t q = from == e ? p : d->preds[f];
				bool order = d->pred_order[f];
				praw_order[nraw] = order;
				praw[nraw++] = q;
				uint32_t pg = g->group[q];
				const dag_node *pn = &d->nodes[pg];
				if (!full && order && pn->kind == nd->kind && pn->proto == nd->proto &&
				    g->extra[pg] == extra && same_span(pn->where, nd->where))
					pg = NONE;
				scratch[np++] = (uint64_t)pg << 1 | (order ? 1 : 0);
			}
		}
		sort_u64(scratch, np);
		uint32_t k = 0;
		for (uint32_t j = 0; j < np; j++) {
			if (k > 0 && scratch[k - 1] == scratch[j]) {
				mult[k - 1]++;
				continue;
			}
			scratch[k] = scratch[j];
			mult[k++] = 1;
		}
		uint32_t found = NONE;
		size_t at = 0, sat = 0;
		/* every actor is drawn on its own: its calls are told apart */
		bool alone = nd->kind == DAG_ACTOR;
		if (!full && !alone) {
			uint64_t h = site_hash(nd, extra);
			for (uint32_t j = 0; j < k; j++)
				h = mix(h, scratch[j]);
			for (at = h & (nslot - 1); slot[at] != NONE; at = (at + 1) & (nslot - 1)) {
				uint32_t c = slot[at];
				if (same_site(d, g, c, nd, extra) && g->klen[c] == k &&
				    (k == 0 || memcmp(g->keys + g->koff[c], scratch, k * sizeof *scratch) == 0)) {
					found = c;
					break;
				}
			}
		}
		if (!full) {
			uint32_t first = NONE;
			for (sat = site_hash(nd, extra) & (nslot - 1); sslot[sat] != NONE;
			     sat = (sat + 1) & (nslot - 1))
				if (same_site(d, g, sslot[sat], nd, extra)) {
					first = sslot[sat];
					break;
				}
			sg[v] = first != NONE ? first : v;
			run_start[v] = v > 0 && sg[v - 1] == sg[v] ? run_start[v - 1] : v;
			if (first == NONE && !alone)
				sslot[sat] = v;
			uint32_t G = first != NONE ? g->group[first] : NONE;
			/* a later iteration of a driver loop whose body has more
			 * than this site: into the first iteration's group */
			bool one_site = G != NONE && (v - 1 == first || (sg[v - 1] == first &&
			                                                 run_start[v - 1] <= first));
			if (found == NONE && G != NONE && G == first && !alone && !one_site &&
			    loop_fold(d, g, G, praw, praw_order, nraw)) {
				g->group[v] = G;
				g->size[G]++;
				for (uint32_t j = 0; j < k; j++)
					add_loop_edge(g, G, scratch[j], mult[j]);
				continue;
			}
		}
		if (found != NONE) {
			g->group[v] = found;
			g->size[found]++;
			for (uint32_t j = 0; j < k; j++)
				g->kcnt[g->koff[found] + j] += mult[j];
			continue;
		}
		/* a new group */
		if (!full && !alone)
			slot[at] = v;
		g->group[v] = v;
		g->size[v] = 1;
		g->extra[v] = extra;
		if (g->nkeys + k > g->capkeys) {
			while (g->nkeys + k > g->capkeys)
				g->capkeys = g->capkeys ? g->capkeys * 2 : 1024;
			g->keys = xrealloc(g->keys, g->capkeys * sizeof *g->keys);
			g->kcnt = xrealloc(g->kcnt, g->capkeys * sizeof *g->kcnt);
		}
		g->koff[v] = (uint32_t)g->nkeys;
		g->klen[v] = k;
		if (k) {
			memcpy(g->keys + g->nkeys, scratch, k * sizeof *scratch);
			memcpy(g->kcnt + g->nkeys, mult, k * sizeof *mult);
			g->nkeys += k;
		}
	}
	merge_loop_edges(g);
	free(slot);
	free(sslot);
	free(sg);
	free(run_start);
	free(scratch);
	free(mult);
	free(praw);
	free(praw_order);
	return 0;
}

/* ---- writing -------------------------------------------------------------- */

/* s inside a DOT quoted string: quotes and backslashes escaped, a newline
 * as DOT's \n, other control bytes and invalid UTF-8 as '?'. */
static void put_escaped(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	const unsigned char *end = s + strlen((const char *)s);
	while (*s) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c == '\t') {
			fputc(' ', out);
		} else if (c < 0x20 || c == 0x7f) {
			fputc('?', out);
		} else if (c >= 0x80) {
			size_t len = str_utf8_seq_len((const char *)s, (size_t)(end - s));
			if (len == 0) {
				fputc('?', out);
			} else {
				fwrite(s, 1, len, out);
				s += len;
				continue;
			}
		} else {
			fputc(c, out);
		}
		s++;
	}
}

static const char *kind_attrs(int kind, bool many)
{
	switch (kind) {
	case DAG_TASK: return many ? "shape=box, style=\"rounded,bold\"" : "shape=box, style=rounded";
	case DAG_ACTOR: return "shape=box3d";
	case DAG_METHOD: return "shape=ellipse";
	case DAG_IMPLICIT: return "shape=oval, style=dashed, fontsize=10";
	case DAG_EFFECT: return "shape=note";
	case DAG_PUT: return "shape=cylinder";
	case DAG_CONT: return "shape=cds, style=bold";
	default: return "shape=box";
	}
}

/* The same attributes with "filled" added to the style (a decorated node). */
static void kind_attrs_filled(FILE *out, int kind, bool many, const char *fill)
{
	const char *shape = "box", *style = "filled", *more = "";
	switch (kind) {
	case DAG_TASK: style = many ? "rounded,bold,filled" : "rounded,filled"; break;
	case DAG_ACTOR: shape = "box3d"; break;
	case DAG_METHOD: shape = "ellipse"; break;
	case DAG_IMPLICIT: shape = "oval"; style = "dashed,filled"; more = ", fontsize=10"; break;
	case DAG_EFFECT: shape = "note"; break;
	case DAG_PUT: shape = "cylinder"; break;
	case DAG_CONT: shape = "cds"; style = "bold,filled"; break;
	default: break;
	}
	fprintf(out, "shape=%s, style=\"%s\", fillcolor=\"", shape, style);
	put_escaped(out, fill);
	fprintf(out, "\"%s", more);
}

/* A group's members: per group id, its member node ids ascending. */
typedef struct members {
	uint32_t *off, *ids;
} members;

static void write_node(const dag *d, const grouping *g, uint32_t id, const char *indent,
                       const dot_opts *o, const members *m, FILE *out)
{
	char buf[128];
	const dag_node *nd = &d->nodes[id];
	dot_decor dec;
	memset(&dec, 0, sizeof dec);
	if (o && o->decorate)
		o->decorate(o->ctx, d, m->ids + m->off[id], m->off[id + 1] - m->off[id], &dec);
	fprintf(out, "%sn%u [label=\"", indent, id);
	const char *lab = dag_label(d, id, buf, sizeof buf);
	size_t ll = strlen(lab);
	/* a method call on a value (".join()"): its name, without a "()" that
	 * reads as a stray parenthesis in a small oval */
	if (nd->kind == DAG_IMPLICIT && lab == buf && ll > 3 && lab[0] == '.' &&
	    strcmp(lab + ll - 2, "()") == 0)
		buf[ll - 2] = 0;
	put_escaped(out, lab);
	const char *path = d->prog->diag ? diag_source_path(d->prog->diag, nd->where.file) : NULL;
	if (path) {
		fputs("\\n", out);
		put_escaped(out, path);
		fprintf(out, ":%d", nd->where.line);
	}
	if (g->size[id] > 1)
		fprintf(out, "\\n\xc3\x97%u", g->size[id]); /* U+00D7 multiplication sign */
	if (dec.label[0]) {
		dec.label[sizeof dec.label - 1] = 0;
		fputs("\\n", out);
		put_escaped(out, dec.label);
	}
	fputs("\", ", out);
	if (dec.fill)
		kind_attrs_filled(out, nd->kind, g->size[id] > 1, dec.fill);
	else
		fputs(kind_attrs(nd->kind, g->size[id] > 1), out);
	fprintf(out, "%s];\n", g->size[id] > 1 ? ", peripheries=2" : "");
}

/* The edge standing for cnt DAG edges of kind key&1 from group key>>1
 * (NONE: the group itself) into group v. */
static void write_edge(FILE *out, uint64_t key, uint32_t cnt, uint32_t v)
{
	bool order = key & 1;
	uint32_t from = (uint32_t)(key >> 1);
	fprintf(out, "  n%u -> n%u", from == NONE ? v : from, v);
	if (order || cnt > 1) {
		fputs(" [", out);
		if (order)
			fputs("style=dashed, color=gray50", out);
		if (cnt > 1)
			/* xlabel: Graphviz 2.42 corrupts its heap laying out
			 * labelled edges between nodes of one rank */
			fprintf(out, "%sxlabel=\"\xc3\x97%u\"", order ? ", " : "", cnt);
		fputc(']', out);
	}
	fputs(";\n", out);
}

/* ---- the staged driver's calls --------------------------------------------- */

/* Scans proto p from pc on for the tasks and actor classes it calls, and
 * the fns it calls for theirs (each fn once: seen[]). Marks each callee's
 * first call site in site[] (proto index or nprotos + actor index) as
 * the place found first: the proto and pc packed, +1 (0: none). */
static void scan_calls(const bc_program *prog, const bc_proto *p, int pc, uint8_t *seen,
                       uint64_t *site)
{
	for (; pc < p->ncode; pc++) {
		uint32_t i = p->code[pc];
		int bx = BC_Bx(i), slot = -1;
		switch (BC_OP(i)) {
		case OP_CALLT:
			if (bx < prog->nprotos)
				slot = bx;
			break;
		case OP_NEWACTOR:
			if (bx < prog->nactors)
				slot = prog->nprotos + bx;
			break;
		case OP_CALLP:
			if (bx < prog->nprotos && !seen[bx]) {
				seen[bx] = 1;
				scan_calls(prog, prog->protos[bx], 0, seen, site);
			}
			break;
		default:
			break;
		}
		if (slot >= 0 && !site[slot])
			site[slot] = ((uint64_t)(uint32_t)(p->index + 1) << 32 | (uint32_t)pc) + 1;
	}
}

/* The calls the driver makes at run time, from its DAG_CONT node `cont`
 * on: how many there will be is known only then, so each task and actor
 * class its remaining code can call is drawn once, dashed, with the
 * place of its first call, an arrow from the "driver continues" node to
 * it; a task that yields is drawn as a stream. */
static void write_runtime_calls(const dag *d, uint32_t cont, FILE *out)
{
	const bc_program *prog = d->prog;
	uint32_t nslots = (uint32_t)prog->nprotos + (uint32_t)prog->nactors;
	if (!nslots)
		return;
	uint8_t *seen = xcalloc((size_t)prog->nprotos + 1, 1);
	uint64_t *site = xcalloc(nslots, sizeof *site);
	for (uint32_t f = 0; f < d->cont.nframes; f++) {
		const dag_cont_frame *fr = &d->cont.frames[f];
		const bc_proto *p = fr->proto == DAG_PROTO_DRIVER ? prog->driver
		                    : fr->proto < (uint32_t)prog->nprotos ? prog->protos[fr->proto]
		                                                         : NULL;
		if (p)
			scan_calls(prog, p, (int)fr->pc, seen, site);
	}
	for (uint32_t s = 0; s < nslots; s++) {
		if (!site[s])
			continue;
		uint64_t at = site[s] - 1;
		int pi = (int)(at >> 32) - 1;
		int pc = (int)(uint32_t)at;
		const bc_proto *caller = pi < 0 ? prog->driver : prog->protos[pi];
		span where = caller->lines ? caller->lines[pc] : caller->where;
		bool actor = s >= (uint32_t)prog->nprotos;
		const bc_proto *task = actor ? NULL : prog->protos[s];
		bool stream = task && bc_proto_yields(task);
		fprintf(out, "  r%u [label=\"", s);
		put_escaped(out, actor ? prog->actors[s - (uint32_t)prog->nprotos]->name : task->name);
		if (stream)
			fputs(" \xe2\x86\x92 stream", out); /* U+2192 rightwards arrow */
		const char *path = prog->diag ? diag_source_path(prog->diag, where.file) : NULL;
		if (path) {
			fputs("\\n", out);
			put_escaped(out, path);
			fprintf(out, ":%d", where.line);
		}
		fprintf(out, "\\nat run time\", %s];\n",
		        actor    ? "shape=box3d, style=dashed"
		        : stream ? "shape=box, style=\"rounded,dashed\", penwidth=2"
		                 : "shape=box, style=\"rounded,dashed\"");
		fprintf(out, "  n%u -> r%u [style=dashed, color=gray50];\n", cont, s);
	}
	free(seen);
	free(site);
}

int dag_write_dot(const dag *d, const dot_opts *o, FILE *out)
{
	const char *rankdir = o && o->rankdir ? o->rankdir : "TB";
	if (strcmp(rankdir, "TB") != 0 && strcmp(rankdir, "LR") != 0 &&
	    strcmp(rankdir, "BT") != 0 && strcmp(rankdir, "RL") != 0)
		return -1;
	if (!d->pred_off && d->n > 0)
		return -1;
	grouping g;
	if (group_nodes(d, o && o->full, &g) != 0) {
		grouping_free(&g);
		return -1;
	}
	uint32_t n = d->n;
	/* method groups of each actor group, ascending: pushed in reverse */
	uint32_t *mfirst = xcalloc(n, sizeof *mfirst), *mnext = xcalloc(n, sizeof *mnext);
	memset(mfirst, 0xff, (size_t)n * sizeof *mfirst);
	for (uint32_t v = n; v-- > 0;) {
		if (g.size[v] && d->nodes[v].kind == DAG_METHOD && g.extra[v] != NONE) {
			mnext[v] = mfirst[g.extra[v]];
			mfirst[g.extra[v]] = v;
		}
	}
	/* each group's members, for the decoration hook (a counting sort) */
	members m = {NULL, NULL};
	if (o && o->decorate) {
		m.off = xcalloc((size_t)n + 1, sizeof *m.off);
		m.ids = xcalloc(n, sizeof *m.ids);
		for (uint32_t v = 0; v < n; v++)
			if (g.alias[v] == NONE)
				m.off[g.group[v] + 1]++;
		for (uint32_t v = 0; v < n; v++)
			m.off[v + 1] += m.off[v];
		uint32_t *fill = xcalloc(n, sizeof *fill);
		for (uint32_t v = 0; v < n; v++)
			if (g.alias[v] == NONE)
				m.ids[m.off[g.group[v]] + fill[g.group[v]]++] = v;
		free(fill);
	}
	/* an actor's cluster is labelled by creation order within its class */
	uint32_t *nth = xcalloc(d->prog->nactors, sizeof *nth);
	fprintf(out, "digraph flow {\n  rankdir=%s;\n", rankdir);
	fputs("  fontname=\"Helvetica\";\n"
	      "  node [fontname=\"Helvetica\", fontsize=12];\n"
	      "  edge [fontname=\"Helvetica\", fontsize=10];\n", out);
	for (uint32_t v = 0; v < n; v++) {
		if (!g.size[v])
			continue;
		const dag_node *nd = &d->nodes[v];
		if (nd->kind == DAG_METHOD && g.extra[v] != NONE)
			continue; /* written in its actor's cluster */
		if (nd->kind != DAG_ACTOR) {
			write_node(d, &g, v, "  ", o, &m, out);
			continue;
		}
		fprintf(out, "  subgraph cluster_actor%u {\n    label=\"", v);
		put_escaped(out, d->prog->actors[nd->proto]->name);
		fprintf(out, " #%u\";\n    style=rounded;\n    color=gray60;\n", ++nth[nd->proto]);
		write_node(d, &g, v, "    ", o, &m, out);
		for (uint32_t mm = mfirst[v]; mm != NONE; mm = mnext[mm])
			write_node(d, &g, mm, "    ", o, &m, out);
		fputs("  }\n", out);
	}
	/* one edge per (group, predecessor group, edge kind), in id order;
	 * then a folded loop's edges back from later iterations */
	size_t lx = 0;
	for (uint32_t v = 0; v < n; v++) {
		if (!g.size[v])
			continue;
		for (uint32_t j = 0; j < g.klen[v]; j++)
			write_edge(out, g.keys[g.koff[v] + j], g.kcnt[g.koff[v] + j], v);
		for (; lx < g.nlx && g.lx[lx].to == v; lx++)
			write_edge(out, g.lx[lx].key, g.lx[lx].cnt, v);
	}
	/* a run's picture (--dot-out) has the calls the driver made instead */
	int64_t cont = dag_cont_node(d);
	if (cont >= 0 && !(o && o->decorate) && g.size[cont])
		write_runtime_calls(d, (uint32_t)cont, out);
	fputs("}\n", out);
	free(nth);
	free(mfirst);
	free(mnext);
	free(m.off);
	free(m.ids);
	grouping_free(&g);
	return ferror(out) ? -1 : 0;
}

/* ---- rendering ------------------------------------------------------------ */

static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(err, fmt, ap) < 0)
			*err = NULL;
		va_end(ap);
	}
	return -1;
}

#define NOT_INSTALLED "Graphviz is not installed: apt-get install graphviz"

static int write_file(const char *dot, size_t len, const char *path, char **err)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return fail(err, "cannot open '%s': %s", path, strerror(errno));
	size_t w = fwrite(dot, 1, len, f);
	if (fclose(f) != 0 || w != len)
		return fail(err, "cannot write '%s'", path);
	return 0;
}

/* Trailing newlines off a message. */
static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = 0;
}

/* Graphviz said something while it rendered (a warning: it went on):
 * out_path is not trusted. */
static int warned(const char *out_path, const char *msg, char **err)
{
	remove(out_path);
	return fail(err, "Graphviz could not draw it as asked: %s", msg);
}

int dot_render_program(const char *dot, size_t len, const char *format, const char *out_path,
                       const char *program, char **err)
{
	if (err)
		*err = NULL;
	if (!format || !out_path || !program)
		return fail(err, "rendering needs a format, an output file and a program");
	int in[2], er[2];
	if (pipe2(in, O_CLOEXEC) != 0)
		return fail(err, "cannot run %s: %s", program, strerror(errno));
	if (pipe2(er, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return fail(err, "cannot run %s: %s", program, strerror(errno));
	}
	char tflag[32];
	snprintf(tflag, sizeof tflag, "-T%s", format);
	char *argv[] = { (char *)program, tflag, (char *)"-o", (char *)out_path, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, er[1], 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, program, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(er[1]);
	if (rc != 0) {
		close(in[1]);
		close(er[0]);
		if (rc == ENOENT)
			return fail(err, NOT_INSTALLED);
		return fail(err, "cannot run %s: %s", program, strerror(rc));
	}
	/* feed stdin while draining stderr, so neither pipe can block us;
	 * a program that exits early must not kill us with SIGPIPE */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	char msg[2048];
	size_t nmsg = 0, off = 0;
	bool in_open = true, er_open = true;
	while (in_open || er_open) {
		struct pollfd p[2];
		int np = 0;
		if (in_open)
			p[np++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		if (er_open)
			p[np++] = (struct pollfd){ .fd = er[0], .events = POLLIN };
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == in[1]) {
				ssize_t w = off < len ? write(in[1], dot + off, len - off) : 0;
				if (w > 0)
					off += (size_t)w;
				if (off >= len || (w < 0 && errno != EAGAIN && errno != EINTR)) {
					close(in[1]);
					in_open = false;
				}
			} else {
				char buf[1024];
				ssize_t r = read(er[0], buf, sizeof buf);
				if (r > 0) {
					size_t take = (size_t)r < sizeof msg - 1 - nmsg ? (size_t)r : sizeof msg - 1 - nmsg;
					memcpy(msg + nmsg, buf, take);
					nmsg += take;
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					close(er[0]);
					er_open = false;
				}
			}
		}
	}
	if (in_open)
		close(in[1]);
	if (er_open)
		close(er[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGPIPE, &old, NULL);
	msg[nmsg] = 0;
	chomp(msg);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return nmsg ? warned(out_path, msg, err) : 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return fail(err, NOT_INSTALLED);
	if (WIFEXITED(st))
		return fail(err, "%s -T%s failed (exit status %d)%s%s", program, format, WEXITSTATUS(st),
		            nmsg ? ": " : "", msg);
	return fail(err, "%s -T%s was killed by signal %d", program, format,
	            WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

#ifdef FLOW_HAVE_GVC
/* cgraph reports errors through one process-wide callback */
static char gv_msg[2048];
static size_t gv_nmsg;

static int gv_collect(char *m)
{
	size_t n = strlen(m);
	if (n > sizeof gv_msg - 1 - gv_nmsg)
		n = sizeof gv_msg - 1 - gv_nmsg;
	memcpy(gv_msg + gv_nmsg, m, n);
	gv_nmsg += n;
	gv_msg[gv_nmsg] = 0;
	return 0;
}

/* The cairo renderer cannot make a bitmap wider or taller than this; it
 * scales the picture down to a blank strip, saying so only on stderr. */
#define BITMAP_MAX_PX 32767.0

/* After layout: a PNG past the bitmap limit is refused (at Graphviz's
 * 96 dpi; the layout is in points). Returns true with *err set. */
static bool too_large(Agraph_t *g, const char *format, char **err)
{
	if (strcmp(format, "png") != 0)
		return false;
	boxf bb = GD_bb(g);
	double w = (bb.UR.x - bb.LL.x) * 96.0 / 72.0, h = (bb.UR.y - bb.LL.y) * 96.0 / 72.0;
	if (w <= BITMAP_MAX_PX && h <= BITMAP_MAX_PX)
		return false;
	fail(err, "the picture would be %.0f x %.0f pixels, more than a PNG can hold (%.0f); "
	     "draw it as svg or pdf", w, h, BITMAP_MAX_PX);
	return true;
}

static int render_gvc(const char *dot, size_t len, const char *format, const char *out_path,
                      char **err)
{
	gv_nmsg = 0;
	gv_msg[0] = 0;
	agusererrf olderr = agseterrf(gv_collect);
	char *text = xcalloc(len + 1, 1);
	memcpy(text, dot, len);
	int rc = -1;
	GVC_t *gvc = gvContext();
	Agraph_t *g = gvc ? agmemread(text) : NULL;
	/* open the output ourselves: Graphviz exits the process if it cannot */
	FILE *f = NULL;
	if (!gvc) {
		/* kept only if the dot program is missing too (dot_render) */
		const char *why = graphviz_load_error();
		if (*why)
			fail(err, "drawing %s needs Graphviz: its library (package libgvc6) or its dot "
			     "program (package graphviz), and neither is here: %s; apt-get install "
			     "graphviz", format, why);
		else
			fail(err, "Graphviz's library was loaded but could not start (gvContext)");
	} else if (!g) {
		chomp(gv_msg);
		fail(err, "Graphviz cannot read the DOT%s%s", gv_nmsg ? ": " : "", gv_msg);
	} else if (!(f = fopen(out_path, "wb"))) {
		fail(err, "cannot open '%s': %s", out_path, strerror(errno));
	} else if (gvLayout(gvc, g, "dot") != 0) {
		chomp(gv_msg);
		fail(err, "Graphviz layout failed%s%s", gv_nmsg ? ": " : "", gv_msg);
	} else if (too_large(g, format, err)) {
		rc = -2; /* refused: the program would draw the same */
		gvFreeLayout(gvc, g);
	} else {
		if (gvRender(gvc, g, format, f) != 0) {
			chomp(gv_msg);
			fail(err, "Graphviz cannot render %s%s%s", format, gv_nmsg ? ": " : "", gv_msg);
		} else {
			rc = 0;
		}
		gvFreeLayout(gvc, g);
	}
	if (f && fclose(f) != 0 && rc == 0)
		rc = fail(err, "cannot write '%s'", out_path);
	if (g)
		agclose(g);
	if (gvc)
		gvFreeContext(gvc);
	agseterrf(olderr);
	free(text);
	return rc;
}
#endif

const char *dot_format_of_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	if (!dot || dot == base)
		return ""; /* no extension (or a hidden file's name) */
	static const char *const ext[][2] = {
		{".svg", "svg"}, {".png", "png"}, {".pdf", "pdf"}, {".dot", "dot"}, {".gv", "dot"},
	};
	for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++)
		if (strcasecmp(dot, ext[k][0]) == 0)
			return ext[k][1];
	return NULL;
}

uint32_t dot_count_nodes(const char *dot, size_t len)
{
	/* the writer puts each node on a line of its own: "  nID [label=" */
	uint32_t n = 0;
	const char *p = dot, *end = dot + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		while (p < e && *p == ' ')
			p++;
		if (p < e && *p == 'n') {
			const char *q = p + 1;
			while (q < e && *q >= '0' && *q <= '9')
				q++;
			if (q > p + 1 && (size_t)(e - q) >= 8 && memcmp(q, " [label=", 8) == 0)
				n++;
		}
		p = nl ? nl + 1 : end;
	}
	return n;
}

int dot_render(const char *dot, size_t len, const char *format, const char *out_path, char **err)
{
	if (err)
		*err = NULL;
	if (!format || (strcmp(format, "svg") != 0 && strcmp(format, "png") != 0 &&
	                strcmp(format, "pdf") != 0 && strcmp(format, "dot") != 0))
		return fail(err, "unknown output format '%s' (use svg, png, pdf or dot)",
		            format ? format : "");
	if (!out_path || !*out_path)
		return fail(err, "rendering %s needs an output file (-o FILE)", format);
	if (strcmp(format, "dot") == 0)
		return write_file(dot, len, out_path, err);
	uint32_t nodes = dot_count_nodes(dot, len);
	if (nodes > DOT_RENDER_MAX_NODES)
		return fail(err, "the picture would have %u nodes, more than Graphviz can draw "
		            "readably (at most %d)", nodes, DOT_RENDER_MAX_NODES);
#ifdef FLOW_HAVE_GVC
	char *gverr = NULL;
	int grc = render_gvc(dot, len, format, out_path, &gverr);
	if (grc == 0) {
		if (gv_nmsg == 0)
			return 0;
		chomp(gv_msg);
		free(gverr);
		return warned(out_path, gv_msg, err);
	}
	if (grc == -2) {
		remove(out_path);
		if (err)
			*err = gverr;
		else
			free(gverr);
		return -1;
	}
	/* the library may lack a plugin the program has; keep its message
	 * if the program is not there either */
	char *perr = NULL;
	if (dot_render_program(dot, len, format, out_path, "dot", &perr) == 0) {
		free(gverr);
		return 0;
	}
	if (perr && strcmp(perr, NOT_INSTALLED) == 0) {
		free(perr);
		if (err)
			*err = gverr;
		else
			free(gverr);
		return -1;
	}
	free(gverr);
	if (err)
		*err = perr;
	else
		free(perr);
	return -1;
#else
	return dot_render_program(dot, len, format, out_path, "dot", err);
#endif
}
