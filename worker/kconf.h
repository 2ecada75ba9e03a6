/* kconf.h - librdkafka configurations for the consumer and the producer.
 *
 * Each starts from the worker's defaults (at-least-once settings that the
 * guarantees depend on), then applies kafka.consumer / kafka.producer
 * "name=value" properties; a property librdkafka rejects is a configuration
 * error carrying librdkafka's reason. The settings the guarantees rest on
 * (enable.auto.offset.store=false, acks=all, idempotence) are applied after
 * the user's and cannot be overridden.
 *
 * Both clients get kconf_ctx_t as their opaque: librdkafka's log lines and
 * errors go to our log, and `owner` leads back to the module (consumer or
 * publisher) that created the client. */
#ifndef ZU_KCONF_H
#define ZU_KCONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/log.h"

typedef struct kconf_ctx {
    log_t *log;
    void *owner;
} kconf_ctx_t;

/* NULL with errstr ("kafka.consumer: fetch.wait.max.ms=x: <reason>"). The
 * returned conf has ctx as opaque (ctx must outlive the client; may be NULL
 * for a validation-only build). */
rd_kafka_conf_t *kconf_consumer(const config_t *cfg, int dry_run, kconf_ctx_t *ctx, char *errstr,
                                size_t errstr_size);
rd_kafka_conf_t *kconf_producer(const config_t *cfg, kconf_ctx_t *ctx, char *errstr,
                                size_t errstr_size);

/* Validates both property lists without creating clients (--check-config). */
int kconf_validate(const config_t *cfg, char *errstr, size_t errstr_size);

#endif
