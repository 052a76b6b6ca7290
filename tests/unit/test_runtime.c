/*
 * The engine with acking: trees complete, fail, time out and replay as Storm's contract says, across executor
 * threads. The plugins live in this file; the topologies are built in C (topology_build.h).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "mpread.h"
#include "runtime.h"
#include "testlib.h"
#include "topology_build.h"

#define MAX_N 20000

static atomic_int acked[MAX_N + 1], failed[MAX_N + 1], seen[MAX_N + 1];
static atomic_long max_open;

/* ---- spout: n = 1..count, message id n ---- */
typedef struct spout_state {
    int64_t next, count, emitted, settled;
} spout_state_t;

static int sp_open(gale_ctx_t *ctx)
{
    spout_state_t *s = calloc(1, sizeof *s);
    s->next = 1;
    s->count = gale_setting_int(ctx, "count", 1000);
    ctx->state = s;
    return 0;
}
static int sp_next(gale_ctx_t *ctx)
{
    spout_state_t *s = ctx->state;
    if (s->next > s->count) {
        gale_done(ctx);
        return 0;
    }
    gale_value_t v = gale_int(s->next);
    int rc = gale_emit_id(ctx, (uint64_t)s->next, &v, 1);
    s->next++;
    s->emitted++;
    long open = (long)(s->emitted - s->settled);
    if (open > atomic_load(&max_open)) atomic_store(&max_open, open);
    return rc;
}
static void sp_ack(gale_ctx_t *ctx, uint64_t id)
{
    ((spout_state_t *)ctx->state)->settled++;
    atomic_fetch_add(&acked[id], 1);
}
static void sp_fail(gale_ctx_t *ctx, uint64_t id)
{
    ((spout_state_t *)ctx->state)->settled++;
    atomic_fetch_add(&failed[id], 1);
}
static void sp_close(gale_ctx_t *ctx) { free(ctx->state); }

static const gale_plugin_t numbers = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "numbers",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false}, {NULL}},
    .spout = {.open = sp_open, .next_tuple = sp_next, .ack = sp_ack, .fail = sp_fail, .close = sp_close}};

/* ---- relay: emits (n) twice, anchored, then acks ---- */
static int relay_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t v;
    gale_get(ctx, in, 0, &v);
    gale_emit_anchored(ctx, in, &v, 1);
    gale_emit_anchored(ctx, in, &v, 1);
    return gale_ack(ctx, in);
}
static const gale_plugin_t relay = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "relay",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false}, {NULL}},
    .bolt = {.execute = relay_exec}};

/* ---- sink: acks, or fails / drops as its settings say ---- */
typedef struct sink_state {
    int64_t fail_every, fail_first_only, drop_every, delay_us;
} sink_state_t;

static int sink_prepare(gale_ctx_t *ctx)
{
    sink_state_t *s = calloc(1, sizeof *s);
    s->fail_every = gale_setting_int(ctx, "fail_every", 0);
    s->fail_first_only = gale_setting_int(ctx, "fail_first_only", 0);
    s->drop_every = gale_setting_int(ctx, "drop_every", 0);
    s->delay_us = gale_setting_int(ctx, "delay_us", 0);
    ctx->state = s;
    return 0;
}
static atomic_long sink_runs; /* executes of plugin `sink` itself (not of the swap tests' sink_b) */
static int sink_work(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    sink_state_t *s = ctx->state;
    gale_value_t v;
    gale_get(ctx, in, 0, &v);
    int times = atomic_fetch_add(&seen[v.i], 1) + 1;
    if (s->delay_us) {
        struct timespec ts = {0, s->delay_us * 1000};
        nanosleep(&ts, NULL);
    }
    if (s->drop_every && v.i % s->drop_every == 0) return 0; /* never settled: the tree must time out */
    if (s->fail_every && v.i % s->fail_every == 0 && (!s->fail_first_only || times == 1)) return gale_fail(ctx, in);
    return gale_ack(ctx, in);
}
static int sink_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    atomic_fetch_add(&sink_runs, 1);
    return sink_work(ctx, in);
}
static void sink_cleanup(gale_ctx_t *ctx) { free(ctx->state); }
static const gale_plugin_t sink = {
    .abi_major = GALE_ABI_MAJOR, .size = sizeof(gale_plugin_t), .kind = GALE_BOLT, .name = "sink",
    .bolt = {.prepare = sink_prepare, .execute = sink_exec, .cleanup = sink_cleanup}};

static void reset(void)
{
    for (int i = 0; i <= MAX_N; i++) {
        atomic_store(&acked[i], 0);
        atomic_store(&failed[i], 0);
        atomic_store(&seen[i], 0);
    }
    atomic_store(&max_open, 0);
}

/* numbers -> sink, or numbers -> relay -> sink when `with_relay`. */
static gale_topology_t *build(int count, int ackers, bool with_relay, int *sink_index)
{
    gale_topology_t *t = gale_topology_new("t");
    t->config.ackers = ackers;
    int sp = gale_topology_add(t, "numbers", &numbers, 1);
    gale_topology_set_int(t, sp, "count", count);
    int from = sp;
    if (with_relay) {
        from = gale_topology_add(t, "relay", &relay, 2);
        gale_topology_add_input(t, from, t->components[sp].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    }
    *sink_index = gale_topology_add(t, "sink", &sink, 2);
    gale_topology_add_input(t, *sink_index, t->components[from].name, NULL, GALE_GROUPING_FIELDS, (const char *[]){"n"}, 1);
    return t;
}

static gale_runtime_t *run(gale_topology_t *t, int threads)
{
    gale_diag_t built;
    cr_assert_eq(gale_topology_build(t, &built), 0, "%s", built.msg);
    gale_runtime_opts_t opts = {.threads = threads};
    gale_runtime_t *rt;
    gale_diag_t d;
    cr_assert_eq(gale_runtime_new(t, &opts, &rt, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_runtime_run(rt), 0);
    return rt;
}

TestSuite(runtime, .init = reset, .timeout = 60);

Test(runtime, every_tree_completes_once_across_threads)
{
    int s;
    gale_topology_t *t = build(5000, 2, true, &s);
    gale_runtime_t *rt = run(t, 2);
    for (int i = 1; i <= 5000; i++) {
        cr_assert_eq(atomic_load(&acked[i]), 1, "id %d acked %d times", i, atomic_load(&acked[i]));
        cr_assert_eq(atomic_load(&failed[i]), 0);
        cr_assert_eq(atomic_load(&seen[i]), 2);
    }
    gale_task_metrics_t m;
    gale_runtime_component_metrics(rt, 0, &m);
    cr_assert_eq(m.acked, 5000);
    cr_assert_eq(m.complete.count, 5000, "complete latency not measured");
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, explicit_fail_reaches_the_spout_once)
{
    int s;
    gale_topology_t *t = build(2000, 1, true, &s);
    gale_topology_set_int(t, s, "fail_every", 10);
    gale_runtime_t *rt = run(t, 2);
    for (int i = 1; i <= 2000; i++) {
        bool f = i % 10 == 0;
        cr_assert_eq(atomic_load(&failed[i]), f ? 1 : 0, "id %d failed %d times", i, atomic_load(&failed[i]));
        cr_assert_eq(atomic_load(&acked[i]), f ? 0 : 1, "id %d acked %d times", i, atomic_load(&acked[i]));
    }
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, trees_that_are_never_acked_time_out)
{
    int s;
    gale_topology_t *t = build(300, 1, false, &s);
    t->config.message_timeout_s = 1;
    gale_topology_set_int(t, s, "drop_every", 100);
    gale_runtime_t *rt = run(t, 2);
    for (int i = 1; i <= 300; i++) {
        bool dropped = i % 100 == 0;
        cr_assert_eq(atomic_load(&failed[i]), dropped ? 1 : 0, "id %d", i);
        cr_assert_eq(atomic_load(&acked[i]), dropped ? 0 : 1, "id %d", i);
    }
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, managed_replay_retries_until_acked)
{
    int s;
    gale_topology_t *t = build(2000, 1, false, &s);
    gale_topology_set_replay(t, 0, true);
    t->config.retry_backoff_ms = 5;
    gale_topology_set_int(t, s, "fail_every", 10);
    gale_topology_set_int(t, s, "fail_first_only", 1);
    gale_runtime_t *rt = run(t, 2);
    for (int i = 1; i <= 2000; i++) {
        cr_assert_eq(atomic_load(&acked[i]), 1, "id %d acked %d times", i, atomic_load(&acked[i]));
        cr_assert_eq(atomic_load(&failed[i]), 0, "the spout heard of a fail that was replayed");
        cr_assert_eq(atomic_load(&seen[i]), i % 10 == 0 ? 2 : 1);
    }
    gale_runtime_free(rt);
    gale_topology_free(t);
}

static void count_record(void *arg, const char *line) { (void)arg, (void)line; cr_assert_fail("corrupt: %s", line); }

Test(runtime, replay_gives_up_after_max_retries_and_journals)
{
    char *dir = tl_tmpdir();
    int s;
    gale_topology_t *t = build(1000, 1, false, &s);
    gale_topology_set_replay(t, 0, true);
    t->config.retry_backoff_ms = 1;
    t->config.max_retries = 2;
    t->config.journal = tl_path("%s/failed.journal", dir);
    gale_topology_set_int(t, s, "fail_every", 10);
    gale_runtime_t *rt = run(t, 2);
    for (int i = 1; i <= 1000; i++) {
        bool f = i % 10 == 0;
        cr_assert_eq(atomic_load(&failed[i]), f ? 1 : 0, "id %d", i);
        cr_assert_eq(atomic_load(&seen[i]), f ? 3 : 1, "id %d seen %d times", i, atomic_load(&seen[i]));
    }
    gale_runtime_free(rt);
    gale_journal_reader_t r;
    cr_assert_eq(gale_journal_reader_open(&r, t->config.journal, NULL, NULL), 0);
    gale_journal_record_t rec;
    int n = 0;
    while (gale_journal_reader_next(&r, &rec, count_record, NULL) == 1) {
        n++;
        cr_assert_eq(rec.msg_id % 10, 0);
        cr_assert_eq(rec.attempts, 3);
        cr_assert_str_eq(rec.cause, "fail");
        cr_assert_str_eq(rec.component, "sink");
        cr_assert_str_eq(rec.spout, "numbers");
        cr_assert(rec.task == 2 || rec.task == 3, "task %u is not a sink task", rec.task);
        gale_value_t values, n_value;
        size_t used;
        cr_assert_eq(gale_mp_read(rec.values, rec.values_len, &values, &used), 0);
        cr_assert_eq(values.n, 1);
        cr_assert_eq(gale_mp_item(&values, 0, &n_value), 0);
        cr_assert_eq((uint64_t)n_value.i, rec.msg_id, "the journaled values are not the tuple's");
    }
    cr_assert_eq(n, 100);
    gale_journal_reader_free(&r);
    gale_topology_free(t);
    tl_rmtree(dir);
    free(dir);
}

Test(runtime, max_spout_pending_bounds_open_trees)
{
    int s;
    gale_topology_t *t = build(2000, 1, true, &s);
    t->config.max_spout_pending = 10;
    gale_topology_set_int(t, s, "delay_us", 20);
    gale_runtime_t *rt = run(t, 2);
    cr_assert_leq(atomic_load(&max_open), 10, "open trees reached %ld", atomic_load(&max_open));
    cr_assert_geq(atomic_load(&max_open), 2);
    for (int i = 1; i <= 2000; i++) cr_assert_eq(atomic_load(&acked[i]), 1);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, without_ackers_message_ids_are_acked_at_once)
{
    int s;
    gale_topology_t *t = build(1000, 0, true, &s);
    gale_topology_set_int(t, s, "fail_every", 10); /* fails go nowhere without ackers */
    gale_runtime_t *rt = run(t, 2);
    for (int i = 1; i <= 1000; i++) {
        cr_assert_eq(atomic_load(&acked[i]), 1);
        cr_assert_eq(atomic_load(&failed[i]), 0);
    }
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, one_thread_runs_everything_by_direct_calls)
{
    int s;
    gale_topology_t *t = build(3000, 1, true, &s);
    gale_runtime_t *rt = run(t, 1);
    for (int i = 1; i <= 3000; i++) cr_assert_eq(atomic_load(&acked[i]), 1);
    cr_assert_eq(rt->n_execs, 1);
    /* The three acks of each tree (two by the sink, one by the relay) leave this executor as one op: the acker
       applies an INIT and one ACK per tree. */
    gale_task_metrics_t acker;
    gale_runtime_component_metrics(rt, -1, &acker);
    cr_assert_eq(acker.executed, 2 * 3000, "acker applied %llu ops for 3000 trees",
                 (unsigned long long)acker.executed);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- direct grouping: a spout sends each tuple to the task it names ---- */
static atomic_int direct_seen[16];

static int direct_next(gale_ctx_t *ctx)
{
    spout_state_t *s = ctx->state;
    if (s->next > s->count) {
        gale_done(ctx);
        return 0;
    }
    gale_value_t v = gale_int(s->next);
    /* tasks 2 and 3 are the sink's: odd numbers to 3, even to 2 */
    int rc = gale_emit_direct(ctx, s->next % 2 ? 3 : 2, NULL, &v, 1);
    s->next++;
    return rc;
}
static int direct_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_task_info_t info;
    gale_value_t v;
    gale_task_info(ctx, &info);
    gale_get(ctx, in, 0, &v);
    if ((v.i % 2 ? 3u : 2u) != info.task_id) atomic_fetch_add(&direct_seen[0], 1); /* misrouted */
    atomic_fetch_add(&direct_seen[info.task_id], 1);
    return 0;
}
static const gale_plugin_t direct_spout = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "direct_spout",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = true}, {NULL}},
    .spout = {.open = sp_open, .next_tuple = direct_next, .close = sp_close}};
static const gale_plugin_t direct_sink = {.abi_major = GALE_ABI_MAJOR, .size = sizeof(gale_plugin_t),
                                          .kind = GALE_BOLT, .name = "direct_sink", .flags = GALE_BOLT_BASIC,
                                          .bolt = {.execute = direct_exec}};

Test(runtime, emit_direct_reaches_the_named_task)
{
    gale_topology_t *t = gale_topology_new("direct");
    t->config.ackers = 1;
    int sp = gale_topology_add(t, "numbers", &direct_spout, 1);
    gale_topology_set_int(t, sp, "count", 1000);
    int sink_i = gale_topology_add(t, "sink", &direct_sink, 2);
    gale_topology_add_input(t, sink_i, t->components[sp].name, NULL, GALE_GROUPING_DIRECT, NULL, 0);
    gale_runtime_t *rt = run(t, 2);
    cr_assert_eq(atomic_load(&direct_seen[0]), 0, "tuples reached a task they were not sent to");
    cr_assert_eq(atomic_load(&direct_seen[2]), 500);
    cr_assert_eq(atomic_load(&direct_seen[3]), 500);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- a direct stream is emitted directly, and only so; declaring is over once the run starts ---- */
static atomic_int misuse_rc[4];

static int misuse_next(gale_ctx_t *ctx)
{
    spout_state_t *s = ctx->state;
    if (s->next > s->count) {
        gale_done(ctx);
        return 0;
    }
    gale_value_t v = gale_int(s->next);
    if (s->next == 1) {
        const char *f[] = {"n"};
        atomic_store(&misuse_rc[0], gale_emit_direct(ctx, 2, NULL, &v, 1)); /* "default" is not direct */
        atomic_store(&misuse_rc[1], gale_emit_stream(ctx, "to", &v, 1));    /* "to" is */
        atomic_store(&misuse_rc[2], gale_declare_direct_stream(ctx, "late", f, 1));
        atomic_store(&misuse_rc[3], gale_declare_stream(ctx, "late", f, 1));
    }
    /* The right ways: default to the shuffled sink (task 2), "to" direct to the direct sink's task 3 */
    int rc = gale_emit(ctx, &v, 1);
    if (!rc) rc = gale_emit_direct(ctx, 3, "to", &v, 1);
    s->next++;
    return rc;
}
static const gale_plugin_t misuse_spout = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "misuse_spout",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false},
                                            {"to", (const char *[]){"n", NULL}, .direct = true},
                                            {NULL}},
    .spout = {.open = sp_open, .next_tuple = misuse_next, .close = sp_close}};
static int count_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    atomic_fetch_add(&direct_seen[info.task_id], 1);
    return 0;
}
static const gale_plugin_t count_sink = {.abi_major = GALE_ABI_MAJOR,
                                         .size = sizeof(gale_plugin_t),
                                         .kind = GALE_BOLT,
                                         .name = "count_sink",
                                         .flags = GALE_BOLT_BASIC,
                                         .bolt = {.execute = count_exec}};

Test(runtime, emits_that_mix_up_direct_and_plain_streams_are_refused_and_counted)
{
    gale_topology_t *t = gale_topology_new("misuse");
    t->config.ackers = 0;
    int sp = gale_topology_add(t, "numbers", &misuse_spout, 1);
    gale_topology_set_int(t, sp, "count", 100);
    int plain = gale_topology_add(t, "plain", &count_sink, 1);   /* task 2 */
    int direct = gale_topology_add(t, "direct", &count_sink, 1); /* task 3 */
    gale_topology_add_input(t, plain, "numbers", NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_topology_add_input(t, direct, "numbers", "to", GALE_GROUPING_DIRECT, NULL, 0);
    gale_runtime_t *rt = run(t, 2);
    cr_assert_eq(atomic_load(&misuse_rc[0]), GALE_ESTREAM, "emit_direct on a plain stream: %d",
                 atomic_load(&misuse_rc[0]));
    cr_assert_eq(atomic_load(&misuse_rc[1]), GALE_ESTREAM, "plain emit on a direct stream: %d",
                 atomic_load(&misuse_rc[1]));
    cr_assert_eq(atomic_load(&misuse_rc[2]), GALE_ESTATE, "declare_direct_stream while running");
    cr_assert_eq(atomic_load(&misuse_rc[3]), GALE_ESTATE, "declare_stream while running");
    cr_assert_eq(atomic_load(&direct_seen[2]), 100, "the refused emits reached the plain sink");
    cr_assert_eq(atomic_load(&direct_seen[3]), 100, "the refused emits reached the direct sink");
    gale_task_metrics_t m;
    gale_runtime_component_metrics(rt, sp, &m);
    cr_assert_eq(m.errors, 2, "%llu errors: the two refused emits count against the spout",
                 (unsigned long long)m.errors);
    cr_assert_eq(m.emitted, 200);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- reset_timeout: a bolt slower than the timeout keeps its tree alive by resetting it ---- */
static int slow_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    for (int i = 0; i < 4; i++) {
        struct timespec ts = {0, 400 * 1000 * 1000};
        nanosleep(&ts, NULL);
        gale_reset_timeout(ctx, in);
    }
    return gale_ack(ctx, in);
}
static const gale_plugin_t slow_sink = {.abi_major = GALE_ABI_MAJOR, .size = sizeof(gale_plugin_t),
                                        .kind = GALE_BOLT, .name = "slow_sink", .bolt = {.execute = slow_exec}};

Test(runtime, reset_timeout_keeps_a_slow_tree_alive)
{
    gale_topology_t *t = gale_topology_new("slow");
    t->config.ackers = 1;
    t->config.message_timeout_s = 1;
    t->config.max_spout_pending = 1; /* a timeout counts from the emit: tuple 2 must not wait behind tuple 1 */
    int sp = gale_topology_add(t, "numbers", &numbers, 1);
    gale_topology_set_int(t, sp, "count", 2);
    int b = gale_topology_add(t, "slow", &slow_sink, 1);
    gale_topology_add_input(t, b, t->components[sp].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_runtime_t *rt = run(t, 2); /* each tuple takes 1.6 s, the timeout is 1 s */
    cr_assert_eq(atomic_load(&acked[1]), 1, "timed out despite reset_timeout");
    cr_assert_eq(atomic_load(&acked[2]), 1);
    cr_assert_eq(atomic_load(&failed[1]) + atomic_load(&failed[2]), 0);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- settling an input twice is reported against the bolt and changes nothing ---- */
static int twice_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    cr_assert_eq(gale_ack(ctx, in), 0);
    cr_assert_eq(gale_ack(ctx, in), GALE_ESTATE);
    cr_assert_eq(gale_fail(ctx, in), GALE_ESTATE);
    return 0;
}
static const gale_plugin_t twice_sink = {.abi_major = GALE_ABI_MAJOR, .size = sizeof(gale_plugin_t),
                                         .kind = GALE_BOLT, .name = "twice", .bolt = {.execute = twice_exec}};

Test(runtime, acking_twice_is_an_error_against_the_bolt)
{
    gale_topology_t *t = gale_topology_new("twice");
    t->config.ackers = 1;
    int sp = gale_topology_add(t, "numbers", &numbers, 1);
    gale_topology_set_int(t, sp, "count", 100);
    int b = gale_topology_add(t, "twice", &twice_sink, 1);
    gale_topology_add_input(t, b, t->components[sp].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_runtime_t *rt = run(t, 2);
    for (int i = 1; i <= 100; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "the second ack or the fail counted");
    gale_task_metrics_t m;
    gale_runtime_component_metrics(rt, 1, &m);
    cr_assert_eq(m.errors, 200, "%llu errors", (unsigned long long)m.errors);
    cr_assert_eq(m.acked, 100);
    cr_assert_eq(m.failed, 0);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- a windowing bolt: keeps every input, acks them 500 at a time in a scrambled order ---- */
typedef struct window {
    const gale_tuple_t *held[512];
    size_t n;
    uint64_t rng;
} window_t;

static int window_prepare(gale_ctx_t *ctx)
{
    window_t *w = calloc(1, sizeof *w);
    w->rng = 99;
    ctx->state = w;
    return 0;
}
static void window_flush(gale_ctx_t *ctx, window_t *w)
{
    while (w->n) { /* settle from anywhere in the list, not just its end */
        size_t i = (size_t)(gale_rand64(&w->rng) % w->n);
        cr_assert_eq(gale_ack(ctx, w->held[i]), 0);
        w->held[i] = w->held[--w->n];
    }
}
static int window_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    window_t *w = ctx->state;
    w->held[w->n++] = gale_keep(ctx, in);
    if (w->n == 500) window_flush(ctx, w);
    return 0;
}
static int window_finish(gale_ctx_t *ctx)
{
    window_flush(ctx, ctx->state);
    return 0;
}
static void window_cleanup(gale_ctx_t *ctx) { free(ctx->state); }
static const gale_plugin_t window = {
    .abi_major = GALE_ABI_MAJOR, .size = sizeof(gale_plugin_t), .kind = GALE_BOLT, .name = "window",
    .bolt = {.prepare = window_prepare, .execute = window_exec, .finish = window_finish, .cleanup = window_cleanup}};

Test(runtime, kept_inputs_acked_later_in_any_order_complete_their_trees)
{
    gale_topology_t *t = gale_topology_new("window");
    t->config.ackers = 1;
    int sp = gale_topology_add(t, "numbers", &numbers, 1);
    gale_topology_set_int(t, sp, "count", 5250); /* ten full windows and a partial one, acked at finish */
    int b = gale_topology_add(t, "window", &window, 1);
    gale_topology_add_input(t, b, t->components[sp].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_runtime_t *rt = run(t, 2);
    for (int i = 1; i <= 5250; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "id %d acked %d times", i, atomic_load(&acked[i]));
    gale_task_metrics_t m;
    gale_runtime_component_metrics(rt, 1, &m);
    cr_assert_eq(m.errors, 0);
    /* Storm's process latency counts a kept input when it is acked: longer than the execute that kept it. */
    cr_assert_gt(m.process.count, 0, "sampled inputs acked after execute have a process latency");
    cr_assert_gt((double)m.process.sum_ns / (double)m.process.count, (double)m.exec.sum_ns / (double)m.exec.count,
                 "an input kept until its window is acked waits longer than one execute");
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- resume positions: a replayable spout (gale_replayable) and the position a restart resumes it from ---- */

static int resume_open_rc, resume_late_rc, wake_rc;
static uint64_t resume_from_seen;

/* Emits `count` tuples with message ids from 1 (or from its resume position) up; with `down`, from `count` down. */
static int resumable_open(gale_ctx_t *ctx)
{
    spout_state_t *s = calloc(1, sizeof *s);
    uint64_t from = 0;
    resume_open_rc = gale_replayable(ctx, &from);
    resume_from_seen = from;
    wake_rc = gale_wake(ctx); /* it has no service: nothing to wake */
    s->count = gale_setting_int(ctx, "count", 100);
    s->next = resume_open_rc == 0 ? (int64_t)from : 1;
    ctx->state = s;
    return 0;
}
static int resumable_next(gale_ctx_t *ctx)
{
    spout_state_t *s = ctx->state;
    uint64_t from;
    if (s->next == 1 || s->next == (int64_t)resume_from_seen) resume_late_rc = gale_replayable(ctx, &from);
    if (s->next > s->count) {
        gale_done(ctx);
        return 0;
    }
    int64_t id = gale_setting_bool(ctx, "down", false) ? s->count + 1 - s->next : s->next;
    gale_value_t v = gale_int(id);
    s->next++;
    return gale_emit_id(ctx, (uint64_t)id, &v, 1);
}
static const gale_plugin_t resumable = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "resumable",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false}, {NULL}},
    .spout = {.open = resumable_open, .next_tuple = resumable_next, .ack = sp_ack, .fail = sp_fail, .close = sp_close}};

/* `spout` (its "count" setting) -> sink over 2 threads, with `ackers`; made, built and its runtime made but not
   run. `tweak`, when not NULL, sets what else the test needs before the build. */
static gale_runtime_t *spout_to_sink(const gale_plugin_t *spout, int64_t count, int ackers,
                                     void (*tweak)(gale_topology_t *t, int spout, int sink, void *arg), void *arg,
                                     gale_topology_t **out)
{
    gale_topology_t *t = gale_topology_new("t");
    t->config.ackers = ackers;
    int sp = gale_topology_add(t, spout->name, spout, 1);
    gale_topology_set_int(t, sp, "count", count);
    int sk = gale_topology_add(t, "sink", &sink, 2);
    gale_topology_add_input(t, sk, spout->name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    if (tweak) tweak(t, sp, sk, arg);
    gale_diag_t d;
    cr_assert_eq(gale_topology_build(t, &d), 0, "%s", d.msg);
    gale_runtime_opts_t opts = {.threads = 2};
    gale_runtime_t *rt;
    cr_assert_eq(gale_runtime_new(t, &opts, &rt, &d), 0, "%s", d.msg);
    *out = t;
    return rt;
}

static void set_down(gale_topology_t *t, int spout, int sink_index, void *arg)
{
    (void)sink_index;
    gale_topology_set_bool(t, spout, "down", *(bool *)arg);
}

/* resumable -> sink; the runtime made but not run. */
static gale_runtime_t *resumable_runtime(gale_topology_t **out, int ackers, bool down)
{
    return spout_to_sink(&resumable, 100, ackers, set_down, &down, out);
}

static size_t positions_of(gale_runtime_t *rt, uint32_t *task, uint64_t *position)
{
    uint32_t tasks[4];
    uint64_t positions[4];
    size_t n = gale__runtime_positions(rt, tasks, positions, 4);
    if (n) *task = tasks[0], *position = positions[0];
    return n;
}

Test(runtime, a_replayable_spout_starts_afresh_and_ends_at_the_next_position)
{
    gale_topology_t *t;
    gale_runtime_t *rt = resumable_runtime(&t, 1, false);
    cr_assert_eq(gale_runtime_run(rt), 0);
    cr_assert_eq(resume_open_rc, GALE_ENOENT, "a first start: %s", gale_err_name(resume_open_rc));
    cr_assert_eq(resume_late_rc, GALE_ESTATE, "outside open: %s", gale_err_name(resume_late_rc));
    cr_assert_eq(wake_rc, GALE_ENOTSUP, "gale_wake without a service: %s", gale_err_name(wake_rc));
    uint32_t task = 0;
    uint64_t position = 0;
    cr_assert_eq(positions_of(rt, &task, &position), 1);
    cr_assert_eq(task, 1);
    cr_assert_eq(position, 101, "every tree completed: the next message id, not %llu", (unsigned long long)position);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, a_resumed_spout_is_told_its_position_in_open_and_goes_on_from_it)
{
    gale_topology_t *t;
    gale_runtime_t *rt = resumable_runtime(&t, 1, false);
    cr_assert_eq(gale__runtime_resume(rt, 1, 61), 0);
    cr_assert_eq(gale__runtime_resume(rt, 2, 61), GALE_ENOENT, "task 2 is a bolt");
    cr_assert_eq(gale__runtime_resume(rt, 0, 61), GALE_ENOENT);
    cr_assert_eq(gale__runtime_resume(rt, 99, 61), GALE_ENOENT);
    cr_assert_eq(gale_runtime_run(rt), 0);
    cr_assert_eq(resume_open_rc, 0, "%s", gale_err_name(resume_open_rc));
    cr_assert_eq(resume_from_seen, 61);
    for (int i = 1; i <= 100; i++) cr_assert_eq(atomic_load(&acked[i]), i >= 61, "message id %d", i);
    uint32_t task = 0;
    uint64_t position = 0;
    cr_assert_eq(positions_of(rt, &task, &position), 1);
    cr_assert_eq(position, 101);
    cr_assert_eq(gale__runtime_resume(rt, 1, 5), GALE_ESTATE, "once started, a position is too late");
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, message_ids_that_go_down_cost_a_spout_its_position)
{
    gale_topology_t *t;
    gale_runtime_t *rt = resumable_runtime(&t, 1, true);
    cr_assert_eq(gale_runtime_run(rt), 0);
    cr_assert_eq(resume_open_rc, GALE_ENOENT);
    uint32_t task;
    uint64_t position;
    cr_assert_eq(positions_of(rt, &task, &position), 0, "position %llu", (unsigned long long)position);
    for (int i = 1; i <= 100; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "the tuples still flow: %d", i);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, without_acking_there_is_no_position_to_resume_from)
{
    gale_topology_t *t;
    gale_runtime_t *rt = resumable_runtime(&t, 0, false);
    cr_assert_eq(gale_runtime_run(rt), 0);
    cr_assert_eq(resume_open_rc, GALE_ENOTSUP, "%s", gale_err_name(resume_open_rc));
    uint32_t task;
    uint64_t position;
    cr_assert_eq(positions_of(rt, &task, &position), 0);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- the user's deactivation and activation (Storm's) ---- */

static atomic_int gated_opened, gated_activations, gated_deactivations;
static atomic_long gated_emitted;

static int gated_open(gale_ctx_t *ctx)
{
    int rc = sp_open(ctx);
    atomic_store(&gated_opened, 1);
    return rc;
}
static int gated_next(gale_ctx_t *ctx)
{
    int64_t before = ((spout_state_t *)ctx->state)->next;
    int rc = sp_next(ctx);
    if (((spout_state_t *)ctx->state)->next != before) atomic_fetch_add(&gated_emitted, 1);
    return rc;
}
static void gated_activate(gale_ctx_t *ctx)
{
    (void)ctx;
    atomic_fetch_add(&gated_activations, 1);
}
static void gated_deactivate(gale_ctx_t *ctx)
{
    (void)ctx;
    atomic_fetch_add(&gated_deactivations, 1);
}
static const gale_plugin_t gated = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "gated",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false}, {NULL}},
    .spout = {.open = gated_open,
              .next_tuple = gated_next,
              .ack = sp_ack,
              .fail = sp_fail,
              .close = sp_close,
              .activate = gated_activate,
              .deactivate = gated_deactivate}};

static void *run_in_thread(void *arg)
{
    intptr_t rc = gale_runtime_run(arg);
    return (void *)rc;
}

typedef struct pacing {
    int max_pending;
    int64_t sink_delay_us;
} pacing_t;

static void pace(gale_topology_t *t, int spout, int sink_index, void *arg)
{
    (void)spout;
    const pacing_t *p = arg;
    t->config.max_spout_pending = p->max_pending;
    gale_topology_set_int(t, sink_index, "delay_us", p->sink_delay_us);
}

/* gated -> sink over 2 threads, the runtime made but not run. */
static gale_runtime_t *gated_runtime(gale_topology_t **out, int64_t count, int max_pending, int64_t sink_delay_us)
{
    atomic_store(&gated_opened, 0);
    atomic_store(&gated_activations, 0);
    atomic_store(&gated_deactivations, 0);
    atomic_store(&gated_emitted, 0);
    return spout_to_sink(&gated, count, 1, pace, &(pacing_t){max_pending, sink_delay_us}, out);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded) until the spout's count of emits holds still across 100 ms; the count. */
static long emitted_when_quiet(void)
{
    long last = -1;
    for (int i = 0; i < 300; i++) {
        long now = atomic_load(&gated_emitted);
        if (now == last) return now;
        last = now;
        sleep_ms(100);
    }
    cr_assert_fail("the spout kept emitting for 30 s after its deactivation");
    return -1;
}

Test(runtime, a_topology_deactivated_before_it_runs_opens_its_spouts_but_calls_nothing_until_activated)
{
    gale_topology_t *t;
    gale_runtime_t *rt = gated_runtime(&t, 500, 0, 0);
    gale__runtime_set_active(rt, false);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_in_thread, rt), 0);
    for (int i = 0; i < 3000 && !atomic_load(&gated_opened); i++) sleep_ms(10);
    cr_assert(atomic_load(&gated_opened), "the spout opened");
    sleep_ms(300); /* long enough for many turns of the executors: none may call the spout */
    cr_assert_eq(atomic_load(&gated_emitted), 0);
    cr_assert_eq(atomic_load(&gated_activations), 0, "an inactive topology's spout is not activated");
    gale__runtime_set_active(rt, true);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    cr_assert_eq(atomic_load(&gated_activations), 1);
    for (int i = 1; i <= 500; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "message id %d", i);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

Test(runtime, a_deactivated_spout_stops_emitting_and_goes_on_once_activated)
{
    gale_topology_t *t;
    gale_runtime_t *rt = gated_runtime(&t, MAX_N, 50, 100) /* paced by slow sinks: far from its end when deactivated */;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_in_thread, rt), 0);
    for (int i = 0; i < 3000 && atomic_load(&gated_emitted) < 100; i++) sleep_ms(10);
    gale__runtime_set_active(rt, false);
    long held = emitted_when_quiet();
    cr_assert_lt(held, MAX_N, "deactivated before its end");
    cr_assert_eq(atomic_load(&gated_deactivations), 1);
    sleep_ms(300);
    cr_assert_eq(atomic_load(&gated_emitted), held, "nothing is emitted while inactive");
    for (long i = 1; i <= held; i++) /* the trees in flight finished meanwhile */
        cr_assert_eq(atomic_load(&acked[i]), 1, "message id %ld", i);
    gale__runtime_set_active(rt, true);
    void *rc;
    pthread_join(th, &rc); /* it runs to its end: every number */
    cr_assert_eq((intptr_t)rc, 0);
    cr_assert_eq(atomic_load(&gated_activations), 2, "once at the start, once again");
    for (int i = 1; i <= MAX_N; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "message id %d", i);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- cluster mode's fence: the lease ---- */

static long acked_ids(void)
{
    long n = 0;
    for (int i = 1; i <= MAX_N; i++) n += atomic_load(&acked[i]);
    return n;
}

/* Past its lease a process calls no spout and executes nothing (the acks too wait), holding what it had popped;
   renewed, it goes on from there and loses nothing. */
Test(runtime, past_its_lease_a_process_takes_no_tuples_until_it_is_renewed)
{
    gale_topology_t *t;
    gale_runtime_t *rt = gated_runtime(&t, MAX_N, 50, 100); /* slow sinks: far from its end when the lease ends */
    gale__runtime_set_lease(rt, gale_now_ns() + 300000000ull);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_in_thread, rt), 0);
    for (int i = 0; i < 3000 && atomic_load(&gated_emitted) == 0; i++) sleep_ms(10);
    cr_assert_gt(atomic_load(&gated_emitted), 0, "it takes tuples under its lease");
    long held = emitted_when_quiet();
    cr_assert_lt(held, MAX_N, "fenced before its end");
    long acks = acked_ids();
    sleep_ms(300);
    cr_assert_eq(atomic_load(&gated_emitted), held, "no spout is called past the lease");
    cr_assert_eq(acked_ids(), acks, "no tuple is executed, no tree completes past the lease");
    cr_assert_lt(acks, held, "trees were in flight when the lease ended");
    gale__runtime_set_lease(rt, gale_now_ns() + 600000000000ull);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    for (int i = 1; i <= MAX_N; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "message id %d", i);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* ---- hot swap ---- */

static atomic_long swapped_in_executed, bad_prepares;

static int sink_b_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    atomic_fetch_add(&swapped_in_executed, 1);
    return sink_work(ctx, in);
}
static const gale_plugin_t sink_b = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "sink_b",
    .bolt = {.prepare = sink_prepare, .execute = sink_b_exec, .cleanup = sink_cleanup}};

static int bad_prepare(gale_ctx_t *ctx)
{
    (void)ctx;
    atomic_fetch_add(&bad_prepares, 1);
    return GALE_EIO;
}
static const gale_plugin_t sink_bad = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "sink_bad",
    .bolt = {.prepare = bad_prepare, .execute = sink_b_exec, .cleanup = sink_cleanup}};

/* numbers, replayable: a swap reopens it where the last plugin stopped. Built twice: the second counts its emits,
   the third fails to open. */
static atomic_long swapped_in_emitted;
static int spr_open(gale_ctx_t *ctx)
{
    int rc = sp_open(ctx);
    uint64_t from;
    if (!rc && gale_replayable(ctx, &from) == 0) ((spout_state_t *)ctx->state)->next = (int64_t)from;
    return rc;
}
static int spr_b_next(gale_ctx_t *ctx)
{
    spout_state_t *s = ctx->state;
    if (s->next <= s->count) atomic_fetch_add(&swapped_in_emitted, 1);
    return sp_next(ctx);
}
static int spr_bad_open(gale_ctx_t *ctx)
{
    (void)ctx;
    atomic_fetch_add(&bad_prepares, 1);
    return GALE_EIO;
}
static const gale_plugin_t numbers_r = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "numbers_r",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false}, {NULL}},
    .spout = {.open = spr_open, .next_tuple = sp_next, .ack = sp_ack, .fail = sp_fail, .close = sp_close}};
static const gale_plugin_t numbers_r_b = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "numbers_r_b",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false}, {NULL}},
    .spout = {.open = spr_open, .next_tuple = spr_b_next, .ack = sp_ack, .fail = sp_fail, .close = sp_close}};
static const gale_plugin_t numbers_r_bad = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "numbers_r_bad",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false}, {NULL}},
    .spout = {.open = spr_bad_open, .next_tuple = spr_b_next, .ack = sp_ack, .fail = sp_fail, .close = sp_close}};

/* Counted by the plugin itself: a sum over seen[] less sink_b's executes races with a sink_b between the two. */
static long sink_a_executed(void) { return atomic_load(&sink_runs); }

static int component_named(const gale_topology_t *t, const char *name)
{
    for (size_t i = 0; i < t->n_components; i++)
        if (!strcmp(t->components[i].name, name)) return (int)i;
    cr_assert_fail("no component %s", name);
    return -1;
}

/* `spout` -> sink (2 tasks, paced), running in a thread once the sink has executed some. */
static gale_runtime_t *running_for_swap_from(const gale_plugin_t *spout, gale_topology_t **t, pthread_t *th)
{
    reset();
    atomic_store(&swapped_in_executed, 0);
    atomic_store(&swapped_in_emitted, 0);
    atomic_store(&sink_runs, 0);
    atomic_store(&bad_prepares, 0);
    gale_runtime_t *rt = spout_to_sink(spout, MAX_N, 1, pace, &(pacing_t){50, 50}, t);
    cr_assert_eq(pthread_create(th, NULL, run_in_thread, rt), 0);
    for (int i = 0; i < 3000 && acked_ids() < 200; i++) sleep_ms(10);
    cr_assert_geq(acked_ids(), 200, "the run is under way");
    return rt;
}

static gale_runtime_t *running_for_swap(gale_topology_t **t, pthread_t *th)
{
    return running_for_swap_from(&numbers, t, th);
}

/* Under load: once the swap returns, the old plugin executes nothing more and the new one takes every tuple; with
   acking on, every tree completes exactly once. */
Test(runtime, a_bolt_swapped_under_load_runs_the_new_plugin_from_then_on_losing_nothing)
{
    gale_topology_t *t;
    pthread_t th;
    gale_runtime_t *rt = running_for_swap(&t, &th);
    char why[256];
    cr_assert_eq(gale__runtime_swap(rt, component_named(t, "sink"), &sink_b, NULL, 0, 10000, why, sizeof why), 0, "%s",
                 why);
    long old_plugin = sink_a_executed(), acks = acked_ids();
    cr_assert_lt(acks, MAX_N, "swapped before the end");
    for (int i = 0; i < 3000 && atomic_load(&swapped_in_executed) < 100; i++) sleep_ms(10);
    cr_assert_geq(atomic_load(&swapped_in_executed), 100, "the new plugin executes");
    cr_assert_eq(sink_a_executed(), old_plugin, "the old plugin executed after the swap returned");
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    for (int i = 1; i <= MAX_N; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "message id %d", i);
    cr_assert_eq(sink_a_executed(), old_plugin);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* A plugin whose prepare fails: the swap answers why, and every task goes on with the plugin it had. */
Test(runtime, a_swap_whose_prepare_fails_rolls_back_to_the_old_plugin)
{
    gale_topology_t *t;
    pthread_t th;
    gale_runtime_t *rt = running_for_swap(&t, &th);
    char why[256];
    cr_assert_eq(gale__runtime_swap(rt, component_named(t, "sink"), &sink_bad, NULL, 0, 10000, why, sizeof why),
                 GALE_EPLUGIN);
    cr_assert_not_null(strstr(why, "prepare of plugin sink_bad failed: input/output error"), "%s", why);
    cr_assert_geq(atomic_load(&bad_prepares), 1);
    long before = sink_a_executed();
    for (int i = 0; i < 3000 && sink_a_executed() < before + 100; i++) sleep_ms(10);
    cr_assert_geq(sink_a_executed(), before + 100, "the old plugin runs on");
    cr_assert_eq(gale__runtime_swap(rt, component_named(t, "numbers"), &sink_b, NULL, 0, 1000, why, sizeof why),
                 GALE_EINVAL, "a spout is not swapped to a bolt");
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    for (int i = 1; i <= MAX_N; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "message id %d", i);
    cr_assert_eq(atomic_load(&swapped_in_executed), 0, "the failed plugin executed nothing");
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* A replayable spout swapped under load: the new plugin goes on from the next position, the trees the old one left
   open complete (their acks reach the new plugin), and every message id is acked exactly once: none lost, none
   emitted twice. */
Test(runtime, a_replayable_spout_swapped_under_load_goes_on_from_where_the_old_one_stopped)
{
    gale_topology_t *t;
    pthread_t th;
    gale_runtime_t *rt = running_for_swap_from(&numbers_r, &t, &th);
    char why[256];
    cr_assert_eq(gale__runtime_swap(rt, component_named(t, "numbers_r"), &numbers_r_b, NULL, 0, 10000, why, sizeof why),
                 0, "%s", why);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    long swapped_in = atomic_load(&swapped_in_emitted);
    cr_assert(swapped_in > 0 && swapped_in < MAX_N, "the new plugin emitted %ld of %d", swapped_in, MAX_N);
    for (int i = 1; i <= MAX_N; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "message id %d", i);
    gale_runtime_free(rt);
    gale_topology_free(t);
}

/* A spout whose open fails: the swap answers why, and the old plugin reopens where it was, losing nothing. */
Test(runtime, a_spout_swap_whose_open_fails_rolls_back_and_loses_nothing)
{
    gale_topology_t *t;
    pthread_t th;
    gale_runtime_t *rt = running_for_swap_from(&numbers_r, &t, &th);
    char why[256];
    cr_assert_eq(
        gale__runtime_swap(rt, component_named(t, "numbers_r"), &numbers_r_bad, NULL, 0, 10000, why, sizeof why),
        GALE_EPLUGIN);
    cr_assert_not_null(strstr(why, "open of plugin numbers_r_bad failed: input/output error"), "%s", why);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    cr_assert_eq(atomic_load(&swapped_in_emitted), 0);
    for (int i = 1; i <= MAX_N; i++) cr_assert_eq(atomic_load(&acked[i]), 1, "message id %d", i);
    gale_runtime_free(rt);
    gale_topology_free(t);
}
