/* fuzz_config.c - libFuzzer target for the configuration loader.
 *
 * Each input is written to a fresh file under /tmp and loaded with
 * config_load(), then freed: any crash, leak, hang or sanitizer report in
 * libconfig's parse tree walk, the table-driven checks or the secret
 * handling is a bug. Seeds: tests/fuzz/corpus/config/. */
#include "common/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5's parser leaks its string buffer on some syntax errors
 * (reproducible with libconfig alone); only allocations made under its
 * parser are exempt. */
const char *__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\nleak:libconfig_yylex\nleak:libconfig_yyparse\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/zu_fuzz_config_XXXXXX";
    char err[512];
    config_t cfg;
    size_t off = 0;
    int fd = mkstemp(path);

    if (fd < 0)
        return 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    if (off == size && config_load(&cfg, path, err, sizeof(err)) == 0) {
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            config_print(&cfg, devnull); /* exercise the printer on every accepted config */
            fclose(devnull);
        }
        config_free(&cfg);
    }
    unlink(path);
    return 0;
}
