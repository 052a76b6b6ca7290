/*
 * Stopping a run, through the gale binary: a stop during the run's own drain, a drain that times out (the bolts
 * still finish, the exit says work was left), a bolt stuck in execute, replays that back off without end; and in
 * worker mode a hung worker, a worker that crashes at every start, and the spout's worker killed mid-run.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testlib.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(stop, .init = use_plugins, .timeout = 180);

static long count_of(const char *text, const char *needle)
{
    long n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++) n++;
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct run {
    char *dir, *in, *out, *stats, *journal;
    long counts[10];
    pid_t pid;
    int status;
    bool timed_out;
    char *err, *sink, *metrics;
    double seconds;
} run_t;

/* Starts `gale run ARGS... --set lines.path=IN --set sink.path=OUT --stats STATS --set config.journal=J CFG`. */
static void start(run_t *r, const char *const *args, size_t n_args, const char *cfg)
{
    memset(r, 0, sizeof *r);
    r->dir = tl_tmpdir();
    r->in = tl_path("%s/in.txt", r->dir);
    r->out = tl_path("%s/out.jsonl", r->dir);
    r->stats = tl_path("%s/stats.json", r->dir);
    r->journal = tl_path("%s/failed.journal", r->dir);
    tl_make_lines(r->in, r->counts);
    char *set_in = tl_path("lines.path=%s", r->in), *set_out = tl_path("sink.path=%s", r->out);
    char *set_j = tl_path("config.journal=%s", r->journal);
    const char *argv[32] = {tl_gale(), "run", "--stats", r->stats, "--set", set_in, "--set", set_out, "--set", set_j};
    size_t a = 10;
    for (size_t i = 0; i < n_args && a < 30; i++) argv[a++] = args[i];
    argv[a++] = cfg;
    r->seconds = now_s();
    r->pid = tl_spawn(argv, r->dir);
    cr_assert_gt(r->pid, 0);
    free(set_in), free(set_out), free(set_j);
}

static void finish(run_t *r, double timeout_s)
{
    r->status = tl_wait(r->pid, timeout_s, &r->timed_out);
    r->seconds = now_s() - r->seconds;
    char *err_path = tl_path("%s/err.txt", r->dir);
    r->err = tl_read_file(err_path, NULL);
    free(err_path);
    r->sink = tl_read_file(r->out, NULL);
    r->metrics = tl_read_file(r->stats, NULL);
    cr_assert_not(r->timed_out, "the run did not end in %.0f s\n%s", timeout_s, r->err);
}

static void run_free(run_t *r)
{
    tl_rmtree(r->dir);
    free(r->dir), free(r->in), free(r->out), free(r->stats), free(r->journal);
    free(r->err), free(r->sink), free(r->metrics);
}

/* `gale journal ls JOURNAL` of the run: how many records have cause "stopped". */
static long journaled_stopped(const run_t *r)
{
    const char *argv[] = {tl_gale(), "journal", "ls", r->journal, NULL};
    tl_result_t j;
    cr_assert_eq(tl_run(argv, NULL, 30, &j), 0);
    long n = count_of(j.out, " stopped ");
    tl_result_free(&j);
    return n;
}

/* ---- local mode ------------------------------------------------------------------------------------------- */

/* The run drains by itself for up to a minute (dropped words' trees wait for their timeout). A stop then must
   bound it (drain_timeout_s = 2), the bolts must still finish (word_count writes its final counts), and the exit
   must say that trees were left open; with a journal they are in it. `signal` 0: --duration is the stop. */
static void stop_during_own_drain(int signal)
{
    run_t r;
    const char *duration[] = {"--duration", "1.5"};
    start(&r, duration, signal ? 0 : 2, "tests/topologies/e2e/stop_drain.cfg");
    if (signal) {
        tl_sleep_ms(1500);
        kill(r.pid, signal);
    }
    finish(&r, 40);
    cr_assert_lt(r.seconds, 20, "a stop during the drain waited %.1f s\n%s", r.seconds, r.err);
    cr_assert_not_null(strstr(r.err, "already draining: the drain is now bounded"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "after the drain timeout: finishing the bolts"), "%s", r.err);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "the run stopped before all of its work was done"), "%s", r.err);
    /* word_count's finish ran: one final count per word of the input reached the sink. */
    cr_assert_not_null(r.sink, "no output\n%s", r.err);
    for (int k = 0; k < 10; k++) {
        char *word = tl_path("{\"word\": \"%s\", \"count\": ", TL_VOCAB[k]);
        cr_assert_eq(count_of(r.sink, word), 1, "%s in\n%s\n%s", word, r.sink, r.err);
        free(word);
    }
    /* The metrics are written, and the open trees went to the journal. */
    cr_assert_geq(tl_json_number(r.metrics, "acked"), 1, "%s", r.metrics ? r.metrics : r.err);
    long stopped = journaled_stopped(&r);
    cr_assert_gt(stopped, 0, "no tree journaled as stopped\n%s", r.err);
    char *said = tl_path("%ld tuple trees still open (journaled", stopped);
    cr_assert_not_null(strstr(r.err, said), "%s\n%s", said, r.err);
    free(said);
    run_free(&r);
}

Test(stop, sigterm_during_its_own_drain_is_bounded_and_still_finishes) { stop_during_own_drain(SIGTERM); }
Test(stop, sigint_during_its_own_drain_is_bounded_and_still_finishes) { stop_during_own_drain(SIGINT); }
Test(stop, duration_during_its_own_drain_is_bounded_and_still_finishes) { stop_during_own_drain(0); }

Test(stop, a_bolt_stuck_in_execute_cannot_hold_the_process)
{
    run_t r;
    const char *sets[] = {"--set", "drop.delay_ms=100000000", "--set", "config.drain_timeout_s=1"};
    start(&r, sets, 4, "tests/topologies/e2e/stop_drain.cfg");
    tl_sleep_ms(1000);
    kill(r.pid, SIGTERM);
    finish(&r, 60);
    /* 1 s of drain, 2 s for the finish that never comes, 5 s for the executors to close. */
    cr_assert_lt(r.seconds, 30, "took %.1f s\n%s", r.seconds, r.err);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "drop#3 did not return from execute"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "a task did not return after the stop"), "%s", r.err);
    run_free(&r);
}

Test(stop, a_second_signal_finishes_at_once_and_a_third_stops)
{
    run_t r;
    const char *sets[] = {"--set", "drop.delay_ms=100000000", "--set", "config.drain_timeout_s=600"};
    start(&r, sets, 4, "tests/topologies/e2e/stop_drain.cfg");
    tl_sleep_ms(1000);
    for (int i = 0; i < 3; i++) {
        kill(r.pid, SIGTERM);
        tl_sleep_ms(300);
    }
    finish(&r, 60);
    cr_assert_lt(r.seconds, 30, "took %.1f s\n%s", r.seconds, r.err);
    cr_assert_not_null(strstr(r.err, "SIGTERM: finishing the bolts without waiting for the drain"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "SIGTERM: stopping at once, without finishing the bolts"), "%s", r.err);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    run_free(&r);
}

/* Half of the lines fail at every attempt, up to 60 replays: capped (retry_backoff_max_ms, 2 s) the run takes
   seconds; uncapped, the unluckiest line waited 5 ms << attempts, minutes after a dozen failures in a row. */
Test(stop, replays_back_off_within_a_cap)
{
    run_t r;
    start(&r, NULL, 0, "tests/topologies/e2e/retry_storm.cfg");
    finish(&r, 90);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_lt(r.seconds, 60, "took %.1f s\n%s", r.seconds, r.err);
    const char *lines = r.metrics ? strstr(r.metrics, "\"name\": \"lines\"") : NULL;
    cr_assert_not_null(lines, "%s", r.err);
    cr_assert_eq(tl_json_number(lines, "acked"), 3000, "%s", r.metrics);
    cr_assert_eq(tl_json_number(lines, "failed"), 0, "%s", r.metrics);
    const char *flaky = strstr(r.metrics, "\"name\": \"flaky\"");
    cr_assert_gt(tl_json_number(flaky, "failed"), 2000, "half of the attempts fail\n%s", r.metrics);
    run_free(&r);
}

Test(stop, sigusr1_prints_the_metrics_and_the_run_goes_on)
{
    run_t r;
    const char *sets[] = {"--set", "config.drain_timeout_s=1"};
    start(&r, sets, 2, "tests/topologies/e2e/stop_drain.cfg");
    tl_sleep_ms(800);
    kill(r.pid, SIGUSR1);
    tl_sleep_ms(500);
    cr_assert(tl_alive(r.pid), "SIGUSR1 ended the run");
    kill(r.pid, SIGTERM);
    finish(&r, 40);
    cr_assert_not_null(strstr(r.err, "SIGUSR1: the metrics so far (draining)"), "%s", r.err);
    cr_assert_eq(count_of(r.err, "topology 'stop_drain' ran"), 2, "%s", r.err);
    run_free(&r);
}

/* ---- worker mode ------------------------------------------------------------------------------------------ */

/* In worker mode SIGUSR1 prints the workers and the figures they last reported (every metrics_interval_s), and the
   run goes on. */
Test(stop, sigusr1_in_worker_mode_prints_the_workers_figures_so_far)
{
    run_t r;
    const char *sets[] = {
        "--workers", "2", "--set", "config.metrics_interval_s=1", "--set", "config.drain_timeout_s=1"};
    start(&r, sets, 6, "tests/topologies/e2e/stop_drain.cfg");
    /* Bounded: the first report comes a second after the workers start. */
    for (int i = 0; i < 200 && !tl_worker_pid(r.pid, 1); i++) tl_sleep_ms(10);
    tl_sleep_ms(2500);
    kill(r.pid, SIGUSR1);
    tl_sleep_ms(500);
    cr_assert(tl_alive(r.pid), "SIGUSR1 ended the run");
    kill(r.pid, SIGTERM);
    finish(&r, 60);
    const char *said = strstr(r.err, "SIGUSR1: the workers now, and their figures as of their last report");
    cr_assert_not_null(said, "%s", r.err);
    cr_assert_not_null(strstr(said, "topology 'stop_drain' ran"), "no figures after SIGUSR1:\n%s", r.err);
    cr_assert_eq(count_of(r.err, "topology 'stop_drain' ran"), 2, "%s", r.err);
    run_free(&r);
}

static pid_t wait_worker(pid_t sup, int index)
{
    pid_t w = 0;
    for (int i = 0; i < 500 && !(w = tl_worker_pid(sup, index)); i++) tl_sleep_ms(10);
    cr_assert_gt(w, 0, "worker %d not found", index);
    return w;
}

static void check_words(const run_t *r)
{
    long seen = 0;
    cr_assert_not_null(r->sink, "no output\n%s", r->err);
    int k = tl_words_short(r->sink, r->counts, &seen);
    cr_assert_eq(k, -1, "'%s' reached the sink %ld times, the input has it %ld times\n%s",
                 k >= 0 ? TL_VOCAB[k] : "", seen, k >= 0 ? r->counts[k] : 0, r->err);
}

Test(stop, a_hung_worker_is_killed_and_restarted)
{
    run_t r;
    const char *sets[] = {"--workers", "3", "--set", "config.worker_timeout_s=2"};
    start(&r, sets, 4, "tests/topologies/e2e/lines_sink.cfg");
    pid_t victim = wait_worker(r.pid, 1);
    tl_sleep_ms(500);
    kill(victim, SIGSTOP);
    finish(&r, 150);
    char *said = tl_path("worker 1 (pid %d) said nothing for 2 s: killing it", (int)victim);
    cr_assert_not_null(strstr(r.err, said), "%s", r.err);
    free(said);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_eq(tl_json_number(r.metrics, "restarts"), 1, "%s", r.metrics);
    check_words(&r);
    run_free(&r);
}

Test(stop, a_worker_that_crashes_at_every_start_ends_the_run)
{
    run_t r;
    const char *sets[] = {"--workers", "2", "--set", "slow.crash_after=1"};
    start(&r, sets, 4, "tests/topologies/e2e/lines_sink.cfg");
    finish(&r, 120);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "times in a row, each within 10 s of its start: giving up"), "%s", r.err);
    run_free(&r);
}

/* Lines in a file: the words the sink has written so far. memchr, not strstr: a sanitizer's strstr measures the
   whole rest of the text at every call. */
static long lines_in(const char *path)
{
    size_t len = 0;
    char *text = tl_read_file(path, &len);
    if (!text) return 0;
    long n = 0;
    for (const char *p = text, *end = text + len; p && (p = memchr(p, '\n', (size_t)(end - p))); p++) n++;
    free(text);
    return n;
}

static long sum_of(const long counts[10])
{
    long n = 0;
    for (int i = 0; i < 10; i++) n += counts[i];
    return n;
}

/* The spout's worker dies with trees open. file_lines is replayable (gale_replayable): its next life resumes at the
   oldest line whose tree had not completed, so every word arrives at least once, nothing is lost, and the run ends
   0. `late`: killed once the spout has read the whole file, as against early in the read. With up to 1000 lines
   open (about 1.7 s of the slow bolt's work), the spout has read the last line once 70% of the words are through
   (3000 lines, at most 1000 open): killed at 80%, it is done and a second of work is left. */
static void kill_the_spouts_worker(bool late)
{
    run_t r;
    const char *sets[] = {"--workers", "3", "--threads", "2", "--set", "config.max_spout_pending=1000",
                          "--set", "config.message_timeout_s=30"};
    start(&r, sets, late ? 8 : 4, "tests/topologies/e2e/lines_sink.cfg");
    pid_t victim = wait_worker(r.pid, 0);
    if (late) { /* the sink writes each word with write(2): the count is exact */
        long words = sum_of(r.counts);
        for (int i = 0; i < 12000 && lines_in(r.out) < words * 8 / 10; i++) tl_sleep_ms(5);
        cr_assert_geq(lines_in(r.out), words * 8 / 10, "the run did not get to 80%% of its words\n");
    } else {
        tl_sleep_ms(700);
    }
    kill(victim, SIGKILL);
    finish(&r, 150);
    cr_assert_not_null(strstr(r.err, "resumes from position"), "%s", r.err);
    cr_assert_null(strstr(r.err, "died with"), "%s", r.err);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_eq(tl_json_number(r.metrics, "restarts"), 1, "%s", r.metrics);
    cr_assert_eq(tl_json_number(r.metrics, "lost_trees"), 0, "%s", r.metrics);
    cr_assert_gt(tl_json_number(r.metrics, "resumed_trees"), 0, "%s\n%s", r.metrics, r.err);
    check_words(&r);
    run_free(&r);
}

Test(stop, the_spouts_worker_killed_early_resumes_and_nothing_is_lost) { kill_the_spouts_worker(false); }
Test(stop, the_spouts_worker_killed_after_the_read_resumes_and_nothing_is_lost) { kill_the_spouts_worker(true); }

/* The spout's worker dies and the run is stopped before it is back: the restarted spouts are deactivated at once
   and cannot emit again what the dead ones had open, so those trees are lost, and the exit says so. */
Test(stop, a_stop_before_the_spouts_worker_is_back_loses_what_it_owed)
{
    run_t r;
    const char *sets[] = {"--workers", "3", "--threads", "2", "--set", "config.drain_timeout_s=3"};
    start(&r, sets, 6, "tests/topologies/e2e/lines_sink.cfg");
    pid_t victim = wait_worker(r.pid, 0);
    tl_sleep_ms(700);
    kill(victim, SIGKILL);
    tl_sleep_ms(20); /* the restart waits 100 ms */
    kill(r.pid, SIGTERM);
    finish(&r, 150);
    cr_assert_not_null(strstr(r.err, "will not be emitted again"), "%s", r.err);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_assert_gt(tl_json_number(r.metrics, "lost_trees"), 0, "%s", r.metrics);
    cr_assert_eq(tl_json_number(r.metrics, "resumed_trees"), 0, "%s", r.metrics);
    run_free(&r);
}

/* A spout that cannot rewind (it does not call gale_replayable): the trees its dead worker had open are counted
   as lost, and the run, which cannot vouch for them, ends non-zero. */
Test(stop, a_spout_that_cannot_rewind_loses_its_trees_with_its_worker_and_says_so)
{
    run_t r = {0};
    r.dir = tl_tmpdir();
    r.stats = tl_path("%s/stats.json", r.dir);
    r.out = tl_path("%s/no-sink", r.dir);
    const char *argv[] = {tl_gale(),   "run",       "--stats",
                          r.stats,     "--workers", "3",
                          "--threads", "2",         "tests/topologies/e2e/numbers_slow.cfg",
                          NULL};
    r.pid = tl_spawn(argv, r.dir);
    cr_assert_gt(r.pid, 0);
    pid_t victim = wait_worker(r.pid, 0);
    tl_sleep_ms(700);
    kill(victim, SIGKILL);
    finish(&r, 150);
    cr_assert_not_null(strstr(r.err, "worker 0 died with"), "%s", r.err);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_assert_gt(tl_json_number(r.metrics, "lost_trees"), 0, "%s", r.metrics);
    cr_assert_eq(tl_json_number(r.metrics, "resumed_trees"), 0, "%s", r.metrics);
    run_free(&r);
}

/* 15000 words through a bolt that takes 1 ms each (two tasks): 7.5 s of work against a 10 s timeout. Unbounded,
   the spout put every line in flight at once and the last third timed out; with the default max_spout_pending
   (1000) every tree completes, and memory stays small. */
Test(stop, overload_across_workers_completes_every_tree)
{
    run_t r;
    const char *sets[] = {"--workers", "2"};
    start(&r, sets, 2, "tests/topologies/e2e/overload.cfg");
    finish(&r, 120);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    const char *lines = r.metrics ? strstr(r.metrics, "\"name\": \"lines\"") : NULL;
    cr_assert_not_null(lines, "%s", r.err);
    cr_assert_eq(tl_json_number(lines, "acked"), 3000, "%s", r.metrics);
    cr_assert_eq(tl_json_number(lines, "failed"), 0, "%s", r.metrics);
    /* Both workers together; sanitizer builds add their own shadow memory. */
    cr_assert_lt(tl_json_number(r.metrics, "peak_rss_kb"), 400 * 1024, "%s", r.metrics);
    check_words(&r);
    run_free(&r);
}
