/*
 * emit.c: the run-phase host functions: emit, ack, fail, keep, done and reset_timeout.
 *
 * An emit checks the stream (declared, and direct if and only if the emit is) and the value count against the
 * declaration, encodes the values once into a new tuple, asks each subscription's grouping for the target tasks,
 * adds one delivery per target, links the new deliveries into their tuple trees (acker.h), and only then hands them
 * over: a target on this executor runs at once (a direct call), so every delivery must already hold its reference
 * and its ids, or the first target to finish could free the tuple, or ack an edge the acker has not yet been told
 * of, under the others.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

#include "executor.h"
#include "log.h"
#include "ratelog.h"
#include "runtime.h"
#include "spout.h"
#include "task.h"
#include "watermark.h"

static int stream_index(const gale_task_t *t, const char *stream)
{
    if (!stream) return t->default_stream;
    for (size_t i = 0; i < t->comp->n_streams; i++)
        if (strcmp(t->comp->streams[i].name, stream) == 0) return (int)i;
    return -1;
}

static void join_fields(const gale_stream_t *s, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n_fields && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", s->fields[i]);
}

/* Where `in` is among the task's kept inputs, or -1. O(1), so that a bolt keeping thousands of inputs (a window)
   does not pay for each ack with a search; the list itself confirms the index, so a pointer the bolt no longer owns
   is refused (the contract: a kept input is valid until it is acked or failed). */
static long find_kept(const gale_task_t *t, const gale_tuple_t *in)
{
    if (!t->n_kept) return -1;
    uint32_t i = in->kept_at;
    return i < t->n_kept && t->kept[i] == in ? (long)i : -1;
}

/* An input the bolt may use now: the one being executed, one it kept, or, while execute_window runs, one its window
   holds and has not settled. */
static bool is_live_input(const gale_task_t *t, const gale_tuple_t *in)
{
    if (!in) return false;
    if (in == t->current || find_kept(t, in) >= 0) return true;
    return t->firing && (in->state & (GALE_DLV_WINDOW | GALE_DLV_ACKED | GALE_DLV_FAILED)) == GALE_DLV_WINDOW;
}

/* After a hot swap to a plugin declaring more than the component (task.h, `declared`): whether its declaration of
   the emit's stream allows emit `e` (the stream direct as the emit is, its field count). */
static bool declared_allows(const gale_task_t *t, const gale_emit_t *e)
{
    const char *name = e->stream ? e->stream : "default";
    for (size_t i = 0; i < t->n_declared; i++) {
        const gale_stream_t *own = &t->declared[i];
        if (!strcmp(own->name, name)) return own->direct == e->direct && own->n_fields == e->n_values;
    }
    return false;
}

/* check_emit's answer for an emit on a stream only the swapped-in plugin declares: nobody subscribes to it until
   the topology is submitted again. */
#define EMIT_UNSUBSCRIBED 1

/* 0 with *stream and *n_values (the values the component's stream takes), EMIT_UNSUBSCRIBED, or a code. */
static int check_emit(gale_task_t *t, const gale_emit_t *e, int *stream, size_t *n_values)
{
    if (t->base.phase != GALE_PHASE_RUN) return GALE_ESTATE;
    if (!gale__emit_sized(e)) {
        gale__task_error(t,
                         "emit with a gale_emit_t of %u bytes, ABI 2.0's has %zu: set its size (the gale_emit*() "
                         "helpers do)",
                         e->size, GALE__EMIT_SIZE_2_0);
        return GALE_EINVAL;
    }
    int s = stream_index(t, e->stream);
    const gale_stream_t *st = s >= 0 ? &t->comp->streams[s] : NULL;
    /* The plugin's own wider declaration is looked at only off the usual path: a stream or a value count the
       component does not have. What it adds is not sent: no subscriber knows of it. */
    bool wider = (!st || e->n_values != st->n_fields) && declared_allows(t, e);
    if (!st && wider) return EMIT_UNSUBSCRIBED;
    if (!st) {
        gale__task_error(t, "emit on stream '%s', which it does not declare", e->stream ? e->stream : "default");
        return GALE_ESTREAM;
    }
    /* A direct stream is emitted directly and only so (Storm's): one byte beside n_fields, once per emit. */
    if (e->direct != st->direct) {
        if (e->direct)
            gale__task_error(t,
                             "emit_direct on stream '%s', which is not declared direct (declare it with "
                             "gale_declare_direct_stream)",
                             st->name);
        else gale__task_error(t, "emit on stream '%s', which is declared direct: use gale_emit_direct", st->name);
        return GALE_ESTREAM;
    }
    if (e->n_values != st->n_fields && !wider) {
        char fields[256];
        join_fields(st, fields, sizeof fields);
        gale__task_error(t, "emit of %zu values on stream '%s', which declares %zu fields (%s)", e->n_values,
                         st->name, st->n_fields, fields);
        return GALE_EFIELDS;
    }
    for (size_t i = 0; i < e->n_anchors && !t->basic; i++)
        if (!is_live_input(t, e->anchors[i])) {
            gale__task_error(t, "emit anchored to a tuple that is neither being executed nor kept");
            return GALE_ESTATE;
        }
    *stream = s;
    *n_values = st->n_fields;
    return 0;
}

/* Adds the deliveries of one emit; returns how many, or a negative code for a direct emit nobody takes. */
static int add_deliveries(gale_task_t *t, const gale_route_t *route, int stream, gale_tuple_data_t *d,
                          const gale_emit_t *e)
{
    uint32_t *chosen = t->exec->scratch;
    for (size_t i = 0; i < route->n_subs; i++) {
        const gale_sub_t *sub = &route->subs[i];
        if (sub->grouping == GALE_GROUPING_DIRECT) {
            if (e->direct && gale_sub_has_task(sub, e->direct_task)) gale__tuple_deliver(d, e->direct_task);
            continue;
        }
        if (e->direct) continue;
        size_t n = gale_grouping_select(sub, &t->sub_state[stream][i], d, chosen);
        for (size_t k = 0; k < n; k++) gale__tuple_deliver(d, chosen[k]);
    }
    if (e->direct && d->n_deliveries == 0) {
        gale__task_error(t, "emit_direct to task %u, which no direct subscription of stream '%s' has",
                         e->direct_task, t->comp->streams[stream].name);
        return GALE_EINVAL;
    }
    return (int)d->n_deliveries;
}

static void report_tasks(const gale_emit_t *e, const gale_tuple_data_t *d)
{
    if (e->n_tasks) *e->n_tasks = d ? d->n_deliveries : 0;
    if (!d || !e->tasks) return;
    for (uint32_t i = 0; i < d->n_deliveries && i < e->tasks_cap; i++) e->tasks[i] = d->dlv[i].task;
}

/* A spout message that nothing will track (no ackers, or no target): as in Storm, its ack comes at once, after
   next_tuple returns. */
static void ack_soon(gale_task_t *t, uint64_t msg_id)
{
    if (gale__u64vec_push(&t->acks_due, msg_id))
        gale__task_error(t, "out of memory recording message id %llu", (unsigned long long)msg_id);
}

int gale__emit_stream(gale_task_t *t, int stream, const gale_emit_t *e, uint32_t attempts)
{
    gale_runtime_t *rt = t->rt;
    const gale_route_t *route = gale_router_route(&rt->router, t->base.component, stream);
    bool spout_msg = t->comp->kind == GALE_SPOUT && e->has_msg_id;
    bool track = spout_msg && rt->acking;
    /* A basic bolt's emits in execute hang off the current input; elsewhere the emit's own anchors count. */
    const gale_tuple_t *const *anchors = t->basic ? (const gale_tuple_t *const *)&t->current : e->anchors;
    size_t n_anchors = t->basic ? (t->current ? 1 : 0) : e->n_anchors;
    if (__builtin_expect(t->firing != NULL, 0) && !e->n_anchors) /* Storm's windowed collector: the whole window */
        anchors = t->firing->tuples, n_anchors = t->firing->n_tuples;
    if (route->n_subs == 0) { /* nobody listens: count, and skip the encoding */
        report_tasks(e, NULL);
        t->m.emitted++;
        if (spout_msg) ack_soon(t, e->msg_id);
        return 0;
    }
    size_t roots = track ? 1 : rt->acking ? gale_tree_roots_bound(anchors, n_anchors) : 0;
    int rc;
    gale_tuple_data_t *d = gale__tuple_new(t->comp, t->base.task_id, (uint16_t)stream, e->values, e->n_values,
                                           route->max_fanout, (uint32_t)roots, &rc);
    if (!d) {
        gale__task_error(t, "emit on stream '%s': %s", t->comp->streams[stream].name, gale_strerror(rc));
        return rc;
    }
    gale__watermarks_emitted(t, stream, d);
    /* Latency markers: one spout tuple in GALE_MARKER_EVERY carries its emit time, and everything emitted while
       executing it inherits the mark. */
    if (t->comp->kind == GALE_SPOUT) d->origin_ns = (++t->marker & (GALE_MARKER_EVERY - 1)) == 0 ? gale_now_ns() : 0;
    else if (t->current) d->origin_ns = t->current->data->origin_ns;
    if (track) d->n_roots = 1;
    else if (roots) gale_tree_set_roots(d, anchors, n_anchors);
    rc = add_deliveries(t, route, stream, d, e);
    if (rc <= 0) {
        report_tasks(e, NULL);
        gale__tuple_discard(d);
        if (rc == 0 && spout_msg) ack_soon(t, e->msg_id);
        if (rc == 0) t->m.emitted++;
        return rc < 0 ? rc : 0;
    }
    report_tasks(e, d);
    t->m.emitted++;
    if (track) gale__spout_track(t, d, e->msg_id, attempts);
    else if (spout_msg) ack_soon(t, e->msg_id);
    else if (d->n_roots) gale_tree_link(d, anchors, n_anchors, &t->rng);
    uint32_t n = d->n_deliveries;
    t->m.transferred += n;
    gale_tuple_t *dlv = d->dlv;
    for (uint32_t i = 0; i < n; i++) gale__dispatch(t->exec, &dlv[i]);
    return 0;
}

int gale__emit(gale_ctx_t *ctx, const gale_emit_t *e)
{
    gale_task_t *t = gale__task(ctx);
    int stream;
    size_t n_values;
    int rc = check_emit(t, e, &stream, &n_values);
    if (rc < 0) return rc;
    if (rc == EMIT_UNSUBSCRIBED) { /* counted, as an emit to no subscriber is */
        report_tasks(e, NULL);
        t->m.emitted++;
        return 0;
    }
    if (n_values == e->n_values) return gale__emit_stream(t, stream, e, 1);
    gale_emit_t known = *e; /* the fields the topology knows of, the first */
    known.n_values = n_values;
    return gale__emit_stream(t, stream, &known, 1);
}

/* A warning, not an error of the task: the data was bad, not the plugin. Rate-limited as errors are. */
__attribute__((format(printf, 2, 3))) static void bad_data(gale_task_t *t, const char *fmt, ...)
{
    uint64_t k = ++t->bad_data;
    if (!gale_log_worth(k)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gale_logf(GALE_LOG_WARN, t->who, "%s%s", msg, k > 10 ? " (and more: the journal has each)" : "");
}

int gale__reject(gale_ctx_t *ctx, const char *stream, const gale_value_t *values, size_t n, uint64_t msg_id,
                 const char *error)
{
    gale_task_t *t = gale__task(ctx);
    if (t->comp->kind != GALE_SPOUT) return GALE_ESTATE; /* declare has a table of its own (declare.c) */
    gale_emit_t e = {.size = sizeof e, .stream = stream, .values = values, .n_values = n, .msg_id = msg_id};
    int s;
    size_t n_values;
    int rc = check_emit(t, &e, &s, &n_values);
    if (rc == EMIT_UNSUBSCRIBED) {
        gale__task_error(t, "reject on stream '%s', which only the swapped-in plugin declares: not journaled",
                         stream ? stream : "default");
        return GALE_ESTREAM;
    }
    if (rc < 0) return rc;
    gale_tuple_data_t *d = gale__tuple_new(t->comp, t->base.task_id, (uint16_t)s, values, n_values, 0, 0, &rc);
    if (!d) {
        gale__task_error(t, "reject on stream '%s': %s", t->comp->streams[s].name, gale_strerror(rc));
        return rc;
    }
    const char *why = error && *error ? error : "rejected by the spout";
    bad_data(t, "message id %llu rejected: %s", (unsigned long long)msg_id, why);
    rc = gale__spout_journal(t, d, msg_id, "rejected", why, t->base.task_id, 0);
    gale__tuple_discard(d);
    t->m.failed++;
    return rc ? GALE_EIO : 0;
}

/* Tells the ackers of each of the input's trees; a FAIL with `why` (or NULL) gives each tree a copy of it. */
static void send_tree_ops(gale_task_t *t, const gale_tuple_t *in, gale_op_kind_t kind, const char *why)
{
    gale_runtime_t *rt = t->rt;
    for (uint32_t r = 0; r < in->data->n_roots; r++) {
        uint64_t root = in->data->roots[r];
        gale_op_t op = {.kind = kind, .task = gale_tree_acker(root, rt->acker_comp.first_task,
                                                              (uint32_t)rt->acker_comp.parallelism),
                        .root = root, .from = t->base.task_id};
        if (kind == GALE_OP_ACK) op.val = gale_tree_ack_val(in, r);
        if (kind == GALE_OP_FAIL && why) op.val = gale_reasons_put(rt->reasons, why, strlen(why));
        gale__send_op(t->exec, &op);
    }
}

/* Settles an input once: marks it, tells the ackers (a fail with `why`, or NULL), and releases it if it was kept
   past its execute. */
static int settle(gale_ctx_t *ctx, const gale_tuple_t *input, uint32_t how, const char *why)
{
    gale_task_t *t = gale__task(ctx);
    const char *verb = how == GALE_DLV_ACKED ? "ack" : "fail";
    if (t->base.phase != GALE_PHASE_RUN || t->comp->kind != GALE_BOLT) return GALE_ESTATE;
    gale_tuple_t *in = (gale_tuple_t *)input;
    long k = in == t->current ? -2 : find_kept(t, in);
    if (k == -1) {
        if (in->state & GALE_DLV_WINDOW)
            gale__task_error(t, "%s of a tuple of its window: the runtime acks those as they leave the window", verb);
        else
            gale__task_error(t,
                             "%s of a tuple that is neither being executed nor kept (settled twice, or used "
                             "after execute returned without gale_keep)",
                             verb);
        return GALE_ESTATE;
    }
    if (in->state & (GALE_DLV_ACKED | GALE_DLV_FAILED)) {
        gale__task_error(t, "%s of a tuple already %s", verb, in->state & GALE_DLV_ACKED ? "acked" : "failed");
        return GALE_ESTATE;
    }
    in->state |= how;
    if (how == GALE_DLV_ACKED) t->m.acked++, gale__task_acked(t, in);
    else t->m.failed++;
    if (in == t->sample_in) t->sample_in = NULL; /* failed: no process latency */
    if (why) bad_data(t, "input from %s failed: %s", in->data->src->name, why);
    if (t->rt->acking) send_tree_ops(t, in, how == GALE_DLV_ACKED ? GALE_OP_ACK : GALE_OP_FAIL, why);
    if (in->state & GALE_DLV_KEPT) {
        if (k < 0) k = find_kept(t, in);
        t->kept[k] = t->kept[--t->n_kept];
        t->kept[k]->kept_at = (uint32_t)k;
        in->state &= ~(uint32_t)GALE_DLV_KEPT;
        if (in != t->current) gale__tuple_release(in->data);
    }
    return 0;
}

void gale__settle_held(gale_task_t *t, gale_tuple_t *in, uint32_t how)
{
    in->state |= how;
    if (how == GALE_DLV_ACKED) t->m.acked++, gale__task_acked(t, in);
    else t->m.failed++;
    if (in == t->sample_in) t->sample_in = NULL;
    if (t->rt->acking) send_tree_ops(t, in, how == GALE_DLV_ACKED ? GALE_OP_ACK : GALE_OP_FAIL, NULL);
}

int gale__ack(gale_ctx_t *ctx, const gale_tuple_t *input) { return settle(ctx, input, GALE_DLV_ACKED, NULL); }
int gale__fail(gale_ctx_t *ctx, const gale_tuple_t *input) { return settle(ctx, input, GALE_DLV_FAILED, NULL); }
int gale__fail_with(gale_ctx_t *ctx, const gale_tuple_t *input, const char *why)
{
    return settle(ctx, input, GALE_DLV_FAILED, why && *why ? why : NULL);
}

int gale__reset_timeout(gale_ctx_t *ctx, const gale_tuple_t *input)
{
    gale_task_t *t = gale__task(ctx);
    if (t->base.phase != GALE_PHASE_RUN || t->comp->kind != GALE_BOLT) return GALE_ESTATE;
    if (!is_live_input(t, input)) {
        gale__task_error(t, "reset_timeout of a tuple that is neither being executed nor kept");
        return GALE_ESTATE;
    }
    if (t->rt->acking) {
        send_tree_ops(t, input, GALE_OP_RESET, NULL);
        /* The bolt is in the middle of something long: the reset must leave now, not when execute returns. */
        gale__executor_flush(t->exec);
    }
    return 0;
}

const gale_tuple_t *gale__keep(gale_ctx_t *ctx, const gale_tuple_t *input)
{
    gale_task_t *t = gale__task(ctx);
    gale_tuple_t *in = (gale_tuple_t *)input;
    if (t->base.phase != GALE_PHASE_RUN || in != t->current || (in->state & (GALE_DLV_ACKED | GALE_DLV_FAILED))) {
        if (t->base.phase == GALE_PHASE_RUN) gale__task_error(t, "gale_keep of a tuple that is not being executed");
        return NULL;
    }
    if (in->state & GALE_DLV_KEPT) return in;
    if (t->n_kept == t->cap_kept) {
        size_t cap = t->cap_kept ? t->cap_kept * 2 : 16;
        gale_tuple_t **kept = realloc(t->kept, cap * sizeof *kept);
        if (!kept) return NULL;
        t->kept = kept;
        t->cap_kept = cap;
    }
    in->kept_at = (uint32_t)t->n_kept;
    t->kept[t->n_kept++] = in;
    in->state |= GALE_DLV_KEPT;
    return in;
}

void gale__done(gale_ctx_t *ctx)
{
    gale_task_t *t = gale__task(ctx);
    if (t->base.phase != GALE_PHASE_RUN || t->comp->kind != GALE_SPOUT || t->done) return;
    t->done = true;
    atomic_fetch_add(&t->rt->spouts_done, 1);
}
