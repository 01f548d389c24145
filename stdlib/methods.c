/* methods.c: placeholder, being written */
