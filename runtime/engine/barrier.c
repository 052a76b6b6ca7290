#include "barrier.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "executor.h"
#include "log.h"
#include "runtime.h"
#include "window.h"

int gale__align_init(gale_align_t *a, uint32_t n_inputs, uint32_t max_task)
{
    a->n_inputs = n_inputs;
    a->arrived = calloc(max_task / 64 + 1, sizeof *a->arrived);
    return a->arrived ? 0 : GALE_ENOMEM;
}

void gale__align_destroy(gale_align_t *a)
{
    for (size_t i = 0; i < a->n_held; i++) gale_item_release(a->held[i]);
    free(a->held);
    free(a->arrived);
    memset(a, 0, sizeof *a);
}

static bool arrived(const gale_align_t *a, uint32_t task) { return a->arrived[task / 64] >> (task % 64) & 1u; }

static void hold(gale_task_t *t, void *item)
{
    gale_align_t *a = &t->align;
    if (a->n_held == a->cap_held) {
        size_t cap = a->cap_held ? a->cap_held * 2 : 256;
        void **held = realloc(a->held, cap * sizeof *held);
        if (!held) { /* the entry is dropped: a tuple's tree times out, a barrier's checkpoint is abandoned */
            gale__task_error(t, "out of memory holding an entry while checkpoint %llu aligns: dropped",
                             (unsigned long long)a->id);
            gale_item_release(item);
            return;
        }
        a->held = held;
        a->cap_held = cap;
    }
    a->held[a->n_held++] = item;
    t->exec->align_held++;
}

bool gale__align_hold(gale_task_t *t, gale_tuple_t *in)
{
    uint32_t src = in->data->src_task;
    if (!src || !arrived(&t->align, src)) return false; /* tick tuples (task 0) and inputs still before theirs */
    hold(t, in);
    return true;
}

/* Runs what t held, in order; entries from inputs that a barrier met on the way are held again. */
static void run_held(gale_task_t *t)
{
    gale_align_t *a = &t->align;
    void **items = a->held;
    size_t n = a->n_held;
    a->held = NULL;
    a->n_held = a->cap_held = 0;
    t->exec->align_held -= n;
    for (size_t i = 0; i < n; i++) {
        if (gale_item_kind(items[i]) == GALE_ITEM_CONTROL) gale__control_in(t->exec, gale_item_ptr(items[i]));
        else gale__execute(t, items[i]);
    }
    free(items);
}

static void send_barrier(gale_task_t *from, uint32_t to, uint64_t id);

/* t's part of checkpoint `id`: prepare_commit, the state's snapshot to the coordinator, barriers downstream. */
static void take(gale_task_t *t, uint64_t id)
{
    gale_runtime_t *rt = t->rt;
    int rc = 0;
    if (t->opened && t->desc->prepare_commit) {
        rc = t->desc->prepare_commit(&t->base.pub, id);
        if (rc)
            gale__task_error(t, "prepare_commit of checkpoint %llu failed: %s (%d)", (unsigned long long)id,
                             gale_strerror(rc), rc);
    }
    gale_buf_t b = {0};
    if (!rc && (t->kv.map.count || t->win)) /* a window's tuples and clock too (window_state.c) */
        rc = gale_kvstate_encode(&t->kv, id, t->base.task_index, (uint32_t)t->comp->parallelism,
                                 (uint32_t)rt->topo->config.state_key_groups, t->win ? gale__window_snapshot : NULL, t,
                                 &b);
    gale__checkpoint_report(rt, t->base.task_id, id, rc, &b);
    const gale_downstream_t *down = &rt->down[t->base.component];
    for (uint32_t i = 0; i < down->n; i++) send_barrier(t, down->tasks[i], id);
}

/* The checkpoint t was aligning cannot complete here: t stops waiting for it. */
static void give_up(gale_task_t *t)
{
    gale_align_t *a = &t->align;
    if (!a->n_arrived) return;
    memset(a->arrived, 0, (t->rt->n_all_tasks / 64 + 1) * sizeof *a->arrived);
    a->n_arrived = 0;
    if (a->id > a->last) a->last = a->id;
    a->id = 0;
    run_held(t);
}

static void arrive(gale_task_t *t, uint32_t from, uint64_t id)
{
    gale_align_t *a = &t->align;
    if (!a->n_inputs || id <= a->last) return; /* not a bolt, or a checkpoint already taken or given up here */
    if (a->n_arrived && id != a->id) {
        if (id < a->id) return;
        give_up(t); /* a newer checkpoint's barrier: the older one lost one of its own on the way */
    }
    if (arrived(a, from)) return;
    a->id = id;
    a->arrived[from / 64] |= 1ull << (from % 64);
    if (++a->n_arrived < a->n_inputs) return;
    memset(a->arrived, 0, (t->rt->n_all_tasks / 64 + 1) * sizeof *a->arrived);
    a->n_arrived = 0;
    a->last = id;
    a->id = 0;
    take(t, id);
    run_held(t);
}

static void send_barrier(gale_task_t *from, uint32_t to, uint64_t id)
{
    gale_executor_t *e = from->exec;
    gale_runtime_t *rt = from->rt;
    if (rt->task_exec[to] == e->index) { /* in order with the tuples, which went by direct call too */
        arrive(rt->tasks[to], from->base.task_id, id);
        return;
    }
    if (gale__control_send(from, to, GALE_CONTROL_BARRIER, id))
        gale__task_error(from, "checkpoint %llu's barrier was not sent: it will not complete", (unsigned long long)id);
}

int gale__control_send(gale_task_t *from, uint32_t to, uint32_t kind, uint64_t id)
{
    gale_executor_t *e = from->exec;
    gale_control_t *ctl = malloc(sizeof *ctl);
    if (!ctl) {
        gale__task_error(from, "out of memory sending a control item (kind %u) to task %u: dropped", kind, to);
        return GALE_ENOMEM;
    }
    *ctl = (gale_control_t){.kind = kind, .from = from->base.task_id, .to = to, .id = id};
    int c = from->rt->task_exec[to];
    if (c == e->index) gale__control_in(e, ctl); /* held, like a tuple, behind an aligned input's barrier */
    else gale_lanes_send(&e->out, c, gale_item_make(ctl, GALE_ITEM_CONTROL));
    return 0;
}

void gale__control_in(gale_executor_t *e, gale_control_t *c)
{
    gale_runtime_t *rt = e->rt;
    gale_task_t *t = c->to && c->to <= rt->n_all_tasks ? rt->tasks[c->to] : NULL;
    bool known = c->kind == GALE_CONTROL_BARRIER || c->kind == GALE_CONTROL_WATERMARK;
    if (!t || t->exec != e || !known || !c->from || c->from > rt->n_all_tasks) {
        gale_logf(GALE_LOG_ERROR, "runtime", "executor %d: a control item of kind %u for task %u: dropped", e->index,
                  c->kind, c->to);
        free(c);
        return;
    }
    if (t->align.n_arrived && arrived(&t->align, c->from)) { /* behind that input's earlier barrier */
        hold(t, gale_item_make(c, GALE_ITEM_CONTROL));
        return;
    }
    uint32_t from = c->from, kind = c->kind;
    uint64_t id = c->id;
    free(c);
    if (kind == GALE_CONTROL_WATERMARK) {
        if (t->opened) gale__window_watermark(t, from, gale__watermark_from_id(id));
    } else {
        arrive(t, from, id);
    }
}

void gale__barrier_inject(gale_task_t *t, uint64_t id) { take(t, id); }

void gale__barrier_committed(gale_task_t *t, uint64_t id)
{
    if (t->opened && t->desc->commit) t->desc->commit(&t->base.pub, id);
}

void gale__barrier_aborted(gale_task_t *t, uint64_t id)
{
    gale_align_t *a = &t->align;
    if (a->n_arrived && a->id <= id) give_up(t);
    if (id > a->last) a->last = id;
    if (t->opened && t->desc->rollback) t->desc->rollback(&t->base.pub, id);
}
