/* fuzz_jread.c - libFuzzer target for the allocation-free JSON scanner.
 *
 * The first byte picks the duplicate-key rule, the rest is the document.
 * Whatever jread_scan() takes, json_loadb() with the same rule must take
 * too and give the same values (tests/unit/jread_same.h); what it does not
 * take is left to jansson, so there is nothing to check. Aborts on a
 * difference.
 *
 * Built by scripts/fuzz.sh (CMake -DFUZZ=ON instruments the libraries too):
 *   scripts/fuzz.sh 60 */
#include <stdint.h>
#include <stdlib.h>

#include "common/jread.h"
#include "tests/unit/jread_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (!jread_agrees((const char *)data + 1, size - 1, data[0] & 1 ? JREAD_REJECT_DUPLICATES : 0))
        abort();
    return 0;
}
