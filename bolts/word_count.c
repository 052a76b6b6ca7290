/*
 * word_count: counts words (fields "word", "count"), Storm's WordCount.
 *
 *   field  (string, "word")     the input field to count; an input without it is counted by its first value
 *   mode   (string, "running")  "running": emit (word, count so far) for every input;
 *                               "final": emit nothing until finish, then (word, final count) for each word,
 *                               sorted by word
 *
 * Give it a fields grouping on the word, so each word is counted by one task. The words live in an arena of
 * large chunks and the table grows by doubling, so counting a word already seen allocates nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "gale.h"

typedef struct entry {
    uint64_t hash;
    const char *word; /* in the arena; NULL: empty slot */
    uint32_t len;
    int64_t count;
} entry_t;

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk_t;

typedef struct counter {
    entry_t *slots;
    size_t cap, n;
    chunk_t *arena;
    bool final;
    const char *field;
    const char *const *seen_fields; /* the input stream last seen, and where `field` is in it (-1: absent) */
    int field_at;
} counter_t;

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static const char *arena_copy(counter_t *c, const char *p, size_t n)
{
    if (!c->arena || c->arena->cap - c->arena->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        chunk_t *k = malloc(sizeof *k + cap);
        if (!k) return NULL;
        k->next = c->arena;
        k->used = 0;
        k->cap = cap;
        c->arena = k;
    }
    char *dst = c->arena->data + c->arena->used;
    memcpy(dst, p, n);
    c->arena->used += n;
    return dst;
}

static entry_t *find(entry_t *slots, size_t cap, uint64_t h, const char *w, size_t n)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        entry_t *e = &slots[i];
        if (!e->word || (e->hash == h && e->len == n && !memcmp(e->word, w, n))) return e;
    }
}

static int grow(counter_t *c)
{
    size_t cap = c->cap * 2;
    entry_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return GALE_ENOMEM;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].word) *find(slots, cap, c->slots[i].hash, c->slots[i].word, c->slots[i].len) = c->slots[i];
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return 0;
}

/* Counts one occurrence; returns the new count, or a negative code. */
static int64_t count_word(counter_t *c, const char *w, size_t n)
{
    uint64_t h = fnv1a(w, n);
    entry_t *e = find(c->slots, c->cap, h, w, n);
    if (!e->word) {
        if ((c->n + 1) * 10 > c->cap * 7) {
            if (grow(c)) return GALE_ENOMEM;
            e = find(c->slots, c->cap, h, w, n);
        }
        const char *copy = arena_copy(c, w, n);
        if (!copy) return GALE_ENOMEM;
        *e = (entry_t){h, copy, (uint32_t)n, 0};
        c->n++;
    }
    return ++e->count;
}

static int prepare(gale_ctx_t *ctx)
{
    counter_t *c = calloc(1, sizeof *c);
    if (!c) return GALE_ENOMEM;
    const char *mode = gale_setting_str(ctx, "mode", "running");
    if (strcmp(mode, "running") && strcmp(mode, "final")) {
        gale_error(ctx, "setting 'mode' is \"running\" or \"final\", not \"%s\"", mode);
        free(c);
        return GALE_EINVAL;
    }
    c->final = !strcmp(mode, "final");
    c->field = gale_setting_str(ctx, "field", "word");
    c->cap = 1024;
    c->slots = calloc(c->cap, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return GALE_ENOMEM;
    }
    ctx->state = c;
    return 0;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    counter_t *c = ctx->state;
    gale_value_t w;
    const char *const *names;
    size_t n_names;
    ctx->host->tuple_fields(in, &names, &n_names);
    if (names != c->seen_fields) { /* a new input stream: find the field once, not for every word */
        c->seen_fields = names;
        c->field_at = -1;
        for (size_t i = 0; i < n_names; i++)
            if (!strcmp(names[i], c->field)) c->field_at = (int)i;
    }
    if (gale_get(ctx, in, c->field_at >= 0 ? (size_t)c->field_at : 0, &w)) return GALE_EINVAL;
    if (w.type != GALE_STR) {
        gale_warn(ctx, "input '%s' is not a string: failed", c->field);
        return GALE_ETYPE;
    }
    int64_t n = count_word(c, w.s.ptr, w.s.len);
    if (n < 0) return (int)n;
    if (c->final) return 0;
    gale_value_t out[2] = {w, gale_int(n)};
    return gale_emit(ctx, out, 2);
}

static int by_word(const void *a, const void *b)
{
    const entry_t *x = *(const entry_t *const *)a, *y = *(const entry_t *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->word, y->word, n);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static int finish(gale_ctx_t *ctx)
{
    counter_t *c = ctx->state;
    if (!c->final || !c->n) return 0;
    entry_t **sorted = malloc(c->n * sizeof *sorted);
    if (!sorted) return GALE_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].word) sorted[k++] = &c->slots[i];
    qsort(sorted, k, sizeof *sorted, by_word);
    int rc = 0;
    for (size_t i = 0; i < k && !rc; i++) {
        gale_value_t out[2] = {gale_strn(sorted[i]->word, sorted[i]->len), gale_int(sorted[i]->count)};
        rc = gale_emit(ctx, out, 2);
    }
    free(sorted);
    return rc;
}

static void cleanup(gale_ctx_t *ctx)
{
    counter_t *c = ctx->state;
    for (chunk_t *k = c->arena, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    free(c->slots);
    free(c);
}

static const gale_setting_decl_t settings[] = {
    {"field", GALE_SETTING_STRING, "input field to count (\"word\")"},
    {"mode", GALE_SETTING_STRING, "\"running\": emit every count; \"final\": emit final counts from finish"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "word_count", .description = "counts words", .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", "count", NULL}}, {NULL, NULL}},
            .settings = settings, .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup});
