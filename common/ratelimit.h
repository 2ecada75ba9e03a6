/* ratelimit.h - the call-start limiter every ZIM API call passes through.
 *
 * Guarantee: with a configured rate R (calls/s, this replica's share), no
 * one-second window (measured by the caller's clock) contains more than
 * max(1, floor(R)) call starts, and starts are spaced evenly so that a
 * server whose clock sees up to RATELIMIT_JITTER_US of jitter sees the same.
 * Under a backlog it starts floor(R) calls per (1 s + jitter margin), i.e.
 * >= 98% of R for whole R >= 1. (A share below 1 call/s gets one call per
 * 1/R seconds.)
 *
 * Slow-down: ratelimit_slow_down() (on ZIM 660300005) halves the effective
 * rate (never below 5% of R); it recovers by 10% of R per second without
 * another slow-down, except near the rate the server refused (from 90% to
 * 105% of it), which it approaches by 1% of R per second. Time is a
 * parameter (monotonic microseconds), so unit tests move the clock by hand.
 * Single-threaded: the owner thread only. */
#ifndef ZU_RATELIMIT_H
#define ZU_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_JITTER_US 20000 /* 20 ms of the window kept as margin */
#define RATELIMIT_MAX_RATE  1e6   /* higher rates are clamped (1 us resolution) */

typedef struct ratelimit ratelimit_t;

/* rate > 0. Returns NULL on allocation failure (or a rate that is not a
 * finite number > 0). */
ratelimit_t *ratelimit_new(double rate, int64_t now_us);
void ratelimit_destroy(ratelimit_t *rl);

/* Changes the configured rate R (a new partition share). Takes effect for
 * the next start; never lets the starts already made break the window.
 * A rate that is not a finite number > 0 is ignored (R stays). */
void ratelimit_set_rate(ratelimit_t *rl, double rate, int64_t now_us);
double ratelimit_rate(const ratelimit_t *rl);
/* The effective rate now, after slow-downs and recovery. */
double ratelimit_effective_rate(ratelimit_t *rl, int64_t now_us);

/* Tries to take a start slot at now_us. Returns 0 when taken (the caller
 * must start the call now), else the microseconds until the next slot.
 * A caller that wakes late (up to min(spacing / 2, 10 ms)) keeps its slot on
 * the grid; the window guarantee uses the actual times, so waking late costs
 * at most one latency per floor(R) starts: wake within ~0.4 ms of the wait
 * (not rounded up to whole milliseconds) to keep the 98%. */
int64_t ratelimit_acquire(ratelimit_t *rl, int64_t now_us);

/* The call started at started_us (the time given to the acquire that took
 * its slot) had its request sent at sent_us. The first request on a new
 * connection goes out after the connection's set-up, later than its slot;
 * the server counts it then. Its recorded start moves from recorded_us to
 * sent_us, so the window rule (rule 2) keeps later starts at least one
 * window after it; under the slot grid a send more than half the margin
 * late also leaves this replica's next own slot in (sent_us, started_us +
 * 990 ms) empty, for the windows the other replicas fill. recorded_us is
 * started_us, or for a request sent again (libcurl retrying on a fresh
 * connection when a reused one turned out dead) the sent_us of the
 * previous report, where that report moved it. Earlier times, and starts
 * already out of the ring, change nothing. */
void ratelimit_sent(ratelimit_t *rl, int64_t started_us, int64_t recorded_us, int64_t sent_us);

/* Microseconds until a slot would be free, without taking it (0 = now). */
int64_t ratelimit_wait_us(ratelimit_t *rl, int64_t now_us);

/* Shares by the slot grid (see the design notes in ratelimit.c): the
 * AppId-wide rate, this replica's global partition numbers (owned, any
 * order; none: it starts nothing), all input partitions (total) and the
 * wall clock's offset from the monotonic one (wall = now_us + offset; tests
 * skew it). The limiter's own rate becomes appid_rate (a safety net); starts
 * also need one of the replica's grid slots. 0 ok, -1 (grid off) on a bad
 * total or rate or no memory. */
int ratelimit_set_grid(ratelimit_t *rl, double appid_rate, const int *owned, size_t owned_cnt,
                       int total, int64_t wall_offset_us);
/* The wall clock's offset from the monotonic one, read again (the loop does
 * so every turn): after a step of the wall clock (NTP, a resumed virtual
 * machine) the grid follows the new wall time, as the other replicas' grids
 * do. Changes under 1 ms (two readings, slewing) leave it where it is. */
void ratelimit_set_wall_offset(ratelimit_t *rl, int64_t wall_offset_us);
/* Back to the plain limiter at its rate. */
void ratelimit_clear_grid(ratelimit_t *rl);
/* This replica's share under the grid in calls/s (the rate without one). */
double ratelimit_grid_share(const ratelimit_t *rl);

/* The server said the AppId limit was exceeded: slow down. Answers from
 * calls already in flight arrive together, so further calls within
 * max(250 ms, the new start spacing) of an applied slow-down are ignored. */
void ratelimit_slow_down(ratelimit_t *rl, int64_t now_us);

#endif
