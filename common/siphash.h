/* siphash.h - SipHash-2-4, a keyed 64-bit hash for in-memory tables.
 *
 * Tables keyed by strings from outside (user ids from events) use it with a
 * random per-process key, so chosen inputs cannot be made to collide. Pure,
 * thread-safe. */
#ifndef ZU_SIPHASH_H
#define ZU_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* SipHash-2-4 of len bytes at data under the 16-byte key. */
uint64_t siphash24(const unsigned char key[SIPHASH_KEY_LEN], const void *data, size_t len);

/* Fills key with random bytes from the kernel. 0, or -1 (errno set). */
int siphash_random_key(unsigned char key[SIPHASH_KEY_LEN]);

#endif
