/* metrics.c - a small Prometheus registry rendered in text format 0.0.4. */
#include "common/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_PREFIX "zim_unfriend_"

typedef enum { FAMILY_COUNTER, FAMILY_GAUGE, FAMILY_HISTOGRAM } family_type_t;

typedef struct series {
    char *labels;     /* "" when none */
    double value;     /* counter, gauge; a histogram's sum */
    uint64_t *counts; /* histogram: per bucket (not cumulative), nbounds + 1 */
    uint64_t count;   /* histogram: observations */
    struct series *next;
} series_t;

struct metric_family {
    char *name; /* as given */
    char *help;
    const char *prefix; /* METRICS_PREFIX, or "" for a standard name */
    family_type_t type;
    double *bounds; /* histogram: upper bounds, increasing */
    size_t nbounds;
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
        free(s->counts);
        free(s);
    }
    f->first = f->last = NULL;
}

static void family_free(metric_family_t *f)
{
    metric_clear(f);
    free(f->name);
    free(f->help);
    free(f->bounds);
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
                                   family_type_t type, int standard)
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
    f->prefix = standard ? "" : METRICS_PREFIX;
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

metric_family_t *metrics_find(metrics_t *m, const char *name)
{
    for (metric_family_t *f = m ? m->first : NULL; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

metric_family_t *metrics_counter(metrics_t *m, const char *name, const char *help)
{
    return family_new(m, name, help, FAMILY_COUNTER, 0);
}

metric_family_t *metrics_gauge(metrics_t *m, const char *name, const char *help)
{
    return family_new(m, name, help, FAMILY_GAUGE, 0);
}

metric_family_t *metrics_standard(metrics_t *m, const char *name, const char *help, int counter)
{
    return family_new(m, name, help, counter ? FAMILY_COUNTER : FAMILY_GAUGE, 1);
}

metric_family_t *metrics_histogram(metrics_t *m, const char *name, const char *help,
                                   const double *bounds, size_t nbounds)
{
    metric_family_t *f;
    double *copy;

    if (!bounds || nbounds == 0)
        return NULL;
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return NULL;
    copy = malloc(nbounds * sizeof(*copy));
    if (!copy)
        return NULL;
    memcpy(copy, bounds, nbounds * sizeof(*copy));
    f = family_new(m, name, help, FAMILY_HISTOGRAM, 0);
    if (!f) {
        free(copy);
        return NULL;
    }
    f->bounds = copy;
    f->nbounds = nbounds;
    return f;
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
    if (f->type == FAMILY_HISTOGRAM)
        s->counts = calloc(f->nbounds + 1, sizeof(*s->counts));
    if (!s->labels || (f->type == FAMILY_HISTOGRAM && !s->counts)) {
        free(s->labels);
        free(s->counts);
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

    if (!f || isnan(v) || (f->type == FAMILY_COUNTER && v < 0) || f->type == FAMILY_HISTOGRAM)
        return;
    s = series_get(f, labels ? labels : "");
    if (s)
        s->value += v;
}

void metric_set(metric_family_t *f, const char *labels, double v)
{
    series_t *s;

    if (!f || f->type == FAMILY_HISTOGRAM)
        return;
    s = series_get(f, labels ? labels : "");
    if (s)
        s->value = v;
}

void metric_observe(metric_family_t *f, const char *labels, double v)
{
    series_t *s;
    size_t i;

    if (!f || f->type != FAMILY_HISTOGRAM || f->nbounds == 0 || isnan(v))
        return;
    s = series_get(f, labels ? labels : "");
    if (!s)
        return;
    for (i = 0; i < f->nbounds && v > f->bounds[i]; i++)
        ;
    s->counts[i]++;
    s->count++;
    s->value += v;
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

/* One sample line: prefix name suffix{labels[,extra]} value. */
static void put_sample(buf_t *b, const metric_family_t *f, const char *suffix, const char *labels,
                       const char *extra, double v)
{
    char num[64];

    buf_str(b, f->prefix);
    buf_str(b, f->name);
    buf_str(b, suffix);
    if (*labels || extra) {
        buf_str(b, "{");
        buf_str(b, labels);
        if (extra) {
            if (*labels)
                buf_str(b, ",");
            buf_str(b, extra);
        }
        buf_str(b, "}");
    }
    format_value(v, num, sizeof(num));
    buf_str(b, " ");
    buf_str(b, num);
    buf_str(b, "\n");
}

/* A histogram series: cumulative buckets, +Inf, _sum and _count. */
static void put_histogram(buf_t *b, const metric_family_t *f, const series_t *s)
{
    char le[80], num[64];
    uint64_t cum = 0;

    for (size_t i = 0; i < f->nbounds; i++) {
        cum += s->counts[i];
        format_value(f->bounds[i], num, sizeof(num));
        snprintf(le, sizeof(le), "le=\"%s\"", num);
        put_sample(b, f, "_bucket", s->labels, le, (double)cum);
    }
    put_sample(b, f, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
    put_sample(b, f, "_sum", s->labels, NULL, s->value);
    put_sample(b, f, "_count", s->labels, NULL, (double)s->count);
}

static const char *const type_names[] = {" counter\n", " gauge\n", " histogram\n"};

char *metrics_render(const metrics_t *m, size_t *len)
{
    buf_t b = {NULL, 0, 0, 0};
    const metric_family_t *f;
    const series_t *s;

    buf_put(&b, "", 0); /* an empty registry renders as "" */
    for (f = m->first; f; f = f->next) {
        buf_str(&b, "# HELP ");
        buf_str(&b, f->prefix);
        buf_str(&b, f->name);
        buf_str(&b, " ");
        buf_help(&b, f->help);
        buf_str(&b, "\n# TYPE ");
        buf_str(&b, f->prefix);
        buf_str(&b, f->name);
        buf_str(&b, type_names[f->type]);
        for (s = f->first; s; s = s->next) {
            if (f->type == FAMILY_HISTOGRAM)
                put_histogram(&b, f, s);
            else
                put_sample(&b, f, "", s->labels, NULL, s->value);
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
