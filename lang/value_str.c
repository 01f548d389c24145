/* value_str.c: placeholder, being written */
