#include "metrics_out.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "mpread.h"

/* Microseconds (or milliseconds, `scale` 1e6) of a mean (q < 0) or a quantile; "-" when nothing was measured. */
static void fmt_time(char *buf, size_t cap, const gale_hist_t *h, double q, double scale)
{
    if (!h->count) {
        snprintf(buf, cap, "-");
        return;
    }
    double ns = q < 0 ? (double)h->sum_ns / (double)h->count : (double)gale_hist_quantile(h, q);
    snprintf(buf, cap, "%.2f", ns / scale);
}

void gale_metrics_table_header(FILE *f)
{
    fprintf(f, "%-16s %-5s %5s %12s %12s %12s %9s %9s %10s %8s %7s %9s %9s\n", "component", "kind", "tasks",
            "emitted", "executed", "executed/s", "exec_us", "exec_p99", "acked", "failed", "errors", "cmpl_p50",
            "cmpl_p99");
}

void gale_metrics_table_row(FILE *f, const char *name, gale_kind_t kind, int tasks, const gale_task_metrics_t *m,
                            double secs)
{
    char mean[32], p99[32], c50[32], c99[32];
    fmt_time(mean, sizeof mean, &m->exec, -1, 1e3);
    fmt_time(p99, sizeof p99, &m->exec, 0.99, 1e3);
    fmt_time(c50, sizeof c50, &m->complete, 0.50, 1e6);
    fmt_time(c99, sizeof c99, &m->complete, 0.99, 1e6);
    fprintf(f, "%-16s %-5s %5d %12" PRIu64 " %12" PRIu64 " %12.0f %9s %9s %10" PRIu64 " %8" PRIu64 " %7" PRIu64
               " %9s %9s\n",
            name, kind == GALE_SPOUT ? "spout" : "bolt", tasks, m->emitted, m->executed,
            secs > 0 ? (double)m->executed / secs : 0.0, mean, p99, m->acked, m->failed, m->errors, c50, c99);
    if (m->last_error.time_ms) { /* Storm UI's lastError, under its component's row */
        time_t s = (time_t)(m->last_error.time_ms / 1000);
        struct tm tm;
        char when[32] = "?";
        if (gmtime_r(&s, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(f, "  last error, task %" PRIu32 " at %s: %s\n", m->last_error.task, when, m->last_error.text);
    }
}

void gale_metrics_table_plugin(FILE *f, const gale_metric_set_t *pm)
{
    if (!pm || !pm->n) return;
    fprintf(f, "  its own metrics:");
    for (int i = 0; i < pm->n; i++) {
        const gale_metric_t *m = &pm->m[i];
        if (m->kind == GALE_METRIC_COUNTER) fprintf(f, " %s=%" PRIu64, m->name, m->count);
        else if (m->kind == GALE_METRIC_GAUGE) fprintf(f, " %s=%g", m->name, m->gauge);
        else
            fprintf(f, " %s: %" PRIu64 " values, p50 %" PRIu64 ", p99 %" PRIu64, m->name, m->hist.count,
                    gale_hist_quantile(&m->hist, 0.5), gale_hist_quantile(&m->hist, 0.99));
    }
    fputc('\n', f);
}

void gale_metrics_table_footer(FILE *f)
{
    fprintf(f, "(exec_us: mean execute time in microseconds, sampled; cmpl: complete latency of spout trees in "
               "milliseconds)\n");
}

static void json_quantiles(gale_buf_t *b, const char *name, const gale_hist_t *h, double scale)
{
    static const double qs[] = {0.5, 0.99, 0.999};
    static const char *qn[] = {"p50", "p99", "p999"};
    for (int i = 0; i < 3; i++) {
        if (h->count) gale_buf_printf(b, ", \"%s_%s\": %.6f", name, qn[i], (double)gale_hist_quantile(h, qs[i]) / scale);
        else gale_buf_printf(b, ", \"%s_%s\": null", name, qn[i]);
    }
}

void gale_hist_json(gale_buf_t *b, const gale_hist_t *h)
{
    gale_buf_printf(b, "[%" PRIu64 ", %" PRIu64 ", %" PRIu64, h->count, h->sum_ns, h->max_ns);
    for (int i = 0; i < GALE_HIST_BUCKETS; i++)
        if (h->buckets[i]) gale_buf_printf(b, ", %d, %" PRIu32, i, h->buckets[i]);
    gale_buf_puts(b, "]");
}

/* The figures of a component or of one task, after its id field: counts, latency quantiles, the last error, the
   plugin's metrics, and with `hists` the histograms themselves. */
static void figures_json(gale_buf_t *b, const gale_task_metrics_t *m, const gale_metric_set_t *pm, bool hists)
{
    gale_buf_printf(b,
                    ", \"emitted\": %" PRIu64 ", \"transferred\": %" PRIu64 ", \"executed\": %" PRIu64
                    ", \"acked\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"errors\": %" PRIu64
                    ", \"exec_mean_us\": %.3f",
                    m->emitted, m->transferred, m->executed, m->acked, m->failed, m->errors,
                    m->exec.count ? (double)m->exec.sum_ns / (double)m->exec.count / 1e3 : 0.0);
    json_quantiles(b, "exec_us", &m->exec, 1e3);
    json_quantiles(b, "complete_ms", &m->complete, 1e6);
    json_quantiles(b, "e2e_ms", &m->e2e, 1e6);
    json_quantiles(b, "process_us", &m->process, 1e3);
    if (m->last_error.time_ms) {
        gale_buf_printf(b, ", \"last_error\": {\"time_ms\": %" PRId64 ", \"task\": %" PRIu32 ", \"error\": ",
                        m->last_error.time_ms, m->last_error.task);
        gale_json_string(b, m->last_error.text, strlen(m->last_error.text));
        gale_buf_puts(b, "}");
    } else {
        gale_buf_puts(b, ", \"last_error\": null");
    }
    gale_buf_printf(b, ", \"pending\": %" PRIu64 ", \"queue_fill\": %.4f, \"backpressure_ms\": %.3f", m->pending,
                    m->queue_fill, (double)m->backpressure_ns / 1e6);
    if (m->restarts) gale_buf_printf(b, ", \"restarts\": %" PRIu64, m->restarts);
    gale_metric_set_json(b, pm);
    if (hists) {
        gale_buf_puts(b, ", \"hist\": {\"exec\": ");
        gale_hist_json(b, &m->exec);
        gale_buf_puts(b, ", \"complete\": ");
        gale_hist_json(b, &m->complete);
        gale_buf_puts(b, ", \"e2e\": ");
        gale_hist_json(b, &m->e2e);
        gale_buf_puts(b, ", \"process\": ");
        gale_hist_json(b, &m->process);
        gale_buf_puts(b, "}");
    }
}

static bool did_anything(const gale_task_metrics_t *m, const gale_metric_set_t *pm)
{
    return m->emitted || m->executed || m->acked || m->failed || m->errors || m->exec.count || m->complete.count ||
           m->last_error.time_ms || (pm && pm->n);
}

void gale_metrics_json(gale_buf_t *b, const gale_metrics_doc_t *c, bool hists)
{
    gale_buf_puts(b, "{\"name\": ");
    gale_json_string(b, c->name, strlen(c->name));
    gale_buf_printf(b, ", \"kind\": \"%s\", \"tasks\": %d", c->kind == GALE_SPOUT ? "spout" : "bolt", c->tasks);
    figures_json(b, c->m, c->pm, hists);
    if (c->per_task) {
        gale_buf_puts(b, ", \"per_task\": [");
        bool first = true;
        for (int k = 0; k < c->tasks; k++) {
            const gale_metric_set_t *pm = c->per_task_pm ? &c->per_task_pm[k] : NULL;
            if (!did_anything(&c->per_task[k], pm)) continue;
            gale_buf_printf(b, "%s{\"task\": %" PRIu32, first ? "" : ", ", c->first_task + (uint32_t)k);
            figures_json(b, &c->per_task[k], pm, true);
            gale_buf_puts(b, "}");
            first = false;
        }
        gale_buf_puts(b, "]");
    }
    gale_buf_puts(b, "}");
}

static int uint_at(const gale_value_t *arr, uint32_t i, uint64_t *out)
{
    gale_value_t v;
    if (gale_mp_item(arr, i, &v)) return GALE_ECORRUPT;
    if (v.type == GALE_INT && v.i >= 0) *out = (uint64_t)v.i;
    else if (v.type == GALE_UINT) *out = v.u;
    else return GALE_ECORRUPT;
    return 0;
}

int gale_hist_merge_value(gale_hist_t *into, const gale_value_t *h)
{
    if (h->type != GALE_ARRAY || h->n < 3 || (h->n - 3) % 2) return GALE_ECORRUPT;
    gale_hist_t got = {0};
    if (uint_at(h, 0, &got.count) || uint_at(h, 1, &got.sum_ns) || uint_at(h, 2, &got.max_ns)) return GALE_ECORRUPT;
    for (uint32_t i = 3; i < h->n; i += 2) {
        uint64_t bucket, n;
        if (uint_at(h, i, &bucket) || uint_at(h, i + 1, &n) || bucket >= GALE_HIST_BUCKETS || n > UINT32_MAX)
            return GALE_ECORRUPT;
        got.buckets[bucket] = (uint32_t)n;
    }
    gale_hist_merge(into, &got);
    return 0;
}
