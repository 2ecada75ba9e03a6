/*
 * mock_query.c - read-only questions to a Kafka cluster through a short-lived client.
 */
#include "mock_query.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

/* Appends printf-formatted text at out[*len]; returns -1 when it does not fit. */
static int append(char *out, size_t out_size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int append(char *out, size_t out_size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= out_size)
        return -1;
    va_start(ap, fmt);
    n = vsnprintf(out + *len, out_size - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= out_size - *len) {
        out[*len] = '\0';
        return -1;
    }
    *len += (size_t)n;
    return 0;
}

/*
 * Creates a quiet client of the given type bootstrapping from bootstraps;
 * group may be NULL. Returns NULL with errstr filled.
 */
static rd_kafka_t *query_client_new(rd_kafka_type_t type, const char *bootstraps, const char *group,
                                    char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    char cerr[256];

    /* The answer (or its failure) is returned to the caller: no log lines. */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, cerr, sizeof(cerr)) ||
        rd_kafka_conf_set(conf, "log_level", "0", cerr, sizeof(cerr)) ||
        rd_kafka_conf_set(conf, "client.id", "zim-mock-kafka-query", cerr, sizeof(cerr)) ||
        (group && (rd_kafka_conf_set(conf, "group.id", group, cerr, sizeof(cerr)) ||
                   rd_kafka_conf_set(conf, "enable.auto.commit", "false", cerr, sizeof(cerr))))) {
        snprintf(errstr, errstr_size, "query client: %s", cerr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(type, conf, cerr, sizeof(cerr));
    if (!rk) {
        snprintf(errstr, errstr_size, "query client: %s", cerr);
        rd_kafka_conf_destroy(conf); /* not taken over on failure */
        return NULL;
    }
    return rk;
}

/* Fetches metadata for all topics; returns NULL with errstr filled. */
static const struct rd_kafka_metadata *all_topics(rd_kafka_t *rk, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, MOCK_QUERY_TIMEOUT_MS);

    if (err) {
        snprintf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
        return NULL;
    }
    return md;
}

/* Index of topic in md, or -1. */
static int find_topic(const struct rd_kafka_metadata *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            return i;
    return -1;
}

static int cmp_topic(const void *a, const void *b)
{
    const struct rd_kafka_metadata_topic *const *ta = a;
    const struct rd_kafka_metadata_topic *const *tb = b;

    return strcmp((*ta)->topic, (*tb)->topic);
}

int mock_query_topics(const char *bootstraps, char *out, size_t out_size, char *errstr,
                      size_t errstr_size)
{
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;
    const struct rd_kafka_metadata_topic **sorted = NULL;
    size_t len = 0;
    int rc = -1;

    if (out_size == 0) {
        snprintf(errstr, errstr_size, "topics: no room for the answer");
        return -1;
    }
    out[0] = '\0';
    if (!(rk = query_client_new(RD_KAFKA_CONSUMER, bootstraps, NULL, errstr, errstr_size)))
        goto out;
    if (!(md = all_topics(rk, errstr, errstr_size)))
        goto out;
    sorted = calloc((size_t)md->topic_cnt + 1, sizeof(*sorted));
    if (!sorted) {
        snprintf(errstr, errstr_size, "topics: out of memory");
        goto out;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        sorted[i] = &md->topics[i];
    qsort(sorted, (size_t)md->topic_cnt, sizeof(*sorted), cmp_topic);
    for (int i = 0; i < md->topic_cnt; i++) {
        if (append(out, out_size, &len, "%s%s:%d", i ? " " : "", sorted[i]->topic,
                   sorted[i]->partition_cnt) == -1) {
            snprintf(errstr, errstr_size, "topics: answer longer than %zu bytes", out_size);
            goto out;
        }
    }
    rc = 0;
out:
    free(sorted);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

int mock_query_partition_cnt(const char *bootstraps, const char *topic, int *partition_cnt,
                             char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;
    int idx, rc = -1;

    if (!(rk = query_client_new(RD_KAFKA_CONSUMER, bootstraps, NULL, errstr, errstr_size)))
        goto out;
    if (!(md = all_topics(rk, errstr, errstr_size)))
        goto out;
    idx = find_topic(md, topic);
    *partition_cnt = idx < 0 ? 0 : md->topics[idx].partition_cnt;
    rc = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

int mock_query_committed(const char *bootstraps, const char *group, const char *topic, char *out,
                         size_t out_size, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err;
    size_t len = 0;
    int idx, cnt, rc = -1;

    if (out_size == 0) {
        snprintf(errstr, errstr_size, "committed: no room for the answer");
        return -1;
    }
    out[0] = '\0';
    if (!(rk = query_client_new(RD_KAFKA_CONSUMER, bootstraps, group, errstr, errstr_size)))
        goto out;
    if (!(md = all_topics(rk, errstr, errstr_size)))
        goto out;
    if ((idx = find_topic(md, topic)) < 0) {
        snprintf(errstr, errstr_size, "committed: topic %s: no such topic", topic);
        goto out;
    }
    cnt = md->topics[idx].partition_cnt;
    parts = rd_kafka_topic_partition_list_new(cnt > 0 ? cnt : 1);
    for (int p = 0; p < cnt; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p);
    /* OffsetFetch only: the client does not join the group. */
    err = rd_kafka_committed(rk, parts, MOCK_QUERY_TIMEOUT_MS);
    if (err) {
        snprintf(errstr, errstr_size, "committed: group %s: %s", group, rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];

        if (tp->err) {
            snprintf(errstr, errstr_size, "committed: %s [%d]: %s", topic, (int)tp->partition,
                     rd_kafka_err2str(tp->err));
            goto out;
        }
        if (append(out, out_size, &len, "%s%d:%lld", i ? " " : "", (int)tp->partition,
                   (long long)(tp->offset < 0 ? -1 : tp->offset)) == -1) {
            snprintf(errstr, errstr_size, "committed: answer longer than %zu bytes", out_size);
            goto out;
        }
    }
    rc = 0;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}
