/* loop.c - the single event loop (see loop.h). */
#include "worker/loop.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/evloop.h"
#include "common/httpd.h"
#include "common/metrics.h"
#include "common/procmetrics.h"
#include "common/ratelimit.h"
#include "common/schemareg.h"
#include "common/zim_api.h"
#include "worker/intake.h"
#include "worker/offsets.h"
#include "worker/publisher.h"
#include "worker/scheduler.h"

/* Messages taken per turn before the other work gets its turn. */
#define LOOP_POLL_BATCH 500
/* The loop's held info lines reach the log at most this long after the
 * first of them (log_hold): one write per 50 ms when busy, and a crash
 * loses at most 50 ms of info lines (results are in Kafka regardless). */
#define LOOP_LOG_HOLD_US 50000

typedef struct loop {
    const loop_opts_t *o;
    const config_t *cfg;
    log_t *log;
    char worker_id[320];

    metrics_t *metrics;
    httpd_t *httpd;
    ratelimit_t *rl;
    zim_api_t *api;
    scheduler_t *sched;
    publisher_t *pub;
    consumer_t *cons;
    intake_t *intake;
    schemareg_t *registry; /* events.format = "auto" (not in --redrive) */

    int stopping;
    int64_t deadline_us;
    int exit_code;

    evloop_t *el;
    evloop_timer_t *wake;  /* the next turn that time calls for */
    evloop_waker_t *kafka; /* librdkafka's queues have something */

    metric_family_t *m_share, *m_pending, *m_pending_bytes, *m_ready, *m_lag, *m_build;
    metric_family_t *m_pause; /* the scheduler's pause{cause}, for the registry's causes */
    procmetrics_t *proc;
} loop_t;

/* ---- the API seam: the scheduler starts calls, the ZIM client ends them ---- */

static int api_start(void *ctx, job_t *job, int64_t now_us, char *errstr, size_t errstr_size)
{
    loop_t *l = ctx;
    return zim_api_start(l->api, job->ev.user_id, job->ev.delete_type, now_us, job, errstr,
                         errstr_size);
}

/* A call's request went out: the limiter counts it from then (a new
 * connection's set-up makes it later than its slot). */
static void api_sent(void *ctx, int64_t started_us, int64_t recorded_us, int64_t sent_us)
{
    loop_t *l = ctx;
    ratelimit_sent(l->rl, started_us, recorded_us, sent_us);
}

static void api_done(void *opaque, const zim_api_result_t *res, void *ctx)
{
    loop_t *l = ctx;
    scheduler_done(l->sched, opaque, res, clock_mono_us());
}

/* ---- callbacks from the consumer ---- */

static void on_revoked(void *ctx)
{
    loop_t *l = ctx;
    if (l->sched)
        scheduler_release_held(l->sched); /* the gate drops their stale jobs */
}

static void on_share(void *ctx, int owned, int total, const int *owned_idx, size_t owned_cnt)
{
    loop_t *l = ctx;
    double rate = l->cfg->rate_limit_qps;
    char r[32];
    int64_t now = clock_mono_us();
    const char *how = "whole budget";
    if (l->cfg->rate_limit_share == CONFIG_SHARE_PARTITIONS && total > 0) {
        /* The slot grid when every partition's number is known; else the
         * share of the rate (rounded down to whole calls per window). */
        if (owned_idx && ratelimit_set_grid(l->rl, l->cfg->rate_limit_qps, owned_idx, owned_cnt,
                                            total, clock_unix_us() - now) == 0) {
            rate = ratelimit_grid_share(l->rl);
            how = "slot grid";
        } else {
            ratelimit_clear_grid(l->rl);
            rate = l->cfg->rate_limit_qps * owned / total;
            if (rate > 0)
                ratelimit_set_rate(l->rl, rate, now);
            how = "share of the rate";
        }
    }
    metric_set(l->m_share, NULL, rate);
    snprintf(r, sizeof(r), "%.3f", rate);
    log_msg(l->log, LOG_INFO, "rate share", "#owned_partitions", LOG_NUM(owned),
            "#total_partitions", LOG_NUM(total), "qps", r, "by", how, NULL);
}

static void begin_stop(loop_t *l, const char *why, int exit_code)
{
    if (l->stopping)
        return;
    l->stopping = 1;
    l->exit_code = exit_code;
    l->deadline_us = clock_mono_us() + (int64_t)l->cfg->shutdown_grace_ms * 1000;
    intake_stop(l->intake);
    consumer_stop_begin(l->cons);
    if (l->sched)
        scheduler_release_held(l->sched); /* held by a drain: the stop's cut decides now */
    consumer_pause(l->cons, 1);
    log_msg(l->log, exit_code ? LOG_ERROR : LOG_INFO, "stopping: finishing calls in flight",
            "reason", why, NULL);
}

/* ---- observability ---- */

static void lag_set(void *ctx, const char *topic, int32_t partition, int64_t lag)
{
    char labels[320];
    int n = snprintf(labels, sizeof(labels), "topic=\"%s\",partition=\"%" PRId32 "\"", topic,
                     partition);
    if (n > 0 && (size_t)n < sizeof(labels))
        metric_set(ctx, labels, (double)lag);
}

/* The pause in force (never in a dry run: it makes no calls). */
static sched_pause_t paused(const loop_t *l)
{
    return l->sched ? scheduler_paused(l->sched) : SCHED_PAUSE_NONE;
}

/* The registry's pause: intake waits for schemas (also in a dry run). */
static schemareg_pause_t registry_paused(const loop_t *l)
{
    return schemareg_paused(l->registry);
}

static int ready(const loop_t *l)
{
    return consumer_assigned(l->cons) > 0 && !paused(l) && !registry_paused(l) && !l->stopping;
}

static int on_http(void *ctx, const char *path, char **body, size_t *body_len,
                   const char **content_type)
{
    loop_t *l = ctx;
    *content_type = "text/plain; charset=utf-8";
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        int ok = path[1] == 'h' || ready(l);
        const char *why =
            ok                                               ? "ok\n"
            : l->stopping                                    ? "stopping\n"
            : paused(l) == SCHED_PAUSE_SYSTEMIC              ? "systemic pause\n"
            : paused(l) == SCHED_PAUSE_OUTAGE                ? "outage pause\n"
            : registry_paused(l) == SCHEMAREG_PAUSE_SYSTEMIC ? "registry systemic pause\n"
            : registry_paused(l) == SCHEMAREG_PAUSE_OUTAGE   ? "registry outage pause\n"
                                                             : "no partitions assigned\n";
        *body = strdup(why);
        *body_len = *body ? strlen(*body) : 0;
        return ok ? 200 : 503;
    }
    if (strcmp(path, "/metrics") != 0)
        return 404;
    const offsets_t *offs = consumer_offsets(l->cons);
    metric_set(l->m_pending, NULL, (double)offsets_pending_total(offs));
    metric_set(l->m_pending_bytes, NULL, (double)offsets_bytes_total(offs));
    metric_set(l->m_ready, NULL, ready(l));
    if (l->m_pause) {
        metric_set(l->m_pause, "cause=\"registry_outage\"",
                   registry_paused(l) == SCHEMAREG_PAUSE_OUTAGE);
        metric_set(l->m_pause, "cause=\"registry_systemic\"",
                   registry_paused(l) == SCHEMAREG_PAUSE_SYSTEMIC);
    }
    /* Lag series follow the assignment: rebuilt for every scrape. */
    metric_clear(l->m_lag);
    consumer_lag_foreach(l->cons, lag_set, l->m_lag);
    procmetrics_update(l->proc);
    size_t n = 0;
    char *text = metrics_render(l->metrics, &n);
    if (!text)
        return 500;
    *content_type = "text/plain; version=0.0.4; charset=utf-8";
    *body = text;
    *body_len = n;
    return 200;
}

/* ---- set-up and tear-down ---- */

/* build_info{version,librdkafka,libcurl} 1. The version strings are dotted
 * numbers; anything else in them is dropped rather than escaped. */
static void build_info(metric_family_t *f)
{
    const char *v[3] = {ZU_VERSION, rd_kafka_version_str(),
                        curl_version_info(CURLVERSION_NOW)->version};
    char clean[3][32], labels[160];

    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        for (const char *p = v[i]; *p && n + 1 < sizeof(clean[i]); p++)
            if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                *p == '.' || *p == '-' || *p == '+' || *p == '_')
                clean[i][n++] = *p;
        clean[i][n] = '\0';
    }
    snprintf(labels, sizeof(labels), "version=\"%s\",librdkafka=\"%s\",libcurl=\"%s\"", clean[0],
             clean[1], clean[2]);
    metric_set(f, labels, 1);
}

static int setup(loop_t *l, char *err, size_t errsz)
{
    const config_t *cfg = l->cfg;
    int64_t now = clock_mono_us();
    publisher_worker_id(l->worker_id, sizeof(l->worker_id));

    if (!(l->metrics = metrics_new()) ||
        !(l->m_share = metrics_gauge(l->metrics, "qps_share",
                                     "This replica's share of the AppId rate (calls/s)")) ||
        !(l->m_pending = metrics_gauge(l->metrics, "events_pending",
                                       "Events received whose offsets are not done yet")) ||
        !(l->m_pending_bytes =
              metrics_gauge(l->metrics, "pending_bytes",
                            "Bytes held for received, unfinished events (max_pending_bytes)")) ||
        !(l->m_ready = metrics_gauge(l->metrics, "ready", "1 when /readyz answers 200")) ||
        !(l->m_lag = metrics_gauge(l->metrics, "consumer_lag",
                                   "Messages behind the end of each assigned input partition")) ||
        !(l->m_build = metrics_gauge(l->metrics, "build_info",
                                     "Always 1; the labels name the version and libraries")) ||
        !(l->proc = procmetrics_new(l->metrics))) {
        snprintf(err, errsz, "metrics: out of memory");
        return -1;
    }
    build_info(l->m_build);
    if (cfg->listen[0]) {
        char port[16];
        if (!(l->httpd = httpd_new(cfg->listen, on_http, l, err, errsz)))
            return -1;
        snprintf(port, sizeof(port), "%d", httpd_port(l->httpd));
        log_msg(l->log, LOG_INFO, "observability endpoint", "listen", cfg->listen, "port", port,
                NULL);
    }
    if (!(l->el = evloop_new(err, errsz)))
        return -1;
    if (!(l->rl = ratelimit_new(cfg->rate_limit_qps, now))) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    metric_set(l->m_share, NULL, cfg->rate_limit_qps);

    const char *const *topics = (const char *const *)cfg->input_topics.v;
    size_t topic_cnt = cfg->input_topics.n;
    if (l->o->redrive) {
        topics = (const char *const *)&cfg->result_topic;
        topic_cnt = 1;
    }
    consumer_opts_t co = {
        .topics = topics,
        .topic_cnt = topic_cnt,
        .max_pending_bytes = (size_t)cfg->max_pending_bytes,
        .max_run_ahead = cfg->max_run_ahead,
        .start = l->o->start,
        .start_ts_ms = l->o->start_ts_ms,
        .until_end = l->o->until_end,
        .dry_run = l->o->dry_run,
        .revoke_grace_ms = cfg->shutdown_grace_ms,
        .share = on_share,
        .revoked = on_revoked,
        .ctx = l,
    };
    if (!(l->cons = consumer_new(cfg, &co, l->log, err, errsz)))
        return -1;
    if (cfg->events_format == CONFIG_FORMAT_AUTO && !l->o->redrive) {
        /* Probes of a registry pause back off as the scheduler's do. */
        schemareg_opts_t ro = {
            .url = cfg->registry_url,
            .user_info = cfg->registry_user_info,
            .ca_file = cfg->registry_ca_file,
            .cache_ttl_ms = cfg->registry_cache_ttl_ms,
            .request_timeout_ms = cfg->registry_request_timeout_ms,
            .connect_timeout_ms = cfg->connect_timeout_ms < cfg->registry_request_timeout_ms
                                      ? cfg->connect_timeout_ms
                                      : cfg->registry_request_timeout_ms,
            .probe_initial_ms = cfg->initial_backoff_ms,
            .probe_max_ms = cfg->max_backoff_ms,
            .seed = (uint64_t)now ^ ((uint64_t)getpid() << 16),
        };
        if (!(l->registry = schemareg_new(&ro, l->el, l->log, l->metrics, err, errsz)))
            return -1;
    }
    intake_opts_t io = {
        .cfg = cfg,
        .log = l->log,
        .metrics = l->metrics,
        .cons = l->cons,
        .worker_id = l->worker_id,
        .dry_run = l->o->dry_run,
        .redrive = l->o->redrive,
        .registry = l->registry,
    };
    if (!(l->intake = intake_new(&io, err, errsz)))
        return -1;
    /* The calls' side: publisher and scheduler report to intake. */
    if (!l->o->dry_run) {
        if (!(l->pub = publisher_new(cfg, l->worker_id, l->log, intake_published, l->intake, err,
                                     errsz)))
            return -1;
        scheduler_opts_t so;
        zim_api_opts_t ao;
        scheduler_config(cfg, &so, &ao);
        so.seed = (uint64_t)now ^ ((uint64_t)getpid() << 32);
        ao.sent = api_sent;
        ao.sent_ctx = l;
        if (!(l->api = zim_api_new(&ao, api_done, l, l->log, l->el, err, errsz)))
            return -1;
        sched_api_t api = {.start = api_start, .ctx = l};
        scheduler_cbs_t cbs = intake_sched_cbs(l->intake);
        if (!(l->sched = scheduler_new(&so, &api, l->rl, l->log, l->metrics, &cbs, err, errsz)))
            return -1;
        intake_set_outputs(l->intake, l->sched, l->pub);
    }
    /* The registry's pauses join the scheduler's pause{cause} (registered
     * here in a dry run, which has no scheduler). */
    if (l->registry && !(l->m_pause = metrics_find(l->metrics, "pause")) &&
        !(l->m_pause = metrics_gauge(l->metrics, "pause", "1 while paused, by cause"))) {
        snprintf(err, errsz, "metrics: out of memory");
        return -1;
    }
    return 0;
}

/* Frees everything; 1 when the consumer was left running (consumer_destroy). */
static int teardown(loop_t *l)
{
    int left;
    if (l->pub) {
        /* Results of calls that finished: deliver them, so their offsets can
         * be stored before the consumer's final commit (also before exit 1). */
        int64_t left_ms = (l->deadline_us - clock_mono_us()) / 1000;
        publisher_flush(l->pub, (int)(left_ms > 1000 ? left_ms : 1000));
    }
    if (l->cons)
        rd_kafka_queue_io_event_enable(consumer_queue(l->cons), -1, NULL, 0);
    left = consumer_destroy(l->cons); /* final commit of stored offsets */
    zim_api_destroy(l->api);          /* no callbacks: the scheduler frees the jobs */
    schemareg_destroy(l->registry);
    evloop_timer_free(l->el, l->wake);
    publisher_destroy(l->pub); /* purged deliveries free their jobs */
    scheduler_destroy(l->sched);
    intake_destroy(l->intake);
    ratelimit_destroy(l->rl);
    httpd_destroy(l->httpd);
    procmetrics_destroy(l->proc);
    metrics_destroy(l->metrics);
    evloop_destroy(l->el); /* the Kafka waker with it, after the clients */
    return left;
}

/* One turn's intake: messages while there are any. Returns 1 when more may
 * be waiting (the next wait must not block). Backpressure is per partition
 * (the consumer's); everything pauses while stopping or paused. */
static int take_messages(loop_t *l)
{
    /* Held messages whose schema came go first: they are older. */
    if (l->registry && intake_release(l->intake) == -1)
        begin_stop(l, "out of memory", 1);
    consumer_pause(l->cons, l->stopping || paused(l) != SCHED_PAUSE_NONE ||
                                registry_paused(l) != SCHEMAREG_PAUSE_NONE);
    for (int i = 0; i < LOOP_POLL_BATCH; i++) {
        rd_kafka_message_t *m = consumer_poll(l->cons);
        if (!m)
            return 0;
        if (intake_message(l->intake, m) == -1)
            begin_stop(l, "out of memory", 1);
    }
    return 1;
}

static int fatal_kafka(loop_t *l)
{
    char err[512];
    if (consumer_fatal(l->cons, err, sizeof(err)) ||
        (l->pub && publisher_fatal(l->pub, err, sizeof(err)))) {
        log_msg(l->log, LOG_ERROR, "fatal kafka error", "error", err, NULL);
        return 1;
    }
    return 0;
}

static void log_redrive_summary(loop_t *l)
{
    const intake_redrive_stats_t *st = intake_redrive_stats(l->intake);
    log_msg(l->log, LOG_INFO, "redrive summary", "#redriven", LOG_NUM(st->taken),
            "#skipped_success", LOG_NUM(st->skipped_success), "#skipped_other_class",
            LOG_NUM(st->skipped_class), "#unparseable", LOG_NUM(st->unparseable), NULL);
}

/* ---- wake-ups ---- */

static void on_kafka(void *ctx)
{
    (void)ctx; /* the turn that follows takes what the queues hold */
}

static void on_signal(void *ctx, int fd, int events)
{
    loop_t *l = ctx;
    struct signalfd_siginfo si;
    (void)events;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        begin_stop(l, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", 0);
}

static void on_httpd(void *ctx, int fd, int events)
{
    loop_t *l = ctx;
    (void)fd;
    (void)events;
    httpd_run(l->httpd);
}

static void on_wake(void *ctx, int64_t now_us)
{
    loop_t *l = ctx;
    (void)now_us;
    if (l->httpd)
        httpd_run(l->httpd); /* its own timeouts come due here too */
}

/* Registers the loop's own wake-ups: Kafka queues, signals, the endpoint. */
static int watch(loop_t *l, char *err, size_t errsz)
{
    if (!(l->wake = evloop_timer_new(l->el, on_wake, l)) ||
        !(l->kafka = evloop_waker_new(l->el, on_kafka, l, err, errsz)))
        return -1;
    int kfd = evloop_waker_fd(l->kafka);
    rd_kafka_queue_io_event_enable(consumer_queue(l->cons), kfd, "c", 1);
    if (l->pub)
        rd_kafka_queue_io_event_enable(publisher_queue(l->pub), kfd, "p", 1);
    if (evloop_fd_set(l->el, l->o->signal_fd, EVLOOP_READ, on_signal, l, err, errsz) != 0)
        return -1;
    if (l->httpd &&
        evloop_fd_set(l->el, httpd_fd(l->httpd), EVLOOP_READ, on_httpd, l, err, errsz) != 0)
        return -1;
    return 0;
}

static int64_t earliest(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* One turn after anything happened: intake, deliveries, dispatch, revoke
 * drains, the stop. Returns the monotonic time of the next turn that time
 * alone calls for (-1: none; only an event wakes it), or -2 to exit. */
static int64_t turn(loop_t *l)
{
    char err[512];
    int64_t now = clock_mono_us();
    int more = take_messages(l);
    if (l->pub)
        publisher_poll(l->pub);
    /* After the queues were served: a rebalance or an error event may have
     * just made the error fatal, and nothing else would wake the loop. */
    if (!l->stopping && fatal_kafka(l))
        begin_stop(l, "fatal kafka error", 1);
    if (l->sched) {
        /* The grid follows the wall clock through a step (NTP, a resumed VM). */
        int64_t mono = clock_mono_us();
        ratelimit_set_wall_offset(l->rl, clock_unix_us() - mono);
        scheduler_run(l->sched, now);
    }
    if (intake_out_of_memory(l->intake))
        begin_stop(l, "out of memory", 1);
    consumer_tick(l->cons, paused(l) != SCHED_PAUSE_NONE);
    const offsets_t *offs = consumer_offsets(l->cons);
    if (l->o->until_end && !l->stopping && offsets_reached_end(offs))
        begin_stop(l, "reached the end offsets noted at start", 0);
    if (l->stopping) {
        int drained = offsets_stop_drained(offs) && (!l->pub || publisher_pending(l->pub) == 0) &&
                      (!l->sched || scheduler_in_flight(l->sched) == 0);
        /* A pause with nothing in flight: nothing more can finish within
         * the grace period. */
        int stuck = paused(l) != SCHED_PAUSE_NONE && scheduler_in_flight(l->sched) == 0 &&
                    (!l->pub || publisher_pending(l->pub) == 0);
        /* A fatal producer error: no result can be delivered any more, so
         * nothing more can finish once the calls in flight are done (their
         * events stay uncommitted and are processed again). */
        int dead = l->pub && l->sched && scheduler_in_flight(l->sched) == 0 &&
                   publisher_fatal(l->pub, err, sizeof(err));
        if (drained || stuck || dead)
            return -2;
        if (clock_mono_us() >= l->deadline_us) {
            log_msg(l->log, LOG_WARN,
                    "shutdown grace expired; unfinished events will be processed again", NULL);
            return -2;
        }
    }
    now = clock_mono_us();
    int64_t next = more ? now : -1;
    if (l->sched) {
        int64_t s = scheduler_next_us(l->sched, now);
        next = earliest(next, s >= 0 ? now + s : -1);
    }
    if (l->httpd) {
        long h = httpd_timeout_ms(l->httpd);
        next = earliest(next, h >= 0 ? now + (int64_t)h * 1000 : -1);
    }
    if (l->pub)
        next = earliest(next, publisher_next_retry_us(l->pub));
    next = earliest(next, consumer_deadline_us(l->cons));
    if (l->stopping)
        next = earliest(next, l->deadline_us);
    return next;
}

int loop_run(const loop_opts_t *opts, int *exit_now)
{
    loop_t l;
    char err[512] = "";
    memset(&l, 0, sizeof(l));
    l.o = opts;
    l.cfg = opts->cfg;
    l.log = opts->log;

    if (setup(&l, err, sizeof(err)) == -1 || watch(&l, err, sizeof(err)) == -1) {
        log_msg(l.log, LOG_ERROR, "start-up failed", "error", err, NULL);
        l.exit_code = 1;
        l.deadline_us = clock_mono_us();
        *exit_now = teardown(&l);
        return 1;
    }
    log_msg(l.log, LOG_INFO, "worker started", "worker", l.worker_id, "brokers", l.cfg->brokers,
            "group_id", l.cfg->group_id, "result_topic", l.cfg->result_topic, "dry_run",
            opts->dry_run ? "true" : "false", "redrive", opts->redrive ? "true" : "false", NULL);

    /* Info lines (one per result when busy) are held and go out together,
     * LOOP_LOG_HOLD_US after the first at the latest: the loop waits no
     * longer than that while lines are held. */
    log_hold(l.log, 1);
    for (;;) {
        int64_t next = turn(&l), since, max_wait_us = -1;
        if (next == -2)
            break;
        if (next >= 0)
            evloop_timer_at(l.el, l.wake, next);
        else
            evloop_timer_cancel(l.el, l.wake);
        if ((since = log_held_since(l.log)) != 0) {
            max_wait_us = since + LOOP_LOG_HOLD_US - clock_mono_us();
            if (max_wait_us <= 0) {
                log_flush(l.log);
                max_wait_us = -1;
            }
        }
        if (evloop_run_once(l.el, max_wait_us, err, sizeof(err)) == -1) {
            log_msg(l.log, LOG_ERROR, "event loop", "error", err, NULL);
            begin_stop(&l, "event loop error", 1);
        }
    }
    log_hold(l.log, 0);
    if (opts->redrive)
        log_redrive_summary(&l);
    log_msg(l.log, LOG_INFO, "stopped", "exit_code", l.exit_code ? "1" : "0", NULL);
    int code = l.exit_code;
    *exit_now = teardown(&l);
    return code;
}
