/* procmetrics.c - process_* metrics from /proc/self (see procmetrics.h). */
#define _GNU_SOURCE
#include "common/procmetrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct procmetrics {
    metric_family_t *cpu, *rss, *vsize, *open_fds, *max_fds, *start;
    double start_time; /* computed once: it does not change */
};

/* The fields of /proc/self/stat we use. */
typedef struct stat_fields {
    unsigned long long utime, stime, starttime, vsize;
    long long rss_pages;
} stat_fields_t;

/* Parses a /proc/PID/stat line. The command (field 2) is in parentheses and
 * may hold spaces and parentheses itself: fields resume after the last ')'.
 * 0, or -1 when the line does not have the fields. */
static int parse_stat(const char *line, stat_fields_t *out)
{
    const char *p = strrchr(line, ')');
    unsigned long long v[22];
    int n;

    if (!p)
        return -1;
    /* Fields 3..24: state, then 21 numbers (ppid .. rss). */
    n = sscanf(p + 1,
               " %*c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
               "%llu %llu %llu %llu %llu %llu",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11],
               &v[12], &v[13], &v[14], &v[15], &v[16], &v[17], &v[18], &v[19], &v[20]);
    if (n != 21)
        return -1;
    out->utime = v[10];     /* field 14 */
    out->stime = v[11];     /* field 15 */
    out->starttime = v[18]; /* field 22 */
    out->vsize = v[19];     /* field 23 */
    out->rss_pages = (long long)v[20];
    return 0;
}

static int read_stat(stat_fields_t *out)
{
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    int rc = -1;

    if (!f)
        return -1;
    if (fgets(line, sizeof(line), f))
        rc = parse_stat(line, out);
    fclose(f);
    return rc;
}

static double ts_seconds(clockid_t clk)
{
    struct timespec ts;

    if (clock_gettime(clk, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

procmetrics_t *procmetrics_new(metrics_t *m)
{
    procmetrics_t *p = calloc(1, sizeof(*p));
    stat_fields_t st;
    long hz = sysconf(_SC_CLK_TCK);

    if (!p)
        return NULL;
    p->cpu = metrics_standard(m, "process_cpu_seconds_total",
                              "Total user and system CPU time spent in seconds", 1);
    p->rss =
        metrics_standard(m, "process_resident_memory_bytes", "Resident memory size in bytes", 0);
    p->vsize =
        metrics_standard(m, "process_virtual_memory_bytes", "Virtual memory size in bytes", 0);
    p->open_fds = metrics_standard(m, "process_open_fds", "Number of open file descriptors", 0);
    p->max_fds =
        metrics_standard(m, "process_max_fds", "Maximum number of open file descriptors", 0);
    p->start = metrics_standard(m, "process_start_time_seconds",
                                "Start time of the process since unix epoch in seconds", 0);
    if (!p->cpu || !p->rss || !p->vsize || !p->open_fds || !p->max_fds || !p->start) {
        free(p);
        return NULL;
    }
    /* Start: now, minus the process's age on the boot clock that starttime
     * counts on. */
    if (hz > 0 && read_stat(&st) == 0)
        p->start_time = ts_seconds(CLOCK_REALTIME) -
                        (ts_seconds(CLOCK_BOOTTIME) - (double)st.starttime / (double)hz);
    else
        p->start_time = ts_seconds(CLOCK_REALTIME);
    metric_set(p->start, NULL, (double)(long long)p->start_time);
    procmetrics_update(p);
    return p;
}

void procmetrics_destroy(procmetrics_t *p)
{
    free(p);
}

void procmetrics_update(procmetrics_t *p)
{
    stat_fields_t st;
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    struct rlimit rl;
    int fds;

    if (!p)
        return;
    if (hz > 0 && page > 0 && read_stat(&st) == 0) {
        metric_set(p->cpu, NULL, (double)(st.utime + st.stime) / (double)hz);
        metric_set(p->rss, NULL, (double)st.rss_pages * (double)page);
        metric_set(p->vsize, NULL, (double)st.vsize);
    }
    if ((fds = count_fds()) >= 0)
        metric_set(p->open_fds, NULL, fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metric_set(p->max_fds, NULL, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
}
