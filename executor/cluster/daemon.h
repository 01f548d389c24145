/* daemon.h - the daemons this machine started: background start with a
 * readiness pipe, pid files under ~/.flow/run/, and stopping them.
 *
 * A pid file is ~/.flow/run/ROLE-PID.pid holding "PID ROLE\n"; the daemon
 * writes it when it serves and removes it when it exits. `flow stop` sends
 * each SIGTERM and waits for it to exit.
 *
 * Ownership: paths are caller buffers; nothing allocated survives a call.
 */
#ifndef FLOW_DAEMON_H
#define FLOW_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "lang/value.h"

/* Forks. In the parent: waits for the child's readiness text, prints it
 * (stdout) or its error (stderr), and returns the exit status the parent
 * should exit with (never returns -1). In the child (returns -1): a new
 * session, stdin from /dev/null, stdout and stderr appended to
 * ~/.flow/logs/ROLE-PID.log; *ready_fd is where daemon_ready writes. */
int daemon_start(const char *role, int *ready_fd, char *log_path, size_t n);
/* The child tells its parent how it went: ok with text, or the error. */
void daemon_ready(int *ready_fd, int ok, const char *text);

int daemon_pidfile_write(const char *role, char *path, size_t n, verr *e);
void daemon_pidfile_remove(const char *path);

/* Stops every daemon with a pid file: SIGTERM, then waits up to
 * timeout_ms (SIGKILL after that, said so). Prints what it did. Returns the
 * number stopped, or -1 on an error. */
int daemon_stop_all(int timeout_ms, verr *e);

/* The node's object store: its spill directory (flow-spill-PID-XXXXXX
 * under spill_dir, else $TMPDIR, else /tmp; LMDB is opened there at the
 * first spill) lives as long as the daemon, and store_close removes it
 * when the daemon leaves (a stop, SIGTERM, a lost head). Opening it first
 * removes the directories whose owner is gone (a daemon or run killed
 * with -9: store_sweep_stale). NULL with e set. */
struct store;
struct store *daemon_store_open(const char *spill_dir, uint64_t cap, verr *e);
/* A node that joins again as a new node: closes *st (its spill directory
 * removed) and opens a fresh one in its place. -1 with e set (then *st is
 * NULL). */
int daemon_store_renew(struct store **st, const char *spill_dir, uint64_t cap, verr *e);

#endif
