/* test_consumer_share.c - the rate share while an input topic's partition
 * count is unknown, against an in-process librdkafka mock cluster. The
 * count lookup (kquery_partitions) is wrapped (--wrap) to fail as a cluster
 * that does not answer metadata requests would: the share then rests on the
 * assigned partitions, and the count is asked again 1 s later, then 2 s,
 * until it is known; then the share gets every partition's global number
 * (the slot grid) and no further ask is scheduled. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "tests/unit/mock_fixture.h"
#include "tests/unit/tt.h"
#include "worker/consumer.h"
#include "worker/kquery.h"

/* The lookup, failed for the first fails_left asks. */
static int fails_left, asks, last_wait_ms;
static int64_t last_ask_end_us;

int __real_kquery_partitions(rd_kafka_t *rk, log_t *log, const char *topic, int timeout_ms);
int __wrap_kquery_partitions(rd_kafka_t *rk, log_t *log, const char *topic, int timeout_ms);
int __wrap_kquery_partitions(rd_kafka_t *rk, log_t *log, const char *topic, int timeout_ms)
{
    int n = -1;
    asks++;
    last_wait_ms = timeout_ms;
    if (fails_left > 0)
        fails_left--;
    else
        n = __real_kquery_partitions(rk, log, topic, timeout_ms);
    last_ask_end_us = clock_mono_us();
    return n;
}

/* What the share callback was last given. */
typedef struct shares {
    int calls, owned, total, grid;
    size_t grid_cnt;
    int64_t at_us;
} shares_t;

static void on_share(void *ctx, int owned, int total, const int *owned_idx, size_t owned_cnt)
{
    shares_t *s = ctx;
    s->calls++;
    s->owned = owned;
    s->total = total;
    s->grid = owned_idx != NULL;
    s->grid_cnt = owned_cnt;
    s->at_us = clock_mono_us();
}

static void nap_until(int64_t mono_us)
{
    int64_t left;
    while ((left = mono_us - clock_mono_us()) > 0) {
        struct timespec ts = {left / 1000000, (left % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The next ask is due delay_ms after the last one ended (scheduled between
 * that end and the share callback that followed it). */
static void check_next_ask(const consumer_t *c, const shares_t *s, int64_t delay_ms)
{
    int64_t due = consumer_deadline_us(c);
    TT_CHECK(due >= last_ask_end_us + delay_ms * 1000);
    TT_CHECK(due <= s->at_us + delay_ms * 1000);
}

static void test_count_asked_again_until_known(void)
{
    char err[512] = "";
    shares_t s = {0};
    mock_fixture_t fx;
    if (mock_open(&fx, "in", 4, MOCK_QUICK_CONSUMER) != 0)
        return;
    static const char *const topics[] = {"in"};
    consumer_opts_t o = {.topics = topics,
                         .topic_cnt = 1,
                         .max_pending_bytes = 1 << 20,
                         .max_run_ahead = 512,
                         .start = CONSUMER_START_BEGINNING,
                         .share = on_share,
                         .ctx = &s};
    fails_left = 2;
    consumer_t *c = consumer_new(&fx.cfg, &o, NULL, err, sizeof(err));
    TT_CHECK(c != NULL);
    if (c) {
        for (int i = 0; i < 3000 && s.calls == 0; i++) {
            rd_kafka_message_t *m = consumer_poll(c);
            if (m)
                rd_kafka_message_destroy(m);
            else
                nap_until(clock_mono_us() + 10000);
        }
        /* Assigned, count unknown: the assigned partitions are the whole,
         * with no grid; asked with the assignment's 5 s wait. */
        TT_EQ_INT(s.calls, 1);
        TT_EQ_INT(s.owned, 4);
        TT_EQ_INT(s.total, 4);
        TT_EQ_INT(s.grid, 0);
        TT_EQ_INT(asks, 1);
        TT_EQ_INT(last_wait_ms, 5000);
        check_next_ask(c, &s, 1000);
        consumer_tick(c, 0); /* not due yet: no ask */
        TT_EQ_INT(asks, 1);

        /* The second ask (1 s wait) fails too: the next is 2 s later. */
        nap_until(consumer_deadline_us(c));
        consumer_tick(c, 0);
        TT_EQ_INT(asks, 2);
        TT_EQ_INT(last_wait_ms, 1000);
        TT_EQ_INT(s.calls, 2);
        TT_EQ_INT(s.grid, 0);
        check_next_ask(c, &s, 2000);

        /* The third is answered: the share has every partition's number,
         * and nothing more is asked. */
        nap_until(consumer_deadline_us(c));
        consumer_tick(c, 0);
        TT_EQ_INT(asks, 3);
        TT_EQ_INT(s.calls, 3);
        TT_EQ_INT(s.total, 4);
        TT_EQ_INT(s.grid, 1);
        TT_EQ_INT((int)s.grid_cnt, 4);
        TT_EQ_INT(consumer_deadline_us(c), -1);
        consumer_tick(c, 0);
        TT_EQ_INT(asks, 3);
        TT_EQ_INT(consumer_destroy(c), 0);
    }
    mock_close(&fx);
}

int main(void)
{
    TT_RUN(test_count_asked_again_until_known);
    TT_DONE();
}
