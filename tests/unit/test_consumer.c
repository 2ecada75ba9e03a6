/* test_consumer.c - the consumer's pure rules: how the --from-* modes set
 * start offsets, and the input partitions' total for the rate share. */
#include "worker/consumer.h"

#include "tests/unit/tt.h"

static void test_share_total(void)
{
    TT_EQ_INT(consumer_share_total(0, 12, 0, 4), 12);  /* first assignment, all known */
    TT_EQ_INT(consumer_share_total(12, 16, 0, 4), 16); /* a topic grew */
    /* Topic b (6 of 12) unknown at a rebalance: keep 12, never 6 (double spend). */
    TT_EQ_INT(consumer_share_total(12, 6, 1, 3), 12);
    TT_EQ_INT(consumer_share_total(12, 14, 1, 3), 14); /* what is known grew past it */
    /* Nothing known yet: at least what this replica owns. */
    TT_EQ_INT(consumer_share_total(0, 0, 2, 3), 3);
    TT_EQ_INT(consumer_share_total(0, 6, 1, 2), 6);
    TT_EQ_INT(consumer_share_total(5, 4, 0, 6), 6); /* stale metadata below assigned */
}

static void test_apply_start(void)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
    rd_kafka_topic_partition_list_add(parts, "a", 0)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_topic_partition_list_add(parts, "a", 1)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_topic_partition_list_add(parts, "b", 0)->offset = RD_KAFKA_OFFSET_INVALID;

    consumer_apply_start(parts, CONSUMER_START_COMMITTED, NULL);
    TT_EQ_INT(parts->elems[0].offset, RD_KAFKA_OFFSET_INVALID);
    consumer_apply_start(parts, CONSUMER_START_BEGINNING, NULL);
    for (int i = 0; i < 3; i++)
        TT_EQ_INT(parts->elems[i].offset, RD_KAFKA_OFFSET_BEGINNING);
    consumer_apply_start(parts, CONSUMER_START_END, NULL);
    for (int i = 0; i < 3; i++)
        TT_EQ_INT(parts->elems[i].offset, RD_KAFKA_OFFSET_END);

    /* offsets_for_times answers: found, none that late (-1), an error, and
     * a partition missing from the answer. */
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(3);
    rd_kafka_topic_partition_list_add(times, "a", 0)->offset = 42;
    rd_kafka_topic_partition_list_add(times, "a", 1)->offset = -1;
    consumer_apply_start(parts, CONSUMER_START_TIMESTAMP, times);
    TT_EQ_INT(parts->elems[0].offset, 42);
    TT_EQ_INT(parts->elems[1].offset, RD_KAFKA_OFFSET_END);
    TT_EQ_INT(parts->elems[2].offset, RD_KAFKA_OFFSET_END);
    times->elems[0].err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    consumer_apply_start(parts, CONSUMER_START_TIMESTAMP, times);
    TT_EQ_INT(parts->elems[0].offset, RD_KAFKA_OFFSET_END);
    consumer_apply_start(parts, CONSUMER_START_TIMESTAMP, NULL);
    TT_EQ_INT(parts->elems[0].offset, RD_KAFKA_OFFSET_END);
    rd_kafka_topic_partition_list_destroy(times);
    rd_kafka_topic_partition_list_destroy(parts);
}

int main(void)
{
    TT_RUN(test_share_total);
    TT_RUN(test_apply_start);
    TT_DONE();
}
