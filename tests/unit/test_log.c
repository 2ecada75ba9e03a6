/* test_log.c - common/log: exact output, gating, escaping, UTF-8, truncation,
 * redaction and concurrent writers. */
#include "common/log.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "tests/unit/fail_malloc.h"
#include "tests/unit/tt.h"

#define TS_LEN 24 /* 2026-11-25T18:00:00.123Z */

typedef struct sink {
    int rd, wr;
    char buf[1 << 16];
} sink_t;

static void sink_open(sink_t *s)
{
    int fds[2];
    TT_CHECK(pipe(fds) == 0);
    s->rd = fds[0];
    s->wr = fds[1];
    TT_CHECK(fcntl(s->rd, F_SETFL, O_NONBLOCK) == 0);
}

/* Everything written so far, NUL-terminated. */
static const char *sink_read(sink_t *s)
{
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(s->buf) - 1 &&
           (n = read(s->rd, s->buf + len, sizeof(s->buf) - 1 - len)) > 0)
        len += (size_t)n;
    s->buf[len] = '\0';
    return s->buf;
}

static void sink_close(sink_t *s)
{
    close(s->rd);
    close(s->wr);
}

static int ts_ok(const char *t)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < TS_LEN; i++) {
        if (pat[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != pat[i])
            return 0;
    }
    return 1;
}

/* Checks a JSON line: {"ts":"<valid ts>", then exactly `rest`. */
static void check_json_line(const char *line, const char *rest)
{
    TT_CHECK(strncmp(line, "{\"ts\":\"", 7) == 0);
    TT_CHECK(strlen(line) > 7 + TS_LEN && ts_ok(line + 7));
    if (strlen(line) > 7 + TS_LEN)
        TT_EQ_STR(line + 7 + TS_LEN, rest);
}

static void check_text_line(const char *line, const char *rest)
{
    TT_CHECK(strlen(line) > TS_LEN && ts_ok(line));
    if (strlen(line) > TS_LEN)
        TT_EQ_STR(line + TS_LEN, rest);
}

static void test_json_exact(void)
{
    sink_t s;
    sink_open(&s);
    log_t *lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    TT_CHECK(lg != NULL);
    log_msg(lg, LOG_INFO, "started", "topic", "account-events", "dlq", NULL, NULL);
    check_json_line(sink_read(&s), "\",\"level\":\"info\",\"msg\":\"started\","
                                   "\"topic\":\"account-events\",\"dlq\":null}\n");
    log_msg(lg, LOG_ERROR, "boom", NULL);
    check_json_line(sink_read(&s), "\",\"level\":\"error\",\"msg\":\"boom\"}\n");
    log_msg(lg, LOG_WARN, NULL, "k", "", NULL);
    check_json_line(sink_read(&s), "\",\"level\":\"warn\",\"msg\":\"\",\"k\":\"\"}\n");
    /* Numbers: "#key" takes a long long, written as a JSON number. */
    log_msg(lg, LOG_INFO, "n", "#attempts", LOG_NUM(3), "s", "x", "#off",
            LOG_NUM(-9007199254740993LL), NULL);
    check_json_line(sink_read(&s), "\",\"level\":\"info\",\"msg\":\"n\",\"attempts\":3,"
                                   "\"s\":\"x\",\"off\":-9007199254740993}\n");
    log_destroy(lg);
    sink_close(&s);
}

static void test_text_exact(void)
{
    sink_t s;
    sink_open(&s);
    log_t *lg = log_new(s.wr, LOG_DEBUG, LOG_FORMAT_TEXT, NULL, 0);
    log_msg(lg, LOG_INFO, "started", "topic", "account-events", "note", "two words", "empty", "",
            "eq", "a=b", "q", "say \"hi\"", "none", NULL, NULL);
    check_text_line(sink_read(&s), " INFO started topic=account-events note=\"two words\" "
                                   "empty=\"\" eq=\"a=b\" q=\"say \\\"hi\\\"\" none=null\n");
    log_msg(lg, LOG_DEBUG, "line\nbreak", "k", "tab\there", NULL);
    check_text_line(sink_read(&s), " DEBUG line\\nbreak k=\"tab\\there\"\n");
    log_msg(lg, LOG_WARN, "w", "bin", "\x01", NULL);
    check_text_line(sink_read(&s), " WARN w bin=\"\\x01\"\n");
    log_msg(lg, LOG_INFO, "n", "#attempts", LOG_NUM(12), NULL);
    check_text_line(sink_read(&s), " INFO n attempts=12\n");
    log_msg(lg, LOG_ERROR, "e", NULL);
    check_text_line(sink_read(&s), " ERROR e\n");
    log_destroy(lg);
    sink_close(&s);
}

static void test_level_gating(void)
{
    sink_t s;
    sink_open(&s);
    log_t *lg = log_new(s.wr, LOG_WARN, LOG_FORMAT_JSON, NULL, 0);
    TT_CHECK(log_enabled(lg, LOG_ERROR));
    TT_CHECK(log_enabled(lg, LOG_WARN));
    TT_CHECK(!log_enabled(lg, LOG_INFO));
    TT_CHECK(!log_enabled(lg, LOG_DEBUG));
    TT_CHECK(!log_enabled(lg, (log_level_t)7));
    TT_CHECK(!log_enabled(NULL, LOG_ERROR));
    log_msg(lg, LOG_INFO, "hidden", NULL);
    log_msg(lg, LOG_DEBUG, "hidden", NULL);
    TT_EQ_STR(sink_read(&s), "");
    log_msg(lg, LOG_WARN, "shown", NULL);
    TT_CHECK(strstr(sink_read(&s), "\"msg\":\"shown\"") != NULL);
    log_set_level(lg, LOG_DEBUG);
    log_msg(lg, LOG_DEBUG, "now", NULL);
    TT_CHECK(strstr(sink_read(&s), "\"level\":\"debug\",\"msg\":\"now\"") != NULL);
    log_set_level(lg, (log_level_t)9); /* ignored */
    TT_CHECK(log_enabled(lg, LOG_DEBUG));
    log_set_level(lg, LOG_ERROR);
    log_msg(lg, LOG_WARN, "hidden", NULL);
    TT_EQ_STR(sink_read(&s), "");
    log_msg(NULL, LOG_ERROR, "no logger", NULL); /* does nothing */
    log_destroy(lg);
    log_destroy(NULL);
    sink_close(&s);
}

static void test_escaping(void)
{
    sink_t s;
    sink_open(&s);
    log_t *lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    const char *v = "q\"b\\n\nr\rt\tb\bf\fc\x01\x1f\x7f/<>";
    log_msg(lg, LOG_INFO, "esc", "k\"ey", v, NULL);
    const char *line = sink_read(&s);
    check_json_line(line, "\",\"level\":\"info\",\"msg\":\"esc\",\"k\\\"ey\":"
                          "\"q\\\"b\\\\n\\nr\\rt\\tb\\u0008f\\u000cc\\u0001\\u001f\\u007f/<>\"}\n");
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    TT_CHECK(j != NULL);
    TT_EQ_STR(json_string_value(json_object_get(j, "k\"ey")), v);
    json_decref(j);
    log_destroy(lg);
    sink_close(&s);
}

/* Valid UTF-8 that could forge or hide content: NEL (U+0085) and the other C1
 * controls, U+2028/U+2029 and the bidi controls are escaped in both formats;
 * a neighbouring ordinary character (U+00A0, U+2027, U+202F) is not. */
static void test_unsafe_code_points(void)
{
    static const char v[] = "a\xc2\x85"                        /* U+0085 NEL */
                            "\xc2\x9f"                         /* U+009F */
                            "\xc2\xa0"                         /* U+00A0: kept */
                            "\xe2\x80\xa8\xe2\x80\xa9"         /* U+2028 U+2029 */
                            "\xe2\x80\xa7"                     /* U+2027: kept */
                            "\xe2\x80\xae\xe2\x80\xaa"         /* U+202E U+202A */
                            "\xe2\x80\xaf"                     /* U+202F: kept */
                            "\xe2\x81\xa6\xe2\x81\xa9"         /* U+2066 U+2069 */
                            "\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c" /* LRM RLM ALM */
                            "z";
    static const char esc[] = "a\\u0085\\u009f\xc2\xa0\\u2028\\u2029\xe2\x80\xa7\\u202e"
                              "\\u202a\xe2\x80\xaf\\u2066\\u2069\\u200e\\u200f\\u061cz";
    char want[256];
    sink_t s;
    sink_open(&s);
    log_t *lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    log_msg(lg, LOG_INFO, v, "k", v, NULL);
    const char *line = sink_read(&s);
    snprintf(want, sizeof(want), "\",\"level\":\"info\",\"msg\":\"%s\",\"k\":\"%s\"}\n", esc, esc);
    check_json_line(line, want);
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    TT_CHECK(j != NULL);
    TT_EQ_STR(json_string_value(json_object_get(j, "k")), v); /* the escapes decode back */
    json_decref(j);
    log_destroy(lg);

    lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_TEXT, NULL, 0);
    log_msg(lg, LOG_INFO, "m", "k", v, NULL);
    snprintf(want, sizeof(want), " INFO m k=\"%s\"\n", esc);
    check_text_line(sink_read(&s), want);
    log_destroy(lg);
    sink_close(&s);
}

static void test_invalid_utf8(void)
{
    sink_t s;
    sink_open(&s);
    log_t *lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    /* valid é and €; lone 0xff; overlong E0 80 80; surrogate ED A0 80; cut C3 */
    log_msg(lg, LOG_INFO, "u", "v", "\xc3\xa9\xe2\x82\xac|\xff|\xe0\x80\x80|\xed\xa0\x80|\xc3",
            NULL);
    const char *line = sink_read(&s);
    check_json_line(line, "\",\"level\":\"info\",\"msg\":\"u\",\"v\":\"\xc3\xa9\xe2\x82\xac|"
                          "\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\"}\n");
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    TT_CHECK(j != NULL);
    json_decref(j);
    log_destroy(lg);

    lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_TEXT, NULL, 0);
    log_msg(lg, LOG_INFO, "u\xff", "v", "a\xfe", NULL);
    check_text_line(sink_read(&s), " INFO u\xef\xbf\xbd v=\"a\xef\xbf\xbd\"\n");
    log_destroy(lg);
    sink_close(&s);
}

/* Logs one huge value (and a field after it), checks the line is complete,
 * at most 8 KiB, valid JSON and marked truncated. */
static void check_truncated(const char *unit, size_t reps, int valid_utf8)
{
    size_t ulen = strlen(unit);
    char *big = malloc(ulen * reps + 1);
    for (size_t i = 0; i < reps; i++)
        memcpy(big + i * ulen, unit, ulen);
    big[ulen * reps] = '\0';

    sink_t s;
    sink_open(&s);
    log_t *lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    log_msg(lg, LOG_INFO, "big", "first", "kept", "huge", big, "after", "dropped", NULL);
    const char *line = sink_read(&s);
    size_t len = strlen(line);
    TT_CHECK(len > 4096 && len <= 8192);
    TT_CHECK(len > 0 && line[len - 1] == '\n');
    TT_CHECK(strchr(line, '\n') == line + len - 1);
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    TT_CHECK(j != NULL);
    if (j) {
        const char *h = json_string_value(json_object_get(j, "huge"));
        TT_EQ_STR(json_string_value(json_object_get(j, "msg")), "big");
        TT_EQ_STR(json_string_value(json_object_get(j, "first")), "kept");
        TT_CHECK(json_object_get(j, "after") == NULL);
        TT_CHECK(json_is_true(json_object_get(j, "truncated")));
        TT_CHECK(h != NULL && strlen(h) > 1000);
        TT_CHECK(h != NULL && (!valid_utf8 || strncmp(h, big, strlen(h)) == 0));
        json_decref(j);
    }
    /* The same record in text format: one line, bounded, marked. */
    log_destroy(lg);
    lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_TEXT, NULL, 0);
    log_msg(lg, LOG_INFO, "big", "huge", big, "after", "dropped", NULL);
    line = sink_read(&s);
    len = strlen(line);
    TT_CHECK(len > 4096 && len <= 8192);
    TT_CHECK(strchr(line, '\n') == line + len - 1);
    TT_CHECK(len > 16 && strcmp(line + len - 16, " truncated=true\n") == 0);
    TT_CHECK(strstr(line, "after") == NULL);
    log_destroy(lg);
    sink_close(&s);
    free(big);
}

static void test_truncation(void)
{
    check_truncated("x", 100000, 1);
    check_truncated("\xc3\xa9", 50000, 1);         /* never split a UTF-8 sequence */
    check_truncated("\"", 50000, 1);               /* never split an escape */
    check_truncated("\x01", 50000, 1);             /* nor a \u escape */
    check_truncated("\xe2\x82\xac\xff", 30000, 0); /* mixed valid and replaced */

    /* A huge message: still one valid, bounded line. */
    char *big = malloc(20001);
    memset(big, 'm', 20000);
    big[20000] = '\0';
    sink_t s;
    sink_open(&s);
    log_t *lg = log_new(s.wr, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    log_msg(lg, LOG_INFO, big, "k", "v", NULL);
    const char *line = sink_read(&s);
    TT_CHECK(strlen(line) <= 8192);
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    TT_CHECK(j != NULL && json_is_true(json_object_get(j, "truncated")));
    TT_CHECK(j != NULL && json_object_get(j, "k") == NULL);
    json_decref(j);
    /* A huge key is dropped whole. */
    log_msg(lg, LOG_INFO, "m", big, "v", NULL);
    line = sink_read(&s);
    check_json_line(line, "\",\"level\":\"info\",\"msg\":\"m\",\"truncated\":true}\n");
    log_destroy(lg);
    sink_close(&s);
    free(big);
}

static void test_redaction(void)
{
    static const char fox[] = "The quick brown fox jumps over the lazy dog";
    char b1[16], b2[16], b3[16], small[8];
    log_t *a = log_new(-1, LOG_INFO, LOG_FORMAT_JSON, "key", 3);
    log_t *a2 = log_new(-1, LOG_INFO, LOG_FORMAT_JSON, "key", 3);
    log_t *b = log_new(-1, LOG_INFO, LOG_FORMAT_JSON, "other", 5);
    log_t *off = log_new(-1, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    /* HMAC-SHA256("key", fox) = f7bc83f430538424b13298e6aa6fb143... */
    TT_EQ_STR(log_user(a, fox, b1, sizeof(b1)), "u:f7bc83f43053");
    TT_EQ_STR(log_user(a2, fox, b2, sizeof(b2)), "u:f7bc83f43053"); /* stable across replicas */
    TT_CHECK(strcmp(log_user(b, fox, b3, sizeof(b3)), b1) != 0);    /* differs per key */
    TT_CHECK(strcmp(log_user(a, "u123", b2, sizeof(b2)), b1) != 0); /* differs per user */
    TT_CHECK(strstr(log_user(a, "u123", b2, sizeof(b2)), "u123") == NULL);
    TT_EQ_STR(log_user(a, "u123", small, sizeof(small)), "u:?"); /* never the raw id */
    const char *raw = "u123";
    TT_CHECK(log_user(off, raw, b1, sizeof(b1)) == raw);
    TT_CHECK(log_user(NULL, raw, b1, sizeof(b1)) == raw);
    TT_CHECK(log_user(a, NULL, b1, sizeof(b1)) == NULL);

    /* An empty key still redacts. */
    log_t *e = log_new(-1, LOG_INFO, LOG_FORMAT_JSON, "", 0);
    TT_CHECK(strncmp(log_user(e, raw, b1, sizeof(b1)), "u:", 2) == 0 && strlen(b1) == 14);

    /* The raw id never reaches the line. */
    sink_t s;
    sink_open(&s);
    log_t *w = log_new(s.wr, LOG_INFO, LOG_FORMAT_JSON, "key", 3);
    log_msg(w, LOG_INFO, "deleted", "user", log_user(w, "alice-42", b1, sizeof(b1)), NULL);
    const char *line = sink_read(&s);
    TT_CHECK(strstr(line, "alice-42") == NULL);
    TT_CHECK(strstr(line, "\"user\":\"u:") != NULL);
    sink_close(&s);
    log_destroy(w);
    log_destroy(a);
    log_destroy(a2);
    log_destroy(b);
    log_destroy(off);
    log_destroy(e);
}

static void test_parse(void)
{
    log_level_t l = LOG_ERROR;
    log_format_t f = LOG_FORMAT_TEXT;
    const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        TT_EQ_INT(log_level_parse(names[i], &l), 0);
        TT_EQ_INT(l, i);
        TT_EQ_STR(log_level_name(l), names[i]);
    }
    TT_EQ_INT(log_level_parse("INFO", &l), -1);
    TT_EQ_INT(log_level_parse("trace", &l), -1);
    TT_EQ_INT(log_level_parse(NULL, &l), -1);
    TT_EQ_STR(log_level_name((log_level_t)4), "unknown");
    TT_EQ_INT(log_format_parse("json", &f), 0);
    TT_EQ_INT(f, LOG_FORMAT_JSON);
    TT_EQ_INT(log_format_parse("text", &f), 0);
    TT_EQ_INT(f, LOG_FORMAT_TEXT);
    TT_EQ_INT(log_format_parse("xml", &f), -1);
    TT_EQ_INT(log_format_parse(NULL, &f), -1);
}

#define THREADS    4
#define PER_THREAD 250

static void *writer(void *arg)
{
    log_t *lg = arg;
    char v[3000];
    memset(v, 'a', sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    for (int i = 0; i < PER_THREAD; i++)
        log_msg(lg, LOG_INFO, "concurrent", "pad", v, NULL);
    return NULL;
}

/* Records from several threads never interleave: every line parses. */
static void test_threads(void)
{
    char path[] = "/tmp/zu_test_log_XXXXXX";
    int fd = mkstemp(path);
    TT_CHECK(fd >= 0);
    int afd = open(path, O_WRONLY | O_APPEND);
    log_t *lg = log_new(afd, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        TT_CHECK(pthread_create(&th[i], NULL, writer, lg) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    log_destroy(lg);
    close(afd);

    FILE *f = fdopen(fd, "r");
    char *line = NULL;
    size_t cap = 0;
    int lines = 0, bad = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        if (!j || strlen(json_string_value(json_object_get(j, "pad"))) != 2999)
            bad++;
        json_decref(j);
        lines++;
    }
    free(line);
    fclose(f);
    unlink(path);
    TT_EQ_INT(lines, THREADS * PER_THREAD);
    TT_EQ_INT(bad, 0);
}

/* Lines of text, each with "msg":"<name>", in order: 1 when text has exactly
 * these messages. */
static int msgs_are(const char *text, const char *const *names, int n)
{
    const char *p = text;
    for (int i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "\"msg\":\"%s\"", names[i]);
        const char *nl = strchr(p, '\n'), *hit = strstr(p, want);
        if (!nl || !hit || hit > nl)
            return 0;
        p = nl + 1;
    }
    return *p == '\0';
}

static void *hold_other(void *arg)
{
    log_t *lg = arg;
    log_hold(lg, 1); /* not the owner: nothing */
    log_msg(lg, LOG_INFO, "t1", NULL);
    return (void *)(intptr_t)(log_held_since(lg) != 0); /* the owner's hold is not ours */
}

/* The owner's info and debug records wait for log_flush; a warning writes
 * them first, then itself; another thread's records go out at once and it
 * cannot hold; log_hold(0) and log_destroy flush. */
static void test_hold(void)
{
    sink_t *s = calloc(1, sizeof(*s));
    pthread_t th;

    sink_open(s);
    log_t *lg = log_new(s->wr, LOG_DEBUG, LOG_FORMAT_JSON, NULL, 0);
    void *other_saw;
    int64_t t0 = clock_mono_us(), since;

    log_hold(lg, 1);
    TT_EQ_INT(log_held_since(lg), 0);
    log_msg(lg, LOG_INFO, "a", NULL);
    since = log_held_since(lg);
    TT_CHECK(since >= t0 && since <= clock_mono_us());
    log_msg(lg, LOG_DEBUG, "b", NULL);
    TT_EQ_INT(log_held_since(lg), since); /* the oldest held record's */
    TT_EQ_STR(sink_read(s), "");
    log_msg(lg, LOG_WARN, "c", NULL);
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"a", "b", "c"}, 3));
    TT_EQ_INT(log_held_since(lg), 0);
    log_msg(lg, LOG_INFO, "d", NULL);
    TT_EQ_STR(sink_read(s), "");
    TT_CHECK(log_held_since(lg) != 0);
    log_flush(lg);
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"d"}, 1));
    TT_EQ_INT(log_held_since(lg), 0);
    log_msg(lg, LOG_INFO, "m1", NULL);
    TT_CHECK(pthread_create(&th, NULL, hold_other, lg) == 0);
    pthread_join(th, &other_saw);
    TT_CHECK(other_saw == NULL);
    TT_CHECK(log_held_since(lg) != 0);
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"t1"}, 1));
    log_msg(lg, LOG_ERROR, "e", NULL);
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"m1", "e"}, 2));
    log_msg(lg, LOG_INFO, "f", NULL);
    log_hold(lg, 0);
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"f"}, 1));
    log_msg(lg, LOG_INFO, "g", NULL); /* not holding: at once */
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"g"}, 1));
    log_hold(lg, 1);
    log_msg(lg, LOG_INFO, "h", NULL);
    log_destroy(lg);
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"h"}, 1));
    sink_close(s);
    free(s);
}

/* More held records than the buffer takes: whole records are written as it
 * fills, none lost or reordered. */
static void test_hold_full(void)
{
    char path[] = "/tmp/zu_test_log_XXXXXX", pad[300];
    int fd = mkstemp(path), lines = 0, in_order = 1;
    log_t *lg = fd >= 0 ? log_new(fd, LOG_INFO, LOG_FORMAT_JSON, NULL, 0) : NULL;
    struct stat st;

    TT_CHECK(lg != NULL);
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    log_hold(lg, 1);
    for (int i = 0; i < 1000; i++)
        log_msg(lg, LOG_INFO, "full", "#i", LOG_NUM(i), "pad", pad, NULL);
    TT_CHECK(fstat(fd, &st) == 0 && st.st_size > 0);
    off_t before = st.st_size;
    char last = 0;
    TT_CHECK(pread(fd, &last, 1, before - 1) == 1 && last == '\n'); /* whole records */
    log_flush(lg);
    TT_CHECK(fstat(fd, &st) == 0 && st.st_size > before); /* some were still held */
    log_destroy(lg);

    FILE *f = fdopen(fd, "r");
    char *line = NULL;
    size_t cap = 0;
    rewind(f);
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        if (!j || json_integer_value(json_object_get(j, "i")) != lines)
            in_order = 0;
        json_decref(j);
        lines++;
    }
    free(line);
    fclose(f);
    unlink(path);
    TT_EQ_INT(lines, 1000);
    TT_CHECK(in_order);
}

/* No memory for the hold buffer: records go out one by one, none held;
 * a later log_hold that gets it holds. */
static void test_hold_out_of_memory(void)
{
    sink_t *s = calloc(1, sizeof(*s));

    sink_open(s);
    log_t *lg = log_new(s->wr, LOG_INFO, LOG_FORMAT_JSON, NULL, 0);
    fail_mallocs = 1;
    log_hold(lg, 1);
    TT_EQ_INT(fail_mallocs, 0);
    log_msg(lg, LOG_INFO, "a", NULL);
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"a"}, 1));
    log_hold(lg, 1);
    log_msg(lg, LOG_INFO, "b", NULL);
    TT_EQ_STR(sink_read(s), "");
    log_flush(lg);
    TT_CHECK(msgs_are(sink_read(s), (const char *const[]){"b"}, 1));
    log_destroy(lg);
    sink_close(s);
    free(s);
}

int main(void)
{
    TT_RUN(test_json_exact);
    TT_RUN(test_text_exact);
    TT_RUN(test_level_gating);
    TT_RUN(test_escaping);
    TT_RUN(test_unsafe_code_points);
    TT_RUN(test_invalid_utf8);
    TT_RUN(test_truncation);
    TT_RUN(test_redaction);
    TT_RUN(test_parse);
    TT_RUN(test_threads);
    TT_RUN(test_hold);
    TT_RUN(test_hold_full);
    TT_RUN(test_hold_out_of_memory);
    TT_DONE();
}
