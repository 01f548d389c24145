/* store_readahead.h - sequential read-ahead of the spill store's big
 * tensor records (store.c), like the kernel's readahead for a file.
 *
 * What it owns: an index of the big tensor records in the order they were
 * written to big.dat ((offset, id), offsets increasing), the read-ahead
 * slots (tensors made for the records ahead, and read into), a reader
 * thread (started at the first read-ahead, joined by ra_close) with its
 * own O_DIRECT descriptor of big.dat, and its own lock and condvar.
 *
 * Locking: every function but the reader thread is called with the
 * store's mutex held (store.c), which guards the index and the pattern;
 * the slots are shared with the reader under ra's own lock, which the
 * reader takes alone: it never takes the store's mutex, so a caller may
 * wait for a read in flight while holding it.
 *
 * The pattern: a restore of the record after the previous one (the next
 * in the index that is still spilled: entries whose object is gone, in
 * memory, or read ahead already are skipped), twice in a row, or a
 * restore served from a slot, is sequential; then the window (records
 * kept read ahead of the last restore) grows 2 -> 4 -> 8 ... up to
 * RA_MAX_REC records, refilled when half of it was consumed; the bound
 * in bytes the store gives stops it first for big records (8 MiB: seven
 * 1 MiB tensors), and from then on every restore tops it up again. The
 * reader reads all the queued records that follow each other in the file
 * in one preadv: a request of several MiB when it fell behind, which the
 * kernel splits into several in flight (as dd bs=8M). Any other restore
 * is random: the window closes and every slot is dropped. Slots behind
 * the last restore are dropped (the window moved on); so is the slot of
 * an object freed.
 *
 * Off by default: FLOW_STORE_READAHEAD=1 (read when the store opens,
 * store.c) turns it on; off, the store has no store_ra (NULL), which
 * every function here takes as "none": nothing indexed, nothing read.
 * It doubles the rate at which a loop that only restores reads
 * (bench/store/readahead_ab.c), but programs that use what they
 * restore ran 15-20% slower with it on this 2-vCPU VM, and no faster with
 * 8 MiB tensors: the restores overlap the work, but the run does not end
 * sooner (bench/README.md, the spill store's eighth pass; why was not
 * found). It stays for machines whose disks it may suit.
 *
 * Failures are never values: a slot whose read failed, whose head in the
 * file does not match the stub's, or whose record changed is not taken
 * (ra_take returns false) and the store reads the record itself, which
 * reports the error as it always did. */
#ifndef FLOW_STORE_READAHEAD_H
#define FLOW_STORE_READAHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/value.h"

#define RA_HEAD_MAX 96 /* store.c's BIG_HEAD_MAX */

typedef struct store_ra store_ra;

/* A big tensor record as its LMDB stub says: where, how long, its head. */
typedef struct ra_rec {
	uint64_t off, blen;
	size_t hlen;
	unsigned char head[RA_HEAD_MAX];
} ra_rec;

/* The store's answer for the record of id written at off: is it still
 * spilled (the object there, not in memory), and, when r is not NULL,
 * is its stub still that record's (then *r is filled from it)? */
typedef bool (*ra_live_fn)(void *ctx, uint64_t id, uint64_t off, ra_rec *r);

store_ra *ra_new(void);
/* (Every function below takes NULL: read-ahead off, nothing done.) */
/* Joins the reader (a read in flight is waited for) and frees everything. */
void ra_close(store_ra *ra);

/* A big tensor record of id was written at off (offsets only increase,
 * until ra_cut). */
void ra_note(store_ra *ra, uint64_t off, uint64_t id);
/* The records from off on were never committed (an aborted spill: the
 * file's tail is reused). */
void ra_cut(store_ra *ra, uint64_t off);
/* id's object is freed (or its record replaced): its slot is dropped. */
void ra_forget(store_ra *ra, uint64_t id);

/* If id was read ahead from the record r (waiting for a read in flight),
 * *out = its tensor (the caller's reference) and true; else false (no
 * slot, the read failed, the head in the file is not r's: the caller
 * reads it itself). */
bool ra_take(store_ra *ra, uint64_t id, const ra_rec *r, value *out);

/* The record at off was just restored (hit: from a slot): follows the
 * pattern and reads ahead, holding at most bound bytes in slots (0: no
 * read-ahead). dfd: the store's O_DIRECT descriptor of big.dat, of which
 * the reader keeps its own copy (dup) at its start. */
void ra_advance(store_ra *ra, uint64_t off, bool hit, uint64_t bound, int dfd, ra_live_fn live, void *ctx);

/* Bytes held by read-ahead tensors now (not in the store: not taken yet,
 * or dropped while their read is in flight). */
uint64_t ra_bytes(store_ra *ra);

#endif
