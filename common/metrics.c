/* metrics.c - a small Prometheus registry rendered in text format 0.0.4. */
#include "common/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_PREFIX "zim_unfriend_"

typedef enum { FAMILY_COUNTER, FAMILY_GAUGE } family_type_t;

typedef struct series {
    char *labels; /* "" when none */
    double value;
    struct series *next;
} series_t;

struct metric_family {
    char *name; /* without the prefix */
    char *help;
    family_type_t type;
    series_t *first, *last; /* creation order */
    struct metric_family *next;
};

struct metrics {
    metric_family_t *first, *last; /* registration order */
};

metrics_t *metrics_new(void)
{
    return calloc(1, sizeof(metrics_t));
}

void metric_clear(metric_family_t *f)
{
    series_t *s, *next;

    if (!f)
        return;
    for (s = f->first; s; s = next) {
        next = s->next;
        free(s->labels);
        free(s);
    }
    f->first = f->last = NULL;
}

static void family_free(metric_family_t *f)
{
    metric_clear(f);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_destroy(metrics_t *m)
{
    metric_family_t *f, *next;

    if (!m)
        return;
    for (f = m->first; f; f = next) {
        next = f->next;
        family_free(f);
    }
    free(m);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d)
        memcpy(d, s, n);
    return d;
}

/* Prometheus metric name characters: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static int name_valid(const char *name)
{
    const char *p;

    if (!name || !*name)
        return 0;
    for (p = name; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != name && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static metric_family_t *family_new(metrics_t *m, const char *name, const char *help,
                                   family_type_t type)
{
    metric_family_t *f;

    if (!m || !name_valid(name))
        return NULL;
    for (f = m->first; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return NULL; /* duplicate */
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->type = type;
    f->name = dup_str(name);
    f->help = dup_str(help ? help : "");
    if (!f->name || !f->help) {
        family_free(f);
        return NULL;
    }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
}

metric_family_t *metrics_counter(metrics_t *m, const char *name, const char *help)
{
    return family_new(m, name, help, FAMILY_COUNTER);
}

metric_family_t *metrics_gauge(metrics_t *m, const char *name, const char *help)
{
    return family_new(m, name, help, FAMILY_GAUGE);
}

static series_t *series_find(const metric_family_t *f, const char *labels)
{
    series_t *s;

    for (s = f->first; s; s = s->next)
        if (strcmp(s->labels, labels) == 0)
            return s;
    return NULL;
}

/* Finds or creates the series; NULL on allocation failure. */
static series_t *series_get(metric_family_t *f, const char *labels)
{
    series_t *s = series_find(f, labels);

    if (s)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->labels = dup_str(labels);
    if (!s->labels) {
        free(s);
        return NULL;
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    return s;
}

void metric_add(metric_family_t *f, const char *labels, double v)
{
    series_t *s;

    if (!f || isnan(v) || (f->type == FAMILY_COUNTER && v < 0))
        return;
    s = series_get(f, labels ? labels : "");
    if (s)
        s->value += v;
}

void metric_set(metric_family_t *f, const char *labels, double v)
{
    series_t *s;

    if (!f)
        return;
    s = series_get(f, labels ? labels : "");
    if (s)
        s->value = v;
}

double metric_get(const metric_family_t *f, const char *labels)
{
    const series_t *s;

    if (!f)
        return 0;
    s = series_find(f, labels ? labels : "");
    return s ? s->value : 0;
}

/* A growable output buffer; on allocation failure `failed` sticks. */
typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf_t;

static void buf_put(buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* HELP text escaping (format 0.0.4): backslash and line feed. */
static void buf_help(buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_put(b, "\\\\", 2);
        else if (*s == '\n')
            buf_put(b, "\\n", 2);
        else
            buf_put(b, s, 1);
    }
}

/* Formats a sample value: integers (exactly representable, |v| < 2^53)
 * without exponent or fraction, other values in the shortest form that reads
 * back exactly, and NaN / +Inf / -Inf as the format spells them. */
static void format_value(double v, char *out, size_t size)
{
    int prec;

    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        snprintf(out, size, "0"); /* also -0 */
        return;
    }
    if (v == trunc(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, size, "%.0f", v);
        return;
    }
    for (prec = 15; prec < 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
    snprintf(out, size, "%.17g", v);
}

char *metrics_render(const metrics_t *m, size_t *len)
{
    buf_t b = {NULL, 0, 0, 0};
    const metric_family_t *f;
    const series_t *s;
    char num[64];

    buf_put(&b, "", 0); /* an empty registry renders as "" */
    for (f = m->first; f; f = f->next) {
        buf_str(&b, "# HELP " METRICS_PREFIX);
        buf_str(&b, f->name);
        buf_str(&b, " ");
        buf_help(&b, f->help);
        buf_str(&b, "\n# TYPE " METRICS_PREFIX);
        buf_str(&b, f->name);
        buf_str(&b, f->type == FAMILY_COUNTER ? " counter\n" : " gauge\n");
        for (s = f->first; s; s = s->next) {
            buf_str(&b, METRICS_PREFIX);
            buf_str(&b, f->name);
            if (*s->labels) {
                buf_str(&b, "{");
                buf_str(&b, s->labels);
                buf_str(&b, "}");
            }
            format_value(s->value, num, sizeof(num));
            buf_str(&b, " ");
            buf_str(&b, num);
            buf_str(&b, "\n");
        }
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}
