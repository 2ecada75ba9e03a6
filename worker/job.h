/* job.h - one input event on its way through the worker.
 *
 * A job is created by the loop for every consumed message it must answer,
 * lives in the scheduler while it waits for / makes API calls, then in the
 * publisher until Kafka acknowledges its result (and DLQ copy), and is freed
 * by the loop once its offset is marked done. Exactly one module holds it at
 * a time; the header says which field each module owns. */
#ifndef ZU_JOB_H
#define ZU_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "common/zim_api.h"

typedef enum {
    JOB_STATUS_NONE = 0, /* not final yet */
    JOB_SUCCESS,
    JOB_FAILURE,
} job_status_t;

typedef struct job {
    /* Source (set at creation, read-only after). */
    size_t tidx;
    const char *topic; /* borrowed from the configuration */
    int32_t partition;
    int64_t offset;
    uint64_t gen;
    int64_t received_at_ms;

    event_t ev;
    event_status_t ev_status;
    void *key; /* raw message key copy; NULL when none */
    size_t key_len;
    void *value; /* raw value copy, kept only for a DLQ copy */
    size_t value_len;
    int has_traceparent; /* the input had a traceparent header */
    void *traceparent;   /* its value, byte for byte; NULL for a NULL value */
    size_t traceparent_len;

    /* Scheduler-owned while queued/in flight. */
    struct job *next;  /* user FIFO / parked list link */
    struct user *user; /* the user's queue */
    int attempts;      /* API calls made */
    int counted;       /* calls counted against retry.max_attempts */
    int64_t due_us;    /* retry due time */
    size_t heap_idx;
    int answered; /* last is set */
    zim_api_result_t last;

    /* Final state (set by whoever finishes it). */
    job_status_t status;
    const char *error_class; /* static string or NULL */
    char reason[256];        /* the worker's reason when no ZIM message applies */
    int64_t completed_at_ms;
    int deliveries_pending; /* publisher-owned */
} job_t;

/* Allocates a zeroed job; NULL on allocation failure. */
job_t *job_new(void);
/* Frees the job and everything it owns. NULL ok. */
void job_free(job_t *job);

#endif
