#include "windows.h"

#include <stdlib.h>
#include <string.h>

#include "gale.h"

const char *const GALE_WINDOW_ID[GALE_WINDOWS] = {"600", "10800", "86400"};
const char *const GALE_WINDOW_PRETTY[GALE_WINDOWS] = {"10m 0s", "3h 0m 0s", "1d 0h 0m 0s"};
const uint64_t GALE_WINDOW_MS[GALE_WINDOWS] = {600 * 1000, 10800 * 1000, 86400 * 1000};

#define STEPS 60 /* snapshots per window: its figures are exact to a sixtieth of it */

/* What a window needs of a task's figures. */
typedef struct counts {
    uint64_t emitted, transferred, executed, acked, failed, errors;
    uint64_t exec_n, exec_ns, complete_n, complete_ns, process_n, process_ns;
} counts_t;

typedef struct ring {
    uint64_t at_ms[STEPS + 1];
    counts_t *snap[STEPS + 1]; /* [n_tasks] each, in one block */
    int head, n;               /* the newest is at head; n taken so far, up to STEPS + 1 */
} ring_t;

struct gale_windows {
    size_t n_tasks;
    ring_t ring[GALE_WINDOWS];
    counts_t *block;
};

gale_windows_t *gale_windows_new(size_t n_tasks)
{
    gale_windows_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->n_tasks = n_tasks;
    w->block = calloc((size_t)GALE_WINDOWS * (STEPS + 1) * (n_tasks ? n_tasks : 1), sizeof *w->block);
    if (!w->block) {
        free(w);
        return NULL;
    }
    for (int i = 0; i < GALE_WINDOWS; i++)
        for (int k = 0; k <= STEPS; k++)
            w->ring[i].snap[k] = w->block + ((size_t)i * (STEPS + 1) + (size_t)k) * n_tasks;
    return w;
}

void gale_windows_free(gale_windows_t *w)
{
    if (!w) return;
    free(w->block);
    free(w);
}

static size_t tasks_of(const gale_status_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_components; i++) n += (size_t)s->components[i].tasks;
    return n;
}

static counts_t counts_of(const gale_task_metrics_t *m)
{
    return (counts_t){.emitted = m->emitted,
                      .transferred = m->transferred,
                      .executed = m->executed,
                      .acked = m->acked,
                      .failed = m->failed,
                      .errors = m->errors,
                      .exec_n = m->exec.count,
                      .exec_ns = m->exec.sum_ns,
                      .complete_n = m->complete.count,
                      .complete_ns = m->complete.sum_ns,
                      .process_n = m->process.count,
                      .process_ns = m->process.sum_ns};
}

void gale_windows_record(gale_windows_t *w, const gale_status_t *s, uint64_t now_ms)
{
    if (tasks_of(s) != w->n_tasks) return;
    for (int i = 0; i < GALE_WINDOWS; i++) {
        ring_t *r = &w->ring[i];
        if (r->n && now_ms - r->at_ms[r->head] < GALE_WINDOW_MS[i] / STEPS) continue;
        r->head = r->n ? (r->head + 1) % (STEPS + 1) : 0;
        if (r->n <= STEPS) r->n++;
        r->at_ms[r->head] = now_ms;
        counts_t *snap = r->snap[r->head];
        for (size_t c = 0, t = 0; c < s->n_components; c++)
            for (int k = 0; k < s->components[c].tasks; k++) snap[t++] = counts_of(&s->components[c].task[k]);
    }
}

/* A figure that went back (a worker's figures start again after its restart) counts from zero. */
static uint64_t since(uint64_t now, uint64_t then) { return now >= then ? now - then : now; }

/* `m` made its figures over the window: those of `then` taken away; the histograms keep only count and sum. */
static void take_away(gale_task_metrics_t *m, const counts_t *then)
{
    m->emitted = since(m->emitted, then->emitted);
    m->transferred = since(m->transferred, then->transferred);
    m->executed = since(m->executed, then->executed);
    m->acked = since(m->acked, then->acked);
    m->failed = since(m->failed, then->failed);
    m->errors = since(m->errors, then->errors);
    bool exec_back = m->exec.count < then->exec_n, complete_back = m->complete.count < then->complete_n;
    gale_hist_t exec = {.count = since(m->exec.count, then->exec_n),
                        .sum_ns = exec_back ? m->exec.sum_ns : m->exec.sum_ns - then->exec_ns};
    gale_hist_t complete = {.count = since(m->complete.count, then->complete_n),
                            .sum_ns = complete_back ? m->complete.sum_ns : m->complete.sum_ns - then->complete_ns};
    bool process_back = m->process.count < then->process_n;
    gale_hist_t process = {.count = since(m->process.count, then->process_n),
                           .sum_ns = process_back ? m->process.sum_ns : m->process.sum_ns - then->process_ns};
    m->exec = exec, m->complete = complete, m->process = process;
    m->e2e = (gale_hist_t){0};
}

static void add_counts(gale_task_metrics_t *into, const gale_task_metrics_t *m)
{
    into->emitted += m->emitted, into->transferred += m->transferred, into->executed += m->executed;
    into->acked += m->acked, into->failed += m->failed, into->errors += m->errors;
    into->pending += m->pending; /* gauges, and the backpressure, are the tasks' now, not a window's */
    if (m->queue_fill > into->queue_fill) into->queue_fill = m->queue_fill;
    if (m->backpressure_ns > into->backpressure_ns) into->backpressure_ns = m->backpressure_ns;
    if (m->restarts > into->restarts) into->restarts = m->restarts;
    into->exec.count += m->exec.count, into->exec.sum_ns += m->exec.sum_ns;
    into->complete.count += m->complete.count, into->complete.sum_ns += m->complete.sum_ns;
    into->process.count += m->process.count, into->process.sum_ns += m->process.sum_ns;
}

int gale_windows_over(const gale_windows_t *w, int window, const gale_status_t *now, uint64_t now_ms,
                      gale_status_t *out, double *secs)
{
    memset(out, 0, sizeof *out);
    if (window < 0 || window >= GALE_WINDOWS || tasks_of(now) != w->n_tasks || !w->ring[window].n) return GALE_EINVAL;
    const ring_t *r = &w->ring[window];
    /* The oldest snapshot inside the window; the newest when even that is older (no record for a while). */
    int pick = r->head;
    for (int k = r->n - 1; k >= 0; k--) {
        int at = (r->head - k + STEPS + 1) % (STEPS + 1);
        if (now_ms - r->at_ms[at] <= GALE_WINDOW_MS[window]) {
            pick = at;
            break;
        }
    }
    int rc = gale_status_copy(now, out);
    if (rc) return rc;
    const counts_t *then = r->snap[pick];
    for (size_t c = 0, t = 0; c < out->n_components; c++) {
        gale_status_component_t *sc = &out->components[c];
        gale_last_error_t last = sc->sum.last_error;
        sc->sum = (gale_task_metrics_t){.last_error = last};
        for (int k = 0; k < sc->tasks; k++) {
            take_away(&sc->task[k], &then[t++]);
            add_counts(&sc->sum, &sc->task[k]);
        }
    }
    *secs = (double)(now_ms - r->at_ms[pick]) / 1e3;
    out->figures_s = *secs;
    return 0;
}

int gale_window_parse(const char *value, int *window)
{
    *window = -1;
    if (!value || !*value || !strcmp(value, ":all-time")) return 0;
    for (int i = 0; i < GALE_WINDOWS; i++)
        if (!strcmp(value, GALE_WINDOW_ID[i])) {
            *window = i;
            return 0;
        }
    return GALE_EINVAL;
}

int gale_status_views(const gale_windows_t *w, gale_status_t *now, uint64_t now_ms, int window,
                      gale_status_views_t *out)
{
    memset(out, 0, sizeof *out);
    double secs;
    for (int i = 0; i < GALE_WINDOWS; i++) {
        int rc = gale_windows_over(w, i, now, now_ms, &out->win[i], &secs);
        if (rc) return rc;
        out->win[i].window_id = GALE_WINDOW_ID[i];
        out->win[i].window_pretty = GALE_WINDOW_PRETTY[i];
        out->win[i].capacity_of = &out->win[GALE_WINDOW_10M];
        out->stats[out->n_stats++] = &out->win[i];
    }
    now->capacity_of = &out->win[GALE_WINDOW_10M];
    out->win[GALE_WINDOW_10M].capacity_of = NULL; /* itself */
    out->stats[out->n_stats++] = now;
    out->shown = window < 0 ? now : &out->win[window];
    return 0;
}

void gale_status_views_free(gale_status_views_t *v)
{
    for (int i = 0; i < GALE_WINDOWS; i++) gale_status_free(&v->win[i]);
    memset(v, 0, sizeof *v);
}
