/*
 * tick_probe: a test bolt that checks the tick tuples it gets. A tick must come from component "__system" on
 * stream "__tick", with one field "rate_secs" holding the bolt's tick interval as a double. In finish it emits
 * (ticks, others, bad): how many ticks, how many other inputs, and how many ticks were malformed.
 */
#include <stdlib.h>
#include <string.h>

#include "gale.h"

typedef struct state {
    long ticks, others, bad;
    double rate;
} state_t;

static int prepare(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->rate = gale_setting_double(ctx, "rate", 0);
    ctx->state = s;
    return 0;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    const char *stream = ctx->host->tuple_stream(in), *comp = ctx->host->tuple_component(in);
    if (strcmp(stream, "__tick") != 0) {
        s->others++;
        return 0;
    }
    gale_value_t v;
    const char *const *fields;
    size_t n_fields;
    ctx->host->tuple_fields(in, &fields, &n_fields);
    bool ok = !strcmp(comp, "__system") && gale_tuple_size(ctx, in) == 1 && n_fields == 1 &&
              !strcmp(fields[0], "rate_secs") && gale_field(ctx, in, "rate_secs", &v) == 0 && v.type == GALE_DOUBLE &&
              v.d == s->rate;
    if (ok) s->ticks++;
    else s->bad++;
    return 0;
}

static int finish(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    gale_value_t out[3] = {gale_int(s->ticks), gale_int(s->others), gale_int(s->bad)};
    return gale_emit(ctx, out, 3);
}

static void cleanup(gale_ctx_t *ctx) { free(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"rate", GALE_SETTING_DOUBLE, "the tick interval the bolt should see in rate_secs"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "tick_probe", .description = "test bolt that checks its tick tuples",
            .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"ticks", "others", "bad", NULL}},
                                                    {NULL, NULL}},
            .settings = settings, .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup});
