/* diag.h - diagnostics: errors collected on a context, printed gcc-style.
 *
 *   pipeline.flow:12:9: error: unknown name 'sqaure'; did you mean 'square'?
 *      12 |     let y = sqaure(x)
 *         |             ^~~~~~
 *
 * Ownership: a diag_ctx owns copies of every message and of every source
 * text registered with diag_add_source(). Sources are identified by a small
 * integer file id used in every span.
 */
#ifndef FLOW_DIAG_H
#define FLOW_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* A region of source: 1-based line and column (columns count bytes),
 * end inclusive-exclusive: [line:col, end_line:end_col). */
typedef struct span {
	int file; /* id from diag_add_source; -1 = no place */
	int line, col;
	int end_line, end_col;
} span;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } diag_level;

typedef struct diag_msg {
	diag_level level;
	span where;
	char *text;
} diag_msg;

typedef struct diag_ctx {
	struct diag_src *srcs;
	int nsrcs, capsrcs;
	diag_msg *msgs;
	int nmsgs, capmsgs;
	int nerrors;
	int max_errors; /* stop recording after this many (default 100) */
} diag_ctx;

void diag_init(diag_ctx *d);
void diag_fini(diag_ctx *d);

/* Registers a source text (copied) under a path; returns its file id. */
int diag_add_source(diag_ctx *d, const char *path, const char *text, size_t len);
const char *diag_source_path(const diag_ctx *d, int file);
const char *diag_source_text(const diag_ctx *d, int file, size_t *len);

void diag_error(diag_ctx *d, span where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_note(diag_ctx *d, span where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_verror(diag_ctx *d, diag_level lvl, span where, const char *fmt, va_list ap);

/* Prints every message in the order recorded (sorted by place within one
 * file when diag_sort was called), gcc-style with source line and caret. */
void diag_sort(diag_ctx *d);
void diag_print(const diag_ctx *d, FILE *out);
/* Formats one place + message into a malloc'd string (for runtime errors). */
char *diag_format(const diag_ctx *d, diag_level lvl, span where, const char *text);

/* "did you mean": the closest candidate within a small edit distance, or
 * NULL. cands is a NULL-terminated array (ncands == 0) or ncands entries
 * (stopping early at a NULL entry). Ties go to the earlier candidate.
 * Close: Damerau distance <= max(1, len/3), or else one name is a prefix
 * of the other but for its last letter ("integer"/"int"). */
const char *diag_suggest(const char *name, const char *const *cands, size_t ncands);

/* The hint paired with name in a table of {name, hint} pairs (what Flow
 * writes for a Python or Ray habit), or NULL. */
const char *diag_hint(const char *const (*pairs)[2], size_t npairs, const char *name);

#endif
