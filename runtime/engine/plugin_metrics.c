#include "plugin_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metrics_out.h"
#include "task.h"

bool gale_metric_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > GALE_METRIC_NAME_MAX || name[0] < 'a' || name[0] > 'z') return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_')) return false;
    return true;
}

const char *gale_metric_kind_name(gale_metric_kind_t kind)
{
    return kind == GALE_METRIC_COUNTER ? "counter" : kind == GALE_METRIC_GAUGE ? "gauge" : "histogram";
}

gale_metric_t *gale__metric(gale_ctx_t *ctx, const char *name, gale_metric_kind_t kind)
{
    gale_task_t *t = gale__task(ctx);
    if (kind != GALE_METRIC_COUNTER && kind != GALE_METRIC_GAUGE && kind != GALE_METRIC_HISTOGRAM) {
        gale__task_error(t, "a metric of kind %d: there are counters, gauges and histograms", (int)kind);
        return NULL;
    }
    if (!gale_metric_name_ok(name)) {
        gale__task_error(t, "'%s' is not a metric name: 1 to %d of a-z, 0-9 and _, starting with a letter",
                         name ? name : "(null)", GALE_METRIC_NAME_MAX);
        return NULL;
    }
    gale_metric_set_t *s = t->metrics;
    for (int i = 0; s && i < s->n; i++) {
        if (strcmp(s->m[i].name, name)) continue;
        if (s->m[i].kind == kind) return &s->m[i];
        gale__task_error(t, "metric '%s' is a %s already, not a %s", name, gale_metric_kind_name(s->m[i].kind),
                         gale_metric_kind_name(kind));
        return NULL;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return NULL;
        __atomic_store_n(&t->metrics, s, __ATOMIC_RELEASE);
    }
    if (s->n == GALE_METRICS_MAX) {
        gale__task_error(t, "metric '%s': a task has at most %d metrics of its own", name, GALE_METRICS_MAX);
        return NULL;
    }
    gale_metric_t *m = &s->m[s->n];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->kind = kind;
    __atomic_store_n(&s->n, s->n + 1, __ATOMIC_RELEASE); /* whole before readers count it */
    return m;
}

void gale__counter_add(gale_metric_t *m, uint64_t n)
{
    if (m && m->kind == GALE_METRIC_COUNTER) m->count += n;
}

void gale__gauge_set(gale_metric_t *m, double value)
{
    if (m && m->kind == GALE_METRIC_GAUGE) m->gauge = value;
}

void gale__histogram_record(gale_metric_t *m, uint64_t value)
{
    if (m && m->kind == GALE_METRIC_HISTOGRAM) gale_hist_add(&m->hist, value);
}

void gale_metric_set_read(const gale_metric_set_t *live, gale_metric_set_t *out)
{
    out->n = 0;
    if (!live) return;
    int n = __atomic_load_n(&live->n, __ATOMIC_ACQUIRE);
    memcpy(out->m, live->m, (size_t)n * sizeof *out->m);
    out->n = n;
}

static gale_metric_t *find_or_add(gale_metric_set_t *s, const gale_metric_t *like)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->m[i].name, like->name)) return s->m[i].kind == like->kind ? &s->m[i] : NULL;
    if (s->n == GALE_METRICS_MAX) return NULL;
    gale_metric_t *m = &s->m[s->n++];
    memset(m, 0, sizeof *m);
    memcpy(m->name, like->name, sizeof m->name);
    m->kind = like->kind;
    return m;
}

void gale_metric_set_merge(gale_metric_set_t *into, const gale_metric_set_t *from)
{
    for (int i = 0; from && i < from->n; i++) {
        gale_metric_t *m = find_or_add(into, &from->m[i]);
        if (!m) continue;
        m->count += from->m[i].count;
        m->gauge += from->m[i].gauge;
        gale_hist_merge(&m->hist, &from->m[i].hist);
    }
}

void gale_metric_set_json(gale_buf_t *b, const gale_metric_set_t *s)
{
    if (!s || !s->n) return;
    gale_buf_puts(b, ", \"metrics\": [");
    for (int i = 0; i < s->n; i++) {
        const gale_metric_t *m = &s->m[i];
        gale_buf_printf(b, "%s{\"name\": \"%s\", \"type\": \"%s\"", i ? ", " : "", m->name,
                        gale_metric_kind_name(m->kind));
        if (m->kind == GALE_METRIC_COUNTER) gale_buf_printf(b, ", \"value\": %" PRIu64 "}", m->count);
        else if (m->kind == GALE_METRIC_GAUGE && isfinite(m->gauge)) {
            gale_buf_puts(b, ", \"value\": ");
            gale_json_double(b, m->gauge);
            gale_buf_puts(b, "}");
        } else if (m->kind == GALE_METRIC_GAUGE) gale_buf_puts(b, ", \"value\": null}");
        else {
            gale_buf_printf(b,
                            ", \"count\": %" PRIu64 ", \"sum\": %" PRIu64 ", \"max\": %" PRIu64 ", \"p50\": %" PRIu64
                            ", \"p99\": %" PRIu64 ", \"hist\": ",
                            m->hist.count, m->hist.sum_ns, m->hist.max_ns, gale_hist_quantile(&m->hist, 0.5),
                            gale_hist_quantile(&m->hist, 0.99));
            gale_hist_json(b, &m->hist);
            gale_buf_puts(b, "}");
        }
    }
    gale_buf_puts(b, "]");
}

static bool key_is(const gale_value_t *k, const char *s)
{
    return k->type == GALE_STR && k->s.len == strlen(s) && !memcmp(k->s.ptr, s, k->s.len);
}

/* One entry of the array into *m; GALE_ECORRUPT for one that is not a metric. */
static int read_entry(const gale_value_t *obj, gale_metric_t *m)
{
    memset(m, 0, sizeof *m);
    gale_value_t k, v;
    if (obj->type != GALE_MAP) return GALE_ECORRUPT;
    for (uint32_t i = 0; i < obj->n; i++) {
        if (gale_mp_item(obj, 2 * i, &k) || gale_mp_item(obj, 2 * i + 1, &v)) return GALE_ECORRUPT;
        if (key_is(&k, "name") && v.type == GALE_STR && v.s.len <= GALE_METRIC_NAME_MAX) {
            memcpy(m->name, v.s.ptr, v.s.len);
            m->name[v.s.len] = 0;
        } else if (key_is(&k, "type")) {
            m->kind = key_is(&v, "counter")     ? GALE_METRIC_COUNTER
                      : key_is(&v, "gauge")     ? GALE_METRIC_GAUGE
                      : key_is(&v, "histogram") ? GALE_METRIC_HISTOGRAM
                                                : 0;
        } else if (key_is(&k, "value")) {
            m->count = v.type == GALE_UINT ? v.u : v.type == GALE_INT && v.i > 0 ? (uint64_t)v.i : 0;
            m->gauge = v.type == GALE_DOUBLE ? v.d
                       : v.type == GALE_INT  ? (double)v.i
                       : v.type == GALE_UINT ? (double)v.u
                                             : 0;
        } else if (key_is(&k, "hist")) {
            if (gale_hist_merge_value(&m->hist, &v)) return GALE_ECORRUPT;
        }
    }
    return gale_metric_name_ok(m->name) && m->kind ? 0 : GALE_ECORRUPT;
}

int gale_metric_set_absorb(gale_metric_set_t *into, const gale_value_t *arr)
{
    if (arr->type != GALE_ARRAY) return GALE_ECORRUPT;
    gale_metric_set_t got = {0};
    for (uint32_t i = 0; i < arr->n && got.n < GALE_METRICS_MAX; i++) {
        gale_value_t obj;
        if (gale_mp_item(arr, i, &obj) || read_entry(&obj, &got.m[got.n])) return GALE_ECORRUPT;
        got.n++;
    }
    gale_metric_set_merge(into, &got);
    return 0;
}
