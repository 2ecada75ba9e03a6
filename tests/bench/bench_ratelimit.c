/* bench_ratelimit.c - figures for the call-start limiter. Prints, never fails.
 *
 *   1. CPU cost: ns per ratelimit_acquire() call on a simulated clock.
 *   2. Real clock: for 5 s each at R = 20 and R = 200, a backlog that sleeps
 *      (clock_nanosleep, CLOCK_MONOTONIC, absolute) until the returned wait;
 *      prints the achieved rate, the most starts in any 1 s window, the
 *      precision (achieved / R) and how late the wake-ups were; then R = 20
 *      again with every wait rounded up to whole milliseconds (a loop whose
 *      poll timeout is in ms).
 *
 * Usage: bench_ratelimit [seconds-per-real-run] (default 5). */
#include "common/ratelimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_us(int64_t t)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(t / 1000000);
    ts.tv_nsec = (long)(t % 1000000) * 1000;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Most starts in any half-open window of len_us (starts sorted). */
static size_t max_in_window(const int64_t *t, size_t n, int64_t len_us)
{
    size_t lo = 0, hi, best = 0;

    for (hi = 0; hi < n; hi++) {
        while (t[hi] - t[lo] >= len_us)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}

static void bench_cpu(double rate, int64_t step_us, long calls)
{
    ratelimit_t *rl = ratelimit_new(rate, 0);
    int64_t now = 0, t0, t1;
    long i, taken = 0;

    if (!rl) {
        printf("cpu: ratelimit_new failed\n");
        return;
    }
    t0 = mono_ns();
    for (i = 0; i < calls; i++) {
        if (ratelimit_acquire(rl, now) == 0)
            taken++;
        now += step_us;
    }
    t1 = mono_ns();
    printf("cpu: R=%-6g clock step %4lld us: %.1f ns per acquire (%ld calls, %ld taken)\n", rate,
           (long long)step_us, (double)(t1 - t0) / (double)calls, calls, taken);
    ratelimit_destroy(rl);
}

/* round_ms: sleep for the wait rounded up to whole milliseconds, as a loop
 * whose poll timeout is in ms would. */
static void bench_real(double rate, int seconds, int round_ms)
{
    size_t cap = (size_t)(rate * seconds * 2) + 16, n = 0;
    int64_t *starts = malloc(cap * sizeof(*starts));
    ratelimit_t *rl;
    int64_t t0, end, now, late_sum = 0, late_max = 0, target = -1;
    size_t wakes = 0;
    double achieved;

    rl = starts ? ratelimit_new(rate, mono_us()) : NULL;
    if (!rl) {
        printf("real: allocation failed\n");
        free(starts);
        return;
    }
    t0 = mono_us();
    end = t0 + (int64_t)seconds * 1000000;
    for (now = t0; now < end && n < cap; now = mono_us()) {
        int64_t w = ratelimit_acquire(rl, now);
        if (target >= 0) {
            int64_t late = now - target;
            late_sum += late;
            if (late > late_max)
                late_max = late;
            wakes++;
            target = -1;
        }
        if (w == 0) {
            starts[n++] = now;
            continue;
        }
        target = now + w;
        sleep_until_us(round_ms ? now + (w + 999) / 1000 * 1000 : target);
    }
    achieved = (double)n / seconds;
    printf("real: R=%-4g %d s%s: %zu starts, achieved %.3f/s, precision %.2f%% of R, "
           "max %zu in any 1 s window (cap %.0f), wake-up late by %.0f us mean / %lld us max\n",
           rate, seconds, round_ms ? " (ms-rounded waits)" : "", n, achieved,
           100.0 * achieved / rate, max_in_window(starts, n, 1000000),
           rate < 1 ? 1.0 : (double)(size_t)rate, wakes ? (double)late_sum / (double)wakes : 0.0,
           (long long)late_max);
    ratelimit_destroy(rl);
    free(starts);
}

/* Replicas sharing R = 20 on simulated time: the plain share of the rate
 * (each floor(share) per window) against the slot grid. Prints the combined
 * rate and the most starts in any 1 s window. */
static void bench_replicas(int replicas, int parts)
{
    enum { SECONDS = 120, MAXN = 4096 };
    static int64_t starts[MAXN];
    for (int grid = 0; grid < 2; grid++) {
        ratelimit_t *rl[8];
        int64_t next[8];
        size_t n = 0;
        for (int i = 0; i < replicas; i++) {
            int owned[64], cnt = 0;
            for (int p = i; p < parts; p += replicas)
                owned[cnt++] = p;
            rl[i] = ratelimit_new(20.0 * cnt / parts, 0);
            if (grid)
                ratelimit_set_grid(rl[i], 20.0, owned, (size_t)cnt, parts, 1796000000000000LL);
            next[i] = 0;
        }
        for (;;) {
            int i = 0;
            for (int j = 1; j < replicas; j++)
                if (next[j] < next[i])
                    i = j;
            if (next[i] >= (int64_t)SECONDS * 1000000 || n >= MAXN)
                break;
            int64_t w = ratelimit_acquire(rl[i], next[i]);
            if (w == 0)
                starts[n++] = next[i];
            else
                next[i] += w;
        }
        for (int i = 1; i < (int)n; i++) /* merge order: insertion sort, nearly sorted */
            for (int j = i; j > 0 && starts[j] < starts[j - 1]; j--) {
                int64_t t = starts[j];
                starts[j] = starts[j - 1];
                starts[j - 1] = t;
            }
        printf("replicas: %d over %d partitions, R=20, %s: %.2f calls/s combined (%.1f%%), "
               "max %zu in any 1 s window\n",
               replicas, parts, grid ? "slot grid" : "share of the rate", (double)n / SECONDS,
               (double)n / SECONDS / 20 * 100, max_in_window(starts, n, 1000000));
        for (int i = 0; i < replicas; i++)
            ratelimit_destroy(rl[i]);
    }
}

int main(int argc, char **argv)
{
    int seconds = 5;

    if (argc > 1) {
        char *endp;
        long v = strtol(argv[1], &endp, 10);
        if (*argv[1] == '\0' || *endp != '\0' || v < 1 || v > 3600) {
            fprintf(stderr, "usage: %s [seconds-per-real-run 1..3600]\n", argv[0]);
            return 64;
        }
        seconds = (int)v;
    }
    bench_cpu(20, 1000, 20000000);  /* mostly refused */
    bench_cpu(20, 51000, 20000000); /* every call taken */
    bench_cpu(1000, 100, 20000000); /* larger ring */
    bench_replicas(3, 6);
    bench_replicas(3, 4);
    bench_replicas(2, 3);
    bench_real(20, seconds, 0);
    bench_real(200, seconds, 0);
    bench_real(20, seconds, 1);
    return 0;
}
