/* bench_http_floor.c - what libcurl alone costs per DeleteAllFriends call,
 * the floor under the worker's CPU per event. Prints, never fails.
 *
 * N signed GETs, one after another, through one reused easy handle (the
 * cheapest way to drive libcurl: no multi handle, no event loop), each with
 * a fresh nonce, timestamp and user, as the worker's calls are. The first
 * 100 (connection set-up, warm-up) are left out of the figures: user and
 * system CPU of this process per call (getrusage), and calls/s.
 *
 * Usage: bench_http_floor ENDPOINT [N] (default 5000). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "common/zim_api.h"
#include "common/zim_sign.h"

#define WARM_UP 100

static size_t sink(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static double tv_us(struct timeval tv)
{
    return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 5000, ret = 1;
    char err[256], nonce[ZIM_NONCE_LEN + 1], user[32];
    struct rusage r0, r1;
    double t0 = 0.0;
    CURL *easy = NULL;

    if (argc < 2 || n <= WARM_UP) {
        fprintf(stderr, "usage: bench_http_floor ENDPOINT [N > %d]\n", WARM_UP);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(easy = curl_easy_init())) {
        fprintf(stderr, "bench_http_floor: libcurl did not start\n");
        goto out;
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    for (int i = 0; i < n; i++) {
        char *url = NULL;
        CURLcode rc;

        if (i == WARM_UP) {
            getrusage(RUSAGE_SELF, &r0);
            t0 = mono_s();
        }
        snprintf(user, sizeof(user), "floor-%d", i);
        if (zim_sign_nonce(nonce, err, sizeof(err)) != 0 ||
            zim_api_build_url(argv[1], 1, "floor-secret", user, 0, nonce, (int64_t)time(NULL), &url,
                              err, sizeof(err)) != 0) {
            fprintf(stderr, "bench_http_floor: %s\n", err);
            goto out;
        }
        curl_easy_setopt(easy, CURLOPT_URL, url);
        rc = curl_easy_perform(easy);
        free(url);
        if (rc != CURLE_OK) {
            fprintf(stderr, "bench_http_floor: call %d: %s\n", i, curl_easy_strerror(rc));
            goto out;
        }
    }
    getrusage(RUSAGE_SELF, &r1);
    double calls = (double)(n - WARM_UP), secs = mono_s() - t0;
    double user_us = (tv_us(r1.ru_utime) - tv_us(r0.ru_utime)) / calls;
    double sys_us = (tv_us(r1.ru_stime) - tv_us(r0.ru_stime)) / calls;
    printf("http floor: libcurl alone (and the signed URL), one reused handle, %d calls: "
           "%.0f us CPU per call "
           "(user %.0f, system %.0f), %.0f calls/s\n",
           n - WARM_UP, user_us + sys_us, user_us, sys_us, calls / secs);
    ret = 0;
out:
    curl_easy_cleanup(easy);
    curl_global_cleanup();
    return ret;
}
