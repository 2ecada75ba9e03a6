/* avro_enc.h - a tiny Avro binary writer for the tests: zig-zag varints,
 * strings, bytes, into a fixed buffer. Header-only; each user includes it
 * once. Overflow makes the buffer's len stick at its capacity + 1, which no
 * test expects. */
#ifndef ZU_AVRO_ENC_H
#define ZU_AVRO_ENC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct enc {
    unsigned char b[4096];
    size_t len;
} enc_t;

static void enc_byte(enc_t *e, unsigned char c)
{
    if (e->len < sizeof(e->b))
        e->b[e->len] = c;
    e->len++;
}

static void enc_long(enc_t *e, int64_t v)
{
    uint64_t n = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (n & ~(uint64_t)0x7F) {
        enc_byte(e, (unsigned char)((n & 0x7F) | 0x80));
        n >>= 7;
    }
    enc_byte(e, (unsigned char)n);
}

static void enc_bytes(enc_t *e, const void *p, size_t n)
{
    enc_long(e, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        enc_byte(e, ((const unsigned char *)p)[i]);
}

static void enc_str(enc_t *e, const char *s)
{
    enc_bytes(e, s, strlen(s));
}

/* A ["null", X] union: NULL writes branch 0, else branch 1 and the string. */
static void enc_opt_str(enc_t *e, const char *s)
{
    if (!s) {
        enc_long(e, 0);
        return;
    }
    enc_long(e, 1);
    enc_str(e, s);
}

/* The six event fields of the test schemas, in their order: type, then
 * ["null", string] user_id and event_id, ["null", string, int] delete_type
 * (dt NULL, a string, or "#0"/"#1" for the int branch), ["null", long]
 * app_id (< 0: null) and ["null", string] occurred_at. Starts e afresh. */
static void enc_event_fields(enc_t *e, const char *type, const char *user, const char *eid,
                             const char *dt, int64_t app_id, const char *at)
{
    memset(e, 0, sizeof(*e));
    enc_str(e, type);
    enc_opt_str(e, user);
    enc_opt_str(e, eid);
    if (!dt) {
        enc_long(e, 0);
    } else if (dt[0] == '#') {
        enc_long(e, 2);
        enc_long(e, dt[1] - '0');
    } else {
        enc_long(e, 1);
        enc_str(e, dt);
    }
    if (app_id < 0) {
        enc_long(e, 0);
    } else {
        enc_long(e, 1);
        enc_long(e, app_id);
    }
    enc_opt_str(e, at);
}

#endif
