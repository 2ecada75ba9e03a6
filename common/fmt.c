/* fmt.c - fast formatting of integers and UTC times (see fmt.h). */
#include "common/fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* RFC 3339 needs a four-digit year: 0000-01-01 .. 9999-12-31T23:59:59.999. */
#define TIME_MIN_MS (-62167219200000LL)
#define TIME_MAX_MS (253402300799999LL)

size_t fmt_i64(char *out, int64_t v)
{
    char tmp[FMT_I64_MAX];
    size_t n = 0, len = 0;
    /* Negated as unsigned: INT64_MIN has no positive counterpart. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* The proleptic Gregorian date of a day count since 1970-01-01 (Howard
 * Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, yoe, doy, mp;
    unsigned doe;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

size_t fmt_time_ms(char *out, int64_t unix_ms)
{
    int64_t secs, ms, days, sod;
    int y, mo, d;

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
    days = secs / 86400;
    sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    civil_from_days(days, &y, &mo, &d);
    put2(out, y / 100);
    put2(out + 2, y % 100);
    out[4] = '-';
    put2(out + 5, mo);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, (int)(sod / 3600));
    out[13] = ':';
    put2(out + 14, (int)(sod / 60 % 60));
    out[16] = ':';
    put2(out + 17, (int)(sod % 60));
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    put2(out + 21, (int)(ms % 100));
    out[23] = 'Z';
    out[24] = '\0';
    return 24;
}

void fmt_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;

    if (!errstr || errstr_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}
