/* check_files.h - `flow check`'s warning about files passed between tasks
 * (issue 13): files are not dependencies, so a task that reads a file
 * another task writes may run first unless something orders the two.
 *
 * A task "writes" when its code, or a task or fn it calls, calls
 * io.write_text/io.write_csv; it "reads" when it calls
 * io.read_text/read_lines/read_csv/exists. The warning is given where
 * the driver hands the same literal string to a writing call and a
 * reading call with no path between the two in the DAG. The idiom that
 * orders them: the writer returns the path, the reader takes that
 * result (docs/faults.md, "Files between tasks").
 *
 * Ownership: only reads the dag; the warnings are printed to out. */
#ifndef FLOW_CHECK_FILES_H
#define FLOW_CHECK_FILES_H

#include <stdio.h>

#include "dag.h"
#include "lang/diag.h"

/* Prints one warning (gcc-style, through d's sources) per unordered
 * reading call, at most max of them. Returns how many it printed. */
int check_file_races(const dag *g, const diag_ctx *d, FILE *out, int max);

#endif
