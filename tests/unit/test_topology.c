/*
 * Topology files: parsing, defaults, settings, overrides, and every error a user can make, each checked for its
 * message and line (tests/topologies/bad/NAME.cfg starts with the "# expect:" lines its error must contain).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"
#include "shell.h"
#include "topology_read.h"
#include "testlib.h"
#include "topology.h"

static void use_test_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    unsetenv("GALE_HOME");
    free(dir);
}

TestSuite(topology, .init = use_test_plugins);

static gale_topology_t *open_text(const char *text, const gale_override_t *ov, size_t n, gale_diag_t *d, int *rc)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/t.cfg", dir);
    tl_write_file(path, text);
    gale_topology_t *t = NULL;
    *rc = gale_topology_open(path, ov, n, &t, d);
    tl_rmtree(dir);
    free(dir);
    free(path);
    return *rc ? NULL : t;
}

static const char WORDCOUNT[] =
    "name = \"wc\";\n"
    "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; settings = { seed = 7; sentences = [ \"a b\", \"c\" ]; }; } );\n"
    "bolts = ( { name = \"split\"; plugin = \"split_sentence\"; parallelism = 3; inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"count\"; plugin = \"word_count\"; parallelism = 2; settings = { mode = \"final\"; };\n"
    "            inputs = ( { from = \"split\"; grouping = \"fields\"; fields = [ \"word\" ]; } ); } );\n";

Test(topology, defaults_order_and_task_ids)
{
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(WORDCOUNT, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_str_eq(t->name, "wc");
    cr_assert_eq(t->config.ackers, 1);
    cr_assert_eq(t->config.message_timeout_s, 30);
    cr_assert_eq(t->config.max_spout_pending, 1000);
    cr_assert_eq(t->config.retry_backoff_max_ms, 2000);
    cr_assert_eq(t->config.max_retries, 3);
    cr_assert_eq(t->config.retry_backoff_ms, 100);
    cr_assert_null(t->config.journal);
    cr_assert_eq(t->n_tasks, 6);
    cr_assert_eq(t->components[0].first_task, 1);
    cr_assert_eq(t->components[1].first_task, 2);
    cr_assert_eq(t->components[2].first_task, 5);
    cr_assert_eq(t->order[0], 0);
    cr_assert_eq(t->order[2], 2);
    const gale_input_t *in = &t->components[2].inputs[0];
    cr_assert_eq(in->grouping, GALE_GROUPING_FIELDS);
    cr_assert_eq(in->field_index[0], 0);
    cr_assert_str_eq(t->components[1].inputs[0].stream, "default");
    cr_assert_eq(t->components[1].inputs[0].grouping, GALE_GROUPING_SHUFFLE);
    gale_topology_free(t);
}

Test(topology, settings_become_value_trees)
{
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(WORDCOUNT, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    const gale_setting_t *seed = gale_component_setting(&t->components[0], "seed");
    cr_assert_eq(seed->value.type, GALE_INT);
    cr_assert_eq(seed->value.i, 7);
    cr_assert_eq(seed->line, 2);
    const gale_setting_t *list = gale_component_setting(&t->components[0], "sentences");
    cr_assert_eq(list->value.type, GALE_ARRAY);
    cr_assert_eq(list->value.n, 2);
    cr_assert_str_eq(list->value.c.items[0].s.ptr, "a b");
    cr_assert_null(gale_component_setting(&t->components[0], "nope"));
    gale_topology_free(t);
}

Test(topology, overrides_set_settings_and_config)
{
    gale_override_t ov[] = {{"s.seed=99"}, {"count.mode=running"}, {"config.ackers=0"}, {"split.extra=1.5"},
                            {"config.journal=\"j.log\""}};
    gale_diag_t d;
    int rc;
    /* split_sentence declares no settings, so "extra" must be refused: drop it for this part. */
    gale_topology_t *t = open_text(WORDCOUNT, ov, 3, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_eq(gale_component_setting(&t->components[0], "seed")->value.i, 99);
    cr_assert_str_eq(gale_component_setting(&t->components[2], "mode")->value.s.ptr, "running");
    cr_assert_eq(t->config.ackers, 0);
    gale_topology_free(t);
    t = open_text(WORDCOUNT, &ov[4], 1, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_str_eq(t->config.journal, "j.log");
    gale_topology_free(t);
    t = open_text(WORDCOUNT, &ov[3], 1, &d, &rc);
    cr_assert_neq(rc, 0);
    cr_assert_not_null(strstr(d.msg, "bolt 'split': unknown setting 'extra' for plugin split_sentence"), "%s", d.msg);
}

Test(topology, bad_overrides_are_named)
{
    const char *cases[][2] = {
        {"nosuch.x=1", "--set nosuch.x=1: no component 'nosuch'"},
        {"config.ackers=lots", "config.ackers must be an integer (got a string)"},
        {"config.nope=1", "unknown config key 'nope'"},
        {"noequals", "--set noequals: expected COMPONENT.KEY=VALUE"},
        {"s.count=ten", "setting 'count' must be an integer (got a string)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gale_override_t ov = {cases[i][0]};
        gale_diag_t d;
        int rc;
        gale_topology_t *t = open_text(WORDCOUNT, &ov, 1, &d, &rc);
        cr_assert_null(t, "%s accepted", cases[i][0]);
        cr_assert_not_null(strstr(d.msg, cases[i][1]), "%s: %s", cases[i][0], d.msg);
    }
}

/* A value from --set has no line in the file: its errors name the --set instead of FILE:1. */
Test(topology, errors_from_overrides_name_the_set_argument)
{
    const char *cases[][2] = {
        {"config.ackers=lots", "--set config.ackers=lots: config.ackers must be an integer (got a string)"},
        {"config.workers=0", "--set config.workers=0: config.workers must be from 1 to 1024 (got 0)"},
        {"config.nope=1", "--set config.nope=1: unknown config key 'nope'"},
        {"s.count=ten", "--set s.count=ten: spout 's': setting 'count' must be an integer (got a string)"},
        {"split.foo=bar", "--set split.foo=bar: bolt 'split': unknown setting 'foo' for plugin split_sentence"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gale_override_t ov = {cases[i][0]};
        gale_diag_t d;
        int rc;
        gale_topology_t *t = open_text(WORDCOUNT, &ov, 1, &d, &rc);
        cr_assert_null(t, "%s accepted", cases[i][0]);
        cr_assert_eq(strncmp(d.msg, cases[i][1], strlen(cases[i][1])), 0, "--set %s:\n  got:      %s\n  expected: %s...",
                     cases[i][0], d.msg, cases[i][1]);
    }
    /* The file's own values still point at their line, next to an override of another key. */
    gale_override_t ov = {"s.seed=1"};
    gale_diag_t d;
    int rc;
    char *text = tl_path("%s", WORDCOUNT);
    char *at = strstr(text, "seed = 7;");
    memcpy(at, "seed=\"7\";", 9);
    gale_topology_t *t = open_text(text, &ov, 1, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg); /* the override replaced the bad value */
    gale_topology_free(t);
    ov.assignment = "s.sentences=1";
    t = open_text(text, &ov, 1, &d, &rc);
    cr_assert_null(t);
    cr_assert_not_null(strstr(d.msg, "t.cfg:2: spout 's': setting 'seed' must be an integer"), "%s", d.msg);
    free(text);
}

/* ---- Storm's names for the same settings, and tick intervals ---- */

static const char STORM[] =
    "name = \"storm\";\n"
    "config = { tick_s = 4;\n"
    "           topology = { workers = 3; acker = { executors = 2; }; max = { spout = { pending = 500; }; };\n"
    "                        message = { timeout = { secs = 60; }; }; }; };\n"
    "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
    "bolts = ( { name = \"own\"; plugin = \"split_sentence\"; tick_s = 0.5; inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"inherits\"; plugin = \"split_sentence\"; inputs = ( { from = \"s\"; } ); } );\n";

Test(topology, storm_names_in_the_file_set_the_same_keys)
{
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(STORM, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_eq(t->config.workers, 3);
    cr_assert_eq(t->config.ackers, 2);
    cr_assert_eq(t->config.max_spout_pending, 500);
    cr_assert_eq(t->config.message_timeout_s, 60);
    cr_assert_float_eq(t->config.tick_s, 4, 1e-12);
    gale_topology_free(t);
    t = open_text("name = \"t\"; config = { topology = { tick = { tuple = { freq = { secs = 7; }; }; }; }; };\n"
                  "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n", NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_float_eq(t->config.tick_s, 7, 1e-12);
    gale_topology_free(t);
}

Test(topology, a_bolt_ticks_at_its_own_interval_or_the_topologys)
{
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(STORM, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_eq(t->components[0].tick_s, 0, "spouts do not tick");
    cr_assert_float_eq(t->components[1].tick_s, 0.5, 1e-12);
    cr_assert_float_eq(t->components[2].tick_s, 4, 1e-12);
    gale_topology_free(t);
    t = open_text(WORDCOUNT, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    for (size_t i = 0; i < t->n_components; i++) cr_assert_eq(t->components[i].tick_s, 0, "no ticks by default");
    gale_topology_free(t);
}

Test(topology, storm_names_in_set_replace_the_files_value_under_either_name)
{
    gale_override_t ov[] = {{"topology.max.spout.pending=77"}, {"topology.workers=5"}, {"config.ackers=0"},
                            {"topology.tick.tuple.freq.secs=1.5"}, {"topology.message.timeout.secs=9"}};
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(STORM, ov, 5, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_eq(t->config.max_spout_pending, 77);
    cr_assert_eq(t->config.workers, 5);
    cr_assert_eq(t->config.ackers, 0, "config.ackers replaced topology.acker.executors of the file");
    cr_assert_float_eq(t->config.tick_s, 1.5, 1e-12);
    cr_assert_float_eq(t->components[2].tick_s, 1.5, 1e-12);
    cr_assert_eq(t->config.message_timeout_s, 9);
    gale_topology_free(t);
    /* The same key twice under one name: the later wins, as before. */
    gale_override_t twice[] = {{"topology.workers=2"}, {"topology.workers=4"}};
    t = open_text(WORDCOUNT, twice, 2, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_eq(t->config.workers, 4);
    gale_topology_free(t);
}

Test(topology, one_key_set_under_both_names_is_refused_naming_both)
{
    gale_override_t ov[] = {{"config.max_spout_pending=10"}, {"topology.max.spout.pending=20"}};
    gale_diag_t d;
    int rc;
    cr_assert_null(open_text(WORDCOUNT, ov, 2, &d, &rc));
    cr_assert_str_eq(d.msg, "--set topology.max.spout.pending=20: config.max_spout_pending is given twice, as "
                            "'topology.max.spout.pending' here and as 'config.max_spout_pending' by --set "
                            "config.max_spout_pending=10 (Storm's name and gale's): keep one");
    gale_override_t bad[] = {{"topology.workers=0"}};
    cr_assert_null(open_text(WORDCOUNT, bad, 1, &d, &rc));
    cr_assert_str_eq(d.msg, "--set topology.workers=0: config.workers must be from 1 to 1024 (got 0)");
}

/* Only regular files are read, and never by an open that waits (a FIFO's waits for a writer). */
Test(topology, files_that_are_not_regular_are_refused_by_name)
{
    char *dir = tl_tmpdir(), *fifo = tl_path("%s/fifo", dir), *big = tl_path("%s/big.cfg", dir);
    char *inc = tl_path("%s/inc.cfg", dir), *inc2 = tl_path("%s/inc2.cfg", dir), *nested = tl_path("%s/n.cfg", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    FILE *f = fopen(big, "w");
    cr_assert_not_null(f);
    cr_assert_eq(ftruncate(fileno(f), (16 << 20) + 1), 0); /* sparse: nothing is written */
    fclose(f);
    char *text = tl_path("name = \"t\";\n/* @include \"%s\" in a comment is not one */\nx = \"\n@include \\\"%s\\\"\";\n"
                         "  @include \"%s\"\n", fifo, fifo, fifo);
    tl_write_file(inc, text);
    free(text);
    text = tl_path("name = \"t\";\n@include \"%s\"\n", inc); /* an include of a file that includes the FIFO */
    tl_write_file(nested, text);
    free(text);
    text = tl_path("@include \"%s\"\n", big);
    tl_write_file(inc2, text);
    free(text);
    char *empty = tl_path("%s/empty.cfg", dir), *twice = tl_path("%s/twice.cfg", dir);
    tl_write_file(empty, "");
    text = tl_path("@include \"%s\"\n@include \"%s\"\n", empty, fifo); /* the second include's line counts */
    tl_write_file(twice, text);
    free(text);
    struct {
        const char *path;
        char *want;
    } cases[] = {
        {dir, tl_path("%s: is a directory, not a topology file", dir)},
        {fifo, tl_path("%s: is a FIFO, not a regular file", fifo)},
        {"/dev/null", tl_path("/dev/null: is a device, not a regular file")},
        {big, tl_path("%s: is 16777217 bytes, more than a topology file may have (16 MiB)", big)},
        {inc, tl_path("%s:5: @include \"%s\": %s: is a FIFO, not a regular file", inc, fifo, fifo)},
        {nested, tl_path("%s:5: @include \"%s\": %s: is a FIFO, not a regular file", inc, fifo, fifo)},
        {inc2, tl_path("%s:1: @include \"%s\": %s: is 16777217 bytes", inc2, big, big)},
        {twice, tl_path("%s:2: @include \"%s\": %s: is a FIFO", twice, fifo, fifo)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gale_topology_t *t = NULL;
        gale_diag_t d = {{0}};
        cr_assert_neq(gale_topology_open(cases[i].path, NULL, 0, &t, &d), 0, "%s accepted", cases[i].path);
        cr_assert_eq(strncmp(d.msg, cases[i].want, strlen(cases[i].want)), 0, "\n  got:      %s\n  expected: %s...",
                     d.msg, cases[i].want);
        free(cases[i].want);
    }
    free(fifo), free(big), free(inc), free(inc2), free(nested), free(empty), free(twice);
    tl_rmtree(dir);
    free(dir);
}

Test(topology, declares_may_use_settings_and_input_fields)
{
    const char *text = "name = \"t\";\n"
                       "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
                       "bolts = ( { name = \"d\"; plugin = \"declaring_bolt\"; settings = { fields = [ \"x\", \"y\" ]; };\n"
                       "            inputs = ( { from = \"s\"; } ); },\n"
                       "          { name = \"e\"; plugin = \"split_sentence\";\n"
                       "            inputs = ( { from = \"d\"; stream = \"copy\"; } ); } );\n";
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(text, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    const gale_component_t *c = &t->components[1];
    cr_assert_eq(c->n_streams, 2);
    cr_assert_str_eq(c->streams[0].name, "out");
    cr_assert_eq(c->streams[0].n_fields, 2);
    cr_assert_str_eq(c->streams[0].fields[1], "y");
    cr_assert_str_eq(c->streams[1].name, "copy");
    cr_assert_str_eq(c->streams[1].fields[0], "sentence");
    cr_assert_not(c->streams[0].direct);
    cr_assert_not(c->streams[1].direct);
    gale_topology_free(t);
}

Test(topology, a_declare_may_declare_a_direct_stream_which_takes_the_direct_grouping)
{
    const char *text =
        "name = \"t\";\n"
        "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
        "bolts = ( { name = \"d\"; plugin = \"declaring_bolt\"; settings = { fields = [ \"x\" ]; direct = true; };\n"
        "            inputs = ( { from = \"s\"; } ); },\n"
        "          { name = \"e\"; plugin = \"split_sentence\"; parallelism = 2;\n"
        "            inputs = ( { from = \"d\"; stream = \"out\"; grouping = \"direct\"; },\n"
        "                       { from = \"d\"; stream = \"copy\"; } ); } );\n";
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(text, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    const gale_component_t *c = &t->components[1];
    cr_assert_str_eq(c->streams[0].name, "out");
    cr_assert(c->streams[0].direct, "gale_declare_direct_stream declared a plain stream");
    cr_assert_not(c->streams[1].direct, "gale_declare_stream declared a direct stream");
    cr_assert_eq(t->components[2].inputs[0].grouping, GALE_GROUPING_DIRECT);
    gale_topology_free(t);
}

/* ---- shell components: `direct_streams` marks streams of their settings direct --------------------------------- */

static const char SHELL_DIRECT[] =
    "name = \"t\";\n"
    "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
    "bolts = ( { name = \"py\"; plugin = \"shell\";\n"
    "            settings = { command = [ \"true\" ]; fields = [ \"w\" ];\n"
    "                         streams = { picked = [ \"w\" ]; other = [ \"v\" ]; }; direct_streams = [ %s ]; };\n"
    "            inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"a\"; plugin = \"split_sentence\";\n"
    "            inputs = ( { from = \"py\"; stream = \"picked\"; grouping = \"direct\"; } ); },\n"
    "          { name = \"b\"; plugin = \"split_sentence\"; inputs = ( { from = \"py\"; grouping = \"%s\"; } ); } );\n";

static gale_topology_t *open_shell(const char *direct_streams, const char *grouping, gale_diag_t *d, int *rc)
{
    cr_assert_eq(gale_shell_register(), 0);
    char *text = tl_path(SHELL_DIRECT, direct_streams, grouping);
    gale_topology_t *t = open_text(text, NULL, 0, d, rc);
    free(text);
    return t;
}

Test(topology, shell_direct_streams_declare_the_streams_it_names_direct)
{
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_shell("\"picked\"", "shuffle", &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    const gale_component_t *c = &t->components[1];
    cr_assert_eq(c->n_streams, 3);
    cr_assert_str_eq(c->streams[gale_component_stream(c, "picked")].name, "picked");
    cr_assert(c->streams[gale_component_stream(c, "picked")].direct);
    cr_assert_not(c->streams[gale_component_stream(c, "default")].direct);
    cr_assert_not(c->streams[gale_component_stream(c, "other")].direct);
    gale_topology_free(t);
    /* "default" too, by its name; then only the direct grouping may take it. */
    t = open_shell("\"picked\", \"default\"", "direct", &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert(t->components[1].streams[gale_component_stream(&t->components[1], "default")].direct);
    gale_topology_free(t);
    t = open_shell("\"picked\", \"default\"", "shuffle", &d, &rc);
    cr_assert_eq(rc, GALE_ETOPOLOGY);
    cr_assert_not_null(strstr(d.msg, "t.cfg:9: bolt 'b': shuffle grouping on stream 'default' of 'py', which 'py' "
                                     "declares direct"),
                       "%s", d.msg);
}

Test(topology, without_direct_streams_a_shell_stream_refuses_the_direct_grouping)
{
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_shell("", "shuffle", &d, &rc);
    cr_assert_null(t);
    cr_assert_eq(rc, GALE_ETOPOLOGY);
    cr_assert_not_null(strstr(d.msg, "t.cfg:8: bolt 'a': direct grouping on stream 'picked' of 'py', which 'py' does "
                                     "not declare direct (declare it with gale_declare_direct_stream, or list it in "
                                     "`direct_streams` for a shell component)"),
                       "%s", d.msg);
}

Test(topology, shell_direct_streams_must_name_streams_of_its_settings)
{
    static const char *const wrong[] = {"\"nope\"", "\"picked\", \"Picked\"", "1"};
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        gale_diag_t d;
        int rc;
        gale_topology_t *t = open_shell(wrong[i], "shuffle", &d, &rc);
        cr_assert_null(t, "direct_streams = [ %s ] accepted", wrong[i]);
        cr_assert_eq(rc, GALE_ETOPOLOGY);
        cr_assert_not_null(strstr(d.msg, "t.cfg:3: bolt 'py': declare of plugin shell failed"), "%s", d.msg);
    }
}

Test(topology, a_declare_may_not_emit_ack_fail_keep_or_wake)
{
    const char *text = "name = \"t\";\n"
                       "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
                       "bolts = ( { name = \"d\"; plugin = \"declaring_bolt\";\n"
                       "            settings = { fields = [ \"x\" ]; check_phase = true; };\n"
                       "            inputs = ( { from = \"s\"; } ); } );\n";
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(text, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "a call the phase table forbids was not refused in declare: %s", d.msg);
    gale_topology_free(t);
}

Test(topology, plugins_resolve_from_the_topology_folder_then_the_path_then_builtin)
{
    char *dir = tl_tmpdir(), *out = NULL;
    char *plugins = tl_path("%s/tests/plugins", tl_build());
    gale_diag_t d;
    /* Not in the folder: found on GALE_PLUGIN_PATH. */
    cr_assert_eq(gale_plugin_resolve_path("wrong_abi", dir, &out, &d), 0, "%s", d.msg);
    cr_assert_not_null(strstr(out, "tests/plugins/wrong_abi.so"), "%s", out);
    free(out);
    /* Shipped ones come from the built-in folder. */
    cr_assert_eq(gale_plugin_resolve_path("word_count", dir, &out, &d), 0, "%s", d.msg);
    cr_assert_not_null(strstr(out, "plugins/word_count.so"), "%s", out);
    free(out);
    /* GALE_HOME moves the built-in folder. */
    setenv("GALE_HOME", dir, 1);
    cr_assert_neq(gale_plugin_resolve_path("word_count", dir, &out, &d), 0);
    char *home_plugins = tl_path("%s/plugins/word_count.so", dir);
    cr_assert_not_null(strstr(d.msg, home_plugins), "%s", d.msg);
    unsetenv("GALE_HOME");
    /* The topology's own folder comes first. */
    char *local = tl_path("%s/word_count.so", dir);
    tl_write_file(local, "");
    cr_assert_eq(gale_plugin_resolve_path("word_count", dir, &out, &d), 0);
    cr_assert_str_eq(out, local);
    free(out);
    free(local);
    free(home_plugins);
    free(plugins);
    tl_rmtree(dir);
    free(dir);
}

/* ---- every bad file -------------------------------------------------------------------------------------------- */

typedef struct bad_file {
    char name[256]; /* a d_name fits */
} bad_file_t;

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(topology, bad_files)
{
    DIR *d = opendir("tests/topologies/bad");
    cr_assert_not_null(d, "run the tests from the repository root");
    size_t n = 0;
    bad_file_t *files = cr_malloc(64 * sizeof *files);
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".cfg")) snprintf(files[n++].name, sizeof files->name, "%s", e->d_name);
    }
    closedir(d);
    return cr_make_param_array(bad_file_t, files, n, free_params);
}

ParameterizedTest(bad_file_t *f, topology, bad_files)
{
    char *path = tl_path("tests/topologies/bad/%s", f->name);
    char *text = tl_read_file(path, NULL);
    cr_assert_not_null(text);
    gale_topology_t *t = NULL;
    gale_diag_t d = {{0}};
    int rc = gale_topology_open(path, NULL, 0, &t, &d);
    cr_assert_neq(rc, 0, "%s was accepted", f->name);
    cr_assert_null(t);
    cr_assert_eq(strncmp(d.msg, path, strlen(path)), 0, "the message does not start with the file: %s", d.msg);
    int expects = 0;
    for (char *line = text; line && !strncmp(line, "# expect: ", 10); expects++) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        cr_assert_not_null(strstr(d.msg, line + 10), "%s:\n  got:      %s\n  expected: %s", f->name, d.msg, line + 10);
        line = nl + 1;
    }
    cr_assert_gt(expects, 0, "%s has no '# expect:' line", f->name);
    free(text);
    free(path);
}

Test(topology, missing_file)
{
    gale_topology_t *t = NULL;
    gale_diag_t d;
    cr_assert_neq(gale_topology_open("no/such.cfg", NULL, 0, &t, &d), 0);
    cr_assert_str_eq(d.msg, "no/such.cfg: cannot read: No such file or directory");
}

/* ---- the one table of config keys, and the README's table of them ---- */

Test(topology, the_readme_lists_every_config_key_with_its_type_and_default)
{
    char *readme = tl_read_file("README.md", NULL);
    cr_assert_not_null(readme);
    size_t n = 0;
    const char *name, *type;
    long def;
    for (size_t i = 0; gale_config_key_info(i, &name, &type, &def); i++, n++) {
        char *row = tl_path("\n| `config.%s` | %s | ", name, type);
        const char *at = strstr(readme, row);
        cr_assert_not_null(at, "the README has no row '%s'", row + 1);
        const char *d = at + strlen(row);
        if (!strcmp(type, "int") || !strcmp(type, "double"))
            cr_assert_eq(strtol(d, NULL, 10), def, "config.%s: README says %.12s", name, d);
        else if (!strcmp(type, "bool")) cr_assert_eq(strncmp(d, def ? "true |" : "false |", def ? 6 : 7), 0, "%s", name);
        else cr_assert_eq(strncmp(d, "none |", 6), 0, "%s", name);
        free(row);
    }
    /* And no row for a key that is not there. */
    size_t rows = 0;
    for (const char *p = readme; (p = strstr(p, "\n| `config.")); p++) rows++;
    cr_assert_eq(rows, n, "%zu README rows for %zu keys", rows, n);
    free(readme);
    /* gale_config_defaults gives what the table says. */
    gale_config_t c;
    gale_config_defaults(&c);
    cr_assert_eq(c.ackers, 1);
    cr_assert_eq(c.max_spout_pending, 1000);
    cr_assert_eq(c.drain_timeout_s, 10);
    cr_assert_null(c.journal);
    cr_assert_not(c.journal_fsync);
    cr_assert_eq(c.tick_s, 0);
}

/* ---- windows --------------------------------------------------------------------------------------------------- */

static const char WINDOWED[] =
    "name = \"w\";\n"
    "config = { message_timeout_s = 60; };\n"
    "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
    "bolts = ( { name = \"count\"; plugin = \"window_stats\";\n"
    "            window = { type = \"tumbling\"; length_count = 500; };\n"
    "            inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"late\"; plugin = \"window_stats\";\n"
    "            window = { type = \"sliding\"; length_ms = 30000; slide_ms = 10000; timestamp_field = \"sentence\";\n"
    "                       lag_ms = 2000; late_stream = \"too_late\"; };\n"
    "            inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"sessions\"; plugin = \"window_stats\"; window = { type = \"session\"; gap_ms = 5000; };\n"
    "            inputs = ( { from = \"s\"; } ); } );\n";

Test(topology, windows_are_read_into_the_model_with_their_late_stream)
{
    gale_diag_t d;
    int rc;
    gale_topology_t *t = open_text(WINDOWED, NULL, 0, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    const gale_window_spec_t *a = &t->components[1].window, *b = &t->components[2].window,
                             *c = &t->components[3].window;
    cr_assert_eq(a->type, GALE_WINDOW_TUMBLING);
    cr_assert(a->by_count);
    cr_assert_eq(a->length, 500);
    cr_assert_eq(a->slide, 500, "a tumbling window slides by its length");
    cr_assert_eq(gale_window_hold_ms(a), 0, "no time bounds a window of count");
    cr_assert_eq(a->line, 5);
    cr_assert_eq(b->type, GALE_WINDOW_SLIDING);
    cr_assert_not(b->by_count);
    cr_assert_eq(b->slide, 10000);
    cr_assert_str_eq(b->timestamp_field, "sentence");
    cr_assert_eq(b->lag_ms, 2000);
    cr_assert_eq(gale_window_hold_ms(b), 42000);
    int late = gale_component_stream(&t->components[2], "too_late");
    cr_assert_geq(late, 0, "the late stream is declared");
    cr_assert_eq(t->components[2].streams[late].n_fields, 1);
    cr_assert_str_eq(t->components[2].streams[late].fields[0], "sentence", "with its input's fields");
    cr_assert_eq(c->type, GALE_WINDOW_SESSION);
    cr_assert_eq(gale_window_hold_ms(c), 5000);
    cr_assert_eq(t->components[0].window.type, GALE_WINDOW_NONE);
    gale_topology_free(t);
}

Test(topology, a_window_longer_than_the_timeout_is_refused_also_after_an_override)
{
    gale_diag_t d;
    int rc;
    gale_override_t ov[] = {{"config.message_timeout_s=40"}};
    gale_topology_t *t = open_text(WINDOWED, ov, 1, &d, &rc);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(d.msg, ":8: bolt 'late': its window keeps a tuple up to length_ms 30000 + slide_ms 10000 + "
                            "lag_ms 2000 = 42000 ms, and config.message_timeout_s is 40 s"),
              "%s", d.msg);
    cr_assert(strstr(d.msg, "raise message_timeout_s to at least 43 s"), "%s", d.msg);
    /* Without acking nothing times out: the same windows are fine. */
    gale_override_t off[] = {{"config.message_timeout_s=40"}, {"config.ackers=0"}};
    t = open_text(WINDOWED, off, 2, &d, &rc);
    cr_assert_eq(rc, 0, "%s", d.msg);
    gale_topology_free(t);
}
