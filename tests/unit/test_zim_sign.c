/* test_zim_sign.c - signature vectors and nonce format.
 *
 * Every expected signature below was computed outside this code base, with
 * the shell command written next to it (coreutils md5sum or python3). */
/* The test swaps OpenSSL's random method for a failing one: an interface
 * OpenSSL 3 keeps but marks deprecated. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>

#include "common/zim_sign.h"
#include "tests/unit/tt.h"

typedef struct {
    uint32_t app_id;
    const char *nonce;
    const char *secret;
    int64_t timestamp;
    const char *expect;
} vector_t;

static const vector_t vectors[] = {
    /* printf '%s' '1234567890abcdef0123456789abcdefsecret1700000000' | md5sum */
    {1234567890u, "abcdef0123456789", "abcdefsecret", 1700000000,
     "22d28757557f79ebe80a5ada466036c7"},
    /* printf '%s' '4294967295ffffffffffffffffs3cr3t!@#$%^&*()0' | md5sum */
    {4294967295u, "ffffffffffffffff", "s3cr3t!@#$%^&*()", 0, "869355421e9d98751c648f3109d787d5"},
    /* printf '%s' '000000000000000000' | md5sum */
    {0, "0000000000000000", "", 0, "3ea032bf79e8c116b05f4698d5a8e044"},
    /* printf '%s' '1a2b3c4d5e6f7a8b9x9223372036854775807' | md5sum */
    {1, "a2b3c4d5e6f7a8b9", "x", INT64_MAX, "70792656da2b368a53cd930aa0ca02bd"},
    /* printf '%s' '424242deadbeefcafef00dp@ss w0rd"quote\back%2B+=&?1999999999' | md5sum
     * python3 -c "import hashlib;print(hashlib.md5(('424242'+'deadbeefcafef00d'
     *   +'p@ss w0rd\"quote\\\\back%2B+=&?'+'1999999999').encode()).hexdigest())" */
    {424242u, "deadbeefcafef00d", "p@ss w0rd\"quote\\back%2B+=&?", 1999999999,
     "859c9cedb7f1b190fdfad26332c45917"},
    /* printf '%s' '17a1b2c3d4e5f6a7b8ünïcødé€1735689600' | md5sum   (UTF-8 bytes) */
    {17u, "a1b2c3d4e5f6a7b8",
     "\xc3\xbcn\xc3\xaf"
     "c\xc3\xb8"
     "d\xc3\xa9\xe2\x82\xac",
     1735689600, "f698d4e392619baa5f774dad0ce91c52"},
};

static void test_signature_vectors(void)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const vector_t *v = &vectors[i];
        char out[ZIM_SIGNATURE_LEN + 1];
        char err[128] = "";

        memset(out, 'Z', sizeof(out));
        TT_EQ_INT(
            zim_sign_signature(v->app_id, v->nonce, v->secret, v->timestamp, out, err, sizeof(err)),
            0);
        TT_EQ_STR(out, v->expect);
        TT_EQ_INT(strlen(out), ZIM_SIGNATURE_LEN);
    }
}

static void test_signature_changes_with_every_input(void)
{
    char a[ZIM_SIGNATURE_LEN + 1], b[ZIM_SIGNATURE_LEN + 1];
    char err[128];

    TT_EQ_INT(zim_sign_signature(1, "0123456789abcdef", "s", 100, a, err, sizeof(err)), 0);
    TT_EQ_INT(zim_sign_signature(2, "0123456789abcdef", "s", 100, b, err, sizeof(err)), 0);
    TT_CHECK(strcmp(a, b) != 0);
    TT_EQ_INT(zim_sign_signature(1, "0123456789abcdee", "s", 100, b, err, sizeof(err)), 0);
    TT_CHECK(strcmp(a, b) != 0);
    TT_EQ_INT(zim_sign_signature(1, "0123456789abcdef", "t", 100, b, err, sizeof(err)), 0);
    TT_CHECK(strcmp(a, b) != 0);
    TT_EQ_INT(zim_sign_signature(1, "0123456789abcdef", "s", 101, b, err, sizeof(err)), 0);
    TT_CHECK(strcmp(a, b) != 0);
}

static void test_signature_null_inputs(void)
{
    char out[ZIM_SIGNATURE_LEN + 1];
    char err[128] = "";

    TT_EQ_INT(zim_sign_signature(1, NULL, "s", 1, out, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "nonce") != NULL);
    err[0] = '\0';
    TT_EQ_INT(zim_sign_signature(1, "0123456789abcdef", NULL, 1, out, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "secret") != NULL);
    /* errstr may be NULL */
    TT_EQ_INT(zim_sign_signature(1, NULL, NULL, 1, out, NULL, 0), -1);
}

static int is_lower_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

static void test_nonce_format_and_uniqueness(void)
{
    char n1[ZIM_NONCE_LEN + 1], n2[ZIM_NONCE_LEN + 1];
    char err[128] = "";

    memset(n1, 'Z', sizeof(n1));
    memset(n2, 'Z', sizeof(n2));
    TT_EQ_INT(zim_sign_nonce(n1, err, sizeof(err)), 0);
    TT_EQ_INT(zim_sign_nonce(n2, err, sizeof(err)), 0);
    TT_CHECK(is_lower_hex(n1, ZIM_NONCE_LEN));
    TT_CHECK(is_lower_hex(n2, ZIM_NONCE_LEN));
    TT_CHECK(strcmp(n1, n2) != 0);

    /* 64 more: all well-formed, and every one of the 16 hex digits shows up
     * (a constant or truncated generator would fail this). */
    int seen[16] = {0};
    for (int i = 0; i < 64; i++) {
        TT_EQ_INT(zim_sign_nonce(n1, err, sizeof(err)), 0);
        TT_CHECK(is_lower_hex(n1, ZIM_NONCE_LEN));
        TT_CHECK(strcmp(n1, n2) != 0);
        for (int j = 0; j < ZIM_NONCE_LEN; j++)
            seen[n1[j] <= '9' ? n1[j] - '0' : n1[j] - 'a' + 10] = 1;
        memcpy(n2, n1, sizeof(n1));
    }
    for (int d = 0; d < 16; d++)
        TT_CHECK(seen[d]);
}

/* A signer gives the same signatures as the stateless function, and its
 * nonces stay well-formed and distinct across several refills of its pool. */
static void test_signer(void)
{
    char err[128] = "", a[ZIM_SIGNATURE_LEN + 1], b[ZIM_SIGNATURE_LEN + 1];
    char n[ZIM_NONCE_LEN + 1];
    static char seen[300][ZIM_NONCE_LEN + 1];
    zim_signer_t *s = zim_signer_new(err, sizeof(err));
    int dups = 0;

    TT_CHECK(s != NULL);
    if (!s)
        return;
    for (int i = 0; i < 50; i++) {
        char secret[16];
        snprintf(secret, sizeof(secret), "k%d", i);
        TT_EQ_INT(zim_signer_signature(s, (uint32_t)i * 7919u, "0123456789abcdef", secret,
                                       1700000000 + i, a, err, sizeof(err)),
                  0);
        TT_EQ_INT(zim_sign_signature((uint32_t)i * 7919u, "0123456789abcdef", secret,
                                     1700000000 + i, b, err, sizeof(err)),
                  0);
        TT_EQ_STR(a, b);
    }
    TT_EQ_INT(zim_signer_signature(s, 1, NULL, "k", 1, a, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "nonce") != NULL);
    /* 300 nonces: about ten pools of random bytes. */
    for (int i = 0; i < 300; i++) {
        TT_EQ_INT(zim_signer_nonce(s, n, err, sizeof(err)), 0);
        TT_CHECK(is_lower_hex(n, ZIM_NONCE_LEN));
        for (int j = 0; j < i; j++)
            dups += strcmp(seen[j], n) == 0;
        memcpy(seen[i], n, sizeof(n));
    }
    TT_EQ_INT(dups, 0);
    zim_signer_destroy(s);
    zim_signer_destroy(NULL);
    /* No signer: the stateless signature (zim_url_build signs so). */
    TT_EQ_INT(zim_signer_signature(NULL, 1, "0123456789abcdef", "s", 100, a, err, sizeof(err)), 0);
    TT_EQ_INT(zim_sign_signature(1, "0123456789abcdef", "s", 100, b, err, sizeof(err)), 0);
    TT_EQ_STR(a, b);
}

static int fail_bytes(unsigned char *buf, int num)
{
    (void)buf;
    (void)num;
    return 0;
}

static int fail_status(void)
{
    return 0;
}

/* When the CSPRNG fails, no nonce is made (never a predictable one): the
 * call is refused with the reason, and nonces come again once it works. */
static void test_nonce_rand_failure(void)
{
    static const RAND_METHOD failing = {NULL, fail_bytes, NULL, NULL, fail_bytes, fail_status};
    char err[256] = "", n[ZIM_NONCE_LEN + 1] = "", a[ZIM_NONCE_LEN + 1] = "";
    zim_signer_t *s = zim_signer_new(err, sizeof(err));

    TT_CHECK(s != NULL);
    if (!s)
        return;
    /* Half the pool used, then the CSPRNG fails at the next refill. */
    for (int i = 0; i < 32; i++)
        TT_EQ_INT(zim_signer_nonce(s, a, err, sizeof(err)), 0);
    TT_EQ_INT(RAND_set_rand_method(&failing), 1);
    memset(n, 'x', ZIM_NONCE_LEN);
    TT_EQ_INT(zim_signer_nonce(s, n, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "RAND_bytes failed") != NULL);
    TT_CHECK(strspn(n, "x") == ZIM_NONCE_LEN); /* nothing written */
    err[0] = '\0';
    TT_EQ_INT(zim_sign_nonce(n, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "RAND_bytes failed") != NULL);
    TT_EQ_INT(RAND_set_rand_method(NULL), 1);
    TT_EQ_INT(zim_signer_nonce(s, n, err, sizeof(err)), 0);
    TT_CHECK(is_lower_hex(n, ZIM_NONCE_LEN));
    TT_CHECK(strcmp(n, a) != 0);
    zim_signer_destroy(s);
}

int main(void)
{
    TT_RUN(test_signature_vectors);
    TT_RUN(test_signature_changes_with_every_input);
    TT_RUN(test_signature_null_inputs);
    TT_RUN(test_nonce_format_and_uniqueness);
    TT_RUN(test_signer);
    TT_RUN(test_nonce_rand_failure);
    TT_DONE();
}
