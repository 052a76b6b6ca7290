/*
 * runtime.h: the in-process engine that runs a resolved topology on a pool of executor threads (local mode).
 *
 * gale_runtime_run() blocks the calling thread, which drives a libuv loop: SIGINT/SIGTERM (SIGUSR1 prints the
 * metrics so far), the --duration timer and the control state machine, whose rule is drain.h's: run, drain, finish
 * the bolts in topological order, stop; every state bounded once a stop was asked for. A task whose open/prepare
 * fails stops the run with an error. Once stopping, executors have a few seconds to close their tasks; one that
 * does not (a bolt stuck in execute) is named in the log and left behind: the run returns GALE_ETIMEDOUT and the
 * process must exit without freeing the runtime (gale_runtime_free then does nothing).
 */
#ifndef GALE_RUNTIME_H
#define GALE_RUNTIME_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

#include "checkpoint.h"
#include "executor.h"
#include "fail_reason.h"
#include "journal.h"
#include "router.h"
#include "topology.h"

typedef struct gale_runtime gale_runtime_t;

/*
 * A driver runs a runtime's lifecycle from above instead of the runtime's own drain rule: worker mode (worker.h)
 * is one, where a supervisor decides over a control pipe when to start, drain, finish and stop, and where the
 * tasks of other processes are reached through a lane the driver plugs in at index n_execs (it connects each
 * executor's outbox for that lane to a ring of its own with gale_lanes_connect, and reads the executors' rings
 * in[n_execs] from its side). The runtime knows nothing else of it. Every callback runs on the control thread.
 */
typedef struct gale_runtime_driver {
    /* On the control loop, before any executor runs. The driver starts the executors (gale__runtime_start) when
       it is ready. Non-zero: the run fails (the other callbacks are still called). */
    int (*start)(gale_runtime_t *rt, uv_loop_t *loop, void *arg);
    /* Once the executors have stopped (or were left behind stuck): its last words, and uv_close of its handles. */
    void (*stop)(gale_runtime_t *rt, void *arg);
    /* After the loop ran the close callbacks; not called when a stuck executor may still use the lane. */
    void (*free)(gale_runtime_t *rt, void *arg);
    /* Checkpoints: this process's part of checkpoint `id` is stored (rc 0, `bytes` of snapshots) or failed (rc and
       `why`), for the driver to tell its coordinator (checkpoint.h, gale__checkpointer_begin). */
    void (*checkpointed)(gale_runtime_t *rt, void *arg, uint64_t id, int rc, uint64_t bytes, const char *why);
    void *arg;
} gale_runtime_driver_t;

/*
 * A watcher looks at a run from its control loop without driving it: the HTTP endpoint of `gale run --http`
 * (http/). start runs on the loop before the executors start (non-zero: the run fails, stop is still called); stop
 * once they have stopped, to close its handles, before the loop closes the rest. Both on the control thread.
 */
typedef struct gale_runtime_watcher {
    int (*start)(gale_runtime_t *rt, uv_loop_t *loop, void *arg);
    void (*stop)(gale_runtime_t *rt, void *arg);
    void *arg;
} gale_runtime_watcher_t;

typedef struct gale_runtime_opts {
    int threads;          /* 0: config.threads, else one per core */
    double duration_s;    /* 0: until done or signalled */
    double drain_timeout_s; /* how long a stop waits for in-flight tuples; 0: config.drain_timeout_s */
    size_t ring_capacity; /* 0: 1024 deliveries */
    bool handle_signals;  /* install SIGINT/SIGTERM handlers on the loop */
    /* Every spout task runs this descriptor instead of its own, with `spout_override_arg` in its task (both
       borrowed): `gale replay` runs a topology with its built-in replay spout (replay.h) this way. */
    const gale_plugin_t *spout_override;
    void *spout_override_arg;
    /* NULL: local mode, the runtime drives itself. Else the driver does (borrowed; it must outlive the run), and
       this process runs the tasks the scheduler gives worker `worker_index` of `n_workers`. */
    const gale_runtime_driver_t *driver;
    const gale_runtime_watcher_t *watcher; /* NULL: none (borrowed; it must outlive the run) */
    int n_workers;
    int worker_index;
    bool fresh_state; /* checkpoints: wipe the topology's state before the run instead of restoring it */
} gale_runtime_opts_t;

/* The tasks downstream of a component: of every component subscribed to any of its streams (barrier.h). */
typedef struct gale_downstream {
    uint32_t *tasks;
    uint32_t n;
} gale_downstream_t;

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
    gale_component_t system_comp; /* "__system": where tick tuples come from (stream "__tick", field "rate_secs") */
    uint64_t timeout_ns;   /* message_timeout_s */
    gale_journal_t *journal;
    gale_reasons_t *reasons; /* why trees failed, on their way to the journal (fail_reason.h) */
    uint16_t *task_exec;   /* executor index of each task id */
    gale_executor_t *execs;
    int n_execs;
    int n_lanes;           /* n_execs, plus the driver's lane to other processes (index n_execs) when driven */
    uint16_t *task_worker; /* the worker that runs each task id */
    uint32_t n_spout_tasks;
    bool acking;           /* ackers > 0 */
    uint64_t start_ns, end_ns;
    alignas(64) atomic_int congested; /* executors whose outboxes are over their rings */
    atomic_int peer_pressure;         /* worker mode: peer workers whose bolts are behind (they hold our spouts) */
    alignas(64) atomic_uint control_seq; /* bumped on every change below; executors compare it each turn */
    atomic_int phase;                    /* gale_run_phase_t */
    atomic_int inactive; /* deactivated by the user (`gale deactivate`) while running: the spouts are not called,
                            the trees in flight finish, and activation calls them again; unlike the phase's
                            deactivation for a stop, it can be undone */
    /* Cluster mode's fence: the CLOCK_MONOTONIC time (ns) until which this process may take tuples, renewed by its
       supervisor while that holds its ZooKeeper session; 0: no lease (local mode, `gale run --workers`, a daemon's
       own assignments). Past it the executors run no plugin code but close (executor.c, lease_over). */
    atomic_ulong lease_until_ns;
    /* A hot swap under way (gale__runtime_swap): bolt swap_component's tasks go to swap_desc; each executor adds to
       swap_acks once it did its own, and sets swap_failed (with swap_why) when a prepare failed. */
    atomic_uint swap_seq, swap_acks;
    atomic_int swap_failed;
    int swap_component;
    const gale_plugin_t *swap_desc;
    const gale_stream_t *swap_streams; /* swap_desc's, when a superset of the component's (NULL: the same) */
    size_t swap_n_streams;
    char swap_why[256];
    atomic_uint finish_seq;
    atomic_int finish_component;
    atomic_uint finish_acks;
    atomic_uint spouts_done;
    atomic_int failed;                   /* a task failed to open: stop with an error */
    atomic_int stop_requested;           /* gale_runtime_request_stop() */
    atomic_uint closed_execs;
    unsigned started_execs; /* executor threads started (control thread only): those the stop waits for */
    /* Checkpoints (checkpoint.h, barrier.h), when config.checkpoint_interval_ms is set: the coordinator, the
       checkpoint the spouts are to start, the latest complete one and the latest abandoned one (0: none). */
    struct gale_checkpointer *ckpt;
    gale_downstream_t *down; /* [n_components] */
    atomic_ulong ckpt_trigger, ckpt_committed, ckpt_aborted;
    gale_checkpoint_stats_t ckpt_stats; /* the coordinator's figures at the end of the run */
    bool stuck;            /* a task did not return from a call after the stop: the runtime must not be freed */
    void *ctl;             /* the control state of gale_runtime_run, while it runs */
};

/* What a worker tells its supervisor (worker mode). */
typedef struct gale_run_status {
    bool idle;
    uint64_t epochs, pushed, popped, open_trees, retrying, kept;
    uint64_t replayable; /* of the open trees, those in spouts with a resume position */
    uint64_t rewinding;  /* of the open trees, those in spouts whose source rewinds by itself (GALE_SPOUT_REWINDS) */
    unsigned spouts_done, spout_tasks, finish_seq;
    int failed;
} gale_run_status_t;

/* Builds tasks, routes and executors for a resolved topology (borrowed; it must outlive the runtime). */
int gale_runtime_new(gale_topology_t *topo, const gale_runtime_opts_t *opts, gale_runtime_t **out,
                     gale_diag_t *diag);
/* Runs to the end, between the plugins' process hooks (process.h). 0; GALE_EPLUGIN when a task failed to open
   or a plugin's process_init failed; GALE_EINCOMPLETE when it stopped with tuple trees
   open (they are journaled with cause "stopped" when there is a journal); GALE_ETIMEDOUT when a task did not
   return after the stop (rt->stuck: exit the process without freeing). */
int gale_runtime_run(gale_runtime_t *rt);
/* Asks a running topology to stop (drain, finish, close), from any thread. */
void gale_runtime_request_stop(gale_runtime_t *rt);
/* Per-component metrics, as `gale run` prints them at exit. */
void gale_runtime_report(const gale_runtime_t *rt, FILE *f);
/* The same metrics as one JSON object (with p50/p99/p99.9 of execute, complete and end-to-end latency). A driven
   runtime's metrics also carry the latency histograms, so that whoever gathers several can merge them exactly. */
int gale_runtime_metrics_json(const gale_runtime_t *rt, FILE *f);
/* Sums of one component's task metrics; component -1 is the ackers. */
void gale_runtime_component_metrics(const gale_runtime_t *rt, int component, gale_task_metrics_t *out);
/* One task's (1 to n_all_tasks), read while it runs: a figure may be a few tuples behind. */
void gale_runtime_task_metrics(const gale_runtime_t *rt, uint32_t task, gale_task_metrics_t *out);
/* The metrics a task's plugin registered, or a component's over its tasks (plugin_metrics.h), read while it runs. */
struct gale_metric_set;
void gale_runtime_task_plugin_metrics(const gale_runtime_t *rt, uint32_t task, struct gale_metric_set *out);
void gale_runtime_component_plugin_metrics(const gale_runtime_t *rt, int component, struct gale_metric_set *out);
/* Seconds the run has taken: until its end, or until now while it runs. */
double gale_runtime_seconds(const gale_runtime_t *rt);
void gale_runtime_free(gale_runtime_t *rt); /* NULL, and a stuck runtime, are a no-op */

/* Executors call these to move the run forward. */
void gale__runtime_control_changed(gale_runtime_t *rt);

/* For a driver: what its commands do here, and the status it decides on. */
void gale__runtime_start(gale_runtime_t *rt); /* starts the executor threads (a worker, on "start") */
void gale__runtime_deactivate(gale_runtime_t *rt);
/* The user's activation (Storm's activate/deactivate). Before gale__runtime_start too: a worker started again while
   its topology is inactive opens its spouts without activating them. */
void gale__runtime_set_active(gale_runtime_t *rt, bool active);
/* Cluster mode's lease (lease_until_ns above): until `until_ns` on CLOCK_MONOTONIC; before gale__runtime_start too. */
void gale__runtime_set_lease(gale_runtime_t *rt, uint64_t until_ns);
void gale__runtime_finish_component(gale_runtime_t *rt, int component);
/* Hot swap of `component` (control thread, while running): every task of it, each on its own executor between
   two turns, is closed and opened again on `desc` with the same settings (task.h, gale__task_close_for_swap): a
   bolt fails the inputs it kept (their trees replay) and the tuples queued for it go to the new plugin; a spout's
   open trees stay with the task, and a replayable spout goes on from the position after the last it emitted. When
   an open or prepare fails, every task goes back to the plugin it had: all or none. Before the start the tasks are
   only given `desc` to open on. Blocks until every executor did it, at most `timeout_ms`. 0; GALE_EPLUGIN (rolled
   back; `why` names the task and the code), GALE_EINVAL (`desc` of another kind, or a spout while spouts run as
   told by spout_override), GALE_ESTATE (not running), GALE_ETIMEDOUT (an executor did not answer: a task may be
   stuck in execute; the swap may still happen). `streams`: what `desc` declares when it is a strict superset of
   the component's streams (gale_topology_check_swap), else NULL: the tasks accept the emits it allows, on streams
   nobody subscribes to yet or with fields after the component's, which are dropped. `desc` and `streams` are
   borrowed and must outlive the runtime; the plugin each task had must live on too (a rollback reopens it). */
int gale__runtime_swap(gale_runtime_t *rt, int component, const gale_plugin_t *desc, const gale_stream_t *streams,
                       size_t n_streams, int timeout_ms, char *why, size_t cap);
bool gale__runtime_finish_acked(gale_runtime_t *rt);
void gale__runtime_stop(gale_runtime_t *rt);
void gale__runtime_status(gale_runtime_t *rt, gale_run_status_t *out);
/* Resume positions (gale_replayable in gale.h). Before gale__runtime_start only: spout task `task` of this process
   resumes from `position`. 0; GALE_ENOENT for a task that is not a spout of this process, GALE_ESTATE once
   started. */
int gale__runtime_resume(gale_runtime_t *rt, uint32_t task, uint64_t position);
/* The spout tasks of this process that have a resume position, with it, in task order (at most cap). Their count,
   from any thread. */
size_t gale__runtime_positions(const gale_runtime_t *rt, uint32_t *tasks, uint64_t *positions, size_t cap);

#endif
