/* cache_env.c - the cache's LMDB environment: opened (created), checked
 * for damage LMDB reports or would fault on (a truncated data file), and
 * replaced when damaged; a record put, eviction past the cap, last use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/cache_int.h"

char *cenv_err(const char *what, const char *dir, int rc)
{
	char *s;
	if (asprintf(&s, "%s '%s': %s", what, dir, rc > 0 && rc < MDB_KEYEXIST ? strerror(rc)
	                                                                       : mdb_strerror(rc)) < 0)
		abort();
	return s;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		abort();
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*q = '/';
	}
	int rc = mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

static int env_open(const char *dir, uint64_t mapsize, MDB_env **out, MDB_dbi *dbi)
{
	MDB_env *env;
	int rc = mdb_env_create(&env);
	if (rc)
		return rc;
	rc = mdb_env_set_mapsize(env, mapsize);
	/* NOSYNC: the cache is rebuilt by running again; a process crash
	 * loses nothing (the pages are written), an OS crash may. */
	if (rc == 0)
		rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_NOSYNC | MDB_NORDAHEAD, 0644);
	MDB_txn *txn = NULL;
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, dbi);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	if (rc) {
		mdb_env_close(env);
		return rc;
	}
	*out = env;
	return 0;
}

static uint64_t map_size(uint64_t cap)
{
	uint64_t m = cap + cap / 2;
	return m < (64u << 20) ? (64u << 20) : m;
}

/* Removes the environment's files from dir. */
static void remove_env(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	unlink(path);
}

static bool damaged(int rc)
{
	return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH ||
	       rc == MDB_PANIC || rc == MDB_PAGE_NOTFOUND;
}

/* A data file shorter than its last page (truncated, or emptied beside a
 * lock file that still describes it): LMDB would fault reading past its
 * end (SIGBUS), so this is checked before anything is read. */
static bool truncated(MDB_env *env, const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat st;
	MDB_envinfo info;
	MDB_stat ms;
	if (stat(path, &st) != 0 || mdb_env_info(env, &info) || mdb_env_stat(env, &ms))
		return true;
	return ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize > (uint64_t)st.st_size;
}

/* The free list's entries: a transaction id -> a list of page numbers,
 * its count first, each below the last page. */
static bool free_entry_ok(const MDB_val *k, const MDB_val *v, uint64_t last_pgno)
{
	if (k->mv_size != sizeof(size_t) || v->mv_size % sizeof(size_t) || !v->mv_size)
		return false;
	const size_t *ids = v->mv_data;
	if ((ids[0] + 1) * sizeof(size_t) != v->mv_size)
		return false;
	for (size_t i = 1; i <= ids[0]; i++)
		if (ids[i] < 2 || ids[i] > last_pgno)
			return false;
	return true;
}

/* Reads every page of both trees the way a run will: each entry walked
 * and looked up again by its key (the lookup compares keys along its
 * path: a damaged node pointer shows there), a value's first and last
 * byte read (its pages are inside the file), keys of our size, the free
 * list's page numbers in range. 0, or an LMDB code (MDB_CORRUPTED for
 * what only this check sees). */
static int walk(MDB_env *env, MDB_dbi dbi)
{
	MDB_envinfo info;
	MDB_txn *txn;
	int rc = mdb_env_info(env, &info);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	MDB_dbi dbs[2] = { 0 /* the free list */, dbi };
	volatile uint8_t sink = 0;
	for (int d = 0; d < 2 && rc == 0; d++) {
		MDB_cursor *cur;
		if ((rc = mdb_cursor_open(txn, dbs[d], &cur)) != 0)
			break;
		MDB_val k, v, again;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (d == 0 ? !free_entry_ok(&k, &v, info.me_last_pgno) : k.mv_size != 32) {
				rc = MDB_CORRUPTED;
				break;
			}
			if (v.mv_size)
				sink ^= ((const uint8_t *)v.mv_data)[0] ^
				        ((const uint8_t *)v.mv_data)[v.mv_size - 1];
			if (d == 1 && (mdb_get(txn, dbi, &k, &again) != 0 || again.mv_data != v.mv_data ||
			               again.mv_size != v.mv_size)) {
				rc = MDB_CORRUPTED;
				break;
			}
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	(void)sink;
	mdb_txn_abort(txn);
	return rc;
}

/* Opening and reading a damaged environment can crash LMDB itself (it
 * does not checksum its pages: flipped bytes in a page header send it
 * outside the map). So an existing one is opened and walked first in a
 * child process: NULL when it is sound (or cannot be opened for a reason
 * that is not damage, reported by the real open), else why not (static).
 * Called before this process opens the environment (LMDB must not be
 * open across fork). */
static const char *check_in_child(const char *dir, uint64_t mapsize)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return NULL; /* cannot check: open as before */
	if (pid == 0) {
		/* a Ctrl-C meant for the run must not end the check (its death
		 * would read as damage), nor run the run's handlers here */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		MDB_env *env;
		MDB_dbi dbi;
		int rc = env_open(dir, mapsize, &env, &dbi);
		if (rc)
			_exit(damaged(rc) || rc == EINVAL ? 2 : 0);
		if (truncated(env, dir))
			_exit(3);
		rc = walk(env, dbi);
		mdb_env_close(env);
		_exit(rc ? 4 : 0);
	}
	/* a damaged tree may also send LMDB round in a loop: a deadline */
	int st = 0;
	for (int ms = 0; ms < 30000; ms++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return NULL;
		if (ms == 29999) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return "its check did not end in 30 s";
		}
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		/* killed from outside (the OOM killer, kill -9): nothing learnt */
		return sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT || sig == SIGFPE ||
		               sig == SIGILL || sig == SIGSYS
		           ? "reading it crashed"
		           : NULL;
	}
	switch (WEXITSTATUS(st)) {
	case 0: return NULL;
	case 2: return "LMDB cannot open it";
	case 3: return "its data file is shorter than its pages";
	default: return "LMDB found a damaged page";
	}
}

int cenv_open(const char *dir, uint64_t cap, FILE *warn, MDB_env **env, MDB_dbi *dbi, char **err)
{
	if (make_dirs(dir) != 0) {
		*err = cenv_err("cannot create the cache directory", dir, errno);
		return -1;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size < 2 * 4096) { /* not even its two meta pages */
		remove_env(dir);
	} else if (stat(path, &st) == 0) {
		const char *why = check_in_child(dir, map_size(cap));
		if (why) {
			if (warn)
				fprintf(warn, "flow: warning: the cache in '%s' is damaged (%s); "
				              "starting a new one\n", dir, why);
			remove_env(dir);
		}
	}
	int rc = env_open(dir, map_size(cap), env, dbi);
	if (rc == 0 && truncated(*env, dir)) {
		mdb_env_close(*env);
		rc = MDB_CORRUPTED;
	}
	if (rc && damaged(rc)) {
		if (warn)
			fprintf(warn, "flow: warning: the cache in '%s' is damaged (%s); starting a new one\n",
			        dir, mdb_strerror(rc));
		remove_env(dir);
		rc = env_open(dir, map_size(cap), env, dbi);
	}
	if (rc) {
		*err = cenv_err("cannot open the cache", dir, rc);
		return -1;
	}
	return 0;
}

/* Opens an existing cache; *missing when dir has none. */
int cenv_open_existing(const char *dir, MDB_env **env, MDB_dbi *dbi, bool *missing, char **err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat st;
	*missing = stat(path, &st) != 0;
	if (*missing)
		return 0;
	return cenv_open(dir, CACHE_DEFAULT_CAP, stderr, env, dbi, err);
}

int cenv_put(MDB_env *env, MDB_dbi dbi, const uint8_t key[32], const sbuf *b)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc)
		return rc;
	MDB_val k = { 32, (void *)key }, v = { b->len, b->data };
	rc = mdb_put(txn, dbi, &k, &v, 0);
	if (rc == 0)
		return mdb_txn_commit(txn);
	mdb_txn_abort(txn);
	return rc;
}

typedef struct ent {
	uint64_t used, size;
	uint8_t key[32];
} ent;

static int cmp_used(const void *a, const void *b)
{
	const ent *x = a, *y = b;
	return x->used < y->used ? -1 : x->used > y->used;
}

void cenv_evict(MDB_env *env, MDB_dbi dbi, uint64_t target)
{
	MDB_txn *txn;
	if (mdb_txn_begin(env, NULL, 0, &txn))
		return;
	MDB_cursor *cur;
	if (mdb_cursor_open(txn, dbi, &cur)) {
		mdb_txn_abort(txn);
		return;
	}
	ent *es = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	MDB_val k, v;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			ent *p = realloc(es, sizeof *p * cap);
			if (!p)
				abort();
			es = p;
		}
		if (k.mv_size != 32)
			continue;
		ent *e = &es[n++];
		/* a damaged record is the first to go */
		e->used = v.mv_size >= 12 ? crec_get_u64((const uint8_t *)v.mv_data + 4) : 0;
		e->size = v.mv_size + k.mv_size;
		memcpy(e->key, k.mv_data, 32);
		total += e->size;
	}
	mdb_cursor_close(cur);
	if (total > target) {
		qsort(es, n, sizeof *es, cmp_used);
		for (size_t j = 0; j < n && total > target; j++) {
			MDB_val dk = { 32, es[j].key };
			mdb_del(txn, dbi, &dk, NULL);
			total -= es[j].size;
		}
	}
	free(es);
	if (mdb_txn_commit(txn))
		return;
}


void cenv_touch(MDB_env *env, MDB_dbi dbi, const uint8_t (*keys)[32], size_t n, uint64_t t)
{
	if (!n)
		return;
	MDB_txn *txn;
	if (mdb_txn_begin(env, NULL, 0, &txn))
		return;
	for (size_t j = 0; j < n; j++) {
		MDB_val k = { 32, (void *)keys[j] }, v;
		if (mdb_get(txn, dbi, &k, &v) || v.mv_size < REC_HEAD)
			continue;
		uint8_t *copy = malloc(v.mv_size);
		if (!copy)
			abort();
		memcpy(copy, v.mv_data, v.mv_size);
		crec_set_used(copy, t);
		MDB_val nv = { v.mv_size, copy };
		mdb_put(txn, dbi, &k, &nv, 0);
		free(copy);
	}
	mdb_txn_commit(txn);
}
