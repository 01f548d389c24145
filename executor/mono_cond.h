/* mono_cond.h - condition variables whose timed waits use CLOCK_MONOTONIC
 * (header only).
 *
 * Deadlines in the executor are CLOCK_MONOTONIC (a wall clock set back
 * must not stretch a wait), and pthread_cond_timedwait measures against
 * the clock its condition variable was made with: CLOCK_REALTIME unless
 * asked. Every condition variable waited on with such a deadline is made
 * here.
 *
 * Ownership: cv is the caller's; destroy it with pthread_cond_destroy. */
#ifndef FLOW_MONO_COND_H
#define FLOW_MONO_COND_H

#include <pthread.h>
#include <time.h>

static inline void mono_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

#endif
