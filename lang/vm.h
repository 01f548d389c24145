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
	/* small fields first, packed into 16 bytes: one future per DAG node,
	 * a million of them in a big plan, and each byte of fresh memory
	 * costs a page fault's share (112 bytes with padding, now 88) */
	int state;        /* FUT_PENDING, FUT_DONE, FUT_FAILED */
	int caught;       /* FUT_FAILED: an `except` caught a get of it (atomic) */
	uint32_t hkey;    /* node as made (DAG ids are uint32): a dict key's
	                   * hash, which renumbering the DAG (node changes)
	                   * must not change; UINT32_MAX when made with no node */
	uint8_t ekind;    /* FUT_FAILED: ERR_* as `except e` sees it (e.kind) */
	bool implied;     /* a driver value not known at compile time (an
	                   * IMPLICIT/EFFECT node's), not a call's future */
	value result;     /* FUT_DONE */
	char *error;      /* FUT_FAILED: malloc'd message */
	void *host_data;  /* for the executor */
	int64_t node;     /* the DAG node it is the result of, or -1 */
	void *job;        /* a nested call handed to an executor: what it waits
	                   * on while FUT_PENDING (set before the future is
	                   * shared, never changed; the executor owns it) */
	struct vfuture *cause; /* FUT_FAILED because this failed future was an
	                   * input (a skipped call): held; catching this one
	                   * handles the cause too. Else NULL */
	char *emsg;       /* FUT_FAILED: the failed call's own message (e.message),
	                   * malloc'd, or NULL (then the first line of error) */
} vfuture;
enum { FUT_PENDING, FUT_DONE, FUT_FAILED };
value future_new_done(value result); /* holds result */
value future_new_failed(const char *msg);
value future_new_pending(int64_t node);
/* A call's future k found by identity among dict d's keys (Ray's {ref: i}):
 * true and *out (borrowed) set. Any other k: false (look it up by value). */
bool vm_dict_get_ref(value d, value k, value *out);
/* The same, carved from slab s (VOBJ_SLAB; its chunk is released, not
 * freed, when the future dies): for the DAG's one future per node. */
struct objslab;
value future_new_pending_in(struct objslab *s, int64_t node);

/* An error value (LANGUAGE.md section 8): what `except e` catches.
 * Its fields are read as e.message, e.kind, e.task; str(e) is text. All
 * four are held. */
enum { ERR_ERROR, ERR_RUNTIME, ERR_TASK, ERR_TIMEOUT, ERR_ACTOR_DIED, ERR_NODE_LOST };
typedef struct verror {
	vobj h;
	value message, kind, task, text;
} verror;
/* kind's name: "error", "runtime", "task", "timeout", "actor_died", "node_lost" */
const char *vm_error_kind_name(int kind);
/* A new error value (rc 1); task may be NULL (none); strings are copied. */
value vm_error_new(int kind, const char *message, const char *task, const char *text);

/* A stream (LANGUAGE.md section 5): what a call of a task that yields
 * returns. The host runs its producer and delivers its items
 * (host->stream_next, host->get); the VM only carries the handle. state
 * is the host's (freed with free_state when the last reference goes). */
typedef struct vstream {
	vobj h;
	void *state;
	void (*free_state)(void *state);
	const char *task;  /* the producer task's name (the program's) */
} vstream;
/* A new stream handle (rc 1) owning state. */
value vm_stream_new(const char *task, void *state, void (*free_state)(void *state));

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
	/* Lowering only (may be NULL): the driver cannot go on at compile
	 * time (control flow on a run-time value, wait, try, a stream: the
	 * staged driver of section 6). The host records the VM's state
	 * (vm_state) as the driver's continuation and returns 0; the VM then
	 * stops the run (vm_suspended). why says what made it dynamic. */
	int (*suspend)(flow_vm *vm, const char *why);
	/* May be NULL: an `except` caught the failure of this failed future
	 * (the one given to vm_error_detail), so it is not left unhandled. */
	void (*caught)(flow_vm *vm, value future);
	/* May be NULL: a native read the file at path (io.read_text...), so a
	 * host that reuses results (executor/cache.h) can tell when it changed. */
	void (*read_file)(flow_vm *vm, const char *path);
	/* Item `index` of a stream (section 5), waiting for the producer:
	 * returns 1 with *out (new ref), 0 when the stream ended before it,
	 * -1 with an error raised when the producer failed. host->get of a
	 * stream gives the list of all its items. NULL: no streams. */
	int (*stream_next)(flow_vm *vm, value stream, int64_t index, value *out);
	/* May be NULL: a native asked the file system a question whose answer
	 * a host that reuses results must check again (VM_PROBE_GLOB: what
	 * io.glob(arg) matches; VM_PROBE_EXISTS: whether arg exists). */
	void (*probe)(flow_vm *vm, int kind, const char *arg);
} flow_host_ops;

enum { VM_PROBE_GLOB = 1, VM_PROBE_EXISTS = 2 };

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
	/* lowering: the compile-time budget (section 6), in backward jumps
	 * and calls per driver statement (a statement is counted from when
	 * the driver first reaches a later line); past it the driver is
	 * suspended there (host->suspend). 0: no budget */
	uint64_t budget;
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

/* For natives that read a file by path: tells the host (read_file). */
void vm_note_read(flow_vm *vm, const char *path);
/* For natives that ask what a folder holds (VM_PROBE_*): tells the host. */
void vm_note_probe(flow_vm *vm, int kind, const char *arg);
/* Resolves every future inside v (deeply, through lists and dicts). */
int vm_get_deep(flow_vm *vm, value v, value *out);
/* The per-task random stream. */
static inline flow_rng *vm_rng(flow_vm *vm) { return &vm_ctx(vm)->rng; }

/* Registers the type hooks for V_FUTURE/V_ACTOR/V_FUNC; call once. */
void vm_types_init(void);
/* A host whose actor handles can travel (the cluster) gives their
 * encoding here (encode.h's ENC_EXT payload); kept by vm_types_init. */
void vm_types_set_actor_codec(int (*enc)(sbuf *out, value v, verr *e),
                              int (*dec)(const uint8_t *buf, size_t len, value *out, verr *e));

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

/* ---- errors as values (section 8) ------------------------------------------ */

/* After vm_raise: what `except e` will see of this error besides its
 * message: kind (ERR_*), the failed task (NULL: none; borrowed, must live
 * as long as the program), the failed call's own message and the text of
 * str(e) (either may be NULL: then the raised message, and "place: error:
 * message"). Strings are copied. */
void vm_error_detail(flow_vm *vm, int kind, const char *task, const char *msg, const char *text);
/* ... and the failed future it came from (held until the next error). */
void vm_error_future(flow_vm *vm, value future);
/* The kind of the last error (ERR_*). */
int vm_error_kind(flow_vm *vm);

/* ---- the staged driver (section 6) ------------------------------------------ */

/* One frame of a suspended driver: its proto, the instruction to resume
 * at (the top frame's, run again; a caller's: the one after its call),
 * and where its registers start among the saved ones. */
typedef struct vm_state_frame {
	const struct bc_proto *p;
	int pc;
	int base;
} vm_state_frame;
/* While the host's suspend runs: the frames (outermost first, at most
 * max; returns their count) and the registers below the top frame's end
 * (*regs borrowed, *nregs of them). */
int vm_state(flow_vm *vm, vm_state_frame *frames, int max, const value **regs, int *nregs);
/* Lowering: asks the host to suspend the driver at the instruction
 * running (why: what makes it dynamic; msg: the compile error when the
 * host refuses, e.g. --static). Returns -1 like an error, which the VM
 * turns into the suspension. */
int vm_need_suspend(flow_vm *vm, const char *why, const char *msg);
/* Was the last vm_run stopped by the host's suspend? */
bool vm_suspended(flow_vm *vm);
/* Runs a suspended driver again: frames as vm_state gave them, registers
 * regs[0..nregs) (borrowed; implied futures in them are replaced by their
 * values first). masks (may be NULL): per register, the value types
 * (bit 1 << vtype) its code can take there, and VM_MASK_KSTR where only
 * a string constant of the frame's proto will do (such a string is
 * replaced by that constant); another value is an error. Runs to the end
 * of the outermost frame. */
#define VM_MASK_KSTR (1u << 31)
int vm_resume(flow_vm *vm, const vm_state_frame *frames, int nframes, const value *regs, int nregs,
              const uint32_t *masks, value *out);

/* ---- generators: running a task that yields (section 5) -------------------- */

/* Does task p yield (its body holds a `yield`)? */
bool bc_proto_yields(const struct bc_proto *p);
/* Runs p (a task that yields) in vm, a VM of its own, as a generator: the
 * run stops at each yield. Returns 1 with *out the yielded value (new
 * ref): vm_gen_resume goes on from there; 0 when the task ended (*out:
 * none); -1 on an error (vm_error...). A VM stopped at a yield is
 * dropped with vm_free. */
int vm_gen_start(flow_vm *vm, const struct bc_proto *p, value *args, int nargs, value *out);
int vm_gen_resume(flow_vm *vm, value *out);

/* The place of the instruction running in the innermost frame (for
 * "called from" in task errors). False when nothing is running. */
bool vm_where(flow_vm *vm, span *out);

#endif
