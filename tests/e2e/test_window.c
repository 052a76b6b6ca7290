/*
 * Windowed bolts through the gale binary: tumbling, sliding and session windows over event time (input out of
 * order within the lag) and over count, each checked line for line against window_ref.py, an independent
 * computation of the same windows from their definition; late tuples to the late stream or dropped and counted;
 * a window whose execute_window fails fails its tuples; processing time; the memory bound; and the errors a user
 * meets in the topology file.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_cluster.h"
#include "testlib.h"

TestSuite(window, .init = tl_use_test_plugins, .timeout = 120);

typedef struct run {
    char *dir, *input, *out, *cfg, *stats;
    tl_result_t r;
} run_t;

/* `n` lines "ID TS" with TS = ID * step, shuffled within blocks of `block` (a fixed pseudo-random order), into
   the run's input. */
static void make_input(run_t *w, long n, long step, int block)
{
    FILE *f = fopen(w->input, "w");
    cr_assert_not_null(f);
    uint64_t x = 2463534242ull;
    long ids[64];
    for (long k = 0; k < n; k += block) {
        int m = (int)(n - k < block ? n - k : block);
        for (int i = 0; i < m; i++) ids[i] = k + i;
        for (int i = m - 1; i > 0; i--) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int j = (int)(x % (uint64_t)(i + 1));
            long t = ids[i];
            ids[i] = ids[j], ids[j] = t;
        }
        for (int i = 0; i < m; i++) fprintf(f, "%ld %ld\n", ids[i], ids[i] * step);
    }
    fclose(f);
}

static void run_init(run_t *w)
{
    memset(w, 0, sizeof *w);
    w->dir = tl_tmpdir();
    w->input = tl_path("%s/in.txt", w->dir);
    w->out = tl_path("%s/windows.txt", w->dir);
    w->cfg = tl_path("%s/w.cfg", w->dir);
    w->stats = tl_path("%s/stats.json", w->dir);
}

static void run_free(run_t *w)
{
    tl_result_free(&w->r);
    tl_rmtree(w->dir);
    free(w->dir), free(w->input), free(w->out), free(w->cfg), free(w->stats);
}

/* The topology: ts_spout (`spout_settings` added) -> win_probe with `window` (and `probe_settings`), `extra` more
   bolts; `config` the config group's members. Runs it to its end with --stats; the result in w->r. */
static void run_topology(run_t *w, const char *config, const char *spout_settings, const char *window,
                         const char *probe_settings, const char *extra)
{
    char *text = tl_path("name = \"w\";\n"
                         "config = { %s };\n"
                         "spouts = ( { name = \"s\"; plugin = \"ts_spout\"; settings = { path = \"%s\"; %s }; } );\n"
                         "bolts = ( { name = \"win\"; plugin = \"win_probe\"; settings = { path = \"%s\"; %s };\n"
                         "            window = { %s };\n"
                         "            inputs = ( { from = \"s\"; } ); }%s );\n",
                         config, w->input, spout_settings, w->out, probe_settings, window, extra);
    cr_assert_eq(tl_write_file(w->cfg, text), 0);
    free(text);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", w->stats, w->cfg, NULL};
    cr_assert_eq(tl_run(argv, NULL, 90, &w->r), 0);
}

/* window_ref.py's windows for the run's input (args: KIND and its options), and its line of late ids. */
static char *reference(const run_t *w, const char *args, char **late)
{
    char *cmd = tl_path("python3 tests/e2e/window_ref.py %s %s", w->input, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    for (size_t got; (got = fread(text + n, 1, cap - n - 1, p)) > 0;) {
        n += got;
        if (n + 1 == cap) text = realloc(text, cap *= 2);
    }
    text[n] = '\0';
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    free(cmd);
    char *at = strstr(text, "late:");
    cr_assert_not_null(at);
    *late = strdup(at);
    *at = '\0';
    return text;
}

/* The probe's windows equal the reference's, line for line; the windows' count is `*fired`. */
static void assert_windows(const run_t *w, const char *args, long *fired)
{
    char *late, *want = reference(w, args, &late);
    char *got = tl_read_file(w->out, NULL);
    cr_assert_not_null(got, "no windows written; gale said: %s", w->r.err);
    if (strcmp(got, want)) { /* the first line that differs, not two whole files */
        const char *g = got, *e = want;
        long line = 1;
        while (*g && *g == *e) {
            if (*g == '\n') line++;
            g++, e++;
        }
        cr_assert_fail("window line %ld differs:\n got: %.300s\nwant: %.300s", line, g, e);
    }
    *fired = 0;
    for (const char *p = want; *p; p++) *fired += *p == '\n';
    free(late), free(want), free(got);
}

static long metric(const run_t *w, const char *name)
{
    char *text = tl_read_file(w->stats, NULL);
    cr_assert_not_null(text, "no --stats; gale said: %s", w->r.err);
    char key[96];
    snprintf(key, sizeof key, "\"name\": \"%s\"", name);
    const char *at = strstr(text, key);
    cr_assert_not_null(at, "no metric %s in %s", name, text);
    long v = tl_json_number(at, "value");
    free(text);
    return v;
}

/* A component's figure in --stats ("acked", "failed", ...). */
static long figure(const run_t *w, const char *component, const char *key)
{
    char *text = tl_read_file(w->stats, NULL);
    cr_assert_not_null(text);
    char name[96];
    snprintf(name, sizeof name, "\"name\": \"%s\"", component);
    const char *at = strstr(text, name);
    cr_assert_not_null(at, "no component %s in %s", component, text);
    long v = tl_json_number(at, key);
    free(text);
    return v;
}

#define ACKED "ackers = 1; max_spout_pending = 0; message_timeout_s = 60;"

/* Event time over 3000 tuples 10 ms apart, shuffled within blocks of 5 (50 ms, under the 100 ms lag). */
static void event_time(const char *window, const char *args)
{
    run_t w;
    run_init(&w);
    make_input(&w, 3000, 10, 5);
    char *win = tl_path("%s timestamp_field = \"ts\"; lag_ms = 100; watermark_ms = 10;", window);
    run_topology(&w, ACKED, "", win, "", "");
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    long fired;
    assert_windows(&w, args, &fired);
    cr_assert_eq(metric(&w, "windows_fired"), fired);
    cr_assert_eq(metric(&w, "window_late_tuples"), 0);
    cr_assert_eq(figure(&w, "s", "acked"), 3000, "every tree completes once its tuple left its windows");
    cr_assert_eq(figure(&w, "s", "failed"), 0);
    free(win);
    run_free(&w);
}

Test(window, event_time_tumbling_windows_match_the_reference)
{
    event_time("type = \"tumbling\"; length_ms = 1000;", "tumbling length=1000 lag=100");
}

Test(window, event_time_sliding_windows_match_the_reference)
{
    event_time("type = \"sliding\"; length_ms = 1000; slide_ms = 300;", "sliding length=1000 slide=300 lag=100");
}

/* Sessions need gaps: ids whose TS is a multiple of 700 ms start a pause (a gap of 400 ms in the time line). */
Test(window, event_time_session_windows_match_the_reference)
{
    run_t w;
    run_init(&w);
    FILE *f = fopen(w.input, "w");
    cr_assert_not_null(f);
    long ts = 0;
    for (long id = 0; id < 2000; id++) { /* out of order by one step at every third tuple */
        long t = id % 3 == 1 ? ts + 10 : id % 3 == 2 ? ts - 10 : ts;
        fprintf(f, "%ld %ld\n", id, t);
        ts += id % 70 == 69 ? 400 : 10;
    }
    fclose(f);
    run_topology(&w, ACKED, "",
                 "type = \"session\"; gap_ms = 150; timestamp_field = \"ts\"; lag_ms = 100; watermark_ms = 10;", "",
                 "");
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    long fired;
    assert_windows(&w, "session gap=150 lag=100", &fired);
    cr_assert_eq(fired, 2000 / 70 + 1, "one session per stretch of activity");
    cr_assert_eq(figure(&w, "s", "acked"), 2000);
    run_free(&w);
}

Test(window, count_tumbling_and_sliding_windows_match_the_reference)
{
    const char *windows[][2] = {
        {"type = \"tumbling\"; length_count = 100;", "tumbling length=100 time=count"},
        {"type = \"sliding\"; length_count = 50; slide_count = 20;", "sliding length=50 slide=20 time=count"},
    };
    for (size_t i = 0; i < 2; i++) {
        run_t w;
        run_init(&w);
        make_input(&w, 1234, 1, 1);
        run_topology(&w, ACKED, "", windows[i][0], "", "");
        cr_assert_eq(w.r.status, 0, "%s", w.r.err);
        long fired;
        assert_windows(&w, windows[i][1], &fired);
        cr_assert_eq(figure(&w, "s", "acked"), 1234);
        run_free(&w);
    }
}

/* After 1000 tuples in order, the spout pauses (its watermark goes out), then sends 40 tuples from long ago and
   500 more in order. */
static void make_late_input(run_t *w)
{
    FILE *f = fopen(w->input, "w");
    cr_assert_not_null(f);
    for (long id = 0; id < 1000; id++) fprintf(f, "%ld %ld\n", id, id * 10);
    for (long id = 1000; id < 1040; id++) fprintf(f, "%ld %ld\n", id, (id - 1000) * 100);
    for (long id = 1040; id < 1540; id++) fprintf(f, "%ld %ld\n", id, (id - 40) * 10);
    fclose(f);
}

Test(window, late_tuples_reach_the_late_stream_and_every_tree_completes)
{
    run_t w;
    run_init(&w);
    make_late_input(&w);
    char *late_out = tl_path("%s/late.json", w.dir);
    char *sink = tl_path(", { name = \"late\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };\n"
                         "    inputs = ( { from = \"win\"; stream = \"too_late\"; } ); }",
                         late_out);
    run_topology(&w, ACKED, "pause_at = 1000; pause_ms = 300;",
                 "type = \"tumbling\"; length_ms = 500; timestamp_field = \"ts\"; lag_ms = 50; watermark_ms = 20; "
                 "late_stream = \"too_late\";",
                 "", sink);
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    long fired;
    assert_windows(&w, "tumbling length=500 lag=50 pause_at=1000", &fired);
    char *got = tl_read_file(late_out, NULL);
    cr_assert_not_null(got);
    long lines = 0;
    for (const char *p = got; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 40, "%s", got);
    for (long id = 1000; id < 1040; id++) {
        char line[64];
        snprintf(line, sizeof line, "{\"id\": %ld, \"ts\": %ld}\n", id, (id - 1000) * 100);
        cr_assert(strstr(got, line), "late tuple %ld not on the late stream", id);
    }
    cr_assert_eq(metric(&w, "window_late_tuples"), 40);
    cr_assert_eq(figure(&w, "s", "acked"), 1540);
    cr_assert_eq(figure(&w, "late", "executed"), 40);
    free(got), free(late_out), free(sink);
    run_free(&w);
}

Test(window, late_tuples_without_a_late_stream_are_dropped_counted_and_acked)
{
    run_t w;
    run_init(&w);
    make_late_input(&w);
    run_topology(&w, ACKED, "pause_at = 1000; pause_ms = 300;",
                 "type = \"sliding\"; length_ms = 500; slide_ms = 250; timestamp_field = \"ts\"; lag_ms = 50; "
                 "watermark_ms = 20;",
                 "", "");
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    long fired;
    assert_windows(&w, "sliding length=500 slide=250 lag=50 pause_at=1000", &fired);
    cr_assert_eq(metric(&w, "window_late_tuples"), 40);
    cr_assert_eq(figure(&w, "s", "acked"), 1540);
    run_free(&w);
}

Test(window, a_failed_execute_window_fails_its_tuples_when_they_leave)
{
    run_t w;
    run_init(&w);
    make_input(&w, 500, 1, 1);
    run_topology(&w, ACKED, "", "type = \"tumbling\"; length_count = 100;", "fail_window = 2;", "");
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    cr_assert(strstr(w.r.err, "execute_window over [200, 300) (100 tuples) failed"), "%s", w.r.err);
    cr_assert_eq(figure(&w, "s", "failed"), 100);
    cr_assert_eq(figure(&w, "s", "acked"), 400);
    run_free(&w);
}

Test(window, processing_time_windows_hold_every_tuple_once_in_aligned_windows)
{
    run_t w;
    run_init(&w);
    make_input(&w, 20000, 1, 1);
    run_topology(&w, ACKED, "", "type = \"tumbling\"; length_ms = 20;", "", "");
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    char *got = tl_read_file(w.out, NULL);
    cr_assert_not_null(got);
    static char seen[20000];
    memset(seen, 0, sizeof seen);
    long windows = 0, tuples = 0, last_end = 0;
    for (char *p = got, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        *nl = '\0';
        long long start, end;
        cr_assert_eq(sscanf(p, "%lld %lld", &start, &end), 2);
        cr_assert_eq(end - start, 20, "%s", p);
        cr_assert_eq(start % 20, 0, "windows are aligned to their length: %s", p);
        cr_assert_gt(end, last_end, "in order");
        last_end = (long)end;
        char *ids = strchr(p, '|') + 1, *stop = strchr(ids, '|');
        *stop = '\0';
        for (char *q = ids, *e; (strtol(q, &e, 10), e != q); q = e) {
            long id = strtol(q, NULL, 10);
            cr_assert(id >= 0 && id < 20000 && !seen[id], "tuple %ld in two windows", id);
            seen[id] = 1;
            tuples++;
        }
        windows++;
    }
    cr_assert_eq(tuples, 20000, "every tuple in one window");
    cr_assert_geq(windows, 1);
    cr_assert_eq(figure(&w, "s", "acked"), 20000);
    free(got);
    run_free(&w);
}

Test(window, tuples_past_the_memory_bound_are_failed_not_held)
{
    run_t w;
    run_init(&w);
    /* A processing-time window of a minute would hold all of the million tuples (some 290 MB); 32 MB hold some
       123000 at 272 bytes each. */
    char *text =
        tl_path("name = \"w\";\nconfig = { ackers = 1; max_spout_pending = 0; message_timeout_s = 120; };\n"
                "spouts = ( { name = \"s\"; plugin = \"ckpt_seq\"; settings = { count = 1000000; every = 64; }; } );\n"
                "bolts = ( { name = \"win\"; plugin = \"win_probe\";\n"
                "            window = { type = \"tumbling\"; length_ms = 60000; max_mb = 32; };\n"
                "            inputs = ( { from = \"s\"; } ); } );\n");
    cr_assert_eq(tl_write_file(w.cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", w.stats, w.cfg, NULL};
    cr_assert_eq(tl_run(argv, NULL, 90, &w.r), 0);
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    long full = metric(&w, "window_full_failed"), held = figure(&w, "s", "acked");
    cr_assert_eq(figure(&w, "s", "failed"), full, "each tuple over the bound is failed, so that it can replay");
    cr_assert_eq(held + full, 1000000);
    cr_assert(held > 100000 && held <= (32 << 20) / 272, "%ld held within 32 MB", held);
    cr_assert(strstr(w.r.err, "window.max_mb is 32: an input is failed"), "%s", w.r.err);
    char *stats = tl_read_file(w.stats, NULL);
    long rss_kb = tl_json_number(stats, "peak_rss_kb");
    if (!getenv("SANITIZE") || !*getenv("SANITIZE")) /* the sanitizers' shadow and quarantine are not the run's */
        cr_assert_lt(rss_kb, (32 + 64) * 1024, "peak RSS %ld KB: the window's 32 MB and the run's own", rss_kb);
    free(stats), free(text);
    run_free(&w);
}

/* ---- the topology file ------------------------------------------------------------------------------------ */

static void assert_refused(const char *config, const char *bolt, const char *window, const char *want)
{
    char *dir = tl_tmpdir(), *cfg = tl_path("%s/w.cfg", dir);
    char *text = tl_path("name = \"w\";\nconfig = { %s };\n"
                         "spouts = ( { name = \"s\"; plugin = \"ts_spout\"; settings = { path = \"x\"; }; } );\n"
                         "bolts = ( { name = \"b\"; plugin = \"%s\";\n"
                         "            window = { %s };\n"
                         "            inputs = ( { from = \"s\"; } ); } );\n",
                         config, bolt, window);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    tl_result_t r;
    const char *validate[] = {tl_gale(), "validate", cfg, NULL};
    cr_assert_eq(tl_run(validate, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, want), "wanted: %s\ngot: %s", want, r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(cfg), free(text);
}

Test(window, validate_refuses_a_timeout_shorter_than_the_window)
{
    assert_refused("message_timeout_s = 10;", "win_probe",
                   "type = \"sliding\"; length_ms = 8000; slide_ms = 4000; timestamp_field = \"ts\"; lag_ms = 500;",
                   "w.cfg:5: bolt 'b': its window keeps a tuple up to length_ms 8000 + slide_ms 4000 + lag_ms 500 = "
                   "12500 ms, and config.message_timeout_s is 10 s");
}

Test(window, validate_refuses_a_count_window_over_max_spout_pending)
{
    assert_refused("max_spout_pending = 500;", "win_probe",
                   "type = \"sliding\"; length_count = 400; slide_count = 200;",
                   "w.cfg:5: bolt 'b': its window holds up to length_count + slide_count = 600 tuples, and "
                   "config.max_spout_pending is 500");
}

Test(window, validate_refuses_a_count_window_over_its_memory_bound)
{
    assert_refused("max_spout_pending = 0;", "win_probe", "type = \"tumbling\"; length_count = 5000000; max_mb = 100;",
                   "its window holds up to 10000000 tuples, at least 2593 MB at 272 bytes a tuple, over "
                   "window.max_mb = 100");
}

Test(window, validate_refuses_a_window_on_a_bolt_without_execute_window)
{
    assert_refused("", "split_upper", "type = \"tumbling\"; length_ms = 100;",
                   "w.cfg:5: bolt 'b': it has a window, but plugin split_upper has no execute_window");
}

Test(window, validate_refuses_a_window_plugin_on_a_bolt_without_a_window)
{
    char *dir = tl_tmpdir(), *cfg = tl_path("%s/w.cfg", dir);
    cr_assert_eq(tl_write_file(cfg,
                               "name = \"w\";\n"
                               "spouts = ( { name = \"s\"; plugin = \"ts_spout\"; settings = { path = \"x\"; }; } );\n"
                               "bolts = ( { name = \"b\"; plugin = \"win_probe\";\n"
                               "            inputs = ( { from = \"s\"; } ); } );\n"),
                 0);
    tl_result_t r;
    const char *validate[] = {tl_gale(), "validate", cfg, NULL};
    cr_assert_eq(tl_run(validate, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "w.cfg:3: bolt 'b': plugin win_probe executes windows only (execute_window, no execute): "
                            "give the bolt a window"),
              "%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(cfg);
}

/* ---- worker mode ------------------------------------------------------------------------------------------ */

/* With two workers the spout runs in worker 0 and the window in worker 1 (the scheduler's round robin): the
   watermarks cross in CONTROL frames behind the tuples, and the windows are the same. The probe's outputs,
   anchored to windows of 300 tuples of 300 trees, cross back to a sink in worker 0, so their roots are more than a
   tuple header's byte counts, and every tree completes through them. */
Test(window, in_worker_mode_event_time_windows_match_the_reference_across_workers)
{
    run_t w;
    run_init(&w);
    make_input(&w, 3000, 10, 5);
    char *sink_out = tl_path("%s/sink.json", w.dir);
    char *text = tl_path("name = \"w\";\nconfig = { " ACKED " };\n"
                         "spouts = ( { name = \"s\"; plugin = \"ts_spout\"; settings = { path = \"%s\"; }; } );\n"
                         "bolts = ( { name = \"win\"; plugin = \"win_probe\"; settings = { path = \"%s\"; };\n"
                         "            window = { type = \"sliding\"; length_ms = 3000; slide_ms = 1000; "
                         "timestamp_field = \"ts\"; lag_ms = 100; watermark_ms = 10; };\n"
                         "            inputs = ( { from = \"s\"; } ); },\n"
                         "          { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };\n"
                         "            inputs = ( { from = \"win\"; } ); } );\n",
                         w.input, w.out, sink_out);
    cr_assert_eq(tl_write_file(w.cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--workers", "2", "--stats", w.stats, w.cfg, NULL};
    cr_assert_eq(tl_run(argv, NULL, 90, &w.r), 0);
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    long fired;
    assert_windows(&w, "sliding length=3000 slide=1000 lag=100", &fired);
    cr_assert_eq(figure(&w, "s", "acked"), 3000, "every tree completes, through outputs of 300 roots");
    cr_assert_eq(figure(&w, "s", "failed"), 0);
    cr_assert_eq(figure(&w, "sink", "executed"), fired, "each window's output crossed to the sink");
    free(sink_out), free(text);
    run_free(&w);
}

/* Cluster mode: nimbus ships the model, windows and all, to a supervisor whose two workers run the spout and the
   window apart; two slots on one supervisor, so that the topology ends by itself and its last windows fire. */
Test(window, in_a_cluster_event_time_windows_match_the_reference, .timeout = 240)
{
    run_t w;
    run_init(&w);
    tl_cluster_t c;
    tl_cluster_start(&c, 1, 2);
    free(w.input), free(w.out); /* in the folder the supervisors may read and write */
    w.input = tl_path("%s/in.txt", c.dir);
    w.out = tl_path("%s/windows.txt", c.dir);
    char *text = tl_path("name = \"wc\";\nconfig = { workers = 2; " ACKED " };\n"
                         "spouts = ( { name = \"s\"; plugin = \"ts_spout\"; settings = { path = \"%s\"; }; } );\n"
                         "bolts = ( { name = \"win\"; plugin = \"win_probe\"; settings = { path = \"%s\"; };\n"
                         "            window = { type = \"session\"; gap_ms = 25; timestamp_field = \"ts\"; "
                         "lag_ms = 100; watermark_ms = 10; };\n"
                         "            inputs = ( { from = \"s\"; } ); } );\n",
                         w.input, w.out);
    cr_assert_eq(tl_write_file(w.cfg, text), 0);
    /* 10 ms between tuples, and a second more after every hundredth: twenty sessions. */
    FILE *f = fopen(w.input, "w");
    cr_assert_not_null(f);
    for (long id = 0; id < 2000; id++) fprintf(f, "%ld %ld\n", id, id * 10 + (id / 100) * 1000);
    fclose(f);
    tl_result_t r = TL_VERB(&c, "submit", w.cfg);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    tl_result_free(&r);
    tl_cluster_wait_log(&c, 0, "wc: finished: every part ended by itself");
    long fired;
    assert_windows(&w, "session gap=25 lag=100", &fired);
    cr_assert_eq(fired, 20, "a session per hundred tuples");
    free(text);
    tl_cluster_free(&c);
    run_free(&w);
}

/* ---- shipped: window_stats, topologies/window_words.cfg ---------------------------------------------------- */

Test(window, window_words_counts_every_word_of_the_file_once_over_its_windows)
{
    char *dir = tl_tmpdir(), *out = tl_path("%s/out.json", dir), *set = tl_path("sink.path=%s", out);
    tl_result_t r;
    const char *argv[] = {tl_gale(), "run", "--quiet", "--set", set, "topologies/window_words.cfg", NULL};
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *cmd = tl_path("python3 -c \"import json,collections,sys\n"
                        "got=collections.Counter(); per=collections.Counter()\n"
                        "for l in open('%s'):\n"
                        "  d=json.loads(l); got[d['key']]+=d['count']; per[d['start']]+=d['count']\n"
                        "  assert d['end']-d['start']==100 and d['start']%%100==0, l\n"
                        "want=collections.Counter(open('topologies/data/sample.txt').read().split())\n"
                        "assert got==want, (got-want, want-got)\n"
                        "assert all(v==100 for s,v in per.items() if s<max(per)), per\n"
                        "print(sum(got.values()))\"",
                        out);
    FILE *p = popen(cmd, "r");
    char line[64] = "";
    cr_assert(fgets(line, sizeof line, p));
    cr_assert_eq(pclose(p), 0, "the windows' counts are not the file's");
    cr_assert_gt(atol(line), 300);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(out), free(set), free(cmd);
}

/* Event-time sliding windows per key with sums, against the same computation in Python. */
Test(window, window_stats_sums_per_key_in_event_time_windows_match_the_reference)
{
    run_t w;
    run_init(&w);
    make_input(&w, 3000, 7, 4); /* ts = id * 7, out of order by under 28 ms */
    char *stats_out = tl_path("%s/stats.jsonl", w.dir);
    char *text =
        tl_path("name = \"w\";\nconfig = { " ACKED " };\n"
                "spouts = ( { name = \"s\"; plugin = \"ts_spout\"; settings = { path = \"%s\"; }; } );\n"
                "bolts = ( { name = \"st\"; plugin = \"window_stats\"; settings = { key = \"id\"; value = \"ts\"; };\n"
                "            window = { type = \"sliding\"; length_ms = 700; slide_ms = 350; timestamp_field = "
                "\"ts\"; lag_ms = 50; watermark_ms = 10; };\n"
                "            inputs = ( { from = \"s\"; } ); },\n"
                "          { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };\n"
                "            inputs = ( { from = \"st\"; } ); } );\n",
                w.input, stats_out);
    cr_assert_eq(tl_write_file(w.cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", w.cfg, NULL};
    cr_assert_eq(tl_run(argv, NULL, 60, &w.r), 0);
    cr_assert_eq(w.r.status, 0, "%s", w.r.err);
    /* Grouped by id, each tuple is a group of its own in each of its two windows: count 1, sum its ts. */
    char *cmd = tl_path("python3 -c \"import json,collections\n"
                        "rows=[tuple(map(int,l.split())) for l in open('%s')]\n"
                        "want={}\n"
                        "for e in range(350, 3000*7+700+350, 350):\n"
                        "  for i,ts in rows:\n"
                        "    if e-700<=ts<e: want[(i,e)]=(1,ts)\n"
                        "got={}\n"
                        "for l in open('%s'):\n"
                        "  d=json.loads(l); got[(d['key'],d['end'])]=(d['count'],int(d['sum']))\n"
                        "  assert d['min']==d['max']==d['sum'] and d['end']-d['start']==700, l\n"
                        "assert got==want, (len(got),len(want))\n"
                        "print(len(got))\"",
                        w.input, stats_out);
    FILE *p = popen(cmd, "r");
    char line[64] = "";
    cr_assert(fgets(line, sizeof line, p));
    cr_assert_eq(pclose(p), 0, "window_stats' output is not the reference's");
    cr_assert_eq(atol(line), 6000, "each tuple in two windows");
    free(stats_out), free(text), free(cmd);
    run_free(&w);
}

/* ---- checkpoints -------------------------------------------------------------------------------------------- */

/* ckpt_seq (its position is its state) emits n = 1 .. N; window_stats sums n in event-time tumbling windows of
   1000 over n, per task of `par` (a fields grouping on n spreads the tuples), into a transactional sink. */
static char *ckpt_topology(const run_t *w, long n, int par, const char *sink, const char *state)
{
    return tl_path(
        "name = \"wck\";\n"
        "config = { ackers = 1; max_spout_pending = 0; message_timeout_s = 60; checkpoint_interval_ms = 20;\n"
        "           state_path = \"%s\"; };\n"
        "spouts = ( { name = \"s\"; plugin = \"ckpt_seq\"; settings = { count = %ld; every = 8; }; } );\n"
        "bolts = ( { name = \"win\"; plugin = \"window_stats\"; parallelism = %d; settings = { value = \"n\"; };\n"
        "            window = { type = \"tumbling\"; length_ms = 1000; timestamp_field = \"n\"; lag_ms = 0;\n"
        "                       watermark_ms = 5; };\n"
        "            inputs = ( { from = \"s\"; grouping = \"fields\"; fields = [ \"n\" ]; } ); },\n"
        "          { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; transactional = true; };\n"
        "            inputs = ( { from = \"win\"; } ); } );\n",
        state, n, par, sink);
    (void)w;
}

/* The latest complete checkpoint in the file backend, 0 when none. */
static uint64_t latest_checkpoint(const char *state)
{
    char *p = tl_path("%s/wck/latest", state), *text = tl_read_file(p, NULL), *at = text ? strstr(text, "\nid ") : NULL;
    uint64_t id = at ? strtoull(at + 4, NULL, 10) : 0;
    free(p), free(text);
    return id;
}

/* The sink's windows summed over the tasks equal windows of 1000 over 1 .. n, each exactly once per task. */
static void assert_exact_windows(const char *sink, long n)
{
    char *cmd = tl_path("python3 -c \"import json,collections\n"
                        "got=collections.defaultdict(lambda:[0,0]); seen=set()\n"
                        "for l in open('%s'):\n"
                        "  d=json.loads(l); assert (l not in seen), 'twice: '+l; seen.add(l)\n"
                        "  g=got[d['start']]; g[0]+=d['count']; g[1]+=int(d['sum'])\n"
                        "want=collections.defaultdict(lambda:[0,0])\n"
                        "for i in range(1,%ld+1): w=want[i//1000*1000]; w[0]+=1; w[1]+=i\n"
                        "bad=[(k,got.get(k),want[k]) for k in want if got.get(k)!=want[k]]\n"
                        "assert not bad and len(got)==len(want), bad[:3]\n"
                        "print(len(got))\"",
                        sink, n);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    cr_assert(fgets(line, sizeof line, p));
    cr_assert_eq(pclose(p), 0, "the windows are not exact after the crash: %s", line);
    cr_assert_eq(atol(line), n / 1000 + 1);
    free(cmd);
}

/* Runs the topology at `par` tasks in the background until a checkpoint past the first few holds the windows'
   state, then SIGKILLs it. */
static void run_and_kill(run_t *w, long n, int par, const char *sink, const char *state)
{
    char *text = ckpt_topology(w, n, par, sink, state);
    cr_assert_eq(tl_write_file(w->cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", w->cfg, NULL};
    pid_t pid = tl_spawn(argv, w->dir); /* its output in w->dir/out.txt and err.txt */
    tl_remember(pid);
    double until = tl_now_s() + 60;
    while (latest_checkpoint(state) < 5 && tl_alive(pid) && tl_now_s() < until) tl_sleep_ms(2);
    cr_assert(tl_alive(pid), "the run ended before it could be killed: make it longer");
    cr_assert_geq(latest_checkpoint(state), 5);
    kill(pid, SIGKILL);
    bool timed_out;
    tl_wait(pid, 10, &timed_out);
    free(text);
}

/* Worker mode: the run of `par` window tasks over two workers, a worker SIGKILLed once a checkpoint past the first
   few holds the windows' state; the supervisor starts every worker again from it, and the run goes to its end. */
static void run_workers_kill_one(run_t *w, long n, int par, const char *sink, const char *state)
{
    char *text = ckpt_topology(w, n, par, sink, state);
    cr_assert_eq(tl_write_file(w->cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--workers", "2", w->cfg, NULL};
    pid_t pid = tl_spawn(argv, w->dir);
    tl_remember(pid);
    double until = tl_now_s() + 60;
    while (latest_checkpoint(state) < 5 && tl_alive(pid) && tl_now_s() < until) tl_sleep_ms(2);
    pid_t worker = tl_worker_pid(pid, 1);
    cr_assert(worker > 0 && tl_alive(pid), "the run ended before a worker could be killed: make it longer");
    kill(worker, SIGKILL);
    bool timed_out;
    cr_assert_eq(tl_wait(pid, 120, &timed_out), 0, "the run did not end well after a worker was killed");
    cr_assert_not(timed_out);
    char *err_path = tl_path("%s/err.txt", w->dir), *err = tl_read_file(err_path, NULL);
    cr_assert(err && strstr(err, "restored checkpoint"), "no worker restored a checkpoint: %s", err);
    free(err_path), free(err), free(text);
}

static void finish_run(run_t *w, long n, int par, const char *sink, const char *state)
{
    char *text = ckpt_topology(w, n, par, sink, state);
    cr_assert_eq(tl_write_file(w->cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", w->cfg, NULL};
    tl_result_free(&w->r);
    cr_assert_eq(tl_run(argv, NULL, 120, &w->r), 0);
    cr_assert_eq(w->r.status, 0, "%s", w->r.err);
    cr_assert(strstr(w->r.err, "restored checkpoint"), "the second run started afresh: %s", w->r.err);
    free(text);
}

/* Three million tuples, killed (local mode: the run; workers: one worker) after five checkpoints, run to the end
   at `par_after` window tasks (0: in worker mode, where the supervisor restarts every worker itself). */
static void exact_after_kill(int par_before, int par_after)
{
    run_t w;
    run_init(&w);
    char *sink = tl_path("%s/windows.jsonl", w.dir), *state = tl_path("%s/state", w.dir);
    long n = 3000000;
    if (par_after) {
        run_and_kill(&w, n, par_before, sink, state);
        finish_run(&w, n, par_after, sink, state);
    } else {
        run_workers_kill_one(&w, n, par_before, sink, state);
    }
    assert_exact_windows(sink, n);
    free(sink), free(state);
    run_free(&w);
}

Test(window, windows_are_exact_after_a_kill_with_checkpoints_and_a_transactional_sink, .fini = tl_kill_remembered)
{
    exact_after_kill(2, 2);
}

Test(window, windows_held_at_a_kill_move_with_their_keys_to_more_tasks, .fini = tl_kill_remembered)
{
    exact_after_kill(2, 3);
}

Test(window, in_worker_mode_windows_are_exact_after_a_worker_is_killed, .fini = tl_kill_remembered)
{
    exact_after_kill(2, 0);
}
