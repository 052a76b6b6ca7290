/* dev_null: acks and drops every input (storm-perf's DevNullBolt). */
#include "gale.h"

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in) { return 0; }

GALE_PLUGIN(.kind = GALE_BOLT, .name = "dev_null", .description = "drops its input", .flags = GALE_BOLT_BASIC,
            .bolt = {.execute = execute});
