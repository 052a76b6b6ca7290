/*
 * Hot swap through the supervisor daemon (`gale ctl ... swap ID COMPONENT PATH`): the split bolt of lines_sink.cfg
 * replaced under load by split_upper (the same streams, words in upper case), one worker at a time, losing no word
 * and showing the new plugin's output from then on, also from a worker killed and started again after it; a plugin
 * declaring a superset (a field more, a stream more) is taken, and the topology's subscribers see the fields they
 * know; a plugin with other fields, one whose prepare fails, one that is not a plugin, a component that is not
 * there and a file outside the daemon's folders are refused with the reason, and the topology runs on with the
 * plugin it had.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_daemon.h"
#include "testlib.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(swap, .init = use_plugins, .timeout = 180);

typedef struct run {
    tl_daemon_t d;
    char *lines, *out;
    long counts[10];
} run_t;

/* lines_sink.cfg over two workers of one daemon, paced by its slow bolt (1 ms a word over 3 tasks: some 5 s for
   the 15000 words), once its first words are out. */
static void start(run_t *r)
{
    tl_daemon_start(&r->d, "a secret of the cluster, long enough", 4, NULL);
    r->lines = tl_path("%s/lines.txt", r->d.dir), r->out = tl_path("%s/out.txt", r->d.dir);
    tl_make_lines(r->lines, r->counts);
    char *set_in = tl_path("set=lines.path=%s", r->lines), *set_out = tl_path("set=sink.path=%s", r->out);
    tl_ctl_ok(&r->d,
              TL_CTL(&r->d, "assign", "sw", "tests/topologies/e2e/lines_sink.cfg", "workers=2", set_in, set_out));
    for (int i = 0; i < 3000 && tl_file_size(r->out) < 2000; i++) tl_sleep_ms(10);
    cr_assert_geq(tl_file_size(r->out), 2000, "words flow");
    free(set_in), free(set_out);
}

static void finish(run_t *r)
{
    tl_result_t res = TL_CTL(&r->d, "kill", "sw", "wait=1"); /* or it ended by itself: every slot is here */
    cr_assert(res.status == 0 || strstr(res.err, "topology 'sw' has ended"), "%s", res.err);
    tl_result_free(&res);
    cr_assert_eq(tl_daemon_stop(&r->d), 0);
    tl_daemon_free(&r->d);
    free(r->lines), free(r->out);
}

/* Waits (bounded) until every word has arrived at least its number of times, in either case. */
static void every_word_arrives(const run_t *r)
{
    long seen = 0;
    int short_word = tl_words_arrive_any_case(r->out, r->counts, 60, &seen);
    cr_assert_eq(short_word, -1, "'%s' arrived %ld times of %ld", short_word >= 0 ? TL_VOCAB[short_word] : "", seen,
                 short_word >= 0 ? r->counts[short_word] : 0);
}

Test(swap, the_split_bolt_swapped_under_load_loses_no_word_and_shows_the_new_output_from_then_on)
{
    run_t r = {0};
    start(&r);
    char *plugin = tl_path("%s/tests/plugins/split_upper.so", tl_build());
    double t0 = tl_now_s();
    tl_result_t res = TL_CTL(&r.d, "swap", "sw", "split", plugin);
    double took = tl_now_s() - t0;
    size_t at = tl_file_size(r.out);
    char *log = res.status ? tl_daemon_log(&r.d) : NULL;
    cr_assert_eq(res.status, 0, "%s%s\n%s", res.out, res.err, log);
    cr_assert_str_eq(res.out, "swapped sw split\n");
    tl_result_free(&res);
    cr_assert_lt(at, 200000, "swapped before the end of the input (the sink had %zu bytes)", at);
    /* A worker killed after the swap comes back on the new plugin: it is told before its start. */
    pid_t victim = tl_worker_pid(r.d.pid, 1), back = 0;
    cr_assert_gt(victim, 0);
    kill(victim, SIGKILL);
    for (int i = 0; i < 3000 && ((back = tl_worker_pid(r.d.pid, 1)) <= 0 || back == victim); i++) tl_sleep_ms(10);
    cr_assert(back > 0 && back != victim, "worker 1 came back");
    every_word_arrives(&r);
    char *text = tl_read_file(r.out, NULL);
    /* What the old plugin emitted before the swap may still be in flight after it: at most the open trees (200
       lines of 5 words), none later. */
    long late_lower = tl_vocab_words(text + at, false), upper_words = tl_vocab_words(text, true);
    cr_log_info("swap: split swapped in %.0f ms under load; %ld upper-case words after it, %ld lower-case ones "
                "written after it returned (in flight before)",
                took * 1000, upper_words, late_lower);
    cr_assert_gt(upper_words, 1000, "the new plugin's words are in the sink");
    cr_assert_leq(late_lower, 200 * 5, "the old plugin ran after the swap: %ld lower-case words later", late_lower);
    size_t len = strlen(text);
    const char *tail = len > 2000 ? text + len - 2000 : text;
    cr_assert_eq(tl_vocab_words(tail, false), 0, "the last words are the new plugin's:\n%s", tail);
    free(text);
    char *said = tl_daemon_log(&r.d);
    cr_assert_not_null(strstr(said, "split runs plugin split_upper from now on"), "%s", said);
    cr_assert_not_null(strstr(said, "sw: split runs "), "%s", said);
    free(said);
    free(plugin);
    finish(&r);
}

Test(swap, what_cannot_take_the_bolts_place_is_refused_and_the_topology_runs_on)
{
    run_t r = {0};
    start(&r);
    char *wide = tl_path("%s/tests/plugins/split_wide.so", tl_build());
    char *other = tl_path("%s/tests/plugins/split_other.so", tl_build());
    char *broken = tl_path("%s/tests/plugins/split_broken.so", tl_build());
    char *not_elf = tl_path("%s/not_a_plugin.so", r.d.dir);
    cr_assert_eq(tl_write_file(not_elf, "#!/bin/sh\necho not a plugin\n"), 0);
    const struct {
        const char *component, *path, *says;
    } refused[] = {
        {"split", other, "declares stream 'default' with fields [token]; bolt 'split' has [word]"},
        {"split", broken, "prepare of plugin split_broken failed: input/output error"},
        {"split", not_elf, "not a valid plugin"},
        {"nothing", wide, "no component named 'nothing'"},
        {"lines", wide, "is a bolt plugin, and 'lines' is a spout"},
        {"split", "/etc/hostname", "not allowed"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        tl_result_t res = TL_CTL(&r.d, "swap", "sw", refused[i].component, refused[i].path);
        cr_assert_neq(res.status, 0, "%s %s", refused[i].component, refused[i].path);
        cr_assert_not_null(strstr(res.err, refused[i].says), "'%s' not in: %s", refused[i].says, res.err);
        tl_result_free(&res);
    }
    /* The old plugin on every worker: every word arrives in lower case. */
    long seen = 0;
    int short_word = tl_words_arrive(r.out, r.counts, 60, &seen);
    cr_assert_eq(short_word, -1, "'%s' arrived %ld times of %ld", short_word >= 0 ? TL_VOCAB[short_word] : "", seen,
                 short_word >= 0 ? r.counts[short_word] : 0);
    char *said = tl_daemon_log(&r.d);
    cr_assert_not_null(strstr(said, "swap of split refused by worker "), "%s", said);
    free(said);
    free(wide), free(other), free(broken), free(not_elf);
    finish(&r);
}

/* split_wide emits [WORD, length] and the length on a stream of its own: the swap takes it, the sink's lines hold
   the one field the topology knows, every word arrives, and no task logs a refused emit. */
Test(swap, a_plugin_declaring_a_superset_is_taken_and_subscribers_see_the_fields_they_know)
{
    run_t r = {0};
    start(&r);
    char *plugin = tl_path("%s/tests/plugins/split_wide.so", tl_build());
    tl_result_t res = TL_CTL(&r.d, "swap", "sw", "split", plugin);
    cr_assert_eq(res.status, 0, "%s%s", res.out, res.err);
    cr_assert_str_eq(res.out, "swapped sw split\n");
    tl_result_free(&res);
    every_word_arrives(&r);
    char *text = tl_read_file(r.out, NULL);
    cr_assert_gt(tl_vocab_words(text, true), 1000, "the new plugin's words are in the sink");
    cr_assert_null(strstr(text, "\"n\""), "a field the topology does not know reached the sink");
    size_t len = strlen(text);
    const char *tail = len > 2000 ? text + len - 2000 : text;
    cr_assert_eq(tl_vocab_words(tail, false), 0, "the last words are the new plugin's:\n%s", tail);
    free(text);
    char *said = tl_daemon_log(&r.d);
    cr_assert_not_null(strstr(said, "split runs plugin split_wide from now on"), "%s", said);
    cr_assert_null(strstr(said, "emit of "), "%s", said);
    cr_assert_null(strstr(said, "which it does not declare"), "%s", said);
    free(said);
    free(plugin);
    finish(&r);
}
