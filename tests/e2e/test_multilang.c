/*
 * Shell components through the gale binary, with Python children (tests/multilang): the Python word count against
 * the C one, the protocol played message by message from recordings (tests/multilang/conformance), acking,
 * failing and anchoring by hand, a shell spout with replay, need_task_ids, direct streams, ticks, and children
 * that crash, hang, write garbage or an endless line: each is restarted, its tuples replay, and every word still
 * arrives.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(multilang, .init = use_plugins, .timeout = 180);

static tl_result_t run(const char *const *argv, const char *stdin_path)
{
    tl_result_t r;
    cr_assert_eq(tl_run(argv, stdin_path, 120, &r), 0);
    cr_assert_not(r.timed_out, "gale timed out\n%s", r.err);
    return r;
}

static long count_of(const char *text, const char *needle)
{
    long n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* The lines of `text`, sorted, as one string: outputs whose order depends on threads compare equal. */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static char *sorted_lines(const char *text)
{
    char *copy = strdup(text), *lines[4096], *save = NULL;
    size_t n = 0;
    for (char *l = strtok_r(copy, "\n", &save); l && n < 4096; l = strtok_r(NULL, "\n", &save)) lines[n++] = l;
    qsort(lines, n, sizeof *lines, cmp_str);
    char *out = calloc(strlen(text) + 2, 1);
    for (size_t i = 0; i < n; i++) strcat(strcat(out, lines[i]), "\n");
    free(copy);
    return out;
}

Test(multilang, wordcount_python_counts_exactly_as_the_c_split_does)
{
    const char *c_argv[] = {tl_gale(), "run", "--quiet", "topologies/wordcount_file.cfg", NULL};
    tl_result_t c = run(c_argv, NULL);
    cr_assert_eq(c.status, 0, "%s", c.err);
    char *want = sorted_lines(c.out);
    cr_assert_gt(strlen(want), 1000);
    static const char *serializers[] = {"split.serializer=json", "split.serializer=msgpack"};
    for (int s = 0; s < 2; s++) {
        const char *argv[] = {tl_gale(), "run", "--quiet", "--set", serializers[s], "topologies/wordcount_python.cfg", NULL};
        tl_result_t py = run(argv, NULL);
        cr_assert_eq(py.status, 0, "%s", py.err);
        char *got = sorted_lines(py.out);
        cr_assert_str_eq(got, want, "%s: the Python split counts differently", serializers[s]);
        free(got);
        tl_result_free(&py);
    }
    free(want);
    tl_result_free(&c);
}

Test(multilang, the_bolt_side_of_the_protocol_follows_the_recording)
{
    char *dir = tl_tmpdir(), *stats = tl_path("%s/stats.json", dir);
    const char *argv[] = {tl_gale(), "run", "--stats", stats, "tests/topologies/e2e/shell_conformance_bolt.cfg", NULL};
    tl_result_t r = run(argv, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* Its `metrics` message ("metric-name", 1) counted in the component's own counter metric_name. */
    char *doc = tl_read_file(stats, NULL);
    const char *conf = doc ? strstr(doc, "{\"name\": \"conf\"") : NULL;
    cr_assert(conf && strstr(conf, "\"metrics\": [{\"name\": \"metric_name\", \"type\": \"counter\", \"value\": 1}]"),
              "%s", doc);
    free(doc), free(stats);
    tl_rmtree(dir);
    free(dir);
    cr_assert_not_null(strstr(r.err, "conformance: passed bolt.script"), "%s", r.err);
    cr_assert_null(strstr(r.err, "expected"), "%s", r.err);
    cr_assert_str_eq(r.out, "{\"word\": \"snow\"}\n{\"word\": \"white\"}\n{\"word\": \"dwarfs\"}\n");
    /* Its log line at its level, and the three errors, each against the component, the worker going on. */
    cr_assert_not_null(strstr(r.err, "WARN  [conf#2] conformance: a log line at warn"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "[conf#2] ack of unknown tuple id \"1\""), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "[conf#2] anchor to unknown tuple id \"1\""), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "[conf#2] reported: conformance: an error reported on purpose"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "line 2 of tests/multilang/conformance/lines.txt failed"), "%s", r.err);
    cr_assert_eq(count_of(r.err, "failed\n"), 1, "%s", r.err);
    /* The refused emit named t2 twice: it fails once (a second fail would touch a released tuple), and the
       child's own later fail of t2 is then an unknown id. */
    cr_assert_not_null(strstr(r.err, "[conf#2] anchor to unknown tuple id \"no-such-id\""), "%s", r.err);
    cr_assert_null(strstr(r.err, "neither being executed nor kept"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "[conf#2] fail of unknown tuple id \"2\""), "%s", r.err);
    tl_result_free(&r);
}

Test(multilang, the_spout_side_of_the_protocol_follows_the_recording)
{
    const char *argv[] = {tl_gale(), "run", "tests/topologies/e2e/shell_conformance_spout.cfg", NULL};
    tl_result_t r = run(argv, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "conformance: passed spout.script"), "%s", r.err);
    cr_assert_null(strstr(r.err, "expected"), "%s", r.err);
    cr_assert_str_eq(r.out, "{\"line\": \"one\"}\n");
    tl_result_free(&r);
}

Test(multilang, a_shell_bolt_acks_fails_and_anchors_by_hand)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/in.txt", dir), *stats = tl_path("%s/stats.json", dir);
    tl_write_file(in, "good one\nbad two\ngood three\nbad four\ngood five\n");
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", stats, "tests/topologies/e2e/shell_picky.cfg", NULL};
    tl_result_t r = run(argv, in);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "{\"line\": \"good one\"}\n{\"line\": \"good three\"}\n{\"line\": \"good five\"}\n");
    char *json = tl_read_file(stats, NULL);
    /* The spout hears of every tree: the forwarded lines' trees complete through the sink, the others fail. */
    cr_assert_not_null(strstr(json, "{\"name\": \"lines\", \"kind\": \"spout\", \"tasks\": 1, \"emitted\": 5, "
                                    "\"transferred\": 5, \"executed\": 0, \"acked\": 3, \"failed\": 2"),
                       "%s", json);
    cr_assert_not_null(strstr(json, "{\"name\": \"picky\", \"kind\": \"bolt\", \"tasks\": 1, \"emitted\": 3, "
                                    "\"transferred\": 3, \"executed\": 5, \"acked\": 3, \"failed\": 2, \"errors\": 0"),
                       "%s", json);
    free(json);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(in), free(stats);
}

Test(multilang, a_shell_spout_hears_acks_and_fails_and_replays)
{
    const char *argv[] = {tl_gale(), "run", "tests/topologies/e2e/shell_spout.cfg", NULL};
    tl_result_t r = run(argv, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* chaos fails about a third; the child emits those again until all 500 are acked, then says done. */
    for (int i = 1; i <= 500; i++) {
        char line[40];
        snprintf(line, sizeof line, "{\"n\": \"%d\"}\n", i);
        cr_assert_eq(count_of(r.out, line), 1, "%d reached the sink %ld times", i, count_of(r.out, line));
    }
    const char *said = strstr(r.err, "counting_spout: all 500 acked after ");
    cr_assert_not_null(said, "%s", r.err);
    cr_assert_gt(atoi(said + strlen("counting_spout: all 500 acked after ")), 50, "%s", r.err);
    tl_result_free(&r);
}

Test(multilang, need_task_ids_gives_the_tasks_each_tuple_went_to)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/in.txt", dir);
    tl_write_file(in, "x\ny\nz\nw\n");
    const char *argv[] = {tl_gale(), "run", "--quiet", "tests/topologies/e2e/shell_task_ids.cfg", NULL};
    tl_result_t r = run(argv, in);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* a has tasks 3 and 4 (shuffle: one of them), b has task 5: every emit went to two tasks. */
    int lines = 0;
    for (const char *p = r.out; (p = strstr(p, "{\"ids\": \"[")); p++, lines++) {
        int t1 = 0, t2 = 0;
        cr_assert_eq(sscanf(p, "{\"ids\": \"[%d, %d]\"}", &t1, &t2), 2, "%s", r.out);
        cr_assert((t1 == 3 || t1 == 4) && t2 == 5, "%s", r.out);
    }
    cr_assert_eq(lines, 4, "%s", r.out);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(in);
}

Test(multilang, a_shell_bolt_emits_on_its_direct_stream_to_the_tasks_it_names)
{
    char *dir = tl_tmpdir(), *events = tl_path("%s/events", dir), *set = tl_path("probe.events=%s", events);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--set", set, "tests/topologies/e2e/shell_direct.cfg", NULL};
    tl_result_t r = run(argv, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_null(strstr(r.err, "ERROR"), "%s", r.err);
    char *text = tl_read_file(events, NULL);
    cr_assert_not_null(text, "the probe executed nothing\n%s", r.err);
    /* probe's tasks are 3 and 4: the bolt sent n to 3 + n % 2, and every n arrived there once */
    for (int n = 1; n <= 20; n++) {
        char line[64];
        snprintf(line, sizeof line, "execute probe#%d %d\n", 3 + n % 2, n);
        cr_assert_eq(count_of(text, line), 1, "%s once expected in:\n%s", line, text);
    }
    cr_assert_eq(count_of(text, "execute "), 20, "%s", text);
    free(text);
    tl_result_free(&r);

    const char *validate[] = {tl_gale(), "validate", "tests/topologies/e2e/shell_direct.cfg", NULL};
    r = run(validate, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "    stream picked: [n] direct\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "    input pick/picked (direct)\n"), "%s", r.out);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(events), free(set);
}

Test(multilang, direct_streams_naming_a_stream_the_settings_do_not_declare_is_an_error)
{
    char *dir = tl_tmpdir(), *cfg = tl_path("%s/t.cfg", dir);
    tl_write_file(
        cfg,
        "name = \"t\";\n"
        "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
        "bolts = ( { name = \"b\"; plugin = \"shell\";\n"
        "            settings = { command = [ \"true\" ]; fields = [ \"w\" ]; direct_streams = [ \"picked\" ]; };\n"
        "            inputs = ( { from = \"s\"; } ); } );\n");
    const char *argv[] = {tl_gale(), "validate", cfg, NULL};
    tl_result_t r = run(argv, NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "setting 'direct_streams': 'picked' is not one of its streams"), "%s", r.err);
    char *where = tl_path("%s:3: bolt 'b': declare of plugin shell failed", cfg);
    cr_assert_not_null(strstr(r.err, where), "%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(cfg), free(where);
}

Test(multilang, tick_tuples_reach_a_shell_bolt_as_in_storm)
{
    /* 5 s, although 1.5 s see 7 ticks on an idle host: a Python started on a loaded one can take seconds. */
    const char *argv[] = {tl_gale(), "run", "--quiet", "--duration", "5", "tests/topologies/e2e/shell_ticks.cfg", NULL};
    tl_result_t r = run(argv, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    long ticks = count_of(r.out, "{\"what\": \"__system/__tick/-1\"}\n");
    cr_assert_geq(ticks, 4, "%ld ticks in 5 s at one per 0.2 s\n%s", ticks, r.out);
    cr_assert_eq(ticks * (long)strlen("{\"what\": \"__system/__tick/-1\"}\n"), (long)strlen(r.out), "%s", r.out);
    cr_assert_null(strstr(r.err, "ERROR"), "a tick acked or anchored to is not an error\n%s", r.err);
    tl_result_free(&r);
}

/* The faulty split, misbehaving once per task after 200 tuples: the run completes by itself with every word.
   `cfg` runs it (shell_faulty.cfg when NULL), under the name `name` in the log, with `pending` open lines. */
static void run_fault_with(const char *fault, const char *cfg, const char *name, const char *pending,
                           const char *expect_in_log)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/in.txt", dir), *out = tl_path("%s/out.txt", dir);
    char *set_in = tl_path("lines.path=%s", in), *set_out = tl_path("sink.path=%s", out);
    char *stats = tl_path("%s/stats.json", dir);
    long counts[10];
    tl_make_lines(in, counts);
    setenv("FAULT", fault, 1);
    setenv("FAULT_AFTER", "200", 1);
    setenv("MARKER_DIR", dir, 1);
    char *set_pending = tl_path("config.max_spout_pending=%s", pending);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", stats, "--set", set_in, "--set", set_out,
                          "--set", set_pending, cfg ? cfg : "tests/topologies/e2e/shell_faulty.cfg", NULL};
    tl_result_t r = run(argv, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, expect_in_log), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "its stderr ended with: \"faulty_split: "), "%s", r.err);
    char *again = tl_path("'%s' started again", name);
    cr_assert_geq(count_of(r.err, again), 1, "%s", r.err);
    free(again), free(set_pending);
    char *text = tl_read_file(out, NULL);
    long seen = 0;
    int k = tl_words_short(text, counts, &seen);
    cr_assert_eq(k, -1, "'%s' reached the sink %ld times, the input has it %ld times\n%s", k >= 0 ? TL_VOCAB[k] : "",
                 seen, k >= 0 ? counts[k] : 0, r.err);
    char *json = tl_read_file(stats, NULL);
    cr_assert_not_null(strstr(json, "{\"name\": \"lines\", "), "%s", json);
    cr_assert_not_null(strstr(json, "\"acked\": 3000, \"failed\": 0"), "every line acked in the end\n%s", json);
    const char *rss = strstr(json, "\"peak_rss_kb\": ");
    cr_assert(rss && atol(rss + 15) < 256 * 1024, "the worker grew to %ld KB", rss ? atol(rss + 15) : -1);
    free(text), free(json);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(in), free(out), free(set_in), free(set_out), free(stats);
}

static void run_fault(const char *fault, const char *expect_in_log)
{
    run_fault_with(fault, NULL, "python3 faulty_split.py", "500", expect_in_log);
}

Test(multilang, a_child_that_crashes_midstream_is_restarted_and_its_tuples_replay)
{
    run_fault("crash", "'python3 faulty_split.py' exited with status 3");
}

Test(multilang, a_child_that_hangs_is_killed_after_the_heartbeat_timeout)
{
    run_fault("hang", "'python3 faulty_split.py' no answer for 1.0 s (heartbeat_timeout_s)");
}

/* Started through `sh -c`, whose python child holds stdout, and fed faster than a pipe holds: the hung child stops
   reading, so the executor's write blocks before another heartbeat can go out; the watchdog must end the write,
   and the kill must reach the whole group, or no end of file ever comes. */
Test(multilang, a_child_that_stops_reading_is_killed_with_what_it_started)
{
    char cwd[4096], *dir = tl_tmpdir();
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    char *cfg = tl_path("%s/sh_faulty.cfg", dir), *text = tl_path(
        "name = \"sh_faulty\";\n"
        "config = { ackers = 1; message_timeout_s = 5; max_retries = 100; retry_backoff_ms = 10; };\n"
        "spouts = ( { name = \"lines\"; plugin = \"file_lines\"; replay = true; settings = { path = \"-\"; }; } );\n"
        "bolts = ( { name = \"split\"; plugin = \"shell\"; parallelism = 2;\n"
        "  settings = { command = [ \"sh\", \"-c\", \"python3 faulty_split.py; exit 0\" ]; cwd = \"%s/tests/multilang\";\n"
        "               fields = [ \"word\" ]; heartbeat_timeout_s = 1.0; };\n"
        "  inputs = ( { from = \"lines\"; } ); },\n"
        "  { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"-\"; }; inputs = ( { from = \"split\"; } ); } );\n",
        cwd);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    run_fault_with("hang", cfg, "sh -c python3 faulty_split.py; exit 0", "3000", "(heartbeat_timeout_s)");
    free(cfg), free(text);
    tl_rmtree(dir);
    free(dir);
}

Test(multilang, a_child_that_prints_garbage_is_restarted)
{
    run_fault("garbage", "malformed output: invalid literal at byte 0 of a message starting 'this is not json");
}

Test(multilang, a_child_sending_a_message_of_too_many_keys_is_restarted)
{
    run_fault("wide", "malformed output: a message with more than 64 keys");
}

Test(multilang, a_child_writing_an_endless_line_cannot_grow_the_worker)
{
    run_fault("endless", "malformed output: a message longer than 65536 bytes, or no line 'end' after it");
}

Test(multilang, bad_shell_settings_and_commands_are_named)
{
    const char *argv[] = {tl_gale(), "run", "--quiet", "--set", "split.command=nothing", "topologies/wordcount_python.cfg", NULL};
    tl_result_t r = run(argv, NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "bolt 'split': setting 'command' must be a list (got a string)"), "%s", r.err);
    tl_result_free(&r);

    char *dir = tl_tmpdir(), *cfg = tl_path("%s/missing.cfg", dir);
    tl_write_file(cfg, "name = \"nocommand\";\n"
                       "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
                       "bolts = ( { name = \"b\"; plugin = \"shell\"; inputs = ( { from = \"s\"; } ); } );\n");
    const char *argv0[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    r = run(argv0, NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "setting 'command' is required"), "%s", r.err);
    tl_result_free(&r);

    tl_write_file(cfg, "name = \"missing\";\n"
                       "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
                       "bolts = ( { name = \"b\"; plugin = \"shell\"; settings = { command = [ \"no-such-program-here\" ]; };\n"
                       "            inputs = ( { from = \"s\"; } ); } );\n");
    const char *argv2[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    r = run(argv2, NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "'no-such-program-here' did not complete the multilang handshake: exited with status 127"),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "cannot run the shell component's command"), "%s", r.err);
    tl_result_free(&r);

    tl_write_file(cfg, "name = \"ser\";\n"
                       "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
                       "bolts = ( { name = \"b\"; plugin = \"shell\"; settings = { command = [ \"true\" ]; serializer = \"xml\"; };\n"
                       "            inputs = ( { from = \"s\"; } ); } );\n");
    r = run(argv2, NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "setting 'serializer' is \"xml\": \"json\" or \"msgpack\""), "%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(cfg);
}
