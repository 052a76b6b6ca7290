/* testlib_journal.c: a topology through the gale command, as a user runs it: `gale run` in the foreground or in a
   folder of its own, its journal (`gale journal`), and whether `gale validate` takes it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testlib.h"

char *tl_journal_json(const char *journal, const char *cause, long *n)
{
    const char *argv[] = {tl_gale(), "journal", "ls", "--json", journal, NULL, NULL, NULL};
    if (cause) argv[4] = "--cause", argv[5] = cause, argv[6] = journal;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "gale journal ls --json %s: %s", journal, r.err);
    *n = 0;
    for (const char *p = r.out; p && (p = strchr(p, '\n')); p++) ++*n;
    char *out = r.out;
    r.out = NULL;
    tl_result_free(&r);
    return out;
}

void tl_validate_refuses(const char *plugin, const char *settings, const char *says)
{
    char *dir = tl_tmpdir(), *cfg = tl_path("%s/bad.cfg", dir);
    char *text = tl_path("name = \"bad\";\n"
                         "spouts = ( { name = \"lines\"; plugin = \"file_lines\"; settings = { path = \"x\"; }; } );\n"
                         "bolts = ( { name = \"%s\"; plugin = \"%s\"; settings = { %s };\n"
                         "  inputs = ( { from = \"lines\"; } ); } );\n",
                         plugin, plugin, settings);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[] = {tl_gale(), "validate", cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_neq(r.status, 0, "validated:\n%s", r.err);
    cr_assert_not_null(strstr(r.err, says), "'%s' not in:\n%s", says, r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(cfg), free(text);
}

tl_result_t tl_gale_run(const char *cfg, const char *const *extra, double timeout_s)
{
    const char *argv[16] = {tl_gale(), "run", "--quiet"};
    int n = 3;
    for (int i = 0; extra && extra[i] && n < 14; i++) argv[n++] = extra[i];
    argv[n++] = cfg;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, timeout_s, &r), 0);
    return r;
}

pid_t tl_spawn_in(const char *dir, const char *name, const char *const *argv, char **rundir)
{
    *rundir = tl_path("%s/%s", dir, name);
    mkdir(*rundir, 0755);
    pid_t pid = tl_spawn(argv, *rundir);
    cr_assert(pid > 0);
    tl_remember(pid);
    return pid;
}
