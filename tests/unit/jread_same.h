/* jread_same.h - is a scanned value the same as jansson's? For
 * test_jread.c and fuzz_jread.c, which hold jread_scan() to taking only
 * what json_loadb() gives alike. */
#ifndef ZU_JREAD_SAME_H
#define ZU_JREAD_SAME_H

#include <string.h>

#include <jansson.h>

#include "common/jread.h"

/* 1 when key i of a scanned object is not repeated after it (jansson keeps
 * the last). */
static inline int jread_same_last_key(const jread_doc_t *d, size_t obj, size_t i)
{
    for (size_t k = d->tok[i + 1].end; k < d->tok[obj].end; k = d->tok[k + 1].end)
        if (d->tok[k].len == d->tok[i].len &&
            memcmp(d->tok[k].u.s, d->tok[i].u.s, d->tok[i].len) == 0)
            return 0;
    return 1;
}

/* 1 when token k of d and j hold the same value. */
static inline int jread_same(const jread_doc_t *d, size_t k, const json_t *j)
{
    const jread_tok_t *t = &d->tok[k];
    size_t n = 0, i;

    switch (t->kind) {
    case JREAD_OBJECT:
        if (!json_is_object(j))
            return 0;
        for (i = k + 1; i < t->end; i = d->tok[i + 1].end) {
            if (!jread_same_last_key(d, k, i))
                continue;
            n++;
            if (!jread_same(d, i + 1, json_object_getn(j, d->tok[i].u.s, d->tok[i].len)))
                return 0;
        }
        return json_object_size(j) == n;
    case JREAD_ARRAY:
        if (!json_is_array(j))
            return 0;
        for (i = k + 1; i < t->end; i = d->tok[i].end)
            if (!jread_same(d, i, json_array_get(j, n++)))
                return 0;
        return json_array_size(j) == n;
    case JREAD_STRING:
        return json_is_string(j) && json_string_length(j) == t->len &&
               memcmp(json_string_value(j), t->u.s, t->len) == 0;
    case JREAD_INTEGER:
        return json_is_integer(j) && (int64_t)json_integer_value(j) == t->u.i;
    case JREAD_TRUE:
        return json_is_true(j);
    case JREAD_FALSE:
        return json_is_false(j);
    case JREAD_NULL:
        return json_is_null(j);
    default:
        return 0;
    }
}

/* 1 when jread_scan() either does not take buf or takes it as jansson does. */
static inline int jread_agrees(const char *buf, size_t len, int flags)
{
    jread_doc_t doc;
    json_t *j;
    int same;

    if (jread_scan(&doc, buf, len, flags) != 0)
        return 1;
    j = json_loadb(buf, len, (flags & JREAD_REJECT_DUPLICATES) ? JSON_REJECT_DUPLICATES : 0, NULL);
    same = j && doc.n >= 1 && doc.tok[0].end == doc.n && jread_same(&doc, 0, j);
    json_decref(j);
    return same;
}

#endif
