/* loop.c - the single event loop (see loop.h). */
#include "worker/loop.h"

#include <errno.h>
#include <poll.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/httpd.h"
#include "common/metrics.h"
#include "common/ratelimit.h"
#include "worker/kconf.h"
#include "worker/offsets.h"
#include "worker/publisher.h"
#include "worker/scheduler.h"

#define LOOP_MAX_WAIT_MS 100
#define LOOP_POLL_BATCH  500

typedef struct loop {
    const loop_opts_t *o;
    const config_t *cfg;
    log_t *log;
    char worker_id[320];
    size_t max_pending;

    metrics_t *metrics;
    httpd_t *httpd;
    offsets_t *offsets;
    ratelimit_t *rl;
    scheduler_t *sched;
    publisher_t *pub;
    consumer_t *cons;
    rd_kafka_t *producer;
    kconf_ctx_t pkctx;
    rd_kafka_queue_t *pqueue;

    int stopping;
    int64_t deadline_us;
    int exit_code;

    metric_family_t *m_events, *m_share, *m_pending, *m_ready, *m_lag;
} loop_t;

static const char *outcome_label(const job_t *job)
{
    if (job->status == JOB_SUCCESS)
        return "outcome=\"success\"";
    if (job->error_class && strcmp(job->error_class, "invalid_event") == 0)
        return "outcome=\"invalid_event\"";
    if (job->error_class && strcmp(job->error_class, "rejected") == 0)
        return "outcome=\"rejected\"";
    return "outcome=\"retries_exhausted\"";
}

static void log_done(loop_t *l, const job_t *job)
{
    char ubuf[64], code[32], att[16], part[16], off[32];
    if (!log_enabled(l->log, LOG_INFO))
        return;
    snprintf(code, sizeof(code), "%" PRId64, job->last.code);
    snprintf(att, sizeof(att), "%d", job->attempts);
    snprintf(part, sizeof(part), "%" PRId32, job->partition);
    snprintf(off, sizeof(off), "%" PRId64, job->offset);
    log_msg(l->log, job->status == JOB_SUCCESS ? LOG_INFO : LOG_WARN, "event done", "status",
            job->status == JOB_SUCCESS ? "success" : "failure", "error_class", job->error_class,
            "event_id", job->ev.event_id, "user_id",
            job->ev.user_id ? log_user(l->log, job->ev.user_id, ubuf, sizeof(ubuf)) : NULL, "code",
            job->answered && job->last.has_code ? code : NULL, "request_id",
            job->answered && job->last.request_id[0] ? job->last.request_id : NULL, "attempts", att,
            "topic", job->topic, "partition", part, "offset", off, NULL);
}

/* The event's offset is finished: move the watermark, store it. */
static void offset_done(loop_t *l, const job_t *job)
{
    int64_t wm;
    if (offsets_done(l->offsets, job->tidx, job->partition, job->gen, job->offset, &wm) == 1)
        consumer_store(l->cons, job->tidx, job->partition, wm);
}

/* ---- callbacks from the scheduler and the publisher ---- */

static void on_published(void *ctx, job_t *job)
{
    loop_t *l = ctx;
    metric_add(l->m_events, outcome_label(job), 1);
    log_done(l, job);
    offset_done(l, job);
    job_free(job);
}

/* A final job made calls, so on_gate() touched its offset already. */
static void on_final(void *ctx, job_t *job)
{
    loop_t *l = ctx;
    publisher_publish(l->pub, job);
}

static void on_drop(void *ctx, job_t *job)
{
    (void)ctx;
    job_free(job); /* its partition was revoked: the next owner processes it */
}

static sched_gate_t on_gate(void *ctx, const job_t *job)
{
    loop_t *l = ctx;
    if (!offsets_is_current(l->offsets, job->tidx, job->partition, job->gen))
        return SCHED_DROP;
    if (!offsets_may_start(l->offsets, job->tidx, job->partition, job->offset))
        return SCHED_HOLD;
    offsets_touch(l->offsets, job->tidx, job->partition, job->offset);
    return SCHED_START;
}

static void on_revoked(void *ctx)
{
    loop_t *l = ctx;
    if (l->sched)
        scheduler_release_held(l->sched); /* the gate drops their stale jobs */
}

static void on_share(void *ctx, int owned, int total)
{
    loop_t *l = ctx;
    double rate = l->cfg->rate_limit_qps;
    char o[16], t[16], r[32];
    if (l->cfg->rate_limit_share == CONFIG_SHARE_PARTITIONS && total > 0)
        rate = l->cfg->rate_limit_qps * owned / total;
    if (rate > 0)
        ratelimit_set_rate(l->rl, rate, clock_mono_us());
    metric_set(l->m_share, NULL, rate);
    snprintf(o, sizeof(o), "%d", owned);
    snprintf(t, sizeof(t), "%d", total);
    snprintf(r, sizeof(r), "%.3f", rate);
    log_msg(l->log, LOG_INFO, "rate share", "owned_partitions", o, "total_partitions", t, "qps", r,
            NULL);
}

/* ---- intake ---- */

static void *copy_bytes(const void *p, size_t n)
{
    void *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

/* The trace context header, copied byte for byte whatever it holds (the
 * worker only passes it on). 0 absent or copied, -1 out of memory. */
static int copy_traceparent(rd_kafka_message_t *msg, job_t *job)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers(msg, &hdrs) || !hdrs ||
        rd_kafka_header_get_last(hdrs, "traceparent", &val, &size))
        return 0;
    job->has_traceparent = 1;
    job->traceparent_len = val ? size : 0;
    if (val && !(job->traceparent = copy_bytes(val, size)))
        return -1;
    return 0;
}

static void begin_stop(loop_t *l, const char *why, int exit_code)
{
    if (l->stopping)
        return;
    l->stopping = 1;
    l->exit_code = exit_code;
    l->deadline_us = clock_mono_us() + (int64_t)l->cfg->shutdown_grace_ms * 1000;
    offsets_stop_begin(l->offsets);
    consumer_pause(l->cons, 1);
    log_msg(l->log, exit_code ? LOG_ERROR : LOG_INFO, "stopping: finishing calls in flight",
            "reason", why, NULL);
}

static void dry_run_print(loop_t *l, job_t *job)
{
    char *json = publisher_result_json(l->cfg, l->worker_id, job, "dry_run");
    if (json) {
        fprintf(stdout, "%s\n", json);
        fflush(stdout);
        free(json);
    }
}

static void handle_message(loop_t *l, rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    int tidx = consumer_topic_index(l->cons, topic);
    uint64_t gen = tidx < 0 ? 0 : offsets_gen(l->offsets, (size_t)tidx, msg->partition);
    job_t *job = NULL;

    if (l->stopping || tidx < 0 || gen == 0 ||
        offsets_received(l->offsets, (size_t)tidx, msg->partition, gen, msg->offset) == -1)
        goto out; /* not ours (any more), or stopping: not tracked, not committed */
    job = job_new();
    if (!job) {
        begin_stop(l, "out of memory", 1);
        goto out;
    }
    job->tidx = (size_t)tidx;
    job->topic = l->cfg->input_topics.v[tidx];
    job->partition = msg->partition;
    job->offset = msg->offset;
    job->gen = gen;
    job->received_at_ms = clock_unix_ms();
    job->ev_status =
        event_parse(l->cfg, msg->payload, msg->len, topic, msg->partition, msg->offset, &job->ev);
    /* An empty key stays empty (not NULL): the DLQ copy is byte-exact. */
    if ((msg->key && !(job->key = copy_bytes(msg->key, msg->key_len))) ||
        copy_traceparent(msg, job) == -1) {
        begin_stop(l, "out of memory", 1);
        goto out;
    }
    job->key_len = msg->key ? msg->key_len : 0;

    if (job->ev_status == EVENT_UNKNOWN_TYPE && l->cfg->unknown_types == CONFIG_UNKNOWN_IGNORE) {
        metric_add(l->m_events, "outcome=\"ignored\"", 1);
        log_msg(l->log, LOG_DEBUG, "event ignored", "event_id", job->ev.event_id, "reason",
                job->ev.error, NULL);
        offset_done(l, job);
        goto out;
    }
    if (job->ev_status != EVENT_OK) {
        job->status = JOB_FAILURE;
        job->error_class = "invalid_event";
        job->completed_at_ms = clock_unix_ms();
    }
    if (l->o->dry_run) {
        job->completed_at_ms = clock_unix_ms();
        dry_run_print(l, job);
        metric_add(l->m_events, "outcome=\"dry_run\"", 1);
        offset_done(l, job);
        goto out;
    }
    if (job->ev_status != EVENT_OK) {
        if (l->cfg->dead_letter_topic[0] && msg->payload &&
            !(job->value = copy_bytes(msg->payload, msg->len))) {
            begin_stop(l, "out of memory", 1);
            goto out;
        }
        job->value_len = job->value ? msg->len : 0;
        offsets_touch(l->offsets, job->tidx, job->partition, job->offset);
        publisher_publish(l->pub, job);
        job = NULL;
        goto out;
    }
    if (scheduler_submit(l->sched, job) == -1)
        begin_stop(l, "out of memory", 1);
    job = NULL;
out:
    job_free(job);
    rd_kafka_message_destroy(msg);
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

/* A systemic pause is in force (never in a dry run: it makes no calls). */
static int paused(const loop_t *l)
{
    return l->sched && scheduler_paused(l->sched);
}

static int ready(const loop_t *l)
{
    return consumer_assigned(l->cons) > 0 && !paused(l) && !l->stopping;
}

static int on_http(void *ctx, const char *path, char **body, size_t *body_len,
                   const char **content_type)
{
    loop_t *l = ctx;
    *content_type = "text/plain; charset=utf-8";
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        int ok = path[1] == 'h' || ready(l);
        const char *why = ok            ? "ok\n"
                          : l->stopping ? "stopping\n"
                          : paused(l)   ? "systemic pause\n"
                                        : "no partitions assigned\n";
        *body = strdup(why);
        *body_len = *body ? strlen(*body) : 0;
        return ok ? 200 : 503;
    }
    if (strcmp(path, "/metrics") != 0)
        return 404;
    metric_set(l->m_pending, NULL, (double)offsets_pending_total(l->offsets));
    metric_set(l->m_ready, NULL, ready(l));
    /* Lag series follow the assignment: rebuilt for every scrape. */
    metric_clear(l->m_lag);
    consumer_lag_foreach(l->cons, lag_set, l->m_lag);
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

static int setup(loop_t *l, char *err, size_t errsz)
{
    const config_t *cfg = l->cfg;
    int64_t now = clock_mono_us();
    publisher_worker_id(l->worker_id, sizeof(l->worker_id));
    /* Unfinished events held before intake pauses (about 1 KiB each). A
     * resume costs librdkafka about a second of refetching, so the low-water
     * mark (half) must hold more than a second of work at full speed. */
    l->max_pending = (size_t)cfg->max_in_flight * 64;
    if (l->max_pending < 1024)
        l->max_pending = 1024;
    if (l->max_pending > 65536)
        l->max_pending = 65536;

    if (!(l->metrics = metrics_new()) ||
        !(l->m_events = metrics_counter(l->metrics, "events_total", "Input events by outcome")) ||
        !(l->m_share = metrics_gauge(l->metrics, "qps_share",
                                     "This replica's share of the AppId rate (calls/s)")) ||
        !(l->m_pending = metrics_gauge(l->metrics, "events_pending",
                                       "Events received whose offsets are not done yet")) ||
        !(l->m_ready = metrics_gauge(l->metrics, "ready", "1 when /readyz answers 200")) ||
        !(l->m_lag = metrics_gauge(l->metrics, "consumer_lag",
                                   "Messages behind the end of each assigned input partition"))) {
        snprintf(err, errsz, "metrics: out of memory");
        return -1;
    }
    if (cfg->listen[0]) {
        char port[16];
        if (!(l->httpd = httpd_new(cfg->listen, on_http, l, err, errsz)))
            return -1;
        snprintf(port, sizeof(port), "%d", httpd_port(l->httpd));
        log_msg(l->log, LOG_INFO, "observability endpoint", "listen", cfg->listen, "port", port,
                NULL);
    }
    if (!(l->offsets = offsets_new(cfg->input_topics.n)) ||
        !(l->rl = ratelimit_new(cfg->rate_limit_qps, now))) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    metric_set(l->m_share, NULL, cfg->rate_limit_qps);

    if (!l->o->dry_run) {
        if (!(l->pub = publisher_new(cfg, l->worker_id, l->log, on_published, l, err, errsz)))
            return -1;
        l->pkctx.log = l->log;
        l->pkctx.owner = l->pub;
        rd_kafka_conf_t *pconf = kconf_producer(cfg, &l->pkctx, err, errsz);
        if (!pconf)
            return -1;
        publisher_conf(l->pub, pconf);
        char kerr[256];
        if (!(l->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, kerr, sizeof(kerr)))) {
            rd_kafka_conf_destroy(pconf);
            snprintf(err, errsz, "kafka producer: %s", kerr);
            return -1;
        }
        publisher_set_producer(l->pub, l->producer);
        l->pqueue = rd_kafka_queue_get_main(l->producer);
        rd_kafka_queue_io_event_enable(l->pqueue, l->o->wake_wfd, "p", 1);

        scheduler_opts_t so;
        zim_api_opts_t ao;
        scheduler_config(cfg, &so, &ao);
        so.seed = (uint64_t)now ^ ((uint64_t)getpid() << 32);
        scheduler_cbs_t cbs = {.final = on_final, .drop = on_drop, .gate = on_gate, .ctx = l};
        if (!(l->sched = scheduler_new(&so, &ao, l->rl, l->log, l->metrics, &cbs, err, errsz)))
            return -1;
    }
    consumer_opts_t co = {
        .start = l->o->start,
        .start_ts_ms = l->o->start_ts_ms,
        .until_end = l->o->until_end,
        .dry_run = l->o->dry_run,
        .revoke_grace_ms = cfg->shutdown_grace_ms,
        .share = on_share,
        .revoked = on_revoked,
        .ctx = l,
    };
    if (!(l->cons = consumer_new(cfg, &co, l->offsets, l->log, err, errsz)))
        return -1;
    rd_kafka_queue_io_event_enable(consumer_queue(l->cons), l->o->wake_wfd, "c", 1);
    return 0;
}

static void teardown(loop_t *l)
{
    if (l->producer) {
        /* Results of calls that finished: deliver them, so their offsets can
         * be stored before the consumer's final commit (also before exit 1). */
        int64_t left_ms = (l->deadline_us - clock_mono_us()) / 1000;
        rd_kafka_flush(l->producer, (int)(left_ms > 1000 ? left_ms : 1000));
    }
    if (l->cons)
        rd_kafka_queue_io_event_enable(consumer_queue(l->cons), -1, NULL, 0);
    consumer_destroy(l->cons); /* final commit of stored offsets */
    if (l->producer) {
        rd_kafka_queue_io_event_enable(l->pqueue, -1, NULL, 0);
        rd_kafka_queue_destroy(l->pqueue);
        rd_kafka_purge(l->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(l->producer, 0); /* purged deliveries free their jobs */
        rd_kafka_destroy(l->producer);
    }
    publisher_destroy(l->pub);
    scheduler_destroy(l->sched);
    offsets_destroy(l->offsets);
    ratelimit_destroy(l->rl);
    httpd_destroy(l->httpd);
    metrics_destroy(l->metrics);
}

static void drain_wake(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* One turn's intake: messages while there is room. Returns 1 when more may
 * be waiting (the next wait must not block). */
static int intake(loop_t *l)
{
    size_t pending = offsets_pending_total(l->offsets);
    /* Backpressure with hysteresis: pause at max_pending, resume below half
     * of it (each pause drops librdkafka's prefetched messages; thrashing
     * would refetch them over and over). */
    int full = consumer_paused(l->cons) ? pending >= l->max_pending / 2 : pending >= l->max_pending;
    consumer_pause(l->cons, l->stopping || paused(l) || full);
    for (int i = 0; i < LOOP_POLL_BATCH; i++) {
        rd_kafka_message_t *m = consumer_poll(l->cons);
        if (!m)
            return 0;
        handle_message(l, m);
        if (!l->stopping && offsets_pending_total(l->offsets) >= l->max_pending)
            consumer_pause(l->cons, 1);
    }
    return 1;
}

static int fatal_kafka(loop_t *l)
{
    char err[512];
    if (consumer_fatal(l->cons, err, sizeof(err)) ||
        (l->producer &&
         rd_kafka_fatal_error(l->producer, err, sizeof(err)) != RD_KAFKA_RESP_ERR_NO_ERROR)) {
        log_msg(l->log, LOG_ERROR, "fatal kafka error", "error", err, NULL);
        return 1;
    }
    return 0;
}

int loop_run(const loop_opts_t *opts)
{
    loop_t l;
    char err[512] = "";
    memset(&l, 0, sizeof(l));
    l.o = opts;
    l.cfg = opts->cfg;
    l.log = opts->log;

    if (setup(&l, err, sizeof(err)) == -1) {
        log_msg(l.log, LOG_ERROR, "start-up failed", "error", err, NULL);
        l.exit_code = 1;
        l.deadline_us = clock_mono_us();
        teardown(&l);
        return 1;
    }
    log_msg(l.log, LOG_INFO, "worker started", "worker", l.worker_id, "brokers", l.cfg->brokers,
            "group_id", l.cfg->group_id, "result_topic", l.cfg->result_topic, "dry_run",
            opts->dry_run ? "true" : "false", NULL);

    for (;;) {
        int64_t now = clock_mono_us();
        if (*opts->stop)
            begin_stop(&l, "signal", 0);
        if (!l.stopping && fatal_kafka(&l))
            begin_stop(&l, "fatal kafka error", 1);
        int more = intake(&l);
        if (l.producer) {
            rd_kafka_poll(l.producer, 0);
            publisher_retry(l.pub);
        }
        if (l.sched) {
            scheduler_run(l.sched, now);
            if (zim_api_perform(scheduler_api(l.sched), err, sizeof(err)) == -1)
                log_msg(l.log, LOG_ERROR, "http client", "error", err, NULL);
        }
        consumer_tick(l.cons, paused(&l));
        if (opts->until_end && !l.stopping && offsets_reached_end(l.offsets))
            begin_stop(&l, "reached the end offsets noted at start", 0);
        if (l.stopping) {
            int drained = offsets_stop_drained(l.offsets) &&
                          (!l.pub || publisher_pending(l.pub) == 0) &&
                          (!l.sched || scheduler_in_flight(l.sched) == 0);
            /* A systemic pause with nothing in flight: nothing more can
             * finish within the grace period. */
            int stuck = paused(&l) && scheduler_in_flight(l.sched) == 0 &&
                        (!l.pub || publisher_pending(l.pub) == 0);
            /* A fatal producer error: no result can be delivered any more,
             * so nothing more can finish once the calls in flight are done
             * (their events stay uncommitted and are processed again). */
            int dead =
                l.producer && l.sched && scheduler_in_flight(l.sched) == 0 &&
                rd_kafka_fatal_error(l.producer, err, sizeof(err)) != RD_KAFKA_RESP_ERR_NO_ERROR;
            if (drained || stuck || dead)
                break;
            if (clock_mono_us() >= l.deadline_us) {
                log_msg(l.log, LOG_WARN,
                        "shutdown grace expired; unfinished events will be processed again", NULL);
                break;
            }
        }

        int64_t wait_us = more ? 0 : (int64_t)LOOP_MAX_WAIT_MS * 1000;
        if (l.sched) {
            int64_t s = scheduler_next_us(l.sched, clock_mono_us());
            if (s >= 0 && s < wait_us)
                wait_us = s;
        }
        if (l.httpd) {
            long h = httpd_timeout_ms(l.httpd);
            if (h >= 0 && h * 1000 < wait_us)
                wait_us = h * 1000;
        }
        struct curl_waitfd fds[2];
        unsigned nfds = 0;
        fds[nfds++] = (struct curl_waitfd){.fd = opts->wake_fd, .events = CURL_WAIT_POLLIN};
        if (l.httpd)
            fds[nfds++] = (struct curl_waitfd){.fd = httpd_fd(l.httpd), .events = CURL_WAIT_POLLIN};
        /* Rounded down: a limiter slot due in under a millisecond is taken by
         * turning the loop again, not by oversleeping (rate precision, and
         * throughput above 1000 calls/s). */
        int wait_ms = (int)(wait_us / 1000);
        if (l.sched) {
            if (zim_api_poll(scheduler_api(l.sched), fds, nfds, wait_ms, err, sizeof(err)) == -1)
                log_msg(l.log, LOG_ERROR, "http client poll", "error", err, NULL);
        } else {
            struct pollfd pfds[2];
            for (unsigned i = 0; i < nfds; i++)
                pfds[i] = (struct pollfd){.fd = fds[i].fd, .events = POLLIN};
            poll(pfds, nfds, wait_ms);
        }
        drain_wake(opts->wake_fd);
        if (l.httpd)
            httpd_run(l.httpd);
    }
    log_msg(l.log, LOG_INFO, "stopped", "exit_code", l.exit_code ? "1" : "0", NULL);
    int code = l.exit_code;
    teardown(&l);
    return code;
}
