/* check_call.c - checks on calls whose callee is known statically: arity,
 * keywords, literal argument types, methods of actors, non-callables. */
#include <stdio.h>
#include <string.h>

#include "resolve_int.h"
#include "lang/native.h"

static const char *call_article(const char *t)
{
	return strchr("aeiou", t[0]) ? "an" : "a";
}

static ast_decl *actor_method(ast_decl *actor, const char *name);
static ast_decl *local_actor(rctx *c, int slot);

/* get(c.read): a method that was never called gives no future to wait
 * for; say so (when c is known to hold an actor, or is self). */
static void check_get_method(rctx *c, ast_expr *call)
{
	if (call->u.call.nargs < 1 || !call->u.call.args[0].value)
		return;
	ast_expr *f = call->u.call.args[0].value;
	if (f->kind != E_FIELD || !f->u.field.obj || f->u.field.obj->kind != E_NAME)
		return;
	const ast_ref *or = &f->u.field.obj->u.name.ref;
	ast_decl *a = NULL;
	if (or->kind == REF_SELF)
		a = c->actor;
	else if (or->kind == REF_LOCAL)
		a = local_actor(c, or->slot);
	if (a && actor_method(a, f->u.field.name))
		diag_error(c->d, f->where,
		           "'%s.%s' is a method of actor '%s' that is not called, so there is "
		           "nothing to get; call it: get(%s.%s())",
		           f->u.field.obj->u.name.name, f->u.field.name, a->name,
		           f->u.field.obj->u.name.name, f->u.field.name);
}

/* What a call is checked against: a declared parameter list or a native's. */
typedef struct sig {
	char what[192];           /* "task 'f'", "'math.sqrt'", ... */
	int n;                    /* -1: variadic, not checked */
	const ast_param *params;  /* declared params, or NULL */
	const native_params *np;  /* native params, or NULL */
} sig;

static const char *sig_name(const sig *s, int i)
{
	return s->params ? s->params[i].name : s->np->names[i];
}

static bool sig_required(const sig *s, int i)
{
	return s->params ? s->params[i].deflt == NULL : i < s->np->nrequired;
}

static void check_args(rctx *c, ast_expr *call, const sig *s)
{
	if (s->n < 0)
		return;
	int nargs = call->u.call.nargs;
	ast_arg *args = call->u.call.args;
	bool *filled = arena_alloc(c->a, (size_t)(s->n + 1) * sizeof *filled);
	int npos = 0;
	bool seen_kw = false, reported_many = false;
	for (int i = 0; i < nargs; i++) {
		ast_arg *a = &args[i];
		span at = a->value ? a->value->where : call->where;
		if (a->name == NULL) {
			if (seen_kw) {
				diag_error(c->d, at, "positional argument follows keyword argument");
				continue;
			}
			if (npos >= s->n) {
				if (!reported_many) {
					int total = 0;
					for (int j = 0; j < nargs; j++)
						total += args[j].name == NULL;
					int req = 0;
					for (int j = 0; j < s->n; j++)
						req += sig_required(s, j);
					char takes[64];
					if (req == s->n)
						snprintf(takes, sizeof takes, "%d argument%s", s->n,
						         s->n == 1 ? "" : "s");
					else
						snprintf(takes, sizeof takes, "%d to %d arguments", req, s->n);
					diag_error(c->d, at, "%s takes %s but %d %s given", s->what, takes,
					           total, total == 1 ? "was" : "were");
					reported_many = true;
				}
				npos++;
				continue;
			}
			filled[npos] = true;
			if (s->params && a->value) {
				const char *lt = check_literal_type(a->value);
				const char *want = s->params[npos].type.name;
				if (lt && want && check_type_name_known(c, want) && !check_type_accepts(want, lt))
					diag_error(c->d, at, "argument '%s' of %s expects %s, got %s",
					           s->params[npos].name, s->what, want, lt);
			}
			npos++;
			continue;
		}
		seen_kw = true;
		span nat = pick(a->name_where, at);
		bool dup = false;
		for (int j = 0; j < i; j++)
			if (args[j].name && strcmp(args[j].name, a->name) == 0)
				dup = true;
		if (dup) {
			diag_error(c->d, nat, "duplicate keyword argument '%s'", a->name);
			continue;
		}
		int k = -1;
		for (int j = 0; j < s->n; j++)
			if (strcmp(sig_name(s, j), a->name) == 0)
				k = j;
		if (k < 0) {
			names ns = {0};
			for (int j = 0; j < s->n; j++)
				resolve_names_add(c, &ns, sig_name(s, j));
			char msg[320];
			snprintf(msg, sizeof msg, "%s has no parameter '%s'", s->what, a->name);
			/* Ray's names for wait's and get's options */
			if (!strcmp(s->what, "'wait'") && !strcmp(a->name, "num_returns"))
				diag_error(c->d, nat, "%s; Flow's wait writes it 'n' (wait(refs, n=2))", msg);
			else if (!strcmp(s->what, "'get'") && !strcmp(a->name, "timeout"))
				diag_error(c->d, nat, "%s; wait for it with a timeout first: "
				                      "let ready, pending = wait([ref], timeout=t)", msg);
			else
				resolve_error_suggest(c, nat, msg, a->name, &ns, "");
			continue;
		}
		if (filled[k]) {
			diag_error(c->d, nat, "argument '%s' of %s is given twice", a->name, s->what);
			continue;
		}
		filled[k] = true;
		if (s->params && a->value) {
			const char *lt = check_literal_type(a->value);
			const char *want = s->params[k].type.name;
			if (lt && want && check_type_name_known(c, want) && !check_type_accepts(want, lt))
				diag_error(c->d, at, "argument '%s' of %s expects %s, got %s", a->name,
				           s->what, want, lt);
		}
	}
	char missing[512];
	size_t len = 0;
	int nmiss = 0;
	missing[0] = '\0';
	for (int j = 0; j < s->n; j++) {
		if (filled[j] || !sig_required(s, j))
			continue;
		int w = snprintf(missing + len, sizeof missing - len, "%s'%s'",
		                 nmiss ? ", " : "", sig_name(s, j));
		if (w > 0 && (size_t)w < sizeof missing - len)
			len += (size_t)w;
		nmiss++;
	}
	if (nmiss)
		diag_error(c->d, call->where, "missing argument%s %s in call to %s",
		           nmiss == 1 ? "" : "s", missing, s->what);
}

static void sig_decl(sig *s, ast_decl *fn, const char *fmt_what)
{
	snprintf(s->what, sizeof s->what, "%s", fmt_what);
	s->params = fn ? fn->u.fn.params : NULL;
	s->n = fn ? fn->u.fn.nparams : 0;
	s->np = NULL;
}

static ast_decl *actor_method(ast_decl *actor, const char *name)
{
	for (int i = 0; i < actor->u.actor.nmethods; i++) {
		ast_decl *m = actor->u.actor.methods[i];
		if (m && m->name && strcmp(m->name, name) == 0)
			return m;
	}
	return NULL;
}

static bool self_field_assigned_block(const ast_block *b, const char *name);

static bool self_field_assigned_stmt(const ast_stmt *s, const char *name)
{
	if (s == NULL)
		return false;
	switch (s->kind) {
	case S_ASSIGN:
		for (int i = 0; i < s->u.assign.ntargets; i++) {
			const ast_expr *t = s->u.assign.targets[i];
			if (t && t->kind == E_FIELD && t->u.field.obj &&
			    t->u.field.obj->kind == E_NAME && t->u.field.obj->u.name.name &&
			    strcmp(t->u.field.obj->u.name.name, "self") == 0 &&
			    strcmp(t->u.field.name, name) == 0)
				return true;
		}
		return false;
	case S_IF:
		return self_field_assigned_block(&s->u.if_.then, name) ||
		       self_field_assigned_stmt(s->u.if_.otherwise, name);
	case S_WHILE: return self_field_assigned_block(&s->u.while_.body, name);
	case S_FOR: return self_field_assigned_block(&s->u.for_.body, name);
	case S_BLOCK: return self_field_assigned_block(&s->u.block, name);
	default: return false;
	}
}

static bool self_field_assigned_block(const ast_block *b, const char *name)
{
	for (int i = 0; i < b->nstmts; i++)
		if (self_field_assigned_stmt(b->stmts[i], name))
			return true;
	return false;
}

/* recv.name(...) where recv is known to be an actor of class `actor`. */
static void check_method_call(rctx *c, ast_expr *call, ast_expr *field, ast_decl *actor,
                              bool via_self)
{
	const char *name = field->u.field.name;
	ast_decl *m = actor_method(actor, name);
	if (m == NULL) {
		if (via_self) {
			for (int i = 0; i < actor->u.actor.nmethods; i++)
				if (actor->u.actor.methods[i] &&
				    self_field_assigned_block(&actor->u.actor.methods[i]->u.fn.body, name))
					return; /* a field may hold something callable */
		}
		names ns = {0};
		for (int i = 0; i < actor->u.actor.nmethods; i++) {
			ast_decl *mm = actor->u.actor.methods[i];
			if (mm && mm->name && strcmp(mm->name, "init") != 0)
				resolve_names_add(c, &ns, mm->name);
		}
		char msg[256];
		snprintf(msg, sizeof msg, "actor '%s' has no method '%s'", actor->name, name);
		resolve_error_suggest(c, pick(field->u.field.name_where, field->where), msg, name, &ns, "");
		return;
	}
	char what[192];
	snprintf(what, sizeof what, "method '%s.%s'", actor->name, name);
	sig s;
	sig_decl(&s, m, what);
	check_args(c, call, &s);
}

/* The actor class a local was created from, when it is bound exactly once
 * and that binding is a constructor call. */
static ast_decl *local_actor(rctx *c, int slot)
{
	if (c->b == NULL)
		return NULL;
	for (int i = 0; i < c->b->n; i++) {
		local *l = &c->b->v[i];
		if (l->slot != slot)
			continue;
		if (l->is_param && l->nbind == 1 && c->b->fn && slot < c->b->fn->u.fn.nparams) {
			/* a parameter annotated with an actor's name */
			const char *ty = c->b->fn->u.fn.params[slot].type.name;
			msym *s = ty ? resolve_mod_find(c->mi, ty) : NULL;
			return s && s->decl->kind == D_ACTOR ? s->decl : NULL;
		}
		if (l->is_param || l->nbind != 1 || l->init == NULL || l->init->kind != E_CALL)
			return NULL;
		ast_expr *callee = l->init->u.call.callee;
		const ast_ref *r = NULL;
		if (callee && callee->kind == E_NAME)
			r = &callee->u.name.ref;
		else if (callee && callee->kind == E_FIELD)
			r = &callee->u.field.ref;
		if (r && r->kind == REF_DECL && r->decl && r->decl->kind == D_ACTOR)
			return r->decl;
		return NULL;
	}
	return NULL;
}

void check_call(rctx *c, ast_expr *call)
{
	ast_expr *callee = call->u.call.callee;
	if (callee == NULL)
		return;
	const char *lt = check_literal_type(callee);
	if (lt) {
		diag_error(c->d, callee->where, "%s %s is not callable", call_article(lt), lt);
		return;
	}
	const ast_ref *r = NULL;
	const char *name = NULL;
	char qual[160];
	if (callee->kind == E_NAME) {
		r = &callee->u.name.ref;
		name = callee->u.name.name;
	} else if (callee->kind == E_FIELD) {
		r = &callee->u.field.ref;
		name = callee->u.field.name;
		ast_expr *obj = callee->u.field.obj;
		if (r->kind == REF_UNRESOLVED && obj && obj->kind == E_NAME) {
			const ast_ref *or = &obj->u.name.ref;
			if (or->kind == REF_SELF && c->actor)
				check_method_call(c, call, callee, c->actor, true);
			else if (or->kind == REF_LOCAL) {
				ast_decl *a = local_actor(c, or->slot);
				if (a)
					check_method_call(c, call, callee, a, false);
			}
			return;
		}
	}
	if (r == NULL || name == NULL)
		return;
	sig s;
	switch (r->kind) {
	case REF_GLOBAL:
		diag_error(c->d, callee->where, "%s '%s' is not callable",
		           resolve_decl_kind_name(r->decl), name);
		return;
	case REF_DECL: {
		ast_decl *d = r->decl;
		snprintf(qual, sizeof qual, "%s '%s'", resolve_decl_kind_name(d), name);
		if (d->kind == D_ACTOR)
			sig_decl(&s, actor_method(d, "init"), qual);
		else
			sig_decl(&s, d, qual);
		check_args(c, call, &s);
		return;
	}
	case REF_BUILTIN: {
		const native_def *nd;
		if (r->stdmod) {
			const module_def *md = native_module(r->stdmod);
			nd = native_module_fn(md, name);
			snprintf(qual, sizeof qual, "'%s.%s'", r->stdmod, name);
			if (nd == NULL) {
				if (md && native_module_const(md, name))
					diag_error(c->d, callee->where, "%s is a constant, not callable",
					           qual);
				return;
			}
		} else {
			nd = native_builtin(name);
			snprintf(qual, sizeof qual, "'%s'", name);
			if (strcmp(name, "get") == 0)
				check_get_method(c, call);
			/* wait() in the driver makes it staged (section 6): lower.c */
		}
		const native_params *np = nd ? native_params_of(nd) : NULL;
		if (np == NULL)
			return;
		snprintf(s.what, sizeof s.what, "%s", qual);
		s.params = NULL;
		s.np = np;
		s.n = np->n;
		check_args(c, call, &s);
		return;
	}
	default:
		return;
	}
}

