/* mod_proc.c - the `proc` module: run a program and capture its output
 * (posix_spawn with pipes, both read through poll so neither can fill up
 * and deadlock the child). The child leads a process group of its own:
 * a @timeout or an interrupted run kills the group. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stdlib_impl.h"

extern char **environ;

typedef struct proc_result {
	int code;       /* exit status, or -signal as Python reports it */
	sbuf out, err;
} proc_result;

/* Ends the child's process group: TERM, then KILL if it lingers. */
static void kill_group(pid_t pid)
{
	kill(-pid, SIGTERM);
	for (int i = 0; i < 50; i++) { /* up to 0.5 s to go quietly */
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			kill(-pid, SIGKILL); /* its own children too */
			return;
		}
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Runs argv (NULL-terminated) with stdin from /dev/null, in a process
 * group of its own, so a @timeout or an interrupted run (sl_cancelled)
 * ends it and everything it started. On failure to start, raises naming
 * the program. */
static int run(flow_vm *vm, const char *fn, char *const *argv, proc_result *res)
{
	int po[2], pe[2];
	sbuf_init(&res->out);
	sbuf_init(&res->err);
	if (pipe2(po, O_CLOEXEC) < 0)
		return vm_raise(vm, "%s: pipe: %s", fn, strerror(errno));
	if (pipe2(pe, O_CLOEXEC) < 0) {
		int en = errno;
		close(po[0]);
		close(po[1]);
		return vm_raise(vm, "%s: pipe: %s", fn, strerror(en));
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                         POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);
	if (rc != 0) {
		close(po[0]);
		close(pe[0]);
		return vm_raise(vm, "%s: cannot run '%s': %s", fn, argv[0], strerror(rc));
	}
	struct pollfd pf[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
	sbuf *dst[2] = { &res->out, &res->err };
	int open_fds = 2;
	const char *why = NULL; /* why the child was stopped */
	while (open_fds > 0 && !why) {
		if (sl_cancelled(vm)) {
			why = "cancelled";
			break;
		}
		int pr = poll(pf, 2, 20); /* in slices: a cancel is seen within 20 ms */
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2 && pr > 0; i++) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			sbuf_reserve(dst[i], 65536);
			ssize_t n = read(pf[i].fd, dst[i]->data + dst[i]->len, 65536);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open_fds--;
			} else {
				dst[i]->len += (size_t)n;
				if (dst[i]->len > stdlib_max_read)
					why = "over the read cap";
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (pf[i].fd >= 0)
			close(pf[i].fd);
	if (why) {
		kill_group(pid);
		sbuf_fini(&res->out);
		sbuf_fini(&res->err);
		if (why[0] == 'c')
			return vm_raise(vm, "interrupted (%s: '%s' and its children were killed)", fn, argv[0]);
		return vm_raise(vm, "%s: '%s' wrote more than the read cap of %llu bytes "
		                "(flow run --max-read); it was killed", fn, argv[0],
		                (unsigned long long)stdlib_max_read);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			st = 0;
			break;
		}
	res->code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
	return 0;
}

static void result_fini(proc_result *r)
{
	sbuf_fini(&r->out);
	sbuf_fini(&r->err);
}

static value sbuf_str(const sbuf *b)
{
	return sl_str_lossy(b->data ? b->data : "", b->len);
}

static int p_run(flow_vm *vm, value *argv, int argc, value *out)
{
	value a = argv[0];
	if (a.t != V_LIST || list_len(a) == 0)
		return vm_raise(vm, "proc.run: argv must be a non-empty list of str");
	size_t n = list_len(a);
	char **args = calloc(n + 1, sizeof *args);
	if (!args)
		abort();
	for (size_t i = 0; i < n; i++) {
		value x = list_get(a, i);
		if (x.t != V_STR || strlen(str_data(x)) != str_len(x)) {
			free(args);
			return vm_raise(vm, "proc.run: argv[%zu] must be a str without NUL bytes", i);
		}
		args[i] = (char *)str_data(x);
	}
	proc_result r;
	int rc = run(vm, "proc.run", args, &r);
	free(args);
	if (rc < 0)
		return -1;
	value d = dict_new(3);
	verr e;
	value k = str_from_c("code"), v = v_int(r.code);
	dict_set(d, k, v, &e);
	val_rele(k);
	k = str_from_c("stdout");
	v = sbuf_str(&r.out);
	dict_set(d, k, v, &e);
	val_rele(k);
	val_rele(v);
	k = str_from_c("stderr");
	v = sbuf_str(&r.err);
	dict_set(d, k, v, &e);
	val_rele(k);
	val_rele(v);
	result_fini(&r);
	*out = d;
	return 0;
}

static int p_sh(flow_vm *vm, value *argv, int argc, value *out)
{
	if (sl_str(vm, argv[0], "proc.sh", "command") < 0)
		return -1;
	if (strlen(str_data(argv[0])) != str_len(argv[0]))
		return vm_raise(vm, "proc.sh: command contains a NUL byte");
	char *args[] = { "/bin/sh", "-c", (char *)str_data(argv[0]), NULL };
	proc_result r;
	if (run(vm, "proc.sh", args, &r) < 0)
		return -1;
	if (r.code != 0) {
		/* The command's own words say most about why it failed. */
		size_t n = r.err.len;
		while (n && (r.err.data[n - 1] == '\n' || r.err.data[n - 1] == '\r'))
			n--;
		if (n > 4000)
			n = 4000; /* keep the message readable */
		value msg = sl_str_lossy(r.err.data ? r.err.data : "", n);
		int rc;
		if (r.code < 0)
			rc = vm_raise(vm, "proc.sh: '%s' was killed by signal %d%s%s", str_data(argv[0]), -r.code,
			              n ? ": " : "", str_data(msg));
		else
			rc = vm_raise(vm, "proc.sh: '%s' exited with status %d%s%s", str_data(argv[0]), r.code,
			              n ? ": " : "", str_data(msg));
		val_rele(msg);
		result_fini(&r);
		return rc;
	}
	*out = sbuf_str(&r.out);
	result_fini(&r);
	return 0;
}

static const native_def fns[] = {
	{ "run", p_run, "argv", NATIVE_EFFECT },
	{ "sh", p_sh, "command", NATIVE_EFFECT },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_proc = { "proc", fns, NULL };
