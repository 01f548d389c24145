/* common.c - what the `flow` commands share past their options: params,
 * reading a program (source or plan, from a file or stdin), lowering it,
 * output files, the "dag" part of --stats-json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "compiler/dot.h"
#include "compiler/lower.h"
#include "compiler/plan.h"

#define STDIN_NAME "<stdin>"

int cli_add_param_text(cli_prog *cp, const char *name, char *text, bool from_file)
{
	if (cp->nparams == cp->capparams) {
		cp->capparams = cp->capparams ? cp->capparams * 2 : 8;
		cp->params = realloc(cp->params, sizeof *cp->params * (size_t)cp->capparams);
		if (cp->params == NULL) {
			perror("flow");
			exit(EXIT_USER);
		}
	}
	/* the file's params first: a later -p of the same name wins */
	int at = from_file ? cp->nfile++ : cp->nparams;
	memmove(cp->params + at + 1, cp->params + at, sizeof *cp->params * (size_t)(cp->nparams - at));
	cp->params[at].name = strdup(name);
	cp->params[at].text = text;
	if (!cp->params[at].name || !text) {
		perror("flow");
		exit(EXIT_USER);
	}
	cp->nparams++;
	return 0;
}

int cli_add_param(cli_prog *cp, const char *cmd, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg)
		return cli_usage_error(cmd, "-p expects name=value, got '%s'", arg);
	char *name = strndup(arg, (size_t)(eq - arg));
	if (!name) {
		perror("flow");
		exit(EXIT_USER);
	}
	int rc = cli_add_param_text(cp, name, strdup(eq + 1), false);
	free(name);
	return rc;
}

/* ---- reading a program ------------------------------------------------------ */

/* A plan keeps the sources it was compiled from: say so when one of them
 * has changed on disk since (the plan still runs what it holds). */
static void warn_stale_sources(const diag_ctx *d, const char *plan)
{
	for (int i = 0; i < d->nsrcs; i++) {
		const char *path = diag_source_path(d, i);
		size_t len;
		const char *text = diag_source_text(d, i, &len);
		uint8_t *disk;
		size_t dlen;
		if (!path || !text || plan_slurp(path, &disk, &dlen) != 0)
			continue; /* moved or deleted: nothing to compare */
		if (dlen != len || memcmp(disk, text, len) != 0)
			fprintf(stderr, "flow: warning: '%s' has changed since '%s' was compiled; "
			        "running the plan as compiled\n", path, plan);
		free(disk);
	}
}

/* The plan in buf (named name), with its DAG. */
static int read_plan(cli_prog *cp, const char *name, const uint8_t *buf, size_t len, const char *cmd)
{
	if (cp->nparams) {
		fprintf(stderr, "flow %s: -p cannot change a plan: its params were fixed when '%s' "
		        "was compiled\n", cmd, name);
		return EXIT_USAGE;
	}
	char *err = NULL;
	cp->p = plan_read(buf, len, &cp->d, &cp->g, &err);
	if (cp->p == NULL) {
		fprintf(stderr, "flow: error: '%s' is not a valid plan: %s\n", name, err);
		free(err);
		return EXIT_USER;
	}
	warn_stale_sources(&cp->d, name);
	return 0;
}

/* Checks and compiles what the loader returned rc for; prints diagnostics. */
static int compile_loaded(cli_prog *cp, int rc)
{
	diag_sort(&cp->d);
	diag_print(&cp->d, stderr);
	if (rc != 0 || cp->d.nerrors != 0)
		return EXIT_USER;
	cp->p = compile_program(&cp->l);
	diag_sort(&cp->d);
	diag_print(&cp->d, stderr);
	return cp->p ? 0 : EXIT_USER;
}

/* `-`: the whole of stdin, then a plan or a source by its first bytes. */
static int read_stdin(cli_prog *cp, const char *cmd)
{
	uint8_t *buf;
	size_t len;
	if (plan_slurp("/dev/stdin", &buf, &len) != 0) {
		fprintf(stderr, "flow: error: cannot read the program from stdin: %s\n", strerror(errno));
		return EXIT_USER;
	}
	int rc;
	if (plan_is_plan(buf, len))
		rc = read_plan(cp, STDIN_NAME, buf, len, cmd);
	else
		rc = compile_loaded(cp, loader_load_source(&cp->l, STDIN_NAME, (const char *)buf, len,
		                                           cp->params, cp->nparams));
	free(buf);
	return rc;
}

int cli_read_program(cli_prog *cp, const char *path, const char *cmd)
{
	diag_init(&cp->d);
	loader_init(&cp->l, &cp->d);
	cp->loaded = true;
	cp->path = path;
	if (strcmp(path, "-") == 0)
		return read_stdin(cp, cmd);
	char magic[PLAN_MAGIC_LEN];
	size_t got = 0;
	FILE *f = fopen(path, "rb");
	if (f) {
		got = fread(magic, 1, sizeof magic, f);
		fclose(f);
	}
	if (!plan_is_plan(magic, got))
		return compile_loaded(cp, loader_load(&cp->l, path, cp->params, cp->nparams));
	const uint8_t *buf;
	size_t len;
	if (plan_map(path, &buf, &len) != 0) {
		fprintf(stderr, "flow: error: cannot read '%s': %s\n", path, strerror(errno));
		return EXIT_USER;
	}
	int rc = read_plan(cp, path, buf, len, cmd);
	plan_unmap(buf, len);
	return rc;
}

int cli_lower(cli_prog *cp)
{
	if (cp->g && cp->static_only && cp->g->cont.nframes) {
		fprintf(stderr, "flow: error: '%s' has a driver that continues at run time (--static)\n",
		        cp->path ? cp->path : "-");
		return EXIT_USER;
	}
	if (cp->g)
		return 0; /* a plan carries its DAG */
	char *err = NULL;
	lower_opts lo = {.no_rewrite = cp->no_rewrite, .static_only = cp->static_only};
	cp->g = lower_program(cp->p, &lo, &err);
	if (!cp->g) {
		fprintf(stderr, "%s\n", err);
		free(err);
		return EXIT_USER;
	}
	return 0;
}

int cli_load(cli_prog *cp, const char *path, const char *cmd)
{
	int rc = cli_read_program(cp, path, cmd);
	return rc ? rc : cli_lower(cp);
}

void cli_explain_dynamic(const dag *g, FILE *out)
{
	int64_t v = g ? dag_cont_node(g) : -1;
	if (v < 0)
		return;
	span w = g->nodes[v].where;
	fprintf(out, "%s:%d:%d: note: the driver continues at run time from line %d: %s "
	        "(--static makes this an error)\n", bc_source_path(g->prog, w.file), w.line, w.col,
	        w.line, g->cont.why ? g->cont.why : "");
}

void cli_prog_free(cli_prog *cp)
{
	dag_free(cp->g);
	bc_program_free(cp->p);
	if (cp->loaded) {
		loader_fini(&cp->l);
		diag_fini(&cp->d);
	}
	for (int i = 0; i < cp->nparams; i++) {
		free((char *)cp->params[i].name);
		free((char *)cp->params[i].text);
	}
	free(cp->params);
	*cp = (cli_prog){0};
}

/* ---- output files -------------------------------------------------------------- */

FILE *cli_open_out(const char *opt, const char *path, bool allow_stdout)
{
	if (allow_stdout && strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "flow: error: cannot write %s file '%s': %s\n", opt, path, strerror(errno));
	return f;
}

int cli_close_out(FILE *f, const char *opt, const char *path, int wrote)
{
	int bad = wrote != 0 || ferror(f);
	if ((f == stdout ? fflush(f) : fclose(f)) != 0)
		bad = 1;
	if (bad) {
		fprintf(stderr, "flow: error: cannot write %s file '%s': %s\n", opt, path,
		        errno ? strerror(errno) : "write failed");
		return EXIT_USER;
	}
	return 0;
}

int cli_out_format(const char *cmd, const char *opt, const char *path, const char **fmt)
{
	const char *ext = dot_format_of_path(path);
	if (!ext) {
		char msg[160];
		snprintf(msg, sizeof msg, "%s %%s: cannot tell the picture's format from its extension "
		         "(use .svg, .png, .pdf, or .dot/.gv for DOT text)", opt);
		return cli_usage_error(cmd, msg, path);
	}
	if (!*ext) /* no extension: what -T says, else DOT text */
		ext = *fmt ? *fmt : "dot";
	if (*fmt && strcmp(*fmt, ext) != 0) {
		char msg[160];
		snprintf(msg, sizeof msg, "-T %s does not match %s %%s (a %s file)", *fmt, opt, ext);
		return cli_usage_error(cmd, msg, path);
	}
	*fmt = ext;
	return 0;
}

void cli_drop_out(FILE *f, const char *path)
{
	if (f == stdout)
		return;
	fclose(f);
	remove(path);
}

int cli_close_stdout(void)
{
	/* like coreutils' close_stdout: a write that failed (a full disk,
	 * /dev/full, a closed pipe) is an error, not a silent exit 0 */
	int bad = ferror(stdout);
	errno = 0;
	if (fclose(stdout) != 0 || bad) {
		/* errno is the close's; an earlier failed write left none */
		fprintf(stderr, "flow: error: writing standard output: %s\n",
		        errno ? strerror(errno) : "a write failed (disk full?)");
		return EXIT_USER;
	}
	return 0;
}

/* ---- --stats-json ------------------------------------------------------------- */

void cli_json_dag(const dag *g, FILE *out)
{
	/* dag_stats_json's one line, so that the members are listed once */
	dag_stats st;
	dag_stats_of(g, &st);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem)
		abort();
	dag_stats_json(&st, mem);
	fclose(mem);
	while (len > 0 && buf[len - 1] == '\n')
		len--;
	fwrite(buf, 1, len, out);
	free(buf);
}
