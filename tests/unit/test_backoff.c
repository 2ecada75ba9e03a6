/* test_backoff.c - exponential backoff with full jitter, and the PRNG. */
#include "common/backoff.h"

#include <stdlib.h>

#include "tests/unit/tt.h"

/* The published xoshiro256** sequence from state {1, 2, 3, 4}, and
 * splitmix64's first outputs for seed 0 (the seeded state). */
static void test_rng_vectors(void)
{
    backoff_rng_t r = {{1, 2, 3, 4}};

    TT_CHECK(backoff_rng_next(&r) == 11520ULL);
    TT_CHECK(backoff_rng_next(&r) == 0ULL);
    TT_CHECK(backoff_rng_next(&r) == 1509978240ULL);
    TT_CHECK(backoff_rng_next(&r) == 1215971899390074240ULL);

    backoff_rng_seed(&r, 0);
    TT_CHECK(r.s[0] == 0xe220a8397b1dcdafULL);
    TT_CHECK(r.s[1] == 0x6e789e6aa1b965f4ULL);
    TT_CHECK(r.s[2] == 0x06c45d188009454fULL);
    TT_CHECK(r.s[3] == 0xf88bb8a8724c81ecULL);
    TT_CHECK(backoff_rng_next(&r) == 0x99ec5f36cb75f2b4ULL);
}

static void test_rng_deterministic(void)
{
    backoff_rng_t a, b, c;
    int i, same_c = 0;

    backoff_rng_seed(&a, 12345);
    backoff_rng_seed(&b, 12345);
    backoff_rng_seed(&c, 12346);
    for (i = 0; i < 1000; i++) {
        uint64_t x = backoff_rng_next(&a), y = backoff_rng_next(&b);
        TT_CHECK(x == y);
        same_c += backoff_rng_next(&c) == x;
    }
    TT_EQ_INT(same_c, 0);
    /* The same seed gives the same delays. */
    backoff_rng_seed(&a, 99);
    backoff_rng_seed(&b, 99);
    for (i = 1; i < 200; i++)
        TT_EQ_INT(backoff_delay_ms(&a, i % 20, 250, 30000),
                  backoff_delay_ms(&b, i % 20, 250, 30000));
}

static void test_ceiling(void)
{
    TT_EQ_INT(backoff_ceiling_ms(1, 250, 30000), 250);
    TT_EQ_INT(backoff_ceiling_ms(2, 250, 30000), 500);
    TT_EQ_INT(backoff_ceiling_ms(3, 250, 30000), 1000);
    TT_EQ_INT(backoff_ceiling_ms(7, 250, 30000), 16000);
    TT_EQ_INT(backoff_ceiling_ms(8, 250, 30000), 30000);
    TT_EQ_INT(backoff_ceiling_ms(9, 250, 30000), 30000);
    TT_EQ_INT(backoff_ceiling_ms(0, 250, 30000), 250);  /* < 1 is 1 */
    TT_EQ_INT(backoff_ceiling_ms(-5, 250, 30000), 250); /* < 1 is 1 */
    TT_EQ_INT(backoff_ceiling_ms(1, 1, 30000), 1);
    TT_EQ_INT(backoff_ceiling_ms(15, 1, 30000), 16384);
    TT_EQ_INT(backoff_ceiling_ms(16, 1, 30000), 30000);
    /* Overflow-safe: huge attempts and huge caps. */
    TT_EQ_INT(backoff_ceiling_ms(1000, 250, 30000), 30000);
    TT_EQ_INT(backoff_ceiling_ms(2147483647, 1, INT64_MAX), INT64_MAX);
    TT_EQ_INT(backoff_ceiling_ms(63, 1, INT64_MAX), 4611686018427387904LL);
    TT_EQ_INT(backoff_ceiling_ms(64, 1, INT64_MAX), INT64_MAX);
    /* initial above max: max. */
    TT_EQ_INT(backoff_ceiling_ms(1, 5000, 1000), 1000);
    /* Outside the contract (<= 0): max <= 0 gives 0, initial <= 0 acts as 1. */
    TT_EQ_INT(backoff_ceiling_ms(3, 250, 0), 0);
    TT_EQ_INT(backoff_ceiling_ms(3, 0, 1000), 4);
    TT_EQ_INT(backoff_ceiling_ms(3, -7, 1000), 4);
}

static void test_delay_bounds(void)
{
    backoff_rng_t r;
    int attempt, i;

    backoff_rng_seed(&r, 1);
    for (attempt = -2; attempt <= 1000; attempt++) {
        int64_t c = backoff_ceiling_ms(attempt, 1, 30000);
        int64_t lo = INT64_MAX, hi = -1;
        for (i = 0; i < 200; i++) {
            int64_t d = backoff_delay_ms(&r, attempt, 1, 30000);
            if (d < lo)
                lo = d;
            if (d > hi)
                hi = d;
        }
        TT_CHECK(lo >= 0);
        TT_CHECK(hi <= c);
    }
    /* Initial 1 ms: the first retry is 0 or 1 ms, and both happen. */
    {
        int seen[2] = {0, 0};
        for (i = 0; i < 100; i++) {
            int64_t d = backoff_delay_ms(&r, 1, 1, 30000);
            TT_CHECK(d == 0 || d == 1);
            if (d == 0 || d == 1)
                seen[d]++;
        }
        TT_CHECK(seen[0] > 0 && seen[1] > 0);
    }
    /* The full range, with huge values, stays in bounds. */
    for (i = 0; i < 1000; i++) {
        int64_t d = backoff_delay_ms(&r, 1000, 1, INT64_MAX);
        TT_CHECK(d >= 0);
    }
    TT_EQ_INT(backoff_delay_ms(&r, 3, 250, 0), 0);
}

/* Full jitter is uniform on [0, c]: over 100k samples (fixed seed, so this is
 * deterministic) the mean is near c / 2 and every tenth of the range is hit
 * about equally often. */
static void test_delay_distribution(void)
{
    backoff_rng_t r;
    const int n = 100000;
    const int64_t c = 30000;
    int buckets[10] = {0};
    double sum = 0;
    int i;

    backoff_rng_seed(&r, 2024);
    for (i = 0; i < n; i++) {
        int64_t d = backoff_delay_ms(&r, 20, 250, c);
        sum += (double)d;
        buckets[d * 10 / (c + 1)]++;
    }
    TT_CHECK(sum / n > 0.48 * c && sum / n < 0.52 * c);
    for (i = 0; i < 10; i++)
        TT_CHECK(buckets[i] > n / 10 * 9 / 10 && buckets[i] < n / 10 * 11 / 10);
}

/* Pause probes: from max(initial, 1 s) up to min(max, 10 s), never beyond
 * 10 s nor under 1 s, jittered in the ceiling's upper half but not under
 * 1 s (the first probe is exactly 1 s away). */
static void test_probe_delay(void)
{
    backoff_rng_t rng;
    backoff_rng_seed(&rng, 7);
    static const struct {
        int attempt;
        int64_t initial, max, lo, hi;
    } c[] = {
        {1, 250, 30000, 1000, 1000},     /* the start is 1 s */
        {2, 250, 30000, 1000, 2000},     /* doubling */
        {9, 250, 30000, 5000, 10000},    /* capped at 10 s */
        {1, 60000, 120000, 5000, 10000}, /* a start above the cap starts at it */
        {1, 1, 1, 1000, 1000},           /* never under 1 s */
        {3, 500, 3000, 1500, 3000},      /* max_backoff_ms below 10 s caps */
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        for (int k = 0; k < 1000; k++) {
            int64_t d = backoff_probe_delay_ms(&rng, c[i].attempt, c[i].initial, c[i].max);
            TT_CHECK(d >= c[i].lo && d <= c[i].hi);
        }
}

int main(void)
{
    TT_RUN(test_rng_vectors);
    TT_RUN(test_rng_deterministic);
    TT_RUN(test_ceiling);
    TT_RUN(test_delay_bounds);
    TT_RUN(test_delay_distribution);
    TT_RUN(test_probe_delay);
    TT_DONE();
}
