/*
 * window_stats: per window, and per key within it, how many tuples it holds and the sum, min and max of a number
 * (output fields "key", "start", "end", "count", "sum", "min", "max"): "transactions per card in the last five
 * minutes". Give the bolt a `window = { ... }` in its block (any type, of time or of count).
 *
 *   key    (string, none)  the input field to group by (a string, an integer, any value); none: one group, whose
 *                          key is null
 *   value  (string, none)  the input field to add up (an integer or a double); none: sum, min and max are 0. A
 *                          tuple whose value is not a number counts, but adds nothing
 *
 * Each window emits one tuple per key, in the order the keys first appear in the window, anchored to that key's
 * tuples only (a failure downstream replays those, not the whole window). Numbers are doubles.
 *
 * Memory: per window, a table of 2 slots a tuple (its keys) and one index a tuple, freed when the window is done.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

typedef struct group {
    gale_value_t key; /* a view into the window's first tuple of the key; type GALE_NIL and n 0 for none */
    bool used;
    uint64_t hash;
    size_t count, first; /* tuples, and where the group's tuples start in `order` */
    double sum, min, max;
} group_t;

typedef struct bolt {
    const char *key, *value;
    group_t *slots;
    size_t cap;
    size_t *slot_of;            /* per tuple of the window: its group's slot */
    const gale_tuple_t **order; /* the window's tuples, grouped by key */
    size_t *firsts;             /* the groups' slots in order of appearance */
    size_t room;                /* tuples the three arrays above have room for */
} bolt_t;

static int prepare(gale_ctx_t *ctx)
{
    bolt_t *b = calloc(1, sizeof *b);
    if (!b) return GALE_ENOMEM;
    b->key = gale_setting_str(ctx, "key", NULL);
    b->value = gale_setting_str(ctx, "value", NULL);
    ctx->state = b;
    return 0;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
    return h;
}

/* A key's hash and its bytes for comparing: scalars by value, strings and containers by their bytes. */
static uint64_t key_hash(const gale_value_t *k)
{
    uint64_t h = fnv1a(1469598103934665603ull, &k->type, sizeof k->type);
    switch (k->type) {
    case GALE_BOOL: return fnv1a(h, &k->b, sizeof k->b);
    case GALE_INT: return fnv1a(h, &k->i, sizeof k->i);
    case GALE_UINT: return fnv1a(h, &k->u, sizeof k->u);
    case GALE_DOUBLE: return fnv1a(h, &k->d, sizeof k->d);
    case GALE_STR:
    case GALE_BYTES: return fnv1a(h, k->s.ptr, k->s.len);
    case GALE_ARRAY:
    case GALE_MAP: return fnv1a(h, k->c.raw, k->c.raw_len);
    default: return h;
    }
}

static bool key_equal(const gale_value_t *a, const gale_value_t *b)
{
    if (a->type != b->type) return false;
    switch (a->type) {
    case GALE_BOOL: return a->b == b->b;
    case GALE_INT: return a->i == b->i;
    case GALE_UINT: return a->u == b->u;
    case GALE_DOUBLE: return a->d == b->d;
    case GALE_STR:
    case GALE_BYTES: return a->s.len == b->s.len && (!a->s.len || !memcmp(a->s.ptr, b->s.ptr, a->s.len));
    case GALE_ARRAY:
    case GALE_MAP: return a->c.raw_len == b->c.raw_len && !memcmp(a->c.raw, b->c.raw, a->c.raw_len);
    default: return true;
    }
}

/* Room for a window of n tuples. */
static int make_room(bolt_t *b, size_t n)
{
    if (n <= b->room) return 0;
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    free(b->slots), free(b->slot_of), free(b->order), free(b->firsts);
    b->slots = malloc(cap * sizeof *b->slots);
    b->slot_of = malloc(n * sizeof *b->slot_of);
    b->order = malloc(n * sizeof *b->order);
    b->firsts = malloc(n * sizeof *b->firsts);
    if (!b->slots || !b->slot_of || !b->order || !b->firsts) {
        free(b->slots), free(b->slot_of), free(b->order), free(b->firsts);
        b->slots = NULL, b->slot_of = NULL, b->order = NULL, b->firsts = NULL;
        b->room = b->cap = 0;
        return GALE_ENOMEM;
    }
    b->cap = cap;
    b->room = n;
    return 0;
}

static int execute_window(gale_ctx_t *ctx, const gale_window_t *w)
{
    bolt_t *b = ctx->state;
    size_t n = w->n_tuples, n_groups = 0;
    int rc = make_room(b, n);
    if (rc) return rc;
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    memset(b->slots, 0, cap * sizeof *b->slots);
    for (size_t i = 0; i < n; i++) { /* each tuple to its group */
        gale_value_t k = gale_nil(), v;
        if (b->key && gale_field(ctx, w->tuples[i], b->key, &k)) k = gale_nil();
        uint64_t h = key_hash(&k);
        size_t s = h & (cap - 1);
        while (b->slots[s].used && !(b->slots[s].hash == h && key_equal(&b->slots[s].key, &k))) s = (s + 1) & (cap - 1);
        group_t *g = &b->slots[s];
        if (!g->used) {
            *g = (group_t){.key = k, .used = true, .hash = h, .min = INFINITY, .max = -INFINITY};
            b->firsts[n_groups++] = s;
        }
        double x = NAN;
        if (b->value && gale_field(ctx, w->tuples[i], b->value, &v) == 0)
            x = v.type == GALE_INT      ? (double)v.i
                : v.type == GALE_DOUBLE ? v.d
                : v.type == GALE_UINT   ? (double)v.u
                                        : NAN;
        if (!isnan(x)) {
            g->sum += x;
            if (x < g->min) g->min = x;
            if (x > g->max) g->max = x;
        }
        g->count++;
        b->slot_of[i] = s;
    }
    size_t at = 0; /* the tuples grouped by key, groups in order of appearance */
    for (size_t k = 0; k < n_groups; k++) {
        group_t *g = &b->slots[b->firsts[k]];
        g->first = at;
        at += g->count;
        g->count = 0;
    }
    for (size_t i = 0; i < n; i++) {
        group_t *g = &b->slots[b->slot_of[i]];
        b->order[g->first + g->count++] = w->tuples[i];
    }
    for (size_t k = 0; k < n_groups; k++) {
        const group_t *g = &b->slots[b->firsts[k]];
        bool any = g->min <= g->max;
        gale_value_t out[7] = {g->key,
                               gale_int(w->start),
                               gale_int(w->end),
                               gale_int((int64_t)g->count),
                               gale_double(g->sum),
                               gale_double(any ? g->min : 0),
                               gale_double(any ? g->max : 0)};
        gale_emit_t e = {
            .size = sizeof e, .values = out, .n_values = 7, .anchors = b->order + g->first, .n_anchors = g->count};
        if ((rc = ctx->host->emit(ctx, &e))) return rc;
    }
    return 0;
}

static void cleanup(gale_ctx_t *ctx)
{
    bolt_t *b = ctx->state;
    if (!b) return;
    free(b->slots), free(b->slot_of), free(b->order), free(b->firsts);
    free(b);
}

static const char *const FIELDS[] = {"key", "start", "end", "count", "sum", "min", "max", NULL};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "window_stats",
            .description = "per window and key: count, sum, min and max of a number",
            .streams = (const gale_stream_decl_t[]){{"default", FIELDS}, {NULL}},
            .settings = (const gale_setting_decl_t[]){{"key", GALE_SETTING_STRING, "the field to group by"},
                                                      {"value", GALE_SETTING_STRING, "the field to add up"},
                                                      {NULL}},
            .bolt = {.prepare = prepare, .cleanup = cleanup}, .execute_window = execute_window);
