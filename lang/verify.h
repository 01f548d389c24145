/* verify.h - the bytecode verifier: checks that a proto's code cannot make
 * the VM misuse memory, before it runs. Code from a plan file (and, later,
 * code that arrives over the network) is verified; code the compiler just
 * made is trusted.
 *
 * Driven by the opcode table (opcodes.h): every register an instruction
 * reads or writes is below the frame size, every constant, proto, actor,
 * native slot, method site and global index is in range, every reachable
 * jump lands inside the code, and a register type flow shows that no
 * instruction sees a value the VM would misuse (a FORLOOP counter that is
 * not an int, a container built by LISTAPPEND/DICTSET that may be shared,
 * so that no bytecode can put a container inside itself).
 *
 * Ownership: the program and proto are borrowed and not changed; *err is
 * malloc'd and the caller frees it.
 */
#ifndef FLOW_VERIFY_H
#define FLOW_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "bytecode.h"

/* Verifies proto x of program p, whose protos, actors, modules (with their
 * global counts), natives and method sites must already be in place.
 * is_init: x computes its module's globals (SETGLOBAL is allowed). Returns
 * 0, or -1 with *err set ("<proto>: <what> at pc N"). */
int bc_verify_proto(const bc_program *p, const bc_proto *x, bool is_init, char **err);

/* As bc_verify_proto; with want (x->nregs entries, zeroed by the caller),
 * also ORs into want[r] the types register r may hold whenever instruction
 * want_pc is reached (what a resumed staged driver's registers may hold
 * there: compiler/plan_read.c's driver frames). want_pc -1: none. */
int bc_verify_proto_at(const bc_program *p, const bc_proto *x, bool is_init, int want_pc, uint32_t *want,
                       char **err);

#endif
