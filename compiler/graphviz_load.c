/* graphviz_load.c - Graphviz (libgvc, libcgraph) opened on first use.
 *
 * dot.c calls Graphviz by its own names (gvContext, agmemread, ...); the
 * libraries are not linked (compiler/meson.build): these functions of the
 * same names forward through a table filled by dlopen on the first call,
 * so a process that never renders a picture never maps Graphviz and its
 * seven libraries. The prototypes are Graphviz's own (<gvc.h>), so a
 * signature that drifts fails to compile.
 *
 * If the libraries cannot be opened, gvContext() returns NULL (and
 * agseterrf() does nothing), graphviz_load_error() says why: dot.c draws
 * with the `dot` program if there is one, as without the library, and
 * else says what is missing and which packages bring it.
 * Ownership: the table is process-wide, filled once, never freed. */
#include "compiler/graphviz_load.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include <gvc.h>

static struct {
	__typeof__(gvContext) *gvContext;
	__typeof__(gvLayout) *gvLayout;
	__typeof__(gvRender) *gvRender;
	__typeof__(gvFreeLayout) *gvFreeLayout;
	__typeof__(gvFreeContext) *gvFreeContext;
	__typeof__(agmemread) *agmemread;
	__typeof__(agclose) *agclose;
	__typeof__(agseterrf) *agseterrf;
} gv;
static int gv_ok;
static char gv_why[512]; /* written once, under gv_once */
static pthread_once_t gv_once = PTHREAD_ONCE_INIT;

#define SYM(h, name) (gv.name = (__typeof__(gv.name))dlsym(h, #name))

static void open_graphviz(void)
{
	/* global, as when linked: the plugins Graphviz opens itself
	 * (libgvplugin_*) resolve against the loaded libgvc and libcgraph */
	void *cg = dlopen("libcgraph.so.6", RTLD_NOW | RTLD_GLOBAL);
	void *g = cg ? dlopen("libgvc.so.6", RTLD_NOW | RTLD_GLOBAL) : NULL;
	if (!g) {
		const char *e = dlerror();
		snprintf(gv_why, sizeof gv_why, "%s", e ? e : "cannot open libgvc.so.6");
		return;
	}
	gv_ok = SYM(g, gvContext) && SYM(g, gvLayout) && SYM(g, gvRender) &&
	        SYM(g, gvFreeLayout) && SYM(g, gvFreeContext) && SYM(cg, agmemread) &&
	        SYM(cg, agclose) && SYM(cg, agseterrf);
	if (!gv_ok)
		snprintf(gv_why, sizeof gv_why, "libgvc.so.6 lacks a function flow calls");
}

const char *graphviz_load_error(void)
{
	pthread_once(&gv_once, open_graphviz);
	return gv_why;
}

static int loaded(void)
{
	pthread_once(&gv_once, open_graphviz);
	return gv_ok;
}

GVC_t *gvContext(void)
{
	return loaded() ? gv.gvContext() : NULL;
}

/* The rest are only reached with a context or graph from the library. */
int gvLayout(GVC_t *gvc, graph_t *g, const char *engine)
{
	return loaded() ? gv.gvLayout(gvc, g, engine) : -1;
}

int gvRender(GVC_t *gvc, graph_t *g, const char *format, FILE *out)
{
	return loaded() ? gv.gvRender(gvc, g, format, out) : -1;
}

int gvFreeLayout(GVC_t *gvc, graph_t *g)
{
	return loaded() ? gv.gvFreeLayout(gvc, g) : -1;
}

int gvFreeContext(GVC_t *gvc)
{
	return loaded() ? gv.gvFreeContext(gvc) : -1;
}

Agraph_t *agmemread(const char *cp)
{
	return loaded() ? gv.agmemread(cp) : NULL;
}

int agclose(Agraph_t *g)
{
	return loaded() ? gv.agclose(g) : -1;
}

agusererrf agseterrf(agusererrf f)
{
	return loaded() ? gv.agseterrf(f) : NULL;
}
