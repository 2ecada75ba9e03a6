/* sandbox_fault.c - fault parsing, the fault queue and --fail rules. */
#include "sandbox_fault.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_LATENCY_MAX_MS 3600000L

typedef struct fault_entry {
    sandbox_fault_t fault;
    long remaining;
    char *user; /* NULL: any request */
    struct fault_entry *next;
} fault_entry_t;

struct sandbox_faultq {
    fault_entry_t *head;
    fault_entry_t *tail;
};

/* Parses a whole decimal integer in [min, max]; leading '-' only when min < 0.
 * 0 ok, -1 otherwise. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (!((*s >= '0' && *s <= '9') || (*s == '-' && min < 0)))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int sandbox_fault_parse(const char *spec, sandbox_fault_t *out, char *errstr, size_t errstr_size)
{
    sandbox_fault_t f;

    memset(&f, 0, sizeof(f));
    if (strcmp(spec, "nonjson") == 0) {
        f.kind = SANDBOX_FAULT_NONJSON;
    } else if (strcmp(spec, "drop") == 0) {
        f.kind = SANDBOX_FAULT_DROP;
    } else if (strncmp(spec, "code:", 5) == 0) {
        f.kind = SANDBOX_FAULT_CODE;
        if (parse_long(spec + 5, INT_MIN, INT_MAX, &f.arg) != 0) {
            snprintf(errstr, errstr_size, "kind code:<int>: \"%s\" is not an integer", spec + 5);
            return -1;
        }
    } else if (strncmp(spec, "http:", 5) == 0) {
        f.kind = SANDBOX_FAULT_HTTP;
        if (parse_long(spec + 5, 200, 599, &f.arg) != 0) {
            snprintf(errstr, errstr_size, "kind http:<status>: status must be 200-599");
            return -1;
        }
    } else if (strncmp(spec, "latency:", 8) == 0) {
        f.kind = SANDBOX_FAULT_LATENCY;
        if (parse_long(spec + 8, 0, FAULT_LATENCY_MAX_MS, &f.arg) != 0) {
            snprintf(errstr, errstr_size, "kind latency:<ms>: ms must be 0-%ld",
                     FAULT_LATENCY_MAX_MS);
            return -1;
        }
    } else {
        snprintf(errstr, errstr_size,
                 "unknown fault kind (use code:<int>, http:<status>, nonjson, drop, "
                 "latency:<ms>)");
        return -1;
    }
    switch (f.kind) {
    case SANDBOX_FAULT_CODE:
        snprintf(f.label, sizeof(f.label), "code:%ld", f.arg);
        break;
    case SANDBOX_FAULT_HTTP:
        snprintf(f.label, sizeof(f.label), "http:%ld", f.arg);
        break;
    case SANDBOX_FAULT_LATENCY:
        snprintf(f.label, sizeof(f.label), "latency:%ld", f.arg);
        break;
    default:
        snprintf(f.label, sizeof(f.label), "%s", spec);
        break;
    }
    *out = f;
    return 0;
}

sandbox_faultq_t *sandbox_faultq_new(void)
{
    return calloc(1, sizeof(sandbox_faultq_t));
}

void sandbox_faultq_clear(sandbox_faultq_t *q)
{
    fault_entry_t *e, *next;

    for (e = q->head; e != NULL; e = next) {
        next = e->next;
        free(e->user);
        free(e);
    }
    q->head = NULL;
    q->tail = NULL;
}

void sandbox_faultq_destroy(sandbox_faultq_t *q)
{
    if (q == NULL)
        return;
    sandbox_faultq_clear(q);
    free(q);
}

int sandbox_faultq_push(sandbox_faultq_t *q, const sandbox_fault_t *f, long count, const char *user)
{
    fault_entry_t *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return -1;
    if (user != NULL) {
        e->user = strdup(user);
        if (e->user == NULL) {
            free(e);
            return -1;
        }
    }
    e->fault = *f;
    e->remaining = count;
    if (q->tail != NULL)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    return 0;
}

int sandbox_faultq_take(sandbox_faultq_t *q, const char *user, sandbox_fault_t *out)
{
    fault_entry_t *e, *prev = NULL;

    for (e = q->head; e != NULL; prev = e, e = e->next) {
        if (e->user != NULL && (user == NULL || strcmp(e->user, user) != 0))
            continue;
        *out = e->fault;
        if (--e->remaining > 0)
            return 1;
        if (prev != NULL)
            prev->next = e->next;
        else
            q->head = e->next;
        if (q->tail == e)
            q->tail = prev;
        free(e->user);
        free(e);
        return 1;
    }
    return 0;
}

long sandbox_faultq_pending(const sandbox_faultq_t *q)
{
    const fault_entry_t *e;
    long n = 0;

    for (e = q->head; e != NULL; e = e->next)
        n += e->remaining;
    return n;
}

int sandbox_fail_parse(const char *spec, sandbox_fail_t *out, char *errstr, size_t errstr_size)
{
    const char *colon = strchr(spec, ':');
    char code[16], *end;
    size_t len;
    double rate;
    long c;

    if (colon == NULL) {
        snprintf(errstr, errstr_size, "--fail \"%s\": expected CODE:RATE", spec);
        return -1;
    }
    len = (size_t)(colon - spec);
    if (len == 0 || len >= sizeof(code)) {
        snprintf(errstr, errstr_size, "--fail \"%s\": CODE must be an integer", spec);
        return -1;
    }
    memcpy(code, spec, len);
    code[len] = '\0';
    if (parse_long(code, INT_MIN, INT_MAX, &c) != 0) {
        snprintf(errstr, errstr_size, "--fail \"%s\": CODE must be an integer", spec);
        return -1;
    }
    errno = 0;
    rate = strtod(colon + 1, &end);
    if (!((colon[1] >= '0' && colon[1] <= '9') || colon[1] == '.') || errno != 0 || *end != '\0' ||
        !(rate > 0.0) || rate > 1.0) {
        snprintf(errstr, errstr_size, "--fail \"%s\": RATE must be a number with 0 < RATE <= 1",
                 spec);
        return -1;
    }
    out->code = c;
    out->rate = rate;
    return 0;
}
