/*
 * The fraud detection example end to end, through the gale binary: topologies/fraud_detection.cfg on generated
 * transactions (pii -> rolling -> xgboost -> anomaly -> evaluate) finds the planted fraud with precision and recall
 * above their floors, in local mode and with two workers (the pseudonyms, and so the per-card features, agree
 * across processes), and no card number or e-mail address reaches the alerts; tools/fraud/train_model.py trains
 * a model from the history topology that does as well.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

TestSuite(fraud, .init = tl_use_test_plugins, .timeout = 180);

typedef struct verdict {
    long tp, fp, fn, tn;
    double precision, recall;
} verdict_t;

/* Runs the example with `extra` arguments in `dir` (its key and alerts there); the evaluate bolt's summary. */
static verdict_t run_example(const char *dir, const char *const *extra, char **alerts)
{
    char *key = tl_path("protect.key_file=%s/pii.key", dir), *out = tl_path("%s/alerts.jsonl", dir);
    char *set_out = tl_path("alerts.path=%s", out);
    const char *argv[16] = {tl_gale(), "run", "--quiet", "--set", key, "--set", set_out};
    int n = 7;
    for (int i = 0; extra && extra[i]; i++) argv[n++] = extra[i];
    argv[n++] = "topologies/fraud_detection.cfg";
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    verdict_t v = {0};
    const char *line = strstr(r.out, "\"tp\": ");
    cr_assert_not_null(line, "no summary in:\n%s", r.out);
    cr_assert_eq(sscanf(line, "\"tp\": %ld, \"fp\": %ld, \"fn\": %ld, \"tn\": %ld, \"precision\": %lf, \"recall\": %lf",
                        &v.tp, &v.fp, &v.fn, &v.tn, &v.precision, &v.recall),
                 6, "%s", r.out);
    cr_assert_eq(v.tp + v.fp + v.fn + v.tn, 100000, "%s", r.out);
    if (alerts) *alerts = tl_read_file(out, NULL);
    tl_result_free(&r);
    free(key), free(out), free(set_out);
    return v;
}

Test(fraud, the_example_finds_the_planted_fraud_and_no_personal_data_reaches_the_alerts)
{
    char *dir = tl_tmpdir(), *alerts;
    verdict_t v = run_example(dir, NULL, &alerts);
    fprintf(stderr, "fraud example: precision %.4f recall %.4f (tp %ld, fp %ld, fn %ld)\n", v.precision, v.recall, v.tp,
            v.fp, v.fn);
    cr_assert_geq(v.precision, 0.90, "precision %.4f", v.precision);
    cr_assert_geq(v.recall, 0.95, "recall %.4f", v.recall);
    cr_assert_not_null(alerts);
    long lines = 0, cards = 0;
    for (const char *p = alerts; *p; p++) lines += *p == '\n';
    for (const char *p = alerts; (p = strstr(p, "\"card\": \"")); p++, cards++)
        cr_assert(!strncmp(p + 9, "card_", 5), "a card that is not a pseudonym: %.40s", p);
    cr_assert_eq(cards, lines);
    cr_assert_eq(lines, v.tp + v.fp, "the alerts are the transactions predicted positive");
    cr_assert_null(strstr(alerts, "@"), "an e-mail address in the alerts");
    cr_assert_not_null(strstr(alerts, "\"card\": \"card_"), "%.300s", alerts);
    free(alerts);
    tl_rmtree(dir);
    free(dir);
}

Test(fraud, with_two_workers_the_per_card_features_still_agree)
{
    char *dir = tl_tmpdir();
    const char *workers[] = {"--workers", "2", NULL};
    verdict_t v = run_example(dir, workers, NULL);
    fprintf(stderr, "fraud example, 2 workers: precision %.4f recall %.4f\n", v.precision, v.recall);
    cr_assert_geq(v.precision, 0.90, "precision %.4f", v.precision);
    cr_assert_geq(v.recall, 0.95, "recall %.4f", v.recall);
    tl_rmtree(dir);
    free(dir);
}

Test(fraud, the_training_script_makes_a_model_that_does_as_well)
{
    char *dir = tl_tmpdir(), *model = tl_path("%s/fraud.json", dir);
    const char *train[] = {"/usr/bin/python3", "tools/fraud/train_model.py", model, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(train, NULL, 150, &r), 0);
    cr_assert_eq(r.status, 0, "the training failed (is python3-xgboost installed? make test-deps):\n%s", r.err);
    cr_assert_not_null(strstr(r.out, "trained on 200000 transactions"), "%s", r.out);
    tl_result_free(&r);
    char *set = tl_path("model.model=%s", model);
    const char *extra[] = {"--set", set, NULL};
    verdict_t v = run_example(dir, extra, NULL);
    cr_assert_geq(v.precision, 0.90, "precision %.4f", v.precision);
    cr_assert_geq(v.recall, 0.95, "recall %.4f", v.recall);
    free(set), free(model);
    tl_rmtree(dir);
    free(dir);
}
