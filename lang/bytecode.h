/* bytecode.h - a compiled program: function prototypes (bytecode,
 * constants, line table), actor classes, module globals, and the driver.
 *
 * This is what a plan file (issue 3) will carry, and what every executor
 * runs. The opcodes themselves are listed once in opcodes.h (X-macro).
 *
 * Ownership: a bc_program owns everything reachable from it (protos,
 * code, constants, names); bc_program_free releases it all. Once built it
 * is immutable, so worker threads share it without locks.
 */
#ifndef FLOW_BYTECODE_H
#define FLOW_BYTECODE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "value.h"

typedef enum { PROTO_DRIVER, PROTO_FN, PROTO_TASK, PROTO_METHOD, PROTO_INIT } bc_proto_kind;

/* Scheduling attributes from decorators (LANGUAGE.md section 4). */
typedef struct bc_attrs {
	double cpus;          /* @cpus; task default 1, actor default 0 */
	int64_t memory;       /* @memory bytes; 0 = none */
	int retries;          /* @retries */
	double timeout;       /* @timeout seconds; 0 = none */
	bool associative;     /* @associative */
	int restarts;         /* actors: @restarts */
	int nresources;
	const char **res_names; /* @resources(name=amount) */
	double *res_amounts;
} bc_attrs;

typedef struct bc_param {
	const char *name;
	const char *type;     /* annotation or NULL */
	bool has_default;
	value deflt;          /* constant default (frozen) */
} bc_param;

typedef struct bc_proto {
	bc_proto_kind kind;
	const char *name;       /* "square", "Counter.increment", "<driver>" */
	int module;             /* index into bc_program.modules */
	span where;             /* the declaration */
	int nparams;
	bc_param *params;
	const char *ret_type;   /* annotation or NULL */
	bc_attrs attrs;
	const struct bc_actor *actor; /* methods: owning class */
	int index;              /* position in bc_program.protos */
	/* code: defined by the compiler/VM (compile.c, vm.c) */
	int nregs;              /* frame size */
	uint32_t *code;
	int ncode;
	value *consts;          /* frozen constants */
	int nconsts;
	span *lines;            /* place of each instruction (ncode entries) */
} bc_proto;

typedef struct bc_actor {
	const char *name;
	int module;
	span where;
	bc_attrs attrs;
	const bc_proto *init;   /* NULL if no init */
	const bc_proto **methods;
	int nmethods;
	int index;
} bc_actor;

typedef struct bc_module {
	const char *path;
	const char *name;
	int nglobals;           /* params and consts, in declaration order */
	const char **global_names;
	const bc_proto *init;   /* computes the globals (params/consts), may be NULL */
} bc_module;

typedef struct bc_program {
	bc_proto **protos;
	int nprotos;
	bc_actor **actors;
	int nactors;
	bc_module *modules;     /* [0] is the main file */
	int nmodules;
	const bc_proto *driver; /* the main file's top-level statements */
	diag_ctx *diag;         /* sources, for error places (borrowed) */
	void *impl;             /* compiler-private storage */
} bc_program;

void bc_program_free(bc_program *p);
/* Human-readable listing of every proto (flow compile --dump-bytecode). */
void bc_dump(const bc_program *p, FILE *out);

#endif
