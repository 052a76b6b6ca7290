/* End to end: real topologies run through the gale binary, with exact outputs checked. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

static void use_test_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(run, .init = use_test_plugins, .timeout = 120);

/* ---- word count, against an independent count ------------------------------------------------------------ */

typedef struct word_count {
    char word[64];
    long count;
} word_count_t;

static int cmp_word(const void *a, const void *b) { return strcmp(((const word_count_t *)a)->word, ((const word_count_t *)b)->word); }

/* A fixed text: 3000 lines of words drawn with a fixed LCG from a vocabulary with a skewed distribution. */
static char *make_text(const char *path, word_count_t *expect, size_t *n_expect)
{
    static const char *vocab[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "storm",
                                  "gale", "tuple", "bolt", "spout", "stream", "wind", "rain", "sun", "a",
                                  "I", "caf\xc3\xa9", "x-y", "don't", "\"quoted\"", "back\\slash"};
    size_t nv = sizeof vocab / sizeof *vocab;
    long counts[64] = {0};
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    uint32_t x = 12345;
    for (int line = 0; line < 3000; line++) {
        int words = (int)(x % 12);
        for (int w = 0; w < words; w++) {
            x = x * 1103515245u + 12345u;
            size_t i = (x >> 16) % nv;
            if (i > nv / 2 && (x & 0x100)) i %= 4; /* make a few words hot */
            counts[i]++;
            fprintf(f, "%s%s", w ? (x & 0x200 ? "  " : " ") : "", vocab[i]);
        }
        x = x * 1103515245u + 12345u;
        fputs(line % 7 == 0 ? "\r\n" : "\n", f);
    }
    fclose(f);
    *n_expect = 0;
    for (size_t i = 0; i < nv; i++) {
        if (!counts[i]) continue;
        snprintf(expect[*n_expect].word, sizeof expect->word, "%s", vocab[i]);
        expect[(*n_expect)++].count = counts[i];
    }
    qsort(expect, *n_expect, sizeof *expect, cmp_word);
    return NULL;
}

/* Reads the sink's JSON lines {"word": W, "count": N}, undoing the escapes JSON needs for our vocabulary. */
static size_t read_counts(const char *text, word_count_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *w = strstr(p, "\"word\": \"");
        cr_assert_not_null(w, "bad line: %.80s", p);
        w += 9;
        char word[64];
        size_t k = 0;
        while (*w && *w != '"' && k < sizeof word - 1) {
            if (*w == '\\') w++;
            word[k++] = *w++;
        }
        word[k] = '\0';
        const char *c = strstr(w, "\"count\": ");
        cr_assert_not_null(c, "no count: %.80s", p);
        cr_assert_lt(n, cap);
        snprintf(out[n].word, sizeof out->word, "%s", word);
        out[n++].count = atol(c + 9);
        p = nl ? nl + 1 : NULL;
    }
    qsort(out, n, sizeof *out, cmp_word);
    return n;
}

typedef struct threads_param {
    int threads, workers;
} threads_param_t;

/* The same counts in one thread, several, and several worker processes. */
ParameterizedTestParameters(run, wordcount_file_exact_counts)
{
    static threads_param_t params[] = {{1, 1}, {2, 1}, {3, 1}, {1, 3}, {2, 2}};
    return cr_make_param_array(threads_param_t, params, 5);
}

ParameterizedTest(threads_param_t *p, run, wordcount_file_exact_counts)
{
    char *dir = tl_tmpdir();
    char *in = tl_path("%s/in.txt", dir), *out = tl_path("%s/out.jsonl", dir);
    word_count_t expect[64], got[64];
    size_t n_expect, n_got;
    make_text(in, expect, &n_expect);
    char *set_in = tl_path("lines.path=%s", in), *set_out = tl_path("sink.path=%s", out);
    char threads[16], workers[16];
    snprintf(threads, sizeof threads, "%d", p->threads);
    snprintf(workers, sizeof workers, "%d", p->workers);
    const char *argv[] = {tl_gale(), "run", "--threads", threads, "--workers", workers, "--set", set_in, "--set", set_out,
                          "topologies/wordcount_file.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    char *text = tl_read_file(out, NULL);
    cr_assert_not_null(text, "no output file\n%s", r.err);
    n_got = read_counts(text, got, 64);
    cr_assert_eq(n_got, n_expect, "%zu distinct words, expected %zu\n%s", n_got, n_expect, text);
    for (size_t i = 0; i < n_expect; i++) {
        cr_assert_str_eq(got[i].word, expect[i].word);
        cr_assert_eq(got[i].count, expect[i].count, "'%s': %ld, expected %ld", got[i].word, got[i].count,
                     expect[i].count);
    }
    free(text);
    tl_result_free(&r);
    free(set_in);
    free(set_out);
    free(in);
    free(out);
    tl_rmtree(dir);
    free(dir);
}

/* ---- lifecycle ----------------------------------------------------------------------------------------- */

/* Index of the first and last line in `events` that start with `prefix`; -1 when none. */
static void line_range(const char *events, const char *prefix, long *first, long *last)
{
    *first = *last = -1;
    long i = 0;
    size_t n = strlen(prefix);
    for (const char *p = events; *p; i++) {
        if (!strncmp(p, prefix, n)) {
            if (*first < 0) *first = i;
            *last = i;
        }
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
    }
}

static long count_lines(const char *events, const char *prefix)
{
    long count = 0;
    size_t n = strlen(prefix);
    for (const char *p = events; *p;) {
        if (!strncmp(p, prefix, n)) count++;
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
    }
    return count;
}

Test(run, finish_runs_in_topological_order_after_upstream_drained)
{
    char *dir = tl_tmpdir();
    char *events = tl_path("%s/events", dir);
    char *sa = tl_path("a.events=%s", events), *sb = tl_path("b.events=%s", events), *sc = tl_path("c.events=%s", events);
    const char *argv[] = {tl_gale(), "run", "--set", sa, "--set", sb, "--set", sc, "tests/topologies/e2e/chain.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    char *ev = tl_read_file(events, NULL);
    cr_assert_not_null(ev);
    long fa0, fa1, fb0, fb1, fc0, fc1, eb0, eb1, ec0, ec1, cl0, cl1;
    line_range(ev, "finish a#", &fa0, &fa1);
    line_range(ev, "finish b#", &fb0, &fb1);
    line_range(ev, "finish c#", &fc0, &fc1);
    line_range(ev, "execute b#", &eb0, &eb1);
    line_range(ev, "execute c#", &ec0, &ec1);
    line_range(ev, "cleanup", &cl0, &cl1);
    cr_assert_eq(count_lines(ev, "finish a#"), 2);
    cr_assert_eq(count_lines(ev, "finish b#"), 3);
    cr_assert_eq(count_lines(ev, "finish c#"), 1);
    cr_assert(fa1 < fb0 && fb1 < fc0, "finishes out of order:\n%s", ev);
    /* What a finish emits is processed before the next component finishes. */
    cr_assert(eb1 < fb0, "b executed after finishing:\n%s", ev);
    cr_assert(ec1 < fc0, "c executed after finishing:\n%s", ev);
    /* b saw 100 tuples and the 2 that a's tasks emitted from finish; c saw b's 102 and b's 3 finish tuples. */
    cr_assert_eq(count_lines(ev, "execute a#"), 100);
    cr_assert_eq(count_lines(ev, "execute b#"), 102);
    cr_assert_eq(count_lines(ev, "execute c#"), 105);
    cr_assert_eq(count_lines(ev, "execute c#7 -2"), 1, "c did not get a's finish tuples through b\n%s", ev);
    cr_assert_eq(count_lines(ev, "cleanup"), 6);
    cr_assert_gt(cl0, fc1, "cleanup before the last finish");
    free(ev);
    tl_result_free(&r);
    free(sa), free(sb), free(sc), free(events);
    tl_rmtree(dir);
    free(dir);
}

static long rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *s = tl_read_file(path, NULL);
    if (!s) return -1;
    const char *p = strstr(s, "VmRSS:");
    long kb = p ? atol(p + 6) : -1;
    free(s);
    return kb;
}

Test(run, slow_bolt_keeps_memory_bounded)
{
    char *dir = tl_tmpdir();
    const char *argv[] = {tl_gale(), "run", "--duration", "3", "tests/topologies/e2e/slow.cfg", NULL};
    pid_t pid = tl_spawn(argv, dir);
    cr_assert_gt(pid, 0);
    long max_kb = 0;
    for (int i = 0; i < 60; i++) { /* the first 3 s, sampled every 50 ms */
        long kb = rss_kb(pid);
        if (kb > max_kb) max_kb = kb;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    bool timed_out;
    int st = tl_wait(pid, 30, &timed_out);
    char *err_path = tl_path("%s/err.txt", dir);
    char *err = tl_read_file(err_path, NULL);
    free(err_path);
    cr_assert_not(timed_out);
    cr_assert_eq(st, 0, "exit %d\n%s", st, err);
    /* Unbounded queueing would hold gigabytes after 3 s of a spout emitting 4 KiB tuples at full speed into a
       bolt that takes 100 us each; the rings bound it to a few MiB (sanitizer builds add their own overhead). */
    cr_assert_lt(max_kb, 256 * 1024, "peak RSS %ld KiB\n%s", max_kb, err);
    free(err);
    tl_rmtree(dir);
    free(dir);
}

Test(run, sigterm_drains_finishes_and_exits_zero)
{
    char *dir = tl_tmpdir();
    char *events = tl_path("%s/events", dir);
    char *set = tl_path("slow.events=%s", events);
    const char *argv[] = {tl_gale(), "run", "--set", set, "tests/topologies/e2e/slow.cfg", NULL};
    pid_t pid = tl_spawn(argv, dir);
    cr_assert_gt(pid, 0);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    kill(pid, SIGTERM);
    bool timed_out;
    int st = tl_wait(pid, 30, &timed_out);
    char *err_path = tl_path("%s/err.txt", dir);
    char *err = tl_read_file(err_path, NULL);
    cr_assert_not(timed_out);
    cr_assert_eq(st, 0, "exit %d\n%s", st, err);
    cr_assert_not_null(strstr(err, "SIGTERM"), "%s", err);
    cr_assert_not_null(strstr(err, "topology 'slow' ran"), "no metrics:\n%s", err);
    char *ev = tl_read_file(events, NULL);
    cr_assert_eq(count_lines(ev, "finish slow#"), 1, "%s", err);
    cr_assert_eq(count_lines(ev, "cleanup slow#"), 1);
    free(ev);
    free(err);
    free(err_path);
    free(set);
    free(events);
    tl_rmtree(dir);
    free(dir);
}

Test(run, duration_stops_an_unbounded_topology)
{
    const char *argv[] = {tl_gale(), "run", "--duration", "0.5", "tests/topologies/e2e/slow.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "duration reached"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "fast"), "%s", r.err);
    tl_result_free(&r);
}

Test(run, wrong_value_count_is_reported_against_the_component)
{
    const char *argv[] = {tl_gale(), "run", "--set", "a.wrong_arity=true", "tests/topologies/e2e/chain.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "emit of 2 values on stream 'default', which declares 1 fields (n)"), "%s",
                       r.err);
    cr_assert_not_null(strstr(r.err, "[a#2]"), "not attributed to a's task:\n%s", r.err);
    tl_result_free(&r);
}

/* The metrics name each component's last error, its task and its time (Storm UI's lastError), in local mode and
   merged over workers. */
Test(run, the_metrics_carry_the_last_error_of_each_component)
{
    const char *modes[] = {"1", "2"};
    for (int k = 0; k < 2; k++) {
        char *dir = tl_tmpdir(), *stats = tl_path("%s/stats.json", dir);
        time_t before = time(NULL);
        const char *argv[] = {tl_gale(), "run", "--quiet", "--workers",          modes[k],
                              "--stats", stats, "--set",   "a.wrong_arity=true", "tests/topologies/e2e/chain.cfg",
                              NULL};
        tl_result_t r;
        cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
        cr_assert_eq(r.status, 0, "%s", r.err);
        char *doc = tl_read_file(stats, NULL);
        cr_assert_not_null(doc, "%s", r.err);
        const char *a = strstr(doc, "{\"name\": \"a\"");
        const char *last = a ? strstr(a, "\"last_error\": {\"time_ms\": ") : NULL;
        cr_assert_not_null(last, "--workers %s: no last error of a:\n%s", modes[k], doc);
        long long ms = atoll(last + strlen("\"last_error\": {\"time_ms\": "));
        cr_assert(ms / 1000 >= before - 1 && ms / 1000 <= time(NULL) + 1, "time %lld", ms);
        const char *task = strstr(last, "\"task\": ");
        int t = task ? atoi(task + strlen("\"task\": ")) : 0;
        cr_assert(t == 2 || t == 3, "the error of a task of a (2 or 3), not %d", t);
        const char *text = strstr(last, "\"error\": \"");
        cr_assert(text && strstr(text, "value count does not match the declared fields"), "%s", last);
        const char *b = strstr(doc, "{\"name\": \"b\"");
        cr_assert(b && strstr(b, "\"last_error\": null"), "b had no error:\n%s", doc);
        tl_result_free(&r);
        /* And in the table, under a's row. */
        const char *shown[] = {
            tl_gale(), "run", "--workers", modes[k], "--set", "a.wrong_arity=true", "tests/topologies/e2e/chain.cfg",
            NULL};
        cr_assert_eq(tl_run(shown, NULL, 60, &r), 0);
        const char *row = strstr(r.err, "\na ");
        cr_assert(row && strstr(row, "\n  last error, task "), "%s", r.err);
        cr_assert_not_null(strstr(r.err, ": execute failed: value count does not match the declared fields"), "%s",
                           r.err);
        tl_result_free(&r);
        free(doc);
        tl_rmtree(dir);
        free(dir), free(stats);
    }
}

Test(run, failing_prepare_stops_the_run_with_exit_1)
{
    const char *argv[] = {tl_gale(), "run", "--set", "c.fail_prepare=true", "tests/topologies/e2e/chain.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "[c#"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "prepare failed"), "%s", r.err);
    tl_result_free(&r);
}

/* ---- the command line ------------------------------------------------------------------------------------ */

Test(run, validate_prints_streams_and_exits_zero)
{
    const char *argv[] = {tl_gale(), "validate", "tests/topologies/e2e/chain.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "ok: topology 'chain', 4 components, 7 tasks"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "stream default: [n, payload]"), "%s", r.out);
    tl_result_free(&r);
}

Test(run, validate_names_file_line_and_problem_and_exits_one)
{
    const char *argv[] = {tl_gale(), "validate", "tests/topologies/bad/undeclared_field.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_str_eq(r.err, "gale: tests/topologies/bad/undeclared_field.cfg:6: bolt 'count': fields grouping on "
                            "'wrd', which 'split' does not declare on stream 'default' (it declares: word)\n");
    cr_assert_str_eq(r.out, "");
    tl_result_free(&r);
}

Test(run, validate_refuses_a_direct_subscription_to_a_stream_not_declared_direct)
{
    const char *argv[] = {tl_gale(), "validate", "tests/topologies/bad/direct_on_plain_stream.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_str_eq(r.err, "gale: tests/topologies/bad/direct_on_plain_stream.cfg:6: bolt 'count': direct grouping on "
                            "stream 'default' of 'split', which 'split' does not declare direct (declare it with "
                            "gale_declare_direct_stream, or list it in `direct_streams` for a shell component)\n");
    cr_assert_str_eq(r.out, "");
    tl_result_free(&r);
}

Test(run, usage_errors_exit_two)
{
    const char *cases[][4] = {
        {"run", NULL},
        {"run", "--duration", "x", "f.cfg"},
        {"run", "--set", "novalue", "f.cfg"},
        {"frobnicate", NULL},
        {"run", "--bogus", "f.cfg", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *argv[6] = {tl_gale()};
        for (int k = 0; k < 4 && cases[i][k]; k++) argv[k + 1] = cases[i][k];
        tl_result_t r;
        cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
        cr_assert_eq(r.status, 2, "case %zu: exit %d\n%s", i, r.status, r.err);
        tl_result_free(&r);
    }
}

Test(run, missing_file_exits_one_naming_it)
{
    const char *argv[] = {tl_gale(), "run", "no/such/topology.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "no/such/topology.cfg"), "%s", r.err);
    tl_result_free(&r);
}

/* C bolts get Storm's tick tuples: (rate_secs) from __system on __tick, every config.tick_s (or Storm's
   topology.tick.tuple.freq.secs), in local mode and across workers, and only while the run runs. */
static void check_ticks(const char *const *extra, size_t n_extra, double rate)
{
    const char *argv[16] = {tl_gale(), "run", "--quiet", "--duration", "3"};
    size_t n = 5;
    for (size_t i = 0; i < n_extra; i++) argv[n++] = extra[i];
    argv[n++] = "tests/topologies/e2e/ticks.cfg";
    argv[n] = NULL;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    long ticks = -1, others = -1, bad = -1, sum_ticks = 0, lines = 0;
    for (const char *p = r.out; (p = strstr(p, "{\"ticks\": ")); p++, lines++) {
        cr_assert_eq(sscanf(p, "{\"ticks\": %ld, \"others\": %ld, \"bad\": %ld}", &ticks, &others, &bad), 3, "%s", r.out);
        cr_assert_eq(bad, 0, "malformed tick tuples\n%s", r.out);
        cr_assert_gt(others, 0, "the sentences did not reach the probe\n%s", r.out);
        sum_ticks += ticks;
    }
    cr_assert_eq(lines, 1, "one probe task, one line\n%s\n%s", r.out, r.err);
    /* 3 s of running at one tick per `rate` s: never more, and at least a few even on a slow machine. */
    cr_assert_leq(sum_ticks, (long)(3.0 / rate) + 1, "%ld ticks at %.2f s in 3 s\n%s", sum_ticks, rate, r.out);
    cr_assert_geq(sum_ticks, 3, "%ld ticks at %.2f s in 3 s\n%s", sum_ticks, rate, r.out);
    tl_result_free(&r);
}

Test(run, c_bolts_get_tick_tuples)
{
    check_ticks(NULL, 0, 0.25);
    const char *storm[] = {"--set", "topology.tick.tuple.freq.secs=0.5", "--set", "probe.rate=0.5"};
    check_ticks(storm, 4, 0.5);
    const char *workers[] = {"--workers", "2"};
    check_ticks(workers, 2, 0.25);
}
