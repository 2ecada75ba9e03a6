/* result.h - result events (docs/contract.md, "Result events") as JSON.
 *
 * Pure formatting: the caller fills a result_t of borrowed pointers and gets
 * back a malloc'ed compact JSON string (the caller frees it). Thread-safe. */
#ifndef ZU_RESULT_H
#define ZU_RESULT_H

#include <stddef.h>
#include <stdint.h>

#define RESULT_SCHEMA "zim-unfriend/result/v1"

/* A failure result's error_class. Strings exist only at the edges (JSON,
 * logs, metric labels, configuration): result_error_name(), result_error_parse(). */
typedef enum {
    RESULT_ERR_NONE = 0, /* success (or a dry run): "error_class": null */
    RESULT_ERR_INVALID_EVENT,
    RESULT_ERR_REJECTED,
    RESULT_ERR_RETRIES_EXHAUSTED,
    RESULT_ERR__CNT
} result_error_t;

/* "invalid_event" | "rejected" | "retries_exhausted"; NULL for RESULT_ERR_NONE. */
const char *result_error_name(result_error_t e);
/* The class named s; RESULT_ERR_NONE when s names none. */
result_error_t result_error_parse(const char *s);

typedef struct result {
    const char *status; /* "success" | "failure" | "dry_run" */
    const char *event_id;
    const char *event_type; /* NULL -> null */
    const char *user_id;    /* NULL -> null */
    uint32_t app_id;
    int delete_type; /* -1 -> null */
    int has_code;    /* 0 -> "code": null */
    int64_t code;
    const char *message;
    const char *request_id; /* NULL or "" -> null */
    int attempts;
    const char *error_class; /* NULL -> null */
    const char *occurred_at; /* NULL -> null */
    const char *topic;       /* NULL -> "source": null (not from Kafka: --once) */
    int32_t partition;
    int64_t offset;
    int64_t received_at_ms; /* Unix ms -> RFC 3339 UTC with milliseconds */
    int64_t completed_at_ms;
    const char *worker;     /* "host/pid" */
    const char *covered_by; /* NULL: omitted; else the event_id whose call answered it */
    /* --redrive: the failure result's coordinates (NULL topic: omitted). */
    const char *redrive_topic;
    int32_t redrive_partition;
    int64_t redrive_offset;
} result_t;

/* Returns the JSON text (NUL-terminated, malloc'ed) or NULL on allocation
 * failure. Strings that are not valid UTF-8 are emitted with U+FFFD. */
char *result_to_json(const result_t *r);

#endif
