#include "nimbus.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "audit.h"
#include "diag.h"
#include "gale.h"
#include "log.h"
#include "nimbus_state.h"

#define REOPEN_MS 1000
/* How often the leader looks at what it owes: pending replies, kills, slots to move. */
#define TICK_MS 100
#define MAX_TOKENS 256

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
    const char *folders[] = {n->sups_folder,  n->topos_folder,     n->status_folder, n->workers_folder,
                             n->blobs_folder, n->positions_folder, n->stats_folder,  n->ckpt_folder};
    for (size_t i = 0; !rc && i < sizeof folders / sizeof *folders; i++) rc = gale_zk_create_all(n->zk, folders[i]);
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
    gale_ctl_server_close(n->server);
    n->server = NULL;
    if (n->o->watcher) n->o->watcher->stop(n->o->watcher->arg);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->reopen, NULL);
    uv_close((uv_handle_t *)&n->tick, NULL);
}

/* ---- the control port ------------------------------------------------------------------------------------------ */

static void on_tick(uv_timer_t *t) { nimbus_topos_tick(t->data); }

static nconn_t *nconn(gale_ctl_conn_t *c)
{
    nconn_t *x = gale_ctl_user(c);
    if (x || !(x = calloc(1, sizeof *x))) return x;
    x->conn = c;
    gale_ctl_set_user(c, x);
    return x;
}

static void on_conn_closed(void *arg, gale_ctl_conn_t *c)
{
    nimbus_t *n = arg;
    nconn_t *x = gale_ctl_user(c);
    if (!x) return;
    gale_blob_abort(x->upload);
    nimbus_topos_forget_conn(n, x);
    free(x);
}

/* Whether this nimbus may change the cluster; if not, the client is told where the leader is. */
static bool leading_or_say(nimbus_t *n, gale_ctl_conn_t *c)
{
    if (n->zk && n->election && gale_election_leading(n->election)) return true;
    char leader[256] = "";
    if (!n->election || gale_election_leader(n->election, leader, sizeof leader))
        snprintf(leader, sizeof leader, "unknown");
    gale_ctl_sendf(c, "error not the leading nimbus: the leader is %s", leader);
    return false;
}

static void handle_line(void *arg, gale_ctl_conn_t *c, char *line)
{
    nimbus_t *n = arg;
    nconn_t *x = nconn(c);
    if (!x) return gale_ctl_refuse(c, "out of memory");
    if (x->upload) return nimbus_upload_line(n, x, line);
    if (x->pending) return gale_ctl_refuse(c, "a command came while the last one was still under way: one at a time");
    char *tok[MAX_TOKENS], *save = NULL;
    int ntok = 0;
    for (char *t = strtok_r(line, " \r", &save); t && ntok < MAX_TOKENS; t = strtok_r(NULL, " \r", &save))
        tok[ntok++] = t;
    if (ntok == 0) return;
    if (!n->zk) return gale_ctl_sendf(c, "error nimbus has no ZooKeeper session now: try again");
    if (!nimbus_may(n, c, tok, ntok)) return;
    const char *verb = tok[0];
    if (!strcmp(verb, "has")) nimbus_cmd_has(n, c, tok, ntok);
    else if (!strcmp(verb, "get")) nimbus_cmd_get(n, c, tok, ntok);
    else if (!strcmp(verb, "list")) nimbus_cmd_list(n, c);
    else if (!strcmp(verb, "supervisors")) nimbus_cmd_supervisors(n, c);
    else if (!strcmp(verb, "stats")) nimbus_cmd_stats(n, c, tok, ntok);
    else if (!strcmp(verb, "leader")) {
        char leader[256] = "unknown";
        if (n->election) gale_election_leader(n->election, leader, sizeof leader);
        gale_ctl_sendf(c, "ok %s", leader);
    } else if (!strcmp(verb, "put")) {
        if (leading_or_say(n, c)) nimbus_cmd_put(n, x, tok, ntok);
    } else if (!strcmp(verb, "submit")) {
        if (leading_or_say(n, c)) nimbus_cmd_submit(n, x, tok, ntok);
    } else if (!strcmp(verb, "kill")) {
        if (leading_or_say(n, c)) nimbus_cmd_kill(n, x, tok, ntok);
    } else if (!strcmp(verb, "rebalance")) {
        if (leading_or_say(n, c)) nimbus_cmd_rebalance(n, x, tok, ntok);
    } else if (!strcmp(verb, "swap")) {
        if (leading_or_say(n, c)) nimbus_cmd_swap(n, x, tok, ntok);
    } else if (!strcmp(verb, "activate") || !strcmp(verb, "deactivate")) {
        if (leading_or_say(n, c)) nimbus_cmd_activate(n, c, tok, ntok, verb[0] == 'a');
    } else {
        gale_ctl_sendf(c,
                       "error unknown command '%s' (has, put, get, submit, list, kill, activate, deactivate, "
                       "rebalance, supervisors, leader)",
                       verb);
    }
}

/* The verbs that change the cluster: each is audited with its answer. */
static const char *const AUDITED[] = {"submit", "kill", "rebalance", "swap", "activate", "deactivate", NULL};

void gale_nimbus_command(gale_nimbus_t *n, const char *line, const char *source, gale_buf_t *reply)
{
    gale_ctl_conn_t *c = gale_ctl_capture_new();
    char *copy = strdup(line);
    if (c && copy) {
        gale_ctl_capture_audit(c, n->audit, AUDITED, source, "http-token");
        gale_ctl_audit_begin(c, line);
        handle_line(n, c, copy);
        on_conn_closed(n, c); /* a reply owed later answers no one; the verb goes on */
        gale_buf_puts(reply, gale_ctl_capture_text(c));
    } else {
        gale_buf_puts(reply, "error out of memory\n");
    }
    free(copy);
    gale_ctl_capture_free(c);
}

int gale_nimbus_run(const gale_nimbus_opts_t *o)
{
    nimbus_t n = {.o = o, .session_ms = o->session_timeout_ms > 0 ? o->session_timeout_ms : 20000};
    const char *host = o->host ? o->host : "127.0.0.1";
    snprintf(n.root, sizeof n.root, "%s", o->root ? o->root : "/gale");
    snprintf(n.folder, sizeof n.folder, "%s/nimbus", n.root);
    snprintf(n.sups_folder, sizeof n.sups_folder, "%s/supervisors", n.root);
    snprintf(n.topos_folder, sizeof n.topos_folder, "%s/topologies", n.root);
    snprintf(n.status_folder, sizeof n.status_folder, "%s/status", n.root);
    snprintf(n.workers_folder, sizeof n.workers_folder, "%s/workers", n.root);
    snprintf(n.positions_folder, sizeof n.positions_folder, "%s/positions", n.root);
    snprintf(n.ckpt_folder, sizeof n.ckpt_folder, "%s/checkpoints", n.root);
    snprintf(n.stats_folder, sizeof n.stats_folder, "%s/stats", n.root);
    snprintf(n.blobs_folder, sizeof n.blobs_folder, "%s/blobs", n.root);
    int rc = gale_blobs_init(o->data_dir);
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "nimbus", "%s: cannot make the data folder: %s", o->data_dir, gale_strerror(rc));
        return rc;
    }
    uv_loop_init(&n.loop);
    uv_signal_init(&n.loop, &n.sigint);
    uv_signal_init(&n.loop, &n.sigterm);
    uv_timer_init(&n.loop, &n.reopen);
    uv_timer_init(&n.loop, &n.tick);
    n.sigint.data = n.sigterm.data = n.reopen.data = n.tick.data = &n;
    gale_ctl_server_opts_t so = {.banner = "gale-nimbus 1",
                                 .who = "nimbus",
                                 .secret = o->secret,
                                 .secret_len = o->secret_len,
                                 .arg = &n,
                                 .line = handle_line,
                                 .closed = on_conn_closed,
                                 .audited = AUDITED,
                                 .tls = o->tls};
    rc = gale_ctl_server_listen(&n.loop, host, o->port, &so, &n.server, &n.port);
    /* The audit log: its own file per nimbus (several may share a data folder), named by the port it got. */
    char audit_path[4200], by[128];
    if (o->audit_log) snprintf(audit_path, sizeof audit_path, "%s", o->audit_log);
    else snprintf(audit_path, sizeof audit_path, "%s/nimbus-%s-%d-audit.log", o->data_dir, host, n.port);
    snprintf(by, sizeof by, "nimbus %s:%d", host, n.port);
    gale_diag_t ad = {{0}};
    if (!rc && (rc = gale_audit_open(audit_path, by, &n.audit, &ad))) gale_logf(GALE_LOG_ERROR, "nimbus", "%s", ad.msg);
    if (!rc) gale_ctl_server_set_audit(n.server, n.audit);
    /* The candidate's node says where its control port is: clients and supervisors find the leader there. */
    snprintf(n.about, sizeof n.about, "host=%s port=%d pid=%d", host, n.port, (int)getpid());
    if (!rc) rc = join(&n);
    if (rc) {
        gale_ctl_server_close(n.server);
        uv_close((uv_handle_t *)&n.sigint, NULL);
        uv_close((uv_handle_t *)&n.sigterm, NULL);
        uv_close((uv_handle_t *)&n.reopen, NULL);
        uv_close((uv_handle_t *)&n.tick, NULL);
    } else {
        uv_signal_start(&n.sigint, on_signal, SIGINT); /* before the line: a SIGTERM may follow it at once */
        uv_signal_start(&n.sigterm, on_signal, SIGTERM);
        printf("listening %s:%d\n", host, n.port);
        fflush(stdout);
        gale_logf(GALE_LOG_INFO, "nimbus", "listening on %s:%d, data in %s, audit log %s", host, n.port, o->data_dir,
                  audit_path);
        char started[128];
        snprintf(started, sizeof started, "listening on %s:%d", host, n.port);
        gale_audit_append(
            n.audit, &(gale_audit_event_t){.source = "local", .action = "start", .result = "ok", .detail = started});
        uv_timer_start(&n.tick, on_tick, TICK_MS, TICK_MS);
        if (o->watcher && (rc = o->watcher->start(&n.loop, &n, o->watcher->arg))) {
            gale_logf(GALE_LOG_ERROR, "nimbus", "its watcher (the HTTP endpoint) did not start: stopping");
            gale_nimbus_opts_t without = *o;
            without.watcher = NULL; /* never started: nothing to stop */
            n.o = &without;
            on_signal(&n.sigterm, SIGTERM); /* as a SIGTERM: leave the election, close; the loop below ends */
            n.o = o;
        }
    }
    uv_run(&n.loop, UV_RUN_DEFAULT);
    if (!rc) gale_audit_append(n.audit, &(gale_audit_event_t){.source = "local", .action = "stop", .result = "ok"});
    gale_audit_close(n.audit);
    uv_loop_close(&n.loop);
    nimbus_topos_free(&n);
    gale_zk_free_names(n.sups, n.n_sups);
    return rc;
}
