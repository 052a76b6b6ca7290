#include "supervisor.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "hmac.h"
#include "lines.h"
#include "log.h"

#define TICK_MS 5
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define LOST_IN_FLIGHT_TICKS 100 /* idle and unchanged this long: what a dead worker had in flight is gone */
#define DRAIN_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000

typedef struct status {
    int idle, failed, finish_acked;
    uint64_t epochs, pushed, popped, open, retrying, kept, sent, recv;
    unsigned spouts_done, spout_tasks, finish_seq;
} status_t;

typedef struct sup sup_t;

typedef struct sworker {
    sup_t *sup;
    int index;
    uv_process_t proc;
    uv_pipe_t pipe;
    uv_timer_t restart;
    bool running, started, have_status;
    int open_handles;
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

typedef enum { S_RUNNING, S_DRAINING, S_FINISHING, S_STOPPING } sstate_t;

struct sup {
    const gale_topology_t *topo;
    const gale_supervise_opts_t *o;
    uv_loop_t loop;
    uv_timer_t tick, duration;
    uv_signal_t sigint, sigterm;
    sworker_t *w;
    int n;
    char secret[2 * GALE_NONCE_LEN + 1];
    sstate_t state;
    size_t finish_pos;
    unsigned finish_target; /* the finish_seq each worker must reach */
    status_t prev;
    int unchanged_ticks;
    uint64_t deadline_ms;
    int signals;
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
    char msg[4096];
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

static void broadcast(sup_t *s, const char *cmd)
{
    for (int i = 0; i < s->n; i++) say(&s->w[i], "%s", cmd);
}

static void send_peers(sup_t *s)
{
    char line[2048] = "peers";
    for (int i = 0; i < s->n; i++) snprintf(line + strlen(line), sizeof line - strlen(line), " %d", s->w[i].port);
    broadcast(s, line);
}

/* Every worker has a port: tell them all, and start those not started (a restarted one joins what is running). */
static void maybe_start(sup_t *s)
{
    for (int i = 0; i < s->n; i++)
        if (!s->w[i].running || !s->w[i].port) return;
    send_peers(s);
    for (int i = 0; i < s->n; i++) {
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
    sup_t *s = w->sup;
    if (!strncmp(line, "port ", 5)) {
        w->port = atoi(line + 5);
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
    sworker_t *w = h->data;
    w->open_handles--;
}

static void on_restart(uv_timer_t *h) { spawn(h->data); }

static void on_worker_exit(uv_process_t *p, int64_t status, int signal)
{
    sworker_t *w = p->data;
    sup_t *s = w->sup;
    w->running = false;
    w->started = false;
    w->have_status = false;
    w->port = 0;
    w->exit_status = status;
    w->term_signal = signal;
    uv_close((uv_handle_t *)&w->proc, on_handle_closed);
    uv_close((uv_handle_t *)&w->pipe, on_handle_closed);
    if (s->state == S_STOPPING) {
        if (status || signal) {
            s->failed = true;
            gale_logf(GALE_LOG_ERROR, "supervisor", "worker %d ended with %s %d", w->index,
                      signal ? "signal" : "status", signal ? signal : (int)status);
        }
        return;
    }
    w->restarts++;
    if (signal) gale_logf(GALE_LOG_WARN, "supervisor", "worker %d was killed by signal %d: restarting it in %u ms",
                          w->index, signal, w->backoff_ms);
    else gale_logf(GALE_LOG_WARN, "supervisor", "worker %d exited with status %" PRId64 ": restarting it in %u ms",
                   w->index, status, w->backoff_ms);
    uv_timer_start(&w->restart, on_restart, w->backoff_ms, 0);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static void spawn(sworker_t *w)
{
    sup_t *s = w->sup;
    const gale_supervise_opts_t *o = s->o;
    char index[16], workers[16], threads[16];
    snprintf(index, sizeof index, "%d", w->index);
    snprintf(workers, sizeof workers, "%d", s->n);
    snprintf(threads, sizeof threads, "%d", o->threads);
    const char **argv = calloc(12 + 2 * o->n_sets, sizeof *argv);
    size_t a = 0;
    argv[a++] = o->exe;
    argv[a++] = "worker";
    argv[a++] = "--index";
    argv[a++] = index;
    argv[a++] = "--workers";
    argv[a++] = workers;
    if (o->threads > 0) {
        argv[a++] = "--threads";
        argv[a++] = threads;
    }
    for (size_t i = 0; i < o->n_sets; i++) {
        argv[a++] = "--set";
        argv[a++] = o->sets[i];
    }
    argv[a++] = o->file;
    argv[a] = NULL;
    uv_pipe_init(&s->loop, &w->pipe, 0);
    w->pipe.data = w;
    uv_stdio_container_t stdio[4] = {
        {.flags = UV_INHERIT_FD, .data.fd = 0},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&w->pipe},
    };
    /* Their own session: a Ctrl-C in the terminal reaches the supervisor, which stops the workers in order. */
    uv_process_options_t po = {.exit_cb = on_worker_exit, .file = o->exe, .args = (char **)argv, .stdio = stdio,
                               .stdio_count = 4, .flags = UV_PROCESS_DETACHED};
    w->proc.data = w;
    int rc = uv_spawn(&s->loop, &w->proc, &po);
    free(argv);
    w->open_handles += 2;
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "cannot start worker %d: %s", w->index, uv_strerror(rc));
        uv_close((uv_handle_t *)&w->proc, on_handle_closed);
        uv_close((uv_handle_t *)&w->pipe, on_handle_closed);
        s->failed = true;
        return;
    }
    w->running = true;
    w->lines = (gale_lines_t){.buf = w->line, .cap = sizeof w->line};
    uv_read_start((uv_stream_t *)&w->pipe, on_alloc, on_read);
    say(w, "secret %s", s->secret); /* first, before anything: the worker reads it before it listens */
}

/* ---- the lifecycle ---------------------------------------------------------------------------------------------- */

static bool all_running(const sup_t *s)
{
    for (int i = 0; i < s->n; i++)
        if (!s->w[i].running || !s->w[i].started || !s->w[i].have_status) return false;
    return true;
}

static status_t total(const sup_t *s)
{
    status_t t = {.idle = 1};
    for (int i = 0; i < s->n; i++) {
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
   enough quiet, it counts as gone. */
static bool quiescent(sup_t *s)
{
    if (!all_running(s)) return false;
    status_t now = total(s);
    bool same = now.epochs == s->prev.epochs && now.sent == s->prev.sent && now.recv == s->prev.recv;
    s->unchanged_ticks = now.idle && same ? s->unchanged_ticks + 1 : 0;
    s->prev = now;
    bool trees = now.retrying == 0 && (now.open == 0 || now.kept > 0);
    bool wire = now.sent == now.recv || s->unchanged_ticks > LOST_IN_FLIGHT_TICKS;
    return now.idle && same && s->unchanged_ticks >= 2 && trees && wire;
}

static void stop_all(sup_t *s)
{
    s->state = S_STOPPING;
    s->deadline_ms = uv_now(&s->loop) + STOP_TIMEOUT_MS;
    broadcast(s, "stop");
}

static void finish_next(sup_t *s)
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

static bool finished_everywhere(const sup_t *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->w[i].st.finish_seq != s->finish_target || !s->w[i].st.finish_acked) return false;
    return true;
}

static void begin_drain(sup_t *s, bool deactivate)
{
    s->state = S_DRAINING;
    s->deadline_ms = deactivate ? uv_now(&s->loop) + DRAIN_TIMEOUT_MS : UINT64_MAX;
    s->unchanged_ticks = 0;
    if (deactivate) broadcast(s, "deactivate");
}

static bool all_exited(const sup_t *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->w[i].running || s->w[i].open_handles) return false;
    return true;
}

static void shut(sup_t *s)
{
    uv_close((uv_handle_t *)&s->tick, NULL);
    uv_close((uv_handle_t *)&s->duration, NULL); /* initialised even when no --duration was given */
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    for (int i = 0; i < s->n; i++) uv_close((uv_handle_t *)&s->w[i].restart, NULL);
}

static void on_tick(uv_timer_t *h)
{
    sup_t *s = h->data;
    status_t now = total(s);
    if (now.failed && s->state != S_STOPPING) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "a worker failed to open its tasks: stopping");
        s->failed = true;
        stop_all(s);
    }
    switch (s->state) {
    case S_RUNNING:
        if (all_running(s) && now.spout_tasks > 0 && now.spouts_done == now.spout_tasks) begin_drain(s, false);
        break;
    case S_DRAINING:
    case S_FINISHING:
        if (uv_now(&s->loop) > s->deadline_ms) {
            gale_logf(GALE_LOG_WARN, "supervisor", "tuples still in flight after the drain timeout: stopping now");
            stop_all(s);
            break;
        }
        if (s->state == S_FINISHING && !finished_everywhere(s)) break;
        if (quiescent(s)) finish_next(s);
        break;
    case S_STOPPING:
        if (all_exited(s)) {
            shut(s);
            return;
        }
        if (uv_now(&s->loop) > s->deadline_ms) {
            if (s->deadline_ms) gale_logf(GALE_LOG_WARN, "supervisor", "workers still running %u ms after stop: killing them", STOP_TIMEOUT_MS);
            s->deadline_ms = 0; /* said once; kill on every tick until they are gone */
            for (int i = 0; i < s->n; i++)
                if (s->w[i].running) uv_process_kill(&s->w[i].proc, SIGKILL);
        }
        break;
    }
}

static void request_stop(sup_t *s, const char *why)
{
    if (s->state == S_STOPPING) return;
    if (++s->signals > 1) {
        gale_logf(GALE_LOG_WARN, "supervisor", "%s again: stopping without draining", why);
        stop_all(s);
        return;
    }
    if (s->state != S_RUNNING) return;
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: deactivating spouts and draining (again to stop at once)", why);
    begin_drain(s, true);
}

static void on_signal(uv_signal_t *h, int sig) { request_stop(h->data, sig == SIGINT ? "SIGINT" : "SIGTERM"); }
static void on_duration(uv_timer_t *h) { request_stop(h->data, "duration reached"); }

/* ---- figures --------------------------------------------------------------------------------------------------- */

static double field(const char *obj, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = obj ? strstr(obj, pat) : NULL;
    return p ? strtod(p + strlen(pat), NULL) : 0;
}

static void report(const sup_t *s)
{
    const gale_topology_t *t = s->topo;
    double secs = 0;
    for (int i = 0; i < s->n; i++)
        if (field(s->w[i].stats, "seconds") > secs) secs = field(s->w[i].stats, "seconds");
    fprintf(stderr, "topology '%s' ran %.2f s in %d workers", t->name, secs, s->n);
    int restarts = 0;
    for (int i = 0; i < s->n; i++) restarts += s->w[i].restarts;
    fprintf(stderr, " (%d restart%s)\n", restarts, restarts == 1 ? "" : "s");
    fprintf(stderr, "%-16s %-5s %5s %12s %12s %12s %10s %8s %7s\n", "component", "kind", "tasks", "emitted", "executed",
            "executed/s", "acked", "failed", "errors");
    for (size_t k = 0; k <= t->n_components; k++) {
        const char *name = k < t->n_components ? t->components[t->order[k]].name : "__acker";
        if (k == t->n_components && t->config.ackers == 0) break;
        double sum[5] = {0};
        static const char *keys[5] = {"emitted", "executed", "acked", "failed", "errors"};
        for (int i = 0; i < s->n; i++) {
            char pat[160];
            snprintf(pat, sizeof pat, "{\"name\": \"%s\"", name);
            const char *obj = s->w[i].stats ? strstr(s->w[i].stats, pat) : NULL;
            for (int f = 0; obj && f < 5; f++) sum[f] += field(obj, keys[f]);
        }
        int tasks = k < t->n_components ? t->components[t->order[k]].parallelism : t->config.ackers;
        const char *kind = k < t->n_components && t->components[t->order[k]].kind == GALE_SPOUT ? "spout" : "bolt";
        fprintf(stderr, "%-16s %-5s %5d %12.0f %12.0f %12.0f %10.0f %8.0f %7.0f\n", name, kind, tasks, sum[0], sum[1],
                secs > 0 ? sum[1] / secs : 0, sum[2], sum[3], sum[4]);
    }
    fprintf(stderr, "(summed over the workers' last lives; --stats FILE has the latencies, the worst worker's)\n");
}

/* The workers' figures merged: counts summed, latency quantiles the worst worker's (quantiles do not add up), peak
   memory summed over the processes. */
static void write_stats(const sup_t *s, const char *path)
{
    static const char *counts[] = {"emitted", "executed", "acked", "failed", "errors"};
    static const char *lats[] = {"exec_mean_us", "exec_us_p50", "exec_us_p99", "exec_us_p999", "complete_ms_p50",
                                 "complete_ms_p99", "complete_ms_p999", "e2e_ms_p50", "e2e_ms_p99", "e2e_ms_p999"};
    FILE *f = fopen(path, "w");
    if (!f) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: cannot write the figures", path);
        return;
    }
    const gale_topology_t *t = s->topo;
    double secs = 0, rss = 0;
    for (int i = 0; i < s->n; i++) {
        if (field(s->w[i].stats, "seconds") > secs) secs = field(s->w[i].stats, "seconds");
        rss += field(s->w[i].stats, "peak_rss_kb");
    }
    fprintf(f, "{\"topology\": \"%s\", \"seconds\": %.6f, \"workers\": %d, \"peak_rss_kb\": %.0f, \"components\": [",
            t->name, secs, s->n, rss);
    for (size_t k = 0; k <= t->n_components; k++) {
        if (k == t->n_components && t->config.ackers == 0) break;
        const char *name = k < t->n_components ? t->components[t->order[k]].name : "__acker";
        char pat[160];
        snprintf(pat, sizeof pat, "{\"name\": \"%s\"", name);
        double sum[5] = {0}, worst[10];
        bool have[10] = {0};
        for (int i = 0; i < s->n; i++) {
            const char *obj = s->w[i].stats ? strstr(s->w[i].stats, pat) : NULL;
            if (!obj) continue;
            for (int c = 0; c < 5; c++) sum[c] += field(obj, counts[c]);
            for (int l = 0; l < 10; l++) {
                char key[64];
                snprintf(key, sizeof key, "\"%s\": ", lats[l]);
                const char *p = strstr(obj, key);
                if (!p || !strncmp(p + strlen(key), "null", 4)) continue;
                double v = strtod(p + strlen(key), NULL);
                if (!have[l] || v > worst[l]) worst[l] = v;
                have[l] = true;
            }
        }
        fprintf(f, "%s{\"name\": \"%s\"", k ? ", " : "", name);
        for (int c = 0; c < 5; c++) fprintf(f, ", \"%s\": %.0f", counts[c], sum[c]);
        for (int l = 0; l < 10; l++)
            have[l] ? fprintf(f, ", \"%s\": %.6f", lats[l], worst[l]) : fprintf(f, ", \"%s\": null", lats[l]);
        fputc('}', f);
    }
    fprintf(f, "]}\n");
    fclose(f);
}

int gale_supervise(const gale_topology_t *topo, const gale_supervise_opts_t *o)
{
    sup_t s = {.topo = topo, .o = o, .n = o->workers};
    unsigned char raw[GALE_NONCE_LEN];
    if (gale_auth_nonce(raw)) return GALE_EIO;
    for (int i = 0; i < GALE_NONCE_LEN; i++) snprintf(s.secret + 2 * i, 3, "%02x", raw[i]);
    s.w = calloc((size_t)s.n, sizeof *s.w);
    if (!s.w || uv_loop_init(&s.loop)) {
        free(s.w);
        return GALE_ENOMEM;
    }
    uv_timer_init(&s.loop, &s.tick);
    uv_timer_init(&s.loop, &s.duration);
    uv_signal_init(&s.loop, &s.sigint);
    uv_signal_init(&s.loop, &s.sigterm);
    s.tick.data = s.duration.data = s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_timer_start(&s.tick, on_tick, TICK_MS, TICK_MS);
    if (o->duration_s > 0) uv_timer_start(&s.duration, on_duration, (uint64_t)(o->duration_s * 1000), 0);
    for (int i = 0; i < s.n; i++) {
        sworker_t *w = &s.w[i];
        w->sup = &s;
        w->index = i;
        w->backoff_ms = BACKOFF_MIN_MS;
        uv_timer_init(&s.loop, &w->restart);
        w->restart.data = w;
        spawn(w);
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&s.loop)) gale_logf(GALE_LOG_WARN, "supervisor", "a handle was left open at exit");
    if (!o->quiet) report(&s);
    if (o->stats) write_stats(&s, o->stats);
    for (int i = 0; i < s.n; i++) free(s.w[i].stats);
    free(s.w);
    return s.failed ? GALE_EPLUGIN : 0;
}
