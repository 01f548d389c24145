/* mod_math.c: placeholder, being written */
