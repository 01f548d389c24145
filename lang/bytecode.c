/* bytecode.c: placeholder, being written */
