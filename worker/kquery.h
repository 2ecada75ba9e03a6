/* kquery.h - the consumer's blocking librdkafka queries: a topic's
 * partition count, the offsets for a time, a partition's end.
 *
 * Each waits for the cluster with a bound, and each first writes the log
 * lines the loop holds (log_flush), so they are out while it waits. They
 * run on the loop's thread, from a rebalance or a turn. */
#ifndef ZU_KQUERY_H
#define ZU_KQUERY_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/log.h"

/* The partitions of topic from the cluster's metadata (waits up to
 * timeout_ms); -1 when unknown. */
int kquery_partitions(rd_kafka_t *rk, log_t *log, const char *topic, int timeout_ms);

/* For each of parts, the offset of the first message at or after ts_ms
 * (waits up to 10 s): *out, a copy of parts (the caller destroys it). 0 ok;
 * -1 with errstr naming the first partition whose lookup failed (*out NULL). */
int kquery_times(rd_kafka_t *rk, log_t *log, const rd_kafka_topic_partition_list_t *parts,
                 int64_t ts_ms, rd_kafka_topic_partition_list_t **out, char *errstr,
                 size_t errstr_size);

/* The end (high watermark) of topic [partition] into *end (waits up to
 * 10 s). Returns librdkafka's error, 0 ok. */
rd_kafka_resp_err_t kquery_end(rd_kafka_t *rk, log_t *log, const char *topic, int32_t partition,
                               int64_t *end);

#endif
