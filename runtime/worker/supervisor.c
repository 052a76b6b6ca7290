#include "supervisor_state.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "control.h"
#include "drain.h"
#include "hmac.h"
#include "lines.h"
#include "scheduler.h"
#include "log.h"
#include "metrics_merge.h"

#define TICK_MS 5
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define HEALTHY_MS 10000  /* a worker that ran this long was healthy: its next restart starts the backoff anew */
#define QUICK_CRASHES 5   /* deaths in a row, each within HEALTHY_MS of its start, after which the run gives up */
#define LOST_IN_FLIGHT_TICKS 100 /* idle and unchanged this long: what a dead worker had in flight is gone */
#define STOP_TIMEOUT_MS 10000
static void spawn(sworker_t *w);
static void stop_all(gale_sup_t *s);

/* ---- talking to workers ---------------------------------------------------------------------------------------- */

static void on_sent(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

void gale__sup_say(sworker_t *w, const gale_control_msg_t *m)
{
    if (!w->running) return;
    /* Sized for what the message carries: a peers line has every worker's address. */
    size_t cap = 64 + (m->text ? strlen(m->text) : 0) + (size_t)m->n_peers * (ADDR_MAX + 1) +
                 (size_t)m->n_positions * 32; /* " TASK:POSITION" */
    uv_write_t *req = malloc(sizeof *req + cap);
    int n = req ? gale_control_format((char *)(req + 1), cap, m) : GALE_ENOMEM;
    if (n < 0) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: cannot tell worker %d: %s", w->sup->id, w->index, gale_strerror(n));
        free(req);
        return;
    }
    uv_buf_t buf = uv_buf_init((char *)(req + 1), (unsigned)n);
    if (uv_write(req, (uv_stream_t *)&w->pipe, &buf, 1, on_sent)) free(req);
}

static void say_kind(sworker_t *w, gale_control_kind_t kind, int number)
{
    gale__sup_say(w, &(gale_control_msg_t){.kind = kind, .number = number});
}

static void broadcast(gale_sup_t *s, gale_control_kind_t kind, int number)
{
    for (int i = 0; i < s->n_local; i++) say_kind(&s->w[i], kind, number);
}

static void send_peers(gale_sup_t *s)
{
    const char **peers = calloc((size_t)s->n, sizeof *peers);
    if (!peers) return;
    for (int i = 0; i < s->n; i++) peers[i] = s->addr[i];
    gale_control_msg_t m = {.kind = GALE_CTL_PEERS, .peers = peers, .n_peers = s->n};
    for (int i = 0; i < s->n_local; i++) gale__sup_say(&s->w[i], &m);
    free(peers);
}

/* Before its start, a restarted worker learns where its replayable spouts resume. Deactivated at once (a stop was
   asked for, or the bolts already finish), they will not emit again what they owe: those trees are lost. */
static void hand_over_positions(sworker_t *w, bool will_run)
{
    gale_sup_t *s = w->sup;
    if (w->n_pos)
        gale__sup_say(w, &(gale_control_msg_t){.kind = GALE_CTL_RESUME,
                                               .tasks = w->pos_tasks,
                                               .positions = w->pos_values,
                                               .n_positions = w->n_pos});
    if (!w->replay_owed) return;
    if (will_run) {
        s->resumed_trees += w->replay_owed;
    } else {
        s->lost_trees += w->replay_owed;
        gale_logf(GALE_LOG_ERROR, "supervisor",
                  "%s: worker %d is back after the spouts were deactivated: the %" PRIu64
                  " tuple trees its spouts owe will not be emitted again",
                  s->id, w->index, w->replay_owed);
    }
    w->replay_owed = 0;
}

/* A POSITIONS line: the worker's replayable spouts and their positions, all of them (it replaces the last). */
static void keep_positions(sworker_t *w, const gale_control_msg_t *m)
{
    gale_sup_t *s = w->sup;
    if (m->n_positions > s->spout_tasks) {
        gale_logf(GALE_LOG_WARN, "supervisor",
                  "%s: worker %d told %d positions, more than the topology's %d spout "
                  "tasks: ignored",
                  s->id, w->index, m->n_positions, s->spout_tasks);
        return;
    }
    size_t pos = 0;
    int n = 0;
    while (n < m->n_positions && gale_control_next_position(m->text, &pos, &w->pos_tasks[n], &w->pos_values[n]) > 0)
        n++;
    w->n_pos = n;
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
        /* A worker restarted once the bolts began to finish catches up: its spouts must not feed finished bolts,
           and its finish count must reach the others', or the drain would wait for it for ever. */
        bool finishing = s->finish_target > 0;
        hand_over_positions(w, !s->deactivated && !finishing);
        if (s->inactive) say_kind(w, GALE_CTL_ACTIVE, 0); /* before start: its spouts open without activating */
        if (s->leased) gale__sup_say(w, &(gale_control_msg_t){.kind = GALE_CTL_LEASE, .until_ns = s->lease_ns});
        gale__sup_swap_replay(s, w); /* what the others run, before its start */
        say_kind(w, GALE_CTL_START, 0);
        if (s->deactivated || finishing) say_kind(w, GALE_CTL_DEACTIVATE, 0);
        for (size_t k = 0; finishing && k < s->drain.finish_pos; k++) say_kind(w, GALE_CTL_FINISH, s->finish_order[k]);
    }
}

static void handle_line(void *arg, char *line)
{
    sworker_t *w = arg;
    gale_sup_t *s = w->sup;
    w->heard_ms = uv_now(s->loop);
    gale_control_msg_t m;
    char why[160];
    int rc = gale_control_parse(line, &m, why, sizeof why);
    if (rc == GALE_EABI) { /* another build of gale: nothing it says can be read right */
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: worker %d: %s: stopping the run", s->id, w->index, why);
        s->failed = true;
        stop_all(s); /* restarting the same binary would only meet the same version */
        uv_process_kill(&w->proc, SIGKILL);
        return;
    }
    if (rc) {
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: worker %d: %s", s->id, w->index, why);
        return;
    }
    switch (m.kind) {
    case GALE_CTL_PORT:
        w->port = m.number;
        if (s->placement) snprintf(s->addr[w->index], ADDR_MAX, "%s:%d@%" PRIu64, s->host, w->port, s->placement);
        else snprintf(s->addr[w->index], ADDR_MAX, "%s:%d", s->host, w->port);
        if (s->ev.address) s->ev.address(s->ev.arg, s, w->index, s->addr[w->index]);
        maybe_start(s);
        break;
    case GALE_CTL_STATUS:
        w->st = m.status;
        w->have_status = true;
        break;
    case GALE_CTL_POSITIONS:
        if (!s->ckpt) keep_positions(w, &m); /* with checkpoints, a restart resumes from the checkpoint's */
        break;
    case GALE_CTL_CHECKPOINTED: gale__sup_ckpt_part(s, w, &m); break;
    case GALE_CTL_SWAPPED: {
        const char *sp = strchr(m.text, ' ');
        gale__sup_swap_answer(s, w, m.number == 1, sp ? sp + 1 : "");
        break;
    }
    case GALE_CTL_STATS:
        free(w->stats);
        w->stats = strdup(m.text);
        s->stats_seq++;
        break;
    default:
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: worker %d sent a supervisor's command", s->id, w->index);
        break;
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
    if (gale_lines_took(&w->lines, (size_t)n, handle_line, w))
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: worker %d: a line over %u bytes was dropped", w->sup->id, w->index,
                  GALE_CONTROL_LINE_MAX);
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

/* What the worker wrote before it exited and the loop has not read yet. libuv may run the exit callback first,
   in the same turn as the readable pipe, and the pipe is closed there: without this the last STATS line (the final
   figures of a short run) and the last status (its open trees) were lost now and then. The worker is gone, so what
   it wrote is all in the pipe's buffer: read until it is empty, never blocking (libuv's pipes are non-blocking). */
static void read_what_is_left(sworker_t *w)
{
    uv_os_fd_t fd;
    if (!uv_is_active((uv_handle_t *)&w->pipe) || uv_fileno((uv_handle_t *)&w->pipe, &fd)) return;
    for (;;) {
        size_t room;
        char *at = gale_lines_space(&w->lines, &room);
        ssize_t n = read(fd, at, room);
        if (n <= 0) break; /* EOF, EAGAIN (a child of the worker still holds the pipe) or an error */
        on_read((uv_stream_t *)&w->pipe, n, &(uv_buf_t){.base = at, .len = (size_t)n});
    }
}

/* A worker died with its spouts' open trees. */
static void account_open_trees(gale_sup_t *s, sworker_t *w)
{
    /* Its spouts' open trees died with it. Those of replayable spouts (gale_replayable) are emitted again by the
       next life, which resumes from the positions the worker last told (every tree open then or since is at or
       after them); those of spouts whose source rewinds by itself (GALE_SPOUT_REWINDS: a Kafka group's committed
       offsets) are given to it again by the source. The others cannot be vouched for: said, counted, and the run
       reported incomplete. */
    uint64_t replayable = (w->n_pos ? w->st.replayable : 0) + w->st.rewinding, open = w->st.open_trees;
    if (replayable > open) replayable = open;
    w->replay_owed += replayable;
    if (replayable)
        gale_logf(GALE_LOG_WARN, "supervisor",
                  "%s: worker %d had %" PRIu64 " tuple trees open in replayable spouts: "
                  "its next life emits them again from their positions",
                  s->id, w->index, replayable);
    if (open > replayable) {
        s->lost_trees += open - replayable;
        gale_logf(GALE_LOG_ERROR, "supervisor",
                  "%s: worker %d died with %" PRIu64 " tuple trees open in its spouts: "
                  "they will not be replayed by the spout that emitted them (it is not replayable: gale_replayable)",
                  s->id, w->index, open - replayable);
    }
}

static void on_worker_exit(uv_process_t *p, int64_t status, int signal)
{
    sworker_t *w = p->data;
    gale_sup_t *s = w->sup;
    read_what_is_left(w);
    if (s->swap.active && s->swap.at == (int)(w - s->w)) gale__sup_swap_answer(s, w, false, "it died meanwhile");
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
    if (gale__sup_ckpt_recovered(s, w, status, signal)) { /* a recovery run: it committed its part */
        if (gale__sup_ckpt_all_recovered(s)) stop_all(s);
        return;
    }
    w->restarts++;
    bool killed = w->ckpt_killed; /* stopped for a restart of every worker from the latest checkpoint */
    w->ckpt_killed = false;
    if (killed || gale__sup_ckpt_died(s, w)) {
        /* Everything after the checkpoint is replayed from it: its trees are not owed, and the end of the input
           comes again, unless a stop was asked for. */
        if (!s->deactivated && s->finish_target) {
            gale_drain_init(&s->drain, s->finish_order, s->drain.n_finish, LOST_IN_FLIGHT_TICKS);
            s->finish_target = 0;
        }
        s->final_pending = false;
        w->st = (gale_worker_status_t){0};
        if (killed) {
            gale_logf(GALE_LOG_INFO, "supervisor", "%s: worker %d stopped: it starts again from the checkpoint", s->id,
                      w->index);
            uv_timer_start(&w->restart, on_restart, BACKOFF_MIN_MS, 0);
            return;
        }
    } else {
        account_open_trees(s, w);
    }
    w->st = (gale_worker_status_t){0};
    uint64_t now = uv_now(s->loop);
    if (now - w->started_ms >= HEALTHY_MS) {
        w->backoff_ms = BACKOFF_MIN_MS;
        w->quick_crashes = 0;
    } else if (++w->quick_crashes >= QUICK_CRASHES) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: worker %d died %d times in a row, each within %d s of its start: "
                  "giving up", s->id, w->index, w->quick_crashes, HEALTHY_MS / 1000);
        s->failed = true;
        stop_all(s);
        return;
    }
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
    if (s->state != S_ACTIVE) return; /* the run is stopping: nothing more to start */
    if (gale__sup_ckpt_busy(s)) {     /* a record is being written: it must restore the one every worker does */
        uv_timer_start(&w->restart, on_restart, 20, 0);
        return;
    }
    char numbers[4][24];
    size_t cap = 21 + 2 * s->n_sets;
    const char **argv = calloc(cap, sizeof *argv);
    gale_worker_args_t wa = {.index = w->index,
                             .workers = s->n,
                             .listen = s->host,
                             .threads = s->threads,
                             .placement = s->placement,
                             .model = s->model,
                             .tls = s->tls};
    if (!argv || !w->line || gale_control_worker_argv(s->exe, &wa, (const char *const *)s->sets, s->n_sets, s->file,
                                                      numbers, argv, cap) < 0) {
        free(argv);
        s->failed = true;
        stop_all(s);
        return;
    }
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
        stop_all(s);
        return;
    }
    w->running = true;
    w->life = (uv_hrtime() & 0xffffffffu) << 32 | (uint32_t)w->proc.pid; /* distinct from its last life's */
    w->hung = false;
    w->started_ms = w->heard_ms = uv_now(s->loop);
    w->lines = (gale_lines_t){.buf = w->line, .cap = GALE_CONTROL_LINE_MAX};
    uv_read_start((uv_stream_t *)&w->pipe, on_alloc, on_read);
    /* First, before anything: the worker reads it before it listens. */
    gale__sup_say(w, &(gale_control_msg_t){.kind = GALE_CTL_SECRET, .text = s->secret});
}

/* ---- the lifecycle ---------------------------------------------------------------------------------------------- */

static bool all_running(const gale_sup_t *s)
{
    for (int i = 0; i < s->n_local; i++)
        if (!s->w[i].running || !s->w[i].started || !s->w[i].have_status) return false;
    return true;
}

static gale_worker_status_t total(const gale_sup_t *s)
{
    gale_worker_status_t t = {.idle = 1};
    for (int i = 0; i < s->n_local; i++) {
        const gale_worker_status_t *w = &s->w[i].st;
        t.idle &= w->idle && w->pushed == w->popped;
        t.failed |= w->failed;
        t.epochs += w->epochs, t.open_trees += w->open_trees, t.retrying += w->retrying, t.kept += w->kept;
        t.sent += w->sent, t.recv += w->recv;
        t.spouts_done += w->spouts_done, t.spout_tasks += w->spout_tasks;
    }
    return t;
}

static void stop_all(gale_sup_t *s)
{
    if (s->state != S_ACTIVE) return;
    s->state = S_STOPPING;
    s->deadline_ms = uv_now(s->loop) + STOP_TIMEOUT_MS;
    gale__sup_swap_abort(s, "the topology stopped before every worker took it");
    for (int i = 0; i < s->n_local; i++) uv_timer_stop(&s->w[i].restart); /* one waiting to restart stays down */
    broadcast(s, GALE_CTL_STOP, 0);
}

static bool spouts_done(const gale_sup_t *s)
{
    gale_worker_status_t t = total(s);
    return all_running(s) && t.spouts_done >= t.spout_tasks;
}

static bool finished_everywhere(const gale_sup_t *s)
{
    for (int i = 0; i < s->n_local; i++)
        if (s->w[i].st.finish_seq != s->finish_target || !s->w[i].st.finish_acked) return false;
    return true;
}

/* The workers' summed status, as the drain rule reads it. Only a supervisor that has every slot can judge the end
   of the topology: for one that has some, the status is never current enough, and a kill ends it by its deadline.
   What a dead worker had in flight never arrives: after LOST_IN_FLIGHT_TICKS of quiet it counts as gone. */
static gale_flow_t sample_flow(const gale_sup_t *s)
{
    gale_worker_status_t t = total(s);
    return (gale_flow_t){.idle = t.idle, .stale = !s->complete || !all_running(s), .in_flight = t.sent != t.recv,
                         .activity = t.epochs + t.sent + t.recv, .open_trees = t.open_trees, .retrying = t.retrying,
                         .kept = t.kept, .spouts_done = t.spouts_done, .spout_tasks = t.spout_tasks,
                         .finish_acked = finished_everywhere(s), .failed = t.failed};
}

/* Carries out what the drain rule decided; `why` (may be NULL) prefixes its note in the log. */
static void apply(gale_sup_t *s, gale_drain_cmd_t cmd, const char *why)
{
    /* A supervisor with some of the slots drains what it can see: the end is not its to report. */
    if (cmd.note && (s->complete || cmd.kind == GALE_DRAIN_DEACTIVATE))
        gale_logf(cmd.warn ? GALE_LOG_WARN : GALE_LOG_INFO, "supervisor", "%s: %s%s%s", s->id, why ? why : "",
                  why ? ": " : "", cmd.note);
    switch (cmd.kind) {
    case GALE_DRAIN_NONE: break;
    case GALE_DRAIN_DEACTIVATE:
        s->deactivated = true;
        broadcast(s, GALE_CTL_DEACTIVATE, 0);
        break;
    case GALE_DRAIN_FINISH:
        s->finish_target++;
        broadcast(s, GALE_CTL_FINISH, cmd.component);
        break;
    case GALE_DRAIN_STOP:
        /* The input ended and every bolt finished: what the finishes emitted is committed by a final checkpoint. */
        if (s->ckpt && !s->drain.failed && !s->drain.incomplete && spouts_done(s) && gale__sup_ckpt_final(s)) {
            s->final_pending = true;
            s->final_stop = cmd;
            break;
        }
        if (s->drain.failed) s->failed = true;
        if (s->complete && s->drain.incomplete) s->incomplete = true;
        stop_all(s);
        break;
    }
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
    gale__sup_ckpt_end(s);
    close_handle(s, (uv_handle_t *)&s->tick);
    for (int i = 0; i < s->n_local; i++) close_handle(s, (uv_handle_t *)&s->w[i].restart);
}

/* Storm's supervisor.worker.timeout.secs: a worker that says nothing for that long (stopped, or its control loop
   stuck) is killed, and restarted like one that died. It reports its status every few milliseconds. */
static void check_liveness(gale_sup_t *s)
{
    uint64_t now = uv_now(s->loop);
    for (int i = 0; i < s->n_local; i++) {
        sworker_t *w = &s->w[i];
        if (!w->running || w->hung || now - w->heard_ms <= s->worker_timeout_ms) continue;
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: worker %d (pid %d) said nothing for %" PRIu64 " s: killing it",
                  s->id, w->index, w->proc.pid, s->worker_timeout_ms / 1000);
        w->hung = true;
        uv_process_kill(&w->proc, SIGKILL);
    }
}

static void on_tick(uv_timer_t *h)
{
    gale_sup_t *s = h->data;
    switch (s->state) {
    case S_ACTIVE: {
        check_liveness(s);
        gale__sup_swap_tick(s);
        gale__sup_ckpt_tick(s, all_running(s), spouts_done(s));
        if (s->final_pending) { /* the drain said stop: first the final checkpoint */
            if (gale__sup_ckpt_final(s)) break;
            s->final_pending = false;
            apply(s, s->final_stop, NULL);
            break;
        }
        gale_flow_t f = sample_flow(s);
        apply(s, gale_drain_step(&s->drain, &f, uv_hrtime()), NULL);
        break;
    }
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
    if (s->state != S_ACTIVE) return;
    uint64_t wait_ns = wait_s > 0 ? (uint64_t)(wait_s * 1e9) : 0;
    apply(s, gale_drain_request_stop(&s->drain, uv_hrtime(), wait_ns), why);
}

void gale_sup_set_active(gale_sup_t *s, bool active)
{
    if (s->inactive == !active) return;
    s->inactive = !active;
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: %s", s->id,
              active ? "activated: the spouts run again" : "deactivated: the spouts wait, the trees in flight finish");
    /* A worker not started yet hears it before its start (maybe_start). */
    for (int i = 0; i < s->n_local; i++)
        if (s->w[i].started) say_kind(&s->w[i], GALE_CTL_ACTIVE, active);
}

bool gale_sup_active(const gale_sup_t *s) { return !s->inactive; }

void gale_sup_lease(gale_sup_t *s, uint64_t until_ns)
{
    if (!s->leased || !until_ns || until_ns <= s->lease_ns) return;
    s->lease_ns = until_ns;
    for (int i = 0; i < s->n_local; i++)
        if (s->w[i].started)
            gale__sup_say(&s->w[i], &(gale_control_msg_t){.kind = GALE_CTL_LEASE, .until_ns = until_ns});
}

/* ---- the assignment --------------------------------------------------------------------------------------------- */

static int check_assignment(const gale_assignment_t *a)
{
    if (a->workers < 1 || a->n_slots < 0 || a->n_slots > a->workers || (a->slots && a->n_slots == 0)) return GALE_EINVAL;
    for (int i = 0; a->slots && i < a->n_slots; i++) {
        if (a->slots[i] < 0 || a->slots[i] >= a->workers) return GALE_EINVAL;
        for (int j = 0; j < i; j++)
            if (a->slots[j] == a->slots[i]) return GALE_EINVAL;
    }
    if (a->secret && (strlen(a->secret) < 16 || strlen(a->secret) > 2 * GALE_NONCE_LEN)) return GALE_EINVAL;
    if (a->host && strlen(a->host) > ADDR_MAX - 30) return GALE_EINVAL; /* room for :PORT@PLACEMENT */
    return 0;
}

/* The assignment's resume positions (cluster mode: where the last placement's spouts were), each to the local
   worker that runs its task, so that its first life already resumes. A task not here is someone else's. */
static void seed_positions(gale_sup_t *s, const gale_assignment_t *a)
{
    gale_placement_t pl = {0};
    /* With checkpoints the spouts resume from the checkpoint's positions, which go with the state they produced. */
    if (!a->n_resume || s->ckpt || gale_schedule(s->topo, s->topo->config.ackers, s->n, 1, &pl)) return;
    for (int i = 0; i < s->n_local; i++) {
        sworker_t *w = &s->w[i];
        for (int k = 0; w->pos_tasks && k < a->n_resume && w->n_pos < s->spout_tasks; k++) {
            uint32_t task = a->resume_tasks[k];
            if (task == 0 || task > s->topo->n_tasks || pl.worker[task] != w->index) continue;
            w->pos_tasks[w->n_pos] = task;
            w->pos_values[w->n_pos++] = a->resume_positions[k];
        }
    }
    gale_placement_free(&pl);
}

int gale_sup_positions(const gale_sup_t *s, uint32_t *tasks, uint64_t *positions, int cap)
{
    int n = 0;
    for (int i = 0; i < s->n_local; i++)
        for (int k = 0; k < s->w[i].n_pos && n < cap; k++, n++) {
            tasks[n] = s->w[i].pos_tasks[k];
            positions[n] = s->w[i].pos_values[k];
        }
    return n;
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
    s->threads = a->threads > 0 ? a->threads
                 : topo->config.threads > 0
                     ? 0
                     : gale_schedule_share_cores(s->n_local, a->cores > 0 ? a->cores : sysconf(_SC_NPROCESSORS_ONLN));
    s->id = strdup(a->id ? a->id : topo->name);
    s->exe = strdup(a->exe);
    s->file = strdup(a->file);
    s->model = a->model;
    s->inactive = a->inactive;
    s->leased = a->leased;
    s->placement = a->placement;
    s->lease_ns = a->lease_until_ns ? a->lease_until_ns : 1; /* none yet: over from the start */
    s->host = strdup(a->host ? a->host : "127.0.0.1");
    s->tls = a->tls ? strdup(a->tls) : NULL;
    s->w = calloc((size_t)s->n_local, sizeof *s->w);
    s->addr = calloc((size_t)s->n, sizeof *s->addr);
    s->slot_restarts = calloc((size_t)s->n, sizeof *s->slot_restarts);
    s->sets = calloc(a->n_sets + 1, sizeof *s->sets);
    bool ok = s->id && s->exe && s->file && s->host && s->w && s->addr && s->sets && (!a->tls || s->tls);
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
    size_t n_finish = 0;
    s->finish_order = calloc(topo->n_components + 1, sizeof *s->finish_order);
    if (!s->finish_order) {
        gale_sup_free(s);
        return GALE_ENOMEM;
    }
    for (size_t k = 0; s->complete && k < topo->n_components; k++)
        if (topo->components[topo->order[k]].kind == GALE_BOLT) s->finish_order[n_finish++] = topo->order[k];
    gale_drain_init(&s->drain, s->finish_order, n_finish, LOST_IN_FLIGHT_TICKS);
    s->worker_timeout_ms = (uint64_t)topo->config.worker_timeout_s * 1000;
    char why[800];
    for (int i = 0; i < s->n_local; i++) s->w[i].index = a->slots ? a->slots[i] : i; /* the coordinator is slot 0's */
    if ((rc = gale__sup_ckpt_open(s, a->fresh_state, a->ckpt_link, why, sizeof why))) { /* before any handle is made */
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s", why);
        gale_sup_free(s);
        return rc;
    }
    for (size_t k = 0; k < topo->n_components; k++)
        if (topo->components[k].kind == GALE_SPOUT) s->spout_tasks += topo->components[k].parallelism;
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    s->open_handles = 1 + s->n_local;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    for (int i = 0; i < s->n_local; i++) {
        sworker_t *w = &s->w[i];
        w->sup = s;
        w->index = a->slots ? a->slots[i] : i;
        w->backoff_ms = BACKOFF_MIN_MS;
        w->line = malloc(GALE_CONTROL_LINE_MAX); /* spawn refuses to start a worker without it */
        w->pos_tasks = calloc((size_t)s->spout_tasks + 1, sizeof *w->pos_tasks);
        w->pos_values = calloc((size_t)s->spout_tasks + 1, sizeof *w->pos_values);
        if (!w->pos_tasks || !w->pos_values) free(w->line), w->line = NULL; /* out of memory: spawn refuses */
        uv_timer_init(loop, &w->restart);
        w->restart.data = w;
    }
    seed_positions(s, a);
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
/* The lost trees, with those still owed by workers that never came back to emit them again (the run stopped
   first). */
static uint64_t lost_trees(const gale_sup_t *s)
{
    uint64_t n = s->lost_trees;
    for (int i = 0; i < s->n_local; i++) n += s->w[i].replay_owed;
    return n;
}

uint64_t gale_sup_stats_seq(const gale_sup_t *s) { return s->stats_seq; }

bool gale_sup_incomplete(const gale_sup_t *s) { return s->incomplete || lost_trees(s) > 0; }

static gale_sup_losses_t losses(const gale_sup_t *s)
{
    gale_sup_losses_t l = {.lost_trees = lost_trees(s), .resumed_trees = s->resumed_trees, .slots = s->n};
    for (int i = 0; i < s->n_local; i++) {
        l.restarts += s->w[i].restarts;
        if (s->slot_restarts && s->w[i].index < s->n) s->slot_restarts[s->w[i].index] = s->w[i].restarts;
    }
    l.slot_restarts = s->slot_restarts;
    return l;
}

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
    gale_sup_losses_t l = losses(s);
    if (stats) gale_metrics_merged_report(s->topo, stats, s->n_local, &l, out);
    free(stats);
}

int gale_sup_metrics_json(const gale_sup_t *s, bool mergeable, FILE *out)
{
    const char **stats = local_stats(s);
    gale_sup_losses_t l = losses(s);
    gale_checkpoint_stats_t cs;
    if (gale_sup_checkpoints(s, &cs)) l.checkpoints = &cs;
    int rc = stats ? gale_metrics_merged_json(s->topo, stats, s->n_local, &l, mergeable, out) : GALE_ENOMEM;
    free(stats);
    return rc;
}

gale_merged_t *gale_sup_merged(const gale_sup_t *s)
{
    const char **stats = local_stats(s);
    gale_merged_t *g = stats ? gale_metrics_merge(s->topo, stats, s->n_local) : NULL;
    free(stats);
    if (!g) return NULL;
    gale_sup_losses_t l = losses(s);
    g->lost.restarts += l.restarts, g->lost.lost_trees += l.lost_trees, g->lost.resumed_trees += l.resumed_trees;
    gale_merged_add_restarts(g, s->topo, l.slots, l.slot_restarts);
    g->checkpointed = gale_sup_checkpoints(s, &g->ckpt);
    return g;
}

const char *gale_sup_address(const gale_sup_t *s, int slot)
{
    if (slot < 0 || slot >= s->n) return NULL;
    return s->addr[slot];
}

bool gale_sup_stopping(const gale_sup_t *s) { return s->state == S_STOPPING || s->state == S_ENDED; }

void gale_sup_free(gale_sup_t *s)
{
    if (!s) return;
    for (int i = 0; s->w && i < s->n_local; i++)
        free(s->w[i].stats), free(s->w[i].line), free(s->w[i].pos_tasks), free(s->w[i].pos_values);
    for (size_t i = 0; s->sets && i < s->n_sets; i++) free(s->sets[i]);
    free(s->sets), free(s->w), free(s->addr), free(s->slot_restarts), free(s->finish_order);
    free(s->id), free(s->exe), free(s->file), free(s->host), free(s->tls);
    gale__sup_swap_free(s);
    gale__sup_ckpt_free(s);
    explicit_bzero(s->secret, sizeof s->secret);
    free(s);
}
