/* mock_fixture.h - what the Kafka unit tests share: an in-process
 * librdkafka mock cluster with one topic, and a worker configuration loaded
 * for it (input topic "in", result topic "out", and whatever else the test
 * puts in the kafka group: MOCK_QUICK_CONSUMER for the suite's quick group
 * settings).
 *
 * Header-only, for test_consumer_close.c, test_consumer_share.c and
 * test_publisher.c: each includes it once. mock_open() makes both (0 ok; -1
 * after a failed check, with what it made freed); mock_close() frees them. */
#ifndef ZU_MOCK_FIXTURE_H
#define ZU_MOCK_FIXTURE_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/unit/tt.h"

/* The consumer settings of the suite: fast failure detection, and fetches
 * answered within 10 ms. */
#define MOCK_QUICK_CONSUMER                                                                        \
    "consumer = [ \"session.timeout.ms=6000\", \"heartbeat.interval.ms=500\", "                    \
    "\"fetch.wait.max.ms=10\" ];"

typedef struct mock_fixture {
    rd_kafka_t *rk; /* the handle the mock cluster lives in */
    rd_kafka_mock_cluster_t *mc;
    config_t cfg;
} mock_fixture_t;

static void mock_close(mock_fixture_t *fx)
{
    config_free(&fx->cfg);
    if (fx->mc)
        rd_kafka_mock_cluster_destroy(fx->mc);
    if (fx->rk)
        rd_kafka_destroy(fx->rk);
    fx->mc = NULL;
    fx->rk = NULL;
}

/* The cluster with topic (partitions of it); kafka_extra goes into the
 * configuration's kafka group. */
static int mock_open(mock_fixture_t *fx, const char *topic, int partitions, const char *kafka_extra)
{
    char err[512] = "", path[] = "/tmp/zu-test-mock-XXXXXX";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    memset(fx, 0, sizeof(*fx));
    fx->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    fx->mc = fx->rk ? rd_kafka_mock_cluster_new(fx->rk, 1) : NULL;
    TT_CHECK(fx->mc != NULL);
    if (!fx->mc || rd_kafka_mock_topic_create(fx->mc, topic, partitions, 1) != 0)
        goto fail;
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    TT_CHECK(f != NULL);
    if (!f)
        goto fail;
    fprintf(f,
            "kafka: { brokers = \"%s\"; input_topics = [ \"in\" ]; result_topic = \"out\"; %s "
            "};\nzim: { app_id = 1; server_secret = \"s\"; };\n",
            rd_kafka_mock_cluster_bootstraps(fx->mc), kafka_extra);
    fclose(f);
    int loaded = config_load(&fx->cfg, path, err, sizeof(err)) == 0;
    unlink(path);
    TT_CHECK(loaded);
    if (loaded)
        return 0;
fail:
    mock_close(fx);
    return -1;
}

#endif
