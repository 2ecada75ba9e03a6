/* fmt.h - fast formatting of integers and UTC times for the hot path
 * (result events, log records), without printf or the C library's time
 * conversions; and the errstr buffers' message writer. Pure, thread-safe. */
#ifndef ZU_FMT_H
#define ZU_FMT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_I64_MAX  21 /* "-9223372036854775808" and its NUL */
#define FMT_TIME_MAX 25 /* "2026-11-25T18:00:00.123Z" and its NUL */

/* Writes v in decimal and a NUL into out[FMT_I64_MAX]; returns the length. */
size_t fmt_i64(char *out, int64_t v);

/* Writes Unix ms as RFC 3339 UTC with milliseconds ("2026-11-25T18:00:00.123Z")
 * and a NUL into out[FMT_TIME_MAX]; returns the length (24). Times outside
 * 0000-01-01 .. 9999-12-31T23:59:59.999 are clamped to those bounds. */
size_t fmt_time_ms(char *out, int64_t unix_ms);

/* Writes the printf-style message into errstr[errstr_size] (cut to fit);
 * nothing when errstr is NULL or errstr_size 0. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
void fmt_err(char *errstr, size_t errstr_size, const char *fmt, ...);

#endif
