/* test_frame.c - Schema Registry framing: the frame parser, the schema
 * kinds a registry answer becomes, and framed events (Avro and JSON Schema)
 * that must give exactly the event the same plain JSON gives. */
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "tests/unit/avro_enc.h"
#include "tests/unit/tt.h"

#define TOPIC  "account-events"
#define APP_ID 1234567890u

static char ad0[] = "account-deleted";
static char fr0[] = "friend-reset";
static char *ad_match[] = {ad0};
static char *fr_match[] = {fr0};

static config_t make_cfg(void)
{
    config_t c;
    memset(&c, 0, sizeof(c));
    c.app_id = APP_ID;
    c.account_deleted.match.v = ad_match;
    c.account_deleted.match.n = 1;
    c.friend_reset.match.v = fr_match;
    c.friend_reset.match.n = 1;
    c.friend_reset.delete_type = 1;
    return c;
}

static const char SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"AccountEvent\",\"fields\":["
    "{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"delete_type\",\"type\":[\"null\",\"string\",\"int\"],\"default\":null},"
    "{\"name\":\"app_id\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"occurred_at\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static void test_frame_parse(void)
{
    uint32_t id = 0;
    const void *p = NULL;
    size_t n = 99;
    const unsigned char v[] = {0x00, 0x01, 0x02, 0x03, 0x04, '{', '}'};

    TT_EQ_INT(frame_parse(v, sizeof(v), &id, &p, &n), 1);
    TT_EQ_INT(id, 0x01020304);
    TT_CHECK(p == v + 5);
    TT_EQ_INT(n, 2);
    TT_EQ_INT(frame_parse(v, 5, &id, &p, &n), 1); /* an empty payload is still framed */
    TT_EQ_INT(n, 0);
    TT_EQ_INT(frame_parse(v, 4, &id, &p, &n), 0); /* too short: plain (and invalid) JSON */
    TT_EQ_INT(frame_parse("{\"type\":1}", 10, &id, &p, &n), 0);
    TT_EQ_INT(frame_parse(NULL, 10, &id, &p, &n), 0);
    const unsigned char top[] = {0x00, 0xff, 0xff, 0xff, 0xff};
    TT_EQ_INT(frame_parse(top, 5, &id, &p, &n), 1);
    TT_EQ_INT(id, 4294967295u);
}

static void test_schema_kinds(void)
{
    frame_schema_t fs;

    TT_EQ_INT(frame_schema_build(&fs, NULL, SCHEMA, strlen(SCHEMA)), 0);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_AVRO);
    TT_CHECK(fs.avro != NULL);
    frame_schema_clear(&fs);
    TT_EQ_INT(frame_schema_build(&fs, "AVRO", SCHEMA, strlen(SCHEMA)), 0);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_AVRO);
    frame_schema_clear(&fs);
    TT_EQ_INT(frame_schema_build(&fs, "JSON", "{\"type\":\"object\"}", 17), 0);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_JSON);
    frame_schema_clear(&fs);
    TT_EQ_INT(frame_schema_build(&fs, "PROTOBUF", "syntax = \"proto3\";", 18), 0);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_UNUSABLE);
    TT_EQ_STR(fs.why, "is a Protobuf schema: Protobuf is not supported (use Avro or JSON Schema)");
    frame_schema_clear(&fs);
    TT_EQ_INT(frame_schema_build(&fs, "XML", "", 0), 0);
    TT_EQ_STR(fs.why, "has schemaType \"XML\": only AVRO and JSON are supported");
    frame_schema_clear(&fs);
    TT_EQ_INT(frame_schema_build(&fs, "AVRO", "[\"int\",\"string\"]", 16), 0);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_UNUSABLE);
    TT_EQ_STR(fs.why,
              "is an Avro schema that cannot be used: writer schema is union, not a record");
    frame_schema_clear(&fs);
}

/* Two events are the same: status, every field, the error text. */
static void same_event(event_status_t sa, const event_t *a, event_status_t sb, const event_t *b)
{
    TT_EQ_INT(sa, sb);
    TT_EQ_STR(a->event_id, b->event_id);
    TT_EQ_INT(a->delete_type, b->delete_type);
    TT_EQ_STR(a->error, b->error);
    TT_CHECK((!a->type && !b->type) || (a->type && b->type && strcmp(a->type, b->type) == 0));
    TT_CHECK((!a->user_id && !b->user_id) ||
             (a->user_id && b->user_id && strcmp(a->user_id, b->user_id) == 0));
    TT_CHECK((!a->occurred_at && !b->occurred_at) ||
             (a->occurred_at && b->occurred_at && strcmp(a->occurred_at, b->occurred_at) == 0));
}

static void test_avro_like_json(void)
{
    config_t cfg = make_cfg();
    frame_schema_t fs;
    struct {
        const char *type, *user, *eid, *dt;
        int64_t app_id;
        const char *at, *json;
    } cases[] = {
        {"account-deleted", "u-1", "e-1", NULL, -1, NULL,
         "{\"type\":\"account-deleted\",\"user_id\":\"u-1\",\"event_id\":\"e-1\"}"},
        {"friend-reset", "u-2", "e-2", "two-way", 1234567890, "2026-12-01T10:00:00Z",
         "{\"type\":\"friend-reset\",\"user_id\":\"u-2\",\"event_id\":\"e-2\",\"delete_type\":"
         "\"two-way\",\"app_id\":1234567890,\"occurred_at\":\"2026-12-01T10:00:00Z\"}"},
        {"account-deleted", "u-3", NULL, "#1", -1, NULL,
         "{\"type\":\"account-deleted\",\"user_id\":\"u-3\",\"delete_type\":1}"},
        /* Invalid the same way. */
        {"account-deleted", NULL, "e-4", NULL, -1, NULL,
         "{\"type\":\"account-deleted\",\"event_id\":\"e-4\"}"},
        {"account-deleted", "u/5", NULL, NULL, -1, NULL,
         "{\"type\":\"account-deleted\",\"user_id\":\"u/5\"}"},
        {"account-deleted", "u-6", NULL, "#7", -1, NULL,
         "{\"type\":\"account-deleted\",\"user_id\":\"u-6\",\"delete_type\":7}"},
        {"account-deleted", "u-7", NULL, NULL, 1, NULL,
         "{\"type\":\"account-deleted\",\"user_id\":\"u-7\",\"app_id\":1}"},
        {"login", "u-8", NULL, NULL, -1, NULL, "{\"type\":\"login\",\"user_id\":\"u-8\"}"},
        {"", "u-9", NULL, NULL, -1, NULL, "{\"type\":\"\",\"user_id\":\"u-9\"}"},
    };

    TT_EQ_INT(frame_schema_build(&fs, "AVRO", SCHEMA, strlen(SCHEMA)), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enc_t e;
        event_t a, b;
        enc_event_fields(&e, cases[i].type, cases[i].user, cases[i].eid, cases[i].dt,
                         cases[i].app_id, cases[i].at);
        event_status_t sa = frame_event_parse(&cfg, &fs, 7, e.b, e.len, TOPIC, 2, 40 + i, &a);
        event_status_t sb =
            event_parse(&cfg, cases[i].json, strlen(cases[i].json), TOPIC, 2, 40 + i, &b);
        same_event(sa, &a, sb, &b);
        event_clear(&a);
        event_clear(&b);
    }
    /* An undecodable payload is invalid with the reason. */
    event_t ev;
    TT_EQ_INT(frame_event_parse(&cfg, &fs, 7, "\x02", 1, TOPIC, 0, 5, &ev), EVENT_INVALID);
    TT_EQ_STR(ev.error, "Avro payload does not decode with schema id 7: byte 1: string: 1 bytes, "
                        "only 0 left");
    TT_EQ_STR(ev.event_id, "account-events/0/5");
    TT_CHECK(ev.user_id == NULL && ev.type == NULL);
    event_clear(&ev);
    frame_schema_clear(&fs);
}

static void test_json_schema_payload(void)
{
    config_t cfg = make_cfg();
    frame_schema_t fs;
    const char *payloads[] = {
        "{\"type\":\"account-deleted\",\"user_id\":\"u-1\",\"event_id\":\"e-1\"}",
        "{\"type\":\"friend-reset\",\"user_id\":\"u-2\",\"delete_type\":0}",
        "{not json",
        "",
        "[1]",
        "{\"type\":\"account-deleted\",\"user_id\":42}",
    };
    TT_EQ_INT(frame_schema_build(&fs, "JSON", "{}", 2), 0);
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        event_t a, b;
        size_t n = strlen(payloads[i]);
        event_status_t sa = frame_event_parse(&cfg, &fs, 9, payloads[i], n, TOPIC, 1, i, &a);
        event_status_t sb = event_parse(&cfg, payloads[i], n, TOPIC, 1, i, &b);
        same_event(sa, &a, sb, &b);
        event_clear(&a);
        event_clear(&b);
    }
    frame_schema_clear(&fs);
}

static void test_unusable(void)
{
    config_t cfg = make_cfg();
    frame_schema_t fs;
    event_t ev;

    memset(&fs, 0, sizeof(fs));
    frame_schema_unusable(&fs, "is not in the schema registry (HTTP 404, error_code 40403)");
    TT_EQ_INT(frame_event_parse(&cfg, &fs, 123, "x", 1, TOPIC, 0, 9, &ev), EVENT_INVALID);
    TT_EQ_STR(ev.error, "schema id 123 is not in the schema registry (HTTP 404, error_code 40403)");
    TT_EQ_STR(ev.event_id, "account-events/0/9");
    event_clear(&ev);
    TT_EQ_INT(frame_schema_build(&fs, "PROTOBUF", "", 0), 0);
    TT_EQ_INT(frame_event_parse(&cfg, &fs, 5, "x", 1, TOPIC, 0, 9, &ev), EVENT_INVALID);
    TT_EQ_STR(ev.error,
              "schema id 5 is a Protobuf schema: Protobuf is not supported (use Avro or JSON "
              "Schema)");
    event_clear(&ev);
    frame_schema_clear(&fs);
}

int main(void)
{
    TT_RUN(test_frame_parse);
    TT_RUN(test_schema_kinds);
    TT_RUN(test_avro_like_json);
    TT_RUN(test_json_schema_payload);
    TT_RUN(test_unusable);
    TT_DONE();
}
