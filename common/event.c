/* event.c - input events: parsing and validation (docs/contract.md, "Input events").
 *
 * The order of work: cheap byte checks on the raw value (empty, size, NUL,
 * UTF-8), then the JSON (duplicate keys rejected: jread_scan for the
 * common event, jansson for the rest and for its error), then every field is read
 * and its first problem noted. Problems that hide the event's type (bad
 * CloudEvents envelope, bad "type") make the event invalid; otherwise an
 * unmatched type makes it EVENT_UNKNOWN_TYPE before any other field is
 * judged (other event types in the topic need not follow our field rules);
 * otherwise the first field problem makes it invalid. Every field that could
 * be read is filled regardless.
 *
 * Error texts are composed with snprintf into a scratch buffer and then
 * copied into ev->error by error_sanitize(): control characters and bytes
 * that are not valid UTF-8 become \xNN, and the cut never splits a
 * character, so ev->error is always one line of valid UTF-8. */
#include "common/event.h"
#include "common/jread.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define OCCURRED_AT_MAX 64 /* bytes */
#define QUOTE_MAX       64 /* bytes of input quoted in an error message */

/* Number of characters in a valid UTF-8 string (invalid bytes count as one). */
static size_t ev_utf8_count(const char *s, size_t len)
{
    size_t i = 0, count = 0;
    uint32_t cp;

    while (i < len) {
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        i += n ? n : 1;
        count++;
    }
    return count;
}

/* Copies src into ev->error as one line of valid UTF-8 (see the top). */
static void error_sanitize(char *dst, size_t size, const char *src)
{
    size_t di = 0, si = 0, slen = strlen(src);

    while (si < slen) {
        const unsigned char *p = (const unsigned char *)src + si;
        char tmp[8];
        size_t tlen, n;
        uint32_t cp;

        n = utf8_next(p, slen - si, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7F) {
            snprintf(tmp, sizeof(tmp), "\\x%02X", (unsigned)p[0]);
            tlen = 4;
            n = 1;
        } else {
            memcpy(tmp, p, n);
            tlen = n;
        }
        if (di + tlen + 1 > size)
            break;
        memcpy(dst + di, tmp, tlen);
        di += tlen;
        si += n;
    }
    dst[di] = '\0';
}

static void ev_error(event_t *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ev_error(event_t *ev, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    error_sanitize(ev->error, sizeof(ev->error), tmp);
}

/* The first problem found in one group of checks. */
typedef struct problem {
    int set;
    char text[512];
} problem_t;

static void note(problem_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(problem_t *p, const char *fmt, ...)
{
    va_list ap;

    if (p->set)
        return;
    p->set = 1;
    va_start(ap, fmt);
    vsnprintf(p->text, sizeof(p->text), fmt, ap);
    va_end(ap);
}

/* Writes at most QUOTE_MAX bytes of s (whole characters), then "..." when
 * cut, so a message quoting user input stays short. */
static void quote_cut(char *dst, size_t size, const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;

    while (i < len) {
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (n == 0)
            n = 1;
        if (i + n > QUOTE_MAX)
            break;
        i += n;
    }
    snprintf(dst, size, "%.*s%s", (int)i, s, i < len ? "..." : "");
}

/* Describes one character for an error message: 'c' for printable ASCII,
 * else U+XXXX. */
static void char_name(char *dst, size_t size, uint32_t cp)
{
    if (cp > 0x20 && cp < 0x7F)
        snprintf(dst, size, "'%c'", (char)cp);
    else
        snprintf(dst, size, "U+%04" PRIX32, cp);
}

static int user_id_char_ok(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
        return 1;
    return c != '\0' && strchr("!#$%&()+-:;<=.>?@[]^_{}|~", c) != NULL;
}

int event_user_id_valid(const char *s, size_t len)
{
    size_t i;

    if (!s || len < 1 || len > EVENT_USER_ID_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if (!user_id_char_ok((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Reads user_id from body into ev->user_id when valid; notes the problem. */
static int read_user_id(event_t *ev, const jread_val_t *body, const char *pfx, problem_t *pb)
{
    jread_val_t j = jread_get(body, "user_id");
    const char *s;
    size_t len, count, i = 0;
    uint32_t cp;

    if (j.kind == JREAD_ABSENT) {
        note(pb, "%suser_id: missing", pfx);
        return 0;
    }
    if (j.kind != JREAD_STRING) {
        note(pb, "%suser_id: must be a string, not %s", pfx, jread_kind_name(j.kind));
        return 0;
    }
    s = j.s;
    len = j.len;
    if (len == 0) {
        note(pb, "%suser_id: empty, must be 1-%d characters", pfx, EVENT_USER_ID_MAX);
        return 0;
    }
    count = ev_utf8_count(s, len);
    if (count > EVENT_USER_ID_MAX) {
        note(pb, "%suser_id: %zu characters, at most %d", pfx, count, EVENT_USER_ID_MAX);
        return 0;
    }
    while (i < len) {
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (n == 0) {
            cp = (unsigned char)s[i]; /* not reached: the parser checked UTF-8 */
            n = 1;
        }
        if (cp >= 0x80 || !user_id_char_ok((unsigned char)cp)) {
            char name[16];
            char_name(name, sizeof(name), cp);
            note(pb, "%suser_id: character %s not allowed", pfx, name);
            return 0;
        }
        i += n;
    }
    ev->user_id = strndup(s, len);
    return ev->user_id ? 0 : -1;
}

/* Reads an optional delete_type; *out = 0/1, or -1 when absent or bad. */
/* 1 when v is the string word (NUL-terminated). */
static int is_word(const jread_val_t *v, const char *word)
{
    return v->kind == JREAD_STRING && v->len == strlen(word) && memcmp(v->s, word, v->len) == 0;
}

static void read_delete_type(const jread_val_t *body, const char *pfx, problem_t *pb, int *out)
{
    jread_val_t j = jread_get(body, "delete_type");

    *out = -1;
    if (j.kind == JREAD_ABSENT)
        return;
    if (is_word(&j, "two-way"))
        *out = 0;
    else if (is_word(&j, "one-way"))
        *out = 1;
    else if (j.kind == JREAD_INTEGER && (j.i == 0 || j.i == 1))
        *out = (int)j.i;
    else
        note(pb, "%sdelete_type: must be \"two-way\", \"one-way\", 0 or 1", pfx);
}

static void read_app_id(const config_t *cfg, const jread_val_t *body, const char *pfx,
                        problem_t *pb)
{
    jread_val_t j = jread_get(body, "app_id");
    uint32_t want = cfg ? cfg->app_id : 0;

    if (j.kind == JREAD_ABSENT)
        return;
    if (j.kind != JREAD_INTEGER) {
        note(pb, "%sapp_id: must be an integer, not %s", pfx, jread_kind_name(j.kind));
        return;
    }
    if (j.i != (int64_t)want)
        note(pb, "%sapp_id %" PRId64 " does not match configured %" PRIu32, pfx, j.i, want);
}

/* The class whose match list holds type exactly, or NULL. */
static const config_event_class_t *match_class(const config_t *cfg, const char *type)
{
    const config_event_class_t *classes[2];
    size_t c, i;

    if (!cfg || !type)
        return NULL;
    classes[0] = &cfg->account_deleted;
    classes[1] = &cfg->friend_reset;
    for (c = 0; c < 2; c++)
        for (i = 0; i < classes[c]->match.n; i++)
            if (classes[c]->match.v && classes[c]->match.v[i] &&
                strcmp(classes[c]->match.v[i], type) == 0)
                return classes[c];
    return NULL;
}

/* Byte-level checks before parsing. 0 ok, -1 invalid (error set). */
static int check_bytes(event_t *ev, const unsigned char *v, size_t len)
{
    size_t i = 0;
    uint32_t cp;

    if (!v || len == 0) {
        ev_error(ev, "empty value");
        return -1;
    }
    if (len > EVENT_VALUE_MAX) {
        ev_error(ev, "value is %zu bytes, more than %d", len, EVENT_VALUE_MAX);
        return -1;
    }
    while (i < len) {
        if (v[i] >= 0x01 && v[i] <= 0x7F) { /* ASCII other than NUL: most of an event */
            i++;
            continue;
        }
        size_t n = utf8_next(v + i, len - i, &cp);
        if (n == 0) {
            ev_error(ev, "value is not valid UTF-8: byte 0x%02X at offset %zu", (unsigned)v[i], i);
            return -1;
        }
        if (cp == 0) {
            ev_error(ev, "value contains a NUL byte at offset %zu", i);
            return -1;
        }
        i += n;
    }
    return 0;
}

/* Parses the JSON object with jansson (what jread_scan did not take).
 * Returns it (caller decrefs) or NULL (error set). */
static json_t *parse_object(event_t *ev, const char *v, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(v, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

    if (!root) {
        size_t i = 0;
        while (i < len && v[i] != '\0' && strchr(" \t\r\n", v[i]))
            i++;
        if (i == len)
            ev_error(ev, "value is only whitespace");
        else if (strstr(jerr.text, "JSON_ALLOW_NUL"))
            ev_error(ev, "invalid JSON: \\u0000 not allowed in strings (line %d, column %d)",
                     jerr.line, jerr.column);
        else
            ev_error(ev, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                     jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        ev_error(ev, "value is %s, not a JSON object", jread_kind_name(jread_wrap(root).kind));
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Reads an optional string field into *dst when it is a string of
 * min..max units (characters when chars, else bytes); notes a problem
 * otherwise. Returns -1 only on allocation failure. */
static int read_string(const jread_val_t *obj, const char *key, size_t min, size_t max, int chars,
                       char **dst, problem_t *pb)
{
    jread_val_t j = jread_get(obj, key);
    size_t n;

    if (j.kind == JREAD_ABSENT)
        return 0;
    if (j.kind != JREAD_STRING)
        goto bad;
    n = chars ? ev_utf8_count(j.s, j.len) : j.len;
    if (n < min || n > max)
        goto bad;
    free(*dst);
    *dst = strndup(j.s, j.len);
    return *dst ? 0 : -1;
bad:
    if (min > 0)
        note(pb, "%s: must be a string of %zu-%zu %s", key, min, max,
             chars ? "characters" : "bytes");
    else
        note(pb, "%s: must be a string of at most %zu %s", key, max,
             chars ? "characters" : "bytes");
    return 0;
}

/* Reads "type" into ev->type; problems go to pre (they hide the class). */
static int read_type(event_t *ev, const jread_val_t *root, problem_t *pre)
{
    jread_val_t j = jread_get(root, "type");
    size_t len;

    if (j.kind == JREAD_ABSENT) {
        note(pre, "type: missing");
        return 0;
    }
    if (j.kind != JREAD_STRING) {
        note(pre, "type: must be a string, not %s", jread_kind_name(j.kind));
        return 0;
    }
    len = j.len;
    if (len == 0) {
        note(pre, "type: empty");
        return 0;
    }
    if (len > EVENT_TYPE_MAX) {
        note(pre, "type: %zu bytes, at most %d", len, EVENT_TYPE_MAX);
        return 0;
    }
    ev->type = strndup(j.s, len);
    return ev->type ? 0 : -1;
}

/* The CloudEvents envelope: specversion, id, data. Sets *body to data, the
 * object holding user_id etc.; 0, or -1 when data is unusable. */
static int read_envelope(const jread_val_t *root, jread_val_t *body, problem_t *pre,
                         problem_t *post)
{
    jread_val_t spec = jread_get(root, "specversion");

    *body = jread_get(root, "data");
    if (!is_word(&spec, "1.0"))
        note(pre, "specversion: must be \"1.0\" (CloudEvents 1.0 structured mode)");
    if (jread_get(root, "id").kind == JREAD_ABSENT)
        note(post, "id: missing (required by CloudEvents)");
    if (body->kind == JREAD_ABSENT) {
        if (jread_get(root, "data_base64").kind != JREAD_ABSENT)
            note(post, "data_base64: not supported, send data as a JSON object");
        else
            note(post, "data: missing (CloudEvents data must hold user_id)");
        return -1;
    }
    if (body->kind != JREAD_OBJECT) {
        note(post, "data: must be a JSON object, not %s", jread_kind_name(body->kind));
        return -1;
    }
    return 0;
}

char *event_default_id(char *out, size_t size, const char *topic, int32_t partition, int64_t offset)
{
    snprintf(out, size, "%s/%" PRId32 "/%" PRId64, topic ? topic : "", partition, offset);
    return out;
}

/* Starts an event: zeroed, delete_type unknown. */
static void ev_init(event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->delete_type = -1;
}

/* Ends an event with status st: the default event_id when it has none of
 * its own (made only then: most events have one). Returns st, or
 * EVENT_INVALID when out of memory (error set, event_id NULL). */
static event_status_t ev_finish(event_t *ev, event_status_t st, const char *topic,
                                int32_t partition, int64_t offset)
{
    char idbuf[EVENT_DEFAULT_ID_SIZE];

    if (ev->event_id)
        return st;
    ev->event_id = strdup(event_default_id(idbuf, sizeof(idbuf), topic, partition, offset));
    if (ev->event_id)
        return st;
    ev_error(ev, "out of memory while parsing the event");
    return EVENT_INVALID;
}

/* Every field rule, on the parsed object root (see the top). */
static event_status_t parse_fields(const config_t *cfg, const jread_val_t *root, event_t *ev)
{
    problem_t pre = {0, ""}, post = {0, ""};
    const config_event_class_t *cls;
    jread_val_t body = *root;
    char quoted[QUOTE_MAX + 8];
    int ce, usable = 1, override = -1, oom = 0;

    ce = jread_get(root, "specversion").kind != JREAD_ABSENT;
    if (ce)
        usable = read_envelope(root, &body, &pre, &post) == 0;
    oom |= read_string(root, ce ? "id" : "event_id", 1, EVENT_ID_MAX, 1, &ev->event_id, &post);
    oom |= read_type(ev, root, &pre);
    oom |= read_string(root, ce ? "time" : "occurred_at", 0, OCCURRED_AT_MAX, 0, &ev->occurred_at,
                       &post);
    if (usable) {
        const char *pfx = ce ? "data." : "";
        oom |= read_user_id(ev, &body, pfx, &post);
        read_delete_type(&body, pfx, &post, &override);
        read_app_id(cfg, &body, pfx, &post);
    }
    if (oom) {
        ev_error(ev, "out of memory while parsing the event");
        return EVENT_INVALID;
    }
    ev->delete_type = override;

    if (pre.set) {
        ev_error(ev, "%s", pre.text);
        return EVENT_INVALID;
    }
    cls = match_class(cfg, ev->type);
    if (!cls) {
        quote_cut(quoted, sizeof(quoted), ev->type, strlen(ev->type));
        ev_error(ev,
                 "type \"%s\" is in neither events.account_deleted.match nor "
                 "events.friend_reset.match",
                 quoted);
        return EVENT_UNKNOWN_TYPE;
    }
    if (override == -1)
        ev->delete_type = cls->delete_type;
    if (post.set) {
        ev_error(ev, "%s", post.text);
        return EVENT_INVALID;
    }
    return EVENT_OK;
}

event_status_t event_parse(const config_t *cfg, const void *value, size_t len, const char *topic,
                           int32_t partition, int64_t offset, event_t *ev)
{
    json_t *root = NULL;
    jread_doc_t doc;
    jread_val_t top;
    event_status_t st = EVENT_INVALID;

    ev_init(ev);
    if (check_bytes(ev, value, len) == -1)
        goto out;
    /* RFC 8259 lets a parser ignore a byte order mark: skip it */
    if (len >= 3 && memcmp(value, "\xEF\xBB\xBF", 3) == 0) {
        value = (const char *)value + 3;
        len -= 3;
    }
    /* the scanner takes the common event; jansson the rest, naming errors */
    if (jread_scan(&doc, value, len, JREAD_REJECT_DUPLICATES) == 0) {
        top = jread_root(&doc);
    } else {
        root = parse_object(ev, value, len);
        if (!root)
            goto out;
        top = jread_wrap(root);
    }
    st = parse_fields(cfg, &top, ev);
out:
    json_decref(root);
    return ev_finish(ev, st, topic, partition, offset);
}

event_status_t event_parse_object(const config_t *cfg, const struct json_t *root, const char *topic,
                                  int32_t partition, int64_t offset, event_t *ev)
{
    jread_val_t top = jread_wrap(root);
    event_status_t st = EVENT_INVALID;

    ev_init(ev);
    if (top.kind != JREAD_OBJECT)
        ev_error(ev, "value is %s, not an object", root ? jread_kind_name(top.kind) : "nothing");
    else
        st = parse_fields(cfg, &top, ev);
    return ev_finish(ev, st, topic, partition, offset);
}

event_status_t event_invalid(event_t *ev, const char *topic, int32_t partition, int64_t offset,
                             const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;

    ev_init(ev);
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    error_sanitize(ev->error, sizeof(ev->error), tmp);
    return ev_finish(ev, EVENT_INVALID, topic, partition, offset);
}

void event_clear(event_t *ev)
{
    if (!ev)
        return;
    free(ev->type);
    free(ev->user_id);
    free(ev->event_id);
    free(ev->occurred_at);
    memset(ev, 0, sizeof(*ev));
}
