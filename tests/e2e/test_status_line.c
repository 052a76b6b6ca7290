/*
 * `gale run`'s status line: in a pseudo-terminal (script(1)) it is drawn every second, with the rates, the trees
 * and the share of a file input read, and erased before the exit table; `--quiet`, or a stderr that is not a
 * terminal, has none.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status_line.h"
#include "testlib.h"

TestSuite(status_line, .init = tl_use_test_plugins, .timeout = 120);

/* `gale run ARGS... lines_slow.cfg` over 3000 lines in a pseudo-terminal: what the terminal got (malloc'd). */
static char *in_a_terminal(const char *extra)
{
    char *dir = tl_tmpdir(), *lines = tl_path("%s/lines.txt", dir), *typescript = tl_path("%s/typescript", dir);
    long counts[10];
    tl_make_lines(lines, counts);
    /* A terminal of 200 columns: the line is cut to the terminal's width. */
    char *command = tl_path("stty cols 200; %s run %s --set lines.path=%s tests/topologies/e2e/lines_slow.cfg",
                            tl_gale(), extra, lines);
    const char *argv[] = {"/usr/bin/script", "-qfec", command, typescript, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 90, &r), 0);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    tl_result_free(&r);
    char *text = tl_read_file(typescript, NULL);
    cr_assert_not_null(text);
    tl_rmtree(dir);
    free(dir), free(lines), free(typescript), free(command);
    return text;
}

Test(status_line, a_terminal_gets_a_live_line_with_the_rates_and_the_input_read)
{
    char *text = in_a_terminal("");
    const char *line = strstr(text, "\r\033[Klines_slow  ");
    cr_assert_not_null(line, "no status line:\n%s", text);
    cr_assert_not_null(strstr(text, "  in "), "%s", text);
    cr_assert_not_null(strstr(text, "/s  out "), "a rate, once there were two figures:\n%s", text);
    cr_assert_not_null(strstr(text, "  acked "), "%s", text);
    cr_assert_not_null(strstr(text, "  pending "), "%s", text);
    /* The share of the file read climbs: some line shows a share below 100%. */
    const char *input = strstr(text, "  input ");
    cr_assert_not_null(input, "file_lines says how much it read:\n%s", text);
    cr_assert_lt(atoi(input + 8), 100, "%s", text);
    /* Erased before the table at the end: the table starts on a clean line. */
    cr_assert_not_null(strstr(text, "\r\033[Ktopology 'lines_slow' ran"), "%s", text);
    free(text);
}

Test(status_line, quiet_or_a_file_has_none)
{
    char *text = in_a_terminal("--quiet");
    cr_assert_null(strstr(text, "\033[K"), "--quiet draws no status line:\n%s", text);
    free(text);
    char *dir = tl_tmpdir(), *lines = tl_path("%s/lines.txt", dir), *set = tl_path("lines.path=%s", lines);
    long counts[10];
    tl_make_lines(lines, counts);
    const char *argv[] = {tl_gale(), "run", "--set", set, "tests/topologies/e2e/lines_slow.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 90, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_null(strstr(r.err, "\033[K"), "stderr to a file draws none:\n%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(lines), free(set);
}

/* The line's text from two records, a second apart. */
Test(status_line, the_text_has_the_rates_over_the_figures_time)
{
    gale_status_sums_t prev = {.figures_s = 1, .uptime_s = 61, .in = 1000, .out = 500},
                       now = {.figures_s = 3,
                              .uptime_s = 63,
                              .in = 2501000,
                              .out = 1000500,
                              .acked = 12345678,
                              .failed = 2,
                              .pending = 1024,
                              .complete_p99_ns = 3150000,
                              .input_read = 45,
                              .input_total = 100};
    char text[256];
    gale_status_line_text("t", &prev, &now, text, sizeof text);
    cr_assert_str_eq(text, "t  1m03s  input 45%  in 1.25M/s  out 500k/s  acked 12.3M  failed 2  pending 1.02k  p99 "
                           "3.15 ms");
    gale_status_line_text("t", NULL, &now, text, sizeof text);
    cr_assert_not_null(strstr(text, "in -  out -"), "no rates from one record: %s", text);
}
