/*
 * The evaluate bolt through the gale binary: predictions judged against labels as they pass (any of several
 * detectors counts), the positive ones passed on, and each task's summary written at the end; the counts in the
 * figures are merged over tasks. Bad settings are refused by name.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

TestSuite(evaluate, .init = tl_use_test_plugins, .timeout = 60);

Test(evaluate, predictions_are_judged_against_labels_and_the_positive_ones_pass_on)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/rows.csv", dir), *cfg = tl_path("%s/e.cfg", dir);
    char *alerts = tl_path("%s/alerts.jsonl", dir), *summary = tl_path("%s/summary.jsonl", dir);
    char *stats = tl_path("%s/stats.json", dir);
    /* id,label,model,rule: rows 1-2 true positives (one by each detector), 3 a false positive, 4 a false negative,
       5-6 true negatives; the model's verdict a number, the rule's a bool. */
    cr_assert_eq(tl_write_file(in, "1,1,0.9,false\n2,1,0,true\n3,0,1,false\n4,1,0,false\n5,0,0,false\n6,0,0,false\n"),
                 0);
    char *text =
        tl_path("name = \"eval\";\nconfig = { ackers = 1; };\n"
                "spouts = ( { name = \"rows\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
                "bolts = ( { name = \"parse\"; plugin = \"parse\"; settings = { fields = [ \"id\", \"label\", "
                "\"model\", \"rule\" ];"
                " types = { rule = \"bool\"; }; }; inputs = ( { from = \"rows\"; } ); },\n"
                " { name = \"judge\"; plugin = \"evaluate\"; parallelism = 2;"
                " settings = { label = \"label\"; predicted = [ \"model\", \"rule\" ]; path = \"%s\"; };"
                " inputs = ( { from = \"parse\"; } ); },\n"
                " { name = \"alerts\"; plugin = \"file_sink\"; settings = { path = \"%s\"; fields = [ \"id\" ]; };"
                " inputs = ( { from = \"judge\"; } ); } );\n",
                in, summary, alerts);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", stats, cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    long n;
    char *alert_lines = tl_read_file(alerts, NULL), *got = tl_sorted_lines(alert_lines, &n);
    cr_assert_str_eq(got, "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n");
    char *doc = tl_read_file(stats, NULL);
    const char *judge = strstr(doc, "\"name\": \"judge\"");
    cr_assert_eq(tl_json_number(strstr(judge, "\"name\": \"tp\""), "value"), 2, "%s", doc);
    cr_assert_eq(tl_json_number(strstr(judge, "\"name\": \"fp\""), "value"), 1, "%s", doc);
    cr_assert_eq(tl_json_number(strstr(judge, "\"name\": \"fn\""), "value"), 1, "%s", doc);
    cr_assert_eq(tl_json_number(strstr(judge, "\"name\": \"tn\""), "value"), 2, "%s", doc);
    /* Two tasks, two summary lines, whose counts add up to the run's. */
    char *sum = tl_read_file(summary, NULL);
    long tp = 0, fp = 0, fn = 0, tn = 0, lines = 0;
    for (const char *p = sum; p && (p = strstr(p, "\"tp\": ")); p++, lines++) {
        long a, b, c, d;
        cr_assert_eq(sscanf(p, "\"tp\": %ld, \"fp\": %ld, \"fn\": %ld, \"tn\": %ld", &a, &b, &c, &d), 4, "%s", sum);
        tp += a, fp += b, fn += c, tn += d;
    }
    cr_assert_eq(lines, 2, "%s", sum);
    cr_assert(tp == 2 && fp == 1 && fn == 1 && tn == 2, "%s", sum);
    cr_assert_not_null(strstr(sum, "\"component\": \"judge\""), "%s", sum);
    tl_result_free(&r);
    free(alert_lines), free(got), free(doc), free(sum), free(text), free(in), free(cfg), free(alerts), free(summary),
        free(stats);
    tl_rmtree(dir);
    free(dir);
}

static void refused(const char *settings, const char *says) { tl_validate_refuses("evaluate", settings, says); }

Test(evaluate, bad_settings_are_refused_by_name)
{
    refused("predicted = [ \"line\" ];", "settings.label: required");
    refused("label = \"line\";", "settings.predicted: required");
    refused("label = \"truth\"; predicted = [ \"line\" ];", "settings.label: input 1 has no field 'truth'");
    refused("label = \"line\"; predicted = [ \"score\" ];", "settings.predicted: input 1 has no field 'score'");
}
