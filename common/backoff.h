/* backoff.h - exponential backoff with full jitter, and a small PRNG.
 *
 * Pure functions: no clock, no global state. The PRNG (xoshiro256**) is a
 * value the caller owns; it is for jitter only, never for secrets. */
#ifndef ZU_BACKOFF_H
#define ZU_BACKOFF_H

#include <stdint.h>

typedef struct backoff_rng {
    uint64_t s[4];
} backoff_rng_t;

/* Seeds from a 64-bit value (splitmix64 expansion). */
void backoff_rng_seed(backoff_rng_t *rng, uint64_t seed);
uint64_t backoff_rng_next(backoff_rng_t *rng);

/* Delay before retry number `attempt` (1 = the first retry):
 * uniform in [0, min(max_ms, initial_ms * 2^(attempt-1))], overflow-safe.
 * initial_ms and max_ms are > 0; attempt < 1 is treated as 1. (Outside that
 * contract: max_ms <= 0 gives 0, initial_ms <= 0 acts as 1.) Unbiased. */
int64_t backoff_delay_ms(backoff_rng_t *rng, int attempt, int64_t initial_ms, int64_t max_ms);

/* The capped, unjittered ceiling of the same schedule (for logs, tests and
 * the systemic-pause probe, which uses it without jitter below half). */
int64_t backoff_ceiling_ms(int attempt, int64_t initial_ms, int64_t max_ms);

/* The probes of a pause (ZIM's or the schema registry's): the ceiling grows
 * from max(initial_ms, 1 s) by doubling up to max_ms, but never beyond 10 s
 * nor under 1 s (a start above the cap starts at the cap), and the delay is
 * jittered in the ceiling's upper half, never under 1 s: never hammering,
 * never stalling much longer. attempt 1 is the pause's first probe. */
#define BACKOFF_PROBE_MIN_MS 1000
#define BACKOFF_PROBE_MAX_MS 10000
int64_t backoff_probe_delay_ms(backoff_rng_t *rng, int attempt, int64_t initial_ms, int64_t max_ms);

#endif
