/* log.h - level-gated structured logging to one file descriptor (stderr).
 *
 * One record is one line: a JSON object {"ts","level","msg",fields...} or,
 * in text format, "TS LEVEL msg key=value ...". Each record is written with a
 * single write(2), so records from librdkafka's threads never interleave;
 * log_msg() may be called from any thread. The thread that made the logger
 * may hold its info and debug records and write them together (log_hold,
 * log_flush): the worker's loop writes them within 50 ms of the first, so
 * a busy worker writes one block per 50 ms, not a line per event. The logger never sees the server
 * secret: callers must not pass it, and nothing here reads configuration.
 *
 * With redaction on, log_user() replaces a user id by a short keyed hash
 * (HMAC-SHA256 under a key given at creation, first 12 hex digits), stable
 * across replicas that share the key, so operators can still correlate. */
#ifndef ZU_LOG_H
#define ZU_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level_t;
typedef enum { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT = 1 } log_format_t;

typedef struct zlog log_t;

/* Creates a logger writing to fd (not closed by log_destroy). redact_key may
 * be NULL (redaction off) or key_len bytes that are copied. Returns NULL only
 * on allocation failure. */
log_t *log_new(int fd, log_level_t level, log_format_t format, const void *redact_key,
               size_t key_len);
void log_destroy(log_t *lg);
void log_set_level(log_t *lg, log_level_t level);
/* on: from now on the owner thread's (the thread that called log_new) info
 * and debug records are held in a buffer, written by log_flush or when it is
 * full (64 KiB); its warnings and errors go out at once, after the held
 * records. Other threads' records are never held. off: flushes, stops
 * holding. Held records are lost if the process dies before the flush:
 * hold only with a bound on how long (the loop's), and flush before a call
 * that may block for long. Called from another thread: does nothing. */
void log_hold(log_t *lg, int on);
/* Writes the held records (owner thread only; others: nothing). */
void log_flush(log_t *lg);
/* clock_mono_us() when the oldest record now held was logged; 0 when none
 * is held (or not the owner thread). */
int64_t log_held_since(const log_t *lg);

/* True when a record of this level would be written. */
int log_enabled(const log_t *lg, log_level_t level);

/* A key starting with this takes a number: the next argument is a long
 * long (LOG_NUM), written as a JSON number. */
#define LOG_NUM_MARK '#'
#define LOG_NUM(x)   ((long long)(x))

/* Writes one record. The variadic part is key/value pairs terminated by a
 * NULL key: C strings, or numbers under a "#key" (given with LOG_NUM):
 * log_msg(lg, LOG_INFO, "started", "topic", t, "#partition", LOG_NUM(p), NULL).
 * A NULL string prints as JSON null. Values are escaped; over-long records
 * are truncated (never split). lg may be NULL (the call does nothing). */
void log_msg(log_t *lg, log_level_t level, const char *msg, ...);

/* Returns user_id itself, or with redaction on its keyed hash written to
 * buf (at least 16 bytes). Never NULL for a non-NULL user_id. */
const char *log_user(const log_t *lg, const char *user_id, char *buf, size_t size);

/* Parses "error"/"warn"/"info"/"debug" and "json"/"text". 0 ok, -1 unknown. */
int log_level_parse(const char *s, log_level_t *out);
int log_format_parse(const char *s, log_format_t *out);
const char *log_level_name(log_level_t level);

#endif
