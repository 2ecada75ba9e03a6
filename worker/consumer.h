/* consumer.h - the Kafka consumer: group membership, cooperative-sticky
 * rebalancing, per-partition backpressure, start positions and offset
 * storage.
 *
 * The consumer owns the offsets tracker and is its one writer: intake
 * reports received and finished events through consumer_received() and
 * consumer_done(), and asks consumer_gate() before an event starts.
 *
 * At-least-once: enable.auto.offset.store=false; a partition's contiguous
 * watermark is stored when it advances and librdkafka's auto-commit commits
 * what is stored (also on revoke and close). Every assignment of a partition
 * gets a new generation, so completions from before a revoke are dropped.
 *
 * Backpressure is per partition: one that holds more than its share of
 * worker.max_pending_bytes, or runs worker.max_run_ahead offsets ahead of
 * its oldest unfinished event, stops fetching until it is below half of
 * both; the other partitions keep flowing. consumer_pause() pauses all
 * (clean stop, pauses of the API).
 *
 * A revoke (not a loss) is drained before the partitions are given up: they
 * stop fetching and taking events, the events already started on them finish
 * (consumer_tick checks), are committed, and only then unassigned - within
 * revoke_grace_ms, and at once during a systemic pause or the final close.
 *
 * Start positions (--from-*) apply to the first assignment only; with
 * --until-end the first assignment also notes each partition's end offset.
 * A failed lookup by time is a start-up error (consumer_fatal): the worker
 * never starts silently elsewhere.
 * The partition share (owned / all input partitions) is reported through the
 * share callback after every assignment change, and again when a partition
 * count unknown then is learned (consumer_tick asks again, backing off).
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

typedef enum {
    CONSUMER_GATE_START = 0, /* may start now (noted as started) */
    CONSUMER_GATE_HOLD,      /* beyond a stop or revoke cut: not now */
    CONSUMER_GATE_DROP,      /* its partition was given up */
} consumer_gate_t;

typedef struct consumer_opts {
    const char *const *topics; /* topics read (borrowed), addressed by index */
    size_t topic_cnt;
    size_t max_pending_bytes; /* worker.max_pending_bytes, shared by the partitions */
    int64_t max_run_ahead;    /* worker.max_run_ahead */
    consumer_start_t start;
    int64_t start_ts_ms; /* CONSUMER_START_TIMESTAMP */
    int until_end;
    int dry_run; /* no offset storage, no commit */
    /* How long a revoke may wait for the revoked partitions' started events
     * (0: give them up at once). */
    int64_t revoke_grace_ms;
    /* Called after every assignment change: owned and total input
     * partitions, and the owned ones' global numbers (topics in order,
     * partitions ascending; NULL when a topic's partition count is unknown). */
    void (*share)(void *ctx, int owned, int total, const int *owned_idx, size_t owned_cnt);
    /* Called after partitions were given up (their jobs are stale now). */
    void (*revoked)(void *ctx);
    void *ctx;
} consumer_opts_t;

typedef struct consumer consumer_t;

/* Builds the librdkafka configuration (defaults, then kafka.consumer
 * properties; a property librdkafka rejects is an error with its reason),
 * creates the consumer and its offsets tracker and subscribes to
 * opts->topics. cfg and log are borrowed. NULL with errstr on failure. */
consumer_t *consumer_new(const config_t *cfg, const consumer_opts_t *opts, log_t *log, char *errstr,
                         size_t errstr_size);
/* Closes (final commit of stored offsets unless dry run) and destroys. NULL
 * ok. Returns 1 when the librdkafka handle is left to the process's end,
 * with c and the log its threads may still write to, and the process must
 * end with _exit, not wait for it: when the group coordinator did not
 * answer the close in time (destroying it would wait for the unanswered
 * commits, up to socket.timeout.ms), or when the consumer never had an
 * assignment (librdkafka 2.0.2 aborts destroying such a group member; it
 * holds nothing to commit). Else 0. */
int consumer_destroy(consumer_t *c);

rd_kafka_t *consumer_rk(consumer_t *c);
/* The queue the loop waits on (for rd_kafka_queue_io_event_enable). */
rd_kafka_queue_t *consumer_queue(consumer_t *c);

/* Returns the next message (the caller destroys it), or NULL. Serves
 * rebalances; consumes errors itself (logged; end-of-partition noted). */
rd_kafka_message_t *consumer_poll(consumer_t *c);

/* Index of a topic read, -1 when not one. */
int consumer_topic_index(const consumer_t *c, const char *topic);
/* The topic of an index (borrowed from the options); NULL when none. */
const char *consumer_topic_name(const consumer_t *c, size_t tidx);

/* Pauses or resumes every assigned partition (and those assigned later
 * while paused); a resume leaves partitions held by backpressure paused. */
void consumer_pause(consumer_t *c, int pause);

/* The generation the partition is assigned under; 0 when not assigned. */
uint64_t consumer_gen(const consumer_t *c, size_t tidx, int32_t partition);
/* An event was received that holds bytes until done. -1 when the partition
 * is not assigned under gen (or draining), or the offset is not new; -2
 * when memory ran out (the offset is held back: offsets_hold_back). */
int consumer_received(consumer_t *c, size_t tidx, int32_t partition, uint64_t gen, int64_t offset,
                      size_t bytes);
/* An event of ours was dropped untracked (memory ran out): see
 * offsets_hold_back. */
void consumer_hold_back(consumer_t *c, size_t tidx, int32_t partition, uint64_t gen,
                        int64_t offset);
/* The event is finished (result acknowledged, or ignored): its bytes are
 * released and the partition's watermark stored when it advanced. Late
 * completions of a revoked assignment are ignored. */
void consumer_done(consumer_t *c, size_t tidx, int32_t partition, uint64_t gen, int64_t offset,
                   size_t bytes);
/* 1 when the event lies within its partition's stop or drain cut: the
 * stop or drain waits for it (offsets_needed). */
int consumer_needed(const consumer_t *c, size_t tidx, int32_t partition, uint64_t gen,
                    int64_t offset);
/* Asked before an event's call starts; START notes it as started. */
consumer_gate_t consumer_gate(consumer_t *c, size_t tidx, int32_t partition, uint64_t gen,
                              int64_t offset);
/* 1 when an event at offset may start now: no stop or drain, or it lies
 * within the cut (what consumer_gate would not hold; nothing is noted). */
int consumer_may_start(const consumer_t *c, size_t tidx, int32_t partition, int64_t offset);
/* Notes an event as started without a gate (a result about to be published). */
void consumer_touch(consumer_t *c, size_t tidx, int32_t partition, int64_t offset);
/* Clean stop: fixes every partition's cut (see offsets.h). */
void consumer_stop_begin(consumer_t *c);
/* The tracker, for queries (pending, drained, ends, position). */
const offsets_t *consumer_offsets(const consumer_t *c);
/* Ends a revoke in progress once its partitions' started events are done
 * (or at once with give_up_now, or when the grace expired), and asks for an
 * unknown partition count again when that is due. Call after events
 * complete and at consumer_deadline_us(). */
void consumer_tick(consumer_t *c, int give_up_now);
int consumer_paused(const consumer_t *c);
/* When consumer_tick() must run at the latest (a revoke's grace, the next
 * ask for an unknown partition count), in monotonic microseconds; -1 when
 * nothing waits for time. */
int64_t consumer_deadline_us(const consumer_t *c);

/* Partitions assigned now. */
int consumer_assigned(const consumer_t *c);
/* 1 after a fatal consumer error or a start-up error found at the first
 * assignment (errstr says). */
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
