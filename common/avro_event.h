/* avro_event.h - input events encoded in Avro: a writer schema compiled
 * once, payloads decoded with it into the JSON object that the JSON rules
 * (common/event) validate.
 *
 * The writer schema must be a record. A payload is decoded with libavro
 * (avro_value_read on a generic value) after a bounds pass over the bytes:
 * every length, count, union branch and enum index is checked against the
 * schema and the bytes left before libavro allocates anything, nesting is
 * limited to AVRO_EVENT_MAX_DEPTH and arrays and maps to
 * AVRO_EVENT_MAX_ITEMS items in all (maps to AVRO_EVENT_MAX_MAP_ENTRIES
 * entries), a payload to AVRO_EVENT_MAX_VALUES
 * values, and the datum must end exactly where the payload ends. So any
 * bytes are safe to decode. A writer schema whose record expands to more
 * than AVRO_EVENT_MAX_VALUES values (a named record used twice at each of
 * many levels grows exponentially, and libavro builds every record field
 * before reading) is refused when it is compiled.
 *
 * Mapping (by field name, as the JSON format reads them): the record's
 * fields type, user_id, event_id, delete_type, app_id and occurred_at
 * become members of a JSON object; other fields are ignored. Unions take
 * their branch (["null","string"] and the like); null counts as absent;
 * string -> string (must be UTF-8 without NUL); bytes and fixed -> string
 * when they are such text; int and long -> integer; enum -> its symbol;
 * boolean, float, double, record, map and array -> a JSON value of that
 * kind, which the JSON rules then reject with their usual message.
 *
 * Ownership: avro_event_schema_t is opaque, owned by whoever created it;
 * avro_event_decode() returns a new JSON object the caller decrefs.
 * Thread-compatible: a schema may be used by one thread at a time (libavro
 * keeps reference counts in it). */
#ifndef ZU_AVRO_EVENT_H
#define ZU_AVRO_EVENT_H

#include <stddef.h>

#include <jansson.h>

#define AVRO_EVENT_MAX_DEPTH  32    /* nested records, arrays, maps and unions */
#define AVRO_EVENT_MAX_ITEMS  65536 /* array and map items in one payload */
#define AVRO_EVENT_MAX_VALUES 65536 /* values in one payload, and in the schema's record */
/* Map entries in one payload: libavro files map keys in a hash table whose
 * string hash is fixed and easy to collide, so n chosen keys cost n^2 / 2
 * comparisons (8192 of them: 0.3 s per event); 1024 cost milliseconds. */
#define AVRO_EVENT_MAX_MAP_ENTRIES 1024

typedef struct avro_event_schema avro_event_schema_t;

/* Compiles a writer schema (Avro JSON text, len bytes, not necessarily
 * NUL-terminated). NULL with errstr when it does not parse, is not a
 * record, expands to more than AVRO_EVENT_MAX_VALUES values, or memory ran
 * out. */
avro_event_schema_t *avro_event_schema_new(const char *json, size_t len, char *errstr,
                                           size_t errstr_size);
/* NULL ok. */
void avro_event_schema_free(avro_event_schema_t *s);

/* Decodes payload (len bytes, any content) with the writer schema and maps
 * the record to a new JSON object (see the top). NULL with errstr when the
 * bytes do not decode, or a mapped field cannot be represented. */
json_t *avro_event_decode(const avro_event_schema_t *s, const void *payload, size_t len,
                          char *errstr, size_t errstr_size);

#endif
