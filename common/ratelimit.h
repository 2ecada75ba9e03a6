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
 * another slow-down. Time is a parameter (monotonic microseconds), so unit
 * tests move the clock by hand. Single-threaded: the owner thread only. */
#ifndef ZU_RATELIMIT_H
#define ZU_RATELIMIT_H

#include <stdint.h>

#define RATELIMIT_JITTER_US 20000 /* 20 ms of the window kept as margin */

typedef struct ratelimit ratelimit_t;

/* rate > 0. Returns NULL on allocation failure. */
ratelimit_t *ratelimit_new(double rate, int64_t now_us);
void ratelimit_destroy(ratelimit_t *rl);

/* Changes the configured rate R (a new partition share). Takes effect for
 * the next start; never lets the starts already made break the window. */
void ratelimit_set_rate(ratelimit_t *rl, double rate, int64_t now_us);
double ratelimit_rate(const ratelimit_t *rl);
/* The effective rate now, after slow-downs and recovery. */
double ratelimit_effective_rate(ratelimit_t *rl, int64_t now_us);

/* Tries to take a start slot at now_us. Returns 0 when taken (the caller
 * must start the call now), else the microseconds until the next slot. */
int64_t ratelimit_acquire(ratelimit_t *rl, int64_t now_us);

/* Microseconds until a slot would be free, without taking it (0 = now). */
int64_t ratelimit_wait_us(ratelimit_t *rl, int64_t now_us);

/* The server said the AppId limit was exceeded: slow down. */
void ratelimit_slow_down(ratelimit_t *rl, int64_t now_us);

#endif
