/* schemareg.h - the Schema Registry client: writer schemas by id, on
 * libcurl's multi interface on the worker's event loop, never blocking.
 *
 * schemareg_lookup() answers from the cache, or starts
 * GET {url}/schemas/ids/{id} (Accept: application/vnd.schemaregistry.v1+json,
 * HTTP basic auth when configured, TLS 1.2+ always verified, ca_file added
 * to the system's trust store) and answers NULL until the answer is in:
 * the caller holds the event and asks again later (the loop asks on every
 * turn; an answer ends a turn of the event loop). One request per id at a
 * time.
 *
 * Answers (schemareg_classify):
 *  - 200 with {"schema": "...", "schemaType": ...}: cached for good (an
 *    id's schema never changes), also when it cannot be used (Protobuf,
 *    an Avro schema libavro refuses): its events are then invalid;
 *  - 404 with the registry's error_code 40403: the id is unknown; its
 *    events are invalid, and it is asked again after cache_ttl_ms;
 *  - transport failures, time-outs, 408, 429, 5xx: an outage;
 *  - 401, 403, an untrusted certificate, any other status, a 404 that is
 *    not the registry's, a 200 that is not a schema: systemic (set-up
 *    wrong).
 * An outage or systemic answer starts a pause (schemareg_paused()): no
 * request but one probe, retried with capped, jittered backoff; the lookups
 * meanwhile wait. The first probe that gets a schema or a 404 ends the
 * pause, and the waiting lookups are requested. Pauses are logged (the
 * loop shows them in pause{cause="registry_outage"|"registry_systemic"});
 * schema_registry_requests_total{outcome} counts the answers.
 *
 * Ownership: the client copies its options (the credential is wiped at
 * destroy) and owns the cache; a schema returned by lookup is borrowed
 * until the next call into the client. el, log and metrics are borrowed
 * (log and metrics may be NULL). Single-threaded: the loop's thread. */
#ifndef ZU_SCHEMAREG_H
#define ZU_SCHEMAREG_H

#include <stddef.h>
#include <stdint.h>

#include "common/evloop.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/metrics.h"

#define SCHEMAREG_MAX_BODY (1024 * 1024) /* a larger answer is an unusable schema */

typedef enum {
    SCHEMAREG_PAUSE_NONE = 0,
    SCHEMAREG_PAUSE_OUTAGE,   /* the registry answers nobody */
    SCHEMAREG_PAUSE_SYSTEMIC, /* credentials or set-up wrong */
} schemareg_pause_t;

/* "none" | "registry_outage" | "registry_systemic" */
const char *schemareg_pause_name(schemareg_pause_t p);

typedef struct schemareg_opts {
    const char *url;       /* base URL, e.g. "https://registry:8081" (a trailing '/' is ignored) */
    const char *user_info; /* "user:password" for basic auth; NULL or "" = none */
    const char *ca_file;   /* NULL or "" = system store only */
    int64_t cache_ttl_ms;  /* an unknown id (404) is asked again after this long */
    long request_timeout_ms;
    long connect_timeout_ms;
    int64_t probe_initial_ms; /* retry.initial_backoff_ms (backoff_probe_delay_ms) */
    int64_t probe_max_ms;     /* retry.max_backoff_ms */
    uint64_t seed;            /* jitter */
} schemareg_opts_t;

typedef struct schemareg schemareg_t;

/* NULL with errstr (bad URL, allocation, curl set-up). */
schemareg_t *schemareg_new(const schemareg_opts_t *opts, evloop_t *el, log_t *log,
                           metrics_t *metrics, char *errstr, size_t errstr_size);
/* Aborts requests in flight. NULL ok. */
void schemareg_destroy(schemareg_t *sr);

/* The schema of id when known (borrowed until the next call into the
 * client); NULL when not yet: a request was started, is running, or waits
 * for the pause to end. now_us: monotonic microseconds. */
const frame_schema_t *schemareg_lookup(schemareg_t *sr, uint32_t id, int64_t now_us);

/* The pause in force. */
schemareg_pause_t schemareg_paused(const schemareg_t *sr);

/* Requests running now. */
int schemareg_in_flight(const schemareg_t *sr);

typedef enum {
    SCHEMAREG_ANSWER_SCHEMA = 0, /* fs filled (possibly FRAME_SCHEMA_UNUSABLE) */
    SCHEMAREG_ANSWER_UNKNOWN_ID, /* fs: unusable, "is not in the schema registry ..." */
    SCHEMAREG_ANSWER_OUTAGE,     /* why says what failed */
    SCHEMAREG_ANSWER_SYSTEMIC,   /* why says what failed */
} schemareg_answer_t;

/* Classifies one finished request (see the top): curl's result code, the
 * HTTP status, the body (any bytes; body_over: it was cut at
 * SCHEMAREG_MAX_BODY). fs is filled for SCHEMA and UNKNOWN_ID (the caller
 * clears it), why (one line) for the others. -1 only when memory ran out.
 * Pure. */
int schemareg_classify(int curl_code, long http_status, const char *body, size_t len, int body_over,
                       schemareg_answer_t *answer, frame_schema_t *fs, char *why, size_t why_size);

#endif
