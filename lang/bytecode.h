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
	/* added by the compiler/VM part: */
	const struct native_def **natives; /* NATIVE slots */
	int nnatives;
	struct bc_msite *msites;           /* METHOD call sites */
	int nmsites;
	uint8_t *ptcode;        /* per param: BC_T_* of its annotation */
	uint8_t ret_tcode;      /* BC_T_* of ret_type */
	bool checks;            /* some param or the return is annotated */
} bc_proto;

/* Annotation codes, precomputed so checks cost no string compares. */
enum { BC_T_ANY, BC_T_NONE, BC_T_BOOL, BC_T_INT, BC_T_FLOAT, BC_T_STR, BC_T_LIST,
       BC_T_DICT, BC_T_TENSOR, BC_T_FN, BC_T_TASK, BC_T_FUTURE, BC_T_ACTOR };
/* BC_T_* of an annotation name (an actor's name gives BC_T_ACTOR). */
int bc_tcode(const char *name);

/* A method call site `recv.name(args)`: the native for each receiver type
 * is looked up at compile time, so the VM does no lookup by name. */
typedef struct bc_msite {
	const char *name;
	const struct native_def *by_type[V__COUNT];
	const struct native_params *params[V__COUNT]; /* native_params_of of each */
	int nkw;                /* keyword args (the last nkw of the call) */
	const char **kwnames;
	bool mutates;           /* append/extend/pop/insert: thaw a frozen receiver */
} bc_msite;

/* Instruction encoding (see opcodes.h). */
typedef enum {
#define OP(name, fmt, doc) OP_##name,
#include "opcodes.h"
#undef OP
	OP__COUNT
} bc_op;
extern const char *const bc_op_names[OP__COUNT];
#define BC_OP(i)  ((bc_op)((i) & 0xffu))
#define BC_A(i)   ((int)(((i) >> 8) & 0xffu))
#define BC_B(i)   ((int)(((i) >> 16) & 0xffu))
#define BC_C(i)   ((int)((i) >> 24))
#define BC_Bx(i)  ((int)((i) >> 16))
#define BC_sBx(i) (BC_Bx(i) - 32767)
#define BC_sC(i)  (BC_C(i) - 128)
#define BC_sJ(i)  (((int32_t)(i)) >> 8)
#define BC_ABC(op, a, b, c) ((uint32_t)(op) | (uint32_t)(a) << 8 | (uint32_t)(b) << 16 | (uint32_t)(c) << 24)
#define BC_ABx(op, a, bx) ((uint32_t)(op) | (uint32_t)(a) << 8 | (uint32_t)(bx) << 16)
#define BC_MAXsBx 32767
#define BC_MAXsJ ((1 << 23) - 1)

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
	value *globals;         /* their frozen values, computed by compile_program */
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
/* The source place of instruction pc of a proto. */
span bc_place(const bc_proto *p, int pc);
/* The path of source file `file` of p, or "?" when it is not known (no
 * sources kept, file -1). */
const char *bc_source_path(const bc_program *p, int file);
/* Human-readable listing of every proto (flow compile --dump-bytecode). */
void bc_dump(const bc_program *p, FILE *out);

#endif
