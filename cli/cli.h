/* cli.h - what the `flow` commands share: their option tables, the help
 * made from them, usage errors, and loading a program (a .flow file, a
 * plan, or either on stdin as `-`).
 *
 * A command's options are written once, as an X-macro list
 *     X(ID, SHORT, "long", "ARG", REPEAT, "help")
 * from which CLI_COMMAND makes, in the command's file, an enum (OPT_ID
 * is the option's index) and the command's cli_opt table; cli_parse makes
 * the getopt_long table, the usage line and the --help text from that
 * table, so none of them can drift from the options a command takes.
 * ARG is NULL for an option without argument; REPEAT marks an option that
 * may be given more than once ("..." in the usage line); a '\n' in the
 * help starts a new line.
 *
 * Exit statuses: 0 success, EXIT_USER an error in the program or its
 * data, EXIT_USAGE bad usage. */
#ifndef FLOW_CLI_H
#define FLOW_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler/dag.h"
#include "lang/compile.h"
#include "lang/diag.h"
#include "lang/resolve.h"

#define EXIT_USER 1
#define EXIT_USAGE 2

typedef struct cli_opt {
	char shortopt;    /* 'o' for -o, or 0 */
	const char *name; /* the long name, without "--" */
	const char *arg;  /* the argument's name in the help ("N"), NULL: none */
	bool repeat;
	const char *help;
} cli_opt;


/* A command as its help describes it. */
typedef struct cli_cmd {
	const char *name;    /* "run" */
	const char *operand; /* "FILE": exactly one; NULL: none */
	const char *about;   /* between the usage line and the options */
	const char *footer;  /* after the options, or NULL */
	const cli_opt *opts;
	int nopts;
} cli_cmd;

#define CLI_OPT_ENUM(id, s, l, a, r, h) OPT_##id,
#define CLI_OPT_ROW(id, s, l, a, r, h) {s, l, a, r, h},

/* In a command's file: OPT_ID for each option of the X-macro OPTS, and
 * `spec`, the command NAME with those options and the other cli_cmd
 * members given (.operand, .about, .footer). */
#define CLI_COMMAND(NAME, OPTS, ...) \
	enum { OPTS(CLI_OPT_ENUM) }; \
	static const cli_opt cmd_options[] = { OPTS(CLI_OPT_ROW) }; \
	static const cli_cmd spec = { \
		.name = #NAME, \
		.opts = cmd_options, \
		.nopts = sizeof cmd_options / sizeof cmd_options[0], \
		__VA_ARGS__ \
	}

/* Called by cli_parse for each option given: id is its index in
 * c->opts, arg its argument (NULL if it takes none). Returns 0, or an
 * exit status (after printing a message with cli_usage_error). */
typedef int (*cli_on_opt)(void *ctx, int id, const char *arg);

/* Parses argv (argv[0] is the command's name) by c's table; -h/--help
 * prints the help. Returns 0 with *operand the one operand (NULL when
 * c->operand is NULL: the command takes none); CLI_DONE when the help
 * was printed (exit 0); or an exit status after one message naming the
 * command (an unknown option, a missing argument, the wrong number of
 * operands, or what on_opt returned). */
#define CLI_DONE (-1)
int cli_parse(const cli_cmd *c, int argc, char **argv, cli_on_opt on_opt, void *ctx,
              const char **operand);

/* For a command without operand (c->operand NULL): parses argv as
 * cli_parse does. Returns true when the command goes on; false with
 * *status the exit status to return (0 after --help, or the usage
 * error's). */
bool cli_parse_only(const cli_cmd *c, int argc, char **argv, cli_on_opt on_opt, void *ctx,
                    int *status);

/* An integer option's argument, from lo to hi: 0 with *out, or
 * EXIT_USAGE after "flow CMD: OPT expects WHAT, not 'ARG'". */
int cli_parse_long(const char *cmd, const char *opt, const char *arg, long lo, long hi,
                   const char *what, long *out);

/* `flow CMD --help`'s text: the usage line, about, options, footer. */
void cli_help(const cli_cmd *c, FILE *out);

/* "flow CMD: <fmt with arg>" and "Try 'flow CMD --help'." on stderr.
 * Returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, const char *arg);

/* ---- a program and its DAG ----------------------------------------------- */

/* Everything a command loads. Zero-initialise it; cli_prog_free frees
 * what it holds (the params too), whether or not a load happened. */
typedef struct cli_prog {
	param_set *params; /* --params-file's, then -p's: names and texts malloc'd */
	int nparams, capparams;
	int nfile;         /* params[0..nfile) came from --params-file */
	bool no_rewrite;   /* --no-rewrite */
	bool static_only;  /* --static: a driver that would continue at run
	                    * time (LANGUAGE.md section 6) is an error */
	const char *path;  /* what cli_read_program read (borrowed) */
	bool loaded;       /* d and l initialised */
	diag_ctx d;
	flow_loader l;
	bc_program *p;     /* freed after g, before l and d */
	dag *g;
} cli_prog;

/* -p name=value. Returns 0, or EXIT_USAGE (message printed). */
int cli_add_param(cli_prog *cp, const char *cmd, const char *arg);
/* One param, name copied, text taken (malloc'd); from_file: it goes
 * before every -p (which then overrides it). Returns 0. */
int cli_add_param_text(cli_prog *cp, const char *name, char *text, bool from_file);
/* --params-file PATH (params_file.c): each member of its JSON object as
 * a param. Returns 0, or EXIT_USAGE (message printed: unreadable, not
 * JSON, not an object). */
int cli_add_params_file(cli_prog *cp, const char *cmd, const char *path);

/* Reads PATH (a .flow file or a plan, recognised by its magic bytes;
 * "-": either on stdin, named <stdin> in diagnostics) into cp->p, and
 * cp->g when it is a plan. Returns 0, or an exit status (diagnostics
 * printed). */
int cli_read_program(cli_prog *cp, const char *path, const char *cmd);
/* The driver of a program read from source lowered to cp->g (a plan
 * carries its own). Returns 0 or EXIT_USER (printed). */
int cli_lower(cli_prog *cp);
/* With cp->static_only, a plan whose driver continues at run time is
 * refused here too. */
/* Both. */
int cli_load(cli_prog *cp, const char *path, const char *cmd);
/* The staged driver (LANGUAGE.md section 6): a note naming the statement
 * from which the driver continues at run time, and why; nothing when
 * the whole DAG is known ahead. */
void cli_explain_dynamic(const dag *g, FILE *out);
void cli_prog_free(cli_prog *cp);

/* ---- output files -------------------------------------------------------- */

/* An output file named by option opt ("--trace"), opened before the work
 * so that a path that cannot be written fails at once; "-" is stdout
 * when allow_stdout. NULL: a message was printed. */
FILE *cli_open_out(const char *opt, const char *path, bool allow_stdout);
/* Closes it (stdout is flushed, not closed); reports a failed write
 * (wrote != 0, or an error on the stream) naming the file. Returns 0 or
 * EXIT_USER. */
int cli_close_out(FILE *f, const char *opt, const char *path, int wrote);
/* Closes stdout at exit; a failed write (/dev/full) is reported.
 * Returns 0 or EXIT_USER. */
int cli_close_stdout(void);
/* The format of a picture written to PATH (option opt, for messages):
 * from its extension (.svg, .png, .pdf; .dot, .gv or none: DOT text).
 * *fmt given (-T) must agree with it; else it is set ("dot" for text).
 * Returns 0, or EXIT_USAGE (message printed) for an extension that
 * names no format flow writes, or one -T contradicts. */
int cli_out_format(const char *cmd, const char *opt, const char *path, const char **fmt);
/* Closes and removes an output file that was not written (nothing ran). */
void cli_drop_out(FILE *f, const char *path);

/* ---- --stats-json ---------------------------------------------------------- */

/* The DAG's figures (what `compile --stats` prints) as a JSON object,
 * without a newline: the "dag" member of every --stats-json object. */
void cli_json_dag(const dag *g, FILE *out);

/* ---- the cluster's TLS (cli/tls_opts.c) ------------------------------------ */

/* The three options of every command that joins or reaches a cluster
 * (an X-macro list like a command's own: see above). */
#define CLI_TLS_OPTS(X) \
	X(TLS_CERT, 0, "tls-cert", "FILE", false, \
	  "this node's TLS certificate (PEM): with --tls-key\nand --tls-ca the cluster's connections use TLS\n" \
	  "(docs/wire.md; default $FLOW_TLS_CERT)") \
	X(TLS_KEY, 0, "tls-key", "FILE", false, "its private key (PEM; default $FLOW_TLS_KEY)") \
	X(TLS_CA, 0, "tls-ca", "FILE", false, \
	  "the CA that signs the cluster's certificates (PEM;\ndefault $FLOW_TLS_CA)")

/* What they were given as (NULL: not given). */
typedef struct cli_tls {
	const char *cert, *key, *ca;
} cli_tls;
/* Turns TLS on for this process (executor/cluster/tls.h) from t, each
 * one not given taken from $FLOW_TLS_CERT/KEY/CA. Returns 0 (none given
 * anywhere: plain TCP, or all three read), EXIT_USAGE when only some are
 * given (message printed), or EXIT_USER when a file cannot be read. */
int cli_tls_setup(const char *cmd, const cli_tls *t);
/* true if any of the three options was given on the command line. */
bool cli_tls_given(const cli_tls *t);

#endif
