/* interrupt.c - SIGINT/SIGTERM taken by a sigwait thread (interrupt.h). */
#include "executor/interrupt.h"
#include "executor/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>


static int taken;                  /* atomic: the first signal, or 0 */
static int cancel_word;            /* atomic: 1 once taken or stopped */
static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;
static char spill_dir[PATH_MAX];   /* guarded by dir_mu */
static void (*spill_remove)(const char *dir); /* guarded by dir_mu */

static int sig_pipe[2] = {-1, -1};
static const char *exit_msg; /* atomic: interrupt_exit_at_once's, or NULL */

/* The handler only passes the signal on: the thread does the work. */
static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	ssize_t w = write(sig_pipe[1], &b, 1);
	(void)w;
	errno = saved;
}

static void *sig_main(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned char b;
		ssize_t n = read(sig_pipe[0], &b, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			return NULL;
		int sig = b, expect = 0;
		const char *at_once = __atomic_load_n(&exit_msg, __ATOMIC_SEQ_CST);
		/* the watchdog (watchdog.c) turns it into every host's cancel flag:
		 * atomic words the VMs poll, where vm_interrupted is a plain one */
		if (!at_once && __atomic_compare_exchange_n(&taken, &expect, sig, false,
		                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&cancel_word, 1, __ATOMIC_SEQ_CST); /* the driver's VM */
			watchdog_ring(); /* it sleeps until a deadline, or a ring */
			continue;
		}
		/* the second: out at once, leaving no spill directory behind; the
		 * lock waits for a directory or file being made (never released:
		 * whoever waits for it next is ended by _exit) */
		pthread_mutex_lock(&dir_mu);
		if (spill_dir[0] && spill_remove)
			spill_remove(spill_dir);
		static const char again[] = "\nflow: interrupted again: exiting now\n";
		const char *msg = at_once ? at_once : again;
		ssize_t w = write(STDERR_FILENO, msg, strlen(msg));
		(void)w;
		_exit(128 + sig);
	}
}

static bool armed;

bool interrupt_arm(void)
{
	if (armed)
		return true;
	/* a self-pipe, not sigwait: libraries (OpenBLAS) start threads before
	 * main, so no signal mask can be made to cover every thread */
	if (pipe2(sig_pipe, O_CLOEXEC) != 0)
		return false;
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&th, &at, sig_main, NULL);
	pthread_attr_destroy(&at);
	if (rc != 0)
		return false;
	static const int sigs[] = {SIGINT, SIGTERM};
	for (size_t i = 0; i < 2; i++) {
		struct sigaction sa, old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue; /* ignored, as in a shell's background job: stays so */
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
	__atomic_store_n(&armed, true, __ATOMIC_SEQ_CST);
	return true;
}

void interrupt_exit_at_once(const char *msg)
{
	__atomic_store_n(&exit_msg, msg, __ATOMIC_SEQ_CST);
}

bool interrupt_armed(void)
{
	return __atomic_load_n(&armed, __ATOMIC_SEQ_CST);
}

int interrupt_signal(void)
{
	return __atomic_load_n(&taken, __ATOMIC_SEQ_CST);
}

static int stopped; /* atomic: interrupt_stop_run was called */

void interrupt_stop_run(void)
{
	__atomic_store_n(&stopped, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cancel_word, 1, __ATOMIC_SEQ_CST);
	watchdog_ring();
}

int *interrupt_cancel_word(void)
{
	return &cancel_word;
}

bool run_stopped(void)
{
	return __atomic_load_n(&stopped, __ATOMIC_SEQ_CST) != 0;
}

bool run_cancelled(void)
{
	return __atomic_load_n(&taken, __ATOMIC_RELAXED) != 0 ||
	       __atomic_load_n(&stopped, __ATOMIC_RELAXED) != 0;
}

void interrupt_spill_begin(void)
{
	pthread_mutex_lock(&dir_mu);
}

void interrupt_spill_end(void)
{
	pthread_mutex_unlock(&dir_mu);
}

void interrupt_set_spill_dir(const char *dir, void (*remove)(const char *dir))
{
	snprintf(spill_dir, sizeof spill_dir, "%s", dir ? dir : "");
	spill_remove = dir ? remove : NULL;
}

bool interrupt_spill_dir_is(const char *dir)
{
	return dir && spill_dir[0] && strcmp(spill_dir, dir) == 0;
}

static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static char stop_place[PATH_MAX + 32]; /* guarded by stop_mu */

void interrupt_note_driver_stop(const char *place)
{
	pthread_mutex_lock(&stop_mu);
	if (!stop_place[0])
		snprintf(stop_place, sizeof stop_place, "%s", place && place[0] ? place : "?");
	pthread_mutex_unlock(&stop_mu);
}

const char *interrupt_driver_stop(void)
{
	pthread_mutex_lock(&stop_mu);
	const char *p = stop_place[0] ? stop_place : NULL;
	pthread_mutex_unlock(&stop_mu);
	return p;
}
