/* job.c - job allocation (see job.h). */
#include "worker/job.h"

#include <stdlib.h>
#include <string.h>

job_t *job_new(void)
{
    /* malloc, not calloc: glibc's calloc never takes from its per-thread cache. */
    job_t *job = malloc(sizeof(*job));
    if (job) {
        memset(job, 0, sizeof(*job));
        job->ev.delete_type = -1;
    }
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

/* A job is allocated and freed once per event. Under 1,024 bytes it is a
 * small chunk for glibc, served from its per-thread cache: a larger one is
 * a large-bin request, which consolidates the heap's fast bins every time. */
_Static_assert(sizeof(job_t) <= 1000, "job_t grew past glibc's small chunks");
