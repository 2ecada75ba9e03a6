/* sandbox_json.c - growable text buffer and JSON string escaping. */
#include "sandbox_json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sandbox_buf_init(sandbox_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

void sandbox_buf_free(sandbox_buf_t *b)
{
    if (b == NULL)
        return;
    free(b->data);
    sandbox_buf_init(b);
}

/* Makes room for extra more bytes plus the NUL. 0 ok, -1 out of memory. */
static int buf_reserve(sandbox_buf_t *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 128;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void sandbox_buf_append(sandbox_buf_t *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sandbox_buf_puts(sandbox_buf_t *b, const char *s)
{
    sandbox_buf_append(b, s, strlen(s));
}

void sandbox_buf_printf(sandbox_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence starting at s (1-4), or 0 when the bytes
 * there are not valid UTF-8 (overlong forms and surrogates included). */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0;
        if (c == 0xed && s[1] >= 0xa0)
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0;
        if (c == 0xf4 && s[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

void sandbox_buf_json_str(sandbox_buf_t *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    if (s == NULL) {
        sandbox_buf_puts(b, "null");
        return;
    }
    sandbox_buf_append(b, "\"", 1);
    while (*p != '\0') {
        switch (*p) {
        case '"':
            sandbox_buf_append(b, "\\\"", 2);
            p++;
            continue;
        case '\\':
            sandbox_buf_append(b, "\\\\", 2);
            p++;
            continue;
        case '\n':
            sandbox_buf_append(b, "\\n", 2);
            p++;
            continue;
        case '\r':
            sandbox_buf_append(b, "\\r", 2);
            p++;
            continue;
        case '\t':
            sandbox_buf_append(b, "\\t", 2);
            p++;
            continue;
        default:
            break;
        }
        if (*p < 0x20 || *p == 0x7f) {
            sandbox_buf_printf(b, "\\u%04x", (unsigned)*p);
            p++;
            continue;
        }
        n = utf8_seq_len(p);
        if (n == 0) {
            sandbox_buf_append(b, "\\ufffd", 6);
            p++;
            continue;
        }
        sandbox_buf_append(b, (const char *)p, n);
        p += n;
    }
    sandbox_buf_append(b, "\"", 1);
}
