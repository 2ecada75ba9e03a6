/* metrics.h - a small Prometheus registry (text exposition format 0.0.4).
 *
 * Families are registered once (name without the zim_unfriend_ prefix,
 * which rendering adds); series are addressed by a label string such as
 * "outcome=\"success\"" (NULL or "" = no labels) and created on first use.
 * Single-threaded: the event loop owns it (the HTTP endpoint runs on the
 * same loop). Ownership: the registry owns families and series; handles
 * stay valid until metrics_destroy(). */
#ifndef ZU_METRICS_H
#define ZU_METRICS_H

#include <stddef.h>

typedef struct metrics metrics_t;
typedef struct metric_family metric_family_t;

metrics_t *metrics_new(void);
void metrics_destroy(metrics_t *m);

/* Registers a counter / gauge family. NULL on allocation failure or a
 * duplicate name (or a name that is not [a-zA-Z_:][a-zA-Z0-9_:]*). help may
 * be NULL; it is escaped on output. A family without series renders only
 * its HELP and TYPE lines. */
metric_family_t *metrics_counter(metrics_t *m, const char *name, const char *help);
metric_family_t *metrics_gauge(metrics_t *m, const char *name, const char *help);
/* The family registered under name (without the prefix), NULL when none:
 * for a module that adds series to a family another module registered
 * (the loop adds the registry's causes to the scheduler's pause{cause}). */
metric_family_t *metrics_find(metrics_t *m, const char *name);
/* A counter (counter != 0) or gauge under its full name, without the
 * zim_unfriend_ prefix: the standard process_* metrics. */
metric_family_t *metrics_standard(metrics_t *m, const char *name, const char *help, int counter);
/* A histogram with nbounds finite, increasing upper bounds (+Inf is added).
 * NULL as above, or when the bounds are not so. */
metric_family_t *metrics_histogram(metrics_t *m, const char *name, const char *help,
                                   const double *bounds, size_t nbounds);

/* Adds v (>= 0 for counters) to / sets the series with these labels. A
 * negative add to a counter, a NaN add, and f == NULL are ignored; if the
 * series cannot be allocated the update is dropped. labels are copied
 * verbatim into the output (label values must already be escaped). */
void metric_add(metric_family_t *f, const char *labels, double v);
void metric_set(metric_family_t *f, const char *labels, double v);
/* Counts v into a histogram's series (NaN ignored). add/set on a histogram
 * and observe on anything else do nothing. */
void metric_observe(metric_family_t *f, const char *labels, double v);
/* Removes every series of the family (a gauge whose label sets come and go,
 * such as per-partition lag, is cleared and set again before rendering). */
void metric_clear(metric_family_t *f);
/* Current value (0 when the series does not exist; a histogram's sum). */
double metric_get(const metric_family_t *f, const char *labels);

/* Renders every family, in registration order. malloc'ed (caller frees),
 * NULL on allocation failure. */
char *metrics_render(const metrics_t *m, size_t *len);

#endif
