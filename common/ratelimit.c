/* ratelimit.c - the call-start limiter: even spacing plus a one-second window check.
 *
 * Design. With configured rate R and slow-down factor f (1.0 normally) the
 * effective rate is E = R * f. The cap is C = max(1, floor(E)) starts per
 * window W = 1 s + RATELIMIT_JITTER_US. Two rules decide when the next start
 * may happen, both computed lazily from `now` and the recorded starts:
 *
 *   1. Even spacing: at least T after the previous start's slot, where
 *      T = ceil(W / C) when E >= 1 and T = ceil(1 s / E) + RATELIMIT_JITTER_US
 *      when E < 1. Under a backlog this starts C calls per W, i.e. R / 1.02
 *      (>= 98% of R) for whole R. The slot is the time the start was due:
 *      a caller that wakes up to min(T / 2, 10 ms) late keeps its place on
 *      the grid, so wake-up latency is not added to every gap (a start later
 *      than that, e.g. after an idle spell, is its own slot: no burst credit).
 *   2. Window: at least W after the C-th most recent start, so any W-long
 *      span ending at a start holds at most C starts. In a steady backlog
 *      woken on time this is implied by rule 1; it matters when the rate drops (set_rate or a
 *      slow-down): the starts already made then count against the new cap,
 *      so even the window that straddles the change never exceeds it.
 *
 * Any C + 1 starts therefore span at least 1 s + 20 ms, so a server that sees
 * each start shifted by up to +-10 ms still never counts more than C starts in
 * a 1000 ms window. Rule 2 uses the actual start times, so late wake-ups
 * never erode that margin; they cost at most one wake-up latency per C
 * starts (the 98% holds while the caller wakes within ~0.4 ms). There is no
 * burst credit: after an idle spell the next start is immediate and the ones
 * after it are spaced by T again.
 *
 * Slow-down (ZIM 660300005): f = max(0.05, f_now / 2), where f_now includes
 * the recovery so far. Answers to calls that were already in flight arrive
 * together, so further slow-downs within the hold-off max(250 ms, T after
 * the slow-down) of the previous one are ignored: a burst counts once.
 * Recovery: f grows by 0.10 per second since the last slow-down, up to 1.0
 * (from the 5% floor that takes 9.5 s).
 *
 * The recent starts live in a ring of C_max entries (C_max = the largest cap
 * the configured rate allows). If growing it for a higher rate fails, the cap
 * stays at the ring's size: the limiter errs on the slow side. */
#include "common/ratelimit.h"

#include <math.h>
#include <stdlib.h>

#define US_PER_S        1000000
#define WINDOW_US       (US_PER_S + RATELIMIT_JITTER_US)
#define SLOW_FLOOR      0.05               /* never below 5% of R */
#define RECOVERY_PER_S  0.10               /* f grows by this per second */
#define SLOW_HOLDOFF_US 250000             /* minimum hold-off between slow-downs */
#define MAX_SPACING_US  1000000000000000LL /* ~31 years: keeps the arithmetic finite */
#define CAP_EPSILON     1e-9               /* floor(19.9999999999) from f arithmetic is 20 */
#define MAX_SLOT_LAG_US 10000              /* a start this late (at most T / 2) keeps its slot */

struct ratelimit {
    double rate;          /* configured R, calls/s */
    int slowed;           /* a slow-down has happened */
    double slow_factor;   /* f right after the last slow-down */
    int64_t slow_at_us;   /* when it happened */
    int64_t holdoff_us;   /* slow-downs before slow_at_us + holdoff_us are ignored */
    int64_t last_slot_us; /* when the last start was due (<= its actual time) */
    int64_t *ring;        /* recent actual start times, oldest at ring[head] */
    size_t ring_cap;
    size_t ring_len;
    size_t ring_head;
};

static double clamp_rate(double rate)
{
    return rate > RATELIMIT_MAX_RATE ? RATELIMIT_MAX_RATE : rate;
}

static int rate_valid(double rate)
{
    return isfinite(rate) && rate > 0.0;
}

/* The cap for effective rate e, before the ring-size limit. */
static size_t cap_for(double e)
{
    double c = floor(e + CAP_EPSILON);

    if (c < 1.0)
        return 1;
    return (size_t)c;
}

/* Grows the ring to hold at least n starts, keeping their order. 0 ok, -1 on
 * allocation failure (the ring is unchanged). */
static int ring_reserve(ratelimit_t *rl, size_t n)
{
    int64_t *ring;
    size_t i;

    if (n <= rl->ring_cap)
        return 0;
    ring = malloc(n * sizeof(*ring));
    if (!ring)
        return -1;
    for (i = 0; i < rl->ring_len; i++)
        ring[i] = rl->ring[(rl->ring_head + i) % rl->ring_cap];
    free(rl->ring);
    rl->ring = ring;
    rl->ring_cap = n;
    rl->ring_head = 0;
    return 0;
}

static void ring_push(ratelimit_t *rl, int64_t t)
{
    if (rl->ring_len < rl->ring_cap) {
        rl->ring[(rl->ring_head + rl->ring_len) % rl->ring_cap] = t;
        rl->ring_len++;
    } else {
        rl->ring[rl->ring_head] = t;
        rl->ring_head = (rl->ring_head + 1) % rl->ring_cap;
    }
}

/* The k-th most recent start (k = 1 is the newest); k <= ring_len. */
static int64_t ring_recent(const ratelimit_t *rl, size_t k)
{
    return rl->ring[(rl->ring_head + rl->ring_len - k) % rl->ring_cap];
}

static double factor_at(const ratelimit_t *rl, int64_t now_us)
{
    double f;

    if (!rl->slowed)
        return 1.0;
    if (now_us <= rl->slow_at_us)
        return rl->slow_factor;
    f = rl->slow_factor + RECOVERY_PER_S * (double)(now_us - rl->slow_at_us) / US_PER_S;
    return f > 1.0 ? 1.0 : f;
}

/* Cap (limited by the ring) and spacing for effective rate e. */
static void cap_spacing(const ratelimit_t *rl, double e, size_t *cap, int64_t *spacing)
{
    size_t c = cap_for(e);
    double t;

    if (c > rl->ring_cap)
        c = rl->ring_cap;
    if (e < 1.0)
        t = ceil((double)US_PER_S / e) + RATELIMIT_JITTER_US;
    else
        t = ceil((double)WINDOW_US / (double)c);
    if (!(t < (double)MAX_SPACING_US))
        t = (double)MAX_SPACING_US;
    *cap = c;
    *spacing = (int64_t)t;
}

/* The earliest time the next start is allowed, judged at now_us; *spacing_out
 * gets the current spacing T. */
static int64_t next_allowed(ratelimit_t *rl, int64_t now_us, int64_t *spacing_out)
{
    size_t cap;
    int64_t spacing, next, w;

    cap_spacing(rl, rl->rate * factor_at(rl, now_us), &cap, &spacing);
    *spacing_out = spacing;
    if (rl->ring_len == 0)
        return now_us;
    next = rl->last_slot_us + spacing;
    if (rl->ring_len >= cap) {
        w = ring_recent(rl, cap) + WINDOW_US;
        if (w > next)
            next = w;
    }
    return next;
}

ratelimit_t *ratelimit_new(double rate, int64_t now_us)
{
    ratelimit_t *rl;

    (void)now_us;
    if (!rate_valid(rate))
        return NULL;
    rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->rate = clamp_rate(rate);
    rl->slow_factor = 1.0;
    if (ring_reserve(rl, cap_for(rl->rate)) != 0) {
        free(rl);
        return NULL;
    }
    return rl;
}

void ratelimit_destroy(ratelimit_t *rl)
{
    if (!rl)
        return;
    free(rl->ring);
    free(rl);
}

void ratelimit_set_rate(ratelimit_t *rl, double rate, int64_t now_us)
{
    (void)now_us;
    if (!rate_valid(rate))
        return;
    rl->rate = clamp_rate(rate);
    /* On failure the cap stays at the ring's size (slower, never faster). */
    (void)ring_reserve(rl, cap_for(rl->rate));
}

double ratelimit_rate(const ratelimit_t *rl)
{
    return rl->rate;
}

double ratelimit_effective_rate(ratelimit_t *rl, int64_t now_us)
{
    return rl->rate * factor_at(rl, now_us);
}

int64_t ratelimit_wait_us(ratelimit_t *rl, int64_t now_us)
{
    int64_t spacing, next = next_allowed(rl, now_us, &spacing);

    return next > now_us ? next - now_us : 0;
}

int64_t ratelimit_acquire(ratelimit_t *rl, int64_t now_us)
{
    int64_t spacing, lag, next = next_allowed(rl, now_us, &spacing);

    if (next > now_us)
        return next - now_us;
    lag = spacing / 2 < MAX_SLOT_LAG_US ? spacing / 2 : MAX_SLOT_LAG_US;
    rl->last_slot_us = (rl->ring_len > 0 && now_us - next <= lag) ? next : now_us;
    ring_push(rl, now_us);
    return 0;
}

void ratelimit_slow_down(ratelimit_t *rl, int64_t now_us)
{
    double f;
    size_t cap;
    int64_t spacing;

    if (rl->slowed && now_us < rl->slow_at_us + rl->holdoff_us)
        return; /* the same burst of answers: counted once */
    f = factor_at(rl, now_us) / 2.0;
    if (f < SLOW_FLOOR)
        f = SLOW_FLOOR;
    rl->slowed = 1;
    rl->slow_factor = f;
    rl->slow_at_us = now_us;
    cap_spacing(rl, rl->rate * f, &cap, &spacing);
    rl->holdoff_us = spacing > SLOW_HOLDOFF_US ? spacing : SLOW_HOLDOFF_US;
}
