/* mod_random.c - the `random` module. Every draw comes from the task's
 * seeded stream (vm_rng), so a run repeats exactly with the same --seed. */
#include <math.h>

#include "stdlib_impl.h"

/* Uniform integer in [0, n) without modulo bias; n == 0 means 2^64. */
static uint64_t below(flow_rng *r, uint64_t n)
{
	if (n == 0)
		return rng_next(r);
	uint64_t lim = UINT64_MAX - UINT64_MAX % n; /* multiples of n fit below lim */
	uint64_t x;
	do
		x = rng_next(r);
	while (x >= lim);
	return x % n;
}

/* A standard normal draw (Box-Muller; one of the pair is dropped so a
 * stream's position depends only on the number of calls). */
static double std_normal(flow_rng *r)
{
	double u1 = 1.0 - rng_double(r); /* (0, 1]: log(u1) is finite */
	double u2 = rng_double(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double sl_normal(flow_rng *r, double mean, double std)
{
	return mean + std * std_normal(r);
}

void sl_normal_fill(flow_rng *r, double mean, double std, double *out, size_t n)
{
	/* both values of each Box-Muller pair: half the logs and draws */
	size_t i = 0;
	for (; i + 1 < n; i += 2) {
		double u1 = 1.0 - rng_double(r);
		double u2 = rng_double(r);
		double rad = sqrt(-2.0 * log(u1)), s, c;
		sincos(2.0 * M_PI * u2, &s, &c);
		out[i] = mean + std * rad * c;
		out[i + 1] = mean + std * rad * s;
	}
	if (i < n)
		out[i] = mean + std * std_normal(r);
}

static int r_uniform(flow_vm *vm, value *argv, int argc, value *out)
{
	double a, b;
	if (sl_num(vm, argv[0], "random.uniform", "a", &a) < 0 ||
	    sl_num(vm, argv[1], "random.uniform", "b", &b) < 0)
		return -1;
	*out = v_float(a + (b - a) * rng_double(vm_rng(vm)));
	return 0;
}

static int r_random(flow_vm *vm, value *argv, int argc, value *out)
{
	*out = v_float(rng_double(vm_rng(vm)));
	return 0;
}

static int r_normal(flow_vm *vm, value *argv, int argc, value *out)
{
	double m, s;
	if (sl_num(vm, argv[0], "random.normal", "mean", &m) < 0 ||
	    sl_num(vm, argv[1], "random.normal", "std", &s) < 0)
		return -1;
	if (s < 0)
		return vm_raise(vm, "random.normal: std must be non-negative");
	*out = v_float(sl_normal(vm_rng(vm), m, s));
	return 0;
}

static int r_randint(flow_vm *vm, value *argv, int argc, value *out)
{
	int64_t a, b;
	if (sl_int(vm, argv[0], "random.randint", "a", &a) < 0 ||
	    sl_int(vm, argv[1], "random.randint", "b", &b) < 0)
		return -1;
	if (a > b)
		return vm_raise(vm, "random.randint: empty range (%lld > %lld)", (long long)a, (long long)b);
	uint64_t span = (uint64_t)b - (uint64_t)a + 1; /* 0 when the range is all of int64 */
	*out = v_int((int64_t)((uint64_t)a + below(vm_rng(vm), span)));
	return 0;
}

static int r_shuffle(flow_vm *vm, value *argv, int argc, value *out)
{
	value xs = argv[0];
	if (xs.t != V_LIST)
		return vm_raise(vm, "random.shuffle: expected a list, not %s", sl_type_name(xs));
	if (val_is_frozen(xs))
		return vm_raise(vm, "random.shuffle: this list is frozen (it was shared with a task); "
		                "shuffle a copy: let ys = list(xs)");
	vlist *l = list_of(xs);
	flow_rng *r = vm_rng(vm);
	for (size_t i = l->len; i > 1; i--) { /* Fisher-Yates */
		size_t j = (size_t)below(r, i);
		value t = l->items[i - 1];
		l->items[i - 1] = l->items[j];
		l->items[j] = t;
	}
	*out = v_none();
	return 0;
}

static int r_choice(flow_vm *vm, value *argv, int argc, value *out)
{
	value l;
	if (sl_items(vm, argv[0], "random.choice", &l) < 0)
		return -1;
	if (list_len(l) == 0) {
		val_rele(l);
		return vm_raise(vm, "random.choice: empty list");
	}
	*out = val_hold(list_get(l, below(vm_rng(vm), list_len(l))));
	val_rele(l);
	return 0;
}

static const native_def fns[] = {
	{ "uniform", r_uniform, "a,b", NATIVE_RANDOM },
	{ "random", r_random, "", NATIVE_RANDOM },
	{ "normal", r_normal, "mean=0.0,std=1.0", NATIVE_RANDOM },
	{ "randint", r_randint, "a,b", NATIVE_RANDOM },
	{ "shuffle", r_shuffle, "xs", NATIVE_RANDOM | NATIVE_SHAPE },
	{ "choice", r_choice, "xs", NATIVE_RANDOM | NATIVE_SHAPE },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_random = { "random", fns, NULL };
