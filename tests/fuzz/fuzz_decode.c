/* fuzz_decode.c - libFuzzer harness: arbitrary bytes through val_decode;
 * whatever decodes must encode, decode again and re-encode to the same
 * bytes (NaN-safe, unlike comparing values). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lang/encode.h"
#include "lang/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		vm_types_init(); /* hooks for futures, actors, functions */
		ready = 1;
	}
	value v;
	verr e;
	if (val_decode(data, size, &v, &e) != 0)
		return 0;
	sbuf b1, b2;
	sbuf_init(&b1);
	sbuf_init(&b2);
	if (val_encode(&b1, v, &e) == 0) {
		value w;
		if (val_decode(b1.data, b1.len, &w, &e) != 0)
			abort(); /* our own encoding must read back */
		if (val_encode(&b2, w, &e) != 0 || b1.len != b2.len ||
		    memcmp(b1.data, b2.data, b1.len) != 0)
			abort();
		val_rele(w);
	}
	sbuf_fini(&b1);
	sbuf_fini(&b2);
	val_rele(v);
	return 0;
}
