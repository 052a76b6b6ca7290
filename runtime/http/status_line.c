#include "status_line.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

#define EVERY_MS 1000

/* Whether any component subscribes to component `name`: a bolt no one does is where tuples leave. */
static bool subscribed(const gale_topology_t *t, const char *name)
{
    for (size_t i = 0; i < t->n_components; i++)
        for (size_t k = 0; k < t->components[i].n_inputs; k++)
            if (!strcmp(t->components[i].inputs[k].from, name)) return true;
    return false;
}

static const gale_metric_t *gauge_of(const gale_metric_set_t *pm, const char *name)
{
    for (int i = 0; pm && i < pm->n; i++)
        if (pm->m[i].kind == GALE_METRIC_GAUGE && !strcmp(pm->m[i].name, name)) return &pm->m[i];
    return NULL;
}

void gale_status_sums_of(const gale_status_t *s, gale_status_sums_t *out)
{
    memset(out, 0, sizeof *out);
    out->figures_s = s->figures_s, out->uptime_s = s->uptime_s;
    gale_hist_t complete = {0};
    for (size_t i = 0; i < s->n_components; i++) {
        const gale_status_component_t *c = &s->components[i];
        if (!strncmp(c->name, "__", 2)) continue;
        if (c->kind == GALE_SPOUT) {
            out->in += c->sum.emitted, out->acked += c->sum.acked, out->failed += c->sum.failed;
            out->pending += c->sum.pending;
            gale_hist_merge(&complete, &c->sum.complete);
            const gale_metric_t *total = gauge_of(c->pm, "input_bytes"), *read = gauge_of(c->pm, "input_read_bytes");
            if (total && read) out->input_total += total->gauge, out->input_read += read->gauge;
        } else if (s->topo && !subscribed(s->topo, c->name)) {
            out->out += c->sum.executed;
        }
    }
    out->complete_p99_ns = gale_hist_quantile(&complete, 0.99);
}

/* 1234567 as "1.23M": three figures at most. */
static void short_number(double v, char *buf, size_t cap)
{
    static const char *units[] = {"", "k", "M", "G", "T"};
    int u = 0;
    while (v >= 1000 && u < 4) v /= 1000, u++;
    if (u == 0) snprintf(buf, cap, "%.0f", v);
    else snprintf(buf, cap, v >= 100 ? "%.0f%s" : v >= 10 ? "%.1f%s" : "%.2f%s", v, units[u]);
}

static void rate(const gale_status_sums_t *prev, const gale_status_sums_t *now, uint64_t a, uint64_t b, char *buf,
                 size_t cap)
{
    double dt = prev ? now->figures_s - prev->figures_s : 0;
    if (dt <= 0 || b < a) {
        snprintf(buf, cap, "-");
        return;
    }
    short_number((double)(b - a) / dt, buf, cap - 2);
    strncat(buf, "/s", cap - strlen(buf) - 1);
}

void gale_status_line_text(const char *topology, const gale_status_sums_t *prev, const gale_status_sums_t *now,
                           char *buf, size_t cap)
{
    char in[24], out[24], acked[24], failed[24], pending[24], p99[32] = "-", input[24] = "";
    rate(prev, now, prev ? prev->in : 0, now->in, in, sizeof in);
    rate(prev, now, prev ? prev->out : 0, now->out, out, sizeof out);
    short_number((double)now->acked, acked, sizeof acked);
    short_number((double)now->failed, failed, sizeof failed);
    short_number((double)now->pending, pending, sizeof pending);
    if (now->complete_p99_ns) snprintf(p99, sizeof p99, "%.2f ms", (double)now->complete_p99_ns / 1e6);
    if (now->input_total > 0)
        snprintf(input, sizeof input, "  input %.0f%%", 100 * (now->input_read / now->input_total));
    /* The share of the input first: on a narrow terminal the end of the line is what is cut. */
    long up = (long)now->uptime_s;
    char uptime[32];
    if (up < 3600) snprintf(uptime, sizeof uptime, up < 60 ? "%lds" : "%ldm%02lds", up < 60 ? up : up / 60, up % 60);
    else snprintf(uptime, sizeof uptime, "%ldh%02ldm", up / 3600, up / 60 % 60);
    snprintf(buf, cap, "%s  %s%s  in %s  out %s  acked %s  failed %s  pending %s  p99 %s", topology, uptime, input, in,
             out, acked, failed, pending, p99);
}

struct gale_status_line {
    uv_timer_t timer;
    const gale_endpoint_source_t *src;
    gale_status_sums_t prev, last; /* the last two of different figures times */
    bool have_prev, have_last;
};

static void draw(gale_status_line_t *l)
{
    gale_status_t *records;
    size_t n;
    if (l->src->snapshot(l->src->arg, &records, &n)) return;
    if (!n) {
        l->src->release(l->src->arg, records, n);
        return;
    }
    gale_status_sums_t now;
    gale_status_sums_of(&records[0], &now);
    char text[512];
    if (!l->have_last || now.figures_s != l->last.figures_s) l->prev = l->last, l->have_prev = l->have_last;
    l->last = now, l->have_last = true;
    gale_status_line_text(records[0].topology, l->have_prev ? &l->prev : NULL, &now, text, sizeof text);
    l->src->release(l->src->arg, records, n);
    struct winsize ws;
    size_t width = !ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 1 ? ws.ws_col - 1u : 79;
    if (strlen(text) > width) text[width] = 0; /* one line: a wrapped one could not be erased */
    char out[600];
    int len = snprintf(out, sizeof out, "\r\033[K%s", text);
    gale_log_raw(out, (size_t)len);
    gale_log_status_line(true);
}

static void on_timer(uv_timer_t *t) { draw(t->data); }

int gale_status_line_start(uv_loop_t *loop, const gale_endpoint_source_t *src, gale_status_line_t **out)
{
    gale_status_line_t *l = calloc(1, sizeof *l);
    if (!l) return GALE_ENOMEM;
    l->src = src;
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_timer, EVERY_MS, EVERY_MS);
    *out = l;
    return 0;
}

static void on_closed(uv_handle_t *h) { free(h->data); }

void gale_status_line_stop(gale_status_line_t *l)
{
    if (!l) return;
    gale_log_status_line(false);
    gale_log_raw("\r\033[K", 4);
    uv_close((uv_handle_t *)&l->timer, on_closed);
}
