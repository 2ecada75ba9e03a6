/* zim_sign.h - ZIM server API request signing.
 *
 * Signature = lowercase_hex(md5(AppId + SignatureNonce + ServerSecret + Timestamp)),
 * the four values concatenated as decimal/text. Nonce: 8 bytes from
 * OpenSSL's CSPRNG as 16 lowercase hex digits.
 *
 * zim_sign_*: thread-safe, no state. zim_signer_*: the same results from a
 * signer that keeps MD5 fetched once and draws nonce bytes in blocks (for
 * the worker's hot path); a signer is not thread-safe: one per thread. */
#ifndef ZU_ZIM_SIGN_H
#define ZU_ZIM_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define ZIM_NONCE_LEN     16 /* hex digits, without the NUL */
#define ZIM_SIGNATURE_LEN 32 /* hex digits, without the NUL */

/* Fills out[ZIM_NONCE_LEN + 1]. 0 ok, -1 when the CSPRNG fails (errstr says). */
int zim_sign_nonce(char *out, char *errstr, size_t errstr_size);

/* Fills out[ZIM_SIGNATURE_LEN + 1]. 0 ok, -1 when the digest fails. The
 * secret is only read; nothing of it is kept or logged. */
int zim_sign_signature(uint32_t app_id, const char *nonce, const char *secret, int64_t timestamp,
                       char *out, char *errstr, size_t errstr_size);

typedef struct zim_signer zim_signer_t;

/* NULL on failure (errstr says). The caller owns it: zim_signer_destroy(). */
zim_signer_t *zim_signer_new(char *errstr, size_t errstr_size);
/* Wipes the unused random bytes and frees s. NULL is a no-op. */
void zim_signer_destroy(zim_signer_t *s);
/* As zim_sign_nonce, from s's pool of random bytes (s not NULL). */
int zim_signer_nonce(zim_signer_t *s, char *out, char *errstr, size_t errstr_size);
/* As zim_sign_signature, with s's MD5; s NULL: zim_sign_signature itself. */
int zim_signer_signature(zim_signer_t *s, uint32_t app_id, const char *nonce, const char *secret,
                         int64_t timestamp, char *out, char *errstr, size_t errstr_size);

#endif
