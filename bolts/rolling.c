/*
 * rolling: per key, the count and the sum of a value over the last `span_ms` before each tuple (SQL's
 * "OVER (PARTITION BY key ORDER BY time RANGE BETWEEN span PRECEDING AND CURRENT ROW)"), emitted with the tuple:
 * a card's transactions and their amount in the last ten minutes, at every transaction.
 *
 *   key         (string)          the field that keeps a window of its own (subscribe with a fields grouping on it;
 *                                 default: one window for all)
 *   value       (string)          the numeric field summed (default: none, the sums are 0)
 *   time        (string)          the field of event time, in milliseconds (default: the arrival time)
 *   span_ms     (int, required)   how far back the window reaches from each tuple's time, exclusive of its start
 *   max_events  (int, 10000)      the most a key's window holds: past it, the oldest go first (logged once)
 *   count_field ("window_count"), sum_field ("window_sum")   the names of the two fields it adds
 *
 * Output: the input's fields, then the count (the tuple itself included) and the sum, anchored to the input. A
 * tuple older than its key's newest by more than span_ms counts only itself (late: it cannot reach back) and is
 * counted in the metric late. A value or time that is not a number fails the tuple, saying which.
 *
 * State: with checkpoints, each key's window is in the task's state at every checkpoint (the keys that changed),
 * and comes back with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fields.h"
#include "gale.h"
#include "keyed.h"

typedef struct event {
    int64_t t;
    double v;
} event_t;

typedef struct window {
    keyed_head_t head_; /* the key: first, as keyed.h wants */
    event_t *ev;        /* a ring of up to `cap` events, oldest at `head` */
    size_t head, n, cap;
    double sum;
    bool dirty;
} window_t;

typedef struct state {
    const char *key, *value, *time, *count_name, *sum_name;
    int64_t span, max_events;
    keyed_t windows; /* of window_t */
    fields_seen_t seen;
    size_t key_at, value_at, time_at;
    gale_value_t *values;
    size_t cap_values;
    gale_metric_t *late_m;
    bool said_full, warned_full;
} state_t;

static void free_state(state_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->windows.cap; i++) free(((window_t *)keyed_at(&s->windows, i))->ev);
    keyed_free(&s->windows);
    free(s->values), free(s);
}

static int read_settings(gale_ctx_t *ctx, state_t **out)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->key = gale_setting_str(ctx, "key", NULL);
    s->value = gale_setting_str(ctx, "value", NULL);
    s->time = gale_setting_str(ctx, "time", NULL);
    s->count_name = gale_setting_str(ctx, "count_field", "window_count");
    s->sum_name = gale_setting_str(ctx, "sum_field", "window_sum");
    s->span = gale_setting_int(ctx, "span_ms", 0);
    s->max_events = gale_setting_int(ctx, "max_events", 10000);
    if (s->span < 1) {
        gale_error(ctx, "settings.span_ms: required, how far back the window reaches (milliseconds, above 0)");
        free(s);
        return GALE_EINVAL;
    }
    if (s->max_events < 1 || s->max_events > 10000000) {
        gale_error(ctx, "settings.max_events: 1 to 10000000");
        free(s);
        return GALE_EINVAL;
    }
    keyed_init(&s->windows, sizeof(window_t));
    *out = s;
    return 0;
}

static int declare(gale_ctx_t *ctx)
{
    state_t *s;
    int rc = read_settings(ctx, &s);
    if (rc) return rc;
    if (s->key) rc = inputs_have_field(ctx, s->key, "key");
    if (!rc && s->value) rc = inputs_have_field(ctx, s->value, "value");
    if (!rc && s->time) rc = inputs_have_field(ctx, s->time, "time");
    const char *added[] = {s->count_name, s->sum_name}, *named_by[] = {"count_field", "sum_field"};
    if (!rc) rc = declare_input_plus(ctx, added, named_by, 2);
    free_state(s);
    return rc;
}

static event_t *at(window_t *w, size_t i) { return &w->ev[(w->head + i) % w->cap]; }

/* Appends (t, v) to w, dropping what is older than t - span, and the oldest past max_events. */
static int push(state_t *s, window_t *w, int64_t t, double v)
{
    while (w->n && at(w, 0)->t <= t - s->span) w->sum -= at(w, 0)->v, w->head = (w->head + 1) % w->cap, w->n--;
    if (w->n == (size_t)s->max_events) { /* full: the oldest goes */
        w->sum -= at(w, 0)->v, w->head = (w->head + 1) % w->cap, w->n--;
        s->said_full = true;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        if (cap > (size_t)s->max_events) cap = (size_t)s->max_events;
        event_t *ev = malloc(cap * sizeof *ev);
        if (!ev) return GALE_ENOMEM;
        for (size_t i = 0; i < w->n; i++) ev[i] = *at(w, i);
        free(w->ev);
        w->ev = ev, w->cap = cap, w->head = 0;
    }
    w->ev[(w->head + w->n) % w->cap] = (event_t){t, v};
    w->n++;
    w->sum += v;
    if (w->n == 1) w->sum = v; /* a window of one starts its sum again: no drift from old subtractions */
    w->dirty = true;
    return 0;
}

static bool number(const gale_value_t *v, double *out)
{
    if (v->type == GALE_INT) *out = (double)v->i;
    else if (v->type == GALE_UINT) *out = (double)v->u;
    else if (v->type == GALE_DOUBLE) *out = v->d;
    else return false;
    return true;
}

/* What a checkpoint restored: each key's events, as [t0, v0, t1, v1, ...]. */
static int restore(gale_ctx_t *ctx, state_t *s)
{
    uint64_t cursor = 0;
    gale_value_t k, v;
    while (gale_state_next(ctx, &cursor, &k, &v) == 0) {
        if (k.type != GALE_STR || v.type != GALE_ARRAY || v.n % 2) continue;
        window_t *w = keyed_get(&s->windows, k.s.ptr, k.s.len);
        if (!w) return GALE_ENOMEM;
        for (uint32_t i = 0; i + 1 < v.n; i += 2) {
            gale_value_t t, x;
            double tv, xv;
            gale_item(ctx, &v, i, &t);
            gale_item(ctx, &v, i + 1, &x);
            if (!number(&t, &tv) || !number(&x, &xv)) continue;
            int rc = push(s, w, (int64_t)tv, xv);
            if (rc) return rc;
        }
        w->dirty = false;
    }
    return 0;
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s;
    int rc = read_settings(ctx, &s);
    if (rc) return rc;
    s->late_m = gale_counter(ctx, "late");
    if ((rc = restore(ctx, s))) {
        free_state(s);
        return rc;
    }
    ctx->state = s;
    return 0;
}

static int prepare_commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    (void)checkpoint;
    state_t *s = ctx->state;
    gale_value_t *items = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < s->windows.cap; i++) {
        window_t *w = (window_t *)keyed_at(&s->windows, i);
        if (!w->head_.key || !w->dirty) continue;
        if (2 * w->n > cap) {
            gale_value_t *p = realloc(items, (cap = 2 * w->n) * sizeof *p);
            if (!p) {
                rc = GALE_ENOMEM;
                break;
            }
            items = p;
        }
        for (size_t e = 0; e < w->n; e++)
            items[2 * e] = gale_int(at(w, e)->t), items[2 * e + 1] = gale_double(at(w, e)->v);
        gale_value_t k = gale_strn(w->head_.key, w->head_.len), v = gale_array(items, (uint32_t)(2 * w->n));
        if (!(rc = gale_state_put(ctx, &k, &v))) w->dirty = false;
    }
    free(items);
    return rc;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    const char *const *names;
    size_t n;
    if (fields_changed(ctx, &s->seen, in, &names, &n)) {
        s->key_at = s->key ? field_index(names, n, s->key) : n;
        s->value_at = s->value ? field_index(names, n, s->value) : n;
        s->time_at = s->time ? field_index(names, n, s->time) : n;
    }
    gale_value_t v;
    double value = 0, t = (double)wall_ms();
    char why[160];
    if (s->value && (gale_get(ctx, in, s->value_at, &v) || !number(&v, &value))) {
        snprintf(why, sizeof why, "value field '%s' is not a number", s->value);
        return gale_fail_with(ctx, in, why);
    }
    if (s->time && (gale_get(ctx, in, s->time_at, &v) || !number(&v, &t))) {
        snprintf(why, sizeof why, "time field '%s' is not a number (milliseconds)", s->time);
        return gale_fail_with(ctx, in, why);
    }
    char text[256];
    const char *key = "";
    size_t len = 0;
    if (s->key && !gale_get(ctx, in, s->key_at, &v)) keyed_text(ctx, &v, text, sizeof text, &key, &len);
    window_t *w = keyed_get(&s->windows, key, len);
    if (!w) return GALE_ENOMEM;
    int64_t count;
    double sum;
    if (w->n && (int64_t)t <= at(w, w->n - 1)->t - s->span) { /* late: it cannot reach back into the window */
        gale_counter_add(ctx, s->late_m, 1);
        count = 1, sum = value;
    } else {
        /* A tuple a little out of order (within the span) joins the window as if it came last: the window is of
           the last span_ms before the newest time, which is what a late tuple sees too. */
        int64_t newest = w->n && at(w, w->n - 1)->t > (int64_t)t ? at(w, w->n - 1)->t : (int64_t)t;
        int rc = push(s, w, newest, value);
        if (rc) return rc;
        count = (int64_t)w->n, sum = w->sum;
    }
    if (s->said_full && !s->warned_full) {
        gale_warn(ctx, "key '%.*s' reached max_events (%lld): its oldest events are dropped (logged once a task)",
                  (int)(len > 64 ? 64 : len), key, (long long)s->max_events);
        s->warned_full = true;
    }
    gale_value_t extra[2] = {gale_int(count), gale_double(sum)};
    return emit_input_plus(ctx, in, extra, 2, &s->values, &s->cap_values);
}

static void cleanup(gale_ctx_t *ctx) { free_state(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"key", GALE_SETTING_STRING, "the field that keeps a window of its own (default: one for all)"},
    {"value", GALE_SETTING_STRING, "the numeric field summed (default: none)"},
    {"time", GALE_SETTING_STRING, "the event time field, in ms (default: the arrival time)"},
    {"span_ms", GALE_SETTING_INT, "how far back the window reaches (required)"},
    {"max_events", GALE_SETTING_INT, "the most a key's window holds (10000)"},
    {"count_field", GALE_SETTING_STRING, "the name of the count it adds (\"window_count\")"},
    {"sum_field", GALE_SETTING_STRING, "the name of the sum it adds (\"window_sum\")"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "rolling", .description = "per key, the count and sum of the last span_ms",
            .settings = settings, .declare = declare, .prepare_commit = prepare_commit,
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
