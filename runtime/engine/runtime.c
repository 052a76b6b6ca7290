#include "runtime.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "barrier.h"
#include "checkpoint.h"
#include "drain.h"
#include "json.h"
#include "log.h"
#include "metrics_out.h"
#include "plugin_metrics.h"
#include "plugin.h"
#include "process.h"
#include "scheduler.h"
#include "spout.h"
#include "watermark.h"
#include "window.h"

#define CONTROL_TICK_MS 2
#define DEFAULT_RING 1024

/* ---- building ------------------------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int init_task(gale_runtime_t *rt, gale_task_t *t, int component, uint32_t index, uint64_t *seed)
{
    const gale_component_t *c = &rt->topo->components[component];
    t->base.pub.host = &gale__host;
    t->base.topo = rt->topo;
    t->base.component = component;
    t->base.task_id = c->first_task + index;
    t->base.task_index = index;
    t->rt = rt;
    t->comp = c;
    t->desc = c->plugin->desc;
    if (c->kind == GALE_SPOUT && rt->opts.spout_override) {
        t->desc = rt->opts.spout_override;
        t->override_arg = rt->opts.spout_override_arg;
    }
    t->basic = c->kind == GALE_BOLT && (t->desc->flags & GALE_BOLT_BASIC);
    /* A windowed bolt's clock is its window's: tick tuples would be inputs of its window. */
    if (c->kind == GALE_BOLT && c->tick_s > 0 && c->window.type == GALE_WINDOW_NONE)
        t->tick_ns = (uint64_t)(c->tick_s * 1e9);
    t->win_due_ns = UINT64_MAX;
    t->win_clock = c->window.type != GALE_WINDOW_NONE && !c->window.by_count && !c->window.timestamp_field;
    if (gale__window_init(t) || gale__watermarks_init(t)) return GALE_ENOMEM;
    t->default_stream = gale_component_stream(c, "default");
    t->rng = splitmix(seed) | 1;
    snprintf(t->who, sizeof t->who, "%s#%u", c->name, t->base.task_id);
    atomic_init(&t->position, GALE_NO_POSITION);
    if (c->kind == GALE_SPOUT) {
        t->replay = c->replay || (t->desc->flags & GALE_SPOUT_REPLAY);
        t->keep_values = t->replay || rt->journal;
        if (gale_u64map_init(&t->pending, sizeof(gale_pending_t), 64)) return GALE_ENOMEM;
    }
    t->sub_state = calloc(c->n_streams ? c->n_streams : 1, sizeof *t->sub_state);
    if (!t->sub_state) return GALE_ENOMEM;
    for (size_t s = 0; s < c->n_streams; s++) {
        const gale_route_t *route = gale_router_route(&rt->router, component, (int)s);
        t->sub_state[s] = calloc(route->n_subs ? route->n_subs : 1, sizeof **t->sub_state);
        if (!t->sub_state[s]) return GALE_ENOMEM;
        for (size_t i = 0; i < route->n_subs; i++)
            if (gale_sub_state_init(&t->sub_state[s][i], &route->subs[i], splitmix(seed))) return GALE_ENOMEM;
    }
    return 0;
}

static void free_task(gale_runtime_t *rt, gale_task_t *t)
{
    if (!t) return;
    const gale_component_t *c = t->comp;
    if (t->sub_state) {
        for (size_t s = 0; s < c->n_streams; s++) {
            if (!t->sub_state[s]) continue;
            const gale_route_t *route = gale_router_route(&rt->router, t->base.component, (int)s);
            for (size_t i = 0; i < route->n_subs; i++) gale_sub_state_destroy(&t->sub_state[s][i]);
            free(t->sub_state[s]);
        }
        free(t->sub_state);
    }
    free(t->kept);
    free(t->metrics);
    gale_kvstate_destroy(&t->kv);
    gale__align_destroy(&t->align);
    gale__window_destroy(t);
    gale__watermarks_destroy(t);
    free(t->acks_due.v);
    gale_buf_free(&t->json);
    free(t->retries);
    gale_u64map_destroy(&t->pending);
    if (t->acker) gale_acker_destroy(t->acker);
    free(t->acker);
    free(t);
}

/* Acker tasks take the task ids after the topology's; they have no plugin and only receive ops. */
static int init_acker(gale_runtime_t *rt, gale_task_t *t, uint32_t index, uint64_t *seed)
{
    t->rt = rt;
    t->comp = &rt->acker_comp;
    t->base.topo = rt->topo;
    t->base.component = -1;
    t->base.task_id = rt->acker_comp.first_task + index;
    t->base.task_index = index;
    t->rng = splitmix(seed) | 1;
    t->win_due_ns = UINT64_MAX;
    snprintf(t->who, sizeof t->who, "__acker#%u", t->base.task_id);
    t->acker = calloc(1, sizeof *t->acker);
    if (!t->acker) return GALE_ENOMEM;
    if (gale_acker_init(t->acker)) {
        free(t->acker);
        t->acker = NULL;
        return GALE_ENOMEM;
    }
    return 0;
}

static int build_tasks(gale_runtime_t *rt)
{
    const gale_topology_t *topo = rt->topo;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rt->tasks = calloc(rt->n_all_tasks + 1, sizeof *rt->tasks);
    if (!rt->tasks) return GALE_ENOMEM;
    for (size_t c = 0; c < topo->n_components; c++) {
        const gale_component_t *comp = &topo->components[c];
        for (int i = 0; i < comp->parallelism; i++) {
            gale_task_t *t = calloc(1, sizeof *t);
            if (!t) return GALE_ENOMEM;
            rt->tasks[comp->first_task + (uint32_t)i] = t;
            if (init_task(rt, t, (int)c, (uint32_t)i, &seed)) return GALE_ENOMEM;
            if (comp->kind == GALE_SPOUT && rt->task_exec[t->base.task_id] < rt->n_execs) rt->n_spout_tasks++;
        }
    }
    for (int i = 0; i < rt->acker_comp.parallelism; i++) {
        gale_task_t *t = calloc(1, sizeof *t);
        if (!t) return GALE_ENOMEM;
        rt->tasks[rt->acker_comp.first_task + (uint32_t)i] = t;
        if (init_acker(rt, t, (uint32_t)i, &seed)) return GALE_ENOMEM;
    }
    return 0;
}

/* Where each task runs (scheduler.h); in this process, a task of another worker is reached through the driver's
   lane (index n_execs). */
static int place_tasks(gale_runtime_t *rt)
{
    int workers = rt->opts.driver && rt->opts.n_workers > 1 ? rt->opts.n_workers : 1;
    gale_placement_t p;
    int rc = gale_schedule(rt->topo, rt->acker_comp.parallelism, workers, rt->n_execs, &p);
    if (rc) return rc;
    for (uint32_t id = 1; id <= rt->n_all_tasks; id++) {
        rt->task_worker[id] = p.worker[id];
        rt->task_exec[id] = p.worker[id] == rt->opts.worker_index ? p.thread[id] : (uint16_t)rt->n_execs;
    }
    gale_placement_free(&p);
    return 0;
}

/* local_or_shuffle prefers the subscriber's tasks on the emitter's own executor. */
static int set_near_tasks(gale_runtime_t *rt, gale_task_t *t)
{
    uint32_t *near = rt->execs[0].scratch; /* room for the largest parallelism */
    for (size_t s = 0; s < t->comp->n_streams; s++) {
        const gale_route_t *route = gale_router_route(&rt->router, t->base.component, (int)s);
        for (size_t i = 0; i < route->n_subs; i++) {
            const gale_sub_t *sub = &route->subs[i];
            if (sub->grouping != GALE_GROUPING_LOCAL_OR_SHUFFLE) continue;
            uint32_t n = 0;
            for (uint32_t k = 0; k < sub->n_tasks; k++)
                if (rt->task_exec[sub->tasks[k]] == rt->task_exec[t->base.task_id]) near[n++] = sub->tasks[k];
            if (gale_sub_state_set_near(&t->sub_state[s][i], near, n)) return GALE_ENOMEM;
        }
    }
    return 0;
}

static int build_executors(gale_runtime_t *rt)
{
    const gale_topology_t *topo = rt->topo;
    size_t ring = rt->opts.ring_capacity ? rt->opts.ring_capacity : DEFAULT_RING;
    int max_par = 1;
    for (size_t c = 0; c < topo->n_components; c++)
        if (topo->components[c].parallelism > max_par) max_par = topo->components[c].parallelism;
    rt->execs = calloc((size_t)rt->n_execs, sizeof *rt->execs);
    if (!rt->execs) return GALE_ENOMEM;
    for (int e = 0; e < rt->n_execs; e++) {
        gale_executor_t *ex = &rt->execs[e];
        if (gale_executor_init(ex, rt, e, rt->n_lanes, ring)) return GALE_ENOMEM;
        ex->tasks = calloc(rt->n_all_tasks + 1, sizeof *ex->tasks);
        ex->scratch = calloc((size_t)max_par, sizeof *ex->scratch);
        if (!ex->tasks || !ex->scratch) return GALE_ENOMEM;
    }
    for (int e = 0; e < rt->n_execs; e++) gale_executor_connect(&rt->execs[e]);
    for (uint32_t id = 1; id <= rt->n_all_tasks; id++) {
        if (rt->task_exec[id] >= rt->n_execs) continue; /* another worker's */
        gale_executor_t *ex = &rt->execs[rt->task_exec[id]];
        rt->tasks[id]->exec = ex;
        ex->tasks[ex->n_tasks++] = rt->tasks[id];
        if (!rt->tasks[id]->acker && set_near_tasks(rt, rt->tasks[id])) return GALE_ENOMEM;
    }
    return 0;
}

/* Checkpoints: each component's downstream tasks (where its tasks send barriers), and each bolt task's count of
   upstream tasks (the barriers it aligns). A subscription reaches every task of its component, so both are
   unions of whole components. */
static int build_barriers(gale_runtime_t *rt)
{
    const gale_topology_t *topo = rt->topo;
    rt->down = calloc(topo->n_components, sizeof *rt->down);
    bool *seen = calloc(topo->n_components, sizeof *seen);
    int rc = rt->down && seen ? 0 : GALE_ENOMEM;
    for (size_t c = 0; c < topo->n_components && !rc; c++) {
        memset(seen, 0, topo->n_components * sizeof *seen);
        uint32_t n = 0;
        for (size_t b = 0; b < topo->n_components; b++)
            for (size_t i = 0; i < topo->components[b].n_inputs; i++)
                if (topo->components[b].inputs[i].from_index == (int)c && !seen[b])
                    seen[b] = true, n += (uint32_t)topo->components[b].parallelism;
        gale_downstream_t *d = &rt->down[c];
        if (n && !(d->tasks = malloc(n * sizeof *d->tasks))) rc = GALE_ENOMEM;
        for (size_t b = 0; b < topo->n_components && !rc; b++)
            for (int k = 0; seen[b] && k < topo->components[b].parallelism; k++)
                d->tasks[d->n++] = topo->components[b].first_task + (uint32_t)k;
    }
    for (size_t b = 0; b < topo->n_components && !rc; b++) {
        const gale_component_t *comp = &topo->components[b];
        if (comp->kind != GALE_BOLT) continue;
        memset(seen, 0, topo->n_components * sizeof *seen);
        uint32_t inputs = 0;
        for (size_t i = 0; i < comp->n_inputs; i++) {
            int from = comp->inputs[i].from_index;
            if (!seen[from]) seen[from] = true, inputs += (uint32_t)topo->components[from].parallelism;
        }
        for (int k = 0; k < comp->parallelism && !rc; k++)
            rc = gale__align_init(&rt->tasks[comp->first_task + (uint32_t)k]->align, inputs, rt->n_all_tasks);
    }
    free(seen);
    return rc;
}

/* The failed-tuple journal, sealed with the key of config.journal_key when it has one. */
static int open_journal(const gale_topology_t *topo, gale_journal_t **out, gale_diag_t *diag)
{
    gale_journal_key_t key;
    const char *key_file = topo->config.journal_key;
    if (key_file) {
        gale_diag_t d = {{0}};
        int rc = gale_journal_key_load(key_file, &key, &d);
        if (rc) return gale__diag(diag, rc, "%s: config.journal_key: %s", topo->file ? topo->file : topo->name, d.msg);
    }
    int rc = gale_journal_open(topo->config.journal, topo->config.journal_fsync, key_file ? &key : NULL, out, diag);
    if (key_file) gale_journal_key_wipe(&key);
    return rc;
}

int gale_runtime_new(gale_topology_t *topo, const gale_runtime_opts_t *opts, gale_runtime_t **out,
                     gale_diag_t *diag)
{
    gale_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt) return gale__diag(diag, GALE_ENOMEM, "out of memory");
    rt->topo = topo;
    if (opts) rt->opts = *opts;
    rt->acking = topo->config.ackers > 0;
    /* Storm's system component and its tick stream: a tick tuple reads as Storm's, (rate_secs) on
       __system/__tick. */
    static char *tick_fields[] = {"rate_secs"};
    static gale_stream_t tick_stream = {.name = "__tick", .fields = tick_fields, .n_fields = 1};
    rt->system_comp = (gale_component_t){.name = "__system", .kind = GALE_SPOUT, .streams = &tick_stream,
                                         .n_streams = 1};
    rt->acker_comp = (gale_component_t){.name = "__acker", .kind = GALE_BOLT,
                                        .parallelism = topo->config.ackers, .first_task = topo->n_tasks + 1};
    rt->n_all_tasks = topo->n_tasks + (uint32_t)topo->config.ackers;
    rt->timeout_ns = (uint64_t)topo->config.message_timeout_s * 1000000000ull;
    rt->n_execs = gale_schedule_threads(rt->opts.threads, topo->config.threads, sysconf(_SC_NPROCESSORS_ONLN),
                                        rt->n_all_tasks);
    rt->n_lanes = rt->n_execs + (rt->opts.driver ? 1 : 0);
    if (gale_reasons_new(rt->opts.worker_index, &rt->reasons)) {
        free(rt);
        return gale__diag(diag, GALE_ENOMEM, "out of memory");
    }
    if (topo->config.journal) {
        int jrc = open_journal(topo, &rt->journal, diag);
        if (jrc) {
            gale_reasons_free(rt->reasons);
            free(rt);
            return jrc;
        }
    }
    atomic_init(&rt->congested, 0);
    atomic_init(&rt->peer_pressure, 0);
    atomic_init(&rt->control_seq, 0);
    atomic_init(&rt->phase, GALE_RUN_RUNNING);
    atomic_init(&rt->inactive, 0);
    rt->task_exec = calloc(rt->n_all_tasks + 1, sizeof *rt->task_exec);
    rt->task_worker = calloc(rt->n_all_tasks + 1, sizeof *rt->task_worker);
    bool *is_local = calloc(rt->n_all_tasks + 1, sizeof *is_local);
    int rc = rt->task_exec && rt->task_worker && is_local ? place_tasks(rt) : GALE_ENOMEM;
    for (uint32_t id = 1; !rc && id <= rt->n_all_tasks; id++) is_local[id] = rt->task_exec[id] < rt->n_execs;
    if (!rc) rc = gale_router_init(&rt->router, topo, is_local);
    free(is_local);
    if (!rc) rc = build_tasks(rt);
    if (!rc) rc = build_executors(rt);
    if (!rc && topo->config.checkpoint_interval_ms) rc = build_barriers(rt);
    if (rc) {
        gale_runtime_free(rt);
        return gale__diag(diag, rc, "%s: cannot set up the run: %s", topo->file, gale_strerror(rc));
    }
    *out = rt;
    return 0;
}

void gale_runtime_free(gale_runtime_t *rt)
{
    if (!rt || rt->stuck) return; /* a stuck task's thread may still use all of it: the process is exiting */
    if (rt->execs)
        for (int e = 0; e < rt->n_execs; e++) gale_executor_destroy(&rt->execs[e], rt->n_lanes);
    if (rt->tasks)
        for (uint32_t id = 1; id <= rt->n_all_tasks; id++) free_task(rt, rt->tasks[id]);
    gale_journal_close(rt->journal);
    gale_reasons_free(rt->reasons);
    if (rt->down)
        for (size_t c = 0; c < rt->topo->n_components; c++) free(rt->down[c].tasks);
    free(rt->down);
    gale_router_destroy(&rt->router);
    free(rt->execs);
    free(rt->tasks);
    free(rt->task_exec);
    free(rt->task_worker);
    free(rt);
}

/* ---- control -------------------------------------------------------------------------------------------- */

void gale__runtime_control_changed(gale_runtime_t *rt)
{
    atomic_fetch_add_explicit(&rt->control_seq, 1, memory_order_release);
    for (int e = 0; e < rt->n_execs; e++) gale_executor_wake(&rt->execs[e]);
}

typedef struct snapshot {
    uint64_t pushed, popped, epochs, open_trees, retrying, kept, replayable, rewinding;
    bool all_idle;
} snapshot_t;

typedef struct control {
    gale_runtime_t *rt;
    uv_loop_t loop;
    uv_timer_t tick, duration;
    uv_signal_t sigint, sigterm, sigusr1;
    gale_drain_t drain;       /* drain.h: when to drain, finish and stop */
    int *finish_order;        /* the bolt components in topological order */
    uint64_t drain_ns;        /* how long a stop waits for the drain */
    uint64_t stop_deadline_ns; /* stopping: how long the executors have to close their tasks */
    bool stopping, stuck;
    bool final_pending; /* checkpoints: the drain's stop waits for the final checkpoint */
    gale_drain_cmd_t final_stop;
} control_t;

static snapshot_t take_snapshot(gale_runtime_t *rt)
{
    snapshot_t s = {.all_idle = true};
    for (int e = 0; e < rt->n_execs; e++) {
        gale_executor_t *ex = &rt->execs[e];
        s.all_idle = s.all_idle && atomic_load_explicit(&ex->idle, memory_order_acquire);
        s.epochs += atomic_load_explicit(&ex->epoch, memory_order_acquire);
        s.pushed += atomic_load_explicit(&ex->pushed, memory_order_acquire);
        s.popped += atomic_load_explicit(&ex->popped, memory_order_acquire);
        s.open_trees += atomic_load_explicit(&ex->open_trees, memory_order_acquire);
        s.retrying += atomic_load_explicit(&ex->retrying, memory_order_acquire);
        s.kept += atomic_load_explicit(&ex->kept, memory_order_acquire);
        s.replayable += atomic_load_explicit(&ex->replayable, memory_order_acquire);
        s.rewinding += atomic_load_explicit(&ex->rewinding, memory_order_acquire);
    }
    return s;
}

/* The run's status as the drain rule reads it. */
static gale_flow_t sample_flow(gale_runtime_t *rt)
{
    snapshot_t s = take_snapshot(rt);
    return (gale_flow_t){.idle = s.all_idle, .in_flight = s.pushed != s.popped, .activity = s.epochs + s.pushed,
                         .open_trees = s.open_trees, .retrying = s.retrying, .kept = s.kept,
                         .spouts_done = atomic_load(&rt->spouts_done), .spout_tasks = rt->n_spout_tasks,
                         .finish_acked = atomic_load(&rt->finish_acks) >= (unsigned)rt->n_execs,
                         .failed = atomic_load(&rt->failed) != 0};
}

/* The executors close their tasks within this after the stop; one that does not is stuck in a plugin's call. */
#define STOP_GRACE_NS 5000000000ull

static void enter_stopping(control_t *c)
{
    if (c->stopping) return;
    c->stopping = true;
    c->stop_deadline_ns = gale_now_ns() + STOP_GRACE_NS;
    atomic_store(&c->rt->phase, GALE_RUN_STOPPING);
    gale__runtime_control_changed(c->rt);
}

/* Carries out what the drain rule decided; `why` prefixes its note in the log. */
static void apply(control_t *c, gale_drain_cmd_t cmd, const char *why)
{
    gale_runtime_t *rt = c->rt;
    if (cmd.note) {
        if (why) gale_logf(cmd.warn ? GALE_LOG_WARN : GALE_LOG_INFO, "runtime", "%s: %s", why, cmd.note);
        else gale_logf(cmd.warn ? GALE_LOG_WARN : GALE_LOG_INFO, "runtime", "%s", cmd.note);
    }
    switch (cmd.kind) {
    case GALE_DRAIN_NONE: break;
    case GALE_DRAIN_DEACTIVATE: gale__runtime_deactivate(rt); break;
    case GALE_DRAIN_FINISH: gale__runtime_finish_component(rt, cmd.component); break;
    case GALE_DRAIN_STOP: enter_stopping(c); break;
    }
}

/* Names what keeps an executor from closing: the bolt task inside a call, else the executor's tasks. */
static void name_stuck(gale_runtime_t *rt, double grace_s)
{
    for (int e = 0; e < rt->n_execs; e++) {
        gale_executor_t *ex = &rt->execs[e];
        if (!ex->thread_started || atomic_load(&ex->closed)) continue;
        const char *who = NULL;
        for (size_t i = 0; i < ex->n_tasks && !who; i++)
            if (__atomic_load_n(&ex->tasks[i]->current, __ATOMIC_RELAXED)) who = ex->tasks[i]->who;
        if (who)
            gale_logf(GALE_LOG_ERROR, "runtime", "%s did not return from execute within %.0f s of the stop: exiting "
                      "without closing its executor's tasks", who, grace_s);
        else
            gale_logf(GALE_LOG_ERROR, "runtime", "executor %d (%s%s) did not stop within %.0f s: exiting without "
                      "closing its tasks", e, ex->n_tasks ? ex->tasks[0]->who : "no tasks",
                      ex->n_tasks > 1 ? " and others" : "", grace_s);
    }
}

static void on_tick(uv_timer_t *h)
{
    control_t *c = h->data;
    gale_runtime_t *rt = c->rt;
    if (c->stopping) {
        if (atomic_load(&rt->closed_execs) == rt->started_execs) {
            uv_stop(&c->loop);
        } else if (gale_now_ns() > c->stop_deadline_ns) {
            name_stuck(rt, (double)STOP_GRACE_NS / 1e9);
            c->stuck = true;
            uv_stop(&c->loop);
        }
        return;
    }
    if (rt->opts.driver) { /* driven: the driver decides when to drain, finish and stop */
        if (atomic_load(&rt->failed)) enter_stopping(c);
        return;
    }
    if (c->final_pending) { /* the drain said stop: first the final checkpoint */
        if (gale__checkpointer_final(rt->ckpt)) return;
        c->final_pending = false;
        apply(c, c->final_stop, NULL);
        return;
    }
    gale_flow_t f = sample_flow(rt);
    gale_drain_cmd_t cmd = gale_drain_step(&c->drain, &f, gale_now_ns());
    /* The input ended and every bolt finished: what the finishes emitted is committed by a final checkpoint. */
    if (cmd.kind == GALE_DRAIN_STOP && rt->ckpt && !c->drain.incomplete && !atomic_load(&rt->failed) &&
        atomic_load(&rt->spouts_done) >= rt->n_spout_tasks && gale__checkpointer_final(rt->ckpt)) {
        c->final_pending = true;
        c->final_stop = cmd;
        return;
    }
    apply(c, cmd, NULL);
}

static void request_stop(control_t *c, const char *why)
{
    if (c->stopping) {
        c->stuck = atomic_load(&c->rt->closed_execs) != c->rt->started_execs;
        if (c->stuck) {
            gale_logf(GALE_LOG_WARN, "runtime", "%s again while stopping: exiting now", why);
            name_stuck(c->rt, (double)(gale_now_ns() + STOP_GRACE_NS - c->stop_deadline_ns) / 1e9);
        }
        uv_stop(&c->loop);
        return;
    }
    apply(c, gale_drain_request_stop(&c->drain, gale_now_ns(), c->drain_ns), why);
}

static void on_signal(uv_signal_t *h, int signum)
{
    control_t *c = h->data;
    if (signum == SIGUSR1) { /* the metrics so far, and the run goes on */
        gale_logf(GALE_LOG_INFO, "runtime", "SIGUSR1: the metrics so far (%s)", gale_drain_state_name(c->drain.state));
        gale_runtime_report(c->rt, stderr);
        return;
    }
    request_stop(c, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_duration(uv_timer_t *h) { request_stop(h->data, "duration reached"); }

static void on_close(uv_handle_t *h) { (void)h; }

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, on_close);
}

/* A stop asked for from another thread lands here through the atomic the tick reads. */
void gale_runtime_request_stop(gale_runtime_t *rt)
{
    atomic_store(&rt->stop_requested, 1);
}

static void on_tick_outer(uv_timer_t *h)
{
    control_t *c = h->data;
    if (atomic_exchange(&c->rt->stop_requested, 0)) request_stop(c, "stop requested");
    on_tick(h);
}

static int start_control(control_t *c)
{
    gale_runtime_t *rt = c->rt;
    const gale_topology_t *topo = rt->topo;
    c->finish_order = calloc(topo->n_components + 1, sizeof *c->finish_order);
    if (!c->finish_order) return GALE_ENOMEM;
    size_t n = 0;
    for (size_t k = 0; k < topo->n_components; k++)
        if (topo->components[topo->order[k]].kind == GALE_BOLT) c->finish_order[n++] = topo->order[k];
    gale_drain_init(&c->drain, c->finish_order, n, 0);
    double drain_s = rt->opts.drain_timeout_s > 0 ? rt->opts.drain_timeout_s : topo->config.drain_timeout_s;
    c->drain_ns = (uint64_t)((drain_s > 0 ? drain_s : 10) * 1e9);
    int rc = uv_loop_init(&c->loop);
    if (rc) {
        free(c->finish_order);
        return rc;
    }
    uv_timer_init(&c->loop, &c->tick);
    c->tick.data = c;
    uv_timer_start(&c->tick, on_tick_outer, CONTROL_TICK_MS, CONTROL_TICK_MS);
    if (rt->opts.duration_s > 0) {
        uv_timer_init(&c->loop, &c->duration);
        c->duration.data = c;
        uv_timer_start(&c->duration, on_duration, (uint64_t)(rt->opts.duration_s * 1000), 0);
    }
    if (rt->opts.handle_signals) {
        uv_signal_t *sigs[] = {&c->sigint, &c->sigterm, &c->sigusr1};
        int nums[] = {SIGINT, SIGTERM, SIGUSR1};
        for (int i = 0; i < 3; i++) {
            uv_signal_init(&c->loop, sigs[i]);
            sigs[i]->data = c;
            uv_signal_start(sigs[i], on_signal, nums[i]);
        }
    }
    return 0;
}

/* ---- driven: the driver's commands and the status it decides on ---------------------------------------------- */

void gale__runtime_deactivate(gale_runtime_t *rt)
{
    atomic_store(&rt->phase, GALE_RUN_DEACTIVATED);
    gale__runtime_control_changed(rt);
}

void gale__runtime_set_active(gale_runtime_t *rt, bool active)
{
    atomic_store(&rt->inactive, !active);
    gale__runtime_control_changed(rt);
}

void gale__runtime_set_lease(gale_runtime_t *rt, uint64_t until_ns)
{
    atomic_store_explicit(&rt->lease_until_ns, until_ns, memory_order_relaxed);
}

/* Asks every executor to swap `component`'s tasks to `desc`, and waits for each to have done so. */
static int swap_everywhere(gale_runtime_t *rt, int component, const gale_plugin_t *desc, const gale_stream_t *streams,
                           size_t n_streams, uint64_t deadline_ns)
{
    atomic_store(&rt->swap_failed, 0);
    atomic_store(&rt->swap_acks, 0);
    rt->swap_component = component;
    rt->swap_desc = desc;
    rt->swap_streams = streams, rt->swap_n_streams = n_streams;
    atomic_fetch_add(&rt->swap_seq, 1);
    gale__runtime_control_changed(rt);
    while (atomic_load(&rt->swap_acks) < rt->started_execs) {
        if (gale_now_ns() > deadline_ns) return GALE_ETIMEDOUT;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return 0;
}

int gale__runtime_swap(gale_runtime_t *rt, int component, const gale_plugin_t *desc, const gale_stream_t *streams,
                       size_t n_streams, int timeout_ms, char *why, size_t cap)
{
    snprintf(why, cap, "%s", "");
    if (component < 0 || (size_t)component >= rt->topo->n_components || !desc ||
        desc->kind != rt->topo->components[component].kind || (desc->kind == GALE_SPOUT && rt->opts.spout_override))
        return GALE_EINVAL;
    if (!rt->started_execs) { /* before the start: the tasks open on it */
        for (uint32_t i = 1; i <= rt->topo->n_tasks; i++) {
            gale_task_t *t = rt->tasks[i];
            if (!t || t->comp != &rt->topo->components[component]) continue;
            t->desc = desc;
            t->basic = desc->kind == GALE_BOLT && (desc->flags & GALE_BOLT_BASIC) != 0;
            t->declared = streams, t->n_declared = n_streams;
        }
        return 0;
    }
    if (atomic_load(&rt->phase) != GALE_RUN_RUNNING) return GALE_ESTATE;
    const gale_plugin_t *had = NULL;
    const gale_stream_t *had_streams = NULL;
    size_t had_n = 0;
    for (uint32_t i = 1; i <= rt->topo->n_tasks && !had; i++)
        if (rt->tasks[i] && rt->tasks[i]->comp == &rt->topo->components[component]) {
            had = rt->tasks[i]->desc;
            had_streams = rt->tasks[i]->declared, had_n = rt->tasks[i]->n_declared;
        }
    uint64_t deadline = gale_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000u;
    int rc = swap_everywhere(rt, component, desc, streams, n_streams, deadline);
    if (rc || !atomic_load(&rt->swap_failed)) return rc;
    snprintf(why, cap, "%s", rt->swap_why);
    /* All or none: the tasks that took the new plugin go back to the one they had. */
    if (had && had != desc && swap_everywhere(rt, component, had, had_streams, had_n, deadline + 10000000000ull) == 0 &&
        !atomic_load(&rt->swap_failed))
        return GALE_EPLUGIN;
    snprintf(why + strlen(why), cap - strlen(why), "; and going back to plugin %s failed: %s", had ? had->name : "?",
             rt->swap_why);
    return GALE_EPLUGIN;
}

void gale__runtime_finish_component(gale_runtime_t *rt, int component)
{
    atomic_store(&rt->finish_acks, 0);
    atomic_store(&rt->finish_component, component);
    atomic_fetch_add(&rt->finish_seq, 1);
    gale__runtime_control_changed(rt);
}

bool gale__runtime_finish_acked(gale_runtime_t *rt) { return atomic_load(&rt->finish_acks) >= (unsigned)rt->n_execs; }

void gale__runtime_stop(gale_runtime_t *rt)
{
    control_t *c = rt->ctl;
    if (c) enter_stopping(c);
}

void gale__runtime_status(gale_runtime_t *rt, gale_run_status_t *out)
{
    snapshot_t s = take_snapshot(rt);
    *out = (gale_run_status_t){.idle = s.all_idle,
                               .epochs = s.epochs,
                               .pushed = s.pushed,
                               .popped = s.popped,
                               .open_trees = s.open_trees,
                               .retrying = s.retrying,
                               .kept = s.kept,
                               .replayable = s.replayable,
                               .rewinding = s.rewinding,
                               .spouts_done = atomic_load(&rt->spouts_done),
                               .spout_tasks = rt->n_spout_tasks,
                               .finish_seq = atomic_load(&rt->finish_seq),
                               .failed = atomic_load(&rt->failed)};
}

int gale__runtime_resume(gale_runtime_t *rt, uint32_t task, uint64_t position)
{
    if (rt->started_execs) return GALE_ESTATE;
    if (task == 0 || task > rt->n_all_tasks || rt->task_exec[task] >= rt->n_execs) return GALE_ENOENT;
    gale_task_t *t = rt->tasks[task];
    if (t->acker || t->comp->kind != GALE_SPOUT) return GALE_ENOENT;
    gale__spout_resume(t, position);
    return 0;
}

size_t gale__runtime_positions(const gale_runtime_t *rt, uint32_t *tasks, uint64_t *positions, size_t cap)
{
    size_t n = 0;
    for (uint32_t id = 1; id <= rt->n_all_tasks && n < cap; id++) {
        const gale_task_t *t = rt->tasks[id];
        if (rt->task_exec[id] >= rt->n_execs || t->acker || t->comp->kind != GALE_SPOUT) continue;
        uint64_t p = atomic_load_explicit(&t->position, memory_order_relaxed);
        if (p == GALE_NO_POSITION) continue;
        tasks[n] = id;
        positions[n++] = p;
    }
    return n;
}

void gale__runtime_start(gale_runtime_t *rt)
{
    rt->start_ns = gale_now_ns();
    for (int e = 0; e < rt->n_execs; e++) {
        int rc = gale_executor_start(&rt->execs[e]);
        if (!rc) rt->started_execs++;
        if (rc) {
            gale_logf(GALE_LOG_ERROR, "runtime", "cannot start executor thread: %s", strerror(-rc));
            atomic_store(&rt->failed, 1);
            break;
        }
    }
}

/* gale_runtime_run between the plugins' process hooks. */
static int run_to_end(gale_runtime_t *rt)
{
    control_t c = {.rt = rt};
    int rc = start_control(&c);
    if (rc) return rc;
    rt->ctl = &c;
    rt->start_ns = gale_now_ns();
    const gale_runtime_driver_t *drv = rt->opts.driver;
    const gale_runtime_watcher_t *w = rt->opts.watcher;
    gale_diag_t diag = {{0}};
    gale_checkpointer_t *ck = NULL;
    if (w && (rc = w->start(rt, &c.loop, w->arg))) {
        gale_logf(GALE_LOG_ERROR, "runtime", "the run's watcher did not start: %s", gale_strerror(rc));
        atomic_store(&rt->failed, 1);
        enter_stopping(&c);
    } else if (rt->topo->config.checkpoint_interval_ms &&
               (rc = gale__checkpointer_start(rt, &c.loop, rt->opts.fresh_state, &ck, &diag))) {
        gale_logf(GALE_LOG_ERROR, "runtime", "%s", diag.msg);
        atomic_store(&rt->failed, 1);
        enter_stopping(&c);
    } else if (gale__checkpointer_recovering(ck)) { /* the last run was complete: only its commits */
        gale__checkpointer_recover(ck); /* a worker does its own tasks' and ends without starting its driver */
        enter_stopping(&c);
    } else if (drv) { /* driven: the executors start when the driver says so */
        if ((rc = drv->start(rt, &c.loop, drv->arg))) {
            gale_logf(GALE_LOG_ERROR, "runtime", "the driver did not start: %s", gale_strerror(rc));
            atomic_store(&rt->failed, 1);
            enter_stopping(&c);
        }
    } else {
        gale__runtime_start(rt);
    }
    uv_run(&c.loop, UV_RUN_DEFAULT);
    enter_stopping(&c);
    /* A stuck executor is left running: joining it would wait for ever, and the process is about to exit. */
    for (int e = 0; e < rt->n_execs; e++)
        if (!c.stuck || atomic_load(&rt->execs[e].closed)) gale_executor_join(&rt->execs[e]);
    rt->stuck = c.stuck;
    rt->end_ns = gale_now_ns();
    if (drv) drv->stop(rt, drv->arg); /* its last words; the loop below closes what it opened */
    if (w) w->stop(rt, w->arg);
    ck = rt->ckpt;
    gale__checkpointer_stop(ck, !c.stuck && !atomic_load(&rt->failed) && !c.drain.incomplete &&
                                    atomic_load(&rt->spouts_done) >= rt->n_spout_tasks);
    rt->ctl = NULL;
    if (!c.stuck) { /* a stuck executor may still push into the driver's lane: leave it all to the exiting process */
        uv_walk(&c.loop, close_walk, NULL);
        uv_run(&c.loop, UV_RUN_DEFAULT);
        uv_loop_close(&c.loop);
        if (drv) drv->free(rt, drv->arg);
        gale__checkpointer_stats(ck, &rt->ckpt_stats);
        gale__checkpointer_free(ck);
    }
    free(c.finish_order);
    if (atomic_load(&rt->failed)) return GALE_EPLUGIN;
    if (c.stuck) return GALE_ETIMEDOUT;
    if (!drv && c.drain.incomplete) {
        gale_logf(GALE_LOG_ERROR, "runtime", "the run stopped before its work was done: %" PRIu64 " tuple tree%s "
                  "still open%s", c.drain.open_at_stop, c.drain.open_at_stop == 1 ? "" : "s",
                  rt->journal && c.drain.open_at_stop ? " (journaled with cause \"stopped\")" : "");
        return GALE_EINCOMPLETE;
    }
    return 0;
}

int gale_runtime_run(gale_runtime_t *rt)
{
    gale_process_hooks_t hooks;
    int rc = gale__process_init(rt, &hooks);
    if (rc) { /* logged, naming the plugin; no task was opened */
        rt->start_ns = rt->end_ns = gale_now_ns();
        return rc;
    }
    rc = run_to_end(rt);
    if (!rt->stuck) gale__process_exit(&hooks); /* a stuck task may still be inside the plugin */
    return rc;
}

/* ---- metrics -------------------------------------------------------------------------------------------- */

/* What task t's figures take from its executor (metrics.h: queue fill, backpressure), read from any thread. */
static void executor_figures(const gale_runtime_t *rt, const gale_task_t *t, double *fill, uint64_t *bp_ns)
{
    const gale_executor_t *e = t->exec;
    *fill = 0, *bp_ns = 0;
    if (!e || !e->in) return; /* a task of another worker */
    for (int p = 0; p < rt->n_lanes; p++) {
        double f = gale_ring_fill(&e->in[p]);
        if (f > *fill) *fill = f;
    }
    uint64_t since = atomic_load_explicit(&e->congested_since, memory_order_relaxed), now = gale_now_ns();
    *bp_ns = atomic_load_explicit(&e->congested_ns, memory_order_relaxed) + (since && now > since ? now - since : 0);
}

static void sum_metrics(const gale_runtime_t *rt, gale_task_t *const *tasks, uint32_t first, int n,
                        gale_task_metrics_t *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        const gale_task_metrics_t *m = &tasks[first + (uint32_t)i]->m;
        double fill;
        uint64_t bp_ns;
        executor_figures(rt, tasks[first + (uint32_t)i], &fill, &bp_ns);
        if (fill > out->queue_fill) out->queue_fill = fill;
        if (bp_ns > out->backpressure_ns) out->backpressure_ns = bp_ns;
        out->emitted += m->emitted;
        out->transferred += m->transferred;
        out->executed += m->executed;
        out->acked += m->acked;
        out->failed += m->failed;
        out->errors += m->errors;
        out->pending += tasks[first + (uint32_t)i]->pending.count; /* read racily: a gauge a few trees behind */
        gale_hist_merge(&out->exec, &m->exec);
        gale_hist_merge(&out->complete, &m->complete);
        gale_hist_merge(&out->e2e, &m->e2e);
        gale_hist_merge(&out->process, &m->process);
        gale_last_error_t e;
        gale__task_last_error(tasks[first + (uint32_t)i], &e);
        gale_last_error_keep(&out->last_error, &e);
    }
}

void gale_runtime_component_metrics(const gale_runtime_t *rt, int component, gale_task_metrics_t *out)
{
    const gale_component_t *c = component < 0 ? &rt->acker_comp : &rt->topo->components[component];
    sum_metrics(rt, rt->tasks, c->first_task, c->parallelism, out);
}

void gale_runtime_task_metrics(const gale_runtime_t *rt, uint32_t task, gale_task_metrics_t *out)
{
    sum_metrics(rt, rt->tasks, task, 1, out);
}

void gale_runtime_task_plugin_metrics(const gale_runtime_t *rt, uint32_t task, gale_metric_set_t *out)
{
    gale_metric_set_read(__atomic_load_n(&rt->tasks[task]->metrics, __ATOMIC_ACQUIRE), out);
}

void gale_runtime_component_plugin_metrics(const gale_runtime_t *rt, int component, gale_metric_set_t *out)
{
    const gale_component_t *c = component < 0 ? &rt->acker_comp : &rt->topo->components[component];
    gale_metric_set_t one;
    out->n = 0;
    for (int k = 0; k < c->parallelism; k++) {
        gale_runtime_task_plugin_metrics(rt, c->first_task + (uint32_t)k, &one);
        gale_metric_set_merge(out, &one);
    }
}

double gale_runtime_seconds(const gale_runtime_t *rt)
{
    uint64_t end = rt->end_ns ? rt->end_ns : gale_now_ns();
    return (double)(end - rt->start_ns) / 1e9;
}

void gale_runtime_report(const gale_runtime_t *rt, FILE *f)
{
    double secs = gale_runtime_seconds(rt);
    fprintf(f, "topology '%s' ran %.2f s on %d executor thread%s\n", rt->topo->name, secs, rt->n_execs,
            rt->n_execs == 1 ? "" : "s");
    gale_metrics_table_header(f);
    gale_task_metrics_t m;
    size_t n = rt->topo->n_components + (rt->acking ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        int ci = i < rt->topo->n_components ? rt->topo->order[i] : -1;
        const gale_component_t *c = ci < 0 ? &rt->acker_comp : &rt->topo->components[ci];
        gale_runtime_component_metrics(rt, ci, &m);
        gale_metrics_table_row(f, c->name, c->kind, c->parallelism, &m, secs);
        gale_metric_set_t pm;
        gale_runtime_component_plugin_metrics(rt, ci, &pm);
        gale_metrics_table_plugin(f, &pm);
    }
    gale_metrics_table_footer(f);
}

/* Peak resident memory of this process image, from /proc (VmHWM starts anew at exec; getrusage's maxrss carries
   the high-water mark of the process that spawned us across exec). -1 when unknown. */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

int gale_runtime_metrics_json(const gale_runtime_t *rt, FILE *f)
{
    gale_buf_t b = {0};
    double secs = gale_runtime_seconds(rt);
    gale_buf_puts(&b, "{\"topology\": ");
    gale_json_string(&b, rt->topo->name, strlen(rt->topo->name));
    gale_buf_printf(&b, ", \"seconds\": %.6f, \"threads\": %d, \"peak_rss_kb\": %ld, \"components\": [", secs,
                    rt->n_execs, peak_rss_kb());
    size_t n = rt->topo->n_components + (rt->acking ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        int ci = i < rt->topo->n_components ? rt->topo->order[i] : -1;
        const gale_component_t *c = ci < 0 ? &rt->acker_comp : &rt->topo->components[ci];
        gale_task_metrics_t m;
        gale_metric_set_t pm;
        gale_runtime_component_metrics(rt, ci, &m);
        gale_runtime_component_plugin_metrics(rt, ci, &pm);
        if (i) gale_buf_puts(&b, ", ");
        /* A worker's metrics carry their histograms, and its tasks' own: the supervisor merges them into exact
           quantiles, and shows each task in the status. */
        gale_task_metrics_t *per_task = NULL;
        gale_metric_set_t *per_task_pm = NULL;
        if (rt->opts.driver) {
            per_task = malloc((size_t)c->parallelism * sizeof *per_task);
            per_task_pm = malloc((size_t)c->parallelism * sizeof *per_task_pm);
            if (!per_task || !per_task_pm) b.failed = 1;
            for (int k = 0; per_task && per_task_pm && k < c->parallelism; k++) {
                gale_runtime_task_metrics(rt, c->first_task + (uint32_t)k, &per_task[k]);
                gale_runtime_task_plugin_metrics(rt, c->first_task + (uint32_t)k, &per_task_pm[k]);
            }
        }
        gale_metrics_doc_t doc = {.name = c->name,
                                  .kind = c->kind,
                                  .tasks = c->parallelism,
                                  .first_task = c->first_task,
                                  .m = &m,
                                  .pm = &pm,
                                  .per_task = per_task_pm ? per_task : NULL,
                                  .per_task_pm = per_task ? per_task_pm : NULL};
        gale_metrics_json(&b, &doc, rt->opts.driver != NULL);
        free(per_task), free(per_task_pm);
    }
    gale_buf_puts(&b, "]");
    if (rt->topo->config.checkpoint_interval_ms) {
        gale_checkpoint_stats_t cs;
        if (rt->ckpt) gale__checkpointer_stats(rt->ckpt, &cs); /* while it runs (control thread) */
        else cs = rt->ckpt_stats;
        gale_checkpoint_stats_json(&b, &cs);
    }
    gale_buf_puts(&b, "}\n");
    int rc = b.failed ? GALE_ENOMEM : (fputs(b.p, f) < 0 ? GALE_EIO : 0);
    gale_buf_free(&b);
    return rc;
}
