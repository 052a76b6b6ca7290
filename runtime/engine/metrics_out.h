/*
 * metrics_out.h: a component's metrics as people and tools read them: one row of the table printed at exit, and
 * one object of the `--stats` JSON. One piece of code for local mode (runtime.c) and for the metrics merged over
 * workers (metrics_merge.c), which also need the histograms themselves to merge them exactly.
 */
#ifndef GALE_METRICS_OUT_H
#define GALE_METRICS_OUT_H

#include <stdbool.h>
#include <stdio.h>

#include "gale.h"
#include "json.h"
#include "metrics.h"
#include "plugin_metrics.h"

void gale_metrics_table_header(FILE *f);
void gale_metrics_table_row(FILE *f, const char *name, gale_kind_t kind, int tasks, const gale_task_metrics_t *m,
                            double secs);
void gale_metrics_table_footer(FILE *f);
/* Under a component's row, its plugin's own metrics (NULL or none: nothing): "  its own metrics: name=value ...". */
void gale_metrics_table_plugin(FILE *f, const gale_metric_set_t *pm);

/* One component as the --stats JSON writes it. */
typedef struct gale_metrics_doc {
    const char *name;
    gale_kind_t kind;
    int tasks;
    uint32_t first_task;
    const gale_task_metrics_t *m;         /* the component's, over its tasks */
    const gale_metric_set_t *pm;          /* its plugin metrics, over its tasks (NULL: none) */
    const gale_task_metrics_t *per_task;  /* [tasks], each task's own (NULL: not written) */
    const gale_metric_set_t *per_task_pm; /* [tasks] (NULL: none) */
} gale_metrics_doc_t;

/* {"name": ..., "kind": ..., "tasks": ..., counts, latency quantiles, "last_error", "metrics" (the plugin's, when
   it has some: plugin_metrics.h)}; with `hists`, also "hist": {"exec": H, "complete": H, "e2e": H}; with
   `per_task`, also "per_task": [{"task": ID, the same figures with "hist"}, ...] for those of its tasks that did
   anything (in a worker: those it runs), so that the status of a worker-mode or cluster run can show each task. */
void gale_metrics_json(gale_buf_t *b, const gale_metrics_doc_t *c, bool hists);

/* H: [count, sum_ns, max_ns, bucket, n, bucket, n, ...] (non-empty buckets). */
void gale_hist_json(gale_buf_t *b, const gale_hist_t *h);
/* Reads an H written by gale_metrics_json (a MessagePack array as gale_json_parse makes it) and merges it into
   `into`. 0, or GALE_ECORRUPT. */
int gale_hist_merge_value(gale_hist_t *into, const gale_value_t *h);

#endif
