/* fuzz_log.c - libFuzzer target for the log line writer (common/log).
 *
 * The first byte picks the format (JSON or text); the rest, split at its
 * first NUL, is a message and a field value. Beyond the sanitizers' findings
 * it aborts when an invariant breaks: the record is one line (its only
 * newline is the last byte), valid UTF-8, with no C0 or C1 control, U+2028,
 * U+2029 or bidi control written raw; in JSON the line parses, and when the
 * record was not truncated the message and the value decode back to the
 * input (with invalid UTF-8 replaced, so only valid inputs compare equal).
 *
 * Built by scripts/fuzz.sh (CMake -DFUZZ=ON instruments the libraries too):
 *   scripts/fuzz.sh 60 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "common/log.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cp_forbidden(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    uint32_t cp;

    for (size_t i = 0, n; i < len; i += n)
        if ((n = utf8_next(p + i, len - i, &cp)) == 0)
            return 0;
    return 1;
}

/* Aborts unless line[0..len) is one clean line. */
static void check_line(const char *line, size_t len)
{
    const unsigned char *p = (const unsigned char *)line;
    uint32_t cp;

    if (len == 0 || line[len - 1] != '\n' || memchr(line, '\0', len))
        abort();
    for (size_t i = 0, n; i < len - 1; i += n) {
        n = utf8_next(p + i, len - 1 - i, &cp);
        if (n == 0 || cp_forbidden(cp))
            abort();
    }
}

static void check_json(const char *line, const char *msg, const char *value)
{
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);

    if (!j || !json_is_object(j))
        abort();
    if (!json_is_true(json_object_get(j, "truncated"))) {
        const char *m = json_string_value(json_object_get(j, "msg"));
        const char *v = json_string_value(json_object_get(j, "v"));
        if (!m || !v)
            abort();
        if (valid_utf8(msg) && strcmp(m, msg) != 0)
            abort();
        if (valid_utf8(value) && strcmp(v, value) != 0)
            abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_format_t fmt;
    char *in, *value, *line;
    size_t rest, len;
    log_t *lg;
    int fd;
    off_t end;

    if (size < 1)
        return 0;
    fmt = data[0] & 1 ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
    rest = size - 1;
    in = malloc(rest + 2); /* two NULs: the value is empty when none is given */
    if (!in)
        return 0;
    memcpy(in, data + 1, rest);
    in[rest] = in[rest + 1] = '\0';
    value = in + strlen(in) + 1;
    fd = memfd_create("fuzz_log", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    lg = log_new(fd, LOG_INFO, fmt, NULL, 0);
    if (!lg)
        abort();
    log_msg(lg, LOG_INFO, in, "v", value, NULL);
    log_destroy(lg);
    end = lseek(fd, 0, SEEK_END);
    if (end <= 0)
        abort();
    len = (size_t)end;
    line = malloc(len + 1);
    if (!line || pread(fd, line, len, 0) != (ssize_t)len)
        abort();
    line[len] = '\0';
    check_line(line, len);
    if (fmt == LOG_FORMAT_JSON)
        check_json(line, in, value);
    free(line);
    close(fd);
    free(in);
    return 0;
}
