/* frame.c - Confluent Schema Registry framing (see frame.h). */
#include "common/frame.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

int frame_parse(const void *value, size_t len, uint32_t *schema_id, const void **payload,
                size_t *payload_len)
{
    const unsigned char *p = value;

    if (!p || len < FRAME_HEADER_LEN || p[0] != FRAME_MAGIC)
        return 0;
    *schema_id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    *payload = p + FRAME_HEADER_LEN;
    *payload_len = len - FRAME_HEADER_LEN;
    return 1;
}

void frame_schema_clear(frame_schema_t *fs)
{
    if (!fs)
        return;
    avro_event_schema_free(fs->avro);
    memset(fs, 0, sizeof(*fs));
}

void frame_schema_unusable(frame_schema_t *fs, const char *fmt, ...)
{
    va_list ap;

    frame_schema_clear(fs);
    fs->kind = FRAME_SCHEMA_UNUSABLE;
    va_start(ap, fmt);
    vsnprintf(fs->why, sizeof(fs->why), fmt, ap);
    va_end(ap);
}

int frame_schema_build(frame_schema_t *fs, const char *schema_type, const char *text, size_t len)
{
    char err[160];

    memset(fs, 0, sizeof(*fs));
    if (!schema_type || strcmp(schema_type, "AVRO") == 0) {
        fs->avro = avro_event_schema_new(text, len, err, sizeof(err));
        if (!fs->avro) {
            if (strcmp(err, "out of memory") == 0)
                return -1;
            frame_schema_unusable(fs, "is an Avro schema that cannot be used: %s", err);
            return 0;
        }
        fs->kind = FRAME_SCHEMA_AVRO;
    } else if (strcmp(schema_type, "JSON") == 0) {
        fs->kind = FRAME_SCHEMA_JSON;
    } else if (strcmp(schema_type, "PROTOBUF") == 0) {
        frame_schema_unusable(fs, "is a Protobuf schema: Protobuf is not supported (use Avro or "
                                  "JSON Schema)");
    } else {
        frame_schema_unusable(fs, "has schemaType \"%.32s\": only AVRO and JSON are supported",
                              schema_type);
    }
    return 0;
}

event_status_t frame_event_parse(const config_t *cfg, const frame_schema_t *fs, uint32_t schema_id,
                                 const void *payload, size_t len, const char *topic,
                                 int32_t partition, int64_t offset, event_t *ev)
{
    char err[200];
    event_status_t st;
    json_t *obj;

    switch (fs->kind) {
    case FRAME_SCHEMA_JSON:
        return event_parse(cfg, payload, len, topic, partition, offset, ev);
    case FRAME_SCHEMA_AVRO:
        if (len > EVENT_VALUE_MAX)
            return event_invalid(ev, topic, partition, offset,
                                 "Avro payload is %zu bytes, more than %d", len, EVENT_VALUE_MAX);
        obj = avro_event_decode(fs->avro, payload, len, err, sizeof(err));
        if (!obj)
            return event_invalid(ev, topic, partition, offset,
                                 "Avro payload does not decode with schema id %u: %s",
                                 (unsigned)schema_id, err);
        st = event_parse_object(cfg, obj, topic, partition, offset, ev);
        json_decref(obj);
        return st;
    case FRAME_SCHEMA_UNUSABLE:
    default:
        return event_invalid(ev, topic, partition, offset, "schema id %u %s", (unsigned)schema_id,
                             fs->why);
    }
}
