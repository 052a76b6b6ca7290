/*
 * Cluster mode end to end (test_cluster.h: a real ZooKeeper, nimbus, supervisors with --zk, the gale verbs):
 * wordcount_file.cfg submitted over three supervisors counts as local mode does; a supervisor SIGKILLed mid-run has
 * its slots moved and every word still arrives; two topologies run at once, one with a shipped C++ plugin and one
 * with a Python component's folder; refused submits say why and place nothing; a finite topology whose slots are
 * all on one supervisor ends and is removed.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "test_cluster.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(cluster, .init = use_plugins, .timeout = 240);

/* Runs `file` in local mode with `sets` (NULL-terminated pairs of "--set", "C.K=V") and its sink at `out`. */
static void run_local(const char *file, const char *out, const char *const *sets)
{
    char *sink = tl_path("sink.path=%s", out);
    const char *argv[32] = {tl_gale(), "run", "--quiet", "--set", sink};
    int n = 5;
    while (sets && *sets && n < 30) argv[n++] = *sets++;
    argv[n++] = file;
    argv[n] = NULL;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    free(sink);
}

/* word -> its highest count in a sink file of {"word": W, "count": N} lines (running counts: the last is the
   highest), as "W N\n" lines sorted, malloc'd. */
static char *highest_counts(const char *path)
{
    char *text = tl_read_file(path, NULL);
    cr_assert_not_null(text, "%s: no output", path);
    char words[4096][48];
    long counts[4096];
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char word[48];
        long count;
        cr_assert_eq(sscanf(line, "{\"word\": \"%47[^\"]\", \"count\": %ld}", word, &count), 2, "%s", line);
        int i = 0;
        while (i < n && strcmp(words[i], word)) i++;
        if (i == n) {
            cr_assert_lt(n, 4096);
            snprintf(words[n], sizeof words[n], "%s", word);
            counts[n++] = 0;
        }
        if (count > counts[i]) counts[i] = count;
    }
    free(text);
    /* sorted by word, so that two runs compare as text */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && strcmp(words[k - 1], words[k]) > 0; k--) {
            char w[48];
            long c = counts[k];
            memcpy(w, words[k], sizeof w), memcpy(words[k], words[k - 1], sizeof w), memcpy(words[k - 1], w, sizeof w);
            counts[k] = counts[k - 1], counts[k - 1] = c;
        }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    for (int i = 0; i < n; i++) fprintf(f, "%s %ld\n", words[i], counts[i]);
    fclose(f);
    return out;
}

/* Waits (bounded) until the running counts in `path` reach `want` (highest_counts' text). */
static void wait_counts(const char *path, const char *want, double seconds)
{
    char *got = NULL;
    for (int i = 0; i < (int)(seconds * 10); i++) {
        free(got);
        char *text = tl_read_file(path, NULL);
        got = text && *text ? (free(text), highest_counts(path)) : (free(text), strdup(""));
        if (!strcmp(got, want)) break;
        tl_sleep_ms(100);
    }
    cr_assert_str_eq(got, want, "the cluster's counts are not local mode's");
    free(got);
}

/* The workers of supervisor `i` that run now (children started as `gale worker --index I`, I < 4). */
static int workers_of(const tl_cluster_t *c, int i)
{
    int n = 0;
    for (int k = 0; k < 4; k++) n += tl_worker_pid(c->sup[i].pid, k) > 0;
    return n;
}

/* Component `name`'s `key` in a metrics document; -1 when absent. */
static long figure(const char *doc, const char *name, const char *key)
{
    char *at = tl_path("{\"name\": \"%s\"", name);
    long n = tl_json_number(doc ? strstr(doc, at) : NULL, key);
    free(at);
    return n;
}

/* `gale stats wordcount_file --json` (bounded) once count has executed `want` tuples and every one of `workers` workers has reported (a
   host whose workers run no count task may report a moment later than those that do). */
static char *stats_when_counted(const tl_cluster_t *c, long want, long workers)
{
    char *doc = NULL;
    for (int i = 0; i < 300; i++) {
        tl_result_t r = TL_VERB(c, "stats", "--json", "wordcount_file");
        free(doc);
        doc = strdup(r.status ? r.err : r.out);
        tl_result_free(&r);
        if (figure(doc, "count", "executed") == want && tl_json_number(doc, "workers") == workers) return doc;
        tl_sleep_ms(100);
    }
    cr_assert_fail("gale stats never showed count's %ld executes from %ld workers:\n%s", want, workers, doc);
    return doc;
}

Test(cluster, wordcount_file_over_three_supervisors_counts_as_local_mode_does)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 3, 2);
    char *local = tl_path("%s/local.jsonl", c.dir), *out = tl_path("%s/out.jsonl", c.dir);
    char *local_stats = tl_path("%s/local.json", c.dir);
    const char *running[] = {"--set", "count.mode=\"running\"", "--stats", local_stats, NULL};
    run_local("topologies/wordcount_file.cfg", local, running);
    char *want = highest_counts(local), *sink = tl_path("sink.path=%s", out);
    char *local_doc = tl_read_file(local_stats, NULL);
    double t0 = tl_now_s();
    tl_result_t r = TL_VERB(&c, "submit", "--set", "config.workers=3", "--set", "config.metrics_interval_s=1", "--set",
                            "count.mode=\"running\"", "--set", sink, "topologies/wordcount_file.cfg");
    double submitted = tl_now_s() - t0;
    char *log = r.status ? tl_cluster_nimbus_log(&c, 0) : NULL;
    cr_assert_eq(r.status, 0, "%s%s\nnimbus:\n%s", r.out, r.err, log);
    cr_assert_not_null(strstr(r.out, "submitted wordcount_file version=1 workers=3 ms="), "%s", r.out);
    tl_result_free(&r);
    for (int i = 0; i < 600; i++) { /* the first word in the sink */
        char *text = tl_read_file(out, NULL);
        bool some = text && *text;
        free(text);
        if (some) break;
        tl_sleep_ms(10);
    }
    cr_log_info("gale submit took %.0f ms; the first word reached the sink %.0f ms after it began", submitted * 1000,
                (tl_now_s() - t0) * 1000);
    wait_counts(out, want, 60);
    /* Storm's even scheduler: one slot on each of the three. */
    for (int i = 0; i < 3; i++) cr_assert_eq(workers_of(&c, i), 1, "supervisor %d runs %d workers", i, workers_of(&c, i));
    cr_assert(tl_cluster_listed(&c, "topology wordcount_file status=active workers=3 executors=6 "));
    /* gale stats: the figures of the three hosts merged, those of local mode for every component. */
    char *doc = stats_when_counted(&c, figure(local_doc, "count", "executed"), 3);
    cr_assert_eq(tl_json_number(doc, "workers"), 3, "%s", doc);
    cr_assert(tl_json_valid(doc), "%s", doc);
    const char *const components[] = {"lines", "split", "count", "sink"};
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < 2; k++) {
            const char *key = k ? "executed" : "emitted";
            cr_assert_eq(figure(doc, components[i], key), figure(local_doc, components[i], key), "%s's %s\n%s\n%s",
                         components[i], key, doc, local_doc);
        }
    cr_assert_eq(figure(doc, "lines", "acked"), figure(local_doc, "lines", "emitted"), "every line acked\n%s", doc);
    r = TL_VERB(&c, "stats", "wordcount_file");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "  topology 'wordcount_file' ran "), "%s", r.out);
    cr_assert_not_null(strstr(r.out, " in 3 workers"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  count "), "%s", r.out);
    tl_result_free(&r);
    r = TL_VERB(&c, "stats", "--json", "no_such_topology");
    cr_assert_neq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "no topology named no_such_topology"), "%s", r.err);
    tl_result_free(&r);
    free(doc), free(local_doc), free(local_stats);
    r = TL_VERB(&c, "kill", "--wait", "1", "wordcount_file");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "killed wordcount_file\n");
    tl_result_free(&r);
    cr_assert(tl_cluster_listed(&c, "0 topologies"));
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 500 && workers_of(&c, i); k++) tl_sleep_ms(10);
        cr_assert_eq(workers_of(&c, i), 0, "supervisor %d still runs a worker after the kill", i);
    }
    free(local), free(out), free(want), free(sink);
    tl_cluster_free(&c);
}

Test(cluster, a_supervisor_killed_mid_run_has_its_slots_moved_and_every_word_arrives)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 3, 1);
    char *lines = tl_path("%s/lines.txt", c.dir), *out = tl_path("%s/out.txt", c.dir);
    long counts[10];
    tl_make_lines(lines, counts);
    char *set_lines = tl_path("lines.path=%s", lines), *set_out = tl_path("sink.path=%s", out);
    /* Two workers on two of the three supervisors; the third has room for what the killed one held. */
    tl_result_t r = TL_VERB(&c, "submit", "--set", "config.workers=2", "--set", set_lines, "--set", set_out,
                            "tests/topologies/e2e/lines_sink.cfg");
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    /* The victim: the supervisor of slot 1 (not the spout's, slot 0), once words flow. */
    int victim = -1;
    for (int i = 0; i < 3; i++)
        if (tl_worker_pid(c.sup[i].pid, 1) > 0) victim = i;
    cr_assert_geq(victim, 0, "no supervisor runs slot 1");
    for (int i = 0; i < 500; i++) {
        char *text = tl_read_file(out, NULL);
        bool some = text && strlen(text) > 1000;
        free(text);
        if (some) break;
        tl_sleep_ms(10);
    }
    pid_t worker = tl_worker_pid(c.sup[victim].pid, 1);
    double t0 = tl_now_s();
    kill(c.sup[victim].pid, SIGKILL); /* and its worker, which dies with it */
    kill(worker, SIGKILL);
    tl_wait(c.sup[victim].pid, 30, &(bool){false});
    c.sup[victim].pid = 0;
    tl_cluster_wait_log(&c, 0, "lines_sink: moved the slots of supervisors that left");
    double moved = tl_now_s() - t0;
    int taker = -1;
    for (int k = 0; k < 3000 && taker < 0; k++) {
        for (int i = 0; i < 3; i++)
            if (i != victim && tl_worker_pid(c.sup[i].pid, 1) > 0) taker = i;
        if (taker < 0) tl_sleep_ms(10);
    }
    double running = tl_now_s() - t0;
    cr_assert_geq(taker, 0, "no supervisor took slot 1 over");
    cr_log_info("slot 1 was moved %.2f s after its supervisor was killed, and ran again after %.2f s (2 s session)",
                moved, running);
    long seen = 0;
    int short_word = tl_words_arrive(out, counts, 120, &seen);
    cr_assert_eq(short_word, -1, "'%s' arrived %ld times of %ld", short_word >= 0 ? TL_VOCAB[short_word] : "",
                 seen, short_word >= 0 ? counts[short_word] : 0);
    cr_assert(tl_cluster_listed(&c, "topology lines_sink status=active workers=2 executors="));
    cr_assert(tl_cluster_listed(&c, " version=2"));
    r = TL_VERB(&c, "kill", "--wait", "1", "lines_sink");
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    free(lines), free(out), free(set_lines), free(set_out);
    tl_cluster_free(&c);
}

Test(cluster, two_topologies_run_at_once_with_a_shipped_plugin_and_a_shipped_python_folder)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 2, 2);
    char *local = tl_path("%s/local.jsonl", c.dir), *py = tl_path("%s/py.jsonl", c.dir);
    const char *running[] = {"--set", "count.mode=\"running\"", NULL};
    run_local("topologies/wordcount_file.cfg", local, running);
    char *want = highest_counts(local), *set_py = tl_path("sink.path=%s", py);
    /* The Python split ships with its folder (bolts/multilang: the script and the module it imports). */
    tl_result_t r = TL_VERB(&c, "submit", "--set", "config.workers=2", "--set", "count.mode=\"running\"", "--set",
                            set_py, "topologies/wordcount_python.cfg");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    tl_result_free(&r);
    /* The C++ word count ships its plugin (built in the test tree, not one of gale's own); one worker: all its
       slots on one supervisor, so that it ends by itself once the file is read, and its finish runs. */
    char *cpp_local = tl_path("%s/cpp_local.jsonl", c.dir), *cpp = tl_path("%s/cpp.jsonl", c.dir);
    char *set_cpp = tl_path("sink.path=%s", cpp), *set_lines = strdup("lines.path=topologies/data/sample.txt");
    const char *cpp_sets[] = {"--set", set_lines, NULL};
    run_local("tests/topologies/e2e/cpp_wordcount.cfg", cpp_local, cpp_sets);
    r = TL_VERB(&c, "submit", "--set", "config.workers=1", "--set", set_lines, "--set", set_cpp,
                "tests/topologies/e2e/cpp_wordcount.cfg");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    tl_result_free(&r);
    wait_counts(py, want, 60);
    tl_cluster_wait_log(&c, 0, "cpp_wordcount: finished: every part ended by itself");
    char *a = highest_counts(cpp_local), *b = highest_counts(cpp);
    cr_assert_str_eq(b, a, "the shipped C++ plugin's counts are not local mode's");
    cr_assert(tl_cluster_listed(&c, "topology wordcount_python status=active workers=2"));
    cr_assert(tl_cluster_listed(&c, "1 topologies"));
    r = TL_VERB(&c, "kill", "--wait", "1", "wordcount_python");
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    free(local), free(py), free(want), free(set_py), free(cpp_local), free(cpp), free(set_cpp), free(set_lines);
    free(a), free(b);
    tl_cluster_free(&c);
}

Test(cluster, refused_submits_say_why_and_place_nothing)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 2, 1);
    tl_result_t r = TL_VERB(&c, "submit", "--set", "config.workers=3", "topologies/wordcount_file.cfg");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert_not_null(strstr(r.err, "not enough free slots: 3 asked, "), "%s", r.err);
    cr_assert_not_null(strstr(r.err, c.sup[0].addr), "the message names each supervisor's free slots: %s", r.err);
    tl_result_free(&r);
    cr_assert(tl_cluster_listed(&c, "0 topologies"));
    /* A file that does not validate: the FILE:LINE of gale validate, and nothing sent. */
    char *bad = tl_path("%s/bad.cfg", c.dir);
    cr_assert_eq(tl_write_file(bad, "name = \"bad\";\nspouts = ( { name = \"s\"; plugin = \"no_such_plugin\"; } );\n"), 0);
    r = TL_VERB(&c, "submit", bad);
    cr_assert_eq(r.status, 1);
    char *where = tl_path("%s:2", bad);
    cr_assert_not_null(strstr(r.err, where), "%s", r.err);
    tl_result_free(&r);
    /* A name that runs already. */
    r = TL_VERB(&c, "submit", "--set", "config.workers=1", "--name", "twice", "topologies/wordcount.cfg");
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    r = TL_VERB(&c, "submit", "--set", "config.workers=1", "--name", "twice", "topologies/wordcount.cfg");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert_not_null(strstr(r.err, "a topology named twice is running"), "%s", r.err);
    tl_result_free(&r);
    cr_assert(tl_cluster_listed(&c, "1 topologies"));
    /* Verbs without the cluster's secret are refused at the door. */
    char *elsewhere = tl_path("%s/elsewhere", c.dir);
    cr_assert_eq(mkdir(elsewhere, 0700), 0);
    char *wrong = tl_daemon_secret(elsewhere, "not the cluster's secret at all", 0600);
    const char *argv[] = {tl_gale(), "list", "--zk", c.zk.hosts, "--secret-file", wrong, NULL};
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 1);
    tl_result_free(&r);
    r = TL_VERB(&c, "kill", "--wait", "0", "twice");
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    r = TL_VERB(&c, "kill", "no_such_topology");
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "no topology named no_such_topology"), "%s", r.err);
    tl_result_free(&r);
    free(bad), free(where), free(wrong), free(elsewhere);
    tl_cluster_free(&c);
}
