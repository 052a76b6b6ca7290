/*
 * drain.h: when a run drains, finishes its bolts and stops. One rule, a pure function of a summed status sample
 * and the time, used by local mode (runtime.c), by the supervisor of a topology's workers (supervisor.c) and, later,
 * by nimbus. It does no I/O and reads no clock: its caller samples the status every tick, passes the time, carries
 * out the command it gets back and logs the note that comes with it.
 *
 * The lifecycle:
 *   running   -> spouts are asked for tuples.
 *   draining  -> every spout is done (no deadline: every open tree completes, fails or times out by itself), or a
 *                stop was asked for (the spouts are deactivated; the drain waits at most `wait`). It ends when
 *                nothing is in flight: every part idle, everything sent received, nothing moved since the last
 *                sample, and the trees settled (none open, or only those that bolts hold on purpose).
 *   finishing -> `finish` of each bolt component in the order given, each followed by another drain, so that what
 *                a finish emits is processed before the next component finishes.
 *   stopping  -> the tasks are closed. Final.
 * Bounds, so that no state waits for ever once a stop was asked for:
 *   - a drain (or a finish's drain) that passes its deadline goes on *hurried*: the remaining finishes still run,
 *     each waiting for its acknowledgement and for quiet at most GALE_DRAIN_FINISH_GRACE_NS, then the next;
 *     a finish that is not acknowledged within that grace (a bolt stuck in a call) stops the run;
 *   - a first stop request in any state bounds what is left by `wait` (and is noted); a second one hurries the
 *     finishes at once; a third stops without them.
 * The run is *incomplete* when it stopped with tuple trees open, records in flight, or a finish not done: the
 * caller says so and ends non-zero. A task that failed to open stops the run at once (no finishes).
 */
#ifndef GALE_DRAIN_H
#define GALE_DRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GALE_DRAIN_FINISH_GRACE_NS 2000000000ull

/* One sample of a run's summed status. */
typedef struct gale_flow {
    bool idle;            /* every part (executor, worker) was idle with nothing in its rings when sampled */
    bool stale;           /* some part's status is not current (a worker restarting): no end can be judged */
    bool in_flight;       /* records sent and not yet received (rings, wire) */
    uint64_t activity;    /* a sum that moves whenever any part does anything (loop turns, records moved) */
    uint64_t open_trees;  /* spouts' pending trees, those waiting for a replay included */
    uint64_t retrying;    /* of which waiting for a replay: they always hold the drain */
    uint64_t kept;        /* inputs bolts hold past execute, settled in their finish */
    unsigned spouts_done, spout_tasks;
    bool finish_acked;    /* every part has run the last finish command */
    bool failed;          /* a task failed to open */
} gale_flow_t;

typedef enum gale_drain_state {
    GALE_DRAIN_RUNNING = 0,
    GALE_DRAIN_DRAINING,
    GALE_DRAIN_FINISHING,
    GALE_DRAIN_STOPPING,
} gale_drain_state_t;

typedef enum gale_drain_cmd_kind {
    GALE_DRAIN_NONE = 0,
    GALE_DRAIN_DEACTIVATE, /* deactivate the spouts */
    GALE_DRAIN_FINISH,     /* run `finish` of component `component` everywhere */
    GALE_DRAIN_STOP,       /* close the tasks and end */
} gale_drain_cmd_kind_t;

typedef struct gale_drain_cmd {
    gale_drain_cmd_kind_t kind;
    int component;    /* GALE_DRAIN_FINISH */
    const char *note; /* a static sentence for the log when something noteworthy happened; NULL otherwise */
    bool warn;        /* the note is a warning */
} gale_drain_cmd_t;

typedef struct gale_drain {
    const int *finish_order; /* bolt components in the order they finish (borrowed) */
    size_t n_finish;
    unsigned lost_after;     /* samples of quiet after which records still "in flight" count as lost (a worker
                                that died with them); 0: never */
    gale_drain_state_t state;
    size_t finish_pos;       /* finishes issued */
    uint64_t deadline_ns;    /* of the drain (UINT64_MAX: none) */
    uint64_t finish_deadline_ns; /* of the current hurried finish */
    gale_flow_t prev;
    bool have_prev;
    unsigned quiet;          /* samples in a row with nothing moving */
    unsigned stop_requests;
    bool hurried;            /* a deadline passed: finishes no longer wait for a full drain */
    bool incomplete;         /* it stopped (or will) with work not done */
    bool failed;             /* it stopped because a task failed to open */
    uint64_t open_at_stop;   /* the trees open when it stopped */
} gale_drain_t;

/* `finish_order` is borrowed and must outlive the drain. */
void gale_drain_init(gale_drain_t *d, const int *finish_order, size_t n_finish, unsigned lost_after);

/* The next command, from one status sample taken at `now_ns`. Call it every tick until it returns STOP. */
gale_drain_cmd_t gale_drain_step(gale_drain_t *d, const gale_flow_t *f, uint64_t now_ns);

/* A stop was asked for (a signal, --duration, a kill command): see the bounds above. `wait_ns` bounds the drain. */
gale_drain_cmd_t gale_drain_request_stop(gale_drain_t *d, uint64_t now_ns, uint64_t wait_ns);

const char *gale_drain_state_name(gale_drain_state_t s);

#endif
