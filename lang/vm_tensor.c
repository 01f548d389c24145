/* vm_tensor.c - the VM's tensor operators (@, t[i], t[i:j], iterating over
 * rows), delegated to the tensor core (tensor_ops.h). */
#include "vm_internal.h"
#include "tensor_ops.h"

int vm_matmul(flow_vm *vm, value a, value b, value *out)
{
	verr e;
	if (a.t != V_TENSOR || b.t != V_TENSOR)
		return vm_raise(vm, "unsupported operand types for @: %s and %s", vtype_name(a.t), vtype_name(b.t));
	if (tensor_matmul(a, b, out, &e))
		return vm_raise(vm, "%s", e.msg);
	return 0;
}

int vm_tensor_index(flow_vm *vm, value t, value idx, value *out)
{
	verr e;
	if (idx.t != V_INT)
		return vm_raise(vm, "tensor index must be int, got %s", vtype_name(idx.t));
	if (tensor_index(t, idx.as.i, out, &e))
		return vm_raise(vm, "%s", e.msg);
	return 0;
}

int vm_tensor_slice(flow_vm *vm, value t, bool has_lo, int64_t lo, bool has_hi, int64_t hi, value *out)
{
	verr e;
	if (tensor_slice(t, has_lo, lo, has_hi, hi, out, &e))
		return vm_raise(vm, "%s", e.msg);
	return 0;
}

/* `for row in t`: the rows (or floats of a 1-d tensor), as a list. */
int vm_tensor_rows(flow_vm *vm, value t, value *out)
{
	const vtensor *x = tensor_of(t);
	if (x->ndim == 0)
		return vm_raise(vm, "cannot iterate over a 0-d tensor");
	value l = list_new((size_t)x->shape[0]);
	for (int64_t j = 0; j < x->shape[0]; j++) {
		value r;
		verr e;
		if (tensor_index(t, j, &r, &e)) {
			val_rele(l);
			return vm_raise(vm, "%s", e.msg);
		}
		list_append_take(l, r);
	}
	*out = l;
	return 0;
}
