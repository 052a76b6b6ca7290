/*
 * random_sentence: emits random sentences (field "sentence"), Storm's RandomSentenceSpout.
 *
 *   seed      (int, 42)     task i draws with seed + i, so runs repeat and tasks differ
 *   count     (int, 0)      emit this many per task, then say done (0: never stop)
 *   reliable  (bool, true)  emit with a message id (a per-task counter from 1), so that each sentence's tuple tree
 *                           is tracked when acking is on (config.ackers >= 1)
 *   rate      (number, 0)   at most this many sentences per second per task (0: as fast as asked)
 *   sentences (list)        the sentences to draw from (default: Storm's five)
 *
 * next_tuple emits one sentence a call; the runtime calls it in a loop and paces it (max_spout_pending,
 * backpressure). The generator is xorshift64, seeded through splitmix64: a few instructions a draw, no libc rand
 * (which has hidden global state shared by every task of the process).
 *
 * A random sentence can be drawn again at any time, so a failed one is not replayed: ack and fail are only
 * counted, and the counts are logged at debug level when the task closes.
 */
#include <stdlib.h>
#include <time.h>

#include "gale.h"

static const char *const DEFAULT_SENTENCES[] = {"the cow jumped over the moon", "an apple a day keeps the doctor away",
                                                "four score and seven years ago", "snow white and the seven dwarfs",
                                                "i am at two with nature"};
#define N_DEFAULT (sizeof DEFAULT_SENTENCES / sizeof *DEFAULT_SENTENCES)

typedef struct state {
    /* Views, owned elsewhere: strings of the settings (valid until close) or the static defaults. The array itself
       is ours, made once in open. */
    gale_value_t *sentences;
    size_t n;
    uint64_t rng;
    uint64_t count, emitted; /* count 0: unbounded */
    uint64_t next_id;
    uint64_t acked, failed;
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

/* splitmix64: spreads nearby seeds (42, 43, ...) into unrelated xorshift states. */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Fills s->sentences from the `sentences` setting or the defaults. On error s->sentences may be allocated; the
   caller frees it. */
static int load_sentences(gale_ctx_t *ctx, state_t *s)
{
    gale_value_t list;
    if (gale_setting(ctx, "sentences", &list) != 0) { /* absent: Storm's five */
        s->sentences = calloc(N_DEFAULT, sizeof *s->sentences);
        if (!s->sentences) return GALE_ENOMEM;
        for (size_t i = 0; i < N_DEFAULT; i++) s->sentences[i] = gale_str(DEFAULT_SENTENCES[i]);
        s->n = N_DEFAULT;
        return 0;
    }
    if (list.type != GALE_ARRAY || list.n == 0) {
        gale_error(ctx, "setting 'sentences' must be a non-empty list of strings");
        return GALE_EINVAL;
    }
    s->sentences = calloc(list.n, sizeof *s->sentences);
    if (!s->sentences) return GALE_ENOMEM;
    for (uint32_t i = 0; i < list.n; i++) {
        if (gale_item(ctx, &list, i, &s->sentences[i]) || s->sentences[i].type != GALE_STR) {
            gale_error(ctx, "setting 'sentences': item %u is not a string", i);
            return GALE_EINVAL;
        }
    }
    s->n = list.n;
    return 0;
}

static int open_(gale_ctx_t *ctx)
{
    int64_t count = gale_setting_int(ctx, "count", 0);
    double rate = gale_setting_double(ctx, "rate", 0);
    if (count < 0 || rate < 0) {
        gale_error(ctx, "settings 'count' and 'rate' must not be negative");
        return GALE_EINVAL;
    }
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    s->rng = splitmix64((uint64_t)gale_setting_int(ctx, "seed", 42) + info.task_index);
    if (!s->rng) s->rng = 1; /* xorshift's one fixed point */
    s->count = (uint64_t)count;
    s->rate = rate;
    s->reliable = gale_setting_bool(ctx, "reliable", true);
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
    if (s->rate > 0 && (double)s->emitted >= (double)(now_ns() - s->start_ns) * s->rate / 1e9) return 0;
    const gale_value_t *v = &s->sentences[xorshift64(&s->rng) % s->n];
    int rc = s->reliable ? gale_emit_id(ctx, ++s->next_id, v, 1) : gale_emit(ctx, v, 1);
    if (rc) return rc;
    if (++s->emitted == s->count) gale_done(ctx); /* never true when count is 0 */
    return 0;
}

static void ack(gale_ctx_t *ctx, uint64_t msg_id) { ((state_t *)ctx->state)->acked++; }

/* Nothing to replay: the next random sentence is as good as the failed one. */
static void fail(gale_ctx_t *ctx, uint64_t msg_id) { ((state_t *)ctx->state)->failed++; }

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    gale_log(ctx, GALE_LOG_DEBUG, "emitted %llu, acked %llu, failed %llu", (unsigned long long)s->emitted,
             (unsigned long long)s->acked, (unsigned long long)s->failed);
    free(s->sentences);
    free(s);
}

/* The order is part of what `gale validate` prints for an unknown setting ("known: ..."). */
static const gale_setting_decl_t settings[] = {
    {"seed", GALE_SETTING_INT, "random seed; task i uses seed + i (default 42)"},
    {"count", GALE_SETTING_INT, "sentences per task, then the task is done; 0: never done (default 0)"},
    {"reliable", GALE_SETTING_BOOL, "emit with message ids, so trees are tracked when acking is on (default true)"},
    {"rate", GALE_SETTING_DOUBLE, "at most this many sentences per second per task; 0: unpaced (default 0)"},
    {"sentences", GALE_SETTING_LIST, "the strings to draw from (default: Storm's five sentences)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "random_sentence", .description = "emits random sentences",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *const[]){"sentence", NULL}}, {NULL, NULL}},
            .settings = settings,
            .spout = {.open = open_, .next_tuple = next_tuple, .ack = ack, .fail = fail, .close = close_});
