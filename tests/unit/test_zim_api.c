/* test_zim_api.c - URL building, response parsing and classification; the
 * transport is in test_zim_transport.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/zim_api.h"
#include "common/zim_url.h"
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

    TT_EQ_INT(zim_url_build(NULL, "https://zim-api.zego.im/", APP_ID, SECRET, user_id, delete_type,
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
    /* Signed with a signer (the worker's path): the same URL. */
    zim_signer_t *signer = zim_signer_new(err, sizeof(err));
    char *again = NULL;
    TT_CHECK(signer != NULL);
    TT_EQ_INT(zim_url_build(signer, "https://zim-api.zego.im/", APP_ID, SECRET, user_id,
                            delete_type, "0123456789abcdef", 1700000000, &again, err, sizeof(err)),
              0);
    TT_EQ_STR(again ? again : "", url);
    free(again);
    zim_signer_destroy(signer);
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

    TT_EQ_INT(zim_url_build(NULL, "http://127.0.0.1:8080", 4294967295u, "k", "a&b=c ~._-%+/", 1,
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
    TT_EQ_INT(zim_url_build(NULL, "https://zim-api-fra.zego.im/v2/x", 1, "k", "u", 0,
                            "0000000000000000", 1, &url, err, sizeof(err)),
              0);
    TT_CHECK(url && strncmp(url, "https://zim-api-fra.zego.im/v2/x?Action=", 40) == 0);
    free(url);
}

/* Every byte 1..255 as a user id: the 66 unreserved characters of RFC 3986
 * go as they are, every other byte as uppercase %XX. */
static void test_url_every_byte(void)
{
    static const char hex[] = "0123456789ABCDEF";
    int plain_seen = 0;

    for (int b = 1; b < 256; b++) {
        char user[2] = {(char)b, '\0'}, want[64], *url = NULL, err[256];
        int plain = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
                    b == '-' || b == '.' || b == '_' || b == '~';

        if (plain) {
            snprintf(want, sizeof(want), "&FromUserId=%c&DeleteType=0", b);
            plain_seen++;
        } else {
            snprintf(want, sizeof(want), "&FromUserId=%%%c%c&DeleteType=0", hex[b >> 4],
                     hex[b & 15]);
        }
        TT_EQ_INT(zim_url_build(NULL, "https://x/", 1, "k", user, 0, "0123456789abcdef", 1, &url,
                                err, sizeof(err)),
                  0);
        if (!url || !strstr(url, want))
            fprintf(stderr, "byte %d: %s\n", b, url ? url : err);
        TT_CHECK(url && strstr(url, want) != NULL);
        free(url);
    }
    TT_EQ_INT(plain_seen, 66);
}

static void test_url_errors(void)
{
    char *url = NULL, err[256];
    const char *n = "0123456789abcdef";

    err[0] = '\0';
    TT_EQ_INT(zim_url_build(NULL, "ftp://x/", 1, "k", "u", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "http://") != NULL);
    TT_EQ_INT(zim_url_build(NULL, "https://x/?a=b", 1, "k", "u", 0, n, 1, &url, err, sizeof(err)),
              -1);
    TT_CHECK(strstr(err, "query") != NULL);
    TT_EQ_INT(zim_url_build(NULL, "https:///p", 1, "k", "u", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "no host") != NULL);
    TT_EQ_INT(zim_url_build(NULL, NULL, 1, "k", "u", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_EQ_INT(zim_url_build(NULL, "https://x/", 1, "k", "", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "FromUserId") != NULL);
    TT_EQ_INT(zim_url_build(NULL, "https://x/", 1, "k", NULL, 0, n, 1, &url, err, sizeof(err)), -1);
    TT_EQ_INT(zim_url_build(NULL, "https://x/", 1, "k", "u", 2, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "DeleteType") != NULL);
    TT_EQ_INT(zim_url_build(NULL, "https://x/", 1, "k", "u", 0, "", 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "SignatureNonce") != NULL);
    TT_EQ_INT(zim_url_build(NULL, "https://x/", 1, "k", "u", 0, n, -5, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "Timestamp") != NULL);
    TT_EQ_INT(zim_url_build(NULL, "https://x/", 1, NULL, "u", 0, n, 1, &url, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "secret") != NULL);
    TT_CHECK(url == NULL);
}

/* ---- parsing -------------------------------------------------------------------------- */

static int parse(const char *s, zim_api_result_t *r)
{
    return zim_api_parse_response(s, strlen(s), r);
}

/* The scanner takes the common answer, jansson the rest: with a real
 * number added (which only jansson takes) each answer reads the same. */
static void test_parse_both_parsers(void)
{
    static const char *const bodies[] = {
        "{\"Code\":0,\"Message\":\"success\",\"RequestId\":\"r-1\"}",
        "{\"Code\":660300005,\"RequestId\":12345678901234,\"Message\":\"\\u00e9\\n\"}",
        "{\"Code\":1,\"Code\":2,\"ErrorList\":[{\"UserId\":\"u\",\"SubCode\":3}]}",
        "{\"Code\":\"0\",\"RequestId\":\"r\"}",
        "{\"Message\":5,\"RequestId\":[1]}",
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char slow[512];
        zim_api_result_t a, b;
        int ra, rb;

        snprintf(slow, sizeof(slow), "{\"pad\":0.5,%s", bodies[i] + 1);
        ra = parse(bodies[i], &a);
        rb = parse(slow, &b);
        TT_EQ_INT(ra, rb);
        TT_EQ_INT(a.has_code, b.has_code);
        TT_EQ_INT(a.code, b.code);
        TT_EQ_STR(a.message, b.message);
        TT_EQ_STR(a.request_id, b.request_id);
        TT_EQ_INT(ra, i < 3 ? 0 : -1);
    }
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

int main(void)
{
    TT_RUN(test_url_every_special_character);
    TT_RUN(test_url_exact_encoding);
    TT_RUN(test_url_every_byte);
    TT_RUN(test_url_errors);
    TT_RUN(test_parse_response);
    TT_RUN(test_parse_both_parsers);
    TT_RUN(test_classify_codes);
    TT_RUN(test_classify_http_and_transport);
    TT_DONE();
}
