#include "endpoint.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "ui_page.h"
#include "windows.h"

#define TICK_MS 10000 /* the 10-minute window's step */

/* The windows of one topology, by name. */
typedef struct topo_windows {
    char name[128];
    gale_windows_t *w;
    size_t tasks;
} topo_windows_t;

struct gale_endpoint {
    uv_loop_t *loop;
    gale_http_server_t *server;
    int port;
    const gale_endpoint_source_t *src;
    gale_http_auth_t *auth;
    uv_timer_t timer;
    topo_windows_t *win;
    size_t n_win;
};

static void error_answer(gale_http_resp_t *resp, int status, const char *error, const char *message)
{
    resp->status = status;
    gale_buf_puts(&resp->body, "{\"error\": ");
    gale_json_string(&resp->body, error, strlen(error));
    gale_buf_puts(&resp->body, ", \"errorMessage\": ");
    gale_json_string(&resp->body, message, strlen(message));
    gale_buf_puts(&resp->body, "}\n");
}

/* ---- the windows of each topology ------------------------------------------------------------------------------ */

/* Topology `s`'s windows, made when first seen, made again when its shape changed (a rebalance). NULL when out of
   memory. */
static gale_windows_t *windows_of(gale_endpoint_t *e, const gale_status_t *s)
{
    size_t i = 0;
    while (i < e->n_win && strcmp(e->win[i].name, s->topology)) i++;
    if (i < e->n_win && e->win[i].tasks == (size_t)s->tasks) return e->win[i].w;
    if (i == e->n_win) {
        topo_windows_t *more = realloc(e->win, (e->n_win + 1) * sizeof *more);
        if (!more) return NULL;
        e->win = more;
        memset(&e->win[e->n_win++], 0, sizeof *e->win);
        snprintf(e->win[i].name, sizeof e->win[i].name, "%s", s->topology);
    }
    gale_windows_free(e->win[i].w);
    e->win[i].w = gale_windows_new((size_t)s->tasks);
    e->win[i].tasks = (size_t)s->tasks;
    return e->win[i].w;
}

/* Records every topology into its windows, and forgets those of topologies gone. */
static void record_all(gale_endpoint_t *e, const gale_status_t *records, size_t n)
{
    uint64_t now = uv_now(e->loop);
    for (size_t k = 0; k < n; k++) {
        gale_windows_t *w = windows_of(e, &records[k]);
        if (w) gale_windows_record(w, &records[k], now);
    }
    for (size_t i = 0; i < e->n_win;) {
        size_t k = 0;
        while (k < n && strcmp(records[k].topology, e->win[i].name)) k++;
        if (k < n) {
            i++;
            continue;
        }
        gale_windows_free(e->win[i].w);
        e->win[i] = e->win[--e->n_win];
    }
}

static void on_tick(uv_timer_t *t)
{
    gale_endpoint_t *e = t->data;
    gale_status_t *records;
    size_t n;
    if (e->src->snapshot(e->src->arg, &records, &n)) return;
    record_all(e, records, n);
    e->src->release(e->src->arg, records, n);
}

/* ---- actions ---------------------------------------------------------------------------------------------------- */

static const char TOPO[] = "/api/v1/topology/";

/* POST /api/v1/topology/NAME/ACTION[/WAIT]: Storm UI's activate, deactivate, kill and rebalance (WAIT for the last
   two), each with a token. */
static void act(gale_endpoint_t *e, const gale_http_req_t *req, gale_http_resp_t *resp)
{
    char topology[128] = "", action[16] = "", why[700];
    if (strncmp(req->path, TOPO, sizeof TOPO - 1))
        return error_answer(resp, 404, "not found", "POST is for a topology's actions: /api/v1/topology/NAME/kill");
    const char *p = req->path + sizeof TOPO - 1, *slash = strchr(p, '/');
    if (!slash || slash == p || (size_t)(slash - p) >= sizeof topology)
        return error_answer(resp, 404, "not found", "POST is for a topology's actions: /api/v1/topology/NAME/kill");
    memcpy(topology, p, (size_t)(slash - p));
    const char *a = slash + 1, *wait = strchr(a, '/');
    size_t len = wait ? (size_t)(wait - a) : strlen(a);
    if (len < sizeof action) memcpy(action, a, len), action[len] = 0;
    bool kill = !strcmp(action, "kill"), rebalance = !strcmp(action, "rebalance");
    if (!kill && !rebalance && strcmp(action, "activate") && strcmp(action, "deactivate"))
        return error_answer(resp, 404, "not found", "no such action: activate, deactivate, kill, rebalance");
    double wait_s = -1;
    if (wait) {
        char *end;
        wait_s = strtod(wait + 1, &end);
        if (end == wait + 1 || *end || wait_s < 0 || wait_s > 86400 || !(kill || rebalance))
            return error_answer(resp, 400, "bad request",
                                "only kill and rebalance take a wait: /kill/SECONDS, 0 to 86400");
    }
    if (!e->auth)
        return error_answer(resp, 403, "forbidden",
                            "actions are off: it was started without --secret-file, so no token "
                            "can be good");
    if (gale_http_auth_check(e->auth, req->method, req->path, req->authorization, (int64_t)time(NULL), why,
                             sizeof why)) {
        gale_logf(GALE_LOG_WARN, "http", "%s %s refused: %s", req->method, req->path, why);
        return error_answer(resp, 401, "unauthorized", why);
    }
    gale_logf(GALE_LOG_INFO, "http", "%s %s", req->method, req->path);
    int status =
        e->src->act(e->src->arg, topology, action, wait_s, req->body ? req->body : "", req->body_len, why, sizeof why);
    if (status != 200) return error_answer(resp, status, status == 404 ? "not found" : "refused", why);
    gale_buf_printf(&resp->body, "{\"topologyOperation\": \"%s\", \"topologyId\": ", action);
    gale_json_string(&resp->body, topology, strlen(topology));
    gale_buf_puts(&resp->body, ", \"status\": \"success\"}\n");
}

/* ---- reading ---------------------------------------------------------------------------------------------------- */

/* /api/v1/topology/NAME[/REST]: record NAME (NULL: none) and where REST starts. */
static gale_status_t *topology_at(gale_status_t *records, size_t n, const char *path, const char **rest)
{
    const char *p = path + sizeof TOPO - 1;
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(records[k].topology);
        if (!strncmp(p, records[k].topology, len) && (p[len] == 0 || p[len] == '/')) {
            *rest = p + len;
            return &records[k];
        }
    }
    return NULL;
}

static void cluster_summary(gale_endpoint_t *e, gale_buf_t *b, const gale_status_t *records, size_t n)
{
    int workers = 0, executors = 0, tasks = 0, sups = 0, slots = 0;
    for (size_t k = 0; k < n; k++)
        workers += records[k].workers, executors += records[k].executors, tasks += records[k].tasks;
    e->src->slots(e->src->arg, records, n, &sups, &slots);
    gale_buf_printf(b,
                    "{\"stormVersion\": \"gale\", \"supervisors\": %d, \"topologies\": %zu, \"slotsTotal\": %d, "
                    "\"slotsUsed\": %d, \"slotsFree\": %d, \"executorsTotal\": %d, \"tasksTotal\": %d}\n",
                    sups, n, slots, workers, slots > workers ? slots - workers : 0, executors, tasks);
}

/* One topology's page or component, over the window the query asks for. */
static void topology_page(gale_endpoint_t *e, gale_status_t *s, const char *rest, int window, gale_http_resp_t *resp)
{
    gale_status_views_t views = {0};
    gale_windows_t *w = windows_of(e, s);
    uint64_t now = uv_now(e->loop);
    if (w) gale_windows_record(w, s, now);
    if (w && gale_status_views(w, s, now, window, &views)) {
        gale_status_views_free(&views);
        s->capacity_of = NULL;
        return error_answer(resp, 500, "out of memory", "out of memory");
    }
    const gale_status_t *shown = views.shown ? views.shown : s;
    const gale_status_t *const *stats = views.n_stats ? views.stats : (const gale_status_t *const[]){s};
    size_t n_stats = views.n_stats ? views.n_stats : 1;
    if (!*rest) gale_status_rest_topology(&resp->body, shown, stats, n_stats);
    else if (!strcmp(rest, "/visualization")) gale_status_rest_graph(&resp->body, s);
    else if (!strncmp(rest, "/component/", 11)) {
        if (gale_status_rest_component(&resp->body, shown, rest + 11, stats, n_stats))
            error_answer(resp, 404, "not found", "no such component");
    } else error_answer(resp, 404, "not found", "no such path under the topology");
    gale_status_views_free(&views);
    s->capacity_of = NULL; /* it pointed into the views: a source may keep its records for the next request */
}

/* /metrics: every topology, its capacities over the last 10 minutes. */
static void prometheus(gale_endpoint_t *e, gale_status_t *records, size_t n, gale_http_resp_t *resp)
{
    gale_status_views_t *views = calloc(n + 1, sizeof *views);
    uint64_t now = uv_now(e->loop);
    for (size_t k = 0; views && k < n; k++) {
        gale_windows_t *w = windows_of(e, &records[k]);
        if (w) gale_windows_record(w, &records[k], now);
        if (w) gale_status_views(w, &records[k], now, -1, &views[k]);
    }
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    gale_status_prometheus(&resp->body, records, n);
    for (size_t k = 0; views && k < n; k++) gale_status_views_free(&views[k]), records[k].capacity_of = NULL;
    free(views);
}

void gale_endpoint_handle(void *arg, const gale_http_req_t *req, gale_http_resp_t *resp)
{
    gale_endpoint_t *e = arg;
    if (!strcmp(req->method, "POST")) return act(e, req, resp);
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
        return error_answer(resp, 405, "method not allowed", "this endpoint answers GET, and POST for actions");
    const char *p = req->path;
    if (!strcmp(p, "/") || !strcmp(p, "/index.html")) {
        size_t len;
        const char *page = gale_ui_page(&len);
        resp->content_type = "text/html; charset=utf-8";
        gale_buf_put(&resp->body, page, len);
        return;
    }
    char value[32];
    int window = -1;
    if (gale_http_query_value(req->query, "window", value, sizeof value) && gale_window_parse(value, &window))
        return error_answer(resp, 400, "bad window", "window is one of 600, 10800, 86400 and :all-time (Storm UI's)");
    gale_status_t *records;
    size_t n;
    if (e->src->snapshot(e->src->arg, &records, &n))
        return error_answer(resp, 503, "unavailable", "the figures cannot be read now: try again");
    const char *rest = NULL;
    gale_status_t *s;
    if (!strcmp(p, "/metrics")) prometheus(e, records, n, resp);
    else if (!strcmp(p, "/api/v1/topology/summary")) gale_status_rest_summary(&resp->body, records, n);
    else if (!strcmp(p, "/api/v1/cluster/summary")) cluster_summary(e, &resp->body, records, n);
    else if (!strcmp(p, "/api/v1/supervisor/summary")) e->src->supervisors(e->src->arg, records, n, &resp->body);
    else if (!strncmp(p, TOPO, sizeof TOPO - 1) && (s = topology_at(records, n, p, &rest)))
        topology_page(e, s, rest, window, resp);
    else if (!strncmp(p, TOPO, sizeof TOPO - 1)) error_answer(resp, 404, "not found", "no such topology");
    else error_answer(resp, 404, "not found", "no such path");
    e->src->release(e->src->arg, records, n);
}

/* ---- life ------------------------------------------------------------------------------------------------------ */

int gale_endpoint_start(uv_loop_t *loop, const char *host, int port, const gale_endpoint_source_t *src,
                        gale_http_auth_t *auth, struct gale_tls_ctx *tls, gale_endpoint_t **out)
{
    gale_endpoint_t *e = calloc(1, sizeof *e);
    if (!e) return GALE_ENOMEM;
    *e = (gale_endpoint_t){.loop = loop, .src = src, .auth = auth};
    gale_http_server_opts_t o = {.who = "http", .handle = gale_endpoint_handle, .arg = e, .tls = tls};
    int rc = gale_http_server_listen(loop, host, port, &o, &e->server, &e->port);
    if (rc) {
        free(e);
        return rc;
    }
    gale_logf(GALE_LOG_INFO, "http", "serving the web UI, the REST API and /metrics at http%s://%s:%d/", tls ? "s" : "",
              host, e->port);
    uv_timer_init(loop, &e->timer);
    e->timer.data = e;
    on_tick(&e->timer); /* the windows start now */
    uv_timer_start(&e->timer, on_tick, TICK_MS, TICK_MS);
    *out = e;
    return 0;
}

int gale_endpoint_port(const gale_endpoint_t *e) { return e->port; }

static void on_closed(uv_handle_t *h)
{
    gale_endpoint_t *e = h->data;
    for (size_t i = 0; i < e->n_win; i++) gale_windows_free(e->win[i].w);
    free(e->win);
    free(e);
}

void gale_endpoint_stop(gale_endpoint_t *e)
{
    if (!e) return;
    gale_http_server_close(e->server);
    e->server = NULL;
    uv_close((uv_handle_t *)&e->timer, on_closed);
}
