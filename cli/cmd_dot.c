/* cmd_dot.c - `flow dot FILE`: the DAG in Graphviz DOT, or rendered
 * through Graphviz (docs/dot.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "compiler/dot.h"

/* X(ID, SHORT, LONG, ARG, REPEAT, HELP): see cli.h */
#define DOT_OPTS(X) \
	X(FORMAT, 'T', "format", "svg|png|pdf|dot", false, \
	  "render through Graphviz to svg, png or pdf\n(needs -o; 'dot' writes the DOT text; default:\n" \
	  "OUT's extension)") \
	X(OUTPUT, 'o', "output", "OUT", false, "write to OUT instead of stdout: .svg, .png and\n" \
	  ".pdf are rendered, .dot, .gv or no extension\nget the DOT text") \
	X(RANKDIR, 0, "rankdir", "TB|LR|BT|RL", false, "layout direction (default TB, top to bottom)") \
	X(FULL, 0, "full", NULL, false, "one DOT node per DAG node: no collapsing") \
	X(NO_REWRITE, 0, "no-rewrite", NULL, false, "the DAG before the rewrite of @associative chains") \
	X(PARAM, 'p', "param", "name=value", true, "set a param (a list or dict param: a Flow\nliteral, -p 'files=[\"a.txt\", \"b.txt\"]')") \
	X(PARAMS_FILE, 0, "params-file", "FILE", false, "params from a JSON object in FILE\n({\"name\": value, ...}); -p overrides them")

CLI_COMMAND(dot, DOT_OPTS,
	.operand = "FILE",
	.about = "Writes the DAG that FILE (a .flow file or a plan; '-': stdin) compiles\n"
	         "to, in Graphviz's DOT language: one node per task call (box), actor\n"
	         "creation (3-D box), method call (ellipse), driver effect (note)\n"
	         "and run-time expression (dashed oval), labelled with its name and\n"
	         "file:line; an actor's calls share a cluster; dashed grey edges only\n"
	         "order effects. Identical calls are drawn once, marked xN (docs/dot.md).");

typedef struct dot_args {
	cli_prog prog;
	dot_opts dopt;
	const char *out, *fmt;
} dot_args;

/* s is one of the words of list ("TB|LR|BT|RL"). */
static bool one_of(const char *s, const char *list)
{
	size_t n = strlen(s);
	if (strchr(s, '|'))
		return false;
	for (const char *w = list; *w; w += strcspn(w, "|"), w += *w == '|')
		if (n > 0 && strncmp(w, s, n) == 0 && (w[n] == '|' || w[n] == '\0'))
			return true;
	return false;
}

static int on_opt(void *ctx, int id, const char *arg)
{
	dot_args *a = ctx;
	switch (id) {
	case OPT_FORMAT:
		if (!one_of(arg, spec.opts[OPT_FORMAT].arg))
			return cli_usage_error("dot", "-T expects svg, png, pdf or dot, got '%s'", arg);
		a->fmt = arg;
		break;
	case OPT_OUTPUT: a->out = arg; break;
	case OPT_RANKDIR:
		if (!one_of(arg, spec.opts[OPT_RANKDIR].arg))
			return cli_usage_error("dot", "--rankdir expects TB, LR, BT or RL, got '%s'", arg);
		a->dopt.rankdir = arg;
		break;
	case OPT_FULL: a->dopt.full = true; break;
	case OPT_NO_REWRITE: a->prog.no_rewrite = true; break;
	case OPT_PARAM: return cli_add_param(&a->prog, "dot", arg);
	case OPT_PARAMS_FILE: return cli_add_params_file(&a->prog, "dot", arg);
	}
	return 0;
}

/* The DOT text in buf to -o OUT or stdout. */
static int write_text(const char *out, const char *buf, size_t len)
{
	FILE *f = out ? fopen(out, "wb") : stdout;
	int ok = f && fwrite(buf, 1, len, f) == len;
	if (f && f != stdout && fclose(f) != 0)
		ok = 0;
	if (ok)
		return 0;
	fprintf(stderr, "flow: error: cannot write '%s': %s\n", out ? out : "stdout", strerror(errno));
	if (out)
		remove(out);
	return EXIT_USER;
}

/* A picture Graphviz cannot draw readably is refused before it runs
 * (dot_render would refuse too; here the message can say what to do). */
static int check_size(const dot_args *a, const char *buf, size_t len)
{
	uint32_t n = dot_count_nodes(buf, len);
	if (n <= DOT_RENDER_MAX_NODES)
		return 0;
	fprintf(stderr, "flow dot: error: the picture would have %u nodes, more than Graphviz can "
	        "draw readably (at most %d); ", n, DOT_RENDER_MAX_NODES);
	char *cbuf = NULL;
	size_t clen = 0;
	FILE *mem = a->dopt.full ? open_memstream(&cbuf, &clen) : NULL;
	dot_opts collapsed = a->dopt;
	collapsed.full = false;
	if (mem && dag_write_dot(a->prog.g, &collapsed, mem) == 0 && fflush(mem) == 0)
		fprintf(stderr, "without --full it has %u, collapsed; ", dot_count_nodes(cbuf, clen));
	if (mem)
		fclose(mem);
	free(cbuf);
	fprintf(stderr, "or write the DOT text (-o FILE.dot)\n");
	return EXIT_USER;
}

static int write_dot(const dot_args *a)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem || dag_write_dot(a->prog.g, &a->dopt, mem) != 0) {
		fprintf(stderr, "flow: error: cannot write the DAG as DOT\n");
		rc = EXIT_USER;
	}
	if (mem)
		fclose(mem);
	if (rc == 0 && a->fmt && strcmp(a->fmt, "dot"))
		rc = check_size(a, buf, len);
	if (rc == 0 && a->fmt && strcmp(a->fmt, "dot")) {
		char *err = NULL;
		if (dot_render(buf, len, a->fmt, a->out, &err) != 0) {
			fprintf(stderr, "flow: error: %s\n", err ? err : "rendering failed");
			free(err);
			rc = EXIT_USER;
		}
	} else if (rc == 0) {
		rc = write_text(a->out, buf, len);
	}
	free(buf);
	return rc;
}

int cmd_dot(int argc, char **argv)
{
	dot_args a = {.dopt = {NULL, false}};
	const char *file;
	int rc = cli_parse(&spec, argc, argv, on_opt, &a, &file);
	if (rc == 0 && a.out)
		rc = cli_out_format("dot", "-o", a.out, &a.fmt);
	if (rc == 0 && a.fmt && strcmp(a.fmt, "dot") && !a.out)
		rc = cli_usage_error("dot", "-T %s needs -o OUT (a rendered image is not for a terminal)",
		                     a.fmt);
	if (rc == 0)
		rc = cli_load(&a.prog, file, "dot");
	if (rc == 0)
		rc = write_dot(&a);
	cli_prog_free(&a.prog);
	return rc == CLI_DONE ? 0 : rc;
}
