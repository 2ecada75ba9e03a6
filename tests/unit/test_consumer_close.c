/* test_consumer_close.c - the consumer's bounded close against an
 * in-process librdkafka mock cluster: messages and end-of-partition events
 * still queued when the worker stops are dropped by the close (serving them
 * as callbacks made librdkafka abort), and the close finishes. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/unit/mock_fixture.h"
#include "tests/unit/tt.h"
#include "worker/consumer.h"

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Produces n messages to topic "in" of the cluster at bootstrap. */
static int produce(const char *bootstrap, int n)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!p)
        return -1;
    for (int i = 0; i < n; i++)
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_VALUE("{}", 2), RD_KAFKA_V_END);
    int left = rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
    rd_kafka_destroy(p);
    return left;
}

static void test_close_with_queued_events(void)
{
    char err[512] = "";
    mock_fixture_t fx;
    if (mock_open(&fx, "in", 1, MOCK_QUICK_CONSUMER) != 0)
        return;
    TT_EQ_INT(produce(rd_kafka_mock_cluster_bootstraps(fx.mc), 20), 0);
    static const char *const topics[] = {"in"};
    consumer_opts_t o = {.topics = topics,
                         .topic_cnt = 1,
                         .max_pending_bytes = 1 << 20,
                         .max_run_ahead = 512,
                         .start = CONSUMER_START_BEGINNING};
    consumer_t *c = consumer_new(&fx.cfg, &o, NULL, err, sizeof(err));
    TT_CHECK(c != NULL);
    if (c) {
        /* One message taken (the assignment served on the way); the rest,
         * and the end-of-partition event, left queued, as at a stop. */
        rd_kafka_message_t *m = NULL;
        for (int i = 0; i < 1000 && !m; i++) {
            m = consumer_poll(c);
            if (!m)
                nap_ms(10);
        }
        TT_CHECK(m != NULL);
        rd_kafka_message_destroy(m);
        for (int i = 0; i < 1000 && rd_kafka_queue_length(consumer_queue(c)) < 19; i++)
            nap_ms(10);
        TT_CHECK(rd_kafka_queue_length(consumer_queue(c)) >= 19);
        TT_EQ_INT(consumer_destroy(c), 0); /* closed, not left running */
    }
    mock_close(&fx);
}

int main(void)
{
    TT_RUN(test_close_with_queued_events);
    TT_DONE();
}
