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
#include <stdlib.h>
#include <string.h>

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

/* ,"key": (the value follows) */
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

/* ,"key":"value" (NULL -> null) */
static void put_key_str(jbuf_t *b, const char *key, const char *s)
{
    put_key(b, key);
    put_str(b, s);
}

/* ,"key":v */
static void put_key_int(jbuf_t *b, const char *key, int64_t v)
{
    put_key(b, key);
    put_int(b, v);
}

/* ,"key":"2026-11-25T18:00:00.123Z" */
static void put_key_time(jbuf_t *b, const char *key, int64_t unix_ms)
{
    char buf[FMT_TIME_MAX + 2];

    put_key(b, key);
    buf[0] = '"';
    fmt_time_ms(buf + 1, unix_ms);
    buf[FMT_TIME_MAX] = '"';
    put_raw(b, buf, FMT_TIME_MAX + 1);
}

/* ,"key":{"topic":...,"partition":...,"offset":...} (no topic -> null) */
static void put_key_place(jbuf_t *b, const char *key, const char *topic, int32_t partition,
                          int64_t offset)
{
    put_key(b, key);
    if (!topic) {
        PUT_LIT(b, "null");
        return;
    }
    PUT_LIT(b, "{\"topic\":");
    put_str(b, topic);
    put_key_int(b, "partition", partition);
    put_key_int(b, "offset", offset);
    PUT_LIT(b, "}");
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
    put_key_str(&b, "status", r->status);
    put_key_str(&b, "event_id", r->event_id);
    put_key_str(&b, "event_type", r->event_type);
    put_key_str(&b, "user_id", r->user_id);
    put_key_int(&b, "app_id", (int64_t)r->app_id);
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
    put_key_str(&b, "message", r->message);
    put_key_str(&b, "request_id", r->request_id && r->request_id[0] ? r->request_id : NULL);
    put_key_int(&b, "attempts", r->attempts);
    put_key_str(&b, "error_class", r->error_class);
    put_key_place(&b, "source", r->topic, r->partition, r->offset); /* null: --once */
    put_key_str(&b, "occurred_at", r->occurred_at);
    put_key_time(&b, "received_at", r->received_at_ms);
    put_key_time(&b, "completed_at", r->completed_at_ms);
    put_key_str(&b, "worker", r->worker);
    if (r->covered_by)
        put_key_str(&b, "covered_by", r->covered_by);
    if (r->redrive_topic)
        put_key_place(&b, "redrive_of", r->redrive_topic, r->redrive_partition, r->redrive_offset);
    PUT_LIT(&b, "}");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0';
    return b.p;
}
