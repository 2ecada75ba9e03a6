/* evloop.h - the worker's one event core: epoll, a timer heap, and wakers
 * (pipes that other threads write to).
 *
 * Every module registers its own file descriptors (evloop_fd_set) and timers
 * (evloop_timer_*). evloop_run_once() sleeps until one of them is due: there
 * is no fixed tick. Then it calls the callbacks of the ready descriptors and
 * of the due timers (earliest first). Timers have microsecond precision
 * (epoll_pwait2's timeout; CLOCK_MONOTONIC).
 *
 * Wakers serve threads we do not own: librdkafka writes to a waker's fd when
 * a queue becomes non-empty (rd_kafka_queue_io_event_enable); the waker's
 * callback runs in the loop thread after the pipe is drained.
 *
 * Ownership: the loop owns its wakers (freed by evloop_destroy); timers
 * stay their maker's (evloop_timer_free, before or after evloop_destroy), as
 * do registered fds. Single-threaded except for writes to a waker's fd,
 * which any thread may make. */
#ifndef ZU_EVLOOP_H
#define ZU_EVLOOP_H

#include <stddef.h>
#include <stdint.h>

#define EVLOOP_READ  1
#define EVLOOP_WRITE 2

typedef struct evloop evloop_t;
typedef struct evloop_timer evloop_timer_t;
typedef struct evloop_waker evloop_waker_t;

/* fd is ready for what events says (EVLOOP_READ | EVLOOP_WRITE; errors and
 * hang-ups are reported as both). */
typedef void evloop_fd_cb(void *ctx, int fd, int events);
typedef void evloop_timer_cb(void *ctx, int64_t now_us);
typedef void evloop_waker_cb(void *ctx);

/* NULL with errstr on failure. */
evloop_t *evloop_new(char *errstr, size_t errstr_size);
/* Frees the loop and its wakers; timers are disarmed and stay their makers'.
 * Registered fds are not closed. NULL ok. */
void evloop_destroy(evloop_t *el);

/* Watches fd for events with cb, replacing an earlier registration;
 * events 0 stops watching it. 0 ok, -1 with errstr. */
int evloop_fd_set(evloop_t *el, int fd, int events, evloop_fd_cb *cb, void *ctx, char *errstr,
                  size_t errstr_size);
/* Stops watching fd (no more callbacks) but leaves it in the kernel's epoll
 * set, for a descriptor likely to be watched again soon (a kept-alive
 * connection between two requests): watching it again then costs one
 * system call, not two. It leaves the set when it reports an event while
 * unwatched, or when it is closed. Only for descriptors never duplicated
 * (dup, fork): a closed one would stay in the set through its copy. */
void evloop_fd_idle(evloop_t *el, int fd);

/* A timer, not armed. NULL on allocation failure; arming it later never
 * fails (the loop makes room for it here). */
evloop_timer_t *evloop_timer_new(evloop_t *el, evloop_timer_cb *cb, void *ctx);
/* Arms (or re-arms) the timer at due_us (monotonic microseconds; in the
 * past: at the next run). */
void evloop_timer_at(evloop_t *el, evloop_timer_t *t, int64_t due_us);
/* Disarms it (no-op when not armed). */
void evloop_timer_cancel(evloop_t *el, evloop_timer_t *t);
int evloop_timer_armed(const evloop_timer_t *t);
/* Disarms and frees it. NULL ok. */
void evloop_timer_free(evloop_t *el, evloop_timer_t *t);

/* A waker: a non-blocking pipe whose read end the loop watches. NULL with
 * errstr on failure. */
evloop_waker_t *evloop_waker_new(evloop_t *el, evloop_waker_cb *cb, void *ctx, char *errstr,
                                 size_t errstr_size);
/* The write end, for other threads (and librdkafka). */
int evloop_waker_fd(const evloop_waker_t *w);
/* Wakes the loop (any thread). */
void evloop_wake(evloop_waker_t *w);

/* Waits until a registered fd is ready or a timer is due, or max_wait_us
 * passed (-1: no limit), and runs the callbacks. Returns how many callbacks
 * ran, -1 with errstr on an epoll error. */
int evloop_run_once(evloop_t *el, int64_t max_wait_us, char *errstr, size_t errstr_size);

#endif
