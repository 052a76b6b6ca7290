/* The lanes between threads (lane.h): batching into rings, order, what a full ring keeps, op batches with ack
   merging, wakes, and the release of what was never delivered. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "lane.h"
#include "pool.h"

typedef struct {
    int wakes;
} consumer_t;

static void count_wake(void *arg) { ((consumer_t *)arg)->wakes++; }

/* An op batch as a ring entry, with one op whose root is `id`, so that entries can be told apart. */
static void *ops_item(uint64_t id)
{
    gale_op_batch_t *b = aligned_alloc(8, sizeof *b);
    cr_assert_not_null(b);
    b->n = 1;
    b->ops[0] = (gale_op_t){.kind = GALE_OP_FAIL, .task = 1, .root = id};
    return gale_item_make(b, GALE_ITEM_OPS);
}

static uint64_t item_id(void *item)
{
    cr_assert_eq(gale_item_kind(item), GALE_ITEM_OPS);
    return ((gale_op_batch_t *)gale_item_ptr(item))->ops[0].root;
}

static size_t pop_all(gale_ring_t *r, void **out, size_t cap)
{
    size_t n = 0, k;
    while (n < cap && (k = gale_ring_pop(r, out + n, cap - n)) > 0) n += k;
    return n;
}

Test(lane, entries_wait_for_a_batch_then_go_in_order)
{
    gale_lanes_t l;
    atomic_ulong pushed = 0;
    gale_ring_t ring;
    consumer_t c = {0};
    cr_assert_eq(gale_lanes_init(&l, 2, &pushed, "test"), 0);
    cr_assert_eq(gale_ring_init(&ring, 1024), 0);
    gale_lanes_connect(&l, 1, &ring, count_wake, &c);
    for (uint64_t i = 1; i < GALE_BATCH; i++) gale_lanes_send(&l, 1, ops_item(i));
    cr_assert(gale_ring_empty(&ring), "nothing is pushed before a batch is full");
    cr_assert_eq(l.n_pending, GALE_BATCH - 1);
    cr_assert_eq(c.wakes, 0);
    gale_lanes_send(&l, 1, ops_item(GALE_BATCH));
    cr_assert_eq(l.n_pending, 0);
    cr_assert_eq(atomic_load(&pushed), GALE_BATCH);
    cr_assert_eq(c.wakes, 1, "one wake per push, not per entry");
    gale_lanes_send(&l, 1, ops_item(GALE_BATCH + 1));
    cr_assert_eq(gale_lanes_flush_all(&l), 1);
    void *out[2 * GALE_BATCH];
    size_t n = pop_all(&ring, out, sizeof out / sizeof *out);
    cr_assert_eq(n, GALE_BATCH + 1);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(item_id(out[i]), i + 1, "entry %zu out of order", i);
        gale_item_release(out[i]);
    }
    cr_assert(gale_lanes_empty(&l));
    gale_lanes_destroy(&l);
    gale_ring_destroy(&ring);
}

Test(lane, a_full_ring_keeps_the_rest_pending_until_it_drains)
{
    gale_lanes_t l;
    atomic_ulong pushed = 0;
    gale_ring_t ring;
    consumer_t c = {0};
    cr_assert_eq(gale_lanes_init(&l, 1, &pushed, "test"), 0);
    cr_assert_eq(gale_ring_init(&ring, 16), 0);
    gale_lanes_connect(&l, 0, &ring, count_wake, &c);
    for (uint64_t i = 1; i <= 100; i++) gale_lanes_send(&l, 0, ops_item(i));
    gale_lanes_flush_all(&l);
    cr_assert_eq(l.n_pending, 100 - 16, "what did not fit stays queued (that is the executors' backpressure)");
    cr_assert_not(gale_lanes_empty(&l));
    void *out[128];
    uint64_t next = 1;
    while (next <= 100) {
        size_t n = pop_all(&ring, out, 128);
        for (size_t i = 0; i < n; i++, next++) {
            cr_assert_eq(item_id(out[i]), next);
            gale_item_release(out[i]);
        }
        gale_lanes_flush_all(&l);
        cr_assert(n > 0 || next > 100, "a drained ring takes more");
    }
    cr_assert_eq(atomic_load(&pushed), 100);
    cr_assert(gale_lanes_empty(&l));
    gale_lanes_destroy(&l);
    gale_ring_destroy(&ring);
}

Test(lane, an_unconnected_lane_holds_its_entries)
{
    gale_lanes_t l;
    atomic_ulong pushed = 0;
    cr_assert_eq(gale_lanes_init(&l, 1, &pushed, "test"), 0);
    for (uint64_t i = 1; i <= 3 * GALE_BATCH; i++) gale_lanes_send(&l, 0, ops_item(i));
    cr_assert_eq(gale_lanes_flush_all(&l), 0);
    cr_assert_eq(l.n_pending, 3 * GALE_BATCH);
    gale_lanes_destroy(&l); /* releases them: the sanitizer build finds a leak otherwise */
}

Test(lane, acks_of_one_tree_for_one_acker_merge)
{
    gale_lanes_t l;
    atomic_ulong pushed = 0;
    gale_ring_t ring;
    consumer_t c = {0};
    cr_assert_eq(gale_lanes_init(&l, 1, &pushed, "test"), 0);
    cr_assert_eq(gale_ring_init(&ring, 64), 0);
    gale_lanes_connect(&l, 0, &ring, count_wake, &c);
    gale_lanes_op(&l, 0, &(gale_op_t){.kind = GALE_OP_ACK, .task = 7, .root = 42, .val = 0x0f});
    gale_lanes_op(&l, 0, &(gale_op_t){.kind = GALE_OP_ACK, .task = 7, .root = 42, .val = 0xf0});
    gale_lanes_op(&l, 0, &(gale_op_t){.kind = GALE_OP_ACK, .task = 8, .root = 42, .val = 1});  /* another acker */
    gale_lanes_op(&l, 0, &(gale_op_t){.kind = GALE_OP_FAIL, .task = 7, .root = 42, .from = 3}); /* never merged */
    gale_lanes_op(&l, 0, &(gale_op_t){.kind = GALE_OP_ACK, .task = 7, .root = 42, .val = 0x100});
    cr_assert(gale_ring_empty(&ring), "a partial op batch waits for a flush");
    cr_assert_not(gale_lanes_empty(&l));
    gale_lanes_flush_all(&l);
    void *item;
    cr_assert_eq(gale_ring_pop(&ring, &item, 1), 1);
    gale_op_batch_t *b = gale_item_ptr(item);
    cr_assert_eq(b->n, 3);
    cr_assert_eq(b->ops[0].val, 0x1ff, "acks of root 42 for acker 7 XOR into one");
    cr_assert_eq(b->ops[1].task, 8);
    cr_assert_eq(b->ops[2].kind, GALE_OP_FAIL);
    gale_item_release(item);
    gale_lanes_destroy(&l);
    gale_ring_destroy(&ring);
}

Test(lane, a_full_op_batch_is_queued_at_once)
{
    gale_lanes_t l;
    atomic_ulong pushed = 0;
    cr_assert_eq(gale_lanes_init(&l, 1, &pushed, "test"), 0);
    for (uint64_t i = 1; i <= GALE_OP_BATCH + 1; i++)
        gale_lanes_op(&l, 0, &(gale_op_t){.kind = GALE_OP_ACK, .task = 1, .root = i, .val = i});
    cr_assert_eq(l.n_pending, 1, "one batch of %d ops queued, the next one being filled", GALE_OP_BATCH);
    cr_assert_not_null(l.to[0].op_fill);
    cr_assert_eq(l.to[0].op_fill->n, 1);
    gale_lanes_destroy(&l);
}

Test(lane, release_frees_every_kind_of_entry)
{
    gale_return_batch_t *r = malloc(sizeof *r);
    cr_assert_not_null(r);
    r->n = 2;
    r->blocks[0] = malloc(256);
    r->blocks[1] = malloc(512);
    gale_item_release(gale_item_make(r, GALE_ITEM_RETURNS));
    gale_item_release(ops_item(1));
    /* A control item (a checkpoint barrier) is malloc'ed by its sender and freed by whoever releases it. */
    gale_control_t *c = malloc(sizeof *c);
    cr_assert_not_null(c);
    *c = (gale_control_t){.kind = GALE_CONTROL_BARRIER, .from = 1, .to = 2, .id = 3};
    void *item = gale_item_make(c, GALE_ITEM_CONTROL);
    cr_assert_eq(gale_item_kind(item), GALE_ITEM_CONTROL);
    cr_assert_eq(gale_item_ptr(item), (void *)c);
    gale_item_release(item); /* under ASan a leak or a bad free fails the suite */
}
