/* fuzz_frame.c - libFuzzer target for Schema Registry framing: the frame
 * parser and the Avro decoding path.
 *
 * The input is a whole message value. A framed one (0x00, 4-byte schema
 * id) is decoded with a fixed writer schema chosen by id % 4: 0 the event
 * record of the tests, 1 a record with every Avro type (arrays, maps,
 * nested and recursive records, enum, fixed, bytes, floats), 2 JSON Schema
 * (the payload is a JSON event), 3 unusable; anything else is plain JSON.
 * Beyond the sanitizers it aborts when an invariant breaks: event_id set,
 * ev->error one line of valid UTF-8 and set exactly when the event is not
 * OK, a valid event has a type, a valid user id and a delete type of 0 or
 * 1, and a decoded Avro record maps to an object of the six known fields
 * only. Schemas are compiled for every input: no state between runs.
 *
 *   scripts/fuzz.sh 60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/frame.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char EVENT_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"AccountEvent\",\"fields\":["
    "{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"delete_type\",\"type\":[\"null\",\"string\",\"int\"],\"default\":null},"
    "{\"name\":\"app_id\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"occurred_at\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static const char EVERY_TYPE_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"T\",\"symbols\":"
    "[\"account_deleted\",\"friend_reset\",\"x\"]}},"
    "{\"name\":\"user_id\",\"type\":[\"bytes\",\"string\",\"null\",\"boolean\"]},"
    "{\"name\":\"event_id\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}},"
    "{\"name\":\"delete_type\",\"type\":[\"int\",\"float\",\"double\"]},"
    "{\"name\":\"app_id\",\"type\":[\"long\",{\"type\":\"map\",\"values\":\"long\"}]},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"string\"]}},"
    "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]},"
    "{\"name\":\"occurred_at\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}";

static int clean(const char *s)
{
    size_t i = 0, len = strlen(s);
    uint32_t cp;
    while (i < len) {
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7F)
            return 0;
        i += n;
    }
    return 1;
}

/* A decoded record maps to an object of known fields only. */
static void check_mapping(const frame_schema_t *fs, const void *payload, size_t len)
{
    static const char *const known[] = {"type",        "user_id", "event_id",
                                        "delete_type", "app_id",  "occurred_at"};
    char err[200];
    const char *key;
    json_t *v, *obj = avro_event_decode(fs->avro, payload, len, err, sizeof(err));

    if (!obj) {
        if (!err[0])
            abort();
        return;
    }
    if (!json_is_object(obj))
        abort();
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (i < 6 && strcmp(known[i], key) != 0)
            i++;
        if (i == 6 || json_is_null(v))
            abort();
    }
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ad0[] = "account-deleted", fr0[] = "friend-reset", fr1[] = "friend_reset";
    char *ad[] = {ad0}, *fr[] = {fr0, fr1};
    config_t cfg;
    frame_schema_t fs;
    event_t ev;
    event_status_t st;
    uint32_t id = 0;
    const void *payload = NULL;
    size_t len = 0;

    memset(&cfg, 0, sizeof(cfg));
    memset(&fs, 0, sizeof(fs));
    cfg.app_id = 1234567890;
    cfg.account_deleted.match.v = ad;
    cfg.account_deleted.match.n = 1;
    cfg.friend_reset.match.v = fr;
    cfg.friend_reset.match.n = 2;
    cfg.friend_reset.delete_type = 1;

    if (!frame_parse(data, size, &id, &payload, &len)) {
        st = event_parse(&cfg, data, size, "account-events", 1, 7, &ev);
    } else {
        switch (id % 4) {
        case 0:
            frame_schema_build(&fs, NULL, EVENT_SCHEMA, sizeof(EVENT_SCHEMA) - 1);
            break;
        case 1:
            frame_schema_build(&fs, "AVRO", EVERY_TYPE_SCHEMA, sizeof(EVERY_TYPE_SCHEMA) - 1);
            break;
        case 2:
            frame_schema_build(&fs, "JSON", "{}", 2);
            break;
        default:
            frame_schema_build(&fs, "PROTOBUF", "", 0);
            break;
        }
        if (id % 4 < 2 && fs.kind != FRAME_SCHEMA_AVRO)
            abort(); /* the fixed schemas compile */
        if (fs.kind == FRAME_SCHEMA_AVRO)
            check_mapping(&fs, payload, len);
        st = frame_event_parse(&cfg, &fs, id, payload, len, "account-events", 1, 7, &ev);
    }
    if (!ev.event_id || memchr(ev.error, '\0', sizeof(ev.error)) == NULL || !clean(ev.error))
        abort();
    if ((st == EVENT_OK) != (ev.error[0] == '\0'))
        abort();
    if (st == EVENT_OK &&
        (!ev.type || !ev.user_id || !event_user_id_valid(ev.user_id, strlen(ev.user_id)) ||
         (ev.delete_type != 0 && ev.delete_type != 1)))
        abort();
    event_clear(&ev);
    frame_schema_clear(&fs);
    return 0;
}
