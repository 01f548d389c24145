/* load.c - the loader: reads the main file and, recursively, the files it
 * imports (each once, cycles reported), then runs the resolver over all. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parse.h"
#include "resolve_int.h"
#include "lang/native.h"

#define MAX_SOURCE_BYTES (256u << 20)

typedef struct lctx {
	rctx r;
	int capmods;
	int *stack; /* modules being loaded, outermost first */
	int nstack, capstack;
	int syntax_errors;
} lctx;

void loader_init(flow_loader *l, diag_ctx *d)
{
	memset(l, 0, sizeof *l);
	arena_init(&l->arena);
	l->diag = d;
}

void loader_fini(flow_loader *l)
{
	arena_free(&l->arena);
	l->modules = NULL;
	l->nmodules = 0;
	l->main = NULL;
}

/* Reads a whole file into a malloc'd buffer; errno set on failure. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	if (buf == NULL) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_SOURCE_BYTES) {
				free(buf);
				fclose(f);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				int e = errno ? errno : EIO;
				free(buf);
				fclose(f);
				errno = e;
				return NULL;
			}
			break;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Lexical normalisation: "a/./b/../c" -> "a/c"; leading ".." kept. */
static char *normalize(arena *a, const char *path)
{
	size_t n = strlen(path);
	char *out = arena_alloc(a, n + 2);
	const char **parts = arena_alloc(a, (n / 2 + 2) * sizeof *parts);
	size_t *plen = arena_alloc(a, (n / 2 + 2) * sizeof *plen);
	int np = 0;
	bool abs = path[0] == '/';
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t l = (size_t)(p - s);
		if (l == 0 || (l == 1 && s[0] == '.'))
			continue;
		if (l == 2 && s[0] == '.' && s[1] == '.' && np > 0 &&
		    !(plen[np - 1] == 2 && parts[np - 1][0] == '.' && parts[np - 1][1] == '.')) {
			np--;
			continue;
		}
		if (l == 2 && s[0] == '.' && s[1] == '.' && np == 0 && abs)
			continue;
		parts[np] = s;
		plen[np] = l;
		np++;
	}
	size_t k = 0;
	if (abs)
		out[k++] = '/';
	for (int i = 0; i < np; i++) {
		if (i)
			out[k++] = '/';
		memcpy(out + k, parts[i], plen[i]);
		k += plen[i];
	}
	if (k == 0)
		out[k++] = '.';
	out[k] = '\0';
	return out;
}

/* `what` relative to the directory of the importing file's path. */
static char *import_path(arena *a, const char *from, const char *what)
{
	if (what[0] == '/')
		return normalize(a, what);
	const char *slash = strrchr(from, '/');
	if (slash == NULL)
		return normalize(a, what);
	size_t dl = (size_t)(slash - from) + 1;
	size_t wl = strlen(what);
	char *joined = arena_alloc(a, dl + wl + 1);
	memcpy(joined, from, dl);
	memcpy(joined + dl, what, wl + 1);
	return normalize(a, joined);
}

static const char *file_key(arena *a, const char *display)
{
	char *rp = realpath(display, NULL);
	if (rp == NULL)
		return display;
	const char *k = arena_strdup(a, rp);
	free(rp);
	return k;
}

static const char *base_name(arena *a, const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b);
	if (n > 5 && strcmp(b + n - 5, ".flow") == 0)
		n -= 5;
	return arena_strndup(a, b, n);
}

static bool is_identifier(const char *s)
{
	if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int load_module(lctx *lc, const char *display, const char *key, const char *src,
                       size_t len);

/* Where a Python module a Ray user imports out of habit lives in Flow
 * (LANGUAGE.md section 9), or NULL. */
static const char *python_module_hint(const char *name)
{
	static const char *const hints[][2] = {
		{"ray", "Flow needs no 'ray' module: calling a task submits it, and get, wait and put are built in"},
		{"numpy", "arrays are the 'tensor' module (import tensor)"},
		{"np", "arrays are the 'tensor' module (import tensor)"},
		{"os", "the process's environment is in 'sys' (sys.env, sys.pid) and files in 'io'"},
		{"subprocess", "commands run through the 'proc' module (proc.run, proc.sh)"},
		{"socket", "the host's name is sys.hostname()"},
		{"platform", "the host's name is sys.hostname()"},
		{"csv", "CSV files are read and written by the 'io' module (io.read_csv, io.write_csv)"},
		{"json", "Flow has no JSON module; str.repr(v) writes a value as Flow prints it"},
		{"glob", "file patterns are matched by io.glob"},
		{"gzip", "io.read_csv and io.read_lines read '.gz' files transparently"},
		{"multiprocessing", "tasks run in parallel by themselves: calling a task submits it"},
	};
	return diag_hint(hints, sizeof hints / sizeof hints[0], name);
}

/* "'io', 'math', ..." from the one registration table. */
static const char *module_list(arena *a)
{
	const char *const *m = native_module_names();
	size_t n = 1;
	for (size_t i = 0; m[i]; i++)
		n += strlen(m[i]) + 4;
	char *out = arena_alloc(a, n), *w = out;
	*w = 0;
	for (size_t i = 0; m[i]; i++)
		w += sprintf(w, "%s'%s'", i ? ", " : "", m[i]);
	return out;
}

static void load_import(lctx *lc, int self, ast_decl *d)
{
	rctx *c = &lc->r;
	const char *what = d->u.import.what ? d->u.import.what : "";
	span at = d->where;
	if (!d->u.import.is_file) {
		if (native_module(what) == NULL) {
			span nat = d->name_where.line > 0 && !d->u.import.alias ? d->name_where : d->where;
			const char *s = diag_suggest(what, native_module_names(), 0);
			const char *py = python_module_hint(what);
			if (py)
				diag_error(c->d, nat, "unknown module '%s'; %s", what, py);
			else if (s)
				diag_error(c->d, nat, "unknown module '%s'; did you mean '%s'?", what, s);
			else
				diag_error(c->d, nat, "unknown module '%s'; the standard modules are %s", what,
				           module_list(c->a));
		}
		return;
	}
	const char *from = c->mods[self].m->path;
	const char *display = import_path(c->a, from, what);
	if (!d->u.import.alias && !is_identifier(base_name(c->a, display)))
		diag_error(c->d, at, "'%s' is not a name; import it with 'as NAME'",
		           base_name(c->a, display));
	const char *key = file_key(c->a, display);
	for (int i = 0; i < c->nmods; i++) {
		if (strcmp(c->mods[i].key, key) != 0)
			continue;
		if (c->mods[i].state == 1) {
			/* the chain from that module down to this one, and back */
			char chain[1024];
			size_t n = 0;
			chain[0] = '\0';
			int from_k = 0;
			for (int k = 0; k < lc->nstack; k++)
				if (lc->stack[k] == i)
					from_k = k;
			for (int k = from_k; k < lc->nstack; k++) {
				int w = snprintf(chain + n, sizeof chain - n, "%s -> ",
				                 c->mods[lc->stack[k]].m->path);
				if (w > 0 && (size_t)w < sizeof chain - n)
					n += (size_t)w;
			}
			snprintf(chain + n, sizeof chain - n, "%s", c->mods[i].m->path);
			diag_error(c->d, at, "import cycle: %s", chain);
			return;
		}
		d->u.import.target = c->mods[i].m;
		return;
	}
	size_t len;
	char *src = read_file(display, &len);
	if (src == NULL) {
		diag_error(c->d, at, "cannot read '%s': %s", display, strerror(errno));
		return;
	}
	int idx = load_module(lc, display, key, src, len);
	free(src);
	if (idx >= 0)
		d->u.import.target = c->mods[idx].m;
}

/* Text, as far as a parser should try: fewer than 8 NUL bytes and
 * invalid UTF-8 sequences (one stray byte gets its own error, with its
 * place, from the lexer). */
static bool looks_like_text(const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	int bad = 0;
	for (size_t i = 0; i < len && bad < 8;) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 2 : (c & 0xF0) == 0xE0 ? 3
		         : (c & 0xF8) == 0xF0 && c <= 0xF4 ? 4 : 0;
		for (size_t j = 1; k && j < k; j++)
			if (i + j >= len || (s[i + j] & 0xC0) != 0x80)
				k = 0;
		if (k == 0 || c == 0)
			bad++;
		i += k ? k : 1;
	}
	return bad < 8;
}

static int load_module(lctx *lc, const char *display, const char *key, const char *src,
                       size_t len)
{
	rctx *c = &lc->r;
	flow_loader *l = c->l;
	int before = c->d->nerrors;
	if (!looks_like_text(src, len)) {
		/* an ELF file would give hundreds of errors: one says it all */
		diag_error(c->d, (span){ .file = -1 }, "'%s' is not a text file (NUL bytes or "
		           "invalid UTF-8): not a Flow program", display);
		lc->syntax_errors++;
		return -1;
	}
	ast_module *m = parse_source(c->a, c->d, display, src, len);
	if (c->d->nerrors != before)
		lc->syntax_errors++;
	if (m == NULL)
		return -1;
	m->path = display;
	if (m->name == NULL)
		m->name = base_name(c->a, display);
	m->arena = c->a;
	for (int i = 0; i < m->ndecls; i++)
		if (m->decls[i] && m->decls[i]->module == NULL)
			m->decls[i]->module = m;

	if (c->nmods == lc->capmods) {
		int cap = lc->capmods ? lc->capmods * 2 : 8;
		c->mods = arena_grow_array(c->a, c->mods, sizeof *c->mods, (size_t)lc->capmods,
		                           (size_t)cap);
		l->modules = arena_grow_array(c->a, l->modules, sizeof *l->modules,
		                              (size_t)lc->capmods, (size_t)cap);
		lc->capmods = cap;
	}
	int idx = c->nmods++;
	memset(&c->mods[idx], 0, sizeof c->mods[idx]);
	c->mods[idx].m = m;
	c->mods[idx].key = key;
	c->mods[idx].state = 1;
	l->modules[idx] = m;
	l->nmodules = c->nmods;

	if (lc->nstack == lc->capstack) {
		int cap = lc->capstack ? lc->capstack * 2 : 8;
		lc->stack = arena_grow_array(c->a, lc->stack, sizeof *lc->stack, (size_t)lc->capstack,
		                             (size_t)cap);
		lc->capstack = cap;
	}
	lc->stack[lc->nstack++] = idx;
	for (int i = 0; i < m->ndecls; i++) {
		ast_decl *d = m->decls[i];
		if (d && d->kind == D_IMPORT)
			load_import(lc, idx, d);
	}
	lc->nstack--;
	c->mods[idx].state = 2;
	return idx;
}

int loader_load_source(flow_loader *l, const char *path, const char *src, size_t len,
                       const param_set *params, int nparams)
{
	lctx lc;
	memset(&lc, 0, sizeof lc);
	rctx *c = &lc.r;
	c->l = l;
	c->d = l->diag;
	c->a = &l->arena;
	int errors0 = c->d->nerrors;
	const char *display = arena_strdup(c->a, path);
	int idx = load_module(&lc, display, file_key(c->a, display), src, len);
	if (idx < 0 || lc.syntax_errors)
		return -1; /* checks over a broken tree would only add noise */
	l->main = c->mods[0].m;

	for (int i = 0; i < c->nmods; i++) {
		c->mi = &c->mods[i];
		resolve_build_module_table(c, &c->mods[i]);
	}
	c->mi = &c->mods[0];
	check_apply_param_sets(c, &c->mods[0], params, nparams);
	for (int i = 0; i < c->nmods; i++) {
		ast_module *m = c->mods[i].m;
		for (int k = 0; k < m->ndecls; k++) {
			ast_decl *d = m->decls[k];
			if (d && d->kind == D_PARAM && d->u.param.deflt == NULL)
				diag_error(c->d, d->name_where.line > 0 ? d->name_where : d->where,
				           i == 0 ? "param '%s' has no default; set it with -p %s=VALUE"
				                  : "param '%s' of an imported file needs a default%.0s",
				           d->name, d->name);
		}
	}
	for (int i = 0; i < c->nmods; i++)
		resolve_module(c, &c->mods[i]);
	return c->d->nerrors == errors0 ? 0 : -1;
}

int loader_load(flow_loader *l, const char *path, const param_set *params, int nparams)
{
	size_t len;
	char *src = read_file(path, &len);
	if (src == NULL) {
		diag_error(l->diag, (span){ .file = -1 }, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	int rc = loader_load_source(l, path, src, len, params, nparams);
	free(src);
	return rc;
}
