/*
 * mock_ctl.c - a librdkafka mock cluster and its text control commands.
 */
#include "mock_ctl.h"
#include "mock_query.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Most words in one command line ("errors KEY CODE ..."). */
#define MAX_WORDS 258
/* Most error codes pushed by one "errors" command. */
#define MAX_ERRORS (MAX_WORDS - 2)
/* Longest topic or group name accepted (Kafka's topic limit). */
#define MAX_NAME 249

struct mock_ctl {
    rd_kafka_t *rk;                    /* dummy producer that owns the cluster */
    rd_kafka_mock_cluster_t *mcluster; /* the cluster */
    int broker_cnt;                    /* brokers have ids 1..broker_cnt */
    char *bootstraps;                  /* copy of the bootstrap list */
};

/* Kafka protocol ApiKeys by name (rdkafka_protocol.h is not installed). */
static const struct {
    const char *name;
    int key;
} api_keys[] = {
    {"Produce", 0},         {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},    {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},      {"LeaveGroup", 13}, {"SyncGroup", 14},       {"ApiVersion", 18},
    {"InitProducerId", 22},
};

int mock_ctl_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Kafka's legal topic characters; the mock itself does not check. */
static int valid_topic_name(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > MAX_NAME || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

mock_ctl_t *mock_ctl_new(int broker_cnt, const char *debug, char *errstr, size_t errstr_size)
{
    mock_ctl_t *ctl = NULL;
    rd_kafka_conf_t *conf = NULL;
    const char *boot;
    char cerr[256];

    if (broker_cnt < 1 || broker_cnt > MOCK_CTL_MAX_BROKERS) {
        snprintf(errstr, errstr_size, "brokers: %d: must be 1..%d", broker_cnt,
                 MOCK_CTL_MAX_BROKERS);
        return NULL;
    }
    ctl = calloc(1, sizeof(*ctl));
    if (!ctl) {
        snprintf(errstr, errstr_size, "mock cluster: out of memory");
        return NULL;
    }
    ctl->broker_cnt = broker_cnt;

    conf = rd_kafka_conf_new();
    /* log_level 4 hides the notice that this handle has no bootstrap.servers. */
    if (rd_kafka_conf_set(conf, "client.id", "zim-mock-kafka", cerr, sizeof(cerr)) ||
        rd_kafka_conf_set(conf, "log_level", debug && *debug ? "7" : "4", cerr, sizeof(cerr)) ||
        (debug && *debug && rd_kafka_conf_set(conf, "debug", debug, cerr, sizeof(cerr)))) {
        snprintf(errstr, errstr_size, "mock cluster: %s", cerr);
        goto fail;
    }
    /* The handle only hosts the cluster: it has no brokers and never produces. */
    ctl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, cerr, sizeof(cerr));
    if (!ctl->rk) {
        snprintf(errstr, errstr_size, "mock cluster: %s", cerr);
        goto fail;
    }
    conf = NULL; /* owned by rk now */

    ctl->mcluster = rd_kafka_mock_cluster_new(ctl->rk, broker_cnt);
    if (!ctl->mcluster) {
        snprintf(errstr, errstr_size, "mock cluster: cannot start %d broker(s)", broker_cnt);
        goto fail;
    }
    boot = rd_kafka_mock_cluster_bootstraps(ctl->mcluster);
    ctl->bootstraps = boot ? strdup(boot) : NULL;
    if (!ctl->bootstraps) {
        snprintf(errstr, errstr_size, "mock cluster: no bootstrap list");
        goto fail;
    }
    return ctl;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    mock_ctl_destroy(ctl);
    return NULL;
}

void mock_ctl_destroy(mock_ctl_t *ctl)
{
    if (!ctl)
        return;
    if (ctl->mcluster)
        rd_kafka_mock_cluster_destroy(ctl->mcluster);
    if (ctl->rk)
        rd_kafka_destroy(ctl->rk);
    free(ctl->bootstraps);
    free(ctl);
}

const char *mock_ctl_bootstraps(const mock_ctl_t *ctl)
{
    return ctl->bootstraps;
}

int mock_ctl_topic_create(mock_ctl_t *ctl, const char *name, int partition_cnt, char *errstr,
                          size_t errstr_size)
{
    rd_kafka_resp_err_t err;
    int replication = ctl->broker_cnt < 3 ? ctl->broker_cnt : 3;

    if (!valid_topic_name(name)) {
        snprintf(errstr, errstr_size, "topic %.64s: bad name (1-%d of [A-Za-z0-9._-])", name,
                 MAX_NAME);
        return -1;
    }
    if (partition_cnt < 1 || partition_cnt > MOCK_CTL_MAX_PARTITIONS) {
        snprintf(errstr, errstr_size, "topic %s: partitions %d: must be 1..%d", name, partition_cnt,
                 MOCK_CTL_MAX_PARTITIONS);
        return -1;
    }
    err = rd_kafka_mock_topic_create(ctl->mcluster, name, partition_cnt, replication);
    if (err) {
        snprintf(errstr, errstr_size, "topic %s: %s", name, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Splits line in place into at most max words; returns the count or -1 if too many. */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (!*p)
            return n;
        if (n == max)
            return -1;
        words[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        if (*p)
            *p++ = '\0';
    }
}

/* Parses a broker id 1..N; with allow_all also "all" or -1 (every broker). */
static int parse_broker(const mock_ctl_t *ctl, const char *s, int allow_all, int32_t *id)
{
    long v;

    if (allow_all && strcmp(s, "all") == 0) {
        *id = -1;
        return 0;
    }
    if (mock_ctl_parse_long(s, allow_all ? -1 : 1, ctl->broker_cnt, &v) == -1 || v == 0)
        return -1;
    *id = (int32_t)v;
    return 0;
}

/* Parses an ApiKey given as a number 0..99 or a name (case-insensitive). */
static int parse_api_key(const char *s, int16_t *key)
{
    long v;

    if (mock_ctl_parse_long(s, 0, 99, &v) == 0) {
        *key = (int16_t)v;
        return 0;
    }
    for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
        if (strcasecmp(s, api_keys[i].name) == 0) {
            *key = (int16_t)api_keys[i].key;
            return 0;
        }
    }
    return -1;
}

/*
 * Parses an error code as an integer known to this librdkafka, or as its name
 * (rd_kafka_err2name(), e.g. NOT_COORDINATOR or _TRANSPORT).
 */
static int parse_err(const char *s, rd_kafka_resp_err_t *err)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    long v;
    int numeric = mock_ctl_parse_long(s, INT_MIN, INT_MAX, &v) == 0;

    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (!descs[i].name)
            continue; /* gaps in the table */
        if ((numeric && (long)descs[i].code == v) ||
            (!numeric && strcasecmp(s, descs[i].name) == 0)) {
            *err = descs[i].code;
            return 0;
        }
    }
    return -1;
}

/* Each cmd_* handler fills reply and returns nothing; the reply says it all. */

static void cmd_topic(mock_ctl_t *ctl, int argc, char **argv, char *reply, size_t reply_size)
{
    long parts;
    char err[256];

    if (argc != 3 || mock_ctl_parse_long(argv[2], 1, MOCK_CTL_MAX_PARTITIONS, &parts) == -1) {
        snprintf(reply, reply_size, "error usage: topic NAME PARTITIONS(1..%d)",
                 MOCK_CTL_MAX_PARTITIONS);
        return;
    }
    if (mock_ctl_topic_create(ctl, argv[1], (int)parts, err, sizeof(err)) == -1) {
        snprintf(reply, reply_size, "error %s", err);
        return;
    }
    snprintf(reply, reply_size, "ok topic %s %ld", argv[1], parts);
}

static void cmd_updown(mock_ctl_t *ctl, int argc, char **argv, char *reply, size_t reply_size)
{
    int up = strcmp(argv[0], "up") == 0;
    int32_t id;
    rd_kafka_resp_err_t err;

    if (argc != 2 || parse_broker(ctl, argv[1], 1, &id) == -1) {
        snprintf(reply, reply_size, "error usage: %s BROKER_ID(1..%d|all)", argv[0],
                 ctl->broker_cnt);
        return;
    }
    err = up ? rd_kafka_mock_broker_set_up(ctl->mcluster, id)
             : rd_kafka_mock_broker_set_down(ctl->mcluster, id);
    if (err) {
        snprintf(reply, reply_size, "error %s %s: %s", argv[0], argv[1], rd_kafka_err2str(err));
        return;
    }
    snprintf(reply, reply_size, "ok %s %s", argv[0], argv[1]);
}

static void cmd_rtt(mock_ctl_t *ctl, int argc, char **argv, char *reply, size_t reply_size)
{
    int32_t id;
    long ms;
    rd_kafka_resp_err_t err;

    if (argc != 3 || parse_broker(ctl, argv[1], 1, &id) == -1 ||
        mock_ctl_parse_long(argv[2], 0, 3600000, &ms) == -1) {
        snprintf(reply, reply_size, "error usage: rtt BROKER_ID(1..%d|all) MS(0..3600000)",
                 ctl->broker_cnt);
        return;
    }
    err = rd_kafka_mock_broker_set_rtt(ctl->mcluster, id, (int)ms);
    if (err) {
        snprintf(reply, reply_size, "error rtt %s: %s", argv[1], rd_kafka_err2str(err));
        return;
    }
    snprintf(reply, reply_size, "ok rtt %s %ld", argv[1], ms);
}

static void cmd_errors(mock_ctl_t *ctl, int argc, char **argv, char *reply, size_t reply_size)
{
    rd_kafka_resp_err_t errs[MAX_ERRORS];
    int16_t key;
    int cnt = argc - 2;

    if (argc < 3 || parse_api_key(argv[1], &key) == -1) {
        snprintf(reply, reply_size, "error usage: errors APIKEY CODE [CODE ...]");
        return;
    }
    for (int i = 0; i < cnt; i++) {
        if (parse_err(argv[i + 2], &errs[i]) == -1) {
            snprintf(reply, reply_size, "error errors: %.64s: unknown error code", argv[i + 2]);
            return;
        }
    }
    rd_kafka_mock_push_request_errors_array(ctl->mcluster, key, (size_t)cnt, errs);
    snprintf(reply, reply_size, "ok errors %d %d", (int)key, cnt);
}

static void cmd_clear(mock_ctl_t *ctl, int argc, char **argv, char *reply, size_t reply_size)
{
    int16_t key;

    if (argc != 2 || parse_api_key(argv[1], &key) == -1) {
        snprintf(reply, reply_size, "error usage: clear APIKEY");
        return;
    }
    rd_kafka_mock_clear_request_errors(ctl->mcluster, key);
    snprintf(reply, reply_size, "ok clear %d", (int)key);
}

static void cmd_leader(mock_ctl_t *ctl, int argc, char **argv, char *reply, size_t reply_size)
{
    long part;
    int32_t id;
    int cnt;
    rd_kafka_resp_err_t err;
    char qerr[256];

    if (argc != 4 || mock_ctl_parse_long(argv[2], 0, MOCK_CTL_MAX_PARTITIONS - 1, &part) == -1 ||
        strcmp(argv[3], "all") == 0 || parse_broker(ctl, argv[3], 1, &id) == -1) {
        snprintf(reply, reply_size, "error usage: leader TOPIC PARTITION BROKER_ID(1..%d|-1)",
                 ctl->broker_cnt);
        return;
    }
    /* The mock would silently create a missing topic here: check first. */
    if (mock_query_partition_cnt(ctl->bootstraps, argv[1], &cnt, qerr, sizeof(qerr)) == -1) {
        snprintf(reply, reply_size, "error leader: %s", qerr);
        return;
    }
    if (part >= cnt) {
        snprintf(reply, reply_size, "error leader: %s [%ld]: no such partition", argv[1], part);
        return;
    }
    err = rd_kafka_mock_partition_set_leader(ctl->mcluster, argv[1], (int32_t)part, id);
    if (err) {
        snprintf(reply, reply_size, "error leader: %s", rd_kafka_err2str(err));
        return;
    }
    snprintf(reply, reply_size, "ok leader %s %ld %d", argv[1], part, (int)id);
}

static void cmd_coordinator(mock_ctl_t *ctl, int argc, char **argv, char *reply, size_t reply_size)
{
    int32_t id;
    rd_kafka_resp_err_t err;

    if (argc != 3 || strlen(argv[1]) > MAX_NAME || parse_broker(ctl, argv[2], 0, &id) == -1) {
        snprintf(reply, reply_size, "error usage: coordinator GROUP BROKER_ID(1..%d)",
                 ctl->broker_cnt);
        return;
    }
    err = rd_kafka_mock_coordinator_set(ctl->mcluster, "group", argv[1], id);
    if (err) {
        snprintf(reply, reply_size, "error coordinator: %s", rd_kafka_err2str(err));
        return;
    }
    snprintf(reply, reply_size, "ok coordinator %s %d", argv[1], (int)id);
}

static void cmd_topics(mock_ctl_t *ctl, int argc, char *reply, size_t reply_size)
{
    char qerr[256];

    if (argc != 1) {
        snprintf(reply, reply_size, "error usage: topics");
        return;
    }
    /* Answer after "ok ": 3 bytes of the reply are taken. */
    if (reply_size < 4 ||
        mock_query_topics(ctl->bootstraps, reply + 3, reply_size - 3, qerr, sizeof(qerr)) == -1) {
        snprintf(reply, reply_size, "error %s", reply_size < 4 ? "no room" : qerr);
        return;
    }
    memcpy(reply, "ok ", 3);
}

static void cmd_committed(mock_ctl_t *ctl, int argc, char **argv, char *reply, size_t reply_size)
{
    char qerr[256];

    if (argc != 3 || strlen(argv[1]) > MAX_NAME) {
        snprintf(reply, reply_size, "error usage: committed GROUP TOPIC");
        return;
    }
    if (reply_size < 4 || mock_query_committed(ctl->bootstraps, argv[1], argv[2], reply + 3,
                                               reply_size - 3, qerr, sizeof(qerr)) == -1) {
        snprintf(reply, reply_size, "error %s", reply_size < 4 ? "no room" : qerr);
        return;
    }
    memcpy(reply, "ok ", 3);
}

mock_ctl_next_t mock_ctl_exec(mock_ctl_t *ctl, const char *line, char *reply, size_t reply_size)
{
    char *copy, *words[MAX_WORDS];
    int argc;
    mock_ctl_next_t next = MOCK_CTL_CONTINUE;

    if (reply_size == 0)
        return next;
    reply[0] = '\0';
    copy = strdup(line);
    if (!copy) {
        snprintf(reply, reply_size, "error out of memory");
        return next;
    }
    argc = split_words(copy, words, MAX_WORDS);
    if (argc == 0)
        goto out; /* blank line: no command, no reply */
    if (argc < 0) {
        snprintf(reply, reply_size, "error too many words (max %d)", MAX_WORDS);
        goto out;
    }
    if (strcmp(words[0], "topic") == 0) {
        cmd_topic(ctl, argc, words, reply, reply_size);
    } else if (strcmp(words[0], "down") == 0 || strcmp(words[0], "up") == 0) {
        cmd_updown(ctl, argc, words, reply, reply_size);
    } else if (strcmp(words[0], "rtt") == 0) {
        cmd_rtt(ctl, argc, words, reply, reply_size);
    } else if (strcmp(words[0], "errors") == 0) {
        cmd_errors(ctl, argc, words, reply, reply_size);
    } else if (strcmp(words[0], "clear") == 0) {
        cmd_clear(ctl, argc, words, reply, reply_size);
    } else if (strcmp(words[0], "leader") == 0) {
        cmd_leader(ctl, argc, words, reply, reply_size);
    } else if (strcmp(words[0], "coordinator") == 0) {
        cmd_coordinator(ctl, argc, words, reply, reply_size);
    } else if (strcmp(words[0], "topics") == 0) {
        cmd_topics(ctl, argc, reply, reply_size);
    } else if (strcmp(words[0], "committed") == 0) {
        cmd_committed(ctl, argc, words, reply, reply_size);
    } else if (strcmp(words[0], "bootstrap") == 0) {
        snprintf(reply, reply_size, "ok %s", ctl->bootstraps);
    } else if (strcmp(words[0], "help") == 0) {
        snprintf(reply, reply_size,
                 "ok commands: topic down up rtt errors clear leader coordinator topics "
                 "committed bootstrap help quit");
    } else if (strcmp(words[0], "quit") == 0) {
        snprintf(reply, reply_size, "ok bye");
        next = MOCK_CTL_QUIT;
    } else {
        snprintf(reply, reply_size, "error unknown command %.64s (try help)", words[0]);
    }
out:
    free(copy);
    return next;
}
