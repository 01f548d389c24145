/* encode.h - the one binary encoding of values, used by plans, the network
 * and the spill store.
 *
 * Layout (all integers little-endian):
 *   encoding := VERSION(1 byte, ENC_VERSION) item
 *   item     := tag(1 byte) payload
 *     ENC_NONE, ENC_FALSE, ENC_TRUE   no payload
 *     ENC_INT     zigzag varint
 *     ENC_FLOAT   8 bytes: the IEEE bit pattern
 *     ENC_STR     varint byte length, bytes (valid UTF-8)
 *     ENC_LIST    varint count, count items
 *     ENC_DICT    varint count, count (key item, value item) pairs
 *     ENC_TENSOR  ndim (1 byte), ndim varint dims, size*8 bytes of float64
 *     ENC_EXT     vtype (1 byte), varint length, payload given to that
 *                 type's vtype_hooks.decode (futures, actors, functions)
 *     ENC_SAME    varint k: the same object as the k-th list or dict of
 *                 this encoding (numbered as each one ends), so a value
 *                 that shares parts (x = [x, x] repeated) encodes in
 *                 space proportional to its objects, not its paths
 *   varint := LEB128, at most 10 bytes, no bits beyond 64
 * Decoding checks every tag, length and count against the bytes left before
 * allocating, validates UTF-8 and tensor shapes, rejects duplicate dict keys
 * and nesting deeper than VAL_MAX_DEPTH, and never reads past the input.
 *
 * Ownership: v is borrowed; *out is a new reference on success and
 * untouched on failure (partial results are freed).
 *
 * Errors: every int function returns 0, or -1 with e->code a code of
 * flow_err.h (FLOW_ETRUNC input ends early, FLOW_ECORRUPT malformed bytes,
 * FLOW_EVERSION wrong version byte, FLOW_ETOOBIG beyond a limit,
 * FLOW_ENOTSUP a type without encode/decode hooks; a hook's own failure
 * keeps the hook's code) and e->msg the detail naming the byte offset.
 */
#ifndef FLOW_ENCODE_H
#define FLOW_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "value.h"

#define ENC_VERSION 0xF1 /* also a magic byte: not a tag, not ASCII */

enum {
	ENC_NONE = 0, ENC_FALSE, ENC_TRUE, ENC_INT, ENC_FLOAT, ENC_STR,
	ENC_LIST, ENC_DICT, ENC_TENSOR, ENC_EXT, ENC_SAME,
};

/* Appends the encoding of v (version byte first). Fails for a future,
 * actor or function whose type registered no encode hook, and for values
 * nested too deeply; out may then hold a partial encoding (truncate it). */
int val_encode(sbuf *out, value v, verr *e);

/* Decodes exactly buf[0..len): trailing bytes are an error. */
int val_decode(const void *buf, size_t len, value *out, verr *e);

/* Decodes one encoding starting at buf[*pos] and advances *pos past it, for
 * values embedded in a larger format. On error *pos is unchanged. */
int val_decode_at(const uint8_t *buf, size_t len, size_t *pos, value *out, verr *e);

/* Appends the head of tensor v's encoding (version byte, tag, ndim, dims:
 * what val_encode writes before the elements), for writers that write the
 * elements from the tensor itself (the spill store's big records). */
void val_encode_tensor_head(sbuf *out, value v);

/* The head of a tensor's encoding (version byte, tag, ndim, dims), which
 * its elements follow (size * 8 bytes, float64 little-endian): for readers
 * that put the elements in place themselves (the spill store reads them
 * straight into the tensor). Checks what val_decode checks of it; -1 with
 * e if buf[0..len) does not start with one. Nothing after *head_len is
 * looked at: the caller checks the elements' length. */
int val_decode_tensor_head(const void *buf, size_t len, int *ndim, int64_t shape[TENSOR_MAX_DIMS], uint64_t *size,
                           size_t *head_len, verr *e);

/* The varints, for formats that embed values (plans, messages). */
void val_encode_varint(sbuf *out, uint64_t x);
int val_decode_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out, verr *e);

#endif
