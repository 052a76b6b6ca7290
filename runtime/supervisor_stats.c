#include "supervisor_stats.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

/* ---- figures --------------------------------------------------------------------------------------------------- */

static double field(const char *obj, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = obj ? strstr(obj, pat) : NULL;
    return p ? strtod(p + strlen(pat), NULL) : 0;
}

void gale_stats_merged_report(const gale_topology_t *t, const char *const *stats, int n, int restarts, FILE *out)
{
    double secs = 0;
    for (int i = 0; i < n; i++)
        if (field(stats[i], "seconds") > secs) secs = field(stats[i], "seconds");
    fprintf(out, "topology '%s' ran %.2f s in %d workers", t->name, secs, n);
    fprintf(out, " (%d restart%s)\n", restarts, restarts == 1 ? "" : "s");
    fprintf(out, "%-16s %-5s %5s %12s %12s %12s %10s %8s %7s\n", "component", "kind", "tasks", "emitted", "executed",
            "executed/s", "acked", "failed", "errors");
    for (size_t k = 0; k <= t->n_components; k++) {
        const char *name = k < t->n_components ? t->components[t->order[k]].name : "__acker";
        if (k == t->n_components && t->config.ackers == 0) break;
        double sum[5] = {0};
        static const char *keys[5] = {"emitted", "executed", "acked", "failed", "errors"};
        for (int i = 0; i < n; i++) {
            char pat[160];
            snprintf(pat, sizeof pat, "{\"name\": \"%s\"", name);
            const char *obj = stats[i] ? strstr(stats[i], pat) : NULL;
            for (int f = 0; obj && f < 5; f++) sum[f] += field(obj, keys[f]);
        }
        int tasks = k < t->n_components ? t->components[t->order[k]].parallelism : t->config.ackers;
        const char *kind = k < t->n_components && t->components[t->order[k]].kind == GALE_SPOUT ? "spout" : "bolt";
        fprintf(out, "%-16s %-5s %5d %12.0f %12.0f %12.0f %10.0f %8.0f %7.0f\n", name, kind, tasks, sum[0], sum[1],
                secs > 0 ? sum[1] / secs : 0, sum[2], sum[3], sum[4]);
    }
    fprintf(out, "(summed over the workers' last lives; --stats FILE has the latencies, the worst worker's)\n");
}

int gale_stats_merged_json(const gale_topology_t *t, const char *const *stats, int n, FILE *f)
{
    static const char *counts[] = {"emitted", "executed", "acked", "failed", "errors"};
    static const char *lats[] = {"exec_mean_us", "exec_us_p50", "exec_us_p99", "exec_us_p999", "complete_ms_p50",
                                 "complete_ms_p99", "complete_ms_p999", "e2e_ms_p50", "e2e_ms_p99", "e2e_ms_p999"};
    double secs = 0, rss = 0;
    for (int i = 0; i < n; i++) {
        if (field(stats[i], "seconds") > secs) secs = field(stats[i], "seconds");
        rss += field(stats[i], "peak_rss_kb");
    }
    fprintf(f, "{\"topology\": \"%s\", \"seconds\": %.6f, \"workers\": %d, \"peak_rss_kb\": %.0f, \"components\": [",
            t->name, secs, n, rss);
    for (size_t k = 0; k <= t->n_components; k++) {
        if (k == t->n_components && t->config.ackers == 0) break;
        const char *name = k < t->n_components ? t->components[t->order[k]].name : "__acker";
        char pat[160];
        snprintf(pat, sizeof pat, "{\"name\": \"%s\"", name);
        double sum[5] = {0}, worst[10];
        bool have[10] = {0};
        for (int i = 0; i < n; i++) {
            const char *obj = stats[i] ? strstr(stats[i], pat) : NULL;
            if (!obj) continue;
            for (int c = 0; c < 5; c++) sum[c] += field(obj, counts[c]);
            for (int l = 0; l < 10; l++) {
                char key[64];
                snprintf(key, sizeof key, "\"%s\": ", lats[l]);
                const char *p = strstr(obj, key);
                if (!p || !strncmp(p + strlen(key), "null", 4)) continue;
                double v = strtod(p + strlen(key), NULL);
                if (!have[l] || v > worst[l]) worst[l] = v;
                have[l] = true;
            }
        }
        fprintf(f, "%s{\"name\": \"%s\"", k ? ", " : "", name);
        for (int c = 0; c < 5; c++) fprintf(f, ", \"%s\": %.0f", counts[c], sum[c]);
        for (int l = 0; l < 10; l++)
            have[l] ? fprintf(f, ", \"%s\": %.6f", lats[l], worst[l]) : fprintf(f, ", \"%s\": null", lats[l]);
        fputc('}', f);
    }
    fprintf(f, "]}\n");
    return ferror(f) ? GALE_EIO : 0;
}

