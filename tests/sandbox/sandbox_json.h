/* sandbox_json.h - a growable text buffer with JSON string escaping, for the
 * answers, control replies and request-log lines of zim-sandbox.
 *
 * The buffer is a plain value (stack-allocated by the caller, initialised with
 * sandbox_buf_init(), released with sandbox_buf_free()). Appends never fail
 * visibly: on allocation failure the buffer is marked (oom != 0) and further
 * appends do nothing; the caller checks oom once before using data. Not
 * thread-safe; one buffer belongs to one thread. */
#ifndef ZU_SANDBOX_JSON_H
#define ZU_SANDBOX_JSON_H

#include <stddef.h>

typedef struct sandbox_buf {
    char *data; /* NUL-terminated when len > 0; owned, freed by sandbox_buf_free() */
    size_t len;
    size_t cap;
    int oom;
} sandbox_buf_t;

/* Makes b an empty buffer. */
void sandbox_buf_init(sandbox_buf_t *b);
/* Frees b's memory; b may be reused after sandbox_buf_init(). NULL is fine. */
void sandbox_buf_free(sandbox_buf_t *b);
/* Appends n bytes of s. */
void sandbox_buf_append(sandbox_buf_t *b, const char *s, size_t n);
/* Appends a NUL-terminated string. */
void sandbox_buf_puts(sandbox_buf_t *b, const char *s);
/* Appends printf-formatted text. */
void sandbox_buf_printf(sandbox_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal with quotes, or the word null when s is
 * NULL. Control characters and quotes are escaped; bytes that are not valid
 * UTF-8 are written as \ufffd, so the output is always valid JSON. */
void sandbox_buf_json_str(sandbox_buf_t *b, const char *s);

#endif
