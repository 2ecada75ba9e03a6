/* jread.c - the allocation-free JSON scanner and the value view (jread.h).
 *
 * A recursive descent over RFC 8259's grammar, JREAD_DEPTH deep at most.
 * Whatever it does not take returns -1 at once; nothing it returns 0 for
 * may differ from json_loadb(), so where jansson's rule is subtle (reals,
 * surrogates, \u0000) it does not take the document at all. */
#include "common/jread.h"
#include "common/utf8.h"

#include <string.h>

#include <jansson.h>

typedef struct scan {
    const unsigned char *p, *e;
    jread_doc_t *doc;
    int flags;
} scan_t;

static int value(scan_t *s, int depth);

static void skip_ws(scan_t *s)
{
    while (s->p < s->e && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* A new token of kind; its index, or -1 when the array is full. */
static long new_tok(scan_t *s, jread_kind_t kind)
{
    jread_tok_t *t;

    if (s->doc->n == JREAD_TOKENS)
        return -1;
    t = &s->doc->tok[s->doc->n];
    t->kind = (uint8_t)kind;
    t->len = 0;
    t->u.i = 0;
    t->end = (uint32_t)++s->doc->n;
    return (long)s->doc->n - 1;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;

    for (int k = 0; k < 4; k++) {
        unsigned char c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* The rest of a string from p, which had an escape: decoded into scratch. */
static int string_escaped(scan_t *s, jread_tok_t *t, const unsigned char *start,
                          const unsigned char *p)
{
    jread_doc_t *d = s->doc;
    char *out = d->scratch + d->scratch_used;
    size_t room = JREAD_SCRATCH - d->scratch_used, o = (size_t)(p - start);
    uint32_t cp;

    if (o > room)
        return -1;
    memcpy(out, start, o);
    while (p < s->e && *p != '"') {
        unsigned char c = *p, b[4];
        size_t n = 1;
        if (c == '\\') {
            if (s->e - p < 2)
                return -1;
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
                b[0] = p[1];
                break;
            case 'b':
                b[0] = '\b';
                break;
            case 'f':
                b[0] = '\f';
                break;
            case 'n':
                b[0] = '\n';
                break;
            case 'r':
                b[0] = '\r';
                break;
            case 't':
                b[0] = '\t';
                break;
            case 'u':
                /* \u0000 and surrogates: jansson's rules, left to jansson */
                if (s->e - p < 6 || hex4(p + 2, &cp) == -1 || cp == 0 ||
                    (cp >= 0xD800 && cp <= 0xDFFF))
                    return -1;
                if (cp < 0x80) {
                    b[0] = (unsigned char)cp;
                } else if (cp < 0x800) {
                    b[0] = (unsigned char)(0xC0 | (cp >> 6));
                    b[1] = (unsigned char)(0x80 | (cp & 0x3F));
                    n = 2;
                } else {
                    b[0] = (unsigned char)(0xE0 | (cp >> 12));
                    b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    b[2] = (unsigned char)(0x80 | (cp & 0x3F));
                    n = 3;
                }
                p += 4;
                break;
            default:
                return -1;
            }
            p += 2;
            if (o + n > room)
                return -1;
            memcpy(out + o, b, n);
            o += n;
            continue;
        }
        if (c < 0x20)
            return -1;
        if (c >= 0x80 && (n = utf8_next(p, (size_t)(s->e - p), &cp)) == 0)
            return -1;
        if (o + n > room)
            return -1;
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    if (p == s->e)
        return -1;
    t->u.s = out;
    t->len = (uint32_t)o;
    d->scratch_used += o;
    s->p = p + 1;
    return 0;
}

/* A string at s->p (on its '"'). */
static int string(scan_t *s)
{
    const unsigned char *start = s->p + 1, *p = start;
    long k = new_tok(s, JREAD_STRING);
    jread_tok_t *t;
    uint32_t cp;

    if (k == -1)
        return -1;
    t = &s->doc->tok[k];
    while (p < s->e) {
        unsigned char c = *p;
        size_t n;
        if (c == '"') {
            t->u.s = (const char *)start;
            t->len = (uint32_t)(p - start);
            s->p = p + 1;
            return 0;
        }
        if (c == '\\')
            return string_escaped(s, t, start, p);
        if (c < 0x20)
            return -1;
        if (c < 0x80) {
            p++;
            continue;
        }
        if ((n = utf8_next(p, (size_t)(s->e - p), &cp)) == 0)
            return -1;
        p += n;
    }
    return -1;
}

/* A number: integers within int64 only (reals are left to jansson). */
static int number(scan_t *s)
{
    const unsigned char *p = s->p;
    int neg = 0;
    uint64_t v = 0, lim;
    long k;

    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p == s->e || *p < '0' || *p > '9')
        return -1;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (*p == '0') {
        p++;
    } else {
        while (p < s->e && *p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p - '0');
            if (v > (lim - d) / 10)
                return -1;
            v = v * 10 + d;
            p++;
        }
    }
    if (p < s->e && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
        return -1;
    if ((k = new_tok(s, JREAD_INTEGER)) == -1)
        return -1;
    s->doc->tok[k].u.i = neg ? (int64_t)(0 - v) : (int64_t)v;
    s->p = p;
    return 0;
}

static int literal(scan_t *s, const char *word, size_t n, jread_kind_t kind)
{
    if ((size_t)(s->e - s->p) < n || memcmp(s->p, word, n) != 0 || new_tok(s, kind) == -1)
        return -1;
    s->p += n;
    return 0;
}

/* 1 when the key just scanned at k repeats an earlier key of object obj. */
static int repeats(const jread_doc_t *d, size_t obj, size_t k)
{
    for (size_t i = obj + 1; i < k; i = d->tok[i + 1].end)
        if (d->tok[i].len == d->tok[k].len &&
            memcmp(d->tok[i].u.s, d->tok[k].u.s, d->tok[k].len) == 0)
            return 1;
    return 0;
}

/* An object or array at s->p (on its '{' or '['). */
static int container(scan_t *s, int depth)
{
    int obj = *s->p == '{';
    unsigned char close = obj ? '}' : ']';
    long me = new_tok(s, obj ? JREAD_OBJECT : JREAD_ARRAY);

    if (me == -1 || depth >= JREAD_DEPTH)
        return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->e && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (obj) {
            size_t k = s->doc->n;
            if (s->p == s->e || *s->p != '"' || string(s) == -1)
                return -1;
            if ((s->flags & JREAD_REJECT_DUPLICATES) && repeats(s->doc, (size_t)me, k))
                return -1;
            skip_ws(s);
            if (s->p == s->e || *s->p != ':')
                return -1;
            s->p++;
            skip_ws(s);
        }
        if (value(s, depth + 1) == -1)
            return -1;
        skip_ws(s);
        if (s->p == s->e)
            return -1;
        if (*s->p == close)
            break;
        if (*s->p != ',')
            return -1;
        s->p++;
        skip_ws(s);
    }
    s->p++;
    s->doc->tok[me].end = (uint32_t)s->doc->n;
    return 0;
}

static int value(scan_t *s, int depth)
{
    if (s->p == s->e)
        return -1;
    switch (*s->p) {
    case '{':
    case '[':
        return container(s, depth);
    case '"':
        return string(s);
    case 't':
        return literal(s, "true", 4, JREAD_TRUE);
    case 'f':
        return literal(s, "false", 5, JREAD_FALSE);
    case 'n':
        return literal(s, "null", 4, JREAD_NULL);
    default:
        return number(s);
    }
}

int jread_scan(jread_doc_t *doc, const char *buf, size_t len, int flags)
{
    scan_t s = {(const unsigned char *)buf, (const unsigned char *)buf + len, doc, flags};

    doc->n = 0;
    doc->scratch_used = 0;
    skip_ws(&s);
    if (s.p == s.e || *s.p != '{' || container(&s, 0) == -1)
        return -1;
    skip_ws(&s);
    return s.p == s.e ? 0 : -1;
}

static jread_val_t from_tok(const jread_doc_t *doc, size_t k)
{
    const jread_tok_t *t = &doc->tok[k];
    jread_val_t v;

    memset(&v, 0, sizeof(v));
    v.kind = (jread_kind_t)t->kind;
    if (v.kind == JREAD_STRING) {
        v.s = t->u.s;
        v.len = t->len;
    } else if (v.kind == JREAD_INTEGER) {
        v.i = t->u.i;
    }
    v.doc = doc;
    v.tok = k;
    return v;
}

jread_val_t jread_root(const jread_doc_t *doc)
{
    return from_tok(doc, 0);
}

jread_val_t jread_wrap(const json_t *j)
{
    jread_val_t v;

    memset(&v, 0, sizeof(v));
    v.j = j;
    switch (j ? json_typeof(j) : JSON_NULL) {
    case JSON_OBJECT:
        v.kind = JREAD_OBJECT;
        break;
    case JSON_ARRAY:
        v.kind = JREAD_ARRAY;
        break;
    case JSON_STRING:
        v.kind = JREAD_STRING;
        v.s = json_string_value(j);
        v.len = json_string_length(j);
        break;
    case JSON_INTEGER:
        v.kind = JREAD_INTEGER;
        v.i = (int64_t)json_integer_value(j);
        break;
    case JSON_REAL:
        v.kind = JREAD_REAL;
        v.r = json_real_value(j);
        break;
    case JSON_TRUE:
        v.kind = JREAD_TRUE;
        break;
    case JSON_FALSE:
        v.kind = JREAD_FALSE;
        break;
    case JSON_NULL:
    default:
        v.kind = j ? JREAD_NULL : JREAD_ABSENT;
        break;
    }
    return v;
}

jread_val_t jread_get(const jread_val_t *obj, const char *key)
{
    jread_val_t none;

    if (obj->kind == JREAD_OBJECT && obj->j)
        return jread_wrap(json_object_get(obj->j, key));
    if (obj->kind == JREAD_OBJECT && obj->doc) {
        const jread_doc_t *d = obj->doc;
        size_t klen = strlen(key), found = 0;
        /* every key: without JREAD_REJECT_DUPLICATES the last one wins, as in jansson */
        for (size_t i = obj->tok + 1; i < d->tok[obj->tok].end; i = d->tok[i + 1].end)
            if (d->tok[i].len == klen && memcmp(d->tok[i].u.s, key, klen) == 0)
                found = i + 1;
        if (found)
            return from_tok(d, found);
    }
    memset(&none, 0, sizeof(none));
    return none;
}

const char *jread_kind_name(jread_kind_t kind)
{
    switch (kind) {
    case JREAD_OBJECT:
        return "an object";
    case JREAD_ARRAY:
        return "an array";
    case JREAD_STRING:
        return "a string";
    case JREAD_INTEGER:
    case JREAD_REAL:
        return "a number";
    case JREAD_TRUE:
    case JREAD_FALSE:
        return "a boolean";
    case JREAD_NULL:
    case JREAD_ABSENT:
    default:
        return "null";
    }
}
