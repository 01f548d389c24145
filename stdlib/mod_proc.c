/* mod_proc.c: placeholder, being written */
