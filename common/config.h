/* config.h - the worker's configuration: one table, one loader.
 *
 * Every key of the configuration (docs/contract.md) (name, type, default, range, help)
 * lives in one table in config.c; the loader, the defaults, the example
 * config (config_write_example) and --check-config output (config_print)
 * all come from it. Unknown keys, wrong types and out-of-range values are
 * errors naming "file:line: group.key: reason".
 *
 * Environment: ZIM_SERVER_SECRET wins over zim.server_secret and
 * zim.server_secret_file; KAFKA_BROKERS overrides kafka.brokers.
 * (ZIM_UNFRIEND_CONFIG, the file path, is main.c's business.)
 *
 * Ownership: config_t and every string/array in it belong to the config;
 * config_free() releases them and wipes the secret. Not thread-aware: load
 * once at start-up, then read only. */
#ifndef ZU_CONFIG_H
#define ZU_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct config_strv {
    char **v;
    size_t n;
    int *line; /* source line of each entry; 0 = a default (NULL when empty) */
} config_strv_t;

typedef struct config_event_class {
    config_strv_t match; /* event type strings */
    int delete_type;     /* 0 two-way, 1 one-way */
} config_event_class_t;

typedef enum { CONFIG_SHARE_PARTITIONS = 0, CONFIG_SHARE_NONE = 1 } config_share_t;
typedef enum { CONFIG_UNKNOWN_IGNORE = 0, CONFIG_UNKNOWN_FAIL = 1 } config_unknown_t;
/* events.format: plain JSON only, or Schema Registry framing recognised too. */
typedef enum { CONFIG_FORMAT_JSON = 0, CONFIG_FORMAT_AUTO = 1 } config_format_t;

typedef struct config {
    char *path; /* the file loaded */

    /* kafka */
    char *brokers;
    char *group_id;
    config_strv_t input_topics; /* at least one */
    char *result_topic;
    char *dead_letter_topic;      /* "" = none */
    config_strv_t consumer_props; /* "name=value" */
    config_strv_t producer_props;

    /* zim */
    char *endpoint;
    uint32_t app_id;
    char *server_secret; /* resolved: env, inline, or file (trailing newline cut) */
    char *server_secret_file;
    const char *secret_source; /* "env", "systemd credential", "file", "config" */
    double rate_limit_qps;
    config_share_t rate_limit_share;
    int request_timeout_ms;
    int connect_timeout_ms;
    int64_t *success_codes;
    size_t success_codes_cnt;
    char *ca_file;

    /* retry */
    int max_attempts;
    int initial_backoff_ms;
    int max_backoff_ms;

    /* worker */
    int max_in_flight;
    int max_pending_bytes;
    int max_run_ahead;
    int coalesce;
    int shutdown_grace_ms;

    /* redrive */
    config_strv_t redrive_error_classes; /* failure classes --redrive processes again */

    /* events */
    config_event_class_t account_deleted;
    config_event_class_t friend_reset;
    config_unknown_t unknown_types;
    config_format_t events_format;

    /* schema_registry (used with events.format = "auto") */
    char *registry_url;        /* "" = none */
    char *registry_user_info;  /* "user:password", a credential; "" = none */
    char *registry_ca_file;    /* "" = system store only */
    int registry_cache_ttl_ms; /* when an unknown id (404) is asked again */
    int registry_request_timeout_ms;

    /* observability */
    char *listen;     /* "" = off, else "host:port" */
    char *log_format; /* "json" | "text" */
    char *log_level;  /* "error" | "warn" | "info" | "debug" */
    int redact_user_ids;
} config_t;

/* Fills *cfg with the table's defaults (no file). 0 ok, -1 on allocation. */
int config_defaults(config_t *cfg, char *errstr, size_t errstr_size);

/* Loads path over the defaults, applies the environment, validates. On
 * error *cfg is left freed/zeroed and errstr names file:line: key: reason.
 * 0 ok, -1 error. */
int config_load(config_t *cfg, const char *path, char *errstr, size_t errstr_size);

/* Replaces kafka.group_id (the --group option). 0 ok, -1 with errstr. */
int config_set_group(config_t *cfg, const char *group, char *errstr, size_t errstr_size);

/* Releases everything (wipes the secret). Accepts a zeroed config. */
void config_free(config_t *cfg);

/* Prints the effective configuration in libconfig syntax, the secret shown
 * as "***" (and its source), every other credential as "***". Never prints
 * a credential. */
void config_print(const config_t *cfg, FILE *out);

/* Writes a complete example config with every key, its default and help,
 * generated from the table. */
void config_write_example(FILE *out);

/* 1 when a "name=value" librdkafka property holds a credential (its name
 * mentions a password, secret, token, key, PEM, JAAS or OAUTHBEARER
 * config): its value is never printed or echoed in an error. */
int config_prop_sensitive(const char *prop);

/* Parses "two-way"/"one-way" into 0/1. -1 when neither. */
int config_delete_type_parse(const char *s);

#endif
