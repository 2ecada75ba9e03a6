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
#include "common/fmt.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The JSON text grows in one buffer; an allocation failure is remembered
 * and ends with NULL. Strings are written as jansson's compact dump writes
 * them: '"', '\\' and control characters escaped (\b \f \n \r \t, else
 * \u00XX), everything else as is. */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    int failed;
} jbuf_t;

static int reserve(jbuf_t *b, size_t n)
{
    size_t cap;
    char *p;

    if (b->failed)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 512;
    while (cap < b->len + n + 1)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void put_raw(jbuf_t *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define PUT_LIT(b, lit) put_raw((b), (lit), sizeof(lit) - 1)

/* A JSON string for s (NULL -> null). Bytes that are not valid UTF-8 are
 * each replaced by U+FFFD. */
static void put_str(jbuf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t len, i, run;
    uint32_t cp;

    if (!s) {
        PUT_LIT(b, "null");
        return;
    }
    len = strlen(s);
    /* Worst case: every byte becomes \u00XX (6) or U+FFFD (3). */
    if (reserve(b, len * 6 + 2) != 0)
        return;
    b->p[b->len++] = '"';
    for (i = 0; i < len;) {
        for (run = i;
             run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\'; run++)
            ;
        memcpy(b->p + b->len, s + i, run - i);
        b->len += run - i;
        if ((i = run) >= len)
            break;
        if (p[i] >= 0x80) {
            size_t n = utf8_next(p + i, len - i, &cp);
            if (n == 0) {
                memcpy(b->p + b->len, "\xEF\xBF\xBD", 3);
                b->len += 3;
                i++;
            } else {
                memcpy(b->p + b->len, s + i, n);
                b->len += n;
                i += n;
            }
            continue;
        }
        b->p[b->len++] = '\\';
        switch (p[i]) {
        case '"':
            b->p[b->len++] = '"';
            break;
        case '\\':
            b->p[b->len++] = '\\';
            break;
        case '\b':
            b->p[b->len++] = 'b';
            break;
        case '\f':
            b->p[b->len++] = 'f';
            break;
        case '\n':
            b->p[b->len++] = 'n';
            break;
        case '\r':
            b->p[b->len++] = 'r';
            break;
        case '\t':
            b->p[b->len++] = 't';
            break;
        default:
            memcpy(b->p + b->len, "u00", 3);
            b->len += 3;
            b->p[b->len++] = hex[p[i] >> 4];
            b->p[b->len++] = hex[p[i] & 0x0f];
        }
        i++;
    }
    b->p[b->len++] = '"';
}

static void put_int(jbuf_t *b, int64_t v)
{
    char num[FMT_I64_MAX];

    put_raw(b, num, fmt_i64(num, v));
}

static void put_time(jbuf_t *b, int64_t unix_ms)
{
    char buf[FMT_TIME_MAX + 2];

    buf[0] = '"';
    fmt_time_ms(buf + 1, unix_ms);
    buf[FMT_TIME_MAX] = '"';
    put_raw(b, buf, FMT_TIME_MAX + 1);
}

/* ,"key": */
static void put_key(jbuf_t *b, const char *key)
{
    size_t n = strlen(key);

    if (reserve(b, n + 4) != 0)
        return;
    b->p[b->len++] = ',';
    b->p[b->len++] = '"';
    memcpy(b->p + b->len, key, n);
    b->len += n;
    b->p[b->len++] = '"';
    b->p[b->len++] = ':';
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
    jbuf_t b = {NULL, 0, 0, 0};

    if (!r)
        return NULL;
    PUT_LIT(&b, "{\"schema\":\"" RESULT_SCHEMA "\"");
    put_key(&b, "status");
    put_str(&b, r->status);
    put_key(&b, "event_id");
    put_str(&b, r->event_id);
    put_key(&b, "event_type");
    put_str(&b, r->event_type);
    put_key(&b, "user_id");
    put_str(&b, r->user_id);
    put_key(&b, "app_id");
    put_int(&b, (int64_t)r->app_id);
    put_key(&b, "delete_type");
    if (r->delete_type < 0)
        PUT_LIT(&b, "null");
    else
        put_int(&b, r->delete_type);
    put_key(&b, "code");
    if (r->has_code)
        put_int(&b, (int64_t)r->code);
    else
        PUT_LIT(&b, "null");
    put_key(&b, "message");
    put_str(&b, r->message);
    put_key(&b, "request_id");
    put_str(&b, r->request_id && r->request_id[0] ? r->request_id : NULL);
    put_key(&b, "attempts");
    put_int(&b, r->attempts);
    put_key(&b, "error_class");
    put_str(&b, r->error_class);
    put_key(&b, "source");
    if (r->topic) {
        PUT_LIT(&b, "{\"topic\":");
        put_str(&b, r->topic);
        put_key(&b, "partition");
        put_int(&b, r->partition);
        put_key(&b, "offset");
        put_int(&b, (int64_t)r->offset);
        PUT_LIT(&b, "}");
    } else {
        PUT_LIT(&b, "null"); /* not from Kafka (--once) */
    }
    put_key(&b, "occurred_at");
    put_str(&b, r->occurred_at);
    put_key(&b, "received_at");
    put_time(&b, r->received_at_ms);
    put_key(&b, "completed_at");
    put_time(&b, r->completed_at_ms);
    put_key(&b, "worker");
    put_str(&b, r->worker);
    if (r->covered_by) {
        put_key(&b, "covered_by");
        put_str(&b, r->covered_by);
    }
    if (r->redrive_topic) {
        put_key(&b, "redrive_of");
        PUT_LIT(&b, "{\"topic\":");
        put_str(&b, r->redrive_topic);
        put_key(&b, "partition");
        put_int(&b, r->redrive_partition);
        put_key(&b, "offset");
        put_int(&b, (int64_t)r->redrive_offset);
        PUT_LIT(&b, "}");
    }
    PUT_LIT(&b, "}");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0';
    return b.p;
}

void result_format_time(int64_t unix_ms, char *buf, size_t size)
{
    char t[FMT_TIME_MAX];
    size_t n;

    if (!buf || size == 0)
        return;
    n = fmt_time_ms(t, unix_ms);
    if (n > size - 1)
        n = size - 1;
    memcpy(buf, t, n);
    buf[n] = '\0';
}
