/* The failed-tuple journal: round trips, and torn or corrupt records reported and skipped. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "testlib.h"

static char reports[4096];
static void collect(void *arg, const char *line)
{
    (void)arg;
    strncat(reports, line, sizeof reports - strlen(reports) - 2);
    strcat(reports, "\n");
}

static void write_records(const char *path, int n)
{
    gale_journal_t *j;
    cr_assert_eq(gale_journal_open(path, true, &j, NULL), 0);
    for (int i = 0; i < n; i++) {
        char values[16];
        values[0] = (char)0x92; /* [i, "line"] */
        values[1] = (char)i;
        memcpy(values + 2, "\xa4line", 5);
        gale_journal_record_t r = {.time_ms = 1700000000000 + i, .topology = "wc", .spout = "lines",
                                   .msg_id = (uint64_t)i + 1, .values = values, .values_len = 7,
                                   .cause = i % 2 ? "fail" : "timeout", .component = i % 2 ? "count" : NULL,
                                   .task = i % 2 ? 4 : 0, .attempts = 3};
        cr_assert_eq(gale_journal_append(j, &r), 0);
    }
    gale_journal_close(j);
}

static int read_all(const char *path, uint64_t *ids, int cap)
{
    gale_journal_reader_t r;
    cr_assert_eq(gale_journal_reader_open(&r, path, NULL), 0);
    gale_journal_record_t rec;
    int n = 0;
    reports[0] = '\0';
    while (gale_journal_reader_next(&r, &rec, collect, NULL) == 1) {
        cr_assert_lt(n, cap);
        cr_assert_str_eq(rec.topology, "wc");
        cr_assert_str_eq(rec.spout, "lines");
        cr_assert_eq(rec.attempts, 3);
        cr_assert_eq(rec.values_len, 7);
        if (rec.msg_id % 2 == 0) {
            cr_assert_str_eq(rec.cause, "fail");
            cr_assert_str_eq(rec.component, "count");
            cr_assert_eq(rec.task, 4);
        } else {
            cr_assert_str_eq(rec.cause, "timeout");
            cr_assert_null(rec.component);
        }
        ids[n++] = rec.msg_id;
    }
    gale_journal_reader_free(&r);
    return n;
}

Test(journal, records_round_trip)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    write_records(path, 10);
    uint64_t ids[16];
    cr_assert_eq(read_all(path, ids, 16), 10);
    for (int i = 0; i < 10; i++) cr_assert_eq(ids[i], (uint64_t)i + 1);
    cr_assert_eq(reports[0], '\0', "%s", reports);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(journal, torn_last_record_is_reported_and_skipped)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    write_records(path, 5);
    size_t len;
    char *data = tl_read_file(path, &len);
    cr_assert_eq(truncate(path, (off_t)(len - 10)), 0);
    uint64_t ids[16];
    cr_assert_eq(read_all(path, ids, 16), 4);
    cr_assert_not_null(strstr(reports, "torn write"), "%s", reports);
    free(data);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(journal, flipped_byte_skips_only_that_record)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    write_records(path, 5);
    size_t len;
    char *data = tl_read_file(path, &len);
    size_t rec = len / 5;      /* records are the same size here */
    data[2 * rec + 20] ^= 0x40; /* inside the third record's payload */
    int fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    uint64_t ids[16];
    cr_assert_eq(read_all(path, ids, 16), 4);
    cr_assert_eq(ids[2], 4, "the record after the corrupt one was lost");
    cr_assert_not_null(strstr(reports, "checksum mismatch"), "%s", reports);
    free(data);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(journal, crc32c_known_value)
{
    /* The standard check value of CRC-32C. */
    cr_assert_eq(gale_crc32c(0, "123456789", 9), 0xe3069283u);
}

Test(journal, missing_file_is_a_clear_error)
{
    gale_journal_reader_t r;
    gale_diag_t d;
    cr_assert_lt(gale_journal_reader_open(&r, "/nonexistent/j", &d), 0);
    cr_assert_not_null(strstr(d.msg, "/nonexistent/j: cannot open"));
}
