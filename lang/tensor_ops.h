/* tensor_ops.h - the tensor core the VM needs for operators: `a @ b`,
 * `t[i]` and `t[i:j]` (tensor_ops.c), used by the stdlib's tensor module
 * too. The value type itself (vtensor, tensor_new) is in value.h.
 *
 * Ownership: arguments are borrowed; on success *out holds a NEW
 * reference and 0 is returned; on error -1 with the message in *e.
 */
#ifndef FLOW_TENSOR_OPS_H
#define FLOW_TENSOR_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "value.h"

/* Matrix product through BLAS (dgemm). 2-d @ 2-d; a 1-d operand acts as a
 * row (left) or column (right) vector and that axis is dropped from the
 * result, as numpy does; 1-d @ 1-d is the dot product (a float). */
int tensor_matmul(value a, value b, value *out, verr *e);
/* t[i]: a float for a 1-d tensor, else a copy of row i (one less dim).
 * Negative i counts from the end. */
int tensor_index(value t, int64_t i, value *out, verr *e);
/* t[lo:hi] along the first axis, Python's clamping rules; a copy. */
int tensor_slice(value t, bool has_lo, int64_t lo, bool has_hi, int64_t hi,
                 value *out, verr *e);

/* "[2, 3]": the shape's text appended to b, or written into s (n bytes,
 * truncated) which is returned; for messages. */
void tensor_shape_text(sbuf *b, int ndim, const int64_t *shape);
const char *tensor_shape_str(value t, char *s, size_t n);

#endif
