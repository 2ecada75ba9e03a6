/* utf8.h - strict UTF-8 decoding (RFC 3629).
 *
 * One definition of "valid UTF-8" for the whole project: overlong forms,
 * surrogates (U+D800..U+DFFF) and values above U+10FFFF are invalid. Pure,
 * thread-safe. */
#ifndef ZU_UTF8_H
#define ZU_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s (len > 0 bytes available) into *cp. Returns its
 * length (1..4), or 0 when s starts an invalid or truncated sequence (*cp is
 * then unchanged). */
size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp);

#endif
