/* mod_random.c - the `random` module. Every draw comes from the task's
 * seeded stream (vm_rng), so a run repeats exactly with the same --seed. */
#include <math.h>
#include <pthread.h>

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

/* tensor.normal's generator: Marsaglia and Tsang's ziggurat (2000), 256
 * layers of equal area under exp(-x*x/2). One 64-bit draw gives the
 * layer (its low 8 bits) and a signed uniform (its top 53 bits); about 99% of samples are accepted at once with a multiply and a
 * compare, the rest take a wedge or tail test. Four times faster than
 * Box-Muller (a log, a sqrt and a sincos per pair), which made
 * generating seed 000's matrices cost more than numpy's. The stream is
 * deterministic per seed, as before; the values differ from the
 * Box-Muller ones of earlier versions. */
#define ZIG_N 256
#define ZIG_R 3.6541528853610088   /* where the tail starts */
#define ZIG_V 0.00492867323399     /* the area of each layer */

static double zig_x[ZIG_N + 1]; /* layer i spans [0, zig_x[i]) at heights f(x[i])..f(x[i+1]) */
static double zig_f[ZIG_N + 1]; /* f(zig_x[i]) */
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_init(void)
{
	double f = exp(-0.5 * ZIG_R * ZIG_R);
	zig_x[0] = ZIG_V / f; /* the base: a rectangle of height f(R) and the tail */
	zig_x[1] = ZIG_R;
	for (int i = 2; i < ZIG_N; i++) {
		double y = ZIG_V / zig_x[i - 1] + exp(-0.5 * zig_x[i - 1] * zig_x[i - 1]);
		zig_x[i] = sqrt(-2.0 * log(y));
	}
	zig_x[ZIG_N] = 0.0;
	for (int i = 0; i <= ZIG_N; i++)
		zig_f[i] = exp(-0.5 * zig_x[i] * zig_x[i]);
	zig_f[0] = f; /* the base's top is f(R), its "width" is not a point on f */
}

static double zig_slow(flow_rng *r, unsigned i, double z)
{
	double sign = z < 0 ? -1.0 : 1.0;
	z = fabs(z);
	if (i == 0) {
		/* the tail beyond R (Marsaglia 1964) */
		double a, b;
		do {
			a = -log(1.0 - rng_double(r)) / ZIG_R;
			b = -log(1.0 - rng_double(r));
		} while (b + b < a * a);
		return sign * (ZIG_R + a);
	}
	/* the wedge between the rectangle and the curve */
	if (zig_f[i + 1] + rng_double(r) * (zig_f[i] - zig_f[i + 1]) < exp(-0.5 * z * z))
		return sign * z;
	return NAN; /* rejected: draw again */
}

static inline double zig_normal(flow_rng *r)
{
	for (;;) {
		uint64_t u = rng_next(r);
		unsigned i = (unsigned)(u & (ZIG_N - 1));
		/* the top 53 bits as a signed number: a uniform in (-1, 1) */
		double z = (double)((int64_t)u >> 11) * 0x1.0p-52 * zig_x[i];
		if (fabs(z) < zig_x[i + 1])
			return z; /* inside the rectangle under the curve */
		z = zig_slow(r, i, z);
		if (!isnan(z))
			return z;
	}
}

void sl_normal_fill(flow_rng *r, double mean, double std, double *out, size_t n)
{
	pthread_once(&zig_once, zig_init);
	for (size_t i = 0; i < n; i++)
		out[i] = mean + std * zig_normal(r);
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
