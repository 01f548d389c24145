/* native.h - the native-function interface: how C functions (builtins,
 * value methods, standard modules) are described to the language, and the
 * one registry lang looks them up in (LANGUAGE.md section 9).
 *
 * lang owns this interface; the stdlib (or any other library of natives) fills
 * it through native_register() and otherwise sees only lang's public API,
 * as Lua's standard library does. The stdlib registers its table at program
 * start (its registry.c); a program that links no table has no natives.
 *
 * A native receives its arguments already matched to its declared
 * parameters: keywords moved to their position, missing optional ones
 * filled with their defaults (by the VM, from `params`). Variadic natives
 * (params "*") receive exactly what the call passed.
 *
 * Ownership: argv is borrowed; on success the native stores a NEW
 * reference in *out and returns 0. On error it returns vm_raise(vm, ...)
 * (which is -1) and leaves *out untouched. Tables are static and immutable
 * and must outlive the process; the registry keeps a pointer to them.
 */
#ifndef FLOW_NATIVE_H
#define FLOW_NATIVE_H

#include "value.h"

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

/* What a library of natives registers: every table is terminated by a
 * {NULL} entry (modules by a NULL pointer); methods are indexed by the
 * receiver's type (NULL for types without methods); `mutating` names the
 * methods that mutate their receiver. */
typedef struct native_table {
	const native_def *builtins;
	const native_def *methods[V__COUNT];
	const module_def *const *modules;
	const char *const *mutating;
} native_table;

/* Installs t as the process's natives, replacing any earlier table. Call
 * before the first look-up (at program start, before threads); t is
 * borrowed for the life of the process. */
void native_register(const native_table *t);

/* Look-ups; NULL when not found (or when nothing is registered). */
const module_def *native_module(const char *name);
const native_def *native_module_fn(const module_def *m, const char *name);
const const_def *native_module_const(const module_def *m, const char *name);
const native_def *native_builtin(const char *name);
const native_def *native_method(vtype receiver, const char *name);
/* For "did you mean": every name of a table (NULL-terminated, built once,
 * owned by the registry). */
const char *const *native_builtin_names(void);
const char *const *native_module_names(void);
/* Method names of a receiver type (NULL-terminated; empty list for types
 * without methods). */
const char *const *native_method_names(vtype receiver);
/* True for methods that mutate their receiver (append extend pop insert
 * remove sort reverse update): the VM makes the receiver unfrozen (copy-on-write) before
 * calling them. Other methods never mutate. */
bool native_method_mutates(const char *name);

/* Parses a params string into a parameter list (for arity/keyword checks
 * and default filling). Returns the count, or -1 for variadic ("*").
 * names/defaults point into storage owned by the registry. */
#define NATIVE_MAX_PARAMS 8
typedef struct native_params {
	int n;                 /* -1: variadic */
	int nrequired;
	const char *names[NATIVE_MAX_PARAMS];
	value defaults[NATIVE_MAX_PARAMS]; /* immediates or interned strings */
} native_params;
const native_params *native_params_of(const native_def *d);

#endif
