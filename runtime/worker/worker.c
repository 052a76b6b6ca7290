/*
 * worker.c: the driver that makes a runtime one worker among several (worker.h).
 *
 * The I/O lane sits on the control thread's libuv loop. Executors push deliveries and ops for tasks of other
 * workers into one SPSC ring each (lane n_execs); the lane batches them into TUPLES and OPS frames per peer and
 * hands them to the transport, flushing on every wake. Frames from peers are decoded and checked against the
 * topology and pushed to the target executors through the rings whose producer is this thread. A frame for a peer
 * that is down is dropped at once (its trees time out and replay); nothing is buffered for it. No frame grows past
 * the transport's limit, which the peer would answer by closing the connection: a record that would take it there
 * starts a new frame, and a tuple too big for any frame is failed alone (fail_oversized).
 *
 * The supervisor talks to the worker over file descriptor 3, one line per message, in the protocol of control.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "frame.h"
#include "lines.h"
#include "log.h"
#include "ratelog.h"
#include "spout.h"
#include "transport.h"
#include "worker.h"
#include "worker_swap.h"

/* The lane is pumped every millisecond even without a wake: once backpressure has stopped it, nothing else tells it
   that a socket drained or an executor caught up. The supervisor hears from us every STATUS_EVERY pumps. */
#define PUMP_MS 1
#define STATUS_EVERY 5
/* Backpressure across workers: a peer with this much unsent stops us taking from our executors; this many entries
   waiting for our executors stops us reading from the network (checked after each frame).
   These bound what is in flight between workers when backpressure holds the spouts, and a bolt multiplies what is
   in flight: each sentence a worker has taken in becomes several words queued for its peer, and executors never
   stop draining their inputs (two of them feeding each other could deadlock). With 1 MiB, 8192 entries and
   256 KiB frames, the two workers of a word count without acking peaked at 193-358 MB together; with these at
   128 KiB, 1024 and 16 KiB, at 50-75 MB, with the same throughput within the noise (medians of 5 runs, acking
   off 3.11 vs 3.06 M words/s, on 2.21 vs 2.18, on 2 cores). RECV_HIGH is what matters most, for memory and for
   CPU: at 1024 the pausing and resuming of reads cost a fixed word count with acking some 7% more CPU than at
   8192, while 2048 held memory at 46-78 MB. */
#define SEND_HIGH (128u << 10)
#define RECV_HIGH 2048
#define RECV_LOW 256
/* At most one ring's worth from each executor per wake: a spout refilling its lane as fast as it is emptied would
   otherwise keep this loop, and the frame it builds, growing without end. A frame goes out at FRAME_FLUSH bytes;
   its buffer is kept for the next one unless it grew past FRAME_KEEP. */
#define PUMP_MAX 4096
#define FRAME_FLUSH (16u << 10)
#define FRAME_KEEP (1u << 20)

typedef struct gale_io {
    gale_runtime_t *rt;
    const gale_worker_opts_t *opts;
    uv_loop_t *loop;
    uv_async_t wake;
    uv_timer_t tick;
    uv_pipe_t ctl;
    char *line;           /* GALE_CONTROL_LINE_MAX bytes: a peers line holds every worker's address */
    gale_lines_t lines;
    gale_transport_t *transport;
    gale_ring_t *in;      /* [n_execs]: from executor p */
    gale_lanes_t out;     /* [n_execs]: to executor c */
    bool lanes_ready;
    gale_pool_t pool;     /* the tuples decoded here; executors send them back once released */
    bool pool_ready;
    gale_buf_t *tuples;   /* [n_workers]: the TUPLES frame being built for each peer */
    gale_buf_t *ops;
    uint32_t *n_tuples, *n_ops;
    bool *holding;       /* [n_workers]: that peer's bolts are behind, so our spouts wait (a PRESSURE frame) */
    bool pressing;       /* what we last told our peers about our own bolts */
    int *ports;
    uint64_t *placements;                 /* each peer's, as the last "peers" line gave it (0: not given) */
    char (*hosts)[GALE_CONTROL_ADDR_MAX]; /* each peer's host, as the last "peers" line gave it */
    int self, n_workers;
    bool start_asked, started, closing;
    bool handles; /* wake, tick and ctl were initialised */
    atomic_ulong pushed, popped; /* ring entries, for the quiescence the supervisor checks */
    uint64_t sent, recv, dropped;
    uint64_t oversized; /* tuples over the frame limit, failed here */
    unsigned finish_seq_seen;
    unsigned ticks;
    uint64_t metrics_ms; /* when the figures were last told */
    bool fenced;         /* past its lease when last looked (cluster mode), as the log said */
    gale_swaps_t swaps;  /* the plugins loaded for hot swaps (worker_swap.h) */
    /* Resume positions of the replayable spouts here: as read now, and as last told to the supervisor. */
    uint32_t *pos_tasks, *told_tasks;
    uint64_t *pos_values, *told_values;
    size_t n_told, cap_pos;
} gale_io_t;

/* The executors' wake function for this lane (a gale_lane_wake_fn): uv_async_send coalesces, so it is cheap. */
static void wake_io(void *arg)
{
    gale_io_t *io = arg;
    uv_async_send(&io->wake);
}

static uint32_t peer_id(int worker) { return (uint32_t)worker + 1; }

/* ---- to the supervisor ---------------------------------------------------------------------------------------- */

/* Writes one control message to the supervisor. One write per line on a pipe of our own: lines up to PIPE_BUF
   never interleave, and blocking is fine here. `m`'s text may be long (the metrics): the line is sized for it. */
static void tell(const gale_control_msg_t *m)
{
    char small[512];
    size_t cap = sizeof small + (m->text ? strlen(m->text) : 0) + (size_t)m->n_positions * 32; /* " T:P" */
    char *msg = cap > sizeof small ? malloc(cap) : small;
    int n = msg ? gale_control_format(msg, cap, m) : GALE_ENOMEM;
    if (n < 0) {
        gale_logf(GALE_LOG_ERROR, "worker", "cannot tell the supervisor: %s", gale_strerror(n));
    } else {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(GALE_CONTROL_FD, msg + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            off += w;
        }
    }
    if (msg != small) free(msg);
}

static bool io_empty(const gale_io_t *io)
{
    for (int w = 0; w < io->n_workers; w++)
        if (io->n_tuples[w] || io->n_ops[w]) return false;
    for (int c = 0; c < io->rt->n_execs; c++)
        if (!gale_ring_empty(&io->in[c])) return false;
    return gale_lanes_empty(&io->out);
}

static void report_status(gale_io_t *io)
{
    gale_run_status_t s;
    gale__runtime_status(io->rt, &s);
    uint64_t pushed = s.pushed + atomic_load(&io->pushed), popped = s.popped + atomic_load(&io->popped);
    gale_control_msg_t m = {.kind = GALE_CTL_STATUS,
                            .status = {.idle = s.idle && io_empty(io),
                                       .failed = s.failed != 0,
                                       .finish_acked = gale__runtime_finish_acked(io->rt),
                                       .epochs = s.epochs,
                                       .pushed = pushed,
                                       .popped = popped,
                                       .open_trees = s.open_trees,
                                       .retrying = s.retrying,
                                       .kept = s.kept,
                                       .replayable = s.replayable,
                                       .rewinding = s.rewinding,
                                       .sent = io->sent,
                                       .recv = io->recv,
                                       .spouts_done = s.spouts_done,
                                       .spout_tasks = s.spout_tasks,
                                       .finish_seq = s.finish_seq}};
    tell(&m);
}

/* The spouts' resume positions, when they moved (every timeout scan at most: 100 ms). The supervisor keeps the last
   ones and gives them to this worker's next life, if it dies. */
static void report_positions(gale_io_t *io)
{
    size_t n = gale__runtime_positions(io->rt, io->pos_tasks, io->pos_values, io->cap_pos);
    if (n == io->n_told && !memcmp(io->pos_tasks, io->told_tasks, n * sizeof *io->pos_tasks) &&
        !memcmp(io->pos_values, io->told_values, n * sizeof *io->pos_values))
        return;
    memcpy(io->told_tasks, io->pos_tasks, n * sizeof *io->pos_tasks);
    memcpy(io->told_values, io->pos_values, n * sizeof *io->pos_values);
    io->n_told = n;
    tell(&(gale_control_msg_t){.kind = GALE_CTL_POSITIONS, .tasks = io->pos_tasks, .positions = io->pos_values,
                               .n_positions = (int)n});
}

/* ---- executors -> peers ------------------------------------------------------------------------------------- */

/* Sends the frame being built in `b` (of *count records) to worker w. Keeps the frames whole: called only between
   records. */
static void send_frame(gale_io_t *io, int w, gale_buf_t *b, uint32_t *count)
{
    if (!*count) return;
    gale_frame_end(b, 0);
    int rc = b->failed ? GALE_ENOMEM : gale_transport_send(io->transport, peer_id(w), b->p, b->len);
    if (rc) io->dropped += *count; /* the peer is down: its trees time out and replay */
    else io->sent += *count;
    *count = 0;
    /* The buffer is kept for the next frame (the transport copied what it could not send at once), unless one huge
       tuple blew it up. */
    if (b->cap > FRAME_KEEP) gale_buf_free(b);
    b->len = 0;
    b->failed = 0;
}

static void flush_peers(gale_io_t *io)
{
    for (int w = 0; w < io->n_workers; w++) {
        send_frame(io, w, &io->tuples[w], &io->n_tuples[w]);
        send_frame(io, w, &io->ops[w], &io->n_ops[w]);
    }
}

/* Whether `more` bytes of records still fit the frame being built in `b` under the peer's limit; a frame over it
   would cost the whole connection (the peer closes it) and every record batched in it. */
static bool frame_fits(const gale_io_t *io, const gale_buf_t *b, size_t more)
{
    return b->len - 5 + more <= gale_transport_max_frame(io->transport);
}

static void add_op(gale_io_t *io, const gale_op_t *op);

/* An op from this lane: to the local executor of its task, or batched for its worker. */
static void route_op(gale_io_t *io, const gale_op_t *op)
{
    gale_runtime_t *rt = io->rt;
    int c = rt->task_exec[op->task];
    if (c >= rt->n_execs) {
        add_op(io, op);
        return;
    }
    gale_lanes_op(&io->out, c, op);
}

/* A tuple this lane cannot send: rather than wait for its trees to time out, fail them now, as `from` did, so that
   the spouts replay them at once (to a worker that will be back, or is by then) or journal them. */
static void fail_fast(gale_io_t *io, const gale_tuple_t *dlv, uint32_t from)
{
    gale_runtime_t *rt = io->rt;
    for (uint32_t r = 0; r < dlv->data->n_roots; r++) {
        uint64_t root = dlv->data->roots[r];
        gale_op_t op = {.kind = GALE_OP_FAIL,
                        .task = gale_tree_acker(root, rt->acker_comp.first_task, (uint32_t)rt->acker_comp.parallelism),
                        .root = root, .from = from};
        route_op(io, &op);
    }
    io->dropped++;
}

/* A tuple whose record alone is over the frame limit can never cross: it is failed alone, as its emitter's, and
   never joins a frame that other tuples share. Logged as gale__task_error logs: the first ten, then every power of
   two. */
static void fail_oversized(gale_io_t *io, const gale_tuple_t *dlv, size_t bytes)
{
    const gale_tuple_data_t *d = dlv->data;
    uint64_t n = ++io->oversized;
    if (gale_log_worth(n)) {
        char who[96];
        snprintf(who, sizeof who, "%s#%u", d->src->name, d->src_task);
        gale_logf(GALE_LOG_ERROR, who,
                  "a tuple of %zu bytes on stream '%s' for task %u in worker %d is over the frame limit of %zu bytes "
                  "between workers: %s (%" PRIu64 " so far)",
                  bytes, d->src->streams[d->stream].name, dlv->task, io->rt->task_worker[dlv->task],
                  gale_transport_max_frame(io->transport), d->n_roots ? "its tree fails" : "dropped", n);
    }
    fail_fast(io, dlv, d->src_task);
}

static void add_tuple(gale_io_t *io, gale_tuple_t *dlv)
{
    int w = io->rt->task_worker[dlv->task];
    if (!gale_transport_peer_up(io->transport, peer_id(w))) {
        fail_fast(io, dlv, dlv->task);
        gale__tuple_release(dlv->data);
        return;
    }
    /* A latency marker's time is CLOCK_MONOTONIC: it means something only to a worker of this host. */
    bool same_host = dlv->data->origin_ns && !strcmp(io->hosts[w], io->hosts[io->self]);
    size_t bytes = gale_frame_tuple_size(dlv, same_host);
    if (bytes > gale_transport_max_frame(io->transport)) {
        fail_oversized(io, dlv, bytes);
        gale__tuple_release(dlv->data);
        return;
    }
    if (io->n_tuples[w] && !frame_fits(io, &io->tuples[w], bytes)) send_frame(io, w, &io->tuples[w], &io->n_tuples[w]);
    if (!io->n_tuples[w]) gale_frame_begin(&io->tuples[w], GALE_FRAME_TUPLES);
    gale_frame_put_tuple(&io->tuples[w], dlv, same_host);
    io->n_tuples[w]++;
    gale__tuple_release(dlv->data);
}

/* A FAIL or FAILED op with a reason for a task of peer `w`: the text leaves this process's table and goes ahead of
   the op, in a REASON frame after the ops batched so far (so that the frames keep their order). */
static void send_reason(gale_io_t *io, int w, const gale_op_t *op)
{
    char *text = gale_reasons_take(io->rt->reasons, (uint32_t)op->val);
    if (!text) return; /* evicted: the op goes on without it */
    send_frame(io, w, &io->ops[w], &io->n_ops[w]);
    gale_buf_t b = {0};
    gale_frame_put_reason(&b, (uint32_t)op->val, text);
    if (!b.failed) (void)gale_transport_send(io->transport, peer_id(w), b.p, b.len); /* a peer down: so is the op */
    gale_buf_free(&b);
    free(text);
}

static void add_op(gale_io_t *io, const gale_op_t *op)
{
    int w = io->rt->task_worker[op->task];
    if ((op->kind == GALE_OP_FAIL || op->kind == GALE_OP_FAILED) && op->val) send_reason(io, w, op);
    gale_buf_t *b = &io->ops[w];
    if (io->n_ops[w] && !frame_fits(io, b, GALE_FRAME_OP_RECORD)) send_frame(io, w, b, &io->n_ops[w]);
    if (!io->n_ops[w]) gale_frame_begin(b, GALE_FRAME_OPS);
    gale_frame_put_op(b, op);
    io->n_ops[w]++;
}

/* A control item for a task of another worker (a barrier, a watermark): behind the tuples batched for that peer
   (they go first), in a CONTROL frame of its own, as rare as checkpoints and watermarks are. To a peer that is down
   it is dropped: a barrier's checkpoint cannot complete, and the supervisor restarts the topology from the last
   one that did; a watermark's successor says as much. */
static void add_control(gale_io_t *io, gale_control_t *c)
{
    int w = c->to <= io->rt->n_all_tasks ? io->rt->task_worker[c->to] : -1;
    if (w < 0 || w >= io->n_workers || w == io->self) {
        gale_logf(GALE_LOG_ERROR, "worker", "a control item for task %u, of no peer: dropped", c->to);
        free(c);
        return;
    }
    send_frame(io, w, &io->tuples[w], &io->n_tuples[w]);
    gale_buf_t b = {0};
    size_t start = gale_frame_begin(&b, GALE_FRAME_CONTROL);
    gale_frame_put_control(&b, c);
    gale_frame_end(&b, start);
    int rc = b.failed ? GALE_ENOMEM : gale_transport_send(io->transport, peer_id(w), b.p, b.len);
    if (rc)
        gale_logf(GALE_LOG_DEBUG, "worker", "a control item (kind %u, id %" PRIu64 ") for task %u: worker %d is down",
                  c->kind, c->id, c->to, w);
    gale_buf_free(&b);
    free(c);
}

static void drain_executors(gale_io_t *io)
{
    void *buf[GALE_BATCH];
    for (int p = 0; p < io->rt->n_execs; p++) {
        size_t n, taken = 0;
        while (taken < PUMP_MAX && (n = gale_ring_pop(&io->in[p], buf, GALE_BATCH)) > 0) {
            taken += n;
            atomic_fetch_add(&io->popped, n);
            for (size_t i = 0; i < n; i++) {
                void *item = gale_item_ptr(buf[i]);
                switch (gale_item_kind(buf[i])) {
                case GALE_ITEM_DELIVERY: add_tuple(io, item); break;
                case GALE_ITEM_OPS: {
                    gale_op_batch_t *b = item;
                    for (uint32_t k = 0; k < b->n; k++) add_op(io, &b->ops[k]);
                    free(b);
                    break;
                }
                case GALE_ITEM_RETURNS: gale__pool_take_back(&io->pool, item); break;
                case GALE_ITEM_CONTROL: add_control(io, item); break;
                default: gale_logf(GALE_LOG_ERROR, "worker", "an unknown ring entry from executor %d: dropped", p); break;
                }
            }
            for (int w = 0; w < io->n_workers; w++)
                if (io->tuples[w].len > FRAME_FLUSH || io->ops[w].len > FRAME_FLUSH) flush_peers(io);
        }
    }
}

/* ---- peers -> executors ------------------------------------------------------------------------------------- */

static void flush_executors(gale_io_t *io) { gale_lanes_flush_all(&io->out); }

static void receive_ops(gale_io_t *io, uint32_t peer, const char *p, size_t len)
{
    gale_runtime_t *rt = io->rt;
    for (; len >= GALE_FRAME_OP_RECORD; p += GALE_FRAME_OP_RECORD, len -= GALE_FRAME_OP_RECORD) {
        gale_op_t op;
        gale_frame_get_op(p, &op);
        io->recv++;
        if (op.task == 0 || op.task > rt->n_all_tasks || rt->task_exec[op.task] >= rt->n_execs) {
            gale_logf(GALE_LOG_WARN, "worker", "peer %u sent an op for task %u, which is not here: dropped", peer, op.task);
            continue;
        }
        route_op(io, &op);
    }
}

/* Control items from a peer, to the executors of their tasks, in order with the tuples pushed before them. */
static void receive_controls(gale_io_t *io, uint32_t peer, const char *p, size_t len)
{
    gale_runtime_t *rt = io->rt;
    if (len % GALE_FRAME_CONTROL_RECORD) {
        gale_logf(GALE_LOG_WARN, "worker", "peer %u sent a CONTROL frame of %zu bytes: dropped", peer, len);
        return;
    }
    for (; len; p += GALE_FRAME_CONTROL_RECORD, len -= GALE_FRAME_CONTROL_RECORD) {
        gale_control_t in;
        if (gale_frame_get_control(rt->n_all_tasks, p, &in) || rt->task_exec[in.to] >= rt->n_execs) {
            gale_logf(GALE_LOG_WARN, "worker", "peer %u sent a control item that is not for a task here: dropped",
                      peer);
            continue;
        }
        gale_control_t *c = malloc(sizeof *c);
        if (!c) { /* that checkpoint cannot complete: the supervisor gives it up */
            gale_logf(GALE_LOG_ERROR, "worker", "out of memory taking a control item (kind %u) from a peer: dropped",
                      in.kind);
            continue;
        }
        *c = in;
        gale_lanes_send(&io->out, rt->task_exec[in.to], gale_item_make(c, GALE_ITEM_CONTROL));
    }
}

static size_t waiting_for_executors(const gale_io_t *io) { return io->out.n_pending; }

/* A peer's word on its bolts: while any peer is behind, our spouts wait, as they do for our own executors. */
static void set_holding(gale_io_t *io, int w, bool hold)
{
    if (io->holding[w] == hold) return;
    io->holding[w] = hold;
    if (atomic_fetch_add(&io->rt->peer_pressure, hold ? 1 : -1) == 1 && !hold)
        for (int c = 0; c < io->rt->n_execs; c++) gale_executor_wake(&io->rt->execs[c]); /* their spouts sleep */
}

static void tell_pressure(gale_io_t *io, int w)
{
    gale_buf_t b = {0};
    size_t start = gale_frame_begin(&b, GALE_FRAME_PRESSURE);
    gale_buf_put(&b, io->pressing ? "\1" : "\0", 1);
    gale_frame_end(&b, start);
    /* A peer that is down hears it when it connects (on_peer). */
    if (!b.failed) gale_transport_send(io->transport, peer_id(w), b.p, b.len);
    gale_buf_free(&b);
}

/* Our bolts are behind when an executor is over its rings or the network brought more than they take: then every
   peer's spouts wait too (Storm's backpressure across workers), or a peer's spouts would fill our queues without
   bound while ours are held. */
static void update_pressure(gale_io_t *io, size_t waiting)
{
    bool now = atomic_load_explicit(&io->rt->congested, memory_order_relaxed) > 0 || waiting > RECV_HIGH;
    if (now == io->pressing) return;
    io->pressing = now;
    for (int w = 0; w < io->n_workers; w++)
        if (w != io->self) tell_pressure(io, w);
}

static void on_frame(void *arg, uint32_t peer, const gale_frame_t *f)
{
    gale_io_t *io = arg;
    gale_runtime_t *rt = io->rt;
    if (f->type == GALE_FRAME_PRESSURE) {
        if (f->len == 1 && peer >= 1 && peer <= (uint32_t)io->n_workers) set_holding(io, (int)peer - 1, f->payload[0] != 0);
        else gale_logf(GALE_LOG_WARN, "worker", "peer %u sent a malformed PRESSURE frame: ignored", peer);
        return;
    }
    if (f->type == GALE_FRAME_REASON) {
        uint32_t id;
        const char *text;
        size_t len;
        if (gale_frame_get_reason(f->payload, f->len, &id, &text, &len))
            gale_logf(GALE_LOG_WARN, "worker", "peer %u sent a malformed REASON frame: ignored", peer);
        else gale_reasons_put_id(rt->reasons, id, text, len);
        return;
    }
    if (f->type == GALE_FRAME_OPS) {
        receive_ops(io, peer, f->payload, f->len);
    } else if (f->type == GALE_FRAME_CONTROL) {
        receive_controls(io, peer, f->payload, f->len);
    } else {
        const char *p = f->payload;
        size_t left = f->len;
        while (left) {
            gale_tuple_t *dlv;
            if (gale_frame_get_tuple(rt->topo, &p, &left, &dlv)) {
                gale_logf(GALE_LOG_WARN, "worker", "peer %u sent a malformed tuple record: rest of the frame dropped", peer);
                break;
            }
            io->recv++;
            if (rt->task_exec[dlv->task] >= rt->n_execs) { /* not ours: a stale assignment */
                gale__tuple_release(dlv->data);
                continue;
            }
            gale_lanes_send(&io->out, rt->task_exec[dlv->task], dlv);
        }
    }
    flush_executors(io);
    /* Checked after every frame, not only once per pump: libuv reads a socket many times per wake, and one wake's
       worth can be hundreds of thousands of tuples. */
    if (waiting_for_executors(io) > RECV_HIGH) gale_transport_pause(io->transport, true);
}

static void on_peer(void *arg, uint32_t peer, bool up)
{
    gale_io_t *io = arg;
    /* Once the run is ending (spouts deactivated, bolts finishing, stopping), peers that leave first are expected:
       said at debug level, not as a warning on every clean stop. */
    bool ending = atomic_load(&io->rt->phase) != GALE_RUN_RUNNING || atomic_load(&io->rt->finish_seq) > 0;
    gale_logf(up || ending ? GALE_LOG_DEBUG : GALE_LOG_WARN, "worker", "peer worker %u is %s", peer - 1,
              up ? "up" : "down");
    if (peer < 1 || peer > (uint32_t)io->n_workers) return;
    if (!up) set_holding(io, (int)peer - 1, false); /* a worker that is gone holds nobody back */
    else if (io->pressing) tell_pressure(io, (int)peer - 1);
}

/* ---- the loop ----------------------------------------------------------------------------------------------- */

static bool peers_backed_up(const gale_io_t *io)
{
    for (int w = 0; w < io->n_workers; w++)
        if (w != io->self && gale_transport_queued(io->transport, peer_id(w)) > SEND_HIGH) return true;
    return false;
}


static void pump(gale_io_t *io)
{
    /* Leaving the lanes full makes the executors' outboxes overflow, and then every spout here waits: the same
       backpressure as between threads, now across processes. */
    if (!peers_backed_up(io)) drain_executors(io);
    flush_peers(io);
    gale__pool_flush_returns(&io->pool);
    flush_executors(io);
    size_t waiting = waiting_for_executors(io);
    if (waiting > RECV_HIGH) gale_transport_pause(io->transport, true);
    else if (waiting < RECV_LOW) gale_transport_pause(io->transport, false);
    update_pressure(io, waiting);
}

static void on_wake(uv_async_t *h) { pump(h->data); }

static bool peers_up(const gale_io_t *io)
{
    for (int w = 0; w < io->n_workers; w++)
        if (w != io->self && !gale_transport_peer_up(io->transport, peer_id(w))) return false;
    return true;
}

/* The figures, as `gale run --stats` writes them, in one STATS line: every metrics_interval_s while it runs (the
   supervisor keeps the last), and once more at the end. */
static void tell_metrics(gale_io_t *io)
{
    char *json = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&json, &len);
    if (!f) return;
    gale_runtime_metrics_json(io->rt, f);
    fclose(f);
    if (json && len && json[len - 1] == '\n') json[len - 1] = '\0';
    tell(&(gale_control_msg_t){.kind = GALE_CTL_STATS, .text = json ? json : "{}"});
    free(json);
    io->metrics_ms = uv_now(io->loop);
}

/* Says when the lease ran out (the executors stopped taking tuples: executor.c) and when it came back. uv_hrtime
   is CLOCK_MONOTONIC, the clock of the lease. */
static void watch_lease(gale_io_t *io)
{
    uint64_t until = atomic_load_explicit(&io->rt->lease_until_ns, memory_order_relaxed);
    bool over = until && uv_hrtime() >= until;
    if (over == io->fenced) return;
    io->fenced = over;
    if (over)
        gale_logf(GALE_LOG_WARN, "worker",
                  "worker %d: its lease ran out (its supervisor may have lost ZooKeeper, "
                  "and its slot may run elsewhere): it takes no tuples until the lease is renewed",
                  io->self);
    else gale_logf(GALE_LOG_INFO, "worker", "worker %d: its lease was renewed: it takes tuples again", io->self);
}

static void on_tick(uv_timer_t *h)
{
    gale_io_t *io = h->data;
    /* Starting before every peer is connected would drop the first tuples for them. */
    if (io->start_asked && !io->started && peers_up(io)) {
        io->started = true;
        io->metrics_ms = uv_now(io->loop);
        gale__runtime_start(io->rt);
    }
    pump(io);
    if (io->rt->ctl && ++io->ticks % STATUS_EVERY == 0) {
        report_positions(io); /* first: trees the status counts as replayable are covered by a position told */
        report_status(io);
    }
    if (io->started && uv_now(io->loop) - io->metrics_ms >= (uint64_t)io->rt->topo->config.metrics_interval_s * 1000)
        tell_metrics(io);
    watch_lease(io);
}

static void handle_command(void *arg, char *line)
{
    gale_io_t *io = arg;
    gale_runtime_t *rt = io->rt;
    gale_control_msg_t m;
    char why[160];
    if (gale_control_parse(line, &m, why, sizeof why)) {
        gale_logf(GALE_LOG_WARN, "worker", "from the supervisor: %s", why);
        return;
    }
    switch (m.kind) {
    case GALE_CTL_PEERS: {
        size_t pos = 0;
        char host[GALE_CONTROL_ADDR_MAX];
        int port, rc;
        uint64_t placement;
        for (int w = 0;
             w < io->n_workers && (rc = gale_control_next_peer(m.text, &pos, host, sizeof host, &port, &placement));
             w++) {
            if (rc < 0) {
                gale_logf(GALE_LOG_WARN, "worker", "from the supervisor: a malformed address for worker %d", w);
                continue;
            }
            bool moved = port != io->ports[w] || strcmp(host, io->hosts[w]);
            /* by convention the lower index dials: one connection per pair */
            if (w > io->self && port > 0 && moved) gale_transport_connect(io->transport, peer_id(w), host, port);
            io->ports[w] = port;
            snprintf(io->hosts[w], sizeof io->hosts[w], "%s", host);
            /* Placed anew (cluster mode: its host was lost): the old copy, if it wakes up, is not let back in. */
            if (w != io->self && placement > io->placements[w]) {
                if (io->placements[w])
                    gale_logf(GALE_LOG_INFO, "worker",
                              "worker %d: worker %d was placed anew (placement %" PRIu64 "): its connections of "
                              "placement %" PRIu64 " are refused from now on",
                              io->self, w, placement, io->placements[w]);
                io->placements[w] = placement;
                gale_transport_fence(io->transport, peer_id(w), placement);
            }
        }
        break;
    }
    case GALE_CTL_RESUME: { /* this is a restart: the replayable spouts resume where the last life left off */
        size_t pos = 0;
        uint32_t task;
        uint64_t position;
        while (gale_control_next_position(m.text, &pos, &task, &position) > 0) {
            int rc = gale__runtime_resume(rt, task, position);
            if (rc)
                gale_logf(GALE_LOG_WARN, "worker", "cannot resume task %u from %" PRIu64 ": %s", task, position,
                          gale_strerror(rc));
            else
                gale_logf(GALE_LOG_INFO, "worker", "task %u resumes from position %" PRIu64, task, position);
        }
        break;
    }
    case GALE_CTL_START: io->start_asked = true; break; /* the executors start once every peer is connected */
    case GALE_CTL_DEACTIVATE: gale__runtime_deactivate(rt); break;
    case GALE_CTL_ACTIVE: gale__runtime_set_active(rt, m.number != 0); break;
    case GALE_CTL_LEASE: gale__runtime_set_lease(rt, m.until_ns); break;
    case GALE_CTL_SWAP: {
        char text[1024];
        bool done = gale_worker_swap(rt, &io->swaps, m.text, text, sizeof text);
        tell(&(gale_control_msg_t){.kind = GALE_CTL_SWAPPED, .number = done, .text = text});
        break;
    }
    case GALE_CTL_FINISH:
        if ((size_t)m.number < rt->topo->n_components) gale__runtime_finish_component(rt, m.number);
        else gale_logf(GALE_LOG_WARN, "worker", "from the supervisor: finish of component %d, which is not there", m.number);
        break;
    case GALE_CTL_STOP: gale__runtime_stop(rt); break;
    case GALE_CTL_CHECKPOINT: gale__checkpointer_begin(rt->ckpt, m.id); break;
    case GALE_CTL_COMMIT: gale__checkpointer_end(rt->ckpt, m.id, true); break;
    case GALE_CTL_ABORT: gale__checkpointer_end(rt->ckpt, m.id, false); break;
    default: gale_logf(GALE_LOG_WARN, "worker", "from the supervisor: a worker's message"); break;
    }
}

static void on_ctl_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    gale_io_t *io = h->data;
    buf->base = gale_lines_space(&io->lines, &buf->len);
}

static void on_ctl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    gale_io_t *io = s->data;
    if (n < 0) { /* the supervisor is gone: a worker never outlives it */
        gale_logf(GALE_LOG_WARN, "worker", "lost the supervisor: stopping");
        uv_read_stop(s);
        gale__runtime_stop(io->rt);
        return;
    }
    if (gale_lines_took(&io->lines, (size_t)n, handle_command, io))
        gale_logf(GALE_LOG_ERROR, "worker", "a line from the supervisor over %u bytes was dropped", GALE_CONTROL_LINE_MAX);
}

static void send_returns(void *arg, int lane, void *batch)
{
    gale_io_t *io = arg;
    gale_lanes_send(&io->out, lane, gale_item_make(batch, GALE_ITEM_RETURNS));
}

/* Plugs the lane in: each executor's outbox for lane n_execs into our ring from it, ours into theirs. */
static void connect_lanes(gale_io_t *io)
{
    gale_runtime_t *rt = io->rt;
    for (int c = 0; c < rt->n_execs; c++) {
        gale_lanes_connect(&rt->execs[c].out, rt->n_execs, &io->in[c], wake_io, io);
        gale_lanes_connect(&io->out, c, &rt->execs[c].in[rt->n_execs], gale_executor_wake_if_sleeping, &rt->execs[c]);
    }
}

static int io_start(gale_runtime_t *rt, uv_loop_t *loop, void *arg)
{
    gale_worker_opts_t *o = arg;
    gale_io_t *io = calloc(1, sizeof *io);
    if (!io) return GALE_ENOMEM;
    o->io = io;
    io->rt = rt;
    io->opts = o;
    io->loop = loop;
    io->line = malloc(GALE_CONTROL_LINE_MAX);
    if (!io->line) {
        free(io);
        return GALE_ENOMEM;
    }
    io->lines = (gale_lines_t){.buf = io->line, .cap = GALE_CONTROL_LINE_MAX};
    io->self = rt->opts.worker_index;
    io->n_workers = rt->opts.n_workers;
    io->in = calloc((size_t)rt->n_execs, sizeof *io->in);
    io->tuples = calloc((size_t)io->n_workers, sizeof *io->tuples);
    io->ops = calloc((size_t)io->n_workers, sizeof *io->ops);
    io->n_tuples = calloc((size_t)io->n_workers, sizeof *io->n_tuples);
    io->n_ops = calloc((size_t)io->n_workers, sizeof *io->n_ops);
    io->holding = calloc((size_t)io->n_workers, sizeof *io->holding);
    io->ports = calloc((size_t)io->n_workers, sizeof *io->ports);
    io->placements = calloc((size_t)io->n_workers, sizeof *io->placements);
    io->hosts = calloc((size_t)io->n_workers, sizeof *io->hosts);
    io->cap_pos = rt->n_spout_tasks;
    io->pos_tasks = calloc(io->cap_pos + 1, sizeof *io->pos_tasks);
    io->told_tasks = calloc(io->cap_pos + 1, sizeof *io->told_tasks);
    io->pos_values = calloc(io->cap_pos + 1, sizeof *io->pos_values);
    io->told_values = calloc(io->cap_pos + 1, sizeof *io->told_values);
    if (gale_lanes_init(&io->out, rt->n_execs, &io->pushed, "worker")) return GALE_ENOMEM;
    io->lanes_ready = true;
    if (!io->in || !io->tuples || !io->ops || !io->n_tuples || !io->n_ops || !io->holding || !io->ports || !io->hosts ||
        !io->placements || !io->pos_tasks || !io->told_tasks || !io->pos_values || !io->told_values)
        return GALE_ENOMEM;
    for (int p = 0; p < rt->n_execs; p++)
        if (gale_ring_init(&io->in[p], 4096)) return GALE_ENOMEM;
    connect_lanes(io);
    if (gale__pool_init(&io->pool, rt->n_execs, rt->n_lanes, send_returns, io)) return GALE_ENOMEM;
    io->pool_ready = true;
    gale__pool_bind(&io->pool); /* this thread runs the loop, and so the lane */
    gale_transport_cb_t cb = {on_frame, on_peer};
    int rc = gale_transport_new(loop, peer_id(io->self), o->secret, o->secret_len, 0, &cb, io, &io->transport);
    int port = 0;
    if (!rc) gale_transport_set_placement(io->transport, o->placement);
    if (!rc && o->tls) gale_transport_set_tls(io->transport, o->tls);
    if (!rc) rc = gale_transport_listen(io->transport, o->listen_host ? o->listen_host : "127.0.0.1", 0, &port);
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "worker", "cannot start the transport: %s", gale_strerror(rc < 0 ? rc : GALE_EIO));
        return rc < 0 ? rc : GALE_EIO;
    }
    uv_async_init(loop, &io->wake, on_wake);
    uv_timer_init(loop, &io->tick);
    uv_pipe_init(loop, &io->ctl, 0);
    io->handles = true;
    io->wake.data = io->tick.data = io->ctl.data = io;
    if ((rc = uv_pipe_open(&io->ctl, GALE_CONTROL_FD)) || (rc = uv_read_start((uv_stream_t *)&io->ctl, on_ctl_alloc, on_ctl_read)))
        return rc;
    uv_timer_start(&io->tick, on_tick, PUMP_MS, PUMP_MS);
    tell(&(gale_control_msg_t){.kind = GALE_CTL_PORT, .number = port});
    return 0;
}

static void on_closed(uv_handle_t *h) { (void)h; }

/* Sends the metrics and closes the lane's handles (freed by io_free once the loop has run their close callbacks). */
static void io_stop(gale_runtime_t *rt, void *arg)
{
    gale_io_t *io = ((gale_worker_opts_t *)arg)->io;
    if (!io) return;
    pump(io);
    tell_metrics(io);
    /* Closed here, freed by io_free once the loop has run their close callbacks. */
    if (io->transport) gale_transport_close(io->transport);
    io->transport = NULL;
    if (io->handles) {
        uv_close((uv_handle_t *)&io->wake, on_closed);
        uv_close((uv_handle_t *)&io->tick, on_closed);
        uv_close((uv_handle_t *)&io->ctl, on_closed);
    }
}

static void io_free(gale_runtime_t *rt, void *arg)
{
    gale_worker_opts_t *o = arg;
    gale_io_t *io = o->io;
    if (!io) return;
    gale__pool_bind(NULL); /* from here, what is released is freed */
    for (int p = 0; io->in && p < rt->n_execs; p++) {
        void *item;
        while (io->in[p].slots && gale_ring_pop(&io->in[p], &item, 1)) gale_item_release(item);
        gale_ring_destroy(&io->in[p]);
    }
    if (io->lanes_ready) gale_lanes_destroy(&io->out);
    for (int w = 0; io->tuples && io->ops && w < io->n_workers; w++) {
        gale_buf_free(&io->tuples[w]);
        gale_buf_free(&io->ops[w]);
    }
    if (io->pool_ready) gale__pool_destroy(&io->pool);
    gale_swaps_free(&io->swaps); /* every task is closed: the executors were joined */
    free(io->in), free(io->tuples), free(io->ops);
    free(io->n_tuples), free(io->n_ops), free(io->holding), free(io->ports), free(io->placements), free(io->hosts),
        free(io->line);
    free(io->pos_tasks), free(io->told_tasks), free(io->pos_values), free(io->told_values);
    free(io);
    o->io = NULL;
}

/* This worker's part of a checkpoint, to the supervisor, which completes the checkpoint once every worker's is. */
static void io_checkpointed(gale_runtime_t *rt, void *arg, uint64_t id, int rc, uint64_t bytes, const char *why)
{
    (void)rt, (void)arg;
    char text[600];
    if (rc) { /* one line: the reason must not carry a newline */
        snprintf(text, sizeof text, "%s", why ? why : gale_strerror(rc));
        for (char *q = text; *q; q++)
            if (*q == '\n') *q = ' ';
    }
    tell(&(gale_control_msg_t){
        .kind = GALE_CTL_CHECKPOINTED, .id = id, .number = !rc, .bytes = bytes, .text = rc ? text : NULL});
}

gale_runtime_driver_t gale_worker_driver(gale_worker_opts_t *o)
{
    return (gale_runtime_driver_t){
        .start = io_start, .stop = io_stop, .free = io_free, .checkpointed = io_checkpointed, .arg = o};
}
