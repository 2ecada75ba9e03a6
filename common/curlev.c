/* curlev.c - a libcurl multi handle driven by the event loop (see curlev.h). */
#include "common/curlev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/clock.h"

/* Transfers whose socket the loop could not watch, failed once curl
 * returns (at most this many per curl call; more make curl fail them all). */
#define CURLEV_MAX_UNWATCHED 16

struct curlev {
    CURLM *multi;
    CURL *unwatched[CURLEV_MAX_UNWATCHED];
    size_t nunwatched;
    evloop_t *el;
    evloop_timer_t *timer; /* curl's timeout */
    log_t *log;
    char name[32];
    curlev_done_cb *done;
    void *ctx;
    int global_init;
};

/* Hands every finished transfer to the done callback. The message is read
 * out first: the callback may remove its handle. */
static void collect(curlev_t *cm)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(cm->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        cm->done(cm->ctx, easy, result);
    }
}

/* Ends the transfers whose socket could not be watched (CURLE_OUT_OF_MEMORY:
 * the loop's table or the kernel's epoll set could not take it). Each is
 * taken out of the multi handle first, which also drops any message curl
 * queued for it, so it is handed over once. */
static void fail_unwatched(curlev_t *cm)
{
    while (cm->nunwatched > 0) {
        CURL *easy = cm->unwatched[--cm->nunwatched];
        curl_multi_remove_handle(cm->multi, easy);
        cm->done(cm->ctx, easy, CURLE_OUT_OF_MEMORY);
    }
}

static void socket_action(curlev_t *cm, curl_socket_t fd, int mask)
{
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(cm->multi, fd, mask, &running);
    if (mc != CURLM_OK)
        log_msg(cm->log, LOG_ERROR, "curl_multi_socket_action", "client", cm->name, "error",
                curl_multi_strerror(mc), NULL);
    fail_unwatched(cm);
    collect(cm);
}

/* The event loop: one of curl's sockets is ready. */
static void on_socket(void *ctx, int fd, int events)
{
    socket_action(ctx, fd,
                  (events & EVLOOP_READ ? CURL_CSELECT_IN : 0) |
                      (events & EVLOOP_WRITE ? CURL_CSELECT_OUT : 0));
}

/* The event loop: curl's timeout is due. */
static void on_timeout(void *ctx, int64_t now_us)
{
    (void)now_us;
    socket_action(ctx, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: which sockets curl waits on, for what. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    curlev_t *cm = userp;
    char err[160];
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        /* A kept-alive connection leaves curl's watch at the end of each
         * call and comes back with the next: it stays in the epoll set
         * meanwhile (curl never duplicates its sockets). */
        evloop_fd_idle(cm->el, s);
        return 0;
    }
    int events =
        (what & CURL_POLL_IN ? EVLOOP_READ : 0) | (what & CURL_POLL_OUT ? EVLOOP_WRITE : 0);
    if (evloop_fd_set(cm->el, s, events, on_socket, cm, err, sizeof(err)) != 0) {
        log_msg(cm->log, LOG_ERROR, "http client socket", "client", cm->name, "error", err, NULL);
        /* That transfer fails alone, once curl returns: -1 here would mark
         * the multi handle dead for good (every later transfer aborted). */
        for (size_t i = 0; i < cm->nunwatched; i++)
            if (cm->unwatched[i] == easy)
                return 0;
        if (cm->nunwatched == CURLEV_MAX_UNWATCHED)
            return -1;
        cm->unwatched[cm->nunwatched++] = easy;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: when curl wants its timeout handled. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    curlev_t *cm = userp;
    (void)multi;
    if (timeout_ms < 0)
        evloop_timer_cancel(cm->el, cm->timer);
    else
        evloop_timer_at(cm->el, cm->timer, clock_mono_us() + (int64_t)timeout_ms * 1000);
    return 0;
}

curlev_t *curlev_new(evloop_t *el, log_t *log, const char *name, curlev_done_cb *done, void *ctx,
                     char *errstr, size_t errstr_size)
{
    curlev_t *cm = NULL;

    if (!el || !done) {
        snprintf(errstr, errstr_size, "%s: no event loop or callback", name);
        return NULL;
    }
    if (!(cm = calloc(1, sizeof(*cm)))) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        return NULL;
    }
    cm->el = el;
    cm->log = log;
    cm->done = done;
    cm->ctx = ctx;
    snprintf(cm->name, sizeof(cm->name), "%s", name);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errstr, errstr_size, "%s: curl_global_init failed", name);
        goto fail;
    }
    cm->global_init = 1;
    if (!(cm->timer = evloop_timer_new(el, on_timeout, cm)) || !(cm->multi = curl_multi_init())) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        goto fail;
    }
    if (curl_multi_setopt(cm->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
        curl_multi_setopt(cm->multi, CURLMOPT_SOCKETDATA, cm) != CURLM_OK ||
        curl_multi_setopt(cm->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
        curl_multi_setopt(cm->multi, CURLMOPT_TIMERDATA, cm) != CURLM_OK) {
        snprintf(errstr, errstr_size, "%s: curl multi set-up failed", name);
        goto fail;
    }
    return cm;
fail:
    curlev_destroy(cm);
    return NULL;
}

void curlev_destroy(curlev_t *cm)
{
    if (!cm)
        return;
    if (cm->multi)
        curl_multi_cleanup(cm->multi); /* its sockets leave the loop (socket_cb) */
    evloop_timer_free(cm->el, cm->timer);
    if (cm->global_init)
        curl_global_cleanup();
    free(cm);
}

CURLM *curlev_multi(const curlev_t *cm)
{
    return cm->multi;
}

size_t curlev_body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    curlev_body_t *b = userdata;
    size_t n = size * nmemb;

    if (b->over)
        return n;
    if (n > b->max - b->len) {
        b->over = 1;
        return n;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > b->max)
            cap = b->max;
        char *nb = realloc(b->p, cap + 1);
        if (!nb)
            return 0;
        b->p = nb;
        b->cap = cap;
    }
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    return n;
}

void curlev_body_reset(curlev_body_t *b, size_t keep)
{
    b->len = 0;
    b->over = 0;
    if (b->cap > keep) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

void curlev_body_free(curlev_body_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

CURLcode curlev_add_ca_file(CURL *easy, void *sslctx, void *path)
{
    (void)easy;
    X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
    return store && X509_STORE_load_file(store, path) == 1 ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}
