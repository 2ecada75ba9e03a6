/* sandbox_api.c - DeleteAllFriends as the ZIM server API answers it. */
#include "sandbox_api.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "sandbox_control.h"
#include "sandbox_json.h"
#include "sandbox_query.h"
#include "sandbox_state.h"

#define API_ACTION            "DeleteAllFriends"
#define API_SIGNATURE_VERSION "2.0"
#define API_TIMESTAMP_SKEW_S  600 /* the service allows 10 minutes of skew */
#define API_USER_ID_MAX       32
#define API_MSG_MAX           256

/* Codes of the ZIM server API (its public return-code table). */
#define CODE_OK                  0
#define CODE_BUSY                1
#define CODE_BAD_INPUT           2
#define CODE_APPID_FORMAT        100000001
#define CODE_TIMESTAMP_EMPTY     100000002
#define CODE_TIMESTAMP_FORMAT    100000003
#define CODE_SIGNATURE_EXPIRED   100000004
#define CODE_SIGNATURE_ERROR     100000005
#define CODE_ACTION_EMPTY        100000006
#define CODE_ACTION_UNSUPPORTED  100000007
#define CODE_NONCE_EMPTY         100000008
#define CODE_SIGNATURE_EMPTY     100000009
#define CODE_NO_SECRET           100000010
#define CODE_VERSION_EMPTY       100000013
#define CODE_VERSION_UNSUPPORTED 100000014
#define CODE_INVALID_PARAM       660000002
#define CODE_RATE_LIMIT          660300005

/* The per-request context: created at the request line, freed on completion. */
typedef struct sandbox_req {
    char *uri;           /* raw request target, path and query */
    int64_t ts_start_us; /* CLOCK_REALTIME at arrival */
    int seen;            /* the handler was called once */
    int answered;        /* a response is queued */
} sandbox_req_t;

void *sandbox_api_uri_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
    sandbox_req_t *req = calloc(1, sizeof(*req));

    (void)cls;
    (void)con;
    if (req == NULL)
        return NULL;
    req->ts_start_us = sandbox_now_us(CLOCK_REALTIME);
    req->uri = strdup(uri != NULL ? uri : "/");
    if (req->uri == NULL) {
        free(req);
        return NULL;
    }
    return req;
}

void sandbox_api_completed(void *cls, struct MHD_Connection *con, void **req_cls,
                           enum MHD_RequestTerminationCode toe)
{
    sandbox_req_t *req = *req_cls;

    (void)cls;
    (void)con;
    (void)toe;
    if (req == NULL)
        return;
    free(req->uri);
    free(req);
    *req_cls = NULL;
}

enum MHD_Result sandbox_api_respond(struct MHD_Connection *con, unsigned status,
                                    const char *content_type, const char *body, size_t len,
                                    int allow_get)
{
    struct MHD_Response *resp;
    enum MHD_Result rc = MHD_NO;

    resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES)
        goto out;
    if (allow_get && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET") != MHD_YES)
        goto out;
    rc = MHD_queue_response(con, status, resp);
out:
    MHD_destroy_response(resp);
    return rc;
}

/* The message a code is answered with when the sandbox injects it. */
static const char *code_message(long code)
{
    switch (code) {
    case CODE_OK:
        return "success";
    case CODE_BUSY:
        return "request failed, server busy, please retry";
    case CODE_BAD_INPUT:
        return "input parameter error";
    case 3:
        return "authentication failed";
    case 7:
        return "requests per second exceed the limit";
    case 660000001:
        return "internal error, please retry";
    case CODE_INVALID_PARAM:
        return "invalid parameter";
    case CODE_RATE_LIMIT:
        return "AppId rate limit exceeded";
    case CODE_SIGNATURE_EXPIRED:
        return "signature expired";
    case CODE_SIGNATURE_ERROR:
        return "signature error";
    case 100000015:
        return "API gateway internal error";
    default:
        return "injected error";
    }
}

/* Port of the client, or 0 when unknown. */
static int remote_port(struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci;
    const struct sockaddr *sa;

    ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return 0;
    sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

/* Parses s when it is a canonical decimal integer (digits only, no leading
 * zero unless "0", at most 18 digits). 0 ok, -1 otherwise. */
static int parse_canonical(const char *s, long long *out)
{
    size_t len = strlen(s), i;
    long long v = 0;

    if (len == 0 || len > 18 || (s[0] == '0' && len > 1))
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int is_lower_hex(const char *s, size_t len)
{
    size_t i;

    if (strlen(s) != len)
        return 0;
    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

/* FromUserId: 1-32 characters from 0-9 A-Z a-z and the listed specials. */
static int valid_user_id(const char *s)
{
    static const char specials[] = "!#$%&()+-:;<=.>?@[]^_{}|~";
    size_t len = strlen(s), i;

    if (len < 1 || len > API_USER_ID_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
            continue;
        if (strchr(specials, c) == NULL)
            return 0;
    }
    return 1;
}

static const char *param(const sandbox_query_t *q, const char *name)
{
    const char *v = sandbox_query_get(q, name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* lowercase_hex(md5(app_id + nonce + secret + timestamp)) into out[33], over
 * the texts as received. 0 ok, -1 on failure. Independent of common/zim_sign
 * on purpose: the sandbox is the oracle the worker's signing is tested against. */
static int md5_signature(const char *app_id, const char *nonce, const char *secret, const char *ts,
                         char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0, i;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -1;

    if (ctx == NULL)
        return -1;
    if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, app_id, strlen(app_id)) != 1 ||
        EVP_DigestUpdate(ctx, nonce, strlen(nonce)) != 1 ||
        EVP_DigestUpdate(ctx, secret, strlen(secret)) != 1 ||
        EVP_DigestUpdate(ctx, ts, strlen(ts)) != 1 || EVP_DigestFinal_ex(ctx, md, &md_len) != 1 ||
        md_len != 16)
        goto out;
    for (i = 0; i < md_len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* Checks the signature parameters: AppId, SignatureVersion, SignatureNonce,
 * Timestamp, Signature (all present). Returns the Code, with msg filled. */
static long check_signature(sandbox_state_t *st, const sandbox_query_t *q, char *msg, size_t n)
{
    const char *app = param(q, "AppId"), *ver = param(q, "SignatureVersion");
    const char *nonce = param(q, "SignatureNonce"), *ts = param(q, "Timestamp");
    const char *sig = param(q, "Signature");
    char expect[2 * 16 + 1], *secret;
    long long app_id, t, now;
    int rc;

    if (app == NULL || parse_canonical(app, &app_id) != 0 || app_id > UINT32_MAX) {
        snprintf(msg, n, "AppId field format error");
        return CODE_APPID_FORMAT;
    }
    if (app_id != (long long)sandbox_state_app_id(st)) {
        snprintf(msg, n, "failed to get ServerSecret: unknown AppId %lld", app_id);
        return CODE_NO_SECRET;
    }
    if (ver == NULL) {
        snprintf(msg, n, "SignatureVersion field is empty");
        return CODE_VERSION_EMPTY;
    }
    if (strcmp(ver, API_SIGNATURE_VERSION) != 0) {
        snprintf(msg, n, "unsupported SignatureVersion (use 2.0)");
        return CODE_VERSION_UNSUPPORTED;
    }
    if (nonce == NULL) {
        snprintf(msg, n, "SignatureNonce field is empty");
        return CODE_NONCE_EMPTY;
    }
    if (!is_lower_hex(nonce, 16)) {
        snprintf(msg, n, "invalid SignatureNonce: must be 16 lowercase hex digits");
        return CODE_BAD_INPUT;
    }
    if (ts == NULL) {
        snprintf(msg, n, "Timestamp field is empty");
        return CODE_TIMESTAMP_EMPTY;
    }
    if (parse_canonical(ts, &t) != 0) {
        snprintf(msg, n, "Timestamp field format error: Unix seconds expected");
        return CODE_TIMESTAMP_FORMAT;
    }
    now = (long long)time(NULL);
    if (t < now - API_TIMESTAMP_SKEW_S || t > now + API_TIMESTAMP_SKEW_S) {
        snprintf(msg, n, "signature expired: Timestamp is %lld s from server time", t - now);
        return CODE_SIGNATURE_EXPIRED;
    }
    if (sig == NULL) {
        snprintf(msg, n, "Signature field is empty");
        return CODE_SIGNATURE_EMPTY;
    }
    secret = sandbox_state_secret_dup(st);
    if (secret == NULL) {
        snprintf(msg, n, "internal error: out of memory");
        return CODE_BUSY;
    }
    rc = md5_signature(app, nonce, secret, ts, expect);
    free(secret);
    if (rc != 0) {
        snprintf(msg, n, "internal error: digest failed");
        return CODE_BUSY;
    }
    if (strcmp(sig, expect) != 0) {
        snprintf(msg, n, "signature error");
        return CODE_SIGNATURE_ERROR;
    }
    return CODE_OK;
}

/* All checks of a DeleteAllFriends call. Returns the Code, msg filled. */
static long check_request(sandbox_state_t *st, const sandbox_query_t *q, char *msg, size_t n)
{
    const char *action = param(q, "Action"), *user, *dt;
    long code;

    if (action == NULL) {
        snprintf(msg, n, "Action is empty");
        return CODE_ACTION_EMPTY;
    }
    if (strcmp(action, API_ACTION) != 0) {
        snprintf(msg, n, "unsupported Action (this sandbox serves DeleteAllFriends)");
        return CODE_ACTION_UNSUPPORTED;
    }
    code = check_signature(st, q, msg, n);
    if (code != CODE_OK)
        return code;
    user = sandbox_query_get(q, "FromUserId");
    if (user == NULL) {
        snprintf(msg, n, "invalid FromUserId: missing");
        return CODE_INVALID_PARAM;
    }
    if (!valid_user_id(user)) {
        snprintf(msg, n,
                 "invalid FromUserId: 1-32 characters from 0-9 A-Z a-z "
                 "!#$%%&()+-:;<=.>?@[]^_{}|~ expected");
        return CODE_INVALID_PARAM;
    }
    dt = sandbox_query_get(q, "DeleteType");
    if (dt == NULL || (strcmp(dt, "0") != 0 && strcmp(dt, "1") != 0)) {
        snprintf(msg, n, "invalid DeleteType: %s", dt == NULL ? "missing" : "must be 0 or 1");
        return CODE_INVALID_PARAM;
    }
    snprintf(msg, n, "success");
    return CODE_OK;
}

/* Fills the outcome's optional fields from the parsed query. */
static void outcome_from_query(sandbox_outcome_t *o, const sandbox_query_t *q)
{
    const char *v;
    long long x;

    o->user_id = sandbox_query_get(q, "FromUserId");
    v = sandbox_query_get(q, "DeleteType");
    if (v != NULL && parse_canonical(v, &x) == 0) {
        o->has_delete_type = 1;
        o->delete_type = x;
    }
    v = sandbox_query_get(q, "AppId");
    if (v != NULL && parse_canonical(v, &x) == 0) {
        o->has_app_id = 1;
        o->app_id = x;
    }
}

/* Sends {"Code","Message","RequestId"} with HTTP status and records o. */
static enum MHD_Result answer_json(sandbox_state_t *st, struct MHD_Connection *con,
                                   sandbox_outcome_t *o, unsigned status, long code,
                                   const char *msg)
{
    char rid[SANDBOX_REQUEST_ID_LEN + 1];
    sandbox_buf_t b;
    enum MHD_Result rc;

    sandbox_state_request_id(st, rid);
    sandbox_buf_init(&b);
    sandbox_buf_printf(&b, "{\"Code\":%ld,\"Message\":", code);
    sandbox_buf_json_str(&b, msg);
    sandbox_buf_printf(&b, ",\"RequestId\":\"%s\"}", rid);
    o->http_status = (int)status;
    o->has_code = 1;
    o->code = code;
    o->request_id = rid;
    o->ts_end_us = sandbox_now_us(CLOCK_REALTIME);
    if (b.oom)
        rc = MHD_NO;
    else
        rc = sandbox_api_respond(con, status, "application/json", b.data, b.len,
                                 status == MHD_HTTP_METHOD_NOT_ALLOWED);
    if (rc != MHD_YES)
        o->http_status = 0;
    sandbox_state_record(st, o);
    sandbox_buf_free(&b);
    return rc;
}

/* Sends a body that is not JSON (an http:<status> or nonjson fault). */
static enum MHD_Result answer_text(sandbox_state_t *st, struct MHD_Connection *con,
                                   sandbox_outcome_t *o, unsigned status, const char *ctype,
                                   const char *body)
{
    enum MHD_Result rc;

    o->http_status = (int)status;
    o->ts_end_us = sandbox_now_us(CLOCK_REALTIME);
    rc = sandbox_api_respond(con, status, ctype, body, strlen(body), 0);
    if (rc != MHD_YES)
        o->http_status = 0;
    sandbox_state_record(st, o);
    return rc;
}

/* One API call (any path outside /_sandbox/). */
static enum MHD_Result api_call(sandbox_state_t *st, struct MHD_Connection *con,
                                const sandbox_req_t *req, const char *method, const char *query)
{
    sandbox_outcome_t o;
    sandbox_query_t *q = NULL;
    sandbox_fault_t fault;
    char msg[API_MSG_MAX], fail_label[SANDBOX_FAULT_LABEL_MAX], body[64];
    long delay = sandbox_state_latency_ms(st), code;
    int prc, faulted = 0;
    enum MHD_Result rc;

    memset(&o, 0, sizeof(o));
    memset(&fault, 0, sizeof(fault));
    o.ts_start_us = req->ts_start_us;
    o.remote_port = remote_port(con);
    sandbox_state_note_arrival(st);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        (void)sandbox_state_sleep_ms(st, delay);
        return answer_json(st, con, &o, MHD_HTTP_METHOD_NOT_ALLOWED, CODE_BAD_INPUT,
                           "method not allowed: use GET");
    }
    prc = sandbox_query_parse(query, &q, msg, sizeof(msg));
    if (prc == 0)
        outcome_from_query(&o, q);
    if (sandbox_state_take_fault(st, o.user_id, &fault)) {
        o.fault = fault.label;
        if (fault.kind == SANDBOX_FAULT_LATENCY)
            delay = fault.arg;
        else
            faulted = 1;
    }
    (void)sandbox_state_sleep_ms(st, delay);
    if (faulted) {
        switch (fault.kind) {
        case SANDBOX_FAULT_CODE:
            rc = answer_json(st, con, &o, MHD_HTTP_OK, fault.arg, code_message(fault.arg));
            break;
        case SANDBOX_FAULT_HTTP:
            snprintf(body, sizeof(body), "zim-sandbox: injected HTTP %ld\n", fault.arg);
            rc = answer_text(st, con, &o, (unsigned)fault.arg, "text/plain", body);
            break;
        case SANDBOX_FAULT_NONJSON:
            o.nonjson = 1;
            rc = answer_text(st, con, &o, MHD_HTTP_OK, "text/html",
                             "<html><body><h1>502 Bad Gateway</h1></body></html>\n");
            break;
        default: /* SANDBOX_FAULT_DROP */
            o.ts_end_us = sandbox_now_us(CLOCK_REALTIME);
            sandbox_state_record(st, &o);
            rc = MHD_NO;
            break;
        }
        goto out;
    }
    if (prc == -2) {
        rc = answer_json(st, con, &o, MHD_HTTP_OK, CODE_BUSY, "internal error: out of memory");
        goto out;
    }
    if (prc != 0) {
        rc = answer_json(st, con, &o, MHD_HTTP_OK, CODE_BAD_INPUT, msg);
        goto out;
    }
    code = check_request(st, q, msg, sizeof(msg));
    if (code == CODE_OK) {
        if (!sandbox_state_admit(st)) {
            code = CODE_RATE_LIMIT;
            snprintf(msg, sizeof(msg), "AppId rate limit exceeded");
        } else if (sandbox_state_draw_fail(st, &code)) {
            snprintf(fail_label, sizeof(fail_label), "fail:%ld", code);
            o.fault = fail_label;
            snprintf(msg, sizeof(msg), "%s", code_message(code));
        }
    }
    rc = answer_json(st, con, &o, MHD_HTTP_OK, code, msg);
out:
    sandbox_query_destroy(q);
    return rc;
}

enum MHD_Result sandbox_api_handler(void *cls, struct MHD_Connection *con, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **req_cls)
{
    static const char oom[] = "zim-sandbox: out of memory\n";
    sandbox_state_t *st = cls;
    sandbox_req_t *req = *req_cls;
    char *path = NULL, *query, *hash;
    enum MHD_Result rc;

    (void)url;
    (void)version;
    (void)upload_data;
    if (req == NULL)
        return sandbox_api_respond(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", oom,
                                   sizeof(oom) - 1, 0);
    /* Answer once the whole request is in (the first call only announces the
     * headers; a body is read and discarded): answering earlier makes
     * libmicrohttpd close the connection instead of keeping it alive. */
    if (!req->seen) {
        req->seen = 1;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->answered)
        return MHD_YES;
    req->answered = 1;
    path = strdup(req->uri);
    if (path == NULL)
        return sandbox_api_respond(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", oom,
                                   sizeof(oom) - 1, 0);
    hash = strchr(path, '#');
    if (hash != NULL)
        *hash = '\0';
    query = strchr(path, '?');
    if (query != NULL)
        *query++ = '\0';
    if (strncmp(path, SANDBOX_CONTROL_PREFIX, strlen(SANDBOX_CONTROL_PREFIX)) == 0)
        rc = sandbox_control_handle(st, con, method, path, query);
    else
        rc = api_call(st, con, req, method, query);
    free(path);
    return rc;
}
