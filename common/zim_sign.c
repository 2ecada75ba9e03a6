/* zim_sign.c - ZIM server API request signing (nonce and MD5 signature). */
#include "common/zim_sign.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hexdigits[in[i] >> 4];
        out[2 * i + 1] = hexdigits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

/* Appends the reason of OpenSSL's latest error (if any) to a message prefix. */
static void ossl_err(char *errstr, size_t errstr_size, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[160];

    if (!errstr || errstr_size == 0)
        return;
    if (e) {
        ERR_error_string_n(e, reason, sizeof(reason));
        snprintf(errstr, errstr_size, "%s: %s", what, reason);
    } else {
        snprintf(errstr, errstr_size, "%s", what);
    }
    ERR_clear_error();
}

int zim_sign_nonce(char *out, char *errstr, size_t errstr_size)
{
    unsigned char raw[ZIM_NONCE_LEN / 2];

    if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
        ossl_err(errstr, errstr_size, "signature nonce: RAND_bytes failed");
        return -1;
    }
    to_hex(raw, sizeof(raw), out);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

int zim_sign_signature(uint32_t app_id, const char *nonce, const char *secret, int64_t timestamp,
                       char *out, char *errstr, size_t errstr_size)
{
    char head[16], tail[24];
    size_t nonce_len, secret_len, head_len, tail_len, total;
    unsigned char *buf = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD *md5 = NULL;
    int ret = -1;

    if (!nonce || !secret) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "signature: %s is NULL", !nonce ? "nonce" : "secret");
        return -1;
    }
    head_len = (size_t)snprintf(head, sizeof(head), "%" PRIu32, app_id);
    tail_len = (size_t)snprintf(tail, sizeof(tail), "%" PRId64, timestamp);
    nonce_len = strlen(nonce);
    secret_len = strlen(secret);
    total = head_len + nonce_len + secret_len + tail_len;

    buf = OPENSSL_malloc(total + 1);
    if (!buf) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "signature: out of memory");
        goto out;
    }
    memcpy(buf, head, head_len);
    memcpy(buf + head_len, nonce, nonce_len);
    memcpy(buf + head_len + nonce_len, secret, secret_len);
    memcpy(buf + head_len + nonce_len + secret_len, tail, tail_len);

    md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    if (!md5) {
        ossl_err(errstr, errstr_size, "signature: MD5 is not available");
        goto out;
    }
    if (EVP_Digest(buf, total, md, &md_len, md5, NULL) != 1 || md_len * 2 != ZIM_SIGNATURE_LEN) {
        ossl_err(errstr, errstr_size, "signature: MD5 digest failed");
        goto out;
    }
    to_hex(md, md_len, out);
    ret = 0;
out:
    if (buf)
        OPENSSL_clear_free(buf, total + 1);
    EVP_MD_free(md5);
    return ret;
}
