/* resolve.c: placeholder, being written */
