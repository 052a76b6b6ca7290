/* The benchmarks run (quickly) and write the JSON they promise. A test, not a benchmark: no figure is judged. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

Test(bench, quick_run_writes_valid_json, .timeout = 300)
{
    char *dir = tl_tmpdir(), *json = tl_path("%s/bench.json", dir);
    char *bench = tl_path("%s/bin/gale-bench", tl_build()), *plugins = tl_path("%s/bench/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", plugins, 1);
    const char *argv[] = {bench, "--quick", "--json", json, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 280, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_assert_not_null(strstr(r.out, "baseline: hand-written single-threaded C word count"), "%s", r.out);
    char *text = tl_read_file(json, NULL);
    cr_assert_not_null(text, "no %s", json);
    cr_assert(tl_json_valid(text), "not JSON:\n%s", text);
    const char *keys[] = {"\"machine\": {\"cores\": ", "\"baseline\": {\"words_per_s\": ", "\"cases\": [",
                          "\"case\": \"const_null\"", "\"case\": \"const_id_null\"", "\"case\": \"wordcount\"", "\"case\": \"wordcount_python\"",
                          "\"mode\": \"local\"", "\"mode\": \"workers2\"", "\"acking\": true", "\"acking\": false", "\"throughput\": ",
                          "\"p50_ms\": ", "\"p99_ms\": ", "\"p999_ms\": ", "\"cpu_s_per_million\": ", "\"rss_mb\": ",
                          "\"ratio_to_baseline\": "};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) cr_assert_not_null(strstr(text, keys[i]), "no %s in\n%s", keys[i], text);
    /* sixteen cases: four topologies, acking off and on, in one process and in two workers; then the cost of being
       watched, local and in two workers */
    const char *observed = strstr(text, "\"observed\": ["), *checkpointed = strstr(text, "\"checkpointed\": [");
    cr_assert_not_null(observed, "%s", text);
    cr_assert_not_null(checkpointed, "%s", text);
    size_t cases = 0, watched = 0;
    for (const char *p = text; (p = strstr(p, "\"case\": ")) && p < observed; p++) cases++;
    for (const char *p = observed; (p = strstr(p, "\"plain\": ")) && p < checkpointed; p++) watched++;
    cr_assert_eq(cases, 16, "%s", text);
    cr_assert_eq(watched, 2, "%s", observed);
    cr_assert_not_null(strstr(observed, "\"ratio\": "), "%s", observed);
    /* then the cost of checkpoints: one pair, local, with the checkpoints each run took */
    const char *keys2[] = {"\"interval_ms\": 1000",
                           "\"plain\": ", "\"checkpointed\": ", "\"ratio\": ", "\"checkpoints\": "};
    for (size_t i = 0; i < sizeof keys2 / sizeof *keys2; i++)
        cr_assert_not_null(strstr(checkpointed, keys2[i]), "no %s in\n%s", keys2[i], checkpointed);
    free(text);
    tl_result_free(&r);
    free(bench), free(plugins), free(json);
    tl_rmtree(dir);
    free(dir);
}

Test(bench, json_checker_rejects_broken_json)
{
    cr_assert(tl_json_valid("{\"a\": [1, -2.5e3, true, null, \"x\\n\"]}"));
    cr_assert_not(tl_json_valid("{\"a\": 1,}"));
    cr_assert_not(tl_json_valid("{\"a\" 1}"));
    cr_assert_not(tl_json_valid("[1 2]"));
    cr_assert_not(tl_json_valid("{} {}"));
}
