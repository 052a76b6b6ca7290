/*
 * The plugin loader and the ABI's sizes: descriptors smaller than this gale's, tables whose entries are larger,
 * and a plugin driven through a host table larger than the one it was built against.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "declare.h"
#include "emit.h"
#include "host.h"
#include "plugin.h"
#include "testlib.h"

/* ---- declaration tables, stepped by the plugin's entry size --------------------------------------------------- */

/* Entries as a later minor might have them: this minor's fields, then one more. */
typedef struct {
    gale_stream_decl_t d;
    const char *extra;
} big_stream_t;
typedef struct {
    gale_setting_decl_t d;
    const char *extra;
} big_setting_t;

Test(plugin, tables_are_stepped_by_the_plugins_entry_size)
{
    static const char *const f1[] = {"a", NULL}, *const f2[] = {"b", "c", NULL};
    static const big_stream_t streams[] = {
        {{"one", f1, .direct = true}, "x"}, {{"two", f2, .direct = false}, "y"}, {{NULL}, NULL}};
    static const big_setting_t settings[] = {{{"alpha", GALE_SETTING_INT, "h"}, "x"}, {{"beta", GALE_SETTING_BOOL, NULL}, "y"},
                                             {{NULL, 0, NULL}, NULL}};
    gale_plugin_t d = {.abi_major = GALE_ABI_MAJOR, .size = sizeof d, .stream_decl_size = sizeof(big_stream_t),
                       .setting_decl_size = sizeof(big_setting_t), .kind = GALE_BOLT, .name = "big",
                       .streams = &streams[0].d, .settings = &settings[0].d};
    gale_stream_decl_t s;
    cr_assert(gale__plugin_stream(&d, 0, &s));
    cr_assert_str_eq(s.name, "one");
    cr_assert(s.direct);
    cr_assert(gale__plugin_stream(&d, 1, &s));
    cr_assert_str_eq(s.name, "two");
    cr_assert_str_eq(s.fields[1], "c");
    cr_assert_not(s.direct);
    cr_assert_not(gale__plugin_stream(&d, 2, &s));
    gale_setting_decl_t k;
    cr_assert(gale__plugin_setting(&d, 1, &k));
    cr_assert_str_eq(k.name, "beta");
    cr_assert_eq(k.type, GALE_SETTING_BOOL);
    cr_assert_not(gale__plugin_setting(&d, 2, &k));
    /* 0, in a descriptor written out by hand, is this header's size. */
    static const gale_stream_decl_t native[] = {{"n", f1, .direct = true}, {NULL}};
    gale_plugin_t h = {.abi_major = GALE_ABI_MAJOR, .size = sizeof h, .streams = native};
    cr_assert(gale__plugin_stream(&h, 0, &s));
    cr_assert(s.direct);
    cr_assert_not(gale__plugin_stream(&h, 1, &s));
    cr_assert_not(gale__plugin_setting(&h, 0, &k));
}

/* ABI 2.0's entries end before `direct` (ABI 2.1): stepped by their size, and read as streams that are not direct
   whatever the bytes after each entry hold (here the next entry's name). */
typedef struct {
    const char *name;
    const char *const *fields;
} stream_2_0_t;

/* The byte of a bool as it is: a bool that holds another byte than 0 or 1 may still test false. */
static unsigned direct_byte(const gale_stream_decl_t *s)
{
    unsigned char b;
    memcpy(&b, &s->direct, 1);
    return b;
}

Test(plugin, stream_entries_of_abi_2_0_are_stepped_by_their_size_and_not_direct)
{
    static const char *const f1[] = {"a", NULL}, *const f2[] = {"b", NULL};
    static const stream_2_0_t streams[] = {{"one", f1}, {"two", f2}, {NULL, NULL}};
    cr_assert_eq(sizeof(stream_2_0_t), GALE__STREAM_DECL_SIZE_2_0);
    cr_assert_lt(GALE__STREAM_DECL_SIZE_2_0, sizeof(gale_stream_decl_t));
    gale_plugin_t d = {.abi_major = GALE_ABI_MAJOR,
                       .size = sizeof d,
                       .stream_decl_size = sizeof(stream_2_0_t),
                       .kind = GALE_BOLT,
                       .name = "old",
                       .streams = (const gale_stream_decl_t *)(const void *)streams};
    gale_stream_decl_t s;
    memset(&s, 0xff, sizeof s);
    cr_assert(gale__plugin_stream(&d, 0, &s));
    cr_assert_str_eq(s.name, "one");
    cr_assert_eq(direct_byte(&s), 0);
    cr_assert(gale__plugin_stream(&d, 1, &s));
    cr_assert_str_eq(s.name, "two");
    cr_assert_eq(s.fields, f2);
    cr_assert_eq(direct_byte(&s), 0);
    cr_assert_not(gale__plugin_stream(&d, 2, &s));
}

/* ---- loading ------------------------------------------------------------------------------------------------ */

static char *test_plugin(const char *name) { return tl_path("%s/tests/plugins/%s.so", tl_build(), name); }

Test(plugin, a_descriptor_smaller_than_abi_2_0_is_refused_naming_the_file_and_both_versions)
{
    char *path = test_plugin("small_descriptor");
    gale_plugin_handle_t *h = NULL;
    gale_diag_t d = {0};
    cr_assert_eq(gale_plugin_load(path, &h, &d), GALE_EABI);
    cr_assert_null(h);
    cr_assert_not_null(strstr(d.msg, path), "%s", d.msg);
    cr_assert_not_null(strstr(d.msg, "(ABI 2.0) has a descriptor of 12 bytes, this gale (ABI 2.6) needs at least"),
                       "%s", d.msg);
    free(path);
}

Test(plugin, another_major_is_refused_naming_the_file_and_both_versions)
{
    char *path = test_plugin("wrong_abi");
    gale_plugin_handle_t *h = NULL;
    gale_diag_t d = {0};
    cr_assert_eq(gale_plugin_load(path, &h, &d), GALE_EABI);
    cr_assert_not_null(strstr(d.msg, path), "%s", d.msg);
    cr_assert_not_null(strstr(d.msg, "has ABI major 3, this gale has 2"), "%s", d.msg);
    free(path);
}

Test(plugin, a_loaded_descriptor_is_a_full_size_copy)
{
    char *path = test_plugin("e2e_probe");
    gale_plugin_handle_t *h = NULL;
    gale_diag_t d = {0};
    cr_assert_eq(gale_plugin_load(path, &h, &d), 0, "%s", d.msg);
    cr_assert_eq(h->desc, &h->copy);
    cr_assert_eq(h->desc->size, sizeof(gale_plugin_t));
    cr_assert_str_eq(h->desc->name, "e2e_probe");
    cr_assert_eq(h->desc->stream_decl_size, sizeof(gale_stream_decl_t));
    gale_plugin_unload(h);
    free(path);
}

/* A plugin of an older minor: its descriptor ends before the optional fields, which read as zero in the copy
   (old_minor.so holds a failing process_init behind its size). */
Test(plugin, a_smaller_descriptor_loads_with_the_fields_it_lacks_zero)
{
    char *path = test_plugin("old_minor");
    gale_plugin_handle_t *h = NULL;
    gale_diag_t d = {0};
    cr_assert_eq(gale_plugin_load(path, &h, &d), 0, "%s", d.msg);
    cr_assert_eq(h->desc->size, sizeof(gale_plugin_t));
    cr_assert_str_eq(h->desc->name, "old_minor");
    cr_assert_not_null(h->desc->bolt.execute);
    cr_assert_null(h->desc->process_init);
    cr_assert_null(h->desc->process_exit);
    /* Its stream table has ABI 2.0's entries: two streams, neither direct. */
    cr_assert_eq(h->desc->stream_decl_size, GALE__STREAM_DECL_SIZE_2_0);
    gale_stream_decl_t s;
    cr_assert(gale__plugin_stream(h->desc, 0, &s));
    cr_assert_str_eq(s.name, "default");
    cr_assert_eq(direct_byte(&s), 0);
    cr_assert(gale__plugin_stream(h->desc, 1, &s));
    cr_assert_str_eq(s.name, "other");
    cr_assert_eq(direct_byte(&s), 0);
    cr_assert_not(gale__plugin_stream(h->desc, 2, &s));
    gale_plugin_unload(h);
    free(path);
}

/* ---- a host table of an older minor --------------------------------------------------------------------------- */

static int must_not_be_called(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n)
{
    cr_assert_fail("a function past the host table's size was called");
    return 0;
}

Test(plugin, declare_direct_stream_on_a_host_of_abi_2_0_is_not_supported)
{
    cr_assert_eq(gale__host.abi_minor, GALE_ABI_MINOR);
    cr_assert_eq(gale__host.size, sizeof(gale_host_t));
    cr_assert(GALE_HOST_HAS(&gale__host, declare_direct_stream));
    cr_assert(GALE_HOST_HAS(&gale__declare_host, declare_direct_stream));
    gale_host_t old = gale__declare_host;
    old.abi_minor = 0;
    old.size = (uint32_t)offsetof(gale_host_t, declare_direct_stream); /* ABI 2.0's table ends at wake */
    old.declare_direct_stream = must_not_be_called;
    cr_assert_not(GALE_HOST_HAS(&old, declare_direct_stream));
    gale_ctx_t ctx = {.host = &old};
    const char *f[] = {"n"};
    cr_assert_eq(gale_declare_direct_stream(&ctx, "s", f, 1), GALE_ENOTSUP);
}

/* ---- a host table that has grown ---------------------------------------------------------------------------- */

/* The runtime's table as a later minor might hand it out: more functions at its end, and a larger size. The
   plugin knows only the functions of its own header. */
typedef struct {
    gale_host_t host;
    void (*later[8])(void);
} grown_host_t;

static const char *const WORDS[] = {"b", "a", "b", "c", "b", "a"};
static size_t word_at;
static char emitted[256];

static int fake_tuple_get(const gale_tuple_t *t, size_t index, gale_value_t *out)
{
    *out = gale_str(WORDS[word_at]);
    return 0;
}

static int fake_emit(gale_ctx_t *ctx, const gale_emit_t *e)
{
    cr_assert(gale__emit_sized(e));
    cr_assert_eq(e->n_values, 2);
    size_t n = strlen(emitted);
    snprintf(emitted + n, sizeof emitted - n, "%.*s=%lld ", (int)e->values[0].s.len, e->values[0].s.ptr,
             (long long)e->values[1].i);
    return 0;
}

static void never_called(void) { cr_assert_fail("a function the plugin does not know of was called"); }

Test(plugin, a_plugin_runs_on_a_host_table_that_has_grown)
{
    char *path = test_plugin("cpp_bolt");
    gale_plugin_handle_t *h = NULL;
    gale_diag_t d = {0};
    cr_assert_eq(gale_plugin_load(path, &h, &d), 0, "%s", d.msg);
    grown_host_t grown;
    memset(&grown, 0, sizeof grown);
    grown.host = gale__host;
    grown.host.size = sizeof grown;
    grown.host.tuple_get = fake_tuple_get;
    grown.host.emit = fake_emit;
    for (size_t i = 0; i < 8; i++) grown.later[i] = never_called;
    gale_ctx_t ctx = {.host = &grown.host};
    const gale_bolt_ops_t *b = &h->desc->bolt;
    cr_assert_eq(b->prepare(&ctx), 0);
    for (word_at = 0; word_at < sizeof WORDS / sizeof *WORDS; word_at++)
        cr_assert_eq(b->execute(&ctx, (const gale_tuple_t *)&ctx), 0);
    cr_assert_eq(b->finish(&ctx), 0);
    b->cleanup(&ctx);
    cr_assert_str_eq(emitted, "a=2 b=3 c=1 ");
    gale_plugin_unload(h);
    free(path);
}

/* ---- built-in plugins, registered from above -------------------------------------------------------------------- */

static const gale_plugin_t builtin_bolt = {
    .abi_major = GALE_ABI_MAJOR, .size = sizeof(gale_plugin_t), .kind = GALE_BOLT, .name = "inside"};
static const gale_plugin_builtin_t inside = {.name = "inside", .bolt = &builtin_bolt};

Test(plugin, a_name_nobody_registered_is_not_built_in)
{
    gale_plugin_handle_t *h = NULL;
    cr_assert_eq(gale_plugin_builtin("shell", GALE_BOLT, &h), GALE_ENOENT, "the loader must know no plugin itself");
    cr_assert_null(h);
}

Test(plugin, a_registered_plugin_is_found_by_name_with_its_descriptor)
{
    cr_assert_eq(gale_plugin_register_builtin(&inside), 0);
    cr_assert_eq(gale_plugin_register_builtin(&inside), 0, "registering the same plugin again is harmless");
    gale_plugin_handle_t *h = NULL;
    cr_assert_eq(gale_plugin_builtin("inside", GALE_BOLT, &h), 0);
    cr_assert_eq(h->desc, &builtin_bolt);
    cr_assert_str_eq(h->path, "inside (built in)");
    cr_assert_null(h->dl);
    gale_plugin_unload(h);
    /* As a spout it has no descriptor: the bolt's comes back, so that the caller's kind check reports it. */
    cr_assert_eq(gale_plugin_builtin("inside", GALE_SPOUT, &h), 0);
    cr_assert_eq(h->desc->kind, GALE_BOLT);
    gale_plugin_unload(h);
}

Test(plugin, another_plugin_under_a_registered_name_is_refused)
{
    static const gale_plugin_builtin_t impostor = {.name = "inside", .bolt = &builtin_bolt};
    cr_assert_eq(gale_plugin_register_builtin(&inside), 0);
    cr_assert_eq(gale_plugin_register_builtin(&impostor), GALE_EEXIST);
}

Test(plugin, the_table_of_built_in_plugins_is_bounded)
{
    static char names[64][16];
    static gale_plugin_builtin_t many[64];
    int rc = 0;
    size_t i = 0;
    for (; i < 64 && !rc; i++) {
        snprintf(names[i], sizeof names[i], "b%zu", i);
        many[i] = (gale_plugin_builtin_t){.name = names[i], .bolt = &builtin_bolt};
        rc = gale_plugin_register_builtin(&many[i]);
    }
    cr_assert_eq(rc, GALE_ELIMIT);
    cr_assert_gt(i, 1);
}

/* A plugin built for ABI 2.2 on a gale of ABI 2.1: its metrics are NULL, and updating them does nothing. */
Test(plugin, metrics_on_a_host_of_abi_2_1_are_null_and_their_updates_do_nothing)
{
    cr_assert(GALE_HOST_HAS(&gale__host, histogram_record));
    gale_host_t old = gale__host;
    old.abi_minor = 1;
    old.size = (uint32_t)offsetof(gale_host_t, metric); /* ABI 2.1's table ends at replayable */
    old.metric = NULL, old.counter_add = NULL, old.gauge_set = NULL, old.histogram_record = NULL;
    gale_ctx_t ctx = {.host = &old};
    gale_metric_t *c = gale_counter(&ctx, "seen"), *g = gale_gauge(&ctx, "lag"), *h = gale_histogram(&ctx, "sizes");
    cr_assert(!c && !g && !h);
    gale_counter_add(&ctx, c, 1);
    gale_gauge_set(&ctx, g, 1.0);
    gale_histogram_record(&ctx, h, 1);
}

static int state_must_not_be_called(gale_ctx_t *ctx, const gale_value_t *k, const gale_value_t *v)
{
    cr_assert_fail("a function past the host table's size was called");
    return 0;
}

Test(plugin, state_functions_on_a_host_of_abi_2_2_are_not_supported)
{
    cr_assert(GALE_HOST_HAS(&gale__host, state_restored));
    gale_host_t old = gale__host;
    old.abi_minor = 2;
    old.size = (uint32_t)offsetof(gale_host_t, state_get); /* ABI 2.2's table ends at histogram_record */
    old.state_put = state_must_not_be_called;
    gale_ctx_t ctx = {.host = &old};
    gale_value_t k = gale_int(1), v = gale_int(2), out;
    uint64_t cursor = 0;
    cr_assert_eq(gale_state_put(&ctx, &k, &v), GALE_ENOTSUP);
    cr_assert_eq(gale_state_get(&ctx, &k, &out), GALE_ENOTSUP);
    cr_assert_eq(gale_state_delete(&ctx, &k), GALE_ENOTSUP);
    cr_assert_eq(gale_state_next(&ctx, &cursor, &k, &out), GALE_ENOTSUP);
    cr_assert_eq(gale_state_count(&ctx), 0);
    cr_assert_eq(gale_state_restored(&ctx), 0);
    /* The declare phase's table has them, refusing. */
    gale_ctx_base_t b = {.pub = {.host = &gale__declare_host}, .phase = GALE_PHASE_DECLARE};
    cr_assert_eq(gale_state_put(&b.pub, &k, &v), GALE_ESTATE);
    cr_assert_eq(gale_state_get(&b.pub, &k, &out), GALE_ESTATE);
}
