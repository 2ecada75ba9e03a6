/* intake.c - messages into jobs, finished jobs into offsets (see intake.h). */
#include "worker/intake.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fmt.h"
#include "common/frame.h"
#include "common/redrive.h"

/* Later traceparent versions may be longer; nothing longer is passed on. */
#define TRACEPARENT_MAX 512

/* A message held behind a schema lookup: its job is tracked (received with
 * job->bytes, which count the copies below), its value and key copied. */
typedef struct held {
    struct held *next;
    job_t *job;
    void *value, *key; /* key NULL: the message had none */
    size_t len, key_len;
} held_t;

/* One partition's held messages, in offset order. */
typedef struct holdq {
    struct holdq *next;
    size_t tidx;
    int32_t partition;
    held_t *head, *tail;
} holdq_t;

/* What a message carries that its job needs. */
typedef struct raw {
    const void *value, *key; /* key NULL: none */
    size_t len, key_len;
} raw_t;

struct intake {
    intake_opts_t o;
    holdq_t *held; /* partitions with held messages */
    scheduler_t *sched;
    publisher_t *pub;
    int stopping;
    int out_of_memory;      /* a result could not be built: see intake_out_of_memory */
    int traceparent_warned; /* the first dropped traceparent is logged, the rest counted */
    intake_redrive_stats_t redrive;
    metric_family_t *m_events, *m_traceparent, *m_redrive;
};

static const char *outcome_label(const job_t *job)
{
    switch (job->status == JOB_SUCCESS ? RESULT_ERR_NONE : job->error_class) {
    case RESULT_ERR_NONE:
        return "outcome=\"success\"";
    case RESULT_ERR_INVALID_EVENT:
        return "outcome=\"invalid_event\"";
    case RESULT_ERR_REJECTED:
        return "outcome=\"rejected\"";
    default:
        return "outcome=\"retries_exhausted\"";
    }
}

intake_t *intake_new(const intake_opts_t *opts, char *errstr, size_t errstr_size)
{
    intake_t *in = calloc(1, sizeof(*in));
    if (!in) {
        snprintf(errstr, errstr_size, "intake: out of memory");
        return NULL;
    }
    in->o = *opts;
    if (opts->metrics) {
        in->m_events = metrics_counter(opts->metrics, "events_total", "Input events by outcome");
        in->m_traceparent =
            metrics_counter(opts->metrics, "traceparent_dropped_total",
                            "traceparent headers not passed on: not a W3C traceparent");
        metric_add(in->m_traceparent, NULL, 0);
        if (opts->redrive)
            in->m_redrive = metrics_counter(opts->metrics, "redrive_records_total",
                                            "Result records read by --redrive, by verdict");
    }
    return in;
}

void intake_set_outputs(intake_t *in, scheduler_t *sched, publisher_t *pub)
{
    in->sched = sched;
    in->pub = pub;
}

static void held_free(held_t *h)
{
    job_free(h->job);
    free(h->value);
    free(h->key);
    free(h);
}

void intake_destroy(intake_t *in)
{
    if (!in)
        return;
    for (holdq_t *q = in->held, *qn; q; q = qn) {
        qn = q->next;
        for (held_t *h = q->head, *hn; h; h = hn) {
            hn = h->next;
            held_free(h);
        }
        free(q);
    }
    free(in);
}

void intake_stop(intake_t *in)
{
    in->stopping = 1;
}

const intake_redrive_stats_t *intake_redrive_stats(const intake_t *in)
{
    return &in->redrive;
}

static void count(metric_family_t *f, const char *labels)
{
    if (f)
        metric_add(f, labels, 1);
}

/* ---- pure helpers ---- */

static int hex_run(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

int intake_traceparent_valid(const void *value, size_t len)
{
    const unsigned char *p = value;
    /* version "-" trace-id "-" parent-id "-" flags */
    if (!p || len < 55 || len > TRACEPARENT_MAX || !hex_run(p, 2) || p[2] != '-' ||
        !hex_run(p + 3, 32) || p[35] != '-' || !hex_run(p + 36, 16) || p[52] != '-' ||
        !hex_run(p + 53, 2))
        return 0;
    if (p[0] == 'f' && p[1] == 'f')
        return 0; /* version ff is invalid */
    if (p[0] == '0' && p[1] == '0')
        return len == 55;
    return len == 55 || p[55] == '-'; /* a later version may append fields */
}

static size_t str_bytes(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

size_t intake_job_bytes(const job_t *job)
{
    return sizeof(*job) + str_bytes(job->ev.type) + str_bytes(job->ev.user_id) +
           str_bytes(job->ev.event_id) + str_bytes(job->ev.occurred_at) +
           str_bytes(job->src_topic) + str_bytes(job->traceparent) + job->key_len + job->value_len;
}

/* ---- finishing ---- */

static void log_done(intake_t *in, const job_t *job)
{
    char ubuf[64], code[FMT_I64_MAX];
    log_t *log = in->o.log;
    if (!log_enabled(log, LOG_INFO))
        return;
    fmt_i64(code, job->last.code);
    log_msg(log, job->status == JOB_SUCCESS ? LOG_INFO : LOG_WARN, "event done", "status",
            job->status == JOB_SUCCESS ? "success" : "failure", "error_class",
            result_error_name(job->error_class), "event_id", job->ev.event_id, "user_id",
            job->ev.user_id ? log_user(log, job->ev.user_id, ubuf, sizeof(ubuf)) : NULL, "code",
            job->answered && job->last.has_code ? code : NULL, "request_id",
            job->answered && job->last.request_id[0] ? job->last.request_id : NULL, "#attempts",
            LOG_NUM(job->attempts), "covered_by", job->covered_by, "topic", job->topic,
            "#partition", LOG_NUM(job->partition), "#offset", LOG_NUM(job->offset), NULL);
}

/* The job's offset is finished: the consumer moves the watermark. */
static void offset_done(intake_t *in, job_t *job)
{
    consumer_done(in->o.cons, job->tidx, job->partition, job->gen, job->offset, job->bytes);
    job_free(job);
}

void intake_published(void *ctx, job_t *job)
{
    intake_t *in = ctx;
    count(in->m_events, outcome_label(job));
    log_done(in, job);
    offset_done(in, job);
}

/* A final job made calls (or rode on one), so the gate noted its offset. */
static void on_final(void *ctx, job_t *job)
{
    intake_t *in = ctx;
    job->completed_at_ms = clock_unix_ms();
    if (publisher_publish(in->pub, job) == -1)
        in->out_of_memory = 1; /* its offset stays unfinished: the loop stops */
}

static void on_drop(void *ctx, job_t *job)
{
    (void)ctx;
    job_free(job); /* its partition was given up: the next owner processes it */
}

static sched_gate_t on_gate(void *ctx, const job_t *job)
{
    intake_t *in = ctx;
    switch (consumer_gate(in->o.cons, job->tidx, job->partition, job->gen, job->offset)) {
    case CONSUMER_GATE_DROP:
        return SCHED_DROP;
    case CONSUMER_GATE_HOLD:
        return SCHED_HOLD;
    default:
        return SCHED_START;
    }
}

static int on_needed(void *ctx, const job_t *job)
{
    intake_t *in = ctx;
    return consumer_needed(in->o.cons, job->tidx, job->partition, job->gen, job->offset);
}

scheduler_cbs_t intake_sched_cbs(intake_t *in)
{
    scheduler_cbs_t cbs = {
        .final = on_final, .drop = on_drop, .gate = on_gate, .needed = on_needed, .ctx = in};
    return cbs;
}

/* ---- taking messages ---- */

static void *copy_bytes(const void *p, size_t n)
{
    void *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

/* The traceparent header, when it is one worth passing on. 0 absent,
 * dropped or copied; -1 out of memory. */
static int take_traceparent(intake_t *in, rd_kafka_message_t *msg, job_t *job)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers(msg, &hdrs) || !hdrs ||
        rd_kafka_header_get_last(hdrs, "traceparent", &val, &size))
        return 0;
    if (!intake_traceparent_valid(val, size)) {
        count(in->m_traceparent, NULL);
        if (!in->traceparent_warned) {
            log_msg(in->o.log, LOG_WARN,
                    "traceparent header is not a W3C traceparent: not copied to results (logged "
                    "once; counted in traceparent_dropped_total)",
                    "event_id", job->ev.event_id, "#bytes", LOG_NUM(val ? size : 0), NULL);
            in->traceparent_warned = 1;
        }
        return 0;
    }
    if (!(job->traceparent = malloc(size + 1)))
        return -1;
    memcpy(job->traceparent, val, size);
    job->traceparent[size] = '\0';
    job->has_traceparent = 1;
    return 0;
}

/* The raw key and value, kept only where needed. 0 ok, -1 out of memory. */
static int take_raw(intake_t *in, const raw_t *raw, job_t *job)
{
    int invalid = job->ev_status != EVENT_OK;
    /* The result's key is the user id; the raw key only when there is none
     * (an empty key stays empty, not NULL: the DLQ copy is byte-exact). */
    if (raw->key && (invalid || !job->ev.user_id)) {
        if (!(job->key = copy_bytes(raw->key, raw->key_len)))
            return -1;
        job->key_len = raw->key_len;
    }
    if (invalid && in->o.cfg->dead_letter_topic[0] && raw->value && !in->o.dry_run) {
        if (!(job->value = copy_bytes(raw->value, raw->len)))
            return -1;
        job->value_len = raw->len;
    }
    return 0;
}

/* --redrive: the record's verdict; a taken one is parsed as its event.
 * 1 taken (job->ev filled), 0 skipped, -1 out of memory. */
static int take_redrive(intake_t *in, rd_kafka_message_t *msg, job_t *job)
{
    redrive_rec_t rec;
    const char *label = "verdict=\"taken\"";
    redrive_verdict_t v = redrive_parse(in->o.cfg, msg->payload, msg->len, &rec);
    switch (v) {
    case REDRIVE_TAKE:
        in->redrive.taken++;
        break;
    case REDRIVE_SKIP_SUCCESS:
        in->redrive.skipped_success++;
        label = "verdict=\"skipped_success\"";
        break;
    case REDRIVE_SKIP_CLASS:
        in->redrive.skipped_class++;
        label = "verdict=\"skipped_class\"";
        break;
    case REDRIVE_UNPARSEABLE:
        in->redrive.unparseable++;
        label = "verdict=\"unparseable\"";
        log_msg(in->o.log, LOG_DEBUG, "redrive: record skipped", "reason", rec.why, "#partition",
                LOG_NUM(msg->partition), "#offset", LOG_NUM(msg->offset), NULL);
        break;
    }
    count(in->m_redrive, label);
    if (v != REDRIVE_TAKE)
        return strcmp(rec.why, "out of memory") == 0 ? -1 : 0;
    job->redrive = 1;
    job->src_topic = rec.src_topic;
    job->src_partition = rec.src_partition;
    job->src_offset = rec.src_offset;
    rec.src_topic = NULL;
    /* Parsed as from its original source: an event that had no event_id
     * gets the same default as the first time (see redrive.h). */
    int src = job->src_topic != NULL;
    job->ev_status = event_parse(in->o.cfg, rec.event_json, rec.event_len,
                                 src ? job->src_topic : rd_kafka_topic_name(msg->rkt),
                                 src ? job->src_partition : msg->partition,
                                 src ? job->src_offset : msg->offset, &job->ev);
    redrive_rec_clear(&rec);
    return 1;
}

static void dry_run_print(intake_t *in, job_t *job)
{
    char *json = publisher_result_json(in->o.cfg, in->o.worker_id, job, "dry_run");
    if (json) {
        fprintf(stdout, "%s\n", json);
        fflush(stdout);
        free(json);
    }
}

/* Routes a tracked job whose event is parsed. Takes the job. */
static int dispatch(intake_t *in, job_t *job)
{
    if (job->ev_status == EVENT_UNKNOWN_TYPE && in->o.cfg->unknown_types == CONFIG_UNKNOWN_IGNORE) {
        count(in->m_events, "outcome=\"ignored\"");
        log_msg(in->o.log, LOG_DEBUG, "event ignored", "event_id", job->ev.event_id, "reason",
                job->ev.error, NULL);
        offset_done(in, job);
        return 0;
    }
    if (job->ev_status != EVENT_OK) {
        job->status = JOB_FAILURE;
        job->error_class = RESULT_ERR_INVALID_EVENT;
    }
    job->completed_at_ms = job->ev_status != EVENT_OK ? clock_unix_ms() : 0;
    if (in->o.dry_run) {
        job->completed_at_ms = clock_unix_ms();
        dry_run_print(in, job);
        count(in->m_events, "outcome=\"dry_run\"");
        offset_done(in, job);
        return 0;
    }
    if (job->ev_status != EVENT_OK) {
        consumer_touch(in->o.cons, job->tidx, job->partition, job->offset);
        return publisher_publish(in->pub, job);
    }
    return scheduler_submit(in->sched, job);
}

/* Tracks (holding extra bytes besides the job's) and routes a job whose
 * event is parsed. Takes the job. */
static int route(intake_t *in, job_t *job)
{
    job->bytes = intake_job_bytes(job);
    int rc =
        consumer_received(in->o.cons, job->tidx, job->partition, job->gen, job->offset, job->bytes);
    if (rc != 0) {
        job_free(job); /* not ours any more (-1), or no memory to track it (-2) */
        return rc == -2 ? -1 : 0;
    }
    return dispatch(in, job);
}

/* ---- framed values and held messages ---- */

/* Parses the value: plain JSON, or framed with the schema fs (NULL: plain). */
static void parse_value(intake_t *in, job_t *job, const raw_t *raw, const frame_schema_t *fs,
                        uint32_t id, const void *payload, size_t payload_len)
{
    if (fs)
        job->ev_status = frame_event_parse(in->o.cfg, fs, id, payload, payload_len, job->topic,
                                           job->partition, job->offset, &job->ev);
    else
        job->ev_status = event_parse(in->o.cfg, raw->value, raw->len, job->topic, job->partition,
                                     job->offset, &job->ev);
}

static holdq_t *holdq_find(intake_t *in, size_t tidx, int32_t partition)
{
    for (holdq_t *q = in->held; q; q = q->next)
        if (q->tidx == tidx && q->partition == partition)
            return q;
    return NULL;
}

/* Holds the message behind its partition's queue (q, or a new one): it is
 * tracked now, with the bytes of its copies, and parsed when its schema is
 * known. Takes the job. 0 ok (also when the partition is not ours any
 * more), -1 out of memory. */
static int hold(intake_t *in, holdq_t *q, const raw_t *raw, job_t *job)
{
    held_t *h = calloc(1, sizeof(*h));

    if (!h) {
        job_free(job);
        return -1;
    }
    h->job = job;
    h->len = raw->len;
    h->key_len = raw->key_len;
    /* NULL stays NULL (a tombstone, a message without key): copies are exact. */
    if ((raw->value && !(h->value = copy_bytes(raw->value, raw->len))) ||
        (raw->key && !(h->key = copy_bytes(raw->key, raw->key_len))) ||
        (!q && !(q = calloc(1, sizeof(*q))))) {
        held_free(h);
        return -1;
    }
    job->bytes = intake_job_bytes(job) + raw->len + raw->key_len;
    int rc =
        consumer_received(in->o.cons, job->tidx, job->partition, job->gen, job->offset, job->bytes);
    if (rc != 0) {
        held_free(h); /* not ours any more (-1), or no memory to track it (-2) */
        if (!q->head)
            free(q);
        return rc == -2 ? -1 : 0;
    }
    if (!q->head && !q->tail && q != holdq_find(in, job->tidx, job->partition)) {
        q->tidx = job->tidx;
        q->partition = job->partition;
        q->next = in->held;
        in->held = q;
    }
    if (q->tail)
        q->tail->next = h;
    else
        q->head = h;
    q->tail = h;
    return 0;
}

/* Serves one partition's queue head first. 1 when the queue is empty now,
 * 0 when its head still waits, -1 out of memory. */
static int release_queue(intake_t *in, holdq_t *q)
{
    int64_t now = clock_mono_us();
    while (q->head) {
        held_t *h = q->head;
        job_t *job = h->job;
        uint32_t id = 0;
        const void *payload = NULL;
        size_t payload_len = 0;
        const frame_schema_t *fs = NULL;
        raw_t raw = {h->value, h->key, h->len, h->key_len};

        int ours = consumer_gen(in->o.cons, q->tidx, q->partition) == job->gen;
        /* A partition being drained for a revoke takes nothing new: what
         * waits here lies beyond its cut and stays, to be let go when the
         * partition is given up (its next owner processes it). Released,
         * an invalid event's result would be published here and there. */
        if (ours && !consumer_may_start(in->o.cons, q->tidx, q->partition, job->offset))
            return 0;
        if (ours && frame_parse(h->value, h->len, &id, &payload, &payload_len) &&
            !(fs = schemareg_lookup(in->o.registry, id, now)))
            return 0;
        q->head = h->next;
        if (!q->head)
            q->tail = NULL;
        if (!ours) {
            held_free(h); /* given up: the next owner processes it */
            continue;
        }
        h->job = NULL;
        parse_value(in, job, &raw, fs, id, payload, payload_len);
        if (take_raw(in, &raw, job) == -1) {
            job->bytes = 0;
            h->job = job; /* freed untracked: processed again after a restart */
            held_free(h);
            return -1;
        }
        held_free(h);
        if (dispatch(in, job) == -1)
            return -1;
    }
    return 1;
}

int intake_release(intake_t *in)
{
    holdq_t **pp = &in->held;
    int rc = 0;
    if (in->stopping)
        return 0; /* held messages lie beyond the stop cut */
    while (*pp) {
        holdq_t *q = *pp;
        int r = release_queue(in, q);
        if (r == -1)
            rc = -1;
        if (r == 1) {
            *pp = q->next;
            free(q);
        } else {
            pp = &q->next;
        }
    }
    return rc;
}

int intake_out_of_memory(const intake_t *in)
{
    return in->out_of_memory;
}

size_t intake_held(const intake_t *in)
{
    size_t n = 0;
    for (const holdq_t *q = in->held; q; q = q->next)
        for (const held_t *h = q->head; h; h = h->next)
            n++;
    return n;
}

int intake_message(intake_t *in, rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    int tidx = consumer_topic_index(in->o.cons, topic);
    uint64_t gen = tidx < 0 ? 0 : consumer_gen(in->o.cons, (size_t)tidx, msg->partition);
    raw_t raw = {msg->payload, msg->key, msg->len, msg->key_len};
    job_t *job = NULL;
    int rc = 0;

    if (in->stopping || gen == 0)
        goto out; /* not ours (any more), or stopping: not tracked, not committed */
    /* --until-end: a record at or past its partition's end is not the job's
     * (live traffic, or a redrive's own results): neither processed, counted
     * nor committed. Without --until-end no end is set (-1); one not read
     * yet is OFFSETS_END_AT_EOF. */
    int64_t end = offsets_end(consumer_offsets(in->o.cons), (size_t)tidx, msg->partition);
    if (end >= 0 && msg->offset >= end)
        goto out;
    if (!(job = job_new()))
        goto oom;
    job->tidx = (size_t)tidx;
    job->topic = consumer_topic_name(in->o.cons, (size_t)tidx);
    job->partition = msg->partition;
    job->offset = msg->offset;
    job->gen = gen;
    job->received_at_ms = clock_unix_ms();
    if (in->o.redrive) {
        int taken = take_redrive(in, msg, job);
        if (taken == -1)
            goto oom;
        if (taken == 0) {
            /* Skipped: finished at once, like an ignored event. */
            job->bytes = intake_job_bytes(job);
            rc = consumer_received(in->o.cons, job->tidx, job->partition, job->gen, job->offset,
                                   job->bytes);
            if (rc == 0)
                offset_done(in, job);
            else
                job_free(job);
            job = NULL;
            rc = rc == -2 ? -1 : 0;
            goto out;
        }
    } else if (in->o.registry) {
        /* Framed values wait for their schema, and the partition's later
         * messages wait behind them (per-partition, hence per-user, order). */
        holdq_t *q = holdq_find(in, job->tidx, job->partition);
        uint32_t id = 0;
        const void *payload = NULL;
        size_t payload_len = 0;
        const frame_schema_t *fs = NULL;
        int framed = frame_parse(raw.value, raw.len, &id, &payload, &payload_len);
        if (!q && framed)
            fs = schemareg_lookup(in->o.registry, id, clock_mono_us());
        if (q || (framed && !fs)) {
            if (take_traceparent(in, msg, job) == -1)
                goto oom;
            rc = hold(in, q, &raw, job);
            job = NULL;
            goto out;
        }
        parse_value(in, job, &raw, fs, id, payload, payload_len);
    } else {
        parse_value(in, job, &raw, NULL, 0, NULL, 0);
    }
    if (take_raw(in, &raw, job) == -1 || take_traceparent(in, msg, job) == -1)
        goto oom;
    rc = route(in, job);
    job = NULL;
    goto out;
oom:
    rc = -1;
out:
    /* Memory ran out: whether or not the event got tracked, nothing at or
     * past it is committed, so it is processed again after a restart. */
    if (rc == -1)
        consumer_hold_back(in->o.cons, (size_t)tidx, msg->partition, gen, msg->offset);
    job_free(job);
    rd_kafka_message_destroy(msg);
    return rc;
}
