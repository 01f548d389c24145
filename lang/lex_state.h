/* lex_state.h - private state shared by the scanner (lexer.l), the grammar
 * (parser.y) and the token filter (parse.c). Not part of the public API.
 *
 * Ownership: a parse_state lives on the stack of parse_source / lex_dump;
 * its bracket stack is malloc'd and freed by parse_state_fini; everything
 * the tokens and the tree point at lives in ps->arena.
 */
#ifndef FLOW_LEX_STATE_H
#define FLOW_LEX_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "ast.h"
#include "parser.h"

/* What an open bracket is; '{' is a block or a dict literal by context. */
typedef enum { BR_PAREN, BR_BRACKET, BR_BLOCK, BR_DICT } bracket_kind;

typedef struct bracket {
	bracket_kind kind;
	span where;
} bracket;

/* Names seen so far, so that each distinct name is stored once. */
typedef struct lex_names {
	const char **slot; /* arena strings; NULL = empty */
	unsigned *hash;
	size_t cap, count;
} lex_names;

typedef struct lex_tok {
	int kind;
	FLOWYYSTYPE val;
	span loc;
} lex_tok;

struct parse_state {
	arena *arena;
	diag_ctx *diag;
	int file;
	const char *src; /* the text being scanned (whole file or f-string piece) */
	size_t len;
	void *scanner;   /* yyscan_t */

	/* scanner position: byte offsets into src */
	size_t pos, tok_pos, line_start;
	int line;
	int col_shift;   /* f-string pieces: column of src[0] minus 1 */

	/* token filter */
	bracket *br;
	int nbr, capbr;
	int prev;                /* last token handed to the parser; 0 at start */
	bool prev_else_stmt;     /* prev is an 'else' that follows a '}' */
	bool have_peek;
	lex_tok peek;
	bool have_after;         /* the raw token after an 'actor'/'param' */
	lex_tok after;
	bool after_block_close;  /* prev is a '}' that closed a block */
	int depth_before;        /* bracket depth before the last token */

	/* error recovery: while set, tokens nested deeper than recover_depth
	 * are swallowed so that bison resynchronises at the right level */
	bool recovering;
	int recover_depth;

	/* mode: a whole module, or one f-string expression */
	lex_tok last, last_prev; /* the last two tokens handed over, for messages */
	bool expr_mode, started;
	ast_expr *result_expr;
	ast_module *module;
	ptrvec decls;
	int errors_at_start;
	bool brace_hinted; /* told the user a '}' may be missing */
	int bad_string_line; /* line of the last unterminated string, or 0 */
	lex_names *names;  /* shared with f-string sub-parses; owned by the outermost */
	lex_names own_names;
};

/* lexer.l */
int lex_raw(FLOWYYSTYPE *val, span *loc, void *scanner);
/* Decodes the escapes of string text s[0..n) whose first byte is at column
 * col on line; reports bad escapes / invalid UTF-8 on ps. */
char *lex_decode(parse_state *ps, const char *s, size_t n, int line, int col, size_t *outlen);

/* parse.c */
/* The arena copy of name s[0..n), one per distinct name. */
const char *lex_intern(parse_state *ps, const char *s, size_t n);
int flowyylex(FLOWYYSTYPE *val, span *loc, parse_state *ps);
void parse_state_init(parse_state *ps, arena *a, diag_ctx *d, int file,
                      const char *src, size_t len, int line, int col_shift);
void parse_state_fini(parse_state *ps);
void parse_vec_push(parse_state *ps, ptrvec *v, void *item);
/* A token's description for messages: "'else'", "newline", "name 'x'". */
const char *parse_tok_name(int tok);

#endif
