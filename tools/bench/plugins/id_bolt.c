/* id_bolt: forwards each input unchanged, anchored (storm-perf's IdBolt). */
#include "gale.h"

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t v;
    gale_get(ctx, in, 0, &v);
    return gale_emit(ctx, &v, 1);
}

GALE_PLUGIN(.kind = GALE_BOLT, .name = "id_bolt", .description = "forwards its input", .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"str", NULL}}, {NULL, NULL}},
            .bolt = {.execute = execute});
