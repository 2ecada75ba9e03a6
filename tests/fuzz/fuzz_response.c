/* fuzz_response.c - libFuzzer target for the ZIM response parser.
 *
 * Any bytes go through zim_api_parse_response() and the result through
 * zim_api_classify(). Beyond the sanitizers' findings it aborts when an
 * invariant breaks: the return value agrees with has_code, a failure always
 * says why, message and request_id are NUL-terminated valid UTF-8 (jansson
 * accepts them as JSON strings, which the result builder relies on), and a
 * successful parse of a body that is not exactly a JSON object cannot happen.
 * As a second target, short inputs without NUL are used as FromUserId: the
 * built URL must carry it percent-encoded with no raw delimiter, and decode
 * back to the same bytes.
 *
 * The modules are included as source so that libFuzzer's coverage
 * instrumentation reaches them (CMake builds zucommon without it).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_response.c \
 *       common/log.c $(pkg-config --libs libcurl libcrypto jansson) -lm -o fuzz_response
 *   ./fuzz_response -max_total_time=30 -max_len=4096 tests/fuzz/corpus/response */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/zim_api.c"
#include "common/zim_sign.c"
#include "common/zim_url.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 3986 unreserved, written out here (zim_url.c uses a table): what may
 * go unencoded. */
static int plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void check_text(const char *s, size_t cap)
{
    json_t *j;

    if (memchr(s, '\0', cap) == NULL)
        abort();
    j = json_string(s); /* NULL when not valid UTF-8 */
    if (!j)
        abort();
    json_decref(j);
}

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The FromUserId value of url, decoded into out; aborts on any raw delimiter. */
static size_t decode_user(const char *url, char *out)
{
    const char *p = strstr(url, "&FromUserId="), *end;
    size_t n = 0;

    if (!p)
        abort();
    p += 12;
    end = strstr(p, "&DeleteType=");
    if (!end || strchr(end + 12, '&') || strchr(end + 12, '%'))
        abort();
    for (; p < end; p++) {
        if (*p == '%') {
            int hi = unhex(p[1]), lo = unhex(p[2]);
            if (hi < 0 || lo < 0)
                abort();
            out[n++] = (char)(hi * 16 + lo);
            p += 2;
        } else if (plain((unsigned char)*p)) {
            out[n++] = *p;
        } else {
            abort();
        }
    }
    return n;
}

static void fuzz_url(const uint8_t *data, size_t size)
{
    char uid[65], back[65], err[256], *url = NULL;

    if (size == 0 || size > 64 || memchr(data, '\0', size))
        return;
    memcpy(uid, data, size);
    uid[size] = '\0';
    if (zim_url_build(NULL, "https://zim-api.zego.im/", 1, "secret", uid, 0, "0123456789abcdef",
                      1700000000, &url, err, sizeof(err)) != 0)
        abort();
    if (strchr(url, '#') || strchr(url, ' ') || strchr(strchr(url, '?') + 1, '?'))
        abort();
    if (decode_user(url, back) != size || memcmp(back, uid, size) != 0)
        abort();
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 400, 401, 404, 429, 500};
    static const int64_t extra[] = {660000002LL};
    zim_api_result_t res;
    int rc;

    memset(&res, 0x5a, sizeof(res));
    rc = zim_api_parse_response((const char *)data, size, &res);
    if (rc != 0 && rc != -1)
        abort();
    if ((rc == 0) != (res.has_code == 1) || (rc != 0 && res.message[0] == '\0'))
        abort();
    if (rc != 0 && res.code != 0)
        abort();
    check_text(res.message, sizeof(res.message));
    check_text(res.request_id, sizeof(res.request_id));
    if (rc == 0) {
        /* it must really be a JSON object (the parser saw the same bytes) */
        json_t *root = json_loadb((const char *)data, size, 0, NULL);
        if (!json_is_object(root))
            abort();
        json_decref(root);
    }
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        zim_outcome_t o = zim_api_classify(CURLE_OK, statuses[i], res.has_code, res.code, extra, 1);
        if ((int)o < ZIM_SUCCESS || o > ZIM_SYSTEMIC)
            abort();
        if (!res.has_code && o != ZIM_RETRY && o != ZIM_SYSTEMIC)
            abort();
    }
    fuzz_url(data, size);
    return 0;
}
