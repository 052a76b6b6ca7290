/*
 * metrics_merge.h: the metrics of several workers of one topology made into one, from the JSON each worker sends
 * when it stops (the document of `gale run --stats`, with the histograms added): counts summed, histograms merged
 * (so quantiles are exact, not the worst worker's), the longest run time, peak memory summed over the processes.
 */
#ifndef GALE_SUPERVISOR_STATS_H
#define GALE_SUPERVISOR_STATS_H

#include <stdbool.h>
#include <stdio.h>

#include "metrics.h"
#include "plugin_metrics.h"
#include "checkpoint.h"
#include "topology.h"

/* What the workers' own metrics cannot tell: they die with a worker. */
typedef struct gale_sup_losses {
    int restarts;        /* workers restarted after they died */
    uint64_t lost_trees; /* tuple trees open in a worker's spouts when it died: never completed by that spout */
    uint64_t resumed_trees; /* trees open in a dead worker's replayable spouts: emitted again by its next life */
    /* Each slot's restarts (of the whole topology's `slots`; NULL: not known): given, every task's figures get
       its worker's restarts, and every component's those of the workers its tasks run on. */
    const int *slot_restarts;
    /* The checkpoint coordinator's figures (the supervisor's; NULL: no checkpoints), as the JSON's
       "checkpoints". */
    const gale_checkpoint_stats_t *checkpoints;
    int slots;
} gale_sup_losses_t;

/* The figures of one topology merged over documents (components in report order: topological, then the ackers
   when there are any). */
typedef struct gale_merged {
    size_t n;
    const char **name; /* [n], borrowed from the topology */
    gale_kind_t *kind;
    int *tasks;
    uint32_t *first_task;
    gale_task_metrics_t *m;     /* [n]: each component's, over its tasks (the first n of one block of n_all) */
    gale_task_metrics_t **task; /* [n][tasks[c]]: each task's own, from the documents' "per_task" (zero without) */
    size_t n_all;
    gale_metric_set_t **pm;       /* [n_all]: the plugin metrics of each entry of the block; NULL: none */
    double secs, rss_kb, threads; /* the longest run time; memory and threads summed over the processes */
    int workers;                  /* the processes the documents speak for: a part's merged document counts its own */
    gale_sup_losses_t lost;       /* what merged documents carried (a part's losses, merged again by nimbus) */
    /* The checkpoint coordinator's figures, when a document carried them (cluster mode: the part that coordinates
       writes them in its own) or the merge was given them (gale_sup_merged). */
    bool checkpointed;
    gale_checkpoint_stats_t ckpt;
} gale_merged_t;

/* `stats[i]` is a document or NULL, as below. NULL when out of memory; free with gale_merged_free. */
gale_merged_t *gale_metrics_merge(const gale_topology_t *t, const char *const *stats, int n);
void gale_merged_free(gale_merged_t *g);
/* Adds the restarts of each of `slots` slots (slot_restarts[slot]) to the figures of the tasks it runs (the
   scheduler's placement) and of their components (each restarted worker counted once per component). */
void gale_merged_add_restarts(gale_merged_t *g, const gale_topology_t *t, int slots, const int *slot_restarts);

/* `stats[i]` is worker i's document, or NULL when it sent none (it died); the losses are printed in the header and
   written as top-level "restarts", "lost_trees" and "resumed_trees". A document that does not parse is left out,
   with a warning. A document may itself be a merged one written `mergeable` (with the histograms kept): its
   "workers" and losses are added in, so that a cluster's figures are its hosts' merged again (nimbus, `gale stats`)
   with quantiles as exact as one host's. */
void gale_metrics_merged_report(const gale_topology_t *t, const char *const *stats, int n, const gale_sup_losses_t *l,
                              FILE *out);
int gale_metrics_merged_json(const gale_topology_t *t, const char *const *stats, int n, const gale_sup_losses_t *l,
                             bool mergeable, FILE *out);

#endif
