/* event.h - input events: parsing and validation.
 *
 * An input message value is a UTF-8 JSON object (docs/contract.md, "Input events"),
 * or a CloudEvents 1.0 structured-mode object (it has "specversion"):
 * "type" and "id" from the envelope, "user_id" and "delete_type" from
 * "data". Any bytes are accepted as input: nothing here crashes, and every
 * rejection says why in ev->error.
 *
 * Ownership: event_parse() fills an event_t whose strings are malloc'ed and
 * owned by it; event_clear() frees them. Thread-safe (no shared state). */
#ifndef ZU_EVENT_H
#define ZU_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

#define EVENT_USER_ID_MAX 32
#define EVENT_ID_MAX      128
#define EVENT_TYPE_MAX    256
#define EVENT_VALUE_MAX   (1024 * 1024) /* larger values are invalid, unparsed */

typedef enum {
    EVENT_OK = 0,       /* valid: call the API */
    EVENT_INVALID,      /* failure result, error_class invalid_event, DLQ copy */
    EVENT_UNKNOWN_TYPE, /* type matches no events.*.match: per events.unknown_types */
} event_status_t;

typedef struct event {
    char *type;        /* the type string; NULL when missing or not a usable string */
    char *user_id;     /* a valid ZIM user id; NULL when missing or invalid */
    char *event_id;    /* given id, else "<topic>/<partition>/<offset>"; never NULL after parse */
    char *occurred_at; /* NULL when none */
    int delete_type;   /* 0 / 1 resolved (override, else the class default); -1 unknown */
    char error[256];   /* why it is invalid / unknown; "" when valid */
} event_t;

/* The event_id of an event that has none: "<topic>/<partition>/<offset>"
 * (NULL topic: ""), cut to fit out[size]. A topic name may be 249
 * characters, so the default may be longer than an event's own event_id
 * may be (EVENT_ID_MAX). Returns out. */
#define EVENT_DEFAULT_ID_SIZE 512
char *event_default_id(char *out, size_t size, const char *topic, int32_t partition,
                       int64_t offset);

/* Parses and validates one message value against the configuration
 * (events.*, zim.app_id). Fields that could be read are filled even when the
 * event is invalid, so the failure result can carry them. Returns the status;
 * EVENT_INVALID also on allocation failure (error says so). */
event_status_t event_parse(const config_t *cfg, const void *value, size_t len, const char *topic,
                           int32_t partition, int64_t offset, event_t *ev);

/* The same rules as event_parse(), on a JSON object that is already parsed
 * (an Avro record mapped to JSON: common/avro_event). root is borrowed;
 * anything but an object is invalid. */
struct json_t;
event_status_t event_parse_object(const config_t *cfg, const struct json_t *root, const char *topic,
                                  int32_t partition, int64_t offset, event_t *ev);

/* Fills ev as an invalid event whose value could not be read at all (a
 * framed value whose schema is unknown or unusable, say): the default
 * event_id, error = the formatted reason (made one line of valid UTF-8).
 * Returns EVENT_INVALID. */
event_status_t event_invalid(event_t *ev, const char *topic, int32_t partition, int64_t offset,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Frees the strings and zeroes the event. NULL ok. */
void event_clear(event_t *ev);

/* 1 when s (len bytes) is a valid FromUserId: 1-32 characters from
 * 0-9 A-Z a-z and ! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ */
int event_user_id_valid(const char *s, size_t len);

#endif
