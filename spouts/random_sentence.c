/*
 * random_sentence: emits random sentences (field "sentence"), Storm's RandomSentenceSpout.
 *
 *   seed      (int, 42)     task i draws with seed + i, so runs repeat and tasks differ
 *   count     (int, 0)      emit this many per task, then say done (0: never stop)
 *   reliable  (bool, true)  emit with a message id (a per-task counter), so trees are tracked when acking is on
 *   rate      (number, 0)   at most this many sentences per second per task (0: as fast as asked)
 *   sentences (list)        the sentences to draw from (default: Storm's five)
 *
 * A random sentence can be drawn again at any time, so a failed one is not replayed: fail is only counted.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gale.h"

static const char *const DEFAULT_SENTENCES[] = {"the cow jumped over the moon", "an apple a day keeps the doctor away",
                                                "four score and seven years ago", "snow white and the seven dwarfs",
                                                "i am at two with nature"};

typedef struct state {
    gale_value_t *sentences; /* views: into the settings (valid until close) or the static defaults */
    size_t n;
    uint64_t rng, emitted, count, next_id;
    bool reliable;
    double rate;
    uint64_t start_ns;
} state_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int load_sentences(gale_ctx_t *ctx, state_t *s)
{
    gale_value_t list;
    if (ctx->host->setting(ctx, "sentences", &list) == 0 && list.type == GALE_ARRAY && list.n > 0) {
        s->sentences = calloc(list.n, sizeof *s->sentences);
        if (!s->sentences) return GALE_ENOMEM;
        for (uint32_t i = 0; i < list.n; i++) {
            gale_item(ctx, &list, i, &s->sentences[i]);
            if (s->sentences[i].type != GALE_STR) {
                gale_error(ctx, "setting 'sentences': item %u is not a string", i);
                return GALE_EINVAL;
            }
        }
        s->n = list.n;
        return 0;
    }
    s->n = sizeof DEFAULT_SENTENCES / sizeof *DEFAULT_SENTENCES;
    s->sentences = calloc(s->n, sizeof *s->sentences);
    if (!s->sentences) return GALE_ENOMEM;
    for (size_t i = 0; i < s->n; i++) s->sentences[i] = gale_str(DEFAULT_SENTENCES[i]);
    return 0;
}

static int open_(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    gale_task_info_t info;
    ctx->host->task_info(ctx, &info);
    s->rng = ((uint64_t)gale_setting_int(ctx, "seed", 42) + info.task_index) * 0x9e3779b97f4a7c15ull | 1;
    s->count = (uint64_t)gale_setting_int(ctx, "count", 0);
    s->reliable = gale_setting_bool(ctx, "reliable", true);
    s->rate = gale_setting_double(ctx, "rate", 0);
    s->start_ns = now_ns();
    int rc = load_sentences(ctx, s);
    if (rc) {
        free(s->sentences);
        free(s);
        return rc;
    }
    ctx->state = s;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s->count && s->emitted >= s->count) {
        gale_done(ctx);
        return 0;
    }
    if (s->rate > 0 && (double)s->emitted >= (double)(now_ns() - s->start_ns) * s->rate / 1e9) return 0;
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    const gale_value_t *v = &s->sentences[s->rng % s->n];
    s->emitted++;
    return s->reliable ? gale_emit_id(ctx, ++s->next_id, v, 1) : gale_emit(ctx, v, 1);
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    free(s->sentences);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"seed", GALE_SETTING_INT, "random seed; task i uses seed + i (42)"},
    {"count", GALE_SETTING_INT, "sentences per task before it is done; 0: never (0)"},
    {"reliable", GALE_SETTING_BOOL, "emit with message ids, so trees are tracked (true)"},
    {"rate", GALE_SETTING_DOUBLE, "at most this many sentences per second per task; 0: unpaced (0)"},
    {"sentences", GALE_SETTING_LIST, "the sentences to draw from (Storm's five)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "random_sentence", .description = "emits random sentences",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"sentence", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .close = close_});
