/* test_lexer.c - the scanner and token filter, through lex_dump: tokens,
 * numbers, escapes, lexical errors with places, newline rules, braces,
 * f-string pieces and locations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/parse.h"

typedef struct lexed {
	diag_ctx d;
	char *out;
	int errors;
} lexed;

static lexed *lex(const char *src)
{
	lexed *l = calloc(1, sizeof *l);
	size_t n = 0;
	FILE *f = open_memstream(&l->out, &n);
	diag_init(&l->d);
	l->errors = lex_dump(&l->d, "t.flow", src, strlen(src), f);
	fclose(f);
	return l;
}

static void lexed_free(lexed *l)
{
	diag_fini(&l->d);
	free(l->out);
	free(l);
}

/* The dump must equal want exactly (want lists one token per line). */
static void expect_tokens(const char *src, const char *want)
{
	lexed *l = lex(src);
	if (strcmp(l->out, want) != 0)
		fail_msg("source:\n%s\n--- got:\n%s--- want:\n%s", src, l->out, want);
	assert_int_equal(l->errors, 0);
	lexed_free(l);
}

/* Exactly one error, at line:col, whose text contains `text`. */
static void expect_error(const char *src, int line, int col, const char *text)
{
	lexed *l = lex(src);
	if (l->d.nerrors != 1 || l->d.nmsgs < 1)
		fail_msg("source %s: want 1 error, got %d", src, l->d.nerrors);
	diag_msg *m = &l->d.msgs[0];
	if (m->where.line != line || m->where.col != col || !strstr(m->text, text))
		fail_msg("source %s: got %d:%d '%s', want %d:%d '%s'", src, m->where.line,
		         m->where.col, m->text, line, col, text);
	assert_int_equal(l->errors, 1);
	lexed_free(l);
}

static void test_basic_tokens(void **state)
{
	(void)state;
	expect_tokens("let x = 42 # comment\n",
		"1:1 let\n1:5 NAME x\n1:7 =\n1:9 INT 42\n1:21 NEWLINE\n2:1 EOF\n");
	expect_tokens("a->b += c -= d *= e /= f == g != h <= i >= j // k ** l % m @ n",
		"1:1 NAME a\n1:2 ->\n1:4 NAME b\n1:6 +=\n1:9 NAME c\n1:11 -=\n1:14 NAME d\n"
		"1:16 *=\n1:19 NAME e\n1:21 /=\n1:24 NAME f\n1:26 ==\n1:29 NAME g\n1:31 !=\n"
		"1:34 NAME h\n1:36 <=\n1:39 NAME i\n1:41 >=\n1:44 NAME j\n1:46 //\n1:49 NAME k\n"
		"1:51 **\n1:54 NAME l\n1:56 %\n1:58 NAME m\n1:60 @\n1:62 NAME n\n1:63 EOF\n");
}

static void test_keywords(void **state)
{
	(void)state;
	expect_tokens("actor and as break const continue else false fn for if import in let none "
	              "not or param return task true while self",
		"1:1 NAME actor\n1:7 and\n1:11 as\n1:14 break\n1:20 const\n1:26 continue\n1:35 else\n"
		"1:40 false\n1:46 fn\n1:49 for\n1:53 if\n1:56 import\n1:63 in\n1:66 let\n1:70 none\n"
		"1:75 not\n1:79 or\n1:82 NAME param\n1:88 return\n1:95 task\n1:100 true\n1:105 while\n"
		"1:111 NAME self\n1:115 EOF\n");
	/* `actor` and `param` are keywords only before a declaration's name */
	expect_tokens("actor Counter param n actor = param", "1:1 actor\n1:7 NAME Counter\n"
	              "1:15 param\n1:21 NAME n\n1:23 NAME actor\n1:29 =\n1:31 NAME param\n1:36 EOF\n");
	/* a keyword prefix is still a name */
	expect_tokens("lets iffy _x1", "1:1 NAME lets\n1:6 NAME iffy\n1:11 NAME _x1\n1:14 EOF\n");
}

static void test_numbers(void **state)
{
	(void)state;
	expect_tokens("42 0x2a 0X2A 1_000_000 9223372036854775807 0x7fff_ffff_ffff_ffff",
		"1:1 INT 42\n1:4 INT 42\n1:9 INT 42\n1:14 INT 1000000\n1:24 INT 9223372036854775807\n"
		"1:44 INT 9223372036854775807\n1:65 EOF\n");
	expect_tokens("1.5 2.0e-3 1e6 1E+2 3.25e1 1_0.5",
		"1:1 FLOAT 1.5\n1:5 FLOAT 0.002\n1:12 FLOAT 1000000.0\n1:16 FLOAT 100.0\n"
		"1:21 FLOAT 32.5\n1:28 FLOAT 10.5\n1:33 EOF\n");
	expect_error("x = 9223372036854775808", 1, 5, "too large");
	expect_error("x = 0x8000000000000000", 1, 5, "too large");
	expect_error("x = 1_", 1, 5, "invalid number '1_'");
	expect_error("x = 1__0", 1, 5, "invalid number");
	expect_error("x = 12abc", 1, 5, "invalid number");
	expect_error("x = 1e999", 1, 5, "out of range");
}

static void test_escapes(void **state)
{
	(void)state;
	expect_tokens("\"a\\nb\\tc\\rd\\\\e\\\"f\\0g\"",
		"1:1 STRING \"a\\nb\\tc\\x0dd\\\\e\\\"f\\x00g\"\n1:22 EOF\n");
	/* \u{...} gives UTF-8: U+1F600 is F0 9F 98 80, U+E9 is C3 A9 */
	expect_tokens("\"\\u{1F600}\\u{e9}\\u{41}\"",
		"1:1 STRING \"\xf0\x9f\x98\x80\xc3\xa9" "A\"\n1:24 EOF\n");
	/* raw UTF-8 passes through */
	expect_tokens("\"h\xc3\xa9\" x", "1:1 STRING \"h\xc3\xa9\"\n1:7 NAME x\n1:8 EOF\n");
}

static void test_string_errors(void **state)
{
	(void)state;
	expect_error("x = \"ab\\q\"", 1, 8, "unknown escape sequence '\\q'");
	expect_error("x = \"\\u{110000}\"", 1, 6, "not a valid Unicode code point");
	expect_error("x = \"\\u{D800}\"", 1, 6, "not a valid Unicode code point");
	expect_error("x = \"\\u12\"", 1, 6, "malformed \\u escape");
	expect_error("x = \"\\u{}\"", 1, 6, "malformed \\u escape");
	expect_error("x = \"abc", 1, 5, "unterminated string");
	expect_error("x = \"abc\ny = 1", 1, 5, "cannot span lines");
	expect_error("x = \"ab\xff\"", 1, 8, "invalid UTF-8 byte 0xff");
	expect_error("x = \"\xc3\x28\"", 1, 6, "invalid UTF-8");  /* bad continuation */
	expect_error("x = \"\xe0\x80\x80\"", 1, 6, "invalid UTF-8"); /* overlong */
	expect_error("x = \"\xed\xa0\x80\"", 1, 6, "invalid UTF-8"); /* surrogate */
	expect_error("x = f\"abc", 1, 5, "unterminated f-string");
}

static void test_other_lexical_errors(void **state)
{
	(void)state;
	expect_error("x = a && b", 1, 7, "use 'and'");
	expect_error("x = a || b", 1, 7, "use 'or'");
	expect_error("x = 'a", 1, 5, "double quotes");
	expect_error("x = $", 1, 5, "unexpected character '$'");
	expect_error("x = \xc3\xa9", 1, 5, "unexpected character");
	expect_error("x = \xff", 1, 5, "unexpected byte 0xff");
	expect_error("x\n}", 2, 1, "unmatched '}'");
	/* a NUL byte is an error, not the end of the input */
	lexed *l = lex("x");
	lexed_free(l);
	diag_ctx d;
	diag_init(&d);
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	assert_int_equal(lex_dump(&d, "t.flow", "a\0b", 3, f), 1);
	fclose(f);
	assert_non_null(strstr(out, "1:3 NAME b"));
	free(out);
	diag_fini(&d);
}

static void test_newline_suppression(void **state)
{
	(void)state;
	/* inside ( ) and [ ], after ',' and a binary operator; blank lines
	 * and comment lines collapse; ';' ends a statement */
	expect_tokens("f(a,\n  b)\n\n# c\n\ny = [1\n,2]; z = 3 +\n 4\n",
		"1:1 NAME f\n1:2 (\n1:3 NAME a\n1:4 ,\n2:3 NAME b\n2:4 )\n2:5 NEWLINE\n"
		"6:1 NAME y\n6:3 =\n6:5 [\n6:6 INT 1\n7:1 ,\n7:2 INT 2\n7:3 ]\n7:4 ;\n"
		"7:6 NAME z\n7:8 =\n7:10 INT 3\n7:12 +\n8:2 INT 4\n8:3 NEWLINE\n9:1 EOF\n");
	/* after '=', '->', '.', ':', 'and', 'not', 'in' */
	expect_tokens("a =\nb.\nc and\nnot\nd in\ne",
		"1:1 NAME a\n1:3 =\n2:1 NAME b\n2:2 .\n3:1 NAME c\n3:3 and\n4:1 not\n5:1 NAME d\n"
		"5:3 in\n6:1 NAME e\n6:2 EOF\n");
	/* a newline before an operator does end the statement */
	expect_tokens("a\n+ b", "1:1 NAME a\n1:2 NEWLINE\n2:1 +\n2:3 NAME b\n2:4 EOF\n");
	/* leading newlines and ';' followed by a newline do not double up */
	expect_tokens("\n\na;\nb", "3:1 NAME a\n3:2 ;\n4:1 NAME b\n4:2 EOF\n");
}

static void test_braces(void **state)
{
	(void)state;
	/* block after a name, ')' or a literal; newlines count inside blocks */
	expect_tokens("if x {\ny\n}",
		"1:1 if\n1:4 NAME x\n1:6 { block\n2:1 NAME y\n2:2 NEWLINE\n3:1 }\n3:2 EOF\n");
	/* dict after '=', '(' , ',' ':' 'return' 'in'; newlines inside vanish */
	expect_tokens("d = {\n\"a\": {},\n}",
		"1:1 NAME d\n1:3 =\n1:5 { dict\n2:1 STRING \"a\"\n2:4 :\n2:6 { dict\n2:7 }\n2:8 ,\n"
		"3:1 }\n3:2 EOF\n");
	expect_tokens("f({}, [{}])\nreturn {}",
		"1:1 NAME f\n1:2 (\n1:3 { dict\n1:4 }\n1:5 ,\n1:7 [\n1:8 { dict\n1:9 }\n1:10 ]\n"
		"1:11 )\n1:12 NEWLINE\n2:1 return\n2:8 { dict\n2:9 }\n2:10 EOF\n");
	/* a dict as a for's iterable, then its block; 'while true {' */
	expect_tokens("for k in {1: 2} { }\nwhile true { }",
		"1:1 for\n1:5 NAME k\n1:7 in\n1:10 { dict\n1:11 INT 1\n1:12 :\n1:14 INT 2\n1:15 }\n"
		"1:17 { block\n1:19 }\n1:20 NEWLINE\n2:1 while\n2:7 true\n2:12 { block\n2:14 }\n2:15 EOF\n");
	/* a statement's else opens a block, a conditional expression's a dict */
	expect_tokens("if a { } else { }\nx = b if c else {}",
		"1:1 if\n1:4 NAME a\n1:6 { block\n1:8 }\n1:10 else\n1:15 { block\n1:17 }\n1:18 NEWLINE\n"
		"2:1 NAME x\n2:3 =\n2:5 NAME b\n2:7 if\n2:10 NAME c\n2:12 else\n2:17 { dict\n2:18 }\n2:19 EOF\n");
	/* a nested block at the start of a statement */
	expect_tokens("{\n{ }\n}", "1:1 { block\n2:1 { block\n2:3 }\n2:4 NEWLINE\n3:1 }\n3:2 EOF\n");
}

static void test_else_and_block_end(void **state)
{
	(void)state;
	/* '}' newline 'else' stays one statement */
	expect_tokens("if a {\n}\n\nelse {\n}",
		"1:1 if\n1:4 NAME a\n1:6 { block\n2:1 }\n4:1 else\n4:6 { block\n5:1 }\n5:2 EOF\n");
	/* a block's '}' ends the statement even without a newline */
	expect_tokens("if a { b } c",
		"1:1 if\n1:4 NAME a\n1:6 { block\n1:8 NAME b\n1:10 }\n1:12 NEWLINE\n1:12 NAME c\n1:13 EOF\n");
}

static void test_unclosed_bracket_statement_keyword(void **state)
{
	(void)state;
	/* a statement keyword at the start of a line inside '(' closes the
	 * statement, so the parser can say which bracket is missing */
	expect_tokens("f(a\nlet b = 1",
		"1:1 NAME f\n1:2 (\n1:3 NAME a\n1:4 NEWLINE\n2:1 let\n2:5 NAME b\n2:7 =\n2:9 INT 1\n2:10 EOF\n");
}

static void test_fstrings(void **state)
{
	(void)state;
	expect_tokens("f\"x = {x}, y = {y:.3f}\"",
		"1:1 FSTRING \"x = \" {x} \", y = \" {y:.3f}\n1:24 EOF\n");
	expect_tokens("f\"{{a}} {b[1:2]} {d[\"k\"]:>8} \\t{c!=d}\"",
		"1:1 FSTRING \"{a} \" {b[1:2]} \" \" {d[\"k\"]:>8} \" \\t\" {c!=d}\n1:39 EOF\n");
	expect_tokens("f\"\"", "1:1 FSTRING\n1:4 EOF\n");
	expect_error("x = f\"a}b\"", 1, 8, "single '}'");
	expect_error("x = f\"{}\"", 1, 7, "empty expression");
	expect_error("x = f\"{a\"", 1, 7, "not closed");
	expect_error("x = f\"\\q{a}\"", 1, 7, "unknown escape");
	/* an error inside the expression is placed in the original text */
	expect_error("x = f\"ab {a +}\"", 1, 14, "expected expression");
	expect_error("x = f\"ab {a$}\"", 1, 12, "unexpected character '$'");
}

static void test_locations_count_bytes(void **state)
{
	(void)state;
	/* "é" is two bytes: the name after it starts at byte column 6 */
	expect_tokens("\"\xc3\xa9\" a\n\tb", "1:1 STRING \"\xc3\xa9\"\n1:6 NAME a\n1:7 NEWLINE\n2:2 NAME b\n2:3 EOF\n");
	expect_tokens("a\r\nb", "1:1 NAME a\n1:3 NEWLINE\n2:1 NAME b\n2:2 EOF\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_tokens),
		cmocka_unit_test(test_keywords),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_string_errors),
		cmocka_unit_test(test_other_lexical_errors),
		cmocka_unit_test(test_newline_suppression),
		cmocka_unit_test(test_braces),
		cmocka_unit_test(test_else_and_block_end),
		cmocka_unit_test(test_unclosed_bracket_statement_keyword),
		cmocka_unit_test(test_fstrings),
		cmocka_unit_test(test_locations_count_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
