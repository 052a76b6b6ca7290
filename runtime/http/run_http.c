#include "run_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_auth.h"
#include "json.h"
#include "log.h"
#include "metrics_merge.h"
#include "status.h"
#include "ui_page.h"
#include "windows.h"

static void not_found(gale_http_resp_t *resp, const char *what)
{
    resp->status = 404;
    gale_buf_puts(&resp->body, "{\"error\": \"not found\", \"errorMessage\": ");
    gale_json_string(&resp->body, what, strlen(what));
    gale_buf_puts(&resp->body, "}\n");
}

/* The figures of this moment: a local run's own, or the workers' last reports. */
static int status_now(const gale_run_http_t *h, gale_status_t *s)
{
    if (h->rt) return gale_status_of_run(h->rt, s);
    gale_merged_t *g = gale_sup_merged(h->sup);
    if (!g) {
        memset(s, 0, sizeof *s);
        return GALE_ENOMEM;
    }
    const char *status = gale_sup_stopping(h->sup) ? "KILLED" : gale_sup_active(h->sup) ? "ACTIVE" : "INACTIVE";
    int rc = gale_status_of_merged(h->topo, g, status, (double)(uv_now(h->loop) - h->start_ms) / 1e3, s);
    gale_merged_free(g);
    return rc;
}

static void error_answer(gale_http_resp_t *resp, int status, const char *error, const char *message)
{
    resp->status = status;
    gale_buf_puts(&resp->body, "{\"error\": ");
    gale_json_string(&resp->body, error, strlen(error));
    gale_buf_puts(&resp->body, ", \"errorMessage\": ");
    gale_json_string(&resp->body, message, strlen(message));
    gale_buf_puts(&resp->body, "}\n");
}

/* POST /api/v1/topology/NAME/ACTION[/WAIT] (`action` points at ACTION): Storm UI's activate, deactivate, kill
   (drained for up to WAIT seconds) and rebalance, each with a token (http_auth.h). */
static void act(gale_run_http_t *h, const gale_http_req_t *req, const char *action, gale_http_resp_t *resp)
{
    char name[16] = "", why[160];
    double wait_s = h->topo->config.drain_timeout_s;
    const char *slash = strchr(action, '/');
    size_t len = slash ? (size_t)(slash - action) : strlen(action);
    if (len < sizeof name) memcpy(name, action, len), name[len] = 0;
    bool known =
        !strcmp(name, "activate") || !strcmp(name, "deactivate") || !strcmp(name, "kill") || !strcmp(name, "rebalance");
    if (!known) return error_answer(resp, 404, "not found", "no such action: activate, deactivate, kill, rebalance");
    if (slash) {
        char *end;
        wait_s = strtod(slash + 1, &end);
        if (end == slash + 1 || *end || wait_s < 0 || wait_s > 86400 || strcmp(name, "kill"))
            return error_answer(resp, 400, "bad request", "only kill takes a wait: /kill/SECONDS, 0 to 86400");
    }
    if (!h->auth)
        return error_answer(resp, 403, "forbidden",
                            "actions are off: this run was started without --secret-file, so no token can be good");
    if (gale_http_auth_check(h->auth, req->method, req->path, req->authorization, (int64_t)time(NULL), why,
                             sizeof why)) {
        gale_logf(GALE_LOG_WARN, "http", "%s %s refused: %s", req->method, req->path, why);
        return error_answer(resp, 401, "unauthorized", why);
    }
    if (!strcmp(name, "rebalance"))
        return error_answer(resp, 409, "conflict",
                            "a run of one process has nothing to rebalance over: rebalance is cluster mode's");
    gale_logf(GALE_LOG_INFO, "http", "%s %s: %s", req->method, req->path,
              !strcmp(name, "kill") ? "stopping the topology" : name);
    bool kill = !strcmp(name, "kill"), active = !strcmp(name, "activate");
    if (h->rt && kill) gale_runtime_request_stop(h->rt);
    else if (h->rt) gale__runtime_set_active(h->rt, active);
    else if (kill) gale_sup_kill(h->sup, wait_s, "killed over HTTP");
    else gale_sup_set_active(h->sup, active);
    gale_buf_printf(&resp->body, "{\"topologyOperation\": \"%s\", \"topologyId\": ", name);
    gale_json_string(&resp->body, h->topo->name, strlen(h->topo->name));
    gale_buf_puts(&resp->body, ", \"status\": \"success\"}\n");
}

void gale_run_http_handle(void *arg, const gale_http_req_t *req, gale_http_resp_t *resp)
{
    gale_run_http_t *h = arg;
    static const char TOPO[] = "/api/v1/topology/";
    size_t topo_len = strlen(h->topo->name);
    if (!strcmp(req->method, "POST")) {
        const char *p = req->path;
        if (strncmp(p, TOPO, sizeof TOPO - 1) || strncmp(p + sizeof TOPO - 1, h->topo->name, topo_len) ||
            p[sizeof TOPO - 1 + topo_len] != '/')
            return error_answer(resp, 404, "not found", "POST is for a topology's actions: /api/v1/topology/NAME/kill");
        return act(h, req, p + sizeof TOPO + topo_len, resp);
    }
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
        return error_answer(resp, 405, "method not allowed", "this endpoint answers GET, and POST for actions");
    char value[32];
    int window = -1;
    if (gale_http_query_value(req->query, "window", value, sizeof value) && gale_window_parse(value, &window)) {
        resp->status = 400;
        gale_buf_puts(&resp->body, "{\"error\": \"bad window\", \"errorMessage\": \"window is one of 600, 10800, "
                                   "86400 and :all-time (Storm UI's)\"}\n");
        return;
    }
    gale_status_t s;
    gale_status_views_t views = {0};
    uint64_t now_ms = uv_now(h->loop);
    int rc = status_now(h, &s);
    if (!rc && h->windows) gale_windows_record(h->windows, &s, now_ms);
    if (!rc && h->windows) rc = gale_status_views(h->windows, &s, now_ms, window, &views);
    if (rc) {
        gale_status_views_free(&views);
        gale_status_free(&s);
        resp->status = 500;
        gale_buf_puts(&resp->body, "{\"error\": \"out of memory\"}\n");
        return;
    }
    const gale_status_t *shown = views.shown ? views.shown : &s;
    const gale_status_t *const *stats = views.n_stats ? views.stats : (const gale_status_t *const[]){&s};
    size_t n_stats = views.n_stats ? views.n_stats : 1;
    const char *p = req->path;
    size_t name_len = strlen(s.topology);
    if (!strcmp(p, "/") || !strcmp(p, "/index.html")) {
        size_t len;
        const char *page = gale_ui_page(&len);
        resp->content_type = "text/html; charset=utf-8";
        gale_buf_put(&resp->body, page, len);
    } else if (!strcmp(p, "/metrics")) {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        gale_status_prometheus(&resp->body, &s, 1);
    } else if (!strcmp(p, "/api/v1/topology/summary")) {
        gale_status_rest_summary(&resp->body, &s, 1);
    } else if (!strcmp(p, "/api/v1/cluster/summary")) {
        gale_buf_printf(&resp->body,
                        "{\"stormVersion\": \"gale\", \"supervisors\": 0, \"topologies\": 1, \"slotsTotal\": %d, "
                        "\"slotsUsed\": %d, \"executorsTotal\": %d, \"tasksTotal\": %d}\n",
                        s.workers, s.workers, s.executors, s.tasks);
    } else if (!strcmp(p, "/api/v1/supervisor/summary")) {
        /* This process is the one supervisor of its run: its workers are its slots. */
        gale_buf_printf(&resp->body,
                        "{\"supervisors\": [{\"id\": \"local\", \"host\": \"%s\", \"uptimeSeconds\": %ld, "
                        "\"slotsTotal\": %d, \"slotsUsed\": %d, \"version\": \"%s\"}]}\n",
                        h->host, (long)s.uptime_s, s.workers, s.workers, h->version ? h->version : "");
    } else if (!strncmp(p, TOPO, sizeof TOPO - 1) && !strncmp(p + sizeof TOPO - 1, s.topology, name_len) &&
               (p[sizeof TOPO - 1 + name_len] == 0 || p[sizeof TOPO - 1 + name_len] == '/')) {
        const char *rest = p + sizeof TOPO - 1 + name_len;
        if (!*rest) gale_status_rest_topology(&resp->body, shown, stats, n_stats);
        else if (!strcmp(rest, "/visualization")) gale_status_rest_graph(&resp->body, &s);
        else if (!strncmp(rest, "/component/", 11)) {
            if (gale_status_rest_component(&resp->body, shown, rest + 11, stats, n_stats))
                not_found(resp, "no such component");
        } else not_found(resp, "no such path under the topology");
    } else if (!strncmp(p, TOPO, sizeof TOPO - 1)) {
        not_found(resp, "no such topology");
    } else {
        not_found(resp, "no such path");
    }
    gale_status_views_free(&views);
    gale_status_free(&s);
}

/* Every 10 s (the 10-minute window's step), the figures into the windows, whether anyone asks or not. */
static void on_window_tick(uv_timer_t *t)
{
    gale_run_http_t *h = t->data;
    gale_status_t s;
    if (!status_now(h, &s)) {
        if (!h->windows) h->windows = gale_windows_new((size_t)s.tasks);
        if (h->windows) gale_windows_record(h->windows, &s, uv_now(h->loop));
    }
    gale_status_free(&s);
}

static int listen_on(gale_run_http_t *h, uv_loop_t *loop)
{
    h->loop = loop;
    h->start_ms = uv_now(loop);
    gale_http_server_opts_t o = {.who = "http", .handle = gale_run_http_handle, .arg = h};
    int rc = gale_http_server_listen(loop, h->host, h->port, &o, &h->server, &h->bound_port);
    if (rc) return rc;
    gale_logf(GALE_LOG_INFO, "http", "serving the web UI, the REST API and /metrics at http://%s:%d/", h->host,
              h->bound_port);
    uv_timer_init(loop, &h->window_timer);
    h->window_timer.data = h;
    h->timer_on = true;
    on_window_tick(&h->window_timer); /* the windows start with the run */
    uv_timer_start(&h->window_timer, on_window_tick, 10000, 10000);
    return 0;
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

static void on_timer_closed(uv_handle_t *t)
{
    gale_run_http_t *h = t->data;
    gale_windows_free(h->windows);
    h->windows = NULL;
}

static void close_server(void *arg)
{
    gale_run_http_t *h = arg;
    gale_http_server_close(h->server);
    h->server = NULL;
    if (h->timer_on) uv_close((uv_handle_t *)&h->window_timer, on_timer_closed);
    h->timer_on = false;
}

static void stop(gale_runtime_t *rt, void *arg)
{
    (void)rt;
    close_server(arg);
}

void gale_run_http_init(gale_run_http_t *h, const char *host, int port, const gale_topology_t *topo)
{
    memset(h, 0, sizeof *h);
    snprintf(h->host, sizeof h->host, "%s", host);
    h->port = port;
    h->topo = topo;
    h->watcher = (gale_runtime_watcher_t){.start = start, .stop = stop, .arg = h};
    h->workers_watcher = (gale_run_workers_watcher_t){.start = start_workers, .stop = close_server, .arg = h};
}
