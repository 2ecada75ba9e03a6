/* test_publisher.c - the publisher against an in-process librdkafka mock
 * cluster: a result is handed back once acknowledged, and never after
 * publisher_destroy() began (the worker destroys its consumer first, so a
 * late acknowledgement must not reach it). Linked with
 * --wrap=rd_kafka_topic_new: a test can make the topic handles the
 * publisher makes at start fail (out of memory), and results then go by the
 * topic's name. */
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
#include "worker/publisher.h"

/* Set by a test: the next rd_kafka_topic_new() calls fail. */
static int fail_topic_new;

rd_kafka_topic_t *__real_rd_kafka_topic_new(rd_kafka_t *rk, const char *topic,
                                            rd_kafka_topic_conf_t *conf);
rd_kafka_topic_t *__wrap_rd_kafka_topic_new(rd_kafka_t *rk, const char *topic,
                                            rd_kafka_topic_conf_t *conf);
rd_kafka_topic_t *__wrap_rd_kafka_topic_new(rd_kafka_t *rk, const char *topic,
                                            rd_kafka_topic_conf_t *conf)
{
    if (fail_topic_new)
        return NULL;
    return __real_rd_kafka_topic_new(rk, topic, conf);
}

typedef struct done_rec {
    int done;
} done_rec_t;

static void on_done(void *ctx, job_t *job)
{
    ((done_rec_t *)ctx)->done++;
    job_free(job);
}

static job_t *result_job(const char *user, int64_t offset)
{
    job_t *j = job_new();
    if (!j)
        return NULL;
    j->ev.user_id = strdup(user);
    j->ev.event_id = strdup("e-1");
    j->ev.type = strdup("account-deleted");
    j->topic = "in";
    j->offset = offset;
    j->status = JOB_SUCCESS;
    return j;
}

/* Serves nothing; waits (10 s guard) until the producer's queue holds an
 * operation: the acknowledgement, not yet served. */
static int wait_queued(publisher_t *p)
{
    for (int i = 0; i < 1000; i++) {
        if (rd_kafka_queue_length(publisher_queue(p)) > 0)
            return 1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

typedef struct fixture {
    mock_fixture_t m;
    publisher_t *p;
    done_rec_t rec;
} fixture_t;

/* A mock cluster with topic "out" and a publisher on it; producer_x goes
 * into the kafka group. 0 ok (checked). */
static int fixture_open(fixture_t *fx, const char *producer_x)
{
    char err[512] = "";
    fx->p = NULL;
    fx->rec.done = 0;
    if (mock_open(&fx->m, "out", 1, producer_x) != 0)
        return -1;
    fx->p = publisher_new(&fx->m.cfg, "w-1", NULL, on_done, &fx->rec, err, sizeof(err));
    TT_CHECK(fx->p != NULL);
    return fx->p ? 0 : -1;
}

static void fixture_close(fixture_t *fx)
{
    publisher_destroy(fx->p);
    fx->p = NULL;
    mock_close(&fx->m);
}

/* Serves delivery reports until want jobs were handed back (10 s guard). */
static void serve_until(fixture_t *fx, int want)
{
    for (int i = 0; i < 1000 && fx->rec.done < want; i++) {
        publisher_poll(fx->p);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void test_no_done_after_destroy(void)
{
    fixture_t fx;
    if (fixture_open(&fx, "") == 0) {
        /* Acknowledged and served: handed back once. */
        TT_EQ_INT(publisher_publish(fx.p, result_job("u-1", 1)), 0);
        serve_until(&fx, 1);
        TT_EQ_INT(fx.rec.done, 1);
        /* Acknowledged, not served, then destroyed: freed, not handed back. */
        TT_EQ_INT(publisher_publish(fx.p, result_job("u-2", 2)), 0);
        TT_CHECK(wait_queued(fx.p));
        publisher_destroy(fx.p);
        fx.p = NULL;
        TT_EQ_INT(fx.rec.done, 1);
    }
    fixture_close(&fx);
}

/* The producer's queue is full while the cluster is away: the result waits
 * in the backlog, tried again a little later (not at once, every turn), and
 * both results are delivered once the cluster is back. */
static void test_queue_full(void)
{
    fixture_t fx;
    if (fixture_open(&fx, "producer = [ \"queue.buffering.max.messages=1\" ];") == 0) {
        rd_kafka_mock_broker_set_down(fx.m.mc, 1);
        TT_EQ_INT(publisher_publish(fx.p, result_job("u-1", 1)), 0);
        TT_EQ_INT(publisher_publish(fx.p, result_job("u-2", 2)), 0);
        TT_EQ_INT(publisher_pending(fx.p), 2);
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t now_us = (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
        TT_CHECK(publisher_next_retry_us(fx.p) > now_us);
        rd_kafka_mock_broker_set_up(fx.m.mc, 1);
        serve_until(&fx, 2);
        TT_EQ_INT(fx.rec.done, 2);
        TT_EQ_INT(publisher_pending(fx.p), 0);
    }
    fixture_close(&fx);
}

/* The topic's messages in the mock cluster (10 s guard for want). */
static int count_out(fixture_t *fx, int want)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(fx->m.mc), err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "test-publisher", err, sizeof(err));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!c)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "out", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0;
    for (int i = 0; i < 100 && n < want; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err)
            n++;
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

/* The result topic's handle is made at start; when that fails (out of
 * memory), results go by the topic's name and are delivered all the same. */
static void test_topics_by_name(void)
{
    fixture_t fx;
    fail_topic_new = 1;
    int rc = fixture_open(&fx, "");
    fail_topic_new = 0;
    if (rc == 0) {
        TT_EQ_INT(publisher_publish(fx.p, result_job("u-1", 1)), 0);
        TT_EQ_INT(publisher_publish(fx.p, result_job("u-2", 2)), 0);
        serve_until(&fx, 2);
        TT_EQ_INT(fx.rec.done, 2);
        TT_EQ_INT(count_out(&fx, 2), 2);
    }
    fixture_close(&fx);
    /* With the handle: the same. */
    if (fixture_open(&fx, "") == 0) {
        TT_EQ_INT(publisher_publish(fx.p, result_job("u-3", 3)), 0);
        serve_until(&fx, 1);
        TT_EQ_INT(fx.rec.done, 1);
        TT_EQ_INT(count_out(&fx, 1), 1);
    }
    fixture_close(&fx);
}

int main(void)
{
    TT_RUN(test_no_done_after_destroy);
    TT_RUN(test_queue_full);
    TT_RUN(test_topics_by_name);
    TT_DONE();
}
