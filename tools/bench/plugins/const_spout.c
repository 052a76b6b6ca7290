/*
 * const_spout: emits the same tuple (one string of `size` bytes) as fast as it is asked, or at `rate` tuples per
 * second, with a message id per tuple when `reliable` is set (storm-perf's ConstSpout).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gale.h"

typedef struct state {
    gale_value_t value;
    char *text;
    bool reliable;
    double rate;
    uint64_t sent, next_id, start_ns;
} state_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    size_t size = (size_t)gale_setting_int(ctx, "size", 10);
    s->text = malloc(size + 1);
    if (!s->text) {
        free(s);
        return GALE_ENOMEM;
    }
    memset(s->text, 'g', size);
    s->value = gale_strn(s->text, size);
    s->reliable = gale_setting_bool(ctx, "reliable", true);
    s->rate = gale_setting_double(ctx, "rate", 0);
    s->start_ns = now_ns();
    ctx->state = s;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    /* A paced spout emits only what the rate allows by now, so a backlog never builds inside the spout. */
    if (s->rate > 0 && (double)s->sent >= (double)(now_ns() - s->start_ns) * s->rate / 1e9) return 0;
    s->sent++;
    return s->reliable ? gale_emit_id(ctx, ++s->next_id, &s->value, 1) : gale_emit(ctx, &s->value, 1);
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    free(s->text);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"size", GALE_SETTING_INT, "bytes of the constant string (10)"},
    {"reliable", GALE_SETTING_BOOL, "emit with message ids (true)"},
    {"rate", GALE_SETTING_DOUBLE, "tuples per second; 0: as fast as possible"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "const_spout", .description = "emits one constant tuple, as fast as asked",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"str", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .close = close_});
