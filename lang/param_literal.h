/* param_literal.h - a list or dict param set from the command line
 * (`-p 'files=["a.txt","b.txt"]'`, or a JSON array/object from
 * --params-file): the text is read as a Flow literal, made only of
 * literals (numbers, strings, true/false, none, lists, dicts).
 *
 * Ownership: the tree lives in arena a; the text is registered with d
 * as a source named "-p NAME" (so a syntax error shows it). */
#ifndef FLOW_PARAM_LITERAL_H
#define FLOW_PARAM_LITERAL_H

#include "arena.h"
#include "ast.h"
#include "diag.h"

/* The literal in text for param name, declared want ("list", "dict"; or
 * NULL: either). NULL when it does not parse, is not made only of
 * literals, or is not a want: the error is on d. */
ast_expr *param_literal_parse(arena *a, diag_ctx *d, const char *name, const char *text,
                              const char *want);

#endif
