/* jread.h - reading small JSON documents: a scanner that allocates nothing,
 * and one view of a value for both it and jansson.
 *
 * Every event and every ZIM answer is a small JSON object, read for a few
 * fields. jansson builds a tree of allocated values for it (an object and
 * a string per field) and frees it after: for the worker's main thread
 * that was a fifth of its instructions per event. jread_scan() reads the
 * same bytes in one pass into a fixed array of tokens on the caller's side.
 *
 * It takes a document only when it can give exactly what json_loadb()
 * would (with JSON_REJECT_DUPLICATES when asked): any syntax error, a root
 * that is not an object, a real number, an integer beyond int64, \u0000 or
 * an escaped surrogate, a duplicate key under JREAD_REJECT_DUPLICATES, more
 * than JREAD_TOKENS values, nesting deeper than JREAD_DEPTH, or more than
 * JREAD_SCRATCH bytes of escaped strings returns -1. The caller then parses
 * with jansson as before, which also names the error: the common case is
 * fast and every other case is unchanged. tests/fuzz/fuzz_jread.c holds
 * the scanner to that against jansson itself.
 *
 * jread_val_t is one value from either parser, so the rules that read
 * fields are written once. Pure, thread-safe. */
#ifndef ZU_JREAD_H
#define ZU_JREAD_H

#include <stddef.h>
#include <stdint.h>

#define JREAD_TOKENS  128  /* values, keys included */
#define JREAD_DEPTH   16   /* objects and arrays inside one another */
#define JREAD_SCRATCH 1024 /* bytes of strings that had escapes, decoded */

#define JREAD_REJECT_DUPLICATES 1 /* as JSON_REJECT_DUPLICATES; else the last key wins */

typedef enum {
    JREAD_ABSENT = 0, /* no such key, or not read from an object */
    JREAD_OBJECT,
    JREAD_ARRAY,
    JREAD_STRING,
    JREAD_INTEGER,
    JREAD_REAL, /* from jansson only: the scanner leaves reals to it */
    JREAD_TRUE,
    JREAD_FALSE,
    JREAD_NULL,
} jread_kind_t;

typedef struct jread_tok {
    uint8_t kind; /* jread_kind_t */
    uint32_t end; /* index just past this value's last descendant */
    uint32_t len; /* JREAD_STRING: bytes */
    union {
        const char *s; /* JREAD_STRING: in the input, or in scratch when it had escapes */
        int64_t i;     /* JREAD_INTEGER */
    } u;
} jread_tok_t;

/* A scanned document. It points into the scanned bytes, which must outlive
 * it. An object's keys and values follow it in document order: key at i,
 * its value at i + 1, the next key at tok[i + 1].end. */
typedef struct jread_doc {
    size_t n; /* tokens used; tok[0] is the root object */
    size_t scratch_used;
    jread_tok_t tok[JREAD_TOKENS];
    char scratch[JREAD_SCRATCH];
} jread_doc_t;

/* Scans len bytes (UTF-8 byte order mark not skipped) whose root is an
 * object into doc. 0 ok, -1 not taken (see the top). */
int jread_scan(jread_doc_t *doc, const char *buf, size_t len, int flags);

struct json_t;

/* One value: kind, and what that kind carries. Strings are not
 * NUL-terminated (a scanned one never holds a NUL). Valid as long as its document (or
 * jansson value) is. */
typedef struct jread_val {
    jread_kind_t kind;
    const char *s;          /* JREAD_STRING */
    size_t len;             /* JREAD_STRING: bytes */
    int64_t i;              /* JREAD_INTEGER */
    double r;               /* JREAD_REAL */
    const jread_doc_t *doc; /* objects of a scanned document: doc and tok */
    size_t tok;
    const struct json_t *j; /* objects from jansson */
} jread_val_t;

/* The root object of a scanned document. */
jread_val_t jread_root(const jread_doc_t *doc);

/* A jansson value (NULL gives JREAD_ABSENT). */
jread_val_t jread_wrap(const struct json_t *j);

/* The value of key in obj; JREAD_ABSENT when obj is not an object or has
 * no such key. */
jread_val_t jread_get(const jread_val_t *obj, const char *key);

/* "an object", "a string", "a number", "a boolean", "null" (for messages). */
const char *jread_kind_name(jread_kind_t kind);

#endif
