#include "window.h"

#include "window_run.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emit.h"
#include "executor.h"
#include "plugin_metrics.h"
#include "runtime.h"
#include "spout.h"

static int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Floor division, for times before 0 too. */
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* The first multiple of the slide above `ts`. */
int64_t gale__window_first_end(const gale_window_run_t *w, int64_t ts)
{
    return (floor_div(ts, w->slide) + 1) * w->slide;
}
#define first_end gale__window_first_end

/* The first index in [from, to) whose time is at least `ts` (to when none). */
static size_t lower_bound(const gale_window_run_t *w, size_t from, size_t to, int64_t ts)
{
    while (from < to) {
        size_t mid = from + (to - from) / 2;
        if (w->ts[mid] < ts) from = mid + 1;
        else to = mid;
    }
    return from;
}

/* What holding `in` costs: its block (counted whole, even when other tasks share it) and the window's entry. */
size_t gale__window_cost(const gale_tuple_t *in) { return gale__tuple_block_bytes(in->data) + GALE_WINDOW_ENTRY_BYTES; }
#define cost_of gale__window_cost

const win_input_t *gale__window_input_of(const gale_window_run_t *w, const gale_tuple_data_t *d)
{
    for (size_t i = 0; i < w->n_inputs; i++)
        if (w->inputs[i].src == d->src && w->inputs[i].stream == d->stream) return &w->inputs[i];
    return NULL;
}

int gale__window_init(gale_task_t *t)
{
    const gale_window_spec_t *spec = &t->comp->window;
    t->win = NULL;
    if (spec->type == GALE_WINDOW_NONE) return 0;
    gale_window_run_t *w = calloc(1, sizeof *w);
    if (!w) return GALE_ENOMEM;
    t->win = w;
    w->time = spec->by_count ? BY_COUNT : spec->timestamp_field ? BY_EVENT : BY_CLOCK;
    w->session = spec->type == GALE_WINDOW_SESSION;
    w->len = (int64_t)spec->length;
    w->slide = (int64_t)spec->slide;
    w->gap = (int64_t)spec->gap_ms;
    w->next_end = NO_END;
    w->fired_end = INT64_MIN;
    w->wm = INT64_MIN;
    w->max_bytes = (size_t)spec->max_mb << 20;
    w->late_stream = -1;
    for (size_t i = 0; spec->late_stream && i < t->comp->n_streams; i++)
        if (!strcmp(t->comp->streams[i].name, spec->late_stream)) w->late_stream = (int)i;
    const gale_topology_t *topo = t->rt->topo;
    if (!(w->inputs = calloc(t->comp->n_inputs ? t->comp->n_inputs : 1, sizeof *w->inputs))) return GALE_ENOMEM;
    for (size_t i = 0; i < t->comp->n_inputs; i++) {
        const gale_input_t *in = &t->comp->inputs[i];
        const gale_component_t *src = &topo->components[in->from_index];
        const gale_stream_t *st = &src->streams[in->stream_index];
        size_t f = 0;
        while (spec->timestamp_field && f < st->n_fields && strcmp(st->fields[f], spec->timestamp_field)) f++;
        w->inputs[w->n_inputs++] =
            (win_input_t){.src = src, .stream = (uint16_t)in->stream_index, .field = (uint16_t)f, .in = in};
    }
    if (w->time == BY_EVENT) {
        w->max_task = t->rt->n_all_tasks;
        w->slot = malloc((w->max_task + 1) * sizeof *w->slot);
        if (!w->slot) return GALE_ENOMEM;
        for (uint32_t k = 0; k <= w->max_task; k++) w->slot[k] = -1;
        for (size_t i = 0; i < w->n_inputs; i++) {
            const gale_component_t *src = w->inputs[i].src;
            for (int k = 0; k < src->parallelism; k++) {
                uint32_t task = src->first_task + (uint32_t)k;
                if (w->slot[task] < 0) w->slot[task] = (int32_t)w->n_producers++;
            }
        }
        w->in_wm = malloc((w->n_producers ? w->n_producers : 1) * sizeof *w->in_wm);
        if (!w->in_wm) return GALE_ENOMEM;
        for (uint32_t k = 0; k < w->n_producers; k++) w->in_wm[k] = INT64_MIN;
    }
    gale_ctx_t *ctx = &t->base.pub;
    w->m_fired = gale__metric(ctx, "windows_fired", GALE_METRIC_COUNTER);
    w->m_late = gale__metric(ctx, "window_late_tuples", GALE_METRIC_COUNTER);
    w->m_full = gale__metric(ctx, "window_full_failed", GALE_METRIC_COUNTER);
    return 0;
}

void gale__window_destroy(gale_task_t *t)
{
    gale_window_run_t *w = t->win;
    if (!w) return;
    for (size_t i = w->head; i < w->end; i++) gale__tuple_release(w->q[i]->data);
    free(w->q);
    free(w->ts);
    free(w->inputs);
    free(w->slot);
    free(w->in_wm);
    free(w);
    t->win = NULL;
}

size_t gale__window_held(const gale_task_t *t) { return t->win ? t->win->end - t->win->acked : 0; }

static void count(gale_metric_t *m)
{
    if (m) gale__counter_add(m, 1);
}

/* Acks (or fails) q[acked, upto): they are in no window to come. */
static void settle_until(gale_task_t *t, size_t upto)
{
    gale_window_run_t *w = t->win;
    for (; w->acked < upto; w->acked++) {
        gale_tuple_t *in = w->q[w->acked];
        gale__settle_held(t, in, in->state & GALE_DLV_WINDOW_FAILED ? GALE_DLV_FAILED : GALE_DLV_ACKED);
    }
    if (w->chain < w->acked) w->chain = w->acked;
}

/* Releases q[head, upto), acked and shown as expired. */
static void release_until(gale_window_run_t *w, size_t upto)
{
    for (; w->head < upto; w->head++) {
        w->held_bytes -= cost_of(w->q[w->head]);
        gale__tuple_release(w->q[w->head]->data);
    }
}

/* Calls execute_window over q[a, b), as window [start, end) closed by watermark `wm`. */
static void fire(gale_task_t *t, size_t a, size_t b, int64_t start, int64_t end, int64_t wm)
{
    gale_window_run_t *w = t->win;
    size_t added = w->session ? a : lower_bound(w, a, b, w->fired_end);
    gale_window_t win = {.size = sizeof win,
                         .tuples = (const gale_tuple_t *const *)&w->q[a],
                         .n_tuples = b - a,
                         .added = (const gale_tuple_t *const *)&w->q[added],
                         .n_added = b - added,
                         .expired = (const gale_tuple_t *const *)&w->q[w->head],
                         .n_expired = a - w->head,
                         .start = start,
                         .end = end,
                         .watermark = wm};
    t->firing = &win;
    int rc = t->desc->execute_window ? t->desc->execute_window(&t->base.pub, &win) : GALE_ENOTSUP;
    t->firing = NULL;
    count(w->m_fired);
    if (rc) {
        gale__task_error(t, "execute_window over [%lld, %lld) (%zu tuples) failed: %s (%d); they fail as they leave",
                         (long long)start, (long long)end, b - a, gale_strerror(rc), rc);
        for (size_t i = a; i < b; i++) w->q[i]->state |= GALE_DLV_WINDOW_FAILED;
    }
    release_until(w, a);
    w->fired_end = end;
}

/* Tumbling and sliding windows whose end `wm` reached, in order. */
static void fire_aligned(gale_task_t *t, int64_t wm)
{
    gale_window_run_t *w = t->win;
    while (w->next_end != NO_END && w->next_end <= wm) {
        int64_t e = w->next_end, s = e - w->len, next_start = e + w->slide - w->len;
        size_t a = lower_bound(w, w->acked, w->end, s);
        settle_until(t, a);
        size_t b = lower_bound(w, a, w->end, e);
        if (b > a) fire(t, a, b, s, e, wm);
        size_t c = lower_bound(w, w->acked, w->end, next_start);
        settle_until(t, c); /* in no window after this one */
        if (c == w->end) w->next_end = NO_END;
        else {
            int64_t fe = first_end(w, w->ts[c]);
            w->next_end = fe > e + w->slide ? fe : e + w->slide;
        }
    }
}

/* Sessions that `wm` closed, in order. */
/* The first open session's last tuple (q[acked] .. q[chain], the run walked on from where it stopped last, so
   that in-order input walks each tuple once); the window holds an open tuple. */
static size_t session_last(gale_window_run_t *w)
{
    size_t i = w->chain;
    while (i + 1 < w->end && w->ts[i + 1] < w->ts[i] + w->gap) i++;
    return w->chain = i;
}

static void fire_sessions(gale_task_t *t, int64_t wm)
{
    gale_window_run_t *w = t->win;
    while (w->acked < w->end) {
        size_t i = session_last(w);
        int64_t end = w->ts[i] + w->gap;
        if (end > wm) return;
        fire(t, w->acked, i + 1, w->ts[w->acked], end, wm);
        settle_until(t, i + 1);
    }
}

/* The watermark is now `wm` (never lower than it was): the windows it closed fire. */
static void advance(gale_task_t *t, int64_t wm)
{
    gale_window_run_t *w = t->win;
    if (wm < w->wm) return;
    w->wm = wm;
    if (w->session) fire_sessions(t, wm);
    else fire_aligned(t, wm);
}

/* Room for one more entry at q[end]: the released prefix given back first. */
int gale__window_reserve(gale_window_run_t *w, size_t n)
{
    size_t cap = w->cap ? w->cap : 1024;
    while (cap < w->end + n) cap *= 2;
    if (cap == w->cap) return 0;
    gale_tuple_t **q = realloc(w->q, cap * sizeof *q);
    if (!q) return GALE_ENOMEM;
    w->q = q;
    int64_t *ts = realloc(w->ts, cap * sizeof *ts);
    if (!ts) return GALE_ENOMEM;
    w->ts = ts;
    w->cap = cap;
    return 0;
}

static int make_room(gale_window_run_t *w)
{
    if (w->end < w->cap) return 0;
    if (w->head > w->cap / 2) {
        size_t n = w->end - w->head, shift = w->head;
        memmove(w->q, w->q + shift, n * sizeof *w->q);
        memmove(w->ts, w->ts + shift, n * sizeof *w->ts);
        w->head = 0;
        w->end = n;
        w->acked -= shift;
        w->chain -= shift;
        return 0;
    }
    return gale__window_reserve(w, 1);
}

/* Keeps `in` at time `ts` in window order (after the held tuples of the same time). */
static int hold(gale_task_t *t, gale_tuple_t *in, int64_t ts)
{
    gale_window_run_t *w = t->win;
    size_t cost = cost_of(in);
    if (w->held_bytes + cost > w->max_bytes) {
        count(w->m_full);
        gale__task_error(t, "its window holds %zu MB, window.max_mb is %zu: an input is failed (its tree replays)",
                         w->held_bytes >> 20, w->max_bytes >> 20);
        return GALE_ELIMIT;
    }
    if (make_room(w)) {
        gale__task_error(t, "out of memory holding an input in its window: failed");
        return GALE_ENOMEM;
    }
    size_t at = w->end;
    while (at > w->acked && w->ts[at - 1] > ts) at--; /* out of order by little: a short walk from the back */
    memmove(w->q + at + 1, w->q + at, (w->end - at) * sizeof *w->q);
    memmove(w->ts + at + 1, w->ts + at, (w->end - at) * sizeof *w->ts);
    w->q[at] = in;
    w->ts[at] = ts;
    w->end++;
    if (at <= w->chain && w->chain > w->acked) w->chain = w->acked; /* the first session's run is walked again */
    w->held_bytes += cost;
    in->state |= GALE_DLV_KEPT | GALE_DLV_WINDOW;
    if (!w->session) {
        int64_t fe = first_end(w, ts);
        if (fe < w->next_end) w->next_end = fe;
    }
    return 0;
}

/* Event time: the input's timestamp, or an error (logged) for a tuple without one. */
static int timestamp_of(gale_task_t *t, const gale_tuple_t *in, int64_t *ts)
{
    const gale_tuple_data_t *d = in->data;
    const win_input_t *input = gale__window_input_of(t->win, d);
    const gale_value_t *v = input && input->field < d->n_values ? &d->vals[input->field] : NULL;
    if (v && v->type == GALE_INT) {
        *ts = v->i;
        return 0;
    }
    if (v && v->type == GALE_UINT && v->u <= (uint64_t)INT64_MAX / 2) {
        *ts = (int64_t)v->u;
        return 0;
    }
    gale__task_error(t, "an input from %s has no integer '%s' (milliseconds) for its window: failed", d->src->name,
                     t->comp->window.timestamp_field);
    return GALE_ETYPE;
}

/* A late input: to the late stream (anchored to it) or dropped, and acked either way. */
static void late(gale_task_t *t, gale_tuple_t *in)
{
    gale_window_run_t *w = t->win;
    count(w->m_late);
    if (w->late_stream >= 0) {
        const gale_tuple_t *anchor = in;
        gale_emit_t e = {.size = sizeof e,
                         .values = in->data->vals,
                         .n_values = in->data->n_values,
                         .anchors = &anchor,
                         .n_anchors = 1};
        gale__emit_stream(t, w->late_stream, &e, 1);
    }
    gale__ack(&t->base.pub, in);
}

void gale__window_execute(gale_task_t *t, gale_tuple_t *in)
{
    gale_window_run_t *w = t->win;
    int64_t ts;
    switch (w->time) {
    case BY_COUNT: ts = (int64_t)w->arrivals; break;
    case BY_CLOCK: {
        int64_t now = clock_ms();
        if (now > w->clock_ms) w->clock_ms = now;
        advance(t, w->clock_ms);
        ts = w->clock_ms;
        break;
    }
    default:
        if (timestamp_of(t, in, &ts)) {
            gale__fail(&t->base.pub, in);
            return;
        }
        if (ts < w->wm) {
            late(t, in);
            return;
        }
    }
    if (hold(t, in, ts)) {
        gale__fail(&t->base.pub, in);
        return;
    }
    if (w->time == BY_COUNT) advance(t, (int64_t)++w->arrivals);
}

void gale__window_watermark(gale_task_t *t, uint32_t from, int64_t watermark)
{
    gale_window_run_t *w = t->win;
    if (!w || w->time != BY_EVENT || from > w->max_task || w->slot[from] < 0) {
        gale__task_error(t, "a watermark from task %u, which does not feed its event-time window: ignored", from);
        return;
    }
    int32_t s = w->slot[from];
    if (watermark <= w->in_wm[s]) return;
    w->in_wm[s] = watermark;
    int64_t low = INT64_MAX;
    for (uint32_t k = 0; k < w->n_producers; k++)
        if (w->in_wm[k] < low) low = w->in_wm[k];
    if (low > w->wm) advance(t, low);
}

uint64_t gale__window_due_ns(gale_task_t *t)
{
    gale_window_run_t *w = t->win;
    if (!w || w->time != BY_CLOCK || w->acked == w->end) return UINT64_MAX;
    int64_t due;
    if (w->session) {
        due = w->ts[session_last(w)] + w->gap;
    } else {
        due = w->next_end;
        if (due == NO_END) return UINT64_MAX;
    }
    int64_t wait_ms = due - clock_ms();
    return gale_now_ns() + (wait_ms > 0 ? (uint64_t)wait_ms * 1000000ull : 0);
}

size_t gale__window_clock(gale_task_t *t)
{
    gale_window_run_t *w = t->win;
    if (!w || w->time != BY_CLOCK) return 0;
    uint64_t before = w->m_fired ? w->m_fired->count : 0;
    int64_t now = clock_ms();
    if (now > w->clock_ms) w->clock_ms = now;
    advance(t, w->clock_ms);
    return w->m_fired ? (size_t)(w->m_fired->count - before) : 0;
}

void gale__window_finish(gale_task_t *t)
{
    gale_window_run_t *w = t->win;
    if (!w) return;
    advance(t, INT64_MAX);
    settle_until(t, w->end);
    release_until(w, w->end);
    w->next_end = NO_END;
}
