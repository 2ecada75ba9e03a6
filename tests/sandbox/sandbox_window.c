/* sandbox_window.c - sliding-window event counter on a ring buffer. */
#include "sandbox_window.h"

#include <stdlib.h>
#include <string.h>

struct sandbox_window {
    int64_t span_us;
    int64_t *ring; /* event times, oldest at head */
    size_t cap;
    size_t head;
    size_t n;
    size_t max;
};

sandbox_window_t *sandbox_window_new(int64_t span_us)
{
    sandbox_window_t *w;

    if (span_us <= 0)
        return NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->span_us = span_us;
    return w;
}

void sandbox_window_destroy(sandbox_window_t *w)
{
    if (w == NULL)
        return;
    free(w->ring);
    free(w);
}

/* Forgets the events that left the window ending at now_us. */
static void window_prune(sandbox_window_t *w, int64_t now_us)
{
    while (w->n > 0 && w->ring[w->head] <= now_us - w->span_us) {
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
}

size_t sandbox_window_count(sandbox_window_t *w, int64_t now_us)
{
    window_prune(w, now_us);
    return w->n;
}

/* Doubles the ring, unrolling it so that the oldest event lands at index 0. */
static int window_grow(sandbox_window_t *w)
{
    size_t cap = w->cap ? w->cap * 2 : 64, first;
    int64_t *ring = malloc(cap * sizeof(*ring));

    if (ring == NULL)
        return -1;
    if (w->n > 0) {
        first = w->cap - w->head < w->n ? w->cap - w->head : w->n;
        memcpy(ring, w->ring + w->head, first * sizeof(*ring));
        memcpy(ring + first, w->ring, (w->n - first) * sizeof(*ring));
    }
    free(w->ring);
    w->ring = ring;
    w->cap = cap;
    w->head = 0;
    return 0;
}

int sandbox_window_add(sandbox_window_t *w, int64_t now_us)
{
    window_prune(w, now_us);
    if (w->n == w->cap && window_grow(w) != 0)
        return -1;
    w->ring[(w->head + w->n) % w->cap] = now_us;
    w->n++;
    if (w->n > w->max)
        w->max = w->n;
    return 0;
}

size_t sandbox_window_max(const sandbox_window_t *w)
{
    return w->max;
}

void sandbox_window_reset_max(sandbox_window_t *w, int64_t now_us)
{
    window_prune(w, now_us);
    w->max = w->n;
}
