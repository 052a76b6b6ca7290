/*
 * mixed_spout: a test spout of (n, payload) tuples, n = 1, 2, ... `count`, with a payload of `payload` bytes, except
 * that every `big_every`-th tuple (0: none) has `big` bytes. Emits with message id n when `reliable` is set. For
 * tuples over the frame limit between workers among normal ones.
 */
#include <stdlib.h>
#include <string.h>

#include "gale.h"

typedef struct state {
    int64_t next, count, big_every;
    bool reliable;
    char *bytes; /* max(payload, big) bytes of 'x' */
    size_t payload, big;
} state_t;

static int open_(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->next = 1;
    s->count = gale_setting_int(ctx, "count", 100);
    s->big_every = gale_setting_int(ctx, "big_every", 0);
    s->reliable = gale_setting_bool(ctx, "reliable", false);
    s->payload = (size_t)gale_setting_int(ctx, "payload", 16);
    s->big = (size_t)gale_setting_int(ctx, "big", 0);
    size_t most = s->payload > s->big ? s->payload : s->big;
    if (!(s->bytes = malloc(most + 1))) {
        free(s);
        return GALE_ENOMEM;
    }
    memset(s->bytes, 'x', most);
    ctx->state = s;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s->next > s->count) {
        gale_done(ctx);
        return 0;
    }
    bool big = s->big_every > 0 && s->next % s->big_every == 0;
    gale_value_t v[2] = {gale_int(s->next), gale_strn(s->bytes, big ? s->big : s->payload)};
    int rc = s->reliable ? gale_emit_id(ctx, (uint64_t)s->next, v, 2) : gale_emit(ctx, v, 2);
    s->next++;
    return rc;
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    free(s->bytes);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"count", GALE_SETTING_INT, "tuples to emit (default 100)"},
    {"payload", GALE_SETTING_INT, "bytes of payload of a normal tuple (default 16)"},
    {"big", GALE_SETTING_INT, "bytes of payload of a big tuple"},
    {"big_every", GALE_SETTING_INT, "every this many tuples one is big (0: none)"},
    {"reliable", GALE_SETTING_BOOL, "emit with message ids"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "mixed_spout", .description = "test spout with some big tuples",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", "payload", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .close = close_});
