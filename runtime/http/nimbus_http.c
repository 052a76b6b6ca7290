#include "nimbus_http.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_parse.h"
#include "mpread.h"

#define CACHE_MS 1000

/* ---- the source: every topology of the cluster ------------------------------------------------------------ */

static void forget(gale_nimbus_http_t *h)
{
    for (size_t k = 0; k < h->n_records; k++) gale_status_free(&h->records[k]);
    free(h->records);
    gale_nimbus_views_free(h->views, h->n_views);
    h->records = NULL, h->n_records = 0, h->views = NULL, h->n_views = 0;
}

/* Every topology's record, read from ZooKeeper at most once per CACHE_MS: each read is synchronous calls on
   nimbus's loop, so a client asking as fast as it can must not make nimbus read as fast as it asks. */
static int snapshot(void *arg, gale_status_t **records, size_t *n)
{
    gale_nimbus_http_t *h = arg;
    uint64_t now = uv_now(h->loop);
    if (h->records && now - h->taken_ms < CACHE_MS) {
        *records = h->records, *n = h->n_records;
        return 0;
    }
    forget(h);
    *records = NULL, *n = 0;
    int rc = gale_nimbus_views(h->nimbus, &h->views, &h->n_views);
    gale_status_t *r = rc ? NULL : calloc(h->n_views + 1, sizeof *r);
    if (!rc && !r) rc = GALE_ENOMEM;
    for (size_t k = 0; !rc && k < h->n_views; k++) {
        const gale_nimbus_view_t *v = &h->views[k];
        rc = gale_status_of_merged(v->model, v->figures, v->status, v->uptime_s, &r[k]);
        r[k].workers = v->workers;
        if (!rc && v->workers > 0 && !(r[k].worker_slots = calloc((size_t)v->workers, sizeof *r[k].worker_slots)))
            rc = GALE_ENOMEM;
        for (int i = 0; !rc && i < v->workers; i++) {
            gale_status_worker_t *w = &r[k].worker_slots[r[k].n_worker_slots++];
            w->slot = i;
            snprintf(w->supervisor, sizeof w->supervisor, "%s", v->slots[i].supervisor);
            snprintf(w->address, sizeof w->address, "%s", v->slots[i].address);
        }
        *n = k + 1;
    }
    h->records = r, h->n_records = *n, h->taken_ms = now;
    *records = r;
    if (rc) {
        forget(h);
        *records = NULL, *n = 0;
    }
    return rc;
}

/* The records stay for the next request (snapshot); stop frees them. */
static void release(void *arg, gale_status_t *records, size_t n) {}

static void supervisors(void *arg, const gale_status_t *records, size_t n, gale_buf_t *body)
{
    gale_nimbus_http_t *h = arg;
    gale_nimbus_sup_view_t *v;
    size_t count;
    gale_buf_puts(body, "{\"supervisors\": [");
    if (!gale_nimbus_supervisor_views(h->nimbus, &v, &count)) {
        for (size_t i = 0; i < count; i++) {
            size_t host_len = strcspn(v[i].name, ":");
            gale_buf_puts(body, i ? ", {\"id\": " : "{\"id\": ");
            gale_json_string(body, v[i].name, strlen(v[i].name));
            gale_buf_puts(body, ", \"host\": ");
            gale_json_string(body, v[i].name, host_len);
            gale_buf_printf(body, ", \"slotsTotal\": %d, \"slotsUsed\": %d, \"version\": ", v[i].slots, v[i].used);
            gale_json_string(body, v[i].version, strlen(v[i].version));
            gale_buf_puts(body, "}");
        }
        free(v);
    }
    gale_buf_puts(body, "]}\n");
}

static void slots(void *arg, const gale_status_t *records, size_t n, int *sups, int *slots_total)
{
    gale_nimbus_http_t *h = arg;
    gale_nimbus_sup_view_t *v;
    size_t count;
    *sups = 0, *slots_total = 0;
    if (gale_nimbus_supervisor_views(h->nimbus, &v, &count)) return;
    *sups = (int)count;
    for (size_t i = 0; i < count; i++) *slots_total += v[i].slots;
    free(v);
}

static bool key_is(const gale_value_t *k, const char *s)
{
    return k->type == GALE_STR && k->s.len == strlen(s) && !memcmp(k->s.ptr, s, k->s.len);
}

/* A whole number of a JSON document read back (MessagePack keeps the positive ones unsigned); -1 for any other. */
static int64_t whole(const gale_value_t *v)
{
    return v->type == GALE_INT ? v->i : v->type == GALE_UINT && v->u <= INT64_MAX ? (int64_t)v->u : -1;
}

/* Storm's rebalance body, {"rebalanceOptions": {"numWorkers": N, "executors": {"COMPONENT": N, ...}}}, as the
   words of the rebalance verb (" workers=N parallelism=C=N ..."). 0, or GALE_EINVAL with why. */
static int rebalance_words(const char *body, size_t len, gale_buf_t *words, char *why, size_t cap)
{
    if (!len) return 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    gale_value_t top, k, v, opts = {0};
    size_t used;
    int rc = gale_json_parse(body, len, &pk, NULL, NULL);
    if (!rc) rc = gale_mp_read(sb.data, sb.size, &top, &used);
    if (!rc && top.type != GALE_MAP) rc = GALE_EINVAL;
    for (uint32_t i = 0; !rc && i < top.n; i++)
        if (!gale_mp_item(&top, 2 * i, &k) && key_is(&k, "rebalanceOptions")) gale_mp_item(&top, 2 * i + 1, &opts);
    if (!rc && opts.type != GALE_MAP) rc = GALE_EINVAL; /* a body, but not Storm's */
    for (uint32_t i = 0; !rc && i < opts.n; i++) {
        int64_t n;
        if (gale_mp_item(&opts, 2 * i, &k) || gale_mp_item(&opts, 2 * i + 1, &v)) rc = GALE_EINVAL;
        else if (key_is(&k, "numWorkers") && (n = whole(&v)) >= 1 && n <= 1024)
            gale_buf_printf(words, " workers=%" PRId64, n);
        else if (key_is(&k, "executors") && v.type == GALE_MAP)
            for (uint32_t j = 0; !rc && j < v.n; j++) {
                gale_value_t c, p;
                if (gale_mp_item(&v, 2 * j, &c) || gale_mp_item(&v, 2 * j + 1, &p) || c.type != GALE_STR ||
                    (n = whole(&p)) < 1 || n > 4096 || memchr(c.s.ptr, ' ', c.s.len) || !c.s.len)
                    rc = GALE_EINVAL;
                else gale_buf_printf(words, " parallelism=%.*s=%" PRId64, (int)c.s.len, c.s.ptr, n);
            }
        else rc = GALE_EINVAL;
    }
    msgpack_sbuffer_destroy(&sb);
    if (rc)
        snprintf(why, cap,
                 "the body is not Storm's {\"rebalanceOptions\": {\"numWorkers\": N, \"executors\": "
                 "{\"COMPONENT\": N}}}");
    return rc ? GALE_EINVAL : 0;
}

/* The actions are the control port's verbs, run in this process (nimbus.h): the same checks and words. */
static int act(void *arg, const char *topology, const char *action, double wait_s, const char *body, size_t body_len,
               char *why, size_t cap)
{
    gale_nimbus_http_t *h = arg;
    gale_buf_t line = {0}, reply = {0};
    gale_buf_printf(&line, "%s %s", action, topology);
    if (wait_s >= 0) gale_buf_printf(&line, " wait=%g", wait_s);
    if (!strcmp(action, "rebalance") && rebalance_words(body, body_len, &line, why, cap)) {
        gale_buf_free(&line);
        return 400;
    }
    if (strchr(topology, ' ') || line.failed) {
        gale_buf_free(&line);
        return snprintf(why, cap, "no such topology"), 404;
    }
    gale_nimbus_command(h->nimbus, line.p, "http", &reply);
    forget(h); /* what the action changed shows at the next request */
    const char *text = reply.p ? reply.p : "";
    const char *err = !strncmp(text, "error ", 6) ? text + 6 : NULL;
    int status = !err ? 200 : !strncmp(err, "no topology named", 17) ? 404 : !strncmp(err, "usage", 5) ? 400 : 409;
    if (err) snprintf(why, cap, "%.*s", (int)strcspn(err, "\n"), err);
    gale_buf_free(&line);
    gale_buf_free(&reply);
    return status;
}

/* ---- on nimbus's loop ---------------------------------------------------------------------------------------- */

static int start(uv_loop_t *loop, gale_nimbus_t *n, void *arg)
{
    gale_nimbus_http_t *h = arg;
    h->nimbus = n;
    h->loop = loop;
    int rc = gale_endpoint_start(loop, h->host, h->port, &h->source, h->auth, h->tls, &h->endpoint);
    if (!rc) h->bound_port = gale_endpoint_port(h->endpoint);
    return rc;
}

static void stop(void *arg)
{
    gale_nimbus_http_t *h = arg;
    gale_endpoint_stop(h->endpoint);
    h->endpoint = NULL;
    forget(h);
}

void gale_nimbus_http_init(gale_nimbus_http_t *h, const char *host, int port, gale_http_auth_t *auth)
{
    memset(h, 0, sizeof *h);
    snprintf(h->host, sizeof h->host, "%s", host);
    h->port = port;
    h->auth = auth;
    h->source = (gale_endpoint_source_t){
        .snapshot = snapshot, .release = release, .supervisors = supervisors, .slots = slots, .act = act, .arg = h};
    h->watcher = (gale_nimbus_watcher_t){.start = start, .stop = stop, .arg = h};
}
