/*
 * e2e_spout: a test spout. Emits (n, payload) with n = 1, 2, ... and a payload of `payload` bytes; stops after
 * `count` tuples (0: never), or with `hold` emits nothing more but stays open (a run that keeps running with its
 * figures still). Emits with message id n when `reliable` is set.
 */
#include <stdlib.h>
#include <string.h>

#include "gale.h"

typedef struct state {
    int64_t next, count;
    bool reliable, hold;
    char *payload;
    size_t payload_len;
} state_t;

static int open_(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->next = 1;
    s->count = gale_setting_int(ctx, "count", 0);
    s->reliable = gale_setting_bool(ctx, "reliable", false);
    s->hold = gale_setting_bool(ctx, "hold", false);
    s->payload_len = (size_t)gale_setting_int(ctx, "payload", 0);
    s->payload = malloc(s->payload_len + 1);
    if (!s->payload) {
        free(s);
        return GALE_ENOMEM;
    }
    memset(s->payload, 'x', s->payload_len);
    ctx->state = s;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s->count && s->next > s->count) {
        if (!s->hold) gale_done(ctx);
        return 0;
    }
    gale_value_t v[2] = {gale_int(s->next), gale_strn(s->payload, s->payload_len)};
    int rc = s->reliable ? gale_emit_id(ctx, (uint64_t)s->next, v, 2) : gale_emit(ctx, v, 2);
    s->next++;
    return rc;
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    free(s->payload);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"count", GALE_SETTING_INT, "tuples to emit (0: unbounded)"},
    {"payload", GALE_SETTING_INT, "bytes of payload per tuple"},
    {"reliable", GALE_SETTING_BOOL, "emit with message ids"},
    {"hold", GALE_SETTING_BOOL, "after count, stay open without emitting instead of being done"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "e2e_spout", .description = "test spout",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", "payload", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .close = close_});
