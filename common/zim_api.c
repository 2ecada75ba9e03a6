/* zim_api.c - the ZIM DeleteAllFriends client on libcurl's multi interface.
 *
 * Response bodies are collected up to ZIM_MAX_BODY bytes. A body that grows
 * past the cap is not aborted (the transfer runs to its end, so a keep-alive
 * connection stays reusable and request_timeout_ms still bounds it); the
 * extra bytes are dropped and the call is classified as "body not JSON",
 * i.e. ZIM_RETRY.
 *
 * Code parsing: a JSON integer, or a JSON real with an integral value of at
 * most 2^53 in magnitude (exactly representable; some gateways emit 0.0),
 * counts as an integer Code. Anything else is "no integer Code". */
#include "common/zim_api.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/curlev.h"
#include "common/fmt.h"
#include "common/jread.h"
#include "common/zim_sign.h"
#include "common/zim_url.h"

#ifndef ZU_VERSION
#define ZU_VERSION "0.0.0"
#endif

#define ZIM_DEFAULT_REQUEST_TIMEOUT_MS 5000L
#define ZIM_DEFAULT_CONNECT_TIMEOUT_MS 3000L
#define ZIM_DEFAULT_MAXCONNECTS        64L        /* raised to the peak number of calls in flight */
#define ZIM_IDLE_CALLS_MAX             64         /* finished easy handles kept for reuse */
#define ZIM_IDLE_BODY_KEEP             (8 * 1024) /* larger body buffers are freed when idle */
#define ZIM_EXACT_DOUBLE_MAX           9007199254740992.0 /* 2^53 */

/* One call: running (on api->running) or idle (on api->idle, easy handle kept). */
typedef struct zim_call {
    struct zim_call *prev, *next;
    CURL *easy;
    curlev_body_t body; /* up to ZIM_MAX_BODY */
    char *user_id;
    int delete_type;
    void *opaque;
    zim_api_t *api;     /* its owner, set when the call is made */
    int64_t started_us; /* monotonic, given to zim_api_start() */
    int64_t sent_us;    /* when its request was last sent; 0 not yet */
    char errbuf[CURL_ERROR_SIZE];
} zim_call_t;

struct zim_api {
    curlev_t *cm; /* curl multi on the event loop */
    CURLM *multi; /* curlev_multi(cm) */
    char *endpoint;
    /* Where the request target (path and query) starts in a signed URL;
     * 0 when the whole URL is handed to libcurl at every call. */
    size_t target_off;
    CURLU *base; /* the endpoint, parsed once (with target_off), or NULL */
    uint32_t app_id;
    char *secret; /* wiped at destroy */
    size_t secret_len;
    zim_signer_t *signer; /* MD5 and nonce bytes for this thread's calls */
    long request_timeout_ms;
    long connect_timeout_ms;
    char *ca_file; /* NULL = system store only */
    /* The environment's proxy and no_proxy ("" for none), read once: libcurl
     * would read five variables for every call. */
    char *proxy;
    char *noproxy;
    /* User-Agent, as a header of our own: as CURLOPT_USERAGENT libcurl
     * prints it twice per call, a byte at a time. */
    struct curl_slist *headers;
    int64_t *success_codes;
    size_t success_codes_cnt;
    zim_api_done_cb *cb;
    void *cb_ctx;
    void (*sent)(void *sent_ctx, int64_t started_us, int64_t recorded_us, int64_t sent_us);
    void *sent_ctx;
    log_t *log;
    zim_call_t *running; /* doubly linked */
    zim_call_t *idle;    /* singly linked through next */
    int idle_cnt;
    int in_flight;
    long maxconnects;
};

const char *zim_outcome_name(zim_outcome_t o)
{
    switch (o) {
    case ZIM_SUCCESS:
        return "success";
    case ZIM_RETRY:
        return "retry";
    case ZIM_RETRY_SLOWDOWN:
        return "retry_slowdown";
    case ZIM_RETRY_CLOCK:
        return "retry_clock";
    case ZIM_REJECTED:
        return "rejected";
    case ZIM_SYSTEMIC:
        return "systemic";
    }
    return "unknown";
}

/* ---- response parsing and classification --------------------------------------------- */

/* Copies len bytes of UTF-8 into dst, cut to fit without splitting a character. */
static void copy_utf8(char *dst, size_t dst_size, const char *src, size_t len)
{
    size_t n = len < dst_size - 1 ? len : dst_size - 1;

    if (n < len) {
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int zim_api_parse_response(const char *body, size_t len, zim_api_result_t *res)
{
    json_t *root = NULL;
    json_error_t jerr;
    jread_doc_t doc;
    jread_val_t top, v;
    int ret = -1;

    res->has_code = 0;
    res->code = 0;
    res->message[0] = '\0';
    res->request_id[0] = '\0';
    if (!body || len == 0) {
        snprintf(res->message, sizeof(res->message), "response body is empty");
        goto out;
    }
    /* Duplicates allowed (last wins), "\u0000" refused, object or array
     * only (jansson's flags 0): the scanner takes the common answer, jansson
     * the rest. */
    if (jread_scan(&doc, body, len, 0) == 0) {
        top = jread_root(&doc);
    } else {
        root = json_loadb(body, len, 0, &jerr);
        if (!root) {
            snprintf(res->message, sizeof(res->message), "response body is not JSON (at byte %d)",
                     jerr.position);
            goto out;
        }
        if (!json_is_object(root)) {
            snprintf(res->message, sizeof(res->message), "response body is not a JSON object");
            goto out;
        }
        top = jread_wrap(root);
    }

    v = jread_get(&top, "Message");
    if (v.kind == JREAD_STRING)
        copy_utf8(res->message, sizeof(res->message), v.s, v.len);
    v = jread_get(&top, "RequestId");
    if (v.kind == JREAD_STRING)
        copy_utf8(res->request_id, sizeof(res->request_id), v.s, v.len);
    else if (v.kind == JREAD_INTEGER)
        snprintf(res->request_id, sizeof(res->request_id), "%" PRId64, v.i);
    else if (v.kind == JREAD_REAL)
        snprintf(res->request_id, sizeof(res->request_id), "%.17g", v.r);

    v = jread_get(&top, "Code");
    if (v.kind == JREAD_INTEGER) {
        res->code = v.i;
    } else if (v.kind == JREAD_REAL && isfinite(v.r) && floor(v.r) == v.r &&
               fabs(v.r) <= ZIM_EXACT_DOUBLE_MAX) {
        res->code = (int64_t)v.r;
    } else {
        snprintf(res->message, sizeof(res->message), "response has no integer Code");
        goto out;
    }
    res->has_code = 1;
    ret = 0;
out:
    json_decref(root);
    return ret;
}

/* curl errors that mean the set-up is wrong (TLS trust, endpoint), not the network. */
static int curl_is_systemic(int curl_code)
{
    switch (curl_code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
        return 1;
    default:
        return 0;
    }
}

zim_outcome_t zim_api_classify(int curl_code, long http_status, int has_code, int64_t code,
                               const int64_t *success_codes, size_t success_codes_cnt)
{
    if (curl_code != CURLE_OK)
        return curl_is_systemic(curl_code) ? ZIM_SYSTEMIC : ZIM_RETRY;
    if (http_status == 401 || http_status == 403)
        return ZIM_SYSTEMIC;
    if (http_status == 408 || http_status == 429 || (http_status >= 500 && http_status <= 599))
        return ZIM_RETRY;
    if (!has_code)
        return ZIM_RETRY;
    if (code == 0)
        return ZIM_SUCCESS;
    for (size_t i = 0; success_codes && i < success_codes_cnt; i++) {
        if (success_codes[i] == code)
            return ZIM_SUCCESS;
    }
    if (code == 1 || code == 7 || code == 660000001LL || code == 100000015LL)
        return ZIM_RETRY;
    if (code == ZIM_CODE_RATE_LIMITED)
        return ZIM_RETRY_SLOWDOWN;
    if (code == ZIM_CODE_SIGNATURE_EXPIRED)
        return ZIM_RETRY_CLOCK;
    if (code == 3 || (code >= 100000001LL && code <= 100000003LL) ||
        (code >= 100000005LL && code <= 100000014LL) || code == 100000016LL || code == 100000017LL)
        return ZIM_SYSTEMIC;
    return ZIM_REJECTED;
}

/* ---- transport ------------------------------------------------------------------------- */

static void call_free(zim_call_t *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curlev_body_free(&c->body);
    free(c->user_id);
    free(c);
}

/* Puts a finished (or never started) call on the idle list, or frees it. */
static void call_release(zim_api_t *api, zim_call_t *c)
{
    free(c->user_id);
    c->user_id = NULL;
    c->opaque = NULL;
    curlev_body_reset(&c->body, ZIM_IDLE_BODY_KEEP);
    if (!c->easy || api->idle_cnt >= ZIM_IDLE_CALLS_MAX) {
        call_free(c);
        return;
    }
    c->prev = NULL;
    c->next = api->idle;
    api->idle = c;
    api->idle_cnt++;
}

static zim_call_t *call_get(zim_api_t *api)
{
    zim_call_t *c = api->idle;

    if (c) {
        api->idle = c->next;
        api->idle_cnt--;
        c->next = NULL;
        return c;
    }
    c = calloc(1, sizeof(*c));
    if (c)
        c->api = api;
    return c;
}

/* CURLOPT_PREREQFUNCTION: the request is about to be sent. */
static int call_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                       int local_port)
{
    zim_call_t *c = clientp;
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    int64_t now = clock_mono_us();
    /* Sent again (a reused connection was dead): the start was moved to the
     * previous send, if that was later. */
    if (c->api->sent)
        c->api->sent(c->api->sent_ctx, c->started_us, c->sent_us ? c->sent_us : c->started_us, now);
    c->sent_us = now;
    return CURL_PREREQFUNC_OK;
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        rc = curl_easy_setopt(c->easy, opt, val);                                                  \
        if (rc != CURLE_OK) {                                                                      \
            what = #opt;                                                                           \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* Prepares the call's easy handle for one GET of url. A new handle gets
 * every option; a reused one keeps them (they are the same for every call,
 * and the handle stays with its call), so only the request target (or the
 * URL, see target_setup) changes. */
static int call_setup(zim_api_t *api, zim_call_t *c, const char *url, char *errstr,
                      size_t errstr_size)
{
    CURLcode rc = CURLE_OK;
    const char *what = "curl_easy_init";

    c->errbuf[0] = '\0';
    c->body.max = ZIM_MAX_BODY;
    if (c->easy) {
        if (api->base)
            SETOPT(CURLOPT_REQUEST_TARGET, url + api->target_off);
        else
            SETOPT(CURLOPT_URL, url);
        return 0;
    }
    c->easy = curl_easy_init();
    if (!c->easy) {
        rc = CURLE_FAILED_INIT;
        goto out;
    }
    SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
    SETOPT(CURLOPT_PRIVATE, (void *)c);
    if (api->base) {
        SETOPT(CURLOPT_CURLU, api->base);
        SETOPT(CURLOPT_REQUEST_TARGET, url + api->target_off);
    } else {
        SETOPT(CURLOPT_URL, url);
    }
    /* Through a proxy (http_proxy, https_proxy, all_proxy), always a CONNECT
     * tunnel: the proxy never reads the signed request, and the request
     * target stays the path and query a proxy would not take. */
    SETOPT(CURLOPT_HTTPPROXYTUNNEL, 1L);
    SETOPT(CURLOPT_PROXY, api->proxy);
    SETOPT(CURLOPT_NOPROXY, api->noproxy);
    SETOPT(CURLOPT_HTTPGET, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_TIMEOUT_MS, api->request_timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, api->connect_timeout_ms);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (api->ca_file) {
        /* Added to the system's trust store (CURLOPT_CAINFO would replace it). */
        SETOPT(CURLOPT_SSL_CTX_FUNCTION, curlev_add_ca_file);
        SETOPT(CURLOPT_SSL_CTX_DATA, api->ca_file);
    }
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    /* libcurl allocates its receive buffer for every transfer and frees it
     * after: 1 KiB (its minimum; a ZIM answer is a few hundred bytes, a
     * larger body takes more reads) comes from glibc's per-thread cache,
     * where the default 16 KiB consolidated the heap on every call. */
    SETOPT(CURLOPT_BUFFERSIZE, 1024L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_TCP_KEEPIDLE, 30L);
    SETOPT(CURLOPT_TCP_KEEPINTVL, 15L);
    SETOPT(CURLOPT_HTTPHEADER, api->headers);
    SETOPT(CURLOPT_PROXYHEADER, api->headers); /* the CONNECT names us too */
    SETOPT(CURLOPT_PREREQFUNCTION, call_prereq);
    SETOPT(CURLOPT_PREREQDATA, (void *)c);
    SETOPT(CURLOPT_WRITEFUNCTION, curlev_body_write);
    SETOPT(CURLOPT_WRITEDATA, (void *)&c->body);
out:
    if (rc != CURLE_OK) {
        fmt_err(errstr, errstr_size, "curl: %s: %s", what, curl_easy_strerror(rc));
        /* A handle with half its options must not be reused as if complete. */
        if (c->easy) {
            curl_easy_cleanup(c->easy);
            c->easy = NULL;
        }
        return -1;
    }
    return 0;
}

static void on_done(void *ctx, CURL *easy, CURLcode result);

/* Sets api->base and api->target_off for api->endpoint (checked by
 * zim_url_check_endpoint). 0 ok, -1 out of memory.
 *
 * A handle then keeps the endpoint, parsed once (api->base), as its URL and
 * gets each call's path and query as CURLOPT_REQUEST_TARGET: libcurl neither
 * parses nor re-prints the long signed URL, which cost it more than the rest
 * of the call (a byte-at-a-time printf of ~250 bytes, three times). That is
 * only exact when libcurl would send the endpoint's path unchanged (it
 * removes dot segments and percent-encodes bytes >= 0x80): otherwise
 * (target_off 0, base NULL) the whole URL is set at every call. */
static int target_setup(zim_api_t *api, int needs_slash)
{
    const char *ep = api->endpoint, *path = strchr(strstr(ep, "://") + 3, '/');
    size_t off = path ? (size_t)(path - ep) : strlen(ep);
    CURLU *u = curl_url();
    char *sent = NULL;
    CURLUcode rc;

    if (!u)
        return -1;
    rc = curl_url_set(u, CURLUPART_URL, ep, 0);
    if (rc == CURLUE_OK) /* as it goes on the wire: bytes >= 0x80 percent-encoded */
        rc = curl_url_get(u, CURLUPART_PATH, &sent, CURLU_URLENCODE);
    if (rc == CURLUE_OUT_OF_MEMORY) {
        curl_url_cleanup(u);
        return -1;
    }
    if (rc == CURLUE_OK && strcmp(sent, needs_slash ? "/" : ep + off) == 0) {
        api->base = u;
        api->target_off = off;
    } else {
        curl_url_cleanup(u);
    }
    curl_free(sent);
    return 0;
}

/* The environment's proxy settings (zim_url_env_proxy) and our headers.
 * 0 ok, -1 out of memory. */
static int proxy_setup(zim_api_t *api)
{
    const char *var, *proxy = zim_url_env_proxy(api->endpoint, &var),
                     *noproxy = zim_url_env_noproxy();

    api->proxy = strdup(proxy ? proxy : ""); /* "": no proxy, whatever libcurl finds */
    api->noproxy = strdup(noproxy ? noproxy : "");
    api->headers = curl_slist_append(NULL, "User-Agent: zim-unfriend/" ZU_VERSION);
    if (!api->proxy || !api->noproxy || !api->headers)
        return -1;
    if (proxy) /* its name only: a proxy URL may hold a password */
        log_msg(api->log, LOG_INFO, "calls go through a proxy", "from", var, "no_proxy",
                noproxy ? "set" : "unset", NULL);
    return 0;
}

zim_api_t *zim_api_new(const zim_api_opts_t *opts, zim_api_done_cb *cb, void *cb_ctx, log_t *log,
                       evloop_t *el, char *errstr, size_t errstr_size)
{
    zim_api_t *api = NULL;
    int needs_slash;
    CURLMcode mc;
    size_t n;

    if (!opts || !cb || !el) {
        fmt_err(errstr, errstr_size, "zim_api_new: %s is NULL",
                !opts ? "opts"
                : !cb ? "callback"
                      : "event loop");
        return NULL;
    }
    if (zim_url_check_endpoint(opts->endpoint, &needs_slash, errstr, errstr_size) != 0)
        return NULL;
    if (!opts->secret || !*opts->secret) {
        fmt_err(errstr, errstr_size, "server secret: empty");
        return NULL;
    }
    api = calloc(1, sizeof(*api));
    if (!api)
        goto oom;
    api->app_id = opts->app_id;
    api->cb = cb;
    api->cb_ctx = cb_ctx;
    api->sent = opts->sent;
    api->sent_ctx = opts->sent_ctx;
    api->log = log;
    api->request_timeout_ms =
        opts->request_timeout_ms > 0 ? opts->request_timeout_ms : ZIM_DEFAULT_REQUEST_TIMEOUT_MS;
    api->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : ZIM_DEFAULT_CONNECT_TIMEOUT_MS;
    api->endpoint = strdup(opts->endpoint);
    api->secret_len = strlen(opts->secret);
    api->secret = malloc(api->secret_len + 1);
    if (!api->endpoint || !api->secret)
        goto oom;
    if (target_setup(api, needs_slash) != 0)
        goto oom;
    memcpy(api->secret, opts->secret, api->secret_len + 1);
    if (opts->ca_file && *opts->ca_file) {
        api->ca_file = strdup(opts->ca_file);
        if (!api->ca_file)
            goto oom;
    }
    if (proxy_setup(api) != 0)
        goto oom;
    n = opts->success_codes && opts->success_codes_cnt ? opts->success_codes_cnt : 1;
    api->success_codes = calloc(n, sizeof(int64_t));
    if (!api->success_codes)
        goto oom;
    if (opts->success_codes && opts->success_codes_cnt)
        memcpy(api->success_codes, opts->success_codes, n * sizeof(int64_t));
    api->success_codes_cnt = n;

    if (!(api->signer = zim_signer_new(errstr, errstr_size)))
        goto fail;
    if (!(api->cm = curlev_new(el, log, "zim api", on_done, api, errstr, errstr_size)))
        goto fail;
    api->multi = curlev_multi(api->cm);
    api->maxconnects = ZIM_DEFAULT_MAXCONNECTS;
    mc = curl_multi_setopt(api->multi, CURLMOPT_MAXCONNECTS, api->maxconnects);
    if (mc != CURLM_OK) {
        fmt_err(errstr, errstr_size, "curl: CURLMOPT_MAXCONNECTS: %s", curl_multi_strerror(mc));
        goto fail;
    }
    return api;
oom:
    fmt_err(errstr, errstr_size, "zim_api_new: out of memory");
fail:
    zim_api_destroy(api);
    return NULL;
}

void zim_api_destroy(zim_api_t *api)
{
    zim_call_t *c, *next;

    if (!api)
        return;
    for (c = api->running; c; c = next) {
        next = c->next;
        if (api->multi && c->easy)
            curl_multi_remove_handle(api->multi, c->easy);
        call_free(c);
    }
    for (c = api->idle; c; c = next) {
        next = c->next;
        call_free(c);
    }
    curlev_destroy(api->cm);     /* after the handles: its sockets leave the loop */
    curl_url_cleanup(api->base); /* after the handles that point at it */
    zim_signer_destroy(api->signer);
    if (api->secret) {
        OPENSSL_cleanse(api->secret, api->secret_len);
        free(api->secret);
    }
    free(api->endpoint);
    free(api->ca_file);
    free(api->proxy);
    free(api->noproxy);
    curl_slist_free_all(api->headers);
    free(api->success_codes);
    free(api);
}

int zim_api_start(zim_api_t *api, const char *user_id, int delete_type, int64_t started_us,
                  void *opaque, char *errstr, size_t errstr_size)
{
    char nonce[ZIM_NONCE_LEN + 1];
    char *url = NULL;
    zim_call_t *c = NULL;
    CURLMcode mc;
    int ret = -1;

    if (!api) {
        fmt_err(errstr, errstr_size, "zim_api_start: api is NULL");
        return -1;
    }
    if (zim_signer_nonce(api->signer, nonce, errstr, errstr_size) != 0)
        goto out;
    if (zim_url_build(api->signer, api->endpoint, api->app_id, api->secret, user_id, delete_type,
                      nonce, (int64_t)time(NULL), &url, errstr, errstr_size) != 0)
        goto out;
    c = call_get(api);
    if (!c || !(c->user_id = strdup(user_id))) {
        fmt_err(errstr, errstr_size, "zim_api_start: out of memory");
        goto out;
    }
    c->delete_type = delete_type;
    c->opaque = opaque;
    c->started_us = started_us;
    c->sent_us = 0;
    if (call_setup(api, c, url, errstr, errstr_size) != 0)
        goto out;
    mc = curl_multi_add_handle(api->multi, c->easy);
    if (mc != CURLM_OK) {
        fmt_err(errstr, errstr_size, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        goto out;
    }
    c->prev = NULL;
    c->next = api->running;
    if (api->running)
        api->running->prev = c;
    api->running = c;
    api->in_flight++;
    if (api->in_flight > api->maxconnects &&
        curl_multi_setopt(api->multi, CURLMOPT_MAXCONNECTS, (long)api->in_flight) == CURLM_OK)
        api->maxconnects = api->in_flight;
    if (log_enabled(api->log, LOG_DEBUG)) {
        char ubuf[64];
        log_msg(api->log, LOG_DEBUG, "zim call started", "user_id",
                log_user(api->log, user_id, ubuf, sizeof(ubuf)), "delete_type",
                delete_type == ZIM_DELETE_ONE_WAY ? "1" : "0", NULL);
    }
    ret = 0;
out:
    if (url) {
        OPENSSL_cleanse(url, strlen(url)); /* it carries the signature */
        free(url);
    }
    if (ret != 0 && c)
        call_release(api, c);
    return ret;
}

int zim_api_unreachable(const zim_api_result_t *res)
{
    /* A connect that times out (SYNs dropped) is CURLE_OPERATION_TIMEDOUT,
     * like a slow answer: what tells them apart is whether the request was
     * sent (CURLOPT_PREREQFUNCTION runs once a connection is up). */
    return res->curl_code != CURLE_OK && !res->sent;
}

int zim_api_in_flight(const zim_api_t *api)
{
    return api ? api->in_flight : 0;
}

/* Fills res for a finished transfer (before its handle is released). */
static void call_result(zim_api_t *api, zim_call_t *c, CURLcode cc, zim_api_result_t *res)
{
    long status = 0;
    curl_off_t total_us = 0;

    memset(res, 0, sizeof(*res));
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    res->curl_code = (int)cc;
    res->http_status = status;
    res->elapsed_us = (int64_t)total_us;
    res->sent = c->sent_us != 0;
    if (cc != CURLE_OK) {
        snprintf(res->message, sizeof(res->message), "%s",
                 c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
    } else if (c->body.over) {
        snprintf(res->message, sizeof(res->message), "HTTP %ld: response body exceeds %d bytes",
                 status, ZIM_MAX_BODY);
    } else if (zim_api_parse_response(c->body.p, c->body.len, res) != 0 || status < 200 ||
               status > 299) {
        /* not a ZIM answer, or one under a failure status: name the status */
        char why[sizeof(res->message)];
        int n;
        memcpy(why, res->message, sizeof(why));
        n = snprintf(res->message, sizeof(res->message), why[0] ? "HTTP %ld: " : "HTTP %ld",
                     status);
        if (n > 0 && (size_t)n < sizeof(res->message))
            copy_utf8(res->message + n, sizeof(res->message) - (size_t)n, why, strlen(why));
    }
    res->outcome = zim_api_classify(res->curl_code, status, res->has_code, res->code,
                                    api->success_codes, api->success_codes_cnt);
}

static void call_finish(zim_api_t *api, zim_call_t *c, CURLcode cc)
{
    zim_api_result_t res;
    void *opaque = c->opaque;

    call_result(api, c, cc, &res);
    curl_multi_remove_handle(api->multi, c->easy);
    if (c->prev)
        c->prev->next = c->next;
    else
        api->running = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    api->in_flight--;
    if (log_enabled(api->log, LOG_DEBUG)) {
        char ubuf[64], code[FMT_I64_MAX];
        fmt_i64(code, res.code);
        log_msg(api->log, LOG_DEBUG, "zim call finished", "user_id",
                log_user(api->log, c->user_id, ubuf, sizeof(ubuf)), "outcome",
                zim_outcome_name(res.outcome), "#http_status", LOG_NUM(res.http_status), "code",
                res.has_code ? code : NULL, "#elapsed_us", LOG_NUM(res.elapsed_us), NULL);
    }
    call_release(api, c);
    /* Bookkeeping is complete: the callback may start new calls. */
    api->cb(opaque, &res, api->cb_ctx);
}

/* curlev: a transfer finished. */
static void on_done(void *ctx, CURL *easy, CURLcode result)
{
    char *priv = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) == CURLE_OK && priv)
        call_finish(ctx, (zim_call_t *)(void *)priv, result);
}
