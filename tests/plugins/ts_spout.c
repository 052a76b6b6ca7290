/*
 * ts_spout: a test spout for windows. Reads `path`, lines "ID TS" (integers), and emits (id, ts) in the file's
 * order, with message id ID + 1, then says done. At line `pause_at` (0-based; -1: never) it first sleeps
 * `pause_ms` in a next_tuple that emits nothing, so that its executor sends the watermark of what came before: a
 * test then knows which of the later lines are late.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gale.h"

typedef struct state {
    FILE *f;
    long line, pause_at, pause_ms;
    int paused;
} state_t;

static int open_(gale_ctx_t *ctx)
{
    const char *path = gale_setting_str(ctx, "path", NULL);
    if (!path) return GALE_EINVAL;
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    if (!(s->f = fopen(path, "r"))) {
        free(s);
        return GALE_ENOENT;
    }
    s->pause_at = (long)gale_setting_int(ctx, "pause_at", -1);
    s->pause_ms = (long)gale_setting_int(ctx, "pause_ms", 300);
    ctx->state = s;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s->f) return 0;
    if (s->line == s->pause_at && !s->paused) {
        s->paused = 1;
        struct timespec ts = {s->pause_ms / 1000, (s->pause_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return 0;
    }
    long long id, t;
    if (fscanf(s->f, "%lld %lld", &id, &t) != 2) {
        fclose(s->f);
        s->f = NULL;
        gale_done(ctx);
        return 0;
    }
    s->line++;
    gale_value_t v[2] = {gale_int(id), gale_int(t)};
    return gale_emit_id(ctx, (uint64_t)id + 1, v, 2);
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s && s->f) fclose(s->f);
    free(s);
}

static const char *const FIELDS[] = {"id", "ts", NULL};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "ts_spout",
            .streams = (const gale_stream_decl_t[]){{"default", FIELDS}, {NULL}},
            .settings = (const gale_setting_decl_t[]){{"path", GALE_SETTING_STRING, "lines \"ID TS\""},
                                                      {"pause_at", GALE_SETTING_INT, "line to pause before"},
                                                      {"pause_ms", GALE_SETTING_INT, "how long"},
                                                      {NULL}},
            .spout = {.open = open_, .next_tuple = next_tuple, .close = close_});
