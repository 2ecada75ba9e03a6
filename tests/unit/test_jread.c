/* test_jread.c - the allocation-free JSON scanner and the value view.
 *
 * What the scanner takes it must give exactly as jansson does (every case
 * here, and a randomised stream of near-JSON, goes through jread_agrees());
 * what it does not take is listed case by case, with the limits at their
 * edges. */
#include "common/jread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tests/unit/jread_same.h"
#include "tests/unit/tt.h"

static int scan(jread_doc_t *d, const char *s, int flags)
{
    return jread_scan(d, s, strlen(s), flags);
}

static int str_is(jread_val_t v, const char *want)
{
    return v.kind == JREAD_STRING && v.len == strlen(want) && memcmp(v.s, want, v.len) == 0;
}

static void test_event(void)
{
    const char *ev = " {\"specversion\":\"1.0\",\"id\":\"e-1\",\"type\":\"account-deleted\","
                     "\"time\":\"2026-12-07T10:00:00Z\",\"data\":{\"user_id\":\"u1\","
                     "\"delete_type\":1,\"app_id\":-9223372036854775808,\"tags\":[true,false,"
                     "null,[],{}]},\"big\":9223372036854775807}\r\n";
    jread_doc_t d;
    jread_val_t root, data;

    TT_EQ_INT(scan(&d, ev, JREAD_REJECT_DUPLICATES), 0);
    TT_CHECK(jread_agrees(ev, strlen(ev), JREAD_REJECT_DUPLICATES));
    root = jread_root(&d);
    TT_EQ_INT(root.kind, JREAD_OBJECT);
    TT_EQ_INT(d.tok[0].end, d.n);
    TT_CHECK(str_is(jread_get(&root, "specversion"), "1.0"));
    TT_CHECK(str_is(jread_get(&root, "time"), "2026-12-07T10:00:00Z"));
    TT_EQ_INT(jread_get(&root, "big").i, INT64_MAX);
    TT_EQ_INT(jread_get(&root, "user_id").kind, JREAD_ABSENT); /* only in data */
    TT_EQ_INT(jread_get(&root, "").kind, JREAD_ABSENT);
    data = jread_get(&root, "data");
    TT_EQ_INT(data.kind, JREAD_OBJECT);
    TT_CHECK(str_is(jread_get(&data, "user_id"), "u1"));
    TT_EQ_INT(jread_get(&data, "delete_type").kind, JREAD_INTEGER);
    TT_EQ_INT(jread_get(&data, "delete_type").i, 1);
    TT_EQ_INT(jread_get(&data, "app_id").i, INT64_MIN);
    TT_EQ_INT(jread_get(&data, "tags").kind, JREAD_ARRAY);
    /* get on what is not an object finds nothing */
    {
        jread_val_t s = jread_get(&root, "id"), a = jread_get(&data, "tags");
        TT_EQ_INT(jread_get(&s, "id").kind, JREAD_ABSENT);
        TT_EQ_INT(jread_get(&a, "tags").kind, JREAD_ABSENT);
    }
    TT_EQ_INT(scan(&d, "{}", 0), 0);
    TT_EQ_INT(d.n, 1);
    TT_EQ_INT(scan(&d, "{\"\":0,\"a\":\"\"}", JREAD_REJECT_DUPLICATES), 0);
    root = jread_root(&d);
    TT_EQ_INT(jread_get(&root, "").kind, JREAD_INTEGER);
    TT_CHECK(str_is(jread_get(&root, "a"), ""));
}

static void test_escapes(void)
{
    const char *s = "{\"k\\u0041\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u4E2D\\u007f\\uFFFF-é\"}";
    jread_doc_t d;
    jread_val_t root;

    TT_EQ_INT(scan(&d, s, JREAD_REJECT_DUPLICATES), 0);
    TT_CHECK(jread_agrees(s, strlen(s), JREAD_REJECT_DUPLICATES));
    root = jread_root(&d);
    TT_CHECK(
        str_is(jread_get(&root, "kA"), "\"\\/\b\f\n\r\t\xC3\xA9\xE4\xB8\xAD\x7F\xEF\xBF\xBF-é"));
    /* an escaped key is the same key as a plain one */
    TT_EQ_INT(scan(&d, "{\"a\":1,\"\\u0061\":2}", JREAD_REJECT_DUPLICATES), -1);
}

static void test_duplicates(void)
{
    const char *s = "{\"Code\":1,\"Message\":\"x\",\"Code\":2}";
    jread_doc_t d;
    jread_val_t root;

    TT_EQ_INT(scan(&d, s, JREAD_REJECT_DUPLICATES), -1);
    TT_EQ_INT(scan(&d, s, 0), 0); /* jansson's flags 0: the last wins */
    TT_CHECK(jread_agrees(s, strlen(s), 0));
    root = jread_root(&d);
    TT_EQ_INT(jread_get(&root, "Code").i, 2);
    /* keys of different objects never clash */
    TT_EQ_INT(
        scan(&d, "{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}", JREAD_REJECT_DUPLICATES),
        0);
}

/* Each is left to jansson: an error, or what the scanner does not take. */
static void test_not_taken(void)
{
    static const char *const cases[] = {
        "",
        " ",
        "[]",
        "[1]",
        "1",
        "\"x\"",
        "null",
        "\xEF\xBB\xBF{}",
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":1E3}",
        "{\"a\":-0.0}",
        "{\"a\":9223372036854775808}",
        "{\"a\":-9223372036854775809}",
        "{\"a\":99999999999999999999}",
        "{\"a\":01}",
        "{\"a\":-}",
        "{\"a\":-x}",
        "{\"a\":+1}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud83d\\ude00\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\x1f\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xC0\x80\"}",
        "{\"a\":\"\xED\xA0\x80\"}",
        "{\"a\":\"abc",
        "{\"a\":1}x",
        "{\"a\":1} {}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":f}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\"}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":[",
        "{\"a\":1",
        "{\"a\":",
        "{\"a\":\x0b"
        "1}",
        "{\"a\":1}\x0c",
    };
    jread_doc_t d;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = scan(&d, cases[i], 0);
        if (rc != -1)
            fprintf(stderr, "taken: %s\n", cases[i]);
        TT_EQ_INT(rc, -1);
    }
    /* a NUL byte anywhere */
    TT_EQ_INT(jread_scan(&d, "{\"a\":\"\0\"}", 8, 0), -1);
    TT_EQ_INT(jread_scan(&d, "{}\0", 3, 0), -1);
    TT_EQ_INT(jread_scan(&d, "{\"a\":1}", 6, 0), -1); /* cut short */
}

static void test_limits(void)
{
    char buf[8192];
    jread_doc_t d;
    size_t o;
    int k;

    /* JREAD_DEPTH containers one in another are taken, one more is not */
    for (int depth = JREAD_DEPTH; depth <= JREAD_DEPTH + 1; depth++) {
        /* {"a":[[...[1]...]]} */
        o = (size_t)snprintf(buf, sizeof(buf), "{\"a\":");
        for (k = 1; k < depth; k++)
            buf[o++] = '[';
        buf[o++] = '1';
        for (k = 1; k < depth; k++)
            buf[o++] = ']';
        buf[o++] = '}';
        TT_EQ_INT(jread_scan(&d, buf, o, 0), depth == JREAD_DEPTH ? 0 : -1);
        TT_CHECK(jread_agrees(buf, o, 0));
    }
    /* JREAD_TOKENS values (the root, then key and value pairs, then one
     * array element) are taken, one more is not */
    for (int n = JREAD_TOKENS; n <= JREAD_TOKENS + 1; n++) {
        /* the root, (n - 3) / 2 pairs, "z" and its array, 0 or 1 element */
        o = (size_t)snprintf(buf, sizeof(buf), "{");
        for (k = 0; k < (n - 3) / 2; k++)
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\"k%d\":%d,", k, k);
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\"z\":[%s]}", (n - 3) % 2 ? "1" : "");
        TT_EQ_INT(jread_scan(&d, buf, o, 0), n == JREAD_TOKENS ? 0 : -1);
        if (n == JREAD_TOKENS)
            TT_EQ_INT(d.n, JREAD_TOKENS);
    }
    /* JREAD_SCRATCH bytes of escaped strings are taken, one more is not */
    for (int n = JREAD_SCRATCH; n <= JREAD_SCRATCH + 1; n++) {
        o = (size_t)snprintf(buf, sizeof(buf), "{\"a\":\"\\n");
        memset(buf + o, 'x', (size_t)n - 101);
        o += (size_t)n - 101;
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\",\"b\":\"\\t");
        memset(buf + o, 'y', 99); /* n - 100 and 100 bytes decoded */
        o += 99;
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\",\"c\":\"no escape, no scratch\"}");
        TT_EQ_INT(jread_scan(&d, buf, o, 0), n == JREAD_SCRATCH ? 0 : -1);
        TT_CHECK(jread_agrees(buf, o, 0));
    }
    /* a plain string of any length needs no scratch */
    o = (size_t)snprintf(buf, sizeof(buf), "{\"a\":\"");
    memset(buf + o, 'x', 6000);
    o += 6000;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\"}");
    TT_EQ_INT(jread_scan(&d, buf, o, 0), 0);
    TT_EQ_INT(d.tok[2].len, 6000);
}

/* Random JSON: objects and arrays with keys and values drawn from a few
 * that repeat (so duplicates occur), escapes, numbers at the edges. */
static const char *const atoms[] = {
    "0",
    "-0",
    "-1",
    "12",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
    "1e2",
    "true",
    "false",
    "null",
    "\"\"",
    "\"a\"",
    "\"a\\u0062\"",
    "\"\\n\\\"\"",
    "\"\xC3\xA9\"",
    "\"\\u00e9\"",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "\"user_id\"",
};
static const char *const keys[] = {"\"a\"", "\"b\"", "\"\\u0061\"", "\"\"", "\"Code\""};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void put(char *buf, size_t size, size_t *o, const char *s)
{
    size_t l = strlen(s);
    if (*o + l < size) {
        memcpy(buf + *o, s, l);
        *o += l;
    }
}

static void gen(uint64_t *rng, char *buf, size_t size, size_t *o, int depth, int obj)
{
    int n = (int)(tt_rand(rng) % 5);

    put(buf, size, o, obj ? "{" : "[");
    for (int k = 0; k < n; k++) {
        if (k)
            put(buf, size, o, tt_rand(rng) % 3 ? "," : " , ");
        if (obj) {
            put(buf, size, o, keys[tt_rand(rng) % NELEM(keys)]);
            put(buf, size, o, tt_rand(rng) % 3 ? ":" : "\t:\n");
        }
        if (depth < 20 && tt_rand(rng) % 4 == 0)
            gen(rng, buf, size, o, depth + 1, (int)(tt_rand(rng) % 2));
        else
            put(buf, size, o, atoms[tt_rand(rng) % NELEM(atoms)]);
    }
    put(buf, size, o, obj ? "}" : "]");
}

/* Whatever the scanner takes of random JSON, some of it then damaged (a
 * byte changed, dropped or cut), jansson must give alike. */
static void test_random_agrees(void)
{
    static const char junk[] = "{}[],:\"\\ \x01\x80\xC3-0e.tx";
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    char buf[4096];
    int taken = 0, disagree = 0;

    for (int it = 0; it < 100000; it++) {
        size_t o = 0;
        int flags = (int)(tt_rand(&rng) % 2);
        jread_doc_t d;

        gen(&rng, buf, sizeof(buf), &o, 0, 1);
        switch (tt_rand(&rng) % 6) {
        case 0:
            buf[tt_rand(&rng) % o] = junk[tt_rand(&rng) % (sizeof(junk) - 1)];
            break;
        case 1: {
            size_t at = tt_rand(&rng) % o;
            memmove(buf + at, buf + at + 1, o - at - 1);
            o--;
            break;
        }
        case 2:
            o = tt_rand(&rng) % o;
            break;
        default:
            break;
        }
        taken += jread_scan(&d, buf, o, flags) == 0;
        if (!jread_agrees(buf, o, flags) && disagree++ < 5)
            fprintf(stderr, "disagree (flags %d): %.*s\n", flags, (int)o, buf);
    }
    TT_EQ_INT(disagree, 0);
    TT_CHECK(taken > 10000); /* the stream reaches the scanner's yes, not only its no */
    fprintf(stderr, "  %d of 100000 taken\n", taken);
}

/* The view over jansson's values, and the kinds' names. */
static void test_wrap(void)
{
    json_t *j = json_loads("{\"s\":\"a\\u0000b\",\"i\":-7,\"r\":2.5,\"t\":true,\"f\":false,"
                           "\"n\":null,\"a\":[],\"o\":{\"x\":1}}",
                           JSON_ALLOW_NUL, NULL);
    jread_val_t root = jread_wrap(j), v;

    TT_EQ_INT(root.kind, JREAD_OBJECT);
    v = jread_get(&root, "s");
    TT_CHECK(v.kind == JREAD_STRING && v.len == 3 && memcmp(v.s, "a\0b", 3) == 0);
    TT_EQ_INT(jread_get(&root, "i").i, -7);
    TT_CHECK(jread_get(&root, "r").kind == JREAD_REAL && jread_get(&root, "r").r == 2.5);
    TT_EQ_INT(jread_get(&root, "t").kind, JREAD_TRUE);
    TT_EQ_INT(jread_get(&root, "f").kind, JREAD_FALSE);
    TT_EQ_INT(jread_get(&root, "n").kind, JREAD_NULL);
    TT_EQ_INT(jread_get(&root, "a").kind, JREAD_ARRAY);
    TT_EQ_INT(jread_get(&root, "missing").kind, JREAD_ABSENT);
    v = jread_get(&root, "o");
    TT_EQ_INT(jread_get(&v, "x").i, 1);
    TT_EQ_INT(jread_wrap(NULL).kind, JREAD_ABSENT);
    TT_EQ_STR(jread_kind_name(JREAD_OBJECT), "an object");
    TT_EQ_STR(jread_kind_name(JREAD_ARRAY), "an array");
    TT_EQ_STR(jread_kind_name(JREAD_STRING), "a string");
    TT_EQ_STR(jread_kind_name(JREAD_INTEGER), "a number");
    TT_EQ_STR(jread_kind_name(JREAD_REAL), "a number");
    TT_EQ_STR(jread_kind_name(JREAD_TRUE), "a boolean");
    TT_EQ_STR(jread_kind_name(JREAD_FALSE), "a boolean");
    TT_EQ_STR(jread_kind_name(JREAD_NULL), "null");
    json_decref(j);
}

int main(void)
{
    TT_RUN(test_event);
    TT_RUN(test_escapes);
    TT_RUN(test_duplicates);
    TT_RUN(test_not_taken);
    TT_RUN(test_limits);
    TT_RUN(test_random_agrees);
    TT_RUN(test_wrap);
    TT_DONE();
}
