/*
 * plugin_metrics.h: the metrics a plugin registers of its own (ABI 2.2, gale_host_t.metric; Storm's metrics v2),
 * kept per task beside the built-in figures and carried with them: read while the task runs, summed per
 * component, written into the --stats JSON and read back from it (workers, hosts), shown by the REST API and
 * /metrics. A task's set is written by its own thread only; a reader on another thread sees whole entries (an
 * entry is published by the count after it is written) whose values may be a few updates behind, as the built-in
 * figures are.
 */
#ifndef GALE_PLUGIN_METRICS_H
#define GALE_PLUGIN_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "gale.h"
#include "metrics.h"
#include "mpread.h"

struct gale_metric {
    char name[GALE_METRIC_NAME_MAX + 1];
    gale_metric_kind_t kind;
    uint64_t count;   /* counters */
    double gauge;     /* gauges */
    gale_hist_t hist; /* histograms */
};

typedef struct gale_metric_set {
    int n; /* entries [0, n) are whole; stored with release, loaded with acquire, when live */
    gale_metric_t m[GALE_METRICS_MAX];
} gale_metric_set_t;

/* The ABI's functions (host.c), for the task of `ctx`. */
gale_metric_t *gale__metric(gale_ctx_t *ctx, const char *name, gale_metric_kind_t kind);
void gale__counter_add(gale_metric_t *m, uint64_t n);
void gale__gauge_set(gale_metric_t *m, double value);
void gale__histogram_record(gale_metric_t *m, uint64_t value);

/* Whether `name` is a metric's name: 1 to GALE_METRIC_NAME_MAX of [a-z0-9_], starting with a letter. */
bool gale_metric_name_ok(const char *name);
const char *gale_metric_kind_name(gale_metric_kind_t kind); /* "counter", "gauge", "histogram" */

/* A copy of a live set (NULL: none) into *out, from any thread; out->n 0 for none. */
void gale_metric_set_read(const gale_metric_set_t *live, gale_metric_set_t *out);
/* Adds `from` into `into` by name and kind: counters and gauges summed, histograms merged; entries past
   GALE_METRICS_MAX, or whose name `into` has with another kind, are left out. */
void gale_metric_set_merge(gale_metric_set_t *into, const gale_metric_set_t *from);

/* `, "metrics": [{"name", "type", "value"} | {"name", "type": "histogram", "count", "sum", "max", "p50", "p99",
   "hist": H}]` (H as metrics_out.h's), nothing when the set is empty or NULL. */
void gale_metric_set_json(gale_buf_t *b, const gale_metric_set_t *s);
/* That array, read back (as gale_json_parse makes it) and merged into `into`. 0 or GALE_ECORRUPT. */
int gale_metric_set_absorb(gale_metric_set_t *into, const gale_value_t *arr);

#endif
