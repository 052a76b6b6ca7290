/* End to end: the plugin ABI as plugins meet it: C++ plugins, older descriptors, process hooks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static void use_test_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(plugin_abi, .init = use_test_plugins, .timeout = 120);

/* How many times `text` has `needle`. */
static long occurrences(const char *text, const char *needle)
{
    long n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

Test(plugin_abi, cpp_plugin_counts_every_word_exactly)
{
    char *dir = tl_tmpdir();
    char *in = tl_path("%s/in.txt", dir), *out = tl_path("%s/out.jsonl", dir);
    long counts[10];
    tl_make_lines(in, counts);
    char *set_in = tl_path("lines.path=%s", in), *set_out = tl_path("sink.path=%s", out);
    const char *argv[] = {tl_gale(), "run", "--threads", "2", "--set", set_in, "--set", set_out,
                          "tests/topologies/e2e/cpp_wordcount.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    char *text = tl_read_file(out, NULL);
    cr_assert_not_null(text, "no output\n%s", r.err);
    cr_assert_eq(occurrences(text, "\n"), 10, "one line per word expected:\n%s", text);
    for (int k = 0; k < 10; k++) {
        char line[96];
        snprintf(line, sizeof line, "{\"word\": \"%s\", \"count\": %ld}\n", TL_VOCAB[k], counts[k]);
        cr_expect_eq(occurrences(text, line), 1, "missing %s in:\n%s", line, text);
    }
    free(text);
    tl_result_free(&r);
    free(set_in), free(set_out), free(in), free(out);
    tl_rmtree(dir);
    free(dir);
}

/* A struct of an older minor is filled only as far as it goes; an emit without a size is refused, not misread. */
Test(plugin_abi, sized_structs_are_read_and_filled_by_their_size)
{
    const char *argv[] = {tl_gale(), "run", "tests/topologies/e2e/abi_probe.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_expect_not_null(strstr(r.err, "abi_probe: short task_info: component=probe task_id=deadbeef"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "abi_probe: unsized emit: invalid argument"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "emit with a gale_emit_t of 0 bytes, ABI 2.0's has"), "%s", r.err);
    tl_result_free(&r);
}

/* gale.h's phase table, as the runtime enforces it (the probe tries the calls and logs the codes' names). */
Test(plugin_abi, calls_outside_their_phase_get_estate)
{
    const char *argv[] = {tl_gale(), "run", "tests/topologies/e2e/abi_probe.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_expect_not_null(strstr(r.err, "abi_probe: emit in prepare: GALE_ESTATE"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "abi_probe: declare_stream in prepare: GALE_ESTATE"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "abi_probe: declare_direct_stream in prepare: GALE_ESTATE"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "abi_probe: emit in cleanup: GALE_ESTATE"), "%s", r.err);
    tl_result_free(&r);
}

/* ---- process hooks -------------------------------------------------------------------------------------------- */

/* Runs tests/topologies/e2e/process_hooks.cfg with `workers` workers, the hooks' lines going to a file; returns
   the run (r) and the file's text (malloc'd, NULL when none was written). */
static char *run_hooks(const char *workers, bool fail, tl_result_t *r)
{
    char *dir = tl_tmpdir();
    char *hooks = tl_path("%s/hooks", dir), *stats = tl_path("%s/stats.json", dir);
    setenv("GALE_TEST_HOOKS", hooks, 1);
    if (fail) setenv("GALE_TEST_HOOKS_FAIL", "1", 1);
    const char *argv[] = {tl_gale(), "run", "--threads", "2", "--workers", workers, "--stats", stats,
                          "tests/topologies/e2e/process_hooks.cfg", NULL};
    cr_assert_eq(tl_run(argv, NULL, 60, r), 0);
    char *text = tl_read_file(hooks, NULL);
    char *json = tl_read_file(stats, NULL);
    if (r->status == 0) { /* every tuple went through old_minor, whose descriptor ends before the optional fields */
        cr_assert_not_null(json, "%s", r->err);
        cr_expect_not_null(strstr(json, "{\"name\": \"old\", \"kind\": \"bolt\", \"tasks\": 2, \"emitted\": 100, "
                                        "\"transferred\": 0, \"executed\": 100"),
                           "%s", json);
    }
    free(json);
    free(hooks), free(stats);
    tl_rmtree(dir);
    free(dir);
    return text;
}

/* Checks the lines of one process: "init PID I/N" first, then its tasks' prepares, cleanups, and "exit PID"
   last. Returns the process's worker index. */
static int check_process(const char *text, int pid, int workers)
{
    char want[64];
    long init_at = -1, exit_at = -1, first_prepare = -1, last_cleanup = -1, inits = 0, exits = 0, prepares = 0, k = 0;
    int index = -1;
    for (const char *p = text; *p; k++) {
        char what[16];
        int who = 0, i = -1, n = -1;
        cr_assert_geq(sscanf(p, "%15s %d %d/%d", what, &who, &i, &n), 2, "bad line: %.40s", p);
        if (who == pid) {
            if (!strcmp(what, "init")) {
                inits++, init_at = k, index = i;
                cr_expect_eq(n, workers, "%s", text);
            }
            if (!strcmp(what, "exit")) exits++, exit_at = k;
            if (!strcmp(what, "prepare") && first_prepare < 0) first_prepare = k;
            if (!strcmp(what, "prepare")) prepares++;
            if (!strcmp(what, "cleanup")) last_cleanup = k;
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    snprintf(want, sizeof want, "pid %d", pid);
    cr_expect_eq(inits, 1, "%s: %ld inits\n%s", want, inits, text);
    cr_expect_eq(exits, 1, "%s: %ld exits\n%s", want, exits, text);
    cr_expect_gt(prepares, 0, "%s: no tasks\n%s", want, text);
    cr_expect_lt(init_at, first_prepare, "%s: init after a prepare\n%s", want, text);
    cr_expect_gt(exit_at, last_cleanup, "%s: exit before a cleanup\n%s", want, text);
    return index;
}

/* The pids that wrote lines, in order of their first line. */
static size_t pids_of(const char *text, int *pids, size_t cap)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        int pid = 0;
        if (sscanf(p, "%*s %d", &pid) == 1) {
            size_t i = 0;
            while (i < n && pids[i] != pid) i++;
            if (i == n && n < cap) pids[n++] = pid;
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    return n;
}

Test(plugin_abi, process_hooks_run_once_around_the_tasks_in_local_mode)
{
    tl_result_t r;
    char *text = run_hooks("1", false, &r);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(text, "%s", r.err);
    int pids[4];
    cr_assert_eq(pids_of(text, pids, 4), 1, "%s", text);
    cr_expect_eq(check_process(text, pids[0], 1), 0);
    cr_expect_eq(occurrences(text, "prepare "), 4, "%s", text); /* a and b: one init for both */
    cr_expect_not_null(strstr(text, " 0/1 process_hooks\n"), "%s", text);
    cr_expect_null(strstr(r.err, "read past"), "%s", r.err);
    free(text);
    tl_result_free(&r);
}

Test(plugin_abi, process_hooks_run_once_in_each_worker)
{
    tl_result_t r;
    char *text = run_hooks("2", false, &r);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(text, "%s", r.err);
    int pids[4];
    cr_assert_eq(pids_of(text, pids, 4), 2, "%s", text);
    int a = check_process(text, pids[0], 2), b = check_process(text, pids[1], 2);
    cr_expect((a == 0 && b == 1) || (a == 1 && b == 0), "worker indexes %d and %d\n%s", a, b, text);
    cr_expect_eq(occurrences(text, "prepare "), 4, "%s", text);
    free(text);
    tl_result_free(&r);
}

Test(plugin_abi, a_failing_process_init_stops_the_run_naming_the_plugin)
{
    tl_result_t r;
    char *text = run_hooks("1", true, &r);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_expect_not_null(strstr(r.err, "process_init of plugin process_hooks failed: input/output error"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "[process_hooks] told to fail process_init"), "%s", r.err);
    cr_expect(!text || !strstr(text, "prepare"), "a task was opened:\n%s", text);
    free(text);
    tl_result_free(&r);
}

/* ---- waking a task from a thread of the plugin's own ---------------------------------------------------------- */

/* Every tuple of waker_spout is emitted by its service, which its own thread asks for with gale_wake. */
Test(plugin_abi, a_plugin_thread_wakes_its_task_and_service_emits)
{
    char *dir = tl_tmpdir();
    char *stats = tl_path("%s/stats.json", dir);
    const char *argv[] = {tl_gale(), "run", "--stats", stats, "tests/topologies/e2e/waker.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    char *json = tl_read_file(stats, NULL);
    cr_assert_not_null(json, "%s", r.err);
    cr_expect_not_null(strstr(json,
                              "{\"name\": \"waker\", \"kind\": \"spout\", \"tasks\": 2, \"emitted\": 200, "
                              "\"transferred\": 200, \"executed\": 0, \"acked\": 0, \"failed\": 0, \"errors\": 0"),
                       "%s", json);
    cr_expect_not_null(strstr(json, "{\"name\": \"probe\", \"kind\": \"bolt\", \"tasks\": 2, \"emitted\": 200, "
                                    "\"transferred\": 0, \"executed\": 200"),
                       "%s", json);
    cr_expect_null(strstr(r.err, "gale_wake failed"), "%s", r.err);
    free(json);
    tl_result_free(&r);
    free(stats);
    tl_rmtree(dir);
    free(dir);
}

/* gale replay runs the hooks too: through a topology, and into one bolt alone. */
Test(plugin_abi, process_hooks_run_in_gale_replay)
{
    char *dir = tl_tmpdir();
    char *journal = tl_path("%s/failed.journal", dir), *hooks = tl_path("%s/hooks", dir);
    char *set_journal = tl_path("config.journal=\"%s\"", journal);
    const char *fail[] = {tl_gale(), "run", "--quiet", "--set", set_journal, "tests/topologies/e2e/fail_all.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(fail, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    tl_result_free(&r);
    setenv("GALE_TEST_HOOKS", hooks, 1);
    const char *replay[] = {tl_gale(), "replay", journal, "--topology", "tests/topologies/e2e/process_hooks.cfg", NULL};
    cr_assert_eq(tl_run(replay, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "replayed 20 tuples through topology 'process_hooks': 20 acked"), "%s", r.err);
    tl_result_free(&r);
    char *text = tl_read_file(hooks, NULL);
    cr_assert_not_null(text);
    int pids[4];
    cr_assert_eq(pids_of(text, pids, 4), 1, "%s", text);
    cr_expect_eq(check_process(text, pids[0], 1), 0);
    cr_expect_eq(occurrences(text, "prepare "), 4, "%s", text);
    free(text);
    unlink(hooks);
    const char *one[] = {tl_gale(), "replay", journal, "--topology", "tests/topologies/e2e/process_hooks.cfg",
                         "--component", "a", NULL};
    cr_assert_eq(tl_run(one, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    tl_result_free(&r);
    text = tl_read_file(hooks, NULL);
    cr_assert_not_null(text);
    cr_assert_eq(pids_of(text, pids, 4), 1, "%s", text);
    cr_expect_eq(check_process(text, pids[0], 1), 0);
    cr_expect_eq(occurrences(text, "prepare "), 1, "%s", text);
    free(text);
    free(journal), free(hooks), free(set_journal);
    tl_rmtree(dir);
    free(dir);
}
