/* procmetrics.h - the standard process_* metrics of a Prometheus client,
 * read from /proc/self when /metrics is rendered.
 *
 *   process_cpu_seconds_total      user + system CPU time
 *   process_resident_memory_bytes  resident set size
 *   process_virtual_memory_bytes   virtual memory size
 *   process_open_fds               entries of /proc/self/fd
 *   process_max_fds                RLIMIT_NOFILE's soft limit
 *   process_start_time_seconds     start time, Unix seconds
 *
 * Only /proc/self is read (never /proc/stat), so it works under systemd's
 * ProcSubset=pid. Ownership: the families belong to the registry; the
 * handle holds pointers to them and must be destroyed first or with it. */
#ifndef ZU_PROCMETRICS_H
#define ZU_PROCMETRICS_H

#include "common/metrics.h"

typedef struct procmetrics procmetrics_t;

/* Registers the families in m. NULL on allocation failure or when the
 * names are taken. */
procmetrics_t *procmetrics_new(metrics_t *m);
void procmetrics_destroy(procmetrics_t *p);
/* Reads the current values; a value that cannot be read keeps its last
 * one. */
void procmetrics_update(procmetrics_t *p);

#endif
