/* test_zim_transport.c - the ZIM client's transport (libcurl multi) against a
 * loopback libmicrohttpd server started by the test: signing of every request,
 * answers, failures, time-outs, connection reuse, concurrency, TLS trust. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "common/zim_api.h"
#include "common/zim_sign.h"
#include "tests/unit/tt.h"

#define APP_ID 1234567890u
#define SECRET "s3cr3t-abcdef0123456789abcdef01"

/* ---- loopback server ------------------------------------------------------------------ */

typedef struct {
    struct MHD_Daemon *d;
    unsigned port;
    pthread_mutex_t mu;
    int requests, connections, good_sigs, bad_sigs, dup_nonces, next_rid, slow_ms;
    char user[128], sig[64], nonce[32], method[16], ua[64], path[64], raw_uri[1024];
} server_t;

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
    server_t *s = cls;

    (void)con;
    pthread_mutex_lock(&s->mu);
    snprintf(s->raw_uri, sizeof(s->raw_uri), "%s", uri);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **sock_ctx,
                        enum MHD_ConnectionNotificationCode toe)
{
    server_t *s = cls;

    (void)c;
    (void)sock_ctx;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    pthread_mutex_lock(&s->mu);
    s->connections++;
    pthread_mutex_unlock(&s->mu);
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v ? v : "";
}

/* Records the request and checks its signature; returns its RequestId number. */
static int record(server_t *s, struct MHD_Connection *c, const char *url, const char *method)
{
    const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    char sig[ZIM_SIGNATURE_LEN + 1] = "", err[128];
    long long ts = strtoll(arg(c, "Timestamp"), NULL, 10);
    int good, rid;

    /* zim_sign itself is checked against independent vectors in test_zim_sign.c. */
    if (zim_sign_signature(APP_ID, arg(c, "SignatureNonce"), SECRET, (int64_t)ts, sig, err,
                           sizeof(err)) != 0)
        sig[0] = '\0';
    good = strcmp(sig, arg(c, "Signature")) == 0 && strcmp(arg(c, "AppId"), "1234567890") == 0 &&
           strcmp(arg(c, "Action"), "DeleteAllFriends") == 0 &&
           strcmp(arg(c, "SignatureVersion"), "2.0") == 0 &&
           strlen(arg(c, "SignatureNonce")) == 16 && llabs(ts - (long long)time(NULL)) < 600;
    pthread_mutex_lock(&s->mu);
    s->requests++;
    if (good)
        s->good_sigs++;
    else
        s->bad_sigs++;
    if (strcmp(s->nonce, arg(c, "SignatureNonce")) == 0)
        s->dup_nonces++;
    snprintf(s->nonce, sizeof(s->nonce), "%s", arg(c, "SignatureNonce"));
    snprintf(s->user, sizeof(s->user), "%s", arg(c, "FromUserId"));
    snprintf(s->sig, sizeof(s->sig), "%s", arg(c, "Signature"));
    snprintf(s->method, sizeof(s->method), "%s", method);
    snprintf(s->ua, sizeof(s->ua), "%s", ua ? ua : "");
    snprintf(s->path, sizeof(s->path), "%s", url);
    rid = ++s->next_rid;
    pthread_mutex_unlock(&s->mu);
    return rid;
}

/* Scripted answers by path: /ok (and anything else), /status/N, /code/N, /nonjson,
 * /redirect, /exact (ZIM_MAX_BODY bytes), /over (one more), /big (1 MiB), /close
 * (connection dropped), /slow (answers after slow_ms). */
static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    server_t *s = cls;
    char small[256], *body = small;
    unsigned status = 200;
    size_t len;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    int rid;

    (void)version, (void)upload, (void)upload_size;
    if (*con_cls == NULL) { /* first call: headers only; answer on the next one */
        *con_cls = s;
        return MHD_YES;
    }
    rid = record(s, conn, url, method);
    if (strcmp(url, "/close") == 0)
        return MHD_NO;
    if (strcmp(url, "/slow") == 0) {
        struct timespec ts = {s->slow_ms / 1000, (s->slow_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    len = (size_t)snprintf(small, sizeof(small),
                           "{\"Code\":0,\"Message\":\"success\",\"RequestId\":\"rid-%d\"}", rid);
    if (strncmp(url, "/status/", 8) == 0) { /* a ZIM answer without Message */
        status = (unsigned)strtoul(url + 8, NULL, 10);
        len = (size_t)snprintf(small, sizeof(small), "{\"Code\":0,\"RequestId\":\"r%d\"}", rid);
    } else if (strncmp(url, "/code/", 6) == 0) {
        len = (size_t)snprintf(small, sizeof(small),
                               "{\"Code\":%s,\"Message\":\"m\",\"RequestId\":\"rid-%d\"}", url + 6,
                               rid);
    } else if (strcmp(url, "/nonjson") == 0 || strcmp(url, "/redirect") == 0) {
        len = (size_t)snprintf(small, sizeof(small), "<html>oops</html>");
        status = url[1] == 'r' ? 302 : 200;
    } else if (!strcmp(url, "/exact") || !strcmp(url, "/over") || !strcmp(url, "/big")) {
        len = url[1] == 'e' ? ZIM_MAX_BODY : url[1] == 'o' ? ZIM_MAX_BODY + 1 : 1024 * 1024;
        body = malloc(len);
        if (!body)
            return MHD_NO;
        memset(body, ' ', len);
        memcpy(body, "{\"Code\":0,\"RequestId\":\"big\"", 27);
        body[len - 1] = '}';
    }
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
    if (body != small)
        free(body);
    if (!resp)
        return MHD_NO;
    if (status == 302)
        MHD_add_response_header(resp, "Location", "/ok");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int server_start(server_t *s, const char *key_pem, const char *cert_pem)
{
    struct sockaddr_in sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    const union MHD_DaemonInfo *info;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (key_pem)
        s->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, s,
                                MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_CONNECTION,
                                notify_conn, s, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
                                MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_END);
    else
        s->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_URI_LOG_CALLBACK, uri_log, s,
                                MHD_OPTION_NOTIFY_CONNECTION, notify_conn, s, MHD_OPTION_END);
    info = s->d ? MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    s->port = info ? info->port : 0;
    TT_CHECK(s->d != NULL && s->port != 0);
    return s->d && s->port ? 0 : -1;
}

static void server_stop(server_t *s)
{
    if (s->d)
        MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
}

/* ---- client driving ------------------------------------------------------------------- */

typedef struct {
    int done, chain_left, chain_errors, in_flight_seen;
    int sent, sent_before_start; /* the sent hook: calls, and times out of order */
    int resent;                  /* reports of a request sent again */
    int64_t last_sent_us;        /* the last report's sent time */
    zim_api_t *api;
    zim_api_result_t res[128];
    intptr_t tag[128];
} collect_t;

static void on_done(void *opaque, const zim_api_result_t *res, void *cb_ctx)
{
    collect_t *c = cb_ctx;
    char err[256];

    if (c->done < 128) {
        c->res[c->done] = *res;
        c->tag[c->done] = (intptr_t)opaque;
    }
    c->done++;
    c->in_flight_seen = zim_api_in_flight(c->api);
    if (c->chain_left > 0) { /* re-entrancy: start the next call from the callback */
        c->chain_left--;
        if (zim_api_start(c->api, "chain", 0, clock_mono_us(),
                          (void *)(intptr_t)(1000 + c->chain_left), err, sizeof(err)) != 0)
            c->chain_errors++;
    }
}

/* The sent hook: once per request, never before its call started; a
 * request sent again names the previous send as where its start stands. */
static void on_sent(void *ctx, int64_t started_us, int64_t recorded_us, int64_t sent_us)
{
    collect_t *c = ctx;
    c->sent++;
    if (sent_us < started_us || started_us <= 0 || recorded_us < started_us ||
        recorded_us > sent_us)
        c->sent_before_start++;
    if (recorded_us != started_us) {
        c->resent++;
        if (recorded_us != c->last_sent_us)
            c->sent_before_start++;
    }
    c->last_sent_us = sent_us;
}

/* The event loop the clients of this test run on (made in main). */
static evloop_t *loop;

/* Runs the loop until nothing is in flight (30 s hang guard, not a timing check). */
static int drive(zim_api_t *api)
{
    time_t end = time(NULL) + 30;
    char err[256];

    while (zim_api_in_flight(api) > 0 && time(NULL) < end) {
        if (evloop_run_once(loop, 100000, err, sizeof(err)) < 0)
            return -1;
    }
    return zim_api_in_flight(api) == 0 ? 0 : -1;
}

static zim_api_t *make_api(const char *endpoint, const char *ca_file, long timeout_ms,
                           collect_t *col, log_t *lg)
{
    zim_api_opts_t o = {0};
    char err[256] = "";

    o.endpoint = endpoint;
    o.app_id = APP_ID;
    o.secret = SECRET;
    o.request_timeout_ms = timeout_ms;
    o.connect_timeout_ms = 2000;
    o.ca_file = ca_file;
    o.sent = on_sent;
    o.sent_ctx = col;
    memset(col, 0, sizeof(*col));
    col->api = zim_api_new(&o, on_done, col, lg, loop, err, sizeof(err));
    TT_CHECK(col->api != NULL);
    if (!col->api)
        fprintf(stderr, "zim_api_new: %s\n", err);
    return col->api;
}

/* One call of user "u1" against endpoint; *out gets its result. */
static void one_call(const char *endpoint, const char *ca_file, long timeout_ms,
                     zim_api_result_t *out)
{
    collect_t col;
    char err[256] = "";

    memset(out, 0, sizeof(*out));
    out->outcome = (zim_outcome_t)99;
    if (!make_api(endpoint, ca_file, timeout_ms, &col, NULL))
        return;
    TT_EQ_INT(zim_api_start(col.api, "u1", 0, clock_mono_us(), NULL, err, sizeof(err)), 0);
    TT_EQ_INT(drive(col.api), 0);
    TT_EQ_INT(col.done, 1);
    *out = col.res[0];
    zim_api_destroy(col.api);
}

static void test_transport_success_and_secrecy(void)
{
    server_t s;
    collect_t col;
    char ep[128], err[256] = "", logbuf[8192] = "", tmpl[] = "/tmp/zimapi-log-XXXXXX";
    int fd = mkstemp(tmpl);
    log_t *lg = fd >= 0 ? log_new(fd, LOG_DEBUG, LOG_FORMAT_JSON, NULL, 0) : NULL;
    ssize_t n;

    TT_CHECK(lg != NULL);
    if (server_start(&s, NULL, NULL) != 0)
        goto out;
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/ok", s.port);
    if (!make_api(ep, NULL, 5000, &col, lg))
        goto out;
    TT_EQ_INT(
        zim_api_start(col.api, "a&b=c", 1, clock_mono_us(), (void *)(intptr_t)7, err, sizeof(err)),
        0);
    TT_EQ_INT(zim_api_in_flight(col.api), 1);
    TT_EQ_INT(drive(col.api), 0);
    TT_EQ_INT(col.done, 1);
    TT_EQ_INT(col.tag[0], 7);
    TT_EQ_INT(col.res[0].outcome, ZIM_SUCCESS);
    TT_EQ_INT(col.res[0].http_status, 200);
    TT_EQ_INT(col.res[0].curl_code, 0);
    TT_EQ_INT(col.res[0].has_code, 1);
    TT_EQ_INT(col.res[0].code, 0);
    TT_EQ_STR(col.res[0].message, "success");
    TT_EQ_STR(col.res[0].request_id, "rid-1");
    TT_CHECK(col.res[0].elapsed_us > 0);
    TT_EQ_INT(col.in_flight_seen, 0);
    zim_api_destroy(col.api);
    /* what the server received */
    TT_EQ_STR(s.user, "a&b=c");
    TT_EQ_INT(s.good_sigs, 1);
    TT_EQ_INT(s.bad_sigs, 0);
    TT_EQ_STR(s.method, "GET");
    TT_EQ_STR(s.ua, "zim-unfriend/" ZU_VERSION);
    TT_EQ_STR(s.path, "/ok");
    TT_CHECK(strncmp(s.raw_uri,
                     "/ok?Action=DeleteAllFriends&AppId=1234567890&SignatureNonce=", 60) == 0);
    TT_CHECK(strstr(s.raw_uri, "&FromUserId=a%26b%3Dc&DeleteType=1") != NULL);
    /* the log has the call, never the secret, the signature or the URL */
    n = pread(fd, logbuf, sizeof(logbuf) - 1, 0);
    TT_CHECK(n > 0);
    logbuf[n > 0 ? n : 0] = '\0';
    TT_CHECK(strstr(logbuf, "zim call started") != NULL);
    TT_CHECK(strstr(logbuf, "a&b=c") != NULL);
    TT_CHECK(strstr(logbuf, SECRET) == NULL);
    TT_CHECK(s.sig[0] && strstr(logbuf, s.sig) == NULL);
    TT_CHECK(strstr(logbuf, "Signature") == NULL && strstr(logbuf, "127.0.0.1") == NULL);
out:
    server_stop(&s);
    log_destroy(lg);
    if (fd >= 0) {
        close(fd);
        unlink(tmpl);
    }
}

static void test_transport_answers(void)
{
    static const struct {
        const char *path;
        zim_outcome_t want;
        long status;
        const char *msg; /* prefix of the message */
    } cases[] = {
        {"", ZIM_SUCCESS, 200, "success"}, /* no path: "/" is added */
        {"/status/500", ZIM_RETRY, 500, "HTTP 500"},
        {"/status/503", ZIM_RETRY, 503, "HTTP 503"},
        {"/status/429", ZIM_RETRY, 429, "HTTP 429"},
        {"/status/408", ZIM_RETRY, 408, "HTTP 408"},
        {"/status/401", ZIM_SYSTEMIC, 401, "HTTP 401"},
        {"/status/403", ZIM_SYSTEMIC, 403, "HTTP 403"},
        {"/code/660300005", ZIM_RETRY_SLOWDOWN, 200, "m"},
        {"/code/100000004", ZIM_RETRY_CLOCK, 200, "m"},
        {"/code/100000001", ZIM_SYSTEMIC, 200, "m"},
        {"/code/7", ZIM_RETRY, 200, "m"},
        {"/code/2", ZIM_REJECTED, 200, "m"},
        {"/nonjson", ZIM_RETRY, 200, "HTTP 200: response body is not JSON"},
        {"/redirect", ZIM_RETRY, 302, "HTTP 302: response body is not JSON"},
        {"/exact", ZIM_SUCCESS, 200, ""},
        {"/over", ZIM_RETRY, 200, "HTTP 200: response body exceeds 65536 bytes"},
        {"/big", ZIM_RETRY, 200, "HTTP 200: response body exceeds 65536 bytes"},
    };
    server_t s;
    char ep[128];
    zim_api_result_t r;

    if (server_start(&s, NULL, NULL) != 0)
        goto out;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int before = s.requests;
        snprintf(ep, sizeof(ep), "http://127.0.0.1:%u%s", s.port, cases[i].path);
        one_call(ep, NULL, 5000, &r);
        if (r.outcome != cases[i].want)
            fprintf(stderr, "case %s: %s (%s)\n", cases[i].path, zim_outcome_name(r.outcome),
                    r.message);
        TT_EQ_INT(r.outcome, cases[i].want);
        TT_EQ_INT(r.http_status, cases[i].status);
        TT_EQ_INT(r.curl_code, 0);
        TT_CHECK(strncmp(r.message, cases[i].msg, strlen(cases[i].msg)) == 0);
        if (cases[i].path[0] == '/' && (cases[i].path[1] == 's' || cases[i].path[1] == 'c'))
            TT_EQ_STR(r.message, cases[i].msg); /* /status/, /code/: exact */
        TT_EQ_INT(s.requests, before + 1);      /* exactly one request: no redirect followed */
        TT_EQ_STR(s.path, cases[i].path[0] ? cases[i].path : "/");
    }
    TT_EQ_INT(s.bad_sigs, 0);
out:
    server_stop(&s);
}

static void test_transport_failures(void)
{
    server_t s;
    char ep[128];
    zim_api_result_t r;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int sock = socket(AF_INET, SOCK_STREAM, 0);

    /* a bound port with no listener: connection refused */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TT_CHECK(sock >= 0 && bind(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
             getsockname(sock, (struct sockaddr *)&sa, &sl) == 0);
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/", (unsigned)ntohs(sa.sin_port));
    one_call(ep, NULL, 5000, &r);
    TT_EQ_INT(r.outcome, ZIM_RETRY);
    TT_EQ_INT(r.curl_code, CURLE_COULDNT_CONNECT);
    TT_EQ_INT(r.http_status, 0);
    TT_EQ_INT(r.has_code, 0);
    TT_CHECK(r.message[0] != '\0');
    TT_CHECK(zim_api_unreachable(&r));
    /* A listener whose accept queue is full drops the SYNs: the connect
     * times out (CURLE_OPERATION_TIMEDOUT, as a slow answer does), and the
     * request never went out: unreachable. */
    int backlog[4] = {-1, -1, -1, -1};
    TT_CHECK(listen(sock, 0) == 0);
    for (int i = 0; i < 4; i++) {
        backlog[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (backlog[i] >= 0)
            (void)connect(backlog[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    usleep(100000);
    one_call(ep, NULL, 500, &r);
    TT_EQ_INT(r.outcome, ZIM_RETRY);
    TT_EQ_INT(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    TT_EQ_INT(r.sent, 0);
    TT_CHECK(zim_api_unreachable(&r));
    for (int i = 0; i < 4; i++)
        if (backlog[i] >= 0)
            close(backlog[i]);
    close(sock);

    if (server_start(&s, NULL, NULL) != 0)
        goto out;
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/close", s.port);
    one_call(ep, NULL, 5000, &r);
    TT_EQ_INT(r.outcome, ZIM_RETRY);
    TT_EQ_INT(r.curl_code, CURLE_GOT_NOTHING);
    TT_CHECK(strstr(r.message, "Empty reply") != NULL);
    TT_CHECK(r.sent && !zim_api_unreachable(&r)); /* it reached a server */

    s.slow_ms = 1500;
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/slow", s.port);
    one_call(ep, NULL, 200, &r);
    TT_EQ_INT(r.outcome, ZIM_RETRY);
    TT_EQ_INT(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    TT_CHECK(strstr(r.message, "timed out") != NULL);
    TT_CHECK(r.sent && !zim_api_unreachable(&r)); /* sent, no answer in time */
out:
    server_stop(&s);
}

#define MANY 70

static void test_transport_concurrency_and_reuse(void)
{
    server_t s;
    collect_t col;
    char ep[128], err[256];
    int distinct = 1, seen[MANY] = {0};

    if (server_start(&s, NULL, NULL) != 0)
        goto out;
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/ok", s.port);
    if (!make_api(ep, NULL, 10000, &col, NULL))
        goto out;
    /* sequential calls, each started from the previous one's callback: one connection */
    col.chain_left = 9;
    TT_EQ_INT(zim_api_start(col.api, "chain", 0, clock_mono_us(), NULL, err, sizeof(err)), 0);
    TT_EQ_INT(drive(col.api), 0);
    TT_EQ_INT(col.done, 10);
    TT_EQ_INT(col.chain_errors, 0);
    TT_EQ_INT(col.in_flight_seen, 0);
    TT_EQ_INT(s.connections, 1);
    /* MANY at once (more than the initial CURLMOPT_MAXCONNECTS of 64, which then grows),
     * twice: all succeed with distinct RequestIds */
    for (int round = 0; round < 2; round++) {
        col.done = 0;
        for (intptr_t i = 0; i < MANY; i++)
            TT_EQ_INT(zim_api_start(col.api, "many", (int)(i % 2), clock_mono_us(), (void *)i, err,
                                    sizeof(err)),
                      0);
        TT_EQ_INT(zim_api_in_flight(col.api), MANY);
        TT_EQ_INT(drive(col.api), 0);
        TT_EQ_INT(col.done, MANY);
        for (int i = 0; i < MANY && i < col.done; i++) {
            TT_EQ_INT(col.res[i].outcome, ZIM_SUCCESS);
            if (col.tag[i] >= 0 && col.tag[i] < MANY)
                seen[col.tag[i]]++;
            for (int j = 0; j < i; j++)
                distinct &= strcmp(col.res[i].request_id, col.res[j].request_id) != 0;
        }
    }
    TT_CHECK(distinct);
    for (int i = 0; i < MANY; i++)
        TT_EQ_INT(seen[i], 2);
    /* 10 + 2 * MANY calls, never more than MANY at once: idle connections were reused (how
     * many were opened depends on how the transfers overlapped, which loopback decides) */
    TT_CHECK(s.connections <= MANY);
    TT_EQ_INT(s.requests, 10 + 2 * MANY);
    TT_EQ_INT(col.sent, 10 + 2 * MANY);
    TT_EQ_INT(col.sent_before_start, 0);
    TT_EQ_INT(s.good_sigs, 10 + 2 * MANY);
    TT_EQ_INT(s.dup_nonces, 0);
    zim_api_destroy(col.api);
out:
    server_stop(&s);
}

/* ---- a keep-alive connection that dies under a reused request ---- */

typedef struct {
    int lfd;
    unsigned port;
    int answered, dropped;
} dying_t;

/* Reads one request's head (up to the blank line). 1 read, 0 closed. */
static int read_head(int fd)
{
    char buf[4096];
    size_t len = 0;
    while (len < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return 1;
    }
    return 0;
}

static void answer(int fd)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 47\r\n\r\n"
                               "{\"Code\":0,\"Message\":\"success\",\"RequestId\":\"r1\"}";
    ssize_t n = write(fd, resp, sizeof(resp) - 1);
    (void)n;
}

/* Answers the first request on its connection and keeps it open; reads the
 * second on it and closes without an answer (as a server whose idle
 * time-out hit just then); answers the request that comes again on a new
 * connection. */
static void *dying_serve(void *arg)
{
    dying_t *d = arg;
    int c1 = accept(d->lfd, NULL, NULL);
    if (c1 < 0)
        return NULL;
    if (read_head(c1)) {
        answer(c1);
        d->answered++;
    }
    if (read_head(c1))
        d->dropped++;
    close(c1);
    int c2 = accept(d->lfd, NULL, NULL);
    if (c2 >= 0) {
        if (read_head(c2)) {
            answer(c2);
            d->answered++;
        }
        close(c2);
    }
    return NULL;
}

/* libcurl sends the second call's request again on a fresh connection: the
 * sent hook hears of both sends, the second naming the first as where the
 * call's start stands (so the limiter moves that start, not an older
 * call's), and the call succeeds. */
static void test_resent_on_dead_connection(void)
{
    dying_t d = {.lfd = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    pthread_t th;
    collect_t col;
    char ep[64], err[256] = "";

    TT_CHECK(d.lfd >= 0 && bind(d.lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
             listen(d.lfd, 4) == 0 && getsockname(d.lfd, (struct sockaddr *)&a, &alen) == 0);
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/", (unsigned)ntohs(a.sin_port));
    if (pthread_create(&th, NULL, dying_serve, &d) != 0) {
        close(d.lfd);
        TT_CHECK(0);
        return;
    }
    if (make_api(ep, NULL, 5000, &col, NULL)) {
        int64_t t1 = clock_mono_us();
        TT_EQ_INT(zim_api_start(col.api, "first", 0, t1, NULL, err, sizeof(err)), 0);
        TT_EQ_INT(drive(col.api), 0);
        int64_t t2 = clock_mono_us();
        TT_EQ_INT(zim_api_start(col.api, "second", 0, t2, NULL, err, sizeof(err)), 0);
        TT_EQ_INT(drive(col.api), 0);
        TT_EQ_INT(col.done, 2);
        TT_EQ_INT(col.res[0].outcome, ZIM_SUCCESS);
        TT_EQ_INT(col.res[1].outcome, ZIM_SUCCESS);
        TT_EQ_INT(col.sent, 3);
        TT_EQ_INT(col.resent, 1);
        TT_EQ_INT(col.sent_before_start, 0);
        zim_api_destroy(col.api);
    }
    shutdown(d.lfd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(d.lfd);
    TT_EQ_INT(d.answered, 2);
    TT_EQ_INT(d.dropped, 1);
}

static void test_destroy_aborts_without_callbacks(void)
{
    server_t s;
    collect_t col;
    char ep[128], err[256];

    if (server_start(&s, NULL, NULL) != 0)
        goto out;
    s.slow_ms = 500;
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/slow", s.port);
    if (!make_api(ep, NULL, 5000, &col, NULL))
        goto out;
    for (int i = 0; i < 3; i++)
        TT_EQ_INT(zim_api_start(col.api, "u", 0, clock_mono_us(), NULL, err, sizeof(err)), 0);
    TT_CHECK(evloop_run_once(loop, 0, err, sizeof(err)) >= 0);
    zim_api_destroy(col.api);
    TT_EQ_INT(col.done, 0);
    /* Its sockets and timeout left the loop: nothing of it runs any more. */
    TT_CHECK(evloop_run_once(loop, 50000, err, sizeof(err)) >= 0);
    TT_EQ_INT(col.done, 0);
out:
    server_stop(&s);
}

static void test_api_errors(void)
{
    zim_api_opts_t o = {0};
    collect_t col;
    char err[256] = "";
    const int64_t sc[] = {660000002LL};

    o.endpoint = "ftp://x/";
    o.secret = SECRET;
    TT_CHECK(zim_api_new(NULL, on_done, NULL, NULL, loop, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "opts") != NULL);
    TT_CHECK(zim_api_new(&o, NULL, NULL, NULL, loop, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "callback") != NULL);
    TT_CHECK(zim_api_new(&o, on_done, NULL, NULL, NULL, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "event loop") != NULL);
    TT_CHECK(zim_api_new(&o, on_done, NULL, NULL, loop, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "ftp://x/") != NULL);
    o.endpoint = "http://127.0.0.1:1/";
    o.secret = "";
    TT_CHECK(zim_api_new(&o, on_done, NULL, NULL, loop, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "secret") != NULL);
    o.secret = SECRET;
    o.success_codes = sc;
    o.success_codes_cnt = 1;
    o.ca_file = "";
    memset(&col, 0, sizeof(col));
    col.api = zim_api_new(&o, on_done, &col, NULL, loop, err, sizeof(err));
    TT_CHECK(col.api != NULL);
    TT_EQ_INT(zim_api_start(col.api, "u", 5, clock_mono_us(), NULL, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "DeleteType") != NULL);
    TT_EQ_INT(zim_api_start(col.api, "", 0, clock_mono_us(), NULL, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "FromUserId") != NULL);
    TT_EQ_INT(zim_api_in_flight(col.api), 0);
    TT_EQ_INT(zim_api_start(NULL, "u", 0, clock_mono_us(), NULL, err, sizeof(err)), -1);
    TT_EQ_INT(zim_api_in_flight(NULL), 0);
    zim_api_destroy(col.api);
    zim_api_destroy(NULL);
}

/* A self-signed EC certificate for 127.0.0.1, as PEM strings (caller frees). */
static int make_cert(char **key_pem, char **cert_pem)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    char *p;
    long n;
    int ok = pk && x && kb && cb;

    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, pk);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"127.0.0.1", -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
        ok = ext && X509_add_ext(x, ext, -1) && X509_sign(x, pk, EVP_sha256()) > 0 &&
             PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL) &&
             PEM_write_bio_X509(cb, x);
        X509_EXTENSION_free(ext);
    }
    if (ok) {
        n = BIO_get_mem_data(kb, &p);
        *key_pem = strndup(p, (size_t)n);
        n = BIO_get_mem_data(cb, &p);
        *cert_pem = strndup(p, (size_t)n);
    }
    BIO_free(kb);
    BIO_free(cb);
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

static void test_transport_tls_trust(void)
{
    server_t s;
    char *key = NULL, *cert = NULL, ep[128], ca[] = "/tmp/zimapi-ca-XXXXXX";
    zim_api_result_t r;
    int fd = -1, started = 0;

    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        printf("skip test_transport_tls_trust: libmicrohttpd built without TLS\n");
        return;
    }
    TT_EQ_INT(make_cert(&key, &cert), 0);
    if (!key || !cert)
        goto out;
    started = 1;
    if (server_start(&s, key, cert) != 0)
        goto out;
    snprintf(ep, sizeof(ep), "https://127.0.0.1:%u/ok", s.port);
    /* not trusted: systemic */
    one_call(ep, NULL, 5000, &r);
    TT_EQ_INT(r.outcome, ZIM_SYSTEMIC);
    TT_EQ_INT(r.curl_code, CURLE_PEER_FAILED_VERIFICATION);
    TT_CHECK(r.message[0] != '\0');
    /* an unreadable CA file: systemic */
    one_call(ep, "/nonexistent/zim-ca.pem", 5000, &r);
    TT_EQ_INT(r.outcome, ZIM_SYSTEMIC);
    /* trusted through ca_file: success */
    fd = mkstemp(ca);
    TT_CHECK(fd >= 0 && write(fd, cert, strlen(cert)) == (ssize_t)strlen(cert));
    one_call(ep, ca, 5000, &r);
    TT_EQ_INT(r.outcome, ZIM_SUCCESS);
    TT_EQ_INT(s.good_sigs, 1);
out:
    if (started)
        server_stop(&s);
    if (fd >= 0) {
        close(fd);
        unlink(ca);
    }
    free(key);
    free(cert);
}

int main(void)
{
    static const char *proxies[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                    "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]); /* the tests talk to 127.0.0.1 directly */
    char err[256];
    if (!(loop = evloop_new(err, sizeof(err)))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    TT_RUN(test_transport_success_and_secrecy);
    TT_RUN(test_transport_answers);
    TT_RUN(test_transport_failures);
    TT_RUN(test_transport_concurrency_and_reuse);
    TT_RUN(test_resent_on_dead_connection);
    TT_RUN(test_destroy_aborts_without_callbacks);
    TT_RUN(test_api_errors);
    TT_RUN(test_transport_tls_trust);
    evloop_destroy(loop);
    TT_DONE();
}
