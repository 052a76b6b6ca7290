/* testlib_journal.c: reading a run's failed-tuple journal through `gale journal`, as a user would. */
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
