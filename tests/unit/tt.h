/* tt.h - the unit tests' minimal harness.
 *
 * Each tests/unit/test_*.c is one executable registered with ctest. Use
 * TT_CHECK / TT_EQ_INT / TT_EQ_STR inside functions named test_*, list them
 * in main() with TT_RUN, and end main() with TT_DONE(). A failed check prints
 * file:line and the values, marks the test failed and carries on; the
 * process exits 1 when any check failed. */
#ifndef ZU_TT_H
#define ZU_TT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tt_failures;
static int tt_checks;

#define TT_CHECK(cond)                                                                             \
    do {                                                                                           \
        tt_checks++;                                                                               \
        if (!(cond)) {                                                                             \
            tt_failures++;                                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define TT_EQ_INT(a, b)                                                                            \
    do {                                                                                           \
        long long tt_a_ = (long long)(a), tt_b_ = (long long)(b);                                  \
        tt_checks++;                                                                               \
        if (tt_a_ != tt_b_) {                                                                      \
            tt_failures++;                                                                         \
            fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, tt_a_,  \
                    tt_b_);                                                                        \
        }                                                                                          \
    } while (0)

#define TT_EQ_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *tt_a_ = (a), *tt_b_ = (b);                                                     \
        tt_checks++;                                                                               \
        if (!tt_a_ || !tt_b_ || strcmp(tt_a_, tt_b_) != 0) {                                       \
            tt_failures++;                                                                         \
            fprintf(stderr, "%s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b,     \
                    tt_a_ ? tt_a_ : "(null)", tt_b_ ? tt_b_ : "(null)");                           \
        }                                                                                          \
    } while (0)

#define TT_RUN(fn)                                                                                 \
    do {                                                                                           \
        int tt_before_ = tt_failures;                                                              \
        fn();                                                                                      \
        fprintf(stderr, "%s %s\n", tt_failures == tt_before_ ? "ok  " : "FAIL", #fn);              \
    } while (0)

#define TT_DONE()                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "%d checks, %d failed\n", tt_checks, tt_failures);                         \
        return tt_failures ? 1 : 0;                                                                \
    } while (0)

/* A small deterministic generator for randomised checks (xorshift64): the
 * same sequence on every run, from a non-zero *state. */
static inline uint64_t tt_rand(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

#endif
