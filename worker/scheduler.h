/* scheduler.h - per-user FIFOs, the in-flight cap, retries and the
 * systemic pause, in front of the ZIM client and the rate limiter.
 *
 * Every job belongs to one user queue (its user_id). Only the head job of a
 * queue is ever started, so one user's events run one at a time in the order
 * they were submitted (offset order); different users run concurrently up to
 * max_in_flight calls. A retry waits on a timer while other users proceed.
 *
 * Outcomes (zim_api_classify): success / rejected end the job; retryable
 * outcomes back off with full jitter until retry.max_attempts calls are used
 * (retries_exhausted); a systemic outcome pauses all dispatch: the job is
 * parked, no failure is produced, and one probe call is retried with capped
 * backoff until the API answers anything but a systemic error, which resumes
 * everything. (With `systemic_final`, used by --once, a systemic answer ends
 * the job as a failure with error_class "systemic" instead.)
 *
 * The scheduler owns the zim_api_t (scheduler_api() lends it to the loop for
 * polling) and borrows the limiter, the log and the metrics registry.
 * Ownership of a job passes to the scheduler at scheduler_submit() and back
 * to the caller through the final or drop callback. Single-threaded. */
#ifndef ZU_SCHEDULER_H
#define ZU_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/ratelimit.h"
#include "common/zim_api.h"
#include "worker/job.h"

typedef enum {
    SCHED_START = 0, /* the job may be started now */
    SCHED_HOLD,      /* not now (clean stop: beyond the cut): leave it queued */
    SCHED_DROP,      /* its partition was revoked: hand it to the drop callback */
} sched_gate_t;

typedef struct scheduler_cbs {
    /* A job reached its final state (job->status set). Ownership passes. */
    void (*final)(void *ctx, job_t *job);
    /* A job will never run (see gate). Ownership passes. */
    void (*drop)(void *ctx, job_t *job);
    /* Asked before each start. NULL = always SCHED_START. */
    sched_gate_t (*gate)(void *ctx, const job_t *job);
    void *ctx;
} scheduler_cbs_t;

typedef struct scheduler_opts {
    int max_in_flight;
    int max_attempts;
    int initial_backoff_ms;
    int max_backoff_ms;
    int systemic_final; /* --once: a systemic answer is a failure */
    uint64_t seed;      /* jitter PRNG seed */
} scheduler_opts_t;

typedef struct scheduler scheduler_t;

/* Fills the scheduler's and the ZIM client's options from the
 * configuration (retry.*, worker.max_in_flight, zim.*). The strings stay the
 * configuration's. systemic_final and seed are left 0 for the caller. */
void scheduler_config(const config_t *cfg, scheduler_opts_t *so, zim_api_opts_t *ao);

/* Creates the scheduler and its ZIM client. rl, log and metrics are
 * borrowed (log and metrics may be NULL). NULL with errstr on failure. */
scheduler_t *scheduler_new(const scheduler_opts_t *opts, const zim_api_opts_t *api_opts,
                           ratelimit_t *rl, log_t *log, metrics_t *metrics,
                           const scheduler_cbs_t *cbs, char *errstr, size_t errstr_size);
/* Frees every job still held (without callbacks) and the ZIM client. */
void scheduler_destroy(scheduler_t *s);

zim_api_t *scheduler_api(scheduler_t *s);

/* Queues a job with a valid event (job->ev.user_id set). Takes ownership
 * (also on failure, when the job is freed). 0 ok, -1 on allocation failure. */
int scheduler_submit(scheduler_t *s, job_t *job);

/* Fires due retries and the probe, and starts what the limiter, the
 * in-flight cap and the pause allow. now_us: monotonic microseconds. */
void scheduler_run(scheduler_t *s, int64_t now_us);

/* Users whose next job the gate held go back to dispatch, where the gate
 * decides again (after a revoke their jobs of that partition are dropped). */
void scheduler_release_held(scheduler_t *s);

/* Microseconds until scheduler_run() has something to do (-1: nothing
 * until an API call completes or a job is submitted). */
int64_t scheduler_next_us(scheduler_t *s, int64_t now_us);

/* Jobs held (queued, waiting, in flight, parked). */
size_t scheduler_jobs(const scheduler_t *s);
int scheduler_in_flight(const scheduler_t *s);
/* 1 while a systemic pause is in force. */
int scheduler_paused(const scheduler_t *s);

#endif
