/* job.h - one input event on its way through the worker.
 *
 * A job is created by intake for every consumed message it must answer,
 * lives in the scheduler while it waits for / makes API calls, then in the
 * publisher until Kafka acknowledges its result (and DLQ copy), and is freed
 * by intake once its offset is marked done. Exactly one module holds it at
 * a time; the header says which field each module owns. */
#ifndef ZU_JOB_H
#define ZU_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "common/result.h"
#include "common/zim_api.h"

typedef enum {
    JOB_STATUS_NONE = 0, /* not final yet */
    JOB_SUCCESS,
    JOB_FAILURE,
} job_status_t;

typedef struct job {
    /* Source (set by intake, read-only after). */
    size_t tidx;       /* index of the topic read (input topic, or the result topic in --redrive) */
    const char *topic; /* borrowed from the configuration */
    int32_t partition;
    int64_t offset;
    uint64_t gen;
    int64_t received_at_ms;
    /* --redrive: the original event's source, reported as the result's
     * "source" (src_topic owned; NULL when not a redrive, or the failure
     * result had none), and redrive_of = topic/partition/offset above. */
    int redrive;
    char *src_topic;
    int32_t src_partition;
    int64_t src_offset;

    event_t ev;
    event_status_t ev_status;
    /* The raw message key, kept only where it is needed: for a DLQ copy and
     * for the result of an event without a usable user id. NULL otherwise. */
    void *key;
    size_t key_len;
    void *value; /* raw value copy, kept only for a DLQ copy */
    size_t value_len;
    int has_traceparent; /* the input had a valid W3C traceparent header */
    char *traceparent;   /* its value (NUL-terminated) */
    size_t bytes;        /* bytes this job holds, counted against worker.max_pending_bytes */

    /* Scheduler-owned while queued/in flight. */
    struct job *next;        /* user FIFO link */
    struct user *user;       /* the user's queue */
    int riders;              /* head of a shared call: the jobs right behind it that it answers */
    int attempts;            /* API calls made (for a rider: of the shared call) */
    int counted;             /* calls counted against retry.max_attempts */
    int64_t due_us;          /* retry due time */
    int streak;              /* its counted failures since the scheduler last saw an answer */
    uint64_t streak_answers; /* the scheduler's answer count when streak was counted */
    uint64_t answers_at;     /* the scheduler's answer count at its first counted failure */
    int yielded;             /* its last attempt waits behind the users waiting to start */
    int answered;            /* last is set */
    zim_api_result_t last;

    /* Final state (set by whoever finishes it). */
    job_status_t status;
    result_error_t error_class;
    char *covered_by;        /* a rider: the event_id of the job whose call answered it */
    int64_t completed_at_ms; /* set by the final callback's owner (wall clock) */
    int deliveries_pending;  /* publisher-owned */
} job_t;

/* Allocates a zeroed job; NULL on allocation failure. */
job_t *job_new(void);
/* Frees the job and everything it owns. NULL ok. */
void job_free(job_t *job);

#endif
