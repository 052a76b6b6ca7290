/*
 * run_http.h: what one run shows while it runs: the HTTP endpoint (endpoint.h) of `gale run --http [HOST:]PORT`,
 * and the status line on a terminal (status_line.h). Plugged into its control
 * loop as the runtime's watcher (runtime.h), or in worker mode as the supervising process's (run_workers.h). Its
 * source is the run's one topology: a local run's own figures, or the workers' last reports merged; its actions
 * are the run's activate, deactivate and kill.
 */
#ifndef GALE_RUN_HTTP_H
#define GALE_RUN_HTTP_H

#include "endpoint.h"
#include "run_workers.h"
#include "runtime.h"

typedef struct gale_run_http {
    char host[64];
    int port;                       /* asked for (0: any) */
    int bound_port;                 /* got, once started */
    gale_runtime_watcher_t watcher; /* local mode: give &watcher to gale_runtime_opts_t.watcher */
    gale_run_workers_watcher_t workers_watcher; /* worker mode: to gale_run_workers_opts_t.watcher */
    const char *version;    /* gale's, for /api/v1/supervisor/summary (borrowed; the caller sets it) */
    gale_http_auth_t *auth; /* the actions' tokens (the caller's); NULL: actions are off */
    struct gale_tls_ctx *tls; /* HTTPS (tls.h, a web context; the caller's); NULL: HTTP */
    gale_runtime_t *rt;     /* local mode's run, or */
    gale_sup_t *sup;        /* worker mode's supervisor: the figures are its workers' last reports */
    const gale_topology_t *topo;
    uv_loop_t *loop;
    uint64_t start_ms; /* uv_now when it started: worker mode's uptime */
    bool serve;        /* the HTTP endpoint (--http) */
    bool status_line;  /* the live line on a terminal (status_line.h); the caller sets it before the run */
    gale_endpoint_source_t source;
    gale_endpoint_t *endpoint;
    struct gale_status_line *line;
    gale_status_t record; /* the snapshot being answered from */
} gale_run_http_t;

/* Prepares `h` (the caller's; it must outlive the run) to watch the run once it starts, in local mode (through
   `watcher`) or worker mode (through `workers_watcher`), `topo` borrowed: to listen on host:port (host NULL: no
   endpoint; a port it cannot take fails the run), and to draw the status line when the caller sets `status_line`. */
void gale_run_http_init(gale_run_http_t *h, const char *host, int port, const gale_topology_t *topo);

#endif
