/*
 * run_workers.c: `gale run --workers N`: one supervisor with every slot of the topology, on a loop of its own, ended
 * by the topology finishing, --duration, or SIGINT/SIGTERM (drain for up to 10 s; a second signal finishes the
 * bolts at once, a third stops without them: drain.h).
 */
#include <signal.h>
#include <stdio.h>

#include "log.h"
#include "run_workers.h"
#include "supervisor.h"

typedef struct run {
    uv_loop_t loop;
    uv_timer_t duration;
    uv_signal_t sigint, sigterm, sigusr1;
    gale_sup_t *sup;
    double drain_s; /* config.drain_timeout_s */
    const gale_run_workers_watcher_t *watcher;
    bool ended;
} run_t;

static void on_ended(void *arg, gale_sup_t *s)
{
    run_t *r = arg;
    r->ended = true;
    if (r->watcher) r->watcher->stop(r->watcher->arg);
    uv_close((uv_handle_t *)&r->duration, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sigusr1, NULL);
}

/* SIGUSR1: the workers as they are now, and their figures as each last reported them; the run goes on. */
static void on_usr1(uv_signal_t *h, int sig)
{
    run_t *r = h->data;
    gale_logf(GALE_LOG_INFO, "supervisor", "SIGUSR1: the workers now, and their figures as of their last report");
    gale_sup_health(r->sup, stderr);
    gale_sup_report(r->sup, stderr);
}

static void on_signal(uv_signal_t *h, int sig)
{
    run_t *r = h->data;
    gale_sup_kill(r->sup, r->drain_s, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_duration(uv_timer_t *h)
{
    run_t *r = h->data;
    gale_sup_kill(r->sup, r->drain_s, "duration reached");
}

int gale_run_workers(const gale_topology_t *topo, const gale_run_workers_opts_t *o)
{
    run_t r = {.drain_s = topo->config.drain_timeout_s, .watcher = o->watcher};
    if (uv_loop_init(&r.loop)) return GALE_ENOMEM;
    gale_assignment_t a = {.id = topo->name,
                           .exe = o->exe,
                           .file = o->file,
                           .sets = o->sets,
                           .n_sets = o->n_sets,
                           .workers = o->workers,
                           .threads = o->threads,
                           .fresh_state = o->fresh_state,
                           .tls = o->tls};
    gale_sup_events_t ev = {.arg = &r, .ended = on_ended};
    int rc = gale_sup_start(&r.loop, topo, &a, &ev, &r.sup);
    if (rc) {
        uv_loop_close(&r.loop);
        return rc;
    }
    uv_timer_init(&r.loop, &r.duration);
    uv_signal_init(&r.loop, &r.sigint);
    uv_signal_init(&r.loop, &r.sigterm);
    uv_signal_init(&r.loop, &r.sigusr1);
    r.duration.data = r.sigint.data = r.sigterm.data = r.sigusr1.data = &r;
    uv_signal_start(&r.sigusr1, on_usr1, SIGUSR1);
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    if (o->duration_s > 0) uv_timer_start(&r.duration, on_duration, (uint64_t)(o->duration_s * 1000), 0);
    bool watcher_failed = false;
    if (r.watcher && (rc = r.watcher->start(&r.loop, r.sup, r.watcher->arg))) {
        r.watcher = NULL; /* never started: nothing to stop */
        watcher_failed = true;
        gale_sup_kill(r.sup, 0, "its watcher (the HTTP endpoint) did not start");
    }
    uv_run(&r.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r.loop)) gale_logf(GALE_LOG_WARN, "supervisor", "a handle was left open at exit");
    if (!o->quiet) gale_sup_report(r.sup, stderr);
    if (o->stats) {
        FILE *f = fopen(o->stats, "w");
        if (!f || gale_sup_metrics_json(r.sup, false, f))
            gale_logf(GALE_LOG_ERROR, "supervisor", "%s: cannot write the metrics", o->stats);
        if (f) fclose(f);
    }
    rc = watcher_failed               ? rc
         : gale_sup_failed(r.sup)     ? GALE_EPLUGIN
         : gale_sup_incomplete(r.sup) ? GALE_EINCOMPLETE
                                      : 0;
    gale_sup_free(r.sup);
    return rc;
}
