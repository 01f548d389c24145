/* builtins.c: placeholder, being written */
