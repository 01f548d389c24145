/* mod_tensor.c: placeholder, being written */
