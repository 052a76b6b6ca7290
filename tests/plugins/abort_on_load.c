/*
 * abort_on_load: a well-formed bolt whose constructor calls abort(), so that merely loading it kills the process.
 * The daemon must survive it: it loads an assignment's plugins in a child process.
 */
#include <stdlib.h>

#include "gale.h"

__attribute__((constructor)) static void crash_on_load(void) { abort(); }

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in) { return 0; }

GALE_PLUGIN(.kind = GALE_BOLT, .name = "abort_on_load", .flags = GALE_BOLT_BASIC, .bolt = {.execute = execute});
