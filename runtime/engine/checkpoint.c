#include "checkpoint.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "kvstate.h"
#include "log.h"
#include "runtime.h"
#include "state_store.h"

typedef struct report {
    struct report *next;
    uint32_t task;
    uint64_t id;
    int rc;
    gale_buf_t bytes;
} report_t;

struct gale_checkpointer {
    gale_runtime_t *rt;
    uv_loop_t *loop;
    gale_state_store_t *store;
    uv_timer_t timer;
    uv_async_t async;
    pthread_mutex_t mu; /* guards the reports queue, the one thing executors touch */
    report_t *head, **tail;
    uint64_t next_id;
    uint64_t current;    /* in flight; 0: none */
    uint64_t started_ns; /* its start */
    uint64_t timeout_ns;
    uint32_t expected, reported, stored, puts;
    uint64_t bytes;
    bool failed, completing, quiet, input_ended;
    int final;       /* 0: not asked; 1: wanted; 2: under way (current); 3: done (completed or failed) */
    bool recovering; /* the latest checkpoint was a final one: a recovery run */
    /* Driven (worker mode): this process's part only. Checkpoints are started and completed by the supervisor
       (begin, end); once every task here stored its snapshot, or one failed, the driver is told (checkpointed). */
    bool participant;
    uint64_t opened;       /* the newest checkpoint whose part was opened here */
    uint64_t told;         /* the checkpoint whose part was told, awaiting the supervisor's end */
    uint64_t told_started; /* its start, for its duration */
    uint64_t told_bytes;
    uint64_t recover_id;
    char why[512];
    gale_checkpoint_stats_t stats;
};

typedef struct put_arg {
    gale_checkpointer_t *c;
    uint64_t id;
} put_arg_t;

static void on_put(void *arg, int rc, const char *why);
static void check(gale_checkpointer_t *c);

static void abandon(gale_checkpointer_t *c, const char *why)
{
    uint64_t id = c->current;
    gale_logf(GALE_LOG_WARN, "checkpoint", "checkpoint %" PRIu64 " failed: %s; the run goes on (%s)", id, why,
              c->stats.last_id ? "the last complete one stays the one to restore" : "no checkpoint is complete yet");
    c->stats.failed++;
    c->current = 0;
    atomic_store(&c->rt->ckpt_aborted, id);
    gale__runtime_control_changed(c->rt);
}

/* The first reason the checkpoint in flight fails is the one said. */
static void fail_current(gale_checkpointer_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_current(gale_checkpointer_t *c, const char *fmt, ...)
{
    if (c->failed) return;
    c->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
}

static void open_part(gale_checkpointer_t *c, uint64_t id);

static void take_report(gale_checkpointer_t *c, report_t *r)
{
    /* A worker's tasks may take their part before the supervisor's word reaches this loop: a barrier from another
       worker is proof enough that the checkpoint started. */
    if (c->participant && r->id > c->opened) open_part(c, r->id);
    if (r->id != c->current || !c->current) { /* a part of a checkpoint given up */
        gale_buf_free(&r->bytes);
        return;
    }
    gale_task_t *t = c->rt->tasks[r->task];
    c->reported++;
    if (r->rc) {
        fail_current(c, "task %s failed its part: %s", t->who, gale_strerror(r->rc));
        gale_buf_free(&r->bytes);
        return;
    }
    if (!r->bytes.len) {
        c->stored++;
        gale_buf_free(&r->bytes);
        return;
    }
    put_arg_t *a = malloc(sizeof *a);
    if (!a) {
        fail_current(c, "task %s: out of memory", t->who);
        gale_buf_free(&r->bytes);
        return;
    }
    *a = (put_arg_t){c, r->id};
    c->puts++;
    c->bytes += r->bytes.len;
    c->store->ops->put(c->store, r->id, t->comp->name, t->base.task_index, &r->bytes, on_put, a);
}

static void on_put(void *arg, int rc, const char *why)
{
    put_arg_t *a = arg;
    gale_checkpointer_t *c = a->c;
    uint64_t id = a->id;
    free(a);
    if (id != c->current) return;
    c->puts--;
    if (rc) fail_current(c, "the %s backend: %s", c->store->ops->name, why ? why : gale_strerror(rc));
    else c->stored++;
    check(c);
}

static void on_complete(void *arg, int rc, const char *why)
{
    put_arg_t *a = arg;
    gale_checkpointer_t *c = a->c;
    uint64_t id = a->id;
    free(a);
    c->completing = false;
    if (id != c->current) return;
    if (rc) {
        char text[600];
        snprintf(text, sizeof text, "the %s backend: %s", c->store->ops->name, why ? why : gale_strerror(rc));
        abandon(c, text);
        return;
    }
    c->stats.completed++;
    c->stats.last_id = id;
    c->stats.last_ms = (gale_now_ns() - c->started_ns) / 1000000;
    c->stats.last_bytes = c->bytes;
    c->current = 0;
    gale_logf(GALE_LOG_DEBUG, "checkpoint", "checkpoint %" PRIu64 " complete: %" PRIu64 " bytes in %" PRIu64 " ms", id,
              c->bytes, c->stats.last_ms);
    atomic_store(&c->rt->ckpt_committed, id);
    gale__runtime_control_changed(c->rt);
}

/* A participant's part is done (or failed): the driver tells the supervisor, which completes or abandons it. */
static void tell_part(gale_checkpointer_t *c)
{
    const gale_runtime_driver_t *drv = c->rt->opts.driver;
    uint64_t id = c->current;
    c->current = 0; /* what still comes for it (a put's answer after a failure) is ignored */
    c->told = id;
    c->told_started = c->started_ns;
    c->told_bytes = c->bytes;
    if (c->failed)
        gale_logf(GALE_LOG_DEBUG, "checkpoint", "checkpoint %" PRIu64 ": this worker's part failed: %s", id, c->why);
    drv->checkpointed(c->rt, drv->arg, id, c->failed ? GALE_EIO : 0, c->bytes, c->failed ? c->why : NULL);
}

static void check(gale_checkpointer_t *c)
{
    if (!c->current || c->completing) return;
    if (c->participant) {
        if (c->failed || (c->reported >= c->expected && !c->puts)) tell_part(c);
        return;
    }
    if (c->failed) {
        abandon(c, c->why);
        return;
    }
    if (c->reported < c->expected || c->puts) return;
    gale_checkpoint_record_t r;
    put_arg_t *a = malloc(sizeof *a);
    if (!a || gale_checkpoint_record_of(c->rt->topo, c->current, c->final == 2, &r)) {
        free(a);
        abandon(c, "out of memory");
        return;
    }
    *a = (put_arg_t){c, c->current};
    c->completing = true;
    c->store->ops->complete(c->store, &r, on_complete, a); /* the record is formatted before this returns */
    gale_checkpoint_record_free(&r);
}

static void on_async(uv_async_t *h)
{
    gale_checkpointer_t *c = h->data;
    pthread_mutex_lock(&c->mu);
    report_t *r = c->head;
    c->head = NULL;
    c->tail = &c->head;
    pthread_mutex_unlock(&c->mu);
    while (r) {
        report_t *next = r->next;
        take_report(c, r);
        free(r);
        r = next;
    }
    check(c);
}

void gale__checkpoint_report(gale_runtime_t *rt, uint32_t task, uint64_t id, int rc, gale_buf_t *bytes)
{
    gale_checkpointer_t *c = rt->ckpt;
    report_t *r = c ? calloc(1, sizeof *r) : NULL;
    if (!r) { /* the checkpoint then times out */
        gale_buf_free(bytes);
        return;
    }
    r->task = task, r->id = id, r->rc = rc ? rc : (bytes->failed ? GALE_ENOMEM : 0), r->bytes = *bytes;
    memset(bytes, 0, sizeof *bytes);
    pthread_mutex_lock(&c->mu);
    *c->tail = r;
    c->tail = &r->next;
    pthread_mutex_unlock(&c->mu);
    uv_async_send(&c->async);
}

/* Checkpoint `id`'s part opens here: its reports are counted from nothing. */
static void open_part(gale_checkpointer_t *c, uint64_t id)
{
    if (c->current && c->current != id) { /* a participant's older one, which its supervisor gave up */
        atomic_store(&c->rt->ckpt_aborted, c->current);
        gale__runtime_control_changed(c->rt);
    }
    c->current = id;
    if (id > c->opened) c->opened = id;
    c->started_ns = gale_now_ns();
    c->reported = c->stored = c->puts = 0;
    c->bytes = 0;
    c->failed = false;
}

static void start(gale_checkpointer_t *c)
{
    open_part(c, c->next_id++);
    atomic_store(&c->rt->ckpt_trigger, c->current);
    gale__runtime_control_changed(c->rt);
}

static void on_timer(uv_timer_t *h)
{
    gale_checkpointer_t *c = h->data;
    gale_runtime_t *rt = c->rt;
    if (c->current && gale_now_ns() - c->started_ns > c->timeout_ns) {
        char text[128];
        snprintf(text, sizeof text, "not complete within checkpoint_timeout_s (%d s)",
                 rt->topo->config.checkpoint_timeout_s);
        abandon(c, text);
    }
    if (c->current || c->quiet || c->final || atomic_load(&rt->phase) != GALE_RUN_RUNNING ||
        atomic_load(&rt->inactive) || atomic_load(&rt->spouts_done) >= rt->n_spout_tasks)
        return;
    start(c);
}

void gale__checkpointer_begin(gale_checkpointer_t *c, uint64_t id)
{
    if (!c || c->quiet || !c->participant) return;
    if (id > c->opened) open_part(c, id);
    else if (id != c->current) return;      /* opened already, and told (its barriers came first) */
    atomic_store(&c->rt->ckpt_trigger, id); /* the spouts here */
    gale__runtime_control_changed(c->rt);
    check(c); /* a worker with no task of its own has nothing to wait for */
}

void gale__checkpointer_end(gale_checkpointer_t *c, uint64_t id, bool committed)
{
    if (!c || !c->participant) return;
    if (committed) {
        c->stats.completed++;
        c->stats.last_id = id;
        if (c->told == id) {
            c->stats.last_ms = (gale_now_ns() - c->told_started) / 1000000;
            c->stats.last_bytes = c->told_bytes;
        }
        atomic_store(&c->rt->ckpt_committed, id);
    } else {
        c->stats.failed++;
        if (c->current == id) c->current = 0;
        atomic_store(&c->rt->ckpt_aborted, id);
    }
    if (c->told == id) c->told = 0;
    gale__runtime_control_changed(c->rt);
}

bool gale__checkpointer_final(gale_checkpointer_t *c)
{
    if (!c || c->quiet) return false;
    if (!c->final) c->final = 1;
    if (c->final == 1 && !c->current) { /* after the one in flight, if any */
        start(c);
        c->final = 2;
    } else if (c->final == 2 && !c->current) { /* completed, or abandoned */
        c->final = 3;
    }
    return c->final != 3;
}

/* ---- restore ------------------------------------------------------------------------------------------------ */

static int restore_part(gale_checkpointer_t *c, gale_task_t *t, uint64_t id, uint32_t index, uint32_t lo, uint32_t hi,
                        gale_diag_t *diag)
{
    char why[600];
    gale_buf_t b = {0};
    int rc = c->store->ops->get(c->store, id, t->comp->name, index, &b, why, sizeof why);
    if (rc == GALE_ENOENT) return 0; /* that task had no state */
    if (!rc)
        rc = gale_kvstate_restore(&t->kv, b.p, b.len, (uint32_t)c->rt->topo->config.state_key_groups, lo, hi, why,
                                  sizeof why);
    gale_buf_free(&b);
    if (rc)
        return gale__diag(diag, rc,
                          "%s: cannot restore checkpoint %" PRIu64 " of '%s' (task %u's snapshot): %s; "
                          "`gale run --fresh` starts from nothing",
                          c->rt->topo->file, id, t->comp->name, index, why);
    return 0;
}

static int restore(gale_checkpointer_t *c, gale_diag_t *diag)
{
    gale_runtime_t *rt = c->rt;
    gale_checkpoint_record_t rec = {0};
    char why[600];
    int rc = c->store->ops->latest(c->store, &rec, why, sizeof why);
    if (rc == GALE_ENOENT) {
        gale_checkpoint_record_free(&rec);
        c->next_id = 1;
        return 0;
    }
    if (rc) {
        gale_checkpoint_record_free(&rec);
        return gale__diag(diag, rc,
                          "%s: cannot read the latest checkpoint: %s; `gale run --fresh` starts from "
                          "nothing",
                          rt->topo->file, why);
    }
    uint32_t groups = (uint32_t)rt->topo->config.state_key_groups;
    for (uint32_t id = 1; id <= rt->topo->n_tasks && !rc; id++) {
        gale_task_t *t = rt->tasks[id];
        if (!t->exec) continue; /* another worker's */
        uint32_t was = gale_checkpoint_record_parallelism(&rec, t->comp->name), now = (uint32_t)t->comp->parallelism;
        if (!was) continue; /* a component the checkpoint did not have */
        if (was == now) {   /* the same task's snapshot, whole: keys that no grouping routes (a position) too */
            rc = restore_part(c, t, rec.id, t->base.task_index, 0, groups, diag);
        } else { /* the key groups this task owns now, from every old task that owned some of them */
            uint32_t lo, hi;
            gale_kvstate_group_range(t->base.task_index, now, groups, &lo, &hi);
            for (uint32_t j = 0; j < was && !rc; j++) {
                uint32_t olo, ohi;
                gale_kvstate_group_range(j, was, groups, &olo, &ohi);
                if (olo < hi && lo < ohi) rc = restore_part(c, t, rec.id, j, lo, hi, diag);
            }
        }
        t->kv.restored = rec.id;
        c->stats.restored_keys += t->kv.map.count;
    }
    c->stats.restored = rec.id;
    c->stats.last_id = rec.id;
    c->next_id = rec.id + 1;
    c->recovering = rec.final;
    c->recover_id = rec.id;
    if (!rc)
        gale_logf(GALE_LOG_INFO, "checkpoint", "restored checkpoint %" PRIu64 " (%" PRIu64 " entries of state)", rec.id,
                  c->stats.restored_keys);
    gale_checkpoint_record_free(&rec);
    return rc;
}

/* ---- lifecycle ---------------------------------------------------------------------------------------------- */

int gale__checkpointer_start(gale_runtime_t *rt, uv_loop_t *loop, bool fresh, gale_checkpointer_t **out,
                             gale_diag_t *diag)
{
    const gale_config_t *cfg = &rt->topo->config;
    gale_checkpointer_t *c = calloc(1, sizeof *c);
    if (!c) return gale__diag(diag, GALE_ENOMEM, "out of memory");
    c->rt = rt;
    c->participant = rt->opts.driver != NULL;
    if (c->participant) fresh = false; /* the supervisor wipes, once for every worker */
    c->loop = loop;
    c->tail = &c->head;
    c->timeout_ns = (uint64_t)cfg->checkpoint_timeout_s * 1000000000ull;
    char why[600];
    int rc = gale_state_store_open(loop, rt->topo, &c->store, why, sizeof why);
    if (rc) {
        free(c);
        return gale__diag(diag, rc, "%s: state: %s", rt->topo->file, why);
    }
    if (fresh && (rc = c->store->ops->wipe(c->store, why, sizeof why))) {
        c->store->ops->close(c->store);
        free(c);
        return gale__diag(diag, rc, "%s: state: %s", rt->topo->file, why);
    }
    if ((rc = restore(c, diag))) {
        c->store->ops->close(c->store);
        free(c);
        return rc;
    }
    for (uint32_t id = 1; id <= rt->topo->n_tasks; id++)
        if (rt->tasks[id]->exec) c->expected++;
    pthread_mutex_init(&c->mu, NULL);
    uv_async_init(loop, &c->async, on_async);
    c->async.data = c;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uint64_t every = (uint64_t)cfg->checkpoint_interval_ms;
    if (!c->participant) uv_timer_start(&c->timer, on_timer, every, every);
    rt->ckpt = c;
    *out = c;
    return 0;
}

static void on_close(uv_handle_t *h) { (void)h; }

void gale__checkpointer_stop(gale_checkpointer_t *c, bool input_ended)
{
    if (!c) return;
    c->quiet = true;
    c->input_ended = !c->participant && (c->input_ended || input_ended); /* a worker's state is its supervisor's */
    c->store->ops->stop(c->store);
    uv_timer_stop(&c->timer);
    if (!uv_is_closing((uv_handle_t *)&c->timer)) uv_close((uv_handle_t *)&c->timer, on_close);
    if (!uv_is_closing((uv_handle_t *)&c->async)) uv_close((uv_handle_t *)&c->async, on_close);
}

void gale__checkpointer_free(gale_checkpointer_t *c)
{
    if (!c) return;
    /* Here, not at the stop: the loop has run every write still in the thread pool, so none lands after. */
    if (c->input_ended) {
        char why[600];
        if (c->store->ops->wipe(c->store, why, sizeof why))
            gale_logf(GALE_LOG_WARN, "checkpoint", "the input is done, but the state could not be removed: %s", why);
        else
            gale_logf(GALE_LOG_DEBUG, "checkpoint",
                      "the input is done: the state is removed (the next run starts "
                      "from nothing)");
    }
    for (report_t *r = c->head, *next; r; r = next) {
        next = r->next;
        gale_buf_free(&r->bytes);
        free(r);
    }
    c->rt->ckpt = NULL;
    c->store->ops->close(c->store);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

bool gale__checkpointer_recovering(const gale_checkpointer_t *c) { return c && c->recovering; }

void gale__checkpointer_recover(gale_checkpointer_t *c)
{
    gale_runtime_t *rt = c->rt;
    gale_logf(GALE_LOG_INFO, "checkpoint",
              "checkpoint %" PRIu64 " was the last run's final one (its input was done): "
              "committing its output, with nothing to run; the next run starts from nothing",
              c->recover_id);
    for (uint32_t id = 1; id <= rt->topo->n_tasks; id++) {
        gale_task_t *t = rt->tasks[id];
        if (!t->exec) continue;
        int rc = gale__task_open_plugin(t);
        if (rc) {
            gale_logf(GALE_LOG_ERROR, t->who, "%s failed: %s (%d)", t->comp->kind == GALE_SPOUT ? "open" : "prepare",
                      gale_strerror(rc), rc);
            atomic_store(&rt->failed, 1);
            continue;
        }
        gale__barrier_committed(t, c->recover_id);
        gale__task_close_plugin(t);
    }
    c->input_ended = !c->participant && !atomic_load(&rt->failed);
}

void gale_checkpoint_stats_json(gale_buf_t *b, const gale_checkpoint_stats_t *cs)
{
    gale_buf_printf(b,
                    ", \"checkpoints\": {\"completed\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"last\": %" PRIu64
                    ", \"restored\": %" PRIu64 ", \"restored_entries\": %" PRIu64 ", \"last_ms\": %" PRIu64
                    ", \"last_bytes\": %" PRIu64 "}",
                    cs->completed, cs->failed, cs->last_id, cs->restored, cs->restored_keys, cs->last_ms,
                    cs->last_bytes);
}

void gale__checkpointer_stats(const gale_checkpointer_t *c, gale_checkpoint_stats_t *out)
{
    if (c) *out = c->stats;
    else memset(out, 0, sizeof *out);
}
