/* avro_event.c - Avro-encoded input events (see avro_event.h).
 *
 * Two passes over a payload. The bounds pass (walk) follows the writer
 * schema over the bytes without allocating: libavro's reader allocates what
 * a length prefix claims before it looks for the bytes, and appends as many
 * array items as a block count says, so those numbers are checked here
 * first. Only a payload the walk accepts, consumed to its last byte, goes
 * to avro_value_read(). The mapping then reads the record's fields by name. */
#include "common/avro_event.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

struct avro_event_schema {
    avro_schema_t schema;
    avro_value_iface_t *iface;
};

/* The fields the JSON format reads (common/event.c). */
static const char *const mapped_fields[] = {"type",        "user_id", "event_id",
                                            "delete_type", "app_id",  "occurred_at"};

__attribute__((format(printf, 3, 4))) static void seterr(char *errstr, size_t errstr_size,
                                                         const char *fmt, ...)
{
    va_list ap;

    if (!errstr || !errstr_size)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

/* libavro's last error, one line. */
static const char *avro_why(void)
{
    const char *e = avro_strerror();
    return e && e[0] ? e : "unknown error";
}

/* How many values a datum of s has at least, as libavro builds it: a
 * record's fields all, a union's one branch (the largest counted), an
 * array's or map's items none. Counting stops past limit, past the nesting
 * limit (where decoding stops anyway) and when *work (schema nodes looked
 * at) runs out: a union of the same record twice at each level would make
 * the count itself exponential. Then the result is above limit. */
static size_t expanded(avro_schema_t s, int depth, size_t limit, size_t *work)
{
    while (s && avro_typeof(s) == AVRO_LINK)
        s = avro_schema_link_target(s);
    if (!s || depth > AVRO_EVENT_MAX_DEPTH)
        return 1;
    if (*work == 0)
        return limit + 1;
    (*work)--;
    size_t n = 1;
    switch (avro_typeof(s)) {
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s) && n <= limit; i++)
            n += expanded(avro_schema_record_field_get_by_index(s, (int)i), depth + 1, limit - n,
                          work);
        return n;
    case AVRO_UNION: {
        size_t most = 0;
        for (size_t i = 0; i < avro_schema_union_size(s) && most <= limit; i++) {
            size_t b = expanded(avro_schema_union_branch(s, (int)i), depth + 1, limit, work);
            most = b > most ? b : most;
        }
        return n + most;
    }
    default:
        return n;
    }
}

avro_event_schema_t *avro_event_schema_new(const char *json, size_t len, char *errstr,
                                           size_t errstr_size)
{
    avro_event_schema_t *s = calloc(1, sizeof(*s));

    if (!s) {
        seterr(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!json || avro_schema_from_json_length(json, len, &s->schema) != 0) {
        seterr(errstr, errstr_size, "writer schema does not parse: %s", avro_why());
        goto fail;
    }
    if (avro_typeof(s->schema) != AVRO_RECORD) {
        seterr(errstr, errstr_size, "writer schema is %s, not a record",
               avro_schema_type_name(s->schema));
        goto fail;
    }
    size_t work = 16 * (size_t)AVRO_EVENT_MAX_VALUES;
    if (expanded(s->schema, 0, AVRO_EVENT_MAX_VALUES, &work) > AVRO_EVENT_MAX_VALUES) {
        seterr(errstr, errstr_size, "writer schema: its record expands to more than %d values",
               AVRO_EVENT_MAX_VALUES);
        goto fail;
    }
    if (!(s->iface = avro_generic_class_from_schema(s->schema))) {
        seterr(errstr, errstr_size, "writer schema: %s", avro_why());
        goto fail;
    }
    return s;
fail:
    avro_event_schema_free(s);
    return NULL;
}

void avro_event_schema_free(avro_event_schema_t *s)
{
    if (!s)
        return;
    if (s->iface)
        avro_value_iface_decref(s->iface);
    if (s->schema)
        avro_schema_decref(s->schema);
    free(s);
}

/* ---- the bounds pass ---- */

typedef struct walk {
    const unsigned char *p;
    size_t len, pos;
    size_t items;   /* array and map items so far */
    size_t entries; /* map entries so far */
    size_t values;  /* values so far */
    char *err;
    size_t errsz;
} walk_t;

__attribute__((format(printf, 2, 3))) static int wfail(walk_t *w, const char *fmt, ...)
{
    char tmp[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    seterr(w->err, w->errsz, "byte %zu: %s", w->pos, tmp);
    return -1;
}

/* A zig-zag varint, as libavro reads it (at most 10 bytes). */
static int walk_long(walk_t *w, int64_t *out, const char *what)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (w->pos >= w->len)
            return wfail(w, "%s: the payload ends inside a number", what);
        unsigned char b = w->p[w->pos++];
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return wfail(w, "%s: a number longer than 10 bytes", what);
}

static int walk_skip(walk_t *w, int64_t n, const char *what)
{
    if (n < 0)
        return wfail(w, "%s: negative length %" PRId64, what, n);
    if ((uint64_t)n > w->len - w->pos)
        return wfail(w, "%s: %" PRId64 " bytes, only %zu left", what, n, w->len - w->pos);
    w->pos += (size_t)n;
    return 0;
}

static int walk_value(walk_t *w, avro_schema_t s, int depth);

/* The blocks of an array or map. */
static int walk_blocks(walk_t *w, avro_schema_t items, int map, int depth)
{
    const char *what = map ? "map" : "array";
    for (;;) {
        int64_t count, size;
        if (walk_long(w, &count, what) != 0)
            return -1;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN)
                return wfail(w, "%s: block count out of range", what);
            count = -count;
            if (walk_long(w, &size, what) != 0)
                return -1;
            if (size < 0)
                return wfail(w, "%s: negative block size", what);
        }
        if ((uint64_t)count > AVRO_EVENT_MAX_ITEMS - w->items)
            return wfail(w, "more than %d array and map items", AVRO_EVENT_MAX_ITEMS);
        w->items += (size_t)count;
        if (map && (uint64_t)count > AVRO_EVENT_MAX_MAP_ENTRIES - w->entries)
            return wfail(w, "more than %d map entries", AVRO_EVENT_MAX_MAP_ENTRIES);
        if (map)
            w->entries += (size_t)count;
        for (int64_t i = 0; i < count; i++) {
            int64_t klen;
            if (map && (walk_long(w, &klen, "map key") != 0 || walk_skip(w, klen, "map key") != 0))
                return -1;
            if (walk_value(w, items, depth + 1) != 0)
                return -1;
        }
    }
}

static int walk_value(walk_t *w, avro_schema_t s, int depth)
{
    int64_t n;

    if (depth > AVRO_EVENT_MAX_DEPTH)
        return wfail(w, "nested deeper than %d", AVRO_EVENT_MAX_DEPTH);
    if (++w->values > AVRO_EVENT_MAX_VALUES)
        return wfail(w, "more than %d values", AVRO_EVENT_MAX_VALUES);
    while (s && avro_typeof(s) == AVRO_LINK)
        s = avro_schema_link_target(s);
    if (!s)
        return wfail(w, "schema has an unresolved name");
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        return walk_skip(w, 1, "boolean");
    case AVRO_INT32:
        if (walk_long(w, &n, "int") != 0)
            return -1;
        return n < INT32_MIN || n > INT32_MAX ? wfail(w, "int out of range") : 0;
    case AVRO_INT64:
        return walk_long(w, &n, "long");
    case AVRO_FLOAT:
        return walk_skip(w, 4, "float");
    case AVRO_DOUBLE:
        return walk_skip(w, 8, "double");
    case AVRO_STRING:
    case AVRO_BYTES: {
        const char *what = avro_typeof(s) == AVRO_STRING ? "string" : "bytes";
        return walk_long(w, &n, what) != 0 ? -1 : walk_skip(w, n, what);
    }
    case AVRO_FIXED:
        return walk_skip(w, avro_schema_fixed_size(s), "fixed");
    case AVRO_ENUM:
        if (walk_long(w, &n, "enum") != 0)
            return -1;
        if (n < 0 || n >= avro_schema_enum_number_of_symbols(s))
            return wfail(w, "enum index %" PRId64 " out of range", n);
        return 0;
    case AVRO_UNION:
        if (walk_long(w, &n, "union branch") != 0)
            return -1;
        if (n < 0 || (uint64_t)n >= avro_schema_union_size(s))
            return wfail(w, "union branch %" PRId64 " out of range", n);
        return walk_value(w, avro_schema_union_branch(s, (int)n), depth + 1);
    case AVRO_RECORD: {
        size_t nf = avro_schema_record_size(s);
        for (size_t i = 0; i < nf; i++)
            if (walk_value(w, avro_schema_record_field_get_by_index(s, (int)i), depth + 1) != 0)
                return -1;
        return 0;
    }
    case AVRO_ARRAY:
        return walk_blocks(w, avro_schema_array_items(s), 0, depth);
    case AVRO_MAP:
        return walk_blocks(w, avro_schema_map_values(s), 1, depth);
    case AVRO_LINK:
    default:
        return wfail(w, "unsupported schema type");
    }
}

/* ---- the mapping ---- */

/* s (len bytes) as a JSON string when it is UTF-8 text without NUL. */
static json_t *text(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;

    while (i < len) {
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (n == 0 || cp == 0)
            return NULL;
        i += n;
    }
    return json_stringn(s, len);
}

/* Adds field name's value v to obj as JSON (see avro_event.h). 0 ok (also
 * when null: absent), -1 with errstr. */
static int map_field(json_t *obj, const char *name, avro_value_t *v, char *errstr,
                     size_t errstr_size)
{
    avro_value_t branch;
    json_t *j = NULL;
    const char *str = NULL;
    const void *buf = NULL;
    size_t size = 0;
    int32_t i32;
    int64_t i64;
    int idx;

    for (int guard = 0; avro_value_get_type(v) == AVRO_UNION; guard++) {
        if (guard > AVRO_EVENT_MAX_DEPTH || avro_value_get_current_branch(v, &branch) != 0) {
            seterr(errstr, errstr_size, "%s: union without a value", name);
            return -1;
        }
        *v = branch;
    }
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        return 0;
    case AVRO_STRING:
        if (avro_value_get_string(v, &str, &size) == 0 && size > 0 && !(j = text(str, size - 1))) {
            seterr(errstr, errstr_size, "%s: string is not UTF-8 text without NUL", name);
            return -1;
        }
        break;
    case AVRO_BYTES:
    case AVRO_FIXED:
        if ((avro_value_get_type(v) == AVRO_BYTES ? avro_value_get_bytes(v, &buf, &size)
                                                  : avro_value_get_fixed(v, &buf, &size)) == 0 &&
            !(j = text(buf ? buf : "", size))) {
            seterr(errstr, errstr_size, "%s: Avro %s that are not UTF-8 text", name,
                   avro_value_get_type(v) == AVRO_BYTES ? "bytes" : "fixed");
            return -1;
        }
        break;
    case AVRO_INT32:
        if (avro_value_get_int(v, &i32) == 0)
            j = json_integer(i32);
        break;
    case AVRO_INT64:
        if (avro_value_get_long(v, &i64) == 0)
            j = json_integer(i64);
        break;
    case AVRO_ENUM:
        if (avro_value_get_enum(v, &idx) == 0 &&
            (str = avro_schema_enum_get(avro_value_get_schema(v), idx)) != NULL)
            j = json_string(str);
        break;
    case AVRO_BOOLEAN:
        j = json_false();
        break;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        j = json_real(0.5);
        break;
    case AVRO_ARRAY:
        j = json_array();
        break;
    default: /* record, map */
        j = json_object();
        break;
    }
    if (!j || json_object_set_new(obj, name, j) != 0) {
        seterr(errstr, errstr_size, "%s: cannot be read (out of memory?)", name);
        return -1;
    }
    return 0;
}

json_t *avro_event_decode(const avro_event_schema_t *s, const void *payload, size_t len,
                          char *errstr, size_t errstr_size)
{
    walk_t w = {.p = payload, .len = len, .err = errstr, .errsz = errstr_size};
    avro_reader_t rd = NULL;
    avro_value_t val;
    json_t *obj = NULL;
    int have_val = 0;

    if (!s || (!payload && len)) {
        seterr(errstr, errstr_size, "no schema or payload");
        return NULL;
    }
    if (walk_value(&w, s->schema, 0) != 0)
        goto fail;
    if (w.pos != len) {
        seterr(errstr, errstr_size, "%zu bytes left after the record", len - w.pos);
        goto fail;
    }
    if (avro_generic_value_new(s->iface, &val) != 0) {
        seterr(errstr, errstr_size, "%s", avro_why());
        goto fail;
    }
    have_val = 1;
    if (!(rd = avro_reader_memory(len ? payload : "", (int64_t)len))) {
        seterr(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (avro_value_read(rd, &val) != 0) {
        seterr(errstr, errstr_size, "%s", avro_why());
        goto fail;
    }
    if (!(obj = json_object())) {
        seterr(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < sizeof(mapped_fields) / sizeof(mapped_fields[0]); i++) {
        avro_value_t field;
        if (avro_value_get_by_name(&val, mapped_fields[i], &field, NULL) != 0)
            continue; /* the schema has no such field: absent */
        if (map_field(obj, mapped_fields[i], &field, errstr, errstr_size) != 0)
            goto fail;
    }
    goto out;
fail:
    json_decref(obj);
    obj = NULL;
out:
    if (rd)
        avro_reader_free(rd);
    if (have_val)
        avro_value_decref(&val);
    return obj;
}
