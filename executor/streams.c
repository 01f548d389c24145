/* streams.c - calls of tasks that yield (LANGUAGE.md section 5): the
 * producer run as a generator, one step at a time, by whichever thread
 * asks for an item (see below). task_run.c makes a stream when a call's
 * task yields (task_stream_new) and ends a call's streams when the call
 * ends (task_streams_end).
 *
 * Ownership: a stream's state (gen_state) belongs to its vstream, which
 * frees it with gen_free; while the call that made it runs, it is also
 * listed in task_host.streams, holding the handle. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "executor/mono_clock.h"
#include "executor/task_run_int.h"
#include "executor/watchdog.h"

/* ---- streams (LANGUAGE.md section 5) -----------------------------------------
 * A call of a task that yields returns a stream at once. Its producer runs
 * as a generator (vm_gen_*) in a VM of its own, one step (to its next
 * yield) at a time, in whichever thread asks for an item it does not have
 * yet, under the stream's lock: each item is there as soon as the task has
 * yielded it, the consumer blocks only while the producer computes the
 * next one, and a producer that waits for its consumer's progress (an
 * actor both use) cannot deadlock. The items stay: get(s) gives them all.
 * A step runs as an inline call would (identities, nested jobs, @timeout,
 * its prints under the task's name); a failed attempt is retried with
 * @retries, replaying the items already delivered (a retry repeats the
 * same random stream). When the call that made the stream ends, a stream
 * nobody iterated runs to its end (every call runs) and one a consumer
 * left early (break) is cancelled. */

enum { GS_RUNNING, GS_DONE, GS_FAILED };

typedef struct gen_state {
	pthread_mutex_t mu;      /* error-checking: a producer that needs its own stream fails */
	const bc_proto *task;
	const bc_program *prog;
	value *args;             /* resolved and frozen; released when it ends */
	int nargs;
	uint64_t ident;          /* the call's identity */
	uint64_t nchild;         /* calls this attempt made so far (their identities) */
	span where;              /* the call in its caller */
	flow_vm *vm;             /* the producer stopped at a yield, or NULL */
	int state;               /* GS_* */
	value items;             /* every item yielded, in order (a list) */
	size_t nyield;           /* items this attempt yielded */
	int attempts;
	uint64_t spent;          /* ns this attempt has run (@timeout) */
	bool iterated;           /* a consumer asked for an item */
	bool from_driver;        /* made by the staged driver (--trace, --dot-out) */
	uint64_t first;          /* when its first step began (0: not yet) */
	value fail;              /* GS_FAILED: the failed call's future */
	struct gen_state *next;  /* the creating call's streams (task_host.streams) */
	value handle;            /* while listed there: the stream (held) */
} gen_state;

static void gen_release_args(gen_state *st)
{
	for (int j = 0; j < st->nargs; j++)
		val_rele(st->args[j]);
	free(st->args);
	st->args = NULL;
	st->nargs = 0;
}

static void gen_free(void *p)
{
	gen_state *st = p;
	vm_free(st->vm);
	gen_release_args(st);
	val_rele(st->items);
	val_rele(st->fail);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

/* st has ended (done, failed or cancelled): --trace and --dot-out see it. */
static void gen_ended(task_host *sh, gen_state *st, bool failed)
{
	if (sh->call_ran && st->first)
		sh->call_ran(sh->call_ran_ctx, st->task, st->where, sh->tid, st->first, st->from_driver,
		             true, failed);
}

/* Runs st's producer to its next yield in sh (st->mu held). Returns 1
 * when it yielded a new item, 0 when it has ended (done or failed). */
static int gen_step(task_host *sh, gen_state *st)
{
	const bc_proto *task = st->task;
	while (st->state == GS_RUNNING) {
		uint64_t outer = __atomic_load_n(&sh->deadline, __ATOMIC_RELAXED), mine = 0, t0 = mono_now_ns();
		if (!st->first)
			st->first = t0;
		if (task->attrs.timeout > 0) {
			uint64_t lim = (uint64_t)(task->attrs.timeout * 1e9);
			mine = t0 + (lim > st->spent ? lim - st->spent : 0);
			if (!outer || mine < outer) {
				__atomic_store_n(&sh->deadline, mine, __ATOMIC_RELAXED);
				watchdog_ring(); /* it may sleep until a later one */
			}
		}
		sh->ident[sh->depth] = st->ident;
		sh->nchild[sh->depth] = st->nchild;
		sh->kids[sh->depth] = NULL;
		sh->depth++;
		value item = v_none();
		int rc;
		if (!st->vm) {
			vm_context c;
			memset(&c, 0, sizeof c);
			c.host = &task_host_ops;
			c.host_data = sh;
			c.task_name = task->name;
			c.cancel = &sh->cancel;
			c.node = sh->node;
			rng_seed(&c.rng, rng_mix(sh->seed, st->ident));
			st->vm = vm_new(st->prog, &c);
			st->attempts++;
			rc = vm_gen_start(st->vm, task, st->args, st->nargs, &item);
		} else {
			/* this thread's host runs the step (another thread's may
			 * have run the last one) */
			vm_context *c = vm_ctx(st->vm);
			c->host_data = sh;
			c->cancel = &sh->cancel;
			c->node = sh->node;
			rc = vm_gen_resume(st->vm, &item);
		}
		/* the jobs this step made end before the item is handed out */
		for (nested_job *k = sh->kids[sh->depth - 1]; k; k = k->sibling) {
			if (__atomic_load_n(&k->state, __ATOMIC_ACQUIRE) == NJ_DONE)
				continue;
			if (sh->spawn->await(sh, k, 0, false) < 0) {
				if (rc >= 0) {
					val_rele(item);
					item = v_none();
					rc = vm_raise(st->vm, "interrupted");
				}
				break;
			}
		}
		sh->kids[sh->depth - 1] = NULL;
		if (rc == 1 && sh->nchild[sh->depth - 1] > 0) {
			value r;
			if (vm_get_deep(st->vm, item, &r) == 0) {
				val_rele(item);
				item = r;
			} else {
				val_rele(item);
				item = v_none();
				rc = -1;
			}
		}
		st->nchild = sh->nchild[sh->depth - 1];
		sh->depth--;
		if (rc >= 0 && sh->dep_vm == st->vm)
			sh->dep_vm = NULL; /* a failed get it caught itself */
		st->spent += mono_now_ns() - t0;
		bool timed_out = false;
		if (mine) {
			__atomic_store_n(&sh->deadline, outer, __ATOMIC_RELAXED);
			if (__atomic_load_n(&sh->cancel, __ATOMIC_RELAXED) && mono_now_ns() >= mine) {
				__atomic_store_n(&sh->cancel, 0, __ATOMIC_RELAXED);
				timed_out = rc < 0;
			}
		}
		if (rc == 1) {
			val_freeze(item);
			if (st->nyield++ < list_len(st->items)) {
				val_rele(item); /* a retry replays what was delivered */
				continue;
			}
			list_append_take(st->items, item);
			return 1;
		}
		if (rc == 0) {
			vm_free(st->vm);
			st->vm = NULL;
			st->state = GS_DONE;
			gen_release_args(st);
			gen_ended(sh, st, false);
			return 0;
		}
		/* the attempt failed */
		char *err = NULL;
		const char *dep = NULL;
		if (sh->dep_vm == st->vm) {
			dep = sh->dep_name;
			err = sh->dep_place;
			sh->dep_place = NULL;
			sh->dep_vm = NULL;
		} else {
			free(sh->fail_msg);
			sh->fail_msg = strdup(vm_error_message(st->vm));
			sh->fail_kind = ERR_TASK;
			char suffix[256];
			snprintf(suffix, sizeof suffix, " (in task '%s')", task->name);
			err = task_render_error(st->vm, suffix);
		}
		if (timed_out) {
			free(err);
			if (asprintf(&err, "task '%s' timed out after %g s (@timeout)", task->name,
			             task->attrs.timeout) < 0)
				abort();
			dep = NULL;
			free(sh->fail_msg);
			sh->fail_msg = strdup(err);
			sh->fail_kind = ERR_TIMEOUT;
		}
		vm_free(st->vm);
		st->vm = NULL;
		st->nyield = 0;
		st->spent = 0;
		st->nchild = 0;
		if (!dep && st->attempts <= task->attrs.retries) {
			free(err);
			sh->nretries++;
			continue;
		}
		st->fail = task_outcome_future(sh, "task", task->name, -1, st->attempts, v_none(), err, dep,
		                          dep ? NULL : task_span_text(st->prog, st->where));
		st->state = GS_FAILED;
		gen_release_args(st);
		gen_ended(sh, st, true);
	}
	return 0;
}

/* Locks st for this thread; false (with an error raised in vm) when this
 * thread is running its producer already: it waits for its own stream. */
static bool gen_lock(flow_vm *vm, gen_state *st)
{
	if (pthread_mutex_lock(&st->mu) == 0)
		return true;
	vm_raise(vm, "the producer of a stream of '%s' waits for that stream itself", st->task->name);
	return false;
}

/* A stream's failure, raised in vm as a get of the failed call would. */
static int gen_raise(flow_vm *vm, gen_state *st)
{
	value f = val_hold(st->fail);
	pthread_mutex_unlock(&st->mu);
	value dummy = v_none();
	int rc = task_get(vm, f, &dummy);
	val_rele(dummy);
	val_rele(f);
	return rc ? -1 : vm_raise(vm, "the stream's producer failed");
}

/* Stream s's state, locked, for a consumer in vm (which steps its
 * producer at vm's depth); NULL with the error raised in vm. */
static gen_state *stream_enter(flow_vm *vm, value s)
{
	gen_state *st = ((vstream *)s.as.o)->state;
	task_host *sh = host_of(vm);
	if (sh->base_level + sh->depth >= TASK_MAX_NESTING) {
		vm_raise(vm, "tasks nested more than %d deep", TASK_MAX_NESTING);
		return NULL;
	}
	return gen_lock(vm, st) ? st : NULL;
}

int task_stream_next(flow_vm *vm, value s, int64_t index, value *out)
{
	gen_state *st = stream_enter(vm, s);
	if (!st)
		return -1;
	task_host *sh = host_of(vm);
	st->iterated = true;
	while (index >= 0 && (size_t)index >= list_len(st->items) && gen_step(sh, st))
		;
	if (index >= 0 && (size_t)index < list_len(st->items)) {
		*out = val_hold(list_get(st->items, (size_t)index));
		pthread_mutex_unlock(&st->mu);
		return 1;
	}
	if (st->state == GS_FAILED)
		return gen_raise(vm, st);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

/* get(s): every item, once the producer has ended. */
int task_stream_get(flow_vm *vm, value s, value *out)
{
	gen_state *st = stream_enter(vm, s);
	if (!st)
		return -1;
	task_host *sh = host_of(vm);
	while (gen_step(sh, st))
		;
	if (st->state == GS_FAILED)
		return gen_raise(vm, st);
	val_freeze(st->items); /* complete: shared from now on */
	*out = val_hold(st->items);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

/* A new stream for a call of task (a: resolved, frozen arguments,
 * consumed), listed with the calls sh's running call made. */
value task_stream_new(flow_vm *vm, task_host *sh, const bc_proto *task, value *a, int nargs)
{
	gen_state *st = calloc(1, sizeof *st);
	if (!st)
		abort();
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&st->mu, &at);
	pthread_mutexattr_destroy(&at);
	st->task = task;
	st->prog = vm_program(vm);
	st->nargs = nargs;
	st->args = malloc(sizeof(value) * (size_t)(nargs ? nargs : 1));
	if (!st->args)
		abort();
	memcpy(st->args, a, sizeof(value) * (size_t)nargs);
	st->ident = next_ident(sh);
	st->where = task_place_span(vm);
	st->from_driver = sh->in_cont && sh->depth == 1;
	st->items = list_new(0);
	st->fail = v_none();
	st->handle = v_none();
	value s = vm_stream_new(task->name, st, gen_free);
	if (sh->depth > 0) {
		st->handle = val_hold(s);
		st->next = sh->streams[sh->depth - 1];
		sh->streams[sh->depth - 1] = st;
	} else {
		/* no call to end it (a DAG node): it runs to its end now */
		pthread_mutex_lock(&st->mu);
		while (gen_step(sh, st))
			;
		pthread_mutex_unlock(&st->mu);
	}
	return s;
}

/* The call at depth index d ends: its streams run to their end, or are
 * cancelled when a consumer left them early. */
void task_streams_end(task_host *sh, int d)
{
	gen_state *st = sh->streams[d];
	sh->streams[d] = NULL;
	while (st) {
		gen_state *next = st->next;
		value h = st->handle;
		st->handle = v_none();
		st->next = NULL;
		if (pthread_mutex_lock(&st->mu) == 0) {
			if (st->iterated && st->state == GS_RUNNING) {
				vm_free(st->vm);
				st->vm = NULL;
				st->state = GS_DONE;
				gen_release_args(st);
				gen_ended(sh, st, false);
			}
			while (gen_step(sh, st))
				;
			pthread_mutex_unlock(&st->mu);
		}
		val_rele(h);
		st = next;
	}
}
