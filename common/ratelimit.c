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
 * Recovery remembers where the server refused: f_now is the ceiling c. f
 * grows by 0.10 per second up to 0.9 c, then by 0.01 per second up to
 * 1.05 c (the neighbourhood of the server's limit is approached slowly),
 * then by 0.10 per second again up to 1.0. A server whose limit sits below
 * R therefore refuses about once per 5-8 s of steady backlog, instead of
 * once per recovery ramp of 1-2 s, and a limit that was lifted costs at most
 * ~15 s of slow probing. One slow-down from full rate recovers in 14 s: 4 s
 * from 0.5 to 0.9, then 10 s to 1.0.
 *
 * Shares across replicas: the slot grid. Each replica spending floor(R_share)
 * per window (rule 1 with its own share) leaves the fractional parts of the
 * shares unspent: 3 replicas over 6 partitions at R = 20 get 6 each, 88% of
 * the budget. With a grid (ratelimit_set_grid), the budget is cut into
 * global slots instead: slot k starts at k * L on the wall clock (Unix
 * microseconds), L = W / C for the AppId-wide cap C = floor(R), and belongs
 * to the replica that owns global partition k mod P (P = all input
 * partitions, numbered topic by topic). Owners are disjoint, so the slots
 * of all replicas together are the grid itself: C starts per W at the
 * server, >= 98% of R, whatever the split, and each replica spends exactly
 * its partitions' fraction of it. A replica takes only its own slots, never
 * one more than MAX_SLOT_LAG_US in the past (no burst after a pause), each
 * at most once; rules 1 and 2 keep running at the AppId-wide R as a safety
 * net. Assumption: the replicas' wall clocks agree within RATELIMIT_JITTER_US
 * / 2 (NTP keeps them within a few ms): slots of different replicas are
 * L = 51 ms apart at R = 20, and the 20 ms per window of margin absorbs
 * the skew. During a rebalance a partition is never owned twice with the
 * cooperative protocol (the old owner drains, then unassigns, and only then
 * is it assigned to the next owner); a partition that is lost (a session
 * time-out) may briefly be owned twice, and its slots used twice, until the
 * old owner learns it lost it. A slow-down (factor f) caps the replica's
 * starts in any window W at max(1, floor(f * its own slots per W)) (rule 2
 * with that cap); its starts still fall on its own slots.
 *
 * A late send under the grid. The server counts a call when its request
 * arrives; the first request on a new connection arrives after the
 * connection's set-up, later than its slot t. The 1000 ms windows at the
 * server that start after t and hold the late arrival a lose nothing (slot
 * t is outside them) and gain one call, and the other replicas cannot know.
 * So the replica skips its first own slot u with a < u < t + 1000 ms - half
 * the margin: every such window holds u, which stays empty. Windows are
 * whole again without any exchange between replicas. When the replica owns
 * no slot in that span (more than ~19 replicas at R = 20, or a set-up of
 * nearly a second) nothing can be skipped and the window may hold one call
 * over, which costs that call a 660300005 and a retry.
 *
 * The recent starts live in a ring of C_max entries (C_max = the largest cap
 * the configured rate allows). If growing it for a higher rate fails, the cap
 * stays at the ring's size: the limiter errs on the slow side. */
#include "common/ratelimit.h"

#include <math.h>
#include <stdlib.h>

#define US_PER_S        1000000
#define WINDOW_US       (US_PER_S + RATELIMIT_JITTER_US)
#define SLOW_FLOOR      0.05 /* never below 5% of R */
#define RECOVERY_PER_S  0.10 /* f grows by this per second */
#define PROBE_PER_S     0.01 /* ... and by this near the ceiling */
#define PROBE_FROM      0.90 /* the slow part: [0.9 c, 1.05 c) */
#define PROBE_TO        1.05
#define SLOW_HOLDOFF_US 250000             /* minimum hold-off between slow-downs */
#define MAX_SPACING_US  1000000000000000LL /* ~31 years: keeps the arithmetic finite */
#define CAP_EPSILON     1e-9               /* floor(19.9999999999) from f arithmetic is 20 */
#define MAX_SLOT_LAG_US 10000              /* a start this late (at most T / 2) keeps its slot */
#define LATE_SEND_US    (RATELIMIT_JITTER_US / 2) /* later than this is a late send */
#define WALL_STEP_US    1000 /* a wall clock offset change this big is a step */

struct ratelimit {
    double rate;          /* configured R, calls/s */
    int slowed;           /* a slow-down has happened */
    double slow_factor;   /* f right after the last slow-down */
    double ceiling;       /* f when the server last refused (before halving) */
    int64_t slow_at_us;   /* when it happened */
    int64_t holdoff_us;   /* slow-downs before slow_at_us + holdoff_us are ignored */
    int64_t last_slot_us; /* when the last start was due (<= its actual time) */
    int64_t *ring;        /* recent actual start times, oldest at ring[head] */
    size_t ring_cap;
    size_t ring_len;
    size_t ring_head;
    /* The slot grid (grid_total > 0): own partition flags, indexed by global
     * partition number mod grid_total. */
    int grid_total;
    unsigned char *grid_owned;
    int grid_owned_cnt;
    int64_t grid_wall_offset_us; /* wall = monotonic + offset */
    int64_t grid_last_k;         /* last slot taken; -1 none */
    /* Late sends under the grid: skip an own slot in (after, until), one per
     * late send (see "A late send under the grid"). A late send's start is
     * in the ring and its skip ends within a second of it, so the pending
     * skips fit in ring_cap entries (allocated with the ring). */
    struct skip {
        int64_t after_us, until_us;
    } * skip;
    size_t nskip;
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

/* Grows the ring (and the pending skips) to hold at least n starts, keeping
 * their order. 0 ok, -1 on allocation failure (both are unchanged). */
static int ring_reserve(ratelimit_t *rl, size_t n)
{
    int64_t *ring;
    struct skip *skip;
    size_t i;

    if (n <= rl->ring_cap)
        return 0;
    ring = malloc(n * sizeof(*ring));
    skip = malloc(n * sizeof(*skip));
    if (!ring || !skip) {
        free(ring);
        free(skip);
        return -1;
    }
    for (i = 0; i < rl->ring_len; i++)
        ring[i] = rl->ring[(rl->ring_head + i) % rl->ring_cap];
    for (i = 0; i < rl->nskip; i++)
        skip[i] = rl->skip[i];
    free(rl->ring);
    free(rl->skip);
    rl->ring = ring;
    rl->skip = skip;
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

/* Moves f towards `to` at `per_s` for up to *left_s seconds, consuming them. */
static double ramp(double f, double to, double per_s, double *left_s)
{
    if (f >= to || *left_s <= 0.0)
        return f;
    double need = (to - f) / per_s;
    if (need >= *left_s) {
        f += per_s * *left_s;
        *left_s = 0.0;
        return f;
    }
    *left_s -= need;
    return to;
}

static double factor_at(const ratelimit_t *rl, int64_t now_us)
{
    double f, left;

    if (!rl->slowed)
        return 1.0;
    if (now_us <= rl->slow_at_us)
        return rl->slow_factor;
    left = (double)(now_us - rl->slow_at_us) / US_PER_S;
    f = ramp(rl->slow_factor, PROBE_FROM * rl->ceiling, RECOVERY_PER_S, &left);
    f = ramp(f, PROBE_TO * rl->ceiling, PROBE_PER_S, &left);
    f = ramp(f, 1.0, RECOVERY_PER_S, &left);
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

/* Slot length L of the grid for AppId-wide rate e. */
static int64_t grid_len_us(const ratelimit_t *rl, double e)
{
    size_t cap;
    int64_t spacing;
    cap_spacing(rl, e, &cap, &spacing);
    return spacing;
}

/* The first own slot at or after slot k; -1 when this replica owns none. */
static int64_t grid_next_own(const ratelimit_t *rl, int64_t k)
{
    if (rl->grid_owned_cnt == 0)
        return -1;
    /* Every P consecutive slots hold an own one. */
    for (int64_t i = 0; i < (int64_t)rl->grid_total; i++, k++)
        if (rl->grid_owned[k % rl->grid_total])
            return k;
    return -1;
}

/* The grid's next own slot for a start at now_us: its slot number (*k) and
 * its time on the monotonic clock; -1 when this replica owns nothing. */
static int64_t grid_next(const ratelimit_t *rl, int64_t now_us, int64_t *k)
{
    int64_t len = grid_len_us(rl, rl->rate);
    int64_t wall = now_us + rl->grid_wall_offset_us;
    int64_t first = (wall - MAX_SLOT_LAG_US + len - 1) / len; /* not older than the lag */
    if (first <= rl->grid_last_k)
        first = rl->grid_last_k + 1;
    *k = grid_next_own(rl, first);
    if (*k < 0)
        return -1;
    return *k * len - rl->grid_wall_offset_us;
}

/* The earliest time the next start is allowed, judged at now_us; *spacing_out
 * gets the current spacing T. */
static int64_t next_allowed(ratelimit_t *rl, int64_t now_us, int64_t *spacing_out)
{
    size_t cap;
    int64_t spacing, next, w;

    /* Under a grid the slow-down caps the own slots per window (below). */
    double f = rl->grid_total > 0 ? 1.0 : factor_at(rl, now_us);
    cap_spacing(rl, rl->rate * f, &cap, &spacing);
    *spacing_out = spacing;
    if (rl->ring_len == 0)
        return now_us;
    next = rl->last_slot_us + spacing;
    if (rl->grid_total > 0) {
        /* Slowed under the grid: any window holds at most floor(f * own
         * slots per window) of this replica's starts (at least 1), counting
         * the starts already made, as rule 2 does without a grid. */
        double fg = factor_at(rl, now_us);
        if (fg < 1.0) {
            size_t own = cap_for((double)cap * rl->grid_owned_cnt / rl->grid_total * fg);
            if (own < cap)
                cap = own;
        }
    }
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
    rl->ceiling = 1.0;
    rl->grid_last_k = -1;
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
    free(rl->grid_owned);
    free(rl->ring);
    free(rl->skip);
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

/* How long this replica waits when the grid gives it no slot at all. */
#define GRID_NONE_WAIT_US US_PER_S

/* Whether own slot time g is skipped for a late send, the slot's start
 * being made at s = max(g, now_us) (a slot up to the lag old starts now):
 * the pending skip with the earliest deadline whose span holds s is used
 * up. Skips whose span ended by s can no longer be served and are
 * dropped. */
static int grid_skip(ratelimit_t *rl, int64_t g, int64_t now_us)
{
    int64_t s = g > now_us ? g : now_us;
    size_t n = 0, best = SIZE_MAX;
    for (size_t i = 0; i < rl->nskip; i++) {
        if (rl->skip[i].until_us <= s)
            continue;
        rl->skip[n++] = rl->skip[i];
        if (rl->skip[n - 1].after_us <= s &&
            (best == SIZE_MAX || rl->skip[n - 1].until_us < rl->skip[best].until_us))
            best = n - 1;
    }
    rl->nskip = n;
    if (best == SIZE_MAX)
        return 0;
    rl->skip[best] = rl->skip[--rl->nskip];
    return 1;
}

/* next_allowed() and, with a grid, the next own slot (*k). */
static int64_t next_start(ratelimit_t *rl, int64_t now_us, int64_t *spacing, int64_t *k)
{
    int64_t next = next_allowed(rl, now_us, spacing);
    *k = -1;
    if (rl->grid_total > 0) {
        int64_t g;
        while ((g = grid_next(rl, now_us, k)) >= 0 && grid_skip(rl, g, now_us))
            rl->grid_last_k = *k; /* left empty for a late send */
        if (g < 0)
            return now_us + GRID_NONE_WAIT_US;
        if (g > next)
            next = g;
    }
    return next;
}

int64_t ratelimit_wait_us(ratelimit_t *rl, int64_t now_us)
{
    int64_t spacing, k, next = next_start(rl, now_us, &spacing, &k);

    return next > now_us ? next - now_us : 0;
}

int64_t ratelimit_acquire(ratelimit_t *rl, int64_t now_us)
{
    int64_t spacing, lag, k, next = next_start(rl, now_us, &spacing, &k);

    if (next > now_us)
        return next - now_us;
    if (k >= 0)
        rl->grid_last_k = k;
    lag = spacing / 2 < MAX_SLOT_LAG_US ? spacing / 2 : MAX_SLOT_LAG_US;
    rl->last_slot_us = (rl->ring_len > 0 && now_us - next <= lag) ? next : now_us;
    ring_push(rl, now_us);
    return 0;
}

/* Records a late send arriving at after_us whose skip must fall before
 * until_us. Skips that ended by now (after_us) go first: no slot can serve
 * them any more. What is left belongs to distinct starts of the last second,
 * at most ring_cap of them; reports beyond that (a start reported more than
 * once) are dropped. */
static void skip_add(ratelimit_t *rl, int64_t after_us, int64_t until_us)
{
    size_t n = 0;
    for (size_t i = 0; i < rl->nskip; i++)
        if (rl->skip[i].until_us > after_us)
            rl->skip[n++] = rl->skip[i];
    rl->nskip = n;
    if (until_us <= after_us || rl->nskip >= rl->ring_cap)
        return;
    rl->skip[rl->nskip].after_us = after_us;
    rl->skip[rl->nskip].until_us = until_us;
    rl->nskip++;
}

/* The own slot a start at started_us took: the latest own slot at or before
 * it (a start is made at most MAX_SLOT_LAG_US after its slot). Exact while
 * slots are longer than that lag (below about 100 calls/s); above, it may
 * name the next own slot, at most one slot later than the one taken. */
static int64_t grid_slot_of(const ratelimit_t *rl, int64_t started_us)
{
    int64_t len = grid_len_us(rl, rl->rate), wall = started_us + rl->grid_wall_offset_us;
    int64_t k = wall / len; /* wall time is after 1970, as in grid_next */
    for (int i = 0; i < rl->grid_total && k > 0 && !rl->grid_owned[k % rl->grid_total]; i++)
        k--;
    return k * len - rl->grid_wall_offset_us;
}

void ratelimit_sent(ratelimit_t *rl, int64_t started_us, int64_t recorded_us, int64_t sent_us)
{
    if (rl->grid_total > 0 && rl->grid_owned_cnt > 0) {
        /* Late from its slot, not from the moment the slot was taken. */
        int64_t slot = grid_slot_of(rl, started_us);
        if (sent_us - slot > LATE_SEND_US)
            skip_add(rl, sent_us, slot + US_PER_S - RATELIMIT_JITTER_US / 2);
    }
    /* The newest recorded start at or before recorded_us is this call's. The
     * ring is in time order (acquires push the clock's time; this function
     * keeps the order), so a binary search finds it: the smallest k with
     * ring_recent(k) <= recorded_us. */
    if (rl->ring_len == 0 || ring_recent(rl, rl->ring_len) > recorded_us)
        return; /* before every recorded start: out of the ring */
    size_t lo = 1, hi = rl->ring_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_recent(rl, mid) <= recorded_us)
            hi = mid;
        else
            lo = mid + 1;
    }
    size_t k = lo;
    if (sent_us <= ring_recent(rl, k))
        return;
    /* Move it later, keeping the ring in time order (oldest first). */
    size_t i = (rl->ring_head + rl->ring_len - k) % rl->ring_cap;
    for (; k > 1; k--) {
        size_t next = (i + 1) % rl->ring_cap;
        if (rl->ring[next] >= sent_us)
            break;
        rl->ring[i] = rl->ring[next];
        i = next;
    }
    rl->ring[i] = sent_us;
}

void ratelimit_slow_down(ratelimit_t *rl, int64_t now_us)
{
    double f;
    size_t cap;
    int64_t spacing;

    if (rl->slowed && now_us < rl->slow_at_us + rl->holdoff_us)
        return; /* the same burst of answers: counted once */
    rl->ceiling = factor_at(rl, now_us);
    f = rl->ceiling / 2.0;
    if (f < SLOW_FLOOR)
        f = SLOW_FLOOR;
    rl->slowed = 1;
    rl->slow_factor = f;
    rl->slow_at_us = now_us;
    cap_spacing(rl, rl->rate * f, &cap, &spacing);
    rl->holdoff_us = spacing > SLOW_HOLDOFF_US ? spacing : SLOW_HOLDOFF_US;
}

/* Moves the grid to a new wall clock offset. A step back of more than a
 * slot puts the last slot taken in the new clock's future: forget it, or no
 * start would come until the clock got there again. Slots of the new
 * timeline are new slots in real time, and rule 1 still spaces the starts.
 * Smaller changes keep it (each slot is taken once). */
static void wall_offset_apply(ratelimit_t *rl, int64_t wall_offset_us)
{
    if (rl->grid_last_k >= 0 &&
        rl->grid_wall_offset_us - wall_offset_us > grid_len_us(rl, rl->rate))
        rl->grid_last_k = -1;
    rl->grid_wall_offset_us = wall_offset_us;
}

void ratelimit_set_wall_offset(ratelimit_t *rl, int64_t wall_offset_us)
{
    /* Two clock readings are never simultaneous, and NTP slews: changes
     * under WALL_STEP_US are that, not a step, and leave the grid where it
     * is (so the slot a start took is found again when its send is
     * reported). */
    int64_t d = wall_offset_us - rl->grid_wall_offset_us;
    if (d > -WALL_STEP_US && d < WALL_STEP_US)
        return;
    wall_offset_apply(rl, wall_offset_us);
}

int ratelimit_set_grid(ratelimit_t *rl, double appid_rate, const int *owned, size_t owned_cnt,
                       int total, int64_t wall_offset_us)
{
    if (total <= 0 || !rate_valid(appid_rate)) {
        ratelimit_clear_grid(rl);
        return -1;
    }
    unsigned char *flags = calloc((size_t)total, 1);
    if (!flags)
        return -1;
    int cnt = 0;
    for (size_t i = 0; i < owned_cnt; i++)
        if (owned[i] >= 0 && owned[i] < total && !flags[owned[i]]) {
            flags[owned[i]] = 1;
            cnt++;
        }
    free(rl->grid_owned);
    rl->grid_owned = flags;
    rl->grid_owned_cnt = cnt;
    rl->grid_total = total;
    /* Rules 1 and 2 run at the AppId-wide rate: a safety net under the grid. */
    ratelimit_set_rate(rl, appid_rate, 0);
    wall_offset_apply(rl, wall_offset_us);
    return 0;
}

void ratelimit_clear_grid(ratelimit_t *rl)
{
    free(rl->grid_owned);
    rl->grid_owned = NULL;
    rl->grid_owned_cnt = 0;
    rl->grid_total = 0;
}

double ratelimit_grid_share(const ratelimit_t *rl)
{
    if (rl->grid_total <= 0)
        return rl->rate;
    size_t cap;
    int64_t spacing;
    cap_spacing(rl, rl->rate, &cap, &spacing);
    return (double)US_PER_S / (double)spacing * rl->grid_owned_cnt / rl->grid_total;
}
