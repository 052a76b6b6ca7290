/*
 * declaring_bolt: declares its streams in `declare`: stream "out" with the fields listed in its `fields` setting,
 * and stream "copy" with the fields of its first input; with `direct` set, "out" is a direct stream. With
 * `check_phase` set, it first checks that every call gale.h's phase table forbids in `declare` is refused there,
 * and fails the declare with GALE_EINVAL if one is not.
 */
#include <string.h>

#include "gale.h"

static bool phase_rules_hold(gale_ctx_t *ctx)
{
    const gale_value_t v = gale_int(1);
    gale_task_info_t info = GALE__ZERO;
    info.size = sizeof info;
    gale_task_info(ctx, &info);
    gale_done(ctx); /* nothing to do, nothing to crash */
    gale_log(ctx, GALE_LOG_DEBUG, "declaring with the declare phase's host table");
    uint64_t position;
    return gale_replayable(ctx, &position) == GALE_ESTATE && gale_emit(ctx, &v, 1) == GALE_ESTATE &&
           gale_ack(ctx, NULL) == GALE_ESTATE && gale_fail(ctx, NULL) == GALE_ESTATE && gale_keep(ctx, NULL) == NULL &&
           gale_reset_timeout(ctx, NULL) == GALE_ESTATE && gale_wake(ctx) == GALE_ESTATE && info.task_id == 0 &&
           info.component && !strcmp(info.component, "d") && !strcmp(gale_err_name(ctx, GALE_ESTATE), "GALE_ESTATE");
}

static int declare(gale_ctx_t *ctx)
{
    gale_value_t check;
    if (gale_setting(ctx, "check_phase", &check) == 0 && check.b && !phase_rules_hold(ctx)) return GALE_EINVAL;
    gale_value_t list;
    const char *names[8];
    size_t n = 0;
    if (gale_setting(ctx, "fields", &list) == 0 && list.type == GALE_ARRAY)
        for (uint32_t i = 0; i < list.n && n < 8; i++) {
            gale_value_t v;
            gale_item(ctx, &list, i, &v);
            names[n++] = v.s.ptr;
        }
    bool direct = gale_setting_bool(ctx, "direct", false);
    int rc = direct ? gale_declare_direct_stream(ctx, "out", names, n) : gale_declare_stream(ctx, "out", names, n);
    const char *const *in;
    size_t n_in;
    if (!rc && gale_input_count(ctx) > 0 && gale_input_fields(ctx, 0, &in, &n_in) == 0)
        rc = gale_declare_stream(ctx, "copy", in, n_in);
    return rc;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in) { return 0; }

GALE_PLUGIN(.kind = GALE_BOLT, .name = "declaring_bolt", .flags = GALE_BOLT_BASIC, .declare = declare,
            .settings = (const gale_setting_decl_t[]){{"fields", GALE_SETTING_LIST, "fields of stream out"},
                                                      {"check_phase", GALE_SETTING_BOOL, "check declare's phase rules"},
                                                      {"direct", GALE_SETTING_BOOL, "declare stream out direct"},
                                                      {NULL, 0, NULL}},
            .bolt = {.execute = execute});
