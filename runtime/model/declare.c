/* declare.c: the host functions a plugin may call from `declare` (and the settings, from any callback). */
#include <stdlib.h>
#include <string.h>

#include "host.h"

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

int gale__declare_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields)
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
