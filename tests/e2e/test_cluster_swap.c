/*
 * Hot swap in cluster mode (test_cluster.h: a real ZooKeeper, nimbus, supervisors with --zk): `gale swap` of the
 * split bolt of lines_sink.cfg, spread over two supervisors, to split_upper under load: no word lost, the new
 * plugin's output from then on, on every host, and on the host a slot moves to after its supervisor is killed (the
 * topology's node names the new plugin); a plugin with other fields and one whose prepare fails are refused with
 * the reason, the parts that took it go back, and every word still arrives from the old plugin. The spout swaps
 * too: file_lines to lines_upper under load resumes after the last line the old plugin emitted. A supervisor that
 * dies as the swap begins does not hold it up: its slot moves, and its new host swaps in its turn.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_cluster.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(cluster_swap, .init = use_plugins, .timeout = 240);

typedef struct run {
    tl_cluster_t c;
    char *lines, *out;
    long counts[10];
} run_t;

/* lines_sink over two of `n_sups` supervisors of one slot each, once its words flow. */
static void start(run_t *r, int n_sups)
{
    tl_cluster_start(&r->c, n_sups, 1);
    r->lines = tl_path("%s/lines.txt", r->c.dir), r->out = tl_path("%s/out.txt", r->c.dir);
    tl_make_lines(r->lines, r->counts);
    char *set_lines = tl_path("lines.path=%s", r->lines), *set_out = tl_path("sink.path=%s", r->out);
    tl_result_t res = TL_VERB(&r->c, "submit", "--set", "config.workers=2", "--set", set_lines, "--set", set_out,
                              "tests/topologies/e2e/lines_sink.cfg");
    cr_assert_eq(res.status, 0, "%s%s", res.out, res.err);
    tl_result_free(&res);
    for (int i = 0; i < 3000 && tl_file_size(r->out) < 2000; i++) tl_sleep_ms(10);
    cr_assert_geq(tl_file_size(r->out), 2000, "words flow");
    free(set_lines), free(set_out);
}

static void finish(run_t *r)
{
    tl_result_t res = TL_VERB(&r->c, "kill", "--wait", "1", "lines_sink");
    cr_assert_eq(res.status, 0, "%s", res.err);
    tl_result_free(&res);
    free(r->lines), free(r->out);
    tl_cluster_free(&r->c);
}

/* The time stamp (the log line's first 24 characters) of the first line of supervisor i's log holding `what`, into
   buf; "" when there is none. */
static void stamp_of(const tl_cluster_t *c, int i, const char *what, char *buf, size_t cap)
{
    char *log = tl_daemon_log(&c->sup[i]), *at = strstr(log, what);
    buf[0] = '\0';
    if (at) {
        while (at > log && at[-1] != '\n') at--;
        snprintf(buf, cap, "%.24s", at);
    }
    free(log);
}

/* SIGKILLs the supervisor that runs slot 1, and its worker; its index. */
static int kill_slot_1(run_t *r)
{
    int victim = -1;
    for (int i = 0; i < 3; i++)
        if (tl_worker_pid(r->c.sup[i].pid, 1) > 0) victim = i;
    cr_assert_geq(victim, 0, "no supervisor runs slot 1");
    pid_t worker = tl_worker_pid(r->c.sup[victim].pid, 1);
    kill(r->c.sup[victim].pid, SIGKILL);
    kill(worker, SIGKILL);
    tl_wait(r->c.sup[victim].pid, 30, &(bool){false});
    r->c.sup[victim].pid = 0;
    return victim;
}

static void every_word_arrives(const run_t *r, bool any_case)
{
    long seen = 0;
    int short_word = any_case ? tl_words_arrive_any_case(r->out, r->counts, 120, &seen)
                              : tl_words_arrive(r->out, r->counts, 120, &seen);
    cr_assert_eq(short_word, -1, "'%s' arrived %ld times of %ld", short_word >= 0 ? TL_VOCAB[short_word] : "", seen,
                 short_word >= 0 ? r->counts[short_word] : 0);
}

Test(cluster_swap, the_split_bolt_swapped_over_the_cluster_loses_no_word_and_stays_swapped_where_a_slot_moves)
{
    run_t r;
    start(&r, 3);
    char *plugin = tl_path("%s/tests/plugins/split_upper.so", tl_build());
    double t0 = tl_now_s();
    tl_result_t res = TL_VERB(&r.c, "swap", "lines_sink", "split", plugin);
    double took = tl_now_s() - t0;
    size_t at = tl_file_size(r.out);
    char *log = res.status ? tl_cluster_nimbus_log(&r.c, 0) : NULL;
    cr_assert_eq(res.status, 0, "%s%s\nnimbus:\n%s", res.out, res.err, log);
    cr_assert_str_eq(res.out, "swapped lines_sink split\n");
    tl_result_free(&res);
    cr_log_info("cluster swap: gale swap answered in %.0f ms (2 supervisors, one worker each)", took * 1000);
    /* One part after another: the second began once the first had every worker on the new plugin. */
    char began[3][32], done[3][32];
    int parts = 0, first = -1, second = -1;
    for (int i = 0; i < 3; i++) {
        stamp_of(&r.c, i, "lines_sink: swapping split to plugin", began[i], sizeof began[i]);
        stamp_of(&r.c, i, "lines_sink: split runs ", done[i], sizeof done[i]);
        if (!began[i][0]) continue;
        parts++;
        cr_assert(done[i][0], "supervisor %d began the swap and did not end it", i);
        if (first < 0 || strcmp(began[i], began[first]) < 0) second = first, first = i;
        else second = i;
    }
    cr_assert_eq(parts, 2, "two parts swapped");
    cr_assert_geq(strcmp(began[second], done[first]), 0, "the second part began at %s, before the first ended (%s)",
                  began[second], done[first]);
    /* The supervisor of slot 1 killed with its worker: the slot moves to the third, which runs the new plugin. */
    kill_slot_1(&r);
    tl_cluster_wait_log(&r.c, 0, "lines_sink: moved the slots of supervisors that left");
    every_word_arrives(&r, true);
    char *text = tl_read_file(r.out, NULL);
    long late_lower = tl_vocab_words(text + at, false), upper_words = tl_vocab_words(text, true);
    size_t len = strlen(text);
    const char *tail = len > 2000 ? text + len - 2000 : text;
    cr_log_info("cluster swap: %ld upper-case words; %ld lower-case ones written after the reply", upper_words,
                late_lower);
    cr_assert_gt(upper_words, 1000, "the new plugin's words are in the sink");
    cr_assert_eq(tl_vocab_words(tail, false), 0, "the last words are the new plugin's:\n%s", tail);
    free(text);
    free(plugin);
    finish(&r);
}

Test(cluster_swap, the_spout_swapped_over_the_cluster_resumes_where_the_old_plugin_stopped)
{
    run_t r;
    start(&r, 2);
    char *plugin = tl_path("%s/tests/plugins/lines_upper.so", tl_build());
    tl_result_t res = TL_VERB(&r.c, "swap", "lines_sink", "lines", plugin);
    size_t at = tl_file_size(r.out);
    char *log = res.status ? tl_cluster_nimbus_log(&r.c, 0) : NULL;
    cr_assert_eq(res.status, 0, "%s%s\nnimbus:\n%s", res.out, res.err, log);
    cr_assert_str_eq(res.out, "swapped lines_sink lines\n");
    tl_result_free(&res);
    every_word_arrives(&r, true);
    char *text = tl_read_file(r.out, NULL);
    long total = 0, upper = tl_vocab_words(text, true), lower = tl_vocab_words(text, false);
    for (int i = 0; i < 10; i++) total += r.counts[i];
    size_t len = strlen(text);
    const char *tail = len > 2000 ? text + len - 2000 : text;
    cr_log_info("cluster spout swap: %ld lower-case words (%zu bytes in the sink at the reply), %ld upper-case, %ld "
                "in the file",
                lower, at, upper, total);
    cr_assert_gt(upper, 0, "the new plugin's lines are in the sink");
    cr_assert_eq(tl_vocab_words(tail, false), 0, "the last words are the new plugin's:\n%s", tail);
    /* Resumed, not started again: the lines the old plugin emitted are not read a second time. */
    cr_assert_lt(upper, total, "the new spout read the file from its start (%ld of %ld words)", upper, total);
    free(text);
    free(plugin);
    finish(&r);
}

Test(cluster_swap, a_supervisor_lost_as_the_swap_begins_has_its_slot_moved_and_swapped_in_turn)
{
    run_t r;
    start(&r, 3);
    /* Killed just before: nimbus still counts it (its session lasts 2 s more), and asks its part in turn. */
    int victim = kill_slot_1(&r);
    char *plugin = tl_path("%s/tests/plugins/split_upper.so", tl_build());
    double t0 = tl_now_s();
    tl_result_t res = TL_VERB(&r.c, "swap", "lines_sink", "split", plugin);
    double took = tl_now_s() - t0;
    char *log = tl_cluster_nimbus_log(&r.c, 0);
    cr_assert_eq(res.status, 0, "%s%s\nnimbus:\n%s", res.out, res.err, log);
    cr_assert_str_eq(res.out, "swapped lines_sink split\n");
    cr_assert_not_null(strstr(log, "lines_sink: moved the slots of supervisors that left"), "%s", log);
    free(log);
    tl_result_free(&res);
    cr_log_info("cluster swap with a supervisor lost: gale swap answered in %.0f ms (2 s session)", took * 1000);
    cr_assert_lt(took, 60.0, "the swap waited %.0f s for a part whose supervisor was gone", took);
    int taker = -1;
    for (int i = 0; i < 3; i++)
        if (i != victim && tl_worker_pid(r.c.sup[i].pid, 1) > 0) taker = i;
    cr_assert_geq(taker, 0, "no supervisor took slot 1 over");
    char began[32];
    stamp_of(&r.c, taker, "lines_sink: swapping split to plugin", began, sizeof began);
    cr_assert(began[0], "the slot's new host was not asked to swap");
    every_word_arrives(&r, true);
    char *text = tl_read_file(r.out, NULL);
    size_t len = strlen(text);
    const char *tail = len > 2000 ? text + len - 2000 : text;
    cr_assert_eq(tl_vocab_words(tail, false), 0, "the last words are the new plugin's:\n%s", tail);
    free(text);
    free(plugin);
    finish(&r);
}

Test(cluster_swap, a_plugin_that_does_not_fit_or_fails_to_prepare_is_refused_and_every_part_goes_back)
{
    run_t r;
    start(&r, 2);
    const struct {
        const char *plugin, *says;
    } refused[] = {
        {"split_other.so", "declares stream 'default' with fields [token]; bolt 'split' has [word]"},
        {"split_broken.so", "prepare of plugin split_broken failed: input/output error"},
    };
    for (size_t i = 0; i < 2; i++) {
        char *plugin = tl_path("%s/tests/plugins/%s", tl_build(), refused[i].plugin);
        tl_result_t res = TL_VERB(&r.c, "swap", "--timeout", "5", "lines_sink", "split", plugin);
        char *said = tl_cluster_nimbus_log(&r.c, 0), *sup0 = tl_daemon_log(&r.c.sup[0]);
        cr_assert_neq(res.status, 0, "%s", refused[i].plugin);
        cr_assert_not_null(strstr(res.err, "split not swapped"), "%s\nnimbus:%s\nsup0:%s", res.err, said, sup0);
        free(said), free(sup0);
        cr_assert_not_null(strstr(res.err, "lines_sink: split not swapped: supervisor "), "%s", res.err);
        cr_assert_not_null(strstr(res.err, refused[i].says), "'%s' not in: %s", refused[i].says, res.err);
        tl_result_free(&res);
        free(plugin);
    }
    char *upper = tl_path("%s/tests/plugins/split_upper.so", tl_build());
    tl_result_t res = TL_VERB(&r.c, "swap", "lines_sink", "lines", upper);
    free(upper);
    cr_assert_neq(res.status, 0);
    cr_assert_not_null(strstr(res.err, "is a bolt plugin, and 'lines' is a spout"), "%s", res.err);
    tl_result_free(&res);
    res = TL_VERB(&r.c, "swap", "lines_sink", "split", "tests/topologies/e2e/lines_sink.cfg");
    cr_assert_neq(res.status, 0);
    cr_assert_not_null(strstr(res.err, "not a valid plugin"), "%s", res.err);
    tl_result_free(&res);
    every_word_arrives(&r, false); /* in lower case: the old plugin on every worker */
    cr_assert(tl_cluster_listed(&r.c, "topology lines_sink status=active workers=2 "));
    finish(&r);
}
