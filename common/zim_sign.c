/* zim_sign.c - ZIM server API request signing (nonce and MD5 signature). */
#include "common/zim_sign.h"
#include "common/fmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Random bytes for nonces, drawn from OpenSSL's CSPRNG in blocks: one
 * RAND_bytes call per 32 nonces instead of one each. Bytes are wiped as they
 * are handed out and when the signer goes. */
#define POOL_SIZE 256

struct zim_signer {
    EVP_MD *md5;
    EVP_MD_CTX *ctx;
    unsigned char pool[POOL_SIZE];
    size_t left; /* unused bytes, at the end of pool */
};

zim_signer_t *zim_signer_new(char *errstr, size_t errstr_size)
{
    zim_signer_t *s = calloc(1, sizeof(*s));

    if (!s) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "signer: out of memory");
        return NULL;
    }
    s->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    if (!s->md5) {
        ossl_err(errstr, errstr_size, "signature: MD5 is not available");
        goto fail;
    }
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx) {
        ossl_err(errstr, errstr_size, "signature: out of memory");
        goto fail;
    }
    return s;
fail:
    zim_signer_destroy(s);
    return NULL;
}

void zim_signer_destroy(zim_signer_t *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->ctx);
    EVP_MD_free(s->md5);
    OPENSSL_cleanse(s->pool, sizeof(s->pool));
    free(s);
}

int zim_signer_nonce(zim_signer_t *s, char *out, char *errstr, size_t errstr_size)
{
    unsigned char *raw;

    if (s->left < ZIM_NONCE_LEN / 2) {
        if (RAND_bytes(s->pool, (int)sizeof(s->pool)) != 1) {
            OPENSSL_cleanse(s->pool, sizeof(s->pool));
            s->left = 0;
            ossl_err(errstr, errstr_size, "signature nonce: RAND_bytes failed");
            return -1;
        }
        s->left = sizeof(s->pool);
    }
    raw = s->pool + sizeof(s->pool) - s->left;
    to_hex(raw, ZIM_NONCE_LEN / 2, out);
    OPENSSL_cleanse(raw, ZIM_NONCE_LEN / 2);
    s->left -= ZIM_NONCE_LEN / 2;
    return 0;
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

/* MD5 over the four parts, fed to ctx one after the other (nothing of the
 * secret is copied). */
static int digest(const EVP_MD *md5, EVP_MD_CTX *ctx, uint32_t app_id, const char *nonce,
                  const char *secret, int64_t timestamp, char *out, char *errstr,
                  size_t errstr_size)
{
    char head[FMT_I64_MAX], tail[FMT_I64_MAX];
    size_t head_len, tail_len;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    head_len = fmt_i64(head, app_id);
    tail_len = fmt_i64(tail, timestamp);
    if (EVP_DigestInit_ex(ctx, md5, NULL) != 1 || EVP_DigestUpdate(ctx, head, head_len) != 1 ||
        EVP_DigestUpdate(ctx, nonce, strlen(nonce)) != 1 ||
        EVP_DigestUpdate(ctx, secret, strlen(secret)) != 1 ||
        EVP_DigestUpdate(ctx, tail, tail_len) != 1 || EVP_DigestFinal_ex(ctx, md, &md_len) != 1 ||
        md_len * 2 != ZIM_SIGNATURE_LEN) {
        EVP_MD_CTX_reset(ctx);
        ossl_err(errstr, errstr_size, "signature: MD5 digest failed");
        return -1;
    }
    to_hex(md, md_len, out);
    return 0;
}

int zim_signer_signature(zim_signer_t *s, uint32_t app_id, const char *nonce, const char *secret,
                         int64_t timestamp, char *out, char *errstr, size_t errstr_size)
{
    if (!s)
        return zim_sign_signature(app_id, nonce, secret, timestamp, out, errstr, errstr_size);
    if (!nonce || !secret) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "signature: %s is NULL", !nonce ? "nonce" : "secret");
        return -1;
    }
    return digest(s->md5, s->ctx, app_id, nonce, secret, timestamp, out, errstr, errstr_size);
}

int zim_sign_signature(uint32_t app_id, const char *nonce, const char *secret, int64_t timestamp,
                       char *out, char *errstr, size_t errstr_size)
{
    zim_signer_t *s = zim_signer_new(errstr, errstr_size);
    int ret =
        s ? zim_signer_signature(s, app_id, nonce, secret, timestamp, out, errstr, errstr_size)
          : -1;
    zim_signer_destroy(s);
    return ret;
}
