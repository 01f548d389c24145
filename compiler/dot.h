/* dot.h - Graphviz output of a lowered DAG (`flow dot`, issue 3), and
 * rendering DOT text to svg/png/pdf through Graphviz.
 *
 * Legend (also in docs/dot.md):
 *   task call          box, rounded corners
 *   actor creation     box3d, inside its actor's cluster
 *   actor method call  ellipse, inside its actor's cluster
 *   implicit expr      dashed oval, smaller font
 *   driver effect      note
 *   put(value)         cylinder
 *   driver continues   cds, bold (the staged driver, run at run time)
 *   its run-time calls dashed: box (task), box3d (actor class), thick
 *                      box "→ stream" (a task that yields); ids r<slot>
 *   data edge          solid arrow
 *   ordering edge      dashed grey arrow (effects, actor calls)
 *   group of N nodes   label ends in "×N", double outline (bold for
 *                      rounded boxes); an edge standing for K > 1 edges
 *                      is labelled "×K"
 *
 * Ownership: the writer only reads the dag; dot_render's *err is
 * malloc'd and the caller frees it.
 */
#ifndef FLOW_DOT_H
#define FLOW_DOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dag.h"

/* What a decoration hook adds to one drawn node (see dot_opts). */
typedef struct dot_decor {
	/* fill colour ("#rrggbb", a name, or Graphviz's weighted list
	 * "#aaaaaa;0.17:#bbbbbb" for a mix); NULL = no fill */
	const char *fill;
	char label[128];     /* one more label line; "" = none */
	char fillbuf[64];    /* room for a fill the hook composes (fill may point here) */
} dot_decor;

typedef struct dot_opts {
	const char *rankdir; /* "TB" (NULL = TB), "LR", "BT" or "RL" */
	bool full;           /* one DOT node per DAG node: no collapsing */
	/* Optional (NULL: the plain drawing, byte for byte): called once per
	 * drawn node with its DAG nodes (a group's members, ascending; one
	 * node when not collapsed) and a zeroed *out to fill in. Used by
	 * `flow run --dot-out` to colour nodes by outcome. */
	void (*decorate)(void *ctx, const dag *d, const uint32_t *members, uint32_t n,
	                 dot_decor *out);
	void *ctx;           /* passed to decorate */
} dot_opts;

/* Writes d (finalized: dag_finalize called) as DOT. Unless o->full,
 * nodes with the same kind, callee, source place and predecessor groups
 * are drawn as one node ×N. o may be NULL (defaults). Returns 0, or -1
 * if d is not finalized, the rankdir is unknown or writing failed. */
int dag_write_dot(const dag *d, const dot_opts *o, FILE *out);

/* The most nodes a rendered picture may have: past it Graphviz runs for
 * minutes and draws something nobody can read (a 32767 px wide blank
 * PNG), so dot_render refuses. */
#define DOT_RENDER_MAX_NODES 1000

/* The format a file name's extension asks for: "svg", "png", "pdf",
 * "dot" (.dot or .gv: the DOT text), "" when the name has no extension
 * (DOT text), or NULL for an extension flow cannot write. */
const char *dot_format_of_path(const char *path);

/* Nodes drawn in DOT text written by dag_write_dot. */
uint32_t dot_count_nodes(const char *dot, size_t len);

/* Renders DOT text into out_path as format "svg", "png", "pdf" or "dot"
 * (the text itself). Uses libgvc when built with it, else the `dot`
 * program. A picture of more than DOT_RENDER_MAX_NODES nodes is refused
 * before Graphviz runs; a warning from Graphviz (a bitmap too large,
 * scaled down) is an error, and out_path is removed. Returns 0, or -1
 * with a malloc'd message in *err (if err). */
int dot_render(const char *dot, size_t len, const char *format, const char *out_path,
               char **err);
/* The same through one named program (e.g. "dot") only; for tests. */
int dot_render_program(const char *dot, size_t len, const char *format, const char *out_path,
                       const char *program, char **err);

#endif
