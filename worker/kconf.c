/* kconf.c - librdkafka configurations (see kconf.h). */
#include "worker/kconf.h"

#include <stdio.h>
#include <string.h>

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kconf_ctx_t *ctx = rd_kafka_opaque(rk);
    log_level_t lv = level <= 3   ? LOG_ERROR
                     : level <= 4 ? LOG_WARN
                     : level <= 6 ? LOG_INFO
                                  : LOG_DEBUG;
    if (ctx)
        log_msg(ctx->log, lv, buf, "source", "librdkafka", "facility", fac, "client",
                rd_kafka_name(rk), NULL);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kconf_ctx_t *ctx = opaque;
    int fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    if (ctx)
        log_msg(ctx->log, fatal ? LOG_ERROR : LOG_WARN, "kafka client error", "client",
                rd_kafka_name(rk), "error", rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason",
                reason, NULL);
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *key,
               char *errstr, size_t errstr_size)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(errstr, errstr_size, "%s: %s=%s: %s", key, name, value, err);
    return -1;
}

/* Applies "name=value" properties; an error names file:line, the key, the
 * property (its value unless it is a credential) and librdkafka's reason. */
static int apply(rd_kafka_conf_t *conf, const config_t *cfg, const config_strv_t *props,
                 const char *key, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < props->n; i++) {
        const char *eq = strchr(props->v[i], '=');
        char name[256], where[300] = "", err[512];
        if (props->line && props->line[i] > 0)
            snprintf(where, sizeof(where), "%s:%d: ", cfg->path, props->line[i]);
        if (!eq || eq == props->v[i] || (size_t)(eq - props->v[i]) >= sizeof(name)) {
            snprintf(errstr, errstr_size, "%s%s: entry %zu: expected \"name=value\"", where, key,
                     i + 1);
            return -1;
        }
        memcpy(name, props->v[i], (size_t)(eq - props->v[i]));
        name[eq - props->v[i]] = '\0';
        if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof(err)) == RD_KAFKA_CONF_OK)
            continue;
        if (config_prop_sensitive(props->v[i]))
            snprintf(errstr, errstr_size, "%s%s: %s=***: %s", where, key, name, err);
        else
            snprintf(errstr, errstr_size, "%s%s: %s: %s", where, key, props->v[i], err);
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *base(const config_t *cfg, kconf_ctx_t *ctx)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return NULL;
    if (ctx) {
        rd_kafka_conf_set_opaque(conf, ctx);
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
    }
    (void)cfg;
    return conf;
}

rd_kafka_conf_t *kconf_consumer(const config_t *cfg, int dry_run, kconf_ctx_t *ctx, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_conf_t *conf = base(cfg, ctx);
    if (!conf) {
        snprintf(errstr, errstr_size, "kafka: out of memory");
        return NULL;
    }
    /* Defaults the user may change. Memory stays bounded: librdkafka's
     * prefetch queue is capped in bytes, the worker's own queue is bounded
     * too. Not in messages: librdkafka 2.0.2 stops fetching when its queue
     * holds queued.min.messages and looks again only on its next wake-up,
     * up to a second later, even when the worker has taken them all at
     * once. At 1000 a dry run or a stream of events that finish at once
     * read 1000 events per partition per second; the count limit is
     * therefore librdkafka's default, which the 16 MiB reach first for
     * events of more than about 170 bytes. */
    if (set(conf, "bootstrap.servers", cfg->brokers, "kafka.brokers", errstr, errstr_size) ||
        set(conf, "group.id", cfg->group_id, "kafka.group_id", errstr, errstr_size) ||
        set(conf, "client.id", "zim-unfriend", "kafka", errstr, errstr_size) ||
        set(conf, "partition.assignment.strategy", "cooperative-sticky", "kafka", errstr,
            errstr_size) ||
        set(conf, "auto.offset.reset", "earliest", "kafka", errstr, errstr_size) ||
        set(conf, "queued.max.messages.kbytes", "16384", "kafka", errstr, errstr_size) ||
        set(conf, "queued.min.messages", "100000", "kafka", errstr, errstr_size) ||
        /* Commit stored offsets every second: after a crash the worker
         * repeats the events published since the last commit (librdkafka's
         * default is 5 s, about a hundred events at full rate; 1 s is at most
         * 20). Unchanged offsets are not committed again, so an idle worker
         * sends nothing. Shorter costs idle CPU: librdkafka 2.0.2's main
         * thread spins for up to a millisecond before each timer it runs, and
         * this timer is its most frequent one (200 ms: 0.5% of a core idle,
         * 1 s: 0.2%). */
        set(conf, "auto.commit.interval.ms", "1000", "kafka", errstr, errstr_size) ||
        apply(conf, cfg, &cfg->consumer_props, "kafka.consumer", errstr, errstr_size))
        goto fail;
    /* What the guarantees rest on, after the user's properties. */
    if (set(conf, "enable.auto.offset.store", "false", "kafka", errstr, errstr_size) ||
        set(conf, "enable.auto.commit", dry_run ? "false" : "true", "kafka", errstr, errstr_size) ||
        /* End-of-partition events end a replay (--until-end) and tell the
         * consumer lag of a partition with nothing to consume. */
        set(conf, "enable.partition.eof", "true", "kafka", errstr, errstr_size))
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_conf_t *kconf_producer(const config_t *cfg, kconf_ctx_t *ctx, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_conf_t *conf = base(cfg, ctx);
    if (!conf) {
        snprintf(errstr, errstr_size, "kafka: out of memory");
        return NULL;
    }
    if (set(conf, "bootstrap.servers", cfg->brokers, "kafka.brokers", errstr, errstr_size) ||
        set(conf, "client.id", "zim-unfriend", "kafka", errstr, errstr_size) ||
        set(conf, "linger.ms", "5", "kafka", errstr, errstr_size) ||
        /* DLQ copies are byte-exact copies of whatever the input held. */
        set(conf, "message.max.bytes", "16777216", "kafka", errstr, errstr_size) ||
        apply(conf, cfg, &cfg->producer_props, "kafka.producer", errstr, errstr_size))
        goto fail;
    if (set(conf, "enable.idempotence", "true", "kafka", errstr, errstr_size) ||
        set(conf, "acks", "all", "kafka", errstr, errstr_size))
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int kconf_validate(const config_t *cfg, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *c = kconf_consumer(cfg, 0, NULL, errstr, errstr_size);
    if (!c)
        return -1;
    rd_kafka_conf_destroy(c);
    c = kconf_producer(cfg, NULL, errstr, errstr_size);
    if (!c)
        return -1;
    rd_kafka_conf_destroy(c);
    return 0;
}
