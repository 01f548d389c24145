/* resolve.c - name resolution over a loaded program: module tables, local
 * slots, refs on every name, and the checks that need scopes (unknown
 * names, assignments, self/return/break placement, calls and arity). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolve_int.h"
#include "lang/native.h"

/* ---- small helpers ---------------------------------------------------- */

/* A builtin a program may name: "__" names are the compiler's own
 * (__unpack), never the user's. */
static const native_def *user_builtin(const char *name)
{
	return strncmp(name, "__", 2) == 0 ? NULL : native_builtin(name);
}

/* The place just after a statement or expression: where a binding takes
 * effect. */
static void end_of(span s, int *line, int *col)
{
	if (s.end_line > 0) {
		*line = s.end_line;
		*col = s.end_col;
	} else {
		*line = s.line;
		*col = s.col;
	}
}

static bool before(int l1, int c1, int l2, int c2)
{
	return l1 < l2 || (l1 == l2 && c1 < c2);
}

static bool span_holds(span s, int line, int col)
{
	int el, ec;
	end_of(s, &el, &ec);
	return !before(line, col, s.line, s.col) && !before(el, ec, line, col);
}

const char *resolve_decl_kind_name(const ast_decl *d)
{
	switch (d->kind) {
	case D_IMPORT: return "module";
	case D_PARAM: return "param";
	case D_CONST: return "const";
	case D_FN: return "fn";
	case D_TASK: return "task";
	case D_ACTOR: return "actor";
	case D_STMT: return "statement";
	}
	return "name";
}

const char *resolve_import_binding(arena *a, const ast_decl *d)
{
	if (d->u.import.alias)
		return d->u.import.alias;
	if (d->name && !d->u.import.is_file)
		return d->name;
	const char *w = d->u.import.what ? d->u.import.what : "";
	if (!d->u.import.is_file)
		return w;
	const char *base = strrchr(w, '/');
	base = base ? base + 1 : w;
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".flow") == 0)
		n -= 5;
	return arena_strndup(a, base, n);
}

void resolve_names_add(rctx *c, names *ns, const char *s)
{
	if (s == NULL)
		return;
	if (ns->n + 1 >= ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 32;
		ns->v = arena_grow_array(c->a, ns->v, sizeof *ns->v, ns->cap, cap);
		ns->cap = cap;
	}
	ns->v[ns->n++] = s;
	ns->v[ns->n] = NULL;
}

static const char *suggest(names *ns, const char *name)
{
	return ns->n ? diag_suggest(name, ns->v, ns->n) : NULL;
}

/* Appends "; did you mean 'x'?" when there is a close name. */
void resolve_error_suggest(rctx *c, span where, const char *msg, const char *name, names *ns,
                          const char *prefix)
{
	const char *s = suggest(ns, name);
	if (s)
		diag_error(c->d, where, "%s; did you mean '%s%s'?", msg, prefix, s);
	else
		diag_error(c->d, where, "%s", msg);
}

/* ---- string maps -------------------------------------------------------- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int sm_get(const strmap *m, const char *key)
{
	if (m->cap == 0)
		return -1;
	for (size_t i = str_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == NULL)
			return -1;
		if (strcmp(m->keys[i], key) == 0)
			return m->vals[i];
	}
}

/* Adds key -> val unless key is there already (the first one stays). */
static void sm_put(arena *a, strmap *m, const char *key, int val)
{
	if ((m->n + 1) * 2 > m->cap) {
		strmap g = { 0 };
		g.cap = m->cap ? m->cap * 2 : 16;
		g.keys = arena_alloc(a, g.cap * sizeof *g.keys);
		g.vals = arena_alloc(a, g.cap * sizeof *g.vals);
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i])
				sm_put(a, &g, m->keys[i], m->vals[i]);
		*m = g;
	}
	size_t i = str_hash(key) & (m->cap - 1);
	while (m->keys[i] != NULL) {
		if (strcmp(m->keys[i], key) == 0)
			return;
		i = (i + 1) & (m->cap - 1);
	}
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
}

/* ---- module tables ---------------------------------------------------- */

modinfo *resolve_mod_info(rctx *c, const ast_module *m)
{
	for (int i = 0; i < c->nmods; i++)
		if (c->mods[i].m == m)
			return &c->mods[i];
	return NULL;
}

msym *resolve_mod_find(modinfo *mi, const char *name)
{
	int i = sm_get(&mi->index, name);
	return i < 0 ? NULL : &mi->syms[i];
}

void resolve_mod_add(rctx *c, modinfo *mi, const char *name, ast_decl *d, span where)
{
	msym *prev = resolve_mod_find(mi, name);
	if (prev) {
		diag_error(c->d, where, "duplicate declaration of '%s'", name);
		diag_note(c->d, pick(prev->decl->name_where, prev->decl->where),
		          "previous declaration of '%s' is here", name);
		return;
	}
	if (mi->nsyms == mi->capsyms) {
		int cap = mi->capsyms ? mi->capsyms * 2 : 16;
		mi->syms = arena_grow_array(c->a, mi->syms, sizeof *mi->syms, (size_t)mi->capsyms,
		                            (size_t)cap);
		mi->capsyms = cap;
	}
	mi->syms[mi->nsyms].name = name;
	mi->syms[mi->nsyms].decl = d;
	sm_put(c->a, &mi->index, name, mi->nsyms);
	mi->nsyms++;
}

void resolve_build_module_table(rctx *c, modinfo *mi)
{
	ast_module *m = mi->m;
	for (int i = 0; i < m->ndecls; i++) {
		ast_decl *d = m->decls[i];
		if (d == NULL || d->kind == D_STMT)
			continue;
		const char *name = d->kind == D_IMPORT ? resolve_import_binding(c->a, d) : d->name;
		if (name == NULL || *name == '\0')
			continue;
		resolve_mod_add(c, mi, name, d, pick(d->name_where, d->where));
	}
}

static void sym_ref(modinfo *mi, msym *s, ast_ref *r)
{
	ast_decl *d = s->decl;
	memset(r, 0, sizeof *r);
	switch (d->kind) {
	case D_IMPORT:
		r->kind = REF_MODULE;
		if (d->u.import.is_file) {
			r->module = d->u.import.target;
		} else {
			const module_def *md = native_module(d->u.import.what ? d->u.import.what : "");
			r->stdmod = md ? md->name : d->u.import.what;
		}
		break;
	case D_PARAM:
	case D_CONST:
		r->kind = REF_GLOBAL;
		r->decl = d;
		r->module = mi->m;
		break;
	default:
		r->kind = REF_DECL;
		r->decl = d;
		r->module = mi->m;
		break;
	}
}

/* ---- bodies and their locals ---------------------------------------- */

static local *body_find(body *b, const char *name)
{
	int i = sm_get(&b->index, name);
	return i < 0 ? NULL : &b->v[i];
}

static local *body_add(rctx *c, body *b, const char *name)
{
	if (b->n == b->cap) {
		int cap = b->cap ? b->cap * 2 : 16;
		b->v = arena_grow_array(c->a, b->v, sizeof *b->v, (size_t)b->cap, (size_t)cap);
		b->cap = cap;
	}
	sm_put(c->a, &b->index, name, b->n);
	local *l = &b->v[b->n++];
	memset(l, 0, sizeof *l);
	l->name = name;
	l->slot = b->nslots++;
	return l;
}

static void bind(rctx *c, body *b, const char *name, ast_expr *init, span at)
{
	if (name == NULL)
		return;
	local *l = body_find(b, name);
	if (l) {
		l->nbind++;
		return;
	}
	l = body_add(c, b, name);
	l->nbind = 1;
	l->init = init;
	end_of(at, &l->bline, &l->bcol);
}

/* Names declared with let or for anywhere in a body: these are locals
 * even when a plain '=' to them comes first. */
typedef struct nameset {
	strmap map;
} nameset;

static bool set_has(const nameset *s, const char *name)
{
	return sm_get(&s->map, name) >= 0;
}

static void set_add(rctx *c, nameset *s, const char *name)
{
	if (name != NULL)
		sm_put(c->a, &s->map, name, 0);
}

static void gather_decl_stmt(rctx *c, ast_stmt *s, nameset *set);

static void gather_decl_block(rctx *c, ast_block *b, nameset *set)
{
	for (int i = 0; i < b->nstmts; i++)
		gather_decl_stmt(c, b->stmts[i], set);
}

static void gather_decl_stmt(rctx *c, ast_stmt *s, nameset *set)
{
	if (s == NULL)
		return;
	switch (s->kind) {
	case S_LET:
		for (int i = 0; i < s->u.let.nnames; i++)
			set_add(c, set, s->u.let.names[i]);
		break;
	case S_FOR:
		for (int i = 0; i < s->u.for_.nnames; i++)
			set_add(c, set, s->u.for_.names[i]);
		gather_decl_block(c, &s->u.for_.body, set);
		break;
	case S_IF:
		gather_decl_block(c, &s->u.if_.then, set);
		gather_decl_stmt(c, s->u.if_.otherwise, set);
		break;
	case S_WHILE:
		gather_decl_block(c, &s->u.while_.body, set);
		break;
	case S_BLOCK:
		gather_decl_block(c, &s->u.block, set);
		break;
	case S_TRY:
		if (s->u.try_.name)
			set_add(c, set, s->u.try_.name);
		gather_decl_block(c, &s->u.try_.body, set);
		gather_decl_block(c, &s->u.try_.handler, set);
		break;
	default:
		break;
	}
}

/* Does a plain '=' to `name` declare a local? Not when the name is the
 * module's or a builtin's (that is an error reported later). */
static bool assign_declares(rctx *c, body *b, const nameset *set, const char *name)
{
	if (strcmp(name, "self") == 0)
		return false;
	if (set_has(set, name) || body_find(b, name))
		return true;
	if (resolve_mod_find(c->mi, name) || user_builtin(name))
		return false;
	return true;
}

static void collect_stmt(rctx *c, body *b, const nameset *set, ast_stmt *s);

static void collect_block(rctx *c, body *b, const nameset *set, ast_block *blk)
{
	for (int i = 0; i < blk->nstmts; i++)
		collect_stmt(c, b, set, blk->stmts[i]);
}

/* Numbers the locals of a body in order of first binding. */
static void collect_stmt(rctx *c, body *b, const nameset *set, ast_stmt *s)
{
	if (s == NULL)
		return;
	switch (s->kind) {
	case S_LET:
		for (int i = 0; i < s->u.let.nnames; i++)
			bind(c, b, s->u.let.names[i], s->u.let.nnames == 1 ? s->u.let.value : NULL,
			     s->where);
		break;
	case S_ASSIGN:
		for (int i = 0; i < s->u.assign.ntargets; i++) {
			ast_expr *t = s->u.assign.targets[i];
			if (t == NULL || t->kind != E_NAME)
				continue;
			const char *name = t->u.name.name;
			if (s->u.assign.op == ASSIGN_SET) {
				if (assign_declares(c, b, set, name))
					bind(c, b, name,
					     s->u.assign.ntargets == 1 ? s->u.assign.value : NULL,
					     s->where);
			} else {
				local *l = body_find(b, name);
				if (l)
					l->nbind++;
			}
		}
		break;
	case S_FOR: {
		span at = s->u.for_.iter ? s->u.for_.iter->where : s->where;
		for (int i = 0; i < s->u.for_.nnames; i++)
			bind(c, b, s->u.for_.names[i], NULL, at);
		collect_block(c, b, set, &s->u.for_.body);
		break;
	}
	case S_IF:
		collect_block(c, b, set, &s->u.if_.then);
		collect_stmt(c, b, set, s->u.if_.otherwise);
		break;
	case S_WHILE:
		collect_block(c, b, set, &s->u.while_.body);
		break;
	case S_BLOCK:
		collect_block(c, b, set, &s->u.block);
		break;
	case S_TRY:
		collect_block(c, b, set, &s->u.try_.body);
		bind(c, b, s->u.try_.name, NULL, s->u.try_.name_where);
		collect_block(c, b, set, &s->u.try_.handler);
		break;
	default:
		break;
	}
}

/* ---- name look-up ------------------------------------------------------ */

static void candidates(rctx *c, names *ns)
{
	for (int i = c->ncomp - 1; i >= 0; i--)
		resolve_names_add(c, ns, c->comp[i].name);
	if (c->b)
		for (int i = 0; i < c->b->n; i++)
			resolve_names_add(c, ns, c->b->v[i].name);
	for (int i = 0; i < c->mi->nsyms; i++)
		resolve_names_add(c, ns, c->mi->syms[i].name);
	const char *const *bi = native_builtin_names();
	for (int i = 0; bi && bi[i]; i++)
		resolve_names_add(c, ns, bi[i]);
}

static const char *body_title(rctx *c, char *buf, size_t n)
{
	ast_decl *fn = c->b ? c->b->fn : NULL;
	if (fn == NULL)
		return "the driver";
	if (fn->u.fn.actor) {
		if (strcmp(fn->name, "init") == 0)
			snprintf(buf, n, "'%s'", fn->u.fn.actor->name);
		else
			snprintf(buf, n, "'%s.%s'", fn->u.fn.actor->name, fn->name);
	} else {
		snprintf(buf, n, "'%s'", fn->name);
	}
	return buf;
}

/* Resolves an E_NAME; as_obj: it is the object of a field access, where a
 * module name is allowed. */
static void resolve_name(rctx *c, ast_expr *e, bool as_obj)
{
	const char *name = e->u.name.name;
	ast_ref *r = &e->u.name.ref;
	memset(r, 0, sizeof *r);
	if (name == NULL)
		return;
	if (strcmp(name, "self") == 0) {
		if (c->actor && c->b && !c->b->is_driver)
			r->kind = REF_SELF;
		else
			diag_error(c->d, e->where, "'self' can only be used inside an actor method");
		return;
	}
	for (int i = c->ncomp - 1; i >= 0; i--) {
		if (strcmp(c->comp[i].name, name) == 0) {
			r->kind = REF_LOCAL;
			r->slot = c->comp[i].slot;
			return;
		}
	}
	if (c->b) {
		local *l = body_find(c->b, name);
		if (l) {
			r->kind = REF_LOCAL;
			r->slot = l->slot;
			if (!l->is_param && before(e->where.line, e->where.col, l->bline, l->bcol) &&
			    !(c->loop_depth > 0 && span_holds(c->outer_loop, l->bline, l->bcol)))
				diag_error(c->d, e->where, "'%s' is used before it is assigned", name);
			return;
		}
	}
	msym *s = resolve_mod_find(c->mi, name);
	if (s) {
		sym_ref(c->mi, s, r);
		/* `import str` binds the module, yet `str(x)` must stay the
		 * builtin: a standard module named like a builtin is both. */
		if (r->kind == REF_MODULE && !as_obj && r->stdmod && user_builtin(name) &&
		    strcmp(r->stdmod, name) == 0) {
			memset(r, 0, sizeof *r);
			r->kind = REF_BUILTIN;
			return;
		}
		if (r->kind == REF_MODULE && !as_obj)
			diag_error(c->d, e->where,
			           "module '%s' cannot be used as a value; use one of its members",
			           name);
		return;
	}
	if (user_builtin(name)) {
		r->kind = REF_BUILTIN;
		return;
	}
	char buf[160];
	if ((c->b == NULL || !c->b->is_driver) && body_find(&c->mi->drv, name)) {
		if (c->const_what)
			diag_error(c->d, e->where,
			           "%s is not computable at compile time: '%s' is a driver variable",
			           c->const_what, name);
		else
			diag_error(c->d, e->where,
			           "'%s' is a driver variable; pass it to %s as an argument", name,
			           body_title(c, buf, sizeof buf));
		return;
	}
	/* Python's spellings of the literals */
	if (native_module(name) && strcmp(name, "str")) {
		diag_error(c->d, e->where, "unknown name '%s'; the standard module '%s' needs 'import %s' first",
		           name, name, name);
		return;
	}
	if (!strcmp(name, "ray")) {
		diag_error(c->d, e->where, "unknown name 'ray'; Flow needs no 'ray' module: f(x) submits a task "
		                           "(no .remote), and get, wait and put are built in");
		return;
	}
	/* Python and Ray names a port brings along, with what Flow writes */
	static const char *const hints[][2] = {
		{ "next", "Flow has no next(); read a stream or list with 'for x in s { ... }' "
		          "(break after the items you need)" },
		{ "iter", "Flow has no iter(); 'for x in s { ... }' iterates lists, dicts and streams" },
		{ "ObjectRef", "a call's result is a future: isinstance(x, \"future\") tests for one" },
		{ "ObjectRefGenerator", "a call of a task that yields returns a stream: "
		                        "isinstance(x, \"stream\") tests for one" },
		{ "DynamicObjectRefGenerator", "a call of a task that yields returns a stream: "
		                               "isinstance(x, \"stream\") tests for one" },
		{ "tuple", "Flow has no tuples; use a list [a, b]" },
		{ "pass", "Flow has no 'pass'; an empty block is written '{ }'" },
		{ "set", "Flow has no sets; use a dict's keys ({x: true for x in xs}) or a list" },
		{ "open", "files are read and written with the io module: io.read_text(path), "
		          "io.write_text(path, s), io.read_lines(path)" },
		{ "Exception", "raise an error with error(\"message\"); 'except e { }' catches every "
		               "kind (look at e.kind)" },
		{ "ValueError", "raise an error with error(\"message\"); 'except e { }' catches every "
		                "kind (look at e.kind)" },
		{ "RuntimeError", "raise an error with error(\"message\"); 'except e { }' catches every "
		                  "kind (look at e.kind)" },
	};
	const char *hint = diag_hint(hints, sizeof hints / sizeof hints[0], name);
	if (hint) {
		diag_error(c->d, e->where, "unknown name '%s'; %s", name, hint);
		return;
	}
	static const char *const py[][2] = { { "True", "true" }, { "False", "false" },
	                                     { "None", "none" } };
	for (size_t i = 0; i < sizeof py / sizeof py[0]; i++)
		if (strcmp(name, py[i][0]) == 0) {
			diag_error(c->d, e->where,
			           "unknown name '%s'; Flow writes '%s' (the literals are true, false "
			           "and none, in lower case)", name, py[i][1]);
			return;
		}
	names ns = {0};
	if (c->d->max_errors <= 0 || c->d->nerrors < c->d->max_errors)
		candidates(c, &ns); /* not when the message would be dropped anyway */
	char msg[256];
	snprintf(msg, sizeof msg, "unknown name '%s'", name);
	resolve_error_suggest(c, e->where, msg, name, &ns, "");
}

/* Ray's f.remote(x), A.remote(), a.m.remote(x) and f.options(...): no
 * Flow value has such methods (a call submits already), so say what to
 * write. True when reported (the call is not resolved further). */
static bool ray_spelling(rctx *c, ast_expr *e)
{
	const ast_expr *callee = e->u.call.callee;
	if (callee->kind != E_FIELD)
		return false;
	const char *m = callee->u.field.name;
	bool remote = !strcmp(m, "remote"), options = !strcmp(m, "options");
	if (!remote && !options)
		return false;
	const ast_expr *obj = callee->u.field.obj;
	const char *what = NULL;
	char text[200];
	if (obj->kind == E_NAME && !strcmp(obj->u.name.name, "ray")) {
		return false; /* ray.x: the unknown name 'ray' says it */
	} else if (obj->kind == E_NAME) {
		const char *nm = obj->u.name.name;
		ast_decl *d = NULL;
		for (int i = 0; i < c->mi->m->ndecls && !d; i++)
			if (c->mi->m->decls[i]->name && !strcmp(c->mi->m->decls[i]->name, nm))
				d = c->mi->m->decls[i];
		if (!d || (d->kind != D_TASK && d->kind != D_ACTOR))
			return false;
		what = d->kind == D_TASK ? "calling a task submits it and returns a future"
		                          : "calling an actor class creates the actor and returns its handle";
		snprintf(text, sizeof text, "%s(...)", nm);
	} else if (obj->kind == E_FIELD && obj->u.field.obj->kind == E_NAME) {
		what = "calling a method (or a task) submits it and returns a future";
		snprintf(text, sizeof text, "%s.%s(...)", obj->u.field.obj->u.name.name, obj->u.field.name);
	} else {
		return false;
	}
	if (remote)
		diag_error(c->d, callee->u.field.name_where, "Flow has no '.remote': %s; write '%s'",
		           what, text);
	else
		diag_error(c->d, callee->u.field.name_where,
		           "Flow has no '.options': put @cpus, @memory, @resources, @retries or @timeout on the "
		           "declaration instead");
	return true;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "module 'm' has no member 'x'", then "did you mean" when a member is
 * close, else the module's members (sorted), so the user sees what
 * there is. */
static void no_member(rctx *c, span at, const char *written, const char *name, names *ns)
{
	char msg[256];
	snprintf(msg, sizeof msg, "module '%s' has no member '%s'", written, name);
	/* Python's names for what Flow spells otherwise */
	static const char *const py[][3] = { { "time", "time", "now" }, { "time", "perf_counter", "monotonic" },
	                                     { "random", "gauss", "normal" } };
	for (size_t i = 0; i < sizeof py / sizeof py[0]; i++)
		if (!strcmp(written, py[i][0]) && !strcmp(name, py[i][1])) {
			diag_error(c->d, at, "%s; Python's %s.%s() is %s.%s()", msg, py[i][0], py[i][1], written,
			           py[i][2]);
			return;
		}
	if (ns->n == 0 || suggest(ns, name)) {
		resolve_error_suggest(c, at, msg, name, ns, "");
		return;
	}
	qsort(ns->v, ns->n, sizeof *ns->v, cmp_name);
	size_t cap = 256;
	for (size_t i = 0; i < ns->n; i++)
		cap += strlen(ns->v[i]) + 2;
	char *list = arena_alloc(c->a, cap);
	size_t k = (size_t)snprintf(list, cap, "%s; it has ", msg);
	for (size_t i = 0; i < ns->n && k < cap; i++)
		k += (size_t)snprintf(list + k, cap - k, "%s%s", i ? ", " : "", ns->v[i]);
	diag_error(c->d, at, "%s", list);
}

static void module_members(rctx *c, modinfo *t, names *ns)
{
	for (int i = 0; i < t->nsyms; i++)
		if (t->syms[i].decl->kind != D_IMPORT)
			resolve_names_add(c, ns, t->syms[i].name);
}

static void std_members(rctx *c, const module_def *md, names *ns)
{
	for (const native_def *f = md->fns; f && f->name; f++)
		resolve_names_add(c, ns, f->name);
	for (const const_def *k = md->consts; k && k->name; k++)
		resolve_names_add(c, ns, k->name);
}

/* a.name where a is a module (or the builtin str): the member's ref. */
static void resolve_member(rctx *c, ast_expr *e, const char *written, const ast_ref *obj)
{
	const char *name = e->u.field.name;
	ast_ref *r = &e->u.field.ref;
	span at = pick(e->u.field.name_where, e->where);
	names ns = {0};
	if (obj->kind == REF_MODULE && obj->module) {
		modinfo *t = resolve_mod_info(c, obj->module);
		msym *s = t ? resolve_mod_find(t, name) : NULL;
		if (s && s->decl->kind != D_IMPORT) {
			sym_ref(t, s, r);
			return;
		}
		if (t == NULL)
			return; /* the import failed: already reported */
		module_members(c, t, &ns);
		no_member(c, at, written, name, &ns);
		return;
	}
	const char *modname = obj->kind == REF_MODULE ? obj->stdmod : "str";
	const module_def *md = native_module(modname ? modname : "");
	if (md == NULL)
		return; /* unknown module: already reported at the import */
	if (native_module_fn(md, name) || native_module_const(md, name)) {
		memset(r, 0, sizeof *r);
		r->kind = REF_BUILTIN;
		r->stdmod = md->name;
		return;
	}
	std_members(c, md, &ns);
	no_member(c, at, written, name, &ns);
}

static void resolve_field(rctx *c, ast_expr *e)
{
	ast_expr *obj = e->u.field.obj;
	memset(&e->u.field.ref, 0, sizeof e->u.field.ref);
	if (obj == NULL)
		return;
	if (obj->kind != E_NAME) {
		resolve_expr(c, obj);
		return;
	}
	resolve_name(c, obj, true);
	ast_ref *or = &obj->u.name.ref;
	if (or->kind == REF_MODULE)
		resolve_member(c, e, obj->u.name.name, or);
	else if (or->kind == REF_BUILTIN && strcmp(obj->u.name.name, "str") == 0)
		resolve_member(c, e, "str", or);
}

static const char *article(const char *t)
{
	return (t[0] == 'i' || t[0] == 'a' || t[0] == 'e' || t[0] == 'o' || t[0] == 'u') ? "an" : "a";
}

/* ---- expressions -------------------------------------------------------- */

static void push_comp(rctx *c, const char *name, int slot)
{
	if (c->ncomp == c->capcomp) {
		int cap = c->capcomp ? c->capcomp * 2 : 8;
		c->comp = arena_grow_array(c->a, c->comp, sizeof *c->comp, (size_t)c->capcomp,
		                           (size_t)cap);
		c->capcomp = cap;
	}
	c->comp[c->ncomp].name = name;
	c->comp[c->ncomp].slot = slot;
	c->ncomp++;
}

static void target_clash(rctx *c, const char *name, span at);

#define MAX_EXPR_DEPTH 2000

static void resolve_expr_inner(rctx *c, ast_expr *e);

void resolve_expr(rctx *c, ast_expr *e)
{
	if (e == NULL)
		return;
	if (c->depth >= MAX_EXPR_DEPTH) {
		/* cut the tree here, so that no later pass recurses this deep */
		if (!c->deep_reported)
			diag_error(c->d, e->where,
			           "expression is nested too deeply (more than %d levels)",
			           MAX_EXPR_DEPTH);
		c->deep_reported = true;
		e->kind = E_NONE;
		return;
	}
	c->depth++;
	resolve_expr_inner(c, e);
	if (--c->depth == 0)
		c->deep_reported = false;
}

static void resolve_expr_inner(rctx *c, ast_expr *e)
{
	switch (e->kind) {
	case E_NONE: case E_BOOL: case E_INT: case E_FLOAT: case E_STR:
		break;
	case E_FSTRING:
		for (int i = 0; i < e->u.fstr.nparts; i++) {
			resolve_expr(c, e->u.fstr.parts[i].expr);
			if (e->u.fstr.parts[i].spec_expr)
				resolve_expr(c, e->u.fstr.parts[i].spec_expr);
		}
		break;
	case E_NAME:
		resolve_name(c, e, false);
		break;
	case E_LIST:
		for (int i = 0; i < e->u.list.nitems; i++)
			resolve_expr(c, e->u.list.items[i]);
		break;
	case E_DICT:
		for (int i = 0; i < e->u.dict.nitems; i++) {
			resolve_expr(c, e->u.dict.keys[i]);
			resolve_expr(c, e->u.dict.values[i]);
		}
		break;
	case E_COMP: {
		int saved = c->ncomp;
		for (int i = 0; i < e->u.comp.nclauses; i++) {
			ast_compclause *cl = &e->u.comp.clauses[i];
			if (cl->is_if) {
				resolve_expr(c, cl->cond);
				continue;
			}
			resolve_expr(c, cl->iter);
			for (int k = 0; k < cl->nnames; k++) {
				if (cl->names[k] == NULL)
					continue;
				target_clash(c, cl->names[k], cl->name_where[k]);
				cl->local[k] = c->b ? c->b->nslots++ : -1;
				push_comp(c, cl->names[k], cl->local[k]);
			}
		}
		if (e->u.comp.key)
			resolve_expr(c, e->u.comp.key);
		resolve_expr(c, e->u.comp.elt);
		c->ncomp = saved;
		break;
	}
	case E_UNARY:
		resolve_expr(c, e->u.unary.operand);
		break;
	case E_BINARY:
		resolve_expr(c, e->u.binary.left);
		resolve_expr(c, e->u.binary.right);
		break;
	case E_COMPARE:
		for (int i = 0; i < e->u.compare.noperands; i++)
			resolve_expr(c, e->u.compare.operands[i]);
		break;
	case E_TERNARY:
		resolve_expr(c, e->u.ternary.cond);
		resolve_expr(c, e->u.ternary.then);
		resolve_expr(c, e->u.ternary.otherwise);
		break;
	case E_CALL:
		if (ray_spelling(c, e))
			break;
		resolve_expr(c, e->u.call.callee);
		for (int i = 0; i < e->u.call.nargs; i++)
			resolve_expr(c, e->u.call.args[i].value);
		check_call(c, e);
		break;
	case E_INDEX:
		resolve_expr(c, e->u.index.obj);
		resolve_expr(c, e->u.index.index);
		break;
	case E_SLICE:
		resolve_expr(c, e->u.slice.obj);
		resolve_expr(c, e->u.slice.lo);
		resolve_expr(c, e->u.slice.hi);
		resolve_expr(c, e->u.slice.step);
		break;
	case E_FIELD:
		resolve_field(c, e);
		break;
	}
}

/* ---- statements ---------------------------------------------------------- */

/* The names declared with let directly in one block. */
typedef struct blockscope {
	strmap map;  /* name -> position in where */
	span *where;
	int n, cap;
} blockscope;

static void bs_declare(rctx *c, blockscope *bs, const char *name, span at)
{
	int prev = sm_get(&bs->map, name);
	if (prev >= 0) {
		diag_error(c->d, at, "duplicate declaration of '%s'", name);
		diag_note(c->d, bs->where[prev], "previous declaration of '%s' is here", name);
		return;
	}
	if (bs->n == bs->cap) {
		int cap = bs->cap ? bs->cap * 2 : 8;
		bs->where = arena_grow_array(c->a, bs->where, sizeof *bs->where, (size_t)bs->cap,
		                             (size_t)cap);
		bs->cap = cap;
	}
	bs->where[bs->n] = at;
	sm_put(c->a, &bs->map, name, bs->n);
	bs->n++;
}

/* A let/for/comprehension target that takes a module-level name. */
static void target_clash(rctx *c, const char *name, span at)
{
	if (strcmp(name, "self") == 0) {
		diag_error(c->d, at, "'self' cannot be declared");
		return;
	}
	msym *s = resolve_mod_find(c->mi, name);
	if (s == NULL)
		return;
	if (c->b && c->b->is_driver)
		diag_error(c->d, at, "duplicate declaration of '%s'", name);
	else
		diag_error(c->d, at, "'%s' is already declared as a %s of this module", name,
		           resolve_decl_kind_name(s->decl));
	diag_note(c->d, pick(s->decl->name_where, s->decl->where),
	          "previous declaration of '%s' is here", name);
}

static int slot_of(rctx *c, const char *name)
{
	local *l = c->b ? body_find(c->b, name) : NULL;
	return l ? l->slot : -1;
}

static void resolve_block(rctx *c, ast_block *blk, blockscope *outer);
static void resolve_stmt(rctx *c, ast_stmt *s, blockscope *bs);

static void assign_name(rctx *c, ast_expr *t, ast_assignop op)
{
	const char *name = t->u.name.name;
	ast_ref *r = &t->u.name.ref;
	memset(r, 0, sizeof *r);
	if (name == NULL)
		return;
	if (strcmp(name, "self") == 0) {
		diag_error(c->d, t->where, "cannot assign to 'self'");
		return;
	}
	local *l = c->b ? body_find(c->b, name) : NULL;
	if (l) {
		r->kind = REF_LOCAL;
		r->slot = l->slot;
		if (op != ASSIGN_SET && !l->is_param &&
		    before(t->where.line, t->where.col, l->bline, l->bcol) &&
		    !(c->loop_depth > 0 && span_holds(c->outer_loop, l->bline, l->bcol)))
			diag_error(c->d, t->where, "'%s' is used before it is assigned", name);
		return;
	}
	msym *s = resolve_mod_find(c->mi, name);
	if (s) {
		diag_error(c->d, t->where, "cannot assign to %s '%s'", resolve_decl_kind_name(s->decl), name);
		diag_note(c->d, pick(s->decl->name_where, s->decl->where), "'%s' is declared here",
		          name);
		return;
	}
	if (user_builtin(name)) {
		diag_error(c->d, t->where,
		           "cannot assign to builtin '%s'; declare a new local with 'let %s = ...'",
		           name, name);
		return;
	}
	resolve_name(c, t, false); /* op= on an unknown name: report it */
}

static void check_value_type(rctx *c, const ast_type *ty, ast_expr *v, const char *fmt_name)
{
	if (ty->name == NULL || v == NULL || !check_type_name_known(c, ty->name))
		return;
	const char *lt = check_literal_type(v);
	if (lt && !check_type_accepts(ty->name, lt))
		diag_error(c->d, v->where, "%s is declared %s but given %s %s", fmt_name, ty->name,
		           article(lt), lt);
}

static void enter_loop(rctx *c, ast_stmt *s, span *saved)
{
	*saved = c->outer_loop;
	if (c->loop_depth == 0)
		c->outer_loop = s->where;
	c->loop_depth++;
}

static void leave_loop(rctx *c, span saved)
{
	c->loop_depth--;
	c->outer_loop = saved;
}

static void resolve_stmt(rctx *c, ast_stmt *s, blockscope *bs)
{
	if (s == NULL)
		return;
	switch (s->kind) {
	case S_EXPR:
		resolve_expr(c, s->u.expr);
		break;
	case S_LET: {
		resolve_expr(c, s->u.let.value);
		check_type(c, &s->u.let.type);
		if (s->u.let.nnames == 1) {
			char what[160];
			snprintf(what, sizeof what, "'%s'", s->u.let.names[0]);
			check_value_type(c, &s->u.let.type, s->u.let.value, what);
		}
		for (int i = 0; i < s->u.let.nnames; i++) {
			const char *name = s->u.let.names[i];
			if (name == NULL)
				continue;
			span at = pick(s->u.let.name_where[i], s->where);
			target_clash(c, name, at);
			bs_declare(c, bs, name, at);
			s->u.let.local[i] = slot_of(c, name);
		}
		break;
	}
	case S_ASSIGN:
		resolve_expr(c, s->u.assign.value);
		for (int i = 0; i < s->u.assign.ntargets; i++) {
			ast_expr *t = s->u.assign.targets[i];
			if (t == NULL)
				continue;
			switch (t->kind) {
			case E_NAME:
				assign_name(c, t, s->u.assign.op);
				break;
			case E_INDEX:
			case E_SLICE:
				resolve_expr(c, t);
				break;
			case E_FIELD:
				resolve_field(c, t);
				if (t->u.field.ref.kind != REF_UNRESOLVED ||
				    (t->u.field.obj && t->u.field.obj->kind == E_NAME &&
				     t->u.field.obj->u.name.ref.kind == REF_MODULE))
					diag_error(c->d, t->where, "cannot assign to a member of a module");
				break;
			default:
				resolve_expr(c, t);
				diag_error(c->d, t->where, "cannot assign to this expression");
				break;
			}
		}
		break;
	case S_IF:
		resolve_expr(c, s->u.if_.cond);
		resolve_block(c, &s->u.if_.then, NULL);
		if (s->u.if_.otherwise) {
			if (s->u.if_.otherwise->kind == S_BLOCK)
				resolve_block(c, &s->u.if_.otherwise->u.block, NULL);
			else
				resolve_stmt(c, s->u.if_.otherwise, bs);
		}
		break;
	case S_WHILE: {
		span saved;
		enter_loop(c, s, &saved);
		resolve_expr(c, s->u.while_.cond);
		resolve_block(c, &s->u.while_.body, NULL);
		leave_loop(c, saved);
		break;
	}
	case S_FOR: {
		resolve_expr(c, s->u.for_.iter);
		for (int i = 0; i < s->u.for_.nnames; i++) {
			const char *name = s->u.for_.names[i];
			if (name == NULL)
				continue;
			target_clash(c, name, pick(s->u.for_.name_where[i], s->where));
			s->u.for_.local[i] = slot_of(c, name);
		}
		span saved;
		enter_loop(c, s, &saved);
		resolve_block(c, &s->u.for_.body, NULL);
		leave_loop(c, saved);
		break;
	}
	case S_BREAK:
	case S_CONTINUE:
		if (c->loop_depth == 0)
			diag_error(c->d, s->where, "'%s' outside a loop",
			           s->kind == S_BREAK ? "break" : "continue");
		break;
	case S_RETURN: {
		resolve_expr(c, s->u.ret);
		ast_decl *fn = c->b ? c->b->fn : NULL;
		if (c->b && c->b->is_driver) {
			diag_error(c->d, s->where,
			           "'return' cannot be used in the driver, only in a task, fn or method");
		} else if (fn && s->u.ret && fn->u.fn.ret.name) {
			const char *lt = check_literal_type(s->u.ret);
			const char *want = fn->u.fn.ret.name;
			if (lt && check_type_name_known(c, want) && !check_type_accepts(want, lt))
				diag_error(c->d, s->u.ret->where, "%s '%s' returns %s but this is %s %s",
				           resolve_decl_kind_name(fn), fn->name, want, article(lt), lt);
		}
		break;
	}
	case S_BLOCK:
		resolve_block(c, &s->u.block, NULL);
		break;
	case S_TRY:
		resolve_block(c, &s->u.try_.body, NULL);
		if (s->u.try_.name) {
			target_clash(c, s->u.try_.name, pick(s->u.try_.name_where, s->where));
			s->u.try_.local = slot_of(c, s->u.try_.name);
		} else {
			s->u.try_.local = -1;
		}
		resolve_block(c, &s->u.try_.handler, NULL);
		break;
	case S_YIELD: {
		resolve_expr(c, s->u.ret);
		ast_decl *fn = c->b ? c->b->fn : NULL;
		if (!fn || fn->kind != D_TASK || fn->u.fn.actor)
			diag_error(c->d, s->where, "'yield' can only be used in a task body (a task "
			           "that yields returns a stream); %s",
			           c->b && c->b->is_driver ? "the driver cannot yield" :
			           "an fn or method cannot yield");
		break;
	}
	}
}

static void resolve_block(rctx *c, ast_block *blk, blockscope *outer)
{
	blockscope own = {0};
	blockscope *bs = outer ? outer : &own;
	for (int i = 0; i < blk->nstmts; i++)
		resolve_stmt(c, blk->stmts[i], bs);
}

/* ---- declarations ------------------------------------------------------ */

static void resolve_fn(rctx *c, ast_decl *fn, ast_decl *actor)
{
	check_params_ast(c, fn);
	check_type(c, &fn->u.fn.ret);
	/* defaults are computed where the declaration is: module scope */
	for (int i = 0; i < fn->u.fn.nparams; i++) {
		ast_param *p = &fn->u.fn.params[i];
		if (p->deflt == NULL)
			continue;
		char what[192];
		snprintf(what, sizeof what, "the default of '%s'", p->name ? p->name : "?");
		c->b = NULL;
		c->const_what = what;
		resolve_expr(c, p->deflt);
		check_const_expr(c, p->deflt, what);
		c->const_what = NULL;
	}
	body *b = arena_alloc(c->a, sizeof *b);
	b->fn = fn;
	blockscope top = {0};
	for (int i = 0; i < fn->u.fn.nparams; i++) {
		ast_param *p = &fn->u.fn.params[i];
		local *l = body_add(c, b, p->name ? p->name : "");
		l->is_param = true;
		l->nbind = 1;
		if (p->name && body_find(b, p->name) == l)
			bs_declare(c, &top, p->name, p->where);
	}
	nameset set = {0};
	gather_decl_block(c, &fn->u.fn.body, &set);
	collect_block(c, b, &set, &fn->u.fn.body);
	c->b = b;
	c->actor = actor;
	c->loop_depth = 0;
	c->ncomp = 0;
	resolve_block(c, &fn->u.fn.body, &top);
	fn->u.fn.nlocals = b->nslots;
	c->b = NULL;
	c->actor = NULL;
}

static void resolve_actor(rctx *c, ast_decl *d)
{
	for (int i = 0; i < d->u.actor.nmethods; i++) {
		ast_decl *m = d->u.actor.methods[i];
		if (m == NULL || m->name == NULL)
			continue;
		for (int j = 0; j < i; j++) {
			ast_decl *p = d->u.actor.methods[j];
			if (p && p->name && strcmp(p->name, m->name) == 0) {
				diag_error(c->d, pick(m->name_where, m->where),
				           "duplicate method '%s' in actor '%s'", m->name, d->name);
				diag_note(c->d, pick(p->name_where, p->where),
				          "previous declaration of '%s' is here", m->name);
				break;
			}
		}
		if (strcmp(m->name, "init") == 0 && m->u.fn.ret.name &&
		    strcmp(m->u.fn.ret.name, "none") != 0)
			diag_error(c->d, pick(m->u.fn.ret.where, m->where),
			           "'init' of actor '%s' cannot declare a return type", d->name);
		for (int k = 0; k < m->ndecorators; k++)
			diag_error(c->d, m->decorators[k].where,
			           "decorators cannot be used on a method; put them on actor '%s'",
			           d->name);
		resolve_fn(c, m, d);
	}
}

static void resolve_global(rctx *c, ast_decl *d)
{
	char what[192];
	snprintf(what, sizeof what, "%s '%s'", resolve_decl_kind_name(d), d->name ? d->name : "?");
	ast_expr *v = d->kind == D_CONST ? d->u.const_.value : d->u.param.deflt;
	c->b = NULL;
	c->const_what = what;
	resolve_expr(c, v);
	check_const_expr(c, v, what);
	c->const_what = NULL;
	if (d->kind == D_PARAM) {
		check_type(c, &d->u.param.type);
		if (v && d->u.param.type.name && check_type_name_known(c, d->u.param.type.name)) {
			const char *lt = check_literal_type(v);
			if (lt && !check_type_accepts(d->u.param.type.name, lt))
				diag_error(c->d, v->where, "param '%s' is declared %s but its default is %s %s",
				           d->name, d->u.param.type.name, article(lt), lt);
		}
	}
}

void resolve_module(rctx *c, modinfo *mi)
{
	ast_module *m = mi->m;
	c->mi = mi;
	c->b = NULL;
	c->actor = NULL;
	c->ncomp = 0;
	c->loop_depth = 0;

	/* the driver's locals first: bodies name them in their errors */
	body *drv = &mi->drv;
	drv->is_driver = true;
	nameset set = {0};
	for (int i = 0; i < m->ndecls; i++)
		if (m->decls[i] && m->decls[i]->kind == D_STMT)
			gather_decl_stmt(c, m->decls[i]->u.stmt, &set);
	for (int i = 0; i < m->ndecls; i++)
		if (m->decls[i] && m->decls[i]->kind == D_STMT)
			collect_stmt(c, drv, &set, m->decls[i]->u.stmt);

	blockscope top = {0};
	for (int i = 0; i < m->ndecls; i++) {
		ast_decl *d = m->decls[i];
		if (d == NULL)
			continue;
		switch (d->kind) {
		case D_IMPORT:
			break;
		case D_PARAM:
		case D_CONST:
			resolve_global(c, d);
			break;
		case D_FN:
			for (int k = 0; k < d->ndecorators; k++)
				diag_error(c->d, d->decorators[k].where,
				           "decorators cannot be used on fn '%s'; they apply to tasks and actors",
				           d->name);
			resolve_fn(c, d, NULL);
			break;
		case D_TASK:
			check_decorators(c, d);
			resolve_fn(c, d, NULL);
			break;
		case D_ACTOR:
			check_decorators(c, d);
			resolve_actor(c, d);
			break;
		case D_STMT:
			c->b = drv;
			c->actor = NULL;
			c->loop_depth = 0;
			c->ncomp = 0;
			resolve_stmt(c, d->u.stmt, &top);
			c->b = NULL;
			break;
		}
	}
	m->driver_nlocals = drv->nslots;
	check_const_cycles(c, mi);
}
