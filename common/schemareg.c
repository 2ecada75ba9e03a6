/* schemareg.c - the Schema Registry client (see schemareg.h).
 *
 * The cache is a hash table of entries by schema id (SipHash under a random
 * key: ids come from whoever writes to the input topic). An entry is
 * FETCHING (its request runs), WAITING (a pause holds it back; on the
 * waiting list) or DONE (fs is the answer; an unknown id's entry expires).
 * During a pause one WAITING entry is the probe: the probe timer starts its
 * request. */
#include "common/schemareg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/curlev.h"
#include "common/siphash.h"

#ifndef ZU_VERSION
#define ZU_VERSION "0.0.0"
#endif

#define SR_ACCEPT    "Accept: application/vnd.schemaregistry.v1+json"
#define SR_SWEEP_MIN 64 /* entries before expired unknown ids are swept */
/* An unknown-id answer reaches the event that waited for it within this,
 * whatever the TTL; unread by then (its partition was given up), it expires
 * as any other. */
#define SR_FRESH_US (60 * 1000000LL)

typedef enum { E_FETCHING, E_WAITING, E_DONE } entry_state_t;

typedef struct entry {
    uint32_t id;
    entry_state_t state;
    frame_schema_t fs;      /* E_DONE */
    int unknown;            /* E_DONE by a 404: expires */
    int64_t expires_us;     /* unknown: when it is asked again */
    int64_t fresh_until_us; /* unknown: answered and not read yet: read once, even expired */
    struct entry *hnext, *wnext;
} entry_t;

typedef struct request {
    struct request *prev, *next;
    CURL *easy;
    entry_t *entry;
    curlev_body_t body; /* up to SCHEMAREG_MAX_BODY */
    char errbuf[CURL_ERROR_SIZE];
} request_t;

struct schemareg {
    curlev_t *cm; /* curl multi on the event loop */
    CURLM *multi; /* curlev_multi(cm) */
    evloop_t *el;
    evloop_timer_t *probe_timer;
    log_t *log;
    char *base;      /* url without its trailing '/' */
    char *user_info; /* wiped at destroy; NULL = none */
    char *ca_file;
    struct curl_slist *headers;
    int64_t ttl_us;
    long request_timeout_ms, connect_timeout_ms;
    int64_t probe_initial_ms, probe_max_ms;
    backoff_rng_t rng;

    entry_t **buckets;
    size_t nbuckets, nentries, sweep_at;
    unsigned char key[SIPHASH_KEY_LEN];
    entry_t *waiting; /* WAITING entries, singly linked through wnext */
    request_t *running;
    int in_flight;

    schemareg_pause_t paused;
    entry_t *probe; /* the entry whose request probes the pause */
    int pause_attempt;

    metric_family_t *m_requests;
};

static const char *const pause_names[] = {"none", "registry_outage", "registry_systemic"};

const char *schemareg_pause_name(schemareg_pause_t p)
{
    return (unsigned)p < 3 ? pause_names[p] : "none";
}

__attribute__((format(printf, 3, 4))) static void seterr(char *errstr, size_t errstr_size,
                                                         const char *fmt, ...)
{
    va_list ap;
    if (!errstr || !errstr_size)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

/* ---- classification (pure) ---- */

static int curl_is_systemic(int cc)
{
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CIPHER:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
        return 1;
    default:
        return 0;
    }
}

/* A 200 answer: {"schema": "...", "schemaType": "AVRO" | "JSON" | ...}. */
static int classify_schema(const char *body, size_t len, schemareg_answer_t *answer,
                           frame_schema_t *fs, char *why, size_t why_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, 0, &jerr);
    const json_t *schema = json_object_get(root, "schema");
    const json_t *type = json_object_get(root, "schemaType");
    int rc = 0;

    if (!json_is_string(schema) || (type && !json_is_null(type) && !json_is_string(type))) {
        *answer = SCHEMAREG_ANSWER_SYSTEMIC;
        seterr(why, why_size, "HTTP 200 without a schema (%s): check schema_registry.url",
               !root ? "not JSON" : "no \"schema\" string");
        goto out;
    }
    *answer = SCHEMAREG_ANSWER_SCHEMA;
    rc = frame_schema_build(fs, json_is_string(type) ? json_string_value(type) : NULL,
                            json_string_value(schema), json_string_length(schema));
out:
    json_decref(root);
    return rc;
}

int schemareg_classify(int curl_code, long http_status, const char *body, size_t len, int body_over,
                       schemareg_answer_t *answer, frame_schema_t *fs, char *why, size_t why_size)
{
    memset(fs, 0, sizeof(*fs));
    if (why && why_size)
        why[0] = '\0';
    if (curl_code != CURLE_OK) {
        *answer = curl_is_systemic(curl_code) ? SCHEMAREG_ANSWER_SYSTEMIC : SCHEMAREG_ANSWER_OUTAGE;
        seterr(why, why_size, "%s", curl_easy_strerror((CURLcode)curl_code));
        return 0;
    }
    if (http_status == 200) {
        if (body_over) {
            *answer = SCHEMAREG_ANSWER_SCHEMA;
            frame_schema_unusable(fs, "has a registry answer larger than %d bytes",
                                  SCHEMAREG_MAX_BODY);
            return 0;
        }
        return classify_schema(body, len, answer, fs, why, why_size);
    }
    if (http_status == 404) {
        json_t *root = json_loadb(body ? body : "", body_over ? 0 : len, 0, NULL);
        json_int_t code = json_integer_value(json_object_get(root, "error_code"));
        json_decref(root);
        if (code == 40403) {
            *answer = SCHEMAREG_ANSWER_UNKNOWN_ID;
            frame_schema_unusable(fs, "is not in the schema registry (HTTP 404, error_code 40403)");
            return 0;
        }
        *answer = SCHEMAREG_ANSWER_SYSTEMIC;
        seterr(why, why_size,
               "HTTP 404 without the registry's error_code 40403: check schema_registry.url");
        return 0;
    }
    if (http_status == 408 || http_status == 429 || (http_status >= 500 && http_status <= 599)) {
        *answer = SCHEMAREG_ANSWER_OUTAGE;
        seterr(why, why_size, "HTTP %ld", http_status);
        return 0;
    }
    *answer = SCHEMAREG_ANSWER_SYSTEMIC;
    seterr(why, why_size, "HTTP %ld%s", http_status,
           http_status == 401 || http_status == 403 ? ": check basic_auth_user_info" : "");
    return 0;
}

/* ---- the cache ---- */

static entry_t **slot(schemareg_t *sr, uint32_t id)
{
    unsigned char b[4] = {(unsigned char)(id >> 24), (unsigned char)(id >> 16),
                          (unsigned char)(id >> 8), (unsigned char)id};
    entry_t **pp = &sr->buckets[siphash24(sr->key, b, 4) & (sr->nbuckets - 1)];
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->hnext;
    return pp;
}

static void entry_free(entry_t *e)
{
    frame_schema_clear(&e->fs);
    free(e);
}

/* Frees unknown ids whose time is up (never an entry in use). */
static void sweep(schemareg_t *sr, int64_t now_us)
{
    for (size_t i = 0; i < sr->nbuckets; i++) {
        entry_t **pp = &sr->buckets[i];
        while (*pp) {
            entry_t *e = *pp;
            if (e->state == E_DONE && e->unknown && e->fresh_until_us <= now_us &&
                e->expires_us <= now_us) {
                *pp = e->hnext;
                entry_free(e);
                sr->nentries--;
            } else {
                pp = &e->hnext;
            }
        }
    }
    sr->sweep_at = sr->nentries * 2 > SR_SWEEP_MIN ? sr->nentries * 2 : SR_SWEEP_MIN;
}

static int grow(schemareg_t *sr)
{
    size_t n = sr->nbuckets * 2;
    entry_t **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    entry_t **old = sr->buckets;
    size_t oldn = sr->nbuckets;
    sr->buckets = b;
    sr->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        entry_t *e = old[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            entry_t **pp = slot(sr, e->id);
            e->hnext = NULL;
            *pp = e;
        }
    }
    free(old);
    return 0;
}

/* ---- transport ---- */

static void request_free(request_t *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curlev_body_free(&r->body);
    free(r);
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (curl_easy_setopt(r->easy, opt, val) != CURLE_OK)                                       \
            goto fail;                                                                             \
    } while (0)

/* Starts e's request. -1 when it could not start (e is left as it was). */
static int request_start(schemareg_t *sr, entry_t *e)
{
    char url[2048];
    request_t *r = calloc(1, sizeof(*r));

    if (!r || !(r->easy = curl_easy_init()))
        goto fail;
    snprintf(url, sizeof(url), "%s/schemas/ids/%" PRIu32, sr->base, e->id);
    r->entry = e;
    SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(CURLOPT_PRIVATE, (void *)r);
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_HTTPGET, 1L);
    SETOPT(CURLOPT_HTTPHEADER, sr->headers);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_TIMEOUT_MS, sr->request_timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, sr->connect_timeout_ms);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (sr->ca_file) {
        SETOPT(CURLOPT_SSL_CTX_FUNCTION, curlev_add_ca_file);
        SETOPT(CURLOPT_SSL_CTX_DATA, sr->ca_file);
    }
    if (sr->user_info) {
        SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(CURLOPT_USERPWD, sr->user_info);
    }
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_USERAGENT, "zim-unfriend/" ZU_VERSION);
    r->body.max = SCHEMAREG_MAX_BODY;
    SETOPT(CURLOPT_WRITEFUNCTION, curlev_body_write);
    SETOPT(CURLOPT_WRITEDATA, (void *)&r->body);
    if (curl_multi_add_handle(sr->multi, r->easy) != CURLM_OK)
        goto fail;
    r->next = sr->running;
    if (sr->running)
        sr->running->prev = r;
    sr->running = r;
    sr->in_flight++;
    e->state = E_FETCHING;
    return 0;
fail:
    request_free(r);
    return -1;
}

/* ---- pauses ---- */

static void wait_push(schemareg_t *sr, entry_t *e)
{
    e->state = E_WAITING;
    e->wnext = sr->waiting;
    sr->waiting = e;
}

/* Takes e off the waiting list. 0 when it was on it. */
static int wait_remove(schemareg_t *sr, entry_t *e)
{
    entry_t **pp = &sr->waiting;
    while (*pp && *pp != e)
        pp = &(*pp)->wnext;
    if (!*pp)
        return -1;
    *pp = e->wnext;
    e->wnext = NULL;
    return 0;
}

static void log_pause(schemareg_t *sr, int first, const entry_t *e, long status, const char *why,
                      int64_t delay_ms)
{
    const char *msg =
        !first ? "still paused: the schema registry probe got no answer"
        : sr->paused == SCHEMAREG_PAUSE_OUTAGE
            ? "schema registry outage: pausing intake; no failure results are published and "
              "offsets stay uncommitted until the registry answers again"
            : "schema registry refuses the worker (credentials or set-up wrong): pausing intake; "
              "no failure results are published and offsets stay uncommitted until it answers";
    log_msg(sr->log, first ? LOG_ERROR : LOG_WARN, msg, "cause", schemareg_pause_name(sr->paused),
            "#schema_id", LOG_NUM(e->id), "#http_status", LOG_NUM(status), "error", why,
            "#retry_in_ms", LOG_NUM(delay_ms), NULL);
}

/* e's request got no usable answer (cause): pause, or go on pausing with
 * e as the probe, due after a capped, jittered backoff. A request that was
 * running when the pause began just waits (a systemic answer still turns
 * an outage pause systemic). */
static void pause_enter(schemareg_t *sr, entry_t *e, schemareg_pause_t cause, long status,
                        const char *why, int64_t now_us)
{
    int first = sr->paused == SCHEMAREG_PAUSE_NONE;

    wait_push(sr, e);
    if (!first && e != sr->probe) {
        if (cause == SCHEMAREG_PAUSE_SYSTEMIC && sr->paused == SCHEMAREG_PAUSE_OUTAGE) {
            sr->paused = cause;
            log_pause(sr, 1, e, status, why, -1);
        }
        return;
    }
    if (first || cause == SCHEMAREG_PAUSE_SYSTEMIC)
        sr->paused = cause;
    int64_t delay_ms = backoff_probe_delay_ms(&sr->rng, ++sr->pause_attempt, sr->probe_initial_ms,
                                              sr->probe_max_ms);
    sr->probe = e;
    evloop_timer_at(sr->el, sr->probe_timer, now_us + delay_ms * 1000);
    log_pause(sr, first, e, status, why, delay_ms);
}

/* A request was answered: the pause ends, the waiting ids are requested. */
static void pause_leave(schemareg_t *sr)
{
    log_msg(sr->log, LOG_INFO, "schema registry answers again: resuming", "cause",
            schemareg_pause_name(sr->paused), NULL);
    sr->paused = SCHEMAREG_PAUSE_NONE;
    sr->pause_attempt = 0;
    sr->probe = NULL;
    evloop_timer_cancel(sr->el, sr->probe_timer);
    entry_t *e = sr->waiting, *next;
    sr->waiting = NULL;
    for (; e; e = next) {
        next = e->wnext;
        e->wnext = NULL;
        if (request_start(sr, e) != 0)
            wait_push(sr, e); /* out of memory: tried again by the next lookup */
    }
}

static void on_probe(void *ctx, int64_t now_us)
{
    schemareg_t *sr = ctx;
    (void)now_us;
    if (!sr->probe || wait_remove(sr, sr->probe) != 0)
        return;
    if (request_start(sr, sr->probe) != 0)
        pause_enter(sr, sr->probe, sr->paused, 0, "out of memory", clock_mono_us());
}

/* ---- finished requests ---- */

static void request_done(schemareg_t *sr, request_t *r, CURLcode cc)
{
    entry_t *e = r->entry;
    long status = 0;
    schemareg_answer_t answer;
    char why[CURL_ERROR_SIZE + 64];
    int64_t now = clock_mono_us();
    static const char *const labels[] = {"outcome=\"schema\"", "outcome=\"unknown_id\"",
                                         "outcome=\"outage\"", "outcome=\"systemic\""};

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(sr->multi, r->easy);
    if (r->prev)
        r->prev->next = r->next;
    else
        sr->running = r->next;
    if (r->next)
        r->next->prev = r->prev;
    sr->in_flight--;
    if (schemareg_classify(cc, status, r->body.p, r->body.len, r->body.over, &answer, &e->fs, why,
                           sizeof(why)) != 0) {
        answer = SCHEMAREG_ANSWER_OUTAGE;
        snprintf(why, sizeof(why), "out of memory");
    }
    if (cc != CURLE_OK && r->errbuf[0])
        snprintf(why, sizeof(why), "%s", r->errbuf);
    request_free(r);
    if (sr->m_requests)
        metric_add(sr->m_requests, labels[answer], 1);
    if (answer == SCHEMAREG_ANSWER_OUTAGE || answer == SCHEMAREG_ANSWER_SYSTEMIC) {
        pause_enter(sr, e,
                    answer == SCHEMAREG_ANSWER_SYSTEMIC ? SCHEMAREG_PAUSE_SYSTEMIC
                                                        : SCHEMAREG_PAUSE_OUTAGE,
                    status, why, now);
        return;
    }
    e->state = E_DONE;
    e->unknown = answer == SCHEMAREG_ANSWER_UNKNOWN_ID;
    e->expires_us = e->unknown ? now + sr->ttl_us : 0;
    e->fresh_until_us = e->unknown ? now + SR_FRESH_US : 0; /* the waiting event gets it */
    log_msg(sr->log, e->unknown || e->fs.kind == FRAME_SCHEMA_UNUSABLE ? LOG_WARN : LOG_INFO,
            e->unknown ? "schema id unknown to the registry: its events are invalid"
            : e->fs.kind == FRAME_SCHEMA_UNUSABLE ? "schema cannot be used: its events are invalid"
                                                  : "schema fetched",
            "#schema_id", LOG_NUM(e->id), "kind",
            e->fs.kind == FRAME_SCHEMA_AVRO   ? "avro"
            : e->fs.kind == FRAME_SCHEMA_JSON ? "json"
                                              : "unusable",
            "reason", e->fs.kind == FRAME_SCHEMA_UNUSABLE ? e->fs.why : NULL, NULL);
    if (sr->paused != SCHEMAREG_PAUSE_NONE)
        pause_leave(sr);
}

/* curlev: a transfer finished. */
static void on_done(void *ctx, CURL *easy, CURLcode result)
{
    char *priv = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) == CURLE_OK && priv)
        request_done(ctx, (request_t *)(void *)priv, result);
}

/* ---- life cycle and lookups ---- */

schemareg_t *schemareg_new(const schemareg_opts_t *opts, evloop_t *el, log_t *log,
                           metrics_t *metrics, char *errstr, size_t errstr_size)
{
    schemareg_t *sr = calloc(1, sizeof(*sr));
    size_t n;

    if (!sr)
        goto oom;
    if (!opts || !opts->url || strncmp(opts->url, "http", 4) != 0 || !el) {
        seterr(errstr, errstr_size, "schema registry: no http(s) URL");
        goto fail;
    }
    sr->el = el;
    sr->log = log;
    n = strlen(opts->url);
    while (n > 0 && opts->url[n - 1] == '/')
        n--;
    if (!(sr->base = strndup(opts->url, n)))
        goto oom;
    if (opts->user_info && opts->user_info[0] && !(sr->user_info = strdup(opts->user_info)))
        goto oom;
    if (opts->ca_file && opts->ca_file[0] && !(sr->ca_file = strdup(opts->ca_file)))
        goto oom;
    if (!(sr->headers = curl_slist_append(NULL, SR_ACCEPT)))
        goto oom;
    sr->ttl_us = opts->cache_ttl_ms * 1000;
    sr->request_timeout_ms = opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 5000;
    sr->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 3000;
    sr->probe_initial_ms = opts->probe_initial_ms > 0 ? opts->probe_initial_ms : 1000;
    sr->probe_max_ms = opts->probe_max_ms > 0 ? opts->probe_max_ms : 10000;
    backoff_rng_seed(&sr->rng, opts->seed);
    sr->nbuckets = 64;
    sr->sweep_at = SR_SWEEP_MIN;
    if (!(sr->buckets = calloc(sr->nbuckets, sizeof(*sr->buckets))))
        goto oom;
    if (siphash_random_key(sr->key) != 0) {
        seterr(errstr, errstr_size, "schema registry: no random key: %s", strerror(errno));
        goto fail;
    }
    if (!(sr->probe_timer = evloop_timer_new(el, on_probe, sr)))
        goto oom;
    if (!(sr->cm = curlev_new(el, log, "schema registry", on_done, sr, errstr, errstr_size)))
        goto fail;
    sr->multi = curlev_multi(sr->cm);
    if (metrics) {
        sr->m_requests = metrics_counter(metrics, "schema_registry_requests_total",
                                         "Schema Registry answers by outcome");
    }
    return sr;
oom:
    seterr(errstr, errstr_size, "schema registry: out of memory");
fail:
    schemareg_destroy(sr);
    return NULL;
}

void schemareg_destroy(schemareg_t *sr)
{
    if (!sr)
        return;
    for (request_t *r = sr->running, *next; r; r = next) {
        next = r->next;
        if (sr->multi && r->easy)
            curl_multi_remove_handle(sr->multi, r->easy);
        request_free(r);
    }
    curlev_destroy(sr->cm); /* after the handles: its sockets leave the loop */
    evloop_timer_free(sr->el, sr->probe_timer);
    for (size_t i = 0; sr->buckets && i < sr->nbuckets; i++) {
        for (entry_t *e = sr->buckets[i], *next; e; e = next) {
            next = e->hnext;
            entry_free(e);
        }
    }
    free(sr->buckets);
    curl_slist_free_all(sr->headers);
    if (sr->user_info) {
        OPENSSL_cleanse(sr->user_info, strlen(sr->user_info));
        free(sr->user_info);
    }
    free(sr->ca_file);
    free(sr->base);
    free(sr);
}

const frame_schema_t *schemareg_lookup(schemareg_t *sr, uint32_t id, int64_t now_us)
{
    entry_t **pp = slot(sr, id), *e = *pp;

    if (e && e->state == E_DONE &&
        (!e->unknown || e->fresh_until_us > now_us || e->expires_us > now_us)) {
        e->fresh_until_us = 0;
        return &e->fs;
    }
    if (e && e->state == E_FETCHING)
        return NULL; /* its answer is awaited */
    if (e && e->state == E_WAITING) {
        /* Held back by a pause, or its request could not start: try now. */
        if (sr->paused == SCHEMAREG_PAUSE_NONE && wait_remove(sr, e) == 0 &&
            request_start(sr, e) != 0)
            wait_push(sr, e);
        return NULL;
    }
    if (!e) {
        if (sr->nentries >= sr->sweep_at) {
            sweep(sr, now_us);
            if (sr->nentries >= sr->nbuckets && grow(sr) != 0)
                return NULL;
            pp = slot(sr, id);
        }
        if (!(e = calloc(1, sizeof(*e))))
            return NULL;
        e->id = id;
        *pp = e;
        sr->nentries++;
    } else {
        frame_schema_clear(&e->fs); /* an unknown id whose time is up: asked again */
        e->unknown = 0;
    }
    if (sr->paused != SCHEMAREG_PAUSE_NONE || request_start(sr, e) != 0)
        wait_push(sr, e);
    return NULL;
}

schemareg_pause_t schemareg_paused(const schemareg_t *sr)
{
    return sr ? sr->paused : SCHEMAREG_PAUSE_NONE;
}

int schemareg_in_flight(const schemareg_t *sr)
{
    return sr ? sr->in_flight : 0;
}
