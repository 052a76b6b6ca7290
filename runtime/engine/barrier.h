/*
 * barrier.h: checkpoint barriers on the executors (Flink's asynchronous barrier snapshots).
 *
 * When the coordinator (checkpoint.h) starts checkpoint N, each spout task, between two next_tuple calls, takes
 * its snapshot (prepare_commit, then its state encoded) and sends barrier N to every task downstream of it, behind
 * the tuples it emitted before: a barrier is a control item on the same lane as those tuples, or a direct call
 * when the task runs on the same executor, as a tuple would be. A bolt task with several upstream tasks aligns:
 * once the barrier of an input has arrived, that input's later entries wait (held, in order) until every input's
 * barrier is there; then the task takes its snapshot, forwards the barrier, and runs what it held. A bolt with one
 * input never waits. So a task's snapshot for N reflects exactly the tuples that precede N's barriers at the
 * spouts, and a restore of N, with the spouts rewound to their positions at N, gives every task what a run
 * without the crash would have had.
 *
 * A newer barrier arriving while an older checkpoint aligns gives the older one up at this task (a barrier was
 * lost: its checkpoint cannot complete, and the coordinator abandons it), as does the coordinator's abandoning it.
 * While a task holds entries its executor counts as congested, so that the spouts stop and what waits is
 * bounded by what was in flight.
 *
 * Everything here runs on the task's executor thread.
 */
#ifndef GALE_BARRIER_H
#define GALE_BARRIER_H

#include "lane.h"
#include "task.h"

/* Sets up task t's alignment over `n_inputs` upstream tasks, with task ids up to `max_task`. 0 or GALE_ENOMEM. */
int gale__align_init(gale_align_t *a, uint32_t n_inputs, uint32_t max_task);
/* Releases what is held (a stop) and frees the rest. */
void gale__align_destroy(gale_align_t *a);

/* A delivery for t from an input that already sent its barrier: held (true). Out of line, behind one test. */
bool gale__align_hold(gale_task_t *t, gale_tuple_t *in);
static inline bool gale__align_holds(gale_task_t *t, gale_tuple_t *in)
{
    return __builtin_expect(t->align.n_arrived != 0, 0) && gale__align_hold(t, in);
}

/* A control item from a ring, for the task it names (taken: freed here or held). */
void gale__control_in(gale_executor_t *e, gale_control_t *c);
/* Sends a control item of `kind` from task `from` (on its executor) to task `to`, behind what `from` sent `to`
   before: into the lane, or to gale__control_in when `to` runs on the same executor. 0 or GALE_ENOMEM (logged). */
int gale__control_send(gale_task_t *from, uint32_t to, uint32_t kind, uint64_t id);

/* A spout task starts checkpoint `id`: its snapshot, then its barriers. */
void gale__barrier_inject(gale_task_t *t, uint64_t id);
/* Checkpoint `id` is complete: the task's commit hook. */
void gale__barrier_committed(gale_task_t *t, uint64_t id);
/* Checkpoint `id` was abandoned: its alignment given up (what was held runs), and the rollback hook. */
void gale__barrier_aborted(gale_task_t *t, uint64_t id);

#endif
