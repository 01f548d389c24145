/* params_file.c - `--params-file F`: params from a JSON object (like
 * Nextflow's -params-file), read with jansson. Each member becomes one
 * `-p name=text`: a string its contents, a number or true/false its
 * JSON text, null `none`, an array or object the Flow literal it
 * reads as (a list or dict param takes it, param_literal.c). They go
 * before every -p, so the command line overrides the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

/* A string as a Flow string literal. */
static void put_flow_str(FILE *out, const char *s, size_t n)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\t': fputs("\\t", out); break;
		case '\r': fputs("\\r", out); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(out, "\\u{%x}", c);
			else
				fputc(c, out); /* UTF-8 as is (jansson checked it) */
		}
	}
	fputc('"', out);
}

/* v as Flow source text. */
static void put_flow(FILE *out, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *x;
		bool first = true;
		fputc('{', out);
		json_object_foreach((json_t *)v, k, x) {
			fputs(first ? "" : ", ", out);
			put_flow_str(out, k, strlen(k));
			fputs(": ", out);
			put_flow(out, x);
			first = false;
		}
		fputc('}', out);
		break;
	}
	case JSON_ARRAY:
		fputc('[', out);
		for (size_t i = 0; i < json_array_size(v); i++) {
			fputs(i ? ", " : "", out);
			put_flow(out, json_array_get(v, i));
		}
		fputc(']', out);
		break;
	case JSON_STRING: put_flow_str(out, json_string_value(v), json_string_length(v)); break;
	case JSON_INTEGER: fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
	case JSON_REAL: fprintf(out, "%.17g", json_real_value(v)); break;
	case JSON_TRUE: fputs("true", out); break;
	case JSON_FALSE: fputs("false", out); break;
	case JSON_NULL: fputs("none", out); break;
	}
}

/* The text -p would be given for v (malloc'd). */
static char *param_text(const json_t *v)
{
	if (json_is_string(v))
		return strndup(json_string_value(v), json_string_length(v));
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem)
		abort();
	put_flow(mem, v);
	fclose(mem);
	return buf;
}

int cli_add_params_file(cli_prog *cp, const char *cmd, const char *path)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		if (je.line < 0) /* not JSON's fault: the file itself */
			fprintf(stderr, "flow %s: --params-file '%s': %s\n", cmd, path, je.text);
		else
			fprintf(stderr, "flow %s: --params-file '%s' is not valid JSON: line %d, column "
			        "%d: %s\n", cmd, path, je.line, je.column, je.text);
		return EXIT_USAGE;
	}
	if (!json_is_object(root)) {
		fprintf(stderr, "flow %s: --params-file '%s' must hold one JSON object "
		        "({\"name\": value, ...})\n", cmd, path);
		json_decref(root);
		return EXIT_USAGE;
	}
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		char *text = param_text(v);
		int rc = cli_add_param_text(cp, k, text, true);
		if (rc) {
			json_decref(root);
			return rc;
		}
	}
	json_decref(root);
	return 0;
}
