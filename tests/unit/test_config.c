/* test_config.c - common/config: every key, defaults, every error class,
 * the printed config reloading, and the committed example file. The secret,
 * environment overrides and credential masking are in test_config_secret.c. */
#include "common/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/config_fixture.h"
#include "tests/unit/tt.h"

static int strv_eq(const config_strv_t *a, const config_strv_t *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return 0;
    return 1;
}

/* The first field that differs, or NULL. With skip_required, the keys the
 * example sets (topics, app_id) and the secret are not compared. */
static const char *config_diff(const config_t *a, const config_t *b, int skip_required)
{
#define S(f)                                                                                       \
    if (strcmp(a->f, b->f) != 0)                                                                   \
    return #f
#define I(f)                                                                                       \
    if (a->f != b->f)                                                                              \
    return #f
    S(brokers);
    S(group_id);
    if (!skip_required && !strv_eq(&a->input_topics, &b->input_topics))
        return "input_topics";
    if (!skip_required && strcmp(a->result_topic, b->result_topic) != 0)
        return "result_topic";
    S(dead_letter_topic);
    if (!strv_eq(&a->consumer_props, &b->consumer_props))
        return "consumer_props";
    if (!strv_eq(&a->producer_props, &b->producer_props))
        return "producer_props";
    S(endpoint);
    if (!skip_required && a->app_id != b->app_id)
        return "app_id";
    S(server_secret_file);
    I(rate_limit_qps);
    I(rate_limit_share);
    I(request_timeout_ms);
    I(connect_timeout_ms);
    I(success_codes_cnt);
    for (size_t i = 0; i < a->success_codes_cnt; i++)
        I(success_codes[i]);
    S(ca_file);
    I(max_attempts);
    I(initial_backoff_ms);
    I(max_backoff_ms);
    I(max_in_flight);
    I(shutdown_grace_ms);
    if (!strv_eq(&a->account_deleted.match, &b->account_deleted.match))
        return "account_deleted.match";
    I(account_deleted.delete_type);
    if (!strv_eq(&a->friend_reset.match, &b->friend_reset.match))
        return "friend_reset.match";
    I(friend_reset.delete_type);
    I(unknown_types);
    I(events_format);
    S(registry_url);
    S(registry_ca_file);
    I(registry_cache_ttl_ms);
    I(registry_request_timeout_ms);
    S(listen);
    S(log_format);
    S(log_level);
    I(redact_user_ids);
    return NULL;
#undef S
#undef I
}

static void test_defaults(void)
{
    config_t c;
    char err[256] = "";
    TT_EQ_INT(config_defaults(&c, err, sizeof(err)), 0);
    TT_EQ_STR(c.brokers, "localhost:9092");
    TT_EQ_STR(c.group_id, "zim-unfriend");
    TT_EQ_INT(c.input_topics.n, 0);
    TT_EQ_STR(c.result_topic, "");
    TT_EQ_STR(c.dead_letter_topic, "");
    TT_EQ_INT(c.consumer_props.n, 0);
    TT_EQ_INT(c.producer_props.n, 0);
    TT_EQ_STR(c.endpoint, "https://zim-api.zego.im/");
    TT_EQ_INT(c.app_id, 0);
    TT_EQ_STR(c.server_secret, "");
    TT_EQ_STR(c.server_secret_file, "");
    TT_CHECK(c.secret_source == NULL);
    TT_CHECK(c.rate_limit_qps == 20.0);
    TT_EQ_INT(c.rate_limit_share, CONFIG_SHARE_PARTITIONS);
    TT_EQ_INT(c.request_timeout_ms, 5000);
    TT_EQ_INT(c.connect_timeout_ms, 3000);
    TT_EQ_INT(c.success_codes_cnt, 1);
    TT_EQ_INT(c.success_codes[0], 0);
    TT_EQ_STR(c.ca_file, "");
    TT_EQ_INT(c.max_attempts, 8);
    TT_EQ_INT(c.initial_backoff_ms, 250);
    TT_EQ_INT(c.max_backoff_ms, 30000);
    TT_EQ_INT(c.max_in_flight, 64);
    TT_EQ_INT(c.shutdown_grace_ms, 15000);
    TT_EQ_INT(c.account_deleted.match.n, 1);
    TT_EQ_STR(c.account_deleted.match.v[0], "account-deleted");
    TT_EQ_INT(c.account_deleted.delete_type, 0);
    TT_EQ_INT(c.friend_reset.match.n, 1);
    TT_EQ_STR(c.friend_reset.match.v[0], "friend-reset");
    TT_EQ_INT(c.friend_reset.delete_type, 0);
    TT_EQ_INT(c.unknown_types, CONFIG_UNKNOWN_IGNORE);
    TT_EQ_STR(c.listen, "");
    TT_EQ_STR(c.log_format, "json");
    TT_EQ_STR(c.log_level, "info");
    TT_EQ_INT(c.redact_user_ids, 0);
    TT_CHECK(c.path == NULL);
    config_free(&c);
    TT_CHECK(c.brokers == NULL && c.success_codes == NULL);
    config_free(&c); /* a zeroed config */
    config_free(NULL);
}

static const char full_cfg[] =
    "kafka: {\n"
    "  brokers = \"k1:9092,k2:9092\";\n"
    "  group_id = \"g1\";\n"
    "  input_topics = [ \"in-a\", \"in-b\", \"in-c.x\" ];\n"
    "  result_topic = \"results\";\n"
    "  dead_letter_topic = \"dlq\";\n"
    "  consumer = [ \"session.timeout.ms=6000\", \"heartbeat.interval.ms=500\" ];\n"
    "  producer = ( \"linger.ms=10\" );\n"
    "};\n"
    "zim: {\n"
    "  endpoint = \"http://127.0.0.1:8080/api\";\n"
    "  app_id = 3000000000L;\n"
    "  server_secret = \"inline-secret-0001\";\n"
    "  server_secret_file = \"\";\n"
    "  rate_limit_qps = 12.5;\n"
    "  rate_limit_share = \"none\";\n"
    "  request_timeout_ms = 7000;\n"
    "  connect_timeout_ms = 1500;\n"
    "  success_codes = [ 0, 660000002 ];\n"
    "  ca_file = \"/dev/null\";\n"
    "};\n"
    "retry: { max_attempts = 3; initial_backoff_ms = 100; max_backoff_ms = 2000; };\n"
    "worker: { max_in_flight = 16; shutdown_grace_ms = 0; };\n"
    "events: {\n"
    "  account_deleted: { match = [ \"user.deleted\", \"account-erased\" ];\n"
    "                     delete_type = \"one-way\"; };\n"
    "  friend_reset = { match = [ ]; delete_type = \"one-way\"; };\n"
    "  unknown_types = \"fail\";\n"
    "  format = \"auto\";\n"
    "};\n"
    "schema_registry: { url = \"http://127.0.0.1:8081/registry\";\n"
    "  basic_auth_user_info = \"reg-user:reg-pass-0001\"; ca_file = \"/dev/null\";\n"
    "  cache_ttl_ms = 1000; request_timeout_ms = 2500; };\n"
    "observability: { listen = \"127.0.0.1:9464\"; log_format = \"text\";\n"
    "                 log_level = \"debug\"; redact_user_ids = true; };\n";

static void check_full(const config_t *c)
{
    TT_EQ_STR(c->brokers, "k1:9092,k2:9092");
    TT_EQ_STR(c->group_id, "g1");
    TT_EQ_INT(c->input_topics.n, 3);
    if (c->input_topics.n == 3) {
        TT_EQ_STR(c->input_topics.v[0], "in-a");
        TT_EQ_STR(c->input_topics.v[1], "in-b");
        TT_EQ_STR(c->input_topics.v[2], "in-c.x");
    }
    TT_EQ_STR(c->result_topic, "results");
    TT_EQ_STR(c->dead_letter_topic, "dlq");
    TT_EQ_INT(c->consumer_props.n, 2);
    if (c->consumer_props.n == 2) {
        TT_EQ_STR(c->consumer_props.v[0], "session.timeout.ms=6000");
        TT_EQ_STR(c->consumer_props.v[1], "heartbeat.interval.ms=500");
    }
    TT_EQ_INT(c->producer_props.n, 1);
    if (c->producer_props.n == 1)
        TT_EQ_STR(c->producer_props.v[0], "linger.ms=10");
    TT_EQ_STR(c->endpoint, "http://127.0.0.1:8080/api");
    TT_CHECK(c->app_id == 3000000000u);
    TT_EQ_STR(c->server_secret, "inline-secret-0001");
    TT_EQ_STR(c->secret_source, "config");
    TT_EQ_STR(c->server_secret_file, "");
    TT_CHECK(c->rate_limit_qps == 12.5);
    TT_EQ_INT(c->rate_limit_share, CONFIG_SHARE_NONE);
    TT_EQ_INT(c->request_timeout_ms, 7000);
    TT_EQ_INT(c->connect_timeout_ms, 1500);
    TT_EQ_INT(c->success_codes_cnt, 2);
    if (c->success_codes_cnt == 2) {
        TT_EQ_INT(c->success_codes[0], 0);
        TT_EQ_INT(c->success_codes[1], 660000002);
    }
    TT_EQ_STR(c->ca_file, "/dev/null");
    TT_EQ_INT(c->max_attempts, 3);
    TT_EQ_INT(c->initial_backoff_ms, 100);
    TT_EQ_INT(c->max_backoff_ms, 2000);
    TT_EQ_INT(c->max_in_flight, 16);
    TT_EQ_INT(c->shutdown_grace_ms, 0);
    TT_EQ_INT(c->account_deleted.match.n, 2);
    if (c->account_deleted.match.n == 2) {
        TT_EQ_STR(c->account_deleted.match.v[0], "user.deleted");
        TT_EQ_STR(c->account_deleted.match.v[1], "account-erased");
    }
    TT_EQ_INT(c->account_deleted.delete_type, 1);
    TT_EQ_INT(c->friend_reset.match.n, 0);
    TT_EQ_INT(c->friend_reset.delete_type, 1);
    TT_EQ_INT(c->unknown_types, CONFIG_UNKNOWN_FAIL);
    TT_EQ_INT(c->events_format, CONFIG_FORMAT_AUTO);
    TT_EQ_STR(c->registry_url, "http://127.0.0.1:8081/registry");
    TT_EQ_STR(c->registry_user_info, "reg-user:reg-pass-0001");
    TT_EQ_STR(c->registry_ca_file, "/dev/null");
    TT_EQ_INT(c->registry_cache_ttl_ms, 1000);
    TT_EQ_INT(c->registry_request_timeout_ms, 2500);
    TT_EQ_STR(c->listen, "127.0.0.1:9464");
    TT_EQ_STR(c->log_format, "text");
    TT_EQ_STR(c->log_level, "debug");
    TT_EQ_INT(c->redact_user_ids, 1);
}

static void test_every_key(void)
{
    config_t c;
    char err[512] = "";
    const char *path = put_file("full.cfg", full_cfg);
    TT_EQ_INT(config_load(&c, path, err, sizeof(err)), 0);
    TT_EQ_STR(err, "");
    TT_EQ_STR(c.path, path);
    check_full(&c);

    /* The printed config reads back as the same config, secret masked. */
    char *printed = print_to_string(&c);
    TT_CHECK(strstr(printed, "inline-secret-0001") == NULL);
    TT_CHECK(strstr(printed, "reg-pass-0001") == NULL && strstr(printed, "reg-user") == NULL);
    TT_CHECK(strstr(printed, "  basic_auth_user_info = \"***\";\n") != NULL);
    TT_CHECK(strstr(printed, "  format = \"auto\";\n") != NULL);
    TT_CHECK(strstr(printed, "  server_secret = \"***\"; # from zim.server_secret\n") != NULL);
    TT_CHECK(strstr(printed, "  app_id = 3000000000L;\n") != NULL);
    TT_CHECK(strstr(printed, "  rate_limit_qps = 12.5;\n") != NULL);
    config_t r;
    TT_EQ_INT(config_load(&r, put_file("printed.cfg", printed), err, sizeof(err)), 0);
    TT_CHECK(config_diff(&c, &r, 0) == NULL);
    TT_EQ_STR(r.server_secret, "***");
    config_free(&r);
    free(printed);
    config_free(&c);
}

/* The minimal valid file, line 1 kafka, line 2 zim, then `rest` from line 3;
 * kafka_x and zim_x go inside their groups. */
static void test_file_errors(void)
{
    config_t c;
    char err[512], exp[256];
    snprintf(exp, sizeof(exp), "%s/missing.cfg: cannot read: No such file or directory", dir);
    char path[128];
    snprintf(path, sizeof(path), "%s/missing.cfg", dir);
    TT_EQ_INT(config_load(&c, path, err, sizeof(err)), -1);
    TT_EQ_STR(err, exp);
    snprintf(exp, sizeof(exp), "%s: cannot read: is a directory", dir);
    TT_EQ_INT(config_load(&c, dir, err, sizeof(err)), -1);
    TT_EQ_STR(err, exp);
    TT_EQ_INT(config_load(&c, NULL, err, sizeof(err)), -1);
    TT_EQ_STR(err, "config: config: no file given");
    TT_EQ_INT(config_load(&c, NULL, NULL, 0), -1); /* no errstr: no crash */

    EXPECT_ERR("kafka: {\n  input_topics = [ \"in\" ];\n  result_topic = ;\n};\n",
               ":3: syntax error");
    EXPECT_ERR(mini("", "", "retry: { max_attempts = 1; };\nretry: { };\n"),
               ":4: duplicate setting name");
    EXPECT_ERR(mini("", "", "worker: { max_in_flight = [ 1, \"x\" ]; };\n"),
               ":3: mismatched element type in array");
}

static void test_unknown(void)
{
    EXPECT_ERR(mini("", "", "foo: { a = 1; };\n"), ":3: foo: unknown setting");
    EXPECT_ERR(mini("", "", "bar = 1;\n"), ":3: bar: unknown setting");
    EXPECT_ERR(mini("", "", "retry = 1;\n"), ":3: retry: must be a group");
    EXPECT_ERR(mini("topic = \"x\";", "", ""), ":1: kafka.topic: unknown setting");
    EXPECT_ERR(mini("", "", "\n\nobservability: { listen = \"\"; log_levels = \"info\"; };\n"),
               ":5: observability.log_levels: unknown setting");
    EXPECT_ERR(
        mini("", "", "events: {\n  account_deleted: { match = [ \"a\" ];\n    foo = 1; };\n};\n"),
        ":5: events.account_deleted.foo: unknown setting");
    EXPECT_ERR(mini("", "", "events: { friend_reset = \"x\"; };\n"),
               ":3: events.friend_reset: must be a group { match = [ ... ]; delete_type = "
               "\"...\"; }");
    EXPECT_ERR(mini("", "", "events: { friend_reset: { delete_type = \"both\"; }; };\n"),
               ":3: events.friend_reset.delete_type: must be one of \"two-way\" | \"one-way\" "
               "(not \"both\")");
    EXPECT_ERR(mini("", "", "events: { friend_reset: { delete_type = 1; }; };\n"),
               ":3: events.friend_reset.delete_type: must be a string");
    EXPECT_ERR(mini("", "", "events: { friend_reset: { match = \"x\"; }; };\n"),
               ":3: events.friend_reset.match: must be a list of strings");
    EXPECT_ERR(mini("", "", "events: { friend_reset: { match = [ \"\" ]; }; };\n"),
               ":3: events.friend_reset.match: entries must not be empty");
    EXPECT_ERR(mini("", "", "events: { friend_reset: { match = [ \"a\", \"a\" ]; }; };\n"),
               ":3: events.friend_reset.match: duplicate entry \"a\"");
    EXPECT_ERR(mini("", "", "events: { friend_reset: { match = [ \"account-deleted\" ]; }; };\n"),
               ":3: events.friend_reset: event type \"account-deleted\" is also in another event "
               "class");
    EXPECT_ERR(mini("", "", "events: {\n account_deleted: { match = [ \"friend-reset\" ]; }; };\n"),
               ":4: events.account_deleted: event type \"friend-reset\" is also in another event "
               "class");
}

static void test_types(void)
{
    EXPECT_ERR(mini("", "request_timeout_ms = \"5000\";", ""),
               ":2: zim.request_timeout_ms: must be an integer");
    EXPECT_ERR(mini("", "", "worker: { max_in_flight = 1.5; };\n"),
               ":3: worker.max_in_flight: must be an integer");
    EXPECT_ERR(mini("", "rate_limit_qps = \"20\";", ""),
               ":2: zim.rate_limit_qps: must be a number");
    EXPECT_ERR(mini("", "rate_limit_qps = true;", ""), ":2: zim.rate_limit_qps: must be a number");
    EXPECT_ERR(mini("", "", "observability: { redact_user_ids = 1; };\n"),
               ":3: observability.redact_user_ids: must be true or false");
    EXPECT_ERR(mini("brokers = 1;", "", ""), ":1: kafka.brokers: must be a string");
    EXPECT_ERR(mini("consumer = \"a=b\";", "", ""),
               ":1: kafka.consumer: must be a list of strings");
    EXPECT_ERR(mini("producer = [ 1 ];", "", ""), ":1: kafka.producer: must be a list of strings");
    EXPECT_ERR(mini("", "success_codes = [ \"0\" ];", ""),
               ":2: zim.success_codes: must be a list of integers");
    EXPECT_ERR(mini("", "success_codes = 0;", ""),
               ":2: zim.success_codes: must be a list of integers");
    EXPECT_ERR(mini("", "success_codes = ( 0, 1.5 );", ""),
               ":2: zim.success_codes: must be a list of integers");
    EXPECT_ERR(mini("", "rate_limit_share = 0;", ""), ":2: zim.rate_limit_share: must be a string");
    EXPECT_ERR(mini("", "server_secret_file = 7;", ""),
               ":2: zim.server_secret_file: must be a string");

    /* A libconfig integer where a float is expected is fine. */
    config_t c;
    if (load_ok(mini("", "rate_limit_qps = 20;", ""), &c, __LINE__) == 0) {
        TT_CHECK(c.rate_limit_qps == 20.0);
        config_free(&c);
    }
    if (load_ok(mini("", "rate_limit_qps = 7L;", ""), &c, __LINE__) == 0) {
        TT_CHECK(c.rate_limit_qps == 7.0);
        config_free(&c);
    }
    /* Wide integers, hex, and a list of 64-bit codes. */
    if (load_ok(mini("", "success_codes = [ 0L, 5000000000L ]; request_timeout_ms = 0x10;", ""), &c,
                __LINE__) == 0) {
        TT_EQ_INT(c.success_codes_cnt, 2);
        TT_CHECK(c.success_codes[1] == 5000000000LL);
        TT_EQ_INT(c.request_timeout_ms, 16);
        char *p = print_to_string(&c);
        TT_CHECK(strstr(p, "success_codes = [ 0L, 5000000000L ];") != NULL);
        free(p);
        config_free(&c);
    }
}

static void test_ranges(void)
{
    const char *q = ":2: zim.rate_limit_qps: must be > 0 and <= 100000";
    EXPECT_ERR(mini("", "rate_limit_qps = 0.0;", ""), q);
    EXPECT_ERR(mini("", "rate_limit_qps = -1;", ""), q);
    EXPECT_ERR(mini("", "rate_limit_qps = 100000.5;", ""), q);
    EXPECT_ERR(mini("", "rate_limit_qps = 1e400;", ""), q);
    EXPECT_OK(mini("", "rate_limit_qps = 100000;", ""));
    EXPECT_OK(mini("", "rate_limit_qps = 0.001;", ""));
    EXPECT_ERR(mini("", "request_timeout_ms = 0;", ""),
               ":2: zim.request_timeout_ms: must be between 1 and 600000");
    EXPECT_ERR(mini("", "request_timeout_ms = 600001;", ""),
               ":2: zim.request_timeout_ms: must be between 1 and 600000");
    EXPECT_ERR(mini("", "request_timeout_ms = 5000000000L;", ""),
               ":2: zim.request_timeout_ms: must be between 1 and 600000");
    EXPECT_ERR(mini("", "connect_timeout_ms = 600001;", ""),
               ":2: zim.connect_timeout_ms: must be between 1 and 600000");
    EXPECT_ERR(mini("", "", "retry: { max_attempts = 0; };\n"),
               ":3: retry.max_attempts: must be between 1 and 1000");
    EXPECT_ERR(mini("", "", "retry: { max_attempts = 1001; };\n"),
               ":3: retry.max_attempts: must be between 1 and 1000");
    EXPECT_ERR(mini("", "", "retry: { initial_backoff_ms = 0; };\n"),
               ":3: retry.initial_backoff_ms: must be between 1 and 3600000");
    EXPECT_ERR(mini("", "", "retry: { max_backoff_ms = 3600001; };\n"),
               ":3: retry.max_backoff_ms: must be between 1 and 3600000");
    EXPECT_ERR(mini("", "", "worker: { max_in_flight = 10001; };\n"),
               ":3: worker.max_in_flight: must be between 1 and 10000");
    EXPECT_ERR(mini("", "", "worker: { max_in_flight = 0; };\n"),
               ":3: worker.max_in_flight: must be between 1 and 10000");
    EXPECT_ERR(mini("", "", "worker: { shutdown_grace_ms = -1; };\n"),
               ":3: worker.shutdown_grace_ms: must be between 0 and 3600000");
    EXPECT_ERR(mini("", "", "worker: { shutdown_grace_ms = 3600001; };\n"),
               ":3: worker.shutdown_grace_ms: must be between 0 and 3600000");
    EXPECT_ERR("kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n"
               "zim: { server_secret = \"s\";\n app_id = 0; };\n",
               ":3: zim.app_id: must be between 1 and 4294967295");
    EXPECT_ERR("kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n"
               "zim: { server_secret = \"s\";\n app_id = 4294967296L; };\n",
               ":3: zim.app_id: must be between 1 and 4294967295");
    EXPECT_ERR("kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n"
               "zim: { server_secret = \"s\";\n app_id = -5; };\n",
               ":3: zim.app_id: must be between 1 and 4294967295 (write values above 2147483647 "
               "with an L suffix)");
    config_t c;
    if (load_ok("kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n"
                "zim: { server_secret = \"s\"; app_id = 4294967295L; };\n",
                &c, __LINE__) == 0) {
        TT_CHECK(c.app_id == 4294967295u);
        config_free(&c);
    }
    /* Backoff order, reported where it was set. */
    EXPECT_ERR(mini("", "", "retry: {\n initial_backoff_ms = 5000;\n max_backoff_ms = 1000; };\n"),
               ":5: retry.max_backoff_ms: must be >= retry.initial_backoff_ms (5000)");
    EXPECT_ERR(mini("", "", "retry: {\n initial_backoff_ms = 60000; };\n"),
               ":4: retry.initial_backoff_ms: must be <= retry.max_backoff_ms (30000)");
    EXPECT_OK(mini("", "", "retry: { initial_backoff_ms = 700; max_backoff_ms = 700; };\n"));
    EXPECT_ERR(mini("", "success_codes = [ ];", ""), ":2: zim.success_codes: must not be empty");
}

static void test_enums(void)
{
    EXPECT_ERR(mini("", "rate_limit_share = \"all\";", ""),
               ":2: zim.rate_limit_share: must be one of \"partitions\" | \"none\" (not \"all\")");
    EXPECT_ERR(mini("", "", "events: { unknown_types = \"drop\"; };\n"),
               ":3: events.unknown_types: must be one of \"ignore\" | \"fail\" (not \"drop\")");
    EXPECT_ERR(mini("", "", "observability: { log_format = \"xml\"; };\n"),
               ":3: observability.log_format: must be one of \"json\" | \"text\" (not \"xml\")");
    EXPECT_ERR(mini("", "", "observability: { log_level = \"INFO\"; };\n"),
               ":3: observability.log_level: must be one of \"error\" | \"warn\" | \"info\" | "
               "\"debug\" (not \"INFO\")");
    EXPECT_ERR(mini("", "", "observability: { log_level = \"a\\nb\"; };\n"),
               ":3: observability.log_level: must be one of \"error\" | \"warn\" | \"info\" | "
               "\"debug\" (not \"a?b\")");
    TT_EQ_INT(config_delete_type_parse("two-way"), 0);
    TT_EQ_INT(config_delete_type_parse("one-way"), 1);
    TT_EQ_INT(config_delete_type_parse("Two-Way"), -1);
    TT_EQ_INT(config_delete_type_parse(""), -1);
    TT_EQ_INT(config_delete_type_parse(NULL), -1);
}

static void test_strings(void)
{
    const char *np = "\" is not \"name=value\" with a property name";
    char exp[160];
    snprintf(exp, sizeof(exp), ":1: kafka.consumer: \"novalue%s", np);
    EXPECT_ERR(mini("consumer = [ \"a=1\", \"novalue\" ];", "", ""), exp);
    snprintf(exp, sizeof(exp), ":1: kafka.producer: \"=x%s", np);
    EXPECT_ERR(mini("producer = [ \"=x\" ];", "", ""), exp);
    snprintf(exp, sizeof(exp), ":1: kafka.producer: \"a b=1%s", np);
    EXPECT_ERR(mini("producer = [ \"a b=1\" ];", "", ""), exp);
    EXPECT_ERR(mini("producer = [ \"\" ];", "", ""),
               ":1: kafka.producer: entries must not be empty");
    EXPECT_OK(mini("producer = [ \"client.id=\" ];", "", ""));
    /* Properties with a key of their own would win over --group and
     * KAFKA_BROKERS. */
    EXPECT_ERR(mini("consumer = [ \"group.id=zim-unfriend\" ];", "", ""),
               ":1: kafka.consumer: \"group.id\" is not allowed here: set kafka.group_id (or "
               "--group) instead");
    EXPECT_ERR(mini("producer = [ \"bootstrap.servers=b:9092\" ];", "", ""),
               ":1: kafka.producer: \"bootstrap.servers\" is not allowed here: set kafka.brokers "
               "(or KAFKA_BROKERS) instead");
    EXPECT_ERR(mini("consumer = [ \"metadata.broker.list=b:9092\" ];", "", ""),
               ":1: kafka.consumer: \"metadata.broker.list\" is not allowed here: set "
               "kafka.brokers (or KAFKA_BROKERS) instead");
    EXPECT_OK(mini("consumer = [ \"group.id.x=1\", \"group.instance.id=r1\" ];", "", ""));

    const char *ep = ":2: zim.endpoint: \"";
    snprintf(exp, sizeof(exp), "%sftp://x/\" must start with http:// or https:// and a host", ep);
    EXPECT_ERR(mini("", "endpoint = \"ftp://x/\";", ""), exp);
    snprintf(exp, sizeof(exp), "%shttps://\" must start with http:// or https:// and a host", ep);
    EXPECT_ERR(mini("", "endpoint = \"https://\";", ""), exp);
    snprintf(exp, sizeof(exp), "%shttps://x/?a=1\" must not contain '?', '#' or spaces", ep);
    EXPECT_ERR(mini("", "endpoint = \"https://x/?a=1\";", ""), exp);
    snprintf(exp, sizeof(exp), "%shttps://x/#f\" must not contain '?', '#' or spaces", ep);
    EXPECT_ERR(mini("", "endpoint = \"https://x/#f\";", ""), exp);
    EXPECT_ERR(mini("", "endpoint = \"\";", ""), ":2: zim.endpoint: must not be empty");
    EXPECT_OK(mini("", "endpoint = \"https://zim-api-fra.zego.im\";", ""));
    /* Plain http only to a loopback host. */
    snprintf(exp, sizeof(exp),
             "%shttp://zim-api.zego.im/\" must use https:// (plain http only to a loopback host)",
             ep);
    EXPECT_ERR(mini("", "endpoint = \"http://zim-api.zego.im/\";", ""), exp);
    snprintf(exp, sizeof(exp),
             "%shttp://127.0.0.1.example.com/\" must use https:// (plain http only to a loopback "
             "host)",
             ep);
    EXPECT_ERR(mini("", "endpoint = \"http://127.0.0.1.example.com/\";", ""), exp);
    snprintf(exp, sizeof(exp),
             "%shttp://[::2]:80/\" must use https:// (plain http only to a loopback host)", ep);
    EXPECT_ERR(mini("", "endpoint = \"http://[::2]:80/\";", ""), exp);
    EXPECT_OK(mini("", "endpoint = \"http://127.0.0.1:8080/\";", ""));
    EXPECT_OK(mini("", "endpoint = \"http://127.9.8.7/\";", ""));
    EXPECT_OK(mini("", "endpoint = \"http://localhost:1/\";", ""));
    EXPECT_OK(mini("", "endpoint = \"http://[::1]:8080/x\";", ""));
    /* A loopback "host" that is userinfo: the request would go to the host
     * after the '@', in clear. */
    const char *at_eps[] = {"http://127.0.0.1:80@zim.example/", "http://localhost:x@zim.example/",
                            "https://u@zim-api.zego.im/", "https://zim-api.zego.im/a@b"};
    for (size_t i = 0; i < sizeof(at_eps) / sizeof(at_eps[0]); i++) {
        char text[200];
        snprintf(text, sizeof(text), "endpoint = \"%s\";", at_eps[i]);
        EXPECT_ERR(mini("", text, ""),
                   ":2: zim.endpoint: must not contain '@' (ZIM takes no credentials in the URL)");
    }

    const char *lw = "\" must be \"\" or host:port (host an IPv4 address, localhost or [IPv6 "
                     "address]; port 0..65535)";
    /* Host names other than localhost are not resolved: the endpoint binds literals. */
    const char *bad_listen[] = {"9464",         "host:",     "host:65536", "::1:80",
                                ":80",          "h:8x",      "[]:1",       "myhost:9464",
                                "256.1.1.1:80", "[zz::]:80", "[::1]80",    "1.2.3.4:-1"};
    for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
        char text[200];
        snprintf(text, sizeof(text), "observability: { listen = \"%s\"; };\n", bad_listen[i]);
        snprintf(exp, sizeof(exp), ":3: observability.listen: \"%s%s", bad_listen[i], lw);
        EXPECT_ERR(mini("", "", text), exp);
    }
    EXPECT_OK(mini("", "", "observability: { listen = \"[::1]:80\"; };\n"));
    EXPECT_OK(mini("", "", "observability: { listen = \"127.0.0.1:0\"; };\n"));
    EXPECT_OK(mini("", "", "observability: { listen = \"localhost:65535\"; };\n"));

    snprintf(exp, sizeof(exp),
             ":2: zim.ca_file: cannot read \"%s/none.pem\": No such file or directory", dir);
    char text[200];
    snprintf(text, sizeof(text), "ca_file = \"%s/none.pem\";", dir);
    EXPECT_ERR(mini("", text, ""), exp);
}

static void test_topics(void)
{
    const char *k = "zim: { app_id = 1; server_secret = \"s\"; };\n";
    char text[300];
    snprintf(text, sizeof(text), "kafka: { result_topic = \"out\"; };\n%s", k);
    EXPECT_ERR(text, ": kafka.input_topics: required");
    snprintf(text, sizeof(text), "kafka: { input_topics = [ \"in\" ]; };\n%s", k);
    EXPECT_ERR(text, ": kafka.result_topic: required");
    EXPECT_ERR("kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n"
               "zim: { server_secret = \"s\"; };\n",
               ": zim.app_id: required");
    EXPECT_ERR("", ": kafka.input_topics: required");
    snprintf(text, sizeof(text), "kafka: { input_topics = [ ]; result_topic = \"out\"; };\n%s", k);
    EXPECT_ERR(text, ":1: kafka.input_topics: must not be empty");
    snprintf(text, sizeof(text), "kafka: { input_topics = [ \"in\" ];\nresult_topic = \"\"; };\n%s",
             k);
    EXPECT_ERR(text, ":2: kafka.result_topic: must not be empty");
    snprintf(text, sizeof(text),
             "kafka: {\n input_topics = [ \"a\", \"b\",\n \"a\" ]; result_topic = \"out\"; };\n%s",
             k);
    EXPECT_ERR(text, ":2: kafka.input_topics: duplicate entry \"a\"");
    snprintf(text, sizeof(text),
             "kafka: { input_topics = [ \"in\" ];\n result_topic = \"in\"; };\n%s", k);
    EXPECT_ERR(text, ":2: kafka.result_topic: \"in\" is also an input topic");
    EXPECT_ERR(mini("dead_letter_topic = \"in\";", "", ""),
               ":1: kafka.dead_letter_topic: \"in\" is also an input or the result topic");
    EXPECT_ERR(mini("dead_letter_topic = \"out\";", "", ""),
               ":1: kafka.dead_letter_topic: \"out\" is also an input or the result topic");
    snprintf(text, sizeof(text),
             "kafka: { input_topics = [ \"in\" ]; result_topic = \"o t\"; };\n%s", k);
    EXPECT_ERR(text, ":1: kafka.result_topic: \"o t\" is not a valid topic name (a-z A-Z 0-9 . _ "
                     "-, at most 249)");
    snprintf(text, sizeof(text),
             "kafka: { input_topics = [ \"in\", \"..\" ]; result_topic = \"o\"; };\n%s", k);
    EXPECT_ERR(text, ":1: kafka.input_topics: \"..\" is not a valid topic name (a-z A-Z 0-9 . _ "
                     "-, at most 249)");
    snprintf(text, sizeof(text),
             "kafka: { input_topics = [ \"in\", \"^in-.*\" ]; result_topic = \"o\"; };\n%s", k);
    EXPECT_ERR(text, ":1: kafka.input_topics: \"^in-.*\" is a pattern: list the topic names "
                     "(patterns are not supported)");
    EXPECT_ERR(mini("dead_letter_topic = \"^dlq\";", "", ""),
               ":1: kafka.dead_letter_topic: \"^dlq\" is not a valid topic name (a-z A-Z 0-9 . _ "
               "-, at most 249)");
    EXPECT_ERR(mini("group_id = \"\";", "", ""), ":1: kafka.group_id: must not be empty");
    EXPECT_ERR(mini("brokers = \"\";", "", ""), ":1: kafka.brokers: must not be empty");
}

/* Included files: found next to the config; errors name the included file. */
static void test_include(void)
{
    char want[256];
    config_t c;
    put_file("inc-retry.cfg", "retry: { max_attempts = 5; };\n");
    if (load_ok(mini("", "", "@include \"inc-retry.cfg\"\n"), &c, __LINE__) == 0) {
        TT_EQ_INT(c.max_attempts, 5);
        config_free(&c);
    }
    put_file("inc-bad.cfg", "\nretry: { max_attempts = 0; };\n");
    const char *path = put_file("inc.cfg", mini("", "", "@include \"inc-bad.cfg\"\n"));
    char err[512];
    /* libconfig names an included file as the @include line wrote it. */
    snprintf(want, sizeof(want), "inc-bad.cfg:2: retry.max_attempts: must be between 1 and 1000");
    TT_EQ_INT(config_load(&c, path, err, sizeof(err)), -1);
    TT_EQ_STR(err, want);
}

/* events.format and the schema_registry group: the URL is required with
 * "auto", https unless loopback, never with credentials in it. */
static void test_schema_registry(void)
{
    config_t c;
    EXPECT_OK(mini("", "", "events: { format = \"json\"; };\n"));
    EXPECT_ERR(mini("", "", "events: { format = \"auto\"; };\n"),
               ":3: schema_registry.url: required when events.format = \"auto\"");
    EXPECT_ERR(mini("", "", "events: { format = \"avro\"; };\n"),
               ":3: events.format: must be one of \"json\" | \"auto\" (not \"avro\")");
    EXPECT_ERR(mini("", "", "schema_registry: { url = \"http://registry.example.com/\"; };\n"),
               ":3: schema_registry.url: \"http://registry.example.com/\" must use https:// "
               "(plain http only to a loopback host)");
    EXPECT_ERR(mini("", "", "schema_registry: { url = \"ftp://r/\"; };\n"),
               ":3: schema_registry.url: \"ftp://r/\" must start with http:// or https:// and "
               "a host");
    EXPECT_ERR(mini("", "", "schema_registry: { url = \"https://u:TOPSECRET-url@r:8081\"; };\n"),
               ":3: schema_registry.url: must not hold credentials ('@'): put them in "
               "basic_auth_user_info");
    /* A password with '/' (base64) hides its '@' behind a "path". */
    EXPECT_ERR(mini("", "", "schema_registry: { url = \"https://K:ab/TOPSECRET@r.example\"; };\n"),
               ":3: schema_registry.url: must not hold credentials ('@'): put them in "
               "basic_auth_user_info");
    EXPECT_ERR(mini("", "", "schema_registry: { url = \"http://K:ab/TOPSECRET@r.example\"; };\n"),
               ":3: schema_registry.url: must not hold credentials ('@'): put them in "
               "basic_auth_user_info");
    EXPECT_ERR(mini("", "", "schema_registry: { url = \"K:TOPSECRET@r.example\"; };\n"),
               ":3: schema_registry.url: must not hold credentials ('@'): put them in "
               "basic_auth_user_info");
    EXPECT_ERR(mini("", "", "schema_registry: { url = \"https://r/?x=1\"; };\n"),
               ":3: schema_registry.url: \"https://r/?x=1\" must not contain '?', '#' or "
               "spaces");
    EXPECT_ERR(
        mini("", "", "schema_registry: { basic_auth_user_info = \"u:TOPSECRET-\\n-x\"; };\n"),
        ":3: schema_registry.basic_auth_user_info: must not contain control characters "
        "(value not shown)");
    EXPECT_ERR(mini("", "", "schema_registry: { basic_auth_user_info = 42; };\n"),
               ":3: schema_registry.basic_auth_user_info: must be a string");
    EXPECT_ERR(mini("", "", "schema_registry: { cache_ttl_ms = -1; };\n"),
               ":3: schema_registry.cache_ttl_ms: must be between 0 and 86400000");
    const char *ok = "events: { format = \"auto\"; };\n"
                     "schema_registry: { url = \"https://registry.example.com:8081/base\";\n"
                     " basic_auth_user_info = \"key:TOPSECRET-reg\"; };\n";
    if (load_ok(mini("", "", ok), &c, __LINE__) == 0) {
        TT_EQ_INT(c.events_format, CONFIG_FORMAT_AUTO);
        TT_EQ_INT(c.registry_cache_ttl_ms, 60000);
        TT_EQ_INT(c.registry_request_timeout_ms, 5000);
        char *p = print_to_string(&c);
        TT_CHECK(strstr(p, "TOPSECRET") == NULL);
        TT_CHECK(strstr(p, "  basic_auth_user_info = \"***\";\n") != NULL);
        TT_CHECK(strstr(p, "  url = \"https://registry.example.com:8081/base\";\n") != NULL);
        free(p);
        config_free(&c);
    }
    /* Unset, the credential prints as empty (nothing to hide). */
    if (load_ok(mini("", "", ""), &c, __LINE__) == 0) {
        char *p = print_to_string(&c);
        TT_CHECK(strstr(p, "  basic_auth_user_info = \"\";\n") != NULL);
        free(p);
        config_free(&c);
    }
}

/* deploy/worker.cfg.example is config_write_example()'s output, and loads
 * to the defaults plus the required keys. */
static void test_example(void)
{
    const char *src = getenv("ZU_SOURCE_DIR");
    char path[1024], err[512] = "";
    config_t c, d;
    snprintf(path, sizeof(path), "%s/deploy/worker.cfg.example", src && src[0] ? src : ".");

    setenv("ZIM_SERVER_SECRET", "TOPSECRET-example", 1);
    int rc = config_load(&c, path, err, sizeof(err));
    unsetenv("ZIM_SERVER_SECRET");
    TT_EQ_INT(rc, 0);
    TT_EQ_STR(err, "");
    if (rc == 0) {
        TT_EQ_INT(config_defaults(&d, err, sizeof(err)), 0);
        const char *diff = config_diff(&c, &d, 1);
        TT_CHECK(diff == NULL);
        if (diff)
            fprintf(stderr, "  example differs from the defaults at %s\n", diff);
        TT_EQ_INT(c.input_topics.n, 1);
        TT_EQ_STR(c.input_topics.v[0], "account-events");
        TT_EQ_STR(c.result_topic, "zim-unfriend-results");
        TT_EQ_INT(c.app_id, 1234567890);
        TT_EQ_STR(c.secret_source, "env");
        config_free(&d);
        config_free(&c);
    }

    FILE *f = fopen(path, "r");
    TT_CHECK(f != NULL);
    if (!f)
        return;
    char *committed = read_all(f);
    fclose(f);
    f = tmpfile();
    config_write_example(f);
    char *generated = read_all(f);
    fclose(f);
    TT_CHECK(strcmp(committed, generated) == 0);
    if (strcmp(committed, generated) != 0)
        fprintf(stderr, "  regenerate %s from config_write_example()\n", path);
    free(committed);
    free(generated);
}

/* config_print of the defaults matches the example's values key by key. */
static void test_print_defaults(void)
{
    config_t d;
    char err[256];
    TT_EQ_INT(config_defaults(&d, err, sizeof(err)), 0);
    char *p = print_to_string(&d);
    TT_CHECK(strncmp(p, "# zim-unfriend-worker effective configuration\n\nkafka: {\n", 55) == 0);
    TT_CHECK(strstr(p, "  server_secret = \"\";\n") != NULL);
    TT_CHECK(strstr(p, "  rate_limit_qps = 20.0;\n") != NULL);
    TT_CHECK(strstr(p, "  account_deleted: { match = [ \"account-deleted\" ]; delete_type = "
                       "\"two-way\"; };\n") != NULL);
    TT_CHECK(strstr(p, "  success_codes = [ 0 ];\n") != NULL);
    TT_CHECK(strstr(p, "  redact_user_ids = false;\n") != NULL);
    free(p);
    config_free(&d);
}

int main(void)
{
    if (fixture_open("/tmp/zu_test_config_XXXXXX") != 0)
        return 1;
    TT_RUN(test_defaults);
    TT_RUN(test_every_key);
    TT_RUN(test_file_errors);
    TT_RUN(test_unknown);
    TT_RUN(test_types);
    TT_RUN(test_ranges);
    TT_RUN(test_enums);
    TT_RUN(test_strings);
    TT_RUN(test_topics);
    TT_RUN(test_include);
    TT_RUN(test_schema_registry);
    TT_RUN(test_example);
    TT_RUN(test_print_defaults);

    fixture_close();
    TT_DONE();
}
