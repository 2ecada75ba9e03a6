/* retryheap.c - the scheduler's retry timers (see retryheap.h). */
#include "worker/retryheap.h"

#include <stdlib.h>
#include <string.h>

#define RETRYHEAP_FIRST_CAP 64

struct retryheap {
    job_t **jobs; /* min-heap on due_us */
    size_t len, cap;
};

retryheap_t *retryheap_new(void)
{
    return calloc(1, sizeof(retryheap_t));
}

void retryheap_destroy(retryheap_t *h)
{
    if (!h)
        return;
    free(h->jobs);
    free(h);
}

/* Doubles the room (malloc and copy, so that a failed growth leaves the
 * heap as it was). 0 ok, -1 no memory. */
static int grow(retryheap_t *h)
{
    size_t cap = h->cap ? h->cap * 2 : RETRYHEAP_FIRST_CAP;
    job_t **jobs;

    if (cap > SIZE_MAX / sizeof(*jobs) || !(jobs = malloc(cap * sizeof(*jobs))))
        return -1;
    if (h->len)
        memcpy(jobs, h->jobs, h->len * sizeof(*jobs));
    free(h->jobs);
    h->jobs = jobs;
    h->cap = cap;
    return 0;
}

int retryheap_push(retryheap_t *h, job_t *job)
{
    size_t i;

    if (h->len == h->cap && grow(h) != 0)
        return -1;
    i = h->len++;
    while (i > 0 && h->jobs[(i - 1) / 2]->due_us > job->due_us) {
        h->jobs[i] = h->jobs[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->jobs[i] = job;
    return 0;
}

job_t *retryheap_pop_due(retryheap_t *h, int64_t now_us)
{
    job_t *top, *last;
    size_t i = 0;

    if (!h->len || h->jobs[0]->due_us > now_us)
        return NULL;
    top = h->jobs[0];
    last = h->jobs[--h->len];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->jobs[c + 1]->due_us < h->jobs[c]->due_us)
            c++;
        if (h->jobs[c]->due_us >= last->due_us)
            break;
        h->jobs[i] = h->jobs[c];
        i = c;
    }
    if (h->len)
        h->jobs[i] = last;
    return top;
}

int64_t retryheap_next_us(const retryheap_t *h)
{
    return h->len ? h->jobs[0]->due_us : -1;
}

size_t retryheap_len(const retryheap_t *h)
{
    return h->len;
}
