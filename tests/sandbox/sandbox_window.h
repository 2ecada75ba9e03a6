/* sandbox_window.h - a sliding-window event counter.
 *
 * Remembers the times of the events of the last span microseconds and the
 * largest number ever seen inside one window. An event at time t is inside
 * the window ending at now when t > now - span: two events exactly one span
 * apart never share a window. Times come from the caller (monotonic
 * microseconds) and must not decrease. Not thread-safe: the caller locks. */
#ifndef ZU_SANDBOX_WINDOW_H
#define ZU_SANDBOX_WINDOW_H

#include <stddef.h>
#include <stdint.h>

typedef struct sandbox_window sandbox_window_t;

/* A new, empty window of span_us (> 0) microseconds; NULL when out of memory.
 * Freed with sandbox_window_destroy(). */
sandbox_window_t *sandbox_window_new(int64_t span_us);
/* Frees w; NULL is fine. */
void sandbox_window_destroy(sandbox_window_t *w);
/* Number of events inside the window ending at now_us. */
size_t sandbox_window_count(sandbox_window_t *w, int64_t now_us);
/* Records an event at now_us and updates the maximum. 0 ok, -1 out of memory
 * (the event is then not recorded). */
int sandbox_window_add(sandbox_window_t *w, int64_t now_us);
/* The largest number of events seen inside one window since creation or the
 * last sandbox_window_reset_max(). */
size_t sandbox_window_max(const sandbox_window_t *w);
/* Restarts the maximum from the events currently inside the window. */
void sandbox_window_reset_max(sandbox_window_t *w, int64_t now_us);

#endif
