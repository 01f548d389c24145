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
	bool cache;           /* @cache: results may be reused by `flow run --resume`
	                       * although the task has effects (executor/cache.h) */
	bool idempotent;      /* @idempotent: running it twice is safe although it
	                       * has effects, so a lost node's call is re-run */
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
#define OP(name, ...) OP_##name,
#include "opcodes.h"
#undef OP
	OP__COUNT
} bc_op;
extern const char *const bc_op_names[OP__COUNT];

/* ---- each opcode's facts (the columns of opcodes.h) ---------------------- */

/* Operand formats. */
typedef enum {
	OPFMT_ABC, OPFMT_AB, OPFMT_A, OPFMT_AK, OPFMT_AP, OPFMT_AACT, OPFMT_AsBx, OPFMT_sJ,
	OPFMT_ABI, OPFMT_ANAT, OPFMT_AMS, OPFMT_AG, OPFMT_AX
} bc_opfmt;

/* Register sets: single registers, and at most one run (bits 8-11). */
enum { OPR_A = 1, OPR_A1 = 2, OPR_A2 = 4, OPR_B = 8, OPR_C = 16 };
/* Runs: first register, then how many. PROTO: the parameters of proto Bx;
 * INIT: those of actor Bx's init; B1 = B + 1, 2B = 2 * B, C1 = C + 1. */
enum { OPRUN_NONE, OPRUN_A1_B, OPRUN_A1_2B, OPRUN_A_B1, OPRUN_B_4, OPRUN_B_C, OPRUN_A_C,
       OPRUN_A1_C1, OPRUN_A_PROTO, OPRUN_A_INIT };
#define OPR_RUN(first, count) (OPRUN_##first##_##count << 8)
#define OPR_RUNOF(set) (((set) >> 8) & 0xf)

/* Flags. */
enum {
	OPF_JUMP = 1 << 0,   /* goes to pc + 1 + sJ, never falls through */
	OPF_BRANCH = 1 << 1, /* falls through or goes to pc + 1 + sBx */
	OPF_SKIP = 1 << 2,   /* a test: the next instruction is a JMP, done or skipped */
	OPF_END = 1 << 3,    /* no successor (a return; EXTRAARG is never executed) */
	OPF_CALL = 1 << 4,   /* runs a callee whose frame starts at A (cleared on return) */
	OPF_EXTRA = 1 << 5,  /* an EXTRAARG (K index in Bx) follows when C != 0 */
	OPF_KSTR = 1 << 6,   /* K[Bx] must be a string */
	OPF_INIT = 1 << 7,   /* allowed in its own module's init only */
	OPF_NODE = 1 << 8,   /* may become a DAG node while lowering the driver */
	OPF_EFFECT = 1 << 9, /* touches state outside its frame (self, globals, actors) */
};

typedef struct bc_opinfo {
	const char *name;
	uint8_t fmt;         /* bc_opfmt */
	uint16_t reads, writes; /* OPR_* register sets */
	uint16_t flags;      /* OPF_* */
	const char *symbol;  /* DAG label, or NULL for the name */
} bc_opinfo;
extern const bc_opinfo bc_ops[OP__COUNT];

struct bc_program;
struct bc_proto;
/* The registers instruction pc of x reads (writes false) or writes (true),
 * into regs in the order A, A+1, A+2, B, C, then the run, each once.
 * Returns their count, or -1 when a proto, actor or native index the
 * count depends on is out of range, or when there are more than max. A
 * call's callee frame is not counted (OPF_CALL). */
int bc_insn_regs(const struct bc_program *prog, const struct bc_proto *x, int pc, bool writes, int *regs, int max);
/* The successors of instruction pc of x (pc + 1, a jump target, the
 * instruction past an EXTRAARG...), into succ; returns their count (0-2).
 * Targets are not range-checked (bc_verify_proto does that). */
int bc_insn_succ(const struct bc_proto *x, int pc, int succ[2]);
/* A hash of every opcode's name, format, registers and flags in order:
 * the part of the plan format that opcodes.h defines (compiler/plan.h
 * records it as PLAN_OPCODES_FINGERPRINT). bc_ops_hash hashes any table
 * of n entries (bc_ops_fingerprint: of bc_ops). */
uint64_t bc_ops_fingerprint(void);
uint64_t bc_ops_hash(const bc_opinfo *ops, int n);
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
