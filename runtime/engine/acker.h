/*
 * acker.h: Apache Storm's XOR tuple-tree tracking, as the state of an acker task, and the small system messages
 * ("ops") that tasks send each other to drive it.
 *
 * A spout emit with a message id starts a tree: a random root id, and a random edge id per delivery. The spout sends
 * INIT(root, XOR of those edges) to the acker that owns the root. A bolt that emits anchored to an input gives
 * each new delivery a fresh edge id e, XORs e into the input's ack value and into the child's id for each root;
 * when it acks the input it sends ACK(root, id ^ ack value). Every edge id thus enters the acker's XOR exactly
 * twice, once when created and once when acked, and the XOR is 0 exactly when the whole tree is acked (with a
 * 2^-64 chance of a false zero). Messages may arrive in any order: an ACK can come before its tree's INIT.
 * An explicit FAIL anywhere fails the tree. The acker tells the spout task with DONE or FAILED; timeouts are kept
 * by the spout task, which knows its message ids (see spout_pending in the executor).
 */
#ifndef GALE_ACKER_H
#define GALE_ACKER_H

#include <stddef.h>
#include <stdint.h>

#include "tuple.h"
#include "u64map.h"

/* xorshift64*: a random 64-bit number that is never 0 (0 means "no id"); `state` must start non-zero. */
static inline uint64_t gale_rand64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    uint64_t r = x * 0x2545f4914f6cdd1dull;
    return r ? r : 1;
}

typedef enum gale_op_kind {
    GALE_OP_INIT = 1, /* spout -> acker: val = XOR of the first edges, from = spout task */
    GALE_OP_ACK,      /* bolt -> acker: val = the input's id for this root XOR its ack value */
    GALE_OP_FAIL,     /* bolt -> acker: from = the failing task; val = its reason's id (fail_reason.h), or 0 */
    GALE_OP_RESET,    /* bolt -> acker: restart the tree's timeout (Storm's resetTimeout) */
    GALE_OP_DONE,     /* acker -> spout: the tree completed */
    GALE_OP_FAILED,   /* acker -> spout: the tree failed; from = the task that failed it, val = its reason's id */
    GALE_OP_TOUCH,    /* acker -> spout: restart the tree's timeout */
} gale_op_kind_t;

/* One system message. `task` is where it goes. */
typedef struct gale_op {
    uint32_t kind;
    uint32_t task;
    uint64_t root;
    uint64_t val;
    uint32_t from;
    uint32_t pad;
} gale_op_t;

typedef struct gale_acker_entry {
    uint64_t xor;
    uint64_t created_ns;
    uint32_t spout_task; /* 0 until INIT arrives */
    uint32_t fail_task;  /* a FAIL that came before INIT */
    uint8_t failed;
    uint32_t reason; /* the first FAIL's reason id (fail_reason.h), 0: none; in what was padding */
} gale_acker_entry_t;

typedef struct gale_acker {
    gale_u64map_t trees;
} gale_acker_t;

int gale_acker_init(gale_acker_t *a);
void gale_acker_destroy(gale_acker_t *a);

/*
 * Applies one op sent to the acker. Returns 1 and fills *out (DONE, FAILED or TOUCH for the spout task) when the
 * spout must hear of it, 0 when not, GALE_ENOMEM when the tree could not be recorded (it will time out). A FAIL
 * after the first of its tree carries a reason nobody will read: *dropped gets its id, for the caller to free
 * (0 when none).
 */
int gale_acker_apply(gale_acker_t *a, const gale_op_t *op, uint64_t now_ns, gale_op_t *out, uint32_t *dropped);

/* Forgets trees created before `before_ns` (their spouts have timed them out); returns how many. */
size_t gale_acker_expire(gale_acker_t *a, uint64_t before_ns);

/* ---- linking trees: what emit and ack do to the ids, kept here beside the XOR they feed ------------------- */

/* How many root slots a tuple anchored to `anchors` needs at most (the sum of theirs). */
size_t gale_tree_roots_bound(const gale_tuple_t *const *anchors, size_t n);

/* Sets d's roots to the union of the anchors' roots. Call before adding deliveries (they size their ids by it). */
void gale_tree_set_roots(gale_tuple_data_t *d, const gale_tuple_t *const *anchors, size_t n);

/* After the deliveries are added: gives each (delivery, anchor) pair a fresh edge id, XORed into the anchor's ack
   value and into the delivery's id of every root the anchor belongs to (Storm's BoltOutputCollector). */
void gale_tree_link(gale_tuple_data_t *d, const gale_tuple_t *const *anchors, size_t n, uint64_t *rng);

/* Spout emit: makes `root` d's only root and gives each delivery a fresh edge id. Returns their XOR, the value of
   the INIT op (0 when there are no deliveries: the tree is complete at once). */
uint64_t gale_tree_start(gale_tuple_data_t *d, uint64_t root, uint64_t *rng);

/* The value an ACK of `in` carries for its root `r` (index into in->data->roots). */
static inline uint64_t gale_tree_ack_val(const gale_tuple_t *in, uint32_t r) { return in->ids[r] ^ in->ack_val; }

/* The acker task that owns `root`, among `n_ackers` tasks from `first`. */
static inline uint32_t gale_tree_acker(uint64_t root, uint32_t first, uint32_t n_ackers)
{
    return first + (uint32_t)(root % n_ackers);
}

static inline size_t gale_acker_open_trees(const gale_acker_t *a) { return a->trees.count; }

#endif
