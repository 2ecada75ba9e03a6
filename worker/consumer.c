/* consumer.c - group consumer, rebalances, pause/resume, start positions
 * (see consumer.h). */
#include "worker/consumer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "worker/kconf.h"
#include "worker/kquery.h"

/* A coordinator normally answers a commit in milliseconds; librdkafka's
 * synchronous calls wait for one that does not answer at all without a
 * limit, freezing the loop (its health endpoint, a stop). A commit on revoke
 * waits at most COMMIT_WAIT_MS, the final close at most CLOSE_WAIT_MS:
 * with shutdown_grace_ms 15 s a stop then ends within 30 s whatever the
 * coordinator does. */
#define COMMIT_WAIT_MS 2000
#define CLOSE_WAIT_MS  5000

/* Partition counts are asked at every assignment. While one is unknown (a
 * new replica then takes its partitions as the whole, and the whole rate)
 * they are asked again, 1 s later, then 2, 4 ... up to 60 s, waiting 1 s per
 * topic at most: the share is right once the cluster answers, not at the
 * next rebalance, and a silent cluster holds the loop up only that long. */
#define COUNT_WAIT_MS        5000
#define COUNT_RETRY_WAIT_MS  1000
#define COUNT_RETRY_FIRST_MS 1000
#define COUNT_RETRY_MAX_MS   60000

struct consumer {
    const config_t *cfg;
    consumer_opts_t opts;
    offsets_t *offsets; /* owned: the consumer is its one writer */
    log_t *log;
    kconf_ctx_t kctx;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    uint64_t next_gen;
    int first_done;
    int paused;
    int assigned;
    int total_partitions; /* of all input topics, as of the last assignment */
    int *topic_parts;     /* each topic's partition count (-1 unknown), last asked */
    /* A count was unknown: when to ask again (monotonic us; 0 none), and
     * the wait before that ask (ms; 0 after an answer). */
    int64_t count_retry_us;
    int64_t count_retry_ms;
    /* A revoke being drained: the partitions, the protocol, the deadline. */
    rd_kafka_topic_partition_list_t *revoking;
    int revoking_coop;
    int64_t revoke_deadline_us;
    int closing; /* the close's revoke must not wait: nothing turns the loop */
    /* librdkafka 2.0.2 aborts destroying a cooperative-sticky member that
     * never had an assignment (fixed in 2.3.0): consumer_destroy leaves it. */
    int subscribed, ever_assigned;
    char fatal[512]; /* a start-up error found while assigning; "" none */
};

const char *consumer_topic_name(const consumer_t *c, size_t tidx)
{
    return tidx < c->opts.topic_cnt ? c->opts.topics[tidx] : NULL;
}

int consumer_topic_index(const consumer_t *c, const char *topic)
{
    for (size_t i = 0; i < c->opts.topic_cnt; i++)
        if (strcmp(c->opts.topics[i], topic) == 0)
            return (int)i;
    return -1;
}

void consumer_apply_start(rd_kafka_topic_partition_list_t *parts, consumer_start_t mode,
                          const rd_kafka_topic_partition_list_t *times)
{
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        switch (mode) {
        case CONSUMER_START_COMMITTED:
            break;
        case CONSUMER_START_BEGINNING:
            p->offset = RD_KAFKA_OFFSET_BEGINNING;
            break;
        case CONSUMER_START_END:
            p->offset = RD_KAFKA_OFFSET_END;
            break;
        case CONSUMER_START_TIMESTAMP: {
            const rd_kafka_topic_partition_t *t =
                times ? rd_kafka_topic_partition_list_find(times, p->topic, p->partition) : NULL;
            p->offset = t && !t->err && t->offset >= 0 ? t->offset : RD_KAFKA_OFFSET_END;
            break;
        }
        }
    }
}

static void log_part(consumer_t *c, log_level_t lv, const char *msg,
                     const rd_kafka_topic_partition_t *p, const char *extra_k, const char *extra_v)
{
    log_msg(c->log, lv, msg, "topic", p->topic, "#partition", LOG_NUM(p->partition), "#offset",
            LOG_NUM(p->offset), extra_k, extra_v, NULL);
}

/* Start positions for the first assignment. -1 (c->fatal set) when they
 * cannot be found. */
static int first_assignment(consumer_t *c, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *times = NULL;
    if (c->opts.start == CONSUMER_START_TIMESTAMP &&
        kquery_times(c->rk, c->log, parts, c->opts.start_ts_ms, &times, c->fatal,
                     sizeof(c->fatal)) == -1) {
        log_msg(c->log, LOG_ERROR, "start position not found", "error", c->fatal, NULL);
        return -1;
    }
    consumer_apply_start(parts, c->opts.start, times);
    if (times)
        rd_kafka_topic_partition_list_destroy(times);
    for (int i = 0; i < parts->cnt && c->opts.start != CONSUMER_START_COMMITTED; i++) {
        int64_t off = parts->elems[i].offset;
        log_part(c, LOG_INFO, "start position", &parts->elems[i], "from",
                 off == RD_KAFKA_OFFSET_BEGINNING ? "beginning"
                 : off == RD_KAFKA_OFFSET_END     ? "end"
                                                  : "timestamp");
    }
    return 0;
}

/* --until-end: notes the end offset of each partition assigned for the
 * first time in this job (one that comes back keeps the end it had; one
 * that moves here later, from a replica that left, gets its end now). */
static void note_ends(consumer_t *c, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t hi = 0;
        int tidx = consumer_topic_index(c, p->topic);
        if (tidx < 0 || offsets_end(c->offsets, (size_t)tidx, p->partition) >= 0)
            continue;
        rd_kafka_resp_err_t err = kquery_end(c->rk, c->log, p->topic, p->partition, &hi);
        if (err) {
            /* Unknown end: the end-of-partition event, with nothing pending. */
            log_part(c, LOG_WARN, "end offset unknown; replay ends at end of partition", p, "error",
                     rd_kafka_err2str(err));
            offsets_set_end(c->offsets, (size_t)tidx, p->partition, OFFSETS_END_AT_EOF);
            continue;
        }
        offsets_set_end(c->offsets, (size_t)tidx, p->partition, hi);
        log_msg(c->log, LOG_INFO, "replay until end offset", "topic", p->topic, "#partition",
                LOG_NUM(p->partition), "#end", LOG_NUM(hi), NULL);
    }
}

int consumer_share_total(int last_total, int known, int unknown_topics, int assigned)
{
    int total = known;
    if (unknown_topics > 0 && last_total > total)
        total = last_total; /* never a smaller total: that would overspend */
    return total < assigned ? assigned : total;
}

/* Reports owned / total input partitions to the share callback. The total
 * is asked of the cluster (waiting up to wait_ms per topic) when partitions
 * arrive (topics may have grown) and while a count is unknown; a revoke
 * reuses it: a metadata request then would wait behind fetches. */
static void report_share(consumer_t *c, int refresh, int wait_ms)
{
    if (refresh || c->total_partitions <= 0) {
        int known = 0, unknown = 0;
        for (size_t i = 0; i < c->opts.topic_cnt; i++) {
            int n = kquery_partitions(c->rk, c->log, c->opts.topics[i], wait_ms);
            c->topic_parts[i] = n > 0 ? n : -1;
            if (n > 0) {
                known += n;
            } else {
                unknown++;
                log_msg(c->log, LOG_WARN,
                        "input topic's partition count unknown; the rate share never takes a "
                        "smaller total than before",
                        "topic", c->opts.topics[i], NULL);
            }
        }
        c->total_partitions =
            consumer_share_total(c->total_partitions, known, unknown, c->assigned);
        if (unknown && c->assigned > 0) {
            c->count_retry_ms = c->count_retry_ms ? c->count_retry_ms * 2 : COUNT_RETRY_FIRST_MS;
            if (c->count_retry_ms > COUNT_RETRY_MAX_MS)
                c->count_retry_ms = COUNT_RETRY_MAX_MS;
            c->count_retry_us = clock_mono_us() + c->count_retry_ms * 1000;
        } else {
            c->count_retry_us = c->count_retry_ms = 0;
        }
    }
    if (!c->opts.share)
        return;
    /* Global partition numbers (topics in order, partitions ascending) for
     * the rate limiter's slot grid; none when a topic's count is unknown. */
    int *idx = NULL;
    size_t n = 0;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int total = 0, known_all = 1;
    for (size_t i = 0; i < c->opts.topic_cnt; i++) {
        known_all &= c->topic_parts[i] > 0;
        total += c->topic_parts[i] > 0 ? c->topic_parts[i] : 0;
    }
    if (known_all && total == c->total_partitions &&
        rd_kafka_assignment(c->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        idx = calloc((size_t)parts->cnt + 1, sizeof(*idx));
        for (int i = 0; idx && i < parts->cnt; i++) {
            int t = consumer_topic_index(c, parts->elems[i].topic), base = 0;
            if (t < 0 || parts->elems[i].partition >= c->topic_parts[t])
                continue;
            for (int j = 0; j < t; j++)
                base += c->topic_parts[j];
            idx[n++] = base + parts->elems[i].partition;
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    /* Partitions only arrive with a refresh, so the total covers them. */
    c->opts.share(c->opts.ctx, c->assigned, c->total_partitions, idx, idx ? n : 0);
    free(idx);
}

/* rd_kafka_commit, synchronous but waiting at most COMMIT_WAIT_MS
 * (RD_KAFKA_RESP_ERR__TIMED_OUT then; the commit may still land later).
 * rd_kafka_queue_new aborts rather than return NULL. */
static rd_kafka_resp_err_t commit_bounded(consumer_t *c, const rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, l, q, NULL, NULL);
    log_flush(c->log); /* the lines so far are out while this waits (up to 2 s) */
    if (!err) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, COMMIT_WAIT_MS);
        err = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q); /* a late answer is dropped with it */
    return err;
}

static void commit_revoked(consumer_t *c, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        int tidx = consumer_topic_index(c, parts->elems[i].topic);
        int64_t wm =
            tidx < 0 ? -1 : offsets_watermark(c->offsets, (size_t)tidx, parts->elems[i].partition);
        if (wm >= 0)
            rd_kafka_topic_partition_list_add(l, parts->elems[i].topic, parts->elems[i].partition)
                ->offset = wm;
    }
    if (l->cnt > 0) {
        rd_kafka_resp_err_t err = commit_bounded(c, l);
        /* librdkafka does not say which partitions failed: each is named with
         * the offset it was committing; its next owner repeats nothing from it on. */
        for (int i = 0; err && err != RD_KAFKA_RESP_ERR__NO_OFFSET && i < l->cnt; i++)
            log_part(c, LOG_WARN, "commit on revoke failed; the next owner may repeat events",
                     &l->elems[i], "error", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void assignment_error(consumer_t *c, rd_kafka_error_t *error, rd_kafka_resp_err_t rerr)
{
    if (error) {
        log_msg(c->log, LOG_ERROR, "assignment failed", "error", rd_kafka_error_string(error),
                NULL);
        rd_kafka_error_destroy(error);
    } else if (rerr) {
        log_msg(c->log, LOG_ERROR, "assignment failed", "error", rd_kafka_err2str(rerr), NULL);
    }
}

/* Takes partitions: start positions (first assignment), new generations in
 * the offsets tracker, the assignment itself, pause state, replay ends. */
static void assign(consumer_t *c, rd_kafka_topic_partition_list_t *parts, int cooperative)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    int first = !c->first_done && parts->cnt > 0;
    if (c->fatal[0] || (first && first_assignment(c, parts) == -1))
        return; /* the worker stops with the error; nothing is read */
    for (int i = 0; i < parts->cnt; i++) {
        int tidx = consumer_topic_index(c, parts->elems[i].topic);
        if (tidx < 0 || offsets_assign(c->offsets, (size_t)tidx, parts->elems[i].partition,
                                       ++c->next_gen) == -1)
            log_part(c, LOG_ERROR, "cannot track partition", &parts->elems[i], NULL, NULL);
        log_part(c, LOG_INFO, "partition assigned", &parts->elems[i], NULL, NULL);
    }
    /* Ends before the assignment: once fetching starts, each query would wait
     * behind a long-polling fetch on the broker connection. */
    if (c->opts.until_end)
        note_ends(c, parts);
    if (cooperative)
        error = rd_kafka_incremental_assign(c->rk, parts);
    else
        rerr = rd_kafka_assign(c->rk, parts);
    assignment_error(c, error, rerr);
    c->assigned += parts->cnt;
    /* librdkafka keeps a partition's pause across unassign: one paused
     * before it went (its revoke drain, backpressure, a pause) would come
     * back paused for good. */
    if (c->paused && parts->cnt)
        rd_kafka_pause_partitions(c->rk, parts);
    else if (parts->cnt)
        rd_kafka_resume_partitions(c->rk, parts);
    if (first)
        c->first_done = 1;
}

/* --dry-run reads without joining the group (it must not take partitions
 * from the workers of that group): every partition of the input topics is
 * assigned directly, starting from the group's committed offsets. */
static int assign_all(consumer_t *c, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < c->opts.topic_cnt; i++) {
        int n = kquery_partitions(c->rk, c->log, c->opts.topics[i], COUNT_WAIT_MS);
        if (n <= 0) {
            snprintf(errstr, errstr_size, "kafka: input topic %s: no partitions found",
                     c->opts.topics[i]);
            rd_kafka_topic_partition_list_destroy(parts);
            return -1;
        }
        for (int p = 0; p < n; p++)
            rd_kafka_topic_partition_list_add(parts, c->opts.topics[i], p);
    }
    assign(c, parts, 0);
    rd_kafka_topic_partition_list_destroy(parts);
    if (c->fatal[0]) {
        snprintf(errstr, errstr_size, "%s", c->fatal);
        return -1;
    }
    report_share(c, 1, COUNT_WAIT_MS);
    return 0;
}

/* Gives partitions up: final commit of their watermarks (unless lost),
 * forget them in the tracker, unassign. */
static void give_up(consumer_t *c, rd_kafka_topic_partition_list_t *parts, int cooperative)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    int lost = rd_kafka_assignment_lost(c->rk);
    if (!lost && !c->opts.dry_run)
        commit_revoked(c, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int tidx = consumer_topic_index(c, parts->elems[i].topic);
        if (tidx >= 0)
            offsets_revoke(c->offsets, (size_t)tidx, parts->elems[i].partition);
        log_part(c, LOG_INFO, lost ? "partition lost" : "partition revoked", &parts->elems[i], NULL,
                 NULL);
    }
    if (cooperative)
        error = rd_kafka_incremental_unassign(c->rk, parts);
    else
        rerr = rd_kafka_assign(c->rk, NULL);
    assignment_error(c, error, rerr);
    c->assigned = cooperative && c->assigned > parts->cnt ? c->assigned - parts->cnt : 0;
    report_share(c, 0, COUNT_WAIT_MS);
    if (c->opts.revoked)
        c->opts.revoked(c->opts.ctx);
}

/* Ends the revoke being drained: its partitions are given up now. */
static void revoke_finish(consumer_t *c)
{
    rd_kafka_topic_partition_list_t *parts = c->revoking;
    if (!parts)
        return;
    c->revoking = NULL;
    give_up(c, parts, c->revoking_coop);
    rd_kafka_topic_partition_list_destroy(parts);
}

static int revoke_drained(const consumer_t *c)
{
    for (int i = 0; i < c->revoking->cnt; i++) {
        int tidx = consumer_topic_index(c, c->revoking->elems[i].topic);
        if (tidx >= 0 &&
            !offsets_drained(c->offsets, (size_t)tidx, c->revoking->elems[i].partition))
            return 0;
    }
    return 1;
}

/* A revoke (not a loss): the partitions stop fetching and taking events,
 * the events already started on them are finished and their results
 * acknowledged (consumer_tick), then they are committed and given up. The
 * next owner then repeats nothing and never calls for a user while this
 * worker still does. librdkafka waits for the unassign call meanwhile. */
static void revoke_begin(consumer_t *c, rd_kafka_topic_partition_list_t *parts, int cooperative)
{
    c->revoking = rd_kafka_topic_partition_list_copy(parts);
    c->revoking_coop = cooperative;
    c->revoke_deadline_us = clock_mono_us() + c->opts.revoke_grace_ms * 1000;
    rd_kafka_pause_partitions(c->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int tidx = consumer_topic_index(c, parts->elems[i].topic);
        if (tidx >= 0)
            offsets_drain_begin(c->offsets, (size_t)tidx, parts->elems[i].partition);
        log_part(c, LOG_INFO, "partition revoking: finishing its events in flight",
                 &parts->elems[i], NULL, NULL);
    }
    consumer_tick(c, 0);
}

void consumer_tick(consumer_t *c, int give_up_now)
{
    /* Not while a revoke drains (a metadata request then waits behind
     * fetches): the ask waits for the revoke to end. */
    if (c->count_retry_us && !c->revoking && clock_mono_us() >= c->count_retry_us) {
        c->count_retry_us = 0;
        if (c->assigned > 0 && !c->closing)
            report_share(c, 1, COUNT_RETRY_WAIT_MS);
    }
    if (!c->revoking)
        return;
    if (revoke_drained(c)) {
        revoke_finish(c);
    } else if (give_up_now || clock_mono_us() >= c->revoke_deadline_us) {
        log_msg(c->log, LOG_WARN,
                "revoked partitions given up with events unfinished; their next owner repeats them",
                "reason", give_up_now ? "systemic pause" : "revoke grace expired", NULL);
        revoke_finish(c);
    }
}

int64_t consumer_deadline_us(const consumer_t *c)
{
    if (c->revoking)
        return c->revoke_deadline_us;
    return c->count_retry_us ? c->count_retry_us : -1;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    consumer_t *c = ((kconf_ctx_t *)opaque)->owner;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    revoke_finish(c); /* librdkafka sends nothing new before it; never two at once */
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        c->ever_assigned = 1;
        assign(c, parts, cooperative);
        report_share(c, 1, COUNT_WAIT_MS);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk) &&
               !c->opts.dry_run && !c->closing && c->opts.revoke_grace_ms > 0) {
        revoke_begin(c, parts, cooperative);
    } else {
        give_up(c, parts, cooperative);
    }
}

consumer_t *consumer_new(const config_t *cfg, const consumer_opts_t *opts, log_t *log, char *errstr,
                         size_t errstr_size)
{
    char err[256];
    rd_kafka_topic_partition_list_t *topics = NULL;
    consumer_t *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(errstr, errstr_size, "kafka: out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->opts = *opts;
    c->log = log;
    if (!(c->offsets = offsets_new(opts->topic_cnt)) ||
        !(c->topic_parts = calloc(opts->topic_cnt ? opts->topic_cnt : 1, sizeof(int)))) {
        snprintf(errstr, errstr_size, "kafka: out of memory");
        goto fail;
    }
    c->kctx.log = log;
    c->kctx.owner = c;
    rd_kafka_conf_t *conf = kconf_consumer(cfg, opts->dry_run, &c->kctx, errstr, errstr_size);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "kafka consumer: %s", err);
        goto fail;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    if (opts->dry_run) {
        if (assign_all(c, errstr, errstr_size) == -1)
            goto fail;
        return c;
    }
    topics = rd_kafka_topic_partition_list_new((int)opts->topic_cnt);
    for (size_t i = 0; i < opts->topic_cnt; i++)
        rd_kafka_topic_partition_list_add(topics, opts->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rerr = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rerr) {
        snprintf(errstr, errstr_size, "kafka subscribe: %s", rd_kafka_err2str(rerr));
        goto fail;
    }
    c->subscribed = 1;
    return c;
fail:
    consumer_destroy(c);
    return NULL;
}

/* Leaves the group and commits the stored offsets (rd_kafka_consumer_close),
 * serving its rebalance on a queue of its own for at most CLOSE_WAIT_MS. 0
 * closed, -1 not within that time (logged). */
static int close_bounded(consumer_t *c)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_error_t *error;
    int64_t end = clock_mono_us() + (int64_t)CLOSE_WAIT_MS * 1000;
    int ret = 0;
    if ((error = rd_kafka_consumer_close_queue(c->rk, q))) {
        log_msg(c->log, LOG_WARN, "consumer close", "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    }
    /* As rd_kafka_consumer_close serves its queue: the rebalance is handled,
     * everything else (messages, end-of-partition and error events still
     * forwarded there) is dropped. rd_kafka_queue_poll_callback would abort
     * on those: it can only serve what has a callback. */
    while (!rd_kafka_consumer_closed(c->rk) && clock_mono_us() < end) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            rebalance_cb(c->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
                         &c->kctx);
        rd_kafka_event_destroy(ev);
    }
    if (!rd_kafka_consumer_closed(c->rk)) {
        log_msg(c->log, LOG_WARN,
                "consumer close did not finish: the group coordinator does not answer; the "
                "final commit may not have landed (the next owner repeats from the last one)",
                "#waited_ms", LOG_NUM(CLOSE_WAIT_MS), NULL);
        ret = -1;
    }
    rd_kafka_queue_destroy(q);
    return ret;
}

int consumer_destroy(consumer_t *c)
{
    int left = 0;
    if (!c)
        return 0;
    revoke_finish(c); /* unassigned before the close revokes the rest */
    c->closing = 1;
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    if (c->rk) {
        if (close_bounded(c) != 0) {
            left = 1; /* its threads go with the process (see consumer.h) */
        } else if (c->subscribed && !c->ever_assigned) {
            /* Closed (the group is left), but destroying it would abort (see
             * the struct): nothing was assigned, so nothing is lost. */
            log_msg(c->log, LOG_INFO, "consumer closed before its first assignment", NULL);
            left = 1;
        } else {
            rd_kafka_destroy(c->rk);
        }
    }
    offsets_destroy(c->offsets);
    free(c->topic_parts);
    /* Left running, librdkafka's threads may still log through c->kctx
     * until the process ends: c stays. */
    if (!left)
        free(c);
    return left;
}

rd_kafka_t *consumer_rk(consumer_t *c)
{
    return c->rk;
}

rd_kafka_queue_t *consumer_queue(consumer_t *c)
{
    return c->queue;
}

rd_kafka_message_t *consumer_poll(consumer_t *c)
{
    /* Events are handled here and polling goes on: messages queued behind
     * an end-of-partition event do not raise the wake-up fd again. */
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (!m || !m->err)
            return m;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            int tidx = m->rkt ? consumer_topic_index(c, rd_kafka_topic_name(m->rkt)) : -1;
            if (tidx >= 0)
                offsets_set_eof(c->offsets, (size_t)tidx, m->partition, m->offset);
        } else {
            log_msg(c->log, LOG_WARN, "consumer error", "error", rd_kafka_err2name(m->err),
                    "reason", rd_kafka_message_errstr(m), NULL);
        }
        rd_kafka_message_destroy(m);
    }
}

static void consumer_store(consumer_t *c, size_t tidx, int32_t partition, int64_t offset);

/* Pauses or resumes one partition in librdkafka. */
static void pause_one(consumer_t *c, const char *topic, int32_t partition, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    if (pause)
        rd_kafka_pause_partitions(c->rk, l);
    else
        rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static int is_revoking(const consumer_t *c, const char *topic, int32_t partition)
{
    return c->revoking && rd_kafka_topic_partition_list_find(c->revoking, topic, partition);
}

void consumer_pause(consumer_t *c, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (pause == c->paused)
        return;
    c->paused = pause;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (pause) {
        if (parts->cnt > 0)
            rd_kafka_pause_partitions(c->rk, parts);
    } else {
        /* Partitions held by backpressure or being revoked stay paused. */
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &parts->elems[i];
            int tidx = consumer_topic_index(c, p->topic);
            if (is_revoking(c, p->topic, p->partition) ||
                (tidx >= 0 && offsets_flow_paused(c->offsets, (size_t)tidx, p->partition)))
                continue;
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
        }
        if (l->cnt > 0)
            rd_kafka_resume_partitions(c->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Per-partition backpressure: a partition whose unfinished events hold
 * more than its share of max_pending_bytes, or run max_run_ahead offsets
 * ahead of its oldest unfinished event, stops fetching; it resumes below
 * half of both (each pause drops librdkafka's prefetched messages, so
 * thrashing would refetch them over and over). The other partitions keep
 * flowing. */
static void flow_check(consumer_t *c, size_t tidx, int32_t partition)
{
    const char *topic = c->opts.topics[tidx];
    size_t share = c->opts.max_pending_bytes / (size_t)(c->assigned > 0 ? c->assigned : 1);
    size_t bytes = offsets_bytes(c->offsets, tidx, partition);
    int64_t lead = offsets_lead(c->offsets, tidx, partition);
    int held = offsets_flow_paused(c->offsets, tidx, partition);
    if (!held && (bytes >= share || lead >= c->opts.max_run_ahead)) {
        offsets_set_flow_paused(c->offsets, tidx, partition, 1);
        pause_one(c, topic, partition, 1);
        log_msg(c->log, LOG_DEBUG, "partition paused by backpressure", "topic", topic, "#partition",
                LOG_NUM(partition), "#pending_bytes", LOG_NUM(bytes), "#lead", LOG_NUM(lead), NULL);
    } else if (held && bytes < share / 2 && lead <= c->opts.max_run_ahead / 2) {
        offsets_set_flow_paused(c->offsets, tidx, partition, 0);
        if (!c->paused && !is_revoking(c, topic, partition))
            pause_one(c, topic, partition, 0);
    }
}

uint64_t consumer_gen(const consumer_t *c, size_t tidx, int32_t partition)
{
    return offsets_gen(c->offsets, tidx, partition);
}

int consumer_received(consumer_t *c, size_t tidx, int32_t partition, uint64_t gen, int64_t offset,
                      size_t bytes)
{
    int rc = offsets_received(c->offsets, tidx, partition, gen, offset, bytes);
    if (rc != 0)
        return rc;
    flow_check(c, tidx, partition);
    return 0;
}

void consumer_hold_back(consumer_t *c, size_t tidx, int32_t partition, uint64_t gen, int64_t offset)
{
    offsets_hold_back(c->offsets, tidx, partition, gen, offset);
}

void consumer_done(consumer_t *c, size_t tidx, int32_t partition, uint64_t gen, int64_t offset,
                   size_t bytes)
{
    int64_t wm;
    int rc = offsets_done(c->offsets, tidx, partition, gen, offset, bytes, &wm);
    if (rc == -1)
        return; /* a revoked assignment's late completion */
    if (rc == 1)
        consumer_store(c, tidx, partition, wm);
    flow_check(c, tidx, partition);
}

int consumer_needed(const consumer_t *c, size_t tidx, int32_t partition, uint64_t gen,
                    int64_t offset)
{
    return offsets_needed(c->offsets, tidx, partition, gen, offset);
}

consumer_gate_t consumer_gate(consumer_t *c, size_t tidx, int32_t partition, uint64_t gen,
                              int64_t offset)
{
    if (!offsets_is_current(c->offsets, tidx, partition, gen))
        return CONSUMER_GATE_DROP;
    if (!offsets_may_start(c->offsets, tidx, partition, offset))
        return CONSUMER_GATE_HOLD;
    offsets_touch(c->offsets, tidx, partition, offset);
    return CONSUMER_GATE_START;
}

int consumer_may_start(const consumer_t *c, size_t tidx, int32_t partition, int64_t offset)
{
    return offsets_may_start(c->offsets, tidx, partition, offset);
}

void consumer_touch(consumer_t *c, size_t tidx, int32_t partition, int64_t offset)
{
    offsets_touch(c->offsets, tidx, partition, offset);
}

void consumer_stop_begin(consumer_t *c)
{
    offsets_stop_begin(c->offsets);
}

const offsets_t *consumer_offsets(const consumer_t *c)
{
    return c->offsets;
}

int consumer_paused(const consumer_t *c)
{
    return c->paused;
}

static void consumer_store(consumer_t *c, size_t tidx, int32_t partition, int64_t offset)
{
    if (c->opts.dry_run)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, c->opts.topics[tidx], partition)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, l);
    if (err || l->elems[0].err)
        log_msg(c->log, LOG_WARN, "offset store refused", "topic", c->opts.topics[tidx], "error",
                rd_kafka_err2str(err ? err : l->elems[0].err), NULL);
    rd_kafka_topic_partition_list_destroy(l);
}

int consumer_assigned(const consumer_t *c)
{
    return c->assigned;
}

int consumer_fatal(consumer_t *c, char *errstr, size_t errstr_size)
{
    if (c->fatal[0]) {
        snprintf(errstr, errstr_size, "%s", c->fatal);
        return 1;
    }
    return rd_kafka_fatal_error(c->rk, errstr, errstr_size) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

void consumer_lag_foreach(consumer_t *c,
                          void (*fn)(void *ctx, const char *topic, int32_t partition, int64_t lag),
                          void *ctx)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    rd_kafka_position(c->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = -1, hi = -1;
        int tidx = consumer_topic_index(c, p->topic);
        if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) || hi < 0)
            continue;
        int64_t at = tidx < 0 ? -1 : offsets_position(c->offsets, (size_t)tidx, p->partition);
        if (at < 0)
            at = p->offset; /* the application position: last message returned + 1 */
        if (at < 0)
            continue; /* nothing received and no end seen yet: the lag is not known */
        fn(ctx, p->topic, p->partition, hi > at ? hi - at : 0);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}
