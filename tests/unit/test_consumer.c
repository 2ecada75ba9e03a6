/* test_consumer.c - the consumer's pure rules: how the --from-* modes set
 * start offsets, the input partitions' total for the rate share, and the
 * commit settings of its librdkafka configuration. */
#include "worker/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/kconf.h"
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

/* The consumer's configuration from a config file holding `consumer_x` in
 * its kafka group; NULL (checked) on failure. */
static rd_kafka_conf_t *consumer_conf(const char *consumer_x, int dry_run)
{
    char path[] = "/tmp/zu-test-consumer-XXXXXX", err[512] = "";
    config_t cfg;
    rd_kafka_conf_t *conf = NULL;
    int fd = mkstemp(path);
    TT_CHECK(fd >= 0);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        return NULL;
    fprintf(f,
            "kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; %s };\n"
            "zim: { app_id = 1; server_secret = \"s\"; };\n",
            consumer_x);
    fclose(f);
    if (config_load(&cfg, path, err, sizeof(err)) == 0) {
        conf = kconf_consumer(&cfg, dry_run, NULL, err, sizeof(err));
        config_free(&cfg);
    }
    unlink(path);
    TT_CHECK(conf != NULL);
    return conf;
}

static int conf_is(const rd_kafka_conf_t *conf, const char *name, const char *want)
{
    char buf[64];
    size_t len = sizeof(buf);
    return rd_kafka_conf_get(conf, name, buf, &len) == RD_KAFKA_CONF_OK && strcmp(buf, want) == 0;
}

/* What at-least-once rests on, whatever kafka.consumer says: offsets are
 * stored only by the worker, and committed by librdkafka's auto-commit
 * (versioned by the group generation, so a commit from before a rebalance
 * is dropped rather than failing the assignment) every second unless the
 * user sets the interval; a dry run never commits. */
static void test_commit_settings(void)
{
    rd_kafka_conf_t *conf = consumer_conf("", 0);
    if (conf) {
        TT_CHECK(conf_is(conf, "enable.auto.commit", "true"));
        TT_CHECK(conf_is(conf, "enable.auto.offset.store", "false"));
        TT_CHECK(conf_is(conf, "auto.commit.interval.ms", "1000"));
        rd_kafka_conf_destroy(conf);
    }
    conf = consumer_conf("consumer = [ \"enable.auto.offset.store=true\", "
                         "\"auto.commit.interval.ms=200\" ];",
                         0);
    if (conf) {
        TT_CHECK(conf_is(conf, "enable.auto.offset.store", "false"));
        TT_CHECK(conf_is(conf, "auto.commit.interval.ms", "200"));
        rd_kafka_conf_destroy(conf);
    }
    conf = consumer_conf("", 1);
    if (conf) {
        TT_CHECK(conf_is(conf, "enable.auto.commit", "false"));
        rd_kafka_conf_destroy(conf);
    }
}

int main(void)
{
    TT_RUN(test_share_total);
    TT_RUN(test_apply_start);
    TT_RUN(test_commit_settings);
    TT_DONE();
}
