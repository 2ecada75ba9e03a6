/* zim_api.h - the ZIM DeleteAllFriends client on libcurl's multi interface.
 *
 * One zim_api_t owns one CURLM (keep-alive connections are reused across
 * calls) and belongs to one thread: the event loop's. Its sockets and its
 * timeout are registered with that loop (curl_multi_socket_action through
 * CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION): no call walks every
 * connection. Calls are started with zim_api_start() and finish through the
 * done callback, which the loop's callbacks invoke (never start). Every
 * request gets a fresh nonce, timestamp and signature; TLS (1.2 or later) is
 * always verified.
 *
 * Pure helpers (response parsing, classification) are exposed for unit
 * tests and fuzzing; the signed URL is built by common/zim_url. */
#ifndef ZU_ZIM_API_H
#define ZU_ZIM_API_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/zim_sign.h"

#define ZIM_MAX_BODY       (64 * 1024) /* larger response bodies are cut: not JSON */
#define ZIM_DELETE_TWO_WAY 0
#define ZIM_DELETE_ONE_WAY 1

#define ZIM_CODE_RATE_LIMITED      660300005LL
#define ZIM_CODE_SIGNATURE_EXPIRED 100000004LL

/* How the worker treats one answered (or unanswered) call. */
typedef enum {
    ZIM_SUCCESS = 0,    /* Code 0 or in success_codes */
    ZIM_RETRY,          /* busy / transport: retry with backoff */
    ZIM_RETRY_SLOWDOWN, /* 660300005: retry, and slow the limiter down */
    ZIM_RETRY_CLOCK,    /* 100000004: retry with a new signature; clock skew? */
    ZIM_REJECTED,       /* input rejected: failure result */
    ZIM_SYSTEMIC,       /* credentials / set-up wrong: pause, never fail */
} zim_outcome_t;

const char *zim_outcome_name(zim_outcome_t o);

typedef struct zim_api_result {
    zim_outcome_t outcome;
    long http_status; /* 0 when no HTTP answer */
    int curl_code;    /* CURLcode; 0 = transfer completed */
    int has_code;     /* the body was JSON with an integer Code */
    int64_t code;
    char message[256];    /* ZIM Message, or the transport error (curl's error buffer) */
    char request_id[128]; /* ZIM RequestId; "" when none */
    int64_t elapsed_us;
    int sent; /* the request went out on a connection to ZIM (0: none was made) */
} zim_api_result_t;

typedef struct zim_api_opts {
    const char *endpoint; /* e.g. "https://zim-api.zego.im/" */
    uint32_t app_id;
    const char *secret; /* copied; wiped at destroy */
    long request_timeout_ms;
    long connect_timeout_ms;
    const char *ca_file;          /* NULL or "" = system store only */
    const int64_t *success_codes; /* copied; NULL/0 = { 0 } */
    size_t success_codes_cnt;
    /* Optional: told when a call's request is sent (after the connection's
     * set-up; again if libcurl re-sends it on a new connection), with the
     * started_us given to zim_api_start(), the previous report's sent_us
     * (started_us on the first) and the time now. The rate limiter counts a
     * call from when the server sees it (ratelimit_sent). */
    void (*sent)(void *sent_ctx, int64_t started_us, int64_t recorded_us, int64_t sent_us);
    void *sent_ctx;
} zim_api_opts_t;

typedef struct zim_api zim_api_t;

/* Called once per started call from the event loop, with the opaque
 * pointer given to zim_api_start(). res is valid during the call only.
 * The callback may call zim_api_start() (the finished call's bookkeeping is
 * complete by then); it must not call zim_api_destroy(). */
typedef void(zim_api_done_cb)(void *opaque, const zim_api_result_t *res, void *cb_ctx);

/* Creates the client on the event loop el (borrowed; it must outlive the
 * client). log may be NULL. Returns NULL with errstr filled. */
zim_api_t *zim_api_new(const zim_api_opts_t *opts, zim_api_done_cb *cb, void *cb_ctx, log_t *log,
                       evloop_t *el, char *errstr, size_t errstr_size);
/* Aborts calls still running (their callbacks are not invoked). NULL ok. */
void zim_api_destroy(zim_api_t *api);

/* Starts one signed DeleteAllFriends GET. user_id is copied; started_us is
 * the monotonic time the caller counts the call from (its rate slot), handed
 * back to opts.sent. 0 ok, -1 with errstr (allocation, CSPRNG or curl
 * set-up failure). */
int zim_api_start(zim_api_t *api, const char *user_id, int delete_type, int64_t started_us,
                  void *opaque, char *errstr, size_t errstr_size);

/* 1 when the call failed before its request went out: no connection (or
 * TLS session) to ZIM could be made - refused, no route, a name that did not
 * resolve, a connect or handshake that timed out or broke. Never one user's
 * fault. */
int zim_api_unreachable(const zim_api_result_t *res);

/* Calls running now. */
int zim_api_in_flight(const zim_api_t *api);

/* Parses a response body (any bytes) into res->has_code/code/message/request_id.
 * Returns 0 when it was a JSON object with an integer Code, -1 otherwise
 * (res->message then says why). Never crashes on any input. */
int zim_api_parse_response(const char *body, size_t len, zim_api_result_t *res);

/* Classifies a finished call per the return-code table of docs/contract.md: curl_code
 * (CURLE_OK when the transfer completed), HTTP status, and the parsed body. */
zim_outcome_t zim_api_classify(int curl_code, long http_status, int has_code, int64_t code,
                               const int64_t *success_codes, size_t success_codes_cnt);

#endif
