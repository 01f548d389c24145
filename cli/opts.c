/* opts.c - a command's option table made into what getopt_long takes,
 * its usage line and its --help text; one message per bad option.
 * See cli.h for the X-macro lists the tables come from. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum {
	LONG_BASE = 256, /* getopt val of option i: LONG_BASE + i (no clash with chars) */
	HELP_COL = 20,   /* where an option's help starts */
	WIDTH = 79,      /* the usage line wraps before this column */
};

/* arg as a terminal may show it: control bytes and bytes that are not
 * UTF-8 as \xHH (an argument `\033[2J` must not clear the screen). */
static char *escape_arg(const char *arg)
{
	size_t n = strlen(arg);
	char *out = malloc(4 * n + 1), *o = out;
	if (!out)
		abort();
	const unsigned char *s = (const unsigned char *)arg;
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 2 : (c & 0xF0) == 0xE0 ? 3
		         : (c & 0xF8) == 0xF0 && c <= 0xF4 ? 4 : 0;
		for (size_t j = 1; k && j < k; j++)
			if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
				k = 0;
		if (k == 0 || (k == 1 && (c < 0x20 || c == 0x7f))) {
			o += sprintf(o, "\\x%02x", c);
			i++;
		} else {
			memcpy(o, arg + i, k);
			o += k;
			i += k;
		}
	}
	*o = '\0';
	return out;
}

int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
{
	char *safe = escape_arg(arg ? arg : "");
	fprintf(stderr, "flow %s: ", cmd);
	fprintf(stderr, fmt, safe);
	free(safe);
	fprintf(stderr, "\nTry 'flow %s --help'.\n", cmd);
	return EXIT_USAGE;
}

/* ---- help ------------------------------------------------------------------ */

/* "[--cpus N]", "[-p name=value]...": the short form when there is one. */
static int usage_item(const cli_opt *o, char *buf, size_t n)
{
	char form[64];
	if (o->shortopt)
		snprintf(form, sizeof form, "-%c", o->shortopt);
	else
		snprintf(form, sizeof form, "--%s", o->name);
	return snprintf(buf, n, "[%s%s%s]%s", form, o->arg ? " " : "", o->arg ? o->arg : "",
	                o->repeat ? "..." : "");
}

static void print_usage_line(const cli_cmd *c, FILE *out)
{
	int indent = fprintf(out, "usage: flow %s ", c->name), col = indent;
	char item[128];
	int nitems = c->nopts + (c->operand != NULL);
	for (int i = 0; i < nitems; i++) {
		int len = i < c->nopts ? usage_item(&c->opts[i], item, sizeof item)
		                       : snprintf(item, sizeof item, "%s", c->operand);
		if (col > indent && col + len > WIDTH) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', out);
			col++;
		}
		col += fprintf(out, "%s", item);
	}
	fputc('\n', out);
}

/* "  -o, --output PLAN" then the help from HELP_COL, one line per '\n'. */
static void print_option(const char *forms, const char *help, FILE *out)
{
	int len = fprintf(out, "  %s", forms);
	if (len < HELP_COL)
		fprintf(out, "%*s", HELP_COL - len, "");
	else
		fprintf(out, "\n%*s", HELP_COL, "");
	for (const char *s = help; *s; s++) {
		fputc(*s, out);
		if (*s == '\n')
			fprintf(out, "%*s", HELP_COL, "");
	}
	fputc('\n', out);
}

void cli_help(const cli_cmd *c, FILE *out)
{
	print_usage_line(c, out);
	fprintf(out, "\n%s\n\n", c->about);
	char forms[128];
	for (int i = 0; i < c->nopts; i++) {
		const cli_opt *o = &c->opts[i];
		int n = 0;
		if (o->shortopt)
			n = snprintf(forms, sizeof forms, "-%c, ", o->shortopt);
		snprintf(forms + n, sizeof forms - (size_t)n, "--%s%s%s", o->name, o->arg ? " " : "",
		         o->arg ? o->arg : "");
		print_option(forms, o->help, out);
	}
	print_option("-h, --help", "print this help", out);
	if (c->footer)
		fprintf(out, "\n%s\n", c->footer);
}

/* ---- parsing ----------------------------------------------------------------- */

/* The option getopt_long stopped at, for a message: "--address", "-x". */
static void bad_option(const cli_cmd *c, char **argv, int at, int missing_arg)
{
	char name[128];
	if (optopt >= LONG_BASE && optopt < LONG_BASE + c->nopts)
		snprintf(name, sizeof name, "--%s", c->opts[optopt - LONG_BASE].name);
	else if (optopt > 0 && optopt < LONG_BASE)
		snprintf(name, sizeof name, "-%c", optopt);
	else /* an unknown long option: as typed, without any "=value" */
		snprintf(name, sizeof name, "%.*s", (int)strcspn(argv[at], "="), argv[at]);
	const char *why = missing_arg ? "option '%s' needs an argument"
	                  : optopt >= LONG_BASE ? "option '%s' takes no argument" /* --serial=1 */
	                  : "unrecognized option '%s'";
	cli_usage_error(c->name, why, name);
}

/* The getopt_long table and short-option string of c (malloc'd). */
static struct option *make_table(const cli_cmd *c, char *shorts)
{
	struct option *t = calloc((size_t)c->nopts + 2, sizeof *t);
	if (!t)
		abort();
	char *s = shorts;
	*s++ = ':'; /* a missing argument returns ':', not '?' */
	*s++ = 'h';
	for (int i = 0; i < c->nopts; i++) {
		const cli_opt *o = &c->opts[i];
		t[i] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL,
		                       LONG_BASE + i};
		if (o->shortopt) {
			*s++ = o->shortopt;
			if (o->arg)
				*s++ = ':';
		}
	}
	*s = '\0';
	t[c->nopts] = (struct option){"help", no_argument, NULL, 'h'};
	return t;
}

/* The index of short option ch (or of a long option's val), or -1. */
static int option_index(const cli_cmd *c, int ch)
{
	if (ch >= LONG_BASE && ch < LONG_BASE + c->nopts)
		return ch - LONG_BASE;
	for (int i = 0; i < c->nopts; i++)
		if (c->opts[i].shortopt && c->opts[i].shortopt == ch)
			return i;
	return -1;
}

int cli_parse(const cli_cmd *c, int argc, char **argv, cli_on_opt on_opt, void *ctx,
              const char **operand)
{
	char shorts[2 * 64 + 3];
	if (c->nopts > 64)
		abort();
	struct option *table = make_table(c, shorts);
	int rc = 0, ch;
	optind = 1; /* argv[0] is the command */
	opterr = 0; /* the messages are ours: one per bad option */
	while (rc == 0 && (ch = getopt_long(argc, argv, shorts, table, NULL)) != -1) {
		int i = option_index(c, ch);
		if (ch == 'h') {
			cli_help(c, stdout);
			rc = CLI_DONE;
		} else if (ch == '?' || ch == ':' || i < 0) {
			bad_option(c, argv, optind - 1, ch == ':');
			rc = EXIT_USAGE;
		} else {
			rc = on_opt(ctx, i, c->opts[i].arg ? optarg : NULL);
		}
	}
	free(table);
	if (rc == 0 && !c->operand && optind < argc)
		rc = cli_usage_error(c->name, "takes no argument, got '%s'", argv[optind]);
	else if (rc == 0 && c->operand && optind != argc - 1)
		rc = cli_usage_error(c->name, "expects exactly one %s", c->operand);
	if (rc == 0)
		*operand = c->operand ? argv[optind] : NULL;
	return rc;
}

bool cli_parse_only(const cli_cmd *c, int argc, char **argv, cli_on_opt on_opt, void *ctx,
                    int *status)
{
	const char *none;
	int rc = cli_parse(c, argc, argv, on_opt, ctx, &none);
	*status = rc == CLI_DONE ? 0 : rc;
	return rc == 0;
}

int cli_parse_long(const char *cmd, const char *opt, const char *arg, long lo, long hi,
                   const char *what, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi) {
		char fmt[200];
		snprintf(fmt, sizeof fmt, "%s expects %s, not '%%s'", opt, what);
		return cli_usage_error(cmd, fmt, arg);
	}
	*out = v;
	return 0;
}
