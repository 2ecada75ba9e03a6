/* test_siphash.c - SipHash-2-4 against the published vectors (key 00..0f,
 * message 00 01 02 ... of each length), and the random key. */
#include "common/siphash.h"

#include <string.h>

#include "tests/unit/tt.h"

static void test_vectors(void)
{
    static const struct {
        size_t len;
        uint64_t h;
    } v[] = {
        {0, 0x726fdb47dd0e0e31ULL},  {1, 0x74f839c593dc67fdULL}, {2, 0x0d6c8009d9a94f5aULL},
        {7, 0xab0200f58b01d137ULL},  {8, 0x93f5f5799a932462ULL}, {15, 0xa129ca6149be45e5ULL},
        {63, 0x958a324ceb064572ULL},
    };
    unsigned char key[SIPHASH_KEY_LEN], msg[64];

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        TT_CHECK(siphash24(key, msg, v[i].len) == v[i].h);
}

static void test_random_key(void)
{
    unsigned char a[SIPHASH_KEY_LEN], b[SIPHASH_KEY_LEN];

    TT_CHECK(siphash_random_key(a) == 0);
    TT_CHECK(siphash_random_key(b) == 0);
    TT_CHECK(memcmp(a, b, sizeof(a)) != 0);
    /* Another key, another hash of the same input. */
    TT_CHECK(siphash24(a, "user-1", 6) != siphash24(b, "user-1", 6));
}

int main(void)
{
    TT_RUN(test_vectors);
    TT_RUN(test_random_key);
    TT_DONE();
}
