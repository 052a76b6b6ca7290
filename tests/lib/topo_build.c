#include "topo_build.h"

#include <stdlib.h>
#include <string.h>

#include "plugin.h"

gale_topology_t *tb_new(const char *name, int ackers)
{
    gale_topology_t *t = calloc(1, sizeof *t);
    t->file = strdup("(built in a test)");
    t->dir = strdup(".");
    t->name = strdup(name);
    gale_config_defaults(&t->config);
    t->config.ackers = ackers;
    t->components = calloc(16, sizeof *t->components);
    return t;
}

int tb_add(gale_topology_t *t, const char *name, const gale_plugin_t *desc, int parallelism)
{
    gale_component_t *c = &t->components[t->n_components];
    c->name = strdup(name);
    c->kind = desc->kind;
    c->plugin_name = strdup(desc->name);
    c->parallelism = parallelism;
    c->plugin = calloc(1, sizeof *c->plugin);
    c->plugin->path = strdup("(in the test)");
    c->plugin->desc = desc;
    for (const gale_stream_decl_t *s = desc->streams; s && s->name; s++) {
        c->streams = realloc(c->streams, (c->n_streams + 1) * sizeof *c->streams);
        gale_stream_t *st = &c->streams[c->n_streams++];
        st->name = strdup(s->name);
        st->n_fields = 0;
        while (s->fields[st->n_fields]) st->n_fields++;
        st->fields = calloc(st->n_fields + 1, sizeof *st->fields);
        for (size_t i = 0; i < st->n_fields; i++) st->fields[i] = strdup(s->fields[i]);
    }
    return (int)t->n_components++;
}

void tb_input(gale_topology_t *t, int to, int from, const char *stream, gale_grouping_t g, const char *field)
{
    gale_component_t *c = &t->components[to];
    c->inputs = realloc(c->inputs, (c->n_inputs + 1) * sizeof *c->inputs);
    gale_input_t *in = &c->inputs[c->n_inputs++];
    memset(in, 0, sizeof *in);
    in->from = strdup(t->components[from].name);
    in->stream = strdup(stream ? stream : "default");
    in->grouping = g;
    in->from_index = from;
    in->stream_index = gale_component_stream(&t->components[from], in->stream);
    if (field) {
        in->n_fields = 1;
        in->fields = calloc(1, sizeof *in->fields);
        in->fields[0] = strdup(field);
        in->field_index = calloc(1, sizeof *in->field_index);
        const gale_stream_t *s = &t->components[from].streams[in->stream_index];
        for (size_t i = 0; i < s->n_fields; i++)
            if (!strcmp(s->fields[i], field)) in->field_index[0] = (int)i;
    }
}

void tb_setting_int(gale_topology_t *t, int comp, const char *key, int64_t value)
{
    gale_component_t *c = &t->components[comp];
    c->settings = realloc(c->settings, (c->n_settings + 1) * sizeof *c->settings);
    c->settings[c->n_settings++] = (gale_setting_t){.key = strdup(key), .value = gale_int(value)};
}

void tb_done(gale_topology_t *t)
{
    t->order = calloc(t->n_components, sizeof *t->order);
    uint32_t next = 1;
    for (size_t i = 0; i < t->n_components; i++) {
        t->order[i] = (int)i;
        t->components[i].first_task = next;
        next += (uint32_t)t->components[i].parallelism;
    }
    t->n_tasks = next - 1;
}

void tb_free(gale_topology_t *t)
{
    for (size_t i = 0; i < t->n_components; i++) {
        gale_component_t *c = &t->components[i];
        for (size_t s = 0; s < c->n_streams; s++) {
            for (size_t f = 0; f < c->streams[s].n_fields; f++) free(c->streams[s].fields[f]);
            free(c->streams[s].fields);
            free(c->streams[s].name);
        }
        for (size_t k = 0; k < c->n_inputs; k++) {
            free(c->inputs[k].from);
            free(c->inputs[k].stream);
            if (c->inputs[k].n_fields) free(c->inputs[k].fields[0]);
            free(c->inputs[k].fields);
            free(c->inputs[k].field_index);
        }
        for (size_t k = 0; k < c->n_settings; k++) free(c->settings[k].key);
        free(c->settings);
        free(c->inputs);
        free(c->streams);
        free(c->plugin->path);
        free(c->plugin);
        free(c->name);
        free(c->plugin_name);
    }
    free(t->components);
    free(t->order);
    free(t->file);
    free(t->dir);
    free(t->name);
    free(t->config.journal);
    free(t);
}
