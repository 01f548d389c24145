/* cache_admin.c - flow cache list | clean (cli/cmd_cache.c): the
 * entries of a cache folder, listed or removed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/cache_int.h"

/* ---- flow cache list | clean ----------------------------------------------------- */

static void fmt_size(char *buf, size_t n, uint64_t b)
{
	if (b >= (1u << 20))
		snprintf(buf, n, "%.1f MiB", b / 1048576.0);
	else if (b >= 1024)
		snprintf(buf, n, "%.1f KiB", b / 1024.0);
	else
		snprintf(buf, n, "%llu B", (unsigned long long)b);
}

static void fmt_age(char *buf, size_t n, uint64_t s)
{
	if (s < 120)
		snprintf(buf, n, "%llu s", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, n, "%llu min", (unsigned long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, n, "%llu h", (unsigned long long)(s / 3600));
	else
		snprintf(buf, n, "%llu d", (unsigned long long)(s / 86400));
}

int cache_list(const char *dir, FILE *out, char **err)
{
	MDB_env *env;
	MDB_dbi dbi;
	bool missing;
	if (cenv_open_existing(dir, &env, &dbi, &missing, err))
		return -1;
	if (missing) {
		fprintf(out, "no cache in %s\n", dir);
		return 0;
	}
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc == 0 && (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		mdb_txn_abort(txn);
	if (rc) {
		*err = cenv_err("cannot read the cache", dir, rc);
		mdb_env_close(env);
		return -1;
	}
	fprintf(out, "%-10s %-10s %-10s %-16s %s\n", "SIZE", "AGE", "USED", "KEY", "TASK");
	uint64_t now = crec_now_ns(), n = 0, total = 0, bad = 0;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		rec r;
		total += v.mv_size + k.mv_size;
		if (k.mv_size != 32 || crec_parse(v.mv_data, v.mv_size, &r) != 0) {
			bad++;
			continue;
		}
		char sz[32], age[32], used[32], key[17];
		fmt_size(sz, sizeof sz, v.mv_size + k.mv_size);
		fmt_age(age, sizeof age, now > r.stored ? (now - r.stored) / 1000000000u : 0);
		fmt_age(used, sizeof used, now > r.used ? (now - r.used) / 1000000000u : 0);
		for (int i = 0; i < 8; i++)
			snprintf(key + 2 * i, 3, "%02x", ((const uint8_t *)k.mv_data)[i]);
		fprintf(out, "%-10s %-10s %-10s %-16s %.*s", sz, age, used, key, (int)r.tasklen, r.task);
		if (r.nfiles)
			fprintf(out, " (%llu file%s)", (unsigned long long)r.nfiles, r.nfiles == 1 ? "" : "s");
		fputc('\n', out);
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	char tot[32];
	fmt_size(tot, sizeof tot, total);
	fprintf(out, "%llu entr%s, %s in %s", (unsigned long long)n, n == 1 ? "y" : "ies", tot, dir);
	if (bad)
		fprintf(out, "; %llu damaged (ignored; replaced when stored again)", (unsigned long long)bad);
	fputc('\n', out);
	return 0;
}

int cache_clean(const char *dir, uint64_t *removed, char **err)
{
	MDB_env *env;
	MDB_dbi dbi;
	bool missing;
	*removed = 0;
	if (cenv_open_existing(dir, &env, &dbi, &missing, err))
		return -1;
	if (missing)
		return 0;
	MDB_txn *txn;
	MDB_stat ms;
	int rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0 && mdb_stat(txn, dbi, &ms) == 0)
		*removed = ms.ms_entries;
	if (rc == 0 && (rc = mdb_drop(txn, dbi, 0)) == 0)
		rc = mdb_txn_commit(txn);
	else if (rc == 0)
		mdb_txn_abort(txn);
	if (rc == 0)
		mdb_env_sync(env, 1);
	mdb_env_close(env);
	if (rc) {
		*err = cenv_err("cannot empty the cache", dir, rc);
		return -1;
	}
	return 0;
}
