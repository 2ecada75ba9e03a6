/* backoff.c - exponential backoff with full jitter; xoshiro256** seeded by
 * splitmix64 (both after Blackman and Vigna, public domain). */
#include "common/backoff.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void backoff_rng_seed(backoff_rng_t *rng, uint64_t seed)
{
    int i;

    /* splitmix64 never yields four zero words, so the state is never stuck. */
    for (i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

uint64_t backoff_rng_next(backoff_rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

int64_t backoff_ceiling_ms(int attempt, int64_t initial_ms, int64_t max_ms)
{
    int64_t c;
    int i;

    if (max_ms <= 0)
        return 0;
    if (initial_ms <= 0)
        initial_ms = 1;
    if (initial_ms >= max_ms)
        return max_ms;
    if (attempt < 1)
        attempt = 1;
    /* Doubling stops at max_ms, so it never overflows (at most 63 steps). */
    c = initial_ms;
    for (i = 1; i < attempt; i++) {
        if (c > max_ms / 2)
            return max_ms;
        c *= 2;
    }
    return c;
}

/* Uniform in [0, n) without modulo bias (rejects the short last slice). */
static uint64_t uniform_below(backoff_rng_t *rng, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;

    do {
        r = backoff_rng_next(rng);
    } while (r >= limit);
    return r % n;
}

int64_t backoff_probe_delay_ms(backoff_rng_t *rng, int attempt, int64_t initial_ms, int64_t max_ms)
{
    int64_t cap = max_ms > BACKOFF_PROBE_MAX_MS   ? BACKOFF_PROBE_MAX_MS
                  : max_ms < BACKOFF_PROBE_MIN_MS ? BACKOFF_PROBE_MIN_MS
                                                  : max_ms;
    int64_t base = initial_ms < BACKOFF_PROBE_MIN_MS ? BACKOFF_PROBE_MIN_MS : initial_ms;
    int64_t c = backoff_ceiling_ms(attempt, base, cap);
    int64_t lo = c / 2 < BACKOFF_PROBE_MIN_MS ? BACKOFF_PROBE_MIN_MS : c / 2;
    return lo + (int64_t)uniform_below(rng, (uint64_t)(c - lo) + 1);
}

int64_t backoff_delay_ms(backoff_rng_t *rng, int attempt, int64_t initial_ms, int64_t max_ms)
{
    int64_t c = backoff_ceiling_ms(attempt, initial_ms, max_ms);

    if (c <= 0)
        return 0;
    /* c <= INT64_MAX, so c + 1 fits in uint64_t. */
    return (int64_t)uniform_below(rng, (uint64_t)c + 1);
}
