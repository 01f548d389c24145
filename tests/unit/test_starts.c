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

/* a call taken ahead by a report in flight whose thread asks meanwhile,
 * with another thread asking too: the report's answer goes to that
 * thread, which another report then does not take along (it reported the
 * call a second time and left the first answer kept, until evicted).
 * Whichever thread gets the lock first once the report is back, the call
 * is reported once and no answer stays kept; rounds, since with the old
 * reporter the second asker won only about half the time. */
static struct {
	int delay_ms[4]; /* per send, then none */
	int nsends;
	int sent3;       /* reports that carried call 3 */
	size_t ahead;    /* calls the second send took along */
} R;

static int round_send(void *arg, const uint64_t *ids, size_t n, uint8_t *refused)
{
	(void)arg;
	(void)refused;
	int k = __atomic_fetch_add(&R.nsends, 1, __ATOMIC_SEQ_CST);
	if (k < 4 && R.delay_ms[k]) {
		struct timespec ts = {0, R.delay_ms[k] * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (k == 1)
		R.ahead = n - 1;
	for (size_t i = 0; i < n; i++)
		if (ids[i] == 3)
			__atomic_fetch_add(&R.sent3, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void test_ahead_answer_to_waiter(void **state)
{
	(void)state;
	for (int round = 0; round < 8; round++) {
		memset(&R, 0, sizeof R);
		R.delay_ms[0] = 20;  /* a 20 ms round trip: the next ask is back to back */
		R.delay_ms[1] = 200; /* call 2's report, taking 3 along, goes slowly */
		st_reporter *r = st_reporter_new(round_send, NULL);
		for (uint64_t id = 1; id <= 3; id++)
			st_expect(r, id);
		assert_int_equal(st_report(r, 1), 0);
		struct asker a = {r, 2, 1}, t = {r, 3, 1}, u = {r, 100, 1};
		pthread_t ta, tt, tu;
		assert_int_equal(pthread_create(&ta, NULL, ask, &a), 0);
		struct timespec gap = {0, 50 * 1000000L};
		nanosleep(&gap, NULL);
		/* while it is out: 3's thread and one of a call not expected */
		assert_int_equal(pthread_create(&tt, NULL, ask, &t), 0);
		assert_int_equal(pthread_create(&tu, NULL, ask, &u), 0);
		pthread_join(ta, NULL);
		pthread_join(tt, NULL);
		pthread_join(tu, NULL);
		assert_int_equal(a.rc, 0);
		assert_int_equal(t.rc, 0);
		assert_int_equal(u.rc, 0);
		assert_int_equal(st_kept(r), 0);
		if (R.ahead == 1) /* (a machine so slow that 2's ask came late took none) */
			assert_int_equal(R.sent3, 1);
		st_reporter_free(r);
	}
}

/* many calls reported ahead whose threads never ask (dropped unstarted):
 * at most 4096 answers stay kept, the newest; each of those answers its
 * call without a message (a refusal too), an older one was let go and
 * its call reports again */
static struct {
	uint64_t ahead[16384]; /* the calls taken along, in order */
	size_t nahead;
	uint64_t max;          /* the largest id sent */
	int nsends;
} M;

static int many_send(void *arg, const uint64_t *ids, size_t n, uint8_t *refused)
{
	(void)arg;
	struct timespec ts = {0, 1000000L}; /* a 1 ms round trip */
	nanosleep(&ts, NULL);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && M.nahead < 16384)
			M.ahead[M.nahead++] = ids[i];
		if (ids[i] > M.max)
			M.max = ids[i];
		refused[i] = ids[i] % 7 == 0;
	}
	M.nsends++;
	return 0;
}

static void test_kept_bound(void **state)
{
	(void)state;
	memset(&M, 0, sizeof M);
	st_reporter *r = st_reporter_new(many_send, NULL);
	const uint64_t n = 20000;
	for (uint64_t id = 1; id <= n; id++)
		st_expect(r, id);
	/* each ask is the first call not sent yet: the calls taken along
	 * before it are dropped (their answers stay kept) */
	for (int k = 0; k < 100000 && M.nahead < 6000 && M.max < n; k++) {
		uint64_t id = M.max + 1;
		assert_int_equal(st_report(r, id), id % 7 == 0 ? -1 : 0);
		assert_true(st_kept(r) <= 4096);
	}
	assert_true(M.nahead >= 6000); /* (a window ahead opened) */
	size_t kept = st_kept(r);
	assert_true(kept >= 2048 && kept <= 4096); /* the oldest half went */
	int sends = M.nsends;
	for (size_t i = M.nahead - kept; i < M.nahead; i++) {
		uint64_t id = M.ahead[i];
		assert_int_equal(st_report(r, id), id % 7 == 0 ? -1 : 0);
	}
	assert_int_equal(M.nsends, sends); /* each from its kept answer */
	assert_int_equal(st_kept(r), 0);
	assert_int_equal(st_report(r, M.ahead[M.nahead - kept - 1]), M.ahead[M.nahead - kept - 1] % 7 == 0 ? -1 : 0);
	assert_int_equal(M.nsends, sends + 1); /* let go: reported again */
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
		cmocka_unit_test(test_ahead_answer_to_waiter),
		cmocka_unit_test(test_kept_bound),
		cmocka_unit_test(test_forget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
