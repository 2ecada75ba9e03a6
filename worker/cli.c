/* cli.c - command-line parsing (see cli.h). */
#include "worker/cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/log.h"

enum {
    OPT_CHECK = 256,
    OPT_DRY,
    OPT_BEGIN,
    OPT_END,
    OPT_TS,
    OPT_UNTIL,
    OPT_ONCE,
    OPT_DTYPE,
    OPT_LEVEL,
    OPT_REDRIVE,
    OPT_GROUP,
};

const char *cli_usage(void)
{
    return "usage: zim-unfriend-worker -c FILE [options]\n"
           "\n"
           "  -c, --config FILE        libconfig file (or env ZIM_UNFRIEND_CONFIG)\n"
           "      --check-config       validate, print it with secrets masked, exit 0 or 78\n"
           "      --dry-run            consume and validate only; print each event's result\n"
           "                           (\"status\":\"dry_run\") on stdout; no call, produce, "
           "commit\n"
           "      --from-beginning     on first assignment, start every partition at its start\n"
           "      --from-end           ... at its end\n"
           "      --from-timestamp T   ... at time T (RFC 3339 or Unix milliseconds)\n"
           "      --until-end          exit 0 once everything up to the end offsets noted when\n"
           "                           each partition was first assigned is processed and\n"
           "                           committed\n"
           "      --redrive            a job (needs --until-end): read kafka.result_topic and\n"
           "                           process again the failure results whose error_class is\n"
           "                           in redrive.error_classes\n"
           "      --group ID           consumer group instead of kafka.group_id (replay and\n"
           "                           redrive jobs run with a group of their own)\n"
           "      --once USER_ID       call DeleteAllFriends once, print the result, exit 0/1\n"
           "      --delete-type T      with --once: two-way (default) or one-way\n"
           "      --log-level LEVEL    error, warn, info, debug\n"
           "  -h, --help               this text\n"
           "  -V, --version            the version\n"
           "\n"
           "Exit codes: 0 clean stop, 1 fatal error, 64 usage error, 78 configuration error.\n";
}

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int cli_parse_time(const char *s, int64_t *unix_ms)
{
    size_t len = strlen(s);
    if (len > 0 && len <= 16 && digits(s, len)) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno)
            return -1;
        *unix_ms = v;
        return 0;
    }
    /* YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM) */
    if (len < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2) ||
        s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = num(s, 4) - 1900;
    tm.tm_mon = num(s + 5, 2) - 1;
    tm.tm_mday = num(s + 8, 2);
    tm.tm_hour = num(s + 11, 2);
    tm.tm_min = num(s + 14, 2);
    tm.tm_sec = num(s + 17, 2);
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    const char *p = s + 19;
    int64_t ms = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p); p++, n++)
            if (n < 3)
                ms = ms * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }
    int64_t off_s = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off_s = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2) && p[3] == ':' &&
               digits(p + 4, 2)) {
        off_s = (int64_t)num(p + 1, 2) * 3600 + (int64_t)num(p + 4, 2) * 60;
        if (*p == '-')
            off_s = -off_s;
    } else {
        return -1;
    }
    int mday = tm.tm_mday, mon = tm.tm_mon;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != mday || tm.tm_mon != mon)
        return -1; /* e.g. February 30th */
    *unix_ms = ((int64_t)t - off_s) * 1000 + ms;
    return 0;
}

int cli_parse(cli_t *cli, int argc, char **argv, const char *env_config, char *errstr,
              size_t errstr_size)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"dry-run", no_argument, NULL, OPT_DRY},
        {"from-beginning", no_argument, NULL, OPT_BEGIN},
        {"from-end", no_argument, NULL, OPT_END},
        {"from-timestamp", required_argument, NULL, OPT_TS},
        {"until-end", no_argument, NULL, OPT_UNTIL},
        {"redrive", no_argument, NULL, OPT_REDRIVE},
        {"group", required_argument, NULL, OPT_GROUP},
        {"once", required_argument, NULL, OPT_ONCE},
        {"delete-type", required_argument, NULL, OPT_DTYPE},
        {"log-level", required_argument, NULL, OPT_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int starts = 0, c;
    log_level_t lv;
    memset(cli, 0, sizeof(*cli));
    cli->delete_type = -1;
    optind = 0; /* full re-initialisation (GNU), so tests can parse repeatedly */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cli->config_path = optarg;
            break;
        case OPT_CHECK:
            cli->check_config = 1;
            break;
        case OPT_DRY:
            cli->dry_run = 1;
            break;
        case OPT_BEGIN:
            cli->start = CONSUMER_START_BEGINNING;
            starts++;
            break;
        case OPT_END:
            cli->start = CONSUMER_START_END;
            starts++;
            break;
        case OPT_TS:
            if (cli_parse_time(optarg, &cli->start_ts_ms) == -1) {
                snprintf(errstr, errstr_size,
                         "--from-timestamp: \"%s\" is neither RFC 3339 nor Unix milliseconds",
                         optarg);
                return -1;
            }
            cli->start = CONSUMER_START_TIMESTAMP;
            starts++;
            break;
        case OPT_UNTIL:
            cli->until_end = 1;
            break;
        case OPT_REDRIVE:
            cli->redrive = 1;
            break;
        case OPT_GROUP:
            if (!optarg[0]) {
                snprintf(errstr, errstr_size, "--group: the group id is empty");
                return -1;
            }
            cli->group = optarg;
            break;
        case OPT_ONCE:
            cli->once_user = optarg;
            break;
        case OPT_DTYPE:
            if ((cli->delete_type = config_delete_type_parse(optarg)) < 0) {
                snprintf(errstr, errstr_size, "--delete-type: \"%s\": use two-way or one-way",
                         optarg);
                return -1;
            }
            break;
        case OPT_LEVEL:
            if (log_level_parse(optarg, &lv) == -1) {
                snprintf(errstr, errstr_size, "--log-level: \"%s\": use error, warn, info or debug",
                         optarg);
                return -1;
            }
            cli->log_level = optarg;
            break;
        case 'h':
            cli->help = 1;
            break;
        case 'V':
            cli->version = 1;
            break;
        case ':':
            snprintf(errstr, errstr_size, "%s: missing argument", argv[optind - 1]);
            return -1;
        default:
            snprintf(errstr, errstr_size, "%s: unknown option", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(errstr, errstr_size, "%s: unexpected argument", argv[optind]);
        return -1;
    }
    if (cli->help || cli->version)
        return 0;
    if (!cli->config_path)
        cli->config_path = env_config && env_config[0] ? env_config : NULL;
    if (!cli->config_path) {
        snprintf(errstr, errstr_size, "no configuration: use -c FILE or ZIM_UNFRIEND_CONFIG");
        return -1;
    }
    if (starts > 1) {
        snprintf(errstr, errstr_size,
                 "--from-beginning, --from-end and --from-timestamp exclude each other");
        return -1;
    }
    if (cli->delete_type >= 0 && !cli->once_user) {
        snprintf(errstr, errstr_size, "--delete-type goes with --once");
        return -1;
    }
    if (cli->once_user && (cli->dry_run || starts || cli->until_end || cli->check_config ||
                           cli->redrive || cli->group)) {
        snprintf(errstr, errstr_size, "--once makes no use of Kafka: it takes no Kafka option");
        return -1;
    }
    if (cli->check_config && (cli->dry_run || starts || cli->until_end || cli->redrive)) {
        snprintf(errstr, errstr_size, "--check-config takes no other mode");
        return -1;
    }
    if (cli->redrive && !cli->until_end) {
        snprintf(errstr, errstr_size,
                 "--redrive is a job: it needs --until-end (it stops at the end offsets of the "
                 "result topic noted at start)");
        return -1;
    }
    return 0;
}
