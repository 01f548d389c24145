/* mod_io.c: placeholder, being written */
