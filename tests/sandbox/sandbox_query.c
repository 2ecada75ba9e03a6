/* sandbox_query.c - strict query-string parsing (see sandbox_query.h). */
#include "sandbox_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest parameter name quoted back in an error message. */
#define QUERY_NAME_QUOTE_MAX 64

typedef struct query_pair {
    char *name;
    char *value;
} query_pair_t;

struct sandbox_query {
    query_pair_t *pairs;
    size_t n;
    size_t cap;
};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes len bytes of s into a new NUL-terminated string. Returns NULL with
 * *bad = 1 on a malformed escape or %00, NULL with *bad = 0 when out of
 * memory. */
static char *pct_decode(const char *s, size_t len, int *bad)
{
    char *out = malloc(len + 1);
    size_t i, o = 0;
    int hi, lo;

    *bad = 0;
    if (out == NULL)
        return NULL;
    for (i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (len - i < 3) { /* fewer than two characters follow the '%' */
            *bad = 1;
            free(out);
            return NULL;
        }
        hi = hex_digit(s[i + 1]);
        lo = hex_digit(s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            *bad = 1;
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* Writes name into errstr after prefix, shortened to QUERY_NAME_QUOTE_MAX. */
static void quote_name(char *errstr, size_t errstr_size, const char *prefix, const char *name,
                       size_t name_len)
{
    int n = name_len > QUERY_NAME_QUOTE_MAX ? QUERY_NAME_QUOTE_MAX : (int)name_len;

    snprintf(errstr, errstr_size, "%s%.*s%s", prefix, n, name,
             name_len > QUERY_NAME_QUOTE_MAX ? "..." : "");
}

static int query_add(sandbox_query_t *q, char *name, char *value)
{
    query_pair_t *p;
    size_t cap;

    if (q->n == q->cap) {
        cap = q->cap ? q->cap * 2 : 16;
        p = realloc(q->pairs, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        q->pairs = p;
        q->cap = cap;
    }
    q->pairs[q->n].name = name;
    q->pairs[q->n].value = value;
    q->n++;
    return 0;
}

int sandbox_query_parse(const char *query, sandbox_query_t **out, char *errstr, size_t errstr_size)
{
    sandbox_query_t *q = calloc(1, sizeof(*q));
    const char *seg, *end, *eq;
    char *name = NULL, *value = NULL;
    size_t seg_len, name_len;
    int bad, rc = -2;

    if (q == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -2;
    }
    seg = query != NULL ? query : "";
    while (*seg != '\0') {
        end = strchr(seg, '&');
        seg_len = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if (seg_len == 0) {
            seg = end + 1;
            continue;
        }
        eq = memchr(seg, '=', seg_len);
        name_len = eq != NULL ? (size_t)(eq - seg) : seg_len;
        name = pct_decode(seg, name_len, &bad);
        if (name == NULL) {
            if (bad) {
                quote_name(errstr, errstr_size, "invalid percent-encoding in parameter name ", seg,
                           name_len);
                rc = -1;
            }
            goto out;
        }
        if (eq != NULL)
            value = pct_decode(eq + 1, seg_len - name_len - 1, &bad);
        else
            value = pct_decode("", 0, &bad);
        if (value == NULL) {
            if (bad) {
                quote_name(errstr, errstr_size, "invalid percent-encoding in parameter ", name,
                           strlen(name));
                rc = -1;
            }
            goto out;
        }
        if (sandbox_query_get(q, name) != NULL) {
            quote_name(errstr, errstr_size, "duplicated parameter ", name, strlen(name));
            rc = -1;
            goto out;
        }
        if (query_add(q, name, value) != 0)
            goto out;
        name = NULL;
        value = NULL;
        if (end == NULL)
            break;
        seg = end + 1;
    }
    *out = q;
    q = NULL;
    rc = 0;
out:
    if (rc == -2)
        snprintf(errstr, errstr_size, "out of memory");
    free(name);
    free(value);
    sandbox_query_destroy(q);
    return rc;
}

const char *sandbox_query_get(const sandbox_query_t *q, const char *name)
{
    size_t i;

    for (i = 0; i < q->n; i++) {
        if (strcmp(q->pairs[i].name, name) == 0)
            return q->pairs[i].value;
    }
    return NULL;
}

size_t sandbox_query_count(const sandbox_query_t *q)
{
    return q->n;
}

void sandbox_query_destroy(sandbox_query_t *q)
{
    size_t i;

    if (q == NULL)
        return;
    for (i = 0; i < q->n; i++) {
        free(q->pairs[i].name);
        free(q->pairs[i].value);
    }
    free(q->pairs);
    free(q);
}
