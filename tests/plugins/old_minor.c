/*
 * old_minor: a plugin as one built against ABI 2.0 would look: its descriptor's size ends before the optional fields
 * (process_init, ...), and its stream entries end before `direct` (ABI 2.1). The bytes behind the descriptor's size
 * hold a failing process_init, so a loader that read past the size would fail the run; behind each stream entry
 * comes the next entry, so a loader that read `direct` there would see a pointer's byte. It forwards each input's
 * first value as (n) on "default", and declares "other" too.
 */
#include <stddef.h>

#include "gale.h"

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t v;
    if (gale_get(ctx, in, 0, &v)) return GALE_ETYPE;
    return gale_emit(ctx, &v, 1);
}

static int must_not_run(const gale_process_info_t *info)
{
    info->log(info, GALE_LOG_ERROR, "process_init read past the descriptor's size");
    return GALE_EIO;
}

static const char *const fields[] = {"n", NULL};
/* gale_stream_decl_t as ABI 2.0 had it */
typedef struct {
    const char *name;
    const char *const *fields;
} stream_decl_2_0_t;
static const stream_decl_2_0_t streams[] = {{"default", fields}, {"other", fields}, {NULL, NULL}};

__attribute__((visibility("default")))
const gale_plugin_t gale_plugin = {.abi_major = GALE_ABI_MAJOR,
                                   .abi_minor = 0,
                                   .size = offsetof(gale_plugin_t, process_init),
                                   .stream_decl_size = sizeof(stream_decl_2_0_t),
                                   .setting_decl_size = sizeof(gale_setting_decl_t),
                                   .kind = GALE_BOLT,
                                   .name = "old_minor",
                                   .flags = GALE_BOLT_BASIC,
                                   .streams = (const gale_stream_decl_t *)(const void *)streams,
                                   .bolt = {.execute = execute},
                                   .process_init = must_not_run};
