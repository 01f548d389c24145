/* store.c - the object store: an id -> entry hash table, an LRU list of
 * the entries that may be spilled, and a private LMDB environment for the
 * spilled ones. See store.h for the contract; the one mutex (s->mu) is
 * held by every public function for its whole run.
 *
 * An entry is in memory (in_mem: e->v holds a reference), on disk (on_disk:
 * an LMDB record under its id), or both (read back, the record kept).
 * The LRU list holds exactly the entries that spilling may release: in
 * memory, unpinned, not found unencodable, of non-zero size. Head: most
 * recently used; spilling takes from the tail.
 */
#include "executor/store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "executor/interrupt.h"
#include "executor/mem_stats.h"
#include "executor/store_io.h"
#include "executor/store_readahead.h"
#include "lang/encode.h"
#include "lang/flow_err.h"
#include "lang/hugemem.h"

typedef struct sent {
	uint64_t id;
	struct sent *hnext;         /* hash chain */
	struct sent *lprev, *lnext; /* LRU list, when in_lru */
	value v;                    /* when in_mem */
	size_t size;                /* val_size_estimate(v), when in_mem */
	size_t disk_len;            /* encoded bytes, when on_disk */
	uint32_t pins;
	bool in_mem, on_disk, unspillable, in_lru;
	bool written; /* scratch of spill_locked: put in the open transaction */
} sent;

struct store {
	pthread_mutex_t mu;
	uint64_t cap;
	uint64_t map_size;
	char *dir; /* the private directory with the LMDB files */
	char **made; /* missing parents of the spill directory we created (removed at close) */
	int nmade;
	MDB_env *env; /* NULL until the first spill (opened then: open_env) */
	bool broken;  /* a spill failed: objects stay in memory, no retry on every put
	               * (until store_free deletes a record: room again) */
	bool can_grow; /* the map size was not given: it may grow */
	MDB_dbi dbi;
	sent **buckets;
	size_t nbuckets, count;
	sent *lru_head, *lru_tail;
	sent **victims; /* scratch of spill_locked */
	size_t nvictims_cap;
	sbuf enc; /* scratch encoding buffer, reused (also reading big records back) */
	int big_fd;       /* BIG_FILE in dir, opened with the environment; -1 before */
	int big_dfd;      /* the same file for O_DIRECT reads and writes, or -1 (unsupported) */
	bool big_dfd_nowrite; /* it refused a direct write: big records are written buffered */
	unsigned char *wblk; /* 2 aligned blocks of direct writes (big_write_direct), or NULL */
	unsigned char *rbuf; /* aligned buffer of big reads (O_DIRECT), rcap bytes */
	size_t rcap;
	uint64_t big_end; /* where the next big record is written */
	store_ra *ra; /* read-ahead of big tensor records (store_readahead.h) */
	store_stats st;
};

/* Big records (an encoding of BIG_RECORD bytes or more: a tensor, a long
 * string) are appended with pwrite(2) to a plain file beside LMDB, whose
 * record then holds only where it is (BIG_STUB_LEN bytes: BIG_TAG, offset
 * and length, little-endian). Through LMDB, a big value was copied into
 * pages LMDB mallocs for it at every transaction (each page a fresh page
 * fault) and written from there; now it goes from the encoding buffer,
 * reused and warm, straight to the page cache, and reads back with one
 * pread into that buffer instead of faulting the map in page by page (no
 * mapped pages stay behind either). The stub is in the same transaction
 * as before, so a spill still commits or aborts as a whole: after an abort
 * the file's tail is reused. A freed big record's bytes are punched out
 * of the file. Records are laid out for O_DIRECT reads, as dd
 * iflag=direct does (no page-cache copy, no cache filled with what was
 * just restored), where the filesystem allows it; else plain pread:
 * - a tensor's record is placed so that its elements start at a 4 KiB
 *   boundary, and its stub also holds the encoding's head (version, tag,
 *   shape: BIG_STUB_LEN + head bytes). Reading it back makes the tensor
 *   from the stub's head, then reads the elements straight into the
 *   tensor's own buffer (page-aligned from 64 KiB on: lang/value.c) in
 *   one request with the 4 KiB block holding the head in big.dat, which
 *   must match the stub's; no copy at all (big_read_tensor).
 * - any other record starts at a 4 KiB boundary and is read into an
 *   aligned scratch buffer, then decoded (big_read). */
#define BIG_FILE "big.dat"
#define BIG_RECORD (256u << 10)
#define BIG_TAG 0xFFu /* no encoding starts with it (ENC_* tags are small) */
#define BIG_STUB_LEN 17
#define BIG_HEAD_MAX 96 /* a tensor's head: 3 bytes and 8 varints of at most 10 */
#define BLK 4096u       /* the alignment of O_DIRECT reads (dd uses the same) */

/* Big records are written to the page cache and left to the kernel (and
 * to store_sync) to write back, except big tensors on huge pages, which
 * are written with O_DIRECT (big_write_direct, below). Starting each
 * record's writeback at once (sync_file_range: waiting for it 32 MiB
 * behind, or not waiting, or from a thread of the store's) was tried and
 * not kept: no gain showed in paired runs (bench/README.md). Nor was
 * writing 1 MiB tensors (on 4 KiB pages) with O_DIRECT, as dd
 * oflag=direct does (tried twice, the second time through a 2 MiB
 * aligned buffer): it spent less CPU (1.15 s against 1.68 s for 2 GiB)
 * but each put waited for the disk, and the MB/s were lower in most
 * pairs; nor from a writer thread of the store's, the victims kept in
 * memory until written (0.72-0.96x of this path's MB/s: on a VM the
 * final fdatasync pays the host's flush either way; bench/README.md,
 * the spill store's sixth pass). Nothing here is for durability: a spill
 * store's contents are never needed after a crash (the directory is
 * removed when its owner leaves, or swept by the next run), which is also
 * why LMDB runs with MDB_NOSYNC | MDB_NOMETASYNC. */
/* Spill transactions are committed every this many bytes: LMDB limits
 * the pages one write transaction may dirty. */
#define TXN_CHUNK (128u << 20)

/* The code of this thread's last failing call (store_errcode). */
static _Thread_local int last_code;

int store_errcode(void)
{
	return last_code;
}

/* Every failure goes through here: its code (flow_err.h) and its text. */
static void seterr(char **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char **err, int code, const char *fmt, ...)
{
	last_code = code;
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	*err = m;
}

/* ---- the default cap ---------------------------------------------------- */

uint64_t store_default_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || psize <= 0)
		return 1ull << 30;
	return (uint64_t)pages * (uint64_t)psize / 10 * 3;
}

/* ---- the table and the LRU list ----------------------------------------- */

static size_t slot(const store *s, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (s->nbuckets - 1);
}

static sent *find(const store *s, uint64_t id)
{
	for (sent *e = s->buckets[slot(s, id)]; e; e = e->hnext)
		if (e->id == id)
			return e;
	return NULL;
}

static void table_add(store *s, sent *e)
{
	if (s->count + 1 > s->nbuckets) {
		size_t old = s->nbuckets;
		sent **ob = s->buckets;
		s->nbuckets = old * 2;
		s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
		if (!s->buckets)
			abort();
		for (size_t i = 0; i < old; i++) {
			for (sent *x = ob[i], *nx; x; x = nx) {
				nx = x->hnext;
				size_t b = slot(s, x->id);
				x->hnext = s->buckets[b];
				s->buckets[b] = x;
			}
		}
		free(ob);
	}
	size_t b = slot(s, e->id);
	e->hnext = s->buckets[b];
	s->buckets[b] = e;
	s->count++;
}

static void table_del(store *s, sent *e)
{
	for (sent **pp = &s->buckets[slot(s, e->id)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			s->count--;
			return;
		}
	}
}

static void lru_unlink(store *s, sent *e)
{
	if (!e->in_lru)
		return;
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		s->lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		s->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
	e->in_lru = false;
}

/* Puts e at the head if it may be spilled, else makes sure it is out. */
static void lru_touch(store *s, sent *e)
{
	lru_unlink(s, e);
	if (!e->in_mem || e->pins > 0 || e->unspillable || e->size == 0)
		return;
	e->lnext = s->lru_head;
	if (s->lru_head)
		s->lru_head->lprev = e;
	s->lru_head = e;
	if (!s->lru_tail)
		s->lru_tail = e;
	e->in_lru = true;
}

static void mem_add(store *s, sent *e)
{
	s->st.mem_bytes += e->size;
	s->st.mem_objects++;
	if (s->st.mem_bytes > s->st.mem_peak)
		s->st.mem_peak = s->st.mem_bytes;
}

static void mem_release(store *s, sent *e)
{
	lru_unlink(s, e);
	val_rele(e->v);
	e->v = v_none();
	e->in_mem = false;
	s->st.mem_bytes -= e->size;
	s->st.mem_objects--;
}

/* ---- LMDB ----------------------------------------------------------------- */

static void key_of(uint64_t id, unsigned char k[8], MDB_val *kv)
{
	/* big-endian, so that LMDB's byte order is id order (appends) */
	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)(id >> (56 - 8 * i));
	kv->mv_size = 8;
	kv->mv_data = k;
}

static void lmdb_err(store *s, char **err, int rc, const char *what, uint64_t id)
{
	if (rc == MDB_MAP_FULL)
		seterr(err, FLOW_ENOSPC, "spill directory %s: the LMDB map is full (map size %llu bytes) "
		       "while %s object %llu; objects not written stay in memory",
		       s->dir, (unsigned long long)s->map_size, what, (unsigned long long)id);
	else if (rc == ENOSPC || rc == EFBIG || rc == EIO) {
		/* LMDB turns a short write (a full disk) into EIO: say how full */
		struct statvfs fs;
		unsigned long long avail = 0;
		if (statvfs(s->dir, &fs) == 0)
			avail = (unsigned long long)fs.f_bavail * fs.f_frsize;
		seterr(err, rc == EIO ? FLOW_EIO : FLOW_ENOSPC, "spill directory %s: %s object %llu: %s (%llu bytes free on its "
		       "filesystem); objects not written stay in memory", s->dir, what,
		       (unsigned long long)id, mdb_strerror(rc), avail);
	} else {
		seterr(err, FLOW_EIO, "spill directory %s: %s object %llu: %s", s->dir, what,
		       (unsigned long long)id, mdb_strerror(rc));
	}
}

static void put_le64(unsigned char *p, uint64_t x)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(x >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

/* The stub of the record of len bytes at start whose first head bytes
 * (a tensor's head, copied in: s->enc holds it) precede its elements. */
static void fill_stub(store *s, uint64_t start, uint64_t len, size_t head,
                      unsigned char stub[BIG_STUB_LEN + BIG_HEAD_MAX], size_t *stub_len)
{
	stub[0] = BIG_TAG;
	put_le64(stub + 1, start);
	put_le64(stub + 9, len);
	memcpy(stub + BIG_STUB_LEN, s->enc.data, head);
	*stub_len = BIG_STUB_LEN + head;
}

/* Writes s->enc, then raw_len bytes at raw (a tensor's elements, or
 * nothing), past s->big_end of the big file: one record, byte for byte
 * val_encode's; fills the stub (its length in *stub_len). head: the
 * length of a tensor encoding's head (its elements then start at a 4 KiB
 * boundary, and the head is copied into the stub), or 0 for any other
 * record (it starts at one). Returns 0 or an errno value (ENOSPC,
 * EIO...). A big tensor's elements are written from its own memory
 * (pwritev): copying them into s->enc first cost a copy and, for tensors
 * past SCRATCH_KEEP, fresh pages at every spill (s->enc is not kept that
 * big): 44% of a --serial run spilling 8 MiB tensors (bench/README.md). */
static int big_write(store *s, size_t head, const void *raw, size_t raw_len,
                     unsigned char stub[BIG_STUB_LEN + BIG_HEAD_MAX], size_t *stub_len)
{
	struct iovec iov[2] = {{s->enc.data, s->enc.len}, {(void *)raw, raw_len}};
	size_t total = s->enc.len + raw_len;
	uint64_t start = ((s->big_end + head + BLK - 1) & ~(uint64_t)(BLK - 1)) - head;
	int rc = pwritev_all(s->big_fd, iov, raw_len ? 2 : 1, start, 0);
	if (rc)
		return rc;
	fill_stub(s, start, total, head, stub, stub_len);
	s->big_end = start + total; /* the next record is placed from here (aligned as it needs) */
	return 0;
}

/* Big tensors on huge pages (2 MiB of elements and more: lang/value.c
 * maps them on their own, 2 MiB aligned) are written with O_DIRECT, as
 * dd oflag=direct does, straight from their memory, in the spilling call.
 * Through the page cache, the kernel's copy of them into fresh 4 KiB
 * folios was 75% of a spill's CPU (perf: copy_folio_from_iter_atomic):
 * a put loop of 8 MiB tensors wrote 0.48-0.69 GB/s, and 1.08-1.22 GB/s
 * direct (bench/README.md, the spill store's eighth pass). Smaller tensors, on
 * 4 KiB pages, stay buffered: direct writes of those were slower
 * (0.72-0.96x, the sixth pass). */
#define DIRECT_WRITE_MIN MEM_HUGE_PAGE

/* Writes a big tensor's record with O_DIRECT (s->big_dfd): s->enc holds
 * its head (head bytes), raw its raw_len bytes of elements, page-aligned.
 * The record starts a fresh block and ends on one (the last partial
 * block padded with zeros), so no other record shares a block with it
 * (buffered and direct writes never touch the same page); its head sits
 * at the end of its first block, its elements at a block boundary, as
 * big_write places them, byte for byte val_encode's. Fills the stub as
 * big_write does. Returns 0, an errno value (ENOSPC, EIO...), or EINVAL
 * when the filesystem refuses the direct write (the caller writes it
 * buffered then). */
static int big_write_direct(store *s, size_t head, const void *raw, size_t raw_len,
                            unsigned char stub[BIG_STUB_LEN + BIG_HEAD_MAX], size_t *stub_len)
{
	if (!s->wblk) {
		void *b;
		if (posix_memalign(&b, BLK, 2 * BLK) != 0)
			return ENOMEM;
		s->wblk = b;
	}
	size_t body = raw_len & ~(size_t)(BLK - 1), tail = raw_len - body;
	memset(s->wblk, 0, BLK - head);
	memcpy(s->wblk + BLK - head, s->enc.data, head);
	struct iovec iov[3];
	int n = 0;
	iov[n++] = (struct iovec){s->wblk, BLK};
	if (body)
		iov[n++] = (struct iovec){(void *)raw, body};
	if (tail) {
		memcpy(s->wblk + BLK, (const char *)raw + body, tail);
		memset(s->wblk + BLK + tail, 0, BLK - tail);
		iov[n++] = (struct iovec){s->wblk + BLK, BLK};
	}
	uint64_t start = (s->big_end + BLK - 1) & ~(uint64_t)(BLK - 1);
	int rc = pwritev_all(s->big_dfd, iov, n, start, BLK);
	if (rc)
		return rc;
	fill_stub(s, start + BLK - head, head + raw_len, head, stub, stub_len);
	s->big_end = start + BLK + body + (tail ? BLK : 0);
	s->st.spilled_direct++;
	return 0;
}

/* The length of the head of s->enc if it is a tensor's encoding whose
 * elements can be read straight into a tensor, else 0. */
static size_t tensor_head_len(store *s, value v)
{
	if (v.t != V_TENSOR)
		return 0;
	int ndim;
	int64_t shape[TENSOR_MAX_DIMS];
	uint64_t size;
	size_t head;
	verr ve;
	if (val_decode_tensor_head(s->enc.data, s->enc.len, &ndim, shape, &size, &head, &ve) != 0 ||
	    head > BIG_HEAD_MAX || size > (s->enc.len - head) / 8 || head + size * 8 != s->enc.len)
		return 0;
	return head;
}

static void rbuf_reserve(store *s, size_t n);

/* Reads blen bytes at off of the big file; *out points at them (in
 * s->rbuf or s->enc). 0, or -1 with errno (0 for a short file). */
static int big_read(store *s, uint64_t off, uint64_t blen, const char **out)
{
	if (s->big_dfd >= 0) {
		uint64_t a0 = off & ~(uint64_t)4095, a1 = (off + blen + 4095) & ~(uint64_t)4095;
		size_t alen = (size_t)(a1 - a0), need = (size_t)(off + blen - a0);
		rbuf_reserve(s, alen);
		size_t got = 0;
		ssize_t r = 0;
		while (got < need) {
			r = pread(s->big_dfd, s->rbuf + got, alen - got, (off_t)(a0 + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got >= need) {
			*out = (const char *)s->rbuf + (off - a0);
			return 0;
		}
		if (!(r < 0 && errno == EINVAL)) {
			if (r == 0)
				errno = 0;
			return -1;
		}
		close(s->big_dfd); /* the filesystem refuses O_DIRECT here: plain reads from now on */
		s->big_dfd = -1;
	}
	s->enc.len = 0;
	sbuf_reserve(&s->enc, (size_t)blen);
	struct iovec iov = {s->enc.data, (size_t)blen};
	if (preadv_need(s->big_fd, &iov, 1, off, (size_t)blen) != 0)
		return -1;
	*out = s->enc.data;
	return 0;
}

/* s->rbuf holds at least n bytes, 4 KiB-aligned. */
static void rbuf_reserve(store *s, size_t n)
{
	if (n <= s->rcap)
		return;
	free(s->rbuf);
	void *p;
	if (posix_memalign(&p, BLK, n) != 0)
		abort();
	s->rbuf = p;
	s->rcap = n;
}

/* Reads a tensor's big record (off, blen: the stub's; head[0..hlen): the
 * stub's copy of its encoding's head) straight into a new tensor, *out.
 * With O_DIRECT, one request: the 4 KiB block ending where the elements
 * start (the head's copy in big.dat is at its end) into s->rbuf, the
 * elements' whole blocks into the tensor's buffer, a last partial block
 * into s->rbuf again; else one buffered preadv, head then elements. The
 * head in big.dat must match the stub's (a damaged file is an error, not
 * a wrong value); the elements are any bits, as val_decode takes them.
 * STORE_OK, or STORE_ERR with *err. */
static int big_read_tensor(store *s, uint64_t id, uint64_t off, uint64_t blen, const unsigned char *head, size_t hlen,
                           value *out, char **err)
{
	int ndim;
	int64_t shape[TENSOR_MAX_DIMS];
	uint64_t size;
	size_t h;
	verr ve;
	if (val_decode_tensor_head(head, hlen, &ndim, shape, &size, &h, &ve) != 0 || h != hlen ||
	    size > blen / 8 || hlen + size * 8 != blen || ((off + hlen) & (BLK - 1)) != 0) {
		seterr(err, FLOW_ECORRUPT, "spill directory %s: object %llu: corrupt record: a bad big-record stub",
		       s->dir, (unsigned long long)id);
		return STORE_ERR;
	}
	value t;
	if (tensor_new_raw(ndim, shape, &t, &ve) != 0) {
		seterr(err, ve.code ? ve.code : FLOW_ECORRUPT, "spill directory %s: reading back object %llu: %s", s->dir,
		       (unsigned long long)id, ve.msg);
		return STORE_ERR;
	}
	char *data = (char *)tensor_of(t)->data;
	uint64_t dpos = off + hlen; /* the elements' offset: a block boundary */
	size_t dlen = (size_t)size * 8, body = dlen & ~(size_t)(BLK - 1), tail = dlen - body;
	const unsigned char *fhead; /* the head as big.dat holds it */
	int rc;
	rbuf_reserve(s, 2 * BLK);
	if (s->big_dfd >= 0 && ((uintptr_t)data & (BLK - 1)) == 0) {
		struct iovec iov[3];
		int n = 0;
		iov[n++] = (struct iovec){s->rbuf, BLK};
		if (body)
			iov[n++] = (struct iovec){data, body};
		if (tail)
			iov[n++] = (struct iovec){s->rbuf + BLK, BLK};
		rc = preadv_need(s->big_dfd, iov, n, dpos - BLK, BLK + dlen);
		if (rc == 0) {
			if (tail)
				memcpy(data + body, s->rbuf + BLK, tail);
			fhead = s->rbuf + BLK - hlen;
			s->st.restored_direct++;
			goto check;
		}
		if (errno != EINVAL)
			goto fail;
		close(s->big_dfd); /* the filesystem refuses O_DIRECT here: plain reads from now on */
		s->big_dfd = -1;
	}
	struct iovec iov[2] = {{s->rbuf, hlen}, {data, dlen}};
	if ((rc = preadv_need(s->big_fd, iov, dlen ? 2 : 1, off, blen)) != 0)
		goto fail;
	fhead = s->rbuf;
check:
	if (memcmp(fhead, head, hlen) != 0) {
		val_rele(t);
		seterr(err, FLOW_ECORRUPT, "spill directory %s: object %llu: corrupt record: its head in " BIG_FILE
		       " does not match its stub", s->dir, (unsigned long long)id);
		return STORE_ERR;
	}
	*out = t;
	return STORE_OK;
fail:;
	int en = errno;
	val_rele(t);
	seterr(err, en ? FLOW_EIO : FLOW_ECORRUPT, "spill directory %s: reading back object %llu: %s", s->dir,
	       (unsigned long long)id, en ? strerror(en) : BIG_FILE " is short");
	return STORE_ERR;
}

/* ---- read-ahead (store_readahead.h) --------------------------------------------
 * Restores that follow the order big tensor records were written in read
 * the next records ahead, from a reader thread, into tensors made for
 * them, held in slots outside the store: at most RA_BYTES and cap/8
 * bytes, only with O_DIRECT (else off: the page cache's own readahead
 * serves buffered reads). */
#define RA_BYTES ((uint64_t)8 << 20)
_Static_assert(RA_HEAD_MAX == BIG_HEAD_MAX, "a slot holds a stub's head");

/* A big record was written (stub: its stub): a tensor's is indexed. */
static void note_written(store *s, uint64_t id, const unsigned char *stub, size_t stub_len)
{
	if (stub_len > BIG_STUB_LEN)
		ra_note(s->ra, get_le64(stub + 1), id);
}

typedef struct live_ctx {
	store *s;
	MDB_txn *txn; /* opened at the first stub looked up */
} live_ctx;

/* ra_live_fn: id still spilled, its stub a tensor's record at off. */
static bool ra_live(void *ctx, uint64_t id, uint64_t off, ra_rec *r)
{
	live_ctx *c = ctx;
	sent *e = find(c->s, id);
	if (!e || e->in_mem || !e->on_disk || e->disk_len < BIG_RECORD)
		return false;
	if (!r)
		return true;
	if (!c->txn && mdb_txn_begin(c->s->env, NULL, MDB_RDONLY, &c->txn) != 0) {
		c->txn = NULL;
		return false;
	}
	unsigned char kb[8];
	MDB_val k, d;
	key_of(id, kb, &k);
	if (mdb_get(c->txn, c->s->dbi, &k, &d) != 0 || d.mv_size <= BIG_STUB_LEN ||
	    d.mv_size > BIG_STUB_LEN + RA_HEAD_MAX || ((const unsigned char *)d.mv_data)[0] != BIG_TAG)
		return false;
	const unsigned char *p = d.mv_data;
	r->off = get_le64(p + 1);
	r->blen = get_le64(p + 9);
	r->hlen = d.mv_size - BIG_STUB_LEN;
	memcpy(r->head, p + BIG_STUB_LEN, r->hlen);
	return r->off == off && r->off <= c->s->big_end && r->blen <= c->s->big_end - r->off;
}

/* A tensor's big record: taken from read-ahead if it was read ahead
 * (checked as big_read_tensor checks), else big_read_tensor; then the
 * read-ahead window follows. */
static int read_tensor(store *s, uint64_t id, uint64_t off, uint64_t blen, const unsigned char *head, size_t hlen,
                       value *out, char **err)
{
	ra_rec r = {.off = off, .blen = blen, .hlen = hlen};
	memcpy(r.head, head, hlen);
	bool hit = ra_take(s->ra, id, &r, out);
	int rc = STORE_OK;
	if (hit) {
		s->st.restored_direct++;
		s->st.restored_ahead++;
	} else {
		rc = big_read_tensor(s, id, off, blen, head, hlen, out, err);
	}
	uint64_t bound = s->big_dfd >= 0 ? (s->cap / 8 < RA_BYTES ? s->cap / 8 : RA_BYTES) : 0;
	live_ctx c = {s, NULL};
	ra_advance(s->ra, off, hit, bound, s->big_dfd, ra_live, &c);
	if (c.txn)
		mdb_txn_abort(c.txn);
	return rc;
}

/* The scratch buffers (s->enc, s->rbuf) are kept between calls to save
 * an allocation per record, but not past SCRATCH_KEEP bytes: one huge
 * record must not leave that much anonymous memory with the store,
 * beyond its cap, for the rest of the run. */
#define SCRATCH_KEEP ((size_t)4 << 20)

static void trim_scratch(store *s)
{
	if (s->enc.cap > SCRATCH_KEEP) {
		sbuf_fini(&s->enc);
		sbuf_init(&s->enc);
	}
	if (s->rcap > SCRATCH_KEEP) {
		free(s->rbuf);
		s->rbuf = NULL;
		s->rcap = 0;
	}
}

/* The victims of this spill whose writes are committed are on disk. */
static void mark_on_disk(store *s, size_t nv)
{
	for (size_t i = 0; i < nv; i++)
		if (s->victims[i]->written)
			s->victims[i]->on_disk = true;
}

static void add_victim(store *s, size_t *nv, sent *e)
{
	if (*nv == s->nvictims_cap) {
		s->nvictims_cap = s->nvictims_cap ? 2 * s->nvictims_cap : 64;
		s->victims = realloc(s->victims, s->nvictims_cap * sizeof *s->victims);
		if (!s->victims)
			abort();
	}
	s->victims[(*nv)++] = e;
}

/* Releases from memory the victims now on disk, counting what was
 * written; those whose transaction failed stay in memory. */
static void release_victims(store *s, size_t nv)
{
	for (size_t i = 0; i < nv; i++) {
		sent *e = s->victims[i];
		bool wrote = e->written;
		e->written = false;
		if (!e->on_disk)
			continue;
		if (wrote) {
			s->st.spilled_bytes += e->disk_len;
			s->st.spilled_objects++;
			s->st.disk_bytes += e->disk_len;
		}
		s->st.evicted_objects++;
		mem_release(s, e);
	}
}

/* Releases memory until under the cap: see the file comment. Called with
 * s->mu held. STORE_SPILL_FAILED with *err when LMDB refuses; then only
 * objects safely on disk have been released. */
static int open_env(store *s, char **err);
static bool grow_map(store *s);

static int spill_once(store *s, char **err, int *lmdb_rc);

static int spill_locked(store *s, char **err)
{
	if (s->st.mem_bytes <= s->cap || s->broken)
		return STORE_OK;
	if (!s->env && open_env(s, err) != 0) {
		s->broken = true;
		return STORE_SPILL_FAILED;
	}
	mem_sample(); /* --stats: memory at its most, over the cap, before spilling */
	int lrc = 0;
	int rc = spill_once(s, err, &lrc);
	/* a full map grows (as far as the address space allows) and is tried again */
	while (rc == STORE_SPILL_FAILED && lrc == MDB_MAP_FULL && grow_map(s)) {
		if (err) {
			free(*err);
			*err = NULL;
		}
		rc = spill_once(s, err, &lrc);
	}
	if (rc == STORE_SPILL_FAILED)
		s->broken = true; /* said once; every object stays in memory from now on */
	return rc;
}

static int spill_once(store *s, char **err, int *lmdb_rc)
{
	size_t nv = 0;
	uint64_t freed = 0, txn_bytes = 0;
	MDB_txn *txn = NULL;
	int rc = 0, ret = STORE_OK;
	uint64_t fail_id = 0;
	uint64_t big_start = s->big_end; /* the open transaction's first big byte */
	for (sent *e = s->lru_tail, *prev; e && s->st.mem_bytes - freed > s->cap; e = prev) {
		prev = e->lprev;
		if (!e->on_disk) {
			verr ve;
			s->enc.len = 0;
			const void *raw = NULL; /* a big tensor's elements, written from the tensor */
			size_t raw_len = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ /* (its elements are then its encoding's) */
			if (e->v.t == V_TENSOR && tensor_of(e->v)->size >= BIG_RECORD / 8) {
				val_encode_tensor_head(&s->enc, e->v);
				raw = tensor_of(e->v)->data;
				raw_len = tensor_of(e->v)->size * 8;
			} else
#endif
			if (val_encode(&s->enc, e->v, &ve) != 0) {
				/* a future/actor/function inside: it stays in memory */
				e->unspillable = true;
				s->st.unspillable++;
				lru_unlink(s, e);
				continue;
			}
			if (txn && txn_bytes >= TXN_CHUNK) {
				rc = mdb_txn_commit(txn);
				txn = NULL;
				if (rc) {
					fail_id = e->id;
					break;
				}
				mark_on_disk(s, nv);
				txn_bytes = 0;
				big_start = s->big_end;
			}
			if (!txn && (rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
				txn = NULL;
				fail_id = e->id;
				break;
			}
			unsigned char kb[8], stub[BIG_STUB_LEN + BIG_HEAD_MAX];
			MDB_val k, d = {.mv_size = s->enc.len, .mv_data = s->enc.data};
			size_t rec_len = s->enc.len + raw_len, stub_len = 0;
			if (rec_len >= BIG_RECORD) {
				size_t head = raw ? (s->enc.len <= BIG_HEAD_MAX ? s->enc.len : 0) : tensor_head_len(s, e->v);
				rc = EINVAL; /* not written directly (yet) */
				if (raw && raw_len >= DIRECT_WRITE_MIN && head && s->big_dfd >= 0 && !s->big_dfd_nowrite &&
				    ((uintptr_t)raw & (BLK - 1)) == 0 &&
				    (rc = big_write_direct(s, head, raw, raw_len, stub, &stub_len)) == EINVAL)
					s->big_dfd_nowrite = true; /* refused: buffered from now on */
				if (rc == EINVAL)
					rc = big_write(s, head, raw, raw_len, stub, &stub_len);
				if (rc != 0) {
					fail_id = e->id;
					break;
				}
				d = (MDB_val){.mv_size = stub_len, .mv_data = stub};
				note_written(s, e->id, stub, stub_len);
			}
			key_of(e->id, kb, &k);
			if ((rc = mdb_put(txn, s->dbi, &k, &d, 0)) != 0) {
				fail_id = e->id;
				break;
			}
			e->written = true;
			e->disk_len = rec_len;
			txn_bytes += rec_len;
		}
		add_victim(s, &nv, e);
		freed += e->size;
	}
	if (txn && rc == 0) {
		rc = mdb_txn_commit(txn);
		if (rc)
			fail_id = s->victims[nv - 1]->id;
		else
			mark_on_disk(s, nv);
	} else if (txn) {
		mdb_txn_abort(txn);
	}
	if (rc) {
		s->big_end = big_start; /* the aborted transaction's big bytes are reused */
		ra_cut(s->ra, big_start);
		lmdb_err(s, err, rc, "spilling", fail_id);
		ret = STORE_SPILL_FAILED;
	}
	*lmdb_rc = rc;
	release_victims(s, nv);
	trim_scratch(s);
	return ret;
}

/* ---- open and close --------------------------------------------------------- */

/* mkdir -p: creates dir and its missing parents, noting each one created
 * in s->made (store_close removes them: nothing is left behind). */
static int mkdir_p(store *s, const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		abort();
	int rc = 0;
	for (char *q = p + 1;; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char c = *q;
		*q = '\0';
		if (mkdir(p, 0700) == 0) {
			s->made = realloc(s->made, sizeof *s->made * (size_t)(s->nmade + 1));
			if (!s->made || !(s->made[s->nmade++] = strdup(p)))
				abort();
		} else if (errno != EEXIST) {
			rc = -1;
			break;
		}
		*q = c;
		if (c == '\0')
			break;
	}
	if (rc == 0) {
		struct stat sb;
		if (stat(p, &sb) != 0)
			rc = -1;
		else if (!S_ISDIR(sb.st_mode)) {
			errno = ENOTDIR;
			rc = -1;
		}
	}
	int saved = errno;
	free(p);
	errno = saved;
	return rc;
}

static void remove_dir(const char *dir)
{
	static const char *files[] = {"data.mdb", "lock.mdb", BIG_FILE};
	for (size_t i = 0; i < 3; i++) {
		char *f = NULL;
		if (asprintf(&f, "%s/%s", dir, files[i]) >= 0) {
			unlink(f);
			free(f);
		}
	}
	rmdir(dir);
}

/* The map's size: what was asked, else 64 GiB, but at most a quarter of
 * the address space a `ulimit -v` leaves (the map is reserved up front);
 * grown on MDB_MAP_FULL. */
static uint64_t initial_map_size(uint64_t asked)
{
	if (asked)
		return asked;
	uint64_t m = STORE_DEFAULT_MAP_SIZE;
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		uint64_t quarter = (uint64_t)rl.rlim_cur / 4;
		if (quarter < m)
			m = quarter < (16u << 20) ? (16u << 20) : quarter;
	}
	return m;
}

/* Doubles the map when the address-space limit allows. Called with no
 * transaction open. */
static bool grow_map(store *s)
{
	uint64_t next = s->map_size * 2;
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    next > (uint64_t)rl.rlim_cur / 2)
		return false;
	if (!s->can_grow || next > (1ull << 40) || mdb_env_set_mapsize(s->env, next) != 0)
		return false;
	s->map_size = next;
	return true;
}

/* A spill directory of a process that is gone: flow-spill-PID-XXXXXX. */
static bool stale_spill_dir(const char *name)
{
	const char *p = name + strlen("flow-spill-");
	if (strncmp(name, "flow-spill-", strlen("flow-spill-")) || *p < '1' || *p > '9')
		return false;
	char *end;
	long pid = strtol(p, &end, 10);
	if (*end != '-' || strlen(end) != 7 || pid <= 0 || pid == (long)getpid())
		return false;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

void store_sweep_stale(const char *base)
{
	DIR *d = opendir(base);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!stale_spill_dir(de->d_name))
			continue;
		char *path = NULL;
		if (asprintf(&path, "%s/%s", base, de->d_name) < 0)
			abort();
		struct stat sb;
		/* only our own directories: a run by another user is not ours */
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid())
			remove_dir(path);
		free(path);
	}
	closedir(d);
}

static const char *spill_base(const store_opts *o)
{
	const char *base = o->spill_dir;
	if (!base || !*base) {
		base = getenv("TMPDIR");
		if (!base || !*base)
			base = "/tmp";
	}
	return base;
}

store *store_open(const store_opts *o, char **err)
{
	const char *base = spill_base(o);
	store *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	pthread_mutex_init(&s->mu, NULL);
	if (mkdir_p(s, base) != 0) {
		seterr(err, FLOW_EIO, "spill directory %s: cannot create it: %s", base, strerror(errno));
		store_close(s);
		return NULL;
	}
	store_sweep_stale(base);
	char *dir = NULL;
	/* the owner's pid in the name: a later run removes it if we die */
	if (asprintf(&dir, "%s/flow-spill-%ld-XXXXXX", base, (long)getpid()) < 0)
		abort();
	/* made and registered at once: a second signal removes it or finds
	 * nothing (interrupt.h) */
	interrupt_spill_begin();
	bool made = mkdtemp(dir) != NULL;
	int en = errno;
	if (made) {
		/* tests/faults/faults.sh: a second signal that comes in between */
		const char *delay = getenv("FLOW_TEST_SPILL_DIR_DELAY_MS");
		if (delay && *delay) { /* the whole time: a signal's handler cuts a sleep short */
			long ms = atol(delay);
			struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
		interrupt_set_spill_dir(dir, remove_dir);
	}
	interrupt_spill_end();
	if (!made) {
		seterr(err, FLOW_EIO, "spill directory %s: cannot create a directory in it: %s", base,
		       strerror(en));
		free(dir);
		store_close(s);
		return NULL;
	}
	s->cap = o->memory_cap;
	s->map_size = initial_map_size(o->map_size);
	s->can_grow = o->map_size == 0;
	s->dir = dir;
	s->nbuckets = 1024;
	s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
	if (!s->buckets)
		abort();
	sbuf_init(&s->enc);
	/* off unless asked for (store_readahead.h: "Off by default"): no
	 * index kept, nothing looked up on a restore */
	const char *ra_on = getenv("FLOW_STORE_READAHEAD");
	s->ra = ra_on && strcmp(ra_on, "1") == 0 ? ra_new() : NULL;
	s->big_fd = -1;
	s->big_dfd = -1;
	/* a directory we cannot write fails now, not at the first spill */
	if (access(dir, W_OK) != 0) {
		seterr(err, FLOW_EIO, "spill directory %s: %s", dir, strerror(errno));
		store_close(s);
		return NULL;
	}
	return s;
}

/* Opens LMDB in s->dir: at the first spill, so a run that never spills
 * reserves no map. */
static int open_env_files(store *s, char **err)
{
	int rc;
	MDB_txn *txn = NULL;
	const char *step = "mdb_env_create";
	if ((rc = mdb_env_create(&s->env)) != 0)
		goto fail;
	step = "setting the map size";
	if ((rc = mdb_env_set_mapsize(s->env, s->map_size)) != 0)
		goto fail;
	/* Temporary data: no syncs. One store mutex serialises every
	 * transaction, so LMDB needs no lock file (NOLOCK) and read
	 * transactions are not tied to a thread (NOTLS). */
	step = "opening LMDB";
	if ((rc = mdb_env_open(s->env, s->dir, MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS | MDB_NOLOCK,
	                       0600)) != 0)
		goto fail;
	step = "opening the database";
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	step = "opening " BIG_FILE;
	char *bp = NULL;
	if (asprintf(&bp, "%s/%s", s->dir, BIG_FILE) < 0)
		abort();
	s->big_fd = open(bp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = errno;
	free(bp);
	if (s->big_fd < 0)
		goto fail;
	if (asprintf(&bp, "%s/%s", s->dir, BIG_FILE) < 0)
		abort();
	/* -1 where unsupported (tmpfs before Linux 6.6); the test hook acts so */
	const char *nd = getenv("FLOW_TEST_STORE_NO_DIRECT");
	s->big_dfd = nd && *nd ? -1 : open(bp, O_RDWR | O_DIRECT | O_CLOEXEC);
	free(bp);
	s->big_end = 0;
	return 0;
fail:
	seterr(err, FLOW_EIO, "spill directory %s: %s (map size %llu bytes): %s; objects stay in memory",
	       s->dir, step, (unsigned long long)s->map_size, mdb_strerror(rc));
	if (s->env)
		mdb_env_close(s->env);
	s->env = NULL;
	return -1;
}

/* The files are made while a second signal waits (interrupt.h): it finds
 * them all, or none is made after it removed the directory's files. */
static int open_env(store *s, char **err)
{
	interrupt_spill_begin();
	int rc = open_env_files(s, err);
	interrupt_spill_end();
	return rc;
}

void store_close(store *s)
{
	if (!s)
		return;
	ra_close(s->ra); /* first: reads in flight are waited for */
	for (size_t i = 0; i < s->nbuckets; i++) {
		for (sent *e = s->buckets[i], *nx; e; e = nx) {
			nx = e->hnext;
			if (e->in_mem)
				val_rele(e->v);
			free(e);
		}
	}
	free(s->buckets);
	free(s->victims);
	sbuf_fini(&s->enc);
	if (s->env)
		mdb_env_close(s->env);
	if (s->big_fd >= 0)
		close(s->big_fd);
	if (s->big_dfd >= 0)
		close(s->big_dfd);
	free(s->rbuf);
	free(s->wblk);
	if (s->dir) {
		interrupt_spill_begin(); /* a second signal now finds it gone */
		remove_dir(s->dir);
		if (interrupt_spill_dir_is(s->dir))
			interrupt_set_spill_dir(NULL, NULL);
		interrupt_spill_end();
	}
	free(s->dir);
	for (int i = s->nmade; i-- > 0;) { /* the parents we made, deepest first */
		rmdir(s->made[i]);
		free(s->made[i]);
	}
	free(s->made);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

const char *store_dir(const store *s) { return s->dir; }

/* ---- operations ---------------------------------------------------------------- */

int store_put(store *s, uint64_t id, value v, char **err)
{
	if (V_IS_HEAP(v.t) && !val_is_frozen(v)) {
		seterr(err, FLOW_EINVAL, "object store: object %llu is not frozen", (unsigned long long)id);
		return STORE_ERR;
	}
	size_t size = val_size_estimate(v); /* outside the lock: v is frozen */
	pthread_mutex_lock(&s->mu);
	if (find(s, id)) {
		pthread_mutex_unlock(&s->mu);
		seterr(err, FLOW_EEXIST, "object store: object %llu is already stored", (unsigned long long)id);
		return STORE_ERR;
	}
	sent *e = calloc(1, sizeof *e);
	if (!e)
		abort();
	e->id = id;
	e->v = val_hold(v);
	e->size = size;
	e->in_mem = true;
	table_add(s, e);
	mem_add(s, e);
	lru_touch(s, e);
	int rc = spill_locked(s, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

bool store_has(store *s, uint64_t id)
{
	pthread_mutex_lock(&s->mu);
	bool r = find(s, id) != NULL;
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* Reads e back from LMDB into memory. */
static int restore_locked(store *s, sent *e, char **err)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc) {
		lmdb_err(s, err, rc, "reading back", e->id);
		return STORE_ERR;
	}
	unsigned char kb[8];
	MDB_val k, d;
	key_of(e->id, kb, &k);
	if ((rc = mdb_get(txn, s->dbi, &k, &d)) != 0) {
		mdb_txn_abort(txn);
		if (rc == MDB_NOTFOUND)
			seterr(err, FLOW_ECORRUPT, "spill directory %s: object %llu: its record is missing", s->dir,
			       (unsigned long long)e->id);
		else
			lmdb_err(s, err, rc, "reading back", e->id);
		return STORE_ERR;
	}
	verr ve;
	value v;
	const void *rec = d.mv_data;
	size_t len = d.mv_size;
	if (len > 0 && ((const unsigned char *)rec)[0] == BIG_TAG) {
		/* a big record: a tensor's straight into it, else into the
		 * scratch buffer and decoded */
		unsigned char stub[BIG_STUB_LEN + BIG_HEAD_MAX];
		bool ok = len >= BIG_STUB_LEN && len <= sizeof stub;
		if (ok)
			memcpy(stub, rec, len);
		size_t hlen = ok ? len - BIG_STUB_LEN : 0;
		mdb_txn_abort(txn);
		uint64_t off = ok ? get_le64(stub + 1) : 0, blen = ok ? get_le64(stub + 9) : 0;
		if (!ok || off > s->big_end || blen > s->big_end - off || blen > SIZE_MAX / 2) {
			seterr(err, FLOW_ECORRUPT, "spill directory %s: object %llu: corrupt record: a bad big-record stub",
			       s->dir, (unsigned long long)e->id);
			return STORE_ERR;
		}
		if (hlen > 0) {
			if (read_tensor(s, e->id, off, blen, stub + BIG_STUB_LEN, hlen, &v, err) != STORE_OK) {
				trim_scratch(s);
				return STORE_ERR;
			}
			len = (size_t)blen;
			rc = 0;
			goto restored;
		}
		const char *data;
		if (big_read(s, off, blen, &data) != 0) {
			int en = errno;
			seterr(err, en ? FLOW_EIO : FLOW_ECORRUPT, "spill directory %s: reading back object %llu: %s",
			       s->dir, (unsigned long long)e->id, en ? strerror(en) : BIG_FILE " is short");
			return STORE_ERR;
		}
		len = (size_t)blen;
		/* the decoder checks every byte: a corrupt record is an error */
		rc = val_decode(data, len, &v, &ve);
	} else {
		/* zero copy: decoded straight from LMDB's page */
		rc = val_decode(rec, len, &v, &ve);
		/* a record of several pages has them to itself (LMDB's overflow
		 * pages): once decoded, they leave this process's resident set
		 * (the map is read-only: they fault back in from the file) */
		uintptr_t a = ((uintptr_t)rec + 4095) & ~(uintptr_t)4095, b = ((uintptr_t)rec + len) & ~(uintptr_t)4095;
		mem_sample(); /* --stats: the mapped pages at their most, before they go */
		if (b > a)
			(void)madvise((void *)a, b - a, MADV_DONTNEED);
		mdb_txn_abort(txn);
	}
restored:
	trim_scratch(s);
	mem_sample(); /* --stats: the decoded value and the scratch, before the next spill */
	if (rc != 0) {
		seterr(err, FLOW_ECORRUPT, "spill directory %s: object %llu: corrupt record: %s", s->dir,
		       (unsigned long long)e->id, ve.msg);
		return STORE_ERR;
	}
	val_freeze(v);
	e->v = v;
	e->in_mem = true;
	e->size = val_size_estimate(v);
	mem_add(s, e);
	s->st.restored_bytes += len;
	s->st.restored_objects++;
	return STORE_OK;
}

int store_get(store *s, uint64_t id, value *out, char **err)
{
	pthread_mutex_lock(&s->mu);
	sent *e = find(s, id);
	if (!e) {
		pthread_mutex_unlock(&s->mu);
		seterr(err, FLOW_ENOTFOUND, "object store: no object %llu", (unsigned long long)id);
		return STORE_ERR;
	}
	int rc = STORE_OK;
	if (!e->in_mem && (rc = restore_locked(s, e, err)) != STORE_OK) {
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	*out = val_hold(e->v);
	lru_touch(s, e);
	rc = spill_locked(s, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_pin(store *s, uint64_t id, char **err)
{
	pthread_mutex_lock(&s->mu);
	sent *e = find(s, id);
	if (!e) {
		pthread_mutex_unlock(&s->mu);
		seterr(err, FLOW_ENOTFOUND, "object store: cannot pin object %llu: no such object",
		       (unsigned long long)id);
		return STORE_ERR;
	}
	if (e->pins++ == 0)
		s->st.pinned_objects++;
	lru_unlink(s, e);
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

int store_unpin(store *s, uint64_t id, char **err)
{
	pthread_mutex_lock(&s->mu);
	sent *e = find(s, id);
	if (!e || e->pins == 0) {
		pthread_mutex_unlock(&s->mu);
		seterr(err, e ? FLOW_EINVAL : FLOW_ENOTFOUND, "object store: cannot unpin object %llu: %s", (unsigned long long)id,
		       e ? "it is not pinned" : "no such object");
		return STORE_ERR;
	}
	if (--e->pins == 0) {
		s->st.pinned_objects--;
		lru_touch(s, e); /* just used: the most recent */
	}
	/* unpinning makes it spillable, but spilling waits for the next put
	 * or get: unpin stays cheap and cannot fail on disk */
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

int store_free(store *s, uint64_t id, char **err)
{
	pthread_mutex_lock(&s->mu);
	sent *e = find(s, id);
	if (!e) {
		pthread_mutex_unlock(&s->mu);
		seterr(err, FLOW_ENOTFOUND, "object store: cannot free object %llu: no such object",
		       (unsigned long long)id);
		return STORE_ERR;
	}
	table_del(s, e);
	ra_forget(s->ra, id);
	if (e->pins > 0)
		s->st.pinned_objects--;
	if (e->in_mem)
		mem_release(s, e);
	int ret = STORE_OK;
	if (e->on_disk) {
		MDB_txn *txn;
		unsigned char kb[8];
		MDB_val k;
		key_of(id, kb, &k);
		int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc == 0 && e->disk_len >= BIG_RECORD) {
			/* give a big record's bytes back to the filesystem */
			MDB_val d;
			if (mdb_get(txn, s->dbi, &k, &d) == 0 && d.mv_size >= BIG_STUB_LEN &&
			    ((const unsigned char *)d.mv_data)[0] == BIG_TAG) {
				uint64_t off = get_le64((const unsigned char *)d.mv_data + 1);
				uint64_t blen = get_le64((const unsigned char *)d.mv_data + 9);
				if (off <= s->big_end && blen <= s->big_end - off)
					(void)fallocate(s->big_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
					                (off_t)blen);
			}
		}
		if (rc == 0) {
			rc = mdb_del(txn, s->dbi, &k, NULL);
			if (rc == 0)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		if (rc) {
			lmdb_err(s, err, rc, "deleting", id);
			ret = STORE_ERR;
		} else {
			s->st.disk_bytes -= e->disk_len;
			s->broken = false; /* room again: spilling may be tried anew */
		}
	}
	if (e->unspillable)
		s->st.unspillable--;
	free(e);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

void store_get_stats(store *s, store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->objects = s->count;
	MDB_stat ms;
	if (s->env && mdb_env_stat(s->env, &ms) == 0)
		st->disk_objects = ms.ms_entries;
	st->ahead_bytes = ra_bytes(s->ra);
	pthread_mutex_unlock(&s->mu);
}

int store_sync(store *s, char **err)
{
	pthread_mutex_lock(&s->mu);
	int rc = s->env ? mdb_env_sync(s->env, 1) : 0;
	if (rc == 0 && s->big_fd >= 0 && fdatasync(s->big_fd) != 0)
		rc = errno;
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		seterr(err, FLOW_EIO, "spill directory %s: sync: %s", s->dir, mdb_strerror(rc));
		return STORE_ERR;
	}
	return STORE_OK;
}
