/* test_scheduler.c - the scheduler with a fake API and a hand-moved clock:
 * per-user order, the in-flight cap, retries and backoff, due retries
 * before new work, shared calls, the systemic and outage pauses, the stop
 * cut (gate hold) and revoked partitions (gate drop). */
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/ratelimit.h"
#include "tt.h"
#include "worker/scheduler.h"

#define MAX_CALLS 4096

typedef struct fake {
    scheduler_t *s;
    ratelimit_t *rl;
    int64_t now;
    job_t *calls[MAX_CALLS]; /* every call started, in order */
    int ncalls;
    job_t *running[MAX_CALLS]; /* started, not completed */
    int nrunning;
    int fail_start;     /* the API refuses to start this many calls */
    int64_t started_at; /* the slot time the last start was given */
    job_t *finals[MAX_CALLS];
    int nfinals;
    int dropped;
    int64_t hold_above; /* gate: hold offsets above this (-1: none) */
    int drop_partition; /* gate: drop jobs of this partition (-1: none) */
    int hold_partition; /* gate: hold_above applies to this partition only (-1: all) */
    int max_attempts;
    int needed_partition; /* needed: jobs of this partition up to needed_upto (-1: none) */
    int64_t needed_upto;
} fake_t;

static int api_start(void *ctx, job_t *job, int64_t now_us, char *err, size_t errsz)
{
    fake_t *f = ctx;
    f->started_at = now_us;
    if (f->fail_start > 0) {
        f->fail_start--;
        snprintf(err, errsz, "no memory");
        return -1;
    }
    f->calls[f->ncalls++] = job;
    f->running[f->nrunning++] = job;
    return 0;
}

static void on_final(void *ctx, job_t *job)
{
    fake_t *f = ctx;
    f->finals[f->nfinals++] = job;
}

static void on_drop(void *ctx, job_t *job)
{
    fake_t *f = ctx;
    f->dropped++;
    job_free(job);
}

static sched_gate_t on_gate(void *ctx, const job_t *job)
{
    fake_t *f = ctx;
    if (job->partition == f->drop_partition)
        return SCHED_DROP;
    if (f->hold_above >= 0 && job->offset > f->hold_above &&
        (f->hold_partition < 0 || job->partition == f->hold_partition))
        return SCHED_HOLD;
    return SCHED_START;
}

static int on_needed(void *ctx, const job_t *job)
{
    fake_t *f = ctx;
    return job->partition == f->needed_partition && job->offset <= f->needed_upto;
}

static void fake_init_backoff(fake_t *f, int max_in_flight, int max_attempts, int coalesce,
                              int64_t initial_backoff_ms, int64_t max_backoff_ms)
{
    char err[256];
    memset(f, 0, sizeof(*f));
    f->now = 1000000;
    f->hold_above = -1;
    f->drop_partition = -1;
    f->hold_partition = -1;
    f->needed_partition = -1;
    f->max_attempts = max_attempts;
    f->rl = ratelimit_new(100000.0, f->now);
    scheduler_opts_t so = {
        .max_in_flight = max_in_flight,
        .max_attempts = max_attempts,
        .initial_backoff_ms = initial_backoff_ms,
        .max_backoff_ms = max_backoff_ms,
        .coalesce = coalesce,
        .seed = 42,
    };
    sched_api_t api = {.start = api_start, .ctx = f};
    scheduler_cbs_t cbs = {
        .final = on_final, .drop = on_drop, .gate = on_gate, .needed = on_needed, .ctx = f};
    f->s = scheduler_new(&so, &api, f->rl, NULL, NULL, &cbs, err, sizeof(err));
}

static void fake_init(fake_t *f, int max_in_flight, int max_attempts, int coalesce)
{
    fake_init_backoff(f, max_in_flight, max_attempts, coalesce, 100, 2000);
}

static void fake_free(fake_t *f)
{
    for (int i = 0; i < f->nfinals; i++)
        job_free(f->finals[i]);
    scheduler_destroy(f->s);
    ratelimit_destroy(f->rl);
}

static job_t *mkjob(const char *user, int32_t partition, int64_t offset, int delete_type)
{
    job_t *j = job_new();
    char id[64];
    j->ev.user_id = strdup(user);
    snprintf(id, sizeof(id), "e-%d-%lld", (int)partition, (long long)offset);
    j->ev.event_id = strdup(id);
    j->ev.delete_type = delete_type;
    j->partition = partition;
    j->offset = offset;
    return j;
}

static void submit(fake_t *f, const char *user, int32_t partition, int64_t offset)
{
    TT_EQ_INT(scheduler_submit(f->s, mkjob(user, partition, offset, 0)), 0);
}

/* Moves the clock by ms and lets the scheduler run; the limiter spaces
 * starts evenly (10 us apart at its rate here), so a few more runs 20 us
 * apart start everything that may start. */
static void tick(fake_t *f, int64_t ms)
{
    f->now += ms * 1000;
    for (int i = 0; i < 64; i++) {
        scheduler_run(f->s, f->now);
        f->now += 20;
    }
}

static zim_api_result_t answer(zim_outcome_t outcome, int has_code, int64_t code)
{
    zim_api_result_t r;
    memset(&r, 0, sizeof(r));
    r.outcome = outcome;
    r.has_code = has_code;
    r.code = code;
    snprintf(r.request_id, sizeof(r.request_id), "rid-%lld", (long long)code);
    return r;
}

/* Completes the running call of job (or the oldest when job is NULL). */
static void complete(fake_t *f, job_t *job, zim_api_result_t res)
{
    int i = 0;
    if (job)
        for (; i < f->nrunning && f->running[i] != job; i++)
            ;
    if (i >= f->nrunning) {
        TT_CHECK(!"no such call running");
        return;
    }
    job = f->running[i];
    memmove(&f->running[i], &f->running[i + 1], (size_t)(f->nrunning - i - 1) * sizeof(job_t *));
    f->nrunning--;
    scheduler_done(f->s, job, &res, f->now);
}

static void complete_all(fake_t *f, zim_api_result_t res)
{
    while (f->nrunning > 0)
        complete(f, NULL, res);
}

#define OK           answer(ZIM_SUCCESS, 1, 0)
#define BUSY         answer(ZIM_RETRY, 1, 660000001)
#define NO_ANSWER    answer(ZIM_RETRY, 0, 0)
#define REJECTED     answer(ZIM_REJECTED, 1, 660000002)
#define SYSTEMIC     answer(ZIM_SYSTEMIC, 1, 100000005)
#define RATE_LIMITED answer(ZIM_RETRY_SLOWDOWN, 1, 660300005)

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
    complete_all(&f, SYSTEMIC);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_SYSTEMIC);
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    TT_EQ_INT(f.nrunning, 1);
    int32_t probed = f.running[0]->partition;
    complete_all(&f, SYSTEMIC);
    f.drop_partition = probed;
    int before = f.ncalls;
    tick(&f, scheduler_next_us(f.s, f.now) / 1000 + 1);
    TT_EQ_INT(f.dropped, 1);
    TT_EQ_INT(f.nrunning, 1);
    TT_CHECK(f.ncalls == before + 1 && f.running[0]->partition != probed);
    complete_all(&f, OK);
    TT_EQ_INT(scheduler_paused(f.s), SCHED_PAUSE_NONE);
    for (int round = 0; round < 10 && scheduler_jobs(f.s); round++) {
        tick(&f, 300);
        complete_all(&f, OK);
    }
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
    for (int round = 0; round < 10 && scheduler_jobs(f.s); round++) {
        tick(&f, 300);
        complete_all(&f, OK);
    }
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
    for (int round = 0; round < 10 && scheduler_jobs(f.s); round++) {
        tick(&f, 300);
        complete_all(&f, OK);
    }
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

int main(void)
{
    TT_RUN(test_per_user_order_and_cap);
    TT_RUN(test_start_gets_slot_time);
    TT_RUN(test_retries_backoff_and_exhaustion);
    TT_RUN(test_due_retry_first);
    TT_RUN(test_coalesce);
    TT_RUN(test_gate_hold_and_drop);
    TT_RUN(test_needed_behind_held_head);
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
    scheduler_destroy(NULL);
    TT_DONE();
}
