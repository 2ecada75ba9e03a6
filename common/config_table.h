/* config_table.h - PRIVATE to common/config.c and common/config_print.c.
 *
 * Not part of the public interface: nothing outside those two files may
 * include it (use common/config.h). It declares what the loading side
 * (config.c, which owns the key table) and the output side (config_print.c:
 * --check-config, the example, the defaults document) share: the key-table
 * type, the table itself and the small helpers both need. It does not pull in
 * libconfig; only config.c includes <libconfig.h> (with its config_t rename). */
#ifndef ZU_CONFIG_TABLE_H
#define ZU_CONFIG_TABLE_H

#include "common/config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SECRET_ENV "ZIM_SERVER_SECRET"
/* systemd's LoadCredential= name of the secret, in $CREDENTIALS_DIRECTORY. */
#define CREDENTIAL_NAME "zim-server-secret"

typedef enum {
    KT_STR,      /* char * */
    KT_INT,      /* int */
    KT_U32,      /* uint32_t */
    KT_FLOAT,    /* double; a libconfig integer is accepted */
    KT_BOOL,     /* int 0/1 */
    KT_STRV,     /* config_strv_t */
    KT_I64V,     /* int64_t *, then its size_t count */
    KT_ENUM,     /* an enum (int): the index into choices */
    KT_ENUM_STR, /* char *: one of choices */
    KT_EVCLASS   /* config_event_class_t: { match = [ ... ]; delete_type = "..."; } */
} ktype_t;

enum {
    F_REQUIRED = 1, /* no default: must be set in the file */
    F_SECRET = 2,   /* never printed nor echoed; wiped on free */
    F_MIN_EXCL = 4, /* range excludes min */
    F_NONEMPTY = 8, /* string or list must not be empty */
    F_UNIQUE = 16   /* list entries must be distinct */
};

/* Extra check of one string (or list entry); fills why on error. */
typedef int check_fn(const char *s, char *why, size_t why_size);

typedef struct cfg_key {
    const char *group;
    const char *name;
    ktype_t type;
    size_t off;
    int flags;
    const char *def;     /* libconfig text of the default (the empty value when required) */
    const char *example; /* shown in the example instead of def (required keys) */
    double min, max;     /* KT_INT, KT_U32, KT_FLOAT */
    const char *const *choices;
    check_fn *check;
    const char *help;
} cfg_key_t;

_Static_assert(sizeof(config_share_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(config_unknown_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(config_format_t) == sizeof(int), "enums are stored as int");
_Static_assert(offsetof(config_t, success_codes_cnt) ==
                   offsetof(config_t, success_codes) + sizeof(int64_t *),
               "a KT_I64V count follows its array");

/* The count of a KT_I64V key k in cfg (it follows the array pointer). */
#define I64V_COUNT(cfg, k) ((size_t *)(void *)((char *)(cfg) + (k)->off + sizeof(int64_t *)))

/* The only list of configuration keys, in output order (defined in config.c),
 * and its length. Keys of one group are adjacent. */
extern const cfg_key_t config_keys[];
extern const size_t config_keys_cnt;

/* Writes choices (a NULL-terminated list) as "a" | "b" | "c" into buf of
 * size bytes (cut to fit) and returns buf. Defined in config_print.c. */
const char *config_choices_text(const char *const *choices, char *buf, size_t size);

/* A value made safe to quote in a one-line message: at most 64 bytes,
 * control and non-ASCII bytes shown as '?'. Returns buf. (config_check.c) */
const char *config_quote(char *buf, size_t size, const char *s);

/* The checks the table names (config_check.c): 0 ok, -1 with why. */
int config_check_topic(const char *s, char *why, size_t n);
int config_check_input_topic(const char *s, char *why, size_t n);
int config_check_opt_topic(const char *s, char *why, size_t n);
int config_check_error_class(const char *s, char *why, size_t n);
int config_check_prop(const char *s, char *why, size_t n);
int config_check_endpoint(const char *s, char *why, size_t n);
int config_check_registry_url(const char *s, char *why, size_t n);
int config_check_user_info(const char *s, char *why, size_t n);
int config_check_listen(const char *s, char *why, size_t n);
int config_check_ca_file(const char *s, char *why, size_t n);

/* Writes the table's defaults as a libconfig document (no comments) for
 * config_defaults() to load. Defined in config_print.c. */
void config_write_defaults(FILE *out);

#endif
