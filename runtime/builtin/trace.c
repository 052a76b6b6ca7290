/*
 * trace.c: one bolt, alone, on this thread, fed journaled tuples, with everything it does printed: the way to
 * see why a bolt fails the tuples in a journal. The bolt gets the usual host table except for the functions that
 * act (emit, ack, fail, keep, log, ...), which here record what was asked instead of routing anything.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "host.h"
#include "json.h"
#include "log.h"
#include "plugin.h"
#include "process.h"
#include "trace.h"
#include "tuple.h"

typedef struct trace_ctx {
    gale_ctx_base_t base; /* must stay first */
    const gale_component_t *comp;
    const gale_plugin_t *desc;
    gale_tuple_t *current;
    bool trace;
    FILE *out;
    unsigned errors; /* emits the bolt got wrong, logged errors */
} trace_ctx_t;

static trace_ctx_t *tctx(gale_ctx_t *ctx) { return (trace_ctx_t *)ctx; }

static void say(trace_ctx_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(trace_ctx_t *t, const char *fmt, ...)
{
    if (!t->trace) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(t->out, fmt, ap);
    va_end(ap);
}

static void print_values(trace_ctx_t *t, const gale_value_t *v, size_t n)
{
    gale_buf_t b = {0};
    gale_buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) gale_buf_puts(&b, ", ");
        gale_json_value(&b, &v[i]);
    }
    gale_buf_puts(&b, "]");
    say(t, "%s", b.p ? b.p : "");
    gale_buf_free(&b);
}

static int trace_emit(gale_ctx_t *ctx, const gale_emit_t *e)
{
    trace_ctx_t *t = tctx(ctx);
    if (!gale__emit_sized(e)) {
        t->errors++;
        say(t, "  emit REFUSED: a gale_emit_t of %u bytes, without its size\n", e->size);
        return GALE_EINVAL;
    }
    const char *name = e->stream ? e->stream : "default";
    int s = gale_component_stream(t->comp, name);
    if (s < 0 || t->comp->streams[s].n_fields != e->n_values) {
        t->errors++;
        say(t, "  emit REFUSED on stream '%s': %s\n", name,
            s < 0 ? "the bolt does not declare it" : "value count does not match the declared fields");
        return s < 0 ? GALE_ESTREAM : GALE_EFIELDS;
    }
    say(t, "  emit %s%s%s ", name, e->direct ? " direct to task " : "", "");
    if (e->direct) say(t, "%u ", e->direct_task);
    print_values(t, e->values, e->n_values);
    say(t, "%s\n", e->n_anchors || (t->desc->flags & GALE_BOLT_BASIC) ? " (anchored)" : "");
    if (e->n_tasks) *e->n_tasks = 0;
    return 0;
}

static int settle(gale_ctx_t *ctx, const gale_tuple_t *input, uint32_t how)
{
    trace_ctx_t *t = tctx(ctx);
    gale_tuple_t *in = (gale_tuple_t *)input;
    const char *verb = how == GALE_DLV_ACKED ? "ack" : "fail";
    if (in != t->current) {
        t->errors++;
        say(t, "  %s REFUSED: not the tuple being executed\n", verb);
        return GALE_ESTATE;
    }
    if (in->state & (GALE_DLV_ACKED | GALE_DLV_FAILED)) {
        t->errors++;
        say(t, "  %s REFUSED: already %s\n", verb, in->state & GALE_DLV_ACKED ? "acked" : "failed");
        return GALE_ESTATE;
    }
    in->state |= how;
    say(t, "  %s\n", verb);
    return 0;
}

static int trace_ack(gale_ctx_t *ctx, const gale_tuple_t *in) { return settle(ctx, in, GALE_DLV_ACKED); }
static int trace_fail(gale_ctx_t *ctx, const gale_tuple_t *in) { return settle(ctx, in, GALE_DLV_FAILED); }

/* Alone, a bolt cannot keep a tuple past its execute: there is nothing to settle it later against. */
static const gale_tuple_t *trace_keep(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    say(tctx(ctx), "  keep (the tuple will count as unsettled when execute returns)\n");
    return NULL;
}

static void trace_done(gale_ctx_t *ctx) { (void)ctx; }

static int trace_reset_timeout(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    say(tctx(ctx), "  reset_timeout\n");
    return 0;
}

static void trace_log(gale_ctx_t *ctx, gale_log_level_t level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    trace_ctx_t *t = tctx(ctx);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (level == GALE_LOG_ERROR) t->errors++;
    if (t->trace) say(t, "  log %s: %s\n", names[level <= GALE_LOG_ERROR ? level : 1], msg);
    else gale_logf(level, t->comp->name, "%s", msg);
}

/* One bolt fed by hand has no executor to wake. */
static int trace_wake(gale_ctx_t *ctx) { return GALE_ENOTSUP; }

/* A bolt fed by hand keeps no figures: its metrics are NULL, on which the updates are no-ops. */
static gale_metric_t *trace_metric(gale_ctx_t *ctx, const char *name, gale_metric_kind_t kind) { return NULL; }

static gale_host_t trace_host(void)
{
    gale_host_t h = gale__host;
    h.emit = trace_emit;
    h.ack = trace_ack;
    h.fail = trace_fail;
    h.keep = trace_keep;
    h.done = trace_done;
    h.log = trace_log;
    h.reset_timeout = trace_reset_timeout;
    h.wake = trace_wake;
    h.metric = trace_metric;
    return h;
}

/* The input the journaled tuples come through: the one fed by their spout, else the first. */
static const gale_input_t *input_for(const gale_component_t *bolt, int spout)
{
    for (size_t i = 0; i < bolt->n_inputs; i++)
        if (bolt->inputs[i].from_index == spout) return &bolt->inputs[i];
    return bolt->n_inputs ? &bolt->inputs[0] : NULL;
}

/* Runs one input through the bolt; returns 1 when it ended acked. */
static int feed(trace_ctx_t *t, gale_topology_t *topo, const gale_replay_item_t *it, size_t index)
{
    const gale_input_t *in = input_for(t->comp, it->component);
    const gale_component_t *src = &topo->components[in->from_index];
    int rc;
    gale_tuple_data_t *d = gale__tuple_decode(src, src->first_task, (uint16_t)in->stream_index, it->values,
                                              it->values_len, 1, 0, &rc);
    say(t, "input %zu (spout %s, msg_id %llu) as %s/%s: ", index, topo->components[it->component].name,
        (unsigned long long)it->msg_id, src->name, in->stream);
    if (!d) {
        say(t, "unreadable values (%s)\n", gale_strerror(rc));
        return 0;
    }
    print_values(t, d->vals, d->n_values);
    say(t, "\n");
    if (d->n_values != src->streams[in->stream_index].n_fields)
        say(t, "  warning: %u values, but stream %s/%s declares %zu fields\n", d->n_values, src->name, in->stream,
            src->streams[in->stream_index].n_fields);
    gale_tuple_t *dlv = gale__tuple_deliver(d, t->base.task_id);
    t->current = dlv;
    rc = t->desc->bolt.execute(&t->base.pub, dlv);
    t->current = NULL;
    if (rc) say(t, "  execute returned %s (%d)\n", gale_strerror(rc), rc);
    if ((t->desc->flags & GALE_BOLT_BASIC) && !(dlv->state & (GALE_DLV_ACKED | GALE_DLV_FAILED))) {
        dlv->state |= rc ? GALE_DLV_FAILED : GALE_DLV_ACKED;
        say(t, "  %s (basic bolt: %s)\n", rc ? "fail" : "ack", rc ? "execute returned an error" : "execute returned 0");
    }
    if (!(dlv->state & (GALE_DLV_ACKED | GALE_DLV_FAILED))) say(t, "  neither acked nor failed: it would time out\n");
    int acked = (dlv->state & GALE_DLV_ACKED) != 0;
    gale__tuple_release(d);
    return acked;
}

int gale_trace_bolt(gale_topology_t *topo, int component, gale_replay_set_t *s, bool trace, FILE *out)
{
    gale_host_t host = trace_host();
    trace_ctx_t t = {.comp = &topo->components[component], .trace = trace, .out = out};
    t.base.pub.host = &host;
    t.base.topo = topo;
    t.base.component = component;
    t.base.task_id = t.comp->first_task;
    t.desc = t.comp->plugin->desc;
    if (t.comp->kind != GALE_BOLT || !t.comp->n_inputs) return GALE_EINVAL;
    gale_process_hooks_t hooks = {0};
    int rc = gale__process_init_plugin(&hooks, topo->name, 0, 1, t.desc);
    if (rc) return rc;
    t.base.phase = GALE_PHASE_OPEN;
    rc = t.desc->bolt.prepare ? t.desc->bolt.prepare(&t.base.pub) : 0;
    if (rc) {
        say(&t, "prepare failed: %s (%d)\n", gale_strerror(rc), rc);
        gale__process_exit(&hooks);
        return rc;
    }
    t.base.phase = GALE_PHASE_RUN;
    size_t acked = 0;
    for (size_t i = 0; i < s->n; i++) acked += (size_t)feed(&t, topo, &s->items[i], i + 1);
    if (t.desc->bolt.finish) {
        say(&t, "finish:\n");
        rc = t.desc->bolt.finish(&t.base.pub);
        if (rc) say(&t, "  finish returned %s (%d)\n", gale_strerror(rc), rc);
    }
    t.base.phase = GALE_PHASE_CLOSED;
    if (t.desc->bolt.cleanup) t.desc->bolt.cleanup(&t.base.pub);
    gale__process_exit(&hooks);
    atomic_store(&s->acked, acked);
    atomic_store(&s->failed, s->n - acked);
    return acked == s->n ? 0 : GALE_EPLUGIN;
}
