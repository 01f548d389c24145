/* parse.c - front-end driver: the token filter between scanner and grammar
 * (newline suppression, block/dict braces, error-recovery skipping),
 * f-string splitting, and the parse_source / lex_dump entry points. */
#include "parse.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#include "lex_state.h"
#include "lexer.h"

int flowyyparse(parse_state *ps);

void parse_vec_push(parse_state *ps, ptrvec *v, void *item)
{
	if (v->n == v->cap) {
		int cap = v->cap ? v->cap * 2 : 4;
		v->v = arena_grow_array(ps->arena, v->v, sizeof(void *), (size_t)v->cap, (size_t)cap);
		v->cap = cap;
	}
	v->v[v->n++] = item;
}

const char *lex_intern(parse_state *ps, const char *s, size_t n)
{
	lex_names *t = ps->names;
	unsigned h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	if (t->count * 2 >= t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		const char **slot = calloc(cap, sizeof *slot);
		unsigned *hash = calloc(cap, sizeof *hash);
		if (!slot || !hash) {
			fprintf(stderr, "flow: out of memory\n");
			abort();
		}
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->slot[i])
				continue;
			size_t j = t->hash[i] & (cap - 1);
			while (slot[j])
				j = (j + 1) & (cap - 1);
			slot[j] = t->slot[i];
			hash[j] = t->hash[i];
		}
		free(t->slot);
		free(t->hash);
		t->slot = slot;
		t->hash = hash;
		t->cap = cap;
	}
	size_t j = h & (t->cap - 1);
	for (; t->slot[j]; j = (j + 1) & (t->cap - 1))
		if (t->hash[j] == h && strncmp(t->slot[j], s, n) == 0 && t->slot[j][n] == '\0')
			return t->slot[j];
	t->slot[j] = arena_strndup(ps->arena, s, n);
	t->hash[j] = h;
	t->count++;
	return t->slot[j];
}

void parse_state_init(parse_state *ps, arena *a, diag_ctx *d, int file,
                      const char *src, size_t len, int line, int col_shift)
{
	memset(ps, 0, sizeof *ps);
	ps->arena = a;
	ps->diag = d;
	ps->file = file;
	ps->src = src;
	ps->len = len;
	ps->line = line;
	ps->col_shift = col_shift;
	ps->errors_at_start = d->nerrors;
	ps->names = &ps->own_names;
	yyscan_t sc;
	if (flowlexlex_init_extra(ps, &sc) != 0) {
		fprintf(stderr, "flow: out of memory\n");
		abort();
	}
	ps->scanner = sc;
	if (len > (size_t)INT_MAX - 2) { /* flex counts in int */
		diag_error(d, (span){ file, 1, 1, 1, 1 }, "source file is too large (over 2 GiB)");
		len = 0;
	}
	flowlex_scan_bytes(src, (int)len, sc);
}

void parse_state_fini(parse_state *ps)
{
	flowlexlex_destroy(ps->scanner);
	free(ps->br);
	ps->br = NULL;
	free(ps->own_names.slot);
	free(ps->own_names.hash);
}

/* ---- f-strings ------------------------------------------------------ */

static ast_expr *parse_fexpr(parse_state *ps, const char *s, size_t n, int line, int col)
{
	parse_state sub;
	parse_state_init(&sub, ps->arena, ps->diag, ps->file, s, n, line, col - 1);
	sub.expr_mode = true;
	sub.module = ps->module;
	sub.names = ps->names;
	flowyyparse(&sub);
	ast_expr *e = sub.result_expr;
	parse_state_fini(&sub);
	if (!e) { /* already reported; keep a placeholder so the tree is whole */
		e = arena_alloc(ps->arena, sizeof *e);
		e->kind = E_NONE;
		e->where = (span){ ps->file, line, col, line, col + (int)n };
	}
	return e;
}

static void add_part(parse_state *ps, ptrvec *parts, const char *text, size_t len,
                     ast_expr *e, const char *spec, ast_expr *spec_expr)
{
	ast_fpart *p = arena_alloc(ps->arena, sizeof *p);
	p->text = text;
	p->text_len = len;
	p->expr = e;
	p->spec = spec;
	p->spec_expr = spec_expr;
	parse_vec_push(ps, parts, p);
}

/* {x!r} is {str.repr(x)} and {x!s} is {str(x)}: the expression is parsed
 * inside that call, its columns kept where they are in the source. */
static ast_expr *fexpr_converted(parse_state *ps, const char *s, size_t n, char conv, int line, int col)
{
	if (!conv)
		return parse_fexpr(ps, s, n, line, col);
	const char *pre = conv == 'r' ? "str.repr(" : "str(";
	size_t pn = strlen(pre);
	char *w = arena_alloc(ps->arena, pn + n + 2);
	memcpy(w, pre, pn);
	memcpy(w + pn, s, n);
	w[pn + n] = ')';
	w[pn + n + 1] = '\0';
	return parse_fexpr(ps, w, pn + n + 1, line, col - (int)pn);
}

static ast_expr *fstring_build(parse_state *ps, const char *raw, size_t n, span loc);

/* Splits the raw text between f" and " (first byte at column col) into
 * literal pieces and {expr[:spec]} pieces; each expression is parsed by
 * re-entering the grammar with spans shifted to its place. */
static ast_expr *fstring_build(parse_state *ps, const char *raw, size_t n, span loc)
{
	ptrvec parts = { 0 };
	int col = loc.col + 2;
	char *lit = arena_alloc(ps->arena, n + 1); /* the literal piece being collected */
	size_t litn = 0;
	size_t i = 0;
	while (i < n) {
		char c = raw[i];
		if (c == '{' && i + 1 < n && raw[i + 1] == '{') {
			lit[litn++] = '{';
			i += 2;
		} else if (c == '}' && i + 1 < n && raw[i + 1] == '}') {
			lit[litn++] = '}';
			i += 2;
		} else if (c == '}') {
			span at = { ps->file, loc.line, col + (int)i, loc.line, col + (int)i + 1 };
			diag_error(ps->diag, at, "single '}' in f-string; write '}}' for a literal brace");
			i++;
		} else if (c == '{') {
			/* find the closing '}' at depth 0, skipping nested strings */
			size_t j = i + 1, colon = 0, close = 0, bang = 0;
			int depth = 0;
			bool found = false;
			while (j < n) {
				char d = raw[j];
				if (d == '"') {
					for (j++; j < n && raw[j] != '"'; j++)
						if (raw[j] == '\\')
							j++;
				} else if (d == '(' || d == '[' || d == '{') {
					depth++;
				} else if ((d == ')' || d == ']') && depth > 0) {
					depth--;
				} else if (d == '}') {
					if (depth == 0) {
						close = j;
						found = true;
						break;
					}
					depth--;
				} else if (d == '!' && depth == 0 && j + 2 < n && isalpha((unsigned char)raw[j + 1]) &&
				           (raw[j + 2] == ':' || raw[j + 2] == '}')) {
					bang = j; /* a conversion, {x!r} or {x!s:>8}, as Python's */
					if (raw[j + 1] != 'r' && raw[j + 1] != 's') {
						span cv = { ps->file, loc.line, col + (int)j, loc.line, col + (int)j + 2 };
						diag_error(ps->diag, cv, "f-string conversion '!%c' is not supported; use '!r' "
						           "(str.repr) or '!s' (str)", raw[j + 1]);
					}
					j++;
				} else if (d == ':' && depth == 0) {
					/* the spec runs to the matching '}': it may hold
					 * nested fields, {x:>{width}} (Python's f-strings) */
					colon = j;
					int sd = 0;
					for (size_t k = j + 1; k < n; k++) {
						if (raw[k] == '{') {
							sd++;
						} else if (raw[k] == '}') {
							if (sd == 0) {
								close = k;
								found = true;
								break;
							}
							sd--;
						}
					}
					break;
				}
				j++;
			}
			span at = { ps->file, loc.line, col + (int)i, loc.line, col + (int)i + 1 };
			if (!found) {
				diag_error(ps->diag, at, "'{' in f-string is not closed; write '{{' for a literal brace");
				break;
			}
			size_t eend = bang ? bang : colon ? colon : close;
			bool blank = true;
			for (size_t k = i + 1; k < eend; k++)
				if (raw[k] != ' ' && raw[k] != '\t')
					blank = false;
			if (litn > 0) {
				add_part(ps, &parts, lit, litn, NULL, NULL, NULL);
				lit = arena_alloc(ps->arena, n + 1);
				litn = 0;
			}
			ast_expr *e;
			if (blank) {
				at.end_col = col + (int)close + 1;
				diag_error(ps->diag, at, "empty expression in f-string");
				e = arena_alloc(ps->arena, sizeof *e);
				e->kind = E_NONE;
				e->where = at;
			} else {
				e = fexpr_converted(ps, raw + i + 1, eend - i - 1, bang ? raw[bang + 1] : 0, loc.line,
				                    col + (int)i + 1);
			}
			const char *spec = colon ? arena_strndup(ps->arena, raw + colon + 1, close - colon - 1) : NULL;
			ast_expr *spec_e = NULL;
			if (spec && strchr(spec, '{')) {
				span sl = loc;
				sl.col = col + (int)colon + 1 - 2; /* fstring_build's text starts at col + 2 */
				spec_e = fstring_build(ps, raw + colon + 1, close - colon - 1, sl);
			}
			add_part(ps, &parts, NULL, 0, e, spec, spec_e);
			i = close + 1;
		} else {
			/* a run of literal text up to the next brace, escapes decoded */
			size_t j = i;
			while (j < n && raw[j] != '{' && raw[j] != '}') {
				if (raw[j] == '\\' && j + 2 < n && raw[j + 1] == 'u' && raw[j + 2] == '{') {
					/* \u{...} keeps its braces */
					const char *e = memchr(raw + j, '}', n - j);
					j = e ? (size_t)(e - raw) : j + 1;
				} else if (raw[j] == '\\' && j + 1 < n) {
					j++;
				}
				j++;
			}
			size_t dn;
			char *d = lex_decode(ps, raw + i, j - i, loc.line, col + (int)i, &dn);
			memcpy(lit + litn, d, dn);
			litn += dn;
			i = j;
		}
	}
	if (litn > 0)
		add_part(ps, &parts, lit, litn, NULL, NULL, NULL);
	ast_expr *f = arena_alloc(ps->arena, sizeof *f);
	f->kind = E_FSTRING;
	f->where = loc;
	f->u.fstr.nparts = parts.n;
	f->u.fstr.parts = parts.n ? arena_alloc(ps->arena, sizeof(ast_fpart) * (size_t)parts.n) : NULL;
	for (int k = 0; k < parts.n; k++)
		f->u.fstr.parts[k] = *(ast_fpart *)parts.v[k];
	return f;
}

/* ---- token filter --------------------------------------------------- */

static lex_tok lex_one(parse_state *ps)
{
	if (ps->have_after) {
		ps->have_after = false;
		return ps->after;
	}
	lex_tok t;
	memset(&t, 0, sizeof t);
	t.kind = lex_raw(&t.val, &t.loc, ps->scanner);
	if (t.kind == FSTRING)
		t.val.expr = fstring_build(ps, t.val.str.s, t.val.str.len, t.loc);
	return t;
}

static lex_tok next_raw(parse_state *ps)
{
	if (ps->have_peek) {
		ps->have_peek = false;
		return ps->peek;
	}
	lex_tok t = lex_one(ps);
	if (t.kind == ACTOR || t.kind == PARAM) {
		/* keywords only where a declaration starts (`actor Name`,
		 * `param name`); elsewhere (`let actor = Actor()`) a name */
		ps->after = lex_one(ps);
		ps->have_after = true;
		if (ps->after.kind != NAME) {
			t.val.str.s = t.kind == ACTOR ? "actor" : "param";
			t.val.str.len = 5;
			t.kind = NAME;
		}
	}
	return t;
}

/* The next token that is not a newline (consecutive newlines collapse). */
static int peek_past_newlines(parse_state *ps)
{
	for (;;) {
		lex_tok t = next_raw(ps);
		if (t.kind != NEWLINE) {
			ps->peek = t;
			ps->have_peek = true;
			return t.kind;
		}
	}
}

/* A newline after one of these does not end a statement. */
static bool continues_line(int k)
{
	switch (k) {
	case 0: case START_EXPR: case NEWLINE: case ';': case ',': case '(': case '[':
	case LBRACE_BLOCK: case LBRACE_DICT: case '=': case PLUSEQ: case MINUSEQ:
	case STAREQ: case SLASHEQ: case ARROW: case '.': case ':': case '+': case '-':
	case '*': case '/': case DSLASH: case '%': case DSTAR: case '@': case EQ: case NE:
	case '<': case LE: case '>': case GE: case AND: case OR: case NOT: case IN: case ELSE:
		return true;
	default:
		return false;
	}
}

/* Keywords that only begin statements or declarations: seeing one at the
 * start of a line inside ( [ or a dict means a bracket was left open. */
static bool starts_statement_only(int k)
{
	switch (k) {
	case LET: case FN: case TASK: case ACTOR: case IMPORT: case PARAM: case CONST:
	case RETURN: case WHILE: case BREAK: case CONTINUE: case TRY: case YIELD:
		return true;
	default:
		return false;
	}
}

/* '{' opens a block after a name, a closing bracket, a literal, a
 * statement's 'else', or at the start of a statement; otherwise a dict. */
static bool brace_is_block(const parse_state *ps)
{
	switch (ps->prev) {
	case NAME: case ')': case ']': case '}': case INT: case FLOAT: case STRING:
	case FSTRING: case TRUE: case FALSE: case NONE: case NEWLINE: case ';':
	case LBRACE_BLOCK: case 0: case TRY: case EXCEPT:
	case FN: case TASK: /* a return annotation: -> fn { */
		return true;
	case ELSE:
		return ps->prev_else_stmt;
	default:
		return false;
	}
}

static void push_bracket(parse_state *ps, bracket_kind k, span where)
{
	if (ps->nbr == ps->capbr) {
		ps->capbr = ps->capbr ? ps->capbr * 2 : 16;
		ps->br = realloc(ps->br, sizeof *ps->br * (size_t)ps->capbr);
		if (!ps->br) {
			fprintf(stderr, "flow: out of memory\n");
			abort();
		}
	}
	ps->br[ps->nbr].kind = k;
	ps->br[ps->nbr].where = where;
	ps->nbr++;
}

static bracket_kind top_bracket(const parse_state *ps)
{
	return ps->nbr ? ps->br[ps->nbr - 1].kind : BR_BLOCK;
}

/* Pops to the bracket that closer c matches and returns 1; returns 0
 * (popping nothing) when c matches nothing open, -1 on an empty stack. */
static int pop_bracket(parse_state *ps, int c, bracket_kind *popped)
{
	if (ps->nbr == 0)
		return -1;
	for (int i = ps->nbr - 1; i >= 0; i--) {
		bracket_kind k = ps->br[i].kind;
		bool match = (c == ')' && k == BR_PAREN) || (c == ']' && k == BR_BRACKET) ||
		             (c == '}' && (k == BR_BLOCK || k == BR_DICT));
		if (match) {
			*popped = k;
			ps->nbr = i;
			return 1;
		}
		if (k == BR_BLOCK && c != '}')
			return 0; /* a ')' never closes past a block */
	}
	return 0;
}

static int hand_over(parse_state *ps, lex_tok *t, FLOWYYSTYPE *val, span *loc)
{
	if (t->kind == ELSE)
		ps->prev_else_stmt = ps->prev == '}';
	ps->prev = t->kind;
	ps->last_prev = ps->last;
	ps->last = *t;
	*val = t->val;
	*loc = t->loc;
	return t->kind;
}

int flowyylex(FLOWYYSTYPE *val, span *loc, parse_state *ps)
{
	if (ps->expr_mode && !ps->started) {
		ps->started = true;
		lex_tok t = { START_EXPR, { 0 }, { ps->file, ps->line, ps->col_shift + 1, ps->line, ps->col_shift + 1 } };
		return hand_over(ps, &t, val, loc);
	}
	for (;;) {
		lex_tok t = next_raw(ps);
		int depth = ps->nbr;

		/* a block's '}' ends its statement, as if a newline followed */
		if (ps->after_block_close) {
			ps->after_block_close = false;
			if (t.kind != NEWLINE && t.kind != ';' && t.kind != '}' && t.kind != ELSE && t.kind != EXCEPT &&
			    t.kind != 0 && t.kind != ')' && t.kind != ']') {
				ps->peek = t;
				ps->have_peek = true;
				lex_tok nl = { NEWLINE, { 0 }, { t.loc.file, t.loc.line, t.loc.col, t.loc.line, t.loc.col } };
				ps->depth_before = depth;
				if (ps->recovering && depth <= ps->recover_depth)
					ps->recovering = false;
				return hand_over(ps, &nl, val, loc);
			}
		}

		switch (t.kind) {
		case NEWLINE:
			if (ps->nbr > 0 && top_bracket(ps) != BR_BLOCK) {
				/* the string that ate the closing bracket was reported */
				bool after_bad_string = ps->bad_string_line == t.loc.line;
				if (!after_bad_string && !starts_statement_only(peek_past_newlines(ps)))
					continue;
				/* an unclosed ( [ or dict: end the statement here */
				while (ps->nbr > 0 && top_bracket(ps) != BR_BLOCK)
					ps->nbr--;
				depth = ps->nbr;
				break;
			}
			if (continues_line(ps->prev))
				continue;
			if (peek_past_newlines(ps) == ELSE ||
			    (ps->prev == '}' && peek_past_newlines(ps) == EXCEPT))
				continue; /* '}' newline 'else' continues the if (and 'except' a try) */
			break;
		case '{':
			t.kind = brace_is_block(ps) ? LBRACE_BLOCK : LBRACE_DICT;
			push_bracket(ps, t.kind == LBRACE_BLOCK ? BR_BLOCK : BR_DICT, t.loc);
			break;
		case '(':
			push_bracket(ps, BR_PAREN, t.loc);
			break;
		case '[':
			push_bracket(ps, BR_BRACKET, t.loc);
			break;

		case ')': case ']': case '}': {
			bracket_kind k = BR_PAREN;
			int r = pop_bracket(ps, t.kind, &k);
			if (r < 0 && t.kind == '}') {
				/* a stray '}' after an earlier error is its echo: drop it */
				if (ps->diag->nerrors == ps->errors_at_start)
					diag_error(ps->diag, t.loc, "unmatched '}'");
				continue;
			}
			if (r > 0 && k == BR_BLOCK)
				ps->after_block_close = true;
			break;
		}
		default:
			break;
		}

		if (ps->recovering && t.kind != 0) {
			int deepest = depth > ps->nbr ? depth : ps->nbr;
			if (deepest > ps->recover_depth) {
				ps->after_block_close = false;
				ps->prev = t.kind; /* newline rules still follow the real text */
				continue;
			}
			if (t.kind == NEWLINE || t.kind == ';' || t.kind == '}')
				ps->recovering = false;
		}
		ps->depth_before = depth;
		return hand_over(ps, &t, val, loc);
	}
}

/* ---- entry points --------------------------------------------------- */

static const char *module_name(arena *a, const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".flow") == 0)
		n -= 5;
	return arena_strndup(a, base, n);
}

/* A UTF-8 byte order mark (editors on Windows write one) is not part of
 * the program: dropped before anything counts lines and columns. */
static void skip_bom(const char **src, size_t *len)
{
	if (*len >= 3 && memcmp(*src, "\xEF\xBB\xBF", 3) == 0) {
		*src += 3;
		*len -= 3;
	}
}

ast_module *parse_source(arena *a, diag_ctx *d, const char *path, const char *src, size_t len)
{
	skip_bom(&src, &len);
	int file = diag_add_source(d, path, src, len);
	ast_module *m = arena_alloc(a, sizeof *m);
	m->path = arena_strdup(a, path);
	m->name = module_name(a, path);
	m->file = file;
	m->arena = a;
	size_t tlen;
	const char *text = diag_source_text(d, file, &tlen);
	if (!text) {
		text = src;
		tlen = len;
	}

	parse_state ps;
	parse_state_init(&ps, a, d, file, text, tlen, 1, 0);
	ps.module = m;
	flowyyparse(&ps);
	m->decls = (ast_decl **)ps.decls.v;
	m->ndecls = ps.decls.n;
	parse_state_fini(&ps);
	return m;
}

static const char *tok_kind_text(int k, bool *quoted)
{
	const char *n = parse_tok_name(k);
	size_t len = strlen(n);
	*quoted = len >= 2 && n[0] == '\'' && n[len - 1] == '\'';
	return n;
}

int lex_dump(diag_ctx *d, const char *path, const char *src, size_t len, FILE *out)
{
	arena a;
	arena_init(&a);
	int before = d->nerrors;
	skip_bom(&src, &len);
	int file = diag_add_source(d, path, src, len);
	size_t tlen;
	const char *text = diag_source_text(d, file, &tlen);
	if (!text) {
		text = src;
		tlen = len;
	}
	parse_state ps;
	parse_state_init(&ps, &a, d, file, text, tlen, 1, 0);
	for (;;) {
		FLOWYYSTYPE v;
		span at;
		int k = flowyylex(&v, &at, &ps);
		fprintf(out, "%d:%d ", at.line, at.col);
		switch (k) {
		case 0: fputs("EOF", out); break;
		case NAME: fprintf(out, "NAME %s", v.str.s); break;
		case INT: fprintf(out, "INT %" PRId64, v.ival); break;
		case FLOAT: fputs("FLOAT ", out); ast_write_float(out, v.fval); break;
		case STRING: fputs("STRING ", out); ast_write_quoted(out, v.str.s, v.str.len); break;
		case NEWLINE: fputs("NEWLINE", out); break;
		case LBRACE_BLOCK: fputs("{ block", out); break;
		case LBRACE_DICT: fputs("{ dict", out); break;
		case FSTRING:
			fputs("FSTRING", out);
			for (int i = 0; i < v.expr->u.fstr.nparts; i++) {
				const ast_fpart *p = &v.expr->u.fstr.parts[i];
				fputc(' ', out);
				if (!p->expr) {
					ast_write_quoted(out, p->text, p->text_len);
					continue;
				}
				/* the expression as written, sliced from the source line */
				span w = p->expr->where;
				const char *ls = text;
				for (int l = 1; l < w.line && ls; l++) {
					ls = memchr(ls, '\n', tlen - (size_t)(ls - text));
					if (ls)
						ls++;
				}
				fputc('{', out);
				if (ls && w.end_line == w.line && w.end_col >= w.col)
					fwrite(ls + w.col - 1, 1, (size_t)(w.end_col - w.col), out);
				if (p->spec)
					fprintf(out, ":%s", p->spec);
				fputc('}', out);
			}
			break;
		default: {
			bool q;
			const char *n = tok_kind_text(k, &q);
			if (q)
				fprintf(out, "%.*s", (int)strlen(n) - 2, n + 1);
			else
				fputs(n, out);
			break;
		}
		}
		fputc('\n', out);
		if (k == 0)
			break;
	}
	parse_state_fini(&ps);
	arena_free(&a);
	return d->nerrors - before;
}
