/* watchdog.c - the @timeout watchdog (watchdog.h): one thread per run
 * sleeping until the earliest deadline of the hosts it watches (or until
 * rung: a call set a deadline, the run was interrupted, or it stops), and
 * cancelling them all once the run is interrupted (interrupt.h). It used
 * to wake every 2 ms whether or not anything was timed: ~2% of a profile
 * under --cpus. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "executor/interrupt.h"
#include "executor/mono_clock.h"
#include "executor/watchdog.h"

typedef struct watched {
	const uint64_t *deadline;
	int *cancel;
} watched;

struct watchdog {
	pthread_mutex_t mu;      /* guards hosts, n, cap */
	pthread_t th;
	bool stop;               /* guarded by bell_mu */
	watched *hosts;
	int n, cap;
};

/* The bell, process-wide (a daemon may run several watchdogs): rung when
 * a call sets a deadline, when the run is cancelled and when a watchdog
 * stops; each ring bumps bell_gen, so a watchdog that looked at its hosts
 * after reading bell_gen never sleeps through a ring. */
static pthread_mutex_t bell_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bell_cv;
static uint64_t bell_gen; /* guarded by bell_mu */
static pthread_once_t bell_once = PTHREAD_ONCE_INIT;

static void bell_init(void)
{
	mono_cond_init(&bell_cv); /* deadlines are monotonic */
}

void watchdog_ring(void)
{
	pthread_once(&bell_once, bell_init);
	pthread_mutex_lock(&bell_mu);
	bell_gen++;
	pthread_cond_broadcast(&bell_cv);
	pthread_mutex_unlock(&bell_mu);
}

/* Cancels the hosts whose deadline has passed (all of them once the run
 * is cancelled); the earliest deadline still to come, or 0. */
static uint64_t check(watchdog *wd)
{
	uint64_t t = mono_now_ns(), next = 0;
	bool all = run_cancelled(); /* SIGINT/SIGTERM: every call stops */
	pthread_mutex_lock(&wd->mu);
	for (int j = 0; j < wd->n; j++) {
		uint64_t d = __atomic_load_n(wd->hosts[j].deadline, __ATOMIC_RELAXED);
		if (all || (d && t >= d))
			__atomic_store_n(wd->hosts[j].cancel, 1, __ATOMIC_RELAXED);
		else if (d && (!next || d < next))
			next = d;
	}
	pthread_mutex_unlock(&wd->mu);
	/* cancelled: the hosts made later (a pool's workers) and calls that
	 * clear their flag are looked at again, as the old 2 ms poll did */
	if (all) {
		uint64_t soon = t + 2000000u;
		if (!next || soon < next)
			next = soon;
	}
	return next;
}

static void *watchdog_main(void *arg)
{
	watchdog *wd = arg;
	pthread_mutex_lock(&bell_mu);
	while (!wd->stop) {
		uint64_t seen = bell_gen;
		pthread_mutex_unlock(&bell_mu);
		uint64_t next = check(wd);
		pthread_mutex_lock(&bell_mu);
		if (wd->stop || bell_gen != seen)
			continue;
		if (!next) {
			pthread_cond_wait(&bell_cv, &bell_mu);
			continue;
		}
		struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
		pthread_cond_timedwait(&bell_cv, &bell_mu, &ts);
	}
	pthread_mutex_unlock(&bell_mu);
	return NULL;
}

watchdog *watchdog_start(void)
{
	pthread_once(&bell_once, bell_init);
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
	/* a host made while the run is being cancelled is cancelled too; one
	 * watched with its deadline already set is looked at (the thread may
	 * have checked its hosts before this one and be asleep with none) */
	if (run_cancelled() || __atomic_load_n(deadline, __ATOMIC_RELAXED))
		watchdog_ring();
}

void watchdog_stop(watchdog *wd)
{
	if (!wd)
		return;
	pthread_mutex_lock(&bell_mu);
	wd->stop = true;
	pthread_cond_broadcast(&bell_cv);
	pthread_mutex_unlock(&bell_mu);
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
