/* diag.c - diagnostics: collected on a context, sorted, printed gcc-style. */
#include "diag.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct diag_src {
	char *path;
	char *text;
	size_t len;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL) {
		fputs("flow: out of memory\n", stderr);
		abort();
	}
	return q;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xrealloc(NULL, n + 1);
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void diag_init(diag_ctx *d)
{
	memset(d, 0, sizeof *d);
	d->max_errors = 100;
}

void diag_fini(diag_ctx *d)
{
	for (int i = 0; i < d->nsrcs; i++) {
		free(d->srcs[i].path);
		free(d->srcs[i].text);
	}
	free(d->srcs);
	for (int i = 0; i < d->nmsgs; i++)
		free(d->msgs[i].text);
	free(d->msgs);
	memset(d, 0, sizeof *d);
}

int diag_add_source(diag_ctx *d, const char *path, const char *text, size_t len)
{
	if (d->nsrcs == d->capsrcs) {
		d->capsrcs = d->capsrcs ? d->capsrcs * 2 : 8;
		d->srcs = xrealloc(d->srcs, (size_t)d->capsrcs * sizeof *d->srcs);
	}
	struct diag_src *s = &d->srcs[d->nsrcs];
	s->path = xstrndup(path, strlen(path));
	s->text = xstrndup(text ? text : "", text ? len : 0);
	s->len = text ? len : 0;
	return d->nsrcs++;
}

const char *diag_source_path(const diag_ctx *d, int file)
{
	if (file < 0 || file >= d->nsrcs)
		return NULL;
	return d->srcs[file].path;
}

const char *diag_source_text(const diag_ctx *d, int file, size_t *len)
{
	if (file < 0 || file >= d->nsrcs)
		return NULL;
	if (len)
		*len = d->srcs[file].len;
	return d->srcs[file].text;
}

/* Notes belong to the error recorded just before them: when that error
 * was dropped by the max_errors cap, its notes are dropped too. */
void diag_verror(diag_ctx *d, diag_level lvl, span where, const char *fmt, va_list ap)
{
	if (lvl == DIAG_ERROR) {
		d->nerrors++;
		if (d->max_errors > 0 && d->nerrors > d->max_errors)
			return;
	} else if (lvl == DIAG_NOTE && d->max_errors > 0 && d->nerrors > d->max_errors) {
		return;
	}
	if (fmt == NULL)
		fmt = "";
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		n = 0;
	char *text = xrealloc(NULL, (size_t)n + 1);
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	if (d->nmsgs == d->capmsgs) {
		d->capmsgs = d->capmsgs ? d->capmsgs * 2 : 16;
		d->msgs = xrealloc(d->msgs, (size_t)d->capmsgs * sizeof *d->msgs);
	}
	d->msgs[d->nmsgs].level = lvl;
	d->msgs[d->nmsgs].where = where;
	d->msgs[d->nmsgs].text = text;
	d->nmsgs++;
}

void diag_error(diag_ctx *d, span where, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_verror(d, DIAG_ERROR, where, fmt, ap);
	va_end(ap);
}

void diag_note(diag_ctx *d, span where, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_verror(d, DIAG_NOTE, where, fmt, ap);
	va_end(ap);
}

/* ---- sorting: an error and the notes after it move as one group ---- */

typedef struct group {
	int first, count;
} group;

static int span_cmp(span a, span b)
{
	if (a.file != b.file)
		return a.file < b.file ? -1 : 1;
	if (a.line != b.line)
		return a.line < b.line ? -1 : 1;
	if (a.col != b.col)
		return a.col < b.col ? -1 : 1;
	return 0;
}

void diag_sort(diag_ctx *d)
{
	if (d->nmsgs < 2)
		return;
	group *g = xrealloc(NULL, (size_t)d->nmsgs * sizeof *g);
	int ng = 0;
	for (int i = 0; i < d->nmsgs; i++) {
		if (d->msgs[i].level == DIAG_NOTE && ng > 0) {
			g[ng - 1].count++;
		} else {
			g[ng].first = i;
			g[ng].count = 1;
			ng++;
		}
	}
	/* insertion sort keeps equal keys in recording order (stable) */
	for (int i = 1; i < ng; i++) {
		group x = g[i];
		int j = i - 1;
		while (j >= 0 && span_cmp(d->msgs[g[j].first].where, d->msgs[x.first].where) > 0) {
			g[j + 1] = g[j];
			j--;
		}
		g[j + 1] = x;
	}
	diag_msg *out = xrealloc(NULL, (size_t)d->nmsgs * sizeof *out);
	int k = 0;
	for (int i = 0; i < ng; i++)
		for (int j = 0; j < g[i].count; j++)
			out[k++] = d->msgs[g[i].first + j];
	free(d->msgs);
	free(g);
	d->msgs = out;
	d->capmsgs = d->nmsgs;
}

/* ---- printing ---------------------------------------------------------- */

/* A growable string local to this file (diag sits below value.c). */
typedef struct dbuf {
	char *p;
	size_t len, cap;
} dbuf;

static void db_add(dbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void db_adds(dbuf *b, const char *s) { db_add(b, s, strlen(s)); }

static void db_addc(dbuf *b, char c) { db_add(b, &c, 1); }

static void db_printf(dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void db_printf(dbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		db_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Finds line `line` (1-based) of a source; false if it has no such line
 * (a place just past the final newline has none to show). */
static bool find_line(const struct diag_src *s, int line, const char **start, size_t *len)
{
	if (line < 1)
		return false;
	const char *p = s->text, *end = s->text + s->len;
	for (int l = 1; l < line; l++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return false;
		p = nl + 1;
	}
	if (p == end)
		return false;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	*start = p;
	*len = n;
	return true;
}

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
	         : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (k == 0 || k > n || (k == 2 && c < 0xC2) || (k == 4 && c > 0xF4))
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if ((k == 3 && c == 0xE0 && s[1] < 0xA0) || (k == 4 && c == 0xF0 && s[1] < 0x90) ||
	    (k == 4 && c == 0xF4 && s[1] > 0x8F) || (k == 3 && c == 0xED && s[1] > 0x9F))
		return 0;
	return k;
}

/* A message or path as text a terminal shows as it is: control bytes
 * (ESC would drive the terminal) and invalid UTF-8 become \xHH. */
static void db_add_escaped(dbuf *b, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = strlen(text);
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		bool ctl = k == 1 && ((s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') || s[i] == 0x7f);
		if (k == 0 || ctl) {
			db_printf(b, "\\x%02x", s[i]);
			i++;
		} else {
			db_add(b, text + i, k);
			i += k;
		}
	}
}

static const char *level_name(diag_level l)
{
	switch (l) {
	case DIAG_ERROR: return "error";
	case DIAG_WARNING: return "warning";
	case DIAG_NOTE: return "note";
	}
	return "error";
}

static void format_one(const diag_ctx *d, dbuf *b, diag_level lvl, span w, const char *text)
{
	const struct diag_src *s = (w.file >= 0 && w.file < d->nsrcs) ? &d->srcs[w.file] : NULL;
	if (s == NULL) {
		db_printf(b, "flow: %s: ", level_name(lvl));
		db_add_escaped(b, text);
		db_addc(b, '\n');
		return;
	}
	db_add_escaped(b, s->path);
	db_printf(b, ":%d:%d: %s: ", w.line, w.col, level_name(lvl));
	db_add_escaped(b, text);
	db_addc(b, '\n');
	const char *ln;
	size_t n;
	if (!find_line(s, w.line, &ln, &n))
		return;
	db_printf(b, "%5d | ", w.line);
	/* control bytes (ESC, a lone CR, NUL) would drive the terminal: one
	 * '?' each, so the caret below still lines up */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)ln[i];
		db_addc(b, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c);
	}
	db_addc(b, '\n');
	db_adds(b, "      | ");
	size_t col = w.col > 0 ? (size_t)w.col - 1 : 0;
	/* keep tabs as tabs so the caret lines up with the source above */
	for (size_t i = 0; i < col; i++) {
		if (i < n && ((unsigned char)ln[i] & 0xC0) == 0x80)
			continue; /* one column per code point, not per byte */
		db_addc(b, i < n && ln[i] == '\t' ? '\t' : ' ');
	}
	db_addc(b, '^');
	size_t last; /* exclusive end column (0-based) on this line */
	if (w.end_line > w.line)
		last = n;
	else if (w.end_line == w.line && w.end_col > w.col)
		last = (size_t)w.end_col - 1;
	else
		last = col + 1;
	for (size_t i = col + 1; i < last; i++)
		if (i >= n || ((unsigned char)ln[i] & 0xC0) != 0x80)
			db_addc(b, '~');
	db_addc(b, '\n');
}

void diag_print(const diag_ctx *d, FILE *out)
{
	dbuf b = {0};
	for (int i = 0; i < d->nmsgs; i++) {
		b.len = 0;
		format_one(d, &b, d->msgs[i].level, d->msgs[i].where, d->msgs[i].text);
		fwrite(b.p, 1, b.len, out);
	}
	free(b.p);
	fflush(out);
}

char *diag_format(const diag_ctx *d, diag_level lvl, span where, const char *text)
{
	dbuf b = {0};
	format_one(d, &b, lvl, where, text ? text : "");
	return b.p;
}

/* ---- "did you mean" --------------------------------------------------- */

/* Damerau-Levenshtein (optimal string alignment) distance, capped: returns
 * cap + 1 as soon as the answer is known to exceed cap. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	if (la > 64 || lb > 64)
		return strcmp(a, b) == 0 ? 0 : cap + 1;
	size_t rows[3][65];
	size_t *pp = rows[0], *p = rows[1], *c = rows[2];
	for (size_t j = 0; j <= lb; j++)
		p[j] = j;
	for (size_t i = 1; i <= la; i++) {
		c[0] = i;
		size_t best = c[0];
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = p[j] + 1;
			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (p[j - 1] + cost < v)
				v = p[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
			if (v < best)
				best = v;
		}
		if (best > cap)
			return cap + 1;
		size_t *t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[lb];
}

/* "integer" for "int", "retry" for "retries": the shorter (3 letters or
 * more) is, but for its last letter, a prefix of the longer. */
static bool prefix_like(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	const char *s = la <= lb ? a : b, *l = la <= lb ? b : a;
	size_t ls = la <= lb ? la : lb;
	if (ls < 3)
		return false;
	size_t need = ls > 3 ? ls - 1 : ls;
	return strncmp(s, l, need) == 0;
}

const char *diag_suggest(const char *name, const char *const *cands, size_t ncands)
{
	if (name == NULL || cands == NULL)
		return NULL;
	size_t len = strlen(name);
	size_t cap = len / 3 > 1 ? len / 3 : 1;
	const char *best = NULL;
	size_t bestd = cap + 1;
	for (size_t i = 0; (ncands == 0 || i < ncands) && cands[i] != NULL; i++) {
		if (strcmp(cands[i], name) == 0)
			continue; /* the name itself is no suggestion */
		size_t dist = edit_distance(name, cands[i], cap);
		if (dist > cap && prefix_like(name, cands[i]))
			dist = cap + 1; /* accepted, but after every close edit */
		else if (dist > cap)
			continue;
		if (best == NULL || dist < bestd) {
			bestd = dist;
			best = cands[i];
		}
	}
	return best;
}

const char *diag_hint(const char *const (*pairs)[2], size_t npairs, const char *name)
{
	for (size_t i = 0; i < npairs; i++)
		if (strcmp(name, pairs[i][0]) == 0)
			return pairs[i][1];
	return NULL;
}
