/*
 * checkpoint.h: the checkpoint coordinator of a run (Flink's CheckpointCoordinator), on its control loop.
 *
 * With config.checkpoint_interval_ms, it restores the latest complete checkpoint into the tasks before they open
 * (each task's snapshot, or at another parallelism the key groups it owns now from the old tasks' snapshots), then
 * every interval starts checkpoint N: the spouts inject barriers (barrier.h), each task reports its snapshot
 * (gale__checkpoint_report, from its executor), the coordinator stores each in the backend (state_store.h), and
 * once every task's is stored it completes N in the backend; then the tasks' commit hooks run. A task that
 * fails its part, a store that fails, or a checkpoint not complete within checkpoint_timeout_s abandons N (the
 * rollback hooks run, the last complete checkpoint stays the one to restore) and the run goes on; one checkpoint
 * is in flight at a time. When the input ends (every spout done) and the run drains cleanly, a final checkpoint
 * is taken after the bolts' finishes (so that what they emitted is committed), then the topology's state is wiped:
 * a finished run is not resumed. A stop (a signal, --duration) keeps it, and the next run resumes.
 */
#ifndef GALE_CHECKPOINT_H
#define GALE_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "diag.h"

typedef struct gale_runtime gale_runtime_t;
typedef struct gale_checkpointer gale_checkpointer_t;

typedef struct gale_checkpoint_stats {
    uint64_t completed, failed;
    uint64_t last_id;       /* the latest complete checkpoint, 0: none */
    uint64_t restored;      /* the checkpoint the run started from, 0: none */
    uint64_t last_ms;       /* how long the latest complete one took, from its start to its record */
    uint64_t last_bytes;    /* its snapshots together */
    uint64_t restored_keys; /* entries restored into the tasks */
} gale_checkpoint_stats_t;

/* On `loop` (the run's control loop), before the executors start: opens the backend, wipes it when `fresh`,
   restores the latest complete checkpoint into rt's tasks, and arms the interval. 0 and *out; or a code with
   the reason in `diag` (a backend that cannot be opened, a checkpoint that cannot be read): the run must not
   start. */
int gale__checkpointer_start(gale_runtime_t *rt, uv_loop_t *loop, bool fresh, gale_checkpointer_t **out,
                             gale_diag_t *diag);
/* Worker mode (the run is driven): the supervisor coordinates, and each worker's checkpointer does its process's
   part. begin starts checkpoint `id` here (the spouts here inject its barriers); once every task here stored its
   snapshot, or one failed, the driver's `checkpointed` is called; end tells what the supervisor decided:
   `committed` (every worker's part is stored and the record written: the commit hooks run) or not (abandoned:
   the rollback hooks run). Control thread. No-ops outside worker mode. */
void gale__checkpointer_begin(gale_checkpointer_t *c, uint64_t id);
void gale__checkpointer_end(gale_checkpointer_t *c, uint64_t id, bool committed);

/* The input ended and every bolt finished (a clean end): takes the final checkpoint, after the one in flight if
   any, so that what the finishes emitted is committed (Flink's final checkpoint). True while it is under way;
   false once it completed or failed (or when there is none to take). Control thread, called every tick. */
bool gale__checkpointer_final(gale_checkpointer_t *c);
/* The latest complete checkpoint was the last run's final one: that run was complete but may have crashed before
   every task committed. Then the run only opens each task (restored), runs its commit hook and closes it. */
bool gale__checkpointer_recovering(const gale_checkpointer_t *c);
/* On the control thread, with no executor started: the recovery run (above). The state is then wiped. */
void gale__checkpointer_recover(gale_checkpointer_t *c);

/* After the executors stopped: closes the handles (the loop must run once more to close them and to finish the
   backend's writes). `input_ended`: the input ended and the run drained cleanly, so the state goes at the free. */
void gale__checkpointer_stop(gale_checkpointer_t *c, bool input_ended);
/* After the loop closed everything: wipes the state when told so at the stop. NULL is a no-op. */
void gale__checkpointer_free(gale_checkpointer_t *c);

/* From a task's executor: its part of checkpoint `id`, rc 0 and its snapshot (`bytes`, taken; empty when it has
   no state), or the code it failed with. */
void gale__checkpoint_report(gale_runtime_t *rt, uint32_t task, uint64_t id, int rc, gale_buf_t *bytes);

/* The figures as the member `, "checkpoints": {...}` of the --stats JSON, appended to b. */
void gale_checkpoint_stats_json(gale_buf_t *b, const gale_checkpoint_stats_t *cs);
/* The figures so far (control thread). */
void gale__checkpointer_stats(const gale_checkpointer_t *c, gale_checkpoint_stats_t *out);

#endif
