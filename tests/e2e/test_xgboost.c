/*
 * The xgboost bolt through the gale binary. tests/ml/xgb_fixture.py trains a regression and a binary model with
 * Debian's python3-xgboost on seeded rows and writes XGBoost's own predictions; file_lines -> parse -> xgboost ->
 * file_sink scores the same rows, and every score equals Python's to 1e-6: both models, batch 1 and 256, local and
 * --workers 2, margins, probabilities and classes, rows with a missing feature among them. A feature that is not a
 * number fails its tuple with the cause; a batch that is not full is scored within max_delay_ms; a model that does
 * not load is a validation error naming the file.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

TestSuite(xgboost, .init = tl_use_test_plugins, .timeout = 180);

#define ROWS 2000

static char *fixture_dir;

/* The fixture, made once per test binary run (each test runs in a process of its own: made again when missing). */
static const char *fixture(void)
{
    if (fixture_dir) return fixture_dir;
    fixture_dir = tl_tmpdir();
    const char *argv[] = {"/usr/bin/python3", "tests/ml/xgb_fixture.py", fixture_dir, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_eq(r.status, 0, "the fixture failed (is python3-xgboost installed? make test-deps):\n%s", r.err);
    tl_result_free(&r);
    return fixture_dir;
}

static void fixture_free(void)
{
    if (fixture_dir) tl_rmtree(fixture_dir);
    free(fixture_dir);
    fixture_dir = NULL;
}

/* Scores the fixture's rows (or `rows`, a CSV path) with `settings` for the xgboost block; the scores by row id in
   out[ROWS] (NAN where none), stderr in *err (malloc'd) when err is not NULL. */
static void score(const char *rows, const char *settings, const char *const *extra, double *out, char **err)
{
    const char *dir = fixture();
    char *cfg = tl_path("%s/score.cfg", dir), *sink = tl_path("%s/scores.jsonl", dir);
    unlink(sink);
    char *text = tl_path(
        "name = \"xgb\";\nconfig = { ackers = 1; max_retries = 0; journal = \"%s/failed.journal\"; };\n"
        "spouts = ( { name = \"rows\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
        "bolts = ( { name = \"parse\"; plugin = \"parse\"; settings = { fields = [ \"id\", \"f0\", \"f1\", \"f2\", "
        "\"f3\", \"f4\" ]; };"
        " inputs = ( { from = \"rows\"; } ); },\n"
        " { name = \"model\"; plugin = \"xgboost\"; parallelism = 2;"
        " settings = { features = [ \"f0\", \"f1\", \"f2\", \"f3\", \"f4\" ]; %s }; inputs = ( { from = \"parse\"; } "
        "); },\n"
        " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; fields = [ \"id\", \"score\" ]; };"
        " inputs = ( { from = \"model\"; } ); } );\n",
        dir, rows, settings, sink);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[16] = {tl_gale(), "run", "--quiet"};
    int n = 3;
    for (int i = 0; extra && extra[i]; i++) argv[n++] = extra[i];
    argv[n++] = cfg;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    for (int i = 0; i < ROWS; i++) out[i] = NAN;
    char *lines = tl_read_file(sink, NULL);
    cr_assert_not_null(lines, "%s", r.err);
    for (const char *p = lines; *p;) {
        long id;
        double s;
        cr_assert_eq(sscanf(p, "{\"id\": %ld, \"score\": %lf}", &id, &s), 2, "%.80s", p);
        cr_assert(id >= 0 && id < ROWS);
        cr_assert(isnan(out[id]), "row %ld scored twice", id);
        out[id] = s;
        p = strchr(p, '\n');
        cr_assert_not_null(p);
        p++;
    }
    if (err) *err = r.err, r.err = NULL;
    tl_result_free(&r);
    free(lines), free(cfg), free(sink), free(text);
}

/* Every row's score equals the fixture file `expected`'s line (1e-6), mapped through `map` when not NULL. */
static void assert_scores(const double *got, const char *expected, double (*map)(double))
{
    char *path = tl_path("%s/%s", fixture(), expected), *text = tl_read_file(path, NULL);
    cr_assert_not_null(text, "%s", path);
    const char *p = text;
    for (int i = 0; i < ROWS; i++) {
        char *end;
        double want = strtod(p, &end);
        cr_assert(end != p, "%s has fewer than %d lines", path, ROWS);
        p = end;
        if (map) want = map(want);
        cr_assert(!isnan(got[i]), "row %d was not scored", i);
        cr_assert(fabs(got[i] - want) <= 1e-6, "row %d: %.9g, XGBoost in Python says %.9g (%s)", i, got[i], want,
                  expected);
    }
    free(path), free(text);
}

static char *rows_csv(void) { return tl_path("%s/rows.csv", fixture()); }

static void check(const char *model, const char *output, int batch, const char *const *extra, const char *expected,
                  double (*map)(double))
{
    char *rows = rows_csv();
    char *settings = tl_path("model = \"%s/%s\"; output = \"%s\"; batch = %d;", fixture(), model, output, batch);
    static double got[ROWS];
    score(rows, settings, extra, got, NULL);
    assert_scores(got, expected, map);
    free(rows), free(settings);
}

Test(xgboost, regression_scores_equal_pythons_with_batch_1_and_256, .fini = fixture_free)
{
    check("reg.json", "probability", 1, NULL, "reg_pred.txt", NULL);
    check("reg.json", "probability", 256, NULL, "reg_pred.txt", NULL);
}

static double to_class(double p) { return p >= 0.5 ? 1 : 0; }

Test(xgboost, binary_probabilities_margins_and_classes_equal_pythons, .fini = fixture_free)
{
    check("bin.json", "probability", 1, NULL, "bin_prob.txt", NULL);
    check("bin.json", "probability", 256, NULL, "bin_prob.txt", NULL);
    check("bin.json", "margin", 64, NULL, "bin_margin.txt", NULL);
    check("bin.json", "class", 256, NULL, "bin_prob.txt", to_class);
}

Test(xgboost, in_worker_mode_the_scores_are_the_same, .fini = fixture_free)
{
    const char *workers[] = {"--workers", "2", NULL};
    check("bin.json", "probability", 256, workers, "bin_prob.txt", NULL);
    check("reg.json", "probability", 1, workers, "reg_pred.txt", NULL);
}

Test(xgboost, a_feature_that_is_not_a_number_fails_its_tuple_with_the_cause, .fini = fixture_free)
{
    char *rows = tl_path("%s/typed.csv", fixture());
    cr_assert_eq(tl_write_file(rows, "0,0.1,0.2,0.3,0.4,0.5\n1,0.1,abc,0.3,0.4,0.5\n2,0.1,0.2,0.3,0.4,0.5\n"), 0);
    char *settings = tl_path("model = \"%s/reg.json\"; batch = 256;", fixture()), *err;
    static double got[ROWS];
    score(rows, settings, NULL, got, &err);
    cr_assert(!isnan(got[0]) && isnan(got[1]) && !isnan(got[2]), "%g %g %g", got[0], got[1], got[2]);
    cr_assert_not_null(strstr(err, "failed: feature 'f1' is a string, not a number"), "%s", err);
    char *journal = tl_path("%s/failed.journal", fixture());
    long n;
    char *recs = tl_journal_json(journal, "fail", &n);
    cr_assert_eq(n, 1, "%s", recs);
    cr_assert_not_null(strstr(recs, "\"error\": \"feature 'f1' is a string, not a number\""), "%s", recs);
    free(rows), free(settings), free(err), free(journal), free(recs);
}

Test(xgboost, a_batch_that_does_not_fill_is_scored_within_max_delay, .fini = fixture_free)
{
    /* A feed of 20 rows, one every 30 ms, into a socket spout; batches of 256 and 5 ms of delay at most: each row
       is scored in a batch of its own, long before the feed ends. */
    const char *dir = fixture();
    char *cfg = tl_path("%s/slow.cfg", dir), *stats = tl_path("%s/stats.json", dir);
    char *topo =
        tl_path("name = \"slow\";\nconfig = { ackers = 1; };\n"
                "spouts = ( { name = \"rows\"; plugin = \"socket\"; settings = { listen = \"127.0.0.1:0\"; "
                "done_on_close = true; }; } );\n"
                "bolts = ( { name = \"parse\"; plugin = \"parse\"; settings = { fields = [ \"id\", \"f0\", \"f1\", "
                "\"f2\", \"f3\", \"f4\" ]; };"
                " inputs = ( { from = \"rows\"; } ); },\n"
                " { name = \"model\"; plugin = \"xgboost\"; settings = { model = \"%s/reg.json\"; batch = 256; "
                "max_delay_ms = 5;"
                " features = [ \"f0\", \"f1\", \"f2\", \"f3\", \"f4\" ]; }; inputs = ( { from = \"parse\"; } ); } );\n",
                dir);
    cr_assert_eq(tl_write_file(cfg, topo), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", stats, cfg, NULL};
    pid_t pid = tl_spawn(argv, dir);
    cr_assert(pid > 0);
    int port = 0;
    for (double until = tl_now_s() + 20; !port && tl_now_s() < until && tl_alive(pid); tl_sleep_ms(20))
        port = tl_listening_port(pid);
    cr_assert(port > 0, "the spout never listened");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    for (int i = 0; i < 20; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "%d,0.1,0.2,0.3,0.4,0.5\n", i);
        cr_assert_eq(write(fd, line, (size_t)n), n);
        tl_sleep_ms(30);
    }
    close(fd);
    bool late;
    cr_assert_eq(tl_wait(pid, 60, &late), 0, "the run failed");
    char *doc = tl_read_file(stats, NULL);
    long batches = tl_json_number(strstr(doc, "\"name\": \"batches\""), "value");
    long scored = tl_json_number(strstr(doc, "\"name\": \"rows_scored\""), "value");
    cr_assert_eq(scored, 20, "%s", doc);
    cr_assert_geq(batches, 15, "%ld batches for 20 rows 30 ms apart: the delay does not flush them\n%s", batches, doc);
    free(cfg), free(stats), free(topo), free(doc);
}

Test(xgboost, a_model_that_does_not_load_is_a_validation_error_naming_the_file, .fini = fixture_free)
{
    char *bad = tl_path("%s/not_a_model.json", fixture());
    cr_assert_eq(tl_write_file(bad, "{\"this\": \"is not a model\"}"), 0);
    char *settings = tl_path("model = \"%s\"; features = [ \"line\" ];", bad),
         *says = tl_path("settings.model: %s: XGBoost cannot load it", bad);
    tl_validate_refuses("xgboost", settings, says);
    free(settings), free(says);
    tl_validate_refuses("xgboost", "model = \"/nonexistent/m.json\"; features = [ \"line\" ];",
                        "settings.model: /nonexistent/m.json: XGBoost cannot load it");
    settings = tl_path("model = \"%s/reg.json\"; features = [ \"line\" ];", fixture());
    tl_validate_refuses("xgboost", settings, "settings.features: 1 fields, but the model");
    free(settings);
    tl_validate_refuses("xgboost", "features = [ \"line\" ];", "settings.model: required");
    settings = tl_path("model = \"%s/reg.json\"; features = [ \"line\" ]; output = \"odds\";", fixture());
    tl_validate_refuses("xgboost", settings, "settings.output: \"margin\", \"probability\" or \"class\", not \"odds\"");
    free(settings), free(bad);
}
