/*
 * ABI 2.6's from_json and reject, through a run: a spout parses its records' JSON with gale_from_json and rejects
 * those that do not parse with gale_reject, which journals them (cause "rejected", the parse error, 0 attempts)
 * without a tree, while the others reach a bolt as maps. Both refuse where the phase table says they may not be
 * called, and reject checks its values as an emit does.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "mpread.h"
#include "runtime.h"
#include "testlib.h"
#include "topology_build.h"

#define N 100

static atomic_int seen[N + 1], acked[N + 1], failed[N + 1];
static int declare_rc, deep_rc, deeper_rc, wrong_count_rc, bolt_reject_rc, bolt_json_rc, reject_rc[N + 1];
static char deep_why[128], deeper_why[128];

/* Every tenth record lacks its closing brace. */
static void record_text(int n, char *buf, size_t cap)
{
    snprintf(buf, cap, n % 10 ? "{\"n\": %d, \"tag\": \"r%d\"}" : "{\"n\": %d, \"tag\": \"r%d\"", n, n);
}

static int rec_declare(gale_ctx_t *ctx)
{
    gale_value_t v;
    declare_rc = gale_from_json(ctx, "1", 1, &v, NULL, 0);
    return gale_declare_stream(ctx, NULL, (const char *[]){"value"}, 1);
}

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 2);
    for (int i = 0; i < depth; i++) s[i] = '[', s[depth * 2 - 1 - i] = ']';
    s[depth * 2] = '\0';
    return s;
}

static int rec_open(gale_ctx_t *ctx)
{
    int *next = calloc(1, sizeof *next);
    *next = 1;
    ctx->state = next;
    gale_value_t v;
    char *deep = nested(40), *deeper = nested(70); /* past the reader's 32 levels; past the parser's 64 */
    deep_rc = gale_from_json(ctx, deep, strlen(deep), &v, deep_why, sizeof deep_why);
    deeper_rc = gale_from_json(ctx, deeper, strlen(deeper), &v, deeper_why, sizeof deeper_why);
    free(deep), free(deeper);
    return 0;
}

static int rec_next(gale_ctx_t *ctx)
{
    int *next = ctx->state, n = *next;
    if (n > N) {
        gale_done(ctx);
        return 0;
    }
    ++*next;
    char text[64], why[128];
    record_text(n, text, sizeof text);
    gale_value_t v;
    if (gale_from_json(ctx, text, strlen(text), &v, why, sizeof why) == 0) return gale_emit_id(ctx, (uint64_t)n, &v, 1);
    gale_value_t raw = gale_bytes(text, strlen(text)), two[2] = {raw, raw};
    if (n == 10) wrong_count_rc = gale_reject(ctx, NULL, two, 2, (uint64_t)n, why);
    reject_rc[n] = gale_reject(ctx, NULL, &raw, 1, (uint64_t)n, why);
    return 0;
}

static void rec_ack(gale_ctx_t *ctx, uint64_t id) { (void)ctx, atomic_fetch_add(&acked[id], 1); }
static void rec_fail(gale_ctx_t *ctx, uint64_t id) { (void)ctx, atomic_fetch_add(&failed[id], 1); }
static void rec_close(gale_ctx_t *ctx) { free(ctx->state); }

static const gale_plugin_t records = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "records",
    .declare = rec_declare,
    .spout = {.open = rec_open, .next_tuple = rec_next, .ack = rec_ack, .fail = rec_fail, .close = rec_close}};

/* Checks each map ({"n": N, "tag": "rN"}) and acks it. */
static int check_exec(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t m, k, n, tag;
    cr_assert_eq(gale_get(ctx, in, 0, &m), 0);
    cr_assert_eq(m.type, GALE_MAP);
    cr_assert_eq(m.n, 2);
    cr_assert_eq(gale_item(ctx, &m, 0, &k), 0);
    cr_assert(k.type == GALE_STR && k.s.len == 1 && k.s.ptr[0] == 'n');
    cr_assert_eq(gale_item(ctx, &m, 1, &n), 0);
    cr_assert_eq(n.type, GALE_INT);
    cr_assert_eq(gale_item(ctx, &m, 3, &tag), 0);
    char want[16];
    snprintf(want, sizeof want, "r%lld", (long long)n.i);
    cr_assert(tag.type == GALE_STR && tag.s.len == strlen(want) && !memcmp(tag.s.ptr, want, tag.s.len));
    if (n.i >= 1 && n.i <= N) atomic_fetch_add(&seen[n.i], 1);
    gale_value_t nil = gale_nil();
    bolt_reject_rc = gale_reject(ctx, NULL, &nil, 1, 1, "a bolt may not");
    bolt_json_rc = gale_from_json(ctx, "[1, 2.5, null, true]", 20, &m, NULL, 0);
    return gale_ack(ctx, in);
}

static const gale_plugin_t check = {.abi_major = GALE_ABI_MAJOR,
                                    .size = sizeof(gale_plugin_t),
                                    .kind = GALE_BOLT,
                                    .name = "check",
                                    .bolt = {.execute = check_exec}};

static void no_damage(void *arg, const char *line)
{
    (void)arg;
    cr_assert_fail("corrupt journal: %s", line);
}

TestSuite(reject, .timeout = 60);

Test(reject, records_that_do_not_parse_are_journaled_with_the_parse_error_and_the_rest_arrive_as_maps)
{
    char *dir = tl_tmpdir();
    gale_topology_t *t = gale_topology_new("t");
    t->config.ackers = 1;
    t->config.journal = tl_path("%s/failed.journal", dir);
    int sp = gale_topology_add(t, "records", &records, 1);
    int b = gale_topology_add(t, "check", &check, 2);
    gale_topology_add_input(t, b, t->components[sp].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_diag_t d;
    cr_assert_eq(gale_topology_build(t, &d), 0, "%s", d.msg);
    gale_runtime_opts_t opts = {.threads = 2};
    gale_runtime_t *rt;
    cr_assert_eq(gale_runtime_new(t, &opts, &rt, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_runtime_run(rt), 0);
    gale_runtime_free(rt);

    cr_assert_eq(declare_rc, GALE_ESTATE, "from_json in declare: %d", declare_rc);
    cr_assert_eq(deep_rc, GALE_ELIMIT, "%s", deep_why);
    cr_assert_str_eq(deep_why, "byte 0: nested deeper than a tuple's value may be (32 levels)");
    cr_assert_eq(deeper_rc, GALE_ELIMIT, "%s", deeper_why);
    cr_assert_str_eq(deeper_why, "byte 64: nesting too deep");
    cr_assert_eq(wrong_count_rc, GALE_EFIELDS, "reject of 2 values on a 1-field stream: %d", wrong_count_rc);
    cr_assert_eq(bolt_reject_rc, GALE_ESTATE);
    cr_assert_eq(bolt_json_rc, 0);
    for (int n = 1; n <= N; n++) {
        bool bad = n % 10 == 0;
        cr_assert_eq(atomic_load(&seen[n]), bad ? 0 : 1, "record %d", n);
        cr_assert_eq(atomic_load(&acked[n]), bad ? 0 : 1, "record %d: a rejected record has no tree to ack", n);
        cr_assert_eq(atomic_load(&failed[n]), 0, "record %d: reject calls no fail", n);
        cr_assert_eq(reject_rc[n], 0, "record %d", n);
    }
    gale_journal_reader_t r;
    cr_assert_eq(gale_journal_reader_open(&r, t->config.journal, NULL, NULL), 0);
    gale_journal_record_t rec;
    int got = 0;
    while (gale_journal_reader_next(&r, &rec, no_damage, NULL) == 1) {
        got++;
        cr_assert_eq(rec.msg_id % 10, 0);
        cr_assert_str_eq(rec.cause, "rejected");
        cr_assert_str_eq(rec.spout, "records");
        cr_assert_str_eq(rec.component, "records");
        cr_assert_eq(rec.task, 1);
        cr_assert_eq(rec.attempts, 0);
        char text[64], want[64];
        record_text((int)rec.msg_id, text, sizeof text);
        snprintf(want, sizeof want, "byte %zu: unexpected end of input", strlen(text));
        cr_assert_str_eq(rec.error, want);
        gale_value_t values, v;
        size_t used;
        cr_assert_eq(gale_mp_read(rec.values, rec.values_len, &values, &used), 0);
        cr_assert_eq(values.n, 1);
        cr_assert_eq(gale_mp_item(&values, 0, &v), 0);
        cr_assert(v.type == GALE_BYTES && v.s.len == strlen(text) && !memcmp(v.s.ptr, text, v.s.len),
                  "the journal holds the record as it came");
    }
    cr_assert_eq(got, N / 10);
    gale_journal_reader_free(&r);
    gale_topology_free(t);
    tl_rmtree(dir);
    free(dir);
}
