/* testlib_journal.c: what a user sees of a topology through the gale command: its journal (`gale journal`), and
   whether `gale validate` takes it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

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
