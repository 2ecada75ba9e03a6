/* test_intake.c - intake's pure rules: which traceparent headers are passed
 * on, and the bytes a job holds against worker.max_pending_bytes. */
#include <stdlib.h>
#include <string.h>

#include "tt.h"
#include "worker/intake.h"

static int tp(const char *s)
{
    return intake_traceparent_valid(s, strlen(s));
}

static void test_traceparent(void)
{
    TT_EQ_INT(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 1);
    TT_EQ_INT(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), 1);
    /* Version 00 is exactly 55 bytes. */
    TT_EQ_INT(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"), 0);
    /* Later versions may append "-" fields, up to 512 bytes. */
    TT_EQ_INT(tp("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"), 1);
    TT_EQ_INT(tp("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 1);
    TT_EQ_INT(tp("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"), 0);
    TT_EQ_INT(tp("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 0);
    TT_EQ_INT(tp("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), 0); /* lowercase */
    TT_EQ_INT(tp("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"), 0);  /* short id */
    TT_EQ_INT(tp("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 0);
    TT_EQ_INT(tp("00-\tbad\x7f-01"), 0);
    TT_EQ_INT(tp(""), 0);
    TT_EQ_INT(intake_traceparent_valid(NULL, 55), 0);
    char big[600];
    memset(big, 'a', sizeof(big));
    memcpy(big, "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", 56);
    TT_EQ_INT(intake_traceparent_valid(big, 512), 1);
    TT_EQ_INT(intake_traceparent_valid(big, 513), 0);
    /* Embedded NUL: not hex. */
    TT_EQ_INT(
        intake_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0", 55),
        0);
}

static void test_job_bytes(void)
{
    job_t *j = job_new();
    size_t base = intake_job_bytes(j);
    TT_EQ_INT(base, sizeof(job_t));
    j->ev.user_id = strdup("u1");   /* 3 */
    j->ev.event_id = strdup("e-1"); /* 4 */
    j->key = malloc(300000);
    j->key_len = 300000;
    j->value = malloc(1000);
    j->value_len = 1000;
    j->traceparent = strdup("x"); /* 2 */
    TT_EQ_INT(intake_job_bytes(j), base + 3 + 4 + 300000 + 1000 + 2);
    job_free(j);
}

int main(void)
{
    TT_RUN(test_traceparent);
    TT_RUN(test_job_bytes);
    TT_DONE();
}
