/* stdlib.h - the standard library of natives: builtins, value methods and
 * standard modules (LANGUAGE.md section 9), described through lang's
 * native-function interface (lang/native.h) and registered there.
 *
 * The stdlib depends on lang, never the reverse: lang looks natives up in
 * its own registry, which stdlib_init() fills. stdlib_init runs by itself
 * at program start in every program linking the stdlib (a constructor in
 * registry.c; the build forces that file in), so callers need not call it;
 * calling it again is harmless.
 */
#ifndef FLOW_STDLIB_H
#define FLOW_STDLIB_H

#include "lang/native.h"

/* Registers the stdlib's table with lang (native_register). */
void stdlib_init(void);

/* The most bytes io.read_text/read_lines and each of proc's captured
 * outputs may hold (flow run --max-read; default STDLIB_MAX_READ): past
 * it the call fails with an error naming the cap. Set before a run. */
#define STDLIB_MAX_READ (1ull << 30)
extern uint64_t stdlib_max_read;

#endif
