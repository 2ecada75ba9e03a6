/* The retry timers: order, what is due, and a heap that cannot grow. */
#include "worker/retryheap.h"

#include <stdlib.h>

#include "tests/unit/tt.h"

#include "tests/unit/fail_malloc.h"

#define N 5000

static job_t jobs[N];

static void test_order(void)
{
    retryheap_t *h = retryheap_new();
    int64_t last = -1, min = INT64_MAX;
    uint64_t seed = 8;
    size_t popped = 0;

    TT_CHECK(h != NULL);
    TT_EQ_INT(retryheap_next_us(h), -1);
    TT_CHECK(retryheap_pop_due(h, INT64_MAX) == NULL);
    for (int i = 0; i < N; i++) {
        jobs[i].due_us = (int64_t)(tt_rand(&seed) % 1000000);
        if (jobs[i].due_us < min)
            min = jobs[i].due_us;
        TT_EQ_INT(retryheap_push(h, &jobs[i]), 0);
    }
    TT_EQ_INT(retryheap_len(h), N);
    TT_EQ_INT(retryheap_next_us(h), min);
    /* Nothing is due before the earliest. */
    TT_CHECK(retryheap_pop_due(h, min - 1) == NULL);
    /* Up to the middle: exactly the jobs due by then, earliest first. */
    size_t due_by_half = 0;
    for (int i = 0; i < N; i++)
        due_by_half += jobs[i].due_us <= 500000;
    for (job_t *j; (j = retryheap_pop_due(h, 500000)); popped++) {
        TT_CHECK(j->due_us >= last && j->due_us <= 500000);
        last = j->due_us;
    }
    TT_EQ_INT(popped, due_by_half);
    TT_CHECK(retryheap_next_us(h) > 500000);
    for (job_t *j; (j = retryheap_pop_due(h, INT64_MAX)); popped++) {
        TT_CHECK(j->due_us >= last);
        last = j->due_us;
    }
    TT_EQ_INT(popped, N);
    TT_EQ_INT(retryheap_len(h), 0);
    TT_EQ_INT(retryheap_next_us(h), -1);
    retryheap_destroy(h);
    retryheap_destroy(NULL);
}

/* A heap that cannot grow refuses the job and keeps the ones it holds. */
static void test_cannot_grow(void)
{
    retryheap_t *h = retryheap_new();
    size_t i = 0;

    TT_CHECK(h != NULL);
    fail_mallocs = 1;
    TT_EQ_INT(retryheap_push(h, &jobs[0]), -1);
    TT_EQ_INT(retryheap_len(h), 0);
    /* Fill the first room (64), then the growth fails. */
    for (i = 0; i < 64; i++) {
        jobs[i].due_us = (int64_t)(64 - i);
        TT_EQ_INT(retryheap_push(h, &jobs[i]), 0);
    }
    fail_mallocs = 1;
    jobs[64].due_us = 0;
    TT_EQ_INT(retryheap_push(h, &jobs[64]), -1);
    TT_EQ_INT(retryheap_len(h), 64);
    TT_EQ_INT(retryheap_next_us(h), 1);
    /* Once memory is back it grows, and every job comes out in order. */
    TT_EQ_INT(retryheap_push(h, &jobs[64]), 0);
    for (int64_t want = 0; want <= 64; want++) {
        job_t *j = retryheap_pop_due(h, INT64_MAX);
        TT_CHECK(j != NULL);
        if (j)
            TT_EQ_INT(j->due_us, want);
    }
    /* Destroying a heap that still holds jobs frees none of them (they are
     * static here: freeing one would crash). */
    TT_EQ_INT(retryheap_push(h, &jobs[1]), 0);
    retryheap_destroy(h);
}

int main(void)
{
    TT_RUN(test_order);
    TT_RUN(test_cannot_grow);
    TT_DONE();
}
