/*
 * nimbus_http.h: the HTTP endpoint (endpoint.h) of `gale nimbus --http [HOST:]PORT`: every topology of the
 * cluster, its figures merged over the hosts' reports in ZooKeeper (what `gale stats` merges), the supervisors,
 * and the actions (activate, deactivate, kill, rebalance with Storm's rebalanceOptions body) as the control port's
 * verbs run in this process, with a token made from the cluster secret. A standby nimbus shows the same figures;
 * its actions are refused as its control port refuses them (409, naming the leader).
 */
#ifndef GALE_NIMBUS_HTTP_H
#define GALE_NIMBUS_HTTP_H

#include "endpoint.h"
#include "nimbus.h"

typedef struct gale_nimbus_http {
    char host[64];
    int port, bound_port;
    gale_http_auth_t *auth;        /* the cluster secret's tokens (borrowed) */
    struct gale_tls_ctx *tls;      /* HTTPS (tls.h, a web context; borrowed); NULL: HTTP */
    gale_nimbus_watcher_t watcher; /* give &watcher to gale_nimbus_opts_t.watcher */
    gale_nimbus_t *nimbus;
    gale_endpoint_source_t source;
    gale_endpoint_t *endpoint;
    uv_loop_t *loop;
    gale_nimbus_view_t *views; /* the last snapshot: what its records borrow */
    size_t n_views;
    gale_status_t *records; /* the last snapshot's records, kept for CACHE_MS */
    size_t n_records;
    uint64_t taken_ms;
} gale_nimbus_http_t;

/* Prepares `h` (the caller's; it must outlive nimbus) to listen on host:port once nimbus listens. */
void gale_nimbus_http_init(gale_nimbus_http_t *h, const char *host, int port, gale_http_auth_t *auth);

#endif
