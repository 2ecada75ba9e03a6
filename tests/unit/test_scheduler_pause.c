/* test_scheduler_pause.c - the scheduler's pauses with a fake API and a
 * hand-moved clock: the systemic pause, the outage pause, the probe (its
 * partition given up, taken from the retry timers, beyond a stop's cut),
 * who exhausts during a pause, and the attempts an outage gives back
 * (Guarantee 7). */
#include "tests/unit/sched_fake.h"

/* The outage ends (the probe is answered unless it is user's) and ZIM
 * answers everyone but user, whose calls keep failing until it exhausts.
 * Returns user's calls after the pause; checks how its result ended. */
static int calls_after_outage(fake_t *f, const char *user)
{
    for (int i = 0; i < 40 && scheduler_paused(f->s) != SCHED_PAUSE_NONE; i++) {
        tick(f, scheduler_next_us(f->s, f->now) / 1000 + 1);
        for (int k = f->nrunning - 1; k >= 0; k--)
            complete(f, f->running[k], strcmp(f->running[k]->ev.user_id, user) ? OK : NO_ANSWER);
    }
    TT_EQ_INT(scheduler_paused(f->s), SCHED_PAUSE_NONE);
    int calls = 0;
    for (int i = 0; i < 40 && scheduler_jobs(f->s); i++) {
        tick(f, 2500);
        for (int k = f->nrunning - 1; k >= 0; k--) {
            int mine = strcmp(f->running[k]->ev.user_id, user) == 0;
            calls += mine;
            complete(f, f->running[k], mine ? BUSY : OK);
        }
    }
    TT_EQ_INT(scheduler_jobs(f->s), 0);
    for (int i = 0; i < f->nfinals; i++)
        if (strcmp(f->finals[i]->ev.user_id, user) == 0) {
            TT_EQ_INT(f->finals[i]->error_class, RESULT_ERR_RETRIES_EXHAUSTED);
            TT_EQ_INT(f->finals[i]->counted, f->max_attempts);
        }
    return calls;
}

/* The probe's partition is given up during a pause: it is dropped (its
 * next owner processes it) and never called again here; another user's
 * job becomes the probe, and the answer to it ends the pause. */
static void test_probe_partition_given_up(void)
{
    fake_t f;
    fake_init(&f, 8, 3, 0);
    submit(&f, "a", 0, 0);
    submit(&f, "b", 1, 1);
    submit(&f, "c", 2, 2);
    tick(&f, 0);
    complete_all(&f, SYSTEMIC); /* a's answer pauses; b and c park, in order */
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_SYSTEMIC);
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    TT_EQ_INT(f.nrunning, 1);
    TT_EQ_STR(f.running[0]->ev.user_id, "a");
    complete_all(&f, SYSTEMIC); /* a's probe failed: b, parked longest, probes next */
    int32_t probed = 1;         /* b's partition, given up now */
    f.drop_partition = probed;
    int before = f.ncalls;
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    TT_EQ_INT(f.dropped, 1);
    TT_EQ_INT(f.nrunning, 1);
    TT_CHECK(f.ncalls == before + 1 && f.running[0]->partition != probed);
    complete_all(&f, OK);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    drain(&f, 10, OK);
    TT_EQ_INT(scheduler_jobs(f.s), 0);
    TT_EQ_INT(f.nfinals, 2);
    for (int i = 0; i < f.ncalls; i++)
        TT_CHECK(i < before || f.calls[i]->partition != probed);
    fake_free(&f);
}

/* The probe's partition is given up while the only other waiting job
 * waits for its own retry: that retry becomes the probe (else nothing
 * would ever wake the paused worker: no probe, no timer asked for). */
static void test_probe_from_retry_heap(void)
{
    fake_t f;
    fake_init_backoff(&f, 8, 8, 0, 60000, 60000);
    submit(&f, "b", 5, 0);
    tick(&f, 0);
    complete_all(&f, BUSY); /* b waits for its retry, up to 60 s */
    submit(&f, "a", 0, 1);
    tick(&f, 0);
    TT_EQ_INT(f.ncalls, 2);
    complete_all(&f, SYSTEMIC);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_SYSTEMIC);
    int64_t probe_in = scheduler_next_us(f.s, f.now);
    TT_CHECK(probe_in >= 5000000 && probe_in <= 10000000);
    f.drop_partition = 0;
    tick(&f, probe_in / 1000 + 1);
    TT_EQ_INT(f.dropped, 1);
    /* b's own retry is not due yet (with this seed it falls after the
     * probe's time): it probes now, taken from the retry timers. */
    TT_EQ_INT(f.ncalls, 3);
    TT_EQ_INT(f.nrunning, 1);
    if (f.nrunning == 1)
        TT_EQ_STR(f.running[0]->ev.user_id, "b");
    complete_all(&f, OK);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    TT_EQ_INT(f.nfinals, 1);
    TT_EQ_INT(scheduler_jobs(f.s), 0);
    TT_EQ_INT(scheduler_next_us(f.s, f.now), -1);
    fake_free(&f);
}

/* A stop during a pause whose probe lies beyond the stop's cut: the probe
 * waits with the held users and a job within the cut probes instead (no
 * busy loop on a probe that can never start). */
static void test_probe_beyond_cut(void)
{
    fake_t f;
    fake_init(&f, 8, 3, 0);
    submit(&f, "a", 1, 100);
    tick(&f, 0);
    complete_all(&f, SYSTEMIC);
    submit(&f, "c", 0, 5);
    f.hold_partition = 1; /* the stop's cut: partition 1 up to 99 */
    f.hold_above = 99;
    int64_t probe_in = scheduler_next_us(f.s, f.now);
    TT_CHECK(probe_in > 0);
    tick(&f, probe_in / 1000 + 1);
    TT_EQ_INT(f.ncalls, 2);
    if (f.nrunning == 1)
        TT_EQ_STR(f.running[0]->ev.user_id, "c");
    /* Nothing else may start while c probes: no timer at all. */
    TT_EQ_INT(scheduler_next_us(f.s, f.now), -1);
    complete_all(&f, OK);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    tick(&f, 1);
    TT_EQ_INT(f.ncalls, 2); /* a stays held */
    TT_EQ_INT(f.nfinals, 1);
    f.hold_above = -1;
    scheduler_release_held(f.s);
    tick(&f, 0);
    TT_EQ_INT(f.ncalls, 3);
    complete_all(&f, OK);
    TT_EQ_INT(f.nfinals, 2);
    TT_EQ_INT(scheduler_jobs(f.s), 0);
    fake_free(&f);
}

/* A systemic answer pauses everything: no failure, no counted attempt;
 * one probe backs off; an answer resumes all. */
static void test_systemic_pause(void)
{
    fake_t f;
    fake_init(&f, 8, 2, 0);
    for (int i = 0; i < 5; i++) {
        char u[8];
        snprintf(u, sizeof(u), "s%d", i);
        submit(&f, u, 0, i);
    }
    tick(&f, 0);
    TT_EQ_INT(f.nrunning, 5);
    complete_all(&f, SYSTEMIC);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_SYSTEMIC);
    TT_EQ_INT(f.nfinals, 0);
    submit(&f, "late", 0, 9);
    tick(&f, 0);
    TT_EQ_INT(f.nrunning, 0); /* nothing starts before the probe is due */
    int probes = 0;
    for (int i = 0; i < 6; i++) { /* the probe keeps meeting the error */
        int64_t d = scheduler_next_us(f.s, f.now);
        TT_CHECK(d > 0 && d <= (int64_t)BACKOFF_PROBE_MAX_MS * 1000);
        tick(&f, d / 1000 + 1);
        TT_EQ_INT(f.nrunning, 1);
        probes++;
        complete(&f, NULL, i % 2 ? SYSTEMIC : NO_ANSWER);
        TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_SYSTEMIC);
    }
    TT_EQ_INT(f.nfinals, 0);
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    complete(&f, NULL, OK);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    tick(&f, 0);
    complete_all(&f, OK);
    TT_EQ_INT(f.nfinals, 6);
    /* With max_attempts 2, only the first call after the pause counted. */
    for (int i = 0; i < f.nfinals; i++)
        TT_EQ_INT(f.finals[i]->status, JOB_SUCCESS);
    TT_CHECK(probes == 6);
    fake_free(&f);
}

/* ZIM answering nobody: retryable failures of three distinct users with
 * no answer in between pause with cause outage; the attempts are refunded
 * and nobody fails, however long it lasts. */
static void test_outage_pause(void)
{
    fake_t f;
    fake_init(&f, 8, 2, 0);
    for (int i = 0; i < 6; i++) {
        char u[8];
        snprintf(u, sizeof(u), "o%d", i);
        submit(&f, u, 0, i);
    }
    tick(&f, 0);
    complete(&f, NULL, NO_ANSWER);
    complete(&f, NULL, BUSY);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    complete(&f, NULL, NO_ANSWER);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    complete_all(&f, NO_ANSWER);   /* in flight when it began: parked */
    for (int i = 0; i < 30; i++) { /* a long outage: probes only */
        tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
        TT_EQ_INT(f.nrunning, 1);
        complete(&f, NULL, i % 3 == 0 ? BUSY : NO_ANSWER);
        TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    }
    TT_EQ_INT(f.nfinals, 0);
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    complete(&f, NULL, OK); /* the first answer resumes */
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    drain(&f, 10, OK);
    TT_EQ_INT(f.nfinals, 6);
    for (int i = 0; i < f.nfinals; i++)
        TT_EQ_INT(f.finals[i]->status, JOB_SUCCESS);
    /* A systemic answer during an outage turns the pause systemic. */
    submit(&f, "p1", 0, 10);
    submit(&f, "p2", 0, 11);
    submit(&f, "p3", 0, 12);
    tick(&f, 0);
    complete_all(&f, NO_ANSWER);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    complete(&f, NULL, SYSTEMIC);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_SYSTEMIC);
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    complete(&f, NULL, OK);
    drain(&f, 10, OK);
    TT_EQ_INT(f.nfinals, 9);
    TT_EQ_INT(scheduler_jobs(f.s), 0);
    fake_free(&f);
}

/* One user failing alone while the others are answered ends in
 * retries_exhausted; nobody else fails and nothing pauses. */
static void test_single_user_exhausts(void)
{
    fake_t f;
    fake_init(&f, 8, 3, 0);
    submit(&f, "bad", 0, 0);
    int others = 0;
    for (int round = 0; round < 40 && f.nfinals - others < 1; round++) {
        char u[16];
        snprintf(u, sizeof(u), "ok%d", round);
        submit(&f, u, 1, round);
        tick(&f, 200);
        for (int i = f.nrunning - 1; i >= 0; i--) {
            job_t *j = f.running[i];
            complete(&f, j, strcmp(j->ev.user_id, "bad") == 0 ? NO_ANSWER : OK);
        }
        TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
        others = 0;
        for (int i = 0; i < f.nfinals; i++)
            others += strcmp(f.finals[i]->ev.user_id, "bad") != 0;
    }
    int exhausted = 0;
    for (int i = 0; i < f.nfinals; i++) {
        if (strcmp(f.finals[i]->ev.user_id, "bad") == 0) {
            exhausted++;
            TT_EQ_INT(f.finals[i]->error_class, RESULT_ERR_RETRIES_EXHAUSTED);
            TT_EQ_INT(f.finals[i]->attempts, 3);
        } else {
            TT_EQ_INT(f.finals[i]->status, JOB_SUCCESS);
        }
    }
    TT_EQ_INT(exhausted, 1);
    fake_free(&f);
}

/* A last attempt that cannot even connect is no fault of its user: one
 * user alone pauses as an outage instead of exhausting, probes, and
 * succeeds when ZIM is back. A last attempt answered with a busy code
 * still exhausts. */
static void test_unreachable_last_attempt_pauses(void)
{
    zim_api_result_t refused = NO_ANSWER;
    refused.curl_code = 7; /* CURLE_COULDNT_CONNECT */
    fake_t f;
    fake_init(&f, 8, 3, 0);
    submit(&f, "alone", 0, 0);
    for (int i = 0; i < 10 && scheduler_paused(f.s) == SCHED_PAUSE_NONE; i++) {
        tick(&f, 300);
        complete_all(&f, refused);
    }
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    TT_EQ_INT(f.nfinals, 0);
    for (int i = 0; i < 40 && f.nfinals == 0; i++) {
        tick(&f, 1000);
        complete_all(&f, OK);
    }
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    TT_EQ_INT(f.nfinals, 1);
    if (f.nfinals == 1)
        TT_EQ_INT(f.finals[0]->status, JOB_SUCCESS);
    submit(&f, "busy", 0, 1);
    for (int i = 0; i < 10 && f.nfinals == 1; i++) {
        tick(&f, 300);
        complete_all(&f, BUSY);
    }
    TT_EQ_INT(f.nfinals, 2);
    if (f.nfinals == 2)
        TT_EQ_INT(f.finals[1]->error_class, RESULT_ERR_RETRIES_EXHAUSTED);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    fake_free(&f);
}

/* Two users failing over the time window with no answer make an outage. */
static void test_outage_time_rule(void)
{
    fake_t f;
    fake_init(&f, 8, 50, 0);
    submit(&f, "t1", 0, 0);
    submit(&f, "t2", 0, 1);
    tick(&f, 0);
    complete_all(&f, NO_ANSWER);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    for (int i = 0; i < 100 && scheduler_paused(f.s) == SCHED_PAUSE_NONE; i++) {
        tick(&f, 250);
        complete_all(&f, NO_ANSWER);
    }
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    TT_EQ_INT(f.nfinals, 0);
    fake_free(&f);
}

/* Two users' retries fill every slot while ZIM answers nobody: neither
 * uses its last attempt; the time rule then pauses. */
static void test_outage_before_exhaustion(void)
{
    fake_t f;
    fake_init(&f, 2, 3, 0);
    submit(&f, "a", 0, 0);
    submit(&f, "b", 0, 1);
    submit(&f, "c", 0, 2); /* waits: both slots are taken by a and b */
    tick(&f, 0);
    for (int i = 0; i < 10 && scheduler_paused(f.s) == SCHED_PAUSE_NONE; i++) {
        complete_all(&f, NO_ANSWER);
        tick(&f, 1);
        /* Due retries of a and b go first; c gets a slot between them. */
        for (int k = 0; k < f.nrunning; k++)
            if (strcmp(f.running[k]->ev.user_id, "c") == 0)
                complete(&f, f.running[k], NO_ANSWER);
        tick(&f, 250);
    }
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    TT_EQ_INT(f.nfinals, 0);
    fake_free(&f);
}

/* The failures that revealed an outage do not count, wherever the failing
 * user's job is when the pause begins: waiting for its retry, or with the
 * retry in flight (which then comes back unanswered and parks). After the
 * pause it still has every attempt: max_attempts more calls while ZIM
 * answers the others. */
static void test_outage_refund_in_flight(void)
{
    for (int a_in_flight = 0; a_in_flight < 2; a_in_flight++) {
        fake_t f;
        fake_init(&f, 8, 3, 0);
        submit(&f, "a", 0, 0);
        tick(&f, 0);
        complete_all(&f, NO_ANSWER); /* a's failure: counted */
        if (a_in_flight)
            tick(&f, 2000); /* its retry starts */
        TT_EQ_INT(f.nrunning, a_in_flight);
        submit(&f, "b", 0, 1);
        submit(&f, "c", 0, 2);
        tick(&f, 0);
        for (int k = f.nrunning - 1; k >= 0; k--)
            if (strcmp(f.running[k]->ev.user_id, "a") != 0)
                complete(&f, f.running[k], NO_ANSWER);
        TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
        complete_all(&f, NO_ANSWER); /* a's retry comes back: parked */
        TT_EQ_INT(calls_after_outage(&f, "a"), 3);
        fake_free(&f);
    }
}

/* Every failure since the last answer is refunded when the outage is
 * declared, once: a's two counted failures, but not its deferred last
 * attempt (it failed while another user failed too, so it never counted).
 * After the pause a has max_attempts calls again, not one more. */
static void test_outage_refunds_streak(void)
{
    fake_t f;
    fake_init(&f, 8, 3, 0);
    submit(&f, "a", 0, 0);
    tick(&f, 0);
    complete_all(&f, NO_ANSWER); /* a: 1 */
    tick(&f, 300);
    complete_all(&f, NO_ANSWER); /* a: 2 */
    submit(&f, "b", 0, 1);
    tick(&f, 0);
    complete_all(&f, NO_ANSWER); /* b: 1 */
    tick(&f, 1500);
    TT_CHECK(f.nrunning >= 1);
    complete_all(&f, NO_ANSWER); /* a's last: deferred, not counted (b's 2nd) */
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    TT_EQ_INT(f.nfinals, 0);
    submit(&f, "c", 0, 2);
    tick(&f, 0);
    for (int k = f.nrunning - 1; k >= 0; k--)
        if (strcmp(f.running[k]->ev.user_id, "c") == 0)
            complete(&f, f.running[k], NO_ANSWER);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    complete_all(&f, NO_ANSWER);
    TT_EQ_INT(calls_after_outage(&f, "a"), 3);
    fake_free(&f);
}

/* One call at a time at the start of an outage: the first user's due
 * retries would take every slot, so it would reach its last attempt with
 * nobody else tried. Its last attempt waits behind the waiting users
 * instead; their failures then make an outage, and nobody fails. When they
 * are answered instead, its last failure is final, after max_attempts
 * calls. */
static void test_lone_last_attempt_yields(void)
{
    for (int others_ok = 0; others_ok < 2; others_ok++) {
        fake_t f;
        fake_init(&f, 1, 3, 0);
        submit(&f, "first", 0, 0);
        submit(&f, "second", 0, 1);
        submit(&f, "third", 0, 2);
        int first_calls = 0;
        for (int i = 0; i < 40 && scheduler_paused(f.s) == SCHED_PAUSE_NONE && f.nfinals < 3; i++) {
            tick(&f, 300);
            while (f.nrunning > 0) {
                job_t *j = f.running[0];
                int first = strcmp(j->ev.user_id, "first") == 0;
                first_calls += first;
                complete(&f, j, first || !others_ok ? NO_ANSWER : OK);
            }
        }
        if (!others_ok) {
            TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
            TT_EQ_INT(f.nfinals, 0);
        } else {
            TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
            TT_EQ_INT(f.nfinals, 3);
            for (int i = 0; i < f.nfinals; i++) {
                int first = strcmp(f.finals[i]->ev.user_id, "first") == 0;
                TT_EQ_INT(f.finals[i]->status, first ? JOB_FAILURE : JOB_SUCCESS);
                if (first)
                    TT_EQ_INT(f.finals[i]->error_class, RESULT_ERR_RETRIES_EXHAUSTED);
            }
            TT_EQ_INT(first_calls, 3);
        }
        fake_free(&f);
    }
}

/* Every user's calls are answered "signature expired" (this host's clock
 * is off): no user is at fault, so the worker pauses as in an outage rather
 * than failing them all; once the clock is right the probe is answered and
 * everyone succeeds. */
static void test_clock_skew_pauses(void)
{
    fake_t f;
    fake_init(&f, 8, 3, 0);
    for (int i = 0; i < 4; i++) {
        char u[8];
        snprintf(u, sizeof(u), "c%d", i);
        submit(&f, u, 0, i);
    }
    for (int round = 0; round < 20 && scheduler_paused(f.s) == SCHED_PAUSE_NONE; round++) {
        tick(&f, 300);
        complete_all(&f, CLOCK_SKEW);
    }
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    complete_all(&f, CLOCK_SKEW);
    for (int i = 0; i < 10; i++) { /* a long skew: probes only, nobody fails */
        tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
        complete_all(&f, CLOCK_SKEW);
    }
    TT_EQ_INT(f.nfinals, 0);
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    complete_all(&f, OK); /* the clock is right again */
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    drain(&f, 10, OK);
    TT_EQ_INT(f.nfinals, 4);
    for (int i = 0; i < f.nfinals; i++)
        TT_EQ_INT(f.finals[i]->status, JOB_SUCCESS);
    fake_free(&f);
}

/* An outage pause whose probe is a user ZIM fails on its own (its id makes
 * ZIM answer 500, say): the next probe is another user's, whose answer
 * ends the pause; the failing user then uses its attempts and exhausts
 * while everyone else succeeds. Before, it probed alone for ever and held
 * every user paused. */
static void test_probe_rotates(void)
{
    fake_t f;
    fake_init(&f, 8, 3, 0);
    submit(&f, "x", 0, 0);
    submit(&f, "y", 1, 1);
    submit(&f, "poison", 0, 2);
    submit(&f, "z", 2, 3);
    tick(&f, 0);
    /* Three users fail at once, poison third: an outage, poison probes. */
    complete_all(&f, NO_ANSWER);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_OUTAGE);
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    TT_EQ_INT(f.nrunning, 1);
    if (f.nrunning == 1)
        TT_EQ_STR(f.running[0]->ev.user_id, "poison");
    for (int i = 0; i < 10 && scheduler_paused(f.s) != SCHED_PAUSE_NONE; i++) {
        if (i > 0)
            tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
        TT_EQ_INT(f.nrunning, 1);
        if (f.nrunning == 1)
            complete(&f, NULL, strcmp(f.running[0]->ev.user_id, "poison") == 0 ? NO_ANSWER : OK);
    }
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    for (int round = 0; round < 20 && scheduler_jobs(f.s); round++) {
        tick(&f, 300);
        while (f.nrunning > 0)
            complete(&f, NULL, strcmp(f.running[0]->ev.user_id, "poison") == 0 ? BUSY : OK);
    }
    TT_EQ_INT(scheduler_jobs(f.s), 0);
    TT_EQ_INT(f.nfinals, 4);
    for (int i = 0; i < f.nfinals; i++)
        TT_EQ_INT(f.finals[i]->status,
                  strcmp(f.finals[i]->ev.user_id, "poison") == 0 ? JOB_FAILURE : JOB_SUCCESS);
    fake_free(&f);
}

int main(void)
{
    TT_RUN(test_systemic_pause);
    TT_RUN(test_probe_partition_given_up);
    TT_RUN(test_probe_from_retry_heap);
    TT_RUN(test_probe_beyond_cut);
    TT_RUN(test_outage_pause);
    TT_RUN(test_single_user_exhausts);
    TT_RUN(test_unreachable_last_attempt_pauses);
    TT_RUN(test_outage_time_rule);
    TT_RUN(test_outage_before_exhaustion);
    TT_RUN(test_lone_last_attempt_yields);
    TT_RUN(test_outage_refund_in_flight);
    TT_RUN(test_outage_refunds_streak);
    TT_RUN(test_clock_skew_pauses);
    TT_RUN(test_probe_rotates);
    TT_DONE();
}
