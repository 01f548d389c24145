/* stdlib_impl.h - what the stdlib's files share among themselves: their
 * tables (gathered by registry.c) and argument/UTF-8 helpers (args.c).
 * Not for use outside stdlib/.
 *
 * Ownership: as in stdlib.h. Helpers that "raise" call vm_raise and
 * return -1; helpers returning a value through *out give a NEW reference.
 */
#ifndef FLOW_STDLIB_IMPL_H
#define FLOW_STDLIB_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "lang/value.h"
#include "lang/vm.h"
#include "stdlib.h"

/* ---- tables, one per file --------------------------------------------- */
extern const native_def stdlib_builtin_defs[];
extern const native_def stdlib_str_methods[];
extern const native_def stdlib_list_methods[];
extern const native_def stdlib_dict_methods[];
extern const module_def stdlib_mod_time, stdlib_mod_math, stdlib_mod_random,
	stdlib_mod_tensor, stdlib_mod_str, stdlib_mod_io, stdlib_mod_proc,
	stdlib_mod_sys, stdlib_mod_cluster;

/* ---- arguments (args.c) ------------------------------------------------ */
/* An int (not a bool). Raises "<fn>: <what> must be an int, not <type>". */
int sl_int(flow_vm *vm, value v, const char *fn, const char *what, int64_t *out);
/* An int or float (not a bool), as a double. */
int sl_num(flow_vm *vm, value v, const char *fn, const char *what, double *out);
bool sl_is_num(value v);
/* A str. */
int sl_str(flow_vm *vm, value v, const char *fn, const char *what);
/* A future (at any depth) becomes its value: a new reference either way. */
int sl_resolve(flow_vm *vm, value v, value *out);
/* The items of an iterable as a list (new reference): a list itself
 * (held), a str's code points, a dict's keys; futures are resolved. */
int sl_items(flow_vm *vm, value v, const char *fn, value *out);
/* A fresh, unfrozen shallow copy of a list. */
value sl_list_copy(value l);
/* The type's name as type() reports it ("task" and "fn" for functions). */
const char *sl_type_name(value v);
/* The name of a function value (V_FUNC): task, fn, native or method. */
const char *sl_func_name(value v);
/* Raises unless the receiver may be mutated in place. */
int sl_check_mutable(flow_vm *vm, value v, const char *what);

/* ---- UTF-8 (args.c) -------------------------------------------------- */
/* Decodes one code point at s (len > 0 bytes, valid UTF-8); returns its
 * byte length. */
size_t sl_utf8_next(const char *s, size_t len, uint32_t *cp);
void sl_utf8_put(sbuf *b, uint32_t cp);
/* A str from bytes that may not be UTF-8: bad bytes become U+FFFD. */
value sl_str_lossy(const char *s, size_t len);

/* Should a blocking native give up (the call's @timeout passed, or the
 * run was interrupted)? Natives that wait poll it every few ms. */
static inline bool sl_cancelled(flow_vm *vm)
{
	int *c = vm_ctx(vm)->cancel;
	return vm_interrupted || (c && __atomic_load_n(c, __ATOMIC_RELAXED));
}

/* A normal draw from the task's stream (mod_random.c). */
double sl_normal(flow_rng *r, double mean, double std);
/* n normal draws into out, two per Box-Muller pair (tensor.normal). */
void sl_normal_fill(flow_rng *r, double mean, double std, double *out, size_t n);

/* ---- shared natives' cores ------------------------------------------- */
/* Python str.format over args (mod_str.c). */
int sl_format(flow_vm *vm, value fmt, const value *args, int nargs, value *out);
/* Stable in-place sort of an unfrozen list, by key(x) if key is callable
 * (not none), descending if reverse (builtins.c). */
int sl_sort(flow_vm *vm, value list, value key, bool reverse);

#endif
