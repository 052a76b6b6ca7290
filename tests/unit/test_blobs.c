/*
 * The blob store (blobs.h): a blob is kept only once its size and its SHA-256 are checked, under its digest's name,
 * and a failed or dropped write leaves nothing in DIR/blobs, not even its temporary file; the bounds on sizes, the
 * digests of files, reading a blob back, and two writers of one blob at once.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blobs.h"
#include "gale.h"
#include "hmac.h"
#include "testlib.h"

/* SHA-256("abc"), FIPS 180-2. */
#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* SHA-256("") */
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char *dir;

static void make_store(void)
{
    dir = tl_tmpdir();
    cr_assert_not_null(dir);
    cr_assert_eq(gale_blobs_init(dir), 0);
}

static void remove_store(void)
{
    tl_rmtree(dir);
    free(dir);
    dir = NULL;
}

TestSuite(blobs, .init = make_store, .fini = remove_store);

static void sha_hex(const void *bytes, size_t n, char hex[GALE_BLOB_HEX_LEN + 1])
{
    gale_sha256_t s;
    unsigned char d[GALE_SHA256_LEN];
    gale_sha256_init(&s);
    gale_sha256_update(&s, bytes, n);
    gale_sha256_final(&s, d);
    gale_hex_encode(d, sizeof d, hex);
}

/* The names in DIR/blobs (hidden ones too: a writer's temporary files start with '.'), joined by ' ', and how many. */
static int list_blobs(char *names, size_t cap)
{
    char *path = tl_path("%s/blobs", dir);
    DIR *d = opendir(path);
    free(path);
    cr_assert_not_null(d);
    int n = 0;
    names[0] = '\0';
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t at = strlen(names);
        snprintf(names + at, cap - at, "%s%s", n ? " " : "", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static void assert_store_empty(void)
{
    char names[1024];
    int n = list_blobs(names, sizeof names);
    cr_assert_eq(n, 0, "left in blobs/: %s", names);
}

static void assert_store_holds_only(const char *hex)
{
    char names[1024];
    int n = list_blobs(names, sizeof names);
    cr_assert_eq(n, 1, "in blobs/: %s", names);
    cr_assert_str_eq(names, hex);
}

Test(blobs, a_blob_written_whole_is_kept_under_its_digest_with_its_bytes)
{
    gale_blob_writer_t *w;
    cr_assert_not(gale_blob_has(dir, ABC));
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &w), 0);
    cr_assert_eq(gale_blob_size(w), 3);
    cr_assert_eq(gale_blob_write(w, "ab", 2), 0);
    cr_assert_eq(gale_blob_written(w), 2);
    cr_assert_eq(gale_blob_write(w, "c", 1), 0);
    cr_assert_eq(gale_blob_written(w), 3);
    cr_assert_not(gale_blob_has(dir, ABC), "not there before it is finished");
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_finish(w, got), 0);
    cr_assert_str_eq(got, ABC);
    cr_assert(gale_blob_has(dir, ABC));
    assert_store_holds_only(ABC);
    char *data;
    size_t len;
    cr_assert_eq(gale_blob_read(dir, ABC, 3, &data, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_str_eq(data, "abc", "NUL-terminated");
    free(data);
}

Test(blobs, an_empty_blob_is_a_blob)
{
    gale_blob_writer_t *w;
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, EMPTY, 0, &w), 0);
    cr_assert_eq(gale_blob_finish(w, got), 0);
    cr_assert(gale_blob_has(dir, EMPTY));
    char *data;
    size_t len = 99;
    cr_assert_eq(gale_blob_read(dir, EMPTY, 0, &data, &len), 0);
    cr_assert_eq(len, 0);
    cr_assert_eq(data[0], '\0');
    free(data);
}

Test(blobs, a_blob_whose_bytes_do_not_match_its_name_is_not_kept)
{
    gale_blob_writer_t *w;
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &w), 0);
    cr_assert_eq(gale_blob_write(w, "abd", 3), 0);
    char got[GALE_BLOB_HEX_LEN + 1], want[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_finish(w, got), GALE_ECORRUPT);
    sha_hex("abd", 3, want);
    cr_assert_str_eq(got, want, "the digest the bytes have");
    cr_assert_not(gale_blob_has(dir, ABC));
    cr_assert_not(gale_blob_has(dir, want));
    assert_store_empty();
}

Test(blobs, fewer_bytes_than_begun_with_are_not_kept)
{
    gale_blob_writer_t *w;
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, ABC, 4, &w), 0);
    cr_assert_eq(gale_blob_write(w, "abc", 3), 0);
    cr_assert_eq(gale_blob_finish(w, got), GALE_EINVAL, "the digest is right, the size is not");
    cr_assert_not(gale_blob_has(dir, ABC));
    assert_store_empty();
}

Test(blobs, bytes_past_the_size_begun_with_are_refused_and_not_written)
{
    gale_blob_writer_t *w;
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &w), 0);
    cr_assert_eq(gale_blob_write(w, "abcd", 4), GALE_ELIMIT);
    cr_assert_eq(gale_blob_written(w), 0);
    cr_assert_eq(gale_blob_write(w, "ab", 2), 0);
    cr_assert_eq(gale_blob_write(w, "cd", 2), GALE_ELIMIT);
    cr_assert_eq(gale_blob_written(w), 2, "a refused write adds nothing");
    cr_assert_eq(gale_blob_write(w, "c", 1), 0);
    cr_assert_eq(gale_blob_write(w, "d", 1), GALE_ELIMIT);
    cr_assert_eq(gale_blob_finish(w, got), 0, "what was refused is not in the blob");
    cr_assert_str_eq(got, ABC);
    assert_store_holds_only(ABC);
}

Test(blobs, a_size_over_the_largest_blob_is_refused_before_anything_is_written)
{
    gale_blob_writer_t *w = NULL;
    cr_assert_eq(gale_blob_begin(dir, ABC, GALE_BLOB_MAX + 1, &w), GALE_ELIMIT);
    cr_assert_null(w);
    cr_assert_eq(gale_blob_begin(dir, ABC, UINT64_MAX - 1, &w), GALE_ELIMIT);
    assert_store_empty();
    cr_assert_eq(gale_blob_begin(dir, ABC, GALE_BLOB_MAX, &w), 0, "the largest itself is fine");
    gale_blob_abort(w);
    assert_store_empty();
}

Test(blobs, a_name_that_is_not_a_digest_is_refused)
{
    gale_blob_writer_t *w = NULL;
    cr_assert_eq(gale_blob_begin(dir, "abc", 3, &w), GALE_EINVAL);
    cr_assert_eq(gale_blob_begin(dir, "../" ABC, 3, &w), GALE_EINVAL);
    cr_assert_null(w);
    cr_assert_not(gale_blob_has(dir, "../blobs"));
    char *data;
    size_t len;
    cr_assert_eq(gale_blob_read(dir, "..", 100, &data, &len), GALE_EINVAL);
    assert_store_empty();
}

Test(blobs, the_path_of_a_blob_is_under_blobs_and_bounded_by_the_room_given)
{
    char path[4096];
    cr_assert_eq(gale_blob_path(dir, ABC, path, sizeof path), 0);
    char *want = tl_path("%s/blobs/%s", dir, ABC);
    cr_assert_str_eq(path, want);
    cr_assert_eq(gale_blob_path(dir, ABC, path, strlen(want) + 1), 0, "just enough room");
    cr_assert_eq(gale_blob_path(dir, ABC, path, strlen(want)), GALE_ERANGE);
    free(want);
    cr_assert_eq(gale_blob_path(dir, "ABC", path, sizeof path), GALE_EINVAL);
}

Test(blobs, a_blob_of_unknown_size_is_kept_when_its_digest_is_right)
{
    gale_blob_writer_t *w;
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, ABC, GALE_BLOB_SIZE_UNKNOWN, &w), 0);
    cr_assert_eq(gale_blob_write(w, "a", 1), 0);
    cr_assert_eq(gale_blob_write(w, "bc", 2), 0);
    cr_assert_eq(gale_blob_finish(w, got), 0);
    cr_assert_str_eq(got, ABC);
    cr_assert(gale_blob_has(dir, ABC));
    assert_store_holds_only(ABC);
}

Test(blobs, a_blob_of_unknown_size_with_the_wrong_digest_is_not_kept)
{
    gale_blob_writer_t *w;
    char got[GALE_BLOB_HEX_LEN + 1], want[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, ABC, GALE_BLOB_SIZE_UNKNOWN, &w), 0);
    cr_assert_eq(gale_blob_write(w, "ab", 2), 0);
    cr_assert_eq(gale_blob_finish(w, got), GALE_ECORRUPT, "a prefix of the blob is not the blob");
    sha_hex("ab", 2, want);
    cr_assert_str_eq(got, want);
    assert_store_empty();
}

Test(blobs, a_blob_of_unknown_size_takes_up_to_the_largest_and_no_more)
{
    enum { CHUNK = 1 << 20 };
    char *chunk = malloc(CHUNK);
    cr_assert_not_null(chunk);
    for (size_t i = 0; i < CHUNK; i++) chunk[i] = (char)(i * 7 + 1);
    gale_sha256_t s;
    unsigned char d[GALE_SHA256_LEN];
    char hex[GALE_BLOB_HEX_LEN + 1], got[GALE_BLOB_HEX_LEN + 1];
    gale_sha256_init(&s);
    for (uint64_t k = 0; k < GALE_BLOB_MAX / CHUNK; k++) gale_sha256_update(&s, chunk, CHUNK);
    gale_sha256_final(&s, d);
    gale_hex_encode(d, sizeof d, hex);

    gale_blob_writer_t *w;
    cr_assert_eq(gale_blob_begin(dir, hex, GALE_BLOB_SIZE_UNKNOWN, &w), 0);
    for (uint64_t k = 0; k < GALE_BLOB_MAX / CHUNK; k++)
        cr_assert_eq(gale_blob_write(w, chunk, CHUNK), 0, "chunk %lu", (unsigned long)k);
    cr_assert_eq(gale_blob_written(w), GALE_BLOB_MAX);
    cr_assert_eq(gale_blob_write(w, "x", 1), GALE_ELIMIT, "one byte over the largest");
    cr_assert_eq(gale_blob_finish(w, got), 0);
    cr_assert_str_eq(got, hex);
    free(chunk);
    assert_store_holds_only(hex);
    char *data;
    size_t len;
    cr_assert_eq(gale_blob_read(dir, hex, GALE_BLOB_MAX - 1, &data, &len), GALE_ELIMIT);
    cr_assert_eq(gale_blob_read(dir, hex, GALE_BLOB_MAX, &data, &len), 0);
    cr_assert_eq(len, GALE_BLOB_MAX);
    free(data);
}

Test(blobs, a_digest_is_64_lowercase_hex_digits)
{
    cr_assert(gale_blob_digest_ok(ABC));
    cr_assert(gale_blob_digest_ok(EMPTY));
    cr_assert(gale_blob_digest_ok("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    cr_assert_not(gale_blob_digest_ok(""));
    cr_assert_not(gale_blob_digest_ok("ba7816bf"), "short");
    char shorter[GALE_BLOB_HEX_LEN];
    memcpy(shorter, ABC, sizeof shorter - 1);
    shorter[sizeof shorter - 1] = '\0';
    cr_assert_not(gale_blob_digest_ok(shorter), "63 digits");
    cr_assert_not(gale_blob_digest_ok(ABC "0"), "65 digits");
    cr_assert_not(gale_blob_digest_ok("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"), "uppercase");
    cr_assert_not(gale_blob_digest_ok("Ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "one upper");
    cr_assert_not(gale_blob_digest_ok("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "'g'");
    cr_assert_not(gale_blob_digest_ok(" a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "a space");
    cr_assert_not(gale_blob_digest_ok("../7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "a path");
}

Test(blobs, the_digest_of_a_file_is_the_sha256_of_its_bytes)
{
    char *path = tl_path("%s/abc.txt", dir);
    cr_assert_eq(tl_write_file(path, "abc"), 0);
    char hex[GALE_BLOB_HEX_LEN + 1];
    uint64_t size = 99;
    cr_assert_eq(gale_blob_digest_file(path, hex, &size), 0);
    cr_assert_str_eq(hex, ABC);
    cr_assert_eq(size, 3);
    cr_assert_eq(tl_write_file(path, ""), 0);
    cr_assert_eq(gale_blob_digest_file(path, hex, &size), 0);
    cr_assert_str_eq(hex, EMPTY);
    cr_assert_eq(size, 0);
    free(path);
}

Test(blobs, a_folder_or_a_missing_file_has_no_digest)
{
    char hex[GALE_BLOB_HEX_LEN + 1];
    uint64_t size;
    cr_assert_eq(gale_blob_digest_file(dir, hex, &size), GALE_EINVAL, "a folder");
    char *missing = tl_path("%s/missing", dir);
    cr_assert_eq(gale_blob_digest_file(missing, hex, &size), GALE_ENOENT);
    free(missing);
}

Test(blobs, reading_a_blob_is_bounded_and_a_missing_one_is_not_found)
{
    gale_blob_writer_t *w;
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &w), 0);
    cr_assert_eq(gale_blob_write(w, "abc", 3), 0);
    cr_assert_eq(gale_blob_finish(w, got), 0);
    char *data = NULL;
    size_t len = 0;
    cr_assert_eq(gale_blob_read(dir, ABC, 2, &data, &len), GALE_ELIMIT);
    cr_assert_null(data);
    cr_assert_eq(gale_blob_read(dir, ABC, 3, &data, &len), 0, "exactly max");
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(data, "abc", 3);
    free(data);
    data = NULL;
    cr_assert_eq(gale_blob_read(dir, EMPTY, 100, &data, &len), GALE_ENOENT);
    cr_assert_null(data);
    cr_assert_not(gale_blob_has(dir, EMPTY));
}

Test(blobs, two_writers_of_one_blob_at_once_both_finish_and_the_blob_is_right)
{
    gale_blob_writer_t *a, *b;
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &a), 0);
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &b), 0, "a second upload of the same blob");
    cr_assert_eq(gale_blob_write(a, "a", 1), 0);
    cr_assert_eq(gale_blob_write(b, "ab", 2), 0);
    cr_assert_eq(gale_blob_write(a, "bc", 2), 0);
    cr_assert_eq(gale_blob_write(b, "c", 1), 0);
    cr_assert_eq(gale_blob_finish(b, got), 0);
    cr_assert_str_eq(got, ABC);
    cr_assert_eq(gale_blob_finish(a, got), 0);
    cr_assert_str_eq(got, ABC);
    assert_store_holds_only(ABC);
    char *data;
    size_t len;
    cr_assert_eq(gale_blob_read(dir, ABC, 100, &data, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_str_eq(data, "abc");
    free(data);
}

/* One thread's uploads of blob ABC: every begin and finish must work while the other threads do the same. */
enum { WRITER_THREADS = 4, WRITER_ROUNDS = 3000 };
static void *write_abc_often(void *arg)
{
    long failed = 0;
    for (int i = 0; i < WRITER_ROUNDS; i++) {
        gale_blob_writer_t *w;
        char got[GALE_BLOB_HEX_LEN + 1];
        if (gale_blob_begin(dir, ABC, 3, &w)) {
            failed++;
            continue;
        }
        if (gale_blob_write(w, "abc", 3)) failed++;
        if (i % 500 == 0) {
            if (gale_blob_finish(w, got)) failed++;
        } else {
            gale_blob_abort(w);
        }
    }
    *(long *)arg = failed;
    return NULL;
}

Test(blobs, writers_of_one_blob_in_several_threads_at_once_each_get_a_file_of_their_own)
{
    pthread_t threads[WRITER_THREADS];
    long failed[WRITER_THREADS];
    for (int t = 0; t < WRITER_THREADS; t++)
        cr_assert_eq(pthread_create(&threads[t], NULL, write_abc_often, &failed[t]), 0);
    for (int t = 0; t < WRITER_THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < WRITER_THREADS; t++) cr_assert_eq(failed[t], 0, "thread %d: %ld calls failed", t, failed[t]);
    assert_store_holds_only(ABC);
    char *data;
    size_t len;
    cr_assert_eq(gale_blob_read(dir, ABC, 100, &data, &len), 0);
    cr_assert_str_eq(data, "abc");
    free(data);
}

Test(blobs, a_bad_second_writer_leaves_the_good_blob_in_place)
{
    gale_blob_writer_t *a, *b;
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &a), 0);
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &b), 0);
    cr_assert_eq(gale_blob_write(a, "abc", 3), 0);
    cr_assert_eq(gale_blob_write(b, "xyz", 3), 0);
    cr_assert_eq(gale_blob_finish(a, got), 0);
    cr_assert_eq(gale_blob_finish(b, got), GALE_ECORRUPT);
    assert_store_holds_only(ABC);
    char *data;
    size_t len;
    cr_assert_eq(gale_blob_read(dir, ABC, 100, &data, &len), 0);
    cr_assert_str_eq(data, "abc");
    free(data);
}

Test(blobs, an_aborted_write_leaves_nothing)
{
    gale_blob_writer_t *w;
    cr_assert_eq(gale_blob_begin(dir, ABC, 3, &w), 0);
    cr_assert_eq(gale_blob_write(w, "ab", 2), 0);
    gale_blob_abort(w);
    cr_assert_not(gale_blob_has(dir, ABC));
    assert_store_empty();
    cr_assert_eq(gale_blob_begin(dir, ABC, GALE_BLOB_SIZE_UNKNOWN, &w), 0);
    gale_blob_abort(w);
    assert_store_empty();
    gale_blob_abort(NULL);
}

Test(blobs, init_makes_the_folders_and_is_fine_when_they_are_there)
{
    char *sub = tl_path("%s/fresh", dir), *blobs = tl_path("%s/fresh/blobs", dir);
    struct stat st;
    cr_assert_neq(stat(sub, &st), 0);
    cr_assert_eq(gale_blobs_init(sub), 0);
    cr_assert_eq(stat(blobs, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(gale_blobs_init(sub), 0, "a second time");
    free(sub);
    free(blobs);
}
