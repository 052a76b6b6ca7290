/*
 * topology.c: the topology model itself: its lifetime, lookups, grouping names and the one table of topology-wide
 * config keys with their ranges and defaults. How a model is made is elsewhere: read from a libconfig file
 * (topology_read.c), resolved against its plugins (validate.c).
 */
#include "topology.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* ---- groupings ------------------------------------------------------------------------------------------------ */

static const char *const GROUPINGS[] = {
    [GALE_GROUPING_SHUFFLE] = "shuffle", [GALE_GROUPING_FIELDS] = "fields",
    [GALE_GROUPING_PARTIAL_KEY] = "partial_key", [GALE_GROUPING_ALL] = "all",
    [GALE_GROUPING_GLOBAL] = "global", [GALE_GROUPING_NONE] = "none",
    [GALE_GROUPING_DIRECT] = "direct", [GALE_GROUPING_LOCAL_OR_SHUFFLE] = "local_or_shuffle",
};
#define N_GROUPINGS (sizeof GROUPINGS / sizeof *GROUPINGS)

int gale_grouping_parse(const char *name, gale_grouping_t *out)
{
    for (size_t i = 0; i < N_GROUPINGS; i++)
        if (!strcmp(GROUPINGS[i], name)) {
            *out = (gale_grouping_t)i;
            return 0;
        }
    return GALE_ENOENT;
}

const char *gale_grouping_name(gale_grouping_t g) { return (size_t)g < N_GROUPINGS ? GROUPINGS[g] : "?"; }

/* ---- windows ------------------------------------------------------------------------------------------------- */

void gale_window_spec_free(gale_window_spec_t *w)
{
    free(w->timestamp_field);
    free(w->late_stream);
    memset(w, 0, sizeof *w);
}

const char *gale_window_type_name(gale_window_type_t t)
{
    switch (t) {
    case GALE_WINDOW_TUMBLING: return "tumbling";
    case GALE_WINDOW_SLIDING: return "sliding";
    case GALE_WINDOW_SESSION: return "session";
    default: return NULL;
    }
}

uint64_t gale_window_hold_ms(const gale_window_spec_t *w)
{
    if (w->type == GALE_WINDOW_NONE || w->by_count) return 0;
    uint64_t lag = w->timestamp_field ? w->lag_ms : 0;
    if (w->type == GALE_WINDOW_SESSION) return w->gap_ms + lag;
    return w->length + (w->type == GALE_WINDOW_SLIDING ? w->slide : 0) + lag;
}

/* ---- config = { ... }: a table of keys, nginx-style ----------------------------------------------------------- */

/* The one table of topology-wide settings: name, type, range and default. The README's table is checked against
   it by test_topology; the reader sets fields through it, and gale_config_defaults gives its defaults. */
#define CFG(name, type, min, max, def, storm)                                  \
    {                                                                          \
#name, type, offsetof(gale_config_t, name), min, max, def, storm, NULL \
    }
/* A string key that takes one of a few words. */
#define CFG_CHOICE(name, ...)                                                                        \
    {                                                                                                \
#name, GALE__KEY_STRING, offsetof(gale_config_t, name), 0, 0, 0, NULL, (const char *const[]) \
        {                                                                                            \
            __VA_ARGS__, NULL                                                                        \
        }                                                                                            \
    }
static const gale__config_key_t CONFIG_KEYS[] = {
    CFG(ackers, GALE__KEY_INT, 0, 1024, 1, "topology.acker.executors"),
    CFG(message_timeout_s, GALE__KEY_INT, 1, 86400, 30, "topology.message.timeout.secs"),
    CFG(max_spout_pending, GALE__KEY_INT, 0, 100000000, 1000, "topology.max.spout.pending"),
    CFG(workers, GALE__KEY_INT, 1, 1024, 1, "topology.workers"),
    CFG(threads, GALE__KEY_INT, 0, 4096, 0, NULL),
    CFG(max_retries, GALE__KEY_INT, 0, 1000000, 3, NULL),
    CFG(retry_backoff_ms, GALE__KEY_INT, 0, 3600000, 100, NULL),
    CFG(retry_backoff_max_ms, GALE__KEY_INT, 0, 3600000, 2000, NULL),
    CFG(worker_timeout_s, GALE__KEY_INT, 1, 86400, 30, NULL),
    CFG(drain_timeout_s, GALE__KEY_INT, 1, 86400, 10, NULL),
    CFG(metrics_interval_s, GALE__KEY_INT, 1, 3600, 5, "topology.builtin.metrics.bucket.size.secs"),
    CFG(journal, GALE__KEY_STRING, 0, 0, 0, NULL),
    CFG(journal_fsync, GALE__KEY_BOOL, 0, 0, 0, NULL),
    CFG(journal_key, GALE__KEY_STRING, 0, 0, 0, NULL),
    CFG(users, GALE__KEY_STRING, 0, 0, 0, "topology.users"),
    CFG(tick_s, GALE__KEY_DOUBLE, 0, 86400, 0, "topology.tick.tuple.freq.secs"),
    CFG(checkpoint_interval_ms, GALE__KEY_INT, 0, 86400000, 0, "topology.state.checkpoint.interval.ms"),
    CFG(checkpoint_timeout_s, GALE__KEY_INT, 1, 86400, 60, NULL),
    CFG_CHOICE(state_backend, "file", "redis"),
    CFG(state_path, GALE__KEY_STRING, 0, 0, 0, NULL),
    CFG(state_fsync, GALE__KEY_BOOL, 0, 0, 1, NULL),
    CFG(state_key_groups, GALE__KEY_INT, 1, 32768, 128, NULL),
    CFG(state_redis, GALE__KEY_STRING, 0, 0, 0, NULL),
};
#define N_CONFIG_KEYS (sizeof CONFIG_KEYS / sizeof *CONFIG_KEYS)

const gale__config_key_t *gale__config_key(const char *name)
{
    for (size_t i = 0; i < N_CONFIG_KEYS; i++)
        if (!strcmp(CONFIG_KEYS[i].name, name)) return &CONFIG_KEYS[i];
    return NULL;
}

const gale__config_key_t *gale__config_storm_key(const char *storm)
{
    for (size_t i = 0; i < N_CONFIG_KEYS; i++)
        if (CONFIG_KEYS[i].storm && !strcmp(CONFIG_KEYS[i].storm, storm)) return &CONFIG_KEYS[i];
    return NULL;
}

const gale__config_key_t *gale__config_key_at(size_t i) { return i < N_CONFIG_KEYS ? &CONFIG_KEYS[i] : NULL; }

void gale_config_defaults(gale_config_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
        char *field = (char *)c + CONFIG_KEYS[i].offset;
        if (CONFIG_KEYS[i].type == GALE__KEY_INT) {
            int v = (int)CONFIG_KEYS[i].def;
            memcpy(field, &v, sizeof v);
        } else if (CONFIG_KEYS[i].type == GALE__KEY_BOOL) {
            bool v = CONFIG_KEYS[i].def != 0;
            memcpy(field, &v, sizeof v);
        } else if (CONFIG_KEYS[i].type == GALE__KEY_DOUBLE) {
            double v = (double)CONFIG_KEYS[i].def;
            memcpy(field, &v, sizeof v);
        }
    }
}

bool gale_config_key_info(size_t i, const char **name, const char **type, long *def)
{
    if (i >= N_CONFIG_KEYS) return false;
    static const char *const TYPES[] = {"int", "bool", "string", "double"};
    *name = CONFIG_KEYS[i].name;
    *type = TYPES[CONFIG_KEYS[i].type];
    *def = CONFIG_KEYS[i].def;
    return true;
}

/* Not inlined: inlined into a caller that knows `cfg`, gcc mistakes the table's offsets for overflows. */
__attribute__((noinline)) int gale__config_set(gale_config_t *cfg, const gale__config_key_t *k, const gale_value_t *v,
                                               const char *got, char *why, size_t cap)
{
    char *field = (char *)cfg + k->offset;
    static const char *const TYPE_NAMES[] = {"nothing", "a boolean", "an integer", "an integer", "a float",
                                             "a string", "bytes", "a list", "a group"};
    if (!got) got = (size_t)v->type < sizeof TYPE_NAMES / sizeof *TYPE_NAMES ? TYPE_NAMES[v->type] : "?";
    switch (k->type) {
    case GALE__KEY_INT: {
        if (v->type != GALE_INT) return snprintf(why, cap, "must be an integer (got %s)", got), GALE_EINVAL;
        if (v->i < k->min || v->i > k->max)
            return snprintf(why, cap, "must be from %ld to %ld (got %lld)", k->min, k->max, (long long)v->i), GALE_EINVAL;
        int iv = (int)v->i;
        memcpy(field, &iv, sizeof iv);
        return 0;
    }
    case GALE__KEY_DOUBLE: {
        if (v->type != GALE_DOUBLE && v->type != GALE_INT)
            return snprintf(why, cap, "must be a number (got %s)", got), GALE_EINVAL;
        double d = v->type == GALE_INT ? (double)v->i : v->d;
        if (!(d >= (double)k->min && d <= (double)k->max)) /* NaN too */
            return snprintf(why, cap, "must be from %ld to %ld (got %g)", k->min, k->max, d), GALE_EINVAL;
        memcpy(field, &d, sizeof d);
        return 0;
    }
    case GALE__KEY_BOOL:
        if (v->type != GALE_BOOL) return snprintf(why, cap, "must be true or false (got %s)", got), GALE_EINVAL;
        memcpy(field, &v->b, sizeof v->b);
        return 0;
    case GALE__KEY_STRING: {
        if (v->type != GALE_STR) return snprintf(why, cap, "must be a string (got %s)", got), GALE_EINVAL;
        if (k->choices && v->s.len) { /* "" is none */
            size_t i = 0;
            while (k->choices[i] && (strlen(k->choices[i]) != v->s.len || memcmp(k->choices[i], v->s.ptr, v->s.len)))
                i++;
            if (!k->choices[i]) {
                char list[128] = "";
                for (size_t j = 0; k->choices[j]; j++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", j ? " or " : "",
                             k->choices[j]);
                return snprintf(why, cap, "must be %s (got \"%.*s\")", list, (int)(v->s.len > 64 ? 64 : v->s.len),
                                v->s.ptr),
                       GALE_EINVAL;
            }
        }
        char *old, *copy = v->s.len ? strndup(v->s.ptr, v->s.len) : NULL;
        if (v->s.len && !copy) return snprintf(why, cap, "out of memory"), GALE_ENOMEM;
        /* Through memcpy: the field's type is known only from the table. */
        memcpy(&old, field, sizeof old);
        free(old);
        memcpy(field, &copy, sizeof copy);
        return 0;
    }
    }
    return 0;
}

void gale__topology_inherit_ticks(gale_topology_t *t)
{
    for (size_t i = 0; i < t->n_components; i++) {
        gale_component_t *c = &t->components[i];
        if (c->kind != GALE_BOLT) c->tick_s = 0;
        else if (c->tick_s < 0) c->tick_s = t->config.tick_s;
    }
}

bool gale__name_ok(const char *n)
{
    if (!n || !*n || (n[0] == '_' && n[1] == '_')) return false;
    for (const char *c = n; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') return false;
    return true;
}

/* ---- values and lifetime ---------------------------------------------------------------------------------------- */

void gale__value_free(gale_value_t *v)
{
    if (v->type == GALE_STR) free((char *)v->s.ptr);
    if (v->type == GALE_ARRAY || v->type == GALE_MAP) {
        size_t n = v->type == GALE_MAP ? 2 * (size_t)v->n : v->n;
        for (size_t i = 0; i < n; i++) gale__value_free((gale_value_t *)&v->c.items[i]);
        free((void *)v->c.items);
    }
    *v = (gale_value_t){0};
}

int gale__value_copy(const gale_value_t *src, gale_value_t *out)
{
    *out = (gale_value_t){0};
    switch (src->type) {
    case GALE_NIL:
    case GALE_BOOL:
    case GALE_INT:
    case GALE_UINT:
    case GALE_DOUBLE: *out = *src; return 0;
    case GALE_STR: {
        char *copy = malloc(src->s.len + 1);
        if (!copy) return GALE_ENOMEM;
        if (src->s.len) memcpy(copy, src->s.ptr, src->s.len);
        copy[src->s.len] = '\0';
        *out = gale_strn(copy, src->s.len);
        return 0;
    }
    case GALE_ARRAY:
    case GALE_MAP: {
        size_t n = src->type == GALE_MAP ? 2 * (size_t)src->n : src->n;
        gale_value_t *items = calloc(n + 1, sizeof *items);
        if (!items) return GALE_ENOMEM;
        *out = (gale_value_t){.type = src->type, .n = src->n, .c = {items, NULL, 0}};
        for (size_t i = 0; i < n; i++) {
            int rc = gale__value_copy(&src->c.items[i], &items[i]);
            if (!rc && src->type == GALE_MAP && i % 2 == 0 && items[i].type != GALE_STR) rc = GALE_EINVAL;
            if (rc) {
                gale__value_free(out);
                return rc;
            }
        }
        return 0;
    }
    default: return GALE_EINVAL;
    }
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void gale_streams_free(gale_stream_t *streams, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(streams[i].name);
        free_strings(streams[i].fields, streams[i].n_fields);
    }
    free(streams);
}

static void free_component(gale_component_t *c)
{
    for (size_t i = 0; i < c->n_settings; i++) {
        free(c->settings[i].key);
        free(c->settings[i].override);
        gale__value_free(&c->settings[i].value);
    }
    for (size_t i = 0; i < c->n_inputs; i++) {
        free(c->inputs[i].from);
        free(c->inputs[i].stream);
        free_strings(c->inputs[i].fields, c->inputs[i].n_fields);
        free(c->inputs[i].field_index);
    }
    gale_streams_free(c->streams, c->n_streams);
    free(c->settings);
    free(c->inputs);
    free(c->name);
    free(c->plugin_name);
    free(c->plugin_path);
    gale_window_spec_free(&c->window);
    gale_plugin_unload(c->plugin);
}

void gale_topology_number_tasks(gale_topology_t *t)
{
    uint32_t next = 1;
    for (size_t i = 0; i < t->n_components; i++) {
        t->components[i].first_task = next;
        next += (uint32_t)t->components[i].parallelism;
    }
    t->n_tasks = next - 1;
}

void gale_topology_free(gale_topology_t *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_components; i++) free_component(&t->components[i]);
    free(t->components);
    free(t->order);
    free(t->config.journal);
    free(t->config.journal_key);
    free(t->config.users);
    free(t->config.state_backend);
    free(t->config.state_path);
    free(t->config.state_redis);
    free(t->file);
    free(t->dir);
    free(t->name);
    free(t);
}

int gale_topology_find(const gale_topology_t *t, const char *component)
{
    for (size_t i = 0; i < t->n_components; i++)
        if (!strcmp(t->components[i].name, component)) return (int)i;
    return -1;
}

const gale_component_t *gale_topology_task_component(const gale_topology_t *t, uint32_t task)
{
    for (size_t i = 0; i < t->n_components; i++) {
        const gale_component_t *c = &t->components[i];
        if (task >= c->first_task && task < c->first_task + (uint32_t)c->parallelism) return c;
    }
    return NULL;
}

const gale_setting_t *gale_component_setting(const gale_component_t *c, const char *key)
{
    for (size_t i = 0; i < c->n_settings; i++)
        if (!strcmp(c->settings[i].key, key)) return &c->settings[i];
    return NULL;
}

int gale_component_stream(const gale_component_t *c, const char *stream)
{
    for (size_t i = 0; i < c->n_streams; i++)
        if (!strcmp(c->streams[i].name, stream)) return (int)i;
    return -1;
}
