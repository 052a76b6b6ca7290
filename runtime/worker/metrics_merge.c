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

/* The components in report order: topological, then the ackers when there are any. */
typedef struct merged {
    size_t n;
    const char **name;
    gale_kind_t *kind;
    int *tasks;
    gale_task_metrics_t *m;
    double secs, rss_kb, threads;
    int workers;            /* the processes the documents speak for: a part's merged document counts its own */
    gale_sup_losses_t lost; /* what merged documents carried (a part's losses, merged again by nimbus) */
} merged_t;

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

static int absorb_component(merged_t *g, const gale_value_t *obj)
{
    gale_value_t k, v, name = {0};
    for (uint32_t i = 0; i < obj->n; i++)
        if (!gale_mp_item(obj, 2 * i, &k) && key_is(&k, "name")) gale_mp_item(obj, 2 * i + 1, &name);
    size_t c = 0;
    while (c < g->n && !(name.type == GALE_STR && key_is(&name, g->name[c]))) c++;
    if (c == g->n) return 0; /* not of this topology: ignored */
    gale_task_metrics_t *m = &g->m[c];
    for (uint32_t i = 0; i < obj->n; i++) {
        if (gale_mp_item(obj, 2 * i, &k) || gale_mp_item(obj, 2 * i + 1, &v)) return GALE_ECORRUPT;
        if (key_is(&k, "emitted")) m->emitted += count(&v);
        else if (key_is(&k, "transferred")) m->transferred += count(&v);
        else if (key_is(&k, "executed")) m->executed += count(&v);
        else if (key_is(&k, "acked")) m->acked += count(&v);
        else if (key_is(&k, "failed")) m->failed += count(&v);
        else if (key_is(&k, "errors")) m->errors += count(&v);
        else if (key_is(&k, "last_error") && v.type == GALE_MAP) absorb_last_error(m, &v);
        else if (key_is(&k, "hist") && v.type == GALE_MAP) {
            for (uint32_t h = 0; h < v.n; h++) {
                gale_value_t hk, hv;
                if (gale_mp_item(&v, 2 * h, &hk) || gale_mp_item(&v, 2 * h + 1, &hv)) return GALE_ECORRUPT;
                gale_hist_t *into = key_is(&hk, "exec") ? &m->exec : key_is(&hk, "complete") ? &m->complete
                                    : key_is(&hk, "e2e")                                 ? &m->e2e
                                                                                          : NULL;
                if (into && gale_hist_merge_value(into, &hv)) return GALE_ECORRUPT;
            }
        }
    }
    return 0;
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

/* All of a document or none of it: it is read into a copy, kept only when the whole of it parsed. */
static int absorb(merged_t *g, gale_task_metrics_t *scratch, const char *doc)
{
    merged_t trial = *g;
    trial.m = scratch;
    memcpy(scratch, g->m, g->n * sizeof *scratch);
    int rc = absorb_doc(&trial, doc);
    if (rc) return rc;
    memcpy(g->m, scratch, g->n * sizeof *scratch);
    g->secs = trial.secs, g->rss_kb = trial.rss_kb, g->threads = trial.threads;
    g->workers = trial.workers, g->lost = trial.lost;
    return 0;
}

/* The caller's losses and those the documents carried. */
static gale_sup_losses_t losses(const merged_t *g, const gale_sup_losses_t *l)
{
    return (gale_sup_losses_t){.restarts = l->restarts + g->lost.restarts,
                               .lost_trees = l->lost_trees + g->lost.lost_trees,
                               .resumed_trees = l->resumed_trees + g->lost.resumed_trees};
}

static void merged_free(merged_t *g)
{
    if (!g) return;
    free(g->name), free(g->kind), free(g->tasks), free(g->m);
    free(g);
}

static merged_t *merge(const gale_topology_t *t, const char *const *stats, int n)
{
    merged_t *g = calloc(1, sizeof *g);
    size_t cap = t->n_components + 1;
    if (g) {
        g->name = calloc(cap, sizeof *g->name), g->kind = calloc(cap, sizeof *g->kind);
        g->tasks = calloc(cap, sizeof *g->tasks), g->m = calloc(cap, sizeof *g->m);
    }
    gale_task_metrics_t *scratch = calloc(cap, sizeof *scratch);
    if (!g || !g->name || !g->kind || !g->tasks || !g->m || !scratch) {
        merged_free(g);
        free(scratch);
        return NULL;
    }
    for (size_t k = 0; k <= t->n_components; k++) {
        if (k == t->n_components && t->config.ackers == 0) break;
        const gale_component_t *c = k < t->n_components ? &t->components[t->order[k]] : NULL;
        g->name[g->n] = c ? c->name : "__acker";
        g->kind[g->n] = c ? c->kind : GALE_BOLT;
        g->tasks[g->n] = c ? c->parallelism : t->config.ackers;
        g->n++;
    }
    for (int i = 0; i < n; i++)
        if (stats[i] && absorb(g, scratch, stats[i]))
            gale_logf(GALE_LOG_WARN, "supervisor", "the metrics of worker %d did not parse: left out", i);
    free(scratch);
    return g;
}

void gale_metrics_merged_report(const gale_topology_t *t, const char *const *stats, int n, const gale_sup_losses_t *l,
                              FILE *out)
{
    merged_t *g = merge(t, stats, n);
    if (!g) return;
    gale_sup_losses_t all = losses(g, l);
    fprintf(out, "topology '%s' ran %.2f s in %d workers (%d restart%s", t->name, g->secs,
            n > g->workers ? n : g->workers, all.restarts, all.restarts == 1 ? "" : "s");
    if (all.lost_trees) fprintf(out, ", %" PRIu64 " tuple trees lost with dead workers", all.lost_trees);
    if (all.resumed_trees)
        fprintf(out, ", %" PRIu64 " tuple trees emitted again by restarted replayable spouts", all.resumed_trees);
    fprintf(out, ")\n");
    gale_metrics_table_header(out);
    for (size_t c = 0; c < g->n; c++) gale_metrics_table_row(out, g->name[c], g->kind[c], g->tasks[c], &g->m[c], g->secs);
    gale_metrics_table_footer(out);
    fprintf(out, "(summed over the workers; a restarted worker's metrics are those of its last life)\n");
    merged_free(g);
}

int gale_metrics_merged_json(const gale_topology_t *t, const char *const *stats, int n, const gale_sup_losses_t *l,
                             bool mergeable, FILE *f)
{
    merged_t *g = merge(t, stats, n);
    if (!g) return GALE_ENOMEM;
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
        gale_metrics_json(&b, g->name[c], g->kind[c], g->tasks[c], &g->m[c], mergeable);
    }
    gale_buf_puts(&b, "]}\n");
    int rc = b.failed ? GALE_ENOMEM : fputs(b.p, f) < 0 ? GALE_EIO : 0;
    gale_buf_free(&b);
    merged_free(g);
    return rc;
}
