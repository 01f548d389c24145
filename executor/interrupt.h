/* interrupt.h - a clean stop on SIGINT/SIGTERM for `flow run`.
 *
 * interrupt_arm installs a handler for SIGINT and SIGTERM that only
 * writes the signal's number to a pipe (a self-pipe), and starts one
 * thread that reads it: no work is done in the handler. A signal that
 * was ignored when flow started (a shell's background job) stays
 * ignored. The first signal sets interrupt_signal(): the scheduler
 * starts nothing more, and the watchdog (watchdog.c; every run has one
 * once interrupts are armed) sets every host's cancel flag, which the VMs
 * poll at backward jumps and calls and blocking natives check: the run's
 * calls are cancelled as @timeout cancels one; the run then ends through its
 * normal path, so outputs are flushed and closed. A second signal removes
 * the spill directory registered with interrupt_set_spill_dir and exits at
 * once with 128 + the signal.
 *
 * The store creates its directory and the files in it between
 * interrupt_spill_begin and interrupt_spill_end, and registers the
 * directory in between: a second signal that comes meanwhile waits for
 * interrupt_spill_end, so it never misses a directory or a file that is
 * being made.
 *
 * Ownership: process-wide state; the spill directory's name is copied. */
#ifndef FLOW_INTERRUPT_H
#define FLOW_INTERRUPT_H

#include <stdbool.h>

/* Installs the handlers and starts the thread; false if it cannot (then
 * the default actions stay). */
bool interrupt_arm(void);
/* From now on the first signal ends the process at once, as a second one
 * does: the registered spill directory removed, msg written to stderr,
 * exit 128 + the signal (a cluster client: closing its connection is how
 * the head learns, and nothing here has to finish). After interrupt_arm. */
void interrupt_exit_at_once(const char *msg);
/* Was interrupt_arm called (does every run need a watchdog)? */
bool interrupt_armed(void);
/* The first signal taken (SIGINT, SIGTERM), or 0. */
int interrupt_signal(void);
/* Holds off a second signal's removal while a spill directory or a file
 * in it is made (a mutex: no nesting; never held across blocking work). */
void interrupt_spill_begin(void);
void interrupt_spill_end(void);
/* Called between interrupt_spill_begin and _end: the directory a second
 * signal removes with remove(dir) before exiting (dir NULL: none). */
void interrupt_set_spill_dir(const char *dir, void (*remove)(const char *dir));
/* The registered directory is dir (compared by name)? Between begin and
 * end. */
bool interrupt_spill_dir_is(const char *dir);
/* Is the run being cancelled (a signal taken, or interrupt_stop_run)?
 * Cheap; any thread. */
bool run_cancelled(void);
/* Stops the run as a first signal would, for a reason that is not a
 * signal and that the caller has already reported (the cluster's head was
 * lost): nothing more starts, running calls are cancelled, no further
 * failure is printed; interrupt_signal() stays 0. */
void interrupt_stop_run(void);
/* Was interrupt_stop_run called? */
bool run_stopped(void);
/* A word that becomes 1 once the run is cancelled (run_cancelled), for
 * the cancel flag of a VM no watchdog watches: the driver's (task_host_vm),
 * whose loops would otherwise run on after a signal. Never cleared. */
int *interrupt_cancel_word(void);

/* The staged driver was stopped by the cancel at place ("file:line:col",
 * copied; the first one kept), for the interrupt's summary (cli/cmd_run.c),
 * which would otherwise count only the DAG's tasks: "0 of 0 tasks ran"
 * for a driver loop. interrupt_driver_stop: that place, or NULL. */
void interrupt_note_driver_stop(const char *place);
const char *interrupt_driver_stop(void);

#endif
