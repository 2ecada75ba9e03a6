/* kquery.c - the consumer's blocking librdkafka queries (see kquery.h). */
#include "worker/kquery.h"

#include <inttypes.h>
#include <stdio.h>

#define KQUERY_OFFSETS_MS 10000

int kquery_partitions(rd_kafka_t *rk, log_t *log, const char *topic, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt)
        return -1;
    log_flush(log);
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

int kquery_times(rd_kafka_t *rk, log_t *log, const rd_kafka_topic_partition_list_t *parts,
                 int64_t ts_ms, rd_kafka_topic_partition_list_t **out, char *errstr,
                 size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err;

    for (int i = 0; i < times->cnt; i++)
        times->elems[i].offset = ts_ms;
    log_flush(log);
    err = rd_kafka_offsets_for_times(rk, times, KQUERY_OFFSETS_MS);
    /* A failed lookup names the partition: starting anywhere else would skip
     * events (at the end) or repeat them (at the start). */
    for (int i = 0; i < times->cnt; i++) {
        const rd_kafka_topic_partition_t *t = &times->elems[i];
        if (err || t->err) {
            snprintf(errstr, errstr_size,
                     "--from-timestamp: looking up the offset of %s [%" PRId32 "] failed: %s",
                     t->topic, t->partition, rd_kafka_err2str(err ? err : t->err));
            rd_kafka_topic_partition_list_destroy(times);
            *out = NULL;
            return -1;
        }
    }
    *out = times;
    return 0;
}

rd_kafka_resp_err_t kquery_end(rd_kafka_t *rk, log_t *log, const char *topic, int32_t partition,
                               int64_t *end)
{
    int64_t lo = 0;
    log_flush(log);
    return rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, end, KQUERY_OFFSETS_MS);
}
