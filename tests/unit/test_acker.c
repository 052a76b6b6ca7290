/*
 * XOR tree tracking, as a property: thousands of random tuple trees (random fan-out and depth, tuples anchored to
 * several inputs, some across trees) whose INIT, ACK and FAIL ops reach two ackers in a random order. Every tree
 * must be reported exactly once: DONE when every tuple in it was acked, FAILED when any was failed.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "acker.h"

static char *fields[] = {"v"};
static gale_stream_t stream = {.name = "default", .fields = fields, .n_fields = 1};
static gale_component_t comp = {.name = "sim", .streams = &stream, .n_streams = 1};

#define N_ACKERS 2
#define MAX_OPS 400000
#define MAX_LIVE 200000

typedef struct sim {
    uint64_t rng;
    gale_op_t *ops;
    size_t n_ops;
    gale_tuple_t **live;
    size_t n_live;
} sim_t;

static uint32_t below(sim_t *s, uint32_t n) { return (uint32_t)(gale_rand64(&s->rng) % n); }

static void push_op(sim_t *s, gale_op_t op)
{
    cr_assert_lt(s->n_ops, MAX_OPS);
    op.task = gale_tree_acker(op.root, 1, N_ACKERS);
    s->ops[s->n_ops++] = op;
}

static gale_tuple_data_t *new_tuple(size_t fanout, size_t roots_cap)
{
    gale_value_t v = gale_int(1);
    int err;
    gale_tuple_data_t *d = gale__tuple_new(&comp, 1, 0, &v, 1, (uint32_t)fanout, (uint32_t)roots_cap, &err);
    cr_assert_not_null(d);
    return d;
}

static void add_live(sim_t *s, gale_tuple_data_t *d)
{
    for (uint32_t i = 0; i < d->n_deliveries; i++) {
        cr_assert_lt(s->n_live, MAX_LIVE);
        s->live[s->n_live++] = &d->dlv[i];
    }
}

/* Emits `fanout` deliveries anchored to `anchors`, exactly as emit.c does. */
static void bolt_emit(sim_t *s, const gale_tuple_t *const *anchors, size_t n, size_t fanout)
{
    gale_tuple_data_t *d = new_tuple(fanout, gale_tree_roots_bound(anchors, n));
    gale_tree_set_roots(d, anchors, n);
    for (size_t i = 0; i < fanout; i++) gale__tuple_deliver(d, 9);
    gale_tree_link(d, anchors, n, &s->rng);
    if (d->n_deliveries) add_live(s, d);
    else gale__tuple_discard(d);
}

typedef struct outcome {
    uint64_t root;
    int expect_fail;
    int done, failed;
} outcome_t;

static outcome_t *find(outcome_t *o, size_t n, uint64_t root)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].root == root) return &o[i];
    return NULL;
}

/* The acker's apply for the tests that carry no fail reasons. */
static int apply(gale_acker_t *a, const gale_op_t *op, uint64_t now_ns, gale_op_t *out)
{
    uint32_t dropped;
    int rc = gale_acker_apply(a, op, now_ns, out, &dropped);
    cr_assert_eq(dropped, 0);
    return rc;
}

static void run_property(uint64_t seed, size_t n_trees, int fail_every)
{
    sim_t s = {.rng = seed | 1};
    s.ops = malloc(MAX_OPS * sizeof *s.ops);
    s.live = malloc(MAX_LIVE * sizeof *s.live);
    outcome_t *trees = calloc(n_trees, sizeof *trees);
    /* Spouts: each tree's first tuple, with 0 to 3 deliveries. */
    for (size_t t = 0; t < n_trees; t++) {
        size_t fanout = below(&s, 4);
        gale_tuple_data_t *d = new_tuple(fanout ? fanout : 1, 1);
        d->n_roots = 1;
        for (size_t i = 0; i < fanout; i++) gale__tuple_deliver(d, 9);
        trees[t].root = gale_rand64(&s.rng);
        uint64_t init = gale_tree_start(d, trees[t].root, &s.rng);
        if (!fanout) { /* no targets: complete at once, as in Storm; the acker never hears of it */
            trees[t].done = 1;
            gale__tuple_discard(d);
            continue;
        }
        push_op(&s, (gale_op_t){.kind = GALE_OP_INIT, .root = trees[t].root, .val = init, .from = 100});
        add_live(&s, d);
    }
    /* Bolts: take live tuples in random order; emit children (sometimes anchored to a second live tuple too), then
       ack the input, or now and then fail it. */
    size_t processed = 0;
    while (s.n_live) {
        size_t k = below(&s, (uint32_t)s.n_live);
        gale_tuple_t *in = s.live[k];
        s.live[k] = s.live[--s.n_live];
        processed++;
        int children = processed < 20000 ? (int)below(&s, 3) : 0;
        for (int c = 0; c < children; c++) {
            const gale_tuple_t *anchors[2] = {in, NULL};
            size_t n = 1;
            if (s.n_live && below(&s, 5) == 0) anchors[n++] = s.live[below(&s, (uint32_t)s.n_live)];
            bolt_emit(&s, anchors, n, below(&s, 3));
        }
        bool fail = fail_every && below(&s, (uint32_t)fail_every) == 0;
        for (uint32_t r = 0; r < in->data->n_roots; r++) {
            if (fail) {
                push_op(&s, (gale_op_t){.kind = GALE_OP_FAIL, .root = in->data->roots[r], .from = 7});
                find(trees, n_trees, in->data->roots[r])->expect_fail = 1;
            } else {
                push_op(&s, (gale_op_t){.kind = GALE_OP_ACK, .root = in->data->roots[r], .val = gale_tree_ack_val(in, r)});
            }
        }
        gale__tuple_release(in->data);
    }
    /* Deliver every op in a random order to the acker that owns its root. */
    for (size_t i = s.n_ops; i > 1; i--) {
        size_t j = below(&s, (uint32_t)i);
        gale_op_t tmp = s.ops[i - 1];
        s.ops[i - 1] = s.ops[j];
        s.ops[j] = tmp;
    }
    gale_acker_t ackers[N_ACKERS];
    for (int a = 0; a < N_ACKERS; a++) cr_assert_eq(gale_acker_init(&ackers[a]), 0);
    for (size_t i = 0; i < s.n_ops; i++) {
        gale_op_t out;
        int rc = apply(&ackers[s.ops[i].task - 1], &s.ops[i], i, &out);
        cr_assert_geq(rc, 0);
        if (!rc) continue;
        cr_assert_eq(out.task, 100, "reply to the wrong spout task");
        outcome_t *o = find(trees, n_trees, out.root);
        cr_assert_not_null(o);
        if (out.kind == GALE_OP_DONE) o->done++;
        else if (out.kind == GALE_OP_FAILED) {
            o->failed++;
            cr_assert_eq(out.from, 7, "failing task not reported");
        }
    }
    size_t failed_trees = 0;
    for (size_t t = 0; t < n_trees; t++) {
        if (trees[t].expect_fail) {
            failed_trees++;
            cr_assert_eq(trees[t].failed, 1, "tree %zu failed %d times", t, trees[t].failed);
            cr_assert_eq(trees[t].done, 0, "failed tree %zu also completed", t);
        } else {
            cr_assert_eq(trees[t].done, 1, "tree %zu completed %d times", t, trees[t].done);
            cr_assert_eq(trees[t].failed, 0);
        }
    }
    if (fail_every) cr_assert_gt(failed_trees, 0);
    for (int a = 0; a < N_ACKERS; a++) gale_acker_destroy(&ackers[a]);
    free(trees);
    free(s.ops);
    free(s.live);
}

Test(acker, random_trees_complete_exactly_once, .timeout = 60) { run_property(42, 3000, 0); }
Test(acker, random_trees_other_seed, .timeout = 60) { run_property(0xdeadbeef, 3000, 0); }
Test(acker, trees_with_a_failed_edge_fail_exactly_once, .timeout = 60) { run_property(7, 3000, 40); }

Test(acker, ack_before_init_still_completes)
{
    gale_acker_t a;
    gale_acker_init(&a);
    gale_op_t out;
    cr_assert_eq(apply(&a, &(gale_op_t){.kind = GALE_OP_ACK, .root = 5, .val = 0x33}, 1, &out), 0);
    cr_assert_eq(apply(&a, &(gale_op_t){.kind = GALE_OP_INIT, .root = 5, .val = 0x33, .from = 2}, 2, &out), 1);
    cr_assert_eq(out.kind, GALE_OP_DONE);
    cr_assert_eq(out.task, 2);
    cr_assert_eq(gale_acker_open_trees(&a), 0);
    gale_acker_destroy(&a);
}

Test(acker, fail_before_init_fails_when_init_arrives)
{
    gale_acker_t a;
    gale_acker_init(&a);
    gale_op_t out;
    cr_assert_eq(apply(&a, &(gale_op_t){.kind = GALE_OP_FAIL, .root = 5, .from = 9}, 1, &out), 0);
    cr_assert_eq(apply(&a, &(gale_op_t){.kind = GALE_OP_INIT, .root = 5, .val = 1, .from = 2}, 2, &out), 1);
    cr_assert_eq(out.kind, GALE_OP_FAILED);
    cr_assert_eq(out.from, 9);
    gale_acker_destroy(&a);
}

Test(acker, reset_touches_the_spout_and_expire_forgets_old_trees)
{
    gale_acker_t a;
    gale_acker_init(&a);
    gale_op_t out;
    apply(&a, &(gale_op_t){.kind = GALE_OP_INIT, .root = 5, .val = 1, .from = 2}, 100, &out);
    apply(&a, &(gale_op_t){.kind = GALE_OP_INIT, .root = 6, .val = 1, .from = 2}, 300, &out);
    cr_assert_eq(apply(&a, &(gale_op_t){.kind = GALE_OP_RESET, .root = 5}, 400, &out), 1);
    cr_assert_eq(out.kind, GALE_OP_TOUCH);
    cr_assert_eq(apply(&a, &(gale_op_t){.kind = GALE_OP_RESET, .root = 77}, 400, &out), 0);
    cr_assert_eq(gale_acker_expire(&a, 200), 1);
    cr_assert_eq(gale_acker_open_trees(&a), 1);
    gale_acker_destroy(&a);
}

Test(acker, the_first_fails_reason_goes_to_the_spout_and_a_later_ones_is_handed_back)
{
    gale_acker_t a;
    gale_acker_init(&a);
    gale_op_t out;
    uint32_t dropped;
    cr_assert_eq(
        gale_acker_apply(&a, &(gale_op_t){.kind = GALE_OP_FAIL, .root = 5, .val = 41, .from = 9}, 1, &out, &dropped),
        0);
    cr_assert_eq(dropped, 0);
    cr_assert_eq(
        gale_acker_apply(&a, &(gale_op_t){.kind = GALE_OP_FAIL, .root = 5, .val = 42, .from = 8}, 1, &out, &dropped),
        0);
    cr_assert_eq(dropped, 42, "the second fail's reason is nobody's: the caller frees it");
    cr_assert_eq(
        gale_acker_apply(&a, &(gale_op_t){.kind = GALE_OP_INIT, .root = 5, .val = 1, .from = 2}, 2, &out, &dropped), 1);
    cr_assert_eq(out.kind, GALE_OP_FAILED);
    cr_assert_eq(out.from, 9);
    cr_assert_eq(out.val, 41, "the first fail's reason goes with FAILED");
    cr_assert_eq(apply(&a, &(gale_op_t){.kind = GALE_OP_INIT, .root = 6, .val = 1, .from = 2}, 3, &out), 0);
    cr_assert_eq(apply(&a, &(gale_op_t){.kind = GALE_OP_ACK, .root = 6, .val = 1}, 3, &out), 1);
    cr_assert_eq(out.kind, GALE_OP_DONE);
    cr_assert_eq(out.val, 0, "DONE carries no reason");
    gale_acker_destroy(&a);
}
