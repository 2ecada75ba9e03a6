/* config_check.c - the checks of single values that the key table
 * (config.c) names: topics, librdkafka properties, URLs, listen addresses,
 * files. Each fills why with a one-line reason; none echoes a credential. */
#include "common/config.h"
#include "common/config_table.h"
#include "common/httpd.h"
#include "common/result.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *config_quote(char *buf, size_t size, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 4 < size && i < 64; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7F) ? '?' : s[i];
    if (s[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static int bad(const char *s, const char *reason, char *why, size_t n)
{
    char qb[80];
    snprintf(why, n, "\"%s\" %s", config_quote(qb, sizeof(qb), s), reason);
    return -1;
}

static int name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

int config_check_topic(const char *s, char *why, size_t n)
{
    size_t len = strlen(s), i = 0;
    while (i < len && name_char(s[i]))
        i++;
    if (i < len || len > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return bad(s, "is not a valid topic name (a-z A-Z 0-9 . _ -, at most 249)", why, n);
    return 0;
}

int config_check_input_topic(const char *s, char *why, size_t n)
{
    /* Results name the topic an event came from, offsets and the rate share
     * count its partitions: the worker consumes named topics only. */
    if (s[0] == '^')
        return bad(s, "is a pattern: list the topic names (patterns are not supported)", why, n);
    return config_check_topic(s, why, n);
}

int config_check_error_class(const char *s, char *why, size_t n)
{
    if (result_error_parse(s) == RESULT_ERR_NONE)
        return bad(s,
                   "is not an error class (\"retries_exhausted\", \"rejected\", \"invalid_event\")",
                   why, n);
    return 0;
}

int config_check_opt_topic(const char *s, char *why, size_t n)
{
    return s[0] ? config_check_topic(s, why, n) : 0;
}

int config_check_prop(const char *s, char *why, size_t n)
{
    const char *eq = strchr(s, '='), *p = s;
    while (p < eq && name_char(*p))
        p++;
    if (!eq || eq == s || p != eq) {
        if (config_prop_sensitive(s)) {
            /* A credential's value is never echoed, even when malformed
             * ("name:value", "name value"): only the name's leading run. */
            char name[80];
            size_t len = 0;
            while (s[len] && name_char(s[len]))
                len++;
            snprintf(name, sizeof(name), "%.*s=***", (int)len, s);
            return bad(name, "is not \"name=value\" with a property name", why, n);
        }
        return bad(s, "is not \"name=value\" with a property name", why, n);
    }
    /* Properties with a key (or flag) of their own: a copy here would
     * silently win over --group or KAFKA_BROKERS (a replay job committing
     * in the production group). */
    static const struct {
        const char *name, *instead;
    } own[] = {
        {"group.id", "set kafka.group_id (or --group) instead"},
        {"bootstrap.servers", "set kafka.brokers (or KAFKA_BROKERS) instead"},
        {"metadata.broker.list", "set kafka.brokers (or KAFKA_BROKERS) instead"},
    };
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if ((size_t)(eq - s) == strlen(own[i].name) &&
            strncmp(s, own[i].name, (size_t)(eq - s)) == 0) {
            snprintf(why, n, "\"%s\" is not allowed here: %s", own[i].name, own[i].instead);
            return -1;
        }
    return 0;
}

/* 1 when the URL's host is loopback: 127.0.0.0/8, [::1] or localhost. */
static int loopback_host(const char *host, size_t len)
{
    if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (len == 5 && strncmp(host, "[::1]", 5) == 0))
        return 1;
    if (len < 9 || strncmp(host, "127.", 4) != 0)
        return 0;
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (host[i] == '.')
            dots++;
        else if (host[i] < '0' || host[i] > '9')
            return 0;
    }
    return dots == 3;
}

/* An http(s) URL with a host, without query, fragment, spaces or '@';
 * plain http only to a loopback host. at_why says why '@' is refused. */
static int check_url(const char *s, const char *at_why, char *why, size_t n)
{
    /* Any '@' is refused before anything quotes the URL: credentials are
     * never echoed (a password may hold '/', base64, and so hide its '@'
     * behind what looks like a path), and "http://127.0.0.1:80@host/" names
     * host, not the loopback address the check below would see. */
    if (strchr(s, '@')) {
        snprintf(why, n, "%s", at_why);
        return -1;
    }
    size_t skip = strncmp(s, "https://", 8) == 0 ? 8 : strncmp(s, "http://", 7) == 0 ? 7 : 0;
    if (!skip || !s[skip] || s[skip] == '/')
        return bad(s, "must start with http:// or https:// and a host", why, n);
    const char *host = s + skip;
    for (const char *p = s; *p; p++)
        if (*p == '?' || *p == '#' || (unsigned char)*p <= 0x20 || *p == 0x7F)
            return bad(s, "must not contain '?', '#' or spaces", why, n);
    /* User ids, signed URLs and schemas never travel in clear, and a forged
     * answer cannot become a success: plain http only to this host (tests). */
    size_t hlen = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/");
    if (skip == 7 && !loopback_host(host, hlen))
        return bad(s, "must use https:// (plain http only to a loopback host)", why, n);
    return 0;
}

int config_check_endpoint(const char *s, char *why, size_t n)
{
    return check_url(s, "must not contain '@' (ZIM takes no credentials in the URL)", why, n);
}

int config_check_registry_url(const char *s, char *why, size_t n)
{
    return s[0] ? check_url(s, "must not hold credentials ('@'): put them in basic_auth_user_info",
                            why, n)
                : 0;
}

int config_check_user_info(const char *s, char *why, size_t n)
{
    /* A credential: the reason never quotes it. */
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F) {
            snprintf(why, n, "must not contain control characters (value not shown)");
            return -1;
        }
    return 0;
}

/* The endpoint's own parser decides, so what passes here also binds. */
int config_check_listen(const char *s, char *why, size_t n)
{
    char err[160];
    if (s[0] && httpd_check_listen(s, err, sizeof(err)) != 0)
        return bad(s,
                   "must be \"\" or host:port (host an IPv4 address, localhost or [IPv6 "
                   "address]; port 0..65535)",
                   why, n);
    return 0;
}

int config_check_ca_file(const char *s, char *why, size_t n)
{
    char qb[80];
    if (s[0] && access(s, R_OK) != 0) {
        snprintf(why, n, "cannot read \"%s\": %s", config_quote(qb, sizeof(qb), s),
                 strerror(errno));
        return -1;
    }
    return 0;
}
