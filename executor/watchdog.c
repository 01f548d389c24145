/* watchdog.c - the @timeout watchdog (watchdog.h): one thread per run
 * polling the deadlines of the hosts it watches, and cancelling them all
 * once the run is interrupted (interrupt.h). */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "executor/interrupt.h"
#include "executor/watchdog.h"

typedef struct watched {
	const uint64_t *deadline;
	int *cancel;
} watched;

struct watchdog {
	pthread_mutex_t mu;      /* guards hosts, n, cap, stop */
	pthread_t th;
	bool stop;
	watched *hosts;
	int n, cap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *watchdog_main(void *arg)
{
	watchdog *wd = arg;
	pthread_mutex_lock(&wd->mu);
	while (!wd->stop) {
		uint64_t t = now_ns();
		bool all = run_cancelled(); /* SIGINT/SIGTERM: every call stops */
		for (int j = 0; j < wd->n; j++) {
			uint64_t d = __atomic_load_n(wd->hosts[j].deadline, __ATOMIC_RELAXED);
			if (all || (d && t >= d))
				__atomic_store_n(wd->hosts[j].cancel, 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&wd->mu);
		struct timespec ts = { 0, 2000000 }; /* 2 ms */
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&wd->mu);
	}
	pthread_mutex_unlock(&wd->mu);
	return NULL;
}

watchdog *watchdog_start(void)
{
	watchdog *wd = calloc(1, sizeof *wd);
	if (!wd)
		abort();
	pthread_mutex_init(&wd->mu, NULL);
	if (pthread_create(&wd->th, NULL, watchdog_main, wd) != 0) {
		pthread_mutex_destroy(&wd->mu);
		free(wd);
		return NULL;
	}
	return wd;
}

void watchdog_watch(watchdog *wd, const uint64_t *deadline, int *cancel)
{
	if (!wd)
		return;
	pthread_mutex_lock(&wd->mu);
	if (wd->n == wd->cap) {
		wd->cap = wd->cap ? wd->cap * 2 : 16;
		watched *p = realloc(wd->hosts, sizeof *p * (size_t)wd->cap);
		if (!p)
			abort();
		wd->hosts = p;
	}
	wd->hosts[wd->n++] = (watched){ deadline, cancel };
	pthread_mutex_unlock(&wd->mu);
}

void watchdog_stop(watchdog *wd)
{
	if (!wd)
		return;
	pthread_mutex_lock(&wd->mu);
	wd->stop = true;
	pthread_mutex_unlock(&wd->mu);
	pthread_join(wd->th, NULL);
	pthread_mutex_destroy(&wd->mu);
	free(wd->hosts);
	free(wd);
}

bool watchdog_needed(const bc_program *p)
{
	if (interrupt_armed()) /* it also cancels an interrupted run */
		return true;
	for (int j = 0; j < p->nprotos; j++)
		if (p->protos[j]->kind == PROTO_TASK && p->protos[j]->attrs.timeout > 0)
			return true;
	return false;
}
