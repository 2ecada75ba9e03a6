/* retryheap.h - the scheduler's retry timers: jobs waiting for their next
 * attempt, earliest due_us first (a binary min-heap).
 *
 * The heap holds pointers only: the jobs stay the scheduler's (through
 * their users' queues), and destroying the heap frees none of them.
 * Single-threaded. */
#ifndef ZU_RETRYHEAP_H
#define ZU_RETRYHEAP_H

#include <stddef.h>
#include <stdint.h>

#include "worker/job.h"

typedef struct retryheap retryheap_t;

/* An empty heap; NULL when out of memory. The caller owns it:
 * retryheap_destroy(). */
retryheap_t *retryheap_new(void);
/* Frees the heap, not the jobs in it. NULL is a no-op. */
void retryheap_destroy(retryheap_t *h);

/* Adds job, ordered by its due_us (set by the caller, not changed while it
 * waits). 0 ok, -1 when the heap could not grow (job is not added). */
int retryheap_push(retryheap_t *h, job_t *job);
/* Removes and returns the earliest job due at or before now_us; NULL when
 * none is due. Jobs due at the same time come out in no set order. */
job_t *retryheap_pop_due(retryheap_t *h, int64_t now_us);
/* The earliest due_us waiting; -1 when the heap is empty. */
int64_t retryheap_next_us(const retryheap_t *h);
/* Jobs waiting. */
size_t retryheap_len(const retryheap_t *h);

#endif
