/* scheduler.c - per-user FIFOs, in-flight cap, shared calls, retries and
 * pauses (see scheduler.h). */
#include "worker/scheduler.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/backoff.h"
#include "common/fmt.h"
#include "common/outage.h"
#include "worker/retryheap.h"
#include "worker/usertab.h"

TAILQ_HEAD(user_list, user);

struct scheduler {
    scheduler_opts_t opts;
    scheduler_cbs_t cbs;
    sched_api_t api;
    ratelimit_t *rl;
    log_t *log;
    backoff_rng_t rng;

    usertab_t *users;
    size_t njobs;
    int in_flight;
    uint64_t answers; /* calls answered so far (any user) */

    struct user_list due;    /* retries that are due: start before anything new */
    struct user_list ready;  /* head job may start */
    struct user_list held;   /* gate said hold (clean stop) */
    struct user_list parked; /* pause: their calls came back unanswered */

    retryheap_t *retries; /* jobs waiting for their retry */

    outage_t outage;
    sched_pause_t paused;
    job_t *probe;      /* the job that retries during a pause */
    int probe_running; /* the probe call is in flight */
    int64_t probe_due_us;
    int pause_attempt;

    int64_t blocked_since_us; /* limiter blocking a ready job, -1 none */

    metric_family_t *m_duration;
    metric_family_t *m_calls, *m_retries, *m_wait, *m_in_flight, *m_pause, *m_exhausted,
        *m_coalesced;
};

static const char *const pause_names[] = {"none", "systemic", "outage"};

const char *sched_pause_name(sched_pause_t p)
{
    return (unsigned)p < sizeof(pause_names) / sizeof(pause_names[0]) ? pause_names[p] : "none";
}

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

static void pause_metric(scheduler_t *s)
{
    m_set(s->m_pause, "cause=\"systemic\"", s->paused == SCHED_PAUSE_SYSTEMIC);
    m_set(s->m_pause, "cause=\"outage\"", s->paused == SCHED_PAUSE_OUTAGE);
}

/* ---- user lists ---- */

static void list_push(struct user_list *l, user_t *u)
{
    TAILQ_INSERT_TAIL(l, u, link);
}

static void list_remove(struct user_list *l, user_t *u)
{
    TAILQ_REMOVE(l, u, link);
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
    so->coalesce = cfg->coalesce;
    ao->endpoint = cfg->endpoint;
    ao->app_id = cfg->app_id;
    ao->secret = cfg->server_secret;
    ao->request_timeout_ms = cfg->request_timeout_ms;
    ao->connect_timeout_ms = cfg->connect_timeout_ms;
    ao->ca_file = cfg->ca_file;
    ao->success_codes = cfg->success_codes;
    ao->success_codes_cnt = cfg->success_codes_cnt;
}

scheduler_t *scheduler_new(const scheduler_opts_t *opts, const sched_api_t *api, ratelimit_t *rl,
                           log_t *log, metrics_t *metrics, const scheduler_cbs_t *cbs, char *errstr,
                           size_t errstr_size)
{
    scheduler_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "scheduler: out of memory");
        return NULL;
    }
    s->opts = *opts;
    s->cbs = *cbs;
    s->api = *api;
    s->rl = rl;
    s->log = log;
    s->blocked_since_us = -1;
    TAILQ_INIT(&s->due);
    TAILQ_INIT(&s->ready);
    TAILQ_INIT(&s->held);
    TAILQ_INIT(&s->parked);
    outage_init(&s->outage, (int64_t)SCHED_OUTAGE_WINDOW_MS * 1000);
    backoff_rng_seed(&s->rng, opts->seed);
    if (!(s->users = usertab_new(errstr, errstr_size))) {
        scheduler_destroy(s);
        return NULL;
    }
    if (!(s->retries = retryheap_new())) {
        snprintf(errstr, errstr_size, "scheduler: out of memory");
        scheduler_destroy(s);
        return NULL;
    }
    if (metrics) {
        s->m_calls = metrics_counter(metrics, "api_calls_total",
                                     "DeleteAllFriends calls by ZIM Code (\"none\": no answer)");
        s->m_retries = metrics_counter(metrics, "retries_total", "API calls retried");
        s->m_exhausted =
            metrics_counter(metrics, "retries_exhausted_total", "Events that used every attempt");
        s->m_wait = metrics_counter(metrics, "ratelimit_wait_seconds_total",
                                    "Time ready calls waited for the rate limiter");
        s->m_in_flight = metrics_gauge(metrics, "in_flight_calls", "API calls in flight");
        s->m_pause = metrics_gauge(metrics, "pause",
                                   "1 while calls are paused, by cause (systemic: credentials "
                                   "or set-up wrong; outage: ZIM answers nobody)");
        s->m_coalesced = metrics_counter(metrics, "coalesced_events_total",
                                         "Events answered by a call shared with an earlier event");
        static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,    2.5,   5,    10,  30};
        s->m_duration = metrics_histogram(
            metrics, "api_call_duration_seconds",
            "DeleteAllFriends call time, from the request to its answer or failure, by outcome",
            bounds, sizeof(bounds) / sizeof(bounds[0]));
        m_set(s->m_in_flight, NULL, 0);
        pause_metric(s);
        /* Unlabelled counters are exported as 0 from the start, so that
         * rate() over them has data before the first retry or wait. */
        m_add(s->m_retries, NULL, 0);
        m_add(s->m_exhausted, NULL, 0);
        m_add(s->m_wait, NULL, 0);
        m_add(s->m_coalesced, NULL, 0);
    }
    return s;
}

void scheduler_destroy(scheduler_t *s)
{
    if (!s)
        return;
    usertab_destroy(s->users); /* and the jobs still queued */
    retryheap_destroy(s->retries);
    free(s);
}

size_t scheduler_jobs(const scheduler_t *s)
{
    return s->njobs;
}

int scheduler_in_flight(const scheduler_t *s)
{
    return s->in_flight;
}

sched_pause_t scheduler_paused(const scheduler_t *s)
{
    return s->paused;
}

int scheduler_submit(scheduler_t *s, job_t *job)
{
    int created;
    user_t *u = usertab_get(s->users, job->ev.user_id, &created);
    if (!u)
        goto oom;
    if (created)
        list_push(&s->ready, u);
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

/* Unlinks the user's head job (final or dropped). */
static job_t *user_pop(scheduler_t *s, user_t *u)
{
    job_t *job = u->head;
    u->head = job->next;
    if (!u->head)
        u->tail = NULL;
    job->next = NULL;
    job->user = NULL;
    s->njobs--;
    return job;
}

/* The user's head is gone: next job ready, or the user is gone. The user is
 * on no list. */
static void user_next(scheduler_t *s, user_t *u)
{
    if (u->head) {
        u->state = USER_READY;
        list_push(&s->ready, u);
    } else {
        usertab_remove(s->users, u);
    }
}

/* Ends the head job and its riders: each reaches the final callback, head
 * first, in queue order, the riders with the head's answer. */
static void finish(scheduler_t *s, job_t *job, job_status_t status, result_error_t error_class)
{
    user_t *u = job->user;
    job_t *riders = NULL, **tail = &riders;
    job->status = status;
    job->error_class = error_class;
    user_pop(s, u);
    for (int i = 0; i < job->riders && u->head; i++) {
        job_t *r = user_pop(s, u);
        r->status = status;
        r->error_class = error_class;
        r->attempts = job->attempts;
        r->counted = job->counted;
        r->answered = job->answered;
        r->last = job->last;
        /* Without memory for it the result only lacks covered_by. */
        r->covered_by = job->ev.event_id ? strdup(job->ev.event_id) : NULL;
        *tail = r;
        tail = &r->next;
    }
    job->riders = 0;
    s->cbs.final(s->cbs.ctx, job);
    while (riders) {
        job_t *r = riders;
        riders = r->next;
        r->next = NULL;
        m_add(s->m_coalesced, NULL, 1);
        s->cbs.final(s->cbs.ctx, r);
    }
    user_next(s, u);
}

/* Shared calls: the jobs waiting right behind the head with its
 * delete_type, that the gate lets start, ride on its call. Riders gathered
 * for an earlier attempt stay; later arrivals join a retry. */
static void gather_riders(scheduler_t *s, job_t *head)
{
    if (!s->opts.coalesce)
        return;
    job_t *j = head->next;
    for (int i = 0; i < head->riders && j; i++)
        j = j->next;
    for (; j && j->ev.delete_type == head->ev.delete_type; j = j->next) {
        if (s->cbs.gate && s->cbs.gate(s->cbs.ctx, j) != SCHED_START)
            break;
        head->riders++;
    }
}

static void start_call(scheduler_t *s, job_t *job, int64_t now_us)
{
    char err[256];
    gather_riders(s, job);
    job->attempts++;
    s->in_flight++;
    m_set(s->m_in_flight, NULL, s->in_flight);
    job->user->state = USER_RUNNING;
    if (s->api.start(s->api.ctx, job, now_us, err, sizeof(err)) == 0)
        return;
    /* Could not even start (allocation, CSPRNG): a retryable failure. */
    zim_api_result_t res;
    memset(&res, 0, sizeof(res));
    res.outcome = ZIM_RETRY;
    snprintf(res.message, sizeof(res.message), "%s", err);
    scheduler_done(s, job, &res, now_us);
}

static void park(scheduler_t *s, job_t *job)
{
    job->user->state = USER_PARKED;
    list_push(&s->parked, job->user);
}

/* Attempts that failed since the outage began (since the last answer) were
 * the outage's, not the events': they do not count toward max_attempts.
 * Every user's head job is looked at, wherever it is: waiting for its
 * retry, due, ready, or with its next attempt in flight. Each counted
 * failure is taken back once; one never counted (a deferred last attempt)
 * is not. */
static void refund_one(user_t *u, void *ctx)
{
    const scheduler_t *s = ctx;
    job_t *j = u->head;
    if (j && j->streak > 0 && j->streak_answers == s->answers) {
        j->counted = j->counted > j->streak ? j->counted - j->streak : 0;
        j->streak = 0;
    }
}

static void refund_outage(scheduler_t *s)
{
    usertab_each(s->users, refund_one, s);
}

static void log_pause(scheduler_t *s, const job_t *job, int first, const char *still_msg,
                      int64_t delay_ms)
{
    const char *cause = sched_pause_name(s->paused);
    const char *msg = !first ? still_msg
                      : s->paused == SCHED_PAUSE_SYSTEMIC
                          ? "systemic error: pausing all calls; no failure results are published "
                            "and offsets stay uncommitted until the API accepts again"
                          : "outage: ZIM answers nobody; pausing all calls; no failure results are "
                            "published and offsets stay uncommitted until ZIM answers again";
    /* Code and HTTP status only when there was one (else JSON null). */
    if (job->last.has_code && job->last.http_status)
        log_msg(s->log, first ? LOG_ERROR : LOG_WARN, msg, "cause", cause, "#code",
                LOG_NUM(job->last.code), "message", job->last.message, "#http_status",
                LOG_NUM(job->last.http_status), "#retry_in_ms", LOG_NUM(delay_ms), NULL);
    else if (job->last.http_status)
        log_msg(s->log, first ? LOG_ERROR : LOG_WARN, msg, "cause", cause, "code", NULL, "message",
                job->last.message, "#http_status", LOG_NUM(job->last.http_status), "#retry_in_ms",
                LOG_NUM(delay_ms), NULL);
    else
        log_msg(s->log, first ? LOG_ERROR : LOG_WARN, msg, "cause", cause, "code", NULL, "message",
                job->last.message, "http_status", NULL, "#retry_in_ms", LOG_NUM(delay_ms), NULL);
}

/* Starts (or goes on with) the pause with job as its probe, due after a
 * capped, jittered backoff; still_msg says why a pause goes on. */
static void pause_enter(scheduler_t *s, job_t *job, sched_pause_t cause, int64_t now_us,
                        const char *still_msg)
{
    int first = s->paused == SCHED_PAUSE_NONE;
    int64_t delay_ms = backoff_probe_delay_ms(&s->rng, ++s->pause_attempt,
                                              s->opts.initial_backoff_ms, s->opts.max_backoff_ms);
    if (first && cause == SCHED_PAUSE_OUTAGE)
        refund_outage(s);
    if (s->probe && s->probe != job) {
        /* A new probe (an outage turned systemic): the old one waits parked
         * or, in flight, is parked or resumes everything when it returns. */
        if (!s->probe_running)
            park(s, s->probe);
        s->probe_running = 0;
    }
    s->paused = cause;
    pause_metric(s);
    log_pause(s, job, first, still_msg, delay_ms);
    job->user->state = USER_PARKED;
    s->probe = job;
    s->probe_due_us = now_us + delay_ms * 1000;
}

static void pause_leave(scheduler_t *s, const job_t *answered)
{
    user_t *u;
    log_msg(s->log, LOG_INFO, "API accepts calls again: resuming", "cause",
            sched_pause_name(s->paused), NULL);
    s->paused = SCHED_PAUSE_NONE;
    s->pause_attempt = 0;
    pause_metric(s);
    outage_answer(&s->outage);
    /* A probe still waiting goes back to dispatch (before new users); one in
     * flight (or the one that just answered) finishes as an ordinary call. */
    if (s->probe && s->probe != answered && !s->probe_running) {
        s->probe->user->state = USER_READY;
        list_push(&s->due, s->probe->user);
    }
    s->probe = NULL;
    s->probe_running = 0;
    while ((u = TAILQ_FIRST(&s->parked))) {
        list_remove(&s->parked, u);
        u->state = USER_READY;
        list_push(&s->due, u);
    }
}

/* The answer shows ZIM serves requests (as opposed to a retryable failure:
 * transport error, HTTP error, no Code, busy). "Signature expired"
 * (100000004) does not: only this host's clock causes it, never the user,
 * so when every user gets it the worker pauses as in an outage instead of
 * failing them all as retries_exhausted. */
static int is_answer(const zim_api_result_t *res)
{
    return res->outcome != ZIM_RETRY && res->outcome != ZIM_SYSTEMIC &&
           res->outcome != ZIM_RETRY_CLOCK;
}

static void retry_later(scheduler_t *s, job_t *job, const zim_api_result_t *res, int64_t now_us)
{
    int64_t delay_ms =
        backoff_delay_ms(&s->rng, job->counted, s->opts.initial_backoff_ms, s->opts.max_backoff_ms);
    job->due_us = now_us + delay_ms * 1000;
    job->user->state = USER_WAITING;
    m_add(s->m_retries, NULL, 1);
    if (log_enabled(s->log, LOG_DEBUG)) {
        char ubuf[64];
        log_msg(s->log, LOG_DEBUG, "retrying", "user_id",
                log_user(s->log, job->ev.user_id, ubuf, sizeof(ubuf)), "event_id", job->ev.event_id,
                "#attempts", LOG_NUM(job->attempts), "#delay_ms", LOG_NUM(delay_ms), "outcome",
                zim_outcome_name(res->outcome), "message", res->message, NULL);
    }
    if (retryheap_push(s->retries, job) == -1) {
        /* No memory for the timer: retry right away rather than lose it. */
        job->user->state = USER_READY;
        list_push(&s->due, job->user);
    }
}

static void probe_rotate(scheduler_t *s);

void scheduler_done(scheduler_t *s, job_t *job, const zim_api_result_t *res, int64_t now_us)
{
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
    if (res->elapsed_us > 0) { /* 0: the call could not start */
        snprintf(label, sizeof(label), "outcome=\"%s\"", zim_outcome_name(res->outcome));
        metric_observe(s->m_duration, label, (double)res->elapsed_us / 1e6);
    }

    if (is_answer(res))
        s->answers++;
    int was_probe = (job == s->probe);
    if (was_probe)
        s->probe_running = 0;

    if (!s->opts.systemic_final) {
        /* A systemic answer pauses (or turns an outage pause systemic). */
        if (res->outcome == ZIM_SYSTEMIC) {
            if (was_probe || s->paused != SCHED_PAUSE_SYSTEMIC)
                pause_enter(s, job, SCHED_PAUSE_SYSTEMIC, now_us, "systemic error persists");
            else
                park(s, job);
            if (was_probe)
                probe_rotate(s);
            return;
        }
        /* During a pause a failure without an answer shows nothing about
         * whether the API is back: the probe backs off, others park. Neither
         * counts against max_attempts (the event is not at fault). */
        if (s->paused != SCHED_PAUSE_NONE && !is_answer(res)) {
            if (was_probe) {
                pause_enter(s, job, s->paused, now_us,
                            "still paused: the probe got no answer from ZIM");
                probe_rotate(s);
            } else {
                park(s, job);
            }
            return;
        }
        /* An outage by the detector's rules, or a last attempt that could
         * not even connect: no fault of one user refuses connections, so
         * ZIM (or the way to it) is down for everyone. Either failure is
         * not counted. */
        if (s->paused == SCHED_PAUSE_NONE && !is_answer(res) &&
            (outage_failure(&s->outage, job->user->hash, now_us) ||
             (zim_api_unreachable(res) && job->counted + 1 >= s->opts.max_attempts))) {
            pause_enter(s, job, SCHED_PAUSE_OUTAGE, now_us, NULL);
            return;
        }
        if (s->paused != SCHED_PAUSE_NONE)
            pause_leave(s, job);
        else if (is_answer(res))
            outage_answer(&s->outage);
    }
    if (++job->counted == 1)
        job->answers_at = s->answers;

    switch (res->outcome) {
    case ZIM_SUCCESS:
        finish(s, job, JOB_SUCCESS, RESULT_ERR_NONE);
        return;
    case ZIM_REJECTED:
        finish(s, job, JOB_FAILURE, RESULT_ERR_REJECTED);
        return;
    case ZIM_SYSTEMIC: { /* systemic_final (--once): nothing to pause */
        char code[FMT_I64_MAX];
        fmt_i64(code, res->code);
        log_msg(s->log, LOG_ERROR,
                "systemic error: the credentials or account set-up are wrong (a running worker "
                "would pause)",
                "code", res->has_code ? code : NULL, "message", res->message, NULL);
        finish(s, job, JOB_FAILURE, RESULT_ERR_REJECTED);
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
        /* Its last attempt, while another user fails too and nobody has
         * been answered since: maybe ZIM answers nobody (retries of a few
         * users can fill every limiter slot before a third user shows it).
         * Not counted yet: it retries until someone is answered (then its
         * next failure ends it) or the outage rules pause everything. */
        if (!s->opts.systemic_final && !is_answer(res) && outage_users(&s->outage) >= 2) {
            job->counted--; /* deferred: retried, uncounted, until someone is answered */
            retry_later(s, job, res, now_us);
            return;
        }
        m_add(s->m_exhausted, NULL, 1);
        finish(s, job, JOB_FAILURE, RESULT_ERR_RETRIES_EXHAUSTED);
        return;
    }
    /* Its next attempt is the last, nobody has been answered since it began
     * failing, and other users wait untried: due retries go first, so its
     * retries may have had every slot, and its failures alone do not show
     * whose fault they are. The last attempt waits behind the users waiting
     * to start: their answers make its failure final, their failures make
     * an outage (the rules above), either way without an extra call. */
    if (job->counted + 1 == s->opts.max_attempts && !s->opts.systemic_final && !is_answer(res) &&
        s->answers == job->answers_at && !TAILQ_EMPTY(&s->ready))
        job->yielded = 1;
    /* A counted failure: part of its streak since the last answer. */
    if (job->streak_answers != s->answers) {
        job->streak = 0;
        job->streak_answers = s->answers;
    }
    job->streak++;
    retry_later(s, job, res, now_us);
}

/* Moves due retries to the due list (dispatched before new work). */
static void fire_timers(scheduler_t *s, int64_t now_us)
{
    job_t *job;
    while ((job = retryheap_pop_due(s->retries, now_us))) {
        job->user->state = USER_READY;
        if (job->yielded) {
            job->yielded = 0; /* behind the users waiting to start */
            list_push(&s->ready, job->user);
        } else {
            list_push(&s->due, job->user);
        }
    }
}

/* The next user to dispatch: due retries first, then new work. */
static user_t *next_user(scheduler_t *s, struct user_list **from)
{
    *from = TAILQ_EMPTY(&s->due) ? &s->ready : &s->due;
    return TAILQ_FIRST(*from);
}

/* A new probe for a pause whose probe's partition was given up (or whose
 * probe lies beyond a stop's cut): the first parked, due or ready user's
 * head, else the retry due first (the pause's backoff times the probe, not
 * the retry's own); the gate decides on it next. NULL: nothing waits. */
static job_t *probe_pick(scheduler_t *s)
{
    struct user_list *lists[3] = {&s->parked, &s->due, &s->ready};
    for (int i = 0; i < 3; i++) {
        user_t *u = TAILQ_FIRST(lists[i]);
        if (u) {
            list_remove(lists[i], u);
            u->state = USER_PARKED;
            return u->head;
        }
    }
    job_t *job = retryheap_pop_due(s->retries, INT64_MAX);
    if (job) {
        job->yielded = 0; /* a probe's attempt is not counted */
        job->user->state = USER_PARKED;
        return job;
    }
    return NULL;
}

/* The probe got no answer: the next probe is another waiting user's (the
 * one parked longest, else one not tried yet), and this one waits parked
 * behind the others. One user's own failures (a user id that makes ZIM
 * fail) then cannot hold everyone paused while ZIM answers the rest: the
 * next probe's answer ends the pause. Alone, it probes again. */
static void probe_rotate(scheduler_t *s)
{
    job_t *failed = s->probe, *next;
    s->probe = NULL;
    next = probe_pick(s);
    park(s, failed);
    s->probe = next ? next : probe_pick(s);
}

/* The head job's partition was given up: its next owner processes the
 * event, so this replica must not call for it again. Riders gathered for
 * earlier attempts go back to waiting (the gate decides for each of them
 * again). u is on no list. */
static void drop_head(scheduler_t *s, user_t *u)
{
    job_t *job = u->head;
    job->riders = 0;
    user_pop(s, u);
    s->cbs.drop(s->cbs.ctx, job);
    user_next(s, u);
}

/* 1 when a stop or revoke waits for a job behind head in its user's queue. */
static int needed_behind(scheduler_t *s, const job_t *head)
{
    for (const job_t *j = head->next; s->cbs.needed && j; j = j->next)
        if (s->cbs.needed(s->cbs.ctx, j))
            return 1;
    return 0;
}

/* The gate's word on a user's head job. A head beyond its cut still starts
 * when a stop or revoke waits for a job behind it: holding it would hold
 * them. */
static sched_gate_t gate(scheduler_t *s, const job_t *head)
{
    sched_gate_t g = s->cbs.gate ? s->cbs.gate(s->cbs.ctx, head) : SCHED_START;
    return g == SCHED_HOLD && needed_behind(s, head) ? SCHED_START : g;
}

/* The gate held u's head (beyond a stop's cut). u is on no list. */
static void hold(scheduler_t *s, user_t *u)
{
    u->state = USER_HELD;
    list_push(&s->held, u);
}

/* During a pause only the probe starts, when due, if the gate lets it. A
 * probe the gate drops goes (its partition's next owner has it); one it
 * holds (beyond a stop's cut, with nothing needed behind it) waits with the
 * held users. Either way another waiting job becomes the probe, so that
 * events within the cut can still be answered when ZIM is back. */
static void run_probe(scheduler_t *s, int64_t now_us)
{
    if (!s->probe)
        s->probe = probe_pick(s);
    while (s->probe && !s->probe_running && now_us >= s->probe_due_us &&
           s->in_flight < s->opts.max_in_flight) {
        sched_gate_t g = gate(s, s->probe);
        if (g != SCHED_START) {
            user_t *u = s->probe->user;
            s->probe = NULL;
            if (g == SCHED_DROP)
                drop_head(s, u);
            else
                hold(s, u);
            s->probe = probe_pick(s);
            continue;
        }
        if (ratelimit_acquire(s->rl, now_us) == 0) {
            s->probe_running = 1;
            start_call(s, s->probe, now_us);
        }
        return;
    }
}

void scheduler_run(scheduler_t *s, int64_t now_us)
{
    struct user_list *from;
    user_t *u;
    fire_timers(s, now_us);
    if (s->paused != SCHED_PAUSE_NONE) {
        run_probe(s, now_us);
        return;
    }
    while (s->in_flight < s->opts.max_in_flight && (u = next_user(s, &from))) {
        job_t *job = u->head;
        sched_gate_t g = gate(s, job);
        if (g != SCHED_START) {
            list_remove(from, u);
            if (g == SCHED_DROP)
                drop_head(s, u);
            else
                hold(s, u);
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
        list_remove(from, u);
        start_call(s, job, now_us);
        if (s->paused != SCHED_PAUSE_NONE)
            return;
    }
}

void scheduler_release_held(scheduler_t *s)
{
    user_t *u;
    while ((u = TAILQ_FIRST(&s->held))) {
        list_remove(&s->held, u);
        u->state = USER_READY;
        list_push(&s->ready, u);
    }
}

int64_t scheduler_next_us(scheduler_t *s, int64_t now_us)
{
    int64_t next = -1;
    if (s->paused != SCHED_PAUSE_NONE) {
        /* Only the probe starts during a pause: retries wait for its end. */
        if (s->probe && !s->probe_running) {
            next = s->probe_due_us > now_us ? s->probe_due_us - now_us : 0;
            if (next == 0)
                next = ratelimit_wait_us(s->rl, now_us);
        }
        return next;
    }
    int64_t due = retryheap_next_us(s->retries);
    if (due >= 0)
        next = due > now_us ? due - now_us : 0;
    if ((!TAILQ_EMPTY(&s->due) || !TAILQ_EMPTY(&s->ready)) &&
        s->in_flight < s->opts.max_in_flight) {
        int64_t d = ratelimit_wait_us(s->rl, now_us);
        if (next < 0 || d < next)
            next = d;
    }
    return next;
}
