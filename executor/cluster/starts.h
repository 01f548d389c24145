/* starts.h - start reports (docs/wire.md, "Start reports"): a node tells
 * the head which calls it is about to start, and starts none before the
 * head's answer, so that on the node's loss the head knows that a call it
 * never heard of as started did not run, and may send it elsewhere even
 * when it has effects.
 *
 * Only calls whose re-run the client would refuse report (a task with
 * effects, compiler/effects.h's effects_rerun_blockers; every actor
 * method call): an effect-free call is sent again anyway, so it costs no
 * message. Head and node decide alike from the same plan.
 *
 * st_reporter batches (group commit): the calls that threads are about to
 * start while one STARTED is in flight go together in the next one, with
 * a few of the calls next in line when calls are shorter than a round
 * trip to the head (those count as started a little early).
 *
 * Ownership: st_reporter_new's reporter is freed by st_reporter_free once
 * no thread is inside st_report. st_needs_report's cache lives until the
 * process ends (plans are kept while a node runs).
 */
#ifndef FLOW_STARTS_H
#define FLOW_STARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task_exec.h"

/* Whether a call of task fn of plan p reports its start: the task, or a
 * task or fn it calls, has effects and is not marked @idempotent. False
 * for an actor's record (WIRE_FN_ACTOR_* flags: the caller decides). */
bool st_needs_report(const cl_plan *p, uint32_t fn);

/* Sends STARTED for ids[0..n) and waits for the answer: 0 with
 * refused[i] set for each id the head refused, or -1 (none may start:
 * the head could not be told). */
typedef int (*st_send_fn)(void *arg, const uint64_t *ids, size_t n, uint8_t *refused);

typedef struct st_reporter st_reporter;
st_reporter *st_reporter_new(st_send_fn send, void *arg);
void st_reporter_free(st_reporter *r);
/* Call id that reports will be started in this order among those given
 * here (a node's task queue is first in, first out): a report may take
 * the next ones along (starts.c: a window ahead). */
void st_expect(st_reporter *r, uint64_t id);
/* The calls expected and the answers kept go (the node joined again). */
void st_forget(st_reporter *r);
/* Reports call id as starting and waits until the head answered (with
 * the other calls reported meanwhile, and some next in line): 0 when it
 * may start, -1 when it must not (refused, or the head could not be
 * told). A call reported ahead answers at once. */
int st_report(st_reporter *r, uint64_t id);
/* How many answers are kept for calls reported ahead whose threads have
 * not asked yet (at most 4096; tests). */
size_t st_kept(st_reporter *r);

/* ids as STARTED carries them (8 bytes each, little-endian), and back. */
void st_ids_put(const uint64_t *ids, size_t n, uint8_t *out);
uint64_t st_id_at(const uint8_t *blob, size_t i);

#endif
