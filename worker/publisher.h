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
 * The producer is borrowed; its configuration gets the publisher's delivery
 * report callback from publisher_conf(). Ownership of a job passes to
 * the publisher at publisher_publish() and back at the done callback.
 * Single-threaded: the loop thread (delivery reports are served by its
 * rd_kafka_poll()). */
#ifndef ZU_PUBLISHER_H
#define ZU_PUBLISHER_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/log.h"
#include "worker/job.h"

typedef struct publisher publisher_t;

typedef void(publisher_done_cb)(void *ctx, job_t *job);

/* cfg, worker_id and log are borrowed and must outlive the publisher. */
publisher_t *publisher_new(const config_t *cfg, const char *worker_id, log_t *log,
                           publisher_done_cb *done, void *ctx, char *errstr, size_t errstr_size);
/* Frees messages not yet delivered and their jobs. NULL ok. */
void publisher_destroy(publisher_t *p);

/* Installs the delivery-report callback into a producer configuration. */
void publisher_conf(publisher_t *p, rd_kafka_conf_t *conf);
/* Lends the producer created from that configuration. */
void publisher_set_producer(publisher_t *p, rd_kafka_t *producer);

/* Publishes a final job (job->status set). Takes ownership. 0 ok; -1 only
 * when memory ran out building the messages (the job is then freed and its
 * offset is never marked done: the event is processed again after restart). */
int publisher_publish(publisher_t *p, job_t *job);

/* Produces again what met a full queue or failed delivery. */
void publisher_retry(publisher_t *p);

/* Messages produced (or to produce) but not yet acknowledged. */
size_t publisher_pending(const publisher_t *p);

/* The result event of a job as JSON (malloc'ed; NULL on allocation
 * failure). status overrides the job's ("dry_run"), or NULL. */
char *publisher_result_json(const config_t *cfg, const char *worker_id, const job_t *job,
                            const char *status);

/* Worker identity "host/pid" into buf. */
void publisher_worker_id(char *buf, size_t size);

#endif
