/* clock.h - the two clocks the worker reads.
 *
 * Modules that schedule (limiter, backoff, offsets) take time as a
 * parameter; these are where the callers get it. Thread-safe. */
#ifndef ZU_CLOCK_H
#define ZU_CLOCK_H

#include <stdint.h>

/* Monotonic microseconds (timers, rates, deadlines). */
int64_t clock_mono_us(void);
/* Unix time in microseconds (the rate limiter's slot grid). */
int64_t clock_unix_us(void);
/* Unix time in milliseconds (timestamps in results). */
int64_t clock_unix_ms(void);

#endif
