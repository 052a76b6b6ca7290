#include "executor.h"

#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "barrier.h"
#include "emit.h"
#include "log.h"
#include "runtime.h"
#include "service.h"
#include "spout.h"
#include "watermark.h"
#include "window.h"

/* How many next_tuple calls one spout gets per loop turn, and how long an executor whose spouts have nothing
   sleeps (Storm's spout wait strategy), or one with nothing at all (it is woken when work arrives). */
#define SPOUT_BURST 256
#define SPOUT_IDLE_NS 1000000L
#define IDLE_NS 50000000L
#define PENDING_RETRY_NS 20000L
/* How long an executor polls for work before it sleeps. */
#define SPIN_NS 50000ull
/* One in this many executes is timed: a clock read costs as much as a small bolt. */
#define EXEC_SAMPLE_MASK 63u
/* How often spouts look for timed-out trees, and how long an executor with open trees may sleep. */
#define TIMEOUT_SCAN_NS 100000000ull
#define OPEN_TREES_IDLE_NS 10000000L
/* How often a fenced executor looks whether its lease is back. */
#define FENCED_NAP_NS 1000000L

static bool inputs_waiting(gale_executor_t *e);
static size_t flush_all(gale_executor_t *e);

/* Cluster mode's fence (runtime.h, lease_until_ns): past the lease its supervisor last renewed, this process runs
   no plugin code that takes or makes tuples. Looked at before each tuple, not only each turn, since a process
   stopped (SIGSTOP, a hung host) in the middle of a batch goes on with it when resumed, long after its slots were
   given to another host. The coarse clock costs a few nanoseconds, and only while there is a lease. */
static inline bool lease_over(const gale_executor_t *e)
{
    if (!e->lease_ns) return false;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec >= e->lease_ns;
}

static void futex_wait(atomic_uint *addr, unsigned val, long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(atomic_uint *addr) { syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

static void nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

static void send_returns(void *arg, int lane, void *batch)
{
    gale_executor_t *e = arg;
    gale_lanes_send(&e->out, lane, gale_item_make(batch, GALE_ITEM_RETURNS));
}

int gale_executor_init(gale_executor_t *e, gale_runtime_t *rt, int index, int n_lanes, size_t ring_capacity)
{
    memset(e, 0, sizeof *e);
    e->rt = rt;
    e->index = index;
    e->in = calloc((size_t)n_lanes, sizeof *e->in);
    if (!e->in || gale_lanes_init(&e->out, n_lanes, &e->pushed, "runtime") ||
        gale__pool_init(&e->pool, index, n_lanes, send_returns, e))
        return GALE_ENOMEM;
    for (int p = 0; p < n_lanes; p++) {
        if (p == index) continue; /* an executor never sends itself tuples through a ring */
        if (gale_ring_init(&e->in[p], ring_capacity)) return GALE_ENOMEM;
    }
    atomic_init(&e->wake_seq, 0);
    atomic_init(&e->sleeping, 0);
    atomic_init(&e->pushed, 0);
    atomic_init(&e->popped, 0);
    atomic_init(&e->epoch, 0);
    atomic_init(&e->idle, 0);
    atomic_init(&e->replayable, 0);
    atomic_init(&e->rewinding, 0);
    return 0;
}

void gale_executor_destroy(gale_executor_t *e, int n_lanes)
{
    if (e->in) {
        for (int p = 0; p < n_lanes; p++) {
            if (!e->in[p].slots) continue;
            void *item;
            while (gale_ring_pop(&e->in[p], &item, 1)) gale_item_release(item);
            gale_ring_destroy(&e->in[p]);
        }
    }
    for (size_t i = 0; i < e->n_held; i++) gale_item_release(e->held[i]);
    e->n_held = 0;
    gale_lanes_destroy(&e->out);
    gale__pool_destroy(&e->pool);
    free(e->local_ops.v);
    free(e->in);
    free(e->tasks);
    free(e->scratch);
    e->scratch = NULL;
    e->in = NULL;
    e->tasks = NULL;
}

void gale_executor_wake(gale_executor_t *e)
{
    atomic_fetch_add_explicit(&e->wake_seq, 1, memory_order_release);
    futex_wake(&e->wake_seq);
}

void gale__task_want_service(gale_task_t *t)
{
    gale_executor_t *e = t->exec;
    if (atomic_exchange_explicit(&t->service_wanted, true, memory_order_acq_rel)) return; /* already asked */
    /* seq_cst against idle_wait's store of `sleeping` and load of `services_wanted`: one of us sees the other. */
    atomic_store(&e->services_wanted, true);
    if (atomic_load(&e->sleeping)) gale_executor_wake(e);
}

static size_t run_services(gale_executor_t *e)
{
    if (!atomic_load_explicit(&e->services_wanted, memory_order_acquire)) return 0;
    atomic_store_explicit(&e->services_wanted, false, memory_order_release);
    size_t ran = 0;
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (!t->service || !t->opened || !atomic_exchange_explicit(&t->service_wanted, false, memory_order_acq_rel))
            continue;
        ran += t->service(t);
    }
    return ran;
}

void gale_executor_wake_if_sleeping(void *arg)
{
    gale_executor_t *consumer = arg;
    if (atomic_load_explicit(&consumer->sleeping, memory_order_relaxed)) gale_executor_wake(consumer);
}

void gale_executor_connect(gale_executor_t *e)
{
    gale_runtime_t *rt = e->rt;
    for (int c = 0; c < rt->n_execs; c++)
        if (c != e->index)
            gale_lanes_connect(&e->out, c, &rt->execs[c].in[e->index], gale_executor_wake_if_sleeping, &rt->execs[c]);
}

static size_t flush_all(gale_executor_t *e) { return gale_lanes_flush_all(&e->out); }

void gale__executor_flush(gale_executor_t *e) { flush_all(e); }

/* While checkpoint barriers align, a task holds what its aligned inputs send; past this the spouts wait, so that
   what is held stays bounded by what was in flight. */
#define ALIGN_HELD_MAX 4096

/* Backpressure: an executor that holds more than its rings take tells every spout to wait. */
static void update_congestion(gale_executor_t *e)
{
    bool now = e->out.n_pending > 0 || e->align_held > ALIGN_HELD_MAX;
    if (now == e->congested) return;
    e->congested = now;
    /* Only at a change: a turn's own clock, no call of its own. */
    uint64_t since = atomic_load_explicit(&e->congested_since, memory_order_relaxed);
    if (now) atomic_store_explicit(&e->congested_since, e->now_ns ? e->now_ns : 1, memory_order_relaxed);
    else if (since) {
        atomic_fetch_add_explicit(&e->congested_ns, e->now_ns > since ? e->now_ns - since : 0, memory_order_relaxed);
        atomic_store_explicit(&e->congested_since, 0, memory_order_relaxed);
    }
    int before = atomic_fetch_add_explicit(&e->rt->congested, now ? 1 : -1, memory_order_relaxed);
    /* The last congestion cleared: spouts that were held back sleep, so wake them rather than let a whole
       spout-wait period go by with empty rings. */
    if (!now && before == 1)
        for (int c = 0; c < e->rt->n_execs; c++)
            if (c != e->index) gale_executor_wake(&e->rt->execs[c]);
}

/* Out of line: inlined, the lane's queueing made the local path of gale__dispatch (a direct call, the most common
   one) spill registers, 4 instructions a tuple more. */
__attribute__((noinline)) static void send_to_lane(gale_executor_t *from, int c, gale_tuple_t *dlv)
{
    gale_lanes_send(&from->out, c, dlv);
}

void gale__dispatch(gale_executor_t *from, gale_tuple_t *dlv)
{
    gale_runtime_t *rt = from->rt;
    int c = rt->task_exec[dlv->task];
    if (c == from->index) gale__execute(rt->tasks[dlv->task], dlv);
    else send_to_lane(from, c, dlv);
}

static void opvec_push(gale_executor_t *e, const gale_op_t *op)
{
    gale_opvec_t *v = &e->local_ops;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        gale_op_t *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) {
            gale_logf(GALE_LOG_ERROR, "runtime", "out of memory queueing an op: dropped (its tree will time out)");
            return;
        }
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = *op;
}

void gale__send_op(gale_executor_t *from, const gale_op_t *op)
{
    int c = from->rt->task_exec[op->task];
    if (c == from->index) {
        if (!gale_op_merge_ack(from->local_ops.v, from->local_ops.n, op)) opvec_push(from, op);
        return;
    }
    gale_lanes_op(&from->out, c, op);
}

/* Applies one op to the task it is for: an acker's XOR, or a spout's tree outcome. */
static void apply_op(gale_executor_t *e, const gale_op_t *op)
{
    gale_task_t *t = e->rt->tasks[op->task];
    if (t->acker) {
        gale_op_t out;
        uint32_t dropped;
        t->m.executed++;
        if (gale_acker_apply(t->acker, op, e->now_ns, &out, &dropped) == 1) gale__send_op(e, &out);
        if (dropped) free(gale_reasons_take(e->rt->reasons, dropped)); /* a second FAIL's: nobody reads it */
        return;
    }
    if (t->comp->kind == GALE_SPOUT && t->opened) gale__spout_op(t, op, e->now_ns);
}

/* Local ops are applied here, between tasks, so that no plugin callback runs inside another's. Applying one can
   queue more (an acker's answer to a spout of this executor): loop until none is left. */
static size_t apply_local_ops(gale_executor_t *e)
{
    size_t done = 0;
    while (e->local_ops.n) {
        size_t n = e->local_ops.n;
        gale_op_t batch[GALE_OP_BATCH];
        if (n > GALE_OP_BATCH) n = GALE_OP_BATCH;
        e->local_ops.n -= n;
        memcpy(batch, e->local_ops.v + e->local_ops.n, n * sizeof *batch);
        for (size_t i = 0; i < n; i++) apply_op(e, &batch[i]);
        done += n;
    }
    return done;
}

/* Processing time: the window's next due time, and the executor's next timer if it is sooner. */
static void note_window_due(gale_task_t *t)
{
    t->win_due_ns = gale__window_due_ns(t);
    if (t->win_due_ns < t->exec->next_tick_ns) t->exec->next_tick_ns = t->win_due_ns;
}

static void execute_timed(gale_task_t *t, gale_tuple_t *in, int *rc)
{
    if ((++t->sample & EXEC_SAMPLE_MASK) == 0) {
        uint64_t t0 = gale_now_ns();
        t->sample_in = in, t->sample_start_ns = t0; /* a kept input sampled before, still unacked, is let go */
        *rc = t->desc->bolt.execute(&t->base.pub, in);
        gale_hist_add(&t->m.exec, gale_now_ns() - t0);
    } else {
        *rc = t->desc->bolt.execute(&t->base.pub, in);
    }
}

void gale__execute(gale_task_t *t, gale_tuple_t *in)
{
    int rc;
    if (!t->opened) { /* its prepare failed (the run is stopping) or has not run: never call into it */
        gale__tuple_release(in->data);
        return;
    }
    if (gale__align_holds(t, in)) return; /* its input's checkpoint barrier came first: it waits for the others */
    gale_tuple_t *outer = t->current; /* non-NULL only if a finish or a nested call is under way */
    if (in->data->origin_ns) gale_hist_add(&t->m.e2e, gale_now_ns() - in->data->origin_ns);
    __atomic_store_n(&t->current, in, __ATOMIC_RELAXED); /* read by the control thread to name a stuck task */
    if (__builtin_expect(t->win != NULL, 0)) {           /* the window keeps it, or settles it now */
        gale__window_execute(t, in);
        t->m.executed++;
        if (t->win_clock) note_window_due(t);
        __atomic_store_n(&t->current, outer, __ATOMIC_RELAXED);
        if (t->sample_in == in) t->sample_in = NULL;
        if (!(in->state & GALE_DLV_KEPT)) gale__tuple_release(in->data);
        return;
    }
    execute_timed(t, in, &rc);
    t->m.executed++;
    if (rc != 0) gale__task_error(t, "execute failed: %s (%d)", gale_strerror(rc), rc);
    /* Settled while still current: after that, the input is no longer the bolt's to settle. */
    if (t->basic && !(in->state & (GALE_DLV_ACKED | GALE_DLV_FAILED))) {
        if (!t->rt->acking && !(in->state & GALE_DLV_KEPT)) { /* nothing to tell anyone: just count it */
            in->state |= rc == 0 ? GALE_DLV_ACKED : GALE_DLV_FAILED;
            if (rc == 0) t->m.acked++, gale__task_acked(t, in);
            else t->m.failed++;
        } else if (rc == 0) {
            gale__ack(&t->base.pub, in);
        } else {
            gale__fail(&t->base.pub, in);
        }
    }
    __atomic_store_n(&t->current, outer, __ATOMIC_RELAXED);
    if (t->sample_in == in && !(in->state & GALE_DLV_KEPT)) t->sample_in = NULL; /* failed, or never acked */
    if (!(in->state & GALE_DLV_KEPT)) gale__tuple_release(in->data);
}

/* Runs buf[0..n): deliveries executed, op batches applied, returned blocks taken back. Past the lease, what is
   left waits in e->held for the lease to come back. How many it ran. */
static size_t run_items(gale_executor_t *e, void **buf, size_t n)
{
    gale_runtime_t *rt = e->rt;
    for (size_t i = 0; i < n; i++) {
        if (lease_over(e)) {
            memmove(e->held, buf + i, (n - i) * sizeof *buf);
            e->n_held = n - i;
            return i;
        }
        switch (gale_item_kind(buf[i])) {
        case GALE_ITEM_DELIVERY: {
            gale_tuple_t *dlv = buf[i];
            gale__execute(rt->tasks[dlv->task], dlv);
            break;
        }
        case GALE_ITEM_OPS: {
            gale_op_batch_t *b = gale_item_ptr(buf[i]);
            for (uint32_t k = 0; k < b->n; k++) apply_op(e, &b->ops[k]);
            free(b);
            break;
        }
        case GALE_ITEM_RETURNS: gale__pool_take_back(&e->pool, gale_item_ptr(buf[i])); break;
        case GALE_ITEM_CONTROL: gale__control_in(e, gale_item_ptr(buf[i])); break;
        }
    }
    return n;
}

static size_t drain_inputs(gale_executor_t *e)
{
    gale_runtime_t *rt = e->rt;
    void *buf[GALE_BATCH];
    size_t total = 0;
    if (e->n_held) { /* what the fence held, first and in order */
        size_t n = e->n_held;
        memcpy(buf, e->held, n * sizeof *buf);
        e->n_held = 0;
        total += run_items(e, buf, n) + apply_local_ops(e);
        if (e->n_held) return total;
    }
    for (int p = 0; p < rt->n_lanes; p++) {
        if (p == e->index) continue;
        size_t n = gale_ring_pop(&e->in[p], buf, GALE_BATCH);
        if (!n) continue;
        atomic_store_explicit(&e->popped, atomic_load_explicit(&e->popped, memory_order_relaxed) + n,
                              memory_order_release);
        total += run_items(e, buf, n);
        total += apply_local_ops(e);
        if (e->n_held) break;
    }
    return total;
}

static void ack_due(gale_task_t *t)
{
    for (size_t i = 0; i < t->acks_due.n; i++) {
        t->m.acked++;
        if (t->desc->spout.ack) t->desc->spout.ack(&t->base.pub, t->acks_due.v[i]);
    }
    t->acks_due.n = 0;
}

/* Backpressure holds every spout of the process: an executor here is over its rings, or a peer worker is behind. */
static bool spouts_held(const gale_runtime_t *rt)
{
    return atomic_load_explicit(&rt->congested, memory_order_relaxed) ||
           atomic_load_explicit(&rt->peer_pressure, memory_order_relaxed);
}

static bool spouts_may_run(gale_executor_t *e)
{
    return atomic_load_explicit(&e->rt->phase, memory_order_relaxed) == GALE_RUN_RUNNING && !spouts_held(e->rt);
}

static bool has_live_spouts(gale_executor_t *e)
{
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (t->comp->kind == GALE_SPOUT && t->active && !t->done) return true;
    }
    return false;
}

static size_t run_spouts(gale_executor_t *e)
{
    size_t emitted = 0;
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (t->comp->kind != GALE_SPOUT || !t->active || t->done) continue;
        for (int k = 0; k < SPOUT_BURST && !t->done && gale__spout_may_emit(t) && !lease_over(e); k++) {
            uint64_t before = t->m.emitted;
            int rc = t->desc->spout.next_tuple(&t->base.pub);
            if (rc) gale__task_error(t, "next_tuple failed: %s (%d)", gale_strerror(rc), rc);
            if (t->acks_due.n) ack_due(t);
            if (t->m.emitted == before) break;
            emitted += t->m.emitted - before;
            if (e->congested || spouts_held(e->rt)) break;
        }
        emitted += apply_local_ops(e);
    }
    return emitted;
}

/* ---- tick tuples ---------------------------------------------------------------------------------------- */

/* Bolts with a tick_s get a tuple (rate_secs) from __system on stream __tick that often, as Storm's tick tuples,
   executed on their own executor between batches like any input. Untracked (no tree), so acking or failing one
   does nothing, and anchoring to one anchors to nothing. They stop once the spouts are deactivated: a drain must be
   able to see the topology go quiet, and a bolt flushes what it holds in finish. */
/* The executor's next timer: a tick tuple, a processing-time window (window.h), a watermark to send
   (watermark.h). */
static void schedule_ticks(gale_executor_t *e)
{
    e->next_tick_ns = UINT64_MAX;
    bool running = atomic_load_explicit(&e->rt->phase, memory_order_relaxed) == GALE_RUN_RUNNING;
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (!t->opened) continue;
        if (t->tick_ns && running && t->next_tick_ns < e->next_tick_ns) e->next_tick_ns = t->next_tick_ns;
        if (t->win_clock && t->win_due_ns < e->next_tick_ns) e->next_tick_ns = t->win_due_ns;
        if (t->wm_out) {
            uint64_t due = gale__watermarks_due_ns(t);
            if (due < e->next_tick_ns) e->next_tick_ns = due;
        }
    }
}

/* Windows the clock closed, and watermarks due; in any phase, as a drain waits on what they settle. */
static size_t run_window_timers(gale_executor_t *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (!t->opened) continue;
        if (t->win_clock && t->win_due_ns <= e->now_ns) {
            n += gale__window_clock(t);
            t->win_due_ns = gale__window_due_ns(t);
        }
        if (t->wm_out) n += gale__watermarks_send(t, e->now_ns);
    }
    return n;
}

static size_t deliver_ticks(gale_executor_t *e)
{
    size_t n = e->has_window_timers ? run_window_timers(e) : 0;
    if (atomic_load_explicit(&e->rt->phase, memory_order_relaxed) != GALE_RUN_RUNNING) {
        schedule_ticks(e);
        return n;
    }
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (!t->tick_ns || !t->opened || e->now_ns < t->next_tick_ns) continue;
        /* A tick that was missed (a long execute) is not made up for: the next one is an interval from now. */
        t->next_tick_ns += t->tick_ns;
        if (t->next_tick_ns <= e->now_ns) t->next_tick_ns = e->now_ns + t->tick_ns;
        gale_value_t rate = gale_double(t->comp->tick_s);
        int err = 0;
        gale_tuple_data_t *d = gale__tuple_new(&e->rt->system_comp, 0, 0, &rate, 1, 1, 0, &err);
        gale_tuple_t *dlv = d ? gale__tuple_deliver(d, t->base.task_id) : NULL;
        if (!dlv) {
            if (d) gale__tuple_discard(d);
            gale__task_error(t, "cannot make a tick tuple: %s", gale_strerror(err ? err : GALE_ENOMEM));
            continue;
        }
        gale__execute(t, dlv);
        n++;
    }
    schedule_ticks(e);
    return n;
}

/* Replays that are due, timeouts (every TIMEOUT_SCAN_NS), the ackers' forgetting of trees the spouts gave up on,
   and the count of open trees the control thread waits on before it finishes bolts. */
static size_t tick_trees(gale_executor_t *e)
{
    gale_runtime_t *rt = e->rt;
    if (!rt->acking) return 0;
    bool scan = e->now_ns >= e->next_timeout_scan_ns;
    if (scan) e->next_timeout_scan_ns = e->now_ns + TIMEOUT_SCAN_NS;
    size_t work = 0, open = 0, retrying = 0, kept = 0, replayable = 0, rewinding = 0;
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (t->acker && scan && e->now_ns > 2 * rt->timeout_ns)
            gale_acker_expire(t->acker, e->now_ns - 2 * rt->timeout_ns);
        kept += t->n_kept + gale__window_held(t);
        if (t->comp->kind != GALE_SPOUT || !t->opened) continue;
        work += gale__spout_tick(t, e->now_ns, scan);
        size_t trees = gale__spout_open_trees(t);
        open += trees;
        if (t->resumable) replayable += trees;
        else if (t->desc->flags & GALE_SPOUT_REWINDS) rewinding += trees;
        retrying += t->n_retries;
    }
    work += apply_local_ops(e);
    atomic_store_explicit(&e->open_trees, open, memory_order_release);
    atomic_store_explicit(&e->retrying, retrying, memory_order_release);
    atomic_store_explicit(&e->replayable, replayable, memory_order_release);
    atomic_store_explicit(&e->rewinding, rewinding, memory_order_release);
    atomic_store_explicit(&e->kept, kept, memory_order_release);
    return work;
}

static bool inputs_waiting(gale_executor_t *e)
{
    if (e->n_held) return true;
    for (int p = 0; p < e->rt->n_lanes; p++)
        if (p != e->index && !gale_ring_empty(&e->in[p])) return true;
    return false;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Polls for work for a short while before sleeping: a futex sleep and wake cost a few microseconds of system time
   each, more than most gaps between two batches last (Storm's progressive wait: spin, then park). */
static bool spin_for_work(gale_executor_t *e)
{
    uint64_t until = gale_now_ns() + SPIN_NS;
    do {
        for (int i = 0; i < 64; i++) cpu_relax();
        if (inputs_waiting(e) || (e->out.n_pending && flush_all(e)) || atomic_load(&e->services_wanted) ||
            atomic_load_explicit(&e->rt->control_seq, memory_order_acquire) != e->control_seen)
            return true;
    } while (gale_now_ns() < until);
    return false;
}

static void idle_wait(gale_executor_t *e, bool spouts_live)
{
    long sleep_ns = spouts_live ? SPOUT_IDLE_NS : IDLE_NS;
    if (e->next_tick_ns != UINT64_MAX) { /* wake for the next tick tuple */
        uint64_t now = gale_now_ns();
        uint64_t until = e->next_tick_ns > now ? e->next_tick_ns - now : 0;
        if (until < (uint64_t)sleep_ns) sleep_ns = (long)until;
        if (sleep_ns <= 0) return;
    }
    if (atomic_load_explicit(&e->open_trees, memory_order_relaxed) && sleep_ns > OPEN_TREES_IDLE_NS)
        sleep_ns = OPEN_TREES_IDLE_NS;
    /* Blocks of other executors wait in batches; before going quiet, send the partial ones home. */
    if (gale__pool_flush_returns(&e->pool)) flush_all(e);
    if (spin_for_work(e)) return;
    if (e->out.n_pending) { /* a consumer's ring is still full: retry soon, never sleep on it */
        nap(PENDING_RETRY_NS);
        return;
    }
    unsigned seq = atomic_load_explicit(&e->wake_seq, memory_order_acquire);
    atomic_store_explicit(&e->idle, 1, memory_order_release);
    atomic_store_explicit(&e->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!inputs_waiting(e) && !atomic_load(&e->services_wanted) &&
        atomic_load_explicit(&e->rt->control_seq, memory_order_acquire) == e->control_seen)
        futex_wait(&e->wake_seq, seq, sleep_ns);
    atomic_store_explicit(&e->sleeping, 0, memory_order_relaxed);
    atomic_store_explicit(&e->idle, 0, memory_order_release);
}

static void open_tasks(gale_executor_t *e)
{
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (t->acker) {
            t->opened = true;
            t->base.phase = GALE_PHASE_RUN;
            continue;
        }
        char why[200];
        if (t->kv.restored && gale__window_restore(t, why, sizeof why)) { /* its window's part of the checkpoint */
            gale_logf(GALE_LOG_ERROR, t->who, "checkpoint %llu: %s", (unsigned long long)t->kv.restored, why);
            atomic_store(&e->rt->failed, 1);
            gale__runtime_control_changed(e->rt);
            return;
        }
        int rc = gale__task_open_plugin(t);
        if (rc) {
            gale_logf(GALE_LOG_ERROR, t->who, "%s failed: %s (%d)",
                      t->comp->kind == GALE_SPOUT ? "open" : "prepare", gale_strerror(rc), rc);
            atomic_store(&e->rt->failed, 1);
            gale__runtime_control_changed(e->rt);
            return;
        }
        if (t->tick_ns) t->next_tick_ns = gale_now_ns() + t->tick_ns;
        if (t->win || t->wm_out) e->has_window_timers = true;
        if (t->desc->service) { /* gale_wake() may have come from the plugin's thread while it opened */
            t->service = gale__plugin_service;
            if (atomic_load(&t->service_wanted)) atomic_store(&e->services_wanted, true);
        }
        if (t->comp->kind == GALE_SPOUT && !e->inactive_seen) {
            t->active = true;
            if (t->desc->spout.activate) t->desc->spout.activate(&t->base.pub);
        }
    }
}

static void close_tasks(gale_executor_t *e)
{
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        gale__align_destroy(&t->align); /* what waited for a barrier dies with the run, here, while its pool lives */
        gale__window_destroy(t);        /* and what a window held */
        if (!t->opened || t->acker) continue;
        gale__task_close_plugin(t);
        if (t->comp->kind == GALE_SPOUT) gale__spout_forget(t);
        /* Inputs the bolt kept and never settled die with it. */
        for (size_t k = 0; k < t->n_kept; k++) gale__tuple_release(t->kept[k]->data);
        t->n_kept = 0;
    }
}

static void deactivate_spouts(gale_executor_t *e)
{
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (t->comp->kind != GALE_SPOUT || !t->active) continue;
        t->active = false;
        if (t->opened && t->desc->spout.deactivate) t->desc->spout.deactivate(&t->base.pub);
    }
}

/* The user activated the topology again: Storm calls activate, then nextTuple again. */
static void activate_spouts(gale_executor_t *e)
{
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (t->comp->kind != GALE_SPOUT || t->active || !t->opened) continue;
        t->active = true;
        if (t->desc->spout.activate) t->desc->spout.activate(&t->base.pub);
    }
}

static void finish_component(gale_executor_t *e, int component)
{
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (t->acker || t->base.component != component || !t->opened) continue;
        if (t->win) { /* the end of its input: every window still holding a tuple fires */
            gale__window_finish(t);
            t->win_due_ns = UINT64_MAX;
        }
        if (!t->desc->bolt.finish) continue;
        int rc = t->desc->bolt.finish(&t->base.pub);
        if (rc) gale__task_error(t, "finish failed: %s (%d)", gale_strerror(rc), rc);
    }
    apply_local_ops(e);
    flush_all(e);
}

/* This executor's tasks of `component` that do not run `to` yet, opened again on it (gale__runtime_swap). An
   open or prepare that fails reopens that task on the plugin it had and says so; the control thread then swaps every
   task back. A task that cannot be reopened on its old plugin either fails the run, as a failed open does. */
static void swap_tasks(gale_executor_t *e, int component, const gale_plugin_t *to, const gale_stream_t *streams,
                       size_t n_streams)
{
    gale_runtime_t *rt = e->rt;
    for (size_t i = 0; i < e->n_tasks; i++) {
        gale_task_t *t = e->tasks[i];
        if (t->comp != &rt->topo->components[component] || !t->opened || t->desc == to) continue;
        const gale_plugin_t *from = t->desc;
        const gale_stream_t *from_streams = t->declared;
        size_t from_n = t->n_declared;
        const char *open = t->comp->kind == GALE_SPOUT ? "open" : "prepare";
        gale__task_close_for_swap(t);
        t->declared = streams, t->n_declared = n_streams;
        int rc = gale__task_open_for_swap(t, to);
        if (!rc) continue;
        gale_logf(GALE_LOG_ERROR, t->who, "%s of plugin %s failed: %s (%d): back to plugin %s", open, to->name,
                  gale_strerror(rc), rc, from->name);
        if (!atomic_exchange(&rt->swap_failed, 1))
            snprintf(rt->swap_why, sizeof rt->swap_why, "task %s: %s of plugin %s failed: %s (%d)", t->who, open,
                     to->name, gale_strerror(rc), rc);
        t->declared = from_streams, t->n_declared = from_n;
        if ((rc = gale__task_open_for_swap(t, from))) {
            gale_logf(GALE_LOG_ERROR, t->who, "%s of plugin %s failed too: %s (%d)", open, from->name,
                      gale_strerror(rc), rc);
            atomic_store(&rt->failed, 1);
            gale__runtime_control_changed(rt);
            return;
        }
    }
}

/* Checkpoints (barrier.h): the spouts here start the one the coordinator asked for, and the tasks hear which one
   completed or was abandoned. In any phase: the final checkpoint is taken while the spouts are deactivated, and its
   commit may come with the stop. */
static void handle_checkpoints(gale_executor_t *e, bool stopping)
{
    gale_runtime_t *rt = e->rt;
    uint64_t aborted = atomic_load(&rt->ckpt_aborted), committed = atomic_load(&rt->ckpt_committed),
             trigger = atomic_load(&rt->ckpt_trigger);
    if (aborted != e->abort_seen) {
        e->abort_seen = aborted;
        for (size_t i = 0; i < e->n_tasks; i++)
            if (!e->tasks[i]->acker) gale__barrier_aborted(e->tasks[i], aborted);
    }
    if (committed != e->commit_seen) {
        e->commit_seen = committed;
        for (size_t i = 0; i < e->n_tasks; i++)
            if (!e->tasks[i]->acker) gale__barrier_committed(e->tasks[i], committed);
    }
    if (trigger != e->ckpt_seen && !stopping) {
        e->ckpt_seen = trigger;
        for (size_t i = 0; i < e->n_tasks; i++)
            if (e->tasks[i]->comp->kind == GALE_SPOUT) gale__barrier_inject(e->tasks[i], trigger);
    }
}

/* Returns true when the executor must stop. */
static bool handle_control(gale_executor_t *e)
{
    gale_runtime_t *rt = e->rt;
    int phase = atomic_load(&rt->phase);
    if (rt->ckpt) handle_checkpoints(e, phase == GALE_RUN_STOPPING);
    if (phase == GALE_RUN_STOPPING) return true;
    if (phase == GALE_RUN_DEACTIVATED) deactivate_spouts(e);
    /* The user's activation applies only while running: a stop's deactivation is for good. */
    bool inactive = atomic_load(&rt->inactive);
    if (phase == GALE_RUN_RUNNING && inactive != e->inactive_seen) {
        e->inactive_seen = inactive;
        if (inactive) deactivate_spouts(e);
        else activate_spouts(e);
    }
    unsigned ss = atomic_load(&rt->swap_seq);
    if (ss != e->swap_seen) {
        e->swap_seen = ss;
        swap_tasks(e, rt->swap_component, rt->swap_desc, rt->swap_streams, rt->swap_n_streams);
        atomic_fetch_add(&rt->swap_acks, 1);
    }
    unsigned fs = atomic_load(&rt->finish_seq);
    if (fs != e->finish_seen) {
        e->finish_seen = fs;
        finish_component(e, atomic_load(&rt->finish_component));
        atomic_fetch_add(&rt->finish_acks, 1);
    }
    return false;
}

static void *executor_main(void *arg)
{
    gale_executor_t *e = arg;
    gale__pool_bind(&e->pool);
    e->inactive_seen = atomic_load(&e->rt->inactive);
    open_tasks(e);
    schedule_ticks(e);
    for (;;) {
        e->now_ns = gale_now_ns();
        e->lease_ns = atomic_load_explicit(&e->rt->lease_until_ns, memory_order_relaxed);
        if (e->lease_ns && e->now_ns >= e->lease_ns) {
            /* Fenced: only a stop is obeyed. A deactivation or a finish waits for the lease, as the bolts' finish
               emits, and a lease that comes back late (ZooKeeper slow, not gone) must not lose what it says. */
            if (atomic_load(&e->rt->phase) == GALE_RUN_STOPPING) break;
            nap(FENCED_NAP_NS);
            continue;
        }
        unsigned cs = atomic_load_explicit(&e->rt->control_seq, memory_order_acquire);
        if (cs != e->control_seen) {
            e->control_seen = cs;
            if (handle_control(e)) break;
        }
        size_t progress = drain_inputs(e);
        if (e->now_ns >= e->next_tick_ns && !lease_over(e)) progress += deliver_ticks(e);
        if (!lease_over(e)) progress += tick_trees(e); /* replays emit */
        progress += flush_all(e);
        if (!lease_over(e)) progress += run_services(e);
        if (spouts_may_run(e)) progress += run_spouts(e);
        if (!lease_over(e)) progress += run_services(e); /* what the turn asked for: a shell's stdin is written once */
        progress += apply_local_ops(e); /* a service's acks for tasks here must not wait out a sleep */
        progress += flush_all(e);
        update_congestion(e);
        if (e->has_window_timers) schedule_ticks(e); /* a watermark noted by this turn's emits */
        if (progress) atomic_fetch_add_explicit(&e->epoch, 1, memory_order_release);
        else idle_wait(e, has_live_spouts(e));
    }
    close_tasks(e);
    gale__pool_bind(NULL);
    atomic_store(&e->closed, true);
    atomic_fetch_add(&e->rt->closed_execs, 1);
    return NULL;
}

int gale_executor_start(gale_executor_t *e)
{
    int rc = pthread_create(&e->thread, NULL, executor_main, e);
    if (rc) return -rc;
    e->thread_started = true;
    return 0;
}

void gale_executor_join(gale_executor_t *e)
{
    if (e->thread_started) pthread_join(e->thread, NULL);
    e->thread_started = false;
}
