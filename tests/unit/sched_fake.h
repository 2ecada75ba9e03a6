/* sched_fake.h - the scheduler's test fixture: a fake API that records the
 * calls started, a gate and a hand-moved clock (for test_scheduler and
 * test_scheduler_pause). */
#ifndef ZU_SCHED_FAKE_H
#define ZU_SCHED_FAKE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/ratelimit.h"
#include "tests/unit/tt.h"
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

static inline int api_start(void *ctx, job_t *job, int64_t now_us, char *err, size_t errsz)
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

static inline void on_final(void *ctx, job_t *job)
{
    fake_t *f = ctx;
    f->finals[f->nfinals++] = job;
}

static inline void on_drop(void *ctx, job_t *job)
{
    fake_t *f = ctx;
    f->dropped++;
    job_free(job);
}

static inline sched_gate_t on_gate(void *ctx, const job_t *job)
{
    fake_t *f = ctx;
    if (job->partition == f->drop_partition)
        return SCHED_DROP;
    if (f->hold_above >= 0 && job->offset > f->hold_above &&
        (f->hold_partition < 0 || job->partition == f->hold_partition))
        return SCHED_HOLD;
    return SCHED_START;
}

static inline int on_needed(void *ctx, const job_t *job)
{
    fake_t *f = ctx;
    return job->partition == f->needed_partition && job->offset <= f->needed_upto;
}

static inline void fake_init_backoff(fake_t *f, int max_in_flight, int max_attempts, int coalesce,
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

static inline void fake_init(fake_t *f, int max_in_flight, int max_attempts, int coalesce)
{
    fake_init_backoff(f, max_in_flight, max_attempts, coalesce, 100, 2000);
}

static inline void fake_free(fake_t *f)
{
    for (int i = 0; i < f->nfinals; i++)
        job_free(f->finals[i]);
    scheduler_destroy(f->s);
    ratelimit_destroy(f->rl);
}

static inline job_t *mkjob(const char *user, int32_t partition, int64_t offset, int delete_type)
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

static inline void submit(fake_t *f, const char *user, int32_t partition, int64_t offset)
{
    TT_EQ_INT(scheduler_submit(f->s, mkjob(user, partition, offset, 0)), 0);
}

/* Moves the clock by ms and lets the scheduler run; the limiter spaces
 * starts evenly (10 us apart at its rate here), so a few more runs 20 us
 * apart start everything that may start. */
static inline void tick(fake_t *f, int64_t ms)
{
    f->now += ms * 1000;
    for (int i = 0; i < 64; i++) {
        scheduler_run(f->s, f->now);
        f->now += 20;
    }
}

static inline zim_api_result_t answer(zim_outcome_t outcome, int has_code, int64_t code)
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
static inline void complete(fake_t *f, job_t *job, zim_api_result_t res)
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

static inline void complete_all(fake_t *f, zim_api_result_t res)
{
    while (f->nrunning > 0)
        complete(f, NULL, res);
}

/* Every call answers res, turns 300 ms apart, until no job is left (at most
 * rounds turns). */
static inline void drain(fake_t *f, int rounds, zim_api_result_t res)
{
    for (int round = 0; round < rounds && scheduler_jobs(f->s); round++) {
        tick(f, 300);
        complete_all(f, res);
    }
}

#define OK           answer(ZIM_SUCCESS, 1, 0)
#define BUSY         answer(ZIM_RETRY, 1, 660000001)
#define NO_ANSWER    answer(ZIM_RETRY, 0, 0)
#define REJECTED     answer(ZIM_REJECTED, 1, 660000002)
#define SYSTEMIC     answer(ZIM_SYSTEMIC, 1, 100000005)
#define RATE_LIMITED answer(ZIM_RETRY_SLOWDOWN, 1, 660300005)
#define CLOCK_SKEW   answer(ZIM_RETRY_CLOCK, 1, 100000004)

#endif
