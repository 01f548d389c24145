/* compile.h - from a loaded, checked program (resolve.h) to bytecode.
 * Ownership: the returned program owns its code and constants; it keeps
 * a borrowed pointer to the loader's diag_ctx for error places. */
#ifndef FLOW_COMPILE_H
#define FLOW_COMPILE_H

#include "bytecode.h"
#include "resolve.h"

/* Returns NULL and records diagnostics on failure. */
bc_program *compile_program(const flow_loader *l);

#endif
