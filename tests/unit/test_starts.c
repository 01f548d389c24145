/* test_starts.c - start reports (executor/cluster/starts.h): the
 * reporter's answers, refusals, and the calls it reports ahead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "executor/cluster/starts.h"

/* a fake head: records what each STARTED carried, refuses ids in `no`,
 * fails every send while `down` */
static struct {
	uint64_t sent[64][80];
	size_t nsent[64];
	int nsends;
	uint64_t no[8];
	int nno;
	int down;
	int delay_ms;
} H;

static int fake_send(void *arg, const uint64_t *ids, size_t n, uint8_t *refused)
{
	(void)arg;
	if (H.delay_ms) {
		struct timespec ts = {0, H.delay_ms * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (H.down)
		return -1;
	assert_true(H.nsends < 64 && n <= 80);
	for (size_t i = 0; i < n; i++) {
		H.sent[H.nsends][i] = ids[i];
		for (int k = 0; k < H.nno; k++)
			if (ids[i] == H.no[k])
				refused[i] = 1;
	}
	H.nsent[H.nsends++] = n;
	return 0;
}

static void reset(void) { memset(&H, 0, sizeof H); }

/* each call reported is answered: accepted ones may start, a refused one
 * and every one while the head cannot be told must not */
static void test_answers(void **state)
{
	(void)state;
	reset();
	st_reporter *r = st_reporter_new(fake_send, NULL);
	H.no[H.nno++] = 7;
	assert_int_equal(st_report(r, 5), 0);
	assert_int_equal(st_report(r, 7), -1);
	H.down = 1;
	assert_int_equal(st_report(r, 9), -1);
	assert_int_equal(H.nsends, 2);
	st_reporter_free(r);
}

/* calls far apart (each report later than twice a round trip after the
 * last answer) report one by one: none is reported before it starts */
static void test_none_ahead_when_slow(void **state)
{
	(void)state;
	reset();
	H.delay_ms = 1;
	st_reporter *r = st_reporter_new(fake_send, NULL);
	for (uint64_t id = 1; id <= 4; id++)
		st_expect(r, id);
	for (uint64_t id = 1; id <= 4; id++) {
		assert_int_equal(st_report(r, id), 0);
		struct timespec gap = {0, 200 * 1000000L}; /* far more than 2 × 1 ms + 0.1 ms */
		nanosleep(&gap, NULL);
	}
	assert_int_equal(H.nsends, 4);
	for (int k = 0; k < 4; k++) {
		assert_int_equal(H.nsent[k], 1);
		assert_int_equal(H.sent[k][0], (uint64_t)k + 1);
	}
	st_reporter_free(r);
}

/* back to back: reports take calls next in line along, whose own asks
 * then need no message; every call is reported exactly once, in line
 * order, and a refusal of one reported ahead reaches its ask */
static void test_ahead(void **state)
{
	(void)state;
	reset();
	st_reporter *r = st_reporter_new(fake_send, NULL);
	const uint64_t n = 200;
	H.no[H.nno++] = 150;
	for (uint64_t id = 1; id <= n; id++)
		st_expect(r, id);
	for (uint64_t id = 1; id <= n; id++)
		assert_int_equal(st_report(r, id), id == 150 ? -1 : 0);
	uint8_t seen[201] = {0};
	uint64_t last = 0;
	for (int k = 0; k < H.nsends; k++)
		for (size_t i = 0; i < H.nsent[k]; i++) {
			uint64_t id = H.sent[k][i];
			assert_true(id >= 1 && id <= n && !seen[id]);
			assert_true(id > last); /* in line order */
			seen[id] = 1;
			last = id;
		}
	for (uint64_t id = 1; id <= n; id++)
		assert_true(seen[id]);
	assert_true(H.nsends <= (int)n); /* (fewer, when the machine is not too slow) */
	st_reporter_free(r);
}

/* a call taken ahead by the report in flight when its thread asks (so
 * off the line, its answer not back yet) gets that answer, and is not
 * reported a second time (the head refused a second report once) */
struct asker { st_reporter *r; uint64_t id; int rc; };
static void *ask(void *arg)
{
	struct asker *a = arg;
	a->rc = st_report(a->r, a->id);
	return NULL;
}

static void test_ahead_in_flight(void **state)
{
	(void)state;
	reset();
	st_reporter *r = st_reporter_new(fake_send, NULL);
	for (uint64_t id = 1; id <= 10; id++)
		st_expect(r, id);
	/* back to back (each ask far sooner than twice a 20 ms round trip
	 * after the last answer): the window ahead opens (1, 2, 4 ...) */
	H.delay_ms = 20;
	for (uint64_t id = 1; id <= 3; id++)
		assert_int_equal(st_report(r, id), 0);
	int before = H.nsends;
	uint64_t next = 0; /* the first call still on the line */
	for (uint64_t id = 4; id <= 10 && !next; id++) {
		int taken = 0;
		for (int k = 0; k < H.nsends; k++)
			for (size_t i = 0; i < H.nsent[k]; i++)
				taken |= H.sent[k][i] == id;
		if (!taken)
			next = id;
	}
	assert_true(next > 0 && next < 10);
	/* its report goes slowly and takes `next + 1` along; meanwhile the
	 * thread of `next + 1` asks */
	H.delay_ms = 200;
	struct asker a = {r, next, 1}, b = {r, next + 1, 1};
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, ask, &a), 0);
	struct timespec t = {0, 50 * 1000000L};
	nanosleep(&t, NULL);
	assert_int_equal(pthread_create(&tb, NULL, ask, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	int reported = 0;
	for (int k = before; k < H.nsends; k++)
		for (size_t i = 0; i < H.nsent[k]; i++)
			reported += H.sent[k][i] == next + 1;
	assert_true(H.nsent[before] > 1); /* `next + 1` went ahead with `next` */
	assert_int_equal(reported, 1);    /* and only then */
	st_reporter_free(r);
}

/* forgotten (the node joined again): calls reported ahead ask again */
static void test_forget(void **state)
{
	(void)state;
	reset();
	st_reporter *r = st_reporter_new(fake_send, NULL);
	st_expect(r, 1);
	st_forget(r);
	assert_int_equal(st_report(r, 1), 0);
	assert_int_equal(H.nsends, 1);
	assert_int_equal(H.nsent[0], 1);
	st_reporter_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_none_ahead_when_slow),
		cmocka_unit_test(test_ahead),
		cmocka_unit_test(test_ahead_in_flight),
		cmocka_unit_test(test_forget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
