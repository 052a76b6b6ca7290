#include "status.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metrics_merge.h"

int gale_status_of_run(const gale_runtime_t *rt, gale_status_t *out)
{
    const gale_topology_t *topo = rt->topo;
    memset(out, 0, sizeof *out);
    out->topology = topo->name;
    out->topo = topo;
    int phase = atomic_load(&rt->phase);
    out->status = phase == GALE_RUN_STOPPING                                    ? "KILLED"
                  : phase == GALE_RUN_DEACTIVATED || atomic_load(&rt->inactive) ? "INACTIVE"
                                                                                : "ACTIVE";
    out->uptime_s = out->figures_s = rt->start_ns ? gale_runtime_seconds(rt) : 0;
    out->workers = rt->opts.n_workers > 0 ? rt->opts.n_workers : 1;
    out->checkpointing = topo->config.checkpoint_interval_ms > 0;
    if (rt->ckpt) gale__checkpointer_stats(rt->ckpt, &out->ckpt); /* on the control loop, the coordinator's own */
    else out->ckpt = rt->ckpt_stats;
    size_t n = topo->n_components + (rt->acking ? 1 : 0);
    out->components = calloc(n, sizeof *out->components);
    if (!out->components) return GALE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int ci = i < topo->n_components ? topo->order[i] : -1;
        const gale_component_t *c = ci < 0 ? &rt->acker_comp : &topo->components[ci];
        gale_status_component_t *sc = &out->components[out->n_components++];
        *sc = (gale_status_component_t){.name = c->name,
                                        .kind = c->kind,
                                        .executors = c->parallelism,
                                        .first_task = c->first_task,
                                        .tasks = c->parallelism};
        if (!(sc->task = calloc((size_t)c->parallelism, sizeof *sc->task))) return GALE_ENOMEM;
        for (int k = 0; k < c->parallelism; k++)
            gale_runtime_task_metrics(rt, c->first_task + (uint32_t)k, &sc->task[k]);
        gale_runtime_component_metrics(rt, ci, &sc->sum);
        gale_metric_set_t pm;
        gale_runtime_component_plugin_metrics(rt, ci, &pm);
        if (pm.n) { /* only a component whose plugin has metrics pays for them */
            if (!(sc->pm = malloc(sizeof *sc->pm)) ||
                !(sc->task_pm = calloc((size_t)c->parallelism, sizeof *sc->task_pm)))
                return GALE_ENOMEM;
            *sc->pm = pm;
            for (int k = 0; k < c->parallelism; k++)
                gale_runtime_task_plugin_metrics(rt, c->first_task + (uint32_t)k, &sc->task_pm[k]);
        }
        out->executors += sc->executors;
        out->tasks += sc->tasks;
    }
    return 0;
}

int gale_status_of_merged(const gale_topology_t *topo, const gale_merged_t *g, const char *status, double uptime_s,
                          gale_status_t *out)
{
    memset(out, 0, sizeof *out);
    out->topology = topo->name;
    out->topo = topo;
    out->status = status;
    out->uptime_s = uptime_s;
    out->figures_s = g->secs;
    out->workers = topo->config.workers > g->workers ? topo->config.workers : g->workers;
    out->restarts = g->lost.restarts;
    out->checkpointing = topo->config.checkpoint_interval_ms > 0;
    if (g->checkpointed) out->ckpt = g->ckpt; /* the coordinator's, from its own figures */
    if (!(out->components = calloc(g->n ? g->n : 1, sizeof *out->components))) return GALE_ENOMEM;
    for (size_t i = 0; i < g->n; i++) {
        gale_status_component_t *sc = &out->components[out->n_components++];
        *sc = (gale_status_component_t){.name = g->name[i],
                                        .kind = g->kind[i],
                                        .executors = g->tasks[i],
                                        .first_task = g->first_task[i],
                                        .tasks = g->tasks[i],
                                        .sum = g->m[i]};
        if (!(sc->task = malloc((size_t)(g->tasks[i] ? g->tasks[i] : 1) * sizeof *sc->task))) return GALE_ENOMEM;
        memcpy(sc->task, g->task[i], (size_t)g->tasks[i] * sizeof *sc->task);
        if (g->pm[i] && g->pm[i]->n) {
            if (!(sc->pm = malloc(sizeof *sc->pm)) ||
                !(sc->task_pm = calloc((size_t)g->tasks[i] + 1, sizeof *sc->task_pm)))
                return GALE_ENOMEM;
            *sc->pm = *g->pm[i];
            for (int k = 0; k < g->tasks[i]; k++) {
                const gale_metric_set_t *of = g->pm[(size_t)(g->task[i] - g->m) + (size_t)k];
                if (of) sc->task_pm[k] = *of;
            }
        }
        out->executors += sc->executors;
        out->tasks += sc->tasks;
    }
    return 0;
}

void gale_status_free(gale_status_t *s)
{
    for (size_t i = 0; s->components && i < s->n_components; i++)
        free(s->components[i].task), free(s->components[i].pm), free(s->components[i].task_pm);
    free(s->worker_slots);
    free(s->components);
    memset(s, 0, sizeof *s);
}

int gale_status_copy(const gale_status_t *from, gale_status_t *out)
{
    *out = *from;
    out->worker_slots = NULL, out->n_worker_slots = 0;
    if (from->n_worker_slots && (out->worker_slots = malloc(from->n_worker_slots * sizeof *out->worker_slots))) {
        memcpy(out->worker_slots, from->worker_slots, from->n_worker_slots * sizeof *out->worker_slots);
        out->n_worker_slots = from->n_worker_slots;
    }
    out->components = calloc(from->n_components ? from->n_components : 1, sizeof *out->components);
    out->n_components = 0;
    if (!out->components) return GALE_ENOMEM;
    for (size_t i = 0; i < from->n_components; i++) {
        const gale_status_component_t *c = &from->components[i];
        gale_status_component_t *o = &out->components[out->n_components++];
        *o = *c;
        o->pm = NULL, o->task_pm = NULL;
        if (!(o->task = malloc((size_t)(c->tasks ? c->tasks : 1) * sizeof *o->task))) return GALE_ENOMEM;
        memcpy(o->task, c->task, (size_t)c->tasks * sizeof *o->task);
        if (c->pm) {
            if (!(o->pm = malloc(sizeof *o->pm)) || !(o->task_pm = malloc((size_t)(c->tasks + 1) * sizeof *o->task_pm)))
                return GALE_ENOMEM;
            *o->pm = *c->pm;
            memcpy(o->task_pm, c->task_pm, (size_t)c->tasks * sizeof *o->task_pm);
        }
    }
    return 0;
}

double gale_status_capacity(const gale_task_metrics_t *m, double secs)
{
    if (secs <= 0 || !m->exec.count) return 0;
    double mean_s = (double)m->exec.sum_ns / (double)m->exec.count / 1e9;
    return (double)m->executed * mean_s / secs;
}

/* ---- Storm UI's REST API ----------------------------------------------------------------------------------------- */

static bool is_system(const gale_status_component_t *c) { return !strncmp(c->name, "__", 2); }

static void str_field(gale_buf_t *b, const char *key, const char *value)
{
    gale_buf_printf(b, "\"%s\": ", key);
    gale_json_string(b, value, strlen(value));
}

/* Storm gives latencies in milliseconds and capacity as strings with three decimals. */
static void ms_field(gale_buf_t *b, const char *key, const gale_hist_t *h)
{
    gale_buf_printf(b, ", \"%s\": \"%.3f\"", key, h->count ? (double)h->sum_ns / (double)h->count / 1e6 : 0.0);
}

static void uptime_fields(gale_buf_t *b, double secs)
{
    long s = (long)secs;
    gale_buf_printf(b, ", \"uptime\": \"%ldd %ldh %ldm %lds\", \"uptimeSeconds\": %ld", s / 86400, s / 3600 % 24,
                    s / 60 % 60, s % 60, s);
}

static void error_fields(gale_buf_t *b, const gale_last_error_t *e)
{
    gale_buf_puts(b, ", ");
    str_field(b, "lastError", e->time_ms ? e->text : "");
    if (e->time_ms) gale_buf_printf(b, ", \"errorTime\": %" PRId64 ", \"errorTaskId\": %" PRIu32, e->time_ms, e->task);
}

/* The figures of a component or one of its tasks, after its id field. */
static void figures(gale_buf_t *b, gale_kind_t kind, const gale_task_metrics_t *m, const gale_metric_set_t *pm,
                    double capacity)
{
    gale_buf_printf(
        b, ", \"emitted\": %" PRIu64 ", \"transferred\": %" PRIu64 ", \"acked\": %" PRIu64 ", \"failed\": %" PRIu64,
        m->emitted, m->transferred, m->acked, m->failed);
    if (kind == GALE_SPOUT) {
        ms_field(b, "completeLatency", &m->complete);
        gale_buf_printf(b, ", \"pending\": %" PRIu64, m->pending); /* gale's: trees open now */
    } else {
        gale_buf_printf(b, ", \"executed\": %" PRIu64, m->executed);
        ms_field(b, "executeLatency", &m->exec);
        ms_field(b, "processLatency", &m->process);
        gale_buf_printf(b, ", \"capacity\": \"%.3f\"", capacity);
    }
    /* gale's: the fullest inbound ring of the task's executor now, and how long it held the spouts back. */
    gale_buf_printf(b, ", \"queueFill\": \"%.3f\", \"backpressureSeconds\": \"%.3f\", \"restarts\": %" PRIu64,
                    m->queue_fill, (double)m->backpressure_ns / 1e9, m->restarts);
    error_fields(b, &m->last_error);
    gale_metric_set_json(b, pm); /* the plugin's own, as the --stats JSON writes them */
}

/* The capacities of record `s` come from its capacity_of (the same shape), or from itself. */
static const gale_status_t *capacity_record(const gale_status_t *s) { return s->capacity_of ? s->capacity_of : s; }

static double task_capacity(const gale_status_t *s, size_t component, int task)
{
    const gale_status_t *of = capacity_record(s);
    if (component >= of->n_components || task >= of->components[component].tasks) return 0;
    return gale_status_capacity(&of->components[component].task[task], of->figures_s);
}

/* A component's capacity is its busiest task's, as Storm UI's is its busiest executor's. */
static double component_capacity(const gale_status_t *s, size_t component)
{
    double most = 0;
    for (int k = 0; k < s->components[component].tasks; k++) {
        double cap = task_capacity(s, component, k);
        if (cap > most) most = cap;
    }
    return most;
}

static void component_entry(gale_buf_t *b, const gale_status_t *s, size_t i)
{
    const gale_status_component_t *c = &s->components[i];
    gale_buf_puts(b, "{");
    str_field(b, c->kind == GALE_SPOUT ? "spoutId" : "boltId", c->name);
    gale_buf_printf(b, ", \"executors\": %d, \"tasks\": %d", c->executors, c->tasks);
    figures(b, c->kind, &c->sum, c->pm, component_capacity(s, i));
    gale_buf_puts(b, "}");
}

static const char *window_id(const gale_status_t *s) { return s->window_id ? s->window_id : ":all-time"; }
static const char *window_pretty(const gale_status_t *s) { return s->window_pretty ? s->window_pretty : "All time"; }

/* {"windowPretty", "window", then the figures}: Storm UI's entry of one window. */
static void window_entry_head(gale_buf_t *b, const gale_status_t *s)
{
    gale_buf_puts(b, "{");
    str_field(b, "windowPretty", window_pretty(s));
    gale_buf_puts(b, ", ");
    str_field(b, "window", window_id(s));
}

/* Storm UI's topologyStats entry: what the user's components emitted and transferred, what the spouts' trees
   did (acked, failed, mean complete latency). */
static void topology_window(gale_buf_t *b, const gale_status_t *s)
{
    gale_task_metrics_t all = {0}, spouts = {0};
    for (size_t i = 0; i < s->n_components; i++) {
        const gale_status_component_t *c = &s->components[i];
        if (is_system(c)) continue;
        all.emitted += c->sum.emitted, all.transferred += c->sum.transferred;
        if (c->kind != GALE_SPOUT) continue;
        spouts.acked += c->sum.acked, spouts.failed += c->sum.failed;
        spouts.complete.count += c->sum.complete.count, spouts.complete.sum_ns += c->sum.complete.sum_ns;
    }
    window_entry_head(b, s);
    gale_buf_printf(b, ", \"emitted\": %" PRIu64 ", \"transferred\": %" PRIu64, all.emitted, all.transferred);
    ms_field(b, "completeLatency", &spouts.complete);
    gale_buf_printf(b, ", \"acked\": %" PRIu64 ", \"failed\": %" PRIu64 "}", spouts.acked, spouts.failed);
}

static void summary_entry(gale_buf_t *b, const gale_status_t *s)
{
    gale_buf_puts(b, "{");
    str_field(b, "id", s->topology);
    gale_buf_puts(b, ", ");
    str_field(b, "name", s->topology);
    gale_buf_puts(b, ", ");
    str_field(b, "status", s->status);
    uptime_fields(b, s->uptime_s);
    gale_buf_printf(b,
                    ", \"tasksTotal\": %d, \"workersTotal\": %d, \"executorsTotal\": %d, \"restarts\": %d, "
                    "\"figuresSeconds\": %.3f",
                    s->tasks, s->workers, s->executors, s->restarts, s->figures_s);
    if (s->checkpointing) /* as Flink's /jobs/:id/checkpoints sums them up */
        gale_buf_printf(b,
                        ", \"checkpoints\": {\"counts\": {\"completed\": %" PRIu64 ", \"failed\": %" PRIu64
                        "}, \"latest\": {\"id\": %" PRIu64 ", \"durationMs\": %" PRIu64 ", \"stateSize\": %" PRIu64
                        "}, \"restored\": %" PRIu64 "}",
                        s->ckpt.completed, s->ckpt.failed, s->ckpt.last_id, s->ckpt.last_ms, s->ckpt.last_bytes,
                        s->ckpt.restored);
}

void gale_status_rest_summary(gale_buf_t *b, const gale_status_t *s, size_t n)
{
    gale_buf_puts(b, "{\"topologies\": [");
    for (size_t i = 0; i < n; i++) {
        if (i) gale_buf_puts(b, ", ");
        summary_entry(b, &s[i]);
        gale_buf_puts(b, "}");
    }
    gale_buf_puts(b, "]}\n");
}

/* gale's "workers": where each slot runs (Storm UI shows its workers on a page of their own). */
static void workers_field(gale_buf_t *b, const gale_status_t *s)
{
    gale_buf_puts(b, ", \"workers\": [");
    for (size_t i = 0; i < s->n_worker_slots; i++) {
        const gale_status_worker_t *w = &s->worker_slots[i];
        gale_buf_printf(b, "%s{\"slot\": %d, ", i ? ", " : "", w->slot);
        str_field(b, "supervisorId", w->supervisor);
        gale_buf_puts(b, ", ");
        str_field(b, "address", w->address);
        gale_buf_puts(b, "}");
    }
    gale_buf_puts(b, "]");
}

void gale_status_rest_topology(gale_buf_t *b, const gale_status_t *s, const gale_status_t *const *stats, size_t n_stats)
{
    summary_entry(b, s);
    workers_field(b, s);
    gale_buf_puts(b, ", ");
    str_field(b, "window", window_id(s));
    gale_buf_puts(b, ", ");
    str_field(b, "windowHint", window_pretty(s));
    gale_buf_puts(b, ", \"topologyStats\": [");
    for (size_t w = 0; w < n_stats; w++) {
        if (w) gale_buf_puts(b, ", ");
        topology_window(b, stats[w]);
    }
    gale_buf_puts(b, "]");
    for (int kind = 0; kind < 2; kind++) {
        gale_buf_puts(b, kind == 0 ? ", \"spouts\": [" : ", \"bolts\": [");
        bool first = true;
        for (size_t i = 0; i < s->n_components; i++) {
            const gale_status_component_t *c = &s->components[i];
            if (is_system(c) || (c->kind == GALE_SPOUT) != (kind == 0)) continue;
            if (!first) gale_buf_puts(b, ", ");
            first = false;
            component_entry(b, s, i);
        }
        gale_buf_puts(b, "]");
    }
    gale_buf_puts(b, "}\n");
}

int gale_status_rest_component(gale_buf_t *b, const gale_status_t *s, const char *component,
                               const gale_status_t *const *stats, size_t n_stats)
{
    size_t i = 0;
    while (i < s->n_components && strcmp(s->components[i].name, component)) i++;
    if (i == s->n_components) return GALE_ENOENT;
    const gale_status_component_t *c = &s->components[i];
    gale_buf_puts(b, "{");
    str_field(b, "id", c->name);
    gale_buf_puts(b, ", ");
    str_field(b, "name", c->name);
    gale_buf_puts(b, ", ");
    str_field(b, "topologyId", s->topology);
    gale_buf_printf(b, ", \"componentType\": \"%s\", \"executors\": %d, \"tasks\": %d",
                    c->kind == GALE_SPOUT ? "spout" : "bolt", c->executors, c->tasks);
    gale_buf_puts(b, ", ");
    str_field(b, "window", window_id(s));
    gale_buf_puts(b, ", ");
    str_field(b, "windowHint", window_pretty(s));
    figures(b, c->kind, &c->sum, c->pm, component_capacity(s, i));
    /* Storm UI: a spout's windows are "spoutSummary", a bolt's "boltStats". */
    gale_buf_puts(b, c->kind == GALE_SPOUT ? ", \"spoutSummary\": [" : ", \"boltStats\": [");
    for (size_t w = 0; w < n_stats; w++) {
        if (i >= stats[w]->n_components) continue;
        gale_buf_puts(b, w ? ", " : "");
        window_entry_head(b, stats[w]);
        figures(b, c->kind, &stats[w]->components[i].sum, NULL, component_capacity(stats[w], i));
        gale_buf_puts(b, "}");
    }
    gale_buf_puts(b, "], \"executorStats\": [");
    for (int k = 0; k < c->tasks; k++) {
        uint32_t id = c->first_task + (uint32_t)k;
        gale_buf_printf(b, "%s{\"id\": \"[%" PRIu32 "-%" PRIu32 "]\"", k ? ", " : "", id, id);
        figures(b, c->kind, &c->task[k], c->task_pm ? &c->task_pm[k] : NULL, task_capacity(s, i, k));
        gale_buf_puts(b, "}");
    }
    gale_buf_puts(b, "]}\n");
    return 0;
}

void gale_status_rest_graph(gale_buf_t *b, const gale_status_t *s)
{
    const gale_topology_t *t = s->topo;
    gale_buf_puts(b, "{");
    str_field(b, "id", s->topology);
    gale_buf_puts(b, ", \"components\": [");
    for (size_t i = 0; i < t->n_components; i++) {
        const gale_component_t *c = &t->components[t->order[i]];
        gale_buf_puts(b, i ? ", {" : "{");
        str_field(b, "id", c->name);
        gale_buf_printf(b, ", \"type\": \"%s\", \"parallelism\": %d, \"inputs\": [",
                        c->kind == GALE_SPOUT ? "spout" : "bolt", c->parallelism);
        for (size_t k = 0; k < c->n_inputs; k++) {
            gale_buf_puts(b, k ? ", {" : "{");
            str_field(b, "from", c->inputs[k].from);
            gale_buf_puts(b, ", ");
            str_field(b, "stream", c->inputs[k].stream);
            gale_buf_puts(b, ", ");
            str_field(b, "grouping", gale_grouping_name(c->inputs[k].grouping));
            gale_buf_puts(b, "}");
        }
        gale_buf_puts(b, "]}");
    }
    gale_buf_puts(b, "]}\n");
}

/* ---- Prometheus --------------------------------------------------------------------------------------------------- */

/* A label value as the text format wants it: backslash, double quote and newline escaped. */
static void label_value(gale_buf_t *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\') gale_buf_puts(b, "\\\\");
        else if (*v == '"') gale_buf_puts(b, "\\\"");
        else if (*v == '\n') gale_buf_puts(b, "\\n");
        else gale_buf_put(b, v, 1);
    }
}

static void labels(gale_buf_t *b, const gale_status_t *s, const gale_status_component_t *c, uint32_t task,
                   const char *extra)
{
    gale_buf_puts(b, "{topology=\"");
    label_value(b, s->topology);
    gale_buf_puts(b, "\",component=\"");
    label_value(b, c->name);
    gale_buf_printf(b, "\",task=\"%" PRIu32 "\"%s}", task, extra ? extra : "");
}

typedef enum { COUNT_EMITTED, COUNT_TRANSFERRED, COUNT_EXECUTED, COUNT_ACKED, COUNT_FAILED, COUNT_ERRORS } count_t;

static uint64_t count_of(const gale_task_metrics_t *m, count_t k)
{
    switch (k) {
    case COUNT_EMITTED: return m->emitted;
    case COUNT_TRANSFERRED: return m->transferred;
    case COUNT_EXECUTED: return m->executed;
    case COUNT_ACKED: return m->acked;
    case COUNT_FAILED: return m->failed;
    case COUNT_ERRORS: return m->errors;
    }
    return 0;
}

static const struct {
    const char *name, *help;
} COUNTERS[] = {
    [COUNT_EMITTED] = {"gale_tuples_emitted_total", "Tuples a task emitted."},
    [COUNT_TRANSFERRED] = {"gale_tuples_transferred_total",
                           "Deliveries of the tuples a task emitted, one per receiving task."},
    [COUNT_EXECUTED] = {"gale_tuples_executed_total", "Tuples a bolt task executed."},
    [COUNT_ACKED] = {"gale_tuples_acked_total", "Spouts: tuple trees completed; bolts: inputs acked."},
    [COUNT_FAILED] = {"gale_tuples_failed_total", "Spouts: tuple trees failed; bolts: inputs failed."},
    [COUNT_ERRORS] = {"gale_task_errors_total", "Errors reported against a task."},
};

/* Bounds of the latency histograms, in seconds (the runtime's own buckets are finer: these are summed). */
static const double LE_S[] = {1e-6, 1e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
                              5e-2, 0.1,  0.25, 0.5,    1,    2.5,  5,      10,   30};

static void histogram(gale_buf_t *b, const char *name, const gale_status_t *s, const gale_status_component_t *c,
                      uint32_t task, const gale_hist_t *h)
{
    char extra[48];
    for (size_t i = 0; i < sizeof LE_S / sizeof *LE_S; i++) {
        snprintf(extra, sizeof extra, ",le=\"%g\"", LE_S[i]);
        gale_buf_printf(b, "%s_bucket", name);
        labels(b, s, c, task, extra);
        gale_buf_printf(b, " %" PRIu64 "\n", gale_hist_count_le(h, (uint64_t)(LE_S[i] * 1e9)));
    }
    gale_buf_printf(b, "%s_bucket", name);
    labels(b, s, c, task, ",le=\"+Inf\"");
    gale_buf_printf(b, " %" PRIu64 "\n%s_sum", h->count, name);
    labels(b, s, c, task, NULL);
    gale_buf_printf(b, " %.9f\n%s_count", (double)h->sum_ns / 1e9, name);
    labels(b, s, c, task, NULL);
    gale_buf_printf(b, " %" PRIu64 "\n", h->count);
}

typedef enum {
    TOPO_UPTIME,
    TOPO_RESTARTS,
    TOPO_CKPT_COMPLETED,
    TOPO_CKPT_FAILED,
    TOPO_CKPT_LATEST,
    TOPO_CKPT_DURATION,
    TOPO_CKPT_SIZE,
} topo_figure_t;

/* A family with one series per topology, labelled by its name alone; the checkpoint families only over those that
   take checkpoints (none: no family). */
static void topology_family(gale_buf_t *b, const gale_status_t *s, size_t n, const char *name, const char *type,
                            const char *help, topo_figure_t what)
{
    bool ckpt = what >= TOPO_CKPT_COMPLETED, any = !ckpt;
    for (size_t t = 0; t < n && !any; t++) any = s[t].checkpointing;
    if (!any) return;
    gale_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (size_t t = 0; t < n; t++) {
        if (ckpt && !s[t].checkpointing) continue;
        const gale_checkpoint_stats_t *c = &s[t].ckpt;
        gale_buf_printf(b, "%s{topology=\"", name);
        label_value(b, s[t].topology);
        switch (what) {
        case TOPO_UPTIME: gale_buf_printf(b, "\"} %.3f\n", s[t].uptime_s); break;
        case TOPO_RESTARTS: gale_buf_printf(b, "\"} %d\n", s[t].restarts); break;
        case TOPO_CKPT_COMPLETED: gale_buf_printf(b, "\"} %" PRIu64 "\n", c->completed); break;
        case TOPO_CKPT_FAILED: gale_buf_printf(b, "\"} %" PRIu64 "\n", c->failed); break;
        case TOPO_CKPT_LATEST: gale_buf_printf(b, "\"} %" PRIu64 "\n", c->last_id); break;
        case TOPO_CKPT_DURATION: gale_buf_printf(b, "\"} %.3f\n", (double)c->last_ms / 1e3); break;
        case TOPO_CKPT_SIZE: gale_buf_printf(b, "\"} %" PRIu64 "\n", c->last_bytes); break;
        }
    }
}

/* The metric `name` of kind `kind` in set `pm` (NULL: none there). */
static const gale_metric_t *metric_in(const gale_metric_set_t *pm, const char *name, gale_metric_kind_t kind)
{
    for (int i = 0; pm && i < pm->n; i++)
        if (pm->m[i].kind == kind && !strcmp(pm->m[i].name, name)) return &pm->m[i];
    return NULL;
}

/* One family's samples: every task that has the metric. */
static void plugin_samples(gale_buf_t *b, const gale_status_t *s, size_t n, const char *family,
                           const gale_metric_t *like)
{
    char extra[48];
    for (size_t t = 0; t < n; t++)
        for (size_t i = 0; i < s[t].n_components; i++) {
            const gale_status_component_t *c = &s[t].components[i];
            if (!metric_in(c->pm, like->name, like->kind)) continue;
            for (int j = 0; j < c->tasks; j++) {
                const gale_metric_t *m = metric_in(&c->task_pm[j], like->name, like->kind);
                uint32_t task = c->first_task + (uint32_t)j;
                if (!m) continue;
                if (m->kind != GALE_METRIC_HISTOGRAM) {
                    gale_buf_puts(b, family);
                    labels(b, &s[t], c, task, NULL);
                    if (m->kind == GALE_METRIC_COUNTER) gale_buf_printf(b, " %" PRIu64 "\n", m->count);
                    else if (isfinite(m->gauge)) {
                        gale_buf_puts(b, " ");
                        gale_json_double(b, m->gauge);
                        gale_buf_puts(b, "\n");
                    } else gale_buf_puts(b, isnan(m->gauge) ? " NaN\n" : m->gauge > 0 ? " +Inf\n" : " -Inf\n");
                    continue;
                }
                /* A plugin's values have no unit the runtime knows: buckets at powers of 4. */
                for (int e = 0; e <= 20; e++) {
                    uint64_t le = (uint64_t)1 << (2 * e);
                    snprintf(extra, sizeof extra, ",le=\"%" PRIu64 "\"", le);
                    gale_buf_printf(b, "%s_bucket", family);
                    labels(b, &s[t], c, task, extra);
                    gale_buf_printf(b, " %" PRIu64 "\n", gale_hist_count_le(&m->hist, le));
                }
                gale_buf_printf(b, "%s_bucket", family);
                labels(b, &s[t], c, task, ",le=\"+Inf\"");
                gale_buf_printf(b, " %" PRIu64 "\n%s_sum", m->hist.count, family);
                labels(b, &s[t], c, task, NULL);
                gale_buf_printf(b, " %" PRIu64 "\n%s_count", m->hist.sum_ns, family);
                labels(b, &s[t], c, task, NULL);
                gale_buf_printf(b, " %" PRIu64 "\n", m->hist.count);
            }
        }
}

/* The plugins' own metrics, a family per name: gale_plugin_NAME_total (counters), gale_plugin_NAME (gauges and
   histograms), each once whatever number of components and topologies have it. */
static void plugin_families(gale_buf_t *b, const gale_status_t *s, size_t n)
{
    enum { MAX_FAMILIES = 256 };
    const gale_metric_t *seen[MAX_FAMILIES];
    size_t n_seen = 0;
    for (size_t t = 0; t < n; t++)
        for (size_t i = 0; i < s[t].n_components; i++)
            for (int k = 0; s[t].components[i].pm && k < s[t].components[i].pm->n; k++) {
                const gale_metric_t *m = &s[t].components[i].pm->m[k];
                size_t j = 0;
                while (j < n_seen && strcmp(seen[j]->name, m->name)) j++;
                if (j < n_seen || n_seen == MAX_FAMILIES) continue; /* a name is one kind: the first seen */
                seen[n_seen++] = m;
                char family[GALE_METRIC_NAME_MAX + 32];
                snprintf(family, sizeof family, "gale_plugin_%s%s", m->name,
                         m->kind == GALE_METRIC_COUNTER ? "_total" : "");
                gale_buf_printf(b, "# HELP %s A %s the plugin registered.\n# TYPE %s %s\n", family,
                                gale_metric_kind_name(m->kind), family, gale_metric_kind_name(m->kind));
                plugin_samples(b, s, n, family, m);
            }
}

void gale_status_prometheus(gale_buf_t *b, const gale_status_t *s, size_t n)
{
    topology_family(b, s, n, "gale_topology_uptime_seconds", "gauge", "Seconds since the topology started.",
                    TOPO_UPTIME);
    topology_family(b, s, n, "gale_worker_restarts_total", "counter", "Worker processes restarted after they died.",
                    TOPO_RESTARTS);
    topology_family(b, s, n, "gale_checkpoints_completed_total", "counter", "Checkpoints completed.",
                    TOPO_CKPT_COMPLETED);
    topology_family(b, s, n, "gale_checkpoints_failed_total", "counter", "Checkpoints abandoned.", TOPO_CKPT_FAILED);
    topology_family(b, s, n, "gale_checkpoint_latest_id", "gauge", "The latest complete checkpoint (0: none).",
                    TOPO_CKPT_LATEST);
    topology_family(b, s, n, "gale_checkpoint_last_duration_seconds", "gauge",
                    "How long the latest complete checkpoint took, from its start to its record.", TOPO_CKPT_DURATION);
    topology_family(b, s, n, "gale_checkpoint_last_size_bytes", "gauge", "The latest complete checkpoint's snapshots.",
                    TOPO_CKPT_SIZE);
    for (size_t k = 0; k < sizeof COUNTERS / sizeof *COUNTERS; k++) {
        gale_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", COUNTERS[k].name, COUNTERS[k].help, COUNTERS[k].name);
        for (size_t t = 0; t < n; t++)
            for (size_t i = 0; i < s[t].n_components; i++) {
                const gale_status_component_t *c = &s[t].components[i];
                if (k == COUNT_EXECUTED && c->kind == GALE_SPOUT) continue;
                for (int j = 0; j < c->tasks; j++) {
                    gale_buf_puts(b, COUNTERS[k].name);
                    labels(b, &s[t], c, c->first_task + (uint32_t)j, NULL);
                    gale_buf_printf(b, " %" PRIu64 "\n", count_of(&c->task[j], (count_t)k));
                }
            }
    }
    gale_buf_puts(b, "# HELP gale_pending_trees Tuple trees a spout task has open now.\n"
                     "# TYPE gale_pending_trees gauge\n");
    for (size_t t = 0; t < n; t++)
        for (size_t i = 0; i < s[t].n_components; i++) {
            const gale_status_component_t *c = &s[t].components[i];
            if (c->kind != GALE_SPOUT) continue;
            for (int j = 0; j < c->tasks; j++) {
                gale_buf_puts(b, "gale_pending_trees");
                labels(b, &s[t], c, c->first_task + (uint32_t)j, NULL);
                gale_buf_printf(b, " %" PRIu64 "\n", c->task[j].pending);
            }
        }
    static const char *const EXEC[2][3] = {
        {"gale_queue_fill", "gauge", "How full the fullest inbound ring of the task's executor is now (0 to 1)."},
        {"gale_backpressure_seconds_total", "counter",
         "Time the task's executor held more than its rings took, so that every spout waited."}};
    for (int f = 0; f < 2; f++) {
        gale_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", EXEC[f][0], EXEC[f][2], EXEC[f][0], EXEC[f][1]);
        for (size_t t = 0; t < n; t++)
            for (size_t i = 0; i < s[t].n_components; i++) {
                const gale_status_component_t *c = &s[t].components[i];
                for (int j = 0; j < c->tasks; j++) {
                    gale_buf_puts(b, EXEC[f][0]);
                    labels(b, &s[t], c, c->first_task + (uint32_t)j, NULL);
                    gale_buf_printf(b, " %.6f\n", f ? (double)c->task[j].backpressure_ns / 1e9 : c->task[j].queue_fill);
                }
            }
    }
    gale_buf_puts(b, "# HELP gale_capacity Storm's capacity of a bolt task over the last 10 minutes: executed times "
                     "mean execute latency over the time (1: always busy).\n# TYPE gale_capacity gauge\n");
    for (size_t t = 0; t < n; t++)
        for (size_t i = 0; i < s[t].n_components; i++) {
            const gale_status_component_t *c = &s[t].components[i];
            if (c->kind == GALE_SPOUT) continue;
            for (int j = 0; j < c->tasks; j++) {
                gale_buf_puts(b, "gale_capacity");
                labels(b, &s[t], c, c->first_task + (uint32_t)j, NULL);
                gale_buf_printf(b, " %.6f\n", task_capacity(&s[t], i, j));
            }
        }
    static const char *const HIST[3][2] = {
        {"gale_execute_latency_seconds", "Time a bolt task spent in execute, sampled."},
        {"gale_complete_latency_seconds", "Time from a spout's emit to its tuple tree's completion."},
        {"gale_process_latency_seconds", "Time from a bolt task's execute to the input's ack, sampled."}};
    for (int h = 0; h < 3; h++) {
        gale_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", HIST[h][0], HIST[h][1], HIST[h][0]);
        for (size_t t = 0; t < n; t++)
            for (size_t i = 0; i < s[t].n_components; i++) {
                const gale_status_component_t *c = &s[t].components[i];
                if ((c->kind == GALE_SPOUT) != (h == 1)) continue;
                for (int j = 0; j < c->tasks; j++)
                    histogram(b, HIST[h][0], &s[t], c, c->first_task + (uint32_t)j,
                              h == 1   ? &c->task[j].complete
                              : h == 2 ? &c->task[j].process
                                       : &c->task[j].exec);
            }
    }
    plugin_families(b, s, n);
}
