/* job.c - job allocation (see job.h). */
#include "worker/job.h"

#include <stdlib.h>

job_t *job_new(void)
{
    job_t *job = calloc(1, sizeof(*job));
    if (job)
        job->ev.delete_type = -1;
    return job;
}

void job_free(job_t *job)
{
    if (!job)
        return;
    event_clear(&job->ev);
    free(job->key);
    free(job->value);
    free(job->traceparent);
    free(job->covered_by);
    free(job->src_topic);
    free(job);
}

/* A job is allocated and freed once per event: up to 1032 bytes, glibc
 * serves it from its per-thread cache, never consolidating its heap. */
_Static_assert(sizeof(job_t) <= 1024, "job_t grew past glibc's per-thread cache");
