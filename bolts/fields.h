/*
 * fields.h: finding a tuple's fields by name, for the shipped bolts (header-only, as a plugin's helpers are).
 *
 * A bolt names its fields in settings; in declare it checks that its inputs have them (so that `gale validate`
 * reports a typo, naming the setting), and while it runs it looks their indexes up once per input stream: the
 * field names of a stream are one array for the whole run, so a changed pointer is a changed stream.
 */
#ifndef GALE_BOLT_FIELDS_H
#define GALE_BOLT_FIELDS_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

/* The index of `name` in names[0..n); n when it is not there (gale_get then fails). */
static inline size_t field_index(const char *const *names, size_t n, const char *name)
{
    size_t i = 0;
    while (i < n && strcmp(names[i], name)) i++;
    return i;
}

/* In declare: 0 when every input stream has a field `name`; else GALE_EINVAL, logged as "settings.SETTING: input I
   has no field 'NAME'". */
static inline int inputs_have_field(gale_ctx_t *ctx, const char *name, const char *setting)
{
    for (size_t i = 0, n_inputs = gale_input_count(ctx); i < n_inputs; i++) {
        const char *const *names;
        size_t n;
        if (gale_input_fields(ctx, i, &names, &n)) return GALE_EINVAL;
        if (field_index(names, n, name) == n) {
            gale_error(ctx, "settings.%s: input %zu has no field '%s'", setting, i + 1, name);
            return GALE_EINVAL;
        }
    }
    return 0;
}

/* The last input stream a bolt looked its fields up in. */
typedef struct fields_seen {
    const char *const *names;
} fields_seen_t;

/* Whether `in` is of another stream than the last one seen (then *names and *n are its names, and it is the one
   seen from now on): the bolt looks its indexes up again. */
static inline bool fields_changed(gale_ctx_t *ctx, fields_seen_t *seen, const gale_tuple_t *in,
                                  const char *const **names, size_t *n)
{
    gale_tuple_fields(ctx, in, names, n);
    if (*names == seen->names) return false;
    seen->names = *names;
    return true;
}

/* In declare, for a bolt that emits its input's fields and `n_added` more: declares "default" as the first input's
   fields followed by added[], refusing (logged, naming the setting in settings[i] that names added[i]) a name the
   input has already or two added names that are one. */
static inline int declare_input_plus(gale_ctx_t *ctx, const char *const *added, const char *const *settings,
                                     size_t n_added)
{
    const char *const *fields;
    size_t n;
    if (gale_input_count(ctx) < 1 || gale_input_fields(ctx, 0, &fields, &n)) return GALE_EINVAL;
    const char *names[512];
    if (n + n_added > sizeof names / sizeof *names) return GALE_ELIMIT;
    for (size_t a = 0; a < n_added; a++) {
        for (size_t b = 0; b < a; b++)
            if (!strcmp(added[a], added[b])) {
                gale_error(ctx, "settings: %s and %s are both '%s'", settings[b], settings[a], added[a]);
                return GALE_EINVAL;
            }
        if (field_index(fields, n, added[a]) < n) {
            gale_error(ctx, "the input has a field '%s' already, which this bolt adds (name it otherwise with %s)",
                       added[a], settings[a]);
            return GALE_EINVAL;
        }
    }
    memcpy(names, fields, n * sizeof *names);
    if (n_added) memcpy(names + n, added, n_added * sizeof *names);
    return gale_declare_stream(ctx, "default", names, n + n_added);
}

/* Emits `in`'s values followed by extra[0..n_extra), anchored to it, and acks it; fails it when the emit is refused
   (the emit's code is returned). *buf (capacity *cap) is the bolt's array, grown here: no allocation once warm. */
static inline int emit_input_plus(gale_ctx_t *ctx, const gale_tuple_t *in, const gale_value_t *extra, size_t n_extra,
                                  gale_value_t **buf, size_t *cap)
{
    size_t n = gale_tuple_size(ctx, in);
    if (n + n_extra > *cap) {
        gale_value_t *v = (gale_value_t *)realloc(*buf, (n + n_extra) * sizeof *v);
        if (!v) {
            gale_fail(ctx, in);
            return GALE_ENOMEM;
        }
        *buf = v, *cap = n + n_extra;
    }
    for (size_t i = 0; i < n; i++) gale_get(ctx, in, i, &(*buf)[i]);
    for (size_t i = 0; i < n_extra; i++) (*buf)[n + i] = extra[i]; /* none when extra is NULL */
    int rc = gale_emit_anchored(ctx, in, *buf, n + n_extra);
    if (rc) {
        gale_fail(ctx, in);
        return rc;
    }
    return gale_ack(ctx, in);
}

/* A setting that is a list of names (fields, features): 0 with *out (malloc'd, each name too: free_names) and *n;
   GALE_ENOENT when it is absent; GALE_EINVAL, logged naming it, when it is not a list of at most `max` non-empty
   strings; GALE_ENOMEM. */
static inline void free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

static inline int setting_names(gale_ctx_t *ctx, const char *key, size_t max, char ***out, size_t *n)
{
    gale_value_t list;
    *out = NULL;
    *n = 0;
    if (gale_setting(ctx, key, &list)) return GALE_ENOENT;
    if (list.type != GALE_ARRAY || list.n > max) {
        gale_error(ctx, "settings.%s: a list of up to %zu names, such as [ \"id\", \"amount\" ]", key, max);
        return GALE_EINVAL;
    }
    char **names = (char **)calloc(list.n ? list.n : 1, sizeof *names);
    if (!names) return GALE_ENOMEM;
    for (uint32_t i = 0; i < list.n; i++) {
        gale_value_t item;
        if (gale_item(ctx, &list, i, &item) || item.type != GALE_STR || !item.s.len) {
            gale_error(ctx, "settings.%s: item %u is not a name", key, i + 1);
            free_names(names, i);
            return GALE_EINVAL;
        }
        if (!(names[i] = strndup(item.s.ptr, item.s.len))) {
            free_names(names, i);
            return GALE_ENOMEM;
        }
    }
    *out = names;
    *n = list.n;
    return 0;
}

#endif
