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

#endif
