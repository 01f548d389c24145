/* task_remote.c - a DAG node's task call run by the cluster
 * (task_run.h: task_remote, `flow run --address`): sent and awaited
 * (task_call_remote, from call_task_run), or sent without a thread waiting
 * (task_remote_args/settle/again, for remote_async.c); its output printed
 * after its node's name, its failure reported as an inline one would be,
 * and a call lost with its node sent again when that is safe. Nothing
 * here holds state: the host (task_host) and the cluster's client do. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/effects.h"
#include "executor/run_obs.h"
#include "executor/task_run_int.h"

/* Prints what a remote task printed, each line after its node's name
 * (or the node named in the line: TASK_OUTPUT_NODE). */
void task_print_remote_to(FILE *err, const char *node, const char *text)
{
	flockfile(err);
	while (*text) {
		size_t n = strcspn(text, "\n");
		const char *at = node ? node : "remote", *line = text;
		size_t atn = strlen(at), ln = n;
		const char *end;
		if (text[0] == TASK_OUTPUT_NODE && (end = memchr(text + 1, TASK_OUTPUT_NODE, n - 1)) != NULL) {
			at = text + 1;
			atn = (size_t)(end - at);
			line = end + 1;
			ln = n - (size_t)(line - text);
		}
		if (text[0] != TASK_OUTPUT_TRACE)
			fprintf(err, "[%.*s] %.*s\n", (int)atn, at, (int)ln, line);
		text += n + (text[n] == '\n');
	}
	funlockfile(err);
}

void task_print_remote(task_host *sh, const char *node, const char *text)
{
	task_print_remote_to(sh->err, node, text);
}

/* A trace line's fields (TASK_OUTPUT_TRACE); false if it is not one. */
typedef struct trace_line {
	int fn, file, line, col, failed;
	unsigned thread;
	unsigned long long start, end;
	const char *node; /* up to the line's end */
	size_t nnode;
} trace_line;

static bool trace_parse(const char *text, size_t n, trace_line *t)
{
	char buf[160];
	const char *end;
	if (n < 3 || text[0] != TASK_OUTPUT_TRACE ||
	    !(end = memchr(text + 1, TASK_OUTPUT_TRACE, n - 1)) || (size_t)(end - text) >= sizeof buf)
		return false;
	memcpy(buf, text + 1, (size_t)(end - text - 1));
	buf[end - text - 1] = '\0';
	if (sscanf(buf, "%d %d %d %d %u %llu %llu %d", &t->fn, &t->file, &t->line, &t->col,
	           &t->thread, &t->start, &t->end, &t->failed) != 8)
		return false;
	t->node = end + 1;
	t->nnode = n - (size_t)(end + 1 - text);
	return true;
}

void task_output_trace(FILE *err, int fn, span where, uint32_t thread, uint64_t start_us,
                       uint64_t end_us, bool failed, const char *node)
{
	fprintf(err, "%c%d %d %d %d %u %llu %llu %d%c%s\n", TASK_OUTPUT_TRACE, fn, where.file,
	        where.line, where.col, thread, (unsigned long long)start_us,
	        (unsigned long long)end_us, failed, TASK_OUTPUT_TRACE, node ? node : "");
}

void task_output_mark(FILE *err, const char *node, const char *text, uint64_t shift_us)
{
	flockfile(err);
	while (*text) {
		size_t n = strcspn(text, "\n");
		trace_line t;
		if (text[0] == TASK_OUTPUT_TRACE) {
			if (trace_parse(text, n, &t)) /* a deeper spill's: from this call's start */
				fprintf(err, "%c%d %d %d %d %u %llu %llu %d%c%.*s\n", TASK_OUTPUT_TRACE, t.fn,
				        t.file, t.line, t.col, t.thread, t.start + shift_us, t.end + shift_us,
				        t.failed, TASK_OUTPUT_TRACE, (int)t.nnode, t.node);
		} else {
			if (text[0] != TASK_OUTPUT_NODE && node && node[0])
				fprintf(err, "%c%s%c", TASK_OUTPUT_NODE, node, TASK_OUTPUT_NODE);
			fwrite(text, 1, n, err);
			fputc('\n', err);
		}
		text += n + (text[n] == '\n');
	}
	funlockfile(err);
}

void task_output_note_trace(const char *text)
{
	while (text && *text) {
		size_t n = strcspn(text, "\n");
		trace_line t;
		if (trace_parse(text, n, &t)) {
			char node[96];
			snprintf(node, sizeof node, "%.*s", (int)(t.nnode < 95 ? t.nnode : 95), t.node);
			span w = {t.file, t.line, t.col, t.line, t.col};
			obs_remote_nested(node, t.thread, t.fn, w, t.start, t.end, t.failed != 0);
		}
		text += n + (text[n] == '\n');
	}
}

/* The bare message of a remote task's report ("place: error: MSG (in
 * task 'f')\n source..."): MSG, or the whole first line. */
char *task_remote_message(const char *text)
{
	const char *m = strstr(text, "error: ");
	const char *eol = strchr(text, '\n');
	if (!eol)
		eol = text + strlen(text);
	if (m && m < eol)
		m += strlen("error: ");
	else
		m = text;
	/* the last " (in task 'f')" (or method, actor) of the line is where,
	 * not what: e.message is the text before it, as in one process */
	const char *end = eol;
	static const char *const where[] = {" (in task '", " (in method '", " (in actor '"};
	for (size_t w = 0; w < sizeof where / sizeof where[0]; w++)
		for (const char *q = m; (q = strstr(q, where[w])) != NULL && q < eol; q++)
			if (q > end || end == eol)
				end = q;
	return strndup(m, (size_t)(end - m));
}

/* A remote call whose node was lost (attempt `lost`, err the head's
 * reason naming the node): true to send it again (said so on sh->err).
 * A task with effects may have started on the lost node: it is not run
 * again (its effects could happen twice) unless marked @idempotent;
 * *err then says so. */
static bool rerun_lost(task_host *sh, const bc_proto *task, const bc_program *prog, int fn,
                       int lost, char **err)
{
	const char *why = *err ? *err : "its node was lost";
	char *msg = NULL;
	/* rare: the analysis is run only when a node is lost. Its nested
	 * calls ran there with it and run again with it (fate-sharing): each
	 * must be safe to re-run too (effect-free or @idempotent) */
	int *blk = effects_rerun_blockers(prog);
	int b = fn >= 0 && fn < prog->nprotos ? blk[fn] : fn;
	free(blk);
	bool rerun = b < 0;
	if (!rerun && b != fn && b >= 0 && b < prog->nprotos) {
		if (asprintf(&msg, "%s; task '%s' calls '%s', which has effects, and may have started "
		             "there, so it is not run again (mark '%s' @idempotent if running it twice "
		             "is safe)", why, task->name, prog->protos[b]->name,
		             prog->protos[b]->name) < 0)
			abort();
	} else if (!rerun) {
		if (asprintf(&msg, "%s; task '%s' has effects and may have started there, so it is not "
		             "run again (mark it @idempotent if running it twice is safe)", why,
		             task->name) < 0)
			abort();
	} else if (lost > TASK_REMOTE_LOST_RERUNS) {
		if (asprintf(&msg, "%s; task '%s' was sent %d times and each time its node was lost, so "
		             "it is not run again", why, task->name, lost) < 0)
			abort();
		rerun = false;
	}
	if (!rerun) {
		free(*err);
		*err = msg;
		return false;
	}
	flockfile(sh->err);
	fprintf(sh->err, "flow: %s; running task '%s' again (%d of %d)\n", why, task->name, lost,
	        TASK_REMOTE_LOST_RERUNS);
	funlockfile(sh->err);
	return true;
}

/* The failure that made a remote call stop (its node sent it as an error
 * value: a nested call's, a stream's producer's), as a failed future
 * that the call's own names as its cause: what `except e` sees at a get
 * of the call, as in one process. Its task's name is the program's
 * (futures keep a borrowed name). */
static value remote_cause(const bc_program *prog, value ev)
{
	const verror *e = (const verror *)ev.as.o;
	value f = future_new_failed(str_data(e->text));
	vfuture *vf = (vfuture *)f.as.o;
	vf->emsg = strdup(str_data(e->message));
	if (!vf->emsg)
		abort();
	vf->ekind = ERR_TASK;
	for (int k = 0; k <= ERR_NODE_LOST; k++)
		if (!strcmp(str_data(e->kind), vm_error_kind_name(k)))
			vf->ekind = (uint8_t)k;
	vf->host_data = NULL;
	for (int i = 0; e->task.t == V_STR && i < prog->nprotos && !vf->host_data; i++)
		if (!strcmp(prog->protos[i]->name, str_data(e->task)))
			vf->host_data = (void *)prog->protos[i]->name;
	return f;
}

/* The outcome future of a remote call that ended with rc (0, 1,
 * TASK_REMOTE_TIMEOUT or -1 as task_remote.run gives them, or
 * TASK_REMOTE_NODE_LOST; res and err consumed). A failure is reported as
 * an inline one would be, at the call's own place, with its kind. */
static value remote_outcome(task_host *sh, const bc_proto *task, const bc_program *prog,
                            span where, int rc, value res, char *err)
{
	if (rc == 0) {
		free(err);
		task_actors_bind(res, prog); /* handles of the cluster's actors */
		val_freeze(res);
		value f = future_new_done(res);
		val_rele(res);
		return f;
	}
	value cause = res.t == V_ERROR && (rc == 1 || rc == TASK_REMOTE_TIMEOUT) ? remote_cause(prog, res)
	                                                                          : v_none();
	val_rele(res);
	int kind = rc == TASK_REMOTE_TIMEOUT ? ERR_TIMEOUT
	           : rc == TASK_REMOTE_NODE_LOST ? ERR_NODE_LOST : ERR_TASK;
	if (rc == TASK_REMOTE_TIMEOUT)
		rc = 1;
	/* the node's report ends "\n  task 'f' failed[ after N attempts];
	 * it was called from ..." (its own idea of the place): the message
	 * before it is the task's, the place is ours */
	int attempts = 1;
	char *text = err ? err : strdup("the task failed");
	if (rc == 1) {
		char tail[300];
		snprintf(tail, sizeof tail, "\n  task '%s' failed", task->name);
		char *cut = NULL;
		for (char *q = strstr(text, tail); q; q = strstr(q + 1, tail))
			cut = q;
		if (cut) {
			sscanf(cut + strlen(tail), " after %d attempts", &attempts);
			*cut = '\0';
		}
	} else {
		char *t;
		if (asprintf(&t, "error: %s", text) < 0)
			abort();
		free(text);
		text = t;
	}
	/* e.message is the bare message, as inline: the report's first line
	 * is "place: error: MESSAGE (in task 'f')" */
	free(sh->fail_msg);
	sh->fail_msg = task_remote_message(text);
	sh->fail_kind = kind;
	value f = task_fail_future(sh, "task", task->name, attempts, text, task_span_text(prog, where));
	free(text);
	if (cause.t == V_FUTURE) { /* `except e` sees the failure that caused it */
		task_set_cause(f, (const vfuture *)cause.as.o);
		val_rele(cause);
	}
	return f;
}

value task_remote_outcome(task_host *sh, const bc_proto *task, const bc_program *prog, span where,
                          int rc, value res, char *err)
{
	return remote_outcome(sh, task, prog, where, rc, res, err);
}

int task_proto_index(const bc_program *prog, const bc_proto *task)
{
	for (int i = 0; i < prog->nprotos; i++)
		if (prog->protos[i] == task)
			return i;
	return -1;
}

/* Runs a DAG node's task call through sh->remote. Returns 0 with *out
 * (its outcome future), or -1 when it must run here. */
int task_call_remote(task_host *sh, const bc_proto *task, uint64_t call, value *a, int nargs,
                     const bc_program *prog, span where, value *out)
{
	int fn = task_proto_index(prog, task);
	if (fn < 0)
		return -1;
	value args = list_new((size_t)nargs);
	for (int k = 0; k < nargs; k++)
		list_append_take(args, val_hold(a[k]));
	value res = v_none();
	char *err = NULL, *node = NULL, *output = NULL;
	int rc, lost = 0;
	for (;;) {
		rc = sh->remote->run(sh->remote->ctx, (uint32_t)fn, sh->seed, call, args, &res, &err,
		                     &node, &output);
		if (output)
			task_print_remote(sh, node, output);
		if (rc != TASK_REMOTE_LOST || !rerun_lost(sh, task, prog, fn, ++lost, &err))
			break;
		/* the same call again (same ident, same random stream), after a
		 * short pause (the head needs a moment to see the node gone and
		 * place the call on a live one) */
		struct timespec pause = {0, 50 * 1000000L * lost};
		nanosleep(&pause, NULL);
		free(err);
		free(node);
		free(output);
		err = node = output = NULL;
	}
	if (rc == TASK_REMOTE_LOST)
		rc = TASK_REMOTE_NODE_LOST; /* err says why it was not run again */
	val_rele(args);
	free(node);
	free(output);
	if (rc == 2) {
		free(err);
		val_rele(res);
		return -1;
	}
	*out = remote_outcome(sh, task, prog, where, rc, res, err);
	return 0;
}

int task_remote_args(task_host *sh, flow_vm *vm, const dag *g, uint32_t v, uint32_t *fn,
                     uint64_t *ident, value *args)
{
	const dag_node *n = &g->nodes[v];
	if (n->kind != DAG_TASK || !sh->remote)
		return 0;
	const bc_proto *task = g->prog->protos[n->proto];
	int k = task_proto_index(g->prog, task);
	if (k < 0 || bc_proto_yields(task))
		return 0;
	value *ins = g->ins ? &g->ins[n->in] : NULL;
	/* a failed input: task_run_node skips it, and says so */
	for (uint32_t j = 0; j < n->nin; j++)
		if (task_find_failed(ins[j]))
			return 0;
	task_keep_refs(1); /* results left on their nodes travel as references */
	value small[TASK_SMALL_ARGS], *a = task_snapshot_args(vm, ins, (int)n->nin, small);
	task_keep_refs(-1);
	if (!a)
		return 0; /* task_run_node meets the same error */
	value l = list_new(n->nin);
	for (uint32_t j = 0; j < n->nin; j++)
		list_append_take(l, a[j]);
	if (a != small)
		free(a);
	*fn = (uint32_t)k;
	*ident = (uint64_t)v + 1; /* a DAG node's call: its identity (next_ident) */
	*args = l;
	return 1;
}

void task_remote_settle(task_host *sh, const dag *g, uint32_t v, int rc, value res, char *err,
                        char *node, char *output)
{
	const dag_node *n = &g->nodes[v];
	if (output)
		task_print_remote(sh, node, output);
	free(node);
	free(output);
	value f = remote_outcome(sh, g->prog->protos[n->proto], g->prog, n->where, rc, res, err);
	task_settle(g->fut[v], f);
	val_rele(f);
}

bool task_remote_again(task_host *sh, const dag *g, uint32_t v, int lost, char **err)
{
	const bc_proto *task = g->prog->protos[g->nodes[v].proto];
	return rerun_lost(sh, task, g->prog, task_proto_index(g->prog, task), lost, err);
}
