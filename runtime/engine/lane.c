#include "lane.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pool.h"
#include "tuple.h"

/* Only the last few ops queued are looked at, which is where runs of acks of one tree are. */
#define ACK_MERGE_WINDOW 4

void gale_item_release(void *item)
{
    switch (gale_item_kind(item)) {
    case GALE_ITEM_OPS: free(gale_item_ptr(item)); break;
    case GALE_ITEM_RETURNS: {
        gale_return_batch_t *b = gale_item_ptr(item);
        for (uint32_t i = 0; i < b->n; i++) free(b->blocks[i]);
        free(b);
        break;
    }
    case GALE_ITEM_DELIVERY: gale__tuple_release(((gale_tuple_t *)item)->data); break;
    case GALE_ITEM_CONTROL: free(gale_item_ptr(item)); break;
    }
}

bool gale_op_merge_ack(gale_op_t *ops, size_t n, const gale_op_t *op)
{
    if (op->kind != GALE_OP_ACK) return false;
    for (size_t i = n, k = 0; i > 0 && k < ACK_MERGE_WINDOW; i--, k++) {
        gale_op_t *o = &ops[i - 1];
        if (o->kind == GALE_OP_ACK && o->root == op->root && o->task == op->task) {
            o->val ^= op->val;
            return true;
        }
    }
    return false;
}

int gale_lanes_init(gale_lanes_t *l, int n, atomic_ulong *pushed, const char *who)
{
    memset(l, 0, sizeof *l);
    l->pushed = pushed;
    l->who = who;
    l->to = calloc((size_t)(n > 0 ? n : 1), sizeof *l->to);
    if (!l->to) return GALE_ENOMEM;
    l->n = n;
    return 0;
}

void gale_lanes_destroy(gale_lanes_t *l)
{
    for (int c = 0; l->to && c < l->n; c++) {
        gale_lane_t *ln = &l->to[c];
        for (size_t i = 0; i < ln->n; i++) gale_item_release(ln->items[i]);
        free(ln->items);
        free(ln->op_fill);
    }
    free(l->to);
    memset(l, 0, sizeof *l);
}

void gale_lanes_connect(gale_lanes_t *l, int c, gale_ring_t *ring, gale_lane_wake_fn wake, void *wake_arg)
{
    l->to[c].ring = ring;
    l->to[c].wake = wake;
    l->to[c].wake_arg = wake_arg;
}

void gale__lanes_grow_and_send(gale_lanes_t *l, int c, void *item)
{
    gale_lane_t *ln = &l->to[c];
    size_t cap = ln->cap ? ln->cap * 2 : GALE_BATCH * 2;
    void **items = realloc(ln->items, cap * sizeof *items);
    if (!items) {
        gale_logf(GALE_LOG_ERROR, l->who, "out of memory queueing for lane %d: dropped", c);
        gale_item_release(item);
        return;
    }
    ln->items = items;
    ln->cap = cap;
    ln->items[ln->n++] = item;
    l->n_pending++;
}

size_t gale_lanes_flush(gale_lanes_t *l, int c)
{
    gale_lane_t *ln = &l->to[c];
    if (!ln->n || !ln->ring) return 0;
    size_t pushed = gale_ring_push(ln->ring, (void *const *)ln->items, ln->n);
    if (!pushed) return 0;
    memmove(ln->items, ln->items + pushed, (ln->n - pushed) * sizeof *ln->items);
    ln->n -= pushed;
    l->n_pending -= pushed;
    /* Only this thread writes the counter: a plain add would do, but the control thread reads it. */
    atomic_store_explicit(l->pushed, atomic_load_explicit(l->pushed, memory_order_relaxed) + pushed,
                          memory_order_release);
    /* Pairs with the fence a consumer makes between saying it sleeps and looking at its rings once more. */
    atomic_thread_fence(memory_order_seq_cst);
    ln->wake(ln->wake_arg);
    return pushed;
}

size_t gale_lanes_flush_all(gale_lanes_t *l)
{
    for (int c = 0; c < l->n; c++) {
        gale_lane_t *ln = &l->to[c];
        if (ln->op_fill) {
            gale_op_batch_t *b = ln->op_fill;
            ln->op_fill = NULL;
            gale_lanes_send(l, c, gale_item_make(b, GALE_ITEM_OPS));
        }
    }
    if (!l->n_pending) return 0;
    size_t moved = 0;
    for (int c = 0; c < l->n; c++) moved += gale_lanes_flush(l, c);
    return moved;
}

void gale_lanes_op(gale_lanes_t *l, int c, const gale_op_t *op)
{
    gale_lane_t *ln = &l->to[c];
    gale_op_batch_t *b = ln->op_fill;
    if (!b) {
        b = ln->op_fill = aligned_alloc(8, sizeof *b);
        if (!b) {
            gale_logf(GALE_LOG_ERROR, l->who, "out of memory batching an op: dropped (its tree will time out)");
            return;
        }
        b->n = 0;
    }
    if (gale_op_merge_ack(b->ops, b->n, op)) return;
    b->ops[b->n++] = *op;
    if (b->n == GALE_OP_BATCH) {
        ln->op_fill = NULL;
        gale_lanes_send(l, c, gale_item_make(b, GALE_ITEM_OPS));
    }
}

bool gale_lanes_empty(const gale_lanes_t *l)
{
    if (l->n_pending) return false;
    for (int c = 0; c < l->n; c++)
        if (l->to[c].op_fill) return false;
    return true;
}
