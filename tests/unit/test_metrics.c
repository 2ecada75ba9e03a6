/* test_metrics.c - the Prometheus registry and its text rendering. */
#include "common/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "common/procmetrics.h"

#include "tests/unit/tt.h"

static void test_render_exact(void)
{
    metrics_t *m = metrics_new();
    metric_family_t *ev = metrics_counter(m, "events_total", "Events by outcome.");
    metric_family_t *fl = metrics_gauge(m, "in_flight", "API calls in flight.");
    metric_family_t *sh = metrics_gauge(m, "qps_share", "This replica's share of the budget.");
    char *out;
    size_t len = 0;

    TT_CHECK(ev && fl && sh);
    metric_add(ev, "outcome=\"success\"", 3);
    metric_add(ev, "outcome=\"failure\"", 1);
    metric_add(ev, "outcome=\"success\"", 2);
    metric_set(fl, NULL, 7);
    metric_set(sh, "", 0.25);
    out = metrics_render(m, &len);
    TT_EQ_STR(out, "# HELP zim_unfriend_events_total Events by outcome.\n"
                   "# TYPE zim_unfriend_events_total counter\n"
                   "zim_unfriend_events_total{outcome=\"success\"} 5\n"
                   "zim_unfriend_events_total{outcome=\"failure\"} 1\n"
                   "# HELP zim_unfriend_in_flight API calls in flight.\n"
                   "# TYPE zim_unfriend_in_flight gauge\n"
                   "zim_unfriend_in_flight 7\n"
                   "# HELP zim_unfriend_qps_share This replica's share of the budget.\n"
                   "# TYPE zim_unfriend_qps_share gauge\n"
                   "zim_unfriend_qps_share 0.25\n");
    TT_EQ_INT(len, out ? strlen(out) : 0);
    free(out);
    metrics_destroy(m);
}

static void test_render_empty_and_help(void)
{
    metrics_t *m = metrics_new();
    char *out;
    size_t len = 99;

    out = metrics_render(m, &len);
    TT_EQ_STR(out, "");
    TT_EQ_INT(len, 0);
    free(out);

    TT_CHECK(metrics_gauge(m, "paused", "1 while paused\\systemic\nsee logs") != NULL);
    TT_CHECK(metrics_counter(m, "nohelp_total", NULL) != NULL);
    out = metrics_render(m, NULL);
    TT_EQ_STR(out, "# HELP zim_unfriend_paused 1 while paused\\\\systemic\\nsee logs\n"
                   "# TYPE zim_unfriend_paused gauge\n"
                   "# HELP zim_unfriend_nohelp_total \n"
                   "# TYPE zim_unfriend_nohelp_total counter\n");
    free(out);
    metrics_destroy(m);
}

static void check_value(double v, const char *want)
{
    metrics_t *m = metrics_new();
    metric_family_t *g = metrics_gauge(m, "g", "h");
    char expect[128];
    char *out;

    metric_set(g, NULL, v);
    out = metrics_render(m, NULL);
    snprintf(expect, sizeof(expect),
             "# HELP zim_unfriend_g h\n# TYPE zim_unfriend_g gauge\nzim_unfriend_g %s\n", want);
    TT_EQ_STR(out, expect);
    free(out);
    metrics_destroy(m);
}

static void test_values(void)
{
    check_value(3, "3");
    check_value(0.25, "0.25");
    check_value(0.1, "0.1");
    check_value(-2, "-2");
    check_value(-0.0, "0");
    check_value(1e15, "1000000000000000");
    check_value(9007199254740991.0, "9007199254740991");
    check_value(1e20, "1e+20");
    check_value(1.0 / 3.0, "0.3333333333333333");
    check_value(0.1 + 0.2, "0.30000000000000004");
    check_value(19.6, "19.6");
    check_value(NAN, "NaN");
    check_value(INFINITY, "+Inf");
    check_value(-INFINITY, "-Inf");
}

static void test_get_add_set(void)
{
    metrics_t *m = metrics_new();
    metric_family_t *c = metrics_counter(m, "calls_total", "API calls by code.");
    metric_family_t *g = metrics_gauge(m, "lag", "Consumer lag.");

    TT_CHECK(metric_get(c, "code=\"0\"") == 0);
    metric_add(c, "code=\"0\"", 1);
    metric_add(c, "code=\"0\"", 1.5);
    TT_CHECK(metric_get(c, "code=\"0\"") == 2.5);
    /* Counters never go down; NaN never lands. */
    metric_add(c, "code=\"0\"", -1);
    metric_add(c, "code=\"0\"", NAN);
    TT_CHECK(metric_get(c, "code=\"0\"") == 2.5);
    TT_CHECK(metric_get(c, "code=\"1\"") == 0);
    /* Gauges go both ways; NULL and "" are the same unlabelled series. */
    metric_set(g, NULL, 10);
    metric_add(g, "", -4);
    TT_CHECK(metric_get(g, NULL) == 6);
    TT_CHECK(metric_get(g, "") == 6);
    metric_set(g, "partition=\"3\"", 42);
    TT_CHECK(metric_get(g, "partition=\"3\"") == 42);
    TT_CHECK(metric_get(g, NULL) == 6);
    /* NULL families (a failed registration) are harmless. */
    metric_add(NULL, NULL, 1);
    metric_set(NULL, NULL, 1);
    TT_CHECK(metric_get(NULL, NULL) == 0);
    metrics_destroy(m);
    metrics_destroy(NULL);
}

static void test_registration_refused(void)
{
    metrics_t *m = metrics_new();

    TT_CHECK(metrics_counter(m, "retries_total", "Retries.") != NULL);
    TT_CHECK(metrics_counter(m, "retries_total", "Again.") == NULL);
    TT_CHECK(metrics_gauge(m, "retries_total", "As a gauge.") == NULL);
    TT_CHECK(metrics_gauge(m, "", "Empty.") == NULL);
    TT_CHECK(metrics_gauge(m, NULL, "Null.") == NULL);
    TT_CHECK(metrics_gauge(m, "9lives", "Digit first.") == NULL);
    TT_CHECK(metrics_gauge(m, "a-b", "Dash.") == NULL);
    TT_CHECK(metrics_gauge(m, "a b", "Space.") == NULL);
    TT_CHECK(metrics_gauge(NULL, "x", "No registry.") == NULL);
    TT_CHECK(metrics_gauge(m, "ok_9:x", "Fine.") != NULL);
    metrics_destroy(m);
}

/* A cleared family drops its series (revoked partitions leave the lag). */
static void test_clear(void)
{
    metrics_t *m = metrics_new();
    metric_family_t *lag = metrics_gauge(m, "consumer_lag", "Lag.");
    char *out;
    size_t len = 0;

    metric_set(lag, "partition=\"0\"", 4);
    metric_set(lag, "partition=\"1\"", 2);
    metric_clear(lag);
    metric_set(lag, "partition=\"1\"", 9);
    TT_EQ_INT(metric_get(lag, "partition=\"0\""), 0);
    out = metrics_render(m, &len);
    TT_EQ_STR(out, "# HELP zim_unfriend_consumer_lag Lag.\n"
                   "# TYPE zim_unfriend_consumer_lag gauge\n"
                   "zim_unfriend_consumer_lag{partition=\"1\"} 9\n");
    free(out);
    metric_clear(NULL);
    metrics_destroy(m);
}

/* Buckets are cumulative, +Inf equals _count, a value on a bound counts in
 * that bucket; labels and le are joined; add/set leave a histogram alone. */
static void test_histogram(void)
{
    static const double b[] = {0.1, 0.5, 2};
    static const double bad[] = {0.5, 0.5};
    metrics_t *m = metrics_new();
    metric_family_t *h = metrics_histogram(m, "call_seconds", "Call time.", b, 3);
    metric_family_t *g = metrics_gauge(m, "g", "");
    char *out;

    TT_CHECK(h != NULL);
    TT_CHECK(metrics_histogram(m, "x_seconds", "", bad, 2) == NULL);
    TT_CHECK(metrics_histogram(m, "y_seconds", "", b, 0) == NULL);
    TT_CHECK(metrics_histogram(m, "call_seconds", "", b, 3) == NULL); /* duplicate */
    metric_observe(h, "outcome=\"success\"", 0.05);
    metric_observe(h, "outcome=\"success\"", 0.5);
    metric_observe(h, "outcome=\"success\"", 3);
    metric_observe(h, "outcome=\"success\"", NAN); /* ignored */
    metric_observe(h, NULL, 1);
    metric_add(h, NULL, 5);     /* ignored */
    metric_set(h, NULL, 5);     /* ignored */
    metric_observe(g, NULL, 1); /* not a histogram: ignored */
    out = metrics_render(m, NULL);
    TT_EQ_STR(out, "# HELP zim_unfriend_call_seconds Call time.\n"
                   "# TYPE zim_unfriend_call_seconds histogram\n"
                   "zim_unfriend_call_seconds_bucket{outcome=\"success\",le=\"0.1\"} 1\n"
                   "zim_unfriend_call_seconds_bucket{outcome=\"success\",le=\"0.5\"} 2\n"
                   "zim_unfriend_call_seconds_bucket{outcome=\"success\",le=\"2\"} 2\n"
                   "zim_unfriend_call_seconds_bucket{outcome=\"success\",le=\"+Inf\"} 3\n"
                   "zim_unfriend_call_seconds_sum{outcome=\"success\"} 3.55\n"
                   "zim_unfriend_call_seconds_count{outcome=\"success\"} 3\n"
                   "zim_unfriend_call_seconds_bucket{le=\"0.1\"} 0\n"
                   "zim_unfriend_call_seconds_bucket{le=\"0.5\"} 0\n"
                   "zim_unfriend_call_seconds_bucket{le=\"2\"} 1\n"
                   "zim_unfriend_call_seconds_bucket{le=\"+Inf\"} 1\n"
                   "zim_unfriend_call_seconds_sum 1\n"
                   "zim_unfriend_call_seconds_count 1\n"
                   "# HELP zim_unfriend_g \n"
                   "# TYPE zim_unfriend_g gauge\n");
    free(out);
    TT_CHECK(fabs(metric_get(h, "outcome=\"success\"") - 3.55) < 1e-9);
    metrics_destroy(m);
}

/* Standard families carry no prefix; the process metrics read /proc/self. */
static void test_process_metrics(void)
{
    metrics_t *m = metrics_new();
    procmetrics_t *p = procmetrics_new(m);
    metric_family_t *dup = metrics_standard(m, "process_open_fds", "", 0);
    char *out;
    double now = (double)time(NULL);

    TT_CHECK(p != NULL);
    TT_CHECK(dup == NULL); /* registered by procmetrics_new */
    TT_CHECK(procmetrics_new(m) == NULL);
    procmetrics_update(p);
    out = metrics_render(m, NULL);
    TT_CHECK(out && strstr(out, "# TYPE process_cpu_seconds_total counter\n") != NULL);
    TT_CHECK(out && strstr(out, "\nprocess_resident_memory_bytes ") != NULL);
    TT_CHECK(out && strstr(out, "zim_unfriend_process") == NULL);
    free(out);
    /* The values are the process's own, within reason. */
    double rss = 0, vsz = 0, fds = 0, maxfds = 0, start = 0;
    out = metrics_render(m, NULL);
    for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        sscanf(line, "process_resident_memory_bytes %lf", &rss);
        sscanf(line, "process_virtual_memory_bytes %lf", &vsz);
        sscanf(line, "process_open_fds %lf", &fds);
        sscanf(line, "process_max_fds %lf", &maxfds);
        sscanf(line, "process_start_time_seconds %lf", &start);
    }
    free(out);
    TT_CHECK(rss > 100 * 1024 && vsz >= rss);
    TT_CHECK(fds >= 3 && (maxfds < 0 || maxfds >= fds));
    TT_CHECK(start > now - 3600 && start <= now + 1);
    procmetrics_destroy(p);
    procmetrics_destroy(NULL);
    procmetrics_update(NULL);
    metrics_destroy(m);
}

int main(void)
{
    TT_RUN(test_render_exact);
    TT_RUN(test_render_empty_and_help);
    TT_RUN(test_values);
    TT_RUN(test_get_add_set);
    TT_RUN(test_registration_refused);
    TT_RUN(test_clear);
    TT_RUN(test_histogram);
    TT_RUN(test_process_metrics);
    TT_DONE();
}
