/*
** common/rng.h - small deterministic pseudo-random numbers (splitmix64), for filling tensors
** and drawing sweeps reproducibly from a seed.
*/
#ifndef CLEAVE_COMMON_RNG_H
#define CLEAVE_COMMON_RNG_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number generators", 2014). */
static inline uint64_t cl_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double cl_rng_uniform(uint64_t *state)
{
    return (double)(cl_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Fill P[0..N) with uniform values in [LO, HI). */
static inline void cl_rng_fill(float *p, size_t n, uint64_t *state, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * (float)cl_rng_uniform(state);
}

#endif /* CLEAVE_COMMON_RNG_H */
