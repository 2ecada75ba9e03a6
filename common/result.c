/* result.c - result events (docs/contract.md, "Result events") as compact JSON.
 *
 * The members come out in the order of the example in docs/contract.md, with
 * "occurred_at" (copied from the input event) placed between "source" and
 * "received_at" so the three times sit together:
 *   schema status event_id event_type user_id app_id delete_type code
 *   message request_id attempts error_class source occurred_at received_at
 *   completed_at worker
 * schemas/result.schema.json documents the same. */
#include "common/result.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* RFC 3339 needs a four-digit year: 0000-01-01 .. 9999-12-31T23:59:59.999. */
#define TIME_MIN_MS (-62167219200000LL)
#define TIME_MAX_MS (253402300799999LL)

/* A JSON string for s (NULL -> null). Bytes that are not valid UTF-8 are
 * each replaced by U+FFFD. NULL only on allocation failure. */
static json_t *jstr(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len, i, o = 0;
    uint32_t cp;
    char *fixed;
    json_t *j;

    if (!s)
        return json_null();
    len = strlen(s);
    for (i = 0; i < len;) {
        size_t n = utf8_next(p + i, len - i, &cp);
        if (n == 0)
            break;
        i += n;
    }
    if (i == len)
        return json_stringn(s, len);

    fixed = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes */
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

static json_t *jtime(int64_t unix_ms)
{
    char buf[32];

    result_format_time(unix_ms, buf, sizeof(buf));
    return json_string(buf);
}

/* Sets obj[key] = v (stolen); counts a failure when v is NULL or set fails. */
static void put(json_t *obj, const char *key, json_t *v, int *failed)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        *failed = 1;
}

static const char *const error_names[RESULT_ERR__CNT] = {
    [RESULT_ERR_NONE] = NULL,
    [RESULT_ERR_INVALID_EVENT] = "invalid_event",
    [RESULT_ERR_REJECTED] = "rejected",
    [RESULT_ERR_RETRIES_EXHAUSTED] = "retries_exhausted",
};

const char *result_error_name(result_error_t e)
{
    return (unsigned)e < RESULT_ERR__CNT ? error_names[e] : NULL;
}

result_error_t result_error_parse(const char *s)
{
    for (int i = 1; s && i < RESULT_ERR__CNT; i++)
        if (strcmp(s, error_names[i]) == 0)
            return (result_error_t)i;
    return RESULT_ERR_NONE;
}

char *result_to_json(const result_t *r)
{
    json_t *o, *src;
    char *out = NULL;
    int failed = 0;

    if (!r)
        return NULL;
    o = json_object();
    src = json_object();
    if (!o || !src) {
        json_decref(src);
        goto out;
    }
    put(o, "schema", json_string(RESULT_SCHEMA), &failed);
    put(o, "status", jstr(r->status), &failed);
    put(o, "event_id", jstr(r->event_id), &failed);
    put(o, "event_type", jstr(r->event_type), &failed);
    put(o, "user_id", jstr(r->user_id), &failed);
    put(o, "app_id", json_integer((json_int_t)r->app_id), &failed);
    put(o, "delete_type", r->delete_type < 0 ? json_null() : json_integer(r->delete_type), &failed);
    put(o, "code", r->has_code ? json_integer((json_int_t)r->code) : json_null(), &failed);
    put(o, "message", jstr(r->message), &failed);
    put(o, "request_id", jstr(r->request_id && r->request_id[0] ? r->request_id : NULL), &failed);
    put(o, "attempts", json_integer(r->attempts), &failed);
    put(o, "error_class", jstr(r->error_class), &failed);
    if (r->topic) {
        put(src, "topic", jstr(r->topic), &failed);
        put(src, "partition", json_integer(r->partition), &failed);
        put(src, "offset", json_integer((json_int_t)r->offset), &failed);
        put(o, "source", src, &failed);
    } else {
        /* Not from Kafka (--once). */
        json_decref(src);
        put(o, "source", json_null(), &failed);
    }
    put(o, "occurred_at", jstr(r->occurred_at), &failed);
    put(o, "received_at", jtime(r->received_at_ms), &failed);
    put(o, "completed_at", jtime(r->completed_at_ms), &failed);
    put(o, "worker", jstr(r->worker), &failed);
    if (r->covered_by)
        put(o, "covered_by", jstr(r->covered_by), &failed);
    if (r->redrive_topic) {
        json_t *rd = json_object();
        if (!rd) {
            failed = 1;
        } else {
            put(rd, "topic", jstr(r->redrive_topic), &failed);
            put(rd, "partition", json_integer(r->redrive_partition), &failed);
            put(rd, "offset", json_integer((json_int_t)r->redrive_offset), &failed);
            put(o, "redrive_of", rd, &failed);
        }
    }
    if (!failed)
        out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(o);
    return out;
}

void result_format_time(int64_t unix_ms, char *buf, size_t size)
{
    int64_t secs, ms;
    time_t t;
    struct tm tm;

    if (!buf || size == 0)
        return;
    if (unix_ms < TIME_MIN_MS)
        unix_ms = TIME_MIN_MS;
    if (unix_ms > TIME_MAX_MS)
        unix_ms = TIME_MAX_MS;
    secs = unix_ms / 1000;
    ms = unix_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    t = (time_t)secs;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}
