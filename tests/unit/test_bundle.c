/*
 * A shell component's folder as a bundle (bundle.h): scanning takes the regular files under it, sorted, with their
 * sizes, modes and digests, follows links to files, skips '.'-names and dangling links, and stops at
 * GALE_BUNDLE_FILES; the manifest goes to text and back unchanged; parsing refuses any line a supervisor could not
 * lay out safely (a path that leaves the folder or is hidden, a bad mode, size or digest) and more lines than the bound.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "gale.h"
#include "testlib.h"

#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static char *dir;

static void make_dir(void)
{
    dir = tl_tmpdir();
    cr_assert_not_null(dir);
}

static void remove_dir(void)
{
    tl_rmtree(dir);
    free(dir);
    dir = NULL;
}

TestSuite(bundle, .init = make_dir, .fini = remove_dir);

static void file(const char *rel, const char *text, mode_t mode)
{
    char *path = tl_path("%s/%s", dir, rel);
    cr_assert_eq(tl_write_file(path, text), 0, "%s", path);
    cr_assert_eq(chmod(path, mode), 0, "%s", path);
    free(path);
}

static void folder(const char *rel)
{
    char *path = tl_path("%s/%s", dir, rel);
    cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
    free(path);
}

static void link_to(const char *target, const char *rel)
{
    char *path = tl_path("%s/%s", dir, rel);
    cr_assert_eq(symlink(target, path), 0, "%s", path);
    free(path);
}

static void sha_of(const char *text, char hex[GALE_BLOB_HEX_LEN + 1])
{
    char *path = tl_path("%s/.digest", dir);
    cr_assert_eq(tl_write_file(path, text), 0);
    uint64_t size;
    cr_assert_eq(gale_blob_digest_file(path, hex, &size), 0);
    unlink(path);
    free(path);
}

/* a.txt, sub/b.txt, sub/deeper/run.sh (0755), link.txt -> a.txt; hidden files and folders, a dangling link. */
static void fixture(void)
{
    folder("sub");
    folder("sub/deeper");
    folder(".git");
    file("a.txt", "alpha\n", 0644);
    file("sub/b.txt", "bravo!\n", 0600);
    file("sub/deeper/run.sh", "#!/bin/sh\necho hi\n", 0755);
    file(".hidden", "not shipped", 0644);
    file("sub/.also_hidden", "not shipped", 0644);
    file(".git/config", "[core]\n", 0644);
    link_to("a.txt", "link.txt");
    link_to("missing.txt", "dangling.txt");
}

Test(bundle, a_scan_takes_the_visible_regular_files_sorted_with_sizes_modes_and_digests)
{
    fixture();
    char a[GALE_BLOB_HEX_LEN + 1], b[GALE_BLOB_HEX_LEN + 1], run[GALE_BLOB_HEX_LEN + 1];
    sha_of("alpha\n", a);
    sha_of("bravo!\n", b);
    sha_of("#!/bin/sh\necho hi\n", run);
    gale_bundle_t bundle;
    char why[256] = "";
    cr_assert_eq(gale_bundle_scan(dir, &bundle, why, sizeof why), 0, "%s", why);
    cr_assert_eq(bundle.n, 4, "got %zu files", bundle.n);
    const struct {
        const char *path;
        unsigned mode;
        uint64_t size;
        const char *sha;
    } want[] = {
        {"a.txt", 0644, 6, a},
        {"link.txt", 0644, 6, a}, /* the link followed: the target's bytes and mode */
        {"sub/b.txt", 0600, 7, b},
        {"sub/deeper/run.sh", 0755, 18, run},
    };
    for (size_t i = 0; i < 4; i++) {
        cr_assert_str_eq(bundle.files[i].path, want[i].path, "file %zu", i);
        cr_assert_eq(bundle.files[i].mode, want[i].mode, "%s: mode %o", want[i].path, bundle.files[i].mode);
        cr_assert_eq(bundle.files[i].size, want[i].size, "%s", want[i].path);
        cr_assert_str_eq(bundle.files[i].sha, want[i].sha, "%s", want[i].path);
    }
    gale_bundle_free(&bundle);
    cr_assert_eq(bundle.n, 0);
    cr_assert_null(bundle.files);
}

Test(bundle, an_empty_folder_is_an_empty_bundle)
{
    gale_bundle_t bundle;
    char why[256] = "";
    cr_assert_eq(gale_bundle_scan(dir, &bundle, why, sizeof why), 0, "%s", why);
    cr_assert_eq(bundle.n, 0);
    char *text = gale_bundle_format(&bundle);
    cr_assert_not_null(text);
    cr_assert_str_eq(text, "");
    free(text);
    gale_bundle_free(&bundle);
}

Test(bundle, a_missing_folder_is_refused_with_its_name)
{
    gale_bundle_t bundle;
    char why[512] = "", *missing = tl_path("%s/nowhere", dir);
    cr_assert_eq(gale_bundle_scan(missing, &bundle, why, sizeof why), GALE_ENOENT);
    cr_assert(strstr(why, missing), "%s", why);
    gale_bundle_free(&bundle);
    free(missing);
}

Test(bundle, the_manifest_is_one_line_per_file_and_parses_back_to_the_same_entries)
{
    fixture();
    gale_bundle_t scanned, parsed;
    char why[256] = "";
    cr_assert_eq(gale_bundle_scan(dir, &scanned, why, sizeof why), 0, "%s", why);
    char *text = gale_bundle_format(&scanned);
    cr_assert_not_null(text);
    char first[256];
    snprintf(first, sizeof first, "0644 6 %s a.txt\n", scanned.files[0].sha);
    cr_assert_eq(strncmp(text, first, strlen(first)), 0, "%s", text);
    char *run = strstr(text, "\n0755 18 ");
    cr_assert_not_null(run, "%s", text);
    cr_assert_eq(strncmp(run + 1 + strlen("0755 18 ") + GALE_BLOB_HEX_LEN, " sub/deeper/run.sh\n", 19), 0, "%s", text);
    cr_assert_eq(gale_bundle_parse(text, &parsed, why, sizeof why), 0, "%s", why);
    cr_assert_eq(parsed.n, scanned.n);
    for (size_t i = 0; i < scanned.n; i++) {
        cr_assert_str_eq(parsed.files[i].path, scanned.files[i].path);
        cr_assert_eq(parsed.files[i].mode, scanned.files[i].mode, "%s", scanned.files[i].path);
        cr_assert_eq(parsed.files[i].size, scanned.files[i].size, "%s", scanned.files[i].path);
        cr_assert_str_eq(parsed.files[i].sha, scanned.files[i].sha, "%s", scanned.files[i].path);
    }
    char *again = gale_bundle_format(&parsed);
    cr_assert_str_eq(again, text);
    free(again);
    free(text);
    gale_bundle_free(&scanned);
    gale_bundle_free(&parsed);
}

Test(bundle, a_manifest_without_a_final_newline_and_with_spaces_in_a_path_parses)
{
    gale_bundle_t b;
    char why[256] = "";
    cr_assert_eq(gale_bundle_parse("0644 3 " ABC " a b.txt\n0700 0 " ABC " z", &b, why, sizeof why), 0, "%s", why);
    cr_assert_eq(b.n, 2);
    cr_assert_str_eq(b.files[0].path, "a b.txt");
    cr_assert_eq(b.files[0].mode, 0644);
    cr_assert_eq(b.files[0].size, 3);
    cr_assert_str_eq(b.files[0].sha, ABC);
    cr_assert_str_eq(b.files[1].path, "z");
    cr_assert_eq(b.files[1].mode, 0700);
    cr_assert_eq(b.files[1].size, 0);
    gale_bundle_free(&b);
    cr_assert_eq(gale_bundle_parse("", &b, why, sizeof why), 0, "no files");
    cr_assert_eq(b.n, 0);
    gale_bundle_free(&b);
}

/* `text` is refused as a whole, with `line` named in `why`. */
static void refused(const char *text, int line)
{
    gale_bundle_t b;
    char why[512] = "", want[32];
    cr_assert_eq(gale_bundle_parse(text, &b, why, sizeof why), GALE_ECORRUPT, "accepted: %s", text);
    cr_assert_eq(b.n, 0, "%s", text);
    cr_assert_null(b.files, "%s", text);
    snprintf(want, sizeof want, "line %d", line);
    cr_assert(strstr(why, want), "%s: %s", text, why);
}

Test(bundle, a_path_that_leaves_the_folder_or_is_hidden_refuses_the_manifest)
{
    refused("0644 3 " ABC " /etc/passwd\n", 1);
    refused("0644 3 " ABC " ..\n", 1);
    refused("0644 3 " ABC " ../up\n", 1);
    refused("0644 3 " ABC " a/../../b\n", 1);
    refused("0644 3 " ABC " a//b\n", 1);
    refused("0644 3 " ABC " a/\n", 1);
    refused("0644 3 " ABC " .hidden\n", 1);
    refused("0644 3 " ABC " a/.git/config\n", 1);
    refused("0644 3 " ABC " ./a\n", 1);
    refused("0644 3 " ABC " ok\n0644 3 " ABC " /abs\n", 2);
}

Test(bundle, a_bad_mode_size_or_digest_refuses_the_manifest)
{
    refused("1000 3 " ABC " a\n", 1); /* octal 1000: beyond the permission bits */
    refused("4755 3 " ABC " a\n", 1); /* setuid */
    refused("rw-r 3 " ABC " a\n", 1);
    refused("-1 3 " ABC " a\n", 1);
    refused("0644 x " ABC " a\n", 1);
    refused("0644 67108865 " ABC " a\n", 1); /* one byte over GALE_BLOB_MAX */
    refused("0644 -1 " ABC " a\n", 1);
    refused("0644 3 BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD a\n", 1);
    refused("0644 3 ba7816bf a\n", 1);
    refused("0644 3 " ABC "0 a\n", 1);
}

Test(bundle, a_line_with_fields_missing_refuses_the_manifest)
{
    refused("0644 3 " ABC "\n", 1);
    refused("0644 3 " ABC " \n", 1);
    refused("0644 3\n", 1);
    refused("0644\n", 1);
    refused("\n", 1);
    refused("0644 3 " ABC " a\n\n0644 3 " ABC " b\n", 2);
}

Test(bundle, files_larger_than_a_blob_in_all_refuse_the_manifest)
{
    refused("0644 67108864 " ABC " a\n0644 1 " ABC " b\n", 2);
    /* Sizes that wrap around 2^64 when added must not pass as small. */
    refused("0644 10 " ABC " a\n0644 18446744073709551611 " ABC " b\n", 2);
}

static char *lines(int n)
{
    size_t per = strlen("0644 1 " ABC " f0000\n");
    char *text = malloc(per * (size_t)n + 1), *at = text;
    cr_assert_not_null(text);
    for (int i = 0; i < n; i++) at += sprintf(at, "0644 1 %s f%04d\n", ABC, i);
    return text;
}

Test(bundle, a_manifest_of_more_than_the_bound_of_files_is_refused)
{
    gale_bundle_t b;
    char why[256] = "";
    char *text = lines(GALE_BUNDLE_FILES);
    cr_assert_eq(gale_bundle_parse(text, &b, why, sizeof why), 0, "%s", why);
    cr_assert_eq(b.n, GALE_BUNDLE_FILES);
    gale_bundle_free(&b);
    free(text);
    text = lines(GALE_BUNDLE_FILES + 1);
    refused(text, GALE_BUNDLE_FILES + 1);
    free(text);
}

Test(bundle, a_folder_of_more_than_the_bound_of_files_is_refused_with_a_message)
{
    folder("many");
    for (int i = 0; i < GALE_BUNDLE_FILES; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "many/f%04d", i);
        file(rel, "x", 0644);
    }
    gale_bundle_t b;
    char why[256] = "";
    cr_assert_eq(gale_bundle_scan(dir, &b, why, sizeof why), 0, "exactly the bound: %s", why);
    cr_assert_eq(b.n, GALE_BUNDLE_FILES);
    cr_assert_str_eq(b.files[0].path, "many/f0000");
    cr_assert_str_eq(b.files[GALE_BUNDLE_FILES - 1].path, "many/f0999");
    gale_bundle_free(&b);
    file("one_more", "x", 0644);
    cr_assert_eq(gale_bundle_scan(dir, &b, why, sizeof why), GALE_ELIMIT);
    cr_assert(strstr(why, "more than 1000 files"), "%s", why);
    gale_bundle_free(&b);
}

Test(bundle, folders_nested_too_deep_are_refused_with_a_message)
{
    char rel[256] = "d";
    folder(rel);
    for (int i = 0; i < 17; i++) {
        strcat(rel, "/d");
        folder(rel);
    }
    strcat(rel, "/f");
    file(rel, "x", 0644);
    gale_bundle_t b;
    char why[512] = "";
    cr_assert_eq(gale_bundle_scan(dir, &b, why, sizeof why), GALE_ELIMIT);
    cr_assert(strstr(why, "deeper than 16"), "%s", why);
    gale_bundle_free(&b);
}
