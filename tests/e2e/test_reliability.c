/* End to end: acking, managed replay, the failed-tuple journal and `gale replay`, through the gale binary. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "mpread.h"
#include "testlib.h"

static void use_test_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(reliability, .init = use_test_plugins, .timeout = 150);

#define LINES 400
#define MAX_WORDS 64

typedef struct counts {
    char word[MAX_WORDS][24];
    long n[MAX_WORDS];
    size_t len;
} counts_t;

static void count_word(counts_t *c, const char *w, size_t len, long by)
{
    for (size_t i = 0; i < c->len; i++)
        if (strlen(c->word[i]) == len && !memcmp(c->word[i], w, len)) {
            c->n[i] += by;
            return;
        }
    cr_assert_lt(c->len, MAX_WORDS);
    memcpy(c->word[c->len], w, len);
    c->word[c->len][len] = '\0';
    c->n[c->len++] = by;
}

static void count_line(counts_t *c, const char *line)
{
    for (const char *p = line; *p;) {
        while (*p == ' ') p++;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\n') p++;
        if (p > s) count_word(c, s, (size_t)(p - s), 1);
        if (*p == '\n') break;
    }
}

/* The input, and the true count of each word in it. Line i (from 1) is lines[i - 1]. */
static char lines[LINES][128];
static char *make_input(const char *dir, counts_t *truth)
{
    static const char *vocab[] = {"alpha", "beta", "gamma", "delta", "storm", "gale", "wind", "rain"};
    char *path = tl_path("%s/in.txt", dir);
    FILE *f = fopen(path, "w");
    uint32_t x = 99;
    memset(truth, 0, sizeof *truth);
    for (int i = 0; i < LINES; i++) {
        size_t n = 0;
        int words = 1 + (int)(x % 6);
        for (int w = 0; w < words; w++) {
            x = x * 1664525u + 1013904223u;
            n += (size_t)snprintf(lines[i] + n, sizeof lines[i] - n, "%s%s", w ? " " : "", vocab[(x >> 20) % 8]);
        }
        fprintf(f, "%s\n", lines[i]);
        count_line(truth, lines[i]);
        x = x * 1664525u + 1013904223u;
    }
    fclose(f);
    return path;
}

/* Sink output: {"word": W, "count": N} lines. */
static void read_output(const char *text, counts_t *out)
{
    memset(out, 0, sizeof *out);
    for (const char *p = text; p && *p;) {
        const char *w = strstr(p, "\"word\": \"");
        cr_assert_not_null(w, "bad output line: %.60s", p);
        w += 9;
        const char *e = strchr(w, '"');
        const char *c = strstr(e, "\"count\": ");
        cr_assert_not_null(c);
        count_word(out, w, (size_t)(e - w), atol(c + 9));
        p = strchr(p, '\n');
        if (p) p++;
    }
}

static long lookup(const counts_t *c, const char *word)
{
    for (size_t i = 0; i < c->len; i++)
        if (!strcmp(c->word[i], word)) return c->n[i];
    return 0;
}

/* The `acked` and `failed` columns of a component's row in gale's metrics. */
static void metrics(const char *err, const char *component, long *acked, long *failed)
{
    char key[64];
    snprintf(key, sizeof key, "\n%s ", component);
    const char *row = strstr(err, key);
    cr_assert_not_null(row, "no metrics for %s:\n%s", component, err);
    char name[64], kind[16], ex[32], exp[32];
    long tasks, emitted, executed;
    double rate;
    int n = sscanf(row + 1, "%63s %15s %ld %ld %ld %lf %31s %31s %ld %ld", name, kind, &tasks, &emitted, &executed,
                   &rate, ex, exp, acked, failed);
    cr_assert_eq(n, 10, "cannot read the row: %.200s", row + 1);
}

static tl_result_t run_gale(const char *const *argv, const char *stdin_path)
{
    tl_result_t r;
    cr_assert_eq(tl_run(argv, stdin_path, 120, &r), 0);
    cr_assert_not(r.timed_out, "gale did not finish:\n%s", r.err);
    return r;
}

Test(reliability, chaos_with_replay_counts_every_word_at_least_once)
{
    char *dir = tl_tmpdir();
    counts_t truth, got;
    char *in = make_input(dir, &truth);
    const char *argv[] = {tl_gale(), "run", "tests/topologies/e2e/wordcount_chaos.cfg", NULL};
    tl_result_t r = run_gale(argv, in);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    read_output(r.out, &got);
    for (size_t i = 0; i < truth.len; i++)
        cr_assert_geq(lookup(&got, truth.word[i]), truth.n[i], "'%s' counted %ld times, appears %ld times",
                      truth.word[i], lookup(&got, truth.word[i]), truth.n[i]);
    long acked, failed;
    metrics(r.err, "lines", &acked, &failed);
    cr_assert_eq(acked, LINES, "%ld of %d lines acked\n%s", acked, LINES, r.err);
    cr_assert_eq(failed, 0);
    metrics(r.err, "chaos", &acked, &failed);
    cr_assert_gt(failed, 0, "chaos failed nothing: the test tests nothing\n%s", r.err);
    tl_result_free(&r);
    free(in);
    tl_rmtree(dir);
    free(dir);
}

typedef struct journaled {
    uint64_t ids[LINES];
    size_t n;
    size_t with_reason; /* records of trees chaos failed, each saying why */
} journaled_t;

static void no_corruption(void *arg, const char *line) { cr_assert_fail("journal reported: %s", line); }

/* Every record's values must be exactly the line its message id (the line number) names. */
static void read_journal(const char *path, journaled_t *j, counts_t *words)
{
    gale_journal_reader_t r;
    cr_assert_eq(gale_journal_reader_open(&r, path, NULL, NULL), 0, "no journal at %s", path);
    gale_journal_record_t rec;
    memset(j, 0, sizeof *j);
    memset(words, 0, sizeof *words);
    while (gale_journal_reader_next(&r, &rec, no_corruption, NULL) == 1) {
        cr_assert(rec.msg_id >= 1 && rec.msg_id <= LINES);
        for (size_t i = 0; i < j->n; i++) cr_assert_neq(j->ids[i], rec.msg_id, "line %lu journaled twice", (unsigned long)rec.msg_id);
        j->ids[j->n++] = rec.msg_id;
        gale_value_t values, line;
        size_t used;
        cr_assert_eq(gale_mp_read(rec.values, rec.values_len, &values, &used), 0);
        cr_assert_eq(gale_mp_item(&values, 0, &line), 0);
        const char *want = lines[rec.msg_id - 1];
        cr_assert(line.s.len == strlen(want) && !memcmp(line.s.ptr, want, line.s.len),
                  "journal has '%.*s' for line %lu, which is '%s'", (int)line.s.len, line.s.ptr,
                  (unsigned long)rec.msg_id, want);
        cr_assert_eq(rec.attempts, 1);
        cr_assert_str_eq(rec.spout, "lines");
        /* A tree chaos failed carries its reason, from whichever process ran the chaos task; a timeout has none. */
        if (!strcmp(rec.cause, "fail")) {
            cr_assert_str_eq(rec.component, "chaos");
            cr_assert_str_eq(rec.error ? rec.error : "(none)", "chaos: failed on purpose (fail_ratio)", "line %lu",
                             (unsigned long)rec.msg_id);
            j->with_reason++;
        } else {
            cr_assert_str_eq(rec.cause, "timeout");
            cr_assert_null(rec.error, "line %lu timed out with an error: %s", (unsigned long)rec.msg_id, rec.error);
        }
        count_line(words, want);
    }
    gale_journal_reader_free(&r);
}

Test(reliability, without_retries_the_journal_holds_exactly_the_failed_lines_and_replay_counts_them)
{
    char *dir = tl_tmpdir();
    counts_t truth, got, expect;
    char *in = make_input(dir, &truth);
    char *journal = tl_path("%s/failed.journal", dir);
    char *set_journal = tl_path("config.journal=\"%s\"", journal);
    const char *argv[] = {tl_gale(), "run", "--set", "config.max_retries=0", "--set", set_journal,
                          "tests/topologies/e2e/wordcount_chaos.cfg", NULL};
    tl_result_t r = run_gale(argv, in);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    long acked, failed;
    metrics(r.err, "lines", &acked, &failed);
    cr_assert_eq(acked + failed, LINES, "%ld acked + %ld failed\n%s", acked, failed, r.err);
    cr_assert_gt(failed, 0, "no line failed: the test tests nothing");
    journaled_t j;
    read_journal(journal, &j, &expect);
    cr_assert_eq((long)j.n, failed, "%zu records for %ld failed lines", j.n, failed);
    cr_assert_gt(j.with_reason, 0, "no tree failed by chaos was journaled");
    tl_result_free(&r);

    /* The same journal through the topology without chaos (count reads straight from split) counts exactly the
       words of the journaled lines. */
    const char *replay[] = {tl_gale(), "replay", journal, "--topology", "topologies/wordcount_file.cfg", NULL};
    r = run_gale(replay, NULL);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    read_output(r.out, &got);
    cr_assert_eq(got.len, expect.len, "%zu distinct words, expected %zu\n%s", got.len, expect.len, r.out);
    for (size_t i = 0; i < expect.len; i++)
        cr_assert_eq(lookup(&got, expect.word[i]), expect.n[i], "'%s': %ld, expected %ld", expect.word[i],
                     lookup(&got, expect.word[i]), expect.n[i]);
    char summary[64];
    snprintf(summary, sizeof summary, "replayed %zu tuples through topology 'wordcount_file': %zu acked", j.n, j.n);
    cr_assert_not_null(strstr(r.err, summary), "%s", r.err);
    tl_result_free(&r);

    /* Filters: a cause that no record has selects nothing. */
    const char *none[] = {tl_gale(), "journal", "ls", "--cause", "timeout", "--spout", "nosuch", journal, NULL};
    r = run_gale(none, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "0 records"), "%s", r.err);
    tl_result_free(&r);
    const char *since[] = {tl_gale(), "journal", "ls", "--since", "2000-01-01T00:00:00Z", "--until", "4102444800000", journal, NULL};
    r = run_gale(since, NULL);
    char count_line_text[64];
    snprintf(count_line_text, sizeof count_line_text, "%zu records", j.n);
    cr_assert_not_null(strstr(r.err, count_line_text), "%s", r.err);
    tl_result_free(&r);

    /* And into split alone, traced. */
    const char *trace[] = {tl_gale(), "replay", journal, "--topology", "topologies/wordcount_file.cfg",
                           "--component", "split", "--trace", NULL};
    r = run_gale(trace, NULL);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.out, "input 1 (spout lines, msg_id "), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  emit default [\""), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  ack"), "%s", r.out);
    tl_result_free(&r);

    /* The journal as JSON: one object per record with the documented keys. */
    const char *json[] = {tl_gale(), "journal", "show", "--json", journal, NULL};
    r = run_gale(json, NULL);
    cr_assert_eq(r.status, 0);
    size_t objects = 0;
    for (const char *p = r.out; (p = strstr(p, "{\"time\": ")); p++) objects++;
    cr_assert_eq(objects, j.n);
    const char *keys[] = {"\"topology\": \"wordcount_chaos\"", "\"spout\": \"lines\"", "\"msg_id\": ", "\"values\": [\"",
                          "\"cause\": ", "\"component\": ", "\"task\": ", "\"attempts\": 1"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) cr_assert_not_null(strstr(r.out, keys[k]), "no %s in\n%s", keys[k], r.out);
    tl_result_free(&r);

    free(set_journal);
    free(journal);
    free(in);
    tl_rmtree(dir);
    free(dir);
}

/* The reason a bolt gives crosses processes: chaos's tasks, the acker and the spout are spread over two workers,
   and each journaled fail still says why (REASON frames ahead of the ops that name them). */
Test(reliability, in_worker_mode_a_journaled_fail_says_why_whichever_process_failed_it)
{
    char *dir = tl_tmpdir();
    counts_t truth;
    char *in = make_input(dir, &truth);
    char *journal = tl_path("%s/failed.journal", dir);
    char *set_journal = tl_path("config.journal=\"%s\"", journal), *set_path = tl_path("lines.path=%s", in);
    const char *argv[] = {tl_gale(),
                          "run",
                          "--workers",
                          "2",
                          "--set",
                          "config.max_retries=0",
                          "--set",
                          set_journal,
                          "--set",
                          set_path,
                          "tests/topologies/e2e/wordcount_chaos.cfg",
                          NULL};
    tl_result_t r = run_gale(argv, NULL);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    journaled_t j;
    counts_t words;
    read_journal(journal, &j, &words);
    cr_assert_gt(j.with_reason, 10, "%zu trees failed by chaos were journaled\n%s", j.with_reason, r.err);
    tl_result_free(&r);
    free(set_journal), free(set_path), free(journal), free(in);
    tl_rmtree(dir);
    free(dir);
}

static void write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

Test(reliability, damaged_journals_are_read_with_a_clear_report)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    gale_journal_t *j;
    cr_assert_eq(gale_journal_open(path, false, NULL, &j, NULL), 0);
    for (int i = 1; i <= 3; i++) {
        gale_journal_record_t rec = {.time_ms = 1700000000000, .topology = "t", .spout = "s", .msg_id = (uint64_t)i,
                                     .values = "\x91\xa1x", .values_len = 3, .cause = "timeout", .attempts = 1};
        cr_assert_eq(gale_journal_append(j, &rec), 0);
    }
    gale_journal_close(j);
    size_t len;
    char *data = tl_read_file(path, &len);

    write_bytes(path, data, len - 3); /* torn last record */
    const char *ls[] = {tl_gale(), "journal", "ls", path, NULL};
    tl_result_t r = run_gale(ls, NULL);
    cr_assert_eq(r.status, 0, "a torn tail must not be fatal\n%s", r.err);
    cr_assert_not_null(strstr(r.err, "torn write"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "2 records, 1 corrupt part skipped"), "%s", r.err);
    tl_result_free(&r);

    data[len / 3 + 12] ^= 0x01; /* a flipped bit in the second record */
    write_bytes(path, data, len);
    r = run_gale(ls, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "checksum mismatch"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "2 records, 1 corrupt part skipped"), "%s", r.err);
    tl_result_free(&r);

    const char *missing[] = {tl_gale(), "journal", "ls", "/nonexistent/journal", NULL};
    r = run_gale(missing, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "/nonexistent/journal: cannot open"), "%s", r.err);
    tl_result_free(&r);
    free(data);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(reliability, chaos_crash_after_aborts_the_process_with_a_clear_log)
{
    char *dir = tl_tmpdir();
    counts_t truth;
    char *in = make_input(dir, &truth);
    const char *argv[] = {tl_gale(), "run", "--set", "chaos.crash_after=5", "--set", "chaos.fail_ratio=0",
                          "--set", "chaos.drop_ratio=0", "tests/topologies/e2e/wordcount_chaos.cfg", NULL};
    tl_result_t r = run_gale(argv, in);
    cr_assert_eq(r.status, 128 + 6, "exit %d (expected SIGABRT)\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "chaos: crashing the process after 5 inputs, as asked (crash_after)"), "%s", r.err);
    tl_result_free(&r);
    free(in);
    tl_rmtree(dir);
    free(dir);
}
