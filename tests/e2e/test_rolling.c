/*
 * The rolling bolt through the gale binary: file_lines -> parse -> rolling (per card, event time) -> file_sink.
 * Each tuple gets exactly the count and sum of its key's last span_ms, the window reaching back from its time
 * exclusive of the start; a late tuple counts only itself; with checkpoints, a run killed twice writes what a run
 * never killed writes; a value that is not a number fails its tuple, saying which; bad settings are refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "counts_check.h"
#include "testlib.h"

TestSuite(rolling, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 120);

/* rows ("card,time,amount" lines) through parse -> rolling(settings) -> sink in `dir`; the sink's lines sorted. */
static char *roll(const char *dir, const char *rows, const char *settings, const char *config, char **err)
{
    char *in = tl_path("%s/rows.csv", dir), *out = tl_path("%s/out.jsonl", dir), *cfg = tl_path("%s/r.cfg", dir);
    cr_assert_eq(tl_write_file(in, rows), 0);
    unlink(out);
    char *text = tl_path("name = \"rolling\";\nconfig = { ackers = 1; %s };\n"
                         "spouts = ( { name = \"rows\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
                         "bolts = ( { name = \"parse\"; plugin = \"parse\";"
                         " settings = { fields = [ \"card\", \"time\", \"amount\" ]; types = { card = \"string\"; }; };"
                         " inputs = ( { from = \"rows\"; } ); },\n"
                         " { name = \"roll\"; plugin = \"rolling\"; parallelism = 2; settings = { %s };"
                         " inputs = ( { from = \"parse\"; grouping = \"fields\"; fields = [ \"card\" ]; } ); },\n"
                         " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };"
                         " inputs = ( { from = \"roll\"; } ); } );\n",
                         config, in, settings, out);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *lines = tl_read_file(out, NULL);
    long n;
    char *sorted = tl_sorted_lines(lines, &n);
    if (err) *err = r.err, r.err = NULL;
    tl_result_free(&r);
    free(in), free(out), free(cfg), free(text), free(lines);
    return sorted;
}

Test(rolling, each_tuple_gets_its_keys_count_and_sum_of_the_last_span)
{
    char *dir = tl_tmpdir();
    /* Card a: 10 at 0, 5 at 1 s, 1 at 600 s (the event at 0 is exactly span_ms before: out), 2 at 1300 s (alone),
       then one at 0.1 s, late by far more than the span: only itself. Card b: its own window. */
    char *got = roll(dir, "a,0,10\na,1000,5\nb,1500,7\na,600000,1\nb,1600,3\na,1300000,2\na,100,4\n",
                     "key = \"card\"; value = \"amount\"; time = \"time\"; span_ms = 600000;"
                     " count_field = \"n_10m\"; sum_field = \"amount_10m\";",
                     "", NULL);
    cr_assert_str_eq(got, "{\"card\": \"a\", \"time\": 0, \"amount\": 10, \"n_10m\": 1, \"amount_10m\": 10}\n"
                          "{\"card\": \"a\", \"time\": 100, \"amount\": 4, \"n_10m\": 1, \"amount_10m\": 4}\n"
                          "{\"card\": \"a\", \"time\": 1000, \"amount\": 5, \"n_10m\": 2, \"amount_10m\": 15}\n"
                          "{\"card\": \"a\", \"time\": 1300000, \"amount\": 2, \"n_10m\": 1, \"amount_10m\": 2}\n"
                          "{\"card\": \"a\", \"time\": 600000, \"amount\": 1, \"n_10m\": 2, \"amount_10m\": 6}\n"
                          "{\"card\": \"b\", \"time\": 1500, \"amount\": 7, \"n_10m\": 1, \"amount_10m\": 7}\n"
                          "{\"card\": \"b\", \"time\": 1600, \"amount\": 3, \"n_10m\": 2, \"amount_10m\": 10}\n");
    free(got);
    tl_rmtree(dir);
    free(dir);
}

Test(rolling, a_value_that_is_not_a_number_fails_its_tuple_saying_which)
{
    char *dir = tl_tmpdir(), *err;
    char *got = roll(dir, "a,0,10\na,5,ten\na,9,1\n",
                     "key = \"card\"; value = \"amount\"; time = \"time\"; span_ms = 1000;", "", &err);
    long n = 0;
    for (const char *p = got; (p = strchr(p, '\n')); p++) n++;
    cr_assert_eq(n, 2, "%s", got);
    cr_assert_not_null(strstr(err, "failed: value field 'amount' is not a number"), "%s", err);
    cr_assert_not_null(strstr(got, "\"time\": 9, \"amount\": 1, \"window_count\": 2, \"window_sum\": 11}"), "%s", got);
    free(got), free(err);
    tl_rmtree(dir);
    free(dir);
}

#define CKPT_ROWS 60000

static char *ckpt_cfg(const char *dir, const char *in, const char *out, const char *state)
{
    char *cfg = tl_path("%s/%s.cfg", dir, strstr(out, "clean") ? "clean" : "killed");
    char *text =
        tl_path("name = \"rolling_ckpt\";\n"
                "config = { ackers = 1; checkpoint_interval_ms = 10; state_path = \"%s\"; };\n"
                "spouts = ( { name = \"rows\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
                "bolts = ( { name = \"parse\"; plugin = \"parse\";"
                " settings = { fields = [ \"card\", \"time\", \"amount\" ]; types = { card = \"string\"; }; };"
                " inputs = ( { from = \"rows\"; } ); },\n"
                " { name = \"roll\"; plugin = \"rolling\"; parallelism = 2;"
                " settings = { key = \"card\"; value = \"amount\"; time = \"time\"; span_ms = 60000; };"
                " inputs = ( { from = \"parse\"; grouping = \"fields\"; fields = [ \"card\" ]; } ); },\n"
                " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; transactional = true; };"
                " inputs = ( { from = \"roll\"; } ); } );\n",
                state, in, out);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    free(text);
    return cfg;
}

Test(rolling, with_checkpoints_a_run_killed_twice_writes_what_a_run_never_killed_writes)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/rows.csv", dir);
    gale_buf_t b = {0};
    for (int i = 0; i < CKPT_ROWS; i++) gale_buf_printf(&b, "c%d,%d,%d\n", (i * 7919) % 50, i * 1000, i % 97);
    cr_assert_eq(tl_write_file(in, b.p), 0);
    gale_buf_free(&b);
    char *clean_out = tl_path("%s/clean.jsonl", dir), *clean_state = tl_path("%s/clean_state", dir);
    char *cfg = ckpt_cfg(dir, in, clean_out, clean_state);
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    char *out = tl_path("%s/killed.jsonl", dir), *state = tl_path("%s/state", dir);
    char *kcfg = ckpt_cfg(dir, in, out, state);
    uint64_t last = tl_run_killed_twice(kcfg, dir, state, "rolling_ckpt");
    cr_assert_gt(last, 0);
    char *a = tl_read_file(clean_out, NULL), *k = tl_read_file(out, NULL);
    long na, nk;
    char *sa = tl_sorted_lines(a, &na), *sk = tl_sorted_lines(k, &nk);
    cr_assert_eq(na, CKPT_ROWS);
    cr_assert_eq(nk, CKPT_ROWS, "the killed run wrote %ld lines", nk);
    cr_assert(!strcmp(sa, sk), "the restored run's windows differ from the clean run's");
    free(a), free(k), free(sa), free(sk), free(cfg), free(kcfg), free(out), free(state), free(clean_out),
        free(clean_state), free(in);
    tl_rmtree(dir);
    free(dir);
}

static void refused(const char *settings, const char *says) { tl_validate_refuses("rolling", settings, says); }

Test(rolling, bad_settings_are_refused_by_name)
{
    refused("key = \"line\";", "settings.span_ms: required");
    refused("span_ms = 1000; key = \"card\";", "settings.key: input 1 has no field 'card'");
    refused("span_ms = 1000; value = \"amount\";", "settings.value: input 1 has no field 'amount'");
    refused("span_ms = 1000; count_field = \"line\";", "the input has a field 'line' already");
    refused("span_ms = 1000; max_events = 0;", "settings.max_events: 1 to 10000000");
}
