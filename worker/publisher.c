/* publisher.c - result events, dead-letter copies and delivery reports
 * (see publisher.h). */
#include "worker/publisher.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/result.h"
#include "worker/kconf.h"

/* Appended to the message of a result sent again without its copied key
 * and traceparent after the cluster refused it as too large. */
#define REDUCED_NOTE                                                                               \
    " [result reduced: the cluster refused it as too large; key and traceparent not copied]"

typedef struct pub_msg {
    struct publisher *p;
    job_t *job;
    const char *topic;
    rd_kafka_topic_t *rkt; /* the topic's handle (the publisher's), or NULL: by name */
    char *payload;         /* owned when owns_payload, else the job's raw value */
    size_t len;
    int owns_payload; /* a result (owned JSON); else a DLQ copy */
    int reduced;      /* sent again without the copied key (and traceparent) */
    const void *key;
    size_t key_len;
    rd_kafka_headers_t *hdrs; /* template; a copy goes with every produce */
    int64_t retry_at_ms;
    struct pub_msg *next; /* backlog link */
} pub_msg_t;

struct publisher {
    const config_t *cfg;
    const char *worker_id;
    log_t *log;
    kconf_ctx_t kctx;
    rd_kafka_t *rk; /* owned */
    rd_kafka_queue_t *queue;
    /* Handles of the result and dead-letter topics (owned; NULL: produced
     * by name). Made at start, the producer asks for their leaders then:
     * otherwise the first results wait for its next metadata scan, up to
     * a second after the first produce. */
    rd_kafka_topic_t *rkt_result, *rkt_dlq;
    publisher_done_cb *done;
    void *ctx;
    pub_msg_t *backlog, *backlog_tail;
    size_t pending;
};

void publisher_worker_id(char *buf, size_t size)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, size, "%s/%ld", host, (long)getpid());
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);

publisher_t *publisher_new(const config_t *cfg, const char *worker_id, log_t *log,
                           publisher_done_cb *done, void *ctx, char *errstr, size_t errstr_size)
{
    char kerr[256];
    publisher_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "publisher: out of memory");
        return NULL;
    }
    p->cfg = cfg;
    p->worker_id = worker_id;
    p->log = log;
    p->done = done;
    p->ctx = ctx;
    p->kctx.log = log;
    p->kctx.owner = p;
    rd_kafka_conf_t *conf = kconf_producer(cfg, &p->kctx, errstr, errstr_size);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr)))) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "kafka producer: %s", kerr);
        goto fail;
    }
    p->queue = rd_kafka_queue_get_main(p->rk);
    /* Names were checked with the configuration: NULL is out of memory,
     * and producing by name still works. */
    p->rkt_result = rd_kafka_topic_new(p->rk, cfg->result_topic, NULL);
    if (cfg->dead_letter_topic[0])
        p->rkt_dlq = rd_kafka_topic_new(p->rk, cfg->dead_letter_topic, NULL);
    return p;
fail:
    publisher_destroy(p);
    return NULL;
}

rd_kafka_queue_t *publisher_queue(publisher_t *p)
{
    return p->queue;
}

void publisher_poll(publisher_t *p)
{
    rd_kafka_poll(p->rk, 0);
    publisher_retry(p);
}

void publisher_flush(publisher_t *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
}

int publisher_fatal(publisher_t *p, char *errstr, size_t errstr_size)
{
    return p->rk && rd_kafka_fatal_error(p->rk, errstr, errstr_size) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void msg_free(pub_msg_t *m)
{
    if (!m)
        return;
    if (m->owns_payload)
        free(m->payload);
    if (m->hdrs)
        rd_kafka_headers_destroy(m->hdrs);
    free(m);
}

void publisher_destroy(publisher_t *p)
{
    if (!p)
        return;
    /* Acknowledgements served from here on free their jobs instead of
     * handing them back: the worker's consumer is gone by now. */
    p->done = NULL;
    if (p->rk) {
        /* What is still queued or in flight is purged: the delivery reports
         * free those messages and their jobs (offsets stay uncommitted). */
        rd_kafka_queue_io_event_enable(p->queue, -1, NULL, 0);
        rd_kafka_queue_destroy(p->queue);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
        if (p->rkt_result)
            rd_kafka_topic_destroy(p->rkt_result);
        if (p->rkt_dlq)
            rd_kafka_topic_destroy(p->rkt_dlq);
        rd_kafka_destroy(p->rk);
    }
    /* The backlog is ours. */
    pub_msg_t *m = p->backlog, *n;
    for (; m; m = n) {
        n = m->next;
        if (--m->job->deliveries_pending == 0)
            job_free(m->job);
        msg_free(m);
    }
    free(p);
}

size_t publisher_pending(const publisher_t *p)
{
    return p->pending;
}

#define PUB_QUEUE_FULL_RETRY_MS 20

static void backlog_push(publisher_t *p, pub_msg_t *m, int64_t delay_ms)
{
    m->retry_at_ms = clock_mono_us() / 1000 + delay_ms;
    m->next = NULL;
    if (p->backlog_tail)
        p->backlog_tail->next = m;
    else
        p->backlog = m;
    p->backlog_tail = m;
}

static void delivered(publisher_t *p, pub_msg_t *m)
{
    job_t *job = m->job;
    p->pending--;
    msg_free(m);
    if (--job->deliveries_pending == 0) {
        if (p->done)
            p->done(p->ctx, job);
        else
            job_free(job); /* acknowledged during destroy: its offset stays uncommitted */
    }
}

static int too_large(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

static int reduce_result(publisher_t *p, pub_msg_t *m);

/* A message the cluster refuses as too large is sent once more in a
 * reduced form, without what was copied from the input (the raw key; for a
 * result also the traceparent, with a note in its message). Refused again,
 * or with nothing to leave out, it is given up loudly rather than stalling
 * the partition (a DLQ copy's value is the event itself). 1 when handled. */
static int refused_too_large(publisher_t *p, pub_msg_t *m, rd_kafka_resp_err_t err)
{
    if (!too_large(err))
        return 0;
    long long size = (long long)(m->len + m->key_len);
    /* A result's key is the user id when there is one: not a copy. */
    int raw_key = m->key_len > 0 && (!m->owns_payload || !m->job->ev.user_id);
    if (!m->reduced && (raw_key || (m->owns_payload && m->job->has_traceparent))) {
        m->reduced = 1;
        if (!m->owns_payload || reduce_result(p, m) == 0) {
            if (raw_key) {
                m->key = NULL;
                m->key_len = 0;
            }
            if (!m->owns_payload)
                rd_kafka_header_add(m->hdrs, "note", -1,
                                    "key not copied: the cluster refused the copy as too large",
                                    -1);
            log_msg(p->log, LOG_WARN, "message refused as too large; sending it reduced", "topic",
                    m->topic, "#bytes", LOG_NUM(size), "error", rd_kafka_err2str(err), "event_id",
                    m->job->ev.event_id, NULL);
            backlog_push(p, m, 0);
            return 1;
        }
    }
    log_msg(p->log, LOG_ERROR, "message refused as too large; given up, not retried", "topic",
            m->topic, "#bytes", LOG_NUM(size), "error", rd_kafka_err2str(err), "event_id",
            m->job->ev.event_id, NULL);
    delivered(p, m);
    return 1;
}

/* Produces m; on a refusal it goes to the backlog. */
static void produce(publisher_t *p, pub_msg_t *m)
{
    rd_kafka_headers_t *h = rd_kafka_headers_copy(m->hdrs);
    /* rd_kafka_produceva: the RD_KAFKA_V_* macros of producev() are GNU
     * statement expressions, which -Wpedantic refuses. */
    rd_kafka_vu_t vus[5];
    memset(vus, 0, sizeof(vus));
    if (m->rkt) {
        vus[0].vtype = RD_KAFKA_VTYPE_RKT;
        vus[0].u.rkt = m->rkt;
    } else {
        vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[0].u.cstr = m->topic;
    }
    vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[1].u.mem.ptr = m->payload;
    vus[1].u.mem.size = m->len;
    vus[2].vtype = RD_KAFKA_VTYPE_KEY;
    vus[2].u.mem.ptr = (void *)m->key;
    vus[2].u.mem.size = m->key_len;
    vus[3].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[3].u.headers = h;
    vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[4].u.ptr = m;
    rd_kafka_error_t *error = rd_kafka_produceva(p->rk, vus, 5);
    if (!error)
        return;
    rd_kafka_resp_err_t err = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    rd_kafka_headers_destroy(h); /* only a successful produce takes them */
    if (refused_too_large(p, m, err))
        return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        log_msg(p->log, LOG_ERROR, "produce refused; retrying", "topic", m->topic, "error",
                rd_kafka_err2str(err), "event_id", m->job->ev.event_id, NULL);
    /* A full queue empties as deliveries come back: tried again shortly
     * (not on every turn, which would spin the loop while the cluster is
     * away); any other refusal a second later. */
    backlog_push(p, m, err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PUB_QUEUE_FULL_RETRY_MS : 1000);
}

void publisher_retry(publisher_t *p)
{
    int64_t now = clock_mono_us() / 1000;
    pub_msg_t *m = p->backlog, *keep = NULL, *keep_tail = NULL, *n;
    p->backlog = p->backlog_tail = NULL;
    for (; m; m = n) {
        n = m->next;
        m->next = NULL;
        if (m->retry_at_ms <= now) {
            produce(p, m); /* may append to the (new) backlog */
            continue;
        }
        if (keep_tail)
            keep_tail->next = m;
        else
            keep = m;
        keep_tail = m;
    }
    /* Waiting ones first, then those that were refused just now. */
    if (keep) {
        keep_tail->next = p->backlog;
        if (!p->backlog)
            p->backlog_tail = keep_tail;
        p->backlog = keep;
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    pub_msg_t *m = rkm->_private;
    publisher_t *p = m->p;
    (void)rk;
    (void)opaque;
    if (rkm->err) {
        if (rkm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
            rkm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ||
            rkm->err == RD_KAFKA_RESP_ERR__DESTROY) {
            /* Shutting down: the offset stays uncommitted. */
            p->pending--;
            if (--m->job->deliveries_pending == 0)
                job_free(m->job);
            msg_free(m);
            return;
        }
        if (refused_too_large(p, m, rkm->err))
            return;
        log_msg(p->log, LOG_ERROR, "delivery failed; producing again", "topic", m->topic, "error",
                rd_kafka_err2str(rkm->err), "event_id", m->job->ev.event_id, NULL);
        backlog_push(p, m, 1000);
        return;
    }
    delivered(p, m);
}

static const char *job_status_name(const job_t *job)
{
    return job->status == JOB_SUCCESS ? "success" : "failure";
}

/* Builds the result; note is appended to its message (NULL: none). */
static char *result_json(const config_t *cfg, const char *worker_id, const job_t *job,
                         const char *status, const char *note)
{
    result_t r;
    char msg[512];
    memset(&r, 0, sizeof(r));
    r.status = status ? status : job_status_name(job);
    r.event_id = job->ev.event_id;
    r.event_type = job->ev.type;
    r.user_id = job->ev.user_id;
    r.app_id = cfg->app_id;
    /* As sent; a dry run shows what would be sent. */
    r.delete_type = (job->attempts > 0 || status) ? job->ev.delete_type : -1;
    r.has_code = job->answered && job->last.has_code;
    r.code = job->last.code;
    if (job->answered)
        r.message = job->last.message;
    else if (job->ev.error[0])
        r.message = job->ev.error;
    else
        r.message = status ? "dry run: DeleteAllFriends not called" : "";
    if (note) {
        snprintf(msg, sizeof(msg), "%s%s", r.message, note);
        r.message = msg;
    }
    r.request_id = job->answered && job->last.request_id[0] ? job->last.request_id : NULL;
    r.attempts = job->attempts;
    r.error_class = result_error_name(job->error_class);
    r.occurred_at = job->ev.occurred_at;
    if (job->redrive) {
        /* The original event's source; where this record was read. */
        r.topic = job->src_topic;
        r.partition = job->src_partition;
        r.offset = job->src_offset;
        r.redrive_topic = job->topic;
        r.redrive_partition = job->partition;
        r.redrive_offset = job->offset;
    } else {
        r.topic = job->topic;
        r.partition = job->partition;
        r.offset = job->offset;
    }
    r.received_at_ms = job->received_at_ms;
    r.completed_at_ms = job->completed_at_ms;
    r.worker = worker_id;
    r.covered_by = job->covered_by;
    return result_to_json(&r);
}

char *publisher_result_json(const config_t *cfg, const char *worker_id, const job_t *job,
                            const char *status)
{
    return result_json(cfg, worker_id, job, status, NULL);
}

static pub_msg_t *msg_new(publisher_t *p, job_t *job, const char *topic, rd_kafka_topic_t *rkt)
{
    pub_msg_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->p = p;
    m->job = job;
    m->topic = topic;
    m->rkt = rkt;
    m->hdrs = rd_kafka_headers_new(5);
    if (!m->hdrs) {
        free(m);
        return NULL;
    }
    return m;
}

static pub_msg_t *result_msg(publisher_t *p, job_t *job)
{
    pub_msg_t *m = msg_new(p, job, p->cfg->result_topic, p->rkt_result);
    if (!m)
        return NULL;
    m->payload = publisher_result_json(p->cfg, p->worker_id, job, NULL);
    m->owns_payload = 1;
    if (!m->payload) {
        msg_free(m);
        return NULL;
    }
    m->len = strlen(m->payload);
    if (job->ev.user_id) {
        m->key = job->ev.user_id;
        m->key_len = strlen(job->ev.user_id);
    } else {
        m->key = job->key;
        m->key_len = job->key_len;
    }
    rd_kafka_header_add(m->hdrs, "event_id", -1, job->ev.event_id, -1);
    rd_kafka_header_add(m->hdrs, "status", -1, job_status_name(job), -1);
    if (job->has_traceparent)
        rd_kafka_header_add(m->hdrs, "traceparent", -1, job->traceparent, -1);
    return m;
}

/* The result without the traceparent header and with the note. 0 ok. */
static int reduce_result(publisher_t *p, pub_msg_t *m)
{
    char *payload = result_json(p->cfg, p->worker_id, m->job, NULL, REDUCED_NOTE);
    if (!payload)
        return -1;
    free(m->payload);
    m->payload = payload;
    m->len = strlen(payload);
    rd_kafka_header_remove(m->hdrs, "traceparent");
    return 0;
}

static pub_msg_t *dlq_msg(publisher_t *p, job_t *job)
{
    pub_msg_t *m = msg_new(p, job, p->cfg->dead_letter_topic, p->rkt_dlq);
    char part[16], off[24];
    if (!m)
        return NULL;
    m->payload = job->value;
    m->len = job->value_len;
    m->key = job->key;
    m->key_len = job->key_len;
    snprintf(part, sizeof(part), "%" PRId32, job->partition);
    snprintf(off, sizeof(off), "%" PRId64, job->offset);
    rd_kafka_header_add(m->hdrs, "error_class", -1, result_error_name(job->error_class), -1);
    rd_kafka_header_add(m->hdrs, "error", -1, job->ev.error, -1);
    rd_kafka_header_add(m->hdrs, "source_topic", -1, job->topic, -1);
    rd_kafka_header_add(m->hdrs, "source_partition", -1, part, -1);
    rd_kafka_header_add(m->hdrs, "source_offset", -1, off, -1);
    return m;
}

int publisher_publish(publisher_t *p, job_t *job)
{
    pub_msg_t *res = result_msg(p, job), *dlq = NULL;
    int want_dlq = job->error_class == RESULT_ERR_INVALID_EVENT && p->cfg->dead_letter_topic[0];
    if (!res || (want_dlq && !(dlq = dlq_msg(p, job)))) {
        log_msg(p->log, LOG_ERROR,
                "out of memory building a result; the event will be retried "
                "after restart",
                "event_id", job->ev.event_id, NULL);
        msg_free(res);
        job_free(job);
        return -1;
    }
    job->deliveries_pending = dlq ? 2 : 1;
    p->pending += (size_t)job->deliveries_pending;
    produce(p, res);
    if (dlq)
        produce(p, dlq);
    return 0;
}

int64_t publisher_next_retry_us(const publisher_t *p)
{
    int64_t next = -1;
    for (const pub_msg_t *m = p->backlog; m; m = m->next)
        if (next < 0 || m->retry_at_ms * 1000 < next)
            next = m->retry_at_ms * 1000;
    return next;
}
