#include "sup_node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "gale.h"
#include "log.h"
#include "zk.h"

#define REOPEN_MS 1000

struct gale_sup_node {
    uv_loop_t *loop;
    gale_zk_opts_t zo;
    char secret[1024];
    char hosts[512], folder[300], path[400], host[80], version[32];
    int port, slots, free_slots;
    gale_zk_t *zk;
    uv_timer_t reopen;
    bool stopping;
};

static void describe(const gale_sup_node_t *n, char *buf, size_t cap)
{
    snprintf(buf, cap, "host=%s port=%d slots=%d free=%d version=%s", n->host, n->port, n->slots, n->free_slots,
             n->version);
}

static void on_state(void *arg, gale_zk_state_t state);

static void free_node(uv_handle_t *h) { free(h->data); }

/* A session and the node. 0, or a zk.h code with `why`. */
static int publish(gale_sup_node_t *n, char *why, size_t cap)
{
    int rc = gale_zk_open(n->loop, &n->zo, &n->zk, why, cap);
    if (rc) return rc;
    char data[256];
    describe(n, data, sizeof data);
    rc = gale_zk_create_all(n->zk, n->folder);
    if (!rc) rc = gale_zk_create(n->zk, n->path, data, strlen(data), GALE_ZK_EPHEMERAL, NULL, 0);
    if (rc == GALE_EEXIST) { /* an earlier life's, whose session has not expired yet: ours replaces it */
        gale_zk_delete(n->zk, n->path, -1);
        rc = gale_zk_create(n->zk, n->path, data, strlen(data), GALE_ZK_EPHEMERAL, NULL, 0);
    }
    if (rc) {
        snprintf(why, cap, "cannot publish %s in ZooKeeper at %s: %s", n->path, n->hosts, gale_strerror(rc));
        gale_zk_close(n->zk);
        n->zk = NULL;
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
    snprintf(n->folder, sizeof n->folder, "%s/supervisors", o->root ? o->root : "/gale");
    snprintf(n->path, sizeof n->path, "%s/%s:%d", n->folder, o->host, o->port);
    snprintf(n->host, sizeof n->host, "%s", o->host);
    snprintf(n->version, sizeof n->version, "%s", o->version ? o->version : "?");
    n->port = o->port;
    n->slots = n->free_slots = o->slots;
    n->zo = (gale_zk_opts_t){.hosts = n->hosts,
                             .session_timeout_ms = o->session_timeout_ms > 0 ? o->session_timeout_ms : 20000,
                             .secret = n->secret,
                             .secret_len = o->secret_len,
                             .cb = {.state = on_state, .arg = n}};
    uv_timer_init(loop, &n->reopen);
    n->reopen.data = n;
    int rc = publish(n, why, cap);
    if (rc) {
        n->stopping = true;
        uv_close((uv_handle_t *)&n->reopen, free_node);
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

void gale_sup_node_stop(gale_sup_node_t *n)
{
    if (!n) return;
    n->stopping = true;
    if (n->zk) gale_zk_delete(n->zk, n->path, -1);
    gale_zk_close(n->zk);
    n->zk = NULL;
    uv_close((uv_handle_t *)&n->reopen, free_node);
}
