/* publisher.h - result events and dead-letter copies, and their delivery.
 *
 * publisher_publish() produces a final job's result event (key = user_id,
 * else the raw message key; headers event_id, status, traceparent) and, for
 * an invalid event with a dead-letter topic configured, a byte-exact copy of
 * its value and key (headers error_class, error, source_topic,
 * source_partition, source_offset). The job is handed back through the done
 * callback once Kafka acknowledged every message of it (acks=all). A message
 * whose delivery failed, or that met a full queue, is produced again: a
 * result is never dropped.
 *
 * A message the cluster refuses as too large is sent once more without
 * what was copied from the input (raw key, traceparent; a result says so in
 * its message), then given up loudly: it never stalls its partition.
 *
 * The publisher owns its producer (configured by kconf_producer(): acks=all,
 * idempotence). Ownership of a job passes to the publisher at
 * publisher_publish() and back at the done callback. Single-threaded: the
 * loop thread (delivery reports are served by publisher_poll()). */
#ifndef ZU_PUBLISHER_H
#define ZU_PUBLISHER_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/log.h"
#include "worker/job.h"

typedef struct publisher publisher_t;

typedef void(publisher_done_cb)(void *ctx, job_t *job);

/* Creates the publisher and its producer. cfg, worker_id and log are
 * borrowed and must outlive the publisher. NULL with errstr on failure (a
 * producer property librdkafka rejects names it). */
publisher_t *publisher_new(const config_t *cfg, const char *worker_id, log_t *log,
                           publisher_done_cb *done, void *ctx, char *errstr, size_t errstr_size);
/* Purges what is not delivered yet and destroys the producer. Jobs not
 * handed back yet are freed, never handed back (even those acknowledged
 * meanwhile): their offsets stay uncommitted. NULL ok. */
void publisher_destroy(publisher_t *p);

/* The producer's queue, for the loop's wake-up (rd_kafka_queue_io_event_enable). */
rd_kafka_queue_t *publisher_queue(publisher_t *p);
/* Serves delivery reports and produces again what is due (publisher_retry). */
void publisher_poll(publisher_t *p);
/* Waits up to timeout_ms for every message to be delivered. */
void publisher_flush(publisher_t *p, int timeout_ms);
/* 1 after a fatal producer error (errstr says). */
int publisher_fatal(publisher_t *p, char *errstr, size_t errstr_size);

/* Publishes a final job (job->status set). Takes ownership. 0 ok; -1 only
 * when memory ran out building the messages (the job is then freed and its
 * offset is never marked done: the event is processed again after restart). */
int publisher_publish(publisher_t *p, job_t *job);

/* Produces again what met a full queue or failed delivery. */
void publisher_retry(publisher_t *p);

/* When the next message waiting to be produced again is due (monotonic
 * microseconds); -1 when none waits. */
int64_t publisher_next_retry_us(const publisher_t *p);

/* Messages produced (or to produce) but not yet acknowledged. */
size_t publisher_pending(const publisher_t *p);

/* The result event of a job as JSON (malloc'ed; NULL on allocation
 * failure). status overrides the job's ("dry_run"), or NULL. */
char *publisher_result_json(const config_t *cfg, const char *worker_id, const job_t *job,
                            const char *status);

/* Worker identity "host/pid" into buf. */
void publisher_worker_id(char *buf, size_t size);

#endif
