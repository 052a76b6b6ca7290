/*
 * executor.h: a thread that runs a fixed set of tasks.
 *
 * Each executor has one input ring per producer executor (see ring.h) and one outbox per consumer executor. A
 * tuple for a task of the same executor is handed over by a direct call; a tuple for another executor goes into the
 * outbox for it, and outboxes are pushed into the rings in batches, at the latest at the end of each loop turn. An
 * outbox whose ring is full keeps what did not fit and marks the executor congested; while any executor is
 * congested no spout is asked for tuples, which bounds memory when a bolt is slow (Storm's backpressure).
 * An executor with nothing to do sleeps on a futex; producers wake it only when it says it is sleeping.
 */
#ifndef GALE_EXECUTOR_H
#define GALE_EXECUTOR_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>

#include "lane.h"
#include "pool.h"
#include "ring.h"
#include "task.h"

typedef struct gale_opvec {
    gale_op_t *v;
    size_t n, cap;
} gale_opvec_t;

struct gale_executor {
    gale_runtime_t *rt;
    int index;
    pthread_t thread;
    bool thread_started;
    gale_task_t **tasks;
    size_t n_tasks;
    gale_ring_t *in;     /* [n_lanes]: in[p] carries what lane p sends here */
    gale_lanes_t out;    /* [n_lanes]: what this executor has for lane c (deliveries, op batches, returns) */
    gale_opvec_t local_ops;    /* ops for tasks of this executor, applied between turns, never inside a plugin */
    uint64_t now_ns;           /* the time at the start of this loop turn */
    gale_pool_t pool;          /* tuple blocks this executor made, free for reuse */
    uint64_t next_timeout_scan_ns;
    uint64_t next_tick_ns;  /* the earliest timer here (tick tuple, window, watermark); UINT64_MAX: none */
    bool has_window_timers; /* a task here has a window or sends watermarks */
    uint32_t *scratch;   /* room for the largest parallelism: target tasks chosen by a grouping */
    bool congested;
    unsigned control_seen;
    unsigned finish_seen;
    bool inactive_seen; /* the runtime's `inactive` as this executor last applied it to its spouts */
    uint64_t lease_ns;  /* the runtime's lease_until_ns at the start of this loop turn (0: none) */
    unsigned swap_seen; /* the runtime's swap_seq as this executor last did it */
    void *held[GALE_BATCH]; /* ring entries popped before the lease ran out: run first once it is back */
    size_t n_held;
    uint64_t ckpt_seen, commit_seen, abort_seen; /* the runtime's checkpoint ids as this executor last acted */
    size_t align_held; /* entries its tasks hold while checkpoint barriers align (barrier.h) */
    /* Shared with producers and the control thread. */
    alignas(64) atomic_uint wake_seq;
    atomic_bool services_wanted; /* some task's service is wanted (gale__task_want_service) */
    atomic_int sleeping;
    alignas(64) atomic_ulong pushed; /* deliveries pushed into other executors' rings */
    atomic_ulong popped;             /* deliveries taken from this executor's rings */
    atomic_ulong epoch;              /* loop turns that did something */
    atomic_int idle;
    atomic_ulong open_trees;         /* spouts' pending and retrying trees */
    atomic_ulong retrying;           /* of which waiting for a replay */
    atomic_ulong replayable;         /* of which in spouts with a resume position (gale_replayable) */
    atomic_ulong rewinding;          /* of which in spouts whose source rewinds by itself (GALE_SPOUT_REWINDS) */
    atomic_ulong kept;               /* inputs bolts keep past execute (they settle them later, or at finish) */
    atomic_bool closed;              /* its thread closed its tasks and is about to return */
    /* Backpressure from here: the time its outboxes held more than the rings took (the spouts held meanwhile),
       ended stretches in congested_ns, the one under way since congested_since (0: none). */
    atomic_ulong congested_ns, congested_since;
};

/* Allocates the executor's rings and outboxes, one per lane: the executors, and, when the runtime has a driver
   that plugs one in, a lane to other processes (lane n_execs). The outboxes are connected by
   gale_executor_connect. 0 or GALE_ENOMEM. */
int gale_executor_init(gale_executor_t *e, gale_runtime_t *rt, int index, int n_lanes, size_t ring_capacity);
/* Frees what init allocated, releasing any delivery still queued (a stop that did not drain). */
void gale_executor_destroy(gale_executor_t *e, int n_lanes);

/* Connects e's lanes to the other executors' rings (every lane but the one a driver plugs in). */
void gale_executor_connect(gale_executor_t *e);
/* A gale_lane_wake_fn for a consumer that is an executor (`arg`): wakes it if it sleeps. */
void gale_executor_wake_if_sleeping(void *arg);

int gale_executor_start(gale_executor_t *e);
void gale_executor_join(gale_executor_t *e);
void gale_executor_wake(gale_executor_t *e);

/* Hands a delivery to its task: a direct call when the task runs on `from`, else into the outbox. */
void gale__dispatch(gale_executor_t *from, gale_tuple_t *dlv);
/* Runs a bolt's execute on one input and settles it (auto-ack/fail for basic bolts, release). */
void gale__execute(gale_task_t *t, gale_tuple_t *in);
/* Pushes everything queued (deliveries and partial op batches) into the rings now, for what cannot wait for the end
   of the loop turn (a reset_timeout from inside a long execute). */
void gale__executor_flush(gale_executor_t *e);
/* Sends an op to op->task: queued locally when that task runs here, else batched for its executor. */
void gale__send_op(gale_executor_t *from, const gale_op_t *op);

#endif
