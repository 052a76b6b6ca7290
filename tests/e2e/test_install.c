/*
 * `make install DESTDIR=...` as a plugin author outside the tree meets it: the README's tutorial bolt, taken from
 * the README itself, built with `pkg-config --cflags gale` against the installed tree only, and run by the
 * installed `gale`, which finds its own shipped plugins without GALE_HOME.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

TestSuite(install, .timeout = 300);

/* The text between the line `open` and the next line "```" after it in `doc`; malloc'd. */
static char *block_after(const char *doc, const char *open)
{
    const char *start = strstr(doc, open);
    cr_assert_not_null(start, "the README has no block %s", open);
    start += strlen(open);
    const char *end = strstr(start, "\n```");
    cr_assert_not_null(end);
    return strndup(start, (size_t)(end - start + 1));
}

Test(install, the_tutorial_bolt_builds_with_pkg_config_and_runs_with_the_installed_gale)
{
    char *dir = tl_tmpdir();
    char *root = tl_path("%s/root", dir);
    const char *sanitize = getenv("SANITIZE");
    char *build = tl_path("BUILD=%s", tl_build()), *san = tl_path("SANITIZE=%s", sanitize ? sanitize : "");
    char *destdir = tl_path("DESTDIR=%s", root);
    /* A make of its own: not the jobserver of the make that runs the tests. */
    const char *make[] = {"/usr/bin/env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "make", "-s",
                          "install", build, san, destdir, "PREFIX=/opt/gale", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(make, NULL, 240, &r), 0);
    cr_assert_eq(r.status, 0, "make install: %d\n%s%s", r.status, r.out, r.err);
    tl_result_free(&r);

    char *readme = tl_read_file("README.md", NULL);
    cr_assert_not_null(readme);
    char *code = block_after(readme, "Save it as `exclaim.c` at the top of the checkout:\n\n```c\n");
    char *cfg = block_after(readme, "and `count` now reads from it):\n\n```\n");
    char *c_path = tl_path("%s/exclaim.c", dir), *cfg_path = tl_path("%s/exclaim.cfg", dir);
    cr_assert_eq(tl_write_file(c_path, code), 0);
    cr_assert_eq(tl_write_file(cfg_path, cfg), 0);

    /* Only the installed tree: its pkg-config file, its header. */
    char *script = tl_path("set -e; export PKG_CONFIG_PATH=%s/opt/gale/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=%s; "
                           "gcc $(pkg-config --cflags gale) -O2 -shared -o %s/exclaim.so %s $(pkg-config --libs gale); "
                           "echo 'to be or not to be' | %s/opt/gale/bin/gale run --quiet --set lines.path=- %s | sort",
                           root, root, dir, c_path, root, cfg_path);
    const char *sh[] = {"/bin/sh", "-c", script, NULL};
    unsetenv("GALE_HOME");
    unsetenv("GALE_PLUGIN_PATH");
    cr_assert_eq(tl_run(sh, NULL, 120, &r), 0);
    cr_assert_eq(r.status, 0, "%d\n%s", r.status, r.err);
    cr_assert_str_eq(r.out, "{\"word\": \"be!\", \"count\": 2}\n{\"word\": \"not!\", \"count\": 1}\n"
                            "{\"word\": \"or!\", \"count\": 1}\n{\"word\": \"to!\", \"count\": 2}\n", "%s", r.err);
    tl_result_free(&r);

    /* The installed version answers, and the shipped plugins are where gale looks for them. */
    char *version = tl_path("%s/opt/gale/bin/gale", root);
    const char *v[] = {version, "version", NULL};
    cr_assert_eq(tl_run(v, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "plugin ABI"), "%s", r.out);
    tl_result_free(&r);
    char *shipped = tl_path("%s/opt/gale/lib/gale/plugins/word_count.so", root);
    char *so = tl_read_file(shipped, NULL);
    cr_assert_not_null(so, "%s missing", shipped);
    free(so);

    free(readme), free(code), free(cfg), free(c_path), free(cfg_path), free(script), free(version), free(shipped);
    free(build), free(san), free(destdir), free(root);
    tl_rmtree(dir);
    free(dir);
}
