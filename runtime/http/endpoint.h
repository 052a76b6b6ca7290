/*
 * endpoint.h: the HTTP endpoint of a running gale, whatever runs the topologies behind it: the web UI at /, Storm
 * UI's REST API (/api/v1/cluster/summary, /api/v1/supervisor/summary, /api/v1/topology/summary,
 * /api/v1/topology/NAME[?window=W], .../component/COMPONENT, and gale's .../visualization), Prometheus's /metrics,
 * and the actions as POSTs with a token (http_auth.h). Storm UI's windows (windows.h) are kept per topology, fed
 * every 10 s. Each request is answered on the owner's loop from the records of that moment, which a *source*
 * gives: a local or worker-mode run (run_http.h) or nimbus (nimbus_http.h).
 */
#ifndef GALE_ENDPOINT_H
#define GALE_ENDPOINT_H

#include <stdbool.h>
#include <uv.h>

#include "buf.h"
#include "http_auth.h"
#include "http_server.h"
#include "status.h"

/* What an endpoint shows, from whoever runs the topologies. Every function runs on the owner's loop. */
typedef struct gale_endpoint_source {
    /* The records of every topology now, into *records (n of them; the source's until `release`). 0 or a code. */
    int (*snapshot)(void *arg, gale_status_t **records, size_t *n);
    void (*release)(void *arg, gale_status_t *records, size_t n);
    /* The body of /api/v1/supervisor/summary, and the supervisors and slots /api/v1/cluster/summary counts. */
    void (*supervisors)(void *arg, const gale_status_t *records, size_t n, gale_buf_t *body);
    void (*slots)(void *arg, const gale_status_t *records, size_t n, int *supervisors, int *slots_total);
    /* Action `action` ("activate", "deactivate", "kill", "rebalance") on topology `topology`, `wait_s` the drain
       of a kill or rebalance (< 0: the default), `body` the request's (Storm's rebalanceOptions JSON, or empty),
       the token already checked. An HTTP status (200 when done or under way) and, when it is not 200, why. */
    int (*act)(void *arg, const char *topology, const char *action, double wait_s, const char *body, size_t body_len,
               char *why, size_t why_cap);
    void *arg;
} gale_endpoint_source_t;

typedef struct gale_endpoint gale_endpoint_t;

/* Listens on host:port on `loop` (the source and `auth` borrowed: they must outlive the endpoint; `auth` NULL:
   actions are off, each a 403) and logs "http: serving ... at http://HOST:PORT/". 0 and *out, or a code (logged). */
struct gale_tls_ctx;
int gale_endpoint_start(uv_loop_t *loop, const char *host, int port, const gale_endpoint_source_t *src,
                        gale_http_auth_t *auth, struct gale_tls_ctx *tls, gale_endpoint_t **out);
/* The port it listens on. */
int gale_endpoint_port(const gale_endpoint_t *e);
/* Stops listening; the memory goes once the loop has run. NULL is a no-op. */
void gale_endpoint_stop(gale_endpoint_t *e);

/* One request, as the server hands it (also for tests). */
void gale_endpoint_handle(void *arg, const gale_http_req_t *req, gale_http_resp_t *resp);

#endif
