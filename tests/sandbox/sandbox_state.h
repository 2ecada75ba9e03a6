/* sandbox_state.h - the shared state of zim-sandbox: configuration, the
 * current secret, the AppId QPS window, queued faults, --fail rules,
 * counters and the request log.
 *
 * Every function may be called from any connection thread: the state locks
 * internally (one mutex for counters, windows and faults, one for the log
 * file, one for interruptible sleeps). */
#ifndef ZU_SANDBOX_STATE_H
#define ZU_SANDBOX_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sandbox_fault.h"
#include "sandbox_json.h"

#define SANDBOX_REQUEST_ID_LEN 16 /* hex digits, without the NUL */
#define SANDBOX_MAX_FAILS      32 /* --fail rules */

typedef struct sandbox_config {
    uint32_t app_id;
    const char *secret;          /* copied */
    long qps;                    /* admitted calls per 1000 ms; 0 = no limit */
    long latency_ms;             /* delay of every API answer */
    const sandbox_fail_t *fails; /* copied; nfails <= SANDBOX_MAX_FAILS */
    size_t nfails;
    uint64_t seed; /* for the --fail draws, when seeded */
    int seeded;
    FILE *log; /* borrowed: request log, NULL for none; never closed here */
} sandbox_config_t;

/* What happened to one API request, for the counters and the log line. */
typedef struct sandbox_outcome {
    int64_t ts_start_us; /* CLOCK_REALTIME at arrival */
    int64_t ts_end_us;   /* CLOCK_REALTIME at the answer */
    const char *user_id; /* decoded FromUserId, NULL when absent */
    int has_delete_type;
    long long delete_type;
    int has_app_id;
    long long app_id;
    int has_code; /* 0 for drop, nonjson and http faults */
    long code;
    int http_status;        /* 0 when the connection was dropped */
    const char *request_id; /* NULL when the answer carries none */
    const char *fault;      /* fault label ("http:503", "fail:1"), NULL for none */
    int remote_port;
    int nonjson; /* the body was deliberately not JSON */
} sandbox_outcome_t;

typedef struct sandbox_state sandbox_state_t;

/* Microseconds of the given clock (CLOCK_REALTIME or CLOCK_MONOTONIC). */
int64_t sandbox_now_us(int clock_id);

/* A new state from cfg (copied, log borrowed). NULL with errstr on failure.
 * Freed by sandbox_state_destroy(). */
sandbox_state_t *sandbox_state_new(const sandbox_config_t *cfg, char *errstr, size_t errstr_size);
/* Frees st; NULL is fine. No request may be in progress. */
void sandbox_state_destroy(sandbox_state_t *st);

uint32_t sandbox_state_app_id(const sandbox_state_t *st);
long sandbox_state_latency_ms(const sandbox_state_t *st);

/* A malloc'd copy of the current secret (caller frees), NULL when out of memory. */
char *sandbox_state_secret_dup(sandbox_state_t *st);
/* Replaces the secret (copied). 0 ok, -1 out of memory (secret unchanged). */
int sandbox_state_set_secret(sandbox_state_t *st, const char *secret);

/* Writes a fresh RequestId (unique within this process, random across
 * processes) to out[SANDBOX_REQUEST_ID_LEN + 1]. */
void sandbox_state_request_id(sandbox_state_t *st, char *out);

/* Counts an API request's arrival in the all-requests window. */
void sandbox_state_note_arrival(sandbox_state_t *st);
/* Asks to admit one call under the QPS limit now. 1 admitted (counted in the
 * admitted window), 0 when the limit is reached (not counted). */
int sandbox_state_admit(sandbox_state_t *st);
/* Draws the --fail rules: 1 with *code set when one fires, else 0. */
int sandbox_state_draw_fail(sandbox_state_t *st, long *code);

/* Queues a fault (see sandbox_faultq_push()). 0 ok, -1 out of memory. */
int sandbox_state_push_fault(sandbox_state_t *st, const sandbox_fault_t *f, long count,
                             const char *user);
/* Takes the next fault for a request of user (may be NULL). 1 taken, 0 none. */
int sandbox_state_take_fault(sandbox_state_t *st, const char *user, sandbox_fault_t *out);
/* Remaining queued fault uses. */
long sandbox_state_faults_pending(sandbox_state_t *st);
/* Clears the fault queue; with stats also the counters and window maxima. */
void sandbox_state_reset(sandbox_state_t *st, int stats);

/* Updates the counters and writes the request-log line for one request. */
void sandbox_state_record(sandbox_state_t *st, const sandbox_outcome_t *o);
/* Appends the counters as a JSON object to b. */
void sandbox_state_stats_json(sandbox_state_t *st, sandbox_buf_t *b);

/* Sleeps ms milliseconds unless the server stops. 0 slept, -1 stopping. */
int sandbox_state_sleep_ms(sandbox_state_t *st, long ms);
/* Wakes every sleeper and makes later sleeps return at once. */
void sandbox_state_stop(sandbox_state_t *st);

#endif
