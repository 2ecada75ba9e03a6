/* sandbox_fault.h - fault kinds, the queue of on-demand faults, and the
 * random --fail rules of zim-sandbox.
 *
 * Fault syntax (the control endpoint's kind= value):
 *   code:<int>     answer HTTP 200 with this JSON Code (no parameter checks)
 *   http:<status>  answer this HTTP status (200-599) with a short text body
 *   nonjson        answer HTTP 200 with a body that is not JSON
 *   drop           close the connection without an answer
 *   latency:<ms>   answer normally, but after ms milliseconds (0-3600000)
 * Queued faults are served first in, first out; an entry applies to count
 * requests, optionally only to those with a given FromUserId. Not
 * thread-safe: the caller locks. */
#ifndef ZU_SANDBOX_FAULT_H
#define ZU_SANDBOX_FAULT_H

#include <stddef.h>

typedef enum {
    SANDBOX_FAULT_NONE = 0,
    SANDBOX_FAULT_CODE,
    SANDBOX_FAULT_HTTP,
    SANDBOX_FAULT_NONJSON,
    SANDBOX_FAULT_DROP,
    SANDBOX_FAULT_LATENCY
} sandbox_fault_kind_t;

#define SANDBOX_FAULT_LABEL_MAX 32

typedef struct sandbox_fault {
    sandbox_fault_kind_t kind;
    long arg;                            /* code, HTTP status or milliseconds */
    char label[SANDBOX_FAULT_LABEL_MAX]; /* canonical text, e.g. "http:503" */
} sandbox_fault_t;

/* Parses spec (syntax above) into *out. 0 ok; -1 with errstr naming the
 * problem. *out is written only on success. */
int sandbox_fault_parse(const char *spec, sandbox_fault_t *out, char *errstr, size_t errstr_size);

typedef struct sandbox_faultq sandbox_faultq_t;

/* A new, empty queue; NULL when out of memory. Freed by sandbox_faultq_destroy(). */
sandbox_faultq_t *sandbox_faultq_new(void);
/* Frees q and its entries; NULL is fine. */
void sandbox_faultq_destroy(sandbox_faultq_t *q);
/* Appends a fault for the next count (>= 1) matching requests; user (copied)
 * restricts it to that FromUserId, NULL to any request. 0 ok, -1 out of memory. */
int sandbox_faultq_push(sandbox_faultq_t *q, const sandbox_fault_t *f, long count,
                        const char *user);
/* Takes one use of the oldest entry that matches user (NULL: the request has
 * no FromUserId, so only unrestricted entries match) into *out. Returns 1
 * when a fault was taken, 0 when none matches (*out untouched). */
int sandbox_faultq_take(sandbox_faultq_t *q, const char *user, sandbox_fault_t *out);
/* Removes every entry. */
void sandbox_faultq_clear(sandbox_faultq_t *q);
/* Sum of the remaining uses of all entries. */
long sandbox_faultq_pending(const sandbox_faultq_t *q);

/* One --fail rule: answer code with probability rate. */
typedef struct sandbox_fail {
    long code;
    double rate; /* 0 < rate <= 1 */
} sandbox_fail_t;

/* Parses "CODE:RATE" (e.g. "660000001:0.25"). 0 ok; -1 with errstr. */
int sandbox_fail_parse(const char *spec, sandbox_fail_t *out, char *errstr, size_t errstr_size);

#endif
