/*
 * chaos: a bolt that forwards each input unchanged, anchored, on a stream with the same fields as its input, and
 * misbehaves on purpose so that a topology's failure handling can be tested before production tests it:
 *
 *   fail_ratio   (double, 0)  fail this share of inputs (explicit fail: the tree replays at once), saying so
 *                              (gale_fail_with: a tree that fails for good is journaled with the reason)
 *   drop_ratio   (double, 0)  neither ack nor forward this share (the tree times out and replays)
 *   delay_ms     (int, 0)     sleep this long in each execute
 *   crash_after  (int, 0)     abort the whole process after this many inputs (0: never)
 *   seed         (int, 1)     the random choices repeat with the same seed (task i uses seed + i)
 *
 * Put it between two components: `inputs = ( { from = "split"; } )` and subscribe the next bolt to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gale.h"

typedef struct chaos {
    double fail_ratio, drop_ratio;
    int64_t delay_ms, crash_after, seen;
    uint64_t rng;
    gale_value_t *values; /* room for one input's values, reused */
    size_t cap;
} chaos_t;

/* Declares the input's fields as its own, so that whatever comes in can go out unchanged. */
static int declare(gale_ctx_t *ctx)
{
    const char *const *fields;
    size_t n;
    if (gale_input_count(ctx) < 1) return GALE_EINVAL;
    int rc = gale_input_fields(ctx, 0, &fields, &n);
    if (rc) return rc;
    return gale_declare_stream(ctx, "default", fields, n);
}

static double uniform(chaos_t *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (double)(c->rng >> 11) / 9007199254740992.0;
}

static int prepare(gale_ctx_t *ctx)
{
    chaos_t *c = calloc(1, sizeof *c);
    if (!c) return GALE_ENOMEM;
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    c->fail_ratio = gale_setting_double(ctx, "fail_ratio", 0);
    c->drop_ratio = gale_setting_double(ctx, "drop_ratio", 0);
    c->delay_ms = gale_setting_int(ctx, "delay_ms", 0);
    c->crash_after = gale_setting_int(ctx, "crash_after", 0);
    c->rng = (uint64_t)gale_setting_int(ctx, "seed", 1) * 0x9e3779b97f4a7c15ull + info.task_index + 1;
    if (c->fail_ratio < 0 || c->drop_ratio < 0 || c->fail_ratio + c->drop_ratio > 1) {
        gale_error(ctx, "fail_ratio and drop_ratio must be >= 0 and add up to at most 1");
        free(c);
        return GALE_EINVAL;
    }
    ctx->state = c;
    return 0;
}

static int forward(gale_ctx_t *ctx, chaos_t *c, const gale_tuple_t *in)
{
    size_t n = gale_tuple_size(ctx, in);
    if (n > c->cap) {
        gale_value_t *v = realloc(c->values, n * sizeof *v);
        if (!v) return GALE_ENOMEM;
        c->values = v;
        c->cap = n;
    }
    for (size_t i = 0; i < n; i++) gale_get(ctx, in, i, &c->values[i]);
    return gale_emit_anchored(ctx, in, c->values, n);
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    chaos_t *c = ctx->state;
    if (c->crash_after && ++c->seen >= c->crash_after) {
        gale_error(ctx, "chaos: crashing the process after %lld inputs, as asked (crash_after)", (long long)c->seen);
        abort();
    }
    double r = uniform(c);
    if (r < c->fail_ratio) return gale_fail_with(ctx, in, "chaos: failed on purpose (fail_ratio)");
    if (r < c->fail_ratio + c->drop_ratio) return 0; /* dropped: never acked, so its tree times out */
    if (c->delay_ms) {
        struct timespec ts = {c->delay_ms / 1000, (c->delay_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    int rc = forward(ctx, c, in);
    if (rc) {
        gale_fail(ctx, in);
        return rc;
    }
    return gale_ack(ctx, in);
}

static void cleanup(gale_ctx_t *ctx)
{
    chaos_t *c = ctx->state;
    free(c->values);
    free(c);
}

static const gale_setting_decl_t settings[] = {
    {"fail_ratio", GALE_SETTING_DOUBLE, "share of inputs to fail (0..1)"},
    {"drop_ratio", GALE_SETTING_DOUBLE, "share of inputs to drop without ack, so they time out (0..1)"},
    {"delay_ms", GALE_SETTING_INT, "sleep this many milliseconds in each execute"},
    {"crash_after", GALE_SETTING_INT, "abort the process after this many inputs (0: never)"},
    {"seed", GALE_SETTING_INT, "seed of the random choices (task i uses seed + i)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "chaos",
            .description = "forwards its input unchanged, failing, dropping, delaying or crashing on purpose",
            .declare = declare, .settings = settings,
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
