/*
 * The verbs that change a running topology of a cluster (test_cluster.h: a real ZooKeeper, nimbus, supervisors
 * with --zk): deactivate holds the spouts of every worker, on every supervisor, and activate lets them go on, with
 * nothing lost either way; the verbs refuse what they cannot do.
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

TestSuite(cluster_verbs, .init = use_plugins, .timeout = 240);

static size_t size_of(const char *path)
{
    size_t len = 0;
    free(tl_read_file(path, &len));
    return len;
}

/* Waits (bounded) until `path` holds still for a second: its size then. */
static size_t size_when_quiet(const char *path)
{
    size_t last = (size_t)-1;
    for (int i = 0; i < 60; i++) {
        size_t now = size_of(path);
        if (now == last) return now;
        last = now;
        tl_sleep_ms(1000);
    }
    cr_assert_fail("%s kept growing for 60 s after the deactivation", path);
    return 0;
}

static void verb_ok(const tl_cluster_t *c, tl_result_t r, const char *want)
{
    cr_assert_eq(r.status, 0, "%s%s\nnimbus: %s", r.out, r.err, tl_cluster_nimbus_log(c, 0));
    if (want) cr_assert_not_null(strstr(r.out, want), "'%s' not in: %s", want, r.out);
    tl_result_free(&r);
}

Test(cluster_verbs, deactivate_holds_every_spout_and_activate_lets_them_go_on_losing_nothing)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 2, 1);
    char *lines = tl_path("%s/lines.txt", c.dir), *out = tl_path("%s/out.txt", c.dir);
    long counts[10];
    tl_make_lines(lines, counts);
    char *set_lines = tl_path("lines.path=%s", lines), *set_out = tl_path("sink.path=%s", out);
    /* Two workers on two supervisors: the spout on one, sink tasks on both. */
    verb_ok(&c,
            TL_VERB(&c, "submit", "--set", "config.workers=2", "--set", set_lines, "--set", set_out,
                    "tests/topologies/e2e/lines_sink.cfg"),
            "submitted lines_sink");
    for (int i = 0; i < 3000 && size_of(out) < 2000; i++) tl_sleep_ms(10);
    cr_assert_geq(size_of(out), 2000, "words flow before the deactivation");
    verb_ok(&c, TL_VERB(&c, "deactivate", "lines_sink"), "lines_sink inactive");
    size_t held = size_when_quiet(out);
    long seen = 0;
    char *text = tl_read_file(out, NULL);
    cr_assert_neq(tl_words_short(text, counts, &seen), -1, "deactivated before the file's end");
    free(text);
    tl_sleep_ms(1500);
    cr_assert_eq(size_of(out), held, "nothing reaches the sink while the topology is inactive");
    cr_assert(tl_cluster_listed(&c, "topology lines_sink status=inactive workers=2"));
    /* The spout's worker (slot 0) killed while inactive: its next life opens the spout without activating it. */
    int holder = tl_worker_pid(c.sup[0].pid, 0) > 0 ? 0 : 1;
    pid_t before = tl_worker_pid(c.sup[holder].pid, 0);
    cr_assert_gt(before, 0, "no supervisor runs slot 0");
    kill(before, SIGKILL);
    pid_t after = 0;
    for (int i = 0; i < 3000 && ((after = tl_worker_pid(c.sup[holder].pid, 0)) <= 0 || after == before); i++)
        tl_sleep_ms(10);
    cr_assert(after > 0 && after != before, "the worker of slot 0 came back");
    tl_sleep_ms(2000);
    cr_assert_eq(size_of(out), held, "a worker restarted while inactive emits nothing");
    verb_ok(&c, TL_VERB(&c, "deactivate", "lines_sink"), "lines_sink inactive"); /* again: no change, no error */
    verb_ok(&c, TL_VERB(&c, "activate", "lines_sink"), "lines_sink active");
    int short_word = tl_words_arrive(out, counts, 120, &seen);
    cr_assert_eq(short_word, -1, "'%s' arrived %ld times of %ld", short_word >= 0 ? TL_VOCAB[short_word] : "", seen,
                 short_word >= 0 ? counts[short_word] : 0);
    cr_assert(tl_cluster_listed(&c, "topology lines_sink status=active workers=2"));
    verb_ok(&c, TL_VERB(&c, "kill", "--wait", "1", "lines_sink"), "killed lines_sink");
    free(lines), free(out), free(set_lines), free(set_out);
    tl_cluster_free(&c);
}

Test(cluster_verbs, activate_and_deactivate_refuse_what_is_not_there)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 1, 1);
    const char *const cases[][2] = {{"activate", "nothing_here"}, {"deactivate", "nothing_here"}};
    for (size_t i = 0; i < 2; i++) {
        tl_result_t r = TL_VERB(&c, cases[i][0], cases[i][1]);
        cr_assert_neq(r.status, 0, "%s %s", cases[i][0], cases[i][1]);
        cr_assert_not_null(strstr(r.err, "no topology named nothing_here"), "%s", r.err);
        tl_result_free(&r);
    }
    tl_result_t r = TL_VERB(&c, "deactivate");
    cr_assert_neq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "NAME is needed"), "%s", r.err);
    tl_result_free(&r);
    tl_cluster_free(&c);
}
