/* dag.h - the lowered driver: one node per task call, actor creation,
 * actor method call, implicit expression and driver effect, with the
 * edges between them (LANGUAGE.md sections 6 and 7).
 *
 * Node ids are dense, 0..n-1, and ascending ids are a topological order
 * (dag_finalize renumbers after a rewrite so this stays true). Every
 * node's result is a value in d->fut[id]: a vfuture for most kinds
 * (pending after lowering; an executor fills it in place), a vactor
 * handle for DAG_ACTOR. Inputs are values that may hold those futures
 * and handles anywhere inside lists and dicts: each one is a data edge.
 *
 * IMPLICIT and EFFECT nodes are one instruction of the driver (or of an
 * fn it called) that needed a run-time value or has an effect: `proto`
 * and `pc` name the instruction, ins/inreg give the registers it reads,
 * `out` the register that holds its result. An executor runs one with
 * vm_exec_insn.
 *
 * Ownership: a dag owns its nodes, input values (held, frozen) and
 * futures; it borrows the bc_program, which must outlive it.
 */
#ifndef FLOW_DAG_H
#define FLOW_DAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/bytecode.h"
#include "lang/objslab.h"
#include "lang/value.h"

typedef enum dag_kind {
	DAG_TASK,     /* a task call: proto = task, ins = matched arguments */
	DAG_ACTOR,    /* an actor creation: proto = actor class index, ins = init arguments */
	DAG_METHOD,   /* an actor method call: proto = method, pc = the actor's node, ins = arguments */
	DAG_IMPLICIT, /* an expression that needs a run-time value (no effect) */
	DAG_EFFECT,   /* a driver effect: print, sleep, now, io, random, get... */
	DAG_PUT,      /* put(value): ins[0] = the value */
	DAG_CONT,     /* the staged driver: "driver continues at line N"; ins
	               * = the driver's registers when it stopped (d->cont) */
	DAG__KINDS
} dag_kind;

/* IMPLICIT/EFFECT nodes of the driver's own code name it with this proto
 * index (the driver is not in bc_program.protos). */
#define DAG_PROTO_DRIVER UINT32_MAX

typedef struct dag_node {
	uint8_t kind;     /* dag_kind */
	uint8_t out;      /* IMPLICIT/EFFECT: result register */
	uint16_t nin;     /* number of inputs */
	uint32_t proto;   /* see dag_kind */
	uint32_t pc;      /* IMPLICIT/EFFECT: instruction index; METHOD: actor node id */
	uint32_t in;      /* first input in ins[] / inreg[] */
	span where;       /* the call or expression in the source */
} dag_node;

/* One rewrite of the associative-chain pass, for --explain. */
typedef struct dag_rewrite {
	span where;       /* the call that made the chain's last node */
	uint32_t proto;   /* the associative task */
	uint32_t calls;   /* calls in the chain */
	uint32_t depth_before, depth_after; /* levels of calls */
} dag_rewrite;

/* The staged driver (LANGUAGE.md section 6): where the driver stopped at
 * compile time. Its DAG_CONT node (at most one, the last the lowering
 * made) runs the rest of the driver at run time, from these frames, with
 * the node's inputs as registers. */
typedef struct dag_cont_frame {
	uint32_t proto;   /* DAG_PROTO_DRIVER or a proto index (an fn it called) */
	uint32_t pc;      /* the instruction to resume at */
	uint32_t base;    /* its first register among the node's inputs */
} dag_cont_frame;
typedef struct dag_cont {
	uint32_t nframes; /* 0: the driver is static */
	dag_cont_frame *frames; /* outermost first; owned */
	char *why;        /* what made it dynamic (owned), for check/--explain */
	uint32_t *masks;  /* from a plan: per input register, the vtypes (bit
	                   * 1 << t) its code can take there; NULL: trusted */
} dag_cont;

typedef struct dag {
	const bc_program *prog;
	dag_node *nodes;
	uint32_t n, cap;
	value *ins;       /* inputs of every node, node by node */
	uint8_t *inreg;   /* IMPLICIT/EFFECT: register of each input */
	uint32_t nins, capins;
	value *fut;       /* per node: its result future (or actor handle) */
	/* ordering edges added while lowering (effects, actor calls) */
	uint32_t (*order)[2];
	uint32_t norder, caporder;
	/* after dag_finalize: predecessors and successors (deduplicated,
	 * ascending), edge e of node v is preds[pred_off[v] + e] */
	uint32_t *pred_off, *preds;
	uint8_t *pred_order; /* per pred entry: 1 if only an ordering edge;
	                      * DAG_EDGE_HELD: a future the DAG_CONT node holds
	                      * without waiting for it (its get/wait blocks) */
	uint32_t *succ_off, *succs;
	uint32_t nedges;
	/* after dag_finalize: bit v set when node v is a DAG_TASK whose inputs
	 * hold an actor handle (the serial executor defers it, serial.c);
	 * NULL when no node does */
	uint64_t *holds_actor;
	dag_rewrite *rewrites;
	uint32_t nrewrites;
	dag_cont cont;
	objslab futs;     /* where dag_add carves the nodes' futures (each
	                   * future holds its chunk; see objslab.h) */
	/* dag_reserve on an empty DAG: one block on huge pages from which
	 * the arrays above are carved (nodes, fut, ins, inreg, then what
	 * dag_finalize makes while there is room), so a plan's DAG of
	 * thousands of nodes costs one page fault, not one per 4 KiB of
	 * each array. An array in it is never passed to free() or
	 * realloc(): dag_free_array, and growing copies it out. */
	char *arena;
	size_t arena_len, arena_used;
	bool arena_in_slab; /* the arena is the tail of futs' chunk (objslab_tail) */
} dag;
/* pred_order of a DAG_CONT node's data edge from a task call, method
 * call or put whose future it holds: it may start before that node ends
 * (only effects, actor calls and the values it resumes with come first);
 * a get or wait on the future blocks until it is done. A data edge still:
 * the result is kept for it (obj_refs.h). */
#define DAG_EDGE_HELD 2

/* The DAG_CONT node's id, or -1 when the driver is all static. */
int64_t dag_cont_node(const dag *d);

typedef struct dag_stats {
	uint32_t nodes, edges;
	uint32_t depth;   /* longest path, in nodes */
	uint32_t width;   /* most nodes at one depth */
	uint32_t by_kind[DAG__KINDS];
	uint32_t rewrites;
} dag_stats;

dag *dag_new(const bc_program *prog);
void dag_free(dag *d);

/* Adds a node; ins are held (and frozen), inreg may be NULL. Creates
 * the node's result (a pending future, or for DAG_ACTOR a handle whose
 * vactor.id is the node id). Returns the new id. */
uint32_t dag_add(dag *d, dag_kind kind, uint32_t proto, uint32_t pc, int out, const value *ins,
                 const uint8_t *inreg, int nin, span where);
/* Room for `nodes` more nodes and `ins` more inputs, so a reader that
 * knows its counts (plan_read.c) fills arrays of the right size once. */
void dag_reserve(dag *d, uint32_t nodes, uint32_t ins);
/* Frees one of d's arrays (nodes, fut, ins, inreg...), unless it lies
 * in d's arena (dag_reserve), which dag_free unmaps whole. For code that
 * replaces an array (rewrite.c). */
void dag_free_array(dag *d, void *p);
/* An ordering edge from -> to (from < to). */
void dag_order(dag *d, uint32_t from, uint32_t to);
/* The node a value produced by this DAG stands for (a future or an
 * actor handle made by dag_add), or -1. */
int64_t dag_ref(value v);

/* Builds preds/succs from the inputs' references and the ordering edges.
 * Call again after changing inputs (it rebuilds). Returns 0, or -1 if a
 * reference does not point to an earlier node. */
int dag_finalize(dag *d);
/* Node v is a DAG_TASK holding an actor handle (after dag_finalize). */
static inline bool dag_holds_actor(const dag *d, uint32_t v)
{
	return d->holds_actor && (d->holds_actor[v >> 6] >> (v & 63) & 1);
}
void dag_stats_of(const dag *d, dag_stats *out);
/* Prints stats as one JSON object and a newline. */
void dag_stats_json(const dag_stats *s, FILE *out);

/* The proto holding an IMPLICIT/EFFECT node's instruction, or NULL if
 * its index is out of range. */
const bc_proto *dag_insn_proto(const dag *d, const dag_node *n);

/* One line per node: "ID KIND LABEL FILE:LINE <- PRED ~ORDERPRED ...". */
void dag_dump(const dag *d, FILE *out);

/* A short label: the task or method name, the actor class, the native
 * or operator of an implicit/effect node ("print", "get", "+", "f-string").
 * Borrowed or written into buf. */
const char *dag_label(const dag *d, uint32_t id, char *buf, size_t n);

#endif
