/* frame.h - Confluent Schema Registry framing of input values.
 *
 * A framed value is the magic byte 0x00, the writer schema's registry id
 * as 4 bytes big-endian, then the payload: Avro binary, or JSON for a JSON
 * Schema subject. With events.format = "auto" a value that starts with 0x00
 * and is at least 5 bytes long is framed; anything else is plain JSON (a
 * JSON text never starts with a NUL byte).
 *
 * frame_event_parse() turns a framed payload into an event with the same
 * rules as plain JSON (common/event): a JSON Schema payload goes through
 * event_parse() itself, an Avro payload is decoded (common/avro_event) and
 * its JSON object goes through event_parse_object().
 *
 * Ownership: frame_schema_t belongs to whoever built it (the registry
 * client's cache); frame_schema_clear() frees what it holds. Pure and
 * thread-compatible. */
#ifndef ZU_FRAME_H
#define ZU_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/avro_event.h"
#include "common/config.h"
#include "common/event.h"

#define FRAME_MAGIC      0x00
#define FRAME_HEADER_LEN 5

/* 1 when value (len bytes) is framed: *schema_id, *payload and
 * *payload_len are set. 0 when it is not (plain JSON). */
int frame_parse(const void *value, size_t len, uint32_t *schema_id, const void **payload,
                size_t *payload_len);

typedef enum {
    FRAME_SCHEMA_AVRO = 0, /* avro is set */
    FRAME_SCHEMA_JSON,     /* a JSON Schema subject: the payload is a JSON event */
    FRAME_SCHEMA_UNUSABLE, /* every event with this id is invalid: why says why */
} frame_kind_t;

/* A writer schema as the registry gave it, ready to decode with. */
typedef struct frame_schema {
    frame_kind_t kind;
    avro_event_schema_t *avro; /* FRAME_SCHEMA_AVRO; owned */
    char why[200];             /* FRAME_SCHEMA_UNUSABLE: e.g. "is a Protobuf schema: ..." */
} frame_schema_t;

/* Builds the schema of a registry answer: schema_type as the registry
 * names it ("AVRO", "JSON", "PROTOBUF"; NULL = AVRO) and the schema text
 * (len bytes). Anything that cannot be used becomes FRAME_SCHEMA_UNUSABLE
 * with the reason. -1 only when memory ran out. */
int frame_schema_build(frame_schema_t *fs, const char *schema_type, const char *text, size_t len);

/* Makes fs FRAME_SCHEMA_UNUSABLE with the formatted reason (any avro
 * schema held is freed). */
void frame_schema_unusable(frame_schema_t *fs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Frees what fs holds and zeroes it. NULL ok. */
void frame_schema_clear(frame_schema_t *fs);

/* Parses a framed value's payload (len bytes, any content) written with
 * schema id schema_id, whose schema is fs, into ev (see event_parse() for
 * the rest). */
event_status_t frame_event_parse(const config_t *cfg, const frame_schema_t *fs, uint32_t schema_id,
                                 const void *payload, size_t len, const char *topic,
                                 int32_t partition, int64_t offset, event_t *ev);

#endif
