/* mod_random.c: placeholder, being written */
