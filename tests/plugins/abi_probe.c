/*
 * abi_probe: a test bolt that calls the host with structs of other sizes than this header's and logs what it
 * got, one "abi_probe:" line each: a gale_task_info_t whose size ends before task_id (as a plugin of a minor
 * before task_id would pass it), and, on its first input, an emit whose gale_emit_t has no size. It also tries
 * the calls gale.h's phase table forbids in prepare and cleanup and logs the codes it got. It forwards each
 * input's first value as (n).
 */
#include <stddef.h>

#include "gale.h"

static int prepare(gale_ctx_t *ctx)
{
    gale_task_info_t info = {.size = offsetof(gale_task_info_t, task_id), .task_id = 0xdeadbeef};
    ctx->host->task_info(ctx, &info);
    gale_info(ctx, "abi_probe: short task_info: component=%s task_id=%x", info.component, info.task_id);
    gale_value_t v = gale_int(0);
    gale_info(ctx, "abi_probe: emit in prepare: %s", gale_err_name(ctx, gale_emit(ctx, &v, 1)));
    const char *f[] = {"x"};
    gale_info(ctx, "abi_probe: declare_stream in prepare: %s", gale_err_name(ctx, gale_declare_stream(ctx, "x", f, 1)));
    gale_info(ctx, "abi_probe: declare_direct_stream in prepare: %s",
              gale_err_name(ctx, gale_declare_direct_stream(ctx, "x", f, 1)));
    return 0;
}

static void cleanup(gale_ctx_t *ctx)
{
    gale_value_t v = gale_int(0);
    gale_info(ctx, "abi_probe: emit in cleanup: %s", gale_err_name(ctx, gale_emit(ctx, &v, 1)));
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t v;
    if (gale_get(ctx, in, 0, &v)) return GALE_ETYPE;
    if (!ctx->state) {
        ctx->state = ctx; /* once */
        gale_emit_t e = {.values = &v, .n_values = 1};
        int rc = ctx->host->emit(ctx, &e);
        gale_info(ctx, "abi_probe: unsized emit: %s", gale_strerror(ctx, rc));
    }
    return gale_emit(ctx, &v, 1);
}

GALE_PLUGIN(.kind = GALE_BOLT, .name = "abi_probe", .description = "test bolt for sized structs",
            .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}}, {NULL, NULL}},
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
