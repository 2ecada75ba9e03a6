/* offsets.c - per-partition commit watermarks (see offsets.h). */
#include "worker/offsets.h"

#include <stdlib.h>
#include <string.h>

typedef struct part {
    int assigned;
    uint64_t gen;
    /* Ring of received offsets, oldest first, with done flags. */
    int64_t *offs;
    unsigned char *done;
    size_t cap, head, len;
    int64_t last_received; /* -1 none */
    int64_t watermark;     /* offset to commit, -1 none */
    int64_t held_back;     /* an offset dropped untracked: nothing at or past it is
                            * committed in this assignment; -1 none */
    int64_t high_done;     /* highest done or touched offset, -1 none */
    int64_t cut;           /* stop or revoke cut, -1 none */
    int draining;          /* revoked: finishing what it started, taking nothing new */
    int64_t end;           /* --until-end target, -1 none */
    int64_t eof_pos;       /* last end-of-partition position, -1 none */
    size_t bytes;          /* bytes held for its received, unfinished events */
    int flow_paused;       /* paused by backpressure */
} part_t;

typedef struct topic_parts {
    part_t **v; /* indexed by partition number; NULL = never seen */
    size_t n;
} topic_parts_t;

struct offsets {
    topic_parts_t *topics;
    size_t topic_cnt;
    size_t pending; /* sum of every assigned partition's len */
    size_t bytes;   /* sum of every assigned partition's bytes */
    int stopping;
};

offsets_t *offsets_new(size_t topic_cnt)
{
    offsets_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->topics = calloc(topic_cnt ? topic_cnt : 1, sizeof(*o->topics));
    if (!o->topics) {
        free(o);
        return NULL;
    }
    o->topic_cnt = topic_cnt;
    return o;
}

static void part_free(part_t *p)
{
    if (!p)
        return;
    free(p->offs);
    free(p->done);
    free(p);
}

void offsets_destroy(offsets_t *o)
{
    if (!o)
        return;
    for (size_t t = 0; t < o->topic_cnt; t++) {
        for (size_t i = 0; i < o->topics[t].n; i++)
            part_free(o->topics[t].v[i]);
        free(o->topics[t].v);
    }
    free(o->topics);
    free(o);
}

static part_t *part_get(const offsets_t *o, size_t tidx, int32_t partition)
{
    if (tidx >= o->topic_cnt || partition < 0 || (size_t)partition >= o->topics[tidx].n)
        return NULL;
    return o->topics[tidx].v[partition];
}

static void part_reset(part_t *p, uint64_t gen)
{
    p->assigned = 1;
    p->gen = gen;
    p->head = p->len = 0;
    p->last_received = -1;
    p->watermark = -1;
    p->held_back = -1;
    p->high_done = -1;
    p->cut = -1;
    p->draining = 0;
    /* end is kept: a replay's end for the partition holds for the whole
     * job, through a revoke and a later assignment. */
    p->eof_pos = -1;
    p->bytes = 0;
    p->flow_paused = 0;
}

int offsets_assign(offsets_t *o, size_t tidx, int32_t partition, uint64_t gen)
{
    if (tidx >= o->topic_cnt || partition < 0)
        return -1;
    topic_parts_t *tp = &o->topics[tidx];
    if ((size_t)partition >= tp->n) {
        size_t n = (size_t)partition + 1;
        part_t **v = realloc(tp->v, n * sizeof(*v));
        if (!v)
            return -1;
        memset(v + tp->n, 0, (n - tp->n) * sizeof(*v));
        tp->v = v;
        tp->n = n;
    }
    if (!tp->v[partition]) {
        if (!(tp->v[partition] = calloc(1, sizeof(part_t))))
            return -1;
        tp->v[partition]->end = -1;
    }
    o->pending -= tp->v[partition]->len;
    o->bytes -= tp->v[partition]->bytes;
    part_reset(tp->v[partition], gen);
    return 0;
}

void offsets_revoke(offsets_t *o, size_t tidx, int32_t partition)
{
    part_t *p = part_get(o, tidx, partition);
    if (p) {
        o->pending -= p->len;
        o->bytes -= p->bytes;
        part_reset(p, p->gen);
        p->assigned = 0;
    }
}

static part_t *part_current(const offsets_t *o, size_t tidx, int32_t partition, uint64_t gen)
{
    part_t *p = part_get(o, tidx, partition);
    return p && p->assigned && p->gen == gen ? p : NULL;
}

int offsets_is_current(const offsets_t *o, size_t tidx, int32_t partition, uint64_t gen)
{
    return part_current(o, tidx, partition, gen) != NULL;
}

static size_t ring_idx(const part_t *p, size_t i)
{
    return (p->head + i) % p->cap;
}

static int ring_grow(part_t *p)
{
    size_t cap = p->cap ? p->cap * 2 : 64;
    int64_t *offs = malloc(cap * sizeof(*offs));
    unsigned char *done = malloc(cap);
    if (!offs || !done) {
        free(offs);
        free(done);
        return -1;
    }
    for (size_t i = 0; i < p->len; i++) {
        offs[i] = p->offs[ring_idx(p, i)];
        done[i] = p->done[ring_idx(p, i)];
    }
    free(p->offs);
    free(p->done);
    p->offs = offs;
    p->done = done;
    p->cap = cap;
    p->head = 0;
    return 0;
}

void offsets_hold_back(offsets_t *o, size_t tidx, int32_t partition, uint64_t gen, int64_t offset)
{
    part_t *p = part_current(o, tidx, partition, gen);
    if (p && offset >= 0 && (p->held_back < 0 || offset < p->held_back))
        p->held_back = offset;
}

/* What may be committed of watermark wm: not past an offset held back. */
static int64_t committable(const part_t *p, int64_t wm)
{
    return p->held_back >= 0 && wm > p->held_back ? p->held_back : wm;
}

int offsets_received(offsets_t *o, size_t tidx, int32_t partition, uint64_t gen, int64_t offset,
                     size_t bytes)
{
    part_t *p = part_current(o, tidx, partition, gen);
    if (!p || p->draining || offset < 0 || offset <= p->last_received)
        return -1;
    if (p->len == p->cap && ring_grow(p) == -1) {
        offsets_hold_back(o, tidx, partition, gen, offset);
        p->last_received = offset;
        return -2;
    }
    size_t i = ring_idx(p, p->len);
    p->offs[i] = offset;
    p->done[i] = 0;
    p->len++;
    o->pending++;
    p->bytes += bytes;
    o->bytes += bytes;
    p->last_received = offset;
    return 0;
}

/* Position of offset in the ring (binary search: offsets increase), or -1. */
static long ring_find(const part_t *p, int64_t offset)
{
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t v = p->offs[ring_idx(p, mid)];
        if (v == offset)
            return (long)mid;
        if (v < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int offsets_done(offsets_t *o, size_t tidx, int32_t partition, uint64_t gen, int64_t offset,
                 size_t bytes, int64_t *watermark)
{
    part_t *p = part_current(o, tidx, partition, gen);
    if (!p)
        return -1;
    long pos = ring_find(p, offset);
    if (pos < 0 || p->done[ring_idx(p, (size_t)pos)])
        return -1;
    p->done[ring_idx(p, (size_t)pos)] = 1;
    bytes = bytes < p->bytes ? bytes : p->bytes;
    p->bytes -= bytes;
    o->bytes -= bytes;
    if (offset > p->high_done)
        p->high_done = offset;
    int advanced = 0;
    while (p->len > 0 && p->done[p->head]) {
        p->watermark = p->offs[p->head] + 1;
        p->head = (p->head + 1) % p->cap;
        p->len--;
        o->pending--;
        advanced = 1;
    }
    if (advanced && watermark)
        *watermark = committable(p, p->watermark);
    return advanced;
}

int64_t offsets_watermark(const offsets_t *o, size_t tidx, int32_t partition)
{
    part_t *p = part_get(o, tidx, partition);
    return p && p->assigned ? committable(p, p->watermark) : -1;
}

size_t offsets_pending(const offsets_t *o, size_t tidx, int32_t partition)
{
    part_t *p = part_get(o, tidx, partition);
    return p && p->assigned ? p->len : 0;
}

size_t offsets_pending_total(const offsets_t *o)
{
    return o->pending;
}

size_t offsets_bytes(const offsets_t *o, size_t tidx, int32_t partition)
{
    part_t *p = part_get(o, tidx, partition);
    return p && p->assigned ? p->bytes : 0;
}

size_t offsets_bytes_total(const offsets_t *o)
{
    return o->bytes;
}

int64_t offsets_lead(const offsets_t *o, size_t tidx, int32_t partition)
{
    part_t *p = part_get(o, tidx, partition);
    if (!p || !p->assigned || p->len == 0)
        return 0;
    return p->last_received - p->offs[p->head] + 1;
}

void offsets_set_flow_paused(offsets_t *o, size_t tidx, int32_t partition, int paused)
{
    part_t *p = part_get(o, tidx, partition);
    if (p && p->assigned)
        p->flow_paused = paused;
}

int offsets_flow_paused(const offsets_t *o, size_t tidx, int32_t partition)
{
    part_t *p = part_get(o, tidx, partition);
    return p && p->assigned && p->flow_paused;
}

uint64_t offsets_gen(const offsets_t *o, size_t tidx, int32_t partition)
{
    part_t *p = part_get(o, tidx, partition);
    return p && p->assigned ? p->gen : 0;
}

void offsets_touch(offsets_t *o, size_t tidx, int32_t partition, int64_t offset)
{
    part_t *p = part_get(o, tidx, partition);
    if (p && p->assigned && offset > p->high_done)
        p->high_done = offset;
}

void offsets_stop_begin(offsets_t *o)
{
    o->stopping = 1;
    for (size_t t = 0; t < o->topic_cnt; t++)
        for (size_t i = 0; i < o->topics[t].n; i++)
            if (o->topics[t].v[i])
                o->topics[t].v[i]->cut = o->topics[t].v[i]->high_done;
}

int offsets_may_start(const offsets_t *o, size_t tidx, int32_t partition, int64_t offset)
{
    part_t *p = part_get(o, tidx, partition);
    if (!o->stopping && !(p && p->draining))
        return 1;
    return p && p->assigned && offset <= p->cut;
}

int offsets_needed(const offsets_t *o, size_t tidx, int32_t partition, uint64_t gen, int64_t offset)
{
    part_t *p = part_current(o, tidx, partition, gen);
    return p && (o->stopping || p->draining) && offset <= p->cut;
}

void offsets_drain_begin(offsets_t *o, size_t tidx, int32_t partition)
{
    part_t *p = part_get(o, tidx, partition);
    /* Nothing beyond high_done starts once a cut is fixed, so a stop cut and
     * a drain cut fixed in either order are the same offset. */
    if (p && p->assigned) {
        p->draining = 1;
        p->cut = p->high_done;
    }
}

/* Every offset up to the cut done (or not assigned). */
static int part_drained(const part_t *p)
{
    return !p || !p->assigned || p->len == 0 || p->offs[p->head] > p->cut;
}

int offsets_drained(const offsets_t *o, size_t tidx, int32_t partition)
{
    return part_drained(part_get(o, tidx, partition));
}

int offsets_stop_drained(const offsets_t *o)
{
    for (size_t t = 0; t < o->topic_cnt; t++)
        for (size_t i = 0; i < o->topics[t].n; i++)
            if (!part_drained(o->topics[t].v[i]))
                return 0;
    return 1;
}

void offsets_set_end(offsets_t *o, size_t tidx, int32_t partition, int64_t end)
{
    part_t *p = part_get(o, tidx, partition);
    if (p)
        p->end = end;
}

int64_t offsets_end(const offsets_t *o, size_t tidx, int32_t partition)
{
    const part_t *p = part_get(o, tidx, partition);
    return p ? p->end : -1;
}

void offsets_set_eof(offsets_t *o, size_t tidx, int32_t partition, int64_t position)
{
    part_t *p = part_get(o, tidx, partition);
    if (!p)
        return;
    p->eof_pos = position;
    /* An end that could not be read is where the partition first ended:
     * what arrives later is live traffic, not the replay's. */
    if (p->end == OFFSETS_END_AT_EOF)
        p->end = position;
}

int64_t offsets_position(const offsets_t *o, size_t tidx, int32_t partition)
{
    const part_t *p = part_get(o, tidx, partition);
    if (!p || !p->assigned)
        return -1;
    if (p->len > 0)
        return p->offs[p->head];
    return p->watermark > p->eof_pos ? p->watermark : p->eof_pos;
}

int offsets_reached_end(const offsets_t *o)
{
    int any = 0;
    for (size_t t = 0; t < o->topic_cnt; t++)
        for (size_t i = 0; i < o->topics[t].n; i++) {
            const part_t *p = o->topics[t].v[i];
            if (!p || !p->assigned || p->end < 0)
                continue;
            any = 1;
            if (p->watermark >= p->end)
                continue;
            /* Nothing pending below end, and the consumer stood at or past it. */
            int64_t first_pending = p->len ? p->offs[p->head] : INT64_MAX;
            if (first_pending >= p->end && p->eof_pos >= p->end)
                continue;
            return 0;
        }
    return any;
}
