/*
 * word_count: counts words (output fields "word", "count"), Storm's WordCount.
 *
 *   field  (string, "word")     the input field to count, read by name. An input stream that has no field of that
 *                               name is counted by its first value instead, so the bolt also counts the output of
 *                               a component that names its field otherwise (a "line", a "token").
 *   mode   (string, "running")  "running": emit (word, count so far) for every input, as Storm's WordCount does.
 *                               "final": emit nothing from execute; when the input is exhausted, `finish` emits
 *                               (word, final count) once per word, sorted by word (bytewise), unanchored.
 *
 * Give it a fields grouping on the word, so that each word is counted by exactly one task. With several tasks in
 * "final" mode each task's words come out sorted, but the tasks' outputs interleave downstream.
 *
 * A basic bolt: emits in execute are anchored to the input, which is acked when execute returns 0. A value that is
 * not a string fails its input (the first one of a task is logged as a warning).
 *
 * State: with checkpoints on (config.checkpoint_interval_ms), the counts are the task's state. The bolt keeps its
 * own table for speed and, at each checkpoint (prepare_commit), puts the words counted since the last one into
 * the task's key-value state (key: the word, value: its count); after a crash, prepare reads the state back, so
 * the counts go on from the last complete checkpoint, exactly (the spouts replay what came after it). Words are
 * the keys a fields grouping on the word routes by, so the counts follow their words when the parallelism changes.
 *
 * Memory: an open-addressing table (FNV-1a, linear probing, power-of-two capacity, doubled at 0.7 load) of
 * entries that point into an arena of 64 KiB chunks holding one copy of each distinct word. Counting a word
 * already seen allocates nothing; a new word allocates only when a chunk fills or the table doubles. Everything is
 * freed in cleanup.
 */
#include <stdlib.h>
#include <string.h>

#include "gale.h"

#define CHUNK_SIZE (64 * 1024)
#define INITIAL_SLOTS 1024

typedef struct entry {
    uint64_t hash;
    const char *word; /* in the arena; NULL: an empty slot */
    size_t len;
    int64_t count;
    bool dirty; /* counted since the last checkpoint */
} entry_t;

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk_t;

typedef struct counter {
    entry_t *slots;
    size_t cap, n; /* cap is a power of two */
    chunk_t *arena; /* the chunk being filled first; full chunks behind it */
    bool final, warned;
    const char *field;              /* owned by the settings */
    const char *const *seen_fields; /* the input stream last seen, and where `field` is in it (0 when absent) */
    size_t field_at;
    size_t n_dirty; /* entries counted since the last checkpoint */
} counter_t;

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* Copies n bytes into the arena; returns the copy (owned by the arena), or NULL when out of memory. */
static const char *arena_copy(counter_t *c, const char *p, size_t n)
{
    chunk_t *k = c->arena;
    if (!k || k->cap - k->used < n) {
        size_t cap = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE; /* a long word gets a chunk of its own */
        k = malloc(sizeof *k + cap);
        if (!k) return NULL;
        k->used = 0;
        k->cap = cap;
        if (cap == n && c->arena) { /* keep filling the current chunk: put the full one behind it */
            k->next = c->arena->next;
            c->arena->next = k;
        } else {
            k->next = c->arena;
            c->arena = k;
        }
    }
    char *dst = k->data + k->used;
    if (n) memcpy(dst, p, n); /* an empty string's pointer may be NULL */
    k->used += n;
    return dst;
}

/* The slot holding the word, or the empty slot where it belongs. The table is never full (load <= 0.7). */
static entry_t *find(entry_t *slots, size_t cap, uint64_t h, const char *w, size_t n)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        entry_t *e = &slots[i];
        if (!e->word || (e->hash == h && e->len == n && (!n || !memcmp(e->word, w, n)))) return e;
    }
}

/* Doubles the table. On error the table is unchanged. */
static int grow(counter_t *c)
{
    size_t cap = c->cap * 2;
    entry_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return GALE_ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        const entry_t *e = &c->slots[i];
        if (e->word) *find(slots, cap, e->hash, e->word, e->len) = *e;
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return 0;
}

/* The word's entry (borrowed; copied when new, with count 0), or NULL when out of memory. */
static entry_t *word_entry(counter_t *c, const char *w, size_t n)
{
    uint64_t h = fnv1a(w, n);
    entry_t *e = find(c->slots, c->cap, h, w, n);
    if (!e->word) {
        if ((c->n + 1) * 10 > c->cap * 7) {
            if (grow(c)) return NULL;
            e = find(c->slots, c->cap, h, w, n);
        }
        const char *copy = arena_copy(c, w, n);
        if (!copy) return NULL;
        *e = (entry_t){h, copy, n, 0, false};
        c->n++;
    }
    return e;
}

/* Counts one occurrence of the word. Returns its entry, or NULL when out of memory (then nothing is counted). */
static entry_t *count_word(counter_t *c, const char *w, size_t n)
{
    entry_t *e = word_entry(c, w, n);
    if (!e) return NULL;
    e->count++;
    if (!e->dirty) e->dirty = true, c->n_dirty++;
    return e;
}

/* The counts a checkpoint restored into the task's state. */
static int restore(gale_ctx_t *ctx, counter_t *c)
{
    uint64_t cursor = 0;
    gale_value_t k, v;
    while (gale_state_next(ctx, &cursor, &k, &v) == 0) {
        if (k.type != GALE_STR || v.type != GALE_INT) continue; /* not a count of ours */
        entry_t *e = word_entry(c, k.s.ptr, k.s.len);
        if (!e) return GALE_ENOMEM;
        e->count = v.i;
    }
    return 0;
}

/* Checkpoint: the words counted since the last one go into the state. */
static int prepare_commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    counter_t *c = ctx->state;
    for (size_t i = 0; i < c->cap && c->n_dirty; i++) {
        entry_t *e = &c->slots[i];
        if (!e->word || !e->dirty) continue;
        gale_value_t k = gale_strn(e->word, e->len), v = gale_int(e->count);
        int rc = gale_state_put(ctx, &k, &v);
        if (rc) return rc; /* the checkpoint fails; what is still dirty goes into the next */
        e->dirty = false;
        c->n_dirty--;
    }
    return 0;
}

static void free_counter(counter_t *c)
{
    for (chunk_t *k = c->arena, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    free(c->slots);
    free(c);
}

static int prepare(gale_ctx_t *ctx)
{
    const char *mode = gale_setting_str(ctx, "mode", "running");
    if (strcmp(mode, "running") && strcmp(mode, "final")) {
        gale_error(ctx, "setting 'mode' must be \"running\" or \"final\", not \"%s\"", mode);
        return GALE_EINVAL;
    }
    counter_t *c = calloc(1, sizeof *c);
    if (!c) return GALE_ENOMEM;
    c->final = !strcmp(mode, "final");
    c->field = gale_setting_str(ctx, "field", "word");
    c->cap = INITIAL_SLOTS;
    c->slots = calloc(c->cap, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return GALE_ENOMEM;
    }
    int rc = restore(ctx, c);
    if (rc) {
        free_counter(c); /* a failed prepare gets no cleanup */
        return rc;
    }
    ctx->state = c;
    return 0;
}

/* Where `field` is in the input's stream, or 0 when the stream has no such field. Looked up once per stream: a
   stream's field names are one array for the whole run, so the pointer identifies the stream. */
static size_t field_index(gale_ctx_t *ctx, counter_t *c, const gale_tuple_t *in)
{
    const char *const *names;
    size_t n;
    gale_tuple_fields(ctx, in, &names, &n);
    if (names != c->seen_fields) {
        c->seen_fields = names;
        c->field_at = 0;
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(names[i], c->field)) {
                c->field_at = i;
                break;
            }
        }
    }
    return c->field_at;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    counter_t *c = ctx->state;
    gale_value_t w;
    if (gale_get(ctx, in, field_index(ctx, c, in), &w) || w.type != GALE_STR) {
        if (!c->warned) {
            gale_warn(ctx, "input from '%s' has no string to count: failing it (logged once per task)",
                      gale_tuple_component(ctx, in));
            c->warned = true;
        }
        return GALE_ETYPE;
    }
    const entry_t *e = count_word(c, w.s.ptr, w.s.len);
    if (!e) return GALE_ENOMEM;
    if (c->final) return 0;
    gale_value_t out[2] = {w, gale_int(e->count)}; /* w is a view into the input: emit copies it */
    return gale_emit(ctx, out, 2);
}

static int by_word(const void *a, const void *b)
{
    const entry_t *x = *(const entry_t *const *)a, *y = *(const entry_t *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = n ? memcmp(x->word, y->word, n) : 0;
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* Mode "final": every word and its count, sorted, so that a run's output does not depend on hash order. */
static int finish(gale_ctx_t *ctx)
{
    counter_t *c = ctx->state;
    if (!c->final || !c->n) return 0;
    const entry_t **sorted = malloc(c->n * sizeof *sorted);
    if (!sorted) return GALE_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].word) sorted[k++] = &c->slots[i];
    qsort(sorted, k, sizeof *sorted, by_word);
    int rc = 0;
    for (size_t i = 0; i < k && !rc; i++) {
        gale_value_t out[2] = {gale_strn(sorted[i]->word, sorted[i]->len), gale_int(sorted[i]->count)};
        rc = gale_emit(ctx, out, 2); /* outside execute: unanchored */
    }
    free(sorted);
    return rc;
}

static void cleanup(gale_ctx_t *ctx) { free_counter(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"field", GALE_SETTING_STRING, "input field to count; a stream without it: its first value (default \"word\")"},
    {"mode", GALE_SETTING_STRING, "\"running\": emit (word, count) for every input (default); \"final\": emit each "
                                  "word's final count from finish, sorted by word"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "word_count", .description = "counts words", .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *const[]){"word", "count", NULL}},
                                                    {NULL, NULL}},
            .settings = settings,
            .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup},
            .prepare_commit = prepare_commit);
