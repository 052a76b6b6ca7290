/* End to end: the plugin ABI as plugins meet it: C++ plugins, older descriptors, process hooks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    cr_expect_not_null(strstr(r.err, "abi_probe: emit in cleanup: GALE_ESTATE"), "%s", r.err);
    tl_result_free(&r);
}
