/* stdlib.h - the one registration table of native functions: builtins,
 * value methods and standard modules (LANGUAGE.md section 9).
 *
 * A native receives its arguments already matched to its declared
 * parameters: keywords moved to their position, missing optional ones
 * filled with their defaults (by the VM, from `params`). Variadic natives
 * (params "*") receive exactly what the call passed.
 *
 * Ownership: argv is borrowed; on success the native stores a NEW
 * reference in *out and returns 0. On error it returns vm_raise(vm, ...)
 * (which is -1) and leaves *out untouched.
 */
#ifndef FLOW_STDLIB_H
#define FLOW_STDLIB_H

#include "../lang/value.h"

typedef struct flow_vm flow_vm;

typedef int (*native_fn)(flow_vm *vm, value *argv, int argc, value *out);

/* Flags for the compiler (issue 3 lowering) and the resolver. */
#define NATIVE_EFFECT 0x1u  /* observable effect: print, sleep, io writes, proc */
#define NATIVE_CLOCK  0x2u  /* reads a clock: time.now, time.monotonic */
#define NATIVE_HOST   0x4u  /* talks to the executor: get, put, wait, reduce */
#define NATIVE_RANDOM 0x8u  /* uses the per-task random stream */
#define NATIVE_ENV    0x10u /* reads the machine it runs on (files, env,
                             * hostname): never evaluate at compile time */
#define NATIVE_SHAPE  0x20u /* works on a list's or dict's shape (len,
                             * enumerate, xs.append...), never on its items'
                             * values: futures inside stay futures. Every
                             * other native gets values: a future anywhere in
                             * an argument is resolved first (lifted to a
                             * node while lowering). */

/* params: comma-separated parameter names with optional literal defaults,
 * e.g. "xs,key=none,reverse=false" or "shape,mean=0.0,std=1.0"; "*" means
 * variadic; "" means no parameters. Defaults are literals: none true false
 * ints floats and "strings". For methods, params does NOT list the
 * receiver, which the native receives as argv[0]. */
/* A default written "?" ("f,xs,init=?") means the argument may be omitted
 * and has no value: the VM fills the slot with native_absent() (copied from
 * `defaults`, like any default), a none that natives tell apart. */
static inline value native_absent(void) { value v = v_none(); v.as.i = 1; return v; }
static inline bool native_is_absent(value v) { return v.t == V_NONE && v.as.i == 1; }

typedef struct native_def {
	const char *name;
	native_fn fn;
	const char *params;
	unsigned flags;
} native_def;

typedef struct const_def {
	const char *name;
	double value; /* module constants are floats: pi, e, inf, nan */
} const_def;

typedef struct module_def {
	const char *name;           /* "time", "math", ... */
	const native_def *fns;      /* terminated by {NULL} */
	const const_def *consts;    /* terminated by {NULL}; may be NULL */
} module_def;

/* Look-ups; NULL when not found. Tables are static and immutable. */
const module_def *stdlib_module(const char *name);
const native_def *stdlib_module_fn(const module_def *m, const char *name);
const const_def *stdlib_module_const(const module_def *m, const char *name);
const native_def *stdlib_builtin(const char *name);
const native_def *stdlib_method(vtype receiver, const char *name);
/* For "did you mean": every name of a table (NULL-terminated, static). */
const char *const *stdlib_builtin_names(void);
const char *const *stdlib_module_names(void);
/* Method names of a receiver type (NULL-terminated, static; empty list for
 * types without methods). */
const char *const *stdlib_method_names(vtype receiver);
/* True for methods that mutate their receiver (append extend pop insert
 * remove sort reverse update): the VM makes the receiver unfrozen (copy-on-write) before
 * calling them. Other methods never mutate. */
bool stdlib_method_mutates(const char *name);

/* Parses a params string into a parameter list (for arity/keyword checks
 * and default filling). Returns the count, or -1 for variadic ("*").
 * names/defaults point into static storage owned by the table. */
#define NATIVE_MAX_PARAMS 8
typedef struct native_params {
	int n;                 /* -1: variadic */
	int nrequired;
	const char *names[NATIVE_MAX_PARAMS];
	value defaults[NATIVE_MAX_PARAMS]; /* immediates or interned strings */
} native_params;
const native_params *stdlib_params(const native_def *d);

/* The most bytes io.read_text/read_lines and each of proc's captured
 * outputs may hold (flow run --max-read; default STDLIB_MAX_READ): past
 * it the call fails with an error naming the cap. Set before a run. */
#define STDLIB_MAX_READ (1ull << 30)
extern uint64_t stdlib_max_read;

#endif
