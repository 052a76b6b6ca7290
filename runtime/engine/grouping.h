/*
 * grouping.h: which tasks of a subscribing component get a tuple, with Apache Storm's semantics.
 *
 *  shuffle, none      round robin from a random start, per emitting task (Storm's none is a shuffle)
 *  local_or_shuffle   round robin over the subscriber's tasks on the emitter's executor thread, else in this worker
 *                     process, else over all (a refinement of Storm's "same worker" that turns the hop into a call)
 *  fields             hash of the grouped fields' encoded bytes: the same values go to the same task on every run
 *                     (with checkpoints, by key group: the task that owns the key's state)
 *  partial_key        two hashes of the fields, and of the two candidates the one this emitter sent fewer to
 *  all                every task
 *  global             the lowest task id
 *  direct             the task the emitter names (emit_direct); never chosen here
 */
#ifndef GALE_GROUPING_H
#define GALE_GROUPING_H

#include <stddef.h>
#include <stdint.h>

#include "topology.h"
#include "tuple.h"

/* One subscription of a stream, compiled: read-only, shared by every emitting task. */
typedef struct gale_sub {
    gale_grouping_t grouping;
    int component;          /* the subscribing component */
    const uint32_t *tasks;  /* its task ids, ascending */
    uint32_t n_tasks;
    const uint32_t *local;  /* local_or_shuffle: those in this worker */
    uint32_t n_local;
    const int *fields;      /* fields / partial_key: indexes into the stream's fields */
    size_t n_fields;
    /* fields, with checkpoints: the hash picks one of this many key groups and the group its task (Flink's
       ranges, kvstate.h), so that a key's state and its tuples meet at one task at any parallelism; 0: hash
       modulo the tasks */
    uint32_t key_groups;
} gale_sub_t;

/* What one emitting task remembers about one subscription. */
typedef struct gale_sub_state {
    uint32_t next;    /* round robin position */
    uint64_t *loads;  /* partial_key: tuples sent to each task (n_tasks), owned */
    uint32_t *near;   /* local_or_shuffle: the subscriber's tasks on this emitter's executor, owned (may be NULL) */
    uint32_t n_near;
} gale_sub_state_t;

/* Prepares `st` for `sub`, starting round robin at a position drawn from `seed`. 0 or GALE_ENOMEM. */
int gale_sub_state_init(gale_sub_state_t *st, const gale_sub_t *sub, uint64_t seed);
/* local_or_shuffle: the tasks that share the emitter's executor (copied). 0 or GALE_ENOMEM. */
int gale_sub_state_set_near(gale_sub_state_t *st, const uint32_t *tasks, uint32_t n);
void gale_sub_state_destroy(gale_sub_state_t *st);

/* Writes the chosen task ids to `out` (room for sub->n_tasks) and returns how many (0 for direct). */
size_t gale_grouping_select(const gale_sub_t *sub, gale_sub_state_t *st, const gale_tuple_data_t *d,
                            uint32_t *out);

/* Whether `task` is one of the subscription's tasks. */
int gale_sub_has_task(const gale_sub_t *sub, uint32_t task);

#endif
