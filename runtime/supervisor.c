#include "supervisor.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "hmac.h"
#include "lines.h"
#include "log.h"
#include "supervisor_stats.h"

#define TICK_MS 5
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define LOST_IN_FLIGHT_TICKS 100 /* idle and unchanged this long: what a dead worker had in flight is gone */
#define STOP_TIMEOUT_MS 10000
#define ADDR_MAX 80

typedef struct status {
    int idle, failed, finish_acked;
    uint64_t epochs, pushed, popped, open, retrying, kept, sent, recv;
    unsigned spouts_done, spout_tasks, finish_seq;
} status_t;

typedef struct sworker {
    gale_sup_t *sup;
    int index; /* the slot: the worker's index in the whole topology */
    uv_process_t proc;
    uv_pipe_t pipe;
    uv_timer_t restart;
    bool running, started, have_status;
    char line[16384];
    gale_lines_t lines;
    int port;
    status_t st;
    char *stats;
    unsigned backoff_ms;
    int restarts;
    int64_t exit_status;
    int term_signal;
} sworker_t;

typedef enum { S_RUNNING, S_DRAINING, S_FINISHING, S_STOPPING, S_ENDED } sstate_t;

struct gale_sup {
    const gale_topology_t *topo;
    gale_sup_events_t ev;
    uv_loop_t *loop;
    uv_timer_t tick;
    char *id, *exe, *file, *host, **sets;
    size_t n_sets;
    int threads;
    sworker_t *w; /* the local slots */
    int n_local;
    int n;        /* slots of the whole topology */
    bool complete; /* every slot is here: this supervisor judges the end of the topology */
    char (*addr)[ADDR_MAX]; /* every slot's address; "" while unknown */
    bool have_peers;
    int open_handles;
    char secret[2 * GALE_NONCE_LEN + 1];
    sstate_t state;
    size_t finish_pos;
    unsigned finish_target; /* the finish_seq each worker must reach */
    status_t prev;
    int unchanged_ticks;
    uint64_t deadline_ms;
    int kills;
    bool failed;
};

static void spawn(sworker_t *w);

/* ---- talking to workers ---------------------------------------------------------------------------------------- */

static void on_sent(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void say(sworker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(sworker_t *w, const char *fmt, ...)
{
    if (!w->running) return;
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof msg - 1) return;
    msg[n++] = '\n';
    uv_write_t *req = malloc(sizeof *req + (size_t)n);
    if (!req) return;
    char *copy = (char *)(req + 1);
    memcpy(copy, msg, (size_t)n);
    uv_buf_t buf = uv_buf_init(copy, (unsigned)n);
    if (uv_write(req, (uv_stream_t *)&w->pipe, &buf, 1, on_sent)) free(req);
}

static void broadcast(gale_sup_t *s, const char *cmd)
{
    for (int i = 0; i < s->n_local; i++) say(&s->w[i], "%s", cmd);
}

static void send_peers(gale_sup_t *s)
{
    char line[8192] = "peers";
    for (int i = 0; i < s->n; i++) snprintf(line + strlen(line), sizeof line - strlen(line), " %s", s->addr[i]);
    broadcast(s, line);
}

/* Every local worker has a port and every remote address is known: tell them all, and start those not started (a
   restarted one joins what is running). */
static void maybe_start(gale_sup_t *s)
{
    for (int i = 0; i < s->n_local; i++)
        if (!s->w[i].running || !s->w[i].port) return;
    if (!s->complete && !s->have_peers) return;
    send_peers(s);
    for (int i = 0; i < s->n_local; i++) {
        sworker_t *w = &s->w[i];
        if (w->started) continue;
        w->started = true;
        say(w, "start");
        if (s->state != S_RUNNING) say(w, "deactivate");
    }
}

static void handle_line(void *arg, char *line)
{
    sworker_t *w = arg;
    gale_sup_t *s = w->sup;
    if (!strncmp(line, "port ", 5)) {
        w->port = atoi(line + 5);
        snprintf(s->addr[w->index], ADDR_MAX, "%s:%d", s->host, w->port);
        if (s->ev.address) s->ev.address(s->ev.arg, s, w->index, s->addr[w->index]);
        maybe_start(s);
    } else if (!strncmp(line, "status ", 7)) {
        status_t *t = &w->st;
        int n = sscanf(line + 7, "%d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %u %u %" SCNu64
                                 " %" SCNu64 " %d %u %d",
                       &t->idle, &t->epochs, &t->pushed, &t->popped, &t->open, &t->retrying, &t->kept,
                       &t->spouts_done, &t->spout_tasks, &t->sent, &t->recv, &t->failed, &t->finish_seq,
                       &t->finish_acked);
        w->have_status = n == 14;
    } else if (!strncmp(line, "stats ", 6)) {
        free(w->stats);
        w->stats = strdup(line + 6);
    }
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    sworker_t *w = h->data;
    buf->base = gale_lines_space(&w->lines, &buf->len);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    sworker_t *w = st->data;
    if (n < 0) {
        uv_read_stop(st);
        return;
    }
    gale_lines_took(&w->lines, (size_t)n, handle_line, w);
}

/* ---- processes ------------------------------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    gale_sup_t *s = h->data;
    if (--s->open_handles == 0 && s->state == S_ENDED && s->ev.ended) s->ev.ended(s->ev.arg, s);
}

static void close_handle(gale_sup_t *s, uv_handle_t *h)
{
    h->data = s;
    uv_close(h, on_handle_closed);
}

static void on_restart(uv_timer_t *h) { spawn(h->data); }

static void on_worker_exit(uv_process_t *p, int64_t status, int signal)
{
    sworker_t *w = p->data;
    gale_sup_t *s = w->sup;
    w->running = false;
    w->started = false;
    w->have_status = false;
    w->port = 0;
    w->exit_status = status;
    w->term_signal = signal;
    close_handle(s, (uv_handle_t *)&w->proc);
    close_handle(s, (uv_handle_t *)&w->pipe);
    if (s->state == S_STOPPING) {
        if (status || signal) {
            s->failed = true;
            gale_logf(GALE_LOG_ERROR, "supervisor", "%s: worker %d ended with %s %d", s->id, w->index,
                      signal ? "signal" : "status", signal ? signal : (int)status);
        }
        return;
    }
    w->restarts++;
    if (signal) gale_logf(GALE_LOG_WARN, "supervisor", "%s: worker %d was killed by signal %d: restarting it in %u ms",
                          s->id, w->index, signal, w->backoff_ms);
    else gale_logf(GALE_LOG_WARN, "supervisor", "%s: worker %d exited with status %" PRId64 ": restarting it in %u ms",
                   s->id, w->index, status, w->backoff_ms);
    if (s->ev.restarting) s->ev.restarting(s->ev.arg, s, w->index, signal, status, w->backoff_ms);
    uv_timer_start(&w->restart, on_restart, w->backoff_ms, 0);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static void spawn(sworker_t *w)
{
    gale_sup_t *s = w->sup;
    char index[16], workers[16], threads[16];
    snprintf(index, sizeof index, "%d", w->index);
    snprintf(workers, sizeof workers, "%d", s->n);
    snprintf(threads, sizeof threads, "%d", s->threads);
    const char **argv = calloc(14 + 2 * s->n_sets, sizeof *argv);
    if (!argv) {
        s->failed = true;
        return;
    }
    size_t a = 0;
    argv[a++] = s->exe;
    argv[a++] = "worker";
    argv[a++] = "--index";
    argv[a++] = index;
    argv[a++] = "--workers";
    argv[a++] = workers;
    argv[a++] = "--listen";
    argv[a++] = s->host;
    if (s->threads > 0) {
        argv[a++] = "--threads";
        argv[a++] = threads;
    }
    for (size_t i = 0; i < s->n_sets; i++) {
        argv[a++] = "--set";
        argv[a++] = s->sets[i];
    }
    argv[a++] = s->file;
    argv[a] = NULL;
    uv_pipe_init(s->loop, &w->pipe, 0);
    w->pipe.data = w;
    uv_stdio_container_t stdio[4] = {
        {.flags = UV_INHERIT_FD, .data.fd = 0},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&w->pipe},
    };
    /* Their own session: a Ctrl-C in the terminal reaches the supervisor, which stops the workers in order. */
    uv_process_options_t po = {.exit_cb = on_worker_exit, .file = s->exe, .args = (char **)argv, .stdio = stdio,
                               .stdio_count = 4, .flags = UV_PROCESS_DETACHED};
    w->proc.data = w;
    int rc = uv_spawn(s->loop, &w->proc, &po);
    free(argv);
    s->open_handles += 2;
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: cannot start worker %d: %s", s->id, w->index, uv_strerror(rc));
        close_handle(s, (uv_handle_t *)&w->proc);
        close_handle(s, (uv_handle_t *)&w->pipe);
        s->failed = true;
        return;
    }
    w->running = true;
    w->lines = (gale_lines_t){.buf = w->line, .cap = sizeof w->line};
    uv_read_start((uv_stream_t *)&w->pipe, on_alloc, on_read);
    say(w, "secret %s", s->secret); /* first, before anything: the worker reads it before it listens */
}

/* ---- the lifecycle ---------------------------------------------------------------------------------------------- */

static bool all_running(const gale_sup_t *s)
{
    for (int i = 0; i < s->n_local; i++)
        if (!s->w[i].running || !s->w[i].started || !s->w[i].have_status) return false;
    return true;
}

static status_t total(const gale_sup_t *s)
{
    status_t t = {.idle = 1};
    for (int i = 0; i < s->n_local; i++) {
        const status_t *w = &s->w[i].st;
        t.idle &= w->idle && w->pushed == w->popped;
        t.failed |= w->failed;
        t.epochs += w->epochs, t.open += w->open, t.retrying += w->retrying, t.kept += w->kept;
        t.sent += w->sent, t.recv += w->recv;
        t.spouts_done += w->spouts_done, t.spout_tasks += w->spout_tasks;
    }
    return t;
}

/* The rule of local mode (runtime.c), over the workers: all idle, nothing on the wire, nothing changed since the
   last tick, and the trees settled or held by bolts. What a dead worker had in flight never arrives: after a long
   enough quiet, it counts as gone. Only a supervisor that has every slot can tell. */
static bool quiescent(gale_sup_t *s)
{
    if (!s->complete || !all_running(s)) return false;
    status_t now = total(s);
    bool same = now.epochs == s->prev.epochs && now.sent == s->prev.sent && now.recv == s->prev.recv;
    s->unchanged_ticks = now.idle && same ? s->unchanged_ticks + 1 : 0;
    s->prev = now;
    bool trees = now.retrying == 0 && (now.open == 0 || now.kept > 0);
    bool wire = now.sent == now.recv || s->unchanged_ticks > LOST_IN_FLIGHT_TICKS;
    return now.idle && same && s->unchanged_ticks >= 2 && trees && wire;
}

static void stop_all(gale_sup_t *s)
{
    s->state = S_STOPPING;
    s->deadline_ms = uv_now(s->loop) + STOP_TIMEOUT_MS;
    for (int i = 0; i < s->n_local; i++) uv_timer_stop(&s->w[i].restart); /* one waiting to restart stays down */
    broadcast(s, "stop");
}

static void finish_next(gale_sup_t *s)
{
    const gale_topology_t *t = s->topo;
    while (s->finish_pos < t->n_components && t->components[t->order[s->finish_pos]].kind != GALE_BOLT) s->finish_pos++;
    if (s->finish_pos >= t->n_components) {
        stop_all(s);
        return;
    }
    char cmd[32];
    snprintf(cmd, sizeof cmd, "finish %d", t->order[s->finish_pos++]);
    s->state = S_FINISHING;
    s->finish_target++;
    s->unchanged_ticks = 0;
    broadcast(s, cmd);
}

static bool finished_everywhere(const gale_sup_t *s)
{
    for (int i = 0; i < s->n_local; i++)
        if (s->w[i].st.finish_seq != s->finish_target || !s->w[i].st.finish_acked) return false;
    return true;
}

static void begin_drain(gale_sup_t *s, bool deactivate, double wait_s)
{
    s->state = S_DRAINING;
    s->deadline_ms = wait_s >= 0 ? uv_now(s->loop) + (uint64_t)(wait_s * 1000) : UINT64_MAX;
    s->unchanged_ticks = 0;
    if (deactivate) broadcast(s, "deactivate");
}

static bool all_exited(const gale_sup_t *s)
{
    for (int i = 0; i < s->n_local; i++)
        if (s->w[i].running) return false;
    return true;
}

static void end(gale_sup_t *s)
{
    s->state = S_ENDED;
    close_handle(s, (uv_handle_t *)&s->tick);
    for (int i = 0; i < s->n_local; i++) close_handle(s, (uv_handle_t *)&s->w[i].restart);
}

static void on_tick(uv_timer_t *h)
{
    gale_sup_t *s = h->data;
    status_t now = total(s);
    if (now.failed && s->state != S_STOPPING) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: a worker failed to open its tasks: stopping", s->id);
        s->failed = true;
        stop_all(s);
    }
    switch (s->state) {
    case S_RUNNING:
        if (s->complete && all_running(s) && now.spout_tasks > 0 && now.spouts_done == now.spout_tasks)
            begin_drain(s, false, -1);
        break;
    case S_DRAINING:
    case S_FINISHING:
        if (uv_now(s->loop) > s->deadline_ms) {
            if (s->complete) gale_logf(GALE_LOG_WARN, "supervisor", "%s: tuples still in flight after the drain timeout: stopping now", s->id);
            stop_all(s);
            break;
        }
        if (s->state == S_FINISHING && !finished_everywhere(s)) break;
        if (quiescent(s)) finish_next(s);
        break;
    case S_STOPPING:
        if (all_exited(s)) {
            end(s);
            return;
        }
        if (uv_now(s->loop) > s->deadline_ms) {
            if (s->deadline_ms) gale_logf(GALE_LOG_WARN, "supervisor", "%s: workers still running %u ms after stop: killing them", s->id, STOP_TIMEOUT_MS);
            s->deadline_ms = 0; /* said once; kill on every tick until they are gone */
            for (int i = 0; i < s->n_local; i++)
                if (s->w[i].running) uv_process_kill(&s->w[i].proc, SIGKILL);
        }
        break;
    case S_ENDED:
        break;
    }
}

void gale_sup_kill(gale_sup_t *s, double wait_s, const char *why)
{
    if (s->state == S_STOPPING || s->state == S_ENDED) return;
    if (++s->kills > 1) {
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: %s again: stopping without draining", s->id, why);
        stop_all(s);
        return;
    }
    if (s->state != S_RUNNING) { /* already draining on its own: only bound it */
        uint64_t deadline = uv_now(s->loop) + (uint64_t)(wait_s * 1000);
        if (deadline < s->deadline_ms) s->deadline_ms = deadline;
        return;
    }
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: %s: deactivating spouts and draining for up to %.0f s", s->id, why, wait_s);
    begin_drain(s, true, wait_s);
}

/* ---- the assignment --------------------------------------------------------------------------------------------- */

static int check_assignment(const gale_assignment_t *a)
{
    if (a->workers < 2 || a->n_slots < 0 || a->n_slots > a->workers || (a->slots && a->n_slots == 0)) return GALE_EINVAL;
    for (int i = 0; a->slots && i < a->n_slots; i++) {
        if (a->slots[i] < 0 || a->slots[i] >= a->workers) return GALE_EINVAL;
        for (int j = 0; j < i; j++)
            if (a->slots[j] == a->slots[i]) return GALE_EINVAL;
    }
    if (a->secret && (strlen(a->secret) < 16 || strlen(a->secret) > 2 * GALE_NONCE_LEN)) return GALE_EINVAL;
    if (a->host && strlen(a->host) > ADDR_MAX - 8) return GALE_EINVAL;
    return 0;
}

/* Unless told otherwise, the workers of one host share its cores: one executor thread per core each would put
   several busy threads on every core, and the time they spend polling for work is taken from the one that has it. */
static int share_cores(int workers_here)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cores > 0 && workers_here > 0 ? cores / workers_here : 1;
    return n < 1 ? 1 : (int)n;
}

int gale_sup_start(uv_loop_t *loop, const gale_topology_t *topo, const gale_assignment_t *a,
                   const gale_sup_events_t *ev, gale_sup_t **out)
{
    int rc = check_assignment(a);
    if (rc) return rc;
    gale_sup_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->topo = topo;
    s->loop = loop;
    if (ev) s->ev = *ev;
    s->n = a->workers;
    s->n_local = a->slots ? a->n_slots : a->workers;
    s->complete = s->n_local == s->n;
    s->threads = a->threads > 0 ? a->threads : topo->config.threads > 0 ? 0 : share_cores(s->n_local);
    s->id = strdup(a->id ? a->id : topo->name);
    s->exe = strdup(a->exe);
    s->file = strdup(a->file);
    s->host = strdup(a->host ? a->host : "127.0.0.1");
    s->w = calloc((size_t)s->n_local, sizeof *s->w);
    s->addr = calloc((size_t)s->n, sizeof *s->addr);
    s->sets = calloc(a->n_sets + 1, sizeof *s->sets);
    bool ok = s->id && s->exe && s->file && s->host && s->w && s->addr && s->sets;
    for (size_t i = 0; ok && i < a->n_sets; i++) ok = (s->sets[s->n_sets++] = strdup(a->sets[i])) != NULL;
    if (ok && a->secret) {
        snprintf(s->secret, sizeof s->secret, "%s", a->secret);
    } else if (ok) {
        unsigned char raw[GALE_NONCE_LEN];
        ok = gale_auth_nonce(raw) == 0;
        if (ok) gale_hex_encode(raw, GALE_NONCE_LEN, s->secret);
    }
    if (!ok) {
        gale_sup_free(s);
        return GALE_ENOMEM;
    }
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    s->open_handles = 1 + s->n_local;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    for (int i = 0; i < s->n_local; i++) {
        sworker_t *w = &s->w[i];
        w->sup = s;
        w->index = a->slots ? a->slots[i] : i;
        w->backoff_ms = BACKOFF_MIN_MS;
        uv_timer_init(loop, &w->restart);
        w->restart.data = w;
    }
    for (int i = 0; i < s->n_local; i++) spawn(&s->w[i]);
    *out = s;
    return 0;
}

int gale_sup_peers(gale_sup_t *s, const char *const *addrs, int n)
{
    if (n != s->n) return GALE_EINVAL;
    for (int i = 0; i < n; i++)
        if (!addrs[i] || strlen(addrs[i]) >= ADDR_MAX || !strchr(addrs[i], ':') || strchr(addrs[i], ' '))
            return GALE_EINVAL;
    for (int i = 0; i < n; i++) {
        bool local = false;
        for (int k = 0; k < s->n_local; k++) local |= s->w[k].index == i;
        if (!local) snprintf(s->addr[i], ADDR_MAX, "%s", addrs[i]);
    }
    s->have_peers = true;
    maybe_start(s);
    return 0;
}

const char *gale_sup_id(const gale_sup_t *s) { return s->id; }
bool gale_sup_failed(const gale_sup_t *s) { return s->failed; }

void gale_sup_health(const gale_sup_t *s, FILE *out)
{
    for (int i = 0; i < s->n_local; i++) {
        const sworker_t *w = &s->w[i];
        const char *state = s->state == S_ENDED || (!w->running && s->state == S_STOPPING) ? "stopped"
                            : !w->running                                               ? "restarting"
                            : w->started                                                ? "running"
                                                                                        : "starting";
        char last[32] = "none";
        if (w->term_signal) snprintf(last, sizeof last, "signal:%d", w->term_signal);
        else if (w->restarts || w->exit_status) snprintf(last, sizeof last, "status:%" PRId64, w->exit_status);
        fprintf(out, "worker %s %d state=%s pid=%d addr=%s restarts=%d last_exit=%s\n", s->id, w->index, state,
                w->running ? w->proc.pid : 0, w->port ? s->addr[w->index] : "-", w->restarts, last);
    }
}

static const char **local_stats(const gale_sup_t *s)
{
    const char **stats = calloc((size_t)s->n_local + 1, sizeof *stats);
    for (int i = 0; stats && i < s->n_local; i++) stats[i] = s->w[i].stats;
    return stats;
}

void gale_sup_report(const gale_sup_t *s, FILE *out)
{
    const char **stats = local_stats(s);
    int restarts = 0;
    for (int i = 0; i < s->n_local; i++) restarts += s->w[i].restarts;
    if (stats) gale_stats_merged_report(s->topo, stats, s->n_local, restarts, out);
    free(stats);
}

int gale_sup_stats_json(const gale_sup_t *s, FILE *out)
{
    const char **stats = local_stats(s);
    int rc = stats ? gale_stats_merged_json(s->topo, stats, s->n_local, out) : GALE_ENOMEM;
    free(stats);
    return rc;
}

void gale_sup_free(gale_sup_t *s)
{
    if (!s) return;
    for (int i = 0; s->w && i < s->n_local; i++) free(s->w[i].stats);
    for (size_t i = 0; s->sets && i < s->n_sets; i++) free(s->sets[i]);
    free(s->sets), free(s->w), free(s->addr);
    free(s->id), free(s->exe), free(s->file), free(s->host);
    free(s);
}
