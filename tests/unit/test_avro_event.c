/* test_avro_event.c - Avro payloads into the JSON object the event rules
 * read: the field mapping, nullable unions, and payloads that must not
 * decode (truncated, trailing bytes, lying lengths, deep nesting, floods
 * of array items) without libavro allocating what they claim. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/avro_event.h"
#include "common/event.h"
#include "tests/unit/avro_enc.h"
#include "tests/unit/tt.h"

/* The test schema: type is a plain string, the rest nullable, delete_type
 * a string or an int, plus fields the mapping must skip. */
static const char SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"AccountEvent\",\"namespace\":\"zu.test\",\"fields\":["
    "{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"delete_type\",\"type\":[\"null\",\"string\",\"int\"],\"default\":null},"
    "{\"name\":\"app_id\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"occurred_at\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"string\"}}]}";

static avro_event_schema_t *schema(const char *text)
{
    char err[200] = "";
    avro_event_schema_t *s = avro_event_schema_new(text, strlen(text), err, sizeof(err));
    if (!s)
        fprintf(stderr, "  schema: %s\n", err);
    return s;
}

/* One record of SCHEMA; delete_type: NULL, a string, or "#0"/"#1" for the int branch. */
static void record(enc_t *e, const char *type, const char *user, const char *eid, const char *dt,
                   int64_t app_id, const char *at)
{
    enc_event_fields(e, type, user, eid, dt, app_id, at);
    enc_long(e, 2); /* tags: one block of two nulls */
    enc_long(e, 0);
    enc_long(e, 1); /* attrs: {"k": "v"} */
    enc_str(e, "k");
    enc_str(e, "v");
    enc_long(e, 0);
}

static char *decode_dump(const avro_event_schema_t *s, const enc_t *e, char *err, size_t errsz)
{
    json_t *o = avro_event_decode(s, e->b, e->len, err, errsz);
    char *text = o ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

static void test_mapping(void)
{
    avro_event_schema_t *s = schema(SCHEMA);
    enc_t e;
    char err[200] = "", *d;

    TT_CHECK(s != NULL);
    record(&e, "account-deleted", "u-1", "e-1", "one-way", 1234567890, "2026-12-01T10:00:00Z");
    d = decode_dump(s, &e, err, sizeof(err));
    TT_EQ_STR(d, "{\"app_id\":1234567890,\"delete_type\":\"one-way\",\"event_id\":\"e-1\","
                 "\"occurred_at\":\"2026-12-01T10:00:00Z\",\"type\":\"account-deleted\","
                 "\"user_id\":\"u-1\"}");
    free(d);
    /* Nulls are absent; the int branch of delete_type is an integer. */
    record(&e, "friend-reset", "u-2", NULL, "#1", -1, NULL);
    d = decode_dump(s, &e, err, sizeof(err));
    TT_EQ_STR(d, "{\"delete_type\":1,\"type\":\"friend-reset\",\"user_id\":\"u-2\"}");
    free(d);
    record(&e, "account-deleted", NULL, NULL, NULL, -1, NULL);
    d = decode_dump(s, &e, err, sizeof(err));
    TT_EQ_STR(d, "{\"type\":\"account-deleted\"}");
    free(d);
    /* A user id that is not UTF-8 cannot become JSON. */
    record(&e, "account-deleted", "u\xff", NULL, NULL, -1, NULL);
    TT_CHECK(avro_event_decode(s, e.b, e.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "user_id: string is not UTF-8 text without NUL");
    avro_event_schema_free(s);
}

/* Other Avro types of the mapped fields: enum symbols and UTF-8 bytes are
 * text; a boolean user_id goes to the JSON rules, which reject it. */
static void test_types(void)
{
    static const char other[] =
        "{\"type\":\"record\",\"name\":\"E\",\"fields\":["
        "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"T\",\"symbols\":[\"a\","
        "\"friend_reset\"]}},"
        "{\"name\":\"user_id\",\"type\":\"bytes\"},{\"name\":\"app_id\",\"type\":\"boolean\"},"
        "{\"name\":\"event_id\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}}]}";
    avro_event_schema_t *s = schema(other);
    enc_t e;
    char err[200] = "", *d;

    memset(&e, 0, sizeof(e));
    enc_long(&e, 1);
    enc_str(&e, "u-3");
    enc_byte(&e, 1);
    enc_byte(&e, 'a');
    enc_byte(&e, 'b');
    enc_byte(&e, 'c');
    d = decode_dump(s, &e, err, sizeof(err));
    TT_EQ_STR(d, "{\"app_id\":false,\"event_id\":\"abc\",\"type\":\"friend_reset\","
                 "\"user_id\":\"u-3\"}");
    free(d);
    e.b[1 + 1 + 1] = 0xff; /* the user id's first byte */
    TT_CHECK(avro_event_decode(s, e.b, e.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "user_id: Avro bytes that are not UTF-8 text");
    /* The enum index is checked before libavro sees it. */
    e.b[0] = 4; /* zig-zag 2 */
    TT_CHECK(avro_event_decode(s, e.b, e.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "byte 1: enum index 2 out of range");
    avro_event_schema_free(s);
}

static void test_bad_payloads(void)
{
    avro_event_schema_t *s = schema(SCHEMA);
    enc_t e, big;
    char err[200] = "";

    record(&e, "account-deleted", "u-1", "e-1", NULL, -1, NULL);
    /* Truncated anywhere: never decodes. */
    for (size_t n = 0; n < e.len; n++)
        TT_CHECK(avro_event_decode(s, e.b, n, err, sizeof(err)) == NULL);
    TT_CHECK(avro_event_decode(s, e.b, 0, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "byte 0: string: the payload ends inside a number");
    /* A byte too many. */
    e.b[e.len++] = 0;
    TT_CHECK(avro_event_decode(s, e.b, e.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "1 bytes left after the record");
    /* A string length of 2^62: refused before anything is allocated. */
    memset(&big, 0, sizeof(big));
    enc_long(&big, (int64_t)1 << 62);
    enc_str(&big, "x");
    TT_CHECK(avro_event_decode(s, big.b, big.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "byte 10: string: 4611686018427387904 bytes, only 2 left");
    memset(&big, 0, sizeof(big));
    enc_long(&big, -3);
    TT_CHECK(avro_event_decode(s, big.b, big.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "byte 1: string: negative length -3");
    /* A union branch that does not exist. */
    memset(&big, 0, sizeof(big));
    enc_str(&big, "account-deleted");
    enc_long(&big, 5);
    TT_CHECK(avro_event_decode(s, big.b, big.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "byte 17: union branch 5 out of range");
    /* A varint of 11 bytes. */
    memset(&big, 0, sizeof(big));
    for (int i = 0; i < 11; i++)
        enc_byte(&big, 0x80);
    TT_CHECK(avro_event_decode(s, big.b, big.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "byte 10: string: a number longer than 10 bytes");
    /* An array of nulls that claims 2^40 items costs no memory. */
    memset(&big, 0, sizeof(big));
    enc_str(&big, "account-deleted");
    for (int i = 0; i < 5; i++)
        enc_long(&big, 0);
    enc_long(&big, (int64_t)1 << 40);
    TT_CHECK(avro_event_decode(s, big.b, big.len, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "byte 27: more than 65536 array and map items");
    /* Negative block counts carry a byte size, as the spec says. */
    memset(&big, 0, sizeof(big));
    enc_str(&big, "account-deleted");
    for (int i = 0; i < 5; i++)
        enc_long(&big, 0);
    enc_long(&big, -2);
    enc_long(&big, 0);
    enc_long(&big, 0);
    enc_long(&big, 0);
    json_t *o = avro_event_decode(s, big.b, big.len, err, sizeof(err));
    TT_CHECK(o != NULL);
    json_decref(o);
    avro_event_schema_free(s);
}

static void test_depth(void)
{
    static const char list[] = "{\"type\":\"record\",\"name\":\"L\",\"fields\":["
                               "{\"name\":\"type\",\"type\":\"string\"},"
                               "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}";
    avro_event_schema_t *s = schema(list);
    enc_t e;
    char err[200] = "";

    TT_CHECK(s != NULL);
    memset(&e, 0, sizeof(e));
    for (int i = 0; i < 40; i++) {
        enc_str(&e, "t");
        enc_long(&e, 1);
    }
    enc_str(&e, "t");
    enc_long(&e, 0);
    TT_CHECK(avro_event_decode(s, e.b, e.len, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "nested deeper than 32") != NULL);
    /* A short chain decodes. */
    memset(&e, 0, sizeof(e));
    enc_str(&e, "account-deleted");
    enc_long(&e, 1);
    enc_str(&e, "t");
    enc_long(&e, 0);
    json_t *o = avro_event_decode(s, e.b, e.len, err, sizeof(err));
    TT_CHECK(o && json_is_string(json_object_get(o, "type")) && json_object_size(o) == 1);
    json_decref(o);
    avro_event_schema_free(s);
}

static void test_bad_schemas(void)
{
    char err[200] = "";
    TT_CHECK(avro_event_schema_new("\"string\"", 8, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "writer schema is string, not a record");
    TT_CHECK(avro_event_schema_new("{\"type\":", 8, err, sizeof(err)) == NULL);
    TT_CHECK(strncmp(err, "writer schema does not parse: ", 30) == 0);
    /* Not NUL-terminated: only len bytes are read. */
    TT_CHECK(avro_event_schema_new("\"int\"garbage", 5, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "writer schema is int, not a record");
}

/* Writes a schema of depth levels on top of a record with the event's
 * "type". twice: level k is a record of two fields of level k-1's named
 * type (defined in the first, named in the second). Else: a record with a
 * union of two records that each hold level k-1. Exponential when expanded
 * or counted naively; a few KB of text. */
static char *bomb_schema(int depth, int twice)
{
    size_t cap = 128 + (size_t)depth * 320, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    len += (size_t)snprintf(s + len, cap - len,
                            "{\"type\":\"record\",\"name\":\"Top\",\"fields\":["
                            "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"x\",\"type\":");
    for (int k = depth; k > 0; k--) {
        len += (size_t)snprintf(s + len, cap - len,
                                "{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[", k);
        if (twice)
            len += (size_t)snprintf(s + len, cap - len, "{\"name\":\"a\",\"type\":");
        else
            len += (size_t)snprintf(s + len, cap - len,
                                    "{\"name\":\"u\",\"type\":[{\"type\":\"record\",\"name\":"
                                    "\"A%d\",\"fields\":[{\"name\":\"w\",\"type\":",
                                    k);
    }
    len +=
        (size_t)snprintf(s + len, cap - len, "{\"type\":\"record\",\"name\":\"R0\",\"fields\":[]}");
    for (int k = 1; k <= depth; k++) {
        if (twice)
            len += (size_t)snprintf(s + len, cap - len, "},{\"name\":\"b\",\"type\":\"R%d\"}]}",
                                    k - 1);
        else
            len += (size_t)snprintf(s + len, cap - len,
                                    "}]},{\"type\":\"record\",\"name\":\"B%d\",\"fields\":["
                                    "{\"name\":\"v\",\"type\":\"R%d\"}]}]}]}",
                                    k, k - 1);
    }
    len += (size_t)snprintf(s + len, cap - len, "}]}");
    TT_CHECK(len < cap);
    return s;
}

/* A schema that reuses a record type twice at each level would make
 * libavro build 2^depth values per event (and the walk visit them all): it
 * is refused when compiled; a shallow one compiles. Unions of two records
 * holding the level below are counted one branch at a time and within the
 * nesting limit, so even 30 levels compile, and at once. */
static void test_schema_bombs(void)
{
    char err[200] = "";
    char *text = bomb_schema(30, 1);
    avro_event_schema_t *s =
        text ? avro_event_schema_new(text, strlen(text), err, sizeof(err)) : NULL;
    TT_CHECK(s == NULL);
    TT_EQ_STR(err, "writer schema: its record expands to more than 65536 values");
    free(text);
    for (int twice = 0; twice < 2; twice++) {
        text = bomb_schema(twice ? 6 : 30, twice);
        s = text ? schema(text) : NULL;
        TT_CHECK(s != NULL);
        avro_event_schema_free(s);
        free(text);
    }
}

/* A payload of many values that cost no bytes (an array of 40000 records of
 * two nulls): refused by its value count, not decoded. */
static void test_value_flood(void)
{
    static const char pairs[] =
        "{\"type\":\"record\",\"name\":\"E\",\"fields\":["
        "{\"name\":\"type\",\"type\":\"string\"},"
        "{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
        "\"name\":\"P\",\"fields\":[{\"name\":\"a\",\"type\":\"null\"},"
        "{\"name\":\"b\",\"type\":\"null\"}]}}}]}";
    avro_event_schema_t *s = schema(pairs);
    enc_t e;
    char err[200] = "";
    memset(&e, 0, sizeof(e));
    enc_str(&e, "account-deleted");
    enc_long(&e, 40000);
    enc_long(&e, 0);
    TT_CHECK(avro_event_decode(s, e.b, e.len, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "more than 65536 values") != NULL);
    /* 100 of them decode. */
    memset(&e, 0, sizeof(e));
    enc_str(&e, "account-deleted");
    enc_long(&e, 100);
    enc_long(&e, 0);
    json_t *o = avro_event_decode(s, e.b, e.len, err, sizeof(err));
    TT_CHECK(o != NULL);
    json_decref(o);
    avro_event_schema_free(s);
}

/* Map entries are capped (libavro's map key hash is easy to collide: n
 * chosen keys cost n^2 / 2 comparisons), across all maps of a payload. */
static void test_map_entries(void)
{
    static const char maps[] = "{\"type\":\"record\",\"name\":\"E\",\"fields\":["
                               "{\"name\":\"type\",\"type\":\"string\"},"
                               "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"null\"}},"
                               "{\"name\":\"n\",\"type\":{\"type\":\"map\",\"values\":\"null\"}}]}";
    avro_event_schema_t *s = schema(maps);
    char err[200] = "";
    for (int over = 0; over < 2; over++) {
        enc_t e;
        memset(&e, 0, sizeof(e));
        enc_str(&e, "account-deleted");
        enc_long(&e, 1000); /* m: 1000 entries, keys "" */
        for (int i = 0; i < 1000; i++)
            enc_long(&e, 0);
        enc_long(&e, 0);
        enc_long(&e, 24 + over); /* n: 24, or 25 (1025 in all) */
        for (int i = 0; i < 24 + over; i++)
            enc_long(&e, 0);
        enc_long(&e, 0);
        json_t *o = avro_event_decode(s, e.b, e.len, err, sizeof(err));
        TT_CHECK((o != NULL) == !over);
        if (over)
            TT_EQ_STR(err, "byte 1020: more than 1024 map entries");
        json_decref(o);
    }
    avro_event_schema_free(s);
}

int main(void)
{
    TT_RUN(test_mapping);
    TT_RUN(test_types);
    TT_RUN(test_bad_payloads);
    TT_RUN(test_depth);
    TT_RUN(test_bad_schemas);
    TT_RUN(test_schema_bombs);
    TT_RUN(test_value_flood);
    TT_RUN(test_map_entries);
    TT_DONE();
}
