/* native.c - the registry of natives (native.h): look-ups over the
 * registered table, and the parsed parameter lists of every native (built
 * once, on first use). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

/* The registered table; an empty one until native_register. Written once at
 * start, before any thread looks it up. */
static const native_table empty;
static const native_table *reg = &empty;
static const module_def *const no_modules[] = { NULL };

void native_register(const native_table *t)
{
	reg = t ? t : &empty;
}

static const module_def *const *modules_of(void)
{
	return reg->modules ? reg->modules : no_modules;
}

static const native_def *find(const native_def *t, const char *name)
{
	for (; t && t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

const module_def *native_module(const char *name)
{
	const module_def *const *modules = modules_of();
	for (int i = 0; modules[i]; i++)
		if (strcmp(modules[i]->name, name) == 0)
			return modules[i];
	return NULL;
}

const native_def *native_module_fn(const module_def *m, const char *name)
{
	return m ? find(m->fns, name) : NULL;
}

const const_def *native_module_const(const module_def *m, const char *name)
{
	if (!m || !m->consts)
		return NULL;
	for (const const_def *c = m->consts; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const native_def *native_builtin(const char *name)
{
	return find(reg->builtins, name);
}

static const native_def *methods_of(vtype t)
{
	return (int)t >= 0 && t < V__COUNT ? reg->methods[t] : NULL;
}

const native_def *native_method(vtype receiver, const char *name)
{
	return find(methods_of(receiver), name);
}

bool native_method_mutates(const char *name)
{
	const char *const *mut = reg->mutating;
	for (int i = 0; mut && mut[i]; i++)
		if (strcmp(mut[i], name) == 0)
			return true;
	return false;
}

/* ---- name lists and parsed params, built once ------------------------ */

typedef struct entry {
	const native_def *def;
	native_params p;
} entry;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static entry *entries;
static size_t nentries;
static const char **builtin_names;
static const char **module_names;
static const char **method_names[V__COUNT];
static const char *const no_names[] = { NULL };

/* The names a program may use: "__" names (__unpack) are the compiler's. */
static const char **names_of(const native_def *t)
{
	size_t n = 0;
	while (t && t[n].name)
		n++;
	const char **v = calloc(n + 1, sizeof *v);
	if (!v)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(t[i].name, "__", 2) != 0)
			v[k++] = t[i].name;
	return v;
}

static void bad_params(const native_def *d, const char *why)
{
	fprintf(stderr, "flow: internal error: native '%s' params \"%s\": %s\n",
	        d->name, d->params, why);
	abort();
}

/* One default literal: none true false ? ints floats "strings". */
static value parse_default(const native_def *d, const char *s, size_t n)
{
	char buf[64];
	if (n == 0 || n >= sizeof buf)
		bad_params(d, "bad default");
	memcpy(buf, s, n);
	buf[n] = 0;
	if (strcmp(buf, "none") == 0)
		return v_none();
	if (strcmp(buf, "true") == 0)
		return v_bool(true);
	if (strcmp(buf, "false") == 0)
		return v_bool(false);
	if (strcmp(buf, "?") == 0)
		return native_absent();
	if (buf[0] == '"') {
		if (n < 2 || buf[n - 1] != '"')
			bad_params(d, "unterminated string default");
		value v = str_new(buf + 1, n - 2);
		val_freeze(v); /* lives for the whole process */
		return v;
	}
	char *end;
	if (strpbrk(buf, ".eEin")) {
		double f = strtod(buf, &end);
		if (*end)
			bad_params(d, "bad float default");
		return v_float(f);
	}
	long long i = strtoll(buf, &end, 10);
	if (*end)
		bad_params(d, "bad int default");
	return v_int(i);
}

static void parse_params(const native_def *d, native_params *p)
{
	const char *s = d->params;
	memset(p, 0, sizeof *p);
	if (strcmp(s, "*") == 0) {
		p->n = -1;
		return;
	}
	while (*s) {
		if (p->n == NATIVE_MAX_PARAMS)
			bad_params(d, "too many parameters");
		const char *e = s;
		bool in_str = false;
		while (*e && (in_str || *e != ',')) {
			if (*e == '"')
				in_str = !in_str;
			e++;
		}
		const char *eq = memchr(s, '=', (size_t)(e - s));
		size_t nlen = eq ? (size_t)(eq - s) : (size_t)(e - s);
		if (nlen == 0)
			bad_params(d, "empty parameter name");
		p->names[p->n] = strndup(s, nlen);
		if (!p->names[p->n])
			abort();
		if (eq) {
			p->defaults[p->n] = parse_default(d, eq + 1, (size_t)(e - eq - 1));
		} else {
			if (p->n != p->nrequired)
				bad_params(d, "required parameter after an optional one");
			p->nrequired++;
		}
		p->n++;
		s = *e ? e + 1 : e;
	}
}

static int cmp_entry(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const entry *)a)->def;
	uintptr_t y = (uintptr_t)((const entry *)b)->def;
	return x < y ? -1 : x > y;
}

static void add_table(const native_def *t, size_t *cap)
{
	for (; t && t->name; t++) {
		if (nentries == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			entries = realloc(entries, *cap * sizeof *entries);
			if (!entries)
				abort();
		}
		entries[nentries].def = t;
		parse_params(t, &entries[nentries].p);
		nentries++;
	}
}

static void build(void)
{
	size_t cap = 0, nm = 0;
	const module_def *const *modules = modules_of();
	add_table(reg->builtins, &cap);
	for (int t = 0; t < V__COUNT; t++)
		add_table(reg->methods[t], &cap);
	for (int i = 0; modules[i]; i++, nm++)
		add_table(modules[i]->fns, &cap);
	if (nentries)
		qsort(entries, nentries, sizeof *entries, cmp_entry);

	builtin_names = names_of(reg->builtins);
	module_names = calloc(nm + 1, sizeof *module_names);
	if (!module_names)
		abort();
	for (size_t i = 0; i < nm; i++)
		module_names[i] = modules[i]->name;
	for (int t = 0; t < V__COUNT; t++)
		if (reg->methods[t])
			method_names[t] = names_of(reg->methods[t]);
}

const native_params *native_params_of(const native_def *d)
{
	pthread_once(&once, build);
	entry key = { .def = d };
	entry *e = nentries ? bsearch(&key, entries, nentries, sizeof *entries, cmp_entry) : NULL;
	return e ? &e->p : NULL;
}

const char *const *native_builtin_names(void)
{
	pthread_once(&once, build);
	return builtin_names;
}

const char *const *native_module_names(void)
{
	pthread_once(&once, build);
	return module_names;
}

const char *const *native_method_names(vtype receiver)
{
	pthread_once(&once, build);
	if ((int)receiver < 0 || receiver >= V__COUNT || !method_names[receiver])
		return no_names;
	return method_names[receiver];
}
