/* End to end: damaged journals through `gale journal ls` and `gale replay`, the commands people run on them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "testlib.h"

TestSuite(journal_cli, .timeout = 120);

static tl_result_t run_gale(const char *const *argv)
{
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 100, &r), 0);
    cr_assert_not(r.timed_out, "gale did not finish:\n%s", r.err);
    return r;
}

/* Records first .. first + n - 1 of spout "lines" (topologies/wordcount_file.cfg's), values ["w<msg_id>"]. */
static void append_records(const char *path, int first, int n)
{
    gale_journal_t *j;
    cr_assert_eq(gale_journal_open(path, false, NULL, &j, NULL), 0);
    for (int id = first; id < first + n; id++) {
        char values[16];
        int len = snprintf(values + 2, sizeof values - 2, "w%d", id);
        values[0] = (char)0x91;
        values[1] = (char)(0xa0 | len);
        gale_journal_record_t rec = {.time_ms = 1700000000000 + id, .topology = "wordcount_file", .spout = "lines",
                                     .msg_id = (uint64_t)id, .values = values, .values_len = (size_t)len + 2,
                                     .cause = "timeout", .attempts = 1};
        cr_assert_eq(gale_journal_append(j, &rec), 0);
    }
    gale_journal_close(j);
}

/* A crash tore the last record; the next run appended 20 more. Every other record is listed and replayed. */
Test(journal_cli, records_appended_after_a_torn_tail_are_listed_and_replayed)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/failed.journal", dir);
    append_records(path, 1, 20);
    size_t len;
    free(tl_read_file(path, &len));
    cr_assert_eq(truncate(path, (off_t)len - 5), 0);
    append_records(path, 21, 20);

    const char *ls[] = {tl_gale(), "journal", "ls", "--json", path, NULL};
    tl_result_t r = run_gale(ls);
    cr_assert_eq(r.status, 0, "%s", r.err);
    int n = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        cr_assert(tl_json_valid(line), "not JSON: %s", line);
        int id = ++n < 20 ? n : n + 1; /* 20 is the torn one */
        char want[64];
        snprintf(want, sizeof want, "\"msg_id\": %d, \"values\": [\"w%d\"]", id, id);
        cr_assert_not_null(strstr(line, want), "line %d: want %s in %s", n, want, line);
    }
    cr_assert_eq(n, 39, "%d records listed\n%s", n, r.err);
    cr_assert_not_null(strstr(r.err, "bytes skipped: "), "the torn record is reported: %s", r.err);
    tl_result_free(&r);

    const char *text[] = {tl_gale(), "journal", "ls", path, NULL};
    r = run_gale(text);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "39 records, 1 corrupt part skipped"), "%s", r.err);
    tl_result_free(&r);

    /* Every word w<id> once: the sink's lines are {"word": "w<id>", "count": 1}. */
    const char *replay[] = {tl_gale(), "replay", path, "--topology", "topologies/wordcount_file.cfg", NULL};
    r = run_gale(replay);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "replayed 39 tuples through topology 'wordcount_file': 39 acked"), "%s", r.err);
    for (int id = 1; id <= 40; id++) {
        char want[64];
        snprintf(want, sizeof want, "{\"word\": \"w%d\", \"count\": 1}\n", id);
        if (id == 20) cr_assert_null(strstr(r.out, want), "the torn record was replayed: %s", r.out);
        else cr_assert_not_null(strstr(r.out, want), "w%d not replayed:\n%s", id, r.out);
    }
    tl_result_free(&r);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
