/*
 * validate.c: a loaded topology resolved against its plugins. Loads each plugin, checks its kind and the settings
 * it declares, orders the components (rejecting cycles), runs each component's declare in that order (so a bolt
 * can declare what its inputs carry), checks every subscription against the streams and fields its source
 * declares (and its grouping against whether the stream is direct), and numbers the tasks. Every error names the file, the line, the component and what is wrong.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "declare.h"
#include "plugin.h"
#include "topology.h"
#include "validate.h"

static const char *kind_name(gale_kind_t k) { return k == GALE_SPOUT ? "spout" : "bolt"; }

static int fail(gale_diag_t *d, const gale_topology_t *t, int line, const gale_component_t *c, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(gale_diag_t *d, const gale_topology_t *t, int line, const gale_component_t *c, const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* A built topology has no lines: its errors name the component only. */
    if (line <= 0) return gale__diag(d, GALE_ETOPOLOGY, "%s: %s '%s': %s", t->file, kind_name(c->kind), c->name, msg);
    return gale__diag(d, GALE_ETOPOLOGY, "%s:%d: %s '%s': %s", t->file, line, kind_name(c->kind), c->name, msg);
}

static int load_plugin(gale_topology_t *t, gale_component_t *c, gale_diag_t *d)
{
    char *path = NULL;
    gale_diag_t inner = {{0}};
    /* A built topology may hand over a descriptor itself (topology_build.h): then nothing is loaded. */
    int rc = c->plugin ? 0 : gale_plugin_builtin(c->plugin_name, c->kind, &c->plugin);
    if (rc == GALE_ENOENT) rc = gale_plugin_resolve_path(c->plugin_name, t->dir, &path, &inner);
    else if (rc) return fail(d, t, c->plugin_line, c, "out of memory");
    if (!rc && !c->plugin) rc = gale_plugin_load(path, &c->plugin, &inner);
    free(path);
    if (rc) return fail(d, t, c->plugin_line, c, "%s", inner.msg);
    if (c->plugin->desc->kind != c->kind)
        return fail(d, t, c->plugin_line, c, "plugin %s is a %s, not a %s", c->plugin->path,
                    kind_name(c->plugin->desc->kind), kind_name(c->kind));
    return 0;
}

/* ---- settings against the plugin's table ---------------------------------------------------------------------- */

static const char *value_type_name(gale_type_t t)
{
    static const char *names[] = {"nothing", "a boolean", "an integer", "an integer", "a float", "a string",
                                  "bytes", "a list", "a group"};
    return (size_t)t < sizeof names / sizeof *names ? names[t] : "?";
}

static bool type_fits(gale_setting_type_t want, gale_type_t got)
{
    switch (want) {
    case GALE_SETTING_INT: return got == GALE_INT;
    case GALE_SETTING_DOUBLE: return got == GALE_DOUBLE || got == GALE_INT;
    case GALE_SETTING_BOOL: return got == GALE_BOOL;
    case GALE_SETTING_STRING: return got == GALE_STR;
    case GALE_SETTING_LIST: return got == GALE_ARRAY;
    case GALE_SETTING_GROUP: return got == GALE_MAP;
    case GALE_SETTING_ANY: return true;
    }
    return false;
}

static const char *setting_type_name(gale_setting_type_t t)
{
    static const char *names[] = {"?", "an integer", "a number", "true or false", "a string", "a list", "a group", "anything"};
    return (size_t)t < sizeof names / sizeof *names ? names[t] : "?";
}

/* A setting's error, at its line, or at the --set that gave its value (which has no line in the file). */
static int fail_setting(gale_diag_t *d, const gale_topology_t *t, const gale_component_t *c, const gale_setting_t *s,
                        const char *msg)
{
    if (s->override) return gale__diag(d, GALE_ETOPOLOGY, "--set %s: %s '%s': %s", s->override, kind_name(c->kind), c->name, msg);
    return fail(d, t, s->line, c, "%s", msg);
}

static int check_settings(const gale_topology_t *t, const gale_component_t *c, gale_diag_t *d)
{
    char msg[700];
    const gale_plugin_t *desc = c->plugin->desc;
    if (!desc->settings) return 0;
    for (size_t i = 0; i < c->n_settings; i++) {
        const gale_setting_t *s = &c->settings[i];
        gale_setting_decl_t k;
        bool declared = false;
        for (size_t j = 0; !declared && gale__plugin_setting(desc, j, &k); j++) declared = !strcmp(k.name, s->key);
        if (!declared) {
            char known[512] = "";
            for (size_t j = 0; gale__plugin_setting(desc, j, &k); j++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", j ? ", " : "", k.name);
            snprintf(msg, sizeof msg, "unknown setting '%s' for plugin %s (known: %s)", s->key, c->plugin->desc->name,
                     *known ? known : "none");
            return fail_setting(d, t, c, s, msg);
        }
        if (!type_fits(k.type, s->value.type)) {
            snprintf(msg, sizeof msg, "setting '%s' must be %s (got %s)", s->key, setting_type_name(k.type),
                     value_type_name(s->value.type));
            return fail_setting(d, t, c, s, msg);
        }
    }
    return 0;
}

/* ---- the graph: sources, cycles, order ------------------------------------------------------------------------ */

static int link_sources(gale_topology_t *t, gale_diag_t *d)
{
    for (size_t i = 0; i < t->n_components; i++) {
        gale_component_t *c = &t->components[i];
        for (size_t k = 0; k < c->n_inputs; k++) {
            gale_input_t *in = &c->inputs[k];
            in->from_index = gale_topology_find(t, in->from);
            if (in->from_index < 0) return fail(d, t, in->line, c, "input from '%s', which is not a component", in->from);
            if ((size_t)in->from_index == i) return fail(d, t, in->line, c, "input from itself");
        }
    }
    return 0;
}

/* Kahn's algorithm, spouts first. Components left over sit on a cycle. */
static int order_components(gale_topology_t *t, gale_diag_t *d)
{
    size_t n = t->n_components, done = 0;
    int *indeg = calloc(n, sizeof *indeg);
    t->order = calloc(n, sizeof *t->order);
    if (!indeg || !t->order) {
        free(indeg);
        return GALE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) indeg[i] = (int)t->components[i].n_inputs;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0) t->order[done++] = (int)i;
    for (size_t head = 0; head < done; head++) {
        int from = t->order[head];
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < t->components[i].n_inputs; k++)
                if (t->components[i].inputs[k].from_index == from && --indeg[i] == 0) t->order[done++] = (int)i;
    }
    int rc = 0;
    if (done < n) {
        char names[512] = "";
        const gale_component_t *first = NULL;
        for (size_t i = 0; i < n; i++)
            if (indeg[i] > 0) {
                if (!first) first = &t->components[i];
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", *names ? ", " : "",
                         t->components[i].name);
            }
        rc = fail(d, t, first->line, first, "its inputs form a cycle through %s (topologies must be acyclic)", names);
    }
    free(indeg);
    return rc;
}

/* ---- streams and fields ----------------------------------------------------------------------------------------- */

static void stream_names(const gale_component_t *c, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < c->n_streams; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? ", " : "", c->streams[i].name);
    if (!c->n_streams) snprintf(buf, cap, "nothing");
}

static void field_names(const gale_stream_t *s, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < s->n_fields; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? ", " : "", s->fields[i]);
    if (!s->n_fields) snprintf(buf, cap, "no fields");
}

static int resolve_input(gale_topology_t *t, gale_component_t *c, gale_input_t *in, gale_diag_t *d)
{
    const gale_component_t *src = &t->components[in->from_index];
    char list[512];
    in->stream_index = gale_component_stream(src, in->stream);
    if (in->stream_index < 0) {
        stream_names(src, list, sizeof list);
        return fail(d, t, in->line, c, "subscribes to stream '%s' of '%s', which '%s' does not declare (it declares: %s)",
                    in->stream, src->name, src->name, list);
    }
    const gale_stream_t *s = &src->streams[in->stream_index];
    /* Storm's rule: a direct stream goes to the task its emitter names, so it takes the direct grouping only, and
       the direct grouping gets nothing from a stream that is not emitted directly. */
    if (in->grouping == GALE_GROUPING_DIRECT && !s->direct)
        return fail(d, t, in->line, c,
                    "direct grouping on stream '%s' of '%s', which '%s' does not declare direct (declare it with "
                    "gale_declare_direct_stream, or list it in `direct_streams` for a shell component)",
                    s->name, src->name, src->name);
    if (in->grouping != GALE_GROUPING_DIRECT && s->direct)
        return fail(d, t, in->line, c,
                    "%s grouping on stream '%s' of '%s', which '%s' declares direct: subscribe to it with grouping "
                    "\"direct\" (its tuples go to the task the emitter names)",
                    gale_grouping_name(in->grouping), s->name, src->name, src->name);
    if (in->n_fields && !(in->field_index = calloc(in->n_fields, sizeof *in->field_index))) return GALE_ENOMEM;
    for (size_t f = 0; f < in->n_fields; f++) {
        in->field_index[f] = -1;
        for (size_t k = 0; k < s->n_fields; k++)
            if (!strcmp(s->fields[k], in->fields[f])) in->field_index[f] = (int)k;
        if (in->field_index[f] < 0) {
            field_names(s, list, sizeof list);
            return fail(d, t, in->line, c, "%s grouping on '%s', which '%s' does not declare on stream '%s' (it declares: %s)",
                        gale_grouping_name(in->grouping), in->fields[f], src->name, s->name, list);
        }
    }
    return 0;
}

static int check_streams(const gale_topology_t *t, const gale_component_t *c, gale_diag_t *d)
{
    for (size_t i = 0; i < c->n_streams; i++) {
        const gale_stream_t *s = &c->streams[i];
        for (size_t a = 0; a < s->n_fields; a++)
            for (size_t b = a + 1; b < s->n_fields; b++)
                if (!strcmp(s->fields[a], s->fields[b]))
                    return fail(d, t, c->plugin_line, c, "stream '%s' declares field '%s' twice", s->name, s->fields[a]);
    }
    return 0;
}

/* A bolt's window against its inputs and the topology's timeout; declares its late stream (the fields of its input,
   which every input must then share) through the declare context. */
static int check_window(gale_topology_t *t, gale_component_t *c, gale_ctx_base_t *ctx, gale_diag_t *d)
{
    const gale_window_spec_t *w = &c->window;
    const gale_plugin_t *desc = c->plugin->desc;
    if (w->type == GALE_WINDOW_NONE) {
        if (c->kind == GALE_BOLT && desc->execute_window && !desc->bolt.execute)
            return fail(d, t, c->plugin_line, c,
                        "plugin %s executes windows only (execute_window, no execute): give the bolt a "
                        "window = { type = ...; }",
                        desc->name);
        return 0;
    }
    if (!desc->execute_window)
        return fail(d, t, w->line, c,
                    "it has a window, but plugin %s has no execute_window (ABI 2.4) to give the window to", desc->name);
    if (w->by_count) {
        uint64_t most = w->length + w->slide; /* the window and the tuples that left it, shown as expired */
        if (t->config.ackers > 0 && t->config.max_spout_pending > 0 && most > (uint64_t)t->config.max_spout_pending)
            return fail(d, t, w->line, c,
                        "its window holds up to length_count + slide_count = %" PRIu64
                        " tuples, and config.max_spout_pending is %d: the spouts would stop before the window "
                        "fills (Storm's check); raise max_spout_pending to at least %" PRIu64 ", or 0",
                        most, t->config.max_spout_pending, most);
        if (most * GALE_WINDOW_TUPLE_MIN_BYTES > w->max_mb << 20)
            return fail(d, t, w->line, c,
                        "its window holds up to %" PRIu64 " tuples, at least %" PRIu64
                        " MB at %d bytes a tuple, over window.max_mb = %" PRIu64 "; raise max_mb",
                        most, (most * GALE_WINDOW_TUPLE_MIN_BYTES) >> 20, GALE_WINDOW_TUPLE_MIN_BYTES, w->max_mb);
    }
    uint64_t hold = gale_window_hold_ms(w), timeout_ms = (uint64_t)t->config.message_timeout_s * 1000;
    if (t->config.ackers > 0 && hold && hold >= timeout_ms) {
        char parts[160];
        if (w->type == GALE_WINDOW_SESSION) snprintf(parts, sizeof parts, "gap_ms %" PRIu64, w->gap_ms);
        else if (w->type == GALE_WINDOW_SLIDING)
            snprintf(parts, sizeof parts, "length_ms %" PRIu64 " + slide_ms %" PRIu64, w->length, w->slide);
        else snprintf(parts, sizeof parts, "length_ms %" PRIu64, w->length);
        if (w->timestamp_field)
            snprintf(parts + strlen(parts), sizeof parts - strlen(parts), " + lag_ms %" PRIu64, w->lag_ms);
        return fail(d, t, w->line, c,
                    "its window keeps a tuple up to %s = %" PRIu64 " ms, and config.message_timeout_s "
                    "is %d s: its tuples would time out inside the window; raise message_timeout_s to at least %" PRIu64
                    " s",
                    parts, hold, t->config.message_timeout_s, hold / 1000 + 1);
    }
    const gale_stream_t *first = NULL;
    for (size_t i = 0; i < c->n_inputs; i++) {
        const gale_input_t *in = &c->inputs[i];
        const gale_stream_t *st = &t->components[in->from_index].streams[in->stream_index];
        if (w->timestamp_field) {
            size_t k = 0;
            while (k < st->n_fields && strcmp(st->fields[k], w->timestamp_field)) k++;
            if (k == st->n_fields)
                return fail(d, t, w->line, c, "window.timestamp_field '%s' is not a field of its input %s/%s",
                            w->timestamp_field, in->from, in->stream);
        }
        if (!first) first = st;
        bool same = st->n_fields == first->n_fields;
        for (size_t k = 0; same && k < st->n_fields; k++) same = !strcmp(st->fields[k], first->fields[k]);
        if (w->late_stream && !same)
            return fail(d, t, w->line, c,
                        "window.late_stream '%s' carries its inputs' tuples, so its inputs must have "
                        "the same fields (%s/%s has others)",
                        w->late_stream, in->from, in->stream);
    }
    if (!w->late_stream) return 0;
    int rc = gale__declare_stream(&ctx->pub, w->late_stream, (const char *const *)first->fields, first->n_fields);
    if (rc == GALE_EEXIST)
        return fail(d, t, w->line, c, "window.late_stream '%s' is a stream its plugin declares already",
                    w->late_stream);
    return rc;
}

static int declare(gale_topology_t *t, int index, gale_diag_t *d)
{
    gale_component_t *c = &t->components[index];
    const gale_plugin_t *desc = c->plugin->desc;
    gale_ctx_base_t ctx = {.pub = {.host = &gale__declare_host}, .phase = GALE_PHASE_DECLARE, .topo = t, .component = index};
    if (desc->declare) {
        int rc = desc->declare(&ctx.pub);
        if (rc) return fail(d, t, c->plugin_line, c, "declare of plugin %s failed: %s", desc->name, gale_strerror(rc));
    } else {
        gale_stream_decl_t s;
        for (size_t i = 0; gale__plugin_stream(desc, i, &s); i++) {
            size_t n = 0;
            while (s.fields && s.fields[n]) n++;
            int rc = s.direct ? gale__declare_direct_stream(&ctx.pub, s.name, s.fields, n)
                              : gale__declare_stream(&ctx.pub, s.name, s.fields, n);
            if (rc == GALE_EEXIST) return fail(d, t, c->plugin_line, c, "plugin %s declares stream '%s' twice", desc->name, s.name);
            if (rc) return rc;
        }
    }
    int wrc = check_window(t, c, &ctx, d);
    if (wrc) return wrc;
    return check_streams(t, c, d);
}

/* With checkpoints, keyed state is split into config.state_key_groups groups, each owned by one task. */
static int check_state(const gale_topology_t *t, gale_diag_t *d)
{
    if (!t->config.checkpoint_interval_ms) return 0;
    for (size_t i = 0; i < t->n_components; i++) {
        const gale_component_t *c = &t->components[i];
        if (c->parallelism > t->config.state_key_groups)
            return fail(d, t, c->line, c,
                        "parallelism %d is above config.state_key_groups (%d), the most tasks "
                        "keyed state can be split over: raise state_key_groups (it cannot change once a checkpoint "
                        "exists)",
                        c->parallelism, t->config.state_key_groups);
    }
    return 0;
}

int gale_topology_resolve(gale_topology_t *t, gale_diag_t *d)
{
    int rc = check_state(t, d);
    for (size_t i = 0; i < t->n_components && !rc; i++) {
        rc = load_plugin(t, &t->components[i], d);
        if (!rc) rc = check_settings(t, &t->components[i], d);
    }
    if (!rc) rc = link_sources(t, d);
    if (!rc) rc = order_components(t, d);
    /* In order, so that a component's sources have declared their streams before it resolves and declares. */
    for (size_t k = 0; k < t->n_components && !rc; k++) {
        gale_component_t *c = &t->components[t->order[k]];
        for (size_t i = 0; i < c->n_inputs && !rc; i++) rc = resolve_input(t, c, &c->inputs[i], d);
        if (!rc) rc = declare(t, t->order[k], d);
    }
    if (rc) return rc;
    gale_topology_number_tasks(t); /* a topology made in code (topology_build.h) was never loaded */
    return 0;
}

/* ---- hot swap --------------------------------------------------------------------------------------------------- */

/* "[a, b]" into buf. */
static void fields_text(const gale_stream_t *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "[");
    for (size_t i = 0; i < s->n_fields; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? ", " : "", s->fields[i]);
    snprintf(buf + strlen(buf), cap - strlen(buf), "]");
}

/* Whether `got` (the new plugin's) has `want`'s (the component's) streams, each with its fields first, the reason
   in `d` when not; *wider tells whether it has more (streams, or fields after a stream's own). */
static int has_streams(const gale_component_t *want, const gale_component_t *got, const char *path, bool *wider,
                       gale_diag_t *d)
{
    char a[300], b[300];
    *wider = got->n_streams > want->n_streams;
    for (size_t i = 0; i < want->n_streams; i++) {
        const gale_stream_t *w = &want->streams[i];
        int k = gale_component_stream(got, w->name);
        if (k < 0)
            return gale__diag(d, GALE_ETOPOLOGY, "plugin %s does not declare stream '%s', which %s '%s' has", path,
                              w->name, kind_name(want->kind), want->name);
        const gale_stream_t *g = &got->streams[k];
        bool keeps = g->n_fields >= w->n_fields && g->direct == w->direct;
        for (size_t f = 0; keeps && f < w->n_fields; f++) keeps = !strcmp(g->fields[f], w->fields[f]);
        if (!keeps) {
            fields_text(w, a, sizeof a), fields_text(g, b, sizeof b);
            return gale__diag(d, GALE_ETOPOLOGY,
                              "plugin %s declares stream '%s' with fields %s%s; %s '%s' has %s%s: a swap keeps each "
                              "stream and its fields in their order, and may only add fields after them or add "
                              "streams (submit the topology again to change them)",
                              path, w->name, b, g->direct ? " (direct)" : "", kind_name(want->kind), want->name, a,
                              w->direct ? " (direct)" : "");
        }
        *wider = *wider || g->n_fields > w->n_fields;
    }
    return 0;
}

int gale_topology_check_swap(const gale_topology_t *topo, int component, const gale_plugin_handle_t *h,
                             gale_stream_t **streams, size_t *n_streams, gale_diag_t *d)
{
    if (streams) *streams = NULL, *n_streams = 0;
    if (component < 0 || (size_t)component >= topo->n_components)
        return gale__diag(d, GALE_EINVAL, "no component %d", component);
    const gale_component_t *c = &topo->components[component];
    const char *path = h->path ? h->path : h->desc->name;
    if (h->desc->kind != c->kind)
        return gale__diag(d, GALE_ETOPOLOGY, "plugin %s is a %s plugin, and '%s' is a %s", path,
                          kind_name(h->desc->kind), c->name, kind_name(c->kind));
    /* The new plugin's declare runs against a copy of the topology whose component has it and no streams yet. */
    gale_topology_t copy = *topo;
    gale_component_t *cs = malloc(topo->n_components * sizeof *cs);
    if (!cs) return gale__diag(d, GALE_ENOMEM, "out of memory");
    memcpy(cs, topo->components, topo->n_components * sizeof *cs);
    copy.components = cs;
    gale_component_t *n = &cs[component];
    n->plugin = (gale_plugin_handle_t *)h;
    n->streams = NULL, n->n_streams = 0;
    int rc = check_settings(&copy, n, d);
    if (!rc) rc = declare(&copy, component, d);
    bool wider = false;
    if (!rc) rc = has_streams(c, n, path, &wider, d);
    if (!rc && wider && streams) {
        *streams = n->streams, *n_streams = n->n_streams; /* the caller's now */
        n->streams = NULL, n->n_streams = 0;
    }
    gale_streams_free(n->streams, n->n_streams);
    free(cs);
    return rc;
}
