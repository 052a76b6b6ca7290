/*
 * run_http.h: the HTTP endpoint of one run (`gale run --http [HOST:]PORT`), plugged into its control loop as the
 * runtime's watcher (runtime.h), or in worker mode as the supervising process's: the web UI at /, Storm UI's REST
 * API (/api/v1/cluster/summary, /api/v1/supervisor/summary, /api/v1/topology/summary, /api/v1/topology/NAME,
 * /api/v1/topology/NAME/component/COMPONENT, and gale's /api/v1/topology/NAME/visualization) and Prometheus's
 * /metrics, each request answered from the figures of that moment (status.h). Everything runs on the loop of the
 * run's control thread.
 */
#ifndef GALE_RUN_HTTP_H
#define GALE_RUN_HTTP_H

#include "http_server.h"
#include "run_workers.h"
#include "runtime.h"

typedef struct gale_run_http {
    char host[64];
    int port;                       /* asked for (0: any) */
    int bound_port;                 /* got, once started */
    gale_runtime_watcher_t watcher; /* local mode: give &watcher to gale_runtime_opts_t.watcher */
    gale_run_workers_watcher_t workers_watcher; /* worker mode: to gale_run_workers_opts_t.watcher */
    gale_http_server_t *server;
    gale_runtime_t *rt; /* local mode's run, or */
    gale_sup_t *sup;    /* worker mode's supervisor: the figures are its workers' last reports */
    const gale_topology_t *topo;
    const char *version; /* gale's, for /api/v1/supervisor/summary (borrowed; the caller sets it) */
    struct gale_http_auth *auth; /* the POST actions' tokens (http_auth.h; the caller's); NULL: actions are off */
    uv_loop_t *loop;
    uint64_t start_ms; /* uv_now when it started: worker mode's uptime */
    uv_timer_t window_timer;
    bool timer_on;
    struct gale_windows *windows; /* Storm UI's windows over the figures (windows.h), from the start */
} gale_run_http_t;

/* Prepares `h` (the caller's; it must outlive the run) to listen on host:port once the run starts, in local mode
   (through `watcher`) or worker mode (through `workers_watcher`, the topology borrowed). It logs
   "http: serving ... at http://HOST:PORT/" when it listens; a port it cannot take fails the run. */
void gale_run_http_init(gale_run_http_t *h, const char *host, int port, const gale_topology_t *topo);

/* The answer to one request of a run (the server's handler; also for tests). */
void gale_run_http_handle(void *arg, const gale_http_req_t *req, gale_http_resp_t *resp);

#endif
