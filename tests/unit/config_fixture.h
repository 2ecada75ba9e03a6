/* config_fixture.h - what the config unit tests share: a scratch directory,
 * files written into it, config_print() to a string, a minimal valid config,
 * and loads expected to fail (with the exact message) or to succeed.
 *
 * Header-only, for test_config.c and test_config_secret.c: each includes
 * it once. fixture_open() makes the directory (a mkdtemp template);
 * fixture_close() removes it with everything in it. */
#ifndef ZU_CONFIG_FIXTURE_H
#define ZU_CONFIG_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/unit/tt.h"

static char dir[64];

/* Writes text to dir/name; returns the path (static, per name slot). */
static const char *put_file(const char *name, const char *text)
{
    static char paths[8][128];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    TT_CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static char *read_all(FILE *f)
{
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    rewind(f);
    while ((n = fread(buf + len, 1, cap - 1 - len, f)) > 0) {
        len += n;
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    return buf;
}

static char *print_to_string(const config_t *cfg)
{
    FILE *f = tmpfile();
    config_print(cfg, f);
    char *s = read_all(f);
    fclose(f);
    return s;
}

static const char *mini(const char *kafka_x, const char *zim_x, const char *rest)
{
    static char buf[2048];
    snprintf(buf, sizeof(buf),
             "kafka: { input_topics = [ \"in\" ]; result_topic = \"out\"; %s };\n"
             "zim: { app_id = 1; server_secret = \"TOPSECRET-base\"; %s };\n%s",
             kafka_x, zim_x, rest);
    return buf;
}

/* Loads text, expects failure with exactly "<path><want>", a zeroed config
 * and no trace of the secret in the message. */
static void expect_err(const char *text, const char *want, int tline)
{
    config_t c, zero;
    char err[512] = "", exp[640];
    const char *path = put_file("err.cfg", text);
    memset(&zero, 0, sizeof(zero));
    int rc = config_load(&c, path, err, sizeof(err));
    snprintf(exp, sizeof(exp), "%s%s", path, want);
    if (rc != -1 || strcmp(err, exp) != 0)
        fprintf(stderr, "  (from test line %d)\n", tline);
    TT_EQ_INT(rc, -1);
    TT_EQ_STR(err, exp);
    TT_CHECK(memcmp(&c, &zero, sizeof(c)) == 0);
    TT_CHECK(strstr(err, "TOPSECRET") == NULL);
}
#define EXPECT_ERR(text, want) expect_err(text, want, __LINE__)

/* Loads text and expects success; the config is returned for checks. */
static int load_ok(const char *text, config_t *c, int tline)
{
    char err[512] = "";
    int rc = config_load(c, put_file("ok.cfg", text), err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "  (from test line %d) %s\n", tline, err);
    TT_EQ_INT(rc, 0);
    return rc;
}
#define EXPECT_OK(text)                                                                            \
    do {                                                                                           \
        config_t ok_;                                                                              \
        if (load_ok(text, &ok_, __LINE__) == 0)                                                    \
            config_free(&ok_);                                                                     \
    } while (0)

static int fixture_open(const char *template)
{
    snprintf(dir, sizeof(dir), "%s", template);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return -1;
    }
    unsetenv("ZIM_SERVER_SECRET");
    unsetenv("KAFKA_BROKERS");
    return 0;
}

static void fixture_close(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

#endif
