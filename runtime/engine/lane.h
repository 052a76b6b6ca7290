/*
 * lane.h: what one thread has queued for each of the others, and the entries that travel between them.
 *
 * A lane is a thread that takes part in moving tuples: each executor, and in a worker the I/O lane to the other
 * workers. Between two lanes there is one SPSC ring (ring.h) per direction. A producer does not push each entry
 * into the ring as it comes: it queues entries in an outbox per consumer and pushes them in batches (at
 * GALE_BATCH entries, and whenever its owner flushes), and it gathers acker messages for one consumer into op
 * batches, XOR-merging acks of one tree on the way. An outbox whose ring is full keeps what did not fit; its
 * owner sees that in `n_pending` (the executors' backpressure, the I/O lane's reason to stop reading).
 *
 * Who reads a ring is the consumer's business: each outbox is connected to its ring together with a function that
 * wakes the consumer after a push (an executor sleeping on its futex, the I/O lane's libuv async handle). So an
 * executor never knows whether it is feeding another executor or another process.
 *
 * All of a gale_lanes_t is touched only by its owner's thread, except the `pushed` counter it is given, which the
 * control thread reads.
 */
#ifndef GALE_LANE_H
#define GALE_LANE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acker.h"
#include "ring.h"

#define GALE_BATCH 64
#define GALE_OP_BATCH 64

/*
 * A ring entry is a pointer to something 8-byte aligned whose low two bits say what it is. Every kind is released
 * by gale_item_release() when a stop leaves it undelivered.
 */
enum {
    GALE_ITEM_DELIVERY = 0u, /* a gale_tuple_t delivery: one reference to its tuple's data */
    GALE_ITEM_OPS = 1u,      /* a gale_op_batch_t (malloc'ed, freed by the consumer) */
    GALE_ITEM_RETURNS = 2u,  /* a gale_return_batch_t of pool blocks going home (pool.h) */
    GALE_ITEM_CONTROL = 3u,  /* a gale_control_t (malloc'ed, freed by the consumer) that flows in order with the
                                tuples of its lane: a checkpoint barrier */
    GALE_ITEM_MASK = 3u,
};

static inline unsigned gale_item_kind(const void *item) { return (unsigned)((uintptr_t)item & GALE_ITEM_MASK); }
static inline void *gale_item_ptr(void *item) { return (void *)((uintptr_t)item & ~(uintptr_t)GALE_ITEM_MASK); }
static inline void *gale_item_make(void *p, unsigned kind) { return (void *)((uintptr_t)p | kind); }

/* A control item from task `from` to task `to`, behind every tuple `from` sent `to` before it, on the same lane:
   checkpoint `id`'s barrier (barrier.h), or a watermark, `id` its time (watermark.h, window.h). */
enum { GALE_CONTROL_BARRIER = 1, GALE_CONTROL_WATERMARK = 2 };
typedef struct gale_control {
    uint32_t kind;
    uint32_t from, to;
    uint64_t id;
} gale_control_t;

/* Releases what an entry holds, for one that will not be delivered (a stop that did not drain). */
void gale_item_release(void *item);

/* Acker messages travel between lanes in batches. */
typedef struct gale_op_batch {
    uint32_t n;
    gale_op_t ops[GALE_OP_BATCH];
} gale_op_batch_t;

/* Acks of one tree bound for one acker XOR together in any order, and the acker reads nothing else of them: folds
   `op` into one of the last few of `ops[0..n)` when it can (a count bolt acking the words of one sentence in a row
   sends one op for them all). True when it did. */
bool gale_op_merge_ack(gale_op_t *ops, size_t n, const gale_op_t *op);

/* Wakes the consumer of a ring after entries were pushed into it (called after a full fence, so that a consumer
   that checks its rings after saying it sleeps sees them, or is seen sleeping). */
typedef void (*gale_lane_wake_fn)(void *arg);

/* One producer's side towards one consumer. */
typedef struct gale_lane {
    gale_ring_t *ring; /* the consumer's ring from this producer (borrowed); NULL: not connected (yet) */
    gale_lane_wake_fn wake;
    void *wake_arg;
    void **items;      /* the outbox: entries not yet pushed, in order */
    size_t n, cap;
    gale_op_batch_t *op_fill; /* the op batch being filled for this consumer */
} gale_lane_t;

typedef struct gale_lanes {
    gale_lane_t *to;         /* [n] */
    int n;
    size_t n_pending;        /* entries waiting in outboxes, all consumers together */
    atomic_ulong *pushed;    /* entries pushed into rings, for the drain rule's counts (borrowed) */
    const char *who;         /* the owner, for log lines */
} gale_lanes_t;

/* Prepares `n` unconnected lanes. `pushed` (borrowed) counts what is pushed; `who` names the owner in log lines.
   0 or GALE_ENOMEM (then destroy it). */
int gale_lanes_init(gale_lanes_t *l, int n, atomic_ulong *pushed, const char *who);
/* Releases every entry still queued and frees the outboxes. */
void gale_lanes_destroy(gale_lanes_t *l);
/* Connects lane c to the consumer's ring (borrowed) and its wake function. */
void gale_lanes_connect(gale_lanes_t *l, int c, gale_ring_t *ring, gale_lane_wake_fn wake, void *wake_arg);

/* Queue growth: out of memory drops (releases) the entry and logs it; a tuple's tree then times out and replays. */
void gale__lanes_grow_and_send(gale_lanes_t *l, int c, void *item);
/* Pushes what fits of lane c's outbox into its ring and wakes the consumer; returns how many entries went. */
size_t gale_lanes_flush(gale_lanes_t *l, int c);
/* Ships every partial op batch and pushes what fits of every outbox; returns how many entries went. */
size_t gale_lanes_flush_all(gale_lanes_t *l);

/* Queues an entry (tagged) for consumer c; a full batch is pushed at once. On the hot path: inline. */
static inline void gale_lanes_send(gale_lanes_t *l, int c, void *item)
{
    gale_lane_t *ln = &l->to[c];
    if (ln->n == ln->cap) {
        gale__lanes_grow_and_send(l, c, item);
    } else {
        ln->items[ln->n++] = item;
        l->n_pending++;
    }
    if (ln->n >= GALE_BATCH) gale_lanes_flush(l, c);
}

/* Adds an op to consumer c's batch (merging acks); a full batch is queued at once. Out of memory drops the op: its
   tree times out. */
void gale_lanes_op(gale_lanes_t *l, int c, const gale_op_t *op);

/* Nothing queued and no op batch open. */
bool gale_lanes_empty(const gale_lanes_t *l);

#endif
