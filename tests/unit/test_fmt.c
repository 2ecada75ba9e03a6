/* test_fmt.c - fast integer and UTC time formatting, against printf and
 * gmtime_r. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/fmt.h"
#include "tests/unit/tt.h"

static uint64_t rnd_state = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
    return tt_rand(&rnd_state);
}

static void expect_i64(int64_t v)
{
    char got[FMT_I64_MAX], want[32];
    size_t n = fmt_i64(got, v);

    snprintf(want, sizeof(want), "%" PRId64, v);
    TT_EQ_STR(got, want);
    TT_EQ_INT(n, strlen(want));
}

static void test_i64(void)
{
    int64_t fixed[] = {0,  1,   -1,           9,         10,        -10,
                       99, 100, 4294967295LL, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    int bad = 0;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        expect_i64(fixed[i]);
    for (int i = 0; i < 100000; i++) {
        int64_t v = (int64_t)(rnd() >> (rnd() % 64));
        char got[FMT_I64_MAX], want[32];
        if (rnd() % 2)
            v = -v;
        fmt_i64(got, v);
        snprintf(want, sizeof(want), "%" PRId64, v);
        bad += strcmp(got, want) != 0;
    }
    TT_EQ_INT(bad, 0);
}

/* The C library's answer, for times gmtime_r can give. */
static void ref_time(int64_t ms, char *out, size_t size)
{
    int64_t secs = ms / 1000, rem = ms % 1000;
    time_t t;
    struct tm tm;

    if (rem < 0) {
        rem += 1000;
        secs--;
    }
    t = (time_t)secs;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
}

static void expect_time(int64_t ms, const char *want)
{
    char buf[FMT_TIME_MAX];

    TT_EQ_INT(fmt_time_ms(buf, ms), 24);
    TT_EQ_STR(buf, want);
}

/* Edges: milliseconds truncated, never rounded; before 1970; 2038; leap
 * years; the four-digit bounds and the clamping beyond them. */
static void test_time_edges(void)
{
    expect_time(0, "1970-01-01T00:00:00.000Z");
    expect_time(1, "1970-01-01T00:00:00.001Z");
    expect_time(999, "1970-01-01T00:00:00.999Z");
    expect_time(1000, "1970-01-01T00:00:01.000Z");
    expect_time(1999, "1970-01-01T00:00:01.999Z");
    expect_time(59999, "1970-01-01T00:00:59.999Z");
    expect_time(-1, "1969-12-31T23:59:59.999Z");
    expect_time(-1000, "1969-12-31T23:59:59.000Z");
    expect_time(-1001, "1969-12-31T23:59:58.999Z");
    expect_time(1795629600123LL, "2026-11-25T18:00:00.123Z");
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
}

static void test_time(void)
{
    char got[FMT_TIME_MAX], want[64];
    int bad = 0;

    TT_EQ_INT(fmt_time_ms(got, 0), 24);
    TT_EQ_STR(got, "1970-01-01T00:00:00.000Z");
    fmt_time_ms(got, -1);
    TT_EQ_STR(got, "1969-12-31T23:59:59.999Z");
    fmt_time_ms(got, 951868799999LL);
    TT_EQ_STR(got, "2000-02-29T23:59:59.999Z");
    fmt_time_ms(got, 4107456000000LL);
    TT_EQ_STR(got, "2100-02-28T00:00:00.000Z");
    fmt_time_ms(got, INT64_MAX);
    TT_EQ_STR(got, "9999-12-31T23:59:59.999Z");
    fmt_time_ms(got, INT64_MIN);
    TT_EQ_STR(got, "0000-01-01T00:00:00.000Z");
    fmt_time_ms(got, -62135596800000LL);
    TT_EQ_STR(got, "0001-01-01T00:00:00.000Z");
    /* Random times over the whole four-digit range, and every day boundary
     * of 1969..2101. */
    for (int i = 0; i < 200000; i++) {
        int64_t ms = (int64_t)(rnd() % 315537897600000ULL) - 62167219200000LL;
        fmt_time_ms(got, ms);
        ref_time(ms, want, sizeof(want));
        if (strcmp(got, want) != 0 && bad++ < 3)
            fprintf(stderr, "%" PRId64 ": %s != %s\n", ms, got, want);
    }
    for (int64_t day = -366; day < 48000; day++) {
        for (int64_t d = -1; d <= 0; d++) {
            int64_t ms = day * 86400000LL + d;
            fmt_time_ms(got, ms);
            ref_time(ms, want, sizeof(want));
            if (strcmp(got, want) != 0 && bad++ < 3)
                fprintf(stderr, "%" PRId64 ": %s != %s\n", ms, got, want);
        }
    }
    TT_EQ_INT(bad, 0);
}

int main(void)
{
    TT_RUN(test_i64);
    TT_RUN(test_time_edges);
    TT_RUN(test_time);
    TT_DONE();
}
