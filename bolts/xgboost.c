/*
 * xgboost: scores tuples with an XGBoost model trained anywhere (its JSON or UBJSON file), through XGBoost's C API
 * (Debian's libxgboost-dev), in batches.
 *
 *   model        (string, required)  the model file (.json or .ubj): one that does not load is a validation error
 *                                    naming it
 *   features     (list)              the fields holding the features, in the model's order
 *   features_field (string)          or: one field holding them all, an array of numbers
 *   missing      (double, NaN)       the value that stands for "missing" (a nil feature is always missing)
 *   output       ("probability")     "margin" (the raw sum), "probability" (the model's transformed output: a
 *                                    probability for a binary:logistic model, the prediction for a regression), or
 *                                    "class" (1 when the probability is at least `threshold`, else 0)
 *   threshold    (0.5)               for "class"
 *   batch        (256)               rows per call to XGBoost
 *   max_delay_ms (10)                the longest a tuple waits for its batch to fill
 *
 *   score_field  ("score")           the name of the field it adds
 *
 * Output: the input's fields, then the score (a double; an integer 0 or 1 for "class"), anchored to the input. Each
 * input is kept until its batch is scored, then acked. A feature that is not a number fails that tuple, saying
 * which (gale_fail_with); a batch XGBoost refuses fails its tuples with XGBoost's error.
 *
 * The model is loaded once per worker process and shared by its tasks (a table of models by path, counted); each
 * call to XGBoost is made under the model's lock, with one XGBoost thread, so that the executors' threads are the
 * parallelism. A task's batch is scored when it is full, when it is older than max_delay_ms (a thread of the task's
 * own only wakes it: gale_wake), and at the end of the input.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xgboost/c_api.h>

#include "fields.h"
#include "gale.h"

#define MAX_FEATURES 4096

/* ---- models, shared by the tasks of a process --------------------------------------------------------------- */

typedef struct model {
    char *path;
    BoosterHandle booster;
    bst_ulong n_features; /* what the model says it takes (0: it does not say) */
    pthread_mutex_t mu;   /* one call into the booster at a time */
    int refs;
    struct model *next;
} model_t;

static pthread_mutex_t models_mu = PTHREAD_MUTEX_INITIALIZER;
static model_t *models;

/* Loads `path` into a booster: 0 with *out (the caller frees it), or -1 with XGBoost's reason in why. */
static int load_booster(const char *path, BoosterHandle *out, bst_ulong *n_features, char *why, size_t cap)
{
    BoosterHandle b;
    if (XGBoosterCreate(NULL, 0, &b)) {
        snprintf(why, cap, "%s", XGBGetLastError());
        return -1;
    }
    if (XGBoosterLoadModel(b, path) || XGBoosterSetParam(b, "nthread", "1")) {
        snprintf(why, cap, "%s", XGBGetLastError());
        XGBoosterFree(b);
        return -1;
    }
    if (XGBoosterGetNumFeature(b, n_features)) *n_features = 0;
    *out = b;
    return 0;
}

/* The process's model for `path`, loaded on first use; NULL with why. Released with model_release. */
static model_t *model_get(const char *path, char *why, size_t cap)
{
    pthread_mutex_lock(&models_mu);
    model_t *m = models;
    while (m && strcmp(m->path, path)) m = m->next;
    if (m) m->refs++;
    else if ((m = calloc(1, sizeof *m)) && (m->path = strdup(path)) &&
             !load_booster(path, &m->booster, &m->n_features, why, cap)) {
        pthread_mutex_init(&m->mu, NULL);
        m->refs = 1;
        m->next = models;
        models = m;
    } else {
        if (m) free(m->path), free(m);
        m = NULL;
    }
    pthread_mutex_unlock(&models_mu);
    return m;
}

static void model_release(model_t *m)
{
    if (!m) return;
    pthread_mutex_lock(&models_mu);
    if (--m->refs == 0) {
        model_t **p = &models;
        while (*p != m) p = &(*p)->next;
        *p = m->next;
        XGBoosterFree(m->booster);
        pthread_mutex_destroy(&m->mu);
        free(m->path), free(m);
    }
    pthread_mutex_unlock(&models_mu);
}

/* ---- the bolt --------------------------------------------------------------------------------------------- */

typedef enum output { OUT_PROBABILITY, OUT_MARGIN, OUT_CLASS } output_t;

typedef struct state {
    gale_ctx_t *ctx;
    model_t *model;
    char **features;
    size_t n_features;
    const char *features_field;
    float missing;
    output_t output;
    double threshold;
    size_t batch;
    uint64_t max_delay_ns;
    /* the batch: its rows and the inputs they came from */
    float *rows, *scores;
    const gale_tuple_t **inputs;
    size_t n;
    uint64_t first_ns; /* when its first row came */
    char config[160];
    /* where the features are in the last input stream */
    fields_seen_t seen;
    size_t at[MAX_FEATURES], field_at;
    gale_value_t *values;
    size_t cap_values;
    gale_metric_t *rows_m, *batches_m;
    /* the timer: a thread that wakes the task when a batch has waited max_delay_ms */
    pthread_t timer;
    bool timer_started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t due_ns; /* 0: no batch waiting */
} state_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *timer_main(void *arg)
{
    state_t *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        if (!s->due_ns) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        uint64_t due = s->due_ns;
        struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT && s->due_ns == due) {
            s->due_ns = 0;
            pthread_mutex_unlock(&s->mu);
            gale_wake(s->ctx);
            pthread_mutex_lock(&s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void set_due(state_t *s, uint64_t due)
{
    pthread_mutex_lock(&s->mu);
    s->due_ns = due;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void free_state(state_t *s)
{
    if (!s) return;
    if (s->timer_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->timer, NULL);
    }
    if (s->timer_started || s->rows) pthread_mutex_destroy(&s->mu), pthread_cond_destroy(&s->cv);
    free_names(s->features, s->n_features);
    model_release(s->model);
    free(s->rows), free(s->scores), free(s->inputs), free(s->values);
    free(s);
}

/* Every setting but the model, checked (errors name them). */
static int read_settings(gale_ctx_t *ctx, state_t *s)
{
    const char *output = gale_setting_str(ctx, "output", "probability");
    s->output = !strcmp(output, "margin") ? OUT_MARGIN : !strcmp(output, "class") ? OUT_CLASS : OUT_PROBABILITY;
    s->threshold = gale_setting_double(ctx, "threshold", 0.5);
    s->missing = (float)gale_setting_double(ctx, "missing", NAN);
    int64_t batch = gale_setting_int(ctx, "batch", 256), delay = gale_setting_int(ctx, "max_delay_ms", 10);
    s->features_field = gale_setting_str(ctx, "features_field", NULL);
    int rc = setting_names(ctx, "features", MAX_FEATURES, &s->features, &s->n_features);
    bool listed = rc != GALE_ENOENT;
    if (rc && listed) return rc;
    if (strcmp(output, "margin") && strcmp(output, "probability") && strcmp(output, "class")) {
        gale_error(ctx, "settings.output: \"margin\", \"probability\" or \"class\", not \"%s\"", output);
        return GALE_EINVAL;
    }
    if (batch < 1 || batch > 65536 || delay < 0 || delay > 60000) {
        gale_error(ctx, "settings: batch 1 to 65536, max_delay_ms 0 to 60000");
        return GALE_EINVAL;
    }
    if (listed == (s->features_field != NULL)) {
        gale_error(ctx, "settings: features (a list of fields) or features_field (one array field), one of them");
        return GALE_EINVAL;
    }
    if (listed && !s->n_features) {
        gale_error(ctx, "settings.features: a list of 1 to %d field names", MAX_FEATURES);
        return GALE_EINVAL;
    }
    s->batch = (size_t)batch;
    s->max_delay_ns = (uint64_t)delay * 1000000u;
    /* A row's missing features are NaN by then (`missing` is mapped to it in feature()), which is what XGBoost's
       config says is missing; "cache_id": 0 is what in-place prediction needs (without it, 1.7 aborts). */
    snprintf(s->config, sizeof s->config,
             "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
             "\"strict_shape\": false, \"cache_id\": 0, \"missing\": NaN}",
             s->output == OUT_MARGIN ? 1 : 0);
    return 0;
}

static int declare(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    int rc = read_settings(ctx, s);
    const char *path = gale_setting_str(ctx, "model", NULL);
    if (!rc && !path) {
        gale_error(ctx, "settings.model: required, the model's file (JSON or UBJSON)");
        rc = GALE_EINVAL;
    }
    char why[512];
    BoosterHandle b;
    bst_ulong nf = 0;
    if (!rc && load_booster(path, &b, &nf, why, sizeof why)) {
        gale_error(ctx, "settings.model: %s: XGBoost cannot load it: %s", path, why);
        rc = GALE_EINVAL;
    } else if (!rc) {
        XGBoosterFree(b);
        if (s->n_features && nf && nf != s->n_features) {
            gale_error(ctx, "settings.features: %zu fields, but the model %s takes %llu features", s->n_features, path,
                       (unsigned long long)nf);
            rc = GALE_EINVAL;
        }
    }
    for (size_t k = 0; !rc && k < s->n_features; k++) rc = inputs_have_field(ctx, s->features[k], "features");
    if (!rc && s->features_field) rc = inputs_have_field(ctx, s->features_field, "features_field");
    const char *added[] = {gale_setting_str(ctx, "score_field", "score")}, *named_by[] = {"score_field"};
    if (!rc) rc = declare_input_plus(ctx, added, named_by, 1);
    free_state(s);
    return rc;
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->ctx = ctx;
    int rc = read_settings(ctx, s);
    char why[512];
    const char *path = gale_setting_str(ctx, "model", "");
    if (!rc && !(s->model = model_get(path, why, sizeof why))) {
        gale_error(ctx, "settings.model: %s: XGBoost cannot load it: %s", path, why);
        rc = GALE_EINVAL;
    }
    size_t width = s->n_features ? s->n_features : (size_t)(s->model ? s->model->n_features : 0);
    if (!rc && !width) {
        gale_error(ctx, "settings.model: %s does not say how many features it takes: name them in features", path);
        rc = GALE_EINVAL;
    }
    if (!rc) {
        s->n_features = s->n_features ? s->n_features : width;
        s->rows = calloc(s->batch * s->n_features, sizeof *s->rows);
        s->inputs = calloc(s->batch, sizeof *s->inputs);
        s->scores = calloc(s->batch, sizeof *s->scores);
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        if (!s->rows || !s->inputs || !s->scores) rc = GALE_ENOMEM;
    }
    if (!rc && s->max_delay_ns && s->batch > 1) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_destroy(&s->cv);
        pthread_cond_init(&s->cv, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&s->timer, NULL, timer_main, s)) rc = GALE_ENOMEM;
        else s->timer_started = true;
    }
    s->rows_m = gale_counter(ctx, "rows_scored");
    s->batches_m = gale_counter(ctx, "batches");
    if (rc) {
        free_state(s);
        return rc;
    }
    ctx->state = s;
    return 0;
}

/* Scores the batch, emits each input with its score and acks it (or fails them all with XGBoost's error). */
static int score_batch(gale_ctx_t *ctx, state_t *s)
{
    if (!s->n) return 0;
    set_due(s, 0);
    char iface[200];
    snprintf(iface, sizeof iface,
             "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)s->rows, s->n, s->n_features);
    const bst_ulong *shape;
    bst_ulong dim;
    const float *out;
    pthread_mutex_lock(&s->model->mu);
    int xrc = XGBoosterPredictFromDense(s->model->booster, iface, s->config, NULL, &shape, &dim, &out);
    char why[512] = "";
    size_t per_row = 0;
    if (xrc) snprintf(why, sizeof why, "XGBoost: %s", XGBGetLastError());
    else {
        size_t total = 1;
        for (bst_ulong i = 0; i < dim; i++) total *= (size_t)shape[i];
        per_row = total / s->n;
        if (per_row != 1) snprintf(why, sizeof why, "the model gives %zu values a row: only one is supported", per_row);
    }
    /* The output lives in XGBoost until the next call on this booster: copied out under the lock. */
    float *scores = s->scores;
    if (!why[0]) memcpy(scores, out, s->n * sizeof *scores);
    pthread_mutex_unlock(&s->model->mu);
    gale_counter_add(ctx, s->batches_m, 1);
    int rc = 0;
    for (size_t r = 0; r < s->n; r++) {
        const gale_tuple_t *in = s->inputs[r];
        if (why[0]) {
            gale_fail_with(ctx, in, why);
            continue;
        }
        double score = (double)scores[r];
        gale_value_t extra = s->output == OUT_CLASS ? gale_int(score >= s->threshold) : gale_double(score);
        int erc = emit_input_plus(ctx, in, &extra, 1, &s->values, &s->cap_values);
        if (erc == GALE_ENOMEM) rc = erc;
    }
    if (!why[0]) gale_counter_add(ctx, s->rows_m, s->n);
    s->n = 0;
    return rc;
}

static void locate(gale_ctx_t *ctx, state_t *s, const gale_tuple_t *in)
{
    const char *const *names;
    size_t n;
    if (!fields_changed(ctx, &s->seen, in, &names, &n)) return;
    if (s->features_field) s->field_at = field_index(names, n, s->features_field);
    else
        for (size_t f = 0; f < s->n_features; f++) s->at[f] = field_index(names, n, s->features[f]);
}

/* One feature into the row: 0, or -1 with why. */
static int feature(state_t *s, const gale_value_t *v, size_t f, float *out, char *why, size_t cap)
{
    if (v->type == GALE_NIL) *out = NAN;
    else if (v->type == GALE_INT) *out = (float)v->i;
    else if (v->type == GALE_UINT) *out = (float)v->u;
    else if (v->type == GALE_DOUBLE) *out = (float)v->d;
    else if (v->type == GALE_BOOL) *out = v->b ? 1.0f : 0.0f;
    else {
        static const char *const kinds[] = {"nil",      "a bool", "an int",   "an int", "a double",
                                            "a string", "bytes",  "an array", "a map"};
        if (s->features_field)
            snprintf(why, cap, "feature %zu of '%s' is %s, not a number", f, s->features_field, kinds[v->type]);
        else snprintf(why, cap, "feature '%s' is %s, not a number", s->features[f], kinds[v->type]);
        return -1;
    }
    if (*out == s->missing) *out = NAN; /* the `missing` value stands for a missing one, as XGBoost's does */
    return 0;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    locate(ctx, s, in);
    float *row = s->rows + s->n * s->n_features;
    char why[200];
    gale_value_t v, arr;
    if (s->features_field) {
        if (gale_get(ctx, in, s->field_at, &arr) || arr.type != GALE_ARRAY || arr.n != s->n_features) {
            snprintf(why, sizeof why, "field '%s' is not an array of %zu numbers", s->features_field, s->n_features);
            return gale_fail_with(ctx, in, why);
        }
    }
    for (size_t f = 0; f < s->n_features; f++) {
        int got = s->features_field ? gale_item(ctx, &arr, f, &v) : gale_get(ctx, in, s->at[f], &v);
        if (got) v = gale_nil();
        if (feature(s, &v, f, &row[f], why, sizeof why)) return gale_fail_with(ctx, in, why);
    }
    const gale_tuple_t *kept = gale_keep(ctx, in);
    if (!kept) return GALE_ENOMEM;
    s->inputs[s->n++] = kept;
    if (s->n == 1 && s->timer_started) s->first_ns = now_ns(), set_due(s, s->first_ns + s->max_delay_ns);
    if (s->n == s->batch || !s->max_delay_ns) return score_batch(ctx, s);
    return 0;
}

/* The timer's wake: the batch has waited long enough. */
static int service(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s->n || now_ns() - s->first_ns < s->max_delay_ns) return 0;
    score_batch(ctx, s);
    return 1;
}

/* The end of the input: what is left in the batch. */
static int finish(gale_ctx_t *ctx) { return score_batch(ctx, ctx->state); }

static void cleanup(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s) set_due(s, 0);
    free_state(s);
}

static const gale_setting_decl_t settings[] = {
    {"model", GALE_SETTING_STRING, "the XGBoost model's file, JSON or UBJSON (required)"},
    {"features", GALE_SETTING_LIST, "the feature fields, in the model's order"},
    {"features_field", GALE_SETTING_STRING, "or one field holding an array of the features"},
    {"missing", GALE_SETTING_DOUBLE, "the value that stands for a missing feature (NaN)"},
    {"output", GALE_SETTING_STRING, "\"probability\" (default), \"margin\" or \"class\""},
    {"threshold", GALE_SETTING_DOUBLE, "class: the probability from which a row is 1 (0.5)"},
    {"batch", GALE_SETTING_INT, "rows per call to XGBoost (256)"},
    {"max_delay_ms", GALE_SETTING_INT, "the longest a tuple waits for its batch (10)"},
    {"score_field", GALE_SETTING_STRING, "the name of the field it adds (\"score\")"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "xgboost", .description = "scores tuples with an XGBoost model, in batches",
            .settings = settings, .declare = declare, .service = service,
            .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup});
