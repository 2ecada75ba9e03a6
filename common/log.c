/* log.c - level-gated structured logging: one record, one line, one write(2).
 *
 * A record is formatted into a stack buffer of LOG_RECORD_MAX bytes and
 * written with a single write(2), or, while the owner thread holds its
 * records (log_hold), appended to a buffer written by log_flush. Strings are
 * escaped (JSON or text rules), invalid UTF-8 bytes become U+FFFD, and a
 * record that does not fit is cut at a character boundary and marked
 * "truncated":true, so every line is a complete JSON object. Mutable state:
 * the level (atomic) and the hold buffer (the owner thread's only). */
#include "common/log.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "common/utf8.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define LOG_RECORD_MAX 8192
#define LOG_HOLD_MAX   (64 * 1024) /* held records are written when this would overflow */
/* Room kept back for the record's closing: '"' + ",\"truncated\":true}\n". */
#define LOG_TAIL_RESERVE 32

struct zlog {
    int fd;
    int level; /* accessed with __atomic builtins */
    log_format_t format;
    unsigned char *key; /* NULL: redaction off */
    size_t key_len;
    /* Records held by the owner thread (the one that made the logger), read
     * and written by it only. */
    pthread_t owner;
    int holding;
    char *held; /* LOG_HOLD_MAX bytes, allocated by the first log_hold */
    size_t held_len;
    int64_t held_since_us; /* clock_mono_us() of the oldest held record */
};

/* Bounded writer over the record buffer. cap excludes the tail reserve. */
typedef struct wbuf {
    char *p;
    size_t len;
    size_t cap;
    int truncated;
} wbuf_t;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_upper[] = {"ERROR", "WARN", "INFO", "DEBUG"};

log_t *log_new(int fd, log_level_t level, log_format_t format, const void *redact_key,
               size_t key_len)
{
    log_t *lg = calloc(1, sizeof(*lg));
    if (!lg)
        return NULL;
    lg->fd = fd;
    lg->owner = pthread_self();
    lg->level = (unsigned)level <= LOG_DEBUG ? (int)level : LOG_INFO;
    lg->format = format == LOG_FORMAT_TEXT ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
    if (redact_key) {
        lg->key = malloc(key_len ? key_len : 1);
        if (!lg->key) {
            free(lg);
            return NULL;
        }
        if (key_len)
            memcpy(lg->key, redact_key, key_len);
        lg->key_len = key_len;
    }
    return lg;
}

void log_destroy(log_t *lg)
{
    if (!lg)
        return;
    log_hold(lg, 0);
    if (lg->key) {
        OPENSSL_cleanse(lg->key, lg->key_len);
        free(lg->key);
    }
    free(lg->held);
    free(lg);
}

static void write_all(int fd, const char *p, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* nowhere to report a logging failure */
        off += (size_t)n;
    }
}

static int is_owner(const log_t *lg)
{
    return pthread_equal(pthread_self(), lg->owner);
}

void log_flush(log_t *lg)
{
    if (!lg || !is_owner(lg) || lg->held_len == 0)
        return;
    write_all(lg->fd, lg->held, lg->held_len);
    lg->held_len = 0;
}

int64_t log_held_since(const log_t *lg)
{
    return lg && is_owner(lg) && lg->held_len ? lg->held_since_us : 0;
}

void log_hold(log_t *lg, int on)
{
    if (!lg || !is_owner(lg))
        return;
    if (!on) {
        log_flush(lg);
        lg->holding = 0;
        return;
    }
    if (!lg->held && !(lg->held = malloc(LOG_HOLD_MAX)))
        return; /* out of memory: records keep going out one by one */
    lg->holding = 1;
}

void log_set_level(log_t *lg, log_level_t level)
{
    if (lg && (unsigned)level <= LOG_DEBUG)
        __atomic_store_n(&lg->level, (int)level, __ATOMIC_RELAXED);
}

int log_enabled(const log_t *lg, log_level_t level)
{
    if (!lg || (unsigned)level > LOG_DEBUG)
        return 0;
    return (int)level <= __atomic_load_n(&lg->level, __ATOMIC_RELAXED);
}

/* Appends n bytes whole, or nothing (and marks the record truncated). */
static int put(wbuf_t *w, const char *s, size_t n)
{
    if (w->len + n > w->cap) {
        w->truncated = 1;
        return -1;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    return 0;
}

/* Appends the record's closing into the reserved tail (never fails). */
static void tail(wbuf_t *w, const char *s)
{
    size_t n = strlen(s);
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static int puts_(wbuf_t *w, const char *s)
{
    return put(w, s, strlen(s));
}

/* Code points that can forge or hide log content even though they are valid
 * UTF-8: C1 controls (U+0085 is a line break to some readers), the line and
 * paragraph separators, and the bidirectional controls that reorder what a
 * terminal shows. */
static int cp_unsafe(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0x061C ||
           cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* Writes s escaped, without quotes. JSON: \" \\ \n \r \t \u00XX for the
 * other C0 controls, invalid UTF-8 as \ufffd. Text: \" \\ \n \r \t \xXX,
 * invalid UTF-8 as the U+FFFD character. Both: the code points of
 * cp_unsafe() as \uXXXX. Stops at the last unit that fits, marking
 * truncation. */
static void put_escaped(wbuf_t *w, const char *str, log_format_t fmt)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str);
    for (size_t i = 0; i < len;) {
        /* A run of printable ASCII other than '"' and '\\' goes as it is,
         * as much of it as fits (each byte is a unit of its own). */
        size_t run = i;
        while (run < len && s[run] >= 0x20 && s[run] < 0x7F && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            size_t n = run - i, room = w->cap - w->len;
            if (n > room) {
                memcpy(w->p + w->len, s + i, room);
                w->len += room;
                w->truncated = 1;
                return;
            }
            memcpy(w->p + w->len, s + i, n);
            w->len += n;
            if ((i = run) >= len)
                break;
        }
        char esc[8];
        const char *out = esc;
        size_t n, adv = 1;
        uint32_t cp;
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            n = 2;
        } else if (c < 0x20 || c == 0x7F) {
            n = (size_t)snprintf(esc, sizeof(esc), fmt == LOG_FORMAT_JSON ? "\\u%04x" : "\\x%02x",
                                 c);
        } else if ((adv = utf8_next(s + i, len - i, &cp)) != 0) {
            if (cp_unsafe(cp)) {
                n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
            } else {
                out = (const char *)s + i;
                n = adv;
            }
        } else {
            out = fmt == LOG_FORMAT_JSON ? "\\ufffd" : "\xEF\xBF\xBD";
            n = strlen(out);
            adv = 1;
        }
        if (put(w, out, n) != 0)
            return;
        i += adv;
    }
}

static void put_json_string(wbuf_t *w, const char *s)
{
    put_escaped(w, s, LOG_FORMAT_JSON);
    w->p[w->len++] = '"'; /* the closing quote always fits: see LOG_TAIL_RESERVE */
}

/* A text value goes bare when it is non-empty and has no space, quote,
 * '=', backslash or control character; otherwise it is quoted. */
static int text_needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7F || *p >= 0x80)
            return 1;
    return 0;
}

static void format_ts(char *ts)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fmt_time_ms(ts, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000L);
}

/* The value after key *k: a string, or (key "#name") a long long written
 * into num; *k then loses its mark. */
static const char *next_value(const char **k, char *num, va_list *ap)
{
    if ((*k)[0] != LOG_NUM_MARK)
        return va_arg(*ap, const char *);
    (*k)++;
    fmt_i64(num, (int64_t)va_arg(*ap, long long));
    return num;
}

static void format_json(wbuf_t *w, const char *ts, log_level_t level, const char *msg, va_list *ap)
{
    const char *k;
    puts_(w, "{\"ts\":\"");
    puts_(w, ts);
    puts_(w, "\",\"level\":\"");
    puts_(w, level_names[level]);
    puts_(w, "\",\"msg\":\"");
    put_json_string(w, msg ? msg : "");
    while ((k = va_arg(*ap, const char *)) != NULL) {
        char num[FMT_I64_MAX];
        int is_num = k[0] == LOG_NUM_MARK;
        const char *v = next_value(&k, num, ap);
        size_t mark = w->len;
        if (w->truncated)
            continue; /* no room left: drop the remaining fields */
        /* The key and the opening of the value go in whole or not at all. */
        if (puts_(w, ",\"") != 0)
            continue;
        put_escaped(w, k, LOG_FORMAT_JSON);
        if (w->truncated || puts_(w, v ? "\":" : "\":null") != 0) {
            w->len = mark;
            continue;
        }
        if (v && is_num) {
            if (puts_(w, v) != 0)
                w->len = mark;
        } else if (v) {
            if (puts_(w, "\"") != 0) {
                w->len = mark;
                continue;
            }
            put_json_string(w, v);
        }
    }
    tail(w, w->truncated ? ",\"truncated\":true}\n" : "}\n");
}

static void format_text(wbuf_t *w, const char *ts, log_level_t level, const char *msg, va_list *ap)
{
    const char *k;
    puts_(w, ts);
    puts_(w, " ");
    puts_(w, level_upper[level]);
    puts_(w, " ");
    put_escaped(w, msg ? msg : "", LOG_FORMAT_TEXT);
    while ((k = va_arg(*ap, const char *)) != NULL) {
        char num[FMT_I64_MAX];
        const char *v = next_value(&k, num, ap);
        size_t mark = w->len, value_at;
        if (w->truncated)
            continue;
        /* " key=" and the start of the value go in whole or not at all. */
        if (puts_(w, " ") != 0)
            continue;
        put_escaped(w, k, LOG_FORMAT_TEXT);
        if (w->truncated || puts_(w, "=") != 0) {
            w->len = mark;
            continue;
        }
        value_at = w->len;
        if (!v) {
            puts_(w, "null");
        } else if (text_needs_quotes(v)) {
            if (puts_(w, "\"") == 0) {
                put_escaped(w, v, LOG_FORMAT_TEXT);
                w->p[w->len++] = '"'; /* fits: see LOG_TAIL_RESERVE */
            }
        } else {
            put_escaped(w, v, LOG_FORMAT_TEXT);
        }
        if (w->len == value_at)
            w->len = mark;
    }
    tail(w, w->truncated ? " truncated=true\n" : "\n");
}

void log_msg(log_t *lg, log_level_t level, const char *msg, ...)
{
    char buf[LOG_RECORD_MAX];
    char ts[FMT_TIME_MAX];
    wbuf_t w = {buf, 0, sizeof(buf) - LOG_TAIL_RESERVE, 0};
    va_list ap;

    if (!log_enabled(lg, level))
        return;
    format_ts(ts);
    va_start(ap, msg);
    if (lg->format == LOG_FORMAT_TEXT)
        format_text(&w, ts, level, msg, &ap);
    else
        format_json(&w, ts, level, msg, &ap);
    va_end(ap);

    if (!is_owner(lg)) {
        write_all(lg->fd, buf, w.len); /* other threads never touch the held records */
        return;
    }
    if (lg->holding && level >= LOG_INFO) {
        if (lg->held_len + w.len > LOG_HOLD_MAX)
            log_flush(lg);
        if (lg->held_len == 0)
            lg->held_since_us = clock_mono_us();
        memcpy(lg->held + lg->held_len, buf, w.len);
        lg->held_len += w.len;
        return;
    }
    log_flush(lg); /* a warning or an error goes out at once, after what it follows */
    write_all(lg->fd, buf, w.len);
}

const char *log_user(const log_t *lg, const char *user_id, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const unsigned char empty_key[1] = {0};

    if (!user_id)
        return NULL;
    if (!lg || !lg->key)
        return user_id;
    /* Never fall back to the raw id when redaction is on. */
    if (!buf || size < 15)
        return "u:?";
    if (!HMAC(EVP_sha256(), lg->key_len ? lg->key : empty_key, (int)lg->key_len,
              (const unsigned char *)user_id, strlen(user_id), md, &md_len) ||
        md_len < 6)
        return "u:?";
    buf[0] = 'u';
    buf[1] = ':';
    for (size_t i = 0; i < 6; i++) {
        buf[2 + 2 * i] = hex[md[i] >> 4];
        buf[3 + 2 * i] = hex[md[i] & 0xF];
    }
    buf[14] = '\0';
    return buf;
}

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; s && i <= LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int log_format_parse(const char *s, log_format_t *out)
{
    if (s && strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else if (s && strcmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else
        return -1;
    return 0;
}

const char *log_level_name(log_level_t level)
{
    return (unsigned)level <= LOG_DEBUG ? level_names[level] : "unknown";
}
