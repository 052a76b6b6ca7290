#include "run_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_merge.h"
#include "status.h"
#include "status_line.h"

/* ---- the source: the run's one topology --------------------------------------------------------------------- */

/* The figures of this moment: a local run's own, or the workers' last reports. */
static int snapshot(void *arg, gale_status_t **records, size_t *n)
{
    gale_run_http_t *h = arg;
    *records = &h->record, *n = 1;
    int rc;
    if (h->rt) {
        rc = gale_status_of_run(h->rt, &h->record);
    } else {
        gale_merged_t *g = gale_sup_merged(h->sup);
        if (!g) return GALE_ENOMEM;
        const char *status = gale_sup_stopping(h->sup) ? "KILLED" : gale_sup_active(h->sup) ? "ACTIVE" : "INACTIVE";
        rc = gale_status_of_merged(h->topo, g, status, (double)(uv_now(h->loop) - h->start_ms) / 1e3, &h->record);
        gale_merged_free(g);
    }
    /* Where the slots run: this process (local mode: one slot, no address), or its workers. */
    int slots = h->rt ? 1 : h->record.workers;
    if (!rc && slots > 0 && !(h->record.worker_slots = calloc((size_t)slots, sizeof *h->record.worker_slots)))
        rc = GALE_ENOMEM;
    for (int i = 0; !rc && i < slots; i++) {
        gale_status_worker_t *w = &h->record.worker_slots[h->record.n_worker_slots++];
        w->slot = i;
        snprintf(w->supervisor, sizeof w->supervisor, "local");
        const char *addr = h->sup ? gale_sup_address(h->sup, i) : NULL;
        snprintf(w->address, sizeof w->address, "%s", addr ? addr : "");
    }
    if (rc) gale_status_free(&h->record);
    return rc;
}

static void release(void *arg, gale_status_t *records, size_t n) { gale_status_free(records); }

/* This process is the one supervisor of its run: its workers are its slots. */
static void supervisors(void *arg, const gale_status_t *records, size_t n, gale_buf_t *body)
{
    gale_run_http_t *h = arg;
    gale_buf_printf(body,
                    "{\"supervisors\": [{\"id\": \"local\", \"host\": \"%s\", \"uptimeSeconds\": %ld, \"slotsTotal\": "
                    "%d, \"slotsUsed\": %d, \"version\": \"%s\"}]}\n",
                    h->host, (long)records[0].uptime_s, records[0].workers, records[0].workers,
                    h->version ? h->version : "");
}

static void slots(void *arg, const gale_status_t *records, size_t n, int *sups, int *slots_total)
{
    *sups = 1, *slots_total = records[0].workers;
}

static int act(void *arg, const char *topology, const char *action, double wait_s, const char *body, size_t body_len,
               char *why, size_t cap)
{
    gale_run_http_t *h = arg;
    if (strcmp(topology, h->topo->name)) return snprintf(why, cap, "no such topology"), 404;
    if (!strcmp(action, "rebalance"))
        return snprintf(why, cap, "a run of one process has nothing to rebalance over: rebalance is cluster mode's"),
               409;
    bool kill = !strcmp(action, "kill"), active = !strcmp(action, "activate");
    if (h->rt && kill) gale_runtime_request_stop(h->rt); /* drained as SIGINT drains it */
    else if (h->rt) gale__runtime_set_active(h->rt, active);
    else if (kill) gale_sup_kill(h->sup, wait_s >= 0 ? wait_s : h->topo->config.drain_timeout_s, "killed over HTTP");
    else gale_sup_set_active(h->sup, active);
    return 200;
}

/* ---- in the run's loop ---------------------------------------------------------------------------------------- */

static int listen_on(gale_run_http_t *h, uv_loop_t *loop)
{
    h->loop = loop;
    h->start_ms = uv_now(loop);
    int rc = h->serve ? gale_endpoint_start(loop, h->host, h->port, &h->source, h->auth, h->tls, &h->endpoint) : 0;
    if (!rc && h->serve) h->bound_port = gale_endpoint_port(h->endpoint);
    if (!rc && h->status_line) rc = gale_status_line_start(loop, &h->source, &h->line);
    return rc;
}

static int start(gale_runtime_t *rt, uv_loop_t *loop, void *arg)
{
    gale_run_http_t *h = arg;
    h->rt = rt;
    return listen_on(h, loop);
}

static int start_workers(uv_loop_t *loop, gale_sup_t *sup, void *arg)
{
    gale_run_http_t *h = arg;
    h->sup = sup;
    return listen_on(h, loop);
}

static void stop_endpoint(void *arg)
{
    gale_run_http_t *h = arg;
    gale_endpoint_stop(h->endpoint);
    h->endpoint = NULL;
    gale_status_line_stop(h->line);
    h->line = NULL;
}

static void stop(gale_runtime_t *rt, void *arg) { stop_endpoint(arg); }

void gale_run_http_init(gale_run_http_t *h, const char *host, int port, const gale_topology_t *topo)
{
    memset(h, 0, sizeof *h);
    snprintf(h->host, sizeof h->host, "%s", host ? host : "");
    h->serve = host != NULL;
    h->port = port;
    h->topo = topo;
    h->source = (gale_endpoint_source_t){
        .snapshot = snapshot, .release = release, .supervisors = supervisors, .slots = slots, .act = act, .arg = h};
    h->watcher = (gale_runtime_watcher_t){.start = start, .stop = stop, .arg = h};
    h->workers_watcher = (gale_run_workers_watcher_t){.start = start_workers, .stop = stop_endpoint, .arg = h};
}
