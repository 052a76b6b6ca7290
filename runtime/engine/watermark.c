#include "watermark.h"

#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "runtime.h"
#include "window.h"

int gale__watermarks_init(gale_task_t *t)
{
    const gale_topology_t *topo = t->rt->topo;
    t->wm_out = NULL;
    if (t->comp->kind != GALE_SPOUT && t->comp->kind != GALE_BOLT) return 0;
    size_t n = 0;
    for (size_t c = 0; c < topo->n_components; c++) {
        const gale_component_t *b = &topo->components[c];
        if (b->window.type == GALE_WINDOW_NONE || !b->window.timestamp_field) continue;
        for (size_t i = 0; i < b->n_inputs; i++)
            if (&topo->components[b->inputs[i].from_index] == t->comp) n++;
    }
    if (!n) return 0;
    gale_watermarks_t *w = calloc(1, sizeof *w);
    if (!w || !(w->outs = calloc(n, sizeof *w->outs))) {
        free(w);
        return GALE_ENOMEM;
    }
    for (size_t c = 0; c < topo->n_components; c++) {
        const gale_component_t *b = &topo->components[c];
        if (b->window.type == GALE_WINDOW_NONE || !b->window.timestamp_field) continue;
        for (size_t i = 0; i < b->n_inputs; i++) {
            const gale_input_t *in = &b->inputs[i];
            if (&topo->components[in->from_index] != t->comp) continue;
            const gale_stream_t *st = &t->comp->streams[in->stream_index];
            size_t f = 0;
            while (f < st->n_fields && strcmp(st->fields[f], b->window.timestamp_field)) f++;
            w->outs[w->n++] = (gale_watermark_out_t){.stream = (uint16_t)in->stream_index,
                                                     .field = (uint16_t)f,
                                                     .lag = (int64_t)b->window.lag_ms,
                                                     .to = b,
                                                     .max_ts = INT64_MIN,
                                                     .sent = INT64_MIN};
            uint64_t ns = b->window.watermark_ms * 1000000ull;
            if (!w->interval_ns || ns < w->interval_ns) w->interval_ns = ns;
        }
    }
    t->wm_out = w;
    return 0;
}

void gale__watermarks_destroy(gale_task_t *t)
{
    if (!t->wm_out) return;
    free(t->wm_out->outs);
    free(t->wm_out);
    t->wm_out = NULL;
}

void gale__watermarks_note(gale_task_t *t, int stream, const gale_tuple_data_t *d)
{
    gale_watermarks_t *w = t->wm_out;
    for (size_t i = 0; i < w->n; i++) {
        gale_watermark_out_t *o = &w->outs[i];
        if (o->stream != stream || o->field >= d->n_values) continue;
        const gale_value_t *v = &d->vals[o->field];
        int64_t ts = v->type == GALE_INT ? v->i : v->type == GALE_UINT ? INT64_MAX / 2 : INT64_MIN;
        if (ts > o->max_ts) o->max_ts = ts;
    }
}

/* The watermark `o` has to say: its highest timestamp less the lag (not below INT64_MIN + 1). */
static int64_t watermark_of(const gale_watermark_out_t *o)
{
    return o->max_ts < INT64_MIN + 1 + o->lag ? INT64_MIN + 1 : o->max_ts - o->lag;
}

uint64_t gale__watermarks_due_ns(const gale_task_t *t)
{
    const gale_watermarks_t *w = t->wm_out;
    if (!w) return UINT64_MAX;
    for (size_t i = 0; i < w->n; i++)
        if (w->outs[i].max_ts != INT64_MIN && watermark_of(&w->outs[i]) > w->outs[i].sent) return w->next_ns;
    return UINT64_MAX;
}

size_t gale__watermarks_send(gale_task_t *t, uint64_t now_ns)
{
    gale_watermarks_t *w = t->wm_out;
    if (!w || now_ns < w->next_ns) return 0;
    size_t sent = 0;
    for (size_t i = 0; i < w->n; i++) {
        gale_watermark_out_t *o = &w->outs[i];
        if (o->max_ts == INT64_MIN) continue;
        int64_t wm = watermark_of(o);
        if (wm <= o->sent) continue;
        o->sent = wm;
        for (int k = 0; k < o->to->parallelism; k++)
            sent += gale__control_send(t, o->to->first_task + (uint32_t)k, GALE_CONTROL_WATERMARK,
                                       gale__watermark_to_id(wm)) == 0;
    }
    if (sent) w->next_ns = now_ns + w->interval_ns;
    return sent;
}
