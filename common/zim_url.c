/* zim_url.c - the signed DeleteAllFriends request URL: the endpoint's
 * checks and the query, every value percent-encoded. */
#include "common/zim_url.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/fmt.h"
#include "common/zim_api.h"

/* RFC 3986 unreserved characters: A-Z a-z 0-9 - . _ ~ (1 in the table). */
static const unsigned char unreserved[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1,
    ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static size_t enc_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += unreserved[(unsigned char)*s] ? 1 : 3;
    return n;
}

/* Writes s percent-encoded (RFC 3986, uppercase hex) at p; returns the new end. */
static char *put_enc(char *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved[c]) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0x0f];
        }
    }
    return p;
}

/* Checks an endpoint: http:// or https://, a host, no query, fragment, space or
 * control character. *needs_slash is set when it has no path. */
int zim_url_check_endpoint(const char *endpoint, int *needs_slash, char *errstr, size_t errstr_size)
{
    const char *host;

    if (!endpoint || !*endpoint) {
        fmt_err(errstr, errstr_size, "endpoint: empty");
        return -1;
    }
    if (strncasecmp(endpoint, "https://", 8) == 0) {
        host = endpoint + 8;
    } else if (strncasecmp(endpoint, "http://", 7) == 0) {
        host = endpoint + 7;
    } else {
        fmt_err(errstr, errstr_size, "endpoint \"%.64s\": must start with http:// or https://",
                endpoint);
        return -1;
    }
    if (*host == '\0' || *host == '/') {
        fmt_err(errstr, errstr_size, "endpoint \"%.64s\": no host", endpoint);
        return -1;
    }
    for (const char *p = endpoint; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == 0x7f || c == '?' || c == '#') {
            fmt_err(errstr, errstr_size,
                    "endpoint \"%.64s\": must not contain a query, fragment, space or control "
                    "character",
                    endpoint);
            return -1;
        }
    }
    *needs_slash = strchr(host, '/') == NULL;
    return 0;
}

int zim_url_build(zim_signer_t *signer, const char *endpoint, uint32_t app_id, const char *secret,
                  const char *user_id, int delete_type, const char *nonce, int64_t timestamp,
                  char **out, char *errstr, size_t errstr_size)
{
    char app_s[FMT_I64_MAX], ts_s[FMT_I64_MAX], dt_s[FMT_I64_MAX], sig[ZIM_SIGNATURE_LEN + 1];
    const char *names[8] = {"Action",           "AppId",     "SignatureNonce", "Timestamp",
                            "SignatureVersion", "Signature", "FromUserId",     "DeleteType"};
    const char *values[8];
    int needs_slash = 0;
    size_t total, ep_len;
    char *url, *p;

    if (zim_url_check_endpoint(endpoint, &needs_slash, errstr, errstr_size) != 0)
        return -1;
    if (!user_id || !*user_id) {
        fmt_err(errstr, errstr_size, "FromUserId: empty");
        return -1;
    }
    if (delete_type != ZIM_DELETE_TWO_WAY && delete_type != ZIM_DELETE_ONE_WAY) {
        fmt_err(errstr, errstr_size, "DeleteType %d: must be 0 or 1", delete_type);
        return -1;
    }
    if (!nonce || !*nonce) {
        fmt_err(errstr, errstr_size, "SignatureNonce: empty");
        return -1;
    }
    if (timestamp < 0) {
        fmt_err(errstr, errstr_size, "Timestamp %" PRId64 ": negative", timestamp);
        return -1;
    }
    if (zim_signer_signature(signer, app_id, nonce, secret, timestamp, sig, errstr, errstr_size) !=
        0)
        return -1;
    fmt_i64(app_s, app_id);
    fmt_i64(ts_s, timestamp);
    fmt_i64(dt_s, delete_type);
    values[0] = "DeleteAllFriends";
    values[1] = app_s;
    values[2] = nonce;
    values[3] = ts_s;
    values[4] = "2.0";
    values[5] = sig;
    values[6] = user_id;
    values[7] = dt_s;

    ep_len = strlen(endpoint);
    total = ep_len + (size_t)needs_slash + 1;
    for (size_t i = 0; i < 8; i++)
        total += 2 + strlen(names[i]) + enc_len(values[i]); /* '?'/'&', name, '=', value */

    url = malloc(total);
    if (!url) {
        fmt_err(errstr, errstr_size, "request URL: out of memory");
        return -1;
    }
    memcpy(url, endpoint, ep_len);
    p = url + ep_len;
    if (needs_slash)
        *p++ = '/';
    for (size_t i = 0; i < 8; i++) {
        size_t nl = strlen(names[i]);
        *p++ = i == 0 ? '?' : '&';
        memcpy(p, names[i], nl);
        p += nl;
        *p++ = '=';
        p = put_enc(p, values[i]);
    }
    *p = '\0';
    *out = url;
    return 0;
}

/* getenv, with an empty value as unset (as libcurl reads them). */
static const char *env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *zim_url_env_proxy(const char *endpoint, const char **var)
{
    static const char *const https_vars[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                             NULL};
    static const char *const http_vars[] = {"http_proxy", "all_proxy", "ALL_PROXY", NULL};
    int tls = strncasecmp(endpoint, "https://", 8) == 0;

    for (const char *const *name = tls ? https_vars : http_vars; *name; name++) {
        const char *v = env_set(*name);
        if (v) {
            *var = *name;
            return v;
        }
    }
    *var = NULL;
    return NULL;
}

const char *zim_url_env_noproxy(void)
{
    const char *v = env_set("no_proxy");
    return v ? v : env_set("NO_PROXY");
}
