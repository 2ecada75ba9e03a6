/* scheduler.h - per-user FIFOs, the in-flight cap, shared calls, retries and
 * the pauses, in front of the ZIM API and the rate limiter.
 *
 * Every job belongs to one user queue (its user_id). Only the head job of a
 * queue is ever started, so one user's events run one at a time in the order
 * they were submitted (offset order); different users run concurrently up to
 * max_in_flight calls.
 *
 * Shared calls (opts.coalesce): when a call for a user starts, the jobs
 * queued right behind the head with the same delete_type, and that the gate
 * lets start, ride on it: the call (and its retries) answers them too. When
 * it ends, the head and then each rider reach the final callback in queue
 * order, every rider with the call's answer and covered_by = the head's
 * event_id.
 *
 * Retries wait on a timer while other users proceed; a retry that is due
 * starts before any new user's job.
 *
 * Outcomes (zim_api_classify): success / rejected end the job; retryable
 * outcomes back off with full jitter until retry.max_attempts calls are used
 * (error class retries_exhausted). Two causes pause all dispatch:
 *  - systemic: an answer saying the credentials or account set-up are wrong;
 *  - outage: ZIM answers nobody (common/outage.h: retryable failures across
 *    distinct users with no answer in between).
 * During a pause no job fails: jobs whose calls come back are parked, and
 * one probe call at a time goes out with capped backoff, each time another
 * waiting user's job when there is one. The pause ends on the first answer
 * that is neither systemic nor a retryable failure ("signature expired"
 * counts as one: only the host's clock causes it); then everything
 * resumes. Calls made during a pause, and the failures that
 * revealed an outage, do not count toward max_attempts. (With
 * systemic_final, used by --once, a systemic answer ends the job as a
 * failure with error class rejected instead, and no outage pause is taken.)
 *
 * Seams: the API is an interface (start function + context) whose
 * completions come back through scheduler_done(); time is a parameter of
 * every call (monotonic microseconds); the wall-clock completion time is
 * the final callback owner's to set. The limiter, log and metrics registry
 * are borrowed. Ownership of a job passes to the scheduler at
 * scheduler_submit() and back through the final or drop callback.
 * Single-threaded. */
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

typedef enum {
    SCHED_PAUSE_NONE = 0,
    SCHED_PAUSE_SYSTEMIC, /* credentials or account set-up wrong */
    SCHED_PAUSE_OUTAGE,   /* ZIM answers nobody */
} sched_pause_t;

/* "none" | "systemic" | "outage" */
const char *sched_pause_name(sched_pause_t p);

typedef struct scheduler_cbs {
    /* A job reached its final state (job->status set). Ownership passes. */
    void (*final)(void *ctx, job_t *job);
    /* A job will never run (see gate). Ownership passes. */
    void (*drop)(void *ctx, job_t *job);
    /* Asked before a job starts or rides on a call. NULL = always SCHED_START. */
    sched_gate_t (*gate)(void *ctx, const job_t *job);
    /* 1 when a stop or revoke waits for the job (it lies within its
     * partition's cut). A head the gate holds still starts when a job
     * behind it in its user's queue is needed: a user's events can span
     * partitions (two input topics, keys other than the user), and the one
     * waited for must not wait behind one beyond its cut. NULL = never. */
    int (*needed)(void *ctx, const job_t *job);
    void *ctx;
} scheduler_cbs_t;

/* The API: start one DeleteAllFriends call for job (job->ev.user_id,
 * job->ev.delete_type) whose rate slot was taken at now_us (the time given
 * to the limiter's acquire). 0 when started: its completion must come back
 * later through scheduler_done() (never from inside start). -1 with errstr
 * when it could not start (a retryable failure). */
typedef struct sched_api {
    int (*start)(void *ctx, job_t *job, int64_t now_us, char *errstr, size_t errstr_size);
    void *ctx;
} sched_api_t;

typedef struct scheduler_opts {
    int max_in_flight;
    int max_attempts;
    int initial_backoff_ms;
    int max_backoff_ms;
    int coalesce;       /* shared calls for a user's waiting jobs */
    int systemic_final; /* --once: a systemic answer is a failure; no pauses */
    uint64_t seed;      /* jitter PRNG seed */
} scheduler_opts_t;

/* How long failures from two distinct users with no answer in between make
 * an outage (three distinct users make one at once). */
#define SCHED_OUTAGE_WINDOW_MS 5000
/* Probes during a pause back off up to this (or retry.max_backoff_ms when
 * lower): an API that is back is noticed within seconds. */

typedef struct scheduler scheduler_t;

/* Fills the scheduler's and the ZIM client's options from the
 * configuration (retry.*, worker.*, zim.*). The strings stay the
 * configuration's. systemic_final and seed are left 0 for the caller. */
void scheduler_config(const config_t *cfg, scheduler_opts_t *so, zim_api_opts_t *ao);

/* Creates the scheduler. rl, log and metrics are borrowed (log and metrics
 * may be NULL). NULL with errstr on failure. */
scheduler_t *scheduler_new(const scheduler_opts_t *opts, const sched_api_t *api, ratelimit_t *rl,
                           log_t *log, metrics_t *metrics, const scheduler_cbs_t *cbs, char *errstr,
                           size_t errstr_size);
/* Frees every job still held (without callbacks). Calls still running must
 * have been cancelled by their owner first: their completions may not come. */
void scheduler_destroy(scheduler_t *s);

/* Queues a job with a valid event (job->ev.user_id set). Takes ownership
 * (also on failure, when the job is freed). 0 ok, -1 on allocation failure. */
int scheduler_submit(scheduler_t *s, job_t *job);

/* A call started through the API finished. res is read during the call only. */
void scheduler_done(scheduler_t *s, job_t *job, const zim_api_result_t *res, int64_t now_us);

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
/* The pause in force, SCHED_PAUSE_NONE when none. */
sched_pause_t scheduler_paused(const scheduler_t *s);

#endif
