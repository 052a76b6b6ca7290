/* The failed-tuple journal: round trips, and torn or corrupt records reported and skipped. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hmac.h"
#include "journal.h"
#include "json.h"
#include "testlib.h"

static char reports[4096];
static void collect(void *arg, const char *line)
{
    (void)arg;
    strncat(reports, line, sizeof reports - strlen(reports) - 2);
    strcat(reports, "\n");
}

/*
 * Record i (message id i + 1): values [i, "line", S], where S holds a journal marker followed by an in-bounds length
 * and no valid checksum, so that every payload offers the reader a false record to resynchronise on.
 */
typedef struct test_record {
    char values[32];
    gale_journal_record_t r;
} test_record_t;

static void make_record(int i, test_record_t *t)
{
    static const char fake[] = "\x93\xcd??\xa4line\xac" GALE_JOURNAL_MARKER "\x08\x00\x00\x00" "junk";
    memcpy(t->values, fake, sizeof fake - 1);
    t->values[2] = (char)(i >> 8); /* uint16, big-endian */
    t->values[3] = (char)i;
    t->r = (gale_journal_record_t){.time_ms = 1700000000000 + i,
                                   .topology = "wc",
                                   .spout = "lines",
                                   .msg_id = (uint64_t)i + 1,
                                   .values = t->values,
                                   .values_len = sizeof fake - 1,
                                   .cause = i % 2 ? "fail" : "timeout",
                                   .component = i % 2 ? "count" : NULL,
                                   .task = i % 2 ? 4 : 0,
                                   .attempts = 3,
                                   .error = i % 3 ? NULL : "the value is not JSON: byte 7: expected ':'"};
}

/* Set by the sealed variants (journal_key): the writer seals with it and the reader opens with it. */
static gale_journal_key_t *seal_key;
#define SEALED_EXTRA (GALE_JOURNAL_KEY_ID_LEN + 12 + 16) /* key id, nonce, tag */

/* A key of 32 bytes in `dir`/key, mode 600, loaded; *path gets the file's path (malloc'd). */
static gale_journal_key_t *make_key(const char *dir, const char *name, char **path)
{
    static gale_journal_key_t keys[4];
    static int n;
    char *p = tl_path("%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0, "%s", p);
    unsigned char k[32];
    for (int i = 0; i < 32; i++) k[i] = (unsigned char)(i * 7 + n * 31 + 1);
    cr_assert_eq(write(fd, k, sizeof k), (ssize_t)sizeof k);
    close(fd);
    gale_journal_key_t *key = &keys[n++ % 4];
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_journal_key_load(p, key, &d), 0, "%s", d.msg);
    if (path) *path = p;
    else free(p);
    return key;
}

static char *seal_dir;
static void seal(void)
{
    seal_dir = tl_tmpdir();
    seal_key = make_key(seal_dir, "key", NULL);
}
static void unseal(void)
{
    gale_journal_key_wipe(seal_key);
    tl_rmtree(seal_dir);
    free(seal_dir);
}

/* The size of record i in the file. */
static size_t record_size(int i)
{
    test_record_t t;
    make_record(i, &t);
    char *payload;
    size_t len;
    cr_assert_eq(gale_journal_encode(&t.r, &payload, &len), 0);
    free(payload);
    return GALE_JOURNAL_HEADER + len + (seal_key ? SEALED_EXTRA : 0);
}

/* Appends records first .. first + n - 1 through the writer, as the runtime does. */
static void append_records(const char *path, int first, int n)
{
    gale_journal_t *j;
    cr_assert_eq(gale_journal_open(path, true, seal_key, &j, NULL), 0);
    for (int i = first; i < first + n; i++) {
        test_record_t t;
        make_record(i, &t);
        cr_assert_eq(gale_journal_append(j, &t.r), 0);
    }
    gale_journal_close(j);
}

static void write_records(const char *path, int n) { append_records(path, 0, n); }

static void write_bytes(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* Reads every record back, checking each against the one its message id names; returns how many, ids in *ids. */
static int read_all(const char *path, uint64_t *ids, int cap)
{
    gale_journal_reader_t r;
    cr_assert_eq(gale_journal_reader_open(&r, path, seal_key, NULL), 0);
    gale_journal_record_t rec;
    int n = 0;
    reports[0] = '\0';
    while (gale_journal_reader_next(&r, &rec, collect, NULL) == 1) {
        cr_assert_lt(n, cap);
        test_record_t want;
        make_record((int)rec.msg_id - 1, &want);
        cr_assert_str_eq(rec.topology, "wc");
        cr_assert_str_eq(rec.spout, "lines");
        cr_assert_eq(rec.attempts, 3);
        cr_assert_eq(rec.time_ms, want.r.time_ms);
        cr_assert_eq(rec.values_len, want.r.values_len);
        cr_assert_eq(memcmp(rec.values, want.values, rec.values_len), 0, "record %d: wrong values", (int)rec.msg_id);
        if (rec.msg_id % 2 == 0) {
            cr_assert_str_eq(rec.cause, "fail");
            cr_assert_str_eq(rec.component, "count");
            cr_assert_eq(rec.task, 4);
        } else {
            cr_assert_str_eq(rec.cause, "timeout");
            cr_assert_null(rec.component);
        }
        if ((rec.msg_id - 1) % 3) cr_assert_null(rec.error, "record %d has an error", (int)rec.msg_id);
        else cr_assert_str_eq(rec.error, "the value is not JSON: byte 7: expected ':'");
        ids[n++] = rec.msg_id;
    }
    gale_journal_reader_free(&r);
    return n;
}

static void records_round_trip(void)
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
Test(journal, records_round_trip) { records_round_trip(); }
Test(journal_sealed, records_round_trip, .init = seal, .fini = unseal) { records_round_trip(); }

static void torn_last_record_is_reported_and_skipped(void)
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
Test(journal, torn_last_record_is_reported_and_skipped) { torn_last_record_is_reported_and_skipped(); }
Test(journal_sealed, torn_last_record_is_reported_and_skipped, .init = seal, .fini = unseal)
{
    torn_last_record_is_reported_and_skipped();
}

static void flipped_byte_skips_only_that_record(void)
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
Test(journal, flipped_byte_skips_only_that_record) { flipped_byte_skips_only_that_record(); }
Test(journal_sealed, flipped_byte_skips_only_that_record, .init = seal, .fini = unseal)
{
    flipped_byte_skips_only_that_record();
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
    cr_assert_lt(gale_journal_reader_open(&r, "/nonexistent/j", NULL, &d), 0);
    cr_assert_not_null(strstr(d.msg, "/nonexistent/j: cannot open"));
}

/* ---- resynchronisation: damage costs the records it touches, never the ones after them ------------------- */

#define N_RECORDS 104

/* Offsets of records 0 .. n - 1 in a journal written by write_records, and the end in offsets[n]. */
static void record_offsets(size_t *offsets, int n)
{
    offsets[0] = 0;
    for (int i = 0; i < n; i++) offsets[i + 1] = offsets[i] + record_size(i);
}

/* The number of lines in `reports`. */
static int report_lines(void)
{
    int n = 0;
    for (const char *p = reports; (p = strchr(p, '\n')); p++) n++;
    return n;
}

/* A flipped bit in a length (to a length in bounds, past the end, or over the limit) costs that record alone. */
static void flipped_length_bit_costs_only_that_record(void)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    write_records(path, N_RECORDS);
    size_t len, offsets[N_RECORDS + 1];
    char *data = tl_read_file(path, &len);
    record_offsets(offsets, N_RECORDS);
    cr_assert_eq(offsets[N_RECORDS], len);
    static const struct { int record, bit; } cases[] = {{0, 0}, {0, 30}, {50, 3}, {50, 12}, {50, 27}, {102, 6}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int k = cases[c].record, bit = cases[c].bit;
        size_t at = offsets[k] + 4 + (size_t)bit / 8; /* the length follows the 4-byte marker */
        data[at] ^= (char)(1 << bit % 8);
        write_bytes(path, data, len);
        data[at] ^= (char)(1 << bit % 8);
        uint64_t ids[N_RECORDS];
        cr_assert_eq(read_all(path, ids, N_RECORDS), N_RECORDS - 1, "record %d, bit %d: %s", k, bit, reports);
        for (int i = 0, n = 0; i < N_RECORDS; i++)
            if (i != k) cr_assert_eq(ids[n++], (uint64_t)i + 1, "record %d, bit %d", k, bit);
        char want[128];
        snprintf(want, sizeof want, "offset %zu: %zu bytes skipped: ", offsets[k], offsets[k + 1] - offsets[k]);
        cr_assert_eq(report_lines(), 1, "one damaged range, one report:\n%s", reports);
        cr_assert_eq(strncmp(reports, want, strlen(want)), 0, "want '%s...', got %s", want, reports);
    }
    free(data);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
Test(journal, flipped_length_bit_costs_only_that_record) { flipped_length_bit_costs_only_that_record(); }
Test(journal_sealed, flipped_length_bit_costs_only_that_record, .init = seal, .fini = unseal)
{
    flipped_length_bit_costs_only_that_record();
}

/* A crash mid-write leaves a torn tail; what the next run appends must all be read, whatever the cut. */
static void records_appended_after_a_torn_tail_are_read(void)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    size_t offsets[21];
    record_offsets(offsets, 20);
    size_t at = offsets[19], size = offsets[20] - at; /* record 19 is the one torn */
    size_t cuts[] = {at + 1, at + 3, at + 4, at + 6, at + GALE_JOURNAL_HEADER, at + 30, at + size - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        unlink(path);
        write_records(path, 20);
        cr_assert_eq(truncate(path, (off_t)cuts[c]), 0);
        append_records(path, 20, 20);
        uint64_t ids[40];
        cr_assert_eq(read_all(path, ids, 40), 39, "cut at %zu bytes into the record: %s", cuts[c] - at, reports);
        for (int i = 0, n = 0; i < 40; i++)
            if (i != 19) cr_assert_eq(ids[n++], (uint64_t)i + 1);
        char want[128];
        snprintf(want, sizeof want, "offset %zu: %zu byte%s skipped: ", at, cuts[c] - at, cuts[c] - at == 1 ? "" : "s");
        cr_assert_eq(report_lines(), 1, "%s", reports);
        cr_assert_eq(strncmp(reports, want, strlen(want)), 0, "want '%s...', got %s", want, reports);
    }
    free(path);
    tl_rmtree(dir);
    free(dir);
}
Test(journal, records_appended_after_a_torn_tail_are_read) { records_appended_after_a_torn_tail_are_read(); }
Test(journal_sealed, records_appended_after_a_torn_tail_are_read, .init = seal, .fini = unseal)
{
    records_appended_after_a_torn_tail_are_read();
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) /* xorshift64*, fixed seed: the same mutations every run */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

/*
 * Random damage: flipped bits, overwritten, inserted and deleted runs, truncation followed by appends. The reader
 * must never crash, must return only records that were written (read_all checks each against its message id),
 * and must return every record none of whose bytes the damage touched.
 */
static void random_damage_never_costs_an_intact_record(void)
{
    enum { BASE = 40, EXTRA = 10, ROUNDS = 1500 };
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    write_records(path, BASE + EXTRA);
    size_t all_len, offsets[BASE + EXTRA + 1];
    char *all = tl_read_file(path, &all_len);
    record_offsets(offsets, BASE + EXTRA);
    size_t len = offsets[BASE]; /* the journal is records 0 .. BASE - 1; the others are appended after a cut */
    char *buf = malloc(all_len + 64);
    for (int round = 0; round < ROUNDS; round++) {
        memcpy(buf, all, len);
        size_t n = len;
        bool intact[BASE + EXTRA] = {0}, damaged[BASE] = {0};
        int kind = (int)rnd(seal_key ? 2 : 5); /* sealed: bytes inserted or removed move the records after them,
                                                   which then do not open (their offset is authenticated) */
        if (kind <= 1) { /* 1 to 3 flipped bits, or overwritten runs of 1 to 40 bytes */
            for (int m = 1 + (int)rnd(3); m > 0; m--) {
                size_t at = rnd((uint32_t)n), run = kind == 0 ? 1 : 1 + rnd(40);
                for (size_t b = at; b < at + run && b < n; b++) {
                    buf[b] ^= (char)(kind == 0 ? 1u << rnd(8) : 1 + rnd(255));
                    for (int i = 0; i < BASE; i++) damaged[i] |= b >= offsets[i] && b < offsets[i + 1];
                }
            }
            for (int i = 0; i < BASE; i++) intact[i] = !damaged[i];
        } else if (kind == 2) { /* random bytes inserted at `at`: what is wholly before or after is intact */
            size_t at = rnd((uint32_t)n + 1), k = 1 + rnd(30);
            memmove(buf + at + k, buf + at, n - at);
            for (size_t b = 0; b < k; b++) buf[at + b] = b < 4 && rnd(2) ? GALE_JOURNAL_MARKER[b] : (char)rnd(256);
            n += k;
            for (int i = 0; i < BASE; i++) intact[i] = offsets[i + 1] <= at || offsets[i] >= at;
        } else if (kind == 3) { /* a run deleted */
            size_t at = rnd((uint32_t)n), k = 1 + rnd(30);
            if (k > n - at) k = n - at;
            memmove(buf + at, buf + at + k, n - at - k);
            n -= k;
            for (int i = 0; i < BASE; i++) intact[i] = offsets[i + 1] <= at || offsets[i] >= at + k;
        } else { /* a crash mid-write, then a later run appends records */
            size_t cut = rnd((uint32_t)n), extra = offsets[BASE + EXTRA] - offsets[BASE];
            memcpy(buf + cut, all + offsets[BASE], extra);
            n = cut + extra;
            for (int i = 0; i < BASE + EXTRA; i++) intact[i] = i >= BASE || offsets[i + 1] <= cut;
        }
        write_bytes(path, buf, n);
        uint64_t ids[BASE + EXTRA];
        int got = read_all(path, ids, BASE + EXTRA);
        for (int i = 0; i < got; i++) {
            cr_assert(ids[i] >= 1 && ids[i] <= BASE + EXTRA);
            for (int k = 0; k < i; k++) cr_assert_neq(ids[k], ids[i], "round %d: record %d read twice", round, (int)ids[i]);
            intact[ids[i] - 1] = false;
        }
        for (int i = 0; i < BASE + EXTRA; i++)
            cr_assert_not(intact[i], "round %d (damage kind %d): intact record %d was lost\n%s", round, kind, i, reports);
    }
    free(buf);
    free(all);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
Test(journal, random_damage_never_costs_an_intact_record) { random_damage_never_costs_an_intact_record(); }
Test(journal_sealed, random_damage_never_costs_an_intact_record, .init = seal, .fini = unseal)
{
    random_damage_never_costs_an_intact_record();
}

/* A journal written before the marker (format 1) is still read, and a new writer's records after it too. */
Test(journal, format_1_records_are_still_read)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    gale_buf_t old = {0};
    for (int i = 0; i < 3; i++) { /* [u32 length][u32 crc32c of the payload][payload], as gale wrote before */
        test_record_t t;
        make_record(i, &t);
        char *payload, head[8];
        size_t len;
        cr_assert_eq(gale_journal_encode(&t.r, &payload, &len), 0);
        uint32_t crc = gale_crc32c(0, payload, len);
        for (int b = 0; b < 4; b++) {
            head[b] = (char)(len >> 8 * b);
            head[4 + b] = (char)(crc >> 8 * b);
        }
        gale_buf_put(&old, head, 8);
        gale_buf_put(&old, payload, len);
        free(payload);
    }
    write_bytes(path, old.p, old.len);
    append_records(path, 3, 2);
    uint64_t ids[8];
    cr_assert_eq(read_all(path, ids, 8), 5, "%s", reports);
    for (int i = 0; i < 5; i++) cr_assert_eq(ids[i], (uint64_t)i + 1);
    cr_assert_eq(reports[0], '\0', "%s", reports);
    gale_buf_free(&old);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

/*
 * Two processes append to one journal at once (a supported case), one of them opening it again and again: an open
 * must never cut what the other is writing at that moment (gale_journal_open does not truncate a tail that looks
 * torn), and every record of both is read back, with nothing to report.
 */
static void two_processes_appending_at_once_lose_nothing(void)
{
    enum { CHILD = 2000, PARENT = 200 };
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        gale_journal_t *j;
        if (gale_journal_open(path, false, seal_key, &j, NULL)) _exit(1);
        for (int i = 0; i < CHILD; i++) {
            test_record_t t;
            make_record(i, &t);
            if (gale_journal_append(j, &t.r)) _exit(1);
        }
        gale_journal_close(j);
        _exit(0);
    }
    for (int i = CHILD; i < CHILD + PARENT; i++) { /* open, append, close, each time */
        gale_journal_t *j;
        cr_assert_eq(gale_journal_open(path, false, seal_key, &j, NULL), 0);
        test_record_t t;
        make_record(i, &t);
        cr_assert_eq(gale_journal_append(j, &t.r), 0);
        gale_journal_close(j);
    }
    bool timed_out;
    cr_assert_eq(tl_wait(pid, 60, &timed_out), 0, "the appending child failed");
    static uint64_t ids[CHILD + PARENT];
    cr_assert_eq(read_all(path, ids, CHILD + PARENT), CHILD + PARENT, "%s", reports);
    cr_assert_eq(reports[0], '\0', "%s", reports);
    free(path);
    tl_rmtree(dir);
    free(dir);
}
Test(journal, two_processes_appending_at_once_lose_nothing) { two_processes_appending_at_once_lose_nothing(); }
Test(journal_sealed, two_processes_appending_at_once_lose_nothing, .init = seal, .fini = unseal)
{
    two_processes_appending_at_once_lose_nothing();
}

/* ---- sealed journals (journal_key): what a reader without the key, or with another, sees ----------------------- */

/* Reads `path` with `key` (may be NULL): how many records came out, and how many were refused. */
static int read_with(const char *path, const gale_journal_key_t *key, size_t *refused)
{
    gale_journal_reader_t r;
    cr_assert_eq(gale_journal_reader_open(&r, path, key, NULL), 0);
    gale_journal_record_t rec;
    int n = 0;
    reports[0] = '\0';
    while (gale_journal_reader_next(&r, &rec, collect, NULL) == 1) n++;
    *refused = r.refused;
    gale_journal_reader_free(&r);
    return n;
}

Test(journal_sealed, no_word_of_a_record_is_in_clear_and_the_test_sees_them_without_a_key)
{
    char *dir = tl_tmpdir(), *clear = tl_path("%s/clear", dir), *sealed = tl_path("%s/sealed", dir);
    write_records(clear, 10);
    seal_key = make_key(dir, "key", NULL);
    write_records(sealed, 10);
    static const char *words[] = {
        "lines",   "junk",     "count",
        "timeout", "not JSON", "topology"}; /* 4 bytes or more: random bytes hold a 2-byte word by chance */
    size_t clen, slen;
    char *c = tl_read_file(clear, &clen), *s = tl_read_file(sealed, &slen);
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        cr_assert_not_null(memmem(c, clen, words[i], strlen(words[i])), "the clear journal lacks '%s'", words[i]);
        cr_assert_null(memmem(s, slen, words[i], strlen(words[i])), "'%s' is in clear in the sealed journal", words[i]);
    }
    cr_assert_eq(slen, clen + 10 * SEALED_EXTRA);
    free(c), free(s), free(clear), free(sealed);
    tl_rmtree(dir);
    free(dir);
}

Test(journal_sealed, without_the_key_or_with_another_each_record_is_refused_by_name)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    gale_journal_key_t *mine = make_key(dir, "key", NULL), *other = make_key(dir, "other", NULL);
    seal_key = mine;
    write_records(path, 6);
    char id[17], other_id[17];
    gale_hex_encode(mine->id, 8, id);
    gale_hex_encode(other->id, 8, other_id);
    size_t refused;
    cr_assert_eq(read_with(path, NULL, &refused), 0);
    cr_assert_eq(refused, 6);
    cr_assert_eq(report_lines(), 6, "one report per record:\n%s", reports);
    char want[256];
    snprintf(want, sizeof want, "offset 0: record sealed with key %s: give the journal's key (--key FILE); skipped\n",
             id);
    cr_assert_eq(strncmp(reports, want, strlen(want)), 0, "want %s got %s", want, reports);
    cr_assert_eq(read_with(path, other, &refused), 0);
    cr_assert_eq(refused, 6);
    snprintf(want, sizeof want, "record sealed with another key (key id %s; the key given has id %s); skipped", id,
             other_id);
    cr_assert_not_null(strstr(reports, want), "%s", reports);
    cr_assert_eq(report_lines(), 6, "%s", reports);
    cr_assert_eq(read_with(path, mine, &refused), 6, "%s", reports);
    cr_assert_eq(refused, 0);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

/* What the checksum cannot catch (it is recomputed, as anyone can): a changed record, two swapped records, and a
   record copied to another offset. Each fails authentication alone; every other record is read. */
Test(journal_sealed, a_changed_swapped_or_copied_record_does_not_open_and_costs_only_itself)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    seal_key = make_key(dir, "key", NULL);
    enum { N = 14 };
    write_records(path, N);
    size_t len, offsets[N + 1];
    char *data = tl_read_file(path, &len);
    record_offsets(offsets, N);
    cr_assert_eq(offsets[N], len);
    /* Records repeat their shape every 6 (make_record), so 1 and 7, and 0 and 6, are the same size. */
    size_t size = offsets[2] - offsets[1];
    cr_assert_eq(offsets[8] - offsets[7], size);
    cr_assert_eq(offsets[1] - offsets[0], offsets[7] - offsets[6]);
    /* record 2: a bit of its ciphertext; records 1 and 7 swapped; record 6 replaced by a copy of record 0 */
    data[offsets[2] + GALE_JOURNAL_HEADER + SEALED_EXTRA] ^= 0x01;
    char *tmp = malloc(size);
    memcpy(tmp, data + offsets[1], size);
    memcpy(data + offsets[1], data + offsets[7], size);
    memcpy(data + offsets[7], tmp, size);
    memcpy(data + offsets[6], data + offsets[0], offsets[1] - offsets[0]);
    free(tmp);
    for (int i = 0; i < N; i++) { /* a forger's checksum: the reader must not rely on it */
        char *rec = data + offsets[i];
        uint32_t n = (uint32_t)(offsets[i + 1] - offsets[i] - GALE_JOURNAL_HEADER);
        uint32_t crc = gale_crc32c(gale_crc32c(0, rec + 4, 4), rec + GALE_JOURNAL_HEADER, n);
        for (int b = 0; b < 4; b++) rec[8 + b] = (char)(crc >> 8 * b);
    }
    write_bytes(path, data, len);
    uint64_t ids[N];
    cr_assert_eq(read_all(path, ids, N), N - 4, "%s", reports);
    for (int i = 0, k = 0; i < N; i++)
        if (i != 1 && i != 2 && i != 6 && i != 7) cr_assert_eq(ids[k++], (uint64_t)i + 1);
    cr_assert_eq(report_lines(), 4, "%s", reports);
    int bad[] = {1, 2, 6, 7};
    for (int i = 0; i < 4; i++) {
        char line[160];
        snprintf(line, sizeof line,
                 "offset %zu: record does not authenticate with the key: changed, or moved from elsewhere; skipped",
                 offsets[bad[i]]);
        cr_assert_not_null(strstr(reports, line), "want %s in:\n%s", line, reports);
    }
    size_t refused;
    cr_assert_eq(read_with(path, seal_key, &refused), N - 4);
    cr_assert_eq(refused, 4);
    free(data);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(journal_sealed, a_record_in_clear_among_sealed_ones_is_not_taken_when_reading_with_the_key)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    gale_journal_key_t *key = make_key(dir, "key", NULL);
    seal_key = key;
    append_records(path, 0, 2);
    seal_key = NULL;
    append_records(path, 2, 1); /* as a forger would add one */
    seal_key = key;
    append_records(path, 3, 2);
    uint64_t ids[8];
    cr_assert_eq(read_all(path, ids, 8), 4, "%s", reports);
    cr_assert_not_null(strstr(reports, "record in clear in a journal read with a key: it cannot be authenticated; "
                                       "skipped"),
                       "%s", reports);
    size_t refused;
    cr_assert_eq(read_with(path, NULL, &refused), 1, "without the key, the one in clear is read");
    cr_assert_eq(refused, 4);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

/* Threads of one process share a descriptor, which flock does not tell apart: the writer's mutex must. */
typedef struct appender {
    gale_journal_t *j;
    int first, n;
} appender_t;

static void *append_thread(void *arg)
{
    appender_t *a = arg;
    for (int i = a->first; i < a->first + a->n; i++) {
        test_record_t t;
        make_record(i, &t);
        if (gale_journal_append(a->j, &t.r)) return (void *)1;
    }
    return NULL;
}

Test(journal_sealed, four_threads_appending_at_once_lose_nothing)
{
    enum { PER = 300 };
    char *dir = tl_tmpdir(), *path = tl_path("%s/j", dir);
    seal_key = make_key(dir, "key", NULL);
    gale_journal_t *j;
    cr_assert_eq(gale_journal_open(path, false, seal_key, &j, NULL), 0);
    pthread_t th[4];
    appender_t a[4];
    for (int t = 0; t < 4; t++) {
        a[t] = (appender_t){j, t * PER, PER};
        cr_assert_eq(pthread_create(&th[t], NULL, append_thread, &a[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        void *rc;
        pthread_join(th[t], &rc);
        cr_assert_null(rc);
    }
    gale_journal_close(j);
    static uint64_t ids[4 * PER];
    cr_assert_eq(read_all(path, ids, 4 * PER), 4 * PER, "%s", reports);
    cr_assert_eq(reports[0], '\0', "%s", reports);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

/* The key file's rule, by what it says: others can read it, the wrong size, a link, a FIFO (refused at once). */
Test(journal_sealed, a_key_file_that_is_not_a_secret_of_32_bytes_is_refused_by_name)
{
    char *dir = tl_tmpdir(), *path;
    gale_journal_key_t k;
    gale_diag_t d = {{0}};
    make_key(dir, "key", &path);
    chmod(path, 0640);
    cr_assert_eq(gale_journal_key_load(path, &k, &d), GALE_EPERM);
    char *want = tl_path("%s: readable by others (mode 0640): chmod 600 %s", path, path);
    cr_assert_not_null(strstr(d.msg, want), "%s", d.msg);
    free(want);
    chmod(path, 0600);
    cr_assert_eq(truncate(path, 31), 0);
    cr_assert_eq(gale_journal_key_load(path, &k, &d), GALE_EINVAL);
    cr_assert_not_null(strstr(d.msg, "the key is 31 bytes; it must be 32 bytes"), "%s", d.msg);
    cr_assert_eq(truncate(path, 33), 0);
    cr_assert_eq(gale_journal_key_load(path, &k, &d), GALE_EINVAL);
    cr_assert_not_null(strstr(d.msg, "the key is over 32 bytes; it must be 32 bytes"), "%s", d.msg);
    char *link = tl_path("%s/link", dir), *fifo = tl_path("%s/fifo", dir);
    cr_assert_eq(symlink(path, link), 0);
    cr_assert_lt(gale_journal_key_load(link, &k, &d), 0);
    cr_assert_not_null(strstr(d.msg, "a symbolic link, not the key file"), "%s", d.msg);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(gale_journal_key_load(fifo, &k, &d), GALE_EINVAL);
    cr_assert_not_null(strstr(d.msg, "not a regular file"), "%s", d.msg);
    free(path), free(link), free(fifo);
    tl_rmtree(dir);
    free(dir);
}
