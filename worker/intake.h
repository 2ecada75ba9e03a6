/* intake.h - turns consumed messages into jobs and sees each job through
 * to its finished offset.
 *
 * For every message: parse and validate it (common/event; in a --redrive
 * job, first take the failure result apart: common/redrive; with
 * events.format = "auto", a framed value is decoded with its writer schema:
 * common/frame), count the bytes it holds (worker.max_pending_bytes), and
 * route it:
 *  - unknown type with events.unknown_types = "ignore", or a result record
 *    a redrive skips: counted, its offset finished at once;
 *  - --dry-run: its would-be result printed on stdout, offset finished;
 *  - invalid: straight to the publisher (failure result, DLQ copy);
 *  - valid: to the scheduler.
 * The scheduler's gate, final and drop callbacks and the publisher's done
 * callback come back here (intake_sched_cbs(), intake_published()): a
 * finished job is counted, logged, its offset reported to the consumer
 * (which stores the watermark), and freed.
 *
 * A framed value whose schema is not known yet is held, tracked with the
 * bytes of its copy, until the registry client has the schema; while a
 * partition holds one, its later messages are held behind it, so the order
 * within a partition (and so per user) is kept, and the other partitions
 * flow on. A held message whose partition was given up is dropped; held
 * messages lie beyond a clean stop's cut and are not taken any more.
 *
 * What a job keeps is only what it needs: the raw key only for a DLQ copy
 * or for the result of an event without a usable user id; the traceparent
 * header only when it is a W3C traceparent (others are dropped, logged once
 * and counted).
 *
 * Borrowed: configuration, log, metrics, consumer, scheduler and publisher
 * (the last two absent in a dry run). Single-threaded: the loop thread. */
#ifndef ZU_INTAKE_H
#define ZU_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/schemareg.h"
#include "worker/consumer.h"
#include "worker/job.h"
#include "worker/publisher.h"
#include "worker/scheduler.h"

typedef struct intake_opts {
    const config_t *cfg;
    log_t *log;
    metrics_t *metrics;
    consumer_t *cons;
    const char *worker_id;
    int dry_run;
    int redrive; /* messages are result records of kafka.result_topic */
    /* events.format = "auto": framed values are decoded with their writer
     * schema from this client (borrowed); NULL: every value is plain JSON. */
    schemareg_t *registry;
} intake_opts_t;

/* Figures of a --redrive job. */
typedef struct intake_redrive_stats {
    uint64_t taken, skipped_success, skipped_class, unparseable;
} intake_redrive_stats_t;

typedef struct intake intake_t;

/* NULL with errstr on allocation failure. */
intake_t *intake_new(const intake_opts_t *opts, char *errstr, size_t errstr_size);
void intake_destroy(intake_t *in);

/* Where valid events go (the scheduler) and results (the publisher); both
 * are created with intake's callbacks, hence set after intake_new(). Not
 * set in a dry run. */
void intake_set_outputs(intake_t *in, scheduler_t *sched, publisher_t *pub);

/* The scheduler's callbacks (gate, final, drop), with intake as context. */
scheduler_cbs_t intake_sched_cbs(intake_t *in);
/* The publisher's done callback: the job's messages are acknowledged. */
void intake_published(void *ctx, job_t *job);

/* Takes one consumed message (destroys it). -1 when memory ran out (the
 * event is not tracked: it is processed again after a restart). */
int intake_message(intake_t *in, rd_kafka_message_t *msg);

/* Messages held behind a schema lookup whose schema is known now (or whose
 * partition was given up) go on, in offset order. Call every turn, before
 * new messages are taken. -1 when memory ran out (that event is processed
 * again after a restart). */
int intake_release(intake_t *in);
/* Messages held now. */
size_t intake_held(const intake_t *in);
/* 1 once memory ran out building a finished event's result (from the
 * scheduler's final callback, which cannot fail): its offset is never
 * finished, so the partition commits nothing past it; the worker should
 * stop, and the event is processed again after a restart. */
int intake_out_of_memory(const intake_t *in);

/* From now on messages are not taken (clean stop). */
void intake_stop(intake_t *in);

const intake_redrive_stats_t *intake_redrive_stats(const intake_t *in);

/* 1 when value (len bytes) is a W3C traceparent worth passing on: version
 * 00 as "00-<32 hex>-<16 hex>-<2 hex>" (55 bytes), or a later version (two
 * hex digits other than ff) of at most 512 bytes that starts the same way.
 * Pure (unit-tested). */
int intake_traceparent_valid(const void *value, size_t len);

/* The bytes a job holds against worker.max_pending_bytes. Pure. */
size_t intake_job_bytes(const job_t *job);

#endif
