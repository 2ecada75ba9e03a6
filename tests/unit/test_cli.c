/* Command line: options, conflicts, --from-timestamp parsing. How the
 * --from-* modes set start offsets is in test_consumer.c. */
#include "worker/cli.h"

#include "tests/unit/tt.h"

static int parse(cli_t *cli, char *err, size_t n, const char *a1, const char *a2, const char *a3,
                 const char *a4)
{
    char *argv[6] = {"zim-unfriend-worker", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
    int argc = 1;
    while (argc < 5 && argv[argc])
        argc++;
    err[0] = '\0';
    return cli_parse(cli, argc, argv, NULL, err, n);
}

static void test_times(void)
{
    int64_t ms = 0;
    /* date -u -d 2026-11-25T18:00:00Z +%s -> 1795629600 */
    TT_EQ_INT(cli_parse_time("2026-11-25T18:00:00Z", &ms), 0);
    TT_EQ_INT(ms, 1795629600000LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T18:00:00.123Z", &ms), 0);
    TT_EQ_INT(ms, 1795629600123LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T18:00:00.1Z", &ms), 0);
    TT_EQ_INT(ms, 1795629600100LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T18:00:00.123456789Z", &ms), 0);
    TT_EQ_INT(ms, 1795629600123LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T19:30:00+01:30", &ms), 0);
    TT_EQ_INT(ms, 1795629600000LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T16:00:00-02:00", &ms), 0);
    TT_EQ_INT(ms, 1795629600000LL);
    TT_EQ_INT(cli_parse_time("1795629600123", &ms), 0);
    TT_EQ_INT(ms, 1795629600123LL);
    TT_EQ_INT(cli_parse_time("0", &ms), 0);
    TT_EQ_INT(ms, 0);
    const char *bad[] = {"",
                         "yesterday",
                         "2026-11-25",
                         "2026-11-25T18:00:00",
                         "2026-11-25T18:00:00X",
                         "2026-13-01T00:00:00Z",
                         "2026-02-30T00:00:00Z",
                         "2026-11-25T24:00:00Z",
                         "2026-11-25T18:00:00.Z",
                         "2026-11-25T18:00:00+0100",
                         "-5",
                         "12345678901234567",
                         "2026-11-25T18:00:00Zjunk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 42;
        TT_EQ_INT(cli_parse_time(bad[i], &ms), -1);
        TT_EQ_INT(ms, 42); /* untouched on error */
    }
}

static void test_options(void)
{
    cli_t cli;
    char err[256];
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "w.cfg", NULL, NULL), 0);
    TT_EQ_STR(cli.config_path, "w.cfg");
    TT_EQ_INT(cli.start, CONSUMER_START_COMMITTED);
    TT_EQ_INT(cli.delete_type, -1);
    TT_EQ_INT(
        parse(&cli, err, sizeof(err), "--config=x.cfg", "--from-beginning", "--until-end", NULL),
        0);
    TT_EQ_INT(cli.start, CONSUMER_START_BEGINNING);
    TT_EQ_INT(cli.until_end, 1);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--from-timestamp", "1000"), 0);
    TT_EQ_INT(cli.start, CONSUMER_START_TIMESTAMP);
    TT_EQ_INT(cli.start_ts_ms, 1000);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--once", "a&b=c"), 0);
    TT_EQ_STR(cli.once_user, "a&b=c");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "--once", "u1", "--delete-type", "one-way"), -1);
    TT_EQ_STR(err, "no configuration: use -c FILE or ZIM_UNFRIEND_CONFIG");
    char *argv[] = {"w", "--once", "u1", "--delete-type", "one-way", NULL};
    TT_EQ_INT(cli_parse(&cli, 5, argv, "/etc/zim.cfg", err, sizeof(err)), 0);
    TT_EQ_STR(cli.config_path, "/etc/zim.cfg");
    TT_EQ_INT(cli.delete_type, 1);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--log-level", "debug"), 0);
    TT_EQ_STR(cli.log_level, "debug");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-h", NULL, NULL, NULL), 0);
    TT_EQ_INT(cli.help, 1);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "--version", NULL, NULL, NULL), 0);
    TT_EQ_INT(cli.version, 1);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--dry-run", "--check-config"), -1);
}

static void test_usage_errors(void)
{
    cli_t cli;
    char err[256];
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--from-end", "--from-beginning"), -1);
    TT_CHECK(strstr(err, "exclude each other") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--from-timestamp", "soon"), -1);
    TT_CHECK(strstr(err, "--from-timestamp: \"soon\"") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--delete-type", "one-way"), -1);
    TT_EQ_STR(err, "--delete-type goes with --once");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--delete-type", "sideways"), -1);
    TT_CHECK(strstr(err, "sideways") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--log-level", "loud"), -1);
    TT_CHECK(strstr(err, "--log-level") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--bogus", NULL), -1);
    TT_EQ_STR(err, "--bogus: unknown option");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", NULL, NULL, NULL), -1);
    TT_EQ_STR(err, "-c: missing argument");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "extra", NULL), -1);
    TT_EQ_STR(err, "extra: unexpected argument");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--once", "u"), 0);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "--once", "u", "--dry-run", "-cx"), -1);
    TT_CHECK(strstr(err, "--once") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--check-config", "--until-end"), -1);
}

/* --redrive is a job (it needs --until-end); --group overrides the group. */
static void test_redrive_and_group(void)
{
    cli_t cli;
    char err[256];
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--redrive", "--until-end"), 0);
    TT_EQ_INT(cli.redrive, 1);
    TT_CHECK(cli.group == NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--redrive", NULL), -1);
    TT_CHECK(strstr(err, "--redrive is a job: it needs --until-end") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--group", "replay-7"), 0);
    TT_EQ_STR(cli.group, "replay-7");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--group", ""), -1);
    TT_EQ_STR(err, "--group: the group id is empty");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--group", NULL), -1);
    TT_EQ_STR(err, "--group: missing argument");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-cx", "--once=u", "--group", "g"), -1);
    TT_CHECK(strstr(err, "--once") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "--check-config", "--redrive", "-cx", NULL), -1);
    TT_EQ_STR(err, "--check-config takes no other mode");
}

int main(void)
{
    TT_RUN(test_times);
    TT_RUN(test_options);
    TT_RUN(test_usage_errors);
    TT_RUN(test_redrive_and_group);
    TT_DONE();
}
