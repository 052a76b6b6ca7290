#include "nimbus.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "election.h"
#include "diag.h"
#include "gale.h"
#include "log.h"
#include "zk.h"

#define REOPEN_MS 1000

typedef struct nimbus {
    const gale_nimbus_opts_t *o;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t reopen;
    gale_zk_t *zk;
    gale_election_t *election;
    char root[256], folder[300], about[200], sups_folder[300];
    char **sups; /* the supervisors registered, as last listed (sorted names HOST:PORT) */
    size_t n_sups;
    int session_ms;
    int rc;
} nimbus_t;

/* The supervisors' folder, listed again (and watched again): who joined, who left, in the log. */
static void list_supervisors(nimbus_t *n)
{
    char **names;
    size_t count;
    int rc = gale_zk_children(n->zk, n->sups_folder, true, &names, &count);
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "nimbus", "cannot list %s: %s", n->sups_folder, gale_strerror(rc));
        return;
    }
    size_t i = 0, k = 0;
    while (i < count || k < n->n_sups) { /* both sorted: a merge */
        int c = i == count ? 1 : k == n->n_sups ? -1 : strcmp(names[i], n->sups[k]);
        if (c < 0) {
            char path[600], *data = NULL;
            size_t len;
            snprintf(path, sizeof path, "%s/%s", n->sups_folder, names[i]);
            gale_zk_get(n->zk, path, false, &data, &len, NULL);
            gale_logf(GALE_LOG_INFO, "nimbus", "supervisor %s joined (%s)", names[i], data ? data : "gone again");
            free(data);
            i++;
        } else if (c > 0) {
            gale_logf(GALE_LOG_WARN, "nimbus", "supervisor %s left", n->sups[k]);
            k++;
        } else {
            i++, k++;
        }
    }
    gale_zk_free_names(n->sups, n->n_sups);
    n->sups = names;
    n->n_sups = count;
}

static void on_leading(void *arg, bool leading)
{
    nimbus_t *n = arg;
    if (leading) gale_logf(GALE_LOG_INFO, "nimbus", "leading (%s)", n->about);
    else gale_logf(GALE_LOG_WARN, "nimbus", "no longer leading: the ZooKeeper session expired");
}

static void say_leader(nimbus_t *n)
{
    if (gale_election_leading(n->election)) return;
    char leader[256];
    if (gale_election_leader(n->election, leader, sizeof leader) == 0)
        gale_logf(GALE_LOG_INFO, "nimbus", "standing by: the leader is %s", leader);
}

static void on_watch(void *arg, gale_zk_event_t event, const char *path)
{
    nimbus_t *n = arg;
    if (n->election && gale_election_watch(n->election, event, path)) say_leader(n);
    else if (n->zk && event == GALE_ZK_CHILDREN_CHANGED && !strcmp(path, n->sups_folder)) list_supervisors(n);
}

static void on_state(void *arg, gale_zk_state_t state);

/* A session, the root with the cluster's ACL, and a place in the election. 0, or a zk.h code (logged). */
static int join(nimbus_t *n)
{
    gale_zk_opts_t zo = {.hosts = n->o->zk_hosts,
                         .session_timeout_ms = n->session_ms,
                         .secret = n->o->secret,
                         .secret_len = n->o->secret_len,
                         .cb = {.state = on_state, .watch = on_watch, .arg = n}};
    char why[256] = "";
    int rc = gale_zk_open(&n->loop, &zo, &n->zk, why, sizeof why);
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "nimbus", "%s", why);
        return rc;
    }
    rc = gale_zk_create_all(n->zk, n->root);
    if (!rc) rc = gale_zk_create_all(n->zk, n->sups_folder);
    if (!rc) rc = gale_election_join(n->zk, n->folder, n->about, on_leading, n, &n->election);
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "nimbus", "cannot join the election in %s%s: %s", n->o->zk_hosts, n->folder,
                  gale_strerror(rc));
        gale_zk_close(n->zk);
        n->zk = NULL;
        return rc;
    }
    say_leader(n);
    list_supervisors(n);
    return 0;
}

static void on_reopen(uv_timer_t *t)
{
    nimbus_t *n = t->data;
    if (!n->zk && join(n) == 0) uv_timer_stop(t);
}

static void on_state(void *arg, gale_zk_state_t state)
{
    nimbus_t *n = arg;
    if (state == GALE_ZK_CONNECTING)
        gale_logf(GALE_LOG_WARN, "nimbus", "lost ZooKeeper at %s: reconnecting", n->o->zk_hosts);
    if (state != GALE_ZK_EXPIRED && state != GALE_ZK_AUTH_FAILED) return;
    /* The session is gone, and with it our candidate: a new session joins the election again. */
    gale_logf(GALE_LOG_ERROR, "nimbus", "the ZooKeeper session %s: opening a new one",
              state == GALE_ZK_EXPIRED ? "expired" : "was refused");
    if (n->election) gale_election_lost(n->election);
    gale_election_leave(n->election);
    n->election = NULL;
    gale_zk_close(n->zk);
    n->zk = NULL;
    uv_timer_start(&n->reopen, on_reopen, 0, REOPEN_MS);
}

static void on_signal(uv_signal_t *s, int signum)
{
    nimbus_t *n = s->data;
    gale_logf(GALE_LOG_INFO, "nimbus", "%s: leaving the election", signum == SIGINT ? "SIGINT" : "SIGTERM");
    gale_election_leave(n->election);
    n->election = NULL;
    gale_zk_close(n->zk);
    n->zk = NULL;
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->reopen, NULL);
}

int gale_nimbus_run(const gale_nimbus_opts_t *o)
{
    nimbus_t n = {.o = o, .session_ms = o->session_timeout_ms > 0 ? o->session_timeout_ms : 20000};
    snprintf(n.root, sizeof n.root, "%s", o->root ? o->root : "/gale");
    snprintf(n.folder, sizeof n.folder, "%s/nimbus", n.root);
    snprintf(n.sups_folder, sizeof n.sups_folder, "%s/supervisors", n.root);
    snprintf(n.about, sizeof n.about, "host=%s pid=%d", o->host ? o->host : "127.0.0.1", (int)getpid());
    uv_loop_init(&n.loop);
    uv_signal_init(&n.loop, &n.sigint);
    uv_signal_init(&n.loop, &n.sigterm);
    uv_timer_init(&n.loop, &n.reopen);
    n.sigint.data = n.sigterm.data = n.reopen.data = &n;
    int rc = join(&n);
    if (rc) {
        uv_close((uv_handle_t *)&n.sigint, NULL);
        uv_close((uv_handle_t *)&n.sigterm, NULL);
        uv_close((uv_handle_t *)&n.reopen, NULL);
    } else {
        uv_signal_start(&n.sigint, on_signal, SIGINT);
        uv_signal_start(&n.sigterm, on_signal, SIGTERM);
    }
    uv_run(&n.loop, UV_RUN_DEFAULT);
    uv_loop_close(&n.loop);
    gale_zk_free_names(n.sups, n.n_sups);
    return rc;
}
