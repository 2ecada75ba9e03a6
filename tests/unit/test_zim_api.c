/* test_zim_api.c - URL building, response parsing, classification, and the
 * transport against a loopback libmicrohttpd server started by the test. */
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

#include "common/zim_api.h"
#include "common/zim_sign.h"
#include "tests/unit/tt.h"

#define APP_ID       1234567890u
#define SECRET       "s3cr3t-abcdef0123456789abcdef01"
#define ALL_SPECIALS "!#$%&()+-:;<=.>?@[]^_{}|~"

/* ---- helpers -------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lowercase hex is not what the encoder writes */
}

/* Decodes %XX in place; -1 on a malformed escape or any raw reserved character. */
static int pct_decode(char *s)
{
    char *w = s;

    for (char *r = s; *r; r++) {
        unsigned char c = (unsigned char)*r;
        if (c == '%') {
            int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
            if (hi < 0 || lo < 0)
                return -1;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '.' || c == '_' || c == '~') {
            *w++ = (char)c;
        } else {
            return -1;
        }
    }
    *w = '\0';
    return 0;
}

/* md5 hex straight from EVP (the test's own computation of the signature). */
static void md5_hex(const char *s, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Splits url's query into at most 8 name/value pairs (decoded values). Returns
 * the pair count, or -1 on a malformed pair or undecodable value. */
static int split_query(const char *url, char names[][32], char values[][128])
{
    char buf[2048];
    const char *q = strchr(url, '?');
    int n = 0;

    if (!q || strlen(q) >= sizeof(buf))
        return -1;
    memcpy(buf, q + 1, strlen(q));
    for (char *part = buf; part && *part; n++) {
        char *amp = strchr(part, '&'), *eq;
        if (amp)
            *amp = '\0';
        eq = strchr(part, '=');
        if (n >= 8 || !eq || strchr(eq + 1, '=') || (size_t)(eq - part) >= 32 ||
            strlen(eq + 1) >= 128)
            return -1;
        memcpy(names[n], part, (size_t)(eq - part));
        names[n][eq - part] = '\0';
        memcpy(values[n], eq + 1, strlen(eq + 1) + 1);
        if (pct_decode(values[n]) != 0)
            return -1;
        part = amp ? amp + 1 : NULL;
    }
    return n;
}

/* ---- URL ------------------------------------------------------------------------------ */

static const char *param_names[8] = {
    "Action",           "AppId",     "SignatureNonce", "Timestamp",
    "SignatureVersion", "Signature", "FromUserId",     "DeleteType"};

static void check_url_for(const char *user_id, int delete_type)
{
    char names[8][32], values[8][128], *url = NULL, err[256] = "", sig[33];

    TT_EQ_INT(zim_api_build_url("https://zim-api.zego.im/", APP_ID, SECRET, user_id, delete_type,
                                "0123456789abcdef", 1700000000, &url, err, sizeof(err)),
              0);
    if (!url)
        return;
    TT_CHECK(strncmp(url, "https://zim-api.zego.im/?Action=", 32) == 0);
    TT_CHECK(strchr(url, '#') == NULL && strchr(url, ' ') == NULL);
    TT_CHECK(strchr(strchr(url, '?') + 1, '?') == NULL);
    TT_EQ_INT(split_query(url, names, values), 8);
    for (int i = 0; i < 8; i++)
        TT_EQ_STR(names[i], param_names[i]);
    TT_EQ_STR(values[0], "DeleteAllFriends");
    TT_EQ_STR(values[1], "1234567890");
    TT_EQ_STR(values[2], "0123456789abcdef");
    TT_EQ_STR(values[3], "1700000000");
    TT_EQ_STR(values[4], "2.0");
    md5_hex("1234567890"
            "0123456789abcdef" SECRET "1700000000",
            sig);
    TT_EQ_STR(values[5], sig);
    TT_EQ_STR(values[6], user_id);
    TT_EQ_STR(values[7], delete_type ? "1" : "0");
    free(url);
}

static void test_url_every_special_character(void)
{
    const char *specials = ALL_SPECIALS;
    char uid[8];

    for (const char *p = specials; *p; p++) {
        snprintf(uid, sizeof(uid), "u%cv", *p);
        check_url_for(uid, 0);
        snprintf(uid, sizeof(uid), "%c", *p);
        check_url_for(uid, 1);
    }
    /* all of them at once, 32 characters */
    TT_EQ_INT(strlen(ALL_SPECIALS "aZ09xyz"), 32);
    check_url_for(ALL_SPECIALS "aZ09xyz", 0);
    check_url_for("a&b=c", 1);
    check_url_for("%41%2B", 0); /* already-encoded looking input is encoded again */
}

static void test_url_exact_encoding(void)
{
    char *url = NULL, err[256];

    TT_EQ_INT(zim_api_build_url("http://127.0.0.1:8080", 4294967295u, "k", "a&b=c ~._-%+/", 1,
                                "ffffffffffffffff", 0, &url, err, sizeof(err)),
              0);
    /* no path: "/" is added; uppercase %XX; unreserved left alone */
    TT_CHECK(url && strncmp(url,
                            "http://127.0.0.1:8080/?Action=DeleteAllFriends&AppId="
                            "4294967295&SignatureNonce=ffffffffffffffff&Timestamp=0&"
                            "SignatureVersion=2.0&Signature=",
                            strlen("http://127.0.0.1:8080/?Action=DeleteAllFriends&AppId="
                                   "4294967295&SignatureNonce=ffffffffffffffff&Timestamp=0&"
                                   "SignatureVersion=2.0&Signature=")) == 0);
    TT_CHECK(url && strstr(url, "&FromUserId=a%26b%3Dc%20~._-%25%2B%2F&DeleteType=1") != NULL);
    free(url);
    url = NULL;
    /* a path is kept as it is */
    TT_EQ_INT(zim_api_build_url("https://zim-api-fra.zego.im/v2/x", 1, "k", "u", 0,
                                "0000000000000000", 1, &url, err, sizeof(err)),
              0);
    TT_CHECK(url && strncmp(url, "https://zim-api-fra.zego.im/v2/x?Action=", 40) == 0);
    free(url);
}

static void test_url_errors(void)
{
    char *url = NULL, err[256];
    const char *n = "0123456789abcdef";

    err[0] = '\0';
    TT_EQ_INT(zim_api_build_url("ftp://x/", 1, "k", "u", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "http://") != NULL);
    TT_EQ_INT(zim_api_build_url("https://x/?a=b", 1, "k", "u", 0, n, 1, &url, err, sizeof(err)),
              -1);
    TT_CHECK(strstr(err, "query") != NULL);
    TT_EQ_INT(zim_api_build_url("https:///p", 1, "k", "u", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "no host") != NULL);
    TT_EQ_INT(zim_api_build_url(NULL, 1, "k", "u", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_EQ_INT(zim_api_build_url("https://x/", 1, "k", "", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "FromUserId") != NULL);
    TT_EQ_INT(zim_api_build_url("https://x/", 1, "k", NULL, 0, n, 1, &url, err, sizeof(err)), -1);
    TT_EQ_INT(zim_api_build_url("https://x/", 1, "k", "u", 2, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "DeleteType") != NULL);
    TT_EQ_INT(zim_api_build_url("https://x/", 1, "k", "u", 0, "", 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "SignatureNonce") != NULL);
    TT_EQ_INT(zim_api_build_url("https://x/", 1, "k", "u", 0, n, -5, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "Timestamp") != NULL);
    TT_EQ_INT(zim_api_build_url("https://x/", 1, NULL, "u", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "secret") != NULL);
    TT_CHECK(url == NULL);
}

/* ---- parsing -------------------------------------------------------------------------- */

static int parse(const char *s, zim_api_result_t *r)
{
    return zim_api_parse_response(s, strlen(s), r);
}

static void test_parse_response(void)
{
    zim_api_result_t r;
    char big[600];

    TT_EQ_INT(parse("{\"Code\":0,\"Message\":\"success\",\"RequestId\":\"r-1\"}", &r), 0);
    TT_EQ_INT(r.has_code, 1);
    TT_EQ_INT(r.code, 0);
    TT_EQ_STR(r.message, "success");
    TT_EQ_STR(r.request_id, "r-1");
    TT_EQ_INT(parse(" {\"Code\":660300005,\"RequestId\":12345678901234} ", &r), 0);
    TT_EQ_INT(r.code, 660300005LL);
    TT_EQ_STR(r.message, "");
    TT_EQ_STR(r.request_id, "12345678901234");
    TT_EQ_INT(parse("{\"Code\":-7,\"RequestId\":1.5}", &r), 0);
    TT_EQ_INT(r.code, -7);
    TT_EQ_STR(r.request_id, "1.5");
    /* an integral real counts as an integer Code; others do not */
    TT_EQ_INT(parse("{\"Code\":100000004.0}", &r), 0);
    TT_EQ_INT(r.code, 100000004LL);
    TT_EQ_INT(parse("{\"Code\":0.5}", &r), -1);
    TT_EQ_INT(parse("{\"Code\":1e300}", &r), -1);
    /* duplicates allowed, the last one wins */
    TT_EQ_INT(parse("{\"Code\":1,\"Code\":2}", &r), 0);
    TT_EQ_INT(r.code, 2);

    TT_EQ_INT(parse("{\"Code\":\"0\",\"RequestId\":\"r\"}", &r), -1);
    TT_EQ_INT(r.has_code, 0);
    TT_EQ_STR(r.message, "response has no integer Code");
    TT_EQ_STR(r.request_id, "r");
    TT_EQ_INT(parse("{\"Message\":\"x\"}", &r), -1);
    TT_EQ_STR(r.message, "response has no integer Code");
    TT_EQ_INT(parse("{\"code\":0}", &r), -1);
    TT_EQ_INT(parse("{\"Code\":null}", &r), -1);
    TT_EQ_INT(parse("{\"Code\":true}", &r), -1);
    TT_EQ_INT(parse("[0]", &r), -1);
    TT_EQ_STR(r.message, "response body is not a JSON object");
    TT_EQ_INT(parse("0", &r), -1);
    TT_EQ_INT(parse("<html>502 Bad Gateway</html>", &r), -1);
    TT_CHECK(strncmp(r.message, "response body is not JSON", 25) == 0);
    TT_EQ_INT(parse("{\"Code\":0", &r), -1);
    TT_EQ_INT(parse("{\"Code\":99999999999999999999}", &r), -1);
    TT_EQ_INT(parse("{\"Code\":0,\"Message\":\"a\\u0000b\"}", &r), -1); /* NUL refused */
    TT_EQ_INT(zim_api_parse_response("{\"Code\":0}\0", 11, &r), -1);    /* raw NUL */
    TT_EQ_INT(zim_api_parse_response("{\"Code\":0}", 10, &r), 0);
    TT_EQ_INT(zim_api_parse_response("{\"Code\":0}", 5, &r), -1); /* length is honoured */
    TT_EQ_INT(zim_api_parse_response("", 0, &r), -1);
    TT_EQ_STR(r.message, "response body is empty");
    TT_EQ_INT(zim_api_parse_response(NULL, 0, &r), -1);
    TT_EQ_INT(parse("{\"Code\":0,\"Message\":\"\xff\"}", &r), -1); /* invalid UTF-8 */
    TT_EQ_INT(parse("{\"Code\":0,\"Message\":5,\"RequestId\":[1]}", &r), 0);
    TT_EQ_STR(r.message, "");
    TT_EQ_STR(r.request_id, "");

    /* long strings are cut to fit, never inside a UTF-8 character */
    memcpy(big, "{\"Code\":0,\"Message\":\"", 21);
    for (int i = 0; i < 200; i++)
        memcpy(big + 21 + 2 * i, "\xc3\xa9", 2); /* 400 bytes of 'é' */
    memcpy(big + 421, "\",\"RequestId\":\"", 15);
    memset(big + 436, 'r', 150);
    memcpy(big + 586, "\"}", 3);
    TT_EQ_INT(parse(big, &r), 0);
    TT_EQ_INT(strlen(r.message), 254); /* 255 would split a character */
    TT_CHECK((unsigned char)r.message[252] == 0xc3 && (unsigned char)r.message[253] == 0xa9);
    TT_EQ_INT(strlen(r.request_id), sizeof(r.request_id) - 1);
}

/* ---- classification ------------------------------------------------------------------- */

static zim_outcome_t cls_code(int64_t code)
{
    return zim_api_classify(CURLE_OK, 200, 1, code, NULL, 0);
}

static void test_classify_codes(void)
{
    const int64_t extra[] = {0, 660000002LL};

    TT_EQ_INT(cls_code(0), ZIM_SUCCESS);
    TT_EQ_INT(cls_code(1), ZIM_RETRY);
    TT_EQ_INT(cls_code(7), ZIM_RETRY);
    TT_EQ_INT(cls_code(660000001LL), ZIM_RETRY);
    TT_EQ_INT(cls_code(100000015LL), ZIM_RETRY);
    TT_EQ_INT(cls_code(660300005LL), ZIM_RETRY_SLOWDOWN);
    TT_EQ_INT(cls_code(100000004LL), ZIM_RETRY_CLOCK);
    TT_EQ_INT(cls_code(3), ZIM_SYSTEMIC);
    for (int64_t c = 100000001LL; c <= 100000017LL; c++) {
        zim_outcome_t want = c == 100000004LL   ? ZIM_RETRY_CLOCK
                             : c == 100000015LL ? ZIM_RETRY
                                                : ZIM_SYSTEMIC;
        TT_EQ_INT(cls_code(c), want);
    }
    /* just outside each range, and unknown codes: rejected */
    TT_EQ_INT(cls_code(100000000LL), ZIM_REJECTED);
    TT_EQ_INT(cls_code(100000018LL), ZIM_REJECTED);
    TT_EQ_INT(cls_code(2), ZIM_REJECTED);
    TT_EQ_INT(cls_code(4), ZIM_REJECTED);
    TT_EQ_INT(cls_code(6), ZIM_REJECTED);
    TT_EQ_INT(cls_code(8), ZIM_REJECTED);
    TT_EQ_INT(cls_code(-1), ZIM_REJECTED);
    TT_EQ_INT(cls_code(660000000LL), ZIM_REJECTED);
    TT_EQ_INT(cls_code(660000002LL), ZIM_REJECTED);
    TT_EQ_INT(cls_code(660300004LL), ZIM_REJECTED);
    TT_EQ_INT(cls_code(660300006LL), ZIM_REJECTED);
    TT_EQ_INT(cls_code(INT64_MAX), ZIM_REJECTED);
    TT_EQ_INT(cls_code(INT64_MIN), ZIM_REJECTED);
    /* success_codes extension; 0 stays a success whatever is configured */
    TT_EQ_INT(zim_api_classify(CURLE_OK, 200, 1, 660000002LL, extra, 2), ZIM_SUCCESS);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 200, 1, 0, extra + 1, 1), ZIM_SUCCESS);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 200, 1, 2, extra, 2), ZIM_REJECTED);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 200, 1, 100000004LL, extra, 2), ZIM_RETRY_CLOCK);
}

static void test_classify_http_and_transport(void)
{
    /* HTTP status classes, whatever the body says */
    TT_EQ_INT(zim_api_classify(CURLE_OK, 401, 1, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 403, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 408, 1, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 429, 1, 2, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 500, 1, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 502, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 599, 1, 3, NULL, 0), ZIM_RETRY);
    /* other statuses: decided by the body */
    TT_EQ_INT(zim_api_classify(CURLE_OK, 404, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 400, 1, 2, NULL, 0), ZIM_REJECTED);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 302, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_OK, 200, 0, 0, NULL, 0), ZIM_RETRY); /* not JSON */
    TT_EQ_INT(zim_api_classify(CURLE_OK, 600, 1, 0, NULL, 0), ZIM_SUCCESS);
    /* TLS trust and endpoint set-up: systemic */
    TT_EQ_INT(zim_api_classify(CURLE_PEER_FAILED_VERIFICATION, 0, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_SSL_CACERT_BADFILE, 0, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_SSL_CERTPROBLEM, 0, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_SSL_ISSUER_ERROR, 0, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_SSL_PINNEDPUBKEYNOTMATCH, 0, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_SSL_CRL_BADFILE, 0, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_UNSUPPORTED_PROTOCOL, 0, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    TT_EQ_INT(zim_api_classify(CURLE_URL_MALFORMAT, 0, 0, 0, NULL, 0), ZIM_SYSTEMIC);
    /* network trouble: retry (a curl error wins over a status or a body) */
    TT_EQ_INT(zim_api_classify(CURLE_OPERATION_TIMEDOUT, 200, 1, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_COULDNT_CONNECT, 0, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_COULDNT_RESOLVE_HOST, 0, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_RECV_ERROR, 0, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_SEND_ERROR, 0, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_GOT_NOTHING, 0, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_PARTIAL_FILE, 200, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_SSL_CONNECT_ERROR, 0, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_WRITE_ERROR, 200, 0, 0, NULL, 0), ZIM_RETRY);
    TT_EQ_INT(zim_api_classify(CURLE_HTTP2_STREAM, 0, 0, 0, NULL, 0), ZIM_RETRY);

    TT_EQ_STR(zim_outcome_name(ZIM_SUCCESS), "success");
    TT_EQ_STR(zim_outcome_name(ZIM_RETRY), "retry");
    TT_EQ_STR(zim_outcome_name(ZIM_RETRY_SLOWDOWN), "retry_slowdown");
    TT_EQ_STR(zim_outcome_name(ZIM_RETRY_CLOCK), "retry_clock");
    TT_EQ_STR(zim_outcome_name(ZIM_REJECTED), "rejected");
    TT_EQ_STR(zim_outcome_name(ZIM_SYSTEMIC), "systemic");
    TT_EQ_STR(zim_outcome_name((zim_outcome_t)99), "unknown");
}

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
    char input[512], sig[33] = "";
    long long ts = strtoll(arg(c, "Timestamp"), NULL, 10);
    int good, rid;

    snprintf(input, sizeof(input), "%s%s%s%s", arg(c, "AppId"), arg(c, "SignatureNonce"), SECRET,
             arg(c, "Timestamp"));
    md5_hex(input, sig);
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
        if (zim_api_start(c->api, "chain", 0, (void *)(intptr_t)(1000 + c->chain_left), err,
                          sizeof(err)) != 0)
            c->chain_errors++;
    }
}

/* Runs the loop until nothing is in flight (30 s hang guard, not a timing check). */
static int drive(zim_api_t *api)
{
    time_t end = time(NULL) + 30;
    char err[256];

    while (zim_api_in_flight(api) > 0 && time(NULL) < end) {
        if (zim_api_poll(api, NULL, 0, 100, err, sizeof(err)) != 0 ||
            zim_api_perform(api, err, sizeof(err)) != 0)
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
    memset(col, 0, sizeof(*col));
    col->api = zim_api_new(&o, on_done, col, lg, err, sizeof(err));
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
    TT_EQ_INT(zim_api_start(col.api, "u1", 0, NULL, err, sizeof(err)), 0);
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
    TT_EQ_INT(zim_api_start(col.api, "a&b=c", 1, (void *)(intptr_t)7, err, sizeof(err)), 0);
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
    close(sock);

    if (server_start(&s, NULL, NULL) != 0)
        goto out;
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/close", s.port);
    one_call(ep, NULL, 5000, &r);
    TT_EQ_INT(r.outcome, ZIM_RETRY);
    TT_EQ_INT(r.curl_code, CURLE_GOT_NOTHING);
    TT_CHECK(strstr(r.message, "Empty reply") != NULL);

    s.slow_ms = 1500;
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/slow", s.port);
    one_call(ep, NULL, 200, &r);
    TT_EQ_INT(r.outcome, ZIM_RETRY);
    TT_EQ_INT(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    TT_CHECK(strstr(r.message, "timed out") != NULL);
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
    TT_EQ_INT(zim_api_start(col.api, "chain", 0, NULL, err, sizeof(err)), 0);
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
            TT_EQ_INT(zim_api_start(col.api, "many", (int)(i % 2), (void *)i, err, sizeof(err)), 0);
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
    TT_EQ_INT(s.good_sigs, 10 + 2 * MANY);
    TT_EQ_INT(s.dup_nonces, 0);
    zim_api_destroy(col.api);
out:
    server_stop(&s);
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
        TT_EQ_INT(zim_api_start(col.api, "u", 0, NULL, err, sizeof(err)), 0);
    TT_EQ_INT(zim_api_perform(col.api, err, sizeof(err)), 0);
    zim_api_destroy(col.api);
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
    TT_CHECK(zim_api_new(NULL, on_done, NULL, NULL, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "opts") != NULL);
    TT_CHECK(zim_api_new(&o, NULL, NULL, NULL, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "callback") != NULL);
    TT_CHECK(zim_api_new(&o, on_done, NULL, NULL, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "ftp://x/") != NULL);
    o.endpoint = "http://127.0.0.1:1/";
    o.secret = "";
    TT_CHECK(zim_api_new(&o, on_done, NULL, NULL, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "secret") != NULL);
    o.secret = SECRET;
    o.success_codes = sc;
    o.success_codes_cnt = 1;
    o.ca_file = "";
    memset(&col, 0, sizeof(col));
    col.api = zim_api_new(&o, on_done, &col, NULL, err, sizeof(err));
    TT_CHECK(col.api != NULL);
    TT_EQ_INT(zim_api_start(col.api, "u", 5, NULL, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "DeleteType") != NULL);
    TT_EQ_INT(zim_api_start(col.api, "", 0, NULL, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "FromUserId") != NULL);
    TT_EQ_INT(zim_api_in_flight(col.api), 0);
    TT_EQ_INT(zim_api_poll(col.api, NULL, 0, -1, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "curl_multi_poll") != NULL);
    TT_EQ_INT(zim_api_start(NULL, "u", 0, NULL, err, sizeof(err)), -1);
    TT_EQ_INT(zim_api_poll(NULL, NULL, 0, 0, err, sizeof(err)), -1);
    TT_EQ_INT(zim_api_perform(NULL, err, sizeof(err)), -1);
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
    TT_RUN(test_url_every_special_character);
    TT_RUN(test_url_exact_encoding);
    TT_RUN(test_url_errors);
    TT_RUN(test_parse_response);
    TT_RUN(test_classify_codes);
    TT_RUN(test_classify_http_and_transport);
    TT_RUN(test_transport_success_and_secrecy);
    TT_RUN(test_transport_answers);
    TT_RUN(test_transport_failures);
    TT_RUN(test_transport_concurrency_and_reuse);
    TT_RUN(test_destroy_aborts_without_callbacks);
    TT_RUN(test_api_errors);
    TT_RUN(test_transport_tls_trust);
    TT_DONE();
}
