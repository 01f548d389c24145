/* rng.h - xoshiro256** random stream, seeded with splitmix64.
 * Deterministic given a seed: the executor seeds one stream per task from
 * the run's --seed and the task's identity, so runs repeat exactly. */
#ifndef FLOW_RNG_H
#define FLOW_RNG_H

#include <stdint.h>

typedef struct flow_rng {
	uint64_t s[4];
} flow_rng;

static inline uint64_t rng_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void rng_seed(flow_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = rng_splitmix(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(flow_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return result;
}

/* Uniform double in [0, 1). */
static inline double rng_double(flow_rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Mixes a seed with a task identity (e.g. its call index) for a stream. */
static inline uint64_t rng_mix(uint64_t seed, uint64_t id)
{
	uint64_t x = seed ^ (id * 0xd1b54a32d192ed03ull);
	return rng_splitmix(&x);
}

#endif
