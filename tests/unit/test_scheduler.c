/* test_scheduler.c - the scheduler with a fake API and a hand-moved clock:
 * per-user order, the in-flight cap, retries and backoff, due retries
 * before new work, shared calls, the stop cut (gate hold) and revoked
 * partitions (gate drop). The pauses are in test_scheduler_pause.c. */
#include "tests/unit/sched_fake.h"

#include "tests/unit/fail_malloc.h"

static void test_per_user_order_and_cap(void)
{
    fake_t f;
    fake_init(&f, 3, 8, 0);
    for (int i = 0; i < 4; i++) {
        submit(&f, "a", 0, i);
        submit(&f, "b", 1, i);
    }
    submit(&f, "c", 2, 0);
    submit(&f, "d", 2, 1);
    tick(&f, 0);
    /* One call per user at a time; three users at most. */
    TT_EQ_INT(f.nrunning, 3);
    TT_EQ_INT(scheduler_in_flight(f.s), 3);
    TT_EQ_STR(f.calls[0]->ev.user_id, "a");
    TT_EQ_STR(f.calls[1]->ev.user_id, "b");
    TT_EQ_STR(f.calls[2]->ev.user_id, "c");
    for (int round = 0; round < 20 && f.nrunning; round++) {
        complete_all(&f, OK);
        tick(&f, 1);
        TT_CHECK(f.nrunning <= 3);
    }
    TT_EQ_INT(f.nfinals, 10);
    TT_EQ_INT(scheduler_jobs(f.s), 0);
    /* Each user's jobs ended in offset order. */
    int64_t last_a = -1, last_b = -1;
    for (int i = 0; i < f.nfinals; i++) {
        job_t *j = f.finals[i];
        TT_EQ_INT(j->status, JOB_SUCCESS);
        TT_EQ_INT(j->attempts, 1);
        if (strcmp(j->ev.user_id, "a") == 0) {
            TT_CHECK(j->offset > last_a);
            last_a = j->offset;
        } else if (strcmp(j->ev.user_id, "b") == 0) {
            TT_CHECK(j->offset > last_b);
            last_b = j->offset;
        }
    }
    fake_free(&f);
}

/* A call is started with the time its rate slot was taken: the limiter
 * matches the send report to that slot. */
static void test_start_gets_slot_time(void)
{
    fake_t f;
    fake_init(&f, 3, 8, 0);
    submit(&f, "a", 0, 0);
    f.now += 100000;
    scheduler_run(f.s, f.now);
    TT_EQ_INT(f.nrunning, 1);
    TT_CHECK(f.started_at == f.now);
    complete_all(&f, OK);
    tick(&f, 1);
    TT_EQ_INT(f.nfinals, 1);
    fake_free(&f);
}

static void test_retries_backoff_and_exhaustion(void)
{
    fake_t f;
    fake_init(&f, 4, 3, 0);
    submit(&f, "x", 0, 0);
    submit(&f, "x", 0, 1);
    tick(&f, 0);
    complete(&f, NULL, BUSY);
    TT_EQ_INT(f.nrunning, 0);
    /* The retry waits for its backoff (at most initial_backoff_ms) while
     * the user's next event waits behind it. */
    int64_t next = scheduler_next_us(f.s, f.now);
    TT_CHECK(next >= 0 && next <= 100000);
    tick(&f, 101);
    TT_EQ_INT(f.nrunning, 1);
    TT_EQ_INT(f.calls[1]->offset, 0);
    complete(&f, NULL, BUSY);
    tick(&f, 201);
    TT_EQ_INT(f.nrunning, 1);
    complete(&f, NULL, BUSY); /* third attempt: exhausted */
    TT_EQ_INT(f.nfinals, 1);
    TT_EQ_INT(f.finals[0]->status, JOB_FAILURE);
    TT_EQ_INT(f.finals[0]->error_class, RESULT_ERR_RETRIES_EXHAUSTED);
    TT_EQ_INT(f.finals[0]->attempts, 3);
    tick(&f, 0);
    TT_EQ_INT(f.nrunning, 1); /* the next event starts */
    complete(&f, NULL, REJECTED);
    TT_EQ_INT(f.finals[1]->error_class, RESULT_ERR_REJECTED);
    TT_EQ_INT(f.finals[1]->attempts, 1);
    /* A call that cannot even start is a retryable failure. */
    submit(&f, "y", 0, 2);
    f.fail_start = 1;
    tick(&f, 0);
    TT_EQ_INT(scheduler_in_flight(f.s), 0);
    tick(&f, 101);
    TT_EQ_INT(f.nrunning, 1);
    complete(&f, NULL, RATE_LIMITED);
    tick(&f, 201);
    complete(&f, NULL, OK);
    TT_EQ_INT(f.finals[2]->status, JOB_SUCCESS);
    TT_EQ_INT(f.finals[2]->attempts, 3);
    fake_free(&f);
}

/* A retry that is due starts before users that arrived after it. */
static void test_due_retry_first(void)
{
    fake_t f;
    fake_init(&f, 1, 8, 0);
    submit(&f, "r", 0, 0);
    tick(&f, 0);
    complete(&f, NULL, BUSY);
    for (int i = 1; i <= 50; i++) {
        char u[16];
        snprintf(u, sizeof(u), "n%d", i);
        submit(&f, u, 0, i);
    }
    tick(&f, 0); /* n1 starts: the retry is not due yet */
    TT_EQ_STR(f.calls[1]->ev.user_id, "n1");
    tick(&f, 150); /* the retry is due now */
    complete(&f, NULL, OK);
    tick(&f, 0);
    TT_EQ_STR(f.calls[2]->ev.user_id, "r"); /* before n2 .. n50 */
    fake_free(&f);
}

/* Shared calls: the waiting jobs of the user with the same delete_type
 * ride on the head's call (and its retries); another delete_type does not. */
static void test_coalesce(void)
{
    fake_t f;
    fake_init(&f, 4, 8, 1);
    submit(&f, "u", 0, 0);
    tick(&f, 0);
    TT_EQ_INT(f.nrunning, 1); /* the head runs alone: nothing waits yet */
    submit(&f, "u", 0, 1);
    submit(&f, "u", 0, 2);
    submit(&f, "u", 1, 3);
    TT_EQ_INT(scheduler_submit(f.s, mkjob("u", 0, 4, 1)), 0); /* one-way */
    submit(&f, "u", 0, 5);
    complete(&f, NULL, OK);
    TT_EQ_INT(f.nfinals, 1);
    TT_CHECK(f.finals[0]->covered_by == NULL);
    tick(&f, 0);
    TT_EQ_INT(f.ncalls, 2); /* offset 1 heads a call that 2 and 3 ride on */
    complete(&f, NULL, BUSY);
    submit(&f, "u", 0, 6);
    tick(&f, 150);
    TT_EQ_INT(f.ncalls, 3); /* the retry */
    complete(&f, NULL, OK);
    TT_EQ_INT(f.nfinals, 4);
    for (int i = 1; i < 4; i++) {
        TT_EQ_INT(f.finals[i]->offset, i);
        TT_EQ_INT(f.finals[i]->attempts, 2);
        TT_EQ_INT(f.finals[i]->status, JOB_SUCCESS);
        TT_EQ_STR(f.finals[i]->last.request_id, "rid-0");
    }
    TT_CHECK(f.finals[1]->covered_by == NULL);
    TT_EQ_STR(f.finals[2]->covered_by, "e-0-1");
    TT_EQ_STR(f.finals[3]->covered_by, "e-0-1");
    tick(&f, 0);
    TT_EQ_INT(f.calls[3]->offset, 4); /* the one-way event: a call of its own */
    complete(&f, NULL, OK);
    tick(&f, 0);
    TT_EQ_INT(f.calls[4]->offset, 5); /* 6 rides on it */
    complete(&f, NULL, OK);
    TT_EQ_INT(f.nfinals, 7);
    TT_EQ_INT(f.finals[6]->offset, 6);
    TT_EQ_STR(f.finals[6]->covered_by, "e-0-5");
    TT_EQ_INT(scheduler_jobs(f.s), 0);
    fake_free(&f);
}

/* The gate: held jobs wait (clean stop cut), and do not ride on calls;
 * jobs of a revoked partition are dropped. */
static void test_gate_hold_and_drop(void)
{
    fake_t f;
    fake_init(&f, 4, 8, 1);
    submit(&f, "h", 0, 0);
    tick(&f, 0);
    submit(&f, "h", 0, 1);
    submit(&f, "h", 0, 2);
    f.hold_above = 1;
    complete(&f, NULL, OK);
    tick(&f, 0);
    TT_EQ_INT(f.ncalls, 2);
    complete(&f, NULL, OK);
    TT_EQ_INT(f.nfinals, 2); /* 2 was beyond the cut: not covered */
    tick(&f, 0);
    TT_EQ_INT(f.ncalls, 2);
    TT_EQ_INT(scheduler_jobs(f.s), 1);
    f.hold_above = -1;
    f.drop_partition = 0;
    scheduler_release_held(f.s);
    tick(&f, 0);
    TT_EQ_INT(f.dropped, 1);
    TT_EQ_INT(scheduler_jobs(f.s), 0);
    fake_free(&f);
}

/* A user's events span two partitions and a stop's cuts fall between them:
 * its head lies beyond its partition's cut, the event behind it within its
 * own. The head starts anyway (else the stop would wait its whole grace
 * for the other), then the one behind; with nothing needed behind it, a
 * head beyond the cut waits. */
static void test_needed_behind_held_head(void)
{
    for (int needed = 0; needed < 2; needed++) {
        fake_t f;
        fake_init(&f, 4, 3, 0);
        f.hold_partition = 1; /* the stop's cut: partition 1 up to 99 */
        f.hold_above = 99;
        if (needed) {
            f.needed_partition = 0; /* partition 0 up to 60 */
            f.needed_upto = 60;
        }
        submit(&f, "d", 1, 100);
        submit(&f, "d", 0, 50);
        tick(&f, 0);
        TT_EQ_INT(f.ncalls, needed);
        complete_all(&f, OK);
        tick(&f, 1);
        TT_EQ_INT(f.ncalls, 2 * needed);
        complete_all(&f, OK);
        TT_EQ_INT(f.nfinals, 2 * needed);
        if (needed)
            TT_CHECK(f.finals[0]->offset == 100 && f.finals[1]->offset == 50);
        fake_free(&f);
    }
}

/* No memory for a retry's timer: the retry goes at once, before new
 * users, rather than being lost. */
static void test_retry_without_timer(void)
{
    fake_t f;
    fake_init(&f, 1, 3, 0);
    submit(&f, "r", 0, 0);
    submit(&f, "n", 0, 1);
    tick(&f, 0);
    fail_mallocs = 1; /* the retry timers' first room */
    complete(&f, NULL, BUSY);
    TT_EQ_INT(fail_mallocs, 0);
    tick(&f, 0);
    TT_EQ_INT(f.ncalls, 2);
    if (f.ncalls == 2)
        TT_EQ_STR(f.calls[1]->ev.user_id, "r");
    complete(&f, NULL, OK);
    tick(&f, 0);
    complete_all(&f, OK);
    TT_EQ_INT(f.nfinals, 2);
    if (f.nfinals == 2)
        TT_EQ_INT(f.finals[0]->attempts, 2);
    fake_free(&f);
}

int main(void)
{
    TT_RUN(test_per_user_order_and_cap);
    TT_RUN(test_start_gets_slot_time);
    TT_RUN(test_retries_backoff_and_exhaustion);
    TT_RUN(test_due_retry_first);
    TT_RUN(test_coalesce);
    TT_RUN(test_gate_hold_and_drop);
    TT_RUN(test_needed_behind_held_head);
    TT_RUN(test_retry_without_timer);
    TT_DONE();
}
