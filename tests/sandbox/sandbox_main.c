/* sandbox_main.c - zim-sandbox: a local stand-in for the ZIM server API
 * (DeleteAllFriends) with fault injection, for the demo and the tests.
 *
 * Command line, socket, signals and lifecycle; the API lives in
 * sandbox_api.c, the control endpoints in sandbox_control.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "sandbox_api.h"
#include "sandbox_fault.h"
#include "sandbox_state.h"

#ifndef ZU_VERSION
#define ZU_VERSION "0.0.0"
#endif

#define EXIT_USAGE          64
#define MAIN_LATENCY_MAX_MS 3600000L
#define MAIN_QPS_MAX        1000000L
#define MAIN_CONN_TIMEOUT_S 300
#define MAIN_CONN_LIMIT     1024

static volatile sig_atomic_t g_stop;

typedef struct main_opts {
    long port;
    long long app_id;
    const char *secret;
    long qps;
    long latency_ms;
    const char *bind;
    const char *log_path;
    sandbox_fail_t fails[SANDBOX_MAX_FAILS];
    size_t nfails;
    uint64_t seed;
    int seeded;
} main_opts_t;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: zim-sandbox --port P --app-id N --secret S [options]\n"
            "\n"
            "Serves the ZIM server API DeleteAllFriends on http://ADDR:P/ with the service's\n"
            "parameter, signature, timestamp and rate-limit checks, and fault injection.\n"
            "Prints \"listening ADDR:PORT\" on stdout once the port is open.\n"
            "\n"
            "  --port P           TCP port, 0 = chosen by the kernel (required)\n"
            "  --app-id N         the AppId accepted, 1-4294967295 (required)\n"
            "  --secret S         the ServerSecret signatures are checked with (required)\n"
            "  --qps Q            admitted calls per sliding 1000 ms window, 0 = no limit\n"
            "                     (default 20); excess calls get Code 660300005\n"
            "  --latency-ms L     delay every API answer by L ms (default 0)\n"
            "  --bind ADDR        IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
            "  --log FILE         append one JSON line per API request to FILE (\"-\": stdout)\n"
            "  --fail CODE:RATE   answer CODE with probability RATE (0 < RATE <= 1) to calls\n"
            "                     that pass every check; repeat the flag for several codes\n"
            "  --seed N           seed of the --fail draws (default: random)\n"
            "  -h, --help         this text\n"
            "  -V, --version      print the version\n"
            "\n"
            "Control (same port): GET /_sandbox/fault?kind=K[&count=N][&user=ID] with K one\n"
            "of code:<int>, http:<status>, nonjson, drop, latency:<ms>;\n"
            "GET /_sandbox/reset[?stats=1]; GET /_sandbox/stats; GET /_sandbox/secret?value=S\n"
            "Exit: 0 on SIGTERM/SIGINT, 1 on a runtime error, 64 on a usage error.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a usage error and returns EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "zim-sandbox: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'zim-sandbox --help'.\n");
    return EXIT_USAGE;
}

/* Whole decimal number in [min, max]. 0 ok, -1 otherwise. */
static int parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (!(s[0] >= '0' && s[0] <= '9'))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parses argv into o. 0 ok, -1 exit 0 (help/version printed), or EXIT_USAGE. */
static int parse_args(int argc, char **argv, main_opts_t *o)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},       {"app-id", required_argument, NULL, 'a'},
        {"secret", required_argument, NULL, 's'},     {"qps", required_argument, NULL, 'q'},
        {"latency-ms", required_argument, NULL, 'l'}, {"bind", required_argument, NULL, 'b'},
        {"log", required_argument, NULL, 'L'},        {"fail", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'S'},       {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},          {NULL, 0, NULL, 0}};
    char err[256];
    double total = 0.0;
    long long v;
    size_t i;
    int c, have_port = 0;

    memset(o, 0, sizeof(*o));
    o->qps = 20;
    o->bind = "127.0.0.1";
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (parse_ll(optarg, 0, 65535, &v) != 0)
                return usage_error("--port: must be an integer 0-65535 (got \"%s\")", optarg);
            o->port = (long)v;
            have_port = 1;
            break;
        case 'a':
            if (parse_ll(optarg, 1, UINT32_MAX, &v) != 0)
                return usage_error("--app-id: must be an integer 1-4294967295 (got \"%s\")",
                                   optarg);
            o->app_id = v;
            break;
        case 's':
            if (optarg[0] == '\0')
                return usage_error("--secret: must not be empty");
            o->secret = optarg;
            break;
        case 'q':
            if (parse_ll(optarg, 0, MAIN_QPS_MAX, &v) != 0)
                return usage_error("--qps: must be an integer 0-1000000 (got \"%s\")", optarg);
            o->qps = (long)v;
            break;
        case 'l':
            if (parse_ll(optarg, 0, MAIN_LATENCY_MAX_MS, &v) != 0)
                return usage_error("--latency-ms: must be an integer 0-3600000 (got \"%s\")",
                                   optarg);
            o->latency_ms = (long)v;
            break;
        case 'b': {
            struct in6_addr a6;
            if (strcmp(optarg, "localhost") != 0 && inet_pton(AF_INET, optarg, &a6) != 1 &&
                inet_pton(AF_INET6, optarg, &a6) != 1)
                return usage_error("--bind: \"%s\" is not an IPv4 or IPv6 address", optarg);
            o->bind = optarg;
            break;
        }
        case 'L':
            if (optarg[0] == '\0')
                return usage_error("--log: must not be empty");
            o->log_path = optarg;
            break;
        case 'f':
            if (o->nfails == SANDBOX_MAX_FAILS)
                return usage_error("--fail: at most 32 rules");
            if (sandbox_fail_parse(optarg, &o->fails[o->nfails], err, sizeof(err)) != 0)
                return usage_error("%s", err);
            o->nfails++;
            break;
        case 'S':
            if (parse_ll(optarg, 0, LLONG_MAX, &v) != 0)
                return usage_error("--seed: must be a non-negative integer (got \"%s\")", optarg);
            o->seed = (uint64_t)v;
            o->seeded = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V':
            printf("zim-sandbox %s\n", ZU_VERSION);
            return -1;
        case ':':
            return usage_error("%s: missing argument", argv[optind - 1]);
        default:
            return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (!have_port)
        return usage_error("--port is required");
    if (o->app_id == 0)
        return usage_error("--app-id is required");
    if (o->secret == NULL)
        return usage_error("--secret is required");
    for (i = 0; i < o->nfails; i++)
        total += o->fails[i].rate;
    if (total > 1.0 + 1e-9)
        return usage_error("--fail: the rates add up to more than 1");
    return 0;
}

/* Opens the listening socket on addr:port and writes the bound address as
 * text ("127.0.0.1:PORT", "[::1]:PORT") to where. Returns the fd, or -1 with
 * errstr. *is_v6 tells the family. */
static int listen_on(const char *addr, long port, int *is_v6, char *where, size_t where_size,
                     char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    char text[INET6_ADDRSTRLEN];
    int fd = -1, one = 1;

    memset(&ss, 0, sizeof(ss));
    if (strcmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        len = sizeof(*sin);
        *is_v6 = 0;
    } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        len = sizeof(*sin6);
        *is_v6 = 1;
    } else {
        snprintf(errstr, errstr_size, "--bind %s: not an IPv4 or IPv6 address", addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "socket: %s", strerror(errno));
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (*is_v6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 256) != 0) {
        snprintf(errstr, errstr_size, "listen on %s port %ld: %s", addr, port, strerror(errno));
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(errstr, errstr_size, "getsockname: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (*is_v6) {
        inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
        snprintf(where, where_size, "[%s]:%u", text, (unsigned)ntohs(sin6->sin6_port));
    } else {
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
        snprintf(where, where_size, "%s:%u", text, (unsigned)ntohs(sin->sin_port));
    }
    return fd;
}

int main(int argc, char **argv)
{
    main_opts_t o;
    sandbox_config_t cfg;
    sandbox_state_t *st = NULL;
    struct MHD_Daemon *d = NULL;
    struct sigaction sa;
    sigset_t block, old;
    FILE *log = NULL;
    char err[512], where[INET6_ADDRSTRLEN + 16];
    unsigned int flags;
    int fd = -1, is_v6 = 0, rc = 1;

    rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = 1;

    /* Signals go to this thread only: block them before any thread starts,
     * wait for them below with sigsuspend(). */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    sigdelset(&old, SIGTERM);
    sigdelset(&old, SIGINT);

    if (o.log_path != NULL) {
        if (strcmp(o.log_path, "-") == 0) {
            log = stdout;
        } else {
            log = fopen(o.log_path, "ae");
            if (log == NULL) {
                fprintf(stderr, "zim-sandbox: --log %s: %s\n", o.log_path, strerror(errno));
                goto out;
            }
        }
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.app_id = (uint32_t)o.app_id;
    cfg.secret = o.secret;
    cfg.qps = o.qps;
    cfg.latency_ms = o.latency_ms;
    cfg.fails = o.fails;
    cfg.nfails = o.nfails;
    cfg.seed = o.seed;
    cfg.seeded = o.seeded;
    cfg.log = log;
    st = sandbox_state_new(&cfg, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "zim-sandbox: %s\n", err);
        goto out;
    }
    fd = listen_on(o.bind, o.port, &is_v6, where, sizeof(where), err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "zim-sandbox: %s\n", err);
        goto out;
    }
    flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
    if (is_v6)
        flags |= MHD_USE_IPv6;
    /* The socket already accepts connections: announce it before the server
     * starts so the line precedes any request-log line on stdout. */
    printf("listening %s\n", where);
    fflush(stdout);
    d = MHD_start_daemon(flags, 0, NULL, NULL, sandbox_api_handler, st, MHD_OPTION_LISTEN_SOCKET,
                         (MHD_socket)fd, MHD_OPTION_URI_LOG_CALLBACK, sandbox_api_uri_cb,
                         (void *)st, MHD_OPTION_NOTIFY_COMPLETED, sandbox_api_completed, (void *)st,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)MAIN_CONN_TIMEOUT_S,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAIN_CONN_LIMIT,
                         MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "zim-sandbox: cannot start the HTTP server on %s\n", where);
        goto out;
    }
    fd = -1; /* owned by the daemon now */

    while (!g_stop)
        sigsuspend(&old);
    rc = 0;
out:
    if (st != NULL)
        sandbox_state_stop(st); /* wake sleeping answers */
    if (d != NULL)
        MHD_stop_daemon(d);
    if (fd >= 0)
        close(fd);
    sandbox_state_destroy(st);
    if (log != NULL && log != stdout)
        fclose(log);
    return rc;
}
