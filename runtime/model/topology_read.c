/*
 * topology_read.c: libconfig file -> gale_topology_t (the model is topology.c's).
 *
 * The file:
 *   name = "wordcount";                         required, a string
 *   config = { ... };                           optional; keys in topology.c's table, unknown keys are errors;
 *                                               Storm's names as nested groups: topology = { workers = 2; };
 *   spouts = ( { ... }, ... );                  at least one spout
 *   bolts  = ( { ... }, ... );                  optional
 * A component: name (required, unique, [A-Za-z0-9_.-]+, not starting with "__"), plugin (required),
 * parallelism (int >= 1, default 1), settings (a group of anything), and for spouts replay (bool), for bolts
 * inputs (required): a list of { from (required), stream ("default"), grouping ("shuffle"), fields (list) }, and
 * tick_s (a number of seconds; config.tick_s when not given).
 *
 * Errors read "FILE:LINE: what". Overrides (--set) are applied to the libconfig tree before the model is built, so
 * they are checked exactly as the file's own values are; an error about a value an override gave reads
 * "--set C.K=V: what" instead, since the file has no line for it (each such setting carries its assignment in
 * libconfig's hook pointer). `--set topology.workers=2` (a Storm name of the table) sets config.workers.
 *
 * Every file is checked before libconfig opens it: a regular file of at most TOPOLOGY_MAX_BYTES. libconfig 1.5
 * (Debian 12) opens @include files itself and has no include hook (config_set_include_func is 1.7), so the files
 * named by @include lines are found by scanning the text first, and checked the same way.
 */
#include "topology.h"
#include "topology_read.h"
#include "validate.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the parse context ---------------------------------------------------------------------------------------- */

typedef struct parse {
    const char *file;
    gale_diag_t *diag;
} parse_t;

/* The root setting has no line of its own: errors about the whole file point at its first line. */
static int line_of(const config_setting_t *s)
{
    int line = s ? (int)config_setting_source_line(s) : 0;
    return line > 0 ? line : 1;
}

static int fail_at(parse_t *p, const config_setting_t *s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(parse_t *p, const config_setting_t *s, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *override = s ? config_setting_get_hook(s) : NULL;
    if (override) return gale__diag(p->diag, GALE_ETOPOLOGY, "--set %s: %s", override, msg);
    return gale__diag(p->diag, GALE_ETOPOLOGY, "%s:%d: %s", p->file, line_of(s), msg);
}

static const char *type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}

static bool is_int(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static bool is_seq(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY;
}

static int convert(const config_setting_t *s, gale_value_t *out);

/* Where a value was given, for errors that name two places: "FILE:LINE", or "--set A=V". */
static void where(const parse_t *p, const config_setting_t *s, char *buf, size_t cap)
{
    const char *override = config_setting_get_hook(s);
    if (override) snprintf(buf, cap, "--set %s", override);
    else snprintf(buf, cap, "%s:%d", p->file, line_of(s));
}

/* The config keys given so far, by row of the table, with the name each was given as: gale's or Storm's. */
typedef struct given {
    const config_setting_t *s;
    char name[128];
} given_t;

/* Sets one config key through the table, with the reader's wording: the name as written (`written`, a Storm name
   being its path under config), and the libconfig type in "(got ...)". A key already given under its other name
   is an error that names both places. */
static int set_config_key(parse_t *p, gale_config_t *cfg, const gale__config_key_t *k, const char *written,
                          const config_setting_t *s, given_t *given)
{
    given_t *g = &given[k - gale__config_key_at(0)];
    if (g->s) {
        char first[600];
        where(p, g->s, first, sizeof first);
        return fail_at(p, s, "config.%s is given twice, as '%s' here and as '%s' at %s (Storm's name and gale's): "
                             "keep one", k->name, written, g->name, first);
    }
    g->s = s;
    snprintf(g->name, sizeof g->name, "%s", written);
    gale_value_t v;
    char why[300];
    if (convert(s, &v)) return gale__diag(p->diag, GALE_ENOMEM, "out of memory");
    int rc = gale__config_set(cfg, k, &v, type_name(config_setting_type(s)), why, sizeof why);
    gale__value_free(&v);
    if (rc == GALE_ENOMEM) return gale__diag(p->diag, rc, "out of memory");
    return rc ? fail_at(p, s, "config.%s %s", written, why) : 0;
}

/* `config = { topology = { max = { spout = { pending = 500; }; }; }; }`: Storm's dotted names, which libconfig
   reads as nested groups (its names cannot hold dots), each leaf's path looked up in the table's Storm column. */
static int parse_storm_names(parse_t *p, const config_setting_t *s, const char *path, gale_config_t *cfg,
                             given_t *given)
{
    if (config_setting_type(s) == CONFIG_TYPE_GROUP && !gale__config_storm_key(path)) {
        for (int i = 0; i < config_setting_length(s); i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", path, config_setting_name(e));
            int rc = parse_storm_names(p, e, sub, cfg, given);
            if (rc) return rc;
        }
        return 0;
    }
    const gale__config_key_t *k = gale__config_storm_key(path);
    if (!k) {
        char known[512] = "";
        for (size_t j = 0; (k = gale__config_key_at(j)); j++)
            if (k->storm) snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", *known ? ", " : "", k->storm);
        return fail_at(p, s, "unknown config key '%s' (Storm names known: %s)", path, known);
    }
    return set_config_key(p, cfg, k, path, s, given);
}

static int parse_config(parse_t *p, const config_setting_t *group, gale_config_t *cfg)
{
    gale_config_defaults(cfg);
    if (!group) return 0;
    if (config_setting_type(group) != CONFIG_TYPE_GROUP) return fail_at(p, group, "config must be a group { ... }");
    size_t n_keys = 0;
    while (gale__config_key_at(n_keys)) n_keys++;
    given_t *given = calloc(n_keys, sizeof *given);
    if (!given) return gale__diag(p->diag, GALE_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < config_setting_length(group) && !rc; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        if (!strcmp(name, "topology")) {
            rc = parse_storm_names(p, s, name, cfg, given);
        } else {
            const gale__config_key_t *k = gale__config_key(name);
            if (!k) {
                char known[512] = "";
                const gale__config_key_t *key;
                for (size_t j = 0; (key = gale__config_key_at(j)); j++)
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", j ? ", " : "", key->name);
                rc = fail_at(p, s, "unknown config key '%s' (known: %s, and Storm's names under topology)", name, known);
            } else {
                rc = set_config_key(p, cfg, k, name, s, given);
            }
        }
    }
    const config_setting_t *users_at = given[gale__config_key("users") - gale__config_key_at(0)].s;
    for (const char *u = cfg->users; !rc && u && *u; u++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-,", *u) ||
            (*u == ',' && (u == cfg->users || u[1] == ',' || !u[1])))
            rc = fail_at(p, users_at, "config.users: certificate names separated by commas, as \"alice,bob\"");
    /* The key's file is read where the topology runs (a supervisor's host, perhaps not this one), not here. */
    if (!rc && cfg->journal_key && !cfg->journal)
        rc = fail_at(p, given[gale__config_key("journal_key") - gale__config_key_at(0)].s,
                     "config.journal_key seals the journal's records, and there is no config.journal");
    free(given);
    return rc;
}

/* ---- settings: libconfig values -> owned gale_value_t trees --------------------------------------------------- */

static int owned_str(gale_value_t *out, const char *s)
{
    char *copy = strdup(s);
    if (!copy) return GALE_ENOMEM;
    *out = gale_strn(copy, strlen(copy));
    return 0;
}

static int convert(const config_setting_t *s, gale_value_t *out)
{
    *out = (gale_value_t){0};
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: *out = gale_int(config_setting_get_int64(s)); return 0;
    case CONFIG_TYPE_FLOAT: *out = gale_double(config_setting_get_float(s)); return 0;
    case CONFIG_TYPE_BOOL: *out = gale_bool(config_setting_get_bool(s)); return 0;
    case CONFIG_TYPE_STRING: return owned_str(out, config_setting_get_string(s));
    default: break;
    }
    bool group = config_setting_type(s) == CONFIG_TYPE_GROUP;
    unsigned n = (unsigned)config_setting_length(s);
    gale_value_t *items = calloc(group ? 2 * (size_t)n + 1 : (size_t)n + 1, sizeof *items);
    if (!items) return GALE_ENOMEM;
    *out = (gale_value_t){.type = group ? GALE_MAP : GALE_ARRAY, .n = n, .c = {items, NULL, 0}};
    for (unsigned i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, i);
        int rc = group ? owned_str(&items[2 * i], config_setting_name(e)) : 0;
        if (!rc) rc = convert(e, &items[group ? 2 * i + 1 : i]);
        if (rc) {
            gale__value_free(out);
            return rc;
        }
    }
    return 0;
}

static int parse_settings(parse_t *p, gale_component_t *c, const config_setting_t *group)
{
    if (!group) return 0;
    if (config_setting_type(group) != CONFIG_TYPE_GROUP)
        return fail_at(p, group, "%s '%s': settings must be a group { ... }", c->kind == GALE_SPOUT ? "spout" : "bolt", c->name);
    size_t n = (size_t)config_setting_length(group);
    c->settings = calloc(n ? n : 1, sizeof *c->settings);
    if (!c->settings) return GALE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        gale_setting_t *st = &c->settings[c->n_settings];
        const char *override = config_setting_get_hook(s);
        st->key = strdup(config_setting_name(s));
        st->line = line_of(s);
        st->override = override ? strdup(override) : NULL;
        if (!st->key || (override && !st->override) || convert(s, &st->value)) {
            free(st->key);
            free(st->override);
            return GALE_ENOMEM;
        }
        c->n_settings++;
    }
    return 0;
}

/* ---- components ------------------------------------------------------------------------------------------------ */

static const char *kind_name(gale_kind_t k) { return k == GALE_SPOUT ? "spout" : "bolt"; }

/* A string member of a group: 0 with *out set (NULL when absent and not required), or an error. */
static int member_string(parse_t *p, const config_setting_t *g, const char *key, bool required, const char *what,
                         const char **out)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    *out = NULL;
    if (!s) return required ? fail_at(p, g, "%s has no '%s'", what, key) : 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(p, s, "%s: '%s' must be a string (got %s)", what, key, type_name(config_setting_type(s)));
    *out = config_setting_get_string(s);
    return 0;
}

static int check_keys(parse_t *p, const config_setting_t *g, const char *const *allowed, const char *what)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, name);
        if (!ok) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
            return fail_at(p, s, "%s: unknown key '%s' (known: %s)", what, name, list);
        }
    }
    return 0;
}

static int parse_fields(parse_t *p, gale_input_t *in, const config_setting_t *s, const char *what)
{
    if (!is_seq(s)) return fail_at(p, s, "%s: fields must be a list of strings, e.g. [ \"word\" ]", what);
    size_t n = (size_t)config_setting_length(s);
    in->fields = calloc(n ? n : 1, sizeof *in->fields);
    if (!in->fields) return GALE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) return fail_at(p, e, "%s: fields must be strings", what);
        if (!(in->fields[in->n_fields] = strdup(config_setting_get_string(e)))) return GALE_ENOMEM;
        in->n_fields++;
    }
    return 0;
}

static int parse_input(parse_t *p, const gale_component_t *c, const config_setting_t *g, gale_input_t *in)
{
    static const char *const KEYS[] = {"from", "stream", "grouping", "fields", NULL};
    char what[160];
    snprintf(what, sizeof what, "bolt '%s': input", c->name);
    in->line = line_of(g);
    in->from_index = in->stream_index = -1;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) return fail_at(p, g, "%s must be a group { from = ...; }", what);
    int rc = check_keys(p, g, KEYS, what);
    const char *from, *stream, *grouping;
    if (!rc) rc = member_string(p, g, "from", true, what, &from);
    if (!rc) rc = member_string(p, g, "stream", false, what, &stream);
    if (!rc) rc = member_string(p, g, "grouping", false, what, &grouping);
    if (rc) return rc;
    in->from = strdup(from);
    in->stream = strdup(stream ? stream : "default");
    if (!in->from || !in->stream) return GALE_ENOMEM;
    if (grouping && gale_grouping_parse(grouping, &in->grouping)) {
        const config_setting_t *gs = config_setting_get_member(g, "grouping");
        return fail_at(p, gs, "bolt '%s': unknown grouping '%s' (known: shuffle, fields, partial_key, all, global, "
                              "none, direct, local_or_shuffle)", c->name, grouping);
    }
    const config_setting_t *fs = config_setting_get_member(g, "fields");
    bool keyed = in->grouping == GALE_GROUPING_FIELDS || in->grouping == GALE_GROUPING_PARTIAL_KEY;
    if (fs && !keyed)
        return fail_at(p, fs, "bolt '%s': fields are only for the fields and partial_key groupings, not %s", c->name,
                       gale_grouping_name(in->grouping));
    if (fs && (rc = parse_fields(p, in, fs, what))) return rc;
    if (keyed && !in->n_fields)
        return fail_at(p, g, "bolt '%s': the %s grouping needs fields = [ ... ] to group on", c->name,
                       gale_grouping_name(in->grouping));
    return 0;
}

static int parse_inputs(parse_t *p, gale_component_t *c, const config_setting_t *block)
{
    const config_setting_t *list = config_setting_get_member(block, "inputs");
    if (!list) return fail_at(p, block, "bolt '%s' has no inputs: give inputs = ( { from = \"...\"; } );", c->name);
    if (!is_seq(list) || config_setting_length(list) < 1)
        return fail_at(p, list, "bolt '%s': inputs must be a non-empty list ( { from = ...; } )", c->name);
    size_t n = (size_t)config_setting_length(list);
    c->inputs = calloc(n, sizeof *c->inputs);
    if (!c->inputs) return GALE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = parse_input(p, c, config_setting_get_elem(list, (unsigned)i), &c->inputs[i]);
        c->n_inputs = i + 1;
        if (rc) return rc;
    }
    return 0;
}

/* A non-negative integer member of the window group, in range: 0 with *out (unchanged when absent), or an error. */
static int window_number(parse_t *p, const config_setting_t *g, const char *key, const char *what, long long min,
                         uint64_t *out, bool *given)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    *given = s != NULL;
    if (!s) return 0;
    if (!is_int(s))
        return fail_at(p, s, "%s: window.%s must be an integer (got %s)", what, key, type_name(config_setting_type(s)));
    long long v = config_setting_get_int64(s);
    if (v < min || v > 1000000000000LL)
        return fail_at(p, s, "%s: window.%s must be from %lld to 10^12 (got %lld)", what, key, min, v);
    *out = (uint64_t)v;
    return 0;
}

/* `window = { type = ...; ... }`: the combinations that make a window, each other one refused naming its key. */
static int parse_window(parse_t *p, gale_component_t *c, const config_setting_t *g, const char *what)
{
    static const char *const KEYS[] = {"type",        "length_ms",    "length_count",    "slide_ms",
                                       "slide_count", "gap_ms",       "timestamp_field", "lag_ms",
                                       "late_stream", "watermark_ms", "max_mb",          NULL};
    gale_window_spec_t *w = &c->window;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return fail_at(p, g, "%s: window must be a group { type = \"tumbling\"; length_ms = ...; }", what);
    w->line = line_of(g);
    int rc = check_keys(p, g, KEYS, what);
    const char *type, *ts, *late;
    if (!rc) rc = member_string(p, g, "type", true, "its window", &type);
    if (rc) return rc;
    if (!strcmp(type, "tumbling")) w->type = GALE_WINDOW_TUMBLING;
    else if (!strcmp(type, "sliding")) w->type = GALE_WINDOW_SLIDING;
    else if (!strcmp(type, "session")) w->type = GALE_WINDOW_SESSION;
    else
        return fail_at(p, config_setting_get_member(g, "type"),
                       "%s: window.type must be \"tumbling\", \"sliding\" "
                       "or \"session\" (got \"%s\")",
                       what, type);
    uint64_t len_ms = 0, len_n = 0, slide_ms = 0, slide_n = 0;
    bool has_len_ms, has_len_n, has_slide_ms, has_slide_n, has_gap, has_lag, has_wm, has_max;
    w->watermark_ms = GALE_WINDOW_WATERMARK_MS;
    w->max_mb = GALE_WINDOW_MAX_MB;
    if ((rc = window_number(p, g, "length_ms", what, 1, &len_ms, &has_len_ms)) ||
        (rc = window_number(p, g, "length_count", what, 1, &len_n, &has_len_n)) ||
        (rc = window_number(p, g, "slide_ms", what, 1, &slide_ms, &has_slide_ms)) ||
        (rc = window_number(p, g, "slide_count", what, 1, &slide_n, &has_slide_n)) ||
        (rc = window_number(p, g, "gap_ms", what, 1, &w->gap_ms, &has_gap)) ||
        (rc = window_number(p, g, "lag_ms", what, 0, &w->lag_ms, &has_lag)) ||
        (rc = window_number(p, g, "watermark_ms", what, 1, &w->watermark_ms, &has_wm)) ||
        (rc = window_number(p, g, "max_mb", what, 1, &w->max_mb, &has_max)) ||
        (rc = member_string(p, g, "timestamp_field", false, what, &ts)) ||
        (rc = member_string(p, g, "late_stream", false, what, &late)))
        return rc;
    const char *tname = gale_window_type_name(w->type);
#define REFUSE(key, why) return fail_at(p, config_setting_get_member(g, key), "%s: %s window: %s", what, tname, why)
    if (w->type == GALE_WINDOW_SESSION) {
        if (!has_gap) return fail_at(p, g, "%s: a session window needs gap_ms (the silence that ends a session)", what);
        if (has_len_ms) REFUSE("length_ms", "a session has no length, only gap_ms");
        if (has_len_n) REFUSE("length_count", "a session has no length, only gap_ms");
        if (has_slide_ms) REFUSE("slide_ms", "a session does not slide");
        if (has_slide_n) REFUSE("slide_count", "a session does not slide");
    } else {
        if (has_gap) REFUSE("gap_ms", "gap_ms is for session windows");
        if (has_len_ms == has_len_n)
            return fail_at(p, g, "%s: a %s window needs one of length_ms (time) and length_count (tuples)%s", what,
                           tname, has_len_ms ? ", not both" : "");
        w->by_count = has_len_n;
        w->length = has_len_n ? len_n : len_ms;
        if (w->type == GALE_WINDOW_TUMBLING) {
            if (has_slide_ms) REFUSE("slide_ms", "a tumbling window slides by its length: use a sliding window");
            if (has_slide_n) REFUSE("slide_count", "a tumbling window slides by its length: use a sliding window");
            w->slide = w->length;
        } else {
            if (!has_slide_ms && !has_slide_n)
                return fail_at(p, g, "%s: a sliding window needs %s", what, w->by_count ? "slide_count" : "slide_ms");
            if (w->by_count && has_slide_ms) REFUSE("slide_ms", "a window of length_count slides by slide_count");
            if (!w->by_count && has_slide_n) REFUSE("slide_count", "a window of length_ms slides by slide_ms");
            w->slide = w->by_count ? slide_n : slide_ms;
            if (w->slide > w->length)
                REFUSE(w->by_count ? "slide_count" : "slide_ms", "the slide must not be longer than the length");
        }
    }
    if (ts && w->by_count)
        REFUSE("timestamp_field", "a window of count has no time: timestamp_field is for windows of time");
    if (!ts && has_lag) REFUSE("lag_ms", "lag_ms is for event time: give timestamp_field");
    if (!ts && has_wm) REFUSE("watermark_ms", "watermarks are for event time: give timestamp_field");
    if (w->max_mb > 1048576) REFUSE("max_mb", "max_mb must be at most 1048576 (1 TiB)");
    if (!ts && late) REFUSE("late_stream", "late tuples are those of event time: give timestamp_field");
#undef REFUSE
    if (ts && !(w->timestamp_field = strdup(ts))) return GALE_ENOMEM;
    if (late && !(w->late_stream = strdup(late))) return GALE_ENOMEM;
    return 0;
}

static int parse_component(parse_t *p, const config_setting_t *block, gale_kind_t kind, gale_component_t *c)
{
    static const char *const SPOUT_KEYS[] = {"name", "plugin", "parallelism", "settings", "replay", NULL};
    static const char *const BOLT_KEYS[] = {"name",   "plugin", "parallelism", "settings",
                                            "inputs", "tick_s", "window",      NULL};
    c->kind = kind;
    c->line = line_of(block);
    c->parallelism = 1;
    c->tick_s = -1; /* not given: config.tick_s, once the whole is read */
    if (config_setting_type(block) != CONFIG_TYPE_GROUP)
        return fail_at(p, block, "each %s must be a group { name = ...; plugin = ...; }", kind_name(kind));
    const char *name, *plugin;
    char what[128];
    snprintf(what, sizeof what, "a %s", kind_name(kind));
    int rc = member_string(p, block, "name", true, what, &name);
    if (rc) return rc;
    if (!gale__name_ok(name))
        return fail_at(p, config_setting_get_member(block, "name"),
                       "%s name '%s' must be letters, digits, '_', '-' or '.', and not start with '__'",
                       kind_name(kind), name);
    if (!(c->name = strdup(name))) return GALE_ENOMEM;
    snprintf(what, sizeof what, "%s '%s'", kind_name(kind), name);
    if ((rc = check_keys(p, block, kind == GALE_SPOUT ? SPOUT_KEYS : BOLT_KEYS, what))) return rc;
    if ((rc = member_string(p, block, "plugin", true, what, &plugin))) return rc;
    if (!(c->plugin_name = strdup(plugin))) return GALE_ENOMEM;
    c->plugin_line = line_of(config_setting_get_member(block, "plugin"));
    const config_setting_t *par = config_setting_get_member(block, "parallelism");
    if (par) {
        if (!is_int(par)) return fail_at(p, par, "%s: parallelism must be an integer", what);
        long long v = config_setting_get_int64(par);
        if (v < 1 || v > 65535) return fail_at(p, par, "%s: parallelism must be >= 1 (got %lld)", what, v);
        c->parallelism = (int)v;
    }
    const config_setting_t *replay = config_setting_get_member(block, "replay");
    if (replay) {
        if (config_setting_type(replay) != CONFIG_TYPE_BOOL) return fail_at(p, replay, "%s: replay must be true or false", what);
        c->replay = config_setting_get_bool(replay);
    }
    const config_setting_t *tick = config_setting_get_member(block, "tick_s");
    if (tick) {
        int t = config_setting_type(tick);
        double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(tick) : (double)config_setting_get_int64(tick);
        if (t != CONFIG_TYPE_FLOAT && !is_int(tick)) return fail_at(p, tick, "%s: tick_s must be a number of seconds", what);
        const gale__config_key_t *k = gale__config_key("tick_s"); /* the topology-wide key's range */
        if (!(v >= (double)k->min && v <= (double)k->max))
            return fail_at(p, tick, "%s: tick_s must be from %ld to %ld (got %g)", what, k->min, k->max, v);
        c->tick_s = v;
    }
    if ((rc = parse_settings(p, c, config_setting_get_member(block, "settings")))) return rc;
    const config_setting_t *window = config_setting_get_member(block, "window");
    if (window && (rc = parse_window(p, c, window, what))) return rc;
    return kind == GALE_BOLT ? parse_inputs(p, c, block) : 0;
}

static int parse_components(parse_t *p, config_t *cfg, gale_topology_t *t)
{
    const config_setting_t *spouts = config_lookup(cfg, "spouts"), *bolts = config_lookup(cfg, "bolts");
    const config_setting_t *root = config_root_setting(cfg);
    if (!spouts) return fail_at(p, root, "no spouts: a topology needs spouts = ( { name = ...; plugin = ...; } );");
    if (!is_seq(spouts) || config_setting_length(spouts) < 1) return fail_at(p, spouts, "spouts must be a non-empty list ( { ... } )");
    if (bolts && !is_seq(bolts)) return fail_at(p, bolts, "bolts must be a list ( { ... } )");
    size_t ns = (size_t)config_setting_length(spouts), nb = bolts ? (size_t)config_setting_length(bolts) : 0;
    t->components = calloc(ns + nb, sizeof *t->components);
    if (!t->components) return GALE_ENOMEM;
    for (size_t i = 0; i < ns + nb; i++) {
        const config_setting_t *block = i < ns ? config_setting_get_elem(spouts, (unsigned)i)
                                               : config_setting_get_elem(bolts, (unsigned)(i - ns));
        int rc = parse_component(p, block, i < ns ? GALE_SPOUT : GALE_BOLT, &t->components[i]);
        t->n_components = i + 1;
        if (rc) return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->components[j].name, t->components[i].name))
                return fail_at(p, block, "duplicate component name '%s' (also at line %d)", t->components[i].name,
                               t->components[j].line);
    }
    return 0;
}

/* ---- overrides: --set COMPONENT.KEY=VALUE / config.KEY=VALUE ------------------------------------------------- */

static config_setting_t *find_block(config_t *cfg, const char *name)
{
    const char *lists[] = {"spouts", "bolts"};
    for (int l = 0; l < 2; l++) {
        config_setting_t *list = config_lookup(cfg, lists[l]);
        for (int i = 0; list && i < config_setting_length(list); i++) {
            config_setting_t *b = config_setting_get_elem(list, (unsigned)i);
            const char *n;
            if (config_setting_type(b) == CONFIG_TYPE_GROUP && config_setting_lookup_string(b, "name", &n) && !strcmp(n, name))
                return b;
        }
    }
    return NULL;
}

/* Writes VALUE into `parent`.key, replacing what is there, with the type the text reads as. The new setting's hook
   is `assignment` (borrowed: the override outlives the libconfig tree), for fail_at. */
static config_setting_t *add_setting(config_setting_t *parent, const char *key, int type, const char *assignment)
{
    config_setting_t *s = config_setting_add(parent, key, type);
    if (s) config_setting_set_hook(s, (void *)assignment);
    return s;
}

static int assign(config_setting_t *parent, const char *key, const char *value, const char *assignment)
{
    config_setting_t *old = config_setting_get_member(parent, key);
    if (old) config_setting_remove(parent, key);
    char *end;
    errno = 0;
    long long i = strtoll(value, &end, 0);
    config_setting_t *s;
    if (*value && !*end && !errno) {
        s = add_setting(parent, key, CONFIG_TYPE_INT64, assignment);
        return s && config_setting_set_int64(s, i) ? 0 : GALE_EINVAL;
    }
    double d = strtod(value, &end);
    if (*value && !*end) {
        s = add_setting(parent, key, CONFIG_TYPE_FLOAT, assignment);
        return s && config_setting_set_float(s, d) ? 0 : GALE_EINVAL;
    }
    if (!strcmp(value, "true") || !strcmp(value, "false")) {
        s = add_setting(parent, key, CONFIG_TYPE_BOOL, assignment);
        return s && config_setting_set_bool(s, value[0] == 't') ? 0 : GALE_EINVAL;
    }
    size_t n = strlen(value);
    char *text = strdup(value);
    if (!text) return GALE_ENOMEM;
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
        memmove(text, value + 1, n - 2);
        text[n - 2] = '\0';
    }
    s = add_setting(parent, key, CONFIG_TYPE_STRING, assignment);
    int rc = s && config_setting_set_string(s, text) ? 0 : GALE_EINVAL;
    free(text);
    return rc;
}

/* The part of an assignment before its '=' ("config.workers" of "config.workers=2"), into buf. */
static const char *assigned_name(const char *assignment, char *buf, size_t cap)
{
    const char *eq = strchr(assignment, '=');
    snprintf(buf, cap, "%.*s", eq ? (int)(eq - assignment) : (int)strlen(assignment), assignment);
    return buf;
}

/* `--set config.KEY=V` or `--set STORM.NAME=V` (topology.workers=2): the value goes into the config group under
   gale's name, replacing what the file gave under either name. An earlier --set of the same key under its other
   name is an error naming both. */
static int override_config(parse_t *p, config_t *cfg, const char *key, const char *value, const char *assignment)
{
    config_setting_t *parent = config_lookup(cfg, "config");
    if (!parent) parent = config_setting_add(config_root_setting(cfg), "config", CONFIG_TYPE_GROUP);
    if (!parent || config_setting_type(parent) != CONFIG_TYPE_GROUP)
        return gale__diag(p->diag, GALE_EINVAL, "--set %s: cannot set '%s' there", assignment, key);
    const gale__config_key_t *k = gale__config_key(key);
    if (k) {
        config_setting_t *old = config_setting_get_member(parent, k->name);
        const char *before = old ? config_setting_get_hook(old) : NULL;
        char a[256], b[256];
        if (before && strcmp(assigned_name(before, a, sizeof a), assigned_name(assignment, b, sizeof b)))
            return gale__diag(p->diag, GALE_ETOPOLOGY, "--set %s: config.%s is given twice, as '%s' here and as '%s' "
                              "by --set %s (Storm's name and gale's): keep one", assignment, k->name, b, a, before);
        config_setting_t *storm = k->storm ? config_setting_lookup(parent, k->storm) : NULL;
        if (storm) config_setting_remove(config_setting_parent(storm), config_setting_name(storm));
        key = k->name;
    }
    if (assign(parent, key, value, assignment))
        return gale__diag(p->diag, GALE_EINVAL, "--set %s: cannot set '%s' there", assignment, key);
    return 0;
}

static int apply_override(parse_t *p, config_t *cfg, const char *assignment)
{
    const char *eq = strchr(assignment, '='), *dot = strchr(assignment, '.');
    if (!eq || !dot || dot > eq || dot == assignment || eq == dot + 1)
        return gale__diag(p->diag, GALE_EINVAL, "--set %s: expected COMPONENT.KEY=VALUE, config.KEY=VALUE or a Storm "
                          "name (topology.workers=2)", assignment);
    char target[256], key[256], name[256];
    snprintf(target, sizeof target, "%.*s", (int)(dot - assignment), assignment);
    snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
    /* Storm's names first: a component named "topology" is still reached by its other settings. */
    const gale__config_key_t *storm = gale__config_storm_key(assigned_name(assignment, name, sizeof name));
    if (storm) return override_config(p, cfg, storm->name, eq + 1, assignment);
    if (!strcmp(target, "config")) return override_config(p, cfg, key, eq + 1, assignment);
    config_setting_t *block = find_block(cfg, target);
    if (!block) return gale__diag(p->diag, GALE_ENOENT, "--set %s: no component '%s' in %s", assignment, target, p->file);
    config_setting_t *parent = config_setting_get_member(block, "settings");
    if (!parent) parent = config_setting_add(block, "settings", CONFIG_TYPE_GROUP);
    if (!parent || config_setting_type(parent) != CONFIG_TYPE_GROUP || assign(parent, key, eq + 1, assignment))
        return gale__diag(p->diag, GALE_EINVAL, "--set %s: cannot set '%s' there", assignment, key);
    return 0;
}

/* ---- loading -------------------------------------------------------------------------------------------------- */

/* ---- reading: every file checked before libconfig opens it -------------------------------------------------- */

#define TOPOLOGY_MAX_BYTES (16 << 20) /* far beyond any topology: a bound on what a mistaken path makes us read */
#define INCLUDE_MAX_DEPTH 10          /* libconfig 1.5's own limit; deeper ones it refuses itself */

/* Opens `path` and checks it is a regular file of at most TOPOLOGY_MAX_BYTES, without blocking: O_NONBLOCK keeps
   the open of a FIFO from waiting for a writer. `where` starts the message ("" for the topology file itself,
   "FILE:LINE: @include \"NAME\": " for an included one). Returns the fd (the caller closes it), or a negative
   code with `diag` set. */
static int open_checked(parse_t *p, const char *path, const char *where)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return gale__diag(p->diag, -errno, "%s%s: cannot read: %s", where, path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st)) rc = gale__diag(p->diag, -errno, "%s%s: cannot read: %s", where, path, strerror(errno));
    else if (S_ISDIR(st.st_mode)) rc = gale__diag(p->diag, GALE_EINVAL, "%s%s: is a directory, not a topology file", where, path);
    else if (!S_ISREG(st.st_mode))
        rc = gale__diag(p->diag, GALE_EINVAL, "%s%s: is %s, not a regular file", where, path,
                        S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
    else if (st.st_size > TOPOLOGY_MAX_BYTES)
        rc = gale__diag(p->diag, GALE_EINVAL, "%s%s: is %lld bytes, more than a topology file may have (%d MiB)", where,
                        path, (long long)st.st_size, TOPOLOGY_MAX_BYTES >> 20);
    /* Reads of a regular file do not block anyway; libconfig's stdio must not see EAGAIN on anything else. */
    if (!rc && fcntl(fd, F_SETFL, 0)) rc = gale__diag(p->diag, -errno, "%s%s: %s", where, path, strerror(errno));
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

/* The whole of a checked file, NUL-terminated, in a new buffer the caller frees; NULL with `diag` set. At most
   TOPOLOGY_MAX_BYTES are read: a file that grew after the check is cut there (libconfig then reads it all, and
   this text served only to find @include lines). */
static char *read_all(parse_t *p, int fd, const char *path)
{
    size_t n = 0, cap = 4096;
    char *text = malloc(cap + 1);
    while (text) {
        if (n == cap && cap < TOPOLOGY_MAX_BYTES) {
            size_t bigger = cap * 2 > TOPOLOGY_MAX_BYTES ? TOPOLOGY_MAX_BYTES : cap * 2;
            char *more = realloc(text, bigger + 1);
            if (!more) break; /* n == cap < TOPOLOGY_MAX_BYTES: reported below */
            text = more, cap = bigger;
        }
        if (n == cap) break;
        ssize_t r = read(fd, text + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            gale__diag(p->diag, -errno, "%s: cannot read: %s", path, strerror(errno));
            free(text);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (!text || (n == cap && cap < TOPOLOGY_MAX_BYTES)) {
        free(text);
        gale__diag(p->diag, GALE_ENOMEM, "out of memory");
        return NULL;
    }
    text[n] = '\0';
    return text;
}

static int check_includes(parse_t *p, const config_t *cfg, const char *file, const char *text, int depth);

/* Checks the file an `@include "NAME"` on line `line` of `file` names, then the files it includes in turn. libconfig
   1.5 opens NAME as include_dir/NAME when an include folder is set, else as written (relative to the current
   directory); the same path is checked here. */
static int check_include(parse_t *p, const config_t *cfg, const char *file, int line, const char *name, int depth)
{
    const char *dir = config_get_include_dir(cfg);
    size_t need = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    char *path = malloc(need), where[1200];
    if (!path) return gale__diag(p->diag, GALE_ENOMEM, "out of memory");
    snprintf(path, need, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    snprintf(where, sizeof where, "%s:%d: @include \"%s\": ", file, line, name);
    int fd = open_checked(p, path, where), rc = fd < 0 ? fd : 0;
    char *text = fd < 0 ? NULL : read_all(p, fd, path);
    if (fd >= 0) close(fd);
    if (!rc && !text) rc = GALE_EIO;
    if (!rc) rc = check_includes(p, cfg, path, text, depth + 1);
    free(text);
    free(path);
    return rc;
}

/* Finds the @include lines of `text` as libconfig's scanner does: at the start of a line (after blanks), outside
   comments and strings; the name is what is between the quotes, with \\ and \" unescaped. */
static int check_includes(parse_t *p, const config_t *cfg, const char *file, const char *text, int depth)
{
    if (depth > INCLUDE_MAX_DEPTH) return 0; /* libconfig says "include file nesting too deep" itself */
    enum { CODE, STRING, BLOCK_COMMENT, LINE_COMMENT } state = CODE;
    int line = 1;
    bool line_start = true;
    for (const char *c = text; *c; c++) {
        if (state == CODE && line_start) {
            const char *q = c;
            while (*q == ' ' || *q == '\t') q++;
            if (!strncmp(q, "@include", 8) && (q[8] == ' ' || q[8] == '\t')) {
                q += 8;
                while (*q == ' ' || *q == '\t') q++;
                if (*q == '"') {
                    char name[1024];
                    size_t n = 0;
                    for (q++; *q && *q != '"' && *q != '\n'; q++) {
                        if (*q == '\\' && (q[1] == '\\' || q[1] == '"')) q++;
                        if (n < sizeof name - 1) name[n++] = *q;
                    }
                    name[n] = '\0';
                    if (*q == '"') {
                        int rc = check_include(p, cfg, file, line, name, depth);
                        if (rc) return rc;
                    }
                    c = *q == '"' ? q : q - 1; /* the end of the line is counted by the next turn */
                    line_start = false;
                    continue;
                }
            }
        }
        line_start = false;
        if (*c == '\n') {
            line++;
            line_start = true;
            if (state == LINE_COMMENT) state = CODE;
            continue;
        }
        switch (state) {
        case CODE:
            if (*c == '"') state = STRING;
            else if (*c == '#' || (c[0] == '/' && c[1] == '/')) state = LINE_COMMENT;
            else if (c[0] == '/' && c[1] == '*') state = BLOCK_COMMENT, c++;
            break;
        case STRING:
            if (*c == '\\' && c[1] && c[1] != '\n') c++;
            else if (*c == '"') state = CODE;
            break;
        case BLOCK_COMMENT:
            if (c[0] == '*' && c[1] == '/') state = CODE, c++;
            break;
        case LINE_COMMENT: break;
        }
    }
    return 0;
}

static int read_file(parse_t *p, config_t *cfg)
{
    int fd = open_checked(p, p->file, "");
    if (fd < 0) return fd;
    char *text = read_all(p, fd, p->file);
    int rc = text ? check_includes(p, cfg, p->file, text, 1) : GALE_EIO;
    free(text);
    FILE *f = NULL;
    if (!rc && (lseek(fd, 0, SEEK_SET) != 0 || !(f = fdopen(fd, "r"))))
        rc = gale__diag(p->diag, -errno, "%s: cannot read: %s", p->file, strerror(errno));
    if (rc) {
        close(fd);
        return rc;
    }
    int ok = config_read(cfg, f);
    fclose(f);
    if (!ok) {
        /* An error in an included file is that file's: libconfig names it. */
        const char *where = config_error_file(cfg) ? config_error_file(cfg) : p->file;
        return gale__diag(p->diag, GALE_ESYNTAX, "%s:%d: %s (check the line above it too: a missing ';' or '}')",
                          where, config_error_line(cfg), config_error_text(cfg) ? config_error_text(cfg) : "syntax error");
    }
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int build(parse_t *p, config_t *cfg, gale_topology_t *t)
{
    static const char *const TOP_KEYS[] = {"name", "config", "spouts", "bolts", NULL};
    int rc = check_keys(p, config_root_setting(cfg), TOP_KEYS, "topology");
    if (rc) return rc;
    const char *name;
    if ((rc = member_string(p, config_root_setting(cfg), "name", true, "the topology", &name))) return rc;
    if (!(t->name = strdup(name))) return GALE_ENOMEM;
    if ((rc = parse_config(p, config_lookup(cfg, "config"), &t->config))) return rc;
    if ((rc = parse_components(p, cfg, t))) return rc;
    gale__topology_inherit_ticks(t);
    return 0;
}

int gale_topology_load(const char *path, const gale_override_t *overrides, size_t n_overrides,
                       gale_topology_t **out, gale_diag_t *diag)
{
    parse_t p = {.file = path, .diag = diag};
    config_t cfg;
    config_init(&cfg);
    int rc = read_file(&p, &cfg);
    for (size_t i = 0; !rc && i < n_overrides; i++) rc = apply_override(&p, &cfg, overrides[i].assignment);
    gale_topology_t *t = rc ? NULL : calloc(1, sizeof *t);
    if (!rc && !t) rc = gale__diag(diag, GALE_ENOMEM, "out of memory");
    if (!rc) {
        t->file = strdup(path);
        t->dir = dir_of(path);
        rc = !t->file || !t->dir ? GALE_ENOMEM : build(&p, &cfg, t);
    }
    if (!rc) gale_topology_number_tasks(t);
    config_destroy(&cfg);
    if (rc) {
        gale_topology_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int gale_topology_open(const char *path, const gale_override_t *overrides, size_t n_overrides,
                       gale_topology_t **out, gale_diag_t *diag)
{
    gale_topology_t *t;
    int rc = gale_topology_load(path, overrides, n_overrides, &t, diag);
    if (rc) return rc;
    rc = gale_topology_resolve(t, diag);
    if (rc) {
        gale_topology_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

