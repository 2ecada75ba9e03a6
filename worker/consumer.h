/* consumer.h - the Kafka consumer: group membership, cooperative-sticky
 * rebalancing, pause/resume for backpressure, start positions and offset
 * storage.
 *
 * At-least-once: enable.auto.offset.store=false; the loop stores a
 * partition's contiguous watermark (consumer_store) when it advances and
 * librdkafka's auto-commit commits what is stored (also on revoke and
 * close). Every assignment of a partition gets a new generation in the
 * borrowed offsets tracker, so completions from before a revoke are dropped.
 *
 * A revoke (not a loss) is drained before the partitions are given up: they
 * stop fetching and taking events, the events already started on them finish
 * (consumer_tick checks), are committed, and only then unassigned - within
 * revoke_grace_ms, and at once during a systemic pause or the final close.
 *
 * Start positions (--from-*) apply to the first assignment only; with
 * --until-end the first assignment also notes each partition's end offset.
 * The partition share (owned / all input partitions) is reported through the
 * share callback after every assignment change.
 *
 * Single-threaded: the loop thread (callbacks run inside consumer_poll). */
#ifndef ZU_CONSUMER_H
#define ZU_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/log.h"
#include "worker/offsets.h"

typedef enum {
    CONSUMER_START_COMMITTED = 0, /* committed offsets (auto.offset.reset otherwise) */
    CONSUMER_START_BEGINNING,
    CONSUMER_START_END,
    CONSUMER_START_TIMESTAMP,
} consumer_start_t;

typedef struct consumer_opts {
    consumer_start_t start;
    int64_t start_ts_ms; /* CONSUMER_START_TIMESTAMP */
    int until_end;
    int dry_run; /* no offset storage, no commit */
    /* How long a revoke may wait for the revoked partitions' started events
     * (0: give them up at once). */
    int64_t revoke_grace_ms;
    /* Called after every assignment change: owned and total input partitions. */
    void (*share)(void *ctx, int owned, int total);
    /* Called after partitions were given up (their jobs are stale now). */
    void (*revoked)(void *ctx);
    void *ctx;
} consumer_opts_t;

typedef struct consumer consumer_t;

/* Builds the librdkafka configuration (defaults, then kafka.consumer
 * properties; a property librdkafka rejects is an error with its reason),
 * creates the consumer and subscribes. cfg, offsets and log are borrowed.
 * NULL with errstr on failure. */
consumer_t *consumer_new(const config_t *cfg, const consumer_opts_t *opts, offsets_t *offsets,
                         log_t *log, char *errstr, size_t errstr_size);
/* Closes (final commit of stored offsets unless dry run) and destroys. NULL ok. */
void consumer_destroy(consumer_t *c);

rd_kafka_t *consumer_rk(consumer_t *c);
/* The queue the loop waits on (for rd_kafka_queue_io_event_enable). */
rd_kafka_queue_t *consumer_queue(consumer_t *c);

/* Returns the next message (the caller destroys it), or NULL. Serves
 * rebalances; consumes errors itself (logged; end-of-partition noted). */
rd_kafka_message_t *consumer_poll(consumer_t *c);

/* Index of an input topic, -1 when not one. */
int consumer_topic_index(const consumer_t *c, const char *topic);

/* Pauses or resumes every assigned partition (and those assigned later
 * while paused). */
void consumer_pause(consumer_t *c, int pause);
/* Ends a revoke in progress once its partitions' started events are done
 * (or at once with give_up_now, or when the grace expired). Call every turn. */
void consumer_tick(consumer_t *c, int give_up_now);
int consumer_paused(const consumer_t *c);

/* Stores the offset to commit for a partition. */
void consumer_store(consumer_t *c, size_t tidx, int32_t partition, int64_t offset);

/* Partitions assigned now. */
int consumer_assigned(const consumer_t *c);
/* 1 after a fatal consumer error (errstr says). */
int consumer_fatal(consumer_t *c, char *errstr, size_t errstr_size);

/* Calls fn with the lag (high watermark minus the stored watermark, or
 * minus the consumed position when nothing is stored yet) of every assigned
 * partition, from librdkafka's cached watermarks: no network round trip. */
void consumer_lag_foreach(consumer_t *c,
                          void (*fn)(void *ctx, const char *topic, int32_t partition, int64_t lag),
                          void *ctx);

/* Sets the start offset of every partition in parts for a --from-* mode.
 * times: for CONSUMER_START_TIMESTAMP, the answer of offsets_for_times()
 * (same partitions; offset -1 = no message that late: start at the end).
 * Pure (unit-tested). */
void consumer_apply_start(rd_kafka_topic_partition_list_t *parts, consumer_start_t mode,
                          const rd_kafka_topic_partition_list_t *times);

/* The input partitions' total for the rate share: known is the sum of the
 * topics whose partition count the cluster told, unknown_topics how many it
 * did not. With a topic unknown the last total is kept when larger (a
 * smaller total would spend more than the share); never below assigned.
 * Pure (unit-tested). */
int consumer_share_total(int last_total, int known, int unknown_topics, int assigned);

#endif
