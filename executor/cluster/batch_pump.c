/* batch_pump.c - the sending side of a hop (batch.h: bt_pump): calls go
 * out in the next RUN_TASKS while the previous one is in flight, and one
 * long wait brings their outcomes back. */
#include "batch_int.h"

#include <pthread.h>
#include <stdlib.h>

struct bt_pump {
	bt_pump_ops ops;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bt_recs q;           /* calls not sent yet */
	size_t outstanding;  /* sent, no outcome yet */
	int waiting;         /* a long wait is in flight */
	int lost, stop;
	pthread_t *threads;
	int nthreads;
};

static void *pump_main(void *arg)
{
	bt_pump *p = arg;
	sbuf frame;
	sbuf_init(&frame);
	wire_caller *k = wire_caller_new(); /* NULL: a context per call */
	pthread_mutex_lock(&p->mu);
	while (!p->stop && !p->lost) {
		int send = p->q.n > 0;
		if (!send && !(p->outstanding > 0 && !p->waiting)) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		/* the one long wait; other requests only submit */
		int longw = !p->waiting;
		uint32_t wait_ms = longw ? BT_WAIT_MS : 0;
		frame.len = 0;
		size_t at = wire_frame_begin(&frame, send ? WM_RUN_TASKS : WM_WAIT_DONE);
		wire_put_u32(&frame, wait_ms);
		uint32_t n = 0;
		if (send) {
			size_t count_at = frame.len;
			wire_put_u32(&frame, 0);
			n = bt_recs_take(&p->q, &frame);
			for (int i = 0; i < 4; i++)
				((uint8_t *)frame.data)[count_at + i] = (uint8_t)(n >> (8 * i));
		}
		wire_frame_end(&frame, at);
		p->outstanding += n;
		p->waiting |= longw;
		pthread_mutex_unlock(&p->mu);

		verr e;
		struct wire_msg rep = {0};
		int in_call = 0, rc = WIRE_EIO;
		wire_client *c = p->ops.link(p->arg, &e);
		if (c) {
			in_call = 1;
			rc = wire_caller_call_raw(k, c, frame.data, frame.len, &rep,
			                          (int)wait_ms + BT_CALL_MS, &e);
			if (rc == WIRE_OK && rep.kind != WM_TASKS_DONE) {
				verr_set(&e, "it answered %s with %s", send ? "RUN_TASKS" : "WAIT_DONE",
				         wire_kind_name(rep.kind));
				wire_msg_free(&rep);
				rc = WIRE_EMALFORMED;
			}
		}
		if (rc != WIRE_OK) {
			pthread_mutex_lock(&p->mu);
			int first = !p->lost;
			p->lost = 1;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->mu);
			if (first)
				p->ops.lost(p->arg, e.msg, in_call);
			pthread_mutex_lock(&p->mu);
			break;
		}
		uint32_t got = rep.u.tasks_done.dones.n;
		if (got)
			p->ops.done(p->arg, rep.u.tasks_done.dones.v, got);
		/* the callee took the contents; the array is still ours */
		free(rep.u.tasks_done.dones.v);
		pthread_mutex_lock(&p->mu);
		p->outstanding -= got < p->outstanding ? got : p->outstanding;
		if (longw)
			p->waiting = 0;
		/* no wake: this thread loops and sends what is queued, or the
		 * next long wait, itself (waking the other one, which would
		 * find nothing to do, cost two context switches per request) */
	}
	pthread_mutex_unlock(&p->mu);
	wire_caller_free(k);
	sbuf_fini(&frame);
	return NULL;
}

bt_pump *bt_pump_start(const bt_pump_ops *ops, void *arg, int threads)
{
	bt_pump *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	p->ops = *ops;
	p->arg = arg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	bt_recs_init(&p->q);
	p->nthreads = bt_threads_start(&p->threads, threads < 2 ? 2 : threads, pump_main, p);
	if (p->nthreads == 0)
		p->lost = 1; /* no thread to send: every add fails */
	return p;
}

int bt_pump_add(bt_pump *p, const void *rec, size_t len)
{
	pthread_mutex_lock(&p->mu);
	int lost = p->lost || p->stop;
	if (!lost) {
		bt_recs_add(&p->q, rec, len, 0);
		if (p->q.n == 1) /* one idle thread is enough to send it */
			pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return lost ? -1 : 0;
}

void bt_pump_stop(bt_pump *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	bt_recs_fini(&p->q);
	free(p->threads);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
