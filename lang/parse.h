/* parse.h - the front end's entry point: source text to AST.
 *
 * parse_source registers the text with the diagnostics context, runs the
 * reentrant flex scanner and pure bison parser, and returns the module.
 * Syntax errors are recorded on `d` (as many as error recovery finds) and a
 * partial tree is still returned; check d->nerrors.
 *
 * Ownership: the tree lives in arena `a` (the caller's); the source text is
 * copied into `d`.
 */
#ifndef FLOW_PARSE_H
#define FLOW_PARSE_H

#include <stddef.h>

#include "ast.h"

ast_module *parse_source(arena *a, diag_ctx *d, const char *path,
                         const char *src, size_t len);

/* Lexer-only entry for tests: writes one token per line, "LINE:COL KIND
 * [text]", to out. Returns the number of lexical errors. */
int lex_dump(diag_ctx *d, const char *path, const char *src, size_t len, FILE *out);

#endif
