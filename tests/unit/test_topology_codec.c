/*
 * A resolved model as bytes and back (topology_codec.h): a file resolved, written, read back and attached is the
 * same model and runs to the same counts; a buffer cut at any byte, with any byte flipped, of another version, or
 * with indexes that point nowhere is refused with a message, and never read out of bounds (the suite runs under
 * ASan too).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "topology_read.h"
#include "runtime.h"
#include "shell.h"
#include "testlib.h"
#include "topology_build.h"
#include "topology_codec.h"

static void use_test_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    unsetenv("GALE_HOME");
    free(dir);
}

TestSuite(topology_codec, .init = use_test_plugins, .timeout = 60);

static const char WORDCOUNT[] =
    "name = \"wc\";\n"
    "config = { ackers = 2; max_spout_pending = 50; journal = \"j.log\"; journal_fsync = true; tick_s = 2.5; };\n"
    "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; parallelism = 2; replay = true;\n"
    "             settings = { seed = 7; count = 300; rate = 0.0; reliable = true;\n"
    "                          sentences = [ \"a b c\", \"b c\", \"c\" ]; }; } );\n"
    "bolts = ( { name = \"split\"; plugin = \"split_sentence\"; parallelism = 3; inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"count\"; plugin = \"word_count\"; parallelism = 2; tick_s = 0.5; settings = { mode = \"final\"; };\n"
    "            inputs = ( { from = \"split\"; grouping = \"fields\"; fields = [ \"word\" ]; } ); } );\n";

static gale_topology_t *open_text(const char *text, const gale_override_t *ov, size_t n_ov)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/t.cfg", dir);
    tl_write_file(path, text);
    gale_topology_t *t = NULL;
    gale_diag_t d;
    int rc = gale_topology_open(path, ov, n_ov, &t, &d);
    cr_assert_eq(rc, 0, "%s", d.msg);
    tl_rmtree(dir);
    free(dir);
    free(path);
    return t;
}

static void write_model(const gale_topology_t *t, char **buf, size_t *len)
{
    cr_assert_eq(gale_topology_write(t, buf, len), 0);
    cr_assert_gt(*len, 0);
}

static gale_topology_t *read_model(const char *buf, size_t len)
{
    gale_topology_t *t = NULL;
    gale_diag_t d;
    cr_assert_eq(gale_topology_read(buf, len, &t, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_topology_attach(t, &d), 0, "%s", d.msg);
    return t;
}

static void same_value(const gale_value_t *a, const gale_value_t *b, const char *what)
{
    cr_assert_eq(a->type, b->type, "%s: type", what);
    switch (a->type) {
    case GALE_BOOL: cr_assert_eq(a->b, b->b, "%s", what); break;
    case GALE_INT: cr_assert_eq(a->i, b->i, "%s", what); break;
    case GALE_DOUBLE: cr_assert_eq(memcmp(&a->d, &b->d, sizeof a->d), 0, "%s", what); break;
    case GALE_STR:
        cr_assert_eq(a->s.len, b->s.len, "%s", what);
        cr_assert_eq(memcmp(a->s.ptr, b->s.ptr, a->s.len), 0, "%s", what);
        cr_assert_eq(b->s.ptr[b->s.len], '\0', "%s: not NUL-terminated", what);
        break;
    case GALE_ARRAY:
    case GALE_MAP:
        cr_assert_eq(a->n, b->n, "%s: items", what);
        for (size_t i = 0; i < (a->type == GALE_MAP ? 2 * (size_t)a->n : a->n); i++)
            same_value(&a->c.items[i], &b->c.items[i], what);
        break;
    default: break;
    }
}

static void same_strs(char **a, size_t na, char **b, size_t nb, const char *what)
{
    cr_assert_eq(na, nb, "%s", what);
    for (size_t i = 0; i < na; i++) cr_assert_str_eq(a[i], b[i], "%s", what);
}

/* Every field of the model but the plugin handles, which are compared by the file and descriptor they load. */
static void same_model(const gale_topology_t *a, const gale_topology_t *b)
{
    cr_assert_str_eq(a->name, b->name);
    cr_assert_str_eq(a->file, b->file);
    cr_assert_str_eq(a->dir, b->dir);
    const gale__config_key_t *k;
    for (size_t i = 0; (k = gale__config_key_at(i)); i++) {
        const char *fa = (const char *)&a->config + k->offset, *fb = (const char *)&b->config + k->offset;
        if (k->type == GALE__KEY_STRING) {
            const char *sa, *sb;
            memcpy(&sa, fa, sizeof sa);
            memcpy(&sb, fb, sizeof sb);
            cr_assert((!sa && !sb) || (sa && sb && !strcmp(sa, sb)), "config.%s", k->name);
        } else {
            size_t size = k->type == GALE__KEY_INT ? sizeof(int) : k->type == GALE__KEY_DOUBLE ? sizeof(double) : sizeof(bool);
            cr_assert_eq(memcmp(fa, fb, size), 0, "config.%s", k->name);
        }
    }
    cr_assert_eq(a->n_components, b->n_components);
    cr_assert_eq(a->n_tasks, b->n_tasks);
    cr_assert_arr_eq(a->order, b->order, a->n_components * sizeof *a->order);
    for (size_t i = 0; i < a->n_components; i++) {
        const gale_component_t *x = &a->components[i], *y = &b->components[i];
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(x->kind, y->kind);
        cr_assert_str_eq(x->plugin_name, y->plugin_name);
        cr_assert_str_eq(x->plugin->path, y->plugin->path);
        /* The loader keeps a copy of each descriptor (zero-filled to this gale's size), so two loads of one file have
           two copies: the same plugin is the same bytes, callbacks and all. */
        cr_assert_eq(memcmp(x->plugin->desc, y->plugin->desc, sizeof *x->plugin->desc), 0, "%s: another descriptor",
                     x->name);
        cr_assert_eq(x->parallelism, y->parallelism);
        cr_assert_eq(x->replay, y->replay);
        cr_assert_eq(x->line, y->line);
        cr_assert_eq(x->plugin_line, y->plugin_line);
        cr_assert_eq(x->first_task, y->first_task);
        cr_assert_eq(memcmp(&x->tick_s, &y->tick_s, sizeof x->tick_s), 0, "%s: tick_s", x->name);
        const gale_window_spec_t *wx = &x->window, *wy = &y->window;
        cr_assert_eq(wx->type, wy->type, "%s: window", x->name);
        cr_assert_eq(wx->by_count, wy->by_count);
        cr_assert_eq(wx->length, wy->length);
        cr_assert_eq(wx->slide, wy->slide);
        cr_assert_eq(wx->gap_ms, wy->gap_ms);
        cr_assert_eq(wx->lag_ms, wy->lag_ms);
        cr_assert_eq(wx->watermark_ms, wy->watermark_ms);
        cr_assert_eq(wx->max_mb, wy->max_mb);
        cr_assert_eq(wx->line, wy->line);
        cr_assert((!wx->timestamp_field && !wy->timestamp_field) ||
                  (wx->timestamp_field && wy->timestamp_field && !strcmp(wx->timestamp_field, wy->timestamp_field)));
        cr_assert((!wx->late_stream && !wy->late_stream) ||
                  (wx->late_stream && wy->late_stream && !strcmp(wx->late_stream, wy->late_stream)));
        cr_assert_eq(x->n_settings, y->n_settings);
        for (size_t s = 0; s < x->n_settings; s++) {
            cr_assert_str_eq(x->settings[s].key, y->settings[s].key);
            cr_assert_eq(x->settings[s].line, y->settings[s].line);
            cr_assert((!x->settings[s].override && !y->settings[s].override) ||
                      !strcmp(x->settings[s].override, y->settings[s].override));
            same_value(&x->settings[s].value, &y->settings[s].value, x->settings[s].key);
        }
        cr_assert_eq(x->n_inputs, y->n_inputs);
        for (size_t j = 0; j < x->n_inputs; j++) {
            const gale_input_t *p = &x->inputs[j], *q = &y->inputs[j];
            cr_assert_str_eq(p->from, q->from);
            cr_assert_str_eq(p->stream, q->stream);
            cr_assert_eq(p->grouping, q->grouping);
            cr_assert_eq(p->line, q->line);
            cr_assert_eq(p->from_index, q->from_index);
            cr_assert_eq(p->stream_index, q->stream_index);
            same_strs(p->fields, p->n_fields, q->fields, q->n_fields, "input fields");
            if (p->n_fields) cr_assert_arr_eq(p->field_index, q->field_index, p->n_fields * sizeof *p->field_index);
        }
        cr_assert_eq(x->n_streams, y->n_streams);
        for (size_t s = 0; s < x->n_streams; s++) {
            cr_assert_str_eq(x->streams[s].name, y->streams[s].name);
            cr_assert_eq(x->streams[s].direct, y->streams[s].direct, "%s: stream %s: direct", x->name,
                         x->streams[s].name);
            same_strs(x->streams[s].fields, x->streams[s].n_fields, y->streams[s].fields, y->streams[s].n_fields,
                      "stream fields");
            cr_assert_null(y->streams[s].fields[y->streams[s].n_fields], "no NULL after the last field");
        }
    }
}

Test(topology_codec, a_model_read_back_is_the_model_written)
{
    gale_override_t ov[] = {{"count.mode=running"}};
    gale_topology_t *t = open_text(WORDCOUNT, ov, 1);
    char *buf, *again;
    size_t len, again_len;
    write_model(t, &buf, &len);
    gale_topology_t *back = read_model(buf, len);
    same_model(t, back);
    cr_assert_str_eq(gale_component_setting(&back->components[2], "mode")->override, "count.mode=running");
    cr_assert_float_eq(back->components[1].tick_s, 2.5, 1e-12, "split has the topology's tick interval");
    cr_assert_float_eq(back->components[2].tick_s, 0.5, 1e-12, "count has its own");
    write_model(back, &again, &again_len);
    cr_assert_eq(again_len, len);
    cr_assert_arr_eq(again, buf, len, "a model read back writes other bytes");
    free(buf);
    free(again);
    gale_topology_free(back);
    gale_topology_free(t);
}

static const char DIRECT[] =
    "name = \"direct\";\n"
    "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
    "bolts = ( { name = \"d\"; plugin = \"declaring_bolt\"; settings = { fields = [ \"x\" ]; direct = true; };\n"
    "            inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"e\"; plugin = \"split_sentence\"; parallelism = 2;\n"
    "            inputs = ( { from = \"d\"; stream = \"out\"; grouping = \"direct\"; },\n"
    "                       { from = \"d\"; stream = \"copy\"; } ); } );\n";

static int read_only(const char *buf, size_t len, gale_diag_t *d);

Test(topology_codec, a_direct_stream_is_direct_when_read_back)
{
    gale_topology_t *t = open_text(DIRECT, NULL, 0);
    cr_assert(t->components[1].streams[0].direct);
    char *buf, *again;
    size_t len, again_len;
    write_model(t, &buf, &len);
    gale_topology_t *back = read_model(buf, len);
    same_model(t, back);
    cr_assert(back->components[1].streams[0].direct, "stream 'out' lost its direct");
    cr_assert_not(back->components[1].streams[1].direct, "stream 'copy' became direct");
    cr_assert_not(back->components[0].streams[0].direct);
    write_model(back, &again, &again_len);
    cr_assert_eq(again_len, len);
    cr_assert_arr_eq(again, buf, len, "a model read back writes other bytes");
    free(buf);
    free(again);
    gale_topology_free(back);
    /* A model whose direct subscription is to a stream that is not direct is not one resolving gives. */
    t->components[1].streams[0].direct = false;
    write_model(t, &buf, &len);
    gale_diag_t d;
    cr_assert_eq(read_only(buf, len, &d), GALE_ECORRUPT);
    cr_assert_not_null(strstr(d.msg, "bolt 'e': a direct grouping on stream 'out' of 'd', which is not direct"), "%s",
                       d.msg);
    free(buf);
    gale_topology_free(t);
}

static const char WINDOWS[] =
    "name = \"w\";\n"
    "config = { message_timeout_s = 60; max_spout_pending = 0; };\n"
    "spouts = ( { name = \"s\"; plugin = \"ts_spout\"; settings = { path = \"x\"; }; } );\n"
    "bolts = ( { name = \"count\"; plugin = \"win_probe\"; window = { type = \"sliding\"; length_count = 500;\n"
    "            slide_count = 100; max_mb = 64; }; inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"event\"; plugin = \"win_probe\";\n"
    "            window = { type = \"tumbling\"; length_ms = 30000; timestamp_field = \"ts\"; lag_ms = 2000;\n"
    "                       late_stream = \"too_late\"; watermark_ms = 50; };\n"
    "            inputs = ( { from = \"s\"; } ); },\n"
    "          { name = \"sessions\"; plugin = \"win_probe\"; window = { type = \"session\"; gap_ms = 5000; };\n"
    "            inputs = ( { from = \"s\"; } ); } );\n";

Test(topology_codec, windows_are_the_same_when_read_back_and_a_broken_one_is_refused)
{
    gale_topology_t *t = open_text(WINDOWS, NULL, 0);
    char *buf;
    size_t len;
    write_model(t, &buf, &len);
    gale_topology_t *back = read_model(buf, len);
    same_model(t, back);
    cr_assert_eq(back->components[2].window.type, GALE_WINDOW_TUMBLING);
    cr_assert_str_eq(back->components[2].window.late_stream, "too_late");
    cr_assert_geq(gale_component_stream(&back->components[2], "too_late"), 0);
    free(buf);
    gale_topology_free(back);
    gale_diag_t d;
    t->components[1].window.slide = 600; /* longer than its length */
    write_model(t, &buf, &len);
    cr_assert_eq(read_only(buf, len, &d), GALE_ECORRUPT);
    cr_assert_not_null(strstr(d.msg, "component 'count': its window is not one a file could give"), "%s", d.msg);
    free(buf);
    t->components[1].window.slide = 100;
    free(t->components[2].window.timestamp_field);
    t->components[2].window.timestamp_field = strdup("nope");
    write_model(t, &buf, &len);
    cr_assert_eq(read_only(buf, len, &d), GALE_ECORRUPT);
    cr_assert_not_null(strstr(d.msg, "bolt 'event': its window's timestamp field 'nope' is not in stream 'default'"),
                       "%s", d.msg);
    free(buf);
    gale_topology_free(t);
}

Test(topology_codec, the_shell_plugin_attaches_by_name)
{
    cr_assert_eq(gale_shell_register(), 0);
    gale_topology_t *t = open_text("name = \"sh\";\n"
                                   "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
                                   "bolts = ( { name = \"py\"; plugin = \"shell\"; settings = { command = [ \"true\" ]; };\n"
                                   "            inputs = ( { from = \"s\"; } ); } );\n",
                                   NULL, 0);
    char *buf;
    size_t len;
    write_model(t, &buf, &len);
    gale_topology_t *back = read_model(buf, len);
    same_model(t, back);
    free(buf);
    gale_topology_free(back);
    gale_topology_free(t);
}

static void run_counts(gale_topology_t *t, gale_task_metrics_t *m)
{
    gale_runtime_opts_t opts = {.threads = 2};
    gale_runtime_t *rt;
    gale_diag_t d;
    cr_assert_eq(gale_runtime_new(t, &opts, &rt, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_runtime_run(rt), 0);
    for (size_t i = 0; i < t->n_components; i++) gale_runtime_component_metrics(rt, (int)i, &m[i]);
    gale_runtime_free(rt);
}

Test(topology_codec, a_read_back_model_runs_to_the_counts_of_the_file)
{
    /* No journal here: both runs would write to the same file. */
    gale_override_t ov[] = {{"config.journal=\"\""}};
    gale_topology_t *t = open_text(WORDCOUNT, ov, 1);
    char *buf;
    size_t len;
    write_model(t, &buf, &len);
    gale_topology_t *back = read_model(buf, len);
    free(buf);
    gale_task_metrics_t a[3], b[3];
    run_counts(t, a);
    run_counts(back, b);
    cr_assert_eq(a[0].acked, 600, "2 spout tasks x 300 sentences, all acked: %llu", (unsigned long long)a[0].acked);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(a[i].emitted, b[i].emitted, "component %d emitted", i);
        cr_assert_eq(a[i].executed, b[i].executed, "component %d executed", i);
        cr_assert_eq(a[i].acked, b[i].acked, "component %d acked", i);
        cr_assert_eq(a[i].failed, b[i].failed, "component %d failed", i);
    }
    cr_assert_gt(b[2].executed, 0);
    gale_topology_free(back);
    gale_topology_free(t);
}

/* ---- bad bytes ------------------------------------------------------------------------------------------------ */

static char *sample(size_t *len)
{
    gale_topology_t *t = open_text(WORDCOUNT, NULL, 0);
    char *buf;
    write_model(t, &buf, len);
    gale_topology_free(t);
    return buf;
}

static int read_only(const char *buf, size_t len, gale_diag_t *d)
{
    gale_topology_t *t = NULL;
    d->msg[0] = '\0';
    int rc = gale_topology_read(buf, len, &t, d);
    if (rc) cr_assert_null(t);
    gale_topology_free(t);
    return rc;
}

Test(topology_codec, a_buffer_cut_at_any_byte_is_refused)
{
    size_t len;
    char *buf = sample(&len);
    for (size_t n = 0; n < len; n++) {
        char *cut = malloc(n ? n : 1); /* its own allocation, so that ASan sees a read past the cut */
        memcpy(cut, buf, n);
        gale_diag_t d;
        int rc = read_only(cut, n, &d);
        cr_assert_neq(rc, 0, "cut at %zu of %zu was accepted", n, len);
        cr_assert_eq(strncmp(d.msg, "topology model: ", 16), 0, "cut at %zu: %s", n, d.msg);
        free(cut);
    }
    free(buf);
}

Test(topology_codec, flipped_bytes_are_refused_or_read_whole)
{
    size_t len;
    char *buf = sample(&len);
    const unsigned char masks[] = {0xff, 0x01, 0x80, 0x10};
    size_t refused = 0, tried = 0;
    for (size_t m = 0; m < sizeof masks; m++)
        for (size_t i = 0; i < len; i++, tried++) {
            char *bad = malloc(len);
            memcpy(bad, buf, len);
            bad[i] = (char)(bad[i] ^ masks[m]);
            gale_diag_t d;
            int rc = read_only(bad, len, &d);
            /* A flip inside a string or a number may still be a model; any refusal must say what. */
            if (rc) {
                refused++;
                cr_assert_eq(strncmp(d.msg, "topology model: ", 16), 0, "flip at %zu: %s", i, d.msg);
            }
            free(bad);
        }
    cr_assert_gt(refused, tried / 4, "only %zu of %zu flips refused", refused, tried);
    free(buf);
}

Test(topology_codec, another_format_version_is_refused_by_number)
{
    size_t len;
    char *buf = sample(&len);
    cr_assert_eq((unsigned char)buf[1], GALE_TOPOLOGY_FORMAT, "the version is the first item");
    for (int version = 2; version <= 4; version += 2) { /* the one before bolts carried their window */
        buf[1] = (char)version;
        gale_diag_t d;
        cr_assert_eq(read_only(buf, len, &d), GALE_ENOTSUP);
        char *want = tl_path("format version %d, this gale reads version 3", version);
        cr_assert_not_null(strstr(d.msg, want), "%s", d.msg);
        free(want);
    }
    free(buf);
}

/* Models with one thing wrong, as a writer that trusted a broken model would give them. */
typedef void (*spoil_fn)(gale_topology_t *t);
static void source_out_of_range(gale_topology_t *t) { t->components[1].inputs[0].from_index = 9; }
static void source_is_another(gale_topology_t *t) { t->components[2].inputs[0].from_index = 0; }
static void stream_out_of_range(gale_topology_t *t) { t->components[1].inputs[0].stream_index = 4; }
static void field_out_of_range(gale_topology_t *t) { t->components[2].inputs[0].field_index[0] = 1; }
static void order_repeats(gale_topology_t *t) { t->order[1] = 0; }
static void order_not_topological(gale_topology_t *t)
{
    t->order[1] = 2;
    t->order[2] = 1;
}
static void tasks_overlap(gale_topology_t *t) { t->components[2].first_task = 2; }
static void task_count(gale_topology_t *t) { t->n_tasks++; }
static void config_out_of_range(gale_topology_t *t) { t->config.ackers = 5000; }
static void plain_stream_direct(gale_topology_t *t) { t->components[1].streams[0].direct = true; }

Test(topology_codec, indexes_that_point_nowhere_are_refused)
{
    const struct {
        spoil_fn spoil;
        const char *expect;
    } cases[] = {
        {source_out_of_range, "bolt 'split': input 0's source index 9 is not 's'"},
        {source_is_another, "bolt 'count': input 0's source index 0 is not 'split'"},
        {stream_out_of_range, "bolt 'split': input 0's stream index 4 is not 'default' of 's'"},
        {field_out_of_range, "bolt 'count': field index 1 is not 'word' of stream 'default'"},
        {order_repeats, "the order is not one of the components: 0 at 1"},
        {order_not_topological, "bolt 'count' comes before its source 'split' in the order"},
        {tasks_overlap, "component 'count' starts at task 2, not 6"},
        {task_count, "8 tasks, but the components have 7"},
        {config_out_of_range, "config.ackers must be from 0 to 1024 (got 5000)"},
        {plain_stream_direct, "bolt 'count': a fields grouping on stream 'default' of 'split', which is direct"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gale_topology_t *t = open_text(WORDCOUNT, NULL, 0);
        cases[i].spoil(t);
        char *buf;
        size_t len;
        write_model(t, &buf, &len);
        gale_topology_free(t);
        gale_diag_t d;
        cr_assert_eq(read_only(buf, len, &d), GALE_ECORRUPT, "case %zu accepted", i);
        cr_assert_not_null(strstr(d.msg, cases[i].expect), "case %zu: %s", i, d.msg);
        free(buf);
    }
}

Test(topology_codec, unresolved_models_are_not_written_and_missing_plugins_are_named)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/t.cfg", dir);
    tl_write_file(path, WORDCOUNT);
    gale_topology_t *t;
    gale_diag_t d;
    cr_assert_eq(gale_topology_load(path, NULL, 0, &t, &d), 0, "%s", d.msg);
    char *buf;
    size_t len;
    cr_assert_eq(gale_topology_write(t, &buf, &len), GALE_ESTATE);
    gale_topology_free(t);
    t = open_text(WORDCOUNT, NULL, 0);
    write_model(t, &buf, &len);
    gale_topology_free(t);
    cr_assert_eq(gale_topology_read(buf, len, &t, &d), 0, "%s", d.msg);
    free(t->components[1].plugin_path);
    t->components[1].plugin_path = tl_path("%s/gone.so", dir);
    cr_assert_eq(gale_topology_attach(t, &d), GALE_EPLUGIN);
    cr_assert_not_null(strstr(d.msg, ": bolt 'split': cannot load plugin "), "%s", d.msg);
    cr_assert_not_null(strstr(d.msg, "gone.so"), "%s", d.msg);
    gale_topology_free(t);
    free(buf);
    tl_rmtree(dir);
    free(dir);
    free(path);
}
