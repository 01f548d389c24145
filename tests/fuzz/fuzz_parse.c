/* fuzz_parse.c - libFuzzer harness: arbitrary bytes through the parser and
 * every loader check (names, arity, types, decorators, params). */
#include <stddef.h>
#include <stdint.h>

#include "lang/diag.h"
#include "lang/resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	diag_ctx d;
	flow_loader l;
	diag_init(&d);
	loader_init(&l, &d);
	/* imports resolve next to a directory that holds nothing */
	loader_load_source(&l, "/nonexistent-fuzz-dir/fuzz.flow", (const char *)data, size, NULL, 0);
	diag_sort(&d);
	loader_fini(&l);
	diag_fini(&d);
	return 0;
}
