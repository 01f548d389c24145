/* watchdog.h - @timeout: a thread that cancels a running call when its
 * deadline passes (LANGUAGE.md section 4).
 *
 * Each watched host publishes the earliest deadline of the calls it runs
 * (CLOCK_MONOTONIC ns, 0 = none) and a cancel flag that its VMs poll at
 * backward jumps and calls; the watchdog reads the one and sets the other
 * when it passes. It sleeps until the earliest deadline, or until rung
 * (watchdog_ring): whoever sets a deadline rings, so a watchdog with
 * nothing to watch never wakes. Both words are accessed atomically
 * (relaxed: the ring's lock orders the deadline before the watchdog's
 * next look).
 *
 * Ownership: one watchdog per run (a daemon running several runs has
 * several). The watched words belong to their hosts, which must outlive
 * the watchdog: stop it before freeing them. */
#ifndef FLOW_WATCHDOG_H
#define FLOW_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

#include "lang/bytecode.h"

typedef struct watchdog watchdog;

/* Starts a watchdog thread; NULL if it cannot (then @timeout is not
 * enforced, as before a watchdog existed). */
watchdog *watchdog_start(void);
/* Watches one host's deadline and cancel flag (wd may be NULL: no-op). */
void watchdog_watch(watchdog *wd, const uint64_t *deadline, int *cancel);
/* Wakes every watchdog to look again: call after setting a deadline
 * (earlier than the one it may be sleeping until) and once the run is
 * cancelled (interrupt.c). Any thread; not from a signal handler. */
void watchdog_ring(void);
/* Stops the thread and frees wd (NULL: no-op). */
void watchdog_stop(watchdog *wd);

/* Is a watchdog needed: does any task of p have @timeout, or are
 * interrupts armed (interrupt.h: the watchdog cancels an interrupted run)? */
bool watchdog_needed(const bc_program *p);

#endif
