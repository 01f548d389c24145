/* ast.c - operator names and a readable dump of the syntax tree (tests). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "value.h"

const char *const ast_binop_text[BIN__COUNT] = {
#define X(name, text) text,
	AST_BINOP_LIST(X)
#undef X
};

static const char *const assign_text[] = { "=", "+=", "-=", "*=", "/=" };

static void indent(FILE *out, int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("  ", out);
}

void ast_write_quoted(FILE *out, const char *s, size_t n)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void ast_write_float(FILE *out, double d)
{
	sbuf b;
	sbuf_init(&b);
	val_float_repr(&b, d);
	fwrite(b.data, 1, b.len, out);
	sbuf_fini(&b);
}

static void dump_expr(const ast_expr *e, FILE *out, int depth);
static void dump_stmt(const ast_stmt *s, FILE *out, int depth);

static void dump_opt(const ast_expr *e, FILE *out, int depth)
{
	if (e) {
		dump_expr(e, out, depth);
	} else {
		indent(out, depth);
		fputs("-\n", out);
	}
}

static void dump_args(const ast_arg *args, int n, FILE *out, int depth)
{
	for (int i = 0; i < n; i++) {
		if (args[i].name) {
			indent(out, depth);
			fprintf(out, "kwarg %s\n", args[i].name);
			dump_expr(args[i].value, out, depth + 1);
		} else {
			dump_expr(args[i].value, out, depth);
		}
	}
}

static void dump_names(FILE *out, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : " ", names[i]);
}

static void dump_expr(const ast_expr *e, FILE *out, int depth)
{
	indent(out, depth);
	switch (e->kind) {
	case E_NONE: fputs("none\n", out); break;
	case E_BOOL: fputs(e->u.b ? "true\n" : "false\n", out); break;
	case E_INT: fprintf(out, "int %" PRId64 "\n", e->u.i); break;
	case E_FLOAT: fputs("float ", out); ast_write_float(out, e->u.f); fputc('\n', out); break;
	case E_STR:
		fputs("str ", out);
		ast_write_quoted(out, e->u.str.s, e->u.str.len);
		fputc('\n', out);
		break;
	case E_FSTRING:
		fputs("fstring\n", out);
		for (int i = 0; i < e->u.fstr.nparts; i++) {
			const ast_fpart *p = &e->u.fstr.parts[i];
			indent(out, depth + 1);
			if (!p->expr) {
				fputs("text ", out);
				ast_write_quoted(out, p->text, p->text_len);
				fputc('\n', out);
				continue;
			}
			fputs("value", out);
			if (p->spec) {
				fputs(" spec ", out);
				ast_write_quoted(out, p->spec, strlen(p->spec));
			}
			fputc('\n', out);
			dump_expr(p->expr, out, depth + 2);
			if (p->spec_expr)
				dump_expr(p->spec_expr, out, depth + 2);
		}
		break;
	case E_NAME: fprintf(out, "name %s\n", e->u.name.name); break;
	case E_LIST:
		fputs("list\n", out);
		for (int i = 0; i < e->u.list.nitems; i++)
			dump_expr(e->u.list.items[i], out, depth + 1);
		break;
	case E_DICT:
		fputs("dict\n", out);
		for (int i = 0; i < e->u.dict.nitems; i++) {
			dump_expr(e->u.dict.keys[i], out, depth + 1);
			dump_expr(e->u.dict.values[i], out, depth + 2);
		}
		break;
	case E_COMP:
		fputs(e->u.comp.key ? "dictcomp\n" : "comp\n", out);
		if (e->u.comp.key)
			dump_expr(e->u.comp.key, out, depth + 1);
		dump_expr(e->u.comp.elt, out, depth + 1);
		for (int i = 0; i < e->u.comp.nclauses; i++) {
			const ast_compclause *c = &e->u.comp.clauses[i];
			indent(out, depth + 1);
			if (c->is_if) {
				fputs("if\n", out);
				dump_expr(c->cond, out, depth + 2);
			} else {
				fputs("for", out);
				dump_names(out, c->names, c->nnames);
				fputc('\n', out);
				dump_expr(c->iter, out, depth + 2);
			}
		}
		break;
	case E_UNARY:
		fprintf(out, "unary %s\n", e->u.unary.op == UN_NEG ? "-" : "not");
		dump_expr(e->u.unary.operand, out, depth + 1);
		break;
	case E_BINARY:
		fprintf(out, "binary %s\n", ast_binop_text[e->u.binary.op]);
		dump_expr(e->u.binary.left, out, depth + 1);
		dump_expr(e->u.binary.right, out, depth + 1);
		break;
	case E_COMPARE:
		fputs("compare", out);
		for (int i = 0; i + 1 < e->u.compare.noperands; i++)
			fprintf(out, " %s", ast_binop_text[e->u.compare.ops[i]]);
		fputc('\n', out);
		for (int i = 0; i < e->u.compare.noperands; i++)
			dump_expr(e->u.compare.operands[i], out, depth + 1);
		break;
	case E_TERNARY:
		fputs("ternary\n", out);
		dump_expr(e->u.ternary.then, out, depth + 1);
		dump_expr(e->u.ternary.cond, out, depth + 1);
		dump_expr(e->u.ternary.otherwise, out, depth + 1);
		break;
	case E_CALL:
		fputs("call\n", out);
		dump_expr(e->u.call.callee, out, depth + 1);
		dump_args(e->u.call.args, e->u.call.nargs, out, depth + 1);
		break;
	case E_INDEX:
		fputs("index\n", out);
		dump_expr(e->u.index.obj, out, depth + 1);
		dump_expr(e->u.index.index, out, depth + 1);
		break;
	case E_SLICE:
		fputs("slice\n", out);
		dump_expr(e->u.slice.obj, out, depth + 1);
		dump_opt(e->u.slice.lo, out, depth + 1);
		dump_opt(e->u.slice.hi, out, depth + 1);
		dump_opt(e->u.slice.step, out, depth + 1);
		break;
	case E_FIELD:
		fprintf(out, "field %s\n", e->u.field.name);
		dump_expr(e->u.field.obj, out, depth + 1);
		break;
	}
}

static void dump_block(const ast_block *b, FILE *out, int depth)
{
	for (int i = 0; i < b->nstmts; i++)
		dump_stmt(b->stmts[i], out, depth);
}

static void dump_stmt(const ast_stmt *s, FILE *out, int depth)
{
	indent(out, depth);
	switch (s->kind) {
	case S_EXPR:
		fputs("expr\n", out);
		dump_expr(s->u.expr, out, depth + 1);
		break;
	case S_LET:
		fputs("let", out);
		dump_names(out, s->u.let.names, s->u.let.nnames);
		if (s->u.let.type.name)
			fprintf(out, ": %s", s->u.let.type.name);
		fputc('\n', out);
		dump_expr(s->u.let.value, out, depth + 1);
		break;
	case S_ASSIGN:
		fprintf(out, "assign %s\n", assign_text[s->u.assign.op]);
		for (int i = 0; i < s->u.assign.ntargets; i++)
			dump_expr(s->u.assign.targets[i], out, depth + 1);
		dump_expr(s->u.assign.value, out, depth + 1);
		break;
	case S_IF:
		fputs("if\n", out);
		dump_expr(s->u.if_.cond, out, depth + 1);
		indent(out, depth);
		fputs("then\n", out);
		dump_block(&s->u.if_.then, out, depth + 1);
		if (s->u.if_.otherwise) {
			indent(out, depth);
			fputs("else\n", out);
			dump_stmt(s->u.if_.otherwise, out, depth + 1);
		}
		break;
	case S_WHILE:
		fputs("while\n", out);
		dump_expr(s->u.while_.cond, out, depth + 1);
		indent(out, depth);
		fputs("do\n", out);
		dump_block(&s->u.while_.body, out, depth + 1);
		break;
	case S_FOR:
		fputs("for", out);
		dump_names(out, s->u.for_.names, s->u.for_.nnames);
		fputc('\n', out);
		dump_expr(s->u.for_.iter, out, depth + 1);
		indent(out, depth);
		fputs("do\n", out);
		dump_block(&s->u.for_.body, out, depth + 1);
		break;
	case S_BREAK: fputs("break\n", out); break;
	case S_CONTINUE: fputs("continue\n", out); break;
	case S_RETURN:
		fputs("return\n", out);
		if (s->u.ret)
			dump_expr(s->u.ret, out, depth + 1);
		break;
	case S_BLOCK:
		fputs("block\n", out);
		dump_block(&s->u.block, out, depth + 1);
		break;
	case S_TRY:
		fputs("try\n", out);
		dump_block(&s->u.try_.body, out, depth + 1);
		indent(out, depth);
		fprintf(out, "except%s%s\n", s->u.try_.name ? " " : "", s->u.try_.name ? s->u.try_.name : "");
		dump_block(&s->u.try_.handler, out, depth + 1);
		break;
	case S_YIELD:
		fputs("yield\n", out);
		dump_expr(s->u.ret, out, depth + 1);
		break;
	}
}

static void dump_type(FILE *out, const char *sep, ast_type t)
{
	if (t.name)
		fprintf(out, "%s%s", sep, t.name);
}

static void dump_decl(const ast_decl *d, FILE *out, int depth)
{
	for (int i = 0; i < d->ndecorators; i++) {
		indent(out, depth);
		fprintf(out, "@%s\n", d->decorators[i].name);
		dump_args(d->decorators[i].args, d->decorators[i].nargs, out, depth + 1);
	}
	indent(out, depth);
	switch (d->kind) {
	case D_IMPORT:
		fputs("import ", out);
		if (d->u.import.is_file)
			ast_write_quoted(out, d->u.import.what, strlen(d->u.import.what));
		else
			fputs(d->u.import.what, out);
		if (d->u.import.alias)
			fprintf(out, " as %s", d->u.import.alias);
		fputc('\n', out);
		break;
	case D_PARAM:
		fprintf(out, "param %s", d->name);
		dump_type(out, ": ", d->u.param.type);
		fputc('\n', out);
		if (d->u.param.deflt)
			dump_expr(d->u.param.deflt, out, depth + 1);
		break;
	case D_CONST:
		fprintf(out, "const %s\n", d->name);
		dump_expr(d->u.const_.value, out, depth + 1);
		break;
	case D_FN:
	case D_TASK:
		fprintf(out, "%s %s", d->kind == D_FN ? "fn" : "task", d->name);
		dump_type(out, " -> ", d->u.fn.ret);
		fputc('\n', out);
		for (int i = 0; i < d->u.fn.nparams; i++) {
			const ast_param *p = &d->u.fn.params[i];
			indent(out, depth + 1);
			fprintf(out, "param %s", p->name);
			dump_type(out, ": ", p->type);
			fputc('\n', out);
			if (p->deflt)
				dump_expr(p->deflt, out, depth + 2);
		}
		indent(out, depth + 1);
		fputs("body\n", out);
		dump_block(&d->u.fn.body, out, depth + 2);
		break;
	case D_ACTOR:
		fprintf(out, "actor %s\n", d->name);
		for (int i = 0; i < d->u.actor.nmethods; i++)
			dump_decl(d->u.actor.methods[i], out, depth + 1);
		break;
	case D_STMT:
		fputs("stmt\n", out);
		dump_stmt(d->u.stmt, out, depth + 1);
		break;
	}
}

void ast_dump(const ast_module *m, FILE *out)
{
	fprintf(out, "module %s\n", m->name ? m->name : "?");
	for (int i = 0; i < m->ndecls; i++)
		dump_decl(m->decls[i], out, 1);
}
