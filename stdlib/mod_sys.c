/* mod_sys.c: placeholder, being written */
