/* cmd_cache.c - `flow cache list|clean [FILE]`: shows or empties the cache
 * of task results that `flow run --resume` reads (executor/cache.h,
 * docs/cache.md). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "executor/cache.h"

/* X(ID, SHORT, LONG, ARG, REPEAT, HELP): see cli.h */
#define CACHE_OPTS(X) \
	X(CACHE_DIR, 0, "cache-dir", "DIR", false, \
	  "the cache (default .flow/cache beside FILE, or\nin the current directory without FILE)")

#define CACHE_ABOUT \
	"flow cache list [FILE]: the cache's entries (size, age, last use, the\n" \
	"start of the key, the task), then their count and total size.\n" \
	"flow cache clean [FILE]: removes every entry.\n" \
	"FILE (a program) only says where the cache is: .flow/cache beside it."

CLI_COMMAND(cache, CACHE_OPTS,
	.operand = "list|clean",
	.about = CACHE_ABOUT,
	.footer = "Exit status 0 on success, 1 if the cache cannot be read, 2 for bad usage.");

/* After the verb: with a FILE, or without. */
static const cli_cmd spec_file = {
	.name = "cache",
	.opts = cmd_options,
	.nopts = sizeof cmd_options / sizeof cmd_options[0],
	.operand = "FILE",
	.about = CACHE_ABOUT,
};
static const cli_cmd spec_none = {
	.name = "cache",
	.opts = cmd_options,
	.nopts = sizeof cmd_options / sizeof cmd_options[0],
	.operand = NULL,
	.about = CACHE_ABOUT,
};

typedef struct cache_args {
	const char *dir;
} cache_args;

static int on_opt(void *ctx, int id, const char *arg)
{
	cache_args *a = ctx;
	if (id == OPT_CACHE_DIR)
		a->dir = arg;
	return 0;
}

/* Does argv (after the verb) name a FILE? Anything not an option nor
 * an option's argument. */
static bool has_file(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cache-dir")) {
			i++;
			continue;
		}
		if (!strcmp(argv[i], "--")) /* the rest are operands */
			return i + 1 < argc;
		if (argv[i][0] != '-' || !strcmp(argv[i], "-"))
			return true;
	}
	return false;
}

int cmd_cache(int argc, char **argv)
{
	cache_args a = {NULL};
	const char *verb = argc > 1 ? argv[1] : NULL;
	const char *file = NULL;
	int rc;
	if (!verb || (strcmp(verb, "list") && strcmp(verb, "clean"))) {
		/* --help, or a bad verb: the parser says what is wrong */
		rc = cli_parse(&spec, argc, argv, on_opt, &a, &file);
		if (rc == 0)
			rc = cli_usage_error("cache", "expects 'list' or 'clean', got '%s'", file);
		return rc == CLI_DONE ? 0 : rc;
	}
	/* the verb stands where the command's name was */
	bool with_file = has_file(argc - 1, argv + 1);
	rc = cli_parse(with_file ? &spec_file : &spec_none, argc - 1, argv + 1, on_opt, &a, &file);
	if (rc)
		return rc == CLI_DONE ? 0 : rc;
	char *dir = NULL;
	if (a.dir) {
		dir = strdup(a.dir);
	} else if (with_file) {
		const char *slash = strrchr(file, '/');
		int n = slash ? (int)(slash - file) : 0;
		if (asprintf(&dir, "%.*s/.flow/cache", slash ? n : 1, slash ? file : ".") < 0)
			abort();
	} else {
		dir = strdup("./.flow/cache");
	}
	char *err = NULL;
	if (!strcmp(verb, "list")) {
		rc = cache_list(dir, stdout, &err);
	} else {
		uint64_t n = 0;
		rc = cache_clean(dir, &n, &err);
		if (rc == 0)
			printf("removed %llu entr%s from %s\n", (unsigned long long)n, n == 1 ? "y" : "ies", dir);
	}
	if (rc) {
		fprintf(stderr, "flow cache: %s\n", err ? err : "failed");
		rc = EXIT_USER;
	}
	free(err);
	free(dir);
	return rc;
}
