/* value_ops.c: placeholder, being written */
