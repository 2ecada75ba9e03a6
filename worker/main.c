/* main.c - zim-unfriend-worker: command line, configuration, signals, and
 * the one place that decides the exit code. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/config.h"
#include "common/event.h"
#include "common/log.h"
#include "worker/cli.h"
#include "worker/kconf.h"
#include "worker/loop.h"
#include "worker/once.h"

#define EXIT_USAGE  64
#define EXIT_CONFIG 78

/* SIGTERM and SIGINT are blocked in every thread (librdkafka's and curl's
 * inherit the mask) and read from a signalfd by the event loop; SIGPIPE is
 * ignored. Returns the signalfd, -1 on failure. */
static int signals_fd(void)
{
    sigset_t set;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigaction(SIGPIPE, &sa, NULL) != 0 || sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* The key for redacted user ids: derived one-way from the server secret, so
 * replicas agree and the secret itself is never used or shown as a key. */
static int redact_key(const config_t *cfg, unsigned char *key, unsigned int *len)
{
    static const char label[] = "zim-unfriend user id redaction v1";
    return HMAC(EVP_sha256(), cfg->server_secret, (int)strlen(cfg->server_secret),
                (const unsigned char *)label, sizeof(label) - 1, key, len)
               ? 0
               : -1;
}

/* The secret read from the environment is wiped and removed from it: not
 * readable in /proc/PID/environ for the life of the process, nor inherited. */
static void scrub_secret_env(void)
{
    char *v = getenv("ZIM_SERVER_SECRET");
    if (v)
        OPENSSL_cleanse(v, strlen(v));
    unsetenv("ZIM_SERVER_SECRET");
}

/* A secret file that others, or a group other than the worker's own, can
 * read: warned, not refused (Kubernetes mounts secrets 0644 unless
 * defaultMode says otherwise). A file the worker's own group may read
 * (0440 root:worker, as Kubernetes' fsGroup makes it) is not warned about:
 * that group is how a non-root worker is let in. */
static void warn_secret_file_mode(const config_t *cfg, log_t *log)
{
    struct stat st;
    if (strcmp(cfg->secret_source, "file") != 0 || stat(cfg->server_secret_file, &st) != 0)
        return;
    if (!(st.st_mode & S_IRWXO) && (!(st.st_mode & S_IRWXG) || st.st_gid == getegid()))
        return;
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
    log_msg(log, LOG_WARN,
            "zim.server_secret_file is readable by others or by another group; make it 0400 "
            "or 0600 (0440 with the worker's own group)",
            "file", cfg->server_secret_file, "mode", mode, NULL);
}

int main(int argc, char **argv)
{
    cli_t cli;
    config_t cfg;
    char err[1024];
    int code = 1, exit_now = 0;
    log_t *log = NULL;
    unsigned char key[EVP_MAX_MD_SIZE];
    unsigned int key_len = 0;
    int sfd = -1;

    /* This process will hold the server secret: no core file may carry it
     * (docs/contract.md, Guarantee 9), whatever the environment allows; not
     * dumpable also stops a piped core_pattern and ptrace by other users. */
    struct rlimit no_core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &no_core);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    memset(&cfg, 0, sizeof(cfg));
    if (cli_parse(&cli, argc, argv, getenv("ZIM_UNFRIEND_CONFIG"), err, sizeof(err)) == -1) {
        fprintf(stderr, "zim-unfriend-worker: %s\n%s", err, cli_usage());
        return EXIT_USAGE;
    }
    if (cli.help) {
        fputs(cli_usage(), stdout);
        return 0;
    }
    if (cli.version) {
        printf("zim-unfriend-worker %s (librdkafka %s, %s)\n", ZU_VERSION, rd_kafka_version_str(),
               curl_version());
        return 0;
    }
    if (cli.once_user && !event_user_id_valid(cli.once_user, strlen(cli.once_user))) {
        fprintf(stderr,
                "zim-unfriend-worker: --once: \"%s\" is not a ZIM user id (1-32 characters "
                "from 0-9 A-Z a-z and !#$%%&()+-:;<=.>?@[]^_{}|~)\n",
                cli.once_user);
        return EXIT_USAGE;
    }
    int loaded = config_load(&cfg, cli.config_path, err, sizeof(err));
    scrub_secret_env();
    if (loaded == -1 || kconf_validate(&cfg, err, sizeof(err)) == -1) {
        fprintf(stderr, "zim-unfriend-worker: %s\n", err);
        config_free(&cfg);
        return EXIT_CONFIG;
    }
    if (cli.group && config_set_group(&cfg, cli.group, err, sizeof(err)) == -1) {
        fprintf(stderr, "zim-unfriend-worker: %s\n", err);
        config_free(&cfg);
        return EXIT_FAILURE;
    }
    if (cli.check_config) {
        config_print(&cfg, stdout);
        config_free(&cfg);
        return 0;
    }

    log_level_t level;
    log_format_t format;
    if (log_level_parse(cli.log_level ? cli.log_level : cfg.log_level, &level) == -1 ||
        log_format_parse(cfg.log_format, &format) == -1 ||
        (cfg.redact_user_ids && redact_key(&cfg, key, &key_len) == -1) ||
        !(log = log_new(STDERR_FILENO, level, format, cfg.redact_user_ids ? key : NULL, key_len))) {
        fprintf(stderr, "zim-unfriend-worker: cannot set up logging\n");
        goto out;
    }
    OPENSSL_cleanse(key, sizeof(key));
    warn_secret_file_mode(&cfg, log);
    if ((sfd = signals_fd()) < 0) {
        log_msg(log, LOG_ERROR, "cannot set up signals", NULL);
        goto out;
    }
    if (cli.once_user) {
        code = once_run(&cfg, log, cli.once_user, cli.delete_type < 0 ? 0 : cli.delete_type, sfd);
        goto out;
    }
    loop_opts_t lo = {
        .cfg = &cfg,
        .log = log,
        .dry_run = cli.dry_run,
        .until_end = cli.until_end,
        .redrive = cli.redrive,
        .start = cli.start,
        .start_ts_ms = cli.start_ts_ms,
        .signal_fd = sfd,
    };
    code = loop_run(&lo, &exit_now);
    if (exit_now) {
        /* librdkafka's consumer was left running (a coordinator that does
         * not answer, or a handle librdkafka cannot destroy), and its threads
         * may log: end now, log and all, without exit's handlers tearing down
         * what they use. */
        fflush(NULL);
        _exit(code);
    }
out:
    if (sfd >= 0)
        close(sfd);
    log_destroy(log);
    config_free(&cfg);
    return code;
}
