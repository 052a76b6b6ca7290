/*
 * declare.c: the host functions that read or extend the model (settings, streams, inputs, task info, logging), and
 * the host table a plugin's `declare` runs with.
 */
#include "declare.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static gale_component_t *component_of(gale_ctx_t *ctx)
{
    gale_ctx_base_t *b = gale__ctx_base(ctx);
    return b->component >= 0 ? &b->topo->components[b->component] : NULL;
}

int gale__setting(gale_ctx_t *ctx, const char *key, gale_value_t *out)
{
    const gale_component_t *c = component_of(ctx);
    const gale_setting_t *s = c ? gale_component_setting(c, key) : NULL;
    if (!s) return GALE_ENOENT;
    *out = s->value;
    return 0;
}

/* Both declare functions: a new stream at the end of the component's, `direct` or not. */
static int add_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields, bool direct)
{
    if (gale__ctx_base(ctx)->phase != GALE_PHASE_DECLARE) return GALE_ESTATE;
    gale_component_t *c = component_of(ctx);
    if (!stream) stream = "default";
    if (!*stream) return GALE_EINVAL;
    if (gale_component_stream(c, stream) >= 0) return GALE_EEXIST;
    gale_stream_t *streams = realloc(c->streams, (c->n_streams + 1) * sizeof *streams);
    if (!streams) return GALE_ENOMEM;
    c->streams = streams;
    gale_stream_t *s = &streams[c->n_streams];
    s->name = strdup(stream);
    s->fields = calloc(n_fields + 1, sizeof *s->fields);
    s->n_fields = 0;
    s->direct = direct;
    if (!s->name || !s->fields) goto oom;
    for (; s->n_fields < n_fields; s->n_fields++)
        if (!fields[s->n_fields] || !(s->fields[s->n_fields] = strdup(fields[s->n_fields]))) goto oom;
    c->n_streams++;
    return 0;
oom:
    for (size_t i = 0; i < s->n_fields; i++) free(s->fields[i]);
    free(s->fields);
    free(s->name);
    return GALE_ENOMEM;
}

int gale__declare_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields)
{
    return add_stream(ctx, stream, fields, n_fields, false);
}

int gale__declare_direct_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields)
{
    return add_stream(ctx, stream, fields, n_fields, true);
}

size_t gale__input_count(gale_ctx_t *ctx)
{
    const gale_component_t *c = component_of(ctx);
    return c ? c->n_inputs : 0;
}

int gale__input_fields(gale_ctx_t *ctx, size_t index, const char *const **fields, size_t *n_fields)
{
    const gale_component_t *c = component_of(ctx);
    if (!c || index >= c->n_inputs) return GALE_ERANGE;
    const gale_input_t *in = &c->inputs[index];
    if (in->from_index < 0 || in->stream_index < 0) return GALE_ESTATE;
    const gale_stream_t *s = &gale__ctx_base(ctx)->topo->components[in->from_index].streams[in->stream_index];
    *fields = (const char *const *)s->fields;
    *n_fields = s->n_fields;
    return 0;
}

void gale__task_info(gale_ctx_t *ctx, gale_task_info_t *out)
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
    FILL(checkpoint_interval_ms, (uint32_t)b->topo->config.checkpoint_interval_ms);
#undef FILL
}

void gale__host_log(gale_ctx_t *ctx, gale_log_level_t level, const char *fmt, ...)
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

/* ---- the declare phase's table ------------------------------------------------------------------------------- */

/* What the run-phase functions answer while declaring: there is no task to emit from and no tuple to read. */
static int refuse_emit(gale_ctx_t *ctx, const gale_emit_t *e) { return GALE_ESTATE; }
static int refuse_input(gale_ctx_t *ctx, const gale_tuple_t *input) { return GALE_ESTATE; }
static const gale_tuple_t *refuse_keep(gale_ctx_t *ctx, const gale_tuple_t *input) { return NULL; }
static void refuse_done(gale_ctx_t *ctx) {}
static int refuse_wake(gale_ctx_t *ctx) { return GALE_ESTATE; }
static int refuse_replayable(gale_ctx_t *ctx, uint64_t *resume_from) { return GALE_ESTATE; }
static int refuse_state_get(gale_ctx_t *ctx, const gale_value_t *key, gale_value_t *out) { return GALE_ESTATE; }
static int refuse_state_put(gale_ctx_t *ctx, const gale_value_t *key, const gale_value_t *value) { return GALE_ESTATE; }
static int refuse_state_delete(gale_ctx_t *ctx, const gale_value_t *key) { return GALE_ESTATE; }
static int refuse_state_next(gale_ctx_t *ctx, uint64_t *cursor, gale_value_t *key, gale_value_t *value)
{
    return GALE_ESTATE;
}
static int refuse_from_json(gale_ctx_t *ctx, const char *text, size_t len, gale_value_t *out, char *why, size_t cap)
{
    if (why && cap) snprintf(why, cap, "from_json is not allowed in declare");
    return GALE_ESTATE;
}
static int refuse_reject(gale_ctx_t *ctx, const char *stream, const gale_value_t *values, size_t n, uint64_t msg_id,
                         const char *error)
{
    return GALE_ESTATE;
}
static int refuse_fail_with(gale_ctx_t *ctx, const gale_tuple_t *input, const char *why) { return GALE_ESTATE; }
static size_t no_state_count(gale_ctx_t *ctx) { return 0; }
static uint64_t no_state_restored(gale_ctx_t *ctx) { return 0; }
static size_t no_tuple_size(const gale_tuple_t *t) { return 0; }
static int no_tuple_get(const gale_tuple_t *t, size_t index, gale_value_t *out) { return GALE_ERANGE; }
static int no_tuple_field(const gale_tuple_t *t, const char *field, gale_value_t *out) { return GALE_ENOENT; }
static const char *no_tuple_name(const gale_tuple_t *t) { return ""; }
static uint32_t no_tuple_task(const gale_tuple_t *t) { return 0; }
static void no_tuple_fields(const gale_tuple_t *t, const char *const **fields, size_t *n_fields)
{
    *fields = NULL;
    *n_fields = 0;
}

const gale_host_t gale__declare_host = {
    GALE__MODEL_HOST_ENTRIES,
    .emit = refuse_emit,
    .ack = refuse_input,
    .fail = refuse_input,
    .keep = refuse_keep,
    .done = refuse_done,
    .reset_timeout = refuse_input,
    .wake = refuse_wake,
    .replayable = refuse_replayable,
    .state_get = refuse_state_get,
    .state_put = refuse_state_put,
    .state_delete = refuse_state_delete,
    .state_next = refuse_state_next,
    .state_count = no_state_count,
    .state_restored = no_state_restored,
    .from_json = refuse_from_json,
    .reject = refuse_reject,
    .fail_with = refuse_fail_with,
    .tuple_size = no_tuple_size,
    .tuple_get = no_tuple_get,
    .tuple_field = no_tuple_field,
    .tuple_stream = no_tuple_name,
    .tuple_component = no_tuple_name,
    .tuple_task = no_tuple_task,
    .tuple_fields = no_tuple_fields,
};
