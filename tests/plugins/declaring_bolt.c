/*
 * declaring_bolt: declares its streams in `declare`: stream "out" with the fields listed in its `fields` setting,
 * and stream "copy" with the fields of its first input.
 */
#include "gale.h"

static int declare(gale_ctx_t *ctx)
{
    gale_value_t list;
    const char *names[8];
    size_t n = 0;
    if (gale_setting(ctx, "fields", &list) == 0 && list.type == GALE_ARRAY)
        for (uint32_t i = 0; i < list.n && n < 8; i++) {
            gale_value_t v;
            gale_item(ctx, &list, i, &v);
            names[n++] = v.s.ptr;
        }
    int rc = gale_declare_stream(ctx, "out", names, n);
    const char *const *in;
    size_t n_in;
    if (!rc && gale_input_count(ctx) > 0 && gale_input_fields(ctx, 0, &in, &n_in) == 0)
        rc = gale_declare_stream(ctx, "copy", in, n_in);
    return rc;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in) { return 0; }

GALE_PLUGIN(.kind = GALE_BOLT, .name = "declaring_bolt", .flags = GALE_BOLT_BASIC, .declare = declare,
            .settings = (const gale_setting_decl_t[]){{"fields", GALE_SETTING_LIST, "fields of stream out"}, {NULL, 0, NULL}},
            .bolt = {.execute = execute});
