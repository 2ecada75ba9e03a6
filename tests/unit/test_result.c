/* test_result.c - result events as JSON, and the time format. (The
 * worker's real output is validated against schemas/result.schema.json by
 * tests/integration/test_schemas.py.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/fmt.h"
#include "common/result.h"
#include "common/utf8.h"
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

/* ---- the same document built with jansson, for random results ------------------------ */

/* s with each byte that is not valid UTF-8 replaced by U+FFFD, as a jansson
 * string (NULL -> null). */
static json_t *ref_str(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len, i, o = 0;
    uint32_t cp;
    char *fixed;
    json_t *j;

    if (!s)
        return json_null();
    len = strlen(s);
    fixed = malloc(len * 3 + 1);
    if (!fixed)
        return NULL;
    for (i = 0; i < len;) {
        size_t n = utf8_next(p + i, len - i, &cp);
        if (n == 0) {
            memcpy(fixed + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(fixed + o, s + i, n);
            o += n;
            i += n;
        }
    }
    j = json_stringn(fixed, o);
    free(fixed);
    return j;
}

static json_t *ref_time(int64_t ms)
{
    char buf[FMT_TIME_MAX];

    fmt_time_ms(buf, ms);
    return json_string(buf);
}

static char *ref_json(const result_t *r)
{
    json_t *o = json_object(), *src;
    char *out;

    json_object_set_new(o, "schema", json_string(RESULT_SCHEMA));
    json_object_set_new(o, "status", ref_str(r->status));
    json_object_set_new(o, "event_id", ref_str(r->event_id));
    json_object_set_new(o, "event_type", ref_str(r->event_type));
    json_object_set_new(o, "user_id", ref_str(r->user_id));
    json_object_set_new(o, "app_id", json_integer((json_int_t)r->app_id));
    json_object_set_new(o, "delete_type",
                        r->delete_type < 0 ? json_null() : json_integer(r->delete_type));
    json_object_set_new(o, "code", r->has_code ? json_integer((json_int_t)r->code) : json_null());
    json_object_set_new(o, "message", ref_str(r->message));
    json_object_set_new(o, "request_id",
                        ref_str(r->request_id && r->request_id[0] ? r->request_id : NULL));
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "error_class", ref_str(r->error_class));
    if (r->topic) {
        src = json_object();
        json_object_set_new(src, "topic", ref_str(r->topic));
        json_object_set_new(src, "partition", json_integer(r->partition));
        json_object_set_new(src, "offset", json_integer((json_int_t)r->offset));
        json_object_set_new(o, "source", src);
    } else {
        json_object_set_new(o, "source", json_null());
    }
    json_object_set_new(o, "occurred_at", ref_str(r->occurred_at));
    json_object_set_new(o, "received_at", ref_time(r->received_at_ms));
    json_object_set_new(o, "completed_at", ref_time(r->completed_at_ms));
    json_object_set_new(o, "worker", ref_str(r->worker));
    if (r->covered_by)
        json_object_set_new(o, "covered_by", ref_str(r->covered_by));
    if (r->redrive_topic) {
        src = json_object();
        json_object_set_new(src, "topic", ref_str(r->redrive_topic));
        json_object_set_new(src, "partition", json_integer(r->redrive_partition));
        json_object_set_new(src, "offset", json_integer((json_int_t)r->redrive_offset));
        json_object_set_new(o, "redrive_of", src);
    }
    out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return out;
}

static uint64_t rnd_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    return tt_rand(&rnd_state);
}

/* Random text into buf: ASCII, control characters, quotes, backslashes,
 * valid multi-byte UTF-8 and stray bytes; sometimes NULL. */
static const char *rnd_text(char *buf, size_t size)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         " ",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\n",
                                         "\t",
                                         "\b",
                                         "\f",
                                         "\r",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xC3\xA9",
                                         "\xE2\x82\xAC",
                                         "\xF0\x9F\x98\x80",
                                         "\xFF",
                                         "\xC0\xAF",
                                         "\xED\xA0\x80",
                                         "\xE2\x82",
                                         "\x80",
                                         "\xF4\x90\x80\x80",
                                         "\xE2\x80\xA8"};
    size_t n = 0, want = rnd() % 40;

    if (rnd() % 8 == 0)
        return NULL;
    for (size_t i = 0; i < want; i++) {
        const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t l = strlen(p);
        if (n + l + 1 > size)
            break;
        memcpy(buf + n, p, l);
        n += l;
    }
    buf[n] = '\0';
    return buf;
}

/* The hand-written writer and jansson's dump agree byte for byte. */
static void test_same_as_jansson(void)
{
    char t[12][200];
    int64_t ints[] = {0, 1, -1, 42, 2147483647LL, -2147483647LL - 1, INT64_MAX, INT64_MIN};
    int mismatches = 0;

    for (int k = 0; k < 5000; k++) {
        result_t r;
        char *got, *want;

        memset(&r, 0, sizeof(r));
        r.status = rnd_text(t[0], sizeof(t[0]));
        r.event_id = rnd_text(t[1], sizeof(t[1]));
        r.event_type = rnd_text(t[2], sizeof(t[2]));
        r.user_id = rnd_text(t[3], sizeof(t[3]));
        r.app_id = (uint32_t)rnd();
        r.delete_type = (int)(rnd() % 3) - 1;
        r.has_code = (int)(rnd() % 2);
        r.code = ints[rnd() % 8];
        r.message = rnd_text(t[4], sizeof(t[4]));
        r.request_id = rnd_text(t[5], sizeof(t[5]));
        r.attempts = (int)(rnd() % 100);
        r.error_class = rnd_text(t[6], sizeof(t[6]));
        r.occurred_at = rnd_text(t[7], sizeof(t[7]));
        r.topic = rnd_text(t[8], sizeof(t[8]));
        r.partition = (int32_t)rnd();
        r.offset = ints[rnd() % 8];
        r.received_at_ms = (int64_t)(rnd() % 400000000000000ULL) - 100000000000000LL;
        r.completed_at_ms = r.received_at_ms + (int64_t)(rnd() % 100000);
        r.worker = rnd_text(t[9], sizeof(t[9]));
        r.covered_by = rnd_text(t[10], sizeof(t[10]));
        r.redrive_topic = rnd_text(t[11], sizeof(t[11]));
        r.redrive_partition = (int32_t)rnd();
        r.redrive_offset = ints[rnd() % 8];
        got = result_to_json(&r);
        want = ref_json(&r);
        if (!got || !want || strcmp(got, want) != 0) {
            if (mismatches++ < 3)
                fprintf(stderr, "got:  %s\nwant: %s\n", got ? got : "(null)",
                        want ? want : "(null)");
        }
        free(got);
        free(want);
    }
    TT_EQ_INT(mismatches, 0);
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
    TT_RUN(test_same_as_jansson);
    TT_DONE();
}
