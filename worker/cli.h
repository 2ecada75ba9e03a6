/* cli.h - the worker's command line (docs/contract.md, "Command line").
 *
 * cli_parse() only parses and cross-checks options; it opens no file. On a
 * usage error it returns -1 with errstr (main exits 64). Pure: unit-tested. */
#ifndef ZU_CLI_H
#define ZU_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "worker/consumer.h"

typedef struct cli {
    const char *config_path; /* -c, else env ZIM_UNFRIEND_CONFIG; NULL when neither */
    int check_config;
    int dry_run;
    consumer_start_t start;
    int64_t start_ts_ms;
    int until_end;
    int redrive;           /* --redrive (needs until_end) */
    const char *group;     /* --group ID; NULL = kafka.group_id */
    const char *once_user; /* --once USER_ID */
    int delete_type;       /* --delete-type; -1 = not given */
    const char *log_level; /* --log-level; NULL = from the config */
    int help;
    int version;
} cli_t;

/* Parses argv (argv[0] is the program). envp_config: the value of
 * ZIM_UNFRIEND_CONFIG or NULL. 0 ok, -1 usage error. */
int cli_parse(cli_t *cli, int argc, char **argv, const char *env_config, char *errstr,
              size_t errstr_size);

/* Parses an RFC 3339 date-time ("2026-11-25T18:00:00Z",
 * "2026-11-25T18:00:00.123+01:00") or Unix milliseconds ("1764093600000")
 * into Unix milliseconds. 0 ok, -1 when neither. */
int cli_parse_time(const char *s, int64_t *unix_ms);

/* The usage text. */
const char *cli_usage(void);

#endif
