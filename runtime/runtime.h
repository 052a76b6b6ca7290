/*
 * runtime.h: the in-process engine that runs a resolved topology on a pool of executor threads (local mode).
 *
 * gale_runtime_run() blocks the calling thread, which drives a libuv loop: SIGINT/SIGTERM, the --duration timer
 * and the control state machine. The lifecycle of a run:
 *   running   -> spouts are asked for tuples
 *   draining  -> every spout is done, or a stop was asked for (spouts are deactivated); waits until nothing is in
 *                flight (every executor idle and every ring empty, seen twice in a row)
 *   finishing -> `finish` of each bolt component in topological order, each followed by another drain, so that
 *                what a finish emits is processed before the next component finishes
 *   stopping  -> executors close their tasks (`close`, `cleanup`) and exit
 * A second signal skips the drain and the finishes. A task whose open/prepare fails stops the run with an error.
 */
#ifndef GALE_RUNTIME_H
#define GALE_RUNTIME_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "executor.h"
#include "journal.h"
#include "router.h"
#include "topology.h"

typedef struct gale_runtime_opts {
    int threads;          /* 0: config.threads, else one per core */
    double duration_s;    /* 0: until done or signalled */
    double drain_timeout_s; /* how long a stop waits for in-flight tuples; 0: 10 s */
    size_t ring_capacity; /* 0: 1024 deliveries */
    bool handle_signals;  /* install SIGINT/SIGTERM handlers on the loop */
    struct gale_replay_set *replay; /* replay.h: every spout is replaced by the replay spout fed from this set */
} gale_runtime_opts_t;

typedef enum gale_run_phase {
    GALE_RUN_RUNNING = 0,
    GALE_RUN_DEACTIVATED,
    GALE_RUN_STOPPING,
} gale_run_phase_t;

struct gale_runtime {
    gale_topology_t *topo; /* borrowed */
    gale_runtime_opts_t opts;
    gale_router_t router;
    gale_task_t **tasks;   /* by task id, [n_all_tasks + 1], tasks[0] unused */
    uint32_t n_all_tasks;  /* the topology's tasks, then the ackers */
    gale_component_t acker_comp; /* the system component "__acker" (no plugin) */
    uint64_t timeout_ns;   /* message_timeout_s */
    gale_journal_t *journal;
    uint16_t *task_exec;   /* executor index of each task id */
    gale_executor_t *execs;
    int n_execs;
    uint32_t n_spout_tasks;
    bool acking;           /* ackers > 0 */
    uint64_t start_ns, end_ns;
    alignas(64) atomic_int congested; /* executors whose outboxes are over their rings */
    alignas(64) atomic_uint control_seq; /* bumped on every change below; executors compare it each turn */
    atomic_int phase;                    /* gale_run_phase_t */
    atomic_uint finish_seq;
    atomic_int finish_component;
    atomic_uint finish_acks;
    atomic_uint spouts_done;
    atomic_int failed;                   /* a task failed to open: stop with an error */
    atomic_int stop_requested;           /* gale_runtime_request_stop() */
    atomic_uint closed_execs;
};

/* Builds tasks, routes and executors for a resolved topology (borrowed; it must outlive the runtime). */
int gale_runtime_new(gale_topology_t *topo, const gale_runtime_opts_t *opts, gale_runtime_t **out,
                     gale_diag_t *diag);
/* Runs to the end. 0, or GALE_EPLUGIN when a task failed to open. */
int gale_runtime_run(gale_runtime_t *rt);
/* Asks a running topology to stop (drain, finish, close), from any thread. */
void gale_runtime_request_stop(gale_runtime_t *rt);
/* Per-component figures, as `gale run` prints them at exit. */
void gale_runtime_report(const gale_runtime_t *rt, FILE *f);
/* The same figures as one JSON object (with p50/p99/p99.9 of execute, complete and end-to-end latency). */
int gale_runtime_stats_json(const gale_runtime_t *rt, FILE *f);
/* Sums of one component's task metrics; component -1 is the ackers. */
void gale_runtime_component_metrics(const gale_runtime_t *rt, int component, gale_task_metrics_t *out);
void gale_runtime_free(gale_runtime_t *rt); /* NULL is a no-op */

/* Executors call these to move the run forward. */
void gale__runtime_control_changed(gale_runtime_t *rt);

#endif
