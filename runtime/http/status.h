/*
 * status.h: the figures of one running topology as the HTTP endpoint shows them, in one record whatever runs it
 * (a local run today; the workers of a host and nimbus's gathering fill the same record), and the two documents
 * written from it: Storm UI's REST API (its paths' field names: spouts[] with spoutId, bolts[] with boltId,
 * emitted, transferred, executed, acked, failed, completeLatency, executeLatency, processLatency, capacity,
 * lastError), and Prometheus's text exposition format (counters named *_total, latencies as histograms in
 * seconds, labels topology, component and task).
 */
#ifndef GALE_STATUS_H
#define GALE_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "gale.h"
#include "metrics.h"
#include "plugin_metrics.h"
#include "runtime.h"

typedef struct gale_status_component {
    const char *name; /* borrowed from the topology */
    gale_kind_t kind;
    int executors;
    uint32_t first_task; /* task ids first_task .. first_task + tasks - 1 */
    int tasks;
    gale_task_metrics_t sum;   /* over its tasks */
    gale_task_metrics_t *task; /* [tasks], owned */
    gale_metric_set_t *pm;     /* its plugin's metrics over its tasks (plugin_metrics.h), owned; NULL: none */
    gale_metric_set_t *task_pm; /* [tasks], each task's, owned; NULL: none */
} gale_status_component_t;

/* One worker slot of a topology: where it runs. */
typedef struct gale_status_worker {
    int slot;
    char supervisor[128]; /* the supervisor's id ("HOST:PORT" in a cluster, "local" in one process) */
    char address[128];    /* the worker's "HOST:PORT", "" while unknown (and in local mode, which has none) */
} gale_status_worker_t;

typedef struct gale_status {
    const char *topology; /* borrowed */
    const gale_topology_t *topo; /* borrowed: its components and their inputs */
    const char *status;   /* Storm's words: "ACTIVE", "INACTIVE", "KILLED" (stopping) */
    double uptime_s;
    double figures_s; /* the run time the figures cover (a worker's report is up to metrics_interval_s old) */
    int workers, executors, tasks;
    int restarts; /* workers restarted after they died (worker and cluster mode) */
    /* The window the figures are over (windows.h): Storm's id (":all-time", "600", ...) and how Storm UI writes it
       ("All time", "10m 0s", ...); static strings, NULL for all time. */
    const char *window_id, *window_pretty;
    /* The record whose figures give the capacities (Storm's are over the last 10 minutes); NULL: this one. Borrowed,
       of the same shape. */
    const struct gale_status *capacity_of;
    gale_status_component_t *components; /* in topological order, the ackers (system component) last; owned */
    bool checkpointing;                  /* config.checkpoint_interval_ms is set: `ckpt` holds its figures */
    gale_checkpoint_stats_t ckpt;
    gale_status_worker_t *worker_slots;  /* owned, n_worker_slots of them; NULL: not known */
    size_t n_worker_slots;
    size_t n_components;
} gale_status_t;

/* The record of a local run, read while it runs (runtime.h: a figure may be a few tuples behind). 0 or
   GALE_ENOMEM; free with gale_status_free either way. */
int gale_status_of_run(const gale_runtime_t *rt, gale_status_t *out);
/* The record of figures merged over workers' reports (metrics_merge.h; the topology and `g` borrowed, `g` only
   for the call), `uptime_s` and `status` the caller's. 0 or GALE_ENOMEM; free with gale_status_free either way. */
struct gale_merged;
int gale_status_of_merged(const gale_topology_t *topo, const struct gale_merged *g, const char *status, double uptime_s,
                          gale_status_t *out);
void gale_status_free(gale_status_t *s);
/* A deep copy of `from` into `out` (its strings and topology borrowed as from's). 0 or GALE_ENOMEM; free with
   gale_status_free either way. */
int gale_status_copy(const gale_status_t *from, gale_status_t *out);

/* GET /api/v1/topology/summary: {"topologies": [...]} of the `n` records. */
void gale_status_rest_summary(gale_buf_t *b, const gale_status_t *s, size_t n);
/* GET /api/v1/topology/:id: the figures of `s` (over its window), then "topologyStats" with the totals over
   each of the `n_stats` records `stats` (the same topology over Storm UI's windows, all time last). */
void gale_status_rest_topology(gale_buf_t *b, const gale_status_t *s, const gale_status_t *const *stats,
                               size_t n_stats);
/* GET /api/v1/topology/:id/component/:component, with "spoutSummary" or "boltStats" over each of `stats`;
   GALE_ENOENT (nothing written) for a component it does not have. */
int gale_status_rest_component(gale_buf_t *b, const gale_status_t *s, const char *component,
                               const gale_status_t *const *stats, size_t n_stats);
/* GET /api/v1/topology/:id/visualization: the graph, {"components": [{"id", "type", "parallelism", "inputs":
   [{"from", "stream", "grouping"}]}]} in topological order (the UI draws it; Storm's own answer is not a graph of
   boxes and edges, so this is gale's). */
void gale_status_rest_graph(gale_buf_t *b, const gale_status_t *s);
/* GET /metrics: the records' series (one HELP and TYPE per family, whatever `n`). */
void gale_status_prometheus(gale_buf_t *b, const gale_status_t *s, size_t n);

/* Storm's capacity of a task over `secs`: executed x mean execute latency / time (1: busy all the time). */
double gale_status_capacity(const gale_task_metrics_t *m, double secs);

#endif
