/*
 * anomaly: online, unsupervised anomaly detection: each input is emitted with its fields and two more, `score`
 * (higher: more unusual) and `anomaly` (true when the score passes the threshold after the warm-up).
 *
 *   method     ("zscore")  "zscore": per key (subscribe with a fields grouping on it), a robust z-score of each
 *                          feature against its exponentially weighted mean and mean absolute deviation, the score
 *                          being the largest |z|. "hst": Half-Space Trees (Tan, Ting and Liu, 2011) over all the
 *                          features at once, one forest per task, scoring each point against the mass the last
 *                          window of the stream put where it falls: from 0 (usual) to 1 (where nothing was)
 *   features   (list, required)  the numeric fields (integers or doubles; up to 16)
 *   key        (string)    zscore: the field whose value keeps statistics of its own (default: one for all)
 *   threshold  (4 for zscore, 0.8 for hst)   the score above which a tuple is an anomaly
 *   warmup     (30)        zscore: the tuples a key needs before it can be flagged
 *   alpha      (0.02)      zscore: the weight of each new value in the means (until 1/n is below it, the plain
 *                          mean); a deviation is clipped at `threshold` times the deviation before it updates them,
 *                          so that anomalies do not drag the baseline
 *   trees (25), depth (10), window (1024), seed (1)  hst: the forest. The first window sets each feature's range,
 *                          the second fills the first reference: neither is flagged
 *   emit       ("all")     "all", or "anomalies": only the flagged tuples (every input is acked either way)
 *   score_field ("score"), flag_field ("anomaly")   the names of the two fields it adds (two anomaly bolts in a
 *                          row need other names for the second's)
 *
 * State: with checkpoints (config.checkpoint_interval_ms), each key's statistics and the forest are in the task's
 * state at every checkpoint and come back with it, so that a restored run scores as a run never stopped would.
 * A feature that is not a number fails its input, saying which (gale_fail_with). Metrics: anomalies.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly_hst.h"
#include "fields.h"
#include "gale.h"
#include "keyed.h"

#define MAX_FEATURES HST_MAX_DIMS
#define HST_STATE_KEY "\001hst" /* the forest's entry in the state: no key field renders to it */

/* A key's statistics (zscore): n, then per feature its mean and mean absolute deviation. */
typedef struct stats {
    keyed_head_t head_; /* the key: first, as keyed.h wants */
    double n;
    double m[MAX_FEATURES], d[MAX_FEATURES];
    bool dirty;
} stats_t;

typedef struct state {
    bool hst_method, only_anomalies;
    char **features;
    size_t n_features;
    const char *key;
    double threshold, alpha;
    int64_t warmup;
    keyed_t keys; /* zscore: of stats_t */
    hst_t hst;
    bool hst_dirty;
    /* per input stream: where the features and the key are */
    fields_seen_t seen;
    size_t at[MAX_FEATURES], key_at;
    gale_value_t *values;
    size_t cap_values;
    gale_metric_t *anomalies_m;
} state_t;

static void free_state(state_t *s)
{
    if (!s) return;
    free_names(s->features, s->n_features);
    keyed_free(&s->keys);
    hst_free(&s->hst);
    free(s->values);
    free(s);
}

static int read_settings(gale_ctx_t *ctx, state_t **out)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    const char *method = gale_setting_str(ctx, "method", "zscore"), *emit = gale_setting_str(ctx, "emit", "all");
    s->hst_method = !strcmp(method, "hst");
    s->only_anomalies = !strcmp(emit, "anomalies");
    s->key = gale_setting_str(ctx, "key", NULL);
    s->threshold = gale_setting_double(ctx, "threshold", s->hst_method ? 0.8 : 4.0);
    s->alpha = gale_setting_double(ctx, "alpha", 0.02);
    s->warmup = gale_setting_int(ctx, "warmup", 30);
    int64_t trees = gale_setting_int(ctx, "trees", 25), depth = gale_setting_int(ctx, "depth", 10),
            window = gale_setting_int(ctx, "window", 1024), seed = gale_setting_int(ctx, "seed", 1);
    int rc = 0;
    if (strcmp(method, "zscore") && strcmp(method, "hst")) {
        gale_error(ctx, "settings.method: \"zscore\" or \"hst\", not \"%s\"", method);
        rc = GALE_EINVAL;
    } else if (strcmp(emit, "all") && strcmp(emit, "anomalies")) {
        gale_error(ctx, "settings.emit: \"all\" or \"anomalies\", not \"%s\"", emit);
        rc = GALE_EINVAL;
    } else if ((rc = setting_names(ctx, "features", MAX_FEATURES, &s->features, &s->n_features)) == GALE_ENOENT ||
               (!rc && !s->n_features)) {
        gale_error(ctx, "settings.features: required, a list of 1 to %d numeric fields", MAX_FEATURES);
        rc = GALE_EINVAL;
    } else if (!(s->threshold > 0) || !(s->alpha > 0 && s->alpha <= 1) || s->warmup < 1) {
        gale_error(ctx, "settings: threshold must be above 0, alpha in (0, 1], warmup at least 1");
        rc = GALE_EINVAL;
    } else if (trees < 1 || trees > 256 || depth < 1 || depth > 16 || window < 16 || window > 1 << 20) {
        gale_error(ctx, "settings: trees 1 to 256, depth 1 to 16, window 16 to 1048576");
        rc = GALE_EINVAL;
    } else if (s->hst_method && s->key) {
        gale_error(ctx, "settings.key: the hst method keeps one forest per task, for every key (use zscore per key)");
        rc = GALE_EINVAL;
    }
    keyed_init(&s->keys, sizeof(stats_t));
    if (!rc && s->hst_method &&
        hst_init(&s->hst, (size_t)trees, (size_t)depth, (size_t)window, s->n_features, (uint64_t)seed))
        rc = GALE_ENOMEM;
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
    for (size_t k = 0; !rc && k < s->n_features; k++) rc = inputs_have_field(ctx, s->features[k], "features");
    if (!rc && s->key) rc = inputs_have_field(ctx, s->key, "key");
    const char *added[] = {gale_setting_str(ctx, "score_field", "score"),
                           gale_setting_str(ctx, "flag_field", "anomaly")};
    const char *named_by[] = {"score_field", "flag_field"};
    if (!rc) rc = declare_input_plus(ctx, added, named_by, 2);
    free_state(s);
    return rc;
}

/* What a checkpoint restored: the keys' statistics and the forest. */
static int restore(gale_ctx_t *ctx, state_t *s)
{
    uint64_t cursor = 0;
    gale_value_t k, v;
    while (gale_state_next(ctx, &cursor, &k, &v) == 0) {
        if (k.type != GALE_STR) continue;
        if (k.s.len == strlen(HST_STATE_KEY) && !memcmp(k.s.ptr, HST_STATE_KEY, k.s.len)) {
            if (!s->hst_method || v.type != GALE_BYTES || hst_restore(&s->hst, v.s.ptr, v.s.len)) {
                gale_error(ctx, "the restored forest does not fit these settings (trees, depth, features): "
                                "starting a new one");
                continue;
            }
            continue;
        }
        if (v.type != GALE_ARRAY || v.n != 1 + 2 * s->n_features) continue; /* not a key of these features */
        stats_t *e = keyed_get(&s->keys, k.s.ptr, k.s.len);
        if (!e) return GALE_ENOMEM;
        gale_value_t x;
        gale_item(ctx, &v, 0, &x);
        e->n = x.type == GALE_DOUBLE ? x.d : 0;
        for (size_t f = 0; f < s->n_features; f++) {
            gale_item(ctx, &v, 1 + 2 * f, &x);
            e->m[f] = x.type == GALE_DOUBLE ? x.d : 0;
            gale_item(ctx, &v, 2 + 2 * f, &x);
            e->d[f] = x.type == GALE_DOUBLE ? x.d : 0;
        }
    }
    return 0;
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s;
    int rc = read_settings(ctx, &s);
    if (rc) return rc;
    s->anomalies_m = gale_counter(ctx, "anomalies");
    if ((rc = restore(ctx, s))) {
        free_state(s);
        return rc;
    }
    ctx->state = s;
    return 0;
}

/* Checkpoint: the keys changed since the last one, and the forest. */
static int prepare_commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    (void)checkpoint;
    state_t *s = ctx->state;
    for (size_t i = 0; i < s->keys.cap; i++) {
        stats_t *e = (stats_t *)keyed_at(&s->keys, i);
        if (!e->head_.key || !e->dirty) continue;
        gale_value_t items[1 + 2 * MAX_FEATURES];
        items[0] = gale_double(e->n);
        for (size_t f = 0; f < s->n_features; f++)
            items[1 + 2 * f] = gale_double(e->m[f]), items[2 + 2 * f] = gale_double(e->d[f]);
        gale_value_t k = gale_strn(e->head_.key, e->head_.len),
                     v = gale_array(items, (uint32_t)(1 + 2 * s->n_features));
        int rc = gale_state_put(ctx, &k, &v);
        if (rc) return rc;
        e->dirty = false;
    }
    if (s->hst_method && s->hst_dirty) {
        char *blob;
        size_t len;
        if (hst_save(&s->hst, &blob, &len)) return GALE_ENOMEM;
        gale_value_t k = gale_str(HST_STATE_KEY), v = gale_bytes(blob, len);
        int rc = gale_state_put(ctx, &k, &v);
        free(blob);
        if (rc) return rc;
        s->hst_dirty = false;
    }
    return 0;
}

/* Where the features and the key are in the input's stream (again only when the stream changes). */
static void locate(gale_ctx_t *ctx, state_t *s, const gale_tuple_t *in)
{
    const char *const *names;
    size_t n;
    if (!fields_changed(ctx, &s->seen, in, &names, &n)) return;
    for (size_t f = 0; f < s->n_features; f++) s->at[f] = field_index(names, n, s->features[f]);
    s->key_at = s->key ? field_index(names, n, s->key) : n;
}

/* zscore: scores x against key e's statistics, then updates them; *flag when it is an anomaly. */
static double zscore(state_t *s, stats_t *e, const double *x, bool *flag)
{
    double score = 0;
    bool warm = e->n >= (double)s->warmup;
    double a = 1 / (e->n + 1) > s->alpha ? 1 / (e->n + 1) : s->alpha;
    for (size_t f = 0; f < s->n_features; f++) {
        double r = x[f] - e->m[f], scale = 1.2533 * e->d[f] + 1e-9 * (fabs(e->m[f]) + 1);
        double z = fabs(r) / scale;
        if (e->n > 0 && z > score) score = z;
        /* Huber-like: past the warm-up, a deviation counts at most `threshold` deviations into the baseline. */
        double cap = s->threshold * scale;
        double rc = warm && fabs(r) > cap ? (r > 0 ? cap : -cap) : r;
        e->m[f] += a * rc;
        e->d[f] += a * (fabs(rc) - e->d[f]);
    }
    e->n++;
    e->dirty = true;
    *flag = warm && score > s->threshold;
    return score;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    locate(ctx, s, in);
    double x[MAX_FEATURES];
    for (size_t f = 0; f < s->n_features; f++) {
        gale_value_t v;
        char why[160];
        if (gale_get(ctx, in, s->at[f], &v) || (v.type != GALE_INT && v.type != GALE_DOUBLE && v.type != GALE_UINT) ||
            (v.type == GALE_DOUBLE && !isfinite(v.d))) {
            snprintf(why, sizeof why, "feature '%s' is not a finite number", s->features[f]);
            return gale_fail_with(ctx, in, why);
        }
        x[f] = v.type == GALE_INT ? (double)v.i : v.type == GALE_UINT ? (double)v.u : v.d;
    }
    double score;
    bool flag;
    if (s->hst_method) {
        bool scored;
        score = hst_update(&s->hst, x, &scored);
        s->hst_dirty = true;
        flag = scored && score > s->threshold;
    } else {
        char text[256];
        const char *key = "";
        size_t len = 0;
        gale_value_t k;
        if (s->key && !gale_get(ctx, in, s->key_at, &k)) keyed_text(ctx, &k, text, sizeof text, &key, &len);
        stats_t *e = keyed_get(&s->keys, key, len);
        if (!e) return GALE_ENOMEM;
        score = zscore(s, e, x, &flag);
    }
    if (flag) gale_counter_add(ctx, s->anomalies_m, 1);
    if (s->only_anomalies && !flag) return gale_ack(ctx, in);
    gale_value_t extra[2] = {gale_double(score), gale_bool(flag)};
    return emit_input_plus(ctx, in, extra, 2, &s->values, &s->cap_values);
}

static void cleanup(gale_ctx_t *ctx) { free_state(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"method", GALE_SETTING_STRING, "\"zscore\" (default: per key) or \"hst\" (Half-Space Trees, all features)"},
    {"features", GALE_SETTING_LIST, "the numeric fields to score (required)"},
    {"key", GALE_SETTING_STRING, "zscore: the field whose values keep statistics of their own"},
    {"threshold", GALE_SETTING_DOUBLE, "the score above which a tuple is an anomaly (zscore 4, hst 0.8)"},
    {"warmup", GALE_SETTING_INT, "zscore: tuples a key needs before it is flagged (30)"},
    {"alpha", GALE_SETTING_DOUBLE, "zscore: the weight of a new value in the means (0.02)"},
    {"trees", GALE_SETTING_INT, "hst: trees in the forest (25)"},
    {"depth", GALE_SETTING_INT, "hst: the trees' depth (10)"},
    {"window", GALE_SETTING_INT, "hst: points per window (1024)"},
    {"seed", GALE_SETTING_INT, "hst: the forest's random seed (1)"},
    {"emit", GALE_SETTING_STRING, "\"all\" (default) or \"anomalies\""},
    {"score_field", GALE_SETTING_STRING, "the name of the score field it adds (\"score\")"},
    {"flag_field", GALE_SETTING_STRING, "the name of the flag field it adds (\"anomaly\")"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "anomaly",
            .description = "online anomaly scores: robust z-score per key, Half-Space Trees", .settings = settings,
            .declare = declare, .prepare_commit = prepare_commit,
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
