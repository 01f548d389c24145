/* value_size.c - how much memory a value holds (val_size_estimate in
 * value.h): what the object store counts against its cap, and what a
 * scheduler may weigh when it places work near its inputs. It only reads
 * values, so it lives with them. */
#include <stdlib.h>

#include "lang/value.h"

static size_t obj_size(value v)
{
	switch (v.t) {
	case V_STR:
		return sizeof(vstr) + str_len(v) + 1;
	case V_TENSOR:
		/* data is rounded up to whole 64-byte lines (tensor_new) */
		return sizeof(vtensor) + ((tensor_of(v)->size * sizeof(double) + 63) & ~(size_t)63);
	case V_LIST:
		return sizeof(vlist) + list_of(v)->cap * sizeof(value);
	case V_DICT:
		/* header plus, per entry, key + value + hash and an index slot */
		return 64 + dict_len(v) * (2 * sizeof(value) + 16);
	default:
		return 64; /* futures, actors, functions: a small header */
	}
}

size_t val_size_estimate(value v)
{
	if (!V_IS_HEAP(v.t))
		return 0;
	if (v.t != V_LIST && v.t != V_DICT)
		return obj_size(v);
	ptrmap seen = {0};
	size_t total = 0, len = 0, cap = 16;
	value *stack = malloc(cap * sizeof *stack);
	if (!stack)
		abort();
	stack[len++] = v;
	ptrmap_put(&seen, v.as.o, v_none());
	total += obj_size(v);
	while (len > 0) {
		value cv = stack[--len];
		size_t i = 0;
		value k, item;
		for (;;) {
			bool has_key = false;
			if (cv.t == V_LIST) {
				if (i >= list_len(cv))
					break;
				item = list_get(cv, i++);
			} else {
				if (!dict_next(cv, &i, &k, &item))
					break;
				has_key = true;
			}
			for (int pass = 0; pass < 2; pass++) {
				value x = pass == 0 ? item : k;
				if (pass == 1 && !has_key)
					break;
				if (!V_IS_HEAP(x.t) || ptrmap_get(&seen, x.as.o, NULL))
					continue;
				ptrmap_put(&seen, x.as.o, v_none());
				total += obj_size(x);
				if (x.t != V_LIST && x.t != V_DICT)
					continue;
				if (len == cap) {
					cap *= 2;
					value *p = realloc(stack, cap * sizeof *stack);
					if (!p)
						abort();
					stack = p;
				}
				stack[len++] = x;
			}
		}
	}
	free(stack);
	ptrmap_fini(&seen);
	return total;
}
