/* test_result.c - result events as JSON, and the time format. (The
 * worker's real output is validated against schemas/result.schema.json by
 * tests/integration/test_schemas.py.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/result.h"
#include "tests/unit/tt.h"

/* 2026-11-25T18:00:00.123Z and .456Z */
#define T_RECV 1795629600123LL
#define T_DONE 1795629600456LL

/* Formats r and compares with want exactly. */
static void expect_json(const char *name, const result_t *r, const char *want)
{
    char *got = result_to_json(r);

    (void)name;
    TT_EQ_STR(got, want);
    free(got);
}

static result_t base(void)
{
    result_t r;

    memset(&r, 0, sizeof(r));
    r.status = "success";
    r.event_id = "e-42";
    r.event_type = "account-deleted";
    r.user_id = "u123";
    r.app_id = 1234567890;
    r.delete_type = 0;
    r.has_code = 1;
    r.code = 0;
    r.message = "success";
    r.request_id = "3423819265932296371";
    r.attempts = 1;
    r.error_class = NULL;
    r.occurred_at = "2026-11-25T17:59:59Z";
    r.topic = "account-events";
    r.partition = 3;
    r.offset = 42;
    r.received_at_ms = T_RECV;
    r.completed_at_ms = T_DONE;
    r.worker = "host-1/4711";
    return r;
}

static void test_success(void)
{
    result_t r = base();

    expect_json(
        "success", &r,
        "{\"schema\":\"zim-unfriend/result/v1\",\"status\":\"success\",\"event_id\":\"e-42\","
        "\"event_type\":\"account-deleted\",\"user_id\":\"u123\",\"app_id\":1234567890,"
        "\"delete_type\":0,\"code\":0,\"message\":\"success\","
        "\"request_id\":\"3423819265932296371\",\"attempts\":1,\"error_class\":null,"
        "\"source\":{\"topic\":\"account-events\",\"partition\":3,\"offset\":42},"
        "\"occurred_at\":\"2026-11-25T17:59:59Z\","
        "\"received_at\":\"2026-11-25T18:00:00.123Z\","
        "\"completed_at\":\"2026-11-25T18:00:00.456Z\",\"worker\":\"host-1/4711\"}");
}

static void test_failure_rejected(void)
{
    result_t r = base();

    r.status = "failure";
    r.delete_type = 1;
    r.code = 660000002;
    r.message = "user \"u123\" does not exist";
    r.attempts = 3;
    r.error_class = "rejected";
    r.occurred_at = NULL;
    r.app_id = 4294967295u;
    r.partition = 2147483647;
    r.offset = 9223372036854775807LL;
    expect_json(
        "failure_rejected", &r,
        "{\"schema\":\"zim-unfriend/result/v1\",\"status\":\"failure\",\"event_id\":\"e-42\","
        "\"event_type\":\"account-deleted\",\"user_id\":\"u123\",\"app_id\":4294967295,"
        "\"delete_type\":1,\"code\":660000002,"
        "\"message\":\"user \\\"u123\\\" does not exist\","
        "\"request_id\":\"3423819265932296371\",\"attempts\":3,"
        "\"error_class\":\"rejected\","
        "\"source\":{\"topic\":\"account-events\",\"partition\":2147483647,"
        "\"offset\":9223372036854775807},\"occurred_at\":null,"
        "\"received_at\":\"2026-11-25T18:00:00.123Z\","
        "\"completed_at\":\"2026-11-25T18:00:00.456Z\",\"worker\":\"host-1/4711\"}");
}

static void test_retries_exhausted(void)
{
    result_t r = base();

    r.status = "failure";
    r.code = -5; /* negative codes pass through */
    r.message = "busy";
    r.request_id = ""; /* "" is null too */
    r.attempts = 8;
    r.error_class = "retries_exhausted";
    expect_json(
        "failure_retries_exhausted", &r,
        "{\"schema\":\"zim-unfriend/result/v1\",\"status\":\"failure\",\"event_id\":\"e-42\","
        "\"event_type\":\"account-deleted\",\"user_id\":\"u123\",\"app_id\":1234567890,"
        "\"delete_type\":0,\"code\":-5,\"message\":\"busy\",\"request_id\":null,"
        "\"attempts\":8,\"error_class\":\"retries_exhausted\","
        "\"source\":{\"topic\":\"account-events\",\"partition\":3,\"offset\":42},"
        "\"occurred_at\":\"2026-11-25T17:59:59Z\","
        "\"received_at\":\"2026-11-25T18:00:00.123Z\","
        "\"completed_at\":\"2026-11-25T18:00:00.456Z\",\"worker\":\"host-1/4711\"}");
}

static void test_invalid_event_nulls(void)
{
    result_t r = base();

    r.status = "failure";
    r.event_id = "account-events/3/42";
    r.event_type = NULL;
    r.user_id = NULL;
    r.delete_type = -1;
    r.has_code = 0;
    r.code = 99; /* ignored without has_code */
    r.message = "user_id: character '/' not allowed";
    r.request_id = NULL;
    r.attempts = 0;
    r.error_class = "invalid_event";
    r.occurred_at = NULL;
    r.completed_at_ms = T_RECV;
    expect_json("invalid_event", &r,
                "{\"schema\":\"zim-unfriend/result/v1\",\"status\":\"failure\","
                "\"event_id\":\"account-events/3/42\",\"event_type\":null,\"user_id\":null,"
                "\"app_id\":1234567890,\"delete_type\":null,\"code\":null,"
                "\"message\":\"user_id: character '/' not allowed\",\"request_id\":null,"
                "\"attempts\":0,\"error_class\":\"invalid_event\","
                "\"source\":{\"topic\":\"account-events\",\"partition\":3,\"offset\":42},"
                "\"occurred_at\":null,\"received_at\":\"2026-11-25T18:00:00.123Z\","
                "\"completed_at\":\"2026-11-25T18:00:00.123Z\",\"worker\":\"host-1/4711\"}");
}

static void test_dry_run(void)
{
    result_t r = base();

    r.status = "dry_run";
    r.delete_type = 1;
    r.has_code = 0;
    r.message = "dry run: DeleteAllFriends not called";
    r.request_id = NULL;
    r.attempts = 0;
    expect_json(
        "dry_run", &r,
        "{\"schema\":\"zim-unfriend/result/v1\",\"status\":\"dry_run\",\"event_id\":\"e-42\","
        "\"event_type\":\"account-deleted\",\"user_id\":\"u123\",\"app_id\":1234567890,"
        "\"delete_type\":1,\"code\":null,"
        "\"message\":\"dry run: DeleteAllFriends not called\",\"request_id\":null,"
        "\"attempts\":0,\"error_class\":null,"
        "\"source\":{\"topic\":\"account-events\",\"partition\":3,\"offset\":42},"
        "\"occurred_at\":\"2026-11-25T17:59:59Z\","
        "\"received_at\":\"2026-11-25T18:00:00.123Z\","
        "\"completed_at\":\"2026-11-25T18:00:00.456Z\",\"worker\":\"host-1/4711\"}");
}

/* A shared call's rider names the event that answered it; a redrive names
 * the failure result it redrives; the error class names round-trip. */
static void test_covered_by_and_redrive_of(void)
{
    result_t r = base();
    r.covered_by = "e-41";
    r.redrive_topic = "zim-unfriend-results";
    r.redrive_partition = 0;
    r.redrive_offset = 7;
    expect_json(
        "covered", &r,
        "{\"schema\":\"zim-unfriend/result/v1\",\"status\":\"success\",\"event_id\":\"e-42\","
        "\"event_type\":\"account-deleted\",\"user_id\":\"u123\",\"app_id\":1234567890,"
        "\"delete_type\":0,\"code\":0,\"message\":\"success\","
        "\"request_id\":\"3423819265932296371\",\"attempts\":1,\"error_class\":null,"
        "\"source\":{\"topic\":\"account-events\",\"partition\":3,\"offset\":42},"
        "\"occurred_at\":\"2026-11-25T17:59:59Z\","
        "\"received_at\":\"2026-11-25T18:00:00.123Z\","
        "\"completed_at\":\"2026-11-25T18:00:00.456Z\",\"worker\":\"host-1/4711\","
        "\"covered_by\":\"e-41\","
        "\"redrive_of\":{\"topic\":\"zim-unfriend-results\",\"partition\":0,\"offset\":7}}");
    for (int e = RESULT_ERR_NONE + 1; e < RESULT_ERR__CNT; e++)
        TT_EQ_INT(result_error_parse(result_error_name((result_error_t)e)), e);
    TT_CHECK(result_error_name(RESULT_ERR_NONE) == NULL);
    TT_CHECK(result_error_name(RESULT_ERR__CNT) == NULL);
    TT_EQ_INT(result_error_parse("systemic"), RESULT_ERR_NONE);
    TT_EQ_INT(result_error_parse(NULL), RESULT_ERR_NONE);
}

static void test_escaping_and_bad_utf8(void)
{
    result_t r = base();
    char *got;

    /* control characters and quotes are escaped; valid UTF-8 stays as is */
    r.message = "line1\nline2\t\"q\" \\ \x01 caf\xC3\xA9 \xF0\x9F\x98\x80";
    /* invalid UTF-8: each bad byte becomes U+FFFD */
    r.event_id = "e\xFF\xC0\xAF-\xED\xA0\x80!\xE2\x82";
    r.worker = "h\x80/1";
    got = result_to_json(&r);
    TT_CHECK(got != NULL);
    if (got) {
        TT_CHECK(strstr(got, "\"message\":\"line1\\nline2\\t\\\"q\\\" \\\\ \\u0001 "
                             "caf\xC3\xA9 \xF0\x9F\x98\x80\"") != NULL);
        TT_CHECK(strstr(got,
                        "\"event_id\":\"e\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD-"
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!\xEF\xBF\xBD\xEF\xBF\xBD\"") != NULL);
        TT_CHECK(strstr(got, "\"worker\":\"h\xEF\xBF\xBD/1\"") != NULL);
    }
    free(got);
}

static void test_all_null(void)
{
    result_t r;

    memset(&r, 0, sizeof(r));
    r.delete_type = -1;
    /* Not a valid result, so not saved. No topic: not from Kafka (--once),
     * "source" is null. */
    expect_json(NULL, &r,
                "{\"schema\":\"zim-unfriend/result/v1\",\"status\":null,\"event_id\":null,"
                "\"event_type\":null,\"user_id\":null,\"app_id\":0,\"delete_type\":null,"
                "\"code\":null,\"message\":null,\"request_id\":null,\"attempts\":0,"
                "\"error_class\":null,\"source\":null,"
                "\"occurred_at\":null,\"received_at\":\"1970-01-01T00:00:00.000Z\","
                "\"completed_at\":\"1970-01-01T00:00:00.000Z\",\"worker\":null}");
    TT_CHECK(result_to_json(NULL) == NULL);
}

static void expect_time(int64_t ms, const char *want)
{
    char buf[32];

    memset(buf, 'x', sizeof(buf));
    result_format_time(ms, buf, sizeof(buf));
    TT_EQ_STR(buf, want);
}

static void test_time(void)
{
    char small[10];

    expect_time(0, "1970-01-01T00:00:00.000Z");
    expect_time(1, "1970-01-01T00:00:00.001Z");
    expect_time(999, "1970-01-01T00:00:00.999Z");
    expect_time(1000, "1970-01-01T00:00:01.000Z");
    expect_time(1999, "1970-01-01T00:00:01.999Z"); /* truncated, never rounded up */
    expect_time(59999, "1970-01-01T00:00:59.999Z");
    expect_time(-1, "1969-12-31T23:59:59.999Z");
    expect_time(-1000, "1969-12-31T23:59:59.000Z");
    expect_time(-1001, "1969-12-31T23:59:58.999Z");
    expect_time(T_RECV, "2026-11-25T18:00:00.123Z");
    expect_time(2147483647000LL, "2038-01-19T03:14:07.000Z");
    expect_time(2147483648999LL, "2038-01-19T03:14:08.999Z");
    expect_time(4102444799999LL, "2099-12-31T23:59:59.999Z");
    expect_time(4107542400000LL, "2100-03-01T00:00:00.000Z"); /* 2100 is no leap year */
    expect_time(951782400000LL, "2000-02-29T00:00:00.000Z");  /* 2000 is one */
    expect_time(253402300799999LL, "9999-12-31T23:59:59.999Z");
    expect_time(253402300800000LL, "9999-12-31T23:59:59.999Z"); /* clamped */
    expect_time(INT64_MAX, "9999-12-31T23:59:59.999Z");
    expect_time(-62167219200000LL, "0000-01-01T00:00:00.000Z");
    expect_time(INT64_MIN, "0000-01-01T00:00:00.000Z");

    /* a short buffer is cut and terminated; a zero size writes nothing */
    result_format_time(0, small, sizeof(small));
    TT_EQ_STR(small, "1970-01-0");
    small[0] = 'z';
    result_format_time(0, small, 0);
    TT_EQ_INT(small[0], 'z');
    result_format_time(0, NULL, 10);
}

int main(void)
{
    TT_RUN(test_success);
    TT_RUN(test_failure_rejected);
    TT_RUN(test_retries_exhausted);
    TT_RUN(test_invalid_event_nulls);
    TT_RUN(test_dry_run);
    TT_RUN(test_covered_by_and_redrive_of);
    TT_RUN(test_escaping_and_bad_utf8);
    TT_RUN(test_all_null);
    TT_RUN(test_time);
    TT_DONE();
}
