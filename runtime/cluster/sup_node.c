#include "sup_node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "diag.h"
#include "gale.h"
#include "log.h"
#include "zk.h"

#define REOPEN_MS 1000

#define ID_MAX 128
#define ADDR_MAX GALE_CONTROL_ADDR_MAX

/* A topology whose other slots' addresses this daemon follows. */
typedef struct follow {
    struct follow *next;
    char id[ID_MAX];
    char folder[600];
    int n_slots;
    char (*addrs)[ADDR_MAX]; /* [n_slots], "" while unknown */
    gale_sup_node_peers_fn peers;
    void *arg;
} follow_t;

/* Another module's nodes under `folder`, watched on this session (gale_sup_node_watch). */
typedef struct watcher {
    struct watcher *next;
    char folder[600];
    gale_sup_node_watch_fn fn;
    void *arg;
} watcher_t;

struct gale_sup_node {
    uv_loop_t *loop;
    follow_t *follows;
    watcher_t *watchers;
    char id[ADDR_MAX]; /* HOST:PORT */
    char root[256];
    char topos[300]; /* ROOT/topologies */
    gale_sup_node_topos_fn topos_fn;
    void *topos_arg;
    uv_timer_t topos_timer; /* reads the topologies a moment after a change, so that a burst is one read */
    int handles;            /* open ones (reopen, topos_timer): the memory goes when the last is closed */
    char workers[300]; /* ROOT/workers */
    gale_zk_opts_t zo;
    char secret[1024];
    char hosts[512], folder[300], path[400], host[80], version[32];
    int port, slots, free_slots;
    gale_zk_t *zk;
    uv_timer_t reopen;
    bool stopping;
    uint64_t session; /* sessions opened so far: the number of this one */
};

static void describe(const gale_sup_node_t *n, char *buf, size_t cap)
{
    snprintf(buf, cap, "host=%s port=%d slots=%d free=%d version=%s", n->host, n->port, n->slots, n->free_slots,
             n->version);
}

static void on_state(void *arg, gale_zk_state_t state);
static void on_watch(void *arg, gale_zk_event_t event, const char *path);
static void refresh(gale_sup_node_t *n, follow_t *f);

static void free_node(uv_handle_t *h)
{
    gale_sup_node_t *n = h->data;
    if (--n->handles == 0) free(n);
}

static void close_handles(gale_sup_node_t *n)
{
    uv_close((uv_handle_t *)&n->reopen, free_node);
    uv_close((uv_handle_t *)&n->topos_timer, free_node);
}

#define TOPOS_SETTLE_MS 20

static void read_topologies(gale_sup_node_t *n);
static void on_topos_timer(uv_timer_t *t) { read_topologies(t->data); }
static void topologies_soon(gale_sup_node_t *n)
{
    if (n->topos_fn && !n->stopping) uv_timer_start(&n->topos_timer, on_topos_timer, TOPOS_SETTLE_MS, 0);
}

/* A session and the node. 0, or a zk.h code with `why`. */
static int publish(gale_sup_node_t *n, char *why, size_t cap)
{
    int rc = gale_zk_open(n->loop, &n->zo, &n->zk, why, cap);
    if (rc) return rc;
    char data[256];
    describe(n, data, sizeof data);
    /* The root first: it must be the cluster's (zk.h), or whoever made it could replace the topologies under it. */
    rc = gale_zk_create_all(n->zk, n->root);
    if (!rc) rc = gale_zk_create_all(n->zk, n->folder);
    if (!rc) rc = gale_zk_create(n->zk, n->path, data, strlen(data), GALE_ZK_EPHEMERAL, NULL, 0);
    if (rc == GALE_EEXIST) { /* an earlier life's, whose session has not expired yet: ours replaces it */
        gale_zk_delete(n->zk, n->path, -1);
        rc = gale_zk_create(n->zk, n->path, data, strlen(data), GALE_ZK_EPHEMERAL, NULL, 0);
    }
    if (rc) {
        snprintf(why, cap, "cannot publish %s in ZooKeeper at %s: %s", n->path, n->hosts, gale_strerror(rc));
        gale_zk_close(n->zk);
        n->zk = NULL;
    } else {
        n->session++;
    }
    return rc;
}

static void on_reopen(uv_timer_t *t)
{
    gale_sup_node_t *n = t->data;
    char why[256];
    if (n->zk || n->stopping) return;
    if (publish(n, why, sizeof why) == 0) {
        uv_timer_stop(t);
        gale_logf(GALE_LOG_INFO, "supervisor", "in ZooKeeper again as %s", n->path);
        for (follow_t *f = n->follows; f; f = f->next) refresh(n, f); /* the watches died with the old session */
        for (watcher_t *w = n->watchers; w; w = w->next) w->fn(w->arg, NULL);
        topologies_soon(n);
    }
}

static void on_state(void *arg, gale_zk_state_t state)
{
    gale_sup_node_t *n = arg;
    if (state == GALE_ZK_CONNECTING)
        gale_logf(GALE_LOG_WARN, "supervisor", "lost ZooKeeper at %s: reconnecting", n->hosts);
    if ((state != GALE_ZK_EXPIRED && state != GALE_ZK_AUTH_FAILED) || n->stopping) return;
    gale_logf(GALE_LOG_ERROR, "supervisor", "the ZooKeeper session expired: publishing %s with a new one", n->path);
    gale_zk_close(n->zk);
    n->zk = NULL;
    uv_timer_start(&n->reopen, on_reopen, 0, REOPEN_MS);
}

int gale_sup_node_start(uv_loop_t *loop, const gale_sup_node_opts_t *o, gale_sup_node_t **out, char *why, size_t cap)
{
    *out = NULL;
    gale_sup_node_t *n = calloc(1, sizeof *n);
    if (!n || o->secret_len > sizeof n->secret) {
        free(n);
        return n ? GALE_EINVAL : GALE_ENOMEM;
    }
    n->loop = loop;
    memcpy(n->secret, o->secret, o->secret_len);
    snprintf(n->hosts, sizeof n->hosts, "%s", o->zk_hosts);
    snprintf(n->root, sizeof n->root, "%s", o->root ? o->root : "/gale");
    snprintf(n->folder, sizeof n->folder, "%s/supervisors", n->root);
    snprintf(n->topos, sizeof n->topos, "%s/topologies", n->root);
    snprintf(n->id, sizeof n->id, "%s:%d", o->host, o->port);
    snprintf(n->path, sizeof n->path, "%s/%s:%d", n->folder, o->host, o->port);
    snprintf(n->host, sizeof n->host, "%s", o->host);
    snprintf(n->version, sizeof n->version, "%s", o->version ? o->version : "?");
    n->port = o->port;
    n->slots = n->free_slots = o->slots;
    n->zo = (gale_zk_opts_t){.hosts = n->hosts,
                             .session_timeout_ms = o->session_timeout_ms > 0 ? o->session_timeout_ms : 20000,
                             .secret = n->secret,
                             .secret_len = o->secret_len,
                             .cb = {.state = on_state, .watch = on_watch, .arg = n}};
    snprintf(n->workers, sizeof n->workers, "%s/workers", o->root ? o->root : "/gale");
    uv_timer_init(loop, &n->reopen);
    uv_timer_init(loop, &n->topos_timer);
    n->reopen.data = n->topos_timer.data = n;
    n->handles = 2;
    int rc = publish(n, why, cap);
    if (rc) {
        n->stopping = true;
        close_handles(n);
        return rc;
    }
    *out = n;
    return 0;
}

void gale_sup_node_free_slots(gale_sup_node_t *n, int free_slots)
{
    if (!n || n->free_slots == free_slots) return;
    n->free_slots = free_slots;
    if (!n->zk) return; /* published with the new figure once the session is back */
    char data[256];
    describe(n, data, sizeof data);
    int rc = gale_zk_set(n->zk, n->path, data, strlen(data), -1);
    if (rc) gale_logf(GALE_LOG_WARN, "supervisor", "cannot update %s in ZooKeeper: %s", n->path, gale_strerror(rc));
}

/* ---- workers' addresses ------------------------------------------------------------------------------------- */

int gale_sup_node_publish_worker(gale_sup_node_t *n, const char *id, int slot, const char *addr)
{
    if (!n || !n->zk) return GALE_ESTATE;
    char folder[600], path[640];
    snprintf(folder, sizeof folder, "%s/%s", n->workers, id);
    snprintf(path, sizeof path, "%s/%d", folder, slot);
    int rc = gale_zk_create_all(n->zk, folder);
    if (!rc) rc = gale_zk_create(n->zk, path, addr, strlen(addr), GALE_ZK_EPHEMERAL, NULL, 0);
    if (rc == GALE_EEXIST) rc = gale_zk_set(n->zk, path, addr, strlen(addr), -1);
    if (rc)
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: cannot publish slot %d's address in ZooKeeper: %s", id, slot,
                  gale_strerror(rc));
    return rc;
}

/* Reads every slot's address again, watching the folder and each slot node, and tells the follower when all are
   known and one changed. */
static void refresh(gale_sup_node_t *n, follow_t *f)
{
    if (!n->zk) return;
    if (gale_zk_create_all(n->zk, f->folder)) return;
    char **names;
    size_t count;
    if (gale_zk_children(n->zk, f->folder, true, &names, &count)) return;
    bool changed = false;
    for (size_t i = 0; i < count; i++) {
        char *end, path[700], *data;
        size_t len;
        long slot = strtol(names[i], &end, 10);
        if (*end || slot < 0 || slot >= f->n_slots) continue;
        snprintf(path, sizeof path, "%s/%s", f->folder, names[i]);
        if (gale_zk_get(n->zk, path, true, &data, &len, NULL)) continue;
        if (len < ADDR_MAX && strcmp(f->addrs[slot], data)) {
            snprintf(f->addrs[slot], ADDR_MAX, "%s", data);
            changed = true;
        }
        free(data);
    }
    gale_zk_free_names(names, count);
    for (int s = 0; s < f->n_slots; s++)
        if (!f->addrs[s][0]) return;
    if (!changed) return;
    const char *addrs[f->n_slots];
    for (int s = 0; s < f->n_slots; s++) addrs[s] = f->addrs[s];
    f->peers(f->arg, addrs, f->n_slots);
}

static void on_watch(void *arg, gale_zk_event_t event, const char *path)
{
    gale_sup_node_t *n = arg;
    size_t tl = strlen(n->topos);
    if (!strncmp(path, n->topos, tl) && (path[tl] == '\0' || path[tl] == '/')) return topologies_soon(n);
    for (follow_t *f = n->follows; f; f = f->next) {
        size_t len = strlen(f->folder);
        if (!strncmp(path, f->folder, len) && (path[len] == '\0' || path[len] == '/')) {
            refresh(n, f);
            return;
        }
    }
    for (watcher_t *w = n->watchers; w; w = w->next) {
        size_t len = strlen(w->folder);
        if (!strncmp(path, w->folder, len) && (path[len] == '\0' || path[len] == '/')) {
            w->fn(w->arg, path);
            return;
        }
    }
}

int gale_sup_node_watch(gale_sup_node_t *n, const char *folder, gale_sup_node_watch_fn fn, void *arg)
{
    watcher_t *w = calloc(1, sizeof *w);
    if (!w) return GALE_ENOMEM;
    if (strlen(folder) >= sizeof w->folder) {
        free(w);
        return GALE_EINVAL;
    }
    snprintf(w->folder, sizeof w->folder, "%s", folder);
    w->fn = fn;
    w->arg = arg;
    w->next = n->watchers;
    n->watchers = w;
    return 0;
}

void gale_sup_node_unwatch(gale_sup_node_t *n, void *arg)
{
    for (watcher_t **p = &n->watchers; *p;) {
        watcher_t *w = *p;
        if (w->arg != arg) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        free(w);
    }
}

gale_zk_t *gale_sup_node_zk(const gale_sup_node_t *n) { return n ? n->zk : NULL; }

const char *gale_sup_node_root(const gale_sup_node_t *n) { return n->root; }

int gale_sup_node_follow(gale_sup_node_t *n, const char *id, int n_slots, gale_sup_node_peers_fn peers, void *arg)
{
    if (!n || n_slots < 1 || strlen(id) >= ID_MAX) return GALE_EINVAL;
    follow_t *f = calloc(1, sizeof *f);
    if (!f || !(f->addrs = calloc((size_t)n_slots, sizeof *f->addrs))) {
        free(f);
        return GALE_ENOMEM;
    }
    snprintf(f->id, sizeof f->id, "%s", id);
    snprintf(f->folder, sizeof f->folder, "%s/%s", n->workers, id);
    f->n_slots = n_slots;
    f->peers = peers;
    f->arg = arg;
    f->next = n->follows;
    n->follows = f;
    refresh(n, f);
    return 0;
}

void gale_sup_node_forget_topology(gale_sup_node_t *n, const char *id, const int *slots, int n_slots)
{
    if (!n) return;
    for (follow_t **p = &n->follows; *p; p = &(*p)->next) {
        if (strcmp((*p)->id, id)) continue;
        follow_t *f = *p;
        *p = f->next;
        free(f->addrs);
        free(f);
        break;
    }
    if (!n->zk) return;
    char path[700];
    for (int i = 0; i < n_slots; i++) {
        snprintf(path, sizeof path, "%s/%s/%d", n->workers, id, slots[i]);
        gale_zk_delete(n->zk, path, -1);
    }
    snprintf(path, sizeof path, "%s/%s", n->workers, id);
    gale_zk_delete(n->zk, path, -1); /* -ENOTEMPTY while another host still has its slots there */
}

void gale_sup_node_stop(gale_sup_node_t *n)
{
    if (!n) return;
    n->stopping = true;
    while (n->watchers) {
        watcher_t *w = n->watchers;
        n->watchers = w->next;
        free(w);
    }
    while (n->follows) {
        follow_t *f = n->follows;
        n->follows = f->next;
        free(f->addrs);
        free(f);
    }
    if (n->zk) gale_zk_delete(n->zk, n->path, -1);
    gale_zk_close(n->zk);
    n->zk = NULL;
    close_handles(n);
}

/* ---- topologies ----------------------------------------------------------------------------------------------- */

/* Reads every topology node (watching the folder and each node) and hands them to the follower. */
static void read_topologies(gale_sup_node_t *n)
{
    if (!n->zk || !n->topos_fn) return;
    char **names;
    size_t count;
    int rc = gale_zk_create_all(n->zk, n->topos);
    if (!rc) rc = gale_zk_children(n->zk, n->topos, true, &names, &count);
    if (rc) {
        gale_logf(GALE_LOG_WARN, "supervisor", "cannot read %s: %s (trying again)", n->topos, gale_strerror(rc));
        uv_timer_start(&n->topos_timer, on_topos_timer, REOPEN_MS, 0);
        return;
    }
    gale_topo_record_t *recs = calloc(count + 1, sizeof *recs);
    size_t got = 0;
    for (size_t i = 0; recs && i < count; i++) {
        char path[600], *text = NULL, why[200];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", n->topos, names[i]);
        if (gale_zk_get(n->zk, path, true, &text, &len, NULL)) continue; /* gone meanwhile */
        if (gale_topo_record_parse(text, &recs[got], why, sizeof why) == 0) got++;
        else {
            gale_logf(GALE_LOG_ERROR, "supervisor", "%s does not parse (left alone): %s", path, why);
            gale_topo_record_free(&recs[got]);
        }
        free(text);
    }
    gale_zk_free_names(names, count);
    if (recs) n->topos_fn(n->topos_arg, recs, got);
    for (size_t i = 0; recs && i < got; i++) gale_topo_record_free(&recs[i]);
    free(recs);
}

int gale_sup_node_follow_topologies(gale_sup_node_t *n, gale_sup_node_topos_fn fn, void *arg)
{
    if (!n || n->topos_fn) return GALE_EINVAL;
    n->topos_fn = fn;
    n->topos_arg = arg;
    read_topologies(n);
    return 0;
}

/* This daemon's ephemeral node in nimbus's folder ROOT/KIND/NAME (made with the topology), set to `text`, or
   deleted when `text` is NULL. The folder gone, the topology is being removed: nothing to say, and no error. */
static int say_in(gale_sup_node_t *n, const char *kind, const char *name, const char *text, size_t len)
{
    if (!n || !n->zk) return GALE_ESTATE;
    char path[800];
    snprintf(path, sizeof path, "%s/%s/%s/%s", n->root, kind, name, n->id);
    if (!text) {
        int rc = gale_zk_delete(n->zk, path, -1);
        return rc == GALE_ENOENT ? 0 : rc;
    }
    int rc = gale_zk_set(n->zk, path, text, len, -1);
    if (rc == GALE_ENOENT) {
        rc = gale_zk_create(n->zk, path, text, len, GALE_ZK_EPHEMERAL, NULL, 0);
        if (rc == GALE_ENOENT) return 0;
    }
    return rc;
}

int gale_sup_node_report(gale_sup_node_t *n, const char *name, const gale_topo_report_t *r)
{
    char text[700];
    if (r) gale_topo_report_format(r, text, sizeof text);
    int rc = say_in(n, "status", name, r ? text : NULL, r ? strlen(text) : 0);
    if (rc && r)
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: cannot report '%s' in ZooKeeper: %s", name, text,
                  gale_strerror(rc));
    return rc;
}

int gale_sup_node_publish_stats(gale_sup_node_t *n, const char *name, const char *doc)
{
    size_t len = doc ? strlen(doc) : 0;
    if (len > GALE_SUP_NODE_STATS_MAX) return GALE_ELIMIT;
    return say_in(n, "stats", name, doc, len);
}

int gale_sup_node_save_position(gale_sup_node_t *n, const char *name, const char *component, int index, int of,
                                uint64_t position)
{
    if (!n || !n->zk) return GALE_ESTATE;
    char path[700], text[32];
    snprintf(path, sizeof path, "%s/positions/%s/%s.%d.%d", n->root, name, component, index, of);
    int len = snprintf(text, sizeof text, "%" PRIu64, position);
    int rc = gale_zk_set(n->zk, path, text, (size_t)len, -1);
    /* The folder is nimbus's, made with the topology: gone, it is being removed. */
    if (rc == GALE_ENOENT) rc = gale_zk_create(n->zk, path, text, (size_t)len, 0, NULL, 0);
    if (rc == GALE_EEXIST) rc = gale_zk_set(n->zk, path, text, (size_t)len, -1); /* a racing first write */
    return rc;
}

int gale_sup_node_load_positions(gale_sup_node_t *n, const char *name, gale_sup_node_position_fn fn, void *arg)
{
    if (!n || !n->zk) return GALE_ESTATE;
    char folder[600], **names;
    size_t count;
    snprintf(folder, sizeof folder, "%s/positions/%s", n->root, name);
    int rc = gale_zk_children(n->zk, folder, false, &names, &count);
    if (rc) return rc == GALE_ENOENT ? 0 : rc;
    for (size_t i = 0; i < count; i++) {
        char path[900], component[256], *text = NULL;
        size_t len;
        int index, of, used = 0;
        /* COMPONENT.INDEX.OF: the component's name may hold dots, the two numbers are last */
        const char *dot2 = strrchr(names[i], '.'), *dot1 = dot2;
        while (dot1 > names[i] && dot1[-1] != '.') dot1--;
        dot1 = dot1 > names[i] ? dot1 - 1 : NULL;
        snprintf(path, sizeof path, "%s/%s", folder, names[i]);
        if (!dot1 || dot1 == names[i] || (size_t)(dot1 - names[i]) >= sizeof component ||
            sscanf(dot1, ".%d.%d%n", &index, &of, &used) != 2 || dot1[used] || index < 0 || of < 1 || index >= of ||
            gale_zk_get(n->zk, path, false, &text, &len, NULL))
            continue;
        char *end;
        errno = 0;
        unsigned long long position = text && *text >= '0' && *text <= '9' ? strtoull(text, &end, 10) : 0;
        if (position && !errno && !*end) {
            snprintf(component, sizeof component, "%.*s", (int)(dot1 - names[i]), names[i]);
            fn(arg, component, index, of, position);
        }
        free(text);
    }
    gale_zk_free_names(names, count);
    return 0;
}

int gale_sup_node_nimbus(gale_sup_node_t *n, char *buf, size_t cap)
{
    if (!n || !n->zk) return GALE_ESTATE;
    char folder[300], path[400], **names, *data = NULL;
    size_t count, len;
    snprintf(folder, sizeof folder, "%s/nimbus", n->root);
    int rc = gale_zk_children(n->zk, folder, false, &names, &count);
    if (rc) return rc;
    if (!count) rc = GALE_ENOENT;
    else {
        snprintf(path, sizeof path, "%s/%s", folder, names[0]); /* ten-digit sequence numbers: the first leads */
        rc = gale_zk_get(n->zk, path, false, &data, &len, NULL);
    }
    gale_zk_free_names(names, count);
    if (rc) return rc;
    char host[128];
    int port = 0;
    const char *h = strstr(data, "host="), *p = strstr(data, "port=");
    if (!h || !p || sscanf(h, "host=%127s", host) != 1 || sscanf(p, "port=%d", &port) != 1 || port <= 0)
        rc = GALE_ENOENT;
    else snprintf(buf, cap, "%s:%d", host, port);
    free(data);
    return rc;
}

const char *gale_sup_node_id(const gale_sup_node_t *n) { return n->id; }

uint64_t gale_sup_node_session(const gale_sup_node_t *n) { return n && n->zk ? n->session : 0; }

int gale_sup_node_session_ms(const gale_sup_node_t *n) { return n ? gale_zk_session_ms(n->zk) : 0; }

int gale_sup_node_check(gale_sup_node_t *n)
{
    if (!n || !n->zk) return GALE_ESTATE;
    return gale_zk_exists(n->zk, n->path, false, NULL);
}

void gale_sup_node_topologies_again(gale_sup_node_t *n)
{
    if (n) topologies_soon(n);
}
