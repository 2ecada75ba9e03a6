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
    double rate; /* the AppId's, calls/s */
} sim_t;

static void sim_set(sim_t *sm, int i, const int *owned, size_t cnt, int total)
{
    TT_EQ_INT(ratelimit_set_grid(sm->r[i].rl, sm->rate, owned, cnt, total,
                                 GRID_WALL_BASE + sm->r[i].skew_us),
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

static void sim_init_rate(sim_t *sm, int n, const int64_t *skews, double rate)
{
    memset(sm, 0, sizeof(*sm));
    sm->n = n;
    sm->rate = rate;
    for (int i = 0; i < n; i++) {
        sm->r[i].rl = ratelimit_new(rate, 0);
        sm->r[i].skew_us = skews[i];
    }
}

static void sim_init(sim_t *sm, int n, const int64_t *skews)
{
    sim_init_rate(sm, n, skews, 20.0);
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

typedef struct grid_layout {
    int total;
    int cnt[3];
    int own[3][12];
} grid_layout_t;

static const grid_layout_t layouts[] = {
    {6, {2, 2, 2}, {{0, 3}, {1, 4}, {2, 5}}},                     /* 3 replicas over 6 */
    {6, {2, 2, 2}, {{0, 1}, {2, 3}, {4, 5}}},                     /* the same, moved */
    {12, {11, 1, 0}, {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11}}}, /* 2 over 12, 11:1 */
};

typedef struct late_case {
    int replicas;     /* the first ones of the layout */
    int layout;       /* 0, or 2 */
    int late_every;   /* every late_every-th call of replicas 0 and 1 is late */
    int64_t late_us;  /* by this much */
    int report;       /* 0: never reported */
    int64_t moves_us; /* layouts 0 and 1 in turn this often (0: never) */
    int storms;       /* instead: every call of replica 0 starting in
                       * [k, k + late_us) for even seconds k, all sent
                       * together at k + late_us */
    double rate;      /* the AppId's; 0: 20 */
} late_case_t;

static void late_layout(sim_t *sm, int layout)
{
    for (int i = 0; i < sm->n; i++)
        sim_set(sm, i, layouts[layout].own[i], (size_t)layouts[layout].cnt[i],
                layouts[layout].total);
}

/* Runs a late_case_t for 60 s: the late calls reach the server late_us after
 * their slot and are reported when they are sent. Returns the most arrivals
 * in any 1000 ms window; *calls gets how many there were. */
static int late_run(const late_case_t *lc, int *calls)
{
    static const int64_t skews[3] = {4000, -4000, 0};
    static int64_t arr[GRID_MAX_STARTS];
    int64_t pend_start[3][64], pend_sent[3][64];
    int npend[3] = {0, 0, 0}, n = 0, best = 0, layout = lc->layout;
    int64_t next_move = lc->moves_us;
    sim_t sm;

    sim_init_rate(&sm, lc->replicas, skews, lc->rate > 0 ? lc->rate : 20.0);
    late_layout(&sm, layout);
    for (;;) {
        int i = 0;
        for (int j = 1; j < sm.n; j++)
            if (sm.r[j].next_us < sm.r[i].next_us)
                i = j;
        int64_t now = sm.r[i].next_us;
        if (now >= 60 * 1000000LL || n >= GRID_MAX_STARTS)
            break;
        if (next_move > 0 && now >= next_move) {
            layout = !layout;
            late_layout(&sm, layout);
            next_move += lc->moves_us;
        }
        /* Sends that happened by now are reported first, in order. */
        int keep = 0;
        for (int p = 0; p < npend[i]; p++) {
            if (pend_sent[i][p] <= now) {
                ratelimit_sent(sm.r[i].rl, pend_start[i][p], pend_start[i][p], pend_sent[i][p]);
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
        int late = lc->storms ? i == 0 && now / 1000000 % 2 == 0 && now % 1000000 < lc->late_us
                              : i < 2 && (sm.r[i].starts + 3 * i) % lc->late_every == 0;
        int64_t sent = !late        ? now
                       : lc->storms ? now / 1000000 * 1000000 + lc->late_us
                                    : now + lc->late_us;
        arr[n++] = sent;
        if (late && lc->report) {
            TT_CHECK(npend[i] < 64);
            if (npend[i] < 64) {
                pend_start[i][npend[i]] = now;
                pend_sent[i][npend[i]++] = sent;
            }
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

/* Runs lc reported: no 1000 ms window at the server holds more than the
 * budget; then unreported: some window does. Returns the reported run's
 * calls. */
static int late_check(late_case_t lc, int budget)
{
    int calls = 0, unreported = 0;
    lc.report = 1;
    int most = late_run(&lc, &calls);
    TT_CHECK(most <= budget);
    if (most > budget)
        fprintf(stderr, "  late %lld us (storms %d, moves every %lld us): %d in 1000 ms\n",
                (long long)lc.late_us, lc.storms, (long long)lc.moves_us, most);
    lc.report = 0;
    TT_CHECK(late_run(&lc, &unreported) > budget);
    return calls;
}

/* A late send under the grid leaves an own slot empty so that no 1000 ms
 * window at the server holds more than 20, whatever the set-up time up to
 * most of a second; unreported, the same sends put 21 into a window. The
 * cost is one slot per late send. */
static void test_grid_late_send(void)
{
    static const int64_t lates[] = {15000, 60000, 150000, 400000, 800000};
    for (size_t i = 0; i < sizeof(lates) / sizeof(lates[0]); i++) {
        late_case_t lc = {3, 0, 10, lates[i], 1, 0, 0, 0};
        int calls = late_check(lc, 20);
        /* 20 slots per 1.02 s for 60 s, less one per late send (about a
         * tenth of two thirds of them), less the edges. */
        TT_CHECK(calls >= 1176 * 14 / 15 - 4);
    }
}

/* Connection storms: every call of one replica in the first part of every
 * other second is late, all sent together (each on a new connection, as
 * after the server stalled its accepts). At 40 calls/s a replica owning 11
 * of 12 partitions then owes more than 20 skips at once, and still no
 * window holds more than the budget. */
static void test_grid_connection_storms(void)
{
    static const int64_t lates[] = {300000, 600000, 800000};
    for (size_t i = 0; i < sizeof(lates) / sizeof(lates[0]); i++) {
        late_case_t lc = {2, 2, 1, lates[i], 1, 0, 1, 40.0};
        late_check(lc, 40);
    }
}

/* A limiter at 20 calls/s owning every slot of a 2-partition grid, and the
 * time of its first start (a slot's own time: the clock is moved to it). */
static ratelimit_t *grid_at_first_start(int64_t *t)
{
    static const int all[2] = {0, 1};
    ratelimit_t *rl = ratelimit_new(20.0, 0);
    int64_t w;
    TT_EQ_INT(ratelimit_set_grid(rl, 20.0, all, 2, 2, GRID_WALL_BASE), 0);
    *t = 0;
    while ((w = ratelimit_acquire(rl, *t)) > 0)
        *t += w;
    return rl;
}

/* A skip owed for a late send survives a rebalance: the new grid's own
 * slots lie in the same windows, so the first own slot after the late
 * arrival still stays empty. */
static void test_grid_skip_survives_rebalance(void)
{
    static const int all[2] = {0, 1};
    for (int moved = 0; moved < 2; moved++) {
        int64_t t;
        ratelimit_t *rl = grid_at_first_start(&t);
        /* Sent 100 ms late; then the group rebalances (same partitions). */
        ratelimit_sent(rl, t, t, t + 100000);
        if (moved)
            TT_EQ_INT(ratelimit_set_grid(rl, 20.0, all, 2, 2, GRID_WALL_BASE), 0);
        int64_t now = t + 100000;
        int64_t slot = now + ratelimit_wait_us(rl, now);
        /* Slots are 51 ms apart: the one at t + 102 ms is skipped. */
        TT_CHECK(slot - t > 150000 && slot - t < 160000);
        if (!(slot - t > 150000 && slot - t < 160000))
            fprintf(stderr, "  moved %d: next start %lld us after the late call's slot\n", moved,
                    (long long)(slot - t));
        ratelimit_destroy(rl);
    }
}

/* Reports no slot can serve are dropped: one sent more than a second after
 * its slot (no own slot lies between the arrival and the deadline), and
 * repeats of one start beyond what a second of starts can owe. */
static void test_grid_skip_bounds(void)
{
    int64_t t, w;
    ratelimit_t *rl = grid_at_first_start(&t);
    /* 1.2 s late: the next own slot after the arrival is used. */
    ratelimit_sent(rl, t, t, t + 1200000);
    int64_t now = t + 1200000, next = now + ratelimit_wait_us(rl, now);
    TT_CHECK(next - now < 51000);
    TT_EQ_INT(ratelimit_acquire(rl, next), 0);
    /* One start reported 100 times, 50 ms late: at most a second of own
     * slots stays empty, then starts go on. */
    t = next;
    for (int i = 0; i < 100; i++)
        ratelimit_sent(rl, t, t, t + 50000);
    now = t + 50000;
    while ((w = ratelimit_acquire(rl, now)) > 0)
        now += w;
    /* Every own slot up to the deadline (990 ms) stayed empty; the next
     * one was used. */
    TT_CHECK(now - t > 990000 && now - t < 990000 + 51000);
    if (!(now - t > 990000 && now - t < 990000 + 51000))
        fprintf(stderr, "  starts go on %lld us after the repeated start\n", (long long)(now - t));
    ratelimit_destroy(rl);
}

/* Partitions move every 700 ms between replicas sending every fourth call
 * late: the bound holds across the moves (unreported, it does not). */
static void test_grid_late_send_rebalance(void)
{
    static const int64_t lates[] = {150000, 600000};
    for (size_t i = 0; i < sizeof(lates) / sizeof(lates[0]); i++) {
        late_case_t lc = {3, 0, 4, lates[i], 1, 700000, 0, 0};
        late_check(lc, 20);
    }
}

/* A start made late in its slot's lag (8 ms) and sent 5 ms later reaches
 * the server 13 ms after its slot: a late send, though only 5 ms after the
 * slot was taken. The next own slot stays empty. */
static void test_grid_late_from_slot(void)
{
    int64_t t;
    ratelimit_t *rl = grid_at_first_start(&t);
    int64_t slot = t + 51000; /* the next one: slots are 51 ms apart */
    TT_EQ_INT(ratelimit_acquire(rl, slot + 8000), 0);
    ratelimit_sent(rl, slot + 8000, slot + 8000, slot + 13000);
    int64_t now = slot + 13000, next = now + ratelimit_wait_us(rl, now);
    TT_EQ_INT(next - slot, 2 * 51000);
    /* 2 ms after the start, 10 ms after its slot: not late. */
    TT_EQ_INT(ratelimit_acquire(rl, next), 0);
    slot = next + 51000;
    TT_EQ_INT(ratelimit_acquire(rl, slot + 8000), 0);
    ratelimit_sent(rl, slot + 8000, slot + 8000, slot + 10000);
    now = slot + 10000;
    TT_EQ_INT(now + ratelimit_wait_us(rl, now) - slot, 51000);
    ratelimit_destroy(rl);
}

/* The wall clock steps (NTP, a resumed virtual machine). Back by 120 s: the
 * grid follows the new time at once, whether the step is read on the next
 * turn or at a rebalance (the last slot taken, 120 s in the new clock's
 * future, is forgotten). Forward, or back by a few microseconds: no slot
 * is taken twice and starts stay spaced. */
static void test_grid_wall_step(void)
{
    static const int all[2] = {0, 1};
    static const int64_t steps[] = {-120000000, 120000000, -5};
    for (int by_rebalance = 0; by_rebalance < 2; by_rebalance++)
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
            int64_t t;
            ratelimit_t *rl = grid_at_first_start(&t);
            int64_t off = GRID_WALL_BASE + steps[i];
            if (by_rebalance)
                TT_EQ_INT(ratelimit_set_grid(rl, 20.0, all, 2, 2, off), 0);
            else
                ratelimit_set_wall_offset(rl, off);
            int64_t wait = ratelimit_wait_us(rl, t);
            /* The next start is one spacing (51 ms) on, give or take the
             * new grid's phase: never 120 s, never the same slot again. */
            TT_CHECK(wait >= 51000 - 5 && wait < 2 * 51000);
            if (!(wait >= 51000 - 5 && wait < 2 * 51000))
                fprintf(stderr, "  step %lld us (rebalance %d): next start in %lld us\n",
                        (long long)steps[i], by_rebalance, (long long)wait);
            ratelimit_destroy(rl);
        }
}

/* The loop's readings of the wall clock's offset jitter by a microsecond
 * or so: a start made right on its slot, then a reading 1 us lower, must
 * not pin the start to the slot before (its send 2 ms on would count as
 * late and skip a slot for nothing). */
static void test_grid_offset_jitter(void)
{
    int64_t t;
    ratelimit_t *rl = grid_at_first_start(&t);
    ratelimit_set_wall_offset(rl, GRID_WALL_BASE - 1);
    ratelimit_sent(rl, t, t, t + 2000);
    TT_EQ_INT(ratelimit_wait_us(rl, t + 2000), 51000 - 2000);
    ratelimit_set_wall_offset(rl, GRID_WALL_BASE + 999);
    TT_EQ_INT(ratelimit_wait_us(rl, t + 2000), 51000 - 2000);
    ratelimit_destroy(rl);
}

int main(void)
{
    TT_RUN(test_grid_shares);
    TT_RUN(test_grid_rebalance);
    TT_RUN(test_grid_slow_down);
    TT_RUN(test_grid_late_send);
    TT_RUN(test_grid_connection_storms);
    TT_RUN(test_grid_skip_survives_rebalance);
    TT_RUN(test_grid_skip_bounds);
    TT_RUN(test_grid_late_send_rebalance);
    TT_RUN(test_grid_late_from_slot);
    TT_RUN(test_grid_wall_step);
    TT_RUN(test_grid_offset_jitter);
    TT_DONE();
}
