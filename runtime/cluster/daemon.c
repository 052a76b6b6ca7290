#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "audit.h"
#include "ckpt_link.h"
#include "daemon_state.h"
#include "gale.h"
#include "log.h"
#include "plugin.h"
#include "sup_node.h"
#include "supervisor.h"
#include "blobs.h"
#include "topology_codec.h"
#include "topology_read.h"
#include "validate.h"

#define MAX_TOKENS 256
#define KILL_WAIT_S 30.0
#define SIGNAL_WAIT_S 10.0
#define KILL_WAIT_MAX_S 86400.0
#define MAX_WORKERS 4096
/* The child that loads an assignment's plugins: killed after this long (a constructor may never return), polled
   this often for its exit, and its reply bounded (an order of 4096 components is under 30 KiB). */
#define CHECK_TIMEOUT_MS 30000
#define CHECK_POLL_MS 20
#define CHECK_OUT_MAX (1 << 20)

/* The node in ZooKeeper says how many slots are free. */
static void slots_changed(supd_t *d) { gale_sup_node_free_slots(d->node, d->o->slots - d->used_slots); }

#define event(d, ...) gale_ctl_event((d)->server, __VA_ARGS__)

/* The per-connection state of the daemon, made on first use. NULL when out of memory. */
static dconn_t *dconn(supd_t *d, gale_ctl_conn_t *c)
{
    dconn_t *x = gale_ctl_user(c);
    if (x || !(x = calloc(1, sizeof *x))) return x;
    x->conn = c;
    x->next = d->dconns;
    d->dconns = x;
    gale_ctl_set_user(c, x);
    return x;
}

/* The connection is going: an assignment being checked for it answers no one, and its state goes. */
static void on_conn_closed(void *arg, gale_ctl_conn_t *c)
{
    supd_t *d = arg;
    dconn_t *x = gale_ctl_user(c);
    if (!x) return;
    if (x->checking) x->checking->conn = NULL;
    if (x->swapping) x->swapping->x = NULL;
    for (dconn_t **p = &d->dconns; *p; p = &(*p)->next)
        if (*p == x) {
            *p = x->next;
            break;
        }
    free(x);
}

/* ---- topologies ---------------------------------------------------------------------------------------------------- */

static topo_rec_t *find(supd_t *d, const char *id)
{
    for (topo_rec_t *r = d->topos; r; r = r->next)
        if (!strcmp(r->id, id)) return r;
    return NULL;
}

topo_rec_t *gale__supd_find_any(supd_t *d, const char *id)
{
    topo_rec_t *r = find(d, id);
    for (topo_rec_t *k = d->checks; k && !r; k = k->next)
        if (!strcmp(k->id, id)) r = k;
    return r;
}

void gale__supd_free_rec(topo_rec_t *r)
{
    for (size_t i = 0; i < r->n_sets; i++) free(r->sets[i]);
    if (r->secret) explicit_bzero(r->secret, strlen(r->secret)); /* the topology's secret: wiped, then freed */
    free(r->sets), free(r->slots), free(r->stats), free(r->check_out), free(r->secret);
    free(r->resume_tasks), free(r->resume_positions), free(r->saved_positions);
    for (size_t i = 0; i < r->n_plugins; i++) free(r->plugins[i].component);
    free(r->plugins);
    gale_ckpt_link_close(r->ckpt_link);
    gale_topology_free(r->topo);
    free(r);
}

/* Whether a topology runs or an assignment is being checked: the daemon ends only when neither. */
static bool any_running(const supd_t *d)
{
    for (const topo_rec_t *r = d->topos; r; r = r->next)
        if (r->sup) return true;
    return d->checks != NULL;
}

static void shut_down(supd_t *d)
{
    gale_logf(GALE_LOG_INFO, "supervisor", "every topology has ended: exiting");
    gale__supd_cluster_stop(d);
    gale_sup_node_stop(d->node); /* nimbus hears now that this host is gone */
    d->node = NULL;
    gale_ctl_server_close(d->server);
    d->server = NULL;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
}

static void on_address(void *arg, gale_sup_t *s, int slot, const char *addr)
{
    topo_rec_t *r = arg;
    event(r->d, "address %s %d %s", r->id, slot, addr);
    if (r->d->node) gale_sup_node_publish_worker(r->d->node, r->id, slot, addr); /* for the other hosts' slots */
}

/* Cluster mode: every slot's address, from ZooKeeper, as a `peers` command would give them. */
static void on_zk_peers(void *arg, const char *const *addrs, int n)
{
    topo_rec_t *r = arg;
    if (!r->sup) return;
    char said[1024] = "";
    for (int i = 0, len = 0; i < n && len < (int)sizeof said; i++)
        len += snprintf(said + len, sizeof said - (size_t)len, " %s", addrs[i]);
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: the slots' addresses from ZooKeeper:%s", r->id, said);
    int rc = gale_sup_peers(r->sup, addrs, n);
    if (rc)
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: the addresses in ZooKeeper do not fit: %s", r->id,
                  gale_strerror(rc));
}

static void on_restarting(void *arg, gale_sup_t *s, int slot, int signal, int64_t status, unsigned backoff_ms)
{
    topo_rec_t *r = arg;
    if (signal) event(r->d, "restarting %s %d signal=%d backoff_ms=%u", r->id, slot, signal, backoff_ms);
    else event(r->d, "restarting %s %d status=%lld backoff_ms=%u", r->id, slot, (long long)status, backoff_ms);
}

static void on_ended(void *arg, gale_sup_t *s)
{
    topo_rec_t *r = arg;
    supd_t *d = r->d;
    size_t len = 0;
    FILE *f = open_memstream(&r->stats, &len);
    if (f) {
        gale_sup_metrics_json(s, false, f);
        fclose(f);
        if (r->stats && len && r->stats[len - 1] == '\n') r->stats[len - 1] = '\0';
    }
    r->failed = gale_sup_failed(s);
    if (r->cluster && !r->expired) { /* where the next placement's spouts go on; the last figures stay */
        gale__supd_cluster_save_positions(d, r);
        gale__supd_cluster_publish_stats(d, r);
    }
    gale_ckpt_link_close(r->ckpt_link);
    r->ckpt_link = NULL;
    gale_sup_free(s);
    r->sup = NULL;
    if (r->cluster) { /* nimbus hears of it in ZooKeeper; the record goes (nimbus keeps the figures, later) */
        gale_sup_node_forget_topology(d->node, r->id, r->slots, r->n_slots);
        d->used_slots -= r->n_slots;
        slots_changed(d);
        gale_logf(GALE_LOG_INFO, "supervisor", "%s: ended (%s)", r->id, r->failed ? "failed" : "ok");
        gale__supd_cluster_ended(d, r);
        if (d->signals && !any_running(d)) shut_down(d);
        return;
    }
    gale_sup_node_forget_topology(d->node, r->id, r->slots, r->n_slots);
    d->used_slots -= r->n_slots;
    slots_changed(d);
    const char *status = r->failed ? "failed" : "ok";
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: ended (%s)", r->id, status);
    event(d, "ended %s status=%s", r->id, status);
    for (dconn_t *x = d->dconns; x; x = x->next) {
        if (strcmp(x->waiting, r->id)) continue;
        x->waiting[0] = '\0';
        gale_ctl_sendf(x->conn, "ok ended %s status=%s", r->id, status);
    }
    if (d->signals && !any_running(d)) shut_down(d);
}

/* ---- the plugin check, in a child ---------------------------------------------------------------------------------- */

/*
 * In the child: loads each plugin (saying which on fd 3 first, so that a crash can be blamed on it), resolves the
 * topology, and writes "ok N_TASKS" and "order I..." or "error MESSAGE". Never returns.
 */
static void check_child(gale_topology_t *t, bool model, int fd)
{
    /* libuv's handlers write to the loop's signal pipe, which may be the fd that becomes 3 below. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    if (fd != 3 && dup2(fd, 3) != 3) _exit(2);
    /* The daemon's sockets and its workers' pipes: a child that outlived its check must not keep them open. */
    if (close_range(4, ~0U, 0))
        for (int k = 4; k < 65536; k++) close(k);
    for (size_t i = 0; i < t->n_components; i++) {
        gale_component_t *c = &t->components[i];
        char *path = NULL;
        gale_diag_t ignored = {{0}};
        gale_plugin_handle_t *h = NULL;
        if (!strcmp(c->plugin_name, "shell")) continue;
        if (model && c->plugin_path) path = strdup(c->plugin_path);
        else if (gale_plugin_resolve_path(c->plugin_name, t->dir, &path, &ignored)) continue;
        if (!path) continue;
        dprintf(3, "plugin %s\n", path);
        /* Kept loaded (the child ends soon), so that resolving loads each once; a refusal comes again from there. */
        (void)gale_plugin_load(path, &h, &ignored);
        free(path);
    }
    dprintf(3, "resolving\n");
    gale_diag_t diag = {{0}};
    /* A model (cluster mode) was resolved where it was submitted: its plugins only have to load here. */
    int rc = model ? gale_topology_attach(t, &diag) : gale_topology_resolve(t, &diag);
    if (rc) {
        for (char *p = diag.msg; *p; p++)
            if (*p == '\n') *p = ' ';
        dprintf(3, "error %s\n", diag.msg[0] ? diag.msg : gale_strerror(rc));
        _exit(1);
    }
    dprintf(3, "ok %u\norder", t->n_tasks);
    for (size_t i = 0; i < t->n_components; i++) dprintf(3, " %d", t->order[i]);
    dprintf(3, "\n");
    _exit(0);
}

static void start_assigned(topo_rec_t *r);

/* Tells whoever asked for `r` how it went: `error` NULL when it started. */
static void answer(topo_rec_t *r, const char *error)
{
    if (r->conn && error) gale_ctl_sendf(r->conn, "error %s", error);
    else if (r->conn) gale_ctl_sendf(r->conn, "ok assigned %s", r->id);
    else if (r->reply) r->reply(r->reply_arg, r->id, error);
}

static void unlink_check(topo_rec_t *r)
{
    for (topo_rec_t **p = &r->d->checks; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    r->next = NULL;
}

/* The last "plugin PATH" line the child wrote, or NULL. Points into r->check_out. */
static const char *last_plugin(topo_rec_t *r)
{
    const char *last = NULL;
    for (char *p = r->check_out; p && (p = strstr(p, "plugin ")); p++)
        if (p == r->check_out || p[-1] == '\n') last = p + 7;
    return last;
}

/* Reads "ok N\norder I0 I1 ..." into the topology; false when it does not fit it. */
static bool take_order(topo_rec_t *r, const char *ok)
{
    gale_topology_t *t = r->topo;
    char *end;
    unsigned long n_tasks = strtoul(ok + 3, &end, 10);
    const char *p = strstr(end, "\norder");
    if (!p || n_tasks == 0 || n_tasks > UINT32_MAX) return false;
    p += 6;
    int *order = calloc(t->n_components ? t->n_components : 1, sizeof *order);
    bool fine = order != NULL;
    for (size_t i = 0; fine && i < t->n_components; i++) {
        long v = strtol(p, &end, 10);
        fine = end != p && v >= 0 && (size_t)v < t->n_components;
        order[i] = (int)v;
        p = end;
    }
    if (!fine) {
        free(order);
        return false;
    }
    free(t->order);
    t->order = order;
    t->n_tasks = (uint32_t)n_tasks;
    return true;
}

/* Both handles of a check are closed: judge what the child said and how it ended. */
static void check_done(topo_rec_t *r)
{
    supd_t *d = r->d;
    gale_ctl_conn_t *c = r->conn;
    unlink_check(r);
    d->used_slots -= r->n_slots;
    slots_changed(d);
    dconn_t *x = c ? gale_ctl_user(c) : NULL;
    if (x) x->checking = NULL;
    char *out = r->check_out ? r->check_out : "";
    const char *ok = !strncmp(out, "ok ", 3) ? out : strstr(out, "\nok ");
    const char *err = !strncmp(out, "error ", 6) ? out : strstr(out, "\nerror ");
    int st = r->check_status;
    char why[600] = "";
    if (ok && ok != out) ok++;
    if (err && err != out) err++;
    if (d->signals)
        snprintf(why, sizeof why, "the daemon is shutting down");
    else if (r->check_killed && !ok && !err)
        snprintf(why, sizeof why, "checking the plugins of %s took over %d s: stopped", r->topo->file,
                 CHECK_TIMEOUT_MS / 1000);
    else if (err)
        snprintf(why, sizeof why, "%.*s", (int)strcspn(err + 6, "\n"), err + 6);
    else if (!ok || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !take_order(r, ok)) {
        const char *plugin = last_plugin(r);
        char how[64];
        if (WIFSIGNALED(st)) snprintf(how, sizeof how, "signal %d, %s", WTERMSIG(st), strsignal(WTERMSIG(st)));
        else snprintf(how, sizeof how, "status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        if (strstr(out, "\nresolving") || !plugin)
            snprintf(why, sizeof why, "%s: checking its plugins crashed (%s)", r->topo->file, how);
        else
            snprintf(why, sizeof why, "plugin %.*s crashed when loaded (%s)", (int)strcspn(plugin, "\n"), plugin, how);
    }
    if (!why[0] && !c && !r->reply) snprintf(why, sizeof why, "its client left before the check ended");
    if (why[0]) {
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: assignment refused: %s", r->id, why);
        answer(r, why);
        gale__supd_free_rec(r);
    } else {
        start_assigned(r);
    }
    if (d->signals && !any_running(d)) shut_down(d);
}

static void on_check_closed(uv_handle_t *h)
{
    topo_rec_t *r = h->data;
    if (--r->check_handles == 0) check_done(r);
}

static void check_try_end(topo_rec_t *r)
{
    if (r->check_pid && waitpid(r->check_pid, &r->check_status, WNOHANG) == r->check_pid) r->check_pid = 0;
    if (r->check_pid || !r->check_eof || uv_is_closing((uv_handle_t *)&r->check_timer)) return;
    uv_close((uv_handle_t *)&r->check_pipe, on_check_closed);
    uv_close((uv_handle_t *)&r->check_timer, on_check_closed);
}

static void check_kill(topo_rec_t *r)
{
    if (r->check_pid && !r->check_killed) kill(r->check_pid, SIGKILL);
    r->check_killed = true;
}

/* Polls for the child's exit (libuv reaps only what it spawned) and kills it at its deadline. */
static void on_check_tick(uv_timer_t *h)
{
    topo_rec_t *r = h->data;
    if (uv_now(h->loop) >= r->check_deadline_ms || r->d->signals) check_kill(r);
    check_try_end(r);
}

static void on_check_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    topo_rec_t *r = h->data;
    size_t want = r->check_len + 4096 + 1;
    char *grown = want <= CHECK_OUT_MAX ? realloc(r->check_out, want) : NULL;
    if (grown) r->check_out = grown;
    *buf = uv_buf_init(grown ? grown + r->check_len : NULL, grown ? 4096 : 0);
}

static void on_check_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    topo_rec_t *r = st->data;
    if (n > 0) {
        r->check_len += (size_t)n;
        r->check_out[r->check_len] = '\0';
        return;
    }
    if (n == 0) return;
    if (n != UV_EOF) check_kill(r); /* no room (UV_ENOBUFS) or an error: its answer is lost either way */
    uv_read_stop(st);
    r->check_eof = true;
    check_try_end(r);
}

/*
 * Starts the child that loads `r`'s plugins and resolves its topology, so that a plugin that crashes the loader
 * (SIGBUS on a file cut short while it is mapped, a constructor that aborts) takes down the child, not the daemon
 * and its other topologies. The connection waits for the reply; the slots are held meanwhile. 0, or a negative
 * code with nothing started (the caller still owns r).
 */
static int start_check(supd_t *d, gale_ctl_conn_t *c, topo_rec_t *r)
{
    dconn_t *x = c ? dconn(d, c) : NULL;
    if (c && !x) return GALE_ENOMEM;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC)) return -errno;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        close(fds[0]), close(fds[1]);
        return e;
    }
    if (pid == 0) {
        close(fds[0]);
        check_child(r->topo, r->model, fds[1]);
    }
    close(fds[1]);
    r->check_pid = pid;
    r->check_deadline_ms = uv_now(&d->loop) + CHECK_TIMEOUT_MS;
    uv_pipe_init(&d->loop, &r->check_pipe, 0);
    uv_timer_init(&d->loop, &r->check_timer);
    r->check_pipe.data = r->check_timer.data = r;
    r->check_handles = 2;
    if (uv_pipe_open(&r->check_pipe, fds[0]) ||
        uv_read_start((uv_stream_t *)&r->check_pipe, on_check_alloc, on_check_read)) {
        close(fds[0]);
        check_kill(r);
        r->check_eof = true;
    }
    uv_timer_start(&r->check_timer, on_check_tick, CHECK_POLL_MS, CHECK_POLL_MS);
    r->conn = c;
    if (x) x->checking = r;
    r->next = d->checks;
    d->checks = r;
    d->used_slots += r->n_slots;
    slots_changed(d);
    return 0;
}

void gale__supd_assign(supd_t *d, topo_rec_t *r)
{
    char why[600] = "";
    int rc = gale_confine_topology(&d->confine, r->topo, why, sizeof why);
    if (!rc && r->n_slots > d->o->slots - d->used_slots) {
        snprintf(why, sizeof why, "not enough free slots: %d asked, %d free of %d", r->n_slots,
                 d->o->slots - d->used_slots, d->o->slots);
        rc = GALE_ELIMIT;
    }
    if (!rc && (rc = start_check(d, NULL, r)))
        snprintf(why, sizeof why, "cannot check the plugins of %s: %s", r->id, gale_strerror(rc));
    if (!rc) return;
    gale_logf(GALE_LOG_WARN, "supervisor", "%s: assignment refused: %s", r->id, why);
    answer(r, why);
    gale__supd_free_rec(r);
}

void gale__supd_drop(supd_t *d, topo_rec_t *r)
{
    for (topo_rec_t **p = &d->topos; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    gale__supd_free_rec(r);
}

/* ---- commands ------------------------------------------------------------------------------------------------------ */

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", id[i])) return false;
    return true;
}

/* "0,2,5" into slots; false when malformed. */
static bool parse_slots(const char *text, int **slots, int *n)
{
    int cap = 1;
    for (const char *p = text; *p; p++) cap += *p == ',';
    *slots = calloc((size_t)cap, sizeof **slots);
    if (!*slots) return false;
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1 << 20 || (*end && *end != ',')) return false;
        (*slots)[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return *n > 0;
}

static void cmd_assign(supd_t *d, gale_ctl_conn_t *c, char **tok, int n)
{
    if (n < 3)
        return gale_ctl_sendf(
            c, "error usage: assign ID FILE workers=N [slots=I,J,..] [threads=T] [secret=HEX] [set=C.K=V]...");
    if (!valid_id(tok[1]))
        return gale_ctl_sendf(c, "error bad topology id '%s' (letters, digits, _ . -, under %d)", tok[1], ID_MAX);
    if (gale__supd_find_any(d, tok[1]))
        return gale_ctl_sendf(c, "error topology '%s' exists (forget it first if it has ended)", tok[1]);
    topo_rec_t *r = calloc(1, sizeof *r);
    if (!r || !(r->sets = calloc((size_t)n, sizeof *r->sets))) {
        free(r);
        return gale_ctl_sendf(c, "error out of memory");
    }
    r->d = d;
    snprintf(r->id, sizeof r->id, "%s", tok[1]);
    const char *bad = NULL;
    for (int i = 3; i < n && !bad; i++) {
        if (!strncmp(tok[i], "workers=", 8)) r->workers = atoi(tok[i] + 8);
        else if (!strncmp(tok[i], "threads=", 8)) r->threads = atoi(tok[i] + 8);
        else if (!strncmp(tok[i], "secret=", 7)) bad = !r->secret && (r->secret = strdup(tok[i] + 7)) ? NULL : tok[i];
        else if (!strncmp(tok[i], "slots=", 6)) bad = !r->slots && parse_slots(tok[i] + 6, &r->slots, &r->n_slots) ? NULL : tok[i];
        else if (!strncmp(tok[i], "set=", 4)) bad = (r->sets[r->n_sets++] = strdup(tok[i] + 4)) ? NULL : tok[i];
        else bad = tok[i];
    }
    if (bad) {
        gale_ctl_sendf(c, "error bad argument '%s'", bad);
        return gale__supd_free_rec(r);
    }
    if (r->workers < 1 || r->workers > MAX_WORKERS) {
        gale_ctl_sendf(c, "error workers=N must be from 1 to %d", MAX_WORKERS);
        return gale__supd_free_rec(r);
    }
    if (!r->slots && r->workers > d->o->slots - d->used_slots) {
        gale_ctl_sendf(c, "error not enough free slots: %d asked, %d free of %d", r->workers,
                       d->o->slots - d->used_slots, d->o->slots);
        return gale__supd_free_rec(r);
    }
    /* Outside the daemon's folders, the file is neither read nor described: what an error said of its contents
       ("FILE:LINE: syntax error") was enough to probe any file. */
    if (!gale_confine_path(&d->confine, tok[2], NULL)) {
        gale_ctl_sendf(c, "error %s: not allowed (outside the daemon's folder and its --allow-path folders)", tok[2]);
        return gale__supd_free_rec(r);
    }
    /* libconfig would block the daemon's loop on a FIFO or a device. */
    struct stat st;
    if (stat(tok[2], &st) != 0 || !S_ISREG(st.st_mode)) {
        gale_ctl_sendf(c, "error %s: not a regular file", tok[2]);
        return gale__supd_free_rec(r);
    }
    if (!r->slots) {
        r->n_slots = r->workers;
        r->slots = calloc((size_t)r->workers, sizeof *r->slots);
        for (int i = 0; r->slots && i < r->workers; i++) r->slots[i] = i;
    }
    if (!r->slots) {
        gale_ctl_sendf(c, "error out of memory");
        return gale__supd_free_rec(r);
    }
    if (r->n_slots > d->o->slots - d->used_slots) {
        gale_ctl_sendf(c, "error not enough free slots: %d asked, %d free of %d", r->n_slots,
                       d->o->slots - d->used_slots, d->o->slots);
        return gale__supd_free_rec(r);
    }
    /* Loading only reads the file (no plugin code runs); resolving, which loads the plugins, is the child's. */
    gale_override_t *ov = calloc(r->n_sets + 1, sizeof *ov);
    for (size_t i = 0; ov && i < r->n_sets; i++) ov[i].assignment = r->sets[i];
    gale_diag_t diag = {{0}};
    int rc = ov ? gale_topology_load(tok[2], ov, r->n_sets, &r->topo, &diag) : GALE_ENOMEM;
    free(ov);
    if (rc) {
        gale_ctl_sendf(c, "error %s", diag.msg[0] ? diag.msg : gale_strerror(rc));
        return gale__supd_free_rec(r);
    }
    char why[512];
    if (gale_confine_topology(&d->confine, r->topo, why, sizeof why)) {
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: assignment refused: %s", r->id, why);
        gale_ctl_sendf(c, "error %s", why);
        return gale__supd_free_rec(r);
    }
    rc = start_check(d, c, r);
    if (rc) {
        gale_ctl_sendf(c, "error cannot check the plugins of %s: %s", r->id, strerror(-rc));
        return gale__supd_free_rec(r);
    }
}

/* The check passed: starts the workers and answers the client. Takes r: it is on d->topos or freed. */
static void start_assigned(topo_rec_t *r)
{
    supd_t *d = r->d;
    char why[300];
    if (r->n_slots > d->o->slots - d->used_slots) {
        snprintf(why, sizeof why, "not enough free slots: %d asked, %d free of %d", r->n_slots,
                 d->o->slots - d->used_slots, d->o->slots);
        answer(r, why);
        return gale__supd_free_rec(r);
    }
    gale_assignment_t a = {.id = r->id,
                           .exe = d->o->exe,
                           .file = r->topo->file,
                           .host = d->o->host,
                           .tls = d->o->tls,
                           .workers = r->workers,
                           .threads = r->threads,
                           .cores = d->o->cores,
                           .secret = r->secret,
                           .sets = (const char *const *)r->sets,
                           .n_sets = r->n_sets,
                           .slots = r->slots,
                           .n_slots = r->n_slots,
                           .model = r->model,
                           .inactive = r->inactive,
                           .leased = r->cluster,
                           .lease_until_ns = r->cluster ? gale__supd_lease_for(d, r) : 0,
                           .placement = r->cluster && r->version > 0 ? (uint64_t)r->version : 0,
                           .resume_tasks = r->resume_tasks,
                           .resume_positions = r->resume_positions,
                           .n_resume = r->n_resume};
    /* Checkpoints with the slots on several hosts: the parts hear each other through ZooKeeper. */
    gale_sup_ckpt_link_t link;
    if (r->cluster && d->node && r->topo->config.checkpoint_interval_ms && r->n_slots < r->workers) {
        bool coord = false;
        for (int i = 0; i < r->n_slots; i++) coord = coord || r->slots[i] == 0;
        char text[256];
        if (gale_ckpt_link_open(d->node, r->id, coord, &r->ckpt_link, &link, text, sizeof text)) {
            snprintf(why, sizeof why, "cannot start %s: %.200s", r->id, text);
            answer(r, why);
            return gale__supd_free_rec(r);
        }
        a.ckpt_link = &link;
    }
    gale_sup_events_t ev = {.arg = r, .address = on_address, .restarting = on_restarting, .ended = on_ended};
    int rc = gale_sup_start(&d->loop, r->topo, &a, &ev, &r->sup);
    if (!rc && r->ckpt_link) gale_ckpt_link_attach(r->ckpt_link, r->sup);
    if (rc) {
        snprintf(why, sizeof why, "cannot start %s: %s", r->id,
                 rc == GALE_EINVAL ? "bad slots, secret or workers" : gale_strerror(rc));
        answer(r, why);
        return gale__supd_free_rec(r);
    }
    d->used_slots += r->n_slots;
    slots_changed(d);
    r->next = d->topos;
    d->topos = r;
    /* Part of the slots here: in cluster mode the others' addresses come from ZooKeeper (no `peers` needed). */
    if (d->node && r->n_slots < r->workers) gale_sup_node_follow(d->node, r->id, r->workers, on_zk_peers, r);
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: assigned %s, %d of %d slots", r->id, r->topo->file, r->n_slots,
              r->workers);
    answer(r, NULL);
    r->conn = NULL;
}

static topo_rec_t *running(supd_t *d, gale_ctl_conn_t *c, char **tok, int n, const char *usage)
{
    if (n < 2) {
        gale_ctl_sendf(c, "error usage: %s", usage);
        return NULL;
    }
    topo_rec_t *r = find(d, tok[1]);
    if (!r) gale_ctl_sendf(c, "error no topology '%s'", tok[1]);
    else if (!r->sup) gale_ctl_sendf(c, "error topology '%s' has ended", tok[1]);
    return r && r->sup ? r : NULL;
}

static void cmd_peers(supd_t *d, gale_ctl_conn_t *c, char **tok, int n)
{
    topo_rec_t *r = running(d, c, tok, n, "peers ID HOST:PORT...");
    if (!r) return;
    int rc = gale_sup_peers(r->sup, (const char *const *)tok + 2, n - 2);
    if (rc) return gale_ctl_sendf(c, "error peers: one HOST:PORT per slot of the topology, in slot order");
    gale_ctl_sendf(c, "ok");
}

static void cmd_kill(supd_t *d, gale_ctl_conn_t *c, char **tok, int n)
{
    topo_rec_t *r = running(d, c, tok, n, "kill ID [wait=S]");
    if (!r) return;
    double wait_s = KILL_WAIT_S;
    if (n > 2) {
        char *end;
        wait_s = strncmp(tok[2], "wait=", 5) ? -1 : strtod(tok[2] + 5, &end);
        if (!(wait_s >= 0 && wait_s <= KILL_WAIT_MAX_S) || *end) /* also NaN */
            return gale_ctl_sendf(c, "error bad argument '%s' (wait=SECONDS, at most %.0f)", tok[2], KILL_WAIT_MAX_S);
    }
    gale_sup_kill(r->sup, wait_s, "killed");
    gale_ctl_sendf(c, "ok killing %s", r->id);
}

static void cmd_activate(supd_t *d, gale_ctl_conn_t *c, char **tok, int n, bool active)
{
    topo_rec_t *r = running(d, c, tok, n, active ? "activate ID" : "deactivate ID");
    if (!r) return;
    if (r->cluster) /* nimbus's, through ZooKeeper: a change here would be undone by the next look at it */
        return gale_ctl_sendf(c, "error %s was placed by nimbus: use gale %s", r->id, tok[0]);
    r->inactive = !active;
    gale_sup_set_active(r->sup, active);
    gale_ctl_sendf(c, "ok %s %s", r->id, active ? "active" : "inactive");
}

static void on_swapped(void *arg, const char *why)
{
    swap_job_t *j = arg;
    if (j->x) {
        if (why) gale_ctl_sendf(j->x->conn, "error %s: %s not swapped: %s", j->id, j->component, why);
        else gale_ctl_sendf(j->x->conn, "ok swapped %s %s", j->id, j->component);
        j->x->swapping = NULL;
    }
    free(j);
}

/* swap ID COMPONENT PATH: bolt COMPONENT of topology ID reopened on the plugin at PATH, one worker at a time. */
static void cmd_swap(supd_t *d, gale_ctl_conn_t *c, char **tok, int n)
{
    topo_rec_t *r = running(d, c, tok, n, "swap ID COMPONENT PATH");
    if (!r) return;
    if (n != 4) return gale_ctl_sendf(c, "error usage: swap ID COMPONENT PATH");
    if (r->cluster) return gale_ctl_sendf(c, "error %s was placed by nimbus: use gale swap", r->id);
    char *path = realpath(tok[3], NULL);
    struct stat st;
    /* As for assign: outside the daemon's folders the file is not looked at, and only a regular file is. */
    if (!path || !gale_confine_path(&d->confine, path, NULL)) {
        free(path);
        return gale_ctl_sendf(c, "error %s: not allowed (outside the daemon's folder and its --allow-path folders)",
                              tok[3]);
    }
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(path);
        return gale_ctl_sendf(c, "error %s: not a regular file", tok[3]);
    }
    dconn_t *x = dconn(d, c);
    swap_job_t *j = x ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        free(path);
        return gale_ctl_sendf(c, "error out of memory");
    }
    j->x = x;
    snprintf(j->id, sizeof j->id, "%s", r->id);
    snprintf(j->component, sizeof j->component, "%s", tok[2]);
    x->swapping = j;
    int rc = gale_sup_swap(r->sup, tok[2], path, on_swapped, j);
    free(path);
    if (rc) {
        x->swapping = NULL;
        free(j);
        gale_ctl_sendf(c, "error %s: %s", r->id,
                       rc == GALE_EAGAIN ? "a swap is under way, or the topology is stopping" : gale_strerror(rc));
    }
}

static void cmd_status(supd_t *d, gale_ctl_conn_t *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return gale_ctl_sendf(c, "error out of memory");
    int count = 0;
    for (topo_rec_t *r = d->topos; r; r = r->next, count++) {
        fprintf(f, "topology %s state=%s status=%s active=%s slots=", r->id, r->sup ? "running" : "ended",
                r->failed ? "failed" : "ok", r->inactive ? "no" : "yes");
        for (int i = 0; i < r->n_slots; i++) fprintf(f, "%s%d", i ? "," : "", r->slots[i]);
        fputc('\n', f);
        if (r->sup) gale_sup_health(r->sup, f);
    }
    fclose(f);
    if (len && text[len - 1] == '\n') len--;
    if (len) gale_ctl_send(c, text, len);
    free(text);
    gale_ctl_sendf(c, "ok %d topologies", count);
}

static void cmd_stats(supd_t *d, gale_ctl_conn_t *c, char **tok, int n)
{
    topo_rec_t *r = n > 1 ? find(d, tok[1]) : NULL;
    if (!r) return gale_ctl_sendf(c, "error usage: stats ID (of a topology here)");
    if (r->sup) { /* running: the figures each worker last reported (every config.metrics_interval_s) */
        char *live = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&live, &len);
        int rc = f ? gale_sup_metrics_json(r->sup, false, f) : GALE_ENOMEM;
        if (f) fclose(f);
        if (rc || !live || !len)
            gale_ctl_sendf(c, "error topology '%s' has no figures yet: %s", r->id, gale_strerror(rc));
        else gale_ctl_send(c, live, live[len - 1] == '\n' ? len - 1 : len), gale_ctl_sendf(c, "ok");
        free(live);
        return;
    }
    if (!r->stats) return gale_ctl_sendf(c, "error topology '%s' has no metrics", r->id);
    gale_ctl_send(c, r->stats, strlen(r->stats));
    gale_ctl_sendf(c, "ok");
}

static void cmd_forget(supd_t *d, gale_ctl_conn_t *c, char **tok, int n)
{
    topo_rec_t *r = n > 1 ? find(d, tok[1]) : NULL;
    if (!r) return gale_ctl_sendf(c, "error usage: forget ID (of a topology here)");
    if (r->sup) return gale_ctl_sendf(c, "error topology '%s' is running: kill it first", r->id);
    gale__supd_drop(d, r);
    gale_ctl_sendf(c, "ok");
}

static void cmd_wait(supd_t *d, gale_ctl_conn_t *c, char **tok, int n)
{
    topo_rec_t *r = n > 1 ? find(d, tok[1]) : NULL;
    if (!r) return gale_ctl_sendf(c, "error usage: wait ID (of a topology here)");
    if (!r->sup) return gale_ctl_sendf(c, "ok ended %s status=%s", r->id, r->failed ? "failed" : "ok");
    dconn_t *x = dconn(d, c);
    if (!x) return gale_ctl_sendf(c, "error out of memory");
    snprintf(x->waiting, sizeof x->waiting, "%s", r->id);
}

/* An authenticated command line (ctl_server.h). */
static void handle_line(void *arg, gale_ctl_conn_t *c, char *line)
{
    supd_t *d = arg;
    const dconn_t *x = gale_ctl_user(c);
    if (x && x->waiting[0]) return gale_ctl_refuse(c, "a command came while waiting: one at a time");
    if (x && x->checking) return gale_ctl_refuse(c, "a command came while an assign was being checked: one at a time");
    if (x && x->swapping) return gale_ctl_refuse(c, "a command came while a swap was under way: one at a time");
    char *tok[MAX_TOKENS], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(line, " \r", &save); t && n < MAX_TOKENS; t = strtok_r(NULL, " \r", &save)) tok[n++] = t;
    if (n == 0) return;
    /* What changes this host is for nimbus (a node) and the admins; anyone may look (slots, status, stats, wait). */
    static const char *const looks[] = {"slots", "status", "stats", "wait", NULL};
    const char *role = gale_ctl_role(c);
    bool look = false;
    for (const char *const *v = looks; *v && !look; v++) look = !strcmp(*v, tok[0]);
    if (!look && strcmp(role, "admin") && strcmp(role, "node")) {
        char why[256];
        snprintf(why, sizeof why, "%s needs the admin or node role (%s has the role %s)", tok[0], gale_ctl_identity(c),
                 *role ? role : "none");
        return gale_ctl_deny(c, why);
    }
    if (!strcmp(tok[0], "slots")) gale_ctl_sendf(c, "ok slots=%d free=%d", d->o->slots, d->o->slots - d->used_slots);
    else if (!strcmp(tok[0], "assign")) cmd_assign(d, c, tok, n);
    else if (!strcmp(tok[0], "peers")) cmd_peers(d, c, tok, n);
    else if (!strcmp(tok[0], "kill")) cmd_kill(d, c, tok, n);
    else if (!strcmp(tok[0], "activate")) cmd_activate(d, c, tok, n, true);
    else if (!strcmp(tok[0], "deactivate")) cmd_activate(d, c, tok, n, false);
    else if (!strcmp(tok[0], "wait")) cmd_wait(d, c, tok, n);
    else if (!strcmp(tok[0], "status")) cmd_status(d, c);
    else if (!strcmp(tok[0], "stats")) cmd_stats(d, c, tok, n);
    else if (!strcmp(tok[0], "forget")) cmd_forget(d, c, tok, n);
    else if (!strcmp(tok[0], "swap")) cmd_swap(d, c, tok, n);
    else
        gale_ctl_sendf(c,
                       "error unknown command '%s' (slots, assign, peers, kill, activate, deactivate, wait, status, "
                       "stats, forget)",
                       tok[0]);
}

/* ---- the daemon ---------------------------------------------------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int sig)
{
    supd_t *d = h->data;
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    if (d->signals++ == 0) gale_logf(GALE_LOG_INFO, "supervisor", "%s: killing every topology", name);
    for (topo_rec_t *r = d->topos; r; r = r->next)
        if (r->sup) r->killing = true, gale_sup_kill(r->sup, SIGNAL_WAIT_S, name);
    for (topo_rec_t *r = d->checks; r; r = r->next) check_kill(r); /* it refuses the assignment once reaped */
    if (d->signals == 1 && !any_running(d)) shut_down(d);
}

/* What a start that failed half-way leaves: closed, with the loop run to let the handles go. */
static int end_start(supd_t *d, int rc)
{
    gale_ctl_server_close(d->server);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
    gale_confine_free(&d->confine);
    gale_audit_close(d->audit);
    return rc;
}

int gale_daemon_run(const gale_daemon_opts_t *o)
{
    supd_t d = {.o = o};
    const char *host = o->host ? o->host : "127.0.0.1";
    int rc = gale_confine_init(&d.confine, o->allow, o->n_allow);
    if (rc) {
        gale_confine_free(&d.confine);
        return rc;
    }
    if (uv_loop_init(&d.loop)) {
        gale_confine_free(&d.confine);
        return GALE_ENOMEM;
    }
    d.data_dir = o->data_dir ? o->data_dir : "gale-data";
    static const char *const audited[] = {"assign", "kill", "activate", "deactivate", "swap", "forget", NULL};
    gale_ctl_server_opts_t so = {.banner = "gale-supervisor 1",
                                 .who = "supervisor",
                                 .secret = o->secret,
                                 .secret_len = o->secret_len,
                                 .arg = &d,
                                 .line = handle_line,
                                 .closed = on_conn_closed,
                                 .audited = audited,
                                 .tls = o->tls_ctx};
    int port = 0;
    if ((rc = gale_ctl_server_listen(&d.loop, host, o->port, &so, &d.server, &port))) return end_start(&d, rc);
    /* The audit log: its own file per daemon (they may share a data folder), named by the port it got. */
    char audit_path[4200] = "", by[128];
    if (o->audit_log) snprintf(audit_path, sizeof audit_path, "%s", o->audit_log);
    else if (o->zk_hosts)
        snprintf(audit_path, sizeof audit_path, "%s/supervisor-%s-%d-audit.log", d.data_dir, host, port);
    snprintf(by, sizeof by, "supervisor %s:%d", host, port);
    gale_diag_t ad = {{0}};
    if (o->zk_hosts && !o->audit_log && (rc = gale_blobs_init(d.data_dir))) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: cannot make the data folder: %s", d.data_dir, gale_strerror(rc));
        return end_start(&d, rc);
    }
    if (audit_path[0] && (rc = gale_audit_open(audit_path, by, &d.audit, &ad))) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s", ad.msg);
        return end_start(&d, rc);
    }
    gale_ctl_server_set_audit(d.server, d.audit);
    if (o->zk_hosts && (rc = gale_blobs_init(d.data_dir))) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: cannot make the data folder: %s", d.data_dir, gale_strerror(rc));
        return end_start(&d, rc);
    }
    if (o->zk_hosts && (rc = gale_confine_add(&d.confine, d.data_dir))) return end_start(&d, rc);
    if (o->zk_hosts) { /* cluster mode: nimbus finds this host through its node */
        gale_sup_node_opts_t no = {.zk_hosts = o->zk_hosts,
                                   .root = o->zk_root,
                                   .session_timeout_ms = o->zk_session_ms,
                                   .secret = o->secret,
                                   .secret_len = o->secret_len,
                                   .host = host,
                                   .port = port,
                                   .slots = o->slots,
                                   .version = o->version};
        char why[512] = "";
        if ((rc = gale_sup_node_start(&d.loop, &no, &d.node, why, sizeof why))) {
            gale_logf(GALE_LOG_ERROR, "supervisor", "%s", why);
            return end_start(&d, rc);
        }
        gale__supd_cluster_start(&d);
    }
    /* The handlers come before the line: whoever reads "listening" may send a SIGTERM at once, and it must stop
       this daemon cleanly (exit 0), not kill it. */
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    printf("listening %s:%d\n", host, port);
    fflush(stdout);
    gale_logf(GALE_LOG_INFO, "supervisor", "listening on %s:%d with %d slots, %s%s, workers %s%s", host, port, o->slots,
              audit_path[0] ? "audit log " : "no audit log (--audit-log FILE keeps one)", audit_path,
              o->tls ? "over TLS as " : "in clear", o->tls ? o->tls : "");
    if (o->zk_hosts && !o->tls)
        gale_logf(GALE_LOG_WARN, "supervisor",
                  "TLS is off: the workers of this cluster send tuples to other hosts in clear (--tls DIR/NAME, made "
                  "with gale certs, turns it on)");
    char started[128];
    snprintf(started, sizeof started, "listening on %s:%d with %d slots", host, port, o->slots);
    gale__supd_audit(&d, "local", NULL, "start", NULL, "ok", started);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    gale__supd_audit(&d, "local", NULL, "stop", NULL, "ok", NULL);
    while (d.topos) {
        topo_rec_t *r = d.topos;
        d.topos = r->next;
        gale__supd_free_rec(r);
    }
    gale__supd_cluster_free(&d);
    if (uv_loop_close(&d.loop)) gale_logf(GALE_LOG_WARN, "supervisor", "a handle was left open at exit");
    gale_confine_free(&d.confine);
    gale_audit_close(d.audit);
    return 0;
}

void gale__supd_audit(supd_t *d, const char *source, const char *identity, const char *action, const char *target,
                      const char *result, const char *detail)
{
    if (!d->audit) return;
    gale_audit_event_t e = {
        .identity = identity, .source = source, .action = action, .target = target, .result = result, .detail = detail};
    int rc = gale_audit_append(d->audit, &e);
    if (rc) gale_logf(GALE_LOG_ERROR, "supervisor", "the audit log cannot be written: %s", gale_strerror(rc));
}
