/* topology_build.c: a topology made by calls instead of read from a file (topology_build.h). */
#include "topology_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "validate.h"

#define BUILT_FILE "(built)" /* what errors name in place of a file */

gale_topology_t *gale_topology_new(const char *name)
{
    gale_topology_t *t = name ? calloc(1, sizeof *t) : NULL;
    if (!t) return NULL;
    gale_config_defaults(&t->config);
    t->file = strdup(BUILT_FILE);
    t->dir = strdup(".");
    t->name = strdup(name);
    if (!t->file || !t->dir || !t->name) {
        gale_topology_free(t);
        return NULL;
    }
    return t;
}

/* A new component slot at the end, named and checked; its index, or a code with nothing changed. */
static int add_component(gale_topology_t *t, const char *name, gale_kind_t kind, int parallelism)
{
    if (!gale__name_ok(name) || parallelism < 1 || parallelism > 65535) return GALE_EINVAL;
    if (kind != GALE_SPOUT && kind != GALE_BOLT) return GALE_EINVAL;
    if (gale_topology_find(t, name) >= 0) return GALE_EEXIST;
    if (kind == GALE_SPOUT && t->n_components && t->components[t->n_components - 1].kind == GALE_BOLT) return GALE_ESTATE;
    gale_component_t *more = realloc(t->components, (t->n_components + 1) * sizeof *more);
    if (!more) return GALE_ENOMEM;
    t->components = more;
    gale_component_t *c = &more[t->n_components];
    *c = (gale_component_t){.kind = kind, .parallelism = parallelism, .tick_s = -1, .name = strdup(name)};
    if (!c->name) return GALE_ENOMEM;
    return (int)t->n_components++;
}

int gale_topology_add(gale_topology_t *t, const char *name, const gale_plugin_t *desc, int parallelism)
{
    if (!desc || !desc->name) return GALE_EINVAL;
    gale_plugin_handle_t *h = calloc(1, sizeof *h);
    char *plugin_name = strdup(desc->name);
    if (h) h->path = strdup("(given)"); /* no file: such a model can be written but not attached again */
    int rc = h && h->path && plugin_name ? add_component(t, name, desc->kind, parallelism) : GALE_ENOMEM;
    if (rc < 0) {
        if (h) free(h->path);
        free(h);
        free(plugin_name);
        return rc;
    }
    h->desc = desc;
    t->components[rc].plugin = h;
    t->components[rc].plugin_name = plugin_name;
    return rc;
}

int gale_topology_add_plugin(gale_topology_t *t, const char *name, gale_kind_t kind, const char *plugin,
                             int parallelism)
{
    if (!plugin || !*plugin) return GALE_EINVAL;
    char *plugin_name = strdup(plugin);
    if (!plugin_name) return GALE_ENOMEM;
    int rc = add_component(t, name, kind, parallelism);
    if (rc < 0) {
        free(plugin_name);
        return rc;
    }
    t->components[rc].plugin_name = plugin_name;
    return rc;
}

static bool is_component(const gale_topology_t *t, int comp) { return comp >= 0 && (size_t)comp < t->n_components; }

int gale_topology_add_input(gale_topology_t *t, int to, const char *from, const char *stream, gale_grouping_t g,
                            const char *const *fields, size_t n_fields)
{
    if (!is_component(t, to) || t->components[to].kind != GALE_BOLT) return GALE_ERANGE;
    bool keyed = g == GALE_GROUPING_FIELDS || g == GALE_GROUPING_PARTIAL_KEY;
    if (!from || !strcmp(gale_grouping_name(g), "?") || (stream && !*stream)) return GALE_EINVAL;
    if (keyed != (n_fields > 0) || (n_fields && !fields)) return GALE_EINVAL;
    for (size_t i = 0; i < n_fields; i++)
        if (!fields[i]) return GALE_EINVAL;
    gale_component_t *c = &t->components[to];
    gale_input_t *more = realloc(c->inputs, (c->n_inputs + 1) * sizeof *more);
    if (!more) return GALE_ENOMEM;
    c->inputs = more;
    gale_input_t in = {.grouping = g, .from_index = -1, .stream_index = -1};
    in.from = strdup(from);
    in.stream = strdup(stream ? stream : "default");
    in.fields = calloc(n_fields + 1, sizeof *in.fields);
    bool ok = in.from && in.stream && in.fields;
    for (; ok && in.n_fields < n_fields; in.n_fields++) ok = (in.fields[in.n_fields] = strdup(fields[in.n_fields])) != NULL;
    if (!ok) {
        for (size_t i = 0; i < in.n_fields; i++) free(in.fields[i]);
        free(in.fields);
        free(in.from);
        free(in.stream);
        return GALE_ENOMEM;
    }
    c->inputs[c->n_inputs++] = in;
    return 0;
}

int gale_topology_set(gale_topology_t *t, int comp, const char *key, const gale_value_t *value)
{
    if (!is_component(t, comp)) return GALE_ERANGE;
    if (!key || !*key || !value) return GALE_EINVAL;
    gale_component_t *c = &t->components[comp];
    gale_value_t copy;
    int rc = gale__value_copy(value, &copy);
    if (rc) return rc;
    for (size_t i = 0; i < c->n_settings; i++)
        if (!strcmp(c->settings[i].key, key)) {
            gale__value_free(&c->settings[i].value);
            c->settings[i].value = copy;
            return 0;
        }
    char *k = strdup(key);
    gale_setting_t *more = k ? realloc(c->settings, (c->n_settings + 1) * sizeof *more) : NULL;
    if (!more) {
        free(k);
        gale__value_free(&copy);
        return GALE_ENOMEM;
    }
    c->settings = more;
    c->settings[c->n_settings++] = (gale_setting_t){.key = k, .value = copy};
    return 0;
}

int gale_topology_set_int(gale_topology_t *t, int comp, const char *key, int64_t value)
{
    gale_value_t v = gale_int(value);
    return gale_topology_set(t, comp, key, &v);
}

int gale_topology_set_double(gale_topology_t *t, int comp, const char *key, double value)
{
    gale_value_t v = gale_double(value);
    return gale_topology_set(t, comp, key, &v);
}

int gale_topology_set_bool(gale_topology_t *t, int comp, const char *key, bool value)
{
    gale_value_t v = gale_bool(value);
    return gale_topology_set(t, comp, key, &v);
}

int gale_topology_set_str(gale_topology_t *t, int comp, const char *key, const char *value)
{
    if (!value) return GALE_EINVAL;
    gale_value_t v = gale_str(value);
    return gale_topology_set(t, comp, key, &v);
}

int gale_topology_set_replay(gale_topology_t *t, int comp, bool replay)
{
    if (!is_component(t, comp) || t->components[comp].kind != GALE_SPOUT) return GALE_ERANGE;
    t->components[comp].replay = replay;
    return 0;
}

int gale_topology_set_tick(gale_topology_t *t, int comp, double seconds)
{
    if (!is_component(t, comp) || t->components[comp].kind != GALE_BOLT) return GALE_ERANGE;
    const gale__config_key_t *k = gale__config_key("tick_s"); /* the topology-wide key's range */
    if (!(seconds >= (double)k->min && seconds <= (double)k->max)) return GALE_EINVAL;
    t->components[comp].tick_s = seconds;
    return 0;
}

int gale_topology_config(gale_topology_t *t, const char *key, const gale_value_t *value, gale_diag_t *diag)
{
    const gale__config_key_t *k = key ? gale__config_key(key) : NULL;
    if (!k) return gale__diag(diag, GALE_ENOENT, "%s: unknown config key '%s'", t->file, key ? key : "(null)");
    char why[300];
    int rc = gale__config_set(&t->config, k, value, NULL, why, sizeof why);
    return rc ? gale__diag(diag, rc, "%s: config.%s %s", t->file, key, why) : 0;
}

int gale_topology_build(gale_topology_t *t, gale_diag_t *diag)
{
    if (!t->n_components || t->components[0].kind != GALE_SPOUT)
        return gale__diag(diag, GALE_ETOPOLOGY, "%s: no spouts: a topology needs one at least", t->file);
    for (size_t i = 0; i < t->n_components; i++)
        if (t->components[i].kind == GALE_BOLT && !t->components[i].n_inputs)
            return gale__diag(diag, GALE_ETOPOLOGY, "%s: bolt '%s' has no inputs", t->file, t->components[i].name);
    gale__topology_inherit_ticks(t);
    return gale_topology_resolve(t, diag);
}
