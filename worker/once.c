/* once.c - a single DeleteAllFriends call (see once.h). */
#include "worker/once.h"

#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/evloop.h"
#include "common/ratelimit.h"
#include "common/zim_sign.h"
#include "worker/publisher.h"
#include "worker/scheduler.h"

typedef struct once_ctx {
    job_t *done;
    int stopped; /* a signal came */
    zim_api_t *api;
    scheduler_t *sched;
} once_ctx_t;

static void on_signal(void *ctx, int fd, int events)
{
    struct signalfd_siginfo si;
    (void)events;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ((once_ctx_t *)ctx)->stopped = 1;
}

static void on_wake(void *ctx, int64_t now_us)
{
    (void)ctx; /* the scheduler runs after every wake-up */
    (void)now_us;
}

static void on_final(void *ctx, job_t *job)
{
    job->completed_at_ms = clock_unix_ms();
    ((once_ctx_t *)ctx)->done = job;
}

static int api_start(void *ctx, job_t *job, int64_t now_us, char *errstr, size_t errstr_size)
{
    once_ctx_t *o = ctx;
    return zim_api_start(o->api, job->ev.user_id, job->ev.delete_type, now_us, job, errstr,
                         errstr_size);
}

static void api_done(void *opaque, const zim_api_result_t *res, void *ctx)
{
    scheduler_done(((once_ctx_t *)ctx)->sched, opaque, res, clock_mono_us());
}

static void on_drop(void *ctx, job_t *job)
{
    (void)ctx;
    job_free(job);
}

int once_run(const config_t *cfg, log_t *log, const char *user_id, int delete_type, int signal_fd)
{
    char err[512] = "", nonce[ZIM_NONCE_LEN + 1], worker[320];
    once_ctx_t ctx = {NULL, 0, NULL, NULL};
    evloop_t *el = evloop_new(err, sizeof(err));
    evloop_timer_t *wake = el ? evloop_timer_new(el, on_wake, &ctx) : NULL;
    int code = 1;
    ratelimit_t *rl = ratelimit_new(cfg->rate_limit_qps, clock_mono_us());
    scheduler_t *s = NULL;
    job_t *job = job_new();

    if (!el || !wake || !rl || !job || zim_sign_nonce(nonce, err, sizeof(err)) == -1 ||
        evloop_fd_set(el, signal_fd, EVLOOP_READ, on_signal, &ctx, err, sizeof(err)) != 0)
        goto out;
    scheduler_opts_t so;
    zim_api_opts_t ao;
    scheduler_config(cfg, &so, &ao);
    so.max_in_flight = 1;
    so.systemic_final = 1;
    so.seed = (uint64_t)clock_mono_us();
    so.coalesce = 0;
    scheduler_cbs_t cbs = {.final = on_final, .drop = on_drop, .ctx = &ctx};
    sched_api_t api = {.start = api_start, .ctx = &ctx};
    if (!(ctx.api = zim_api_new(&ao, api_done, &ctx, log, el, err, sizeof(err))))
        goto out;
    s = scheduler_new(&so, &api, rl, log, NULL, &cbs, err, sizeof(err));
    if (!s)
        goto out;
    ctx.sched = s;

    size_t idlen = strlen("once/") + ZIM_NONCE_LEN + 1;
    job->ev.user_id = strdup(user_id);
    job->ev.event_id = malloc(idlen);
    if (!job->ev.user_id || !job->ev.event_id) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    snprintf(job->ev.event_id, idlen, "once/%s", nonce);
    job->ev.delete_type = delete_type;
    job->ev_status = EVENT_OK;
    job->partition = -1;
    job->offset = -1;
    job->received_at_ms = clock_unix_ms();
    int rc = scheduler_submit(s, job);
    job = NULL; /* the scheduler's now (freed on failure) */
    if (rc == -1) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }

    while (!ctx.done && !ctx.stopped) {
        int64_t now = clock_mono_us();
        scheduler_run(s, now);
        if (ctx.done)
            break;
        int64_t next = scheduler_next_us(s, now);
        if (next >= 0)
            evloop_timer_at(el, wake, now + next);
        else
            evloop_timer_cancel(el, wake);
        if (evloop_run_once(el, -1, err, sizeof(err)) == -1)
            goto out;
    }
    if (!ctx.done) {
        snprintf(err, sizeof(err), "stopped by a signal before the call finished");
        goto out;
    }
    publisher_worker_id(worker, sizeof(worker));
    char *json = publisher_result_json(cfg, worker, ctx.done, NULL);
    if (!json) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    printf("%s\n", json);
    fflush(stdout);
    free(json);
    code = ctx.done->status == JOB_SUCCESS ? 0 : 1;
    err[0] = '\0';
out:
    if (code != 0 && err[0])
        log_msg(log, LOG_ERROR, "--once failed", "error", err, NULL);
    job_free(ctx.done);
    job_free(job);
    zim_api_destroy(ctx.api);
    scheduler_destroy(s);
    evloop_timer_free(el, wake);
    evloop_destroy(el);
    ratelimit_destroy(rl);
    return code;
}
