/* Windowed bolts through the gale binary. So far: the window block is read and checked, and a run refuses it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static const char CFG[] = "name = \"w\";\n"
                          "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; settings = { count = 10; }; } );\n"
                          "bolts = ( { name = \"b\"; plugin = \"split_sentence\";\n"
                          "            window = { type = \"sliding\"; length_ms = 2000; slide_ms = 500; };\n"
                          "            inputs = ( { from = \"s\"; } ); } );\n";

Test(window, validate_accepts_it_and_run_refuses_it_until_windows_run)
{
    char *dir = tl_tmpdir(), *cfg = tl_path("%s/w.cfg", dir);
    cr_assert_eq(tl_write_file(cfg, CFG), 0);
    tl_result_t r;
    const char *validate[] = {tl_gale(), "validate", cfg, NULL};
    cr_assert_eq(tl_run(validate, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    const char *run[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    cr_assert_eq(tl_run(run, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "w.cfg:4: bolt 'b': windows are read and checked (gale validate), but this version of gale "
                            "does not run them yet"),
              "%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(cfg);
}
