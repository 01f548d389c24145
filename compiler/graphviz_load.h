/* graphviz_load.h - why Graphviz's library could not be opened
 * (graphviz_load.c opens it on first use).
 *
 * Ownership: the text is process-wide, static; never freed. */
#ifndef FLOW_GRAPHVIZ_LOAD_H
#define FLOW_GRAPHVIZ_LOAD_H

/* After gvContext() returned NULL: the loader's reason ("libgvc.so.6:
 * cannot open shared object file: ..."); "" when it did open. */
const char *graphviz_load_error(void);

#endif
