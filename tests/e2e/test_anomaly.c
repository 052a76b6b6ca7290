/*
 * The anomaly bolt through the gale binary: file_lines -> parse (CSV) -> anomaly -> file_sink, on seeded streams
 * with planted anomalies. The robust z-score per key and Half-Space Trees over two features each find the planted
 * ones with precision and recall above stated floors; scikit-learn's IsolationForest on the same rows is printed
 * beside them for comparison (not a pass condition). With checkpoints, a run SIGKILLed twice and restored scores
 * exactly as a run never killed does (the state is the keys' statistics and the forest). A feature that is not a
 * number fails its input, saying which; bad settings are refused by name.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "counts_check.h"
#include "testlib.h"

TestSuite(anomaly, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 180);

#define ROWS 20000

static uint64_t rng_state;
static double unit(void)
{
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}
static double gauss(double mean, double sd)
{
    double u = unit(), v = unit();
    return mean + sd * sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* zscore's stream: 20 keys, key k around 100 + 10k (sd 5); after each key's first 40 rows, 1% of rows are off by
   40 to 80 (8 to 16 sd). Lines "KEY,X,PLANTED". */
static char *zscore_rows(void)
{
    rng_state = 0x5eed;
    gale_buf_t b = {0};
    for (int i = 0; i < ROWS; i++) {
        int k = i % 20, planted = i >= 800 && unit() < 0.01;
        double x = gauss(100 + 10 * k, 5);
        if (planted) x += (unit() < 0.5 ? -1 : 1) * (40 + 40 * unit());
        gale_buf_printf(&b, "c%d,%.3f,%d\n", k, x, planted);
    }
    return b.p;
}

/* hst's stream: amount around 50 (sd 10) and count about amount / 10; after the warm-up (2 windows of 1024),
   1% of rows are jointly unusual: a big amount with a low count, or a negative amount with a high count. Lines
   "k,AMOUNT,COUNT,PLANTED". */
static char *hst_rows(int rows)
{
    rng_state = 0xfeed;
    gale_buf_t b = {0};
    for (int i = 0; i < rows; i++) {
        double a = gauss(50, 10), c = a / 10 + gauss(0, 0.5);
        int planted = i >= 2048 && unit() < 0.01;
        if (planted && unit() < 0.5) a = 120 + 80 * unit(), c = 3 * unit();
        else if (planted) a = -40 * unit(), c = 8 + 4 * unit();
        gale_buf_printf(&b, "k,%.3f,%.3f,%d\n", a, c, planted);
    }
    return b.p;
}

typedef struct scored {
    long tp, fp, fn;
} scored_t;

/* Precision and recall of the sink's {"planted": P, "score": S, "anomaly": A} lines, past the first `skip`. */
static scored_t score_lines(const char *text, long skip)
{
    scored_t s = {0};
    long i = 0;
    for (const char *p = text; p && *p; i++) {
        int planted, anomaly;
        double score;
        char flag[8];
        cr_assert_eq(sscanf(p, "{\"planted\": %d, \"score\": %lf, \"anomaly\": %7[a-z]}", &planted, &score, flag), 3,
                     "line %.80s", p);
        anomaly = !strcmp(flag, "true");
        if (i >= skip) s.tp += planted && anomaly, s.fp += !planted && anomaly, s.fn += planted && !anomaly;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return s;
}

static double precision(scored_t s) { return s.tp + s.fp ? (double)s.tp / (double)(s.tp + s.fp) : 0; }
static double recall(scored_t s) { return s.tp + s.fn ? (double)s.tp / (double)(s.tp + s.fn) : 0; }

/* scikit-learn's IsolationForest on the same rows (columns `cols` of each CSV line, 1-based, comma-separated; a
   key's letters are dropped, "c7" being 7), with
   the planted share as its contamination: its precision and recall past the first `skip` rows, for the output. */
static void isolation_forest(const char *csv_path, const char *cols, long skip, const char *what)
{
    char *script =
        tl_path("import sys\n"
                "try:\n"
                "    from sklearn.ensemble import IsolationForest\n"
                "except ImportError:\n"
                "    print('scikit-learn is not installed: no IsolationForest to compare with'); sys.exit(0)\n"
                "rows = [l.strip().split(',') for l in open('%s')]\n"
                "cols = [%s]\n"
                "X = [[float(r[c - 1].lstrip('abcdefghijklmnopqrstuvwxyz')) for c in cols] for r in rows]\n"
                "y = [r[-1] == '1' for r in rows]\n"
                "p = IsolationForest(n_estimators=100, contamination=max(sum(y) / len(y), 1e-3), "
                "random_state=1).fit(X).predict(X)\n"
                "tp = sum(1 for i in range(%ld, len(y)) if y[i] and p[i] < 0)\n"
                "fp = sum(1 for i in range(%ld, len(y)) if not y[i] and p[i] < 0)\n"
                "fn = sum(1 for i in range(%ld, len(y)) if y[i] and p[i] >= 0)\n"
                "print('IsolationForest (scikit-learn, offline, all rows at once): precision %%.3f recall %%.3f' %% "
                "(tp / max(1, tp + fp), tp / max(1, tp + fn)))\n",
                csv_path, cols, skip, skip, skip);
    const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
    tl_result_t r;
    if (tl_run(argv, NULL, 120, &r) == 0) fprintf(stderr, "anomaly %s: %s%s", what, r.out, r.err);
    tl_result_free(&r);
    free(script);
}

/* Runs lines -> parse(fields, types) -> anomaly(settings) -> sink(planted, score, anomaly) over `rows` in `dir`;
   the sink's text (malloc'd), and the run's stderr in *err when err is not NULL. */
static char *run_anomaly(const char *dir, const char *rows, const char *parse, const char *settings, int parallelism,
                         const char *grouping, char **err)
{
    char *in = tl_path("%s/rows.csv", dir), *out = tl_path("%s/out.jsonl", dir), *cfg = tl_path("%s/a.cfg", dir);
    cr_assert_eq(tl_write_file(in, rows), 0);
    unlink(out);
    char *text = tl_path(
        "name = \"anomaly\";\nconfig = { ackers = 1; };\n"
        "spouts = ( { name = \"lines\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
        "bolts = ( { name = \"parse\"; plugin = \"parse\"; settings = { %s }; inputs = ( { from = \"lines\"; } ); },\n"
        " { name = \"anomaly\"; plugin = \"anomaly\"; parallelism = %d; settings = { %s };"
        " inputs = ( { from = \"parse\"; %s } ); },\n"
        " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\";"
        " fields = [ \"planted\", \"score\", \"anomaly\" ]; }; inputs = ( { from = \"anomaly\"; } ); } );\n",
        in, parse, parallelism, settings, grouping, out);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    if (err) *err = r.err, r.err = NULL;
    tl_result_free(&r);
    char *lines = tl_read_file(out, NULL);
    cr_assert_not_null(lines);
    free(in), free(out), free(cfg), free(text);
    return lines;
}

Test(anomaly, the_robust_z_score_per_key_finds_the_planted_anomalies)
{
    char *dir = tl_tmpdir(), *rows = zscore_rows();
    char *out = run_anomaly(
        dir, rows, "fields = [ \"key\", \"x\", \"planted\" ]; types = { key = \"string\"; x = \"double\"; };",
        "key = \"key\"; features = [ \"x\" ];", 2, "grouping = \"fields\"; fields = [ \"key\" ];", NULL);
    /* Two tasks write in no fixed order, but each line carries its label: every line is scored. */
    scored_t s = score_lines(out, 0);
    fprintf(stderr, "anomaly zscore (per key, online): precision %.3f recall %.3f (%ld planted)\n", precision(s),
            recall(s), s.tp + s.fn);
    cr_assert_gt(s.tp + s.fn, 100, "too few planted anomalies to measure");
    cr_assert_geq(precision(s), 0.95, "precision %.3f", precision(s));
    cr_assert_geq(recall(s), 0.95, "recall %.3f", recall(s));
    char *csv = tl_path("%s/rows.csv", dir);
    isolation_forest(csv, "1, 2", 0, "zscore's rows (the key's number and x)");
    free(csv), free(out), free(rows);
    tl_rmtree(dir);
    free(dir);
}

Test(anomaly, half_space_trees_find_rows_unusual_in_two_features_at_once)
{
    char *dir = tl_tmpdir(), *rows = hst_rows(ROWS);
    char *out = run_anomaly(dir, rows,
                            "fields = [ \"key\", \"amount\", \"count\", \"planted\" ];"
                            " types = { key = \"string\"; amount = \"double\"; count = \"double\"; };",
                            "method = \"hst\"; threshold = 0.85; features = [ \"amount\", \"count\" ];", 1, "", NULL);
    scored_t s = score_lines(out, 2048); /* one task, in order: past the two windows of warm-up */
    fprintf(stderr, "anomaly hst (online, one pass): precision %.3f recall %.3f (%ld planted)\n", precision(s),
            recall(s), s.tp + s.fn);
    cr_assert_gt(s.tp + s.fn, 100, "too few planted anomalies to measure");
    cr_assert_geq(precision(s), 0.75, "precision %.3f", precision(s));
    cr_assert_geq(recall(s), 0.90, "recall %.3f", recall(s));
    char *csv = tl_path("%s/rows.csv", dir);
    isolation_forest(csv, "2, 3", 2048, "hst's rows");
    free(csv), free(out), free(rows);
    tl_rmtree(dir);
    free(dir);
}

Test(anomaly, a_feature_that_is_not_a_number_fails_its_input_saying_which)
{
    char *dir = tl_tmpdir(), *err;
    char *out = run_anomaly(dir, "a,1,0\na,x,0\na,2,0\n", "fields = [ \"key\", \"x\", \"planted\" ];",
                            "key = \"key\"; features = [ \"x\" ];", 1, "", &err);
    long n = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++) n++;
    cr_assert_eq(n, 2, "%s", out);
    cr_assert_not_null(strstr(err, "failed: feature 'x' is not a finite number"), "%s", err);
    free(out), free(err);
    tl_rmtree(dir);
    free(dir);
}

static void refused(const char *settings, const char *says) { tl_validate_refuses("anomaly", settings, says); }

Test(anomaly, bad_settings_are_refused_by_name)
{
    refused("features = [ \"line\" ]; method = \"lof\";", "settings.method: \"zscore\" or \"hst\", not \"lof\"");
    refused("method = \"zscore\";", "settings.features: required");
    refused("features = [ \"amount\" ];", "settings.features: input 1 has no field 'amount'");
    refused("features = [ \"line\" ]; key = \"card\";", "settings.key: input 1 has no field 'card'");
    refused("features = [ \"line\" ]; threshold = -1.0;", "threshold must be above 0");
    refused("features = [ \"line\" ]; method = \"hst\"; depth = 30;", "depth 1 to 16");
    refused("features = [ \"line\" ]; method = \"hst\"; key = \"line\";",
            "settings.key: the hst method keeps one forest");
    refused("features = [ \"line\" ]; emit = \"some\";", "settings.emit: \"all\" or \"anomalies\"");
    refused("features = [ \"line\" ]; score_field = \"line\";",
            "the input has a field 'line' already, which this bolt adds");
}

/* ---- checkpoints: a run killed twice scores as one never killed ---------------------------------------------- */

#define CKPT_ROWS 50000 /* enough for dozens of checkpoints, so that both kills come before the end */

static char *ckpt_cfg(const char *dir, const char *in, const char *out, const char *state)
{
    char *cfg = tl_path("%s/ckpt.cfg", dir);
    char *text =
        tl_path("name = \"anomaly_ckpt\";\n"
                "config = { ackers = 1; checkpoint_interval_ms = 10; state_path = \"%s\"; };\n"
                "spouts = ( { name = \"lines\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
                "bolts = ( { name = \"parse\"; plugin = \"parse\";"
                " settings = { fields = [ \"key\", \"amount\", \"count\", \"planted\" ];"
                " types = { key = \"string\"; amount = \"double\"; count = \"double\"; }; };"
                " inputs = ( { from = \"lines\"; } ); },\n"
                " { name = \"z\"; plugin = \"anomaly\"; settings = { key = \"key\"; features = [ \"amount\" ]; };"
                " inputs = ( { from = \"parse\"; grouping = \"fields\"; fields = [ \"key\" ]; } ); },\n"
                " { name = \"h\"; plugin = \"anomaly\"; settings = { method = \"hst\"; window = 256; features = [ "
                "\"amount\", \"count\" ];"
                " score_field = \"hst_score\"; flag_field = \"hst_anomaly\"; };"
                " inputs = ( { from = \"z\"; } ); },\n"
                " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; transactional = true; };"
                " inputs = ( { from = \"h\"; } ); } );\n",
                state, in, out);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    free(text);
    return cfg;
}

Test(anomaly, with_checkpoints_a_run_killed_twice_scores_as_a_run_never_killed)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/rows.csv", dir);
    /* Both methods in one topology: the z-score per key on the amount, then the forest over amount and count. One
       task each, so that the order of every task's input is fixed and the scores can be compared exactly. */
    char *rows = hst_rows(CKPT_ROWS);
    for (char *p = rows; (p = strstr(p, "k,")); p += 2) p[0] = "abcdefgh"[(p - rows) % 8]; /* 8 keys */
    cr_assert_eq(tl_write_file(in, rows), 0);
    free(rows);
    /* The run never killed. */
    char *clean_state = tl_path("%s/clean_state", dir), *clean_out = tl_path("%s/clean.jsonl", dir);
    char *cfg = ckpt_cfg(dir, in, clean_out, clean_state);
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    tl_result_t clean;
    cr_assert_eq(tl_run(argv, NULL, 120, &clean), 0);
    cr_assert_eq(clean.status, 0, "the clean run failed:\n%s", clean.err);
    tl_result_free(&clean);
    free(cfg);
    /* The run killed twice, each time once two more checkpoints are complete, then run to its end. */
    char *state = tl_path("%s/state", dir), *out = tl_path("%s/killed.jsonl", dir);
    cfg = ckpt_cfg(dir, in, out, state);
    uint64_t last = tl_run_killed_twice(cfg, dir, state, "anomaly_ckpt");
    char *a = tl_read_file(clean_out, NULL), *b = tl_read_file(out, NULL);
    cr_assert(a && b);
    long na, nb;
    char *sa = tl_sorted_lines(a, &na), *sb = tl_sorted_lines(b, &nb);
    cr_assert_eq(na, CKPT_ROWS, "the clean run wrote %ld lines", na);
    cr_assert_eq(nb, CKPT_ROWS, "the killed run wrote %ld lines", nb);
    cr_assert(!strcmp(sa, sb), "the restored run scored differently from the clean one");
    cr_assert_gt(last, 0, "no checkpoint completed before the kills");
    free(a), free(b), free(sa), free(sb), free(cfg), free(in), free(clean_state), free(clean_out), free(state),
        free(out);
    tl_rmtree(dir);
    free(dir);
}

Test(anomaly, the_shipped_example_flags_exactly_the_four_planted_readings)
{
    const char *argv[] = {tl_gale(), "run", "--quiet", "topologies/anomaly_sensors.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    long n;
    char *got = tl_sorted_lines(r.out, &n);
    cr_assert_eq(n, 4, "%s", got);
    cr_assert_not_null(strstr(got, "{\"sensor\": \"sensor-1\", \"minute\": 469, \"celsius\": 28.09, \"score\": "), "%s",
                       got);
    cr_assert_not_null(strstr(got, "{\"sensor\": \"sensor-2\", \"minute\": 412, \"celsius\": 17.98, \"score\": "), "%s",
                       got);
    cr_assert_not_null(strstr(got, "{\"sensor\": \"sensor-3\", \"minute\": 152, \"celsius\": 32.0"), "%s", got);
    cr_assert_not_null(strstr(got, "{\"sensor\": \"sensor-3\", \"minute\": 300, \"celsius\": 31.8"), "%s", got);
    free(got);
    tl_result_free(&r);
}
