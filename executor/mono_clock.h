/* mono_clock.h - CLOCK_MONOTONIC: the time now (in ns, us or ms), and
 * condition variables whose timed waits use it (header only).
 *
 * Deadlines in the executor are CLOCK_MONOTONIC (a wall clock set back
 * must not stretch a wait), and pthread_cond_timedwait measures against
 * the clock its condition variable was made with: CLOCK_REALTIME unless
 * asked. Every condition variable waited on with such a deadline is made
 * by mono_cond_init.
 *
 * Ownership: cv is the caller's; destroy it with pthread_cond_destroy. */
#ifndef FLOW_MONO_CLOCK_H
#define FLOW_MONO_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC now, in ns. */
static inline uint64_t mono_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The same clock in us and in ms (ms signed: callers subtract). */
static inline uint64_t mono_now_us(void) { return mono_now_ns() / 1000u; }
static inline int64_t mono_now_ms(void) { return (int64_t)(mono_now_ns() / 1000000u); }

static inline void mono_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

#endif
