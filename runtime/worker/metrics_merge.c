#include "metrics_merge.h"

#include <inttypes.h>

#include <msgpack.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"
#include "log.h"
#include "metrics_out.h"
#include "mpread.h"
#include "scheduler.h"

typedef gale_merged_t merged_t;

static bool key_is(const gale_value_t *k, const char *s)
{
    return k->type == GALE_STR && k->s.len == strlen(s) && !memcmp(k->s.ptr, s, k->s.len);
}

static double number(const gale_value_t *v)
{
    return v->type == GALE_INT ? (double)v->i : v->type == GALE_UINT ? (double)v->u : v->type == GALE_DOUBLE ? v->d : 0;
}

static uint64_t count(const gale_value_t *v) { return v->type == GALE_INT && v->i > 0 ? (uint64_t)v->i : v->type == GALE_UINT ? v->u : 0; }

/* A worker's {"time_ms", "task", "error"}: the latest of the workers' is the component's. */
static void absorb_last_error(gale_task_metrics_t *m, const gale_value_t *obj)
{
    gale_last_error_t e = {0};
    gale_value_t k, v;
    for (uint32_t i = 0; i < obj->n; i++) {
        if (gale_mp_item(obj, 2 * i, &k) || gale_mp_item(obj, 2 * i + 1, &v)) return;
        if (key_is(&k, "time_ms")) e.time_ms = (int64_t)count(&v);
        else if (key_is(&k, "task")) e.task = (uint32_t)count(&v);
        else if (key_is(&k, "error") && v.type == GALE_STR)
            snprintf(e.text, sizeof e.text, "%.*s", (int)(v.s.len < sizeof e.text ? v.s.len : sizeof e.text - 1),
                     v.s.ptr);
    }
    gale_last_error_keep(&m->last_error, &e);
}

/* The figures of a component or a task (gale_metrics_json's), added to `m`. */
/* The plugin metrics of block entry `at` (a component's or a task's), made when first needed. */
static gale_metric_set_t *pm_at(merged_t *g, size_t at)
{
    if (!g->pm[at]) g->pm[at] = calloc(1, sizeof *g->pm[at]);
    return g->pm[at];
}

static int absorb_figures(merged_t *g, size_t at, const gale_value_t *obj)
{
    gale_task_metrics_t *m = &g->m[at];
    gale_value_t k, v;
    for (uint32_t i = 0; i < obj->n; i++) {
        if (gale_mp_item(obj, 2 * i, &k) || gale_mp_item(obj, 2 * i + 1, &v)) return GALE_ECORRUPT;
        if (key_is(&k, "emitted")) m->emitted += count(&v);
        else if (key_is(&k, "transferred")) m->transferred += count(&v);
        else if (key_is(&k, "executed")) m->executed += count(&v);
        else if (key_is(&k, "acked")) m->acked += count(&v);
        else if (key_is(&k, "failed")) m->failed += count(&v);
        else if (key_is(&k, "errors")) m->errors += count(&v);
        else if (key_is(&k, "pending")) m->pending += count(&v);
        else if (key_is(&k, "restarts")) m->restarts += count(&v);
        else if (key_is(&k, "queue_fill") && number(&v) > m->queue_fill) m->queue_fill = number(&v);
        else if (key_is(&k, "backpressure_ms") && number(&v) * 1e6 > (double)m->backpressure_ns)
            m->backpressure_ns = (uint64_t)(number(&v) * 1e6);
        else if (key_is(&k, "last_error") && v.type == GALE_MAP) absorb_last_error(m, &v);
        else if (key_is(&k, "metrics")) {
            gale_metric_set_t *pm = pm_at(g, at);
            if (!pm) return GALE_ENOMEM;
            if (gale_metric_set_absorb(pm, &v)) return GALE_ECORRUPT;
        } else if (key_is(&k, "hist") && v.type == GALE_MAP) {
            for (uint32_t h = 0; h < v.n; h++) {
                gale_value_t hk, hv;
                if (gale_mp_item(&v, 2 * h, &hk) || gale_mp_item(&v, 2 * h + 1, &hv)) return GALE_ECORRUPT;
                gale_hist_t *into = key_is(&hk, "exec")       ? &m->exec
                                    : key_is(&hk, "complete") ? &m->complete
                                    : key_is(&hk, "e2e")      ? &m->e2e
                                    : key_is(&hk, "process")  ? &m->process
                                                              : NULL;
                if (into && gale_hist_merge_value(into, &hv)) return GALE_ECORRUPT;
            }
        }
    }
    return 0;
}

/* "per_task": [{"task": ID, figures}, ...]: each into its task of component `c`; a task not of it is corrupt. */
static int absorb_per_task(merged_t *g, size_t c, const gale_value_t *arr)
{
    for (uint32_t i = 0; i < arr->n; i++) {
        gale_value_t obj, k, v;
        int64_t id = -1;
        if (gale_mp_item(arr, i, &obj) || obj.type != GALE_MAP) return GALE_ECORRUPT;
        for (uint32_t j = 0; j < obj.n; j++)
            if (!gale_mp_item(&obj, 2 * j, &k) && key_is(&k, "task") && !gale_mp_item(&obj, 2 * j + 1, &v))
                id = (int64_t)count(&v);
        if (id < g->first_task[c] || id >= (int64_t)g->first_task[c] + g->tasks[c]) return GALE_ECORRUPT;
        int rc = absorb_figures(g, (size_t)(g->task[c] - g->m) + (size_t)(id - g->first_task[c]), &obj);
        if (rc) return rc;
    }
    return 0;
}

static int absorb_component(merged_t *g, const gale_value_t *obj)
{
    gale_value_t k, v, name = {0};
    for (uint32_t i = 0; i < obj->n; i++)
        if (!gale_mp_item(obj, 2 * i, &k) && key_is(&k, "name")) gale_mp_item(obj, 2 * i + 1, &name);
    size_t c = 0;
    while (c < g->n && !(name.type == GALE_STR && key_is(&name, g->name[c]))) c++;
    if (c == g->n) return 0; /* not of this topology: ignored */
    int rc = absorb_figures(g, c, obj);
    for (uint32_t i = 0; !rc && i < obj->n; i++)
        if (!gale_mp_item(obj, 2 * i, &k) && key_is(&k, "per_task") && !gale_mp_item(obj, 2 * i + 1, &v) &&
            v.type == GALE_ARRAY)
            rc = absorb_per_task(g, c, &v);
    return rc;
}

/* A document's "checkpoints" (the coordinator's: one document has them). */
static void absorb_checkpoints(merged_t *g, const gale_value_t *map)
{
    gale_checkpoint_stats_t *c = &g->ckpt;
    gale_value_t k, v;
    for (uint32_t i = 0; i < map->n; i++) {
        if (gale_mp_item(map, 2 * i, &k) || gale_mp_item(map, 2 * i + 1, &v)) return;
        if (key_is(&k, "completed")) c->completed = count(&v);
        else if (key_is(&k, "failed")) c->failed = count(&v);
        else if (key_is(&k, "last")) c->last_id = count(&v);
        else if (key_is(&k, "restored")) c->restored = count(&v);
        else if (key_is(&k, "restored_entries")) c->restored_keys = count(&v);
        else if (key_is(&k, "last_ms")) c->last_ms = count(&v);
        else if (key_is(&k, "last_bytes")) c->last_bytes = count(&v);
    }
    g->checkpointed = true;
}

static int absorb_doc(merged_t *g, const char *doc)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    gale_value_t top, k, v;
    size_t used;
    int rc = gale_json_parse(doc, strlen(doc), &pk, NULL, NULL);
    if (!rc) rc = gale_mp_read(sb.data, sb.size, &top, &used);
    if (!rc && top.type != GALE_MAP) rc = GALE_ECORRUPT;
    int workers = 1; /* a worker's own document has no "workers" */
    for (uint32_t i = 0; !rc && i < top.n; i++) {
        if ((rc = gale_mp_item(&top, 2 * i, &k)) || (rc = gale_mp_item(&top, 2 * i + 1, &v))) break;
        if (key_is(&k, "seconds") && number(&v) > g->secs) g->secs = number(&v);
        else if (key_is(&k, "peak_rss_kb")) g->rss_kb += number(&v);
        else if (key_is(&k, "threads")) g->threads += number(&v);
        else if (key_is(&k, "workers")) workers = (int)count(&v);
        else if (key_is(&k, "restarts")) g->lost.restarts += (int)count(&v);
        else if (key_is(&k, "lost_trees")) g->lost.lost_trees += count(&v);
        else if (key_is(&k, "resumed_trees")) g->lost.resumed_trees += count(&v);
        else if (key_is(&k, "checkpoints") && v.type == GALE_MAP) absorb_checkpoints(g, &v);
        else if (key_is(&k, "components") && v.type == GALE_ARRAY)
            for (uint32_t c = 0; !rc && c < v.n; c++) {
                gale_value_t obj;
                rc = gale_mp_item(&v, c, &obj);
                if (!rc && obj.type == GALE_MAP) rc = absorb_component(g, &obj);
            }
    }
    g->workers += workers;
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* All of a document or none of it: it is read into `trial` (the same shape as `g`, its own figures), kept only when
   the whole of it parsed. */
static int absorb(merged_t *g, merged_t *trial, const char *doc)
{
    memcpy(trial->m, g->m, g->n_all * sizeof *g->m);
    trial->secs = g->secs, trial->rss_kb = g->rss_kb, trial->threads = g->threads;
    trial->workers = g->workers, trial->lost = g->lost;
    trial->checkpointed = g->checkpointed, trial->ckpt = g->ckpt;
    int rc = absorb_doc(trial, doc); /* the plugin metrics into trial's own, this document's alone */
    for (size_t i = 0; i < g->n_all; i++) {
        if (!trial->pm[i]) continue;
        if (!rc && pm_at(g, i)) gale_metric_set_merge(g->pm[i], trial->pm[i]);
        free(trial->pm[i]);
        trial->pm[i] = NULL;
    }
    if (rc) return rc;
    memcpy(g->m, trial->m, g->n_all * sizeof *g->m);
    g->secs = trial->secs, g->rss_kb = trial->rss_kb, g->threads = trial->threads;
    g->workers = trial->workers, g->lost = trial->lost;
    g->checkpointed = trial->checkpointed, g->ckpt = trial->ckpt;
    return 0;
}

/* The caller's losses and those the documents carried. */
static gale_sup_losses_t losses(const merged_t *g, const gale_sup_losses_t *l)
{
    return (gale_sup_losses_t){.restarts = l->restarts + g->lost.restarts,
                               .lost_trees = l->lost_trees + g->lost.lost_trees,
                               .resumed_trees = l->resumed_trees + g->lost.resumed_trees,
                               .checkpoints = l->checkpoints    ? l->checkpoints
                                              : g->checkpointed ? &g->ckpt
                                                                : NULL};
}

void gale_merged_free(gale_merged_t *g)
{
    if (!g) return;
    for (size_t i = 0; g->pm && i < g->n_all; i++) free(g->pm[i]);
    free(g->name), free(g->kind), free(g->tasks), free(g->first_task), free(g->m), free(g->task), free(g->pm);
    free(g);
}

/* An empty record of topology `t`'s components, their figures in one block: the components', then each one's
   tasks'. */
static merged_t *merged_new(const gale_topology_t *t)
{
    merged_t *g = calloc(1, sizeof *g);
    size_t cap = t->n_components + 1, n_all = cap + t->n_tasks + (size_t)t->config.ackers;
    if (g) {
        g->name = calloc(cap, sizeof *g->name), g->kind = calloc(cap, sizeof *g->kind);
        g->tasks = calloc(cap, sizeof *g->tasks), g->first_task = calloc(cap, sizeof *g->first_task);
        g->m = calloc(n_all, sizeof *g->m), g->task = calloc(cap, sizeof *g->task);
    }
    if (!g || !g->name || !g->kind || !g->tasks || !g->first_task || !g->m || !g->task) {
        gale_merged_free(g);
        return NULL;
    }
    for (size_t k = 0; k <= t->n_components; k++) {
        if (k == t->n_components && t->config.ackers == 0) break;
        const gale_component_t *c = k < t->n_components ? &t->components[t->order[k]] : NULL;
        g->name[g->n] = c ? c->name : "__acker";
        g->kind[g->n] = c ? c->kind : GALE_BOLT;
        g->tasks[g->n] = c ? c->parallelism : t->config.ackers;
        g->first_task[g->n] = c ? c->first_task : t->n_tasks + 1;
        g->n++;
    }
    size_t used = g->n;
    for (size_t c = 0; c < g->n; c++) {
        g->task[c] = g->m + used;
        used += (size_t)g->tasks[c];
    }
    g->n_all = used;
    if (!(g->pm = calloc(used, sizeof *g->pm))) {
        gale_merged_free(g);
        return NULL;
    }
    return g;
}

void gale_merged_add_restarts(gale_merged_t *g, const gale_topology_t *t, int slots, const int *slot_restarts)
{
    gale_placement_t p;
    if (!slot_restarts || slots < 1 || gale_schedule(t, t->config.ackers, slots, 1, &p)) return;
    for (size_t c = 0; c < g->n; c++) {
        bool *counted = calloc((size_t)slots, sizeof *counted);
        for (int k = 0; k < g->tasks[c]; k++) {
            uint32_t id = g->first_task[c] + (uint32_t)k;
            if (id > p.n_tasks) continue;
            int slot = p.worker[id];
            g->task[c][k].restarts += (uint64_t)slot_restarts[slot];
            if (counted && !counted[slot]) counted[slot] = true, g->m[c].restarts += (uint64_t)slot_restarts[slot];
        }
        free(counted);
    }
    gale_placement_free(&p);
}

gale_merged_t *gale_metrics_merge(const gale_topology_t *t, const char *const *stats, int n)
{
    merged_t *g = merged_new(t), *trial = merged_new(t);
    if (!g || !trial) {
        gale_merged_free(g), gale_merged_free(trial);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (stats[i] && absorb(g, trial, stats[i]))
            gale_logf(GALE_LOG_WARN, "supervisor", "the metrics of worker %d did not parse: left out", i);
    gale_merged_free(trial);
    return g;
}

void gale_metrics_merged_report(const gale_topology_t *t, const char *const *stats, int n, const gale_sup_losses_t *l,
                              FILE *out)
{
    merged_t *g = gale_metrics_merge(t, stats, n);
    if (!g) return;
    gale_sup_losses_t all = losses(g, l);
    fprintf(out, "topology '%s' ran %.2f s in %d workers (%d restart%s", t->name, g->secs,
            n > g->workers ? n : g->workers, all.restarts, all.restarts == 1 ? "" : "s");
    if (all.lost_trees) fprintf(out, ", %" PRIu64 " tuple trees lost with dead workers", all.lost_trees);
    if (all.resumed_trees)
        fprintf(out, ", %" PRIu64 " tuple trees emitted again by restarted replayable spouts", all.resumed_trees);
    fprintf(out, ")\n");
    gale_metrics_table_header(out);
    for (size_t c = 0; c < g->n; c++) {
        gale_metrics_table_row(out, g->name[c], g->kind[c], g->tasks[c], &g->m[c], g->secs);
        gale_metrics_table_plugin(out, g->pm[c]);
    }
    gale_metrics_table_footer(out);
    fprintf(out, "(summed over the workers; a restarted worker's metrics are those of its last life)\n");
    gale_merged_free(g);
}

int gale_metrics_merged_json(const gale_topology_t *t, const char *const *stats, int n, const gale_sup_losses_t *l,
                             bool mergeable, FILE *f)
{
    merged_t *g = gale_metrics_merge(t, stats, n);
    if (!g) return GALE_ENOMEM;
    gale_merged_add_restarts(g, t, l->slots, l->slot_restarts);
    gale_sup_losses_t all = losses(g, l);
    gale_buf_t b = {0};
    gale_buf_puts(&b, "{\"topology\": ");
    gale_json_string(&b, t->name, strlen(t->name));
    gale_buf_printf(&b,
                    ", \"seconds\": %.6f, \"workers\": %d, \"threads\": %.0f, \"peak_rss_kb\": %.0f, \"restarts\": %d, "
                    "\"lost_trees\": %" PRIu64 ", \"resumed_trees\": %" PRIu64 ", \"components\": [",
                    g->secs, n > g->workers ? n : g->workers, g->threads, g->rss_kb, all.restarts, all.lost_trees,
                    all.resumed_trees);
    for (size_t c = 0; c < g->n; c++) {
        if (c) gale_buf_puts(&b, ", ");
        gale_metric_set_t *per_task_pm = mergeable ? calloc((size_t)g->tasks[c] + 1, sizeof *per_task_pm) : NULL;
        for (int k = 0; per_task_pm && k < g->tasks[c]; k++) {
            const gale_metric_set_t *of = g->pm[(size_t)(g->task[c] - g->m) + (size_t)k];
            if (of) per_task_pm[k] = *of;
        }
        gale_metrics_doc_t doc = {.name = g->name[c],
                                  .kind = g->kind[c],
                                  .tasks = g->tasks[c],
                                  .first_task = g->first_task[c],
                                  .m = &g->m[c],
                                  .pm = g->pm[c],
                                  .per_task = mergeable ? g->task[c] : NULL,
                                  .per_task_pm = per_task_pm};
        if (mergeable && !per_task_pm) b.failed = 1;
        gale_metrics_json(&b, &doc, mergeable);
        free(per_task_pm);
    }
    gale_buf_puts(&b, "]");
    if (all.checkpoints) gale_checkpoint_stats_json(&b, all.checkpoints);
    gale_buf_puts(&b, "}\n");
    int rc = b.failed ? GALE_ENOMEM : fputs(b.p, f) < 0 ? GALE_EIO : 0;
    gale_buf_free(&b);
    gale_merged_free(g);
    return rc;
}
