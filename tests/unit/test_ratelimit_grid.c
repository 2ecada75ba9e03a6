/* test_ratelimit_grid.c - the limiter's slot grid: simulated replicas of
 * one group sharing the AppId budget on one true clock, with skewed wall
 * clocks, rebalances and slow-downs (the single limiter:
 * test_ratelimit.c). */
#include "common/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tt.h"

#define WIN (1000000LL + RATELIMIT_JITTER_US)

#define GRID_MAX_STARTS 4096
#define GRID_WALL_BASE  1796000000000000LL /* a Unix time in microseconds */

typedef struct sim_replica {
    ratelimit_t *rl;
    int64_t skew_us; /* its wall clock minus the true one */
    int64_t next_us; /* when it tries again (its backlog never empties) */
    int starts;
} sim_replica_t;

typedef struct sim {
    sim_replica_t r[4];
    int n;
    int64_t at[GRID_MAX_STARTS]; /* true times of every start, in order */
    int nat;
} sim_t;

static void sim_set(sim_t *sm, int i, const int *owned, size_t cnt, int total)
{
    TT_EQ_INT(
        ratelimit_set_grid(sm->r[i].rl, 20.0, owned, cnt, total, GRID_WALL_BASE + sm->r[i].skew_us),
        0);
}

/* Runs every replica on one true clock from `from` to `to` microseconds. */
static void sim_run(sim_t *sm, int64_t from, int64_t to)
{
    for (int i = 0; i < sm->n; i++)
        if (sm->r[i].next_us < from)
            sm->r[i].next_us = from;
    for (;;) {
        int i = 0;
        for (int j = 1; j < sm->n; j++)
            if (sm->r[j].next_us < sm->r[i].next_us)
                i = j;
        int64_t now = sm->r[i].next_us;
        if (now >= to)
            return;
        int64_t w = ratelimit_acquire(sm->r[i].rl, now);
        if (w == 0) {
            sm->r[i].starts++;
            if (sm->nat < GRID_MAX_STARTS)
                sm->at[sm->nat++] = now;
        } else {
            sm->r[i].next_us = now + w;
        }
    }
}

/* The largest number of starts (all replicas) in any window of win_us. */
static int sim_max_in_window(const sim_t *sm, int64_t win_us)
{
    int best = 0;
    for (int i = 0, j = 0; i < sm->nat; i++) {
        while (sm->at[i] - sm->at[j] >= win_us)
            j++;
        if (i - j + 1 > best)
            best = i - j + 1;
    }
    return best;
}

static void sim_init(sim_t *sm, int n, const int64_t *skews)
{
    memset(sm, 0, sizeof(*sm));
    sm->n = n;
    for (int i = 0; i < n; i++) {
        sm->r[i].rl = ratelimit_new(20.0, 0);
        sm->r[i].skew_us = skews[i];
    }
}

static void sim_free(sim_t *sm)
{
    for (int i = 0; i < sm->n; i++)
        ratelimit_destroy(sm->r[i].rl);
}

/* 3 replicas over 6 and over 4 partitions: together they spend >= 97% of
 * the budget, never more than 20 in any second, each its partitions'
 * fraction; also with wall clocks 5 ms apart either way. */
static void test_grid_shares(void)
{
    static const int64_t aligned[3] = {0, 0, 0}, skewed[3] = {5000, -5000, 2000};
    const int64_t *skews[2] = {aligned, skewed};
    for (int sk = 0; sk < 2; sk++) {
        for (int split = 0; split < 2; split++) {
            sim_t sm;
            sim_init(&sm, 3, skews[sk]);
            int total = split ? 4 : 6;
            static const int own6[3][2] = {{0, 3}, {1, 4}, {2, 5}};
            static const int own4[3][2] = {{0, 2}, {1, -1}, {3, -1}};
            for (int i = 0; i < 3; i++)
                sim_set(&sm, i, split ? own4[i] : own6[i], split && i ? 1 : 2, total);
            sim_run(&sm, 0, 60 * 1000000LL);
            double rate = sm.nat / 60.0;
            TT_CHECK(rate >= 0.97 * 20.0);
            /* 21 starts never fall in 1 s (true time): the server's count,
             * with clocks 5 ms apart, stays within the budget. */
            TT_CHECK(sim_max_in_window(&sm, 1000000) <= 20);
            for (int i = 0; i < 3; i++) {
                int owned = split ? (i ? 1 : 2) : 2;
                double want = (double)sm.nat * owned / total;
                TT_CHECK(sm.r[i].starts >= want - 2 && sm.r[i].starts <= want + 2);
            }
            if (rate < 0.97 * 20.0 || sim_max_in_window(&sm, 1000000) > 20)
                fprintf(stderr, "  skew %d split %d: %.2f calls/s, max %d in 1 s\n", sk, split,
                        rate, sim_max_in_window(&sm, 1000000));
            sim_free(&sm);
        }
    }
}

/* Partitions move between replicas mid-run: the window bound holds across
 * the change and the budget is still spent; a replica that owns nothing
 * starts nothing. */
static void test_grid_rebalance(void)
{
    static const int64_t skews[3] = {3000, -3000, 0};
    static const int a[2] = {0, 1}, b[2] = {2, 3}, c[2] = {4, 5}, ab[3] = {0, 1, 2};
    static const int cd[3] = {3, 4, 5};
    sim_t sm;
    sim_init(&sm, 3, skews);
    sim_set(&sm, 0, a, 2, 6);
    sim_set(&sm, 1, b, 2, 6);
    sim_set(&sm, 2, c, 2, 6);
    sim_run(&sm, 0, 10 * 1000000LL);
    /* Replica 1 leaves: its partitions go to the others. */
    sim_set(&sm, 1, NULL, 0, 6);
    int before = sm.r[1].starts;
    sim_set(&sm, 0, ab, 3, 6);
    sim_set(&sm, 2, cd, 3, 6);
    sim_run(&sm, 10 * 1000000LL, 20 * 1000000LL);
    TT_EQ_INT(sm.r[1].starts, before);
    TT_CHECK(sim_max_in_window(&sm, 1000000) <= 20);
    TT_CHECK(sm.nat / 20.0 >= 0.97 * 20.0);
    /* Off again: the plain limiter at its rate. */
    ratelimit_clear_grid(sm.r[0].rl);
    TT_EQ_INT(ratelimit_acquire(sm.r[0].rl, 30 * 1000000LL), 0);
    TT_CHECK(ratelimit_grid_share(sm.r[0].rl) == 20.0);
    TT_EQ_INT(ratelimit_set_grid(sm.r[0].rl, 20.0, ab, 3, 0, 0), -1); /* no partitions */
    sim_free(&sm);
}

/* A slow-down under the grid uses a fraction of the own slots. */
static void test_grid_slow_down(void)
{
    static const int64_t skews[1] = {0};
    static const int all[2] = {0, 1};
    sim_t sm;
    sim_init(&sm, 1, skews);
    sim_set(&sm, 0, all, 2, 2);
    TT_CHECK(ratelimit_grid_share(sm.r[0].rl) > 19.5);
    sim_run(&sm, 0, 2000000);
    int before = sm.nat;
    ratelimit_slow_down(sm.r[0].rl, 2000000);
    sim_run(&sm, 2000000, 6000000);
    /* Halved at once, counting the starts already made: until f reaches
     * 0.55 (2.5 s) no window ending at a start holds more than 10; the rate
     * then recovers by 2/s per second. */
    for (int i = before - 10; i + 10 < sm.nat && sm.at[i + 10] < 2500000; i++)
        TT_CHECK(sm.at[i + 10] - sm.at[i] >= WIN);
    int s3 = 0, s5 = 0;
    for (int i = before; i < sm.nat; i++) {
        s3 += sm.at[i] >= 2000000 && sm.at[i] < 3000000;
        s5 += sm.at[i] >= 5000000;
    }
    TT_CHECK(s3 >= 4 && s3 <= 10);
    TT_CHECK(s5 >= 14 && s5 <= 17);
    sim_free(&sm);
}

/* ---- late sends: the first request on a new connection arrives late ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Three replicas over 6 partitions; every late_every-th call of replica 0
 * (and, offset, of replica 1) reaches the server late_us after its slot and
 * is reported when it is sent (report = 0: never reported). Returns the
 * most arrivals in any 1000 ms window; *calls gets how many there were. */
static int late_run(int late_every, int64_t late_us, int report, int *calls)
{
    static const int64_t skews[3] = {4000, -4000, 0};
    static const int own[3][2] = {{0, 3}, {1, 4}, {2, 5}};
    static int64_t arr[GRID_MAX_STARTS];
    int64_t pend_start[3][64], pend_sent[3][64];
    int npend[3] = {0, 0, 0}, n = 0, best = 0;
    sim_t sm;

    sim_init(&sm, 3, skews);
    for (int i = 0; i < 3; i++)
        sim_set(&sm, i, own[i], 2, 6);
    for (;;) {
        int i = 0;
        for (int j = 1; j < sm.n; j++)
            if (sm.r[j].next_us < sm.r[i].next_us)
                i = j;
        int64_t now = sm.r[i].next_us;
        if (now >= 60 * 1000000LL || n >= GRID_MAX_STARTS)
            break;
        /* Sends that happened by now are reported first, in order. */
        int keep = 0;
        for (int p = 0; p < npend[i]; p++) {
            if (pend_sent[i][p] <= now) {
                ratelimit_sent(sm.r[i].rl, pend_start[i][p], pend_sent[i][p]);
            } else {
                pend_start[i][keep] = pend_start[i][p];
                pend_sent[i][keep++] = pend_sent[i][p];
            }
        }
        npend[i] = keep;
        int64_t w = ratelimit_acquire(sm.r[i].rl, now);
        if (w > 0) {
            sm.r[i].next_us = now + w;
            continue;
        }
        sm.r[i].starts++;
        int late = i < 2 && (sm.r[i].starts + 3 * i) % late_every == 0;
        arr[n++] = now + (late ? late_us : 0);
        if (late && report && npend[i] < 64) {
            pend_start[i][npend[i]] = now;
            pend_sent[i][npend[i]++] = now + late_us;
        }
    }
    sim_free(&sm);
    qsort(arr, (size_t)n, sizeof(arr[0]), cmp_i64);
    for (int a = 0, b = 0; a < n; a++) {
        while (arr[a] - arr[b] >= 1000000)
            b++;
        if (a - b + 1 > best)
            best = a - b + 1;
    }
    *calls = n;
    return best;
}

/* A late send under the grid leaves an own slot empty so that no 1000 ms
 * window at the server holds more than 20, whatever the set-up time up to
 * most of a second; unreported, the same sends put 21 into a window. The
 * cost is one slot per late send. */
static void test_grid_late_send(void)
{
    static const int64_t lates[] = {15000, 60000, 150000, 400000, 800000};
    for (size_t i = 0; i < sizeof(lates) / sizeof(lates[0]); i++) {
        int calls = 0, unreported = 0;
        int most = late_run(10, lates[i], 1, &calls);
        TT_CHECK(most <= 20);
        /* 20 slots per 1.02 s for 60 s, less one per late send (about a
         * tenth of two thirds of them), less the edges. */
        TT_CHECK(calls >= 1176 * 14 / 15 - 4);
        if (most > 20 || calls < 1176 * 14 / 15 - 4)
            fprintf(stderr, "  late %lld us: %d in 1000 ms, %d calls\n", (long long)lates[i], most,
                    calls);
        TT_CHECK(late_run(10, lates[i], 0, &unreported) > 20);
    }
}

int main(void)
{
    TT_RUN(test_grid_shares);
    TT_RUN(test_grid_rebalance);
    TT_RUN(test_grid_slow_down);
    TT_RUN(test_grid_late_send);
    TT_DONE();
}
