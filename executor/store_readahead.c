/* store_readahead.c - sequential read-ahead of big tensor records; see
 * store_readahead.h for the contract and the locking.
 *
 * A slot reads its record as big_read_tensor (store.c) does with O_DIRECT:
 * the 4 KiB block ending where the elements start (the head's copy at its
 * end) into the slot's own block buffer, the elements' whole blocks
 * straight into the tensor's page-aligned buffer, a last partial block
 * into the block buffer again (then copied). Slots whose ranges follow
 * each other in the file are read by one preadv: a request of several
 * MiB, which the kernel splits into several in flight, as dd bs=8M. */
#include "executor/store_readahead.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "executor/store_io.h"
#include "lang/encode.h"

#define BLK 4096u
#define RA_MAX_REC 32           /* records in the window at most */
#define RA_SCAN 256             /* index entries looked at per step, at most */
#define RA_BATCH ((size_t)8 << 20) /* bytes of one preadv, at most */
#define RA_IOV 96               /* iovecs of one preadv, at most (3 a slot) */

enum { RA_QUEUED, RA_READING, RA_DONE, RA_FAILED };

typedef struct ra_slot {
	struct ra_slot *next; /* in ra->slots: index order */
	uint64_t id;
	size_t idx;        /* its entry in ra->ix */
	ra_rec rec;        /* the stub it was made from */
	value t;           /* the tensor read into */
	size_t dlen;       /* its elements' bytes */
	unsigned char *blk; /* 2 blocks: the head's, the last partial one */
	uint64_t held;     /* bytes counted in ra->bytes */
	int state;
	bool dropped;      /* unlinked while being read: the reader frees it */
} ra_slot;

typedef struct ra_ent {
	uint64_t off, id;
} ra_ent;

struct store_ra {
	/* under the store's mutex */
	ra_ent *ix;
	size_t nix, ixcap;
	size_t last;     /* index of the last restore, when have_last */
	bool have_last;
	unsigned seq;    /* sequential restores in a row */
	unsigned win;    /* records to keep ahead; 0: closed */
	bool off;        /* O_DIRECT refused: never again */
	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a slot queued, a read done, stop */
	ra_slot *slots;
	uint64_t bytes;
	bool stop, started;
	pthread_t th;
	int fd;
};

store_ra *ra_new(void)
{
	store_ra *ra = calloc(1, sizeof *ra);
	if (!ra)
		abort();
	pthread_mutex_init(&ra->mu, NULL);
	pthread_cond_init(&ra->cv, NULL);
	ra->fd = -1;
	return ra;
}

static void slot_free(store_ra *ra, ra_slot *sl)
{
	ra->bytes -= sl->held;
	if (sl->t.t == V_TENSOR)
		val_rele(sl->t);
	free(sl->blk);
	free(sl);
}

/* Unlinks sl (prev: the one before it, or NULL), with mu held; freed now,
 * or by the reader when its read is in flight. */
static void slot_drop(store_ra *ra, ra_slot *prev, ra_slot *sl)
{
	if (prev)
		prev->next = sl->next;
	else
		ra->slots = sl->next;
	if (sl->state == RA_READING)
		sl->dropped = true;
	else
		slot_free(ra, sl);
}

/* Drops the slots for which keep says no. */
static void drop_if(store_ra *ra, bool (*drop)(const ra_slot *, uint64_t), uint64_t arg)
{
	pthread_mutex_lock(&ra->mu);
	for (ra_slot *prev = NULL, *sl = ra->slots, *nx; sl; sl = nx) {
		nx = sl->next;
		if (drop(sl, arg))
			slot_drop(ra, prev, sl);
		else
			prev = sl;
	}
	pthread_mutex_unlock(&ra->mu);
}

static bool all(const ra_slot *sl, uint64_t a) { (void)sl, (void)a; return true; }
static bool of_id(const ra_slot *sl, uint64_t id) { return sl->id == id; }
static bool at_or_before(const ra_slot *sl, uint64_t idx) { return sl->idx <= idx; }
static bool from_off(const ra_slot *sl, uint64_t off) { return sl->rec.off >= off; }

void ra_close(store_ra *ra)
{
	if (!ra)
		return;
	pthread_mutex_lock(&ra->mu);
	ra->stop = true;
	pthread_cond_broadcast(&ra->cv);
	pthread_mutex_unlock(&ra->mu);
	if (ra->started)
		pthread_join(ra->th, NULL);
	while (ra->slots) {
		ra_slot *sl = ra->slots;
		ra->slots = sl->next;
		slot_free(ra, sl);
	}
	if (ra->fd >= 0)
		close(ra->fd);
	pthread_cond_destroy(&ra->cv);
	pthread_mutex_destroy(&ra->mu);
	free(ra->ix);
	free(ra);
}

/* ---- the index ---------------------------------------------------------- */

void ra_note(store_ra *ra, uint64_t off, uint64_t id)
{
	if (!ra)
		return;
	ra_forget(ra, id);
	if (ra->nix && ra->ix[ra->nix - 1].off >= off)
		ra_cut(ra, off); /* not expected (offsets increase): keep the index sorted */
	if (ra->nix == ra->ixcap) {
		ra->ixcap = ra->ixcap ? 2 * ra->ixcap : 256;
		ra->ix = realloc(ra->ix, ra->ixcap * sizeof *ra->ix);
		if (!ra->ix)
			abort();
	}
	ra->ix[ra->nix++] = (ra_ent){off, id};
}

/* The first entry at or after off. */
static size_t lower(const store_ra *ra, uint64_t off)
{
	size_t lo = 0, hi = ra->nix;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ra->ix[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void ra_cut(store_ra *ra, uint64_t off)
{
	if (!ra)
		return;
	size_t n = lower(ra, off);
	if (n == ra->nix)
		return;
	ra->nix = n;
	if (ra->have_last && ra->last >= n)
		ra->have_last = false;
	drop_if(ra, from_off, off);
}

void ra_forget(store_ra *ra, uint64_t id)
{
	if (ra)
		drop_if(ra, of_id, id);
}

uint64_t ra_bytes(store_ra *ra)
{
	if (!ra)
		return 0;
	pthread_mutex_lock(&ra->mu);
	uint64_t b = ra->bytes;
	pthread_mutex_unlock(&ra->mu);
	return b;
}

/* ---- the reader ----------------------------------------------------------- */

/* The file range a slot reads: from the head's block to the end of its
 * last (maybe partial) block. */
static uint64_t slot_start(const ra_slot *sl) { return sl->rec.off + sl->rec.hlen - BLK; }
static uint64_t slot_end(const ra_slot *sl)
{
	return sl->rec.off + sl->rec.hlen + (((uint64_t)sl->dlen + BLK - 1) & ~(uint64_t)(BLK - 1));
}

static void *reader(void *arg)
{
	store_ra *ra = arg;
	ra_slot *batch[RA_IOV / 3];
	struct iovec iov[RA_IOV];
	pthread_mutex_lock(&ra->mu);
	for (;;) {
		ra_slot *first = NULL;
		while (!ra->stop) {
			for (first = ra->slots; first && first->state != RA_QUEUED; first = first->next)
				;
			if (first)
				break;
			pthread_cond_wait(&ra->cv, &ra->mu);
		}
		if (ra->stop)
			break;
		/* the queued slots following each other in the file: one request */
		int nb = 0, ni = 0;
		size_t bytes = 0;
		for (ra_slot *sl = first; sl && sl->state == RA_QUEUED && nb < RA_IOV / 3; sl = sl->next) {
			if (nb > 0 && (slot_start(sl) != slot_end(batch[nb - 1]) || bytes + (slot_end(sl) - slot_start(sl)) > RA_BATCH))
				break;
			size_t body = sl->dlen & ~(size_t)(BLK - 1);
			iov[ni++] = (struct iovec){sl->blk, BLK};
			if (body)
				iov[ni++] = (struct iovec){tensor_of(sl->t)->data, body};
			if (sl->dlen > body)
				iov[ni++] = (struct iovec){sl->blk + BLK, BLK};
			bytes += slot_end(sl) - slot_start(sl);
			sl->state = RA_READING;
			batch[nb++] = sl;
		}
		uint64_t pos = slot_start(batch[0]);
		ra_slot *lastsl = batch[nb - 1];
		size_t need = (size_t)(lastsl->rec.off + lastsl->rec.blen - pos);
		pthread_mutex_unlock(&ra->mu);
		int rc = preadv_need(ra->fd, iov, ni, pos, need);
		pthread_mutex_lock(&ra->mu);
		for (int i = 0; i < nb; i++) {
			ra_slot *sl = batch[i];
			size_t body = sl->dlen & ~(size_t)(BLK - 1);
			sl->state = rc == 0 ? RA_DONE : RA_FAILED;
			if (rc == 0 && sl->dlen > body)
				memcpy((char *)tensor_of(sl->t)->data + body, sl->blk + BLK, sl->dlen - body);
			if (sl->dropped)
				slot_free(ra, sl);
		}
		pthread_cond_broadcast(&ra->cv);
	}
	pthread_mutex_unlock(&ra->mu);
	return NULL;
}

/* ---- taking and advancing --------------------------------------------------- */

bool ra_take(store_ra *ra, uint64_t id, const ra_rec *r, value *out)
{
	if (!ra)
		return false;
	pthread_mutex_lock(&ra->mu);
	ra_slot *prev = NULL, *sl = ra->slots;
	for (; sl && sl->id != id; sl = sl->next)
		prev = sl;
	if (!sl) {
		pthread_mutex_unlock(&ra->mu);
		return false;
	}
	while (sl->state == RA_QUEUED || sl->state == RA_READING)
		pthread_cond_wait(&ra->cv, &ra->mu);
	/* the list may have changed while waiting (only the reader ran: the
	 * caller holds the store's mutex), but sl is still in it */
	prev = NULL;
	for (ra_slot *x = ra->slots; x != sl; x = x->next)
		prev = x;
	/* the same record (stub), and big.dat's head copy equal to it: as
	 * big_read_tensor checks */
	bool ok = sl->state == RA_DONE && sl->rec.off == r->off && sl->rec.blen == r->blen && sl->rec.hlen == r->hlen &&
	          memcmp(sl->rec.head, r->head, r->hlen) == 0 && memcmp(sl->blk + BLK - r->hlen, r->head, r->hlen) == 0;
	if (ok) {
		*out = sl->t;
		sl->t = (value){0};
	}
	slot_drop(ra, prev, sl);
	pthread_mutex_unlock(&ra->mu);
	return ok;
}

/* The exact entry of off, or nix. */
static size_t find_off(const store_ra *ra, uint64_t off)
{
	size_t i = lower(ra, off);
	return i < ra->nix && ra->ix[i].off == off ? i : ra->nix;
}

static bool start_reader(store_ra *ra, int dfd)
{
	if (ra->started)
		return true;
	if (ra->off)
		return false;
	ra->fd = dfd >= 0 ? fcntl(dfd, F_DUPFD_CLOEXEC, 0) : -1;
	if (ra->fd < 0 || pthread_create(&ra->th, NULL, reader, ra) != 0) {
		if (ra->fd >= 0)
			close(ra->fd);
		ra->fd = -1;
		ra->off = true;
		return false;
	}
	ra->started = true;
	return true;
}

/* A slot for the record r of entry idx, queued; false if it would pass
 * bound or its record is not a tensor to read straight into. */
static bool queue(store_ra *ra, size_t idx, const ra_rec *r, uint64_t bound)
{
	int ndim;
	int64_t shape[TENSOR_MAX_DIMS];
	uint64_t size;
	size_t h;
	verr ve;
	if (val_decode_tensor_head(r->head, r->hlen, &ndim, shape, &size, &h, &ve) != 0 || h != r->hlen ||
	    size > r->blen / 8 || r->hlen + size * 8 != r->blen || ((r->off + r->hlen) & (BLK - 1)) != 0 ||
	    r->off + r->hlen < BLK)
		return true; /* skipped: the store's own read reports it */
	uint64_t held = size * 8 + 2 * BLK;
	pthread_mutex_lock(&ra->mu);
	/* one record past the bound, when nothing else is ahead: a tensor
	 * bigger than the window (8 MiB, a 1024 x 1024 one, at the default
	 * bound) is still read while the one before is used; one of more
	 * than twice the bound is not read ahead (its own request is big) */
	bool room = ra->bytes == 0 ? held <= 2 * bound : ra->bytes + held <= bound;
	pthread_mutex_unlock(&ra->mu);
	if (!room)
		return false;
	value t;
	if (tensor_new_raw(ndim, shape, &t, &ve) != 0)
		return false;
	if (((uintptr_t)tensor_of(t)->data & (BLK - 1)) != 0) {
		val_rele(t); /* small tensors are not page-aligned: not read ahead */
		return true;
	}
	ra_slot *sl = calloc(1, sizeof *sl);
	void *blk;
	if (!sl || posix_memalign(&blk, BLK, 2 * BLK) != 0)
		abort();
	sl->blk = blk;
	sl->id = ra->ix[idx].id;
	sl->idx = idx;
	sl->rec = *r;
	sl->t = t;
	sl->dlen = (size_t)size * 8;
	sl->held = held;
	sl->state = RA_QUEUED;
	pthread_mutex_lock(&ra->mu);
	ra->bytes += held;
	ra_slot **pp = &ra->slots;
	while (*pp)
		pp = &(*pp)->next;
	*pp = sl;
	pthread_cond_broadcast(&ra->cv);
	pthread_mutex_unlock(&ra->mu);
	return true;
}

void ra_advance(store_ra *ra, uint64_t off, bool hit, uint64_t bound, int dfd, ra_live_fn live, void *ctx)
{
	if (!ra)
		return;
	size_t p = find_off(ra, off);
	if (p == ra->nix) { /* not a record the index knows: random */
		ra->have_last = false;
		ra->seq = 0;
		ra->win = 0;
		drop_if(ra, all, 0);
		return;
	}
	bool seq = hit;
	if (!seq && ra->have_last && p > ra->last && p - ra->last <= RA_SCAN) {
		/* the next one still spilled after the last restore? */
		seq = true;
		for (size_t i = ra->last + 1; i < p && seq; i++)
			seq = !live(ctx, ra->ix[i].id, ra->ix[i].off, NULL);
	}
	ra->last = p;
	ra->have_last = true;
	if (!seq) {
		ra->seq = 1;
		ra->win = 0;
		drop_if(ra, all, 0);
		return;
	}
	ra->seq++;
	drop_if(ra, at_or_before, p); /* the window moved on */
	if (ra->seq < 2 || bound == 0)
		return;
	/* refill when half the window is consumed */
	size_t ahead = 0, next = p + 1;
	pthread_mutex_lock(&ra->mu);
	for (ra_slot *sl = ra->slots; sl; sl = sl->next) {
		ahead++;
		if (sl->idx >= next)
			next = sl->idx + 1;
	}
	pthread_mutex_unlock(&ra->mu);
	if (ahead > ra->win / 2)
		return;
	ra->win = ra->win ? (ra->win * 2 > RA_MAX_REC ? RA_MAX_REC : ra->win * 2) : 2;
	if (!start_reader(ra, dfd))
		return;
	for (size_t i = next, end = next + RA_SCAN; i < ra->nix && i < end && ahead < ra->win; i++) {
		ra_rec r;
		if (!live(ctx, ra->ix[i].id, ra->ix[i].off, &r))
			continue;
		if (!queue(ra, i, &r, bound))
			break;
		ahead++; /* (or skipped: not read straight into a tensor) */
	}
}
