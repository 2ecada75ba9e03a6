/* test_outage.c - the "ZIM answers nobody" detector on a hand-moved clock. */
#include "common/outage.h"
#include "tt.h"

static void test_distinct_users(void)
{
    outage_t o;
    outage_init(&o, 5000000);
    TT_EQ_INT(outage_failure(&o, 1, 100), 0);
    TT_EQ_INT(outage_failure(&o, 1, 200), 0); /* the same user again */
    TT_EQ_INT(outage_failure(&o, 2, 300), 0);
    TT_EQ_INT(outage_users(&o), 2);
    TT_EQ_INT(outage_failure(&o, 3, 400), 1); /* a third user */
    /* An answer in between starts over. */
    outage_answer(&o);
    TT_EQ_INT(outage_users(&o), 0);
    TT_EQ_INT(outage_failure(&o, 1, 500), 0);
    TT_EQ_INT(outage_failure(&o, 2, 600), 0);
    outage_answer(&o);
    TT_EQ_INT(outage_failure(&o, 3, 700), 0);
}

static void test_one_user_never(void)
{
    outage_t o;
    outage_init(&o, 5000000);
    for (int64_t t = 0; t < 120000000; t += 250000)
        TT_EQ_INT(outage_failure(&o, 7, t), 0);
}

static void test_time_rule(void)
{
    outage_t o;
    outage_init(&o, 5000000);
    TT_EQ_INT(outage_failure(&o, 1, 1000000), 0);
    TT_EQ_INT(outage_failure(&o, 2, 2000000), 0);
    TT_EQ_INT(outage_failure(&o, 1, 5999999), 0);
    TT_EQ_INT(outage_failure(&o, 2, 6000000), 1); /* two users over 5 s */
    outage_answer(&o);
    TT_EQ_INT(outage_failure(&o, 1, 7000000), 0);
    TT_EQ_INT(outage_failure(&o, 2, 9000000), 0); /* window counts from 7 s */
    TT_EQ_INT(outage_failure(&o, 2, 12000000), 1);
}

int main(void)
{
    TT_RUN(test_distinct_users);
    TT_RUN(test_one_user_never);
    TT_RUN(test_time_rule);
    TT_DONE();
}
