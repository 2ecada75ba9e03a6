/* sandbox_state.c - shared, locked state of zim-sandbox. */
#include "sandbox_state.h"
#include "sandbox_window.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define STATE_WINDOW_US 1000000 /* the QPS window: 1000 ms */

/* One counter per distinct key (a Code or an HTTP status). */
typedef struct counter {
    long key;
    unsigned long n;
} counter_t;

typedef struct counters {
    counter_t *v;
    size_t n;
    size_t cap;
} counters_t;

struct sandbox_state {
    uint32_t app_id;
    long qps;
    long latency_ms;
    sandbox_fail_t fails[SANDBOX_MAX_FAILS];
    size_t nfails;
    FILE *log;

    pthread_mutex_t lock; /* everything below up to log_lock */
    char *secret;
    uint64_t rng;
    uint64_t rid_key;
    uint64_t rid_counter;
    sandbox_window_t *admitted;
    sandbox_window_t *arrivals;
    sandbox_faultq_t *faults;
    unsigned long requests;
    unsigned long dropped;
    unsigned long nonjson;
    counters_t by_code;
    counters_t by_http;

    pthread_mutex_t log_lock; /* serialises log lines */

    pthread_mutex_t sleep_lock; /* guards stopping; with wake */
    pthread_cond_t wake;
    int stopping;
};

int64_t sandbox_now_us(int clock_id)
{
    struct timespec ts;

    clock_gettime((clockid_t)clock_id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* splitmix64: advances *x and returns the next 64 random bits. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 64 bits of seed material from the kernel, or from time and pid. */
static uint64_t random_seed(void)
{
    uint64_t v;

    if (getrandom(&v, sizeof(v), 0) == (ssize_t)sizeof(v))
        return v;
    v = (uint64_t)sandbox_now_us(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
    return splitmix64(&v);
}

sandbox_state_t *sandbox_state_new(const sandbox_config_t *cfg, char *errstr, size_t errstr_size)
{
    sandbox_state_t *st = calloc(1, sizeof(*st));
    pthread_condattr_t ca;
    int locks = 0, cond = 0;

    if (st == NULL)
        goto oom;
    if (cfg->nfails > SANDBOX_MAX_FAILS) {
        snprintf(errstr, errstr_size, "--fail: at most %d rules", SANDBOX_MAX_FAILS);
        free(st);
        return NULL;
    }
    st->app_id = cfg->app_id;
    st->qps = cfg->qps;
    st->latency_ms = cfg->latency_ms;
    if (cfg->nfails > 0)
        memcpy(st->fails, cfg->fails, cfg->nfails * sizeof(st->fails[0]));
    st->nfails = cfg->nfails;
    st->log = cfg->log;
    st->rng = cfg->seeded ? cfg->seed : random_seed();
    st->rid_key = random_seed();
    st->secret = strdup(cfg->secret);
    st->admitted = sandbox_window_new(STATE_WINDOW_US);
    st->arrivals = sandbox_window_new(STATE_WINDOW_US);
    st->faults = sandbox_faultq_new();
    if (st->secret == NULL || st->admitted == NULL || st->arrivals == NULL || st->faults == NULL)
        goto oom;
    if (pthread_mutex_init(&st->lock, NULL) != 0)
        goto oom;
    locks++;
    if (pthread_mutex_init(&st->log_lock, NULL) != 0)
        goto oom;
    locks++;
    if (pthread_mutex_init(&st->sleep_lock, NULL) != 0)
        goto oom;
    locks++;
    if (pthread_condattr_init(&ca) != 0)
        goto oom;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_cond_init(&st->wake, &ca) == 0)
        cond = 1;
    pthread_condattr_destroy(&ca);
    if (!cond)
        goto oom;
    return st;
oom:
    snprintf(errstr, errstr_size, "cannot create the sandbox state: out of resources");
    if (st != NULL) {
        if (locks > 2)
            pthread_mutex_destroy(&st->sleep_lock);
        if (locks > 1)
            pthread_mutex_destroy(&st->log_lock);
        if (locks > 0)
            pthread_mutex_destroy(&st->lock);
        free(st->secret);
        sandbox_window_destroy(st->admitted);
        sandbox_window_destroy(st->arrivals);
        sandbox_faultq_destroy(st->faults);
        free(st);
    }
    return NULL;
}

void sandbox_state_destroy(sandbox_state_t *st)
{
    if (st == NULL)
        return;
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->sleep_lock);
    pthread_mutex_destroy(&st->log_lock);
    pthread_mutex_destroy(&st->lock);
    free(st->secret);
    sandbox_window_destroy(st->admitted);
    sandbox_window_destroy(st->arrivals);
    sandbox_faultq_destroy(st->faults);
    free(st->by_code.v);
    free(st->by_http.v);
    free(st);
}

uint32_t sandbox_state_app_id(const sandbox_state_t *st)
{
    return st->app_id;
}

long sandbox_state_latency_ms(const sandbox_state_t *st)
{
    return st->latency_ms;
}

char *sandbox_state_secret_dup(sandbox_state_t *st)
{
    char *s;

    pthread_mutex_lock(&st->lock);
    s = strdup(st->secret);
    pthread_mutex_unlock(&st->lock);
    return s;
}

int sandbox_state_set_secret(sandbox_state_t *st, const char *secret)
{
    char *s = strdup(secret), *old;

    if (s == NULL)
        return -1;
    pthread_mutex_lock(&st->lock);
    old = st->secret;
    st->secret = s;
    pthread_mutex_unlock(&st->lock);
    free(old);
    return 0;
}

void sandbox_state_request_id(sandbox_state_t *st, char *out)
{
    uint64_t x;

    pthread_mutex_lock(&st->lock);
    x = ++st->rid_counter ^ st->rid_key;
    pthread_mutex_unlock(&st->lock);
    /* The splitmix64 finaliser is a bijection: distinct counters give
     * distinct ids. Subtract the increment that splitmix64() adds. */
    x -= 0x9e3779b97f4a7c15ULL;
    snprintf(out, SANDBOX_REQUEST_ID_LEN + 1, "%016" PRIx64, splitmix64(&x));
}

void sandbox_state_note_arrival(sandbox_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    (void)sandbox_window_add(st->arrivals, sandbox_now_us(CLOCK_MONOTONIC));
    pthread_mutex_unlock(&st->lock);
}

int sandbox_state_admit(sandbox_state_t *st)
{
    int64_t now;
    int ok = 1;

    pthread_mutex_lock(&st->lock);
    now = sandbox_now_us(CLOCK_MONOTONIC);
    if (st->qps > 0 && sandbox_window_count(st->admitted, now) + 1 > (size_t)st->qps)
        ok = 0;
    else
        (void)sandbox_window_add(st->admitted, now);
    pthread_mutex_unlock(&st->lock);
    return ok;
}

int sandbox_state_draw_fail(sandbox_state_t *st, long *code)
{
    double u, acc = 0.0;
    size_t i;

    if (st->nfails == 0)
        return 0;
    pthread_mutex_lock(&st->lock);
    u = (double)(splitmix64(&st->rng) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
    pthread_mutex_unlock(&st->lock);
    for (i = 0; i < st->nfails; i++) {
        acc += st->fails[i].rate;
        if (u < acc) {
            *code = st->fails[i].code;
            return 1;
        }
    }
    return 0;
}

int sandbox_state_push_fault(sandbox_state_t *st, const sandbox_fault_t *f, long count,
                             const char *user)
{
    int rc;

    pthread_mutex_lock(&st->lock);
    rc = sandbox_faultq_push(st->faults, f, count, user);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int sandbox_state_take_fault(sandbox_state_t *st, const char *user, sandbox_fault_t *out)
{
    int rc;

    pthread_mutex_lock(&st->lock);
    rc = sandbox_faultq_take(st->faults, user, out);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

long sandbox_state_faults_pending(sandbox_state_t *st)
{
    long n;

    pthread_mutex_lock(&st->lock);
    n = sandbox_faultq_pending(st->faults);
    pthread_mutex_unlock(&st->lock);
    return n;
}

void sandbox_state_reset(sandbox_state_t *st, int stats)
{
    int64_t now;

    pthread_mutex_lock(&st->lock);
    sandbox_faultq_clear(st->faults);
    if (stats) {
        now = sandbox_now_us(CLOCK_MONOTONIC);
        st->requests = 0;
        st->dropped = 0;
        st->nonjson = 0;
        st->by_code.n = 0;
        st->by_http.n = 0;
        sandbox_window_reset_max(st->admitted, now);
        sandbox_window_reset_max(st->arrivals, now);
    }
    pthread_mutex_unlock(&st->lock);
}

/* Adds one to the counter of key, keeping the keys sorted. */
static void counters_bump(counters_t *c, long key)
{
    counter_t *v;
    size_t i, cap;

    for (i = 0; i < c->n && c->v[i].key < key; i++)
        continue;
    if (i < c->n && c->v[i].key == key) {
        c->v[i].n++;
        return;
    }
    if (c->n == c->cap) {
        cap = c->cap ? c->cap * 2 : 16;
        v = realloc(c->v, cap * sizeof(*v));
        if (v == NULL)
            return;
        c->v = v;
        c->cap = cap;
    }
    memmove(c->v + i + 1, c->v + i, (c->n - i) * sizeof(*c->v));
    c->v[i].key = key;
    c->v[i].n = 1;
    c->n++;
}

static void counters_json(const counters_t *c, sandbox_buf_t *b)
{
    size_t i;

    sandbox_buf_puts(b, "{");
    for (i = 0; i < c->n; i++)
        sandbox_buf_printf(b, "%s\"%ld\":%lu", i ? "," : "", c->v[i].key, c->v[i].n);
    sandbox_buf_puts(b, "}");
}

/* Writes the request-log line of o, when a log is configured. */
static void log_outcome(sandbox_state_t *st, const sandbox_outcome_t *o)
{
    sandbox_buf_t b;

    if (st->log == NULL)
        return;
    sandbox_buf_init(&b);
    sandbox_buf_printf(&b, "{\"ts_start_us\":%" PRId64 ",\"ts_end_us\":%" PRId64 ",\"user_id\":",
                       o->ts_start_us, o->ts_end_us);
    sandbox_buf_json_str(&b, o->user_id);
    sandbox_buf_puts(&b, ",\"delete_type\":");
    if (o->has_delete_type)
        sandbox_buf_printf(&b, "%lld", o->delete_type);
    else
        sandbox_buf_puts(&b, "null");
    sandbox_buf_puts(&b, ",\"app_id\":");
    if (o->has_app_id)
        sandbox_buf_printf(&b, "%lld", o->app_id);
    else
        sandbox_buf_puts(&b, "null");
    sandbox_buf_puts(&b, ",\"code\":");
    if (o->has_code)
        sandbox_buf_printf(&b, "%ld", o->code);
    else
        sandbox_buf_puts(&b, "null");
    sandbox_buf_printf(&b, ",\"http_status\":%d,\"request_id\":", o->http_status);
    sandbox_buf_json_str(&b, o->request_id);
    sandbox_buf_puts(&b, ",\"fault\":");
    sandbox_buf_json_str(&b, o->fault);
    sandbox_buf_printf(&b, ",\"remote_port\":%d}\n", o->remote_port);
    if (!b.oom) {
        pthread_mutex_lock(&st->log_lock);
        (void)fwrite(b.data, 1, b.len, st->log);
        (void)fflush(st->log);
        pthread_mutex_unlock(&st->log_lock);
    }
    sandbox_buf_free(&b);
}

void sandbox_state_record(sandbox_state_t *st, const sandbox_outcome_t *o)
{
    pthread_mutex_lock(&st->lock);
    st->requests++;
    if (o->http_status == 0)
        st->dropped++;
    else
        counters_bump(&st->by_http, o->http_status);
    if (o->nonjson)
        st->nonjson++;
    if (o->has_code)
        counters_bump(&st->by_code, o->code);
    pthread_mutex_unlock(&st->lock);
    log_outcome(st, o);
}

void sandbox_state_stats_json(sandbox_state_t *st, sandbox_buf_t *b)
{
    int64_t now;

    pthread_mutex_lock(&st->lock);
    now = sandbox_now_us(CLOCK_MONOTONIC);
    sandbox_buf_printf(b, "{\"requests\":%lu,\"by_code\":", st->requests);
    counters_json(&st->by_code, b);
    sandbox_buf_puts(b, ",\"by_http_status\":");
    counters_json(&st->by_http, b);
    sandbox_buf_printf(b,
                       ",\"dropped\":%lu,\"nonjson\":%lu,\"max_window_qps\":%zu,"
                       "\"max_window_requests\":%zu,\"window_qps\":%zu,\"faults_pending\":%ld,"
                       "\"qps_limit\":%ld,\"app_id\":%" PRIu32 "}",
                       st->dropped, st->nonjson, sandbox_window_max(st->admitted),
                       sandbox_window_max(st->arrivals), sandbox_window_count(st->admitted, now),
                       sandbox_faultq_pending(st->faults), st->qps, st->app_id);
    pthread_mutex_unlock(&st->lock);
}

int sandbox_state_sleep_ms(sandbox_state_t *st, long ms)
{
    struct timespec until;
    int64_t end_us;
    int rc = 0;

    if (ms <= 0)
        return 0;
    end_us = sandbox_now_us(CLOCK_MONOTONIC) + (int64_t)ms * 1000;
    until.tv_sec = (time_t)(end_us / 1000000);
    until.tv_nsec = (long)(end_us % 1000000) * 1000;
    pthread_mutex_lock(&st->sleep_lock);
    while (!st->stopping) {
        rc = pthread_cond_timedwait(&st->wake, &st->sleep_lock, &until);
        if (rc == ETIMEDOUT)
            break;
    }
    rc = st->stopping ? -1 : 0;
    pthread_mutex_unlock(&st->sleep_lock);
    return rc;
}

void sandbox_state_stop(sandbox_state_t *st)
{
    pthread_mutex_lock(&st->sleep_lock);
    st->stopping = 1;
    pthread_cond_broadcast(&st->wake);
    pthread_mutex_unlock(&st->sleep_lock);
}
