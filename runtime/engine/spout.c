#include "spout.h"

#include <stdlib.h>
#include <time.h>

#include "executor.h"
#include "log.h"
#include "runtime.h"

/* ---- resume positions ------------------------------------------------------------------------------------ */

int gale__replayable(gale_ctx_t *ctx, uint64_t *resume_from)
{
    gale_task_t *t = gale__task(ctx);
    if (t->base.phase != GALE_PHASE_OPEN || t->comp->kind != GALE_SPOUT) return GALE_ESTATE;
    if (!t->rt->acking) return GALE_ENOTSUP;
    t->resumable = true;
    if (!t->resuming) return GALE_ENOENT;
    atomic_store_explicit(&t->position, t->resume_from, memory_order_relaxed);
    *resume_from = t->resume_from;
    return 0;
}

/* A first emit whose message id is not above the last one's: the id cannot be a position, and a restart from the
   task's position could skip what it stands for. Said once; from here the task's trees count as lost with it. */
static void not_replayable(gale_task_t *t, uint64_t msg_id)
{
    t->resumable = false;
    atomic_store_explicit(&t->position, GALE_NO_POSITION, memory_order_relaxed);
    gale_logf(GALE_LOG_ERROR, t->who,
              "message id %llu is not above the last one (%llu): the spout called gale_replayable, so its message "
              "ids must be increasing positions; it is no longer replayable, and a restart will not resume it",
              (unsigned long long)msg_id, (unsigned long long)(t->next_msg_id - 1));
}

/* A replayable task has a position once it was resumed or tracked a tree (which moved next_msg_id past its id). */
static bool has_position(const gale_task_t *t) { return t->resumable && (t->resuming || t->next_msg_id > 0); }

/* The position nothing is lost from: the smallest message id still open (pending or waiting for a replay), else
   the next one. Every TIMEOUT_SCAN_NS: the pending trees are at most max_spout_pending. */
static void publish_position(gale_task_t *t)
{
    uint64_t p = t->next_msg_id;
    size_t pos = 0;
    void *v;
    while (gale_u64map_next(&t->pending, &pos, &v)) {
        const gale_pending_t *pd = v;
        if (pd->msg_id < p) p = pd->msg_id;
    }
    for (size_t i = 0; i < t->n_retries; i++)
        if (t->retries[i].msg_id < p) p = t->retries[i].msg_id;
    atomic_store_explicit(&t->position, p, memory_order_relaxed);
}

void gale__spout_resume(gale_task_t *t, uint64_t position)
{
    t->resuming = true;
    t->resume_from = position;
    t->next_msg_id = position;
}

void gale__spout_reopening(gale_task_t *t)
{
    bool had = has_position(t);
    t->resumable = false; /* until the new plugin calls gale_replayable */
    if (had) gale__spout_resume(t, t->next_msg_id);
}

/* ---- trees ---------------------------------------------------------------------------------------------- */

void gale__spout_track(gale_task_t *t, gale_tuple_data_t *d, uint64_t msg_id, uint32_t attempts)
{
    gale_runtime_t *rt = t->rt;
    if (t->resumable && attempts == 1) {
        if (msg_id < t->next_msg_id || msg_id == GALE_NO_POSITION) {
            not_replayable(t, msg_id);
        } else {
            t->next_msg_id = msg_id + 1;
        }
    }
    uint64_t root = gale_rand64(&t->rng);
    uint64_t init = gale_tree_start(d, root, &t->rng);
    int created;
    gale_pending_t *p = gale_u64map_put(&t->pending, root, &created);
    if (!p) { /* out of memory: the tree goes untracked and its acks land nowhere; say so */
        gale__task_error(t, "out of memory tracking message id %llu", (unsigned long long)msg_id);
        return;
    }
    p->msg_id = msg_id;
    p->start_ns = gale_now_ns();
    p->attempts = attempts;
    p->data = NULL;
    if (t->keep_values) {
        atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
        p->data = d;
    }
    gale_op_t op = {.kind = GALE_OP_INIT,
                    .task = gale_tree_acker(root, rt->acker_comp.first_task, (uint32_t)rt->acker_comp.parallelism),
                    .root = root, .val = init, .from = t->base.task_id};
    gale__send_op(t->exec, &op);
}

bool gale__spout_may_emit(const gale_task_t *t)
{
    int max = t->rt->topo->config.max_spout_pending;
    return max <= 0 || gale__spout_open_trees(t) < (size_t)max;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gale__spout_journal(gale_task_t *t, const gale_tuple_data_t *d, uint64_t msg_id, const char *cause,
                        const char *error, uint32_t from, uint32_t attempts)
{
    gale_runtime_t *rt = t->rt;
    if (!rt->journal) return 0;
    const gale_component_t *by = from && from <= rt->n_all_tasks ? rt->tasks[from]->comp : NULL;
    gale_journal_record_t rec = {.time_ms = wall_ms(),
                                 .topology = rt->topo->name,
                                 .spout = t->comp->name,
                                 .stream = t->comp->streams[d->stream].name,
                                 .msg_id = msg_id,
                                 .values = d->raw,
                                 .values_len = d->raw_len,
                                 .cause = cause,
                                 .component = by ? by->name : NULL,
                                 .task = by ? from : 0,
                                 .attempts = attempts,
                                 .error = error};
    int rc = gale_journal_append(rt->journal, &rec);
    if (rc) gale__task_error(t, "cannot journal message id %llu: %s", (unsigned long long)msg_id, gale_strerror(rc));
    return rc;
}

static void journal_tree(gale_task_t *t, const gale_pending_t *p, const char *cause, uint32_t from, const char *error)
{
    if (p->data) gale__spout_journal(t, p->data, p->msg_id, cause, error, from, p->attempts);
}

/*
 * The wait before replay number `attempts`: retry_backoff_ms doubling with each attempt, capped at
 * retry_backoff_max_ms (uncapped, the 20th attempt would wait 29 hours), then "equal jitter": between half of it
 * and all of it, so that trees failed together by one outage do not all come back at the same moment.
 */
uint64_t gale__retry_backoff_ns(const gale_config_t *cfg, uint32_t attempts, uint64_t random)
{
    uint64_t base = (uint64_t)(cfg->retry_backoff_ms > 0 ? cfg->retry_backoff_ms : 0);
    uint64_t cap = (uint64_t)(cfg->retry_backoff_max_ms > 0 ? cfg->retry_backoff_max_ms : 0);
    if (cap < base) cap = base;
    uint32_t doublings = attempts > 1 ? attempts - 1 : 0;
    uint64_t ms = base;
    while (doublings-- && ms < cap) ms *= 2;
    if (ms > cap) ms = cap;
    uint64_t ns = ms * 1000000ull, half = ns / 2;
    return half + (half ? random % (half + 1) : 0);
}

static int schedule_retry(gale_task_t *t, const gale_pending_t *p, uint64_t now_ns)
{
    if (t->n_retries == t->cap_retries) {
        size_t cap = t->cap_retries ? t->cap_retries * 2 : 16;
        gale_retry_t *r = realloc(t->retries, cap * sizeof *r);
        if (!r) return GALE_ENOMEM;
        t->retries = r;
        t->cap_retries = cap;
    }
    uint64_t backoff_ns = gale__retry_backoff_ns(&t->rt->topo->config, p->attempts, gale_rand64(&t->rng));
    t->retries[t->n_retries++] = (gale_retry_t){.msg_id = p->msg_id, .due_ns = now_ns + backoff_ns,
                                                .data = p->data, .attempts = p->attempts + 1};
    return 0;
}

/* A tree failed (explicitly, by timeout): replay it, or end it for good. `p` was already removed from pending.
   `error`: why, when the task that failed it said (gale_fail_with), else NULL; only the last attempt's is kept. */
static void tree_failed(gale_task_t *t, const gale_pending_t *p, const char *cause, uint32_t from, uint64_t now_ns,
                        const char *error)
{
    if (t->replay && p->data && p->attempts <= (uint32_t)t->rt->topo->config.max_retries &&
        schedule_retry(t, p, now_ns) == 0)
        return; /* the retry owns the values now */
    journal_tree(t, p, cause, from, error);
    if (p->data) gale__tuple_release(p->data);
    t->m.failed++;
    if (t->desc->spout.fail) t->desc->spout.fail(&t->base.pub, p->msg_id);
}

void gale__spout_op(gale_task_t *t, const gale_op_t *op, uint64_t now_ns)
{
    /* A FAILED op's reason is taken whatever happens next, so that it leaves the table now. */
    char *why = op->kind == GALE_OP_FAILED && op->val ? gale_reasons_take(t->rt->reasons, (uint32_t)op->val) : NULL;
    gale_pending_t *found = gale_u64map_get(&t->pending, op->root);
    if (!found) { /* timed out already: the acker's answer came too late */
        free(why);
        return;
    }
    if (op->kind == GALE_OP_TOUCH) {
        found->start_ns = now_ns;
        return;
    }
    gale_pending_t p = *found;
    gale_u64map_del(&t->pending, op->root);
    if (op->kind == GALE_OP_FAILED) {
        tree_failed(t, &p, "fail", op->from, now_ns, why);
        free(why);
        return;
    }
    gale_hist_add(&t->m.complete, gale_now_ns() - p.start_ns);
    t->m.acked++;
    if (p.data) gale__tuple_release(p.data);
    if (t->desc->spout.ack) t->desc->spout.ack(&t->base.pub, p.msg_id);
}

static size_t scan_timeouts(gale_task_t *t, uint64_t now_ns)
{
    uint64_t limit = t->rt->timeout_ns;
    if (now_ns < limit) return 0;
    size_t pos = 0, n = 0;
    void *v;
    while (gale_u64map_next(&t->pending, &pos, &v)) {
        gale_pending_t p = *(gale_pending_t *)v;
        if (p.start_ns >= now_ns - limit) continue;
        gale_u64map_del_at(&t->pending, &pos);
        tree_failed(t, &p, "timeout", 0, now_ns, NULL);
        n++;
    }
    return n;
}

static size_t replay_due(gale_task_t *t, uint64_t now_ns)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_retries;) {
        gale_retry_t r = t->retries[i];
        if (r.due_ns > now_ns) {
            i++;
            continue;
        }
        t->retries[i] = t->retries[--t->n_retries];
        gale_emit_t e = {.size = sizeof e, .values = r.data->vals, .n_values = r.data->n_values, .has_msg_id = true,
                         .msg_id = r.msg_id};
        int rc = gale__emit_stream(t, r.data->stream, &e, r.attempts);
        if (rc) gale__task_error(t, "replay of message id %llu failed: %s", (unsigned long long)r.msg_id,
                                 gale_strerror(rc));
        gale__tuple_release(r.data);
        n++;
    }
    return n;
}

size_t gale__spout_tick(gale_task_t *t, uint64_t now_ns, bool scan)
{
    size_t n = t->n_retries ? replay_due(t, now_ns) : 0;
    if (scan && t->pending.count) n += scan_timeouts(t, now_ns);
    if (scan && has_position(t)) publish_position(t);
    return n;
}

/* At close, trees still open will never complete: with a journal they are written to it with cause "stopped"
   (so that `gale replay` can feed them again), and their values are released. */
void gale__spout_forget(gale_task_t *t)
{
    if (has_position(t)) publish_position(t); /* the last word: what is still open is not done */
    size_t pos = 0;
    void *v;
    while (gale_u64map_next(&t->pending, &pos, &v)) {
        gale_pending_t *p = v;
        journal_tree(t, p, "stopped", 0, NULL);
        if (p->data) gale__tuple_release(p->data);
        p->data = NULL;
    }
    for (size_t i = 0; i < t->n_retries; i++) {
        const gale_retry_t *r = &t->retries[i];
        gale_pending_t p = {.msg_id = r->msg_id, .attempts = r->attempts - 1, .data = r->data};
        journal_tree(t, &p, "stopped", 0, NULL);
        gale__tuple_release(r->data);
    }
    t->n_retries = 0;
}
