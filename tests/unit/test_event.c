/* test_event.c - input event parsing: every field, every bad input. */
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/jread.h"
#include "tests/unit/tt.h"

#define TOPIC  "account-events"
#define APP_ID 1234567890u

static char ad_match0[] = "account-deleted";
static char ad_match1[] = "user.deleted";
static char fr_match0[] = "friend-reset";
static char *ad_match[] = {ad_match0, ad_match1};
static char *fr_match[] = {fr_match0};

/* A configuration built by hand: account_deleted two-way, friend_reset one-way. */
static config_t make_cfg(void)
{
    config_t c;

    memset(&c, 0, sizeof(c));
    c.app_id = APP_ID;
    c.account_deleted.match.v = ad_match;
    c.account_deleted.match.n = 2;
    c.account_deleted.delete_type = 0;
    c.friend_reset.match.v = fr_match;
    c.friend_reset.match.n = 1;
    c.friend_reset.delete_type = 1;
    c.unknown_types = CONFIG_UNKNOWN_IGNORE;
    return c;
}

/* 1 when s is valid UTF-8 without control characters (what ev->error must be). */
static int clean_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, len = strlen(s);

    while (i < len) {
        unsigned char c = p[i];
        size_t n = 1, k;
        if (c < 0x20 || c == 0x7F)
            return 0;
        if (c >= 0x80) {
            if (c >= 0xC2 && c <= 0xDF)
                n = 2;
            else if (c >= 0xE0 && c <= 0xEF)
                n = 3;
            else if (c >= 0xF0 && c <= 0xF4)
                n = 4;
            else
                return 0;
            if (i + n > len)
                return 0;
            for (k = 1; k < n; k++)
                if ((p[i + k] & 0xC0) != 0x80)
                    return 0;
        }
        i += n;
    }
    return 1;
}

/* Parses len bytes and checks the invariants every parse must keep. */
static event_status_t parse_n(event_t *ev, const void *v, size_t len)
{
    config_t cfg = make_cfg();
    event_status_t st = event_parse(&cfg, v, len, TOPIC, 3, 42, ev);

    TT_CHECK(ev->event_id != NULL);
    TT_CHECK(clean_text(ev->error));
    TT_CHECK(strlen(ev->error) < sizeof(ev->error));
    TT_CHECK((st == EVENT_OK) == (ev->error[0] == '\0'));
    TT_CHECK(st != EVENT_OK || (ev->type && ev->user_id && ev->delete_type >= 0));
    return st;
}

static event_status_t parse(event_t *ev, const char *json)
{
    return parse_n(ev, json, strlen(json));
}

/* Expects json to be invalid with exactly the error text err. */
static void expect_invalid(const char *json, const char *err)
{
    event_t ev;

    TT_EQ_INT(parse(&ev, json), EVENT_INVALID);
    TT_EQ_STR(ev.error, err);
    event_clear(&ev);
}

static void test_valid_full(void)
{
    event_t ev;

    TT_EQ_INT(parse(&ev, "{\"type\":\"account-deleted\",\"user_id\":\"u123\",\"event_id\":\"e-42\","
                         "\"delete_type\":\"one-way\",\"app_id\":1234567890,"
                         "\"occurred_at\":\"2026-11-25T18:00:00Z\",\"extra\":{\"a\":[1,2]}}"),
              EVENT_OK);
    TT_EQ_STR(ev.type, "account-deleted");
    TT_EQ_STR(ev.user_id, "u123");
    TT_EQ_STR(ev.event_id, "e-42");
    TT_EQ_STR(ev.occurred_at, "2026-11-25T18:00:00Z");
    TT_EQ_INT(ev.delete_type, 1);
    TT_EQ_STR(ev.error, "");
    event_clear(&ev);
}

static void test_valid_minimal_defaults(void)
{
    event_t ev;
    config_t cfg = make_cfg();
    const char *v = "{\"type\":\"account-deleted\",\"user_id\":\"u1\"}";

    TT_EQ_INT(parse(&ev, v), EVENT_OK);
    TT_EQ_STR(ev.event_id, "account-events/3/42");
    TT_CHECK(ev.occurred_at == NULL);
    TT_EQ_INT(ev.delete_type, 0);
    event_clear(&ev);

    /* second match entry; friend_reset's default is one-way */
    TT_EQ_INT(parse(&ev, "{\"type\":\"user.deleted\",\"user_id\":\"u1\"}"), EVENT_OK);
    TT_EQ_INT(ev.delete_type, 0);
    event_clear(&ev);
    TT_EQ_INT(parse(&ev, "{\"type\":\"friend-reset\",\"user_id\":\"u1\"}"), EVENT_OK);
    TT_EQ_INT(ev.delete_type, 1);
    event_clear(&ev);
    TT_EQ_INT(parse(&ev, "{\"type\":\"friend-reset\",\"user_id\":\"u1\",\"delete_type\":0}"),
              EVENT_OK);
    TT_EQ_INT(ev.delete_type, 0);
    event_clear(&ev);

    /* whitespace around the object is fine */
    TT_EQ_INT(parse(&ev, " \n\t{ \"type\" : \"friend-reset\" , \"user_id\" : \"u1\" }\r\n"),
              EVENT_OK);
    event_clear(&ev);

    /* default event_id: big offsets, negative partition, NULL topic */
    TT_EQ_INT(event_parse(&cfg, v, strlen(v), "t", -1, INT64_MAX, &ev), EVENT_OK);
    TT_EQ_STR(ev.event_id, "t/-1/9223372036854775807");
    event_clear(&ev);
    TT_EQ_INT(event_parse(&cfg, v, strlen(v), NULL, 0, 0, &ev), EVENT_OK);
    TT_EQ_STR(ev.event_id, "/0/0");
    event_clear(&ev);
}

static void test_event_id(void)
{
    event_t ev;
    char buf[1024], id[600];
    const char *bad = "event_id: must be a string of 1-128 characters";

    memset(id, 'x', 128);
    id[128] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":\"%s\"}", id);
    TT_EQ_INT(parse(&ev, buf), EVENT_OK);
    TT_EQ_STR(ev.event_id, id);
    event_clear(&ev);

    /* 128 characters of 2 bytes each are 128 characters */
    id[0] = '\0';
    for (int i = 0; i < 128; i++)
        memcpy(id + 2 * i, "\xC3\xA9", 3);
    snprintf(buf, sizeof(buf),
             "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":\"%s\"}", id);
    TT_EQ_INT(parse(&ev, buf), EVENT_OK);
    TT_EQ_STR(ev.event_id, id);
    event_clear(&ev);

    memset(id, 'x', 129);
    id[129] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":\"%s\"}", id);
    TT_EQ_INT(parse(&ev, buf), EVENT_INVALID);
    TT_EQ_STR(ev.error, bad);
    TT_EQ_STR(ev.event_id, "account-events/3/42"); /* the default stays */
    TT_EQ_STR(ev.user_id, "u");                    /* the readable fields are filled */
    TT_EQ_STR(ev.type, "account-deleted");
    TT_EQ_INT(ev.delete_type, 0);
    event_clear(&ev);

    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":\"\"}", bad);
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":42}", bad);
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":null}", bad);
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":[\"a\"]}", bad);
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":{}}", bad);
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"event_id\":true}", bad);
}

static void test_type(void)
{
    event_t ev;
    char buf[2048], t[600];

    expect_invalid("{\"user_id\":\"u\"}", "type: missing");
    expect_invalid("{\"type\":5,\"user_id\":\"u\"}", "type: must be a string, not a number");
    expect_invalid("{\"type\":null,\"user_id\":\"u\"}", "type: must be a string, not null");
    expect_invalid("{\"type\":true,\"user_id\":\"u\"}", "type: must be a string, not a boolean");
    expect_invalid("{\"type\":[],\"user_id\":\"u\"}", "type: must be a string, not an array");
    expect_invalid("{\"type\":{},\"user_id\":\"u\"}", "type: must be a string, not an object");
    expect_invalid("{\"type\":\"\",\"user_id\":\"u\"}", "type: empty");

    /* type problems win over other problems; other fields are still read */
    TT_EQ_INT(parse(&ev, "{\"user_id\":\"u9\",\"event_id\":\"e\",\"occurred_at\":\"x\"}"),
              EVENT_INVALID);
    TT_EQ_STR(ev.error, "type: missing");
    TT_CHECK(ev.type == NULL);
    TT_EQ_STR(ev.user_id, "u9");
    TT_EQ_STR(ev.event_id, "e");
    TT_EQ_STR(ev.occurred_at, "x");
    TT_EQ_INT(ev.delete_type, -1);
    event_clear(&ev);

    /* 256 bytes: a usable (unknown) type; 257: invalid */
    memset(t, 'a', 256);
    t[256] = '\0';
    snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"user_id\":\"u\"}", t);
    TT_EQ_INT(parse(&ev, buf), EVENT_UNKNOWN_TYPE);
    TT_EQ_STR(ev.type, t);
    TT_EQ_STR(ev.error,
              "type \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" "
              "is in neither events.account_deleted.match nor "
              "events.friend_reset.match");
    event_clear(&ev);
    memset(t, 'a', 257);
    t[257] = '\0';
    snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"user_id\":\"u\"}", t);
    expect_invalid(buf, "type: 257 bytes, at most 256");

    /* type is matched exactly */
    TT_EQ_INT(parse(&ev, "{\"type\":\"Account-Deleted\",\"user_id\":\"u\"}"), EVENT_UNKNOWN_TYPE);
    event_clear(&ev);
    TT_EQ_INT(parse(&ev, "{\"type\":\"account-deleted \",\"user_id\":\"u\"}"), EVENT_UNKNOWN_TYPE);
    event_clear(&ev);
}

static void test_unknown_type(void)
{
    event_t ev;
    config_t cfg = make_cfg();
    const char *v = "{\"type\":\"account-created\",\"user_id\":\"u1\"}";
    char buf[1200], t[300];

    TT_EQ_INT(parse(&ev, v), EVENT_UNKNOWN_TYPE);
    TT_EQ_STR(ev.error, "type \"account-created\" is in neither events.account_deleted.match nor "
                        "events.friend_reset.match");
    TT_EQ_STR(ev.type, "account-created");
    TT_EQ_STR(ev.user_id, "u1");
    TT_EQ_INT(ev.delete_type, -1);
    event_clear(&ev);

    /* other types need not follow our field rules */
    TT_EQ_INT(parse(&ev, "{\"type\":\"login\",\"user_id\":7,\"delete_type\":9,\"app_id\":1}"),
              EVENT_UNKNOWN_TYPE);
    TT_CHECK(ev.user_id == NULL);
    event_clear(&ev);
    TT_EQ_INT(parse(&ev, "{\"type\":\"login\"}"), EVENT_UNKNOWN_TYPE);
    event_clear(&ev);

    /* a quoted type with control characters and multi-byte characters, cut
     * in the middle of a character: the error stays clean UTF-8 */
    TT_EQ_INT(parse(&ev, "{\"type\":\"a\\u0001b\\n\\u00e9\\\"\",\"user_id\":\"u\"}"),
              EVENT_UNKNOWN_TYPE);
    TT_EQ_STR(ev.error,
              "type \"a\\x01b\\x0A\xC3\xA9\"\" is in neither events.account_deleted.match "
              "nor events.friend_reset.match");
    event_clear(&ev);
    t[0] = 'x';
    for (int i = 0; i < 85; i++)
        memcpy(t + 1 + 3 * i, "\xE2\x82\xAC", 4); /* U+20AC, 3 bytes */
    snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"user_id\":\"u\"}", t);
    TT_EQ_INT(parse(&ev, buf), EVENT_UNKNOWN_TYPE);
    TT_CHECK(strstr(ev.error, "x\xE2\x82\xAC") != NULL);
    TT_CHECK(strstr(ev.error, "\xE2\x82\xAC...\"") != NULL);
    event_clear(&ev);

    /* no configuration: every type is unknown */
    TT_EQ_INT(event_parse(NULL, v, strlen(v), TOPIC, 0, 1, &ev), EVENT_UNKNOWN_TYPE);
    event_clear(&ev);

    /* a NULL entry in a match list is skipped */
    {
        char *m[] = {NULL, fr_match0};
        cfg.friend_reset.match.v = m;
        cfg.friend_reset.match.n = 2;
        v = "{\"type\":\"friend-reset\",\"user_id\":\"u1\"}";
        TT_EQ_INT(event_parse(&cfg, v, strlen(v), TOPIC, 0, 1, &ev), EVENT_OK);
        event_clear(&ev);
    }
}

static void test_user_id(void)
{
    event_t ev;
    char buf[256];
    const char *specials = "!#$%&()+-:;<=.>?@[]^_{}|~";

    expect_invalid("{\"type\":\"account-deleted\"}", "user_id: missing");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":12}",
                   "user_id: must be a string, not a number");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":null}",
                   "user_id: must be a string, not null");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":false}",
                   "user_id: must be a string, not a boolean");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":[\"u\"]}",
                   "user_id: must be a string, not an array");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":{\"id\":\"u\"}}",
                   "user_id: must be a string, not an object");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"\"}",
                   "user_id: empty, must be 1-32 characters");

    /* 32 characters pass, 33 and 40 do not */
    TT_EQ_INT(parse(&ev, "{\"type\":\"account-deleted\","
                         "\"user_id\":\"0123456789abcdefABCDEF0123456789\"}"),
              EVENT_OK);
    TT_EQ_STR(ev.user_id, "0123456789abcdefABCDEF0123456789");
    event_clear(&ev);
    expect_invalid(
        "{\"type\":\"account-deleted\",\"user_id\":\"0123456789abcdefABCDEF0123456789x\"}",
        "user_id: 33 characters, at most 32");
    expect_invalid("{\"type\":\"account-deleted\","
                   "\"user_id\":\"0123456789012345678901234567890123456789\"}",
                   "user_id: 40 characters, at most 32");

    /* every allowed special character, alone and all together */
    for (const char *p = specials; *p; p++) {
        snprintf(buf, sizeof(buf), "{\"type\":\"account-deleted\",\"user_id\":\"a%cb\"}", *p);
        TT_EQ_INT(parse(&ev, buf), EVENT_OK);
        TT_CHECK(ev.user_id && ev.user_id[1] == *p);
        event_clear(&ev);
    }
    snprintf(buf, sizeof(buf), "{\"type\":\"account-deleted\",\"user_id\":\"%s\"}", specials);
    TT_EQ_INT(parse(&ev, buf), EVENT_OK);
    TT_EQ_STR(ev.user_id, specials);
    event_clear(&ev);

    /* characters outside the set */
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a/b\"}",
                   "user_id: character '/' not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a b\"}",
                   "user_id: character U+0020 not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a*\"}",
                   "user_id: character '*' not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a,\"}",
                   "user_id: character ',' not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a'\"}",
                   "user_id: character ''' not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a\\\"\"}",
                   "user_id: character '\"' not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a\\\\\"}",
                   "user_id: character '\\' not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a`\"}",
                   "user_id: character '`' not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a\\u0001\"}",
                   "user_id: character U+0001 not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"a\\u007f\"}",
                   "user_id: character U+007F not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"j\xC3\xB6hn\"}",
                   "user_id: character U+00F6 not allowed");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"\\ud83d\\ude00\"}",
                   "user_id: character U+1F600 not allowed");
    /* 32 characters but 33 bytes: counted in characters, then the character */
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"\xC3\xA9"
                   "0123456789012345678901234567890\"}",
                   "user_id: character U+00E9 not allowed");

    /* the id is not kept when invalid, but the rest is */
    TT_EQ_INT(parse(&ev, "{\"type\":\"friend-reset\",\"user_id\":\"a/b\",\"event_id\":\"e1\"}"),
              EVENT_INVALID);
    TT_CHECK(ev.user_id == NULL);
    TT_EQ_STR(ev.type, "friend-reset");
    TT_EQ_STR(ev.event_id, "e1");
    TT_EQ_INT(ev.delete_type, 1);
    event_clear(&ev);
}

static void test_user_id_valid(void)
{
    TT_EQ_INT(event_user_id_valid("u", 1), 1);
    TT_EQ_INT(event_user_id_valid("!#$%&()+-:;<=.>?@[]^_{}|~", 25), 1);
    TT_EQ_INT(event_user_id_valid("0123456789abcdefABCDEF0123456789", 32), 1);
    TT_EQ_INT(event_user_id_valid("0123456789abcdefABCDEF0123456789x", 33), 0);
    TT_EQ_INT(event_user_id_valid(NULL, 1), 0);
    TT_EQ_INT(event_user_id_valid("", 0), 0);
    TT_EQ_INT(event_user_id_valid("a\0b", 3), 0);
    TT_EQ_INT(event_user_id_valid("a/b", 3), 0);
    TT_EQ_INT(event_user_id_valid("a b", 3), 0);
    TT_EQ_INT(event_user_id_valid("a\"", 2), 0);
    TT_EQ_INT(event_user_id_valid("a,", 2), 0);
    TT_EQ_INT(event_user_id_valid("\xC3\xA9", 2), 0);
    TT_EQ_INT(event_user_id_valid("ab/", 2), 1); /* only len bytes count */
}

static void test_delete_type(void)
{
    event_t ev;
    const char *bad = "delete_type: must be \"two-way\", \"one-way\", 0 or 1";
    const struct {
        const char *json;
        int want;
    } ok[] = {
        {"\"two-way\"", 0}, {"\"one-way\"", 1}, {"0", 0}, {"1", 1}, {"-0", 0},
    };
    const char *wrong[] = {"\"TWO-WAY\"", "\"two_way\"", "\"\"", "\"0\"", "2",    "-1",  "true",
                           "false",       "0.0",         "1.0",  "1e0",   "null", "[0]", "{}"};
    char buf[256];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(buf, sizeof(buf),
                 "{\"type\":\"friend-reset\",\"user_id\":\"u\",\"delete_type\":%s}", ok[i].json);
        TT_EQ_INT(parse(&ev, buf), EVENT_OK);
        TT_EQ_INT(ev.delete_type, ok[i].want);
        event_clear(&ev);
    }
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        snprintf(buf, sizeof(buf),
                 "{\"type\":\"friend-reset\",\"user_id\":\"u\",\"delete_type\":%s}", wrong[i]);
        TT_EQ_INT(parse(&ev, buf), EVENT_INVALID);
        TT_EQ_STR(ev.error, bad);
        TT_EQ_INT(ev.delete_type, 1); /* the class default, for the failure result */
        TT_EQ_STR(ev.user_id, "u");
        event_clear(&ev);
    }
}

static void test_app_id(void)
{
    event_t ev;

    TT_EQ_INT(parse(&ev, "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"app_id\":1234567890}"),
              EVENT_OK);
    event_clear(&ev);
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"app_id\":1234567891}",
                   "app_id 1234567891 does not match configured 1234567890");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"app_id\":-1234567890}",
                   "app_id -1234567890 does not match configured 1234567890");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"app_id\":5529535186}",
                   "app_id 5529535186 does not match configured 1234567890");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"app_id\":\"1234567890\"}",
                   "app_id: must be an integer, not a string");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"app_id\":1234567890.0}",
                   "app_id: must be an integer, not a number");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"app_id\":null}",
                   "app_id: must be an integer, not null");
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"app_id\":true}",
                   "app_id: must be an integer, not a boolean");
}

static void test_occurred_at(void)
{
    event_t ev;
    char buf[256], t[80];
    const char *bad = "occurred_at: must be a string of at most 64 bytes";

    memset(t, '1', 64);
    t[64] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"occurred_at\":\"%s\"}", t);
    TT_EQ_INT(parse(&ev, buf), EVENT_OK);
    TT_EQ_STR(ev.occurred_at, t);
    event_clear(&ev);
    TT_EQ_INT(parse(&ev, "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"occurred_at\":\"\"}"),
              EVENT_OK);
    TT_EQ_STR(ev.occurred_at, "");
    event_clear(&ev);

    memset(t, '1', 65);
    t[65] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"occurred_at\":\"%s\"}", t);
    TT_EQ_INT(parse(&ev, buf), EVENT_INVALID);
    TT_EQ_STR(ev.error, bad);
    TT_CHECK(ev.occurred_at == NULL);
    event_clear(&ev);
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"occurred_at\":1764093600}",
                   bad);
    expect_invalid("{\"type\":\"account-deleted\",\"user_id\":\"u\",\"occurred_at\":null}", bad);
}

static void test_not_an_object(void)
{
    event_t ev;

    expect_invalid("[1,2]", "value is an array, not a JSON object");
    expect_invalid("\"account-deleted\"", "value is a string, not a JSON object");
    expect_invalid("42", "value is a number, not a JSON object");
    expect_invalid("-1.5e3", "value is a number, not a JSON object");
    expect_invalid("null", "value is null, not a JSON object");
    expect_invalid("true", "value is a boolean, not a JSON object");

    TT_EQ_INT(parse_n(&ev, "", 0), EVENT_INVALID);
    TT_EQ_STR(ev.error, "empty value");
    TT_EQ_STR(ev.event_id, "account-events/3/42");
    event_clear(&ev);
    TT_EQ_INT(parse_n(&ev, NULL, 0), EVENT_INVALID);
    TT_EQ_STR(ev.error, "empty value");
    event_clear(&ev);
    TT_EQ_INT(parse_n(&ev, NULL, 5), EVENT_INVALID);
    TT_EQ_STR(ev.error, "empty value");
    event_clear(&ev);
}

static void test_not_json(void)
{
    const char *bad[] = {"hello",
                         "{",
                         "}",
                         "{\"type\":}",
                         "{\"type\":\"a\",}",
                         "{'type':'a'}",
                         "{}x",
                         "{}{}",
                         "{\"a\":01}",
                         "{\"a\":\"\\x\"}",
                         "{\"a\":\"\\u0000\"}",
                         "{\"a\":\"\\ud800\"}",
                         "{\"a\":\"tab\there\"}",
                         "{\"a\":99999999999999999999999}",
                         "\x01",
                         "{\"a\":NaN}"};
    event_t ev;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        TT_EQ_INT(parse(&ev, bad[i]), EVENT_INVALID);
        TT_CHECK(strncmp(ev.error, "invalid JSON: ", 14) == 0);
        TT_CHECK(strstr(ev.error, "(line ") != NULL);
        event_clear(&ev);
    }
    expect_invalid(" \t\r\n ", "value is only whitespace");
    expect_invalid("{\"a\":\"\\u0000\"}",
                   "invalid JSON: \\u0000 not allowed in strings (line 1, column 13)");
    /* a leading byte order mark is ignored (RFC 8259 allows it) */
    TT_EQ_INT(parse(&ev, "\xEF\xBB\xBF{\"type\":\"account-deleted\",\"user_id\":\"u\"}"), EVENT_OK);
    event_clear(&ev);
    expect_invalid("\xEF\xBB\xBF", "value is only whitespace");
    expect_invalid("\xEF\xBB\xBF\xEF\xBB\xBF{}",
                   "invalid JSON: invalid token near '\xEF\xBB\xBF' (line 1, column 1)");
    /* jansson quotes the bad token: a control character in it is escaped */
    TT_EQ_INT(parse(&ev, "\x01"), EVENT_INVALID);
    TT_CHECK(strstr(ev.error, "\\x01") != NULL);
    event_clear(&ev);
}

static void test_bad_utf8(void)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *err;
    } cases[] = {
        {"{\"a\":\"\xC0\xAF\"}", 10, "value is not valid UTF-8: byte 0xC0 at offset 6"},
        {"{\"a\":\"\xC1\xBF\"}", 10, "value is not valid UTF-8: byte 0xC1 at offset 6"},
        {"{\"a\":\"\xE0\x80\xAF\"}", 11, "value is not valid UTF-8: byte 0xE0 at offset 6"},
        {"{\"a\":\"\xF0\x80\x80\xAF\"}", 12, "value is not valid UTF-8: byte 0xF0 at offset 6"},
        {"{\"a\":\"\xED\xA0\x80\"}", 11, "value is not valid UTF-8: byte 0xED at offset 6"},
        {"{\"a\":\"\xED\xBF\xBF\"}", 11, "value is not valid UTF-8: byte 0xED at offset 6"},
        {"{\"a\":\"\xF4\x90\x80\x80\"}", 12, "value is not valid UTF-8: byte 0xF4 at offset 6"},
        {"{\"a\":\"\xE2\x82\"}", 10, "value is not valid UTF-8: byte 0xE2 at offset 6"},
        {"{\"a\":\"\xC3", 7, "value is not valid UTF-8: byte 0xC3 at offset 6"},
        {"{\"a\":\"\xFF\"}", 9, "value is not valid UTF-8: byte 0xFF at offset 6"},
        {"{\"a\":\"\xFE\"}", 9, "value is not valid UTF-8: byte 0xFE at offset 6"},
        {"{\"a\":\"\xF5\x80\x80\x80\"}", 12, "value is not valid UTF-8: byte 0xF5 at offset 6"},
        {"{\"a\":\"\x80\"}", 9, "value is not valid UTF-8: byte 0x80 at offset 6"},
        {"{\"a\":\"b\"}\0", 10, "value contains a NUL byte at offset 9"},
        {"{\"a\":\"b\0c\"}", 11, "value contains a NUL byte at offset 7"},
        {"\0", 1, "value contains a NUL byte at offset 0"},
    };
    event_t ev;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TT_EQ_INT(parse_n(&ev, cases[i].bytes, cases[i].len), EVENT_INVALID);
        if (cases[i].err)
            TT_EQ_STR(ev.error, cases[i].err);
        event_clear(&ev);
    }
    /* the largest valid code points pass */
    TT_EQ_INT(parse(&ev, "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"x\":\"\xF4\x8F\xBF\xBF"
                         "\xEF\xBF\xBF\xED\x9F\xBF\xEE\x80\x80\"}"),
              EVENT_OK);
    event_clear(&ev);
}

static void test_size_limit(void)
{
    const char *head = "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"pad\":\"";
    size_t hl = strlen(head), total = EVENT_VALUE_MAX;
    char *big = malloc(total + 2);
    event_t ev;

    TT_CHECK(big != NULL);
    if (!big)
        return;
    memcpy(big, head, hl);
    memset(big + hl, 'x', total - hl - 2);
    memcpy(big + total - 2, "\"}", 2);
    TT_EQ_INT(parse_n(&ev, big, total), EVENT_OK); /* exactly 1 MiB */
    event_clear(&ev);

    memmove(big + hl + 1, big + hl, total - hl);
    TT_EQ_INT(parse_n(&ev, big, total + 1), EVENT_INVALID);
    TT_EQ_STR(ev.error, "value is 1048577 bytes, more than 1048576");
    event_clear(&ev);
    free(big);
}

static void test_nesting(void)
{
    size_t depth = 5000, i;
    char *v = malloc(2 * depth + 64);
    char *p;
    event_t ev;

    TT_CHECK(v != NULL);
    if (!v)
        return;
    for (i = 0; i < depth; i++)
        v[i] = '[';
    for (i = 0; i < depth; i++)
        v[depth + i] = ']';
    TT_EQ_INT(parse_n(&ev, v, 2 * depth), EVENT_INVALID);
    TT_CHECK(strstr(ev.error, "depth") != NULL);
    event_clear(&ev);

    /* moderate nesting inside an ignored field is fine */
    p = v;
    p += snprintf(p, 64, "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"x\":");
    for (i = 0; i < 100; i++)
        *p++ = '[';
    for (i = 0; i < 100; i++)
        *p++ = ']';
    *p++ = '}';
    TT_EQ_INT(parse_n(&ev, v, (size_t)(p - v)), EVENT_OK);
    event_clear(&ev);
    free(v);
}

static void test_duplicate_keys(void)
{
    event_t ev;

    TT_EQ_INT(parse(&ev, "{\"type\":\"account-deleted\",\"user_id\":\"a\",\"user_id\":\"b\"}"),
              EVENT_INVALID);
    TT_CHECK(strstr(ev.error, "duplicate") != NULL);
    TT_CHECK(ev.user_id == NULL);
    event_clear(&ev);
    TT_EQ_INT(
        parse(&ev, "{\"type\":\"account-deleted\",\"user_id\":\"a\",\"x\":{\"k\":1,\"k\":2}}"),
        EVENT_INVALID);
    TT_CHECK(strstr(ev.error, "duplicate") != NULL);
    event_clear(&ev);
}

static void test_cloudevents(void)
{
    event_t ev;

    TT_EQ_INT(parse(&ev,
                    "{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"source\":\"/acct\","
                    "\"id\":\"ce-1\",\"time\":\"2026-11-25T18:00:00Z\","
                    "\"datacontenttype\":\"application/json\","
                    "\"data\":{\"user_id\":\"u7\",\"delete_type\":\"one-way\","
                    "\"app_id\":1234567890}}"),
              EVENT_OK);
    TT_EQ_STR(ev.type, "account-deleted");
    TT_EQ_STR(ev.event_id, "ce-1");
    TT_EQ_STR(ev.user_id, "u7");
    TT_EQ_STR(ev.occurred_at, "2026-11-25T18:00:00Z");
    TT_EQ_INT(ev.delete_type, 1);
    event_clear(&ev);

    /* the plain fields are not read in CloudEvents mode */
    TT_EQ_INT(parse(&ev, "{\"specversion\":\"1.0\",\"type\":\"friend-reset\",\"id\":\"c\","
                         "\"user_id\":\"top\",\"event_id\":\"e\",\"data\":{\"user_id\":\"u8\"}}"),
              EVENT_OK);
    TT_EQ_STR(ev.user_id, "u8");
    TT_EQ_STR(ev.event_id, "c");
    TT_EQ_INT(ev.delete_type, 1);
    TT_CHECK(ev.occurred_at == NULL);
    event_clear(&ev);

    expect_invalid("{\"specversion\":\"0.3\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data\":{\"user_id\":\"u\"}}",
                   "specversion: must be \"1.0\" (CloudEvents 1.0 structured mode)");
    expect_invalid("{\"specversion\":1.0,\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data\":{\"user_id\":\"u\"}}",
                   "specversion: must be \"1.0\" (CloudEvents 1.0 structured mode)");
    expect_invalid("{\"specversion\":null,\"type\":\"login\",\"id\":\"c\"}",
                   "specversion: must be \"1.0\" (CloudEvents 1.0 structured mode)");
    expect_invalid("{\"specversion\":\"1.0\",\"id\":\"c\",\"data\":{\"user_id\":\"u\"}}",
                   "type: missing");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\","
                   "\"data\":{\"user_id\":\"u\"}}",
                   "id: missing (required by CloudEvents)");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":7,"
                   "\"data\":{\"user_id\":\"u\"}}",
                   "id: must be a string of 1-128 characters");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\"}",
                   "data: missing (CloudEvents data must hold user_id)");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data_base64\":\"eyJ1c2VyX2lkIjoidSJ9\"}",
                   "data_base64: not supported, send data as a JSON object");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data\":\"{\\\"user_id\\\":\\\"u\\\"}\"}",
                   "data: must be a JSON object, not a string");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data\":null}",
                   "data: must be a JSON object, not null");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data\":{}}",
                   "data.user_id: missing");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data\":{\"user_id\":\"a/b\"}}",
                   "data.user_id: character '/' not allowed");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data\":{\"user_id\":\"u\",\"delete_type\":2}}",
                   "data.delete_type: must be \"two-way\", \"one-way\", 0 or 1");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"data\":{\"user_id\":\"u\",\"app_id\":1}}",
                   "data.app_id 1 does not match configured 1234567890");
    expect_invalid("{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"id\":\"c\","
                   "\"time\":5,\"data\":{\"user_id\":\"u\"}}",
                   "time: must be a string of at most 64 bytes");

    /* an unknown CloudEvents type is unknown, whatever its data */
    TT_EQ_INT(parse(&ev, "{\"specversion\":\"1.0\",\"type\":\"com.example.login\",\"id\":\"c\","
                         "\"data\":{\"user_id\":\"u9\"}}"),
              EVENT_UNKNOWN_TYPE);
    TT_EQ_STR(ev.event_id, "c");
    TT_EQ_STR(ev.user_id, "u9");
    event_clear(&ev);
    TT_EQ_INT(parse(&ev, "{\"specversion\":\"1.0\",\"type\":\"com.example.login\"}"),
              EVENT_UNKNOWN_TYPE);
    TT_EQ_STR(ev.event_id, "account-events/3/42");
    event_clear(&ev);
}

/* The examples in schemas/examples/ are valid events for the parser too. */
static void test_schema_examples(void)
{
    const char *names[] = {"event-account-deleted.json", "event-minimal.json",
                           "event-friend-reset-one-way.json", "event-cloudevents.json"};
    const char *dir = getenv("ZU_SOURCE_DIR");
    char path[4096], buf[8192], src[1024];
    const char *tail = "tests/unit/test_event.c";
    size_t fl = strlen(__FILE__), tl = strlen(tail);
    event_t ev;

    /* ctest sets ZU_SOURCE_DIR; by hand, __FILE__ (absolute in CMake builds) */
    const char *file = __FILE__;
    if (!dir && fl > tl && fl - tl < sizeof(src) && strcmp(file + fl - tl, tail) == 0) {
        memcpy(src, __FILE__, fl - tl);
        src[fl - tl] = '\0';
        dir = src;
    }

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/schemas/examples/%s", dir ? dir : ".", names[i]);
        f = fopen(path, "rb");
        TT_CHECK(f != NULL);
        if (!f) {
            fprintf(stderr, "cannot open %s (set ZU_SOURCE_DIR)\n", path);
            continue;
        }
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        TT_EQ_INT(parse_n(&ev, buf, n), EVENT_OK);
        TT_EQ_STR(ev.error, "");
        event_clear(&ev);
    }
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* jread_scan takes the common event and jansson the rest: both give the
 * same event, and the same error. Each body is taken by the scanner; with
 * a real number added (which only jansson takes) it goes through jansson. */
static void test_both_parsers(void)
{
    static const char *const bodies[] = {
        "{\"type\":\"account-deleted\",\"user_id\":\"u1\",\"event_id\":\"e1\","
        "\"occurred_at\":\"2026-12-07T10:00:00Z\",\"app_id\":1234567890}",
        "{\"type\":\"friend-reset\",\"user_id\":\"u\\u0031\",\"delete_type\":\"two-way\"}",
        "{\"type\":\"user.deleted\",\"user_id\":\"u1\",\"delete_type\":1}",
        "{\"specversion\":\"1.0\",\"id\":\"c1\",\"type\":\"account-deleted\","
        "\"time\":\"t\",\"data\":{\"user_id\":\"u2\",\"delete_type\":\"one-way\"}}",
        "{\"type\":\"other\",\"user_id\":\"u1\"}",
        "{\"type\":\"account-deleted\",\"user_id\":5}",
        "{\"type\":\"account-deleted\",\"user_id\":\"a b\"}",
        "{\"type\":\"account-deleted\",\"user_id\":\"u1\",\"app_id\":7}",
        "{\"type\":\"account-deleted\",\"user_id\":\"u1\",\"app_id\":\"7\"}",
        "{\"type\":\"account-deleted\",\"user_id\":\"u1\",\"delete_type\":2}",
        "{\"type\":[],\"user_id\":\"u1\"}",
        "{\"user_id\":\"u1\"}",
        "{\"type\":\"account-deleted\",\"event_id\":\"\",\"user_id\":\"u1\"}",
        "{\"specversion\":\"1.1\",\"id\":\"c1\",\"type\":\"account-deleted\",\"data\":{}}",
        "{\"specversion\":\"1.0\",\"type\":\"account-deleted\",\"data\":null}",
        "{\"specversion\":\"1.0\",\"id\":\"c\",\"type\":\"account-deleted\","
        "\"data_base64\":\"eA==\"}",
    };
    config_t cfg = make_cfg();

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char slow[512];
        jread_doc_t doc;
        event_t a, b;
        event_status_t sa, sb;

        TT_EQ_INT(jread_scan(&doc, bodies[i], strlen(bodies[i]), JREAD_REJECT_DUPLICATES), 0);
        snprintf(slow, sizeof(slow), "{\"pad\":0.5,%s", bodies[i] + 1);
        TT_EQ_INT(jread_scan(&doc, slow, strlen(slow), JREAD_REJECT_DUPLICATES), -1);
        sa = event_parse(&cfg, bodies[i], strlen(bodies[i]), TOPIC, 3, 42, &a);
        sb = event_parse(&cfg, slow, strlen(slow), TOPIC, 3, 42, &b);
        TT_EQ_INT(sa, sb);
        TT_EQ_STR(a.error, b.error);
        TT_CHECK(same_str(a.type, b.type) && same_str(a.user_id, b.user_id) &&
                 same_str(a.event_id, b.event_id) && same_str(a.occurred_at, b.occurred_at));
        TT_EQ_INT(a.delete_type, b.delete_type);
        if (i < 4)
            TT_EQ_INT(sa, EVENT_OK);
        event_clear(&a);
        event_clear(&b);
    }
}

static void test_clear(void)
{
    event_t ev;

    event_clear(NULL);
    TT_EQ_INT(parse(&ev, "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"occurred_at\":\"t\"}"),
              EVENT_OK);
    event_clear(&ev);
    TT_CHECK(ev.type == NULL && ev.user_id == NULL && ev.event_id == NULL);
    TT_CHECK(ev.occurred_at == NULL && ev.error[0] == '\0');
    event_clear(&ev); /* twice is fine */
}

int main(void)
{
    TT_RUN(test_valid_full);
    TT_RUN(test_valid_minimal_defaults);
    TT_RUN(test_event_id);
    TT_RUN(test_type);
    TT_RUN(test_unknown_type);
    TT_RUN(test_user_id);
    TT_RUN(test_user_id_valid);
    TT_RUN(test_delete_type);
    TT_RUN(test_app_id);
    TT_RUN(test_occurred_at);
    TT_RUN(test_not_an_object);
    TT_RUN(test_not_json);
    TT_RUN(test_bad_utf8);
    TT_RUN(test_size_limit);
    TT_RUN(test_nesting);
    TT_RUN(test_duplicate_keys);
    TT_RUN(test_cloudevents);
    TT_RUN(test_schema_examples);
    TT_RUN(test_both_parsers);
    TT_RUN(test_clear);
    TT_DONE();
}
