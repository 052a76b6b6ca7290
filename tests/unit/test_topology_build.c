/*
 * The topology builder (topology_build.h): a topology made by calls resolves as a file does, with the same checks
 * and errors, and calls with bad arguments are refused without changing the topology.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "plugin.h"
#include "testlib.h"
#include "topology_build.h"
#include "validate.h"

static void use_test_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    unsetenv("GALE_HOME");
    free(dir);
}

TestSuite(topology_build, .init = use_test_plugins);

static int noop_next(gale_ctx_t *ctx) { return 0; }
static int noop_exec(gale_ctx_t *ctx, const gale_tuple_t *in) { return 0; }
static const gale_plugin_t SPOUT = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "words",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", "n", NULL}, .direct = false},
                                            {"side", (const char *[]){"x", NULL}, .direct = false},
                                            {NULL}},
    .spout = {.next_tuple = noop_next}};
static const gale_plugin_t BOLT = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "relay",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", NULL}, .direct = false}, {NULL}},
    .settings = (const gale_setting_decl_t[]){{"depth", GALE_SETTING_INT, "how deep"}, {NULL, 0, NULL}},
    .bolt = {.execute = noop_exec}};

static const char *const WORD[] = {"word"};

Test(topology_build, plugins_by_name_resolve_as_a_file_does)
{
    gale_topology_t *t = gale_topology_new("wc");
    cr_assert_not_null(t);
    int s = gale_topology_add_plugin(t, "s", GALE_SPOUT, "random_sentence", 1);
    int split = gale_topology_add_plugin(t, "split", GALE_BOLT, "split_sentence", 3);
    int count = gale_topology_add_plugin(t, "count", GALE_BOLT, "word_count", 2);
    cr_assert(s == 0 && split == 1 && count == 2);
    cr_assert_eq(gale_topology_set_int(t, s, "seed", 7), 0);
    cr_assert_eq(gale_topology_set_str(t, count, "mode", "final"), 0);
    cr_assert_eq(gale_topology_add_input(t, split, "s", NULL, GALE_GROUPING_SHUFFLE, NULL, 0), 0);
    cr_assert_eq(gale_topology_add_input(t, count, "split", NULL, GALE_GROUPING_FIELDS, WORD, 1), 0);
    gale_diag_t d;
    cr_assert_eq(gale_topology_build(t, &d), 0, "%s", d.msg);
    cr_assert_eq(t->n_tasks, 6);
    cr_assert_eq(t->components[1].first_task, 2);
    cr_assert_eq(t->components[2].first_task, 5);
    cr_assert_eq(t->order[0], 0);
    cr_assert_eq(t->order[2], 2);
    cr_assert_not_null(strstr(t->components[2].plugin->path, "word_count.so"), "%s", t->components[2].plugin->path);
    const gale_input_t *in = &t->components[2].inputs[0];
    cr_assert_eq(in->from_index, 1);
    cr_assert_eq(in->stream_index, 0);
    cr_assert_eq(in->field_index[0], 0);
    cr_assert_eq(t->config.ackers, 1, "the defaults of the table");
    cr_assert_eq(t->config.max_spout_pending, 1000);
    gale_topology_free(t);
}

Test(topology_build, given_descriptors_declare_their_streams_and_settings_of_every_type_are_kept)
{
    gale_topology_t *t = gale_topology_new("given");
    int s = gale_topology_add(t, "src", &SPOUT, 2);
    int b = gale_topology_add(t, "b", &BOLT, 1);
    cr_assert_eq(gale_topology_add_input(t, b, "src", "side", GALE_GROUPING_ALL, NULL, 0), 0);
    cr_assert_eq(gale_topology_set_int(t, b, "depth", 3), 0);
    cr_assert_eq(gale_topology_set_int(t, b, "depth", 4), 0, "a second set replaces the first");
    cr_assert_eq(gale_topology_set_double(t, s, "rate", 2.5), 0);
    cr_assert_eq(gale_topology_set_bool(t, s, "on", true), 0);
    cr_assert_eq(gale_topology_set_str(t, s, "name", "x"), 0);
    gale_value_t items[] = {gale_str("k"), gale_int(1)};
    gale_value_t inner = gale_map(items, 1), outer = gale_array(&inner, 1);
    cr_assert_eq(gale_topology_set(t, s, "nested", &outer), 0);
    cr_assert_eq(gale_topology_set_replay(t, s, true), 0);
    gale_diag_t d;
    cr_assert_eq(gale_topology_config(t, "ackers", &(gale_value_t){.type = GALE_INT, .i = 2}, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_topology_config(t, "journal", &(gale_value_t[]){gale_str("j.log")}[0], &d), 0, "%s", d.msg);
    cr_assert_eq(gale_topology_build(t, &d), 0, "%s", d.msg);
    cr_assert_eq(t->components[s].n_streams, 2);
    cr_assert_str_eq(t->components[s].streams[1].name, "side");
    cr_assert_eq(t->components[b].inputs[0].stream_index, 1);
    cr_assert_eq(t->components[b].n_settings, 1);
    cr_assert_eq(gale_component_setting(&t->components[b], "depth")->value.i, 4);
    cr_assert_float_eq(gale_component_setting(&t->components[s], "rate")->value.d, 2.5, 1e-12);
    cr_assert(gale_component_setting(&t->components[s], "on")->value.b);
    cr_assert_str_eq(gale_component_setting(&t->components[s], "name")->value.s.ptr, "x");
    const gale_value_t *n = &gale_component_setting(&t->components[s], "nested")->value;
    cr_assert_eq(n->type, GALE_ARRAY);
    cr_assert_eq(n->c.items[0].type, GALE_MAP);
    cr_assert_str_eq(n->c.items[0].c.items[0].s.ptr, "k");
    cr_assert_eq(n->c.items[0].c.items[1].i, 1);
    cr_assert(t->components[s].replay);
    cr_assert_eq(t->config.ackers, 2);
    cr_assert_str_eq(t->config.journal, "j.log");
    cr_assert_eq(t->n_tasks, 3);
    gale_topology_free(t);
}

Test(topology_build, config_values_are_checked_by_the_table_of_keys)
{
    gale_topology_t *t = gale_topology_new("c");
    gale_diag_t d;
    cr_assert_eq(gale_topology_config(t, "ackers", &(gale_value_t){.type = GALE_INT, .i = 5000}, &d), GALE_EINVAL);
    cr_assert_str_eq(d.msg, "(built): config.ackers must be from 0 to 1024 (got 5000)");
    cr_assert_eq(gale_topology_config(t, "ackers", &(gale_value_t[]){gale_str("1")}[0], &d), GALE_EINVAL);
    cr_assert_str_eq(d.msg, "(built): config.ackers must be an integer (got a string)");
    cr_assert_eq(gale_topology_config(t, "journal_fsync", &(gale_value_t){.type = GALE_INT, .i = 1}, &d), GALE_EINVAL);
    cr_assert_str_eq(d.msg, "(built): config.journal_fsync must be true or false (got an integer)");
    cr_assert_eq(gale_topology_config(t, "nope", &(gale_value_t){.type = GALE_INT, .i = 1}, &d), GALE_ENOENT);
    cr_assert_str_eq(d.msg, "(built): unknown config key 'nope'");
    cr_assert_eq(t->config.ackers, 1, "a refused value changed the config");
    gale_topology_free(t);
}

/* The errors of resolving come from the one validation a file gets, naming the component. */
typedef struct bad_graph {
    const char *from, *field;
    bool cycle;
    const char *expect;
} bad_graph_t;

static void expect_build_error(const bad_graph_t *g)
{
    gale_topology_t *t = gale_topology_new("bad");
    gale_topology_add(t, "src", &SPOUT, 1);
    int a = gale_topology_add(t, "a", &BOLT, 1), b = gale_topology_add(t, "b", &BOLT, 1);
    const char *field = g->field ? g->field : "word";
    cr_assert_eq(gale_topology_add_input(t, a, g->from, NULL, GALE_GROUPING_FIELDS, &field, 1), 0);
    cr_assert_eq(gale_topology_add_input(t, b, "a", NULL, GALE_GROUPING_SHUFFLE, NULL, 0), 0);
    if (g->cycle) cr_assert_eq(gale_topology_add_input(t, a, "b", NULL, GALE_GROUPING_SHUFFLE, NULL, 0), 0);
    gale_diag_t d;
    cr_assert_eq(gale_topology_build(t, &d), GALE_ETOPOLOGY, "accepted; expected %s", g->expect);
    cr_assert_str_eq(d.msg, g->expect);
    gale_topology_free(t);
}

Test(topology_build, an_input_from_an_unknown_component_is_refused)
{
    expect_build_error(&(bad_graph_t){"nope", NULL, false, "(built): bolt 'a': input from 'nope', which is not a component"});
}

Test(topology_build, a_fields_grouping_on_an_undeclared_field_is_refused)
{
    expect_build_error(&(bad_graph_t){"src", "wrd", false,
                                      "(built): bolt 'a': fields grouping on 'wrd', which 'src' does not declare on "
                                      "stream 'default' (it declares: word, n)"});
}

Test(topology_build, a_cycle_is_refused)
{
    expect_build_error(&(bad_graph_t){"src", NULL, true,
                                      "(built): bolt 'a': its inputs form a cycle through a, b (topologies must be acyclic)"});
}

/* ---- direct streams: Storm's rules, from a descriptor's stream table ---- */

static const gale_plugin_t PICKING = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "picking",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", NULL}, .direct = false},
                                            {"picked", (const char *[]){"word", NULL}, .direct = true},
                                            {NULL}},
    .spout = {.next_tuple = noop_next}};

/* src (PICKING) -> a, subscribed to `stream` with `g`: the build's error, or "" when it builds. */
static void subscribe(const char *stream, gale_grouping_t g, const char *expect)
{
    gale_topology_t *t = gale_topology_new("d");
    gale_topology_add(t, "src", &PICKING, 1);
    int a = gale_topology_add(t, "a", &BOLT, 2);
    bool keyed = g == GALE_GROUPING_FIELDS;
    cr_assert_eq(gale_topology_add_input(t, a, "src", stream, g, keyed ? WORD : NULL, keyed ? 1 : 0), 0);
    gale_diag_t d = {{0}};
    int rc = gale_topology_build(t, &d);
    if (!*expect) {
        cr_assert_eq(rc, 0, "%s", d.msg);
        cr_assert_not(t->components[0].streams[0].direct);
        cr_assert(t->components[0].streams[1].direct, "the table's .direct did not reach the model");
        cr_assert_not(t->components[1].streams[0].direct);
    } else {
        cr_assert_eq(rc, GALE_ETOPOLOGY, "%s on '%s' was accepted", gale_grouping_name(g), stream);
        cr_assert_str_eq(d.msg, expect);
    }
    gale_topology_free(t);
}

Test(topology_build, a_direct_stream_takes_the_direct_grouping_and_no_other)
{
    subscribe("picked", GALE_GROUPING_DIRECT, "");
    subscribe("default", GALE_GROUPING_SHUFFLE, "");
    subscribe("picked", GALE_GROUPING_SHUFFLE,
              "(built): bolt 'a': shuffle grouping on stream 'picked' of 'src', which 'src' declares direct: subscribe "
              "to it with grouping \"direct\" (its tuples go to the task the emitter names)");
    subscribe("picked", GALE_GROUPING_FIELDS,
              "(built): bolt 'a': fields grouping on stream 'picked' of 'src', which 'src' declares direct: subscribe "
              "to it with grouping \"direct\" (its tuples go to the task the emitter names)");
    subscribe("picked", GALE_GROUPING_ALL,
              "(built): bolt 'a': all grouping on stream 'picked' of 'src', which 'src' declares direct: subscribe "
              "to it with grouping \"direct\" (its tuples go to the task the emitter names)");
}

Test(topology_build, a_direct_grouping_on_a_stream_not_declared_direct_is_refused)
{
    subscribe("default", GALE_GROUPING_DIRECT,
              "(built): bolt 'a': direct grouping on stream 'default' of 'src', which 'src' does not declare direct "
              "(declare it with gale_declare_direct_stream, or list it in `direct_streams` for a shell component)");
}

/* A plugin built against ABI 2.0: its stream entries end before `direct`, and the next entry starts where a 2.1
   entry would have it. Its streams are not direct, however the bytes after each entry read. */
typedef struct {
    const char *name;
    const char *const *fields;
} stream_2_0_t;
static const stream_2_0_t STREAMS_2_0[] = {
    {"default", (const char *[]){"word", NULL}}, {"picked", (const char *[]){"word", NULL}}, {NULL, NULL}};
static const gale_plugin_t SPOUT_2_0 = {.abi_major = GALE_ABI_MAJOR,
                                        .abi_minor = 0,
                                        .size = sizeof(gale_plugin_t),
                                        .stream_decl_size = sizeof(stream_2_0_t),
                                        .kind = GALE_SPOUT,
                                        .name = "old",
                                        .streams = (const gale_stream_decl_t *)(const void *)STREAMS_2_0,
                                        .spout = {.next_tuple = noop_next}};

Test(topology_build, streams_of_an_abi_2_0_table_are_not_direct)
{
    cr_assert_lt(sizeof(stream_2_0_t), sizeof(gale_stream_decl_t), "2.1's entry is larger");
    gale_topology_t *t = gale_topology_new("old");
    gale_topology_add(t, "src", &SPOUT_2_0, 1);
    int a = gale_topology_add(t, "a", &BOLT, 1), b = gale_topology_add(t, "b", &BOLT, 1);
    gale_topology_add_input(t, a, "src", NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_topology_add_input(t, b, "src", "picked", GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_diag_t d;
    cr_assert_eq(gale_topology_build(t, &d), 0, "%s", d.msg);
    cr_assert_eq(t->components[0].n_streams, 2);
    cr_assert_str_eq(t->components[0].streams[1].name, "picked");
    cr_assert_not(t->components[0].streams[0].direct);
    cr_assert_not(t->components[0].streams[1].direct);
    gale_topology_free(t);
}

Test(topology_build, settings_are_checked_against_the_plugin)
{
    gale_topology_t *t = gale_topology_new("s");
    gale_topology_add(t, "src", &SPOUT, 1);
    int b = gale_topology_add(t, "b", &BOLT, 1);
    gale_topology_add_input(t, b, "src", NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_topology_set_str(t, b, "depth", "deep");
    gale_diag_t d;
    cr_assert_eq(gale_topology_build(t, &d), GALE_ETOPOLOGY);
    cr_assert_str_eq(d.msg, "(built): bolt 'b': setting 'depth' must be an integer (got a string)");
    gale_topology_free(t);
}

Test(topology_build, a_topology_without_spouts_or_a_bolt_without_inputs_is_refused)
{
    gale_diag_t d;
    gale_topology_t *t = gale_topology_new("none");
    cr_assert_eq(gale_topology_build(t, &d), GALE_ETOPOLOGY);
    cr_assert_str_eq(d.msg, "(built): no spouts: a topology needs one at least");
    gale_topology_free(t);
    t = gale_topology_new("lonely");
    gale_topology_add(t, "src", &SPOUT, 1);
    gale_topology_add(t, "b", &BOLT, 1);
    cr_assert_eq(gale_topology_build(t, &d), GALE_ETOPOLOGY);
    cr_assert_str_eq(d.msg, "(built): bolt 'b' has no inputs");
    gale_topology_free(t);
}

Test(topology_build, a_plugin_that_is_not_found_or_of_the_wrong_kind_is_named)
{
    gale_diag_t d;
    gale_topology_t *t = gale_topology_new("p");
    gale_topology_add_plugin(t, "s", GALE_SPOUT, "no_such_plugin", 1);
    cr_assert_eq(gale_topology_build(t, &d), GALE_ETOPOLOGY);
    cr_assert_not_null(strstr(d.msg, "(built): spout 's': plugin 'no_such_plugin' not found"), "%s", d.msg);
    gale_topology_free(t);
    t = gale_topology_new("k");
    gale_topology_add(t, "s", &BOLT, 1); /* kind from the descriptor: a bolt */
    cr_assert_eq(gale_topology_add_plugin(t, "r", GALE_SPOUT, "random_sentence", 1), GALE_ESTATE);
    gale_topology_free(t);
}

Test(topology_build, bad_arguments_are_refused_and_change_nothing)
{
    gale_topology_t *t = gale_topology_new("args");
    int s = gale_topology_add(t, "src", &SPOUT, 1);
    int b = gale_topology_add(t, "b", &BOLT, 1);
    cr_assert_eq(gale_topology_add(t, "src", &BOLT, 1), GALE_EEXIST);
    cr_assert_eq(gale_topology_add(t, "__acker", &BOLT, 1), GALE_EINVAL, "a reserved name");
    cr_assert_eq(gale_topology_add(t, "a b", &BOLT, 1), GALE_EINVAL);
    cr_assert_eq(gale_topology_add(t, "zero", &BOLT, 0), GALE_EINVAL);
    cr_assert_eq(gale_topology_add(t, "huge", &BOLT, 65536), GALE_EINVAL);
    cr_assert_eq(gale_topology_add(t, "nodesc", NULL, 1), GALE_EINVAL);
    cr_assert_eq(gale_topology_add(t, "late", &SPOUT, 1), GALE_ESTATE, "a spout after a bolt");
    cr_assert_eq(gale_topology_add_plugin(t, "noplugin", GALE_BOLT, "", 1), GALE_EINVAL);
    cr_assert_eq(t->n_components, 2);
    cr_assert_eq(gale_topology_add_input(t, s, "b", NULL, GALE_GROUPING_SHUFFLE, NULL, 0), GALE_ERANGE, "into a spout");
    cr_assert_eq(gale_topology_add_input(t, 7, "src", NULL, GALE_GROUPING_SHUFFLE, NULL, 0), GALE_ERANGE);
    cr_assert_eq(gale_topology_add_input(t, b, "src", NULL, GALE_GROUPING_SHUFFLE, WORD, 1), GALE_EINVAL,
                 "fields on a shuffle grouping");
    cr_assert_eq(gale_topology_add_input(t, b, "src", NULL, GALE_GROUPING_FIELDS, NULL, 0), GALE_EINVAL,
                 "a fields grouping without fields");
    cr_assert_eq(gale_topology_add_input(t, b, "src", NULL, (gale_grouping_t)99, NULL, 0), GALE_EINVAL);
    cr_assert_eq(gale_topology_add_input(t, b, NULL, NULL, GALE_GROUPING_SHUFFLE, NULL, 0), GALE_EINVAL);
    cr_assert_eq(t->components[b].n_inputs, 0);
    cr_assert_eq(gale_topology_set_int(t, 9, "k", 1), GALE_ERANGE);
    cr_assert_eq(gale_topology_set_int(t, s, "", 1), GALE_EINVAL);
    gale_value_t bytes = gale_bytes("ab", 2);
    cr_assert_eq(gale_topology_set(t, s, "raw", &bytes), GALE_EINVAL);
    cr_assert_eq(t->components[s].n_settings, 0);
    cr_assert_eq(gale_topology_set_replay(t, b, true), GALE_ERANGE, "replay is for spouts");
    cr_assert_null(gale_topology_new(NULL));
    gale_topology_free(t);
}

Test(topology_build, a_bolt_ticks_at_its_own_interval_or_the_topologys)
{
    gale_topology_t *t = gale_topology_new("ticks");
    int s = gale_topology_add(t, "src", &SPOUT, 1);
    int own = gale_topology_add(t, "own", &BOLT, 1), inherits = gale_topology_add(t, "inherits", &BOLT, 1);
    gale_topology_add_input(t, own, "src", NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_topology_add_input(t, inherits, "src", NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    cr_assert_eq(gale_topology_set_tick(t, own, 0.25), 0);
    cr_assert_eq(gale_topology_set_tick(t, s, 1), GALE_ERANGE, "spouts do not tick");
    cr_assert_eq(gale_topology_set_tick(t, own, -1), GALE_EINVAL);
    gale_diag_t d;
    cr_assert_eq(gale_topology_config(t, "tick_s", &(gale_value_t){.type = GALE_INT, .i = 3}, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_topology_build(t, &d), 0, "%s", d.msg);
    cr_assert_eq(t->components[s].tick_s, 0);
    cr_assert_float_eq(t->components[own].tick_s, 0.25, 1e-12);
    cr_assert_float_eq(t->components[inherits].tick_s, 3, 1e-12);
    gale_topology_free(t);
}

/* ---- what a hot swap may put in a bolt's place (gale_topology_check_swap) ---- */

static const gale_plugin_t RELAY_TOO =
    {/* relay's streams and settings: a swap may put it in relay's place */
     .abi_major = GALE_ABI_MAJOR,
     .size = sizeof(gale_plugin_t),
     .kind = GALE_BOLT,
     .name = "relay_too",
     .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", NULL}, .direct = false}, {NULL}},
     .settings = (const gale_setting_decl_t[]){{"depth", GALE_SETTING_INT, "how deep"}, {NULL, 0, NULL}},
     .bolt = {.execute = noop_exec}};
static const gale_plugin_t MORE_FIELDS = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "more_fields",
    .streams =
        (const gale_stream_decl_t[]){{"default", (const char *[]){"word", "count", NULL}, .direct = false}, {NULL}},
    .bolt = {.execute = noop_exec}};
static const gale_plugin_t FIELD_BEFORE = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "field_before",
    .streams =
        (const gale_stream_decl_t[]){{"default", (const char *[]){"count", "word", NULL}, .direct = false}, {NULL}},
    .bolt = {.execute = noop_exec}};
static const gale_plugin_t OTHER_FIELD = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "other_field",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"token", NULL}, .direct = false}, {NULL}},
    .bolt = {.execute = noop_exec}};
static const gale_plugin_t NOW_DIRECT = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "now_direct",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", NULL}, .direct = true}, {NULL}},
    .bolt = {.execute = noop_exec}};
static const gale_plugin_t NO_DEFAULT = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "no_default",
    .streams = (const gale_stream_decl_t[]){{"words", (const char *[]){"word", NULL}, .direct = false}, {NULL}},
    .bolt = {.execute = noop_exec}};
static const gale_plugin_t MORE_STREAMS = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "more_streams",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", NULL}, .direct = false},
                                            {"errors", (const char *[]){"why", NULL}, .direct = false},
                                            {NULL}},
    .bolt = {.execute = noop_exec}};
static const gale_plugin_t NO_DEPTH =
    {/* the same streams, but relay's setting `depth` is not its */
     .abi_major = GALE_ABI_MAJOR,
     .size = sizeof(gale_plugin_t),
     .kind = GALE_BOLT,
     .name = "no_depth",
     .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", NULL}, .direct = false}, {NULL}},
     .settings = (const gale_setting_decl_t[]){{"width", GALE_SETTING_INT, "how wide"}, {NULL, 0, NULL}},
     .bolt = {.execute = noop_exec}};

static int check_swap(const gale_topology_t *t, int component, const gale_plugin_t *p, gale_diag_t *d)
{
    gale_plugin_handle_t h = {.path = "new.so", .desc = p};
    return gale_topology_check_swap(t, component, &h, NULL, NULL, d);
}

/* The streams a swap to `p` gives bolt `component`, "name[f, g] ..." (empty: the component's own). */
static void swapped_streams(const gale_topology_t *t, int component, const gale_plugin_t *p, char *out, size_t cap)
{
    gale_plugin_handle_t h = {.path = "new.so", .desc = p};
    gale_stream_t *streams = (gale_stream_t *)&h; /* must be overwritten */
    size_t n = 99;
    gale_diag_t d;
    cr_assert_eq(gale_topology_check_swap(t, component, &h, &streams, &n, &d), 0, "%s", d.msg);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        snprintf(out + strlen(out), cap - strlen(out), "%s%s[", i ? " " : "", streams[i].name);
        for (size_t f = 0; f < streams[i].n_fields; f++)
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", f ? ", " : "", streams[i].fields[f]);
        snprintf(out + strlen(out), cap - strlen(out), "]");
    }
    cr_assert_eq(!n, !streams, "no streams and NULL go together");
    gale_streams_free(streams, n);
}

Test(topology_build, a_swap_takes_a_bolt_with_the_same_streams_and_fields_or_a_superset)
{
    gale_topology_t *t = gale_topology_new("t");
    int s = gale_topology_add(t, "s", &SPOUT, 1), r = gale_topology_add(t, "r", &BOLT, 2);
    cr_assert_eq(gale_topology_set_int(t, r, "depth", 3), 0);
    cr_assert_eq(gale_topology_add_input(t, r, "s", NULL, GALE_GROUPING_SHUFFLE, NULL, 0), 0);
    gale_diag_t d;
    cr_assert_eq(gale_topology_build(t, &d), 0, "%s", d.msg);
    cr_assert_eq(check_swap(t, r, &RELAY_TOO, &d), 0, "%s", d.msg);
    cr_assert_eq(check_swap(t, r, &MORE_FIELDS, &d), 0, "%s", d.msg);
    cr_assert_eq(check_swap(t, r, &MORE_STREAMS, &d), 0, "%s", d.msg);
    cr_assert_eq(check_swap(t, s, &SPOUT, &d), 0, "a spout by a spout: %s", d.msg);
    cr_assert_eq(t->components[r].n_streams, 1, "the topology is not changed by the check");
    char got[200];
    swapped_streams(t, r, &RELAY_TOO, got, sizeof got);
    cr_assert_str_eq(got, "", "the same streams: nothing for the tasks to know");
    swapped_streams(t, r, &MORE_FIELDS, got, sizeof got);
    cr_assert_str_eq(got, "default[word, count]");
    swapped_streams(t, r, &MORE_STREAMS, got, sizeof got);
    cr_assert_str_eq(got, "default[word] errors[why]");
    const struct {
        int component;
        const gale_plugin_t *p;
        const char *says;
    } refused[] = {
        {r, &FIELD_BEFORE,
         "plugin new.so declares stream 'default' with fields [count, word]; bolt 'r' has [word]: "
         "a swap keeps each stream and its fields in their order"},
        {r, &OTHER_FIELD, "plugin new.so declares stream 'default' with fields [token]; bolt 'r' has [word]"},
        {r, &NOW_DIRECT, "plugin new.so declares stream 'default' with fields [word] (direct); bolt 'r' has [word]"},
        {r, &NO_DEFAULT, "plugin new.so does not declare stream 'default', which bolt 'r' has"},
        {r, &NO_DEPTH, "unknown setting 'depth' for plugin no_depth (known: width)"},
        {r, &SPOUT, "plugin new.so is a spout plugin, and 'r' is a bolt"},
        {s, &RELAY_TOO, "plugin new.so is a bolt plugin, and 's' is a spout"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        cr_assert_eq(check_swap(t, refused[i].component, refused[i].p, &d), GALE_ETOPOLOGY, "%s", refused[i].says);
        cr_assert_not_null(strstr(d.msg, refused[i].says), "'%s' not in: %s", refused[i].says, d.msg);
    }
    gale_topology_free(t);
}
