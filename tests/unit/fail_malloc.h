/* fail_malloc.h - allocation failures for unit tests linked with
 * --wrap=malloc (CMakeLists.txt lists them): the next fail_mallocs
 * allocations of the code under test fail. Included by one file per test
 * binary (it defines __wrap_malloc). */
#ifndef ZU_FAIL_MALLOC_H
#define ZU_FAIL_MALLOC_H

#include <stddef.h>

static int fail_mallocs;
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    if (fail_mallocs > 0) {
        fail_mallocs--;
        return NULL;
    }
    return __real_malloc(n);
}

#endif
