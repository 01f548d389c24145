/* vm.h - the bytecode VM that runs task, fn, actor-method and driver
 * bodies, and the interface it uses to reach the executor (the "host").
 *
 * One flow_vm runs on one thread at a time. The host decides what a task
 * call, an actor call, get/put/wait and print mean: the serial host
 * (executor/serial.c) runs tasks inline; the parallel executor submits
 * them to worker threads; the compiler's lowering (issue 3) records DAG
 * nodes instead.
 *
 * Ownership: values passed in are borrowed; values returned through `out`
 * parameters are new references.
 */
#ifndef FLOW_VM_H
#define FLOW_VM_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bytecode.h"
#include "rng.h"
#include "value.h"

typedef struct flow_vm flow_vm;

/* ---- heap types owned by the VM -------------------------------------- */

/* A future: the eventual value of a task or actor call. The serial host
 * creates them already resolved. */
typedef struct vfuture {
	vobj h;
	int state;        /* FUT_PENDING, FUT_DONE, FUT_FAILED */
	value result;     /* FUT_DONE */
	char *error;      /* FUT_FAILED: malloc'd message */
	void *host_data;  /* for the executor */
	int64_t node;     /* the DAG node it is the result of, or -1 */
	bool implied;     /* a driver value not known at compile time (an
	                   * IMPLICIT/EFFECT node's), not a call's future */
	void *job;        /* a nested call handed to an executor: what it waits
	                   * on while FUT_PENDING (set before the future is
	                   * shared, never changed; the executor owns it) */
} vfuture;
enum { FUT_PENDING, FUT_DONE, FUT_FAILED };
value future_new_done(value result); /* holds result */
value future_new_failed(const char *msg);
value future_new_pending(int64_t node);

/* An actor handle: which class, and the host's id for the instance. */
typedef struct vactor {
	vobj h;
	const struct bc_actor *cls;
	void *instance;   /* host-owned: serial host keeps the field dict here */
	uint64_t id;
	int64_t node;     /* the DAG node that creates it, or -1 */
	void (*free_instance)(void *instance); /* called when the handle dies; may be NULL */
} vactor;

/* A callable value. */
enum { FUNC_PROTO, FUNC_NATIVE, FUNC_BOUND };
typedef struct vfunc {
	vobj h;                        /* h.extra = FUNC_* */
	const struct bc_proto *proto;  /* FUNC_PROTO: task, fn or method */
	const struct native_def *native; /* FUNC_NATIVE */
	value self;                    /* FUNC_BOUND: receiver (held) */
	const char *method;            /* FUNC_BOUND: method name */
} vfunc;

/* ---- the host --------------------------------------------------------- */

typedef struct flow_host_ops {
	/* Calls a task: returns a future (or, for the serial host, a done
	 * future). args already matched to the task's parameters. */
	int (*call_task)(flow_vm *vm, const struct bc_proto *task,
	                 value *args, int nargs, value *out_future);
	/* Creates an actor (runs init) and returns its handle. */
	int (*new_actor)(flow_vm *vm, const struct bc_actor *cls,
	                 value *args, int nargs, value *out_handle);
	/* Calls a method on an actor handle: returns a future. */
	int (*call_method)(flow_vm *vm, value handle, const struct bc_proto *method,
	                   value *args, int nargs, value *out_future);
	/* Resolves one future to its value (blocking). */
	int (*get)(flow_vm *vm, value future, value *out);
	/* wait(futures, n, timeout): returns [ready, pending]. */
	int (*wait)(flow_vm *vm, value futures, int64_t n, double timeout, value *out);
	/* put(value): a future to a stored value. */
	int (*put)(flow_vm *vm, value v, value *out_future);
	/* Writes text printed by print(): driver -> stdout, task -> stderr
	 * prefixed with the task's name. len excludes the trailing newline,
	 * which the host adds. */
	void (*print)(flow_vm *vm, const char *text, size_t len);
	/* time.sleep: gives up the slot while sleeping. */
	int (*sleep)(flow_vm *vm, double seconds);
	/* Lowering only (NULL for executors): instruction pc of p could not
	 * run at compile time, because it needs a run-time value or has an
	 * effect (see vm_lowering). base is the frame's registers; the host
	 * records the instruction as a DAG node and returns, in *out, a
	 * future for register out_reg after it. */
	int (*lift)(flow_vm *vm, const struct bc_proto *p, int pc, const value *base, int out_reg,
	            value *out);
} flow_host_ops;

/* What is running in this VM: the driver, or one task/method call. */
typedef struct vm_context {
	const flow_host_ops *host;
	void *host_data;
	const char *task_name;   /* NULL for the driver */
	value self;              /* actor instance fields (a dict) in methods */
	flow_rng rng;            /* per-task random stream */
	bool lowering;           /* the compiler runs the driver: host->lift */
	/* set by another thread (an executor's watchdog: @timeout) to stop
	 * this run with "interrupted" at its next backward jump or call */
	int *cancel;             /* read and written atomically */
	/* the node this runs on (lang/node_view.h; borrowed), or NULL */
	const struct flow_node_view *node;
} vm_context;

/* ---- the VM ------------------------------------------------------------- */

flow_vm *vm_new(const struct bc_program *prog, const vm_context *ctx);
void vm_free(flow_vm *vm);
/* Gives an idle VM (nothing running in it) a new context, so a host can
 * reuse one VM for many calls instead of creating one per call. */
void vm_set_ctx(flow_vm *vm, const vm_context *ctx);
vm_context *vm_ctx(flow_vm *vm);
const struct bc_program *vm_program(flow_vm *vm);

/* Runs a proto (task, fn, method, or the driver with no args). */
int vm_run(flow_vm *vm, const struct bc_proto *proto, value *args, int nargs, value *out);
/* Calls any callable value (used by natives: sorted(key=f), reduce). */
int vm_call(flow_vm *vm, value fn, value *args, int nargs, value *out);

/* Raising an error from a native: records the message (the VM adds the
 * place and traceback) and returns -1. */
int vm_raise(flow_vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After a failed vm_run: the full error text (place, message, traceback).
 * Borrowed; valid until the next vm_run. */
const char *vm_error(flow_vm *vm);
/* The same error's message alone, and its place (false if none). */
const char *vm_error_message(flow_vm *vm);
bool vm_error_place(flow_vm *vm, span *out);

/* Resolves every future inside v (deeply, through lists and dicts). */
int vm_get_deep(flow_vm *vm, value v, value *out);
/* The per-task random stream. */
static inline flow_rng *vm_rng(flow_vm *vm) { return &vm_ctx(vm)->rng; }

/* Registers the type hooks for V_FUTURE/V_ACTOR/V_FUNC; call once. */
void vm_types_init(void);

/* Set (e.g. from a signal handler) to make every running VM fail with
 * "interrupted" at its next backward jump or call; the setter clears it.
 * The fuzz harness uses it as a time budget. */
extern volatile sig_atomic_t vm_interrupted;
/* New callable values (rc 1) for a proto (task/fn) and a native. */
value vm_func_proto(const struct bc_proto *p);
value vm_func_native(const struct native_def *d);
/* A new handle (rc 1) for an instance; the host fills instance/id. */
value vm_actor_new(const struct bc_actor *cls);
/* True for value methods that mutate their receiver (append, extend, pop,
 * insert, ...): the VM thaws a frozen receiver before calling them. */
bool vm_method_mutates(const char *name);
/* ---- lowering (LANGUAGE.md section 6) -------------------------------------
 * With ctx.lowering set, the VM runs the driver at compile time: a pending
 * future where a value is needed, or a call of a native that is not pure
 * (NATIVE_EFFECT/CLOCK/RANDOM/ENV, get), makes the instruction a DAG node
 * through host->lift instead of running it; control flow on such a value
 * is the compile error of section 6. */

/* The host's get calls this for a pending future while lowering. */
int vm_need_runtime(flow_vm *vm);
/* Registers instruction pc of p reads, into regs (up to max); returns
 * their count, or -1 if the instruction can never be a DAG node. *outs
 * gets the registers it may write (A; B and C for UNPACK) as a bit set
 * over {A, B, C}: 1, 6. */
int vm_insn_inputs(const struct bc_program *prog, const bc_proto *p, int pc, uint8_t *regs, int max, int *outs);
/* Replaces every implied future inside v (deeply) by its value. */
int vm_resolve_implied(flow_vm *vm, value v, value *out);
/* Runs instruction pc of p alone, in a fresh frame whose registers are
 * none but regs[j] = vals[j] (borrowed), and returns register out_reg
 * (new ref). Used by executors for IMPLICIT and EFFECT nodes. */
int vm_exec_insn(flow_vm *vm, const bc_proto *p, int pc, const uint8_t *regs, const value *vals,
                 int n, int out_reg, value *out);

/* The place of the instruction running in the innermost frame (for
 * "called from" in task errors). False when nothing is running. */
bool vm_where(flow_vm *vm, span *out);

#endif
