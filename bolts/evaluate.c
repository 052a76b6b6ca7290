/*
 * evaluate: judges predictions against known labels as they pass, and passes on the tuples predicted positive (the
 * alerts): how a detection topology is measured on data whose answers are known (generated, or labelled later).
 *
 *   label      (string, required)  the field that says what the tuple is: true or a number other than 0 is positive
 *   predicted  (list, required)    the fields whose verdicts count: the tuple is predicted positive when any is true
 *                                  or a number other than 0 (an OR of detectors)
 *   path       ("-")               where each task writes its summary at the end of the input, one JSON line:
 *                                  {"component": C, "task": T, "tp": .., "fp": .., "fn": .., "tn": ..,
 *                                   "precision": P, "recall": R} ("-": standard output)
 *
 * Output: the input's fields, for each tuple predicted positive, anchored to it. Metrics: tp, fp, fn, tn (merged
 * over tasks and workers in the figures, so that a run with several tasks is judged as a whole by its --stats).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "gale.h"

#define MAX_PREDICTED 16

typedef struct state {
    const char *label, *path;
    char **predicted;
    size_t n_predicted;
    fields_seen_t seen;
    size_t label_at, at[MAX_PREDICTED];
    uint64_t tp, fp, fn, tn;
    gale_metric_t *tp_m, *fp_m, *fn_m, *tn_m;
    gale_value_t *values;
    size_t cap_values;
} state_t;

static void free_state(state_t *s)
{
    if (!s) return;
    free_names(s->predicted, s->n_predicted);
    free(s->values), free(s);
}

static int read_settings(gale_ctx_t *ctx, state_t **out)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->label = gale_setting_str(ctx, "label", NULL);
    s->path = gale_setting_str(ctx, "path", "-");
    int rc = 0;
    if (!s->label) {
        gale_error(ctx, "settings.label: required, the field that says what each tuple is");
        rc = GALE_EINVAL;
    } else if ((rc = setting_names(ctx, "predicted", MAX_PREDICTED, &s->predicted, &s->n_predicted)) == GALE_ENOENT ||
               (!rc && !s->n_predicted)) {
        gale_error(ctx, "settings.predicted: required, a list of 1 to %d fields whose verdicts count", MAX_PREDICTED);
        rc = GALE_EINVAL;
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
    rc = inputs_have_field(ctx, s->label, "label");
    for (size_t i = 0; !rc && i < s->n_predicted; i++) rc = inputs_have_field(ctx, s->predicted[i], "predicted");
    if (!rc) rc = declare_input_plus(ctx, NULL, NULL, 0);
    free_state(s);
    return rc;
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s;
    int rc = read_settings(ctx, &s);
    if (rc) return rc;
    s->tp_m = gale_counter(ctx, "tp"), s->fp_m = gale_counter(ctx, "fp");
    s->fn_m = gale_counter(ctx, "fn"), s->tn_m = gale_counter(ctx, "tn");
    ctx->state = s;
    return 0;
}

/* Whether v says yes: true, or a number other than 0. */
static bool yes(const gale_value_t *v)
{
    switch (v->type) {
    case GALE_BOOL: return v->b;
    case GALE_INT: return v->i != 0;
    case GALE_UINT: return v->u != 0;
    case GALE_DOUBLE: return v->d != 0;
    default: return false;
    }
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    const char *const *names;
    size_t n;
    if (fields_changed(ctx, &s->seen, in, &names, &n)) {
        s->label_at = field_index(names, n, s->label);
        for (size_t i = 0; i < s->n_predicted; i++) s->at[i] = field_index(names, n, s->predicted[i]);
    }
    gale_value_t v;
    bool truth = !gale_get(ctx, in, s->label_at, &v) && yes(&v), predicted = false;
    for (size_t i = 0; i < s->n_predicted && !predicted; i++) predicted = !gale_get(ctx, in, s->at[i], &v) && yes(&v);
    if (truth && predicted) s->tp++, gale_counter_add(ctx, s->tp_m, 1);
    else if (predicted) s->fp++, gale_counter_add(ctx, s->fp_m, 1);
    else if (truth) s->fn++, gale_counter_add(ctx, s->fn_m, 1);
    else s->tn++, gale_counter_add(ctx, s->tn_m, 1);
    if (!predicted) return gale_ack(ctx, in);
    return emit_input_plus(ctx, in, NULL, 0, &s->values, &s->cap_values);
}

/* The end of the input: the task's summary. */
static int finish(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    double precision = s->tp + s->fp ? (double)s->tp / (double)(s->tp + s->fp) : 0;
    double recall = s->tp + s->fn ? (double)s->tp / (double)(s->tp + s->fn) : 0;
    FILE *f = strcmp(s->path, "-") ? fopen(s->path, "a") : stdout;
    if (!f) {
        gale_error(ctx, "settings.path: %s: %s", s->path, strerror(errno));
        return GALE_EIO;
    }
    fprintf(f,
            "{\"component\": \"%s\", \"task\": %u, \"tp\": %llu, \"fp\": %llu, \"fn\": %llu, \"tn\": %llu, "
            "\"precision\": %.4f, \"recall\": %.4f}\n",
            info.component, info.task_id, (unsigned long long)s->tp, (unsigned long long)s->fp,
            (unsigned long long)s->fn, (unsigned long long)s->tn, precision, recall);
    if (f != stdout) fclose(f);
    else fflush(f);
    return 0;
}

static void cleanup(gale_ctx_t *ctx) { free_state(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"label", GALE_SETTING_STRING, "the field that says what each tuple is (required)"},
    {"predicted", GALE_SETTING_LIST, "the fields whose verdicts count: positive when any says yes (required)"},
    {"path", GALE_SETTING_STRING, "where each task writes its summary at the end (\"-\": standard output)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "evaluate",
            .description = "judges predictions against labels, passes the positive ones on", .settings = settings,
            .declare = declare, .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup});
