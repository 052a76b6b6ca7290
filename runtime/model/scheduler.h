/*
 * scheduler.h: where each task of a topology runs. A pure function of the topology, the number of workers and the
 * executor threads each worker runs: no clock, no randomness, the same assignment for the same input. Local mode,
 * worker mode and (later) nimbus use the same one.
 *
 * The rule is Storm's even scheduler over (worker, thread) slots: components in topological order, each task to the
 * next slot round robin, slot k being worker k % workers, thread k / workers, so that consecutive tasks land in
 * different workers first. The ackers come after the topology's tasks, the same way. One exception, Flink's
 * operator chaining: a component whose one input is `local_or_shuffle` from a source of the same parallelism runs
 * its task i in the slot of the source's task i, so that the hop is a function call.
 */
#ifndef GALE_SCHEDULER_H
#define GALE_SCHEDULER_H

#include <stdint.h>

#include "topology.h"

typedef struct gale_placement {
    uint32_t n_tasks;  /* the topology's tasks, then `ackers` acker tasks; ids 1..n_tasks */
    int workers, threads;
    uint16_t *worker;  /* [n_tasks + 1]: the worker of each task id (index 0 unused) */
    uint16_t *thread;  /* [n_tasks + 1]: its executor thread within that worker */
} gale_placement_t;

/* Places every task of `topo` (borrowed) and `ackers` acker tasks over `workers` x `threads` slots (each >= 1).
   0 and *out filled (free it with gale_placement_free), or GALE_ENOMEM / GALE_EINVAL; on error *out is empty. */
int gale_schedule(const gale_topology_t *topo, int ackers, int workers, int threads, gale_placement_t *out);
void gale_placement_free(gale_placement_t *p);

/* The source a component chains onto (see above), or NULL. */
const gale_component_t *gale_schedule_chain_source(const gale_topology_t *topo, const gale_component_t *c);

/* Executor threads for one process: `requested` when > 0, else `configured` when > 0, else one per core; never
   more than the tasks it runs (they would only sleep) nor more than 4096; at least 1. */
int gale_schedule_threads(int requested, int configured, long cores, uint32_t tasks);

/* The threads each of `workers_here` workers of one host runs when nothing says otherwise: the host's cores shared
   out (cores / workers, at least 1), so that no core has two busy executors polling for work. */
int gale_schedule_share_cores(int workers_here, long cores);

/*
 * Cluster mode: which of `n` supervisors runs each of `workers` worker slots, Storm's even scheduler over hosts:
 * the slots go round robin over the supervisors in the order given (nimbus gives them sorted by name), skipping
 * those with no free slot left, so that a topology spreads over hosts first and doubles up on one only when it
 * must. `free_slots` (borrowed) holds each supervisor's free slots. 0 with out[k] the index of slot k's supervisor;
 * GALE_ELIMIT when there are fewer free slots than workers, GALE_ENOMEM (out untouched).
 */
int gale_schedule_spread(const int *free_slots, int n, int workers, int *out);

#endif
