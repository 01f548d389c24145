/* mod_io.c - the `io` module: text files, lines, CSV (RFC 4180; `.gz` read
 * transparently), glob and exists. Every error names the path and the
 * system's reason. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "stdlib_impl.h"

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n >= k && strcmp(s + n - k, suf) == 0;
}

static int path_arg(flow_vm *vm, value v, const char *fn)
{
	if (sl_str(vm, v, fn, "path") < 0)
		return -1;
	if (strlen(str_data(v)) != str_len(v))
		return vm_raise(vm, "%s: path contains a NUL byte", fn);
	return 0;
}

uint64_t stdlib_max_read = STDLIB_MAX_READ;

static int too_big(flow_vm *vm, const char *path)
{
	return vm_raise(vm, "read '%s': more than the read cap of %llu bytes (flow run --max-read)",
	                path, (unsigned long long)stdlib_max_read);
}

/* A file, FIFO or device read through poll in slices, so a @timeout or
 * an interrupt stops a read that blocks (a FIFO with no writer), and no
 * more than the cap is read (/dev/zero). */
static int read_fd(flow_vm *vm, const char *path, sbuf *b)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return vm_raise(vm, "read '%s': %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		close(fd);
		return vm_raise(vm, "read '%s': %s", path, strerror(EISDIR));
	}
	/* a FIFO reads EOF before its writer comes: wait for one first */
	bool fifo = S_ISFIFO(sb.st_mode);
	for (;;) {
		if (fifo) {
			struct pollfd pf = { fd, POLLIN, 0 };
			if (poll(&pf, 1, 20) <= 0) {
				if (sl_cancelled(vm)) {
					close(fd);
					return vm_raise(vm, "interrupted (reading '%s')", path);
				}
				continue;
			}
		}
		if (sl_cancelled(vm)) {
			close(fd);
			return vm_raise(vm, "interrupted (reading '%s')", path);
		}
		if (b->len > stdlib_max_read) {
			close(fd);
			return too_big(vm, path);
		}
		sbuf_reserve(b, 65536);
		ssize_t n = read(fd, b->data + b->len, 65536);
		if (n > 0) {
			b->len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) { /* a FIFO or device with nothing yet */
			struct pollfd pf = { fd, POLLIN, 0 };
			poll(&pf, 1, 20);
			continue;
		}
		int en = errno;
		close(fd);
		return vm_raise(vm, "read '%s': %s", path, strerror(en));
	}
	close(fd);
	return 0;
}

/* The whole file in b; a path ending in .gz is decompressed. */
static int read_all(flow_vm *vm, const char *path, sbuf *b)
{
	if (ends_with(path, ".gz")) {
		errno = 0;
		gzFile f = gzopen(path, "rb");
		if (!f)
			return vm_raise(vm, "read '%s': %s", path, strerror(errno ? errno : ENOMEM));
		for (;;) {
			sbuf_reserve(b, 65536);
			int n = gzread(f, b->data + b->len, 65536);
			if (n < 0) {
				int en;
				const char *m = gzerror(f, &en);
				int r = vm_raise(vm, "read '%s': %s", path, en == Z_ERRNO ? strerror(errno) : m);
				gzclose(f);
				return r;
			}
			if (n == 0)
				break;
			b->len += (size_t)n;
			if (b->len > stdlib_max_read) {
				gzclose(f);
				return too_big(vm, path);
			}
			if (sl_cancelled(vm)) {
				gzclose(f);
				return vm_raise(vm, "interrupted (reading '%s')", path);
			}
		}
		/* A truncated stream ends with n == 0 and an error recorded. */
		int en;
		const char *m = gzerror(f, &en);
		if (en != Z_OK) {
			int r = vm_raise(vm, "read '%s': %s", path, en == Z_ERRNO ? strerror(errno) : m);
			gzclose(f);
			return r;
		}
		gzclose(f);
	} else if (read_fd(vm, path, b) < 0) {
		return -1;
	}
	vm_note_read(vm, path); /* a cached result depends on it (executor/cache.h) */
	sbuf_reserve(b, 1);
	b->data[b->len] = 0;
	if (!str_utf8_valid(b->data, b->len))
		return vm_raise(vm, "read '%s': the file is not valid UTF-8 text", path);
	return 0;
}

static int read_path(flow_vm *vm, value p, const char *fn, sbuf *b)
{
	sbuf_init(b);
	if (path_arg(vm, p, fn) < 0 || read_all(vm, str_data(p), b) < 0) {
		sbuf_fini(b);
		return -1;
	}
	return 0;
}

static int io_read_text(flow_vm *vm, value *argv, int argc, value *out)
{
	sbuf b;
	if (read_path(vm, argv[0], "io.read_text", &b) < 0)
		return -1;
	*out = str_take_sbuf(&b);
	return 0;
}

static int io_read_lines(flow_vm *vm, value *argv, int argc, value *out)
{
	sbuf b;
	if (read_path(vm, argv[0], "io.read_lines", &b) < 0)
		return -1;
	value l = list_new(0);
	size_t i = 0;
	while (i < b.len) {
		const char *nl = memchr(b.data + i, '\n', b.len - i);
		size_t e = nl ? (size_t)(nl - b.data) : b.len, k = e;
		if (k > i && b.data[k - 1] == '\r')
			k--;
		list_append_take(l, str_new(b.data + i, k - i));
		i = e + 1;
	}
	sbuf_fini(&b);
	*out = l;
	return 0;
}

/* Writes data to path (truncating); any failure, including one that only
 * shows at flush or close (a full disk), names the path. */
static int write_file(flow_vm *vm, const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return vm_raise(vm, "write '%s': %s", path, strerror(errno));
	errno = 0;
	bool ok = fwrite(data, 1, n, f) == n;
	ok = fflush(f) == 0 && ok;
	int en = errno;
	if (fclose(f) != 0 && ok) {
		ok = false;
		en = errno;
	}
	if (!ok)
		return vm_raise(vm, "write '%s': %s", path, strerror(en ? en : EIO));
	return 0;
}

static int io_write_text(flow_vm *vm, value *argv, int argc, value *out)
{
	if (path_arg(vm, argv[0], "io.write_text") < 0 || sl_str(vm, argv[1], "io.write_text", "s") < 0)
		return -1;
	if (write_file(vm, str_data(argv[0]), str_data(argv[1]), str_len(argv[1])) < 0)
		return -1;
	*out = v_none();
	return 0;
}

/* ---- CSV ---------------------------------------------------------------- */

/* Parses one record starting at *i; fields appended to `fields` (a list of
 * str). Returns false at end of input. Quoted fields may hold commas,
 * newlines and doubled quotes. */
static bool csv_record(const char *s, size_t n, size_t *i, value fields)
{
	if (*i >= n)
		return false;
	sbuf f;
	sbuf_init(&f);
	size_t p = *i;
	for (;;) {
		bool quoted = p < n && s[p] == '"';
		if (quoted) {
			p++;
			while (p < n) {
				if (s[p] == '"') {
					if (p + 1 < n && s[p + 1] == '"') {
						sbuf_addc(&f, '"');
						p += 2;
						continue;
					}
					p++;
					break;
				}
				sbuf_addc(&f, s[p++]);
			}
		}
		/* Unquoted text (or stray text after a closing quote) up to the
		 * next separator. */
		while (p < n && s[p] != ',' && s[p] != '\n' && s[p] != '\r')
			sbuf_addc(&f, s[p++]);
		list_append_take(fields, str_new(f.data ? f.data : "", f.len));
		f.len = 0;
		if (p < n && s[p] == ',') {
			p++;
			continue;
		}
		if (p < n && s[p] == '\r')
			p++;
		if (p < n && s[p] == '\n')
			p++;
		break;
	}
	sbuf_fini(&f);
	*i = p;
	return true;
}

static int io_read_csv(flow_vm *vm, value *argv, int argc, value *out)
{
	sbuf b;
	if (read_path(vm, argv[0], "io.read_csv", &b) < 0)
		return -1;
	size_t i = 0;
	if (b.len >= 3 && memcmp(b.data, "\xEF\xBB\xBF", 3) == 0)
		i = 3; /* byte-order mark */
	value header = list_new(0), rows = list_new(0);
	int r = 0;
	if (csv_record(b.data, b.len, &i, header)) {
		size_t line = 1;
		for (;;) {
			value f = list_new(list_len(header));
			if (!csv_record(b.data, b.len, &i, f)) {
				val_rele(f);
				break;
			}
			line++;
			if (list_len(f) == 1 && str_len(list_get(f, 0)) == 0) {
				val_rele(f); /* blank line */
				continue;
			}
			if (list_len(f) != list_len(header)) {
				r = vm_raise(vm, "read_csv '%s': record %zu has %zu fields, the header has %zu",
				             str_data(argv[0]), line, list_len(f), list_len(header));
				val_rele(f);
				break;
			}
			value d = dict_new(list_len(header));
			verr e;
			for (size_t k = 0; k < list_len(header); k++)
				dict_set(d, list_get(header, k), list_get(f, k), &e);
			list_append_take(rows, d);
			val_rele(f);
		}
	}
	sbuf_fini(&b);
	val_rele(header);
	if (r < 0) {
		val_rele(rows);
		return -1;
	}
	*out = rows;
	return 0;
}

static void csv_field(sbuf *b, value v)
{
	sbuf t;
	sbuf_init(&t);
	val_str(&t, v);
	const char *s = t.data ? t.data : "";
	if (t.len && strpbrk(s, ",\"\r\n")) {
		sbuf_addc(b, '"');
		for (size_t i = 0; i < t.len; i++) {
			if (s[i] == '"')
				sbuf_addc(b, '"');
			sbuf_addc(b, s[i]);
		}
		sbuf_addc(b, '"');
	} else {
		sbuf_add(b, s, t.len);
	}
	sbuf_fini(&t);
}

static int io_write_csv(flow_vm *vm, value *argv, int argc, value *out)
{
	if (path_arg(vm, argv[0], "io.write_csv") < 0)
		return -1;
	value rows;
	if (sl_resolve(vm, argv[1], &rows) < 0)
		return -1;
	int r = 0;
	sbuf b;
	sbuf_init(&b);
	if (rows.t != V_LIST) {
		r = vm_raise(vm, "io.write_csv: rows must be a list of dicts, not %s", sl_type_name(rows));
		goto done;
	}
	for (size_t i = 0; i < list_len(rows); i++)
		if (list_get(rows, i).t != V_DICT) {
			r = vm_raise(vm, "io.write_csv: row %zu is a %s, not a dict", i,
			             sl_type_name(list_get(rows, i)));
			goto done;
		}
	if (list_len(rows)) {
		value first = list_get(rows, 0), keys = list_new(0), k, v;
		size_t it = 0;
		while (dict_next(first, &it, &k, &v))
			list_append(keys, k);
		for (size_t j = 0; j < list_len(keys); j++) {
			if (j)
				sbuf_addc(&b, ',');
			csv_field(&b, list_get(keys, j));
		}
		sbuf_addc(&b, '\n');
		for (size_t i = 0; i < list_len(rows); i++) {
			for (size_t j = 0; j < list_len(keys); j++) {
				if (j)
					sbuf_addc(&b, ',');
				if (dict_get(list_get(rows, i), list_get(keys, j), &v) && v.t != V_NONE)
					csv_field(&b, v);
			}
			sbuf_addc(&b, '\n');
		}
		val_rele(keys);
	}
	r = write_file(vm, str_data(argv[0]), b.data ? b.data : "", b.len);
done:
	sbuf_fini(&b);
	val_rele(rows);
	if (r == 0)
		*out = v_none();
	return r;
}

/* ---- files -------------------------------------------------------------- */

static int io_glob(flow_vm *vm, value *argv, int argc, value *out)
{
	if (path_arg(vm, argv[0], "io.glob") < 0)
		return -1;
	glob_t g;
	int rc = glob(str_data(argv[0]), 0, NULL, &g);
	value l = list_new(0);
	if (rc == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			list_append_take(l, sl_str_lossy(g.gl_pathv[i], strlen(g.gl_pathv[i])));
	}
	globfree(&g);
	if (rc != 0 && rc != GLOB_NOMATCH) {
		val_rele(l);
		return vm_raise(vm, "glob '%s': %s", str_data(argv[0]),
		                rc == GLOB_NOSPACE ? "out of memory" : "read error");
	}
	vm_note_probe(vm, VM_PROBE_GLOB, str_data(argv[0])); /* executor/cache.h */
	*out = l; /* glob(3) sorts its matches */
	return 0;
}

static int io_exists(flow_vm *vm, value *argv, int argc, value *out)
{
	if (path_arg(vm, argv[0], "io.exists") < 0)
		return -1;
	struct stat st;
	*out = v_bool(stat(str_data(argv[0]), &st) == 0);
	vm_note_probe(vm, VM_PROBE_EXISTS, str_data(argv[0])); /* executor/cache.h */
	return 0;
}

static const native_def fns[] = {
	{ "read_text", io_read_text, "path", NATIVE_ENV },
	{ "write_text", io_write_text, "path,s", NATIVE_EFFECT },
	{ "read_lines", io_read_lines, "path", NATIVE_ENV },
	{ "read_csv", io_read_csv, "path", NATIVE_ENV },
	{ "write_csv", io_write_csv, "path,rows", NATIVE_EFFECT },
	{ "glob", io_glob, "pattern", NATIVE_ENV },
	{ "exists", io_exists, "path", NATIVE_ENV },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_io = { "io", fns, NULL };
