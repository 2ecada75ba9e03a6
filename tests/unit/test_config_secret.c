/* test_config_secret.c - common/config: the ZIM server secret (inline,
 * file, environment; masked, never echoed in errors), the environment
 * overrides, and librdkafka credentials masked when printed. */
#include "common/config.h"

#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "tests/unit/config_fixture.h"
#include "tests/unit/tt.h"

static void test_secret(void)
{
    config_t c;
    char text[512], exp[256], err[512];
    const char *kafka = "kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n";

    unsetenv("ZIM_SERVER_SECRET");
    /* None at all. */
    snprintf(text, sizeof(text), "%szim: { app_id = 1; };\n", kafka);
    EXPECT_ERR(text, ": zim.server_secret: required (or zim.server_secret_file, or env "
                     "ZIM_SERVER_SECRET)");
    /* Both set: an error even though each alone is fine. */
    snprintf(text, sizeof(text),
             "%szim: { app_id = 1;\n server_secret = \"TOPSECRET-1\";\n"
             " server_secret_file = \"%s/secret\"; };\n",
             kafka, dir);
    EXPECT_ERR(text, ":4: zim.server_secret_file: cannot be set together with zim.server_secret");
    /* Wrong type: the value is not echoed. */
    snprintf(text, sizeof(text), "%szim: { app_id = 1; server_secret = [ \"TOPSECRET-2\" ]; };\n",
             kafka);
    EXPECT_ERR(text, ":2: zim.server_secret: must be a string");

    /* From a file: exactly one trailing newline is cut. */
    struct {
        const char *content, *want;
    } files[] = {{"TOPSECRET-f1\n", "TOPSECRET-f1"},
                 {"TOPSECRET-f2", "TOPSECRET-f2"},
                 {"TOPSECRET-f3\r\n", "TOPSECRET-f3"},
                 {"TOPSECRET-f4\n\n", "TOPSECRET-f4\n"}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *sp = put_file("secret", files[i].content);
        snprintf(text, sizeof(text), "%szim: { app_id = 1; server_secret_file = \"%s\"; };\n",
                 kafka, sp);
        if (load_ok(text, &c, __LINE__) == 0) {
            TT_EQ_STR(c.server_secret, files[i].want);
            TT_EQ_STR(c.secret_source, "file");
            TT_EQ_STR(c.server_secret_file, sp);
            char *p = print_to_string(&c);
            TT_CHECK(strstr(p, "TOPSECRET") == NULL);
            TT_CHECK(strstr(p, "  server_secret = \"***\"; # from zim.server_secret_file\n"));
            free(p);
            config_free(&c);
        }
    }
    /* Secret file failures, the path never echoed. */
    struct {
        const char *content, *why;
    } bad[] = {{"", "is empty"}, {"\n", "is empty"}, {NULL, "is larger than 4096 bytes"}};
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *sp = put_file("secret", bad[i].content ? bad[i].content : big);
        snprintf(text, sizeof(text), "%szim: { app_id = 1; server_secret_file = \"%s\"; };\n",
                 kafka, sp);
        snprintf(exp, sizeof(exp), ":2: zim.server_secret_file: %s", bad[i].why);
        EXPECT_ERR(text, exp);
    }
    snprintf(text, sizeof(text), "%szim: { app_id = 1; server_secret_file = \"TOPSECRET-3\"; };\n",
             kafka);
    EXPECT_ERR(text, ":2: zim.server_secret_file: cannot open: No such file or directory");
    snprintf(text, sizeof(text), "%szim: { app_id = 1; server_secret_file = \"%s\"; };\n", kafka,
             dir);
    EXPECT_ERR(text, ":2: zim.server_secret_file: not a regular file");
    FILE *f = fopen(put_file("secret", ""), "w");
    fwrite("TOPSECRET\0x", 1, 11, f);
    fclose(f);
    snprintf(text, sizeof(text), "%szim: { app_id = 1; server_secret_file = \"%s/secret\"; };\n",
             kafka, dir);
    EXPECT_ERR(text, ":2: zim.server_secret_file: contains a NUL byte");

    /* Errors elsewhere never carry the inline secret (expect_err checks). */
    snprintf(text, sizeof(text), "%szim: { app_id = 0; server_secret = \"TOPSECRET-4\"; };\n",
             kafka);
    EXPECT_ERR(text, ":2: zim.app_id: must be between 1 and 4294967295");
    (void)err;
}

static void test_env(void)
{
    config_t c;
    char text[512];
    const char *sp = put_file("secret", "TOPSECRET-file\n");

    setenv("KAFKA_BROKERS", "env-broker:9093", 1);
    setenv("ZIM_SERVER_SECRET", "TOPSECRET-env", 1);
    if (load_ok(mini("brokers = \"file-broker:9092\";", "", ""), &c, __LINE__) == 0) {
        TT_EQ_STR(c.brokers, "env-broker:9093");
        TT_EQ_STR(c.server_secret, "TOPSECRET-env"); /* wins over zim.server_secret */
        TT_EQ_STR(c.secret_source, "env");
        char *p = print_to_string(&c);
        TT_CHECK(strstr(p, "TOPSECRET") == NULL);
        TT_CHECK(strstr(p, "  server_secret = \"***\"; # from env ZIM_SERVER_SECRET\n") != NULL);
        free(p);
        config_free(&c);
    }
    /* Wins over a secret file, which is then not even read. */
    snprintf(text, sizeof(text),
             "kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n"
             "zim: { app_id = 1; server_secret_file = \"%s/absent\"; };\n",
             dir);
    if (load_ok(text, &c, __LINE__) == 0) {
        TT_EQ_STR(c.server_secret, "TOPSECRET-env");
        config_free(&c);
    }
    /* Empty variables count as unset. */
    setenv("KAFKA_BROKERS", "", 1);
    setenv("ZIM_SERVER_SECRET", "", 1);
    snprintf(text, sizeof(text),
             "kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n"
             "zim: { app_id = 1; server_secret_file = \"%s\"; };\n",
             sp);
    if (load_ok(text, &c, __LINE__) == 0) {
        TT_EQ_STR(c.brokers, "localhost:9092");
        TT_EQ_STR(c.server_secret, "TOPSECRET-file");
        config_free(&c);
    }
    unsetenv("KAFKA_BROKERS");
    unsetenv("ZIM_SERVER_SECRET");
    if (load_ok(mini("", "", ""), &c, __LINE__) == 0) {
        TT_EQ_STR(c.brokers, "localhost:9092");
        TT_EQ_STR(c.server_secret, "TOPSECRET-base");
        TT_EQ_STR(c.secret_source, "config");
        config_free(&c);
    }
}

/* librdkafka credentials in kafka.consumer / kafka.producer never print. */
static void test_kafka_credentials(void)
{
    config_t c;
    TT_CHECK(config_prop_sensitive("sasl.password=x"));
    TT_CHECK(config_prop_sensitive("ssl.key.PASSWORD=x"));
    TT_CHECK(config_prop_sensitive("sasl.oauthbearer.client.secret=x"));
    TT_CHECK(config_prop_sensitive("sasl.oauthbearer.token.endpoint.url=x"));
    TT_CHECK(config_prop_sensitive("sasl.jaas.config=x"));
    TT_CHECK(config_prop_sensitive("ssl.key.pem=-----BEGIN PRIVATE KEY-----"));
    TT_CHECK(config_prop_sensitive("ssl_key=x"));
    TT_CHECK(config_prop_sensitive("ssl.keystore.password=x"));
    TT_CHECK(config_prop_sensitive("ssl.certificate.pem=x"));
    TT_CHECK(config_prop_sensitive("sasl.oauthbearer.config=principal=a"));
    TT_CHECK(config_prop_sensitive("sasl.kerberos.keytab=/k"));
    TT_CHECK(!config_prop_sensitive("linger.ms=5"));
    TT_CHECK(!config_prop_sensitive("client.id=password")); /* the value does not count */
    memset(&c, 0, sizeof(c));
    if (load_ok(
            mini("consumer = [ \"sasl.password=hunter2\", \"fetch.wait.max.ms=50\" ];\n", "", ""),
            &c, __LINE__) != 0)
        return;
    TT_EQ_STR(c.consumer_props.v[0], "sasl.password=hunter2"); /* librdkafka gets it */
    char *out = print_to_string(&c);
    TT_CHECK(strstr(out, "hunter2") == NULL);
    TT_CHECK(strstr(out, "\"sasl.password=***\"") != NULL);
    TT_CHECK(strstr(out, "\"fetch.wait.max.ms=50\"") != NULL);
    free(out);
    config_free(&c);
    /* A malformed credential property: its value is not echoed either. */
    EXPECT_ERR(mini("consumer = [ \"sasl.password =TOPSECRET-p\" ];\n", "", ""),
               ":1: kafka.consumer: \"sasl.password=***\" is not \"name=value\" with a property "
               "name");
    EXPECT_ERR(mini("consumer = [ \"ssl.key.pem TOPSECRET-k\" ];\n", "", ""),
               ":1: kafka.consumer: \"ssl.key.pem=***\" is not \"name=value\" with a property "
               "name");
    /* Java's properties files also write "name:value". */
    EXPECT_ERR(mini("consumer = [ \"sasl.password:TOPSECRET-c\" ];\n", "", ""),
               ":1: kafka.consumer: \"sasl.password=***\" is not \"name=value\" with a property "
               "name");
}

/* systemd credentials: $CREDENTIALS_DIRECTORY/zim-server-secret comes after
 * the environment variable and before server_secret_file. */
static void test_systemd_credential(void)
{
    config_t c;
    char text[512], cdir[128];
    const char *kafka = "kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; };\n";
    snprintf(cdir, sizeof(cdir), "%s/creds", dir);
    TT_EQ_INT(mkdir(cdir, 0700), 0);
    put_file("creds/zim-server-secret", "TOPSECRET-cred\n");
    put_file("file-secret", "TOPSECRET-file\n");
    setenv("CREDENTIALS_DIRECTORY", cdir, 1);
    snprintf(text, sizeof(text),
             "%szim: { app_id = 1; server_secret_file = \"%s/file-secret\"; };\n", kafka, dir);
    if (load_ok(text, &c, __LINE__) == 0) {
        TT_EQ_STR(c.server_secret, "TOPSECRET-cred");
        TT_EQ_STR(c.secret_source, "systemd credential");
        /* --check-config names where the secret came from, masked. */
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        config_print(&c, f);
        fclose(f);
        TT_CHECK(strstr(out, "server_secret = \"***\"; # from systemd credential "
                             "zim-server-secret\n") != NULL);
        TT_CHECK(strstr(out, "TOPSECRET") == NULL);
        free(out);
        config_free(&c);
    }
    setenv("ZIM_SERVER_SECRET", "TOPSECRET-env", 1);
    if (load_ok(text, &c, __LINE__) == 0) {
        TT_EQ_STR(c.server_secret, "TOPSECRET-env");
        config_free(&c);
    }
    unsetenv("ZIM_SERVER_SECRET");
    /* No credential of that name in the directory: the file. */
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    if (load_ok(text, &c, __LINE__) == 0) {
        TT_EQ_STR(c.server_secret, "TOPSECRET-file");
        TT_EQ_STR(c.secret_source, "file");
        config_free(&c);
    }
    /* An empty credential is an error. */
    setenv("CREDENTIALS_DIRECTORY", cdir, 1);
    put_file("creds/zim-server-secret", "");
    config_t bad;
    char err[512];
    TT_EQ_INT(config_load(&bad, put_file("c.cfg", text), err, sizeof(err)), -1);
    TT_EQ_STR(strstr(err, "$CREDENTIALS_DIRECTORY/zim-server-secret: is empty"),
              "$CREDENTIALS_DIRECTORY/zim-server-secret: is empty");
    unlink(put_file("creds/zim-server-secret", ""));
    rmdir(cdir);
    unsetenv("CREDENTIALS_DIRECTORY");
}

int main(void)
{
    if (fixture_open("/tmp/zu_test_config_secret_XXXXXX") != 0)
        return 1;
    TT_RUN(test_secret);
    TT_RUN(test_env);
    TT_RUN(test_kafka_credentials);
    TT_RUN(test_systemd_credential);
    fixture_close();
    TT_DONE();
}
