/*
 * End to end: a topology with config.journal_key seals its failed-tuple journal; `gale journal` and `gale replay`
 * open it with the key, and refuse it without the key, with another key, and where a record was changed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "testlib.h"

TestSuite(journal_sealed, .timeout = 240);

enum { LINES = 40 };

typedef struct sealed_run {
    char *dir, *input, *cfg, *key, *journal;
} sealed_run_t;

static tl_result_t gale(const char *const *argv)
{
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_not(r.timed_out, "gale did not finish:\n%s", r.err);
    return r;
}

/* lines -> split -> chaos (fails every word) -> count: with no retries, every line's tree fails and is journaled. */
static void setup(sealed_run_t *s, bool sealed)
{
    s->dir = tl_tmpdir();
    s->input = tl_path("%s/input.txt", s->dir);
    s->cfg = tl_path("%s/fail_all.cfg", s->dir);
    s->key = tl_path("%s/journal.key", s->dir);
    s->journal = tl_path("%s/failed.journal", s->dir);
    char *text = malloc(LINES * 32), *p = text;
    for (int i = 0; i < LINES; i++) p += sprintf(p, "zebra%02d quokka%02d\n", i, i);
    cr_assert_eq(tl_write_file(s->input, text), 0);
    free(text);
    const char *keygen[] = {tl_gale(), "keygen", s->key, NULL};
    tl_result_t r = gale(keygen);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    char *key_line = sealed ? tl_path("journal_key = \"%s\";", s->key) : tl_path(" ");
    char *cfg = tl_path("name = \"fail_all\";\n"
                        "config = { ackers = 1; max_retries = 0; journal = \"%s\";\n"
                        "           %s };\n"
                        "spouts = ( { name = \"lines\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
                        "bolts = (\n"
                        "  { name = \"split\"; plugin = \"split_sentence\"; inputs = ( { from = \"lines\"; } ); },\n"
                        "  { name = \"chaos\"; plugin = \"chaos\"; settings = { fail_ratio = 1.0; };\n"
                        "    inputs = ( { from = \"split\"; } ); }\n"
                        ");\n",
                        s->journal, key_line, s->input);
    cr_assert_eq(tl_write_file(s->cfg, cfg), 0);
    free(cfg), free(key_line);
}

static void teardown(sealed_run_t *s)
{
    tl_rmtree(s->dir);
    free(s->dir), free(s->input), free(s->cfg), free(s->key), free(s->journal);
}

/* Runs the topology (`workers` processes) and checks that every line failed. */
static void run_topology(sealed_run_t *s, const char *workers)
{
    const char *argv[] = {tl_gale(), "run", "--quiet", "--workers", workers, s->cfg, NULL};
    tl_result_t r = gale(argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; p && (p = strchr(p, '\n')); p++) n++;
    return n;
}

static int count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

Test(journal_sealed, two_workers_seal_every_record_and_the_key_lists_and_replays_them)
{
    /* The test checks itself: without the key, the journal holds the input's words in clear. */
    sealed_run_t clear;
    setup(&clear, false);
    run_topology(&clear, "1");
    size_t len;
    char *data = tl_read_file(clear.journal, &len);
    cr_assert_not_null(memmem(data, len, "zebra07", 7), "the clear journal lacks the input's words");
    free(data);
    teardown(&clear);

    sealed_run_t s;
    setup(&s, true);
    run_topology(&s, "2");
    data = tl_read_file(s.journal, &len);
    cr_assert_gt(len, 0);
    for (int i = 0; i < LINES; i++) {
        char w[2][32];
        snprintf(w[0], sizeof w[0], "zebra%02d", i), snprintf(w[1], sizeof w[1], "quokka%02d", i);
        for (int k = 0; k < 2; k++) cr_assert_null(memmem(data, len, w[k], strlen(w[k])), "%s is in clear", w[k]);
    }
    cr_assert_null(memmem(data, len, "fail_all", 8), "the topology's name is in clear");
    free(data);

    /* In worker mode the spout's worker journals (test_journal's sealed suite has two processes appending to one
       journal): every record opens, each one's offset was right, and nothing is reported. */
    const char *ls[] = {tl_gale(), "journal", "ls", "--json", "--key", s.key, s.journal, NULL};
    tl_result_t r = gale(ls);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), LINES, "%s\n%s", r.out, r.err);
    cr_assert_eq(r.err[0], '\0', "nothing to report: %s", r.err);
    for (int i = 0; i < LINES; i++) {
        char want[128];
        snprintf(want, sizeof want, "\"values\": [\"zebra%02d quokka%02d\"], \"cause\": \"fail\"", i, i);
        cr_assert_not_null(strstr(r.out, want), "no record with %s:\n%s", want, r.out);
    }
    tl_result_free(&r);

    const char *replay[] = {
        tl_gale(), "replay", s.journal, "--key", s.key, "--topology", "topologies/wordcount_file.cfg", NULL};
    r = gale(replay);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "replayed 40 tuples through topology 'wordcount_file': 40 acked"), "%s", r.err);
    for (int i = 0; i < LINES; i++) {
        char want[128];
        snprintf(want, sizeof want, "{\"word\": \"quokka%02d\", \"count\": 1}", i);
        cr_assert_not_null(strstr(r.out, want), "%s not replayed:\n%s", want, r.out);
    }
    tl_result_free(&r);
    teardown(&s);
}

Test(journal_sealed, without_the_key_or_with_another_every_record_is_refused_and_none_replayed)
{
    sealed_run_t s;
    setup(&s, true);
    run_topology(&s, "1");
    const char *ls[] = {tl_gale(), "journal", "ls", s.journal, NULL};
    tl_result_t r = gale(ls);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_eq(count_of(r.err, ": give the journal's key (--key FILE); skipped"), LINES, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "0 records, 40 records not read (sealed, or not authenticated)"), "%s", r.err);
    tl_result_free(&r);

    char *other = tl_path("%s/other.key", s.dir);
    const char *keygen[] = {tl_gale(), "keygen", other, NULL};
    r = gale(keygen);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    const char *wrong[] = {tl_gale(), "journal", "ls", "--key", other, s.journal, NULL};
    r = gale(wrong);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_eq(count_of(r.err, "record sealed with another key (key id "), LINES, "%s", r.err);
    tl_result_free(&r);

    const char *replay[] = {
        tl_gale(), "replay", s.journal, "--key", other, "--topology", "topologies/wordcount_file.cfg", NULL};
    r = gale(replay);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "40 records not replayed (sealed, or not authenticated)"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "replayed 0 tuples"), "%s", r.err);
    cr_assert_null(strstr(r.out, "zebra"), "%s", r.out);
    tl_result_free(&r);
    free(other);
    teardown(&s);
}

/* The offsets of the records of a format-2/3 journal (their headers give their lengths). */
static int offsets_of(const char *data, size_t len, size_t *at, int cap)
{
    int n = 0;
    for (size_t off = 0; off + GALE_JOURNAL_HEADER <= len && n < cap; n++) {
        at[n] = off;
        const unsigned char *p = (const unsigned char *)data + off + 4;
        off += GALE_JOURNAL_HEADER + (p[0] | p[1] << 8 | p[2] << 16 | (size_t)p[3] << 24);
    }
    return n;
}

Test(journal_sealed, a_flipped_bit_costs_that_record_only_and_a_forged_checksum_does_not_get_it_replayed)
{
    sealed_run_t s;
    setup(&s, true);
    run_topology(&s, "1");
    size_t len, at[LINES + 1];
    char *data = tl_read_file(s.journal, &len);
    cr_assert_eq(offsets_of(data, len, at, LINES + 1), LINES);
    data[at[5] + GALE_JOURNAL_HEADER + 40] ^= 0x10; /* a bit of record 5's ciphertext */
    cr_assert_eq(tl_write_file(s.journal, ""), 0);
    FILE *f = fopen(s.journal, "w");
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    const char *ls[] = {tl_gale(), "journal", "ls", "--json", "--key", s.key, s.journal, NULL};
    tl_result_t r = gale(ls);
    cr_assert_eq(r.status, 0, "damage is skipped and reported, as in a journal in clear: %s", r.err);
    cr_assert_eq(count_lines(r.out), LINES - 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "checksum mismatch (corrupt record)"), "%s", r.err);
    tl_result_free(&r);

    /* The same bit with the checksum made to match, as a forger would: the key's tag still refuses it. */
    const unsigned char *rec = (const unsigned char *)data + at[5];
    uint32_t n = (uint32_t)(at[6] - at[5] - GALE_JOURNAL_HEADER);
    uint32_t crc = gale_crc32c(gale_crc32c(0, rec + 4, 4), rec + GALE_JOURNAL_HEADER, n);
    for (int b = 0; b < 4; b++) data[at[5] + 8 + b] = (char)(crc >> 8 * b);
    f = fopen(s.journal, "w");
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    r = gale(ls);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_eq(count_lines(r.out), LINES - 1, "%s", r.err);
    char want[128];
    snprintf(want, sizeof want, "offset %zu: record does not authenticate with the key", at[5]);
    cr_assert_not_null(strstr(r.err, want), "%s", r.err);
    tl_result_free(&r);
    const char *replay[] = {
        tl_gale(), "replay", s.journal, "--key", s.key, "--topology", "topologies/wordcount_file.cfg", NULL};
    r = gale(replay);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "replayed 39 tuples through topology 'wordcount_file': 39 acked"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "1 record not replayed"), "%s", r.err);
    free(data);
    tl_result_free(&r);
    teardown(&s);
}

Test(journal_sealed, keygen_keeps_a_key_and_one_others_can_read_stops_the_run_and_one_without_a_journal_is_refused)
{
    sealed_run_t s;
    setup(&s, true);
    size_t before_len, after_len;
    char *before = tl_read_file(s.key, &before_len);
    const char *keygen[] = {tl_gale(), "keygen", s.key, NULL};
    tl_result_t k = gale(keygen);
    cr_assert_eq(k.status, 1, "a key was replaced: %s", k.err);
    cr_assert_not_null(strstr(k.err, "exists; it is kept"), "%s", k.err);
    char *after = tl_read_file(s.key, &after_len);
    cr_assert(before_len == 32 && after_len == 32 && !memcmp(before, after, 32), "the key changed");
    free(before), free(after);
    tl_result_free(&k);
    chmod(s.key, 0644);
    const char *run[] = {tl_gale(), "run", "--quiet", s.cfg, NULL};
    tl_result_t r = gale(run);
    cr_assert_eq(r.status, 1, "%s", r.err);
    char *want = tl_path("config.journal_key: %s: readable by others (mode 0644): chmod 600 %s", s.key, s.key);
    cr_assert_not_null(strstr(r.err, want), "%s", r.err);
    free(want);
    tl_result_free(&r);
    struct stat st;
    cr_assert(stat(s.journal, &st) != 0, "a journal was made before the key was checked");

    char *cfg = tl_path("%s/nojournal.cfg", s.dir);
    cr_assert_eq(tl_write_file(cfg, "name = \"k\";\n"
                                    "config = { ackers = 1;\n"
                                    "  journal_key = \"k.key\"; };\n"
                                    "spouts = ( { name = \"s\"; plugin = \"file_lines\"; settings = { path = \"x\"; }; "
                                    "} );\n"),
                 0);
    const char *validate[] = {tl_gale(), "validate", cfg, NULL};
    r = gale(validate);
    cr_assert_eq(r.status, 1, "%s", r.err);
    want = tl_path("%s:3: config.journal_key seals the journal's records, and there is no config.journal", cfg);
    cr_assert_not_null(strstr(r.err, want), "%s", r.err);
    free(want), free(cfg);
    tl_result_free(&r);
    teardown(&s);
}
