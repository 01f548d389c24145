/* daemon.c - background start, pid files and `flow stop` (daemon.h). */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor/mono_clock.h"
#include "executor/store.h"

static int flow_dir(const char *sub, char *buf, size_t n, verr *e)
{
	const char *home = getenv("HOME");
	if (!home || !*home) {
		verr_set(e, "HOME is not set");
		return -1;
	}
	char top[400];
	snprintf(top, sizeof top, "%s/.flow", home);
	if (mkdir(top, 0700) != 0 && errno != EEXIST) {
		verr_set(e, "cannot create %s: %s", top, strerror(errno));
		return -1;
	}
	if (snprintf(buf, n, "%s/%s", top, sub) >= (int)n) {
		verr_set(e, "path too long");
		return -1;
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
		verr_set(e, "cannot create %s: %s", buf, strerror(errno));
		return -1;
	}
	return 0;
}

int daemon_start(const char *role, int *ready_fd, char *log_path, size_t n)
{
	verr e;
	char dir[450];
	if (flow_dir("logs", dir, sizeof dir, &e) != 0) {
		fprintf(stderr, "flow start: %s\n", e.msg);
		return 1;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		fprintf(stderr, "flow start: pipe: %s\n", strerror(errno));
		return 1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "flow start: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(fds[0]);
		setsid();
		snprintf(log_path, n, "%s/%s-%d.log", dir, role, (int)getpid());
		int nul = open("/dev/null", O_RDONLY);
		int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (nul >= 0) {
			dup2(nul, 0);
			close(nul);
		}
		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
			close(log);
		}
		*ready_fd = fds[1];
		return -1;
	}
	close(fds[1]);
	/* the child's text: 'o' or 'e', then the message, then EOF */
	char buf[4096];
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fds[0], buf + got, sizeof buf - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof buf - 1)
			break;
	}
	close(fds[0]);
	buf[got] = 0;
	if (got > 0 && buf[0] == 'o') {
		fputs(buf + 1, stdout);
		printf("Running in the background (pid %d); log: %s/%s-%d.log\n", (int)pid, dir, role, (int)pid);
		return 0;
	}
	if (got > 0)
		fprintf(stderr, "flow start: %s\n", buf + 1);
	else
		fprintf(stderr, "flow start: the %s daemon exited before it was ready; see %s/%s-%d.log\n",
		        role, dir, role, (int)pid);
	return 1;
}

void daemon_ready(int *ready_fd, int ok, const char *text)
{
	if (*ready_fd < 0)
		return;
	char c = ok ? 'o' : 'e';
	ssize_t w = write(*ready_fd, &c, 1);
	size_t len = strlen(text);
	while (w >= 0 && len) {
		w = write(*ready_fd, text, len);
		if (w > 0) {
			text += w;
			len -= (size_t)w;
		}
	}
	close(*ready_fd);
	*ready_fd = -1;
}

int daemon_pidfile_write(const char *role, char *path, size_t n, verr *e)
{
	char dir[450];
	if (flow_dir("run", dir, sizeof dir, e) != 0)
		return -1;
	snprintf(path, n, "%s/%s-%d.pid", dir, role, (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%d %s\n", (int)getpid(), role) < 0 || fclose(f) != 0) {
		verr_set(e, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

void daemon_pidfile_remove(const char *path)
{
	if (path && *path)
		unlink(path);
}

/* Alive and not a zombie (a --block daemon's parent may not have reaped it). */
static int running(pid_t pid)
{
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return kill(pid, 0) == 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

/* The pid is a flow process (not a reused pid of something else). */
static int is_flow(pid_t pid)
{
	char p[64], cmd[4096];
	snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	size_t n = fread(cmd, 1, sizeof cmd - 1, f);
	fclose(f);
	cmd[n] = 0;
	const char *base = strrchr(cmd, '/');
	base = base ? base + 1 : cmd;
	return strncmp(base, "flow", 4) == 0;
}

int daemon_stop_all(int timeout_ms, verr *e)
{
	char dir[450];
	if (flow_dir("run", dir, sizeof dir, e) != 0)
		return -1;
	DIR *d = opendir(dir);
	if (!d) {
		verr_set(e, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	struct { pid_t pid; char role[32]; char path[700]; } ds[64];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 64) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".pid") != 0)
			continue;
		snprintf(ds[n].path, sizeof ds[n].path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(ds[n].path, "r");
		int pid = 0;
		ds[n].role[0] = 0;
		if (f) {
			if (fscanf(f, "%d %31s", &pid, ds[n].role) < 1)
				pid = 0;
			fclose(f);
		}
		if (pid <= 0 || !running(pid) || !is_flow(pid)) {
			unlink(ds[n].path); /* stale: its daemon is gone */
			continue;
		}
		ds[n].pid = pid;
		kill(pid, SIGTERM);
		n++;
	}
	closedir(d);
	int64_t end = mono_now_ms() + timeout_ms;
	for (int i = 0; i < n; i++) {
		while (running(ds[i].pid) && mono_now_ms() < end)
			usleep(20 * 1000);
		if (running(ds[i].pid)) {
			kill(ds[i].pid, SIGKILL);
			printf("flow stop: the %s (pid %d) did not stop within %d s; killed it\n", ds[i].role,
			       (int)ds[i].pid, timeout_ms / 1000);
			unlink(ds[i].path);
		} else {
			printf("flow stop: stopped the %s (pid %d)\n", ds[i].role, (int)ds[i].pid);
		}
	}
	return n;
}

struct store *daemon_store_open(const char *spill_dir, uint64_t cap, verr *e)
{
	store_opts so = {.memory_cap = cap, .spill_dir = spill_dir && *spill_dir ? spill_dir : NULL};
	char *err = NULL;
	store *st = store_open(&so, &err);
	if (!st) {
		verr_set(e, "%s", err ? err : "cannot open the object store");
		free(err);
	}
	return st;
}

int daemon_store_renew(struct store **st, const char *spill_dir, uint64_t cap, verr *e)
{
	if (*st)
		store_close(*st);
	*st = daemon_store_open(spill_dir, cap, e);
	return *st ? 0 : -1;
}
