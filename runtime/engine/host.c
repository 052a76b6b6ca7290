/*
 * host.c: the host function table every plugin receives. Functions are grouped in the files that own their
 * subject (emit.c, tuple.c, declare.c); this file only assembles the table and holds the few that fit nowhere else.
 */
#include "host.h"

#include <stdarg.h>
#include <stdio.h>

#include "json.h"
#include "log.h"
#include "mpread.h"
#include "tuple.h"

static void task_info(gale_ctx_t *ctx, gale_task_info_t *out)
{
    gale_ctx_base_t *b = gale__ctx_base(ctx);
    const gale_component_t *c = &b->topo->components[b->component];
    /* Only what fits the plugin's struct: one built for an older minor is smaller. */
#define FILL(field, value)                                                                                     \
    if (GALE_STRUCT_HAS(out, gale_task_info_t, field)) out->field = (value)
    FILL(topology, b->topo->name);
    FILL(component, c->name);
    FILL(task_id, b->task_id);
    FILL(task_index, b->task_index);
    FILL(parallelism, (uint32_t)c->parallelism);
#undef FILL
}

static void host_log(gale_ctx_t *ctx, gale_log_level_t level, const char *fmt, ...)
{
    gale_ctx_base_t *b = gale__ctx_base(ctx);
    char who[128];
    if (b->phase == GALE_PHASE_DECLARE) snprintf(who, sizeof who, "%s", b->topo->components[b->component].name);
    else snprintf(who, sizeof who, "%s#%u", b->topo->components[b->component].name, b->task_id);
    va_list ap;
    va_start(ap, fmt);
    gale_logv(level, who, fmt, ap);
    va_end(ap);
}

const gale_host_t gale__host = {
    .size = sizeof(gale_host_t),
    .abi_minor = GALE_ABI_MINOR,
    .emit = gale__emit,
    .ack = gale__ack,
    .fail = gale__fail,
    .keep = gale__keep,
    .done = gale__done,
    .tuple_size = gale__tuple_size,
    .tuple_get = gale__tuple_get,
    .tuple_field = gale__tuple_field,
    .tuple_stream = gale__tuple_stream,
    .tuple_component = gale__tuple_component,
    .tuple_task = gale__tuple_task,
    .tuple_fields = gale__tuple_fields,
    .item = gale_mp_item,
    .setting = gale__setting,
    .declare_stream = gale__declare_stream,
    .input_count = gale__input_count,
    .input_fields = gale__input_fields,
    .task_info = task_info,
    .log = host_log,
    .strerror = gale_strerror,
    .reset_timeout = gale__reset_timeout,
    .to_json = gale__to_json,
    .err_name = gale_err_name,
    .wake = gale__wake,
};
