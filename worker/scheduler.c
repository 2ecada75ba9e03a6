/* scheduler.c - per-user FIFOs, in-flight cap, retries, systemic pause
 * (see scheduler.h). */
#include "worker/scheduler.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/clock.h"

typedef enum { USER_READY, USER_RUNNING, USER_WAITING, USER_PARKED, USER_HELD } user_state_t;

typedef struct user {
    char *id;
    job_t *head, *tail; /* FIFO; head is the only job ever started */
    user_state_t state;
    struct user *hnext; /* hash chain */
    struct user *rnext; /* ready / held / parked list link */
} user_t;

typedef struct user_list {
    user_t *head, *tail;
} user_list_t;

struct scheduler {
    scheduler_opts_t opts;
    scheduler_cbs_t cbs;
    zim_api_t *api;
    ratelimit_t *rl;
    log_t *log;
    backoff_rng_t rng;

    user_t **buckets;
    size_t nbuckets, nusers;
    size_t njobs;
    int in_flight;

    user_list_t ready;  /* head job may start */
    user_list_t held;   /* gate said hold (clean stop) */
    user_list_t parked; /* systemic pause */

    job_t **heap; /* retry timers, min-heap on due_us */
    size_t heap_len, heap_cap;

    int paused;
    job_t *probe;      /* the job that retries during a pause */
    int probe_running; /* the probe call is in flight */
    int64_t probe_due_us;
    int pause_attempt;

    int64_t blocked_since_us; /* limiter blocking a ready job, -1 none */

    metric_family_t *m_calls, *m_retries, *m_wait, *m_in_flight, *m_paused, *m_exhausted;
};

static void m_add(metric_family_t *f, const char *labels, double v)
{
    if (f)
        metric_add(f, labels, v);
}

static void m_set(metric_family_t *f, const char *labels, double v)
{
    if (f)
        metric_set(f, labels, v);
}

/* ---- user lists and hash ---- */

static void list_push(user_list_t *l, user_t *u)
{
    u->rnext = NULL;
    if (l->tail)
        l->tail->rnext = u;
    else
        l->head = u;
    l->tail = u;
}

static user_t *list_pop(user_list_t *l)
{
    user_t *u = l->head;
    if (u) {
        l->head = u->rnext;
        if (!l->head)
            l->tail = NULL;
        u->rnext = NULL;
    }
    return u;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static user_t **user_slot(scheduler_t *s, const char *id)
{
    user_t **pp = &s->buckets[hash_str(id) & (s->nbuckets - 1)];
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

static int rehash(scheduler_t *s)
{
    size_t n = s->nbuckets * 2;
    user_t **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < s->nbuckets; i++) {
        user_t *u = s->buckets[i], *next;
        for (; u; u = next) {
            next = u->hnext;
            size_t k = hash_str(u->id) & (n - 1);
            u->hnext = b[k];
            b[k] = u;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
    return 0;
}

static void user_remove(scheduler_t *s, user_t *u)
{
    user_t **pp = user_slot(s, u->id);
    if (*pp == u)
        *pp = u->hnext;
    s->nusers--;
    free(u->id);
    free(u);
}

/* ---- retry heap ---- */

static int heap_push(scheduler_t *s, job_t *job)
{
    if (s->heap_len == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
        job_t **h = realloc(s->heap, cap * sizeof(*h));
        if (!h)
            return -1;
        s->heap = h;
        s->heap_cap = cap;
    }
    size_t i = s->heap_len++;
    while (i > 0 && s->heap[(i - 1) / 2]->due_us > job->due_us) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = job;
    return 0;
}

static job_t *heap_pop(scheduler_t *s)
{
    job_t *top = s->heap[0], *last = s->heap[--s->heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_len)
            break;
        if (c + 1 < s->heap_len && s->heap[c + 1]->due_us < s->heap[c]->due_us)
            c++;
        if (s->heap[c]->due_us >= last->due_us)
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_len)
        s->heap[i] = last;
    return top;
}

/* ---- life cycle ---- */

void scheduler_config(const config_t *cfg, scheduler_opts_t *so, zim_api_opts_t *ao)
{
    memset(so, 0, sizeof(*so));
    memset(ao, 0, sizeof(*ao));
    so->max_in_flight = cfg->max_in_flight;
    so->max_attempts = cfg->max_attempts;
    so->initial_backoff_ms = cfg->initial_backoff_ms;
    so->max_backoff_ms = cfg->max_backoff_ms;
    ao->endpoint = cfg->endpoint;
    ao->app_id = cfg->app_id;
    ao->secret = cfg->server_secret;
    ao->request_timeout_ms = cfg->request_timeout_ms;
    ao->connect_timeout_ms = cfg->connect_timeout_ms;
    ao->ca_file = cfg->ca_file;
    ao->success_codes = cfg->success_codes;
    ao->success_codes_cnt = cfg->success_codes_cnt;
}

static void on_api_done(void *opaque, const zim_api_result_t *res, void *cb_ctx);

scheduler_t *scheduler_new(const scheduler_opts_t *opts, const zim_api_opts_t *api_opts,
                           ratelimit_t *rl, log_t *log, metrics_t *metrics,
                           const scheduler_cbs_t *cbs, char *errstr, size_t errstr_size)
{
    scheduler_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "scheduler: out of memory");
        return NULL;
    }
    s->opts = *opts;
    s->cbs = *cbs;
    s->rl = rl;
    s->log = log;
    s->blocked_since_us = -1;
    backoff_rng_seed(&s->rng, opts->seed);
    s->nbuckets = 1024;
    s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
    if (!s->buckets) {
        snprintf(errstr, errstr_size, "scheduler: out of memory");
        goto fail;
    }
    s->api = zim_api_new(api_opts, on_api_done, s, log, errstr, errstr_size);
    if (!s->api)
        goto fail;
    if (metrics) {
        s->m_calls = metrics_counter(metrics, "api_calls_total",
                                     "DeleteAllFriends calls by ZIM Code (\"none\": no answer)");
        s->m_retries = metrics_counter(metrics, "retries_total", "API calls retried");
        s->m_exhausted =
            metrics_counter(metrics, "retries_exhausted_total", "Events that used every attempt");
        s->m_wait = metrics_counter(metrics, "ratelimit_wait_seconds_total",
                                    "Time ready calls waited for the rate limiter");
        s->m_in_flight = metrics_gauge(metrics, "in_flight_calls", "API calls in flight");
        s->m_paused =
            metrics_gauge(metrics, "systemic_pause", "1 while a systemic error pauses all calls");
        m_set(s->m_in_flight, NULL, 0);
        m_set(s->m_paused, NULL, 0);
        /* Unlabelled counters are exported as 0 from the start, so that
         * rate() over them has data before the first retry or wait. */
        m_add(s->m_retries, NULL, 0);
        m_add(s->m_exhausted, NULL, 0);
        m_add(s->m_wait, NULL, 0);
    }
    return s;
fail:
    scheduler_destroy(s);
    return NULL;
}

void scheduler_destroy(scheduler_t *s)
{
    if (!s)
        return;
    zim_api_destroy(s->api); /* no callbacks: in-flight jobs are freed below */
    for (size_t i = 0; s->buckets && i < s->nbuckets; i++) {
        user_t *u = s->buckets[i], *un;
        for (; u; u = un) {
            un = u->hnext;
            job_t *j = u->head, *jn;
            for (; j; j = jn) {
                jn = j->next;
                job_free(j);
            }
            free(u->id);
            free(u);
        }
    }
    free(s->buckets);
    free(s->heap);
    free(s);
}

zim_api_t *scheduler_api(scheduler_t *s)
{
    return s->api;
}

size_t scheduler_jobs(const scheduler_t *s)
{
    return s->njobs;
}

int scheduler_in_flight(const scheduler_t *s)
{
    return s->in_flight;
}

int scheduler_paused(const scheduler_t *s)
{
    return s->paused;
}

int scheduler_submit(scheduler_t *s, job_t *job)
{
    if (s->nusers >= s->nbuckets && rehash(s) == -1)
        goto oom;
    user_t **pp = user_slot(s, job->ev.user_id);
    user_t *u = *pp;
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u || !(u->id = strdup(job->ev.user_id))) {
            free(u);
            goto oom;
        }
        *pp = u;
        s->nusers++;
        u->state = USER_READY;
        list_push(&s->ready, u);
    }
    job->next = NULL;
    job->user = u;
    if (u->tail)
        u->tail->next = job;
    else
        u->head = job;
    u->tail = job;
    s->njobs++;
    return 0;
oom:
    job_free(job);
    return -1;
}

/* Removes the head job of its user (it is final or dropped) and moves the
 * user on: next job ready, or the user is gone. */
static void user_advance(scheduler_t *s, user_t *u, int user_listed)
{
    job_t *job = u->head;
    u->head = job->next;
    if (!u->head)
        u->tail = NULL;
    job->next = NULL;
    job->user = NULL;
    s->njobs--;
    if (user_listed)
        return; /* the caller keeps the user where it is (ready list head) */
    if (u->head) {
        u->state = USER_READY;
        list_push(&s->ready, u);
    } else {
        user_remove(s, u);
    }
}

static void finish(scheduler_t *s, job_t *job, job_status_t status, const char *error_class)
{
    user_t *u = job->user;
    job->status = status;
    job->error_class = error_class;
    job->completed_at_ms = clock_unix_ms();
    user_advance(s, u, 0);
    s->cbs.final(s->cbs.ctx, job);
}

static void start_call(scheduler_t *s, job_t *job, int64_t now_us)
{
    char err[256];
    job->attempts++;
    s->in_flight++;
    m_set(s->m_in_flight, NULL, s->in_flight);
    job->user->state = USER_RUNNING;
    if (zim_api_start(s->api, job->ev.user_id, job->ev.delete_type, job, err, sizeof(err)) == 0)
        return;
    /* Could not even start (allocation, CSPRNG): a retryable failure. */
    zim_api_result_t res;
    memset(&res, 0, sizeof(res));
    res.outcome = ZIM_RETRY;
    snprintf(res.message, sizeof(res.message), "%s", err);
    (void)now_us;
    on_api_done(job, &res, s);
}

static void park(scheduler_t *s, job_t *job)
{
    job->user->state = USER_PARKED;
    list_push(&s->parked, job->user);
}

/* Starts the pause with job as its probe, or (paused already) puts the probe
 * back to wait for its next, later turn; still_msg says why the pause goes on. */
static void pause_enter(scheduler_t *s, job_t *job, int64_t now_us, const char *still_msg)
{
    int64_t ceil_ms = backoff_ceiling_ms(
        ++s->pause_attempt, s->opts.initial_backoff_ms < 1000 ? 1000 : s->opts.initial_backoff_ms,
        s->opts.max_backoff_ms);
    /* Jitter in the upper half: never hammer, never stall much longer. */
    int64_t delay_ms =
        ceil_ms / 2 + (int64_t)(backoff_rng_next(&s->rng) % (uint64_t)(ceil_ms / 2 + 1));
    char code[32], delay[32], http[24];
    snprintf(code, sizeof(code), "%" PRId64, job->last.code);
    snprintf(delay, sizeof(delay), "%" PRId64, delay_ms);
    snprintf(http, sizeof(http), "%ld", job->last.http_status);
    if (!s->paused) {
        log_msg(s->log, LOG_ERROR,
                "systemic error: pausing all calls; no failure results are published and "
                "offsets stay uncommitted until the API accepts again",
                "code", job->last.has_code ? code : NULL, "message", job->last.message,
                "http_status", job->last.http_status ? http : NULL, "retry_in_ms", delay, NULL);
    } else {
        log_msg(s->log, LOG_WARN, still_msg, "code", job->last.has_code ? code : NULL, "message",
                job->last.message, "retry_in_ms", delay, NULL);
    }
    s->paused = 1;
    m_set(s->m_paused, NULL, 1);
    s->probe = job;
    s->probe_due_us = now_us + delay_ms * 1000;
}

static void pause_leave(scheduler_t *s, const job_t *answered)
{
    user_t *u;
    log_msg(s->log, LOG_INFO, "API accepts calls again: resuming", NULL);
    s->paused = 0;
    s->pause_attempt = 0;
    m_set(s->m_paused, NULL, 0);
    /* A probe still waiting goes back to normal dispatch; one in flight (or
     * the one that just answered) finishes as an ordinary call. */
    if (s->probe && s->probe != answered && !s->probe_running) {
        s->probe->user->state = USER_READY;
        list_push(&s->ready, s->probe->user);
    }
    s->probe = NULL;
    s->probe_running = 0;
    while ((u = list_pop(&s->parked))) {
        u->state = USER_READY;
        list_push(&s->ready, u);
    }
}

static void on_api_done(void *opaque, const zim_api_result_t *res, void *cb_ctx)
{
    scheduler_t *s = cb_ctx;
    job_t *job = opaque;
    int64_t now_us = clock_mono_us();
    char label[48];

    s->in_flight--;
    m_set(s->m_in_flight, NULL, s->in_flight);
    job->answered = 1;
    job->last = *res;
    if (res->has_code)
        snprintf(label, sizeof(label), "code=\"%" PRId64 "\"", res->code);
    else
        snprintf(label, sizeof(label), "code=\"none\"");
    m_add(s->m_calls, label, 1);

    int was_probe = (job == s->probe);
    if (was_probe)
        s->probe_running = 0;

    int systemic = res->outcome == ZIM_SYSTEMIC && !s->opts.systemic_final;
    /* During a pause, no ZIM answer at all (transport failure, HTTP error, no
     * Code) shows nothing about whether the API accepts again. Neither that
     * nor a systemic answer counts against max_attempts (the event is not at
     * fault): the first systemic job, and the probe, wait as the probe (user
     * parked, unlisted); any other waits parked in the list until the pause
     * ends. A pause publishes no failure result. */
    if (systemic || (s->paused && !res->has_code)) {
        if (was_probe || (systemic && !s->paused)) {
            job->user->state = USER_PARKED;
            pause_enter(s, job, now_us,
                        systemic ? "systemic error persists"
                                 : "still paused: the probe got no answer from ZIM");
        } else {
            park(s, job);
        }
        return;
    }
    if (s->paused)
        pause_leave(s, job);
    job->counted++;

    switch (res->outcome) {
    case ZIM_SUCCESS:
        finish(s, job, JOB_SUCCESS, NULL);
        return;
    case ZIM_REJECTED:
        finish(s, job, JOB_FAILURE, "rejected");
        return;
    case ZIM_SYSTEMIC: { /* systemic_final (--once): nothing to pause */
        char code[32];
        snprintf(code, sizeof(code), "%" PRId64, res->code);
        log_msg(s->log, LOG_ERROR,
                "systemic error: the credentials or account set-up are wrong (a running worker "
                "would pause)",
                "code", res->has_code ? code : NULL, "message", res->message, NULL);
        finish(s, job, JOB_FAILURE, "rejected");
        return;
    }
    case ZIM_RETRY_SLOWDOWN:
        ratelimit_slow_down(s->rl, now_us);
        break;
    case ZIM_RETRY_CLOCK:
        log_msg(s->log, LOG_WARN,
                "ZIM says the signature expired: is this host's clock more than 10 minutes off?",
                "message", res->message, NULL);
        break;
    case ZIM_RETRY:
        break;
    }
    if (job->counted >= s->opts.max_attempts) {
        m_add(s->m_exhausted, NULL, 1);
        finish(s, job, JOB_FAILURE, "retries_exhausted");
        return;
    }
    int64_t delay_ms =
        backoff_delay_ms(&s->rng, job->counted, s->opts.initial_backoff_ms, s->opts.max_backoff_ms);
    job->due_us = now_us + delay_ms * 1000;
    job->user->state = USER_WAITING;
    m_add(s->m_retries, NULL, 1);
    if (log_enabled(s->log, LOG_DEBUG)) {
        char ubuf[64], att[16], dl[32];
        snprintf(att, sizeof(att), "%d", job->attempts);
        snprintf(dl, sizeof(dl), "%" PRId64, delay_ms);
        log_msg(s->log, LOG_DEBUG, "retrying", "user_id",
                log_user(s->log, job->ev.user_id, ubuf, sizeof(ubuf)), "event_id", job->ev.event_id,
                "attempts", att, "delay_ms", dl, "outcome", zim_outcome_name(res->outcome),
                "message", res->message, NULL);
    }
    if (heap_push(s, job) == -1) {
        /* No memory for the timer: retry right away rather than lose it. */
        job->user->state = USER_READY;
        list_push(&s->ready, job->user);
    }
}

/* Moves due retries back to the ready list. */
static void fire_timers(scheduler_t *s, int64_t now_us)
{
    while (s->heap_len && s->heap[0]->due_us <= now_us) {
        job_t *job = heap_pop(s);
        job->user->state = USER_READY;
        list_push(&s->ready, job->user);
    }
}

void scheduler_run(scheduler_t *s, int64_t now_us)
{
    fire_timers(s, now_us);
    if (s->paused) {
        if (s->probe && !s->probe_running && now_us >= s->probe_due_us &&
            s->in_flight < s->opts.max_in_flight && ratelimit_acquire(s->rl, now_us) == 0) {
            s->probe_running = 1;
            start_call(s, s->probe, now_us);
        }
        return;
    }
    while (s->in_flight < s->opts.max_in_flight && s->ready.head) {
        user_t *u = s->ready.head;
        job_t *job = u->head;
        sched_gate_t g = s->cbs.gate ? s->cbs.gate(s->cbs.ctx, job) : SCHED_START;
        if (g == SCHED_DROP) {
            user_advance(s, u, 1);
            s->cbs.drop(s->cbs.ctx, job);
            if (!u->head) {
                list_pop(&s->ready);
                user_remove(s, u);
            }
            continue;
        }
        if (g == SCHED_HOLD) {
            list_pop(&s->ready);
            u->state = USER_HELD;
            list_push(&s->held, u);
            continue;
        }
        int64_t wait = ratelimit_acquire(s->rl, now_us);
        if (wait > 0) {
            if (s->blocked_since_us < 0)
                s->blocked_since_us = now_us;
            return;
        }
        if (s->blocked_since_us >= 0) {
            m_add(s->m_wait, NULL, (double)(now_us - s->blocked_since_us) / 1e6);
            s->blocked_since_us = -1;
        }
        list_pop(&s->ready);
        start_call(s, job, now_us);
        if (s->paused)
            return;
    }
}

void scheduler_release_held(scheduler_t *s)
{
    user_t *u;
    while ((u = list_pop(&s->held))) {
        u->state = USER_READY;
        list_push(&s->ready, u);
    }
}

int64_t scheduler_next_us(scheduler_t *s, int64_t now_us)
{
    int64_t next = -1;
    if (s->heap_len)
        next = s->heap[0]->due_us > now_us ? s->heap[0]->due_us - now_us : 0;
    if (s->paused) {
        if (s->probe && !s->probe_running) {
            int64_t d = s->probe_due_us > now_us ? s->probe_due_us - now_us : 0;
            if (d == 0)
                d = ratelimit_wait_us(s->rl, now_us);
            if (next < 0 || d < next)
                next = d;
        }
        return next;
    }
    if (s->ready.head && s->in_flight < s->opts.max_in_flight) {
        int64_t d = ratelimit_wait_us(s->rl, now_us);
        if (next < 0 || d < next)
            next = d;
    }
    return next;
}
