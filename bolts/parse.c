/*
 * parse: turns a text field (a CSV line, a JSON object) into named fields: where raw records become features.
 *
 *   format     ("csv")           "csv" (RFC 4180 within a line: a value in double quotes may hold the delimiter,
 *                                and "" for a quote) or "json" (one object per text)
 *   fields     (list, required)  the output fields. CSV: the columns, in order ("_" skips a column); JSON: the
 *                                keys, a dotted path ("card.number") reaching into nested objects
 *   field      (string)          the input field holding the text, a string or bytes (default: the first)
 *   types      (group)           a type per output field, by name: "auto" (the default: in CSV an integer, else a
 *                                decimal number, else the text, and an empty column is nil; in JSON the value as
 *                                it is, but an object or an array), "string", "int", "double", "bool", "json"
 *                                (JSON: the value whole, objects and arrays too)
 *   delimiter  (",")             CSV: the one character between columns ("\t": a tab)
 *   header     (false)           CSV: a line whose columns are exactly the field names is a header: acked and
 *                                not emitted (each task sees its own copy of it, if any)
 *   missing    ("nil")           an absent JSON key, or a CSV line with fewer columns than fields: "nil" (the
 *                                field is nil) or "fail"
 *   keep       (list)            input fields emitted before the parsed ones, unchanged (an offset, a key)
 *
 * Output: the `keep` fields, then `fields` without the "_" columns, anchored to the input, which is then acked.
 * A text that does not parse, a CSV line with more columns than fields, or a value not of its field's type, is
 * failed with its cause (gale_fail_with), such as "column 3 (amount): 'ab' is not a number" or "not JSON: byte 9:
 * expected ':'", so that the journal record of its tree says why; counted in the metric lines_failed. Nothing is
 * allocated per tuple: strings are views into the input, a quoted column's text is undone into a buffer of the
 * task's, and JSON is read with the host's parser (gale_from_json) into its buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "gale.h"
#include "parse_text.h"

#define MAX_FIELDS 256
#define MAX_DEPTH 8 /* segments of a dotted JSON path */

typedef struct out_field {
    char *name;
    parse_type_t type;
    bool skip;             /* CSV: a "_" column */
    char *path[MAX_DEPTH]; /* JSON: the path's segments */
    size_t depth;
} out_field_t;

typedef struct state {
    bool json, header, missing_fails;
    char delim;
    out_field_t *out;
    size_t n_out;     /* columns or keys */
    size_t n_emitted; /* of them, not skipped */
    char **keep;
    size_t n_keep;
    const char *field; /* NULL: the input's first value */
    /* Where `field` and the `keep` fields are in the last input stream seen (field names are one array per stream
       for the whole run: comparing the pointer is enough to know it changed). */
    fields_seen_t seen;
    size_t field_at, *keep_at;
    gale_value_t *values; /* keep + emitted */
    csv_col_t *cols;
    char *scratch;
    size_t scratch_cap;
    gale_metric_t *failed_m;
} state_t;

static void free_state(state_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_out; i++) {
        free(s->out[i].name);
        for (size_t d = 0; d < s->out[i].depth; d++) free(s->out[i].path[d]);
    }
    for (size_t i = 0; i < s->n_keep; i++) free(s->keep[i]);
    free(s->out), free(s->keep), free(s->keep_at), free(s->values), free(s->cols), free(s->scratch), free(s);
}

/* Splits a dotted path into f's segments. */
static int split_path(gale_ctx_t *ctx, out_field_t *f)
{
    const char *p = f->name;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!len || f->depth == MAX_DEPTH) {
            gale_error(ctx, "settings.fields: '%s' is not a path of 1 to %d non-empty keys", f->name, MAX_DEPTH);
            return GALE_EINVAL;
        }
        if (!(f->path[f->depth++] = strndup(p, len))) return GALE_ENOMEM;
        if (!dot) return 0;
        p = dot + 1;
    }
}

/* The output field name of f: its path's last key for JSON ("card.number" emits "number"), its name for CSV. */
static const char *emitted_name(const state_t *s, const out_field_t *f)
{
    return s->json ? f->path[f->depth - 1] : f->name;
}

/* Every setting, checked (each error logged, naming the setting): *out owned by the caller (free_state). */
static int read_settings(gale_ctx_t *ctx, state_t **out)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    const char *format = gale_setting_str(ctx, "format", "csv");
    const char *missing = gale_setting_str(ctx, "missing", "nil");
    const char *delim = gale_setting_str(ctx, "delimiter", ",");
    s->json = !strcmp(format, "json");
    s->header = gale_setting_bool(ctx, "header", false);
    s->missing_fails = !strcmp(missing, "fail");
    s->field = gale_setting_str(ctx, "field", NULL);
    int rc = 0;
    char **names = NULL;
    if (strcmp(format, "csv") && strcmp(format, "json")) {
        gale_error(ctx, "settings.format: \"csv\" or \"json\", not \"%s\"", format);
        rc = GALE_EINVAL;
    } else if (strcmp(missing, "nil") && strcmp(missing, "fail")) {
        gale_error(ctx, "settings.missing: \"nil\" or \"fail\", not \"%s\"", missing);
        rc = GALE_EINVAL;
    } else if (strlen(delim) != 1 || *delim == '"' || *delim == '\n' || *delim == '\r') {
        gale_error(ctx, "settings.delimiter: one character, not a quote or a line end (\"%s\")", delim);
        rc = GALE_EINVAL;
    } else if ((rc = setting_names(ctx, "fields", MAX_FIELDS, &names, &s->n_out)) == GALE_ENOENT ||
               (!rc && !s->n_out)) {
        gale_error(ctx, "settings.fields: required, the names of the fields to emit (for CSV, its columns in order)");
        rc = GALE_EINVAL;
    }
    s->delim = *delim;
    if (!rc && !(s->out = calloc(s->n_out, sizeof *s->out))) rc = GALE_ENOMEM;
    for (size_t i = 0; !rc && i < s->n_out; i++) {
        out_field_t *f = &s->out[i];
        f->name = names[i];
        names[i] = NULL;
        f->skip = !s->json && !strcmp(f->name, "_");
        if (s->json) rc = split_path(ctx, f);
        if (!f->skip) s->n_emitted++;
    }
    if (names)
        for (size_t i = 0; i < s->n_out; i++) free(names[i]);
    free(names);
    if (!rc && (rc = setting_names(ctx, "keep", MAX_FIELDS, &s->keep, &s->n_keep)) == GALE_ENOENT) rc = 0;
    /* types: a group of name = "type"; each name must be an output field. */
    gale_value_t types;
    if (!rc && gale_setting(ctx, "types", &types) == 0) {
        if (types.type != GALE_MAP) {
            gale_error(ctx, "settings.types: a group, such as types = { amount = \"double\"; };");
            rc = GALE_EINVAL;
        }
        for (uint32_t i = 0; !rc && i < types.n; i++) {
            gale_value_t k, v;
            gale_item(ctx, &types, 2 * i, &k);
            gale_item(ctx, &types, 2 * i + 1, &v);
            size_t f = 0;
            while (f < s->n_out && !(strlen(s->out[f].name) == k.s.len && !memcmp(s->out[f].name, k.s.ptr, k.s.len)))
                f++;
            char type[16] = "";
            if (v.type == GALE_STR && v.s.len < sizeof type) memcpy(type, v.s.ptr, v.s.len), type[v.s.len] = '\0';
            int t = parse_type_named(type);
            if (f == s->n_out) {
                gale_error(ctx, "settings.types: '%.*s' is not one of settings.fields", (int)k.s.len, k.s.ptr);
                rc = GALE_EINVAL;
            } else if (t < 0 || (t == PT_JSON && !s->json)) {
                gale_error(ctx, "settings.types.%.*s: auto, string, int, double, bool%s", (int)k.s.len, k.s.ptr,
                           s->json ? " or json" : "");
                rc = GALE_EINVAL;
            } else s->out[f].type = (parse_type_t)t;
        }
    }
    /* The emitted names must be unique, or the stream cannot be declared. */
    for (size_t i = 0; !rc && i < s->n_keep + s->n_out; i++)
        for (size_t j = 0; !rc && j < i; j++) {
            const char *a = i < s->n_keep                ? s->keep[i]
                            : s->out[i - s->n_keep].skip ? NULL
                                                         : emitted_name(s, &s->out[i - s->n_keep]);
            const char *b = j < s->n_keep                ? s->keep[j]
                            : s->out[j - s->n_keep].skip ? NULL
                                                         : emitted_name(s, &s->out[j - s->n_keep]);
            if (a && b && !strcmp(a, b)) {
                gale_error(ctx, "settings: '%s' is emitted twice (fields and keep name each output field once)", a);
                rc = GALE_EINVAL;
            }
        }
    if (rc) {
        free_state(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int declare(gale_ctx_t *ctx)
{
    state_t *s;
    int rc = read_settings(ctx, &s);
    if (rc) return rc;
    if (s->field) rc = inputs_have_field(ctx, s->field, "field");
    for (size_t i = 0; !rc && i < s->n_keep; i++) rc = inputs_have_field(ctx, s->keep[i], "keep");
    const char *names[MAX_FIELDS * 2];
    size_t n = 0;
    for (size_t i = 0; i < s->n_keep; i++) names[n++] = s->keep[i];
    for (size_t i = 0; i < s->n_out; i++)
        if (!s->out[i].skip) names[n++] = emitted_name(s, &s->out[i]);
    if (!rc) rc = gale_declare_stream(ctx, "default", names, n);
    free_state(s);
    return rc;
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s;
    int rc = read_settings(ctx, &s);
    if (rc) return rc;
    s->values = calloc(s->n_keep + s->n_out, sizeof *s->values);
    s->cols = calloc(s->n_out, sizeof *s->cols);
    s->keep_at = calloc(s->n_keep ? s->n_keep : 1, sizeof *s->keep_at);
    if (!s->values || !s->cols || !s->keep_at) {
        free_state(s);
        return GALE_ENOMEM;
    }
    s->failed_m = gale_counter(ctx, "lines_failed");
    ctx->state = s;
    return 0;
}

/* Where `field` and the `keep` fields are in the input's stream, looked up again only when the stream changes. */
static void locate(gale_ctx_t *ctx, state_t *s, const gale_tuple_t *in)
{
    const char *const *names;
    size_t n;
    if (!fields_changed(ctx, &s->seen, in, &names, &n)) return;
    s->field_at = s->field ? field_index(names, n, s->field) : 0;
    for (size_t k = 0; k < s->n_keep; k++) s->keep_at[k] = field_index(names, n, s->keep[k]);
}

/* Fails the input with `why` (prefixed with what was wrong where), counted. */
static int reject(gale_ctx_t *ctx, state_t *s, const gale_tuple_t *in, const char *why)
{
    gale_counter_add(ctx, s->failed_m, 1);
    return gale_fail_with(ctx, in, why);
}

/* CSV: text into s->values after the kept ones; 0, or 1 for a header line, or -1 with why. */
static int parse_csv(state_t *s, const char *text, size_t len, char *why, size_t cap)
{
    if (len > s->scratch_cap) {
        size_t want = len * 2;
        char *p = realloc(s->scratch, want);
        if (!p) {
            snprintf(why, cap, "out of memory");
            return -1;
        }
        s->scratch = p, s->scratch_cap = want;
    }
    size_t n;
    char cause[160];
    if (csv_split(text, len, s->delim, s->scratch, s->cols, s->n_out, &n, cause, sizeof cause)) {
        snprintf(why, cap, "CSV: %s", cause);
        return -1;
    }
    if (s->header && n == s->n_out) {
        size_t i = 0;
        while (i < n && s->cols[i].len == strlen(s->out[i].name) &&
               !memcmp(s->cols[i].p, s->out[i].name, s->cols[i].len))
            i++;
        if (i == n) return 1;
    }
    if (n < s->n_out && s->missing_fails) {
        snprintf(why, cap, "CSV: %zu columns, %zu fields (settings.missing = \"fail\")", n, s->n_out);
        return -1;
    }
    gale_value_t *v = s->values + s->n_keep;
    for (size_t i = 0; i < s->n_out; i++) {
        const out_field_t *f = &s->out[i];
        if (f->skip) continue;
        if (i >= n) {
            *v++ = gale_nil();
            continue;
        }
        if (csv_value(&s->cols[i], f->type, v, cause, sizeof cause)) {
            snprintf(why, cap, "column %zu (%s): %s", i + 1, f->name, cause);
            return -1;
        }
        v++;
    }
    return 0;
}

/* The value under `key` of map m; 0 with *out (which must not be m), or GALE_ENOENT. */
static int map_get(gale_ctx_t *ctx, const gale_value_t *m, const char *key, gale_value_t *out)
{
    size_t len = strlen(key);
    for (uint32_t i = 0; i < m->n; i++) {
        gale_value_t k;
        if (gale_item(ctx, m, 2 * i, &k)) return GALE_ENOENT;
        if (k.type == GALE_STR && k.s.len == len && !memcmp(k.s.ptr, key, len))
            return gale_item(ctx, m, 2 * i + 1, out);
    }
    return GALE_ENOENT;
}

/* JSON: text into s->values after the kept ones; 0, or -1 with why. */
static int parse_json(gale_ctx_t *ctx, state_t *s, const char *text, size_t len, char *why, size_t cap)
{
    gale_value_t doc;
    char cause[160];
    if (gale_from_json(ctx, text, len, &doc, cause, sizeof cause)) {
        snprintf(why, cap, "not JSON: %s", cause);
        return -1;
    }
    if (doc.type != GALE_MAP) {
        snprintf(why, cap, "JSON: not an object");
        return -1;
    }
    gale_value_t *v = s->values + s->n_keep;
    for (size_t i = 0; i < s->n_out; i++) {
        const out_field_t *f = &s->out[i];
        gale_value_t at = doc;
        size_t d = 0;
        for (gale_value_t next; d < f->depth; d++, at = next)
            if (at.type != GALE_MAP || map_get(ctx, &at, f->path[d], &next)) break;
        if (d < f->depth) {
            if (s->missing_fails) {
                snprintf(why, cap, "JSON: no %s (settings.missing = \"fail\")", f->name);
                return -1;
            }
            *v++ = gale_nil();
            continue;
        }
        if (json_value(&at, f->type, v, cause, sizeof cause)) {
            snprintf(why, cap, "JSON: %s %s", f->name, cause);
            return -1;
        }
        v++;
    }
    return 0;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    locate(ctx, s, in);
    gale_value_t text;
    char why[400];
    if (gale_get(ctx, in, s->field_at, &text) || (text.type != GALE_STR && text.type != GALE_BYTES)) {
        snprintf(why, sizeof why, "%s %s is not text", s->field ? "field" : "the first value",
                 s->field ? s->field : "");
        return reject(ctx, s, in, why);
    }
    for (size_t k = 0; k < s->n_keep; k++)
        if (gale_get(ctx, in, s->keep_at[k], &s->values[k])) s->values[k] = gale_nil();
    int rc = s->json ? parse_json(ctx, s, text.s.ptr, text.s.len, why, sizeof why)
                     : parse_csv(s, text.s.ptr, text.s.len, why, sizeof why);
    if (rc < 0) return reject(ctx, s, in, why);
    if (rc == 0) {
        int erc = gale_emit_anchored(ctx, in, s->values, s->n_keep + s->n_emitted);
        if (erc) {
            gale_fail(ctx, in);
            return erc;
        }
    }
    return gale_ack(ctx, in);
}

static void cleanup(gale_ctx_t *ctx) { free_state(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"format", GALE_SETTING_STRING, "\"csv\" (default) or \"json\""},
    {"fields", GALE_SETTING_LIST,
     "the output fields: CSV columns in order (\"_\" skips one), or JSON keys (a.b: nested)"},
    {"field", GALE_SETTING_STRING, "the input field with the text (default: the first)"},
    {"types", GALE_SETTING_GROUP, "a type per field: auto (default), string, int, double, bool, json"},
    {"delimiter", GALE_SETTING_STRING, "CSV: the character between columns (\",\")"},
    {"header", GALE_SETTING_BOOL, "CSV: a line of the field names is not emitted (false)"},
    {"missing", GALE_SETTING_STRING, "an absent key or column: \"nil\" (default) or \"fail\""},
    {"keep", GALE_SETTING_LIST, "input fields emitted first, unchanged"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "parse", .description = "CSV or JSON text into named, typed fields",
            .settings = settings, .declare = declare,
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
