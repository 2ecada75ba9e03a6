/*
 * mock_query.h - read-only questions to a Kafka cluster (topics, committed offsets).
 *
 * Each call creates a short-lived client handle that bootstraps from the given
 * list, asks its question and is destroyed again: it never joins a consumer
 * group, never produces and never creates topics (metadata is requested for
 * all topics, which does not auto-create). Works against the mock cluster of
 * this process as well as against any other cluster. Blocking; any thread.
 */
#ifndef ZU_MOCK_QUERY_H
#define ZU_MOCK_QUERY_H

#include <stddef.h>

/* How long one query may wait for the cluster. */
#define MOCK_QUERY_TIMEOUT_MS 5000

/*
 * Lists the cluster's topics as "NAME:PARTITIONS" words separated by single
 * spaces, sorted by name, into out (NUL-terminated; "" when there are none).
 * Returns 0, or -1 with errstr filled (cluster unreachable, out too small).
 */
int mock_query_topics(const char *bootstraps, char *out, size_t out_size, char *errstr,
                      size_t errstr_size);

/*
 * Sets *partition_cnt to the partition count of topic, or to 0 when the topic
 * does not exist. Returns 0, or -1 with errstr filled.
 */
int mock_query_partition_cnt(const char *bootstraps, const char *topic, int *partition_cnt,
                             char *errstr, size_t errstr_size);

/*
 * Writes the offsets committed by group for every partition of topic as
 * "PARTITION:OFFSET" words separated by single spaces, in partition order;
 * OFFSET is -1 for a partition without a committed offset. Returns 0, or -1
 * with errstr filled (unknown topic, coordinator unreachable, out too small).
 */
int mock_query_committed(const char *bootstraps, const char *group, const char *topic, char *out,
                         size_t out_size, char *errstr, size_t errstr_size);

#endif /* ZU_MOCK_QUERY_H */
