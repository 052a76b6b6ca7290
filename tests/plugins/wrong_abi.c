/* A plugin built for a future ABI major: gale must refuse it, naming both versions. */
#include "gale.h"

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in) { return 0; }

__attribute__((visibility("default"))) const gale_plugin_t gale_plugin = {
    .abi_major = GALE_ABI_MAJOR + 1, .abi_minor = 0, .size = sizeof(gale_plugin_t), .kind = GALE_BOLT,
    .name = "wrong_abi", .bolt = {.execute = execute}};
