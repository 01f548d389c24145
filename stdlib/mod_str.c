/* mod_str.c: placeholder, being written */
