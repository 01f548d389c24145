/* tensor_ops.c - the tensor core the VM's operators need (`a @ b`, `t[i]`,
 * `t[i:j]`) and shape text for messages; products go through CBLAS,
 * opened on first use (blas_load.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lang/blas_load.h"
#include "tensor_ops.h"

/* "[2, 3]" into b. */
void tensor_shape_text(sbuf *b, int ndim, const int64_t *shape)
{
	sbuf_addc(b, '[');
	for (int i = 0; i < ndim; i++)
		sbuf_printf(b, i ? ", %lld" : "%lld", (long long)shape[i]);
	sbuf_addc(b, ']');
}

/* Fills s with the text of t's shape (for messages). */
const char *tensor_shape_str(value t, char *s, size_t n)
{
	sbuf b;
	sbuf_init(&b);
	tensor_shape_text(&b, tensor_of(t)->ndim, tensor_of(t)->shape);
	snprintf(s, n, "%s", b.data);
	sbuf_fini(&b);
	return s;
}

int tensor_matmul(value a, value b, value *out, verr *e)
{
	if (a.t != V_TENSOR || b.t != V_TENSOR) {
		verr_set(e, "matmul: expected two tensors, not %s and %s", vtype_name((vtype)a.t),
		         vtype_name((vtype)b.t));
		return -1;
	}
	const vtensor *x = tensor_of(a), *y = tensor_of(b);
	char sa[128], sb[128];
	if (x->ndim < 1 || x->ndim > 2 || y->ndim < 1 || y->ndim > 2) {
		verr_set(e, "matmul: shapes %s and %s: operands must be 1-d or 2-d",
		         tensor_shape_str(a, sa, sizeof sa), tensor_shape_str(b, sb, sizeof sb));
		return -1;
	}
	/* As matrices: a is M x K, b is K2 x N. */
	int64_t m = x->ndim == 2 ? x->shape[0] : 1, k = x->shape[x->ndim - 1];
	int64_t k2 = y->shape[0], n = y->ndim == 2 ? y->shape[1] : 1;
	if (k != k2) {
		verr_set(e, "matmul: shapes %s and %s are not aligned (%lld != %lld)",
		         tensor_shape_str(a, sa, sizeof sa), tensor_shape_str(b, sb, sizeof sb), (long long)k, (long long)k2);
		return -1;
	}
	if (m > INT_MAX || n > INT_MAX || k > INT_MAX) {
		verr_setc(e, FLOW_ETOOBIG, "matmul: shapes %s and %s are too large for BLAS", tensor_shape_str(a, sa, sizeof sa),
		         tensor_shape_str(b, sb, sizeof sb));
		return -1;
	}
	if (x->ndim == 1 && y->ndim == 1) {
		*out = v_float(k ? blas_load()->ddot((int)k, x->data, 1, y->data, 1) : 0.0);
		return 0;
	}
	int64_t shape[2];
	int nd = 0;
	if (x->ndim == 2)
		shape[nd++] = m;
	if (y->ndim == 2)
		shape[nd++] = n;
	/* dgemm with beta 0 sets every element of C (and C empty when m or n
	 * is 0); only k == 0 needs C zeroed */
	if ((k ? tensor_new_raw : tensor_new)(nd, shape, out, e) < 0)
		return -1;
	if (m && n && k)
		blas_load()->dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k,
		                   1.0, x->data, (int)k, y->data, (int)n, 0.0, tensor_of(*out)->data, (int)n);
	return 0;
}

int tensor_index(value t, int64_t i, value *out, verr *e)
{
	const vtensor *x = tensor_of(t);
	if (x->ndim == 0) {
		verr_set(e, "cannot index a 0-d tensor");
		return -1;
	}
	int64_t n = x->shape[0];
	int64_t j = i < 0 ? i + n : i;
	if (j < 0 || j >= n) {
		verr_set(e, "tensor index %lld out of range for length %lld", (long long)i, (long long)n);
		return -1;
	}
	if (x->ndim == 1) {
		*out = v_float(x->data[j]);
		return 0;
	}
	if (tensor_new(x->ndim - 1, x->shape + 1, out, e) < 0)
		return -1;
	size_t row = tensor_of(*out)->size;
	if (row)
		memcpy(tensor_of(*out)->data, x->data + (size_t)j * row, row * sizeof(double));
	return 0;
}

int tensor_slice(value t, bool has_lo, int64_t lo, bool has_hi, int64_t hi, value *out, verr *e)
{
	const vtensor *x = tensor_of(t);
	if (x->ndim == 0) {
		verr_set(e, "cannot slice a 0-d tensor");
		return -1;
	}
	int64_t n = x->shape[0];
	if (!has_lo)
		lo = 0;
	if (!has_hi)
		hi = n;
	if (lo < 0)
		lo = lo + n < 0 ? 0 : lo + n;
	if (hi < 0)
		hi = hi + n < 0 ? 0 : hi + n;
	if (lo > n)
		lo = n;
	if (hi > n)
		hi = n;
	if (hi < lo)
		hi = lo;
	int64_t shape[TENSOR_MAX_DIMS];
	memcpy(shape, x->shape, sizeof shape);
	shape[0] = hi - lo;
	if (tensor_new(x->ndim, shape, out, e) < 0)
		return -1;
	size_t row = n ? x->size / (size_t)n : 0;
	size_t cnt = (size_t)(hi - lo) * row;
	if (cnt)
		memcpy(tensor_of(*out)->data, x->data + (size_t)lo * row, cnt * sizeof(double));
	return 0;
}
