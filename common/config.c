/* config.c - the worker's configuration, driven by one table: the loading side.
 *
 * config_keys[] is the only list of configuration keys. Each default is
 * written in the table as libconfig text: config_defaults() renders the
 * defaults as a document (config_write_defaults(), config_print.c) and loads
 * it with the same code that loads a file; config_write_example() prints the
 * same text with the help, and config_print() walks the table over a loaded
 * config (both in config_print.c). Cross-key rules (secret, backoff order,
 * topic overlaps) find their keys through the table too, so every error names
 * "file:line: group.key". */

/* libconfig's handle is also called config_t: rename it on the way in. */
#define config_t lc_config_t
#include <libconfig.h>
#undef config_t

#include "common/config.h"
#include "common/config_table.h"
#include "common/result.h"
#include "common/httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define CREDENTIALS_ENV "CREDENTIALS_DIRECTORY"
#define SECRET_FILE_MAX 4096
#define BROKERS_ENV     "KAFKA_BROKERS"

/* ---- the table ---- */

static const char *const share_names[] = {"partitions", "none", NULL};
static const char *const unknown_names[] = {"ignore", "fail", NULL};
static const char *const format_names[] = {"json", "text", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const delete_names[] = {"two-way", "one-way", NULL};
static const char *const event_format_names[] = {"json", "auto", NULL};

#define KEY(g, n, t, f, fl, def, ex, lo, hi, ch, chk, help)                                        \
    {                                                                                              \
        g, n, t, offsetof(config_t, f), fl, def, ex, lo, hi, ch, chk, help                         \
    }

const cfg_key_t config_keys[] = {
    KEY("kafka", "brokers", KT_STR, brokers, F_NONEMPTY, "\"localhost:9092\"", NULL, 0, 0, NULL,
        NULL, "Bootstrap brokers, \"host:port\" separated by commas. Env KAFKA_BROKERS overrides."),
    KEY("kafka", "group_id", KT_STR, group_id, F_NONEMPTY, "\"zim-unfriend\"", NULL, 0, 0, NULL,
        NULL, "Consumer group. All replicas share it, and the rate budget with it."),
    KEY("kafka", "input_topics", KT_STRV, input_topics, F_REQUIRED | F_NONEMPTY | F_UNIQUE, "[ ]",
        "[ \"account-events\" ]", 0, 0, NULL, config_check_input_topic,
        "Topics to consume events from, one or more (names, not patterns)."),
    KEY("kafka", "result_topic", KT_STR, result_topic, F_REQUIRED | F_NONEMPTY, "\"\"",
        "\"zim-unfriend-results\"", 0, 0, NULL, config_check_topic,
        "Topic that receives one result event per input event."),
    KEY("kafka", "dead_letter_topic", KT_STR, dead_letter_topic, 0, "\"\"", NULL, 0, 0, NULL,
        config_check_opt_topic, "Raw copies of invalid events go here; \"\" = none."),
    KEY("kafka", "consumer", KT_STRV, consumer_props, 0, "[ ]", NULL, 0, 0, NULL, config_check_prop,
        "Extra librdkafka consumer properties as \"name=value\" strings,\n"
        "e.g. [ \"session.timeout.ms=6000\", \"heartbeat.interval.ms=500\" ]."),
    KEY("kafka", "producer", KT_STRV, producer_props, 0, "[ ]", NULL, 0, 0, NULL, config_check_prop,
        "Extra librdkafka producer properties as \"name=value\" strings,\n"
        "e.g. [ \"compression.type=zstd\", \"linger.ms=10\" ]."),

    KEY("zim", "endpoint", KT_STR, endpoint, F_NONEMPTY, "\"https://zim-api.zego.im/\"", NULL, 0, 0,
        NULL, config_check_endpoint,
        "ZIM server API base URL, https (plain http only to a loopback host, for tests).\n"
        "Regional hosts: zim-api-sha.zego.im, -hkg, -fra, -lax, -bom, -sgp."),
    KEY("zim", "app_id", KT_U32, app_id, F_REQUIRED, "0", "1234567890", 1, 4294967295.0, NULL, NULL,
        "Your ZIM AppId. Values above 2147483647 need libconfig's L suffix (3000000000L)."),
    KEY("zim", "server_secret", KT_STR, server_secret, F_SECRET, "\"\"", NULL, 0, 0, NULL, NULL,
        "The ServerSecret. Better leave it empty. Where it comes from, first found wins:\n"
        "env ZIM_SERVER_SECRET (removed from the environment once read), the systemd\n"
        "credential $CREDENTIALS_DIRECTORY/zim-server-secret, server_secret_file, then\n"
        "this key. Setting both server_secret and server_secret_file is an error."),
    KEY("zim", "server_secret_file", KT_STR, server_secret_file, 0, "\"\"", NULL, 0, 0, NULL, NULL,
        "File holding the ServerSecret (one trailing newline is ignored). A warning is\n"
        "logged when others, or a group other than the worker's own, can read it."),
    KEY("zim", "rate_limit_qps", KT_FLOAT, rate_limit_qps, F_MIN_EXCL, "20.0", NULL, 0, 100000,
        NULL, NULL, "The AppId-wide budget of calls per second, all replicas together."),
    KEY("zim", "rate_limit_share", KT_ENUM, rate_limit_share, 0, "\"partitions\"", NULL, 0, 0,
        share_names, NULL,
        "\"partitions\": each replica spends the budget in proportion to the input\n"
        "partitions it owns; \"none\": each replica may spend all of it."),
    KEY("zim", "request_timeout_ms", KT_INT, request_timeout_ms, 0, "5000", NULL, 1, 600000, NULL,
        NULL, "Time-out of one API call, connect included."),
    KEY("zim", "connect_timeout_ms", KT_INT, connect_timeout_ms, 0, "3000", NULL, 1, 600000, NULL,
        NULL, "Time-out of the TCP and TLS connect."),
    KEY("zim", "success_codes", KT_I64V, success_codes, F_NONEMPTY, "[ 0 ]", NULL, 0, 0, NULL, NULL,
        "ZIM Codes that count as success."),
    KEY("zim", "ca_file", KT_STR, ca_file, 0, "\"\"", NULL, 0, 0, NULL, config_check_ca_file,
        "Extra CA certificates (PEM) trusted in addition to the system's; TLS (1.2 or\n"
        "later) is always verified."),

    KEY("retry", "max_attempts", KT_INT, max_attempts, 0, "8", NULL, 1, 1000, NULL, NULL,
        "API calls per event before it fails as retries_exhausted."),
    KEY("retry", "initial_backoff_ms", KT_INT, initial_backoff_ms, 0, "250", NULL, 1, 3600000, NULL,
        NULL, "Cap of the first retry delay; doubles per attempt (full jitter)."),
    KEY("retry", "max_backoff_ms", KT_INT, max_backoff_ms, 0, "30000", NULL, 1, 3600000, NULL, NULL,
        "Largest retry delay; at least initial_backoff_ms."),

    KEY("worker", "max_in_flight", KT_INT, max_in_flight, 0, "64", NULL, 1, 10000, NULL, NULL,
        "Concurrent API calls (one per user at a time)."),
    KEY("worker", "max_pending_bytes", KT_INT, max_pending_bytes, 0, "67108864", NULL, 1048576,
        2147483647.0, NULL, NULL,
        "Bytes held for received, unfinished events (keys, headers, DLQ copies), shared\n"
        "by the assigned partitions: a partition over its share stops fetching."),
    KEY("worker", "max_run_ahead", KT_INT, max_run_ahead, 0, "512", NULL, 16, 1000000, NULL, NULL,
        "How many offsets a partition may run ahead of its oldest unfinished event: after\n"
        "a crash at most this many finished events (plus the calls in flight and one\n"
        "commit interval) are processed again."),
    KEY("worker", "coalesce", KT_BOOL, coalesce, 0, "true", NULL, 0, 0, NULL, NULL,
        "A user's waiting events with the same delete_type share one call."),
    KEY("worker", "shutdown_grace_ms", KT_INT, shutdown_grace_ms, 0, "15000", NULL, 0, 3600000,
        NULL, NULL, "On SIGTERM/SIGINT, time given to in-flight calls to finish."),

    KEY("redrive", "error_classes", KT_STRV, redrive_error_classes, F_NONEMPTY | F_UNIQUE,
        "[ \"retries_exhausted\" ]", NULL, 0, 0, NULL, config_check_error_class,
        "Failure results that --redrive processes again: \"retries_exhausted\",\n"
        "\"rejected\", \"invalid_event\"."),

    KEY("events", "account_deleted", KT_EVCLASS, account_deleted, F_UNIQUE,
        "{ match = [ \"account-deleted\" ]; delete_type = \"two-way\"; }", NULL, 0, 0, delete_names,
        NULL,
        "Event types handled as account deletions, and the DeleteType used unless the\n"
        "event says otherwise."),
    KEY("events", "friend_reset", KT_EVCLASS, friend_reset, F_UNIQUE,
        "{ match = [ \"friend-reset\" ]; delete_type = \"two-way\"; }", NULL, 0, 0, delete_names,
        NULL, "Event types handled as friend-list resets, and their default DeleteType."),
    KEY("events", "unknown_types", KT_ENUM, unknown_types, 0, "\"ignore\"", NULL, 0, 0,
        unknown_names, NULL,
        "Events of any other type: \"ignore\" (skip and count) or \"fail\" (failure result)."),
    KEY("events", "format", KT_ENUM, events_format, 0, "\"json\"", NULL, 0, 0, event_format_names,
        NULL,
        "How input values are read. \"json\": plain JSON events. \"auto\": a value framed\n"
        "for Confluent Schema Registry (byte 0x00, a 4-byte big-endian schema id, then\n"
        "Avro binary or JSON) is decoded with its writer schema from schema_registry;\n"
        "any other value is plain JSON."),

    KEY("schema_registry", "url", KT_STR, registry_url, 0, "\"\"", NULL, 0, 0, NULL,
        config_check_registry_url,
        "Schema Registry base URL, e.g. \"https://registry.example.com:8081\"; required\n"
        "when events.format = \"auto\". https (plain http only to a loopback host); no\n"
        "credentials in it."),
    KEY("schema_registry", "basic_auth_user_info", KT_STR, registry_user_info, F_SECRET, "\"\"",
        NULL, 0, 0, NULL, config_check_user_info,
        "HTTP basic authentication as \"user:password\"; \"\" = none. A credential: shown\n"
        "as \"***\" by --check-config and never quoted in errors or logs."),
    KEY("schema_registry", "ca_file", KT_STR, registry_ca_file, 0, "\"\"", NULL, 0, 0, NULL,
        config_check_ca_file,
        "Extra CA certificates (PEM) trusted for the registry in addition to the system's;\n"
        "TLS (1.2 or later) is always verified."),
    KEY("schema_registry", "cache_ttl_ms", KT_INT, registry_cache_ttl_ms, 0, "60000", NULL, 0,
        86400000, NULL, NULL,
        "Schemas are cached by id for good (an id's schema never changes), and so is a\n"
        "schema that cannot be used (Protobuf, say). An id the registry does not know\n"
        "(404) is asked again after this long; until then its events are invalid at once."),
    KEY("schema_registry", "request_timeout_ms", KT_INT, registry_request_timeout_ms, 0, "5000",
        NULL, 1, 600000, NULL, NULL, "Time-out of one registry request, connect included."),

    KEY("observability", "listen", KT_STR, listen, 0, "\"\"", NULL, 0, 0, NULL, config_check_listen,
        "\"host:port\" serving /metrics, /healthz and /readyz, e.g. \"127.0.0.1:9464\";\n"
        "host: an IPv4 address, localhost or [IPv6 address]; \"\" = off."),
    KEY("observability", "log_format", KT_ENUM_STR, log_format, 0, "\"json\"", NULL, 0, 0,
        format_names, NULL, "Log lines on stderr: JSON objects or plain text."),
    KEY("observability", "log_level", KT_ENUM_STR, log_level, 0, "\"info\"", NULL, 0, 0,
        level_names, NULL, "Least severe level logged."),
    KEY("observability", "redact_user_ids", KT_BOOL, redact_user_ids, 0, "false", NULL, 0, 0, NULL,
        NULL, "Logs show a short keyed hash instead of user ids."),
};

#define NKEYS            (sizeof(config_keys) / sizeof(config_keys[0]))
#define FIELD(cfg, k, T) ((T *)(void *)((char *)(cfg) + (k)->off))

const size_t config_keys_cnt = NKEYS;

/* Load-time state. strict is off while loading the table's own defaults. */
typedef struct ctx {
    config_t *cfg;
    const char *path;
    char *errstr;
    size_t errstr_size;
    int strict;
    const char *file[NKEYS]; /* where each key was set; NULL: not in the file */
    unsigned line[NKEYS];
} ctx_t;

/* ---- helpers ---- */

/* A value made safe to quote in a one-line message (config_check.c). */
static const char *q(char *buf, size_t size, const char *s)
{
    return config_quote(buf, size, s);
}

static int choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(choices[i], s) == 0)
            return i;
    return -1;
}

static void wipe_free(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static void strv_free(config_strv_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    free(sv->line);
    sv->v = NULL;
    sv->line = NULL;
    sv->n = 0;
}

static int set_str(char **field, const char *v, int secret)
{
    char *d = strdup(v);
    if (!d)
        return -1;
    if (secret)
        wipe_free(*field);
    else
        free(*field);
    *field = d;
    return 0;
}

static const cfg_key_t *find_key(const char *group, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(config_keys[i].group, group) == 0 &&
            (!name || strcmp(config_keys[i].name, name) == 0))
            return &config_keys[i];
    return NULL;
}

/* The index of the key stored at offset off. */
static size_t key_at(size_t off)
{
    size_t i = 0;
    while (i < NKEYS - 1 && config_keys[i].off != off)
        i++;
    return i;
}

__attribute__((format(printf, 5, 6))) static int fail(ctx_t *c, const char *file, unsigned line,
                                                      const char *key, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    if (!c->errstr || !c->errstr_size)
        return -1;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (line)
        snprintf(c->errstr, c->errstr_size, "%s:%u: %s: %s", file ? file : c->path, line, key, why);
    else
        snprintf(c->errstr, c->errstr_size, "%s: %s: %s", file ? file : c->path, key, why);
    return -1;
}

/* Fails at a setting of the parsed file. */
#define SFAIL(c, s, key, ...)                                                                      \
    fail(c, config_setting_source_file(s), config_setting_source_line(s), key, __VA_ARGS__)
/* Fails at the line where the key stored at offset off was set. */
#define KFAIL(c, off, ...)                                                                         \
    fail(c, (c)->file[key_at(off)], (c)->line[key_at(off)], key_name(key_at(off), kbuf),           \
         __VA_ARGS__)

static const char *key_name(size_t i, char *buf)
{
    snprintf(buf, 96, "%s.%s", config_keys[i].group, config_keys[i].name);
    return buf;
}

/* ---- loading one setting ---- */

static int get_int(const config_setting_t *s, long long *v)
{
    if (config_setting_type(s) == CONFIG_TYPE_INT)
        *v = config_setting_get_int(s);
    else if (config_setting_type(s) == CONFIG_TYPE_INT64)
        *v = config_setting_get_int64(s);
    else
        return -1;
    return 0;
}

/* Reads a list of strings (strv) or integers (i64, i64_n), replacing the
 * field's previous value on success. */
static int load_list(ctx_t *c, const config_setting_t *s, const char *kname, int flags,
                     check_fn *check, config_strv_t *strv, int64_t **i64, size_t *i64_n)
{
    config_strv_t sv = {NULL, 0, NULL};
    int64_t *iv = NULL;
    int n = config_setting_length(s), rc = -1;
    long long x;
    char why[200], qb[80];
    const char *what = strv ? "must be a list of strings" : "must be a list of integers";

    if (!config_setting_is_array(s) && !config_setting_is_list(s))
        return SFAIL(c, s, kname, "%s", what);
    if (c->strict && n == 0 && (flags & F_NONEMPTY))
        return SFAIL(c, s, kname, "must not be empty");
    if (!(sv.v = calloc((size_t)n + 1, sizeof(char *))) ||
        !(sv.line = calloc((size_t)n + 1, sizeof(int))) ||
        !(iv = calloc((size_t)n + 1, sizeof(*iv))))
        goto oom;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_get_string(e);
        if (!strv) {
            if (get_int(e, &x) != 0) {
                SFAIL(c, s, kname, "%s", what);
                goto out;
            }
            iv[i] = x;
            continue;
        }
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            SFAIL(c, s, kname, "%s", what);
            goto out;
        }
        if (c->strict && !v[0]) {
            SFAIL(c, s, kname, "entries must not be empty");
            goto out;
        }
        if (c->strict && check && check(v, why, sizeof(why)) != 0) {
            SFAIL(c, s, kname, "%s", why);
            goto out;
        }
        for (size_t j = 0; (flags & F_UNIQUE) && j < sv.n; j++) {
            if (strcmp(sv.v[j], v) == 0) {
                SFAIL(c, s, kname, "duplicate entry \"%s\"", q(qb, sizeof(qb), v));
                goto out;
            }
        }
        if (!(sv.v[sv.n] = strdup(v)))
            goto oom;
        /* The list's own line: libconfig 1.5 reports the last element of a
         * multi-line list on the line of its closing bracket. Defaults are
         * parsed from the table's text: no line to show. */
        sv.line[sv.n] = c->strict ? config_setting_source_line(s) : 0;
        sv.n++;
    }
    if (strv) {
        strv_free(strv);
        *strv = sv;
        sv.v = NULL;
        sv.line = NULL;
        sv.n = 0;
    } else {
        free(*i64);
        *i64 = iv;
        *i64_n = (size_t)n;
        iv = NULL;
    }
    rc = 0;
    goto out;
oom:
    SFAIL(c, s, kname, "out of memory");
out:
    strv_free(&sv);
    free(iv);
    return rc;
}

static int load_evclass(ctx_t *c, const cfg_key_t *k, const config_setting_t *s, const char *kname)
{
    config_event_class_t *ev = FIELD(c->cfg, k, config_event_class_t);
    char sub[160], qb[80], ch[80];
    if (!config_setting_is_group(s))
        return SFAIL(c, s, kname, "must be a group { match = [ ... ]; delete_type = \"...\"; }");
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        const char *name = config_setting_name(m), *v = config_setting_get_string(m);
        snprintf(sub, sizeof(sub), "%.80s.%.64s", kname, name);
        if (strcmp(name, "match") == 0) {
            if (load_list(c, m, sub, k->flags, NULL, &ev->match, NULL, NULL) != 0)
                return -1;
        } else if (strcmp(name, "delete_type") == 0) {
            if (config_setting_type(m) != CONFIG_TYPE_STRING)
                return SFAIL(c, m, sub, "must be a string");
            if ((ev->delete_type = config_delete_type_parse(v)) < 0)
                return SFAIL(c, m, sub, "must be one of %s (not \"%s\")",
                             config_choices_text(k->choices, ch, sizeof(ch)), q(qb, sizeof(qb), v));
        } else {
            return SFAIL(c, m, sub, "unknown setting");
        }
    }
    return 0;
}

static int load_key(ctx_t *c, const cfg_key_t *k, const config_setting_t *s, const char *kname)
{
    char why[200], qb[80], ch[80];
    const char *v = config_setting_get_string(s);
    int type = config_setting_type(s), idx = 0;
    long long iv = 0;
    double fv;

    switch (k->type) {
    case KT_STR:
    case KT_ENUM:
    case KT_ENUM_STR:
        if (type != CONFIG_TYPE_STRING)
            return SFAIL(c, s, kname, "must be a string");
        if (k->choices && (idx = choice_index(k->choices, v)) < 0)
            return SFAIL(c, s, kname, "must be one of %s (not \"%s\")",
                         config_choices_text(k->choices, ch, sizeof(ch)), q(qb, sizeof(qb), v));
        if (k->type == KT_ENUM) {
            *FIELD(c->cfg, k, int) = idx;
            return 0;
        }
        if (c->strict && (k->flags & F_NONEMPTY) && !v[0])
            return SFAIL(c, s, kname, "must not be empty");
        if (c->strict && k->check && k->check(v, why, sizeof(why)) != 0)
            return SFAIL(c, s, kname, "%s", why);
        if (set_str(FIELD(c->cfg, k, char *), v, k->flags & F_SECRET) != 0)
            return SFAIL(c, s, kname, "out of memory");
        return 0;
    case KT_INT:
    case KT_U32:
        if (get_int(s, &iv) != 0)
            return SFAIL(c, s, kname, "must be an integer");
        if (c->strict && (iv < (long long)k->min || iv > (long long)k->max))
            return SFAIL(c, s, kname, "must be between %.0f and %.0f%s", k->min, k->max,
                         k->type == KT_U32 && iv < 0 && type == CONFIG_TYPE_INT
                             ? " (write values above 2147483647 with an L suffix)"
                             : "");
        if (k->type == KT_INT)
            *FIELD(c->cfg, k, int) = (int)iv;
        else
            *FIELD(c->cfg, k, uint32_t) = (uint32_t)iv;
        return 0;
    case KT_FLOAT:
        if (get_int(s, &iv) == 0)
            fv = (double)iv;
        else if (type == CONFIG_TYPE_FLOAT)
            fv = config_setting_get_float(s);
        else
            return SFAIL(c, s, kname, "must be a number");
        if (c->strict &&
            (!((k->flags & F_MIN_EXCL) ? fv > k->min : fv >= k->min) || !(fv <= k->max)))
            return SFAIL(c, s, kname, "must be %s %g and <= %g",
                         (k->flags & F_MIN_EXCL) ? ">" : ">=", k->min, k->max);
        *FIELD(c->cfg, k, double) = fv;
        return 0;
    case KT_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return SFAIL(c, s, kname, "must be true or false");
        *FIELD(c->cfg, k, int) = config_setting_get_bool(s) ? 1 : 0;
        return 0;
    case KT_STRV:
        return load_list(c, s, kname, k->flags, k->check, FIELD(c->cfg, k, config_strv_t), NULL,
                         NULL);
    case KT_I64V:
        return load_list(c, s, kname, k->flags, NULL, NULL, FIELD(c->cfg, k, int64_t *),
                         I64V_COUNT(c->cfg, k));
    case KT_EVCLASS:
        return load_evclass(c, k, s, kname);
    }
    return SFAIL(c, s, kname, "unsupported type");
}

/* Walks a parsed document: every group and key must be in the table. */
static int load_tree(ctx_t *c, const config_setting_t *root)
{
    char kname[160]; /* names are cut at 64 bytes in messages */
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *g = config_setting_get_elem(root, (unsigned)i);
        const char *gname = config_setting_name(g);
        if (!find_key(gname, NULL))
            return SFAIL(c, g, gname, "unknown setting");
        if (!config_setting_is_group(g))
            return SFAIL(c, g, gname, "must be a group");
        for (int j = 0; j < config_setting_length(g); j++) {
            const config_setting_t *s = config_setting_get_elem(g, (unsigned)j);
            const cfg_key_t *k = find_key(gname, config_setting_name(s));
            snprintf(kname, sizeof(kname), "%.64s.%.64s", gname, config_setting_name(s));
            if (!k)
                return SFAIL(c, s, kname, "unknown setting");
            if (c->strict) {
                c->file[k - config_keys] =
                    config_setting_source_file(s) ? config_setting_source_file(s) : c->path;
                c->line[k - config_keys] = config_setting_source_line(s);
            }
            if (load_key(c, k, s, kname) != 0)
                return -1;
        }
    }
    return 0;
}

/* ---- whole-config rules ---- */

/* Errors name `what` (the systemd credential), or the server_secret_file
 * key with its place in the file when what is NULL. */
#define SECRET_FAIL(...)                                                                           \
    (what ? fail(c, NULL, 0, what, __VA_ARGS__)                                                    \
          : KFAIL(c, offsetof(config_t, server_secret_file), __VA_ARGS__))

static int read_secret_file(ctx_t *c, const char *path, const char *what)
{
    char buf[SECRET_FILE_MAX + 2], kbuf[96];
    size_t len = 0;
    ssize_t n;
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), rc = -1;

    /* The path is not echoed: a secret pasted here by mistake must not leak. */
    if (fd < 0)
        return SECRET_FAIL("cannot open: %s", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        SECRET_FAIL("not a regular file");
        goto out;
    }
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            SECRET_FAIL("cannot read: %s", strerror(errno));
            goto out;
        }
        len += (size_t)n;
    }
    if (len && buf[len - 1] == '\n')
        len--;
    if (len && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (len > SECRET_FILE_MAX || !len || memchr(buf, '\0', len)) {
        SECRET_FAIL("%s", !len                    ? "is empty"
                          : len > SECRET_FILE_MAX ? "is larger than 4096 bytes"
                                                  : "contains a NUL byte");
        goto out;
    }
    if (set_str(&c->cfg->server_secret, buf, 1) != 0) {
        SECRET_FAIL("out of memory");
        goto out;
    }
    c->cfg->secret_source = what ? "systemd credential" : "file";
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return rc;
}

#undef SECRET_FAIL

static int resolve_secret(ctx_t *c)
{
    config_t *cfg = c->cfg;
    const char *env = getenv(SECRET_ENV);
    char kbuf[96];

    if (cfg->server_secret[0] && cfg->server_secret_file[0])
        return KFAIL(c, offsetof(config_t, server_secret_file),
                     "cannot be set together with zim.server_secret");
    if (env && env[0]) {
        if (set_str(&cfg->server_secret, env, 1) != 0)
            return fail(c, NULL, 0, "zim.server_secret", "out of memory");
        cfg->secret_source = "env";
        return 0;
    }
    /* systemd's LoadCredential=zim-server-secret:… */
    const char *creds = getenv(CREDENTIALS_ENV);
    if (creds && creds[0]) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", creds, CREDENTIAL_NAME);
        if (access(path, F_OK) == 0) {
            return read_secret_file(c, path, "$" CREDENTIALS_ENV "/" CREDENTIAL_NAME);
        }
    }
    if (cfg->server_secret[0]) {
        cfg->secret_source = "config";
        return 0;
    }
    if (cfg->server_secret_file[0])
        return read_secret_file(c, cfg->server_secret_file, NULL);
    return fail(c, NULL, 0, "zim.server_secret",
                "required (or zim.server_secret_file, or env " SECRET_ENV ")");
}

static int strv_has(const config_strv_t *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return 1;
    return 0;
}

static int check_rules(ctx_t *c)
{
    config_t *cfg = c->cfg;
    const char *env = getenv(BROKERS_ENV);
    char kbuf[96], qb[80];

    for (size_t i = 0; i < NKEYS; i++)
        if ((config_keys[i].flags & F_REQUIRED) && !c->file[i])
            return fail(c, NULL, 0, key_name(i, kbuf), "required");
    if (env && env[0] && set_str(&cfg->brokers, env, 0) != 0)
        return fail(c, NULL, 0, "kafka.brokers", "out of memory");
    if (cfg->max_backoff_ms < cfg->initial_backoff_ms) {
        if (c->file[key_at(offsetof(config_t, max_backoff_ms))])
            return KFAIL(c, offsetof(config_t, max_backoff_ms),
                         "must be >= retry.initial_backoff_ms (%d)", cfg->initial_backoff_ms);
        return KFAIL(c, offsetof(config_t, initial_backoff_ms),
                     "must be <= retry.max_backoff_ms (%d)", cfg->max_backoff_ms);
    }
    if (strv_has(&cfg->input_topics, cfg->result_topic))
        return KFAIL(c, offsetof(config_t, result_topic), "\"%s\" is also an input topic",
                     q(qb, sizeof(qb), cfg->result_topic));
    if (cfg->dead_letter_topic[0] && (strv_has(&cfg->input_topics, cfg->dead_letter_topic) ||
                                      strcmp(cfg->dead_letter_topic, cfg->result_topic) == 0))
        return KFAIL(c, offsetof(config_t, dead_letter_topic),
                     "\"%s\" is also an input or the result topic",
                     q(qb, sizeof(qb), cfg->dead_letter_topic));
    if (cfg->events_format == CONFIG_FORMAT_AUTO && !cfg->registry_url[0])
        return fail(c, c->file[key_at(offsetof(config_t, events_format))],
                    c->line[key_at(offsetof(config_t, events_format))], "schema_registry.url",
                    "required when events.format = \"auto\"");
    for (size_t i = 0; i < cfg->friend_reset.match.n; i++) {
        const char *t = cfg->friend_reset.match.v[i];
        size_t at = c->file[key_at(offsetof(config_t, friend_reset))]
                        ? offsetof(config_t, friend_reset)
                        : offsetof(config_t, account_deleted);
        if (strv_has(&cfg->account_deleted.match, t))
            return KFAIL(c, at, "event type \"%s\" is also in another event class",
                         q(qb, sizeof(qb), t));
    }
    return resolve_secret(c);
}

/* ---- public: defaults, load, free ---- */

static void free_key(config_t *cfg, const cfg_key_t *k)
{
    if (k->type == KT_STR || k->type == KT_ENUM_STR) {
        if (k->flags & F_SECRET)
            wipe_free(*FIELD(cfg, k, char *));
        else
            free(*FIELD(cfg, k, char *));
    } else if (k->type == KT_STRV) {
        strv_free(FIELD(cfg, k, config_strv_t));
    } else if (k->type == KT_I64V) {
        free(*FIELD(cfg, k, int64_t *));
    } else if (k->type == KT_EVCLASS) {
        strv_free(&FIELD(cfg, k, config_event_class_t)->match);
    }
}

void config_free(config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        free_key(cfg, &config_keys[i]);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

int config_delete_type_parse(const char *s)
{
    return s ? choice_index(delete_names, s) : -1;
}

int config_defaults(config_t *cfg, char *errstr, size_t errstr_size)
{
    ctx_t c = {cfg, "defaults", errstr, errstr_size, 0, {NULL}, {0}};
    lc_config_t lc;
    char *text = NULL;
    size_t len = 0;
    FILE *out;
    int rc = -1;

    memset(cfg, 0, sizeof(*cfg));
    config_init(&lc);
    if (!(out = open_memstream(&text, &len))) {
        fail(&c, NULL, 0, "config", "out of memory");
        goto out;
    }
    config_write_defaults(out);
    if (fclose(out) != 0 || !text) {
        fail(&c, NULL, 0, "config", "out of memory");
        goto out;
    }
    if (!config_read_string(&lc, text)) {
        fail(&c, NULL, (unsigned)config_error_line(&lc), "config", "%s", config_error_text(&lc));
        goto out;
    }
    rc = load_tree(&c, config_root_setting(&lc));
out:
    config_destroy(&lc);
    free(text);
    if (rc != 0)
        config_free(cfg);
    return rc;
}

/* Overwrites inline credentials inside libconfig's tree before it is freed. */
static void wipe_tree_secret(lc_config_t *lc)
{
    char path[160];
    for (size_t i = 0; i < NKEYS; i++) {
        if (!(config_keys[i].flags & F_SECRET))
            continue;
        snprintf(path, sizeof(path), "%s.%s", config_keys[i].group, config_keys[i].name);
        config_setting_t *s = config_lookup(lc, path);
        if (s && config_setting_type(s) == CONFIG_TYPE_STRING && s->value.sval)
            OPENSSL_cleanse(s->value.sval, strlen(s->value.sval));
    }
}

int config_load(config_t *cfg, const char *path, char *errstr, size_t errstr_size)
{
    ctx_t c = {cfg, path ? path : "config", errstr, errstr_size, 1, {NULL}, {0}};
    lc_config_t lc;
    FILE *fp = NULL;
    char *dir = NULL, *slash;
    struct stat st;
    int rc = -1;

    if (config_defaults(cfg, errstr, errstr_size) != 0)
        return -1;
    config_init(&lc);
    if (!path || !(cfg->path = strdup(path)) || !(dir = strdup(path))) {
        fail(&c, NULL, 0, "config", "%s", path ? "out of memory" : "no file given");
        goto out;
    }
    if (!(fp = fopen(path, "r")) || fstat(fileno(fp), &st) != 0 || S_ISDIR(st.st_mode)) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s: cannot read: %s", path,
                     fp ? "is a directory" : strerror(errno));
        goto out;
    }
    /* @include paths are relative to the config file's directory. */
    if ((slash = strrchr(dir, '/')) != NULL)
        slash[slash == dir ? 1 : 0] = '\0';
    config_set_include_dir(&lc, slash ? dir : ".");
    if (!config_read(&lc, fp)) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s:%d: %s",
                     config_error_file(&lc) ? config_error_file(&lc) : path, config_error_line(&lc),
                     config_error_text(&lc));
        goto out;
    }
    if (load_tree(&c, config_root_setting(&lc)) != 0 || check_rules(&c) != 0)
        goto out;
    rc = 0;
out:
    wipe_tree_secret(&lc);
    config_destroy(&lc);
    if (fp)
        fclose(fp);
    free(dir);
    if (rc != 0)
        config_free(cfg);
    return rc;
}

int config_set_group(config_t *cfg, const char *group, char *errstr, size_t errstr_size)
{
    char *g = strdup(group);
    if (!g) {
        snprintf(errstr, errstr_size, "--group: out of memory");
        return -1;
    }
    free(cfg->group_id);
    cfg->group_id = g;
    return 0;
}
