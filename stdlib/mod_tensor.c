/* mod_tensor.c - the `tensor` module (n-dimensional float64 arrays); the
 * operators' core (matmul, index, slice) is lang's (lang/tensor_ops.h). */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "stdlib_impl.h"
#include "lang/tensor_ops.h"

static int need_tensor(flow_vm *vm, value v, const char *fn)
{
	if (v.t != V_TENSOR)
		return vm_raise(vm, "tensor.%s: expected a tensor, not %s", fn, sl_type_name(v));
	return 0;
}

/* A shape argument: an int or a list of ints. */
static int get_shape(flow_vm *vm, value v, const char *fn, int *ndim, int64_t *shape)
{
	if (v.t == V_INT) {
		*ndim = 1;
		shape[0] = v.as.i;
	} else if (v.t == V_LIST) {
		size_t n = list_len(v);
		if (n > TENSOR_MAX_DIMS)
			return vm_raise(vm, "tensor.%s: %zu dimensions (at most %d)", fn, n, TENSOR_MAX_DIMS);
		for (size_t i = 0; i < n; i++) {
			value x = list_get(v, i);
			if (x.t != V_INT)
				return vm_raise(vm, "tensor.%s: shape must hold ints, not %s", fn, sl_type_name(x));
			shape[i] = x.as.i;
		}
		*ndim = (int)n;
	} else {
		return vm_raise(vm, "tensor.%s: shape must be an int or a list of ints, not %s", fn,
		                sl_type_name(v));
	}
	for (int i = 0; i < *ndim; i++)
		if (shape[i] < 0)
			return vm_raise(vm, "tensor.%s: negative dimension %lld", fn, (long long)shape[i]);
	return 0;
}

/* zero: fill with zeros; without, the caller writes every element. */
static int new_tensor_z(flow_vm *vm, const char *fn, int ndim, const int64_t *shape, value *out,
                        bool zero)
{
	verr e;
	if ((zero ? tensor_new : tensor_new_raw)(ndim, shape, out, &e) < 0)
		return vm_raise(vm, "tensor.%s: %s", fn, e.msg);
	return 0;
}

static int new_tensor(flow_vm *vm, const char *fn, int ndim, const int64_t *shape, value *out)
{
	return new_tensor_z(vm, fn, ndim, shape, out, true);
}

static int t_zeros(flow_vm *vm, value *argv, int argc, value *out)
{
	int nd;
	int64_t sh[TENSOR_MAX_DIMS];
	if (get_shape(vm, argv[0], "zeros", &nd, sh) < 0)
		return -1;
	return new_tensor(vm, "zeros", nd, sh, out);
}

static int t_ones(flow_vm *vm, value *argv, int argc, value *out)
{
	int nd;
	int64_t sh[TENSOR_MAX_DIMS];
	if (get_shape(vm, argv[0], "ones", &nd, sh) < 0 || new_tensor_z(vm, "ones", nd, sh, out, false) < 0)
		return -1;
	vtensor *t = tensor_of(*out);
	for (size_t i = 0; i < t->size; i++)
		t->data[i] = 1.0;
	return 0;
}

static int t_normal(flow_vm *vm, value *argv, int argc, value *out)
{
	int nd;
	int64_t sh[TENSOR_MAX_DIMS];
	double m, s;
	if (get_shape(vm, argv[0], "normal", &nd, sh) < 0 ||
	    sl_num(vm, argv[1], "tensor.normal", "mean", &m) < 0 ||
	    sl_num(vm, argv[2], "tensor.normal", "std", &s) < 0)
		return -1;
	if (s < 0)
		return vm_raise(vm, "tensor.normal: std must be non-negative");
	if (new_tensor_z(vm, "normal", nd, sh, out, false) < 0)
		return -1;
	vtensor *t = tensor_of(*out);
	sl_normal_fill(vm_rng(vm), m, s, t->data, t->size);
	return 0;
}

static int t_arange(flow_vm *vm, value *argv, int argc, value *out)
{
	int64_t n;
	if (sl_int(vm, argv[0], "tensor.arange", "n", &n) < 0)
		return -1;
	if (n < 0)
		return vm_raise(vm, "tensor.arange: n must be non-negative");
	if (new_tensor(vm, "arange", 1, &n, out) < 0)
		return -1;
	vtensor *t = tensor_of(*out);
	for (size_t i = 0; i < t->size; i++)
		t->data[i] = (double)i;
	return 0;
}

/* from_list: find the shape along the first elements, then check and copy
 * every element against it (so ragged lists are caught). */
static int fill(flow_vm *vm, value v, int d, int nd, const int64_t *sh, double **dst)
{
	if (d == nd) {
		if (v.t == V_INT)
			*(*dst)++ = (double)v.as.i;
		else if (v.t == V_FLOAT)
			*(*dst)++ = v.as.f;
		else if (v.t == V_LIST)
			return vm_raise(vm, "tensor.from_list: ragged list (a list where a number was expected at depth %d)", d);
		else
			return vm_raise(vm, "tensor.from_list: elements must be numbers, not %s", sl_type_name(v));
		return 0;
	}
	if (v.t != V_LIST)
		return vm_raise(vm, "tensor.from_list: ragged list (a %s where a list of %lld was expected at depth %d)",
		                sl_type_name(v), (long long)sh[d], d);
	if ((int64_t)list_len(v) != sh[d])
		return vm_raise(vm, "tensor.from_list: ragged list (length %zu where %lld was expected at depth %d)",
		                list_len(v), (long long)sh[d], d);
	for (size_t i = 0; i < list_len(v); i++)
		if (fill(vm, list_get(v, i), d + 1, nd, sh, dst) < 0)
			return -1;
	return 0;
}

static int t_from_list(flow_vm *vm, value *argv, int argc, value *out)
{
	value xs;
	if (sl_resolve(vm, argv[0], &xs) < 0)
		return -1;
	if (xs.t != V_LIST) {
		const char *t = sl_type_name(xs);
		val_rele(xs);
		return vm_raise(vm, "tensor.from_list: expected a list, not %s", t);
	}
	int nd = 0;
	int64_t sh[TENSOR_MAX_DIMS];
	for (value v = xs; v.t == V_LIST; v = list_get(v, 0)) {
		if (nd == TENSOR_MAX_DIMS) {
			val_rele(xs);
			return vm_raise(vm, "tensor.from_list: more than %d dimensions", TENSOR_MAX_DIMS);
		}
		sh[nd++] = (int64_t)list_len(v);
		if (list_len(v) == 0)
			break;
	}
	value t;
	if (new_tensor(vm, "from_list", nd, sh, &t) < 0) {
		val_rele(xs);
		return -1;
	}
	double *p = tensor_of(t)->data;
	int r = fill(vm, xs, 0, nd, sh, &p);
	val_rele(xs);
	if (r < 0) {
		val_rele(t);
		return -1;
	}
	*out = t;
	return 0;
}

static value to_list(const vtensor *t, int d, const double **p)
{
	if (d == t->ndim)
		return v_float(*(*p)++);
	value l = list_new((size_t)t->shape[d]);
	for (int64_t i = 0; i < t->shape[d]; i++)
		list_append_take(l, to_list(t, d + 1, p));
	return l;
}

static int t_to_list(flow_vm *vm, value *argv, int argc, value *out)
{
	if (need_tensor(vm, argv[0], "to_list") < 0)
		return -1;
	const double *p = tensor_of(argv[0])->data;
	*out = to_list(tensor_of(argv[0]), 0, &p);
	return 0;
}

static int t_shape(flow_vm *vm, value *argv, int argc, value *out)
{
	if (need_tensor(vm, argv[0], "shape") < 0)
		return -1;
	const vtensor *t = tensor_of(argv[0]);
	value l = list_new((size_t)t->ndim);
	for (int i = 0; i < t->ndim; i++)
		list_append_take(l, v_int(t->shape[i]));
	*out = l;
	return 0;
}

static int t_matmul(flow_vm *vm, value *argv, int argc, value *out)
{
	verr e;
	if (tensor_matmul(argv[0], argv[1], out, &e) < 0)
		return vm_raise(vm, "tensor.%s", e.msg);
	return 0;
}

static int t_dot(flow_vm *vm, value *argv, int argc, value *out)
{
	verr e;
	if (argv[0].t == V_TENSOR && argv[1].t == V_TENSOR && tensor_of(argv[0])->ndim == 1 &&
	    tensor_of(argv[1])->ndim == 1 && tensor_of(argv[0])->shape[0] != tensor_of(argv[1])->shape[0]) {
		char sa[64], sb[64];
		return vm_raise(vm, "tensor.dot: shapes %s and %s differ", tensor_shape_str(argv[0], sa, sizeof sa),
		                tensor_shape_str(argv[1], sb, sizeof sb));
	}
	if (tensor_matmul(argv[0], argv[1], out, &e) < 0)
		return vm_raise(vm, "tensor.dot: %s", strncmp(e.msg, "matmul: ", 8) ? e.msg : e.msg + 8);
	return 0;
}

static int t_transpose(flow_vm *vm, value *argv, int argc, value *out)
{
	if (need_tensor(vm, argv[0], "transpose") < 0)
		return -1;
	const vtensor *x = tensor_of(argv[0]);
	int nd = x->ndim;
	int64_t shape[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
	/* Reverses the axes; strides are those of x, read in reverse. */
	int64_t s = 1;
	for (int i = nd - 1; i >= 0; i--) {
		stride[i] = s;
		s *= x->shape[i];
	}
	for (int i = 0; i < nd; i++)
		shape[i] = x->shape[nd - 1 - i];
	if (new_tensor(vm, "transpose", nd, shape, out) < 0)
		return -1;
	double *dst = tensor_of(*out)->data;
	int64_t idx[TENSOR_MAX_DIMS] = { 0 };
	for (size_t k = 0; k < x->size; k++) {
		int64_t off = 0;
		for (int i = 0; i < nd; i++)
			off += idx[i] * stride[nd - 1 - i];
		dst[k] = x->data[off];
		for (int i = nd - 1; i >= 0; i--) { /* next index of the output, row-major */
			if (++idx[i] < shape[i])
				break;
			idx[i] = 0;
		}
	}
	return 0;
}

static int t_reshape(flow_vm *vm, value *argv, int argc, value *out)
{
	if (need_tensor(vm, argv[0], "reshape") < 0)
		return -1;
	const vtensor *x = tensor_of(argv[0]);
	int nd;
	int64_t sh[TENSOR_MAX_DIMS];
	/* -1 for one dimension means "whatever is left". */
	value spec = argv[1];
	int infer = -1;
	if (spec.t == V_LIST && list_len(spec) <= TENSOR_MAX_DIMS) {
		value c = sl_list_copy(spec);
		for (size_t i = 0; i < list_len(c); i++)
			if (list_get(c, i).t == V_INT && list_get(c, i).as.i == -1) {
				if (infer >= 0) {
					val_rele(c);
					return vm_raise(vm, "tensor.reshape: only one dimension can be -1");
				}
				infer = (int)i;
				list_set(c, i, v_int(1));
			}
		int r = get_shape(vm, c, "reshape", &nd, sh);
		val_rele(c);
		if (r < 0)
			return -1;
	} else if (get_shape(vm, spec, "reshape", &nd, sh) < 0) {
		return -1;
	}
	size_t size = 1;
	bool over = false;
	for (int i = 0; i < nd; i++)
		over |= __builtin_mul_overflow(size, (size_t)sh[i], &size);
	if (infer >= 0 && !over && size && x->size % size == 0) {
		sh[infer] = (int64_t)(x->size / size);
		size = x->size;
	}
	if (over || size != x->size) {
		char sa[128];
		sbuf b;
		sbuf_init(&b);
		tensor_shape_text(&b, nd, sh);
		int r = vm_raise(vm, "tensor.reshape: cannot reshape a tensor of shape %s (%zu elements) to %s",
		                 tensor_shape_str(argv[0], sa, sizeof sa), x->size, b.data);
		sbuf_fini(&b);
		return r;
	}
	if (new_tensor(vm, "reshape", nd, sh, out) < 0)
		return -1;
	if (x->size)
		memcpy(tensor_of(*out)->data, x->data, x->size * sizeof(double));
	return 0;
}

enum { R_SUM, R_MEAN, R_MIN, R_MAX };
static const char *const red_names[] = { "sum", "mean", "min", "max" };

static int reduce_all(flow_vm *vm, value t, int op, value *out)
{
	if (need_tensor(vm, t, red_names[op]) < 0)
		return -1;
	const vtensor *x = tensor_of(t);
	if (x->size == 0 && op != R_SUM)
		return vm_raise(vm, "tensor.%s of an empty tensor", red_names[op]);
	double acc = op == R_SUM || op == R_MEAN ? 0.0 : x->data[0];
	for (size_t i = 0; i < x->size; i++) {
		double d = x->data[i];
		if (op == R_SUM || op == R_MEAN)
			acc += d;
		else if (isnan(d) || (op == R_MIN ? d < acc : d > acc))
			acc = isnan(acc) ? acc : d; /* nan wins, as numpy's min/max */
	}
	if (op == R_MEAN)
		acc /= (double)x->size;
	*out = v_float(acc);
	return 0;
}

static int t_sum(flow_vm *vm, value *argv, int argc, value *out) { return reduce_all(vm, argv[0], R_SUM, out); }
static int t_mean(flow_vm *vm, value *argv, int argc, value *out) { return reduce_all(vm, argv[0], R_MEAN, out); }
static int t_min(flow_vm *vm, value *argv, int argc, value *out) { return reduce_all(vm, argv[0], R_MIN, out); }
static int t_max(flow_vm *vm, value *argv, int argc, value *out) { return reduce_all(vm, argv[0], R_MAX, out); }

static const native_def fns[] = {
	{ "zeros", t_zeros, "shape", 0 },
	{ "ones", t_ones, "shape", 0 },
	{ "normal", t_normal, "shape,mean=0.0,std=1.0", NATIVE_RANDOM },
	{ "arange", t_arange, "n", 0 },
	{ "from_list", t_from_list, "xs", 0 },
	{ "to_list", t_to_list, "t", 0 },
	{ "shape", t_shape, "t", 0 },
	{ "matmul", t_matmul, "a,b", 0 },
	{ "dot", t_dot, "a,b", 0 },
	{ "transpose", t_transpose, "t", 0 },
	{ "reshape", t_reshape, "t,shape", 0 },
	{ "sum", t_sum, "t", 0 },
	{ "mean", t_mean, "t", 0 },
	{ "min", t_min, "t", 0 },
	{ "max", t_max, "t", 0 },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_tensor = { "tensor", fns, NULL };
